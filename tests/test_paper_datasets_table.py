"""experiments/results/paper_datasets.md (issue 24's coverage table) against the code it describes.

Fails when the table goes stale in a checkable way: a registered method without a row, a
pair marked "preset: yes" that the registry does not hold (or a registry preset missing from
the table), a ``PAPER_RESULTS`` entry without its row or with other numbers, a results file
named in the table that does not exist, a recipe row without its recipe file, a status outside
the table's vocabulary. Reads names and numbers only: nothing is loaded or trained.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from graphcl.registry import get_method, list_methods
from graphcl.reproduce import PAPER_RESULTS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "experiments" / "results" / "paper_datasets.md"
HEADER = ("method", "paper dataset", "name", "held here?", "preset?", "measured", "status")
STATUSES = ("reproduced (within", "below paper by", "above paper", "measured, no paper number",
            "runnable, not yet run", "blocked: ")
RECIPE = re.compile(r"^contrast\[([a-z0-9-]+)\]$")
#: recipe name in the table -> its file under experiments/configs/contrast/
RECIPE_FILES = {"gca": "gca_cora.yaml", "dgi": "dgi_cora.yaml", "g-bt": "gbt_cora.yaml",
                "bgrl": "bgrl_cora.yaml"}
PAPER_TOKEN = re.compile(r"\b([a-z_]+@?\d*)=(\d+(?:\.\d+)?)")
#: how a cell cites PAPER_RESULTS ("... (PAPER_RESULTS)" or "(PAPER_RESULTS; their split)")
CITES = re.compile(r"\(PAPER_RESULTS[;)]")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def rows() -> list[dict[str, str]]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("|") and tuple(c.lower() for c in _cells(line)) == HEADER)
    out = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(HEADER), f"{len(cells)} cells, expected {len(HEADER)}: {line}"
        row = dict(zip(HEADER, cells))
        row["name"] = row["name"].strip("`")
        out.append(row)
    return out


def _has_preset(row: dict[str, str]) -> bool:
    return row["preset?"].lower().startswith("yes")


def test_every_registered_method_has_a_row():
    in_table = {r["method"] for r in rows()}
    missing = set(list_methods()) - in_table
    assert not missing, f"registered methods without a row in {DOC.name}: {sorted(missing)}"


def test_every_method_in_the_table_is_registered_or_a_recipe_file():
    for r in rows():
        m = RECIPE.match(r["method"])
        if m:
            assert m.group(1) in RECIPE_FILES, r["method"]
            assert (ROOT / "experiments" / "configs" / "contrast" / RECIPE_FILES[m.group(1)]).is_file()
            assert not _has_preset(r), f"{r['method']} is a recipe file, not a registry preset"
        else:
            get_method(r["method"])  # raises for an unknown method


def test_preset_yes_pairs_are_exactly_the_registry_presets():
    table = [(r["method"], r["name"]) for r in rows() if _has_preset(r)]
    assert len(table) == len(set(table)), "a (method, name) pair is marked 'preset: yes' twice"
    registry = {(m, d) for m in list_methods() for d in get_method(m).presets}
    assert set(table) - registry == set(), "marked 'preset: yes' but not in the registry"
    assert registry - set(table) == set(), "registry presets missing from the table (or marked 'no')"


def test_preset_no_pairs_have_no_preset():
    for r in rows():
        if not _has_preset(r) and not RECIPE.match(r["method"]) and r["name"] != "—":
            assert r["name"] not in get_method(r["method"]).presets, (r["method"], r["name"])


def test_paper_results_appear_with_their_numbers():
    cited = {}
    for r in rows():
        key = (r["method"], r["name"])
        if "not in PAPER_RESULTS" in r["measured"]:
            assert key not in PAPER_RESULTS, f"{key} says 'not in PAPER_RESULTS', but it is there now"
        if CITES.search(r["measured"]):
            assert key in PAPER_RESULTS, f"{key} cites PAPER_RESULTS, which has no such entry"
            tokens = dict(PAPER_TOKEN.findall(r["measured"]))
            assert tokens, f"{key}: no metric=value numbers beside the PAPER_RESULTS citation"
            for metric, value in tokens.items():
                assert metric in PAPER_RESULTS[key].metrics, (key, metric)
                assert float(value) == pytest.approx(PAPER_RESULTS[key].metrics[metric], abs=1e-9), \
                    (key, metric, value, PAPER_RESULTS[key].metrics[metric])
            cited[key] = True
    missing = set(PAPER_RESULTS) - set(cited)
    assert not missing, f"PAPER_RESULTS entries without a row citing them: {sorted(missing)}"


def test_named_results_files_exist():
    for r in rows():
        for path in re.findall(r"`(experiments/[^`\s]+)`", r["measured"] + " " + r["preset?"]):
            assert (ROOT / path).exists(), f"{r['method']} / {r['name']}: {path} not found"


def test_every_status_uses_the_vocabulary():
    for r in rows():
        assert r["status"].startswith(STATUSES), (r["method"], r["name"], r["status"])
        if r["status"].startswith(("reproduced", "below paper", "above paper")):
            assert r["measured"] != "none", (r["method"], r["name"])


def test_held_paths_exist_where_shared_data_is_present():
    shared = ROOT.parent / "shared" / "data"
    if not shared.is_dir():
        pytest.skip("../shared/data is not on this machine")
    for r in rows():
        held = r["held here?"]
        if held.startswith(("yes:", "partial:", "substitute:")):
            for path in re.findall(r"`([A-Za-z_]+/[^`\s]+)`", held):
                if path.startswith("experiments/"):
                    continue
                base = path.split("*")[0].rstrip("/")
                assert (shared / base).exists(), f"{r['method']} / {r['name']}: {path} not in {shared}"
