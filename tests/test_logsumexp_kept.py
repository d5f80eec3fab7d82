"""The two forms of :func:`blockwise_logsumexp_matmul` — scores kept for the backward pass
(when the matrix fits ``keep_bytes``) and blockwise with recomputation — against the dense
``torch.logsumexp(q @ k.T / tau)``: values and gradients, the threshold, extreme inputs and a
second backward pass through a retained graph."""
from __future__ import annotations

import pytest
import torch

from graphcl.losses.logsumexp import DEFAULT_KEEP_BYTES, blockwise_logsumexp_matmul

FORMS = {"kept": 1 << 40, "blockwise": None}


def _inputs(n=9, m=13, d=5, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    q = (torch.randn(n, d, generator=g, dtype=torch.float64) * scale).requires_grad_()
    k = (torch.randn(m, d, generator=g, dtype=torch.float64) * scale).requires_grad_()
    return q, k


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("block_size", [1, 4, 13, 100])
def test_both_forms_equal_the_dense_logsumexp_in_values_and_gradients(form, block_size):
    q, k = _inputs()
    weight = torch.linspace(-1, 2, 9, dtype=torch.float64)
    got = blockwise_logsumexp_matmul(q, k, 0.3, block_size=block_size, keep_bytes=FORMS[form])
    want = torch.logsumexp(q @ k.T / 0.3, 1)
    torch.testing.assert_close(got, want)
    for a, b in zip(torch.autograd.grad((got * weight).sum(), (q, k)), torch.autograd.grad((want * weight).sum(), (q, k))):
        torch.testing.assert_close(a, b)


def test_the_budget_decides_the_form():
    q, k = _inputs(n=4, m=6)
    fits = 4 * 6 * 8                                           # float64 bytes of the 4 x 6 matrix
    kept = blockwise_logsumexp_matmul(q, k, keep_bytes=fits)
    blockwise = blockwise_logsumexp_matmul(q, k, keep_bytes=fits - 1)
    assert type(kept.grad_fn).__name__.startswith("_KeptLSE")
    assert type(blockwise.grad_fn).__name__.startswith("_BlockwiseLSE")
    assert DEFAULT_KEEP_BYTES == 0                                # by default always blockwise
    with pytest.raises(ValueError, match="keep_bytes must be >= 0"):
        blockwise_logsumexp_matmul(q, k, keep_bytes=-1)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_large_scores_do_not_overflow(form):
    q, k = _inputs(scale=30.0)                                 # scores in the thousands: exp overflows
    got = blockwise_logsumexp_matmul(q, k, 0.05, block_size=4, keep_bytes=FORMS[form])
    torch.testing.assert_close(got, torch.logsumexp(q @ k.T / 0.05, 1))
    grads = torch.autograd.grad(got.sum(), (q, k))
    assert all(torch.isfinite(g).all() for g in grads)


def test_a_retained_graph_gives_the_same_gradient_twice():
    """The kept softmax must survive the first backward pass unchanged."""
    q, k = _inputs()
    out = blockwise_logsumexp_matmul(q, k, 0.5, block_size=4, keep_bytes=1 << 40)
    first = torch.autograd.grad(out.sum(), (q, k), retain_graph=True)
    second = torch.autograd.grad(out.sum(), (q, k))
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_gradcheck_of_the_kept_form():
    q, k = _inputs(n=4, m=5, d=3)
    assert torch.autograd.gradcheck(lambda a, b: blockwise_logsumexp_matmul(a, b, 0.7, 2, 1 << 40), (q, k))


@pytest.mark.parametrize("weights", ["non-negative with zeros", "signed"])
@pytest.mark.parametrize("chunk_scores", [1, 7, 1 << 17])
def test_row_chunks_and_the_folded_weights_give_the_dense_gradients(monkeypatch, weights, chunk_scores):
    """Anchor rows walked in chunks of any size (one row, uneven, whole), and the upstream
    gradient folded into the exp2 shift when every weight is >= 0 (zeros included) or applied
    after it when some are negative: the same values and gradients as the dense form."""
    import graphcl.losses.logsumexp as lse_module
    monkeypatch.setattr(lse_module, "CPU_CHUNK_SCORES", chunk_scores)
    q, k = _inputs(n=11, m=17, d=3, seed=5)
    w = torch.tensor([0.0, 0.5, 2.0, 0.0, 1.0, 3.0, 0.1, 0.0, 1.5, 0.2, 0.7], dtype=torch.float64)
    if weights == "signed":
        w = w - 0.6
    got = blockwise_logsumexp_matmul(q, k, 0.4, block_size=5)
    want = torch.logsumexp(q @ k.T / 0.4, 1)
    torch.testing.assert_close(got, want)
    for a, b in zip(torch.autograd.grad((got * w).sum(), (q, k)), torch.autograd.grad((want * w).sum(), (q, k))):
        torch.testing.assert_close(a, b)


# ------------------------------------------------ the first block's maximum as a fixed shift
@pytest.mark.parametrize("scale", [0.05, 1.0, 40.0])
def test_forward_over_many_blocks_equals_the_float64_logsumexp(scale):
    """float32 anchors over 40 blocks of keys (the later blocks shifted by the first block's
    maximum): the same log-sum-exp and gradients as the dense float64 reference."""
    g = torch.Generator().manual_seed(3)
    q = (scale * torch.randn(50, 16, generator=g)).requires_grad_()
    k = torch.randn(40 * 32, 16, generator=g).requires_grad_()
    out = blockwise_logsumexp_matmul(q, k, 0.2, block_size=32)
    ref = torch.logsumexp(q.double() @ k.double().T / 0.2, 1)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-4 * max(1.0, scale))
    if scale > 1:   # scores of ~10^3 nats: float32 gradients are off by its rounding, not compared
        return
    w = torch.linspace(0.1, 1.0, 50)
    got = torch.autograd.grad((out * w).sum(), (q, k))
    want = torch.autograd.grad((ref * w.double()).sum(), (q, k))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b.float(), rtol=1e-4, atol=1e-4)


def test_rows_whose_later_scores_overflow_the_fixed_shift_are_recomputed():
    """Keys of the first block nearly orthogonal to the anchors and a later key aligned with
    them at a large scale: 2^{x − m} overflows float32 for those rows, which the forward pass
    recomputes with the running maximum; the other rows keep the fixed shift."""
    from graphcl.losses import logsumexp as lse_module
    g = torch.Generator().manual_seed(4)
    q = torch.randn(6, 8, generator=g)
    k = 0.01 * torch.randn(64, 8, generator=g)
    k[40] = 3.0 * q[0] / q[0].norm()                # row 0: a score of ~3|q_0|/0.05 nats at key 40
    tau = 0.05
    calls = []
    real = lse_module.lse_forward_blocks

    def spy(*args, **kwargs):
        calls.append((args[0].size(0), kwargs.get("running_max", False)))
        return real(*args, **kwargs)
    lse_module.lse_forward_blocks = spy
    try:
        out = blockwise_logsumexp_matmul(q, k, tau, block_size=16)
    finally:
        lse_module.lse_forward_blocks = real
    ref = torch.logsumexp(q.double() @ k.double().T / tau, 1)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), ref, rtol=1e-6, atol=1e-4)
    # the overflowing rows (row 0 among them), and only they, recomputed with the running maximum
    assert calls[0] == (6, False) and len(calls) == 2 and calls[1][1] and 1 <= calls[1][0] < 6
