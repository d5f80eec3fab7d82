"""Parity adapter: SGL, reference Coder-Yu/SELFRec ``model/graph/SGL.py`` (a re-implementation of
Wu et al. SIGIR 2021 in SELFRec, not the SGL authors' TensorFlow code).

Settings: SELFRec's ``conf/SGL.yaml`` (n_layer 2, lambda 0.1, drop_rate 0.1, aug_type 1 = edge
dropout, temp 0.2; embedding 64, batch 2048, lr 1e-3, reg 1e-4) on both sides. graphcl's ``sgl``
with the same: 2 layers with layer 0 in the mean, two exact edge-dropout views redrawn each epoch,
one InfoNCE over the batch's distinct users and items stacked (``joint: true``, SGL.py:115-125),
SELFRec's ``l2_reg_loss`` form (``norm`` of the propagated user, positive and negative rows,
SGL.py:36). See :mod:`experiments.parity.selfrec_common` for the data and the patches.
"""
from __future__ import annotations

from experiments.parity.selfrec_common import SelfRecAdapter


class SGLAdapter(SelfRecAdapter):
    name = "sgl"
    method = "sgl"
    model = "SGL"
    model_conf = {"n_layer": 2, "lambda": 0.1, "drop_rate": 0.1, "aug_type": 1, "temp": 0.2}
    eval_find = "            if epoch>=5:\n                self.fast_evaluation(epoch)\n"
    ours_specific = {
        "encoder": {"lightgcn": {"layers": 2, "include_ego": True, "init": "xavier"}},
        "view1": [{"edge_drop": {"p": 0.1, "exact": True}}], "view2": [{"edge_drop": {"p": 0.1, "exact": True}}],
        "loss": {"infonce": {"tau": 0.2, "joint": True}}, "cl_weight": 0.1, "cl_pairs": "views",
        "bpr_on": "input", "redraw": "epoch", "reg_form": "norm", "reg_terms": ["user", "pos", "neg"]}
    protocol_notes = SelfRecAdapter.common_notes + [
        "SELFRec's SGL evaluates only from epoch 6 on (SGL.py:45, `if epoch>=5`); patched to the last epoch",
    ]
    findings = SelfRecAdapter.common_findings + [
        "SELFRec's SGL has one InfoNCE over the batch's distinct users and items stacked "
        "(model/graph/SGL.py:115-125; users and items are each other's negatives) where the SGL paper sums "
        "a user and an item loss (eq. 11, graphcl's sgl default joint: false); run here with joint: true "
        "(graphcl/contrast/rec_objectives.py:54-55)",
        "SELFRec's SGL regularizes the PROPAGATED user, positive and negative rows with the unsquared norm "
        "(SGL.py:36, util/loss_torch.py:18-22) where the paper and graphcl's sgl default use the squared norm "
        "of the ego rows (reg_form squared_ego, contrast_rec.py:144-146); run here with reg_form norm",
        "SELFRec's SGL has 2 layers (conf/SGL.yaml n_layer) where graphcl's sgl preset has 3 (the paper's "
        "headline setting); run here with 2; both include layer 0 in the mean (SGL.py:100 / include_ego)",
        "known, not changed: SELFRec's `if self.aug_type==0 or 1` (SGL.py:81) is always true, so its RW "
        "(aug_type 2) draws one graph for all layers, i.e. equals ED; graphcl's layer_edge_drop is the "
        "paper's RW (one graph per layer). Irrelevant here (aug_type 1 = ED on both sides)",
        "views: two exact edge dropouts (int(E * 0.9) kept pairs, data/augmentor.py:179-189 / "
        "graphcl/augment/interactions.py:49-50) drawn once per epoch before its batches and renormalized with "
        "their own degrees (SGL.py:28-29, data/ui_graph.py:58-65 / contrast_rec.py:102-105, redraw epoch)",
    ]


ADAPTER = SGLAdapter()
