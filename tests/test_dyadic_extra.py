"""Issue 18, the rest: the fig1_dyadic spec, who rates whom in the codebook, power in dyads
(the number of partnerships for an APIM effect) and the dyadic section of the main report.

References: ``tests/reference/specs/specs_lavaan.json`` (fig1_dyadic read by lavaan 0.6-14:
names, 244 free parameters, regressions; its population algebra) and
``tests/reference/dyadic/apim_power.json`` (``apim_power.R``: the APIM's power by a lavaan
``sem()`` Monte Carlo with R's random numbers, 1000 replicates per N; compared within Monte
Carlo error).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.power import DyadGenerator, apim_power
from asymtrust.exceptions import OptionError, SpecError, ValidationError
from asymtrust.library.codebook import RATES, codebook_csv, codebook_markdown, load_codebook, who_rates_whom
from asymtrust.library.specs import load_spec

HERE = Path(__file__).parent / "reference"
POWER_REF = json.loads((HERE / "dyadic" / "apim_power.json").read_text())
POP = {"a_A": -0.2, "p_A": -0.1, "a_B": -0.45, "p_B": -0.3}


# ----------------------------------------------------------------------------- the spec
def _implied_items(spec):
    """The population covariance of a spec's items (standardized loadings, unit variances)."""
    from asymtrust.survey.simulate import population_model

    pm = population_model(spec)
    items = spec.items()
    idx = {lv: i for i, lv in enumerate(pm.latents)}
    lam = np.zeros((len(items), len(pm.latents)))
    for j, it in enumerate(items):
        lv, v = pm.loadings[it]
        lam[j, idx[lv]] = v
    cov = lam @ pm.cov @ lam.T
    np.fill_diagonal(cov, 1.0)
    return pd.DataFrame(cov, index=items, columns=items)


def test_fig1_dyadic_is_estimable_and_recovers_its_population():
    """Fitted to its own population moments, fig1_dyadic returns its population paths (std.all)
    with chi-square 0, so every actor and partner path is identified."""
    spec = load_spec("fig1_dyadic")
    res = asymtrust.fit(spec, sample_cov=_implied_items(spec), sample_nobs=1000)
    assert res.converged
    assert res.fit_indices["npar"] == 244 and res.fit_indices["chisq"] < 1e-6
    est = res.estimates[res.estimates["op"] == "~"]
    pop = spec.population["paths"]
    assert len(est) == 32
    for r in est.itertuples():
        assert r.std_all == pytest.approx(pop[r.lhs][r.rhs], abs=1e-5), (r.lhs, r.rhs)


def test_fig1_dyadic_columns_are_what_dyads_writes():
    """The spec's indicators are dyads(...).wide's column names for the codebook's items."""
    spec = load_spec("fig1_dyadic")
    cb = load_codebook()
    rows = []
    for i, item in enumerate(cb.loc[cb["kind"] == "item", "item"]):
        for s in ("nhs", "council"):
            rows.append({"partnership": "P1", "sector": s, item: 4 + (s == "nhs")})
    resp = pd.DataFrame(rows).groupby(["partnership", "sector"], as_index=False).first()
    wide = asymtrust.dyads(resp, dyad=spec.dyadic["dyad"], side=spec.dyadic["side"],
                           sides=spec.dyadic["sides"]).wide
    assert set(spec.items()) <= set(wide.columns)


def test_dyadic_table_is_checked(tmp_path):
    (tmp_path / "m.lav").write_text("F_a =~ x1_a + x2_a + x3_a\nF_b =~ x1_b + x2_b + x3_b\nF_b ~ F_a\n")
    head = 'name = "m"\ntitle = "M"\nkind = "theory"\nsyntax_file = "m.lav"\n'
    f = tmp_path / "m.toml"
    f.write_text(head + '[dyadic]\ndyad = "pair"\nside = "who"\nsides = ["a", "b"]\n')
    spec = load_spec(f)
    assert spec.dyadic["sides"] == ("a", "b") and spec.item_side("x2_b") == ("x2", "b")
    for bad, pattern in (('sides = ["a", "a"]', "two different side labels"),
                         ('sides = ["a", "c"]', r"indicator 'x1_b' of F_b does not end in _a or _c"),
                         ('sides = ["a", "b"]\ncolour = "red"', r"unknown key\(s\) colour")):
        f.write_text(head + f'[dyadic]\ndyad = "pair"\nside = "who"\n{bad}\n')
        with pytest.raises(SpecError, match=pattern):
            load_spec(f)


# ----------------------------------------------------------------------------- the codebook
def test_codebook_records_who_rates_whom():
    cb = load_codebook()
    assert "rates" in cb.columns and set(cb["rates"]) <= set(RATES)
    resp = dict(zip(cb.loc[cb["kind"] == "respondent", "item"], cb.loc[cb["kind"] == "respondent", "rates"]))
    assert resp["sector"] == "rater" and resp["partner_sector"] == "partner" and resp["resp_id"] == ""
    table = who_rates_whom(cb)
    assert table.loc["GoodTrust", "target"] == table.loc["CompTrust", "target"] == "partner"
    assert table.loc["GoodTrust", "target_field"] == "partner_sector"
    assert table.loc["CapImb", "target"] == "partnership"
    assert (table["rater"] == "sector").all()
    assert set(table["target"]) == {"partner", "partnership"}
    md = codebook_markdown(cb)
    assert "rates the partner organisation (`partner_sector`)" in md


def test_codebook_rates_column_is_optional_and_checked(tmp_path):
    cb = load_codebook()
    old = tmp_path / "old.csv"  # a codebook written before the column existed still loads
    lines = [line.rsplit(",", 1)[0] for line in codebook_csv(cb).splitlines()]  # rates is the last column
    old.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert (load_codebook(old)["rates"] == "").all()
    rows = codebook_csv(cb).splitlines()
    rows[4] = rows[4].rsplit(",", 1)[0] + ",everyone"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"line 5 \('rol1'\): 'rates' must be blank or one of"):
        load_codebook(bad)


# ----------------------------------------------------------------------------- power in dyads
def test_dyad_generator_is_the_standardized_apim():
    gen = DyadGenerator({**POP, "cx": 0.3, "cy": 0.2}, x="cap", y="gw", sides=("nhs", "council"))
    assert gen.columns == ["cap_nhs", "cap_council", "gw_nhs", "gw_council"]
    assert np.allclose(np.diag(gen.cov), 1.0)
    d = gen(200_000, np.random.default_rng(1))
    X = np.column_stack([np.ones(len(d)), d["cap_council"], d["cap_nhs"]])
    b = np.linalg.lstsq(X, d["gw_council"].to_numpy(), rcond=None)[0]
    assert b[2] == pytest.approx(POP["p_B"], abs=0.01) and b[1] == pytest.approx(POP["a_B"], abs=0.01)
    assert d[["cap_nhs", "cap_council"]].corr().iloc[0, 1] == pytest.approx(0.3, abs=0.01)


def test_power_in_dyads_rises_with_the_number_of_partnerships():
    tab = asymtrust.power("apim", n=[30, 60, 120], reps=200, seed=7, population=POP)
    assert tab.attrs["unit"] == "partnerships" and tab.attrs["spec"] == "apim"
    assert set(tab["effect"]) == {"actor", "partner"} and set(tab["side"]) == {"A", "B"}
    for p in ("y_A~x_A", "y_B~x_A"):
        sub = tab[tab["parameter"] == p].sort_values("n")
        assert sub["power"].is_monotonic_increasing and sub["power"].iloc[-1] > sub["power"].iloc[0] + 0.1
        assert sub["power_analytic"].is_monotonic_increasing
    assert (tab["convergence"] == 1).all()
    # Monte Carlo power agrees with the large-sample power of the same z test
    assert (abs(tab["power"] - tab["power_analytic"]) <= 4 * np.maximum(tab["power_mcse"], 0.01) + 0.02).all()
    again = asymtrust.power("apim", n=[30, 60, 120], reps=200, seed=7, population=POP)
    pd.testing.assert_frame_equal(tab, again)


def test_power_in_dyads_at_a_zero_effect_is_alpha():
    tab = apim_power([150], population={"a_A": 0.0, "p_A": 0.0, "a_B": 0.0, "p_B": 0.0}, reps=500, seed=11)
    mcse = math.sqrt(0.05 * 0.95 / 500)
    assert (abs(tab["power"] - 0.05) <= 3.5 * mcse).all(), tab[["parameter", "power"]]
    assert np.allclose(tab["power_analytic"], 0.05)
    pooled = tab["power"].mean()  # 2000 tests
    assert abs(pooled - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / 2000)


@pytest.mark.slow
def test_power_in_dyads_matches_a_lavaan_simulation():
    """apim_power.R: the same population, lavaan sem() per replicate; within Monte Carlo error."""
    ref = {r["n"]: r for r in POWER_REF["results"]}
    assert POWER_REF["population"] == {**POP, "cx": 0.3, "cy": 0.3}
    tab = asymtrust.power("apim", n=sorted(ref), reps=POWER_REF["reps"], seed=18, population=POP)
    for r in tab.itertuples():
        want = ref[r.n]["power"][r.parameter]
        se = math.sqrt((r.power * (1 - r.power) + want * (1 - want)) / POWER_REF["reps"])
        assert abs(r.power - want) <= 4 * se + 0.005, (r.n, r.parameter, r.power, want)
        assert r.mean_est == pytest.approx(ref[r.n]["mean_est"][r.parameter], abs=0.02)


def test_power_in_dyads_refusals():
    with pytest.raises(OptionError, match="needs the population actor and partner effects: p_B"):
        asymtrust.power("apim", n=[50], reps=5, population={"a_A": -0.2, "p_A": -0.1, "a_B": -0.3})
    with pytest.raises(OptionError, match="'b_A' is not an APIM value"):
        asymtrust.power("apim", n=[50], reps=5, population={**POP, "b_A": 0.1})
    with pytest.raises(OptionError, match="cx = 1.2 is a correlation"):
        asymtrust.power("apim", n=[50], reps=5, population={**POP, "cx": 1.2})
    with pytest.raises(OptionError, match="side A's actor and partner effects explain"):
        asymtrust.power("apim", n=[50], reps=5, population={**POP, "a_A": 0.9, "p_A": 0.5})
    with pytest.raises(OptionError, match=r"cannot simulate the item-level dyadic data of spec 'fig1_dyadic'"):
        asymtrust.power("fig1_dyadic", n=[200], reps=5)


# ----------------------------------------------------------------------------- the main report
DYAD_SPEC = """CapImb =~ cap1 + cap2 + cap3
GoodTrust =~ gtr1 + gtr2 + gtr3
CompTrust =~ ctr1 + ctr2 + ctr3
GoodTrust ~ CapImb
CompTrust ~ CapImb
GoodTrust ~~ CompTrust
"""


@pytest.fixture(scope="module")
def dyad_spec(tmp_path_factory):
    f = tmp_path_factory.mktemp("spec") / "dyad.lav"
    f.write_text(DYAD_SPEC, encoding="utf-8")
    return f


@pytest.mark.slow
def test_report_gains_the_dyadic_section(tmp_path, dyad_spec, capsys):
    from asymtrust.cli import main

    out = tmp_path / "rep"
    argv = ["report", "bcf_dyads", "--spec", str(dyad_spec), "--out", str(out), "--dyad", "partnership",
            "--side", "sector", "--sides", "nhs", "council", "--rsa", "GoodTrust_council", "CapImb_nhs",
            "CapImb_council", "--bootstrap", "0", "--seed", "3", "--quiet"]
    assert main(argv) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Both sides of each partnership" in page and "Actor and partner effects" in page
    assert "Distinguishability of the sides" in page and "RSA package&#x27;s models compared" in page
    assert "200 partnerships with sides &#39;nhs&#39; and &#39;council&#39; (10 with one side missing" in page
    for fig in ("apim", "response_surface"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 10_000
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Both sides of each partnership" in md and "figures/apim.png" in md
    doc = json.loads((out / "fit_indices.json").read_text())
    eff = {(e["effect"], e["side"]): e["est"] for e in doc["dyadic"]["effects"]}
    assert doc["dyadic"]["x"] == "CapImb" and doc["dyadic"]["y"] == "GoodTrust"  # the default APIM
    # the population (datasets/bcf_dyads.md): actor -0.20 / -0.45, partner -0.10 / -0.30, attenuated
    assert eff[("actor", "council")] < eff[("actor", "nhs")] < 0 and eff[("partner", "council")] < 0
    assert "--dyad partnership --side sector --sides nhs council" in page


def test_report_dyadic_bad_input_is_refused_before_fitting(tmp_path, dyad_spec):
    from asymtrust.reporting.build import report

    d = asymtrust.load_dataset("bcf_dyads")
    with pytest.raises(OptionError, match="needs both the partnership column"):
        report(d, spec=dyad_spec, out=tmp_path / "a", dyad="partnership", bootstrap=0, seed=1, quiet=True)
    with pytest.raises(asymtrust.exceptions.DataError, match="--dyad column 'pair' is not in the data"):
        report(d, spec=dyad_spec, out=tmp_path / "b", dyad="pair", side="sector", bootstrap=0, seed=1, quiet=True)
    three = d.copy()
    three.loc[three.index[:2], "sector"] = "voluntary"
    with pytest.raises(asymtrust.exceptions.DataError, match="partnership 'BCF001' has 3 sides"):
        report(three, spec=dyad_spec, out=tmp_path / "c", dyad="partnership", side="sector", bootstrap=0, seed=1,
               quiet=True)
    with pytest.raises(OptionError, match="RSA variable 'GoodTrust_voluntary' is not a column"):
        report(d, spec=dyad_spec, out=tmp_path / "d", dyad="partnership", side="sector", bootstrap=0, seed=1,
               quiet=True, rsa=("GoodTrust_voluntary", "CapImb_nhs", "CapImb_council"))
    with pytest.raises(OptionError, match="APIM variable 'Nope' is neither a construct"):
        report(d, spec=dyad_spec, out=tmp_path / "e", dyad="partnership", side="sector", bootstrap=0, seed=1,
               quiet=True, apim=("Nope", "GoodTrust"))
    assert not any((tmp_path / n).exists() for n in "abcde")


def test_report_without_dyad_says_how_to_ask():
    from types import SimpleNamespace

    from asymtrust.reporting.sections import _dyadic

    sec = _dyadic(SimpleNamespace(dyadic=None))
    assert sec.status == "not requested" and "--dyad COLUMN --side COLUMN" in sec.blocks[0].text
