"""SGL / SimGCL / XSimGCL equations, SELFRec against graphcl: the same parameters, batches, dropped
graphs (SGL) and embedding noise (SimGCL, XSimGCL) through SELFRec's code
(Coder-Yu/SELFRec ``model/graph/{SGL,SimGCL,XSimGCL}.py``, ``util/loss_torch.py``) and graphcl's
:class:`~graphcl.models.rec.contrast_rec.ContrastRecommender` with the parity adapters' configs;
the losses and the gradients of both embedding tables compared, then ``--steps`` Adam steps taken on
both with the same batches and the parameters compared.

    python -m experiments.parity.selfrec_stepcheck --checkout /tmp/parity-refs/SELFRec [--steps 5]

How the random parts are made equal: the noise of both sides comes from torch's CPU stream in the
same order (SELFRec: ``torch.rand_like`` per layer, view 1 then view 2; graphcl: the step's
generator, same order), so the global RNG and graphcl's generator are seeded alike before each step;
SGL's two dropped graphs are drawn by SELFRec's own ``GraphAugmentor.edge_dropout`` (Python
``random``) and given to graphcl as its epoch's views. The data are synthetic (every user and item
has a training pair, so SELFRec knows all of them); the reference runs in this process with
``Tensor.cuda`` a no-op and a stand-in ``numba`` module (``jit`` = identity), nothing of it copied.

``--ml100k DATA_ROOT``: graphcl's ml-100k training pairs instead (batch 2048; ``--steps 40`` is one
epoch). Meaningful for SGL only: SELFRec numbers items by first appearance and has no rows for the 30
items without a training pair, so its noise tensor's rows are other nodes than graphcl's and the
SimGCL/XSimGCL noise cannot be aligned there (their losses then differ by the noise draw).
"""
from __future__ import annotations

import argparse
import random
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

__all__ = ["check", "main"]


def _import_reference(checkout: Path) -> dict[str, Any]:
    if not (checkout / "model" / "graph" / "SimGCL.py").is_file():
        raise FileNotFoundError(f"{checkout} has no model/graph/SimGCL.py (Coder-Yu/SELFRec checkout)")
    if "numba" not in sys.modules:
        numba = types.ModuleType("numba")
        numba.jit = lambda *a, **k: (lambda f: f)  # type: ignore[attr-defined]
        sys.modules["numba"] = numba
    torch.Tensor.cuda = lambda self, *a, **k: self  # CPU: SELFRec calls .cuda() on tensors
    sys.path.insert(0, str(checkout))
    from data.augmentor import GraphAugmentor
    from data.ui_graph import Interaction
    from model.graph.SGL import SGL_Encoder
    from model.graph.SimGCL import SimGCL, SimGCL_Encoder
    from model.graph.XSimGCL import XSimGCL, XSimGCL_Encoder
    from util.loss_torch import bpr_loss, l2_reg_loss
    return dict(GraphAugmentor=GraphAugmentor, Interaction=Interaction, SGL_Encoder=SGL_Encoder,
                SimGCL=SimGCL, SimGCL_Encoder=SimGCL_Encoder, XSimGCL=XSimGCL, XSimGCL_Encoder=XSimGCL_Encoder,
                bpr_loss=bpr_loss, l2_reg_loss=l2_reg_loss)


def _dataset(users: int, items: int, n: int, seed: int) -> Any:
    from graphcl.data.interactions import InteractionDataset
    g = torch.Generator().manual_seed(seed)
    base = torch.stack([torch.arange(max(users, items)) % users, torch.arange(max(users, items)) % items])
    extra = torch.stack([torch.randint(0, users, (n,), generator=g), torch.randint(0, items, (n,), generator=g)])
    keys = torch.unique(extra[0] * items + extra[1])
    keys = keys[~torch.isin(keys, base[0] * items + base[1])]
    keys = keys[torch.randperm(keys.numel(), generator=g)]
    pairs = torch.cat([base, torch.stack([keys // items, keys % items])], 1)  # every user and item in train
    return InteractionDataset("stepcheck", users, items, pairs[:, :-2], pairs[:, -2:-1], pairs[:, -1:], item_table={})


def _ref_loss(name: str, ref: dict[str, Any], enc: Any, u: list[int], p: list[int], n: list[int],
              cfg: dict[str, float], adjs: tuple[Any, Any] | None) -> torch.Tensor:
    """One batch's loss as SELFRec's train loop computes it (SGL.py:31-36, SimGCL.py:27-32,
    XSimGCL.py:26-31)."""
    bpr, l2 = ref["bpr_loss"], ref["l2_reg_loss"]
    if name == "xsimgcl":
        ru, ri, cu, ci = enc(True)
        ue, pe, ne = ru[u], ri[p], ri[n]
        fake = SimpleNamespace(temp=cfg["tau"])
        cl = cfg["lambda"] * ref["XSimGCL"].cal_cl_loss(fake, [u, p], ru, cu, ri, ci)
        return bpr(ue, pe, ne) + l2(cfg["reg"], ue, pe) + cl
    ru, ri = enc()
    ue, pe, ne = ru[u], ri[p], ri[n]
    if name == "simgcl":
        cl = cfg["lambda"] * ref["SimGCL"].cal_cl_loss(SimpleNamespace(model=enc), [u, p])
        return bpr(ue, pe, ne) + l2(cfg["reg"], ue, pe) + cl
    cl = cfg["lambda"] * enc.cal_cl_loss([u, p], adjs[0], adjs[1])
    return bpr(ue, pe, ne) + l2(cfg["reg"], ue, pe, ne) + cl


def check(checkout: Path, name: str, steps: int = 5, seed: int = 0, users: int = 30, items: int = 40,
          n: int = 400, batch: int = 64, data_root: Path | None = None) -> dict[str, float]:
    """Max |difference| of loss, gradients (over the steps) and parameters (after ``steps`` Adam
    steps). With ``data_root``: graphcl's ml-100k training pairs instead of the synthetic graph
    (negatives then drawn among the items SELFRec knows, those with a training pair)."""
    from graphcl.config import merge_config
    from graphcl.models.rec.contrast_rec import ContrastRecommender
    from graphcl.registry import get_method
    from experiments.parity.adapter import load_adapter

    ref = _import_reference(checkout)
    adapter = load_adapter(name)
    conf = adapter.model_conf
    cfg = {"reg": 1e-4, "lambda": float(conf["lambda"]), "tau": float(conf.get("tau", conf.get("temp", 0.2)))}
    ours_cfg, _ = merge_config(get_method(adapter.method).defaults, {**adapter.ours_config("ml-100k"),
                                                                     "batch_size": batch})
    if data_root is not None:
        import warnings
        from graphcl.data import load
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = load("ml-100k", root=str(data_root))
        users, items = ds.num_users, ds.num_items
    else:
        ds = _dataset(users, items, n, seed)
    torch.manual_seed(seed)
    ours = ContrastRecommender(ds, ours_cfg)
    pairs = ds.train
    training = [[str(int(a)), str(int(b)), 1.0] for a, b in pairs.T]
    data = ref["Interaction"](None, training, [])
    uid = torch.tensor([data.user[str(k)] for k in range(users)])  # our id -> SELFRec row
    known = torch.tensor(sorted(int(k) for k in data.item))  # our items SELFRec knows
    iid = torch.full((items,), -1, dtype=torch.long)
    iid[known] = torch.tensor([data.item[str(int(k))] for k in known])
    d = int(ours_cfg["embedding_dim"])
    if name == "sgl":
        enc = ref["SGL_Encoder"](data, d, float(conf["drop_rate"]), int(conf["n_layer"]), cfg["tau"], int(conf["aug_type"]))
    elif name == "simgcl":
        enc = ref["SimGCL_Encoder"](data, d, float(conf["eps"]), int(conf["n_layer"]))
    else:
        enc = ref["XSimGCL_Encoder"](data, d, float(conf["eps"]), int(conf["n_layer"]), int(conf["l_star"]))
    with torch.no_grad():
        enc.embedding_dict["user_emb"][uid] = ours.encoder.user_embedding
        enc.embedding_dict["item_emb"][iid[known]] = ours.encoder.item_embedding[known]
    opt_r = torch.optim.Adam(enc.parameters(), lr=1e-3)
    opt_o = torch.optim.Adam(ours.parameters(), lr=1e-3)
    inv_u = torch.empty_like(uid)
    inv_u[uid] = torch.arange(users)
    inv_i = torch.empty(known.numel(), dtype=torch.long)
    inv_i[iid[known]] = known
    random.seed(seed)
    out = {"loss": 0.0, "grad_user": 0.0, "grad_item": 0.0, "param": 0.0}
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, pairs.size(1), (batch,), generator=g)
        users_b, pos_b = pairs[0, idx], pairs[1, idx]
        neg_b = known[torch.randint(known.numel(), (batch,), generator=g)]
        while bool(ours.sampler.is_positive(users_b, neg_b).any()):  # as SELFRec: rejected, redrawn
            bad = ours.sampler.is_positive(users_b, neg_b)
            neg_b[bad] = known[torch.randint(known.numel(), (int(bad.sum()),), generator=g)]
        adjs = None
        if name == "sgl":  # SELFRec's own dropped graphs, given to both sides
            drops = [ref["GraphAugmentor"].edge_dropout(data.interaction_mat, float(conf["drop_rate"])) for _ in range(2)]
            adjs = tuple(torch.sparse_coo_tensor(*_coo(data.convert_to_laplacian_mat(m))) for m in drops)
            kept = [torch.stack([inv_u[torch.as_tensor(m.nonzero()[0], dtype=torch.long)],
                                 inv_i[torch.as_tensor(m.nonzero()[1], dtype=torch.long)]]) for m in drops]
            ours._drawn = [ours.graph.replace(pairs=k) for k in kept]
        else:
            ours._drawn = ours.draw_views(None)
        torch.manual_seed(1000 + step)
        loss_r = _ref_loss(name, ref, enc, uid[users_b].tolist(), iid[pos_b].tolist(), iid[neg_b].tolist(), cfg, adjs)
        ours._generator = torch.Generator().manual_seed(1000 + step)
        loss_o = ours.loss((users_b, pos_b, neg_b))["loss"]
        opt_r.zero_grad()
        opt_o.zero_grad()
        loss_r.backward()
        loss_o.backward()
        out["loss"] = max(out["loss"], abs(loss_r.item() - loss_o.item()))
        gu = enc.embedding_dict["user_emb"].grad[uid] - ours.encoder.user_embedding.grad
        gi = enc.embedding_dict["item_emb"].grad[iid[known]] - ours.encoder.item_embedding.grad[known]
        out["grad_user"] = max(out["grad_user"], float(gu.abs().max()))
        out["grad_item"] = max(out["grad_item"], float(gi.abs().max()))
        if step == 0:
            out["loss_value"] = loss_o.item()
            out["grad_scale"] = float(ours.encoder.item_embedding.grad.abs().max())
            out["loss_ref_first"] = loss_r.item()
        opt_r.step()
        opt_o.step()
    with torch.no_grad():
        out["param"] = max(float((enc.embedding_dict["user_emb"][uid] - ours.encoder.user_embedding).abs().max()),
                           float((enc.embedding_dict["item_emb"][iid[known]] - ours.encoder.item_embedding[known]).abs().max()))
        out["loss_last"] = loss_o.item()
    return out


def _coo(mat: Any) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    coo = mat.tocoo()
    import numpy as np
    return (torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long),
            torch.as_tensor(coo.data, dtype=torch.float32), coo.shape)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--model", choices=["sgl", "simgcl", "xsimgcl", "all"], default="all")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ml100k", type=Path, default=None, metavar="DATA_ROOT",
                    help="graphcl's ml-100k training pairs (from this data root) instead of the synthetic graph")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default 64 synthetic, 2048 ml-100k)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for name in (["sgl", "simgcl", "xsimgcl"] if args.model == "all" else [args.model]):
        batch = args.batch or (2048 if args.ml100k else 64)
        res = check(args.checkout.resolve(), name, steps=args.steps, seed=args.seed, batch=batch, data_root=args.ml100k)
        print(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
