"""The ordinal invariance ladder under Wu & Estabrook's (2016) identification (issue 15):
``invariance(..., ordered=, identification="wu.estabrook")`` against semTools 0.5-6
``measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016")`` fitted with lavaan 0.6-14.

References (tests/reference/ordinal_analysis/bfi_wu_estabrook.R -> bfi_wu_estabrook_delta.json,
bfi_wu_estabrook_theta.json): psych's bfi (15 items of A, C, N; tests/reference/ordinal/bfi.csv),
by gender, WLSMV, delta and theta parameterizations: per level the syntax semTools writes, the
estimates and SEs of its fit, fitMeasures, and lavTestLRT (Satorra 2000) of adjacent levels and of
configural against scalar. Tolerances of the issue: estimates and SEs 2e-3, chi-square and the
difference tests 1e-3 relative.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.compare import difference_test
from asymtrust.analysis.invariance import ORDINAL_LEVELS, invariance, wu_estabrook_syntax
from asymtrust.exceptions import OptionError

REF = Path(__file__).parent / "reference" / "ordinal_analysis"
ORD = Path(__file__).parent / "reference" / "ordinal"


def _ref(p: str) -> dict:
    return json.loads((REF / f"bfi_wu_estabrook_{p}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    d = pd.read_csv(ORD / "bfi.csv")
    d["gender"] = json.loads((ORD / "bfi_cfa_wlsmv_groups.json").read_text(encoding="utf-8"))["gender"]
    return d[_ref("delta")["items"] + ["gender"]]


@pytest.fixture(scope="module", params=["delta", "theta"])
def ladder(request, bfi):
    p = request.param
    ref = _ref(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = invariance(ref["model"], bfi, "gender", ordered=True, parameterization=p,
                         identification="wu.estabrook")
        fits = {lv: asymtrust.fit(tab.attrs["level_syntax"][lv], bfi, ordered=True, parameterization=p,
                                  std_lv=True, group="gender", group_equal=ORDINAL_LEVELS[lv])
                for lv in ORDINAL_LEVELS}
    return p, ref, tab, fits


def test_wu_estabrook_ladder_fits_match_semtools(ladder):
    p, ref, tab, _ = ladder
    assert tab.attrs["identification"] == "wu.estabrook" and tab.attrs["estimator"] == "WLSMV"
    assert tab.attrs["nobs"] == ref["nobs"] and tab.attrs["group_labels"] == ref["group_labels"]
    assert list(tab["level"]) == list(ref["levels"]) and all(ref["converged"].values())
    for _, row in tab.iterrows():
        fm = ref["fit"][row["level"]]
        assert row["npar"] == fm["npar"] and row["df"] == fm["df"]
        assert row["chisq"] == pytest.approx(fm["chisq"], rel=1e-3)
        assert row["chisq_scaled"] == pytest.approx(fm["chisq.scaled"], rel=1e-3)
        assert row["chisq_scaling_factor"] == pytest.approx(fm["chisq.scaling.factor"], abs=2e-3)
        assert row["cfi_scaled"] == pytest.approx(fm["cfi.scaled"], abs=2e-3)
        assert row["rmsea_scaled"] == pytest.approx(fm["rmsea.scaled"], abs=2e-3)
    # unlike lavaan's identification, the scalar level adds constraints (12 = 15 items - 3 factors)
    assert not any("adds no constraint" in w for w in tab.attrs["warnings"])


def test_wu_estabrook_differences_are_lavaans_satorra_2000(ladder):
    p, ref, tab, fits = ladder
    for i, lrt in enumerate(ref["lrt"][:3], start=1):
        row = tab.iloc[i]
        assert "satorra.2000" in lrt["method"]
        assert (tab.iloc[i - 1]["level"], row["level"]) == (lrt["general"], lrt["restricted"])
        assert row["delta_df"] == lrt["df_diff"]
        assert row["delta_chisq"] == pytest.approx(lrt["chisq_diff"], rel=1e-3)
        assert row["p_delta"] == pytest.approx(lrt["p"], rel=1e-3, abs=1e-12)
    lrt = ref["lrt"][3]  # configural against scalar, not adjacent
    assert (lrt["general"], lrt["restricted"]) == ("configural", "scalar")
    test = difference_test(fits["configural"], fits["scalar"])
    assert test["delta_df"] == lrt["df_diff"]
    assert test["delta_chisq"] == pytest.approx(lrt["chisq_diff"], rel=1e-3)


def test_wu_estabrook_estimates_and_ses_match_semtools(ladder):
    p, ref, tab, fits = ladder
    worst = 0.0
    for level, res in fits.items():
        # the level's own fit is the ladder's row
        assert res.fit_indices["chisq"] == pytest.approx(tab.set_index("level").loc[level, "chisq"], rel=1e-9)
        r = pd.DataFrame({k: ref["estimates"][level][k] for k in ("lhs", "op", "rhs", "group", "est", "se")})
        m = r.merge(res.estimates[["lhs", "op", "rhs", "group", "est", "se"]], on=["lhs", "op", "rhs", "group"],
                    how="left", suffixes=("_r", ""))
        assert len(m) == len(r) > 250 and not m["est"].isna().any()
        np.testing.assert_allclose(m["est"], m["est_r"], atol=2e-3)
        np.testing.assert_allclose(m["se"], m["se_r"], atol=2e-3)
        worst = max(worst, float(np.max(np.abs(m["est"] - m["est_r"]))))
    assert worst < 2e-3


def test_wu_estabrook_syntax_frees_what_semtools_frees(ladder):
    """The parameters free in group 2 per level are those of semTools' syntax: free
    intercepts and fixed factor means under equal thresholds, the reverse under equal
    intercepts, and free factor variances under equal loadings."""
    p, ref, tab, fits = ladder
    for level, res in fits.items():
        e = res.estimates[res.estimates["group"] == 2]
        r = pd.DataFrame({k: ref["estimates"][level][k] for k in ("lhs", "op", "rhs", "group", "se")})
        r = r[r["group"] == 2]
        for op in ("~1", "~~", "~*~"):
            ours = set(e.loc[(e["op"] == op) & (e["se"] > 0), "lhs"] + "|" + e.loc[(e["op"] == op) & (e["se"] > 0), "rhs"])
            theirs = set(r.loc[(r["op"] == op) & (r["se"] > 0), "lhs"] + "|" + r.loc[(r["op"] == op) & (r["se"] > 0), "rhs"])
            assert ours == theirs, (level, op)
    text = wu_estabrook_syntax("F =~ a + b + c\nG =~ d + e + f + c", ("thresholds", "loadings"), 3)
    assert "a ~ c(0, NA, NA)*1" in text and "F ~ 0*1" in text and "G ~ 0*1" in text
    text = wu_estabrook_syntax("F =~ a + b + c\nG =~ d + e + f + c", ("thresholds", "loadings", "intercepts"), 2)
    assert "~ c(0" not in text and "F ~ 0*1" not in text
    # a factor measured only by cross-loading items keeps its mean fixed under equal intercepts
    text = wu_estabrook_syntax("F =~ a + b + c\nG =~ a + b", ("thresholds", "loadings", "intercepts"), 2)
    assert "G ~ 0*1" in text and "F ~ 0*1" not in text
    with pytest.raises(OptionError, match="remove the statement 'F ~ 1'"):
        wu_estabrook_syntax("F =~ a + b + c\nF ~ 1", ("thresholds",), 2)


def test_wu_estabrook_refusals_are_typed(bfi):
    ref = _ref("delta")
    with pytest.raises(OptionError, match="identification='wu.estabrook' applies to ordered items only"):
        invariance(ref["model"], bfi, "gender", identification="wu.estabrook")
    with pytest.raises(OptionError, match="identification must be 'lavaan' or 'wu.estabrook', not 'millsap'"):
        invariance(ref["model"], bfi, "gender", ordered=True, identification="millsap")
    binary = bfi.assign(A1=(bfi["A1"] > 3).astype(float).where(bfi["A1"].notna()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(OptionError, match=r"not supported for: A1 \(binary\)"):
            invariance(ref["model"], binary, "gender", ordered=True, identification="wu.estabrook")
        with pytest.raises(OptionError, match=r"C1 \(not ordered\)"):
            invariance(ref["model"], bfi, "gender", ordered=[c for c in ref["items"] if c != "C1"],
                       identification="wu.estabrook")


@pytest.mark.slow
def test_cli_invariance_takes_identification(tmp_path, bfi, capsys):
    from asymtrust import cli

    ref = _ref("delta")
    data = tmp_path / "bfi.csv"
    bfi.to_csv(data, index=False)
    spec = tmp_path / "acn.lav"
    spec.write_text(ref["model"] + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = cli.main(["invariance", str(data), "--spec", str(spec), "--group", "gender", "--ordered",
                         "--identification", "wu.estabrook", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert doc["identification"] == "wu.estabrook"
    rows = {r["level"]: r for r in doc["invariance"]}
    assert rows["scalar"]["delta_df"] == ref["lrt"][2]["df_diff"]
    assert rows["scalar"]["delta_chisq"] == pytest.approx(ref["lrt"][2]["chisq_diff"], rel=1e-3)
