"""``init_distributed`` under torchrun's environment, in process: the process-group call and
``torch.cuda`` are replaced by recorders, so the backend, the device each rank gets and
every refusal are checked here, on a machine without GPUs or a second process (the real
two-process runs are in ``test_distributed.py``)."""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from graphcl.train.distributed import DistributedSetupError, init_distributed

TORCHRUN_ENV = {"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


@pytest.fixture
def group_calls(monkeypatch):
    """torchrun's variables for rank 0 of 2 and a recorder in place of ``init_process_group``."""
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    for name, value in TORCHRUN_ENV.items():
        monkeypatch.setenv(name, value)
    calls: list[dict] = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kwargs: calls.append(kwargs))
    return calls


def _gpus(monkeypatch, count: int) -> list:
    selected: list = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "set_device", selected.append)
    return selected


def test_cpu_ranks_join_with_gloo_and_keep_their_device(group_calls, monkeypatch):
    selected = _gpus(monkeypatch, 0)
    assert init_distributed("cpu")[1] == "cpu"
    assert init_distributed()[1] == "auto"                      # the default: auto, no GPU here
    assert group_calls == [{"backend": "gloo"}, {"backend": "gloo"}] and selected == []


def test_cpu_on_a_gpu_machine_still_uses_gloo(group_calls, monkeypatch):
    selected = _gpus(monkeypatch, 2)
    assert init_distributed("cpu")[1] == "cpu"
    assert group_calls == [{"backend": "gloo"}] and selected == []


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "auto"])
def test_gpu_ranks_take_the_gpu_of_their_local_rank_and_nccl(group_calls, monkeypatch, device):
    selected = _gpus(monkeypatch, 2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert init_distributed(device)[1] == torch.device("cuda", 1)
    assert selected == [torch.device("cuda", 1)] and group_calls == [{"backend": "nccl"}]


def test_local_rank_defaults_to_zero(group_calls, monkeypatch):
    selected = _gpus(monkeypatch, 2)
    assert init_distributed()[1] == torch.device("cuda", 0) and selected == [torch.device("cuda", 0)]


def test_an_initialized_group_is_joined_once(group_calls, monkeypatch):
    _gpus(monkeypatch, 0)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    ctx, device = init_distributed("cpu")
    assert (ctx.rank, ctx.world_size, device) == (1, 2, "cpu") and group_calls == []


def test_gpu_requests_the_machine_cannot_serve_are_refused(group_calls, monkeypatch):
    _gpus(monkeypatch, 0)
    with pytest.raises(DistributedSetupError, match="device 'cuda' requested but CUDA is not available; "
                                                    "use --device cpu"):
        init_distributed("cuda")
    _gpus(monkeypatch, 2)
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(DistributedSetupError, match="LOCAL_RANK 2 but only 2 GPUs; "
                                                    "use --nproc_per_node <= the GPU count"):
        init_distributed("cuda")
    assert group_calls == []


@pytest.mark.parametrize("missing", ["RANK", "MASTER_ADDR", "MASTER_PORT"])
def test_each_missing_torchrun_variable_is_named(group_calls, monkeypatch, missing):
    monkeypatch.delenv(missing)
    with pytest.raises(DistributedSetupError, match=f"WORLD_SIZE=2 but {missing} is not set: launch with "
                                                    r"torchrun \(torchrun --nproc_per_node 2"):
        init_distributed("cpu")


def test_a_torch_without_distributed_is_named(group_calls, monkeypatch):
    monkeypatch.setattr(dist, "is_available", lambda: False)
    with pytest.raises(DistributedSetupError, match="^WORLD_SIZE > 1 but this torch build has no torch.distributed$"):
        init_distributed("cpu")


@pytest.mark.parametrize("world", ["", "1"])
def test_an_empty_or_single_world_is_one_process(group_calls, monkeypatch, world):
    monkeypatch.setenv("WORLD_SIZE", world)
    ctx, device = init_distributed("cpu")
    assert not ctx.active and device == "cpu" and group_calls == []


def test_a_local_rank_that_is_not_a_number_is_named(group_calls, monkeypatch):
    _gpus(monkeypatch, 2)
    monkeypatch.setenv("LOCAL_RANK", "first")
    with pytest.raises(ValueError, match="environment variable LOCAL_RANK must be an integer, got 'first'"):
        init_distributed("cuda")
