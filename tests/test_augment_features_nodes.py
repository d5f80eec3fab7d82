"""FeatureMask / mask_feature_columns and NodeDrop / drop_nodes."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data, HeteroData

from graphcl.augment import FeatureMask, NodeDrop, drop_nodes, mask_feature_columns

from _augment_helpers import assert_unchanged, edge_set, graphs, snapshot

FAST = settings(max_examples=40, deadline=None)


@FAST
@given(graphs(), st.floats(0, 1), st.integers(0, 100))
def test_feature_mask_properties(data, p, seed):
    snap = snapshot(data)
    out = FeatureMask(p, seed=seed)(data)
    assert_unchanged(data, snap)
    zeroed = (out.x == 0).all(0)
    kept = (out.x == data.x).all(0)
    assert bool((zeroed | kept).all())  # whole columns only
    assert torch.equal(out.edge_index, data.edge_index)
    assert torch.equal(FeatureMask(p, seed=seed)(data).x, out.x)


@FAST
@given(graphs())
def test_feature_mask_extremes(data):
    assert torch.equal(FeatureMask(0.0)(data).x, data.x)
    assert bool((FeatureMask(1.0)(data).x == 0).all())


def test_feature_mask_rate_and_nan():
    x = torch.randn(3, 4000)
    out = mask_feature_columns(x, 0.3, torch.Generator().manual_seed(0))
    assert abs((out == 0).all(0).float().mean().item() - 0.3) < 0.03


def _nan_rows(x: torch.Tensor) -> torch.Tensor:
    """``x`` with NaN in its first and last rows of every column."""
    out = x.clone()
    out[0], out[-1] = float("nan"), float("nan")
    return out


@pytest.mark.parametrize("form", ["function", "Data", "tensor", "HeteroData", "sparse"])
def test_feature_mask_zeroes_nan_in_masked_columns(form):
    """A masked column is exactly 0 even where the input is NaN (masked_fill, not x * m): the same
    draw on a NaN-free copy says which columns are masked; kept columns keep their NaN."""
    clean = torch.rand(5, 400) + 1.0                     # no zero entry: a zero column means masked
    dirty = _nan_rows(clean)

    def masked(x):
        gen = torch.Generator().manual_seed(3)
        if form == "function":
            return mask_feature_columns(x, 0.4, gen)
        if form == "tensor":
            return FeatureMask(0.4, generator=gen)(x)
        if form == "Data":
            return FeatureMask(0.4, generator=gen)(Data(x=x, edge_index=torch.tensor([[0], [1]]))).x
        if form == "sparse":
            return mask_feature_columns(x.to_sparse_csr(), 0.4, gen).to_dense()
        h = HeteroData()
        h["a"].x = x
        return FeatureMask(0.4, generator=gen)(h)["a"].x

    masked_cols = (masked(clean) == 0).all(0)
    assert 100 < int(masked_cols.sum()) < 220          # ~ 0.4 x 400 columns masked
    out = masked(dirty)
    assert bool((out[:, masked_cols] == 0).all())       # the NaN rows too
    assert not torch.isnan(out[:, masked_cols]).any()
    kept = out[:, ~masked_cols]
    assert torch.isnan(kept[0]).all() and torch.isnan(kept[-1]).all()
    assert torch.equal(kept[1:-1], dirty[1:-1, ~masked_cols])


def test_feature_mask_errors_and_hetero():
    with pytest.raises(ValueError, match="missing node features"):
        FeatureMask(0.5)(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2))
    with pytest.raises(ValueError, match="probability"):
        FeatureMask(2.0)
    with pytest.raises(ValueError, match="empty"):
        mask_feature_columns(torch.zeros(0, 3), 0.5)
    with pytest.raises(ValueError, match="floating"):
        mask_feature_columns(torch.ones(3, 3, dtype=torch.long), 0.5)
    h = HeteroData()
    h["a"].x = torch.ones(4, 30)
    h["b"].num_nodes = 3
    out = FeatureMask(0.5, seed=1)(h)
    assert (out["a"].x == 0).any() and bool((h["a"].x == 1).all())


@FAST
@given(graphs(), st.floats(0, 1), st.integers(0, 100))
def test_node_drop_keep_count(data, p, seed):
    snap = snapshot(data)
    out = NodeDrop(p, seed=seed)(data)
    assert_unchanged(data, snap)
    mask = out.node_mask
    draws = torch.rand(data.num_nodes, generator=torch.Generator().manual_seed(seed))
    assert mask.tolist() == [bool(u >= p) for u in draws]     # one draw per node, kept when u >= p
    assert out.num_nodes == data.num_nodes and torch.equal(out.y, data.y)
    assert torch.equal(out.train_mask, data.train_mask)
    assert bool((out.x[~mask] == 0).all()) and torch.equal(out.x[mask], data.x[mask])
    assert edge_set(out.edge_index) <= edge_set(data.edge_index)
    if out.edge_index.numel():
        assert bool(mask[out.edge_index].all())
    assert out.edge_attr.size(0) == out.edge_index.size(1)
    # every edge between kept nodes survives
    both = mask[data.edge_index[0]] & mask[data.edge_index[1]]
    assert out.edge_index.size(1) == int(both.sum())


@FAST
@given(graphs(), st.floats(0, 1), st.integers(0, 100))
def test_node_drop_relabel(data, p, seed):
    """Written out: one U[0, 1) draw per node from a CPU generator seeded with ``seed``; node i is
    kept when u_i >= p; kept nodes are renumbered 0..k-1 in order; an edge survives, renumbered,
    when both ends are kept; node-level attributes are the kept rows."""
    out = NodeDrop(p, relabel=True, seed=seed)(data)
    draws = torch.rand(data.num_nodes, generator=torch.Generator().manual_seed(seed))
    kept = [i for i in range(data.num_nodes) if bool(draws[i] >= p)]
    new_id = {old: new for new, old in enumerate(kept)}
    want_edges, want_attr = [], []
    for e, (a, b) in enumerate(data.edge_index.T.tolist()):
        if a in new_id and b in new_id:
            want_edges.append((new_id[a], new_id[b]))
            want_attr.append(data.edge_attr[e])
    assert out.num_nodes == len(kept)
    assert list(map(tuple, out.edge_index.T.tolist())) == want_edges
    if want_attr:
        assert torch.equal(out.edge_attr, torch.stack(want_attr))
    assert torch.equal(out.x, data.x[kept]) and torch.equal(out.y, data.y[kept])
    assert torch.equal(out.train_mask, data.train_mask[kept])


def test_node_drop_extremes_and_functional():
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    out, emask, nmask = drop_nodes(ei, 0.0)
    assert torch.equal(out, ei) and bool(emask.all()) and bool(nmask.all())
    out, emask, nmask = drop_nodes(ei, 1.0)
    assert out.size(1) == 0 and not bool(nmask.any())
    data = Data(x=torch.ones(4, 2), edge_index=ei)
    assert bool((NodeDrop(1.0)(data).x == 0).all())
    with pytest.raises(ValueError, match="out of range"):
        NodeDrop(0.5)(Data(edge_index=torch.tensor([[0], [9]]), num_nodes=3))


def test_node_drop_hetero():
    h = HeteroData()
    h["u"].x = torch.ones(5, 2)
    h["i"].x = torch.ones(4, 2)
    h["u", "r", "i"].edge_index = torch.tensor([[0, 1, 2, 3, 4], [0, 1, 2, 3, 0]])
    out = NodeDrop(0.5, seed=2)(h)
    ei = out["u", "r", "i"].edge_index
    assert bool(out["u"].node_mask[ei[0]].all()) and bool(out["i"].node_mask[ei[1]].all())
    assert bool((out["u"].x[~out["u"].node_mask] == 0).all())
    rel = NodeDrop(0.5, relabel=True, seed=2)(h)
    assert rel["u"].num_nodes == int(out["u"].node_mask.sum())
