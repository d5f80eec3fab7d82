"""GAugLLM (Fang et al., KDD 2024): LLM-made feature and structure views of a
text-attributed graph.

:func:`generate_augmentation` runs the LLM once per graph, through a
:class:`graphcl.llm.CachedGenerator` (every answer is cached as soon as its
batch returns, so a killed run resumes with only the missing calls, and a
re-run makes none):

* the three generated prompt experts IDR, SAS, SAR of every node
  (:mod:`graphcl.gaugllm.prompt_experts`), embedded with the text encoder next to
  the original text (ORI) and to the context prompt of each (expert, degree
  bucket);
* the yes/no decisions on the edge candidates
  (:mod:`graphcl.gaugllm.edge_modifier`).

:class:`GAugLLM` is the standalone transform: a new ``Data`` whose ``x`` is the
gated mix of the expert embeddings (:class:`graphcl.gaugllm.expert_gate.ExpertGate`,
here with the prompt-aware score only, or a trained gate passed in) and whose
edges carry a fresh random draw of the approved edits. The GRACE plug-in, which
trains the gate, is :mod:`graphcl.gaugllm.model`.

An expert's text is the answer prime of the completion prompt followed by the
model's answer, with repeated sentences dropped
(:func:`graphcl.llm.answers.tidy_answer`); expert answers stop at the
first line break. An empty answer is replaced by the node's original text (the
expert then adds nothing for that node); the number of such answers is
reported in ``stats["empty_answers"]``.
"""
from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch_geometric.data import Data

from graphcl.augment.base import Augmenter, check_probability
from graphcl.llm.answers import tidy_answer

from .edge_modifier import (
    EdgeCandidates,
    apply_edge_edits,
    common_neighbor_counts,
    decision_prompts,
    edge_candidates,
    parse_decision,
)
from .expert_gate import ExpertGate
from .prompt_experts import (
    BUCKETS,
    EXPERTS,
    GENERATED_EXPERTS,
    PromptSettings,
    answer_primes,
    context_texts,
    degree_buckets,
    expert_prompts,
    node_kind_for,
    top_similar_neighbors,
    undirected_degree,
)

__all__ = [
    "GAugLLM",
    "GAugLLMAugmentation",
    "GAugLLMSettings",
    "generate_augmentation",
    "graph_texts",
]


@dataclass(frozen=True)
class GAugLLMSettings:
    """Generation settings (defaults: the task's CPU budget; see the module docs).

    ``p_add`` / ``p_del``: the training edit rates; nodes that can never be edited
    at these rates get no edge candidates (see :func:`edge_candidates`); None: no
    such limit.
    ``node_kind`` / ``categories``: None derive them from the graph (its
    ``name`` and ``label_names``); ``use_categories=False`` offers no category
    names to the reasoning experts.
    """
    max_tokens: int = 64
    decision_max_tokens: int = 3
    k_add: int = 3
    k_del: int = 3
    min_degree_delete: int = 5
    max_edits: int = 10
    p_add: float | None = 0.5
    p_del: float | None = 0.5
    tail_quantile: float = 0.4
    head_quantile: float = 0.8
    max_text_chars: int = 800
    max_neighbor_chars: int = 200
    num_neighbors: int = 3
    node_kind: str | None = None
    categories: tuple[str, ...] | None = None
    use_categories: bool = True

    def prompt_settings(self, data: Any) -> PromptSettings:
        kind = self.node_kind or node_kind_for(getattr(data, "name", None))
        cats: tuple[str, ...] = ()
        if self.use_categories:
            cats = tuple(self.categories if self.categories is not None
                         else getattr(data, "label_names", None) or ())
        return PromptSettings(kind, cats, self.max_text_chars, self.max_neighbor_chars, self.num_neighbors)


@dataclass
class GAugLLMAugmentation:
    """Everything GAugLLM derives from the LLM for one graph (CPU tensors).

    ``expert_emb`` / ``context_emb``: ``(N, K, d)`` in the order of ``experts``;
    ``add_ok`` / ``del_ok``: approvals aligned with ``candidates``;
    ``decisions``: ``(P,)`` int8 per candidate pair (1 yes, 0 no, -1 undecided), in the
    order of ``candidates.pairs()``; ``prompts`` / ``answers``: the raw LLM inputs and
    outputs per expert and for the edge decisions (key ``"decision"``).
    """
    experts: tuple[str, ...]
    texts: dict[str, list[str]]
    expert_emb: torch.Tensor
    context_emb: torch.Tensor
    degree: torch.Tensor
    bucket: torch.Tensor
    candidates: EdgeCandidates
    add_ok: torch.Tensor
    del_ok: torch.Tensor
    decisions: torch.Tensor
    stats: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, list[str]] = field(default_factory=dict)


def graph_texts(data: Any) -> list[str]:
    """``data.text`` as a list of N strings, or a clear error."""
    texts = getattr(data, "text", None)
    if texts is None:
        raise ValueError("GAugLLM needs node texts in data.text (load a text-attributed graph, e.g. "
                         "graphcl.data.load('webkb-cornell'), or graphcl.data.tag.load_text_graph)")
    texts = list(texts)
    if len(texts) != int(data.num_nodes):
        raise ValueError(f"data.text has {len(texts)} entries for {int(data.num_nodes)} nodes")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"node {i} has an empty text")
    return texts


def _gen_config(max_tokens: int, stop: tuple[str, ...]):
    from graphcl.llm.generation import GenerationConfig
    return GenerationConfig(max_tokens=int(max_tokens), temperature=0.0, stop=stop)


def _run(llm: Any, prompts: list[str], config: Any, chunk: int | None, label: str,
         log: bool, on_chunk: Callable[[dict[str, Any]], None] | None) -> list[str]:
    """``llm.generate`` over ``prompts``; with ``chunk``, in pieces, each followed by a
    log line (``log``) and an ``on_chunk`` record (phase, done, total, calls, hits,
    seconds, and the chunk's prompts, answers and generation config)."""
    if not chunk:
        return list(llm.generate(prompts, config))
    out: list[str] = []
    t0 = time.perf_counter()
    for s in range(0, len(prompts), int(chunk)):
        c0, h0, t1 = getattr(llm, "calls", 0), getattr(llm, "hits", 0), time.perf_counter()
        part = prompts[s:s + int(chunk)]
        got = list(llm.generate(part, config))
        out.extend(got)
        record = {"phase": label, "done": len(out), "total": len(prompts),
                  "calls": getattr(llm, "calls", 0) - c0, "hits": getattr(llm, "hits", 0) - h0,
                  "seconds": time.perf_counter() - t1, "prompts": part, "answers": got,
                  "config": config.key() if hasattr(config, "key") else None}
        if on_chunk is not None:
            on_chunk(record)
        if log:
            print(f"[gaugllm] {label}: {len(out)}/{len(prompts)} prompts, llm calls "
                  f"{getattr(llm, 'calls', '?')}, cache hits {getattr(llm, 'hits', '?')}, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def generate_augmentation(data: Any, llm: Any, encoder: Any = None, settings: GAugLLMSettings = GAugLLMSettings(),
                          *, chunk_size: int | None = None, log: bool = False,
                          on_chunk: Callable[[dict[str, Any]], None] | None = None) -> GAugLLMAugmentation:
    """Generate (or read from the cache) the expert texts and edge decisions of ``data``.

    ``llm``: a :class:`graphcl.llm.CachedGenerator` (or any ``TextGenerator``;
    its ``calls``/``hits`` counters, when present, go into ``stats``).
    ``encoder``: a :class:`graphcl.llm.TextEncoder` (default all-MiniLM-L6-v2).
    Candidates use the cosine similarity of the ORI embeddings.
    ``chunk_size``: send prompts in chunks and (``log``) print progress lines / call
    ``on_chunk`` with a timing record after each chunk (for long resumable runs).
    """
    from graphcl.llm import TextEncoder
    texts = graph_texts(data)
    n = len(texts)
    enc = encoder if encoder is not None else TextEncoder()
    if not hasattr(enc, "encode"):
        enc = TextEncoder(enc)
    chat = bool(getattr(llm, "chat", False))
    ps = settings.prompt_settings(data)
    calls0, hits0 = getattr(llm, "calls", 0), getattr(llm, "hits", 0)
    t0 = time.perf_counter()
    edge_index = data.edge_index.cpu()
    degree = undirected_degree(edge_index, n)
    bucket = degree_buckets(degree, settings.tail_quantile, settings.head_quantile)
    ori = enc.encode(texts).float()

    # 1. the generated experts
    nbrs = top_similar_neighbors(ori, edge_index, ps.num_neighbors)
    prompts = expert_prompts(texts, nbrs, ps, chat=chat)
    flat = [p for e in GENERATED_EXPERTS for p in prompts[e]]
    answers = _run(llm, flat, _gen_config(settings.max_tokens, ("\n",)), chunk_size, "experts", log,
                   on_chunk)
    t_experts = time.perf_counter() - t0
    out_texts: dict[str, list[str]] = {"ORI": texts}
    empty: dict[str, int] = {}
    primes = answer_primes(ps, chat)
    for k, e in enumerate(GENERATED_EXPERTS):
        got = [tidy_answer(primes[e], a) for a in answers[k * n:(k + 1) * n]]
        empty[e] = sum(1 for a in got if not a)
        out_texts[e] = [a if a else texts[i] for i, a in enumerate(got)]

    # 2. edge candidates and the LLM's decisions
    cand = edge_candidates(ori, edge_index, k_add=settings.k_add, k_del=settings.k_del,
                           min_degree_delete=settings.min_degree_delete, max_edits=settings.max_edits,
                           p_add=settings.p_add, p_del=settings.p_del)
    anchor, other, is_add = cand.pairs()
    common = common_neighbor_counts(edge_index, n, anchor, other)
    dprompts = decision_prompts(texts, anchor, other, common, ~is_add, ps, chat=chat)
    t1 = time.perf_counter()
    danswers = _run(llm, dprompts, _gen_config(settings.decision_max_tokens, ("\n",)), chunk_size,
                    "edge decisions", log, on_chunk) if dprompts else []
    t_edges = time.perf_counter() - t1
    parsed = [parse_decision(a) for a in danswers]
    decisions = torch.tensor([-1 if p is None else int(p) for p in parsed], dtype=torch.int8)
    add_ok = torch.zeros(cand.add.shape, dtype=torch.bool)
    del_ok = torch.zeros(cand.delete.shape, dtype=torch.bool)
    na = int(is_add.sum())
    ra, sa = (cand.add >= 0).nonzero(as_tuple=True)
    rd, sd = (cand.delete >= 0).nonzero(as_tuple=True)
    add_ok[ra, sa] = decisions[:na] == 1
    del_ok[rd, sd] = decisions[na:] == 0

    # 3. embeddings of the expert texts and of the context prompts
    h = torch.stack([ori] + [enc.encode(out_texts[e]).float() for e in GENERATED_EXPERTS], dim=1)
    ctx_map = context_texts()
    keys = list(ctx_map)
    ctx = enc.encode([ctx_map[k] for k in keys]).float()
    index = {k: i for i, k in enumerate(keys)}
    table = torch.stack([torch.stack([ctx[index[(e, b)]] for b in BUCKETS]) for e in EXPERTS])  # (K, 3, d)
    c = table[:, bucket].permute(1, 0, 2).contiguous()  # (N, K, d)
    if h.shape != c.shape:
        raise ValueError(f"expert embeddings {tuple(h.shape)} and context embeddings {tuple(c.shape)} differ")
    seconds = time.perf_counter() - t0
    calls = getattr(llm, "calls", 0) - calls0
    stats = {
        "nodes": n, "expert_prompts": len(flat), "decision_prompts": len(dprompts),
        "unique_prompts": len(set(flat)) + len(set(dprompts)),
        "llm_calls": calls, "cache_hits": getattr(llm, "hits", 0) - hits0,
        "seconds": seconds, "seconds_experts": t_experts, "seconds_edges": t_edges,
        "seconds_per_100_nodes": 100.0 * seconds / max(n, 1),
        "empty_answers": empty, "undecided": int((decisions == -1).sum()),
        "approved_additions": int(add_ok.sum()), "approved_deletions": int(del_ok.sum()),
        "add_candidates": int((cand.add >= 0).sum()), "delete_candidates": int((cand.delete >= 0).sum()),
        "buckets": {b: int((bucket == i).sum()) for i, b in enumerate(BUCKETS)},
    }
    total = stats["expert_prompts"] + stats["decision_prompts"]
    stats["cache_hit_rate"] = stats["cache_hits"] / total if total else 0.0
    raw = {e: answers[k * n:(k + 1) * n] for k, e in enumerate(GENERATED_EXPERTS)}
    return GAugLLMAugmentation(EXPERTS, out_texts, h, c, degree, bucket, cand, add_ok, del_ok,
                               decisions, stats, {**prompts, "decision": dprompts},
                               {**raw, "decision": list(danswers)})


def _fingerprint(data: Any) -> str:
    h = hashlib.sha256()
    for t in graph_texts(data):
        h.update(hashlib.sha256(t.encode("utf-8")).digest())
    h.update(data.edge_index.cpu().long().numpy().tobytes())
    h.update(str(getattr(data, "name", "")).encode())
    return h.hexdigest()


class GAugLLM(Augmenter):
    """Standalone GAugLLM view of a text-attributed ``Data`` (needs ``data.text``).

    Returns a new ``Data`` (the input is not modified) whose ``x`` is the gated
    expert mix and whose ``edge_index`` has ``round(p · deg)`` (at most
    ``max_edits``) approved additions (``p_add``) and deletions (``p_del``) per
    node, drawn afresh on every call from ``seed`` / ``generator``.

    ``llm``: a ``TextGenerator``, a spec for :func:`graphcl.llm.cached_generator`
    (None: the embedded Gemma-3-270M), with ``cache`` / ``offline`` passed on.
    ``gate``: a trained :class:`ExpertGate`; None uses the prompt-aware score only
    (``g_k = <h_k, c_k>``, α = softmax(g/``tau``)). The LLM output of a graph is
    computed once per transform (and cached on disk across runs).
    """

    def __init__(self, llm: Any = None, encoder: Any = None, p_add: float = 0.5, p_del: float = 0.5, *,
                 settings: GAugLLMSettings = GAugLLMSettings(), gate: ExpertGate | None = None,
                 tau: float = 0.2, cache: Any = None, offline: bool = False,
                 seed: int | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__(seed, generator)
        self.p_add, self.p_del = check_probability(p_add, "p_add"), check_probability(p_del, "p_del")
        self.settings = settings
        self.gate = gate if gate is not None else ExpertGate(1, tau=tau, use_mlp=False)
        self._llm, self._cache, self._offline = llm, cache, offline
        self._encoder = encoder
        self._prepared: dict[str, GAugLLMAugmentation] = {}

    @property
    def llm(self) -> Any:
        if self._llm is None or isinstance(self._llm, (str, dict)):
            from graphcl.llm import cached_generator
            self._llm = cached_generator(self._llm, cache=self._cache, offline=self._offline)
        return self._llm

    def prepare(self, data: Any) -> GAugLLMAugmentation:
        """The (memoized) :func:`generate_augmentation` of ``data``."""
        key = _fingerprint(data)
        if key not in self._prepared:
            self._prepared[key] = generate_augmentation(data, self.llm, self._encoder, self.settings)
        return self._prepared[key]

    def _extra_repr(self) -> str:
        return f"p_add={self.p_add}, p_del={self.p_del}"

    def forward(self, data: Any) -> Any:
        if not isinstance(data, Data):
            raise TypeError(f"GAugLLM needs a torch_geometric Data with node texts, got {type(data).__name__}")
        if getattr(data, "edge_index", None) is None:
            raise ValueError("the Data object has no edge_index")
        for attr in ("edge_attr", "edge_weight"):
            if getattr(data, attr, None) is not None:
                raise ValueError(f"GAugLLM edits edges and cannot carry {attr}; drop it first")
        aug = self.prepare(data)
        device = data.edge_index.device
        with torch.no_grad():
            x = self.gate(aug.expert_emb.to(device), aug.context_emb.to(device))
        data.x = x.to(getattr(data.x, "dtype", torch.float32) if data.x is not None else torch.float32)
        data.edge_index = apply_edge_edits(data.edge_index, int(data.num_nodes), aug.candidates,
                                           aug.add_ok, aug.del_ok, self.p_add, self.p_del,
                                           max_edits=self.settings.max_edits, degree=aug.degree,
                                           generator=self.rng(device))
        data.text = list(data.text)
        return data
