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
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MASK_VALUE = -10000.0
WIDTHS = (4, 8, 16, 32)   # column groups of SASRecEncoder.encode


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
        self.dropout = nn.Dropout(hidden_dropout)

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
        ctx = F.scaled_dot_product_attention(
            self._split(q), self._split(k), self._split(v),
            attn_mask=mask[:, :, -1:] if last_only else mask,
            dropout_p=self.attn_dropout if self.training else 0.0)
        ctx = ctx.transpose(1, 2).reshape(xq.shape)
        a = self.norm1(xq + self.dropout(self.out(ctx)))
        return self.norm2(a + self.dropout(self.ff2(F.gelu(self.ff1(a)))))


class SASRecEncoder(nn.Module):
    """Item + position embeddings and causal Transformer blocks.

    ``item_embedding`` has ``num_items + 1`` rows (row 0 = padding, kept at 0);
    it is also the output layer of the recommender (shared weights).
    """

    def __init__(self, num_items: int, max_len: int, hidden_size: int = 64, num_layers: int = 2,
                 num_heads: int = 2, inner_size: int = 256, hidden_dropout: float = 0.5,
                 attn_dropout: float = 0.5, layer_norm_eps: float = 1e-12,
                 init_std: float = 0.02) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.max_len, self.hidden_size = int(max_len), int(hidden_size)
        self.item_embedding = nn.Embedding(num_items + 1, hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout)
        self.blocks = nn.ModuleList(_Block(hidden_size, num_heads, inner_size, hidden_dropout,
                                           attn_dropout, layer_norm_eps) for _ in range(num_layers))
        self.apply(lambda m: _init(m, init_std))
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def _inputs(self, seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, L = seqs.shape
        if L > self.max_len:
            raise ValueError(f"sequences have {L} columns, more than max_len={self.max_len}")
        pos = self.position_embedding.weight[self.max_len - L:]      # left padding: end-aligned
        x = self.dropout(self.norm(self.item_embedding(seqs) + pos))
        future = torch.ones(L, L, dtype=torch.bool, device=seqs.device).triu(1)
        pad_key = (seqs == 0).unsqueeze(1).expand(B, L, L)             # (B, query, key)
        mask = torch.zeros(pad_key.shape, dtype=x.dtype, device=seqs.device)
        mask = mask.masked_fill(pad_key, MASK_VALUE).masked_fill(future, float("-inf"))
        return x, mask.unsqueeze(1)                                    # (B, 1, L, L)

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        """Hidden states of every position, ``(B, L, d)``."""
        x, mask = self._inputs(seqs)
        for block in self.blocks:
            x = block(x, mask)
        return x

    def encode(self, seqs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Representation of the last position, ``(B, d)`` (``lengths`` is not needed:
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
        cols = torch.arange(L, device=seqs.device)
        width = L - torch.where(seqs != 0, cols, L - 1).min(dim=1).values
        caps = torch.tensor([c for c in WIDTHS if c < L] + [L], device=seqs.device)
        group = torch.searchsorted(caps, width)
        present = torch.unique(group).tolist()
        if len(present) == 1:
            return self._encode_last(seqs[:, L - int(caps[present[0]]):])
        rows = [torch.nonzero(group == g).reshape(-1) for g in present]
        out = torch.cat([self._encode_last(seqs[r, L - int(caps[g]):]) for g, r in zip(present, rows)])
        order = torch.cat(rows)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(B, device=seqs.device)
        return out[inverse]

    def _encode_last(self, seqs: torch.Tensor) -> torch.Tensor:
        x, mask = self._inputs(seqs)
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
