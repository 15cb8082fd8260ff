"""Ordered items with exogenous covariates: lavaan's conditional.x (issue 15).

References (``tests/reference/ordinal/conditional_x_cases.R``, lavaan 0.6-14): psych's bfi,
the A and C items with age and gender as fixed-x covariates, WLSMV -- a two-factor MIMIC
model (listwise), the same with a direct effect of gender on C1 (delta and theta), the model
on age in two groups (gender: configural, and equal thresholds and loadings in the delta and
theta parameterizations), and the MIMIC model with ``missing="pairwise"`` where lavaan deletes
the 70 rows without an age. Mixed continuous and
ordered indicators with one covariate and pairwise deletion are lavaan's harness case
``analyse_categorical`` (``tests/test_lavaan_check.py``).

Measured: first stage (thresholds, slopes, residual polychorics) within 2e-8, NACOV within
5e-8 relative; estimates within 8e-5, SEs within 1.6e-4, standardized within 3e-5, every fit
measure lavaan reports within 1e-6 relative (the cat-ML robust indices NA, as lavaan's with
conditional.x).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.engine.ordinal_cx import conditional_stage
from asymtrust.exceptions import DataError, OptionError

REF = Path(__file__).parent / "reference" / "ordinal"
ITEMS = [f"A{i}" for i in range(1, 6)] + [f"C{i}" for i in range(1, 6)]


def _load(name: str) -> dict:
    return json.loads((REF / name).read_text(encoding="utf-8"))


def _data(ref: dict) -> pd.DataFrame:
    d = pd.read_csv(REF / "bfi.csv")[ITEMS]
    return d.assign(age=pd.to_numeric(pd.Series(ref["age"], dtype=object), errors="coerce").to_numpy(float),
                    gender=np.asarray(ref["gender"], float))


def _fit(name: str):
    ref = _load(name)
    return ref, asymtrust.fit(ref["model"], _data(ref), ordered=ref["ordered"], missing=ref["missing"])


@pytest.fixture(scope="module")
def mimic():
    return _fit("bfi_cx_mimic.json")


def _estimates_match(res, ref):
    want = pd.DataFrame(ref["estimates"])
    got = res.estimates
    assert len(got) == len(want)
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    worst = {}
    for col in ("est", "se", "std_all"):
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        worst[col] = float(np.max(np.abs(g - w)))
    assert worst["est"] < 2e-4 and worst["se"] < 2e-3 and worst["std_all"] < 2e-4, worst


def _fit_measures_match(res, ref):
    fi = res.fit_indices
    seen = 0
    for key, want in ref["fit"].items():
        name = key.replace(".", "_")
        if name not in fi.index or key in ("rmsea.ci.level", "rmsea.close.h0", "rmsea.notclose.h0"):
            continue
        got = float(fi[name])
        seen += 1
        if want is None:  # NA in lavaan: the cat-ML robust indices, likelihood-based measures
            assert np.isnan(got), key
        elif key.startswith(("chisq", "baseline.chisq", "fmin", "cn_")):
            assert abs(got / want - 1) < 1e-3, (key, got, want)
        else:
            assert abs(got - want) < 2e-3, (key, got, want)
    assert seen >= 50
    assert np.isnan(fi["cfi_robust"]) and np.isnan(fi["rmsea_robust"])  # lavaan: no cat-ML with conditional.x


def test_first_stage_given_covariates_matches_lavaan():
    ref = _load("bfi_cx_mimic.json")
    d = _data(ref)[ITEMS + ["age", "gender"]].dropna()
    assert len(d) == ref["nobs"]
    fs = conditional_stage(d[ITEMS].to_numpy(float), d[["age", "gender"]].to_numpy(float), ITEMS,
                           np.zeros(len(ITEMS), bool), ["age", "gender"])
    names = fs.th_names + [f"{v}~{x}" for x in ("age", "gender") for v in ITEMS]
    assert names == ref["wls_names"][: len(names)]  # thresholds, then vec(SLOPES): per covariate every item
    np.testing.assert_allclose(fs.wls_obs, ref["wls_obs"], atol=1e-6)  # measured 1.8e-8
    np.testing.assert_allclose(np.diag(fs.nacov), ref["nacov_diag"], rtol=1e-5)  # measured 4e-8
    np.testing.assert_allclose(fs.nacov[:, 0], ref["nacov_col1"], atol=1e-5)


def test_mimic_with_covariates_matches_lavaan(mimic):
    ref, res = mimic
    assert res.converged and res.nobs == [ref["nobs"]]
    _estimates_match(res, ref)
    _fit_measures_match(res, ref)
    est = res.estimates
    # the covariates' fixed-x rows hold their sample moments (divisor n - 1), as lavaan's
    row = est[(est["lhs"] == "age") & (est["op"] == "~~") & (est["rhs"] == "age")]
    assert float(row["est"].iloc[0]) == pytest.approx(122.173092, abs=1e-5)
    assert res.options["fixed_x"] is True  # lavaan: conditional.x implies fixed.x
    # ordered=True: every observed variable but the covariates (lavaan's ov.nox)
    again = asymtrust.fit(ref["model"], _data(ref), ordered=True)
    assert again.options["ordered"] == ITEMS
    assert float(again.fit_indices["chisq"]) == pytest.approx(ref["fit"]["chisq"], rel=1e-6)
    with pytest.raises(OptionError, match="exogenous covariates .*conditional.x"):
        res.residuals()  # residual SEs: lavaan computes none (the residuals: tests/test_diagnostics_cx.py)


def test_direct_effect_of_a_covariate_on_an_item_matches_lavaan():
    ref, res = _fit("bfi_cx_direct.json")
    _estimates_match(res, ref)
    _fit_measures_match(res, ref)
    est = res.estimates
    direct = est[(est["lhs"] == "C1") & (est["op"] == "~") & (est["rhs"] == "gender")]
    assert len(direct) == 1 and float(direct["se"].iloc[0]) > 0


def test_theta_parameterization_with_covariates_matches_lavaan():
    ref = _load("bfi_cx_direct_theta.json")
    res = asymtrust.fit(ref["model"], _data(ref), ordered=ref["ordered"], parameterization="theta")
    _estimates_match(res, ref)  # measured: est 3.5e-5, SE 3.9e-5, std_all 2.1e-5
    _fit_measures_match(res, ref)
    est = res.estimates  # the scale rows: 1/sqrt of the residual variance of A1* given the covariates
    row = est[(est["lhs"] == "A1") & (est["op"] == "~*~")]
    want = pd.DataFrame(ref["estimates"])
    assert float(row["est"].iloc[0]) == pytest.approx(
        float(want[(want["lhs"] == "A1") & (want["op"] == "~*~")]["est"].iloc[0]), abs=1e-4)


@pytest.mark.parametrize("name", ["bfi_cx_groups.json", "bfi_cx_groups_metric.json",
                                  "bfi_cx_groups_metric_theta.json"])
def test_two_groups_with_a_covariate_match_lavaan(name):
    # configural; equal thresholds and loadings (delta: lavaan frees group 2's scale factors,
    # theta: its residual variances); measured est 7e-5, SE 1.5e-4, std_all 3e-5 at most
    ref = _load(name)
    res = asymtrust.fit(ref["model"], _data(ref), ordered=ref["ordered"], group="gender",
                        group_equal=list(ref["group_equal"] or []), parameterization=ref["parameterization"])
    assert res.nobs == ref["nobs"]
    want = pd.DataFrame(ref["estimates"])
    got = res.estimates.merge(want, on=["lhs", "op", "rhs", "group"], suffixes=("", "_ref"))
    assert len(got) == len(want) == len(res.estimates)
    for col, tol in (("est", 5e-4), ("se", 2e-3), ("std_all", 2e-4)):
        assert np.max(np.abs(got[col] - got[col + "_ref"])) < tol, col
    _fit_measures_match(res, ref)


def test_pairwise_deletes_rows_with_a_missing_covariate_as_lavaan():
    ref, res = _fit("bfi_cx_pairwise.json")
    assert res.nobs == [ref["nobs"]] == [2730]
    assert any("70 rows were dropped: missing values in fixed exogenous covariate" in w for w in res.warnings)
    _estimates_match(res, ref)
    _fit_measures_match(res, ref)


def test_bad_covariate_data_and_options_are_refused_by_name():
    ref = _load("bfi_cx_mimic.json")
    d = _data(ref)
    rng = np.random.default_rng(0)
    f = rng.normal(size=300)
    sep = pd.DataFrame({f"y{i}": (f + rng.normal(size=300) > 0).astype(int) for i in range(1, 5)})
    sep["x"] = rng.integers(0, 2, 300).astype(float)
    sep.loc[sep["x"] == 1, "y4"] = 1  # y4 is always 1 when x = 1: the probit slope is infinite
    with pytest.raises(DataError, match="ordered item 'y4' on the covariates did not converge .*separation"):
        asymtrust.fit("f =~ y1 + y2 + y3 + y4\nf ~ x", sep, ordered=["y1", "y2", "y3", "y4"])
    with pytest.raises(OptionError, match="fixed_x=False with ordered items and the covariate 'age'"):
        asymtrust.fit(ref["model"], d, ordered=ITEMS, fixed_x=False)
