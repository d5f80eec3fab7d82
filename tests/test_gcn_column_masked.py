"""The first GCN layer's column masking (:class:`graphcl.nn.gcn.ColumnMasked`, GRACE's feature
view): X (keep ⊙ W) must equal the masked copy X diag(keep) times W, for sparse and dense X, in
values and in the weight gradient; and GRACE's view draws the same mask as
``mask_feature_columns`` from the same generator state."""
from __future__ import annotations

import pytest
import torch

from graphcl.augment import mask_feature_columns
from graphcl.augment.features import apply_column_mask
from graphcl.nn.gcn import ColumnMasked, GCNEncoder
from graphcl.sparse import SparseGraph, to_csr


def _features(sparse: bool):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 30, generator=g)
    x = x * (x > 0.8)                                   # bag-of-words-like, ~20% nonzero
    return to_csr(x) if sparse else x, x


@pytest.mark.parametrize("sparse", [True, False])
def test_column_masked_equals_the_masked_copy_in_values_and_gradients(sparse):
    x, dense = _features(sparse)
    keep = torch.rand(30, generator=torch.Generator().manual_seed(1)) >= 0.4
    edge_index = torch.tensor([[0, 1, 2, 3, 5, 7], [1, 2, 3, 0, 9, 8]])
    torch.manual_seed(0)
    enc = GCNEncoder(30, 8, 2, "prelu")
    operator = SparseGraph(x) if sparse else x
    got = enc(ColumnMasked(operator, keep), edge_index)
    grads = torch.autograd.grad(got.square().sum(), list(enc.parameters()))
    want = enc(apply_column_mask(dense, keep), edge_index)
    expected = torch.autograd.grad(want.square().sum(), list(enc.parameters()))
    torch.testing.assert_close(got, want)
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("sparse_features", [True, False])
def test_grace_view_draws_the_mask_feature_columns_mask(sparse_features):
    """GRACE's view masks the same columns that mask_feature_columns masks from the same
    generator state, and its encoder output equals the one of that masked copy."""
    from torch_geometric.data import Data
    from graphcl.registry import get_method
    _, dense = _features(False)
    g = torch.Generator().manual_seed(2)
    data = Data(x=dense, y=torch.randint(3, (40,), generator=g),
                edge_index=torch.randint(40, (2, 120), generator=g))
    spec = get_method("grace")
    torch.manual_seed(0)
    model = spec.build(data, {**spec.defaults, "hidden_dim": 8, "proj_dim": 8,
                              "sparse_features": sparse_features}, "cpu")
    x_view, edges, _ = model.view(0.2, 0.4, torch.Generator().manual_seed(7))
    reference = torch.Generator().manual_seed(7)
    from graphcl.augment import drop_edges
    drop_edges(model.edge_index, 0.2, num_nodes=40, undirected=bool(model.config["undirected_drop"]),
               generator=reference)                                  # the view draws edges first
    state = reference.get_state()
    masked = mask_feature_columns(dense, 0.4, generator=reference)
    keep = mask_feature_columns(torch.ones(1, 30), 0.4, generator=reference.set_state(state))[0] != 0
    assert torch.equal(x_view.keep, keep) and 0 < int(keep.sum()) < 30
    own = model.x.to_dense() if model.x.layout == torch.sparse_csr else model.x   # as the model holds it
    torch.testing.assert_close(model.encoder(x_view, edges), model.encoder(apply_column_mask(own, keep), edges))
    assert torch.equal(masked != 0, apply_column_mask(dense, keep) != 0)


def test_a_mask_of_the_wrong_size_or_type_is_refused():
    x, _ = _features(False)
    with pytest.raises(ValueError, match="boolean vector of the features' 30 columns"):
        ColumnMasked(x, torch.ones(29, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean vector"):
        ColumnMasked(x, torch.ones(30))
