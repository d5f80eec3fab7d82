"""Node-level methods (one file per method)."""
from graphcl.models.node.csgcl import CSGCL
from graphcl.models.node.grace import GRACE
from graphcl.models.node.meow import MEOW
from graphcl.models.node.adameow import AdaMEOW

__all__ = ["GRACE", "CSGCL", "MEOW", "AdaMEOW"]
