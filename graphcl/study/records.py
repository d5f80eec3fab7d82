"""Run records: the small files of each finished run of a study, kept where they outlive the
machine (a folder under version control), so a study longer than one session accumulates seeds.

A study file's optional ``records`` folder mirrors its run folders (``<records>/<dataset>/
<variant>[/<grid point>]/seed<N>``). After a run finishes, :func:`save_record` copies its
``config.json``, ``result.json`` and ``memory.json`` there (atomic writes). Before a study runs,
:func:`restore_record` copies a record back into an empty run folder, which the runner then
treats as a finished run, after the settings check of :func:`graphcl.reproduce.check_finished`
(a record of other settings is refused, naming the key, before anything is copied). Checkpoints
are not recorded: an interrupted run restarts from epoch 0 on a new machine.
"""
from __future__ import annotations

import json
from pathlib import Path

from graphcl.io import atomic_write_text
from graphcl.study.expand import StudyRun
from graphcl.study.spec import StudyError, StudySpec

__all__ = ["RECORD_FILES", "record_dir", "save_record", "restore_record"]

#: what a record keeps (result.json and config.json are required to restore one)
RECORD_FILES = ("config.json", "result.json", "memory.json")
_REQUIRED = ("config.json", "result.json")


def record_dir(spec: StudySpec, run: StudyRun) -> Path | None:
    """Where ``run``'s record lives, or ``None`` when the study keeps no records."""
    if spec.records_dir is None:
        return None
    return spec.records_dir / run.run_dir.relative_to(spec.runs_dir)


def save_record(spec: StudySpec, run: StudyRun) -> None:
    """Copy the finished ``run``'s record files into the study's records folder."""
    target = record_dir(spec, run)
    if target is None:
        return
    for name in RECORD_FILES:
        source = run.run_dir / name
        if source.is_file():
            atomic_write_text(target / name, source.read_text(encoding="utf-8"))


def restore_record(spec: StudySpec, run: StudyRun) -> bool:
    """Copy ``run``'s record into its run folder when the folder holds no run yet; True when
    restored. A record missing a required file, or holding a file that is not JSON, is refused
    (``StudyError`` naming the file) rather than trained over silently."""
    source = record_dir(spec, run)
    if source is None or not source.is_dir() or any((run.run_dir / n).exists() for n in ("result.json", "last.pt")):
        return False
    present = [n for n in RECORD_FILES if (source / n).is_file()]
    if not present:
        return False
    missing = [n for n in _REQUIRED if n not in present]
    if missing:
        raise StudyError(f"{source}: an incomplete run record (no {', '.join(missing)}); delete the folder "
                         f"to retrain the run")
    texts = {}
    for name in present:
        text = (source / name).read_text(encoding="utf-8")
        try:
            if not isinstance(json.loads(text), dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            raise StudyError(f"{source / name}: not a run record ({err})") from None
        texts[name] = text
    from graphcl.reproduce import check_finished
    check_finished(source, run.method, run.dataset, run.overrides)   # other settings: refused here
    for name, text in texts.items():
        atomic_write_text(run.run_dir / name, text)
    return True
