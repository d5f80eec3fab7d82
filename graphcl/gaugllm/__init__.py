"""GAugLLM (Fang et al., KDD 2024) in one package: the LLM prompt experts
(:mod:`.prompt_experts`), the LLM-checked edge modifier (:mod:`.edge_modifier`), the
expert gate (:mod:`.expert_gate`), the augmentation it generates and the standalone
``GAugLLM`` transform (:mod:`.augmenter`), and the trainable GRACE-backbone model
registered as method ``gaugllm`` (:mod:`.model`). Imported on first use."""
from graphcl.lazy import lazy_exports

__all__ = ["GAugLLM", "GAugLLMSettings", "GAugLLMAugmentation", "generate_augmentation", "ExpertGate",
           "EdgeCandidates", "edge_candidates", "apply_edge_edits", "GAugLLMGRACE"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "GAugLLM": "graphcl.gaugllm.augmenter", "GAugLLMSettings": "graphcl.gaugllm.augmenter",
    "GAugLLMAugmentation": "graphcl.gaugllm.augmenter",
    "generate_augmentation": "graphcl.gaugllm.augmenter", "ExpertGate": "graphcl.gaugllm.expert_gate",
    "EdgeCandidates": "graphcl.gaugllm.edge_modifier", "edge_candidates": "graphcl.gaugllm.edge_modifier",
    "apply_edge_edits": "graphcl.gaugllm.edge_modifier", "GAugLLMGRACE": "graphcl.gaugllm.model",
})
