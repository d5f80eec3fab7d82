"""Parity adapter: XSimGCL, reference Coder-Yu/SELFRec ``model/graph/XSimGCL.py`` (the first
author's own code of Yu et al. TKDE 2023).

Settings: SELFRec's ``conf/XSimGCL.yaml`` (n_layer 2, l_star 1, lambda 0.2, eps 0.2, tau 0.15;
embedding 64, batch 2048, lr 1e-3, reg 1e-4) on both sides. graphcl's ``xsimgcl`` preset is these
values: one noisy forward, BPR on it, InfoNCE of its final embeddings against its layer-1 output,
``norm`` regularization of the user and positive rows (XSimGCL.py:33). See
:mod:`experiments.parity.selfrec_common`.
"""
from __future__ import annotations

from experiments.parity.selfrec_common import SelfRecAdapter


class XSimGCLAdapter(SelfRecAdapter):
    name = "xsimgcl"
    method = "xsimgcl"
    model = "XSimGCL"
    model_conf = {"n_layer": 2, "l_star": 1, "lambda": 0.2, "eps": 0.2, "tau": 0.15}
    ours_specific = {
        "encoder": {"lightgcn": {"layers": 2, "include_ego": False, "init": "xavier"}},
        "view1": [{"embedding_noise": {"eps": 0.2}}], "view2": [],
        "loss": {"infonce": {"tau": 0.15, "joint": False}}, "cl_weight": 0.2, "cl_pairs": "cross_layer",
        "cl_layer": 1, "bpr_on": "view1", "redraw": "epoch", "reg_form": "norm", "reg_terms": ["user", "pos"]}
    protocol_notes = list(SelfRecAdapter.common_notes)
    findings = SelfRecAdapter.common_findings + [
        "graphcl's xsimgcl preset equals conf/XSimGCL.yaml and model/graph/XSimGCL.py: one noisy forward per batch, BPR on it (XSimGCL.py:29-31 / bpr_on view1), InfoNCE of its final embeddings (mean of layers 1-2) against its layer-1 output (XSimGCL.py:93-94, 45-49 / cl_pairs cross_layer, cl_layer 1, contrast_rec.py:121-124); scoring on the noise-free forward (XSimGCL.py:41 / contrast_rec.py:149-151)",
    ]


ADAPTER = XSimGCLAdapter()
