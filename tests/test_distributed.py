"""Data-parallel training: batch sharding, and 2 gloo processes under torchrun
matching 1 process (same global batch) on real ml-100k."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphcl.train.distributed import DistributedContext, shard_batch

REPO = Path(__file__).resolve().parents[1]


def test_shards_cover_the_global_batch_and_weights_average_to_one():
    users, pos = torch.arange(11), torch.arange(11) * 10
    pieces, weights = [], []
    for rank in range(3):
        (u, p), w = shard_batch((users, pos), DistributedContext(rank, 3))
        assert torch.equal(p, u * 10)
        pieces.append(u)
        weights.append(w)
    assert torch.equal(torch.cat(pieces), users)               # contiguous, in order, no overlap
    assert [x.numel() for x in pieces] == [4, 4, 3]
    assert sum(weights) / 3 == pytest.approx(1.0)               # (1/W) Σ w_r = Σ n_r / N = 1
    # the weighted mean of shard means is the global mean
    x = torch.randn(11, dtype=torch.float64)
    shard_means = [x[piece].mean() * w for piece, w in zip(pieces, weights)]
    assert float(sum(shard_means) / 3) == pytest.approx(float(x.mean()), abs=1e-12)


def test_shard_dicts_small_batches_and_errors():
    batch = {"seq": torch.zeros(2, 5), "len": torch.ones(2), "tag": "x"}
    out, w = shard_batch(batch, DistributedContext(1, 2))
    assert out["seq"].shape == (1, 5) and out["tag"] == "x" and w == 1.0
    # fewer rows than ranks: the rank without rows gets the batch with weight 0
    one = (torch.tensor([3]),)
    assert shard_batch(one, DistributedContext(1, 2)) == (one, 0.0)
    assert shard_batch(one, DistributedContext(0, 2))[1] == 2.0
    gen = torch.Generator()
    assert shard_batch(gen, DistributedContext(0, 2)) == (gen, 1.0)   # full-graph step: whole
    with pytest.raises(ValueError, match="different first dimensions"):
        shard_batch((torch.zeros(3), torch.zeros(4)), DistributedContext(0, 2))


def _train(tmp_path: Path, name: str, nproc: int, method: str = "lightgcl",
           extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    run = tmp_path / name
    args = ["-m", "graphcl.cli", "train", method, "--dataset", "ml-100k", "--device", "cpu",
            "--threads", "1", "--run-dir", str(run), "--json", "--quiet", *extra]
    if nproc > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                  f"--nproc_per_node={nproc}"]
        cmd = launch + args
    else:
        cmd = [sys.executable] + args
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_gloo_processes_match_one_process_on_ml100k(tmp_path):
    """LightGCL (BPR + InfoNCE over all users/items + an L2 term on all weights):
    sharded global batches with loss weights n_r·W/N and all-reduced gradients
    follow the single-process run up to float summation order."""
    opts = ("--set", "epochs=3", "--set", "embedding_dim=32", "--set", "batch_size=2048",
            "--set", "eval_every=1")
    single = _train(tmp_path, "single", 1, extra=opts)
    assert single.returncode == 0, single.stderr[-3000:]
    double = _train(tmp_path, "ddp", 2, extra=opts)
    assert double.returncode == 0, double.stderr[-3000:]
    one = json.loads(single.stdout.strip().splitlines()[-1])
    two = json.loads(double.stdout.strip().splitlines()[-1])   # only rank 0 prints the result
    assert double.stdout.count('"test"') == 1
    assert two["best_epoch"] == one["best_epoch"]
    for split in ("valid", "test"):
        assert set(two[split]) == set(one[split])
        for key, value in one[split].items():
            assert two[split][key] == pytest.approx(value, abs=5e-4), (split, key)
    # the log is written once (rank 0), with the global batches' mean loss per epoch
    rec1, rec2 = _records(tmp_path / "single"), _records(tmp_path / "ddp")
    assert [(r["epoch"], r["split"]) for r in rec2] == [(r["epoch"], r["split"]) for r in rec1]
    for a, b in zip(rec1, rec2):
        if a["split"] == "train":
            assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        else:  # all users evaluated, split over the ranks and summed
            assert b["recall@20"] == pytest.approx(a["recall@20"], abs=5e-4)
    config = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert config["world_size"] == 2
    assert (tmp_path / "ddp" / "best.pt").is_file() and (tmp_path / "ddp" / "last.pt").is_file()


def test_a_model_with_its_own_optimizer_steps_is_refused_under_ddp(tmp_path):
    out = _train(tmp_path, "mclrec", 2, method="mclrec", extra=("--set", "epochs=1"))
    assert out.returncode != 0
    assert "cannot train under torch.distributed" in out.stderr


def test_grace_minibatches_are_sharded_over_two_gloo_processes(tmp_path, shared_data):
    """GRACE with neighbour-sampled mini-batches under 2 processes: each rank samples the
    subgraph of its half of every step's seeds; the run trains and rank 0 writes it."""
    out = _train(tmp_path, "grace", 2, method="grace",
                 extra=("--dataset", "cora", "--data-root", str(shared_data), "--set", "epochs=8",
                        "--set", "minibatch_size=512", "--set", "lr=0.005"))
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["test"]["acc"] > 0.6           # chance is 1/7; one process reaches ~0.75
    losses = [r["loss"] for r in _records(tmp_path / "grace") if r["split"] == "train"]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert json.loads((tmp_path / "grace" / "config.json").read_text())["world_size"] == 2


def test_init_distributed_names_what_the_environment_lacks(monkeypatch):
    from graphcl.train.distributed import init_distributed
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx, device = init_distributed("cpu")                 # no torchrun: a no-op
    assert not ctx.active and device == "cpu"
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer"):
        init_distributed("cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="RANK is not set: launch with torchrun"):
        init_distributed("cpu")
