"""lavaan 0.6-14's defaults and conventions (issue 14), each against a lavaan number.

Two sources of lavaan's numbers:

* the stored harness references (``tests/reference/lavaan-check/<case>.json``, run through
  ``scripts/lavaan_check.py`` exactly as ``tests/test_lavaan_check.py`` does);
* small references written by ``tests/reference/lavaan/rules/rules_cases.R`` into
  ``tests/reference/lavaan/rules/rules.json`` (with the CSVs it wrote beside it).

Tolerances are the issue's: estimates and SEs 2e-3 (1e-3 relative for large values),
chi-square 1e-3 relative, df and npar exact, other indices 2e-3.
"""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.engine import indices as ix
from asymtrust.exceptions import AsymtrustError, OptionError
from asymtrust.library.partable import build_partable

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "tests" / "reference" / "lavaan" / "rules"
REF = json.loads((RULES / "rules.json").read_text(encoding="utf-8"))
HS = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"

_spec = importlib.util.spec_from_file_location("lavaan_check", ROOT / "scripts" / "lavaan_check.py")
lc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lc)
CASES = {c["test"]: c for c in json.loads((lc.DATA / "cases.json").read_text(encoding="utf-8"))} \
    if (lc.DATA / "cases.json").is_file() else {}


def _run(name: str, all_indices: bool = False) -> dict:
    if not CASES:
        pytest.fail(f"the harness manifest is missing at {lc.DATA}")
    ref = json.loads((lc.REF / f"{name}.json").read_text(encoding="utf-8"))
    return lc.run_case(CASES[name], ref, all_indices=all_indices)


def _close(got, want, kind="est"):
    got, want = float(got), float(want)
    tol = 1e-3 * max(abs(want), 1.0) if kind == "chisq" else max(2e-3, 1e-3 * abs(want))
    assert abs(got - want) <= tol, (got, want)


def _se_match(res, ref, n):
    got = res.estimates["se"].to_numpy(dtype=float)[:n]
    want = np.array([np.nan if v is None else v for v in ref["se"][:n]], float)
    ok = np.isfinite(want)
    assert np.all(np.abs(got[ok] - want[ok]) <= np.maximum(2e-3, 1e-3 * np.abs(want[ok]))), (got, want)


# ----------------------------------------------------------------------------- 1. options
@pytest.mark.parametrize("option, value, words", [
    ("sampling_weights", "w", ["sampling_weights", "coming", "nested"]),
    ("test", "satorra.bentler", ["test", "coming"]),
    ("std_ov", True, ["std_ov", "does not support"]),
    ("int_ov_free", "no", ["int_ov_free", "True or False"]),
    ("no_such_option", 1, ["no_such_option", "unknown"]),
])
def test_unknown_options_are_refused_by_name(option, value, words):
    hs = asymtrust.load_dataset("hs1939")
    with pytest.raises(OptionError) as err:
        asymtrust.fit(HS, hs, **{option: value})
    msg = str(err.value)
    assert all(w in msg for w in words), msg


@pytest.mark.parametrize("option, value", [("int_ov_free", False), ("int_lv_free", True), ("auto_cov_y", False)])
def test_options_sem_overrides_are_overridden_and_reported(option, value):
    # lavaan's sem() overrides these (rules.json hs_int_sem: sem(..., int.ov.free=FALSE) still gives
    # npar 30, chisq 85.3055): fit() -- which is sem() -- does the same and says so on the result
    hs = asymtrust.load_dataset("hs1939")
    res = asymtrust.fit(HS, hs, meanstructure=True, **{option: value})
    _close(res.fit_indices["chisq"], REF["hs_int_sem"]["fit"]["chisq"], "chisq")
    assert int(res.fit_indices["npar"]) == REF["hs_int_sem"]["fit"]["npar"]
    assert any(option in w and "overridden" in w and "sem()" in w for w in res.warnings), res.warnings


def test_options_at_lavaans_sem_default_are_accepted():
    # lavaan: cfa(HS.model, HolzingerSwineford1939) chisq 85.306 (the harness's HS_cov reference)
    hs = asymtrust.load_dataset("hs1939")
    res = asymtrust.fit(HS, hs, int_ov_free=True, int_lv_free=False, auto_cov_y=True, orthogonal=False,
                        ordered=None, cluster=None, parameterization="default", test="default", warn=False)
    _close(res.fit_indices["chisq"], 85.3055217699727, "chisq")


def test_harness_case_with_sem_overridden_options_matches():
    # badscale: sem(..., int.ov.free=FALSE, int.lv.free=TRUE, auto.cov.y=FALSE) -- options sem()
    # overrides -- on badly scaled data (variances 2e4 against 2.5): every estimate and SE as lavaan
    out = _run("badscale")
    assert out["cls"] == "match", out


@pytest.mark.parametrize("syntax, opts, key", [
    (HS, dict(meanstructure=True, int_ov_free=False, int_lv_free=True), "hs_int"),
    ("y1 ~ x1 + x2; y5 ~ x1 + x3", dict(auto_cov_y=False), "pd_nocovy"),
    ("y1 ~ x1 + x2; y5 ~ x1 + x3", dict(auto_cov_y=True), "pd_covy"),
])
def test_partable_honours_lavaans_int_and_auto_cov_y_options(syntax, opts, key):
    # lavaan() (rules.json): int.ov.free=FALSE + int.lv.free=TRUE: npar 24, df 30;
    # auto.cov.y=FALSE: npar 6, df 3 (TRUE: npar 7, df 2)
    from asymtrust.engine.compile import compile_model

    pt = build_partable(syntax, **opts)
    comp = compile_model(pt, 1)
    assert (int(comp.npar), int(comp.df)) == (REF[key]["fit"]["npar"], REF[key]["fit"]["df"])


# ----------------------------------------------------------------------------- 2. sample_cov
@pytest.mark.parametrize("name", ["HS_cov", "whalen_cov", "HS_cov_multiple", "HS_ML_nodata1", "HS_ML_nodata2"])
def test_sample_cov_cases_match_lavaan(name):
    # e.g. HS_cov: lavaan x2 ~~ x2 = 1.13384 (divisor-N reading gave 1.13762);
    # whalen_cov: macroalgae ~~ macroalgae = 3.34035; nodata: start values, npar 21 / 42
    out = _run(name)
    assert out["cls"] == "match", out
    assert out["n_compared"] > 0


@pytest.mark.parametrize("rescale, key", [(True, "hs_cov_rescale"), ("default", "hs_cov_rescale"),
                                          (False, "hs_cov_norescale")])
def test_sample_cov_rescale(rescale, key):
    hs = asymtrust.load_dataset("hs1939")
    S = hs[[f"x{i}" for i in range(1, 10)]].cov()  # the unbiased matrix, as R's cov()
    res = asymtrust.fit(HS, sample_cov=S, sample_nobs=301, sample_cov_rescale=rescale)
    ref = REF[key]
    _close(res.fit_indices["chisq"], ref["fit"]["chisq"], "chisq")  # 85.3055
    est = res.estimates["est"].to_numpy(dtype=float)[:24]
    assert np.allclose(est, ref["est"][:24], atol=2e-3)
    _se_match(res, ref, 24)  # visual =~ x2: .09967 (rescaled) vs .09967 (as given)


def test_nodata_returns_start_values():
    # lavaan: sem(HS.model) without data: npar 21, loadings and variances 1, covariances 0
    res = asymtrust.fit(HS)
    assert not res.converged and res.nobs == [0]
    assert int(res.fit_indices["npar"]) == 21
    est = res.estimates
    assert (est.loc[est["op"] == "=~", "est"] == 1).all()
    cov = est[(est["op"] == "~~") & (est["lhs"] != est["rhs"])]
    assert (cov["est"] == 0).all()


def test_sample_cov_needs_sample_nobs():
    hs = asymtrust.load_dataset("hs1939")
    with pytest.raises(OptionError, match="sample_nobs"):
        asymtrust.fit(HS, sample_cov=hs[[f"x{i}" for i in range(1, 10)]].cov())


# ----------------------------------------------------------------------------- 3. single indicators
def test_single_indicator_rule_with_a_latent_indicator():
    # lavaan (harness parse_testWISCVPE): lv0 ~~ lv0 fixed at 0 (lv0 is the only indicator of G0)
    assert _run("parse_testWISCVPE")["cls"] == "match"
    pt = build_partable("f1 =~ x1 + x2 + x3\ng =~ 1*f1")
    t = pt.table
    row = t[(t["lhs"] == "f1") & (t["op"] == "~~") & (t["rhs"] == "f1")].iloc[0]
    assert row["free"] == 0 and row["ustart"] == 0.0


def test_single_indicator_rule_skips_an_indicator_of_another_latent():
    # lavaan: with f1 =~ x1+x2+x3+x4; e1 =~ 1*x1, x1 ~~ x1 stays free (parse_YR_2024SEP23: T1 ~~ T1 free)
    pt = build_partable("f1 =~ x1 + x2 + x3 + x4\ne1 =~ 1*x1")
    t = pt.table
    assert t[(t["lhs"] == "x1") & (t["op"] == "~~") & (t["rhs"] == "x1")].iloc[0]["free"] > 0
    out = _run("parse_YR_2024SEP23")
    assert not any("free/fixed differ" in d for d in out.get("all_diffs", [])), out


# ----------------------------------------------------------------------------- 4. indices at df = 0
@pytest.mark.parametrize("name", ["social_base", "social_missml"])
def test_every_index_at_df0_matches_lavaan(name):
    # lavaan at df = 0: rfi = agfi = nfi = ifi = rni = 1, pnfi = 0, cn_05 = cn_01 = NA
    out = _run(name, all_indices=True)
    assert out["cls"] == "match", out


def test_scaled_indices_at_df0():
    # lavaan (harness hsbmis21, MLR + missing="ml", df = 0): chisq.scaled 0, scaling factor NA,
    # cfi/tli/nfi/ifi/rni/rfi.scaled 1, pnfi.scaled 0, rmsea.scaled and its CI NA,
    # baseline.chisq.scaling.factor 1.1008 (the fixed-x block left out of H1)
    hsb = pd.read_csv(lc.DATA / "hsbmis2.csv")
    fi = asymtrust.fit("write ~ female + read + math", hsb, estimator="MLR", missing="ml").fit_indices
    assert fi["chisq_scaled"] == pytest.approx(0.0, abs=1e-8)
    assert math.isnan(fi["chisq_scaling_factor"])
    for k in ("cfi_scaled", "tli_scaled", "nfi_scaled", "ifi_scaled", "rni_scaled", "rfi_scaled", "rfi", "agfi"):
        assert fi[k] == pytest.approx(1.0), k
    assert fi["pnfi_scaled"] == pytest.approx(0.0, abs=1e-8)
    for k in ("rmsea_scaled", "rmsea_ci_lower_scaled", "rmsea_ci_upper_scaled"):
        assert math.isnan(fi[k]), k
    _close(fi["baseline_chisq_scaling_factor"], 1.10080)
    _close(fi["baseline_chisq_scaled"], 43.5689197150314, "chisq")


def test_nfi_rfi_na_when_model_df_exceeds_baseline_df():
    # lavaan's lav_fit_nfi / lav_fit_rfi: NA when df > df.null; lav_fit_ifi: 1 when X2.null < df
    out = ix.other_incremental(chisq=12.0, df=5.0, chisq0=20.0, df0=3.0)
    assert math.isnan(out["nfi"]) and math.isnan(out["rfi"])
    assert out["pnfi"] == pytest.approx(5.0 / 3.0 * 8.0 / 20.0)
    assert ix.other_incremental(chisq=1.0, df=5.0, chisq0=4.0, df0=6.0)["ifi"] == 1.0


def test_robust_indices_with_fixed_x_under_fiml():
    # lavaan 0.6-14 (rules.json hs_fiml_x): cfi.robust .86108, tli.robust .72215, rmsea.robust .11680
    d = pd.read_csv(RULES / "hs_missing_x.csv")
    for est, key in (("ML", "hs_fiml_x"), ("MLR", "hs_fiml_mlr_x")):
        fi = asymtrust.fit("visual =~ x1 + x2 + x3 + x5; visual ~ ageyr", d, missing="ml", estimator=est).fit_indices
        ref = REF[key]["fit"]
        for k in ("cfi.robust", "tli.robust", "rmsea.robust", "chisq.scaling.factor", "baseline.chisq.scaling.factor"):
            if k in ref:
                _close(fi[k.replace(".", "_")], ref[k])


def test_mlr_scaling_factor_with_a_fixed_x_covariate():
    # lavaan (rules.json hs_mlr_x): chisq.scaling.factor .99958, baseline 1.05828, cfi.robust .99388
    hs = asymtrust.load_dataset("hs1939")
    fi = asymtrust.fit("visual =~ x1 + x2 + x3; visual ~ ageyr", hs, estimator="MLR").fit_indices
    ref = REF["hs_mlr_x"]["fit"]
    for k in ("chisq.scaling.factor", "baseline.chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust"):
        _close(fi[k.replace(".", "_")], ref[k])
    _close(fi["chisq_scaled"], ref["chisq.scaled"], "chisq")


# ----------------------------------------------------------------------------- 5. other defaults
def test_missing_ml_x_keeps_rows_with_missing_covariates():
    # lavaan: missing="ml.x" N 200 (SE write~female 1.12144); missing="ml" N 76 (1.57638)
    hsb = pd.read_csv(lc.DATA / "hsbmis2.csv")
    for miss, key in (("ml.x", "hsb_mlx"), ("ml", "hsb_ml")):
        res = asymtrust.fit("write ~ female + read + math", hsb, missing=miss)
        assert res.nobs == [REF[key]["nobs"]]
        _se_match(res, REF[key], 3)


def test_fiml_forces_the_meanstructure():
    # lavaan: missing="ml" with meanstructure=FALSE -> meanstructure TRUE, chisq 79.8078, npar 30
    d = pd.read_csv(RULES / "hs_missing.csv")
    fi = asymtrust.fit(HS, d, missing="ml", meanstructure=False).fit_indices
    ref = REF["hs_fiml_nomeans"]["fit"]
    assert int(fi["npar"]) == ref["npar"]
    _close(fi["chisq"], ref["chisq"], "chisq")


@pytest.mark.parametrize("se, key", [("robust.huber.white", "hs_huber_white"), ("robust.sem", "hs_robust_sem")])
def test_robust_se_variants_with_ml(se, key):
    # lavaan: visual =~ x2 SE .13208 (robust.huber.white: observed information) and .10329 (robust.sem)
    hs = asymtrust.load_dataset("hs1939")
    _se_match(asymtrust.fit(HS, hs, se=se), REF[key], 24)


def test_fewer_cases_than_parameters_is_a_warning():
    # lavaan fits it (N 12, npar 13): chisq 16.5523
    d = pd.read_csv(RULES / "hs_small12.csv")
    res = asymtrust.fit("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6", d)
    assert any("12 cases for 13 free parameters" in w for w in res.warnings)
    _close(res.fit_indices["chisq"], REF["hs_small"]["fit"]["chisq"], "chisq")
    est = res.estimates["est"].to_numpy(dtype=float)[:15]
    assert np.allclose(est, REF["hs_small"]["est"][:15], atol=2e-3)


def test_typed_errors_only():
    # every refusal above is an AsymtrustError (never Python's TypeError)
    hs = asymtrust.load_dataset("hs1939")
    with pytest.raises(AsymtrustError):
        asymtrust.fit(HS, hs, ordered=["x1"])


@pytest.mark.parametrize("key, kw, names", [
    ("fx_ml", dict(), ["chisq", "baseline.chisq", "baseline.df", "cfi", "rmsea"]),
    ("fx_mlr", dict(estimator="MLR"), ["chisq", "baseline.chisq", "baseline.df", "chisq.scaled",
                                       "chisq.scaling.factor", "baseline.chisq.scaling.factor", "cfi.robust",
                                       "tli.robust", "rmsea.robust"]),
    # the FIML-corrected robust indices are within the 2e-3 (cfi.robust 0.99448 vs 0.99483,
    # rmsea.robust 0.02321 vs 0.02243): a small difference with missing covariates remains
    ("fx_fiml", dict(missing="ml"), ["chisq", "baseline.chisq", "baseline.df", "cfi", "rmsea", "cfi.robust",
                                     "tli.robust", "rmsea.robust"]),
    ("fx_fiml_mlr", dict(missing="ml", estimator="MLR"), ["chisq", "baseline.chisq", "baseline.df", "chisq.scaled",
                                                          "chisq.scaling.factor", "baseline.chisq.scaling.factor"]),
])
def test_fixed_x_false_baseline_keeps_covariate_covariances_free(key, kw, names):
    # lavaan (rules.json fx_*): with fixed.x=FALSE the independence model keeps ageyr ~~ sex free:
    # ML and MLR baseline 125.036 on 9 df (ML's closed form gave 133.0 on 10 before); FIML baseline 118.237 on 9 df (MLR and FIML crashed before)
    hs = asymtrust.load_dataset("hs1939")
    data = pd.read_csv(RULES / "hs_missing_x2.csv") if "fiml" in key else hs
    fi = asymtrust.fit("visual =~ x1 + x2 + x3; visual ~ ageyr + sex", data, fixed_x=False, **kw).fit_indices
    ref = REF[key]["fit"]
    for k in names:
        if k == "baseline.df":
            assert int(fi["baseline_df"]) == ref[k]
        else:
            _close(fi[k.replace(".", "_")], ref[k], "chisq" if "chisq" in k and "factor" not in k else "est")


# ----------------------------------------------------------------------------- parameter_table()
@pytest.mark.parametrize("name", ["parse_testWISCVPE", "parse_model_WF_HOMO", "parse_h_a", "parse_testyr",
                                  "parse_mediatie", "parse_YR_OKT12_2"])
def test_parameter_table_matches_lavaans_partable(name):
    # lavaan 0.6-14's parTable(sem(model, data, do.fit=FALSE)) (harness reference): npar, df and
    # row by row the free/fixed status (e.g. parse_testWISCVPE: npar 21, df 131)
    ref = json.loads((lc.REF / f"{name}.json").read_text(encoding="utf-8"))
    s = ref.get("setup") or {}
    t = asymtrust.parameter_table(CASES[name]["model"], observed=s.get("observed") or None,
                                  ngroups=int(s.get("ngroups", 1)), group_labels=s.get("group_labels") or None)
    assert list(t.columns) == ["id", "lhs", "op", "rhs", "user", "block", "group", "free", "ustart", "exo",
                               "label", "plabel"]
    assert (t.attrs["npar"], t.attrs["df"]) == (ref["npar"], ref["df"])
    lav = lc.table(ref["partable"])
    lav = lav[lav["op"].isin(lc.PARAM_OPS)]
    mine = {lc._key(r.lhs, r.op, r.rhs, r.block): int(r.free) > 0 for r in t.itertuples(index=False)}
    for r in lav.itertuples(index=False):
        assert mine[lc._key(r.lhs, r.op, r.rhs, r.block)] == (int(r.free) > 0), (r.lhs, r.op, r.rhs)


def test_self_loading_declares_a_phantom_latent():
    # lavaan: 'ph =~ 0' is the row ph =~ ph fixed at 0 (harness parse_YR_OKT20_5: npar 19, df 9);
    # fitted (rules.json phantom): npar 15, df 6, chisq 24.3613, information singular as in lavaan
    assert _run("parse_YR_OKT20_5")["cls"] == "match"
    hs = asymtrust.load_dataset("hs1939")
    res = asymtrust.fit("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~ p1*ph\ntextual ~ p2*ph\n"
                        "ph =~ 0\nph ~~ 1*ph", hs)
    ref = REF["phantom"]
    assert (int(res.fit_indices["npar"]), int(res.fit_indices["df"])) == (ref["fit"]["npar"], ref["fit"]["df"])
    _close(res.fit_indices["chisq"], ref["fit"]["chisq"], "chisq")
    est = res.estimates.set_index(["lhs", "op", "rhs"])["est"]
    for lhs, op, rhs, v in zip(ref["lhs"], ref["op"], ref["rhs"], ref["est"]):
        if op in ("=~", "~", "~~"):
            _close(est.loc[(lhs, op, rhs)], v)


@pytest.mark.parametrize("name", ["parse_YR_OKT11_1", "parse_YR_OKT11_5", "parse_YR_OKT18_5", "parse_YR_OKT18_7"])
def test_label_naming_another_parameter_makes_them_equal(name):
    # lavaan: "f1=~x2"*x3 and equal("dem60=~y2")*y6 tie the two parameters (an == row); a row the
    # user labelled goes by its label only (parse_YR_OKT11_5: npar 32, no tie to the labelled row)
    out = _run(name)
    assert out["cls"] == "match", out


def test_equal_modifier_fits_as_shared_labels():
    # lavaan (harness pol_dem_ml, labels a, b, c shared by dem60 and dem65): chisq 40.179, df 38
    ref = json.loads((lc.REF / "pol_dem_ml.json").read_text(encoding="utf-8"))["fit_measures"]
    pd_ = pd.read_csv(lc.DATA / "PoliticalDemocracy.csv")
    model = """ind60 =~ x1 + x2 + x3
    dem60 =~ y1 + y2 + y3 + y4
    dem65 =~ y5 + equal("dem60=~y2")*y6 + equal("dem60=~y3")*y7 + equal("dem60=~y4")*y8
    dem60 ~ ind60
    dem65 ~ ind60 + dem60
    y1 ~~ y5
    y2 ~~ y4 + y6
    y3 ~~ y7
    y4 ~~ y8
    y6 ~~ y8"""
    fi = asymtrust.fit(model, pd_).fit_indices
    assert (int(fi["npar"]), int(fi["df"])) == (ref["npar"], ref["df"])
    _close(fi["chisq"], ref["chisq"], "chisq")


def test_rv_modifier_in_the_table_and_refused_in_a_fit():
    # lavaan 0.6-14 (harness parse_testrv, parse_testrvwitherror): 'y ~ rv("rvtje")*1' fixes the
    # intercept with no value and no label (npar 6, df 1); a fit would need lavaan's start value
    for name in ("parse_testrv", "parse_testrvwitherror"):
        assert _run(name)["cls"] == "match"
    pt = build_partable('m ~ a*x\ny ~ b*m + c*x + rv("rvtje") * 1')
    t = pt.table
    row = t[(t["lhs"] == "y") & (t["op"] == "~1")].iloc[0]
    assert row["free"] == 0 and math.isnan(row["ustart"]) and row["label"] == ""
    d = pd.DataFrame(np.random.default_rng(1).normal(size=(100, 3)), columns=["x", "m", "y"])
    with pytest.raises(AsymtrustError, match="rv()"):
        asymtrust.fit('m ~ a*x\ny ~ b*m + c*x + rv("rvtje") * 1', d)


# ----------------------------------------------------------------------------- interaction terms, orthogonal
def _match_rows(res, ref):
    est = res.estimates
    n = 0
    for lhs, op, rhs, e, s in zip(ref["lhs"], ref["op"], ref["rhs"], ref["est"], ref["se"]):
        if op not in ("=~", "~", "~~", "~1"):
            continue
        m = est[(est["lhs"] == lhs) & (est["op"] == op) & (est["rhs"] == rhs)]
        assert len(m) == 1, (lhs, op, rhs)
        _close(m["est"].iloc[0], e)
        if s is not None:
            _close(m["se"].iloc[0], s)
        n += 1
    assert n > 0


def test_interaction_term_is_the_product_of_two_columns():
    # lavaan (rules.json pd_interaction): sem("y1 ~ x1 + x2 + x1:x2", PoliticalDemocracy):
    # y1 ~ x1:x2 = 0.303 (SE 0.257), computed from the product of x1 and x2
    ref = REF["pd_interaction"]
    res = asymtrust.fit("y1 ~ x1 + x2 + x1:x2", asymtrust.load_dataset("poldem"))
    _match_rows(res, ref)
    assert int(res.fit_indices["npar"]) == ref["fit"]["npar"]


def test_orthogonal_fixes_the_latent_covariances_lavaan_adds():
    # lavaan (rules.json hs_orthogonal): cfa(HS.model, orthogonal = TRUE): npar 18, chisq 153.527 on 27 df
    ref = REF["hs_orthogonal"]
    res = asymtrust.fit(HS, asymtrust.load_dataset("hs1939"), orthogonal=True)
    _match_rows(res, ref)
    assert (int(res.fit_indices["npar"]), int(res.fit_indices["df"])) == (ref["fit"]["npar"], ref["fit"]["df"])
    _close(res.fit_indices["chisq"], ref["fit"]["chisq"], "chisq")
