"""Feature augmenters accept sparse CSR features and give the dense result."""
import torch

from graphcl.augment import communal_attribute_voting, mask_feature_columns


def _x():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(25, 40, generator=g) < 0.15).float() * torch.rand(25, 40, generator=g)


def test_feature_mask_sparse_equals_dense():
    x = _x()
    dense = mask_feature_columns(x, 0.4, generator=torch.Generator().manual_seed(5))
    sparse = mask_feature_columns(x.to_sparse_csr(), 0.4, generator=torch.Generator().manual_seed(5))
    assert sparse.layout == torch.sparse_csr
    torch.testing.assert_close(sparse.to_dense(), dense)


def test_cav_sparse_equals_dense():
    x = _x()
    cs = torch.randn(25) * 0.1
    dense = communal_attribute_voting(x, cs, 0.3, generator=torch.Generator().manual_seed(2))
    sparse = communal_attribute_voting(x.to_sparse_csr(), cs, 0.3, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(sparse.to_dense(), dense)
    assert not torch.isnan(sparse.values()).any()
