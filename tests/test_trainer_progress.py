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
