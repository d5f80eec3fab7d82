"""GAugLLM's collaborative edge modifier (Fang et al., KDD 2024, sec. 4.2).

1. Candidates from text-embedding similarity and structure
   (:func:`edge_candidates`), per node i with ``deg_i`` distinct neighbours:
   * deletions: among i's existing neighbours, the ``k_del`` whose text
     embeddings are least similar to i's (cosine), only for nodes with
     ``deg_i >= min_degree_delete`` (5);
   * additions: among the non-neighbours (i itself excluded), the ``k_add``
     most similar ones.
   Since at most ``round(p · deg_i) <= deg_i`` edits are ever applied to node i,
   a node gets at most ``min(k, deg_i, max_edits)`` candidates of each kind, and
   none when ``round(p · deg_i) = 0`` for the training p (an isolated node, or a
   node of degree 1 at p = 0.5), which bounds the number of LLM calls.
2. The LLM decides (:func:`decision_prompts`, :func:`parse_decision`): for each
   (node, candidate) pair it is shown both texts, whether they are linked and
   their number of common neighbours (the structural commonality), and asked
   whether the two should be linked. "yes" approves an
   addition, "no" approves a deletion; an answer that is neither ("undecided")
   approves nothing, so the original structure is kept for that pair.
3. During training (:func:`apply_edge_edits`) each node i applies
   ``min(round(p · deg_i), max_edits)`` of its approved edits (``p_add`` for
   additions, ``p_del`` for deletions, ``max_edits`` = 10), drawn uniformly at
   random among them, vectorized over all nodes. Edits are undirected: an
   addition inserts both directions, a deletion removes both.

The authors remove all deletion candidates first and add back the ones the LLM
keeps; their released code computes ``round(p · deg)`` with ``torch.round``
(half to even), as here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from graphcl.augment.base import check_edge_index, check_probability, uniform
from .prompt_experts import PromptSettings, shorten, undirected_degree

__all__ = [
    "EdgeCandidates",
    "apply_edge_edits",
    "common_neighbor_counts",
    "decision_prompts",
    "edge_candidates",
    "edits_per_node",
    "parse_decision",
]


@dataclass
class EdgeCandidates:
    """Per-node candidates, ``-1`` padded: ``add`` ``(N, k_add)``, ``delete`` ``(N, k_del)``."""
    add: torch.Tensor
    delete: torch.Tensor

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(anchor, candidate, is_add)`` of every real candidate, additions first,
        row-major (node by node)."""
        out = []
        for cand, is_add in ((self.add, True), (self.delete, False)):
            rows, slots = (cand >= 0).nonzero(as_tuple=True)
            out.append((rows, cand[rows, slots], torch.full_like(rows, int(is_add), dtype=torch.bool)))
        return tuple(torch.cat([o[i] for o in out]) for i in range(3))  # type: ignore[return-value]


def _neighbor_mask(row: torch.Tensor, col: torch.Tensor, start: int, stop: int, n: int) -> torch.Tensor:
    mask = torch.zeros(stop - start, n, dtype=torch.bool)
    sel = (row >= start) & (row < stop)
    mask[row[sel] - start, col[sel]] = True
    return mask


def edge_candidates(emb: torch.Tensor, edge_index: torch.Tensor, *, k_add: int = 3, k_del: int = 3,
                    min_degree_delete: int = 5, max_edits: int = 10, p_add: float | None = None,
                    p_del: float | None = None, block_size: int = 2048) -> EdgeCandidates:
    """Deletion and addition candidates of every node (see the module doc).

    ``emb``: ``(N, d)`` text embeddings (cosine similarity is used). Rows are
    processed ``block_size`` at a time, so memory is ``block_size x N``.
    Ties are broken towards the lower node id. With ``p_add`` / ``p_del`` (the
    edit rates of training), a node whose ``round(p · deg)`` is 0 never applies
    an edit of that kind, so it gets no candidates of it (no LLM call is spent on
    them); training with a larger p than given here uses fewer candidates.
    """
    if emb.dim() != 2:
        raise ValueError(f"emb must be (N, d), got {tuple(emb.shape)}")
    n = emb.size(0)
    check_edge_index(edge_index, n)
    for name, v in (("k_add", k_add), ("k_del", k_del), ("max_edits", max_edits)):
        if int(v) < 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    z = torch.nn.functional.normalize(emb.detach().float().cpu(), dim=1)
    ei = edge_index.cpu().long()
    keep = ei[0] != ei[1]
    key = torch.unique(torch.cat([ei[0][keep] * n + ei[1][keep], ei[1][keep] * n + ei[0][keep]]))
    row, col = key // n, key % n
    deg = torch.bincount(row, minlength=n)
    limit = torch.minimum(deg, torch.tensor(int(max_edits)))
    n_add = torch.clamp(limit, max=int(k_add))
    n_del = torch.where(deg >= int(min_degree_delete), torch.clamp(limit, max=int(k_del)), 0)
    if p_add is not None:
        n_add = torch.where(edits_per_node(deg, p_add, max_edits) > 0, n_add, 0)
    if p_del is not None:
        n_del = torch.where(edits_per_node(deg, p_del, max_edits) > 0, n_del, 0)
    add = torch.full((n, int(k_add)), -1, dtype=torch.long)
    dele = torch.full((n, int(k_del)), -1, dtype=torch.long)
    # tiny id-proportional offset: equal similarities resolve towards the lower id
    tie = torch.arange(n, dtype=torch.float32) * 1e-7
    for start in range(0, n, int(block_size)):
        stop = min(n, start + int(block_size))
        sim = z[start:stop] @ z.T - tie
        nbr = _neighbor_mask(row, col, start, stop, n)
        local = torch.arange(stop - start)
        if k_add > 0 and n > 1:
            s = sim.masked_fill(nbr, float("-inf"))
            s[local, local + start] = float("-inf")
            k = min(int(k_add), n)
            val, idx = s.topk(k, dim=1)
            idx = idx.masked_fill(torch.isinf(val), -1)
            slot = torch.arange(k).expand(stop - start, k)
            idx = idx.masked_fill(slot >= n_add[start:stop, None], -1)
            add[start:stop, :k] = idx
        if k_del > 0:
            s = sim.masked_fill(~nbr, float("inf"))
            k = min(int(k_del), n)
            val, idx = s.topk(k, dim=1, largest=False)
            idx = idx.masked_fill(torch.isinf(val), -1)
            slot = torch.arange(k).expand(stop - start, k)
            idx = idx.masked_fill(slot >= n_del[start:stop, None], -1)
            dele[start:stop, :k] = idx
    return EdgeCandidates(add, dele)


def common_neighbor_counts(edge_index: torch.Tensor, num_nodes: int, a: torch.Tensor,
                           b: torch.Tensor) -> torch.Tensor:
    """``|N(a[t]) ∩ N(b[t])|`` for each pair (self-loops ignored), vectorized over the pairs."""
    n = int(num_nodes)
    ei = edge_index.cpu().long()
    keep = ei[0] != ei[1]
    key = torch.unique(torch.cat([ei[0][keep] * n + ei[1][keep], ei[1][keep] * n + ei[0][keep]]))
    col = key % n
    deg = torch.bincount(key // n, minlength=n)
    rowptr = torch.cat([torch.zeros(1, dtype=torch.long), deg.cumsum(0)])
    a, b = a.cpu().long(), b.cpu().long()
    pairs = torch.arange(a.numel())

    def expand(nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cnt = deg[nodes]
        pid = torch.repeat_interleave(pairs, cnt)
        first = torch.repeat_interleave(cnt.cumsum(0) - cnt, cnt)
        offs = torch.arange(int(cnt.sum())) - first
        return pid, pid * n + col[rowptr[nodes][pid] + offs]

    pid_a, key_a = expand(a)
    _, key_b = expand(b)
    hit = torch.isin(key_a, key_b)
    return torch.bincount(pid_a[hit], minlength=a.numel())


def parse_decision(answer: str) -> bool | None:
    """``True`` for an answer starting with "yes", ``False`` for "no", else ``None``."""
    words = answer.strip().lstrip("*-:\"'(").lower().split()
    if not words:
        return None
    first = words[0].strip(".,!:;\"')*")
    if first == "yes":
        return True
    if first == "no":
        return False
    return None


_EXAMPLES = (
    ("An introduction to convolutional neural networks for image classification.",
     "Training deep convolutional networks on the ImageNet benchmark.", "no", 0, "yes"),
    ("A recipe for tomato soup with basil and garlic.",
     "The history of the Roman Empire from Augustus to Constantine.", "yes", 1, "no"),
)


def decision_prompts(texts: Sequence[str], anchors: torch.Tensor, candidates: torch.Tensor,
                     common: torch.Tensor, linked: torch.Tensor, settings: PromptSettings,
                     chat: bool = False) -> list[str]:
    """One yes/no prompt per (anchor, candidate) pair: both texts (each cut to
    ``settings.max_neighbor_chars`` to keep the prompts short), whether they are
    linked now (``linked``) and their number of common neighbours (``common``).

    Two fixed, topic-neutral examples (one "yes", one "no") come first: without
    them the small base model rarely answers with yes or no at all. Chat prompts
    end with "Answer yes or no." instead of a bare cue.
    """
    kind = settings.node_kind
    label = kind[0].upper() + kind[1:]
    limit = settings.max_neighbor_chars

    def block(a: str, b: str, ln: str, cn: int) -> str:
        return (f"{label} A: {a}\n{label} B: {b}\n"
                f"Linked now: {ln}. Common linked {kind}s: {cn}.\nShould they be linked?")

    head = f"Decide whether two {kind}s should be linked, from their texts. Answer yes or no.\n\n"
    head += "\n\n".join(f"{block(a, b, ln, cn)} {ans}" for a, b, ln, cn, ans in _EXAMPLES) + "\n\n"
    out = []
    for a, b, cn, ln in zip(anchors.tolist(), candidates.tolist(), common.tolist(), linked.tolist()):
        body = block(shorten(texts[a], limit), shorten(texts[b], limit), "yes" if ln else "no", int(cn))
        out.append(head + body + (" Answer yes or no." if chat else ""))
    return out


def edits_per_node(degree: torch.Tensor, p: float, max_edits: int = 10) -> torch.Tensor:
    """``min(round(p · deg), max_edits)`` (``torch.round``: half to even)."""
    p = check_probability(p)
    return torch.clamp(torch.round(p * degree.float()).long(), max=int(max_edits))


def _pick(cand: torch.Tensor, ok: torch.Tensor, count: torch.Tensor,
          generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``count[i]`` approved candidates of row i, uniformly at random: (rows, ids)."""
    n, k = cand.shape
    if k == 0 or n == 0:
        empty = torch.zeros(0, dtype=torch.long, device=cand.device)
        return empty, empty
    keys = uniform((n, k), cand.device, generator).masked_fill(~ok, 2.0)
    rank = keys.argsort(dim=1).argsort(dim=1)
    chosen = ok & (rank < count[:, None])
    rows, slots = chosen.nonzero(as_tuple=True)
    return rows, cand[rows, slots]


def apply_edge_edits(edge_index: torch.Tensor, num_nodes: int, candidates: EdgeCandidates,
                     add_ok: torch.Tensor, del_ok: torch.Tensor, p_add: float, p_del: float, *,
                     max_edits: int = 10, degree: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """The edited, undirected, coalesced edge index (self-loops of the input are kept).

    ``add_ok`` / ``del_ok``: boolean ``(N, k)`` approvals aligned with the
    candidates. ``degree`` defaults to :func:`undirected_degree` of the input.
    """
    n = check_edge_index(edge_index, num_nodes)
    device = edge_index.device
    if add_ok.shape != candidates.add.shape or del_ok.shape != candidates.delete.shape:
        raise ValueError("approval masks must have the shapes of the candidate tables")
    deg = undirected_degree(edge_index, n) if degree is None else degree
    deg = deg.to(device)
    add_c, del_c = candidates.add.to(device), candidates.delete.to(device)
    add_ok = add_ok.to(device) & (add_c >= 0)
    del_ok = del_ok.to(device) & (del_c >= 0)
    ar, ac = _pick(add_c, add_ok, edits_per_node(deg, p_add, max_edits), generator)
    dr, dc = _pick(del_c, del_ok, edits_per_node(deg, p_del, max_edits), generator)
    row, col = edge_index[0].long(), edge_index[1].long()
    key = torch.unique(row * n + col)
    if dr.numel():
        gone = torch.cat([dr * n + dc, dc * n + dr])
        key = key[~torch.isin(key, gone)]
    if ar.numel():
        key = torch.unique(torch.cat([key, ar * n + ac, ac * n + ar]))
    return torch.stack([key // n, key % n])
