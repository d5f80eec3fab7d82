"""MEOW / AdaMEOW models on a hand-made heterogeneous graph, and the CLI on real ACM."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from graphcl.config import merge_config
from graphcl.data.metapath import compose_commuting_matrix
from graphcl.models.node.meow_views import context_operators, mask_entries, masked_graph
from graphcl.registry import get_method
from graphcl.eval.tasks.hetero_probe import HeteroProbeTask
from graphcl.models.node.base import FullGraphBatch


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _toy(n=60, n_a=25, n_s=4, seed=0) -> HeteroData:
    """Papers in 3 classes; authors and subjects mostly shared within a class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    pa = [(i, int(rng.integers(0, 8)) + 8 * y[i]) for i in range(n) for _ in range(2)]
    pa = np.unique(np.array(pa).T, axis=1)
    ps = np.array([np.arange(n), (y + (rng.random(n) < 0.2)) % n_s])
    rel = {"pa": pa, "ps": ps}
    counts = {"p": n, "a": n_a, "s": n_s}
    data = HeteroData()
    x = torch.from_numpy((rng.random((n, 12)) < 0.3).astype(np.float32))
    x[torch.arange(n), torch.from_numpy(y)] += 2.0
    data["paper"].x, data["paper"].num_nodes, data["paper"].featureless = x, n, False
    data["author"].x = torch.from_numpy(rng.random((n_a, 5)).astype(np.float32)).to_sparse_csr()
    data["author"].num_nodes, data["author"].featureless = n_a, False
    idx = torch.arange(n_s)
    data["subject"].x = torch.sparse_csr_tensor(torch.arange(n_s + 1), idx, torch.ones(n_s))
    data["subject"].num_nodes, data["subject"].featureless = n_s, True
    data["paper", "pa", "author"].edge_index = torch.from_numpy(pa)
    data["paper", "ps", "subject"].edge_index = torch.from_numpy(ps)
    for m in ("pap", "psp"):
        c = compose_commuting_matrix(m, rel, counts).tocoo()
        data["paper", m, "paper"].edge_index = torch.from_numpy(np.vstack([c.row, c.col]).astype(np.int64))
        data["paper", m, "paper"].edge_weight = torch.from_numpy(c.data.astype(np.float32))
    data["paper"].y = torch.from_numpy(y)
    order = torch.from_numpy(rng.permutation(n))
    masks = {k: torch.zeros(n, 3, dtype=torch.bool) for k in ("train_mask", "val_mask", "test_mask")}
    for j, r in enumerate((3, 4, 5)):
        masks["train_mask"][order[:3 * r], j] = True
        masks["val_mask"][order[30:45], j] = True
        masks["test_mask"][order[45:], j] = True
    for k, v in masks.items():
        data["paper"][k] = v
    data.name, data.target_type, data.metapaths, data.missing_metapaths = "toy", "paper", ["pap", "psp"], []
    data.type_letters = {"p": "paper", "a": "author", "s": "subject"}
    data.split_ratios, data.num_classes = [3, 4, 5], 3
    return data


def _config(method="meow", **overrides):
    spec = get_method(method)
    base = {"nei_max": [5, 10], "adj_mask": [0.3, 0.2], "hidden_dim": 16, "embed_dim": 8}
    if method == "meow":
        base["cluster_counts"] = [3, 6]
    cfg, _ = merge_config(spec.defaults, {**base, **overrides})
    return spec, cfg


def _train(method, steps=3, seed=0, **overrides):
    torch.manual_seed(seed)
    spec, cfg = _config(method, **overrides)
    model = spec.build(_toy(), cfg, "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        out = model.loss(FullGraphBatch(gen))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"]))
    return model, losses, out


@pytest.mark.parametrize("method,overrides", [("meow", {}), ("meow", {"weighting": "none"}),
                                              ("meow", {"lam_proto": 0.0}), ("adameow", {})])
def test_models_train_and_are_deterministic(method, overrides):
    model, losses, out = _train(method, **overrides)
    assert all(np.isfinite(losses))
    if method == "meow" and overrides.get("lam_proto", 1.0) > 0:
        assert set(out) == {"loss", "info", "proto"}
    emb = model.embed()
    assert emb.shape == (60, 8) and torch.isfinite(emb).all()
    assert torch.equal(emb, model.embed())  # eval mode: no dropout
    beta = model.last_beta
    assert beta.shape == (4,) and torch.isclose(beta.sum(), torch.tensor(1.0))  # 2 meta-paths x 2 views
    _, again, _ = _train(method, **overrides)
    assert again == losses  # same seed, same run


def test_meow_learns_the_toy_classes():
    model, losses, _ = _train("meow", steps=40)
    task = HeteroProbeTask(_toy(), {"cluster": True, "cluster_seeds": 2}, torch.device("cpu"))
    res = task.evaluate(model, "test")
    assert {"macro_f1_3", "micro_f1_5", "auc_4", "nmi", "ari", "micro_f1", "macro_f1"} <= set(res)
    assert res["micro_f1"] > 0.8 and res["auc_3"] > 0.9
    assert task.evaluate(model, "valid").keys() == {"micro_f1"}


def test_context_operator_is_the_mean_over_metapath_neighbours():
    data = _toy()
    (ops_pap, ops_psp) = context_operators(data, ["pap", "psp"], torch.device("cpu"))
    assert [name for name, _ in ops_pap] == ["author"] and [name for name, _ in ops_psp] == ["subject"]
    h = torch.randn(25, 3)
    got = ops_pap[0][1] @ h
    pa = data["paper", "pa", "author"].edge_index
    for i in (0, 7, 59):
        authors = pa[1][pa[0] == i]
        torch.testing.assert_close(got[i], h[authors].mean(0))


def test_factored_context_operators_equal_the_materialized_ones(shared_data):
    """DBLP APCPA: the papers of an author's conferences (10 M pairs) stay the product of the
    author-conference reachability and the paper-conference relation; values and gradients
    equal the materialized row-normalized matrix."""
    import warnings
    from graphcl.data import load
    from graphcl.models.node.meow_views import ChainOperator
    from graphcl.sparse import SparseGraph
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load("dblp", root=shared_data)
    cpu = torch.device("cpu")
    factored = context_operators(data, ["apa", "apcpa"], cpu)
    plain = context_operators(data, ["apa", "apcpa"], cpu, factored=False)
    assert [[type(op).__name__ for _, op in ops] for ops in factored] == \
        [["SparseGraph"], ["SparseGraph", "SparseGraph", "ChainOperator"]]
    assert plain[1][2][1].nnz > 10_000_000
    gen = torch.Generator().manual_seed(0)
    for (name, op), (name2, ref) in zip(factored[1], plain[1]):
        assert name == name2 and op.shape == ref.shape
        h = torch.randn(ref.shape[1], 8, generator=gen, dtype=torch.float32, requires_grad=True)
        got, want = op @ h, ref @ h
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        g = torch.randn(got.shape, generator=gen)
        torch.testing.assert_close(torch.autograd.grad(got, h, g)[0], torch.autograd.grad(want, h, g)[0],
                                   atol=1e-4, rtol=1e-5)
    # the chain's dense form: diag(scale) F1 F2
    f1 = SparseGraph.from_coo(torch.tensor([0, 1, 1]), torch.tensor([1, 0, 1]), None, (2, 2))
    f2 = SparseGraph.from_coo(torch.tensor([0, 1]), torch.tensor([2, 0]), None, (2, 3))
    scale = torch.tensor([1.0, 0.5])
    dense = torch.diag(scale) @ f1.to_dense() @ f2.to_dense()
    torch.testing.assert_close(ChainOperator([f1, f2], scale).to_dense(), dense)
    torch.testing.assert_close(ChainOperator([f1, f2], scale) @ torch.eye(3), dense)
    with pytest.raises(ValueError, match="one scale per row"):
        ChainOperator([f1, f2], torch.ones(3))


def test_masks_drop_the_requested_share():
    ei = torch.tensor([[0, 0, 1, 1, 2, 2, 3, 3, 0, 1, 2, 3], [1, 2, 0, 3, 0, 3, 1, 2, 0, 1, 2, 3]])
    g = masked_graph(ei, 4, 0.25, torch.Generator().manual_seed(0), torch.device("cpu"))
    rows, cols, _ = g.coo()
    assert int((rows != cols).sum()) == 8 - 2 and int((rows == cols).sum()) == 4
    x = torch.ones(5, 8)
    masked = mask_entries(x, 0.3, torch.Generator().manual_seed(0))
    assert int((masked == 0).sum()) == 12 and torch.equal(x, torch.ones(5, 8))  # input untouched
    csr = mask_entries(x.to_sparse_csr(), 0.5, torch.Generator().manual_seed(0))
    assert int((csr.values() == 0).sum()) == 20


def test_heco_positives_option():
    """positives 'heco': with each node its own only positive the loss is MEOW's; with
    same-class positives it differs; without the dataset's pos.npz it is refused."""
    torch.manual_seed(0)
    spec, cfg = _config(weighting="none", lam_proto=0.0)
    data = _toy()
    gen = lambda: FullGraphBatch(torch.Generator().manual_seed(0))  # noqa: E731
    plain = spec.build(data, cfg, "cpu")
    state = plain.state_dict()
    _, heco_cfg = _config(weighting="none", lam_proto=0.0, positives="heco")
    with pytest.raises(ValueError, match="positives 'heco' needs HeCo's pos.npz for dataset 'toy'"):
        spec.build(data, heco_cfg, "cpu")
    data["paper"].positive_index = torch.arange(60).repeat(2, 1)
    heco = spec.build(data, heco_cfg, "cpu")
    heco.load_state_dict(state)
    plain.eval(), heco.eval()  # no dropout: the same views
    torch.testing.assert_close(heco.loss(gen())["loss"], plain.loss(gen())["loss"])
    y = data["paper"].y
    data["paper"].positive_index = (y[:, None] == y[None, :]).nonzero().T.contiguous()
    same_class = spec.build(data, heco_cfg, "cpu")
    same_class.load_state_dict(state)
    same_class.eval()
    assert float(same_class.loss(gen())["loss"]) < float(plain.loss(gen())["loss"]) - 1e-3
    _, bad = _config(positives="all")
    with pytest.raises(ValueError, match="positives must be 'self' or 'heco'"):
        spec.build(_toy(), bad, "cpu")


def test_bad_configs_are_clear_errors():
    spec, cfg = _config(nei_max=[5, 5, 5])
    with pytest.raises(ValueError, match="nei_max has 3 values for 2 meta-paths"):
        spec.build(_toy(), cfg, "cpu")
    spec, cfg = _config(weighting="soft")
    with pytest.raises(ValueError, match="weighting must be 'hard' or 'none'"):
        spec.build(_toy(), cfg, "cpu")
    spec, cfg = _config(metapaths=["pvp"])
    with pytest.raises(ValueError, match="pvp not loaded; available: pap, psp"):
        spec.build(_toy(), cfg, "cpu")
    with pytest.raises(TypeError, match="HeCo-format HeteroData"):
        spec.build(object(), cfg, "cpu")


def test_cli_trains_meow_on_real_acm(shared_data, tmp_path):
    cmd = [sys.executable, "-m", "graphcl.cli", "train", "meow", "--dataset", "acm", "--data-root",
           str(shared_data), "--threads", "1", "--quiet", "--json", "--run-dir", str(tmp_path / "run"),
           "--set", "epochs=8", "--set", "metapaths=[pap]", "--set", "nei_max=[20]",
           "--set", "adj_mask=[0.3]", "--set", "cluster_counts=[10,30]", "--set", "cluster=false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {f"macro_f1_{r}" for r in (20, 40, 60)} <= set(result["test"])
    # The majority class's share of each test split (0.512, 0.514, 0.484 on ACM) is what a
    # constant classifier scores; 8 epochs of MEOW are at 0.74-0.80 (2 epochs: 0.56-0.68).
    acm = shared_data / "hetero" / "heco" / "acm"
    labels = np.load(acm / "labels.npy").astype(np.int64)
    for r in (20, 40, 60):
        majority = np.bincount(labels[np.load(acm / f"test_{r}.npy").astype(np.int64)]).max() / len(
            np.load(acm / f"test_{r}.npy"))
        assert result["test"][f"micro_f1_{r}"] > majority + 0.12, (r, majority, result["test"])
    assert result["test"]["macro_f1"] > 0.6   # a constant classifier: macro-F1 ~ 0.22
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["lr"] == 7e-4 and config["config"]["tau"] == 0.4  # the ACM preset


@pytest.mark.parametrize("mode", ["per-epoch", "fixed"])
def test_kmeans_seed_modes(monkeypatch, mode):
    """``kmeans_seed: fixed`` reuses one k-means seed every epoch (the authors' code);
    ``per-epoch`` draws a new one from the epoch's generator; anything else is refused."""
    import graphcl.models.node.meow as meow_module
    seeds = []
    real = meow_module.cluster_runs

    def spy(z, counts, tau, seed, **kw):
        seeds.append(seed)
        return real(z, counts, tau, seed, **kw)

    monkeypatch.setattr(meow_module, "cluster_runs", spy)
    _train("meow", steps=3, kmeans_seed=mode, seed=0)
    assert len(seeds) == 3
    if mode == "fixed":
        assert len(set(seeds)) == 1
    else:
        assert len(set(seeds)) == 3
    spec, cfg = _config(kmeans_seed="sometimes")
    with pytest.raises(ValueError, match="kmeans_seed must be"):
        spec.build(_toy(), cfg, "cpu")


def test_authors_clustering_options_reach_kmeans(monkeypatch):
    """``kmeans_metric: ip`` and ``concentration: meow-code`` (the authors' faiss inner-product
    clustering and their concentration) are passed to the per-epoch clustering, training
    stays finite, and unknown values are refused before training."""
    import graphcl.models.node.meow as meow_module
    seen = []
    real = meow_module.cluster_runs

    def spy(z, counts, tau, seed, **kw):
        seen.append((kw["metric"], kw["concentration_form"], kw["alpha"]))
        return real(z, counts, tau, seed, **kw)

    monkeypatch.setattr(meow_module, "cluster_runs", spy)
    _, losses, _ = _train("meow", steps=2, kmeans_metric="ip", concentration="meow-code", seed=0)
    assert all(np.isfinite(losses))
    assert seen == [("ip", "meow-code", None)] * 2
    for key, bad, msg in (("kmeans_metric", "cosine", "kmeans_metric must be"),
                          ("concentration", "faiss", "concentration must be")):
        spec, cfg = _config(**{key: bad})
        with pytest.raises(ValueError, match=msg):
            spec.build(_toy(), cfg, "cpu")


def _dense_weighted_info_nce(zc, zf, labels, tau):
    """MEOW eq. 9-10 written out: w_ij = R − #{runs r : labels[r, i] = labels[r, j]} and
    L = −(1/N) Σ_i log(e^{zc_i·zf_i/τ} / Σ_j w_ij e^{zc_i·zf_j/τ}) (w = None: every w_ij = 1)."""
    zc, zf = zc.double(), zf.double()
    n = zc.shape[0]
    total = 0.0
    for i in range(n):
        num = torch.exp(zc[i] @ zf[i] / tau)
        den = 0.0
        for j in range(n):
            w = 1.0 if labels is None else labels.shape[0] - int((labels[:, i] == labels[:, j]).sum())
            den = den + w * torch.exp(zc[i] @ zf[j] / tau)
        total = total - torch.log(num / den)
    return float(total / n)


def test_hard_weights_change_the_loss_by_the_dense_formula(monkeypatch):
    """``weighting: hard`` divides by Σ_j w_ij e^{s_ij/τ} with the k-means weights of that epoch,
    ``none`` by the plain Σ_j e^{s_ij/τ}: each loss equals its literal formula on the model's own
    views, and the two differ by what the formulas say (a model that ignored the weights
    would give the ``none`` value for both)."""
    import graphcl.models.node.meow as meow_module
    runs = []
    real = meow_module.cluster_runs

    def spy(z, counts, tau, seed, **kw):
        runs.append(real(z, counts, tau, seed, **kw))
        return runs[-1]

    monkeypatch.setattr(meow_module, "cluster_runs", spy)
    losses = {}
    for weighting in ("hard", "none"):
        torch.manual_seed(0)
        spec, cfg = _config(weighting=weighting, lam_proto=0.0, tau=0.3, loss_block_size=7)
        model = spec.build(_toy(), cfg, "cpu")
        model.eval()                                   # no dropout: views() is deterministic
        with torch.no_grad():
            got = float(model.step_loss(torch.Generator().manual_seed(1))["loss"])
            z_coarse, z_fine = model.views()
            zc, zf = model.projected(z_coarse), model.projected(z_fine)
        labels = runs[-1].labels if weighting == "hard" else None
        if weighting == "hard":
            assert len(runs) == 1 and tuple(labels.shape) == (2, 60)   # cluster_counts [3, 6]
        else:
            assert len(runs) == 1                      # no k-means without weights or prototypes
        want = _dense_weighted_info_nce(zc, zf, labels, 0.3)
        assert abs(got - want) < 1e-4, (weighting, got, want)
        losses[weighting] = (got, want)
    gap = losses["hard"][1] - losses["none"][1]
    assert abs(gap) > 0.05                             # the weights matter on this graph
    assert abs((losses["hard"][0] - losses["none"][0]) - gap) < 2e-4
