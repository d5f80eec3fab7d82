"""Tests written against the mutants of ``graphcl/train/checkpoint.py`` that
``tests/test_train.py`` alone would leave alive (see experiments/results/mutation.md):
the checkpoint round trip, its two error messages and the JSON-lines log format.
"""
from __future__ import annotations

import json
from fractions import Fraction

import pytest
import torch

from graphcl.train.checkpoint import JsonlLogger, load_checkpoint, save_checkpoint


def test_checkpoint_round_trip_keeps_tensors_and_plain_values(tmp_path):
    state = {"epoch": 3, "model": {"w": torch.arange(4.0)}, "config": {"lr": 0.01, "name": "x"}}
    path = tmp_path / "last.pt"
    save_checkpoint(state, path)
    back = load_checkpoint(path)
    assert back["epoch"] == 3 and back["config"] == {"lr": 0.01, "name": "x"}
    assert torch.equal(back["model"]["w"], torch.arange(4.0))
    assert back["model"]["w"].device == torch.device("cpu")
    save_checkpoint({"epoch": 4}, path)  # overwrites in place
    assert load_checkpoint(str(path)) == {"epoch": 4}


def test_missing_checkpoint_is_named(tmp_path):
    path = tmp_path / "nope" / "last.pt"
    with pytest.raises(FileNotFoundError, match=f"^checkpoint not found: {path}$"):
        load_checkpoint(path)
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(FileNotFoundError, match="^checkpoint not found: "):
        load_checkpoint(tmp_path / "dir.pt")


def test_corrupt_or_unsafe_checkpoint_is_refused_by_name(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=f"^cannot read checkpoint {bad}: "):
        load_checkpoint(bad)

    unsafe = tmp_path / "unsafe.pt"
    torch.save({"obj": Fraction(1, 3)}, unsafe)  # an arbitrary pickled class: refused by weights_only=True
    with pytest.raises(ValueError, match=f"^cannot read checkpoint {unsafe}: "):
        load_checkpoint(unsafe)


def test_jsonl_logger_writes_one_sorted_object_per_line_and_creates_the_folder_when_it_writes(tmp_path):
    path = tmp_path / "deep" / "dir" / "log.jsonl"
    log = JsonlLogger(path)
    assert not path.parent.exists()
    log.log({"b": 1, "a": 2.5})
    assert path.parent.is_dir()
    log.log({"epoch": 1})
    text = path.read_text(encoding="utf-8")
    assert text == '{"a": 2.5, "b": 1}\n{"epoch": 1}\n'
    assert [json.loads(line) for line in text.splitlines()] == [{"a": 2.5, "b": 1}, {"epoch": 1}]
    JsonlLogger(path).log({"again": True})  # appends, never truncates
    assert path.read_text(encoding="utf-8").splitlines()[-1] == '{"again": true}'
    assert JsonlLogger(str(path)).path == path


def test_load_checkpoint_maps_tensors_to_the_asked_device(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"w": torch.ones(2)}, path)
    moved = load_checkpoint(path, map_location="meta")  # the one other device a CPU-only machine has
    assert moved["w"].device.type == "meta" and moved["w"].shape == (2,)
