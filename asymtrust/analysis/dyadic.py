"""Both partners of each partnership: dyadic data and the actor-partner interdependence
model for distinguishable dyads (issue 18).

:func:`dyads` reshapes respondent-level survey data to one row per partnership: for each
side (e.g. ``"nhs"`` and ``"council"``) the mean of that side's respondents,
``<col>_<side>``, and their number, ``n_<side>``. Aggregating respondents to a side mean
is justified per construct by within-group agreement and reliability of the group means
(LeBreton & Senter 2008):

* rwg(j) = J(1 − s̄²/σ²_E) / (J(1 − s̄²/σ²_E) + s̄²/σ²_E) in each partnership side with two or
  more respondents (James, Demaree & Wolf 1984), s̄² the mean of the J item variances and
  σ²_E = (A² − 1)/12 the variance of a uniform null on an A-point scale; values outside
  [0, 1] are set to 0, as LeBreton & Senter (2008) advise;
* ICC(1) = (MSB − MSW)/(MSB + (k − 1) MSW) and ICC(2) = (MSB − MSW)/MSB from the one-way
  ANOVA of respondents in partnership sides, k the average number of respondents per side
  (as ``psych::statsBy``).

Each is shown beside its stored cut-off and citation (``analysis/cutoffs.py``).

:func:`apim` fits y_A ~ a_A x_A + p_A x_B, y_B ~ a_B x_B + p_B x_A with x_A ~~ x_B and
y_A ~~ y_B (Kenny, Kashy & Cook 2006) with the engine (ML, MLR, FIML), reports the actor
and partner effects, k = p/a per side (Kenny & Ledermann 2010) with a delta-method SE and
a bootstrap CI, and the distinguishability tests as χ² differences (lavaan's
``lavTestLRT``). Checked against lavaan 0.6-14 in ``tests/reference/dyadic/``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.fit import fit as _fit
from ..engine.resample import bootstrap_draws, percentile_ci
from ..exceptions import DataError, OptionError
from .compare import difference_test
from .cutoffs import load_cutoffs

__all__ = ["DyadData", "APIMResult", "dyads", "apim", "agreement", "apim_syntax"]


# ----------------------------------------------------------------------------- dyads
def _check_sides(data: pd.DataFrame, dyad: str, side: str, sides: Sequence[str] | None) -> list[str]:
    if not isinstance(data, pd.DataFrame):
        raise DataError("dyadic data must be a pandas DataFrame")
    for c, what in ((dyad, "dyad"), (side, "side")):
        if c not in data.columns:
            raise DataError(f"{what} column {c!r} is not in the data")
    miss = data[dyad].isna()
    if miss.any():
        raise DataError(f"dyad column {dyad!r} has {int(miss.sum())} missing value(s) (first at row "
                        f"{data.index[miss.to_numpy()][0]!r}); every respondent needs a partnership ID")
    miss = data[side].isna()
    if miss.any():
        raise DataError(f"side column {side!r} has {int(miss.sum())} missing value(s) (first at row "
                        f"{data.index[miss.to_numpy()][0]!r}, partnership {data.loc[miss, dyad].iloc[0]!r})")
    labels = data[side].astype(str)
    nsides = labels.groupby(data[dyad]).nunique()
    many = nsides[nsides > 2]
    if len(many):
        first = many.index[0]
        raise DataError(f"partnership {first!r} has {int(many.iloc[0])} sides in column {side!r} "
                        f"({', '.join(sorted(labels[data[dyad] == first].unique()))}); a dyad has two"
                        + (f" ({len(many)} partnerships like it)" if len(many) > 1 else ""))
    seen = list(dict.fromkeys(labels))
    if sides is None:
        if len(seen) != 2:
            raise DataError(f"side column {side!r} has {len(seen)} labels ({', '.join(seen[:5])}); "
                            "pass sides=(A, B) to choose the two sides")
        return seen
    sides = [str(s) for s in sides]
    if len(sides) != 2 or sides[0] == sides[1]:
        raise OptionError(f"sides={sides!r} must name two different side labels")
    bad = [s for s in seen if s not in sides]
    if bad:
        rows = labels == bad[0]
        raise DataError(f"side label {bad[0]!r} in column {side!r} (partnership {data.loc[rows, dyad].iloc[0]!r}, "
                        f"{int(rows.sum())} row(s)) is not one of sides={tuple(sides)}")
    return sides


def _numeric_columns(data, dyad, side, columns) -> list[str]:
    if columns is None:
        return [str(c) for c in data.columns if c not in (dyad, side)
                and pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c])]
    cols = [str(c) for c in columns]
    for c in cols:
        if c not in data.columns:
            raise DataError(f"column {c!r} is not in the data")
        if c in (dyad, side):
            raise DataError(f"column {c!r} is the dyad or side column; it cannot be averaged")
        if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            raise DataError(f"column {c!r} is not numeric")
    return cols


def _icc(values: pd.Series, unit: pd.Series) -> tuple[float, float]:
    """ICC(1) and ICC(2) of one column over the units (psych::statsBy's formulas)."""
    ok = values.notna()
    v, u = values[ok].astype(float), unit[ok]
    g = v.groupby(u)
    n, mean, var = g.size(), g.mean(), g.var(ddof=1)
    G = len(n)
    if G < 2:
        return float("nan"), float("nan")
    gm = float((mean * n).sum() / n.sum())
    msb = float((n * (mean - gm) ** 2).sum() / (G - 1))
    dfw = float((n - 1).sum())
    msw = float((var.fillna(0.0) * (n - 1)).sum() / dfw) if dfw > 0 else float("nan")
    k = float(n.mean())
    return (msb - msw) / (msb + msw * (k - 1)), (msb - msw) / msb


def _rwg_j(X: np.ndarray, A: int) -> float:
    """rwg(j) of one group's J items (rows: respondents); 0 outside [0, 1]."""
    s2 = float(np.nanmean(np.nanvar(X, axis=0, ddof=1)))
    E = (A * A - 1) / 12.0
    J = X.shape[1]
    r = J * (1 - s2 / E) / (J * (1 - s2 / E) + s2 / E)
    return r if 0.0 <= r <= 1.0 else 0.0


def agreement(data: pd.DataFrame, unit: pd.Series, constructs: Mapping[str, Sequence[str]],
              scale_points: int | Mapping[str, int] | None = None) -> pd.DataFrame:
    """rwg(j), ICC(1) and ICC(2) per construct, over the groups in ``unit``, beside their
    cut-offs (LeBreton & Senter 2008)."""
    cut = load_cutoffs().set_index("statistic")
    rows = {}
    for name, items in constructs.items():
        items = list(items)
        vals = data[items].astype(float)
        if isinstance(scale_points, Mapping):
            A = scale_points.get(name)
        else:
            A = scale_points
        inferred = A is None
        if inferred:
            A = int(round(float(np.nanmax(vals.to_numpy())) - float(np.nanmin(vals.to_numpy())))) + 1
        rw = []
        for _, idx in unit.groupby(unit).groups.items():
            X = vals.loc[idx].to_numpy()
            X = X[~np.all(np.isnan(X), axis=1)]
            if X.shape[0] >= 2:
                rw.append(_rwg_j(X, int(A)))
        score = vals.mean(axis=1)
        i1, i2 = _icc(score, unit)
        rw = np.asarray(rw, float)
        rows[name] = {"items": len(items), "scale_points": int(A), "scale_points_inferred": inferred,
                      "groups_rwg": int(rw.size), "rwg_j_mean": float(rw.mean()) if rw.size else np.nan,
                      "rwg_j_median": float(np.median(rw)) if rw.size else np.nan,
                      "rwg_j_share_70": float(np.mean(rw >= 0.70)) if rw.size else np.nan,
                      "icc1": i1, "icc2": i2}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "construct"
    for stat, col in (("rwg_j", "rwg_j_mean"), ("icc1", "icc1"), ("icc2", "icc2")):
        if stat in cut.index:
            c = cut.loc[stat]
            out[f"{stat}_cutoff"] = f"{c['rule']} {c['threshold']:g}"
            out[f"{stat}_ok"] = [_passes(v, c["rule"], float(c["threshold"])) for v in out[col]]
    out.attrs["citations"] = {s: str(cut.loc[s, "citation"]) for s in ("rwg_j", "icc1", "icc2") if s in cut.index}
    return out


def _passes(v: float, rule: str, t: float) -> bool:
    if not np.isfinite(v):
        return False
    return {">=": v >= t, ">": v > t, "<=": v <= t, "<": v < t}[rule]


@dataclass
class DyadData:
    """Result of :func:`dyads`.

    Attributes
    ----------
    wide : DataFrame
        One row per partnership (index: the dyad column): ``<col>_<side>`` (side means) and
        ``n_<side>`` (respondents on that side; 0 when the side is missing).
    agreement : DataFrame
        Per construct: rwg(j) (mean, median, share ≥ .70), ICC(1), ICC(2), their cut-offs and
        whether each is met (citations in ``agreement.attrs["citations"]``).
    incomplete : DataFrame
        Partnerships with one side missing (``missing_side``); they are kept in ``wide``
        with NaN for that side, for FIML.
    """

    wide: pd.DataFrame
    agreement: pd.DataFrame
    incomplete: pd.DataFrame
    dyad: str
    side: str
    sides: tuple
    columns: list
    warnings: list = field(default_factory=list)

    def summary(self) -> str:
        n = len(self.wide)
        lines = [f"{n} partnerships ({n - len(self.incomplete)} with both sides {self.sides[0]!r} and "
                 f"{self.sides[1]!r}); columns: {', '.join(self.columns)}", "",
                 "Agreement and reliability of the side means (LeBreton & Senter 2008)",
                 self.agreement.round(3).to_string()]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - thin
        return self.summary()


def dyads(data: pd.DataFrame, dyad: str = "partnership", side: str = "sector", sides: Sequence[str] | None = None,
          columns: Sequence[str] | None = None, constructs: Mapping[str, Sequence[str]] | None = None,
          scale_points: int | Mapping[str, int] | None = None) -> DyadData:
    """Reshape respondent-level data to one row per partnership.

    Parameters
    ----------
    data : DataFrame
        One row per respondent, with a partnership ID (``dyad``) and the respondent's side
        (``side``).
    dyad, side : str
        The partnership and side columns.
    sides : (str, str), optional
        The two side labels, in the order used for A and B; default the labels in order of
        first appearance (there must be two).
    columns : sequence of str, optional
        The columns to average; default every numeric column other than ``dyad`` and ``side``.
    constructs : mapping, optional
        ``{construct: [items]}`` for rwg(j) and ICC; default each column is its own
        construct (J = 1, rwg).
    scale_points : int or mapping, optional
        A, the number of response options, for rwg(j)'s null variance (A² − 1)/12; default
        inferred from the observed range (and flagged in ``agreement``).

    Raises
    ------
    DataError
        The dyad column has missing values; a partnership has three or more sides; a side
        label is outside ``sides``; a column is not numeric.
    """
    sides = _check_sides(data, dyad, side, sides)
    cols = _numeric_columns(data, dyad, side, columns)
    labels = data[side].astype(str)
    ids = list(dict.fromkeys(data[dyad]))
    wide = pd.DataFrame(index=pd.Index(ids, name=dyad))
    for s in sides:
        sub = data[labels == s]
        g = sub.groupby(dyad, sort=False)
        means = g[cols].mean().reindex(ids)
        for c in cols:
            wide[f"{c}_{s}"] = means[c].to_numpy()
        wide[f"n_{s}"] = g.size().reindex(ids).fillna(0).astype(int).to_numpy()
    inc = []
    for s in sides:
        for d in wide.index[wide[f"n_{s}"] == 0]:
            inc.append({dyad: d, "missing_side": s})
    incomplete = pd.DataFrame(inc, columns=[dyad, "missing_side"])
    notes = []
    if len(incomplete):
        notes.append(f"{len(incomplete)} partnership(s) have one side missing "
                     f"({', '.join(map(str, incomplete[dyad].head(5)))}{', ...' if len(incomplete) > 5 else ''}); "
                     "they are kept with that side's columns missing (use missing='fiml' to use them)")
    cons = {c: [c] for c in cols} if constructs is None else {k: list(v) for k, v in constructs.items()}
    for k, items in cons.items():
        for it in items:
            if it not in data.columns:
                raise DataError(f"item {it!r} of construct {k!r} is not in the data")
    unit = data[dyad].astype(str) + "\x1f" + labels
    agr = agreement(data, unit, cons, scale_points)
    for k, r in agr.iterrows():
        if r["scale_points_inferred"]:
            notes.append(f"rwg(j) of {k!r}: the number of response options was inferred from the data as "
                         f"{r['scale_points']}; pass scale_points= if the scale is wider")
        if "icc1_ok" in agr.columns and not r["icc1_ok"]:
            notes.append(f"{k!r}: ICC(1) = {r['icc1']:.3f} is below its cut-off; the side mean may not represent "
                         "a shared view")
    return DyadData(wide=wide, agreement=agr, incomplete=incomplete, dyad=dyad, side=side, sides=tuple(sides),
                    columns=cols, warnings=notes)


# ----------------------------------------------------------------------------- APIM
_LABELS = ("a_A", "p_A", "a_B", "p_B")
TESTS = {
    "actors": ["a_A == a_B"],
    "partners": ["p_A == p_B"],
    "both": ["a_A == a_B", "p_A == p_B"],
    "omnibus": ["a_A == a_B", "p_A == p_B", "mx_A == mx_B", "vx_A == vx_B", "iy_A == iy_B", "vy_A == vy_B"],
}


def apim_syntax(x: str, y: str, sides: Sequence[str]) -> str:
    """The APIM for distinguishable dyads in lavaan syntax (columns ``<x>_<side>``)."""
    A, B = sides
    xA, xB, yA, yB = f"{x}_{A}", f"{x}_{B}", f"{y}_{A}", f"{y}_{B}"
    return "\n".join([
        f"{yA} ~ a_A*{xA} + p_A*{xB}",
        f"{yB} ~ a_B*{xB} + p_B*{xA}",
        f"{xA} ~~ vx_A*{xA}", f"{xB} ~~ vx_B*{xB}", f"{xA} ~~ cx*{xB}",
        f"{yA} ~~ vy_A*{yA}", f"{yB} ~~ vy_B*{yB}", f"{yA} ~~ cy*{yB}",
        f"{xA} ~ mx_A*1", f"{xB} ~ mx_B*1", f"{yA} ~ iy_A*1", f"{yB} ~ iy_B*1",
        "k_A := p_A/a_A", "k_B := p_B/a_B"])


def _k_reading(lo: float, hi: float) -> str:
    """Kenny & Ledermann (2010): k = 1 couple pattern, k = 0 actor-only, k = -1 contrast."""
    inside = [name for v, name in ((1.0, "couple"), (0.0, "actor-only"), (-1.0, "contrast")) if lo <= v <= hi]
    if not np.isfinite(lo) or not np.isfinite(hi):
        return "undetermined (no bootstrap CI)"
    if len(inside) == 1:
        return f"{inside[0]} pattern"
    if not inside:
        return "none of the three patterns (k outside 1, 0 and -1)"
    return "ambiguous: the CI includes " + " and ".join(f"{n} (k = {v})" for n, v in
                                                         zip(inside, [{"couple": 1, "actor-only": 0,
                                                                       "contrast": -1}[n] for n in inside]))


@dataclass
class APIMResult:
    """Result of :func:`apim`.

    Attributes
    ----------
    effects : DataFrame
        Index (effect, side) with effect "actor"/"partner": ``label, est, se, z, pvalue,
        ci_lower, ci_upper, std_all``.
    k : DataFrame
        Index side: ``k`` (= partner/actor), ``se`` (delta method), ``boot_lower``,
        ``boot_upper`` (percentile bootstrap CI) and ``reading`` (Kenny & Ledermann 2010).
    tests : DataFrame
        Index "actors", "partners", "both", "omnibus": ``chisq_diff, df_diff, pvalue``.
    fit : FitResult
        The free model; ``constrained`` holds the four constrained fits.
    """

    x: str
    y: str
    sides: tuple
    fit: Any
    constrained: dict
    effects: pd.DataFrame
    k: pd.DataFrame
    tests: pd.DataFrame
    data: pd.DataFrame
    warnings: list = field(default_factory=list)
    invariance: pd.DataFrame | None = None

    def summary(self) -> str:
        A, B = self.sides
        lines = [f"Actor-partner interdependence model: {self.y} on {self.x}; sides A = {A!r}, B = {B!r}; "
                 f"{self.fit.n_used} partnerships used",
                 *([] if self.invariance is None else
                   ["", f"Dyadic measurement invariance (APIM at the {self.invariance.attrs['chosen']} level)",
                    self.invariance.round(4).to_string()]),
                 "", "Actor and partner effects", self.effects.round(4).to_string(),
                 "", "k = partner / actor (Kenny & Ledermann 2010)", self.k.round(4).to_string(),
                 "", "Distinguishability tests (chi-square difference)", self.tests.round(4).to_string()]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - thin
        return self.summary()


def _wide_from(data, x, y, dyad, side, sides, check: bool = True) -> tuple[pd.DataFrame, tuple, list]:
    if isinstance(data, DyadData):
        return data.wide.reset_index(), data.sides, list(data.warnings)
    if not isinstance(data, pd.DataFrame):
        raise DataError("apim() needs a pandas DataFrame or the result of dyads()")
    if side in data.columns and check:
        for c in (x, y):
            if c not in data.columns:
                raise DataError(f"column {c!r} is not in the data")
        dd = dyads(data, dyad=dyad, side=side, sides=sides, columns=[x, y])
        return dd.wide.reset_index(), dd.sides, list(dd.warnings)
    if sides is None:
        raise OptionError(f"the data have no side column {side!r}; for data with one row per partnership pass "
                          "sides=(A, B) naming the column suffixes")
    return data, tuple(str(s) for s in sides), []


def apim(data, x: str, y: str, dyad: str = "partnership", side: str = "sector", sides: Sequence[str] | None = None,
         latent: bool = False, spec: Any = None, *, estimator: str = "ML", missing: str = "listwise",
         bootstrap: int = 1000, seed: int | None = None, n_jobs: int = 1, level: float = 0.95) -> APIMResult:
    """The actor-partner interdependence model for distinguishable dyads.

    y_A = a_A x_A + p_A x_B, y_B = a_B x_B + p_B x_A, with x_A ~~ x_B and y_A ~~ y_B, every
    mean, variance and covariance free (saturated: df = 0), fitted by the engine.

    Parameters
    ----------
    data : DataFrame or DyadData
        Respondent-level data (with ``dyad`` and ``side`` columns; averaged by
        :func:`dyads`), the result of :func:`dyads`, or one row per partnership with columns
        ``<x>_<side>`` and ``<y>_<side>`` (then ``sides`` is required).
    x, y : str
        Predictor and outcome (the column names before the side suffix).
    sides : (A, B)
        The two side labels.
    latent, spec
        ``latent=True`` with ``spec={x: [items], y: [items]}``: each construct is latent on each
        side, measured by the side means of its items (``<item>_<side>``), with the same item's
        residuals correlated across sides. Dyadic measurement invariance is tested first
        (``.invariance``: configural -> metric (equal loadings across sides) -> scalar (equal
        intercepts, the B side's latent means free)), and the APIM is fitted at the last level
        not rejected (chi-square difference p >= .05). The omnibus test then equates the
        latent variances (and, under scalar invariance, the latent means).
    estimator : {"ML", "MLR"}
    missing : {"listwise", "fiml"}
        ``"fiml"`` keeps partnerships with one side missing.
    bootstrap : int
        Replicates for the percentile CI of k (0: none).

    Raises
    ------
    OptionError
        ``latent=True`` without a ``spec`` naming two or more items per construct, a ``spec``
        without ``latent=True``, an unknown estimator.
    DataError
        As :func:`dyads`, or a ``<x>_<side>`` column that is missing.

    In R: ``lavaan::sem(model, data, fixed.x = FALSE)`` with the syntax of
    :func:`apim_syntax`; the tests are ``lavTestLRT(free, constrained)``.
    """
    if estimator not in ("ML", "MLR"):
        raise OptionError(f"estimator={estimator!r} is not supported by apim(); use 'ML' or 'MLR'")
    if missing not in ("listwise", "fiml"):
        raise OptionError(f"missing={missing!r} is not 'listwise' or 'fiml'")
    items = _latent_items(x, y, spec) if latent else None
    if spec is not None and not latent:
        raise OptionError("apim(spec=...) describes latent constructs; pass latent=True with it")
    if items is not None and not isinstance(data, DyadData) and side in getattr(data, "columns", []):
        data = dyads(data, dyad=dyad, side=side, sides=sides, columns=[*items[x], *items[y]])
    wide, sides, notes = _wide_from(data, x, y, dyad, side, sides, check=items is None)
    A, B = sides
    names = [x, y] if items is None else [*items[x], *items[y]]
    need = [f"{c}_{s}" for c in names for s in (A, B)]
    for c in need:
        if c not in wide.columns:
            raise DataError(f"column {c!r} is not in the dyadic data")
    opts = dict(estimator=estimator, missing=missing, fixed_x=False)
    invariance = None
    tests_spec = TESTS
    if items is None:
        model = apim_syntax(x, y, sides)
    else:
        opts["meanstructure"] = True
        invariance, chosen = _invariance(x, y, items, sides, wide[need], opts, notes)
        model = latent_apim_syntax(x, y, items, sides, chosen)
        tests_spec = _latent_tests(chosen)
    free = _fit(model, wide[need], **opts)
    notes += [f"free model: {w}" for w in (free.warnings or [])]
    if not free.converged:
        notes.append("free model: the optimiser did not converge; the estimates are not trustworthy")
    est = free.estimates
    rows = []
    for eff, s, lab in (("actor", A, "a_A"), ("partner", A, "p_A"), ("actor", B, "a_B"), ("partner", B, "p_B")):
        r = est[est["label"].astype(str) == lab].iloc[0]
        rows.append({"effect": eff, "side": s, "label": lab, "est": r["est"], "se": r["se"], "z": r["z"],
                     "pvalue": r["pvalue"], "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"],
                     "std_all": r["std_all"]})
    effects = pd.DataFrame(rows).set_index(["effect", "side"])
    k = _k_table(free, wide[need], sides, bootstrap, seed, n_jobs, level, notes)
    constrained, trows = {}, {}
    for name, cons in tests_spec.items():
        res = _fit("\n".join([model, *cons]), wide[need], **opts)
        constrained[name] = res
        if not res.converged:
            notes.append(f"{name} model: the optimiser did not converge")
        d = difference_test(free, res) if int(free.fit_indices["df"]) > 0 else _versus_saturated(res, estimator)
        notes += [f"{name} test: {w}" for w in d.get("warnings", [])]
        trows[name] = {"chisq_diff": float(d["delta_chisq"]), "df_diff": int(d["delta_df"]),
                       "pvalue": float(d["p_delta"])}
    tests = pd.DataFrame.from_dict(trows, orient="index")
    tests.index.name = "test"
    return APIMResult(x=x, y=y, sides=(A, B), fit=free, constrained=constrained, effects=effects, k=k, tests=tests,
                      data=wide, warnings=notes, invariance=invariance)


# ----------------------------------------------------------------------------- latent APIM
def _latent_items(x: str, y: str, spec: Any) -> dict[str, list[str]]:
    if not isinstance(spec, Mapping) or set(spec) != {x, y}:
        raise OptionError(f"apim(latent=True) needs spec={{{x!r}: [items], {y!r}: [items]}}: the items of each "
                          "construct (their side means are the indicators)")
    items = {k: [str(i) for i in v] for k, v in spec.items()}
    for k, v in items.items():
        if len(v) < 2:
            raise OptionError(f"construct {k!r} needs at least two items for a latent APIM, got {v}")
    return items


LEVELS = ("configural", "metric", "scalar")


def _measurement(x, y, items, sides, level, means: bool = True) -> list[str]:
    """Each construct on each side measured by the side means of its items; the same item's
    residuals correlated across sides; loadings (metric) and intercepts (scalar) equal across
    sides, with the B side's latent means free under scalar invariance."""
    A, B = sides
    lines = []
    for c in (x, y):
        for s in (A, B):
            terms = [f"{it}_{s}" if j == 0 or level == "configural" else f"l_{c}{j}*{it}_{s}"
                     for j, it in enumerate(items[c])]
            lines.append(f"{c}_{s} =~ " + " + ".join(terms))
        for it in items[c]:
            lines.append(f"{it}_{A} ~~ {it}_{B}")
        if level == "scalar":
            for j, it in enumerate(items[c]):
                lines += [f"{it}_{A} ~ t_{c}{j}*1", f"{it}_{B} ~ t_{c}{j}*1"]
            if means:
                lines.append(f"{c}_{B} ~ 1")
    return lines


def latent_apim_syntax(x: str, y: str, items: Mapping[str, Sequence[str]], sides: Sequence[str],
                       level: str = "metric") -> str:
    """The latent APIM in lavaan syntax at an invariance ``level`` (configural, metric, scalar)."""
    A, B = sides
    lines = _measurement(x, y, items, sides, level, means=False)
    lines += [f"{y}_{A} ~ a_A*{x}_{A} + p_A*{x}_{B}", f"{y}_{B} ~ a_B*{x}_{B} + p_B*{x}_{A}",
              f"{x}_{A} ~~ vx_A*{x}_{A}", f"{x}_{B} ~~ vx_B*{x}_{B}", f"{x}_{A} ~~ cx*{x}_{B}",
              f"{y}_{A} ~~ vy_A*{y}_{A}", f"{y}_{B} ~~ vy_B*{y}_{B}", f"{y}_{A} ~~ cy*{y}_{B}"]
    if level == "scalar":
        lines += [f"{x}_{B} ~ mx_B*1", f"{y}_{B} ~ iy_B*1"]
    lines += ["k_A := p_A/a_A", "k_B := p_B/a_B"]
    return "\n".join(lines)


def _latent_tests(level: str) -> dict[str, list[str]]:
    omni = ["a_A == a_B", "p_A == p_B", "vx_A == vx_B", "vy_A == vy_B"]
    if level == "scalar":  # the A side's latent means are 0: equal means are B's at 0
        omni += ["mx_B == 0", "iy_B == 0"]
    return {**{k: v for k, v in TESTS.items() if k != "omnibus"}, "omnibus": omni}


def _invariance(x, y, items, sides, wide, opts, notes) -> tuple[pd.DataFrame, str]:
    """Configural -> metric -> scalar across the two sides (measurement models only); the
    APIM is fitted at the last level whose chi-square difference test is not significant."""
    fits, rows = {}, []
    for level in LEVELS:
        fits[level] = res = _fit("\n".join(_measurement(x, y, items, sides, level)), wide, **opts)
        fi = res.fit_indices
        row = {"level": level, "converged": bool(res.converged), "npar": int(fi["npar"]), "df": int(fi["df"]),
               "chisq": float(fi["chisq"]), "cfi": float(fi["cfi"]), "rmsea": float(fi["rmsea"]),
               "chisq_diff": np.nan, "df_diff": np.nan, "pvalue": np.nan}
        if "chisq_scaled" in fi.index:
            row["chisq_scaled"] = float(fi["chisq_scaled"])
        if level != "configural":
            d = difference_test(fits[LEVELS[LEVELS.index(level) - 1]], res)
            row.update(chisq_diff=float(d["delta_chisq"]), df_diff=int(d["delta_df"]), pvalue=float(d["p_delta"]))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("level")
    chosen = "configural"
    for level in ("metric", "scalar"):
        if table.loc[level, "pvalue"] >= 0.05 and table.loc[level, "converged"]:
            chosen = level
        else:
            notes.append(f"dyadic invariance: {level} invariance is rejected across the sides "
                         f"(chi-square difference p = {table.loc[level, 'pvalue']:.3g}); the APIM is fitted at the "
                         f"{chosen} level")
            break
    table.attrs["chosen"] = chosen
    return table, chosen


def _versus_saturated(res, estimator: str) -> dict:
    """lavTestLRT against a saturated (df = 0) model: the restricted model's own test
    (scaled for MLR: Satorra-Bentler 2001 with c = 1 for the saturated model)."""
    fi = res.fit_indices
    m = int(fi["df"])
    T = float(fi["chisq_scaled"]) if estimator == "MLR" else float(fi["chisq"])
    return {"delta_chisq": T, "delta_df": m, "p_delta": float(stats.chi2.sf(T, m)) if m > 0 else float("nan")}


def _k_table(free, wide, sides, B, seed, n_jobs, level, notes) -> pd.DataFrame:
    est = free.estimates
    pt = free.partable.table
    rows = {}
    draws = None
    if B:
        draws = bootstrap_draws(free, B, seed=seed, n_jobs=n_jobs, data=wide)
        if draws.n_failed:
            notes.append(f"k bootstrap: {draws.n_failed} of {B} replicates failed and are left out")
    for s, (a, p, kk) in zip(sides, (("a_A", "p_A", "k_A"), ("a_B", "p_B", "k_B"))):
        r = est[est["label"].astype(str) == kk].iloc[0]
        lo = hi = float("nan")
        if draws is not None and draws.n_ok:
            ia = int(pt.loc[pt["label"].astype(str) == a, "free"].iloc[0]) - 1
            ip = int(pt.loc[pt["label"].astype(str) == p, "free"].iloc[0]) - 1
            th = draws.ok
            with np.errstate(divide="ignore", invalid="ignore"):
                t = th[:, ip] / th[:, ia]
            t = t[np.isfinite(t)]
            if t.size:
                lo, hi = percentile_ci(t, level)
        rows[s] = {"k": float(r["est"]), "se": float(r["se"]), "boot_lower": lo, "boot_upper": hi,
                   "reading": _k_reading(lo, hi)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "side"
    out.attrs["citation"] = ("Kenny, D. A., & Ledermann, T. (2010). Detecting, measuring, and testing dyadic "
                             "patterns in the actor-partner interdependence model. Journal of Family Psychology, "
                             "24(3), 359-366.")
    return out
