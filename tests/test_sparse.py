"""Sparse ops: values and gradients against dense, symmetry, edge dropout."""
import pytest
import torch

from graphcl.sparse import SparseGraph, bipartite_adjacency, interaction_matrix, spmm


def _pairs(num_users=40, num_items=60, n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, num_users, (n,), generator=g),
                        torch.randint(0, num_items, (n,), generator=g)])


def _dense_sym(pairs, nu, ni):
    a = torch.zeros(nu + ni, nu + ni, dtype=torch.float64)
    a[pairs[0], pairs[1] + nu] = 1.0
    a[pairs[1] + nu, pairs[0]] = 1.0
    deg = a.sum(1)
    d = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return d[:, None] * a * d[None, :]


def test_bipartite_adjacency_matches_dense_formula():
    pairs = _pairs()
    pairs = torch.cat([pairs, pairs[:, :10]], 1)  # duplicates count once
    g = bipartite_adjacency(pairs, 40, 60, dtype=torch.float64)
    expected = _dense_sym(pairs, 40, 60)
    assert g.symmetric and g.shape == (100, 100)
    torch.testing.assert_close(g.to_dense(), expected)
    assert torch.isfinite(g.to_dense()).all()  # isolated nodes: zero rows, not NaN


def test_interaction_matrix_is_the_normalized_block():
    pairs = _pairs()
    r = interaction_matrix(pairs, 40, 60, dtype=torch.float64)
    block = _dense_sym(pairs, 40, 60)[:40, 40:]
    torch.testing.assert_close(r.to_dense(), block)
    torch.testing.assert_close(r.T.to_dense(), block.T)


@pytest.mark.parametrize("which", ["sym", "rect", "rect_T"])
def test_spmm_gradient_matches_dense(which):
    pairs = _pairs()
    if which == "sym":
        g = bipartite_adjacency(pairs, 40, 60, dtype=torch.float64)
    else:
        g = interaction_matrix(pairs, 40, 60, dtype=torch.float64)
        g = g.T if which == "rect_T" else g
    dense = g.to_dense()
    x = torch.randn(g.shape[1], 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(g.shape[0], 5, dtype=torch.float64)
    (spmm(g, x) * w).sum().backward()
    grad_sparse = x.grad.clone()
    x.grad = None
    ((dense @ x) * w).sum().backward()
    torch.testing.assert_close(grad_sparse, x.grad)
    assert torch.autograd.gradcheck(lambda t: g @ t, (torch.randn(g.shape[1], 3, dtype=torch.float64,
                                                                   requires_grad=True),))


def test_two_layer_propagation_gradient():
    pairs = _pairs()
    g = bipartite_adjacency(pairs, 40, 60, dtype=torch.float64)
    x = torch.randn(100, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: (g @ (g @ t)).sin(), (x,))


def test_drop_edges_keeps_symmetry_and_subset():
    g = bipartite_adjacency(_pairs(n=2000), 40, 60)
    dropped = g.drop_edges(0.4, generator=torch.Generator().manual_seed(3))
    d, full = dropped.to_dense(), g.to_dense()
    torch.testing.assert_close(d, d.T)
    assert ((d != 0) <= (full != 0)).all()
    kept = dropped.nnz / g.nnz
    assert 0.5 < kept < 0.7
    # same seed, same result; input untouched
    again = g.drop_edges(0.4, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(again.to_dense(), d)
    torch.testing.assert_close(g.to_dense(), full)


def test_drop_edges_extremes_and_rescale():
    g = interaction_matrix(_pairs(), 40, 60)
    assert g.drop_edges(0.0) is g
    assert g.drop_edges(1.0).nnz == 0
    r = g.drop_edges(0.5, generator=torch.Generator().manual_seed(0), rescale=True)
    rows, cols, vals = r.coo()
    torch.testing.assert_close(vals, g.to_dense()[rows, cols] * 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        g.drop_edges(1.5)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="item id out of range"):
        bipartite_adjacency(torch.tensor([[0, 1], [0, 99]]), 2, 5)
    with pytest.raises(ValueError, match="zero interactions"):
        interaction_matrix(torch.zeros(2, 0, dtype=torch.long), 2, 5)
    with pytest.raises(ValueError, match="out of range"):
        SparseGraph.from_coo(torch.tensor([0, 3]), torch.tensor([0, 1]), None, (3, 3))
    g = interaction_matrix(_pairs(), 40, 60)
    with pytest.raises(ValueError, match="cannot multiply"):
        g @ torch.randn(59, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g = bipartite_adjacency(_pairs(), 40, 60)
    x = torch.randn(100, 8)
    torch.testing.assert_close((g.to("cuda") @ x.cuda()).cpu(), g @ x, rtol=1e-5, atol=1e-6)


def test_linear_propagation_matches_layerwise_and_dense_gradient():
    from graphcl.sparse import linear_propagation
    g = bipartite_adjacency(_pairs(), 40, 60, dtype=torch.float64)
    dense = g.to_dense()
    weights = [0.25, 0.25, 0.25, 0.25]
    x = torch.randn(100, 6, dtype=torch.float64, requires_grad=True)
    expected = sum(w * torch.linalg.matrix_power(dense, k) @ x for k, w in enumerate(weights))
    out = linear_propagation(g, x, weights)
    torch.testing.assert_close(out, expected)
    assert torch.autograd.gradcheck(lambda t: linear_propagation(g, t, [1.0, 0.5, 2.0]), (x,))
    # two calls sharing the work buffers before one backward stay correct
    y1 = linear_propagation(g, x, weights)
    y2 = linear_propagation(g, x * 2, weights)
    (y1.sum() + y2.sum()).backward()
    x2 = x.detach().clone().requires_grad_()
    (3 * (sum(w * torch.linalg.matrix_power(dense, k) for k, w in enumerate(weights)) @ x2)).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
