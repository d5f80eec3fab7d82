"""Speed of the embedded Gemma-3-270M (Q4_K_M GGUF) through llama-cpp-python on CPU.

Measures, for a ~400-token prompt and 64 new tokens (end-of-sequence banned so
every call makes exactly 64), the seconds per call, the prompt-evaluation speed
(a 1-token call) and the generation speed ((t64 - t1) / 63 tokens), for each
``--threads`` value, side by side in one run (median of ``--repeats``). Also the
cost of a cached call (CachedGenerator hit) for comparison.

    PYTHONPATH=$PWD python experiments/benchmarks/bench_llm_generation.py --threads 1 2 --repeats 3

Absolute numbers on a shared, loaded machine are noisy; compare within one run.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from graphcl.llm import CachedGenerator, GenerationConfig, LlamaCppGenerator

PARAGRAPH = ("The museum opened a new wing dedicated to the history of navigation, with maps, "
             "compasses and ship models collected over three centuries by sailors and merchants. ")


def make_prompt(llm, target_tokens: int) -> str:
    text = ""
    while len(llm.tokenize(text.encode(), add_bos=True)) < target_tokens:
        text += PARAGRAPH
    return text + "In summary, the exhibition shows that"


def timed_call(gen: LlamaCppGenerator, prompt: str, max_tokens: int) -> tuple[float, int]:
    llm = gen.llama
    llm.reset()
    start = time.perf_counter()
    res = llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, top_k=0, min_p=0.0,
                                repeat_penalty=1.0, logit_bias={llm.token_eos(): -1e9}, seed=0)
    return time.perf_counter() - start, int(res["usage"]["completion_tokens"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--prompt-tokens", type=int, default=400)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    for n in args.threads:
        gen = LlamaCppGenerator(n_threads=n)
        t0 = time.perf_counter()
        llm = gen.llama
        load = time.perf_counter() - t0
        prompt = make_prompt(llm, args.prompt_tokens)
        n_prompt = len(llm.tokenize(prompt.encode(), add_bos=True))
        timed_call(gen, prompt, 2)  # warm-up
        one = [timed_call(gen, prompt, 1)[0] for _ in range(args.repeats)]
        full = [timed_call(gen, prompt, args.new_tokens) for _ in range(args.repeats)]
        assert all(k == args.new_tokens for _, k in full), full
        t1, tn = statistics.median(one), statistics.median(t for t, _ in full)
        # the public path: generate() through the cache, then a cached re-run
        with tempfile.TemporaryDirectory() as tmp:
            cached = CachedGenerator(gen, tmp, progress=False)
            cfg = GenerationConfig(max_tokens=args.new_tokens)
            t0 = time.perf_counter()
            cached.generate([prompt], cfg)
            t_gen = time.perf_counter() - t0
            t0 = time.perf_counter()
            cached.generate([prompt], cfg)
            t_hit = time.perf_counter() - t0
        print(f"n_threads={n}: load {load:.2f} s; prompt {n_prompt} tokens; "
              f"{tn:.2f} s per call ({args.new_tokens} new tokens); "
              f"prompt eval {n_prompt / t1:.0f} tok/s; generation {(args.new_tokens - 1) / (tn - t1):.1f} tok/s; "
              f"generate() uncached {t_gen:.2f} s (EOS allowed), cached hit {t_hit * 1000:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
