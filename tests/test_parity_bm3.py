"""The BM3 parity adapter's conversion and parsing (experiments/parity/adapters/bm3.py).

Our split written as MMRec's ``.inter`` file (split label column) and our item features written as
its ``text_feat.npy`` / ``image_feat.npy`` must read back as exactly the same interactions, shape
and arrays, so both sides train, validate and test on the same pairs with the same features. MMRec's
own printout is parsed from a snippet written here in its format. No reference checkout, no network.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.parity.adapters.bm3 import (ADAPTER, FEATURE_FILES, SPLIT_LABELS,  # noqa: E402
                                             mmrec_config, parse_mmrec_log, read_mmrec_features,
                                             read_mmrec_inter, write_mmrec_features, write_mmrec_inter)
from experiments.parity.convert import canonical_pairs  # noqa: E402

SHAPE = (6, 9)


def _split(seed: int = 0) -> dict[str, np.ndarray]:
    """Disjoint train/valid/test pairs on a 6 x 9 grid (shuffled), the last user and item present."""
    rng = np.random.default_rng(seed)
    cells = rng.permutation(SHAPE[0] * SHAPE[1] - 1)[:30]
    cells = np.concatenate([cells, [SHAPE[0] * SHAPE[1] - 1]])  # (5, 8): the largest ids occur
    pairs = np.stack([cells // SHAPE[1], cells % SHAPE[1]])
    pairs = pairs[:, rng.permutation(pairs.shape[1])]
    return {"train": pairs[:, :20], "valid": pairs[:, 20:25], "test": pairs[:, 25:]}


def test_inter_round_trip_is_exact(tmp_path):
    split = _split()
    counts = write_mmrec_inter(tmp_path / "x.inter", split, SHAPE)
    assert counts == {k: v.shape[1] for k, v in split.items()}
    back, shape = read_mmrec_inter(tmp_path / "x.inter")
    assert shape == SHAPE
    for name in SPLIT_LABELS:
        np.testing.assert_array_equal(back[name], canonical_pairs(split[name]))


def test_inter_file_is_what_mmrec_reads(tmp_path):
    """The columns and labels MMRec's RecDataset.split selects on (pandas, as MMRec reads it)."""
    pd = pytest.importorskip("pandas")
    split = _split(1)
    write_mmrec_inter(tmp_path / "x.inter", split, SHAPE)
    df = pd.read_csv(tmp_path / "x.inter", usecols=["userID", "itemID", "x_label"], sep="\t")
    assert int(df["userID"].max()) + 1 == SHAPE[0] and int(df["itemID"].max()) + 1 == SHAPE[1]
    for name, label in SPLIT_LABELS.items():
        part = df[df["x_label"] == label]
        np.testing.assert_array_equal(canonical_pairs(part[["userID", "itemID"]].to_numpy().T),
                                      canonical_pairs(split[name]))


def test_inter_refuses_bad_splits(tmp_path):
    split = _split()
    with pytest.raises(ValueError, match="largest id"):  # item 8 absent: MMRec would count 8 items
        write_mmrec_inter(tmp_path / "a.inter", split, (SHAPE[0], SHAPE[1] + 1))
    overlap = dict(split, test=np.concatenate([split["test"], split["train"][:, :1]], axis=1))
    with pytest.raises(ValueError, match="duplicate"):
        write_mmrec_inter(tmp_path / "b.inter", overlap, SHAPE)
    with pytest.raises(ValueError, match="out of range"):
        write_mmrec_inter(tmp_path / "c.inter", split, (SHAPE[0] - 1, SHAPE[1]))
    with pytest.raises(ValueError, match="exactly"):
        write_mmrec_inter(tmp_path / "d.inter", {"train": split["train"]}, SHAPE)


def test_features_round_trip_and_checks(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    feats = {"text": torch.from_numpy(rng.normal(size=(SHAPE[1], 5)).astype(np.float32)),
             "genre": (rng.random((SHAPE[1], 3)) > 0.5).astype(np.float64)}
    sha = write_mmrec_features(tmp_path, feats, SHAPE[1])
    assert set(sha) == {"text_feat.npy", "image_feat.npy"}
    back = read_mmrec_features(tmp_path)
    np.testing.assert_array_equal(back["text"], feats["text"].numpy())
    np.testing.assert_array_equal(back["genre"], feats["genre"].astype(np.float32))
    assert back["genre"].dtype == np.float32
    with pytest.raises(ValueError, match="expected"):
        write_mmrec_features(tmp_path, {"text": np.zeros((SHAPE[1] + 1, 2))}, SHAPE[1])
    with pytest.raises(ValueError, match="no MMRec feature file"):
        write_mmrec_features(tmp_path, {"audio": np.zeros((SHAPE[1], 2))}, SHAPE[1])


def test_real_ml100k_round_trip(tmp_path):
    """graphcl's ml-100k split (RecBole's bundled example, when installed) through the .inter file."""
    pytest.importorskip("recbole")
    from graphcl.data import load
    try:
        data = load("ml-100k")
    except Exception as err:  # pragma: no cover - data not available
        pytest.skip(f"ml-100k not loadable here: {err}")
    splits = {s: getattr(data, s).numpy() for s in SPLIT_LABELS}
    counts = write_mmrec_inter(tmp_path / "ml.inter", splits, (data.num_users, data.num_items))
    assert counts == {s: data.num_interactions(s) for s in SPLIT_LABELS}
    back, shape = read_mmrec_inter(tmp_path / "ml.inter")
    assert shape == (data.num_users, data.num_items)
    for s in SPLIT_LABELS:
        np.testing.assert_array_equal(back[s], canonical_pairs(splits[s]))


LOG = """\
07 Dec 04:10    INFO 
====Training====
parity_ml100k
The number of users: 6
The number of items: 9
The number of inters: 4097
07 Dec 04:10    INFO 
====Validation====
parity_ml100k
The number of inters: 5
07 Dec 04:10    INFO epoch 0 training [time: 1.98s, train loss: 333.9329]
07 Dec 04:10    INFO epoch 0 evaluating [time: 0.12s, valid_score: 0.026100]
07 Dec 04:10    INFO valid result: 
recall@5: 0.0061    recall@10: 0.0120    recall@20: 0.0261    recall@50: 0.0710    ndcg@5: 0.0190    ndcg@10: 0.0201    ndcg@20: 0.0253    ndcg@50: 0.0400    
07 Dec 04:10    INFO test result: 
recall@5: 0.0070    recall@10: 0.0130    recall@20: 0.0277    recall@50: 0.0700    ndcg@5: 0.0200    ndcg@10: 0.0210    ndcg@20: 0.0262    ndcg@50: 0.0410    
PARITY_JSON {"epoch": 0, "train_seconds": 1.9, "loss": 333.9, "valid": {"recall@20": 0.02606, "ndcg@20": 0.02527}, "test": {"recall@20": 0.02817, "ndcg@20": 0.02700}}
07 Dec 04:10    INFO ██ BM3--Best validation results updated!!!
07 Dec 04:10    INFO epoch 1 training [time: 1.25s, train loss: 252.8564]
07 Dec 04:10    INFO epoch 1 evaluating [time: 0.12s, valid_score: 0.020000]
07 Dec 04:10    INFO valid result: 
recall@5: 0.0050    recall@10: 0.0100    recall@20: 0.0200    recall@50: 0.0600    ndcg@5: 0.0100    ndcg@10: 0.0150    ndcg@20: 0.0180    ndcg@50: 0.0300    
07 Dec 04:10    INFO test result: 
recall@5: 0.0473    recall@10: 0.0797    recall@20: 0.1277    recall@50: 0.2343    ndcg@5: 0.0946    ndcg@10: 0.0963    ndcg@20: 0.1063    ndcg@50: 0.1420    
PARITY_JSON {"epoch": 1, "train_seconds": 1.2, "loss": 252.8, "valid": {"recall@20": 0.02001, "ndcg@20": 0.01800}, "test": {"recall@20": 0.13369, "ndcg@20": 0.11605}}
07 Dec 04:10    INFO best valid result: recall@5: 0.0061    recall@10: 0.0120    recall@20: 0.0261    ndcg@20: 0.0253    
07 Dec 04:10    INFO test result: recall@5: 0.0070    recall@10: 0.0130    recall@20: 0.9999    ndcg@20: 0.9999    
"""


def test_parse_mmrec_log():
    own = parse_mmrec_log(LOG)
    assert sorted(own) == [0, 1]
    assert own[0]["valid"] == {"recall@20": 0.0261, "ndcg@20": 0.0253}
    assert own[0]["test"] == {"recall@20": 0.0277, "ndcg@20": 0.0262}
    assert own[0]["loss"] == pytest.approx(333.9329) and own[0]["selected"] is True
    assert own[1]["test"] == {"recall@20": 0.1277, "ndcg@20": 0.1063}  # not the closing summary's 0.9999
    assert "selected" not in own[1]


def test_parse_reference_merges_hook_and_own():
    from experiments.parity.adapter import RunContext
    ctx = RunContext(dataset="ml-100k", seed=0, epochs=2, workdir=Path("."), checkout=Path("."),
                     data_root=Path("."), python=sys.executable)
    records = ADAPTER.parse_reference(ctx, LOG)
    assert [r["epoch"] for r in records] == [0, 1]
    assert records[0]["valid"]["recall@20"] == 0.02606  # the hook's (graphcl's evaluator)
    assert records[0]["own"] == {"valid": {"recall@20": 0.0261, "ndcg@20": 0.0253},
                                 "test": {"recall@20": 0.0277, "ndcg@20": 0.0262}, "selected": True,
                                 "loss_sum": 333.9}
    assert records[1]["own"]["test"]["ndcg@20"] == 0.1063
    # loss: MMRec's epoch sum over ceil(4097 / 2048) = 3 batches -> the mean per batch
    assert records[0]["own"]["loss_sum"] == 333.9 and records[0]["loss"] == pytest.approx(333.9 / 3)


def test_train_batches_from_log():
    from experiments.parity.adapters.bm3 import mmrec_train_batches
    assert mmrec_train_batches(LOG, 2048) == 3
    assert mmrec_train_batches(LOG, 4097) == 1
    with pytest.raises(ValueError, match="Training"):
        mmrec_train_batches("no such block", 2048)


def test_settings_are_the_same_on_both_sides():
    h = ADAPTER.hyper("ml-100k")
    ours = ADAPTER.ours_config("ml-100k")
    assert (ours["embedding_dim"], ours["num_layers"], ours["dropout"], ours["reg_weight"], ours["cl_weight"],
            ours["lr"], ours["batch_size"], ours["weight_decay"]) == (
        h["embedding_size"], h["n_layers"], h["dropout"], h["reg_weight"], h["cl_weight"], h["learning_rate"],
        h["train_batch_size"], h["weight_decay"])
    assert set(ours["modalities"]) == set(h["modalities"]) and set(h["modalities"].values()) <= set(
        FEATURE_FILES.values())
    assert ours["valid_metric"] == h["valid_metric"].lower() == ADAPTER.metrics[0]
    cfg = mmrec_config(h, seed=3, epochs=7)
    # quick_start loops over the product of the hyper_parameters: one point each, our seed
    assert cfg["seed"] == [3] and cfg["n_layers"] == [1] and cfg["dropout"] == [0.5] and cfg["reg_weight"] == [0.1]
    assert cfg["epochs"] == 7 and cfg["stopping_step"] > 7 and cfg["use_gpu"] is False
    # graphcl accepts the overrides (its config merge rejects unknown keys) and keeps them
    from graphcl.config import merge_config
    from graphcl.registry import get_method
    spec = get_method("bm3")
    merged, _ = merge_config(spec.defaults, ours, method=spec.name, ranges=spec.ranges)
    assert all(merged[k] == v for k, v in ours.items())
