"""Issue 19: EFA of ordinal items against lavaan 0.6-14 ``efa(..., ordered = TRUE)``.

References: ``tests/reference/efa_ordinal/efa_ordinal_cases.R`` (lavaan_efa_bfi_ordinal_<m>.json:
psych's bfi, 25 six-point items, WLSMV, geomin and oblimin, 1 to 5 factors) and
``efa_mixed_cases.R`` (lavaan_efa_bfi_mixed.json: A1..C5 ordered, the others continuous;
lavaan_efa_bfi_theta.json: A1..C5, ``parameterization = "theta"``).
Loadings, factor correlations, thresholds and their SEs within 2e-3 up to column order and
sign; fit measures within 1e-3 (chi-squares: also relative 1e-7).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factor_alignment import align
import asymtrust
from asymtrust.exceptions import DataError, OptionError

REF = Path(__file__).parent / "reference" / "efa_ordinal"
BFI = Path(__file__).parent / "reference" / "efa" / "bfi25.csv"
TOL_EST = 2e-3
TOL_FIT = 1e-3
FIT_KEYS = ["npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
            "baseline.chisq", "baseline.df", "baseline.chisq.scaled", "cfi", "tli", "cfi.scaled", "tli.scaled",
            "cfi.robust", "tli.robust", "rmsea", "rmsea.scaled", "rmsea.robust", "srmr", "srmr_bentler", "wrmr"]


def _num(x):
    return np.array([[np.nan if v == "NA" else v for v in row] for row in x], float) if isinstance(x[0], list) \
        else np.array([np.nan if v == "NA" else v for v in x], float)


def _ref(m: int) -> dict:
    return json.loads((REF / f"lavaan_efa_bfi_ordinal_{m}.json").read_text())


MIXED = json.loads((REF / "lavaan_efa_bfi_mixed.json").read_text())
THETA = json.loads((REF / "lavaan_efa_bfi_theta.json").read_text())


@pytest.fixture(scope="module")
def bfi():
    return pd.read_csv(BFI)


def _matrix(x, m):
    return _num(x).reshape(-1, m)


def check_solution(sol, ref):
    m = sol.n_factors
    L, Lr = sol.loadings.to_numpy(), _matrix(ref["loadings"], m)
    perm, s = align(L, Lr)
    np.testing.assert_allclose(L[:, perm] * s, Lr, atol=TOL_EST, rtol=0)
    np.testing.assert_allclose(sol.loadings_se.to_numpy()[:, perm], _matrix(ref["loadings_se"], m),
                               atol=TOL_EST, rtol=0)
    phi = sol.phi.to_numpy()[np.ix_(perm, perm)] * np.outer(s, s)
    np.testing.assert_allclose(phi, _matrix(ref["phi"], m), atol=TOL_EST, rtol=0)
    np.testing.assert_allclose(sol.phi_se.to_numpy()[np.ix_(perm, perm)], _matrix(ref["phi_se"], m),
                               atol=TOL_EST, rtol=0)
    np.testing.assert_allclose(sol.residual_variances.to_numpy(), _num(ref["theta"]), atol=TOL_EST, rtol=0)
    np.testing.assert_allclose(sol.residual_se.to_numpy(), _num(ref["theta_se"]), atol=TOL_EST, rtol=0)
    est = sol.raw.estimates
    th = est[est["op"] == "|"]
    np.testing.assert_allclose(th["est"].to_numpy(), _num(ref["tau"]), atol=TOL_EST, rtol=0)
    np.testing.assert_allclose(th["se"].to_numpy(), _num(ref["tau_se"]), atol=TOL_EST, rtol=0)
    check_fit(sol.fit, ref["fit"])
    assert sol.converged


def check_fit(fit, ref_fit):
    for k in FIT_KEYS:
        if k not in ref_fit:
            continue
        r, v = ref_fit[k], float(fit[k.replace(".", "_")])
        if r == "NA":
            assert np.isnan(v), k
        else:
            assert v == pytest.approx(r, abs=TOL_FIT, rel=1e-7), k


# ----------------------------------------------------------------------------- fast
def test_esem_fit_ordered_two_factors(bfi):
    """The ESEM path itself: fit() of an efa() block with ordered items (lavaan's sem() inside efa())."""
    items = list(bfi.columns)
    syntax = 'efa("efa")*f1 + efa("efa")*f2 =~ ' + " + ".join(items)
    res = asymtrust.fit(syntax, bfi, ordered=True, rotation="geomin")
    ref = _ref(2)["bfi_ord_geomin_2"]
    est = res.estimates
    L = np.zeros((25, 2))
    S = np.zeros((25, 2))
    for r in est[est["op"] == "=~"].itertuples():
        L[items.index(r.rhs), int(r.lhs[1]) - 1] = r.est
        S[items.index(r.rhs), int(r.lhs[1]) - 1] = r.se
    perm, s = align(L, _matrix(ref["loadings"], 2))
    np.testing.assert_allclose(L[:, perm] * s, _matrix(ref["loadings"], 2), atol=TOL_EST, rtol=0)
    np.testing.assert_allclose(S[:, perm], _matrix(ref["loadings_se"], 2), atol=TOL_EST, rtol=0)
    assert res.options["rotation"] == "geomin" and res.options["estimator"] == "WLSMV"
    assert est.attrs["rotation"]["sets"][0]["converged"]
    check_fit(res.fit_indices, ref["fit"])


@pytest.mark.parametrize("rotation", ["geomin", "oblimin"])
def test_mixed_ordered_and_continuous(bfi, rotation):
    res = asymtrust.efa(bfi, 2, rotation=rotation, ordered=list(bfi.columns[:10]))
    ref = MIXED[f"bfi_mixed_{rotation}_2"]
    assert res.estimator == "WLSMV" and (res.n_read, res.nobs) == (2800, ref["nobs"])
    check_solution(res[2], ref)


def test_esem_fit_theta_parameterization(bfi):
    items = list(bfi.columns[:10])
    syntax = 'efa("efa")*f1 + efa("efa")*f2 =~ ' + " + ".join(items)
    res = asymtrust.fit(syntax, bfi, ordered=True, rotation="geomin", parameterization="theta")
    ref = THETA["bfi10_theta_geomin_2"]
    est = res.estimates
    L, S = np.zeros((10, 2)), np.zeros((10, 2))
    for r in est[est["op"] == "=~"].itertuples():
        L[items.index(r.rhs), int(r.lhs[1]) - 1] = r.est
        S[items.index(r.rhs), int(r.lhs[1]) - 1] = r.se
    perm, s = align(L, _matrix(ref["loadings"], 2))
    np.testing.assert_allclose(L[:, perm] * s, _matrix(ref["loadings"], 2), atol=TOL_EST, rtol=0)
    np.testing.assert_allclose(S[:, perm], _matrix(ref["loadings_se"], 2), atol=TOL_EST, rtol=0)
    phi = est[(est["op"] == "~~") & (est["lhs"] == "f1") & (est["rhs"] == "f2")]
    assert float(phi["est"].iloc[0]) * s[0] * s[1] == pytest.approx(_num(ref["phi"])[0, 1], abs=TOL_EST)
    assert float(phi["se"].iloc[0]) == pytest.approx(_num(ref["phi_se"])[0, 1], abs=TOL_EST)
    check_fit(res.fit_indices, ref["fit"])


def test_refusals(bfi):
    items = list(bfi.columns[:6])
    grouped = bfi[items].assign(g=np.where(np.arange(len(bfi)) % 2, "a", "b"))
    with pytest.raises(OptionError, match="ordered items in more than one group"):
        asymtrust.fit('efa("e")*f1 + efa("e")*f2 =~ ' + " + ".join(items), grouped, ordered=True, group="g")
    with pytest.raises(OptionError, match="estimator='ML' with ordered"):
        asymtrust.efa(bfi, 2, ordered=True, estimator="ML")
    with pytest.raises(OptionError, match="ordinal items"):
        asymtrust.efa(bfi, 2, estimator="WLSMV")
    with pytest.raises(DataError, match="'Z1'"):
        asymtrust.efa(bfi, 2, ordered=["A1", "Z1"])


# ------------------------------------------------------------- lavaan efa(nfactors = 1:5, ordered = TRUE)
@pytest.fixture(scope="module")
def bfi_ordinal(bfi):
    return {rot: asymtrust.efa(bfi, range(1, 6), rotation=rot, ordered=True) for rot in ("geomin", "oblimin")}


@pytest.mark.slow
@pytest.mark.parametrize("rotation", ["geomin", "oblimin"])
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_bfi_ordinal_against_lavaan(bfi_ordinal, rotation, m):
    res = bfi_ordinal[rotation]
    ref = _ref(m)[f"bfi_ord_{rotation}_{m}"]
    assert res.estimator == "WLSMV" and res.nobs == ref["nobs"]
    check_solution(res[m], ref)


@pytest.mark.slow
def test_bfi_ordinal_result_shape(bfi_ordinal):
    res = bfi_ordinal["oblimin"]
    sol = res[3]
    np.testing.assert_allclose(sol.std_loadings.to_numpy(), sol.loadings.to_numpy(), atol=1e-10)  # unit variances
    assert np.all((sol.communalities > 0) & (sol.communalities < 1))
    doc = res.to_dict()
    assert set(doc["solutions"]) == {"1", "2", "3", "4", "5"}
    assert any("364" in w for w in res.warnings)


def test_cli_efa_ordered(tmp_path, capsys):
    # asymtrust efa --ordered: the polychoric WLSMV EFA of the items (lavaan's efa(ordered = TRUE))
    from asymtrust.cli import main

    data = Path(__file__).parent / "reference" / "ordinal" / "bfi.csv"
    items = ["A1", "A2", "A3", "A4", "A5", "C1", "C2", "C3", "C4", "C5"]
    assert main(["efa", str(data), "--items", *items, "--factors", "2", "--ordered", "--n-iter", "3"]) == 0
    out = capsys.readouterr().out
    assert "WLSMV" in out and "pattern matrix (2 factors)" in out
