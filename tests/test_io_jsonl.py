"""graphcl.io: the JSON-lines reader behind item texts, summaries and node files, and atomic writes."""
import pytest

from graphcl.io import iter_jsonl_objects


class BadFile(ValueError):
    pass


def test_yields_objects_with_file_and_line_and_skips_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"b": "x"}\n', encoding="utf-8")
    rows = list(iter_jsonl_objects(path, BadFile))
    assert rows == [(f"{path}:1", {"a": 1}), (f"{path}:4", {"b": "x"})]


@pytest.mark.parametrize("content, message", [
    (b'{"a": 1}\n{"a": \n', r"rows.jsonl:2: not valid JSON"),
    (b'{"a": 1}\n[1, 2]\n', r"rows.jsonl:2: expected a JSON object, got list"),
    (b'{"a": "\xff"}\n', r"rows.jsonl: not valid UTF-8"),
])
def test_bad_lines_raise_the_callers_error_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    with pytest.raises(BadFile, match=message):
        list(iter_jsonl_objects(path, BadFile))


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    """A new file gets 0o666 minus the umask (not mkstemp's 0o600); an existing file keeps its mode."""
    import os
    import stat

    from graphcl.io import atomic_write_text
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new.md", "x")
        assert stat.S_IMODE((tmp_path / "new.md").stat().st_mode) == 0o644
        (tmp_path / "kept.md").write_text("a")
        os.chmod(tmp_path / "kept.md", 0o640)
        atomic_write_text(tmp_path / "kept.md", "b")
        assert stat.S_IMODE((tmp_path / "kept.md").stat().st_mode) == 0o640
        assert (tmp_path / "kept.md").read_text() == "b"
    finally:
        os.umask(old)
    assert not list(tmp_path.glob(".*.tmp"))
