"""The README's composition example (YAML block and Python block), read from README.md:
the YAML is the recipe file's content and the Python runs."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from graphcl.config import load_config_file

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def _section() -> str:
    return README.read_text(encoding="utf-8").split("## Composing views x encoder x loss", 1)[1].split("\n## ", 1)[0]


def test_the_yaml_block_is_the_grace_recipe_file():
    import yaml
    block = re.search(r"```yaml\n(.*?)```", _section(), re.S).group(1)
    recipe = load_config_file(REPO / "experiments" / "configs" / "contrast" / "grace_cora.yaml")
    assert yaml.safe_load(block) == {k: recipe[k] for k in ("view1", "view2", "encoder", "projector", "loss")}


def test_the_python_block_trains_and_embeds():
    code = re.search(r"```python\n(.*?)```", _section(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["embeddings"].shape == (6, 8)
    assert torch.isfinite(namespace["loss"]) and namespace["data"].edge_index.size(1) == 10
