"""Test doubles and worker functions for the LLM generation tests (importable by
spawned subprocesses)."""
from __future__ import annotations

import time

from graphcl.llm import GenerationConfig


def answer_of(prompt: str, config: GenerationConfig) -> str:
    """The deterministic answer of :class:`EchoGenerator` (checked by the tests)."""
    return f"{prompt[::-1]}|{config.max_tokens}|{config.temperature:g}"


class EchoGenerator:
    """A deterministic generator that records what reached it (a test double for
    the caching layer, which must not depend on what a backend computes)."""

    backend = "test-echo"
    chat = False

    def __init__(self, model: str = "echo-v1", delay: float = 0.0, announce: bool = False) -> None:
        self.model, self.delay, self.announce = model, delay, announce
        self.batches: list[list[str]] = []

    @property
    def prompts_seen(self) -> list[str]:
        return [p for b in self.batches for p in b]

    def generate(self, prompts, config):
        self.batches.append(list(prompts))
        if self.announce:
            print("batch", flush=True)
        if self.delay:
            time.sleep(self.delay)
        return [answer_of(p, config) for p in prompts]


def write_entries(path: str, tag: str, n_batches: int, per_batch: int) -> None:
    """A writer process: ``n_batches`` commits of ``per_batch`` entries, plus one
    key that every writer writes (the same value)."""
    from graphcl.llm import ResponseCache

    cache = ResponseCache(path)
    for b in range(n_batches):
        cache.put_many({f"{tag}-{b}-{k}": f"answer {tag} {b} {k}" for k in range(per_batch)}
                       | {"shared": "same"}, backend="test", model=tag)
    cache.close()


def assemble_into(folder: str) -> str:
    """A process that asks for the embedded GGUF in ``folder`` (assembling it if needed)."""
    from graphcl.llm.llama_cpp_backend import embedded_gemma_path

    return str(embedded_gemma_path(folder))
