"""Two-level FIML: the structured likelihood (Woodbury and the determinant lemma per
cluster, ``twolevel_missing._m2ll_structured``) against each cluster's dense covariance
matrix (``_m2ll_dense``, the definition: -2 log L = sum_j log|Sigma_j| + r_j' Sigma_j^-1 r_j
+ d_j log 2 pi, and its derivatives with respect to the block moments).

The fits themselves are checked against lavaan 0.6-14 in ``test_twolevel_extra.py``
(``tl_fiml_cfa``, ``tl_fiml_docs``); this file checks that the fast form is the same
function at other points too: random moments, between-only values missing for whole
clusters, rows with every level-1 value missing, and a singular Sigma_B (where the dense
form is used). Data: ``tests/reference/nested/demo_twolevel_mcar.csv``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asymtrust.engine.estimators import twolevel_missing as tm

REF = Path(__file__).resolve().parent / "reference" / "nested"
COLS = ["y1", "y2", "y3", "x1", "x2", "x3", "w1", "w2"]  # level 1: y1-y3, x1-x3 (within only); between only: w1, w2
Y, Z, WITHIN_ONLY = [0, 1, 2, 3, 4, 5], [6, 7], [3, 4, 5]


def _clusters(blank_between: bool = False, empty_rows: bool = False) -> tm.MissingClusters:
    d = pd.read_csv(REF / "demo_twolevel_mcar.csv")
    X = d[COLS].to_numpy(float)
    codes = d["cluster"].to_numpy()
    if blank_between:  # w1 missing in every row of 20 clusters, w2 in one row of 30 others (still constant)
        X[np.isin(codes, np.unique(codes)[:20]), 6] = np.nan
        for c in np.unique(codes)[50:80]:
            X[np.flatnonzero(codes == c)[0], 7] = np.nan
    if empty_rows:  # 15 rows with every level-1 value missing
        X[::170, :6] = np.nan
    return tm.missing_clusters(X, codes, Y, Z, COLS)


def _moments(seed: int, singular_between: bool = False):
    rng = np.random.default_rng(seed)
    p = len(COLS)
    A = rng.normal(size=(6, 6))
    sw = np.zeros((p, p))
    sw[:6, :6] = A @ A.T / 6 + np.eye(6)
    b = [0, 1, 2, 6, 7]  # the level-2 variables: y1-y3 and w1, w2
    B = rng.normal(size=(5, 5 if not singular_between else 3))
    sb = np.zeros((p, p))
    sb[np.ix_(b, b)] = B @ B.T / 5 + (0.2 * np.eye(5) if not singular_between else 0.0)
    mw = np.zeros(p)
    mw[WITHIN_ONLY] = rng.normal(size=3)
    mb = np.zeros(p)
    mb[b] = rng.normal(size=5)
    return sw, mw, sb, mb


def _same(a, b):
    assert a[0] == pytest.approx(b[0], rel=1e-12, abs=1e-9)
    for x, y in zip(a[1], b[1]):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-8 * max(1.0, np.abs(y).max()))


@pytest.mark.parametrize("blank_between,empty_rows", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("seed", [1, 2])
def test_structured_likelihood_equals_the_dense_one(blank_between, empty_rows, seed):
    mc = _clusters(blank_between, empty_rows)
    mom = _moments(seed)
    fast = tm._m2ll_structured(mc, *mom, True)
    assert fast is not None
    _same(fast, tm._m2ll_dense(mc, *mom, True))
    assert tm._m2ll_structured(mc, *mom, False)[0] == pytest.approx(fast[0], rel=1e-14)


def test_a_singular_between_covariance_uses_the_dense_form():
    mc = _clusters(blank_between=True)
    mom = _moments(3, singular_between=True)
    assert tm._m2ll_structured(mc, *mom, True) is None
    _same(tm.m2loglik_missing(mc, *mom, need_grad=True), tm._m2ll_dense(mc, *mom, True))


def test_a_within_covariance_that_is_not_positive_definite_is_infinite():
    mc = _clusters()
    sw, mw, sb, mb = _moments(4)
    sw[:6, :6] -= 5.0 * np.eye(6)
    assert tm._m2ll_structured(mc, sw, mw, sb, mb, True) is None
    assert tm.m2loglik_missing(mc, sw, mw, sb, mb, need_grad=True)[0] == np.inf
