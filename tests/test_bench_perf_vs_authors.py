"""Pure helpers of experiments/benchmarks/bench_perf_vs_authors.py (no reference checkout needed)."""
from __future__ import annotations

import pytest
import torch

from tests._bench_helpers import bench_fixture

bench = bench_fixture("bench_perf_vs_authors")


def test_grace_flops_hand_computed(bench):
    # n=2, h=p=1, nnz(X)=3, E=2, no drops: loss 6*2*4 = 48; per view: dense 3*2*2*(2+1+1) = 48,
    # first layer 2*2*3*2 = 24, propagation 2*2*(2+2)*3 = 48 -> 120; total 48 + 2*120
    assert bench.grace_step_flops(2, 3, 2, 1, 1, (0.0, 0.0), (0.0, 0.0)) == 288
    # view 1 with p_f = p_e = 0.5: first layer 12, propagation 2*2*(1+2)*3 = 36 -> 96
    assert bench.grace_step_flops(2, 3, 2, 1, 1, (0.5, 0.0), (0.5, 0.0)) == 48 + 96 + 120


def test_grace_flops_cora_scale(bench):
    # Cora at the authors' width: the loss term 7 * 2 * 2708^2 * 128 dominates
    f = bench.grace_step_flops(2708, 49216, 10556, 128, 128, (0.3, 0.4), (0.2, 0.4))
    assert 7 * 2 * 2708 ** 2 * 128 < f < 1.2 * 7 * 2 * 2708 ** 2 * 128


def test_lightgcl_flops_hand_computed(bench):
    # U=3, I=4, B'_u=2, B'_i=1, d=2, R=5, L=1, q=1: scores 3*2*2*(6+4) = 120, main view
    # 2*2*2*5*2 = 80, SVD view 3*2*2*7*1*2 = 168
    assert bench.lightgcl_step_flops(3, 4, 2, 1, 2, 5, 1, 1) == 368


def test_lightgcl_score_term_matches_autograd_count(bench):
    """The score term (forward + both operand gradients) is what autograd executes for
    logsumexp(q k^T) with both operands trainable."""
    from torch.utils.flop_counter import FlopCounterMode
    b, u, d = 5, 7, 3
    q = torch.randn(b, d, requires_grad=True)
    k = torch.randn(u, d, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        torch.logsumexp(q @ k.T, 1).sum().backward()
    assert counter.get_total_flops() == bench.lightgcl_step_flops(u, 1, b, 0, d, 0, 0, 0)


def test_bounds(bench):
    assert bench.bound_seconds(2e9, 100.0) == pytest.approx(0.02)
    assert bench.lightgcn_bound_seconds(0.01, 3) == pytest.approx(0.06)
    with pytest.raises(ValueError, match="rate"):
        bench.bound_seconds(1e9, 0.0)
    with pytest.raises(ValueError):
        bench.lightgcn_bound_seconds(0.0, 3)
    with pytest.raises(ValueError):
        bench.grace_step_flops(0, 1, 1, 1, 1, (0, 0), (0, 0))


def test_parse_eval_rows(bench):
    out = ("some log line\n[[1, 'materialized', 8.3, 1.0, 161.3, '97.7', 1.6, 5.18], "
           "[1, 'blockwise', 3.3, 2.51, 0.7, '97.7', 1.6, 2.06]]\n# a table\n")
    rows = bench.parse_eval_rows(out)
    assert [r[1] for r in rows] == ["materialized", "blockwise"]
    assert rows[1][2] == 3.3 and rows[1][5] == "97.7"
    with pytest.raises(ValueError, match="no result rows"):
        bench.parse_eval_rows("nothing here\n")


def test_checkout_commit_falls_back_to_readme(bench, tmp_path):
    # no .git in the folder, no mirror: the commit recorded in experiments/parity/README.md
    assert bench.checkout_commit(tmp_path, None, "HKUDS/LightGCL") == "5590453ad86782f58017e58d0b698d7f32175be3"
    assert bench.checkout_commit(tmp_path, None, "nobody/nothing") == "unknown"


def test_bf16_row_ratios_and_bounds(bench):
    end = {"info": {"bf16_rate": 200.0, "flops": 4e9}, "peak_rss_mib": 300.0}
    row = bench.bf16_row("grace", 1, {"ours": 0.3, "ours-bf16": 0.2}, end)
    assert row[:5] == ["grace", 1, 0.3, 0.2, pytest.approx(1.5)]
    assert row[6:] == [200.0, pytest.approx(0.02), pytest.approx(10.0)]  # 4 GFLOP at 200 GFLOP/s
    lightgcn = {"info": {"bf16_rate": 200.0, "layers": 3}, "spmm_s": 0.01, "peak_rss_mib": 1.0}
    row = bench.bf16_row("lightgcn", 2, {"ours": 0.2, "ours-bf16": 0.2}, lightgcn)
    assert row[7] == pytest.approx(bench.lightgcn_bound_seconds(0.01, 3)) and row[4] == pytest.approx(1.0)


def test_bf16_sides_are_registered_for_every_timed_workload(bench):
    for workload in ("grace", "lightgcl", "lightgcn"):
        assert f"{workload}:ours-bf16" in bench.BUILDERS
