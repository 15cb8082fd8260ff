"""Thin LAPACK calls for the small symmetric matrices of an SEM fit.

At 30-90 rows the SciPy/NumPy wrappers (argument checks, dispatch, ``np.tril``)
cost more than the arithmetic, so the optimiser, the objective and the
information inverse call ``dpotrf``/``dpotri``/``dpotrs`` directly and mirror
triangles with a cached boolean mask. One place for these so the tricks are not
repeated.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf as potrf, dpotri as potri, dpotrs as potrs

__all__ = ["potrf", "potri", "potrs", "sym_from_lower", "chol_inverse"]

_LOWER: dict[int, np.ndarray] = {}


def _lower_mask(p: int) -> np.ndarray:
    m = _LOWER.get(p)
    if m is None:
        m = _LOWER[p] = np.tri(p, dtype=bool)
    return m


def sym_from_lower(M: np.ndarray) -> np.ndarray:
    """The symmetric matrix whose lower triangle (diagonal included) is that of ``M``."""
    return np.where(_lower_mask(len(M)), M, M.T)


def chol_inverse(M: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(M^-1, L)`` for a symmetric positive-definite ``M`` (``L`` its lower Cholesky
    factor, upper triangle not cleaned), or None when ``M`` is not positive definite."""
    L, info = potrf(M, lower=True, clean=False)
    if info != 0:
        return None
    inv, info = potri(L, lower=True)
    if info != 0:
        return None
    return sym_from_lower(inv), L
