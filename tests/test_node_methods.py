"""GRACE and CSGCL: registry, training on Cora, schedule, resume, bad input."""
import pytest
import torch
from torch_geometric.data import Data

from graphcl.data import load
from graphcl.train import build_trainer, train
from graphcl.train.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def cora(shared_data):
    return load("cora", root=shared_data)


FAST = {"epochs": 20, "hidden_dim": 32, "proj_dim": 32, "probe_seeds": 2, "lr": 0.005}




def test_grace_learns_on_cora(shared_data, tmp_path):
    trainer = build_trainer("grace", "cora", data_root=shared_data, config=FAST, run_dir=tmp_path / "r",
                            verbose=False)
    assert trainer.config["tau"] == 0.4 and trainer.config["p_e2"] == 0.4  # Cora preset
    before = trainer.task.evaluate(trainer.model, "test")["acc"]
    result = trainer.fit()
    print("untrained", before, "trained", result.test["acc"])
    # 20 epochs of small GRACE: clearly above the untrained encoder and far above chance (1/7)
    assert result.test["acc"] > 0.70
    assert result.test["acc"] > before
    assert set(result.test) >= {"acc", "acc_std", "f1_mean"}


def test_csgcl_team_up_schedule_and_training(cora, tmp_path):
    cfg = {**FAST, "t0": 5, "gamma_max": 0.5, "epochs": 12}
    trainer = build_trainer("csgcl", cora, config=cfg, run_dir=tmp_path / "r", verbose=False)
    model = trainer.model
    assert model.gamma() == 0.0
    model.epoch.fill_(54)                  # epoch t = 55 (counted from 1)
    assert model.gamma() == 0.5            # min(max(0, (55-5)/100), 0.5)
    model.epoch.fill_(24)
    assert model.gamma() == pytest.approx(0.2)
    torch.testing.assert_close(model.node_bias(), 0.2 * model.cs_node)
    # features are row-normalized (authors' NormalizeFeatures) and kept as sparse CSR
    assert model.x.layout == torch.sparse_csr
    sums = model.x.to_dense().sum(1)
    torch.testing.assert_close(sums[sums > 0], torch.ones(int((sums > 0).sum())))
    model.epoch.fill_(0)
    # community strengths sum to the modularity of the partition: positive on Cora
    assert float(model.cs_community.sum()) > 0.5
    result = trainer.fit()
    assert int(trainer.model.epoch) == 12
    assert result.test["acc"] > 0.6


def test_node_resume_matches_uninterrupted(cora, tmp_path):
    cfg = {**FAST, "epochs": 4}
    full = train("grace", cora, config=cfg, run_dir=tmp_path / "full", verbose=False)
    build_trainer("grace", cora, config={**cfg, "epochs": 2}, run_dir=tmp_path / "part", verbose=False).fit()
    resumed = build_trainer("grace", cora, config=cfg, resume=tmp_path / "part", verbose=False).fit()
    assert resumed.test == full.test
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "part" / "last.pt")["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_bad_graphs_are_refused(tmp_path):
    ok = Data(x=torch.rand(4, 3), edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.tensor([0, 1, 0, 1]))
    nan = Data(x=torch.tensor([[float("nan")] * 3] * 4), edge_index=ok.edge_index, y=ok.y)
    with pytest.raises(ValueError, match="NaN"):
        train("grace", nan, config=FAST, run_dir=tmp_path / "a")
    bad_edges = Data(x=ok.x, edge_index=torch.tensor([[0, 9], [9, 0]]), y=ok.y)
    with pytest.raises(ValueError, match="node 9"):
        train("grace", bad_edges, config=FAST, run_dir=tmp_path / "b")
    with pytest.raises(ValueError, match=r"config key .p_e1. must be \[0, 1\) \(a drop/mask probability\), got 1.5"):
        train("grace", ok, config={**FAST, "p_e1": 1.5}, run_dir=tmp_path / "c")
    no_x = Data(edge_index=ok.edge_index, y=ok.y, num_nodes=4)
    with pytest.raises(ValueError, match="no `x`"):
        train("grace", no_x, config=FAST, run_dir=tmp_path / "d")


def test_probe_normalize_option(cora, tmp_path):
    """``probe_normalize`` switches the probe's input scaling; a bad value fails before training."""
    from graphcl.eval.node import linear_probe
    from graphcl.eval.tasks.node_probe import frozen_embeddings
    cfg = {**FAST, "epochs": 1, "probe_seeds": 1, "probe_normalize": "l2"}
    trainer = build_trainer("grace", cora, config=cfg, run_dir=tmp_path / "r", verbose=False)
    emb = frozen_embeddings(trainer.model)
    got = trainer.task.evaluate(trainer.model, "test")["acc"]
    want = linear_probe(emb, cora.y, split="random", seeds=(0,), normalize="l2")["mean"]
    other = linear_probe(emb, cora.y, split="random", seeds=(0,), normalize="standard")["mean"]
    assert got == pytest.approx(want, abs=1e-9)
    assert got != other  # the option is actually applied
    with pytest.raises(ValueError, match="probe_normalize"):
        build_trainer("grace", cora, config={**cfg, "probe_normalize": "minmax"},
                      run_dir=tmp_path / "bad", verbose=False)


def test_probe_weight_decays_and_epochs_options(cora, tmp_path):
    """``probe_weight_decays`` / ``probe_epochs`` reach the probe; bad values fail before training."""
    from graphcl.eval.node import WIDE_WEIGHT_DECAYS, linear_probe
    from graphcl.eval.tasks.node_probe import frozen_embeddings
    assert WIDE_WEIGHT_DECAYS[0] == 0.0 and len(WIDE_WEIGHT_DECAYS) == 14
    assert WIDE_WEIGHT_DECAYS[1] == pytest.approx(1e-6) and WIDE_WEIGHT_DECAYS[-1] == 1.0
    cfg = {**FAST, "epochs": 1, "probe_seeds": 1, "probe_weight_decays": [1.0], "probe_epochs": 40}
    trainer = build_trainer("grace", cora, config=cfg, run_dir=tmp_path / "r", verbose=False)
    emb = frozen_embeddings(trainer.model)
    got = trainer.task.evaluate(trainer.model, "test")["acc"]
    want = linear_probe(emb, cora.y, split="random", seeds=(0,), weight_decay=[1.0], epochs=40)["mean"]
    other = linear_probe(emb, cora.y, split="random", seeds=(0,))["mean"]
    assert got == pytest.approx(want, abs=1e-9)
    assert got != other  # a decay of 1 for 40 epochs is a different probe than the default one
    for key, bad in (("probe_weight_decays", [-1e-3]), ("probe_weight_decays", []),
                     ("probe_weight_decays", "huge"), ("probe_weight_decays", [float("nan")]),
                     ("probe_epochs", 0), ("probe_epochs", 2.5)):
        with pytest.raises(ValueError, match=key):
            build_trainer("grace", cora, config={**cfg, key: bad}, run_dir=tmp_path / "bad", verbose=False)
