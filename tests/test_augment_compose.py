"""All augmenters together: Compose / RandomChoice, no mutation, seeds, CPU vs CUDA."""
from __future__ import annotations

import pytest
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data

from graphcl.augment import (RandomChoice, CommunalAttributeVoting, CommunalEdgeDrop, CommunityStrength, EdgeDrop,
                             FeatureMask, NodeDrop, SVDView, drop_edges, mask_feature_columns)

from _augment_helpers import assert_unchanged, snapshot, toy_two_communities


def _data() -> Data:
    g = torch.Generator().manual_seed(0)
    ei = toy_two_communities()
    return Data(x=torch.rand(7, 8, generator=g), y=torch.arange(7), edge_index=ei,
                edge_attr=torch.rand(ei.size(1), 3, generator=g), num_nodes=7)


def _all(seed: int):
    return [EdgeDrop(0.3, seed=seed), FeatureMask(0.3, seed=seed), NodeDrop(0.2, seed=seed),
            SVDView(rank=2), CommunalEdgeDrop(0.3, seed=seed),
            CommunalAttributeVoting(0.3, seed=seed)]


def test_compose_and_random_choice_leave_input_alone():
    data = CommunityStrength()(_data())
    snap = snapshot(data)
    pipeline = T.Compose([EdgeDrop(0.2, seed=1), FeatureMask(0.3, seed=1), SVDView(rank=2),
                          CommunalAttributeVoting(0.2, seed=1)])
    out = pipeline(data)
    assert out.svd_u_s.shape == (7, 2) and out.x.shape == data.x.shape
    choice = RandomChoice(_all(0), seed=0)
    for _ in range(12):
        assert choice(data).num_nodes == 7
    first = [RandomChoice(_all(0), seed=4)(data).edge_index for _ in range(2)]
    assert torch.equal(first[0], first[1])
    nested = T.Compose([RandomChoice([EdgeDrop(0.2), NodeDrop(0.2)], seed=1), FeatureMask(0.2)])
    assert nested(data).x.shape == (7, 8)
    assert_unchanged(data, snap)


def _chi_square(counts: list[int], probs: list[float]) -> float:
    n = sum(counts)
    return sum((c - n * q) ** 2 / (n * q) for c, q in zip(counts, probs) if q > 0)


@pytest.mark.parametrize("p,probs", [(None, [1 / 3, 1 / 3, 1 / 3]), ([6, 3, 1], [0.6, 0.3, 0.1]),
                                     ([0.5, 0.0, 0.5], [0.5, 0.0, 0.5])])
def test_random_choice_picks_with_its_weights(p, probs):
    """Over 6000 calls the transform itself picks each branch at its weight's rate (chi-square with
    2 degrees of freedom below 13.8, p = 0.001); a zero weight is never picked; the same seed
    repeats the same sequence of picks."""
    branches = [lambda data, k=k: (k, data) for k in range(3)]
    choice = RandomChoice(branches, p=p, seed=0)
    picks = [choice("x")[0] for _ in range(6000)]
    counts = [picks.count(k) for k in range(3)]
    assert _chi_square(counts, probs) < 13.8, counts
    assert all(c == 0 for c, q in zip(counts, probs) if q == 0)
    again = RandomChoice(branches, p=p, seed=0)
    assert [again("x")[0] for _ in range(200)] == picks[:200]
    assert choice("passed through")[1] == "passed through"


@pytest.mark.parametrize("index", range(6))
def test_each_transform_seeded_and_pure(index):
    data = CommunityStrength()(_data())
    snap = snapshot(data)
    a, b = _all(5)[index], _all(5)[index]
    out_a, out_b = a(data), b(data)
    assert_unchanged(data, snap)
    for key in ("edge_index", "x"):
        assert torch.equal(out_a[key], out_b[key])
    # a seeded transform advances: successive views differ eventually
    if index in (0, 1, 4, 5):
        views = [a(data) for _ in range(8)]
        assert any(not torch.equal(v.edge_index, out_a.edge_index) or not torch.equal(v.x, out_a.x)
                   for v in views)
        a.reset()
        assert torch.equal(a(data).x, out_a.x) and torch.equal(a(data).edge_index, views[0].edge_index)


def test_generator_argument():
    data = _data()
    out1 = EdgeDrop(0.5, generator=torch.Generator().manual_seed(9))(data)
    out2 = EdgeDrop(0.5, generator=torch.Generator().manual_seed(9))(data)
    assert torch.equal(out1.edge_index, out2.edge_index)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_cuda_agree():
    data = CommunityStrength()(_data())
    cuda = data.to("cuda")
    for make in (lambda: EdgeDrop(0.4, generator=torch.Generator().manual_seed(3)),
                 lambda: FeatureMask(0.4, generator=torch.Generator().manual_seed(3)),
                 lambda: NodeDrop(0.4, generator=torch.Generator().manual_seed(3)),
                 lambda: CommunalEdgeDrop(0.4, generator=torch.Generator().manual_seed(3)),
                 lambda: CommunalAttributeVoting(0.4, generator=torch.Generator().manual_seed(3))):
        out_cpu, out_gpu = make()(data), make()(cuda)
        assert out_gpu.x.is_cuda and out_gpu.edge_index.is_cuda
        assert torch.equal(out_gpu.edge_index.cpu(), out_cpu.edge_index)
        torch.testing.assert_close(out_gpu.x.cpu(), out_cpu.x)
    # seeded transforms draw on the device itself: still valid, still reproducible
    a, b = EdgeDrop(0.4, seed=1)(cuda), EdgeDrop(0.4, seed=1)(cuda)
    assert torch.equal(a.edge_index, b.edge_index) and a.edge_index.is_cuda
    ei, keep = drop_edges(cuda.edge_index, 0.5, undirected=True)
    assert keep.is_cuda
    assert mask_feature_columns(cuda.x, 0.5).is_cuda
    f = SVDView(rank=2)(cuda)
    assert f.svd_u_s.is_cuda
