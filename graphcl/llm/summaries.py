"""SRA-CL's LLM summaries: user preference summaries and item summaries.

SRA-CL (Cui et al., NeurIPS 2025, sec. 3.2) asks an LLM for

* a *user preference summary* from the titles of the items in a user's
  sequence (the paper makes one per training prefix, "<= 100 words");
* an *item summary* from the item's title and attributes (the paper also
  shows a few sequences that end at the item; here: title + attributes only).

Both are embedded by a sentence encoder and used for top-k semantic retrieval
(:mod:`graphcl.models.seq.sracl_semantics`).

Simplifications, on purpose (CPU budget): one summary per *user* by default,
from the last ``user_history`` (15) titles of the user's training part
(``level="prefix"`` makes one per training prefix, as the paper, at the cost
of one LLM call per training example); answers are capped at ``max_tokens``
(48) tokens and stop at the first line break.

Prompt format. The embedded Gemma-3-270M is a small *base* model, so the
default prompts are completion-style: plain text that ends with the start of
the answer written in (``"Answer: This viewer likes"``), which the model
continues; the summary is that prime plus the continuation, with repeated
sentences dropped (:func:`graphcl.llm.answers.tidy_answer`). A
chat-tuned endpoint (``generator.chat``) gets the same instruction as one chat
message without the cue line.

Precomputed summaries travel as JSONL (:func:`write_summaries_jsonl`,
:func:`read_summaries_jsonl`): one object per line, ``{"user": id, "summary":
...}`` (plus ``"length": n`` for the summary of a user's first ``n`` items at
prefix level) or ``{"item": id, "summary": ...}``; ids are the dataset's source
user / item ids.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphcl.io import iter_jsonl_objects

__all__ = [
    "Summaries",
    "SummaryFileError",
    "SummarySettings",
    "answer_prime",
    "item_kind_for",
    "item_prompt",
    "read_summaries_jsonl",
    "run_prompts",
    "tidy_summary",
    "user_prompt",
    "write_summaries_jsonl",
]

_KINDS = {"ml-100k": ("movie", "viewer", "watched"), "beauty": ("beauty product", "customer", "bought"),
          "sports": ("sports product", "customer", "bought"), "toys": ("toy", "customer", "bought"),
          "yelp": ("business", "customer", "visited")}
_DEFAULT_KIND = ("item", "user", "chose")


class SummaryFileError(ValueError):
    """A summaries JSONL file is malformed or does not fit the dataset."""


def item_kind_for(name: str | None) -> tuple[str, str, str]:
    """``(item noun, user noun, verb)`` for a dataset name (ml-100k: movie, viewer, watched)."""
    key = str(name or "").lower()
    for prefix, kind in _KINDS.items():
        if key.startswith(prefix):
            return kind
    return _DEFAULT_KIND


@dataclass(frozen=True)
class SummarySettings:
    """How summary prompts are written and answered (see the module docstring).

    ``kind``: (item noun, user noun, verb), None: from the dataset name.
    """
    kind: tuple[str, str, str] | None = None
    user_history: int = 15
    max_title_chars: int = 80
    max_item_chars: int = 300
    max_tokens: int = 48
    level: str = "user"

    def __post_init__(self) -> None:
        if self.level not in ("user", "prefix"):
            raise ValueError(f"summary level must be 'user' or 'prefix', got {self.level!r}")
        for key in ("user_history", "max_tokens"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("max_title_chars", "max_item_chars"):
            if int(getattr(self, key)) < 10:
                raise ValueError(f"{key} must be >= 10, got {getattr(self, key)}")

    def nouns(self, dataset_name: str | None) -> tuple[str, str, str]:
        return self.kind or item_kind_for(dataset_name)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 3]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;.") + "..."


def answer_prime(which: str, nouns: tuple[str, str, str], chat: bool = False) -> str:
    """The start of the answer written into a completion prompt (empty for chat)."""
    if chat:
        return ""
    item, user, _ = nouns
    if which == "user":
        return f"This {user} likes"
    if which == "item":
        return f"This {item} is"
    raise ValueError(f"which must be 'user' or 'item', got {which!r}")


def user_prompt(titles: Sequence[str], nouns: tuple[str, str, str], settings: SummarySettings,
                chat: bool = False) -> str:
    """The preference-summary prompt from a user's item titles (oldest first; the
    last ``user_history`` are shown, each cut to ``max_title_chars``)."""
    item, user, verb = nouns
    shown = [_shorten(t, settings.max_title_chars) for t in list(titles)[-settings.user_history:]]
    if not shown:
        raise ValueError("a user summary needs at least one item title")
    lines = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(shown))
    body = f"The {item}s a {user} {verb}, oldest first:\n{lines}"
    instruction = f"Question: What kinds of {item}s does this {user} like? Answer in one sentence."
    if chat:
        return f"{body}\n\n{instruction}"
    return f"{body}\n\n{instruction}\nAnswer: {answer_prime('user', nouns)}"


def item_prompt(text: str, nouns: tuple[str, str, str], settings: SummarySettings,
                chat: bool = False) -> str:
    """The item-summary prompt from the item's title and attributes."""
    item = nouns[0]
    body = f"{item[0].upper() + item[1:]}: {_shorten(text, settings.max_item_chars)}"
    instruction = (f"Question: Describe this {item} in one sentence: what it is and what kind of "
                   f"{nouns[1]} would like it.")
    if chat:
        return f"{body}\n\n{instruction}"
    return f"{body}\n\n{instruction}\nAnswer: {answer_prime('item', nouns)}"


def tidy_summary(prime: str, answer: str) -> str:
    """``prime + answer``, whitespace collapsed, repeated sentences dropped; "" when the
    model said nothing."""
    from graphcl.llm.answers import tidy_answer
    return tidy_answer(prime, answer)


def run_prompts(llm: Any, prompts: Sequence[str], max_tokens: int, *, label: str = "summaries",
                chunk_size: int | None = None, log: bool = False,
                on_chunk: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
    """Raw answers of ``llm`` (a :class:`graphcl.llm.CachedGenerator`) to ``prompts``:
    greedy, at most ``max_tokens``, stopping at a line break. With ``chunk_size``
    the prompts go in chunks, each followed by ``on_chunk(record)`` (label, done,
    total, calls, hits, seconds) and, with ``log``, a progress line on stderr."""
    from graphcl.llm.generation import GenerationConfig
    config = GenerationConfig(max_tokens=int(max_tokens), temperature=0.0, stop=("\n",))
    prompts = list(prompts)
    if not chunk_size:
        return list(llm.generate(prompts, config))
    out: list[str] = []
    t0 = time.perf_counter()
    for start in range(0, len(prompts), int(chunk_size)):
        c0, h0, t1 = getattr(llm, "calls", 0), getattr(llm, "hits", 0), time.perf_counter()
        out.extend(llm.generate(prompts[start:start + int(chunk_size)], config))
        record = {"phase": label, "done": len(out), "total": len(prompts),
                  "calls": getattr(llm, "calls", 0) - c0, "hits": getattr(llm, "hits", 0) - h0,
                  "seconds": time.perf_counter() - t1}
        if on_chunk is not None:
            on_chunk(record)
        if log:
            print(f"[sracl] {label}: {len(out)}/{len(prompts)} prompts, {record['calls']} LLM calls "
                  f"in this chunk, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


# ------------------------------------------------------------------- JSONL files
@dataclass
class Summaries:
    """Summaries by source id: ``users`` (user level), ``prefixes`` ((user, length) ->
    text, prefix level) and ``items``."""
    users: dict[str, str] = field(default_factory=dict)
    items: dict[str, str] = field(default_factory=dict)
    prefixes: dict[tuple[str, int], str] = field(default_factory=dict)


def _id(value: Any, where: str, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
        raise SummaryFileError(f"{where}: {what} id must be a non-empty string or an integer, got {value!r}")
    return str(value).strip()


def read_summaries_jsonl(path: str | os.PathLike[str]) -> Summaries:
    """Read a summaries JSONL file (see the module docstring); every malformed line
    raises :class:`SummaryFileError` naming the file and line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"summaries file {path}: no such file")
    out = Summaries()
    for where, row in iter_jsonl_objects(path, SummaryFileError):
        if ("user" in row) == ("item" in row):
            raise SummaryFileError(f"{where}: needs exactly one of 'user' or 'item'; keys: {sorted(row)}")
        text = row.get("summary")
        if not isinstance(text, str) or not text.strip():
            raise SummaryFileError(f"{where}: 'summary' must be a non-empty string, got {text!r}")
        extra = set(row) - {"user", "item", "summary", "length"}
        if extra:
            raise SummaryFileError(f"{where}: unknown keys {sorted(extra)}")
        if "item" in row:
            if "length" in row:
                raise SummaryFileError(f"{where}: 'length' belongs to user prefix summaries, not items")
            key = _id(row["item"], where, "item")
            table: dict = out.items
        elif "length" in row:
            n = row["length"]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise SummaryFileError(f"{where}: 'length' must be a positive integer, got {n!r}")
            key, table = (_id(row["user"], where, "user"), n), out.prefixes
        else:
            key, table = _id(row["user"], where, "user"), out.users
        if key in table:
            raise SummaryFileError(f"{where}: a second summary for {'item' if 'item' in row else 'user'} {key!r}")
        table[key] = text.strip()
    if not (out.users or out.items or out.prefixes):
        raise SummaryFileError(f"{path}: no summaries")
    return out


def write_summaries_jsonl(path: str | os.PathLike[str], summaries: Summaries) -> None:
    """Write ``summaries`` as JSONL, atomically (users, then prefixes, then items)."""
    from graphcl.io import atomic_write_text
    rows = [{"user": u, "summary": s} for u, s in summaries.users.items()]
    rows += [{"user": u, "length": n, "summary": s} for (u, n), s in summaries.prefixes.items()]
    rows += [{"item": i, "summary": s} for i, s in summaries.items.items()]
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

