"""Stand-in for the ``munkres`` package (not installed here), for gayanku/SCGC and gayanku/PAMC.

Their ``evaluation.py`` imports ``Munkres`` and ``print_matrix`` and calls only
``Munkres().compute(cost)``: the minimum-cost assignment of a square cost matrix (a list of
lists), as a list of ``(row, column)`` pairs, one per row in row order. Here it is
``scipy.optimize.linear_sum_assignment`` (the same optimum; on ties the chosen assignment may
differ, which can change the F1 the reference prints but not its accuracy).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["Munkres", "print_matrix"]


class Munkres:
    """``compute(cost)``: the minimum-cost perfect matching of a square ``cost`` matrix."""

    def compute(self, cost_matrix: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
        cost = np.asarray(cost_matrix, dtype=float)
        if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
            raise ValueError(f"the munkres stand-in takes a square cost matrix, got shape {cost.shape}")
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols)]


def print_matrix(matrix: Sequence[Sequence[Any]], msg: str | None = None) -> None:
    """Print ``matrix`` row by row (after ``msg``)."""
    if msg:
        print(msg)
    for row in matrix:
        print("[" + ", ".join(str(v) for v in row) + "]")
