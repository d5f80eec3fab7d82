"""The SELFRec parity adapters' own code (experiments/parity/selfrec_common.py, adapters sgl,
simgcl, xsimgcl): our split in SELFRec's ``u i w`` text format and back, the mapping of SELFRec's
rows to our ids (items it does not know never ranked), the parsing of its own evaluation printout
(a snippet written here in its format), its conf file, and graphcl's side of each adapter building
a recommender. No reference checkout, no network; the ml-100k round trip runs when the shared data
is present."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from experiments.parity.adapter import RunContext, load_adapter  # noqa: E402
from experiments.parity.selfrec_common import (MISSING_ITEM_SCORE, parse_own, read_selfrec_pairs,  # noqa: E402
                                               to_ours, write_selfrec_pairs)
from experiments.parity.summary import MARKER  # noqa: E402

ADAPTERS = ("sgl", "simgcl", "xsimgcl")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _pairs(seed: int = 0, shape=(9, 13), n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keys = rng.choice(shape[0] * shape[1], n, replace=False)
    return np.stack([keys // shape[1], keys % shape[1]])


def test_text_round_trip_is_exact_and_in_selfrec_format(tmp_path):
    pairs = _pairs()
    path = write_selfrec_pairs(tmp_path / "d" / "train.txt", pairs, (9, 13))
    lines = path.read_text().splitlines()
    assert len(lines) == pairs.shape[1]
    # SELFRec's loader (data/loader.py:28-32): split(' ', line.strip()) -> user, item, float(weight)
    assert all(len(line.split(" ")) == 3 and line.split(" ")[2] == "1" for line in lines)
    back = read_selfrec_pairs(path)
    want = pairs[:, np.lexsort((pairs[1], pairs[0]))]
    assert np.array_equal(back, want)


def test_text_writer_refuses_bad_pairs(tmp_path):
    with pytest.raises(ValueError, match="out of range"):
        write_selfrec_pairs(tmp_path / "x.txt", np.array([[0, 9], [1, 2]]), (9, 13))
    with pytest.raises(ValueError, match="duplicate"):
        write_selfrec_pairs(tmp_path / "x.txt", np.array([[0, 0], [1, 1]]), (9, 13))
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\n")
    with pytest.raises(ValueError, match="user item weight"):
        read_selfrec_pairs(bad)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder absent")
def test_ml100k_split_round_trip(tmp_path):
    import warnings
    from graphcl.data import load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data = load("ml-100k", root=str(SHARED))
        except (FileNotFoundError, OSError) as err:  # the shared data without ml-100k
            pytest.skip(f"ml-100k not loadable offline: {err}")
    shape = (data.num_users, data.num_items)
    for part in ("train", "test"):
        pairs = getattr(data, part).numpy()
        back = read_selfrec_pairs(write_selfrec_pairs(tmp_path / f"{part}.txt", pairs, shape))
        assert back.shape == pairs.shape
        assert set(map(tuple, back.T.tolist())) == set(map(tuple, pairs.T.tolist()))


def test_to_ours_reorders_rows_and_never_ranks_unknown_items():
    g = torch.Generator().manual_seed(0)
    # SELFRec numbers users/items by first appearance: a permutation of our ids; item 4 and user 2
    # have no training interaction, so SELFRec does not know them
    user_names, item_names = ["3", "0", "1"], ["2", "0", "5", "1", "3"]
    data = SimpleNamespace(user={n: k for k, n in enumerate(user_names)},
                           item={n: k for k, n in enumerate(item_names)})
    u, i = torch.randn(3, 4, generator=g), torch.randn(5, 4, generator=g)
    users, items = to_ours(data, u, i, shape=(4, 6))
    assert users.shape == (4, 5) and items.shape == (6, 5)
    scores = users @ items.T
    for a, un in enumerate(user_names):
        for b, itn in enumerate(item_names):
            assert torch.isclose(scores[int(un), int(itn)], u[a] @ i[b], atol=1e-5)
        assert torch.allclose(scores[int(un), 4], torch.tensor(MISSING_ITEM_SCORE))  # unknown item
        assert scores[int(un)].argmin() == 4
    assert torch.all(scores[2] == 0)  # unknown user: nothing to rank with
    with pytest.raises(ValueError, match="out of our range"):
        to_ours(SimpleNamespace(user={"7": 0}, item={"0": 0}), u[:1], i[:1], shape=(4, 6))


LOG = (
    "Training Model...\n"
    + MARKER + '{"epoch": 0, "train_seconds": 1.5, "loss": 3.7, "valid": {"recall@20": 0.16, "ndcg@20": 0.107}, '
    '"test": {"recall@20": 0.17, "ndcg@20": 0.11}}\n'
    + MARKER + '{"epoch": 1, "train_seconds": 1.4, "loss": 3.3, "valid": {"recall@20": 0.15, "ndcg@20": 0.103}, '
    '"test": {"recall@20": 0.16, "ndcg@20": 0.106}}\n'
    "Evaluating the model...\n"
    "Progress: [++++++++++++++++++++++++++++++++++++++++++++++++++]100%\n"
    + "-" * 80 + "\nReal-Time Ranking Performance (Top-20 Item Recommendation)\n"
    "*Current Performance*\nEpoch: 2, Hit Ratio: 0.08759, Precision: 0.04449, Recall: 0.15827, NDCG: 0.10117\n"
    "*Best Performance*\nEpoch: 2, Hit Ratio: 0.08759, Precision: 0.04449, Recall: 0.15827, NDCG: 0.10117\n"
    + "-" * 80 + "\nTesting...\nEvaluating...\n"
    "The result of SimGCL:\nTop 10\nHit Ratio:0.05094\nPrecision:0.05175\nRecall:0.09337\nNDCG:0.07892\n"
    "Top 20\nHit Ratio:0.08759\nPrecision:0.04449\nRecall:0.15828\nNDCG:0.10118\n")


def test_parse_reference_reads_hook_records_and_own_scores(tmp_path):
    ad = load_adapter("simgcl")
    ctx = RunContext("ml-100k", 0, 2, tmp_path, tmp_path, tmp_path, sys.executable)
    recs = ad.parse_reference(ctx, LOG)
    assert [r["epoch"] for r in recs] == [0, 1]
    assert "own" not in recs[0]
    assert recs[1]["own"]["test"] == {"recall@20": 0.15827, "ndcg@20": 0.10117}
    assert recs[1]["own"]["final_test"] == {"recall@20": 0.15828, "ndcg@20": 0.10118}  # Top 20, not Top 10
    assert parse_own("no evaluation here", [{"epoch": 0}]) == [{"epoch": 0}]


@pytest.mark.parametrize("name", ADAPTERS)
def test_conf_file_is_selfrec_conf_with_our_data_and_epochs(name, tmp_path):
    ad = load_adapter(name)
    ctx = RunContext("ml-100k", 3, 7, tmp_path, tmp_path, tmp_path, sys.executable)
    conf = yaml.safe_load(ad.conf_text(ctx))
    assert conf["model"] == {"name": ad.model, "type": "graph"}
    assert conf["max.epoch"] == 7
    assert conf["training.set"].endswith("/train.txt") and conf["test.set"].endswith("/test.txt")
    assert (conf["embedding.size"], conf["batch.size"], conf["learning.rate"], conf["reg.lambda"]) == \
        (64, 2048, 0.001, 0.0001)
    assert conf[ad.model] == ad.model_conf
    # every patch names its file and a reason; the eval-limiting patch targets the model file
    files = {p.file for p in ad.patches(ctx)}
    assert files == {"util/algorithm.py", f"model/graph/{ad.model}.py"}
    assert all(p.reason for p in ad.patches(ctx))


EXPECTED = {  # graphcl keys that must carry the SELFRec conf values
    "sgl": {"layers": 2, "include_ego": True, "tau": 0.2, "joint": True, "cl_weight": 0.1,
            "reg_terms": ["user", "pos", "neg"], "bpr_on": "input", "cl_pairs": "views"},
    "simgcl": {"layers": 2, "include_ego": False, "tau": 0.2, "joint": False, "cl_weight": 0.5,
               "reg_terms": ["user", "pos"], "bpr_on": "input", "cl_pairs": "views"},
    "xsimgcl": {"layers": 2, "include_ego": False, "tau": 0.15, "joint": False, "cl_weight": 0.2,
                "reg_terms": ["user", "pos"], "bpr_on": "view1", "cl_pairs": "cross_layer"},
}


@pytest.mark.parametrize("name", ADAPTERS)
def test_ours_config_builds_the_same_model(name):
    from _rec_helpers import clustered_dataset
    from graphcl.config import merge_config
    from graphcl.models.rec.contrast_rec import ContrastRecommender
    from graphcl.registry import get_method

    ad = load_adapter(name)
    ours = ad.ours_config("ml-100k")
    cfg, _ = merge_config(get_method(ad.method).defaults, ours)
    exp = EXPECTED[name]
    enc = cfg["encoder"]["lightgcn"]
    assert (enc["layers"], enc["include_ego"], enc.get("init", "xavier")) == (exp["layers"], exp["include_ego"], "xavier")
    assert cfg["loss"]["infonce"] == {"tau": exp["tau"], "joint": exp["joint"]}
    for key in ("cl_weight", "reg_terms", "bpr_on", "cl_pairs"):
        assert cfg[key] == exp[key], key
    assert (cfg["reg_form"], cfg["reg_weight"], cfg["lr"], cfg["batch_size"], cfg["embedding_dim"]) == \
        ("norm", 1e-4, 1e-3, 2048, 64)
    model = ContrastRecommender(clustered_dataset(12, 10, 80), cfg)
    batch = next(iter(model.batches(torch.Generator().manual_seed(0))))
    out = model.loss(batch)
    assert torch.isfinite(out["loss"]) and out["cl"] > 0
