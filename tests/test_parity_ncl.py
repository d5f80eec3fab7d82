"""The NCL parity adapter (experiments/parity/adapters/ncl.py) and its faiss stand-in
(experiments/parity/shims/ncl/faiss.py).

Our split written as RecBole benchmark files must read back (with our reader, and with RecBole's own
Dataset when recbole is installed) as exactly the same interactions; RecBole's internal rows must map
back to our ids; the reference's training pairs are checked against ours; RecBole's printout is parsed
from a snippet written here in its format; both sides get the same hyperparameters; the k-means
stand-in does what faiss' Kmeans does. No reference checkout, no network.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.parity.adapters.ncl import (ADAPTER, HEADER, NUM_CLUSTERS, SHIM_DIR, SPLITS,  # noqa: E402
                                             check_train, parse_recbole_log, read_recbole_benchmark,
                                             recbole_config, recbole_rows, write_recbole_benchmark)
from experiments.parity.convert import canonical_pairs  # noqa: E402

SHAPE = (6, 9)


def _faiss():
    spec = importlib.util.spec_from_file_location("parity_ncl_faiss", SHIM_DIR / "faiss.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _split(seed: int = 0) -> dict[str, np.ndarray]:
    """Disjoint train/valid/test pairs on a 6 x 9 grid; every user has a training pair."""
    rng = np.random.default_rng(seed)
    base = np.stack([np.arange(SHAPE[0]), rng.integers(0, SHAPE[1], SHAPE[0])])
    cells = np.setdiff1d(rng.permutation(SHAPE[0] * SHAPE[1]), base[0] * SHAPE[1] + base[1])[:24]
    cells = rng.permutation(cells)
    extra = np.stack([cells // SHAPE[1], cells % SHAPE[1]])
    return {"train": np.concatenate([base, extra[:, :12]], 1)[:, ::-1], "valid": extra[:, 12:18],
            "test": extra[:, 18:]}


def test_benchmark_round_trip_is_exact(tmp_path):
    split = _split()
    counts = write_recbole_benchmark(tmp_path, "toy", split, SHAPE)
    assert counts == {k: v.shape[1] for k, v in split.items()}
    for s in SPLITS:
        assert (tmp_path / f"toy.{s}.inter").read_text().splitlines()[0] == HEADER
    back = read_recbole_benchmark(tmp_path, "toy")
    for s in SPLITS:
        np.testing.assert_array_equal(back[s], canonical_pairs(split[s]))


def test_benchmark_refuses_bad_splits(tmp_path):
    split = _split()
    with pytest.raises(ValueError, match="exactly"):
        write_recbole_benchmark(tmp_path, "toy", {"train": split["train"]}, SHAPE)
    dup = dict(split, valid=np.concatenate([split["valid"], split["train"][:, :1]], 1))
    with pytest.raises(ValueError):
        write_recbole_benchmark(tmp_path, "toy", dup, SHAPE)
    with pytest.raises(ValueError, match="out of range"):
        write_recbole_benchmark(tmp_path, "toy", split, (SHAPE[0], SHAPE[1] - 5))
    no_user = dict(split, train=split["train"][:, split["train"][0] != 2],
                   valid=np.concatenate([split["valid"], split["train"][:, split["train"][0] == 2]], 1))
    with pytest.raises(ValueError, match="no training pair"):
        write_recbole_benchmark(tmp_path, "toy", no_user, SHAPE)
    (tmp_path / "bad.train.inter").write_text("user_id:float\titem_id:token\n1\t2\n")
    for s in ("valid", "test"):
        (tmp_path / f"bad.{s}.inter").write_text(HEADER + "\n")
    with pytest.raises(ValueError, match="header"):
        read_recbole_benchmark(tmp_path, "bad")


def test_recbole_rows_maps_tokens_back():
    tokens = np.array(["[PAD]", "3", "0", "2", "1"], dtype=object)  # RecBole: first-appearance order
    rows = recbole_rows(tokens, 4)
    np.testing.assert_array_equal(rows, [2, 4, 3, 1])
    assert all(tokens[rows[j]] == str(j) for j in range(4))
    with pytest.raises(ValueError, match="no RecBole id"):
        recbole_rows(tokens[:4], 4)
    with pytest.raises(ValueError, match="outside"):
        recbole_rows(np.array(["[PAD]", "0", "7"], dtype=object), 4)


def _fake_recbole(split, perm_u, perm_i):
    """An object with the attributes check_train reads, ids assigned through the permutations."""
    tok_u = np.array(["[PAD]"] + [str(u) for u in perm_u], dtype=object)
    tok_i = np.array(["[PAD]"] + [str(i) for i in perm_i], dtype=object)
    rid_u = {int(t): r for r, t in enumerate(tok_u) if r}
    rid_i = {int(t): r for r, t in enumerate(tok_i) if r}
    tr = split["train"]
    feat = {"user_id": np.array([rid_u[int(u)] for u in tr[0]]), "item_id": np.array([rid_i[int(i)] for i in tr[1]])}
    return SimpleNamespace(field2id_token={"user_id": tok_u, "item_id": tok_i}, uid_field="user_id",
                           iid_field="item_id", inter_feat=feat)


def test_check_train_accepts_ours_and_refuses_others():
    import experiments.parity.adapters.ncl as ncl
    split = _split(3)
    rng = np.random.default_rng(0)
    fake = _fake_recbole(split, rng.permutation(SHAPE[0]), rng.permutation(SHAPE[1]))
    ncl._state["rows"] = None
    assert check_train(fake, split["train"], SHAPE) == split["train"].shape[1]
    other = dict(split, train=split["train"][:, 1:])
    ncl._state["rows"] = None
    with pytest.raises(RuntimeError, match="not our split"):
        check_train(fake, other["train"], SHAPE)
    ncl._state["rows"] = None


def test_recbole_reads_our_files_as_our_split(tmp_path):
    """RecBole's own Dataset (benchmark_filename) on our files: the same pairs per split."""
    pytest.importorskip("recbole")
    from graphcl.interop.recbole_compat import recbole_scope
    split = _split(5)
    write_recbole_benchmark(tmp_path / "dataset" / "toy", "toy", split, SHAPE)
    cfg = recbole_config(ADAPTER.hyper("ml-100k"), 0, 1, str(tmp_path / "dataset"))
    cfg = {k: v for k, v in cfg.items() if k in ("data_path", "benchmark_filename", "USER_ID_FIELD",
                                                 "ITEM_ID_FIELD", "load_col", "seed", "use_gpu", "eval_args")}
    cfg["checkpoint_dir"] = str(tmp_path / "saved")
    with recbole_scope(hide_argv=True):
        from recbole.config import Config
        from recbole.data import create_dataset
        config = Config(model="BPR", dataset="toy", config_dict=cfg)
        built = create_dataset(config).build()
    assert len(built) == 3
    for s, part in zip(SPLITS, built):
        tok_u = part.field2id_token["user_id"]
        tok_i = part.field2id_token["item_id"]
        pairs = np.stack([[int(tok_u[r]) for r in part.inter_feat["user_id"].numpy()],
                          [int(tok_i[r]) for r in part.inter_feat["item_id"].numpy()]])
        np.testing.assert_array_equal(canonical_pairs(pairs), canonical_pairs(split[s]))


def test_ml100k_round_trip(tmp_path, shared_data):
    from graphcl.data import load
    data = load("ml-100k", root=str(shared_data))
    split = {s: getattr(data, s).numpy() for s in SPLITS}
    counts = write_recbole_benchmark(tmp_path, "parity_ml100k", split, (data.num_users, data.num_items))
    assert counts == {"train": 80808, "valid": 9596, "test": 9596}
    back = read_recbole_benchmark(tmp_path, "parity_ml100k")
    for s in SPLITS:
        np.testing.assert_array_equal(back[s], canonical_pairs(split[s]))


LOG = """\
07 Dec 07:15    INFO  Running E-step ! 
PARITY_JSON {"epoch": 0, "train_seconds": 41.5, "loss": 0.6939, "valid": {"recall@20": 0.011, "ndcg@20": 0.0101}, "test": {"recall@20": 0.0159, "ndcg@20": 0.0124}}
07 Dec 07:16    INFO  epoch 0 training [time: 41.64s, train_loss1: 27.7231, train_loss2: 0.0335]
07 Dec 07:16    INFO  epoch 0 evaluating [time: 2.38s, valid_score: 0.011000]
07 Dec 07:16    INFO  valid result: 
recall@20 : 0.011    ndcg@20 : 0.0101
07 Dec 07:16    INFO  Saving current best: saved/NCL.pth
07 Dec 07:16    INFO  Running E-step ! 
PARITY_JSON {"epoch": 1, "train_seconds": 34.3, "loss": 0.6934, "valid": {"recall@20": 0.0118, "ndcg@20": 0.0103}, "test": {"recall@20": 0.0144, "ndcg@20": 0.0120}}
07 Dec 07:16    INFO  epoch 1 training [time: 34.20s, train_loss1: 27.7219, train_loss2: 0.0162, train_loss3: 1.25e-05]
07 Dec 07:16    INFO  epoch 1 evaluating [time: 0.74s, valid_score: 0.011800]
07 Dec 07:16    INFO  valid result: 
recall@20 : 0.0118    ndcg@20 : 0.0103
07 Dec 07:16    INFO  best valid : OrderedDict([('recall@20', np.float64(0.0118)), ('ndcg@20', np.float64(0.0103))])
07 Dec 07:16    INFO  test result: OrderedDict([('recall@20', np.float64(0.0144)), ('ndcg@20', np.float64(0.012))])
"""


def test_parse_recbole_log():
    own = parse_recbole_log(LOG)
    assert own["epochs"][0] == {"own_train_seconds": 41.64, "loss_parts": [27.7231, 0.0335],
                                "valid": {"recall@20": 0.011, "ndcg@20": 0.0101}}
    assert own["epochs"][1]["loss_parts"] == [27.7219, 0.0162, 1.25e-05]
    assert own["best_valid"] == {"recall@20": 0.0118, "ndcg@20": 0.0103}
    assert own["final_test"] == {"recall@20": 0.0144, "ndcg@20": 0.012}
    ctx = SimpleNamespace(dataset="ml-100k")
    recs = ADAPTER.parse_reference(ctx, LOG)
    assert [r["epoch"] for r in recs] == [0, 1]
    assert recs[0]["own"]["valid"] == {"recall@20": 0.011, "ndcg@20": 0.0101}
    assert recs[1]["own"]["final_test"] == {"recall@20": 0.0144, "ndcg@20": 0.012}
    assert "final_test" not in recs[0]["own"]


def test_settings_are_the_same_on_both_sides():
    from graphcl.config import merge_config
    from graphcl.models.rec.ncl import NCL_DEFAULTS
    h = ADAPTER.hyper("ml-100k")
    ref = recbole_config(h, 3, 40, "/x")
    assert ref["seed"] == 3 and ref["epochs"] == 40 and ref["stopping_step"] == 41
    assert ref["benchmark_filename"] == list(SPLITS)
    ours, _ = merge_config(NCL_DEFAULTS, ADAPTER.ours_config("ml-100k"), method="ncl")
    pairs = {"embedding_size": "embedding_dim", "n_layers": "num_layers", "reg_weight": "reg_weight",
             "ssl_temp": "ssl_temp", "ssl_reg": "ssl_reg", "hyper_layers": "hyper_layers", "alpha": "alpha",
             "proto_reg": "proto_reg", "num_clusters": "num_clusters", "m_step": "m_step",
             "warm_up_step": "warm_up", "learning_rate": "lr", "weight_decay": "weight_decay",
             "train_batch_size": "batch_size"}
    for theirs, mine in pairs.items():
        assert ref[theirs] == ours[mine] == h[theirs], theirs
    # NCL.yaml's values except k (1000 > ml-100k's 943 users)
    assert (h["embedding_size"], h["n_layers"], h["reg_weight"], h["ssl_temp"], h["ssl_reg"], h["hyper_layers"],
            h["alpha"], h["proto_reg"], h["m_step"], h["warm_up_step"]) == (64, 3, 1e-4, 0.1, 1e-7, 1, 1.0, 8e-8, 1, 20)
    assert NUM_CLUSTERS <= 943
    assert ours["valid_metric"] == "recall@20" and ref["valid_metric"] == "Recall@20"


def test_faiss_standin_kmeans():
    faiss = _faiss()
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float32)
    x = np.concatenate([c + 0.1 * rng.standard_normal((30, 2)) for c in centers]).astype(np.float32)
    km = faiss.Kmeans(d=2, k=3, gpu=True)
    km.train(x)
    assert km.centroids.shape == (3, 2)
    found = sorted(map(tuple, np.round(km.centroids).astype(int).tolist()))
    assert found == [(0, 0), (0, 10), (10, 0)]
    dist, idx = km.index.search(x, 1)
    assert idx.shape == (90, 1) and dist.shape == (90, 1)
    groups = [set(idx[i * 30:(i + 1) * 30, 0].tolist()) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    np.testing.assert_allclose(dist[:, 0], ((x - km.centroids[idx[:, 0]]) ** 2).sum(1), rtol=1e-3, atol=1e-4)
    # the same seed every call (faiss' default 1234): the same centroids
    km2 = faiss.Kmeans(d=2, k=3)
    km2.train(x)
    np.testing.assert_array_equal(km.centroids, km2.centroids)
    with pytest.raises(ValueError, match="at least as large"):
        faiss.Kmeans(d=2, k=100).train(x)
    with pytest.raises(TypeError):
        faiss.Kmeans(d=2, k=3, unknown_option=1)


def test_faiss_standin_splits_empty_clusters():
    faiss = _faiss()
    cen = np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 9.0]], dtype=np.float32)
    sizes = np.array([0, 10, 0], dtype=np.int64)
    n = faiss.split_empty(cen, sizes, np.random.RandomState(0))
    assert n == 2 and sizes.sum() == 10 and (sizes > 0).all()
    # duplicated points: fewer distinct points than k still gives k nonempty-at-split centroids
    x = np.repeat(np.array([[0, 0], [1, 1]], dtype=np.float32), 10, axis=0)
    c, obj = faiss.kmeans_l2(x, 3, niter=5)
    assert c.shape == (3, 2) and obj >= 0
