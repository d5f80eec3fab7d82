"""DCCF: per-edge sparse ops and mask views (gradcheck), loss parts, sampling, training."""
from __future__ import annotations

import pytest
import torch
from _rec_helpers import clustered_dataset
from torch.nn import functional as F

from graphcl.config import ConfigError
from graphcl.data.interactions import InteractionDataset
from graphcl.models.rec.dccf import (DCCF, DCCF_DEFAULTS, EdgeStructure, adaptive_mask, edge_dot,
                                     edge_spmm)
from graphcl.registry import get_method
from graphcl.train import build_trainer


# ------------------------------------------------------------------ fixtures
pytestmark = pytest.mark.usefixtures("one_torch_thread")


_dataset = clustered_dataset


@pytest.fixture(scope="module")
def tiny() -> InteractionDataset:
    return _dataset(7, 9, 40, seed=1)


@pytest.fixture(scope="module")
def toy() -> InteractionDataset:
    return _dataset(120, 150, 5000, seed=0)


def _model(ds: InteractionDataset, double: bool = False, **overrides) -> DCCF:
    torch.manual_seed(0)
    cfg = {**DCCF_DEFAULTS, "embedding_dim": 6, "num_intents": 4, "batch_size": 16,
           "batches_per_epoch": 2, **overrides}
    model = DCCF(ds, cfg)
    if double:
        model.double()
        # larger embeddings than Xavier's on a tiny table, so the cosines vary
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(generator=torch.Generator().manual_seed(p.numel()))
    return model


def _structure(n_rows: int, n_cols: int, density: float, seed: int) -> EdgeStructure:
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(n_rows, n_cols, generator=g) < density
    mask[0, 0] = True
    rows, cols = mask.nonzero(as_tuple=True)
    return EdgeStructure(rows, cols, (n_rows, n_cols))


def _dense(s: EdgeStructure, values: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(s.shape, dtype=values.dtype)
    return out.index_put((s.rows, s.cols), values)


# ----------------------------------------------------------- per-edge sparse ops
@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (6, 3)])
def test_edge_spmm_gradcheck_values_and_x(shape):
    s = _structure(*shape, 0.5, seed=sum(shape))
    g = torch.Generator().manual_seed(1)
    v = torch.randn(s.num_edges, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(shape[1], 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, x: edge_spmm(s, v, x), (v, x))
    torch.testing.assert_close(edge_spmm(s, v, x), _dense(s, v) @ x)


def test_edge_dot_gradcheck_and_value():
    s = _structure(5, 4, 0.6, seed=3)
    g = torch.Generator().manual_seed(2)
    a = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: edge_dot(s, a, b), (a, b))
    torch.testing.assert_close(edge_dot(s, a, b), (a @ b.T)[s.rows, s.cols])


def test_edge_structure_rejects_unsorted_edges():
    with pytest.raises(ValueError, match="CSR order"):
        EdgeStructure(torch.tensor([1, 0]), torch.tensor([0, 1]), (2, 2))
    with pytest.raises(ValueError, match="out of range"):
        EdgeStructure(torch.tensor([0, 2]), torch.tensor([0, 1]), (2, 2))


def test_adaptive_mask_is_per_edge_and_row_normalized(tiny):
    model = _model(tiny)
    n = tiny.num_users + tiny.num_items
    values = adaptive_mask(model.edges, torch.randn(n, 6))
    assert model.edges.num_edges == model.graph.nnz
    assert values.shape == (model.graph.nnz,)  # one value per edge, never N x N
    assert bool((values >= 0).all()) and bool((values <= 1).all())
    row_sum = torch.zeros(n).index_add(0, model.edges.rows, values)
    has_edges = torch.bincount(model.edges.rows, minlength=n) > 0
    torch.testing.assert_close(row_sum[has_edges], torch.ones(int(has_edges.sum())))
    assert bool((row_sum[~has_edges] == 0).all())


def test_mask_views_gradcheck(tiny):
    """H = D^-1 α(x) E with α from cos of x on the edges: gradient in x (through the mask
    values) and in E, in float64."""
    model = _model(tiny, double=True)
    s = model.edges
    g = torch.Generator().manual_seed(4)
    n = tiny.num_users + tiny.num_items
    x = torch.randn(n, 3, generator=g, dtype=torch.float64, requires_grad=True)
    e = torch.randn(n, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: adaptive_mask(s, x), (x,))  # the per-edge mask values
    assert torch.autograd.gradcheck(lambda x, e: edge_spmm(s, adaptive_mask(s, x), e), (x, e))
    # both views of a DCCF layer as functions of E^l (mask from Z = ĜE^l and from R(E^l))
    emb = torch.randn(n, 6, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda e: (model.layer(e)["h_beta"], model.layer(e)["h_gamma"]),
                                    (emb,))


def _dense_layer(model: DCCF, emb: torch.Tensor) -> dict[str, torch.Tensor]:
    """The four views with dense matrices (reference)."""
    adj = model.graph.to_dense()
    z = adj @ emb
    nu = model.num_users
    r = torch.cat([torch.softmax(emb[:nu] @ model.user_intent, 1) @ model.user_intent.T,
                   torch.softmax(emb[nu:] @ model.item_intent, 1) @ model.item_intent.T])

    def masked(x):
        xn = F.normalize(x, dim=1)
        alpha = (xn @ xn.T + 1) / 2 * (adj != 0)
        deg = alpha.sum(1, keepdim=True)
        return (alpha / deg.clamp_min(1e-300)) @ emb  # rows without edges: alpha = 0

    return {"z": z, "r": r, "h_beta": masked(z), "h_gamma": masked(r)}


def test_layer_matches_dense_reference_values_and_gradients(tiny):
    model = _model(tiny, double=True)
    n = tiny.num_users + tiny.num_items
    emb = torch.randn(n, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64,
                      requires_grad=True)
    w = torch.randn(n, 6, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    ours, ref = model.layer(emb), _dense_layer(model, emb)
    params = [emb, model.user_intent, model.item_intent]
    for key in ("z", "r", "h_beta", "h_gamma"):
        torch.testing.assert_close(ours[key], ref[key])
        g_ours = torch.autograd.grad((ours[key] * w).sum(), params, retain_graph=True, allow_unused=True)
        g_ref = torch.autograd.grad((ref[key] * w).sum(), params, retain_graph=True, allow_unused=True)
        for a, b in zip(g_ours, g_ref):
            if b is None:
                assert a is None or bool((a == 0).all())
            else:
                torch.testing.assert_close(a, b)
    # E^{l+1} = E^l + Z + R + H^β + H^γ; E = Σ_l E^l
    total, views = model.propagate()
    e0 = model.ego()
    e1 = e0 + sum(views[0].values())
    e2 = e1 + sum(views[1].values())
    torch.testing.assert_close(total, e0 + e1 + e2)


def test_mask_grad_option_detaches_the_mask(tiny):
    model = _model(tiny, double=True, mask_grad=False)
    emb = model.ego().detach().requires_grad_()
    h = model.layer(emb)["h_gamma"]
    (g_proto,) = torch.autograd.grad(h.sum(), [model.user_intent], allow_unused=True)
    assert g_proto is None  # R feeds H^γ only through the (detached) mask


# --------------------------------------------------------------------- the loss
def _naive_info_nce(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """−(1/n) Σ_i log(e^{cos(a_i, b_i)/τ} / Σ_j e^{cos(a_i, b_j)/τ}), one row at a time."""
    total = 0.0
    for i in range(a.size(0)):
        cos = F.cosine_similarity(a[i:i + 1], b, dim=1)        # (n,)
        total = total - torch.log(torch.exp(cos[i] / tau) / torch.exp(cos / tau).sum())
    return total / a.size(0)


@pytest.mark.parametrize("tau,block", [(1.0, 0), (0.2, 0), (0.5, 3)])
def test_loss_parts_follow_their_formulas(tiny, tau, block):
    model = _model(tiny, double=True, emb_reg=0.01, cen_reg=0.02, ssl_reg=0.3, temperature=tau,
                   cl_block_size=block)
    batch = next(iter(model.batches(torch.Generator().manual_seed(7))))
    users, pos, neg = batch
    out = model.loss(batch)
    assert set(out) == {"loss", "bpr", "emb", "cen", "cl"}
    assert all(bool(torch.isfinite(v)) for v in out.values())
    torch.testing.assert_close(out["loss"], out["bpr"] + out["emb"] + out["cen"] + out["cl"])
    ego_u, ego_i = model.user_embedding.weight, model.item_embedding.weight
    emb = 0.01 * (ego_u[users].pow(2).sum() + ego_i[pos].pow(2).sum() + ego_i[neg].pow(2).sum())
    torch.testing.assert_close(out["emb"], emb)
    cen = 0.02 * (model.user_intent.pow(2).sum() + model.item_intent.pow(2).sum())
    torch.testing.assert_close(out["cen"], cen)
    total, views = model.propagate()
    eu, ei = total[:tiny.num_users], total[tiny.num_users:]
    bpr = -torch.log(torch.sigmoid((eu[users] * ei[pos]).sum(1) - (eu[users] * ei[neg]).sum(1))).mean()
    torch.testing.assert_close(out["bpr"], bpr)
    uu, ii = torch.unique(users), torch.unique(pos) + tiny.num_users  # code: positives only
    cl = sum(_naive_info_nce(v["z"][idx], v[k][idx], tau)
             for v in views for idx in (uu, ii) for k in ("r", "h_beta", "h_gamma"))
    torch.testing.assert_close(out["cl"], 0.3 * cl)
    # options: batch-mean embedding regularizer, items = positives and negatives
    model.config.update(emb_reg_norm="mean", cl_items="pos_neg")
    out2 = model.loss(batch)
    torch.testing.assert_close(out2["emb"], emb / users.numel())
    ii2 = torch.unique(torch.cat([pos, neg])) + tiny.num_users
    cl2 = sum(_naive_info_nce(v["z"][idx], v[k][idx], tau)
              for v in views for idx in (uu, ii2) for k in ("r", "h_beta", "h_gamma"))
    torch.testing.assert_close(out2["cl"], 0.3 * cl2)


# ------------------------------------------------------------------- sampling
def test_sampled_batches(toy):
    for mode in ("user", "pair"):
        model = _model(toy, batch_size=64, batches_per_epoch=3, batch_sampling=mode)
        batches = list(model.batches(torch.Generator().manual_seed(0)))
        assert len(batches) == model.num_batches() == 3
        train_pairs = set(zip(*toy.train.tolist()))            # the training interactions, literally
        for users, pos, neg in batches:
            assert users.shape == pos.shape == neg.shape == (64,)
            for u, i, j in zip(users.tolist(), pos.tolist(), neg.tolist()):
                assert (u, i) in train_pairs                      # a positive is a training pair
                assert 0 <= j < toy.num_items and (u, j) not in train_pairs   # a negative is not


def test_full_pass_batches(toy):
    model = _model(toy, batch_size=500, batches_per_epoch=0)
    batches = list(model.batches(torch.Generator().manual_seed(0)))
    assert len(batches) == model.num_batches() == -(-toy.train.size(1) // 500)
    seen = torch.cat([torch.stack([u, p]) for u, p, _ in batches], 1)
    key = lambda p: torch.sort(p[0] * toy.num_items + p[1]).values
    assert torch.equal(key(seen), key(toy.train))


# -------------------------------------------------------------- config, registry
def test_registry_and_config_errors(tiny):
    spec = get_method("dccf")
    assert spec.build is DCCF and spec.kind == "rec"
    d = spec.defaults
    assert (d["embedding_dim"], d["num_layers"], d["num_intents"], d["batch_size"],
            d["batches_per_epoch"], d["temperature"]) == (32, 2, 128, 10240, 40, 1.0)
    assert (d["emb_reg"], d["cen_reg"], d["ssl_reg"], d["lr"]) == (2.5e-5, 5e-3, 0.1, 1e-3)
    assert spec.presets["gowalla"]["epochs"] == 150
    for key, bad in [("num_intents", 0), ("embedding_dim", 0), ("temperature", 0.0),
                     ("ssl_reg", -1.0), ("batches_per_epoch", -1), ("batch_sampling", "x"),
                     ("cl_items", "neg"), ("emb_reg_norm", "l1"), ("num_layers", -1)]:
        with pytest.raises(ConfigError, match=key):
            _model(tiny, **{key: bad})


# ------------------------------------------------------------------- training
def test_training_improves_validation_ndcg(toy, tmp_path):
    cfg = {"embedding_dim": 16, "num_intents": 8, "batch_size": 512, "batches_per_epoch": 10,
           "lr": 5e-3, "epochs": 4, "patience": 4, "eval_every": 1, "seed": 1}
    trainer = build_trainer("dccf", toy, config=cfg, device="cpu", run_dir=tmp_path / "run",
                            progress=False, verbose=False)
    before = trainer.evaluate("valid")["ndcg@20"]
    result = trainer.fit()
    assert result.best_valid["ndcg@20"] > before + 0.02
    assert all(torch.isfinite(torch.tensor(v)) for v in result.test.values())
    model = trainer.model
    model.eval()
    scores = model.full_scores(torch.arange(5))
    assert scores.shape == (5, toy.num_items)


def test_full_scores_are_the_dense_propagation_dot_products(tiny):
    """score(u, i) = e_u · e_i with E = Σ_{l=0..L} E^l, E^{l+1} = E^l + Z + R + H^β + H^γ, every view
    from dense matrices (:func:`_dense_layer`), for all users at once."""
    model = _model(tiny, double=True)
    model.eval()
    emb = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    total = emb
    with torch.no_grad():
        for _ in range(model.num_layers):
            v = _dense_layer(model, emb)
            emb = emb + v["z"] + v["r"] + v["h_beta"] + v["h_gamma"]
            total = total + emb
        want = total[:tiny.num_users] @ total[tiny.num_users:].T
        got = model.full_scores(torch.arange(tiny.num_users))
    assert model.num_layers == 2
    torch.testing.assert_close(got, want)
    assert float(want.std()) > 0.1                               # the scores do vary
    torch.testing.assert_close(model.full_scores(torch.tensor([4, 1])), want[[4, 1]])
