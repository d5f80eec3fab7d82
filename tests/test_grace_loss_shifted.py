"""GRACE's loss in its shifted fused form (one constant shift, bias folded into the products)
against the dense autograd reference and the log-sum-exp fused form: values, gradients, the
choice between the two forms, and a second backward pass through a retained graph."""
from __future__ import annotations

import pytest
import torch

from graphcl.losses import grace_loss
from graphcl.losses.infonce import SHIFTED_MAX_SPREAD, shifted_form_shift


def _pair(n=60, d=8, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=dtype).requires_grad_(),
            torch.randn(n, d, generator=g, dtype=dtype).requires_grad_())


@pytest.mark.parametrize("tau", [0.05, 0.2, 0.9])
@pytest.mark.parametrize("bias_scale", [0.0, 0.3, 2.0])
def test_the_shifted_form_equals_the_dense_reference(tau, bias_scale):
    z1, z2 = _pair()
    bias = None if bias_scale == 0 else torch.linspace(-bias_scale, bias_scale, 60, dtype=torch.float64)
    fused = grace_loss(z1, z2, tau, node_bias=bias, method="fused")
    dense = grace_loss(z1, z2, tau, node_bias=bias, method="dense")
    torch.testing.assert_close(fused, dense, rtol=1e-10, atol=1e-10)
    for a, b in zip(torch.autograd.grad(fused, (z1, z2)), torch.autograd.grad(dense, (z1, z2))):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_the_shift_covers_the_scores_or_the_log_sum_exp_form_takes_over():
    assert shifted_form_shift(0.5, None) == pytest.approx(2.0)
    assert shifted_form_shift(0.5, torch.tensor([0.1, -0.4])) == pytest.approx((1 + 0.8) / 0.5)
    assert shifted_form_shift(2.0 / SHIFTED_MAX_SPREAD * 1.01, None) is not None  # spread 2/τ just under 80
    assert shifted_form_shift(2.0 / SHIFTED_MAX_SPREAD * 0.99, None) is None      # just over
    z1, z2 = _pair(d=4)
    tiny = grace_loss(z1, z2, 0.01, method="fused")                           # spread 200: log-sum-exp form
    assert type(tiny.grad_fn).__name__.startswith("_FusedDenseGrace")
    torch.testing.assert_close(tiny, grace_loss(z1, z2, 0.01, method="dense"))
    assert type(grace_loss(z1, z2, 0.4, method="fused").grad_fn).__name__.startswith("_ShiftedGrace")


def test_float32_shifted_form_agrees_with_the_reference_at_graces_settings():
    z1, z2 = (z.detach().float().requires_grad_() for z in _pair(n=500, d=32, seed=4))
    bias = torch.rand(500) * 0.5                                               # CSGCL-sized team-up bias
    for b in (None, bias):
        fused = grace_loss(z1, z2, 0.4, node_bias=b, method="fused")
        dense = grace_loss(z1, z2, 0.4, node_bias=b, method="dense")
        assert abs(fused.item() - dense.item()) < 1e-5
        for a, c in zip(torch.autograd.grad(fused, (z1, z2)), torch.autograd.grad(dense, (z1, z2))):
            assert (a - c).abs().max().item() < 1e-6


def test_a_retained_graph_gives_the_same_gradient_twice():
    z1, z2 = _pair()
    loss = grace_loss(z1, z2, 0.5, method="fused")
    first = torch.autograd.grad(loss, (z1, z2), retain_graph=True)
    second = torch.autograd.grad(loss, (z1, z2))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
