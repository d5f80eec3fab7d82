"""Benchmark: SRA-CL vs SASRec training-step CPU cost on one dataset (a partial epoch).

    PYTHONPATH=. .venv/bin/python experiments/benchmarks/bench_sracl_step.py --dataset beauty \
        [--batches 20] [--threads 1] [--data-root ../shared/data] [--semantics fallback-cooccurrence]
        [--out experiments/results/sracl_step_beauty.md]

For when a full SRA-CL epoch does not fit the time at hand: in one process,
SASRec and SRA-CL (both ``max_len`` 20, batch 256, the SRA-CL protocol) each
run ``--batches`` training steps (forward with SRA-CL's two substitution views
and the neighbour sequences, loss, backward, Adam) on the same shuffled
batches, timed with ``time.process_time`` (CPU seconds, so other jobs on a
shared machine do not inflate them). Reported: CPU seconds per step, the
epoch estimate (per step x batches per epoch), SRA-CL's semantics setup time
and the process's peak RSS (``ru_maxrss``; training only, no full-ranking
evaluation). An estimate from a partial epoch, labelled as such; a full run is
``experiments/benchmarks/bench_sracl.py --dataset beauty --epochs 1``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from harness import REPO, adam_step, hardware_line, peak_rss_mib



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--semantics", default="fallback-cooccurrence")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import torch

    from graphcl.data import load
    from graphcl.io import atomic_write_text
    from graphcl.models.seq import SEQ_DEFAULTS, SASRec
    from graphcl.models.seq.sracl import SRACL, SRACL_DEFAULTS

    torch.set_num_threads(args.threads)
    data = load(args.dataset, root=args.data_root)
    t = time.process_time()
    torch.manual_seed(0)
    sracl = SRACL(data, dict(SRACL_DEFAULTS, semantics=args.semantics))
    setup = time.process_time() - t
    torch.manual_seed(0)
    sas = SASRec(data, dict(SEQ_DEFAULTS, max_len=20))
    it = sracl.batches(torch.Generator().manual_seed(0))
    batches = [next(it) for _ in range(args.batches + 1)]
    rows = {}
    for name, model in (("sasrec", sas), ("sracl", sracl)):
        step = adam_step(model)

        step(batches[0])                                   # warm-up
        t = time.process_time()
        for b in batches[1:]:
            step(b)
        rows[name] = (time.process_time() - t) / args.batches
    n = sracl.num_batches()
    peak = peak_rss_mib()
    lines = [f"# SRA-CL vs SASRec step cost on {args.dataset} (partial epoch, CPU seconds)", "",
             f"{hardware_line()}; `time.process_time` over {args.batches} training batches of 256 "
             f"(max length 20) after one warm-up step; {n} batches per epoch. SRA-CL semantics: "
             f"{sracl.semantics_kind} (setup {setup:.1f} CPU s). Peak RSS of this process (both "
             f"models, training only, no evaluation): {peak:.0f} MiB. An estimate from a partial "
             "epoch, not a full-epoch measurement.", "",
             "| model | CPU s / step | epoch est. (CPU s) |", "|---|---|---|"]
    for name, s in rows.items():
        lines.append(f"| {name} | {s:.3f} | {s * n:.0f} |")
    lines += ["", f"SRA-CL / SASRec step cost: {rows['sracl'] / rows['sasrec']:.2f}x.", "",
              f"Command: `python experiments/benchmarks/bench_sracl_step.py --dataset {args.dataset} "
              f"--batches {args.batches} --threads {args.threads} --semantics {args.semantics}`"]
    text = "\n".join(lines) + "\n"
    out = Path(args.out or REPO / "experiments" / "results" / f"sracl_step_{args.dataset}.md")
    atomic_write_text(out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
