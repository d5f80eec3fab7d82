"""Node-embedding evaluation: linear probe, k-means clustering metrics, link prediction."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (adjusted_rand_score, f1_score, normalized_mutual_info_score,
                             roc_auc_score)

from graphcl.eval.node import (auc_from_scores, cluster_metrics, evaluate_clustering, kmeans,
                               linear_probe, link_prediction_auc, macro_f1, random_split_masks,
                               split_edges_for_link_prediction)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _blobs(n=600, c=4, d=8, scale=4.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(c, (n,), generator=g)
    x = torch.randn(c, d, generator=g)[y] * scale + torch.randn(n, d, generator=g)
    return x, y


# ------------------------------------------------------------ splits / probe
def test_random_split_masks_disjoint_and_seeded():
    tr, va, te = random_split_masks(1000, 0.1, 0.2, seed=3)
    assert (tr.sum(), va.sum(), te.sum()) == (100, 200, 700)
    assert not (tr & va).any() and not (tr & te).any() and not (va & te).any()
    assert torch.equal(tr, random_split_masks(1000, 0.1, 0.2, seed=3)[0])
    assert not torch.equal(tr, random_split_masks(1000, 0.1, 0.2, seed=4)[0])


def test_probe_separable_and_random():
    x, y = _blobs()
    res = linear_probe(x, y, seeds=(0, 1), epochs=150)
    assert res["mean"] > 0.98 and res["f1_mean"] > 0.98 and len(res["accs"]) == 2
    noise = torch.randn(600, 8, generator=torch.Generator().manual_seed(5))
    chance = linear_probe(noise, y, seeds=(0, 1), epochs=150)
    assert abs(chance["mean"] - 0.25) < 0.08
    assert set(res) >= {"mean", "std", "accs", "val_mean", "f1_mean", "f1_std", "f1s",
                        "weight_decays"}


def test_probe_deterministic_and_explicit_masks():
    x, y = _blobs(scale=0.6)
    a = linear_probe(x, y, seeds=(0,), epochs=60, normalize="l2")
    b = linear_probe(x, y, seeds=(0,), epochs=60, normalize="l2")
    assert a == b
    masks = random_split_masks(600, 0.1, 0.1, seed=0)
    c = linear_probe(x, y, split=masks, epochs=60, normalize="l2")
    assert c["accs"] == a["accs"]


def test_probe_public_split_and_2d_masks():
    x, y = _blobs(n=200)

    class D:  # a PyG-like object with public masks
        train_mask, val_mask, test_mask = random_split_masks(200, 0.2, 0.2, seed=1)
    res = linear_probe(x, y, split="public", data=D(), epochs=50)
    assert len(res["accs"]) == 1 and res["mean"] > 0.95
    tr = torch.stack([random_split_masks(200, 0.2, 0.2, seed=s)[0] for s in range(3)], 1)
    va = torch.zeros(200, 3, dtype=torch.bool)
    te = ~tr[:, 0]
    assert len(linear_probe(x, y, split=(tr, va, te), epochs=20)["accs"]) == 3
    with pytest.raises(ValueError, match="public"):
        linear_probe(x, y, split="public")


def test_probe_rejects_nan():
    x, y = _blobs(n=50)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(x, y)


def test_macro_f1_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    p, t = torch.randint(5, (300,), generator=g), torch.randint(4, (300,), generator=g)
    assert macro_f1(p, t) == pytest.approx(f1_score(t.numpy(), p.numpy(), average="macro"))


# ----------------------------------------------------------------- clustering
def test_cluster_metrics_against_sklearn():
    g = torch.Generator().manual_seed(0)
    for k_pred, k_true in ((4, 4), (6, 3), (2, 5)):
        y = torch.randint(k_true, (400,), generator=g)
        pred = torch.where(torch.rand(400, generator=g) < 0.6, y % k_pred,
                           torch.randint(k_pred, (400,), generator=g))
        m = cluster_metrics(pred, y)
        assert m["nmi"] == pytest.approx(normalized_mutual_info_score(y, pred), abs=1e-12)
        assert m["ari"] == pytest.approx(adjusted_rand_score(y, pred), abs=1e-12)
    y = torch.tensor([0, 0, 1, 1])
    assert cluster_metrics(torch.zeros(4), torch.zeros(4))["nmi"] == 1.0
    assert cluster_metrics(y, y) == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0, "f1": 1.0})


def test_cluster_acc_hungarian_hand_example():
    # clusters 0,1,2 ; classes 0,1,2. Best map: 0->1, 1->2, 2->0 (6 of 8 correct)
    labels = torch.tensor([1, 1, 1, 2, 2, 0, 0, 2])
    pred = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])
    m = cluster_metrics(pred, labels)
    assert m["acc"] == pytest.approx(6 / 8)
    mapped = np.array([1, 1, 2, 2, 2, 0, 0, 0])
    assert m["f1"] == pytest.approx(f1_score(labels, mapped, average="macro"))
    # a greedy per-cluster majority would map both clusters 0 and 1 to class 1 — not allowed
    m2 = cluster_metrics(torch.tensor([0, 0, 1, 1]), torch.tensor([5, 5, 5, 9]))
    assert m2["acc"] == pytest.approx(3 / 4)


def test_kmeans_recovers_blobs_and_is_seeded():
    x, y = _blobs(n=500, c=5, d=6, scale=6.0)
    lab, centers = kmeans(x, 5, seed=0)
    assert centers.shape == (5, 6) and lab.shape == (500,)
    assert cluster_metrics(lab, y)["acc"] == 1.0
    assert torch.equal(lab, kmeans(x, 5, seed=0)[0])
    lab1, _ = kmeans(x, 5, n_init=1, seed=1)
    assert lab1.max() < 5
    res = evaluate_clustering(x, y, seeds=(0, 1))
    assert res["acc_mean"] == 1.0 and res["nmi_std"] == 0.0 and len(res["runs"]) == 2


def test_kmeans_inertia_close_to_sklearn():
    from sklearn.cluster import KMeans
    x, _ = _blobs(n=300, c=6, d=4, scale=1.0)
    lab, centers = kmeans(x, 6, n_init=10, seed=2)
    ours = float(((x - centers[lab]) ** 2).sum())
    ref = KMeans(6, n_init=10, random_state=0).fit(x.numpy()).inertia_
    assert ours <= ref * 1.01
    assert torch.equal(lab, ((x[:, None] - centers[None]) ** 2).sum(-1).argmin(1))


# ------------------------------------------------------------ link prediction
def test_auc_hand_example_with_ties():
    pos = torch.tensor([0.9, 0.5, 0.5])
    neg = torch.tensor([0.5, 0.1])
    # pairs: (0.9 > both) 2, (0.5 vs 0.5) 0.5 + (0.5 > 0.1) 1, twice -> 2 + 1.5 + 1.5 = 5 of 6
    assert auc_from_scores(pos, neg) == pytest.approx(5 / 6)
    g = torch.Generator().manual_seed(0)
    p, n = torch.randn(200, generator=g).round(), torch.randn(150, generator=g).round() - 0.5
    ref = roc_auc_score(np.r_[np.ones(200), np.zeros(150)], np.r_[p.numpy(), n.numpy()])
    assert auc_from_scores(p, n) == pytest.approx(ref, abs=1e-12)


def test_link_prediction_auc_dot_product():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    pos = torch.tensor([[0], [1]])
    neg = torch.tensor([[0, 0], [2, 3]])
    assert link_prediction_auc(z, pos, neg) == 1.0


def _ring_plus_random(n=300, extra=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.cat([torch.arange(n), torch.randint(n, (extra,), generator=g)])
    dst = torch.cat([(torch.arange(n) + 1) % n, torch.randint(n, (extra,), generator=g)])
    return torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)


def test_split_edges_undirected():
    n = 300
    ei = _ring_plus_random(n)
    s = split_edges_for_link_prediction(ei, n, val=0.05, test=0.1, seed=0)
    undirected = {(min(a, b), max(a, b)) for a, b in ei.T.tolist() if a != b}
    parts = {k: {tuple(sorted(e)) for e in s[k].T.tolist()} for k in
             ("train_pos", "val_pos", "test_pos", "val_neg", "test_neg")}
    assert parts["train_pos"] | parts["val_pos"] | parts["test_pos"] == undirected
    assert len(parts["test_pos"]) == int(0.1 * len(undirected))
    assert not parts["train_pos"] & parts["test_pos"] and not parts["val_pos"] & parts["test_pos"]
    negs = parts["val_neg"] | parts["test_neg"]
    assert len(negs) == len(parts["val_neg"]) + len(parts["test_neg"]) == s["val_neg"].shape[1] * 1 \
        + s["test_neg"].shape[1]
    assert not negs & undirected and all(a != b for a, b in negs)
    assert s["train_edge_index"].shape[1] == 2 * s["train_pos"].shape[1]
    again = split_edges_for_link_prediction(ei, n, seed=0)
    assert all(torch.equal(s[k], again[k]) for k in s)


def test_split_edges_directed_detected():
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0] + [5] * 10])
    ei = ei[:, ei[0] != ei[1]]
    s = split_edges_for_link_prediction(ei, 10, val=0.1, test=0.2, seed=1)
    assert s["train_edge_index"].shape[1] == s["train_pos"].shape[1]
    existing = set(map(tuple, ei.T.tolist()))
    assert not set(map(tuple, s["test_neg"].T.tolist())) & existing
