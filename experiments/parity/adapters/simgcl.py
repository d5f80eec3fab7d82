"""Parity adapter: SimGCL, reference Coder-Yu/SELFRec ``model/graph/SimGCL.py`` (the first author's
own code of Yu et al. SIGIR 2022).

Settings: SELFRec's ``conf/SimGCL.yaml`` (n_layer 2, lambda 0.5, eps 0.1; InfoNCE temperature 0.2
hard-coded in SimGCL.py:48-49; embedding 64, batch 2048, lr 1e-3, reg 1e-4) on both sides.
graphcl's ``simgcl`` preset is these values: two noise views, layer 0 not in the mean, user and
item InfoNCE summed, BPR on the noise-free forward, ``norm`` regularization of the propagated user
and positive rows (SimGCL.py:31). See :mod:`experiments.parity.selfrec_common`.
"""
from __future__ import annotations

from experiments.parity.selfrec_common import SelfRecAdapter


class SimGCLAdapter(SelfRecAdapter):
    name = "simgcl"
    method = "simgcl"
    model = "SimGCL"
    model_conf = {"n_layer": 2, "lambda": 0.5, "eps": 0.1}
    ours_specific = {
        "encoder": {"lightgcn": {"layers": 2, "include_ego": False, "init": "xavier"}},
        "view1": [{"embedding_noise": {"eps": 0.1}}], "view2": [{"embedding_noise": {"eps": 0.1}}],
        "loss": {"infonce": {"tau": 0.2, "joint": False}}, "cl_weight": 0.5, "cl_pairs": "views",
        "bpr_on": "input", "redraw": "epoch", "reg_form": "norm", "reg_terms": ["user", "pos"]}
    protocol_notes = list(SelfRecAdapter.common_notes)
    findings = SelfRecAdapter.common_findings + [
        "graphcl's simgcl preset equals conf/SimGCL.yaml and model/graph/SimGCL.py: noise after every layer's propagation (SimGCL.py:85-88 / graphcl/contrast/propagation.py:84-87), layer 0 not in the mean (SimGCL.py:83 / include_ego false), BPR on the noise-free forward (SimGCL.py:27), the two noisy forwards drawn per batch (SimGCL.py:44-49 / contrast_rec.py:126)",
    ]


ADAPTER = SimGCLAdapter()
