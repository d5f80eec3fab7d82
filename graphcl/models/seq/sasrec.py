"""SASRec (Kang & McAuley, ICDM 2018) trained with full-softmax cross-entropy.

The encoder is :class:`graphcl.nn.sasrec.SASRecEncoder`; training and scoring
are :class:`graphcl.models.seq.base.SequentialRecommender`'s. Defaults are
MCLRec's backbone settings (2 blocks, 2 heads, d 64, ffn 256, GELU, dropout
0.5, max length 50, batch 256, lr 1e-3, early stop 10 on valid MRR@10).
"""
from __future__ import annotations

from graphcl.models.seq.base import SEQ_DEFAULTS, SequentialRecommender
from graphcl.registry import MethodSpec, register_method


class SASRec(SequentialRecommender):
    """:class:`SequentialRecommender` with ``backbone="sasrec"`` (the default)."""

    backbone = "sasrec"


register_method(MethodSpec(
    name="sasrec", kind="seq", build=SASRec, defaults={**SEQ_DEFAULTS, "backbone": "sasrec"},
    description="SASRec: causal self-attention over the item sequence, full-softmax CE",
    paper="Kang & McAuley, Self-Attentive Sequential Recommendation, ICDM 2018"))
