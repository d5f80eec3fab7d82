"""A study file: which methods (or named variants) to train on which datasets, seeds and grid.

A study is a YAML mapping, read with :func:`graphcl.config.load_config_file` (the config's safe
loader, so ``1e-3`` is a number), with these keys (only ``variants`` and ``datasets`` are
required; any other key is an error naming the file and the key)::

    description: LightGCL vs LightGCN at equal epochs   # a sentence for the report
    output: experiments/results/lightgcl_vs_lightgcn.md  # Markdown table; the JSON goes beside it
    runs: runs/studies/lightgcl_vs_lightgcn              # run folders (default runs/studies/<stem>)
    records: experiments/results/records/lightgcl_vs_lightgcn   # optional: finished runs' small
                                                         # files, kept under version control
    datasets: [ml-100k, {name: gowalla, set: [epochs=2]}]
    seeds: [0, 1, 2]                                     # default [2020]
    set: [epochs=30, patience=30]                        # --set strings, for every run
    metrics: [recall@20, ndcg@20]                        # table columns (default: every test metric)
    grid: {temperature: [0.2, 0.5]}                      # optional, for every variant
    variants:
      - lightgcn                                         # a method name: the method as registered
      - {name: lightgcl-tau0.5, method: lightgcl, set: [temperature=0.5], grid: {}, datasets: [ml-100k]}

``set`` entries are parsed by :func:`graphcl.config.parse_set_options`, exactly as
``graphcl train --set``; grid values are read by the same YAML loader. Precedence for one run:
the method's preset for the dataset < study ``set`` < dataset ``set`` < variant ``set`` < the
grid point < the seed. A variant's own ``grid`` replaces the study's (``grid: {}``: none); its
``datasets`` restricts it to some of the study's datasets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from graphcl.config import ConfigError, load_config_file, parse_set_options

__all__ = ["StudyError", "StudySpec", "VariantSpec", "DatasetEntry", "load_study"]

_STUDY_KEYS = ("description", "output", "runs", "records", "datasets", "seeds", "set", "metrics", "grid", "variants")
_VARIANT_KEYS = ("name", "method", "set", "grid", "datasets")
_DATASET_KEYS = ("name", "set")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class StudyError(ConfigError):
    """A study file is invalid, or its runs conflict with run folders already on disk."""


@dataclass(frozen=True)
class VariantSpec:
    """One row family of the study: ``method`` with ``overrides``, optionally over a ``grid``."""
    name: str
    method: str
    overrides: dict[str, Any]
    grid: dict[str, list[Any]]
    datasets: tuple[str, ...] = ()   # the datasets this variant runs on (empty: all of the study's)


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset by name, with overrides that apply to every run on it."""
    name: str
    overrides: dict[str, Any]


@dataclass(frozen=True)
class StudySpec:
    """A parsed study file (see the module docstring for the keys)."""
    path: Path
    description: str
    output: Path
    runs_dir: Path
    datasets: list[DatasetEntry]
    seeds: list[int]
    overrides: dict[str, Any]
    metrics: list[str]
    variants: list[VariantSpec]
    grid: dict[str, list[Any]] = field(default_factory=dict)
    records_dir: Path | None = None   # graphcl.study.records: finished runs kept across machines

    @property
    def name(self) -> str:
        """The study's name: its file name without the extension."""
        return self.path.stem


def load_study(path: str | Path) -> StudySpec:
    """Read and check a study file; errors name the file and the offending key."""
    path = Path(path)
    raw = load_config_file(path)  # ConfigError (missing file, bad YAML, not a mapping) names the file
    where = str(path)
    _check_keys(raw, _STUDY_KEYS, where)
    for required in ("variants", "datasets"):
        if required not in raw:
            raise StudyError(f"{where}: missing key '{required}'")
    runs_dir = Path(_string(raw.get("runs", f"runs/studies/{path.stem}"), f"{where}: runs"))
    output = Path(_string(raw.get("output", str(runs_dir / "report.md")), f"{where}: output"))
    records_dir = Path(_string(raw["records"], f"{where}: records")) if "records" in raw else None
    if records_dir is not None and (records_dir == runs_dir or runs_dir in records_dir.parents
                                    or records_dir in runs_dir.parents):
        raise StudyError(f"{where}: records ({records_dir}) must lie outside runs ({runs_dir})")
    seeds = _seeds(raw.get("seeds", [2020]), f"{where}: seeds")
    grid = _grid(raw.get("grid", {}), f"{where}: grid")
    variants = [_variant(v, grid, f"{where}: variants[{i}]") for i, v in enumerate(_list(raw["variants"],
                                                                                       f"{where}: variants"))]
    names = [v.name for v in variants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise StudyError(f"{where}: variants: duplicate name(s) {', '.join(duplicates)}; give each a 'name'")
    datasets = [_dataset(d, f"{where}: datasets[{i}]") for i, d in enumerate(_list(raw["datasets"],
                                                                                  f"{where}: datasets"))]
    metrics = [_string(m, f"{where}: metrics") for m in _list(raw.get("metrics", []), f"{where}: metrics",
                                                              allow_empty=True)]
    return StudySpec(path=path, description=_string(raw.get("description", ""), f"{where}: description"),
                     output=output, runs_dir=runs_dir, datasets=datasets, seeds=seeds,
                     overrides=_overrides(raw.get("set", []), f"{where}: set"), metrics=metrics,
                     variants=variants, grid=grid, records_dir=records_dir)


def _check_keys(raw: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise StudyError(f"{where}: unknown key '{unknown[0]}'; valid keys: {', '.join(allowed)}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise StudyError(f"{where}: expected a string, got {value!r}")
    return value


def _list(value: Any, where: str, allow_empty: bool = False) -> list[Any]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise StudyError(f"{where}: expected a {'' if allow_empty else 'non-empty '}list, got {value!r}")
    return value


def _name(value: Any, where: str) -> str:
    name = _string(value, where)
    if not _SAFE_NAME.match(name):
        raise StudyError(f"{where}: '{name}' is not usable as a folder name (letters, digits, . _ + -)")
    return name


def _seeds(value: Any, where: str) -> list[int]:
    seeds = _list(value, where)
    if any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise StudyError(f"{where}: expected a list of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise StudyError(f"{where}: seeds must be distinct, got {seeds}")
    return list(seeds)


def _overrides(value: Any, where: str) -> dict[str, Any]:
    """``--set``-style strings, parsed as on the command line."""
    if not isinstance(value, list) or any(not isinstance(item, str) for item in value):
        raise StudyError(f"{where}: expected a list of 'key=value' strings (as --set), got {value!r}")
    items = value
    try:
        parsed = parse_set_options(items)
    except ConfigError as err:
        raise StudyError(f"{where}: {err}") from None
    if "seed" in parsed:
        raise StudyError(f"{where}: 'seed' is set by the study's seeds, not by set")
    return parsed


def _grid(value: Any, where: str) -> dict[str, list[Any]]:
    if not isinstance(value, dict):
        raise StudyError(f"{where}: expected a mapping of config key to a list of values, got {value!r}")
    grid: dict[str, list[Any]] = {}
    for key, values in value.items():
        if key == "seed":
            raise StudyError(f"{where}: 'seed' is set by the study's seeds, not by a grid")
        grid[str(key)] = _list(values, f"{where}: {key}")
    return grid


def _variant(value: Any, study_grid: dict[str, list[Any]], where: str) -> VariantSpec:
    if isinstance(value, str):
        return VariantSpec(name=_name(value, where), method=value, overrides={}, grid=dict(study_grid))
    if not isinstance(value, dict):
        raise StudyError(f"{where}: expected a method name or a mapping with {', '.join(_VARIANT_KEYS)}")
    _check_keys(value, _VARIANT_KEYS, where)
    method = _string(value.get("method", value.get("name")), f"{where}: method")
    grid = _grid(value["grid"], f"{where}: grid") if "grid" in value else dict(study_grid)
    only = [_string(d, f"{where}: datasets") for d in _list(value.get("datasets", []), f"{where}: datasets",
                                                              allow_empty=True)]
    return VariantSpec(name=_name(value.get("name", method), f"{where}: name"), method=method,
                       overrides=_overrides(value.get("set", []), f"{where}: set"), grid=grid,
                       datasets=tuple(only))


def _dataset(value: Any, where: str) -> DatasetEntry:
    if isinstance(value, str):
        return DatasetEntry(_name(value, where), {})
    if not isinstance(value, dict) or "name" not in value:
        raise StudyError(f"{where}: expected a dataset name or a mapping with name (and set)")
    _check_keys(value, _DATASET_KEYS, where)
    return DatasetEntry(_name(value["name"], f"{where}: name"),
                        _overrides(value.get("set", []), f"{where}: set"))
