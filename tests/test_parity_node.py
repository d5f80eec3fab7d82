"""The parity harness's node-classification parts (experiments/parity: convert, nodeprobe, refhook,
run_ours, the grace/csgcl adapters and the cdlib stand-in). No checkout, no network: synthetic
graphs and logs.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.parity import refhook  # noqa: E402
from experiments.parity.adapter import load_adapter  # noqa: E402
from experiments.parity.adapters.csgcl import parse_csgcl_log  # noqa: E402
from experiments.parity.adapters.grace import parse_grace_log  # noqa: E402
from experiments.parity.convert import read_node_npz, same_edge_set, write_node_npz  # noqa: E402
from experiments.parity.nodeprobe import (evaluate_embeddings, make_probe_task, memoize_probe,  # noqa: E402
                                          probe_settings)
from experiments.parity.run_ours import _train_records  # noqa: E402
from experiments.parity.summary import attach_own_scores, derive_final, summarize  # noqa: E402

N, C = 300, 3


def _graph(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(C), N // C)
    edges = rng.integers(0, N, size=(2, 600))
    edges = np.unique(np.concatenate([edges, edges[::-1]], 1), axis=1)
    return {"y": y, "edge_index": edges}


def _separable(y: np.ndarray, seed: int = 0) -> torch.Tensor:
    """Embeddings whose class is readable from them (one-hot plus a little noise)."""
    g = torch.Generator().manual_seed(seed)
    return torch.eye(C)[torch.as_tensor(y)] * 3 + 0.1 * torch.randn(len(y), C, generator=g)


# ------------------------------------------------------------------ conversion
def test_node_npz_round_trip(tmp_path):
    g = _graph()
    masks = {"train_mask": np.arange(N) < 10, "val_mask": (np.arange(N) >= 10) & (np.arange(N) < 20),
             "test_mask": np.arange(N) >= 20}
    back = read_node_npz(write_node_npz(tmp_path / "g.npz", g["y"], g["edge_index"], masks))
    assert set(back) == {"y", "edge_index", "train_mask", "val_mask", "test_mask"}
    np.testing.assert_array_equal(back["y"], g["y"])
    np.testing.assert_array_equal(back["edge_index"], g["edge_index"])
    assert back["y"].dtype == np.int64 and back["train_mask"].dtype == bool
    for k, m in masks.items():
        np.testing.assert_array_equal(back[k], m)
    assert set(read_node_npz(write_node_npz(tmp_path / "h.npz", g["y"], g["edge_index"]))) == {"y", "edge_index"}


def test_node_npz_rejects_bad_input(tmp_path):
    g = _graph()
    with pytest.raises(ValueError, match="shape"):
        write_node_npz(tmp_path / "a.npz", g["y"], g["edge_index"][0])
    with pytest.raises(ValueError, match="outside"):
        write_node_npz(tmp_path / "a.npz", g["y"][:10], g["edge_index"])
    with pytest.raises(ValueError, match="unknown mask"):
        write_node_npz(tmp_path / "a.npz", g["y"], g["edge_index"], {"train": np.ones(N, bool)})
    with pytest.raises(ValueError, match="rows"):
        write_node_npz(tmp_path / "a.npz", g["y"], g["edge_index"], {"train_mask": np.ones(5, bool)})


def test_same_edge_set_ignores_order_only():
    e = _graph()["edge_index"]
    perm = np.random.default_rng(1).permutation(e.shape[1])
    assert same_edge_set(e, e[:, perm])
    assert not same_edge_set(e, e[::-1][:, :-1])             # one edge fewer
    directed = np.array([[0, 1], [1, 2]])
    assert not same_edge_set(directed, directed[::-1])        # direction counts
    assert same_edge_set(np.zeros((2, 0), int), np.zeros((2, 0), int))


# ------------------------------------------------------------------ probe
def test_probe_settings_default_to_graphcls():
    from graphcl.eval.tasks.node_probe import NODE_TASK_DEFAULTS
    s = probe_settings({"probe_seeds": 2, "lr": 1.0})
    assert s["probe_seeds"] == 2 and "lr" not in s
    assert s["probe_split"] == NODE_TASK_DEFAULTS["probe_split"]


def test_memoized_probe_fits_once_for_valid_and_test():
    calls = []

    class Task:
        def _probe(self, emb):
            calls.append(emb.clone())
            return {"n": len(calls)}

    task = memoize_probe(Task())
    a = torch.ones(4, 2)
    assert task._probe(a) == {"n": 1} and task._probe(a.clone()) == {"n": 1}
    assert task._probe(a + 1) == {"n": 2}
    assert len(calls) == 2


def test_probe_task_is_graphcls_and_deterministic():
    g = _graph()
    settings = {"probe_seeds": 2, "probe_epochs": 50}
    task = make_probe_task(g, settings)
    emb = _separable(g["y"])
    one = evaluate_embeddings(task, emb)
    assert set(one) == {"valid", "test"} and set(one["valid"]) == {"acc"}
    assert {"acc", "acc_std", "f1_mean"} <= set(one["test"])
    assert one["test"]["acc"] > 0.9 and one["valid"]["acc"] > 0.9
    # the same embeddings through a fresh task (the other side of the run): the same numbers
    assert evaluate_embeddings(make_probe_task(g, settings), emb.clone()) == one
    # and they are graphcl's linear probe with these settings
    from graphcl.eval.node import linear_probe
    ref = linear_probe(emb, torch.as_tensor(g["y"]), seeds=(0, 1), epochs=50)
    assert one["test"]["acc"] == pytest.approx(ref["mean"]) and one["valid"]["acc"] == pytest.approx(ref["val_mean"])


# ------------------------------------------------------------------ the hook
@pytest.fixture
def hook_env(tmp_path, monkeypatch):
    g = _graph()
    path = write_node_npz(tmp_path / "parity_node.npz", g["y"], g["edge_index"])
    monkeypatch.setenv("PARITY_NODE", str(path))
    monkeypatch.setenv("PARITY_PROBE", json.dumps({"probe_seeds": 1, "probe_epochs": 30}))
    monkeypatch.setenv("PARITY_EPOCHS", "5")
    monkeypatch.setenv("PARITY_EVAL_EVERY", "2")
    monkeypatch.setitem(refhook._state, "probe", None)
    return g


def _records(out: str, marker: str = refhook.MARKER) -> list[dict]:
    return [json.loads(line[len(marker):]) for line in out.splitlines() if line.startswith(marker)]


def test_node_due_every_k_and_last(hook_env):
    assert [e for e in range(5) if refhook.node_due(e)] == [1, 3, 4]


def test_node_setup_accepts_ours_and_refuses_another_graph(hook_env, capsys):
    g = hook_env
    perm = np.random.default_rng(0).permutation(g["edge_index"].shape[1])
    refhook.node_setup(torch.as_tensor(g["y"]), torch.as_tensor(g["edge_index"][:, perm]))
    assert _records(capsys.readouterr().out, refhook.CHECK_MARKER)[0] == {
        "nodes": N, "edges": g["edge_index"].shape[1], "same_labels": True, "same_edges": True}
    with pytest.raises(RuntimeError, match="not graphcl's"):
        refhook.node_setup(torch.as_tensor(g["y"][::-1].copy()), torch.as_tensor(g["edge_index"]))
    with pytest.raises(RuntimeError, match="not graphcl's"):
        refhook.node_setup(torch.as_tensor(g["y"]), torch.as_tensor(g["edge_index"][:, 1:]))


class _Model(torch.nn.Module):
    """Returns fixed separable embeddings; draws from every random stream in eval mode to check
    that the hook restores them."""

    def __init__(self, emb: torch.Tensor) -> None:
        super().__init__()
        self.emb = emb

    def forward(self, scale: float) -> torch.Tensor:
        torch.rand(3), np.random.rand(), random.random()
        return self.emb * scale


def test_node_epoch_end_records_probes_and_restores_state(hook_env, capsys):
    model = _Model(_separable(hook_env["y"]))
    model.train()
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    for epoch in range(5):
        refhook.epoch_start()
        refhook.train_done()
        refhook.node_epoch_end(epoch, 1.5 - epoch / 10, model, (1.0,))
    assert model.training
    # the random streams are where seeding left them: the probes drew nothing from them
    after = (torch.rand(1).item(), float(np.random.rand()), random.random())
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    assert after == (torch.rand(1).item(), float(np.random.rand()), random.random())
    recs = _records(capsys.readouterr().out)
    assert [r["epoch"] for r in recs] == [0, 1, 2, 3, 4]
    assert all(r["train_seconds"] >= 0 and r["loss"] is not None for r in recs)
    assert [("test" in r) for r in recs] == [False, True, False, True, True]
    assert recs[-1]["test"]["acc"] > 0.9 and "eval_seconds" in recs[-1]
    final = derive_final(recs, "acc")
    assert final["last"]["epoch"] == 4 and final["best_valid"]["epoch"] in (1, 3, 4)


# ------------------------------------------------------------------ parsing
_GRACE_LOG = "\n".join([
    'PARITY_CHECK {"nodes": 2708, "edges": 10556, "same_labels": true, "same_edges": true}',
    'PARITY_JSON {"epoch": 0, "train_seconds": 0.7, "loss": 8.59}',
    "(T) | Epoch=001, loss=8.5968, this epoch 0.7859, total 0.7859",
    'PARITY_JSON {"epoch": 1, "train_seconds": 0.6, "loss": 8.58, "valid": {"acc": 0.71}, '
    '"test": {"acc": 0.70, "acc_std": 0.01, "f1_mean": 0.68}}',
    "(T) | Epoch=002, loss=8.5800, this epoch 2.4974, total 3.9795",
    "=== Final ===",
    "(E) | label_classification: F1Mi=0.7209+-0.0031, F1Ma=0.6933+-0.0027",
])


def test_parse_grace_log_keeps_records_and_its_own_score():
    recs = parse_grace_log(_GRACE_LOG)
    assert [r["epoch"] for r in recs] == [0, 1]
    assert recs[-1]["test"]["acc"] == 0.70
    assert recs[-1]["own"] == {"final_test": {"acc": 0.7209, "f1_mean": 0.6933}}
    assert "own" not in recs[0]
    assert "own" not in parse_grace_log(_GRACE_LOG.rsplit("\n", 1)[0])[-1]  # no closing line: none


def test_parse_csgcl_log_maps_its_1_based_epochs():
    lines = []
    for e in range(200):
        lines.append(f'PARITY_JSON {{"epoch": {e}, "train_seconds": 0.5, "loss": 8.5}}')
        lines.append(f"(T) | Epoch={e + 1:03d}, loss=8.5000")
        if (e + 1) % 100 == 0:
            lines.append(f"(E) | Epoch={e + 1:04d}, avg_acc = 0.8{e // 100}5")
    recs = parse_csgcl_log("\n".join(lines))
    assert len(recs) == 200
    assert recs[99]["own"] == {"test": {"acc": 0.805}} and recs[199]["own"] == {"test": {"acc": 0.815}}
    assert sum("own" in r for r in recs) == 2


def test_attach_own_scores_skips_unknown_epochs():
    recs = [{"epoch": 0}, {"epoch": 1}]
    attach_own_scores(recs, [(1, {"acc": 0.5}), (7, {"acc": 0.9})], {"acc": 0.6})
    assert recs[1]["own"] == {"test": {"acc": 0.5}, "final_test": {"acc": 0.6}} and "own" not in recs[0]


def test_train_records_of_a_metric_log(tmp_path):
    lines = [{"epoch": 0, "split": "train", "seconds": 0.5, "loss": 2.0},
             {"epoch": 0, "split": "valid", "seconds": 1.0, "acc": 0.7},
             {"epoch": 1, "split": "train", "seconds": 0.4, "loss": 1.5}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert _train_records(tmp_path) == [{"epoch": 0, "train_seconds": 0.5, "loss": 2.0},
                                        {"epoch": 1, "train_seconds": 0.4, "loss": 1.5}]


def test_summary_of_node_runs_uses_last_epoch_acc():
    def run(side, seed, acc):
        curves = [{"epoch": 0, "train_seconds": 1.0, "loss": 2.0},
                  {"epoch": 1, "train_seconds": 1.0, "loss": 1.0, "valid": {"acc": acc},
                   "test": {"acc": acc, "f1_mean": acc}}]
        return {"side": side, "seed": seed, "status": "ok", "seconds_per_epoch": 1.0 if side == "reference" else 0.5,
                "peak_rss_mib": 100.0, "curves": curves, "final": derive_final(curves, "acc")}
    runs = [run("reference", 0, 0.80), run("reference", 1, 0.82), run("ours", 0, 0.81), run("ours", 1, 0.815)]
    s = summarize(runs, ["acc", "f1_mean"])
    assert s["reference"]["last"]["acc"][:1] == [pytest.approx(0.81)]
    assert s["within_spread"]["last"] == {"acc": True, "f1_mean": True}
    assert s["time_ratio"] == pytest.approx(0.5)


# ------------------------------------------------------------------ adapters
@pytest.mark.parametrize("name", ["grace", "csgcl"])
def test_node_adapters_share_settings_with_graphcls_presets(name):
    """ours_config is the adapter's hyperparameters renamed, and (the authors' GRACE config /
    graphcl's CSGCL preset) agrees with graphcl's registry preset of the method."""
    from graphcl.registry import get_method
    ad = load_adapter(name)
    spec = get_method(name)
    assert ad.task == "node" and ad.metrics[0] == "acc" and ad.eval_every >= 1
    for ds in ("cora", "citeseer"):
        cfg, h = ad.ours_config(ds), ad.hyper(ds)
        assert cfg["lr"] == h["learning_rate"] and cfg["hidden_dim"] == h["num_hidden"]
        assert cfg["tau"] == h["tau"] and cfg["weight_decay"] == h["weight_decay"]
        preset = {**spec.defaults, **spec.presets[ds]}
        for key in ("lr", "hidden_dim", "proj_dim", "activation", "p_e1", "p_e2", "p_f1", "p_f2", "tau",
                    "weight_decay", "num_layers"):
            assert cfg[key] == preset[key], (ds, key)
        assert probe_settings(cfg) == {k: cfg[k] for k in probe_settings(cfg)}


def test_csgcl_command_and_its_cli_values():
    from types import SimpleNamespace
    ad = load_adapter("csgcl")
    cmd = ad.reference_command(SimpleNamespace(python="py", dataset="citeseer", seed=3))
    assert cmd[:2] == ["py", "train.py"]
    args = dict(zip(cmd[2::2], cmd[3::2]))
    assert args["--dataset"] == "CiteSeer" and args["--seed"] == "3" and args["--device"] == "cpu"
    assert args["--cd"] == "leiden" and args["--param"] == "local:parity_citeseer.json"
    cfg = ad.ours_config("citeseer")
    assert cfg["community_method"] == "leiden" and cfg["ced_threshold"] == float(args["--ced_thr"])
    assert cfg["t0"] == 100 and cfg["gamma_max"] == 1.0


def test_cdlib_stand_in_leiden(monkeypatch):
    pytest.importorskip("leidenalg")
    nx = pytest.importorskip("networkx")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "parity" / "shims" / "csgcl"))
    try:
        from cdlib import algorithms
        from cdlib.utils import convert_graph_formats
    finally:
        sys.path.pop(0)
    g = nx.disjoint_union(nx.complete_graph(5), nx.complete_graph(5))
    g.add_edge(0, 5)
    assert convert_graph_formats(g, nx.Graph) is g
    monkeypatch.setenv("PARITY_SEED", "1")
    coms = algorithms.leiden(g).communities
    assert sorted(sorted(c) for c in coms) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    with pytest.raises(NotImplementedError):
        algorithms.louvain(g)
