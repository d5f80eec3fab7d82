"""``graphcl evaluate``: a finished run's best model evaluated again, optionally under another
evaluation protocol; training keys are refused and the run folder is left as it was."""
from __future__ import annotations

import json

import pytest

from graphcl.cli import main
from graphcl.train import train
from graphcl.train.reevaluate import evaluate_run
from tests._seq_helpers import cyclic_sequences

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lightgcn_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("lightgcn")
    train("lightgcn", "ml-100k", config={"epochs": 2, "embedding_dim": 8, "num_layers": 1}, run_dir=run,
          verbose=False)
    return run


def _snapshot(folder):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def test_the_same_protocol_gives_the_saved_metrics_and_writes_nothing(lightgcn_run):
    before = _snapshot(lightgcn_run)
    saved = json.loads((lightgcn_run / "result.json").read_text())
    assert evaluate_run(lightgcn_run, "test") == saved["test"]
    assert evaluate_run(lightgcn_run, "valid") == saved["valid"]
    assert _snapshot(lightgcn_run) == before


def test_evaluation_keys_change_and_training_keys_are_refused(lightgcn_run, capsys):
    five = evaluate_run(lightgcn_run, "test", {"topk": [5]})
    assert sorted(five) == sorted(f"{m}@5" for m in ("recall", "ndcg", "precision", "hit", "mrr"))
    with pytest.raises(ValueError, match="cannot re-evaluate with lr, num_layers: only evaluation keys"):
        evaluate_run(lightgcn_run, "test", {"lr": 0.1, "num_layers": 2})
    with pytest.raises(ValueError, match="split must be one of valid, test, got 'train'"):
        evaluate_run(lightgcn_run, "train")
    assert main(["evaluate", str(lightgcn_run), "--set", "topk=[5]", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == five
    assert main(["evaluate", str(lightgcn_run), "--set", "lr=0.1"]) == 2
    assert "cannot re-evaluate with lr" in capsys.readouterr().err


def test_a_sequential_run_is_ranked_without_its_history_on_request(tmp_path):
    """Cyclic sequences never repeat an item within max_len steps, so removing the history only
    removes wrong answers: no metric can fall, and the hit rate rises."""
    data = cyclic_sequences(num_items=12, min_len=6, max_len=10)
    run = tmp_path / "sasrec"
    train("sasrec", data, config={"hidden_size": 16, "inner_size": 32, "max_len": 10, "epochs": 2,
                                  "topk": [1, 5], "valid_metric": "mrr@5"}, run_dir=run, verbose=False)
    from graphcl.train.run_folder import load_run
    plain, _ = load_run(run, dataset=data)
    excluded, _ = load_run(run, dataset=data, overrides={"exclude_history": True})
    a, b = plain.evaluate("test"), excluded.evaluate("test")
    assert a == json.loads((run / "result.json").read_text())["test"]
    assert all(b[k] >= a[k] - 1e-12 for k in a)
    assert b["hit@5"] > a["hit@5"]
