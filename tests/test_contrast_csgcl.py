"""CSGCL as a composition of the pipeline: CAV as a view operation, the team-up loss against a
dense reference (values and gradients) and its schedule, communities seeded by the run's seed,
and the recipe equal to the ``csgcl`` method on real Cora for the same seed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graphcl.augment import cav_drop_probs, community_strength, detect_communities
from graphcl.config import load_config_file
from graphcl.contrast import (CommunalAttributeVotingOp, Contrast, GraphView, InfoNCEObjective, TeamUpObjective, View,
                              community_structure)
from graphcl.errors import ConfigError
from graphcl.models.node.contrast import csgcl_recipe
from graphcl.models.node.csgcl import CSGCL_DEFAULTS, CSGCL_PRESETS
from graphcl.train import build_trainer

REPO = Path(__file__).resolve().parents[1]
CSGCL_YAML = REPO / "experiments" / "configs" / "contrast" / "csgcl_cora.yaml"


def _two_cliques() -> GraphView:
    """Two 5-cliques joined by one edge; features: columns 0-3 on clique A, 4-5 on B, 6 nowhere."""
    edges = [(a, b) for block in (range(5), range(5, 10)) for a in block for b in block if a != b] + [(4, 5), (5, 4)]
    x = torch.zeros(10, 7)
    x[:5, :4] = 1.0
    x[5:, 4:6] = 1.0
    return GraphView(x=x, edge_index=torch.tensor(edges).T, num_nodes=10)


def _dense_team_up(z1, z2, tau, bias):
    """ℓ_i = −log e^{s'_ii/τ} / (Σ_k e^{s'(u_i,v_k)/τ} + Σ_{k≠i} e^{s'(u_i,u_k)/τ}), symmetric mean."""
    u, v = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
    b = bias[:, None] + bias[None, :]

    def one_side(a, c):
        between = torch.exp((a @ c.T + b) / tau)
        within = torch.exp((a @ a.T + b) / tau)
        denominator = between.sum(1) + within.sum(1) - within.diagonal()
        return -torch.log(between.diagonal() / denominator)

    return (one_side(u, v) + one_side(v, u)).mean() / 2


def test_team_up_equals_its_formula_in_values_and_gradients():
    graph = _two_cliques()
    objective = TeamUpObjective(tau=0.5, t0=2, gamma_max=0.3, seed=0)
    objective.prepare(graph)
    cs = community_structure(graph, "louvain", 0).cs_node
    assert torch.equal(objective.cs_node, cs) and float(cs.min()) > 0      # two strong communities
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(10, 4, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(10, 4, generator=g, dtype=torch.float64, requires_grad=True)
    for t in (1, 2, 3, 4, 50):                     # γ_t = min(max(0, (t − 2)/100), 0.3)
        gamma = min(max(0.0, (t - 2) / 100), 0.3)
        assert objective.gamma_at(t) == pytest.approx(gamma)
        ours = objective(z1, z2)                   # the objective's t-th step
        expected = _dense_team_up(z1, z2, 0.5, gamma * cs.double())
        assert float(ours.detach()) == pytest.approx(float(expected.detach()), rel=1e-9)
        got = torch.autograd.grad(ours, (z1, z2))
        want = torch.autograd.grad(expected, (z1, z2))
        for a, b in zip(got, want):
            assert torch.allclose(a, b, atol=1e-9)
    assert int(objective.steps) == 5


def test_team_up_before_t0_is_graces_infonce_and_its_step_count_is_saved():
    graph = _two_cliques()
    objective = TeamUpObjective(tau=0.4, t0=100)
    objective.prepare(graph)
    z1, z2 = torch.randn(10, 6), torch.randn(10, 6)
    assert float(objective(z1, z2)) == pytest.approx(float(InfoNCEObjective(tau=0.4)(z1, z2)), rel=1e-6)
    state = objective.state_dict()
    assert set(state) == {"steps"} and int(state["steps"]) == 1        # strengths are recomputed, not saved
    resumed = TeamUpObjective(tau=0.4, t0=100)
    resumed.load_state_dict(state)
    assert int(resumed.steps) == 1


def test_team_up_refuses_views_of_another_graph_and_bad_parameters():
    objective = TeamUpObjective()
    with pytest.raises(ValueError, match="prepare the pipeline on the graph first"):
        objective(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ConfigError, match="team_up: method must be 'louvain' or 'leiden'"):
        Contrast(views=([], []), encoder={"gcn": {"out": 4}}, loss={"team_up": {"method": "kmeans"}}, in_dim=7)
    with pytest.raises(ConfigError, match="team_up: tau must be > 0"):
        Contrast(views=([], []), encoder={"gcn": {"out": 4}}, loss={"team_up": {"tau": 0}}, in_dim=7)


def test_cav_drops_the_columns_of_weak_communities_more_often():
    graph = _two_cliques()
    op = CommunalAttributeVotingOp(p=0.3, seed=0)
    op.prepare(graph)
    structure = community_structure(graph, "louvain", 0)
    assert torch.equal(op.drop_probs, cav_drop_probs(graph.x, structure.cs_node, 0.3, 1.0))
    assert float(op.drop_probs.mean()) == pytest.approx(0.3, abs=1e-6)
    masked = op(graph, torch.Generator().manual_seed(1))
    zeroed = (masked.x == 0).all(0) & (graph.x != 0).any(0)
    keep = torch.rand(7, generator=torch.Generator().manual_seed(1)) >= op.drop_probs
    assert torch.equal(~zeroed[:6], keep[:6])         # column j zeroed exactly when u_j < p_j
    assert torch.equal(masked.edge_index, graph.edge_index)


def test_cav_has_no_meaning_on_a_user_item_graph():
    with pytest.raises(ConfigError, match="communal_attribute_voting zeroes feature columns: a user-item graph has no"):
        View([{"communal_attribute_voting": {"p": 0.2}}]).check_kind("interaction")


def test_communities_follow_the_run_seed_unless_the_operation_fixes_one():
    g = torch.Generator().manual_seed(0)
    src, dst = torch.randint(60, (400,), generator=g), torch.randint(60, (400,), generator=g)
    graph = GraphView(x=torch.rand(60, 5), edge_index=torch.stack([torch.cat([src, dst]), torch.cat([dst, src])]),
                      num_nodes=60)
    partitions = {s: detect_communities(graph.edge_index, 60, seed=s) for s in (0, 1)}
    assert not torch.equal(partitions[0], partitions[1])      # the seed matters on this random graph
    for run_seed in (0, 1):
        free, fixed = CommunalAttributeVotingOp(p=0.3), CommunalAttributeVotingOp(p=0.3, seed=0)
        View([free, fixed]).prepare(graph, run_seed)
        for op, seed in ((free, run_seed), (fixed, 0)):
            _, cs_node = community_strength(graph.edge_index, partitions[seed], 60)
            assert torch.equal(op.drop_probs, cav_drop_probs(graph.x, cs_node.float(), 0.3, 1.0))
    assert free.params()["seed"] is None and fixed.params()["seed"] == 0


def test_the_yaml_recipe_is_the_csgcl_cora_preset():
    assert load_config_file(CSGCL_YAML) == {k: v for k, v in csgcl_recipe({**CSGCL_DEFAULTS, **CSGCL_PRESETS["cora"]}).items()}


def _train_losses(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r.get("split") == "train"]


def test_the_recipe_is_csgcl_on_cora_for_the_same_seed(shared_data, tmp_path):
    """t0 = 1: the team-up term is on from the second epoch, so the bias path is compared too."""
    common = {"epochs": 3, "seed": 4, "probe_seeds": 1, "probe_weight_decays": [0.0], "probe_epochs": 20, "t0": 1,
              "gamma_max": 5.0}
    csgcl = build_trainer("csgcl", "cora", data_root=shared_data, device="cpu", run_dir=tmp_path / "csgcl",
                          config=common, verbose=False)
    csgcl.fit()
    recipe = csgcl_recipe(csgcl.config)
    composed = build_trainer("contrast", "cora", data_root=shared_data, device="cpu", run_dir=tmp_path / "contrast",
                             config={**recipe, **{k: common[k] for k in ("epochs", "seed", "probe_seeds",
                                                                         "probe_weight_decays", "probe_epochs")}},
                             verbose=False)
    composed.fit()
    losses = _train_losses(tmp_path / "csgcl")
    assert losses == _train_losses(tmp_path / "contrast") and len(losses) == 3
    assert torch.equal(csgcl.model.embed(), composed.model.embed())
    assert int(composed.model.pipeline.objective.steps) == 3
    assert composed.model.pipeline.objective.gamma_at(3) == pytest.approx(0.02)
