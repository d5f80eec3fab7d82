"""Equation-level check of GCA's reference code against graphcl's composition (same graph, same views).

    python -m experiments.parity.gca_check --checkout /tmp/parity-refs/GCA --dataset cora --steps 5

Imports the reference's ``pGRACE/functional.py`` and ``pGRACE/model.py`` from the checkout (nothing
patched, nothing copied into this repository; its ``pGRACE/utils.py`` imports the compiled
``torch_scatter``/``torch_sparse``, so while importing, a missing one is stood in for by a module
holding PyG's ``scatter`` / nothing: the degree scheme uses neither) and builds graphcl's ``contrast``
model with the ``gca`` adapter's config (:mod:`experiments.parity.adapters.gca`). Then:

1. the degree-centrality edge weights (``degree_drop_weights``, functional.py:67-74, against
   graphcl's ``centrality_edge_weights``) and each view's edge drop probabilities (the reference's
   ``drop_edge_weighted`` with train.py's threshold 0.7: read from its ``torch.bernoulli(1 - p_e)``
   call, against the ``drop_probs`` of graphcl's ``centrality_edge_drop`` operation);
2. the feature weights (``feature_drop_weights`` on the degree of ``to_undirected(edge_index)``,
   train.py:161-167, against graphcl's ``feature_drop_weights``) and each view's column masking
   probabilities (``drop_feature_weighted_2``, read from its ``torch.bernoulli``, against the
   ``drop_probs`` of ``centrality_feature_mask``);
3. the kept fractions of edges and columns over ``--draws`` draws of both sides' samplers (the
   same distribution: both means should be near 1 - mean(p));
4. ``--steps`` Adam steps of the reference's ``GRACE`` model (``Encoder`` + head, our initial
   parameters copied in) and of graphcl's pipeline, both fed the SAME two views drawn by
   graphcl's view operations: the losses, the largest gradient difference, the largest parameter
   difference after each step.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch

from experiments.parity.adapter import load_adapter
from experiments.parity.nodecheck import param_map, step_both

__all__ = ["augmentation_compare", "main", "reference_modules", "step_compare"]


@contextlib.contextmanager
def _stand_ins() -> Iterator[None]:
    """``torch_scatter`` (PyG's ``scatter``) and ``torch_sparse`` (empty) in ``sys.modules`` for
    the duration of the import, only where the real ones are not importable."""
    added = []
    for name in ("torch_scatter", "torch_sparse"):
        try:
            importlib.import_module(name)
        except ImportError:
            mod = types.ModuleType(name)
            if name == "torch_scatter":
                from torch_geometric.utils import scatter
                mod.scatter = scatter  # type: ignore[attr-defined]
            sys.modules[name] = mod
            added.append(name)
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def reference_modules(checkout: Path) -> tuple[types.ModuleType, types.ModuleType]:
    """The reference's ``pGRACE.functional`` and ``pGRACE.model`` imported from ``checkout``."""
    checkout = Path(checkout).resolve()
    if not (checkout / "pGRACE" / "functional.py").is_file():
        raise FileNotFoundError(f"{checkout} has no pGRACE/functional.py: export CRIPAC-DIG/GCA there first")
    sys.dont_write_bytecode = True  # nothing written into the checkout
    for name in [m for m in sys.modules if m == "pGRACE" or m.startswith("pGRACE.")]:
        del sys.modules[name]
    sys.path.insert(0, str(checkout))
    try:
        with _stand_ins(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            functional = importlib.import_module("pGRACE.functional")
            model = importlib.import_module("pGRACE.model")
    finally:
        sys.path.remove(str(checkout))
    return functional, model


@contextlib.contextmanager
def _spy_bernoulli(seen: list[torch.Tensor]) -> Iterator[None]:
    real = torch.bernoulli

    def spy(p: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        seen.append(p.detach().clone())
        return real(p, *args, **kwargs)

    torch.bernoulli = spy  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.bernoulli = real  # type: ignore[assignment]


def _dense(x: torch.Tensor) -> torch.Tensor:
    return x.to_dense() if x.layout == torch.sparse_csr else x


def augmentation_compare(ours: Any, functional: types.ModuleType, param: dict[str, Any],
                         draws: int = 50, seed: int = 0) -> dict[str, float]:
    """Max |reference - ours| of the edge weights, edge drop probabilities, feature weights and
    column masking probabilities (per view), and both sides' mean kept fractions over ``draws``."""
    from torch_geometric.utils import degree, to_undirected
    from graphcl.augment.centrality import centrality_edge_weights, feature_drop_weights, node_centrality
    from experiments.parity.adapters.gca import THRESHOLD
    if param["drop_scheme"] != "degree":
        raise ValueError("gca_check compares the degree scheme only")
    edge_index, x = ours.edge_index, _dense(ours.x)
    n = int(ours.num_nodes)
    out: dict[str, float] = {}
    ref_w = functional.degree_drop_weights(edge_index)
    out["edge_weights"] = float((ref_w.double() - centrality_edge_weights(edge_index, n, "degree").double())
                                .abs().max())
    node_deg = degree(to_undirected(edge_index)[1])                       # train.py:162-163
    ref_fw = functional.feature_drop_weights(x, node_c=node_deg)          # train.py:167
    our_fw = feature_drop_weights(ours.x, node_centrality(edge_index, n, "degree"))
    out["feature_weights"] = float((ref_fw.double() - our_fw.double()).abs().max())
    out["feature_weights_nan_ref"] = float(torch.isnan(ref_fw).sum())
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    for i, view in enumerate(ours.pipeline.views, start=1):
        edge_op, feat_op = view.ops[0], view.ops[1]
        seen: list[torch.Tensor] = []
        with _spy_bernoulli(seen):
            functional.drop_edge_weighted(edge_index, ref_w, p=float(param[f"drop_edge_rate_{i}"]),
                                          threshold=THRESHOLD)
            functional.drop_feature_weighted_2(x, ref_fw, float(param[f"drop_feature_rate_{i}"]))
        ref_pe, ref_pf = 1.0 - seen[0].double(), seen[1].double()
        out[f"edge_drop_probs_{i}"] = float((ref_pe - edge_op.drop_probs.double()).abs().max())
        out[f"feature_drop_probs_{i}"] = float((ref_pf - feat_op.drop_probs.double()).abs().max())
        out[f"edge_drop_probs_max_{i}"] = float(ref_pe.max())
        kept_ref_e = kept_our_e = kept_ref_f = kept_our_f = 0.0
        for _ in range(draws):
            kept_ref_e += functional.drop_edge_weighted(edge_index, ref_w, p=float(param[f"drop_edge_rate_{i}"]),
                                                        threshold=THRESHOLD).size(1) / edge_index.size(1)
            mask = functional.drop_feature_weighted_2(torch.ones(1, x.size(1)), ref_fw,
                                                      float(param[f"drop_feature_rate_{i}"]))
            kept_ref_f += float(mask.mean())
            kept_our_e += edge_op(ours.graph, gen).edge_index.size(1) / edge_index.size(1)
            fx = _dense(feat_op(ours.graph, gen).x)
            kept_our_f += float(((fx != 0).sum(0) > 0).sum()) / float(((x != 0).sum(0) > 0).sum())
        out[f"kept_edges_{i}_ref"], out[f"kept_edges_{i}_ours"] = kept_ref_e / draws, kept_our_e / draws
        out[f"kept_columns_{i}_ref"], out[f"kept_columns_{i}_ours"] = kept_ref_f / draws, kept_our_f / draws
        out[f"kept_edges_{i}_expected"] = float(1 - edge_op.drop_probs.double().mean())
        out[f"kept_columns_{i}_expected"] = float(1 - feat_op.drop_probs.double().mean())
    return out


def _build(dataset: str, data_root: str | None, seed: int) -> tuple[Any, Any, dict[str, Any]]:
    from graphcl.data import load
    from graphcl.registry import get_method
    adapter = load_adapter("gca")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load(adapter.datasets[dataset]["graphcl_name"], root=data_root)
    spec = get_method(adapter.method)
    torch.manual_seed(seed)
    cfg = {**spec.defaults, **spec.presets.get(dataset, {}), **adapter.ours_config(dataset), "seed": seed}
    ours = spec.build(data, cfg, "cpu")
    return ours, data, adapter.hyper(dataset)


def _reference_model(model_mod: types.ModuleType, ours: Any, param: dict[str, Any], in_dim: int) -> Any:
    act = {"relu": torch.nn.functional.relu, "prelu": torch.nn.PReLU()}[param["activation"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GCNConv.jittable() is a no-op in PyG >= 2.5
        enc = model_mod.Encoder(in_dim, int(param["num_hidden"]), act, k=int(param["num_layers"]))
    ref = model_mod.GRACE(enc, int(param["num_hidden"]), int(param["num_proj_hidden"]), float(param["tau"]))
    mine, theirs, names = dict(ours.pipeline.named_parameters()), dict(ref.named_parameters()), param_map(ours.pipeline)
    if set(names) != set(theirs):
        raise RuntimeError(f"parameter names differ: reference {sorted(theirs)}, mapped {sorted(names)}")
    with torch.no_grad():
        for r, (o, t) in names.items():
            theirs[r].copy_(mine[o].T if t else mine[o])
    return ref


def step_compare(checkout: Path, steps: int, dataset: str = "cora", data_root: str | None = None,
                 seed: int = 0, draws: int = 50) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The augmentation comparison and one row per Adam step (losses, gradient and parameter differences)."""
    functional, model_mod = reference_modules(checkout)
    ours, data, param = _build(dataset, data_root, seed)
    aug = augmentation_compare(ours, functional, param, draws=draws, seed=seed)
    ref = _reference_model(model_mod, ours, param, int(ours.x.size(1)))
    pipe = ours.pipeline
    pipe.train()
    ref.train()
    lr, wd = float(param["learning_rate"]), float(param["weight_decay"])
    opt_r = torch.optim.Adam(ref.parameters(), lr=lr, weight_decay=wd)
    opt_o = torch.optim.Adam(pipe.parameters(), lr=lr, weight_decay=wd)
    ref_p, our_p, names = dict(ref.named_parameters()), dict(pipe.named_parameters()), param_map(pipe)
    gen = torch.Generator().manual_seed(seed + 1)
    rows = []
    for step in range(steps):
        drawn = [view(ours.graph, gen) for view in pipe.views]
        for v in drawn:
            if v.edge_weight is not None:
                raise RuntimeError("a drawn view carries edge weights; the reference's GCN has none")
        opt_r.zero_grad()
        opt_o.zero_grad()
        lo = pipe.objective(*[pipe.projector(pipe.encode(v)) for v in drawn])
        lr_ = ref.loss(ref(_dense(drawn[0].x), drawn[0].edge_index), ref(_dense(drawn[1].x), drawn[1].edge_index))
        lr_.backward()
        lo.backward()
        grad, scale, diff = step_both(names, ref_p, our_p, opt_r, opt_o)
        rows.append({"step": step, "loss_ref": float(lr_.detach()), "loss_ours": float(lo.detach()),
                     "max_grad_diff": grad, "max_grad": scale, "max_param_diff": diff})
    return aug, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--draws", type=int, default=50, help="draws per view for the kept fractions")
    ap.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    aug, rows = step_compare(args.checkout, args.steps, args.dataset, args.data_root, args.seed, args.draws)
    for k, v in aug.items():
        note = "  (max |reference - ours|)" if k in ("edge_weights", "feature_weights") or "probs_" in k \
            and "max" not in k else ""
        print(f"{k}: {v:.6g}{note}")
    for r in rows:
        print(f"step {r['step']:3d}  loss ref {r['loss_ref']:.6f} ours {r['loss_ours']:.6f}  "
              f"max|Δgrad| {r['max_grad_diff']:.1e} (max|grad| {r['max_grad']:.1e})  "
              f"max|Δparam| {r['max_param_diff']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
