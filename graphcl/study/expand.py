"""Expand a study into its runs: one per (dataset, variant, grid point, seed), in that order.

Each run has its own folder, ``<runs>/<dataset>/<variant>[/<grid point>]/seed<k>`` (the unit of
resumption, as in :mod:`graphcl.reproduce`), and its full override mapping. The overrides are
checked against the method's config here (unknown keys, types, ranges), so a bad study fails
before anything trains.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphcl.config import ConfigError, merge_config
from graphcl.study.spec import StudyError, StudySpec

__all__ = ["StudyRun", "expand_runs", "grid_points", "grid_label"]


@dataclass(frozen=True)
class StudyRun:
    """One training run of a study."""
    dataset: str
    variant: str
    method: str
    grid: dict[str, Any]           # this run's grid point (empty without a grid)
    seed: int
    overrides: dict[str, Any]      # everything the study sets for this run, the seed included
    run_dir: Path

    @property
    def group(self) -> tuple[str, str, str]:
        """The table row this run belongs to: (dataset, variant, grid label)."""
        return self.dataset, self.variant, grid_label(self.grid)


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the grid's value lists, first key slowest; ``[{}]`` without a grid."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def grid_label(point: dict[str, Any]) -> str:
    """``key=value`` pairs joined by commas (empty for no grid point)."""
    return ",".join(f"{k}={_short(v)}" for k, v in point.items())


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ";".join(_short(v) for v in value) + "]"
    return str(value)


def _folder(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", label.replace(",", "_"))


def expand_runs(spec: StudySpec) -> list[StudyRun]:
    """Every run of ``spec``: datasets outermost, then variants, grid points, seeds."""
    from graphcl.registry import get_method
    from graphcl.reproduce import resolve_dataset

    runs: list[StudyRun] = []
    for entry in spec.datasets:
        for variant in spec.variants:
            if variant.datasets and entry.name not in variant.datasets:
                continue
            method = get_method(variant.method)
            dataset = resolve_dataset(method.name, entry.name)
            for point in grid_points(variant.grid):
                overrides = {**spec.overrides, **entry.overrides, **variant.overrides, **point}
                _check_config(spec, method, dataset, variant.name, overrides)
                folder = spec.runs_dir / dataset / variant.name
                if point:
                    folder = folder / _folder(grid_label(point))
                for seed in spec.seeds:
                    runs.append(StudyRun(dataset=dataset, variant=variant.name, method=method.name,
                                         grid=dict(point), seed=seed, overrides={**overrides, "seed": seed},
                                         run_dir=folder / f"seed{seed}"))
    return runs


def _check_config(spec: StudySpec, method: Any, dataset: str, variant: str, overrides: dict[str, Any]) -> None:
    preset = method.presets.get(dataset.lower(), {})
    try:
        merge_config(method.defaults, preset, overrides, method=method.name, ranges=method.ranges)
    except ConfigError as err:
        raise StudyError(f"{spec.path}: variant '{variant}' on {dataset}: {err}") from None
