"""Shared by the EFA and ESEM tests: factors are identified up to their order and sign, so
a solution is compared with lavaan's after aligning its columns."""
from __future__ import annotations

import itertools

import numpy as np


def align(L, Lr):
    """Column permutation and signs of L that best match Lr (the smallest largest difference)."""
    best = None
    for perm in itertools.permutations(range(L.shape[1])):
        Lp = L[:, perm]
        s = np.where(np.sum(Lp * Lr, axis=0) < 0, -1.0, 1.0)
        d = np.abs(Lp * s - Lr).max()
        if best is None or d < best[0]:
            best = (d, list(perm), s)
    return best[1], best[2]
