"""Benchmark: one training step of MEOW and AdaMEOW with each dataset's registry preset.

    .venv/bin/python experiments/benchmarks/bench_meow_step.py [--methods adameow meow] \
        [--datasets acm dblp aminer] [--steps 4] [--threads 1] [--tag current] \
        [--out experiments/results/meow_step.md]

For each (method, dataset): the model built from the registry (defaults + the dataset's preset,
the settings `graphcl train METHOD --dataset D` uses), then ``--steps`` full-graph steps
(forward, backward, Adam) timed with ``time.process_time`` after one warm-up step; the median is
reported with the preset's epoch count (AdaMEOW trains every epoch of it: its code's loss patience
is never used) as the CPU hours of one seed. Rows are stored per ``--tag``, so an older commit
(``git archive REV | tar -x -C DIR``, run from outside the repository with ``PYTHONPATH=DIR``)
sits in the same table. Time only: pause other jobs for comparable rows.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, hardware_line, peak_rss_mib, update_tagged_store, write_table  # noqa: E402

DEFAULT_OUT = REPO / "experiments" / "results" / "meow_step.md"


def time_steps(method: str, dataset: str, data_root: str, steps: int) -> tuple[float, int, int, int]:
    """(median CPU s/step, the preset's epochs, its loss patience, nodes) of ``steps`` steps
    after one warm-up."""
    import torch
    import graphcl
    from graphcl.config import merge_config
    from graphcl.registry import get_method
    spec = get_method(method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # partial DBLP: its missing meta-path is named elsewhere
        data = graphcl.load(dataset, root=data_root)
    preset = {k: v for k, v in spec.presets.get(dataset, {}).items() if not k.startswith("data.")}
    cfg, _ = merge_config(spec.defaults, preset)
    model = spec.build(data, cfg, "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    gen = torch.Generator().manual_seed(0)
    seconds = []
    for i in range(steps + 1):
        t0 = time.process_time()
        opt.zero_grad()
        model.step_loss(gen)["loss"].backward()
        opt.step()
        if i:
            seconds.append(time.process_time() - t0)
    return statistics.median(seconds), int(cfg["epochs"]), int(cfg.get("loss_patience") or 0), int(model.num_nodes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["adameow"], choices=["adameow", "meow"])
    ap.add_argument("--datasets", nargs="+", default=["acm", "dblp", "aminer"])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="current")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error("--steps must be >= 1")
    import torch
    torch.set_num_threads(args.threads)
    rows = []
    for method in args.methods:
        for dataset in args.datasets:
            s, epochs, patience, n = time_steps(method, dataset, args.data_root, args.steps)
            hours = f"{epochs * s / 3600:.2f}" if not patience else f"— (stops on loss patience {patience})"
            rows.append([args.tag, method, dataset, n, s, epochs, hours])
            print(rows[-1], flush=True)
    columns = ["code", "method", "dataset", "nodes", "CPU s/step", "preset epochs", "CPU h/seed"]
    command = "python experiments/benchmarks/bench_meow_step.py " + " ".join(argv if argv is not None else sys.argv[1:])
    saved = update_tagged_store(args.out, rows, {"tag": args.tag, "hardware": hardware_line(),
                                                 "peak_rss_mib": peak_rss_mib(), "command": command}, key_width=3)
    header = ["Written by `experiments/benchmarks/bench_meow_step.py` (its docstring says what is timed). "
              "CPU seconds per full-graph step (forward, backward, Adam), median after a warm-up step.", ""]
    header += [f"- `{r['tag']}`: {r['hardware']}; peak RSS {r['peak_rss_mib']:.0f} MiB; `{r['command']}`"
               for r in saved["runs"]]
    text = write_table(args.out, "MEOW / AdaMEOW: one training step with the registry presets", header, columns,
                       saved["rows"])
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
