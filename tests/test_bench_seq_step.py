"""Pure helpers of experiments/benchmarks/bench_seq_step.py: the FLOP counts of its bound, checked
by hand and against the products the SASRec encoder actually runs."""
from __future__ import annotations

import pytest
import torch

from tests._bench_helpers import bench_fixture

bench = bench_fixture("bench_seq_step")


def test_encoder_flops_hand_computed(bench):
    # d=1, F=1, 2 layers, one sequence of n=2: first layer 2*(8+4) + 2*2*3 = 36,
    # last layer 2*4 + 8 + 4 + 4*2 = 28
    assert bench.encoder_flops([2], 1, 1, 2) == 36 + 28
    # one layer: only the last-position layer; padding (n=0) costs nothing
    assert bench.encoder_flops([2, 0], 1, 1, 1) == 28
    assert bench.encoder_flops([3, 1], 4, 8, 2) == bench.encoder_flops([3], 4, 8, 2) + bench.encoder_flops([1], 4, 8, 2)
    with pytest.raises(ValueError):
        bench.encoder_flops([1], 0, 1, 1)


def test_cross_entropy_flops(bench):
    assert bench.cross_entropy_flops(256, 64, 12101) == 3 * 2 * 256 * 64 * 12101


def test_the_counter_sees_every_encoder_call_and_the_cross_entropy(bench):
    """The wrappers count each group call of the encoder (x3 under autograd, x1 without) and the
    CE, and are removed again."""
    from graphcl.models.seq import base
    from graphcl.nn.sasrec import SASRecEncoder
    enc = SASRecEncoder(30, 8, hidden_size=4, num_layers=2, num_heads=1, inner_size=8)
    seqs = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [0, 0, 0, 0, 0, 0, 1, 2]])
    counter = bench.FlopCounter()
    uninstall = counter.install()
    try:
        h = enc.encode(seqs)
        with_grad = counter.flops
        counter.flops = 0.0
        with torch.no_grad():
            enc.encode(seqs)
        assert counter.flops * 3 == pytest.approx(with_grad)
        assert counter.flops == pytest.approx(bench.encoder_flops([6, 2], 4, 8, 2))
        counter.flops = 0.0
        base.full_softmax_ce(h, enc.item_embedding.weight, torch.tensor([3, 4]))
        assert counter.flops == bench.cross_entropy_flops(2, 4, 30)
    finally:
        uninstall()
    assert SASRecEncoder._encode_last.__name__ == "_encode_last"
    assert base.full_softmax_ce.__name__ == "full_softmax_ce"
