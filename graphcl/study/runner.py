"""Run a study: every expanded run through :func:`graphcl.reproduce.run_seed`, then the report.

A run folder holding ``result.json`` is finished: it is reused (after checking it was trained
with the settings the study asks for now; a changed setting is refused, naming the key), one
holding ``last.pt`` is resumed. Without ``resume=True`` a study refuses to start when any of its
run folders already holds a run, so two studies never mix runs by accident. The peak resident
memory of each run trained here (and its CUDA peak) is kept in the run folder's ``memory.json``.
The report is rewritten after every run, so a killed study leaves a table of what finished.
A study with ``records`` (:mod:`graphcl.study.records`) restores the recorded finished runs into
empty run folders first, and records each run it finishes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from graphcl.io import write_json
from graphcl.study.expand import StudyRun, expand_runs
from graphcl.study.memory import PeakMemory
from graphcl.study.records import restore_record, save_record
from graphcl.study.report import RunOutcome, StudyReport, write_report
from graphcl.study.spec import StudyError, StudySpec

__all__ = ["run_study", "describe_runs", "run_state"]

MEMORY_FILE = "memory.json"


def run_state(run: StudyRun) -> str:
    """``finished`` (result.json), ``interrupted`` (last.pt) or ``new``."""
    if (run.run_dir / "result.json").is_file():
        return "finished"
    if (run.run_dir / "last.pt").is_file():
        return "interrupted"
    return "new"


def describe_runs(spec: StudySpec) -> list[str]:
    """One line per expanded run (what ``graphcl study --dry-run`` prints)."""
    lines = []
    for i, run in enumerate(expand_runs(spec), start=1):
        sets = " ".join(f"{k}={v}" for k, v in run.overrides.items())
        lines.append(f"{i:>3}. {run.dataset} {run.variant} ({run.method}) seed {run.seed} [{run_state(run)}] "
                     f"{run.run_dir}  {sets}")
    return lines


def run_study(spec: StudySpec, *, resume: bool = False, data_root: str | Path | None = None,
              device: str = "auto", verbose: bool = False,
              log: Callable[[str], None] = print) -> StudyReport:
    """Train (or reuse) every run of ``spec`` and write its Markdown and JSON report."""
    from graphcl.reproduce import check_finished

    runs = expand_runs(spec)
    restored = [r for r in runs if restore_record(spec, r)]
    if restored:
        log(f"restored {len(restored)} finished run(s) from {spec.records_dir}")
    started = [r for r in runs if run_state(r) != "new" and r not in restored]
    if started and not resume:
        raise StudyError(f"{spec.path}: {len(started)} of {len(runs)} run folders already hold runs "
                         f"(first: {started[0].run_dir}); pass --resume to reuse finished runs and continue "
                         f"interrupted ones, or delete {spec.runs_dir}")
    for run in started:          # refuse changed settings before anything trains
        if run_state(run) == "finished":
            check_finished(run.run_dir, run.method, run.dataset, run.overrides)
    done: list[RunOutcome] = []
    report: StudyReport | None = None
    for i, run in enumerate(runs, start=1):
        log(f"[{i}/{len(runs)}] {run.dataset} {run.variant} seed {run.seed}")
        done.append(_run_one(run, data_root=data_root, device=device, verbose=verbose, log=log))
        save_record(spec, run)
        report = write_report(spec, done)
    assert report is not None  # a study has at least one run
    log(f"report: {report.markdown}")
    return report


def _run_one(run: StudyRun, *, data_root: str | Path | None, device: str, verbose: bool,
             log: Callable[[str], None]) -> RunOutcome:
    from graphcl.reproduce import run_seed

    memory_file = run.run_dir / MEMORY_FILE
    with PeakMemory(device) as peak:
        seed_run = run_seed(run.method, run.dataset, run.seed, run.run_dir, run.overrides, data_root=data_root,
                            device=device, verbose=verbose, log=log)
    if seed_run.status != "skipped":
        memory = {"peak_rss_mib": round(peak.rss_mib, 1), "peak_cuda_mib":
                  None if peak.cuda_mib is None else round(peak.cuda_mib, 1), "process_peak": peak.since_start}
        write_json(memory_file, memory)
    else:
        memory = _read_memory(memory_file)
    return RunOutcome(run=run, seed_run=seed_run, memory=memory)


def _read_memory(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
