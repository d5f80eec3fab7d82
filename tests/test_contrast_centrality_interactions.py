"""GCA's centrality-weighted edge dropping on a user-item graph (issue 21, a composition)."""
from __future__ import annotations

import pytest
import torch

from graphcl.augment.centrality import centrality_edge_weights, interaction_drop_probs
from graphcl.augment.edges import weighted_drop_probs
from graphcl.contrast import View
from graphcl.contrast.interaction_view import InteractionView


def _pairs() -> torch.Tensor:
    # user 0 is heavy (4 items), item 0 popular (4 users); user 3 and item 4 each have one pair
    users = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 3])
    items = torch.tensor([0, 1, 2, 3, 0, 1, 0, 2, 4])
    return torch.stack([users, items])


def test_probs_are_gcas_eq16_over_both_directions_of_the_bipartite_graph():
    pairs = _pairs()
    probs = interaction_drop_probs(pairs, 4, 5, p=0.3, centrality="degree", threshold=0.7)
    # by hand: the U+I graph with both directions, GCA's target-degree weights, eq. 16, the mean
    # of a pair's two directions
    u, i = pairs[0], pairs[1] + 4
    both = torch.stack([torch.cat([u, i]), torch.cat([i, u])])
    deg = torch.bincount(both[1], minlength=9).float()
    s = torch.log(deg[both[1]])
    w = (s.max() - s) / (s.max() - s.mean())
    by_hand = (w / w.mean() * 0.3).clamp(0, 0.7)
    assert torch.allclose(probs, (by_hand[:9] + by_hand[9:]) / 2)
    assert torch.allclose(weighted_drop_probs(centrality_edge_weights(both, 9, "degree"), 0.3), by_hand)
    # the pair of the heavy user and the popular item drops least; the lone pair (3, 4) most
    assert int(probs.argmin()) == 0 and int(probs.argmax()) == 8
    assert float(probs.mean()) == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize("centrality", ["degree", "pagerank", "eigenvector"])
def test_the_view_op_drops_pairs_with_those_probabilities(centrality):
    g = torch.Generator().manual_seed(0)
    users, items = torch.randint(30, (400,), generator=g), torch.randint(50, (400,), generator=g)
    keys = torch.unique(users * 50 + items)
    pairs = torch.stack([keys // 50, keys % 50])
    view = InteractionView(pairs=pairs, num_users=30, num_items=50, num_layers=2)
    op_view = View([{"centrality_edge_drop": {"p": 0.4, "centrality": centrality}}])
    op_view.check_kind("interaction")
    op = op_view.ops[0]
    op.prepare(view)
    probs = interaction_drop_probs(pairs, 30, 50, 0.4, centrality)
    assert torch.equal(op.drop_probs, probs)
    kept_count = torch.zeros(pairs.size(1))
    for seed in range(200):
        out = op_view(view, torch.Generator().manual_seed(seed))
        assert out.num_users == 30 and out.num_items == 50
        kept = set((out.pairs[0] * 50 + out.pairs[1]).tolist())
        kept_count += torch.tensor([k in kept for k in keys.tolist()], dtype=torch.float)
    # each pair survives with probability 1 - p_e (binomial, 200 draws: 5 sigma < 0.18)
    assert torch.allclose(kept_count / 200, 1 - probs, atol=0.18)
    assert float((kept_count / 200 - (1 - probs)).abs().mean()) < 0.04
    # the same generator seed gives the same view
    a = op_view(view, torch.Generator().manual_seed(7)).pairs
    b = op_view(view, torch.Generator().manual_seed(7)).pairs
    assert torch.equal(a, b)
