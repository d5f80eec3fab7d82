"""Run mutmut over graphcl's core modules and write experiments/results/mutation.md.

``make mutation`` calls this script.  Each group of ``modules.toml`` is run on its own
copy of the repository (under ``--workdir``, default ``/tmp/graphcl-mutation/<group>``),
never on the checkout itself: mutmut 3 writes its mutants into ``mutants/`` of the
directory it runs in, and the copy keeps concurrent edits of the checkout out of a run.
The copy gets a ``[tool.mutmut]`` section naming the group's files and covering tests;
mutmut records which of those tests call which function and runs, for each mutant, only
the tests that reached the mutated function.

The results of every group run are kept in ``experiments/results/mutation.json`` (a group
that is not rerun keeps its earlier numbers, with their date), and the report is rebuilt
from that file and ``equivalent.toml`` by :mod:`report`.

Usage::

    python experiments/mutation/run.py                       # every group, in order
    python experiments/mutation/run.py --groups sparse,losses
    python experiments/mutation/run.py --report-only         # rebuild the .md from the .json
    python experiments/mutation/run.py --groups sparse --collect   # reread an earlier run's copy
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import report  # noqa: E402  (the report writer beside this script)

RESULTS_JSON = REPO / "experiments" / "results" / "mutation.json"
RESULTS_MD = REPO / "experiments" / "results" / "mutation.md"
# what never travels into the copy: environments, caches, earlier mutants, run outputs
COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "mutants", "runs", "__pycache__", ".pytest_cache",
                                     ".hypothesis", "*.egg-info", "results", "out")
# mutmut's exit-code meaning (mutmut.stats.status_by_exit_code, 3.x); anything else is "suspicious"
RESUMES = 2  # times an interrupted mutmut run is resumed
STATUS_BY_EXIT_CODE = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
                       2: "interrupted", 34: "skipped", 35: "suspicious", 36: "timeout", 37: "type check",
                       -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault",
                       -9: "segfault", None: "not checked"}


@dataclass
class Group:
    """One mutmut run: the source files it mutates and the test files that cover them."""

    name: str
    paths: list[str]
    tests: list[str]
    kills: list[str] = field(default_factory=list)
    minutes: float | None = None
    deselect: list[str] = field(default_factory=list)  # tests mutmut cannot run (e.g. child processes)

    def kill_tests(self, repo: Path) -> list[str]:
        """The ``tests/test_mutation_kills_<name>.py`` files of this group that exist in ``repo``."""
        found = [f"tests/test_mutation_kills_{k}.py" for k in self.kills]
        return [t for t in found if (repo / t).is_file()]

    def source_files(self, repo: Path) -> list[str]:
        """The files matched by ``paths``, relative to ``repo``, sorted."""
        files = {str(p.relative_to(repo)) for pattern in self.paths for p in repo.glob(pattern) if p.is_file()}
        return sorted(f for f in files if f.endswith(".py"))


def load_groups(path: Path = HERE / "modules.toml") -> list[Group]:
    """Read the groups of ``modules.toml`` in their listed order."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    groups = [Group(name=g["name"], paths=list(g["paths"]), tests=list(g["tests"]), kills=list(g.get("kills", [])),
                    minutes=g.get("minutes"), deselect=list(g.get("deselect", []))) for g in data["group"]]
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise SystemExit(f"{path}: duplicate group names in {names}")
    return groups


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def mutmut_section(group: Group, tests: list[str], deselect: list[str] = ()) -> str:
    """The ``[tool.mutmut]`` section written into the copy's pyproject.toml."""
    pytest_args = ["-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]
    for nodeid in deselect:
        pytest_args += ["--deselect", nodeid]
    return "\n".join([
        "[tool.mutmut]",
        'source_paths = ["graphcl"]',
        f"only_mutate = {_toml_list(group.paths)}",
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}",
        f"pytest_add_cli_args = {_toml_list(pytest_args)}",
        'also_copy = ["README.md", "datasets"]',
        "use_git_change_detection = false",
        "",
    ])


def failing_tests(dest: Path, tests: list[str], env: dict[str, str]) -> list[str]:
    """Node ids of the tests that fail on the unmutated copy (mutmut refuses to start otherwise).

    They are deselected for the run and named in the report: a test that fails on the
    unmutated code kills every mutant and so says nothing about any of them."""
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf",
                          "-W", "ignore::DeprecationWarning", *tests],
                         cwd=dest, env=env, capture_output=True, text=True, check=False)
    return sorted({m.group(1) for m in re.finditer(r"^FAILED (\S+)", out.stdout, re.MULTILINE)})


def prepare_copy(group: Group, dest: Path, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Copy the repository to ``dest`` (replacing an earlier copy) and configure mutmut there.

    Returns the test files of the run (the group's tests and its existing kill tests) and
    the tests deselected because they fail on the unmutated code."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(REPO, dest, ignore=COPY_IGNORE)
    tests = list(group.tests) + group.kill_tests(dest)
    missing = [t for t in tests if not (dest / t).is_file()]
    if missing:
        raise SystemExit(f"modules.toml, group {group.name}: test files not found: {', '.join(missing)}")
    deselect = failing_tests(dest, tests, env)
    if deselect:
        print(f"[mutation] {group.name}: deselected, failing without any mutant: {' '.join(deselect)}", flush=True)
    pyproject = dest / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", text)  # one section only: ours
    pyproject.write_text(text.rstrip() + "\n\n" + mutmut_section(group, tests, deselect + group.deselect),
                         encoding="utf-8")
    return tests, deselect


def run_environment() -> dict[str, str]:
    """One thread per process (the mutants run one at a time on a shared machine) and the
    shared benchmark data, which the copy's ``tests/conftest.py`` cannot find beside itself."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    if "GRAPHCL_SHARED_DATA" not in env and (REPO.parent / "shared" / "data").is_dir():
        env["GRAPHCL_SHARED_DATA"] = str(REPO.parent / "shared" / "data")
    return env


def read_meta(dest: Path, source: str) -> dict[str, int | None]:
    """mutmut's verdict (exit code) for each mutant of ``source`` in the copy ``dest``."""
    meta = dest / "mutants" / (source + ".meta")
    if not meta.is_file():
        return {}
    return json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]


def mutant_diffs(dest: Path, source: str, names: list[str], env: dict[str, str]) -> dict[str, str]:
    """The unified diff of each named mutant of ``source`` (mutmut's own diff, in one process)."""
    if not names:
        return {}
    out = subprocess.run([sys.executable, str(HERE / "diffs.py"), source, *names], cwd=dest, env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"cannot read the mutants of {source} in {dest}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run_group(group: Group, workdir: Path, max_children: int) -> dict:
    """Run mutmut for one group on a fresh copy; return its results record."""
    dest = workdir / group.name
    env = run_environment()
    start = time.monotonic()
    tests, deselected = prepare_copy(group, dest, env)
    print(f"[mutation] {group.name}: tests {' '.join(tests)} (copy in {dest})", flush=True)
    log_path = dest / "mutmut.log"
    stopped = False
    deadline = start + group.minutes * 60 if group.minutes else None
    with open(log_path, "w", encoding="utf-8") as log:
        for attempt in range(1 + RESUMES):
            proc = subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "mutmut", "run",
                                     "--max-children", str(max_children)],
                                    cwd=dest, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                proc.wait(timeout=None if deadline is None else max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # the group's time budget is spent: stop mutmut as Ctrl-C would (it keeps the
                # verdicts so far); the rest are reported as not checked
                stopped = True
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                break
            unchecked = any(code is None for source in group.source_files(dest)
                            for code in read_meta(dest, source).values())
            if proc.returncode == 0 or not unchecked or not any(read_meta(dest, f) for f in group.source_files(dest)):
                break
            # mutmut 3.8 sometimes ends mid-run with exit code 1 and no message; it resumes
            # from its saved verdicts, so run it again on the unchecked mutants
            log.write(f"\n[mutation] mutmut exited {proc.returncode} with unchecked mutants: resuming\n")
            log.flush()
    wall = time.monotonic() - start
    record: dict = {"group": group.name, "ran_at": dt.datetime.now().isoformat(timespec="seconds"),
                    "wall_s": round(wall, 1), "mutmut": metadata.version("mutmut"), "tests": tests,
                    "deselected": deselected, "exit_code": 0 if stopped else proc.returncode,
                    "stopped_after_minutes": group.minutes if stopped else None}
    if proc.returncode != 0 and not stopped:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        record["error"] = "\n".join(line[-300:] for line in tail)
        print(f"[mutation] {group.name}: mutmut exited {proc.returncode}; log {log_path}:\n" + record["error"],
              flush=True)
    record["files"] = collect_files(group, dest, env)
    print(f"[mutation] {group.name}: done in {wall:.0f}s", flush=True)
    return record


def collect_files(group: Group, dest: Path, env: dict[str, str]) -> dict:
    """Per source file of ``group``: its hash, mutmut's verdict counts and the unkilled mutants."""
    files = {}
    for source in group.source_files(dest):
        verdicts = read_meta(dest, source)
        counts: dict[str, int] = {}
        unkilled = {}
        for name, code in sorted(verdicts.items()):
            status = STATUS_BY_EXIT_CODE.get(code, "suspicious")
            counts[status] = counts.get(status, 0) + 1
            if status in report.UNKILLED:
                unkilled[name] = status
        diffs = mutant_diffs(dest, source, list(unkilled), env)
        survivors = [{"name": n, "status": s, "diff": diffs[n]} for n, s in unkilled.items()]
        files[source] = {"sha256": sha256(dest / source), "counts": counts, "survivors": survivors}
    return files


def load_results() -> dict:
    if RESULTS_JSON.is_file():
        return json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
    return {"groups": {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", help="comma-separated group names of modules.toml (default: all)")
    parser.add_argument("--workdir", type=Path,
                        default=Path(os.environ.get("MUTATION_WORKDIR", "/tmp/graphcl-mutation")))
    parser.add_argument("--max-children", type=int, default=2,
                        help="parallel mutant workers (default 2: this machine's cores)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from mutation.json")
    parser.add_argument("--collect", action="store_true",
                        help="reread the verdicts of the groups' existing copies without running mutmut again")
    args = parser.parse_args(argv)

    groups = load_groups()
    by_name = {g.name: g for g in groups}
    chosen = groups
    if args.groups:
        wanted = [n.strip() for n in args.groups.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            parser.error(f"unknown groups {unknown}; modules.toml has {list(by_name)}")
        chosen = [by_name[n] for n in wanted]
    if args.workdir.resolve() == REPO or REPO in args.workdir.resolve().parents:
        parser.error(f"--workdir must be outside the repository ({REPO}): mutmut writes its mutants there")

    results = load_results()
    if not args.report_only:
        args.workdir.mkdir(parents=True, exist_ok=True)
        for group in chosen:
            if args.collect:
                rec = results["groups"].get(group.name)
                if rec is None or not (args.workdir / group.name / "mutants").is_dir():
                    parser.error(f"--collect: group {group.name} has no earlier run in {args.workdir}")
                rec["files"] = collect_files(group, args.workdir / group.name, run_environment())
                record = rec
            else:
                record = run_group(group, args.workdir, args.max_children)
            results = load_results()  # reread: another run may have recorded other groups meanwhile
            results["groups"][group.name] = record
            RESULTS_JSON.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    RESULTS_MD.write_text(report.render(results, groups, report.load_equivalents()), encoding="utf-8")
    print(f"[mutation] report: {RESULTS_MD}")
    failed = [g.name for g in chosen if results["groups"].get(g.name, {}).get("exit_code", 0) != 0]
    return 1 if failed and not args.report_only else 0


if __name__ == "__main__":
    sys.exit(main())
