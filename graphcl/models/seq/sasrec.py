"""SASRec (Kang & McAuley, ICDM 2018) trained with full-softmax cross-entropy.

The encoder is :class:`graphcl.nn.sasrec.SASRecEncoder`; training and scoring
are :class:`graphcl.models.seq.base.SequentialRecommender`'s. Defaults are
MCLRec's backbone settings (2 blocks, 2 heads, d 64, ffn 256, GELU, dropout
0.5, max length 50, batch 256, lr 1e-3, early stop 10 on valid MRR@10).

Presets (``beauty``, ``sports``, ``yelp-seq``, MCLRec's ICLRec-format files): the protocol of the
SASRec rows in MCLRec's Table 2, which come from the S3-Rec/CoSeRec/ICLRec code
lineage running kang205/SASRec's training: binary cross-entropy with one sampled unseen negative
(``loss_type: bce``) read at every position of one example per user and epoch
(``train_examples: users``), ranking only the items outside the user's history
(``exclude_history``: ICLRec's ``full_sort_predict`` zeroes the training items' scores),
early stopping after 40 epochs without a gain in valid MRR@10 (``patience`` 20 evaluations at
``eval_every`` 2; ICLRec's patience 40), at most 300 epochs. On Beauty this gives HR@5 / HR@20 /
N@5 / N@20 0.0394 / 0.0931 / 0.0262 / 0.0412 against the row's 0.0377 / 0.0894 / 0.0241 /
0.0386 (seed 0; ``experiments/results/sasrec_bce_users_beauty.md``). The registry default
(full cross-entropy over prefixes) stays MCLRec's own backbone training.
"""
from __future__ import annotations

from graphcl.models.seq.base import SEQ_DEFAULTS, SequentialRecommender
from graphcl.registry import MethodSpec, register_method


class SASRec(SequentialRecommender):
    """:class:`SequentialRecommender` with ``backbone="sasrec"`` (the default)."""

    backbone = "sasrec"


#: the SASRec baseline rows' protocol (module docstring); the same for the three ICLRec-format sets
SASREC_ROW_PROTOCOL = {"loss_type": "bce", "train_examples": "users", "exclude_history": True,
                       "patience": 20, "eval_every": 2, "epochs": 300}
SASREC_PRESETS = {name: dict(SASREC_ROW_PROTOCOL) for name in ("beauty", "sports", "yelp-seq")}

register_method(MethodSpec(
    name="sasrec", kind="seq", build=SASRec, defaults={**SEQ_DEFAULTS, "backbone": "sasrec"},
    presets=SASREC_PRESETS,
    description="SASRec: causal self-attention over the item sequence, full-softmax CE",
    paper="Kang & McAuley, Self-Attentive Sequential Recommendation, ICDM 2018"))
