"""GAugLLM's mixture of prompt experts: the prompts, degree buckets and context texts.

Four experts rewrite each node's text (Fang et al., KDD 2024, sec. 4.1):

* ``ORI`` original: the raw text, unchanged (no LLM call);
* ``IDR`` independent reasoning: the LLM reasons about the node's likely
  category from its own text;
* ``SAS`` structure-aware summarization: the LLM summarizes the node's text
  with its neighbours' texts as context;
* ``SAR`` structure-aware reasoning: the LLM reasons about the category from
  the node's and its neighbours' texts.

Every expert k also has, per node, a *context prompt* (embedded as ``c_k``,
used by :class:`graphcl.gaugllm.expert_gate.ExpertGate`) that describes the
expert and the node's degree bucket: ``tail`` (degree <= 40th percentile),
``head`` (degree >= 80th percentile) or ``mid`` (between). A node that is both
(all degrees equal) is ``tail``.

Prompt format. The embedded LLM is a small *base* model, so the default
prompts are completion-style: plain text that ends where the model should go
on, with the start of the answer written in (``"...\\nSummary: This
university web page"``, see :func:`answer_primes`). For a chat-tuned endpoint
(``generator.chat`` true) the same instruction goes out as one chat message
with the cue line dropped.
To bound the cost on a CPU the node text is cut to ``max_text_chars`` (800)
characters and at most ``num_neighbors`` (3) neighbours, ``max_neighbor_chars``
(200) characters each, are shown: the neighbours whose text embeddings are
most similar to the node's (ties: lower index), a deterministic choice.
Answers are limited by the caller's ``max_tokens`` (64 by default).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

__all__ = [
    "BUCKETS",
    "EXPERTS",
    "GENERATED_EXPERTS",
    "PromptSettings",
    "clean_text",
    "context_texts",
    "degree_buckets",
    "expert_prompts",
    "node_kind_for",
    "shorten",
    "top_similar_neighbors",
    "undirected_degree",
]

EXPERTS = ("ORI", "IDR", "SAS", "SAR")
GENERATED_EXPERTS = ("IDR", "SAS", "SAR")
BUCKETS = ("tail", "mid", "head")

_EXPERT_CONTEXT = {
    "ORI": "the original text of the node, unchanged",
    "IDR": "the node's category reasoned from its own text alone",
    "SAS": "a summary of the node written with the texts of its neighbours",
    "SAR": "the node's category reasoned from its own text and its neighbours' texts",
}
_BUCKET_CONTEXT = {
    "tail": "a tail node with few neighbours, so its own text is the main evidence",
    "mid": "a node with a typical number of neighbours",
    "head": "a head node with many neighbours, so its neighbourhood is informative",
}


@dataclass(frozen=True)
class PromptSettings:
    """How prompts are written: the noun for a node (``"web page"``), the category
    names offered to the reasoning experts (empty: none), and the length limits."""
    node_kind: str = "document"
    categories: tuple[str, ...] = field(default=())
    max_text_chars: int = 800
    max_neighbor_chars: int = 200
    num_neighbors: int = 3

    def __post_init__(self) -> None:
        for key in ("max_text_chars", "max_neighbor_chars"):
            if int(getattr(self, key)) < 20:
                raise ValueError(f"{key} must be >= 20, got {getattr(self, key)}")
        if int(self.num_neighbors) < 0:
            raise ValueError(f"num_neighbors must be >= 0, got {self.num_neighbors}")
        object.__setattr__(self, "categories", tuple(str(c) for c in self.categories))


def node_kind_for(name: str | None) -> str:
    """The noun used in prompts for a dataset name (WebKB: ``"university web page"``)."""
    return "university web page" if str(name or "").lower().startswith("webkb") else "document"


# ------------------------------------------------------------------- texts
def clean_text(text: str) -> str:
    """Collapse whitespace and the ``;`` line separators of scraped pages to single spaces/``; ``."""
    text = re.sub(r"\s*;[\s;]*", "; ", str(text))
    return re.sub(r"\s+", " ", text).strip(" ;")


def shorten(text: str, limit: int) -> str:
    """``clean_text(text)`` cut to at most ``limit`` characters at a word boundary (``...`` marks a cut)."""
    text = clean_text(text)
    if len(text) <= limit:
        return text
    cut = text[:limit - 3]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ;,") + "..."


# --------------------------------------------------------------- structure
def undirected_degree(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Number of distinct neighbours of each node (self-loops and duplicates not counted)."""
    row, col = edge_index[0].long(), edge_index[1].long()
    keep = row != col
    row, col = row[keep], col[keep]
    pairs = torch.unique(torch.cat([row * num_nodes + col, col * num_nodes + row]))
    return torch.bincount(pairs // num_nodes, minlength=num_nodes)


def degree_buckets(degree: torch.Tensor, tail_q: float = 0.4, head_q: float = 0.8) -> torch.Tensor:
    """Bucket index per node: 0 tail (deg <= q_tail), 2 head (deg >= q_head), else 1 mid.

    Percentiles by linear interpolation (``torch.quantile``); tail wins a tie.
    """
    if not 0.0 <= tail_q <= head_q <= 1.0:
        raise ValueError(f"need 0 <= tail_q <= head_q <= 1, got {tail_q}, {head_q}")
    d = degree.float()
    if d.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    lo, hi = torch.quantile(d, tail_q), torch.quantile(d, head_q)
    out = torch.ones_like(degree, dtype=torch.long)
    out[d >= hi] = 2
    out[d <= lo] = 0
    return out


def top_similar_neighbors(emb: torch.Tensor, edge_index: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, k)`` ids of each node's ``k`` neighbours with the highest cosine similarity
    of ``emb`` (ties: lower id first), ``-1`` where a node has fewer. Vectorized."""
    n = emb.size(0)
    out = torch.full((n, max(k, 0)), -1, dtype=torch.long)
    if k <= 0 or edge_index.numel() == 0:
        return out
    row, col = edge_index[0].long().cpu(), edge_index[1].long().cpu()
    keep = row != col
    key = torch.unique(row[keep] * n + col[keep])
    row, col = key // n, key % n
    z = torch.nn.functional.normalize(emb.float().cpu(), dim=1)
    sim = (z[row] * z[col]).sum(1)
    # sort by (row asc, sim desc, col asc): lexsort through stable sorts
    order = torch.argsort(col, stable=True)
    order = order[torch.argsort(-sim[order], stable=True)]
    order = order[torch.argsort(row[order], stable=True)]
    row, col = row[order], col[order]
    start = torch.searchsorted(row, row, right=False)
    rank = torch.arange(row.numel()) - start
    sel = rank < k
    out[row[sel], rank[sel]] = col[sel]
    return out


# ----------------------------------------------------------------- prompts
def _category_clause(s: PromptSettings) -> str:
    return f" ({', '.join(s.categories)})" if s.categories else ""


def _neighbor_block(texts: Sequence[str], nbrs: Sequence[int], s: PromptSettings) -> str:
    shown = [shorten(texts[j], s.max_neighbor_chars) for j in nbrs if j >= 0]
    if not shown:
        return f"Linked {s.node_kind}s: none."
    lines = "\n".join(f"{r + 1}. {t}" for r, t in enumerate(shown))
    return f"Linked {s.node_kind}s:\n{lines}"


def _finish(body: str, instruction: str, cue: str, chat: bool) -> str:
    if chat:
        return f"{body}\n\n{instruction}"
    return f"{body}\n\n{instruction}\n{cue}"


def answer_primes(settings: PromptSettings, chat: bool = False) -> dict[str, str]:
    """The start of each expert's answer written into a completion prompt (after
    ``Answer:`` / ``Summary:``); the model continues it, so the expert's text is
    ``prime + answer``. Priming keeps a small base model on the question (without
    it, Gemma-3-270M mostly repeats the question or lists the categories). Chat
    prompts have no prime."""
    if chat:
        return {e: "" for e in GENERATED_EXPERTS}
    kind = settings.node_kind
    return {"IDR": f"This {kind} is most likely", "SAS": f"This {kind}",
            "SAR": f"Given its links, this {kind} is most likely"}


def expert_prompts(texts: Sequence[str], neighbors: torch.Tensor, settings: PromptSettings,
                   chat: bool = False) -> dict[str, list[str]]:
    """The IDR, SAS and SAR prompt of every node (``neighbors``: ``(N, m)`` ids, -1 padded)."""
    s = settings
    kind, cats = s.node_kind, _category_clause(s)
    primes = answer_primes(s, chat)
    nb = neighbors.tolist()
    out: dict[str, list[str]] = {e: [] for e in GENERATED_EXPERTS}
    for i, text in enumerate(texts):
        own = f"Text of a {kind}: {shorten(text, s.max_text_chars)}"
        context = f"{own}\n\n{_neighbor_block(texts, nb[i][:s.num_neighbors], s)}"
        out["IDR"].append(_finish(
            own, f"Question: Which category{cats} does this {kind} belong to? Explain briefly, "
                 f"using only its text.", f"Answer: {primes['IDR']}", chat))
        out["SAS"].append(_finish(
            context, f"Task: Summarize this {kind} in one or two sentences, using the linked "
                     f"{kind}s as context.", f"Summary: {primes['SAS']}", chat))
        out["SAR"].append(_finish(
            context, f"Question: Considering its text and the linked {kind}s, which category{cats} "
                     f"does this {kind} belong to? Explain briefly.", f"Answer: {primes['SAR']}", chat))
    return out


def context_texts() -> dict[tuple[str, str], str]:
    """The context prompt of each (expert, bucket): embedded as ``c_k`` for the gate."""
    return {(e, b): f"Augmented view: {_EXPERT_CONTEXT[e]}. The node is {_BUCKET_CONTEXT[b]}."
            for e in EXPERTS for b in BUCKETS}
