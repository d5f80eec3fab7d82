"""Issue 18's training-side defects: resume refuses other data, divergence is caught for every
recommender, every numeric config key is range-checked, mismatched method/data and devices are
clear errors, and the metric log and checkpoint agree after a kill."""
from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.data import Data

from _rec_helpers import clustered_dataset
from graphcl.cli import main
from graphcl.config import ConfigError, merge_config
from graphcl.config_ranges import RANGES, Range, is_numeric_default
from graphcl.registry import get_method, list_methods
from graphcl.train import ResumeError, TrainingDivergedError, build_trainer, train
from graphcl.train import trainer as trainer_module

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = {"epochs": 3, "batch_size": 256, "embedding_dim": 16, "num_layers": 2, "lr": 0.01}


@pytest.fixture(scope="module")
def toy():
    return clustered_dataset(120, 150, 5000)


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _without_times(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# ------------------------------------------------------------- 3: resume and data
def test_resume_refuses_another_data_seed_and_keeps_config_json(tmp_path):
    run = tmp_path / "r"
    cfg = {**CFG, "epochs": 1}
    build_trainer("lightgcn", "ml-100k", config=cfg, run_dir=run, verbose=False).fit()
    saved = (run / "config.json").read_text()
    with pytest.raises(ResumeError, match=r"different config: data\.seed \(data\.seed: '<unset>' in the "
                                          r"checkpoint, 7 now\)"):
        build_trainer("lightgcn", "ml-100k", config={**cfg, "epochs": 2, "data.seed": 7},
                      resume=run, verbose=False)
    assert (run / "config.json").read_text() == saved
    # through the CLI: exit code 2 and the key named, not a run on a leaked split
    assert main(["train", "lightgcn", "--resume", str(run), "--quiet", "--set", "data.seed=7",
                 "--set", "epochs=2"] + [x for k, v in CFG.items() if k != "epochs"
                                         for x in ("--set", f"{k}={v}")]) == 2


def test_resume_refuses_a_different_split_of_the_same_name(toy, tmp_path):
    run = tmp_path / "r"
    build_trainer("lightgcn", toy, config={**CFG, "epochs": 1}, run_dir=run, verbose=False).fit()
    other = clustered_dataset(120, 150, 5000, seed=1)          # same name "toy", other interactions
    with pytest.raises(ResumeError, match="trained on other data: the loaded dataset toy differs"):
        build_trainer("lightgcn", other, config={**CFG, "epochs": 2}, resume=run, verbose=False)
    same = clustered_dataset(120, 150, 5000)                   # the same split rebuilt: resumes
    build_trainer("lightgcn", same, config={**CFG, "epochs": 2}, resume=run, verbose=False)


def test_resume_refuses_another_method(toy, tmp_path):
    run = tmp_path / "r"
    build_trainer("lightgcn", toy, config={**CFG, "epochs": 1}, run_dir=run, verbose=False).fit()
    with pytest.raises(ResumeError, match="is for lightgcn on toy, not lightgcl on toy"):
        build_trainer("lightgcl", toy, config={"epochs": 2, "batch_size": 256}, resume=run, verbose=False)


# ----------------------------------------------------------------- 4: divergence
@pytest.mark.parametrize("method, cfg", [
    ("lightgcn", CFG),
    ("lightgcl", {"epochs": 2, "batch_size": 256, "embedding_dim": 16, "num_layers": 2}),
    ("dccf", {"epochs": 2, "batch_size": 256, "embedding_dim": 16, "num_intents": 8,
              "batches_per_epoch": 4}),
])
def test_an_exploding_finite_loss_is_divergence(method, cfg, toy, tmp_path):
    with pytest.raises(TrainingDivergedError, match=rf"{method}: the loss exploded at epoch 0, batch \d+"):
        train(method, toy, config={**cfg, "lr": 1e9}, run_dir=tmp_path / "r", verbose=False)


def test_divergence_check_can_be_turned_off_and_then_non_finite_parameters_stop(toy, tmp_path):
    with pytest.raises(TrainingDivergedError, match="not finite|non-finite loss"):
        train("lightgcn", toy, config={**CFG, "lr": 1e30, "divergence_factor": 0},
              run_dir=tmp_path / "r", verbose=False)


def test_parameters_are_checked_after_every_epoch(toy, tmp_path, monkeypatch):
    """A parameter that becomes infinite after the epoch's last loss (no later loss to see it)
    stops the run before the epoch is evaluated."""
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False)
    batches = trainer.model.batches

    def then_poison(generator):
        yield from batches(generator)
        with torch.no_grad():
            trainer.model.encoder.item_embedding.weight[3, 1] = float("inf")

    monkeypatch.setattr(trainer.model, "batches", then_poison)
    with pytest.raises(TrainingDivergedError, match="parameter 'encoder.item_embedding.weight' is not "
                                                    "finite after epoch 0"):
        trainer.fit()
    assert not (tmp_path / "r" / "metrics.jsonl").exists()   # epoch 0 was never logged as trained


# ------------------------------------------------------------------ 6: ranges
def _numeric_keys():
    for name in list_methods():
        spec = get_method(name)
        for key, value in spec.defaults.items():
            if is_numeric_default(value):
                yield name, key


def test_every_numeric_key_of_every_method_has_a_range():
    missing = [(m, k) for m, k in _numeric_keys() if k not in RANGES and k not in get_method(m).ranges]
    assert missing == []


def test_every_default_and_preset_lies_in_its_range():
    for name in list_methods():
        spec = get_method(name)
        merge_config(spec.defaults, method=name, ranges=spec.ranges)
        for preset in spec.presets.values():
            merge_config(spec.defaults, preset, method=name, ranges=spec.ranges)


def _outside(rng: Range):
    if rng.low is not None:
        return rng.low if rng.low_open else rng.low - 1
    return rng.high if rng.high_open else rng.high + 1


@pytest.mark.parametrize("method, key", sorted(set(_numeric_keys())))
def test_a_value_outside_the_range_names_the_key(method, key):
    spec = get_method(method)
    rng = spec.ranges.get(key, RANGES[key])
    default = spec.defaults[key]
    bad = _outside(rng)
    value = [bad] if isinstance(default, list) else bad
    if isinstance(default, float):
        value = float(bad)
    with pytest.raises(ConfigError, match=rf"{method}: config key '{key}' must be"):
        merge_config(spec.defaults, {key: value}, method=method, ranges=spec.ranges)


@pytest.mark.parametrize("setting, message", [
    ("epochs=0", "config key 'epochs' must be an integer in [1, inf), got 0"),
    ("epochs=-5", "config key 'epochs' must be an integer in [1, inf), got -5"),
    ("embedding_dim=0", "config key 'embedding_dim' must be an integer in [1, inf), got 0"),
    ("batch_size=0", "config key 'batch_size' must be an integer in [1, inf), got 0"),
    ("num_layers=-1", "config key 'num_layers' must be an integer in [1, inf), got -1"),
    ("lr=.nan", "config key 'lr' must be [0, inf), got nan"),
    ("topk=[0, 10]", "config key 'topk' must be an integer in [1, inf), got 0"),
])
def test_cli_refuses_out_of_range_values(setting, message, tmp_path, capsys):
    assert main(["train", "lightgcn", "--set", setting, "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------- 8: mismatches, devices
def test_a_node_method_on_interactions_and_the_reverse_are_clear_errors(toy, tmp_path):
    with pytest.raises(ValueError, match="grace trains on a node-level graph .* got a user-item "
                                         r"interaction dataset \(toy\)"):
        build_trainer("grace", toy, run_dir=tmp_path / "a")
    graph = Data(x=torch.rand(4, 3), edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="lightgcn trains on a user-item interaction dataset.*got a "
                                         r"node-level graph \(PyG Data\)"):
        build_trainer("lightgcn", graph, run_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="meow trains on a heterogeneous HeCo-format graph"):
        build_trainer("meow", graph, run_dir=tmp_path / "c")


def test_cli_mismatch_is_an_error_not_a_traceback(capsys):
    assert main(["train", "grace", "--dataset", "ml-100k", "--quiet"]) == 2
    assert "grace trains on a node-level graph" in capsys.readouterr().err


@pytest.mark.parametrize("device, message", [
    ("tpu", "unknown device 'tpu'; use auto, cpu, cuda or cuda:<index>"),
    ("cuda:x", "unknown device 'cuda:x'"),
    ("meta", "device 'meta' is not supported"),
])
def test_unknown_devices_are_clear_errors(device, message, capsys):
    assert main(["train", "lightgcn", "--device", device, "--quiet"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(capsys):
    assert main(["train", "lightgcn", "--device", "cuda", "--quiet"]) == 2
    assert "device 'cuda' requested but CUDA is not available" in capsys.readouterr().err


# ------------------------------------------------------------------- 9: kills
class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not an Exception, so no handler catches it)."""


def test_a_kill_in_epoch_0_leaves_a_resumable_folder(toy, tmp_path, monkeypatch):
    ref = train("lightgcn", toy, config=CFG, run_dir=tmp_path / "ref", verbose=False)
    run = tmp_path / "r"
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=run, verbose=False)

    def killed(split):
        raise _Killed

    monkeypatch.setattr(trainer, "evaluate", killed)   # killed in epoch 0's validation
    with pytest.raises(_Killed):
        trainer.fit()
    assert not (run / "last.pt").exists() and (run / "metrics.jsonl").exists()
    with pytest.raises(FileExistsError, match="killed before its first checkpoint; --resume"):
        build_trainer("lightgcn", toy, config=CFG, run_dir=run, verbose=False).fit()
    with pytest.raises(ResumeError, match="different config: lr"):
        build_trainer("lightgcn", toy, config={**CFG, "lr": 0.5}, resume=run, verbose=False)
    result = build_trainer("lightgcn", toy, config=CFG, resume=run, verbose=False).fit()
    assert result.test == ref.test and result.epochs_run == ref.epochs_run
    assert _without_times(_records(run)) == _without_times(_records(tmp_path / "ref"))


def test_a_kill_between_log_line_and_checkpoint_leaves_no_duplicate_lines(toy, tmp_path, monkeypatch):
    ref = train("lightgcn", toy, config=CFG, run_dir=tmp_path / "ref", verbose=False)
    run = tmp_path / "r"
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=run, verbose=False)
    save = trainer_module.save_checkpoint

    def save_or_die(state, path):
        if path.name == "last.pt" and state["epoch"] == 1:
            raise _Killed
        save(state, path)

    monkeypatch.setattr(trainer_module, "save_checkpoint", save_or_die)
    with pytest.raises(_Killed):
        trainer.fit()
    monkeypatch.setattr(trainer_module, "save_checkpoint", save)
    result = build_trainer("lightgcn", toy, config=CFG, resume=run, verbose=False).fit()
    keys = [(r["epoch"], r["split"]) for r in _records(run)]
    assert len(keys) == len(set(keys))
    assert keys == [(r["epoch"], r["split"]) for r in _records(tmp_path / "ref")]
    assert result.test == ref.test


def test_an_early_stop_is_final_after_resume(toy, tmp_path):
    cfg = {**CFG, "epochs": 30, "lr": 0.0, "patience": 2}   # lr 0: epoch 0 stays best, stop at epoch 2
    run = tmp_path / "r"
    first = train("lightgcn", toy, config=cfg, run_dir=run, verbose=False)
    assert first.epochs_run == 3
    lines = _records(run)
    again = build_trainer("lightgcn", toy, config=cfg, resume=run, verbose=False).fit()
    assert again.epochs_run == 3 and again.test == first.test
    after = _records(run)
    assert [r for r in after if r["split"] != "test"] == [r for r in lines if r["split"] != "test"]
    assert [r["split"] for r in after].count("test") == 1
