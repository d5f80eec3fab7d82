"""The SVD view on both graph kinds, and LightGCL as a composition of the recommendation pipeline: the SVD view, the ``sum`` layer
combination, the all-negatives InfoNCE and ‖Θ‖² regularization, and the recipe training what
``lightgcl`` trains on real ml-100k for the same seed (to float tolerance: the pipeline
propagates over the (U + I)-square adjacency, ``lightgcl`` over R and Rᵀ, so sums differ in
their last bits)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graphcl.augment.svd_view import svd_view_factors
from graphcl.config import load_config_file
from graphcl.contrast import AllNegativesInfoNCE, Contrast, GraphView, InteractionView, LightGCNPropagation, SVDViewOp, View
from graphcl.nn.gcn import gcn_norm_graph
from graphcl.errors import ConfigError
from graphcl.models.rec.contrast_rec import lightgcl_recipe
from graphcl.models.rec.lightgcl import LIGHTGCL_DATASET_SETTINGS, LIGHTGCL_DEFAULTS
from graphcl.sparse import interaction_matrix
from graphcl.train import build_trainer

REPO = Path(__file__).resolve().parents[1]
LIGHTGCL_YAML = REPO / "experiments" / "configs" / "contrast" / "lightgcl_ml100k.yaml"


def _toy() -> InteractionView:
    g = torch.Generator().manual_seed(0)
    pairs = torch.unique(torch.stack([torch.randint(12, (60,), generator=g), torch.randint(9, (60,), generator=g)]), dim=1)
    return InteractionView(pairs, 12, 9, num_layers=2)


def test_svd_view_propagates_through_the_low_rank_factors_fed_by_view1():
    graph = _toy()
    op = SVDViewOp(rank=3, niter=2, seed=5, feed="view1")
    op.prepare(graph)
    a_hat = interaction_matrix(graph.pairs, 12, 9)
    factors = svd_view_factors(a_hat, 3, 2, 5, cache=False)
    torch.testing.assert_close(op.factors.u, factors.u)
    view = op(graph, None)
    encoder = LightGCNPropagation(12, 9, dim=4, layers=2, combine="sum")
    main = encoder.layers(graph)
    svd = encoder.layers(view, feed=main)
    low_rank = (factors.u * factors.s) @ factors.v.T                     # U S Vᵀ, dense for the check
    for k in (1, 2):                                                     # G^k = [USVᵀ E_i^{k-1}; VSUᵀ E_u^{k-1}]
        users, items = main[k - 1][:12], main[k - 1][12:]
        torch.testing.assert_close(svd[k], torch.cat([low_rank @ items, low_rank.T @ users]), rtol=1e-5, atol=1e-6)
    assert torch.equal(svd[0], main[0])                                  # G^0 = E^0
    torch.testing.assert_close(encoder.combine(main), sum(main))          # combine: sum (LightGCL eq. 3)
    own = encoder.layers(op.__class__(rank=3, seed=5, feed="own")(graph, None))
    torch.testing.assert_close(own[2], torch.cat([low_rank @ own[1][12:], low_rank.T @ own[1][:12]]), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="needs view 1's layers as `feed`"):
        encoder.layers(view)


def test_svd_view_on_a_node_graph_runs_gcn_through_the_low_rank_adjacency():
    g = torch.Generator().manual_seed(2)
    src, dst = torch.randint(40, (150,), generator=g), torch.randint(40, (150,), generator=g)
    graph = GraphView(x=torch.rand(40, 6, generator=g), num_nodes=40,
                      edge_index=torch.stack([torch.cat([src, dst]), torch.cat([dst, src])]))
    torch.manual_seed(0)
    model = Contrast(views=([], [{"svd_view": {"rank": 6, "seed": 1}}]), encoder={"gcn": {"out": 4, "layers": 2}},
                     loss="infonce", in_dim=6)
    model.prepare(graph)
    view = model.views[1](graph)
    factors = svd_view_factors(gcn_norm_graph(graph.edge_index, 40), 6, 2, 1, cache=False)
    low_rank = (factors.u * factors.s) @ factors.v.T               # U S Vᵀ ≈ D̃^{-1/2}(A + I)D̃^{-1/2}, dense
    h = graph.x
    for layer, act in zip(model.encoder.layers, model.encoder.acts):  # σ(U S Vᵀ H W + b) per layer
        h = act(low_rank @ (h @ layer.weight) + layer.bias)
    torch.testing.assert_close(model.encode(view), h, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(model.encode(view), model.encode(graph))   # the view is not the graph
    full_rank = svd_view_factors(gcn_norm_graph(graph.edge_index, 40), 40, 4, 1, cache=False)
    dense = gcn_norm_graph(graph.edge_index, 40) @ torch.eye(40)
    torch.testing.assert_close((full_rank.u * full_rank.s) @ full_rank.v.T, dense, atol=1e-4, rtol=1e-4)


def test_the_fused_input_graph_path_sums_layers_too():
    graph = _toy()
    encoder = LightGCNPropagation(12, 9, dim=4, layers=2, combine="sum")
    torch.testing.assert_close(encoder(graph), sum(encoder.layers(graph)))
    mean = LightGCNPropagation(12, 9, dim=4, layers=2, include_ego=False, combine="mean")
    torch.testing.assert_close(mean(graph), sum(mean.layers(graph)[1:]) / 2)


def test_all_infonce_equals_lightgcls_formula():
    g = torch.Generator().manual_seed(1)
    u1, u2, i1, i2 = (torch.randn(n, 5, generator=g, dtype=torch.float64, requires_grad=True) for n in (7, 7, 6, 6))
    users, items = torch.tensor([0, 3, 3, 6]), torch.tensor([1, 1, 5, 0, 2])
    loss = AllNegativesInfoNCE(tau=0.3)(u1, u2, i1, i2, users, items)

    def dense(anchors, keys, index):                # mean over the batch entries, duplicates counted
        scores = anchors[index] @ keys.T / 0.3
        return (torch.logsumexp(scores, 1) - (anchors[index] * keys[index]).sum(1).div(0.3).clamp(-5, 5)).mean()

    expected = dense(u2, u1, users) + dense(i2, i1, items)
    torch.testing.assert_close(loss, expected)
    for a, b in zip(torch.autograd.grad(loss, (u1, u2, i1, i2)), torch.autograd.grad(expected, (u1, u2, i1, i2))):
        torch.testing.assert_close(a, b)


def test_bad_svd_compositions_are_refused_at_build_time(shared_data, tmp_path):
    with pytest.raises(ConfigError, match="svd_view feed: view1 \\(LightGCL\\) is for user-item graphs"):
        View([{"svd_view": {"feed": "view1"}}]).check_kind("node")
    with pytest.raises(ConfigError, match="svd_view: feed must be one of own, view1"):
        View([{"svd_view": {"feed": "view2"}}])
    with pytest.raises(ConfigError, match="view1: svd_view with feed: view1 reads view 1's own layers"):
        build_trainer("contrast_rec", "ml-100k", data_root=shared_data, device="cpu", run_dir=tmp_path / "r",
                      config={"view1": [{"svd_view": {"feed": "view1"}}], "view2": []}, verbose=False)
    with pytest.raises(ConfigError, match="cl_layers per_layer"):
        lightgcl_recipe({**LIGHTGCL_DEFAULTS, "cl_layers": "per_layer"})


def test_the_yaml_recipe_is_the_lightgcl_ml100k_preset():
    assert load_config_file(LIGHTGCL_YAML) == lightgcl_recipe({**LIGHTGCL_DEFAULTS, **LIGHTGCL_DATASET_SETTINGS["ml-100k"]})


def _train_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("split") == "train"]


def test_the_recipe_is_lightgcl_on_ml100k_for_the_same_seed(shared_data, tmp_path):
    common = {"epochs": 2, "seed": 3, "cl_weight": 0.2}      # the authors' λ1, so the CL term weighs in
    lightgcl = build_trainer("lightgcl", "ml-100k", data_root=shared_data, device="cpu",
                             run_dir=tmp_path / "lightgcl", config=common, verbose=False)
    lightgcl.fit()
    recipe = {**lightgcl_recipe(lightgcl.config), "seed": 3}
    composed = build_trainer("contrast_rec", "ml-100k", data_root=shared_data, device="cpu",
                             run_dir=tmp_path / "composed", config=recipe, verbose=False)
    composed.fit()
    ours, theirs = _train_rows(tmp_path / "composed"), _train_rows(tmp_path / "lightgcl")
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        for key in ("loss", "bpr", "cl", "reg"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), key
    user_a, item_a = lightgcl.model.embeddings()
    user_b, item_b = composed.model.embeddings()
    torch.testing.assert_close(user_b, user_a, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(item_b, item_a, rtol=1e-4, atol=1e-5)


def test_bad_svd_ranks_and_all_infonce_parameters_name_themselves():
    graph = _toy()                                                   # 12 users x 9 items
    with pytest.raises(ValueError, match="svd_view: rank 10 exceeds the graph's smaller side \\(9\\)"):
        SVDViewOp(rank=10).prepare(graph)
    with pytest.raises(ConfigError, match="svd_view: rank must be >= 1"):
        View([{"svd_view": {"rank": 0}}])
    from graphcl.contrast.rec_objectives import build_rec_objective
    with pytest.raises(ConfigError, match="all_infonce: negatives must be 'all' or 'in_batch', got 'some'"):
        build_rec_objective({"all_infonce": {"negatives": "some"}})
    with pytest.raises(ConfigError, match="all_infonce: keep_mb must be >= 0"):
        build_rec_objective({"all_infonce": {"keep_mb": -1}})
    with pytest.raises(ConfigError, match="all_infonce: tau must be a finite number > 0"):
        build_rec_objective({"all_infonce": {"tau": 0}})


def test_rescaled_edge_dropout_draws_fresh_rescaled_masks_per_layer_and_direction():
    view = _toy()
    enc = LightGCNPropagation(12, 9, dim=4, layers=2)
    graph = enc.adjacency(view.pairs)
    dropped = View([{"rescaled_edge_dropout": {"p": 0.5}}])(view, torch.Generator().manual_seed(0))
    assert dropped.edge_dropout == 0.5 and torch.equal(dropped.pairs, view.pairs)
    # one draw: kept entries are Â's divided by 1 - p, and Â and Âᵀ are masked independently
    one = graph.drop_edges(0.5, torch.Generator().manual_seed(1), rescale=True, mirrored=False)
    full = graph.matrix.to_dense()
    kept = one.matrix.to_dense()
    on = kept != 0
    torch.testing.assert_close(kept[on], full[on] / 0.5)
    assert not one.symmetric and not torch.equal(on, on.T)
    # the encoder draws a new mask at every layer and call: unbiased, E[Â_drop x] = Â x
    with torch.no_grad():
        g = torch.Generator().manual_seed(2)
        first = [enc.layers(dropped, g)[1] for _ in range(400)]
        mean = torch.stack(first).mean(0)
        exact = enc.layers(view)[1]
    assert not torch.equal(first[0], first[1])
    torch.testing.assert_close(mean, exact, atol=0.08 * float(exact.abs().max()), rtol=0)
    with pytest.raises(ConfigError, match="rescaled_edge_dropout: p must lie in \\[0, 1\\)"):
        View([{"rescaled_edge_dropout": {"p": 1.0}}])


def test_the_recipe_with_edge_dropout_trains_like_lightgcl_in_distribution(shared_data, tmp_path):
    """With edge dropout the recipe and ``lightgcl`` draw different masks (one over the
    (U+I)-square graph vs one for Â and one for Âᵀ), so their epoch losses agree only in
    distribution: far closer to each other than to the same run without dropout (measured:
    8e-7 apart against 1.6e-4 for the dropout's effect)."""
    common = {"epochs": 1, "seed": 3, "cl_weight": 0.2, "edge_dropout": 0.25}
    lightgcl = build_trainer("lightgcl", "ml-100k", data_root=shared_data, device="cpu",
                             run_dir=tmp_path / "lightgcl", config=common, verbose=False)
    recipe = {**lightgcl_recipe(lightgcl.config), "seed": 3}
    assert recipe["view1"] == [{"rescaled_edge_dropout": {"p": 0.25}}]
    lightgcl.fit()
    runs = {}
    for name, view1 in (("composed", recipe["view1"]), ("no_dropout", [])):
        build_trainer("contrast_rec", "ml-100k", data_root=shared_data, device="cpu", run_dir=tmp_path / name,
                      config={**recipe, "view1": view1}, verbose=False).fit()
        runs[name] = _train_rows(tmp_path / name)[0]
    theirs = _train_rows(tmp_path / "lightgcl")[0]
    for key in ("loss", "cl"):
        effect = abs(theirs[key] - runs["no_dropout"][key])
        assert effect > 1e-5, key
        assert abs(runs["composed"][key] - theirs[key]) < 0.05 * effect, key
