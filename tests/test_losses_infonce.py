"""GRACE / CSGCL InfoNCE loss: dense reference vs exact blockwise autograd Function."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses import grace_loss, info_nce


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _naive_grace(z1, z2, tau, bias=None):
    """Literal per-node transcription of GRACE's ℓ(u_i, v_i) (METHODS.md), for small N."""
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    n = u.shape[0]
    b = torch.zeros(n, dtype=u.dtype) if bias is None else bias

    def s(a, c, i, k):
        return (a[i] @ c[k] + b[i] + b[k]) / tau

    total = 0.0
    for a, c in ((u, v), (v, u)):
        for i in range(n):
            denom = sum(torch.exp(s(a, c, i, k)) for k in range(n))
            denom = denom + sum(torch.exp(s(a, a, i, k)) for k in range(n) if k != i)
            total = total - torch.log(torch.exp(s(a, c, i, i)) / denom)
    return total / (2 * n)


def _pair(n, d, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=dtype).requires_grad_()
    z2 = torch.randn(n, d, generator=g, dtype=dtype).requires_grad_()
    return z1, z2


@pytest.mark.parametrize("with_bias", [False, True])
def test_dense_matches_literal_formula(with_bias):
    z1, z2 = _pair(7, 4, torch.float64)
    bias = torch.linspace(-0.3, 0.5, 7, dtype=torch.float64) if with_bias else None
    got = grace_loss(z1, z2, 0.4, node_bias=bias, method="dense")
    assert torch.allclose(got, _naive_grace(z1, z2, 0.4, bias), atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("n,block", [(203, 64), (50, 7), (33, 100), (16, 1)])
def test_blockwise_equals_dense(dtype, with_bias, n, block):
    z1, z2 = _pair(n, 12, dtype, seed=n)
    bias = (torch.rand(n, generator=torch.Generator().manual_seed(1), dtype=dtype) * 2 - 1
            if with_bias else None)
    dense = grace_loss(z1, z2, 0.3, node_bias=bias, method="dense")
    g_dense = torch.autograd.grad(dense, (z1, z2))
    block_loss = grace_loss(z1, z2, 0.3, node_bias=bias, method="blockwise", block_size=block)
    g_block = torch.autograd.grad(block_loss, (z1, z2))
    assert abs(dense.item() - block_loss.item()) < 1e-5
    for a, b in zip(g_dense, g_block):
        assert (a - b).abs().max().item() < 1e-5
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_blockwise_gradcheck():
    z1, z2 = _pair(9, 3, torch.float64)
    bias = torch.rand(9, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, b: grace_loss(a, b, 0.5, node_bias=bias, method="blockwise", block_size=4),
        (z1, z2))


def test_blockwise_gradient_scaled_by_upstream():
    z1, z2 = _pair(20, 5, torch.float64)
    (3.0 * grace_loss(z1, z2, method="blockwise", block_size=6)).backward()
    g3 = z1.grad.clone()
    z1.grad = None
    grace_loss(z1, z2, method="dense").backward()
    assert torch.allclose(g3, 3 * z1.grad, atol=1e-12)


def test_auto_method_and_small_tau_stable():
    z1, z2 = _pair(40, 8, torch.float32)
    assert torch.allclose(grace_loss(z1, z2), grace_loss(z1, z2, method="dense"))
    low = grace_loss(z1, z2, tau=0.01, method="blockwise", block_size=16)
    assert torch.isfinite(low)
    assert torch.allclose(low, grace_loss(z1, z2, tau=0.01, method="dense"), rtol=1e-5)


def test_identical_views_lower_loss_and_bounds():
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    same = grace_loss(z, z.clone(), 0.5)
    other = grace_loss(z, torch.randn(64, 16), 0.5)
    assert same < other
    # ℓ >= −log(e^{1/τ} / (e^{1/τ} + (2N−2) e^{−1/τ}))-style sanity: loss positive, <= log(2N−1) + 2/τ
    assert 0 < other.item() < math.log(127) + 2 / 0.5


def test_bias_constant_per_anchor_cancels():
    """A uniform bias b_i = c shifts every term of a row equally: the loss is unchanged."""
    z1, z2 = _pair(30, 6, torch.float64)
    base = grace_loss(z1, z2, 0.5)
    shifted = grace_loss(z1, z2, 0.5, node_bias=torch.full((30,), 0.7, dtype=torch.float64))
    assert torch.allclose(base, shifted)


def test_errors():
    z1, z2 = _pair(5, 3, torch.float32)
    with pytest.raises(ValueError, match="method"):
        grace_loss(z1, z2, method="sparse")
    with pytest.raises(ValueError, match="node_bias"):
        grace_loss(z1, z2, node_bias=torch.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        grace_loss(z1, z2[:4])


def test_info_nce_aligned_and_indexed():
    q, k = _pair(10, 4, torch.float64)
    aligned = info_nce(q, k, 0.2)
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / 0.2
    ref = (logits.logsumexp(1) - logits.diagonal()).mean()
    assert torch.allclose(aligned, ref)
    perm = torch.randperm(10)
    assert torch.allclose(info_nce(q, k[perm], 0.2, positive_index=torch.argsort(perm)), ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_bias", [False, True])
def test_fused_equals_dense(dtype, with_bias):
    n = 157
    z1, z2 = _pair(n, 12, dtype, seed=3)
    bias = (torch.rand(n, generator=torch.Generator().manual_seed(2), dtype=dtype) * 2 - 1
            if with_bias else None)
    dense = grace_loss(z1, z2, 0.3, node_bias=bias, method="dense")
    g_dense = torch.autograd.grad(dense, (z1, z2))
    fused = grace_loss(z1, z2, 0.3, node_bias=bias, method="fused")
    g_fused = torch.autograd.grad(fused, (z1, z2))
    assert abs(dense.item() - fused.item()) < 1e-5
    for a, b in zip(g_dense, g_fused):
        assert (a - b).abs().max().item() < 1e-5


def test_fused_gradcheck_and_auto_choice():
    z1, z2 = _pair(11, 4, torch.float64)
    bias = torch.rand(11, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: grace_loss(a, b, 0.5, node_bias=bias, method="fused"), (z1, z2))
    # small graphs take the fused path by default and agree with the reference
    assert torch.allclose(grace_loss(z1, z2), grace_loss(z1, z2, method="dense"))
