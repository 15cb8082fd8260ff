"""APA tables: formatting rules, exporters, and that the numbers they show are the
fitted numbers, checked against lavaan 0.6-14 (tests/reference/lavaan/fig1_bcf_*.json,
written by tests/reference/lavaan/fig1_cases.R) and semTools/psych
(tests/reference/reliability/bcf_fig1.json, written by bcf_fig1.R)."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.reporting import tables as T

Z95 = 1.959963984540054


@pytest.fixture(scope="module")
def bcf() -> pd.DataFrame:
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))


@pytest.fixture(scope="module")
def fig1_fit(bcf):
    return asymtrust.fit("fig1", bcf)


@pytest.fixture(scope="module")
def fig1_mlr(bcf):
    return asymtrust.fit("fig1", bcf, estimator="MLR")


@pytest.fixture(scope="module")
def lav_ml(load_reference):
    return load_reference("lavaan/fig1_bcf_ml.json")


def _ref_rows(ref: dict, op: str) -> dict[tuple[str, str], dict]:
    return {(e["lhs"], e["rhs"]): e for e in ref["estimates"] if e["op"] == op}


# ------------------------------------------------------------------ formatting rules
@pytest.mark.parametrize(
    "value, fmt, expected",
    [
        (0.0004, "p", "< .001"),
        (0.001, "p", ".001"),
        (0.04582, "p", ".046"),
        (0.9999, "p", "1.000"),
        (-0.2567, "r2", "\u2212.26"),
        (0.004, "r2", ".00"),
        (-0.004, "r2", ".00"),  # no "negative zero"
        (0.99239, "r3", ".992"),
        (1.0213, "r2", "1.02"),  # a value that can exceed 1 keeps its leading digit
        (-0.2567, "f3", "\u22120.257"),
        (491.2410, "f2", "491.24"),
        (440.0, "int", "440"),
        (float("nan"), "f2", "\u2014"),
        (None, "r2", "\u2014"),
        (True, "bool", "yes"),
        (pd.NA, "bool", "\u2014"),
        ("CompTrust", "text", "CompTrust"),
    ],
)
def test_format_value_apa_rules(value, fmt, expected):
    assert T.format_value(value, fmt) == expected


def test_format_value_ascii_minus_for_csv():
    assert T.format_value(-0.25, "r2", minus="-") == "-.25"


@pytest.mark.parametrize(
    "expected, beta, p, verdict",
    [
        ("-", -0.3, 0.001, "supported"),
        ("+", 0.3, 0.001, "supported"),
        ("-", 0.3, 0.001, "contradicted (opposite sign)"),
        ("-", -0.1, 0.2, "not significant (sign as expected)"),
        ("+", -0.1, 0.2, "not significant (opposite sign)"),
        ("?", 0.4, 0.001, "significant, no expected sign"),
        ("?", 0.4, 0.3, "not significant, no expected sign"),
        ("-", float("nan"), 0.3, "not estimated"),
    ],
)
def test_path_agreement(expected, beta, p, verdict):
    assert T.path_agreement(expected, beta, p) == verdict


# ------------------------------------------------------------------ numbers vs lavaan
def test_fit_table_matches_lavaan(fig1_fit, lav_ml):
    tab = T.fit_table({"fig1": fig1_fit})
    fm = lav_ml["fit_measures"]
    row = tab.iloc[0]
    assert row["Model"] == "fig1"
    assert row["N"] == lav_ml["nobs"]
    assert row["df"] == fm["df"]
    assert row["\u03c7\u00b2"] == pytest.approx(fm["chisq"], rel=1e-4)
    for col, key in [("p", "pvalue"), ("CFI", "cfi"), ("TLI", "tli"), ("RMSEA", "rmsea"),
                     ("RMSEA 90% CI LL", "rmsea_ci_lower"), ("RMSEA 90% CI UL", "rmsea_ci_upper"), ("SRMR", "srmr")]:
        assert row[col] == pytest.approx(fm[key], abs=1e-3), col
    assert row["AIC"] == pytest.approx(fm["aic"], abs=0.01)
    assert row["BIC"] == pytest.approx(fm["bic"], abs=0.01)
    assert "Hu & Bentler 1999" in tab.attrs["note"]


def test_fit_table_mlr_uses_scaled_and_robust(fig1_mlr, load_reference):
    fm = load_reference("lavaan/fig1_bcf_mlr.json")["fit_measures"]
    tab = T.fit_table(fig1_mlr, names=["fig1"])
    row = tab.iloc[0]
    assert row["\u03c7\u00b2"] == pytest.approx(fm["chisq_scaled"], rel=1e-4)
    assert row["CFI"] == pytest.approx(fm["cfi_robust"], abs=1e-3)
    assert row["RMSEA"] == pytest.approx(fm["rmsea_robust"], abs=1e-3)
    assert "Yuan-Bentler" in tab.attrs["note"]


def test_fit_cutoff_table_reads_against_published_cutoffs(fig1_fit, lav_ml):
    from asymtrust.analysis.cutoffs import check, load_cutoffs

    tab = T.fit_cutoff_table(fig1_fit).set_index("Index")
    fm = lav_ml["fit_measures"]
    cut = load_cutoffs().set_index("statistic")
    for stat, label in [("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA"), ("srmr", "SRMR")]:
        assert bool(tab.loc[label, "Meets"]) == check(stat, fm[stat])
        assert T.format_value(cut.at[stat, "threshold"], "r2") in tab.loc[label, "Cut-off"]
        assert tab.loc[label, "Source"] == "Hu & Bentler 1999"
        assert tab.loc[label, "Reading"]
    # the exact-fit test is read at .05 with lavaan's p value
    assert bool(tab.loc["\u03c7\u00b2 test", "Meets"]) == (fm["pvalue"] >= 0.05)
    assert f"\u03c7\u00b2({int(fm['df'])}) = {fm['chisq']:.2f}" in tab.loc["\u03c7\u00b2 test", "Value"]


def test_paths_table_matches_lavaan(fig1_fit, lav_ml):
    spec = asymtrust.load_spec("fig1")
    tab = T.paths_table(fig1_fit, spec)
    ref = _ref_rows(lav_ml, "~")
    assert len(tab) == len(ref) == 10
    signs = {(p.lhs, p.rhs): p.sign for p in spec.paths}
    for row in tab.to_dict("records"):
        e = ref[(row["Outcome"], row["Predictor"])]
        assert row["b"] == pytest.approx(e["est"], abs=1e-3)
        assert row["SE"] == pytest.approx(e["se"], abs=1e-3)
        assert row["\u03b2"] == pytest.approx(e["std_all"], abs=1e-3)
        lo, hi = e["std_all"] - Z95 * e["std_all_se"], e["std_all"] + Z95 * e["std_all_se"]
        assert row["95% CI LL"] == pytest.approx(lo, abs=2e-3)
        assert row["95% CI UL"] == pytest.approx(hi, abs=2e-3)
        assert row["p"] == pytest.approx(e["pvalue"], abs=1e-4)
        exp = signs[(row["Outcome"], row["Predictor"])]
        assert row["Expected"] == {"+": "+", "-": "\u2212"}[exp]
        assert row["Agreement"] == T.path_agreement(exp, e["std_all"], e["pvalue"])


def test_paths_table_without_metadata_says_so(fig1_fit):
    tab = T.paths_table(fig1_fit, None)
    assert set(tab["Expected"]) == {"not stated"}
    assert "no expected signs" in tab.attrs["note"]


def test_r2_table_matches_lavaan(fig1_fit, lav_ml):
    tab = T.r2_table(fig1_fit)
    ref = {r["lhs"]: r["r2"] for r in lav_ml["r2"]}
    assert list(tab["Variable"]) == ["CompTrust", "GoodTrust", "ServCons", "PlanBudg", "JointMgmt"]
    for v, r2 in zip(tab["Variable"], tab["R\u00b2"]):
        assert r2 == pytest.approx(ref[v], abs=1e-3)
    assert tab.loc[tab["Variable"] == "JointMgmt", "Predictors"].item() == "CompTrust, GoodTrust"


def test_reliability_table_matches_semtools(bcf, load_reference):
    ref = load_reference("reliability/bcf_fig1.json")["fig1"]
    rel = asymtrust.reliability(bcf, "fig1")
    tab = T.reliability_table(rel).set_index("Construct")
    for lv, a in ref["alpha"].items():
        assert tab.loc[lv, "\u03b1"] == pytest.approx(a["raw_alpha"], abs=1e-3)
        assert tab.loc[lv, "N"] == a["n_obs"]
    for lv in ref["htmt2"]:
        others = [v for k, v in ref["htmt2"][lv].items() if k != lv]
        assert tab.loc[lv, "max HTMT"] == pytest.approx(max(others), abs=1e-3)
    # the "misses" column is derived from the pass flags
    for lv, row in rel.iterrows():
        missed = tab.loc[lv, "Misses cut-off"]
        assert (missed == "none") == bool(row[["alpha_pass", "omega_pass", "cr_pass", "ave_pass", "htmt_pass",
                                               "fl_pass"]].fillna(True).all())
    assert "HTMT2" in tab.attrs["note"]


def test_effects_table_matches_lavaan_defined_parameters(fig1_fit, load_reference):
    ref = load_reference("lavaan/fig1_bcf_indirect.json")
    defined = {e["lhs"]: e for e in ref["estimates"] if e["op"] == ":="}
    eff = asymtrust.effects(fig1_fit, bootstrap=0)
    tab = T.effects_table(eff[eff["effect"] == "indirect"])
    checked = 0
    ind = eff[eff["effect"] == "indirect"].reset_index(drop=True)
    for row, src, tgt in zip(tab.to_dict("records"), ind["source"], ind["target"]):
        key = f"ind_{src}_{tgt}"
        if key in defined and defined[key]["rhs"].count("*") == 1:  # one chain between the pair
            e = defined[key]
            assert row["Estimate"] == pytest.approx(e["est"], abs=1e-3)
            assert row["SE"] == pytest.approx(e["se"], abs=1e-3)
            assert row["\u03b2"] == pytest.approx(e["std_all"], abs=1e-3)
            checked += 1
    assert checked >= 5
    assert tab["CI excludes 0"].dtype == "boolean"


# ------------------------------------------------------------------ exporters
def test_markdown_export_structure(fig1_fit):
    tab = T.paths_table(fig1_fit, asymtrust.load_spec("fig1"))
    md = T.to_markdown(tab, number=3)
    lines = md.splitlines()
    assert lines[0] == "**Table 3**"
    assert lines[2] == "*Structural paths*"
    header = lines[4]
    assert header.startswith("| Outcome | Predictor | b | SE | \u03b2 |")
    assert lines[5].count("|") == header.count("|")
    body = [ln for ln in lines[6:] if ln.startswith("|")]
    assert len(body) == len(tab)
    assert lines[-1].startswith("*Note.*")
    assert "\u2212.28" in md  # APA: minus sign, no leading zero for β


def test_markdown_escapes_pipes():
    t = T.apa_table(pd.DataFrame({"a": ["x|y"]}), title="t|t")
    md = T.to_markdown(t)
    assert "x\\|y" in md and "t\\|t" in md


def test_latex_export_is_booktabs_and_escaped(fig1_fit):
    tab = T.fit_table({"fig1_model": fig1_fit})
    tex = T.to_latex(tab, label="tab:fit")
    assert tex.startswith("\\begin{table}")
    for token in ("\\toprule", "\\midrule", "\\bottomrule", "\\caption{Model fit}", "\\label{tab:fit}",
                  "$\\chi^2$", "fig1\\_model", "\\textit{Note.}", "90\\% CI"):
        assert token in tex
    assert tex.count("\\\\") == len(tab) + 1  # header + rows
    assert "\u2212" not in tex and "\u03c7" not in tex


def test_csv_export_numeric_and_formatted(fig1_fit):
    tab = T.paths_table(fig1_fit, asymtrust.load_spec("fig1"))
    raw = pd.read_csv(io.StringIO(T.to_csv(tab)))
    assert list(raw.columns) == list(tab.columns)
    np.testing.assert_allclose(raw["b"].to_numpy(), tab["b"].to_numpy(), rtol=1e-9)
    fmt = pd.read_csv(io.StringIO(T.to_csv(tab, formatted=True)), dtype=str)
    assert fmt.loc[0, "p"] == "< .001"
    assert fmt.loc[0, "\u03b2"].startswith("-.")


def test_csv_export_writes_file(tmp_path, fig1_fit):
    tab = T.r2_table(fig1_fit)
    path = tmp_path / "r2.csv"
    text = T.to_csv(tab, path)
    assert path.read_text(encoding="utf-8") == text
    assert len(pd.read_csv(path)) == 5


def test_html_export_highlight_and_escape():
    t = T.apa_table(pd.DataFrame({"Construct": ["<A>"], "AVE": [0.46]}), title="R", note="n&n",
                    formats={"AVE": "r2"})
    html = T.to_html(t, number=2, table_id="tab-x", highlight={(0, "AVE"): "fail"})
    assert 'id="tab-x"' in html and "Table 2" in html
    assert "&lt;A&gt;" in html and "n&amp;n" in html
    assert '<td class="r fail">.46</td>' in html


def test_invariance_and_compare_tables_from_frames():
    inv = pd.DataFrame({"level": ["configural", "metric"], "chisq": [100.0, 110.0], "df": [48, 54],
                        "cfi": [0.95, 0.945], "tli": [0.93, 0.94], "rmsea": [0.05, 0.05], "srmr": [0.04, 0.05],
                        "delta_chisq": [math.nan, 10.0], "delta_df": [math.nan, 6], "p_delta": [math.nan, 0.12],
                        "delta_cfi": [math.nan, -0.005],
                        "verdict": ["configural model", "metric invariance supported: \u0394CFI = -0.005"]})
    t = T.invariance_table(inv)
    assert list(t["Verdict"]) == ["configural model", "metric invariance supported"]
    assert T.format_table(t)["\u0394CFI"].tolist() == ["\u2014", "\u2212.005"]
    cmp = pd.DataFrame({"name": ["a", "b"], "npar": [10, 12], "chisq": [20.0, 15.0], "df": [5, 3],
                        "pvalue": [0.001, 0.002], "cfi": [0.9, 0.95], "tli": [0.8, 0.9], "rmsea": [0.1, 0.08],
                        "srmr": [0.05, 0.04], "aic": [100.0, 99.0], "bic": [120.0, 125.0],
                        "delta_aic": [1.0, 0.0], "delta_bic": [0.0, 5.0]})
    c = T.compare_table(cmp)
    assert list(c["Model"]) == ["a", "b"] and "\u0394AIC" in c.columns
    assert "Burnham & Anderson 2002" in c.attrs["note"]
