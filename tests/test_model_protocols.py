"""The one model protocol (issue 19): the trainer checks, once when it is built, that a
model is Trainable and provides what its evaluation task needs, and names what is
missing; each method's spec names its evaluation task."""
from __future__ import annotations

import pytest
import torch

from graphcl.eval.tasks import TASKS, make_task, task_class
from graphcl.method_spec import DEFAULT_TASKS, MethodSpec
from graphcl.model_protocols import Embedder, OwnsOptimization, Ranker, SequenceScorer, Trainable
from graphcl.registry import get_method, list_methods
from graphcl.train import Trainer

CFG = {"epochs": 1, "batch_size": 256, "embedding_dim": 8, "num_layers": 1}


@pytest.fixture(scope="module")
def ml100k():
    from graphcl.data import load
    return load("ml-100k")


def _lightgcn_config():
    from graphcl.config import merge_config
    spec = get_method("lightgcn")
    return merge_config(spec.defaults, CFG, method="lightgcn")[0]


class OnlyBatches(torch.nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def batches(self, generator):
        yield 0


class NoScores(OnlyBatches):
    def num_batches(self):
        return 1

    def loss(self, batch):
        return self.w.sum()


def test_a_model_without_loss_is_refused_naming_what_is_missing(ml100k, tmp_path):
    with pytest.raises(TypeError, match=r"toy: OnlyBatches is not Trainable: it lacks num_batches\(\), "
                                        r"loss\(\)"):
        Trainer("toy", OnlyBatches, ml100k, _lightgcn_config(), run_dir=tmp_path / "a", verbose=False)


def test_a_model_the_ranking_task_cannot_score_is_refused(ml100k, tmp_path):
    with pytest.raises(TypeError, match=r"toy evaluated by RankingTask: NoScores is not Ranker: it lacks "
                                        r"prepare_scoring\(\), full_scores\(\)"):
        Trainer("toy", NoScores, ml100k, _lightgcn_config(), run_dir=tmp_path / "b", verbose=False)


def test_every_registered_method_names_a_known_task():
    expected = {"scgc": "node-cluster", "pamc": "node-cluster", "meow": "hetero-probe",
                "adameow": "hetero-probe", "lightgcn": "ranking", "sasrec": "sequential-ranking",
                "grace": "node-probe"}
    for name in list_methods():
        spec = get_method(name)
        assert spec.task_name in TASKS, name
        if name in expected:
            assert spec.task_name == expected[name], name


def test_task_name_defaults_to_the_data_kind():
    spec = MethodSpec(name="x", kind="rec", build=lambda *a: None)
    assert spec.task_name == "ranking" == DEFAULT_TASKS["interactions"]
    assert MethodSpec(name="y", kind="node", data="hetero", build=lambda *a: None).task_name == "hetero-probe"
    assert MethodSpec(name="z", kind="node", task="node-cluster", build=lambda *a: None).task_name == "node-cluster"


def test_each_task_declares_the_protocol_it_needs():
    needs = {name: task_class(name).model_protocol for name in TASKS}
    assert needs == {"ranking": Ranker, "sequential-ranking": SequenceScorer, "node-probe": Embedder,
                     "node-cluster": Embedder, "hetero-probe": Embedder}
    with pytest.raises(ValueError, match="unknown evaluation task 'probe'; known: ranking"):
        make_task(None, {}, torch.device("cpu"), "probe")


def test_builtin_models_satisfy_their_protocols(ml100k, tmp_path):
    from graphcl.train import build_trainer
    trainer = build_trainer("lightgcn", ml100k, config=CFG, run_dir=tmp_path / "c", verbose=False)
    assert isinstance(trainer.model, Trainable) and isinstance(trainer.model, Ranker)
    assert not trainer.owns_optimization and not isinstance(trainer.model, OwnsOptimization)
    from graphcl.models.seq.mclrec import MCLRec
    assert {"configure_optimizers", "train_step"} <= set(dir(MCLRec))   # MCLRec owns its optimization
