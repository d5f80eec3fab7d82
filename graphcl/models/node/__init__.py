"""Node-level methods (one file per method)."""
from graphcl.models.node.csgcl import CSGCL
from graphcl.models.node.grace import GRACE

__all__ = ["GRACE", "CSGCL"]
