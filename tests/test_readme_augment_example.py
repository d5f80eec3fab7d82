"""The augmenter example of the README, run as a test (keep both in sync)."""
from __future__ import annotations

README_SNIPPET = '''
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Data
from graphcl.augment import (EdgeDrop, FeatureMask, SVDView, CommunityStrength,
                             CommunalEdgeDrop, CommunalAttributeVoting, drop_edges)

edge_index = torch.tensor([[0, 1, 1, 2, 2, 0, 2, 3, 3, 4, 4, 5, 5, 3],
                           [1, 0, 2, 1, 0, 2, 3, 2, 4, 3, 5, 4, 3, 5]])
data = Data(x=torch.rand(6, 16), edge_index=edge_index)

# GRACE-style views: each call draws a new view; same seed => same sequence
view = T.Compose([EdgeDrop(p=0.2, seed=0), FeatureMask(p=0.3, seed=0)])
v1, v2 = view(data), view(data)

# CSGCL: community strength once, then communal edge dropping / attribute voting
data = CommunityStrength(method="louvain", seed=0)(data)
csgcl_view = T.Compose([CommunalEdgeDrop(p=0.3, seed=1), CommunalAttributeVoting(p=0.1, seed=1)])
v3 = csgcl_view(data)

# LightGCL SVD view of a user x item interaction list (factors cached per graph)
pairs = torch.tensor([[0, 0, 1, 2, 3, 3], [0, 1, 1, 2, 0, 2]])  # (user, item)
f = SVDView(rank=2).factors(pairs, num_users=4, num_items=3)
g_users = f.propagate_users(torch.randn(3, 8))   # (U S)(V^T E_items)
g_items = f.propagate_items(torch.randn(4, 8))   # (V S)(U^T E_users)

# functional form on tensors, with an explicit generator
kept, mask = drop_edges(edge_index, 0.5, undirected=True,
                        generator=torch.Generator().manual_seed(0))
'''


def test_readme_example_runs():
    namespace: dict = {}
    exec(compile(README_SNIPPET, "README", "exec"), namespace)
    assert namespace["g_users"].shape == (4, 8) and namespace["g_items"].shape == (3, 8)
    assert namespace["v3"].x.shape == (6, 16)
    assert namespace["kept"].size(1) <= namespace["edge_index"].size(1)
