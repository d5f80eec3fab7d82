"""Methods; importing this package registers them (see ``graphcl.registry``)."""
from graphcl.models import rec  # noqa: F401
