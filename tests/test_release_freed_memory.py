"""``release_freed_memory`` (the trainer's ``malloc_trim_every``) hands freed heap pages back to
the OS: the resident set shrinks by what was freed, which a plain ``free`` does not do while a
live block sits above the freed ones."""
from __future__ import annotations

import os
import platform

import pytest

from graphcl.train.utils import release_freed_memory


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(platform.libc_ver()[0] == "glibc", reason="the no-op path: a C library without malloc_trim")
def test_without_malloc_trim_it_reports_false():
    assert release_freed_memory() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not os.path.exists("/proc/self/statm"),
                    reason="malloc_trim is glibc's; RSS is read from /proc")
def test_freed_heap_pages_leave_the_resident_set():
    blocks = [bytearray(64 * 1024) for _ in range(3000)]   # ~190 MiB of heap chunks (below mmap's 128 KiB)
    pin = bytearray(64 * 1024)                              # a live block above them: free() cannot shrink the heap
    del blocks
    after_free = _rss_bytes()
    assert release_freed_memory() is True
    after_trim = _rss_bytes()
    assert after_free - after_trim > 100 * 2 ** 20, (after_free >> 20, after_trim >> 20)
    assert len(pin) == 64 * 1024
