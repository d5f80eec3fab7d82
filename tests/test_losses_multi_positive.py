"""HeCo-form InfoNCE with several positives per anchor (graphcl.losses.multi_positive):
values and gradients equal the dense formula; a single self-positive is the plain loss."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses.multi_positive import multi_positive_info_nce, positive_logsumexp
from graphcl.losses.weighted import ClusterWeights, cluster_weights_dense, weighted_info_nce

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _views(n=31, d=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1).requires_grad_()
    k = F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1).requires_grad_()
    return q, k


def _positives(n, seed=1):
    """Each node itself plus 0-4 random others (a HeCo-like pos.npz), as a dense mask."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(n, n, generator=gen) < torch.randint(0, 5, (n, 1), generator=gen) / n
    mask |= torch.eye(n, dtype=torch.bool)
    return mask, mask.nonzero().T.contiguous()


@pytest.mark.parametrize("weighted", [False, True])
def test_multi_positive_loss_equals_the_dense_formula(weighted):
    q, k = _views()
    mask, index = _positives(31)
    labels = torch.stack([torch.arange(31) % 4, torch.arange(31) % 7])
    weights = ClusterWeights(labels, torch.float64) if weighted else None
    x = q @ k.T / 0.5
    denominator = x + (torch.log(cluster_weights_dense(labels).double()) if weighted else 0.0)
    dense = (torch.logsumexp(denominator, 1) - torch.logsumexp(x.masked_fill(~mask, float("-inf")), 1)).mean()
    got = multi_positive_info_nce(q, k, index, weights, tau=0.5, block_size=7)
    torch.testing.assert_close(got, dense, atol=1e-12, rtol=1e-12)
    for a, b in zip(torch.autograd.grad(got, (q, k)), torch.autograd.grad(dense, (q, k))):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_self_positives_give_the_plain_info_nce():
    q, k = _views(seed=3)
    self_only = torch.arange(31).repeat(2, 1)
    torch.testing.assert_close(multi_positive_info_nce(q, k, self_only, tau=0.4),
                               weighted_info_nce(q, k, None, tau=0.4), atol=1e-12, rtol=1e-12)
    # the pairs' order does not matter
    mask, index = _positives(31, seed=5)
    shuffled = index[:, torch.randperm(index.shape[1], generator=torch.Generator().manual_seed(0))]
    torch.testing.assert_close(positive_logsumexp(q, k, shuffled, 0.4), positive_logsumexp(q, k, index, 0.4))


def test_bad_positive_sets_are_clear_errors():
    q, k = _views(n=5)
    with pytest.raises(ValueError, match=r"1 anchor\(s\) have no positive \(first: 4\)"):
        positive_logsumexp(q, k, torch.arange(4).repeat(2, 1), 0.5)
    with pytest.raises(ValueError, match="outside 0..4"):
        positive_logsumexp(q, k, torch.tensor([[0, 1, 2, 3, 4], [0, 1, 2, 3, 5]]), 0.5)
    with pytest.raises(ValueError, match=r"\(2, E\) long tensor"):
        positive_logsumexp(q, k, torch.arange(5.0).repeat(2, 1), 0.5)
