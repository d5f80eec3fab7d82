"""full_softmax_cross_entropy: the blockwise full-softmax CE equals F.cross_entropy on the full
logits (values and gradients, both label conventions, every block size), and refuses bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses.softmax_ce import full_softmax_cross_entropy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("first", [0, 1])
@pytest.mark.parametrize("block_size", [1, 7, 300, None])
def test_equals_cross_entropy_on_the_full_logits(first, block_size):
    gen = torch.Generator().manual_seed(first)
    h = torch.randn(37, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    table = torch.randn(301, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    target = torch.randint(first, 301, (37,), generator=gen)
    target[:3] = target[0]  # repeated targets accumulate into one row
    got = full_softmax_cross_entropy(h, table, target, first, block_size)
    want = F.cross_entropy(h @ table[first:].T, target - first)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
    for a, b in zip(torch.autograd.grad(3.0 * got, (h, table)), torch.autograd.grad(3.0 * want, (h, table))):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    if first:  # the left-out row gets no gradient
        assert torch.equal(torch.autograd.grad(full_softmax_cross_entropy(h, table, target, 1), table)[0][0],
                           torch.zeros(5, dtype=torch.float64))


def test_bad_inputs_are_clear_errors():
    h, table = torch.randn(4, 3), torch.randn(10, 3)
    with pytest.raises(ValueError, match=r"target classes must lie in 1..9"):
        full_softmax_cross_entropy(h, table, torch.tensor([0, 1, 2, 3]), first=1)
    with pytest.raises(ValueError, match="same d"):
        full_softmax_cross_entropy(h, torch.randn(10, 4), torch.tensor([1, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"\(4,\) long tensor"):
        full_softmax_cross_entropy(h, table, torch.tensor([1.0, 1, 2, 3]))
    with pytest.raises(ValueError, match="first must be in 0..9"):
        full_softmax_cross_entropy(h, table, torch.tensor([1, 1, 2, 3]), first=10)
