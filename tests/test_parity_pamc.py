"""The parity harness's node-clustering parts (experiments/parity/nodecluster.py, the pamc/scgc
adapters, the munkres stand-in). No checkout, no network: synthetic graphs, logs written here.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import random
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.parity import nodecluster  # noqa: E402
from experiments.parity.adapter import load_adapter  # noqa: E402
from experiments.parity.adapters.pamc import SHIMS, parse_sdcn_log  # noqa: E402
from experiments.parity.convert import write_node_npz  # noqa: E402
from experiments.parity.summary import derive_final, summarize  # noqa: E402
from graphcl.eval.tasks.node_cluster import NodeClusteringTask  # noqa: E402
from graphcl.nn.mlp import MLP  # noqa: E402

N, C, F = 120, 3, 20


def _graph(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(C), N // C)
    edges = rng.integers(0, N, size=(2, 300))
    edges = edges[:, edges[0] != edges[1]]
    edges = np.unique(np.concatenate([edges, edges[::-1]], 1), axis=1)
    x = (rng.random((N, F)) < 0.2).astype(np.float32)
    return {"y": y, "edge_index": edges, "x": x}


def _sdcn_adjacency(path: Path, n: int) -> torch.Tensor:
    """D^-1 (A + I) as SDCN's utils.load_graph builds it (written here from its description:
    symmetrize by the elementwise max, add I, row-normalize), a torch sparse COO tensor."""
    e = np.loadtxt(path, dtype=np.int64).reshape(-1, 2)
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n), dtype=np.float32)
    a = a.maximum(a.T) + sp.eye(n)
    a = sp.diags(1.0 / np.asarray(a.sum(1)).ravel()) @ a
    a = a.tocoo().astype(np.float32)
    return torch.sparse_coo_tensor(np.vstack([a.row, a.col]).astype(np.int64), a.data, (n, n))


@pytest.fixture
def hook_env(tmp_path, monkeypatch):
    g = _graph()
    write_node_npz(tmp_path / "node.npz", g["y"], g["edge_index"], {})
    monkeypatch.setenv("PARITY_NODE", str(tmp_path / "node.npz"))
    monkeypatch.setenv("PARITY_X_SHA256", nodecluster.features_sha256(g["x"]))
    monkeypatch.setenv("PARITY_EPOCHS", "7")
    monkeypatch.setenv("PARITY_EVAL_EVERY", "3")
    monkeypatch.setenv("PARITY_KMEANS_SEEDS", "2")
    nodecluster._labels.clear()
    yield g
    nodecluster._labels.clear()


def test_due_every_k_and_last():
    assert [e for e in range(7) if nodecluster.due(e, 3, 7)] == [2, 5, 6]
    assert [e for e in range(4) if nodecluster.due(e, 0, 4)] == [3]


def test_cluster_record_is_graphcls_clustering_task():
    g = _graph()
    y = torch.as_tensor(g["y"])
    gen = torch.Generator().manual_seed(0)
    z = torch.nn.functional.one_hot(y, C).float() * 3 + 0.5 * torch.randn(N, C, generator=gen)
    q = torch.softmax(z + torch.randn(N, C, generator=gen), 1)

    class Frozen(nn.Module):
        def embed(self):
            return z

        def predict(self):
            return q.argmax(1)

    task = NodeClusteringTask(SimpleNamespace(y=y, num_nodes=N), {"kmeans_seeds": 3}, torch.device("cpu"))
    want = task.evaluate(Frozen(), "test")
    got = nodecluster.cluster_record(z, q, g["y"], kmeans_seeds=3)
    assert got == pytest.approx(want, abs=0)
    cheap = nodecluster.cluster_record(z, q, g["y"])
    assert set(cheap) == {"acc", "nmi", "ari", "f1", "clusters_used"}
    with pytest.raises(ValueError, match="N = 120"):
        nodecluster.cluster_record(z, q[:-1], g["y"])
    with pytest.raises(FloatingPointError):
        nodecluster.cluster_record(z, q * float("nan"), g["y"])
    # a diverged reference is recorded as it is: all-NaN rows go to cluster 0, k-means is NaN
    nan = nodecluster.cluster_record(z * float("nan"), q * float("nan"), g["y"], kmeans_seeds=2,
                                     allow_nonfinite=True)
    assert nan["nonfinite"] == 1.0 and nan["clusters_used"] == 1.0 and nan["acc"] == pytest.approx(1 / C)
    assert np.isnan(nan["kmeans_acc"]) and "nonfinite" not in got


def test_write_sdcn_round_trip_and_autoencoder_names(tmp_path):
    g = _graph()
    enc, dec = MLP([F, 8, 8, 16, 4]), MLP([4, 16, 8, 8, F])
    paths = nodecluster.write_sdcn(tmp_path, "toy", g["x"], g["y"], g["edge_index"],
                                   {"encoder": enc.state_dict(), "decoder": dec.state_dict()})
    assert np.array_equal(np.loadtxt(paths["x"], dtype=float), g["x"])
    assert np.array_equal(np.loadtxt(paths["y"], dtype=int), g["y"])
    assert np.array_equal(np.genfromtxt(paths["graph"], dtype=np.int32).T, g["edge_index"])

    class SDCNEncoder(nn.Module):  # SDCN's AE encoder layout (names), written here
        def __init__(self):
            super().__init__()
            self.enc_1, self.enc_2, self.enc_3, self.z_layer = (nn.Linear(F, 8), nn.Linear(8, 8), nn.Linear(8, 16),
                                                                nn.Linear(16, 4))

        def forward(self, x):
            h = torch.relu(self.enc_3(torch.relu(self.enc_2(torch.relu(self.enc_1(x))))))
            return self.z_layer(h)

    state = torch.load(paths["ae"], map_location="cpu")
    assert set(state) == {f"{n}.{p}" for names in nodecluster.AE_NAMES.values() for n in names
                          for p in ("weight", "bias")}
    ref = SDCNEncoder()
    ref.load_state_dict({k: v for k, v in state.items() if k in ref.state_dict()})
    x = torch.as_tensor(g["x"])
    assert torch.equal(ref(x), enc(x))
    with pytest.raises(ValueError, match="node ids"):
        nodecluster.write_sdcn(tmp_path, "bad", g["x"], g["y"], g["edge_index"] + N)


def test_check_graph_accepts_ours_and_refuses_another(hook_env, tmp_path, capsys):
    g = hook_env
    paths = nodecluster.write_sdcn(tmp_path / "sdcn", "toy", g["x"], g["y"], g["edge_index"])
    adj = _sdcn_adjacency(paths["graph"], N)
    check = nodecluster.check_graph(np.loadtxt(paths["y"], dtype=int), adj, np.loadtxt(paths["x"], dtype=float))
    assert check["same_labels"] and check["same_features"] and check["same_adjacency_pattern"]
    assert check["adjacency_max_abs_diff"] <= 1e-6
    assert nodecluster.CHECK_MARKER in capsys.readouterr().out
    y2 = g["y"].copy()
    y2[[0, -1]] = y2[[-1, 0]]
    with pytest.raises(RuntimeError, match="not graphcl's"):
        nodecluster.check_graph(y2, adj, g["x"])
    x2 = g["x"].copy()
    x2[0, 0] = 1 - x2[0, 0]
    with pytest.raises(RuntimeError, match="not graphcl's"):
        nodecluster.check_graph(g["y"], adj, x2)
    e = g["edge_index"]  # one undirected edge fewer (both directions)
    u, v = e[:, 0]
    keep = ~(((e[0] == u) & (e[1] == v)) | ((e[0] == v) & (e[1] == u)))
    other = nodecluster.write_sdcn(tmp_path / "other", "toy", g["x"], g["y"], e[:, keep])
    with pytest.raises(RuntimeError, match="not graphcl's"):
        nodecluster.check_graph(g["y"], _sdcn_adjacency(other["graph"], N), g["x"])


def test_reference_epoch_end_records_and_restores_state(hook_env, capsys):
    g = hook_env

    class Toy(nn.Module):  # SDCN-family outputs (x_bar, q, predict, z, ...)
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(F, C)

        def forward(self, x, adj):
            z = self.lin(x)
            return None, torch.softmax(z, 1), None, z, None, None

    model, x = Toy(), torch.as_tensor(g["x"])
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    before = (random.random(), np.random.rand(), torch.rand(1))
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    for epoch in range(7):
        nodecluster.epoch_start()
        nodecluster.pause()
        nodecluster.resume()
        nodecluster.epoch_end(epoch, torch.tensor(0.5, requires_grad=True), model, x, None)
    after = (random.random(), np.random.rand(), torch.rand(1))
    assert before[0] == after[0] and before[1] == after[1] and torch.equal(before[2], after[2])
    recs = [json.loads(line.split(nodecluster.MARKER, 1)[1]) for line in capsys.readouterr().out.splitlines()
            if nodecluster.MARKER in line]
    assert [r["epoch"] for r in recs] == list(range(7))
    assert [r["epoch"] for r in recs if "test" in r] == [2, 5, 6]
    assert all(r["loss"] == 0.5 and r["train_seconds"] >= 0 for r in recs)
    with torch.no_grad():
        z = model.lin(x)
    assert recs[-1]["test"] == pytest.approx(nodecluster.cluster_record(z, torch.softmax(z, 1), g["y"], 2))


def test_clock_excludes_paused_time(monkeypatch):
    t = iter([10.0, 11.0, 15.0, 16.0])
    monkeypatch.setattr(nodecluster.time, "perf_counter", lambda: next(t))
    nodecluster.epoch_start()   # 10
    nodecluster.pause()         # 11
    nodecluster.resume()        # 15: 4 s paused
    assert nodecluster._clock["paused"] == 4.0
    assert 16.0 - nodecluster._clock["start"] - nodecluster._clock["paused"] == 2.0


_LOG = """Namespace(name='cite', epochs=3)
Loaded PAE acc:0.4860  nmi:0.2522  ari:0.2178  f1:0.4597
0Q acc:0.4860  nmi:0.2522  ari:0.2178  f1:0.4597
0Z < acc:0.4860  nmi:0.2522  ari:0.2178  f1:0.4597
0P acc:0.4950  nmi:0.2520  ari:0.2219  f1:0.4751
PARITY_JSON {"epoch": 0, "train_seconds": 3.1, "loss": 1.09}
1Q acc:0.4866  nmi:0.2568  ari:0.1980  f1:0.4266
1P acc:0.5074  nmi:0.2598  ari:0.2211  f1:0.4581
PARITY_JSON {"epoch": 1, "train_seconds": 2.9, "loss": 1.05}
2Q acc:0.4563  nmi:0.2351  ari:-0.0100  f1:0.3987
PARITY_JSON {"epoch": 2, "train_seconds": 2.8, "loss": 0.97, "test": {"acc": 0.48, "nmi": 0.24, "ari": 0.17, "f1": 0.43}}
Z:acc-nmi-ari-F1-gpu-clock:  0.4866,  0.4866,  0.4866,  0.0000,|, 0.2568,  0.2568,  0.2568,  0.0000,|, 0.2178,  0.2178,  0.2178,  0.0000,|, 0.4597,  0.4597,  0.4597,  0.0000,|, 0.0000,  0.0000,  0.0000,  0.0000,|,13.7, 13.7, 13.7,  0.0000,||, Namespace(name='cite')
"""


def test_parse_sdcn_log_aligns_its_start_of_epoch_evaluations():
    recs = parse_sdcn_log(_LOG)
    assert [r["epoch"] for r in recs] == [0, 1, 2]
    assert recs[0]["own"]["test"] == {"acc": 0.4866, "nmi": 0.2568, "ari": 0.1980, "f1": 0.4266}  # '1Q'
    assert recs[1]["own"]["test"]["ari"] == -0.01                                                  # '2Q'
    assert "test" not in recs[2].get("own", {})   # the reference never evaluates after its last step
    assert recs[2]["own"]["last_evaluated"] == recs[1]["own"]["test"]
    assert recs[2]["own"]["best_epoch"] == {"acc": 0.4866, "nmi": 0.2568, "ari": 0.2178, "f1": 0.4597}
    assert recs[2]["test"]["acc"] == 0.48


def test_summary_of_cluster_runs_uses_last_epoch():
    def run(side, seed, acc):
        curves = [{"epoch": 0, "loss": 1.0, "test": {"acc": acc - 0.1, "nmi": 0.2}},
                  {"epoch": 1, "loss": 0.9, "train_seconds": 1.0, "test": {"acc": acc, "nmi": 0.3}}]
        return {"side": side, "seed": seed, "status": "ok", "curves": curves, "seconds_per_epoch": 1.0,
                "peak_rss_mib": 10.0, "final": derive_final(curves, "acc")}
    runs = [run("reference", 0, 0.6), run("reference", 1, 0.62), run("ours", 0, 0.61)]
    s = summarize(runs, ["acc", "nmi"])
    assert s["reference"]["last"]["acc"][0] == pytest.approx(0.61)
    assert s["within_spread"]["last"]["acc"] is True
    assert s["reference"]["best_valid"]["acc"] == []


def _munkres():
    spec = importlib.util.spec_from_file_location("munkres_shim", SHIMS / "munkres.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_munkres_stand_in_finds_the_minimum_cost_assignment():
    mod = _munkres()
    rng = np.random.default_rng(0)
    for _ in range(5):
        cost = rng.integers(-50, 0, size=(5, 5)).tolist()
        got = mod.Munkres().compute(cost)
        assert [r for r, _ in got] == list(range(5))
        best = min(sum(cost[i][p[i]] for i in range(5)) for p in itertools.permutations(range(5)))
        assert sum(cost[r][c] for r, c in got) == best
    with pytest.raises(ValueError, match="square"):
        mod.Munkres().compute([[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("name,model,functions", [("pamc", "SCGC_TRIMPOSCCSP", 5), ("scgc", "SCGC_TRIM", 3)])
def test_cluster_adapters_share_settings_with_graphcls_presets(name, model, functions):
    from graphcl.registry import get_method
    a = load_adapter(name)
    assert a.task == "cluster" and a.model_name == model and a.train_functions == functions
    spec = get_method(a.method)
    for dataset in ("cora", "citeseer"):
        cfg, h = a.ours_config(dataset), a.hyper(dataset)
        preset = spec.presets[dataset]
        for key in ("alpha", "beta", "tau", "order", "lr"):
            assert cfg[key] == preset[key] == h[key], (dataset, key)
        assert set(cfg) - {"pretrain_cache", "minibatch_size", "task"} <= set(spec.defaults)
        assert h["n_clusters"] == a.datasets[dataset]["n_clusters"]
    if name == "pamc":
        assert a.ours_config("cora")["assignment"] == "hard"  # the authors' code (argmax meta-nodes)
    ctx = SimpleNamespace(dataset="citeseer", seed=3, epochs=7, python="py", threads=1)
    cmd = a.reference_command(ctx)
    assert cmd[cmd.index("--model") + 1] == model and cmd[cmd.index("--name") + 1] == "cite"
    assert cmd[cmd.index("--seed") + 1] == "3" and "--influence" in cmd
    counted = [p for p in a.patches(ctx) if p.count == functions]
    assert len(counted) == 5  # graph check, clock start/pause/resume, epoch end: once per train_* function
