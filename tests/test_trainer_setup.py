"""What a Trainer is once constructed: its defaults (device, run folder, verbosity), the task it
evaluates with, and the protocol checks that refuse a model before any training (issue 23:
mutants of the constructor survived the end-to-end tests)."""
from __future__ import annotations

import re

import pytest
import torch
from _rec_helpers import clustered_dataset

from graphcl.registry import get_method
from graphcl.train import Trainer, build_trainer

CFG = {"epochs": 1, "batch_size": 256, "embedding_dim": 8, "num_layers": 1}


@pytest.fixture(scope="module")
def toy():
    return clustered_dataset(60, 80, 1500)


@pytest.fixture(scope="module")
def config(toy, tmp_path_factory):
    """LightGCN's full merged config (defaults and CFG), as build_trainer makes it."""
    return build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path_factory.mktemp("c") / "r",
                         verbose=False).config


def test_dataset_name_names_the_task_and_the_default_run_folder(toy, config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    named = Trainer("lightgcn", get_method("lightgcn").build, toy, config, dataset_name="my-split")
    assert named.task.name == "my-split"
    assert re.fullmatch(r"runs/lightgcn-my-split-\d{8}-\d{6}-\d{6}", named.run_dir.as_posix())


def test_defaults_auto_device_verbose_own_copy_of_config(toy, config, tmp_path):
    trainer = Trainer("lightgcn", get_method("lightgcn").build, toy, config, run_dir=tmp_path / "r")
    assert trainer.device == torch.device("cpu")             # "auto" on a machine without CUDA
    assert trainer.verbose is True and trainer.progress is None
    assert trainer.dataset is toy and trainer.config == config and trainer.config is not config
    assert trainer.data_options == {} and trainer.ddp is None
    assert trainer.optimizer is trainer.optimizers["main"]
    assert trainer.generator.device == torch.device("cpu")
    assert trainer.generator.initial_seed() == config["seed"]


def test_the_task_is_the_one_named_else_the_datas_default(toy, config, tmp_path):
    build = get_method("lightgcn").build
    assert type(Trainer("lightgcn", build, toy, config, run_dir=tmp_path / "a").task).__name__ == "RankingTask"
    with pytest.raises(ValueError, match="unknown evaluation task 'no-such-task'"):
        Trainer("lightgcn", build, toy, config, run_dir=tmp_path / "b", task_name="no-such-task")


def test_a_given_task_object_is_used_as_it_is(toy, config, tmp_path):
    build = get_method("lightgcn").build
    task = Trainer("lightgcn", build, toy, config, run_dir=tmp_path / "a").task
    assert Trainer("lightgcn", build, toy, config, run_dir=tmp_path / "b", task=task).task is task


def test_a_model_without_the_tasks_protocol_is_refused_naming_method_task_and_missing_methods(toy, config,
                                                                                             tmp_path):
    build = get_method("lightgcn").build

    class NoRanking(torch.nn.Module):
        """Trainable, but it cannot rank items."""

        def __init__(self, model):
            super().__init__()
            self.inner = model

        def batches(self, generator):
            return self.inner.batches(generator)

        def num_batches(self):
            return self.inner.num_batches()

        def loss(self, batch):
            return self.inner.loss(batch)

    with pytest.raises(TypeError, match=r"^lightgcn evaluated by RankingTask: NoRanking is not Ranker: it lacks "):
        Trainer("lightgcn", lambda d, c, dev: NoRanking(build(d, c, dev)), toy, config, run_dir=tmp_path / "a")

    with pytest.raises(TypeError, match=r"^lightgcn: Linear is not Trainable: it lacks batches\(\), "):
        Trainer("lightgcn", lambda d, c, dev: torch.nn.Linear(2, 2), toy, config, run_dir=tmp_path / "b")


def test_config_json_records_what_the_run_is(toy, tmp_path):
    import json
    trainer = build_trainer("lightgcn", toy, config=CFG, run_dir=tmp_path / "r", verbose=False)
    trainer.data_options = {"seed": 5}
    trainer.fit()
    saved = json.loads((tmp_path / "r" / "config.json").read_text(encoding="utf-8"))
    assert saved == {"method": "lightgcn", "dataset": "toy", "config": trainer.config, "data_options": {"seed": 5},
                     "data_fingerprint": trainer.data_fingerprint, "dataset_stats": trainer.task.stats(),
                     "device": "cpu", "world_size": 1}


def test_a_task_without_a_model_protocol_accepts_any_trainable_model(toy, config, tmp_path):
    build = get_method("lightgcn").build
    inner = Trainer("lightgcn", build, toy, config, run_dir=tmp_path / "a").task

    class AnyModel:
        """A task that states no protocol for the models it evaluates."""
        name, has_valid, has_test = inner.name, inner.has_valid, inner.has_test

        def evaluate(self, model, split):
            return inner.evaluate(model, split)

        def stats(self):
            return inner.stats()
    trainer = Trainer("lightgcn", build, toy, config, run_dir=tmp_path / "b", task=AnyModel())
    assert trainer.task.evaluate(trainer.model, "valid")["ndcg@20"] >= 0
