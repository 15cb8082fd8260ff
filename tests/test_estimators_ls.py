"""Estimators for continuous data (issue 14, item 3): GLS, WLS (ADF), ULS and ML with
``likelihood="wishart"``, against lavaan 0.6-14.

The references are ``tests/reference/lavaan/ls/ls_<model>_<estimator>.json``, written by
``ls_cases.R`` in that folder: the Holzinger-Swineford 3-factor CFA (N = 301) and the
PoliticalDemocracy SEM with equal loadings and residual covariances (N = 75), each with
``estimator="GLS"``, ``"WLS"``, ``"ULS"`` and ``likelihood="wishart"``; every estimate,
SE and ``fitMeasures()`` entry is compared.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.engine.estimators import FAMILIES, GLS, ULS, WLS, choose
from asymtrust.engine.estimators.ls import LSObjective, adf_gamma, duplication, gls_weight, vech_index
from asymtrust.engine.estimators.ml import MLWishart
from asymtrust.exceptions import OptionError

ROOT = Path(__file__).resolve().parents[1]
REF_DIR = ROOT / "tests" / "reference" / "lavaan" / "ls"
CASES = sorted(p.stem for p in REF_DIR.glob("ls_*.json"))
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
PD_X = "dem60 =~ y1 + y2 + y3 + y4\ndem60 ~ x1 + x2"

#: tolerances: estimates and SEs absolute (and relative for large values), chi-square
#: statistics relative, every other index absolute
TOL_EST, TOL_SE, TOL_CHISQ, TOL_INDEX = 1e-4, 1e-4, 1e-6, 1e-4
CHISQ = {"chisq", "baseline.chisq", "fmin", "logl", "unrestricted.logl", "aic", "bic", "bic2"}


def _ref(case: str) -> dict:
    return json.loads((REF_DIR / f"{case}.json").read_text())


@pytest.fixture(scope="module")
def fits():
    cache = {}

    def get(case):
        if case not in cache:
            ref = _ref(case)
            data = pd.read_csv(ROOT / "datasets" / ref["data"])
            cache[case] = (ref, asymtrust.fit(ref["model"], data, **ref["options"]))
        return cache[case]

    return get


def test_the_references_are_all_there():
    assert len(CASES) == 8
    for case in CASES:
        ref = _ref(case)
        assert ref["lavaan"] == "0.6.14" and ref["converged"]


@pytest.mark.parametrize("case", CASES)
def test_estimates_and_ses_match_lavaan(case, fits):
    ref, res = fits(case)
    lav = pd.DataFrame(ref["estimates"])
    ours = res.estimates[["lhs", "op", "rhs", "est", "se"]]
    m = lav.merge(ours, on=["lhs", "op", "rhs"], suffixes=("_lav", "_ours"), how="left")
    assert len(m) == len(lav) and not m["est_ours"].isna().any()
    np.testing.assert_allclose(m["est_ours"], m["est_lav"], atol=TOL_EST, rtol=TOL_EST)
    np.testing.assert_allclose(m["se_ours"], m["se_lav"], atol=TOL_SE, rtol=TOL_SE)
    assert res.converged


@pytest.mark.parametrize("case", CASES)
def test_fit_measures_match_lavaan(case, fits):
    """Every fitMeasures() entry: the number, or NA where lavaan reports NA (ULS's
    p-values). lavaan reports no logl/AIC/BIC for the least-squares estimators; asymtrust
    reports them as NaN."""
    ref, res = fits(case)
    fi = res.fit_indices
    failures = []
    for name, value in ref["fit"].items():
        key = name.replace(".", "_")
        if key not in fi.index:
            failures.append(f"{name}: not reported")
            continue
        ours = float(fi[key])
        if value is None:
            if not math.isnan(ours):
                failures.append(f"{name}: asymtrust {ours}, lavaan NA")
            continue
        tol = TOL_CHISQ * max(1.0, abs(value)) if name in CHISQ else TOL_INDEX
        if not abs(ours - value) <= tol:
            failures.append(f"{name}: asymtrust {ours!r}, lavaan {value!r}")
    assert failures == []
    if ref["options"].get("estimator") in ("GLS", "WLS", "ULS"):
        assert "logl" not in ref["fit"] and math.isnan(fi["logl"]) and math.isnan(fi["aic"])


def test_key_numbers_beside_lavaan(fits):
    """A few of lavaan's numbers written out (the JSONs hold them all)."""
    expected = {  # case: (chisq, df, cfi, rmsea) from lavaan 0.6-14
        "ls_hs_gls": (77.4707233934109, 24, 0.779038551435054, 0.0861770814091308),
        "ls_hs_wls": (83.318579740707, 24, 0.831282467053538, 0.0907672387519514),
        "ls_hs_uls": (72.0982196334399, 24, 0.973918510256776, 0.0817331528966196),
        "ls_hs_wishart": (85.0221147221346, 24, 0.9306408397367, 0.0920613584051831),
        "ls_pd_gls": (38.6195448793183, 38, 0.989485695178386, 0.0148432406190899),
        "ls_pd_wls": (77.0384339752237, 38, 0.889465001257421, 0.117825294964352),
    }
    for case, (chisq, df, cfi, rmsea) in expected.items():
        fi = fits(case)[1].fit_indices
        assert fi["chisq"] == pytest.approx(chisq, rel=1e-6), case
        assert fi["df"] == df
        assert fi["cfi"] == pytest.approx(cfi, abs=1e-6), case
        assert fi["rmsea"] == pytest.approx(rmsea, abs=1e-6), case


# ----------------------------------------------------------------------------- conventions
def test_registry_and_defaults():
    for name, cls in (("GLS", GLS), ("WLS", WLS), ("ULS", ULS)):
        assert FAMILIES[name] is cls
        fam = choose(name.lower(), "listwise")
        assert type(fam) is cls and not fam.robust
        assert fam.default_se == "standard" and fam.default_information == "expected"
        assert fam.default_fixed_x is False and fam.likelihood == "wishart"
    assert choose("ML").default_fixed_x is True
    assert type(choose("ML").with_likelihood("wishart")) is MLWishart
    assert type(choose("ML").with_likelihood("normal")) is type(choose("ML"))


def test_fixed_x_default_is_false_for_least_squares():
    """lavaan's fixed.x default is TRUE for ML only: with GLS the covariates' (co)variances
    are free parameters (npar 13 instead of 10), with lavaan 0.6-14's chi-square."""
    pd_data = pd.read_csv(ROOT / "datasets" / "poldem.csv")
    res = asymtrust.fit(PD_X, pd_data, estimator="GLS")
    assert res.fit_indices["npar"] == 13
    assert res.fit_indices["chisq"] == pytest.approx(19.3839597148197, rel=1e-6)
    res = asymtrust.fit(PD_X, pd_data, estimator="GLS", fixed_x=True)
    assert res.fit_indices["npar"] == 10
    assert res.fit_indices["chisq"] == pytest.approx(20.8218698300073, rel=1e-6)  # lavaan, fixed.x = TRUE
    res = asymtrust.fit(PD_X, pd_data, estimator="ULS", fixed_x=True)
    assert res.fit_indices["chisq"] == pytest.approx(182.837472274466, rel=1e-6)
    res = asymtrust.fit(PD_X, pd_data, likelihood="wishart")
    assert res.fit_indices["chisq"] == pytest.approx(20.5403414692926, rel=1e-6)


def test_least_squares_from_moments_take_the_matrix_as_given():
    """lavaan fits GLS to the unbiased covariance matrix: from data it is computed with
    divisor N - 1, and a sample.cov is not rescaled. Both give the same fit."""
    hs = asymtrust.load_dataset("hs1939")
    cols = [f"x{i}" for i in range(1, 10)]
    a = asymtrust.fit(HS, hs, estimator="GLS")
    b = asymtrust.fit(HS, sample_cov=hs[cols].cov(), sample_nobs=len(hs), estimator="GLS")
    np.testing.assert_allclose(b.theta, a.theta, rtol=1e-6, atol=1e-8)
    assert b.fit_indices["chisq"] == pytest.approx(a.fit_indices["chisq"], rel=1e-8)
    c = asymtrust.fit(HS, sample_cov=hs[cols].cov(), sample_nobs=len(hs), likelihood="wishart")
    d = asymtrust.fit(HS, hs, likelihood="wishart")
    np.testing.assert_allclose(c.theta, d.theta, rtol=1e-6, atol=1e-8)


def test_refusals():
    hs = asymtrust.load_dataset("hs1939")
    cols = [f"x{i}" for i in range(1, 10)]
    pd_data = pd.read_csv(ROOT / "datasets" / "poldem.csv")
    with pytest.raises(OptionError, match="sample moments|raw data"):
        asymtrust.fit(HS, sample_cov=hs[cols].cov(), sample_nobs=len(hs), estimator="WLS")
    with pytest.raises(OptionError, match="fixed_x=True and covariates"):
        asymtrust.fit(PD_X, pd_data, estimator="WLS", fixed_x=True)
    with pytest.raises(OptionError, match="no robust variant"):
        GLS(robust=True)
    with pytest.raises(OptionError, match="robust standard errors are not available"):
        asymtrust.fit(HS, hs, estimator="ULS", se="robust").estimates
    with pytest.raises(OptionError, match="likelihood"):
        asymtrust.fit(HS, hs, estimator="MLR", likelihood="wishart")
    with pytest.raises(OptionError, match="likelihood"):
        asymtrust.fit(HS, hs, missing="fiml", likelihood="wishart")
    with pytest.raises(OptionError, match="single-group"):
        asymtrust.fit(HS, hs, group="school", likelihood="wishart")


# ----------------------------------------------------------------------------- the pieces
def test_weights_and_gradient():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 3)) @ np.array([[1.0, 0.3, 0.1], [0, 1.0, 0.4], [0, 0, 1.0]])
    S = np.cov(X.T)
    rows, cols = vech_index(3)
    assert list(zip(rows, cols))[:3] == [(0, 0), (1, 0), (2, 0)]  # column by column, as lavaan
    D = duplication(3)
    A = S + S.T
    np.testing.assert_allclose(D @ A[rows, cols], A.ravel())
    # the GLS weight is 1/2 tr[(S^-1 R)^2] as a quadratic form in vech R
    R = np.array([[0.2, 0.1, -0.3], [0.1, 0.5, 0.05], [-0.3, 0.05, -0.1]])
    Si = np.linalg.inv(S)
    r = R[rows, cols]
    assert r @ gls_weight(S, False) @ r == pytest.approx(0.5 * np.trace(Si @ R @ Si @ R))
    G = adf_gamma(X, True)
    assert G.shape == (9, 9) and np.allclose(G[:3, :3], np.cov(X.T, bias=True))
    # the analytic gradient of the LS objective is the numerical one
    hs = asymtrust.load_dataset("hs1939")
    res = asymtrust.fit(HS, hs, estimator="WLS")
    obj = res.objective
    assert isinstance(obj, LSObjective)
    theta = np.asarray(res.theta) * 1.05
    g = obj.evaluate(theta)[1]
    num = np.array([(obj.evaluate(theta + e, False)[0] - obj.evaluate(theta - e, False)[0]) / 2e-6
                    for e in np.eye(len(theta)) * 1e-6])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("estimator, lavaan", [
    # lavaan 0.6-14, sem(HS, estimator=..., information="observed"): the first six SEs;
    # for WLS and ULS lavaan uses the expected information instead (with a warning)
    ("GLS", [0.125820, 0.131430, 0.071715, 0.060090, 0.147306, 0.219149]),
    ("ULS", [0.055473, 0.064740, 0.073060, 0.063181, 0.164822, 0.229447]),
    ("WLS", [0.097426, 0.117072, 0.058076, 0.050921, 0.114209, 0.112532]),
])
def test_observed_information_as_lavaan(estimator, lavaan):
    hs = asymtrust.load_dataset("hs1939")
    res = asymtrust.fit(HS, hs, estimator=estimator, information="observed")
    est = res.estimates
    np.testing.assert_allclose(est[est["free"] > 0]["se"].to_numpy()[:6], lavaan, atol=2e-6)


@pytest.mark.parametrize("estimator, lavaan", [
    # lavaan 0.6-14, sem(HS, estimator=..., group="school"): chisq, baseline.chisq, rmsea,
    # gfi, srmr and the first three SEs (the groups weighted by N_g, the test by N_g - 1)
    ("GLS", [97.479948, 288.021015, 0.083037, 0.995817, 0.098172, 0.145290, 0.151292, 0.097502]),
    ("ULS", [91.944388, 1845.508753, 0.078255, 0.998434, 0.061467, 0.066627, 0.083952, 0.109607]),
    ("WLS", [116.052305, 466.205594, 0.097382, 0.996923, 0.114693, 0.098984, 0.128337, 0.067356]),
])
def test_multigroup_as_lavaan(estimator, lavaan):
    hs = asymtrust.load_dataset("hs1939")
    res = asymtrust.fit(HS, hs, estimator=estimator, group="school")
    fi, est = res.fit_indices, res.estimates
    ours = [fi[k] for k in ("chisq", "baseline_chisq", "rmsea", "gfi", "srmr")]
    ours += list(est[est["free"] > 0]["se"].to_numpy()[:3])
    np.testing.assert_allclose(ours, lavaan, rtol=1e-6, atol=2e-6)


def test_wishart_observed_information_as_lavaan():
    hs = asymtrust.load_dataset("hs1939")
    res = asymtrust.fit(HS, hs, likelihood="wishart", information="observed")
    est = res.estimates
    np.testing.assert_allclose(est[est["free"] > 0]["se"].to_numpy()[:4],
                               [0.109429, 0.117463, 0.065095, 0.056288], atol=2e-6)  # lavaan 0.6-14
