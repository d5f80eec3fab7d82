"""Step-by-step equivalence of a reference model and graphcl's (same parameters, same batches).

    python -m experiments.parity.stepcheck lightgcl --checkout /tmp/parity-refs/LightGCL --steps 16
    python -m experiments.parity.stepcheck dccf --checkout /tmp/parity-refs/DCCF --steps 5

Builds graphcl's model on the dataset, builds the reference's model class (imported from a
patched temporary copy of the checkout: CPU patches only; DCCF with the torch_sparse shim) on the
same training graph, copies our initial parameters (and, for LightGCL, our SVD factors) into it,
then feeds both the same batches and takes Adam steps on both, printing the loss parts, the
largest gradient difference and the largest parameter difference per step. Seed-to-seed spread in
the parity runs is then down to the random streams (initialization, SVD sketch, sampling), not to
the equations. Nothing of the reference is copied into this repository.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch

from experiments.parity.load_module import import_from
from experiments.parity.adapter import apply_patches, load_adapter

__all__ = ["main", "step_compare"]

SHIMS = Path(__file__).resolve().parent / "shims"


def _cpu_copy(adapter_name: str, checkout: Path, files: tuple[str, ...], tmp: Path) -> Path:
    """A copy of ``checkout`` with only the adapter's CPU patches to ``files`` applied."""
    adapter = load_adapter(adapter_name)
    adapter.check_checkout(checkout)
    shutil.copytree(checkout, tmp / "ref", ignore=shutil.ignore_patterns(".git"))
    ctx = types.SimpleNamespace(dataset="lastfm")
    cpu = [p for p in adapter.patches(ctx) if p.file in files and "CPU" in p.reason]
    apply_patches(tmp / "ref", cpu)
    return tmp / "ref"


def _lightgcl(data: Any, ours: Any, checkout: Path, tmp: Path) -> Any:
    ref_dir = _cpu_copy("lightgcl", checkout, ("model.py",), tmp)
    sys.path.insert(0, str(ref_dir))  # its model.py imports its utils.py
    mod = import_from(ref_dir / "model.py", "parity_ref_lightgcl_model")
    tr = data.train.numpy()
    r = sp.coo_matrix((np.ones(tr.shape[1]), (tr[0], tr[1])), shape=(data.num_users, data.num_items))
    deg_u, deg_i = np.asarray(r.sum(1)).ravel(), np.asarray(r.sum(0)).ravel()
    values = (1.0 / np.sqrt(deg_u[r.row] * deg_i[r.col])).astype(np.float32)  # the paper's eq. 1
    adj = torch.sparse_coo_tensor(torch.stack([torch.as_tensor(r.row, dtype=torch.long),
                                               torch.as_tensor(r.col, dtype=torch.long)]),
                                  torch.as_tensor(values), r.shape).coalesce()
    f, c = ours.svd, ours.config
    ref = mod.LightGCL(data.num_users, data.num_items, int(c["embedding_dim"]), f.us, f.vs, f.u.T, f.v.T,
                       (r != 0).astype(np.float32).tocsr(), adj, int(c["num_layers"]), float(c["temperature"]),
                       float(c["cl_weight"]), float(c["reg_weight"]), 0.0, 256, "cpu")
    with torch.no_grad():
        ref.E_u_0.copy_(ours.user_embedding)
        ref.E_i_0.copy_(ours.item_embedding)
    names = {"E_u_0": "user_embedding", "E_i_0": "item_embedding"}
    loss = lambda u, p, n: ref(u, torch.cat([p, n]), p, n)[0]  # noqa: E731
    return ref, names, loss


def _dccf(data: Any, ours: Any, checkout: Path, tmp: Path) -> Any:
    ref_dir = _cpu_copy("dccf", checkout, ("model.py",), tmp)
    sys.path.insert(0, str(SHIMS))
    mod = import_from(ref_dir / "model.py", "parity_ref_dccf_model")
    tr, n_u = data.train.numpy(), data.num_users
    rows = np.concatenate([tr[0], tr[1] + n_u])
    cols = np.concatenate([tr[1] + n_u, tr[0]])
    adj = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_u + data.num_items,) * 2).tocsr()
    t = adj.tocoo()
    c = ours.config
    args = types.SimpleNamespace(embed_size=int(c["embedding_dim"]), n_layers=int(c["num_layers"]),
                                 n_intents=int(c["num_intents"]), temp=float(c["temperature"]),
                                 batch_size=int(c["batch_size"]), emb_reg=float(c["emb_reg"]),
                                 cen_reg=float(c["cen_reg"]), ssl_reg=float(c["ssl_reg"]))
    ref = mod.DCCF({"n_users": n_u, "n_items": data.num_items, "plain_adj": adj, "all_h_list": list(t.row),
                    "all_t_list": list(t.col)}, args)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            dict(ref.named_parameters())[name].copy_(p)
    names = {n: n for n, _ in ours.named_parameters()}
    loss = lambda u, p, n: sum(ref(u.numpy(), p.numpy(), n.numpy()))  # noqa: E731
    return ref, names, loss


BUILDERS: dict[str, Callable[..., Any]] = {"lightgcl": _lightgcl, "dccf": _dccf}


def step_compare(method: str, checkout: Path, steps: int, dataset: str = "lastfm",
                 data_root: str | None = None, seed: int = 0) -> list[dict[str, float]]:
    """Run ``steps`` Adam steps on both models; per step the losses and max differences."""
    from graphcl.data import load
    from graphcl.registry import get_method
    adapter = load_adapter(method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load(dataset, root=data_root)
    spec = get_method(method)
    torch.manual_seed(seed)
    ours = spec.build(data, {**spec.defaults, **adapter.ours_config(dataset), "seed": seed}, "cpu")
    ours.train()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, names, ref_loss = BUILDERS[method](data, ours, checkout, Path(tmp))
        lr = float(ours.config["lr"])
        opt_r, opt_o = torch.optim.Adam(ref.parameters(), lr=lr), torch.optim.Adam(ours.parameters(), lr=lr)
        ref_p, our_p = dict(ref.named_parameters()), dict(ours.named_parameters())
        gen = torch.Generator().manual_seed(seed + 1)
        out = []
        for step, batch in zip(range(steps), _batches(ours, gen)):
            opt_r.zero_grad()
            opt_o.zero_grad()
            lr_ = ref_loss(*batch)
            lo = ours.loss(batch)["loss"]
            lr_.backward()
            lo.backward()
            grad = max(float((ref_p[r].grad - our_p[o].grad).abs().max()) for r, o in names.items())
            scale = max(float(our_p[o].grad.abs().max()) for o in names.values())
            opt_r.step()
            opt_o.step()
            param = max(float((ref_p[r] - our_p[o]).abs().max()) for r, o in names.items())
            out.append({"step": step, "loss_ref": float(lr_), "loss_ours": float(lo), "max_grad_diff": grad,
                        "max_grad": scale, "max_param_diff": param})
    return out


def _batches(ours: Any, gen: torch.Generator) -> Any:
    if hasattr(ours, "_sampled_batches") and int(ours.config.get("batches_per_epoch", 0)):
        while True:
            yield from ours._sampled_batches(1, gen)
    while True:
        yield from ours.batches(gen)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method", choices=sorted(BUILDERS))
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--dataset", default="lastfm")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for r in step_compare(args.method, args.checkout.resolve(), args.steps, args.dataset, args.data_root, args.seed):
        print(f"step {r['step']:3d}  loss ref {r['loss_ref']:.6f} ours {r['loss_ours']:.6f}  "
              f"max|Δgrad| {r['max_grad_diff']:.1e} (max|grad| {r['max_grad']:.1e})  "
              f"max|Δparam| {r['max_param_diff']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
