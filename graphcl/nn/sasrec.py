"""SASRec's causal self-attention encoder (Kang & McAuley, ICDM 2018), in the
RecBole form that MCLRec builds on.

Input ``E = LayerNorm(M_item[s] + P)`` then dropout (eq. 2, with learned
positions ``P``), then ``num_layers`` post-norm Transformer blocks (eq. 3-5):

    A = LayerNorm(X + Dropout(MultiHead(X) W_O))
    X' = LayerNorm(A + Dropout(W_2 GELU(W_1 A + b_1) + b_2))

Attention is causal (query ``t`` sees keys ``<= t``: future keys get ``-inf``)
and ignores padding keys (id 0) through an additive ``-10000`` mask, as in
RecBole; a query whose visible keys are all padding (a padding position) then
attends uniformly over them and stays finite (RecBole's single ``-10000`` mask
lets such rows see the future too; real positions are the same either way).
Sequences are left-padded, so the last position ``L - 1`` is every sequence's
newest item; :meth:`SASRecEncoder.encode` returns its representation and
computes only that query in the last block.

Position embeddings (``positions``): ``end_aligned`` (default, as kang205/SASRec's
left-padded inputs) gives the newest item the last row of ``P``, the one before it the
row before, and so on; ``from_start`` gives the oldest item of the sequence row 0 (RecBole,
and the MCLRec code built on it, right-pad their inputs and number positions from the
start). The two agree only on sequences of length ``max_len``. ``from_start`` needs each
sequence's true length (a masked leading item, id 0, still counts); without lengths it
takes the span from the first nonzero item.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MASK_VALUE = -10000.0
POSITIONS = ("end_aligned", "from_start")
WIDTHS = (4, 8, 16, 32)   # column groups of SASRecEncoder.encode


def fast_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout (keep with prob ``1 − p``, scale ``1/(1 − p)``), as ``nn.Dropout``,
    with the mask from ``torch.rand`` compared to ``p``: 2-3x faster than
    ``bernoulli_`` on CPU, which was the largest single cost of a SASRec step."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, dtype=x.dtype, device=x.device) >= p
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - p))


class _Block(nn.Module):
    def __init__(self, hidden: int, heads: int, inner: int, hidden_dropout: float,
                 attn_dropout: float, eps: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden_size {hidden} is not divisible by num_heads {heads}")
        self.heads, self.attn_dropout = heads, attn_dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=eps)
        self.ff1 = nn.Linear(hidden, inner)
        self.ff2 = nn.Linear(inner, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=eps)
        self.hidden_dropout = hidden_dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:      # (B, T, d) -> (B, h, T, d/h)
        B, T, d = x.shape
        return x.view(B, T, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        d = x.size(-1)
        w, b = self.qkv.weight, self.qkv.bias
        kv = F.linear(x, w[d:], b[d:])
        xq = x[:, -1:] if last_only else x
        q = F.linear(xq, w[:d], b[:d])
        k, v = kv.split(d, dim=-1)
        q, k, v = self._split(q), self._split(k), self._split(v)
        scores = torch.matmul(q, k.transpose(-1, -2)).mul_(q.size(-1) ** -0.5)
        scores = scores + (mask[:, :, -1:] if last_only else mask)
        probs = fast_dropout(torch.softmax(scores, dim=-1), self.attn_dropout, self.training)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(xq.shape)
        drop = self.hidden_dropout
        a = self.norm1(xq + fast_dropout(self.out(ctx), drop, self.training))
        return self.norm2(a + fast_dropout(self.ff2(F.gelu(self.ff1(a))), drop, self.training))


class SASRecEncoder(nn.Module):
    """Item + position embeddings and causal Transformer blocks.

    ``item_embedding`` has ``num_items + 1`` rows (row 0 = padding, kept at 0);
    it is also the output layer of the recommender (shared weights).
    """

    def __init__(self, num_items: int, max_len: int, hidden_size: int = 64, num_layers: int = 2,
                 num_heads: int = 2, inner_size: int = 256, hidden_dropout: float = 0.5,
                 attn_dropout: float = 0.5, layer_norm_eps: float = 1e-12,
                 init_std: float = 0.02, positions: str = "end_aligned") -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {', '.join(POSITIONS)}, got {positions!r}")
        self.positions = positions
        self.max_len, self.hidden_size = int(max_len), int(hidden_size)
        self.item_embedding = nn.Embedding(num_items + 1, hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.hidden_dropout = float(hidden_dropout)
        self.blocks = nn.ModuleList(_Block(hidden_size, num_heads, inner_size, hidden_dropout,
                                           attn_dropout, layer_norm_eps) for _ in range(num_layers))
        self.apply(lambda m: _init(m, init_std))
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def _position_rows(self, seqs: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Position embeddings of the columns of ``seqs`` (the last columns of a left-padded
        window): ``(L, d)`` end-aligned, or ``(B, L, d)`` numbered from each sequence's start."""
        B, L = seqs.shape
        if self.positions == "end_aligned":
            return self.position_embedding.weight[self.max_len - L:]
        cols = torch.arange(L, device=seqs.device)
        if lengths is None:      # the span from the first nonzero item
            lengths = L - torch.where(seqs != 0, cols, L).min(dim=1).values
        ids = cols.unsqueeze(0) + (lengths.to(seqs.device).reshape(-1, 1) - L)   # oldest item: 0
        return self.position_embedding(ids.clamp(0, self.max_len - 1))

    def _inputs(self, seqs: torch.Tensor, lengths: torch.Tensor | None = None,
                items: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedded, normalized inputs and the attention mask; ``items``: the item embeddings
        of ``seqs`` when the caller gathered them already (one gather for several groups)."""
        B, L = seqs.shape
        if L > self.max_len:
            raise ValueError(f"sequences have {L} columns, more than max_len={self.max_len}")
        pos = self._position_rows(seqs, lengths)
        items = self.item_embedding(seqs) if items is None else items
        x = fast_dropout(self.norm(items + pos), self.hidden_dropout, self.training)
        future = torch.ones(L, L, dtype=torch.bool, device=seqs.device).triu(1)
        pad_key = (seqs == 0).unsqueeze(1).expand(B, L, L)             # (B, query, key)
        mask = torch.zeros(pad_key.shape, dtype=x.dtype, device=seqs.device)
        mask = mask.masked_fill(pad_key, MASK_VALUE).masked_fill(future, float("-inf"))
        return x, mask.unsqueeze(1)                                    # (B, 1, L, L)

    def forward(self, seqs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states of every position, ``(B, L, d)``."""
        x, mask = self._inputs(seqs, lengths)
        for block in self.blocks:
            x = block(x, mask)
        return x

    def encode(self, seqs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Representation of the last position, ``(B, d)`` (``lengths``, each sequence's
        number of items, masked ones included, is used by ``from_start`` positions only:
        padding and masked items are excluded by the attention mask).

        Rows are grouped by the width they need (from their first nonzero
        column; widths up to 4, 8, 16, 32, ``L``) and each group runs on its
        last columns only. With end-aligned positions and masked padding keys
        (``exp(-10000)`` is exactly 0 in float32) this gives the same values
        as the full width, at a cost near the real number of items.
        """
        B, L = seqs.shape
        if B == 0:
            return self.position_embedding.weight.new_zeros(0, self.hidden_size)
        lengths = self._span_lengths(seqs, lengths)
        groups = self._width_groups(seqs)
        if len(groups) == 1:
            return self._encode_last(seqs[:, L - groups[0][1]:], lengths)
        parts, items = self._group_inputs(seqs, groups)
        out = torch.cat([self._encode_last(p, None if lengths is None else lengths[r], e)
                         for (r, _), p, e in zip(groups, parts, items)])
        order = torch.cat([r for r, _ in groups])
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(B, device=seqs.device)
        return out[inverse]

    def encode_positions(self, seqs: torch.Tensor,
                         lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states of every nonzero position of ``seqs``, ``(n, d)``, and each one's flat
        index into ``seqs.reshape(-1)`` (row-major): the outputs kang205/SASRec's loss reads at
        every position of its left-padded inputs. Rows run in width groups as in
        :meth:`encode` (the same values as :meth:`forward` at those positions)."""
        B, L = seqs.shape
        lengths = self._span_lengths(seqs, lengths)
        groups = self._width_groups(seqs) if B else []
        parts, items = self._group_inputs(seqs, groups)
        states, index = [], []
        for (rows, width), part, emb in zip(groups, parts, items):
            x, mask = self._inputs(part, None if lengths is None else lengths[rows], emb)
            for block in self.blocks:
                x = block(x, mask)
            real = part != 0
            states.append(x[real])
            cols = torch.arange(L - width, L, device=seqs.device)
            index.append((rows.unsqueeze(1) * L + cols).masked_select(real))
        if not states:
            return self.position_embedding.weight.new_zeros(0, self.hidden_size), seqs.new_zeros(0)
        return torch.cat(states), torch.cat(index)

    def _span_lengths(self, seqs: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
        """``lengths`` as given, or for ``from_start`` positions without them, the span from
        each row's first nonzero item (end-aligned positions need none)."""
        if self.positions != "from_start" or lengths is not None:
            return lengths
        L = seqs.size(1)
        cols = torch.arange(L, device=seqs.device)
        return L - torch.where(seqs != 0, cols, L).min(dim=1).values

    def _width_groups(self, seqs: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
        """Rows grouped by the width they need (from their first nonzero column; widths up to
        4, 8, 16, 32, ``L``): ``(rows, width)`` per group present. With end-aligned positions
        and masked padding keys (``exp(-10000)`` is exactly 0 in float32) a row's last
        ``width`` columns give the same values as the full width."""
        L = seqs.size(1)
        cols = torch.arange(L, device=seqs.device)
        width = L - torch.where(seqs != 0, cols, L - 1).min(dim=1).values
        caps = torch.tensor([c for c in WIDTHS if c < L] + [L], device=seqs.device)
        group = torch.searchsorted(caps, width)
        return [(torch.nonzero(group == g).reshape(-1), int(caps[g]))
                for g in torch.unique(group).tolist()]

    def _group_inputs(self, seqs: torch.Tensor, groups: list[tuple[torch.Tensor, int]]
                      ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each group's columns of ``seqs`` and their item embeddings, from one gather for all
        groups (one ``(num_items + 1) x d`` gradient buffer in the backward pass, not one per
        group)."""
        L = seqs.size(1)
        parts = [seqs[rows, L - width:] for rows, width in groups]
        if not parts:
            return [], []
        items = self.item_embedding(torch.cat([p.reshape(-1) for p in parts]))
        return parts, [e.view(*p.shape, -1) for p, e in zip(parts, items.split([p.numel() for p in parts]))]

    def _encode_last(self, seqs: torch.Tensor, lengths: torch.Tensor | None = None,
                     items: torch.Tensor | None = None) -> torch.Tensor:
        x, mask = self._inputs(seqs, lengths, items)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, last_only=i == len(self.blocks) - 1)
        return x[:, -1]


def _init(module: nn.Module, std: float) -> None:
    """RecBole / BERT initialization: N(0, std) weights, zero biases, unit LayerNorm."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
