"""Language-model helpers: sentence text encoders with an on-disk embedding cache, and
text generation (local llama.cpp or any OpenAI-compatible server) with an on-disk
response cache.

Names are imported lazily, so ``import graphcl.llm`` does not import torch or
llama.cpp until a name that needs them is used.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from graphcl.llm.factory import cached_generator, make_generator
from graphcl.llm.generation import (GenerationConfig, LLMError, PartialGenerationError,
                                    RefusedAnswerError, TextGenerator, UncachedCallError, cache_key)

_LAZY = {
    "TextEncoder": "graphcl.llm.text_encoder",
    "TextEncoderError": "graphcl.llm.text_encoder",
    "DEFAULT_TEXT_ENCODER": "graphcl.llm.text_encoder",
    "embedded_minilm_path": "graphcl.llm.text_encoder",
    "EmbeddingCache": "graphcl.llm.embedding_cache",
    "default_cache_dir": "graphcl.llm.embedding_cache",
    "text_key": "graphcl.llm.embedding_cache",
    "CacheError": "graphcl.llm.sqlite_store",
    "ResponseCache": "graphcl.llm.response_cache",
    "CachedGenerator": "graphcl.llm.cached",
    "LlamaCppGenerator": "graphcl.llm.llama_cpp_backend",
    "embedded_gemma_path": "graphcl.llm.llama_cpp_backend",
    "OpenAIGenerator": "graphcl.llm.openai_client",
}

__all__ = ["TextEncoder", "TextEncoderError", "DEFAULT_TEXT_ENCODER", "embedded_minilm_path",
           "EmbeddingCache", "CacheError", "default_cache_dir", "text_key",
           "GenerationConfig", "TextGenerator", "LLMError", "UncachedCallError", "cache_key",
           "RefusedAnswerError", "PartialGenerationError",
           "ResponseCache", "CachedGenerator", "LlamaCppGenerator", "OpenAIGenerator",
           "embedded_gemma_path", "make_generator", "cached_generator"]

if TYPE_CHECKING:  # pragma: no cover
    from graphcl.llm.cached import CachedGenerator
    from graphcl.llm.embedding_cache import EmbeddingCache, default_cache_dir, text_key
    from graphcl.llm.llama_cpp_backend import LlamaCppGenerator, embedded_gemma_path
    from graphcl.llm.openai_client import OpenAIGenerator
    from graphcl.llm.response_cache import ResponseCache
    from graphcl.llm.sqlite_store import CacheError
    from graphcl.llm.text_encoder import (DEFAULT_TEXT_ENCODER, TextEncoder, TextEncoderError,
                                          embedded_minilm_path)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'graphcl.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
