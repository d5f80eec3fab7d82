"""One optimization step of the trainer, on each of its paths (issue 23: mutants of these paths
survived the end-to-end tests): a model that steps its own optimizers, a loss returned as a bare
tensor, gradients of parameters a batch does not use, a task without a test split, and what the
test line of the log and the verbose epoch lines report."""
from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
import torch
from _rec_helpers import clustered_dataset

from graphcl.registry import get_method
from graphcl.train import Trainer, TrainingDivergedError, build_trainer

CFG = {"epochs": 2, "batch_size": 256, "embedding_dim": 8, "num_layers": 1, "eval_every": 1}


@pytest.fixture(scope="module")
def toy():
    return clustered_dataset(60, 80, 1500)


@pytest.fixture(scope="module")
def config(toy, tmp_path_factory):
    return build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path_factory.mktemp("c") / "r",
                         verbose=False).config


def _log(run_dir, split: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


# ------------------------------------------------------------ a model that steps its own optimizers
def _stepping_itself(calls: list, fail_at: int | None = None):
    """LightGCN with ``train_step``: one SGD step per batch, made by the model; records what it got."""
    build = get_method("lightgcn").build

    def make(dataset, config, device):
        model = build(dataset, config, device)
        model.configure_optimizers = lambda lr, wd: {"sgd": torch.optim.SGD(model.parameters(), lr=lr)}

        def train_step(batch, optimizers):
            calls.append((batch, optimizers))
            if fail_at is not None and len(calls) == fail_at:
                raise FloatingPointError("the meta loss is nan")
            parts = model.loss(batch)
            optimizers["sgd"].zero_grad()
            parts["loss"].backward()
            optimizers["sgd"].step()
            return {k: v.detach() for k, v in parts.items()}
        model.train_step = train_step
        return model
    return make


def test_a_model_that_steps_itself_gets_each_batch_and_its_optimizers_and_is_not_stepped_again(
        toy, config, tmp_path):
    calls: list = []
    trainer = Trainer("own", _stepping_itself(calls), toy, {**config, "epochs": 1}, run_dir=tmp_path / "r",
                      verbose=False)
    assert trainer.owns_optimization
    expected = list(trainer.model.batches(torch.Generator().manual_seed(config["seed"])))
    before = [p.detach().clone() for p in trainer.model.parameters()]

    # the reference: the same SGD steps made by hand on a copy of the initial model
    reference = Trainer("own", _stepping_itself([]), toy, {**config, "epochs": 1}, run_dir=tmp_path / "x",
                        verbose=False)
    sgd = reference.optimizers["sgd"]
    losses = []
    for batch in expected:
        parts = reference.model.loss(batch)
        sgd.zero_grad()
        parts["loss"].backward()
        sgd.step()
        losses.append(float(parts["loss"]))

    trainer.fit()
    assert len(calls) == len(expected)
    assert all(opts is trainer.optimizers for _, opts in calls)
    assert all(torch.equal(got[0], want[0]) for (got, _), want in zip(calls, expected))
    for p, q, p0 in zip(trainer.model.parameters(), reference.model.parameters(), before):
        torch.testing.assert_close(p, q)                   # one step per batch, not two
        assert not torch.equal(p, p0)
    assert _log(tmp_path / "r", "train")[0]["loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-6)


def test_a_non_finite_loss_inside_train_step_is_divergence_naming_epoch_and_batch(toy, config, tmp_path):
    trainer = Trainer("own", _stepping_itself([], fail_at=2), toy, config, run_dir=tmp_path / "r", verbose=False)
    with pytest.raises(TrainingDivergedError, match=r"^own: non-finite loss at epoch 0, batch 1 \(the meta loss "
                                                    r"is nan\); lower lr or check the input data$"):
        trainer.fit()


# ------------------------------------------------------------ a loss that is a bare tensor
def test_a_loss_returned_as_a_tensor_is_logged_as_loss(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False)
    parts_of = trainer.model.loss
    trainer.model.loss = lambda batch: parts_of(batch)["loss"]
    trainer.fit()
    assert [sorted(r) for r in _log(tmp_path / "r", "train")] == [["epoch", "loss", "seconds", "split"]] * 2


# ------------------------------------------------------------ gradients of parameters a batch leaves out
def test_a_parameter_left_out_of_a_batch_gets_no_adam_step(toy, tmp_path):
    """Gradients are reset to None, not zero, before each step: Adam skips a parameter with no
    gradient, but would move one with a zero gradient by its momentum."""
    trainer = build_trainer("lightgcn", toy, config={**CFG, "epochs": 1, "batch_size": 100}, run_dir=tmp_path / "r",
                            verbose=False)
    assert trainer.model.num_batches() > 2
    extra = torch.nn.Parameter(torch.ones(4))
    trainer.optimizer.add_param_group({"params": [extra]})
    seen = []
    parts_of = trainer.model.loss

    def loss(batch):                       # the extra parameter takes part in the first batch only
        seen.append(extra.detach().clone())
        parts = parts_of(batch)
        if len(seen) == 1:
            parts["loss"] = parts["loss"] + extra.sum()
        return parts
    trainer.model.loss = loss
    trainer.fit()
    after_first_step = seen[1]
    assert not torch.equal(after_first_step, torch.ones(4))
    assert torch.equal(extra.detach(), after_first_step)


# ------------------------------------------------------------ what fit reports
class _NoTestSplit:
    """The ranking task of a dataset that has no test split."""

    def __init__(self, task):
        self.inner, self.name, self.has_valid, self.has_test = task, task.name, True, False
        self.model_protocol, self.splits = task.model_protocol, []

    def evaluate(self, model, split):
        self.splits.append(split)
        return self.inner.evaluate(model, split)

    def stats(self):
        return self.inner.stats()


def test_without_a_test_split_nothing_is_tested(toy, config, tmp_path):
    build = get_method("lightgcn").build
    task = _NoTestSplit(Trainer("lightgcn", build, toy, config, run_dir=tmp_path / "a", verbose=False).task)
    result = Trainer("lightgcn", build, toy, config, run_dir=tmp_path / "r", verbose=False, task=task).fit()
    assert task.splits == ["valid", "valid"] and result.test == {}
    assert result.run_dir == tmp_path / "r"


def test_the_test_line_names_the_epoch_it_tests(toy, tmp_path):
    from graphcl.data.interactions import InteractionDataset
    no_valid = InteractionDataset("toy", toy.num_users, toy.num_items, toy.train,
                                  torch.zeros(2, 0, dtype=torch.long), toy.test)
    result = build_trainer("lightgcn", no_valid, config={**CFG, "epochs": 3}, run_dir=tmp_path / "n",
                           verbose=False).fit()
    assert result.best_epoch == 2 and _log(tmp_path / "n", "test")[0]["epoch"] == 2   # the last epoch

    trainer = build_trainer("lightgcn", toy, config={**CFG, "epochs": 3}, run_dir=tmp_path / "v", verbose=False)
    evaluate, scores = trainer.task.evaluate, iter([0.3, 0.9, 0.2])

    def valid_peaks_at_epoch_1(model, split):
        out = evaluate(model, split)
        return {**out, "ndcg@20": next(scores)} if split == "valid" else out
    trainer.task.evaluate = valid_peaks_at_epoch_1
    out = io.StringIO()
    trainer.verbose = True
    with contextlib.redirect_stdout(out):
        result = trainer.fit()
    assert result.best_epoch == 1 and _log(tmp_path / "v", "test")[0]["epoch"] == 1
    marks = [re.search(r"valid ndcg@20 (\d\.\d{4})(.*)$", line).groups() for line in out.getvalue().splitlines()]
    assert marks == [("0.3000", "  *"), ("0.9000", "  *"), ("0.2000", "")]    # "*": a new best


def test_a_valid_metric_the_task_does_not_compute_is_named_with_the_ones_it_does(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config={**CFG, "valid_metric": "ndcg@20"}, run_dir=tmp_path / "r",
                            verbose=False)
    trainer.valid_metric = "auc"
    with pytest.raises(ValueError, match=r"^valid_metric 'auc' is not computed; available: hit@10, hit@20, "
                                         r"mrr@10, mrr@20, ndcg@10, ndcg@20, precision@10, precision@20, "
                                         r"recall@10, recall@20$"):
        trainer.evaluate("valid")


def test_validation_runs_every_eval_every_epochs_and_after_the_last(toy, tmp_path):
    result = build_trainer("lightgcn", toy, config={**CFG, "epochs": 7, "eval_every": 3}, run_dir=tmp_path / "r",
                           verbose=False).fit()
    assert [h["epoch"] for h in result.history] == [2, 5, 6]
    assert [r["epoch"] for r in _log(tmp_path / "r", "valid")] == [2, 5, 6]


def test_a_validation_metric_that_is_never_a_number_tests_the_last_model(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False)
    evaluate = trainer.task.evaluate
    trainer.task.evaluate = lambda model, split: ({**evaluate(model, split), "ndcg@20": float("nan")}
                                                  if split == "valid" else evaluate(model, split))
    result = trainer.fit()
    assert result.best_epoch == -1 and result.best_valid == {} and not (tmp_path / "r" / "best.pt").exists()
    assert result.test == trainer.task.evaluate(trainer.model, "test")      # the model as training left it


@pytest.mark.parametrize("left", ["metrics.jsonl", "config.json"])
def test_a_folder_with_any_file_of_a_killed_run_is_not_reused(toy, tmp_path, left):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / left).write_text("{}\n", encoding="utf-8")
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False)
    with pytest.raises(FileExistsError, match=r"holds a run killed before its first checkpoint; --resume "):
        trainer.fit()


def test_the_run_folder_is_made_with_its_parents(toy, tmp_path):
    run = tmp_path / "a" / "b" / "run"
    build_trainer("lightgcn", toy, config=CFG, run_dir=run, verbose=False).fit()
    assert (run / "result.json").is_file()


def test_a_negative_loss_patience_is_refused_when_training_starts(toy, config, tmp_path):
    trainer = Trainer("lightgcn", get_method("lightgcn").build, toy, {**config, "loss_patience": -1},
                      run_dir=tmp_path / "r", verbose=False)
    with pytest.raises(ValueError, match=r"^loss_patience must be >= 0 \(0: off\), got -1$"):
        trainer.fit()
    assert not (tmp_path / "r").exists()                 # refused before it makes the run folder


@pytest.mark.parametrize("every, calls", [(5, 4), (0, 0), (None, 0)])
def test_freed_memory_is_handed_back_every_malloc_trim_every_batches(toy, tmp_path, monkeypatch, every, calls):
    import graphcl.train.trainer as trainer_module
    trims = []
    monkeypatch.setattr(trainer_module, "release_freed_memory", lambda: trims.append(1) or True)
    trainer = build_trainer("lightgcn", toy, config={**CFG, "batch_size": 40}, run_dir=tmp_path / "r", verbose=False)
    assert trainer.model.num_batches() == 23
    trainer.config.pop("malloc_trim_every", None)
    if every is not None:
        trainer.config["malloc_trim_every"] = every
    trainer._train_epoch(0)
    assert len(trims) == calls                 # after batches 5, 10, 15 and 20 of 23


def test_an_epoch_of_one_batch_logs_that_batchs_loss(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config={**CFG, "batch_size": 4096}, run_dir=tmp_path / "r",
                            verbose=False)
    assert trainer.model.num_batches() == 1
    seen = []
    loss_of = trainer.model.loss

    def recording(batch):
        parts = loss_of(batch)
        seen.append(float(parts["loss"]))
        return parts
    trainer.model.loss = recording
    assert trainer._train_epoch(0)["loss"] == pytest.approx(seen[0], rel=1e-7)
