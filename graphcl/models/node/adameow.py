"""AdaMEOW (Yu, Ge, Li & Zhou, TKDE 2024; jianxiangyu/MEOW ``code_adameow``): MEOW's
coarse and fine-grained views with adaptively learned soft weights of negatives.

Same encoder and views as :class:`graphcl.models.node.meow.MEOW` (including its
``metapath_layout`` option: ``own_topk``, the default, or ``reference_transposed``, the authors'
top-k order and transposed operators, the same ``normalize_adj`` in ``code_adameow``); no k-means and
no prototypical term. Anchors are the projected fine view ẑ_f, keys the projected
coarse view ẑ_c, and every denominator term gets a learned weight::

    w_ij = σ(MLP(ẑ_f,i + ẑ_c,j)),   MLP = Linear(d, 16) → tanh → Linear(16, 1)
    L = −mean_i log( e^{ẑf_i·ẑc_i/τ} / Σ_j w_ij e^{ẑf_i·ẑc_j/τ} )

with the positive's own term in the denominator (as the authors' code). The N²
pairs go through the MLP in cache-sized chunks, tanh as 2σ(2z) − 1, the gradients formed
in the same pass (:func:`graphcl.losses.soft_weighted.soft_weighted_info_nce`): exact,
memory O(block_size · N) plus two chunk buffers. The presets hold the authors' AdaMEOW parameters per dataset
(code_adameow/utils/params.py; ACM: lr 5e-5, τ 1.0, dropout 0.3, weight decay 1e-5,
nei_max [690, 690], adj_mask 0.2, 1200 epochs), not MEOW's; their code trains every
run to its last epoch (its loss patience is counted, never used). Until 2026-12-07 the
ACM preset was MEOW's shared ACM setting (lr 7e-4, τ 0.4, ...), as the AdaMEOW row of
experiments/RESULTS.md was run.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.losses.soft_weighted import PairwiseWeightMLP, soft_weighted_info_nce
from graphcl.models.node.meow import MEOW, MEOW_DEFAULTS, MEOW_PRESETS
from graphcl.registry import MethodSpec, register_method


class AdaMEOW(MEOW):
    full_graph_reason = ("it trains on heterogeneous meta-path graphs (the neighbor sampler is homogeneous) "
                         "with meta-path context means over other node types")

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device | str = "cpu") -> None:
        super().__init__(data, config, device)
        self.weight_mlp = PairwiseWeightMLP(int(self.config["embed_dim"]),
                                            int(self.config["weight_hidden"]))

    def _check_loss_config(self) -> None:
        if int(self.config["weight_block_size"]) < 1:
            raise ValueError(f"weight_block_size must be >= 1, got {self.config['weight_block_size']}")

    def step_loss(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        z_coarse, z_fine = self.views()
        zc, zf = self.projected(z_coarse), self.projected(z_fine)
        loss = soft_weighted_info_nce(zf, zc, self.weight_mlp, float(self.config["tau"]),
                                      block_size=int(self.config["weight_block_size"]))
        return {"loss": loss}


ADAMEOW_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in MEOW_DEFAULTS.items()
       if k not in ("weighting", "cluster_counts", "lam_proto", "kmeans_restarts", "kmeans_iters",
                    "kmeans_seed", "kmeans_metric", "concentration", "concentration_alpha",
                    "loss_block_size", "positives")},
    "weight_hidden": 16, "weight_block_size": 256,
}

# MEOW's presets without MEOW-only keys (data.* loader options kept: Freebase's boolean
# meta-path files); the datasets with AdaMEOW's own parameters are replaced below. Freebase
# keeps HeCo's settings as MEOW's preset (no AdaMEOW code parameters exist for it), HeCo's
# stopping rule included (patience 20 on the training loss).
ADAMEOW_PRESETS: dict[str, dict[str, Any]] = {
    name: {k: v for k, v in preset.items() if k in ADAMEOW_DEFAULTS or k.startswith("data.")}
    for name, preset in MEOW_PRESETS.items()
}
# jianxiangyu/MEOW@6a072d79648ab83f7ec7b7482af1696ed00938a1 code_adameow/utils/params.py acm_params:
# AdaMEOW's own values (not MEOW's): lr 5e-5, l2_coef 1e-5, dropout 0.3, tau 1.0, nei_max [690, 690],
# feat_mask 0.3, adj_mask 0.2, nb_epochs 1200 (trained to the end, as every AdaMEOW run: below)
ADAMEOW_PRESETS["acm"] = {
    "lr": 5e-5, "weight_decay": 1e-5, "dropout": 0.3, "tau": 1.0, "feat_mask": 0.3, "adj_mask": [0.2],
    "nei_max": [690, 690], "hidden_dim": 64, "embed_dim": 64, "epochs": 1200}
# code_adameow/utils/params.py aminer_params (its own values, not MEOW's; nb_epochs 3000, and its
# patience 25 is counted but never stops a run: code_adameow/main.py:90-115); its AMiner model also
# has one target projection per meta-path (p_fc_list)
ADAMEOW_PRESETS["aminer"] = {
    "lr": 1e-4, "weight_decay": 1e-4, "dropout": 0.0, "tau": 0.9, "feat_mask": 0.0, "adj_mask": [0.0],
    "nei_max": [8, 31], "hidden_dim": 64, "embed_dim": 64, "epochs": 3000,
    "target_projection": "per-metapath", "identity_feat_mask": True, "data.path_counts": False}
# jianxiangyu/MEOW@6a072d79648ab83f7ec7b7482af1696ed00938a1 code_adameow/utils/params.py dblp_params
# (:42-74) and imdb_params (:111-143), AdaMEOW's own values (not MEOW's): l2_coef -> weight_decay,
# nb_epochs -> epochs. code_adameow/main.py:90-115 counts a loss patience but never stops on it:
# it trains all nb_epochs. DBLP: the code's third meta-path (aptpa, nei_max 40) is not held.
ADAMEOW_PRESETS["dblp"] = {
    "lr": 1e-4, "weight_decay": 1e-3, "dropout": 0.2, "tau": 0.9, "feat_mask": 0.1, "adj_mask": [0.3],
    "nei_max": [25, 200], "metapaths": ["apa", "apcpa"], "hidden_dim": 64, "embed_dim": 64,
    "epochs": 1500}
ADAMEOW_PRESETS["imdb"] = {
    "lr": 5e-4, "weight_decay": 5e-4, "dropout": 0.1, "tau": 0.9, "feat_mask": 0.3, "adj_mask": [0.1],
    "nei_max": [70, 10, 70], "metapaths": ["mam", "mdm", "mkm"], "hidden_dim": 64, "embed_dim": 64,
    "epochs": 1000}

register_method(MethodSpec(
    name="adameow", kind="node", data="hetero", build=AdaMEOW, defaults=ADAMEOW_DEFAULTS, presets=ADAMEOW_PRESETS,
    description="AdaMEOW: MEOW's views with learned soft negative weights sigma(MLP(z_i + z_j))",
    paper="Yu, Ge, Li & Zhou, Heterogeneous Graph Contrastive Learning with Meta-path Contexts "
          "and Adaptively Weighted Negative Samples, TKDE 2024"))
