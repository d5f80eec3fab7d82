"""LightGCL: blockwise logsumexp, SVD view, loss against a dense reference, training."""
from __future__ import annotations

import pytest
import torch
from _rec_helpers import clustered_dataset

from graphcl.config import TRAIN_DEFAULTS, ConfigError
from graphcl.data.interactions import InteractionDataset
from graphcl.losses.logsumexp import blockwise_logsumexp_matmul
from graphcl.models.rec.lightgcl import LIGHTGCL_DEFAULTS, LightGCL
from graphcl.registry import get_method
from graphcl.train import train


# ------------------------------------------------------------------ fixtures
_dataset = clustered_dataset


@pytest.fixture(scope="module")
def tiny() -> InteractionDataset:
    return _dataset(12, 16, 120, seed=1)


@pytest.fixture(scope="module")
def toy() -> InteractionDataset:
    return _dataset(120, 150, 5000, seed=0)


def _model(ds: InteractionDataset, **overrides) -> LightGCL:
    torch.manual_seed(0)  # the embedding initialization
    return LightGCL(ds, {**LIGHTGCL_DEFAULTS, "embedding_dim": 8, "seed": 3, **overrides})


def _double(model: LightGCL) -> LightGCL:
    """The model in float64 (parameters, graph and SVD factors), for exact comparisons."""
    model.double()
    model.graph = model.graph.to(dtype=torch.float64)
    model.graph_t = model.graph.T
    model.svd = model.svd.to(dtype=torch.float64)
    return model


def _batch(ds: InteractionDataset, model: LightGCL, size: int = 40):
    gen = torch.Generator().manual_seed(5)
    model.config["batch_size"] = size
    return next(iter(model.batches(gen)))


# -------------------------------------------------------- blockwise logsumexp
@pytest.mark.parametrize("n,m,block", [(9, 31, 4), (5, 3, 8), (17, 64, 64), (6, 10, 1)])
def test_blockwise_logsumexp_matches_dense(n, m, block):
    g = torch.Generator().manual_seed(n * m)
    q = (3 * torch.randn(n, 7, generator=g, dtype=torch.float64)).requires_grad_()
    k = torch.randn(m, 7, generator=g, dtype=torch.float64).requires_grad_()
    w = torch.randn(n, generator=g, dtype=torch.float64)
    out = blockwise_logsumexp_matmul(q, k, 0.2, block_size=block)
    gq, gk = torch.autograd.grad((out * w).sum(), (q, k))
    ref = torch.logsumexp(q @ k.T / 0.2, 1)
    rq, rk = torch.autograd.grad((ref * w).sum(), (q, k))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(gq, rq, rtol=0, atol=1e-6)
    torch.testing.assert_close(gk, rk, rtol=0, atol=1e-6)


def test_blockwise_logsumexp_gradcheck_and_errors():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: blockwise_logsumexp_matmul(a, b, 0.5, 3), (q, k))
    with pytest.raises(ValueError, match="tau"):
        blockwise_logsumexp_matmul(q, k, 0.0)
    with pytest.raises(ValueError, match="same d"):
        blockwise_logsumexp_matmul(q, k[:, :2])
    with pytest.raises(ValueError, match="no rows"):
        blockwise_logsumexp_matmul(q, k[:0])


# ------------------------------------------------------------------ SVD view
def test_svd_view_is_low_rank_and_never_dense(tiny, monkeypatch):
    from graphcl.augment.svd_view import SVDFactors

    def refuse(self):
        raise AssertionError("the SVD view must not be materialized")
    monkeypatch.setattr(SVDFactors, "to_dense", refuse)
    model = _model(tiny, svd_rank=4)
    assert tuple(model.svd.u.shape) == (tiny.num_users, 4)
    assert tuple(model.svd.v.shape) == (tiny.num_items, 4)
    assert tuple(model.svd.s.shape) == (4,)
    out = model.loss(_batch(tiny, model))
    assert torch.isfinite(out["loss"])
    dense_sizes = {tiny.num_users * tiny.num_items}
    held = [t for t in vars(model.svd).values() if isinstance(t, torch.Tensor)]
    assert all(t.numel() not in dense_sizes for t in held)
    # the factors approximate the *normalized* matrix D_u^-1/2 R D_i^-1/2: top singular value
    # (1 for a normalized bipartite matrix) and an error near the best rank-4 one (randomized SVD)
    r = torch.zeros(tiny.num_users, tiny.num_items)
    r[tiny.train[0], tiny.train[1]] = 1.0
    a = r / r.sum(1, keepdim=True).clamp_min(1).sqrt() / r.sum(0, keepdim=True).clamp_min(1).sqrt()
    a[:, r.sum(0) == 0] = 0.0
    recon = (model.svd.u * model.svd.s) @ model.svd.v.T
    sv = torch.linalg.svdvals(a)
    torch.testing.assert_close(model.svd.s[0], sv[0], rtol=1e-3, atol=1e-4)
    assert float((recon - a).norm()) <= 1.2 * float(sv[4:].pow(2).sum().sqrt())


# --------------------------------------------------- loss vs dense reference
def _reference_loss(model: LightGCL, batch, cfg: dict) -> dict[str, torch.Tensor]:
    """Eq. 1-8 written densely from the dataset's pairs and the model's SVD factors."""
    users, pos, neg = batch
    nu, ni = model.num_users, model.num_items
    r = torch.zeros(nu, ni, dtype=torch.float64)
    r[model._train_pairs[0], model._train_pairs[1]] = 1.0
    du, di = r.sum(1), r.sum(0)
    a = r * torch.where(du > 0, du.rsqrt(), 0.0)[:, None] * torch.where(di > 0, di.rsqrt(), 0.0)[None, :]
    torch.testing.assert_close(model.graph.to_dense().double(), a, rtol=1e-6, atol=1e-7)  # eq. 1
    a = model.graph.to_dense().double()  # same rounding as the model (built in float32)
    a_svd = (model.svd.u.double() * model.svd.s.double()) @ model.svd.v.double().T
    eu = [model.user_embedding.double()]
    ei = [model.item_embedding.double()]
    gu, gi = [eu[0]], [ei[0]]
    for _ in range(int(cfg["num_layers"])):
        gu.append(a_svd @ ei[-1])
        gi.append(a_svd.T @ eu[-1])
        eu, ei = eu + [a @ ei[-1]], ei + [a.T @ eu[-1]]
    tau, clamp = float(cfg["temperature"]), float(cfg["cl_pos_clamp"])

    def nce(g, e, idx):
        if cfg["cl_unique"]:
            idx = torch.unique(idx)
        if cfg["cl_similarity"] == "cosine":
            g, e = torch.nn.functional.normalize(g, dim=1), torch.nn.functional.normalize(e, dim=1)
        keys = e if cfg["contrastive"] == "all" else e[torch.unique(idx)]
        lse = torch.logsumexp(g[idx] @ keys.T / tau, 1)
        p = (g[idx] * e[idx]).sum(1) / tau
        if clamp > 0:
            p = p.clamp(-clamp, clamp)
        return (lse - p).mean()

    items = torch.cat([pos, neg])
    if cfg["cl_layers"] == "final":
        cl = nce(sum(gu), sum(eu), users) + nce(sum(gi), sum(ei), items)
    else:
        cl = sum(nce(gu[l], eu[l], users) + nce(gi[l], ei[l], items) for l in range(len(eu)))
    su, si = sum(eu), sum(ei)
    bpr = -torch.sigmoid((su[users] * si[pos]).sum(1) - (su[users] * si[neg]).sum(1)).log().mean()
    reg = float(cfg["reg_weight"]) * (eu[0].pow(2).sum() + ei[0].pow(2).sum())
    cl = float(cfg["cl_weight"]) * cl
    return {"loss": bpr + cl + reg, "bpr": bpr, "cl": cl, "reg": reg}


@pytest.mark.parametrize("options", [
    {},
    {"contrastive": "in_batch"},
    {"cl_unique": True, "num_layers": 3},
    {"cl_layers": "per_layer", "cl_similarity": "cosine"},
    {"cl_pos_clamp": 0.0, "temperature": 0.05, "reg_weight": 1e-2, "cl_block_size": 3},
])
def test_loss_matches_dense_reference(tiny, options):
    model = _double(_model(tiny, **options))
    with torch.no_grad():  # larger embeddings so that the clamp and the logsumexp matter
        model.user_embedding.mul_(8)
        model.item_embedding.mul_(8)
    batch = _batch(tiny, model)
    assert torch.unique(batch[0]).numel() < batch[0].numel()  # duplicates are exercised
    out = model.loss(batch)
    ref = _reference_loss(model, batch, model.config)
    for key in ("loss", "bpr", "cl", "reg"):
        torch.testing.assert_close(out[key], ref[key], rtol=1e-10, atol=1e-10)
    out["loss"].backward()
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    # gradients agree with the dense reference too
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    _reference_loss(model, batch, model.config)["loss"].backward()
    for g, p in zip(grads, model.parameters()):
        torch.testing.assert_close(g, p.grad, rtol=1e-8, atol=1e-10)


def test_edge_dropout_is_seeded_and_off_at_eval(tiny):
    m1, m2 = _model(tiny, edge_dropout=0.5), _model(tiny, edge_dropout=0.5)
    l1, l2 = m1.loss(_batch(tiny, m1)), m2.loss(_batch(tiny, m2))
    assert float(l1["loss"]) == float(l2["loss"])
    plain = _model(tiny)
    assert float(plain.loss(_batch(tiny, plain))["bpr"]) != float(l1["bpr"])
    m1.eval()
    plain.eval()
    users = torch.arange(tiny.num_users)
    torch.testing.assert_close(m1.full_scores(users), plain.full_scores(users))


# ------------------------------------------------------------------ training
CFG = {"epochs": 6, "batch_size": 256, "embedding_dim": 16, "eval_every": 1}


@pytest.mark.parametrize("contrastive", ["all", "in_batch"])
def test_training_improves_validation(toy, tmp_path, contrastive):
    res = train("lightgcl", toy, config={**CFG, "contrastive": contrastive}, run_dir=tmp_path / "r",
                device="cpu", verbose=False, progress=False)
    first = res.history[0]["ndcg@20"]
    assert res.best_valid["ndcg@20"] > first + 0.02
    # random ranking gives recall@20 ~ 20/150 = 0.13 over the unseen items
    assert res.test["recall@20"] > 0.25


def test_registry_and_defaults():
    spec = get_method("lightgcl")
    assert spec.build is LightGCL and spec.kind == "rec"
    d = spec.defaults
    assert (d["embedding_dim"], d["svd_rank"], d["num_layers"], d["temperature"], d["cl_weight"],
            d["reg_weight"], d["edge_dropout"], d["lr"], d["batch_size"], d["epochs"]) == \
        (64, 5, 2, 0.2, 0.2, 1e-7, 0.0, 1e-3, 4096, 100)
    assert d["contrastive"] == "all" and set(TRAIN_DEFAULTS) <= set(d)


@pytest.mark.parametrize("key,value,match", [
    ("svd_rank", 0, "svd_rank"), ("temperature", 0.0, "temperature"), ("temperature", -1.0, "temperature"),
    ("contrastive", "everything", "contrastive"), ("edge_dropout", 1.0, "edge_dropout"),
    ("svd_rank", 99, "exceeds"), ("cl_layers", "some", "cl_layers"),
])
def test_bad_config_is_rejected(tiny, tmp_path, key, value, match):
    with pytest.raises(ConfigError, match=match):
        train("lightgcl", tiny, config={key: value, "epochs": 1}, run_dir=tmp_path / "r", verbose=False)


def test_resume_matches_uninterrupted_run(toy, tmp_path):
    """The SVD factors are rebuilt from the seed and dropout draws from the checkpointed generator."""
    from graphcl.train import build_trainer
    cfg = {**CFG, "epochs": 3, "edge_dropout": 0.2}
    full = build_trainer("lightgcl", toy, config=cfg, run_dir=tmp_path / "full", device="cpu", verbose=False)
    full_result = full.fit()
    build_trainer("lightgcl", toy, config={**cfg, "epochs": 1}, run_dir=tmp_path / "part", device="cpu",
                  verbose=False).fit()
    resumed = build_trainer("lightgcl", toy, config=cfg, resume=tmp_path / "part", device="cpu", verbose=False)
    assert resumed.fit().test == full_result.test
