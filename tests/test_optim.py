"""graphcl.optim.adam: torch's fused Adam where the parameters allow it, the same update rule as
the loop implementation (to float rounding), deterministic for a seed."""
from __future__ import annotations

import pytest
import torch

from graphcl.optim import adam, fused_supported

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(make, steps=40, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 3))
    opt = make(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(50, (16,), generator=gen)
        target = torch.randint(3, (16,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(idx), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()], opt


def test_fused_adam_follows_the_loop_implementation():
    fused, opt = _run(lambda ps: adam(ps, lr=0.05, weight_decay=1e-3))
    assert opt.defaults["fused"] is True
    loop, _ = _run(lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=1e-3))
    for a, b in zip(fused, loop):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    again, _ = _run(lambda ps: adam(ps, lr=0.05, weight_decay=1e-3))
    assert all(torch.equal(a, b) for a, b in zip(fused, again))  # same seed, same result


def test_fallback_and_errors():
    ints = torch.zeros(3, dtype=torch.long)
    assert fused_supported([torch.zeros(2, requires_grad=True)])
    assert not fused_supported([torch.zeros(2, requires_grad=True), ints])
    assert not fused_supported([torch.zeros(2, device="meta", requires_grad=True)])
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))]}, {"params": [torch.nn.Parameter(torch.zeros(1))],
                                                                 "lr": 0.1}]
    assert adam(groups, lr=1.0).defaults["fused"] is True
    with pytest.raises(ValueError, match="no parameters"):
        adam([], lr=1.0)
