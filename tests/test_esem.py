"""ESEM: efa("set")* blocks inside asymtrust.fit() against lavaan 0.6-14's sem() (issue 19).

References: tests/reference/esem/esem_cases.R -> esem.json (HolzingerSwineford1939).
Estimates and SEs within 2e-3 up to the order and sign of the factors within an efa set
(aligned as tests/test_efa.py does), fit measures within 1e-3.
"""
from __future__ import annotations

import os
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factor_alignment import align as _align
import asymtrust
from asymtrust.exceptions import OptionError
from r_mask import apply_r_mask

META = json.loads((Path(__file__).parent / "reference" / "esem" / "esem.json").read_text())
REF = META["cases"]
BFI = Path(__file__).parent / "reference" / "efa" / "bfi25.csv"  # psych's bfi[, 1:25]
TOL_EST, TOL_FIT = 2e-3, 1e-3
FIT_KEYS = ["npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl", "bic",
            "chisq_scaled", "cfi_robust", "rmsea_robust"]


def _fit_args(ref) -> dict:
    args = dict(ref["fit_args"] or {})
    return {k.replace(".", "_"): v for k, v in args.items()}


@pytest.fixture(scope="module")
def hs():
    return asymtrust.load_dataset("hs1939")


@pytest.fixture(scope="module")
def fits(hs):
    return {}


def _fit(fits, hs, case):
    if case not in fits:
        data = {"bfi": lambda: pd.read_csv(BFI), "hsm": lambda: _masked(hs)}.get(REF[case].get("data"), lambda: hs)()
        fits[case] = asymtrust.fit(REF[case]["model"], data, **_fit_args(REF[case]))
    return fits[case]


def _masked(hs: pd.DataFrame) -> pd.DataFrame:
    """HS with the 5% MCAR cells of the R script (1-based column-major indices into x1..x9)."""
    return apply_r_mask(hs, META["mask_columns"], META["mask_indices"])


def _frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["est"] = pd.to_numeric(df["est"].replace("NA", np.nan))
    df["se"] = pd.to_numeric(df["se"].replace("NA", np.nan))
    df["group"] = df["group"].astype(int)
    return df


def _loadings(df, lvs, ovs, g):
    L = np.zeros((len(ovs), len(lvs)))
    sub = df[(df["op"] == "=~") & (df["group"] == g)].set_index(["lhs", "rhs"])["est"]
    for j, f in enumerate(lvs):
        for i, v in enumerate(ovs):
            L[i, j] = sub.get((f, v), 0.0)
    return L


def aligned(ours: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """Our estimates with each efa set's factors renamed and reflected to match lavaan's."""
    sets = ref[(ref["op"] == "=~") & (ref["efa"] != "")]
    out = ours.copy()
    for (g, name), rows in sets.groupby(["group", "efa"]):
        lvs, ovs = list(dict.fromkeys(rows["lhs"])), list(dict.fromkeys(rows["rhs"]))
        perm, s = _align(_loadings(ours, lvs, ovs, g), _loadings(ref, lvs, ovs, g))
        rename = {lvs[perm[j]]: lvs[j] for j in range(len(lvs))}
        sign = {lvs[perm[j]]: s[j] for j in range(len(lvs))}
        m = out["group"] == g
        for col in ("lhs", "rhs"):
            f = out.loc[m, col].map(lambda v: sign.get(v, 1.0)).to_numpy()
            ops = out.loc[m, "op"].to_numpy()
            if col == "rhs":
                f = np.where(np.isin(ops, ["~~", "~"]), f, 1.0)
            out.loc[m, "est"] = out.loc[m, "est"].to_numpy() * f
        out.loc[m, "lhs"] = out.loc[m, "lhs"].map(lambda v: rename.get(v, v))
        out.loc[m, "rhs"] = out.loc[m, "rhs"].map(lambda v: rename.get(v, v))
    return out


def _key(df):
    a, b = df["lhs"].astype(str), df["rhs"].astype(str)
    sym = df["op"] == "~~"
    lo = np.where(sym & (a > b), b, a)
    hi = np.where(sym & (a > b), a, b)
    return list(zip(lo, df["op"], hi, df["group"].astype(int)))


def compare(res, ref_case):
    ref = _frame(REF[ref_case]["estimates"])
    ours = res.estimates
    ours = ours[ours["op"].isin(["=~", "~", "~~", "~1"])].copy()
    ours = aligned(ours, ref)
    a = pd.DataFrame({"est": ours["est"].to_numpy(), "se": ours["se"].to_numpy()}, index=_key(ours))
    b = pd.DataFrame({"est": ref["est"].to_numpy(), "se": ref["se"].to_numpy()}, index=_key(ref))
    b = b.loc[[k for k in b.index if k[1] in ("=~", "~", "~~", "~1")]]
    assert set(a.index) == set(b.index)
    a = a.loc[b.index]
    np.testing.assert_allclose(a["est"], b["est"], atol=TOL_EST, rtol=0)
    np.testing.assert_allclose(a["se"], b["se"], atol=TOL_EST, rtol=0)
    r2 = REF[ref_case].get("r2") or {}
    ours_r2 = res.r2[0] if res.r2 else {}
    for name, value in r2.items():  # R^2 of the rotated model (efa factors as outcomes too)
        assert float(ours_r2[name]) == pytest.approx(value, abs=TOL_EST), name
    fm = REF[ref_case]["fit"]
    for k in FIT_KEYS:
        if k in fm and fm[k] != "NA":
            assert float(res.fit_indices[k]) == pytest.approx(fm[k], abs=TOL_FIT), k


@pytest.mark.parametrize("case", sorted(REF))
def test_matches_lavaan(fits, hs, case):
    res = _fit(fits, hs, case)
    assert res.converged
    compare(res, case)


def test_rotation_details_and_unrotated_fit(fits, hs):
    res = _fit(fits, hs, "hs_geomin")
    info = res.estimates.attrs["rotation"]
    assert info["method"] == "geomin" and not info["orthogonal"]
    assert [(d["set"], d["group"], d["factors"], d["converged"]) for d in info["sets"]] == [("efa", 1, ["f1", "f2"], True)]
    assert res.options["rotation"] == "geomin"
    # rotation does not change the implied moments: the unrotated fit's measures stand
    none = asymtrust.fit(REF["hs_geomin"]["model"], hs, rotation="none")
    assert float(none.fit_indices["chisq"]) == pytest.approx(float(res.fit_indices["chisq"]), abs=1e-8)
    e = none.estimates
    assert float(e[(e.lhs == "f2") & (e.op == "=~") & (e.rhs == "x1")]["est"].iloc[0]) == 0.0  # echelon zero


def test_rotation_refused_without_efa_sets(hs):
    model = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6"
    with pytest.raises(OptionError, match="rotation"):
        asymtrust.fit(model, hs, rotation="oblimin")
    with pytest.raises(OptionError, match="rotation_args"):
        asymtrust.fit(model, hs, rotation_args={"rstarts": 5})
    res = asymtrust.fit(model, hs, rotation="geomin")  # lavaan's default: a no-op
    assert "rotation" not in res.options
    with pytest.raises(OptionError, match="rotation.args"):
        asymtrust.fit(model, hs, **{"rotation.args": {"rstarts": 5}})


def test_esem_refusals(hs):
    model = REF["hs_geomin"]["model"]
    with pytest.raises(OptionError, match="rotation"):
        asymtrust.fit(model, hs, rotation="nonsense")
    with pytest.raises(OptionError, match="rotation_args"):
        asymtrust.fit(model, hs, rotation_args={"no_such": 1})
    with pytest.raises(OptionError, match="bootstrap"):
        asymtrust.fit(model, hs, se="bootstrap", bootstrap=10)
    with pytest.raises(OptionError, match="equal across groups"):
        asymtrust.fit(model, hs, group="school", group_equal=["loadings"])


def test_promax_has_no_standard_errors(hs):
    res = asymtrust.fit(REF["hs_geomin"]["model"], hs, rotation="promax")
    e = res.estimates
    assert e.loc[e["op"] == "=~", "se"].isna().all()
    assert any("promax" in w for w in res.warnings)


# ----------------------------------------------------------------------------- lavaan's harness: mplus_4_1a
CHECK = Path(__file__).parent / "reference" / "lavaan-check" / "mplus_4_1a.json"


def _check_data() -> Path:
    """The harness data, found as scripts/lavaan_check.py finds them."""
    env = os.environ.get("LAVAAN_CHECK_DATA")
    cands = [Path(env)] if env else [Path(__file__).resolve().parents[2] / "shared" / "reference" / "lavaan-check",
                                     Path("/work/shared/reference/lavaan-check")]
    return next((c / "ex4.1a.csv" for c in cands if (c / "ex4.1a.csv").exists()), cands[-1] / "ex4.1a.csv")


CHECK_DATA = _check_data()


@pytest.mark.skipif(not CHECK_DATA.exists(), reason="lavaan-check data (LAVAAN_CHECK_DATA) not available")
def test_lavaan_check_mplus_4_1a():
    """lavaan's efa() on Mplus example 4.1a, 1 to 4 factors, fitted as efa() sets with
    fit(): lavaan's ML-extraction start values reach lavaan's optimum (the 1-3 factor
    models have worse local optima)."""
    ref = json.loads(CHECK.read_text())
    data = pd.read_csv(CHECK_DATA)
    ov = ref["ov_names"]
    for name, f in ref["fits"].items():
        m = int(f["nfactors"])
        lhs = " + ".join(f'efa("efa")*f{i}' for i in range(1, m + 1))
        res = asymtrust.fit(f"{lhs} =~ {' + '.join(ov)}", data)
        e = res.estimates[res.estimates["op"] == "=~"]
        L = e.pivot(index="rhs", columns="lhs", values="est").loc[ov, [f"f{i}" for i in range(1, m + 1)]].to_numpy()
        Lr = np.array(f["loadings"]["rows"], float)
        perm, s = _align(L, Lr)
        np.testing.assert_allclose(L[:, perm] * s, Lr, atol=TOL_EST, rtol=0, err_msg=name)
        assert float(res.fit_indices["chisq"]) == pytest.approx(f["fit_measures"]["chisq"], abs=TOL_FIT), name


def test_from_moments_equals_raw_data(fits, hs):
    """sample_cov (lavaan's sample.cov, unbiased and rescaled) gives the raw-data ESEM."""
    raw = _fit(fits, hs, "hs_geomin")
    cols = [f"x{i}" for i in range(1, 10)]
    mom = asymtrust.fit(REF["hs_geomin"]["model"], sample_cov=hs[cols].cov(), sample_nobs=len(hs))
    np.testing.assert_allclose(mom.estimates["est"], raw.estimates["est"], atol=1e-6)
    np.testing.assert_allclose(mom.estimates["se"], raw.estimates["se"], atol=1e-6)
    assert mom.options["rotation"] == "geomin"


def test_factor_scores_of_the_rotated_factors(fits, hs):
    """lavPredict() on an ESEM scores the rotated factors: lavaan's regression scores of
    the first 10 rows (FitResult.predict() turns the unrotated model's scores by H')."""
    res = _fit(fits, hs, "hs_geomin")
    sc = res.predict()
    ref = np.array(META["scores_hs_geomin"], float)
    perm, s = _align(sc[["f1", "f2"]].to_numpy()[: len(ref)], ref)
    np.testing.assert_allclose(sc[["f1", "f2"]].to_numpy()[: len(ref), perm] * s, ref, atol=TOL_EST)
