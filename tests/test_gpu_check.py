"""`make gpu-check` (experiments/gpu_check.py): it refuses clearly where there is no CUDA, and its
plan covers the CUDA tests, torchrun against a single process, and the epoch timings."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "experiments" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_refuses_without_cuda_and_says_why(monkeypatch, capsys, tmp_path):
    gpu_check = _module()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu_check.md"
    assert gpu_check.main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "gpu-check needs a CUDA GPU: torch.cuda.is_available() is False here" in err
    assert f"torch {torch.__version__}" in err and not out.exists()


def test_the_plan_runs_the_cuda_tests_torchrun_and_the_timings(shared_data, capsys):
    gpu_check = _module()
    assert gpu_check.main(["--dry-run", "--data-root", str(shared_data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split(":", 1)[0] for line in lines]
    assert names[:3] == ["cuda tests", "single process", "torchrun 1 GPU"]
    assert {"epoch lightgcn gowalla", "epoch lightgcl gowalla", "epoch grace cora", "epoch simgcl ml-100k"} <= set(names)
    torchrun = lines[2]
    assert "torch.distributed.run --standalone --nproc_per_node 1 -m graphcl.cli train lightgcn" in torchrun
    assert "--device cuda" in torchrun and "--set seed=0" in torchrun
    # the two runs train the same thing: the same arguments but the run folder
    single_args = lines[1].split("graphcl.cli ", 1)[1].split(" --run-dir")[0]
    assert single_args == torchrun.split("graphcl.cli ", 1)[1].split(" --run-dir")[0]
    for path in gpu_check.CUDA_TEST_FILES:
        assert (REPO / path).is_file(), path


def test_without_a_data_root_it_times_only_the_embedded_dataset(capsys):
    gpu_check = _module()
    assert gpu_check.main(["--dry-run"]) == 0
    names = [line.split(":", 1)[0] for line in capsys.readouterr().out.splitlines()]
    assert [n for n in names if n.startswith("epoch")] == ["epoch lightgcn ml-100k", "epoch lightgcl ml-100k",
                                                            "epoch simgcl ml-100k"]
