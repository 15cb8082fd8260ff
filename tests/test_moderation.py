"""asymtrust.moderation() and indprod(): capacity imbalance x power distance -> goodwill trust.

Reference: ``tests/reference/effects/moderation.json`` (script ``moderation_cases.R``):
semTools 0.5-6 ``indProd``; ``lm`` with ``sandwich::vcovHC(type = "HC3")``; lavaan 0.6-14
``sem(specs/fig1_moderated.lav)``; simple slopes and Johnson-Neyman boundaries computed
in R from those fits.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.exceptions import DataError, OptionError, SpecError
from asymtrust.analysis.moderation import (
    JohnsonNeyman,
    ModerationResult,
    indprod,
    jn_table,
    moderation,
)

XI = ["cap1", "cap2", "cap3"]
WI = ["pow1", "pow2", "pow3"]


@pytest.fixture(scope="module")
def ref(load_reference, repo_root):
    r = load_reference("effects/moderation.json")
    data = (repo_root / "datasets" / r["data_name"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == r["data_sha256"], "data changed: rerun moderation_cases.R"
    spec = (repo_root / "specs" / "fig1_moderated.lav").read_bytes()
    assert hashlib.sha256(spec).hexdigest() == r["latent"]["spec_sha256"], "spec changed: rerun moderation_cases.R"
    return r


@pytest.fixture(scope="module")
def bcf():
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


# ----------------------------------------------------------------------------- indprod
def test_indprod_matches_semtools(ref, bcf):
    d = bcf.copy()
    for cell in ref["indprod"]["na_cells"]:
        d.loc[d.index[cell["row"] - 1], cell["column"]] = np.nan
    out = indprod(d, XI, WI)
    names = ref["indprod"]["matched_names"]
    assert names == ["cap1.pow1", "cap2.pow2", "cap3.pow3"]
    assert list(out.columns) == list(d.columns) + names
    pd.testing.assert_frame_equal(out[list(d.columns)], d)  # the items are returned unchanged
    for n in names:
        want = _arr(ref["indprod"]["matched"][n])
        np.testing.assert_array_equal(np.isnan(out[n].to_numpy()), np.isnan(want))
        np.testing.assert_allclose(out[n].to_numpy(), want, rtol=0, atol=1e-12, equal_nan=True)
        assert abs(np.nanmean(out[n])) < 1e-12  # double mean centring
    allp = indprod(d, XI, WI, match=False)
    assert list(allp.columns[-9:]) == ref["indprod"]["all_pairs_names"]
    for n in ref["indprod"]["all_pairs_names"]:
        np.testing.assert_allclose(allp[n].to_numpy()[:50], _arr(ref["indprod"]["all_pairs_first50"][n]),
                                   rtol=0, atol=1e-12, equal_nan=True)


def test_indprod_options_and_errors(bcf):
    raw = indprod(bcf, XI[:1], WI[:1], mean_center=False, double_mc=False, names=["p"])
    np.testing.assert_array_equal(raw["p"], bcf["cap1"] * bcf["pow1"])
    again = indprod(indprod(bcf, XI, WI), XI, WI)  # recomputing replaces, never duplicates
    assert list(again.columns).count("cap1.pow1") == 1
    with pytest.raises(OptionError, match="equally many items"):
        indprod(bcf, XI, WI[:2])
    with pytest.raises(DataError, match="'pow9'"):
        indprod(bcf, XI, ["pow1", "pow2", "pow9"])
    bad = bcf.assign(pow1=bcf["pow1"].astype(str).replace("3", "three"))
    with pytest.raises(DataError, match="'pow1' is not numeric"):
        indprod(bad, XI, WI)
    with pytest.raises(OptionError, match="3 product names"):
        indprod(bcf, XI, WI, names=["a", "b"])


# ----------------------------------------------------------------------------- observed composites
def test_observed_ols_hc3_matches_r(ref, bcf):
    res = moderation(bcf, method="observed")
    obs = ref["observed"]
    assert isinstance(res, ModerationResult)
    assert res.nobs == obs["nobs"] and res.model.df_resid == obs["df_resid"]
    np.testing.assert_allclose(res.model.rsquared, obs["r_squared"], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(res.model.cov_params()), np.array(obs["vcov_hc3"]), rtol=1e-9)
    co = res.coefficients
    assert co["term"].tolist() == [c["term"] for c in obs["coefficients"]]
    for (_, got), want in zip(co.iterrows(), obs["coefficients"]):
        for g, w in (("est", "est"), ("se", "se"), ("stat", "t"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper")):
            np.testing.assert_allclose(got[g], want[w], rtol=1e-9, atol=1e-12, err_msg=f"{want['term']} {g}")
        np.testing.assert_allclose(got["pvalue"], want["pvalue"], rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose([res.w_mean, res.w_sd], [obs["w_mean"], obs["w_sd"]], rtol=1e-12)
    ss = res.simple_slopes
    assert ss["at"].tolist() == ["-1 SD", "mean", "+1 SD"]
    for col in ("w", "slope", "se", "stat", "ci_lower", "ci_upper", "pvalue"):
        np.testing.assert_allclose(ss[col], [s[col] for s in obs["simple_slopes"]], rtol=1e-8, err_msg=col)
    np.testing.assert_allclose(res.jn.boundaries, obs["jn"]["roots"], rtol=1e-8)
    assert res.jn.significant_outside is (obs["jn"]["leading"] > 0)
    jn = res.johnson_neyman
    assert jn["w"].iloc[0] == obs["jn"]["w_min"] and jn["w"].iloc[-1] == obs["jn"]["w_max"]
    assert list(jn.columns) == ["w", "slope", "se", "ci_lower", "ci_upper", "significant"]


def test_observed_covariates_enter_the_regression(bcf):
    res = moderation(bcf, method="observed", covariates=["CultDiff"])
    assert res.coefficients["term"].tolist() == ["Intercept", "CapImb", "PowDist", "CapImb:PowDist", "CultDiff"]
    import statsmodels.formula.api as smf

    comp = res.data
    c = comp - comp.mean()
    c["GoodTrust"] = comp["GoodTrust"]
    alt = smf.ols("GoodTrust ~ CapImb * PowDist + CultDiff", data=c).fit(cov_type="HC3")
    np.testing.assert_allclose(res.coefficients.set_index("term").loc["CapImb:PowDist", "se"],
                               alt.bse["CapImb:PowDist"], rtol=1e-10)


def test_observed_drops_incomplete_rows(bcf):
    d = bcf.copy()
    d.loc[d.index[:7], "gtr2"] = np.nan
    assert moderation(d, method="observed").nobs == len(d) - 7


# ----------------------------------------------------------------------------- latent interaction
def test_latent_interaction_matches_lavaan(ref, bcf):
    res = moderation(bcf, method="latent")
    lat = ref["latent"]
    assert res.interaction == "CapxPow" and res.model.converged and lat["converged"]
    np.testing.assert_allclose(res.model.fit_indices["chisq"], lat["chisq"], rtol=1e-4)
    co = res.coefficients.set_index("term")
    for r in lat["regressions"]:
        for f, g in (("est", "est"), ("se", "se"), ("z", "stat"), ("ci_lower", "ci_lower"),
                     ("ci_upper", "ci_upper"), ("std_all", "std_all")):
            assert abs(co.loc[r["rhs"], g] - r[f]) < 1e-3, (r["rhs"], f)
    np.testing.assert_allclose(res.w_sd, lat["w_sd"], atol=1e-4)
    ss = res.simple_slopes
    for col in ("slope", "se", "stat", "ci_lower", "ci_upper"):
        np.testing.assert_allclose(ss[col], [s[col] for s in lat["simple_slopes"]], atol=1e-3, err_msg=col)
    np.testing.assert_allclose(ss["w"], [s["w_centered"] for s in lat["simple_slopes"]], atol=1e-4)
    np.testing.assert_allclose(res.jn.boundaries, lat["jn"]["roots"], rtol=1e-3)
    assert res.jn.significant_outside is (lat["jn"]["leading"] > 0)
    tab = res.johnson_neyman
    np.testing.assert_allclose([tab["w"].min(), tab["w"].max()], [-3 * res.w_sd, 3 * res.w_sd])
    # the product indicators in the fitted data are semTools's
    assert {"cap1.pow1", "cap2.pow2", "cap3.pow3"} <= set(res.data.columns)
    json.dumps(res.to_dict())


def test_latent_errors(bcf):
    with pytest.raises(SpecError, match="no latent interaction"):
        moderation(bcf, spec="fig1", method="latent")
    with pytest.raises(OptionError, match="single-group"):
        moderation(bcf, method="latent", group="sector")
    with pytest.raises(OptionError, match="method"):
        moderation(bcf, method="product")
    with pytest.raises(OptionError, match="covariates"):
        moderation(bcf, method="latent", covariates=["CultDiff"])
    with pytest.raises(SpecError, match="'Nope'"):
        moderation(bcf, method="observed", x="Nope")
    with pytest.raises(OptionError, match="different"):
        moderation(bcf, method="observed", w="CapImb")


# ----------------------------------------------------------------------------- Johnson-Neyman
def test_jn_boundaries_are_where_the_band_touches_zero():
    V = np.array([[0.04, -0.01], [-0.01, 0.01]])
    jn = jn_table(0.3, 0.25, V, w_min=-6, w_max=6, n_points=241, w_name="PowDist")
    assert isinstance(jn, JohnsonNeyman) and len(jn.boundaries) == 2
    tab = jn.table
    for b in jn.boundaries:  # at a boundary one CI limit is 0
        one = jn_table(0.3, 0.25, V, w_min=b, w_max=b + 1e-9, n_points=2).table.iloc[0]
        assert min(abs(one["ci_lower"]), abs(one["ci_upper"])) < 1e-9
    inside = (tab["w"] > jn.boundaries[0]) & (tab["w"] < jn.boundaries[1])
    assert (tab.loc[inside, "significant"] != jn.significant_outside).all()
    assert (tab.loc[~inside & tab["w"].between(-6, 6), "significant"] == jn.significant_outside).all()
    assert "PowDist" in jn.region


def test_jn_always_and_never_significant():
    # with b3 != 0 the slope crosses zero somewhere, so "always" needs a known constant slope
    always = jn_table(1.0, 0.0, np.array([[0.01, 0.0], [0.0, 0.0]]), w_min=-1, w_max=1)
    assert always.boundaries == () and always.always_significant is True and always.table["significant"].all()
    never = jn_table(0.0, 0.001, np.array([[1.0, 0.0], [0.0, 1.0]]), w_min=-1, w_max=1)
    assert never.always_significant is False and not never.table["significant"].any()
    # a constant slope with an uncertain interaction: significant only near w = 0
    near = jn_table(1.0, 0.0, np.array([[0.01, 0.0], [0.0, 0.0001]]), w_min=-1, w_max=1)
    assert near.significant_outside is False and near.boundaries[0] < -1 < 1 < near.boundaries[1]
    # t critical values widen the band
    V = np.array([[0.01, 0.0], [0.0, 0.0001]])
    z = jn_table(0.3, 0.1, V, w_min=0, w_max=1, n_points=2).table
    t = jn_table(0.3, 0.1, V, w_min=0, w_max=1, n_points=2, df=10).table
    assert (t["ci_upper"] - t["ci_lower"] > z["ci_upper"] - z["ci_lower"]).all()
    with pytest.raises(OptionError):
        jn_table(0.3, 0.1, np.eye(3), w_min=0, w_max=1)
    with pytest.raises(OptionError):
        jn_table(0.3, 0.1, V, w_min=1, w_max=0)
