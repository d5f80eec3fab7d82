"""Generate SRA-CL's LLM summaries for a sequence dataset, resumably, with timings.

    PYTHONPATH=. .venv/bin/python experiments/sracl_generate.py --dataset ml-100k-seq \
        [--llm default] [--cache runs/sracl/llm_responses.sqlite] [--chunk 16] [--threads 1] \
        [--level user] [--item-text FILE] [--log runs/sracl/generation_log.jsonl]

Builds exactly the prompts ``graphcl train sracl`` builds (same settings: the
SRA-CL registry defaults) and sends them through the response cache,
``--chunk`` prompts at a time: every answer is committed as soon as its batch
returns, so the script can be killed at any point and run again (it makes only
the missing calls), and a later ``graphcl train sracl --set llm_cache=<cache>``
makes no LLM call at all. After each chunk a JSON line (dataset, phase, prompts
done, LLM calls, cache hits, seconds) is appended to ``--log``; the measured
rate is the sum of seconds over the lines with calls divided by their calls.
When every prompt is answered the summaries are written as JSONL to
``runs/sracl/summaries_<dataset>.jsonl`` (usable as ``--set summaries=FILE``).
Keep the cache outside git (``runs/`` is ignored).
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="ml-100k-seq")
    ap.add_argument("--llm", default="default")
    ap.add_argument("--cache", default=str(REPO / "runs" / "sracl" / "llm_responses.sqlite"))
    ap.add_argument("--log", default=str(REPO / "runs" / "sracl" / "generation_log.jsonl"))
    ap.add_argument("--out", help="summaries JSONL (default runs/sracl/summaries_<dataset>.jsonl)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--level", default="user", choices=("user", "prefix"))
    ap.add_argument("--item-text", default="", help="side file of item texts (CSV/JSONL)")
    ap.add_argument("--order", default="users-first",
                    choices=("users-first", "items-first", "users-first-reversed", "items-first-reversed"),
                    help="a second process on the same cache: use a *-reversed order")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from graphcl.data import load
    from graphcl.data.item_text import sequence_item_texts
    from graphcl.llm import cached_generator
    from graphcl.llm.summaries import write_summaries_jsonl
    from graphcl.models.seq.sracl import SRACL_DEFAULTS, summary_settings
    from graphcl.models.seq.sracl_semantics import generate_summaries, semantic_units

    config = {**SRACL_DEFAULTS, "summary_level": args.level}
    settings = summary_settings(config)
    data = load(args.dataset, root=args.data_root)
    item_text = sequence_item_texts(data, args.item_text or None)
    units = semantic_units(data, settings.level)
    spec = None if args.llm in ("", "default") else args.llm
    kw = {"n_threads": args.threads} if spec is None or str(spec).startswith("llama-cpp") else {}
    llm = cached_generator(spec, cache=args.cache, batch_size=4, desc="SRA-CL LLM calls", **kw)
    log_path = Path(args.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def on_chunk(record: dict) -> None:
        line = {"dataset": args.dataset, "level": args.level, "llm": f"{llm.backend}:{llm.model}",
                "time": time.time(), "pid": os.getpid(), **record}
        with log_path.open("a") as fh:
            fh.write(json.dumps(line) + "\n")

    print(f"{args.dataset}: {len(units)} {args.level} units + {data.num_items} items; cache {args.cache}",
          flush=True)
    summaries, stats = generate_summaries(data, units, item_text, llm, settings, order=args.order,
                                          chunk_size=args.chunk, log=True, on_chunk=on_chunk)
    out = Path(args.out or REPO / "runs" / "sracl" / f"summaries_{args.dataset}.jsonl")
    write_summaries_jsonl(out, summaries)
    rows = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r.get("dataset") == args.dataset and r.get("calls")]
    calls, secs = sum(r["calls"] for r in rows), sum(r["seconds"] for r in rows)
    stats.update({"logged_calls": calls, "logged_seconds": secs,
                  "seconds_per_call": secs / calls if calls else None, "summaries": str(out)})
    examples = {"users": list(summaries.users.items())[:5] or list(summaries.prefixes.items())[:5],
                "items": list(summaries.items.items())[:5]}
    (out.with_suffix(".stats.json")).write_text(json.dumps({**stats, "examples": examples}, indent=2,
                                                           default=str))
    print(json.dumps(stats, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
