"""The trainer's data-parallel paths, checked in one process (issue 23: the DDP branches of the
trainer had no in-process test; the torchrun tests in test_distributed.py run them in child
processes, which coverage-driven tools such as mutmut cannot see).

A fake two-rank process group (torch's ``fake`` backend) stands in for torchrun: every
collective returns its input unchanged, so rank r trains on its shard as if the other rank had
drawn the same shard. DDP's gradient hook is replaced by the identity for the same reason (the
fake group returns no result future), so the gradient is rank r's ``w_r ∇L_r`` with no averaging.
Each test compares the DDP run with a single-process run that does by hand what the
distributed trainer must do (module docstring of :mod:`graphcl.train.distributed`)."""
from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist
from _rec_helpers import clustered_dataset
from torch.testing._internal.distributed.fake_pg import FakeStore

from graphcl.data.interactions import InteractionDataset
from graphcl.parallel import DistributedContext, shard_batch
from graphcl.registry import get_method
from graphcl.train import Trainer, TrainingDivergedError, build_trainer
from graphcl.train import distributed as train_distributed

# 901 training pairs in batches of 225: rank 0 gets 113 of each full batch (weight 226/225) and
# the single row of the last one (weight 2: the other rank has none)
CFG = {"epochs": 2, "batch_size": 225, "embedding_dim": 8, "num_layers": 1, "eval_every": 1}


@pytest.fixture(scope="module")
def toy():
    return clustered_dataset(60, 80, 1500)


@pytest.fixture
def fake_group():
    """``start(rank)`` joins a fake 2-rank group; it is left after the test."""
    def start(rank: int) -> None:
        dist.init_process_group("fake", rank=rank, world_size=2, store=FakeStore())
    yield start
    if dist.is_initialized():
        dist.destroy_process_group()


def _identity_gradient_hook(trainer: Trainer) -> None:
    def hook(state, bucket):
        done = torch.futures.Future()
        done.set_result(bucket.buffer())
        return done
    trainer.ddp.register_comm_hook(None, hook)


def _log(run_dir, split: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def _shard_of_rank_0(model: torch.nn.Module) -> None:
    """Make ``model.loss`` what rank 0 of 2 computes: its shard's loss parts times its weight."""
    full_loss = model.loss

    def loss(batch):
        shard, weight = shard_batch(batch, DistributedContext(0, 2))
        return {k: v * weight for k, v in full_loss(shard).items()}
    model.loss = loss


def test_rank_0_steps_on_its_weighted_shard_and_logs_the_mean_over_ranks(toy, tmp_path, fake_group):
    fake_group(0)
    ddp = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "ddp", verbose=False)
    assert ddp.dist == DistributedContext(0, 2) and ddp.ddp is not None
    assert ddp.task.evaluator.shard == (0, 2)             # rank 0 ranks every 2nd user
    _identity_gradient_hook(ddp)
    got = ddp.fit()
    dist.destroy_process_group()

    ref = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "ref", verbose=False)
    assert ref.ddp is None
    _shard_of_rank_0(ref.model)
    ref.task.evaluator.shard = (0, 2)
    want = ref.fit()

    for (name, p), q in zip(ddp.model.named_parameters(), ref.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    # the logged loss is (1/W) Σ_r w_r L_r: with the fake all-reduce (Σ_r = rank 0's own), half
    # of the single-process run's weighted loss
    for a, b in zip(_log(tmp_path / "ddp", "train"), _log(tmp_path / "ref", "train"), strict=True):
        for part in ("loss", "bpr", "reg"):
            assert a[part] == pytest.approx(b[part] / 2, rel=1e-5), part
    assert got.test == pytest.approx(want.test, rel=1e-6)
    assert [h["ndcg@20"] for h in got.history] == pytest.approx([h["ndcg@20"] for h in want.history])
    assert got.best_epoch == want.best_epoch and got.epochs_run == want.epochs_run == 2


def test_a_parameter_unused_by_the_loss_does_not_stop_ddp(toy, tmp_path, fake_group):
    """DDP must be told that some parameters may get no gradient (a model's unused tower):
    without ``find_unused_parameters`` its second step fails."""
    plain = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "p", verbose=False)
    build = get_method("lightgcn").build

    def with_unused(dataset, config, device):
        model = build(dataset, config, device)
        model.register_parameter("unused", torch.nn.Parameter(torch.ones(3)))
        return model
    fake_group(0)
    trainer = Trainer("lightgcn", with_unused, toy, plain.config, run_dir=tmp_path / "ddp", verbose=False)
    _identity_gradient_hook(trainer)
    result = trainer.fit()
    assert result.epochs_run == 2
    assert torch.equal(trainer.model.unused, torch.ones(3))


def test_a_non_finite_loss_stops_every_rank_with_a_clear_error(toy, tmp_path, fake_group):
    fake_group(0)
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "ddp", verbose=False)
    _identity_gradient_hook(trainer)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDivergedError, match="lightgcn: non-finite loss at epoch 0, batch 0 "
                                                    r"\(loss=nan, bpr=nan, reg=nan\)"):
        trainer.fit()


def test_a_model_that_steps_its_own_optimizers_is_refused_before_training(toy, tmp_path, fake_group):
    plain = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "p", verbose=False)
    build = get_method("lightgcn").build

    def owning(dataset, config, device):
        model = build(dataset, config, device)
        model.configure_optimizers = lambda lr, wd: {"main": torch.optim.SGD(model.parameters(), lr=lr)}
        model.train_step = lambda batch, optimizers: {"loss": torch.tensor(0.0)}
        return model
    fake_group(0)
    with pytest.raises(ValueError, match=r"^lightgcn runs its own optimizer steps \(train_step\) and cannot "
                                         r"train under torch.distributed; run it in one process$"):
        Trainer("lightgcn", owning, toy, plain.config, run_dir=tmp_path / "ddp", verbose=False)


def test_rank_1_writes_nothing_and_is_quiet(toy, tmp_path, fake_group, monkeypatch, capsys):
    """Rank 0 owns the run folder; rank 1 trains and evaluates the same way but writes no file
    (here without a validation split, so rank 1 never reads rank 0's ``best.pt``)."""
    no_valid = InteractionDataset("toy", toy.num_users, toy.num_items, toy.train,
                                  torch.zeros(2, 0, dtype=torch.long), toy.test)
    monkeypatch.setattr(train_distributed, "broadcast_object", lambda obj: obj)  # the fake group cannot
    fake_group(1)
    trainer = build_trainer("lightgcn", no_valid, config=CFG, run_dir=tmp_path / "ddp", verbose=True,
                            progress=True)
    assert trainer.dist == DistributedContext(1, 2) and trainer.task.evaluator.shard == (1, 2)
    assert trainer.verbose is False and trainer.progress is False
    _identity_gradient_hook(trainer)
    result = trainer.fit()
    assert result.epochs_run == 2 and "ndcg@20" in result.test
    assert not (tmp_path / "ddp").exists()
    assert capsys.readouterr().err == ""


def test_a_non_finite_loss_on_another_rank_stops_this_rank_too(toy, tmp_path, fake_group, monkeypatch):
    """The finiteness vote is all-reduced: a rank whose own loss is finite stops with the others
    (else it would wait forever in the next gradient all-reduce)."""
    fake_group(0)
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "ddp", verbose=False)
    _identity_gradient_hook(trainer)
    reduce = train_distributed.all_reduce_sums

    def other_rank_saw_nan(values):       # rank 1 votes "non-finite" (1.0) in the one-value vote
        return reduce(values) + 1.0 if values.numel() == 1 else reduce(values)
    monkeypatch.setattr(train_distributed, "all_reduce_sums", other_rank_saw_nan)
    with pytest.raises(TrainingDivergedError, match=r"non-finite loss at epoch 0, batch 0 \(loss=0.69"):
        trainer.fit()


class _TaskWithEvaluator:
    """The ranking task with another evaluator (``None``, or one that cannot be sharded)."""

    def __init__(self, task, evaluator):
        self.inner, self.evaluator = task, evaluator
        self.name, self.has_valid, self.has_test = task.name, task.has_valid, task.has_test
        self.model_protocol = task.model_protocol

    def evaluate(self, model, split):
        return self.inner.evaluate(model, split)

    def stats(self):
        return self.inner.stats()


@pytest.mark.parametrize("evaluator", [None, "no-shard", "absent"])
def test_only_a_shardable_evaluator_is_sharded(toy, tmp_path, fake_group, evaluator):
    import types
    plain = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "p", verbose=False)
    task = _TaskWithEvaluator(plain.task, types.SimpleNamespace() if evaluator == "no-shard" else None)
    if evaluator == "absent":
        del task.evaluator
    fake_group(0)
    trainer = Trainer("lightgcn", get_method("lightgcn").build, toy, plain.config, run_dir=tmp_path / "d",
                      verbose=False, task=task)
    assert trainer.ddp is not None
    if evaluator == "no-shard":
        assert not hasattr(task.evaluator, "shard")
