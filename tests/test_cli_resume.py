"""``graphcl train ... --resume RUN_DIR`` end to end: an interrupted run continued from the command
line ends exactly where the uninterrupted run ends; a resume with other settings, or of a folder
that holds no run, is a clear error."""
from __future__ import annotations

import json

import pytest
import torch

from graphcl.cli import main
from graphcl.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASE = ["train", "lightgcn", "--dataset", "ml-100k", "--set", "embedding_dim=8", "--set", "num_layers=1",
        "--set", "batch_size=4096", "--device", "cpu", "--quiet", "--json"]


def _run(capsys, *args: str) -> dict:
    assert main([*BASE, *args]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _train_epochs(run_dir) -> list[int]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["epoch"] for r in rows if r["split"] == "train"]


def test_cli_resume_continues_an_interrupted_run_exactly(tmp_path, capsys):
    full = _run(capsys, "--set", "epochs=3", "--run-dir", str(tmp_path / "full"))
    _run(capsys, "--set", "epochs=1", "--run-dir", str(tmp_path / "part"))     # stopped after epoch 0
    resumed = _run(capsys, "--set", "epochs=3", "--resume", str(tmp_path / "part"))
    assert resumed["test"] == full["test"] and resumed["valid"] == full["valid"]
    assert resumed["best_epoch"] == full["best_epoch"]
    assert _train_epochs(tmp_path / "part") == [0, 1, 2]                      # each epoch once
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "part" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a finished run resumed with the same settings trains nothing more and reports the same test
    again = _run(capsys, "--set", "epochs=3", "--resume", str(tmp_path / "part" / "last.pt"))
    assert again["test"] == full["test"] and _train_epochs(tmp_path / "part") == [0, 1, 2]


def test_cli_resume_errors_are_clear(tmp_path, capsys):
    _run(capsys, "--set", "epochs=1", "--run-dir", str(tmp_path / "run"))
    assert main([*BASE, "--set", "epochs=2", "--set", "lr=0.5", "--resume", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphcl: error:") and "different config: lr" in err
    missing = tmp_path / "nothing-here"
    assert main([*BASE, "--resume", str(missing)]) == 2
    assert f"graphcl: error: checkpoint not found: {missing}" in capsys.readouterr().err
    missing.mkdir()                                              # a folder, but no run in it
    assert main([*BASE, "--resume", str(missing)]) == 2
    assert "holds no checkpoint (last.pt) and no config.json: nothing to resume" in capsys.readouterr().err
