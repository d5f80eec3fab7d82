"""Print the diffs of mutants as JSON; run by run.py inside a mutmut copy of the repository.

Usage: ``python diffs.py SOURCE NAME [NAME ...]`` with the working directory at the copy's
root (where mutmut's ``mutants/`` and ``pyproject.toml`` are).  One process for all the
survivors of a file, instead of one ``mutmut show`` per mutant.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant


def main(argv: list[str]) -> int:
    source, names = Path(argv[0]), argv[1:]
    print(json.dumps({name: get_diff_for_mutant(name, path=source) for name in names}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
