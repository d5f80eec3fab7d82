"""SCGC and PamC as methods: training, clustering task, determinism, errors, CLI, Cora."""
import json

import pytest
import torch
from torch_geometric.data import Data

from graphcl.cli import main as cli_main
from graphcl.registry import get_method
from graphcl.train import build_trainer, train

TINY = {"hidden_dims": [16], "n_z": 4, "pretrain_epochs": 20, "pretrain_batch_size": 16,
        "epochs": 15, "kmeans_init_n": 3, "kmeans_seeds": 2, "order": 2, "lr": 1e-2}


def blobs(n_per: int = 20, k: int = 3, dim: int = 8, seed: int = 0, sep: float = 8.0) -> Data:
    """k feature blobs (means ``sep`` apart along the axes, unit noise), each a ring of n_per
    nodes plus chords (edges inside blobs only)."""
    gen = torch.Generator().manual_seed(seed)
    means = sep * torch.eye(k, dim)
    y = torch.arange(k).repeat_interleave(n_per)
    x = means[y] + torch.randn(k * n_per, dim, generator=gen)
    base = torch.arange(k * n_per)
    ring = (base % n_per + 1) % n_per + (base // n_per) * n_per
    chord = (base % n_per + 5) % n_per + (base // n_per) * n_per
    edge_index = torch.stack([torch.cat([base, base]), torch.cat([ring, chord])])
    return Data(x=x, edge_index=edge_index, y=y)


@pytest.mark.parametrize("method,extra", [("pamc", {}), ("pamc", {"assignment": "hard"}), ("scgc", {})])
def test_methods_cluster_with_the_graph(method, extra, tmp_path):
    """Blobs 2.5 apart overlap (unit noise), so the clusters must come from the graph: with the
    blobs' own edges the method's clusters (argmax Q) reach > 0.85 accuracy, with as many random
    edges they stay at least 0.15 lower (measured on this data seed: soft PamC 0.93 vs 0.72, hard
    0.92 vs 0.67, SCGC* 0.93 vs 0.48). A method that ignored the graph would score the same on
    both; on the far-apart blobs used before (8 apart) k-means alone scored 1.0."""
    data = blobs(sep=2.5)
    noise = Data(x=data.x, y=data.y, edge_index=torch.randint(
        data.num_nodes, tuple(data.edge_index.shape), generator=torch.Generator().manual_seed(0)))
    cfg = {**TINY, "epochs": 60, **extra}
    result = train(method, data, config=cfg, run_dir=tmp_path / "r", verbose=False)
    blind = train(method, noise, config=cfg, run_dir=tmp_path / "noise", verbose=False)
    t = result.test
    assert set(t) >= {"acc", "nmi", "ari", "f1", "clusters_used", "kmeans_acc", "kmeans_nmi",
                      "kmeans_ari", "kmeans_f1", "kmeans_acc_std"}
    assert t["acc"] > 0.85 and t["acc"] > blind.test["acc"] + 0.15, (t, blind.test)
    assert result.best_epoch == cfg["epochs"] - 1               # final epoch, no selection
    log = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in log if r["split"] == "train"]
    assert len(train_rows) == cfg["epochs"] and {"kl", "contrast"} <= set(train_rows[0])


def test_model_parts_follow_the_authors_setup(tmp_path):
    data = blobs()
    trainer = build_trainer("pamc", data, config=TINY, run_dir=tmp_path / "r", verbose=False)
    m = trainer.model
    assert m.num_clusters == 3 and m.centers.shape == (3, 4)    # K = number of classes
    assert [layer.out_features for layer in m.encoder.layers] == [16, 4]
    assert m.decoder is None                                   # SCGC*: decoder only for pretraining
    assert m.pretrain_mse < float(data.x.var())                # pretraining reconstructs
    assert m.graph.nnz > data.edge_index.size(1)               # r = 2 hops + self loops
    torch.testing.assert_close(m.x, data.x)                    # raw features (no row normalization)
    q = m.soft_assignments()
    torch.testing.assert_close(q.sum(1), torch.ones(60))
    assert torch.equal(m.predict(), q.argmax(1))
    # the optimizer trains the encoder and the centres
    trained = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert id(m.centers) in trained and all(id(p) in trained for p in m.encoder.parameters())
    # SCGC with its decoder keeps the reconstruction term
    scgc = build_trainer("scgc", data, config={**TINY, "reconstruction_weight": 1.0, "influence": False},
                         run_dir=tmp_path / "s", verbose=False).model
    assert scgc.decoder is not None
    assert "reconstruction" in scgc.step_loss(torch.Generator())


def test_same_seed_same_result(tmp_path):
    data = blobs(seed=1)
    cfg = {**TINY, "epochs": 5, "seed": 7}
    a = build_trainer("pamc", data, config=cfg, run_dir=tmp_path / "a", verbose=False)
    b = build_trainer("pamc", data, config=cfg, run_dir=tmp_path / "b", verbose=False)
    ra, rb = a.fit(), b.fit()
    assert ra.test == rb.test
    for (name, pa), (_, pb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(pa, pb), name
    c = build_trainer("pamc", data, config={**cfg, "seed": 8}, run_dir=tmp_path / "c", verbose=False)
    assert not torch.equal(a.model.centers, c.model.centers)


def test_clear_errors(tmp_path):
    data = blobs(n_per=2)                                       # 6 nodes
    with pytest.raises(ValueError, match="K = 7 exceeds the number of nodes N = 6"):
        train("pamc", data, config={**TINY, "n_clusters": 7}, run_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="config key 'order' must be an integer in \\[1, inf\\), got 0"):
        train("pamc", data, config={**TINY, "order": 0}, run_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="assignment must be one of"):
        train("pamc", data, config={**TINY, "assignment": "fuzzy"}, run_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="config key 'tau' must be \\(0, 1000000\\], got 0"):
        train("scgc", data, config={**TINY, "tau": 0}, run_dir=tmp_path / "d")
    unlabeled = Data(x=data.x, edge_index=data.edge_index)
    with pytest.raises(ValueError, match="no labels `y`: set n_clusters"):
        get_method("pamc").build(unlabeled, {**get_method("pamc").defaults, **TINY})
    with pytest.raises(ValueError, match="clustering evaluation needs labels"):
        train("pamc", unlabeled, config={**TINY, "n_clusters": 2}, run_dir=tmp_path / "e")


def test_binarized_features(tmp_path):
    from graphcl.models.node.scgc import binarize
    x = torch.tensor([[0.0, 0.25, 0.75], [0.5, 0.0, 0.5]])
    torch.testing.assert_close(binarize(x), torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]))
    torch.testing.assert_close(binarize(x.to_sparse_csr()).to_dense(), binarize(x))
    data = blobs()
    data.x = data.x.abs() / data.x.abs().sum(1, keepdim=True)      # row-normalized, as HeCo's ACM file
    model = build_trainer("pamc", data, config={**TINY, "epochs": 1, "binarize_features": True},
                          run_dir=tmp_path / "r", verbose=False).model
    assert set(model.x.unique().tolist()) == {1.0}


def test_presets_are_the_authors():
    pamc, scgc = get_method("pamc"), get_method("scgc")
    assert pamc.presets["citeseer"] == {"alpha": 2.0, "beta": 2.5, "order": 3, "tau": 0.5, "lr": 1e-3}
    assert scgc.presets["citeseer"] == {"alpha": 1.0, "beta": 0.1, "order": 1, "tau": 0.25, "lr": 1e-4}
    assert pamc.presets["acm"]["binarize_features"] and scgc.presets["acm"]["binarize_features"]
    assert pamc.defaults["assignment"] == "soft" and pamc.defaults["epochs"] == 200
    assert pamc.defaults["hidden_dims"] == [500, 500, 2000] and pamc.defaults["n_z"] == 10


@pytest.mark.slow
def test_cli_trains_pamc_on_cora(shared_data, tmp_path, capsys):
    # a small encoder and short schedule (the authors' hard meta-nodes) to keep the test fast
    code = cli_main(["train", "pamc", "--dataset", "cora", "--data-root", str(shared_data),
                     "--threads", "1", "--quiet", "--json", "--run-dir", str(tmp_path / "r"),
                     "--set", "hidden_dims=[256]", "--set", "pretrain_epochs=10", "--set", "pretrain_batch_size=64",
                     "--set", "epochs=30", "--set", "assignment=hard", "--set", "kmeans_init_n=5",
                     "--set", "kmeans_seeds=1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    test = out["test"]
    config = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert config["tau"] == 0.5 and config["order"] == 3          # the CiteSeer preset, borrowed
    # 7 Cora classes; the largest holds 30% of the nodes: a short run is clearly above that
    assert test["clusters_used"] >= 5 and test["acc"] > 0.45 and test["nmi"] > 0.25, test


def test_pretraining_cache(tmp_path):
    data = blobs()
    cfg = {**TINY, "epochs": 1, "pretrain_cache": str(tmp_path / "cache")}
    first = build_trainer("pamc", data, config=cfg, run_dir=tmp_path / "a", verbose=False).model
    assert not first.pretrain_cached
    files = list((tmp_path / "cache").glob("ae-*.pt"))
    assert len(files) == 1
    # SCGC with the same features, widths, settings and seed reuses the file
    second = build_trainer("scgc", data, config=cfg, run_dir=tmp_path / "b", verbose=False).model
    assert second.pretrain_cached and second.pretrain_mse == first.pretrain_mse
    for a, b in zip(first.encoder.state_dict().values(), second.encoder.state_dict().values()):
        assert torch.equal(a, b)
    # ... and equals an uncached pretraining with the same seed
    fresh = build_trainer("pamc", data, config={**cfg, "pretrain_cache": ""}, run_dir=tmp_path / "c",
                          verbose=False).model
    for a, b in zip(first.encoder.state_dict().values(), fresh.encoder.state_dict().values()):
        assert torch.equal(a, b)
    # another seed is another key; a corrupt file is reported and recomputed, never used
    build_trainer("pamc", data, config={**cfg, "seed": 5}, run_dir=tmp_path / "d", verbose=False)
    assert len(list((tmp_path / "cache").glob("ae-*.pt"))) == 2
    files[0].write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="ignoring the pretraining cache file"):
        again = build_trainer("pamc", data, config=cfg, run_dir=tmp_path / "e", verbose=False).model
    assert not again.pretrain_cached and again.pretrain_mse == first.pretrain_mse
    torch.load(files[0], weights_only=True)                   # rewritten, readable
