"""experiments/benchmarks/harness.py update_tagged_store: rows of several code versions in one
store, a re-run replacing only its own rows and run record."""
from __future__ import annotations

import json

from tests._bench_helpers import bench_fixture

harness = bench_fixture("harness")


def test_tagged_rows_replace_only_their_key(harness, tmp_path):
    out = tmp_path / "t.md"
    run = {"tag": "before", "command": "c1", "hardware": "h"}
    harness.update_tagged_store(out, [["before", "a", 1.0], ["before", "b", 2.0]], run, key_width=2)
    harness.update_tagged_store(out, [["after", "a", 0.5]], {**run, "tag": "after"}, key_width=2)
    saved = harness.update_tagged_store(out, [["before", "b", 3.0]], run, key_width=2)   # re-measured
    assert saved["rows"] == [["before", "a", 1.0], ["after", "a", 0.5], ["before", "b", 3.0]]
    assert [(r["tag"], r["command"]) for r in saved["runs"]] == [("after", "c1"), ("before", "c1")]
    assert json.loads(out.with_suffix(".json").read_text()) == saved
    # key width 1: a tag's rows are replaced as a whole
    saved = harness.update_tagged_store(out, [["after", "z", 9.0]], {**run, "tag": "after", "command": "c2"})
    assert [r for r in saved["rows"] if r[0] == "after"] == [["after", "z", 9.0]]
    assert len(saved["runs"]) == 3
