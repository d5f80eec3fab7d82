"""Methods; importing this package registers them (see ``graphcl.registry``)."""
from graphcl.models import node, rec  # noqa: F401
