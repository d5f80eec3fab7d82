"""Generate GAugLLM's LLM outputs for text-attributed graphs, resumably, with timings.

    PYTHONPATH=. .venv/bin/python experiments/gaugllm_generate.py \
        --datasets webkb-cornell webkb-texas webkb-washington webkb-wisconsin \
        [--llm default] [--cache runs/gaugllm/llm_responses.sqlite] [--chunk 16] \
        [--threads 1] [--data-root ../shared/data] [--log runs/gaugllm/generation_log.jsonl]

For each dataset this runs :func:`graphcl.augment.gaugllm.generate_augmentation`
(the three generated prompt experts of every node, then the yes/no decisions on
the edge candidates) through the response cache, ``--chunk`` prompts at a time.
Every answer is committed to the cache as soon as its batch returns, so the
script can be killed at any point and run again: it makes only the missing
calls. After each chunk a JSON line (dataset, phase, prompts done, LLM calls,
cache hits, seconds) is appended to ``--log``; the timings in the results file
are the sums over these lines (so they survive restarts). When a dataset is
complete its statistics and a few example answers go to
``runs/gaugllm/generation_<dataset>.json`` (``stats``: this run; ``runs``: every run's
stats, oldest first, so a cache-served re-run keeps the generating run's timings).

``--llm`` is a :func:`graphcl.llm.make_generator` spec: ``default`` is the
embedded Gemma-3-270M GGUF through llama.cpp on ``--threads`` CPU threads;
``openai:<model>@<base_url>`` sends the same instructions as chat messages to
an OpenAI-compatible server (key in ``$OPENAI_API_KEY``). Keep the response
cache outside git (``runs/`` is ignored).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

WEBKB = ["webkb-cornell", "webkb-texas", "webkb-washington", "webkb-wisconsin"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=WEBKB)
    ap.add_argument("--llm", default="default")
    ap.add_argument("--cache", default=str(REPO / "runs" / "gaugllm" / "llm_responses.sqlite"))
    ap.add_argument("--log", default=str(REPO / "runs" / "gaugllm" / "generation_log.jsonl"))
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--import-answers", metavar="JSONL",
                    help="re-key the answers of an answers.jsonl copy into --cache for --llm (when the "
                         "cache key scheme or file moved) and exit")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from graphcl.augment import generate_augmentation
    from graphcl.data import load
    from graphcl.llm import TextEncoder, cached_generator
    from graphcl.models.node.gaugllm import GAUGLLM_DEFAULTS, settings_from_config

    log_path = Path(args.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    answers_path = log_path.with_name("answers.jsonl")
    spec = None if args.llm in ("", "default") else args.llm
    kw = {"n_threads": args.threads} if spec is None or str(spec).startswith("llama-cpp") else {}
    llm = cached_generator(spec, cache=args.cache, batch_size=4, desc="GAugLLM LLM calls", **kw)
    if args.import_answers:
        return import_answers(llm, Path(args.import_answers))
    encoder = TextEncoder()
    settings = settings_from_config(GAUGLLM_DEFAULTS)
    for name in args.datasets:
        data = load(name, root=args.data_root, encoder=encoder)

        def on_chunk(record: dict, name: str = name) -> None:
            prompts, answers, config = record.pop("prompts"), record.pop("answers"), record.pop("config")
            line = {"dataset": name, "llm": f"{llm.backend}:{llm.model}", "time": time.time(),
                    "pid": os.getpid(), "threads": args.threads if kw else None, **record}
            with log_path.open("a") as fh:
                fh.write(json.dumps(line) + "\n")
            if record["calls"]:  # a plain-text copy of the new answers (re-keyable, see --import)
                with answers_path.open("a") as fh:
                    for p, a in zip(prompts, answers):
                        fh.write(json.dumps({"llm": line["llm"], "config": config, "prompt": p,
                                             "answer": a}) + "\n")

        t0 = time.perf_counter()
        print(f"[gaugllm] {name}: {data.num_nodes} nodes, generating through {args.cache}", flush=True)
        aug = generate_augmentation(data, llm, encoder, settings, chunk_size=args.chunk, log=True,
                                    on_chunk=on_chunk)
        stats = {**aug.stats, "dataset": name, "llm": f"{llm.backend}:{llm.model}",
                 "wall_seconds_this_run": time.perf_counter() - t0}
        examples = {e: [{"node": i, "prompt": aug.prompts[e][i], "answer": aug.answers[e][i]}
                        for i in (0, 1, 2)] for e in ("IDR", "SAS", "SAR")}
        examples["decision"] = [{"prompt": p, "answer": a} for p, a in
                                list(zip(aug.prompts["decision"], aug.answers["decision"]))[:4]]
        out = log_path.parent / f"generation_{name}.json"
        # keep every run's stats: a re-run served from the cache (0 calls) must not erase
        # the timings of the run that made the calls
        runs = []
        if out.exists():
            try:
                old = json.loads(out.read_text())
                runs = old.get("runs") or ([old["stats"]] if "stats" in old else [])
            except (json.JSONDecodeError, OSError) as exc:
                print(f"[gaugllm] {out} unreadable ({exc}); starting its run history afresh", flush=True)
        runs.append(stats)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"stats": stats, "runs": runs, "examples": examples}, indent=2))
        os.replace(tmp, out)
        print(f"[gaugllm] {name} done: {json.dumps(stats)}", flush=True)
    return 0


def import_answers(llm, path: Path) -> int:
    """Put every answer of ``path`` made by the same backend/model into the cache under
    the current cache key of (generator, prompt, config)."""
    from graphcl.llm import GenerationConfig, cache_key
    items = {}
    name = f"{llm.backend}:{llm.model}"
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["llm"] != name:
            continue
        cfg = rec["config"]
        config = GenerationConfig(max_tokens=cfg["max_tokens"], temperature=cfg["temperature"],
                                  top_p=cfg["top_p"], stop=tuple(cfg["stop"]), seed=cfg["seed"])
        items[cache_key(llm.generator, rec["prompt"], config)] = rec["answer"]
    llm.cache.put_many(items, backend=llm.backend, model=llm.model)
    print(f"imported {len(items)} answers of {name} into {llm.cache.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
