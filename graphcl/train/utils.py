"""Device selection, seeding, and handing freed heap memory back to the OS."""
from __future__ import annotations

import ctypes
import ctypes.util
import random

import numpy as np
import torch


class DeviceError(ValueError):
    """A device string that torch does not know, or a device this machine does not have."""


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) picks CUDA when present, else CPU. An unknown device string, or a
    CUDA request on a machine without CUDA (or beyond its GPU count), is a :class:`DeviceError`,
    not a silent fallback."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"unknown device '{device}'; use auto, cpu, cuda or cuda:<index>") from None
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"device '{device}' is not supported; use auto, cpu, cuda or cuda:<index>")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{device}' requested but CUDA is not available; use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device '{device}' requested but this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


_LIBC: ctypes.CDLL | None | bool = False  # False: not looked up yet; None: no malloc_trim here


def release_freed_memory() -> bool:
    """Return the C heap's free pages to the OS (glibc ``malloc_trim(0)``).

    glibc keeps freed blocks below its mmap threshold in the heap; when tensor
    shapes vary from step to step the heap fragments and the process' RSS only
    grows. Trimming after a step brings RSS back to what is live. Returns False
    (and does nothing) where the C library has no ``malloc_trim`` (not glibc)."""
    global _LIBC
    if _LIBC is False:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC = lib if hasattr(lib, "malloc_trim") else None
        except OSError:
            _LIBC = None
    if _LIBC is None:
        return False
    _LIBC.malloc_trim(0)
    return True
