"""Build a text generator from a short spec (``make_generator``), optionally cached.

Specs:

- ``None`` / ``"default"`` / ``"llama-cpp"``: the embedded Gemma-3-270M GGUF through
  llama-cpp-python (completion mode);
- ``"llama-cpp:/path/model.gguf"``: that GGUF file;
- ``"openai:<model>@<base_url>"``: an OpenAI-compatible server (``chat=True`` by
  default; ``chat=False`` uses ``/v1/completions``); ``"openai:<model>"`` uses
  ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``. The API key comes from
  ``$OPENAI_API_KEY`` (or the variable named by ``api_key_env``);
- a mapping ``{"backend": ..., "model": ..., "base_url": ..., "chat": ..., ...}``
  (for llama-cpp, ``model`` is the GGUF path, None for the embedded model);
- an object that already is a generator (returned as is).

Keyword arguments go to the backend's constructor (e.g. ``n_threads=2``,
``timeout=30``, ``concurrency=8``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from graphcl.llm.generation import TextGenerator

__all__ = ["make_generator", "cached_generator", "parse_spec"]

_OPENAI_RE = re.compile(r"^(?P<model>.+?)(?:@(?P<url>https?://.+))?$")
_CACHED_KW = ("batch_size", "progress", "desc")
_FORMS = ("None, 'default', 'llama-cpp', 'llama-cpp:/path/model.gguf', 'openai:<model>@<base_url>', "
          "'openai:<model>', or a mapping with a 'backend' key")


def parse_spec(spec: str | Mapping | None) -> dict[str, Any]:
    """The backend options a spec names: ``{"backend": ..., ...}``."""
    if spec is None:
        return {"backend": "llama-cpp"}
    if isinstance(spec, Mapping):
        opts = dict(spec)
        if "backend" not in opts:
            raise ValueError(f"generator spec mapping needs a 'backend' key ('llama-cpp' or 'openai'): {opts}")
        return opts
    if not isinstance(spec, str):
        raise TypeError(f"generator spec must be a string, a mapping or a generator, got {type(spec).__name__}")
    text = spec.strip()
    if text in ("", "default", "llama-cpp", "llama-cpp:"):
        return {"backend": "llama-cpp"}
    if text.startswith("llama-cpp:"):
        return {"backend": "llama-cpp", "model": text[len("llama-cpp:"):]}
    if text.startswith("openai:"):
        m = _OPENAI_RE.match(text[len("openai:"):])
        if not m or not m.group("model"):
            raise ValueError(f"generator spec {spec!r}: expected 'openai:<model>@<base_url>'")
        opts: dict[str, Any] = {"backend": "openai", "model": m.group("model")}
        if m.group("url"):
            opts["base_url"] = m.group("url")
        return opts
    raise ValueError(f"unknown generator spec {spec!r}; expected {_FORMS}")


def make_generator(spec: str | Mapping | TextGenerator | None = None, **kw: Any) -> TextGenerator:
    """A generator for ``spec`` (see the module docstring); ``kw`` go to its constructor."""
    if not isinstance(spec, (str, Mapping)) and spec is not None:
        if callable(getattr(spec, "generate", None)) and hasattr(spec, "backend") and hasattr(spec, "model"):
            if kw:
                raise TypeError(f"options {sorted(kw)} cannot be applied to an existing generator {spec!r}")
            return spec
    opts = {**parse_spec(spec), **kw}
    backend = str(opts.pop("backend")).lower()
    if backend in ("llama-cpp", "llama_cpp", "llamacpp"):
        from graphcl.llm.llama_cpp_backend import LlamaCppGenerator
        path = opts.pop("model", None) or opts.pop("model_path", None)
        return _construct(LlamaCppGenerator, "llama-cpp", Path(path) if path else None, **opts)
    if backend == "openai":
        from graphcl.llm.openai_client import OpenAIGenerator
        if not opts.get("model"):
            raise ValueError("the openai backend needs a model name: 'openai:<model>@<base_url>'")
        return _construct(OpenAIGenerator, "openai", **opts)
    raise ValueError(f"unknown generator backend {backend!r}; expected 'llama-cpp' or 'openai'")


def _construct(cls: type, name: str, *args: Any, **opts: Any) -> Any:
    """``cls(*args, **opts)``, naming the backend and its valid options on a wrong keyword."""
    import inspect
    valid = [p for p in inspect.signature(cls).parameters if p != "self"]
    unknown = sorted(set(opts) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for the {name} backend; valid: {valid}")
    return cls(*args, **opts)


def cached_generator(spec: str | Mapping | TextGenerator | None = None, *, cache: Any = None,
                     offline: bool = False, **kw: Any):
    """``CachedGenerator(make_generator(spec, **backend kw), cache, offline=...)``;
    ``batch_size``, ``progress`` and ``desc`` go to the cache wrapper."""
    from graphcl.llm.cached import CachedGenerator
    wrapper_kw = {k: kw.pop(k) for k in _CACHED_KW if k in kw}
    return CachedGenerator(make_generator(spec, **kw), cache, offline=offline, **wrapper_kw)
