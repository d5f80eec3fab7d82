"""Linear-probe variants on the same frozen node embeddings, selected on validation.

    .venv/bin/python experiments/probe_variants.py --method grace --dataset cora --seeds 0 1 2 3 4
        [--emb-dir runs/probe_embeddings] [--variants default l2-wide ...] [--data-root ../shared/data]
        [--out experiments/results/probe_variants_grace_cora.md] [--set gamma_max=5 ...]

Trains ``--method`` on ``--dataset`` once per training seed with its preset (the model after
the last epoch, as :mod:`experiments.node_classification` without ``--eval-every``) and
caches the embeddings in ``--emb-dir`` (``<method>_<dataset>[_<overrides>]_s<seed>.pt``; a
cached file is reused, and refused when it was trained with other ``--set`` overrides). Every
probe variant (normalization, weight-decay grid, Adam epochs of
:func:`graphcl.eval.node.linear_probe`) is then fitted on the same 5 random 10/10/80 splits
per seed. Reported: mean validation and test accuracy over seeds; the variant with the best
mean validation accuracy is the one to pick (its test accuracy is the result).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from graphcl.eval.node import WIDE_WEIGHT_DECAYS as WIDE  # noqa: E402  (0, 1e-6, 10^-5.5, ..., 1)
VARIANTS: dict[str, dict] = {
    "default": {},
    "wide": {"weight_decay": WIDE},
    "epochs1000": {"epochs": 1000},
    "wide-epochs1000": {"weight_decay": WIDE, "epochs": 1000},
    "l2-wide-epochs1000": {"weight_decay": WIDE, "epochs": 1000, "normalize": "l2"},
    "raw-wide-epochs1000": {"weight_decay": WIDE, "epochs": 1000, "normalize": None},
}


def overrides_tag(overrides: dict) -> str:
    """File-name tag of the config overrides: ``""`` or ``"_gammamax-5_t0-0"`` (sorted keys,
    underscores and unsafe characters dropped)."""
    parts = [f"{k}-{v}" for k, v in sorted(overrides.items())]
    return "".join("_" + re.sub(r"[^A-Za-z0-9.+-]", "", p.replace("_", "")) for p in parts) if parts else ""


def embeddings(method: str, dataset: str, seed: int, emb_dir: Path, data_root: str | None,
               overrides: dict | None = None):
    from graphcl.train import build_trainer
    from graphcl.train.checkpoint import load_checkpoint, save_checkpoint
    from graphcl.train.node_tasks import frozen_embeddings
    overrides = dict(overrides or {})
    path = emb_dir / f"{method}_{dataset}{overrides_tag(overrides)}_s{seed}.pt"
    if path.exists():
        saved = load_checkpoint(path)
        if saved.get("overrides", {}) != overrides:
            raise ValueError(f"{path} was trained with overrides {saved.get('overrides', {})}, not "
                             f"{overrides}; remove it or use another --emb-dir")
        return saved["emb"]
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(method, dataset, config={**overrides, "seed": seed}, data_root=data_root,
                                run_dir=Path(tmp) / "run", verbose=False)
        trainer.fit()
        emb = frozen_embeddings(trainer.model)
    emb_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"emb": emb, "overrides": overrides}, path)  # atomic: no truncated cache file
    return emb


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", default="grace")
    p.add_argument("--dataset", default="cora")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--emb-dir", type=Path, default=REPO / "runs" / "probe_embeddings")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for training (e.g. gamma_max=5); part of the cache file name")
    args = p.parse_args(argv)
    from graphcl.config import ConfigError, parse_set_options
    try:
        overrides = parse_set_options(args.set)
    except ConfigError as exc:
        p.error(str(exc))

    from graphcl.data import load
    from graphcl.eval.node import linear_probe
    labels = load(args.dataset, root=args.data_root).y
    embs = [embeddings(args.method, args.dataset, s, args.emb_dir, args.data_root, overrides) for s in args.seeds]
    rows = []
    for name in args.variants:
        t0 = time.perf_counter()
        res = [linear_probe(e, labels, seeds=range(5), **VARIANTS[name]) for e in embs]
        val = [100 * r["val_mean"] for r in res]
        test = [100 * r["mean"] for r in res]
        rows.append((name, statistics.fmean(val), statistics.fmean(test),
                     statistics.stdev(test) if len(test) > 1 else 0.0, test))
        print(f"{name:20s} valid {rows[-1][1]:.2f}  test {rows[-1][2]:.2f} ± {rows[-1][3]:.2f}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    best = max(rows, key=lambda r: r[1])
    title = f"# Probe variants: {args.method} on {args.dataset}, training seeds {args.seeds}"
    lines = [title + (f", config {overrides}" if overrides else ""), "",
             f"- command: `python experiments/probe_variants.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
             "- 5 random 10/10/80 splits per training seed; weight decay chosen per split on validation; "
             "mean over training seeds (test std over training seeds, ddof 1)", "",
             "| variant | mean valid % | mean test % | per seed test % |", "|---|---|---|---|"]
    for name, v, t, sd, per in rows:
        mark = "**" if name == best[0] else ""
        lines.append(f"| {mark}{name}{mark} | {v:.2f} | {t:.2f} ± {sd:.2f} | {', '.join(f'{x:.2f}' for x in per)} |")
    lines += ["", f"Selected on validation: `{best[0]}`, test {best[2]:.2f} ± {best[3]:.2f}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from graphcl.io import atomic_write_text
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
