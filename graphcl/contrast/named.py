"""Config items of the pipeline by name: ``name`` or ``{name: {params}}`` looked up in a registry
and called, with errors that name the config entry, the item and its accepted parameters."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from graphcl.errors import ConfigError

__all__ = ["split_named", "accepted_params", "build_named"]

#: parameters the pipeline fills in itself (never written in a config)
FILLED_IN = ("self", "in_dim", "dim", "total_steps", "num_users", "num_items")


def split_named(item: Any, where: str) -> tuple[str, dict[str, Any]]:
    """``(name, params)`` of ``"name"`` or ``{name: {params}}`` (null params: none)."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        name, params = next(iter(item.items()))
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise ConfigError(f"{where}: the parameters of '{name}' must be a mapping, got {params!r}")
        return str(name), dict(params)
    raise ConfigError(f"{where}: expected a name or {{name: {{params}}}}, got {item!r}")


def accepted_params(factory: Callable[..., Any]) -> str:
    """The parameters a config may give ``factory``, with their defaults."""
    params = [p for p in inspect.signature(factory).parameters.values() if p.name not in FILLED_IN]
    return ", ".join(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
                     for p in params) or "none"


def build_named(item: Any, registry: Mapping[str, Callable[..., Any]], where: str, what: str,
                *args: Any, **filled: Any) -> Any:
    """Look ``item``'s name up in ``registry`` and call it with ``args``, the item's params and
    ``filled`` (values the pipeline provides); every failure is a :class:`ConfigError`."""
    name, params = split_named(item, where)
    factory = registry.get(name)
    if factory is None:
        raise ConfigError(f"{where}: unknown {what} '{name}'; available: {', '.join(registry)}")
    try:
        return factory(*args, **params, **filled)
    except TypeError as exc:
        raise ConfigError(f"{where}: {name} takes ({accepted_params(factory)}); got {params!r} ({exc})") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: {name}: {exc}") from None
