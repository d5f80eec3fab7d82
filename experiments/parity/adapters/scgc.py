"""Parity adapter: SCGC* (SCGC with the Influence Augmented Contrastive loss), reference gayanku/SCGC
(``train.py``, ``models.py``, ``utils.py``, ``evaluation.py``).

The same SDCN-format set-up as the PamC adapter (:class:`experiments.parity.adapters.pamc.SDCNClusterAdapter`:
our Planetoid graph in SDCN's files, graphcl's pretrained autoencoder of the run's seed as
``data/<name>.pkl``, graphcl's clustering evaluation on both sides). Settings: the authors' README
SCGC* command for ``cite`` (``--model SCGC_TRIM --alpha 1 --beta 0.1 --order 1 --tau 0.25 --lr 0.0001
--influence``, 200 epochs, n_z = 10); Cora (no published setting) borrows CiteSeer's, as graphcl's
preset.
"""
from __future__ import annotations

from experiments.parity.adapters.pamc import _COMMON_NOTES, SDCNClusterAdapter


class SCGCAdapter(SDCNClusterAdapter):
    name = "scgc"
    method = "scgc"
    reference_repo = "gayanku/SCGC"
    model_name = "SCGC_TRIM"
    train_functions = 3
    settings = {"alpha": 1.0, "beta": 0.1, "order": 1, "tau": 0.25, "lr": 0.0001}
    protocol_notes = _COMMON_NOTES + [
        "model: the authors' --model SCGC_TRIM --influence (train.py:70-150, their SCGC*: the encoder MLP only, "
        "no decoder and no reconstruction loss; the cumulative influence graph); graphcl's scgc (its default "
        "variant is SCGC*: influence = true, reconstruction_weight = 0)",
    ]
    findings = [
        "equations identical (`python -m experiments.parity.clustercheck scgc --checkout <ref> --dataset cora`: same "
        "encoder, centres and influence graph through the reference's train.py functions and graphcl's step_loss): "
        "losses equal to 1e-6 (KL to 1e-7), gradients to 4e-9, parameters to 3e-7 after 4 Adam steps",
        "the loss is the same equation (by reading): the Graph-MLP Ncontrast loss "
        "-mean_i log(sum_j A^(r)_ij e^{tau s_ij} / sum_j e^{tau s_ij} + 1e-8) with s = cosine, diagonal "
        "s_ii := 0 (train.py:41-59 get_feature_dis/Ncontrast / graphcl/losses/meta_node.py "
        "pairwise_neighbor_loss); the reference multiplies the dense influence matrix (N x N, get_A_r_flex, "
        "train.py:27-34), graphcl sums over its nonzeros only (positive_sums): same sums",
        "the reference runs two forward passes per epoch (one for P with autograd on, train.py:112; one for the "
        "loss, :128); graphcl one (P from the same Q, detached): same values, less time",
        "get_feature_dis divides x.x^T by the outer product of norms (x_sum**(-1)): a zero embedding would give "
        "NaN; graphcl uses F.normalize (a zero vector has cosine 0). Not reached with these encoders",
    ]
    environment = [
        {"what": "PYTHONPATH += experiments/parity/shims/pamc (munkres stand-in: Munkres.compute via scipy)",
         "reason": "munkres is not installed; evaluation.py uses only Munkres().compute (the same optimum)"},
        {"what": "PYTHONPATH += repository root", "reason": "the patched train.py imports experiments.parity"},
        {"what": "sdcn/data/<name>.txt, <name>_label.txt, <name>.pkl, sdcn/graph/<name>_graph.txt (--data_path sdcn)",
         "reason": "our graph in SDCN's format and graphcl's pretrained autoencoder for the run's seed"},
    ]


ADAPTER = SCGCAdapter()
