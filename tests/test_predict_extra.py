"""Factor scores beyond measurement models of continuous items (issue 17), against lavaan
0.6-14's ``lavPredict``: observed variables in regressions (lavaan's dummy latents), with
complete data and FIML, EBM scores of ordinal fits, and both levels of two-level fits.

References: ``tests/reference/diagnostics/predict_*.json``, made by ``predict_cases.R``
beside them (the ML fits run to reltol 1e-14, so the scores are functions of the ML
estimates). Tolerance (issue 17): factor scores within 2e-3.
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
from asymtrust.exceptions import DataError, OptionError
from r_mask import apply_r_mask

ROOT = Path(__file__).parents[1]
REF = ROOT / "tests" / "reference" / "diagnostics"
TOL = 2e-3


@functools.cache
def ref(name: str) -> dict:
    r = json.loads((REF / f"{name}.json").read_text())
    assert hashlib.md5((ROOT / r["data_file"]).read_bytes()).hexdigest() == r["data_md5"], \
        f"{r['data_file']} changed: rerun predict_cases.R"
    return r


@functools.cache
def hs() -> pd.DataFrame:
    return pd.read_csv(ROOT / "datasets" / "hs1939.csv")


def masked(r: dict) -> pd.DataFrame:
    return apply_r_mask(hs(), r["mask"]["columns"], r["mask"]["indices"])


@functools.cache
def fitted(case: str):
    r = ref(case)
    if case == "predict_hsx_fiml":
        return asymtrust.fit(r["model"], masked(r), missing="fiml")
    if case.startswith("predict_bfi"):
        return asymtrust.fit(r["model"], bfi(), ordered=r["ordered"], estimator=r["estimator"],
                             parameterization=r["parameterization"])
    return asymtrust.fit(r["model"], hs())


@functools.cache
def bfi() -> pd.DataFrame:
    return pd.read_csv(ROOT / "tests" / "reference" / "ordinal" / "bfi.csv")


def close(ours: pd.DataFrame, block: dict) -> float:
    got = ours[block["names"]].to_numpy(float)
    want = np.array(block["scores"], float)
    assert got.shape == want.shape
    diff = np.abs(got - want)
    assert np.isfinite(got).all() and diff.max() < TOL, f"max |diff| {diff.max():.3g}"
    return float(diff.max())


# ----------------------------------------------------------------------------- dummy latents
@pytest.mark.parametrize("case", ["predict_hsx", "predict_hsx_grade", "predict_hsy"])
@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_observed_variables_in_regressions(case, method):
    """Covariates (ov.x dummies), an observed outcome with covariates (grade: an ov.y dummy
    whose residual covaries with the latent outcomes) and an observed outcome alone (lavaan's
    E(y) of an ov.y dummy without covariates); only the latents are scored."""
    r = ref(case)
    res = fitted(case)
    assert abs(res.fit_indices["chisq"] - r["chisq"]) < 1e-3 * r["chisq"]
    ours = res.predict(method)
    assert list(ours.columns) == list(res.model.lv_names) == r[method]["names"]
    close(ours, r[method])
    # with newdata: the rows lavaan scored, in the data's order
    rows = np.asarray(r["rows"]) - 1
    again = res.predict(method, newdata=hs().iloc[rows])
    close(again, r[method])


@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_observed_covariates_under_fiml(method):
    r = ref("predict_hsx_fiml")
    res = fitted("predict_hsx_fiml")
    ours = res.predict(method, newdata=masked(r))
    assert len(ours) == len(r["rows"]) == len(hs())
    close(ours, r[method])


# ----------------------------------------------------------------------------- ordinal: EBM
@pytest.mark.parametrize("case", ["predict_bfi_ebm", "predict_bfi_ebm_theta"])
def test_ebm_scores_of_an_ordinal_fit(case):
    r = ref(case)
    res = fitted(case)
    ours = res.predict(newdata=bfi())  # "regression" is lavaan's EBM for ordered items
    # listwise deletion: the rows with a missing answer get NaN (lavaan leaves them out)
    assert int(ours.notna().all(axis=1).sum()) == r["nobs"]
    rows = np.asarray(r["rows"]) - 1
    close(ours.iloc[rows], r["ebm"])
    same = res.predict("ebm", newdata=bfi().iloc[rows])
    np.testing.assert_allclose(same.to_numpy(), ours.iloc[rows].to_numpy(), atol=1e-9)


def test_ebm_scores_in_two_groups_with_free_scales_and_latent_means():
    """Loadings and thresholds equal across gender: group 2 has its own scale factors
    Delta and latent means, which enter lavaan's EBM as Delta (tau - NU - Lambda E(eta))."""
    r = ref("predict_bfi_ebm_groups")
    data = bfi().assign(gender=r["gender"])
    res = asymtrust.fit(r["model"], data, ordered=r["ordered"], estimator=r["estimator"], group="gender",
                        group_equal=r["group_equal"])
    ours = res.predict(newdata=data)
    assert list(res.group_labels) == [str(x) for x in r["group_labels"]]
    for label, block in zip(res.group_labels, r["groups"]):
        assert (ours.loc[np.asarray(block["rows"]) - 1, "group"] == label).all()
        close(ours.loc[np.asarray(block["rows"]) - 1], block["ebm"])


def test_ebm_refusals_and_bad_newdata():
    res = fitted("predict_bfi_ebm")
    with pytest.raises(OptionError, match="Bartlett"):
        res.predict("bartlett", newdata=bfi())
    with pytest.raises(OptionError, match="newdata"):
        res.predict()
    bad = bfi().head(5).copy()
    bad.loc[bad.index[0], "A1"] = 9
    with pytest.raises(DataError, match="A1"):
        res.predict(newdata=bad)


# ----------------------------------------------------------------------------- two levels
@functools.cache
def demo() -> pd.DataFrame:
    return pd.read_csv(ROOT / "tests" / "reference" / "nested" / "demo_twolevel.csv")


@functools.cache
def twolevel(case: str):
    return asymtrust.fit(ref("predict_twolevel")[case]["model"], demo(), cluster="cluster")


@pytest.mark.parametrize("case", ["cfa", "sem"])
@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_two_level_scores(case, level, method):
    """Level 1: one row per case (the rows minus their cluster's expected between part);
    level 2: one row per cluster. The SEM has covariates at both levels (dummy latents)."""
    r = ref("predict_twolevel")[case][f"level{level}"][method]
    ours = twolevel(case).predict(method, level=level)
    assert len(ours) == (len(demo()) if level == 1 else demo()["cluster"].nunique())
    close(ours, r)


def test_two_level_refusals():
    res = twolevel("cfa")
    with pytest.raises(OptionError, match="level"):
        res.predict(level=3)
    with pytest.raises(OptionError, match="newdata"):
        res.predict(newdata=demo())
    with pytest.raises(OptionError, match="level"):
        fitted("predict_hsx").predict(level=2)
