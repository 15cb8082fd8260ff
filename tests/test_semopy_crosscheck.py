"""Cross-check of the estimation engine against semopy (single-group ML, HS 3-factor CFA).

lavaan 0.6-14 is the reference for asymtrust (``tests/test_lavaan_reference.py``);
semopy is only an independent second opinion, reached through the one boundary
module ``asymtrust._semopy``.

Conventions (checked here against the lavaan JSON before semopy is trusted):
semopy's chi-square is ``n * F_ML`` with the covariance on divisor ``n``, the same
as lavaan's default ``likelihood="normal"``, so chi-square is compared directly.
semopy's RMSEA (divisor ``n - 1``) and its LogLik/AIC/BIC (built from the
objective value) follow other conventions and are not compared.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from asymtrust._semopy import fit_semopy, semopy_version

REF = Path(__file__).resolve().parent / "reference" / "lavaan" / "hs_cfa.json"

TOLERANCES = {
    "est": 1e-3,  # absolute, loadings and (co)variances
    "se": 1e-3,  # absolute
    "chisq": 1e-3,  # relative
    "cfi_tli": 1e-3,  # absolute
}


@functools.cache
def _ref() -> dict:
    return json.loads(REF.read_text())


def _data() -> pd.DataFrame:
    from asymtrust._paths import datasets_dir

    return pd.read_csv(datasets_dir() / _ref()["data_name"])


@functools.cache
def _semopy() -> dict:
    return fit_semopy(_ref()["model"], _data())


def _key(lhs: str, op: str, rhs: str) -> tuple:
    return (op, frozenset((lhs, rhs))) if op == "~~" else (op, lhs, rhs)


def _table(df: pd.DataFrame) -> dict:
    return {_key(r["lhs"], r["op"], r["rhs"]): r for r in df.to_dict("records")}


def _compare(ours: dict, theirs: dict, who: str, col: str, tol: float) -> list[str]:
    bad = []
    for key, row in theirs.items():
        if key[0] not in ("=~", "~~", "~"):
            continue
        mine = ours.get(key)
        if mine is None:
            bad.append(f"{who}/{key}: row missing")
            continue
        a, b = float(mine[col]), float(row[col])
        if math.isnan(a) or math.isnan(b):
            # a fixed parameter: semopy gives NaN where lavaan (and maybe asymtrust) gives 0
            if all(math.isnan(x) or x == 0.0 for x in (a, b)):
                continue
            bad.append(f"{who}/{key}/{col}: ours={a!r} other={b!r}")
            continue
        if not abs(a - b) <= tol:
            bad.append(f"{who}/{key}/{col}: ours={a!r} other={b!r} (abs tol {tol:g})")
    return bad


def test_semopy_boundary_normalises_output():
    """NaN instead of '-', float columns, loadings written as factor =~ indicator."""
    est = _semopy()["estimates"]
    assert list(est.columns[:5]) == ["lhs", "op", "rhs", "est", "se"]
    assert all(est[c].dtype == float for c in ("est", "se", "z", "pvalue"))
    loadings = est[est["op"] == "=~"]
    assert len(loadings) == 9 and set(loadings["lhs"]) == {"visual", "textual", "speed"}
    assert loadings["se"].isna().sum() == 3  # the three marker loadings are fixed
    out = _semopy()
    assert out["n"] == _ref()["nobs"] and out["df"] == _ref()["df"] and out["converged"]
    assert semopy_version() == out["semopy_version"]


def test_semopy_agrees_with_lavaan():
    """The wrapper itself reproduces lavaan (so semopy is a valid second opinion here)."""
    ref, sp = _ref(), _semopy()
    lav = pd.DataFrame(ref["estimates"])
    lav = _table(lav[lav["op"].isin(["=~", "~~"])])
    bad = _compare(
        _table(sp["estimates"]), lav, "semopy-vs-lavaan", "est", TOLERANCES["est"]
    )
    bad += _compare(
        _table(sp["estimates"]), lav, "semopy-vs-lavaan", "se", TOLERANCES["se"]
    )
    fm = ref["fit_measures"]
    if abs(sp["chisq"] - fm["chisq"]) > TOLERANCES["chisq"] * fm["chisq"]:
        bad.append(
            f"semopy-vs-lavaan/chisq: semopy={sp['chisq']!r} lavaan={fm['chisq']!r}"
        )
    for name in ("cfi", "tli"):
        if abs(sp[name] - fm[name]) > TOLERANCES["cfi_tli"]:
            bad.append(
                f"semopy-vs-lavaan/{name}: semopy={sp[name]!r} lavaan={fm[name]!r}"
            )
    if (
        abs(sp["baseline_chisq"] - fm["baseline_chisq"])
        > TOLERANCES["chisq"] * fm["baseline_chisq"]
    ):
        bad.append(
            f"semopy-vs-lavaan/baseline_chisq: semopy={sp['baseline_chisq']!r} "
            f"lavaan={fm['baseline_chisq']!r}"
        )
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="module")
def ours():
    import asymtrust

    return asymtrust.fit(_ref()["model"], _data())


def test_asymtrust_estimates_match_semopy(ours):
    """Loadings, variances and covariances within 1e-3 of semopy; SEs too."""
    sp = _table(_semopy()["estimates"])
    mine = _table(ours.estimates)
    bad = _compare(mine, sp, "asymtrust-vs-semopy", "est", TOLERANCES["est"])
    bad += _compare(mine, sp, "asymtrust-vs-semopy", "se", TOLERANCES["se"])
    assert not bad, "\n".join(bad)


def test_asymtrust_chisq_matches_semopy(ours):
    """Chi-square (same n * F_ML convention), df and CFI/TLI agree with semopy."""
    sp = _semopy()
    fi = ours.fit_indices
    assert abs(fi["chisq"] - sp["chisq"]) <= TOLERANCES["chisq"] * sp["chisq"], (
        f"chisq: asymtrust={fi['chisq']!r} semopy={sp['chisq']!r}"
    )
    assert fi["df"] == sp["df"], f"df: asymtrust={fi['df']!r} semopy={sp['df']!r}"
    for name in ("cfi", "tli"):
        assert abs(fi[name] - sp[name]) <= TOLERANCES["cfi_tli"], (
            f"{name}: asymtrust={fi[name]!r} semopy={sp[name]!r}"
        )
