"""``precision: bf16`` (issue 22): the hot similarity products take bfloat16 operands with fp32
accumulation and fp32 reductions. What a user relies on: the loss and its gradients stay within
bf16 rounding of the fp32 ones on every path (GRACE's shifted, log-sum-exp and blockwise forms,
LightGCL's blockwise and kept log-sum-exp), the fp32 default is untouched, the backward pass keeps
its forward's precision, and a bad value is refused before anything runs."""
from __future__ import annotations

import pytest
import torch
from _rec_helpers import clustered_dataset

from graphcl.config import TRAIN_DEFAULTS, merge_config
from graphcl.errors import ConfigError
from graphcl.losses.infonce import grace_loss
from graphcl.losses.logsumexp import blockwise_logsumexp_matmul
from graphcl.precision import bf16_enabled, current_precision, matmul_precision, mm
from graphcl.train import build_trainer


def _views(n: int = 300, d: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float32)
    return z1, z1 + 0.5 * torch.randn(n, d, generator=g)


def _loss_and_grads(fn, inputs, precision):
    inputs = [x.clone().requires_grad_(True) for x in inputs]
    with matmul_precision(precision):
        loss = fn(*inputs)
        loss.sum().backward()
    return loss.detach(), [x.grad for x in inputs]


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


GRACE_PATHS = {
    "shifted": lambda u, v: grace_loss(u, v, 0.5, method="fused"),
    "lse (wide bias)": lambda u, v: grace_loss(u, v, 0.5, method="fused",
                                               node_bias=torch.linspace(-12, 12, u.shape[0])),
    "blockwise": lambda u, v: grace_loss(u, v, 0.5, method="blockwise", block_size=64),
    "blockwise + bias": lambda u, v: grace_loss(u, v, 0.5, method="blockwise", block_size=64,
                                                node_bias=torch.linspace(0, 0.3, u.shape[0])),
}


@pytest.mark.parametrize("path", sorted(GRACE_PATHS))
def test_grace_loss_in_bf16_is_within_bf16_rounding_of_fp32(path):
    fn = GRACE_PATHS[path]
    loss32, grads32 = _loss_and_grads(fn, _views(), "fp32")
    loss16, grads16 = _loss_and_grads(fn, _views(), "bf16")
    assert loss16.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads16)
    assert loss16 != loss32                                  # the products did run in bf16
    assert abs(float(loss16 - loss32)) <= 1e-2 * abs(float(loss32))
    for g16, g32 in zip(grads16, grads32):
        assert _relative(g16, g32) < 3e-2


@pytest.mark.parametrize("keep_bytes", [0, 1 << 30], ids=["blockwise", "kept"])
def test_lightgcl_logsumexp_in_bf16_is_within_bf16_rounding_of_fp32(keep_bytes):
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(200, 24, generator=g), torch.randn(700, 24, generator=g)

    def fn(q, k):
        return blockwise_logsumexp_matmul(q, k, 0.3, block_size=128, keep_bytes=keep_bytes)

    lse32, grads32 = _loss_and_grads(fn, [q, k], "fp32")
    lse16, grads16 = _loss_and_grads(fn, [q, k], "bf16")
    assert lse16.dtype == torch.float32 and not torch.equal(lse16, lse32)
    # each score is rounded to bf16 (8 significant bits) before its exp: |Δ lse| <= 2^-8 |max score|
    assert bool(((lse16 - lse32).abs() <= 2.0 ** -7 * lse32.abs()).all())
    for g16, g32 in zip(grads16, grads32):
        assert _relative(g16, g32) < 3e-2


def test_the_fp32_default_is_bit_identical_to_no_context():
    u, v = _views()
    plain = grace_loss(u, v, 0.5, method="fused")
    with matmul_precision("fp32"):
        assert torch.equal(grace_loss(u, v, 0.5, method="fused"), plain)


def test_backward_keeps_the_precision_of_its_forward_pass():
    u, v = _views()
    _, inside = _loss_and_grads(GRACE_PATHS["shifted"], [u, v], "bf16")
    a, b = u.clone().requires_grad_(True), v.clone().requires_grad_(True)
    with matmul_precision("bf16"):
        loss = grace_loss(a, b, 0.5, method="fused")
    loss.backward()                                           # outside the context
    assert torch.equal(a.grad, inside[0]) and torch.equal(b.grad, inside[1])


def test_context_nests_restores_and_refuses_unknown_names():
    assert current_precision() == "fp32" and not bf16_enabled()
    with matmul_precision("bf16"):
        assert bf16_enabled()
        with matmul_precision("fp32"):
            assert not bf16_enabled()
        assert bf16_enabled()
    assert current_precision() == "fp32"
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, got 'fp16'"):
        with matmul_precision("fp16"):
            pass


def test_mm_widens_its_output_and_fills_out():
    a, b = torch.randn(5, 7), torch.randn(7, 3)
    assert mm(a, b, True).dtype == torch.float32
    assert mm(a.bfloat16(), b, True).dtype == torch.float32
    out = torch.empty(5, 3)
    assert mm(a, b, True, out=out) is out
    torch.testing.assert_close(out, a @ b, rtol=2e-2, atol=2e-2)
    assert torch.equal(mm(a, b, False), a @ b)


def test_config_accepts_bf16_and_refuses_other_names_before_training():
    config, _ = merge_config(TRAIN_DEFAULTS, {"precision": "bf16"}, method="grace")
    assert config["precision"] == "bf16" and TRAIN_DEFAULTS["precision"] == "fp32"
    with pytest.raises(ConfigError, match="grace: config key 'precision' must be one of fp32, bf16, got 'fp16'"):
        merge_config(TRAIN_DEFAULTS, {"precision": "fp16"}, method="grace")


def test_lightgcl_trains_in_bf16_close_to_fp32(tmp_path):
    """One epoch of LightGCL on a toy split: the trainer runs its steps in the precision asked for."""
    data = clustered_dataset(60, 80, 1500)
    cfg = {"epochs": 1, "batch_size": 512, "embedding_dim": 16, "num_layers": 1, "svd_rank": 4}
    losses = {}
    for precision in ("fp32", "bf16"):
        trainer = build_trainer("lightgcl", data, config={**cfg, "precision": precision},
                                run_dir=tmp_path / precision, verbose=False, progress=False)
        assert trainer.precision == precision
        losses[precision] = trainer._train_epoch(0)["loss"]
    assert losses["bf16"] != losses["fp32"]
    assert abs(losses["bf16"] - losses["fp32"]) <= 1e-2 * abs(losses["fp32"])


def test_bf16_operands_are_padded_to_the_shape_quantum_and_products_cut_back():
    from graphcl.precision import SHAPE_QUANTUM, bf16_operand
    x = torch.randn(70, 5)
    padded = bf16_operand(x)
    assert padded.dtype == torch.bfloat16 and tuple(padded.shape) == (2 * SHAPE_QUANTUM, SHAPE_QUANTUM)
    assert torch.equal(padded[:70, :5], x.bfloat16()) and not padded[70:].any() and not padded[:, 5:].any()
    assert bf16_operand(padded) is padded
    a, b = torch.randn(70, 5), torch.randn(5, 130)
    product = mm(padded, b, True)              # a padded operand gives its padded rows back
    assert product.shape == (2 * SHAPE_QUANTUM, 130) and not product[70:].any()
    out = torch.empty(70, 130)
    mm(bf16_operand(a), b, True, out=out)      # ... and out takes the rows it has
    torch.testing.assert_close(out, mm(a, b, True))
