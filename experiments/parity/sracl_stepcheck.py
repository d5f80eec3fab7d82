"""SRA-CL's equations, reference against graphcl: the same parameters, batch, substitution views and
semantic neighbours through the reference's ``TransRec`` (ziqiangcui/SRA-CL ``recommender_code/model.py``)
and graphcl's :class:`~graphcl.models.seq.sracl.SRACL`, dropout off (eval mode: the reference's
attention dropout ``F.dropout(..., training=self.training)`` and every ``nn.Dropout``), then the
loss terms and the gradients of every shared parameter compared, and ``--steps`` Adam steps taken on
both with the same batches.

    python -m experiments.parity.sracl_stepcheck --checkout /tmp/parity-refs/SRA-CL [--steps 5]

The data are synthetic (users with random item sequences, random semantic vectors); what is
checked is the arithmetic, not the data path (that is the harness run's). Needs ``recbole`` (the
reference's TransformerEncoder); no network.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

__all__ = ["build_pair", "compare", "main"]


def _load_reference(checkout: Path) -> Any:
    code = checkout / "recommender_code"
    if not (code / "model.py").is_file():
        raise FileNotFoundError(f"{checkout} has no recommender_code/model.py (ziqiangcui/SRA-CL checkout)")
    sys.path.insert(0, str(code))  # model.py imports its sibling utils.py
    spec = importlib.util.spec_from_file_location("sracl_reference_model", code / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dataset(users: int, items: int, seed: int) -> Any:
    from graphcl.data.sequences import SequenceDataset
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(6, 30, (users,), generator=g)
    seqs = torch.randint(1, items + 1, (int(lengths.sum()),), generator=g)
    seqs[:items] = torch.arange(1, items + 1)
    return SequenceDataset("stepcheck", items, seqs, torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]))


def build_pair(checkout: Path, *, users: int = 40, items: int = 60, d: int = 16, ds: int = 12, k: int = 4,
               max_len: int = 20, seed: int = 0) -> tuple[Any, Any, Any]:
    """(reference TransRec, graphcl SRACL, dataset) with graphcl's parameters copied into the reference."""
    from graphcl.models.seq.sracl import SRACL, SRACL_DEFAULTS
    from graphcl.models.seq.sracl_semantics import semantic_neighbors
    ref_mod = _load_reference(checkout)
    data = _dataset(users, items, seed)
    cfg = {**SRACL_DEFAULTS, "semantics": "fallback-cooccurrence", "fallback_rank": 8, "hidden_size": d,
           "inner_size": 4 * d, "num_layers": 2, "num_heads": 2, "max_len": max_len, "k": k}
    torch.manual_seed(seed)
    ours = SRACL(data, cfg)
    g = torch.Generator().manual_seed(seed + 1)
    unit_emb = torch.randn(len(ours.unit_emb), ds, generator=g)
    item_nb = torch.randint(1, items + 1, (items + 1, k), generator=g)
    item_nb[0] = 0
    ours.unit_emb = unit_emb
    ours.unit_neighbors = semantic_neighbors(unit_emb, k)
    ours.item_neighbors = item_nb
    ours.attention = type(ours.attention)(ds, d, float(cfg["att_dropout"]))
    args = SimpleNamespace(n_layers=2, n_heads=2, hidden_size=d, inner_size=4 * d, hidden_dropout_prob=0.5,
                           attn_dropout_prob=0.5, hidden_act="gelu", layer_norm_eps=1e-12, train_batch_size=8,
                           initializer_range=0.02, loss_type="CE", item_num=items, maxlen=max_len, temperature=1.0,
                           sorted_indices=item_nb, user_sorted_indices=ours.unit_neighbors,
                           item_semantic_emb=torch.zeros(items + 1, ds), user_semantic_emb=unit_emb)
    ref = ref_mod.TransRec(args)
    if ref.W.shape != ours.attention.W.shape:  # the reference hard-codes 1024 (model.py:33)
        ref.W = torch.nn.Parameter(torch.empty_like(ours.attention.W))
    _copy(ours, ref)
    return ref, ours, data


def _pairs(ours: Any, ref: Any) -> list[tuple[str, torch.Tensor, torch.Tensor, str]]:
    """(name, our tensor, reference tensor, how): 'q'/'k'/'v' slice our fused qkv."""
    e = ours.encoder
    out = [("item_embedding", e.item_embedding.weight, ref.item_embedding.weight, ""),
           ("position_embedding", e.position_embedding.weight, ref.position_embedding.weight, ""),
           ("norm.weight", e.norm.weight, ref.LayerNorm.weight, ""), ("norm.bias", e.norm.bias, ref.LayerNorm.bias, ""),
           ("W", ours.attention.W, ref.W, ""), ("a", ours.attention.a, ref.a, "")]
    for i, blk in enumerate(e.blocks):
        L = ref.trm_encoder.layer[i]
        mha, ff = L.multi_head_attention, L.feed_forward
        for j, lin in enumerate((mha.query, mha.key, mha.value)):
            out.append((f"block{i}.qkv[{j}].weight", blk.qkv.weight, lin.weight, j))
            out.append((f"block{i}.qkv[{j}].bias", blk.qkv.bias, lin.bias, j))
        for name, mine, theirs in (("out", blk.out, mha.dense), ("ff1", blk.ff1, ff.dense_1), ("ff2", blk.ff2, ff.dense_2)):
            out += [(f"block{i}.{name}.weight", mine.weight, theirs.weight, ""),
                    (f"block{i}.{name}.bias", mine.bias, theirs.bias, "")]
        for name, mine, theirs in (("norm1", blk.norm1, mha.LayerNorm), ("norm2", blk.norm2, ff.LayerNorm)):
            out += [(f"block{i}.{name}.weight", mine.weight, theirs.weight, ""),
                    (f"block{i}.{name}.bias", mine.bias, theirs.bias, "")]
    return out


def _ours_part(t: torch.Tensor, how: Any) -> torch.Tensor:
    if how == "":
        return t
    d = t.size(0) // 3
    return t[how * d:(how + 1) * d]


@torch.no_grad()
def _copy(ours: Any, ref: Any) -> None:
    for _, mine, theirs, how in _pairs(ours, ref):
        theirs.copy_(_ours_part(mine, how))


def _batch(ours: Any, data: Any, rows: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    ends, starts = data.train_targets()
    seq, lens = data.windows(ends[rows], starts[rows], ours.max_len)
    batch = {"seq": seq, "len": lens, "target": data.items[ends[rows]], "example": rows}
    return ours.augment_batch(batch, torch.Generator().manual_seed(seed))


def _losses(ref: Any, ours: Any, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    nbr_seqs = batch["nbr_seq"][batch["nbr_index"]]                       # (B, k, L), the reference's layout
    r_rec = ref.calculate_loss(batch["seq"], batch["target"])
    r_is = ref.calculate_item_cl_loss(batch["seq1"], batch["seq2"], batch["len"])
    r_cs = ref.calculate_user_cl_loss(batch["seq"], nbr_seqs, batch["unit"])
    theirs = {"rec": r_rec, "is": r_is, "cs": r_cs, "loss": r_rec + 0.1 * r_cs + 0.1 * r_is}
    mine = ours.loss(batch)
    return theirs, mine


def compare(ref: Any, ours: Any, data: Any, *, steps: int = 5, batch_size: int = 16, seed: int = 0,
            echo: Any = print) -> dict[str, float]:
    """Loss terms and gradients of both models on ``steps`` batches, one Adam step each (lr 1e-3);
    returns the largest absolute differences seen."""
    ref.eval()
    ours.eval()
    opt_r = torch.optim.Adam(ref.parameters(), lr=1e-3)
    opt_o = torch.optim.Adam(ours.parameters(), lr=1e-3)
    worst = {"loss": 0.0, "grad": 0.0, "param": 0.0}
    n = data.train_targets()[0].numel()
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        rows = torch.randperm(n, generator=g)[:batch_size]
        batch = _batch(ours, data, rows, seed + step)
        opt_r.zero_grad()
        opt_o.zero_grad()
        theirs, mine = _losses(ref, ours, batch)
        theirs["loss"].backward()
        mine["loss"].backward()
        diffs = {t: abs(float(theirs[t].detach()) - float(mine[t].detach())) for t in ("rec", "is", "cs", "loss")}
        gd = max(float((_ours_part(m.grad, how) - r.grad).abs().max()) for _, m, r, how in _pairs(ours, ref))
        opt_r.step()
        opt_o.step()
        pd = max(float((_ours_part(m, how) - r).abs().max()) for _, m, r, how in _pairs(ours, ref))
        worst = {"loss": max(worst["loss"], max(diffs.values())), "grad": max(worst["grad"], gd),
                 "param": max(worst["param"], pd)}
        echo(f"step {step}: loss ref {float(theirs['loss']):.6f} ours {float(mine['loss']):.6f} "
             f"(rec {diffs['rec']:.1e}, L_item {diffs['is']:.1e}, L_user {diffs['cs']:.1e}); "
             f"max |grad diff| {gd:.1e}; max |param diff| after step {pd:.1e}")
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ref, ours, data = build_pair(args.checkout, seed=args.seed)
    worst = compare(ref, ours, data, steps=args.steps, seed=args.seed)
    print(f"largest differences over {args.steps} steps: loss {worst['loss']:.2e}, gradient {worst['grad']:.2e}, "
          f"parameters {worst['param']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
