"""Language-model helpers: sentence text encoders with an on-disk embedding cache."""
from graphcl.llm.embedding_cache import CacheError, EmbeddingCache, default_cache_dir, text_key
from graphcl.llm.text_encoder import (DEFAULT_TEXT_ENCODER, TextEncoder, TextEncoderError,
                                      embedded_minilm_path)

__all__ = ["TextEncoder", "TextEncoderError", "DEFAULT_TEXT_ENCODER", "embedded_minilm_path",
           "EmbeddingCache", "CacheError", "default_cache_dir", "text_key"]
