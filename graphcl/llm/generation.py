"""The text-generation interface shared by every backend.

A backend is any object with ``backend``, ``model`` and ``chat`` attributes and a
``generate(prompts, config) -> list[str]`` method (:class:`TextGenerator`). It
returns one completion per prompt, in order, *without* the prompt. Generation
parameters travel in a frozen :class:`GenerationConfig`; ``temperature=0`` means
greedy decoding, which every backend must make deterministic.

The cache key of one answer (:func:`cache_key`) is the sha256 of the canonical
JSON of (backend, model, chat, backend-specific ``cache_params``, prompt,
``config.key()``): any input that can change the answer is part of it.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

__all__ = ["GenerationConfig", "TextGenerator", "LLMError", "UncachedCallError", "RefusedAnswerError",
           "PartialGenerationError", "cache_key", "check_prompts"]


class LLMError(RuntimeError):
    """A generation failed: malformed answer, HTTP failure after retries, missing backend."""


class UncachedCallError(LLMError):
    """Offline (cache-only) mode met a prompt that is not in the cache."""


class RefusedAnswerError(LLMError):
    """The server refused a prompt (``finish_reason: content_filter``, a ``refusal``)
    or answered with no text where text was due. Never cached: the same prompt is
    sent again on the next run."""


class PartialGenerationError(LLMError):
    """Some prompts of one ``generate`` call failed after others were answered.

    ``answers`` maps the index of each answered prompt (in the call's prompt list)
    to its answer, so a caller (:class:`graphcl.llm.CachedGenerator`) can keep what
    was already paid for before it reports the failure; ``failed`` is the number of
    prompts that failed or were not sent; the message is the first failure's.
    """

    def __init__(self, message: str, answers: Mapping[int, str], failed: int) -> None:
        super().__init__(message)
        self.answers = dict(answers)
        self.failed = int(failed)


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling parameters of one generation call.

    max_tokens: new tokens at most; temperature: 0 = greedy (deterministic);
    top_p: nucleus mass (1 = off); stop: strings that end the answer (not included
    in it); seed: sampling seed (used when ``temperature > 0``; sent anyway).
    """

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = field(default=())
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        for s in self.stop:
            if not isinstance(s, str) or not s:
                raise ValueError(f"GenerationConfig.stop must hold non-empty strings, got {self.stop!r}")
        if isinstance(self.max_tokens, bool) or int(self.max_tokens) != self.max_tokens \
                or self.max_tokens < 1:
            raise ValueError(f"GenerationConfig.max_tokens must be a positive integer, got {self.max_tokens!r}")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ValueError(f"GenerationConfig.temperature must be >= 0, got {self.temperature!r}")
        if not (0.0 < self.top_p <= 1.0):
            raise ValueError(f"GenerationConfig.top_p must be in (0, 1], got {self.top_p!r}")
        if isinstance(self.seed, bool) or int(self.seed) != self.seed:
            raise ValueError(f"GenerationConfig.seed must be an integer, got {self.seed!r}")
        object.__setattr__(self, "max_tokens", int(self.max_tokens))
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "top_p", float(self.top_p))
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def key(self) -> dict:
        """The JSON-able parameters that enter the cache key."""
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "stop": list(self.stop), "seed": self.seed}


@runtime_checkable
class TextGenerator(Protocol):
    """What a generation backend provides (see the module docstring)."""

    backend: str  # "llama-cpp", "openai"
    model: str  # model id / file fingerprint
    chat: bool  # True: prompts are sent as chat messages

    def generate(self, prompts: Sequence[str], config: GenerationConfig) -> list[str]: ...


def check_prompts(prompts: Sequence[str]) -> list[str]:
    """``prompts`` as a list, with a clear error for a bare string or a non-string item."""
    if isinstance(prompts, (str, bytes)):
        raise TypeError("prompts must be a sequence of strings, not a single string (wrap it in a list)")
    out = list(prompts)
    for i, p in enumerate(out):
        if not isinstance(p, str):
            raise TypeError(f"prompts[{i}] is a {type(p).__name__}, not a string")
    return out


def cache_key(generator: Any, prompt: str, config: GenerationConfig) -> str:
    """The hex sha256 identifying the answer of ``generator`` to ``prompt`` under ``config``."""
    params: Mapping[str, Any] = getattr(generator, "cache_params", None) or {}
    payload = {"backend": str(generator.backend), "model": str(generator.model),
               "chat": bool(getattr(generator, "chat", False)), "params": dict(params),
               "prompt": prompt, "config": config.key()}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
