"""Diagnostics and factor scores of ordered items with exogenous covariates (lavaan's
conditional.x) and of ordered items mixed with continuous indicators (issue 17).

References (``tests/reference/diagnostics/cx_cases.R``, lavaan 0.6-14): psych's bfi, the A
and C items with age and gender as fixed-x covariates, WLSMV -- the MIMIC model with labelled
loadings and paths (``cx_mimic``), the same with a direct effect C1 ~ gender (``cx_direct``,
delta and theta), the model on age in two groups with equal thresholds and loadings
(``cx_groups``, ``cx_groups_theta``), and A1-A3, C1-C3 ordered with A4, A5, C4, C5
continuous, without and with the covariates (``cx_mixed``).

Measured: modindices MI within 3.7e-4 (MIMIC), 1.6e-4 (direct), 8.5e-4 (groups), 1.7e-3
(mixed with covariates, 8e-4 relative), theta 1.7e-3 (direct) and 4.7e-3 (groups, 2.2e-4
relative), EPC/SEPC within 1.8e-4 -- lavaan's strict.exo list row for row, and in the theta
parameterization its MIs of the scale factors; lavResiduals' res.cov within 2.1e-5 (4e-7
without continuous indicators), res.int, res.th exact, res.slopes within 8e-7;
lavTestScore X2 within 1.9e-4 (4e-5 relative), EPCs within 8e-5; lavTestWald within 7.6e-4
relative (the SEs' 1.6e-4); EBM factor scores within 6.2e-4.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.engine import diagnostics as dg
from asymtrust.engine.predict import predict
from asymtrust.exceptions import OptionError

REF = Path(__file__).parent / "reference" / "diagnostics"
BFI = Path(__file__).parent / "reference" / "ordinal" / "bfi.csv"
ITEMS = [f"A{i}" for i in range(1, 6)] + [f"C{i}" for i in range(1, 6)]


def _load(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text(encoding="utf-8"))


def _data(ref: dict) -> pd.DataFrame:
    d = pd.read_csv(BFI)[ITEMS]
    return d.assign(age=np.asarray(ref["age"], float), gender=np.asarray(ref["gender"], float))


def _fit(name: str, model_key: str = "model", **kw):
    ref = _load(name)
    d = _data(ref)
    if "group" in ref:
        kw.update(group=ref["group"], group_equal=list(ref["group_equal"]))
    res = asymtrust.fit(ref[model_key], d, ordered=ref["items"], parameterization=ref.get("parameterization", "delta"),
                        **kw)
    return ref, d, res


@pytest.fixture(scope="module")
def mimic():
    return _fit("cx_mimic")


@pytest.fixture(scope="module")
def direct():
    return _fit("cx_direct")


@pytest.fixture(scope="module")
def groups():
    return _fit("cx_groups")


def _mi_match(res, ref, scale_rows: bool = False):
    got = dg.modindices(res, sort=False)
    want = pd.DataFrame(ref["modindices"])
    keys = ["lhs", "op", "rhs"] + (["group"] if "group" in want else [])
    assert len(got) == len(want)
    m = want.merge(got, on=keys, suffixes=("_ref", ""))
    assert len(m) == len(want)  # the same rows: lavaan's strict.exo list, NA rows dropped
    # 2e-3, or 1e-3 relative for MIs above 2
    assert np.max(np.abs(m["mi"] - m["mi_ref"]) / np.maximum(2.0, m["mi_ref"].abs())) < 1e-3
    for col in ("epc", "sepc_lv", "sepc_all", "sepc_nox"):
        assert np.max(np.abs(m[col] - m[f"{col}_ref"])) < 2e-3, col
    assert (got["op"] == "~*~").any() == scale_rows and not got["lhs"].isin(["age", "gender"]).any()


def _resid_match(res, ref, types):
    for typ in types:
        want = ref["residuals"][typ.replace(".", "_")]
        want = [want[k] for k in sorted(want)] if isinstance(want, dict) else want
        got = dg.residuals(res, type=typ, se=False)
        assert len(got) == len(want)
        for rg, w in zip(got, want):
            assert list(rg["cov"].columns) == w["names"] and list(rg["th"].index) == w["th_names"]
            assert list(rg["slopes"].columns) == w["x_names"]
            pairs = (("cov", "res_cov"), ("mean", "res_int"), ("th", "res_th"), ("slopes", "res_slopes"),
                     ("cov_x", "cov_x"), ("mean_x", "mean_x"))
            for k, wk in pairs:
                np.testing.assert_allclose(np.asarray(rg[k], float), np.asarray(w[wk], float), atol=2e-3, err_msg=k)
            assert np.max(np.abs(rg["slopes"].to_numpy())) > 5e-3  # the slopes carry misfit


def _scores_match(res, d, block):
    idx = np.asarray(block["case_idx"]) - 1
    fs = predict(res, newdata=d.iloc[idx])
    assert list(fs.columns) == block["names"]
    np.testing.assert_allclose(fs.to_numpy(), np.asarray(block["scores"], float), atol=2e-3)


def test_mimic_modindices_residuals_wald_predict_match_lavaan(mimic):
    ref, d, res = mimic
    assert abs(res.fit_indices["chisq"] / ref["chisq"] - 1) < 1e-6
    _mi_match(res, ref)
    _resid_match(res, ref, ["raw", "cor.bentler", "cor.bollen"])
    for w in ref["wald"]:
        got = dg.wald(res, w["constraints"])
        assert got["df"] == w["df"] and abs(got["stat"] / w["stat"] - 1) < 1e-3, w["constraints"]
    _scores_match(res, d, ref["predict"])


def test_direct_effect_modindices_residuals_predict_match_lavaan(direct):
    ref, d, res = direct
    _mi_match(res, ref)
    _resid_match(res, ref, ["cor.bentler"])
    _scores_match(res, d, ref["predict"])


def test_theta_direct_effect_modindices_predict_match_lavaan():
    # lavaan lists MIs of the scale factors here (its computeDelta differentiates a freed
    # '~*~' as if it moved the thresholds and slopes), unlike without covariates (NA)
    ref, d, res = _fit("cx_direct_theta")
    _mi_match(res, ref, scale_rows=True)
    _scores_match(res, d, ref["predict"])


def test_groups_score_test_modindices_residuals_wald_predict_match_lavaan(groups):
    ref, d, res = groups
    _score_match(dg.score_test(res), ref)
    _mi_match(res, ref)
    _resid_match(res, ref, ["cor.bentler"])
    for w in ref["wald"]:
        got = dg.wald(res, w["constraints"])
        assert abs(got["stat"] / w["stat"] - 1) < 1e-3, w["constraints"]
    for key in sorted(ref["predict"]):  # lavaan's groups "1", "2" (gender)
        fs = predict(res, newdata=d.iloc[np.asarray(ref["predict_case_idx"][key]) - 1])
        assert (fs["group"] == res.group_labels[int(key) - 1]).all()
        np.testing.assert_allclose(fs[["A", "C"]].to_numpy(), np.asarray(ref["predict"][key], float), atol=2e-3)


def _score_match(st, ref):
    tot = ref["score"]["total"]
    assert st.total["df"] == tot["df"] and abs(st.total["x2"] / tot["X2"] - 1) < 1e-3
    uni = pd.DataFrame(ref["score"]["uni"])
    assert list(st.uni["lhs"]) == list(uni["lhs"]) and list(st.uni["rhs"]) == list(uni["rhs"])
    np.testing.assert_allclose(st.uni["x2"], uni["X2"], rtol=1e-3, atol=1e-3)
    epc = pd.DataFrame(ref["score"]["epc"])
    assert len(st.epc) == len(epc)
    for col in ("epc", "sepc_lv", "sepc_all", "sepc_nox"):
        np.testing.assert_allclose(st.epc[col].to_numpy(float), epc[col].to_numpy(float), atol=2e-3, err_msg=col)


def test_theta_groups_score_test_and_modindices_match_lavaan():
    ref, _, res = _fit("cx_groups_theta")
    _score_match(dg.score_test(res), ref)
    _mi_match(res, ref, scale_rows=True)


@pytest.mark.parametrize("model_key,block", [("model", "predict"), ("model_x", "predict_x")])
def test_mixed_ordered_and_continuous_predict_matches_lavaan(model_key, block):
    ref, d, res = _fit("cx_mixed", model_key)
    _scores_match(res, d, ref[block])
    if model_key == "model_x":  # continuous indicators given x: their variances and intercepts
        _mi_match(res, {"modindices": ref["modindices_x"]})
        _resid_match(res, {"residuals": ref["residuals_x"]}, ["raw", "cor.bentler", "cor.bollen"])


def test_residual_ses_with_covariates_refused_as_lavaan_computes_none(mimic):
    _, _, res = mimic
    with pytest.raises(OptionError, match="conditional.x"):
        dg.residuals(res)  # se=True
    summary = dg.misfit_summary(res, top=5)  # falls back to the residuals without z
    assert any("conditional.x" in n for n in summary["notes"]) and len(summary["residuals"]) == 5
