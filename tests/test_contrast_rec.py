"""The user-item side of the contrastive pipeline: SGL's dropping views, SimGCL's noise,
the LightGCN encoder, the batch InfoNCE and the ``contrast_rec`` / ``sgl`` / ``simgcl`` /
``xsimgcl`` recommenders on real ml-100k."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphcl.augment import drop_interaction_nodes, drop_interactions
from graphcl.contrast import InteractionInfoNCE, InteractionView, LightGCNPropagation, View, batch_infonce
from graphcl.errors import ConfigError
from graphcl.models.rec.lightgcn import LightGCNEncoder
from graphcl.sparse import bipartite_adjacency
from graphcl.train import build_trainer

PAIRS = torch.tensor([[0, 0, 1, 1, 2, 3, 3, 4], [0, 2, 1, 2, 3, 0, 4, 1]])


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ dropping
def test_exact_edge_dropout_keeps_floor_of_the_kept_share_and_is_seeded():
    pairs = torch.stack([torch.arange(103) % 7, torch.arange(103) % 11])
    kept, mask = drop_interactions(pairs, 0.3, exact=True, generator=gen(1))
    assert kept.size(1) == int(103 * 0.7) == int(mask.sum())
    assert torch.equal(kept, pairs[:, mask])
    again, _ = drop_interactions(pairs, 0.3, exact=True, generator=gen(1))
    other, _ = drop_interactions(pairs, 0.3, exact=True, generator=gen(2))
    assert torch.equal(kept, again) and not torch.equal(kept, other)


def test_bernoulli_edge_dropout_keeps_about_the_kept_share():
    pairs = torch.stack([torch.arange(20000) % 50, torch.arange(20000) % 60])
    kept, _ = drop_interactions(pairs, 0.25, generator=gen(0))
    assert abs(kept.size(1) / 20000 - 0.75) < 0.02
    assert drop_interactions(pairs, 0.0)[0].size(1) == 20000
    assert drop_interactions(pairs, 1.0)[0].size(1) == 0


def test_exact_node_dropout_removes_every_pair_of_the_dropped_users_and_items():
    users, items = 40, 30
    g = torch.Generator().manual_seed(3)
    pairs = torch.stack([torch.randint(users, (500,), generator=g), torch.randint(items, (500,), generator=g)])
    kept, keep_u, keep_i = drop_interaction_nodes(pairs, users, items, 0.2, exact=True, generator=gen(4))
    assert int((~keep_u).sum()) == int(users * 0.2) and int((~keep_i).sum()) == int(items * 0.2)
    assert bool(keep_u[kept[0]].all()) and bool(keep_i[kept[1]].all())
    expected = keep_u[pairs[0]] & keep_i[pairs[1]]
    assert kept.size(1) == int(expected.sum())


def test_dropping_refuses_malformed_pairs_and_probabilities():
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        drop_interactions(torch.zeros(3, 4, dtype=torch.long), 0.1)
    with pytest.raises(ValueError, match="probability"):
        drop_interactions(PAIRS, 1.5)
    with pytest.raises(ValueError, match="outside"):
        drop_interaction_nodes(PAIRS, 3, 5, 0.1)


# ------------------------------------------------------------------ views
def view_of(layers: int = 2) -> InteractionView:
    return InteractionView(PAIRS, 5, 5, num_layers=layers)


def test_interaction_views_compose_and_leave_the_input_unchanged():
    v = View([{"edge_drop": {"p": 0.5, "exact": True}}, {"layer_edge_drop": {"p": 0.5, "exact": True}},
              {"embedding_noise": {"eps": 0.1}}])
    v.check_kind("interaction")
    graph = view_of(3)
    out = v(graph, gen(0))
    assert graph.layer_pairs is None and graph.noise == 0 and graph.pairs.size(1) == 8
    assert out.pairs.size(1) == 4 and out.noise == 0.1
    assert len(out.layer_pairs) == 3 and all(p.size(1) == 2 for p in out.layer_pairs)
    # every layer's pairs are drawn from the (edge-dropped) view's pairs
    kept = {tuple(c) for c in out.pairs.T.tolist()}
    assert all({tuple(c) for c in p.T.tolist()} <= kept for p in out.layer_pairs)


def test_bad_combinations_fail_when_the_view_is_built():
    with pytest.raises(ConfigError, match="feature_mask applies to node graphs, not to a interaction graph"):
        View([{"feature_mask": {"p": 0.2}}]).check_kind("interaction")
    with pytest.raises(ConfigError, match="layer_edge_drop applies to interaction graphs"):
        View([{"layer_edge_drop": {"p": 0.2}}]).check_kind("node")
    with pytest.raises(ConfigError, match="exact .* applies to interaction graphs only"):
        View([{"edge_drop": {"p": 0.2, "exact": True}}]).check_kind("node")
    with pytest.raises(ConfigError, match="eps must be"):
        View([{"embedding_noise": {"eps": -1}}])
    with pytest.raises(ConfigError, match="communal_edge_drop: method must be 'louvain' or 'leiden', got 'kmeans'"):
        View([{"communal_edge_drop": {"p": 0.1, "method": "kmeans"}}])
    with pytest.raises(ConfigError, match="communal_edge_drop: threshold must be a probability"):
        View([{"communal_edge_drop": {"p": 0.1, "threshold": 2}}])
    with pytest.raises(ValueError, match="layer_pairs holds 1 graphs for 2 layers"):
        InteractionView(PAIRS, 5, 5, num_layers=2, layer_pairs=(PAIRS,))


#: every operation that applies to interaction graphs, with parameters for a one-step run
INTERACTION_OPS = {"edge_drop": {"p": 0.2, "exact": True}, "node_drop": {"p": 0.1},
                   "layer_edge_drop": {"p": 0.2}, "embedding_noise": {"eps": 0.1}, "communal_edge_drop": {"p": 0.3},
                   "svd_view": {"rank": 2, "feed": "own"},      # feed view1: tests/test_contrast_lightgcl.py
                   "centrality_edge_drop": {"p": 0.3, "centrality": "pagerank"},
                   "rescaled_edge_dropout": {"p": 0.2}}


def test_interaction_ops_are_exactly_those_that_apply_to_interaction_graphs():
    from graphcl.contrast import VIEW_OPS
    assert set(INTERACTION_OPS) == {n for n, op in VIEW_OPS.items() if "interaction" in op.graph_kinds}


@pytest.mark.parametrize("op", sorted(INTERACTION_OPS))
def test_every_interaction_operation_runs_a_training_step_with_the_lightgcn_encoder(op):
    enc = LightGCNPropagation(5, 5, dim=4, layers=2)
    objective = InteractionInfoNCE(tau=0.5)
    view = View([{op: INTERACTION_OPS[op]}])
    view.check_kind("interaction")
    opt = torch.optim.Adam(enc.parameters(), lr=0.01)
    g = gen(0)
    before = enc.ego().detach().clone()
    z1, z2 = enc(view(view_of(2), g), g), enc(view(view_of(2), g), g)
    (u1, i1), (u2, i2) = enc.split(z1), enc.split(z2)
    loss = objective(u1, u2, i1, i2)
    loss.backward()
    opt.step()
    assert math.isfinite(float(loss.detach())) and not torch.equal(before, enc.ego().detach())


# ------------------------------------------------------------------ encoder
def test_lightgcn_encoder_equals_lightgcn_propagation_on_the_input_graph():
    enc = LightGCNPropagation(5, 5, dim=4, layers=3, include_ego=True)
    ref = LightGCNEncoder(5, 5, 4, 3)
    with torch.no_grad():
        ref.user_embedding.weight.copy_(enc.user_embedding)
        ref.item_embedding.weight.copy_(enc.item_embedding)
    u, i = enc.split(enc(view_of(3)))
    ru, ri = ref.propagate(bipartite_adjacency(PAIRS, 5, 5))
    torch.testing.assert_close(u, ru)
    torch.testing.assert_close(i, ri)


def test_per_layer_graphs_and_the_no_ego_mean_follow_the_equations():
    enc = LightGCNPropagation(5, 5, dim=3, layers=2, include_ego=False)
    g0, g1 = PAIRS[:, :6], PAIRS[:, 2:]
    view = view_of(2).replace(layer_pairs=(g0, g1))
    a0, a1 = bipartite_adjacency(g0, 5, 5).matrix.to_dense(), bipartite_adjacency(g1, 5, 5).matrix.to_dense()
    e0 = enc.ego()
    e1 = a0 @ e0
    e2 = a1 @ e1
    layers = enc.layers(view)
    torch.testing.assert_close(layers[1], e1)
    torch.testing.assert_close(layers[2], e2)
    torch.testing.assert_close(enc(view), (e1 + e2) / 2)


def test_simgcl_noise_has_norm_eps_per_row_and_keeps_the_sign():
    enc = LightGCNPropagation(5, 5, dim=6, layers=1)
    clean = enc.layers(view_of(1))[1]
    noisy = enc.layers(view_of(1).replace(noise=0.1), gen(0))[1]
    delta = noisy - clean
    torch.testing.assert_close(delta.norm(dim=1), torch.full((10,), 0.1), atol=1e-6, rtol=0)
    nonzero = clean != 0
    assert bool((torch.sign(delta[nonzero]) == torch.sign(clean[nonzero])).all())
    again = enc.layers(view_of(1).replace(noise=0.1), gen(0))[1]
    assert torch.equal(noisy, again)


# ------------------------------------------------------------------ loss
def test_batch_infonce_equals_a_dense_cross_entropy_in_value_and_gradient():
    g = gen(5)
    z1 = torch.randn(7, 4, generator=g, requires_grad=True)
    z2 = torch.randn(7, 4, generator=g, requires_grad=True)
    ours = batch_infonce(z1, z2, 0.2)
    ref = F.cross_entropy(F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T / 0.2, torch.arange(7))
    torch.testing.assert_close(ours, ref)
    g_ours = torch.autograd.grad(ours, (z1, z2))
    g_ref = torch.autograd.grad(ref, (z1, z2))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b)
    # the dot-product form and identical views of orthogonal rows
    eye = torch.eye(3)
    assert math.isclose(float(batch_infonce(eye, eye, 1.0, cosine=False)), math.log(1 + 2 / math.e), rel_tol=1e-6)


def test_joint_infonce_makes_users_and_items_each_others_negatives():
    g = gen(6)
    u1, u2, i1, i2 = (torch.randn(n, 4, generator=g) for n in (3, 3, 5, 5))
    separate = InteractionInfoNCE(tau=0.5)(u1, u2, i1, i2)
    joint = InteractionInfoNCE(tau=0.5, joint=True)(u1, u2, i1, i2)
    torch.testing.assert_close(separate, batch_infonce(u1, u2, 0.5) + batch_infonce(i1, i2, 0.5))
    torch.testing.assert_close(joint, batch_infonce(torch.cat([u1, i1]), torch.cat([u2, i2]), 0.5))
    assert not torch.isclose(separate, joint)


# ------------------------------------------------------------------ recommenders
def _trainer(method: str, shared_data, tmp_path, **config):
    cfg = {"epochs": 1, "seed": 7, **config}
    return build_trainer(method, "ml-100k", data_root=shared_data, device="cpu", run_dir=tmp_path / method,
                         config=cfg, verbose=False)


@pytest.mark.parametrize("method", ["sgl", "simgcl", "xsimgcl"])
def test_the_presets_train_deterministically_on_ml100k(method, shared_data, tmp_path):
    first = _trainer(method, shared_data, tmp_path / "a")
    batch = next(iter(first.model.batches(gen(0))))
    losses = first.model.loss(batch)
    assert set(losses) == {"loss", "bpr", "cl", "reg"}
    assert float(losses["cl"].detach()) > 0 and float(losses["bpr"].detach()) > 0
    torch.testing.assert_close(losses["loss"], losses["bpr"] + losses["cl"] + losses["reg"])
    second = _trainer(method, shared_data, tmp_path / "b")
    again = second.model.loss(next(iter(second.model.batches(gen(0)))))
    assert torch.equal(losses["loss"], again["loss"])


def test_simgcl_training_improves_ranking_on_ml100k(shared_data, tmp_path):
    trainer = _trainer("simgcl", shared_data, tmp_path, epochs=1, batch_size=2048)
    untrained = trainer.evaluate("valid")["ndcg@20"]
    trainer.fit()
    assert trainer.evaluate("valid")["ndcg@20"] > untrained + 0.01


def test_xsimgcl_contrasts_the_final_mean_with_the_layer_l_star_output(shared_data, tmp_path):
    """With ε = 0 the two XSimGCL views are E = mean(E1, E2) and E1: its CL term is the batch
    InfoNCE of those rows, weighted by λ."""
    trainer = _trainer("xsimgcl", shared_data, tmp_path,
                       view1=[{"embedding_noise": {"eps": 0.0}}], reg_weight=0.0)
    model = trainer.model
    users, pos, neg = next(iter(model.batches(gen(0))))
    layers = model.encoder.layers(model.graph)
    z1, z2 = (layers[1] + layers[2]) / 2, layers[1]
    (u1, i1), (u2, i2) = model.encoder.split(z1), model.encoder.split(z2)
    uu, ii = torch.unique(users), torch.unique(pos)
    expected = 0.2 * (batch_infonce(u1[uu], u2[uu], 0.15) + batch_infonce(i1[ii], i2[ii], 0.15))
    torch.testing.assert_close(model.loss((users, pos, neg))["cl"], expected)


@pytest.mark.parametrize("reg_form, reg_terms", [("squared_ego", ["user", "pos", "neg"]),
                                                  ("squared_ego", ["user", "pos"]), ("norm", ["user", "pos"])])
def test_loss_terms_equal_the_literal_row_gathers_in_value_and_gradient(reg_form, reg_terms, shared_data, tmp_path):
    """BPR on e_u·e_i − e_u·e_j, the batch InfoNCE over the distinct users and positive items,
    and the regularizer (squared ego rows / 2B, or the propagated rows' Frobenius norms / B),
    each written with plain per-table gathers, equal the model's terms and their gradients."""
    trainer = _trainer("sgl", shared_data, tmp_path, view1=[], view2=[], reg_weight=0.01, cl_weight=0.1,
                       loss={"infonce": {"tau": 0.2}},
                       reg_form=reg_form, reg_terms=reg_terms)
    model = trainer.model
    users, pos, neg = next(iter(model.batches(gen(0))))
    got = model.loss((users, pos, neg))
    got_grads = torch.autograd.grad(got["loss"], [model.encoder.user_embedding, model.encoder.item_embedding])

    final = model.encoder(model.graph)
    user_emb, item_emb = model.encoder.split(final)
    u, p, n = user_emb[users], item_emb[pos], item_emb[neg]
    bpr = -F.logsigmoid((u * p).sum(-1) - (u * n).sum(-1)).mean()
    uu, ii = torch.unique(users), torch.unique(pos)
    cl = 0.1 * (batch_infonce(user_emb[uu], user_emb[uu], 0.2) + batch_infonce(item_emb[ii], item_emb[ii], 0.2))
    if reg_form == "squared_ego":
        ego = {"user": model.encoder.user_embedding[users], "pos": model.encoder.item_embedding[pos],
               "neg": model.encoder.item_embedding[neg]}
        reg = 0.01 * sum(ego[t].pow(2).sum() for t in reg_terms) / (2 * users.numel())
    else:
        rows = {"user": u, "pos": p, "neg": n}
        reg = 0.01 * sum(torch.linalg.vector_norm(rows[t]) for t in reg_terms) / users.numel()
    for key, value in (("bpr", bpr), ("cl", cl), ("reg", reg)):
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-7)
    want_grads = torch.autograd.grad(bpr + cl + reg, [model.encoder.user_embedding, model.encoder.item_embedding])
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_bad_recommender_configs_name_the_key(shared_data, tmp_path):
    with pytest.raises(ConfigError, match="view2 must be empty"):
        _trainer("xsimgcl", shared_data, tmp_path, view2=[{"edge_drop": {"p": 0.1}}])
    with pytest.raises(ConfigError, match=r"cl_layer must lie in \[1, 2\]"):
        _trainer("xsimgcl", shared_data, tmp_path, cl_layer=3)
    with pytest.raises(ConfigError, match="reg_terms"):
        _trainer("sgl", shared_data, tmp_path, reg_terms=["user", "items"])
    with pytest.raises(ConfigError, match="redraw"):
        _trainer("sgl", shared_data, tmp_path, redraw="sometimes")
    with pytest.raises(ConfigError, match="view1: feature_mask applies to node graphs"):
        _trainer("sgl", shared_data, tmp_path, view1=[{"feature_mask": {"p": 0.1}}])
    with pytest.raises(ConfigError, match="unknown loss on an interaction graph 'barlow_twins'"):
        _trainer("sgl", shared_data, tmp_path, loss={"barlow_twins": {}})


def test_layer_edge_drop_views_draw_one_graph_per_layer(shared_data, tmp_path):
    trainer = _trainer("sgl", shared_data, tmp_path, view1=[{"layer_edge_drop": {"p": 0.1, "exact": True}}],
                       view2=[{"node_drop": {"p": 0.1, "exact": True}}])
    model = trainer.model
    v1, v2 = model.draw_views(gen(0))
    n = model.graph.pairs.size(1)
    assert len(v1.layer_pairs) == 3 and all(p.size(1) == int(n * 0.9) for p in v1.layer_pairs)
    assert v2.layer_pairs is None and v2.pairs.size(1) < n
    assert torch.isfinite(model.loss(next(iter(model.batches(gen(0)))))["loss"])


def test_communal_edge_drop_on_a_user_item_graph_keeps_pairs_by_community_strength():
    """CED's keep probabilities of the pairs are those of the (U + I)-node graph's communities."""
    from graphcl.augment import ced_keep_probs, community_strength, detect_communities
    from graphcl.contrast import CommunalEdgeDropOp
    g = torch.Generator().manual_seed(8)
    # two dense user-item blocks joined by a few pairs: two communities
    block_a = torch.stack([torch.randint(0, 10, (60,), generator=g), torch.randint(0, 8, (60,), generator=g)])
    block_b = torch.stack([torch.randint(10, 20, (60,), generator=g), torch.randint(8, 16, (60,), generator=g)])
    bridge = torch.tensor([[0, 12, 3], [9, 2, 15]])
    pairs = torch.unique(torch.cat([block_a, block_b, bridge], 1), dim=1)
    view = InteractionView(pairs, 20, 16, num_layers=1)
    op = CommunalEdgeDropOp(p=0.3)
    op.prepare(view)
    edges = torch.stack([pairs[0], pairs[1] + 20])
    both = torch.cat([edges, edges.flip(0)], 1)
    community = detect_communities(both, 36, seed=0)
    expected = ced_keep_probs(edges, community, community_strength(both, community, 36)[0], 0.3)
    torch.testing.assert_close(op.keep_probs, expected)
    is_bridge = community[edges[0]] != community[edges[1]]
    assert bool(is_bridge.any()) and float(op.keep_probs[is_bridge].max()) < float(op.keep_probs[~is_bridge].min())
    dropped = op(view, gen(0))
    assert dropped.pairs.size(1) < pairs.size(1) and dropped.num_users == 20
    kept = {tuple(c) for c in dropped.pairs.T.tolist()}
    assert kept <= {tuple(c) for c in pairs.T.tolist()}
