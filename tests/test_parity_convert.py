"""The parity harness's data conversion (experiments/parity/convert.py) and its pure helpers.

Our split written in the references' formats (pickled scipy coo: LightGCL trnMat/tstMat, DCCF
train/test) must read back as exactly the same interactions and shape, so both sides train and
test on the same pairs. No reference checkout, no network: a synthetic split and, when the shared
data is present, the real AdaGCL lastFM split through graphcl's own loader.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.parity.adapter import Patch, PatchError, apply_patches  # noqa: E402
from experiments.parity.convert import (canonical_pairs, read_coo_pickle, read_split_npz,  # noqa: E402
                                        write_coo_pickle, write_reference_split, write_split_npz)
from experiments.parity.summary import derive_final, mean_std, parse_records, within_spread  # noqa: E402

SHAPE = (7, 11)


def _synthetic_split(seed: int = 0) -> dict[str, np.ndarray]:
    """Disjoint train/valid/test pairs on a 7 x 11 grid, in shuffled order."""
    rng = np.random.default_rng(seed)
    cells = rng.permutation(SHAPE[0] * SHAPE[1])[:40]
    pairs = np.stack([cells // SHAPE[1], cells % SHAPE[1]])
    return {"train": pairs[:, :25], "valid": pairs[:, 25:32], "test": pairs[:, 32:]}


def test_coo_pickle_round_trip_is_exact(tmp_path):
    split = _synthetic_split()
    for name, pairs in split.items():
        path = write_coo_pickle(tmp_path / f"{name}.pkl", pairs, SHAPE)
        back, shape = read_coo_pickle(path)
        assert shape == SHAPE
        assert back.dtype == np.int64
        np.testing.assert_array_equal(back, canonical_pairs(pairs))
        assert {tuple(p) for p in back.T} == {tuple(p) for p in pairs.T}


def test_written_pickle_is_what_the_references_read(tmp_path):
    """A plain pickle.load gives a coo_matrix with .row/.col/.data of ones (LightGCL normalizes
    .data in place, DCCF tests R[u, i] == 1): float dtype, value exactly 1.0."""
    pairs = _synthetic_split()["train"]
    write_coo_pickle(tmp_path / "trnMat.pkl", pairs, SHAPE)
    with open(tmp_path / "trnMat.pkl", "rb") as fh:
        mat = pickle.load(fh)
    assert isinstance(mat, sp.coo_matrix)
    assert mat.shape == SHAPE and mat.nnz == pairs.shape[1]
    assert mat.data.dtype == np.float64 and (mat.data == 1.0).all()
    dense = mat.toarray()
    assert dense.sum() == pairs.shape[1]
    assert all(dense[u, i] == 1.0 for u, i in pairs.T)


def test_reference_split_files_and_npz_round_trip(tmp_path):
    split = _synthetic_split(1)
    counts = write_reference_split(tmp_path / "data" / "x", {"train.pkl": split["train"],
                                                             "test.pkl": split["test"]}, SHAPE)
    assert counts == {"train.pkl": 25, "test.pkl": 8}
    for name, key in (("train.pkl", "train"), ("test.pkl", "test")):
        np.testing.assert_array_equal(read_coo_pickle(tmp_path / "data" / "x" / name)[0],
                                      canonical_pairs(split[key]))
    splits, shape = read_split_npz(write_split_npz(tmp_path / "s.npz", split, SHAPE))
    assert shape == SHAPE and set(splits) == {"train", "valid", "test"}
    for key, pairs in split.items():
        np.testing.assert_array_equal(splits[key], canonical_pairs(pairs))


def test_conversion_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        canonical_pairs(np.array([[0, 0, 1], [2, 2, 3]]))
    with pytest.raises(ValueError, match="out of range"):
        write_coo_pickle(tmp_path / "a.pkl", np.array([[0, 7], [0, 1]]), SHAPE)
    with pytest.raises(ValueError, match="shape"):
        canonical_pairs(np.zeros((3, 2)))


def test_real_lastfm_split_round_trips(tmp_path):
    """The AdaGCL lastFM split as graphcl loads it, written as LightGCL/DCCF files and read back."""
    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (root / "graphcf" / "adagcl" / "lastFM" / "trnMat.pkl").is_file():
        pytest.skip("shared lastFM split not present")
    import warnings
    from graphcl.data import load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load("lastfm", root=str(root))
    shape = (data.num_users, data.num_items)
    assert shape == (1892, 17632)
    for split, n in (("train", 64983), ("test", 9285)):
        pairs = getattr(data, split).numpy()
        assert pairs.shape[1] == n
        back, back_shape = read_coo_pickle(write_coo_pickle(tmp_path / f"{split}.pkl", pairs, shape))
        assert back_shape == shape
        np.testing.assert_array_equal(back, canonical_pairs(pairs))


def test_patches_apply_exactly_or_fail(tmp_path):
    (tmp_path / "m.py").write_text("x.cuda()\ny.cuda()\n")
    done = apply_patches(tmp_path, [Patch("m.py", ".cuda()", ".cpu()", "cpu", count=2)])
    assert (tmp_path / "m.py").read_text() == "x.cpu()\ny.cpu()\n"
    assert done[0]["replaced"] == 2 and done[0]["reason"] == "cpu"
    with pytest.raises(PatchError, match="expected 1 occurrence"):
        apply_patches(tmp_path, [Patch("m.py", ".cpu()", ".cuda()", "x")])
    with pytest.raises(PatchError, match="not found"):
        apply_patches(tmp_path, [Patch("nope.py", "a", "b", "x")])


def test_records_selection_and_spread():
    log = "noise\nPARITY_JSON {\"epoch\": 1, \"valid\": {\"m\": 0.2}, \"test\": {\"m\": 0.1}}\n" \
          "PARITY_JSON {\"epoch\": 0, \"valid\": {\"m\": 0.3}, \"test\": {\"m\": 0.05}}\n"
    curves = parse_records(log)
    assert [c["epoch"] for c in curves] == [0, 1]
    final = derive_final(curves, "m")
    assert final["best_valid"]["epoch"] == 0 and final["best_valid"]["test"]["m"] == 0.05
    assert final["last"]["epoch"] == 1 and final["best_test"]["test"]["m"] == 0.1
    assert mean_std([1.0, 3.0]) == [2.0, pytest.approx(2 ** 0.5), 2.0]
    assert within_spread([2.5], [1.0, 3.0]) is True       # inside mean ± 2 std
    assert within_spread([4.9], [1.0, 3.0]) is False      # 2 + 2·1.414 = 4.83
    assert within_spread([1.0], [1.0]) is True and within_spread([], [1.0]) is None


def test_torch_sparse_shim_matches_dense():
    """The pure-torch torch_sparse stand-in the DCCF reference runs with: D^-1/2 A D^-1/2 via
    spspmm, spmm, and row sums, against dense algebra (isolated node 3 included)."""
    import torch
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "parity" / "shims"))
    try:
        import torch_sparse as shim
    finally:
        sys.path.pop(0)
    assert Path(shim.__file__).parent.name == "shims"
    row = torch.tensor([0, 0, 1, 2, 2, 4])
    col = torch.tensor([1, 2, 0, 0, 4, 2])
    n = 5
    dense = torch.zeros(n, n)
    dense[row, col] = 1.0
    deg = shim.SparseTensor(row=row, col=col, value=torch.ones(6), sparse_sizes=(n, n)).cpu().sum(dim=1)
    torch.testing.assert_close(deg, dense.sum(1))
    d = deg.pow(-0.5)
    diag = torch.arange(n).repeat(2, 1)
    idx, val = shim.spspmm(diag, d, torch.stack([row, col]), torch.ones(6), n, n, n)
    idx, val = shim.spspmm(idx, val, diag, d, n, n, n)
    norm = torch.zeros(n, n)
    norm[idx[0], idx[1]] = val
    expect = torch.nan_to_num(torch.diag(d) @ dense @ torch.diag(d), nan=0.0, posinf=0.0)
    torch.testing.assert_close(norm, expect)
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(shim.spmm(idx, val, n, n, x), expect @ x)


def test_resume_refuses_changed_settings(tmp_path):
    import json
    from experiments.parity.harness import SettingsMismatch, _read_existing, settings_hash
    settings = {"epochs": 3, "seeds": [0], "hyper": {"lr": 1e-3}}
    runs = [{"side": "ours", "seed": 0, "status": "ok"}, {"side": "reference", "seed": 0, "status": "failed"}]
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"settings": settings, "settings_hash": settings_hash(settings), "runs": runs}))
    assert settings_hash({**settings, "seeds": [0, 1]}) == settings_hash(settings)   # seeds may grow
    kept = _read_existing(path, {**settings, "seeds": [0, 1]}, resume=True, overwrite=False)
    assert kept == runs[:1]                                                          # failed runs rerun
    with pytest.raises(SettingsMismatch, match="epochs"):
        _read_existing(path, {**settings, "epochs": 4}, resume=True, overwrite=False)
    with pytest.raises(FileExistsError, match="--resume"):
        _read_existing(path, settings, resume=False, overwrite=False)
    assert _read_existing(path, {**settings, "epochs": 4}, resume=False, overwrite=True) == []
