"""asymtrust.effects(): indirect, direct and total effects against lavaan `:=`.

References (``tests/reference/effects/``, script ``effects_cases.R``): lavaan 0.6-14 with
the structural paths labelled and every chain written as a `:=` definition, enumerated
in R independently of asymtrust:

* ``fig1_bcf``: specs/fig1.lav on bcf_synthetic (reverse-keyed items recoded);
* ``fig1_bcf_sector``: the same with ``group = "sector"``;
* ``pd``: the lavaan tutorial SEM on PoliticalDemocracy;
* ``pd_boot``: ``pd`` with ``se = "bootstrap"`` (1000 replicates).

Tolerances: delta-method quantities 1e-3 absolute (tests/reference/README.md);
bootstrap SEs 15% relative (Monte Carlo error of 200 vs 1000 replicates).
"""
from __future__ import annotations

import hashlib
import importlib
import json

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.effects import COLUMNS, effect_definitions, effects
from asymtrust.exceptions import OptionError, ResourceLimitError, SpecError

ATOL = 1e-3
BOOT_SE_RTOL = 0.15
DELTA_FIELDS = ("est", "se", "z", "pvalue", "ci_lower", "ci_upper", "std_all", "std_all_se")


def _check_data(ref: dict, repo_root) -> None:
    data = (repo_root / "datasets" / ref["data_name"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == ref["data_sha256"], "data changed: rerun effects_cases.R"
    if "spec" in ref:
        spec = (repo_root / "specs" / f"{ref['spec']}.lav").read_bytes()
        assert hashlib.sha256(spec).hexdigest() == ref["spec_sha256"], "spec changed: rerun effects_cases.R"


@pytest.fixture(scope="module")
def bcf(repo_root):
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))


def _compare_delta(eff: pd.DataFrame, ref: dict) -> None:
    assert set(eff["method"]) == {"delta"}
    assert list(eff.columns) == COLUMNS
    rows = ref["effects"]
    assert len(eff) == len(rows), "different set of effects than lavaan"
    seen = set()
    for r in rows:
        m = eff[(eff["effect"] == r["effect"]) & (eff["path"] == r["path"]) & (eff["group"] == r["group"])]
        assert len(m) == 1, (r["effect"], r["path"], r["group"])
        got = m.iloc[0]
        assert (got["source"], got["target"]) == (r["source"], r["target"])
        for f in DELTA_FIELDS:
            assert abs(got[f] - r[f]) < ATOL, f"{r['name']} ({r['path']}, group {r['group']}): {f} {got[f]} vs {r[f]}"
        seen.add(m.index[0])
    assert len(seen) == len(eff)


def test_fig1_delta_method_matches_lavaan(load_reference, repo_root, bcf):
    ref = load_reference("effects/fig1_bcf.json")
    _check_data(ref, repo_root)
    fit = asymtrust.fit("fig1", bcf)
    eff = effects(fit, bootstrap=0)
    _compare_delta(eff, ref)
    # the chains Fig. 1 implies: 12 specific indirect effects over 11 (asymmetry, outcome) pairs
    assert (eff["effect"] == "indirect").sum() == 12
    assert (eff["effect"] == "total").sum() == 11
    assert not (eff["effect"] == "direct").any()  # full mediation
    cap = eff[(eff["effect"] == "indirect") & (eff["source"] == "CapImb")]
    assert cap["path"].tolist() == ["CapImb -> GoodTrust -> PlanBudg", "CapImb -> GoodTrust -> JointMgmt"]
    # CultDiff reaches JointMgmt through both trust dimensions: total = sum of the chains
    cj = eff[(eff["source"] == "CultDiff") & (eff["target"] == "JointMgmt")].set_index("effect")
    ind = eff[(eff["source"] == "CultDiff") & (eff["target"] == "JointMgmt") & (eff["effect"] == "indirect")]
    assert len(ind) == 2
    np.testing.assert_allclose(cj.loc["total", "est"], ind["est"].sum(), rtol=1e-12)
    assert eff.attrs["bootstrap"]["B"] == 0


def test_fig1_by_sector_matches_lavaan(load_reference, repo_root, bcf):
    ref = load_reference("effects/fig1_bcf_sector.json")
    _check_data(ref, repo_root)
    fit = asymtrust.fit("fig1", bcf, group="sector")
    assert fit.group_labels == ref["group_labels"]
    eff = effects(fit, bootstrap=0)
    _compare_delta(eff, ref)
    assert eff.groupby("group_label").size().to_dict() == {"nhs": 34, "council": 34, "voluntary": 34}


def test_pd_direct_indirect_total_match_lavaan(load_reference, repo_root, poldem):
    ref = load_reference("effects/pd.json")
    _check_data(ref, repo_root)
    fit = asymtrust.fit(ref["spec_model"], poldem)
    eff = effects(fit, bootstrap=0, ci_level=0.95)
    _compare_delta(eff, ref)
    assert eff["effect"].tolist() == ["indirect", "total_indirect", "direct", "total"]
    tot = eff.set_index("effect")["est"]
    np.testing.assert_allclose(tot["total"], tot["total_indirect"] + tot["direct"], rtol=1e-12)
    # the labelled model (lavaan's own :=) gives the same numbers through asymtrust.fit
    lab = asymtrust.fit(ref["model"], poldem).estimates
    defs = lab[lab["op"] == ":="].set_index("lhs")
    np.testing.assert_allclose(eff.loc[eff["effect"] == "total", "se"].iloc[0], defs.loc["tot.1", "se"], atol=1e-8)


def test_ci_level_changes_the_wald_interval(load_reference, poldem):
    ref = load_reference("effects/pd.json")
    fit = asymtrust.fit(ref["spec_model"], poldem)
    e90 = effects(fit, bootstrap=0, ci_level=0.90)
    from scipy import stats

    np.testing.assert_allclose(e90["ci_upper"], e90["est"] + stats.norm.ppf(0.95) * e90["se"])


# ----------------------------------------------------------------------------- bootstrap
@pytest.fixture(scope="module")
def pd_fit(load_reference, poldem):
    return asymtrust.fit(load_reference("effects/pd.json")["spec_model"], poldem)


@pytest.fixture(scope="module")
def pd_boot(pd_fit):
    return effects(pd_fit, bootstrap=200, seed=20240611, n_jobs=2)


@pytest.mark.slow
def test_bootstrap_rows_and_columns(pd_boot):
    eff = pd_boot
    assert list(eff.columns) == COLUMNS
    assert eff["method"].tolist() == ["percentile"] * 4 + ["bc"] * 4
    assert (eff["n_boot"] == 200).all() and (eff["n_boot_failed"] == 0).all()
    assert eff.attrs["bootstrap"] == {"B": 200, "n_ok": 200, "n_failed": 0, "seed": 20240611, "ci_level": 0.95}
    assert (eff["ci_lower"] < eff["est"]).all() and (eff["est"] < eff["ci_upper"]).all()
    # est and the delta SE do not depend on the CI method
    per = eff[eff["method"] == "percentile"].reset_index(drop=True)
    bc = eff[eff["method"] == "bc"].reset_index(drop=True)
    pd.testing.assert_series_equal(per["se"], bc["se"])
    assert not np.allclose(per["ci_lower"], bc["ci_lower"])


@pytest.mark.slow
def test_bootstrap_se_within_monte_carlo_error_of_lavaan(load_reference, pd_boot):
    ref = load_reference("effects/pd_boot.json")
    lav = {p["lhs"]: p for p in ref["parameters"] if p["op"] == ":="}
    names = {("indirect", "ind60 -> dem60 -> dem65"): "ind.1.1", ("total_indirect", "ind60 -> dem65"): "tind.1",
             ("direct", "ind60 -> dem65"): "dir.1", ("total", "ind60 -> dem65"): "tot.1"}
    per = pd_boot[pd_boot["method"] == "percentile"]
    bc = pd_boot[pd_boot["method"] == "bc"]
    for (kind, path), name in names.items():
        row = per[(per["effect"] == kind) & (per["path"] == path)].iloc[0]
        rowbc = bc[(bc["effect"] == kind) & (bc["path"] == path)].iloc[0]
        p = lav[name]
        assert abs(row["boot_se"] / p["se"] - 1) < BOOT_SE_RTOL, (name, row["boot_se"], p["se"])
        for got, want in ((row, "perc"), (rowbc, "bc")):
            assert abs(got["ci_lower"] - p[f"ci_lower_{want}"]) < 0.8 * p["se"], (name, want)
            assert abs(got["ci_upper"] - p[f"ci_upper_{want}"]) < 0.8 * p["se"], (name, want)


def test_same_seed_identical_output_whatever_workers(pd_fit):
    one = effects(pd_fit, bootstrap=24, seed=77, n_jobs=1)
    two = effects(pd_fit, bootstrap=24, seed=77, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)
    other = effects(pd_fit, bootstrap=24, seed=78)
    assert not np.allclose(other["ci_lower"], one["ci_lower"])


def test_bootstrap_matches_fit_se_bootstrap(pd_fit, load_reference, poldem):
    # the same seed gives the same replicates in fit(se="bootstrap") and effects()
    ref = load_reference("effects/pd.json")
    lab = asymtrust.fit(ref["model"], poldem, se="bootstrap", bootstrap=15, seed=9).estimates
    eff = effects(pd_fit, bootstrap=15, seed=9, ci_method="percentile")
    defs = lab[lab["op"] == ":="].set_index("lhs")
    np.testing.assert_allclose(eff["boot_se"].to_numpy(), defs.loc[["ind.1.1", "tind.1", "dir.1", "tot.1"], "se"],
                               rtol=1e-6)
    np.testing.assert_allclose(eff["ci_lower"].to_numpy(), defs.loc[["ind.1.1", "tind.1", "dir.1", "tot.1"], "ci_lower"],
                               rtol=1e-6)


def test_failed_replicates_are_reported(pd_fit, monkeypatch):
    fitmod = importlib.import_module("asymtrust.engine.refit")
    real = fitmod.refit_arrays
    calls = {"n": 0}

    def flaky(result, arrays, start=None):
        calls["n"] += 1
        r = real(result, arrays, start=start)
        return type(r)(r.theta, calls["n"] % 5 != 0, r.fmin, r.nobs)

    monkeypatch.setattr(fitmod, "refit_arrays", flaky)
    with pytest.warns(RuntimeWarning, match="2 of 10 bootstrap replicates failed"):
        eff = effects(pd_fit, bootstrap=10, seed=3)
    assert (eff["n_boot_failed"] == 2).all() and (eff["n_boot"] == 8).all()
    assert eff.attrs["bootstrap"]["n_failed"] == 2
    assert eff["ci_lower"].notna().all()


# ----------------------------------------------------------------------------- errors and structure
def test_option_errors(pd_fit, monkeypatch):
    with pytest.raises(OptionError, match="bootstrap"):
        effects(pd_fit, bootstrap=-1)
    with pytest.raises(OptionError, match="ci_level"):
        effects(pd_fit, bootstrap=0, ci_level=95)
    with pytest.raises(OptionError, match="ci_method"):
        effects(pd_fit, bootstrap=0, ci_method="bca")
    with pytest.raises(OptionError, match="bootstrap > 0"):
        effects(pd_fit, bootstrap=0, ci_method="bc")
    with pytest.raises(OptionError, match="FitResult"):
        effects("fig1", bootstrap=0)
    monkeypatch.setenv("ASYMTRUST_MAX_REPLICATES", "100")
    with pytest.raises(ResourceLimitError, match="101 replicates"):
        effects(pd_fit, bootstrap=101)


def test_model_without_mediation_is_an_error(hs1939):
    cfa = asymtrust.fit("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6", hs1939)
    with pytest.raises(SpecError, match="no indirect effects"):
        effects(cfa, bootstrap=0)


def test_feedback_loop_is_an_error():
    from asymtrust.library.partable import build_partable

    pt = build_partable("y1 ~ y2 + x1\ny2 ~ y1 + x2\ny3 ~ y1", observed=["y1", "y2", "y3", "x1", "x2"])
    with pytest.raises(SpecError, match="feedback loop"):
        effect_definitions(pt)


def test_definitions_follow_structural_paths_only():
    from asymtrust.library.partable import build_partable

    # observed covariate -> latent -> latent -> observed outcome, plus a direct path
    pt = build_partable("f1 =~ a1 + a2 + a3\nf2 =~ b1 + b2 + b3\nf1 ~ x\nf2 ~ f1 + x\ny ~ f2",
                        observed=["a1", "a2", "a3", "b1", "b2", "b3", "x", "y"])
    defs = effect_definitions(pt)
    got = [(d.kind, d.path) for d in defs]
    assert got == [("indirect", "x -> f1 -> f2 -> y"), ("indirect", "x -> f2 -> y"),
                   ("total_indirect", "x -> y"), ("total", "x -> y")]
    assert all("a1" not in " ".join(c) for d in defs for c in d.chains)  # loadings are not paths
    json.dumps([d.path for d in defs])
