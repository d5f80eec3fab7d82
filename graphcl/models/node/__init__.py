"""Node-level methods (one file per method)."""
from graphcl.models.node.csgcl import CSGCL
from graphcl.models.node.gaugllm import GAugLLMGRACE
from graphcl.models.node.grace import GRACE
from graphcl.models.node.pamc import PamC
from graphcl.models.node.scgc import SCGC

__all__ = ["GRACE", "CSGCL", "SCGC", "PamC", "GAugLLMGRACE"]
