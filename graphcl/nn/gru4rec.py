"""GRU4Rec encoder (Hidasi et al., ICLR 2016) in RecBole's form (Tan et al. 2016
improvements: full-sequence training, embedding dropout).

``h_t = GRU(Dropout(M_item[s_t]), h_{t-1})`` over the real items of each
sequence (the left padding is skipped: sequences are packed by length), and
the representation is ``W h_n`` with a linear map back to the embedding size.
Initialization as RecBole: Xavier-normal embeddings, Xavier-uniform GRU
weights, no GRU biases.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class GRU4RecEncoder(nn.Module):
    def __init__(self, num_items: int, max_len: int, hidden_size: int = 64, gru_hidden: int = 128,
                 num_layers: int = 1, dropout: float = 0.3) -> None:
        super().__init__()
        self.max_len, self.hidden_size = int(max_len), int(hidden_size)
        self.item_embedding = nn.Embedding(num_items + 1, hidden_size, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(hidden_size, gru_hidden, num_layers, bias=False, batch_first=True)
        self.dense = nn.Linear(gru_hidden, hidden_size)
        nn.init.xavier_normal_(self.item_embedding.weight)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        for name, param in self.gru.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(param)

    def encode(self, seqs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, d)``: the projected last hidden state of each sequence.

        ``lengths`` (default: from the first nonzero column) counts the real
        columns at the right end; masked items (id 0) inside them are fed as
        the zero padding embedding.
        """
        L = seqs.size(1)
        cols = torch.arange(L, device=seqs.device)
        if lengths is None:
            first = torch.where(seqs != 0, cols, L).min(dim=1).values
            lengths = L - first
        lengths = lengths.clamp(1, L)
        # left-aligned copy: column j takes column j + (L - n) of the left-padded row
        src = (cols.unsqueeze(0) + (L - lengths).unsqueeze(1)).clamp_max(L - 1)
        aligned = seqs.gather(1, src)
        emb = self.dropout(self.item_embedding(aligned))
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.gru(packed)
        return self.dense(h_n[-1])
