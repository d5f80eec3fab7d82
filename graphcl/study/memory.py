"""Peak memory of a block of code inside one process: resident memory and CUDA allocation.

On Linux the kernel's high-water mark of resident memory (``VmHWM``) is reset on entry by
writing ``5`` to ``/proc/self/clear_refs``, so the peak is the block's own even after earlier
work in the same process. Where that is not possible the peak is the process's lifetime
``ru_maxrss`` and :attr:`PeakMemory.since_start` says so.
"""
from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any

__all__ = ["PeakMemory", "current_rss_mib"]

_MIB = 1024.0 * 1024.0


def _status_kib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mib() -> float:
    """The process's resident memory now, in MiB (``ru_maxrss`` where /proc is absent)."""
    kib = _status_kib("VmRSS")
    return kib / 1024.0 if kib is not None else _maxrss_mib()


def _maxrss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MIB if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, KiB elsewhere


class PeakMemory:
    """``with PeakMemory() as peak: ...`` then ``peak.rss_mib`` (peak resident MiB during the block)
    and ``peak.cuda_mib`` (peak CUDA allocation in MiB, ``None`` without CUDA)."""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = str(device)
        self.rss_mib: float = float("nan")
        self.cuda_mib: float | None = None
        self.since_start = False

    def __enter__(self) -> "PeakMemory":
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.since_start = True
        if self._cuda():
            import torch
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: Any) -> None:
        kib = None if self.since_start else _status_kib("VmHWM")
        if kib is None:
            self.since_start = True
        self.rss_mib = kib / 1024.0 if kib is not None else _maxrss_mib()
        if self._cuda():
            import torch
            self.cuda_mib = torch.cuda.max_memory_allocated(self.device) / _MIB

    def _cuda(self) -> bool:
        if not self.device.startswith("cuda"):
            return False
        import torch
        return torch.cuda.is_available()
