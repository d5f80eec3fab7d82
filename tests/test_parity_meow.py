"""The MEOW/AdaMEOW parity adapters' own code, without the reference checkout and without network:
log parsing on a captured-format snippet written here, the authors' params read with ast, the
HeCo -> MEOW data conversion on a toy graph, and the faiss stand-in's k-means."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from experiments.parity.adapter import PatchError, apply_patches
from experiments.parity.adapters.meow import ADAPTER, SHIMS, authors_params, heco_to_meow, parse_meow_log

LOG = """PARITY_CHECK {"nodes": 4, "same_labels": true, "same_splits": true}
total loss: 9.1
PARITY_JSON {"epoch": 0, "train_seconds": 1.5, "loss": 9.1}
total loss: 8.7
PARITY_JSON {"epoch": 1, "train_seconds": 1.4, "loss": 8.7, "valid": {"micro_f1": 0.8}, "test": {"micro_f1": 0.79}}
Start to save embeds.
\t[Clustering] NMI: 55.12   ARI: 50.01
\t[Val Classification] auc: 97.00 var: 0.20
\t[Test Classification] Macro-F1_mean: 90.10 var: 0.30  Micro-F1_mean: 89.90 var: 0.31 auc: 97.50 var: 0.10
\t[Val Classification] auc: 97.10 var: 0.20
\t[Test Classification] Macro-F1_mean: 88.00 var: 0.30  Micro-F1_mean: 87.50 var: 0.31 auc: 96.00 var: 0.10
\t[Val Classification] auc: 97.20 var: 0.20
\t[Test Classification] Macro-F1_mean: 91.00 var: 0.30  Micro-F1_mean: 90.60 var: 0.31 auc: 98.00 var: 0.10
Total time:  12 s
"""


def test_parse_meow_log_records_and_own_scores():
    recs = parse_meow_log(LOG)
    assert [r["epoch"] for r in recs] == [0, 1]
    assert "own" not in recs[0]
    own = recs[-1]["own"]["final_test"]
    assert own["macro_f1_20"] == pytest.approx(0.901) and own["micro_f1_40"] == pytest.approx(0.875)
    assert own["auc_60"] == pytest.approx(0.98)
    assert own["macro_f1"] == pytest.approx((0.901 + 0.88 + 0.91) / 3)
    assert own["micro_f1"] == pytest.approx((0.899 + 0.875 + 0.906) / 3)
    assert own["nmi"] == pytest.approx(0.5512) and own["ari"] == pytest.approx(0.5001)


def test_parse_meow_log_without_closing_evaluation_has_no_own():
    recs = parse_meow_log(LOG.split("Start to save")[0])
    assert len(recs) == 2 and all("own" not in r for r in recs)


def test_parse_adameow_periodic_log_keeps_the_last_three_splits():
    from experiments.parity.adapters.adameow import parse_adameow_log
    block = LOG.split("Start to save embeds.\n")[1].split("Total time")[0]
    early = block.replace("90.10", "10.00").replace("55.12", "11.00")
    log = LOG.split("Start to save")[0] + early + block
    own = parse_adameow_log(log)[-1]["own"]["final_test"]
    assert own["macro_f1_20"] == pytest.approx(0.901) and own["nmi"] == pytest.approx(0.5512)


PARAMS = '''
import argparse
def acm_params():
    parser = argparse.ArgumentParser()
    parser.add_argument('--hidden-dim', type=int, default=64)
    parser.add_argument('--adj_mask', type=float, default=[0.3,0.2])
    parser.add_argument('--lr', type=float, default=0.0007)
    parser.add_argument('--save_emb', action="store_false")
    args, _ = parser.parse_known_args()
    return args
def aminer_params():
    parser = argparse.ArgumentParser()
    parser.add_argument('--lr', type=float, default=0.1)
    return parser
'''


def test_authors_params_reads_defaults_per_dataset(tmp_path):
    p = tmp_path / "params.py"
    p.write_text(PARAMS)
    assert authors_params(p, "acm") == {"hidden_dim": 64, "adj_mask": [0.3, 0.2], "lr": 0.0007}
    assert authors_params(p, "aminer") == {"lr": 0.1}
    with pytest.raises(PatchError, match="no dblp_params"):
        authors_params(p, "dblp")


def _toy(tmp_path: Path):
    from torch_geometric.data import HeteroData
    src = tmp_path / "heco"
    src.mkdir()
    n, na = 5, 3
    np.save(src / "labels.npy", np.array([0, 1, 0, 1, 1]))
    np.save(src / "train_20.npy", np.array([0, 1]))
    sp.save_npz(src / "p_feat.npz", sp.csr_matrix(np.eye(n)))
    np.save(src / "nei_a.npy", np.array([1, 2]))  # not copied (MEOW reads nei_a.npz)
    data = HeteroData()
    data["paper"].num_nodes, data["author"].num_nodes = n, na
    data["paper", "pa", "author"].edge_index = torch.tensor([[0, 0, 1, 4], [0, 2, 1, 2]])
    data["paper", "pap", "paper"].edge_index = torch.tensor([[0, 0, 1, 4, 4], [0, 4, 1, 0, 4]])
    data["paper", "pap", "paper"].edge_weight = torch.tensor([2.0, 1.0, 1.0, 1.0, 3.0])
    data.target_type, data.metapaths, data.type_letters = "paper", ["pap"], {"p": "paper", "a": "author"}
    return data, src


def test_heco_to_meow_writes_the_references_format(tmp_path):
    data, src = _toy(tmp_path)
    dest = tmp_path / "meow" / "acm"
    sha = heco_to_meow(data, src, dest, {"a": "pa"})
    assert sorted(sha) == ["labels.npy", "nei_a.npz", "p_feat.npz", "pap.npz", "train_20.npy"]
    pap = sp.load_npz(dest / "pap.npz").toarray()
    assert pap[0, 0] == 2 and pap[4, 4] == 3 and pap[0, 4] == 1 and pap.sum() == 8
    nei = sp.load_npz(dest / "nei_a.npz")
    assert nei.shape == (5, 3) and nei.toarray().tolist()[0] == [1, 0, 1] and nei.sum() == 4
    assert np.array_equal(np.load(dest / "labels.npy"), np.load(src / "labels.npy"))


def test_patches_fail_loudly_on_another_checkout(tmp_path):
    (tmp_path / "code_meow").mkdir()
    (tmp_path / "code_meow" / "main.py").write_text("print('not MEOW')\n")
    with pytest.raises(PatchError, match="expected 1 occurrence"):
        apply_patches(tmp_path, ADAPTER.patches(None)[:1])


def test_ours_config_turns_the_loss_patience_off_and_maps_names():
    cfg = ADAPTER.ours_config("acm")
    assert cfg["loss_patience"] == 0 and cfg["cluster_counts"] == [100, 300] and cfg["tau"] == 0.4
    am = ADAPTER.ours_config("aminer")
    assert am["data.path_counts"] is False and am["target_projection"] == "per-metapath"
    assert ADAPTER.metrics[0] == "micro_f1"


def _faiss():
    sys.path.insert(0, str(SHIMS))
    try:
        import faiss  # the shim (faiss itself is not installed in CI)
    finally:
        sys.path.remove(str(SHIMS))
    assert Path(faiss.__file__).parent == SHIMS
    return faiss


def test_faiss_shim_kmeans_recovers_separated_clusters():
    faiss = _faiss()
    rng = np.random.RandomState(0)
    centers = np.eye(4, 8, dtype=np.float32) * 5
    x = np.concatenate([c + 0.1 * rng.randn(30, 8).astype(np.float32) for c in centers])
    clus = faiss.Clustering(8, 4)
    clus.niter, clus.nredo, clus.seed = 20, 5, 3
    index = faiss.GpuIndexFlatIP(faiss.StandardGpuResources(), 8, faiss.GpuIndexFlatConfig())
    clus.train(x, index)
    D, I = index.search(x, 1)
    labels = I[:, 0]
    assert all(len(set(labels[i * 30:(i + 1) * 30])) == 1 for i in range(4))
    assert len(set(labels)) == 4
    cen = faiss.vector_to_array(clus.centroids).reshape(4, 8)
    assert np.allclose(D[:, 0], (x * cen[labels]).sum(1), atol=1e-4)
    # inner-product assignment: every point sits with its largest inner product
    assert np.array_equal(labels, (x @ cen.T).argmax(1))


def test_faiss_shim_splits_empty_clusters_and_refuses_too_few_points():
    faiss = _faiss()
    x = np.ones((10, 4), dtype=np.float32)  # all points equal: k-means leaves clusters empty
    x[5:] *= 2
    cen, _ = faiss.kmeans_ip(x, 3, niter=5, nredo=1, seed=0)
    assert np.isfinite(cen).all() and len({tuple(c) for c in np.round(cen, 6)}) == 3
    with pytest.raises(ValueError, match="training points"):
        faiss.kmeans_ip(x[:2], 3)


def _doc(side_seeds, hash_="h"):
    runs = [{"side": side, "seed": seed, "status": "ok", "seconds_per_epoch": 1.0 + seed, "peak_rss_mib": 10.0,
             "curves": [], "final": {"last": {"epoch": 0, "test": {"micro_f1": 0.5 + 0.1 * seed}}}}
            for side, seed in side_seeds]
    return {"schema": "parity/1", "adapter": "meow", "metrics": ["micro_f1"], "settings_hash": hash_,
            "settings": {"epochs": 1, "seeds": sorted({s for _, s in side_seeds})},
            "reference": {"command": ["ref"] if any(s == "reference" for s, _ in side_seeds) else None},
            "ours": {"command": ["ours"] if any(s == "ours" for s, _ in side_seeds) else None}, "runs": runs}


def test_merge_results_unions_sides_and_refuses_duplicates_and_other_settings(tmp_path):
    from experiments.parity.adapters.meow import merge_results
    from experiments.parity.harness import settings_hash
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    da, db = _doc([("reference", 0), ("reference", 1)]), _doc([("ours", 0)])
    da["settings_hash"] = db["settings_hash"] = settings_hash(da["settings"])
    a.write_text(json.dumps(da))
    b.write_text(json.dumps(db))
    out = json.loads(merge_results(tmp_path / "m.json", [a, b]).read_text())
    assert [(r["side"], r["seed"]) for r in out["runs"]] == [("reference", 0), ("ours", 0), ("reference", 1)]
    assert out["reference"]["command"] == ["ref"] and out["ours"]["command"] == ["ours"]
    assert out["summary"]["reference"]["last"]["micro_f1"][:1] == [pytest.approx(0.55)]
    assert out["summary"]["ours"]["last"]["micro_f1"][0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="more than one input"):
        merge_results(tmp_path / "m2.json", [a, a])
    db["settings_hash"] = "other"
    b.write_text(json.dumps(db))
    with pytest.raises(ValueError, match="other settings"):
        merge_results(tmp_path / "m3.json", [a, b])
