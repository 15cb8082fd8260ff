"""Bootstrap of fits with ordered items (issue 15): ``effects(bootstrap=)`` and
``fit(..., ordered=, se="bootstrap")``.

A replicate recomputes the first stage (thresholds, polychoric correlations, NACOV,
weights) on its rows and re-estimates with the fit's ordinal family, as lavaan 0.6-14's
bootstrap. Reference: ``tests/reference/effects/ordinal_bootstrap.R``
(``ordinal_bootstrap.json``): psych's bfi, 500 rows, three factors of three ordered items,
``ind := a*b``. The checks:

* draw for draw: R's first 5 resamples (``sample.int``), fed to ``bootstrap_draws``
  through its replicate code path, give lavaan's estimates of ``sem(model, d[idx, ],
  ordered = TRUE)`` (thresholds, loadings, paths, ``ind``; 2e-3, about 1e-6 in fact);
* statistically: ``fit(estimator="DWLS", se="bootstrap", bootstrap=300)`` against lavaan's
  ``se = "bootstrap"`` with 1000 replicates (independent random streams): every bootstrap
  SE (free parameters and ``ind``) within 4 Monte Carlo SDs of an SD,
  ``se * sqrt((kurtosis - 1) / 4 * (1/300 + 1/992))`` (992 replicates of lavaan's 1000 did
  not fail; for ``ind`` the SD of ``a*b`` over them, as lavaan 0.6-14's own SE of a ``:=``
  row is NA when a replicate failed);
* ``effects(bootstrap=)`` on the WLSMV fit draws the same replicates as ``se="bootstrap"``
  on the DWLS fit (same estimates): the same bootstrap SE of ``ind``;
* a resample in which an item lacks a category is a failed replicate (lavaan fails it);
* refitting the fit's own rows returns its estimates, for the theta parameterization,
  two groups, covariates (conditional.x) and pairwise deletion too;
* lavaan's refusal of ``se="bootstrap"`` with WLSMV ("use (D)WLS estimator for bootstrap").
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.effects import effects
from asymtrust.engine import resample
from asymtrust.engine.refit import refit
from asymtrust.exceptions import OptionError

ROOT = Path(__file__).parents[1]
REF = ROOT / "tests" / "reference" / "effects" / "ordinal_bootstrap.json"
CSV = ROOT / "tests" / "reference" / "ordinal" / "bfi.csv"
B_PY = 300
SEED = 15


@functools.cache
def ref() -> dict:
    r = json.loads(REF.read_text())
    assert hashlib.md5(CSV.read_bytes()).hexdigest() == r["data_md5"], "bfi.csv changed: rerun ordinal_bootstrap.R"
    return r


@functools.cache
def data() -> pd.DataFrame:
    d = pd.read_csv(CSV)
    items = ref()["items"]
    return d[items].dropna().iloc[:ref()["nobs"]].reset_index(drop=True)


@functools.cache
def fitted(estimator: str = "WLSMV"):
    return asymtrust.fit(ref()["model"], data(), ordered=True, estimator=estimator)


def _free_values(res, theta: np.ndarray) -> dict:
    """(lhs, op, rhs) -> value of the free rows at ``theta``, with ind = a*b."""
    tab = res.partable.table
    out = {(r.lhs, r.op, r.rhs): float(theta[int(r.free) - 1]) for r in tab.itertuples() if int(r.free) > 0}
    out[("ind", ":=", "a*b")] = out[("E", "~", "A")] * out[("C", "~", "E")]
    return out


class _Rows:
    """A stand-in generator whose ``integers(0, n, n)`` returns given (0-based) rows."""

    def __init__(self, idx: np.ndarray):
        self.idx = idx

    def integers(self, lo, hi, size):
        assert (lo, hi, size) == (0, len(self.idx), len(self.idx))
        return self.idx


def _draws_from(res, idx_list, monkeypatch):
    """bootstrap_draws on given resamples: run_replicates feeds each replicate its rows."""
    def fixed(func, n, **_):
        return [func(_Rows(np.asarray(idx))) for idx in idx_list[:n]]

    monkeypatch.setattr(resample, "run_replicates", fixed)
    return resample.bootstrap_draws(res, len(idx_list), seed=0, data=data())


def test_full_sample_estimates_match_lavaan():
    r = ref()
    ours = _free_values(fitted(), fitted().theta)
    e = r["estimates"]
    n = 0
    for lhs, op, rhs, est in zip(e["lhs"], e["op"], e["rhs"], e["est"]):
        key = ("ind", ":=", "a*b") if op == ":=" else (lhs, op, rhs)
        if key in ours:
            assert ours[key] == pytest.approx(est, abs=2e-3), key
            n += 1
    assert n == len(ours)


def test_replicates_match_lavaan_draw_for_draw(monkeypatch):
    r = ref()
    res = fitted()
    draws = _draws_from(res, [np.asarray(d["idx"]) - 1 for d in r["draws"]], monkeypatch)
    assert draws.n_failed == 0
    worst = 0.0
    for theta, d in zip(draws.theta, r["draws"]):
        assert d["converged"]
        ours = _free_values(res, theta)
        keys = [("ind", ":=", "a*b") if op == ":=" else (lhs, op, rhs)
                for lhs, op, rhs in zip(d["lhs"], d["op"], d["rhs"])]
        assert set(keys) == set(ours)
        diff = max(abs(ours[k] - v) for k, v in zip(keys, d["est"]))
        worst = max(worst, diff)
    assert worst < 2e-3, worst


def test_resample_without_a_category_is_a_failed_replicate(monkeypatch):
    res = fitted()
    d = data()
    keep = np.flatnonzero(d["A2"].to_numpy() != d["A2"].min())  # category 1 of A2 never drawn
    rng = np.random.default_rng(3)
    idx = [rng.integers(0, len(d), len(d)), keep[rng.integers(0, keep.size, len(d))]]
    draws = _draws_from(res, idx, monkeypatch)
    assert draws.converged.tolist() == [True, False]
    assert draws.n_failed == 1 and np.isnan(draws.theta[1]).all()


@functools.cache
def boot_fit():
    return asymtrust.fit(ref()["model"], data(), ordered=True, estimator="DWLS", se="bootstrap",
                         bootstrap=B_PY, seed=SEED)


def test_bootstrap_se_within_monte_carlo_error():
    r = ref()
    b = r["boot"]
    est = boot_fit().estimates
    assert est.attrs["bootstrap"]["B"] == B_PY
    key = {(a, o, c): i for i, (a, o, c) in enumerate(zip(est["lhs"], est["op"], est["rhs"]))}
    n = 0
    worst = 0.0
    rows = [(lhs, op, rhs, se, k) for lhs, op, rhs, se, k in zip(b["lhs"], b["op"], b["rhs"], b["se"], b["kurtosis"])
            if op != ":="]
    rows.append(("ind", ":=", "a*b", r["boot_se_ind"], r["boot_kurtosis_ind"]))  # lavaan's own := SE is NA
    for lhs, op, rhs, se, k in rows:
        if k is None or not se:
            continue
        i = key[(lhs, op, rhs)]
        mc = se * np.sqrt((k - 1) / 4 * (1 / B_PY + 1 / r["n_ok"]))
        z = abs(est["se"].iloc[i] - se) / mc
        worst = max(worst, z)
        n += 1
    assert n == int((est["free"].fillna(0) > 0).sum()) + 1  # every free parameter and ind
    assert worst < 4.0, worst


def test_effects_bootstrap_draws_the_same_replicates():
    est = boot_fit().estimates
    se_ind = float(est.loc[est["op"] == ":=", "se"].iloc[0])
    eff = effects(fitted(), bootstrap=B_PY, seed=SEED, data=data(), ci_method="percentile")
    row = eff[eff["effect"] == "indirect"].iloc[0]
    assert row["boot_se"] == pytest.approx(se_ind, rel=1e-6)
    assert int(row["n_boot"]) + int(row["n_boot_failed"]) == B_PY


def test_bootstrap_needs_the_data():
    with pytest.raises(asymtrust.exceptions.DataError, match="data="):
        resample.bootstrap_draws(fitted(), 2, seed=1)


@pytest.mark.parametrize("case", ["theta", "groups", "covariate", "pairwise"])
def test_refit_of_own_rows_returns_the_estimates(case):
    d = data().copy()
    model = ref()["model"]
    kw: dict = {"ordered": True}
    if case == "theta":
        kw["parameterization"] = "theta"
    elif case == "groups":
        d["g"] = np.where(np.arange(len(d)) % 2 == 0, "x", "y")
        kw["group"] = "g"
        model = "A =~ A2 + A3 + A5\nE =~ E3 + E4 + E5\nE ~ A"
        d = d.assign(A2=d["A2"].clip(2), A5=d["A5"].clip(2), E3=d["E3"].clip(2))  # every category in both groups
    elif case == "pairwise":  # rows with missing answers kept (lavaan's pairwise deletion)
        d = pd.read_csv(CSV)[ref()["items"]].iloc[:600]
        assert d.isna().any(axis=1).sum() > 10
        kw["missing"] = "pairwise"
    else:
        d["x"] = d["C1"] + 0.1 * np.arange(len(d)) % 7
        model = "A =~ A2 + A3 + A5\nE =~ E3 + E4 + E5\nE ~ A + x\nA ~ x"
        kw["ordered"] = ["A2", "A3", "A5", "E3", "E4", "E5"]
    res = asymtrust.fit(model, d, **kw)
    assert res.converged
    r = refit(res, d, start=np.asarray(res.theta) + 0.02)
    assert r.converged
    assert np.max(np.abs(r.theta - res.theta)) < 1e-6


def test_wlsmv_bootstrap_se_is_refused_as_in_lavaan():
    with pytest.raises(OptionError, match="estimator='DWLS'"):
        asymtrust.fit(ref()["model"], data(), ordered=True, se="bootstrap", bootstrap=10)
