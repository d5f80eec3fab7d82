"""Base class of the sequential recommenders (next-item prediction).

A :class:`SequentialRecommender` owns a sequence encoder (``backbone``:
``sasrec`` or ``gru4rec``) whose item table doubles as the output layer. The
plain class *is* SASRec / GRU4Rec trained with cross-entropy over all items
(RecBole's ``loss_type: CE``, which MCLRec uses):

    L_rec = −log softmax(h_s · E^T)[target]

with ``h_s = encode(s)`` the last-position representation of the input
prefix ``s`` and ``E`` the item embeddings (the padding row excluded, so the
softmax runs over the ``num_items`` real items; ``ce_padding_class: true`` keeps the
padding row as one more class, as RecBole's CE over its whole item table does: with the row
held at zero it adds e^0 = 1 to every denominator). ``loss_type: bce`` is the SASRec
paper's loss instead (eq. 8, and kang205/SASRec's code): with j⁻ an item the user
has not interacted with in its training part, drawn per example,

    L_rec = −log σ(h_s · e_target) − log(1 − σ(h_s · e_j⁻))

(each term averaged over the batch, as the code's two means).

Training examples (``train_examples``): ``prefixes`` (default) makes every prefix of each
training part one example predicting its next item (RecBole's, which MCLRec and SRA-CL use);
``users`` is kang205/SASRec's: one example per user and epoch, the last ``max_len + 1`` items
``i_1 .. i_m`` of its training part, input ``i_1 .. i_{m-1}``, and the loss read at every
position ``t`` against ``i_{t+1}`` (with ``bce``, one unseen negative drawn per position) and
averaged over all real positions of the batch, as the code's
``Σ istarget · (−log σ(pos) − log(1 − σ(neg))) / Σ istarget``. Only plain SASRec takes
``users`` (the contrastive methods' views are built on prefix examples). Contrastive methods plug in
through three hooks:

* :meth:`augment_batch` adds views to a training batch, drawing from the
  trainer's generator (so a resumed run replays the same views);
* :meth:`extra_losses` returns named, already weighted loss terms added to
  ``L_rec`` (a one-optimizer method needs nothing else);
* :meth:`configure_optimizers` + :meth:`train_step` let a method own several
  optimizers and steps per batch (MCLRec's meta update); the trainer calls
  ``train_step`` instead of its own backward/step when a model defines it.

Scoring for evaluation: :meth:`score` gives ``h_s · E^T`` over items ``1..n``
(column ``j`` is item ``j + 1``) for a batch of input sequences.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from graphcl.config import TRAIN_DEFAULTS
from graphcl.data.sequences import SequenceDataset
from graphcl.losses.softmax_ce import full_softmax_cross_entropy
from graphcl.models.seq.negatives import UnseenItemSampler

BACKBONES = ("sasrec", "gru4rec")
LOSS_TYPES = ("ce", "bce")
TRAIN_EXAMPLES = ("prefixes", "users")

SEQ_DEFAULTS: dict[str, Any] = {
    **TRAIN_DEFAULTS,
    "backbone": "sasrec",
    "max_len": 50,
    "hidden_size": 64,
    "num_layers": 2,          # Transformer blocks (sasrec) or GRU layers (gru4rec)
    "num_heads": 2,           # sasrec
    "inner_size": 256,        # sasrec feed-forward width
    "hidden_dropout": 0.5,    # sasrec hidden dropout; gru4rec embedding dropout
    "attn_dropout": 0.5,      # sasrec
    "layer_norm_eps": 1e-12,  # sasrec
    "init_std": 0.02,         # sasrec
    # sasrec: "end_aligned" (the newest item at the last position row, kang205/SASRec's left
    # padding) or "from_start" (the oldest item at row 0: RecBole's right padding, MCLRec's code)
    "positions": "end_aligned",
    "gru_hidden": 128,        # gru4rec
    "batch_size": 256,
    "epochs": 100,
    "patience": 10,
    "valid_metric": "mrr@10",
    "topk": [5, 10, 20],
    "eval_batch_size": 4096,
    "exclude_history": False,
    # "ce": cross-entropy over all items (RecBole's CE, MCLRec's); "bce": SASRec's paper loss,
    # binary cross-entropy of the target against one unseen item sampled per example
    "loss_type": "ce",
    # true: the padding row (item 0, held at zero) is one more softmax class, as RecBole's CE
    # (the authors' MCLRec code): its logit 0 adds 1 to every denominator
    "ce_padding_class": False,
    # "prefixes": every prefix of a training part is one example (RecBole, MCLRec); "users":
    # one example per user per epoch with the loss at every position (kang205/SASRec; sasrec only)
    "train_examples": "prefixes",
    # hand freed heap memory back to the OS every N training steps (glibc malloc_trim; 0: never).
    # Batches of varying shape (SRA-CL's neighbour sets) fragment glibc's heap so RSS only grows:
    # 1 keeps SRA-CL on ml-100k near 0.8 GiB instead of ~2.2 GiB, at the cost of re-faulting pages
    "malloc_trim_every": 0,
}


def build_sequence_encoder(config: dict[str, Any], num_items: int) -> nn.Module:
    """The backbone named by ``config["backbone"]``."""
    name = str(config["backbone"]).lower()
    if name == "sasrec":
        from graphcl.nn.sasrec import SASRecEncoder
        return SASRecEncoder(num_items, int(config["max_len"]), int(config["hidden_size"]),
                             int(config["num_layers"]), int(config["num_heads"]),
                             int(config["inner_size"]), float(config["hidden_dropout"]),
                             float(config["attn_dropout"]), float(config["layer_norm_eps"]),
                             float(config["init_std"]), str(config.get("positions", "end_aligned")))
    if name == "gru4rec":
        from graphcl.nn.gru4rec import GRU4RecEncoder
        return GRU4RecEncoder(num_items, int(config["max_len"]), int(config["hidden_size"]),
                              int(config["gru_hidden"]), int(config["num_layers"]),
                              float(config["hidden_dropout"]))
    raise ValueError(f"unknown backbone {config['backbone']!r}; choose one of {', '.join(BACKBONES)}")


def full_softmax_ce(h: torch.Tensor, item_embeddings: torch.Tensor, target: torch.Tensor,
                    padding_class: bool = False) -> torch.Tensor:
    """Cross-entropy of ``h · E[1:]^T`` against item ids ``target`` (1-based), or with
    ``padding_class`` of ``h · E^T`` (row 0 one more class) against the ids as labels:

        mean_b [ log Σ_j e^{h_b · e_j} − h_b · e_{target_b} ],

    the log-sum-exp over all items computed blockwise, the table's gradient in one buffer
    (:func:`graphcl.losses.softmax_ce.full_softmax_cross_entropy`), so the B x |I| logits are
    never materialized (faster than ``F.cross_entropy`` on the full logits on CPU:
    ``experiments/results/seq_step_bounds.md``); equal to it to float rounding
    (``tests/test_seq_models.py``)."""
    return full_softmax_cross_entropy(h, item_embeddings, target, first=0 if padding_class else 1)


class SequentialRecommender(nn.Module):
    """SASRec / GRU4Rec with full-softmax cross-entropy, and the hooks above.

    A subclass that fixes its backbone sets the class attribute ``backbone``.
    """

    backbone: str | None = None

    def __init__(self, dataset: SequenceDataset, config: dict[str, Any],
                 device: torch.device | str = "cpu") -> None:
        super().__init__()
        if not isinstance(dataset, SequenceDataset):
            raise TypeError(f"{type(self).__name__} needs a SequenceDataset (e.g. "
                            f"graphcl.data.load('beauty')), got {type(dataset).__name__}")
        self.config = dict(config)
        if self.backbone is not None and str(config["backbone"]).lower() != self.backbone:
            raise ValueError(f"{type(self).__name__} is the {self.backbone} backbone; got "
                             f"backbone={config['backbone']!r} (plug-in methods take a backbone)")
        self.num_items = dataset.num_items
        self.max_len = int(config["max_len"])
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")
        self.device_ = torch.device(device)
        self.dataset = dataset
        ends, starts = dataset.train_targets()
        if ends.numel() == 0:
            raise ValueError(f"{dataset.name}: no training examples (every training part has "
                             f"fewer than 2 items)")
        self._ends, self._starts = ends.to(self.device_), starts.to(self.device_)
        users = torch.searchsorted(dataset.offsets, ends, right=True) - 1
        self._users = users.to(self.device_)
        self.encoder = build_sequence_encoder(self.config, self.num_items)
        self.loss_type = str(config.get("loss_type", "ce"))
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {self.loss_type!r}")
        self.negatives = UnseenItemSampler(dataset, self.device_) if self.loss_type == "bce" else None
        self.ce_padding_class = config.get("ce_padding_class", False)
        if not isinstance(self.ce_padding_class, bool):
            raise ValueError(f"ce_padding_class must be true or false, got {self.ce_padding_class!r}")
        self.train_examples = str(config.get("train_examples", "prefixes"))
        if self.train_examples not in TRAIN_EXAMPLES:
            raise ValueError(f"train_examples must be one of {', '.join(TRAIN_EXAMPLES)}, "
                             f"got {self.train_examples!r}")
        if self.train_examples == "users":
            self._check_user_examples()
            lengths = dataset.train_lengths()
            keep = torch.nonzero(lengths >= 2).reshape(-1)      # a user with one item predicts nothing
            self._users = keep.to(self.device_)
            self._starts = dataset.offsets[keep].to(self.device_)
            self._ends = (dataset.offsets[keep] + lengths[keep] - 1).to(self.device_)

    def _check_user_examples(self) -> None:
        """``train_examples: users`` needs the sasrec encoder's per-position outputs and no
        plug-in hook (views, extra losses and meta steps are defined on prefix examples)."""
        if str(self.config["backbone"]).lower() != "sasrec":
            raise ValueError(f"train_examples=users needs backbone=sasrec, got {self.config['backbone']!r}")
        base = SequentialRecommender
        hooks = [name for name in ("augment_batch", "extra_losses", "train_step")
                 if getattr(type(self), name, None) is not getattr(base, name, None)]
        if hooks:
            raise ValueError(f"train_examples=users is SASRec's own training; {type(self).__name__} "
                             f"defines {', '.join(hooks)} on prefix examples (use prefixes)")

    # --------------------------------------------------------------- encoder
    @property
    def item_embeddings(self) -> torch.Tensor:
        """The ``(num_items + 1, d)`` item table (row 0: padding)."""
        return self.encoder.item_embedding.weight

    def encode(self, seqs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Last-position representation ``(B, d)`` of left-padded sequences."""
        return self.encoder.encode(seqs, lengths)

    def rec_loss(self, h: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """L_rec of the module docstring (``loss_type`` ce or bce) for the encodings ``h`` of
        ``batch`` (its ``target``, and its ``neg`` for bce)."""
        if self.loss_type == "ce":
            # ce_padding_class: classes 0..n, item ids as labels
            return full_softmax_ce(h, self.item_embeddings, batch["target"], self.ce_padding_class)
        table = self.item_embeddings
        positive = (h * table[batch["target"]]).sum(-1)
        negative = (h * table[batch["neg"]]).sum(-1)
        return F.softplus(-positive).mean() + F.softplus(negative).mean()

    # --------------------------------------------------------------- batches
    def num_batches(self) -> int:
        b = int(self.config["batch_size"])
        n = self._ends.numel()
        return max(1, n // b + (1 if n % b > 1 else 0))

    def batches(self, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """One shuffled epoch over the training examples. ``train_examples: users``: dicts with
        ``seq`` (B, L), ``len`` (B,), ``targets`` (B, L) (the next item at each position, 0
        where the input is padding), ``user`` (B,) and, for bce, ``neg`` (B, L). Prefixes: dicts with ``seq`` (B, L),
        ``len`` (B,), ``target`` (B,) item ids, ``user`` (B,), ``end`` (B,) (the
        target's position in ``dataset.items``: it names the prefix) and ``example`` (B,)
        the example's row in :meth:`SequenceDataset.train_targets`, plus what
        :meth:`augment_batch` adds.
        A last batch of one example joins the previous batch (contrastive losses
        need two rows)."""
        n, b = self._ends.numel(), int(self.config["batch_size"])
        perm = torch.randperm(n, generator=generator, device=generator.device).to(self.device_)
        bounds = list(range(0, n, b)) + [n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            bounds.pop(-2)
        for lo, hi in itertools.pairwise(bounds):
            idx = perm[lo:hi]
            if self.train_examples == "users":
                yield self._user_batch(idx, generator)
                continue
            ends = self._ends[idx]
            seqs, lengths = self.dataset.windows(ends, self._starts[idx], self.max_len)
            batch = {"seq": seqs, "len": lengths, "target": self.dataset.items_on(ends.device)[ends],
                     "user": self._users[idx], "end": ends,
                     "example": idx}  # rows of train_targets() (SRA-CL maps them to its units)
            if self.negatives is not None:
                batch["neg"] = self.negatives.sample(batch["user"], generator)
            yield self.augment_batch(batch, generator)

    def _user_batch(self, idx: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The ``users`` batch of the users at rows ``idx``: input ``i_1 .. i_{m-1}`` and
        targets ``i_2 .. i_m`` as two left-padded windows aligned on their last column."""
        ends, starts, users = self._ends[idx], self._starts[idx], self._users[idx]
        seqs, lengths = self.dataset.windows(ends, starts, self.max_len)
        targets, _ = self.dataset.windows(ends + 1, starts + 1, self.max_len)
        batch = {"seq": seqs, "len": lengths, "targets": targets, "user": users}
        if self.negatives is not None:
            real = targets != 0
            neg = torch.zeros_like(targets)
            neg[real] = self.negatives.sample(users.unsqueeze(1).expand_as(targets)[real], generator)
            batch["neg"] = neg
        return batch

    def augment_batch(self, batch: dict[str, torch.Tensor],
                      generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Hook: add augmented views to a training batch (default: none)."""
        return batch

    # ------------------------------------------------------------------ loss
    def extra_losses(self, batch: dict[str, torch.Tensor],
                     h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Hook: named extra loss terms, already weighted, added to ``L_rec``
        (``h`` is the encoding of ``batch["seq"]``)."""
        return {}

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "targets" in batch:      # train_examples: users, the loss at every position
            h, index = self.encoder.encode_positions(batch["seq"], batch["len"])
            at = {"target": batch["targets"].reshape(-1)[index]}
            if "neg" in batch:
                at["neg"] = batch["neg"].reshape(-1)[index]
            rec = self.rec_loss(h, at)
            return {"loss": rec, "rec": rec}
        h = self.encode(batch["seq"], batch["len"])
        rec = self.rec_loss(h, batch)
        extra = self.extra_losses(batch, h)
        total = rec + sum(extra.values()) if extra else rec
        return {"loss": total, "rec": rec, **extra}

    # --------------------------------------------------------------- scoring
    @torch.no_grad()
    def score(self, seqs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, num_items)`` scores; column ``j`` is item ``j + 1``."""
        return self.encode(seqs, lengths) @ self.item_embeddings[1:].T

    @torch.no_grad()
    def encode_all(self, seqs: torch.Tensor, lengths: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """:meth:`encode` of every row, ``batch_size`` rows at a time (bounded memory)."""
        parts = [self.encode(seqs[i:i + batch_size], lengths[i:i + batch_size])
                 for i in range(0, seqs.size(0), batch_size)]
        return torch.cat(parts) if parts else self.item_embeddings.new_zeros(0, self.item_embeddings.size(1))

    def scores_are_dot_products(self) -> bool:
        """True when :meth:`score` is ``encode(s) · E[1:]ᵀ`` (not overridden), so the evaluator
        may rank ``encode_all`` against ``item_embeddings[1:]`` blockwise."""
        return type(self).score is SequentialRecommender.score


def check_finite(loss: torch.Tensor, what: str) -> None:
    """Raise ``FloatingPointError`` (the trainer reports it as divergence) on NaN/inf."""
    if not bool(torch.isfinite(loss)):
        raise FloatingPointError(f"{what} is {float(loss)}")
