"""Tests written against the mutants of ``graphcl/losses/`` that survived the loss test
files (see experiments/results/mutation.md).

References are literal loops or dense formulas written here, not the library's own
helpers; error cases are matched by message; defaults are checked against the documented
value.
"""
from __future__ import annotations

import math

import pytest
import torch

from graphcl.losses.clustering import (kl_clustering_loss, student_t_assignment, student_t_log_assignment,
                                       target_distribution)
from graphcl.losses.infonce import grace_loss, info_nce
from graphcl.losses.logsumexp import (DEFAULT_BLOCK_SIZE, DEFAULT_BLOCK_SIZE_ACCELERATOR, blockwise_logsumexp_matmul,
                                      default_block_size)
from graphcl.losses.meta_node import (influence_graph, meta_node_loss, meta_nodes, normalized_adjacency,
                                      positive_sums)
from graphcl.losses.ntxent import nt_xent, nt_xent_scores
from graphcl.losses.soft_weighted import PairwiseWeightMLP, soft_weighted_info_nce, soft_weighted_info_nce_dense
from graphcl.losses.weighted import ClusterWeights, weighted_info_nce, weighted_info_nce_dense
from graphcl.losses.prototypical import concentration

torch.set_default_dtype(torch.float32)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------- NT-Xent
def _nt_xent_loop(z1, z2, tau, cos):
    """Per-anchor NT-Xent written out: positive at a ± B, the other 2(B-1) rows negatives."""
    z = torch.cat([z1, z2]).double()
    if cos:
        z = torch.stack([row / row.norm() for row in z])
    n2, b = z.shape[0], z1.shape[0]
    total = 0.0
    for a in range(n2):
        pos = (a + b) % n2
        s = lambda j: float(z[a] @ z[j]) / tau
        denom = sum(math.exp(s(j)) for j in range(n2) if j != a)
        total += -(s(pos) - math.log(denom))
    return total / n2


@pytest.mark.parametrize("similarity, tau", [("dot", 0.7), ("cos", 0.3), ("dot", 1.0)])
def test_nt_xent_equals_the_per_anchor_formula(similarity, tau):
    z1 = torch.randn(3, 4, generator=_gen(1))
    z2 = torch.randn(3, 4, generator=_gen(2)) * 2.0
    got = nt_xent(z1, z2, tau=tau, similarity=similarity)
    assert got.shape == ()
    assert float(got) == pytest.approx(_nt_xent_loop(z1, z2, tau, similarity == "cos"), rel=1e-5)


def test_nt_xent_defaults_are_dot_product_and_tau_one():
    z1 = torch.randn(4, 3, generator=_gen(3))
    z2 = torch.randn(4, 3, generator=_gen(4)) * 3.0
    assert float(nt_xent(z1, z2)) == pytest.approx(_nt_xent_loop(z1, z2, 1.0, False), rel=1e-5)


def test_nt_xent_scores_mask_the_diagonal_and_point_at_the_other_view():
    z1 = torch.randn(3, 2, generator=_gen(5))
    z2 = torch.randn(3, 2, generator=_gen(6))
    scores, positive = nt_xent_scores(z1, z2, tau=0.5)
    z = torch.cat([z1, z2])
    assert positive.tolist() == [3, 4, 5, 0, 1, 2]
    for i in range(6):
        for j in range(6):
            if i == j:
                assert scores[i, j] == float("-inf")
            else:
                assert float(scores[i, j]) == pytest.approx(float(z[i] @ z[j]) / 0.5, rel=1e-5)


def test_nt_xent_error_messages():
    ok = torch.randn(3, 2)
    with pytest.raises(ValueError, match=r"z1 and z2 must be \(B, d\) of equal shape, got \(3, 2\) and \(2, 2\)"):
        nt_xent(ok, torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"got \(3,\) and \(3,\)"):
        nt_xent(torch.randn(3), torch.randn(3))
    with pytest.raises(ValueError, match=r"^NT-Xent needs a batch of at least 2 rows \(it has no negatives otherwise\)$"):
        nt_xent(torch.randn(1, 2), torch.randn(1, 2))
    nt_xent(torch.randn(2, 2), torch.randn(2, 2))  # two rows are enough
    with pytest.raises(ValueError, match="tau must be positive, got 0"):
        nt_xent(ok, ok, tau=0)
    with pytest.raises(ValueError, match="tau must be positive, got -1"):
        nt_xent(ok, ok, tau=-1)
    with pytest.raises(ValueError, match="similarity must be 'dot' or 'cos', got 'l2'"):
        nt_xent(ok, ok, similarity="l2")


# ---------------------------------------------------------------------- InfoNCE
def _info_nce_loop(q, k, tau, pos):
    q = torch.stack([r / r.norm() for r in q.double()])
    k = torch.stack([r / r.norm() for r in k.double()])
    out = []
    for i in range(q.shape[0]):
        logits = [float(q[i] @ k[j]) / tau for j in range(k.shape[0])]
        out.append(-(logits[pos[i]] - math.log(sum(math.exp(x) for x in logits))))
    return out


def test_info_nce_default_tau_and_per_query_reduction():
    q = torch.randn(2, 8, generator=_gen(7)) * torch.tensor([[1.0], [5.0]])
    k = torch.randn(3, 8, generator=_gen(8))  # more keys than queries, fewer than d
    ref = _info_nce_loop(q, k, 0.2, [0, 1])
    assert float(info_nce(q, k)) == pytest.approx(sum(ref) / 2, rel=1e-5)
    per = info_nce(q, k, reduction="none")
    assert per.shape == (2,)
    assert per.tolist() == pytest.approx(ref, rel=1e-5)


def test_info_nce_needs_as_many_keys_as_queries():
    with pytest.raises(ValueError, match="^aligned InfoNCE needs at least as many keys as queries$"):
        info_nce(torch.randn(3, 2), torch.randn(2, 2))


# ------------------------------------------------------------------------ GRACE
def _grace_loop(z1, z2, tau):
    u = torch.stack([r / r.norm() for r in z1.double()])
    v = torch.stack([r / r.norm() for r in z2.double()])
    n = u.shape[0]

    def side(a, b):
        tot = 0.0
        for i in range(n):
            pos = math.exp(float(a[i] @ b[i]) / tau)
            neg = sum(math.exp(float(a[i] @ b[j]) / tau) for j in range(n) if j != i)
            refl = sum(math.exp(float(a[i] @ a[j]) / tau) for j in range(n) if j != i)
            tot += -math.log(pos / (pos + neg + refl))
        return tot

    return (side(u, v) + side(v, u)) / (2 * n)


def test_grace_default_tau_is_one_half():
    z1 = torch.randn(5, 3, generator=_gen(9))
    z2 = torch.randn(5, 3, generator=_gen(10))
    assert float(grace_loss(z1, z2)) == pytest.approx(_grace_loop(z1, z2, 0.5), rel=1e-5)


@pytest.mark.parametrize("block_size", [1, 2, 3])
def test_grace_blockwise_with_blocks_smaller_than_the_graph(block_size):
    z1 = torch.randn(7, 3, generator=_gen(11), dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(7, 3, generator=_gen(12), dtype=torch.float64, requires_grad=True)
    got = grace_loss(z1, z2, tau=0.4, method="blockwise", block_size=block_size)
    assert float(got) == pytest.approx(_grace_loop(z1.detach(), z2.detach(), 0.4), rel=1e-10)
    g1, g2 = torch.autograd.grad(got, (z1, z2))
    d1, d2 = torch.autograd.grad(grace_loss(z1, z2, tau=0.4, method="dense"), (z1, z2))
    assert torch.allclose(g1, d1, atol=1e-12) and torch.allclose(g2, d2, atol=1e-12)


def test_grace_auto_uses_blockwise_on_large_graphs():
    z1 = torch.randn(4096, 2, generator=_gen(13))
    z2 = torch.randn(4096, 2, generator=_gen(14))
    auto = grace_loss(z1, z2, tau=0.5)
    assert torch.isfinite(auto)
    assert float(auto) == pytest.approx(float(grace_loss(z1, z2, tau=0.5, method="blockwise")), rel=1e-6)


def test_grace_node_bias_of_another_dtype_is_cast_to_the_embeddings():
    z1 = torch.randn(4, 3, generator=_gen(15))
    z2 = torch.randn(4, 3, generator=_gen(16))
    bias64 = torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=torch.float64)
    for method in ("dense", "fused", "blockwise"):
        out = grace_loss(z1, z2, node_bias=bias64, method=method, block_size=2)
        assert out.dtype == torch.float32
        ref = grace_loss(z1, z2, node_bias=bias64.float(), method=method, block_size=2)
        assert float(out) == pytest.approx(float(ref), rel=1e-6)


def test_grace_error_messages():
    z = torch.randn(3, 2)
    with pytest.raises(ValueError, match="tau must be positive, got 0"):
        grace_loss(z, z, tau=0)
    with pytest.raises(ValueError, match="block_size must be >= 1, got 0"):
        grace_loss(z, z, method="blockwise", block_size=0)


# -------------------------------------------------------------------- clustering
def test_kl_clustering_loss_is_the_batch_mean_on_a_non_square_assignment():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=torch.float64)
    q = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]], dtype=torch.float64)
    ref = sum(float(p[i, j] * math.log(p[i, j] / q[i, j])) for i in range(2) for j in range(3)) / 2
    assert float(kl_clustering_loss(p, q.log())) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match=r"p and log_q differ in shape: \(2, 3\) vs \(3, 2\)"):
        kl_clustering_loss(p, q.t())


def _student_t_loop(z, c, dof):
    out = torch.zeros(z.shape[0], c.shape[0], dtype=torch.float64)
    for i in range(z.shape[0]):
        for j in range(c.shape[0]):
            d2 = float(((z[i] - c[j]) ** 2).sum())
            out[i, j] = (1 + d2 / dof) ** (-(dof + 1) / 2)
    return out / out.sum(1, keepdim=True)


def test_student_t_assignment_default_dof_and_negative_coordinates():
    z = torch.tensor([[-1.5, 0.5], [2.0, -3.0], [0.0, 1.0]], dtype=torch.float64)
    c = torch.tensor([[-1.0, 0.0], [1.5, -2.0]], dtype=torch.float64)
    assert torch.allclose(student_t_assignment(z, c), _student_t_loop(z, c, 1.0), atol=1e-12)
    assert torch.allclose(student_t_assignment(z, c, dof=3.0), _student_t_loop(z, c, 3.0), atol=1e-12)


def test_student_t_error_messages():
    c = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"must share d, got \(3,\)"):
        student_t_log_assignment(torch.zeros(3), c)
    with pytest.raises(ValueError, match="dof must be > 0, got 0"):
        student_t_log_assignment(torch.zeros(4, 3), c, dof=0)


def test_target_distribution_formula_and_error():
    q = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], dtype=torch.float64)
    f = q.sum(0)
    w = torch.tensor([[float(q[i, j] ** 2 / f[j]) for j in range(3)] for i in range(2)], dtype=torch.float64)
    assert torch.allclose(target_distribution(q), w / w.sum(1, keepdim=True), atol=1e-14)
    with pytest.raises(ValueError, match=r"q must be \(N, K\), got shape \(3,\)"):
        target_distribution(torch.ones(3))


# --------------------------------------------------------------- logsumexp
def _lse_ref(q, k, tau):
    return torch.logsumexp((q.double() @ k.double().T) / tau, dim=1)


def test_blockwise_logsumexp_defaults_are_tau_one_and_the_device_block():
    q = torch.randn(5, 2, generator=_gen(17), dtype=torch.float64)
    k = torch.randn(7, 2, generator=_gen(18), dtype=torch.float64)
    got = blockwise_logsumexp_matmul(q, k)
    assert got.dtype == torch.float64
    assert torch.allclose(got, _lse_ref(q, k, 1.0), rtol=1e-13, atol=0)


@pytest.mark.parametrize("block_size", [1, 4, 100])
def test_blockwise_logsumexp_float64_blocks_wider_than_d(block_size):
    q = torch.randn(5, 2, generator=_gen(19), dtype=torch.float64)
    k = torch.randn(7, 2, generator=_gen(20), dtype=torch.float64)
    got = blockwise_logsumexp_matmul(q, k, 0.3, block_size=block_size)
    assert torch.allclose(got, _lse_ref(q, k, 0.3), rtol=1e-13, atol=0)


def test_blockwise_logsumexp_keeps_rows_of_very_different_scale_finite():
    q = torch.tensor([[10.0], [-10.0]])
    k = torch.tensor([[10.0], [9.0]])
    got = blockwise_logsumexp_matmul(q, k, 0.1, block_size=1)
    assert torch.isfinite(got).all()
    assert torch.allclose(got.double(), _lse_ref(q, k, 0.1), rtol=1e-6)


def test_blockwise_logsumexp_single_key_and_errors():
    q = torch.randn(3, 2)
    one = torch.randn(1, 2)
    assert torch.allclose(blockwise_logsumexp_matmul(q, one, 0.5).double(), _lse_ref(q, one, 0.5), rtol=1e-6)
    with pytest.raises(ValueError, match=r"same d, got \(3, 2\) and \(4, 3\)"):
        blockwise_logsumexp_matmul(q, torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"same d, got \(3, 2\) and \(2,\)"):
        blockwise_logsumexp_matmul(q, torch.randn(2))
    with pytest.raises(ValueError, match="^k has no rows: the logsumexp over an empty set is undefined$"):
        blockwise_logsumexp_matmul(q, torch.randn(0, 2))
    with pytest.raises(ValueError, match="tau must be positive, got 0"):
        blockwise_logsumexp_matmul(q, q, 0.0)
    with pytest.raises(ValueError, match="block_size must be positive, got 0"):
        blockwise_logsumexp_matmul(q, q, block_size=0)
    with pytest.raises(ValueError, match=r"q \(torch.float32, cpu\) and k \(torch.float64, cpu\)"):
        blockwise_logsumexp_matmul(q, q.double())


# ------------------------------------------------------------ weighted InfoNCE
def _weighted_loop(q, k, w, tau):
    """ℓ_i = −log e^{s_ii} / Σ_j w_ij e^{s_ij}, s = q·k / τ (no normalization); mean over i."""
    q, k = q.double(), k.double()
    n = q.shape[0]
    tot = 0.0
    for i in range(n):
        s = [float(q[i] @ k[j]) / tau for j in range(n)]
        tot += -(s[i] - math.log(sum(float(w[i, j]) * math.exp(s[j]) for j in range(n))))
    return tot / n


def test_weighted_info_nce_defaults_and_small_blocks():
    q = torch.randn(5, 3, generator=_gen(21), dtype=torch.float64)
    k = torch.randn(5, 3, generator=_gen(22), dtype=torch.float64)
    labels = torch.tensor([[0, 0, 1, 1, 2], [0, 1, 1, 0, 0]])
    cw = ClusterWeights(labels, dtype=torch.float64)
    dense_w = torch.tensor([[2 - sum(int(labels[r, i] == labels[r, j]) for r in range(2)) for j in range(5)]
                            for i in range(5)], dtype=torch.float64)
    ref = _weighted_loop(q, k, dense_w, 0.5)
    assert float(weighted_info_nce(q, k, cw)) == pytest.approx(ref, rel=1e-10)
    assert float(weighted_info_nce(q, k, cw, block_size=2)) == pytest.approx(ref, rel=1e-10)
    assert float(weighted_info_nce_dense(q, k, dense_w)) == pytest.approx(ref, rel=1e-10)
    assert cw(0, 5).dtype == torch.float64
    plain = _weighted_loop(q, k, torch.ones(5, 5), 0.5)
    assert float(weighted_info_nce(q, k)) == pytest.approx(plain, rel=1e-10)
    assert float(weighted_info_nce(q, k, block_size=2)) == pytest.approx(plain, rel=1e-10)
    assert torch.equal(cw(1, 4), dense_w[1:4])


def test_cluster_weights_accepts_one_run_as_a_vector_and_checks_its_input():
    cw = ClusterWeights(torch.tensor([0, 0, 1]))
    assert cw(0, 3).tolist() == [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    assert cw.dtype == torch.float32 and cw(0, 3).dtype == torch.float32
    single = ClusterWeights(torch.tensor([[0]]))
    assert single(0, 1).tolist() == [[0.0]]
    with pytest.raises(ValueError, match=r"labels must be \(runs, N\) cluster ids, got shape \(2, 0\)"):
        ClusterWeights(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"got shape \(1, 2, 2\)"):
        ClusterWeights(torch.zeros(1, 2, 2, dtype=torch.long))
    ClusterWeights(torch.zeros(255, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="at most 255 clustering runs, got 256"):
        ClusterWeights(torch.zeros(256, 2, dtype=torch.long))


def test_weighted_info_nce_error_messages():
    q = torch.randn(3, 2)
    with pytest.raises(ValueError, match="^no nodes: the loss over an empty set is undefined$"):
        weighted_info_nce(torch.zeros(0, 2), torch.zeros(0, 2))
    one = torch.randn(1, 2)
    assert torch.isfinite(weighted_info_nce(one, one))  # a single node is a valid set
    empty_d = torch.zeros(2, 0)
    weighted_info_nce(empty_d, empty_d)  # zero features: defined (all scores 0)
    with pytest.raises(ValueError, match="tau must be positive, got 0"):
        weighted_info_nce(q, q, tau=0)
    with pytest.raises(ValueError, match="block_size must be >= 1, got 0"):
        weighted_info_nce(q, q, block_size=0)


def test_soft_weighted_defaults_match_the_dense_reference():
    torch.manual_seed(0)
    mlp = PairwiseWeightMLP(3)
    assert mlp.fc1.out_features == 16  # the documented hidden width
    q = torch.randn(6, 3, generator=_gen(23))
    k = torch.randn(6, 3, generator=_gen(24))
    dense = soft_weighted_info_nce_dense(q, k, mlp)
    assert float(soft_weighted_info_nce(q, k, mlp)) == pytest.approx(float(dense), rel=1e-5)
    assert float(soft_weighted_info_nce(q, k, mlp, block_size=4)) == pytest.approx(float(dense), rel=1e-5)
    assert float(dense) == pytest.approx(float(soft_weighted_info_nce_dense(q, k, mlp, tau=0.5)), rel=1e-7)


# ------------------------------------------------------------------ meta nodes
def test_meta_nodes_hard_keeps_singletons_and_drops_the_empty_last_cluster():
    z = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 7.0]])
    q = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.1, 0.9, 0.0]])  # clusters {0, 1}, {2}, {}
    got = meta_nodes(z, q, "hard")
    assert got.tolist() == [[4.0, 2.0], [5.0, 7.0]]


def test_meta_nodes_default_is_soft_and_lets_the_gradient_reach_q():
    z = torch.randn(4, 2, generator=_gen(25))
    q = torch.softmax(torch.randn(4, 3, generator=_gen(26)), 1).requires_grad_(True)
    got = meta_nodes(z, q)
    ref = torch.stack([sum(q[i, c] * z[i] for i in range(4)) for c in range(3)])
    assert torch.allclose(got, ref, atol=1e-6)
    got.sum().backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"q must be \(N, K\) with N = 4, got \(3, 3\)"):
        meta_nodes(z, torch.ones(3, 3))


def test_meta_node_loss_default_lets_the_gradient_reach_q():
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    graph = influence_graph(edge_index, 3)
    z = torch.randn(3, 2, generator=_gen(27))
    q = torch.softmax(torch.randn(3, 2, generator=_gen(28)), 1).requires_grad_(True)
    meta_node_loss(z, graph, q, 0.5).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0


def test_influence_graph_default_order_is_one_hop():
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    assert torch.equal(influence_graph(edge_index, 4).to_dense(), influence_graph(edge_index, 4, order=1).to_dense())
    assert not torch.equal(influence_graph(edge_index, 4).to_dense(),
                           influence_graph(edge_index, 4, order=2).to_dense())


def test_influence_graph_to_keeps_every_field_and_to_dense_keeps_the_dtype():
    g = influence_graph(torch.tensor([[0, 1], [1, 0]]), 3)
    moved = g.to("cpu")
    assert moved.num_nodes == 3
    assert torch.equal(moved.row, g.row) and torch.equal(moved.col, g.col) and torch.equal(moved.value, g.value)
    g64 = type(g)(g.row, g.col, g.value.double(), g.num_nodes)
    dense = g64.to_dense()
    assert dense.dtype == torch.float64 and dense.shape == (3, 3)


def _normalized_adjacency_loop(edges, n):
    a = torch.zeros(n, n, dtype=torch.float64)
    for u, v in edges:
        a[u, v] = a[v, u] = 1.0
    a += torch.eye(n, dtype=torch.float64)
    d = a.sum(1)
    return a / torch.sqrt(d[:, None] * d[None, :])


def test_normalized_adjacency_formula_boundaries_and_errors():
    got = normalized_adjacency(torch.tensor([[0], [1]]), 3).to_dense().double()
    assert torch.allclose(got, _normalized_adjacency_loop([(0, 1)], 3), atol=1e-6)
    one = normalized_adjacency(torch.zeros(2, 0, dtype=torch.long), 1).to_dense()
    assert one.tolist() == [[1.0]]
    float_ids = normalized_adjacency(torch.tensor([[0.0], [1.0]]), 2).to_dense()
    assert float_ids.shape == (2, 2)
    with pytest.raises(ValueError, match=r"the graph is empty \(0 nodes\)"):
        normalized_adjacency(torch.zeros(2, 0, dtype=torch.long), 0)
    with pytest.raises(ValueError, match=r"edge_index must have shape \(2, E\), got \(3, 1\)"):
        normalized_adjacency(torch.zeros(3, 1, dtype=torch.long), 4)
    with pytest.raises(ValueError, match=r"edge_index refers to node 3"):
        normalized_adjacency(torch.tensor([[0], [3]]), 3)


def test_meta_node_loss_checks_the_embedding_device():
    graph = influence_graph(torch.tensor([[0, 1], [1, 0]]), 2)
    with pytest.raises(ValueError, match="graph is on cpu but z is on meta"):
        meta_node_loss(torch.zeros(2, 2, device="meta"), graph, torch.ones(2, 1, device="meta"), 0.5)


# ---------------------------------------------------------------- concentration
def _concentration_loop(x, labels, centroids, tau, alpha, form):
    k = centroids.shape[0]
    phi = []
    sizes = [int((labels == c).sum()) for c in range(k)]
    for c in range(k):
        members = [i for i in range(x.shape[0]) if int(labels[i]) == c]
        if form == "pcl":
            d = [float((x[i] - centroids[c]).norm()) for i in members]
        else:
            d = [math.sqrt(max(float(x[i] @ centroids[c]), 0.0)) for i in members]
        phi.append(sum(d) / (max(sizes[c], 1) * math.log(sizes[c] + alpha)))
    phi = torch.tensor(phi, dtype=torch.float64)
    multi = torch.tensor([s > 1 for s in sizes])
    if multi.any():
        phi = torch.where(multi, phi, phi[multi].max())
        phi = phi.clamp(torch.quantile(phi, 0.1), torch.quantile(phi, 0.9))
    else:
        phi = torch.ones_like(phi)
    return tau * phi / phi.mean()


@pytest.mark.parametrize("form", ["pcl", "meow-code"])
def test_concentration_default_alpha_and_formula(form):
    x = torch.tensor([[1.0, 2.0], [2.0, 1.0], [-1.0, 3.0], [4.0, 4.0], [0.5, 0.5], [3.0, -1.0],
                      [2.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])  # cluster 2 is a singleton, sizes 2, 3, 1, 2
    centroids = torch.tensor([[1.5, 1.5], [1.0, 2.5], [3.0, -1.0], [1.5, 1.5]], dtype=torch.float64)
    alpha = 10.0 if form == "pcl" else 5.0
    got = concentration(x, labels, centroids, 0.2, form=form)
    assert got.dtype == torch.float64
    assert torch.allclose(got, _concentration_loop(x, labels, centroids, 0.2, alpha, form), atol=1e-12)


def test_concentration_all_singletons_is_flat_and_float32_stays_float32():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    got = concentration(x, torch.tensor([0, 1]), x.clone(), 0.3)
    assert got.tolist() == pytest.approx([0.3, 0.3])
    x64 = x.double()
    assert concentration(x64, torch.tensor([0, 0]), x64[:1].clone(), 0.3).dtype == torch.float64



# ------------------------------------------------- second round (after the rerun)
def test_student_t_log_assignment_default_dof_is_one():
    z = torch.tensor([[-1.5, 0.5], [2.0, -3.0]], dtype=torch.float64)
    c = torch.tensor([[-1.0, 0.0], [1.5, -2.0]], dtype=torch.float64)
    assert torch.allclose(student_t_log_assignment(z, c).exp(), _student_t_loop(z, c, 1.0), atol=1e-12)


def test_nt_xent_scores_default_tau_is_one():
    z1 = torch.randn(2, 3, generator=_gen(30))
    z2 = torch.randn(2, 3, generator=_gen(31))
    scores, _ = nt_xent_scores(z1, z2)
    assert float(scores[0, 2]) == pytest.approx(float(z1[0] @ z2[0]), rel=1e-6)


def test_weighted_info_nce_refuses_tau_zero_on_the_weighted_path():
    q = torch.randn(3, 2)
    cw = ClusterWeights(torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="^tau must be positive, got 0$"):
        weighted_info_nce(q, q, cw, tau=0)


def test_zero_mass_anchors_are_named_by_the_first_five():
    q = torch.randn(7, 2, generator=_gen(32))
    same = ClusterWeights(torch.zeros(1, 7, dtype=torch.long))  # one cluster: every weight is 0
    with pytest.raises(ValueError, match=r"^7 anchor\(s\) \(first: \[0, 1, 2, 3, 4\]\) have zero weight on every key"):
        weighted_info_nce(q, q, same)


def test_dense_weighted_reference_keeps_the_embeddings_dtype():
    q = torch.randn(3, 2, generator=_gen(33))
    w = torch.full((3, 3), 1 / 3, dtype=torch.float64)
    assert weighted_info_nce_dense(q, q, w).dtype == torch.float32


def test_default_block_size_by_device_type():
    assert default_block_size(torch.device("cpu")) == DEFAULT_BLOCK_SIZE
    assert default_block_size(torch.device("meta")) == DEFAULT_BLOCK_SIZE_ACCELERATOR
    assert DEFAULT_BLOCK_SIZE != DEFAULT_BLOCK_SIZE_ACCELERATOR


def test_influence_graph_to_moves_every_tensor():
    g = influence_graph(torch.tensor([[0, 1], [1, 0]]), 3)
    moved = g.to("meta")
    assert moved.row.device.type == moved.col.device.type == moved.value.device.type == "meta"


def test_positive_sums_equal_the_dense_formula():
    g = influence_graph(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), 3)
    zn = torch.nn.functional.normalize(torch.randn(3, 4, generator=_gen(34)), dim=1)
    full = positive_sums(zn.double(), g, 0.5)
    dense = g.to_dense().double()
    cos = zn.double() @ zn.double().T
    cos.fill_diagonal_(0.0)
    ref = (dense * torch.exp(0.5 * cos) * (dense != 0)).sum(1)
    assert torch.allclose(full, ref, atol=1e-12)


def test_concentration_with_an_empty_last_cluster_and_a_clamped_top():
    # five clusters of two points at growing spread, cluster 5 empty: phi is clipped to its
    # 10% / 90% quantiles, so the widest cluster is pulled down to the 90% value
    pts, labels = [], []
    for c, spread in enumerate([0.5, 1.0, 2.0, 3.0, 8.0]):
        pts += [[10.0 * c + spread, 0.0], [10.0 * c - spread, 0.0]]
        labels += [c, c]
    x = torch.tensor(pts, dtype=torch.float64)
    lab = torch.tensor(labels)
    centroids = torch.tensor([[10.0 * c, 0.0] for c in range(6)], dtype=torch.float64)
    got = concentration(x, lab, centroids, 0.2)
    ref = _concentration_loop(x, lab, centroids, 0.2, 10.0, "pcl")
    assert got.shape == (6,)
    assert torch.allclose(got, ref, atol=1e-12)
    raw = torch.tensor([2 * s / (2 * math.log(12.0)) for s in [0.5, 1.0, 2.0, 3.0, 8.0]], dtype=torch.float64)
    assert float(got[4] / got[0]) < float(raw[4] / raw[0])  # the top was clipped


def test_concentration_clips_the_widest_cluster_to_the_90_percent_quantile():
    pts, labels = [], []
    for c, spread in enumerate([0.5, 1.0, 2.0, 3.0, 8.0]):
        pts += [[10.0 * c + spread, 0.0], [10.0 * c - spread, 0.0]]
        labels += [c, c]
    x = torch.tensor(pts, dtype=torch.float64)
    lab = torch.tensor(labels)
    centroids = torch.tensor([[10.0 * c, 0.0] for c in range(5)], dtype=torch.float64)
    got = concentration(x, lab, centroids, 0.2)
    assert torch.allclose(got, _concentration_loop(x, lab, centroids, 0.2, 10.0, "pcl"), atol=1e-12)
    # raw phi_c = 2 s_c / (2 log(2 + 10)) = s_c / log 12; the 90% quantile of the five is 0.4*3 + 0.6*8 = 6
    raw = torch.tensor([0.5, 1.0, 2.0, 3.0, 8.0], dtype=torch.float64) / math.log(12.0)
    lo, hi = torch.quantile(raw, 0.1), torch.quantile(raw, 0.9)
    assert float(hi) == pytest.approx(6.0 / math.log(12.0))
    clipped = raw.clamp(lo, hi)
    assert torch.allclose(got, 0.2 * clipped / clipped.mean(), atol=1e-12)
