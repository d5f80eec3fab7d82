"""``graphcl.train.build_trainer`` / ``train`` / ``graphcl.train(...)``: what reaches the Trainer
(dataset by name, by path or in memory; config precedence; device, progress, verbosity, task)
and the errors a user gets for data of the wrong kind or options that cannot apply."""
from __future__ import annotations

import random

import pytest
import torch
from torch_geometric.data import Data

import graphcl
import graphcl.registry as registry
import graphcl.train as train_package
from graphcl.config_ranges import Range
from graphcl.data.sequences import SequenceDataset
from graphcl.errors import ConfigError
from graphcl.method_spec import MethodSpec
from graphcl.registry import get_method
from graphcl.train import build_trainer, train


def _inter_file(folder, users: int = 30, items: int = 40, per_user: int = 8):
    """A small RecBole atomic interaction file."""
    rng = random.Random(0)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for u in range(users):
        lines += [f"u{u}\ti{i}\t{rng.randint(1, 10 ** 6)}" for i in rng.sample(range(items), per_user)]
    path = folder / "toy.inter"
    path.write_text("\n".join(lines) + "\n")
    return path


def _sequence_file(folder):
    path = folder / "seqs.txt"
    path.write_text("1 1 2 3 4\n2 2 3 4 5 6\n3 3 4 5 6\n4 1 3 5 6 2\n")
    return path


def test_the_default_dataset_is_ml_100k_and_the_arguments_reach_the_trainer(tmp_path):
    t = build_trainer("lightgcn", device="cpu", run_dir=tmp_path / "r")
    assert t.task.name == "ml-100k" and type(t.task).__name__ == "RankingTask"
    assert t.device == torch.device("cpu") and t.run_dir == tmp_path / "r"
    assert t.verbose is True and t.progress is None            # verbose by default; tqdm decides
    t = build_trainer("lightgcn", "ML-100K", device="cpu", run_dir=tmp_path / "q", progress=False,
                      verbose=False, config={"embedding_dim": 8})
    assert t.task.name == "ML-100K" and (t.verbose, t.progress) == (False, False)
    assert t.model.encoder.user_embedding.weight.shape[1] == 8


def test_a_sequential_method_takes_the_sequence_form_of_a_name(tmp_path):
    t = build_trainer("sasrec", "ml-100k", device="cpu", run_dir=tmp_path / "r", verbose=False)
    assert t.task.name == "ml-100k-seq" and isinstance(t.dataset, SequenceDataset)


def test_a_name_wins_over_a_folder_of_that_name_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ml-100k-seq").mkdir()                      # not a dataset: would fail to load
    t = build_trainer("sasrec", "ml-100k-seq", device="cpu", run_dir=tmp_path / "r", verbose=False)
    assert t.task.name == "ml-100k-seq" and t.dataset.num_items > 1000


def test_datasets_given_by_path_load_as_their_kind(tmp_path):
    seqs = build_trainer("sasrec", _sequence_file(tmp_path), config={"max_len": 5}, device="cpu",
                         run_dir=tmp_path / "s", verbose=False)
    assert isinstance(seqs.dataset, SequenceDataset) and seqs.task.name == str(tmp_path / "seqs.txt")
    assert seqs.dataset.offsets.tolist() == [0, 4, 9, 13, 18] and seqs.dataset.num_items == 6
    inter = build_trainer("lightgcn", _inter_file(tmp_path), device="cpu", run_dir=tmp_path / "i", verbose=False)
    assert inter.task.name == str(tmp_path / "toy.inter")
    assert (inter.dataset.num_users, inter.dataset.num_items) == (30, 40)


def test_data_options_go_to_the_loader(tmp_path):
    with pytest.raises(ValueError, match="unknown option\\(s\\) 'bogus' for dataset 'ml-100k'"):
        build_trainer("lightgcn", "ml-100k", config={"data.bogus": 1}, device="cpu", run_dir=tmp_path / "a")
    with pytest.raises(ValueError, match=r"no options for a sequence text file, got \['bogus'\]"):
        build_trainer("sasrec", _sequence_file(tmp_path), config={"data.bogus": 1}, device="cpu",
                      run_dir=tmp_path / "b")
    a = build_trainer("lightgcn", "ml-100k", config={"data.seed": 1}, device="cpu", run_dir=tmp_path / "c",
                      verbose=False)
    b = build_trainer("lightgcn", "ml-100k", device="cpu", run_dir=tmp_path / "d", verbose=False)
    assert a.data_options == {"seed": 1} and b.data_options == {}
    assert not torch.equal(a.dataset.train, b.dataset.train)   # another random split


def test_data_options_are_refused_for_a_dataset_in_memory(tmp_path):
    data = build_trainer("lightgcn", "ml-100k", device="cpu", run_dir=tmp_path / "a", verbose=False).dataset
    with pytest.raises(ValueError, match=r"^data\.\* options apply only when the dataset is given by name$"):
        build_trainer("lightgcn", data, config={"data.seed": 1}, device="cpu", run_dir=tmp_path / "b")
    t = build_trainer("lightgcn", data, device="cpu", run_dir=tmp_path / "c", verbose=False)
    assert t.dataset is data and t.task.name == data.name


def test_the_data_root_is_where_datasets_are_looked_up(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"Searched: {tmp_path / 'empty' / 'gowalla'}"):
        build_trainer("lightgcn", "gowalla", data_root=tmp_path / "empty", device="cpu", run_dir=tmp_path / "r")


def test_config_precedence_preset_then_file_then_dict(shared_data, tmp_path):
    """defaults < the dataset's preset (the name in any case) < config_file < config."""
    t = build_trainer("grace", "CiteSeer", data_root=shared_data, device="cpu", run_dir=tmp_path / "a",
                      verbose=False)
    preset = get_method("grace").presets["citeseer"]
    assert (t.config["tau"], t.config["hidden_dim"], t.config["activation"]) == \
        (preset["tau"], preset["hidden_dim"], preset["activation"]) == (0.9, 256, "prelu")
    cfg_file = tmp_path / "grace.yaml"
    cfg_file.write_text("tau: 0.5\nhidden_dim: 64\n")
    t = build_trainer("grace", "citeseer", data_root=shared_data, config_file=cfg_file, config={"tau": 0.7},
                      device="cpu", run_dir=tmp_path / "b", verbose=False)
    assert (t.config["tau"], t.config["hidden_dim"], t.config["activation"]) == (0.7, 64, "prelu")


def test_config_errors_name_the_method(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'tua' for grace; valid keys: "):
        build_trainer("grace", Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]])),
                      config={"tua": 0.5}, device="cpu", run_dir=tmp_path / "a")


def test_a_method_spec_ranges_are_checked(tmp_path, monkeypatch):
    """A third-party spec's own ranges override the library's (here a stricter embedding size)."""
    base = get_method("lightgcn")
    spec = MethodSpec(name="tiny-lightgcn", kind="rec", build=base.build, defaults=dict(base.defaults),
                      ranges={"embedding_dim": Range(1, 16, integer=True)})
    monkeypatch.setitem(registry._REGISTERED, "tiny-lightgcn", spec)
    with pytest.raises(ConfigError, match=r"tiny-lightgcn: config key 'embedding_dim' must be an integer "
                                          r"in \[1, 16\], got 64"):
        build_trainer("tiny-lightgcn", "ml-100k", device="cpu", run_dir=tmp_path / "a")
    t = build_trainer("tiny-lightgcn", "ml-100k", config={"embedding_dim": 16}, device="cpu",
                      run_dir=tmp_path / "b", verbose=False)
    assert t.method == "tiny-lightgcn" and t.config["embedding_dim"] == 16


def test_the_method_task_is_used(shared_data, tmp_path, monkeypatch):
    """A spec's task (clustering for SCGC and PamC) replaces the data's default (a linear probe)."""
    grace = get_method("grace")
    spec = MethodSpec(name="grace-clustered", kind="node", task="node-cluster", build=grace.build,
                      defaults=dict(grace.defaults))
    monkeypatch.setitem(registry._REGISTERED, "grace-clustered", spec)
    t = build_trainer("grace-clustered", "cora", data_root=shared_data, device="cpu", run_dir=tmp_path / "a",
                      verbose=False)
    assert type(t.task).__name__ == "NodeClusteringTask"
    t = build_trainer("grace", "cora", data_root=shared_data, device="cpu", run_dir=tmp_path / "b", verbose=False)
    assert type(t.task).__name__ == "NodeProbeTask"


def test_data_of_the_wrong_kind_is_named(tmp_path):
    graph = Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match=r"^lightgcn trains on a user-item interaction dataset, e\.g\. ml-100k, "
                                         r"gowalla, yelp, lastfm; got a node-level graph \(PyG Data\)$"):
        build_trainer("lightgcn", graph, device="cpu", run_dir=tmp_path / "a")
    graph.name = "cora"
    with pytest.raises(ValueError, match=r"got a node-level graph \(PyG Data\) \(cora\)$"):
        build_trainer("lightgcn", graph, device="cpu", run_dir=tmp_path / "a")
    graph.name = ""                                   # an empty name is not shown
    with pytest.raises(ValueError, match=r"got a node-level graph \(PyG Data\)$"):
        build_trainer("lightgcn", graph, device="cpu", run_dir=tmp_path / "a")
    with pytest.raises(ValueError, match=r"^grace trains on a node-level graph .*; got list$"):
        build_trainer("grace", [1, 2, 3], device="cpu", run_dir=tmp_path / "a")


def test_train_and_the_callable_package_build_then_fit(monkeypatch):
    calls = []

    class Built:
        def fit(self):
            return "fitted"

    def fake_build_trainer(method, dataset="unused", **kwargs):
        calls.append((method, dataset, kwargs))
        return Built()

    monkeypatch.setattr(train_package, "build_trainer", fake_build_trainer)
    assert train("lightgcn") == "fitted"
    assert train("grace", "cora", device="cpu") == "fitted"
    assert graphcl.train("dccf", verbose=False) == "fitted"
    assert graphcl.train("bm3", "ml-100k-seq", device="cpu") == "fitted"
    assert calls == [("lightgcn", "ml-100k", {}), ("grace", "cora", {"device": "cpu"}),
                     ("dccf", "ml-100k", {"verbose": False}), ("bm3", "ml-100k-seq", {"device": "cpu"})]


def test_the_requested_device_wins_over_auto_on_a_gpu_machine(tmp_path, monkeypatch):
    """``device="cpu"`` on a machine with CUDA trains on the CPU (auto would pick the GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    t = build_trainer("lightgcn", "ml-100k", device="cpu", run_dir=tmp_path / "r", verbose=False)
    assert t.device == torch.device("cpu") and t.generator.device == torch.device("cpu")
    assert {p.device for p in t.model.parameters()} == {torch.device("cpu")}
