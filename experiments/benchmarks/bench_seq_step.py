"""Benchmark: a training step of SASRec, MCLRec and SRA-CL on Beauty against its FLOP bound (issue 22).

    .venv/bin/python experiments/benchmarks/bench_seq_step.py [--dataset beauty] [--batches 12] \
        [--rounds 3] [--threads 1] [--tag after] [--out experiments/results/seq_step_bounds.md]

Each model is built from the registry (its defaults and the dataset's preset, the settings a
default run trains with; SRA-CL with ``semantics=fallback-cooccurrence``, as the LLM summaries
of Beauty are not held: its retrieval structure, batches and encoder passes are SRA-CL's) and
trained step by step with the trainer's step logic (MCLRec: its three-step meta update). The
models take turns round by round on their own batches; the cost of a step is the median of its
CPU seconds (``time.process_time``) over all timed steps.

The bound: the step's minimum FLOPs at this process's best matmul rate (a 256 x 4,096 x 64
product, measured before and after). FLOPs are counted from what the step computes, by
wrapping the encoder's per-group call and the cross-entropy (2 FLOPs per multiply-add):

* SASRec encoder, per sequence of n real items (padding not counted), d, inner width F:
  every layer but the last ``n (8 d² + 4 d F) + 2 d n (n + 1)`` (projections; causal
  attention scores and weights), the last layer only its last position's query
  ``n · 4 d² + 8 d² + 4 d F + 4 d n``; times 3 when the pass is differentiated (forward and
  backward), 1 under ``no_grad`` (MCLRec's step 2).
* The cross-entropy over all |I| items (and the padding class when kept): ``3 · 2 B d |I|``.
* Not counted (a lower bound): embeddings, LayerNorm, softmax, GELU, dropout, the contrastive
  losses' B x B products and MCLRec's augmenter MLPs, the optimizer.

``--tag`` names the code version in the table; to measure an older commit ("before"), export it
(``git archive REV | tar -x -C DIR``) and run the script from outside the repository (so the
working directory does not shadow it) with ``PYTHONPATH=DIR`` (the script needs only the names it wraps:
``graphcl.nn.sasrec.SASRecEncoder._encode_last`` and ``graphcl.models.seq.base.full_softmax_ce``).
Rows are appended to ``--out`` by tag, so before and after sit in one table.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_eval_topk import matmul_rate  # noqa: E402
from harness import REPO, hardware_line, peak_rss_mib, update_tagged_store, write_table  # noqa: E402

DEFAULT_OUT = REPO / "experiments" / "results" / "seq_step_bounds.md"
MODELS = ("sasrec", "mclrec", "sracl")


# ------------------------------------------------------------------------------ pure helpers
def encoder_flops(lengths: list[int], dim: int, inner: int, layers: int) -> float:
    """Forward FLOPs of the SASRec encoder's last-position pass over sequences of these real
    lengths (module docstring)."""
    if dim <= 0 or inner <= 0 or layers <= 0:
        raise ValueError(f"dim, inner and layers must be positive, got {dim}, {inner}, {layers}")
    total = 0.0
    for n in lengths:
        if n <= 0:
            continue
        full = n * (8 * dim * dim + 4 * dim * inner) + 2 * dim * n * (n + 1)
        last = n * 4 * dim * dim + 8 * dim * dim + 4 * dim * inner + 4 * dim * n
        total += (layers - 1) * full + last
    return total


def cross_entropy_flops(batch: int, dim: int, classes: int) -> float:
    """Forward and backward FLOPs of the full-softmax cross-entropy's products."""
    return 3 * 2.0 * batch * dim * classes


class FlopCounter:
    """Counts the FLOPs of one step by wrapping the encoder's group call and the CE."""

    def __init__(self) -> None:
        self.flops = 0.0

    def install(self) -> Callable[[], None]:
        import torch
        from graphcl.models.seq import base
        from graphcl.nn.sasrec import SASRecEncoder
        encode_last, ce = SASRecEncoder._encode_last, base.full_softmax_ce
        counter = self

        def counted_encode_last(encoder: Any, seqs: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            lengths = (seqs != 0).sum(1).tolist()
            blocks = encoder.blocks
            f = encoder_flops(lengths, encoder.hidden_size, blocks[0].ff1.out_features, len(blocks))
            counter.flops += f * (3 if torch.is_grad_enabled() else 1)
            return encode_last(encoder, seqs, *args, **kwargs)

        def counted_ce(h: torch.Tensor, table: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            padding_class = bool(args[1]) if len(args) > 1 else bool(kwargs.get("padding_class", False))
            counter.flops += cross_entropy_flops(h.size(0), h.size(1), table.size(0) - (0 if padding_class else 1))
            return ce(h, table, *args, **kwargs)

        SASRecEncoder._encode_last = counted_encode_last
        base.full_softmax_ce = counted_ce

        def uninstall() -> None:
            SASRecEncoder._encode_last = encode_last
            base.full_softmax_ce = ce
        return uninstall


# ------------------------------------------------------------------------------ measurement
def build(name: str, data: Any) -> tuple[Any, Callable[[Any], None], str]:
    """The model, its step function (the trainer's logic) and a line of its settings."""
    import torch
    from graphcl.registry import get_method
    spec = get_method(name)
    # SASRec's dataset presets (2026-12-08) hold its baseline rows' protocol (BCE over every position
    # of one example per user), which the bound below does not count: the SASRec measured here is
    # the registry default, the backbone training MCLRec and SRA-CL build on
    preset = {} if name == "sasrec" else spec.presets.get(data.name, {})
    cfg = {**spec.defaults, **preset, "seed": 0}
    if name == "sracl":
        cfg["semantics"] = "fallback-cooccurrence"
    torch.manual_seed(0)
    model = spec.build(data, cfg, "cpu")
    model.train()
    lr, wd = float(cfg["lr"]), float(cfg.get("weight_decay", 0.0))
    if hasattr(model, "train_step"):
        opts = model.configure_optimizers(lr, wd)

        def step(batch: Any) -> None:
            model.train_step(batch, opts)
    else:
        try:   # the trainer's optimizer (fused Adam since 2026-12-07); older commits: torch's Adam
            from graphcl.optim import adam
        except ImportError:
            def adam(params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
                return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        opt = adam(model.parameters(), lr, wd)

        def step(batch: Any) -> None:
            out = model.loss(batch)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
    line = f"max_len {cfg['max_len']}, batch {cfg['batch_size']}, d {cfg['hidden_size']}, loss {cfg.get('loss_type', 'ce')}"
    return model, step, line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--batches", type=int, default=12, help="timed steps per model per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="current")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    import torch
    from graphcl.data import load
    torch.set_num_threads(args.threads)
    data = load(args.dataset, root=args.data_root)
    rate_before = matmul_rate(64)
    runs: dict[str, dict[str, Any]] = {}
    for name in args.models:
        model, step, line = build(name, data)
        gen = torch.Generator().manual_seed(0)
        batches = model.batches(gen)
        step(next(batches))                                   # warm-up
        runs[name] = {"model": model, "step": step, "batches": batches, "line": line, "seconds": [], "flops": []}
    counter = FlopCounter()
    for _ in range(args.rounds):
        for name, run in runs.items():
            for _ in range(args.batches):
                batch = next(run["batches"])
                counter.flops = 0.0
                uninstall = counter.install()
                try:
                    t0 = time.process_time()
                    run["step"](batch)
                    run["seconds"].append(time.process_time() - t0)
                finally:
                    uninstall()
                run["flops"].append(counter.flops)
    rate = max(rate_before, matmul_rate(64))
    rows = []
    base_step = statistics.median(runs["sasrec"]["seconds"]) if "sasrec" in runs else None
    for name, run in runs.items():
        s = statistics.median(run["seconds"])
        flops = statistics.median(run["flops"])
        bound = flops / (rate * 1e9)
        rows.append([args.tag, name, run["line"], s, flops / 1e9, bound, s / bound,
                     (s / base_step) if base_step else "—", run["model"].num_batches() * s])
    columns = ["code", "model", "settings", "CPU s/step", "min GFLOP/step", "bound s/step", "step / bound",
               "step / SASRec step", "epoch est. (CPU s)"]
    command = "python experiments/benchmarks/bench_seq_step.py " + " ".join(argv if argv is not None else sys.argv[1:])
    saved = update_tagged_store(args.out, rows, {"tag": args.tag, "hardware": hardware_line(), "rate_gflops": rate,
                                                 "peak_rss_mib": peak_rss_mib(), "command": command})
    header = ["Written by `experiments/benchmarks/bench_seq_step.py` (its docstring defines the bound). "
              "CPU seconds per step: the median over rounds x batches, the models taking turns; "
              "bound = minimum FLOPs / the best fp32 matmul rate measured in the same process.", ""]
    header += [f"- `{r['tag']}`: {r['hardware']}; matmul {r['rate_gflops']:.1f} GFLOP/s; peak RSS "
               f"{r['peak_rss_mib']:.0f} MiB; `{r['command']}`" for r in saved["runs"]]
    text = write_table(args.out, f"Sequential models' training step against its FLOP bound ({args.dataset})",
                       header, columns, saved["rows"])
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
