"""Shared fixtures. Real benchmark files live in ``../shared/data`` beside the
checkout (or wherever ``$GRAPHCL_SHARED_DATA`` points)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("GRAPHCL_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real benchmark data not found: set GRAPHCL_SHARED_DATA or place it at ../shared/data")
    return path
