"""GAugLLM's context-aware gate over the prompt experts (Fang et al., KDD 2024, sec. 4.1).

For node i and expert k with text embedding ``h_ik`` and context-prompt
embedding ``c_ik`` (see :mod:`graphcl.gaugllm.prompt_experts`)::

    g_ik = MLP(h_ik) + <h_ik, c_ik>          (learned score + prompt-aware score)
    α_ik = softmax_k(g_ik / τ),  τ = 0.2
    x̃_i  = Σ_k α_ik h_ik                     (the augmented feature view)

The MLP (``Linear(d, hidden) -> tanh -> Linear(hidden, 1)``, shared by the
experts) is trained with the contrastive loss of the backbone. The paper also
fine-tunes the text encoder; here the expert embeddings are frozen (computed
once by the cached text encoder), which keeps training on a CPU cheap.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ExpertGate", "gate_weights"]


def gate_weights(scores: torch.Tensor, tau: float = 0.2) -> torch.Tensor:
    """``softmax(scores / τ)`` over the expert axis (last)."""
    if tau <= 0:
        raise ValueError(f"gate temperature must be > 0, got {tau}")
    return torch.softmax(scores / tau, dim=-1)


class ExpertGate(nn.Module):
    """Mixes ``(N, K, d)`` expert embeddings into ``(N, d)`` features; see the module doc.

    ``use_mlp=False`` keeps only the prompt-aware score (an untrained gate, as used
    by the standalone :class:`graphcl.gaugllm.augmenter.GAugLLM` transform).
    """

    def __init__(self, dim: int, hidden: int = 64, tau: float = 0.2, use_mlp: bool = True) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"gate temperature must be > 0, got {tau}")
        self.tau = float(tau)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)) if use_mlp else None

    def scores(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``g`` of shape ``(N, K)``."""
        if h.shape != c.shape or h.dim() != 3:
            raise ValueError(f"expert and context embeddings must both be (N, K, d), got "
                             f"{tuple(h.shape)} and {tuple(c.shape)}")
        g = (h * c).sum(-1)
        if self.mlp is not None:
            g = g + self.mlp(h).squeeze(-1)
        return g

    def weights(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``α`` of shape ``(N, K)`` (rows sum to 1)."""
        return gate_weights(self.scores(h, c), self.tau)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        alpha = self.weights(h, c)
        return (alpha.unsqueeze(-1) * h).sum(1)
