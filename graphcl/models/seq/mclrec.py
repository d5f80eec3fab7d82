"""MCLRec: meta-optimized contrastive learning for sequential recommendation
(Qin et al., SIGIR 2023; authors' code QinHsiu/MCLRec, on RecBole).

Per training batch (next-item prefixes ``s`` with targets):

* data-augmented views ``s1, s2``: each sequence gets two *distinct* ops from
  {crop (keep 50%), mask (50% to the padding id), reorder (80% span)};
  sequences of length 1 are left as they are;
* ``h = f(s)``, ``h1 = f(s1)``, ``h2 = f(s2)`` from the shared encoder ``f``
  (SASRec by default; any ``backbone``);
* learnable augmenters ``g1, g2``: MLP ``d -> d/2 -> d/4 -> d`` with GELU,
  L2-normalized output (64 -> 32 -> 16 -> 64); ``z1 = g1(h1)``, ``z2 = g2(h2)``;
* ``L_rec`` = full-softmax cross-entropy of ``h`` (see the base class);
* ``Lcl1 = NT-Xent(h1, h2)`` (τ = ``tau``, ``sim`` dot or cos; 2(B−1) negatives);
* ``Lcl2 = NT-Xent(h1, z2) + NT-Xent(h2, z1) + NT-Xent(z1, z2)`` (dot, τ 1);
* margin regularizer, per NT-Xent pair and anchor ``a`` with positive score
  ``p_a`` and largest negative score ``n_a``: ``o_min = min(p_a, n_a)``,
  ``o_max = max(p_a, n_a)``, ``R = mean_a [p_a − o_min]+ + mean_{a,neg} [o_max − neg]+``
  summed over the three pairs of ``Lcl2`` and weighted by ``reg_weight`` (0.1).

Meta update (default): (1) encoder step on ``L_rec + λ Lcl1 + β (Lcl2 + R)``
with the augmenters frozen; (2) augmenter step on ``Lcl2 + R`` recomputed with
the updated encoder (the encoder gets no update; ``λ Lcl1`` has no augmenter
gradient and is left out); (3) encoder step on the step-1 objective again,
recomputed. Each step is a fresh forward (new dropout) on the same views, as
in the authors' trainer. ``joint=true`` is the authors' joint variant: one
Adam over all parameters on the step-1 objective.

Differences from the authors' code, on purpose: the three encoder inputs of a
step run as one concatenated batch (the same computation, faster); step 2 runs
the encoder without autograd (its gradients are discarded there anyway);
sequences are left-padded with end-aligned positions (RecBole right-pads, positions from the
start: the same model for full-length inputs, not for shorter ones; no option yet); the
cross-entropy runs over the real items (the code's RecBole CE includes the zero padding row as
one more class: ``ce_padding_class: true``).
Defaults are the authors' ``MCLRec.yaml``/``seq.yaml`` (λ 0, β 0.01, τ 1, dot);
the registry presets carry the paper's per-dataset λ and β.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from graphcl.augment.base import check_probability
from graphcl.augment.sequence import (
    crop_sequences,
    distinct_pair_views,
    mask_sequences,
    reorder_sequences,
)
from graphcl.losses.ntxent import nt_xent, nt_xent_scores
from graphcl.models.seq.base import SEQ_DEFAULTS, SequentialRecommender, check_finite
from graphcl.registry import MethodSpec, register_method
from graphcl.optim import adam


class LearnableAugmenter(nn.Module):
    """MCLRec's augmenter: ``normalize(W3 GELU(W2 GELU(W1 h)))``, ``d -> d/2 -> d/4 -> d``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 4:
            raise ValueError(f"the augmenter needs hidden_size >= 4, got {dim}")
        self.layers = nn.Sequential(nn.Linear(dim, dim // 2), nn.GELU(),
                                    nn.Linear(dim // 2, dim // 4), nn.GELU(),
                                    nn.Linear(dim // 4, dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.layers(h), dim=-1)


def margin_regularizer(a: torch.Tensor, b: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """``mean_a [p_a − o_min]+ + mean_{a,neg} [o_max − neg]+`` over the NT-Xent
    anchors of ``(a, b)`` with dot scores / τ (see the module docstring)."""
    return margin_from_scores(*nt_xent_scores(a, b, tau, "dot"))


def margin_from_scores(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """:func:`margin_regularizer` on NT-Xent scores already formed (``nt_xent_scores``)."""
    rows = torch.arange(scores.size(0), device=scores.device)
    pos = scores[rows, positive]
    neg_mask = torch.isfinite(scores)
    neg_mask[rows, positive] = False
    max_neg = scores.masked_fill(~neg_mask, float("-inf")).max(dim=1).values
    o_min, o_max = torch.minimum(pos, max_neg), torch.maximum(pos, max_neg)
    gap = torch.where(neg_mask, o_max.unsqueeze(1) - scores, torch.zeros_like(scores))
    return F.relu(pos - o_min).mean() + F.relu(gap).sum() / neg_mask.sum()


@contextlib.contextmanager
def _frozen(modules: list[nn.Module]) -> Iterator[None]:
    params = [p for m in modules for p in m.parameters()]
    states = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, s in zip(params, states):
            p.requires_grad_(s)


class MCLRec(SequentialRecommender):
    """MCLRec on a sequence backbone; see the module docstring."""

    def __init__(self, dataset, config: dict[str, Any], device: torch.device | str = "cpu") -> None:
        super().__init__(dataset, config, device)
        if str(config["sim"]) not in ("dot", "cos"):
            raise ValueError(f"sim must be 'dot' or 'cos', got {config['sim']!r}")
        d = int(config["hidden_size"])
        self.aug1, self.aug2 = LearnableAugmenter(d), LearnableAugmenter(d)
        self.lmd, self.beta = float(config["lmd"]), float(config["beta"])
        self.tau, self.sim = float(config["tau"]), str(config["sim"])
        self.reg_weight, self.joint = float(config["reg_weight"]), bool(config["joint"])
        ratios = {k: check_probability(config[k], k) for k in ("crop_ratio", "mask_ratio",
                                                               "reorder_ratio")}
        self.view_ops = [partial(_crop, keep_ratio=1.0 - ratios["crop_ratio"]),
                         partial(_mask, ratio=ratios["mask_ratio"]),
                         partial(_reorder, ratio=ratios["reorder_ratio"])]

    # ----------------------------------------------------------------- views
    def augment_batch(self, batch: dict[str, torch.Tensor],
                      generator: torch.Generator) -> dict[str, torch.Tensor]:
        (s1, l1), (s2, l2) = distinct_pair_views(batch["seq"], batch["len"], self.view_ops,
                                                 generator, min_length=2)
        return {**batch, "seq1": s1, "len1": l1, "seq2": s2, "len2": l2}

    # ---------------------------------------------------------------- losses
    def _contrast(self, h1: torch.Tensor, h2: torch.Tensor) -> dict[str, torch.Tensor]:
        """``Lcl2`` and the weighted margin regularizer on encoded views."""
        z1, z2 = self.aug1(h1), self.aug2(h2)
        pairs = ((h1, z2), (h2, z1), (z1, z2))
        # each pair's 2B x 2B scores are formed once and serve Lcl2 and, at τ = 1 (the default;
        # Lcl2's τ is 1), the regularizer too
        scored = [nt_xent_scores(a, b, 1.0, "dot") for a, b in pairs]
        parts = {"cl2": sum(F.cross_entropy(scores, positive) for scores, positive in scored)}
        if self.reg_weight:
            if self.tau != 1.0:
                scored = [nt_xent_scores(a, b, self.tau, "dot") for a, b in pairs]
            parts["reg"] = self.reg_weight * sum(margin_from_scores(*pair) for pair in scored)
        return parts

    def _encode3(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        B = batch["seq"].size(0)
        seqs = torch.cat([batch["seq"], batch["seq1"], batch["seq2"]])
        lens = torch.cat([batch["len"], batch["len1"], batch["len2"]])
        return list(self.encode(seqs, lens).split(B))

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The encoder objective ``L_rec + λ Lcl1 + β (Lcl2 + R)`` (steps 1 and 3;
        the joint variant's only loss)."""
        if "seq1" not in batch:
            batch = self.augment_batch(batch, None)  # type: ignore[arg-type]
        h, h1, h2 = self._encode3(batch)
        rec = self.rec_loss(h, batch)
        parts = self._contrast(h1, h2)
        total = rec + self.beta * sum(parts.values())
        if self.lmd:
            parts["cl1"] = nt_xent(h1, h2, self.tau, self.sim)
            total = total + self.lmd * parts["cl1"]
        return {"loss": total, "rec": rec, **parts}

    def augmenter_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Step 2's objective ``Lcl2 + R`` with the encoder held fixed."""
        B = batch["seq"].size(0)
        with torch.no_grad():
            h1, h2 = self.encode(torch.cat([batch["seq1"], batch["seq2"]]),
                                 torch.cat([batch["len1"], batch["len2"]])).split(B)
        parts = self._contrast(h1, h2)
        return {"loss": sum(parts.values()), **parts}

    # ------------------------------------------------------------ optimizing
    def encoder_parameters(self) -> list[nn.Parameter]:
        skip = {id(p) for p in self.augmenter_parameters()}
        return [p for p in self.parameters() if id(p) not in skip]

    def augmenter_parameters(self) -> list[nn.Parameter]:
        return list(self.aug1.parameters()) + list(self.aug2.parameters())

    def configure_optimizers(self, lr: float, weight_decay: float) -> dict[str, torch.optim.Optimizer]:
        if self.joint:
            return {"main": adam(self.parameters(), lr, weight_decay)}
        return {"encoder": adam(self.encoder_parameters(), lr, weight_decay),
                "augmenters": adam(self.augmenter_parameters(), lr, weight_decay)}

    def encoder_step(self, batch: dict[str, torch.Tensor],
                     optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """Steps 1 and 3: update the encoder, augmenters frozen."""
        with _frozen([self.aug1, self.aug2]):
            parts = self.loss(batch)
            check_finite(parts["loss"], "MCLRec encoder loss")
            optimizer.zero_grad(set_to_none=True)
            parts["loss"].backward()
            optimizer.step()
        return {k: v.detach() for k, v in parts.items()}

    def augmenter_step(self, batch: dict[str, torch.Tensor],
                       optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """Step 2: update the two augmenters on ``Lcl2 + R``."""
        parts = self.augmenter_loss(batch)
        check_finite(parts["loss"], "MCLRec augmenter loss")
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        optimizer.step()
        return {k: v.detach() for k, v in parts.items()}

    def train_step(self, batch: dict[str, torch.Tensor],
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        if self.joint:
            return self.joint_step(batch, optimizers["main"])
        first = self.encoder_step(batch, optimizers["encoder"])
        meta = self.augmenter_step(batch, optimizers["augmenters"])
        third = self.encoder_step(batch, optimizers["encoder"])
        return {**first, "aug_loss": meta["loss"], "loss_step3": third["loss"]}

    def joint_step(self, batch: dict[str, torch.Tensor],
                   optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """The joint variant: encoder and augmenters in one step on the step-1 objective."""
        parts = self.loss(batch)
        check_finite(parts["loss"], "MCLRec joint loss")
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        optimizer.step()
        return {k: v.detach() for k, v in parts.items()}


def _crop(seqs, lengths, generator, keep_ratio):
    return crop_sequences(seqs, lengths, keep_ratio, generator)


def _mask(seqs, lengths, generator, ratio):
    return mask_sequences(seqs, lengths, ratio, 0, generator)


def _reorder(seqs, lengths, generator, ratio):
    return reorder_sequences(seqs, lengths, ratio, generator)


MCLREC_DEFAULTS = {**SEQ_DEFAULTS, "lmd": 0.0, "beta": 0.01, "tau": 1.0, "sim": "dot",
                   "reg_weight": 0.1, "crop_ratio": 0.5, "mask_ratio": 0.5, "reorder_ratio": 0.8,
                   "joint": False}

register_method(MethodSpec(
    name="mclrec", kind="seq", build=MCLRec, defaults=MCLREC_DEFAULTS,
    # QinHsiu/MCLRec@bc8d622b1dcf17403bdda00e477ee5df17b128a4 scripts/train_{beauty,sports,yelp}.sh:3
    # (--epochs=100 --hidden_dropout_prob=0.5 --attn_dropout_prob=0.5 train_batch_size=256, the
    # defaults here; seq.yaml: stopping_step 10 on MRR@10, max length 50). The ICLRec files held
    # here are byte-identical to the authors' dataset/*.txt.
    presets={"beauty": {"lmd": 0.0, "beta": 0.05},
             "sports": {"lmd": 0.04, "beta": 0.4},
             "yelp-seq": {"lmd": 0.03, "beta": 0.1},
             # not in the paper: the authors' scripts/train_toys.sh:3 (lmd 0.01, beta 0.1; that
             # script passes --dataset=Amazon_Beauty, evidently a copy slip); no paper number
             "toys": {"lmd": 0.01, "beta": 0.1}},
    description="MCLRec: data + learnable augmenters, meta-optimized contrastive learning",
    paper="Qin et al., Meta-optimized Contrastive Learning for Sequential Recommendation, SIGIR 2023"))
