"""Test doubles for text-attributed graphs: a deterministic text 'encoder' and LLM.

They live in the tests only (the package has no fake models)."""
from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence

import numpy as np


class HashEncoder:
    """Bag-of-words hashed into ``dim`` buckets, L2-normalized: texts sharing words
    get similar vectors, like a real sentence encoder but instant."""

    def __init__(self, dim: int = 32) -> None:
        self.dim, self.calls = dim, 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for r, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                h = int(hashlib.md5(w.encode()).hexdigest()[:8], 16)
                out[r, h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
            out[r, 0] += 0.5  # never all zero
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class FakeLLM:
    """A deterministic ``TextGenerator``: yes/no prompts get "yes", "no" or an
    unparseable word from the prompt's hash; other prompts get a short text made
    from the prompt's words. ``delay`` seconds per prompt; counts prompts."""

    backend = "fake"
    model = "fake-llm-v1"

    def __init__(self, chat: bool = False, delay: float = 0.0) -> None:
        self.chat, self.delay, self.prompts = chat, delay, []

    def generate(self, prompts, config):
        out = []
        for p in prompts:
            self.prompts.append(p)
            if self.delay:
                time.sleep(self.delay)
            digest = int(hashlib.sha256(p.encode()).hexdigest()[:8], 16)
            if "Answer yes or no." in p:
                out.append([" Yes, they are.", " no", " maybe"][digest % 3])
            else:
                words = re.findall(r"[A-Za-z]+", p)
                out.append(" " + " ".join(words[digest % 7: digest % 7 + 12]))
        return out
