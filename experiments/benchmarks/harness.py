"""The small harness every kernel micro-benchmark here shares.

* :func:`median_seconds`: time a callable (warm-up calls, then the median of repeats);
* :class:`PeakMemory` (from :mod:`graphcl.study.memory`): peak resident / CUDA memory of a block;
  :func:`peak_rss_mib`: the process's lifetime peak, for one-measurement subprocesses;
* :func:`run_worker`: run this script again in a fresh process (so a peak is its own) and read the
  JSON line it prints;
* :func:`hardware_line`: CPU, GPU, torch version and threads, date (the reports' header line);
* :func:`write_table`: a Markdown table (title, header lines, rows) written atomically under
  ``experiments/results/``.

Benchmarks import it as ``from harness import ...`` (their own folder is on ``sys.path`` when run
as ``python experiments/benchmarks/bench_x.py``); graphcl comes from the installed package.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from graphcl.io import atomic_write_text
from graphcl.reproduce import hardware_description
from graphcl.study.memory import PeakMemory, current_rss_mib

__all__ = ["REPO", "RESULTS", "PeakMemory", "atomic_write_text", "current_rss_mib", "peak_rss_mib", "median_seconds",
           "run_worker", "hardware_line", "markdown_table", "write_table"]

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "experiments" / "results"


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (``ru_maxrss``), in MiB."""
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def median_seconds(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls
    (``clock=time.process_time`` for CPU seconds on a shared machine)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def adam_step(model: Any, lr: float = 1e-3) -> Callable[[Any], None]:
    """One Adam training step of ``model.loss(batch)["loss"]`` per call (a fresh optimizer)."""
    import torch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()

    def step(batch: Any) -> None:
        out = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    return step


def run_worker(script: str | Path, args: Sequence[str], threads: int = 1, timeout: float | None = None) -> dict:
    """Run ``python script *args`` in a fresh process with ``threads`` torch/OpenMP threads and
    return the JSON object on the last line of its stdout (its own peak memory included)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{Path(script).name} {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def hardware_line(device: str = "cpu") -> str:
    """``hardware_description`` plus the torch version, torch threads and today's date."""
    import torch
    return (f"{hardware_description(device)}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
            f"date {dt.date.today().isoformat()}")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The lines of a Markdown table; floats are printed with 4 significant digits."""
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)] + \
        ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def write_table(path: str | Path, title: str, header: Sequence[str], columns: Sequence[str],
                rows: Sequence[Sequence[Any]], notes: Sequence[str] = ()) -> str:
    """Write ``# title``, the header lines, the table and notes to ``path`` atomically; return the text."""
    lines = [f"# {title}", "", *header, "", *markdown_table(columns, rows)]
    if notes:
        lines += ["", *notes]
    text = "\n".join(lines) + "\n"
    atomic_write_text(path, text)
    return text


def update_tagged_store(out: str | Path, rows: Sequence[Sequence[Any]], run: dict[str, Any],
                        key_width: int = 1) -> dict[str, Any]:
    """Merge this invocation into ``out``'s ``.json`` store (written atomically) and return it.

    Rows whose first ``key_width`` cells (the tag first) match a new row's are replaced; the run
    record (``tag``, ``command``, hardware, ...) replaces a saved one with the same tag and command.
    So rows of several code versions ("before", "after") sit in one table."""
    store = Path(out).with_suffix(".json")
    saved = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {"rows": [], "runs": []}
    fresh = {tuple(r[:key_width]) for r in rows}
    saved["rows"] = [r for r in saved["rows"] if tuple(r[:key_width]) not in fresh] + [list(r) for r in rows]
    saved["runs"] = [r for r in saved["runs"]
                     if (r["tag"], r["command"]) != (run["tag"], run["command"])] + [run]
    atomic_write_text(store, json.dumps(saved, indent=1) + "\n")
    return saved

