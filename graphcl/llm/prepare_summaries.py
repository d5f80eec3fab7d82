"""``graphcl llm summaries``: SRA-CL's summaries of a sequence dataset, written as the JSONL
file ``graphcl train sracl --set summaries=FILE`` reads.

LLM mode (default): the prompts are exactly those ``graphcl train sracl`` builds (the
SRA-CL config, with the same ``--set`` overrides: ``summary_level``, ``user_history``,
``summary_max_tokens``, ``item_text``, ``data.<option>``), sent through the response cache
``chunk`` prompts at a time (:func:`graphcl.models.seq.sracl_semantics.generate_summaries`).
A killed run resumes with only the missing calls; a re-run makes none, and so does a later
``graphcl train sracl`` on the same cache (``--set llm_cache=FILE``). After each chunk a JSON
line goes to the timing log (:class:`graphcl.llm.preparation.ChunkLog`); the statistics, the
logged rate and a few examples go beside the summaries (``<out>.stats.json``).

Template mode (``template=True``): :func:`graphcl.llm.template_summaries.template_summaries`,
no LLM, no cache; for exercising the precomputed-summaries path, NOT SRA-CL's semantics.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphcl.llm.summaries import Summaries

__all__ = ["PreparedSummaries", "default_summaries_path", "prepare_summaries"]


@dataclass
class PreparedSummaries:
    """What :func:`prepare_summaries` wrote: the file, its summaries and the run's stats."""
    dataset: str
    path: Path
    summaries: Summaries
    stats: dict[str, Any] = field(default_factory=dict)


def default_summaries_path(dataset: str, template: bool = False) -> Path:
    """``runs/sracl/summaries_<dataset>.jsonl`` (``template_summaries_...`` for templates)."""
    return Path("runs") / "sracl" / f"{'template_' if template else ''}summaries_{dataset}.jsonl"


def prepare_summaries(dataset: str, *, overrides: Mapping[str, Any] | None = None,
                      data_root: str | os.PathLike[str] | None = None, template: bool = False,
                      backend: str | None = None, cache: str | os.PathLike[str] | None = None,
                      offline: bool | None = None, threads: int | None = None, chunk: int = 16,
                      order: str = "users-first", out: str | os.PathLike[str] | None = None,
                      log: str | os.PathLike[str] | None = None,
                      echo: Callable[[str], None] = print) -> PreparedSummaries:
    """Write the summaries of ``dataset`` (see the module docstring) and return them.

    ``backend`` / ``cache`` / ``offline`` / ``threads``: None takes the config's ``llm`` /
    ``llm_cache`` / ``llm_offline`` / ``llm_threads``. ``out``: default
    :func:`default_summaries_path`; ``log``: default ``generation_log.jsonl`` beside it.
    ``order``: see :func:`~graphcl.models.seq.sracl_semantics.generate_summaries` (two
    processes on one cache, one ``*-reversed``, split the calls)."""
    from graphcl.data import load
    from graphcl.data.item_text import sequence_item_texts
    from graphcl.data.named import sequence_name
    from graphcl.data.sequences import SequenceDataset
    from graphcl.llm.preparation import method_config
    from graphcl.models.seq.sracl_semantics import SUMMARY_ORDERS

    if int(chunk) < 1:
        raise ValueError(f"--chunk must be >= 1, got {chunk}")
    if order not in SUMMARY_ORDERS:
        raise ValueError(f"order must be one of {', '.join(SUMMARY_ORDERS)}, got {order!r}")
    name = sequence_name(dataset)
    config, data_options = method_config("sracl", name, overrides)
    if template and config["summary_level"] != "user":
        raise ValueError("template summaries are user level; drop summary_level="
                         f"{config['summary_level']} or generate them with the LLM")
    data = load(name, root=data_root, **data_options)
    if not isinstance(data, SequenceDataset):
        raise ValueError(f"{name} is not a sequence dataset (SRA-CL summarizes user sequences; "
                         f"e.g. ml-100k-seq, beauty)")
    item_text = sequence_item_texts(data, config["item_text"] or None)
    path = Path(out).expanduser() if out else default_summaries_path(name, template)
    if template:
        from graphcl.llm.summaries import write_summaries_jsonl
        from graphcl.llm.template_summaries import template_summaries
        summaries = template_summaries(data, int(config["user_history"]), item_text)
        write_summaries_jsonl(path, summaries)
        stats = {"source": "template (no LLM)", "users": len(summaries.users),
                 "items": len(summaries.items), "summaries": str(path)}
        echo(f"{path}: {len(summaries.users)} user + {len(summaries.items)} item template summaries")
        return PreparedSummaries(name, path, summaries, stats)
    return _generate(name, data, config, item_text, path, backend=backend, cache=cache,
                     offline=offline, threads=threads, chunk=int(chunk), order=order, log=log,
                     echo=echo)


def _generate(name: str, data: Any, config: dict[str, Any], item_text: Any, path: Path, *,
              backend: str | None, cache: Any, offline: bool | None, threads: int | None,
              chunk: int, order: str, log: Any, echo: Callable[[str], None]) -> PreparedSummaries:
    from graphcl.io import atomic_write_text
    from graphcl.llm.preparation import ChunkLog, preparation_generator
    from graphcl.llm.summaries import write_summaries_jsonl
    from graphcl.models.seq.sracl import summary_settings
    from graphcl.models.seq.sracl_semantics import generate_summaries, semantic_units

    settings = summary_settings(config)
    units = semantic_units(data, settings.level)
    llm = preparation_generator(backend or config["llm"], cache=cache or config["llm_cache"] or None,
                                offline=config["llm_offline"] if offline is None else offline,
                                threads=threads or int(config["llm_threads"]), desc="SRA-CL LLM calls")
    chunk_log = ChunkLog(log or path.parent / "generation_log.jsonl", name,
                         f"{llm.backend}:{llm.model}", level=settings.level)
    echo(f"{name}: {len(units)} {settings.level} units + {data.num_items} items; cache {llm.cache.path}")
    summaries, stats = generate_summaries(data, units, item_text, llm, settings, order=order,
                                          chunk_size=chunk, log=True, on_chunk=chunk_log.write)
    write_summaries_jsonl(path, summaries)
    stats.update({**chunk_log.totals(), "llm": f"{llm.backend}:{llm.model}", "summaries": str(path)})
    examples = {"users": list(summaries.users.items())[:5] or list(summaries.prefixes.items())[:5],
                "items": list(summaries.items.items())[:5]}
    atomic_write_text(path.with_suffix(".stats.json"),
                      json.dumps({**stats, "examples": examples}, indent=2, default=str))
    echo(json.dumps(stats, default=str))
    return PreparedSummaries(name, path, summaries, stats)
