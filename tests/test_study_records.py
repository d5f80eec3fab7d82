"""Study run records (``records:``): finished runs' small files kept outside the run folders, so a
study resumed on a new machine (empty run folders) reuses them instead of retraining."""
from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from graphcl.study import load_study, run_study
from graphcl.study.spec import StudyError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _study(tmp_path, records: str | None = "records", seeds=(0, 1), extra: str = ""):
    lines = ["description: records", f"output: {tmp_path / 'report.md'}", f"runs: {tmp_path / 'runs'}",
             "datasets: [ml-100k]", f"seeds: [{', '.join(map(str, seeds))}]",
             "set: [epochs=1, embedding_dim=8, num_layers=1]", "metrics: [recall@20]",
             "variants: [lightgcn]"]
    if records:
        lines.append(f"records: {tmp_path / records}")
    path = tmp_path / "study.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return load_study(path)


def test_a_new_machine_reuses_the_recorded_runs(tmp_path):
    spec = _study(tmp_path)
    first = run_study(spec, log=lambda _: None)
    seed0 = tmp_path / "records" / "ml-100k" / "lightgcn" / "seed0"
    assert sorted(p.name for p in seed0.iterdir()) == ["config.json", "memory.json", "result.json"]
    shutil.rmtree(tmp_path / "runs")                       # the machine is gone, the records stay
    said: list[str] = []
    second = run_study(spec, log=said.append)
    assert any("restored 2 finished run(s)" in s for s in said)
    assert any("finished run" in s and "skipped" in s for s in said)
    assert not (tmp_path / "runs" / "ml-100k" / "lightgcn" / "seed0" / "best.pt").exists()   # not retrained
    assert json.loads(first.json.read_text())["rows"] == json.loads(second.json.read_text())["rows"]


def test_a_record_of_other_settings_or_a_broken_record_is_refused(tmp_path):
    spec = _study(tmp_path, seeds=(0,))
    run_study(spec, log=lambda _: None)
    shutil.rmtree(tmp_path / "runs")
    changed = dataclasses.replace(spec, overrides={**spec.overrides, "epochs": 2})
    with pytest.raises(ValueError, match="finished with other settings: epochs=1"):
        run_study(changed, log=lambda _: None)
    assert not (tmp_path / "runs" / "ml-100k" / "lightgcn" / "seed0" / "result.json").exists()
    record = tmp_path / "records" / "ml-100k" / "lightgcn" / "seed0"
    (record / "result.json").write_text("[1, 2", encoding="utf-8")
    with pytest.raises(StudyError, match="result.json: not a run record"):
        run_study(spec, log=lambda _: None)
    (record / "result.json").unlink()
    with pytest.raises(StudyError, match="an incomplete run record \\(no result.json\\)"):
        run_study(spec, log=lambda _: None)


def test_records_must_lie_outside_the_run_folders(tmp_path):
    with pytest.raises(StudyError, match="records .* must lie outside runs"):
        _study(tmp_path, records="runs/records")
    assert _study(tmp_path, records=None).records_dir is None
