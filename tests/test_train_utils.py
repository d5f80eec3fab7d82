"""``graphcl.train.utils``: device resolution (on a pretend two-GPU machine too), seeding of
every generator a method draws from, and the one-time lookup of glibc's ``malloc_trim``."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import graphcl.train.utils as utils
from graphcl.train.utils import DeviceError, make_generator, release_freed_memory, resolve_device, seed_everything


@pytest.fixture
def two_gpus(monkeypatch):
    """torch.cuda as a machine with two GPUs reports it (nothing is allocated on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_auto_is_the_default_and_picks_the_cpu_without_cuda(no_gpu):
    assert resolve_device() == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_picks_cuda_on_a_gpu_machine(two_gpus):
    assert resolve_device() == torch.device("cuda")
    assert resolve_device("auto") == torch.device("cuda")


def test_cuda_indices_are_checked_against_the_gpu_count(two_gpus):
    assert resolve_device("cuda") == torch.device("cuda")           # no index: the current GPU
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match=r"device 'cuda:2' requested but this machine has 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


def test_cuda_without_cuda_and_unknown_devices_are_refused(no_gpu):
    with pytest.raises(DeviceError, match="device 'cuda' requested but CUDA is not available; use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="unknown device 'gpu0'; use auto, cpu, cuda or cuda:<index>"):
        resolve_device("gpu0")
    with pytest.raises(DeviceError, match="device 'meta' is not supported"):
        resolve_device("meta")


def test_seed_everything_seeds_python_numpy_and_torch():
    seed = 2 ** 32 + 100            # numpy takes seeds below 2**32: it gets seed mod 2**32
    seed_everything(seed)
    drawn = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.seed(seed)
    np.random.seed(100)
    torch.manual_seed(seed)
    assert drawn == (random.random(), float(np.random.rand()), float(torch.rand(())))
    seed_everything(7)
    assert random.random() != drawn[0]


def test_make_generator_is_seeded_on_the_device():
    gen = make_generator(5, torch.device("cpu"))
    assert gen.device == torch.device("cpu") and gen.initial_seed() == 5
    assert torch.equal(torch.rand(4, generator=gen), torch.rand(4, generator=torch.Generator().manual_seed(5)))


class _FakeLibc:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


def test_malloc_trim_is_looked_up_once_in_the_c_library_and_called_with_no_padding(monkeypatch):
    libc, opened = _FakeLibc(), []
    monkeypatch.setattr(utils, "_LIBC", False)              # not looked up yet
    monkeypatch.setattr(utils.ctypes.util, "find_library", lambda name: {"c": "/lib/x86_64/libc.so.6"}.get(name))
    monkeypatch.setattr(utils.ctypes, "CDLL", lambda name: opened.append(name) or libc)
    assert release_freed_memory() is True and release_freed_memory() is True
    assert opened == ["/lib/x86_64/libc.so.6"] and libc.calls == [0, 0]  # pad 0: trim everything above the live heap


def test_without_find_library_the_glibc_soname_is_opened(monkeypatch):
    opened = []
    monkeypatch.setattr(utils, "_LIBC", False)
    monkeypatch.setattr(utils.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(utils.ctypes, "CDLL", lambda name: opened.append(name) or _FakeLibc())
    assert release_freed_memory() is True and opened == ["libc.so.6"]


def test_a_c_library_without_malloc_trim_or_none_at_all_makes_it_a_no_op(monkeypatch):
    monkeypatch.setattr(utils, "_LIBC", False)
    monkeypatch.setattr(utils.ctypes, "CDLL", lambda name: object())      # musl: no malloc_trim
    assert release_freed_memory() is False and utils._LIBC is None
    assert release_freed_memory() is False                              # remembered, not looked up again

    def no_library(name):
        raise OSError(f"{name}: cannot open shared object file")
    monkeypatch.setattr(utils, "_LIBC", False)
    monkeypatch.setattr(utils.ctypes, "CDLL", no_library)
    assert release_freed_memory() is False and utils._LIBC is None
