"""HeCo-format heterogeneous datasets (graphcl.data.hetero) and meta-path graphs
(graphcl.data.metapath): the real files, and hand-made graphs for PathSim."""
from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphcl.data import load
from graphcl.data.hetero import load_hetero_dataset
from graphcl.data.interactions import DataFormatError
from graphcl.data.metapath import compose_commuting_matrix, pathsim_topk, sym_normalize
from graphcl.data.named import DatasetNotFoundError, MissingDataError

ACM = ("hetero", "heco", "acm")


# ------------------------------------------------------------------ real data
def test_acm_heterodata_shapes_labels_splits(shared_data, monkeypatch):
    monkeypatch.chdir(shared_data.parent)  # a relative root must work: "data" here, "../shared/data" in the repo
    data = load("acm", root=os.path.relpath(shared_data))
    assert data.target_type == "paper" and data.metapaths == ["pap", "psp"]
    assert data.missing_metapaths == [] and data.num_classes == 3
    assert tuple(data["paper"].x.shape) == (4019, 1902)
    assert tuple(data["author"].x.shape) == (7167, 1902) and not data["author"].featureless
    # subjects have no features file: HeCo's one-hot (identity) features
    assert data["subject"].featureless
    assert torch.equal(data["subject"].x.to_dense(), torch.eye(60))
    assert torch.bincount(data["paper"].y).tolist() == [1993, 965, 1061]
    store = data["paper"]
    assert store.train_mask.shape == (4019, 3)
    assert store.train_mask.sum(0).tolist() == [60, 120, 180]
    assert store.val_mask.sum(0).tolist() == [1000] * 3 and store.test_mask.sum(0).tolist() == [1000] * 3
    assert not (store.train_mask & store.test_mask).any()
    # 20 labelled papers per class in the 20-split
    assert torch.bincount(store.y[store.train_mask[:, 0]]).tolist() == [20, 20, 20]
    # schema neighbours and the meta-path graphs with path counts
    pa = data["paper", "pa", "author"].edge_index
    assert pa.shape == (2, 13407)
    pap = data["paper", "pap", "paper"]
    assert pap.edge_index.shape == (2, 57853)
    diag = pap.edge_index[0] == pap.edge_index[1]
    authors_per_paper = torch.bincount(pa[0], minlength=4019).float()
    assert torch.equal(pap.edge_weight[diag], authors_per_paper)  # C_ii = #authors of paper i
    assert float(pap.edge_weight.max()) == 21.0
    assert data["paper", "psp", "paper"].edge_index.shape == (2, 4338213)


def test_acm_homogeneous_view_for_node_methods(shared_data):
    view = load("acm", root=shared_data, view="pap")
    assert view.x.layout == torch.strided and tuple(view.x.shape) == (4019, 1902)
    assert view.edge_index.shape == (2, 57853 - 4019)  # the diagonal is dropped
    assert not (view.edge_index[0] == view.edge_index[1]).any()
    flipped = view.edge_index.flip(0)
    key = view.edge_index[0] * 4019 + view.edge_index[1]
    assert torch.equal(torch.sort(key).values, torch.sort(flipped[0] * 4019 + flipped[1]).values)
    assert view.train_mask.shape == (4019, 3) and view.num_classes == 3
    assert view.split_ratios == [20, 40, 60]
    both = load("acm", root=shared_data, view="pap+psp", self_loops=True)
    assert both.edge_index.shape[1] > 4338213  # union of the two meta-paths
    assert float(both.edge_weight.max()) == 22.0  # a paper's own diagonal: its authors + 1 subject


def test_partial_dblp_warns_and_lists_missing_metapath(shared_data):
    with pytest.warns(UserWarning, match="aptpa.npz"):
        data = load("dblp", root=shared_data)
    assert data.metapaths == ["apa", "apcpa"] and data.missing_metapaths == ["aptpa"]
    assert data.target_type == "author" and data["author"].x.shape == (4057, 334)
    assert data["term"].x.shape == (7723, 50)  # t_feat.npz is a dense .npy in disguise
    assert data["conference"].featureless
    assert data.metapath_weights["apcpa"].startswith("path counts")
    with pytest.raises(FileNotFoundError, match="aptpa"):
        load("dblp", root=shared_data, metapaths=["aptpa"])
    with pytest.raises(ValueError, match="no loaded meta-path 'aptpa'.*missing.*aptpa"):
        from graphcl.data.metapath import metapath_view
        metapath_view(data, "aptpa")


def test_imdb_sparse_neighbours_labels_and_repeated_ids(shared_data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load("imdb", root=shared_data)
    assert any("repeated node id" in str(w.message) for w in caught)
    assert data.label_values == [1, 2, 3] and data.num_classes == 3  # class ids 1..3 -> 0..2
    assert torch.bincount(data["movie"].y).tolist() == [1112, 1594, 1569]
    assert data["movie", "ma", "actor"].edge_index.shape == (2, 12831)
    assert data.metapath_weights["mam"] == "values of mam.npz"  # MEOW's IMDB files hold counts
    assert data["movie"].train_mask.sum(0).tolist() == [60, 119, 175]


def test_unknown_metapath_option_and_dataset_errors(shared_data):
    with pytest.raises(ValueError, match="no meta-path 'paap'.*pap, psp"):
        load("acm", root=shared_data, metapaths=["paap"])
    with pytest.raises(ValueError, match="not a meta-path of the target type"):
        load("acm", root=shared_data, metapaths=["apa"])
    with pytest.raises(ValueError, match="unknown option.*'metapath'"):
        load("acm", root=shared_data, metapath="pap")
    with pytest.raises(DatasetNotFoundError, match="heterogeneous datasets: acm"):
        load("acmm", root=shared_data)


def test_missing_and_corrupt_files_are_clear_errors(shared_data, tmp_path):
    with pytest.raises(MissingDataError, match="labels.npy not found.*acm"):
        load_hetero_dataset("acm", root=tmp_path)
    folder = tmp_path / "acm"
    shutil.copytree(shared_data.joinpath(*ACM), folder,
                    ignore=shutil.ignore_patterns("psp.npz", "a_feat.npz", "test_40.npy"))
    with pytest.raises(FileNotFoundError, match="test_40.npy"), pytest.warns(UserWarning, match="psp"):
        load_hetero_dataset("acm", root=tmp_path)
    shutil.copy(shared_data.joinpath(*ACM, "test_40.npy"), folder)
    with pytest.warns(UserWarning, match="psp.npz"):
        data = load_hetero_dataset("acm", root=tmp_path)
    assert data.metapaths == ["pap"] and data["author"].featureless
    bad = np.empty(4019, dtype=object)
    bad[:] = [np.array([1])] * 4019
    bad[7] = "seven"
    np.save(folder / "nei_a.npy", bad, allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"nei_a.npy: entry 7 is not a 1-D integer array"):
        load_hetero_dataset("acm", root=tmp_path, metapaths=["pap"])
    (folder / "nei_a.npy").unlink()
    with pytest.raises(FileNotFoundError, match="nei_a.npy or nei_a.npz"):
        load_hetero_dataset("acm", root=tmp_path, metapaths=["pap"])


def test_heco_positives_are_read_and_checked(shared_data, tmp_path):
    """pos.npz (HeCo's positives, row i = the positives of i) becomes (anchor, positive)
    pairs; a wrong shape or a node without a positive is refused naming the file."""
    data = load("freebase", root=shared_data)
    index = data["movie"].positive_index
    pos = sp.load_npz(shared_data.joinpath("hetero", "heco", "freebase", "pos.npz")).tocsr()
    assert index.shape == (2, pos.nnz) == (2, 163294)
    assert torch.equal(index[0], torch.from_numpy(pos.tocoo().row.astype(np.int64)))
    assert torch.equal(index[1], torch.from_numpy(pos.indices.astype(np.int64)))
    assert int(torch.bincount(index[0], minlength=3492).min()) >= 1
    folder = tmp_path / "acm"
    shutil.copytree(shared_data.joinpath(*ACM), folder)
    bad = sp.load_npz(folder / "pos.npz").tolil()
    bad[11, :] = 0
    sp.save_npz(folder / "pos.npz", bad.tocsr())
    with pytest.raises(DataFormatError, match=r"pos.npz: 1 node\(s\) have no positive \(first: row 11\)"):
        load_hetero_dataset("acm", root=tmp_path)
    sp.save_npz(folder / "pos.npz", sp.eye(100, format="csr"))
    with pytest.raises(DataFormatError, match=r"pos.npz: shape \(100, 100\), expected \(4019, 4019\)"):
        load_hetero_dataset("acm", root=tmp_path)
    (folder / "pos.npz").unlink()  # optional: without it the data loads, with no positives
    assert not hasattr(load_hetero_dataset("acm", root=tmp_path)["paper"], "positive_index")


# ------------------------------------------------------------- hand-made graphs
def _toy_relations():
    # 5 papers, 4 authors: paper -> authors
    pa = np.array([[0, 0, 1, 1, 2, 3, 3, 3, 4],
                   [0, 1, 0, 1, 1, 2, 3, 1, 3]])
    return {"pa": pa}, {"p": 5, "a": 4}


def test_commuting_matrix_counts_paths():
    rel, counts = _toy_relations()
    c = compose_commuting_matrix("pap", rel, counts).toarray()
    m = np.zeros((5, 4))
    m[rel["pa"][0], rel["pa"][1]] = 1
    np.testing.assert_array_equal(c, m @ m.T)
    assert c[0, 1] == 2 and c[3, 3] == 3  # papers 0 and 1 share two authors


def test_pathsim_topk_matches_dense_definition():
    rel, counts = _toy_relations()
    c = compose_commuting_matrix("pap", rel, counts).tocoo()
    ei = torch.tensor(np.vstack([c.row, c.col]), dtype=torch.long)
    w = torch.tensor(c.data, dtype=torch.float32)
    dense = c.toarray()
    d = np.diag(dense)
    sim = np.where(dense > 0, 2 * dense / (d[:, None] + d[None, :]), 0.0)
    for k in (1, 2, 3, 10):
        kept, values = pathsim_topk(ei, w, 5, k, values="pathsim")
        for i in range(5):
            cols = kept[1][kept[0] == i].tolist()
            nz = np.flatnonzero(dense[i])
            # expected: largest PathSim first, the node itself before ties, then lower ids
            order = sorted(nz, key=lambda j: (-sim[i, j], j != i, j))[:k]
            assert sorted(cols) == sorted(order), (i, k)
            np.testing.assert_allclose(values[kept[0] == i].numpy(), sim[i, sorted(order)], rtol=1e-6)
    kept, counts_kept = pathsim_topk(ei, w, 5, 2)  # default: keep the path counts
    np.testing.assert_array_equal(counts_kept.numpy(), dense[kept[0].numpy(), kept[1].numpy()])
    assert torch.all(kept[0][1:] * 5 + kept[1][1:] > kept[0][:-1] * 5 + kept[1][:-1])  # row-major


def test_sym_normalize_equals_dense():
    rel, counts = _toy_relations()
    c = compose_commuting_matrix("pap", rel, counts).tocoo()
    ei = torch.tensor(np.vstack([c.row, c.col]), dtype=torch.long)
    kept, w = pathsim_topk(ei, torch.tensor(c.data, dtype=torch.float32), 5, 2)
    a = torch.zeros(5, 5)
    a[kept[0], kept[1]] = w
    dinv = a.sum(1).rsqrt()
    expected = dinv[:, None] * a * dinv[None, :]
    got = torch.zeros(5, 5)
    got[kept[0], kept[1]] = sym_normalize(kept, w, 5)
    torch.testing.assert_close(got, expected)


def test_pathsim_rejects_bad_input():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="k >= 1"):
        pathsim_topk(ei, torch.ones(2), 2, 0)
    with pytest.raises(ValueError, match="positive"):
        pathsim_topk(ei, torch.tensor([1.0, 0.0]), 2, 1)
    assert sp.issparse(compose_commuting_matrix("pap", *_toy_relations()))
    assert compose_commuting_matrix("psp", *_toy_relations()) is None  # no paper-subject relation
