"""User-facing error types shared across graphcl (a leaf module).

The CLI prints these as one line, without a traceback.
"""
from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message says which and why."""
