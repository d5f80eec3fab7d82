"""Run the reader fuzz strategies of ``tests/_reader_cases.py`` with more examples and print,
per reader, how the cases ended (issue 18's table).

    .venv/bin/python experiments/fuzz_readers_report.py               # 5x the CI examples
    .venv/bin/python experiments/fuzz_readers_report.py --scale 1     # the CI cases
    .venv/bin/python experiments/fuzz_readers_report.py --only "pickled matrix" --examples 500

Columns: cases tried, loaded (and validated), clear errors (a graphcl DataFormatError or the
documented FileNotFoundError naming a file of the case; "with line": those that also give a
line or row), unclear errors (naming no file), crashes (any other exception, a MemoryError
under the 2 GiB address-space cap, or over 30 s), silent wrong results (a load that the
independent validator rejects) and code executed (a payload's marker file appeared). The
first case of each failing kind is printed below the table. Exit status 1 if any case failed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _reader_cases import FAILURES, READERS, Tally, run_case, shared_data  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402


def drive(name: str, examples: int, tally: Tally, verbose: bool = False) -> None:
    reader = READERS[name]

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=reader.cases())
    def each_case(case):
        tally.add(name, case, run_case(reader, case), verbose)

    each_case()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=5.0,
                        help="examples per reader = scale x its CI max_examples (default 5)")
    parser.add_argument("--examples", type=int, help="examples per reader (overrides --scale)")
    parser.add_argument("--only", action="append", choices=sorted(READERS),
                        help="run only this reader (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="print every case's outcome")
    args = parser.parse_args(argv)
    tally = Tally()
    for name in args.only or list(READERS):
        if READERS[name].needs_shared and shared_data() is None:
            print(f"skipped {name}: shared/data not found (set GRAPHCL_SHARED_DATA)")
            continue
        examples = args.examples or max(1, round(READERS[name].examples * args.scale))
        drive(name, examples, tally, args.verbose)
        print(f"done {name}: {sum(tally.counts[name].values())} cases", file=sys.stderr)
    print(tally.table())
    for (name, outcome), example in sorted(tally.examples.items()):
        print(f"\nfirst {outcome} in {name}:\n  {example}")
    return 1 if any(c[o] for c in tally.counts.values() for o in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
