"""Diagnostics on every estimator family against lavaan 0.6-14 (issue 17): modindices,
lavResiduals, lavTestScore and lavTestWald for ordinal (WLSMV) fits, the continuous
least-squares estimators (GLS, WLS, ULS), FIML, Wishart ML and two-level fits.
References: tests/reference/diagnostics/fam_*.json, made by families_cases.R beside them.

Tolerances (issue 17): MI, EPC and SEPC within 2e-3 or 1e-3 relative; residuals and z
within 2e-3; score and Wald statistics within 1e-3 relative.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.engine import diagnostics as dg
from asymtrust.exceptions import OptionError
from r_mask import apply_r_mask

REF = Path(__file__).parent / "reference" / "diagnostics"
BFI = Path(__file__).parent / "reference" / "ordinal" / "bfi.csv"
DATA = Path(__file__).parents[1] / "datasets"
NESTED = Path(__file__).parent / "reference" / "nested"
KEY = ["lhs", "op", "rhs", "group"]


@functools.cache
def ref(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


@functools.cache
def bfi() -> pd.DataFrame:
    return pd.read_csv(BFI)


@functools.cache
def hs() -> pd.DataFrame:
    return pd.read_csv(DATA / "hs1939.csv")


@functools.cache
def fit(case: str):
    r = ref("fam_fiml" if case.startswith("fam_fiml") else "fam_twolevel" if case.startswith("fam_twolevel") else case)
    if case == "fam_ord":
        return asymtrust.fit(r["model"], bfi()[r["items"]], ordered=r["items"])
    if case == "fam_ord_theta":
        return asymtrust.fit(r["model"], bfi()[r["items"]], ordered=r["items"], parameterization="theta")
    if case == "fam_ord_mixed":
        return asymtrust.fit(r["model"], pd.read_csv(BFI.parent / "mixed_data.csv"), ordered=r["items"])
    if case == "fam_ord_mg":
        d = bfi()[r["items"]].assign(gender=r["gender"])
        return asymtrust.fit(r["model"], d, ordered=r["items"], group="gender", group_equal=r["group_equal"])
    if case in ("fam_gls", "fam_wls", "fam_uls"):
        return asymtrust.fit(r["model"], hs(), estimator=r["estimator"])
    if case == "fam_gls_mg":
        return asymtrust.fit(r["model"], hs(), estimator=r["estimator"], group="school", group_equal=["loadings"])
    if case in ("fam_fiml", "fam_fiml_mlr"):
        return asymtrust.fit(ref("fam_fiml")["model"], hs_masked(), missing="fiml",
                             estimator="MLR" if case == "fam_fiml_mlr" else "ML")
    if case == "fam_wishart":
        return asymtrust.fit(r["model"], hs(), likelihood="wishart")
    if case in ("fam_twolevel", "fam_twolevel_x"):
        r = ref("fam_twolevel")
        model = r["model_x"] if case.endswith("_x") else r["model"]
        return asymtrust.fit(model, pd.read_csv(NESTED / "demo_twolevel.csv"), cluster=r["cluster"])
    if case == "fam_fiml_x":
        return asymtrust.fit(ref("fam_fiml")["model_x"], hs_masked(), missing="fiml")
    raise KeyError(case)


def hs_masked() -> pd.DataFrame:
    r = ref("fam_fiml")["mask"]
    return apply_r_mask(hs(), r["columns"], r["indices"])


# ----------------------------------------------------------------------------- helpers
def close(got, want, tol: float, rel: float | None = None, what: str = "") -> float:
    """Max abs difference of finite reference values (NaN where lavaan has NA); returns it."""
    g, w = np.asarray(got, float).ravel(), np.asarray(want, float).ravel()
    assert g.shape == w.shape, what
    ok = np.isfinite(w)
    np.testing.assert_array_equal(np.isfinite(g[ok]), True, err_msg=what)
    d = np.abs(g[ok] - w[ok])
    lim = tol if rel is None else np.maximum(tol, rel * np.abs(w[ok]))
    assert np.all(d <= lim), f"{what}: max diff {d.max() if d.size else 0:.3g}"
    return float(d.max()) if d.size else 0.0


def check_mi(got: pd.DataFrame, want: list) -> None:
    w = pd.DataFrame(want)
    if "group" not in w:
        w["group"] = 1
    assert len(got) == len(w)
    m = got.merge(w, on=KEY, suffixes=("", "_r"), how="inner")
    assert len(m) == len(w), "the same rows as lavaan"
    close(m["mi"], m["mi_r"], 2e-3, 1e-3, "mi")
    for c in ("epc", "sepc_lv", "sepc_all", "sepc_nox"):
        close(m[c], m[c + "_r"], 2e-3, 1e-3, c)


def check_score_epc(got: pd.DataFrame, want: list) -> None:
    """lavTestScore(epc = TRUE)$epc; the standardized EPC of a variance is its estimate with
    the EPC's sign, which is noise where the EPC is zero (|EPC| < 1e-5): compared elsewhere."""
    epc = pd.DataFrame(want)
    if "group" not in epc:
        epc["group"] = 1
    m = got.merge(epc, on=KEY, suffixes=("", "_r"))
    assert len(m) == len(epc)
    for c in ("est", "epc", "epv"):
        close(m[c], m[c + "_r"], 2e-3, 1e-3, c)
    sure = m[m["epc_r"].abs() > 1e-5]
    assert len(sure) > len(m) / 2
    for c in ("sepc_lv", "sepc_all", "sepc_nox"):
        close(sure[c], sure[c + "_r"], 2e-3, 1e-3, c)


def matrix(x) -> np.ndarray:
    return np.array(x, dtype=float)


def check_summary(got: pd.DataFrame, want: dict) -> None:
    # lavaan 0.6-14 spells one row "ucrmr.cilupper"; asymtrust names it as the others
    tab = pd.DataFrame(want["table"], index=[r.replace(".", "_").replace("cilupper", "ci_upper") for r in want["rows"]])
    assert list(got.index) == list(tab.index) and list(got.columns) == list(tab.columns)
    for col in tab.columns:
        close(got.loc[tab.index, col].to_numpy(), tab[col].to_numpy(float), 2e-3, 1e-3, f"summary {col}")


# ----------------------------------------------------------------------------- ordered items
def test_ordinal_modindices_match_lavaan():
    check_mi(dg.modindices(fit("fam_ord")), ref("fam_ord")["modindices"])


def test_ordinal_modindices_two_groups_with_equal_thresholds_and_loadings():
    res = fit("fam_ord_mg")
    assert res.fit_indices["chisq"] == pytest.approx(ref("fam_ord_mg")["chisq"], rel=1e-5)
    check_mi(dg.modindices(res), ref("fam_ord_mg")["modindices"])


def test_ordinal_theta_parameterization_modindices():
    res = fit("fam_ord_theta")
    assert res.fit_indices["chisq"] == pytest.approx(ref("fam_ord_theta")["chisq"], rel=1e-5)
    check_mi(dg.modindices(res), ref("fam_ord_theta")["modindices"])


@pytest.mark.parametrize("case,typ", [("fam_ord", "raw"), ("fam_ord", "cor.bentler"), ("fam_ord", "cor.bollen"),
                                      ("fam_ord_theta", "cor.bentler")])
def test_ordinal_residuals_match_lavaan(case, typ):
    want = ref(case)["residuals"][typ.replace(".", "_")][0]
    got = dg.residuals(fit(case), type=typ)[0]
    assert list(got["cov"].columns) == want["names"] and list(got["th"].index) == want["th_names"]
    close(got["cov"], matrix(want["cov"]), 2e-3, what="cov")
    close(got["cov_se"], matrix(want["cov_se"]), 2e-3, what="cov_se")
    close(got["cov_z"], matrix(want["cov_z"]), 2e-3, 1e-3, what="cov_z")
    close(got["th"], want["th"], 2e-3, what="th")
    close(got["th_se"], want["th_se"], 2e-3, what="th_se")
    close(got["th_z"], want["th_z"], 2e-3, what="th_z")
    close(got["mean"], want["mean"], 1e-12, what="mean")
    check_summary(got["summary"], want["summary"])
    assert got["summary"].loc[{"raw": "rmr", "cor.bentler": "srmr", "cor.bollen": "crmr"}[typ], "cor"] > 0.03


def test_ordered_items_with_continuous_variables():
    res, want = fit("fam_ord_mixed"), ref("fam_ord_mixed")
    assert res.fit_indices["chisq"] == pytest.approx(want["chisq"], rel=1e-5)
    check_mi(dg.modindices(res), want["modindices"])
    for typ in ("raw", "cor.bentler", "cor.bollen"):
        w = want["residuals"][typ.replace(".", "_")][0]
        got = dg.residuals(res, type=typ, se=False)[0]
        assert list(got["th"].index) == w["th_names"]
        close(got["cov"], matrix(w["cov"]), 2e-3, what=f"{typ} cov")
        close(got["mean"], w["mean"], 2e-3, what=f"{typ} mean")
        close(got["th"], w["th"], 2e-3, what=f"{typ} th")
    with pytest.raises(OptionError, match="continuous"):
        dg.residuals(res)  # lavaan: no SEs when continuous variables are among the ordered items


def test_ordinal_score_test_after_group_equal():
    res, want = fit("fam_ord_mg"), ref("fam_ord_mg")["score"]
    st = dg.score_test(res)
    assert st.total["df"] == want["total"]["df"] == 58
    close([st.total["x2"]], [want["total"]["X2"]], 0.0, 1e-3, "total")
    uni = pd.DataFrame(want["uni"])
    assert list(st.uni["lhs"]) == list(uni["lhs"]) and list(st.uni["rhs"]) == list(uni["rhs"])
    close(st.uni["x2"], uni["X2"], 1e-3, 1e-3, "uni")
    check_score_epc(st.epc, want["epc"])


def test_ordinal_wald_matches_lavaan():
    res = fit("fam_ord")
    for w in ref("fam_ord")["wald"]:
        got = dg.wald(res, w["constraints"])
        assert got["df"] == w["df"]
        close([got["stat"]], [w["stat"]], 0.0, 1e-3, w["constraints"])


# ----------------------------------------------------------------------------- GLS, WLS, ULS
LS = ["fam_gls", "fam_wls", "fam_uls"]


@pytest.mark.parametrize("case", LS)
def test_least_squares_modindices_match_lavaan(case):
    res = fit(case)
    assert res.fit_indices["chisq"] == pytest.approx(ref(case)["chisq"], rel=1e-5)
    check_mi(dg.modindices(res), ref(case)["modindices"])


@pytest.mark.parametrize("case", ["fam_gls", "fam_wls"])
@pytest.mark.parametrize("typ", ["raw", "cor.bentler", "cor.bollen"])
def test_least_squares_residuals_match_lavaan(case, typ):
    want = ref(case)["residuals"][typ.replace(".", "_")][0]
    got = dg.residuals(fit(case), type=typ)[0]
    assert list(got["cov"].columns) == want["names"]
    for part in ("cov", "cov_se", "cov_z"):
        close(got[part], matrix(want[part]), 2e-3, 1e-3, part)
    check_summary(got["summary"], want["summary"])


def test_uls_residuals_without_standard_errors():
    want = ref("fam_uls")["residuals"]
    for typ in ("raw", "cor.bentler", "cor.bollen"):
        got = dg.residuals(fit("fam_uls"), type=typ, se=False)[0]
        close(got["cov"], matrix(want[typ.replace(".", "_")][0]["cov"]), 2e-3, what=typ)
    with pytest.raises(OptionError, match="estimator ULS"):
        dg.residuals(fit("fam_uls"))


@pytest.mark.parametrize("case", LS)
def test_least_squares_wald_matches_lavaan(case):
    res = fit(case)
    for w in ref(case)["wald"]:
        got = dg.wald(res, w["constraints"])
        assert got["df"] == w["df"]
        close([got["stat"]], [w["stat"]], 0.0, 1e-3, w["constraints"])


def test_gls_score_test_and_modindices_after_group_equal():
    res, want = fit("fam_gls_mg"), ref("fam_gls_mg")
    assert res.fit_indices["chisq"] == pytest.approx(want["chisq"], rel=1e-5)
    st = dg.score_test(res)
    close([st.total["x2"]], [want["score"]["total"]["X2"]], 0.0, 1e-3, "total")
    uni = pd.DataFrame(want["score"]["uni"])
    close(st.uni["x2"], uni["X2"], 1e-3, 1e-3, "uni")
    check_score_epc(st.epc, want["score"]["epc"])
    check_mi(dg.modindices(res), want["modindices"])


# ----------------------------------------------------------------------------- FIML
@pytest.mark.parametrize("case,key", [("fam_fiml", "residuals"), ("fam_fiml_mlr", "residuals_mlr")])
@pytest.mark.parametrize("typ", ["raw", "cor.bentler", "cor.bollen"])
def test_fiml_residuals_match_lavaan(case, key, typ):
    res = fit(case)
    assert res.fit_indices["chisq"] == pytest.approx(ref("fam_fiml")["chisq"], rel=1e-5)
    want = ref("fam_fiml")[key][typ.replace(".", "_")][0]
    got = dg.residuals(res, type=typ)[0]
    assert list(got["cov"].columns) == want["names"]
    for part in ("cov", "cov_se", "cov_z"):
        close(got[part], matrix(want[part]), 2e-3, 1e-3, part)
    for part in ("mean", "mean_se", "mean_z"):
        close(got[part], want[part], 2e-3, 1e-3, part)
    check_summary(got["summary"], want["summary"])


def test_fiml_modindices_with_fixed_x_covariates():
    res = fit("fam_fiml_x")
    assert res.fit_indices["chisq"] == pytest.approx(ref("fam_fiml")["chisq_x"], rel=1e-5)
    check_mi(dg.modindices(res), ref("fam_fiml")["modindices_x"])


# ----------------------------------------------------------------------------- Wishart ML
def test_wishart_modindices_residuals_score_and_wald():
    res, want = fit("fam_wishart"), ref("fam_wishart")
    assert res.fit_indices["chisq"] == pytest.approx(want["chisq"], rel=1e-5)
    check_mi(dg.modindices(res), want["modindices"])
    for typ in ("raw", "cor.bentler", "cor.bollen"):
        w = want["residuals"][typ.replace(".", "_")][0]
        got = dg.residuals(res, type=typ)[0]
        for part in ("cov", "cov_se", "cov_z"):
            close(got[part], matrix(w[part]), 2e-3, 1e-3, f"{typ} {part}")
        check_summary(got["summary"], w["summary"])
    st = dg.score_test(res)
    close([st.total["x2"]], [want["score"]["total"]["X2"]], 0.0, 1e-3, "score total")
    close(st.uni["x2"], pd.DataFrame(want["score"]["uni"])["X2"], 1e-3, 1e-3, "score uni")
    check_score_epc(st.epc, want["score"]["epc"])
    for w in want["wald"]:
        close([dg.wald(res, w["constraints"])["stat"]], [w["stat"]], 0.0, 1e-3, w["constraints"])


# ----------------------------------------------------------------------------- summary tables, CLI
def test_cli_diagnose_ordinal(capsys, tmp_path):
    from asymtrust.cli import main

    r = ref("fam_ord")
    path = tmp_path / "bfi.csv"
    bfi()[r["items"]].to_csv(path, index=False)
    code = main(["diagnose", str(path), "--spec", r["model"], "--ordered", ",".join(r["items"]), "--json",
                 "--top", "3"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and len(doc["modindices"]) == 3 and doc["score_tests"] is None
    want = pd.DataFrame(r["modindices"]).sort_values("mi", ascending=False).iloc[0]
    top = doc["modindices"][0]
    assert (top["lhs"], top["op"], top["rhs"]) == (want["lhs"], want["op"], want["rhs"]) == ("C", "=~", "A4")
    assert top["mi"] == pytest.approx(want["mi"], rel=1e-3)
    resid = r["residuals"]["cor_bentler"][0]
    z = np.array(resid["cov_z"], float)
    assert abs(doc["residuals"][0]["z"]) == pytest.approx(np.abs(z).max(), rel=1e-3)
    assert doc["srmr"][0] == pytest.approx(resid["summary"]["table"][0]["cor"], rel=1e-3)


def test_misfit_summary_gls_two_groups():
    res, want = fit("fam_gls_mg"), ref("fam_gls_mg")
    out = dg.misfit_summary(res, top=3)
    mi = pd.DataFrame(want["modindices"]).sort_values("mi", ascending=False)
    assert out["modindices"]["mi"].tolist() == pytest.approx(mi["mi"].head(3).tolist(), rel=1e-3)
    assert out["score_tests"]["x2"].iloc[0] == pytest.approx(pd.DataFrame(want["score"]["uni"])["X2"].max(), rel=1e-3)
    assert out["notes"] == []


# ----------------------------------------------------------------------------- two-level
@pytest.mark.parametrize("case,key,n", [("fam_twolevel", "", 14), ("fam_twolevel_x", "_x", 33)])
def test_twolevel_modindices_match_lavaan(case, key, n):
    res, want = fit(case), ref("fam_twolevel")
    assert res.fit_indices["chisq"] == pytest.approx(want["chisq" + key], rel=1e-5)
    got = dg.modindices(res)
    w = pd.DataFrame(want["modindices" + key])
    assert len(got) == len(w) == n and set(got["level"]) == {1, 2}
    m = got.merge(w, on=["lhs", "op", "rhs", "group", "level"], suffixes=("", "_r"))
    assert len(m) == len(w)
    for c in ("mi", "epc", "sepc_lv", "sepc_all", "sepc_nox"):
        close(m[c], m[c + "_r"], 2e-3, 1e-3, c)


def test_twolevel_residuals_per_level():
    res, want = fit("fam_twolevel"), ref("fam_twolevel")["residuals"]
    for typ in ("raw", "cor.bentler", "cor.bollen"):
        got = dg.residuals(res, type=typ, se=False)
        assert [(g["group"], g["level"]) for g in got] == [(1, "within"), (1, "between")]
        for g, lab in zip(got, ("within", "cluster")):  # lavaan names level 2 by the cluster variable
            w = want[typ.replace(".", "_")][lab]
            assert list(g["cov"].columns) == w["names"]
            close(g["cov"], matrix(w["cov"]), 2e-3, what=f"{typ} {lab} cov")
            close(g["mean"], w["mean"], 2e-3, what=f"{typ} {lab} mean")
    with pytest.raises(OptionError, match="two-level"):
        dg.residuals(res)  # lavaan computes no SEs for multilevel residuals


def test_twolevel_score_test_and_wald():
    res, want = fit("fam_twolevel"), ref("fam_twolevel")
    st = dg.score_test(res)
    close([st.total["x2"]], [want["score"]["total"]["X2"]], 0.0, 1e-3, "score")
    epc = pd.DataFrame(want["score"]["epc"])
    m = st.epc.merge(epc, on=["lhs", "op", "rhs", "level"], suffixes=("", "_r"))  # lavaan: one group, no column
    assert len(m) == len(epc)
    for c in ("est", "epc", "sepc_lv", "sepc_all", "sepc_nox"):
        close(m[c], m[c + "_r"], 2e-3, 1e-3, c)
    for w in want["wald"]:
        close([dg.wald(res, w["constraints"])["stat"]], [w["stat"]], 0.0, 1e-3, w["constraints"])


def test_misfit_summary_twolevel_notes_the_missing_z():
    out = dg.misfit_summary(fit("fam_twolevel"), top=2)
    w = pd.DataFrame(ref("fam_twolevel")["modindices"]).sort_values("mi", ascending=False)
    assert out["modindices"]["mi"].tolist() == pytest.approx(w["mi"].head(2).tolist(), abs=2e-3)
    assert any("two-level" in n for n in out["notes"]) and out["srmr"] is None
    assert set(out["residuals"]["level"]) <= {"within", "between"} and len(out["residuals"]) == 2


@pytest.mark.parametrize("case", ["fam_ord_mg", "fam_gls_mg"])
def test_residuals_of_two_group_fits(case):
    res = fit(case)
    want = ref(case)["residuals"]["cor_bentler"]
    got = dg.residuals(res, type="cor.bentler")
    assert len(got) == len(want) == 2 and list(want) == [str(g) for g in res.group_labels]
    for g, w in zip(got, want.values()):
        for part in ("cov", "cov_se", "cov_z"):
            close(g[part], matrix(w[part]), 2e-3, 1e-3, part)
        for part in ("th", "th_se", "th_z"):
            if part in w:
                close(g[part], w[part], 2e-3, 1e-3, part)
        check_summary(g["summary"], w["summary"])
