"""Tests written against the mutants of ``graphcl/sparse.py`` that survived
``tests/test_sparse.py`` (see experiments/results/mutation.md).

Every reference here is built independently of the library: dense matrices filled by a
literal loop over the edges, degrees counted by hand, error messages matched by text.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphcl.sparse import (SparseGraph, bipartite_adjacency, interaction_matrix, linear_propagation,
                            normalize_bipartite_adjacency, spmm)


def dense_from_edges(rows, cols, vals, shape, dtype=torch.float64):
    """A dense matrix with ``vals`` summed into ``(rows, cols)``, by a plain loop."""
    out = torch.zeros(shape, dtype=dtype)
    for r, c, v in zip(rows, cols, vals):
        out[int(r), int(c)] += float(v)
    return out


# ------------------------------------------------------------------ from_coo
def test_from_coo_sums_duplicates_keeps_shape_and_is_not_symmetric_by_default():
    # unsorted, two duplicated entries, an empty last row and an empty last column
    row = [2, 0, 2, 1, 0, 2]
    col = [1, 3, 1, 0, 3, 2]
    val = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    g = SparseGraph.from_coo(torch.tensor(row), torch.tensor(col), torch.tensor(val, dtype=torch.float64), (4, 5))
    expected = dense_from_edges(row, col, val, (4, 5))
    assert g.shape == (4, 5)
    assert g.symmetric is False
    assert g.nnz == 4  # (2,1) and (0,3) each stored once, summed
    assert torch.equal(g.to_dense(), expected)
    assert torch.equal(g.T.to_dense(), expected.T)
    assert g.T.shape == (5, 4)
    assert g.dtype == torch.float64
    assert g.matrix.crow_indices().tolist() == [0, 1, 2, 4, 4]


def test_from_coo_two_duplicates_only_are_stored_once():
    g = SparseGraph.from_coo(torch.tensor([1, 1]), torch.tensor([0, 0]), torch.tensor([1.5, 2.5]), (2, 2))
    assert g.nnz == 1
    assert g.to_dense().tolist() == [[0.0, 0.0], [4.0, 0.0]]


def test_from_coo_default_values_are_float32_ones_and_int32_or_numpy_ids_become_long():
    g = SparseGraph.from_coo(np.array([0, 1, 1], dtype=np.int32), np.array([2, 0, 1], dtype=np.int32), None, (2, 3))
    assert g.dtype == torch.float32
    assert g.to_dense().tolist() == [[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    assert g.matrix.col_indices().dtype == torch.long
    assert g.matrix.crow_indices().dtype == torch.long
    assert g.rows().tolist() == [0, 1, 1]


def test_from_coo_accepts_the_last_valid_index_on_each_axis_and_an_empty_edge_list():
    g = SparseGraph.from_coo(torch.tensor([0, 2]), torch.tensor([0, 4]), None, (3, 5))
    assert g.to_dense()[2, 4] == 1.0 and g.to_dense()[0, 0] == 1.0
    empty = SparseGraph.from_coo(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), None, (3, 2))
    assert empty.nnz == 0 and empty.shape == (3, 2)
    assert torch.equal(empty.to_dense(), torch.zeros(3, 2))


@pytest.mark.parametrize("row, col", [([3], [0]), ([0], [5]), ([-1], [0]), ([0], [-1])])
def test_from_coo_refuses_each_out_of_range_index(row, col):
    with pytest.raises(ValueError, match=r"edge index out of range for a matrix of shape \(3, 5\)"):
        SparseGraph.from_coo(torch.tensor(row), torch.tensor(col), None, (3, 5))


def test_from_coo_error_messages():
    with pytest.raises(ValueError, match="row and col differ in length: 2 vs 1"):
        SparseGraph.from_coo(torch.tensor([0, 1]), torch.tensor([0]), None, (2, 2))
    with pytest.raises(ValueError, match="value has 1 entries for 2 edges"):
        SparseGraph.from_coo(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.ones(1), (2, 2))


def test_init_error_messages():
    dense = torch.eye(2)
    with pytest.raises(TypeError, match="SparseGraph expects a torch.sparse_csr tensor, got layout torch.strided"):
        SparseGraph(dense)
    rect = torch.zeros(2, 3).to_sparse_csr()
    with pytest.raises(ValueError, match=r"a symmetric matrix must be square, got shape \(2, 3\)"):
        SparseGraph(rect, symmetric=True)
    tall = torch.zeros(3, 2).to_sparse_csr()
    with pytest.raises(ValueError, match=r"got shape \(3, 2\)"):
        SparseGraph(tall, symmetric=True)


def test_given_transpose_is_used_as_is_and_carries_the_backward():
    m = torch.tensor([[0.0, 1.0], [2.0, 0.0]]).to_sparse_csr()
    t = torch.tensor([[0.0, 5.0], [7.0, 0.0]]).to_sparse_csr()  # deliberately not m^T
    g = SparseGraph(m, transpose=t)
    assert torch.equal(g.T.to_dense(), t.to_dense())
    # the documented contract: forward A x, backward through the stored transpose
    x = torch.ones(2, 1, requires_grad=True)
    y = g @ x
    assert y.detach().tolist() == [[1.0], [2.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[5.0], [7.0]]  # t @ 1, not m^T @ 1 = [[2], [1]]


def test_from_coo_converts_float_valued_ids():
    g = SparseGraph.from_coo(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]), None, (2, 2))
    assert g.to_dense().tolist() == [[0.0, 1.0], [1.0, 0.0]]


# --------------------------------------------------------------------- to()
def test_to_changes_dtype_and_keeps_the_transpose_and_symmetry():
    row, col, val = [0, 1, 2], [1, 2, 0], [1.0, 2.0, 3.0]
    g = SparseGraph.from_coo(torch.tensor(row), torch.tensor(col), torch.tensor(val), (3, 3))
    g64 = g.to(dtype=torch.float64)
    expected = dense_from_edges(row, col, val, (3, 3))
    assert g64.dtype == torch.float64 and g64.symmetric is False
    assert torch.equal(g64.to_dense(), expected)
    assert torch.equal(g64.T.to_dense(), expected.T)
    assert g64.T.dtype == torch.float64
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    (g64 @ x).sum().backward()  # backward goes through the converted transpose
    assert torch.allclose(x.grad, expected.T @ torch.ones(3, 2, dtype=torch.float64))

    s = SparseGraph.from_coo(torch.tensor([0, 1]), torch.tensor([1, 0]), None, (2, 2), symmetric=True)
    s64 = s.to(dtype=torch.float64)
    assert s64.symmetric is True and s64.dtype == torch.float64
    assert s64.T is s64
    assert torch.equal(s64.to_dense(), torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))


# ---------------------------------------------------------------- workspace
def test_workspace_is_two_buffers_of_the_asked_shape_reused_until_the_shape_changes():
    g = SparseGraph.from_coo(torch.tensor([0]), torch.tensor([1]), None, (2, 2))
    first = g.workspace((2, 3))
    assert len(first) == 2 and all(b.shape == (2, 3) and b.dtype == torch.float32 for b in first)
    assert g.workspace((2, 3)) is first
    second = g.workspace((2, 4))
    assert len(second) == 2 and all(b.shape == (2, 4) for b in second)


# ------------------------------------------------------------------ spmm
def test_spmm_without_grad_equals_the_dense_product():
    row, col, val = [0, 0, 2], [1, 2, 0], [2.0, 3.0, 5.0]
    g = SparseGraph.from_coo(torch.tensor(row), torch.tensor(col), torch.tensor(val), (3, 3))
    x = torch.arange(6.0).reshape(3, 2)
    expected = dense_from_edges(row, col, val, (3, 3), torch.float32) @ x
    assert torch.equal(spmm(g, x), expected)
    with torch.no_grad():
        xr = x.clone().requires_grad_(True)
        assert torch.equal(spmm(g, xr), expected)


def test_spmm_error_messages():
    g = SparseGraph.from_coo(torch.tensor([0]), torch.tensor([1]), None, (2, 2))
    with pytest.raises(ValueError, match=r"cannot multiply a \(2, 2\) sparse matrix by x of shape \(3, 1\)"):
        spmm(g, torch.ones(3, 1))
    with pytest.raises(TypeError, match="dtype mismatch: graph torch.float32, x torch.float64"):
        spmm(g, torch.ones(2, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="graph is on cpu but x is on meta"):
        spmm(g, torch.ones(2, 1, device="meta"))


# ------------------------------------------------------- linear_propagation
def _propagation_reference(dense, x, weights):
    out, cur = x * weights[0], x
    for w in weights[1:]:
        cur = dense @ cur
        out = out + w * cur
    return out


@pytest.mark.parametrize("weights", [[0.5, 0.25], [0.7, 0.2, 0.1], [2.0]])
def test_linear_propagation_with_unequal_weights_without_grad(weights):
    pairs = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 1]])
    g = bipartite_adjacency(pairs, 3, 2, dtype=torch.float64)
    x = torch.arange(10.0, dtype=torch.float64).reshape(5, 2)
    got = linear_propagation(g, x, weights)
    assert torch.allclose(got, _propagation_reference(g.to_dense(), x, weights))


def test_linear_propagation_error_messages():
    rect = SparseGraph.from_coo(torch.tensor([0]), torch.tensor([1]), None, (2, 3))
    with pytest.raises(ValueError, match=r"linear_propagation needs a square graph, got \(2, 3\)"):
        linear_propagation(rect, torch.ones(3, 1), [1.0])
    g = SparseGraph.from_coo(torch.tensor([0]), torch.tensor([1]), None, (2, 2))
    with pytest.raises(ValueError, match="^weights must hold at least the weight of layer 0$"):
        linear_propagation(g, torch.ones(2, 1), [])
    for bad in (torch.ones(2), torch.ones(3, 1), torch.ones(2, 1, dtype=torch.float64),
                torch.ones(2, 1, device="meta")):
        with pytest.raises(ValueError, match=r"x of shape .* does not fit the graph \(2, 2\)"):
            linear_propagation(g, bad, [1.0, 1.0])


# ---------------------------------------------------------- normalizations
PAIRS = torch.tensor([[0, 0, 1, 2, 2], [0, 1, 1, 1, 0]])  # 3 users, 3 items (item 2 unseen)


def _bipartite_dense(pairs, num_users, num_items):
    n = num_users + num_items
    a = torch.zeros(n, n, dtype=torch.float64)
    for u, i in pairs.t().tolist():
        a[u, num_users + i] = a[num_users + i, u] = 1.0
    return a


def test_left_normalization_is_row_stochastic_and_not_symmetric():
    a = _bipartite_dense(PAIRS, 3, 3)
    deg = a.sum(1)
    expected = torch.zeros_like(a)
    for r in range(a.shape[0]):
        if deg[r] > 0:
            expected[r] = a[r] / deg[r]
    g = bipartite_adjacency(PAIRS, 3, 3, normalization="left", dtype=torch.float64)
    assert g.symmetric is False
    assert torch.allclose(g.to_dense(), expected, atol=1e-15)
    assert torch.allclose(g.T.to_dense(), expected.T, atol=1e-15)


def test_none_normalization_is_the_binary_matrix_in_the_asked_dtype():
    g = bipartite_adjacency(PAIRS, 3, 3, normalization="none", dtype=torch.float64)
    assert g.dtype == torch.float64 and g.symmetric is True
    assert torch.equal(g.to_dense(), _bipartite_dense(PAIRS, 3, 3))


def test_sym_normalization_in_float64_is_exact_and_the_default():
    a = _bipartite_dense(PAIRS, 3, 3)
    deg = a.sum(1)
    expected = torch.zeros_like(a)
    for r, c in a.nonzero().tolist():
        expected[r, c] = 1.0 / (deg[r] * deg[c]).sqrt()
    row, col = a.nonzero().t()
    g = normalize_bipartite_adjacency(row, col, 6, dtype=torch.float64)
    assert g.symmetric is True and g.dtype == torch.float64
    assert torch.allclose(g.to_dense(), expected, rtol=1e-14, atol=0)
    with pytest.raises(ValueError, match="unknown normalization 'rw': use 'sym', 'left' or 'none'"):
        normalize_bipartite_adjacency(row, col, 6, "rw")


def test_interaction_matrix_normalizations_and_errors():
    r = torch.zeros(3, 3, dtype=torch.float64)
    for u, i in PAIRS.t().tolist():
        r[u, i] = 1.0
    du, di = r.sum(1), r.sum(0)
    expected = torch.zeros_like(r)
    for u, i in r.nonzero().tolist():
        expected[u, i] = 1.0 / (du[u] * di[i]).sqrt()
    g = interaction_matrix(PAIRS, 3, 3, dtype=torch.float64)
    assert torch.allclose(g.to_dense(), expected, rtol=1e-14, atol=0)
    assert torch.allclose(g.T.to_dense(), expected.T, rtol=1e-14, atol=0)
    binary = interaction_matrix(PAIRS, 3, 3, normalization="none", dtype=torch.float64)
    assert binary.dtype == torch.float64 and torch.equal(binary.to_dense(), r)
    with pytest.raises(ValueError, match="unknown normalization 'left': use 'sym' or 'none'"):
        interaction_matrix(PAIRS, 3, 3, normalization="left")


def test_float_valued_ids_are_converted_to_integers():
    g = interaction_matrix(PAIRS.double(), 3, 3, normalization="none")
    assert g.to_dense()[2, 0] == 1.0 and g.nnz == 5


@pytest.mark.parametrize("build", [interaction_matrix, bipartite_adjacency])
def test_pair_checks_accept_the_last_ids_and_refuse_one_past(build):
    ok = torch.tensor([[0, 3], [0, 4]])  # last user 3 of 4, last item 4 of 5
    g = build(ok, 4, 5, normalization="none")
    assert g.nnz in (2, 4)
    with pytest.raises(ValueError, match=r"user id out of range \[0, 4\)"):
        build(torch.tensor([[0, 4], [0, 0]]), 4, 5)
    with pytest.raises(ValueError, match=r"user id out of range \[0, 4\)"):
        build(torch.tensor([[0, -1], [0, 0]]), 4, 5)
    with pytest.raises(ValueError, match=r"item id out of range \[0, 5\)"):
        build(torch.tensor([[0, 0], [0, 5]]), 4, 5)
    with pytest.raises(ValueError, match="^cannot build a graph from zero interactions$"):
        build(torch.zeros(2, 0, dtype=torch.long), 4, 5)
    with pytest.raises(ValueError, match=r"interactions must have shape \(2, n\), got \(3, 2\)"):
        build(torch.zeros(3, 2, dtype=torch.long), 4, 5)
    with pytest.raises(ValueError, match=r"interactions must have shape \(2, n\), got \(2,\)"):
        build(torch.zeros(2, dtype=torch.long), 4, 5)
    with pytest.raises(ValueError, match=r"interactions must have shape \(2, n\), got \(1, 2, 2\)"):
        build(torch.zeros(1, 2, 2, dtype=torch.long), 4, 5)


# ----------------------------------------------------------------- drop_edges
def test_drop_edges_default_keeps_values_and_symmetry():
    g = bipartite_adjacency(PAIRS, 3, 3)
    kept = g.drop_edges(0.5, generator=torch.Generator().manual_seed(4))
    dense, orig = kept.to_dense(), g.to_dense()
    assert kept.symmetric is True
    assert torch.equal(dense, dense.T)
    nz = dense != 0
    assert 0 < int(nz.sum()) < g.nnz
    assert torch.equal(dense[nz], orig[nz])  # values unchanged without rescale


def test_drop_edges_with_rescale_divides_by_the_keep_rate():
    g = bipartite_adjacency(PAIRS, 3, 3)
    kept = g.drop_edges(0.5, generator=torch.Generator().manual_seed(4), rescale=True)
    dense, orig = kept.to_dense(), g.to_dense()
    nz = dense != 0
    assert torch.allclose(dense[nz], orig[nz] / 0.5)


def test_drop_everything_keeps_the_shape_on_a_rectangular_graph():
    rect = SparseGraph.from_coo(torch.tensor([0, 1, 1]), torch.tensor([0, 2, 3]), None, (2, 5))
    empty = rect.drop_edges(1.0, generator=torch.Generator().manual_seed(0))
    assert empty.shape == (2, 5) and empty.nnz == 0
    assert empty.matrix.crow_indices().tolist() == [0, 0, 0]
    assert torch.equal(empty.T.to_dense(), torch.zeros(5, 2))


def test_drop_edges_on_a_wide_graph_matches_the_kept_entries():
    row, col = [0, 0, 1, 1, 1], [0, 4, 1, 2, 3]
    rect = SparseGraph.from_coo(torch.tensor(row), torch.tensor(col), torch.arange(1.0, 6.0), (2, 6))
    kept = rect.drop_edges(0.4, generator=torch.Generator().manual_seed(1))
    dense = kept.to_dense()
    assert kept.shape == (2, 6)
    full = rect.to_dense()
    nz = dense != 0
    assert torch.equal(dense[nz], full[nz])
    assert torch.equal(kept.T.to_dense(), dense.T)


def test_symmetric_graph_without_a_mirror_entry_is_refused_by_name():
    lonely = SparseGraph.from_coo(torch.tensor([0]), torch.tensor([1]), None, (2, 2), symmetric=True)
    with pytest.raises(ValueError, match="^graph marked symmetric has an entry without its mirror$"):
        lonely.drop_edges(0.5)
    # the last entry's mirror is past the end of the sorted keys: searchsorted returns numel
    tail = SparseGraph.from_coo(torch.tensor([0, 1]), torch.tensor([0, 0]), None, (2, 2), symmetric=True)
    with pytest.raises(ValueError, match="without its mirror"):
        tail.drop_edges(0.5)


@pytest.mark.parametrize("shape", [(3, 3), (2, 6), (5, 2)])
def test_drop_edges_builds_a_consistent_csr_for_every_seed(shape):
    n_rows, n_cols = shape
    row = torch.arange(n_rows).repeat_interleave(n_cols)
    col = torch.arange(n_cols).repeat(n_rows)
    full = torch.arange(1.0, n_rows * n_cols + 1.0).reshape(n_rows, n_cols)
    g = SparseGraph.from_coo(row, col, full.reshape(-1), shape)
    for seed in range(12):
        kept = g.drop_edges(0.6, generator=torch.Generator().manual_seed(seed))
        crow = kept.matrix.crow_indices()
        dense = kept.to_dense()
        assert kept.shape == shape and crow.numel() == n_rows + 1
        assert int(crow[-1]) == kept.nnz == int((dense != 0).sum())
        counts = (crow[1:] - crow[:-1]).tolist()
        assert counts == (dense != 0).sum(1).tolist()
        assert torch.equal(dense[dense != 0], full[dense != 0])


def test_to_moves_the_matrix_and_its_transpose_to_the_asked_device():
    g = SparseGraph.from_coo(torch.tensor([0, 1]), torch.tensor([1, 2]), None, (2, 3))
    moved = g.to("meta")  # the one other device a CPU-only machine has
    assert moved.device == torch.device("meta")
    assert moved.T.device == torch.device("meta")
    assert moved.shape == (2, 3) and moved.T.shape == (3, 2)


def test_csr_tensor_skips_invariant_checks_unless_asked_even_when_torch_checks_globally():
    """graphcl builds crow/col itself, so csr_tensor turns torch's O(nnz) validation off explicitly
    (also under torch.sparse.check_sparse_tensor_invariants); check_invariants=True validates."""
    from graphcl.sparse import csr_tensor
    crow, col, value = torch.tensor([0, 2]), torch.tensor([1, 0]), torch.tensor([1.0, 2.0])  # unsorted row
    with torch.sparse.check_sparse_tensor_invariants():
        built = csr_tensor(crow, col, value, (1, 2))
    assert built.layout == torch.sparse_csr and built.values().tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="sorted"):
        csr_tensor(crow, col, value, (1, 2), check_invariants=True)


def test_to_csr_keeps_values_and_layout():
    from graphcl.sparse import to_csr
    x = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]])
    out = to_csr(x)
    assert out.layout == torch.sparse_csr
    assert out.crow_indices().tolist() == [0, 1, 2] and out.col_indices().tolist() == [1, 0]
    assert torch.equal(out.to_dense(), x)
