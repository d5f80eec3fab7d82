"""``graphcl study``: study files, their expansion into runs, a tiny real study on ml-100k
(LightGCN, one epoch, two seeds), reuse and refusal of existing runs, the report's numbers."""
import json
import statistics

import pytest

from graphcl.cli import main
from graphcl.reproduce import PAPER_RESULTS, PaperResult
from graphcl.study import StudyError, expand_runs, load_study, run_study

TINY = "[epochs=1, embedding_dim=8, num_layers=1]"


def write_study(tmp_path, body: str, name: str = "tiny.yaml"):
    path = tmp_path / name
    path.write_text(body.replace("RUNS", str(tmp_path / "runs")).replace("OUT", str(tmp_path / "out" / "t.md")))
    return path


def tiny_study(tmp_path, sets: str = TINY):
    return write_study(tmp_path, f"description: two seeds of LightGCN\noutput: OUT\nruns: RUNS\n"
                                 f"datasets: [ml-100k]\nseeds: [0, 1]\nset: {sets}\n"
                                 f"metrics: [recall@20, ndcg@20]\nvariants: [lightgcn]\n")


# ---------------------------------------------------------------------------- spec
@pytest.mark.parametrize("body, key", [
    ("variants: [lightgcn]\ndatasets: [ml-100k]\nseed: [1]\n", "unknown key 'seed'"),
    ("variants: [lightgcn]\n", "missing key 'datasets'"),
    ("variants: [{name: a, metod: lightgcn}]\ndatasets: [ml-100k]\n", "variants[0]: unknown key 'metod'"),
    ("variants: [lightgcn]\ndatasets: [{name: cora, sets: []}]\n", "datasets[0]: unknown key 'sets'"),
    ("variants: [lightgcn]\ndatasets: [ml-100k]\nset: [epochs]\n", "set: --set expects key=value"),
    ("variants: [lightgcn]\ndatasets: [ml-100k]\nset: {epochs: 1}\n", "set: expected a list of 'key=value'"),
    ("variants: [lightgcn]\ndatasets: [ml-100k]\nset: [seed=3]\n", "'seed' is set by the study's seeds"),
    ("variants: [lightgcn]\ndatasets: [ml-100k]\nseeds: [1, 1]\n", "seeds must be distinct"),
    ("variants: [lightgcn, lightgcn]\ndatasets: [ml-100k]\n", "duplicate name(s) lightgcn"),
    ("variants: [lightgcn]\ndatasets: [ml-100k]\ngrid: {lr: 0.1}\n", "grid: lr: expected a non-empty list"),
])
def test_spec_errors_name_the_file_and_key(tmp_path, body, key):
    path = write_study(tmp_path, body)
    with pytest.raises(StudyError) as info:
        load_study(path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_unknown_config_key_is_refused_before_training(tmp_path):
    path = write_study(tmp_path, "variants: [{name: v, method: lightgcn, set: [tau=0.5]}]\ndatasets: [ml-100k]\n")
    with pytest.raises(StudyError, match=r"tiny.yaml: variant 'v' on ml-100k: unknown config key 'tau'"):
        expand_runs(load_study(path))


def test_set_values_parse_as_on_the_command_line(tmp_path):
    path = write_study(tmp_path, "variants: [lightgcn]\ndatasets: [ml-100k]\n"
                                 "set: ['lr=1e-3', 'topk=[5, 10]', 'valid_metric=recall@20']\n")
    assert load_study(path).overrides == {"lr": 0.001, "topk": [5, 10], "valid_metric": "recall@20"}


def test_expansion_count_order_folders_and_precedence(tmp_path):
    path = write_study(tmp_path, "runs: RUNS\nseeds: [3, 4]\nset: [epochs=5, lr=0.01]\n"
                                 "datasets: [ml-100k, {name: ml-1m, set: [epochs=2]}]\n"
                                 "grid: {num_layers: [1, 2], reg_weight: [0.0, 0.1]}\n"
                                 "variants: [lightgcn, {name: plain, method: lightgcn, set: [lr=0.5], grid: {}},\n"
                                 "           {name: only1m, method: lightgcn, grid: {}, datasets: [ml-1m]}]\n")
    runs = expand_runs(load_study(path))
    assert len(runs) == 2 * (4 + 1) * 2 + 2  # datasets x (grid points of lightgcn + plain) x seeds + only1m
    assert [(r.dataset, r.variant, r.grid.get("num_layers"), r.grid.get("reg_weight"), r.seed) for r in runs[:10]] == [
        ("ml-100k", "lightgcn", 1, 0.0, 3), ("ml-100k", "lightgcn", 1, 0.0, 4),
        ("ml-100k", "lightgcn", 1, 0.1, 3), ("ml-100k", "lightgcn", 1, 0.1, 4),
        ("ml-100k", "lightgcn", 2, 0.0, 3), ("ml-100k", "lightgcn", 2, 0.0, 4),
        ("ml-100k", "lightgcn", 2, 0.1, 3), ("ml-100k", "lightgcn", 2, 0.1, 4),
        ("ml-100k", "plain", None, None, 3), ("ml-100k", "plain", None, None, 4)]
    assert runs[0].run_dir == tmp_path / "runs" / "ml-100k" / "lightgcn" / "num_layers=1_reg_weight=0.0" / "seed3"
    assert runs[8].run_dir == tmp_path / "runs" / "ml-100k" / "plain" / "seed3"
    assert runs[0].overrides == {"epochs": 5, "lr": 0.01, "num_layers": 1, "reg_weight": 0.0, "seed": 3}
    assert runs[8].overrides == {"epochs": 5, "lr": 0.5, "seed": 3}
    assert runs[10].dataset == "ml-1m" and runs[10].overrides["epochs"] == 2
    assert [(r.dataset, r.variant) for r in runs[-3:]] == [("ml-1m", "plain"), ("ml-1m", "only1m"), ("ml-1m", "only1m")]


def test_dry_run_prints_the_expanded_runs(tmp_path, capsys):
    path = tiny_study(tmp_path)
    assert main(["study", str(path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"  1. ml-100k lightgcn (lightgcn) seed 0 [new] {tmp_path / 'runs/ml-100k/lightgcn/seed0'}  "
        "epochs=1 embedding_dim=8 num_layers=1 seed=0",
        f"  2. ml-100k lightgcn (lightgcn) seed 1 [new] {tmp_path / 'runs/ml-100k/lightgcn/seed1'}  "
        "epochs=1 embedding_dim=8 num_layers=1 seed=1"]
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------- a real study
def test_tiny_study_table_resume_and_changed_settings(tmp_path, monkeypatch, capsys):
    paper = PaperResult({"recall@20": 0.1234}, "A test paper, Table 9", "a note")
    monkeypatch.setitem(PAPER_RESULTS, ("lightgcn", "ml-100k"), paper)
    path = tiny_study(tmp_path)
    assert main(["study", str(path), "--threads", "1", "--device", "cpu"]) == 0
    results = [json.loads((tmp_path / f"runs/ml-100k/lightgcn/seed{s}/result.json").read_text()) for s in (0, 1)]
    recall = [r["test"]["recall@20"] for r in results]
    ndcg = [r["test"]["ndcg@20"] for r in results]
    assert recall[0] != recall[1]   # the seeds differ

    summary = json.loads((tmp_path / "out" / "t.json").read_text())
    (row,) = summary["rows"]
    assert row["test"]["recall@20"] == {"mean": statistics.fmean(recall), "std": statistics.stdev(recall),
                                        "values": recall}
    assert row["test"]["ndcg@20"]["mean"] == statistics.fmean(ndcg)
    assert row["paper"] == {"recall@20": 0.1234} and row["paper_source"] == "A test paper, Table 9"
    assert [r["status"] for r in row["runs"]] == ["trained", "trained"]
    assert all(r["memory"]["peak_rss_mib"] > 0 for r in row["runs"])

    table = (tmp_path / "out" / "t.md").read_text()
    assert "| dataset | variant | recall@20 | ndcg@20 | paper (recall@20) | valid |" in table
    cells = (f"| ml-100k | lightgcn | {statistics.fmean(recall):.4f} ± {statistics.stdev(recall):.4f} | "
             f"{statistics.fmean(ndcg):.4f} ± {statistics.stdev(ndcg):.4f} | 0.1234 |")
    assert cells in table
    assert "Paper, lightgcn on ml-100k: A test paper, Table 9 (a note)." in table
    assert "hardware: CPU " in table and f"`graphcl study {path} --resume`" in table

    # existing runs are refused without --resume, reused with it: nothing trains
    capsys.readouterr()
    assert main(["study", str(path), "--threads", "1"]) == 2
    assert "2 of 2 run folders already hold runs" in capsys.readouterr().err
    logs = {s: (tmp_path / f"runs/ml-100k/lightgcn/seed{s}/metrics.jsonl").stat().st_mtime_ns for s in (0, 1)}
    report = run_study(load_study(path), resume=True, device="cpu", log=lambda _: None)
    assert [o.seed_run.status for o in report.rows[0].outcomes] == ["skipped", "skipped"]
    assert report.rows[0].test["recall@20"][2] == recall
    assert {s: (tmp_path / f"runs/ml-100k/lightgcn/seed{s}/metrics.jsonl").stat().st_mtime_ns
            for s in (0, 1)} == logs

    # a changed setting is refused, naming the key, before anything trains
    changed = tiny_study(tmp_path, "[epochs=2, embedding_dim=8, num_layers=1]")
    with pytest.raises(ValueError, match=r"seed0 finished with other settings: epochs=1 \(asked 2\)"):
        run_study(load_study(changed), resume=True, device="cpu", log=lambda _: None)
    assert json.loads((tmp_path / "runs/ml-100k/lightgcn/seed1/result.json").read_text()) == results[1]


def test_grid_point_selected_on_validation(tmp_path):
    path = write_study(tmp_path, "output: OUT\nruns: RUNS\ndatasets: [ml-100k]\nseeds: [0]\n"
                                 f"set: {TINY}\ngrid: {{lr: [0.0001, 0.01]}}\nvariants: [lightgcn]\n")
    report = run_study(load_study(path), device="cpu", log=lambda _: None)
    low, high = report.rows
    assert (low.grid, high.grid) == ("lr=0.0001", "lr=0.01")
    assert high.valid_mean > low.valid_mean and (low.selected, high.selected) == (False, True)
    assert "| ml-100k | lightgcn | **lr=0.01** (selected) |" in report.markdown.read_text()


# ---------------------------------------------------------------------------- benchmark harness
def test_benchmark_harness_timer_memory_and_table(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "benchmarks"))
    try:
        import harness
    finally:
        sys.path.pop(0)
    calls = []
    ticks = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])   # a fake clock: 1, 3 and 2 seconds
    assert harness.median_seconds(lambda: calls.append(1), repeats=3, warmup=2, clock=lambda: next(ticks)) == 2.0
    assert len(calls) == 5
    with harness.PeakMemory() as peak:
        block = bytearray(64 * 1024 * 1024)            # 64 MiB, touched
        block[::4096] = b"\x01" * len(block[::4096])
    assert peak.rss_mib >= harness.current_rss_mib() - 1 and peak.rss_mib > 64
    del block
    out = tmp_path / "r" / "t.md"
    text = harness.write_table(out, "Title", ["line"], ["a", "b"], [["x", 0.123456], ["y", 2]], ["note"])
    assert out.read_text() == text == "# Title\n\nline\n\n| a | b |\n|---|---|\n| x | 0.1235 |\n| y | 2 |\n\nnote\n"
    assert not list(out.parent.glob(".t.md.*"))       # atomic: no temp file left
    assert harness.hardware_line().startswith("CPU ") and "torch " in harness.hardware_line()
