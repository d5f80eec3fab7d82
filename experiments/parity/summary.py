"""Per-run final metrics and per-side summaries of a parity results file (schema ``parity/1``).

Shared by the harness (which stores them) and the report (which re-derives them, so a results file
edited by hand or written by another tool renders the same way).
"""
from __future__ import annotations

import json
import re
import statistics
from typing import Any, Iterable, Sequence

__all__ = ["MARKER", "attach_own_scores", "derive_final", "mean_std", "parse_records", "summarize",
           "within_spread"]

MARKER = "PARITY_JSON "
SELECTIONS = ("best_valid", "last", "best_test")


def parse_records(log: str) -> list[dict[str, Any]]:
    """The ``PARITY_JSON {...}`` records of a log, in order (a later record of the same epoch
    replaces an earlier one)."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for line in log.splitlines():
        at = line.find(MARKER)
        if at < 0:
            continue
        rec = json.loads(line[at + len(MARKER):])
        by_epoch[int(rec["epoch"])] = rec
    return [by_epoch[e] for e in sorted(by_epoch)]


def parse_records_with_own_scores(log: str, per_epoch: re.Pattern, final: re.Pattern) -> list[dict[str, Any]]:
    """:func:`parse_records`, plus the reference's own printed scores: ``per_epoch`` matches
    (epoch, recall@20, ndcg@20) lines, kept as ``own.test`` of that epoch; ``final`` matches the
    closing (recall@20, ndcg@20) line, kept as ``own.final_test`` of the last epoch."""
    records = parse_records(log)
    by_epoch = {r["epoch"]: r for r in records}
    for m in per_epoch.finditer(log):
        rec = by_epoch.get(int(m.group(1)))
        if rec is not None:
            rec.setdefault("own", {})["test"] = {"recall@20": float(m.group(2)), "ndcg@20": float(m.group(3))}
    closing = final.search(log)
    if closing and records:
        records[-1].setdefault("own", {})["final_test"] = {"recall@20": float(closing.group(1)),
                                                           "ndcg@20": float(closing.group(2))}
    return records


def attach_own_scores(records: list[dict[str, Any]], per_epoch: Iterable[tuple[int, dict[str, float]]],
                      final: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Add a reference's own printed scores to its records (in place; returned): each
    ``(epoch, {metric: value})`` of ``per_epoch`` as ``own.test`` of that epoch's record (epochs
    without a record are skipped), ``final`` as ``own.final_test`` of the last record."""
    by_epoch = {r["epoch"]: r for r in records}
    for epoch, scores in per_epoch:
        rec = by_epoch.get(int(epoch))
        if rec is not None:
            rec.setdefault("own", {})["test"] = dict(scores)
    if final is not None and records:
        records[-1].setdefault("own", {})["final_test"] = dict(final)
    return records


def derive_final(curves: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    """``last``, ``best_valid`` (highest valid ``metric``, first epoch on ties) and ``best_test``
    (highest test ``metric``: test-set selection, reported only as the references do it)."""
    final: dict[str, Any] = {}
    if not curves:
        return final
    last = curves[-1]
    final["last"] = {k: last[k] for k in ("epoch", "valid", "test") if k in last}
    with_valid = [c for c in curves if metric in (c.get("valid") or {})]
    if with_valid:
        best = max(with_valid, key=lambda c: (c["valid"][metric], -c["epoch"]))
        final["best_valid"] = {k: best[k] for k in ("epoch", "valid", "test") if k in best}
    with_test = [c for c in curves if metric in (c.get("test") or {})]
    if with_test:
        best = max(with_test, key=lambda c: (c["test"][metric], -c["epoch"]))
        final["best_test"] = {"epoch": best["epoch"], "test": best["test"]}
    return final


def mean_std(values: Sequence[float]) -> list[float]:
    """``[mean, sample std (0 for one value), n]``; ``[]`` for no values; NaN mean and std when a
    value is NaN (a diverged run: ``statistics.stdev`` cannot take NaN)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return []
    if any(v != v for v in vals):
        return [float("nan"), float("nan"), float(len(vals))]
    return [statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, float(len(vals))]


def within_spread(ours: Sequence[float], reference: Sequence[float]) -> bool | None:
    """Whether the mean of ``ours`` lies in ``reference mean ± 2 std`` or in the reference's
    [min, max], whichever is wider; ``None`` without values on both sides."""
    ref = mean_std(reference)
    mine = mean_std(ours)
    if not ref or not mine:
        return None
    lo = min(ref[0] - 2 * ref[1], min(reference))
    hi = max(ref[0] + 2 * ref[1], max(reference))
    return lo <= mine[0] <= hi


def _side_values(runs: Sequence[dict[str, Any]], selection: str, metric: str) -> list[float]:
    out = []
    for run in runs:
        sel = (run.get("final") or {}).get(selection) or {}
        value = (sel.get("test") or {}).get(metric)
        if value is not None:
            out.append(float(value))
    return out


def summarize(runs: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    """The ``summary`` block: per side mean ± std of the test metrics under each selection,
    s/epoch and peak RSS; within-spread flags; ours/reference time and memory ratios."""
    ok = {side: [r for r in runs if r.get("side") == side and r.get("status") == "ok"]
          for side in ("reference", "ours")}
    out: dict[str, Any] = {}
    for side, side_runs in ok.items():
        block: dict[str, Any] = {"seeds": [r["seed"] for r in side_runs]}
        for sel in SELECTIONS:
            block[sel] = {m: mean_std(_side_values(side_runs, sel, m)) for m in metrics}
        block["seconds_per_epoch"] = mean_std([r.get("seconds_per_epoch") for r in side_runs])
        block["peak_rss_mib"] = mean_std([r.get("peak_rss_mib") for r in side_runs])
        out[side] = block
    out["within_spread"] = {
        sel: {m: within_spread(_side_values(ok["ours"], sel, m), _side_values(ok["reference"], sel, m))
              for m in metrics} for sel in SELECTIONS}
    for key, name in (("seconds_per_epoch", "time_ratio"), ("peak_rss_mib", "memory_ratio")):
        ref, mine = out["reference"][key], out["ours"][key]
        out[name] = mine[0] / ref[0] if ref and mine and ref[0] else None
    return out
