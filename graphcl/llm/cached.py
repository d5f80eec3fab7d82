"""A caching wrapper around any :class:`~graphcl.llm.generation.TextGenerator`.

:meth:`CachedGenerator.generate` looks every prompt up in the
:class:`~graphcl.llm.response_cache.ResponseCache` first and sends only the
misses to the backend, ``batch_size`` unique prompts at a time (a progress bar
over the misses), committing each batch to the cache as soon as it returns: a
killed run keeps its finished batches and a re-run generates only the rest.
When a backend fails part-way through a batch
(:class:`~graphcl.llm.generation.PartialGenerationError`), the answers it did
receive are committed before the error is raised. Refused or empty answers are
errors of the backend (:class:`~graphcl.llm.generation.RefusedAnswerError`) and
are never stored. A
re-run over cached prompts makes no backend call at all. ``offline=True``
refuses any miss with :class:`~graphcl.llm.generation.UncachedCallError` before
calling anything (reproduce a run from its cache alone).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from graphcl.llm.generation import (GenerationConfig, LLMError, PartialGenerationError, TextGenerator,
                                    UncachedCallError, cache_key, check_prompts)
from graphcl.llm.response_cache import ResponseCache

__all__ = ["CachedGenerator"]


class CachedGenerator:
    """Cache-first generation; see the module docstring.

    Parameters
    ----------
    generator: the backend (anything with ``backend``, ``model``, ``chat``, ``generate``).
    cache: a :class:`ResponseCache`, its file path, or None for the default file.
    offline: never call the backend; a prompt missing from the cache raises
        :class:`UncachedCallError` (naming how many are missing and the first one).
    batch_size: unique missing prompts per backend call (and per cache commit).
    progress: show a progress bar over the misses (on a terminal).
    desc: the progress bar's label.

    Counters since construction: ``calls`` (prompts sent to the backend),
    ``hits`` (prompts answered from the cache), ``batches`` (backend calls).
    The object is itself a ``TextGenerator`` (same ``backend``/``model``/``chat``).
    """

    def __init__(self, generator: TextGenerator, cache: ResponseCache | str | Path | None = None, *,
                 offline: bool = False, batch_size: int = 8, progress: bool = True,
                 desc: str = "LLM") -> None:
        if not callable(getattr(generator, "generate", None)):
            raise TypeError(f"generator must have a generate() method, got {type(generator).__name__}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.generator = generator
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)
        self.offline = bool(offline)
        self.batch_size = int(batch_size)
        self.progress = bool(progress)
        self.desc = desc
        self.calls = 0
        self.hits = 0
        self.batches = 0

    @property
    def backend(self) -> str:
        return self.generator.backend

    @property
    def model(self) -> str:
        return self.generator.model

    @property
    def chat(self) -> bool:
        return bool(getattr(self.generator, "chat", False))

    @property
    def cache_params(self) -> Any:
        return getattr(self.generator, "cache_params", None)

    def generate(self, prompts: Sequence[str], config: GenerationConfig = GenerationConfig()) -> list[str]:
        """One answer per prompt, in order; only cache misses reach the backend."""
        prompts = check_prompts(prompts)
        if not isinstance(config, GenerationConfig):
            raise TypeError(f"config must be a GenerationConfig, got {type(config).__name__}")
        keys = [cache_key(self.generator, p, config) for p in prompts]
        unique = dict(zip(keys, prompts))  # key -> prompt, first-occurrence order
        found = self.cache.get_many(list(unique))
        missing = [k for k in unique if k not in found]
        self.hits += sum(1 for k in keys if k in found)
        if missing and self.offline:
            first = unique[missing[0]]
            snippet = first if len(first) <= 120 else first[:117] + "..."
            raise UncachedCallError(
                f"offline mode: {len(missing)} of {len(unique)} prompts are not in the cache "
                f"{self.cache.path} for {self.backend}:{self.model}; first missing prompt: {snippet!r}")
        if missing:
            bar = tqdm(total=len(missing), desc=self.desc, unit="prompt", leave=False,
                       disable=None if self.progress else True)
            try:
                for start in range(0, len(missing), self.batch_size):
                    chunk = missing[start:start + self.batch_size]
                    self.batches += 1
                    self.calls += len(chunk)
                    try:
                        answers = self.generator.generate([unique[k] for k in chunk], config)
                    except PartialGenerationError as exc:  # keep what was paid for, then report
                        kept = {chunk[i]: a for i, a in exc.answers.items()
                                if isinstance(i, int) and 0 <= i < len(chunk) and isinstance(a, str)}
                        self.cache.put_many(kept, backend=self.backend, model=self.model)
                        raise
                    if not isinstance(answers, list) or len(answers) != len(chunk) \
                            or not all(isinstance(a, str) for a in answers):
                        raise LLMError(f"{self.backend}:{self.model} returned {type(answers).__name__} "
                                       f"of length {len(answers) if hasattr(answers, '__len__') else '?'} "
                                       f"for {len(chunk)} prompts; expected a list of strings")
                    batch = dict(zip(chunk, answers))
                    self.cache.put_many(batch, backend=self.backend, model=self.model)
                    found.update(batch)
                    bar.update(len(chunk))
            finally:
                bar.close()
        return [found[k] for k in keys]

    __call__ = generate

    def __repr__(self) -> str:
        return (f"CachedGenerator({self.generator!r}, cache={self.cache.path}, offline={self.offline}, "
                f"calls={self.calls}, hits={self.hits})")
