"""SRA-CL: semantic retrieval augmented contrastive learning for sequential
recommendation (Cui et al., NeurIPS 2025; authors' code ziqiangcui/SRA-CL).

A plug-in for any sequential backbone (``backbone=sasrec|gru4rec``; encoder
``f``, last-position representation ``h = f(s)``). Before training
(:mod:`graphcl.models.seq.sracl_semantics`): an LLM writes a preference
summary per unit (a user, or a training prefix with ``summary_level=prefix``)
and a summary per item; a sentence encoder embeds them (``s_u``, ``s_i``); cosine
top-``k`` retrieval (k 10, self excluded, blockwise) gives each unit its
semantic neighbours ``u_1..u_k`` and each item its neighbours. Per batch:

* cross-sequence positive (eq. 4-5): ``h+ = Σ_k p_k f(s_{u_k})`` with
  ``p = softmax_k(LeakyReLU_0.2(a^T [W s_u || W s_{u_k}]))`` and dropout 0.5 on
  ``p`` (as the authors' ``F.dropout``, which rescales the kept weights by 2);
  ``L_CS = NT-Xent(h, h+)``. ``s_{u_k}`` is the neighbour unit's sequence (user
  level: its training part; prefix level: that prefix), its last ``max_len`` items;
* intra-sequence views: each item replaced with probability 0.2 by a random one
  of its ``k`` semantic neighbours, twice; ``L_IS = NT-Xent(f(s'), f(s''))``;
* ``L = CE + α L_CS + β L_IS`` (α = ``cs_weight`` 0.1, β = ``is_weight`` 0.1),
  NT-Xent with dot similarity and τ 1 (2(B−1) in-batch negatives).

Differences from the authors' code: one summary per user by default (theirs:
per prefix, ``summary_level=prefix`` here); the item prompt has title and
attributes only (theirs adds a few sequences ending at the item); the batch
and its two views and the neighbour sequences run as one concatenated encoder
call, and the anchor's ``h`` serves both CE and ``L_CS`` (theirs encodes the
anchor twice, with two dropout draws); with ``dedupe_neighbors`` (default) a
neighbour unit that appears several times in a batch is encoded once (the same
function; its dropout draw is shared). ``semantics=fallback-cooccurrence``
replaces the LLM semantics by SVD co-occurrence vectors: that is *not* SRA-CL.

Semantic settings: ``summaries`` (a JSONL file of precomputed summaries; no LLM
then), ``item_text`` (a side file of item texts for datasets without text, e.g.
the ICLRec Beauty/Sports/Toys/Yelp files), ``llm`` (a :func:`graphcl.llm.make_generator`
spec; "default": the embedded Gemma-3-270M via llama.cpp on ``llm_threads``
threads), ``llm_cache`` (response-cache file; "" = ``$GRAPHCL_CACHE`` or
``~/.cache/graphcl``), ``llm_offline`` (refuse any uncached prompt),
``text_encoder``.
"""
from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from graphcl.augment.sequence import substitute_sequences
from graphcl.data.sequences import SequenceDataset
from graphcl.llm.summaries import SummarySettings, read_summaries_jsonl
from graphcl.losses.ntxent import nt_xent
from graphcl.models.seq.base import SEQ_DEFAULTS, SequentialRecommender
from graphcl.models.seq.sracl_semantics import (
    SEMANTICS,
    Semantics,
    build_semantics,
    generate_summaries,
    semantic_units,
    summaries_from_file,
)
from graphcl.registry import MethodSpec, register_method

__all__ = [
    "SRACL",
    "SRACL_DEFAULTS",
    "SemanticAttention",
    "make_llm",
    "prepare_semantics",
    "summary_settings",
]


class SemanticAttention(nn.Module):
    """``p = softmax_k(LeakyReLU_0.2(a^T [W s_u || W s_{u_k}]))`` over the ``k``
    neighbours, then dropout on ``p`` (training only). ``W``: ``(d_s, d)``, ``a``:
    ``(2d, 1)``, both Xavier-uniform with gain 1.414 (the GAT initialization the
    authors follow)."""

    def __init__(self, semantic_dim: int, hidden: int, dropout: float = 0.5,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"attention dropout must be in [0, 1), got {dropout}")
        self.W = nn.Parameter(torch.empty(semantic_dim, hidden))
        self.a = nn.Parameter(torch.empty(2 * hidden, 1))
        nn.init.xavier_uniform_(self.W, gain=1.414)
        nn.init.xavier_uniform_(self.a, gain=1.414)
        self.hidden, self.dropout, self.negative_slope = hidden, float(dropout), float(negative_slope)

    def weights(self, s_u: torch.Tensor, s_nb: torch.Tensor) -> torch.Tensor:
        """``(B, k)`` weights from ``s_u`` ``(B, d_s)`` and ``s_nb`` ``(B, k, d_s)``;
        ``a^T [x || y] = a_1^T x + a_2^T y``, so ``W s_u`` is computed once per row."""
        a1, a2 = self.a[:self.hidden, 0], self.a[self.hidden:, 0]
        e = (s_u @ self.W @ a1).unsqueeze(1) + (s_nb @ self.W) @ a2
        p = torch.softmax(F.leaky_relu(e, self.negative_slope), dim=1)
        return F.dropout(p, self.dropout, self.training)

    def forward(self, s_u: torch.Tensor, s_nb: torch.Tensor, h_nb: torch.Tensor) -> torch.Tensor:
        """``h+ = Σ_k p_k h_nb[:, k]`` for neighbour representations ``h_nb`` ``(B, k, d)``."""
        return (self.weights(s_u, s_nb).unsqueeze(-1) * h_nb).sum(1)


def summary_settings(config: dict[str, Any]) -> SummarySettings:
    return SummarySettings(user_history=int(config["user_history"]),
                           max_tokens=int(config["summary_max_tokens"]),
                           level=str(config["summary_level"]))


def make_llm(config: dict[str, Any]) -> Any:
    """The cached generator of a config (``llm``, ``llm_cache``, ``llm_offline``, ``llm_threads``)."""
    from graphcl.llm import cached_generator
    spec = config["llm"]
    spec = None if spec in (None, "", "default") else spec
    kw = {"n_threads": int(config["llm_threads"])} if spec is None or str(spec).startswith("llama-cpp") else {}
    return cached_generator(spec, cache=config["llm_cache"] or None, offline=bool(config["llm_offline"]),
                            desc="SRA-CL LLM calls", **kw)


def prepare_semantics(dataset: SequenceDataset, config: dict[str, Any], *, llm: Any = None,
                      encoder: Any = None) -> Semantics:
    """Units, summaries (LLM, file, or the fallback), embeddings and neighbours of a config."""
    mode = str(config["semantics"])
    if mode not in SEMANTICS:
        raise ValueError(f"semantics must be one of {', '.join(SEMANTICS)}, got {mode!r}")
    settings = summary_settings(config)
    units = semantic_units(dataset, settings.level)
    k, block = int(config["k"]), int(config["retrieval_block_size"])
    if mode != "llm":
        if config["summaries"]:
            raise ValueError("summaries= is LLM semantics; it cannot be combined with "
                             f"semantics={mode}")
        return build_semantics(dataset, units, k=k, fallback_rank=int(config["fallback_rank"]),
                               block_size=block, stats={"source": mode})
    if encoder is None:
        from graphcl.llm import TextEncoder
        encoder = TextEncoder(str(config["text_encoder"]))
    if config["summaries"]:
        path = str(config["summaries"])
        unit_texts, item_texts = summaries_from_file(dataset, units, read_summaries_jsonl(path), path)
        stats: dict[str, Any] = {"source": path, "llm_calls": 0}
        source = f"precomputed summaries from {path}"
    else:
        from graphcl.data.item_text import sequence_item_texts
        item_text = sequence_item_texts(dataset, config["item_text"] or None)
        if llm is None:
            llm = make_llm(config)
        summaries, stats = generate_summaries(dataset, units, item_text, llm, settings)
        stats["source"] = f"llm {getattr(llm, 'backend', '?')}:{getattr(llm, 'model', '?')}"
        source = "llm summaries"
        table = summaries.prefixes if units.level == "prefix" else summaries.users
        unit_texts = [table[key] for key in units.keys]
        tokens = dataset.item_tokens or [str(i) for i in range(1, dataset.num_items + 1)]
        item_texts = [summaries.items[t] for t in tokens]
    return build_semantics(dataset, units, k=k, unit_texts=unit_texts, item_texts=item_texts,
                           encoder=encoder, block_size=block, stats=stats, text_source=source)


class SRACL(SequentialRecommender):
    """SRA-CL on a sequence backbone; see the module docstring. ``llm`` / ``encoder``
    override the configured generator / text encoder (tests, notebooks)."""

    def __init__(self, dataset: SequenceDataset, config: dict[str, Any], device: torch.device | str = "cpu",
                 llm: Any = None, encoder: Any = None) -> None:
        super().__init__(dataset, config, device)
        c = self.config
        if str(c["sim"]) not in ("dot", "cos"):
            raise ValueError(f"sim must be 'dot' or 'cos', got {c['sim']!r}")
        if not 0.0 <= float(c["substitute_prob"]) <= 1.0:
            raise ValueError(f"substitute_prob must be in [0, 1], got {c['substitute_prob']}")
        self.cs_weight, self.is_weight = float(c["cs_weight"]), float(c["is_weight"])
        self.tau, self.sim, self.sub_p = float(c["tau"]), str(c["sim"]), float(c["substitute_prob"])
        self.dedupe = bool(c["dedupe_neighbors"])
        t0 = time.perf_counter()
        sem = prepare_semantics(dataset, c, llm=llm, encoder=encoder)
        sem.stats["setup_seconds"] = time.perf_counter() - t0
        self.semantics_kind, self.semantics_stats = sem.kind, sem.stats
        s = sem.stats
        calls = f", {s['llm_calls']} LLM calls, {s.get('cache_hits', 0)} cache hits" if "llm_calls" in s else ""
        print(f"SRA-CL semantics: {sem.kind}; {len(sem.units)} {sem.units.level} units, "
              f"{dataset.num_items} items, k={sem.unit_neighbors.size(1)}{calls}; "
              f"{sem.stats['setup_seconds']:.1f} s", flush=True)
        dev = self.device_
        self.register_buffer("unit_emb", sem.unit_emb.float().to(dev), persistent=False)
        self.register_buffer("unit_neighbors", sem.unit_neighbors.to(dev), persistent=False)
        self.register_buffer("item_neighbors", sem.item_neighbors.to(dev), persistent=False)
        self.register_buffer("unit_starts", sem.units.starts.to(dev), persistent=False)
        self.register_buffer("unit_ends", sem.units.ends.to(dev), persistent=False)
        self.register_buffer("example_unit", sem.units.example_unit.to(dev), persistent=False)
        self.attention = SemanticAttention(sem.unit_emb.size(1), int(c["hidden_size"]),
                                           float(c["att_dropout"]))

    # ----------------------------------------------------------------- views
    def augment_batch(self, batch: dict[str, torch.Tensor],
                      generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """Adds the two substitution views and the neighbour units' sequences."""
        if "example" not in batch:
            raise ValueError("SRA-CL batches need 'example' (the row of each example in "
                             "dataset.train_targets()) to find its semantic unit")
        out = dict(batch)
        if self.is_weight:
            for v in ("1", "2"):
                out["seq" + v], out["len" + v] = substitute_sequences(
                    batch["seq"], batch["len"], self.sub_p, self.item_neighbors, generator)
        if self.cs_weight:
            unit = self.example_unit[batch["example"]]
            nbr = self.unit_neighbors[unit]
            if self.dedupe:
                uniq, index = torch.unique(nbr, return_inverse=True)
            else:
                uniq, index = nbr.reshape(-1), torch.arange(nbr.numel(), device=nbr.device).view_as(nbr)
            out["nbr_seq"], out["nbr_len"] = self.dataset.windows(self.unit_ends[uniq],
                                                                  self.unit_starts[uniq], self.max_len)
            out["unit"], out["nbr"], out["nbr_index"] = unit, nbr, index
        return out

    # ------------------------------------------------------------------ loss
    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if ("seq1" not in batch and self.is_weight) or ("nbr" not in batch and self.cs_weight):
            batch = self.augment_batch(batch, None)
        B = batch["seq"].size(0)
        parts = [(batch["seq"], batch["len"])]
        if self.is_weight:
            parts += [(batch["seq1"], batch["len1"]), (batch["seq2"], batch["len2"])]
        if self.cs_weight:
            parts.append((batch["nbr_seq"], batch["nbr_len"]))
        out = self.encode(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
        h = out[:B]
        rec = self.rec_loss(h, batch)
        terms: dict[str, torch.Tensor] = {}
        total = rec
        if self.is_weight:
            terms["is"] = nt_xent(out[B:2 * B], out[2 * B:3 * B], self.tau, self.sim)
            total = total + self.is_weight * terms["is"]
        if self.cs_weight:
            h_nb = out[(3 if self.is_weight else 1) * B:][batch["nbr_index"]]     # (B, k, d)
            h_pos = self.attention(self.unit_emb[batch["unit"]], self.unit_emb[batch["nbr"]], h_nb)
            terms["cs"] = nt_xent(h, h_pos, self.tau, self.sim)
            total = total + self.cs_weight * terms["cs"]
        return {"loss": total, "rec": rec, **terms}


SRACL_DEFAULTS: dict[str, Any] = {
    **SEQ_DEFAULTS,
    "backbone": "sasrec", "max_len": 20,            # the paper's protocol: max length 20
    "cs_weight": 0.1, "is_weight": 0.1, "tau": 1.0, "sim": "dot",
    "k": 10, "substitute_prob": 0.2, "att_dropout": 0.5, "dedupe_neighbors": True,
    # semantics
    "semantics": "llm", "summaries": "", "item_text": "", "summary_level": "user",
    "user_history": 15, "summary_max_tokens": 48,
    "llm": "default", "llm_cache": "", "llm_offline": False, "llm_threads": 1,
    "text_encoder": "all-MiniLM-L6-v2", "retrieval_block_size": 1024, "fallback_rank": 64,
}

# The authors' settings, one set for every dataset: ziqiangcui/SRA-CL@301353d9f72e1ec232e64af28a68ac289d86daae
# recommender_code/train.sh:2 (--maxlen=20 --alpha=0.1 --beta=0.1 --k_num=10) and main.py:28-60
# (batch 256, lr 1e-3, d 64, ffn 256, 100 epochs, 2 heads, 2 layers, dropout 0.5/0.5, early stop
# 10 on valid MRR@10, temperature 1); utils.py:41 (substitution probability 0.2); model.py:32,176
# (LeakyReLU 0.2, attention dropout 0.5); one summary per training prefix (their notebooks'
# "seq slide augmentation": summary_level prefix; "user" is our cheaper default). The ICLRec
# Beauty and Sports files held here have the same counts as their notebooks' (22,363 / 12,101 /
# 198,502 and 35,598 / 18,357 / 296,337); their Yelp is a different cut (2019-2020 reviews,
# 5-core, ~208k interactions) from ICLRec's yelp-seq. None of the item texts their LLM stage
# needs are held (set item_text=FILE, or summaries=FILE).
_SRACL_AUTHORS: dict[str, Any] = {
    "max_len": 20, "cs_weight": 0.1, "is_weight": 0.1, "k": 10, "tau": 1.0, "substitute_prob": 0.2,
    "att_dropout": 0.5, "hidden_size": 64, "inner_size": 256, "num_layers": 2, "num_heads": 2,
    "hidden_dropout": 0.5, "attn_dropout": 0.5, "lr": 1e-3, "batch_size": 256, "epochs": 100,
    "patience": 10, "valid_metric": "mrr@10", "summary_level": "prefix",
}
SRACL_PRESETS: dict[str, dict[str, Any]] = {
    name: dict(_SRACL_AUTHORS) for name in ("beauty", "sports", "yelp-seq")}

register_method(MethodSpec(
    name="sracl", kind="seq", build=SRACL, defaults=SRACL_DEFAULTS, presets=SRACL_PRESETS,
    description="SRA-CL: LLM-summary semantic retrieval for cross-sequence positives and "
                "semantic item substitution (plug-in for sasrec/gru4rec)",
    paper="Cui et al., Semantic Retrieval Augmented Contrastive Learning for Sequential "
          "Recommendation, NeurIPS 2025"))
