"""Reproduction runner: one method, one dataset, several seeds, a report against the paper.

:func:`reproduce` trains ``method`` on ``dataset`` once per seed through
:func:`graphcl.train.build_trainer` (so the registry's per-dataset preset, the
paper's settings where known, applies before any user config), each seed in
its own run folder ``<out_dir>/seed<k>``. A seed whose folder holds
``result.json`` is skipped (after checking it was trained with the requested
settings); one with ``last.pt`` is resumed. It then writes, atomically:

* ``<out_dir>/report.md``: mean ± sample standard deviation over seeds of
  every test metric, the paper's number beside it where :data:`PAPER_RESULTS`
  has one (with its source), a line with hardware, epochs, seeds and date, and
  a per-seed table;
* ``<out_dir>/curves.png``: the validation metric per epoch of every seed
  (needs matplotlib; skipped with a note in the report otherwise);
* ``<out_dir>/summary.json``: the same numbers, machine-readable.

Paper numbers are on the papers' own splits and protocols, which differ from
ours in places (each entry's ``note`` says how): read them as reference values.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from graphcl.io import atomic_write_text, write_json

__all__ = ["PaperResult", "PAPER_RESULTS", "SeedRun", "Reproduction", "reproduce", "default_dataset",
           "resolve_dataset", "hardware_description", "mean_std", "check_finished", "run_seed"]


@dataclass(frozen=True)
class PaperResult:
    """Test metrics reported by a paper, under our metric names (fractions: 0.833 is 83.3 %)."""
    metrics: Mapping[str, float]
    source: str
    note: str = ""


_GRACE = "GRACE (Zhu et al., 2020), Table 2"
_CSGCL = "CSGCL (Chen et al., IJCAI 2023), node classification accuracy"
_MCLREC = "MCLRec (Qin et al., SIGIR 2023), Table 2 and the authors' README"
_SRACL = "SRA-CL (NeurIPS 2025), main table, max sequence length 20"
_PROBE = "linear probe, random 10% train split"

#: (method, dataset) -> the paper's test numbers, copied from the project's method notes and the
#: former experiment scripts' paper tables (node_classification.py, bench_seqrec.py, bench_sracl.py,
#: bench_dccf_vs_lightgcn.py); the one table of paper numbers, which ``graphcl reproduce`` and
#: ``graphcl study`` reports print beside ours; none added without a source. The first dataset
#: listed per method is its default (:func:`default_dataset`).
PAPER_RESULTS: dict[tuple[str, str], PaperResult] = {
    ("grace", "cora"): PaperResult({"acc": 0.833}, _GRACE, _PROBE),
    ("grace", "citeseer"): PaperResult({"acc": 0.721}, _GRACE, _PROBE),
    ("csgcl", "amazon-photo"): PaperResult({"acc": 0.9332}, _CSGCL),
    ("csgcl", "amazon-computers"): PaperResult({"acc": 0.9017}, _CSGCL),
    ("csgcl", "coauthor-cs"): PaperResult({"acc": 0.9355}, _CSGCL),
    ("csgcl", "wikics"): PaperResult({"acc": 0.7860}, _CSGCL),
    ("lightgcn", "gowalla"): PaperResult(
        {"recall@20": 0.1830, "ndcg@20": 0.1554}, "LightGCN (He et al., SIGIR 2020), Table 3",
        "the same split (kuandeng/LightGCN's Gowalla files), 3 layers, trained to convergence"),
    ("lightgcl", "gowalla"): PaperResult(
        {"recall@20": 0.1578, "ndcg@20": 0.0935}, "LightGCL (Cai et al., ICLR 2023)",
        "the authors' own Gowalla split (ours: the LightGCN split), last-epoch model tested every 3 epochs"),
    ("lightgcl", "yelp"): PaperResult(
        {"recall@20": 0.0793, "ndcg@20": 0.0668}, "LightGCL (Cai et al., ICLR 2023)",
        "last-epoch model tested every 3 epochs, per-batch means"),
    ("dccf", "gowalla"): PaperResult(
        {"recall@20": 0.1876, "ndcg@20": 0.1123},
        "DCCF (Ren et al., SIGIR 2023), Table 2",
        "the authors' own Gowalla split (ours: the LightGCN split), last-epoch model"),
    ("dccf", "amazon-book"): PaperResult(
        {"recall@20": 0.0889, "ndcg@20": 0.0680}, "DCCF (Ren et al., SIGIR 2023), Table 2",
        "the authors' split; kept from the former experiments/bench_dccf_vs_lightgcn.py"),
    ("dccf", "tmall"): PaperResult(
        {"recall@20": 0.0668, "ndcg@20": 0.0469}, "DCCF (Ren et al., SIGIR 2023), Table 2",
        "the authors' split; kept from the former experiments/bench_dccf_vs_lightgcn.py"),
    ("mclrec", "beauty"): PaperResult(
        {"hit@5": 0.0581, "hit@10": 0.0871, "hit@20": 0.1243, "ndcg@5": 0.0352, "ndcg@10": 0.0446,
         "ndcg@20": 0.0539, "mrr@10": 0.0316}, _MCLREC, "trained to convergence"),
    ("mclrec", "sports"): PaperResult({"hit@10": 0.0501, "ndcg@10": 0.0260}, _MCLREC),
    ("mclrec", "yelp-seq"): PaperResult({"hit@10": 0.0647, "ndcg@10": 0.0394}, _MCLREC),
    ("sasrec", "beauty"): PaperResult(
        {"hit@5": 0.0377, "hit@20": 0.0894, "ndcg@5": 0.0241, "ndcg@20": 0.0386},
        _MCLREC.replace("Table 2", "Table 2 (SASRec baseline row)")),
    ("sracl", "beauty"): PaperResult({"hit@20": 0.1314, "ndcg@20": 0.0568}, _SRACL),
    ("sracl", "sports"): PaperResult({"hit@20": 0.0823, "ndcg@20": 0.0347}, _SRACL),
    ("sracl", "yelp-seq"): PaperResult({"hit@20": 0.1282, "ndcg@20": 0.0533}, _SRACL),
}

_KIND_DEFAULT_DATASET = {"rec": "ml-100k", "seq": "ml-100k-seq", "node": "cora"}


def default_dataset(method: str) -> str:
    """The first dataset with a paper number for ``method``, else its first preset, else
    ml-100k (recommenders), ml-100k-seq (sequential) or cora (node methods)."""
    from graphcl.registry import get_method
    spec = get_method(method)
    for (m, dataset) in PAPER_RESULTS:
        if m == spec.name:
            return dataset
    if spec.presets:
        return sorted(spec.presets)[0]
    return _KIND_DEFAULT_DATASET.get(spec.kind, "ml-100k")


def resolve_dataset(method: str, dataset: str) -> str:
    """The dataset name a run of ``method`` records: a sequential method's sequence form
    (ml-100k -> ml-100k-seq), as :func:`graphcl.train.build_trainer` names it."""
    from graphcl.registry import get_method
    if get_method(method).kind == "seq":
        from graphcl.data.named import sequence_name
        return sequence_name(dataset)
    return dataset


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1); the std of one value is 0."""
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def hardware_description(device: str = "cpu") -> str:
    """CPU model and logical cores, and the GPU name when ``device`` is a CUDA device."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine() or "unknown CPU"
    out = f"CPU {cpu} ({os.cpu_count()} logical cores)"
    if str(device).startswith("cuda"):
        try:
            import torch
            out += f", GPU {torch.cuda.get_device_name(torch.device(device))}"
        except Exception:  # noqa: BLE001 (hardware probing must never fail the report)
            out += ", GPU (name unavailable)"
    else:
        out += ", no GPU used"
    return out


@dataclass
class SeedRun:
    seed: int
    run_dir: Path
    status: str                      # "trained", "resumed" or "skipped" (finished before)
    result: dict[str, Any]           # the run's result.json
    config: dict[str, Any]           # the run's config.json


@dataclass
class Reproduction:
    method: str
    dataset: str
    out_dir: Path
    runs: list[SeedRun]
    summary: dict[str, tuple[float, float]]      # test metric -> (mean, sample std) over seeds
    paper: PaperResult | None
    report: Path
    curves: Path | None
    notes: list[str] = field(default_factory=list)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete the seed folder to retrain it") from None


def check_finished(run_dir: Path, method: str, dataset: str, requested: Mapping[str, Any]) -> dict[str, Any]:
    """The finished run's config.json, after checking it matches the requested method, dataset
    and settings: the keys given by the user and those of the method's preset for the dataset
    (which training applies under them: a preset added or changed since the run was trained is a
    change of settings), coerced as the config does; a key the saved config lacks, added to
    graphcl after the run, matches when asked at its default. A mismatch raises ``ValueError``
    naming the differing keys."""
    from graphcl.config import merge_config
    from graphcl.registry import get_method

    saved = _read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    if saved.get("method") != method or str(saved.get("dataset")).lower() != dataset.lower():
        raise ValueError(f"{run_dir} holds a finished run of {saved.get('method')} on {saved.get('dataset')}, "
                         f"not {method} on {dataset}: pick another output folder")
    spec = get_method(method)
    preset = spec.presets.get(dataset.lower(), {})
    cfg, data_options = merge_config(spec.defaults, preset, requested, method=method)
    differing = []
    for key in dict.fromkeys([*preset, *requested]):
        if key.startswith("data."):
            if (saved.get("data_options") or {}).get(key[5:]) != data_options[key[5:]]:
                differing.append(key)
        elif key not in saved.get("config", {}) and cfg[key] == spec.defaults.get(key, object()):
            continue  # a key added after the run was trained, asked at its default: the same run
        elif saved.get("config", {}).get(key) != cfg[key]:
            differing.append(f"{key}={saved.get('config', {}).get(key)!r} (asked {cfg[key]!r})")
    if differing:
        raise ValueError(f"{run_dir} finished with other settings: {', '.join(differing)}; pick another "
                         f"output folder or delete that run folder to retrain it")
    return saved


def run_seed(method: str, dataset: str, seed: int, run_dir: Path, requested: Mapping[str, Any], *,
              data_root: str | Path | None, device: str, verbose: bool,
              log: Callable[[str], None]) -> SeedRun:
    """Train one seed in ``run_dir``: skip it when ``result.json`` is there (after
    :func:`check_finished`), resume it from ``last.pt``, else train it from scratch.
    ``requested`` holds the config overrides, the seed included."""
    from graphcl.train import build_trainer

    if (run_dir / "result.json").is_file():
        saved = check_finished(run_dir, method, dataset, requested)
        log(f"seed {seed}: finished run in {run_dir} (result.json), skipped")
        return SeedRun(seed, run_dir, "skipped", _read_json(run_dir / "result.json"), saved)
    resume = run_dir if (run_dir / "last.pt").is_file() else None
    restart = resume is None and any((run_dir / name).is_file() for name in ("config.json", "metrics.jsonl"))
    if restart:
        # killed before its first checkpoint: the trainer starts it over in its folder (after
        # checking the settings against its config.json)
        log(f"seed {seed}: {run_dir} holds no checkpoint yet; starting the seed again there")
    trainer = build_trainer(method, dataset, config=dict(requested), data_root=data_root, device=device,
                            run_dir=run_dir, resume=run_dir if restart else resume, verbose=verbose)
    if resume is not None:
        log(f"seed {seed}: resuming {run_dir} at epoch {trainer.start_epoch}")
    else:
        log(f"seed {seed}: training {method} on {trainer.task.name} in {run_dir} (device {trainer.device})")
    trainer.fit()
    return SeedRun(seed, run_dir, "resumed" if resume is not None else "trained",
                   _read_json(run_dir / "result.json"), _read_json(run_dir / "config.json"))


def reproduce(method: str, dataset: str | None = None, *, seeds: Sequence[int] = (0, 1, 2),
              epochs: int | None = None, overrides: Mapping[str, Any] | None = None,
              config_file: str | Path | None = None, out_dir: str | Path | None = None,
              data_root: str | Path | None = None, device: str = "auto", verbose: bool = False,
              log: Callable[[str], None] = print) -> Reproduction:
    """Train ``method`` on ``dataset`` (default: :func:`default_dataset`) once per seed with the
    registry's preset for the dataset, then ``config_file``, ``overrides`` and ``epochs``;
    write ``report.md``, ``curves.png`` and ``summary.json`` to ``out_dir`` (default
    ``runs/reproduce/<method>-<dataset>``). Finished seeds are skipped, interrupted ones resumed.
    """
    from graphcl.config import load_config_file
    from graphcl.registry import get_method

    spec = get_method(method)                      # unknown method: error before anything is written
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    dataset = resolve_dataset(spec.name, dataset or default_dataset(spec.name))
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / "reproduce" / f"{spec.name}-{dataset}"
    if "seed" in (overrides or {}):
        raise ValueError("set the seeds with seeds=/--seeds, not with a 'seed' override")
    base: dict[str, Any] = dict(load_config_file(config_file)) if config_file else {}
    if "seed" in base:
        log(f"{config_file}: its seed {base.pop('seed')} is replaced by the seeds {seeds}")
    base.update(overrides or {})
    if epochs is not None:
        base["epochs"] = int(epochs)

    runs = []
    for seed in seeds:
        runs.append(run_seed(spec.name, dataset, seed, out_dir / f"seed{seed}", {**base, "seed": seed},
                              data_root=data_root, device=device, verbose=verbose, log=log))
    summary = _summarize(runs)
    paper = PAPER_RESULTS.get((spec.name, dataset.lower()))
    notes: list[str] = []
    curves = _write_curves(runs, out_dir / "curves.png", spec.name, dataset, notes)
    report = out_dir / "report.md"
    atomic_write_text(report, _render(spec.name, dataset, runs, summary, paper, base, config_file,
                                      curves, notes))
    write_json(out_dir / "summary.json", {
        "method": spec.name, "dataset": dataset, "seeds": seeds,
        "test": {k: {"mean": m, "std": s, "values": [r.result["test"][k] for r in runs]}
                 for k, (m, s) in summary.items()},
        "paper": dict(paper.metrics) if paper else None, "paper_source": paper.source if paper else None,
        "runs": [{"seed": r.seed, "run_dir": str(r.run_dir), "status": r.status,
                  "best_epoch": r.result.get("best_epoch"), "epochs_run": r.result.get("epochs_run"),
                  "seconds_per_epoch": r.result.get("seconds_per_epoch")} for r in runs]})
    log(f"report: {report}")
    return Reproduction(spec.name, dataset, out_dir, runs, summary, paper, report, curves, notes)


def _summarize(runs: Sequence[SeedRun]) -> dict[str, tuple[float, float]]:
    """Mean and std of every numeric test metric that every seed reports (first seed's order)."""
    keys = [k for k, v in runs[0].result.get("test", {}).items() if isinstance(v, (int, float))]
    keys = [k for k in keys if all(isinstance(r.result.get("test", {}).get(k), (int, float)) for r in runs)]
    return {k: mean_std([float(r.result["test"][k]) for r in runs]) for k in keys}


def _write_curves(runs: Sequence[SeedRun], out: Path, method: str, dataset: str,
                  notes: list[str]) -> Path | None:
    from graphcl.plot import MissingDependencyError, plot_epoch_series, read_metrics, valid_metric_of

    series: dict[str, tuple[list[int], list[float]]] = {}
    metric = None
    for r in runs:
        valid = read_metrics(r.run_dir).get("valid", {})
        metric = metric or valid_metric_of(r.run_dir, valid)
        epochs = sorted(e for e in valid if metric in valid[e])
        series[f"seed {r.seed}"] = ([e + 1 for e in epochs], [float(valid[e][metric]) for e in epochs])
    if not any(xs for xs, _ in series.values()):
        notes.append("No validation evaluations were logged, so there is no curve plot.")
        return None
    try:
        return plot_epoch_series(series, out, xlabel="epoch", ylabel=f"validation {metric}",
                           title=f"{method} on {dataset}: validation {metric} per seed")
    except MissingDependencyError as err:
        notes.append(f"curves.png not written: {err}")
        return None


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def _settings(spec: Any, dataset: str, config_file: str | Path | None, requested: Mapping[str, Any]) -> str:
    parts = [f"the registry preset for {dataset} (the paper's settings)" if dataset.lower() in spec.presets
             else f"the method defaults (no preset for {dataset})"]
    if config_file:
        parts.append(f"then {config_file}")
    if requested:
        parts.append("then " + ", ".join(f"{k}={v}" for k, v in requested.items()))
    return ", ".join(parts) + "; seed per run"


def _render(method: str, dataset: str, runs: Sequence[SeedRun], summary: Mapping[str, tuple[float, float]],
            paper: PaperResult | None, requested: Mapping[str, Any], config_file: str | Path | None,
            curves: Path | None, notes: Sequence[str]) -> str:
    from graphcl.registry import get_method

    spec = get_method(method)
    cfg0 = runs[0].config.get("config", {})
    device = str(runs[0].config.get("device", "cpu"))
    epochs = sorted({int(r.config.get("config", {}).get("epochs", -1)) for r in runs})
    ran = ", ".join(str(r.result.get("epochs_run")) for r in runs)
    seeds = ", ".join(str(r.seed) for r in runs)
    lines = [f"# Reproduction: {method} on {dataset}", "",
             f"Hardware: {hardware_description(device)}, device {device}; epochs: "
             f"{', '.join(map(str, epochs))} (run per seed: {ran}); seeds: {seeds}; "
             f"date: {_dt.date.today().isoformat()}.", "",
             f"Settings: {_settings(spec, dataset, config_file, requested)}. Model selection on validation "
             f"{cfg0.get('valid_metric', '?')}; test metrics of the selected model. Mean ± sample standard "
             f"deviation (n − 1) over {len(runs)} seed(s).", "",
             "| test metric | mean ± std | paper | per seed |", "|---|---|---|---|"]
    for key, (m, s) in summary.items():
        ref = _fmt(paper.metrics[key]) if paper and key in paper.metrics else ""
        per_seed = ", ".join(_fmt(float(r.result["test"][key])) for r in runs)
        lines.append(f"| {key} | {_fmt(m)} ± {_fmt(s)} | {ref} | {per_seed} |")
    lines.append("")
    if paper:
        lines.append(f"Paper: {paper.source}" + (f"; {paper.note}" if paper.note else "") + ".")
        missing = [k for k in paper.metrics if k not in summary]
        if missing:
            lines.append(f"Paper metrics not computed by this run: {', '.join(missing)} "
                         f"(e.g. `--set topk=[...]` adds cut-offs).")
    else:
        lines.append(f"No paper number for {method} on {dataset} in graphcl.reproduce.PAPER_RESULTS.")
    metric = cfg0.get("valid_metric", "valid")
    lines += ["", f"| seed | status | best epoch | epochs run | s/epoch | valid {metric} (best) | run folder |",
              "|---|---|---|---|---|---|---|"]
    for r in runs:
        valid = r.result.get("valid", {}).get(metric)
        spe = r.result.get("seconds_per_epoch")
        lines.append(f"| {r.seed} | {r.status} | {r.result.get('best_epoch')} | {r.result.get('epochs_run')} | "
                     f"{f'{spe:.2f}' if isinstance(spe, (int, float)) else '-'} | "
                     f"{_fmt(valid) if isinstance(valid, (int, float)) else '-'} | `{r.run_dir}` |")
    lines.append("")
    lines.append("Best epoch is 0-based (as in metrics.jsonl); s/epoch is training time only, from the run's "
                 "last session (a skipped seed keeps its earlier timing).")
    if curves is not None:
        lines += ["", f"![validation {metric} per epoch and seed]({curves.name})"]
    for note in notes:
        lines += ["", note]
    return "\n".join(lines) + "\n"

