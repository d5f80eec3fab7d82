"""Render experiments/results/mutation.md from mutation.json and equivalent.toml.

A surviving mutant is either killed by a test (then it no longer survives), or listed in
``equivalent.toml`` with a one-line reason why no test can tell it from the original.  An
entry there names the mutant and the text of its changed line; when the line no longer
matches (the function was edited and mutmut renumbered its mutants) the entry is reported
as stale instead of silently excusing another mutant.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
EQUIVALENT_TOML = HERE / "equivalent.toml"
# statuses that count as a test noticing the mutant
KILLED = ("killed", "timeout", "type check")
# statuses that need a killing test or an equivalence reason
UNKILLED = ("survived", "no tests", "suspicious", "segfault")


@dataclass(frozen=True)
class Equivalent:
    """A surviving mutant judged equivalent to the original code."""

    mutant: str
    changed: str
    reason: str


def load_equivalents(path: Path = EQUIVALENT_TOML) -> dict[str, Equivalent]:
    """The entries of ``equivalent.toml`` by mutant name."""
    if not path.is_file():
        return {}
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    entries: dict[str, Equivalent] = {}
    for i, row in enumerate(data.get("equivalent", [])):
        missing = [k for k in ("mutant", "changed", "reason") if not str(row.get(k, "")).strip()]
        if missing:
            raise SystemExit(f"{path}: entry {i + 1} lacks {', '.join(missing)}")
        if row["mutant"] in entries:
            raise SystemExit(f"{path}: mutant {row['mutant']} is listed twice")
        entries[row["mutant"]] = Equivalent(row["mutant"], row["changed"].strip(), row["reason"].strip())
    return entries


def _changed_pair(diff: str) -> tuple[str, str] | None:
    """The (original, mutated) line of a one-line mutant, stripped; None for other diffs."""
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = added_lines(diff)
    return (removed[0], added[0]) if len(removed) == 1 and len(added) == 1 else None


def _without_device(line: str) -> str:
    line = re.sub(r"\.to\((?:[\w.]*\.device|None)\)", ".to(DEV)", line)
    line = re.sub(r"(?:device|map_location)=[\w.]+", "", line)
    line = re.sub(r",\s*(?=[,)])", "", line)
    line = re.sub(r"\(\s*,\s*", "(", line)
    return re.sub(r"\s+", "", line)


def _device_only(original: str, mutated: str) -> bool:
    return (("device" in original or "map_location" in original)
            and _without_device(original) == _without_device(mutated))


def _float_literal_case(original: str, mutated: str) -> bool:
    lower = lambda s: re.sub(r'float\("([^"]*)"\)', lambda m: f'float("{m.group(1).lower()}")', s)
    return original != mutated and lower(original) == lower(mutated)


#: equivalence by rule, for whole classes of mutants: (name, test, reason)
RULES = (
    ("device-on-cpu", _device_only,
     "only drops or nulls a device (or map_location) argument: None is the default device, the CPU, where inputs live on this "
     "CPU-only machine (a CUDA run would tell them apart)"),
    ("float-literal-case", _float_literal_case,
     'changes only the case of a float("...") literal, and Python parses "-INF" exactly as "-inf"'),
)


def rule_for(diff: str) -> tuple[str, str] | None:
    """The (rule name, reason) making this mutant equivalent, if one applies."""
    pair = _changed_pair(diff)
    if pair is None:
        return None
    for name, test, reason in RULES:
        if test(*pair):
            return name, reason
    return None


def added_lines(diff: str) -> list[str]:
    """The stripped ``+`` lines of a unified diff (the mutated code)."""
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def matches(entry: Equivalent, diff: str) -> bool:
    """Whether ``entry`` still describes the mutant whose diff is ``diff``."""
    return any(entry.changed in line for line in added_lines(diff))


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def render(results: dict, groups: Sequence[Any], equivalents: dict[str, Equivalent]) -> str:
    """The Markdown report for the recorded ``results`` of the ``groups`` of modules.toml."""
    ran = results.get("groups", {})
    lines = [
        "# Mutation testing (mutmut)",
        "",
        "Written by `make mutation` (`experiments/mutation/run.py`; groups and their covering tests in",
        "`experiments/mutation/modules.toml`, equivalent mutants in `experiments/mutation/equivalent.toml`).",
        "Each group runs on a copy of the repository under `/tmp/graphcl-mutation/`, one mutant at a time,",
        "and each mutant runs only the tests that called the mutated function.  Outside CI.",
        "",
        "*tried*: mutants generated and checked; *killed*: a test failed (timeouts counted here too);",
        "*survived*: every covering test passed; *no tests*: no selected test reaches the function;",
        "*equivalent*: unkilled mutants listed in `equivalent.toml` with a reason, or matched by one of the",
        "rules in `experiments/mutation/report.py` (`RULES`: a device argument dropped on this CPU-only",
        "machine, the case of a float literal); *open*: unkilled and unexplained.  Every unkilled mutant is",
        "listed below with its diff and verdict.",
        "",
        _row(["module", "group", "tried", "killed", "survived", "no tests", "equivalent", "open", "run", "wall s"]),
        _row(["---"] * 10),
    ]
    used: set[str] = set()
    stale: list[tuple[Equivalent, str]] = []
    details: list[str] = []
    totals = [0] * 6
    for group in groups:
        rec = ran.get(group.name)
        if rec is None:
            continue
        for source, info in sorted(rec["files"].items()):
            counts = info["counts"]
            tried = sum(v for k, v in counts.items() if k != "not checked")
            killed = sum(counts.get(k, 0) for k in KILLED)
            survived = sum(counts.get(k, 0) for k in ("survived", "suspicious", "segfault"))
            no_tests = counts.get("no tests", 0)
            equivalent = 0
            open_mutants = []
            for s in info["survivors"]:
                entry = equivalents.get(s["name"])
                rule = rule_for(s["diff"]) if s["status"] == "survived" else None
                if entry is None and rule is not None:
                    equivalent += 1
                    details.append(_survivor_block(source, dict(s, reason=f"{rule[1]} (rule `{rule[0]}`)")))
                    continue
                if entry is not None and matches(entry, s["diff"]):
                    equivalent += 1
                    used.add(s["name"])
                    s = dict(s, reason=entry.reason)
                elif entry is not None:
                    used.add(s["name"])
                    stale.append((entry, "its changed line no longer matches the mutant"))
                    open_mutants.append(s)
                    continue
                else:
                    open_mutants.append(s)
                    continue
                details.append(_survivor_block(source, s))
            for s in open_mutants:
                details.append(_survivor_block(source, s))
            row = [tried, killed, survived, no_tests, equivalent, len(open_mutants)]
            totals = [a + b for a, b in zip(totals, row)]
            lines.append(_row([f"`{source}`", group.name, *row, rec["ran_at"], rec["wall_s"]]))
            if counts.get("not checked"):
                lines.append(_row([f"`{source}` (not checked)", group.name, counts["not checked"], "", "", "", "",
                                   "", "", ""]))
    lines.append(_row(["**total**", "", *totals, "", round(sum(r["wall_s"] for r in ran.values()), 1)]))
    not_run = [g.name for g in groups if g.name not in ran]
    failed = [name for name, rec in ran.items() if rec.get("exit_code", 0) != 0]
    total_s = sum(r["wall_s"] for r in ran.values())
    lines += ["", f"Wall time of the recorded group runs: {total_s / 60:.1f} min in all, one mutant at a time "
                  f"(mutmut {', '.join(sorted({r.get('mutmut', '?') for r in ran.values()}))}).",
              "Groups run: " + (", ".join(f"`{n}`" for n in ran) or "none") + ".",
              "Groups not run yet: " + (", ".join(f"`{n}`" for n in not_run) or "none") + "."]
    for name, rec in ran.items():
        if rec.get("note"):
            lines += ["", f"Group `{name}`: {rec['note']}"]
        if rec.get("stopped_after_minutes"):
            lines += ["", f"Group `{name}` was stopped at its time budget of {rec['stopped_after_minutes']} minutes "
                          f"(`minutes` in modules.toml): its unchecked mutants are counted as *not checked*."]
        if rec.get("deselected"):
            lines += ["", f"Group `{name}` ran without these tests, which fail on the unmutated code "
                          f"(a failing test kills every mutant, so it tells nothing): "
                      + ", ".join(f"`{t}`" for t in rec["deselected"]) + "."]
    for name in failed:
        lines += ["", f"**Group `{name}` did not finish** (mutmut exit code {ran[name]['exit_code']}):", "",
                  "```", ran[name].get("error", ""), "```"]
    for name, entry in sorted(equivalents.items()):
        if name not in used:
            stale.append((entry, "the mutant no longer survives or no longer exists"))
    if stale:
        lines += ["", "## Stale entries of equivalent.toml", ""]
        lines += [f"- `{e.mutant}`: {why}" for e, why in stale]
    lines += ["", "## Unkilled mutants", ""]
    lines += details or ["None."]
    return "\n".join(lines).rstrip() + "\n"


def _survivor_block(source: str, s: dict) -> str:
    pair = _changed_pair(s["diff"])
    if "reason" in s and pair is not None:  # an explained one-line mutant: one list item
        return (f"- `{s['name']}`: `{pair[0]}` → `{pair[1]}`. Equivalent: {s['reason']}")
    head = f"### `{s['name']}` ({s['status']})"
    verdict = f"Equivalent: {s['reason']}" if "reason" in s else "**Open**: not killed, not explained."
    return "\n".join([head, "", f"`{source}`. {verdict}", "", "```diff", s["diff"], "```", ""])
