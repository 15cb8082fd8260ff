"""Ordinal items through the analyses (issue 15, second part): the ordinal invariance ladder
and the Satorra (2000) difference test of WLSMV fits, categorical reliability, the survey
checks and simulation, against lavaan 0.6-14, semTools 0.5-6 and psych 2.2.9.

References (R scripts beside their JSON in tests/reference/ordinal_analysis/; psych's bfi,
the data of tests/reference/ordinal/bfi.csv):
- bfi_ordinal_analysis.R -> bfi_ladder_lrt.json (cfa(ordered=, group="gender",
  group.equal=...) per level and lavTestLRT), bfi_reliability.json and
  bfi_reliability_keyed.json (compRelSEM, AVE, psych::alpha of the polychoric matrix, htmt);
- bfi_compare.R -> bfi_compare_lrt.json (oblique against orthogonal 5-factor CFA, lavTestLRT).
Tolerances of the issue: estimates 2e-3, chi-square 1e-3 relative, indices 2e-3.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.compare import compare, difference_test
from asymtrust.analysis.invariance import ORDINAL_LEVELS, invariance
from asymtrust.analysis.reliability import _htmt_matrix, _resolve, omega_categorical, reliability
from asymtrust.exceptions import OptionError

REF = Path(__file__).parent / "reference" / "ordinal_analysis"
ORD = Path(__file__).parent / "reference" / "ordinal"
# the library's syntax reader reads an indicator list starting with 'E1' as a number
# (see tests/test_ordinal.py): the E items are renamed
RENAME = {f"E{i}": f"Ext{i}" for i in range(1, 6)}
MODEL = "\n".join(f"{f} =~ " + " + ".join(RENAME.get(f"{f}{i}", f"{f}{i}") for i in range(1, 6)) for f in "ACENO")
REVERSED = ["A1", "C4", "C5", "E1", "E2", "O2", "O5"]


def _load(name: str) -> dict:
    return json.loads((REF / name).read_text(encoding="utf-8"))


def _rename_syntax(text: str) -> str:
    out = []
    for line in text.split("\n"):
        if "=~" in line:
            lhs, rhs = line.split("=~")
            line = lhs + "=~ " + " + ".join(RENAME.get(t.strip(), t.strip()) for t in rhs.split("+"))
        out.append(line)
    return "\n".join(out)


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(ORD / "bfi.csv")


@pytest.fixture(scope="module")
def ladder(bfi):
    d = bfi.rename(columns=RENAME)
    d["gender"] = json.loads((ORD / "bfi_cfa_wlsmv_groups.json").read_text(encoding="utf-8"))["gender"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return invariance(MODEL, d, "gender", ordered=True)


# ----------------------------------------------------------------------------- invariance
def test_ordinal_ladder_fits_match_lavaan(ladder):
    ref = _load("bfi_ladder_lrt.json")
    assert list(ladder["level"]) == list(ORDINAL_LEVELS) == list(ref["levels"])
    assert ladder.attrs["estimator"] == "WLSMV" and ladder.attrs["nobs"] == ref["nobs"]
    for _, row in ladder.iterrows():
        fm = ref["fit"][row["level"]]
        assert row["npar"] == fm["npar"] and row["df"] == fm["df"]
        for ours, theirs in (("chisq", "chisq"), ("chisq_scaled", "chisq.scaled")):
            assert row[ours] == pytest.approx(fm[theirs], rel=1e-3)
        assert row["chisq_scaling_factor"] == pytest.approx(fm["chisq.scaling.factor"], abs=2e-3)
        assert row["cfi_scaled"] == pytest.approx(fm["cfi.scaled"], abs=2e-3)
        assert row["rmsea_scaled"] == pytest.approx(fm["rmsea.scaled"], abs=2e-3)


def test_ordinal_ladder_differences_are_lavaans_satorra_2000(ladder):
    """lavTestLRT's default for scaled-and-shifted statistics: method = "satorra.2000"."""
    ref = _load("bfi_ladder_lrt.json")
    assert "satorra.2000" in ref["lrt"][0]["method"]
    for i, lrt in enumerate(ref["lrt"][:3], start=1):
        row = ladder.iloc[i]
        assert (ladder.iloc[i - 1]["level"], row["level"]) == (lrt["general"], lrt["restricted"])
        assert row["delta_df"] == lrt["df_diff"]
        assert row["delta_chisq"] == pytest.approx(lrt["chisq_diff"], rel=1e-3, abs=1e-8)
        if lrt["p"] is None:
            assert np.isnan(row["p_delta"])
        else:
            assert row["p_delta"] == pytest.approx(lrt["p"], abs=2e-3)
    # under lavaan's identification, equal intercepts add nothing for ordered items: said so
    assert any("scalar model adds no constraint" in w for w in ladder.attrs["warnings"])
    assert ladder.attrs["difference_test"].startswith("Satorra 2000")
    # delta_cfi falls back to the scaled CFI where the robust one is undefined (as in lavaan)
    assert ladder.iloc[2]["delta_cfi"] == pytest.approx(
        ref["fit"]["metric"]["cfi.scaled"] - ref["fit"]["thresholds"]["cfi.scaled"], abs=2e-3)


def test_ordinal_ladder_refusals_are_typed(bfi):
    d = bfi.rename(columns=RENAME).assign(gender=np.arange(len(bfi)) % 2)
    with pytest.raises(OptionError, match="strict.*with ordered"):
        invariance(MODEL, d, "gender", ordered=True, levels=("configural", "strict"))
    with pytest.raises(OptionError, match="partial='auto' with ordered"):
        invariance(MODEL, d, "gender", ordered=True, partial="auto")
    with pytest.raises(OptionError, match="parameterization"):
        invariance(MODEL, d, "gender", parameterization="theta")


def test_compare_wlsmv_uses_satorra_2000(bfi):
    ref = _load("bfi_compare_lrt.json")
    d = bfi.rename(columns=RENAME)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = compare({"oblique": _rename_syntax(ref["model"]), "orthogonal": _rename_syntax(ref["orthogonal"])},
                      d, ordered=True)
    t = cmp.tests.iloc[0]
    assert (t["general"], t["restricted"]) == ("oblique", "orthogonal")
    assert t["method"].startswith("Satorra 2000")
    assert t["delta_df"] == ref["lrt"]["df_diff"]
    assert t["delta_chisq"] == pytest.approx(ref["lrt"]["chisq_diff"], rel=1e-3)
    tab = cmp.table.set_index("name")
    for name in ("oblique", "orthogonal"):
        assert tab.loc[name, "chisq"] == pytest.approx(ref["fit"][name]["chisq"], rel=1e-3)
        assert tab.loc[name, "chisq_scaled"] == pytest.approx(ref["fit"][name]["chisq.scaled"], rel=1e-3)


def test_difference_test_refuses_mixed_scaled_and_unscaled(bfi):
    d = bfi.rename(columns=RENAME)
    one = "A =~ A1 + A2 + A3 + A4 + A5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ordinal = asymtrust.fit(one, d, ordered=True)
        ml = asymtrust.fit(one + "\nA1 ~~ 0*A2", d)
    with pytest.raises(OptionError, match="scaled"):
        difference_test(ordinal, ml)


# ----------------------------------------------------------------------------- reliability
@pytest.mark.parametrize("name", ["bfi_reliability.json", "bfi_reliability_keyed.json"])
def test_categorical_reliability_matches_semtools_and_psych(bfi, name):
    ref = _load(name)
    x = bfi.copy()
    for it in ref.get("reversed", []):
        x[it] = 7 - x[it]
    x = x.rename(columns=RENAME)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = reliability(x, MODEL, ordered=True, recode=False, htmt_method="htmt2")
    assert tab.attrs["n_obs_cfa"] == ref["nobs"] == 2436
    assert tab.attrs["estimator"] == "WLSMV"
    lvs = list("ACENO")
    np.testing.assert_allclose(tab.loc[lvs, "omega"], [ref["omega"][k] for k in lvs], atol=2e-3)
    np.testing.assert_allclose(tab.loc[lvs, "ave"], [ref["ave"][k] for k in lvs], atol=2e-3)
    np.testing.assert_allclose(tab.loc[lvs, "ordinal_alpha"], [ref["ordinal_alpha"][k] for k in lvs], atol=2e-3)
    R = tab.attrs["polychoric"]
    meas = _resolve(MODEL)
    np.testing.assert_allclose(_htmt_matrix(None, meas, "htmt", cor=R).to_numpy(), ref["htmt"]["matrix"], atol=2e-3)
    if "htmt2" in ref:
        np.testing.assert_allclose(_htmt_matrix(None, meas, "htmt2", cor=R).to_numpy(), ref["htmt2"]["matrix"],
                                   atol=2e-3)
        ht2 = np.array(ref["htmt2"]["matrix"])
        np.fill_diagonal(ht2, np.nan)
        np.testing.assert_allclose(tab.loc[lvs, "htmt_max"], np.nanmax(ht2, axis=1), atol=2e-3)


def test_omega_categorical_limits():
    """omega is 0 with zero loadings, 1 when the true and total matrices coincide, in
    between otherwise."""
    th = [np.array([-1.0, 0.0, 1.0])] * 3
    R = np.full((3, 3), 0.49) + 0.51 * np.eye(3)
    assert 0.0 < omega_categorical(np.full(3, 0.7), 1.0, th, R) < 1.0
    assert omega_categorical(np.zeros(3), 1.0, th, R) == pytest.approx(0.0, abs=1e-12)
    assert omega_categorical(np.ones(3), 1.0, th, np.ones((3, 3))) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- survey side
def test_validate_warns_about_likert_items_fitted_as_continuous():
    d = pd.read_csv(ORD / "small_data.csv")
    model = "F =~ A1 + A2 + A3 + A4 + A5\nG =~ b1 + b2 + b3"
    rep = asymtrust.validate(d, model, codebook=False)
    few = [w for w in rep.warnings if "at most 5 categories" in w]
    assert len(few) == 1 and all(f"{b} (2)" in few[0] for b in ("b1", "b2", "b3"))
    floor = [w for w in rep.warnings if "floor or ceiling" in w]
    assert len(floor) == 1 and "A4 (ceiling 41%)" in floor[0] and "b1" not in floor[0]
    # items declared ordered are not warned about
    rep = asymtrust.validate(d, model, codebook=False, ordered=["b1", "b2", "b3"])
    assert not any("at most 5 categories" in w for w in rep.warnings)
    rep = asymtrust.validate(d, model, codebook=False, ordered=True)
    assert not any("fitted as continuous" in w for w in rep.warnings)
    # 7-point items with no floor or ceiling (the bundled synthetic data): no warning
    bcf = asymtrust.load_dataset("bcf_synthetic")
    rep = asymtrust.validate(bcf, "fig1")
    assert not any("fitted as continuous" in w for w in rep.warnings)


def test_simulated_likert_items_recover_the_population_thresholds():
    """simulate() cuts each item's latent response (unit variance) at the spec's thresholds:
    polychoric() on a large seeded sample gets them back, and the polychoric correlation of
    two items of one construct is the product of their loadings."""
    from asymtrust.survey.simulate import population_model

    spec = asymtrust.load_spec("fig1_cfa")
    pm = population_model(spec)
    d = asymtrust.simulate(spec, 20000, seed=15)
    items = ["cap1", "cap2", "cap3"]  # not reverse-keyed (datasets/codebook.csv)
    pc = asymtrust.polychoric(d, items)
    assert pc.nobs == 20000
    for it in items:
        got = np.array([pc.thresholds[f"{it}|t{k}"] for k in range(1, 7)])
        np.testing.assert_allclose(got, pm.thresholds[it], atol=0.05)
    (lv1, l1), (lv2, l2) = pm.loadings["cap1"], pm.loadings["cap2"]
    assert lv1 == lv2
    assert pc.cor.loc["cap1", "cap2"] == pytest.approx(l1 * l2, abs=0.03)


# ----------------------------------------------------------------------------- CLI, report
def _cli(argv, capsys):
    from asymtrust import cli

    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_reliability_and_validate_take_ordered(tmp_path, bfi, capsys):
    data = tmp_path / "bfi.csv"
    bfi[[f"{c}{i}" for c in "AN" for i in range(1, 6)]].to_csv(data, index=False)
    spec = tmp_path / "an.lav"
    spec.write_text("A =~ A1 + A2 + A3 + A4 + A5\nN =~ N1 + N2 + N3 + N4 + N5\n", encoding="utf-8")
    code, out, err = _cli(["reliability", data, "--spec", spec, "--ordered", "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    rows = {r["construct"]: r for r in doc["reliability"]}
    assert set(rows) == {"A", "N"} and all(np.isfinite(r["ordinal_alpha"]) for r in rows.values())
    assert any("categorical omega" in n for n in doc["notes"])
    # validate: the 6-point items with floor/ceiling effects are named unless declared ordered
    code, out, err = _cli(["validate", data, "--spec", spec, "--no-codebook"], capsys)
    assert code == 0 and "floor or ceiling" in out and "--ordered" in out
    code, out, err = _cli(["validate", data, "--spec", spec, "--no-codebook", "--ordered"], capsys)
    assert code == 0 and "fitted as continuous" not in out
    code, out, err = _cli(["validate", data, "--spec", spec, "--no-codebook", "--ordered", "A1,A2,A3,A4,A5"], capsys)
    line = next(x for x in out.splitlines() if "fitted as continuous" in x)
    assert code == 0 and "N1 (" in line and "A1 (" not in line


def test_cli_fit_ordered_defaults_to_wlsmv(tmp_path, bfi, capsys):
    data = tmp_path / "a.csv"
    bfi[[f"A{i}" for i in range(1, 6)]].to_csv(data, index=False)
    spec = tmp_path / "a.lav"
    spec.write_text("A =~ A1 + A2 + A3 + A4 + A5\n", encoding="utf-8")
    code, out, err = _cli(["fit", data, "--spec", spec, "--ordered", "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert np.isfinite(doc["fit_indices"]["chisq_scaled"])
    assert any(r["op"] == "|" for r in doc["estimates"])
    code, out, err = _cli(["fit", data, "--spec", spec, "--ordered", "A1,nope"], capsys)
    assert code == 2 and "nope" in err


def test_report_on_ordinal_items_states_its_estimator(tmp_path):
    """The report with ordered items (the Fig. 1 CFA on 5-point items) fits WLSMV and says
    why, in the summary and the reproducibility table. (Rendered to PNG with headless
    chromium and looked at when this was built.)"""
    from asymtrust.reporting.build import report

    d = pd.read_csv(ORD / "fig1_5pt.csv")
    out = report(d, spec="fig1_cfa", out=tmp_path / "rep", bootstrap=0, seed=1, quiet=True, ordered=True,
                 missing="pairwise")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "WLSMV, lavaan&#39;s default for ordered-categorical items" in html
    assert "Why this estimator" in html and "Ordered items" in html
    assert "pairwise deletion" in html
    fit = json.loads((out / "fit_indices.json").read_text(encoding="utf-8"))
    assert fit["estimator"] == "WLSMV"
    with pytest.raises(OptionError, match="ordered items must be items of the model: nope"):
        report(d, spec="fig1_cfa", out=tmp_path / "rep2", bootstrap=0, seed=1, quiet=True, ordered=["nope"])
    with pytest.raises(OptionError, match="fiml"):
        report(d, spec="fig1_cfa", out=tmp_path / "rep3", bootstrap=0, seed=1, quiet=True, ordered=True,
               missing="fiml")


def test_simulate_an_ordinal_design_with_its_own_thresholds():
    """simulate(thresholds=): a 5-point design (4 cuts; one 4-point item): polychoric()
    recovers the cut points and a WLSMV CFA the population loadings (seeded)."""
    from asymtrust.survey.simulate import population_model

    cuts = [-1.5, -0.5, 0.5, 1.5]
    d = asymtrust.simulate("fig1_cfa", 20000, seed=3, thresholds={"default": cuts, "cap1": [0.0, 1.0, 2.0]})
    assert sorted(d["cap1"].unique()) == [1, 2, 3, 4] and sorted(d["cap2"].unique()) == [1, 2, 3, 4, 5]
    assert d.attrs["thresholds"]["cap1"] == [0.0, 1.0, 2.0]
    pc = asymtrust.polychoric(d, ["cap1", "cap2", "cap3"])
    np.testing.assert_allclose([pc.thresholds[f"cap1|t{k}"] for k in (1, 2, 3)], [0.0, 1.0, 2.0], atol=0.05)
    np.testing.assert_allclose([pc.thresholds[f"cap2|t{k}"] for k in (1, 2, 3, 4)], cuts, atol=0.05)
    pm = population_model(asymtrust.load_spec("fig1_cfa"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = asymtrust.fit("CapImb =~ cap1 + cap2 + cap3\nGoodTrust =~ gtr1 + gtr2 + gtr3", d.iloc[:5000],
                            ordered=True)
    est = res.estimates[res.estimates["op"] == "=~"].set_index("rhs")["std_all"]
    for it in ("cap1", "cap2", "cap3", "gtr1", "gtr2", "gtr3"):
        assert est[it] == pytest.approx(pm.loadings[it][1], abs=0.05)
    with pytest.raises(OptionError, match="nope is not an item"):
        asymtrust.simulate("fig1_cfa", 10, seed=1, thresholds={"nope": [0.0]})
    with pytest.raises(OptionError, match="strictly increasing"):
        asymtrust.simulate("fig1_cfa", 10, seed=1, thresholds={"default": [1.0, 0.0]})


@pytest.mark.slow
def test_report_on_ordinal_items_bootstraps_the_indirect_effects(tmp_path):
    """With --ordered the report's indirect effects are bootstrapped as for continuous items
    (each replicate redoes the polychoric first stage; tests/test_bootstrap_ordinal.py checks
    the replicates against lavaan's); the power analysis names the command that plans an
    ordinal design."""
    from asymtrust.reporting.build import report

    d = pd.read_csv(ORD / "fig1_5pt.csv")
    out = report(d, spec="fig1", out=tmp_path / "rep", bootstrap=20, seed=3, quiet=True, ordered=True,
                 missing="pairwise", power=True)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "Confidence intervals: percentile bootstrap, 20 replicates, seed 3" in md
    eff = pd.read_csv(out / "effects.csv")
    boot = eff[eff["method"] == "percentile"]
    assert len(boot) and boot["ci_lower"].notna().all() and (boot["ci_lower"] <= boot["ci_upper"]).all()
    assert "asymtrust power --ordered --thresholds" in md
