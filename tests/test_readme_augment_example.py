"""The README's augmenter example, read from README.md and run (so the two cannot drift)."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Augmenters as transforms", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README has no python block under 'Augmenters as transforms'"
    return match.group(1)


def test_readme_example_runs():
    namespace: dict = {}
    exec(compile(_snippet(), str(README), "exec"), namespace)
    assert namespace["g_users"].shape == (4, 8) and namespace["g_items"].shape == (3, 8)
    assert namespace["v3"].x.shape == (6, 16)
    assert namespace["kept"].size(1) <= namespace["edge_index"].size(1)
    # the transforms never touched the input graph
    assert namespace["data"].edge_index.size(1) == 14
