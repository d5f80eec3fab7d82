"""MEOW options that reproduce the authors' code (jianxiangyu/MEOW code_meow @ 6a072d7) on
featureless (one-hot) targets such as HeCo's AMiner, checked on values:

* ``identity_feat_mask``: the code's ``mask_feature`` on ``sp.eye`` zeroes ⌊p·N⌋ of the N
  nonzeros, i.e. whole one-hot rows, so those nodes' masked input is x W + b = b;
* ``target_projection: per-metapath``: the code's AMiner model keeps one target projection
  per meta-path (``p_fc_list``) and feeds the coarse view their mean;
* the ``aminer`` preset: ``code_meow/utils/params.py`` ``aminer_params``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData

from graphcl.config import merge_config
from graphcl.data.metapath import compose_commuting_matrix
from graphcl.models.node.meow_views import identity_keep_rows, mask_entries
from graphcl.registry import get_method

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _eye_csr(n: int) -> torch.Tensor:
    return torch.sparse_csr_tensor(torch.arange(n + 1), torch.arange(n), torch.ones(n), size=(n, n))


def _featureless_toy(n=40, n_a=16, n_r=24, seed=0) -> HeteroData:
    """An AMiner-like graph: papers, authors, references, all with identity features."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    pa = np.unique(np.array([(i, int(rng.integers(0, 4)) + 4 * y[i]) for i in range(n) for _ in range(2)]).T,
                   axis=1)
    pr = np.unique(np.array([(i, int(rng.integers(0, 6)) + 6 * y[i]) for i in range(n) for _ in range(3)]).T,
                   axis=1)
    rel, counts = {"pa": pa, "pr": pr}, {"p": n, "a": n_a, "r": n_r}
    data = HeteroData()
    for name, k in (("paper", n), ("author", n_a), ("reference", n_r)):
        data[name].x, data[name].num_nodes, data[name].featureless = _eye_csr(k), k, True
    data["paper", "pa", "author"].edge_index = torch.from_numpy(pa)
    data["paper", "pr", "reference"].edge_index = torch.from_numpy(pr)
    for m in ("pap", "prp"):
        c = compose_commuting_matrix(m, rel, counts).tocoo()
        data["paper", m, "paper"].edge_index = torch.from_numpy(np.vstack([c.row, c.col]).astype(np.int64))
        data["paper", m, "paper"].edge_weight = torch.from_numpy(c.data.astype(np.float32))
    data["paper"].y = torch.from_numpy(y)
    mask = torch.zeros(n, 3, dtype=torch.bool)
    for k in ("train_mask", "val_mask", "test_mask"):
        data["paper"][k] = mask.clone()
    data.name, data.target_type, data.metapaths, data.missing_metapaths = "toy", "paper", ["pap", "prp"], []
    data.type_letters = {"p": "paper", "a": "author", "r": "reference"}
    data.split_ratios, data.num_classes = [20, 40, 60], 4
    return data


def _model(method="meow", **overrides):
    spec = get_method(method)
    base = {"nei_max": [5, 21], "adj_mask": [0.7, 0.4], "hidden_dim": 8, "embed_dim": 8,
            "feat_mask": 0.25, "cluster_counts": [3, 5]}
    if method == "adameow":
        base.pop("cluster_counts")
    cfg, _ = merge_config(spec.defaults, {**base, **overrides})
    torch.manual_seed(0)
    model = spec.build(_featureless_toy(), cfg, "cpu")
    model.eval()  # no dropout: the views are deterministic functions of the parameters
    return model


def test_identity_keep_rows_is_mask_entries_on_the_identity():
    n, p = 37, 0.3
    keep = identity_keep_rows(n, p, torch.Generator().manual_seed(5))
    masked = mask_entries(_eye_csr(n), p, torch.Generator().manual_seed(5)).to_dense()
    assert keep.shape == (n, 1)
    assert int((keep == 0).sum()) == int(p * n) == 11
    assert torch.equal(masked, torch.diag(keep[:, 0]))
    with pytest.raises(ValueError, match="feat_mask"):
        identity_keep_rows(n, 1.5, torch.Generator())


def test_identity_feat_mask_zeroes_whole_one_hot_rows():
    model = _model(identity_feat_mask=True)
    proj = model.proj["paper"]
    keep = model.identity_keep[0][:, 0].bool()
    assert len(model.identity_keep) == 1 and int((~keep).sum()) == int(0.25 * 40)
    (h, h_mask), = model._target_pairs()
    assert torch.allclose(h, F.elu(proj.weight + proj.bias))
    # masked rows: the one-hot row is all zero, so x W + b = b
    assert torch.allclose(h_mask[~keep], F.elu(proj.bias).expand(int((~keep).sum()), -1))
    assert torch.equal(h_mask[keep], h[keep])


def test_identity_mask_is_the_default_and_can_be_switched_off():
    model = _model()
    assert len(model.identity_keep) == 1 and model.masked_x is None and len(model.target_extra) == 0
    off = _model(identity_feat_mask=False)
    assert off.identity_keep is None
    (h, h_mask), = off._target_pairs()
    assert h_mask is h


def test_aminer_presets_are_the_authors_parameters():
    meow = get_method("meow").presets["aminer"]
    # code_meow/utils/params.py aminer_params
    assert {k: meow[k] for k in ("lr", "tau", "feat_mask", "adj_mask", "nei_max", "cluster_counts",
                                 "lam_proto", "dropout", "weight_decay", "loss_patience")} == {
        "lr": 7e-4, "tau": 0.9, "feat_mask": 0.2, "adj_mask": [0.7, 0.4], "nei_max": [5, 21],
        "cluster_counts": [500, 1200], "lam_proto": 0.1, "dropout": 0.2, "weight_decay": 0.0,
        "loss_patience": 25}
    assert meow["target_projection"] == "per-metapath" and meow["data.path_counts"] is False
    ada = get_method("adameow").presets["aminer"]
    # code_adameow/utils/params.py aminer_params
    assert (ada["lr"], ada["weight_decay"], ada["dropout"], ada["tau"], ada["nei_max"]) == (1e-4, 1e-4, 0.0, 0.9, [8, 31])
    for method, preset in (("meow", meow), ("adameow", ada)):
        spec = get_method(method)
        cfg, data_options = merge_config(spec.defaults, preset, method=method, ranges=spec.ranges)
        assert data_options == {"path_counts": False} and cfg["target_projection"] == "per-metapath"
    assert get_method("meow").presets["acm"]["tau"] == 0.4


def test_binary_files_give_the_codes_binary_topk_weights():
    """``data.path_counts: false`` on HeCo's boolean files: every PathSim ties (as in the
    code), so the kept entries have weight 1, the node itself first, then by column."""
    from graphcl.data.metapath import pathsim_topk
    ei = torch.tensor([[0, 0, 0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 2, 3, 0, 1, 0, 2, 0, 3]])
    kept, w = pathsim_topk(ei, torch.ones(ei.shape[1]), 4, 2)
    assert kept.tolist() == [[0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 0, 2, 0, 3]]
    assert torch.equal(w, torch.ones(8))


def test_per_metapath_target_projection_and_coarse_mean():
    model = _model(target_projection="per-metapath", identity_feat_mask=True)
    assert len(model.target_extra) == 1  # two meta-paths: proj["paper"] + one more
    projs = [model.proj["paper"], model.target_extra[0]]
    assert not torch.equal(projs[0].weight, projs[1].weight)
    pairs = model._target_pairs()
    for (h, _), proj in zip(pairs, projs):
        assert torch.allclose(h, F.elu(proj.weight + proj.bias))
    # one feature mask per meta-path copy, drawn independently (the code masks each copy)
    k0, k1 = model.identity_keep
    assert int((k0 == 0).sum()) == int((k1 == 0).sum()) == 10 and not torch.equal(k0, k1)
    with torch.no_grad():
        z_coarse, _ = model.views()
        want = model.encoder((pairs[0][0] + pairs[1][0]) / 2, model.coarse)
    assert torch.allclose(z_coarse, want, atol=1e-6)


def test_options_apply_to_adameow_and_are_checked():
    model = _model("adameow", target_projection="per-metapath", identity_feat_mask=True)
    assert len(model.target_extra) == 1 and len(model.identity_keep) == 2
    with pytest.raises(ValueError, match="target_projection"):
        _model(target_projection="both")
    with pytest.raises(ValueError, match="identity_feat_mask"):
        _model(identity_feat_mask="yes")


def test_freebase_preset_holds_hecos_settings_and_builds(shared_data):
    """MEOW's code has no Freebase: the preset takes HeCo's freebase_params (lr 1e-3, tau 0.5,
    feat_drop 0.1 as MEOW's feature dropout, patience 20) and its uncapped boolean MAM/MDM/MWM."""
    from graphcl.data import load
    spec = get_method("meow")
    preset = spec.presets["freebase"]
    cfg, data_options = merge_config(spec.defaults, preset, method="meow", ranges=spec.ranges)
    assert (cfg["lr"], cfg["tau"], cfg["dropout"], cfg["loss_patience"]) == (1e-3, 0.5, 0.1, 20)
    assert cfg["metapaths"] == ["mam", "mdm", "mwm"] and cfg["nei_max"] == [0]
    assert data_options == {"path_counts": False}
    data = load("freebase", root=shared_data, **data_options)
    torch.manual_seed(0)
    model = spec.build(data, {**cfg, "cluster_counts": [3, 5]}, "cpu")
    out = model.loss(next(iter(model.batches(torch.Generator().manual_seed(0)))))
    loss = out["loss"] if isinstance(out, dict) else out
    assert torch.isfinite(loss) and model.embed().shape == (3492, cfg["embed_dim"])
