"""``graphcl llm gaugllm``: GAugLLM's LLM outputs for text-attributed graphs, generated ahead
of training, resumably, with timings.

For each dataset :func:`prepare_gaugllm` runs
:func:`graphcl.gaugllm.augmenter.generate_augmentation` (the three generated prompt experts
of every node, then the yes/no decisions on the edge candidates) with the settings
``graphcl train gaugllm`` uses (:data:`graphcl.gaugllm.model.GAUGLLM_DEFAULTS` with the same
``--set`` overrides), through the response cache, ``chunk`` prompts at a time. Every answer is
committed as soon as its batch returns: a killed run resumes with only the missing calls, a
re-run makes none, and so does a later ``graphcl train gaugllm`` on the same cache
(``--set llm_cache=FILE``, ``llm_offline=true`` to refuse any uncached prompt).

Files in ``out_dir``: ``generation_log.jsonl`` (one line per chunk: phase, done, total,
calls, hits, seconds; timings are sums over its lines, so they survive restarts),
``answers.jsonl`` (a plain-text copy of every newly generated answer with its prompt and
generation config, re-keyable into a cache with :func:`import_answers`) and
``generation_<dataset>.json`` (``stats`` of this run, ``runs``: every run's stats, oldest
first, so a cache-served re-run keeps the generating run's timings, and example answers).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["WEBKB", "default_out_dir", "import_answers", "prepare_gaugllm"]

#: the WebKB text-attributed graphs of the GAugLLM experiments
WEBKB = ("webkb-cornell", "webkb-texas", "webkb-washington", "webkb-wisconsin")


def default_out_dir() -> Path:
    """``runs/gaugllm`` (relative to the working directory)."""
    return Path("runs") / "gaugllm"


def prepare_gaugllm(datasets: Sequence[str] = WEBKB, *, overrides: Mapping[str, Any] | None = None,
                    data_root: str | os.PathLike[str] | None = None, backend: str | None = None,
                    cache: str | os.PathLike[str] | None = None, offline: bool | None = None,
                    threads: int = 1, chunk: int = 16, out_dir: str | os.PathLike[str] | None = None,
                    echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Generate (or read from the cache) GAugLLM's LLM outputs for each of ``datasets``;
    returns each dataset's stats (see the module docstring for the files written).

    ``backend`` / ``cache`` / ``offline``: None takes the config's ``llm`` / ``llm_cache`` /
    ``llm_offline``; ``threads``: llama.cpp CPU threads."""
    from graphcl.data import load
    from graphcl.gaugllm.augmenter import generate_augmentation
    from graphcl.gaugllm.model import settings_from_config
    from graphcl.llm.preparation import ChunkLog, method_config, preparation_generator
    from graphcl.llm.text_encoder import TextEncoder

    if int(chunk) < 1:
        raise ValueError(f"--chunk must be >= 1, got {chunk}")
    if not datasets:
        raise ValueError("no dataset given")
    configs = {name: method_config("gaugllm", name, overrides) for name in datasets}  # checks first
    first = configs[datasets[0]][0]
    llm = preparation_generator(backend or first["llm"], cache=cache or first["llm_cache"] or None,
                                offline=first["llm_offline"] if offline is None else offline,
                                threads=threads, desc="GAugLLM LLM calls")
    name_llm = f"{llm.backend}:{llm.model}"
    out = Path(out_dir).expanduser() if out_dir else default_out_dir()
    encoders: dict[str, Any] = {}
    results = []
    for name in datasets:
        config, data_options = configs[name]
        encoder = encoders.setdefault(config["text_encoder"], TextEncoder(str(config["text_encoder"])))
        data = load(name, root=data_root, **{"encoder": encoder, **data_options})
        log = ChunkLog(out / "generation_log.jsonl", name, name_llm,
                       threads=int(threads) if llm.backend == "llama-cpp" else None)
        on_chunk = _answer_copier(log, out / "answers.jsonl")
        t0 = time.perf_counter()
        echo(f"[gaugllm] {name}: {data.num_nodes} nodes, generating through {llm.cache.path}")
        aug = generate_augmentation(data, llm, encoder, settings_from_config(config), chunk_size=int(chunk),
                                    log=True, on_chunk=on_chunk)
        stats = {**aug.stats, "dataset": name, "llm": name_llm,
                 "wall_seconds_this_run": time.perf_counter() - t0}
        _write_generation(out / f"generation_{name}.json", stats, _examples(aug), echo)
        echo(f"[gaugllm] {name} done: {json.dumps(stats)}")
        results.append(stats)
    return results


def _answer_copier(log: Any, answers_path: Path) -> Callable[[dict[str, Any]], None]:
    """The ``on_chunk`` of one dataset: a log line per chunk, and the chunk's prompts and
    answers appended to ``answers_path`` when it made LLM calls."""
    def on_chunk(record: dict[str, Any]) -> None:
        prompts, answers, config = record.pop("prompts"), record.pop("answers"), record.pop("config")
        line = log.write(record)
        if record["calls"]:
            with answers_path.open("a", encoding="utf-8") as fh:
                for p, a in zip(prompts, answers):
                    fh.write(json.dumps({"llm": line["llm"], "config": config, "prompt": p,
                                         "answer": a}) + "\n")
    return on_chunk


def _examples(aug: Any) -> dict[str, list[dict[str, Any]]]:
    n = len(aug.texts["ORI"])
    out = {e: [{"node": i, "prompt": aug.prompts[e][i], "answer": aug.answers[e][i]}
               for i in range(min(3, n))] for e in ("IDR", "SAS", "SAR")}
    out["decision"] = [{"prompt": p, "answer": a} for p, a in
                       list(zip(aug.prompts["decision"], aug.answers["decision"]))[:4]]
    return out


def _write_generation(path: Path, stats: dict[str, Any], examples: dict[str, Any],
                      echo: Callable[[str], None]) -> None:
    """Write ``generation_<dataset>.json`` atomically, keeping every earlier run's stats (a
    re-run served from the cache must not erase the timings of the run that made the calls)."""
    from graphcl.io import atomic_write_text

    runs: list[dict[str, Any]] = []
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            runs = list(old.get("runs") or ([old["stats"]] if "stats" in old else []))
        except (json.JSONDecodeError, OSError, AttributeError) as exc:
            echo(f"[gaugllm] {path} unreadable ({exc}); starting its run history afresh")
    runs.append(stats)
    atomic_write_text(path, json.dumps({"stats": stats, "runs": runs, "examples": examples}, indent=2))


def import_answers(llm: Any, path: str | os.PathLike[str]) -> int:
    """Put every answer of an ``answers.jsonl`` copy made by ``llm``'s backend and model into
    ``llm``'s cache, under the current cache key of (generator, prompt, config) (after the
    cache key scheme or the cache file changed). Returns the number of answers stored."""
    from graphcl.llm.generation import GenerationConfig, cache_key

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"answers file not found: {path}")
    name = f"{llm.backend}:{llm.model}"
    items = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if rec["llm"] != name:
                continue
            cfg = rec["config"]
            config = GenerationConfig(max_tokens=cfg["max_tokens"], temperature=cfg["temperature"],
                                      top_p=cfg["top_p"], stop=tuple(cfg["stop"]), seed=cfg["seed"])
            items[cache_key(llm.generator, rec["prompt"], config)] = rec["answer"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not an answers line ({type(exc).__name__}: {exc})") from None
    llm.cache.put_many(items, backend=llm.backend, model=llm.model)
    return len(items)
