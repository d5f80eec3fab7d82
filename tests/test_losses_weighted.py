"""Weighted InfoNCE (MEOW hard weights, AdaMEOW soft weights) and the prototypical loss:
blockwise forms equal the dense ones, values and gradients."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses.prototypical import ClusterResult, cluster_runs, concentration, prototypical_loss
from graphcl.losses import soft_weighted
from graphcl.losses.soft_weighted import (PairwiseWeightMLP, soft_weighted_info_nce, soft_weighted_info_nce_dense,
                                          soft_weighted_lse)
from graphcl.losses.weighted import (ClusterWeights, cluster_weights_dense, weighted_info_nce,
                                     weighted_info_nce_dense)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _views(n=37, d=8, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=1).requires_grad_()
    k = F.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=1).requires_grad_()
    return q, k


def test_hard_weights_equal_the_formula():
    gen = torch.Generator().manual_seed(1)
    labels = torch.stack([torch.randint(4, (23,), generator=gen), torch.randint(7, (23,), generator=gen),
                          torch.randint(2, (23,), generator=gen)])
    w = cluster_weights_dense(labels)
    for i in range(23):
        for j in range(23):
            shared = sum(int(labels[r, i] == labels[r, j]) for r in range(3))
            assert w[i, j] == 3 - shared
    assert torch.all(w.diagonal() == 0)  # a node never is its own negative
    fn = ClusterWeights(labels)
    torch.testing.assert_close(torch.cat([fn(0, 10), fn(10, 23)]), w)


@pytest.mark.parametrize("block_size", [1, 5, 16, 37, 100])
def test_blockwise_weighted_info_nce_equals_dense(block_size):
    q, k = _views()
    labels = torch.stack([torch.arange(37) % 5, torch.arange(37) % 11])
    dense = weighted_info_nce_dense(q, k, cluster_weights_dense(labels), tau=0.4)
    gq, gk = torch.autograd.grad(dense, (q, k))
    block = weighted_info_nce(q, k, ClusterWeights(labels, dtype=torch.float64), tau=0.4,
                              block_size=block_size)
    bq, bk = torch.autograd.grad(block, (q, k))
    torch.testing.assert_close(block, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(bq, gq, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(bk, gk, atol=1e-5, rtol=1e-5)


def test_float32_blockwise_matches_float64_dense():
    q, k = _views(n=300, d=16, seed=3)
    labels = torch.randint(20, (2, 300), generator=torch.Generator().manual_seed(0))
    dense = weighted_info_nce_dense(q, k, cluster_weights_dense(labels), tau=0.2)
    gq, gk = torch.autograd.grad(dense, (q, k))
    q32, k32 = q.detach().float().requires_grad_(), k.detach().float().requires_grad_()
    block = weighted_info_nce(q32, k32, ClusterWeights(labels), tau=0.2, block_size=64)
    bq, bk = torch.autograd.grad(block, (q32, k32))
    assert abs(float(block) - float(dense)) < 1e-5
    torch.testing.assert_close(bq.double(), gq, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(bk.double(), gk, atol=1e-5, rtol=1e-4)


def test_unweighted_is_plain_info_nce():
    q, k = _views()
    plain = weighted_info_nce(q, k, None, tau=0.5, block_size=8)
    reference = F.cross_entropy(q @ k.T / 0.5, torch.arange(37))
    torch.testing.assert_close(plain, reference)
    g1 = torch.autograd.grad(plain, (q, k))
    g2 = torch.autograd.grad(reference, (q, k))
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)


def test_weighted_info_nce_errors():
    q, k = _views(n=6)
    with pytest.raises(ValueError, match="zero weight on every key"):
        weighted_info_nce(q, k, ClusterWeights(torch.zeros(2, 6, dtype=torch.long)), tau=0.5)
    with pytest.raises(ValueError, match="equal shape"):
        weighted_info_nce(q, k[:5], None)
    with pytest.raises(ValueError, match="tau"):
        weighted_info_nce(q, k, None, tau=0.0)


@pytest.mark.parametrize("block_size", [1, 7, 64])
def test_adameow_blockwise_soft_loss_equals_dense(block_size):
    torch.manual_seed(0)
    q, k = _views(n=29, d=6, seed=5)
    mlp = PairwiseWeightMLP(6).double()
    params = [q, k, *mlp.parameters()]
    dense = soft_weighted_info_nce_dense(q, k, mlp, tau=0.7)
    g_dense = torch.autograd.grad(dense, params)
    block = soft_weighted_info_nce(q, k, mlp, tau=0.7, block_size=block_size)
    g_block = torch.autograd.grad(block, params)
    torch.testing.assert_close(block, dense, atol=1e-5, rtol=1e-5)
    for a, b in zip(g_block, g_dense):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # the pair MLP sees q_i + k_j literally in the reference
    w = mlp.dense(q, k)
    assert w.shape == (29, 29) and bool(((w > 0) & (w < 1)).all())
    with torch.no_grad():  # no checkpointing needed when nothing is differentiated
        torch.testing.assert_close(soft_weighted_info_nce(q, k, mlp, 0.7, block_size), dense.detach())


@pytest.mark.parametrize("chunk_elements", [1, 6 * 29, 5 * 6 * 29, 1 << 17])
@pytest.mark.parametrize("block_size", [1, 7, 29])
def test_adameow_soft_lse_any_weighting_and_chunking_equals_dense(monkeypatch, chunk_elements, block_size):
    """Every chunk height (1 row, 1 row per chunk at hidden 6, 5 rows with a ragged last chunk,
    whole blocks) and both gradient paths: uniform g (gradients formed in the forward pass) and
    signed, unequal g (recomputed in the backward) equal the literal dense form."""
    monkeypatch.setattr(soft_weighted, "CHUNK_PAIR_ELEMENTS", chunk_elements)
    torch.manual_seed(1)
    q, k = _views(n=29, d=5, seed=9)
    mlp = PairwiseWeightMLP(5, hidden=6).double()
    params = [q, k, *mlp.parameters()]
    x = q @ k.T / 0.6 + torch.log(mlp.dense(q, k))
    dense_lse = torch.logsumexp(x, 1)
    lse = soft_weighted_lse(q, k, mlp, tau=0.6, block_size=block_size)
    torch.testing.assert_close(lse, dense_lse, atol=1e-12, rtol=1e-12)
    signed = torch.linspace(-1.0, 2.0, 29, dtype=torch.float64)
    for g in (torch.full((29,), 0.3, dtype=torch.float64), signed):
        want = torch.autograd.grad((dense_lse * g).sum(), params, retain_graph=True)
        got = torch.autograd.grad((soft_weighted_lse(q, k, mlp, 0.6, block_size) * g).sum(), params)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_adameow_soft_loss_float32_error_is_that_of_the_literal_form():
    """At float32 (the training precision), the sigmoid form of tanh and the chunked sums are as
    close to the float64 truth as the literal (N, N, d) form computed in float32 is."""
    gen = torch.Generator().manual_seed(3)
    n, d = 600, 64
    q0 = F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1)
    k0 = F.normalize(q0 + 0.5 * torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1)
    torch.manual_seed(3)
    mlp32 = PairwiseWeightMLP(d)

    def run(fn, dtype):
        mlp = PairwiseWeightMLP(d).to(dtype)
        mlp.load_state_dict({key: v.to(dtype) for key, v in mlp32.state_dict().items()})
        q, k = q0.to(dtype).clone().requires_grad_(), k0.to(dtype).clone().requires_grad_()
        loss = fn(q, k, mlp, tau=1.0)
        loss.backward()
        return [loss.detach(), q.grad, k.grad, *(p.grad for p in mlp.parameters())]

    truth = run(soft_weighted_info_nce_dense, torch.float64)
    literal = run(soft_weighted_info_nce_dense, torch.float32)
    ours = run(soft_weighted_info_nce, torch.float32)
    for t, lit, got in zip(truth, literal, ours):
        err_literal = float((lit.double() - t).abs().max())
        err_ours = float((got.double() - t).abs().max())
        assert err_ours <= 4 * err_literal + 1e-9 * float(t.abs().max()), (err_ours, err_literal)


def test_prototypical_loss_and_concentration():
    gen = torch.Generator().manual_seed(0)
    centers = F.normalize(torch.randn(4, 5, generator=gen), dim=1) * 3
    x = torch.cat([c + 0.1 * torch.randn(30, 5, generator=gen) for c in centers])
    clusters = cluster_runs(x, [4, 6], tau=0.4, seed=0)
    assert clusters.labels.shape == (2, 120)
    for phi in clusters.phis:
        assert torch.isclose(phi.mean(), torch.tensor(0.4)) and bool((phi > 0).all())
    z = F.normalize(x, dim=1).requires_grad_()
    loss = prototypical_loss(z, clusters)
    manual = 0.0
    for labels, c, phi in zip(clusters.labels, clusters.centroids, clusters.phis):
        logits = (z @ c.T) / phi
        manual = manual - (logits.gather(1, labels[:, None]).squeeze(1) - logits.logsumexp(1)).mean()
    torch.testing.assert_close(loss, manual / 2)
    loss.backward()
    assert torch.isfinite(z.grad).all()
    # same seed, same clustering (determinism)
    again = cluster_runs(x, [4, 6], tau=0.4, seed=0)
    assert torch.equal(again.labels, clusters.labels)
    # a tight cluster has a smaller concentration than a loose one
    pts = torch.cat([torch.zeros(10, 2) + 0.01 * torch.randn(10, 2, generator=gen),
                     torch.ones(10, 2) + 1.0 * torch.randn(10, 2, generator=gen)])
    lab = torch.tensor([0] * 10 + [1] * 10)
    cen = torch.stack([pts[:10].mean(0), pts[10:].mean(0)])
    phi = concentration(pts, lab, cen, tau=1.0)
    assert phi[0] < phi[1]
    assert isinstance(clusters, ClusterResult)


def test_inner_product_kmeans_is_a_fixed_point_of_faiss_ip_clustering():
    """``metric="ip"`` (MEOW's faiss IndexFlatIP clustering): every point sits with the
    centre of largest inner product, each centre is the plain mean of its points, and
    the partition can differ from Euclidean k-means (a long centre attracts more)."""
    from graphcl.eval.clustering import kmeans
    gen = torch.Generator().manual_seed(3)
    mus = F.normalize(torch.randn(5, 6, generator=gen), dim=1)
    spread = [0.1, 0.3, 0.6, 1.0, 1.5]  # tight clusters have long mean vectors, loose ones short
    x = F.normalize(torch.cat([mus[k] + spread[k] * torch.randn(40, 6, generator=gen) for k in range(5)]),
                    dim=1)
    labels, centers = kmeans(x, 5, n_init=3, max_iter=100, seed=0, init="random", metric="ip", tol=0.0)
    assert labels.shape == (200,) and centers.shape == (5, 6)
    assert torch.equal(labels, (x @ centers.T).argmax(1))
    for j in range(5):
        assert bool((labels == j).any())
        torch.testing.assert_close(centers[j], x[labels == j].mean(0))
    again = kmeans(x, 5, n_init=3, max_iter=100, seed=0, init="random", metric="ip", tol=0.0)
    assert torch.equal(again[0], labels)
    # Euclidean k-means on the same data is not such a fixed point: the two rules differ
    l2_labels, l2_centers = kmeans(x, 5, n_init=3, max_iter=100, seed=0, init="random", tol=0.0)
    assert not torch.equal(l2_labels, (x @ l2_centers.T).argmax(1))
    with pytest.raises(ValueError, match="metric must be"):
        kmeans(x, 3, metric="cosine")


def test_meow_code_concentration_matches_its_formula():
    """``form="meow-code"``: φ_k = mean_i √(v_i·c_k) / log(n_k + 5), singletons get the
    largest φ, clipped to the 10th/90th percentiles, rescaled to mean τ."""
    gen = torch.Generator().manual_seed(1)
    x = F.normalize(torch.randn(40, 4, generator=gen).abs(), dim=1)
    labels = torch.cat([torch.zeros(15), torch.ones(12), torch.full((12,), 2), torch.full((1,), 3)]).long()
    cen = torch.stack([x[labels == k].mean(0) for k in range(4)])
    phi = concentration(x, labels, cen, tau=0.5, form="meow-code")
    raw = []
    for k in range(3):
        pts = x[labels == k]
        n = pts.shape[0]
        raw.append(float((pts @ cen[k]).sqrt().mean()) / math.log(n + 5))
    raw.append(max(raw))
    raw = torch.tensor(raw)
    raw = raw.clamp(torch.quantile(raw, 0.1), torch.quantile(raw, 0.9))
    torch.testing.assert_close(phi, 0.5 * raw / raw.mean())
    # a negative similarity is clamped at 0 instead of producing NaN
    neg = concentration(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]),
                        torch.tensor([0, 0, 1, 1]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), tau=1.0,
                        form="meow-code")
    assert torch.isfinite(neg).all()
    with pytest.raises(ValueError, match="concentration form"):
        concentration(x, labels, cen, tau=0.5, form="faiss")
