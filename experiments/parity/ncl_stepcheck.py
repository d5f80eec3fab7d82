"""NCL equations, RecBole-GNN against graphcl: the same parameters, batches and prototypes through
RecBole-GNN's own ``NCL`` class (``recbole_gnn/model/general_recommender/ncl.py``, a patched temporary
copy of the checkout, run in this process) and graphcl's :class:`~graphcl.models.rec.ncl.NCL` with the
parity adapter's config; the loss terms, the propagated layers and the gradients of both embedding
tables compared, then ``--steps`` Adam steps on both with the same batches and the parameters compared.

    python -m experiments.parity.ncl_stepcheck --checkout /tmp/parity-refs/RecBole-GNN [--steps 5]

How the two are made the same model: the reference is built by RecBole from benchmark files of a small
synthetic split (:func:`experiments.parity.adapters.ncl.write_recbole_benchmark`); RecBole's tables have a
padding row 0 (user and item) that has no edge but IS a negative in the reference's all-user / all-item
denominators (``ncl.py:143,155``). So graphcl's model is built on the same training pairs in RecBole's id
space (users ``0..n_users-1``, items ``0..n_items-1``, row 0 an interaction-less user / item): the same
rows, the same graph, one parameter table copied into the other. The prototypes: the reference's own
``e_step`` (k-means by our faiss stand-in on its ego tables) and graphcl's centroids / assignments set to
those (graphcl's k-means is another implementation: compared separately by its inertia only). The
negatives are drawn once per step by this script (the same on both sides).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["check", "main"]


def _synthetic(users: int, items: int, n: int, seed: int) -> dict[str, np.ndarray]:
    """train/valid/test pairs (our ids): every user and item has a training pair, ``n`` extra random
    pairs split 8:1:1."""
    rng = np.random.default_rng(seed)
    m = max(users, items)
    base = np.stack([np.arange(m) % users, np.arange(m) % items])
    keys = np.unique(rng.integers(0, users, n) * items + rng.integers(0, items, n))
    keys = np.setdiff1d(keys, base[0] * items + base[1])
    keys = rng.permutation(keys)
    extra = np.stack([keys // items, keys % items])
    nv = max(1, extra.shape[1] // 10)
    return {"train": np.concatenate([base, extra[:, 2 * nv:]], 1), "valid": extra[:, :nv], "test": extra[:, nv:2 * nv]}


def _reference(checkout: Path, work: Path, splits: dict[str, np.ndarray], shape: tuple[int, int],
               hyper: dict[str, Any], seed: int) -> tuple[Any, Any, Any]:
    """(RecBole-GNN NCL model, its training dataset, the NCL class) on ``splits``, from a patched copy."""
    from experiments.parity.adapter import RunContext, apply_patches
    from experiments.parity.adapters.ncl import ADAPTER, SHIM_DIR, recbole_config, write_recbole_benchmark
    copy = work / "ref"
    shutil.copytree(checkout, copy, ignore=shutil.ignore_patterns(".git"))
    ctx = RunContext("ml-100k", seed, 1, copy, checkout, Path("."), sys.executable)
    apply_patches(copy, [p for p in ADAPTER.patches(ctx) if p.file == "recbole_gnn/model/layers.py"])
    write_recbole_benchmark(work / "dataset" / "stepcheck", "stepcheck", splits, shape)
    sys.path[:0] = [str(copy), str(SHIM_DIR)]
    from recbole_gnn.config import Config
    from recbole_gnn.model.general_recommender.ncl import NCL as RefNCL
    from recbole_gnn.utils import create_dataset, data_preparation
    from recbole.utils import init_seed
    cfg = recbole_config(hyper, seed, 1, str(work / "dataset"))
    cfg.update({"checkpoint_dir": str(work / "saved"), "save_dataset": False, "save_dataloaders": False})
    config = Config(model="NCL", dataset="stepcheck", config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = RefNCL(config, train_data.dataset)
    return model, train_data.dataset, RefNCL


def check(checkout: Path, steps: int = 5, seed: int = 0, users: int = 30, items: int = 40, n: int = 500,
          batch: int = 64, k: int = 5, unit_weights: bool = False) -> dict[str, float]:
    """Max |difference| of each loss term, the propagated layers, the gradients (over the steps) and
    the parameters (after ``steps`` Adam steps, lr = the adapter's). ``unit_weights``: ssl_reg =
    proto_reg = 1 on both sides (NCL.yaml's 1e-7 / 8e-8 make the two contrastive terms ~1e-5, so
    their differences say little in absolute terms)."""
    from graphcl.config import merge_config
    from graphcl.data.interactions import InteractionDataset
    from graphcl.eval.clustering import kmeans
    from graphcl.interop.recbole_compat import recbole_scope
    from graphcl.models.rec.ncl import NCL, NCL_DEFAULTS
    from recbole.data.interaction import Interaction
    from experiments.parity.adapters.ncl import ADAPTER, recbole_rows

    hyper = {**ADAPTER.hyper("ml-100k"), "num_clusters": k, "train_batch_size": batch}
    if unit_weights:
        hyper.update(ssl_reg=1.0, proto_reg=1.0)
    splits = _synthetic(users, items, n, seed)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, recbole_scope(hide_argv=True):
        ref, rds, _ = _reference(Path(checkout), Path(tmp), splits, (users, items), hyper, seed)
        ru = recbole_rows(rds.field2id_token[rds.uid_field], users, "user")
        ri = recbole_rows(rds.field2id_token[rds.iid_field], items, "item")
        nu, ni = ref.n_users, ref.n_items  # with the padding rows
        mapped = {s: np.stack([ru[p[0]], ri[p[1]]]) for s, p in splits.items()}
        ds = InteractionDataset("ncl-stepcheck", nu, ni, torch.as_tensor(mapped["train"]),
                                torch.as_tensor(mapped["valid"]), torch.as_tensor(mapped["test"]), item_table={})
        cfg, _ = merge_config(NCL_DEFAULTS, {**ADAPTER.ours_config("ml-100k"), "num_clusters": k,
                                             "batch_size": batch, "ssl_reg": hyper["ssl_reg"],
                                             "proto_reg": hyper["proto_reg"]}, method="ncl")
        ours = NCL(ds, cfg)
        with torch.no_grad():
            ours.encoder.user_embedding.copy_(ref.user_embedding.weight)
            ours.encoder.item_embedding.copy_(ref.item_embedding.weight)
        # same graph: the propagated layers
        _, _, ref_layers = ref.forward()
        our_layers = ours.propagate()
        out["layers"] = max(float((a - b).detach().abs().max()) for a, b in zip(ref_layers, our_layers))
        # prototypes: the reference's e_step (faiss stand-in), given to graphcl as they are
        ref.e_step()
        ours.centroids = {"user": ref.user_centroids.clone(), "item": ref.item_centroids.clone()}
        ours.assignment = {"user": ref.user_2cluster.clone(), "item": ref.item_2cluster.clone()}
        ours.epochs_started.fill_(int(cfg["warm_up"]) + 1)
        assert ours.prototypes_active()
        # graphcl's own k-means on the same points: inertia beside the stand-in's (not the same streams)
        x = ref.user_embedding.weight.detach()
        lab, cen = kmeans(x, k, n_init=1, max_iter=25, seed=seed, tol=0.0, init="random")
        out["kmeans_inertia_graphcl"] = float(((x - cen[lab]) ** 2).sum())
        fk = __import__("faiss").Kmeans(x.shape[1], k)
        fk.train(x.numpy())
        _, idx = fk.index.search(x.numpy(), 1)
        out["kmeans_inertia_reference"] = float(((x.numpy() - fk.centroids[idx[:, 0]]) ** 2).sum())

        opt_r = torch.optim.Adam(ref.parameters(), lr=float(hyper["learning_rate"]))
        opt_o = torch.optim.Adam(ours.parameters(), lr=float(cfg["lr"]))
        g = torch.Generator().manual_seed(seed)
        train = torch.as_tensor(mapped["train"])
        worst = {"bpr_reg": 0.0, "ssl": 0.0, "proto": 0.0, "total": 0.0, "grad_user": 0.0, "grad_item": 0.0}
        scale = {"grad": 0.0}
        for _ in range(int(steps)):
            pick = torch.randint(train.shape[1], (batch,), generator=g)
            u, p = train[0, pick], train[1, pick]
            neg = torch.randint(1, ni, (batch,), generator=g)
            inter = Interaction({ref.USER_ID: u, ref.ITEM_ID: p, ref.NEG_ITEM_ID: neg})
            opt_r.zero_grad()
            opt_o.zero_grad()
            r_main, r_ssl, r_proto = ref.calculate_loss(inter)
            r_total = r_main + r_ssl + r_proto  # after the warm-up (recbole_gnn/trainer.py:128-131)
            o = ours.loss((u, p, neg))
            r_total.backward()
            o["loss"].backward()
            worst["bpr_reg"] = max(worst["bpr_reg"], abs(r_main.item() - (o["bpr"] + o["reg"]).item()))
            worst["ssl"] = max(worst["ssl"], abs(r_ssl.item() - o["ssl"].item()))
            worst["proto"] = max(worst["proto"], abs(r_proto.item() - o["proto"].item()))
            worst["total"] = max(worst["total"], abs(r_total.item() - o["loss"].item()))
            gu = float((ref.user_embedding.weight.grad - ours.encoder.user_embedding.grad).abs().max())
            gi = float((ref.item_embedding.weight.grad - ours.encoder.item_embedding.grad).abs().max())
            worst["grad_user"], worst["grad_item"] = max(worst["grad_user"], gu), max(worst["grad_item"], gi)
            scale["grad"] = max(scale["grad"], float(ref.user_embedding.weight.grad.abs().max()),
                                float(ref.item_embedding.weight.grad.abs().max()))
            out.setdefault("loss_reference_first", r_total.item())
            out.setdefault("loss_ours_first", o["loss"].item())
            out.setdefault("proto_reference_first", r_proto.item())
            out.setdefault("ssl_reference_first", r_ssl.item())
            opt_r.step()
            opt_o.step()
        out.update(worst)
        out["grad_scale"] = scale["grad"]
        with torch.no_grad():
            out["params"] = max(float((ref.user_embedding.weight - ours.encoder.user_embedding).abs().max()),
                                float((ref.item_embedding.weight - ours.encoder.item_embedding).abs().max()))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", type=Path, required=True, help="RUCAIBox/RecBole-GNN checkout")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--unit-weights", action="store_true", help="ssl_reg = proto_reg = 1 on both sides")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not (args.checkout / "recbole_gnn" / "model" / "general_recommender" / "ncl.py").is_file():
        raise SystemExit(f"{args.checkout} is not a RUCAIBox/RecBole-GNN checkout (no recbole_gnn/model/"
                         "general_recommender/ncl.py)")
    res = check(args.checkout, steps=args.steps, seed=args.seed, unit_weights=args.unit_weights)
    for key, val in res.items():
        print(f"{key:28s} {val:.3e}")


if __name__ == "__main__":
    main()
