"""``loss_patience_keep``: which parameters a ``loss_patience`` stop evaluates.

``last`` (the default, the behaviour before the key): the parameters the run stopped with.
``lowest`` (DGI's code, execute.py:87-103 at PetarV-/DGI@61baf67: it saves the state BEFORE the
epoch's optimizer step whenever the loss is a new minimum and reloads it at the stop): the state
the epoch of lowest training loss started from, i.e. the parameters that computed that loss.
"""
from __future__ import annotations

import json

import pytest
import torch
from _rec_helpers import clustered_dataset

from graphcl.config import ConfigError
from graphcl.train import build_trainer
from graphcl.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = {"batch_size": 256, "embedding_dim": 16, "num_layers": 2, "epochs": 60, "lr": 0.05, "patience": 100,
       "eval_every": 0, "loss_patience": 2}


@pytest.fixture(scope="module")
def toy():
    return clustered_dataset(120, 150, 5000)


def _recording(trainer) -> dict[int, dict[str, torch.Tensor]]:
    """Record the model's state at the start of every epoch (before its first step)."""
    starts: dict[int, dict[str, torch.Tensor]] = {}
    train_epoch = trainer._train_epoch

    def recorded(epoch: int):
        starts[epoch] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        return train_epoch(epoch)

    trainer._train_epoch = recorded
    return starts


def _losses(run_dir) -> list[float]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x["loss"] for x in lines if x["split"] == "train"]


def _same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _fit(toy, tmp_path, name, **config):
    trainer = build_trainer("lightgcn", toy, config={**CFG, **config}, run_dir=tmp_path / name, verbose=False)
    starts = _recording(trainer)
    return trainer, starts, trainer.fit()


def test_lowest_evaluates_the_state_that_produced_the_lowest_loss(toy, tmp_path):
    trainer, starts, result = _fit(toy, tmp_path, "lowest", loss_patience_keep="lowest")
    losses = _losses(tmp_path / "lowest")
    assert result.epochs_run == len(losses) < CFG["epochs"]          # stopped by the loss rule
    lowest = min(range(len(losses)), key=lambda e: (losses[e], e))
    assert lowest < result.epochs_run - 1                            # not the stopping epoch's own state
    best = load_checkpoint(tmp_path / "lowest" / "best.pt")          # eval_every 0: the stop's evaluation
    assert best["epoch"] == result.epochs_run - 1
    assert _same_state(best["model"], starts[lowest])
    assert not _same_state(best["model"], starts[result.epochs_run - 1])
    saved = json.loads((tmp_path / "lowest" / "result.json").read_text())
    assert saved["kept_parameters_epoch"] == lowest
    assert f"kept the parameters of epoch {lowest}" in load_checkpoint(tmp_path / "lowest" / "last.pt")["stopped"]


def test_the_default_keeps_the_last_parameters_and_trains_the_same_run(toy, tmp_path):
    _, starts_d, default = _fit(toy, tmp_path, "default")
    _, _, last = _fit(toy, tmp_path, "last", loss_patience_keep="last")
    _, _, lowest = _fit(toy, tmp_path, "lowest", loss_patience_keep="lowest")
    # the rule does not change training: the same losses, the same stopping epoch
    assert _losses(tmp_path / "default") == _losses(tmp_path / "last") == _losses(tmp_path / "lowest")
    assert default.epochs_run == last.epochs_run == lowest.epochs_run
    assert default.test == last.test and default.test != lowest.test
    best = load_checkpoint(tmp_path / "default" / "best.pt")["model"]
    assert _same_state(best, load_checkpoint(tmp_path / "default" / "last.pt")["model"])   # after the last step
    assert "kept_parameters_epoch" not in json.loads((tmp_path / "default" / "result.json").read_text())
    assert "loss_lowest" not in load_checkpoint(tmp_path / "default" / "last.pt")


def test_without_loss_patience_the_key_changes_nothing(toy, tmp_path):
    _, _, a = _fit(toy, tmp_path, "a", epochs=3, loss_patience=0)
    _, _, b = _fit(toy, tmp_path, "b", epochs=3, loss_patience=0, loss_patience_keep="lowest")
    assert a.test == b.test and a.epochs_run == b.epochs_run == 3
    assert "loss_lowest" not in load_checkpoint(tmp_path / "b" / "last.pt")


class Killed(Exception):
    """The simulated kill."""


def test_resume_before_the_stop_keeps_the_same_lowest_state(toy, tmp_path):
    """Killed in the stopping epoch (after its train line, before its last.pt), then resumed: the
    lowest-loss state travels in last.pt and the resumed run evaluates the same parameters."""
    cfg = {**CFG, "loss_patience_keep": "lowest"}
    full = build_trainer("lightgcn", toy, config=cfg, run_dir=tmp_path / "full", verbose=False).fit()
    stop = full.epochs_run - 1
    victim = build_trainer("lightgcn", toy, config=cfg, run_dir=tmp_path / "part", verbose=False)
    log = victim.logger.log

    def dying(record):
        log(record)
        if record.get("split") == "train" and record.get("epoch") == stop:
            raise Killed

    victim.logger.log = dying
    with pytest.raises(Killed):
        victim.fit()
    ckpt = load_checkpoint(tmp_path / "part" / "last.pt")
    assert ckpt["epoch"] == stop - 1 and not ckpt["stopped"] and ckpt["loss_lowest"]["epoch"] >= 0
    resumed = build_trainer("lightgcn", toy, config=cfg, resume=tmp_path / "part", verbose=False)
    assert resumed.lowest_epoch == ckpt["loss_lowest"]["epoch"]
    assert _same_state(resumed.lowest_state, ckpt["loss_lowest"]["model"])
    result = resumed.fit()
    assert result.epochs_run == full.epochs_run and result.test == full.test
    assert _same_state(load_checkpoint(tmp_path / "part" / "best.pt")["model"],
                       load_checkpoint(tmp_path / "full" / "best.pt")["model"])
    again = build_trainer("lightgcn", toy, config=cfg, resume=tmp_path / "full", verbose=False).fit()
    assert again.epochs_run == full.epochs_run and again.test == full.test   # after the stop: nothing trains


def test_a_checkpoint_from_before_the_key_resumes_at_its_default_only(toy, tmp_path):
    from graphcl.train.checkpoint import save_checkpoint
    build_trainer("lightgcn", toy, config={**CFG, "epochs": 2}, run_dir=tmp_path / "old", verbose=False).fit()
    ckpt = load_checkpoint(tmp_path / "old" / "last.pt")
    del ckpt["config"]["loss_patience_keep"]
    save_checkpoint(ckpt, tmp_path / "old" / "last.pt")
    assert build_trainer("lightgcn", toy, config=CFG, resume=tmp_path / "old", verbose=False).start_epoch == 2
    with pytest.raises(ValueError, match="different config: loss_patience_keep"):
        build_trainer("lightgcn", toy, config={**CFG, "loss_patience_keep": "lowest"}, resume=tmp_path / "old",
                      verbose=False)


def test_an_unknown_choice_is_refused_before_training(toy, tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'loss_patience_keep' must be one of last, lowest, "
                                          r"got 'best'"):
        build_trainer("lightgcn", toy, config={**CFG, "loss_patience_keep": "best"}, run_dir=tmp_path / "x",
                      verbose=False)
    # a Trainer built without the config merge (its own config dict) refuses it when fit starts
    from graphcl.registry import get_method
    from graphcl.train import Trainer
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "y", verbose=False)
    bad = Trainer("lightgcn", get_method("lightgcn").build, toy, {**trainer.config, "loss_patience_keep": "best"},
                  run_dir=tmp_path / "z", verbose=False)
    with pytest.raises(ValueError, match=r"^loss_patience_keep must be one of last, lowest, got 'best'$"):
        bad.fit()
    assert not (tmp_path / "z").exists()                             # nothing written


def test_a_finished_study_seed_from_before_the_key_is_the_same_run_at_the_default(tmp_path):
    """reproduce's check_finished: a run whose config.json lacks the key matches ``last`` (the
    default) and refuses ``lowest``."""
    from graphcl.config import merge_config
    from graphcl.registry import get_method
    from graphcl.reproduce import check_finished
    cfg, _ = merge_config(get_method("lightgcn").defaults, {"loss_patience": 2}, method="lightgcn")
    del cfg["loss_patience_keep"]
    (tmp_path / "config.json").write_text(json.dumps({"method": "lightgcn", "dataset": "toy", "config": cfg}))
    assert check_finished(tmp_path, "lightgcn", "toy", {"loss_patience": 2, "loss_patience_keep": "last"})
    with pytest.raises(ValueError, match=r"loss_patience_keep=None \(asked 'lowest'\)"):
        check_finished(tmp_path, "lightgcn", "toy", {"loss_patience": 2, "loss_patience_keep": "lowest"})


def test_a_finished_seed_trained_before_its_dataset_preset_changed_is_refused(tmp_path):
    """check_finished compares the preset's keys too: training applies the preset under the
    user's keys, so a run saved without the preset's values is another run (here SASRec on
    Beauty, trained before the 2026-12-08 preset, with the defaults' cross-entropy)."""
    from graphcl.config import merge_config
    from graphcl.registry import get_method
    from graphcl.reproduce import check_finished
    spec = get_method("sasrec")
    before, _ = merge_config(spec.defaults, {}, method="sasrec")
    (tmp_path / "config.json").write_text(json.dumps({"method": "sasrec", "dataset": "beauty", "config": before}))
    with pytest.raises(ValueError, match=r"loss_type='ce' \(asked 'bce'\).*train_examples='prefixes'"):
        check_finished(tmp_path, "sasrec", "beauty", {})
    # asking the old settings by name (as the pinned studies do) matches the saved run
    old = {"loss_type": "ce", "train_examples": "prefixes", "exclude_history": False, "patience": 10,
           "eval_every": 1, "epochs": 100}
    assert check_finished(tmp_path, "sasrec", "beauty", old)
    # the preset's own run matches with nothing asked
    after, _ = merge_config(spec.defaults, spec.presets["beauty"], method="sasrec")
    (tmp_path / "config.json").write_text(json.dumps({"method": "sasrec", "dataset": "beauty", "config": after}))
    assert check_finished(tmp_path, "sasrec", "beauty", {})
