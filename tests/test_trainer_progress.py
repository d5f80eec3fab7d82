"""What the trainer shows while it runs: the per-epoch progress bar (``progress``, on stderr)
and the epoch lines (``verbose``, on stdout through ``tqdm.write``), both silent when turned off (issue 23: mutants of
the bar's arguments survived every test)."""
from __future__ import annotations

import contextlib
import io
import re

import pytest
from _rec_helpers import clustered_dataset

from graphcl.train import build_trainer

# 40 interactions a batch: 23 batches (901 training pairs), so the running mean loss is shown after the 20th
CFG = {"epochs": 2, "batch_size": 40, "embedding_dim": 8, "num_layers": 1, "eval_every": 1}


@pytest.fixture(scope="module")
def toy():
    return clustered_dataset(60, 80, 1500)


def _stderr_of(call) -> tuple[object, str]:
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        out = call()
    return out, buf.getvalue()


def _stdout_of(call) -> tuple[object, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = call()
    return out, buf.getvalue()


def test_the_bar_counts_the_epochs_batches_shows_the_running_loss_and_clears_itself(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False, progress=True)
    n = trainer.model.num_batches()
    assert n == 23

    batch_losses = []
    model_loss = trainer.model.loss

    def recording_loss(batch):  # + the batch's index: a running mean over the wrong count shows
        parts = model_loss(batch)
        parts["loss"] = parts["loss"] + len(batch_losses)
        batch_losses.append(float(parts["loss"]))
        return parts
    trainer.model.loss = recording_loss
    losses, err = _stderr_of(lambda: trainer._train_epoch(3))
    assert losses["loss"] == pytest.approx(sum(batch_losses) / n)
    assert re.search(rf"\repoch 3:\s+0%\|[^|]*\| 0/{n} ", err)          # desc and total
    # the running mean of the first 20 batches, as the bar's postfix
    # (the bar may redraw its line, postfix included, when it refreshes later)
    assert set(re.findall(r"loss=(\d+\.\d+)", err)) == {f"{sum(batch_losses[:20]) / 20:.4f}"}
    assert "\n" not in err and err.endswith("\r")                     # leave=False: the line is cleared


@pytest.mark.parametrize("progress", [False, None])   # None: tqdm decides; stderr here is no terminal
def test_no_bar_when_turned_off_or_not_on_a_terminal(toy, tmp_path, progress):
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False,
                            progress=progress)
    _, err = _stderr_of(lambda: trainer._train_epoch(0))
    assert err == ""


def test_verbose_prints_one_line_per_epoch_and_the_improvements(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config={**CFG, "eval_every": 2, "epochs": 3}, run_dir=tmp_path / "r",
                            verbose=True, progress=False)
    result, err = _stdout_of(trainer.fit)
    lines = err.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"epoch    0  loss \d\.\d{4}  \d+\.\ds", lines[0])          # not due: no validation
    valid = re.fullmatch(r"epoch    1  loss \d\.\d{4}  \d+\.\ds  valid ndcg@20 (\d\.\d{4})  \*", lines[1])
    assert valid and float(valid.group(1)) == pytest.approx(result.history[0]["ndcg@20"], abs=5e-5)
    assert re.fullmatch(r"epoch    2  loss \d\.\d{4}  \d+\.\ds  valid ndcg@20 \d\.\d{4}(  \*)?", lines[2])
    quiet = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "q", verbose=False, progress=False)
    assert _stdout_of(quiet.fit)[1] == ""


def _valid_scores(trainer, scores):
    """Make the validation metric follow ``scores``, one per evaluation."""
    evaluate, it = trainer.task.evaluate, iter(scores)

    def scripted(model, split):
        out = evaluate(model, split)
        return {**out, "ndcg@20": next(it)} if split == "valid" else out
    trainer.task.evaluate = scripted


def test_verbose_says_why_the_run_stops_and_a_resume_says_what_it_tests(toy, tmp_path):
    run = tmp_path / "r"
    trainer = build_trainer("lightgcn", toy, config={**CFG, "epochs": 5, "patience": 1}, run_dir=run,
                            verbose=True, progress=False)
    _valid_scores(trainer, [0.5, 0.4])
    result, out = _stdout_of(trainer.fit)
    assert result.epochs_run == 2 and out.splitlines()[-1] == "early stop: no ndcg@20 gain in 1 evaluations"
    assert trainer.stopped == "no ndcg@20 gain in 1 evaluations, epoch 1"
    resumed, out = _stdout_of(lambda: build_trainer("lightgcn", toy, config={**CFG, "epochs": 5, "patience": 1},
                                                    resume=run, verbose=True, progress=False))
    _, out = _stdout_of(resumed.fit)
    assert out == ("the run had stopped early (no ndcg@20 gain in 1 evaluations, epoch 1); "
                   "testing its best model\n")


def test_verbose_says_when_the_training_loss_stops_improving(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config={**CFG, "epochs": 5, "loss_patience": 1}, run_dir=tmp_path / "r",
                            verbose=True, progress=False)
    calls = []
    loss_of = trainer.model.loss

    def rising_loss(batch):                  # + the batch count: the epoch's mean loss only rises
        calls.append(1)
        parts = loss_of(batch)
        return {**parts, "loss": parts["loss"] + len(calls)}
    trainer.model.loss = rising_loss
    result, out = _stdout_of(trainer.fit)
    assert result.epochs_run == 2 and out.splitlines()[-1] == "early stop: no new training-loss minimum in 1 epochs"
    assert trainer.stopped == "no new training-loss minimum in 1 epochs, epoch 1"


def test_verbose_says_when_there_is_no_validation_split(toy, tmp_path):
    import torch

    from graphcl.data.interactions import InteractionDataset
    no_valid = InteractionDataset("toy", toy.num_users, toy.num_items, toy.train,
                                  torch.zeros(2, 0, dtype=torch.long), toy.test)
    trainer = build_trainer("lightgcn", no_valid, config=CFG, run_dir=tmp_path / "r", verbose=True, progress=False)
    _, out = _stdout_of(trainer.fit)
    assert out.splitlines()[0] == "no validation split: training for all epochs and testing the last model"
    assert len(out.splitlines()) == 3                               # and one line per epoch


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_none_shows_the_bar_on_a_terminal(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False, progress=None)
    screen = _Terminal()
    with contextlib.redirect_stderr(screen):
        trainer._train_epoch(0)
    assert "\repoch 0:" in screen.getvalue()
