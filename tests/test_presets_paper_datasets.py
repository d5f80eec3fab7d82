"""Every method's presets on its paper datasets (issue 24): each preset key is a config key of
its method, each preset is named after a known dataset, and the table of
experiments/PAPER_DATASETS.md says exactly which (method, dataset) pairs have a preset.

Config and names only: nothing is loaded or trained here (building the models on Gowalla,
Beauty or DBLP takes seconds to minutes each; the document records those builds).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from graphcl.config import merge_config
from graphcl.data import list_datasets
from graphcl.registry import get_method, list_methods

DOC = Path(__file__).resolve().parents[1] / "experiments" / "PAPER_DATASETS.md"
HEADER = ("method", "paper dataset", "name", "held here", "preset", "command", "paper metric",
          "can run here")
HELD = ("yes", "partial", "substitute", "missing")

#: presets named after a paper dataset that the catalogue does not know (not held; reachable
#: only as a RecBole atomic folder of that name): LightGCL's authors' commands for ML-10M,
#: Tmall and Amazon-book, kept from before issue 24
UNCATALOGUED = {("lightgcl", "ml-10m"), ("lightgcl", "tmall"), ("lightgcl", "amazon")}


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def doc_rows() -> list[dict[str, str]]:
    """The rows of the document's pair table (the one whose header is :data:`HEADER`)."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("|") and tuple(c.lower() for c in _cells(line)) == HEADER)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(HEADER), line
        row = dict(zip(HEADER, cells))
        row["name"] = row["name"].strip("`")
        rows.append(row)
    return rows


def registry_pairs() -> set[tuple[str, str]]:
    return {(name, dataset) for name in list_methods() for dataset in get_method(name).presets}


@pytest.mark.parametrize("method", list_methods())
def test_every_preset_key_is_a_config_key_of_its_method(method):
    spec = get_method(method)
    for dataset, preset in spec.presets.items():
        config, data_options = merge_config(spec.defaults, preset, method=spec.name, ranges=spec.ranges)
        for key, value in preset.items():
            if key.startswith("data."):
                assert data_options[key[len("data."):]] == value, (dataset, key)
            else:
                assert key in spec.defaults, (dataset, key)


def test_every_preset_is_named_after_a_known_dataset():
    known = set(list_datasets())
    unknown = {pair for pair in registry_pairs() if pair[1] not in known}
    assert unknown == UNCATALOGUED
    assert not {d for _, d in UNCATALOGUED} & known, "a dataset became known: drop it from UNCATALOGUED"


def test_the_document_lists_exactly_the_presets():
    rows = doc_rows()
    with_preset = {(r["method"], r["name"]) for r in rows if r["preset"].lower().startswith("yes")}
    assert with_preset == registry_pairs()
    assert len(with_preset) == sum(r["preset"].lower().startswith("yes") for r in rows), "a pair listed twice"


def test_every_method_has_rows_and_every_row_is_well_formed():
    rows = doc_rows()
    assert {r["method"] for r in rows} == set(list_methods())
    known = set(list_datasets())
    for r in rows:
        where = f"{r['method']} / {r['paper dataset']}"
        held, preset, run = (r[k].lower() for k in ("held here", "preset", "can run here"))
        assert held.startswith(HELD), where
        assert run.startswith(("yes", "no")), where
        if r["name"] not in ("", "—"):
            assert r["name"] in known or (r["method"], r["name"]) in UNCATALOGUED, where
        else:
            assert held.startswith("missing") and not preset.startswith("yes"), where
        if preset.startswith("yes"):
            assert f"graphcl reproduce {r['method']} --dataset {r['name']}" in r["command"], where
        else:
            assert preset.startswith("no") and len(preset) > len("no") + 3, f"{where}: say why there is no preset"
        if held.startswith("missing"):
            assert run.startswith("no"), where
