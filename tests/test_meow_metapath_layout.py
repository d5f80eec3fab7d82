"""MEOW / AdaMEOW ``metapath_layout`` (issue 20): ``own_topk`` (default: row i of the meta-path
operator aggregates over i's own PathSim top-k, D^{-1/2} A D^{-1/2}) and ``reference_transposed``
(the authors' code, jianxiangyu/MEOW@6a072d7 ``code_meow/module/preprocess.py``: the top-k in
numpy's argsort order of the dense PathSim row, then ``normalize_adj`` = D^{-1/2} Aᵀ D^{-1/2}, so
row i aggregates over the nodes whose top-k holds i and a node in nobody's top-k has an empty row).

The expected operators are built here independently, densely in numpy, from the formulas (no
reference checkout). The real-ACM test (shared data, skipped without it) checks the PSP/PAP
operators against that dense construction and the 1,252 empty PSP rows.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from graphcl.config import merge_config
from graphcl.data.metapath import compose_commuting_matrix, pathsim_topk
from graphcl.models.node.base import FullGraphBatch
from graphcl.models.node.meow_views import (METAPATH_LAYOUTS, masked_graph, metapath_graphs,
                                            reference_topk)
from graphcl.registry import get_method

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- helpers (dense, numpy)
def _dense(graph) -> np.ndarray:
    return graph.matrix.to_dense().double().numpy()


def _reference_dense(counts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The authors' construction on a dense count matrix C: S = 2C/(C_ii + C_jj) at C's nonzeros,
    per row the columns ``np.sort(np.argsort(S, 1)[:, ::-1][:, :k])`` holding C[i, j] (zeros hold
    nothing), then D^{-1/2} Aᵀ D^{-1/2} with D the row sums of A (0 where a row sum is 0).
    Returns (A, operator)."""
    n = counts.shape[0]
    d = np.diag(counts)
    x, y = counts.nonzero()
    s = np.zeros_like(counts, dtype=np.float64)
    s[x, y] = 2 * counts[x, y] / (d[x] + d[y])
    cols = np.sort(np.argsort(s, axis=1)[:, ::-1][:, :k], axis=1)
    rows = np.repeat(np.arange(n), cols.shape[1])
    a = np.zeros_like(counts, dtype=np.float64)
    a[rows, cols.reshape(-1)] = counts[rows, cols.reshape(-1)]
    deg = a.sum(1)
    dinv = np.where(deg > 0, 1 / np.sqrt(np.where(deg > 0, deg, 1)), 0.0)
    return a, dinv[:, None] * a.T * dinv[None, :]


def _own_dense(counts: np.ndarray, k: int) -> np.ndarray:
    """graphcl's default: per row the k largest PathSim (the node itself first on ties, then by
    column), D^{-1/2} A D^{-1/2}."""
    n = counts.shape[0]
    d = np.diag(counts)
    a = np.zeros_like(counts, dtype=np.float64)
    for i in range(n):
        nz = np.flatnonzero(counts[i])
        sim = 2 * counts[i, nz] / (d[i] + d[nz])
        order = sorted(range(len(nz)), key=lambda t: (-sim[t], nz[t] != i, nz[t]))[:k]
        a[i, nz[order]] = counts[i, nz[order]]
    deg = a.sum(1)
    dinv = np.where(deg > 0, 1 / np.sqrt(np.where(deg > 0, deg, 1)), 0.0)
    return dinv[:, None] * a * dinv[None, :]


def _coo(counts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    r, c = counts.nonzero()
    return torch.from_numpy(np.vstack([r, c]).astype(np.int64)), torch.from_numpy(counts[r, c].astype(np.float32))


def _toy(n_big: int = 7, n_small: int = 3, n_a: int = 9, seed: int = 0) -> tuple[HeteroData, dict]:
    """Papers with ONE subject each (PSP = cliques of tied PathSim 1, as ACM) in a big subject
    (n_big papers) and a small one (n_small), and 1-3 authors each (PAP: distinct counts)."""
    rng = np.random.default_rng(seed)
    n = n_big + n_small
    y = np.array([0] * n_big + [1] * n_small)
    perm = rng.permutation(n)  # the big subject's papers are scattered over the indices
    y = y[perm]
    ps = np.array([np.arange(n), y])
    pa = np.unique(np.array([(i, int(rng.integers(0, n_a))) for i in range(n) for _ in range(3)]).T, axis=1)
    rel, counts = {"pa": pa, "ps": ps}, {"p": n, "a": n_a, "s": 2}
    data = HeteroData()
    data["paper"].x = torch.from_numpy(rng.random((n, 6)).astype(np.float32))
    data["paper"].num_nodes, data["paper"].featureless = n, False
    data["author"].x = torch.from_numpy(rng.random((n_a, 4)).astype(np.float32))
    data["author"].num_nodes, data["author"].featureless = n_a, False
    data["subject"].x = torch.sparse_csr_tensor(torch.arange(3), torch.arange(2), torch.ones(2))
    data["subject"].num_nodes, data["subject"].featureless = 2, True
    data["paper", "pa", "author"].edge_index = torch.from_numpy(pa)
    data["paper", "ps", "subject"].edge_index = torch.from_numpy(ps)
    dense = {}
    for m in ("pap", "psp"):
        c = compose_commuting_matrix(m, rel, counts)
        dense[m] = c.toarray()
        coo = c.tocoo()
        data["paper", m, "paper"].edge_index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        data["paper", m, "paper"].edge_weight = torch.from_numpy(coo.data.astype(np.float32))
    data["paper"].y = torch.from_numpy(y)
    masks = torch.zeros(n, 3, dtype=torch.bool)
    masks[:4] = True
    data["paper"].train_mask, data["paper"].val_mask, data["paper"].test_mask = masks, masks.clone(), masks.clone()
    data.name, data.target_type, data.metapaths, data.missing_metapaths = "toy", "paper", ["pap", "psp"], []
    data.type_letters = {"p": "paper", "a": "author", "s": "subject"}
    data.split_ratios, data.num_classes = [4, 4, 4], 2
    return data, dense


def _build(method: str = "meow", **overrides):
    spec = get_method(method)
    base = {"nei_max": [3, 4], "adj_mask": [0.3, 0.2], "hidden_dim": 8, "embed_dim": 8}
    if method == "meow":
        base["cluster_counts"] = [2, 3]
    cfg, _ = merge_config(spec.defaults, {**base, **overrides})
    torch.manual_seed(0)
    data, dense = _toy()
    return spec.build(data, cfg, "cpu"), dense


# ---------------------------------------------------------------- toy graphs
def test_reference_layout_is_the_transposed_operator_with_empty_rows():
    data, dense = _toy()
    k = 4  # < the big subject's 7 papers: every paper of it keeps the same 4 (identical rows)
    graphs, kept = metapath_graphs(data, ["psp"], [k], "count", torch.device("cpu"),
                                   layout="reference_transposed")
    a, expected = _reference_dense(dense["psp"], k)
    np.testing.assert_allclose(_dense(graphs[0]), expected, atol=1e-7)
    big = np.flatnonzero(data["paper"].y.numpy() == 0)
    chosen = {tuple(np.flatnonzero(a[i])) for i in big}
    assert len(chosen) == 1 and len(next(iter(chosen))) == k  # identical rows keep identical columns
    empty = np.flatnonzero(np.abs(_dense(graphs[0])).sum(1) == 0)
    # the big subject's papers outside the shared top-4 are in nobody's top-k: empty rows
    assert sorted(empty) == sorted(set(big) - set(next(iter(chosen))))
    assert len(empty) == 7 - k
    # kept entries = the reference's A (positions and counts)
    ei, w = kept[0]
    got = np.zeros_like(a)
    got[ei[0].numpy(), ei[1].numpy()] = w.numpy()
    np.testing.assert_array_equal(got, a)
    # graphcl's default on the same graph: no empty row (each node keeps itself first)
    own, _ = metapath_graphs(data, ["psp"], [k], "count", torch.device("cpu"))
    assert (np.abs(_dense(own[0])).sum(1) > 0).all()
    np.testing.assert_allclose(_dense(own[0]), _own_dense(dense["psp"], k), atol=1e-7)


def test_without_ties_the_reference_layout_is_the_transpose_of_ours():
    """No tied PathSim values in a row: both top-k pick the same entries, and the operators are
    each other's transposes (D from the row sums of the same A)."""
    rng = np.random.default_rng(3)
    n = 12
    h = rng.integers(0, 3, size=(n, 5)).astype(np.float64)
    h[np.arange(n), rng.integers(0, 5, n)] += 1  # no empty row
    counts = h @ h.T * (1 + np.arange(n)[:, None] * 1e-3 + np.arange(n)[None, :] * 1e-4)
    counts = np.round(counts * 1e4)  # integer-valued, positive, distinct: no ties
    counts = np.triu(counts) + np.triu(counts, 1).T
    ei, w = _coo(counts)
    for k in (1, 3, 5):
        r_ei, r_w = reference_topk(ei, w, n, k)
        o_ei, o_w = pathsim_topk(ei, w, n, k)
        assert torch.equal(r_ei, o_ei) and torch.allclose(r_w, o_w)
    data, _ = _toy()
    # the same through metapath_graphs on a graph of distinct counts: Â_ref = Â_ownᵀ
    data["paper", "pap", "paper"].edge_index, data["paper", "pap", "paper"].edge_weight = _coo(counts[:10, :10])
    ref, _ = metapath_graphs(data, ["pap"], [3], "count", torch.device("cpu"), layout="reference_transposed")
    own, _ = metapath_graphs(data, ["pap"], [3], "count", torch.device("cpu"))
    np.testing.assert_allclose(_dense(ref[0]), _dense(own[0]).T, atol=1e-7)
    assert not np.allclose(_dense(own[0]), _dense(own[0]).T)  # a top-k of 3 is not symmetric here


def test_masked_graph_layouts_are_transposes():
    data, dense = _toy()
    _, kept = metapath_graphs(data, ["psp"], [4], "count", torch.device("cpu"), layout="reference_transposed")
    ei = kept[0][0]
    n = data["paper"].num_nodes
    ref = masked_graph(ei, n, 0.3, torch.Generator().manual_seed(1), torch.device("cpu"),
                       layout="reference_transposed")
    own = masked_graph(ei, n, 0.3, torch.Generator().manual_seed(1), torch.device("cpu"))
    np.testing.assert_allclose(_dense(ref), _dense(own).T, atol=1e-7)
    # the code's mask_edges: off-diagonal kept entries minus the dropped, binary, + I, then transposed
    off = ei[:, ei[0] != ei[1]]
    perm = torch.randperm(off.shape[1], generator=torch.Generator().manual_seed(1))
    rest = off[:, perm[int(0.3 * off.shape[1]):]].numpy()
    m = np.eye(n)
    m[rest[0], rest[1]] = 1.0
    dinv = 1 / np.sqrt(m.sum(1))
    np.testing.assert_allclose(_dense(ref), dinv[:, None] * m.T * dinv[None, :], atol=1e-7)
    assert (np.abs(_dense(ref)).sum(1) > 0).all()  # the self loops: no empty row in the masked view


@pytest.mark.parametrize("method", ["meow", "adameow"])
def test_models_use_the_layout(method):
    default, dense = _build(method)
    explicit, _ = _build(method, metapath_layout="own_topk")
    ref, _ = _build(method, metapath_layout="reference_transposed")
    assert default.config["metapath_layout"] == "own_topk"
    for m, k, g_def, g_exp, g_ref in zip(("pap", "psp"), (3, 4), default.graphs, explicit.graphs, ref.graphs):
        # default unchanged: graphcl's own top-k, D^{-1/2} A D^{-1/2}
        np.testing.assert_allclose(_dense(g_def), _own_dense(dense[m], k), atol=1e-7)
        np.testing.assert_array_equal(_dense(g_def), _dense(g_exp))
        np.testing.assert_allclose(_dense(g_ref), _reference_dense(dense[m], k)[1], atol=1e-7)
    # the coarse graph is the mean of the layout's operators
    np.testing.assert_allclose(_dense(ref.coarse), (_dense(ref.graphs[0]) + _dense(ref.graphs[1])) / 2, atol=1e-7)
    assert (np.abs(_dense(ref.graphs[1])).sum(1) == 0).sum() == 3  # 7 tied papers, top-4
    assert (np.abs(_dense(default.graphs[1])).sum(1) == 0).sum() == 0
    for model in (default, ref):  # one training step, finite
        out = model.loss(FullGraphBatch(torch.Generator().manual_seed(0)))
        assert torch.isfinite(out["loss"])
        out["loss"].backward()


@pytest.mark.parametrize("method", ["meow", "adameow"])
def test_bad_layout_is_a_clear_error(method):
    with pytest.raises(ValueError, match="metapath_layout must be one of own_topk, reference_transposed, "
                                         "got 'transposed'"):
        _build(method, metapath_layout="transposed")
    data, _ = _toy()
    with pytest.raises(ValueError, match="metapath_layout must be one of"):
        metapath_graphs(data, ["pap"], [3], "count", torch.device("cpu"), layout="own")
    assert METAPATH_LAYOUTS == ("own_topk", "reference_transposed")
    with pytest.raises(ValueError, match="k >= 1"):
        reference_topk(*_coo(np.eye(3)), 3, 0)


def test_reference_topk_values_and_short_rows():
    """Rows with fewer than k nonzeros keep all of them (the code's zeros hold nothing);
    ``values`` gives counts, PathSim or 1 at the same entries."""
    counts = np.array([[2, 1, 0, 0], [1, 3, 1, 0], [0, 1, 1, 0], [0, 0, 0, 4]], dtype=np.float64)
    ei, w = _coo(counts)
    got_ei, got_w = reference_topk(ei, w, 4, 3)
    a, _ = _reference_dense(counts, 3)
    pos = np.vstack(a.nonzero())
    np.testing.assert_array_equal(got_ei.numpy(), pos)
    np.testing.assert_array_equal(got_w.numpy(), a[pos[0], pos[1]])
    _, sim = reference_topk(ei, w, 4, 3, values="pathsim")
    d = np.diag(counts)
    np.testing.assert_allclose(sim.numpy(), 2 * counts[pos[0], pos[1]] / (d[pos[0]] + d[pos[1]]), rtol=1e-6)
    _, one = reference_topk(ei, w, 4, 3, values="binary")
    assert torch.equal(one, torch.ones_like(one))
    # the row-block size changes nothing
    ei2, w2 = reference_topk(ei, w, 4, 3, chunk_rows=1)
    assert torch.equal(ei2, got_ei) and torch.equal(w2, got_w)


# ---------------------------------------------------------------- real ACM
def test_acm_operators_equal_the_reference_construction(shared_data):
    """On HeCo's ACM (graphcl's path counts, equal to the authors' pap.npz/psp.npz), the option's
    operators equal the authors' construction replicated densely in numpy: PAP (k = 110) and PSP
    (k = 700, every PathSim 1: a tie-break), where 1,252 of 4,019 papers get an empty row."""
    from graphcl.data.hetero import load_hetero_dataset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_hetero_dataset("acm", str(shared_data))
    t = data.target_type
    n = int(data[t].num_nodes)
    assert n == 4019
    for m, k, n_empty in (("pap", 110, 0), ("psp", 700, 1252)):
        graphs, _ = metapath_graphs(data, [m], [k], "count", torch.device("cpu"), layout="reference_transposed")
        st = data[t, m, t]
        counts = np.zeros((n, n))
        counts[st.edge_index[0].numpy(), st.edge_index[1].numpy()] = st.edge_weight.double().numpy()
        _, expected = _reference_dense(counts, k)
        got = _dense(graphs[0])
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert int((np.abs(got).sum(1) == 0).sum()) == n_empty
        del counts, expected, got


# ---------------------------------------------------------------- the harness' variant of our side
def test_harness_variant_helpers(tmp_path):
    """``--ours-set`` parsing, taking over reference runs of a file that differs in graphcl's
    config only, and the variant's file stem / label in the report (no checkout, no run)."""
    import json
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from experiments.parity.harness import SettingsMismatch, _parse_set, _read_reference_runs, run_parity
    from experiments.parity.report import _label, file_stem

    assert _parse_set(["metapath_layout=reference_transposed", "nei_max=[5, 6]", "tau=0.5"]) == {
        "metapath_layout": "reference_transposed", "nei_max": [5, 6], "tau": 0.5}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        _parse_set(["metapath_layout"])
    settings = {"epochs": 3, "seeds": [0, 1], "hyper": {"lr": 1e-3}, "ours_config": {"lr": 1e-3}}
    runs = [{"side": "reference", "seed": 0, "status": "ok"}, {"side": "reference", "seed": 1, "status": "failed"},
            {"side": "ours", "seed": 0, "status": "ok"}]
    path = tmp_path / "m_acm.json"
    path.write_text(json.dumps({"settings": settings, "runs": runs}))
    variant = {**settings, "seeds": [0], "ours_config": {"lr": 1e-3, "metapath_layout": "reference_transposed"}}
    assert _read_reference_runs(path, variant) == runs[:1]  # ok reference runs only
    with pytest.raises(SettingsMismatch, match="differing: epochs"):
        _read_reference_runs(path, {**variant, "epochs": 4})
    with pytest.raises(ValueError, match="need a variant name"):
        run_parity("meow", "acm", tmp_path, 1, [0], data_root=tmp_path, work=tmp_path, out_dir=tmp_path,
                   sides=("ours",), ours_overrides={"metapath_layout": "reference_transposed"})
    with pytest.raises(ValueError, match="variant must be"):
        run_parity("meow", "acm", tmp_path, 1, [0], data_root=tmp_path, work=tmp_path, out_dir=tmp_path,
                   sides=("ours",), variant="a/b", ours_overrides={"tau": 0.5})
    doc = {"adapter": "meow", "dataset": "acm", "method": "meow"}
    assert file_stem(doc) == "meow_acm" and _label(doc) == "meow / acm"
    doc["variant"] = {"name": "reference_transposed", "ours_overrides": {"metapath_layout": "reference_transposed"}}
    assert file_stem(doc) == "meow_acm_reference_transposed"
    assert _label(doc) == "meow / acm (ours: metapath_layout=reference_transposed)"
