"""Ordered items (issue 15): the first stage (thresholds, polychoric correlations, NACOV)
and the least-squares estimators on them, against lavaan 0.6-14.

References: tests/reference/ordinal/bfi_cases.R (psych's bfi, 25 items with 6 categories,
listwise: 2436 rows) -> bfi_lavcor.json (lavCor) and bfi_cfa_<estimator>.json (the
5-factor CFA with ordered = all items).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.engine.ordinal import bvn_cdf, first_stage
from asymtrust.exceptions import AsymtrustError, DataError, OptionError

REF = Path(__file__).parent / "reference" / "ordinal"
ITEMS = [f"{c}{i}" for c in "ACENO" for i in range(1, 6)]
# The library's syntax reader takes an indicator list that starts with 'E1' for a number
# (reported to the lead); the E items are renamed, the reference rows mapped accordingly.
RENAME = {f"E{i}": f"Ext{i}" for i in range(1, 6)}
MODEL = "\n".join(f"{f} =~ " + " + ".join(RENAME.get(f"{f}{i}", f"{f}{i}") for i in range(1, 6)) for f in "ACENO")


def _load(name: str) -> dict:
    return json.loads((REF / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(REF / "bfi.csv")


@pytest.fixture(scope="module")
def complete(bfi) -> pd.DataFrame:
    return bfi.dropna()


@pytest.fixture(scope="module")
def stage(complete):
    return first_stage(complete.to_numpy(float), list(complete.columns))


def _fit(bfi, estimator):
    return asymtrust.fit(MODEL, bfi.rename(columns=RENAME), ordered=True, estimator=estimator)  # delta


@pytest.fixture(scope="module")
def wlsmv(bfi):
    return _fit(bfi, None)  # the default with ordered=: WLSMV


# ----------------------------------------------------------------------------- first stage
def test_bivariate_normal_cdf_matches_scipy():
    from scipy.stats import multivariate_normal

    for rho in (-0.95, -0.4, 0.0, 0.3, 0.8, 0.97):
        mvn = multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
        for x, y in ((-1.2, 0.4), (0.3, 1.9), (-2.1, -0.7)):
            assert abs(bvn_cdf(x, y, rho) - mvn.cdf([x, y])) < 1e-7
    assert bvn_cdf(np.inf, 0.3, 0.5) == pytest.approx(0.6179114221889526)
    assert bvn_cdf(-np.inf, 0.3, 0.5) == 0.0


def test_thresholds_and_polychorics_match_lavcor(stage):
    ref = _load("bfi_lavcor.json")
    assert stage.nobs == ref["nobs"] == 2436
    assert stage.th_names == ref["th_names"]
    np.testing.assert_allclose(stage.th, ref["th"], atol=1e-9)
    np.testing.assert_allclose(stage.cor, np.array(ref["cor"]), atol=1e-6)  # lavaan: nlminb, rel.tol 1e-10


def test_nacov_matches_lavaan(stage):
    """The NACOV (Muthen 1984) of a WLSMV fit of the same items: diagonal and three blocks
    (thresholds, correlations, their cross covariances)."""
    ref = _load("bfi_lavcor.json")
    G = stage.nacov
    assert G.shape == (ref["nacov_dim"],) * 2 == (425, 425)
    np.testing.assert_allclose(np.diag(G), ref["nacov_diag"], rtol=1e-6)
    np.testing.assert_allclose(G[:60, :60], np.array(ref["nacov_block"]), atol=1e-7)
    np.testing.assert_allclose(G[125:165, 125:165], np.array(ref["nacov_cor_block"]), atol=1e-6)
    np.testing.assert_allclose(G[:40, 125:165], np.array(ref["nacov_cross_block"]), atol=1e-6)


def test_pairwise_first_stage_matches_lavaan(bfi):
    """missing = "pairwise": thresholds from each item's answers, correlations from each
    pair's complete rows, NACOV with the scores of missing answers zero (all 2800 rows)."""
    ref = _load("bfi_pairwise_lavcor.json")
    fs = first_stage(bfi.to_numpy(float), list(bfi.columns))
    assert fs.nobs == ref["nobs"] == 2800
    np.testing.assert_allclose(fs.th, ref["th"], atol=1e-9)
    np.testing.assert_allclose(fs.cor, np.array(ref["cor"]), atol=1e-6)
    np.testing.assert_allclose(np.diag(fs.nacov), ref["nacov_diag"], rtol=1e-6)
    np.testing.assert_allclose(fs.nacov[:60, :60], np.array(ref["nacov_block"]), atol=1e-7)
    np.testing.assert_allclose(fs.nacov[125:165, 125:165], np.array(ref["nacov_cor_block"]), atol=1e-6)
    np.testing.assert_allclose(fs.nacov[:40, 125:165], np.array(ref["nacov_cross_block"]), atol=1e-6)


def test_polychoric_api_listwise(bfi):
    ref = _load("bfi_lavcor.json")
    pc = asymtrust.polychoric(bfi)
    assert pc.nobs == 2436 and pc.n_dropped == len(bfi) - 2436
    assert list(pc.cor.columns) == ITEMS
    np.testing.assert_allclose(pc.cor.to_numpy(), np.array(ref["cor"]), atol=1e-6)
    np.testing.assert_allclose(pc.thresholds.loc[ref["th_names"]].to_numpy(), ref["th"], atol=1e-9)
    assert pc.nacov is None
    full = asymtrust.polychoric(bfi, nacov=True)
    np.testing.assert_allclose(np.diag(full.nacov.to_numpy()), ref["nacov_diag"], rtol=1e-6)
    assert full.nacov.index[0] == "A1|t1" and full.nacov.index[125] == "A1~~A2"
    sub = asymtrust.polychoric(bfi, columns=["A1", "A2", "C1"])
    assert sub.cor.shape == (3, 3) and list(sub.thresholds.index[:2]) == ["A1|t1", "A1|t2"]


# ----------------------------------------------------------------------------- bad input
def test_bad_items_are_refused_by_name():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"q1": rng.integers(1, 6, 50), "q2": rng.integers(1, 6, 50)})
    with pytest.raises(DataError, match="'q3' has 1 observed category"):
        asymtrust.polychoric(d.assign(q3=4))
    with pytest.raises(DataError, match="'q2' has a non-integer code"):
        asymtrust.polychoric(d.assign(q2=d["q2"] + 0.5))
    with pytest.raises(DataError, match="'q2' has 120 categories"):
        asymtrust.polychoric(pd.DataFrame({"q1": np.arange(120) % 5, "q2": np.arange(120)}))
    with pytest.raises(DataError, match="'q1' and 'q2' is undefined"):  # 2 x 2, two empty cells
        asymtrust.polychoric(pd.DataFrame({"q1": [0, 0, 1, 1, 1], "q2": [0, 0, 1, 1, 1]}))
    with pytest.raises(DataError, match="'qx' is not in the data"):
        asymtrust.polychoric(d, columns=["q1", "qx"])


def test_one_empty_cell_in_a_2x2_table_gets_lavaans_zero_add():
    # zero.add = c(0.5, 0), zero.keep.margins = TRUE: table [[3, 0], [2, 5]] -> [[2.5, 0.5], [2.5, 4.5]]
    d = pd.DataFrame({"a": [0] * 3 + [1] * 7, "b": [0] * 3 + [0] * 2 + [1] * 5})
    pc = asymtrust.polychoric(d)
    assert pc.zero_cell_pairs == [("a", "b")]
    r = pc.cor.loc["a", "b"]
    assert 0 < r < 0.999
    # the adjusted table's ML estimate: the likelihood score is zero at r
    from asymtrust.engine.ordinal import _cell_grids

    th_a, th_b = pc.thresholds["a|t1"], pc.thresholds["b|t1"]
    U = np.array([[-np.inf, th_a, np.inf]])
    V = np.array([[-np.inf, th_b, np.inf]])
    pi, dpi = _cell_grids(U, V, np.array([r]))
    n = np.array([[2.5, 0.5], [2.5, 4.5]])
    assert abs(np.sum(n * dpi[0] / pi[0])) < 1e-6
    np.testing.assert_allclose(pi[0], n / 10, atol=1e-8)  # a 2 x 2 table is fitted exactly


def test_fit_options_refused_by_name(bfi):
    d = bfi.rename(columns=RENAME)
    with pytest.raises(OptionError, match="parameterization must be 'delta' or 'theta'"):
        asymtrust.fit(MODEL, d, ordered=True, parameterization="gamma")
    with pytest.raises(OptionError, match="for ordered items only"):
        asymtrust.fit(MODEL, d, parameterization="theta")
    with pytest.raises(OptionError, match="estimator ML is not available for ordered items"):
        asymtrust.fit(MODEL, d, ordered=True, estimator="ML")
    with pytest.raises(OptionError, match="missing='fiml' is not available for ordered items"):
        asymtrust.fit(MODEL, d, ordered=True, missing="fiml")
    with pytest.raises(OptionError, match="missing must be 'listwise' or 'fiml', not 'pairwise'"):
        asymtrust.fit("f =~ x1 + x2 + x3", asymtrust.load_dataset("hs1939"), missing="pairwise")
    with pytest.raises(OptionError, match="fixed_x=False with ordered items and the covariate 'age'"):
        asymtrust.fit(MODEL + "\nA ~ age", d.assign(age=np.arange(len(d)) % 50 + 20.5), ordered=list(d.columns),
                      fixed_x=False)  # conditional.x needs fixed.x (tests/test_ordinal_cx.py)
    with pytest.raises(AsymtrustError):
        asymtrust.fit(MODEL, d, ordered=True, sample_cov=d.cov())
    with pytest.raises(OptionError, match="se='bootstrap' with estimator='WLSMV': use estimator='DWLS'"):
        asymtrust.fit(MODEL, d, ordered=True, se="bootstrap")  # as lavaan (tests/test_bootstrap_ordinal.py)


def test_refit_of_an_ordinal_fit_on_its_own_rows(wlsmv, bfi):
    from asymtrust.engine.refit import refit  # the bootstrap's refit (tests/test_bootstrap_ordinal.py)

    r = refit(wlsmv, bfi.rename(columns=RENAME))
    assert r.converged and np.max(np.abs(r.theta - wlsmv.theta)) < 1e-6


# ----------------------------------------------------------------------------- estimators
def _estimates_match(res, ref):
    want = pd.DataFrame(ref["estimates"]).replace(RENAME)
    got = res.estimates
    assert len(got) == len(want)
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    for col, tol in (("est", 2e-3), ("se", 2e-3), ("std_all", 2e-3)):
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < tol, col
    # measured: estimates within 2.3e-5, SEs within 3.1e-5 (all four estimators)
    assert np.max(np.abs(got["est"].to_numpy(float) - want["est"].to_numpy(float))) < 1e-4


STATS = ["chisq", "chisq.scaled", "baseline.chisq", "baseline.chisq.scaled"]
INDICES = ["df", "pvalue", "df.scaled", "pvalue.scaled", "chisq.scaling.factor", "baseline.df",
           "baseline.chisq.scaling.factor", "cfi", "tli", "cfi.scaled", "tli.scaled", "nnfi", "rfi", "nfi", "pnfi",
           "ifi", "rni", "nnfi.scaled", "rfi.scaled", "nfi.scaled", "pnfi.scaled", "ifi.scaled", "rni.scaled",
           "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue", "rmsea.notclose.pvalue", "rmsea.scaled",
           "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled", "rmsea.pvalue.scaled", "rmsea.notclose.pvalue.scaled",
           "srmr", "rmr", "rmr_nomean", "srmr_bentler", "crmr", "crmr_nomean", "gfi", "agfi", "pgfi", "mfi",
           "wrmr", "npar", "cfi.robust", "tli.robust", "nnfi.robust", "rni.robust", "rmsea.robust",
           "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "rmsea.pvalue.robust", "rmsea.notclose.pvalue.robust"]


def _fit_measures_match(res, ref):
    fi = res.fit_indices
    seen = 0
    for key in STATS + INDICES:
        if key not in ref["fit"]:
            continue
        want, got = ref["fit"][key], float(fi[key.replace(".", "_")])
        seen += 1
        if want is None:  # NA in lavaan (ULS: the p-values of the unscaled test)
            assert np.isnan(got), key
            continue
        if key in STATS:
            assert abs(got / want - 1) < 1e-3, (key, got, want)
        else:
            assert abs(got - want) < 2e-3, (key, got, want)
    assert abs(fi["cn_05"] / ref["fit"]["cn_05"] - 1) < 1e-3
    assert np.isnan(fi["aic"]) and np.isnan(fi["logl"])  # no likelihood, as lavaan
    assert seen >= 30


def test_wlsmv_matches_lavaan(wlsmv):
    ref = _load("bfi_cfa_wlsmv.json")
    assert wlsmv.converged and wlsmv.options["estimator"] == "WLSMV"
    assert wlsmv.options["ordered"] == [RENAME.get(v, v) for v in ITEMS]
    assert wlsmv.options["parameterization"] == "delta"
    assert any("364 incomplete rows" in w for w in wlsmv.warnings)
    _estimates_match(wlsmv, ref)
    _fit_measures_match(wlsmv, ref)


def test_wlsmv_table_has_lavaans_rows(wlsmv):
    est = wlsmv.estimates
    th = est[est["op"] == "|"]
    assert len(th) == 125 and list(th["rhs"][:5]) == ["t1", "t2", "t3", "t4", "t5"]
    scale = est[est["op"] == "~*~"]
    assert len(scale) == 25 and np.all(scale["est"] == 1.0)
    res = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"]) & est["lhs"].isin(["A1", "N5"])]
    assert np.all(res["se"] == 0)  # fixed by the delta rule
    r2 = wlsmv.r2[0]
    assert r2["A1"] == pytest.approx(1 - res["est"].iloc[0], abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("estimator, name", [("WLSM", "bfi_cfa_wlsm.json"), ("ULSMV", "bfi_cfa_ulsmv.json"),
                                             ("DWLS", "bfi_cfa_dwls.json")])
def test_other_estimators_match_lavaan(bfi, estimator, name):
    ref = _load(name)
    res = _fit(bfi, estimator)
    _estimates_match(res, ref)
    _fit_measures_match(res, ref)


@pytest.mark.slow
def test_theta_parameterization_matches_lavaan(bfi):
    ref = _load("bfi_cfa_wlsmv_theta.json")
    res = asymtrust.fit(MODEL, bfi.rename(columns=RENAME), ordered=True, parameterization="theta")
    _estimates_match(res, ref)  # measured: estimates within 3.3e-5, SEs within 5.4e-5
    _fit_measures_match(res, ref)
    est = res.estimates
    scale = est[est["op"] == "~*~"]
    assert scale["est"].iloc[0] == pytest.approx(0.933696950029007, abs=1e-4)  # A1 ~*~ A1: 1/sqrt(Sigma*_11)
    resid = est[(est["op"] == "~~") & (est["lhs"] == "A1") & (est["rhs"] == "A1")]
    assert float(resid["est"].iloc[0]) == 1.0


@pytest.mark.slow
def test_pairwise_wlsmv_matches_lavaan(bfi):
    ref = _load("bfi_cfa_wlsmv_pairwise.json")
    res = asymtrust.fit(MODEL, bfi.rename(columns=RENAME), ordered=True, missing="pairwise")
    assert res.nobs == [2800] and res.dropped == {}
    _estimates_match(res, ref)  # measured: estimates within 1.0e-5, SEs within 2.1e-5
    _fit_measures_match(res, ref)


@pytest.mark.slow
def test_fig1_sem_on_5_point_items_pairwise_matches_lavaan():
    """The Fig. 1 SEM (latent regressions, terminal covariances) on 5-point items with 5%
    missing answers, WLSMV with pairwise deletion (fig1_cases.R)."""
    ref = _load("fig1_wlsmv_pairwise.json")
    data = pd.read_csv(REF / "fig1_5pt.csv")
    res = asymtrust.fit("fig1", data, ordered=True, missing="pairwise")
    assert res.converged and res.nobs == [600]
    want = pd.DataFrame(ref["estimates"])
    got = res.estimates
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    for col in ("est", "se", "std_all"):  # measured: est 1.4e-6, se 8.8e-5, std.all 1.5e-6
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < 2e-3, col
    _fit_measures_match(res, ref)


# ----------------------------------------------------------------------------- small cases (small_cases.R)
@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return pd.read_csv(REF / "small_data.csv")


@pytest.mark.parametrize("name, model, items", [
    ("small_binary.json", "f =~ b1 + b2 + b3 + b4 + b5", [f"b{i}" for i in range(1, 6)]),  # binary items
    ("small_3items.json", "f =~ A1 + A2 + A3", ["A1", "A2", "A3"]),  # 6 categories, df = 0
])
def test_small_models_match_lavaan(small, name, model, items):
    ref = _load(name)
    res = asymtrust.fit(model, small, ordered=items)
    want = pd.DataFrame(ref["estimates"])
    got = res.estimates
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    for col in ("est", "se", "std_all"):
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < 2e-3, col
    fi = res.fit_indices
    assert fi["df"] == ref["fit"]["df"] and fi["npar"] == ref["fit"]["npar"]
    for key in ("cfi", "tli", "cfi.scaled", "cfi.robust", "rmsea", "rmsea.scaled", "rmsea.robust", "srmr",
                "baseline.chisq.scaled"):
        w = ref["fit"][key]
        tol = 1e-3 * abs(w) if key.startswith("baseline") else 2e-3
        assert abs(float(fi[key.replace(".", "_")]) - w) <= tol, key


def test_zero_cell_matches_lavaans_maximum(small):
    """z1 x z2 = [[891, 968], [0, 850]]: lavaan adds 0.5 to the empty cell keeping the
    margins. The maximum of that likelihood is 0.93809 (lavaan's own function from
    init.theta = 0.9); lavaan's default search from the Pearson start stops at its bound
    0.999 (recorded in the reference: cor[0][1]) -- asymtrust reports the maximum."""
    ref = _load("small_zero.json")
    pc = asymtrust.polychoric(small, columns=["z1", "z2", "z3"])
    assert pc.zero_cell_pairs == [("z1", "z2")]
    np.testing.assert_allclose(pc.thresholds.to_numpy(), ref["th"], atol=1e-9)
    assert pc.cor.loc["z1", "z2"] == pytest.approx(ref["rho_z1_z2_from_0.9"], abs=1e-6)
    assert ref["cor"][0][1] == 0.999
    cor = np.array(ref["cor"])
    assert abs(pc.cor.loc["z1", "z3"] - cor[0, 2]) < 1e-6 and abs(pc.cor.loc["z2", "z3"] - cor[1, 2]) < 1e-6
    assert pc.warnings == []  # 0.938: not (nearly) 1, unlike lavaan's boundary value


def test_near_one_correlations_are_warned(small):
    d = small[["A1", "A2"]].assign(A1b=small["A1"])  # an exact copy: r = 0.999 (the bound)
    pc = asymtrust.polychoric(d)
    assert pc.cor.loc["A1", "A1b"] == pytest.approx(0.999)
    assert any("'A1' and 'A1b' is (nearly) 1.0" in w for w in pc.warnings)


def test_items_with_different_numbers_of_categories(small):
    ref = _load("small_mixedk.json")  # b1 (2), A1 (6), z3 (2), A2 (6) categories
    pc = asymtrust.polychoric(small, columns=ref["items"])
    assert list(pc.thresholds.index) == ref["th_names"]
    np.testing.assert_allclose(pc.thresholds.to_numpy(), ref["th"], atol=1e-9)
    np.testing.assert_allclose(pc.cor.to_numpy(), np.array(ref["cor"]), atol=1e-6)


def test_pairs_newton_leaves_go_to_a_bounded_search(complete, stage, monkeypatch):
    from asymtrust.engine import ordinal

    newton = ordinal._fit_rho

    def stalled(tab, U, V, rho, **kw):
        rho, ok = newton(tab, U, V, rho, **kw)
        ok[:3] = False
        rho[:3] = 0.0
        return rho, ok

    monkeypatch.setattr(ordinal, "_fit_rho", stalled)
    fs = first_stage(complete.to_numpy(float), list(complete.columns), nacov=False)
    r, c = ordinal.pair_index(25)
    np.testing.assert_allclose(fs.cor[r[:3], c[:3]], stage.cor[r[:3], c[:3]], atol=1e-6)


# ----------------------------------------------------------------------------- groups (bfi_groups.R)
@pytest.mark.slow
@pytest.mark.parametrize("name", ["bfi_cfa_wlsmv_groups.json", "bfi_cfa_wlsmv_groups_theta.json"])
def test_two_groups_configural_matches_lavaan(bfi, name):
    ref = _load(name)
    d = bfi.rename(columns=RENAME).assign(gender=ref["gender"])
    res = asymtrust.fit(MODEL, d, ordered=[RENAME.get(v, v) for v in ITEMS], group="gender",
                        parameterization=ref["parameterization"])
    assert res.nobs == ref["nobs"] == [805, 1631] and res.group_labels == ref["group_labels"]
    want = pd.DataFrame(ref["estimates"]).replace(RENAME)
    got = res.estimates
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    np.testing.assert_array_equal(got["group"].to_numpy(), want["group"].to_numpy())
    for col in ("est", "se", "std_all"):  # measured: est 2.3e-5 (theta 3.0e-4), se 1.1e-4 (2.8e-4)
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < 2e-3, col
    _fit_measures_match(res, ref)


def test_a_category_missing_in_one_group_is_named(bfi):
    d = bfi.rename(columns=RENAME).dropna().assign(g=lambda x: np.where(np.arange(len(x)) < 1000, "a", "b"))
    d.loc[d["g"] == "b", "A1"] = d.loc[d["g"] == "b", "A1"].clip(lower=2)  # no 1 in group b
    with pytest.raises(DataError, match="'A1' has no answer in category 1 in group 2"):
        asymtrust.fit(MODEL, d, ordered=[RENAME.get(v, v) for v in ITEMS], group="g")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bfi_ladder_thresholds.json", "bfi_ladder_metric.json", "bfi_ladder_scalar.json",
                                  "bfi_ladder_metric_theta.json"])
def test_invariance_ladder_matches_lavaan(bfi, name):
    """group.equal = thresholds / + loadings / + intercepts with lavaan's identification
    (delta: free scale factors in group 2; theta: free residual variances)."""
    ref = _load(name)
    gender = _load("bfi_cfa_wlsmv_groups.json")["gender"]
    d = bfi.rename(columns=RENAME).assign(gender=gender)
    eq = [ref["group_equal"]] if isinstance(ref["group_equal"], str) else ref["group_equal"]
    res = asymtrust.fit(MODEL, d, ordered=[RENAME.get(v, v) for v in ITEMS], group="gender", group_equal=eq,
                        parameterization=ref["parameterization"])
    want = pd.DataFrame(ref["estimates"]).replace(RENAME)
    got = res.estimates
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    for col in ("est", "se", "std_all"):  # measured (delta): est 5.4e-5, se 1.1e-4, std.all 1.9e-5
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < 2e-3, col
    _fit_measures_match(res, ref)
    assert np.isnan(res.fit_indices["cfi_robust"])  # NA in lavaan: its cat-ML table drops the thresholds


@pytest.mark.slow
def test_structural_model_with_a_defined_effect_matches_lavaan(bfi):
    """Latent regressions and ind := a*b (delta-method SE from the robust.sem vcov);
    the 10 items of the model's O and N factors are not in the model (bfi_defined.R)."""
    ref = _load("bfi_sem_defined.json")
    model = ref["model"]
    for old, new in RENAME.items():
        model = model.replace(old + " ", new + " ").replace(old + "\n", new + "\n")
    res = asymtrust.fit(model, bfi.rename(columns=RENAME), ordered=[RENAME.get(v, v) for v in ref["ordered"]])
    want = pd.DataFrame(ref["estimates"]).replace(RENAME)
    got = res.estimates
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    for col in ("est", "se", "std_all"):  # measured: est 2.0e-5, se 2.8e-5 (ind: 1.0e-5), std.all 2.7e-6
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < 2e-3, col
    _fit_measures_match(res, ref)


# ----------------------------------------------------------------------------- mixed (mixed_cases.R)
def test_mixed_ordered_and_continuous_matches_lavaan():
    """Two continuous indicators with three ordered ones: -means and variances among the
    sample statistics, polyserial and Pearson correlations, the NACOV with lavaan's
    transformation to covariances; estimates, SEs and fit measures (robust ones NA, as
    lavaan's cat-ML needs every variable ordered)."""
    ref = _load("mixed_cfa.json")
    data = pd.read_csv(REF / "mixed_data.csv")
    from asymtrust.engine.ordinal import mixed_stage

    numeric = np.array([v not in ref["ordered"] for v in ref["ov"]])
    fs = mixed_stage(data[ref["ov"]].to_numpy(float), ref["ov"], numeric)
    np.testing.assert_allclose(fs.wls_obs, ref["wls_obs"], atol=1e-6)  # measured 3.6e-8
    np.testing.assert_allclose(fs.nacov, np.array(ref["nacov"]), atol=1e-5)  # measured 2.4e-7 (values up to 37)
    pc = asymtrust.polychoric(data, columns=ref["ov"], ordered=ref["ordered"], nacov=True)
    assert list(pc.nacov.index) == ref["wls_names"]  # lavaan's names and order (x1~1, A2|t1, ..., x1~~x1, ...)
    np.testing.assert_allclose(pc.nacov.to_numpy(), np.array(ref["nacov"]), atol=1e-5)
    assert list(pc.thresholds.index[:2]) == ["A2|t1", "A2|t2"] and pc.cor.loc["x1", "x1"] == 1.0
    res = asymtrust.fit(ref["model"], data, ordered=ref["ordered"])
    want = pd.DataFrame(ref["estimates"])
    got = res.estimates
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    for col in ("est", "se", "std_all"):  # measured: est 6.7e-7, se 3.8e-5, std.all 1.8e-7
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < 2e-3, col
    _fit_measures_match(res, ref)
    # lavaan: "some estimated ov variances are negative" (A5's, set by the delta rule)
    assert any("negative residual variance for ordered item A5" in w for w in res.warnings)


def test_mixed_items_in_two_groups_match_lavaan():
    ref = _load("mixed_groups.json")
    data = pd.read_csv(REF / "mixed_data.csv")
    data["g"] = np.tile([1, 2], len(data))[: len(data)]  # as mixed_cases.R: rep(1:2, length.out = n)
    res = asymtrust.fit(ref["model"], data, ordered=ref["ordered"], group="g")
    want = pd.DataFrame(ref["estimates"])
    got = res.estimates
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    for col in ("est", "se", "std_all"):  # measured: est 5.2e-6, se 1.1e-4, std.all 1.6e-6
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < 2e-3, col
    _fit_measures_match(res, ref)
    assert any("A5" in w and "group '2'" in w for w in res.warnings)


def test_mixed_items_with_pairwise_deletion_match_lavaan():
    """Means and variances from each variable's answers, Pearson correlations by ML on the
    pair's complete rows (means and variances fixed), polyserial ones on the pair's rows."""
    ref = _load("mixed_pairwise.json")
    data = pd.read_csv(REF / "mixed_data.csv")[ref["ov"]]
    n = len(data)
    for col, start, by in (("x1", 1, 7), ("A3", 3, 7), ("x2", 2, 11), ("A2", 5, 11)):  # as mixed_cases.R
        data.loc[np.arange(start - 1, n, by), col] = np.nan
    from asymtrust.engine.ordinal import mixed_stage

    numeric = np.array([v not in ref["ordered"] for v in ref["ov"]])
    fs = mixed_stage(data.to_numpy(float), ref["ov"], numeric)
    assert fs.nobs == ref["nobs"]
    np.testing.assert_allclose(fs.wls_obs, ref["wls_obs"], atol=1e-6)  # measured 7.3e-8
    np.testing.assert_allclose(fs.nacov, np.array(ref["nacov"]), atol=1e-5)  # measured 7.5e-7
    res = asymtrust.fit(ref["model"], data, ordered=ref["ordered"], missing="pairwise")
    want = pd.DataFrame(ref["estimates"])
    got = res.estimates
    np.testing.assert_array_equal(got[["lhs", "op", "rhs"]].to_numpy(), want[["lhs", "op", "rhs"]].to_numpy())
    for col in ("est", "se", "std_all"):  # measured: est 3.4e-6, se 3.8e-5, std.all 7.9e-7
        g, w = got[col].to_numpy(float), want[col].to_numpy(float)
        ok = np.isfinite(w)
        assert np.max(np.abs(g[ok] - w[ok])) < 2e-3, col
    _fit_measures_match(res, ref)
