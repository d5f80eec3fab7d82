"""The trainer's guards, at their boundaries (issue 23: mutants of these survived the
end-to-end tests): the divergence bound of an exploding finite loss, the comparison of
data options on resume, and the trimming of the metric log after a kill."""
from __future__ import annotations

import json

import pytest
import torch
from _rec_helpers import clustered_dataset

from graphcl.train import ResumeError, TrainingDivergedError, build_trainer

CFG = {"epochs": 1, "batch_size": 256, "embedding_dim": 8, "num_layers": 1}


@pytest.fixture(scope="module")
def toy():
    return clustered_dataset(60, 80, 1500)


@pytest.fixture
def trainer(toy, tmp_path):
    return build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "run", verbose=False)


def _parts(loss: float) -> dict[str, torch.Tensor]:
    return {"loss": torch.tensor(loss), "reg": torch.tensor(0.25)}


# ------------------------------------------------------------ divergence bound
def test_the_first_batch_sets_the_reference_and_is_never_itself_divergence(trainer):
    trainer.config["divergence_factor"] = 10.0
    trainer._check_explosion(1e30, 0, 0, _parts(1e30))
    assert trainer.first_loss == 1e30


@pytest.mark.parametrize("first, factor, ok, exploded", [
    (0.5, 10.0, 10.0, 10.001),      # |first| < 1: bound = factor x 1 (not x 2, not factor / first)
    (4.0, 10.0, 40.0, 40.01),       # bound = 10 x 4 = 40; the bound itself is allowed
    (-4.0, 10.0, -40.0, -40.01),    # magnitudes: a loss can be negative (InfoNCE with a bias)
    (1.0, 0.5, 0.5, 0.51),          # a factor below 1 is a real (strict) bound, not "off"
])
def test_a_loss_explodes_exactly_past_factor_times_the_first(trainer, first, factor, ok, exploded):
    trainer.config["divergence_factor"] = factor
    trainer.first_loss = first
    trainer._check_explosion(ok, 3, 7, _parts(ok))
    with pytest.raises(TrainingDivergedError) as info:
        trainer._check_explosion(exploded, 3, 7, _parts(exploded))
    bound = factor * max(abs(first), 1.0)
    assert (f"lightgcn: the loss exploded at epoch 3, batch 7 (loss={exploded:.4g}, reg=0.25; first batch "
            f"{first:.4g}, limit {bound:.4g} = divergence_factor {factor:g} x max(|first|, 1))") \
        in str(info.value)


def test_factor_zero_or_absent_turns_the_check_off(trainer):
    trainer.first_loss = 1.0
    trainer.config["divergence_factor"] = 0
    trainer._check_explosion(1e30, 1, 0, _parts(1e30))
    del trainer.config["divergence_factor"]          # a config from before the key existed
    trainer._check_explosion(1e30, 1, 0, _parts(1e30))


# ------------------------------------------------------------ resume: data options
@pytest.mark.parametrize("saved, now, differs", [
    ({}, {"min_user_inter": None}, True),       # set to None now, unset then: a difference
    ({"min_user_inter": None}, {}, True),
    ({"min_user_inter": 5}, {"min_user_inter": 5}, False),
    ({"min_user_inter": 5}, {"min_user_inter": 6}, True),
    ({"seed": 1, "min_user_inter": 5}, {"seed": 1}, True),
])
def test_resume_compares_every_data_option_set_on_either_side(trainer, saved, now, differs):
    trainer.data_options = dict(now)
    if not differs:
        trainer._check_same_run("last.pt", dict(trainer.config), dict(saved), None)
        return
    with pytest.raises(ResumeError, match=r"last.pt was trained with a different config: data.min_user_inter"):
        trainer._check_same_run("last.pt", dict(trainer.config), dict(saved), None)


# ------------------------------------------------------------ metric log after a kill
def test_trimming_keeps_earlier_epochs_skips_torn_lines_and_survives_bad_bytes(trainer):
    trainer.run_dir.mkdir(parents=True, exist_ok=True)
    path = trainer.run_dir / "metrics.jsonl"
    lines = [json.dumps({"epoch": 0, "split": "train", "loss": 1.0}),
             '{"epoch": 0, "split": "val',                                   # torn by the kill
             json.dumps({"epoch": 1, "split": "train", "loss": 0.5}),
             json.dumps({"epoch": 1, "split": "valid", "note": "caf\u00e9"}, ensure_ascii=False),
             json.dumps({"epoch": 2, "split": "train", "loss": 0.4}),       # the epoch to redo
             json.dumps({"epoch": 0, "split": "test", "recall@20": 0.1})]
    raw = "\n".join(lines).encode() + b"\n"
    raw = raw.replace("caf\u00e9".encode(), b"caf\xff")                     # a byte that is not UTF-8
    path.write_bytes(raw)
    trainer._trim_metric_log(keep_before=2)
    kept = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["epoch"], r["split"]) for r in kept] == [(0, "train"), (1, "train"), (1, "valid")]
    assert kept[2]["note"] == "caf\ufffd"


def test_trimming_without_a_log_does_nothing(trainer):
    trainer._trim_metric_log(keep_before=3)
    assert not (trainer.run_dir / "metrics.jsonl").exists()
