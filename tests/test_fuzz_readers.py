"""Fuzzing every reader with malformed content (issue 18).

Each test feeds one reader (RecBole atomic files, LightGCN text, lastfm TSV, pickled
matrices, sequence files, item feature and item text files, WebKB CSV, a HeCo folder
and the Planetoid raw files) generated malformed content from
``tests/_reader_cases.py`` and requires, for every case, either a clear graphcl
``DataFormatError`` (or the documented ``FileNotFoundError``) that names a file of the
case, or a successful load whose result matches an independent reading of the files:
never a traceback from numpy/scipy/torch/Python, never a payload run, never an
allocation beyond the cap (address space + 2 GiB), never a case over 30 s.

The settings are fixed (``derandomize=True``, no example database, ``max_examples``
per reader in ``READERS``) so CI runs the same cases each time, in about two
minutes on two cores. ``experiments/fuzz_readers_report.py`` runs the same
strategies with more examples and prints the outcome table.
"""
from __future__ import annotations

import pytest
from _reader_cases import READERS, Reader, run_case, shared_data
from hypothesis import HealthCheck, given, settings

ACCEPTED = ("loaded", "clear error")


def _fuzz(reader: Reader):
    @settings(max_examples=reader.examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=reader.cases())
    def each_case(case):
        result = run_case(reader, case)
        assert result.outcome in ACCEPTED, f"{result.outcome}: {result.detail}"

    def test() -> None:
        if reader.needs_shared and shared_data() is None:
            pytest.skip("shared/data not found (set GRAPHCL_SHARED_DATA)")
        each_case()

    test.__doc__ = f"Malformed {reader.name} input: a clear error or a validated load."
    return test


test_fuzz_atomic_files = _fuzz(READERS["atomic (RecBole)"])
test_fuzz_lightgcn_text = _fuzz(READERS["LightGCN text"])
test_fuzz_lastfm_tsv = _fuzz(READERS["lastfm tsv"])
test_fuzz_pickled_matrices = _fuzz(READERS["pickled matrix"])
test_fuzz_sequence_files = _fuzz(READERS["sequence file"])
test_fuzz_item_feature_files = _fuzz(READERS["item feature file"])
test_fuzz_item_text_files = _fuzz(READERS["item text file"])
test_fuzz_webkb_csv = _fuzz(READERS["WebKB CSV"])
test_fuzz_heco_folder = _fuzz(READERS["HeCo folder (acm)"])
test_fuzz_planetoid_raw = _fuzz(READERS["Planetoid raw (cora)"])
