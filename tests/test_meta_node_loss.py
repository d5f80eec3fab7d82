"""SCGC / PamC losses against their definitions: influence graph, Student-t
assignments, target distribution, KL direction, pairwise and meta-node losses."""
import math

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses import (
    influence_graph,
    kl_clustering_loss,
    meta_node_loss,
    pairwise_neighbor_loss,
    student_t_assignment,
    student_t_log_assignment,
    target_distribution,
)
from graphcl.losses.meta_node import meta_nodes

F64 = torch.float64


# ------------------------------------------------------------ influence graph
# Path 0 - 1 - 2 - 3. Â = D^{-1}(A + I) by hand, and Â² row by row (Â²[i] = Σ_j Â_ij Â[j]).
A_HAT = [[1 / 2, 1 / 2, 0, 0], [1 / 3, 1 / 3, 1 / 3, 0], [0, 1 / 3, 1 / 3, 1 / 3], [0, 0, 1 / 2, 1 / 2]]
A_HAT2 = [[5 / 12, 5 / 12, 1 / 6, 0], [5 / 18, 7 / 18, 2 / 9, 1 / 9],
          [1 / 9, 2 / 9, 7 / 18, 5 / 18], [0, 1 / 6, 5 / 12, 5 / 12]]


def test_influence_graph_on_a_path():
    # one direction only, a duplicate (1, 2) and a self loop (2, 2): symmetrized, binarized,
    # the self loop replaced by the unit one
    edges = torch.tensor([[0, 1, 1, 2, 2], [1, 2, 2, 3, 2]])
    g1 = influence_graph(edges, 4, order=1)
    torch.testing.assert_close(g1.to_dense().double(), torch.tensor(A_HAT, dtype=F64))
    g2 = influence_graph(edges, 4, order=2)                     # cumulative: Â + Â²
    expected = torch.tensor(A_HAT, dtype=F64) + torch.tensor(A_HAT2, dtype=F64)
    torch.testing.assert_close(g2.to_dense().double(), expected)
    assert expected[0].tolist() == pytest.approx([11 / 12, 11 / 12, 1 / 6, 0])
    assert g2.nnz == 14                                          # 0 and 3 are 3 hops apart
    torch.testing.assert_close(g2.to_dense().sum(1), torch.full((4,), 2.0))   # r rows of mass 1
    plain = influence_graph(edges, 4, order=2, cumulative=False)            # SCGC's Â^r
    torch.testing.assert_close(plain.to_dense().double(), torch.tensor(A_HAT2, dtype=F64))
    g3 = influence_graph(edges, 4, order=3)
    assert g3.nnz == 16                                          # every pair within 3 hops
    # COO triples are sorted by (row, col)
    key = g2.row * 4 + g2.col
    assert torch.equal(key, torch.sort(key).values)


def test_influence_graph_isolated_node_and_errors():
    g = influence_graph(torch.tensor([[0], [1]]), 3, order=2)
    assert g.to_dense()[2].tolist() == [0.0, 0.0, 2.0]           # only its self loop, in Â and Â²
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="order r must be an integer >= 1"):
            influence_graph(torch.tensor([[0], [1]]), 2, order=bad)
    with pytest.raises(ValueError, match="refers to node 5"):
        influence_graph(torch.tensor([[0], [5]]), 3)
    with pytest.raises(ValueError, match="empty"):
        influence_graph(torch.zeros(2, 0, dtype=torch.long), 0)


# ------------------------------------------------------ DEC clustering parts
def test_student_t_assignment_by_hand():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=F64)
    centers = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=F64)
    q = student_t_assignment(z, centers)                         # ν = 1: (1 + d²)^-1
    # node 0: d² = 1, 4 -> 1/2, 1/5; node 1: d² = 0, 5 -> 1, 1/6
    torch.testing.assert_close(q, torch.tensor([[5 / 7, 2 / 7], [6 / 7, 1 / 7]], dtype=F64))
    q2 = student_t_assignment(z, centers, dof=2.0)               # (1 + d²/2)^-1.5
    k = torch.tensor([[1.5 ** -1.5, 3.0 ** -1.5], [1.0, 3.5 ** -1.5]], dtype=F64)
    torch.testing.assert_close(q2, k / k.sum(1, keepdim=True))
    # a far centre: q underflows in float32 ((1 + 1e10/10)^-5.5 ~ 1e-50) but log q stays finite
    log_q = student_t_log_assignment(torch.tensor([[0.0]]), torch.tensor([[0.0], [1e5]]), dof=10.0)
    assert torch.isfinite(log_q).all() and float(log_q[0, 1]) == pytest.approx(-5.5 * math.log1p(1e9), rel=1e-5)
    assert float(log_q[0, 1].exp()) == 0.0
    with pytest.raises(ValueError, match="share d"):
        student_t_assignment(torch.zeros(3, 2), torch.zeros(2, 3))


def test_target_distribution_formula():
    q = torch.tensor([[0.5, 0.5], [0.9, 0.1]], dtype=F64)
    # f = (1.4, 0.6); row 0: (0.25/1.4, 0.25/0.6) ∝ (0.3, 0.7); row 1: (0.81/1.4, 0.01/0.6) ∝ (0.972, 0.028)
    torch.testing.assert_close(target_distribution(q), torch.tensor([[0.3, 0.7], [0.972, 0.028]], dtype=F64))
    # the authors' form: weight = q**2 / q.sum(0); (weight.t() / weight.sum(1)).t()
    q = torch.softmax(torch.randn(7, 3, generator=torch.Generator().manual_seed(0), dtype=F64), 1)
    w = q ** 2 / q.sum(0)
    torch.testing.assert_close(target_distribution(q), (w.t() / w.sum(1)).t())
    assert not target_distribution(q.requires_grad_()).requires_grad


def test_kl_is_p_to_q():
    p = torch.tensor([[0.9, 0.1], [0.2, 0.8]], dtype=F64)
    q = torch.tensor([[0.6, 0.4], [0.5, 0.5]], dtype=F64)
    kl = kl_clustering_loss(p, q.log())
    by_hand = (0.9 * math.log(0.9 / 0.6) + 0.1 * math.log(0.1 / 0.4)
               + 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)) / 2
    assert float(kl) == pytest.approx(by_hand, rel=1e-12)
    reverse = kl_clustering_loss(q, p.log())                    # KL(Q || P) is a different number
    assert abs(float(reverse) - by_hand) > 1e-3
    torch.testing.assert_close(kl, F.kl_div(q.log(), p, reduction="batchmean"))   # the authors' call
    # 0 · log 0 = 0, and the gradient reaches log q only (P is a constant target)
    log_q = q.log().requires_grad_()
    p0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64, requires_grad=True)
    out = kl_clustering_loss(p0, log_q)
    assert torch.isfinite(out)
    out.backward()
    torch.testing.assert_close(log_q.grad, -p0.detach() / 2)
    assert p0.grad is None


# ------------------------------------------------- contrastive losses vs loops
def _cos(a, b):
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def _pos_ref(z, a, tau):
    n = len(z)
    return [sum(a[i][j] * math.exp(tau * (0.0 if i == j else _cos(z[i], z[j])))
                for j in range(n) if a[i][j] != 0) for i in range(n)]


def pamc_reference(z, a, q, tau, hard, eps=1e-10):
    """Literal loops over the definition (module docstring of graphcl.losses.meta_node)."""
    n, k, d = len(z), len(q[0]), len(z[0])
    pos = _pos_ref(z, a, tau)
    centres = []
    for c in range(k):
        if hard:
            members = [i for i in range(n) if max(range(k), key=lambda m: q[i][m]) == c]
            if not members:
                continue                                       # empty cluster: no meta-node
            centres.append([sum(z[i][t] for i in members) for t in range(d)])
        else:
            centres.append([sum(q[i][c] * z[i][t] for i in range(n)) for t in range(d)])
    neg = [sum(math.exp(tau * (0.0 if u == v else _cos(cu, cv))) for v, cv in enumerate(centres))
           for u, cu in enumerate(centres)]
    return (-sum(math.log(p + eps) for p in pos) / n + sum(math.log(s + eps) for s in neg) / len(neg))


def pairwise_reference(z, a, tau, eps=1e-8):
    n = len(z)
    pos = _pos_ref(z, a, tau)
    den = [sum(math.exp(tau * (0.0 if i == j else _cos(z[i], z[j]))) for j in range(n)) for i in range(n)]
    return -sum(math.log(pos[i] / den[i] + eps) for i in range(n)) / n


@pytest.fixture
def tiny():
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(6, 3, generator=gen, dtype=F64)
    q = torch.softmax(torch.randn(6, 3, generator=gen, dtype=F64), 1)
    edges = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 0, 4, 5, 3]])
    graph = influence_graph(edges, 6, order=2)
    a = graph.to_dense().double().tolist()
    return z, q, graph, a


@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_meta_node_loss_equals_its_definition(tiny, tau):
    z, q, graph, a = tiny
    graph = graph.__class__(graph.row, graph.col, graph.value.double(), graph.num_nodes)
    for hard in (False, True):
        got = meta_node_loss(z, graph, q, tau, assignment="hard" if hard else "soft")
        want = pamc_reference(z.tolist(), a, q.tolist(), tau, hard)
        assert float(got) == pytest.approx(want, rel=1e-10), hard
    assert float(pairwise_neighbor_loss(z, graph, tau)) == pytest.approx(
        pairwise_reference(z.tolist(), a, tau), rel=1e-10)


def test_hard_and_soft_meta_nodes(tiny):
    z, q, graph, a = tiny
    graph = graph.__class__(graph.row, graph.col, graph.value.double(), graph.num_nodes)
    # soft: c = Q^T Z; hard: sums of the argmax members
    torch.testing.assert_close(meta_nodes(z, q, "soft"), q.t() @ z)
    labels = q.argmax(1)
    hard = meta_nodes(z, q, "hard")
    kept = [k for k in range(3) if (labels == k).any()]
    torch.testing.assert_close(hard, torch.stack([z[labels == k].sum(0) for k in kept]))
    # with one-hot Q (every cluster used) both variants give the same loss
    onehot = F.one_hot(torch.tensor([0, 1, 2, 0, 1, 2]), 3).to(F64)
    torch.testing.assert_close(meta_node_loss(z, graph, onehot, 0.7, "soft"),
                               meta_node_loss(z, graph, onehot, 0.7, "hard"))
    # an empty hard cluster is left out (finite loss, K' = 2 meta-nodes), soft keeps all K
    q_empty = F.one_hot(torch.tensor([0, 0, 2, 0, 2, 2]), 3).to(F64) * 0.8 + 0.1
    assert meta_nodes(z, q_empty, "hard").shape == (2, 3)
    loss = meta_node_loss(z, graph, q_empty, 0.7, "hard")
    assert torch.isfinite(loss)
    assert float(loss) == pytest.approx(pamc_reference(z.tolist(), a, q_empty.tolist(), 0.7, True), rel=1e-10)
    # gradients: soft reaches Q (unless detached), hard never does
    for assignment, detach, reaches in (("soft", False, True), ("soft", True, False), ("hard", False, False)):
        zz, qq = z.clone().requires_grad_(), q.clone().requires_grad_()
        meta_node_loss(zz, graph, qq, 0.7, assignment, detach_assignment=detach).backward()
        assert zz.grad is not None and torch.isfinite(zz.grad).all()
        assert (qq.grad is not None and bool(qq.grad.abs().sum() > 0)) == reaches, (assignment, detach)
    with pytest.raises(ValueError, match="assignment must be one of"):
        meta_node_loss(z, graph, q, 0.7, "medium")


def test_loss_gradients_match_the_float64_reference(tiny):
    """float32 autograd through the in-place pairwise form equals float64 gradients."""
    z, q, graph, _ = tiny
    g64 = graph.__class__(graph.row, graph.col, graph.value.double(), graph.num_nodes)
    for fn in (lambda zz, g: pairwise_neighbor_loss(zz, g, 0.9),
               lambda zz, g: meta_node_loss(zz, g, q.to(zz.dtype), 0.9)):
        z64 = z.clone().requires_grad_()
        fn(z64, g64).backward()
        z32 = z.float().requires_grad_()
        fn(z32, graph).backward()
        torch.testing.assert_close(z32.grad.double(), z64.grad, rtol=1e-4, atol=1e-6)


def test_loss_input_errors(tiny):
    z, q, graph, _ = tiny
    with pytest.raises(ValueError, match="tau must be > 0"):
        meta_node_loss(z, graph, q, 0.0)
    with pytest.raises(ValueError, match="N = 6 nodes"):
        pairwise_neighbor_loss(z[:5], graph, 1.0)
    with pytest.raises(ValueError, match="q must be"):
        meta_node_loss(z, graph, q[:4], 1.0)
