"""Test doubles for the SRA-CL tests: a deterministic generator and a bag-of-words encoder."""
from __future__ import annotations

import hashlib
import re

import numpy as np

from tests._seq_helpers import cyclic_sequences


class TopicGenerator:
    """Deterministic test double of a TextGenerator: answers with the topic words
    (``topicN``) found in the prompt, and records every prompt that reached it."""

    backend = "test-topics"
    model = "topics-v1"

    def __init__(self, chat: bool = False) -> None:
        self.chat = chat
        self.prompts: list[str] = []

    def generate(self, prompts, config):
        self.prompts.extend(prompts)
        out = []
        for p in prompts:
            topics = sorted(set(re.findall(r"topic\d+", p)))
            out.append(" " + " and ".join(topics[:3]) + "." if topics else "")
        return out


class BagOfWords:
    """A deterministic sentence "encoder": hashed word counts, 64 dimensions."""

    name = "bow64"

    def encode(self, texts):
        out = np.full((len(texts), 64), 1e-3, dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1.0
        return out


def topic_dataset(num_users: int = 60, num_items: int = 24):
    """Cyclic sequences (see ``cyclic_sequences``) whose items carry a topic: item i
    belongs to ``topic{i % 4}``."""
    return cyclic_sequences(num_users=num_users, num_items=num_items, min_len=5, max_len=9, seed=1)


def write_item_texts(path, dataset) -> str:
    lines = ["item_id,text"] + [f"{i},thing number {i} about topic{i % 4}"
                                for i in range(1, dataset.num_items + 1)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)
