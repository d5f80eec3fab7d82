"""Our recommenders as RecBole models (graphcl.interop.recbole_models), trained by RecBole's Trainer."""
from __future__ import annotations

import importlib
import math
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("recbole")

from graphcl.config import ConfigError  # noqa: E402
from graphcl.data import load  # noqa: E402
from graphcl.interop import recbole_models as rm  # noqa: E402
from graphcl.interop.recbole_compat import INSTALL_HINT, import_recbole, recbole_scope  # noqa: E402
from graphcl.interop.recbole_files import write_recbole_benchmark  # noqa: E402
from graphcl.registry import UnknownMethodError, get_method  # noqa: E402

NAME = "ml100k_graphcl"   # not "ml-100k": RecBole would read its bundled copy and split it itself
SEQ_NAME = "ml100k_seq_small"
SEQ_USERS = 200
BENCHMARK = {
    "benchmark_filename": ["train", "valid", "test"], "load_col": {"inter": ["user_id", "item_id"]},
    "eval_args": {"mode": "full", "order": "RO", "group_by": "user"},
    "metrics": ["Recall", "NDCG", "Precision", "Hit", "MRR"], "topk": [10, 20], "valid_metric": "NDCG@20",
    "eval_batch_size": 1024 * 1700, "use_gpu": False, "show_progress": False, "seed": 2020,
}
SEQ = {
    "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "MAX_ITEM_LIST_LENGTH": 20,
    "metrics": ["Recall", "NDCG", "Hit", "MRR"], "topk": [10, 20], "valid_metric": "Hit@20",
    "eval_batch_size": 100_000, "use_gpu": False, "show_progress": False, "seed": 1,
    "hidden_size": 32, "inner_size": 64, "n_layers": 1, "train_batch_size": 256,
}


def _recbole():
    return (import_recbole("recbole.config").Config, import_recbole("recbole.data"),
            import_recbole("recbole.data.interaction").Interaction)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ml100k(tmp_path_factory):
    """Our ml-100k split as RecBole benchmark files, and RecBole's data built on them."""
    root = tmp_path_factory.mktemp("recbole_adapter")
    ds = load("ml-100k")
    write_recbole_benchmark(ds, root / "data", NAME)
    base = {**BENCHMARK, "data_path": str(root / "data"), "checkpoint_dir": str(root / "saved")}
    Config, data, _ = _recbole()
    with recbole_scope(hide_argv=True, workdir=root):
        config = Config(model=rm.RecBoleLightGCN, dataset=NAME, config_dict=base)
        train, valid, test = data.data_preparation(config, data.create_dataset(config))
    return {"root": root, "ours": ds, "base": base, "train": train._dataset}


@pytest.fixture(scope="module")
def seq_data(tmp_path_factory):
    """The first 200 users of ml-100k as a RecBole sequential .inter file (time = position)."""
    root = tmp_path_factory.mktemp("recbole_seq")
    seqs = load("ml-100k-seq")
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    lines += [f"u{u}\ti{i}\t{t}" for u in range(SEQ_USERS) for t, i in enumerate(seqs.sequence(u))]
    (root / "data" / SEQ_NAME).mkdir(parents=True)
    (root / "data" / SEQ_NAME / f"{SEQ_NAME}.inter").write_text("\n".join(lines) + "\n")
    base = {**SEQ, "data_path": str(root / "data"), "checkpoint_dir": str(root / "saved"),
            "train_neg_sample_args": None}
    return {"root": root, "base": base}


def build(cls, base: dict, dataset_name: str, workdir, **config):
    """An adapter instance built the way RecBole's pipeline builds it, plus its data loaders."""
    Config, data, _ = _recbole()
    with recbole_scope(hide_argv=True, workdir=workdir):
        rb_config = Config(model=cls, dataset=dataset_name, config_dict={**base, **config})
        loaders = data.data_preparation(rb_config, data.create_dataset(rb_config))
        return cls(rb_config, loaders[0]._dataset), loaders


def make_adapter(cls, ml100k, **config):
    Config, _, _ = _recbole()
    with recbole_scope(hide_argv=True, workdir=ml100k["root"]):
        rb_config = Config(model=cls, dataset=NAME, config_dict={**ml100k["base"], **config})
        return cls(rb_config, ml100k["train"])


def random_ranker(ds, k: int) -> dict[str, float]:
    """Expected test recall@k / precision@k of a uniformly random full ranking of each
    user's candidates (all items minus the train and valid items RecBole masks)."""
    seen = torch.bincount(torch.cat([ds.train[0], ds.valid[0]]), minlength=ds.num_users).double()
    relevant = torch.bincount(ds.test[0], minlength=ds.num_users).double()
    users = relevant > 0
    candidates = ds.num_items - seen[users]
    return {f"recall@{k}": float((k / candidates).mean()),
            f"precision@{k}": float((relevant[users] / candidates).mean())}


# --------------------------------------------------------------------- runs
def test_lightgcl_one_epoch_through_recbole_trainer(ml100k, monkeypatch):
    """RecBole's pipeline (Config, data_preparation, Trainer.fit, evaluate of the best model)
    trains our LightGCL for one epoch on our ml-100k split; nothing RecBole needed stays
    patched afterwards."""
    monkeypatch.chdir(ml100k["root"])
    numpy_before = dict(np.__dict__)
    load_before, argv_before = torch.load, list(sys.argv)
    result = rm.run_recbole("lightgcl", NAME, {
        **ml100k["base"], "epochs": 1, "learning_rate": 1e-3, "train_batch_size": 4096,
        "embedding_dim": 32, "graphcl_preset": "ml-100k"})
    assert set(np.__dict__) == set(numpy_before)
    assert all(np.__dict__[k] is v for k, v in numpy_before.items())
    assert torch.load is load_before is torch.serialization.load
    assert sys.argv == argv_before
    assert result["model"] == "RecBoleLightGCL" and result["valid_metric"] == "ndcg@20"
    for split in ("best_valid", "test"):
        assert len(result[split]) == 10 and all(math.isfinite(v) for v in result[split].values())
    # measured (d 32, 1 epoch): test recall@20 0.129, precision@20 0.058, ndcg@20 0.104;
    # a random ranker: recall@20 0.0127, precision@20 0.0069
    baseline = random_ranker(ml100k["ours"], 20)
    for metric, random_value in baseline.items():
        assert result["test"][metric] > 5 * random_value, (metric, result["test"], baseline)
    assert result["test"]["ndcg@20"] > 0.05 and result["best_valid"]["ndcg@20"] > 0.05
    assert result["checkpoint"] and (ml100k["root"] / "saved").is_dir()


def test_sasrec_one_epoch_through_recbole_trainer(seq_data, monkeypatch):
    monkeypatch.chdir(seq_data["root"])
    result = rm.run_recbole(rm.RecBoleSASRec, SEQ_NAME, {
        **seq_data["base"], "epochs": 1, "learning_rate": 5e-3})
    for split in ("best_valid", "test"):
        assert result[split] and all(math.isfinite(v) for v in result[split].values())
    # measured hit@20: valid 0.09, test 0.04; a random ranker: 20 / ~1500 items = 0.013
    items = len({line.split("\t")[1] for line in (seq_data["root"] / "data" / SEQ_NAME /
                                                   f"{SEQ_NAME}.inter").read_text().splitlines()[1:]})
    mean_hit = (result["best_valid"]["hit@20"] + result["test"]["hit@20"]) / 2
    assert mean_hit > 2 * 20 / items


# ------------------------------------------------------------ equivalences
@pytest.mark.parametrize("cls", [rm.RecBoleLightGCL, rm.RecBoleDCCF, rm.RecBoleLightGCN])
def test_general_adapter_matches_our_model(cls, ml100k):
    """full_sort_predict / predict / calculate_loss are our model's full_scores / loss for the
    same weights, and the scoring cache follows weight changes made in eval mode."""
    _, _, Interaction = _recbole()
    net = make_adapter(cls, ml100k, embedding_dim=8)
    train = ml100k["train"]
    assert net.model.num_users == train.user_num and net.model.num_items == train.item_num
    plain = get_method(cls.method).build(rm.interactions_from_recbole(train), net.graphcl_config, "cpu")
    plain.load_state_dict(net.model.state_dict())
    users, items, negs = torch.tensor([1, 7, 943, 0]), torch.tensor([3, 50, 1682, 9]), torch.tensor([2, 4, 6, 8])
    batch = Interaction({"user_id": users, "item_id": items, "neg_item_id": negs})

    net.train(), plain.train()
    assert torch.allclose(net.calculate_loss(batch), plain.loss((users, items, negs))["loss"])
    net.eval(), plain.eval()
    with torch.no_grad():
        scores = net.full_sort_predict(batch)
        assert scores.shape == (4, train.item_num) and bool(torch.isfinite(scores).all())
        assert torch.allclose(scores, plain.full_scores(users), atol=1e-6)
        assert torch.allclose(net.predict(batch), scores[torch.arange(4), items], atol=1e-6)
        for p in net.parameters():  # in place, still in eval mode (as load_state_dict does)
            p.mul_(0.5)
        plain.load_state_dict(net.model.state_dict())
        plain.eval()  # drops plain's cache
        rescored = net.full_sort_predict(batch)
        assert not torch.allclose(rescored, scores)
        assert torch.allclose(rescored, plain.full_scores(users), atol=1e-6)


def test_sequential_adapter_converts_right_padding(seq_data):
    """RecBole's right-padded ITEM_SEQ reaches our SASRec left-padded (newest item last);
    scores and loss are our model's on those inputs."""
    net, (train, _, _) = build(rm.RecBoleSASRec, seq_data["base"], SEQ_NAME, seq_data["root"])
    inter = next(iter(train))
    seqs, lengths = inter["item_id_list"], inter["item_length"]
    assert bool((seqs[:, 0] != 0).all()) and bool((lengths < seqs.size(1)).any())  # right-padded
    expected = torch.zeros_like(seqs)
    for row, (seq, n) in enumerate(zip(seqs.tolist(), lengths.tolist())):
        expected[row, seqs.size(1) - n:] = torch.tensor(seq[:n])
    assert torch.equal(rm.left_padded(seqs, lengths), expected)
    net.eval()
    scores = net.full_sort_predict(inter)
    assert scores.shape == (len(inter), net.n_items) and bool(torch.isinf(scores[:, 0]).all())
    assert torch.allclose(scores[:, 1:], net.model.score(expected, lengths))
    target = inter["item_id"]
    assert torch.allclose(net.predict(inter), scores[torch.arange(len(inter)), target])
    with torch.no_grad():
        ours = net.model.loss({"seq": expected, "len": lengths, "target": target})["loss"]
        assert torch.allclose(net.calculate_loss(inter), ours)
    assert net.graphcl_config["max_len"] == 20 and net.graphcl_config["num_layers"] == 1
    # the SequenceDataset our model is built on: each user's latest 21 training items
    ours, rb = net.model.dataset, train._dataset
    assert ours.num_users == SEQ_USERS and ours.num_items == rb.item_num - 1
    full = load("ml-100k-seq").sequence(5)[:-2]          # RecBole holds the last two out
    uid = int(rb.token2id("user_id", "u5"))
    rank = int((torch.unique(rb.inter_feat["user_id"]) < uid).sum())
    tokens = [f"i{i}" for i in full[-21:]]
    assert ours.sequence(rank) == rb.token2id("item_id", tokens).tolist()


def test_mclrec_joint_variant_only(seq_data):
    net, (train, _, _) = build(rm.RecBoleMCLRec, seq_data["base"], SEQ_NAME, seq_data["root"])
    assert net.model.joint is True
    loss = net.calculate_loss(next(iter(train)))
    assert loss.requires_grad and math.isfinite(float(loss.detach()))
    assert {"rec", "cl2"} <= set(net.last_loss_parts)
    with pytest.raises(ConfigError, match="meta update"):
        build(rm.RecBoleMCLRec, seq_data["base"], SEQ_NAME, seq_data["root"], joint=False)


# ------------------------------------------------------------------ errors
def test_config_keys(ml100k):
    with pytest.raises(ConfigError, match="unknown config key 'cl_wieght' for lightgcl"):
        make_adapter(rm.RecBoleLightGCL, ml100k, cl_wieght=0.1)
    with pytest.raises(ConfigError, match="learning_rate"):
        make_adapter(rm.RecBoleLightGCL, ml100k, lr=0.01)
    with pytest.raises(ConfigError, match="same hyperparameter"):
        make_adapter(rm.RecBoleLightGCN, ml100k, embedding_size=8, embedding_dim=16)
    with pytest.raises(ConfigError, match="no effect under RecBole"):
        make_adapter(rm.RecBoleDCCF, ml100k, batches_per_epoch=10)
    with pytest.raises(ConfigError, match="needs negative items"):
        make_adapter(rm.RecBoleLightGCN, ml100k, train_neg_sample_args=None)
    net = make_adapter(rm.RecBoleLightGCN, ml100k, embedding_size=8, n_layers=1, reg_weight=0.5)
    assert (net.graphcl_config["embedding_dim"], net.graphcl_config["num_layers"]) == (8, 1)
    assert net.graphcl_config["reg_weight"] == 0.5
    assert net.model.encoder.user_embedding.weight.shape[1] == 8


def test_unknown_model_names():
    with pytest.raises(UnknownMethodError, match="unknown model 'nosuch'"):
        rm.run_recbole("nosuch", NAME, {})
    with pytest.raises(UnknownMethodError, match="no RecBole adapter"):
        rm.recbole_model("bm3")
    assert rm.recbole_model("RecBoleLightGCL") is rm.recbole_model("lightgcl") is rm.RecBoleLightGCL


def test_missing_recbole_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "recbole", None)
    monkeypatch.delitem(sys.modules, "graphcl.interop.recbole_models")
    with pytest.raises(ImportError, match=INSTALL_HINT.replace("[", r"\[").replace("]", r"\]")):
        importlib.import_module("graphcl.interop.recbole_models")
