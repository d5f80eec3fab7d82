"""Method configuration: defaults, YAML files and ``--set key=value`` overrides.

A configuration is a flat mapping. Every method declares its defaults (model
hyperparameters merged with :data:`TRAIN_DEFAULTS`); any key not in the
defaults is rejected with an error listing the valid keys. Keys starting with
``data.`` are dataset options, passed to :func:`graphcl.data.load`, which checks
them itself.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from graphcl.config_ranges import check_ranges
from graphcl.errors import ConfigError


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader that also reads ``1e-3``/``5E4`` as numbers (YAML 1.2; PyYAML's 1.1
    rules need a dot, so ``lr: 1e-3`` would otherwise be the string ``"1e-3"``)."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 (a SafeLoader subclass)


TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 100,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 2048,
    "eval_every": 1,
    "patience": 10,
    "loss_patience": 0,  # >0: stop once the training loss has set no new minimum for this many epochs
    # what a loss_patience stop evaluates: "last" (the parameters it stopped with) or "lowest" (those
    # that produced the lowest training loss, the start of that epoch: DGI's code reloads them)
    "loss_patience_keep": "last",
    "valid_metric": "ndcg@20",
    "topk": [10, 20],
    "eval_batch_size": 1024,
    "seed": 2020,
    # a batch loss above this factor x max(|first batch loss|, 1) is divergence (0: off); see
    # graphcl.train.trainer.TrainingDivergedError
    "divergence_factor": 1e6,
    # the hot similarity products' operands: "fp32" or "bf16" (fp32 accumulation and reductions;
    # graphcl.precision)
    "precision": "fp32",
}


def parse_set_options(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings; values are read as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set has an empty key in '{item}'")
        try:
            out[key] = _load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: cannot parse value '{raw}': {exc}") from None
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file; nested ``data:`` mappings become ``data.<key>``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        content = _load_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"config file {path} must hold a mapping of key: value, got {type(content).__name__}")
    flat: dict[str, Any] = {}
    for key, value in content.items():
        if key in ("data", "dataset_options") and isinstance(value, dict):
            flat.update({f"data.{k}": v for k, v in value.items()})
        else:
            flat[str(key)] = value
    return flat


def _coerce(key: str, value: Any, default: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}' expects true/false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"config key '{key}' expects an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' expects a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' expects a string, got {value!r}")
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            value = [value]
        return list(value)
    return value


def merge_config(defaults: Mapping[str, Any], *overrides: Mapping[str, Any],
                 method: str = "method",
                 ranges: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply overrides to defaults. Returns ``(config, data_options)``.

    Every numeric value is checked against its range (:mod:`graphcl.config_ranges`;
    ``ranges`` holds a method's own ranges for keys it reads differently).
    """
    config = dict(defaults)
    data_options: dict[str, Any] = {}
    for override in overrides:
        for key, value in override.items():
            if key.startswith("data."):
                data_options[key[len("data."):]] = value
                continue
            if key not in defaults:
                valid = ", ".join(sorted(defaults))
                raise ConfigError(f"unknown config key '{key}' for {method}; valid keys: {valid} "
                                  f"(dataset options go as data.<option>)")
            config[key] = _coerce(key, value, defaults[key])
    check_ranges(config, method, ranges)
    return config, data_options
