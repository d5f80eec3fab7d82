"""A module-scoped fixture importing one script of experiments/benchmarks (its folder on sys.path
only while the fixture lives)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

BENCH = Path(__file__).resolve().parents[1] / "experiments" / "benchmarks"


def bench_fixture(module: str) -> Callable[[], Any]:
    """``bench = bench_fixture("bench_x")`` in a test module gives its tests a ``bench`` fixture."""
    @pytest.fixture(scope="module")
    def bench():
        sys.path.insert(0, str(BENCH))
        try:
            yield importlib.import_module(module)
        finally:
            sys.path.remove(str(BENCH))
    return bench
