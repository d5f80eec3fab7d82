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


# ------------------------------------------------------------ resume restores every piece of state
def _checkpointed_run(toy, tmp_path, **config):
    run = tmp_path / "first"
    build_trainer("lightgcn", toy, config={**CFG, "epochs": 2, **config}, run_dir=run, verbose=False).fit()
    return run


def test_resume_restores_the_divergence_reference_and_the_stop_reason(toy, tmp_path):
    from graphcl.train.checkpoint import load_checkpoint, save_checkpoint
    run = _checkpointed_run(toy, tmp_path)
    ckpt = load_checkpoint(run / "last.pt")
    assert isinstance(ckpt["first_loss"], float) and ckpt["stopped"] == ""
    resumed = build_trainer("lightgcn", toy, config={**CFG, "epochs": 3}, resume=run, verbose=False)
    assert resumed.first_loss == ckpt["first_loss"] and resumed.stopped == ""
    ckpt["stopped"] = "no recall@20 gain in 10 evaluations, epoch 1"
    ckpt["first_loss"] = None                       # a checkpoint written before its first batch
    save_checkpoint(ckpt, run / "last.pt")
    resumed = build_trainer("lightgcn", toy, config={**CFG, "epochs": 3}, resume=run, verbose=False)
    assert resumed.first_loss is None and resumed.stopped == ckpt["stopped"]


def test_an_old_checkpoint_without_data_options_is_checked_against_config_json(tmp_path):
    from graphcl.train.checkpoint import load_checkpoint, save_checkpoint
    run = tmp_path / "old"
    cfg = {**CFG, "epochs": 1}
    build_trainer("lightgcn", "ml-100k", config={**cfg, "data.seed": 7}, run_dir=run, verbose=False).fit()
    record = json.loads((run / "config.json").read_text())
    record["data_options"] = {"seed": 8}             # the checkpoint's own record wins over config.json
    (run / "config.json").write_text(json.dumps(record))
    build_trainer("lightgcn", "ml-100k", config={**cfg, "epochs": 2, "data.seed": 7}, resume=run, verbose=False)
    record["data_options"] = {"seed": 7}
    (run / "config.json").write_text(json.dumps(record))
    ckpt = load_checkpoint(run / "last.pt")
    del ckpt["data_options"]                         # as written before data options were stored
    save_checkpoint(ckpt, run / "last.pt")
    with pytest.raises(ResumeError, match=r"different config: data.seed \(data.seed: 7 in the checkpoint, "
                                          r"8 now\)"):
        build_trainer("lightgcn", "ml-100k", config={**cfg, "epochs": 2, "data.seed": 8}, resume=run,
                      verbose=False)
    (run / "config.json").unlink()                   # no record at all: compared with "no options"
    with pytest.raises(ResumeError, match=r"different config: data.seed"):
        build_trainer("lightgcn", "ml-100k", config={**cfg, "epochs": 2, "data.seed": 7}, resume=run,
                      verbose=False)


def test_resume_refuses_other_optimizers_and_reads_a_single_optimizer_checkpoint(toy, tmp_path):
    from graphcl.train.checkpoint import load_checkpoint, save_checkpoint
    run = _checkpointed_run(toy, tmp_path)
    ckpt = load_checkpoint(run / "last.pt")
    main = ckpt["optimizers"]["main"]
    ckpt["optimizers"] = {"encoder": main, "augmenter": main}
    save_checkpoint(ckpt, run / "last.pt")
    with pytest.raises(ResumeError, match=r"has optimizers \['augmenter', 'encoder'\], the model has \['main'\]"):
        build_trainer("lightgcn", toy, config={**CFG, "epochs": 3}, resume=run, verbose=False)
    del ckpt["optimizers"]
    ckpt["optimizer"] = main                         # the format before named optimizers
    save_checkpoint(ckpt, run / "last.pt")
    resumed = build_trainer("lightgcn", toy, config={**CFG, "epochs": 3}, resume=run, verbose=False)
    state = resumed.optimizer.state_dict()["state"]
    assert state and all(torch.equal(state[k]["exp_avg"], main["state"][k]["exp_avg"]) for k in main["state"])


def test_restart_names_the_run_it_refuses(toy, tmp_path):
    run = tmp_path / "killed"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": "lightgcl", "dataset": "toy", "config": {}}))
    with pytest.raises(ResumeError, match=rf"{run} is a run of lightgcl on toy, not lightgcn on toy"):
        build_trainer("lightgcn", toy, config=CFG, resume=run, verbose=False)


# ------------------------------------------------------------ what a run folder records
def test_the_checkpoint_records_data_options_and_the_divergence_reference(tmp_path):
    from graphcl.train.checkpoint import load_checkpoint
    run = tmp_path / "run"
    trainer = build_trainer("lightgcn", "ml-100k", config={**CFG, "data.seed": 7}, run_dir=run, verbose=False)
    result = trainer.fit()
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["data_options"] == {"seed": 7} and ckpt["first_loss"] == trainer.first_loss
    train_line = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert train_line["split"] == "train" and result.seconds_per_epoch == train_line["seconds"]  # 1 epoch
    assert isinstance(trainer.first_loss, float)


def test_a_key_set_on_one_side_only_is_shown_as_unset(trainer):
    trainer.config["divergence_factor"] = 5.0            # not the default: a real difference
    config = {k: v for k, v in trainer.config.items() if k != "divergence_factor"}
    with pytest.raises(ResumeError, match=r"divergence_factor \(divergence_factor: '<unset>' in the "
                                          r"checkpoint, 5.0 now\)"):
        trainer._check_same_run("last.pt", config, {}, None)


@pytest.mark.parametrize("content, message", [
    (b"{not json", r"config.json: unreadable run config \(Expecting property name"),
    (b"\xff\xfe{}", r"config.json: unreadable run config \('utf-8' codec can't decode"),
    (b"[1, 2]", r"config.json: expected a JSON object"),
])
def test_an_unreadable_config_json_is_named(trainer, tmp_path, content, message):
    folder = tmp_path / "killed"
    folder.mkdir()
    (folder / "config.json").write_bytes(content)
    with pytest.raises(ResumeError, match=message):
        trainer.restart(folder)


def test_the_default_run_folder_is_runs_method_dataset_timestamp(toy, tmp_path, monkeypatch):
    import re
    from graphcl.train.trainer import default_run_dir
    path = default_run_dir("lightgcn", "toy")
    assert path.parent == __import__("pathlib").Path("runs")
    assert re.fullmatch(r"lightgcn-toy-\d{8}-\d{6}-\d{6}", path.name), path.name
    assert default_run_dir("grace", "cora", root=tmp_path).parent == tmp_path
    monkeypatch.chdir(tmp_path)
    trainer = build_trainer("lightgcn", toy, config=CFG, verbose=False)
    assert re.fullmatch(r"runs/lightgcn-toy-\d{8}-\d{6}-\d{6}", trainer.run_dir.as_posix())


# ------------------------------------------------------------ a fresh trainer, its optimizers
def test_a_new_trainer_starts_from_nothing(trainer):
    assert (trainer.start_epoch, trainer.best_epoch, trainer.bad_evals, trainer.loss_bad_epochs) == (0, -1, 0, 0)
    assert trainer.best_score == -float("inf") and trainer.best_loss == float("inf")
    assert trainer.first_loss is None and trainer.stopped == "" and trainer.restarted is False
    assert trainer.history == [] and trainer.best_valid == {}


def test_the_default_optimizer_is_one_adam_with_the_config_lr_and_weight_decay(toy, tmp_path):
    trainer = build_trainer("lightgcn", toy, config={**CFG, "lr": 0.003, "weight_decay": 0.01},
                            run_dir=tmp_path / "r", verbose=False)
    assert list(trainer.optimizers) == ["main"] and trainer.optimizer is trainer.optimizers["main"]
    group = trainer.optimizer.param_groups[0]
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    assert (group["lr"], group["weight_decay"]) == (0.003, 0.01)
    assert sum(p.numel() for p in group["params"]) == sum(p.numel() for p in trainer.model.parameters())


class _OwnSteps(torch.nn.Module):
    """A ranker that builds its own optimizers (records the arguments it was given)."""

    def __init__(self, dataset, config, device, optimizers=None):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(dataset.num_items))
        self.asked, self.given = None, optimizers

    def batches(self, generator):
        yield 0

    def num_batches(self):
        return 1

    def loss(self, batch):
        return self.w.square().sum()

    def configure_optimizers(self, lr, weight_decay):
        self.asked = (lr, weight_decay)
        return self.given if self.given is not None else {"sgd": torch.optim.SGD(self.parameters(), lr=lr)}

    def train_step(self, batch, optimizers):
        return {"loss": self.loss(batch)}

    def prepare_scoring(self):
        pass

    def full_scores(self, users):
        return self.w.expand(users.numel(), -1)


def test_a_model_that_owns_its_optimization_gets_lr_and_weight_decay(toy, tmp_path):
    from graphcl.config import merge_config
    from graphcl.registry import get_method
    from graphcl.train import Trainer
    cfg = merge_config(get_method("lightgcn").defaults, {**CFG, "lr": 0.02, "weight_decay": 0.001},
                       method="lightgcn")[0]
    trainer = Trainer("own", _OwnSteps, toy, cfg, run_dir=tmp_path / "own", verbose=False)
    assert trainer.owns_optimization and trainer.model.asked == (0.02, 0.001)
    assert list(trainer.optimizers) == ["sgd"]
    with pytest.raises(ValueError, match="own: configure_optimizers returned no optimizer"):
        Trainer("own", lambda d, c, dev: _OwnSteps(d, c, dev, optimizers={}), toy, cfg,
                run_dir=tmp_path / "none", verbose=False)


# ------------------------------------------------------------ the training-loss plateau rule
def test_an_equal_loss_is_no_new_minimum(trainer):
    trainer.config["loss_patience"] = 2
    assert [trainer._loss_plateau(v) for v in (1.0, 1.0, 0.5, 0.5, 0.5)] == [False, False, False, False, True]
    assert trainer.best_loss == 0.5 and trainer.loss_bad_epochs == 2


def test_loss_patience_absent_or_zero_is_off(trainer):
    trainer.config["loss_patience"] = 0
    assert [trainer._loss_plateau(1.0) for _ in range(3)] == [False] * 3
    del trainer.config["loss_patience"]                 # a config from before the key existed
    assert [trainer._loss_plateau(1.0) for _ in range(3)] == [False] * 3
    assert trainer.loss_bad_epochs == 0


# ------------------------------------------------------------ what fit writes and returns
def test_result_json_best_pt_and_timings_say_what_the_run_did(toy, tmp_path):
    from graphcl.train.checkpoint import load_checkpoint
    run = tmp_path / "run"
    trainer = build_trainer("lightgcn", toy, config={**CFG, "epochs": 3, "eval_every": 1}, run_dir=run,
                            verbose=False)
    result = trainer.fit()
    saved = json.loads((run / "result.json").read_text())
    assert saved == {"method": "lightgcn", "dataset": "toy", "best_epoch": result.best_epoch,
                     "valid": result.best_valid, "test": result.test, "epochs_run": 3,
                     "seconds_per_epoch": result.seconds_per_epoch, "eval_seconds": result.eval_seconds}
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_s = [r["seconds"] for r in log if r["split"] == "train"]
    valid_s = [r["seconds"] for r in log if r["split"] == "valid"]
    test_line = [r for r in log if r["split"] == "test"]
    assert len(train_s) == 3 and len(valid_s) == 3 and len(test_line) == 1
    assert result.seconds_per_epoch == sum(train_s) / 3 and result.eval_seconds == sum(valid_s) / 3
    assert all(0 < s < 60 for s in train_s + valid_s + [test_line[0]["seconds"]])
    assert test_line[0]["epoch"] == result.best_epoch
    assert [set(h) for h in result.history] == [{"epoch", "loss", trainer.valid_metric}] * 3
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    best = load_checkpoint(run / "best.pt")
    assert best["method"] == "lightgcn" and best["epoch"] == result.best_epoch
    assert best["config"] == trainer.config


def test_the_test_metrics_are_those_of_the_best_epoch_even_when_it_is_epoch_0(toy, tmp_path, monkeypatch):
    from graphcl.train.checkpoint import load_checkpoint
    run = tmp_path / "run"
    trainer = build_trainer("lightgcn", toy, config={**CFG, "epochs": 3, "eval_every": 1, "lr": 0.05},
                            run_dir=run, verbose=False)
    scores = iter([0.9, 0.5, 0.1])                      # validation gets worse after epoch 0
    real = trainer.evaluate

    def evaluate(split):
        out = real(split)
        return {**out, trainer.valid_metric: next(scores)} if split == "valid" else out
    monkeypatch.setattr(trainer, "evaluate", evaluate)
    result = trainer.fit()
    assert result.best_epoch == 0
    best, last = load_checkpoint(run / "best.pt")["model"], load_checkpoint(run / "last.pt")["model"]
    state = trainer.model.state_dict()
    assert all(torch.equal(state[k], best[k]) for k in best)            # tested: epoch 0's model
    assert not all(torch.equal(best[k], last[k]) for k in best)          # which the last epochs changed
