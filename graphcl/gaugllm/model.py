"""GAugLLM as a plug-in for GRACE (Fang et al., KDD 2024) on text-attributed graphs.

The graph must carry its node texts (``data.text``; e.g. ``graphcl.data.load
("webkb-cornell")``, whose ``x`` is the text embedding). At construction the
LLM output is generated, or read from the response cache
(:func:`graphcl.gaugllm.augmenter.generate_augmentation`); the call / hit counts
are printed. Then, per epoch (GRACE's loss, eq. 1-2 of GRACE):

* view 1: the original text features with GRACE's augmentation (edge dropping
  ``p_e1``, column feature masking ``p_f1``);
* view 2: the gated mix of the prompt-expert embeddings, g_k = MLP(h_k) +
  <h_k, c_k>, α = softmax(g / ``gate_tau``) (the gate is trained by the
  loss), with optional column masking ``p_f2`` (0 by default, as the authors'
  GAugLLM scripts), on the graph with a fresh draw of the LLM-approved edge
  edits: ``min(round(p · deg), 10)`` additions (``p_add``) and deletions
  (``p_del``) per node.

Embeddings for evaluation: the GCN on the original text features and graph
(``embed_features: original``, default) or on the gated expert features
(``mixed``). The authors' BGRL script reports the better of the two on the test
set; select on validation instead.

LLM settings: ``llm`` is a :func:`graphcl.llm.make_generator` spec ("default":
the embedded Gemma-3-270M through llama.cpp; ``openai:<model>@<base_url>`` for
an OpenAI-compatible server, chat prompts), ``llm_cache`` the response-cache
file ("" = ``$GRAPHCL_CACHE`` or ``~/.cache/graphcl``), ``llm_offline`` refuses
any uncached prompt. Only ``backbone: grace`` is implemented.
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.augment import drop_edges, mask_feature_columns
from graphcl.gaugllm.augmenter import GAugLLMSettings, generate_augmentation, graph_texts
from graphcl.gaugllm.edge_modifier import EdgeCandidates, apply_edge_edits
from graphcl.gaugllm.expert_gate import ExpertGate
from graphcl.models.node.grace import GRACE, GRACE_DEFAULTS
from graphcl.registry import MethodSpec, register_method

BACKBONES = ("grace",)


def settings_from_config(c: dict[str, Any]) -> GAugLLMSettings:
    kind = str(c["node_kind"])
    return GAugLLMSettings(
        max_tokens=int(c["max_new_tokens"]), decision_max_tokens=int(c["decision_max_tokens"]),
        k_add=int(c["k_add"]), k_del=int(c["k_del"]), min_degree_delete=int(c["min_degree_delete"]),
        max_edits=int(c["max_edits"]), p_add=float(c["p_add"]), p_del=float(c["p_del"]),
        max_text_chars=int(c["max_text_chars"]),
        max_neighbor_chars=int(c["max_neighbor_chars"]), num_neighbors=int(c["num_neighbors"]),
        node_kind=None if kind == "auto" else kind, use_categories=bool(c["use_categories"]))


def make_llm(c: dict[str, Any]) -> Any:
    """The cached generator of a config (``llm``, ``llm_cache``, ``llm_offline``)."""
    from graphcl.llm import cached_generator
    spec = c["llm"]
    spec = None if spec in (None, "", "default") else spec
    cache = c["llm_cache"] or None
    return cached_generator(spec, cache=cache, offline=bool(c["llm_offline"]), desc="GAugLLM LLM calls")


class GAugLLMGRACE(GRACE):
    full_graph_reason = ("its second view applies the LLM-approved edge edits per node (a budget of "
                         "round(p * degree) on the full degree; additions reach text-similar nodes anywhere "
                         "in the graph), so the two views need different neighborhoods; mini-batch sampling "
                         "of the edited graph is not implemented")

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device | str = "cpu",
                 llm: Any = None, encoder: Any = None) -> None:
        backbone = str(config.get("backbone", "grace")).lower()
        if backbone not in BACKBONES:
            raise ValueError(f"GAugLLM backbone {backbone!r} is not implemented; available: "
                             f"{', '.join(BACKBONES)}")
        graph_texts(data)  # a clear error before any model is built
        super().__init__(data, config, device)
        c = self.config
        for key in ("p_add", "p_del"):
            if not 0.0 <= float(c[key]) <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], got {c[key]}")
        if c["embed_features"] not in ("original", "mixed"):
            raise ValueError(f"embed_features must be original or mixed, got {c['embed_features']!r}")
        if llm is None:
            llm = make_llm(c)
        if encoder is None:
            from graphcl.llm import TextEncoder
            encoder = TextEncoder(str(c["text_encoder"]))
        aug = generate_augmentation(data, llm, encoder, settings_from_config(c))
        self.stats = aug.stats
        s = aug.stats
        print(f"GAugLLM on {s['nodes']} nodes: {s['expert_prompts']} expert + {s['decision_prompts']} "
              f"edge-decision prompts, {s['llm_calls']} LLM calls, {s['cache_hits']} cache hits "
              f"(hit rate {s['cache_hit_rate']:.1%}), {s['seconds']:.1f} s; approved "
              f"{s['approved_additions']} additions / {s['approved_deletions']} deletions, "
              f"{s['undecided']} undecided answers", flush=True)
        if aug.expert_emb.size(-1) != self.x.size(1):
            raise ValueError(f"the expert embeddings have {aug.expert_emb.size(-1)} dimensions but data.x "
                             f"has {self.x.size(1)}: load the graph with the same text encoder "
                             f"({c['text_encoder']})")
        dev = self.device_
        self.register_buffer("expert_emb", aug.expert_emb.to(dev))
        self.register_buffer("context_emb", aug.context_emb.to(dev))
        self.register_buffer("degree", aug.degree.to(dev))
        self.register_buffer("add_candidates", aug.candidates.add.to(dev))
        self.register_buffer("del_candidates", aug.candidates.delete.to(dev))
        self.register_buffer("add_ok", aug.add_ok.to(dev))
        self.register_buffer("del_ok", aug.del_ok.to(dev))
        self.gate = ExpertGate(aug.expert_emb.size(-1), int(c["gate_hidden"]), float(c["gate_tau"]))

    def mixed_features(self) -> torch.Tensor:
        return self.gate(self.expert_emb, self.context_emb)

    def edited_edges(self, generator: torch.Generator) -> torch.Tensor:
        cand = EdgeCandidates(self.add_candidates, self.del_candidates)
        return apply_edge_edits(self.edge_index, self.num_nodes, cand, self.add_ok, self.del_ok,
                                float(self.config["p_add"]), float(self.config["p_del"]),
                                max_edits=int(self.config["max_edits"]), degree=self.degree,
                                generator=generator)

    def step_loss(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        from graphcl.losses import grace_loss
        c = self.config
        x1, e1, w1 = self.view(float(c["p_e1"]), float(c["p_f1"]), generator)
        x2 = mask_feature_columns(self.mixed_features(), float(c["p_f2"]), generator=generator)
        e2 = self.edited_edges(generator)
        if float(c["p_e2"]) > 0:
            e2, _ = drop_edges(e2, float(c["p_e2"]), num_nodes=self.num_nodes, generator=generator)
        z1 = self.projector(self.encoder(x1, e1, w1))
        z2 = self.projector(self.encoder(x2, e2, None))
        return {"loss": grace_loss(z1, z2, float(c["tau"]), block_size=int(c["loss_block_size"]))}

    @torch.no_grad()
    def embed(self) -> torch.Tensor:
        if self.config["embed_features"] == "mixed":
            return self.encoder(self.mixed_features(), self.edge_index)
        return self.encoder(self.x, self.edge_index)


GAUGLLM_DEFAULTS: dict[str, Any] = {
    **GRACE_DEFAULTS,
    "backbone": "grace",
    # view 2 (GAugLLM): edge edit rates (authors' scripts: 0.5 / 0.5), masking and extra drop off
    "p_add": 0.5, "p_del": 0.5, "p_f2": 0.0, "p_e2": 0.0,
    "gate_tau": 0.2, "gate_hidden": 64, "embed_features": "original",
    # generation
    "llm": "default", "llm_cache": "", "llm_offline": False, "text_encoder": "all-MiniLM-L6-v2",
    "max_new_tokens": 64, "decision_max_tokens": 3, "max_text_chars": 800, "max_neighbor_chars": 200,
    "num_neighbors": 3, "k_add": 3, "k_del": 3, "min_degree_delete": 5, "max_edits": 10,
    "node_kind": "auto", "use_categories": True,
}

register_method(MethodSpec(
    name="gaugllm", kind="node", build=GAugLLMGRACE, defaults=GAUGLLM_DEFAULTS,
    description="GAugLLM: LLM prompt-expert features and LLM-checked edge edits as a GRACE view",
    paper="Fang et al., GAugLLM: Improving Graph Contrastive Learning for Text-Attributed Graphs "
          "with Large Language Models, KDD 2024"))
