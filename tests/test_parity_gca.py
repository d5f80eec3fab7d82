"""The parity harness's GCA parts (experiments/parity/adapters/gca.py, gca_check.py). No checkout, no
network: synthetic graphs, a log snippet written here, and the repository's own GCA config.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.parity.adapter import PatchError, RunContext, apply_patches, load_adapter  # noqa: E402
from experiments.parity.adapters.gca import (THRESHOLD, ours_composition, parse_gca_log,  # noqa: E402
                                             reference_param)
from experiments.parity.refhook import MARKER  # noqa: E402

#: the keys of GCA's train.py default_param (train.py:86-101 at 0f17497), all given by the parameter file
GCA_KEYS = {"learning_rate", "num_hidden", "num_proj_hidden", "activation", "base_model", "num_layers",
            "drop_edge_rate_1", "drop_edge_rate_2", "drop_feature_rate_1", "drop_feature_rate_2", "tau",
            "num_epochs", "weight_decay", "drop_scheme"}


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("dataset", ["cora", "citeseer"])
def test_reference_param_complete_and_json(dataset):
    p = reference_param(dataset, 37)
    assert set(p) == GCA_KEYS
    assert p["num_epochs"] == 37 and p["drop_scheme"] == "degree" and p["base_model"] == "GCNConv"
    assert json.loads(json.dumps(p)) == p


def test_reference_param_rejects_bad_input():
    with pytest.raises(KeyError, match="pubmed"):
        reference_param("pubmed", 10)
    with pytest.raises(ValueError, match="epochs"):
        reference_param("cora", 0)


def test_settings_are_graces_rates():
    """Both sides use GRACE's authors' per-dataset rates (graphcl's grace preset)."""
    from graphcl.models.node.grace import GRACE_PRESETS
    for dataset in ("cora", "citeseer"):
        g, p = GRACE_PRESETS[dataset], reference_param(dataset, 200)
        assert (p["learning_rate"], p["num_hidden"], p["num_proj_hidden"], p["activation"], p["tau"],
                p["weight_decay"]) == (g["lr"], g["hidden_dim"], g["proj_dim"], g["activation"], g["tau"],
                                       g["weight_decay"])
        assert (p["drop_edge_rate_1"], p["drop_edge_rate_2"], p["drop_feature_rate_1"], p["drop_feature_rate_2"]) \
            == (g["p_e1"], g["p_e2"], g["p_f1"], g["p_f2"])


def test_ours_composition_is_the_repository_gca_config():
    """On Cora graphcl's side is experiments/configs/contrast/gca_cora.yaml (threshold = its default 0.7)."""
    import yaml
    from graphcl.contrast.view_ops import CentralityEdgeDropOp, CentralityFeatureMaskOp
    cfg = yaml.safe_load((ROOT / "experiments/configs/contrast/gca_cora.yaml").read_text(encoding="utf-8"))
    ours = ours_composition(reference_param("cora", 200))
    assert CentralityEdgeDropOp(0.2).threshold == THRESHOLD == CentralityFeatureMaskOp(0.3).threshold
    for key in ("view1", "view2"):
        want = [{name: {**args, "threshold": THRESHOLD}} for op in cfg[key] for name, args in op.items()]
        assert ours[key] == want
    for key in ("encoder", "projector", "loss", "lr", "weight_decay"):
        assert ours[key] == cfg[key], key


def test_ours_composition_schemes_and_refusals():
    p = reference_param("citeseer", 200)
    assert ours_composition({**p, "drop_scheme": "pr"})["view1"][0]["centrality_edge_drop"]["centrality"] == "pagerank"
    assert ours_composition({**p, "drop_scheme": "evc"})["view2"][1]["centrality_feature_mask"]["centrality"] \
        == "eigenvector"
    with pytest.raises(ValueError, match="drop_scheme"):
        ours_composition({**p, "drop_scheme": "uniform"})
    with pytest.raises(ValueError, match="GCNConv"):
        ours_composition({**p, "base_model": "GATConv"})


def test_ours_side_builds_with_the_adapter_config():
    """graphcl's contrast model from the adapter's config on a small graph: the centrality views with
    the cap, drop probabilities that average to the configured rates (no cap reached here)."""
    from torch_geometric.data import Data
    from graphcl.registry import get_method
    adapter = load_adapter("gca")
    assert adapter.method == "contrast" and adapter.task == "node"
    g = torch.Generator().manual_seed(0)
    n = 60
    src = torch.randint(0, n, (200,), generator=g)
    dst = torch.randint(0, n, (200,), generator=g)
    keep = src != dst
    ei = torch.unique(torch.stack([torch.cat([src[keep], dst[keep]]), torch.cat([dst[keep], src[keep]])]), dim=1)
    x = (torch.rand(n, 30, generator=g) < 0.3).float()
    x[:, 7] = 0  # an all-zero column (as Cora's column 444)
    data = Data(x=x, edge_index=ei, y=torch.arange(n) % 3, num_nodes=n)
    spec = get_method(adapter.method)
    cfg = {**spec.defaults, **adapter.ours_config("cora"), "seed": 0}
    json.dumps(cfg)  # run_ours gets it as JSON
    model = spec.build(data, cfg, "cpu")
    (e1, f1), (e2, f2) = [v.ops for v in model.pipeline.views]
    assert [type(o).__name__ for o in (e1, f1)] == ["CentralityEdgeDropOp", "CentralityFeatureMaskOp"]
    # GCA's equations written out here (eq. 14-19, the code's degree scheme): s = log deg (undirected),
    # w = (s_max - s) / (s_max - mean s), p = min(w / mean(w) * rate, 0.7)
    neighbours = [set() for _ in range(n)]
    for a, b in ei.t().tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    deg = torch.tensor([len(s) for s in neighbours], dtype=torch.float64)

    def norm(s):
        return (s.max() - s) / (s.max() - s.mean())

    w_e = norm(torch.log(deg[ei[1]]))
    present = (x != 0).any(0)
    w_f = torch.zeros(x.size(1), dtype=torch.float64)
    w_f[present] = norm(torch.log((x != 0).double().t() @ deg)[present])
    for op, w, rate in ((e1, w_e, 0.2), (e2, w_e, 0.4), (f1, w_f, 0.3), (f2, w_f, 0.4)):
        want = (w / w.mean() * rate).clamp(max=THRESHOLD)
        assert torch.allclose(op.drop_probs.double(), want, atol=1e-6), type(op).__name__
    assert float(f1.drop_probs[7]) == 0.0  # the all-zero column: weight 0 (the reference: NaN, see findings)
    assert float(e2.drop_probs.max()) == pytest.approx(THRESHOLD)  # the cap is reached in view 2
    loss = model.step_loss(torch.Generator().manual_seed(1))["loss"]
    assert torch.isfinite(loss)


def test_patches_apply_to_synthetic_sources(tmp_path):
    """Every patch's text is found once in files holding the reference's lines (written here), the hook
    lines land around train(); a changed source is refused."""
    adapter = load_adapter("gca")
    ctx = RunContext(dataset="cora", seed=0, epochs=3, workdir=tmp_path, checkout=tmp_path, data_root=tmp_path,
                     python=sys.executable)
    patches = adapter.patches(ctx)
    by_file: dict[str, str] = {}
    for p in patches:
        by_file[p.file] = by_file.get(p.file, "") + "# line\n" + p.find + "\n"
    for f, text in by_file.items():
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text(text, encoding="utf-8")
    done = apply_patches(tmp_path, patches)
    assert all(d["replaced"] == 1 for d in done) and all(d["reason"] for d in done)
    train = (tmp_path / "train.py").read_text(encoding="utf-8")
    assert "import nni" not in train and "parity_refhook.node_epoch_end(epoch - 1, loss, model" in train
    assert train.index("parity_refhook.epoch_start()") < train.index("loss = train()") \
        < train.index("parity_refhook.train_done()")
    assert "from torch_geometric.utils import scatter" in (tmp_path / "pGRACE/utils.py").read_text(encoding="utf-8")
    with pytest.raises(PatchError, match="expected 1"):
        apply_patches(tmp_path, patches[:1])  # already applied: the text is gone


def test_prepare_reference_writes_param_file(tmp_path):
    adapter = load_adapter("gca")
    data_root = tmp_path / "data"
    raw = data_root / "pyg" / "Planetoid" / "Cora" / "raw"
    raw.mkdir(parents=True)
    (raw / "ind.cora.x").write_bytes(b"stand-in")
    work = tmp_path / "work"
    (work / "param").mkdir(parents=True)
    ctx = RunContext(dataset="cora", seed=2, epochs=5, workdir=work, checkout=work, data_root=data_root,
                     python=sys.executable)
    adapter.prepare_reference(ctx, None)
    assert json.loads((work / "param" / "parity_cora.json").read_text(encoding="utf-8")) == reference_param("cora", 5)
    assert (work / "datasets" / "Cora" / "Cora" / "raw" / "ind.cora.x").read_bytes() == b"stand-in"
    cmd = adapter.reference_command(ctx)
    assert cmd[cmd.index("--param") + 1] == "local:parity_cora.json" and cmd[cmd.index("--seed") + 1] == "2"
    assert cmd[cmd.index("--device") + 1] == "cpu"


# ------------------------------------------------------------------ log parsing
def _record(epoch: int, acc: float | None = None) -> str:
    rec = {"epoch": epoch, "train_seconds": 0.5, "loss": 8.5 - epoch / 100}
    if acc is not None:
        rec.update(valid={"acc": acc}, test={"acc": acc, "f1_mean": acc - 0.02})
    return MARKER + json.dumps(rec)


def test_parse_gca_log():
    lines = ['PARITY_CHECK {"nodes": 2708, "edges": 10556, "same_labels": true, "same_edges": true}',
             "(T) | Epoch=001, loss=8.5969"]
    for e in range(200):
        lines.append(f"(T) | Epoch={e + 1:03d}, loss=8.5")
        lines.append(_record(e, 0.8 if e % 20 == 19 else None))
        if (e + 1) % 100 == 0:
            lines.append(f"(E) | Epoch={e + 1:04d}, avg_acc = 0.{80 + e // 100}5")
    lines.append("0.8212915062904358")
    recs = parse_gca_log("\n".join(lines))
    assert len(recs) == 200 and [r["epoch"] for r in recs[:2]] == [0, 1]
    by = {r["epoch"]: r for r in recs}
    assert by[99]["own"]["test"] == {"acc": 0.805} and by[199]["own"]["test"] == {"acc": 0.815}
    assert by[199]["own"]["final_test"] == {"acc": 0.8212915062904358}
    assert "own" not in by[98] and by[19]["test"]["acc"] == 0.8


def test_parse_gca_log_without_own_scores():
    recs = parse_gca_log("\n".join([_record(0), _record(1, 0.7), "(T) | Epoch=002, loss=8.4"]))
    assert len(recs) == 2 and all("own" not in r for r in recs)
