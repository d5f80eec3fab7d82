"""Tidying a small model's completions (used by GAugLLM's prompt experts and SRA-CL's
summaries)."""
from __future__ import annotations

import re

__all__ = ["tidy_answer"]


def tidy_answer(prime: str, answer: str) -> str:
    """``prime + answer`` with whitespace collapsed and repeated sentences dropped (greedy
    decoding of a small model often loops on one sentence); "" when the model said nothing."""
    if not answer.strip():
        return ""
    text = re.sub(r"\s+", " ", prime + answer).strip()  # the model continues the prime verbatim
    seen: set[str] = set()
    kept = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        key = re.sub(r"\W+", " ", sentence.lower()).strip()
        if key and key not in seen:
            seen.add(key)
            kept.append(sentence)
    return " ".join(kept)
