"""Model comparison (fit table + nested chi-square difference tests) against lavaan 0.6-14.

Reference: ``tests/reference/invariance/bcf_compare.json`` from ``bcf_compare.R``:
``sem()`` fits of fig1, fig1_direct and fig1_single_trust on bcf_synthetic (reverse-keyed
items recoded), ML and MLR, and ``lavTestLRT()`` of the three and of fig1 vs fig1_direct.
Tolerances as tests/reference/README.md: χ² 1e-4 relative, Δχ² and c_d 1e-3 relative,
indices 1e-3 absolute, AIC/BIC 0.01 absolute, p 1e-4 absolute.
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.compare import Comparison, compare, difference_test
from asymtrust.exceptions import OptionError

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference" / "invariance"
SPECS = ["fig1", "fig1_direct", "fig1_single_trust"]


def _ref() -> dict:
    rec = json.loads((REF / "bcf_compare.json").read_text())
    assert rec["lavaan_version"] == "0.6.14"
    data = ROOT / "datasets" / rec["data_name"]
    assert hashlib.sha256(data.read_bytes()).hexdigest() == rec["data_sha256"], "bcf_synthetic.csv changed"
    assert rec["specs"] == SPECS
    return rec


def _close(a, b, *, rtol=0.0, atol=0.0) -> bool:
    a = float("nan") if a is None else float(a)
    b = float("nan") if b is None else float(b)
    if math.isnan(b):
        return math.isnan(a)
    return abs(a - b) <= atol + rtol * abs(b)


@pytest.fixture(scope="module")
def bcf():
    return asymtrust.recode_reverse(pd.read_csv(ROOT / "datasets" / "bcf_synthetic.csv"))


@pytest.fixture(scope="module")
def cmp_ml(bcf):
    with pytest.warns(UserWarning, match="different latent variables"):
        return compare(SPECS, bcf)


@pytest.fixture(scope="module")
def cmp_mlr(bcf):
    with pytest.warns(UserWarning) as rec:
        out = compare(SPECS, bcf, estimator="MLR")
    msgs = [str(w.message) for w in rec]
    assert any("scaling factor of the difference is negative" in m for m in msgs)
    assert any("different latent variables" in m for m in msgs)
    return out


def _check_table(table: pd.DataFrame, fits: dict, scaled: bool) -> None:
    assert table["name"].tolist() == SPECS
    for name in SPECS:
        row = table.set_index("name").loc[name]
        fm = fits[name]["fit_measures"]
        assert int(row["npar"]) == int(fm["npar"]) and int(row["df"]) == int(fm["df"])
        assert int(row["nobs"]) == int(fm["ntotal"])
        assert _close(row["chisq"], fm["chisq"], rtol=1e-4)
        for k in ("pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "srmr"):
            assert _close(row[k], fm[k], atol=1e-3), (name, k)
        for k in ("aic", "bic"):
            assert _close(row[k], fm[k], atol=0.01), (name, k)
        if scaled:
            assert _close(row["chisq_scaled"], fm["chisq_scaled"], rtol=1e-4)
            for k in ("chisq_scaling_factor", "pvalue_scaled", "cfi_scaled", "tli_scaled", "rmsea_scaled",
                      "cfi_robust", "tli_robust", "rmsea_robust"):
                assert _close(row[k], fm[k], atol=1e-3), (name, k)
    assert table["delta_aic"].min() == 0.0 and table["delta_bic"].min() == 0.0
    best = table.loc[table["aic"].idxmin(), "name"]
    assert table.set_index("name").loc[best, "delta_aic"] == 0.0


def _check_tests(tests: pd.DataFrame, lrt: list[dict], pairs: list[tuple[str, str]], rmsea: bool) -> None:
    assert list(zip(tests["general"], tests["restricted"])) == pairs
    for (general, restricted), row in zip(pairs, tests.itertuples(index=False)):
        ref = next(r for r in lrt if r["model"] == restricted)
        assert _close(row.delta_chisq, ref["Chisq_diff"], rtol=1e-3), (general, restricted)
        assert int(row.delta_df) == int(ref["Df_diff"])
        assert _close(row.p_delta, ref["Pr_Chisq"], atol=1e-4)
        if rmsea:
            assert _close(row.rmsea_d, ref["RMSEA"], atol=1e-3)


def test_compare_ml_matches_lavaan(cmp_ml):
    ref = _ref()["ml"]
    assert isinstance(cmp_ml, Comparison)
    _check_table(cmp_ml.table, ref["fits"], scaled=False)
    # lavTestLRT sorts by df and tests adjacent pairs: fig1_direct (435) < fig1 (440) < fig1_single_trust (443)
    pairs = [("fig1_direct", "fig1"), ("fig1", "fig1_single_trust")]
    _check_tests(cmp_ml.tests, ref["lrt_all"], pairs, rmsea=True)
    assert set(cmp_ml.tests["method"]) == {"chi-square difference"}
    # the boundary pair carries its warning in the table too
    note = cmp_ml.tests.set_index("restricted").loc["fig1_single_trust", "note"]
    assert "boundary" in note and "CompTrust" in note
    assert cmp_ml.tests.set_index("restricted").loc["fig1", "note"] == ""
    assert cmp_ml.to_frame().equals(cmp_ml.table)


def test_compare_mlr_sb2001_matches_lavaan(cmp_mlr):
    ref = _ref()["mlr"]
    _check_table(cmp_mlr.table, ref["fits"], scaled=True)
    pairs = [("fig1_direct", "fig1"), ("fig1", "fig1_single_trust")]
    _check_tests(cmp_mlr.tests, ref["lrt_all"], pairs, rmsea=False)
    t = cmp_mlr.tests.set_index("restricted")
    assert _close(t.loc["fig1", "scaling_factor_d"], ref["sb2001_cd"]["fig1_direct__fig1"], rtol=1e-3)
    # c_d of fig1 vs fig1_single_trust is negative in lavaan too: no scaled statistic
    assert ref["sb2001_cd"]["fig1__fig1_single_trust"] < 0
    assert math.isnan(t.loc["fig1_single_trust", "scaling_factor_d"])
    assert math.isnan(t.loc["fig1_single_trust", "delta_chisq"]) and math.isnan(t.loc["fig1_single_trust", "p_delta"])
    assert set(cmp_mlr.tests["method"]) == {"Satorra-Bentler 2001"}
    assert cmp_mlr.tests["rmsea_d"].isna().all()  # lavaan 0.6-14 gives no RMSEA_D for scaled tests


@pytest.mark.parametrize("estimator", ["ML", "MLR"])
def test_explicit_nested_pair_matches_lavaan(cmp_ml, cmp_mlr, estimator):
    ref = _ref()[estimator.lower()]["lrt_pair"]
    fits = (cmp_ml if estimator == "ML" else cmp_mlr).fits
    res = difference_test(fits["fig1_direct"], fits["fig1"])
    swapped = difference_test(fits["fig1"], fits["fig1_direct"])  # order does not matter
    row = next(r for r in ref if r["model"] == "fig1")
    for out in (res, swapped):
        assert _close(out["delta_chisq"], row["Chisq_diff"], rtol=1e-3)
        assert out["delta_df"] == row["Df_diff"] == 5
        assert _close(out["p_delta"], row["Pr_Chisq"], atol=1e-4)


def test_nested_argument_selects_pairs(bcf):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fig1/fig1_direct pair alone raises no warning
        out = compare(["fig1", "fig1_direct"], bcf, nested=[("fig1", "fig1_direct")])
    ref = next(r for r in _ref()["ml"]["lrt_pair"] if r["model"] == "fig1")
    assert out.tests[["general", "restricted"]].values.tolist() == [["fig1_direct", "fig1"]]
    assert _close(out.tests.loc[0, "delta_chisq"], ref["Chisq_diff"], rtol=1e-3)
    d = out.to_dict()
    assert d["models"][0]["name"] == "fig1" and d["tests"][0]["restricted"] == "fig1"
    assert "Nested-model tests" in out.summary()


def test_models_with_different_observed_variables_are_not_tested():
    hs = asymtrust.load_dataset("hs1939")
    three = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
    two = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6"
    with pytest.warns(UserWarning, match="different observed variables"):
        out = compare({"three": three, "two": two}, hs)
    assert len(out.tests) == 0 and out.table["name"].tolist() == ["three", "two"]


def test_bad_input_raises_option_error(bcf):
    with pytest.raises(OptionError, match="at least two models, got 1"):
        compare(["fig1"], bcf)
    with pytest.raises(OptionError, match="'fig1' is given more than once"):
        compare(["fig1", "fig1"], bcf)
    with pytest.raises(OptionError, match="must be a list"):
        compare("fig1", bcf)
    with pytest.raises(OptionError, match="unknown model 'fig9'"):
        compare(["fig1", "fig1_direct"], bcf, nested=[("fig1", "fig9")])
