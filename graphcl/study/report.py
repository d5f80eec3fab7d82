"""A study's report: one row per (dataset, variant, grid point), mean ± std over seeds.

Writes, atomically through :mod:`graphcl.io`, the Markdown table at the study's ``output`` and
the same numbers as JSON beside it (``.json``). Every row gives the test metrics (mean ± sample
std over seeds, :func:`graphcl.reproduce.mean_std`), the paper's numbers for the method and
dataset from :data:`graphcl.reproduce.PAPER_RESULTS` (one table of paper numbers, with their
sources listed under the table), the mean validation value of the run's ``valid_metric``,
seconds per training epoch and the peak resident memory. Where a variant has several grid
points on a dataset, the point with the best mean validation value is marked as selected:
its test numbers are the result, the other rows are for transparency.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from graphcl.io import atomic_write_text, write_json
from graphcl.reproduce import PAPER_RESULTS, PaperResult, SeedRun, hardware_description, mean_std
from graphcl.study.expand import StudyRun
from graphcl.study.spec import StudySpec

__all__ = ["RunOutcome", "RowSummary", "StudyReport", "summarize", "render_markdown", "write_report"]


@dataclass
class RunOutcome:
    """A study run and what it produced."""
    run: StudyRun
    seed_run: SeedRun
    memory: dict[str, Any]


@dataclass
class RowSummary:
    """One table row: the runs of one (dataset, variant, grid point) over seeds."""
    dataset: str
    variant: str
    method: str
    grid: str
    outcomes: list[RunOutcome]
    test: dict[str, tuple[float, float, list[float]]]   # metric -> (mean, std, per-seed values)
    valid_metric: str
    valid_mean: float
    paper: PaperResult | None
    selected: bool = False

    def mean(self, key: str) -> float:
        """Mean over seeds of a numeric field of result.json (NaN where absent)."""
        values = [o.seed_run.result.get(key) for o in self.outcomes]
        numbers = [float(v) for v in values if isinstance(v, (int, float))]
        return mean_std(numbers)[0] if numbers else float("nan")


@dataclass
class StudyReport:
    """Where the report went, and its rows."""
    markdown: Path
    json: Path
    rows: list[RowSummary]


def summarize(outcomes: Sequence[RunOutcome], metrics: Sequence[str] = ()) -> list[RowSummary]:
    """Group runs into rows (first-seen order) and compute mean ± std of every test metric in
    ``metrics`` (default: every numeric test metric all the row's seeds report)."""
    groups: dict[tuple[str, str, str], list[RunOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.run.group, []).append(outcome)
    rows = []
    for (dataset, variant, grid), members in groups.items():
        tests = [m.seed_run.result.get("test", {}) for m in members]
        keys = list(metrics) or [k for k, v in tests[0].items() if isinstance(v, (int, float))]
        test = {}
        for key in keys:
            values = [float(t[key]) for t in tests if isinstance(t.get(key), (int, float))]
            if len(values) == len(tests):
                test[key] = (*mean_std(values), values)
        valid_metric = str(members[0].seed_run.config.get("config", {}).get("valid_metric", ""))
        valid = [m.seed_run.result.get("valid", {}).get(valid_metric) for m in members]
        valid_numbers = [float(v) for v in valid if isinstance(v, (int, float))]
        method = members[0].run.method
        rows.append(RowSummary(dataset, variant, method, grid, members, test, valid_metric,
                               mean_std(valid_numbers)[0] if valid_numbers else float("nan"),
                               PAPER_RESULTS.get((method, dataset.lower()))))
    _mark_selected(rows)
    return rows


def _mark_selected(rows: list[RowSummary]) -> None:
    by_variant: dict[tuple[str, str], list[RowSummary]] = {}
    for row in rows:
        by_variant.setdefault((row.dataset, row.variant), []).append(row)
    for family in by_variant.values():
        scored = [r for r in family if not math.isnan(r.valid_mean)]
        if len(family) > 1 and scored:
            max(scored, key=lambda r: r.valid_mean).selected = True


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


def render_markdown(spec: StudySpec, rows: Sequence[RowSummary], device: str) -> str:
    """The report as Markdown: header lines, the table, paper sources and notes."""
    metrics = list(dict.fromkeys(k for row in rows for k in row.test))
    paper_metrics = [m for m in metrics if any(r.paper and m in r.paper.metrics for r in rows)]
    gridded = any(row.grid for row in rows)
    seeds = sorted({o.run.seed for row in rows for o in row.outcomes})
    lines = [f"# Study: {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    lines += [f"Command: `graphcl study {spec.path} --resume`; hardware: {hardware_description(device)}, "
              f"device {device}; seeds: {', '.join(map(str, seeds))}; date: {dt.date.today().isoformat()}.", "",
              "Test metrics of each run's selected (best-validation) model: mean ± sample std (n − 1) over "
              "seeds; valid: mean validation value of the run's valid_metric; s/epoch: training time only; "
              "peak RSS: the run's peak resident memory (MiB) in the study's process.", ""]
    head = ["dataset", "variant"] + (["grid"] if gridded else []) + metrics
    head += [f"paper ({' / '.join(paper_metrics)})"] if paper_metrics else []
    head += ["valid", "s/epoch", "epochs", "peak RSS", "seeds"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.dataset, row.variant]
        if gridded:
            cells.append(f"**{row.grid}** (selected)" if row.selected else row.grid)
        cells += [f"{_fmt(row.test[k][0])} ± {_fmt(row.test[k][1])}" if k in row.test else "" for k in metrics]
        if paper_metrics:
            cells.append(" / ".join(_fmt(row.paper.metrics[k]) if row.paper and k in row.paper.metrics else "-"
                                    for k in paper_metrics) if row.paper else "")
        epochs = sorted({str(o.seed_run.result.get("epochs_run")) for o in row.outcomes})
        rss = [o.memory.get("peak_rss_mib") for o in row.outcomes]
        rss_numbers = [float(v) for v in rss if isinstance(v, (int, float))]
        cells += [f"{row.valid_metric} {_fmt(row.valid_mean)}", _fmt(row.mean("seconds_per_epoch")),
                  ", ".join(epochs), f"{max(rss_numbers):.0f}" if rss_numbers else "-", str(len(row.outcomes))]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    sources = {(r.method, r.dataset): r.paper for r in rows if r.paper}
    for (method, dataset), paper in sources.items():
        lines.append(f"Paper, {method} on {dataset}: {paper.source}" + (f" ({paper.note})" if paper.note else "")
                     + ". From graphcl.reproduce.PAPER_RESULTS.")
    if gridded:
        lines += ([""] if lines[-1] else []) + ["Selected grid point (bold): the best mean validation value of its variant on its dataset; "
                  "the other rows' test numbers are shown for transparency, never used for selection."]
    return "\n".join(lines) + "\n"


def _row_json(row: RowSummary) -> dict[str, Any]:
    return {"dataset": row.dataset, "variant": row.variant, "method": row.method, "grid": row.grid,
            "selected": row.selected, "seeds": [o.run.seed for o in row.outcomes],
            "test": {k: {"mean": m, "std": s, "values": v} for k, (m, s, v) in row.test.items()},
            "valid_metric": row.valid_metric, "valid_mean": row.valid_mean,
            "seconds_per_epoch": row.mean("seconds_per_epoch"),
            "paper": dict(row.paper.metrics) if row.paper else None,
            "paper_source": row.paper.source if row.paper else None,
            "runs": [{"seed": o.run.seed, "run_dir": str(o.run.run_dir), "status": o.seed_run.status,
                      "overrides": o.run.overrides, "best_epoch": o.seed_run.result.get("best_epoch"),
                      "epochs_run": o.seed_run.result.get("epochs_run"), "memory": o.memory}
                     for o in row.outcomes]}


def write_report(spec: StudySpec, outcomes: Sequence[RunOutcome]) -> StudyReport:
    """Summarize ``outcomes`` and write the Markdown table and its JSON twin atomically."""
    rows = summarize(outcomes, spec.metrics)
    device = str(outcomes[0].seed_run.config.get("device", "cpu")) if outcomes else "cpu"
    markdown = spec.output
    json_path = markdown.with_suffix(".json")
    atomic_write_text(markdown, render_markdown(spec, rows, device))
    write_json(json_path, {"study": str(spec.path), "description": spec.description,
                           "hardware": hardware_description(device), "device": device,
                           "date": dt.date.today().isoformat(), "rows": [_row_json(r) for r in rows]})
    return StudyReport(markdown, json_path, rows)
