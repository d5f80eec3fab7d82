"""GAugLLM's two views as pipeline operations (Fang et al., KDD 2024), node graphs with texts.

Both read what the LLM produced for the graph, a
:class:`graphcl.gaugllm.augmenter.GAugLLMAugmentation`, from the input graph's
``extras["gaugllm"]`` when the pipeline is prepared (the ``contrast`` method generates it,
through the response cache, whenever a view asks for it; in Python pass
``GraphView(..., extras={"gaugllm": generate_augmentation(data, llm, encoder)})``):

* ``gaugllm_features`` ``{gate_hidden, tau}`` (sec. 4.1): X is replaced by the gated mix of
  the prompt experts' text embeddings, g_ik = MLP(h_ik) + <h_ik, c_ik>,
  α_ik = softmax_k(g_ik / τ), x̃_i = Σ_k α_ik h_ik. The gate's MLP is trained with the
  pipeline's loss (:attr:`GAugLLMFeaturesOp.module`, which the pipeline registers).
* ``gaugllm_edge_edits`` ``{p_add, p_del, max_edits}`` (sec. 4.2): each node applies
  ``min(round(p · deg_i), max_edits)`` of its LLM-approved additions and deletions, drawn
  from the step's generator (:func:`graphcl.gaugllm.edge_modifier.apply_edge_edits`).

The ``gaugllm`` method (GRACE with view 2 = these two) stays a method of its own: it also
offers ``embed_features: mixed``, and it builds its parameters in a different order.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graphcl.augment.base import check_probability
from graphcl.contrast.graph_view import GraphView
from graphcl.contrast.view_ops import ViewOp, register_view_op
from graphcl.errors import ConfigError

__all__ = ["GAugLLMFeaturesOp", "GAugLLMEdgeEditsOp", "TEXT_AUGMENTATION_KEY"]

#: where the input graph carries the LLM's augmentation (``GraphView.extras``)
TEXT_AUGMENTATION_KEY = "gaugllm"


def _augmentation(op: ViewOp, view: GraphView) -> Any:
    aug = view.extras.get(TEXT_AUGMENTATION_KEY) if isinstance(view, GraphView) else None
    if aug is None:
        raise ConfigError(f"{op.name} needs the LLM augmentation of the graph's texts in the input graph's "
                          f"extras['{TEXT_AUGMENTATION_KEY}'] (the contrast method generates it for a graph "
                          f"with data.text; in Python: graphcl.gaugllm.generate_augmentation)")
    if aug.degree.numel() != view.num_nodes:
        raise ConfigError(f"{op.name}: the LLM augmentation covers {aug.degree.numel()} nodes, the graph has "
                          f"{view.num_nodes}")
    return aug


class GAugLLMFeaturesOp(ViewOp):
    name = "gaugllm_features"
    needs_text_augmentation = True

    def __init__(self, gate_hidden: int = 64, tau: float = 0.2) -> None:
        if int(gate_hidden) < 1:
            raise ValueError(f"gate_hidden must be >= 1, got {gate_hidden}")
        if not float(tau) > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.gate_hidden, self.tau = int(gate_hidden), float(tau)
        #: the trainable gate with the expert and context embeddings as buffers (after ``prepare``)
        self.module: nn.Module | None = None

    def params(self) -> dict[str, Any]:
        return {"gate_hidden": self.gate_hidden, "tau": self.tau}

    def prepare(self, view: GraphView) -> None:
        from graphcl.gaugllm.expert_gate import ExpertGate
        aug = _augmentation(self, view)
        dim = int(aug.expert_emb.size(-1))
        if view.x.size(1) != dim:
            raise ConfigError(f"{self.name}: the expert embeddings have {dim} dimensions but the graph's features "
                              f"{view.x.size(1)}: load the graph with the text encoder that embedded the experts")
        module = nn.Module()
        module.gate = ExpertGate(dim, self.gate_hidden, self.tau)
        module.register_buffer("expert_emb", aug.expert_emb.to(view.x.device, torch.float32))
        module.register_buffer("context_emb", aug.context_emb.to(view.x.device, torch.float32))
        self.module = module.to(view.x.device)

    def __call__(self, view: GraphView, generator: torch.Generator | None) -> GraphView:
        if self.module is None:
            self.prepare(view)
        m = self.module
        return view.replace(x=m.gate(m.expert_emb, m.context_emb).to(view.x.dtype))


class GAugLLMEdgeEditsOp(ViewOp):
    name = "gaugllm_edge_edits"
    needs_text_augmentation = True

    def __init__(self, p_add: float = 0.5, p_del: float = 0.5, max_edits: int = 10) -> None:
        self.p_add = check_probability(p_add, "p_add")
        self.p_del = check_probability(p_del, "p_del")
        if int(max_edits) < 0:
            raise ValueError(f"max_edits must be >= 0, got {max_edits}")
        self.max_edits = int(max_edits)
        self._aug: Any = None

    def params(self) -> dict[str, Any]:
        return {"p_add": self.p_add, "p_del": self.p_del, "max_edits": self.max_edits}

    def prepare(self, view: GraphView) -> None:
        self._aug = _augmentation(self, view)

    def __call__(self, view: GraphView, generator: torch.Generator | None) -> GraphView:
        from graphcl.gaugllm.edge_modifier import apply_edge_edits
        if self._aug is None:
            self.prepare(view)
        aug = self._aug
        edges = apply_edge_edits(view.edge_index, view.num_nodes, aug.candidates, aug.add_ok, aug.del_ok,
                                 self.p_add, self.p_del, max_edits=self.max_edits, degree=aug.degree,
                                 generator=generator)
        return view.replace(edge_index=edges, edge_weight=None)


for _op in (GAugLLMFeaturesOp, GAugLLMEdgeEditsOp):
    register_view_op(_op)
