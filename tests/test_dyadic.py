"""Dyadic data, the APIM and response surface analysis against lavaan 0.6-14 (issue 18).

References: ``tests/reference/dyadic/dyadic.json``, made by ``make_dyadic.R`` from a seeded
SYNTHETIC respondent-level data set (``dyad_respondents.csv``): the dyad means
(``dyad_means.csv``), ICC(1)/ICC(2) from ``psych::statsBy``, rwg(j) from its formula, the
RSA package's models written out in lavaan syntax as ``RSA()`` writes them and fitted with
``sem(fixed.x=TRUE, meanstructure=TRUE, estimator="MLR")`` (seven cases: pooled, variablewise
and no centering, pooled scaling, an outlier removed by Bollen & Jackman's rule and kept, FIML on
partnerships with a side missing), and the APIM on the
dyad means (ML, MLR, FIML) with its distinguishability tests (``lavTestLRT``); and
``dyadic_latent.json`` (``make_dyadic_latent.R``): the latent APIM after configural, metric and
scalar invariance across the sides. Tolerances: estimates and SEs 2e-3, chi-square 1e-3 relative.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asymtrust.analysis.dyadic import apim, dyads
from asymtrust.analysis.rsa import _rows, rsa
from asymtrust.exceptions import DataError, InsufficientDataError, OptionError

HERE = Path(__file__).parent / "reference" / "dyadic"
REF = json.loads((HERE / "dyadic.json").read_text())
RESP = pd.read_csv(HERE / "dyad_respondents.csv")
MEANS = pd.read_csv(HERE / "dyad_means.csv")
OUTLIER = pd.read_csv(HERE / "dyad_means_outlier.csv")
CONSTRUCTS = {"asym": ["asym1", "asym2", "asym3"], "goodwill": ["gw1", "gw2", "gw3"]}


def _num(v):
    return float("nan") if v in ("NA", None) else float(v)


def _close(got, want, tol=2e-3):
    want = _num(want)
    if np.isnan(want):
        return np.isnan(got)
    return abs(got - want) <= tol * max(1.0, abs(want))


# ----------------------------------------------------------------------------- RSA
@pytest.fixture(scope="module")
def rsa_fits():
    out = {}
    for case, r in REF["rsa"].items():
        data = OUTLIER if "out" in case else (MEANS if r["missing"] == "ml.x" else MEANS.dropna())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[case] = rsa(data, r["DV"], r["IV1"], r["IV2"], center=r["center"], scale=r["scale"],
                            outliers="remove" if r["out.rm"] else "keep")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(REF["rsa"]))
def test_rsa_models_match_lavaan(rsa_fits, case):
    r, res = REF["rsa"][case], rsa_fits[case]
    assert len(res.data) == r["n"]
    assert res.srrr_direction == r["SRRR.rot"]
    checked = 0
    for m, mr in r["models"].items():
        name = "SRRR" if m.startswith("SRRR") else m
        if m.startswith("SRRR") and m != f"SRRR.{res.srrr_direction}":
            continue
        fit = res.fits[name]
        assert fit.converged == mr["converged"], m
        fi = fit.fit_indices
        assert int(fi["npar"]) == mr["fit"]["npar"] and int(fi["df"]) == mr["fit"]["df"], m
        for k in ("chisq", "logl", "aic"):
            assert abs(fi[k] - mr["fit"][k]) <= 1e-3 * max(1.0, abs(mr["fit"][k])), (m, k)
        scaled = _num(mr["fit"].get("chisq.scaled"))
        if np.isfinite(scaled) and mr["fit"]["df"] > 0:
            got = res.models.loc[name, "chisq_scaled"]
            assert abs(got - scaled) <= 1e-3 * max(1.0, scaled), (m, got, scaled)
        for e in mr["est"]:
            if e["op"] == "~1":
                est = fit.estimates
                row = est[(est["lhs"] == e["lhs"]) & (est["op"] == "~1")].iloc[0]
                got_est, got_se = float(row["est"]), float(row["se"])
            else:
                row = _rows(fit, [e["label"]]).iloc[0]
                got_est, got_se = float(row["est"]), float(row["se"])
            assert _close(got_est, e["est"]), (m, e["label"], got_est, e["est"])
            if np.isnan(_num(e["se"])) or _num(e["se"]) < 1e-6:  # pinned by a constraint: lavaan's SE is
                assert np.isnan(got_se) or got_se < 1e-6, (m, e["label"], got_se)  # NA or 0 up to rounding
            else:
                assert _close(got_se, e["se"]), (m, e["label"], got_se, e["se"])
            checked += 1
    assert checked > 100


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(REF["rsa"]))
def test_rsa_difference_tests_match_lavtestlrt(rsa_fits, case):
    r, res = REF["rsa"][case], rsa_fits[case]
    n = 0
    for m, lrt in r["lrt"].items():
        if "error" in lrt or (m.startswith("SRRR") and m != f"SRRR.{res.srrr_direction}"):
            continue
        row = res.models.loc["SRRR" if m.startswith("SRRR") else m]
        assert row["df_diff"] == lrt["df_diff"], m
        assert abs(row["chisq_diff"] - lrt["chisq_diff"]) <= 1e-3 * max(1.0, lrt["chisq_diff"]), (m, row["chisq_diff"])
        n += 1
    assert n == 9
    if r["missing"] == "ml.x":
        assert res.fits["full"].n_used == r["n"] and any("FIML" in w for w in res.warnings)
    aic = res.models["aic"]
    assert res.models.loc[aic.idxmin(), "delta_aic"] == 0 and res.models["aic_weight"].sum() == pytest.approx(1)


@pytest.mark.slow
def test_rsa_tables_and_outliers(rsa_fits):
    res = rsa_fits["council_pooled"]
    ref = {e["label"]: e for e in REF["rsa"]["council_pooled"]["models"]["full"]["est"] if e["label"]}
    assert list(res.coefficients.index) == ["b1", "b2", "b3", "b4", "b5"]
    assert list(res.surface.index) == ["a1", "a2", "a3", "a4", "a5"]
    for lab in ("b1", "b4", "a1", "a4"):
        tab = res.coefficients if lab.startswith("b") else res.surface
        assert _close(tab.loc[lab, "est"], ref[lab]["est"]) and _close(tab.loc[lab, "se"], ref[lab]["se"])
        assert abs(tab.loc[lab, "pvalue"] - ref[lab]["pvalue"]) < 1e-3
    assert _close(res.stationary.loc["X0", "est"], ref["X0"]["est"])
    assert _close(res.axes.loc["p11", "est"], ref["p11"]["est"])
    # the surface formulas: a1..a5 from b1..b5
    b = res.coefficients["est"].to_numpy()
    a = res.surface["est"].to_numpy()
    assert np.allclose(a, [b[0] + b[1], b[2] + b[3] + b[4], b[0] - b[1], b[2] - b[3] + b[4], b[2] - b[4]])
    # congruence checklist: computed from lavaan's p10, p11, a3 and a4
    cg = res.congruence
    p10, p11 = ref["p10"], ref["p11"]
    assert cg.loc["p10 = 0", "holds"] == (p10["est"] - 1.959964 * p10["se"] <= 0 <= p10["est"] + 1.959964 * p10["se"])
    assert cg.loc["p11 = 1", "holds"] == (p11["est"] - 1.959964 * p11["se"] <= 1 <= p11["est"] + 1.959964 * p11["se"])
    assert cg.loc["a3 = 0", "holds"] == (ref["a3"]["pvalue"] > 0.05)
    # Bollen & Jackman: R's row 1 (1-based) is removed
    out = rsa_fits["nhs_pooled_outrm"]
    assert [int(i) + 1 for i in out.outliers] == list(np.atleast_1d(REF["rsa"]["nhs_pooled_outrm"]["outliers"]))
    assert any("Bollen & Jackman" in w for w in out.warnings)
    assert rsa_fits["nhs_pooled_outkeep"].outliers == []


@pytest.mark.slow
def test_rsa_plot_labels_axes(rsa_fits):
    res = rsa_fits["council_pooled"]
    fig = res.plot(labels={"x": "NHS view of asymmetry", "y": "council view", "z": "council goodwill"})
    ax3d, axc = fig.axes[0], fig.axes[1]
    assert ax3d.get_xlabel() == "NHS view of asymmetry" and ax3d.get_zlabel() == "council goodwill"
    assert axc.get_ylabel() == "council view"
    assert any("congruence" in t.get_text() for t in axc.get_legend().get_texts())
    with pytest.raises(OptionError, match="kind"):
        res.plot(kind="wire")


def test_rsa_bad_input():
    d = MEANS.dropna().copy()
    with pytest.raises(OptionError, match="'cubic'"):
        rsa(d, "goodwill_council", "asym_nhs", "asym_council", model="cubic")
    with pytest.raises(DataError, match="'nope'"):
        rsa(d, "nope", "asym_nhs", "asym_council")
    d["label"] = "x"
    with pytest.raises(DataError, match="'label'"):
        rsa(d, "label", "asym_nhs", "asym_council")
    few = pd.DataFrame({"z": np.arange(40.0), "x": np.tile([1.0, 2.0], 20), "y": np.repeat([1.0, 2.0], 20)})
    with pytest.raises(InsufficientDataError, match="4 distinct"):
        rsa(few, "z", "x", "y")
    rng = np.random.default_rng(3)
    wide = pd.DataFrame({"x": rng.normal(0, 1, 80), "y": rng.normal(0, 10, 80)})
    wide["z"] = wide["x"] + 0.1 * wide["y"] + rng.normal(0, 1, 80)
    with pytest.warns(UserWarning, match="scale='pooled'"):
        res = rsa(wide, "z", "x", "y", estimator="ML")
    assert any("different ranges" in w for w in res.warnings)


# ----------------------------------------------------------------------------- dyads
@pytest.fixture(scope="module")
def dd():
    return dyads(RESP, "partnership", "sector", sides=("nhs", "council"), columns=["asym", "goodwill"],
                 constructs=CONSTRUCTS, scale_points=7)


def test_dyads_reshape_matches_r(dd):
    want = MEANS.set_index("partnership")
    got = dd.wide[want.columns]
    assert list(got.index) == list(want.index)
    assert np.allclose(got.to_numpy(float), want.to_numpy(float), equal_nan=True, atol=1e-12)
    assert sorted(dd.incomplete["partnership"]) == [f"P{i:03d}" for i in range(153, 161)]
    assert set(dd.incomplete["missing_side"]) == {"council"}
    assert any("one side missing" in w for w in dd.warnings)


def test_agreement_matches_psych_and_rwg(dd):
    agr = dd.agreement
    for c in ("asym", "goodwill"):
        assert agr.loc[c, "icc1"] == pytest.approx(REF["icc"][c]["icc1"], abs=1e-10)
        assert agr.loc[c, "icc2"] == pytest.approx(REF["icc"][c]["icc2"], abs=1e-10)
        rw = REF["rwg"][c]
        assert agr.loc[c, "groups_rwg"] == len(rw["rwg"])
        assert agr.loc[c, "rwg_j_mean"] == pytest.approx(rw["mean"], abs=1e-10)
        assert agr.loc[c, "rwg_j_median"] == pytest.approx(rw["median"], abs=1e-10)
        assert agr.loc[c, "rwg_j_share_70"] == pytest.approx(rw["share70"], abs=1e-10)
    assert agr.loc["asym", "icc2_cutoff"] == ">= 0.7" and bool(agr.loc["asym", "icc2_ok"])
    assert "LeBreton" in agr.attrs["citations"]["rwg_j"]


def test_dyads_bad_input():
    r = RESP.copy()
    r.loc[5, "partnership"] = np.nan
    with pytest.raises(DataError, match="dyad column 'partnership' has 1 missing"):
        dyads(r)
    r = RESP.copy()
    r.loc[r.index[r["partnership"] == "P007"][0], "sector"] = "voluntary"
    with pytest.raises(DataError, match="partnership 'P007' has 3 sides"):
        dyads(r, columns=["asym"])
    r = RESP.copy()
    r.loc[r["partnership"] == "P153", "sector"] = "voluntary"
    with pytest.raises(DataError, match="side label 'voluntary'.*P153"):
        dyads(r, sides=("nhs", "council"), columns=["asym"])
    with pytest.raises(DataError, match="'nope'"):
        dyads(RESP, columns=["nope"])


# ----------------------------------------------------------------------------- APIM
CASES = {"ml": ("ML", "listwise"), "mlr": ("MLR", "listwise"), "fiml": ("ML", "fiml")}


@pytest.mark.parametrize("key", sorted(CASES))
def test_apim_matches_lavaan(dd, key):
    est, miss = CASES[key]
    ref = REF["apim"][key]
    res = apim(dd, "asym", "goodwill", estimator=est, missing=miss, bootstrap=0)
    assert res.fit.n_used == ref["n"]
    pe = res.fit.estimates
    for row in ref["est"]:
        m = pe[pe["label"].astype(str) == row["label"]].iloc[0]
        for a, b in (("est", "est"), ("se", "se"), ("ci_lower", "ci.lower"), ("ci_upper", "ci.upper"),
                     ("std_all", "std.all")):
            assert _close(float(m[a]), row[b]), (row["label"], a, m[a], row[b])
    byl = {r["label"]: r for r in ref["est"]}
    eff = res.effects
    assert eff.loc[("actor", "nhs"), "est"] == pytest.approx(byl["a_A"]["est"], abs=2e-3)
    assert eff.loc[("partner", "council"), "std_all"] == pytest.approx(byl["p_B"]["std.all"], abs=2e-3)
    assert res.k.loc["nhs", "k"] == pytest.approx(byl["k_A"]["est"], abs=2e-3)
    assert res.k.loc["council", "se"] == pytest.approx(byl["k_B"]["se"], abs=2e-3)
    for t, v in ref["tests"].items():
        row = res.tests.loc[t]
        assert row["df_diff"] == v["df_diff"]
        assert abs(row["chisq_diff"] - v["chisq_diff"]) <= 1e-3 * max(1.0, v["chisq_diff"]), t
        assert abs(row["pvalue"] - v["pvalue"]) <= 1e-4
    assert list(res.tests.columns) == ["chisq_diff", "df_diff", "pvalue"]
    if miss == "listwise":
        assert any("dropped" in w for w in res.warnings)


LATENT = json.loads((HERE / "dyadic_latent.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("missing", ["listwise", "fiml"])
def test_latent_apim_with_dyadic_invariance_matches_lavaan(missing):
    ref = LATENT[missing]
    res = apim(RESP, "asym", "goodwill", sides=("nhs", "council"), latent=True, spec=CONSTRUCTS,
               missing=missing, bootstrap=0)
    inv = res.invariance
    for level, r in ref["invariance"].items():
        assert int(inv.loc[level, "npar"]) == r["fit"]["npar"] and int(inv.loc[level, "df"]) == r["fit"]["df"]
        assert abs(inv.loc[level, "chisq"] - r["fit"]["chisq"]) <= 1e-3 * max(1.0, r["fit"]["chisq"]), level
        if "test" in r:
            want = r["test"]["chisq_diff"]
            assert abs(inv.loc[level, "chisq_diff"] - want) <= 1e-3 * max(1.0, want)
            assert inv.loc[level, "df_diff"] == r["test"]["df_diff"]
    assert inv.attrs["chosen"] == "scalar"  # both steps are not rejected in lavaan: p = .29 and .94
    fi = res.fit.fit_indices
    assert int(fi["npar"]) == ref["fit"]["npar"]
    assert abs(fi["chisq"] - ref["fit"]["chisq"]) <= 1e-3 * ref["fit"]["chisq"]
    pe = res.fit.estimates
    for row in ref["est"]:
        m = pe[(pe["lhs"] == row["lhs"]) & (pe["op"] == row["op"]) & (pe["rhs"].str.replace(" ", "") ==
                                                                    row["rhs"].replace(" ", ""))]
        assert len(m) == 1, row
        for a, b in (("est", "est"), ("se", "se"), ("std_all", "std.all")):
            assert _close(float(m[a].iloc[0]), row[b]), (row["lhs"], row["op"], row["rhs"], a, m[a].iloc[0], row[b])
    for t, v in ref["tests"].items():
        assert res.tests.loc[t, "df_diff"] == v["df_diff"]
        assert abs(res.tests.loc[t, "chisq_diff"] - v["chisq_diff"]) <= 1e-3 * max(1.0, v["chisq_diff"]), t


@pytest.mark.slow
def test_apim_k_bootstrap_and_reading(dd):
    res = apim(dd, "asym", "goodwill", bootstrap=200, seed=11)
    k = res.k.loc["council"]
    assert k["boot_lower"] < k["k"] < k["boot_upper"]
    inside = [n for v, n in ((1, "couple"), (0, "actor-only"), (-1, "contrast"))
              if k["boot_lower"] <= v <= k["boot_upper"]]
    assert inside and all(n in k["reading"] for n in inside)  # k = 0.44: the CI includes 1 (and maybe 0)
    assert "couple" in inside and "contrast" not in inside
    again = apim(dd, "asym", "goodwill", bootstrap=200, seed=11)
    assert again.k.loc["council", "boot_lower"] == k["boot_lower"]


def test_apim_refusals(dd):
    with pytest.raises(OptionError, match="latent=True"):
        apim(dd, "asym", "goodwill", latent=True)
    with pytest.raises(OptionError, match="at least two items"):
        apim(dd, "asym", "goodwill", latent=True, spec={"asym": ["asym1"], "goodwill": ["gw1", "gw2"]})
    with pytest.raises(OptionError, match="latent=True"):
        apim(dd, "asym", "goodwill", spec=CONSTRUCTS)
    with pytest.raises(OptionError, match="'WLS'"):
        apim(dd, "asym", "goodwill", estimator="WLS")
    with pytest.raises(DataError, match="'trust_nhs'"):
        apim(dd, "trust", "goodwill", bootstrap=0)


# ----------------------------------------------------------------------------- bcf_dyads
@pytest.mark.slow
def test_bcf_dyads_recovers_population_effects():
    from asymtrust import load_dataset

    d = load_dataset("bcf_dyads")
    assert d.attrs["synthetic"] is True and "SYNTHETIC" in d.attrs["title"]
    items = {"capimb": ["cap1", "cap2", "cap3"], "goodwill": ["gtr1", "gtr2", "gtr3"]}
    for k, cols in items.items():
        d[k] = d[cols].mean(axis=1)
    dd = dyads(d, sides=("nhs", "council"), columns=["capimb", "goodwill"], constructs=items, scale_points=7)
    assert len(dd.wide) == 200 and len(dd.incomplete) == 10
    res = apim(dd, "capimb", "goodwill", missing="fiml", bootstrap=0)
    pop = {("actor", "nhs"): -0.20, ("actor", "council"): -0.45,
           ("partner", "nhs"): -0.10, ("partner", "council"): -0.30}
    for key, value in pop.items():  # right sign, and within .15 of the (attenuated) population value
        est = res.effects.loc[key, "est"]
        assert est < 0 and abs(est - value) < 0.15, (key, est)
    assert res.effects.loc[("actor", "council"), "est"] < res.effects.loc[("actor", "nhs"), "est"]
    assert res.tests.loc["actors", "pvalue"] < 0.05  # the sides differ
    wide = dd.wide.dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in ("goodwill_nhs", "goodwill_council"):
            s = rsa(wide, z, "capimb_nhs", "capimb_council", center="pooled")
            a4 = s.surface.loc["a4"]
            assert a4["est"] < 0 and a4["pvalue"] < 0.001 and abs(a4["est"] + 1.0) < 0.4, (z, a4["est"])
            a1 = s.surface.loc["a1"]  # actor + partner: both negative on both sides
            assert a1["est"] < 0 and a1["pvalue"] < 0.01, (z, a1["est"])


# ----------------------------------------------------------------------------- CLI and report
@pytest.mark.slow
def test_cli_dyadic_json_and_report(capsys, tmp_path):
    from asymtrust.cli import main

    out = tmp_path / "dyadic.html"
    argv = ["dyadic", str(HERE / "dyad_respondents.csv"), "--dyad", "partnership", "--side", "sector",
            "--sides", "nhs", "council", "--x", "asym", "--y", "goodwill", "--bootstrap", "0",
            "--rsa", "goodwill_nhs", "asym_nhs", "asym_council", "--json", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    doc = json.loads(text[: text.rindex("}") + 1])
    ref = {r["label"]: r for r in REF["apim"]["fiml"]["est"]}  # --missing fiml is the CLI's default
    eff = {(r["effect"], r["side"]): r for r in doc["apim"]["effects"]}
    assert eff[("actor", "council")]["est"] == pytest.approx(ref["a_B"]["est"], abs=2e-3)
    assert eff[("partner", "nhs")]["se"] == pytest.approx(ref["p_A"]["se"], abs=2e-3)
    tests = {r["test"]: r for r in doc["apim"]["tests"]}
    assert tests["omnibus"]["chisq_diff"] == pytest.approx(REF["apim"]["fiml"]["tests"]["omnibus"]["chisq_diff"],
                                                           rel=1e-3)
    # RSA on all 160 partnerships (FIML, as RSA() with missing values; --center pooled is the CLI's default)
    full = {e["label"]: e for e in REF["rsa"]["nhs_pooled_fiml"]["models"]["full"]["est"] if e["label"]}
    assert doc["rsa"]["surface"]["a4"]["est"] == pytest.approx(full["a4"]["est"], abs=2e-3)
    assert doc["rsa"]["surface"]["a4"]["se"] == pytest.approx(full["a4"]["se"], abs=2e-3)
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2 and "Distinguishability" in page and "rwg" in page
    assert main(["dyadic", str(HERE / "dyad_respondents.csv"), "--dyad", "partnership", "--side", "sector",
                 "--x", "asym"]) == 2
    assert "--x and --y" in capsys.readouterr().err
