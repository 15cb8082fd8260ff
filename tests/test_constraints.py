"""Nonlinear equality and inequality constraints against lavaan 0.6-14 (issue 14, item 4).

References: ``tests/reference/lavaan/constraints/constraints.json`` (``constraints_cases.R``):
``sem(model, data)`` with ``a == b^2``, ``a/b == c/d``, an active and an inactive inequality,
two chained inequalities (``b1 < b2; b2 < b3``) and an inequality with a nonlinear equality.
lavaan estimates under them with its augmented Lagrangian (nlminb.constr), takes the
standard errors from the information bordered by the active constraints, and counts npar
as the free parameters minus the equality constraints (an inequality never changes npar or
df). The harness case ``social_constraints`` (two inequalities, one active) is pinned in
``tests/test_lavaan_check.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import asymtrust

REF = json.loads((Path(__file__).parent / "reference" / "lavaan" / "constraints" / "constraints.json").read_text())
CASES = sorted(k for k in REF if k != "lavaan_version")
DATA = {"hs": "hs1939", "pd": "poldem"}


def _data(name):
    return asymtrust.load_dataset(DATA[name])


@pytest.mark.parametrize("name", CASES)
def test_constrained_fit_matches_lavaan(name):
    case = REF[name]
    res = asymtrust.fit(case["model"], _data(case["data"]))
    assert res.converged and case["converged"]
    fm = res.fit_indices
    assert int(fm["npar"]) == case["fit"]["npar"] and int(fm["df"]) == case["fit"]["df"]
    assert abs(fm["chisq"] - case["fit"]["chisq"]) <= 1e-3 * max(1.0, case["fit"]["chisq"])
    assert abs(fm["logl"] - case["fit"]["logl"]) <= 1e-3 * abs(case["fit"]["logl"])
    est = res.estimates
    for r in case["est"]:
        m = est[(est["lhs"] == r["lhs"]) & (est["op"] == r["op"]) & (est["rhs"] == r["rhs"])]
        assert len(m) == 1, r
        got, se = float(m["est"].iloc[0]), float(m["se"].iloc[0])
        assert abs(got - r["est"]) <= max(2e-3, 1e-3 * abs(r["est"])), (r, got)
        if r["se"] == "NA":  # pinned by an active constraint: lavaan reports no SE
            assert np.isnan(se), (r, se)
        else:
            assert abs(se - r["se"]) <= max(2e-3, 1e-3 * abs(r["se"])), (r, se)


def test_active_inequality_holds_with_equality():
    # lavaan: a > 0.7 is active (the unconstrained a is 0.55): a = 0.7 at the solution
    res = asymtrust.fit(REF["hs_ineq_active"]["model"], _data("hs"))
    a = res.estimates[(res.estimates["op"] == "=~") & (res.estimates["rhs"] == "x2")]["est"].iloc[0]
    assert a == pytest.approx(0.7, abs=1e-6)


def test_impossible_inequalities_are_reported():
    # b1 > 1 and b1 < 0 cannot both hold: the solver fails and the fit says so
    model = "y1 ~ b1*x1 + x2\nb1 > 1\nb1 < 0"
    res = asymtrust.fit(model, _data("pd"))
    assert not res.converged
    assert any("did not converge" in w for w in res.warnings)
