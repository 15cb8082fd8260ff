"""The semi-analytic observed information equals the numerical Hessian of f.

The oracle here is lavaan's own method (central differences of the analytic gradient);
the lavaan reference tests check the resulting SEs, this test checks the matrix itself,
for complete data, FIML and a multi-group model with equality constraints.
"""
from __future__ import annotations

import numpy as np
import pytest

import asymtrust

HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def numeric_hessian(obj, theta, h=1e-5):
    K = len(theta)
    H = np.empty((K, K))
    for k in range(K):
        e = np.zeros(K)
        e[k] = h
        H[:, k] = (obj.evaluate(theta + e)[1] - obj.evaluate(theta - e)[1]) / (2 * h)
    return (H + H.T) / 2


@pytest.mark.parametrize("kind", ["complete", "fiml", "multigroup"])
def test_observed_information_matches_numerical_hessian(kind):
    hs = asymtrust.load_dataset("hs1939")
    if kind == "fiml":
        hs = hs.copy()
        rng = np.random.default_rng(1)
        for c in ("x2", "x5", "x8"):
            hs.loc[rng.random(len(hs)) < 0.1, c] = np.nan
        res = asymtrust.fit(HS, hs, missing="fiml")
    elif kind == "multigroup":
        res = asymtrust.fit(HS, hs, group="school", group_equal=("loadings",))
    else:
        res = asymtrust.fit(HS, hs)
    analytic = res.objective.observed_information(res.theta)
    numeric = numeric_hessian(res.objective, res.theta)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
