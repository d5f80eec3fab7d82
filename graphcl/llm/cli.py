"""``graphcl llm ...``: check a text-generation setup from the command line, and prepare
the LLM outputs of SRA-CL and GAugLLM ahead of training.

``graphcl llm generate --prompt "..." [--backend SPEC] [--max-tokens N]`` prints the
answer; ``--input prompts.jsonl`` reads one JSON per line (an object with a
``prompt`` key, other keys are copied to the output, or a bare JSON string) and
writes one JSON object per line (``prompt``, ``response`` and the copied keys) to
``--output`` (atomically) or stdout. Answers go through the response cache
(``--cache FILE``, default ``$GRAPHCL_CACHE/llm_responses.sqlite``; ``--no-cache``;
``--offline`` refuses uncached prompts). ``graphcl llm cache-stats`` summarizes a
cache file.

``graphcl llm summaries --dataset ml-100k-seq [--set KEY=VALUE] [--template]`` writes SRA-CL's
user and item summaries as the JSONL ``graphcl train sracl --set summaries=FILE`` reads
(:mod:`graphcl.llm.prepare_summaries`); ``graphcl llm gaugllm --dataset webkb-cornell ...``
generates GAugLLM's prompt-expert texts and edge decisions (:mod:`graphcl.gaugllm.prepare`).
Both send their prompts through the response cache a chunk at a time, so a killed run
resumes with only the missing calls and a re-run (or the training run) makes none. This
module imports neither torch nor the models until one of these two commands runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from graphcl.llm.generation import GenerationConfig, LLMError

__all__ = ["add_llm_parser", "run"]


def add_llm_parser(sub: Any) -> None:
    """Add the ``llm`` command (with ``generate`` and ``cache-stats``) to ``sub``."""
    llm = sub.add_parser("llm", help="text generation: try a backend, inspect the response cache")
    cmds = llm.add_subparsers(dest="llm_command", required=True)

    gen = cmds.add_parser("generate", help="generate answers for prompts (cached)")
    src = gen.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    src.add_argument("--input", help="JSONL file: one {\"prompt\": ...} object (or JSON string) per line")
    gen.add_argument("--output", help="write JSONL answers here (default: stdout)")
    gen.add_argument("--backend", default="default",
                     help="generator spec: default | llama-cpp[:/path.gguf] | openai:<model>@<base_url>")
    gen.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="backend option (repeatable), e.g. timeout=30, n_ctx=4096, api_key_env=MY_KEY")
    gen.add_argument("--chat", action=argparse.BooleanOptionalAction, default=None,
                     help="send prompts as chat messages (default: the backend's default)")
    gen.add_argument("--threads", type=int, help="llama.cpp CPU threads (llama-cpp backend)")
    gen.add_argument("--max-tokens", type=int, default=128)
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (deterministic)")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    gen.add_argument("--cache", help="response cache file (default $GRAPHCL_CACHE/llm_responses.sqlite)")
    gen.add_argument("--no-cache", action="store_true", help="always call the backend, store nothing")
    gen.add_argument("--offline", action="store_true", help="answer only from the cache")
    gen.add_argument("--batch-size", type=int, default=8, help="prompts per backend call / cache commit")

    _add_summaries_parser(cmds)
    _add_gaugllm_parser(cmds)

    st = cmds.add_parser("cache-stats", help="entries per backend/model in a response cache")
    st.add_argument("--cache", help="response cache file (default $GRAPHCL_CACHE/llm_responses.sqlite)")
    st.add_argument("--json", action="store_true", help="print the statistics as JSON")


def _add_preparation_options(p: argparse.ArgumentParser, method: str, threads: int | None) -> None:
    """The options ``summaries`` and ``gaugllm`` share."""
    p.add_argument("--data-root", help="folder holding the datasets (default: $GRAPHCL_DATA or datasets/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=f"{method} config key, as for `graphcl train {method}` (the prompts follow "
                   "it); data.<option> goes to the dataset loader")
    p.add_argument("--backend", help="generator spec: default | llama-cpp[:/path.gguf] | "
                   "openai:<model>@<base_url> (default: the config's llm)")
    p.add_argument("--cache", help="response cache file (default: the config's llm_cache, else "
                   "$GRAPHCL_CACHE/llm_responses.sqlite)")
    p.add_argument("--offline", action="store_true", default=None,
                   help="answer only from the cache (an uncached prompt is an error)")
    default = "the config's llm_threads" if threads is None else threads
    p.add_argument("--threads", type=int, default=threads,
                   help=f"torch and llama.cpp CPU threads (default: {default})")
    p.add_argument("--chunk", type=int, help="prompts per progress / timing-log line (default 16)")


def _add_summaries_parser(cmds: Any) -> None:
    sm = cmds.add_parser("summaries", help="SRA-CL's user and item summaries of a sequence dataset, "
                         "as a summaries JSONL (LLM through the response cache, or --template)")
    sm.add_argument("--dataset", default="ml-100k-seq", help="sequence dataset name or path "
                    "(ml-100k: its sequence form ml-100k-seq)")
    _add_preparation_options(sm, "sracl", None)
    sm.add_argument("--template", action="store_true", help="fill the summaries from a fixed "
                    "genre/title template: no LLM, no cache (NOT SRA-CL's LLM semantics)")
    sm.add_argument("--order", help="users-first (default) | items-first | users-first-reversed | "
                    "items-first-reversed (a second process on the same cache: use a *-reversed order)")
    sm.add_argument("--out", help="summaries JSONL (default runs/sracl/summaries_<dataset>.jsonl, "
                    "template: runs/sracl/template_summaries_<dataset>.jsonl); stats beside it")
    sm.add_argument("--log", help="per-chunk timing log, appended (default: generation_log.jsonl "
                    "beside --out)")


def _add_gaugllm_parser(cmds: Any) -> None:
    from graphcl.gaugllm.prepare import WEBKB

    ga = cmds.add_parser("gaugllm", help="GAugLLM's prompt-expert texts and LLM edge decisions of "
                         "text-attributed graphs, into the response cache (with timings)")
    ga.add_argument("--dataset", nargs="+", default=list(WEBKB), metavar="NAME",
                    help=f"text-attributed graphs (default: {' '.join(WEBKB)})")
    _add_preparation_options(ga, "gaugllm", 1)
    ga.add_argument("--out-dir", help="folder of generation_log.jsonl, answers.jsonl and "
                    "generation_<dataset>.json (default runs/gaugllm)")
    ga.add_argument("--import-answers", metavar="JSONL", help="put the answers of an answers.jsonl "
                    "made by --backend into --cache (after the cache key scheme or file changed) and exit")


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"prompt file not found: {p}")
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}:{n}: not valid JSON ({exc.msg})") from None
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
            raise ValueError(f"{p}:{n}: expected a JSON string or an object with a string 'prompt'")
        rows.append(item)
    if not rows:
        raise ValueError(f"{p}: no prompts")
    return rows


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from graphcl.config import parse_set_options
    opts = parse_set_options(args.option)
    if args.chat is not None:
        opts["chat"] = args.chat
    if args.threads is not None:
        opts["n_threads"] = args.threads
    return opts


def _cmd_generate(args: argparse.Namespace) -> int:
    from graphcl.llm.cached import CachedGenerator
    from graphcl.llm.factory import make_generator

    if args.no_cache and args.offline:
        raise ValueError("--offline answers from the cache; it cannot be combined with --no-cache")
    rows = [{"prompt": p} for p in args.prompt] if args.prompt else _read_jsonl(args.input)
    config = GenerationConfig(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                              stop=tuple(args.stop), seed=args.seed)
    generator = make_generator(args.backend, **_options(args))
    runner = generator if args.no_cache else CachedGenerator(
        generator, args.cache, offline=args.offline, batch_size=args.batch_size, desc="generate")
    start = time.perf_counter()
    answers = runner.generate([r["prompt"] for r in rows], config)
    seconds = time.perf_counter() - start
    if args.output or args.input:
        lines = [json.dumps({**r, "response": a}, ensure_ascii=False) for r, a in zip(rows, answers)]
        text = "\n".join(lines) + "\n"
        if args.output:
            from graphcl.io import atomic_write_text
            atomic_write_text(args.output, text)
        else:
            sys.stdout.write(text)
    else:
        for a in answers:
            print(a)
    cached = "" if args.no_cache else f", {runner.hits} from the cache, {runner.calls} generated"
    print(f"{len(rows)} prompt(s){cached} in {seconds:.2f} s ({generator.backend}:{generator.model})",
          file=sys.stderr)
    return 0


def _cmd_cache_stats(args: argparse.Namespace) -> int:
    from graphcl.llm.response_cache import ResponseCache, default_response_cache_path

    path = Path(args.cache).expanduser() if args.cache else default_response_cache_path()
    if not path.exists():
        raise FileNotFoundError(f"no response cache at {path}")
    with ResponseCache(path) as cache:
        stats = cache.stats()
        stats["integrity"] = cache.integrity_check()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"cache: {stats['path']} ({stats['bytes'] / 1e6:.2f} MB, integrity {stats['integrity']})")
    print(f"entries: {stats['entries']}")
    for row in stats["by_model"]:
        print(f"  {row['entries']:>8}  {row['backend']}:{row['model']}  ({row['chars']} chars)")
    return 0


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads must be >= 1, got {threads}")
        import torch
        torch.set_num_threads(threads)


def _cmd_summaries(args: argparse.Namespace) -> int:
    from graphcl.config import parse_set_options

    if args.template:
        llm_only = [flag for flag, value in (("--backend", args.backend), ("--cache", args.cache),
                                             ("--offline", args.offline), ("--chunk", args.chunk),
                                             ("--order", args.order), ("--log", args.log))
                    if value is not None]
        if llm_only:
            raise ValueError(f"--template makes no LLM call; {', '.join(llm_only)} do(es) not apply")
    overrides = parse_set_options(args.overrides)
    _set_threads(args.threads)
    from graphcl.llm.prepare_summaries import prepare_summaries

    prepare_summaries(args.dataset, overrides=overrides, data_root=args.data_root, template=args.template,
                      backend=args.backend, cache=args.cache, offline=args.offline, threads=args.threads,
                      chunk=16 if args.chunk is None else args.chunk, order=args.order or "users-first",
                      out=args.out, log=args.log, echo=lambda msg: print(msg, flush=True))
    return 0


def _cmd_gaugllm(args: argparse.Namespace) -> int:
    from graphcl.config import parse_set_options

    overrides = parse_set_options(args.overrides)
    _set_threads(args.threads)
    if args.import_answers:
        from graphcl.gaugllm.prepare import import_answers
        from graphcl.llm.preparation import method_config, preparation_generator

        config, _ = method_config("gaugllm", args.dataset[0], overrides)
        llm = preparation_generator(args.backend or config["llm"], cache=args.cache or config["llm_cache"],
                                    threads=args.threads, desc="import")
        count = import_answers(llm, args.import_answers)
        print(f"imported {count} answers of {llm.backend}:{llm.model} into {llm.cache.path}")
        return 0
    from graphcl.gaugllm.prepare import prepare_gaugllm

    prepare_gaugllm(args.dataset, overrides=overrides, data_root=args.data_root, backend=args.backend,
                    cache=args.cache, offline=args.offline, threads=args.threads,
                    chunk=16 if args.chunk is None else args.chunk, out_dir=args.out_dir,
                    echo=lambda msg: print(msg, flush=True))
    return 0


def _user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions reported as one line: LLM failures, bad input, missing files, and (once
    the dataset catalog was imported) an unknown dataset name."""
    known: list[type[BaseException]] = [LLMError, ValueError, OSError]
    root = sys.modules.get("graphcl.data.root")
    if root is not None:
        known.append(root.DatasetNotFoundError)
    spec = sys.modules.get("graphcl.method_spec")
    if spec is not None:
        known.append(spec.UnknownMethodError)
    return tuple(known)


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``graphcl llm`` command; user-facing errors (LLM failures, bad
    input, missing files) print one line and return 2 (``GRAPHCL_DEBUG=1``: traceback)."""
    handler = {"generate": _cmd_generate, "cache-stats": _cmd_cache_stats, "summaries": _cmd_summaries,
               "gaugllm": _cmd_gaugllm}[args.llm_command]
    try:
        return handler(args)
    except _user_errors() as exc:
        import os
        if os.environ.get("GRAPHCL_DEBUG"):
            raise
        print(f"graphcl: error: {exc}", file=sys.stderr)
        return 2
