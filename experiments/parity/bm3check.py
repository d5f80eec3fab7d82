"""Step-by-step equivalence of MMRec's BM3 (``src/models/bm3.py``) and graphcl's (same parameters,
same batches, same features).

    python -m experiments.parity.bm3check --checkout /tmp/parity-refs/MMRec --steps 10 \\
        --data-root /work/shared/data [--dropout 0.0]

Copies the checkout to a temporary folder with the adapter's run-time patches (nothing written
into the checkout or this repository), builds graphcl's BM3 with the adapter's config on our
ml-100k split and features, builds the reference's ``BM3`` on the same training interactions and
the same feature arrays (its config and data loader replaced by the few attributes its
constructor reads), copies our initial parameters into it (text -> ``text_*``, genre ->
``image_*``), then for each step feeds the SAME batch of training pairs to both losses, takes an
Adam step on both and prints the losses, the largest gradient and parameter differences. The
target dropout draws different masks on the two sides (the reference over whole matrices, graphcl
over the batch's rows), so the exact comparison runs with ``--dropout 0`` (the default here); with
a dropout the losses agree only in distribution. It also compares the full-sort scores
(``full_sort_predict`` vs ``full_scores``) and the normalized graphs.
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

from experiments.parity.adapter import apply_patches, load_adapter

__all__ = ["PARAM_MAP", "main", "run_check"]

#: reference parameter -> ours (graphcl's modality order: text = 0, genre = 1)
PARAM_MAP = {"user_embedding.weight": "user_embedding.weight",
             "item_id_embedding.weight": "item_id_embedding.weight",
             "predictor.weight": "predictor.weight", "predictor.bias": "predictor.bias",
             "text_embedding.weight": "feature_tables.0.weight",
             "text_trs.weight": "projections.0.weight", "text_trs.bias": "projections.0.bias",
             "image_embedding.weight": "feature_tables.1.weight",
             "image_trs.weight": "projections.1.weight", "image_trs.bias": "projections.1.bias"}


class _Config(dict):
    """MMRec's Config reads missing keys as None."""

    def __getitem__(self, key: str) -> Any:
        return self.get(key)


class _Loader:
    """The two things GeneralRecommender / BM3 read from MMRec's TrainDataLoader."""

    def __init__(self, train: np.ndarray, shape: tuple[int, int]) -> None:
        import scipy.sparse as sp
        self._mat = sp.coo_matrix((np.ones(train.shape[1]), (train[0], train[1])), shape=shape)
        self.dataset = type("D", (), {"get_user_num": lambda _s: shape[0], "get_item_num": lambda _s: shape[1]})()

    def inter_matrix(self, form: str = "coo") -> Any:
        return self._mat if form == "coo" else self._mat.tocsr()


def run_check(checkout: Path, data_root: Path, steps: int = 10, dropout: float = 0.0,
              dataset: str = "ml-100k", seed: int = 0) -> dict[str, float]:
    """Run the comparison; returns the largest differences seen (also printed)."""
    from graphcl.registry import get_method
    from graphcl.config import merge_config
    from experiments.parity.adapters.bm3 import FEATURE_FILES, mmrec_config, write_mmrec_features
    adapter = load_adapter("bm3")
    data, _ = adapter.load_data(dataset, data_root)
    feats = adapter._features  # the arrays both sides get (set by load_data)
    spec = get_method("bm3")
    cfg, _ = merge_config(spec.defaults, {**adapter.ours_config(dataset), "dropout": dropout, "seed": seed},
                          method="bm3", ranges=spec.ranges)
    torch.manual_seed(seed)
    ours = spec.build(data, cfg, "cpu")
    tmp = Path(tempfile.mkdtemp(prefix="bm3check-"))
    try:
        shutil.copytree(checkout / "src", tmp / "src")
        apply_patches(tmp, [p for p in adapter.patches(None) if p.file == "src/models/bm3.py"])
        write_mmrec_features(tmp / "data" / "x", feats, data.num_items)
        sys.path.insert(0, str(tmp / "src"))
        sys.dont_write_bytecode = True
        from models.bm3 import BM3 as RefBM3  # the reference class, patched copy
        hyper = adapter.hyper(dataset)
        conf = _Config({**{k: (v[0] if isinstance(v, list) and k != "learning_rate_scheduler" else v)
                           for k, v in mmrec_config(hyper, seed, 1).items()},
                        "dropout": dropout, "USER_ID_FIELD": "userID", "ITEM_ID_FIELD": "itemID",
                        "NEG_PREFIX": "neg__", "device": torch.device("cpu"), "end2end": False,
                        "is_multimodal_model": True, "data_path": str(tmp / "data") + "/", "dataset": "x",
                        "vision_feature_file": FEATURE_FILES["genre"], "text_feature_file": FEATURE_FILES["text"]})
        ref = RefBM3(conf, _Loader(data.train.numpy(), (data.num_users, data.num_items)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mine = dict(ours.named_parameters())
    with torch.no_grad():
        for rname, p in ref.named_parameters():
            p.copy_(mine[PARAM_MAP[rname]])
    graph_ref = ref.norm_adj.coalesce().to_dense()
    graph_ours = ours.graph.matrix.to_dense()
    worst = {"graph": float((graph_ref - graph_ours).abs().max())}
    print(f"graph D^-1/2 A D^-1/2: max |difference| {worst['graph']:.2e}")
    opt_r = torch.optim.Adam(ref.parameters(), lr=hyper["learning_rate"])
    opt_o = torch.optim.Adam(ours.parameters(), lr=hyper["learning_rate"])
    gen = torch.Generator().manual_seed(seed)
    batches = iter(ours.batches(gen))
    worst.update({"loss": 0.0, "grad": 0.0, "param": 0.0})
    for step in range(steps):
        try:
            users, items = next(batches)
        except StopIteration:
            batches = iter(ours.batches(gen))
            users, items = next(batches)
        opt_r.zero_grad()
        opt_o.zero_grad()
        loss_r = ref.calculate_loss(torch.stack([users, items]))
        loss_o = ours.loss((users, items))["loss"]
        loss_r.sum().backward()
        loss_o.backward()
        grads = {r: (p.grad, mine[PARAM_MAP[r]].grad) for r, p in ref.named_parameters()}
        gdiff = max(float((a - b).abs().max()) for a, b in grads.values())
        gmax = max(float(a.abs().max()) for a, _ in grads.values())
        opt_r.step()
        opt_o.step()
        pdiff = max(float((p - mine[PARAM_MAP[r]]).abs().max()) for r, p in ref.named_parameters())
        dl = abs(float(loss_r.sum()) - float(loss_o))
        worst["loss"], worst["grad"], worst["param"] = max(worst["loss"], dl), max(worst["grad"], gdiff), \
            max(worst["param"], pdiff)
        print(f"step {step}: loss ref {float(loss_r.sum()):.6f} ours {float(loss_o):.6f} (|diff| {dl:.1e}); "
              f"max |grad diff| {gdiff:.1e} (max |grad| {gmax:.1e}); max |param diff| {pdiff:.1e}")
    with torch.no_grad():
        ref.eval()
        ours.eval()
        users = torch.arange(data.num_users)
        s_ref = ref.full_sort_predict([users])
        ours.prepare_scoring()
        s_ours = ours.full_scores(users)
        worst["scores"] = float((s_ref - s_ours).abs().max())
    print(f"full-sort scores after {steps} steps: max |difference| {worst['scores']:.2e} "
          f"(max |score| {float(s_ref.abs().max()):.2e})")
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkout", required=True, type=Path)
    ap.add_argument("--data-root", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    run_check(args.checkout.resolve(), args.data_root, args.steps, args.dropout, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
