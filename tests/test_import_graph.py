"""The package's import graph (issue 19): no cycle between graphcl's modules, counting
imports inside functions too; no import of another module's ``_private`` name; and a
LightGCN run imports nothing of the LLM stack (graphcl.llm, GAugLLM, SRA-CL), no other
method and not PyG."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import graphcl

PACKAGE = Path(graphcl.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) of every import statement, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub, None, node.lineno) if sub in modules else (target, alias.name, node.lineno))
    return [(t, n, line) for t, n, line in found if t == "graphcl" or t.startswith("graphcl.")]


def _owner(target: str, modules: dict[str, Path]) -> str:
    while target not in modules and "." in target:
        target = target.rpartition(".")[0]
    return target


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for module, path in modules.items():
        for target, name, line in _imports(module, path, modules):
            dest = _owner(target, modules)
            if dest == module:
                continue
            edges[module].add(dest)
            if name and name.startswith("_") and not name.startswith("__"):
                private.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {dest}.{name}")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1
        stack.append(root); on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]; counter[0] += 1
                    stack.append(child); on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop(); on_stack.discard(member); component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def test_the_checker_finds_a_cycle_and_a_private_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    modules = _modules()
    assert "graphcl.registry" in modules and "graphcl.data.root" in modules
    edges, _ = _graph()
    assert "graphcl.method_spec" in edges["graphcl.registry"]  # top-level edges are seen
    # imports inside functions count too: the CLI imports the registry only in a function
    assert "graphcl.registry" in edges["graphcl.cli"]


def test_no_import_cycle_in_graphcl():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_private_name_is_imported_across_modules():
    _, private = _graph()
    assert private == []


def test_leaf_modules_import_nothing_of_graphcl():
    edges, _ = _graph()
    for leaf in ("graphcl.method_spec", "graphcl.lazy", "graphcl.errors", "graphcl.data.root",
                 "graphcl.parallel", "graphcl.model_protocols"):
        assert edges[leaf] == set(), (leaf, edges[leaf])


def test_models_sit_below_train():
    edges, _ = _graph()
    up = [(m, d) for m, ds in edges.items() if m.startswith("graphcl.models")
          for d in ds if d.startswith("graphcl.train") or d == "graphcl.cli"]
    assert up == []


LIGHTGCN_RUN = """
import sys
import graphcl.train.trainer as trainer
seen = {}
def fit(self, *args, **kwargs):
    seen.update({m: 1 for m in sys.modules if m.startswith(("graphcl", "torch_geometric"))})
    raise SystemExit(0)
trainer.Trainer.fit = fit
from graphcl.cli import main
try:
    main(["train", "lightgcn", "--dataset", "ml-100k", "--run-dir", sys.argv[1], "--quiet"])
except SystemExit:
    pass
print(" ".join(sorted(seen)))
"""


def test_a_lightgcn_run_imports_no_llm_module(tmp_path):
    out = subprocess.run([sys.executable, "-c", LIGHTGCN_RUN, str(tmp_path / "run")], check=True,
                         capture_output=True, text=True, timeout=300).stdout.split()
    assert "graphcl.models.rec.lightgcn" in out and "graphcl.train.trainer" in out
    llm = [m for m in out if m.startswith("graphcl.llm") or "gaugllm" in m or "sracl" in m
           or "prompt_experts" in m]
    assert llm == []
    other_methods = [m for m in out if m.startswith("graphcl.models.") and m.count(".") == 3
                     and not m.endswith((".base", ".batch_rows", ".lightgcn"))]
    assert other_methods == []
    # PyG (about 2 s to import, most of a LightGCN run's start-up) is not needed to rank items
    assert [m for m in out if m.startswith("torch_geometric")] == []
