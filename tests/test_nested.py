"""Nested data (issue 16): ICCs and cluster-robust inference for single-level models,
against lavaan 0.6-14.

References: ``tests/reference/nested/*.json``, written by ``nested_cases.R`` in that
folder from lavaan's ``Demo.twolevel`` (exported there as ``demo_twolevel.csv``; 2500
rows in 200 clusters of unequal size) and a copy with a 5% MCAR mask on y1..y6:

* ``icc_demo_y``, ``icc_demo_yx``: ``lavInspect(fit, "icc")`` of a two-level saturated
  model, and its H1 within/between covariance matrices;
* ``mlr_cfa``, ``mlr_sem``: single-level CFA and SEM (fixed-x covariates) with
  ``cluster="cluster"``, ``estimator="MLR"`` (``se="robust.cluster"``, Yuan-Bentler test);
* ``mlr_fiml_cfa``, ``mlr_fiml_sem``: the same with ``missing="ml"``;
* ``mlr_mg_cfa``: the CFA in two groups (clusters within groups);
* ``ml_cfa``, ``ml_sem``, ``ml_fiml_sem``: ``estimator="ML"`` (lavaan's default) with
  ``cluster=``, complete data and ``missing="ml"``: the same SEs, the scaled test with the
  h1 observed information;
* ``tl_cfa``, ``tl_cfa6``, ``tl_between``, ``tl_docs``, ``tl_groups`` (``twolevel_cases.R``):
  two-level ML (``level:`` blocks): every variable at both levels (just identified;
  misfitting; also with ``information="expected"``), between-only variables in the model,
  a within-only outcome, lavaan's documentation example with
  within-only and between-only fixed-x covariates, and ``group:`` with ``level:`` blocks
  and labels shared across levels and groups (lavaan-check's TwoLevel_labels model on
  its data). Estimates, SEs, std.all and every fit measure lavaan reports for them.

Tolerances (issue 16): estimates and SEs 2e-3, chi-square statistics 1e-3 relative,
indices 2e-3.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.engine.cluster import cluster_codes, cluster_sum
from asymtrust.engine.estimators.twolevel import cluster_stats, twolevel_saturated
from asymtrust.exceptions import DataError, OptionError

REF = Path(__file__).resolve().parent / "reference" / "nested"
TOL_EST, TOL_SE, TOL_CHISQ, TOL_INDEX = 2e-3, 2e-3, 1e-3, 2e-3
CHISQ = {"chisq", "baseline.chisq", "chisq.scaled", "baseline.chisq.scaled", "logl", "unrestricted.logl",
         "aic", "bic", "bic2", "fmin"}
MLR_CASES = ["mlr_cfa", "mlr_sem", "mlr_fiml_cfa", "mlr_fiml_sem", "mlr_mg_cfa", "ml_cfa", "ml_sem",
             "ml_fiml_sem"]


def _ref(case: str) -> dict:
    return json.loads((REF / f"{case}.json").read_text())


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return pd.read_csv(REF / "demo_twolevel.csv")


@pytest.fixture(scope="module")
def fits():
    cache: dict = {}

    def get(case):
        if case not in cache:
            ref = _ref(case)
            data = pd.read_csv(REF / ref["data"])
            opts = dict(ref["options"])
            if opts.get("missing") == "ml":
                opts["missing"] = "fiml"
            if opts.get("group"):
                data = _groups_data(data)
            cache[case] = (ref, asymtrust.fit(ref["model"], data, cluster=ref["cluster"], **opts))
        return cache[case]

    return get


# ----------------------------------------------------------------------------- ICC
@pytest.mark.parametrize("case", ["icc_demo_y", "icc_demo_yx"])
def test_icc_equals_lavaan(case, demo):
    ref = _ref(case)
    out = asymtrust.icc(demo, ref["cluster"], columns=ref["columns"])
    assert list(out.index) == ref["columns"]
    np.testing.assert_allclose(out["icc"].to_numpy(), [ref["icc"][c] for c in ref["columns"]], atol=TOL_INDEX)
    np.testing.assert_allclose(out["var_within"].to_numpy(), np.diag(ref["sigma_w"]), atol=TOL_EST)
    np.testing.assert_allclose(out["var_between"].to_numpy(), np.diag(ref["sigma_b"]), atol=TOL_EST)
    m = ref["average_cluster_size"]
    assert out.attrs["nclusters"] == ref["nclusters"] and out.attrs["average_cluster_size"] == pytest.approx(m)
    sizes = demo.groupby("cluster").size()
    assert (out.attrs["min_cluster_size"], out.attrs["max_cluster_size"]) == (sizes.min(), sizes.max())
    assert out.attrs["singletons"] == int((sizes == 1).sum())
    np.testing.assert_allclose(out["design_effect"], 1 + (m - 1) * out["icc"], rtol=1e-12)


def test_twolevel_saturated_matrices_equal_lavaan_h1(demo):
    ref = _ref("icc_demo_y")
    cols = ref["columns"]
    sat = twolevel_saturated(cluster_stats(demo[cols].to_numpy(float), cluster_codes(demo, "cluster"),
                                           np.arange(len(cols)), np.array([], int), cols))
    np.testing.assert_allclose(sat.sigma_w, ref["sigma_w"], atol=1e-6)
    np.testing.assert_allclose(sat.sigma_b, ref["sigma_b"], atol=1e-6)


def test_icc_default_columns_leave_between_variables_out(demo):
    out = asymtrust.icc(demo, "cluster")
    assert "cluster" not in out.index
    assert out.attrs["between_only"] == ["w1", "w2"]  # constant within clusters: no ICC, as in lavaan
    assert list(out.index) == [f"y{i}" for i in range(1, 7)] + ["x1", "x2", "x3"]
    ref = _ref("icc_demo_yx")
    np.testing.assert_allclose(out["icc"], [ref["icc"][c] for c in out.index], atol=TOL_INDEX)
    assert any("w1, w2" in w for w in out.attrs["warnings"])


def test_icc_drops_incomplete_rows_and_says_so(demo):
    d = demo.copy()
    d.loc[[0, 5], "y1"] = np.nan
    out = asymtrust.icc(d, "cluster", columns=["y1", "y2"])
    assert out.attrs["dropped"] == 2 and out.attrs["n_used"] == len(d) - 2
    assert "2 row(s)" in out.attrs["warnings"][0]


def test_icc_bad_input_is_refused_by_name(demo):
    d = demo.copy()
    d.loc[3, "cluster"] = np.nan
    with pytest.raises(DataError, match="cluster column 'cluster' has 1 missing value.*row\\(s\\) 4"):
        asymtrust.icc(d, "cluster")
    one = demo.assign(cluster=1)
    with pytest.raises(DataError, match="single cluster"):
        asymtrust.icc(one, "cluster", columns=["y1"])
    with pytest.raises(DataError, match="'nope' is not in the data"):
        asymtrust.icc(demo, "nope")
    with pytest.raises(DataError, match="column 'zz' is not in the data"):
        asymtrust.icc(demo, "cluster", columns=["zz"])
    with pytest.raises(DataError, match="no item varies within clusters"):
        asymtrust.icc(demo, "cluster", columns=["w1"])


# ----------------------------------------------------------------------------- cluster-robust MLR
def test_the_references_are_all_there():
    for case in MLR_CASES:
        ref = _ref(case)
        assert ref["lavaan"] == "0.6.14" and ref["converged"]
        assert ref["se"] == "robust.cluster" and "yuan.bentler.mplus" in ref["test"]


@pytest.mark.parametrize("case", MLR_CASES)
def test_cluster_robust_estimates_and_ses(case, fits):
    ref, res = fits(case)
    want = pd.DataFrame(ref["estimates"])
    keys = ["lhs", "op", "rhs"]
    if "group" in want:  # lavaan's group numbers
        keys.append("group")
    got = res.estimates.merge(want, on=keys, suffixes=("", "_ref"))
    assert len(got) == len(want) == len(res.estimates)  # lavaan's rows: clustered data get a meanstructure
    np.testing.assert_allclose(got["est"], got["est_ref"], atol=TOL_EST)
    np.testing.assert_allclose(got["se"], got["se_ref"], atol=TOL_SE)


@pytest.mark.parametrize("case", MLR_CASES)
def test_cluster_robust_fit_measures(case, fits):
    ref, res = fits(case)
    fi = res.fit_indices
    checked = 0
    for key, want in ref["fit"].items():
        name = key.replace(".", "_")
        if want is None or name not in fi.index:
            continue
        got = float(fi[name])
        if key in CHISQ:
            assert got == pytest.approx(want, rel=TOL_CHISQ, abs=1e-8), key
        else:
            assert got == pytest.approx(want, abs=TOL_INDEX), key
        checked += 1
    for key in ("chisq_scaled", "chisq_scaling_factor", "cfi_robust", "tli_robust", "rmsea_robust",
                "baseline_chisq_scaled", "cfi_scaled", "rmsea_scaled"):
        assert ref["fit"][key.replace("_", ".")] is not None
        assert key in fi.index
    assert checked > 40


def test_clustering_changes_the_ses_and_the_test(fits, demo):
    ref, res = fits("mlr_sem")
    plain = asymtrust.fit(ref["model"], demo, estimator="MLR", meanstructure=True)
    assert plain.fit_indices["chisq"] == pytest.approx(res.fit_indices["chisq"], rel=1e-10)
    assert not np.allclose(plain.estimates["se"], res.estimates["se"], atol=1e-3)
    assert res.options["cluster"] == "cluster"


def test_cluster_sum_is_lavaans_corrected_rowsum():
    scores = np.arange(12.0).reshape(6, 2)
    codes = np.array([3, 3, 1, 1, 1, 7])
    got = cluster_sum(scores, codes)
    sums = np.array([[4 + 6 + 8, 5 + 7 + 9], [0 + 2, 1 + 3], [10, 11]])  # clusters 1, 3, 7
    np.testing.assert_allclose(got, sums * math.sqrt(3 / 2))


# ----------------------------------------------------------------------------- refusals
CFA = "f1 =~ y1 + y2 + y3\nf2 =~ y4 + y5 + y6"


def test_cluster_column_errors_name_the_column(demo):
    d = demo.copy()
    d.loc[10, "cluster"] = np.nan
    with pytest.raises(DataError, match="cluster column 'cluster' has 1 missing value"):
        asymtrust.fit(CFA, d, cluster="cluster", estimator="MLR")
    with pytest.raises(DataError, match="single cluster"):
        asymtrust.fit(CFA, demo.assign(cluster=5), cluster="cluster", estimator="MLR")
    with pytest.raises(DataError, match="cluster column 'partnership' is not in the data"):
        asymtrust.fit(CFA, demo, cluster="partnership", estimator="MLR")


@pytest.mark.parametrize("kwargs, match", [
    ({"estimator": "MLR", "se": "standard"}, "se='standard'"),
    ({"estimator": "MLR", "se": "bootstrap"}, "se='bootstrap'"),
    ({"estimator": "GLS"}, "estimator='GLS'"),
    ({"estimator": "ULS"}, "estimator='ULS'"),
    ({}, None),  # lavaan's default estimator="ML": accepted (ml_cfa, ml_sem)
    ({"se": "standard"}, "se='standard'"),
    ({"missing": "fiml"}, None),  # estimator="ML", missing="ml": accepted (ml_fiml_sem)
    ({"estimator": "MLR", "likelihood": "wishart"}, "likelihood"),
])
def test_cluster_with_options_it_does_not_combine_with_is_refused(demo, kwargs, match):
    if match is None:
        res = asymtrust.fit(CFA, demo, cluster="cluster", **kwargs)
        assert res.options["se"] == "robust" and "chisq_scaled" in res.fit_indices.index
        return
    with pytest.raises(OptionError, match=match):
        asymtrust.fit(CFA, demo, cluster="cluster", **kwargs)


def test_cluster_with_sample_moments_is_refused(demo):
    cov = demo[["y1", "y2", "y3"]].cov()
    with pytest.raises(OptionError, match="cluster= needs the raw rows"):
        asymtrust.fit("f =~ y1 + y2 + y3", sample_cov=cov, sample_nobs=len(demo), cluster="cluster",
                      estimator="MLR")


def test_bootstrap_of_a_clustered_fit_resamples_clusters(fits):
    from asymtrust.engine.resample import bootstrap_draws

    _, res = fits("mlr_cfa")  # whole clusters are resampled: tests/test_effects_cluster.py
    assert bootstrap_draws(res, 3, seed=1).n_ok == 3


# ----------------------------------------------------------------------------- two-level SEM
TL_CASES = ["tl_cfa", "tl_cfa6", "tl_cfa6_expected", "tl_between", "tl_within", "tl_docs", "tl_defined", "tl_groups"]


def _groups_data(demo: pd.DataFrame) -> pd.DataFrame:
    """tl_groups' data: Demo.twolevel with g = "type1" for odd cluster numbers, "type2" for
    even ones (twolevel_cases.R; the data of lavaan-check's TwoLevel_labels)."""
    return demo.assign(g=np.where(demo["cluster"] % 2 == 1, "type1", "type2"))


@pytest.fixture(scope="module")
def tl_fits(demo):
    cache: dict = {}

    def get(case):
        if case not in cache:
            ref = _ref(case)
            if ref.get("group"):
                res = asymtrust.fit(ref["model"], _groups_data(demo), cluster=ref["cluster"],
                                    group=ref["group"]["column"])
            else:
                res = asymtrust.fit(ref["model"], demo, cluster=ref["cluster"], **(ref.get("options") or {}))
            cache[case] = (ref, res)
        return cache[case]

    return get


@pytest.mark.parametrize("case", TL_CASES)
def test_twolevel_estimates_ses_and_std_all(case, tl_fits):
    ref, res = tl_fits(case)
    assert ref["converged"] and res.converged and not res.warnings
    want = pd.DataFrame(ref["partable"])
    want = want[want["op"] != ":="].copy()  # := rows: test_twolevel_defined_parameters
    want["level"] = want["level"].astype(str)
    labels = ref["group"]["labels"] if ref.get("group") else [1]
    want["group"] = [labels.index(g) + 1 for g in want["group"]]
    ours = res.estimates[res.estimates["op"] != ":="]
    got = ours.merge(want, on=["lhs", "op", "rhs", "group", "level"], suffixes=("", "_ref"))
    assert len(got) == len(want) == len(ours)
    assert set(ours["level"]) == set(want["level"]) and len(set(want["level"])) == 2
    assert sorted(set(ours["group"])) == list(range(1, len(labels) + 1))
    np.testing.assert_allclose(got["est"], got["est_ref"], atol=TOL_EST)
    np.testing.assert_allclose(got["se"], got["se_ref"], atol=TOL_SE)
    got["std.all"] = pd.to_numeric(got["std.all"])
    std = got.dropna(subset=["std.all"])
    assert len(std) > 10
    np.testing.assert_allclose(std["std_all"].astype(float), std["std.all"], atol=TOL_EST)


@pytest.mark.parametrize("case", TL_CASES)
def test_twolevel_fit_measures(case, tl_fits):
    ref, res = tl_fits(case)
    fi = res.fit_indices
    for key in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "srmr_within", "srmr_between", "logl",
                "unrestricted.logl", "aic", "bic", "baseline.chisq", "baseline.df", "npar", "ntotal"):
        assert key.replace(".", "_") in fi.index, key
    checked = 0
    for key, want in ref["fit"].items():
        name = key.replace(".", "_")
        if want is None or name not in fi.index:
            continue
        got = float(fi[name])
        if key in CHISQ:
            assert got == pytest.approx(want, rel=TOL_CHISQ, abs=1e-6), key
        else:
            assert got == pytest.approx(want, abs=TOL_INDEX), key
        checked += 1
    assert checked >= 30
    missing = sorted(k for k, v in ref["fit"].items() if v is not None and k.replace(".", "_") not in fi.index)
    assert missing in ([], ["fmin"])  # lavaan's fmin of models with fixed-x covariates or groups is not reported


def test_twolevel_defined_parameters(tl_fits):
    ref, res = tl_fits("tl_defined")
    est = res.estimates.set_index(["lhs", "op"])
    assert len(ref["defined"]) == 2
    for row in ref["defined"]:
        got = est.loc[(row["lhs"], ":=")]
        assert float(got["est"]) == pytest.approx(row["est"], abs=TOL_EST)
        assert float(got["se"]) == pytest.approx(row["se"], abs=TOL_SE)


def test_twolevel_h1_equals_lavaan_h1(tl_fits):
    for case in TL_CASES:
        ref, res = tl_fits(case)
        assert res.fit_indices["unrestricted_logl"] == pytest.approx(ref["fit"]["unrestricted.logl"], abs=1e-6)


def test_twolevel_implied_moments_per_level(tl_fits):
    ref, res = tl_fits("tl_cfa6")
    for lev, name in ((0, "within"), (1, "between")):
        imp = ref["implied"][name]
        cov = res.implied[lev]["cov"].loc[imp["names"], imp["names"]].to_numpy()
        np.testing.assert_allclose(cov, imp["cov"], atol=TOL_EST)


TL = "level: 1\n  fw =~ y1 + y2 + y3\nlevel: 2\n  fb =~ y1 + y2 + y3"


def test_twolevel_bad_input_is_refused_by_name(demo):
    with pytest.raises(OptionError, match="level: blocks need cluster="):
        asymtrust.fit(TL, demo)
    with pytest.raises(OptionError, match="estimator='MLR' with missing='ml' and level: blocks"):
        asymtrust.fit(TL, demo, cluster="cluster", estimator="MLR", missing="ml")  # lavaan 0.6-14 stops
    for est in ("GLS", "ULS", "WLS"):
        with pytest.raises(OptionError, match=f"estimator='{est}' with level: blocks"):
            asymtrust.fit(TL, demo, cluster="cluster", estimator=est)
    with pytest.raises(OptionError, match="estimator='ML' with level: blocks|likelihood"):
        asymtrust.fit(TL, demo, cluster="cluster", likelihood="wishart")
    both = "level: 1\n  y1 ~ y2 + y3\nlevel: 2\n  y1 ~ y2 + y3 + w1"
    with pytest.raises(OptionError, match="fixed-x covariate 'y2' is named at both levels"):
        asymtrust.fit(both, demo, cluster="cluster")
    with pytest.raises(OptionError, match="fixed_x=False with exogenous covariates"):
        asymtrust.fit(both, demo, cluster="cluster", fixed_x=False)
    with pytest.raises(OptionError, match="se='bootstrap' with level: blocks"):
        asymtrust.fit(TL, demo, cluster="cluster", se="bootstrap")
    with pytest.raises(OptionError, match="missing='ml.x' with level: blocks"):
        asymtrust.fit(TL, demo, cluster="cluster", missing="ml.x")
    with pytest.raises(OptionError, match="group_equal/group_partial with level: blocks"):
        asymtrust.fit(_ref("tl_groups")["model"], _groups_data(demo), cluster="cluster", group="g",
                      group_equal=["loadings"])
    varies = "level: 1\n  fw =~ y1 + y2 + y3\nlevel: 2\n  fb =~ y1 + y2 + y3\n  fb ~~ y4"
    with pytest.raises(DataError, match="'y4' appears only at the between level .* varies within clusters"):
        asymtrust.fit(varies, demo, cluster="cluster")
    flat = demo.assign(y3=demo["y3"] - demo.groupby("cluster")["y3"].transform("mean"))
    with pytest.raises(DataError, match="'y3' has \\(near\\) zero variance between clusters"):
        asymtrust.fit(TL, flat, cluster="cluster")
    one = demo.assign(cluster=1)
    with pytest.raises(DataError, match="single cluster"):
        asymtrust.fit(TL, one, cluster="cluster")
    between = "level: 1\n  fw =~ y1 + y2 + y3\nlevel: 2\n  fb =~ y1 + y2 + y3\n  fb ~~ w1"
    with pytest.raises(DataError, match="'w1' has zero variance between clusters"):
        asymtrust.fit(between, demo.assign(w1=1.0), cluster="cluster")
    both = "level: 1\n  fw =~ y1 + y2 + y3 + w1\nlevel: 2\n  fb =~ y1 + y2 + y3 + w1"
    with pytest.raises(DataError, match="'w1' does not vary within clusters: it cannot be named at level 1"):
        asymtrust.fit(both, demo, cluster="cluster")


def test_twolevel_drops_incomplete_rows_and_says_so(demo):
    d = demo.copy()
    d.loc[[1, 2, 3], "y2"] = np.nan
    res = asymtrust.fit(TL, d, cluster="cluster")
    assert res.nobs == [len(d) - 3] and res.dropped == {"incomplete (listwise)": 3}
    assert any("3 rows were dropped" in w for w in res.warnings)


def test_twolevel_result_shows_levels(tl_fits):
    _, res = tl_fits("tl_groups")
    pe = res.parameter_estimates()
    assert list(pe.columns[:5]) == ["lhs", "op", "rhs", "level", "group"]
    heads = [ln for ln in res.summary().splitlines() if ln.startswith(("Group", "Level"))]
    assert heads == ["Group 1 [type1]:", "Level within:", "Level between:",
                     "Group 2 [type2]:", "Level within:", "Level between:"]
    assert res.nobs == [1000, 1500] and res.group_labels == ["type1", "type2"]  # lavaan-check's groups


def test_cluster_codes_follow_the_rows_kept(demo):
    """Listwise deletion drops rows before the scores are summed per cluster: the fit on
    data with incomplete rows equals the fit on its complete rows."""
    d = demo.copy()
    d.loc[[4, 40, 400, 1400], "y2"] = np.nan
    a = asymtrust.fit(CFA, d, cluster="cluster", estimator="MLR")
    b = asymtrust.fit(CFA, d.dropna(subset=["y2"]).reset_index(drop=True), cluster="cluster", estimator="MLR")
    assert a.dropped == {"incomplete (listwise)": 4}
    np.testing.assert_allclose(a.estimates["se"], b.estimates["se"], rtol=1e-10)
    assert a.fit_indices["chisq_scaled"] == pytest.approx(b.fit_indices["chisq_scaled"], rel=1e-10)


# ----------------------------------------------------------------------------- multilevel reliability
def test_multilevel_reliability_equals_semtools(demo):
    """semTools 0.5-6 compRelSEM(config=, shared=) on a two-level CFA with loadings equal
    across levels (ml_reliability.json, multilevel_reliability.R)."""
    ref = _ref("ml_reliability")
    res = asymtrust.fit(ref["model"], demo, cluster=ref["cluster"])
    assert res.fit_indices["chisq"] == pytest.approx(ref["fit"]["chisq"], rel=TOL_CHISQ)
    out = asymtrust.multilevel_reliability(res).set_index("construct")
    assert list(out.index) == ["f1", "f2"] and out.attrs["notes"] == []
    for ours, (block, theirs) in {"omega_w": ("config", "omega_W"), "omega_2l": ("config", "omega_2L"),
                                  "omega_b": ("shared", "omega_B"), "irr": ("shared", "IRR")}.items():
        for fn in ("f1", "f2"):
            assert out.loc[fn, ours] == pytest.approx(ref[block][theirs][fn], abs=TOL_INDEX), (ours, fn)


def test_multilevel_reliability_needs_a_two_level_fit(fits):
    _, res = fits("mlr_cfa")
    with pytest.raises(OptionError, match="needs a two-level fit"):
        asymtrust.multilevel_reliability(res)
