"""GAugLLM's LLM views as pipeline operations: gated expert features and approved edge edits,
composed with any encoder and loss (issue 21), on the real Cornell graph with test-double
LLM and text encoder."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("graphcl.llm.generation")

from _tag_helpers import FakeLLM, HashEncoder

from graphcl.contrast import Contrast, GAugLLMEdgeEditsOp, GAugLLMFeaturesOp, GraphView, View
from graphcl.data import load
from graphcl.errors import ConfigError
from graphcl.gaugllm import generate_augmentation
from graphcl.gaugllm.edge_modifier import apply_edge_edits
from graphcl.llm import CachedGenerator, TextEncoder

VIEW2 = [{"gaugllm_features": {"gate_hidden": 8}}, {"gaugllm_edge_edits": {"p_add": 0.5, "p_del": 0.5}}]


@pytest.fixture(scope="module")
def cornell_aug(shared_data, tmp_path_factory):
    emb = tmp_path_factory.mktemp("emb")
    encoder = TextEncoder(HashEncoder(), name="hash-32", cache_dir=emb)
    data = load("webkb-cornell", root=shared_data, encoder=encoder)
    llm = CachedGenerator(FakeLLM(), cache=tmp_path_factory.mktemp("llm") / "llm.sqlite", batch_size=8,
                          progress=False)
    return data, generate_augmentation(data, llm, encoder)


def _graph(data, aug):
    return GraphView(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes, extras={"gaugllm": aug})


@pytest.mark.parametrize("encoder", [{"gcn": {"out": 16}}, {"mlp": {"out": 16}},
                                     {"pyg": {"conv": "SAGEConv", "out": 16, "layers": 2}}])
@pytest.mark.parametrize("loss", [{"infonce": {"tau": 0.5}}, {"barlow_twins": {}}])
def test_gaugllm_views_train_the_gate_with_any_encoder_and_loss(cornell_aug, encoder, loss):
    data, aug = cornell_aug
    torch.manual_seed(0)
    graph = _graph(data, aug)
    model = Contrast(views=([{"edge_drop": {"p": 0.2}}, {"feature_mask": {"p": 0.3}}], VIEW2), encoder=encoder,
                     projector=None, loss=loss, in_dim=data.x.size(1))
    model.prepare(graph, run_seed=0)
    gate = model.views[1].ops[0].module.gate
    assert any(p is q for p in model.parameters() for q in gate.parameters())   # the optimizer sees the gate
    before = [p.detach().clone() for p in gate.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_value = model(graph, torch.Generator().manual_seed(1))
    loss_value.backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in gate.parameters())
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, gate.parameters()))
    assert model.embed(graph).shape == (data.num_nodes, 16)


def test_the_ops_compute_gaugllms_gate_and_edits(cornell_aug):
    data, aug = cornell_aug
    torch.manual_seed(0)
    graph = _graph(data, aug)
    view = View(VIEW2)
    view.prepare(graph)
    features, edits = view.ops
    out = view(graph, torch.Generator().manual_seed(5))
    m = features.module
    torch.testing.assert_close(out.x, m.gate(aug.expert_emb, aug.context_emb))
    expected = apply_edge_edits(data.edge_index, data.num_nodes, aug.candidates, aug.add_ok, aug.del_ok, 0.5, 0.5,
                                max_edits=10, degree=aug.degree, generator=torch.Generator().manual_seed(5))
    assert torch.equal(out.edge_index, expected) and not torch.equal(out.edge_index, data.edge_index)
    assert out.edge_weight is None


def test_missing_augmentation_and_wrong_kinds_are_refused(cornell_aug):
    data, aug = cornell_aug
    plain = GraphView(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes)
    with pytest.raises(ConfigError, match=r"gaugllm_features needs the LLM augmentation of the graph's texts"):
        View(VIEW2).prepare(plain)
    with pytest.raises(ConfigError, match="gaugllm_edge_edits applies to node graphs, not to a interaction graph"):
        View([{"gaugllm_edge_edits": {}}]).check_kind("interaction")
    narrow = GraphView(x=data.x[:, :5], edge_index=data.edge_index, num_nodes=data.num_nodes,
                       extras={"gaugllm": aug})
    with pytest.raises(ConfigError, match="the expert embeddings have 32 dimensions but the graph's features 5"):
        View([{"gaugllm_features": {}}]).prepare(narrow)
    with pytest.raises(ConfigError, match=r"gaugllm_edge_edits: p_add must be a probability"):
        View([{"gaugllm_edge_edits": {"p_add": 2.0}}])
    with pytest.raises(ConfigError, match="gaugllm_features: tau must be > 0"):
        View([{"gaugllm_features": {"tau": 0.0}}])
    assert isinstance(View(VIEW2).ops[0], GAugLLMFeaturesOp) and isinstance(View(VIEW2).ops[1], GAugLLMEdgeEditsOp)


def test_the_contrast_method_attaches_the_generated_augmentation(cornell_aug, monkeypatch):
    import graphcl.models.node.contrast as contrast_method
    from graphcl.config import merge_config
    from graphcl.registry import get_method
    data, aug = cornell_aug
    asked = {}

    def fake_generation(d, settings):
        asked["settings"] = settings
        return aug
    monkeypatch.setattr(contrast_method, "text_augmentation", fake_generation)
    spec = get_method("contrast")
    cfg, _ = merge_config(spec.defaults, {"view2": VIEW2, "text_augmentation": {"k_add": 2}, "epochs": 1},
                          method="contrast")
    torch.manual_seed(0)
    model = spec.build(data, cfg, "cpu")
    assert asked["settings"] == {"k_add": 2}
    out = model.step_loss(torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"])
    plain_cfg, _ = merge_config(spec.defaults, {"epochs": 1}, method="contrast")
    asked.clear()
    spec.build(data, plain_cfg, "cpu")            # no LLM view: nothing generated
    assert not asked
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="text_augmentation: unknown setting\\(s\\) k_ad"):
        contrast_method.text_augmentation(data, {"k_ad": 2})
