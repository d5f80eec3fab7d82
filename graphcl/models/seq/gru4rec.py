"""GRU4Rec (Hidasi et al., ICLR 2016) trained with full-softmax cross-entropy.

The encoder is :class:`graphcl.nn.gru4rec.GRU4RecEncoder`; RecBole's defaults:
embedding 64, GRU hidden 128, 1 layer, embedding dropout 0.3.
"""
from __future__ import annotations

from graphcl.models.seq.base import SEQ_DEFAULTS, SequentialRecommender
from graphcl.registry import MethodSpec, register_method


class GRU4Rec(SequentialRecommender):
    """:class:`SequentialRecommender` with ``backbone="gru4rec"``."""

    backbone = "gru4rec"


register_method(MethodSpec(
    name="gru4rec", kind="seq", build=GRU4Rec,
    defaults={**SEQ_DEFAULTS, "backbone": "gru4rec", "num_layers": 1, "hidden_dropout": 0.3},
    description="GRU4Rec: GRU over the item sequence, full-softmax CE",
    paper="Hidasi et al., Session-based Recommendations with RNNs, ICLR 2016"))
