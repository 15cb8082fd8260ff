"""The optimiser's shortcuts change how fast a fit gets to the optimum, never the optimum.

Each test compares a shortcut against the plain computation it replaces:
- the variance step against plain Fisher scoring from the same lavaan starting values;
- the batched marker-loading starts against the one-indicator-at-a-time formula;
- the cached rank-two factor plan against the Jacobian taken by finite differences.

The lavaan reference tests (``test_lavaan_reference.py``) check the optimum itself.
Iteration counts are deterministic for given data, so the last test guards against a
change that silently brings back the slow start (issue 7's speed target depends on it).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import asymtrust
from asymtrust.engine import estimate
from r_mask import apply_r_mask

HS = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"


@pytest.fixture(scope="module")
def bcf():
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))


@pytest.fixture(scope="module")
def hs():
    return asymtrust.load_dataset("hs1939")


class _Counter:
    """Counts objective evaluations and information matrices during one fit."""

    def __init__(self, monkeypatch):
        self.evals = 0
        self.infos = 0
        evaluate = estimate.Objective.evaluate
        information = estimate.Objective.expected_information

        def ev(obj, *a, **k):
            self.evals += 1
            return evaluate(obj, *a, **k)

        def info(obj, *a, **k):
            self.infos += 1
            return information(obj, *a, **k)

        monkeypatch.setattr(estimate.Objective, "evaluate", ev)
        monkeypatch.setattr(estimate.Objective, "expected_information", info)


def _without_variance_step(monkeypatch):
    monkeypatch.setattr(estimate, "_variance_step", lambda obj, rep, *state: state)


@pytest.mark.parametrize("case", ["fig1", "hs", "hs_mg_equal", "hs_fiml"])
def test_variance_step_reaches_the_same_optimum(case, bcf, hs, monkeypatch):
    if case == "fig1":
        args, kw = ("fig1", bcf), {}
    elif case == "hs":
        args, kw = (HS, hs), {}
    elif case == "hs_mg_equal":
        args, kw = (HS, hs), {"group": "school", "group_equal": ["loadings", "intercepts"]}
    else:
        x = hs[[f"x{i}" for i in range(1, 10)]].copy()
        x = x.mask(np.random.default_rng(3).random(x.shape) < 0.08)
        args, kw = (HS, x), {"missing": "fiml"}
    with_step = asymtrust.fit(*args, **kw)
    with monkeypatch.context() as m:
        _without_variance_step(m)
        plain = asymtrust.fit(*args, **kw)
    assert with_step.converged and plain.converged
    np.testing.assert_allclose(with_step.theta, plain.theta, rtol=1e-6, atol=1e-7)
    assert with_step.fit_indices["chisq"] == pytest.approx(plain.fit_indices["chisq"], rel=1e-9)


START_REF = json.loads((Path(__file__).parent / "reference" / "lavaan" / "start" / "start_cases.json").read_text())


def _case_data(case):
    name = case["data_name"].removesuffix(".csv")
    data = asymtrust.load_dataset({"hs1939": "hs1939", "poldem": "poldem"}.get(name, name))
    if case.get("recode_reverse"):
        data = asymtrust.recode_reverse(data)
    mask = case.get("mask")
    if mask:
        data = apply_r_mask(data, mask["columns"], mask["indices"])
    return data


@pytest.mark.parametrize("case", START_REF["cases"], ids=[c["case"] for c in START_REF["cases"]])
def test_optimiser_starts_from_lavaans_starting_values(case, monkeypatch):
    """The vector handed to the optimiser is lavaan's ``parTable(fit)$start`` (lavaan
    0.6-14, start = "default"; tests/reference/lavaan/start/start_cases.R): the variance step
    moves the optimiser's first iterate, not the starting values."""
    seen = []
    optimise = estimate.optimise

    def spy(obj, rep, theta_start, **kw):
        seen.append(np.array(theta_start, float))
        return optimise(obj, rep, theta_start, **kw)

    monkeypatch.setattr(sys.modules["asymtrust.engine.fit"], "optimise", spy)
    res = asymtrust.fit(case["model"], _case_data(case), **(case["fit_args"] or {}))  # R writes list() as []
    ref = {(r["lhs"], r["op"], r["rhs"], r["group"]): r["start"] for r in case["start"] if r["free"] > 0}
    tab = res.partable.table
    free = tab[tab["free"] > 0].sort_values("free")
    assert len(free) == len(ref)
    got = seen[0]  # the first call is the model's own fit (a baseline fit may follow)
    # under FIML the starts come from the EM estimates of the saturated moments; lavaan's
    # EM stops at a looser tolerance (1e-5 against asymtrust's 1e-8), hence 1e-6
    rel = 1e-6 if (case["fit_args"] or {}).get("missing") == "fiml" else 1e-9
    for r in free.itertuples(index=False):
        want = ref[(r.lhs, r.op, r.rhs, int(r.group))]
        assert got[int(r.free) - 1] == pytest.approx(want, rel=rel, abs=1e-12), (r.lhs, r.op, r.rhs, r.group)


def test_fig1_converges_in_few_scoring_steps(bcf, monkeypatch):
    """fig1 on the bundled data: 15 iterations and 18 evaluations without the variance
    step (measured when it was introduced), at most 11 and 13 with it."""
    c = _Counter(monkeypatch)
    res = asymtrust.fit("fig1", bcf)
    assert res.converged
    assert res.iterations <= 11
    assert c.evals <= 13
    assert c.infos <= 6  # scoring refreshes plus one for the standard errors


def test_batched_fabin3_equals_one_indicator_at_a_time():
    """The batched FABIN3 solve gives each indicator's instrumental-variable loading
    (lav_cfa_1fac_fabin: the other non-marker indicators as instruments)."""
    rng = np.random.default_rng(5)
    L = rng.uniform(0.5, 1.5, size=6)
    S = np.outer(L, L) + np.diag(rng.uniform(0.3, 0.8, size=6))
    S = np.cov(rng.multivariate_normal(np.zeros(6), S, size=400).T, bias=True)
    got = estimate._factor_loadings(S)
    assert got[0] == 1.0
    for i in range(1, 6):
        R = [j for j in range(1, 6) if j != i]
        a = np.linalg.solve(S[np.ix_(R, R)], S[R, 0])
        assert got[i] == pytest.approx((S[i, R] @ a) / (S[0, R] @ a), rel=1e-12)


@pytest.mark.parametrize("kw", [{}, {"group": "school"}, {"meanstructure": True}])
def test_factor_plan_matches_finite_differences(hs, kw):
    """Delta from the cached factor plan (zero columns for means and for other groups'
    parameters included) equals the numerical derivative of the implied moments."""
    res = asymtrust.fit(HS, hs, **kw)
    model, theta = res.model, res.theta
    analytic = model.delta(model.implied(theta))
    h = 1e-6
    for k in range(model.n_free):
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        iu, idn = model.implied(up), model.implied(down)
        for g, (dS, dmu) in enumerate(analytic):
            np.testing.assert_allclose(dS[k], (iu[g].sigma - idn[g].sigma) / (2 * h), atol=1e-6)
            np.testing.assert_allclose(dmu[k], (iu[g].mu - idn[g].mu) / (2 * h), atol=1e-6)
