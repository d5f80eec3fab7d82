"""Node-level methods (one file per method), imported on first use."""
from graphcl.lazy import lazy_exports

__all__ = ["GRACE", "CSGCL", "SCGC", "PamC", "GAugLLMGRACE", "MEOW", "AdaMEOW"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "GRACE": "graphcl.models.node.grace", "CSGCL": "graphcl.models.node.csgcl",
    "SCGC": "graphcl.models.node.scgc", "PamC": "graphcl.models.node.pamc",
    "GAugLLMGRACE": "graphcl.gaugllm.model", "MEOW": "graphcl.models.node.meow",
    "AdaMEOW": "graphcl.models.node.adameow",
})
