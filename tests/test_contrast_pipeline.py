"""The views x encoder x loss pipeline (graphcl.contrast): every view operation with every
encoder kind runs a step, the objectives equal dense references written here (values and
gradients), the operations do what their equations say, and bad combinations fail at
build time with a clear message."""
from __future__ import annotations

import math

import pytest
import torch

from graphcl.contrast import (BarlowTwinsObjective, CentralityEdgeDropOp, Contrast, GraphView, InfoNCEObjective, View,
                              ViewOp, register_view_op)
from graphcl.contrast.view_ops import VIEW_OPS
from graphcl.errors import ConfigError
from graphcl.sparse import to_csr


def _graph(n: int = 30, f: int = 12, sparse: bool = False, seed: int = 0) -> GraphView:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(n, (90,), generator=g)
    dst = torch.randint(n, (90,), generator=g)
    keep = src != dst
    edge_index = torch.stack([torch.cat([src[keep], dst[keep]]), torch.cat([dst[keep], src[keep]])])
    x = (torch.rand(n, f, generator=g) < 0.3).float()
    return GraphView(x=to_csr(x) if sparse else x, edge_index=edge_index, num_nodes=n)


OPS = {"edge_drop": {"p": 0.3}, "feature_mask": {"p": 0.3}, "node_drop": {"p": 0.2},
       "centrality_edge_drop": {"p": 0.3, "centrality": "pagerank", "threshold": 0.7},
       "centrality_feature_mask": {"p": 0.3, "centrality": "eigenvector"}, "feature_shuffle": {},
       "communal_edge_drop": {"p": 0.3}, "communal_attribute_voting": {"p": 0.3}, "svd_view": {"rank": 4}}
ENCODERS = {"gcn": {"out": 8, "layers": 2}, "mlp": {"out": 8, "layers": 2},
            "pyg-bn": {"conv": "GCNConv", "widths": [16, 8], "norm": "batch", "activation": "prelu"},
            "pyg-gcn": {"conv": "GCNConv", "out": 8, "layers": 2},
            "pyg-gat": {"conv": "GATConv", "out": 8, "layers": 1, "activation": "elu", "kwargs": {"heads": 1}}}


#: operations that read the LLM augmentation of a text-attributed graph: tests/test_contrast_gaugllm.py
TEXT_OPS = {"gaugllm_features", "gaugllm_edge_edits"}


def test_every_operation_is_covered_here():
    """Node-graph operations here; the interaction-graph ones in test_contrast_rec.py; the
    LLM text views in test_contrast_gaugllm.py."""
    from tests.test_contrast_rec import INTERACTION_OPS
    assert set(OPS) | TEXT_OPS == {name for name, op in VIEW_OPS.items() if "node" in op.graph_kinds}
    assert set(OPS) | set(INTERACTION_OPS) | TEXT_OPS == set(VIEW_OPS)
    assert TEXT_OPS == {name for name, op in VIEW_OPS.items() if getattr(op, "needs_text_augmentation", False)}


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("op", sorted(OPS))
def test_every_operation_with_every_encoder_runs_a_training_step(op, encoder, sparse):
    torch.manual_seed(0)
    graph = _graph(sparse=sparse)
    name = "pyg" if encoder.startswith("pyg") else encoder
    build = lambda: Contrast(views=([{op: OPS[op]}], [{op: OPS[op]}, {"feature_mask": {"p": 0.1}}]),  # noqa: E731
                             encoder={name: ENCODERS[encoder]}, projector={"mlp": {"hidden": 16}},
                             loss={"infonce": {"tau": 0.5}}, in_dim=12)
    if getattr(VIEW_OPS[op], "sets_operator", False) and name != "gcn":
        with pytest.raises(ConfigError, match=f"{op} replaces the graph's propagation by its own operator"):
            build()                                   # only the gcn encoder takes a low-rank operator
        return
    model = build()
    model.prepare(graph)
    loss = model(graph, torch.Generator().manual_seed(1))
    loss.backward()
    assert loss.ndim == 0 and math.isfinite(float(loss))
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.embed(graph).shape == (30, 8)


def test_the_same_generator_seed_gives_the_same_loss():
    graph = _graph()
    torch.manual_seed(3)
    model = Contrast(views=([{"edge_drop": {"p": 0.5}}], [{"node_drop": {"p": 0.5}}]),
                     encoder={"gcn": {"out": 8}}, loss="infonce", in_dim=12)
    a = model(graph, torch.Generator().manual_seed(7))
    b = model(graph, torch.Generator().manual_seed(7))
    c = model(graph, torch.Generator().manual_seed(8))
    assert float(a) == float(b) and float(a) != float(c)


# ------------------------------------------------------------------ objectives vs dense references
def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.stack([torch.dot(a[i], b[j]) / (a[i].norm() * b[j].norm())
                                     for j in range(len(b))]) for i in range(len(a))])


def _infonce_reference(z1, z2, tau, intra_view):
    """ℓ(u_i, v_i) = −log e^{θ_ii/τ} / (Σ_k e^{θ(u_i,v_k)/τ} [+ Σ_{k≠i} e^{θ(u_i,u_k)/τ}]), symmetric mean."""
    def side(a, b):
        cross, intra = _cos(a, b) / tau, _cos(a, a) / tau
        terms = []
        for i in range(len(a)):
            denominator = cross[i].exp().sum()
            if intra_view:
                denominator = denominator + sum(intra[i, k].exp() for k in range(len(a)) if k != i)
            terms.append(-(cross[i, i].exp() / denominator).log())
        return torch.stack(terms)
    return (side(z1, z2) + side(z2, z1)).mean() / 2


@pytest.mark.parametrize("intra_view", [True, False])
@pytest.mark.parametrize("block_size", [3, 4096])
def test_infonce_equals_its_formula_in_values_and_gradients(intra_view, block_size):
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    objective = InfoNCEObjective(tau=0.3, intra_view=intra_view, block_size=block_size)
    ours = objective(z1, z2)
    grads = torch.autograd.grad(ours, (z1, z2))
    reference = _infonce_reference(z1, z2, 0.3, intra_view)
    expected = torch.autograd.grad(reference, (z1, z2))
    assert float(ours) == pytest.approx(float(reference), rel=1e-9)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)


def _barlow_reference(z1, z2, lam):
    n, d = z1.shape
    def standardize(z):
        cols = []
        for j in range(d):
            col = z[:, j]
            mean = col.sum() / n
            std = ((col - mean).pow(2).sum() / (n - 1)).sqrt()
            cols.append((col - mean) / (std + 1e-15))
        return torch.stack(cols, 1)
    a, b = standardize(z1), standardize(z2)
    total = z1.new_zeros(())
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[k, i] * b[k, j] for k in range(n)) / n
            total = total + ((1 - c_ij) ** 2 if i == j else lam * c_ij ** 2)
    return total


@pytest.mark.parametrize("lam", [None, 0.3])
def test_barlow_twins_equals_its_formula_in_values_and_gradients(lam):
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    ours = BarlowTwinsObjective(lambda_=lam)(z1, z2)
    reference = _barlow_reference(z1, z2, 0.25 if lam is None else lam)   # default λ = 1/D
    assert float(ours) == pytest.approx(float(reference), rel=1e-10)
    for got, want in zip(torch.autograd.grad(ours, (z1, z2)), torch.autograd.grad(reference, (z1, z2))):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def test_barlow_twins_is_zero_for_identical_decorrelated_views():
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    # standardized columns have unbiased std 1, so C = z̃ᵀz̃ / N = (N-1)/N · I
    loss = BarlowTwinsObjective()(z, z)
    assert float(loss) == pytest.approx(2 * (1 - 3 / 4) ** 2)


def test_dgi_equals_its_formula_in_values_and_gradients():
    """L = −1/(2N) [Σ log σ(h_iᵀ W s) + Σ log(1 − σ(h̃_iᵀ W s))], s = σ(mean h), written out."""
    from graphcl.contrast import DGIObjective
    g = torch.Generator().manual_seed(2)
    h = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    h_corrupt = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    objective = DGIObjective(dim=3).double()
    with torch.no_grad():
        objective.bias.fill_(0.3)
    ours = objective(h, h_corrupt)
    w, b = objective.weight, objective.bias
    s = torch.stack([1 / (1 + torch.exp(-sum(h[i, j] for i in range(5)) / 5)) for j in range(3)])
    def score(row):
        return sum(row[a] * w[a, c] * s[c] for a in range(3) for c in range(3)) + b
    sigmoid = lambda t: 1 / (1 + torch.exp(-t))
    reference = -(sum(torch.log(sigmoid(score(h[i]))) for i in range(5))
                  + sum(torch.log(1 - sigmoid(score(h_corrupt[i]))) for i in range(5))) / 10
    assert float(ours) == pytest.approx(float(reference), rel=1e-10)
    params = (h, h_corrupt, w, b)
    for got, want in zip(torch.autograd.grad(ours, params), torch.autograd.grad(reference, params)):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def test_bootstrap_equals_its_formula():
    """L = 2 − mean_i cos(q(z1_i), y2_i) − mean_i cos(q(z2_i), y1_i), with q the predictor."""
    from graphcl.contrast import BootstrapObjective
    g = torch.Generator().manual_seed(3)
    z1, z2, y1, y2 = (torch.randn(5, 4, generator=g, dtype=torch.float64) for _ in range(4))
    objective = BootstrapObjective(dim=4, predictor_hidden=6).double()
    q1, q2 = objective.predictor(z1), objective.predictor(z2)
    def cos(a, b):
        return sum(torch.dot(a[i], b[i]) / (a[i].norm() * b[i].norm()) for i in range(len(a))) / len(a)
    assert float(objective(z1, z2, y1, y2)) == pytest.approx(float(2 - cos(q1, y2) - cos(q2, y1)), rel=1e-12)
    y1.requires_grad_(True)
    assert objective(z1, z2, y1, y2).grad_fn is not None and not y1.detach().requires_grad


def test_bootstrap_target_follows_the_momentum_schedule():
    """After the first step the target moves as φ ← m_t φ + (1 − m_t) θ, m_t on the cosine schedule;
    it starts from fresh weights (the authors' reinit) and never gets gradients."""
    torch.manual_seed(0)
    graph = _graph()
    model = Contrast(views=([{"edge_drop": {"p": 0.2}}], [{"feature_mask": {"p": 0.2}}]),
                     encoder={"gcn": {"out": 4, "layers": 1}}, loss={"bootstrap": {"predictor_hidden": 8}},
                     in_dim=12, total_steps=4)
    online_w, target_w = model.encoder.layers[0].weight, model.target_encoder.layers[0].weight
    assert not torch.equal(online_w, target_w) and not target_w.requires_grad
    assert [round(model.objective.momentum_at(t), 6) for t in range(5)] == \
        [0.99, round(1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2, 6), 0.995,
         round(1 - 0.01 * (math.cos(3 * math.pi / 4) + 1) / 2, 6), 1.0]
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    gen = torch.Generator().manual_seed(1)
    before = target_w.detach().clone()
    model(graph, gen).backward()                     # step 0: no update owed yet
    assert torch.equal(target_w, before) and target_w.grad is None
    opt.step()
    opt.zero_grad()
    theta = online_w.detach().clone()
    model(graph, gen)                                # step 1 applies step 0's update, m_0 = 0.99
    torch.testing.assert_close(target_w.detach(), 0.99 * before + 0.01 * theta)
    copied = Contrast(views=([], []), encoder={"gcn": {"out": 4, "layers": 1}}, in_dim=12,
                      loss={"bootstrap": {"target_init": "copy"}})
    assert torch.equal(copied.encoder.layers[0].weight, copied.target_encoder.layers[0].weight)


def test_dgi_discriminator_is_trained_with_the_pipeline():
    model = Contrast(views=([], ["feature_shuffle"]), encoder={"gcn": {"out": 6, "layers": 1}}, loss="dgi",
                     in_dim=12)
    names = [name for name, _ in model.named_parameters()]
    assert "objective.weight" in names and "objective.bias" in names
    assert model.objective.weight.shape == (6, 6)


# ------------------------------------------------------------------ what the operations do
@pytest.mark.parametrize("sparse", [False, True])
def test_feature_shuffle_permutes_rows_and_keeps_edges(sparse):
    graph = _graph(sparse=sparse)
    out = View(["feature_shuffle"])(graph, torch.Generator().manual_seed(4))
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(4))
    x0 = graph.x.to_dense() if sparse else graph.x
    x = out.x.to_dense() if sparse else out.x
    assert torch.equal(x, x0[perm]) and out.edge_index is graph.edge_index
    assert (out.x.layout == torch.sparse_csr) == sparse

def test_edge_drop_and_feature_mask_extremes():
    graph = _graph()
    assert View([{"edge_drop": {"p": 0.0}}])(graph, torch.Generator()).edge_index.equal(graph.edge_index)
    assert View([{"edge_drop": {"p": 1.0}}])(graph, torch.Generator()).edge_index.shape == (2, 0)
    masked = View([{"feature_mask": {"p": 1.0}}])(graph, torch.Generator())
    assert masked.x.abs().sum() == 0 and masked.edge_index is graph.edge_index
    assert View([])(graph) is graph


@pytest.mark.parametrize("sparse", [False, True])
def test_node_drop_isolates_nodes_and_zeroes_their_rows(sparse):
    graph = _graph(sparse=sparse)
    out = View([{"node_drop": {"p": 0.5}}])(graph, torch.Generator().manual_seed(2))
    x = out.x.to_dense() if sparse else out.x
    x0 = graph.x.to_dense() if sparse else graph.x
    zero_rows = (x.abs().sum(1) == 0) & (x0.abs().sum(1) > 0)
    assert zero_rows.any() and out.num_nodes == graph.num_nodes
    dropped = set(torch.nonzero(zero_rows).flatten().tolist())
    assert not dropped & set(out.edge_index.flatten().tolist())     # no edge touches a dropped node
    kept_rows = ~zero_rows & (x0.abs().sum(1) > 0)
    assert torch.equal(x[kept_rows], x0[kept_rows])


def test_degree_edge_drop_follows_gca_probabilities():
    """Star (hub 0, leaves 1..8) plus a pendant edge 8-9: an edge into the hub has the largest
    s_e = log deg, hence weight 0 and drop probability 0; edges into degree-1 leaves are dropped
    at min(w_e / mean(w) · p, 0.7)."""
    leaves = torch.arange(1, 9)
    src = torch.cat([leaves, torch.zeros(8, dtype=torch.long), torch.tensor([8, 9])])
    dst = torch.cat([torch.zeros(8, dtype=torch.long), leaves, torch.tensor([9, 8])])
    graph = GraphView(x=torch.ones(10, 2), edge_index=torch.stack([src, dst]), num_nodes=10)
    deg = torch.bincount(dst, minlength=10).float()
    s = deg[dst].log()
    w = (s.max() - s) / (s.max() - s.mean())
    expected = (w / w.mean() * 0.3).clamp(max=0.7)
    op = CentralityEdgeDropOp(p=0.3)
    op.prepare(graph)
    gen = torch.Generator().manual_seed(0)
    trials = 4000
    kept = torch.zeros(src.numel())
    for _ in range(trials):
        out = op(graph, gen)
        keys = set((out.edge_index[0] * 10 + out.edge_index[1]).tolist())
        kept += torch.tensor([float(int(a) * 10 + int(b) in keys) for a, b in zip(src, dst)])
    observed_drop = 1 - kept / trials
    assert torch.all(expected[:8] == 0) and torch.all(observed_drop[:8] == 0)   # edges into the hub
    assert torch.allclose(observed_drop, expected, atol=0.035)


# ------------------------------------------------------------------ build-time errors
def test_unknown_operations_and_parameters_are_named():
    with pytest.raises(ConfigError, match=r"view1: unknown view operation 'edge_dorp'; available: "
                                          r"centrality_edge_drop, centrality_feature_mask, communal_attribute_voting, communal_edge_drop, edge_drop, embedding_noise, feature_mask, "
                                          r"feature_shuffle, gaugllm_edge_edits, gaugllm_features, layer_edge_drop, node_drop, rescaled_edge_dropout, svd_view"):
        Contrast(views=([{"edge_dorp": {"p": 0.2}}], []), encoder={"gcn": {"out": 4}}, loss="infonce", in_dim=3)
    with pytest.raises(ConfigError, match=r"view2: edge_drop takes \(p, undirected=False, exact=False\); got \{'q': 0.2\}"):
        Contrast(views=([], [{"edge_drop": {"q": 0.2}}]), encoder={"gcn": {"out": 4}}, loss="infonce", in_dim=3)
    with pytest.raises(ConfigError, match=r"view1: feature_mask: p must be a probability in \[0, 1\], got 1.5"):
        Contrast(views=([{"feature_mask": {"p": 1.5}}], []), encoder={"gcn": {"out": 4}}, loss="infonce", in_dim=3)


def test_a_loss_given_the_wrong_number_of_views_is_refused():
    with pytest.raises(ConfigError, match="loss infonce compares 2 views, got 1"):
        Contrast(views=([{"edge_drop": {"p": 0.2}}], None), encoder={"gcn": {"out": 4}}, loss="infonce", in_dim=3)


def test_unknown_encoders_losses_and_heads_are_named():
    with pytest.raises(ConfigError, match="encoder: unknown encoder 'gin'; available: gcn, mlp, pyg"):
        Contrast(views=([], []), encoder={"gin": {}}, loss="infonce", in_dim=3)
    with pytest.raises(ConfigError, match="'NotAConv' is not a conv layer of torch_geometric.nn"):
        Contrast(views=([], []), encoder={"pyg": {"conv": "NotAConv", "out": 4}}, loss="infonce", in_dim=3)
    with pytest.raises(ConfigError, match="loss: unknown loss 'triplet'; available: infonce, barlow_twins, dgi, bootstrap"):
        Contrast(views=([], []), encoder={"gcn": {"out": 4}}, loss={"triplet": {}}, in_dim=3)
    with pytest.raises(ConfigError, match="loss: infonce: tau must be > 0, got 0"):
        Contrast(views=([], []), encoder={"gcn": {"out": 4}}, loss={"infonce": {"tau": 0}}, in_dim=3)
    with pytest.raises(ConfigError, match=r"projector: expected null or \{mlp: \{hidden: H\}\}"):
        Contrast(views=([], []), encoder={"gcn": {"out": 4}}, loss="infonce", projector={"linear": {}}, in_dim=3)


def test_an_operation_without_meaning_on_the_graph_kind_is_refused(monkeypatch):
    class UserItemOnly(ViewOp):
        name = "user_item_only"
        graph_kinds = frozenset({"interaction"})

        def __call__(self, view, generator):
            return view

    monkeypatch.setitem(VIEW_OPS, "user_item_only", UserItemOnly)
    with pytest.raises(ConfigError, match="view2: user_item_only applies to interaction graphs, not to a node graph"):
        Contrast(views=([], ["user_item_only"]), encoder={"gcn": {"out": 4}}, loss="infonce", in_dim=3)
    with pytest.raises(ValueError, match="already registered"):
        register_view_op(type("Other", (UserItemOnly,), {}))


def test_centrality_operations_refuse_unknown_centralities_and_teleports():
    with pytest.raises(ConfigError, match="view1: centrality_edge_drop: centrality must be one of degree, "
                                          "pagerank, eigenvector, got 'closeness'"):
        View([{"centrality_edge_drop": {"p": 0.2, "centrality": "closeness"}}], name="view1")
    with pytest.raises(ConfigError, match="teleport must be 'code' \\(GCA's code\\) or 'uniform'"):
        View([{"centrality_feature_mask": {"p": 0.2, "centrality": "pagerank", "teleport": "x"}}])
