"""Shared parts of the ``graphcl llm`` preparation commands (``summaries``, ``gaugllm``):
the method config their prompts come from, the cached generator they send them through,
and the per-chunk timing log that lets a long, restarted generation report its rate.

Both commands generate through a :class:`graphcl.llm.CachedGenerator`, a few prompts per
backend call: every answer is committed to the response cache as soon as its batch
returns, so a killed run resumes with only the missing calls and a re-run makes none.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ChunkLog", "method_config", "preparation_generator"]


def method_config(method: str, dataset: str, overrides: Mapping[str, Any] | None = None
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, data_options)`` of ``method`` on ``dataset`` as ``graphcl train`` merges
    them (defaults < the method's preset for the dataset < ``overrides``); ``data.<key>``
    overrides are dataset options. Unknown keys and out-of-range values raise
    :class:`graphcl.config.ConfigError`, so the prompts are those training would build."""
    from graphcl.config import merge_config
    from graphcl.registry import get_method

    spec = get_method(method)
    layers = [spec.presets[dataset.lower()]] if dataset.lower() in spec.presets else []
    return merge_config(spec.defaults, *layers, dict(overrides or {}), method=spec.name,
                        ranges=spec.ranges)


def preparation_generator(spec: str | None, *, cache: str | os.PathLike[str] | None = None,
                          offline: bool = False, threads: int = 1, desc: str = "LLM calls") -> Any:
    """The :class:`graphcl.llm.CachedGenerator` of a backend spec ("default" or None: the
    embedded Gemma-3-270M through llama.cpp on ``threads`` CPU threads), committing every
    4 answers to ``cache`` (None: ``$GRAPHCL_CACHE/llm_responses.sqlite``)."""
    from graphcl.llm.factory import cached_generator

    if int(threads) < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    spec = None if spec in (None, "", "default") else spec
    kw = {"n_threads": int(threads)} if spec is None or str(spec).startswith("llama-cpp") else {}
    return cached_generator(spec, cache=cache or None, offline=bool(offline), batch_size=4, desc=desc,
                            **kw)


class ChunkLog:
    """An append-only JSON-lines log: one line per chunk of prompts (``dataset``, ``llm``,
    ``time``, ``pid``, the fixed ``fields`` and the chunk's record: phase, done, total,
    calls, hits, seconds). Lines survive restarts, so the rate of a generation that was
    killed and resumed is the sum of their seconds over the sum of their calls."""

    def __init__(self, path: str | os.PathLike[str], dataset: str, llm: str, **fields: Any) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dataset, self.llm, self.fields = dataset, llm, fields

    def write(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append one line (``record`` after the fixed fields); returns the line."""
        line = {"dataset": self.dataset, "llm": self.llm, "time": time.time(), "pid": os.getpid(),
                **self.fields, **record}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        return line

    def totals(self) -> dict[str, Any]:
        """LLM calls and seconds summed over this dataset's lines that made calls, and their
        ratio (``seconds_per_call``, None without calls)."""
        rows = _read_lines(self.path)
        rows = [r for r in rows if r.get("dataset") == self.dataset and r.get("calls")]
        calls = sum(int(r["calls"]) for r in rows)
        secs = sum(float(r.get("seconds", 0.0)) for r in rows)
        return {"logged_calls": calls, "logged_seconds": secs,
                "seconds_per_call": secs / calls if calls else None}


def _read_lines(path: Path) -> Sequence[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:   # a line torn by a kill: skip it, keep the rest
            continue
        if isinstance(row, dict):
            out.append(row)
    return out
