"""Resume across an early stop: a run killed just before it would stop early, then resumed,
stops at the same epoch with the same best epoch, validation history and test metrics as the
run that was never interrupted (the early-stopping counters ``bad_evals`` and
``loss_bad_epochs`` travel in ``last.pt``), and a resume after the stop trains no further epoch.

The kill is real: the run's metric log raises right after the train line of the stopping
epoch, before that epoch's ``last.pt`` is written, exactly where a SIGKILL could land."""
from __future__ import annotations

import json

import pytest
from _rec_helpers import clustered_dataset

from graphcl.data.interactions import InteractionDataset
from graphcl.train import build_trainer
from graphcl.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = {"batch_size": 256, "embedding_dim": 16, "num_layers": 2, "epochs": 40}


@pytest.fixture(scope="module")
def toy() -> InteractionDataset:
    """Two taste clusters (even users like the first half of the items), 80/10/10 split."""
    return clustered_dataset(120, 150, 5000)


class Killed(Exception):
    """The simulated kill."""


def _kill_at(trainer, epoch: int) -> None:
    """Make ``trainer`` die after logging the train line of ``epoch`` (its ``last.pt`` then
    holds epoch ``epoch - 1``)."""
    log = trainer.logger.log

    def dying(record):
        log(record)
        if record.get("split") == "train" and record.get("epoch") == epoch:
            raise Killed(f"killed in epoch {epoch}")

    trainer.logger.log = dying


def _train_epochs(run_dir) -> list[int]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x["epoch"] for x in lines if x["split"] == "train"]


def _interrupted_and_resumed(toy, cfg, tmp_path):
    """The uninterrupted run, and the same run killed in its stopping epoch then resumed."""
    full = build_trainer("lightgcn", toy, config=cfg, run_dir=tmp_path / "full", verbose=False).fit()
    assert full.epochs_run < cfg["epochs"], "the uninterrupted run must stop early for this test"
    stop_epoch = full.epochs_run - 1
    victim = build_trainer("lightgcn", toy, config=cfg, run_dir=tmp_path / "part", verbose=False)
    _kill_at(victim, stop_epoch)
    with pytest.raises(Killed):
        victim.fit()
    ckpt = load_checkpoint(tmp_path / "part" / "last.pt")
    assert ckpt["epoch"] == stop_epoch - 1 and not ckpt["stopped"]
    resumed = build_trainer("lightgcn", toy, config=cfg, resume=tmp_path / "part", verbose=False)
    assert resumed.start_epoch == stop_epoch
    return full, ckpt, resumed.fit()


def _assert_same_run(full, resumed, tmp_path):
    assert resumed.epochs_run == full.epochs_run          # the same stopping epoch
    assert resumed.best_epoch == full.best_epoch
    assert resumed.history == full.history                # every validation score, epoch by epoch
    assert resumed.best_valid == full.best_valid
    assert resumed.test == full.test
    assert _train_epochs(tmp_path / "part") == _train_epochs(tmp_path / "full") == list(range(full.epochs_run))


def test_resume_before_a_patience_stop_stops_at_the_same_epoch(toy, tmp_path):
    """patience 2 on valid ndcg@20: the checkpoint before the stopping epoch holds one evaluation
    without gain; a resume that forgot it would evaluate twice more and stop an epoch later."""
    cfg = {**CFG, "lr": 0.05, "patience": 2, "eval_every": 1}
    full, ckpt, resumed = _interrupted_and_resumed(toy, cfg, tmp_path)
    assert ckpt["bad_evals"] == 1                         # the counter the resume must restore
    assert full.epochs_run - 1 - full.best_epoch == 2     # stopped by patience, not by epochs
    _assert_same_run(full, resumed, tmp_path)
    assert load_checkpoint(tmp_path / "part" / "last.pt")["stopped"].startswith("no ndcg@20 gain")


def test_resume_before_a_loss_patience_stop_stops_at_the_same_epoch(toy, tmp_path):
    """loss_patience 2 (HeCo's/MEOW's rule), validation only at the stop (eval_every 0): the
    checkpoint before the stopping epoch holds one epoch without a new loss minimum."""
    cfg = {**CFG, "lr": 0.05, "patience": 100, "eval_every": 0, "loss_patience": 2}
    full, ckpt, resumed = _interrupted_and_resumed(toy, cfg, tmp_path)
    assert ckpt["loss_bad_epochs"] == 1
    assert ckpt["best_loss"] < float("inf")
    _assert_same_run(full, resumed, tmp_path)
    assert [h["epoch"] for h in resumed.history] == [full.epochs_run - 1]   # evaluated at the stop only


def test_resume_after_an_early_stop_trains_no_further_epoch(toy, tmp_path):
    """An early stop is recorded in ``last.pt``: resuming the stopped run tests its best model again
    and trains nothing (a resume that did not know would train one more epoch per resume)."""
    cfg = {**CFG, "lr": 0.05, "patience": 2, "eval_every": 1}
    full = build_trainer("lightgcn", toy, config=cfg, run_dir=tmp_path / "full", verbose=False).fit()
    assert full.epochs_run < cfg["epochs"]
    again = build_trainer("lightgcn", toy, config=cfg, resume=tmp_path / "full", verbose=False).fit()
    assert again.epochs_run == full.epochs_run
    assert again.best_epoch == full.best_epoch and again.test == full.test
    assert _train_epochs(tmp_path / "full") == list(range(full.epochs_run))   # no extra train line
