"""MCLRec equations, reference vs graphcl, on the same parameters and inputs (no training run).

    python -m experiments.parity.mclrec_check --checkout /tmp/parity-refs/MCLRec [--items 60]

Builds the reference's own ``MCLRec`` (its RecBole fork, from a patched temporary copy of the
checkout, on a small synthetic 5-core dataset) and graphcl's ``MCLRec`` on the same sequences,
copies the reference's encoder parameters into ours (``query/key/value`` -> the fused ``qkv``,
``dense`` -> ``out``, the two LayerNorms, the feed-forward, the item rows through RecBole's id map)
and its two ``Extractor`` s into our augmenters, then compares, in eval mode (no dropout):

* the sequence encodings: the reference's ``forward`` on RIGHT-padded inputs vs our ``encode`` on
  LEFT-padded ones, for full-length inputs (50 items: both layouts give every item the same
  position) and for shorter ones (the position layouts differ: reported, not asserted);
* the contrastive terms on the same encodings ``h1, h2``: the reference's ``info_nce`` +
  ``CrossEntropyLoss`` vs ``nt_xent`` (Lcl1), its ``meta_contrast(..., "step1")`` (Lcl2 + 0.1 R) vs our
  ``_contrast`` (cl2 + reg), values and gradients with respect to ``h1``, ``h2`` and the augmenter
  weights;
* the recommendation loss on the same encodings: the reference's CE over ``item_embedding.weight[:n_items]``
  (which includes the padding row 0) vs ours over the real items only (reported).

Prints one JSON object; exit status 1 when a compared quantity that must agree does not (1e-5).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]


def _tiny_lines(num_users: int, num_items: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for u in range(num_users):
        n = 55 if u % 5 == 0 else rng.randint(5, 30)
        lines.append(" ".join([str(u + 1)] + [str(rng.randint(1, num_items)) for _ in range(n)]))
    return lines


def build(checkout: Path, work: Path, num_items: int, seed: int) -> tuple[Any, Any, Any, Any]:
    """(reference model, reference dataset, its trainer's two extractors, graphcl model)."""
    from experiments.parity.adapter import RunContext, apply_patches
    from experiments.parity.adapters.mclrec import ADAPTER, write_inter
    from graphcl.data.sequences import read_sequence_lines
    from graphcl.models.seq.mclrec import MCLREC_DEFAULTS, MCLRec
    top = {".git", "dataset", "log", "pdf", "pic"}  # (top level only: recbole/data/dataset is code)
    shutil.copytree(checkout, work, ignore=lambda d, names: [n for n in names if Path(d) == checkout and n in top])
    ctx = RunContext(dataset="beauty", seed=seed, epochs=1, workdir=work, checkout=checkout,
                     data_root=work, python=sys.executable)
    # the harness's patches minus the hook calls (no PARITY_SEQ here)
    apply_patches(work, [p for p in ADAPTER.patches(ctx) if "parity_mclrec" not in p.replace])
    txt = work / "tiny.txt"
    txt.write_text("\n".join(_tiny_lines(120, num_items, seed)) + "\n", encoding="utf-8")
    data = read_sequence_lines(txt, name="tiny")
    (work / "dataset" / "tiny").mkdir(parents=True)
    write_inter(work / "dataset" / "tiny" / "tiny.inter", data)
    cwd = os.getcwd()
    os.chdir(work)
    sys.path.insert(0, str(work))
    try:
        sys.argv = ["run_seq.py", "--use_gpu=False", "--show_progress=False", f"--seed={seed}"]
        from recbole.config import Config
        from recbole.data import create_dataset, data_preparation
        from recbole.model.extractors import Extractor
        from recbole.utils import get_model, init_seed
        config = Config(model="MCLRec", dataset="tiny", config_file_list=["seq.yaml"])
        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        train, _, _ = data_preparation(config, dataset)
        ref = get_model(config["model"])(config, train)
        ext = (Extractor([64, 32, 16, 64], "gelu", None), Extractor([64, 32, 16, 64], "gelu", None))
    finally:
        os.chdir(cwd)
    h = ADAPTER.hyper("beauty")
    ours = MCLRec(data, {**MCLREC_DEFAULTS, **ADAPTER.ours_config("beauty")})
    assert ref.tau == h["tau"]
    return ref, dataset, ext, ours


def copy_parameters(ref: Any, dataset: Any, ext: tuple[Any, Any], ours: Any) -> torch.Tensor:
    """Copy the reference's parameters into ours; returns our-id -> reference-id (0 -> 0)."""
    iid = dataset.iid_field
    tokens = ours.dataset.item_tokens
    ref_ids = torch.tensor([0] + [dataset.field2token_id[iid][t] for t in tokens])
    enc = ours.encoder
    with torch.no_grad():
        enc.item_embedding.weight.copy_(ref.item_embedding.weight[ref_ids])
        enc.item_embedding.weight[0].zero_()
        enc.position_embedding.weight.copy_(ref.position_embedding.weight)
        enc.norm.load_state_dict(ref.LayerNorm.state_dict())
        for block, layer in zip(enc.blocks, ref.trm_encoder.layer):
            att, ff = layer.multi_head_attention, layer.feed_forward
            block.qkv.weight.copy_(torch.cat([att.query.weight, att.key.weight, att.value.weight]))
            block.qkv.bias.copy_(torch.cat([att.query.bias, att.key.bias, att.value.bias]))
            block.out.load_state_dict(att.dense.state_dict())
            block.norm1.load_state_dict(att.LayerNorm.state_dict())
            block.ff1.load_state_dict(ff.dense_1.state_dict())
            block.ff2.load_state_dict(ff.dense_2.state_dict())
            block.norm2.load_state_dict(ff.LayerNorm.state_dict())
        for mine, theirs in zip((ours.aug1, ours.aug2), ext):
            for k, name in zip((0, 2, 4), ("dense_1", "dense_2", "dense_3")):
                mine.layers[k].load_state_dict(getattr(theirs, name).state_dict())
    return ref_ids


def check(checkout: Path, num_items: int = 60, seed: int = 0) -> dict[str, Any]:
    """Run the comparisons of the module docstring; returns the report dict."""
    import torch.nn.functional as F
    from experiments.parity.seqhook import TokenScorer
    from graphcl.losses.ntxent import nt_xent
    from graphcl.models.seq.base import full_softmax_ce
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        ref, dataset, ext, ours = build(checkout, Path(tmp) / "ref", num_items, seed)
    ref_ids = copy_parameters(ref, dataset, ext, ours)
    ref.eval(), ours.eval()
    out: dict[str, Any] = {}
    # ---- encodings (our left-padded inputs; the reference gets them right-padded, its ids)
    scorer = TokenScorer(ref, ref.forward, lambda: ref.item_embedding.weight, ref_ids)
    g = torch.Generator().manual_seed(seed)
    for name, length in (("full_length_50", 50), ("length_7", 7)):
        lengths = torch.full((16,), length)
        seqs = torch.randint(1, ours.num_items + 1, (16, 50), generator=g)
        seqs[:, : 50 - length] = 0
        with torch.no_grad():
            mine = ours.encode(seqs, lengths)
            theirs = ref.forward(ref_ids[scorer.relayout(seqs, lengths)], lengths)
        out[f"encode_{name}_max_abs_diff"] = float((mine - theirs).abs().max())
    # ---- contrastive terms on the same encodings
    B, d = 32, 64
    h1 = torch.randn(B, d, generator=g, requires_grad=True)
    h2 = torch.randn(B, d, generator=g, requires_grad=True)
    logits, labels = ref.info_nce(h1, h2, temp=ref.tau, batch_size=B, sim=ref.sim)
    ref_cl1 = torch.nn.CrossEntropyLoss()(logits, labels)
    our_cl1 = nt_xent(h1, h2, ours.tau, ours.sim)
    out["cl1"] = [ref_cl1.item(), our_cl1.item()]
    ref_cl2 = ref.meta_contrast(h1, h2, list(ext), "step1")  # Lcl2 + 0.1 R (use_rl=1)
    parts = ours._contrast(h1, h2)
    our_cl2 = parts["cl2"] + parts["reg"]
    out["cl2_plus_reg"] = [ref_cl2.item(), our_cl2.item()]
    gr = torch.autograd.grad(ref_cl2, [h1, h2, *ext[0].parameters(), *ext[1].parameters()])
    go = torch.autograd.grad(our_cl2, [h1, h2, *ours.aug1.parameters(), *ours.aug2.parameters()])
    out["cl2_plus_reg_grad_max_abs_diff"] = max(float((a - b).abs().max()) for a, b in zip(gr, go))
    out["cl2_plus_reg_grad_max_abs"] = max(float(a.abs().max()) for a in gr)
    # ---- recommendation loss on the same encodings: the reference's softmax includes row 0
    target = torch.randint(1, ours.num_items + 1, (B,), generator=g)
    with torch.no_grad():
        ref_logits = h1 @ ref.item_embedding.weight[: ref.n_items].T
        ref_rec = F.cross_entropy(ref_logits, ref_ids[target])
        our_rec = full_softmax_ce(h1, ours.item_embeddings, target)
        no_pad = F.cross_entropy(ref_logits[:, 1:], ref_ids[target] - 1)
    out["rec_loss"] = {"reference_with_pad_row": float(ref_rec), "ours": float(our_rec),
                       "reference_without_pad_row": float(no_pad)}
    bad = [k for k, v in (("encode_full_length_50_max_abs_diff", out["encode_full_length_50_max_abs_diff"]),
                          ("cl1", abs(out["cl1"][0] - out["cl1"][1])),
                          ("cl2_plus_reg", abs(out["cl2_plus_reg"][0] - out["cl2_plus_reg"][1])),
                          ("cl2_plus_reg_grad", out["cl2_plus_reg_grad_max_abs_diff"]),
                          ("rec_loss_without_pad", abs(no_pad.item() - our_rec.item())))
           if v > 1e-5]
    out["disagree"] = bad
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--items", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if not (args.checkout / "run_seq.py").is_file():
        print(f"{args.checkout} is not a QinHsiu/MCLRec checkout (no run_seq.py)", file=sys.stderr)
        return 2
    report = check(args.checkout.resolve(), args.items, args.seed)
    print(json.dumps(report, indent=1))
    return 1 if report["disagree"] else 0


if __name__ == "__main__":
    sys.exit(main())
