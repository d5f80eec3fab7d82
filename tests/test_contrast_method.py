"""The ``contrast`` method (views x encoder x loss from config) on real Cora: with GRACE's
recipe it is GRACE (the same losses and embeddings for the same seed), and the config form
works from YAML on the command line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graphcl.cli import main
from graphcl.config import load_config_file
from graphcl.errors import ConfigError
from graphcl.train import build_trainer

REPO = Path(__file__).resolve().parents[1]
GRACE_YAML = REPO / "experiments" / "configs" / "contrast" / "grace_cora.yaml"


def _train_losses(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r.get("split") == "train"]


def _fit_both(shared_data, tmp_path, dataset: str, epochs: int, seed: int, **contrast_args):
    """GRACE and ``contrast`` trained on ``dataset`` with the same seed; the two trainers."""
    common = {"epochs": epochs, "seed": seed, "probe_seeds": 1, "probe_weight_decays": [0.0], "probe_epochs": 20}
    trainers = []
    for method, extra in (("grace", {}), ("contrast", contrast_args)):
        t = build_trainer(method, dataset, data_root=shared_data, device="cpu", run_dir=tmp_path / method,
                          config=common, verbose=False, **extra)
        t.fit()
        trainers.append(t)
    return trainers


def test_grace_recipe_is_grace_for_the_same_seed(shared_data, tmp_path):
    grace, composed = _fit_both(shared_data, tmp_path, "cora", 3, 11, config_file=GRACE_YAML)
    assert _train_losses(tmp_path / "grace") == _train_losses(tmp_path / "contrast")
    assert len(_train_losses(tmp_path / "contrast")) == 3
    assert torch.equal(grace.model.embed(), composed.model.embed())


def test_the_citeseer_preset_is_grace_on_citeseer(shared_data, tmp_path):
    grace, composed = _fit_both(shared_data, tmp_path, "citeseer", 1, 5)
    assert composed.config["encoder"] == {"gcn": {"out": 256, "layers": 2, "activation": "prelu"}}
    assert _train_losses(tmp_path / "grace") == _train_losses(tmp_path / "contrast")
    assert torch.equal(grace.model.embed(), composed.model.embed())


def test_the_yaml_recipe_parses_to_the_method_defaults():
    """The defaults of ``contrast`` are GRACE's Cora recipe, as the YAML file writes it."""
    from graphcl.registry import get_method
    recipe = load_config_file(GRACE_YAML)
    defaults = get_method("contrast").defaults
    assert {k: defaults[k] for k in recipe} == recipe


def test_a_barlow_twins_composition_trains_from_the_command_line(shared_data, tmp_path, capsys):
    config = REPO / "experiments" / "configs" / "contrast" / "gbt_cora.yaml"
    code = main(["train", "contrast", "--dataset", "cora", "--data-root", str(shared_data), "--config", str(config),
                 "--set", "epochs=2", "--set", "probe_seeds=1", "--set", "probe_weight_decays=[0.0001]", "--run-dir", str(tmp_path / "r"), "--device", "cpu", "--json", "--quiet"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test"]["acc"] > 0.3          # 7 classes, the largest 30%: trained features beat it
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["config"]["loss"] == {"barlow_twins": {}} and saved["config"]["projector"] is None


def test_the_gca_recipe_builds_adaptive_views_on_cora(shared_data, tmp_path):
    t = build_trainer("contrast", "cora", data_root=shared_data, device="cpu", run_dir=tmp_path / "r",
                      config_file=REPO / "experiments" / "configs" / "contrast" / "gca_cora.yaml", verbose=False)
    ops = [op for view in t.model.pipeline.views for op in view.ops]
    assert [op.name for op in ops] == ["centrality_edge_drop", "centrality_feature_mask"] * 2
    loss = t.model.pipeline(t.model.graph, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    edge_probs = ops[0].drop_probs
    assert edge_probs.numel() == t.model.edge_index.size(1) and float(edge_probs.max()) <= 0.7
    assert float(edge_probs.mean()) == pytest.approx(0.2, abs=0.02)     # mean rate p (until the 0.7 cap bites)


def test_a_bgrl_composition_trains_and_resumes_its_target(shared_data, tmp_path):
    config = REPO / "experiments" / "configs" / "contrast" / "bgrl_cora.yaml"
    small = {"epochs": 2, "probe_seeds": 1, "probe_weight_decays": [0.0001]}
    t = build_trainer("contrast", "cora", data_root=shared_data, device="cpu", run_dir=tmp_path / "r",
                      config_file=config, config=small, verbose=False)
    result = t.fit()
    assert result.test["acc"] > 0.3
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)["model"]
    assert int(state["pipeline.objective.steps"]) == 2 and "pipeline.target_encoder.layers.0.lin.weight" in state


def test_a_bad_composition_fails_before_training(shared_data, tmp_path):
    with pytest.raises(ConfigError, match="view1: unknown view operation 'edgedrop'"):
        build_trainer("contrast", "cora", data_root=shared_data, device="cpu", run_dir=tmp_path / "r",
                      config={"view1": [{"edgedrop": {"p": 0.1}}]})
    assert not (tmp_path / "r").exists()
