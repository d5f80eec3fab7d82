"""Methods; importing this package registers them (see ``graphcl.registry``)."""
from graphcl.models import node, rec, seq  # noqa: F401
