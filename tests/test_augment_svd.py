"""SVD view (LightGCL eq. 6-7): factors vs numpy's SVD, caching, inputs, RNG."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import Data

from graphcl.augment import SVDFactors, SVDView, clear_svd_cache, svd_cache_info, svd_view_factors
from graphcl.sparse import interaction_matrix


def _pairs(num_users: int = 40, num_items: int = 25, n: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(num_users, (n,), generator=g),
                        torch.randint(num_items, (n,), generator=g)])


@pytest.fixture()
def graph():
    return interaction_matrix(_pairs(), 40, 25)


def _planted(num_groups: int = 4, per_group: int = 12, seed: int = 0):
    """Dense user-item blocks plus sparse noise: a clear spectral gap after rank 4."""
    g = torch.Generator().manual_seed(seed)
    group_u = torch.arange(num_groups * per_group) // per_group
    group_i = torch.arange(num_groups * per_group) // per_group
    prob = torch.where(group_u[:, None] == group_i[None, :], 0.7, 0.03)
    mask = torch.rand(prob.shape, generator=g) < prob
    pairs = mask.nonzero().T
    n = num_groups * per_group
    return interaction_matrix(pairs, n, n)


def test_factors_match_truncated_svd():
    graph = _planted()
    f = svd_view_factors(graph, rank=4, niter=4, seed=0, cache=False)
    a = graph.to_dense().double().numpy()
    u, s, vt = np.linalg.svd(a)
    np.testing.assert_allclose(f.s.numpy(), s[:4], rtol=2e-2)
    # the left singular subspaces agree: each û_k lies in span(u_1..u_4)
    proj = u[:, :4].T @ f.u.double().numpy()
    np.testing.assert_allclose(np.linalg.norm(proj, axis=0), 1.0, atol=1e-2)
    # reconstruction error close to the optimal rank-4 error (Eckart-Young)
    err = np.linalg.norm(a - f.to_dense().double().numpy())
    opt = np.sqrt((s[4:] ** 2).sum())
    assert opt - 1e-6 <= err <= opt * 1.02


def test_propagation_is_usv(graph):
    f = svd_view_factors(graph, rank=5, seed=1, cache=False)
    e_items, e_users = torch.randn(25, 8), torch.randn(40, 8)
    dense = f.u @ torch.diag(f.s) @ f.v.T
    torch.testing.assert_close(f.propagate_users(e_items), dense @ e_items, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(f.propagate_items(e_users), dense.T @ e_users, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(f.us, f.u * f.s)
    torch.testing.assert_close(f.vs, f.v * f.s)
    assert f.rank == 5 and f.shape == (40, 25)


def test_input_kinds_agree(graph):
    csr = graph.matrix
    coo = csr.to_sparse_coo()
    scipy_m = sp.csr_matrix(graph.to_dense().numpy())
    outs = [svd_view_factors(m, rank=3, seed=5, cache=False) for m in (graph, csr, coo, scipy_m)]
    for f in outs[1:]:
        torch.testing.assert_close(f.s, outs[0].s, rtol=1e-4, atol=1e-5)
    # pairs through SVDView use the same symmetric normalization
    f = SVDView(rank=3, seed=5, cache=False).factors(_pairs(), 40, 25)
    torch.testing.assert_close(f.s, outs[0].s, rtol=1e-4, atol=1e-5)


def test_seeded_and_global_rng_untouched(graph):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = svd_view_factors(graph, rank=3, seed=7, cache=False)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = svd_view_factors(graph, rank=3, seed=7, cache=False)
    assert torch.equal(a.u, b.u) and torch.equal(a.s, b.s)


def test_cache_hit_and_miss(graph):
    clear_svd_cache()
    a = svd_view_factors(graph, rank=3)
    b = svd_view_factors(graph, rank=3)
    assert a is b
    assert svd_cache_info()["hits"] == 1 and svd_cache_info()["misses"] == 1
    other = interaction_matrix(_pairs(seed=1), 40, 25)
    c = svd_view_factors(other, rank=3)
    assert c is not a and svd_cache_info()["misses"] == 2
    d = svd_view_factors(graph, rank=4)  # other parameters miss too
    assert d.rank == 4 and svd_cache_info()["misses"] == 3


def test_transform_on_data_attaches_factors():
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 0, 0, 2], [1, 0, 2, 1, 3, 2, 0, 3, 2, 0]])
    data = Data(edge_index=edge_index, num_nodes=4)
    out = SVDView(rank=2, seed=0)(data)
    assert out is not data and not hasattr(data, "svd_u_s") or "svd_u_s" not in data
    assert out.svd_u_s.shape == (4, 2) and out.svd_v_s.shape == (4, 2) and out.svd_s.shape == (2,)
    deg = torch.bincount(edge_index[0], minlength=4).float()
    a = torch.zeros(4, 4)
    a[edge_index[0], edge_index[1]] = 1.0
    a = a / deg.sqrt()[:, None] / deg.sqrt()[None, :]
    s = torch.linalg.svdvals(a)
    torch.testing.assert_close(out.svd_s, s[:2], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("bad,message", [(dict(rank=0), "rank must be a positive int, got 0"),
                                         (dict(rank=100), r"rank 100 exceeds min\(shape\) = 25")])
def test_errors(graph, bad, message):
    with pytest.raises(ValueError, match=message):
        svd_view_factors(graph, cache=False, **bad)


def test_error_empty_and_type():
    with pytest.raises(ValueError, match="empty"):
        SVDView().factors(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(TypeError):
        svd_view_factors([[1, 2]])
    with pytest.raises(ValueError, match="normalize"):
        SVDView(normalize="left")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(graph):
    f_cpu = svd_view_factors(graph, rank=3, niter=8, cache=False)
    f_gpu = svd_view_factors(graph.to("cuda"), rank=3, niter=8, cache=False)
    assert f_gpu.u.is_cuda
    torch.testing.assert_close(f_gpu.s.cpu(), f_cpu.s, rtol=1e-3, atol=1e-4)


def test_dataclass_is_frozen(graph):
    f = svd_view_factors(graph, rank=2, cache=False)
    assert isinstance(f, SVDFactors)
    with pytest.raises(Exception):
        f.u = f.v  # type: ignore[misc]
