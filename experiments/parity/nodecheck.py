"""Step-by-step equivalence of GRACE's / CSGCL's reference model and graphcl's (same parameters, same views).

    python -m experiments.parity.nodecheck grace --checkout /tmp/parity-refs/GRACE --dataset cora
    python -m experiments.parity.nodecheck csgcl --checkout /tmp/parity-refs/CSGCL --dataset citeseer

Builds graphcl's model with the adapter's config, imports the reference's model classes straight
from the checkout (nothing patched, nothing copied into this repository; CSGCL's
``src/functional.py`` with the cdlib stand-in of ``shims/csgcl``), copies our initial parameters
into the reference model (GCNConv's ``lin.weight`` is our layer weight transposed), then for each
step draws two views with graphcl's augmentations and feeds the SAME views to both models' losses,
takes an Adam step on both (the configured lr and weight decay) and prints the losses, the largest
gradient and parameter differences. CSGCL's steps walk the epoch t across t0 (the team-up weight
gamma_t from 0 to its maximum) and, before them, compare the reference's community strengths,
CED keep probabilities and CAV drop probabilities with graphcl's on graphcl's communities (the
reference's probabilities are read from its ``torch.bernoulli`` calls).
"""
from __future__ import annotations

import argparse
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch

from experiments.parity.load_module import import_from
from experiments.parity.adapter import load_adapter

__all__ = ["augmentation_compare", "main", "param_map", "step_both", "step_compare"]

SHIMS = Path(__file__).resolve().parent / "shims" / "csgcl"


def step_both(names: dict[str, tuple[str, bool]], ref_p: dict[str, torch.Tensor], our_p: dict[str, torch.Tensor],
              opt_r: torch.optim.Optimizer, opt_o: torch.optim.Optimizer) -> tuple[float, float, float]:
    """After both sides' backward passes: max |grad_ref - grad_ours| over the mapped parameters
    (``names``: reference name -> (our name, transposed?)), max |grad_ours|, then one optimizer
    step on each side and max |param_ref - param_ours|."""
    grad = max(float(((ref_p[r].grad.T if tr else ref_p[r].grad) - our_p[o].grad).abs().max())
               for r, (o, tr) in names.items())
    scale = max(float(our_p[o].grad.abs().max()) for o, _ in names.values())
    opt_r.step()
    opt_o.step()
    with torch.no_grad():
        param = max(float(((ref_p[r].T if tr else ref_p[r]) - our_p[o]).abs().max()) for r, (o, tr) in names.items())
    return grad, scale, param


def param_map(ours: Any) -> dict[str, tuple[str, bool]]:
    """Reference parameter name -> (our parameter name, transposed) for GRACE/CSGCL."""
    out: dict[str, tuple[str, bool]] = {}
    for i in range(len(ours.encoder.layers)):
        out[f"encoder.conv.{i}.lin.weight"] = (f"encoder.layers.{i}.weight", True)
        out[f"encoder.conv.{i}.bias"] = (f"encoder.layers.{i}.bias", False)
    for a in ("fc1", "fc2"):
        for b in ("weight", "bias"):
            out[f"{a}.{b}"] = (f"projector.{a}.{b}", False)
    if "encoder.acts.0.weight" in dict(ours.named_parameters()):
        out["encoder.activation.weight"] = ("encoder.acts.0.weight", False)
    return out


def _reference_model(method: str, checkout: Path, ours: Any, data: Any) -> tuple[Any, types.ModuleType | None]:
    """The reference model (GRACE ``model.Model`` / CSGCL ``src/model.CSGCL``) with our widths
    and activation; for CSGCL also its ``src/functional`` module."""
    c = ours.config
    functional = None
    if method == "grace":
        mod = import_from(checkout / "model.py", "parity_ref_grace_model")
        act = {"relu": torch.nn.functional.relu, "prelu": torch.nn.PReLU()}[c["activation"]]
        enc = mod.Encoder(data.x.size(1), int(c["hidden_dim"]), act, k=int(c["num_layers"]))
        ref = mod.Model(enc, int(c["hidden_dim"]), int(c["proj_dim"]), float(c["tau"]))
    else:
        sys.path.insert(0, str(SHIMS))
        mod = import_from(checkout / "src" / "model.py", "parity_ref_csgcl_model")
        functional = import_from(checkout / "src" / "functional.py", "parity_ref_csgcl_functional")
        utils = import_from(checkout / "src" / "utils.py", "parity_ref_csgcl_utils")
        enc = mod.Encoder(data.x.size(1), int(c["hidden_dim"]), utils.get_activation(c["activation"]),
                          k=int(c["num_layers"]))
        ref = mod.CSGCL(enc, int(c["hidden_dim"]), int(c["proj_dim"]), float(c["tau"]))
    mine = dict(ours.named_parameters())
    theirs = dict(ref.named_parameters())
    names = param_map(ours)
    if set(names) != set(theirs):
        raise RuntimeError(f"parameter names differ: reference {sorted(theirs)}, mapped {sorted(names)}")
    with torch.no_grad():
        for r, (o, t) in names.items():
            theirs[r].copy_(mine[o].T if t else mine[o])
    return ref, functional


def augmentation_compare(ours: Any, data: Any, functional: types.ModuleType) -> dict[str, float]:
    """Max |difference| of the reference's CS per node, CED keep and CAV drop probabilities vs
    graphcl's, on graphcl's communities (CSGCL)."""
    from torch_geometric.utils import to_networkx
    from graphcl.augment import cav_drop_probs, ced_keep_probs
    c = ours.config
    labels = ours.community.cpu().numpy()
    communities = [list(map(int, (labels == k).nonzero()[0])) for k in range(int(labels.max()) + 1)]
    g = to_networkx(data, to_undirected=True)
    com_cs, node_cs = functional.community_strength(g, communities)
    com = functional.transition(communities, g.number_of_nodes())
    edge_weight = functional.get_edge_weight(data.edge_index, com, com_cs)
    x = ours.x.to_dense() if ours.x.layout == torch.sparse_csr else ours.x
    seen: list[torch.Tensor] = []
    real = torch.bernoulli

    def spy(p: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        seen.append(p.detach().clone())
        return real(p, *args, **kwargs)

    out = {"cs_node": float((torch.as_tensor(node_cs).double() - ours.cs_node.double()).abs().max()),
           "negative_cs_communities": float((torch.as_tensor(com_cs) < 0).sum())}
    torch.bernoulli = spy
    try:
        for i, key in ((1, "p_e1"), (2, "p_e2")):
            seen.clear()
            functional.ced(data.edge_index, edge_weight, p=float(c[key]), threshold=float(c["ced_threshold"]))
            mine = ced_keep_probs(ours.edge_index, ours.community, ours.cs_community, float(c[key]),
                                  threshold=float(c["ced_threshold"]))
            out[f"ced_keep_{i}"] = float((seen[0].double() - mine.double()).abs().max())
        for i, key in ((1, "p_f1"), (2, "p_f2")):
            seen.clear()
            functional.cav(x, node_cs, float(c[key]), max_threshold=float(c["cav_threshold"]))
            mine = cav_drop_probs(ours.x, ours.cs_node, float(c[key]), threshold=float(c["cav_threshold"]))
            out[f"cav_drop_{i}"] = float((seen[0].double() - mine.double()).abs().max())
    finally:
        torch.bernoulli = real
    out["_node_cs"] = node_cs  # for the team-up loss (removed by the caller)
    return out


def _fixed_views(ours: Any, generator: torch.Generator) -> list[tuple[Any, Any, Any]]:
    c = ours.config
    return [ours.view(float(c["p_e1"]), float(c["p_f1"]), generator),
            ours.view(float(c["p_e2"]), float(c["p_f2"]), generator)]


def step_compare(method: str, checkout: Path, steps: int, dataset: str = "cora", data_root: str | None = None,
                 seed: int = 0) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The augmentation comparison (CSGCL; empty for GRACE) and one row per Adam step."""
    from graphcl.data import load
    from graphcl.registry import get_method
    adapter = load_adapter(method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load(adapter.datasets[dataset]["graphcl_name"], root=data_root)
    spec = get_method(method)
    torch.manual_seed(seed)
    cfg = {**spec.defaults, **spec.presets.get(dataset, {}), **adapter.ours_config(dataset), "seed": seed}
    ours = spec.build(data, cfg, "cpu")
    ours.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, functional = _reference_model(method, checkout, ours, data)
    aug: dict[str, Any] = {}
    if functional is not None:
        aug = augmentation_compare(ours, data, functional)
    node_cs = aug.pop("_node_cs", None)
    c = ours.config
    lr, wd = float(c["lr"]), float(c["weight_decay"])
    opt_r = torch.optim.Adam(ref.parameters(), lr=lr, weight_decay=wd)
    opt_o = torch.optim.Adam(ours.parameters(), lr=lr, weight_decay=wd)
    ref_p, our_p, names = dict(ref.named_parameters()), dict(ours.named_parameters()), param_map(ours)
    gen = torch.Generator().manual_seed(seed + 1)
    view = ours.view
    rows = []
    for step in range(steps):
        t = int(c.get("t0", 0)) - 2 + 2 * step * max(1, 100 // max(steps, 1))  # CSGCL: epochs across t0
        ours.epoch.fill_(max(t - 1, 0))
        views = _fixed_views(ours, gen)
        feed: Iterator[Any] = iter(views)
        ours.view = lambda *a, **k: next(feed)  # type: ignore[method-assign]
        opt_r.zero_grad()
        opt_o.zero_grad()
        lo = ours.step_loss(gen)["loss"]
        ours.view = view  # type: ignore[method-assign]
        dense = [(x.to_dense() if x.layout == torch.sparse_csr else x, e) for x, e, _ in views]
        z1, z2 = ref(*dense[0]), ref(*dense[1])
        if method == "grace":
            lr_ = ref.loss(z1, z2, batch_size=0)
        else:
            lr_ = ref.team_up_loss(z1, z2, cs=node_cs, current_ep=max(t, 1), t0=int(c["t0"]),
                                   gamma_max=float(c["gamma_max"]))
        lr_.backward()
        lo.backward()
        grad, scale, param = step_both(names, ref_p, our_p, opt_r, opt_o)
        rows.append({"step": step, "epoch_t": max(t, 1), "gamma": ours.gamma() if hasattr(ours, "gamma") else 0.0,
                     "loss_ref": float(lr_.detach()), "loss_ours": float(lo.detach()), "max_grad_diff": grad,
                     "max_grad": scale, "max_param_diff": param})
    return aug, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method", choices=["grace", "csgcl"])
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    aug, rows = step_compare(args.method, args.checkout.resolve(), args.steps, args.dataset, args.data_root,
                             args.seed)
    for k, v in aug.items():
        print(f"{k}: {v:.3g}" + ("" if k.startswith("negative") else "  (max |reference - ours|)"))
    for r in rows:
        print(f"step {r['step']:3d} t {r['epoch_t']:4d} gamma {r['gamma']:.2f}  loss ref {r['loss_ref']:.6f} "
              f"ours {r['loss_ours']:.6f}  max|Δgrad| {r['max_grad_diff']:.1e} (max|grad| {r['max_grad']:.1e})  "
              f"max|Δparam| {r['max_param_diff']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
