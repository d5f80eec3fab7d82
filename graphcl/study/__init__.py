"""Studies: methods or named variants x datasets x seeds x an optional grid, from one YAML file.

``graphcl study experiments/studies/X.yaml [--resume]`` reads the file (:mod:`.spec`), expands
it into runs (:mod:`.expand`), trains each in its own run folder through
:func:`graphcl.reproduce.run_seed` (:mod:`.runner`) and writes one Markdown table and its JSON
(:mod:`.report`). :mod:`.memory` measures peak memory, for the runner and the benchmarks.
"""
from graphcl.study.expand import StudyRun, expand_runs
from graphcl.study.memory import PeakMemory
from graphcl.study.report import StudyReport, write_report
from graphcl.study.runner import describe_runs, run_study
from graphcl.study.spec import StudyError, StudySpec, load_study

__all__ = ["StudyError", "StudySpec", "StudyRun", "StudyReport", "PeakMemory", "load_study", "expand_runs",
           "describe_runs", "run_study", "write_report"]
