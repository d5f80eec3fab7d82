"""`graphcl plot` (embeddings and curves of a run folder) and `graphcl reproduce` (several seeds,
report with mean ± std) on small real runs: LightGCN on ml-100k, GRACE on Cora."""
import importlib.util
import json
import shutil
import statistics
import struct
import sys

import pytest
import torch
from _rec_helpers import clustered_dataset
from _seq_helpers import cyclic_sequences

from graphcl.cli import main
from graphcl.reproduce import PAPER_RESULTS, default_dataset, reproduce
from graphcl.train import build_trainer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = {"embedding_dim": 8, "num_layers": 1}


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert width > 100 and height > 100
    assert not list(path.parent.glob(f".{path.name}.*"))  # no temp file left behind


@pytest.fixture(scope="module")
def lightgcn_run(tmp_path_factory):
    """A finished two-epoch LightGCN run on ml-100k (943 users, 1682 items)."""
    run = tmp_path_factory.mktemp("plot") / "lightgcn"
    build_trainer("lightgcn", "ml-100k", config={**TINY, "epochs": 2}, device="cpu", run_dir=run,
                  verbose=False).fit()
    return run


# ---------------------------------------------------------------------------- plot
def test_plot_recommender_embeddings_users_and_items(lightgcn_run, tmp_path):
    pytest.importorskip("matplotlib")
    from graphcl.plot import plot_embeddings

    out = tmp_path / "emb.png"
    res = plot_embeddings(lightgcn_run, out, max_points=300, seed=1)
    assert_png(out)
    assert res.path == out and res.total == 943 + 1682 and res.checkpoint.name == "best.pt"
    assert res.coords.shape == (300, 2) and torch.isfinite(res.coords).all()
    assert res.index.unique().numel() == 300 and int(res.index.max()) < res.total
    # users are rows 0..942 of the table, items after them; both are drawn, in two colours
    assert res.color_by == "type" and set(res.groups) == {"users", "items"}
    assert res.kinds == ["user" if i < 943 else "item" for i in res.index.tolist()]
    again = plot_embeddings(lightgcn_run, tmp_path / "again.png", max_points=300, seed=1)
    assert torch.equal(again.index, res.index) and torch.allclose(again.coords, res.coords)

    clustered = plot_embeddings(lightgcn_run, tmp_path / "clu.png", color_by="cluster", clusters=3,
                                max_points=400)
    assert clustered.coords.shape == (400, 2)
    assert set(clustered.groups) == {"cluster 0", "cluster 1", "cluster 2"}


def test_plot_cli_embeddings_curves_and_errors(lightgcn_run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "cli.png"
    assert main(["plot", str(lightgcn_run), "--out", str(out), "--max-points", "200", "--seed", "3"]) == 0
    assert_png(out)
    assert "200 of 2625 points" in capsys.readouterr().out

    curves = tmp_path / "curves.png"
    assert main(["plot", str(lightgcn_run), "--what", "curves", "--out", str(curves)]) == 0
    assert_png(curves)
    from graphcl.plot import plot_curves
    res = plot_curves(lightgcn_run, tmp_path / "c2.png")
    log = [json.loads(x) for x in (lightgcn_run / "metrics.jsonl").read_text().splitlines()]
    assert res.epochs == [1, 2] and res.valid_epochs == [1, 2] and res.valid_metric == "ndcg@20"
    assert res.loss == [r["loss"] for r in log if r["split"] == "train"]
    assert res.valid == [r["ndcg@20"] for r in log if r["split"] == "valid"]

    # a recommender has no node labels to colour by
    assert main(["plot", str(lightgcn_run), "--color-by", "label", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphcl: error: --color-by label") and "--color-by cluster" in err
    assert not (tmp_path / "x.png").exists()


def test_plot_errors_missing_folder_and_checkpoint(lightgcn_run, tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nope"), "--what", "curves"]) == 2
    assert "run folder not found" in capsys.readouterr().err
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(lightgcn_run / "config.json", bare / "config.json")
    assert main(["plot", str(bare)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_plot_without_matplotlib_says_how_to_install(lightgcn_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    assert main(["plot", str(lightgcn_run), "--out", str(tmp_path / "e.png")]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install 'graphcl[plot]'" in err
    assert not (tmp_path / "e.png").exists()


def test_pca_projection_is_the_top_two_principal_components():
    from graphcl.plot import project_2d

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=gen) * torch.tensor([5.0, 3.0, 1.0, 0.5, 0.1])
    coords, names = project_2d(x, "pca")
    assert coords.shape == (200, 2) and names[0].startswith("PC1")
    xc = (x - x.mean(0)).double()
    _, _, vh = torch.linalg.svd(xc, full_matrices=False)
    expected = xc @ vh[:2].T
    assert torch.allclose(coords.double().abs(), expected.abs(), atol=1e-4)
    assert coords[:, 0].var() > coords[:, 1].var() > 0
    assert project_2d(x[:1], "pca")[0].shape == (1, 2)
    with pytest.raises(ValueError, match="unknown projection"):
        project_2d(x, "umap")


def test_tsne_projection_when_scikit_learn_is_installed():
    pytest.importorskip("sklearn")
    from graphcl.plot import project_2d

    x = torch.randn(60, 8, generator=torch.Generator().manual_seed(0))
    coords, _ = project_2d(x, "tsne", seed=0)
    assert coords.shape == (60, 2) and torch.isfinite(coords).all()


# ----------------------------------------------------------------------- reproduce
def test_reproduce_report_mean_std_skip_and_resume(tmp_path, capsys):
    out = tmp_path / "rep"
    # seed 1 was interrupted after its first epoch (last.pt written, no result.json)
    build_trainer("lightgcn", "ml-100k", config={**TINY, "epochs": 1, "seed": 1}, device="cpu",
                  run_dir=out / "seed1", verbose=False).fit()
    (out / "seed1" / "result.json").unlink()

    args = ["reproduce", "lightgcn", "--dataset", "ml-100k", "--seeds", "0", "1", "--epochs", "2",
            "--set", "embedding_dim=8", "--set", "num_layers=1", "--out-dir", str(out), "--device", "cpu",
            "--threads", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "seed 0: training lightgcn" in printed and "seed 1: resuming" in printed
    results = [json.loads((out / f"seed{s}" / "result.json").read_text()) for s in (0, 1)]
    assert [r["epochs_run"] for r in results] == [2, 2]
    log = [json.loads(line) for line in (out / "seed1" / "metrics.jsonl").read_text().splitlines()]
    train_epochs = [r["epoch"] for r in log if r["split"] == "train"]
    assert train_epochs == [0, 1]  # the resumed seed trained only its missing epoch

    report = (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    for key in ("recall@20", "ndcg@20", "hit@10"):
        values = [r["test"][key] for r in results]
        mean, std = statistics.fmean(values), statistics.stdev(values)
        assert summary["test"][key]["mean"] == pytest.approx(mean)
        assert summary["test"][key]["std"] == pytest.approx(std)
        assert f"| {key} | {mean:.4f} ± {std:.4f} |" in report
    assert "Hardware: CPU" in report and "seeds: 0, 1" in report and "epochs: 2" in report
    assert "date: " in report
    if importlib.util.find_spec("matplotlib") is not None:  # else report.md says curves.png was skipped
        assert_png(out / "curves.png")
        assert "![validation ndcg@20" in report

    # a second invocation finds both seeds finished: no retraining
    stamps = {p: p.stat().st_mtime_ns for s in (0, 1)
              for p in (out / f"seed{s}" / name for name in ("result.json", "best.pt", "metrics.jsonl"))}
    logs = []
    rep = reproduce("lightgcn", "ml-100k", seeds=[0, 1], epochs=2, overrides=TINY, out_dir=out, device="cpu",
                    log=logs.append)
    assert [r.status for r in rep.runs] == ["skipped", "skipped"]
    assert sum("skipped" in line for line in logs) == 2
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert rep.summary["recall@20"][0] == pytest.approx(summary["test"]["recall@20"]["mean"])

    # the same settings from a config file (e.g. experiments/configs/*.yaml): its seed gives way to the seeds
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 2\nembedding_dim: 8\nnum_layers: 1\nseed: 2022\n")
    logs = []
    rep = reproduce("lightgcn", "ml-100k", seeds=[0, 1], config_file=cfg, out_dir=out, device="cpu",
                    log=logs.append)
    assert [r.status for r in rep.runs] == ["skipped", "skipped"]
    assert any("seed 2022 is replaced by the seeds [0, 1]" in line for line in logs)
    assert f"then {cfg}" in rep.report.read_text()

    # finished seeds trained with other settings are not silently reused
    with pytest.raises(ValueError, match="epochs=2"):
        reproduce("lightgcn", "ml-100k", seeds=[0], epochs=3, overrides=TINY, out_dir=out, device="cpu",
                  log=logs.append)


def test_reproduce_unknown_method_and_bad_seeds(tmp_path, capsys):
    assert main(["reproduce", "nope", "--out-dir", str(tmp_path / "r")]) == 2
    assert "unknown method 'nope'; available: " in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert main(["reproduce", "lightgcn", "--seeds", "1", "1", "--out-dir", str(tmp_path / "r")]) == 2
    assert "distinct" in capsys.readouterr().err
    assert main(["reproduce", "lightgcn", "--set", "seed=3", "--out-dir", str(tmp_path / "r")]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_paper_table_names_registered_methods_and_sources():
    from graphcl.registry import get_method

    for (method, dataset), paper in PAPER_RESULTS.items():
        assert get_method(method).name == method
        assert paper.source and paper.metrics
        assert all(0 < v < 1 for v in paper.metrics.values())  # fractions, not percentages
    assert default_dataset("grace") == "cora" and default_dataset("mclrec") == "beauty"
    assert default_dataset("lightgcn") == "gowalla"     # its paper dataset, the LightGCN split
    assert default_dataset("bm3") == "ml-100k"           # no paper dataset held, no preset


def test_grace_reproduce_then_plot_node_embeddings_by_label(shared_data, tmp_path):
    out = tmp_path / "grace"
    rep = reproduce("grace", "cora", seeds=[0], epochs=2, data_root=shared_data, out_dir=out, device="cpu",
                    overrides={"hidden_dim": 16, "proj_dim": 16, "probe_seeds": 1}, log=lambda _: None)
    acc = json.loads((out / "seed0" / "result.json").read_text())["test"]["acc"]
    assert f"| acc | {acc:.4f} ± 0.0000 | 0.8330 |" in rep.report.read_text()  # GRACE paper: 83.3 %
    assert "GRACE (Zhu et al., 2020), Table 2" in rep.report.read_text()

    pytest.importorskip("matplotlib")
    from graphcl.data import load
    from graphcl.plot import plot_embeddings

    res = plot_embeddings(out / "seed0", data_root=shared_data, max_points=10_000)
    assert_png(out / "seed0" / "embeddings.png")
    y = load("cora", root=shared_data).y
    assert res.coords.shape == (2708, 2) and res.color_by == "label"
    assert res.groups == [f"class {int(c)}" for c in y[res.index]]
    clustered = plot_embeddings(out / "seed0", tmp_path / "k.png", data_root=shared_data, color_by="cluster",
                                max_points=500)
    assert clustered.coords.shape == (500, 2) and len(set(clustered.groups)) == 7  # k = number of classes


@pytest.mark.parametrize("method, config", [
    ("sasrec", {"hidden_size": 8, "num_layers": 1, "num_heads": 1, "max_len": 8, "epochs": 1}),
    ("bm3", {"embedding_dim": 8, "modalities": [], "epochs": 1}),  # no embeddings(): its scoring tables
])
def test_plot_sequential_items_and_bm3_on_a_dataset_object(method, config, tmp_path):
    """A run trained on an in-memory dataset is plotted with ``dataset=`` (no name to reload)."""
    pytest.importorskip("matplotlib")
    from graphcl.plot import plot_embeddings

    data = cyclic_sequences() if method == "sasrec" else clustered_dataset(40, 30, 400)
    run = tmp_path / method
    build_trainer(method, data, config=config, device="cpu", run_dir=run, verbose=False).fit()
    res = plot_embeddings(run, dataset=data, color_by="cluster", clusters=4)
    assert_png(run / "embeddings.png")
    expected = 30 if method == "sasrec" else 40 + 30      # items only (padding row dropped) / users + items
    assert res.total == expected and res.coords.shape == (expected, 2)
    assert set(res.kinds) == ({"item"} if method == "sasrec" else {"user", "item"})
    with pytest.raises(ValueError, match="no labels"):
        plot_embeddings(run, tmp_path / "x.png", dataset=data, color_by="label")
