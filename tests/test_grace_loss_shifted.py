"""GRACE's loss in its shifted fused form (one constant shift, bias folded into the products)
against the dense autograd reference and the log-sum-exp fused form: values, gradients, the
choice between the two forms, and a second backward pass through a retained graph."""
from __future__ import annotations

import pytest
import torch

from graphcl.losses import grace_loss
from graphcl.losses.grace_shifted import SHIFTED_MAX_SPREAD, shifted_form_shift, shifted_grace_loss


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


def test_float32_at_the_edge_of_the_range_neither_overflows_nor_underflows():
    """τ with the spread 2/τ just under SHIFTED_MAX_SPREAD: the scores s/τ span [-40, 40] nats,
    e^{s/τ − c} stays a normal float32 number; the loss and gradients match the float64 dense reference."""
    tau = 2.0 / SHIFTED_MAX_SPREAD * 1.01
    z1, z2 = _pair(n=300, d=16, seed=6)
    z2 = (z1.detach() + 0.3 * z2.detach()).requires_grad_()     # aligned views: scores near ±1
    f1, f2 = (z.detach().float().requires_grad_() for z in (z1, z2))
    fused = grace_loss(f1, f2, tau, method="fused")
    assert type(fused.grad_fn).__name__.startswith("_ShiftedGrace") and torch.isfinite(fused)
    dense = grace_loss(z1, z2, tau, method="dense")
    torch.testing.assert_close(fused.double(), dense, rtol=1e-5, atol=1e-4)
    for a, b in zip(torch.autograd.grad(fused, (f1, f2)), torch.autograd.grad(dense, (z1, z2))):
        torch.testing.assert_close(a.double(), b, rtol=1e-2, atol=1e-4)   # float32 at s/τ ≈ ±40


def test_a_retained_graph_gives_the_same_gradient_twice():
    z1, z2 = _pair()
    loss = grace_loss(z1, z2, 0.5, method="fused")
    first = torch.autograd.grad(loss, (z1, z2), retain_graph=True)
    second = torch.autograd.grad(loss, (z1, z2))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("tile_rows", [1, 7, 59, 60, 500])
@pytest.mark.parametrize("with_bias", [False, True])
def test_every_tiling_gives_the_dense_loss_and_gradients(tile_rows, with_bias):
    """Tiles of any height (one row, uneven last tile, one tile) cover every pair exactly once:
    the symmetric halves' mirrored row sums and the transposed gradient products included."""
    z1, z2 = _pair(seed=7)
    bias = torch.linspace(-0.3, 0.5, 60, dtype=torch.float64) if with_bias else None
    tau = 0.3
    u, v = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
    tiled = shifted_grace_loss(u, v, bias, tau, shifted_form_shift(tau, bias), tile_rows=tile_rows)
    dense = grace_loss(z1, z2, tau, node_bias=bias, method="dense")
    torch.testing.assert_close(tiled, dense, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(tiled, (z1, z2)), torch.autograd.grad(dense, (z1, z2))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_tile_rows_must_be_positive():
    z1, z2 = _pair()
    with pytest.raises(ValueError, match="tile_rows"):
        shifted_grace_loss(z1, z2, None, 0.5, 2.0, tile_rows=0)


def test_the_bf16_tiled_form_stays_within_bf16_rounding_of_fp32():
    from graphcl.precision import matmul_precision
    z1, z2 = (z.detach().float().requires_grad_() for z in _pair(n=300, d=32, seed=2))
    fp32 = grace_loss(z1, z2, 0.5, method="fused")
    g32 = torch.autograd.grad(fp32, (z1, z2))
    with matmul_precision("bf16"):
        low = grace_loss(z1, z2, 0.5, method="fused")
    g16 = torch.autograd.grad(low, (z1, z2))
    assert abs(low.item() - fp32.item()) < 2e-2 * abs(fp32.item())
    for a, b in zip(g16, g32):
        assert (a - b).abs().max().item() < 0.05 * b.abs().max().item()
