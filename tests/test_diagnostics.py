"""Diagnostics against lavaan 0.6-14 (issue 17): modindices, lavResiduals, lavTestScore,
lavTestWald and lavPredict. References: tests/reference/diagnostics/*.json, made by
diagnostics_cases.R beside them (lavaan's fits run to convergence, see the script).

Tolerances (issue 17): MI, EPC and SEPC within 2e-3 or 1e-3 relative; residuals and z
within 2e-3; factor scores within 2e-3; score and Wald statistics within 1e-3 relative.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.exceptions import OptionError, SyntaxModelError
from r_mask import apply_r_mask

REF = Path(__file__).parent / "reference" / "diagnostics"
DATA = Path(__file__).parents[1] / "datasets"
KEY = ["lhs", "op", "rhs", "group"]


@functools.cache
def ref(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


@functools.cache
def bcf() -> pd.DataFrame:
    data = pd.read_csv(DATA / "bcf_synthetic.csv")
    for col in ref("diag_fig1")["recode_reverse"]:
        data[col] = 8 - data[col]
    return data


@functools.cache
def hs() -> pd.DataFrame:
    return pd.read_csv(DATA / "hs1939.csv")


@functools.cache
def fit(case: str):
    if case == "fig1":
        return asymtrust.fit(ref("diag_fig1")["model"], bcf())
    if case == "fig1_wald":
        return asymtrust.fit(ref("diag_fig1_wald")["model"], bcf())
    if case == "hsx":
        return asymtrust.fit(ref("diag_hsx")["model"], hs())
    if case in ("metric", "scalar"):
        eq = ("loadings",) if case == "metric" else ("loadings", "intercepts")
        return asymtrust.fit(ref("diag_hs_mg")["model"], hs(), group="school", group_equal=eq)
    if case == "fiml":
        return asymtrust.fit(ref("diag_hs_fiml")["model"], hs_masked(), missing="fiml")
    raise KeyError(case)


def hs_masked() -> pd.DataFrame:
    r = ref("diag_hs_fiml")["mask"]
    return apply_r_mask(hs(), r["columns"], r["indices"])


def close(a, b, atol=2e-3, rtol=1e-3) -> None:
    """Equal within atol or rtol (NaN where lavaan has NA)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    ok = np.isnan(b) | np.isclose(a, b, atol=atol, rtol=rtol)
    assert ok.all(), f"max |diff| {np.nanmax(np.abs(a - b)):.3g} at {np.flatnonzero(~ok)[:5]}"


def ref_frame(rows, group: int | None = None) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    if "group" not in out.columns:
        out["group"] = 1 if group is None else group
    return out


def merged(ours: pd.DataFrame, theirs: pd.DataFrame) -> pd.DataFrame:
    m = theirs.merge(ours, on=KEY, how="outer", suffixes=("_ref", ""), indicator=True)
    missing = m[m["_merge"] != "both"]
    assert missing.empty, f"rows not in both:\n{missing[KEY + ['_merge']].head(10)}"
    return m


# ----------------------------------------------------------------------------- modindices
def test_fits_match_lavaan():
    assert fit("fig1").fit_indices["chisq"] == pytest.approx(ref("diag_fig1")["chisq"], rel=1e-7)
    assert fit("hsx").fit_indices["chisq"] == pytest.approx(ref("diag_hsx")["chisq"], rel=1e-7)
    assert fit("metric").fit_indices["chisq"] == pytest.approx(ref("diag_hs_mg")["metric"]["chisq"], rel=1e-7)
    assert fit("scalar").fit_indices["chisq"] == pytest.approx(ref("diag_hs_mg")["scalar"]["chisq"], rel=1e-7)


@pytest.mark.parametrize("case,name", [("fig1", "diag_fig1"), ("hsx", "diag_hsx")])
def test_modindices_match_lavaan(case, name):
    """Every parameter lavaan lists (873 on Fig. 1: cross-loadings, residual covariances,
    regressions; with covariates the fixed-x rows and sepc.nox), MI, EPC, SEPC."""
    ours = fit(case).modindices(sort=False)
    theirs = ref_frame(ref(name)["modindices"])
    assert len(ours) == len(theirs)
    m = merged(ours, theirs)
    for col in ("mi", "epc", "sepc_lv", "sepc_all", "sepc_nox"):
        close(m[col], m[f"{col}_ref"])


def test_modindices_sorted_and_filtered():
    ours = fit("fig1").modindices(minimum_value=10)
    theirs = ref_frame(ref("diag_fig1")["modindices"])
    theirs = theirs[theirs["mi"] > 10].sort_values("mi", ascending=False)
    assert list(zip(ours.lhs, ours.op, ours.rhs)) == list(zip(theirs.lhs, theirs.op, theirs.rhs))
    assert ours["mi"].is_monotonic_decreasing and (ours["mi"] > 10).all()
    assert list(ours.columns) == ["lhs", "op", "rhs", "group", "mi", "epc", "sepc_lv", "sepc_all", "sepc_nox"]


def test_modindices_power_decisions():
    """Saris, Satorra & van der Veld (2009): delta, ncp, power and the five decisions."""
    ours = fit("fig1").modindices(sort=False, power=True)
    theirs = ref_frame(ref("diag_fig1")["modindices_power"])
    m = merged(ours, theirs)
    for col in ("mi", "epc", "sepc_all", "delta", "ncp", "power"):
        close(m[col], m[f"{col}_ref"])
    assert (m["decision"] == m["decision_ref"]).all()
    assert set(m["decision"]) >= {"(i)", "**(m)**", "(nm)", "epc:nm"}  # four of the five occur here


def test_modindices_multigroup_free_remove():
    """Metric invariance by school with free.remove = FALSE: the model's free parameters
    (N g^2 / I_kk, nonzero for the equality-constrained loadings) and the latent means."""
    ours = fit("metric").modindices(sort=False, free_remove=False)
    theirs = pd.DataFrame(ref("diag_hs_mg")["metric"]["modindices"])
    assert len(ours) == len(theirs) == 174
    m = merged(ours, theirs)
    close(m["mi"], m["mi_ref"])
    close(m["epc"], m["epc_ref"])
    # at the optimum a free parameter's EPC is ~0 and its sign (hence a variance's SEPC
    # sign) is rounding noise: compare those in absolute value
    zero = m["epc_ref"].abs() < 1e-5
    for col in ("sepc_lv", "sepc_all", "sepc_nox"):
        close(m.loc[~zero, col], m.loc[~zero, f"{col}_ref"])
        close(m.loc[zero, col].abs(), m.loc[zero, f"{col}_ref"].abs())
    loaded = m[(m.op == "=~") & (m.lhs == "visual") & (m.rhs == "x2")]
    assert (loaded["mi"] > 0.1).all()  # a constrained loading: releasing it would gain
    default = fit("metric").modindices(sort=False)
    m = merged(default, pd.DataFrame(ref("diag_hs_mg")["metric"]["modindices_default"]))
    close(m["mi"], m["mi_ref"])
    close(m["sepc_all"], m["sepc_all_ref"])


@pytest.mark.parametrize("key", ["modindices", "modindices_mlr_complete"])
def test_modindices_fiml_and_mlr(key):
    """FIML (the expected information over the missing-data patterns) and MLR (the same
    indices as ML: lavaan uses the expected information whatever the fit's)."""
    res = fit("fiml") if key == "modindices" else asymtrust.fit(ref("diag_hs_fiml")["model"], hs(), estimator="MLR")
    if key == "modindices":
        assert res.fit_indices["chisq"] == pytest.approx(ref("diag_hs_fiml")["chisq"], rel=1e-7)
    ours = res.modindices(sort=False)
    theirs = ref_frame(ref("diag_hs_fiml")[key])
    assert len(ours) == len(theirs)
    m = merged(ours, theirs)
    for col in ("mi", "epc", "sepc_lv", "sepc_all", "sepc_nox"):
        close(m[col], m[f"{col}_ref"])


# ----------------------------------------------------------------------------- residuals
RES_TYPES = [("raw", "raw"), ("cor", "cor"), ("cor.bollen", "cor_bollen"), ("cor.bentler", "cor_bentler")]
SUMMARY_ROWS = ["{n}", "{n}_se", "{n}_exactfit_z", "{n}_exactfit_pvalue", "u{n}", "u{n}_se", "u{n}_ci_lower",
                "u{n}_ci_upper", "u{n}_closefit_h0_value", "u{n}_closefit_z", "u{n}_closefit_pvalue"]


def _check_residuals(res, refs: dict, groups: list, types=RES_TYPES) -> None:
    for typ, key in types:
        out = res.residuals(type=typ)
        name = {"raw": "rmr", "cor.bentler": "srmr"}.get(typ, "crmr")
        for g, gname in enumerate(groups):
            r = refs[key][gname] if isinstance(refs[key], dict) else refs[key][g]
            o = out[g]
            assert list(o["cov"].columns) == r["names"]
            for part in ("cov", "cov_z", "cov_se", "mean", "mean_z", "mean_se"):
                if part in r:
                    close(o[part], r[part], rtol=0)
            assert list(o["summary"].index) == [s.format(n=name) for s in SUMMARY_ROWS]
            # lavaan 0.6-14 spells one row "ucrmr.cilupper"; asymtrust names it as the others
            rows = [x.replace(".", "_").replace("cilupper", "ci_upper") for x in r["summary"]["rows"]]
            assert rows == list(o["summary"].index)
            theirs = pd.DataFrame(r["summary"]["table"])
            assert list(theirs.columns) == list(o["summary"].columns)
            close(o["summary"].to_numpy(), theirs.to_numpy(), rtol=0)


def test_residuals_fig1_each_type():
    _check_residuals(fit("fig1"), ref("diag_fig1")["residuals"], [0])


def test_residuals_multigroup_with_means():
    _check_residuals(fit("scalar"), ref("diag_hs_mg")["scalar"]["residuals"], ["Pasteur", "Grant-White"])


def test_residuals_mlr():
    """MLR: the ADF (fourth-moment) ACOV of the sample moments and the observed h1
    information at the implied moments (lavaan's robust h1 acov); with and without means."""
    res = asymtrust.fit(ref("diag_hs_fiml")["model"], hs(), estimator="MLR")
    _check_residuals(res, ref("diag_hs_fiml")["residuals_mlr_complete"], [0], types=RES_TYPES[2:])
    res = asymtrust.fit(ref("diag_hs_mg")["model"], hs(), group="school", estimator="MLR",
                        group_equal=("loadings", "intercepts"))
    _check_residuals(res, ref("diag_hs_mg")["scalar"]["residuals_mlr"], ["Pasteur", "Grant-White"])


def test_residuals_refusals():
    with pytest.raises(OptionError, match="type"):
        fit("fig1").residuals(type="normalized")
    with pytest.raises(OptionError, match="fixed-x"):
        fit("hsx").residuals()
    raw = fit("hsx").residuals(type="raw", se=False)[0]["cov"]
    close(raw.to_numpy(), (fit("hsx").sample[0]["cov"] - fit("hsx").implied[0]["cov"]).to_numpy(), rtol=0)


# ----------------------------------------------------------------------------- score tests
def _score_uni(ours, theirs) -> None:
    theirs = pd.DataFrame(theirs)
    assert list(ours.lhs) == list(theirs.lhs) and list(ours.rhs) == list(theirs.rhs)
    close(ours["x2"], theirs["X2"], atol=0)
    close(ours["p_value"], theirs["p_value"], atol=1e-6)


def test_score_test_after_metric_invariance():
    st = fit("metric").score_test(cumulative=True)
    r = ref("diag_hs_mg")["metric"]
    assert st.total["x2"] == pytest.approx(r["score_total"]["X2"], rel=1e-3)
    assert st.total["df"] == r["score_total"]["df"]
    assert st.total["p_value"] == pytest.approx(r["score_total"]["p.value"], rel=1e-3)
    _score_uni(st.uni, r["score_uni"])
    # the two parameters each constraint ties, by name and group
    first = st.uni.iloc[0]
    assert (first.lhs, first.rhs) == (".p2.", ".p38.")
    assert (first.lhs_parameter, first.lhs_group, first.rhs_parameter, first.rhs_group) == \
        ("visual =~ x2", 1, "visual =~ x2", 2)
    _score_uni(st.cumulative, r["score_cumulative"])
    assert list(st.cumulative["df"]) == [float(d) for d in pd.DataFrame(r["score_cumulative"])["df"]]
    m = merged(st.epc, pd.DataFrame(r["score_epc"]))
    for col in ("est", "epc", "epv", "sepc_lv", "sepc_all", "sepc_nox"):
        close(m[col], m[f"{col}_ref"])


def test_score_test_after_scalar_invariance():
    r = ref("diag_hs_mg")["scalar"]
    st = fit("scalar").score_test()
    assert st.total["x2"] == pytest.approx(r["score_total"]["X2"], rel=1e-3)
    assert st.total["df"] == r["score_total"]["df"] == 15
    _score_uni(st.uni, r["score_uni"])
    # the EPC of the two tied parameters when one constraint alone is released
    for one in r["release_one_epc"]:
        row = st.uni.iloc[one["release"] - 1]
        epc = pd.DataFrame(one["epc"]).set_index("plabel")["epc"]
        close([row.epc_lhs, row.epc_rhs], [epc[row.lhs], epc[row.rhs]])
    part = fit("scalar").score_test(release=[7, 8, 9])
    assert part.total["x2"] == pytest.approx(r["release_7_9"]["total"]["X2"], rel=1e-3)
    _score_uni(part.uni, r["release_7_9"]["uni"])
    # the largest: an intercept of the speed/visual items differs between the schools
    top = st.uni.sort_values("x2").iloc[-1]
    assert top.lhs_parameter.endswith("~1") and top.lhs_group == 1 and top.rhs_group == 2


def test_score_test_and_modindices_with_user_constraints():
    """Labelled constraints written by the user, linear with a constant factor
    (``a == b``, ``c == 1.2*d``): lavTestScore as lavaan prints it, modindices with them."""
    r = ref("diag_hs_user")
    res = asymtrust.fit(r["model"], hs())
    assert res.fit_indices["chisq"] == pytest.approx(r["chisq"], rel=1e-7)
    st = res.score_test()
    assert st.total["x2"] == pytest.approx(r["score_total"]["X2"], rel=1e-3)
    _score_uni(st.uni, r["score_uni"])
    assert list(st.uni.lhs_parameter) == ["visual =~ x2", "textual =~ x5"]
    m = merged(res.modindices(sort=False, free_remove=False), ref_frame(r["modindices"]))
    for col in ("mi", "epc"):
        close(m[col], m[f"{col}_ref"])


def test_score_test_refusals():
    with pytest.raises(OptionError, match="no equality constraints"):
        fit("fig1").score_test()
    with pytest.raises(OptionError, match="release"):
        fit("metric").score_test(release=[99])


# ----------------------------------------------------------------------------- Wald
def test_wald_matches_lavaan():
    res = fit("fig1_wald")
    for case in ref("diag_fig1_wald")["wald"]:
        w = res.wald(case["constraints"])
        assert w["stat"] == pytest.approx(case["stat"], rel=1e-3), case["constraints"]
        assert w["df"] == case["df"]
        assert w["p_value"] == pytest.approx(case["p_value"], rel=1e-3, abs=1e-12)


def test_wald_refusals():
    res = fit("fig1_wald")
    with pytest.raises(SyntaxModelError, match="lhs == rhs"):
        res.wald("a1 > 0")
    with pytest.raises(SyntaxModelError, match="empty"):
        res.wald(" ; ")
    with pytest.raises(Exception, match="zz"):
        res.wald("zz == 0")


# ----------------------------------------------------------------------------- factor scores
@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_predict_complete_data(method):
    r = ref("diag_fig1")["predict"][method][0]
    ours = fit("fig1").predict(method)
    close(ours[r["names"]].to_numpy(), np.array(r["scores"]), rtol=0)
    again = fit("fig1").predict(method, newdata=bcf())
    close(again[r["names"]].to_numpy(), np.array(r["scores"]), rtol=0)


@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_predict_per_group(method):
    res = fit("scalar")
    ours = res.predict(method)
    refs = ref("diag_hs_mg")["scalar"]["predict"][method]
    for g, label in enumerate(res.group_labels):
        r = refs[g] if isinstance(refs, list) else refs[label]
        close(ours.loc[ours.group == label, r["names"]].to_numpy(), np.array(r["scores"]), rtol=0)
    # with newdata, rows come back in the data's order, each scored with its own group
    nd = res.predict(method, newdata=hs())
    assert list(nd.index) == list(hs().index)
    assert (nd["group"] == hs()["school"]).all()


@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_predict_fiml(method):
    r = ref("diag_hs_fiml")["predict"][method][0]
    ours = fit("fiml").predict(method, newdata=hs_masked())
    close(ours[r["names"]].to_numpy(), np.array(r["scores"], float), rtol=0)
    with pytest.raises(OptionError, match="newdata"):
        fit("fiml").predict(method)


def test_predict_refusals():
    with pytest.raises(OptionError, match="method"):
        fit("fig1").predict("ebm")
    # models with observed covariates (fit("hsx")) are scored now: tests/test_predict_extra.py
    from asymtrust.exceptions import DataError

    with pytest.raises(DataError, match="rol1"):
        fit("fig1").predict(newdata=bcf().drop(columns="rol1"))


# ----------------------------------------------------------------------------- tables, CLI, report
def test_misfit_summary_tables():
    from asymtrust.engine.diagnostics import misfit_summary

    out = misfit_summary(fit("scalar"), top=5)
    mi = fit("scalar").modindices().head(5)
    pd.testing.assert_frame_equal(out["modindices"], mi)
    z = [np.asarray(g["cov_z"]) for g in fit("scalar").residuals()]
    worst = max(abs(zz[np.tril_indices(9, -1)]).max() for zz in z)
    assert abs(out["residuals"]["z"].iloc[0]) == pytest.approx(worst)
    assert out["score_tests"]["x2"].iloc[0] == pytest.approx(fit("scalar").score_test().uni["x2"].max())
    assert misfit_summary(fit("fig1"))["score_tests"] is None  # no equality constraints


def test_cli_diagnose(capsys, tmp_path):
    from asymtrust.cli import main

    code = main(["diagnose", "hs1939", "--spec", ref("diag_hs_mg")["model"], "--group", "school",
                 "--group-equal", "loadings", "intercepts", "--top", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Largest modification indices" in out and "Score tests of the equality constraints" in out
    top = fit("scalar").score_test().uni.sort_values("x2").iloc[-1]
    assert f"{top.x2:.3f}" in out and top.lhs in out
    code = main(["diagnose", "hs1939", "--spec", ref("diag_hs_mg")["model"], "--json", "--top", "2"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and len(doc["modindices"]) == 2 and doc["score_tests"] is None
    mi = asymtrust.fit(ref("diag_hs_mg")["model"], hs()).modindices().head(2)
    assert [r["mi"] for r in doc["modindices"]] == pytest.approx(mi["mi"].tolist())


def test_report_section_reads_the_tables():
    from types import SimpleNamespace

    from asymtrust.engine.diagnostics import misfit_summary
    from asymtrust.reporting.sections import SECTION_TITLES, TableBlock, _misfit

    assert list(SECTION_TITLES).index("misfit") == list(SECTION_TITLES).index("sem") + 1
    r = SimpleNamespace(misfit=misfit_summary(fit("fig1")), reasons={}, figures={"residuals": {}}, figure_errors={})
    sec = _misfit(r)
    assert sec.title == "Where the model misfits"
    tabs = [b.table for b in sec.blocks if isinstance(b, TableBlock)]
    top = fit("fig1").modindices().iloc[0]
    assert tabs[0]["Parameter"].iloc[0] == f"{top.lhs} {top.op} {top.rhs}" and tabs[0]["MI"].iloc[0] == top.mi
    assert any(getattr(b, "stem", "") == "residuals" for b in sec.blocks)
    missing = _misfit(SimpleNamespace(misfit=None, reasons={"misfit": "modindices under missing='fiml'"},
                                      figures={}, figure_errors={}))
    assert missing.status == "unavailable"


def test_simulate_noninvariance_options():
    from asymtrust.survey.simulate import simulate

    base = simulate("fig1_cfa", 400, seed=5, groups=["nhs", "council"])
    shifted = simulate("fig1_cfa", 400, seed=5, groups=["nhs", "council"], intercepts={"council": {"cap2": 1.0}},
                       loadings={"nhs": {"rol1": -0.3}})
    same = [c for c in base.columns if c not in ("cap2", "rol1")]
    pd.testing.assert_frame_equal(base[same], shifted[same])  # the same draws elsewhere
    c = base["sector"] == "council"
    assert shifted.loc[c, "cap2"].mean() > base.loc[c, "cap2"].mean() + 0.5
    assert (shifted.loc[~c, "cap2"] == base.loc[~c, "cap2"]).all()
    with pytest.raises(OptionError, match="zzz"):
        simulate("fig1_cfa", 10, seed=1, intercepts={"council": {"zzz": 1.0}})
    with pytest.raises(OptionError, match="army"):
        simulate("fig1_cfa", 10, seed=1, loadings={"army": {"cap2": 1.0}})


@pytest.mark.slow
def test_partial_invariance_finds_the_shifted_intercept():
    """One non-invariant intercept (cap2 in council): the search frees it and nothing else,
    with the score test that chose it, and latent means stay comparable."""
    import warnings

    from asymtrust.analysis.invariance import invariance
    from asymtrust.survey.simulate import simulate

    data = asymtrust.recode_reverse(simulate("fig1_cfa", 1200, seed=7, groups=["nhs", "council"],
                                             intercepts={"council": {"cap2": 0.5}}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = invariance("fig1_cfa", data, "sector", levels=("configural", "metric", "scalar"), partial="auto")
    part = tab.attrs["partial"]
    assert [f["parameter"] for f in part["freed"]] == ["cap2~1"]
    assert part["freed"][0]["level"] == "scalar" and "largest score test" in part["freed"][0]["reason"]
    # released only because its own score test passes the Bonferroni-corrected level
    first = part["freed"][0]
    assert "Bonferroni" in first["reason"] and first["n_candidates"] == 22
    assert first["threshold"] == pytest.approx(0.05 / 22) and first["p_value"] < first["threshold"]
    assert part["unresolved"] == [] and "Bonferroni" in part["rule"]
    assert part["holds"] == {"metric": True, "scalar": True}
    assert part["latent_means_valid"] and part["invariant_indicators"]["CapImb"] == 2
    assert list(tab["level"]) == ["configural", "metric", "scalar", "scalar (partial)"]
    assert "cap2~1" in tab["group_equal"].iloc[-1]
    # the score test that chose it is lavaan's (checked above) on the scalar fit
    scalar = asymtrust.fit(tab.attrs["syntax"], data, group="sector", group_equal=("loadings", "intercepts"))
    assert part["freed"][0]["x2"] == pytest.approx(scalar.score_test().uni["x2"].max(), rel=1e-6)
    with pytest.raises(OptionError, match="partial"):
        invariance("fig1_cfa", data, "sector", levels=("configural", "metric"), partial="yes")  # before any fit


@pytest.mark.slow
def test_partial_invariance_frees_nothing_without_a_significant_constraint():
    """Seed 49: metric invariance fails by chance (Δχ² p ≈ .025, no loading differs in the
    population) and no single loading's score test passes α/m = .05/22, so the search
    frees no loading, says that the level fails without a responsible constraint, and
    still finds the shifted intercept at the scalar level."""
    from asymtrust.analysis.invariance import invariance
    from asymtrust.survey.simulate import simulate

    data = asymtrust.recode_reverse(simulate("fig1_cfa", 1200, seed=49, groups=["nhs", "council"],
                                             intercepts={"council": {"cap2": 0.5}}))
    with pytest.warns(UserWarning, match="no single constraint is responsible"):
        tab = invariance("fig1_cfa", data, "sector", levels=("configural", "metric", "scalar"), partial="auto")
    part = tab.attrs["partial"]
    metric = tab.loc[tab["level"] == "metric"].iloc[0]
    assert metric["p_delta"] < 0.05  # the level fails ...
    assert [f["parameter"] for f in part["freed"]] == ["cap2~1"]  # ... but no loading is freed
    assert part["freed"][0]["level"] == "scalar"
    assert part["holds"] == {"metric": False, "scalar": True}
    [u] = part["unresolved"]
    assert u["level"] == "metric" and u["n_freed"] == 0 and u["parameter"].startswith("JointMgmt=~")
    assert u["threshold"] == pytest.approx(0.05 / u["n_candidates"]) and u["p_value"] >= u["threshold"]
    assert "no single constraint is responsible" in u["reason"] and "nothing was freed" in u["reason"]
    assert any("no single constraint is responsible" in w for w in tab.attrs["warnings"])
    assert "metric (partial)" not in set(tab["level"])
    assert list(tab["level"]) == ["configural", "metric", "scalar", "scalar (partial)"]
    assert "=~" not in tab["group_equal"].iloc[-1].split("free:")[1]


def test_other_estimators_are_refused_by_name():
    # the other families are checked in test_diagnostics_families.py; what lavaan itself
    # cannot compute is refused by name
    model = ref("diag_hs_mg")["model"]
    with pytest.raises(OptionError, match="ULS"):
        asymtrust.fit(model, hs(), estimator="ULS").residuals()
    with pytest.raises(OptionError, match="se=False"):
        asymtrust.fit(model, hs(), estimator="MLR", information="expected").residuals()
