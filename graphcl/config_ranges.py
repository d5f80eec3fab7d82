"""The valid range of every numeric configuration key.

A value outside its range is a :class:`graphcl.config.ConfigError` naming the key, the
value and the range, raised when the configuration is merged, before any data is read
or any model is built: ``epochs: 0`` would otherwise print an untrained model's metrics,
``batch_size: 0`` would end in a ``ZeroDivisionError``. Every numeric key a registered
method declares must have a range here (a test checks that); a method whose key means
something else than the shared meaning passes its own :class:`Range` through
``MethodSpec.ranges``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from graphcl.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """``low <= value <= high`` (``<`` where the bound is open); ``None``: unbounded.

    A list value (``topk``, ``hidden_dims``, ``adj_mask`` ...) is checked element by
    element; ``min_items`` bounds its length.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    min_items: int = 0
    integer: bool = False
    meaning: str = ""

    def describe(self) -> str:
        lo = "(-inf" if self.low is None else ("(" if self.low_open else "[") + _num(self.low)
        hi = "inf)" if self.high is None else _num(self.high) + (")" if self.high_open else "]")
        return f"{lo}, {hi}"

    def admits(self, value: float) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        if self.integer and int(value) != value:
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


POSITIVE_INT = Range(1, integer=True)
NONNEGATIVE_INT = Range(0, integer=True)
POSITIVE = Range(0, low_open=True)
NONNEGATIVE = Range(0)
FINITE_POSITIVE = Range(0, 1e6, low_open=True)
PROBABILITY = Range(0, 1, high_open=True, meaning="a drop/mask probability")
FRACTION = Range(0, 1)
OPEN_FRACTION = Range(0, 1, low_open=True, high_open=True)
SEED = Range(0, 2**63 - 1, integer=True)

# key -> range, shared by every method that uses the key
RANGES: dict[str, Range] = {
    # training loop
    "epochs": POSITIVE_INT, "lr": NONNEGATIVE, "weight_decay": NONNEGATIVE,
    "batch_size": POSITIVE_INT, "eval_batch_size": POSITIVE_INT, "eval_every": NONNEGATIVE_INT,
    "patience": POSITIVE_INT, "loss_patience": NONNEGATIVE_INT, "seed": SEED,
    "topk": Range(1, integer=True, min_items=1), "malloc_trim_every": NONNEGATIVE_INT,
    "batches_per_epoch": NONNEGATIVE_INT, "divergence_factor": NONNEGATIVE, "minibatch_size": NONNEGATIVE_INT,
    # sizes
    "embedding_dim": POSITIVE_INT, "embed_dim": POSITIVE_INT, "hidden_dim": POSITIVE_INT,
    "hidden_size": POSITIVE_INT, "inner_size": POSITIVE_INT, "gru_hidden": POSITIVE_INT,
    "proj_dim": POSITIVE_INT, "gate_hidden": POSITIVE_INT, "weight_hidden": POSITIVE_INT,
    "n_z": POSITIVE_INT, "hidden_dims": Range(1, integer=True, min_items=1),
    "num_layers": POSITIVE_INT, "num_heads": POSITIVE_INT, "num_intents": POSITIVE_INT,
    "cl_layer": POSITIVE_INT, "hyper_layers": POSITIVE_INT, "num_clusters": POSITIVE_INT,
    "warm_up": NONNEGATIVE_INT, "m_step": POSITIVE_INT, "ssl_temp": FINITE_POSITIVE, "proto_reg": NONNEGATIVE,
    "max_len": POSITIVE_INT, "svd_rank": POSITIVE_INT, "svd_niter": NONNEGATIVE_INT,
    "fallback_rank": POSITIVE_INT, "k": POSITIVE_INT, "user_history": POSITIVE_INT,
    "cluster_counts": Range(1, integer=True), "n_clusters": NONNEGATIVE_INT,
    "order": POSITIVE_INT, "nei_max": NONNEGATIVE_INT,
    "num_neighbors": Range(-1, integer=True, meaning="neighbours per layer (-1: all)"),
    # block sizes (0: automatic / dense)
    "cl_block_size": NONNEGATIVE_INT, "loss_block_size": NONNEGATIVE_INT, "cl_keep_mb": NONNEGATIVE,
    "weight_block_size": NONNEGATIVE_INT, "retrieval_block_size": POSITIVE_INT,
    # repetitions and iterations
    "cluster_seeds": POSITIVE_INT, "kmeans_seeds": POSITIVE_INT, "kmeans_restarts": POSITIVE_INT,
    "kmeans_init_n": POSITIVE_INT, "kmeans_iters": POSITIVE_INT, "probe_seeds": POSITIVE_INT,
    "probe_epochs": POSITIVE_INT, "pretrain_epochs": NONNEGATIVE_INT,
    "pretrain_batch_size": POSITIVE_INT, "pretrain_lr": FINITE_POSITIVE, "probe_lr": FINITE_POSITIVE,
    "t0": NONNEGATIVE_INT,
    # probabilities and ratios
    "dropout": PROBABILITY, "att_dropout": PROBABILITY, "attn_dropout": PROBABILITY,
    "hidden_dropout": PROBABILITY, "edge_dropout": PROBABILITY, "feat_mask": PROBABILITY,
    "adj_mask": PROBABILITY, "p_e1": PROBABILITY, "p_e2": PROBABILITY, "p_f1": PROBABILITY,
    "p_f2": PROBABILITY, "mask_ratio": PROBABILITY, "substitute_prob": FRACTION,
    "p_add": FRACTION, "p_del": FRACTION, "reorder_ratio": FRACTION,
    "crop_ratio": Range(0, 1, low_open=True), "probe_train_ratio": OPEN_FRACTION,
    "probe_val_ratio": OPEN_FRACTION, "gamma_max": NONNEGATIVE,
    "ced_threshold": POSITIVE, "cav_threshold": POSITIVE,
    # temperatures and scales
    "tau": FINITE_POSITIVE, "temperature": FINITE_POSITIVE, "gate_tau": FINITE_POSITIVE,
    "dof": FINITE_POSITIVE, "init_std": FINITE_POSITIVE, "layer_norm_eps": POSITIVE,
    "cl_pos_clamp": POSITIVE,
    # loss weights
    "cl_weight": NONNEGATIVE, "cs_weight": NONNEGATIVE, "is_weight": NONNEGATIVE,
    "reg_weight": NONNEGATIVE, "ssl_reg": NONNEGATIVE, "cen_reg": NONNEGATIVE,
    "emb_reg": NONNEGATIVE, "lam_proto": NONNEGATIVE, "lmd": NONNEGATIVE, "beta": NONNEGATIVE,
    "alpha": NONNEGATIVE, "reconstruction_weight": NONNEGATIVE,
    # LLM prompting
    "decision_max_tokens": POSITIVE_INT, "max_new_tokens": POSITIVE_INT,
    "summary_max_tokens": POSITIVE_INT, "max_edits": NONNEGATIVE_INT, "k_add": NONNEGATIVE_INT,
    "k_del": NONNEGATIVE_INT, "max_neighbor_chars": POSITIVE_INT, "max_text_chars": POSITIVE_INT,
    "min_degree_delete": NONNEGATIVE_INT, "llm_threads": POSITIVE_INT,
}


def is_numeric_default(value: Any) -> bool:
    """Whether a default is a number or a list of numbers (the keys that need a range)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, (list, tuple)) and any(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


#: key -> the names it accepts, for the shared keys whose value is one of a few names
CHOICES: dict[str, tuple[str, ...]] = {
    "precision": ("fp32", "bf16"),   # graphcl.precision
    "loss_patience_keep": ("last", "lowest"),   # graphcl.train.trainer (a loss_patience stop)
}


def check_ranges(config: Mapping[str, Any], method: str,
                 overrides: Mapping[str, Range] | None = None) -> None:
    """Raise :class:`graphcl.errors.ConfigError` for the first value outside its range (or,
    for a key of :data:`CHOICES`, not one of its names)."""
    for key, names in CHOICES.items():
        if key in config and config[key] not in names:
            raise ConfigError(f"{method}: config key '{key}' must be one of {', '.join(names)}, "
                              f"got {config[key]!r}")
    table = {**RANGES, **(overrides or {})}
    for key, value in config.items():
        rng = table.get(key)
        if rng is None or value is None or isinstance(value, (str, bool)):
            continue
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, (list, tuple)) and len(values) < rng.min_items:
            raise ConfigError(f"{method}: config key '{key}' needs at least {rng.min_items} value(s), "
                              f"got {value!r}")
        for v in values:
            if isinstance(v, str):  # a list mixing numbers and names (e.g. modalities)
                continue
            if not rng.admits(v):
                kind = "an integer in " if rng.integer else ""
                what = f" ({rng.meaning})" if rng.meaning else ""
                raise ConfigError(f"{method}: config key '{key}' must be {kind}{rng.describe()}{what}, "
                                  f"got {v!r}")
