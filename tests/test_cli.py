"""The command line: listing, training, and clear errors."""
import json

import pytest

from graphcl.cli import main


def test_methods_lists_lightgcn(capsys):
    assert main(["methods"]) == 0
    assert "lightgcn" in capsys.readouterr().out


def test_datasets_reports_found_and_missing(shared_data, tmp_path, capsys):
    assert main(["datasets", "--data-root", str(shared_data)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("gowalla"))
    assert "found" in line and "graphcf/lightgcn/gowalla" in line
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("yelp"))
    assert "missing" in line and "trnMat.pkl" in line


def test_train_prints_test_table_and_writes_run(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "lightgcn", "--dataset", "ml-100k", "--set", "epochs=2",
                 "--set", "embedding_dim=16", "--device", "cpu", "--run-dir", str(run), "--json", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "test" in out and "recall" in out and "ndcg" in out
    result = json.loads(out.strip().splitlines()[-1])
    # a random ranker's expected test recall@20 on ml-100k is 0.0127; 2 epochs give ~0.18
    from _rec_helpers import random_ranker_recall
    from graphcl.data import load
    assert result["test"]["recall@20"] > 5 * random_ranker_recall(load("ml-100k"), 20), result["test"]
    assert (run / "best.pt").is_file() and (run / "metrics.jsonl").is_file()


@pytest.mark.parametrize("argv, message", [
    (["train", "nope"], "unknown method 'nope'; available: "),
    (["train", "lightgcn", "--set", "layers=2"], "unknown config key 'layers'"),
    (["train", "lightgcn", "--set", "layers"], "--set expects key=value"),
    (["train", "lightgcn", "--dataset", "nosuchdata"], "nosuchdata"),
    (["train", "lightgcn", "--set", "data.bogus=1"], "bogus"),
    (["train", "lightgcn", "--config", "/nonexistent/x.yaml"], "config file not found"),
    (["train", "lightgcn", "--dataset", "yelp", "--data-root", "/nonexistent"], "trnMat.pkl"),
])
def test_bad_input_gives_a_clear_error(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphcl: error:") and message in err


def test_config_file_and_set_precedence(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\nembedding_dim: 8\ndata:\n  seed: 3\n")
    run = tmp_path / "run"
    assert main(["train", "lightgcn", "--config", str(cfg), "--set", "embedding_dim=12",
                 "--run-dir", str(run), "--quiet"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["embedding_dim"] == 12 and saved["config"]["epochs"] == 1


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "graphcl", "methods"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "lightgcn" in out.stdout and "meow" in out.stdout
