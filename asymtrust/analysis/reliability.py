"""Reliability and validity: alpha, omega, CR, AVE, HTMT, Fornell-Larcker, item
diagnostics and common-method checks.

Every function takes the survey ``data`` (a :class:`pandas.DataFrame`, one row per
respondent) and a ``spec``: a bundled spec name (``"fig1"``), a
:class:`~asymtrust.library.specs.ModelSpec`, or a lavaan syntax string. Only the ``=~``
lines (the measurement model) are used.

Conventions (see ``docs/reliability.md``)
-----------------------------------------
* **Reverse-keyed items** are recoded from the codebook (``x -> min + max - x``,
  i.e. ``8 - x`` on the 7-point scale) before anything is computed, except the
  items that ``data.attrs["reverse_recoded"]`` lists as recoded already
  (:func:`asymtrust.recode_reverse` records them there). Pass ``recode=False`` to switch the
  automatic recoding off, ``recode=True`` to force it. What was done is listed
  in ``result.attrs["notes"]``.
* **alpha** is computed on the complete cases of each construct, as
  ``psych::alpha(na.omit(x))`` does (pingouin's :func:`pingouin.cronbach_alpha`
  with its Feldt 95% CI, which pingouin rounds to 3 decimals).
* **omega** is semTools ``reliability()``'s ``omega`` and **ave** its ``avevar``:
  both come from the CFA of the spec's measurement model fitted with lavaan
  ``cfa()`` defaults (ML, listwise, first loading fixed to 1) by
  :func:`asymtrust.fit`. omega = (Σλ)²φ / ((Σλ)²φ + 1′Θ1); avevar = Σλ²φ /
  Σ(λ²φ + θ_ii). **cr** is composite reliability from the standardized
  (std.all) loadings: (Σλ*)² / ((Σλ*)² + Σ(1 − λ*²)).
* **HTMT** follows semTools ``htmt()``: absolute Pearson correlations on the rows
  complete for all indicators of the spec (listwise). ``method="htmt2"``
  (default; geometric means, Roemer, Schuberth & Henseler 2021) is
  ``htmt2=TRUE``; ``method="htmt"`` (arithmetic means, Henseler, Ringle &
  Sarstedt 2015) is ``htmt2=FALSE``.
* Cut-offs come from :mod:`asymtrust.analysis.cutoffs` (``datasets/cutoffs.csv``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from . import cutoffs as _cut
from ..exceptions import (
    AsymtrustError,
    DataError,
    InsufficientDataError,
    OptionError,
    SpecError,
    ValidationError,
)
from ..library.syntax import parse_syntax

__all__ = [
    "reliability",
    "item_stats",
    "htmt",
    "fornell_larcker",
    "cross_loadings",
    "harman",
    "cmv_one_factor",
]

HTMT_METHODS = ("htmt2", "htmt")
CROSS_METHODS = ("composite", "cfa")
HARMAN_METHODS = ("pca", "paf")


# ====================================================================================
# spec -> constructs
# ====================================================================================
@dataclass(frozen=True)
class _Measurement:
    """The measurement part of a spec, as used here."""

    name: str
    constructs: dict[str, list[str]]
    statements: dict[str, str]  # latent -> right-hand side of its =~ statement(s)
    notes: tuple[str, ...] = field(default=())

    @property
    def items(self) -> list[str]:
        seen: dict[str, None] = {}
        for its in self.constructs.values():
            for it in its:
                seen.setdefault(it, None)
        return list(seen)

    def syntax(self) -> str:
        return "\n".join(f"{lv} =~ {rhs}" for lv, rhs in self.statements.items())


def _parse_measurement(syntax: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Constructs (latent -> indicators) and the =~ right-hand sides of lavaan syntax.

    Parsed by :func:`asymtrust.library.syntax.parse_syntax` (lavaan's rules; errors name
    the line). The right-hand sides keep their modifiers (``1*x1``, ``a*x2``).
    """
    constructs: dict[str, list[str]] = {}
    rhs_text: dict[str, str] = {}
    for st in parse_syntax(syntax).statements:
        if st.op != "=~":
            continue
        lhs = st.lhs[0]
        constructs.setdefault(lhs, [])
        constructs[lhs].extend(t.name for t in st.terms if t.name not in constructs[lhs])
        rhs = st.text.partition("=~")[2].strip()
        rhs_text[lhs] = f"{rhs_text[lhs]} + {rhs}" if lhs in rhs_text else rhs
    return constructs, rhs_text


def _resolve(spec: Any) -> _Measurement:
    """Turn a spec name, ModelSpec or lavaan syntax into a :class:`_Measurement`."""
    if isinstance(spec, _Measurement):
        return spec
    name = "model"
    skip: set[str] = set()
    if isinstance(spec, str) and not any(op in spec for op in ("=~", "~", ":=", "==")):
        from ..library.specs import load_spec  # lazy: specs is another module of the package

        spec = load_spec(spec)
    if isinstance(spec, str):
        syntax = spec
        known: Mapping[str, Sequence[str]] | None = None
    elif hasattr(spec, "measurement_syntax") and hasattr(spec, "constructs"):
        syntax = spec.measurement_syntax()
        known = spec.constructs
        name = getattr(spec, "name", name)
        skip = set(getattr(spec, "interactions", {}) or {})
    else:
        raise SpecError(
            f"spec must be a spec name, a ModelSpec or lavaan syntax, not {type(spec).__name__}"
        )
    constructs, rhs = _parse_measurement(syntax)
    if known is not None:
        constructs = {lv: list(items) for lv, items in known.items()}
        rhs = {lv: rhs.get(lv, " + ".join(items)) for lv, items in constructs.items()}
    if not constructs:
        raise SpecError(f"spec {name!r} has no measurement (=~) statements")
    notes = []
    higher = sorted(lv for lv, its in constructs.items() if any(i in constructs for i in its))
    if higher:
        notes.append(
            "higher-order factor(s) " + ", ".join(higher) + " left out (their indicators are latent)"
        )
    skipped = sorted(skip & set(constructs))
    if skipped:
        notes.append(
            "latent interaction(s) " + ", ".join(skipped) + " left out (product indicators, not items)"
        )
    drop = set(higher) | set(skipped)
    return _Measurement(
        name=name,
        constructs={lv: its for lv, its in constructs.items() if lv not in drop},
        statements={lv: r for lv, r in rhs.items() if lv not in drop},
        notes=tuple(notes),
    )


# ====================================================================================
# data preparation
# ====================================================================================
def _codebook() -> pd.DataFrame | None:
    """The bundled codebook indexed by item, or None when it cannot be read."""
    try:
        from ..library.codebook import load_codebook

        cb = load_codebook()
    except (ImportError, AttributeError, OSError, AsymtrustError):
        return None
    if not isinstance(cb, pd.DataFrame) or "item" not in cb.columns:
        return None
    return cb.set_index("item")


def _reverse_items(items: Sequence[str], cb: pd.DataFrame | None) -> list[str]:
    """Items of the spec that the codebook marks reverse-keyed, in spec order."""
    if cb is None:
        return []
    try:
        from ..library.codebook import reverse_items

        rev = set(reverse_items(cb.reset_index()))
    except (ImportError, AttributeError, KeyError):
        rev = set(cb.index[pd.to_numeric(cb.get("reverse"), errors="coerce").fillna(0) == 1])
    return [it for it in items if it in rev]


def _recode(frame: pd.DataFrame, targets: list[str], cb: pd.DataFrame) -> pd.DataFrame:
    """Reverse-code ``targets`` (x -> scale_min + scale_max - x)."""
    try:
        from ..survey.validation import recode_reverse
    except ImportError:  # pragma: no cover - the package always ships validation
        recode_reverse = None
    if recode_reverse is not None:
        work = frame.copy()
        work.attrs = {}
        return recode_reverse(work, cb.reset_index(), items=targets)
    out = frame.copy()
    for it in targets:
        out[it] = float(cb.at[it, "scale_min"]) + float(cb.at[it, "scale_max"]) - out[it]
    return out


def _prepare(
    data: Any, meas: _Measurement, recode: bool | None
) -> tuple[pd.DataFrame, list[str]]:
    """Numeric copy of the item columns, reverse-keyed items recoded, inputs checked."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    notes = list(meas.notes)
    items = meas.items
    absent = [it for it in items if it not in data.columns]
    if absent:
        raise ValidationError(
            f"data lack {len(absent)} item column(s) of spec {meas.name!r}: {', '.join(absent)}"
        )
    out = pd.DataFrame(index=data.index)
    for it in items:
        col = data[it]
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna()
        if bad.any():
            first = col[bad].iloc[0]
            raise ValidationError(
                f"item column {it!r} has {int(bad.sum())} non-numeric value(s), e.g. {first!r}"
            )
        out[it] = num.astype(float)
    if len(out) == 0:
        raise InsufficientDataError("data have 0 rows")
    # --- reverse-keyed items --------------------------------------------------------
    # asymtrust.recode_reverse records the recoded items in attrs["reverse_recoded"]
    # (a list); True means "everything was recoded".
    done = data.attrs.get("reverse_recoded", False)
    done_items: set[str] = set(items) if done is True else (
        {str(c) for c in done} if isinstance(done, (list, tuple, set)) else set()
    )
    if recode is not False:
        cb = _codebook()
        rev = _reverse_items(items, cb)
        targets = rev if recode else [it for it in rev if it not in done_items]
        skipped = [it for it in rev if it not in targets]
        if targets:
            out = _recode(out, targets, cb)
            notes.append(
                "reverse-keyed items recoded from the codebook (x -> min + max - x): "
                + ", ".join(targets)
            )
        if skipped:
            notes.append(
                "reverse-keyed items already recoded (data.attrs['reverse_recoded']): "
                + ", ".join(skipped)
            )
    out.attrs = {"reverse_recoded": list(items)}
    # --- constructs and items with no information ----------------------------------
    for lv, its in meas.constructs.items():
        if out[its].isna().all(axis=None):
            raise InsufficientDataError(
                f"construct {lv}: all {len(its)} item(s) ({', '.join(its)}) are missing for "
                f"every one of the {len(out)} respondents"
            )
    for it in items:
        x = out[it].dropna()
        if x.empty:
            raise InsufficientDataError(
                f"item {it!r} is missing for every one of the {len(out)} respondents"
            )
        if x.nunique() == 1:
            raise ValidationError(
                f"item {it!r} has zero variance: all {len(x)} non-missing answers are {x.iloc[0]:g}"
            )
    return out, notes


def _check_variance(frame: pd.DataFrame, where: str) -> None:
    for it in frame.columns:
        if len(frame) and frame[it].nunique() <= 1:
            raise ValidationError(
                f"item {it!r} has zero variance among the {len(frame)} {where}"
            )


def _listwise(x: pd.DataFrame, meas: _Measurement) -> pd.DataFrame:
    """Rows complete for all indicators of the spec (lavaan missing='listwise')."""
    complete = x[meas.items].dropna()
    if len(complete) < 3:
        raise InsufficientDataError(
            f"only {len(complete)} respondent(s) answered all {len(meas.items)} items of "
            f"spec {meas.name!r}; at least 3 are needed"
        )
    _check_variance(complete, "rows complete for all items of the spec")
    return complete


# ====================================================================================
# alpha and item statistics
# ====================================================================================
def _alpha(x: pd.DataFrame, lv: str) -> tuple[float, float, float, int, str]:
    """alpha, CI, n and a reason when alpha is undefined; complete cases only."""
    import pingouin as pg

    k = x.shape[1]
    complete = x.dropna()
    n = len(complete)
    if k < 2:
        return (math.nan, math.nan, math.nan, n,
                f"{lv} has 1 item: alpha needs at least 2 items")
    if n < 2:
        return (math.nan, math.nan, math.nan, n,
                f"{lv} has {n} complete case(s): alpha needs at least 2")
    _check_variance(complete, f"complete cases of construct {lv}")
    a, ci = pg.cronbach_alpha(data=complete, ci=0.95)
    return float(a), float(ci[0]), float(ci[1]), n, ""


def _alpha_value(c: np.ndarray) -> float:
    k = c.shape[0]
    return k / (k - 1) * (1.0 - np.trace(c) / c.sum()) if k > 1 else math.nan


def item_stats(data: pd.DataFrame, spec: Any, *, recode: bool | None = None) -> pd.DataFrame:
    """Per-item diagnostics.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey answers, one row per respondent.
    spec : str, ModelSpec or str
        Spec name, :class:`~asymtrust.library.specs.ModelSpec` or lavaan syntax.
    recode : bool or None
        Reverse-keyed item recoding: ``None`` (default) recodes the items the
        codebook marks reverse-keyed, except those ``data.attrs["reverse_recoded"]``
        lists (set by :func:`asymtrust.recode_reverse`); ``True`` recodes them
        all regardless; ``False`` never recodes.

    Returns
    -------
    pandas.DataFrame
        One row per item (index ``item``), columns:

        * ``construct``;
        * ``n`` (non-missing answers), ``mean``, ``sd`` (divisor n - 1),
          ``skew`` and ``kurtosis`` (excess): bias-corrected G1 and G2 as in
          SPSS/SAS (``psych::skew(type=2)``, ``psych::kurtosi(type=2)``), all on
          the item's non-missing answers;
        * ``pct_missing`` (% of all rows);
        * ``floor``, ``ceiling`` (the codebook's scale_min/scale_max; the observed
          minimum/maximum for items not in the codebook) and ``pct_floor``,
          ``pct_ceiling`` (% of non-missing answers at them);
        * ``r_drop`` (corrected item-total correlation: with the sum of the
          construct's other items) and ``alpha_if_deleted``, both on the complete
          cases of the construct, as ``psych::alpha(na.omit(x))``'s ``r.drop`` and
          ``alpha.drop``. Both are NaN for a one-item construct;
          ``alpha_if_deleted`` is NaN for a two-item construct.

    Examples
    --------
    >>> from asymtrust.survey.datasets import load_dataset
    >>> from asymtrust.analysis.reliability import item_stats
    >>> hs = load_dataset("hs1939")
    >>> st = item_stats(hs, "visual =~ x1 + x2 + x3")
    >>> st[["mean", "sd", "r_drop", "alpha_if_deleted"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
           mean     sd  r_drop  alpha_if_deleted
    item
    x1    4.936  1.167   0.449             0.507
    x2    6.088  1.177   0.375             0.612
    x3    2.250  1.131   0.484             0.458

    In R: ``psych::alpha(na.omit(hs[, c("x1", "x2", "x3")]))`` (``item.stats``,
    ``alpha.drop``).
    """
    meas = _resolve(spec)
    x, notes = _prepare(data, meas, recode)
    cb = _codebook()
    rows = []
    for lv, its in meas.constructs.items():
        complete = x[its].dropna()
        cmat = complete.cov().to_numpy() if len(complete) > 1 else None
        for j, it in enumerate(its):
            col = x[it]
            avail = col.dropna()
            if cb is not None and it in cb.index and {"scale_min", "scale_max"} <= set(cb.columns):
                lo, hi = float(cb.at[it, "scale_min"]), float(cb.at[it, "scale_max"])
            else:
                lo, hi = float(avail.min()), float(avail.max())
            r_drop = a_drop = math.nan
            if len(its) >= 2 and cmat is not None:
                rest = complete.drop(columns=it).sum(axis=1)
                if rest.std() > 0 and complete[it].std() > 0:
                    r_drop = float(np.corrcoef(complete[it], rest)[0, 1])
                if len(its) >= 3:
                    keep = [i for i in range(len(its)) if i != j]
                    a_drop = float(_alpha_value(cmat[np.ix_(keep, keep)]))
            rows.append(
                {
                    "item": it,
                    "construct": lv,
                    "n": int(avail.size),
                    "mean": float(avail.mean()),
                    "sd": float(avail.std(ddof=1)) if avail.size > 1 else math.nan,
                    "skew": float(avail.skew()),
                    "kurtosis": float(avail.kurt()),
                    "pct_missing": 100.0 * float(col.isna().mean()),
                    "floor": lo,
                    "ceiling": hi,
                    "pct_floor": 100.0 * float((avail == lo).mean()),
                    "pct_ceiling": 100.0 * float((avail == hi).mean()),
                    "r_drop": r_drop,
                    "alpha_if_deleted": a_drop,
                }
            )
    out = pd.DataFrame(rows).set_index("item")
    out.attrs["notes"] = notes
    out.attrs["spec"] = meas.name
    return out


# ====================================================================================
# CFA pieces (omega, AVE, CR, latent correlations)
# ====================================================================================
def _fit_cfa(syntax: str, x: pd.DataFrame, ordered: Any = None) -> Any:
    from ..engine.fit import fit as _fit  # lazy: estimation is another module

    if ordered not in (None, False):
        # one WLSMV CFA of all the spec's constructs, listwise over all the spec's items
        return _fit(syntax, x, ordered=ordered)
    return _fit(syntax, x)


# ---------------------------------------------------------------------- ordered items
def omega_categorical(loadings: np.ndarray, phi: float, thresholds: Sequence[np.ndarray],
                      polychoric: np.ndarray) -> float:
    """Categorical omega (Green & Yang 2009), semTools 0.5-6 ``omegaCat`` in the delta
    parameterization (scales 1): with R_T = lambda lambda' phi and R the polychoric matrix,

    omega = sum_jj' [sum_cc' Phi2(t_jc, t_j'c', R_T,jj') - sum_c Phi(t_jc) sum_c' Phi(t_j'c')]
          / sum_jj' [sum_cc' Phi2(t_jc, t_j'c', R_jj')  - sum_c Phi(t_jc) sum_c' Phi(t_j'c')],

    over all ordered pairs (j, j') including j = j' (Phi2 at correlation 1 is Phi(min))."""
    from scipy.stats import norm

    from ..engine.ordinal import bvn_cdf  # lazy: the first stage's bivariate normal

    lam = np.asarray(loadings, float)
    RT = np.outer(lam, lam) * float(phi)
    R = np.asarray(polychoric, float)
    d = np.sqrt(np.diag(R))
    R = R / np.outer(d, d)  # cov2cor
    k = lam.size
    num = den = 0.0
    for j in range(k):
        t1 = np.asarray(thresholds[j], float)
        for jp in range(k):
            t2 = np.asarray(thresholds[jp], float)
            a, b = np.meshgrid(t1, t2, indexing="ij")
            marg = norm.cdf(t1).sum() * norm.cdf(t2).sum()
            num += _phi2(a, b, RT[j, jp], bvn_cdf) - marg
            den += _phi2(a, b, R[j, jp], bvn_cdf) - marg
    return float(num / den)


def _phi2(a: np.ndarray, b: np.ndarray, rho: float, bvn_cdf) -> float:
    """sum of P(X <= a, Y <= b) at correlation rho (|rho| = 1: the degenerate limits)."""
    from scipy.stats import norm

    if rho >= 1.0 - 1e-12:
        return float(norm.cdf(np.minimum(a, b)).sum())
    if rho <= -1.0 + 1e-12:
        return float(np.clip(norm.cdf(a) + norm.cdf(b) - 1.0, 0.0, None).sum())
    return float(np.sum(bvn_cdf(a, b, np.full(a.shape, rho))))


def _ordinal_parts(fitted: Any, meas: _Measurement, parts: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per construct: categorical omega, ordinal alpha and AVE from the fit's polychoric
    matrix and thresholds (semTools ``compRelSEM``, ``AVE``; Zumbo et al. 2007); and that
    polychoric matrix."""
    if fitted.ngroups != 1:
        raise OptionError("reliability(ordered=...) needs a single-group fit")
    if str(fitted.options.get("parameterization", "delta")) != "delta":
        raise OptionError("reliability(ordered=...) needs the delta parameterization (lavaan's default)")
    R = fitted.sample[0]["cov"]
    est = fitted.estimates
    th = est[est["op"] == "|"]
    rows = {}
    for lv, its in meas.constructs.items():
        res = {"omega": math.nan, "ordinal_alpha": math.nan, "ave": math.nan}
        missing = [it for it in its if it not in R.index]
        if missing:
            raise OptionError(f"items {', '.join(missing)} of {lv} are not ordered in the fit; "
                              "reliability(ordered=...) needs every item of the spec ordered")
        if len(its) >= 2:
            Rs = R.loc[its, its].to_numpy(float)
            k = len(its)
            res["ordinal_alpha"] = k / (k - 1.0) * (1.0 - k / Rs.sum())
            lam = parts.loadings[lv].reindex(its).to_numpy(float)
            phi = float(parts.psi.loc[lv, lv])
            taus = [th.loc[th["lhs"] == it, "est"].to_numpy(float) for it in its]
            res["omega"] = omega_categorical(lam, phi, taus, Rs)
            res["ave"] = float(np.sum(lam ** 2) * phi / np.sum(np.diag(Rs)))
        rows[lv] = res
    return pd.DataFrame.from_dict(rows, orient="index"), R


def twolevel_cfa_syntax(constructs: Mapping[str, Sequence[str]]) -> str:
    """The two-level CFA behind multilevel reliability: every construct at both levels with
    the same name and its loadings equal across levels (shared labels ``L<k>``), as semTools'
    ``compRelSEM`` expects."""
    k, lines = 0, []
    for lv, its in constructs.items():
        terms = []
        for it in its:
            k += 1
            terms.append(f"L{k}*{it}")
        lines.append(f"  {lv} =~ " + " + ".join(terms))
    return "level: 1\n" + "\n".join(lines) + "\nlevel: 2\n" + "\n".join(lines) + "\n"


def _with_multilevel(table: pd.DataFrame, meas: Any, x: pd.DataFrame, data: pd.DataFrame, cluster: str,
                     notes: list[str]) -> pd.DataFrame:
    """``reliability(cluster=)``: add compRelSEM's omegas from a two-level CFA."""
    from ..engine.fit import fit as _fit  # lazy: estimation is another module
    from .multilevel import multilevel_reliability

    if not isinstance(cluster, str) or cluster not in data.columns:
        raise ValidationError(f"cluster column {cluster!r} is not in the data")
    frame = x[meas.items].copy()
    frame[cluster] = data.loc[x.index, cluster].to_numpy() if len(x) == len(data) else data[cluster]
    tl = _fit(twolevel_cfa_syntax(meas.constructs), frame, cluster=cluster)
    ml = multilevel_reliability(tl).set_index("construct")
    for col in ("omega_w", "omega_2l", "omega_b", "irr"):
        table[col] = ml[col].reindex(table.index)
    notes.extend(f"two-level CFA: {w}" for w in tl.warnings)
    notes.extend(ml.attrs.get("notes", []))
    table.attrs["twolevel_fit"] = tl
    return table


@dataclass
class _CfaParts:
    nobs: int
    converged: bool
    loadings: dict[str, pd.Series]  # latent -> unstandardized loadings (item index)
    std_loadings: dict[str, pd.Series]
    theta: pd.DataFrame  # residual (co)variances of the items
    psi: pd.DataFrame  # latent (co)variances
    warnings: list[str]

    def latent_cor(self) -> pd.DataFrame:
        d = np.sqrt(np.diag(self.psi.to_numpy()))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = self.psi.to_numpy() / np.outer(d, d)
        return pd.DataFrame(r, index=self.psi.index, columns=self.psi.columns)


def _cfa_parts(fitted: Any, meas: _Measurement) -> _CfaParts:
    est = fitted.estimates
    if "group" in est.columns and est["group"].nunique() > 1:
        est = est[est["group"] == est["group"].iloc[0]]
    lvs = list(meas.constructs)
    items = meas.items
    reg = est[est["op"] == "~"]
    if not reg.empty:
        first = reg.iloc[0]
        raise OptionError(
            f"fitted must be the CFA of the measurement model, but it has {len(reg)} regression(s), "
            f"e.g. {first['lhs']} ~ {first['rhs']}"
        )
    loadings, std_loadings = {}, {}
    lam = est[est["op"] == "=~"]
    absent = [lv for lv in lvs if lv not in set(lam["lhs"])]
    if absent:
        raise OptionError(f"fitted has no loadings for construct(s) {', '.join(absent)}")
    for lv in lvs:
        rows = lam[lam["lhs"] == lv]
        loadings[lv] = pd.Series(rows["est"].to_numpy(float), index=rows["rhs"].to_numpy())
        std_loadings[lv] = pd.Series(
            rows["std_all"].to_numpy(float) if "std_all" in rows else np.nan,
            index=rows["rhs"].to_numpy(),
        )
    cov = est[est["op"] == "~~"]
    theta = pd.DataFrame(0.0, index=items, columns=items)
    psi = pd.DataFrame(np.nan, index=lvs, columns=lvs)
    for lhs, rhs, value in cov[["lhs", "rhs", "est"]].itertuples(index=False):
        if lhs in theta.index and rhs in theta.index:
            theta.loc[lhs, rhs] = theta.loc[rhs, lhs] = float(value)
        elif lhs in psi.index and rhs in psi.index:
            psi.loc[lhs, rhs] = psi.loc[rhs, lhs] = float(value)
    nobs = fitted.nobs
    if isinstance(nobs, (list, tuple, np.ndarray)):
        nobs = int(np.sum(nobs))
    return _CfaParts(
        nobs=int(nobs),
        converged=bool(getattr(fitted, "converged", True)),
        loadings=loadings,
        std_loadings=std_loadings,
        theta=theta,
        psi=psi,
        warnings=list(getattr(fitted, "warnings", []) or []),
    )


def _cfa_provenance(fitted: Any, data: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    """The CFA's problems (prefixed) and its rows read, used and dropped."""
    from .provenance import data_usage, fit_problems

    return (fit_problems(fitted, "CFA of the measurement model"),
            [data_usage(fitted, "CFA of the measurement model", data)])


def _with_provenance(table: pd.DataFrame, kind: str, fitted: Any, data: pd.DataFrame, title: str) -> pd.DataFrame:
    from .provenance import result_table

    problems, usage = _cfa_provenance(fitted, data)
    return result_table(table, kind=kind, warnings=problems, data=usage, title=title)


def _composite(parts: _CfaParts, meas: _Measurement) -> pd.DataFrame:
    """omega (semTools), avevar (semTools) and CR (std.all) per construct."""
    counts = pd.Series([it for its in meas.constructs.values() for it in its]).value_counts()
    rows = {}
    for lv, its in meas.constructs.items():
        lam = parts.loadings[lv].reindex(its).to_numpy(float)
        lam_s = parts.std_loadings[lv].reindex(its).to_numpy(float)
        phi = float(parts.psi.loc[lv, lv])
        res = {"omega": math.nan, "cr": math.nan, "ave": math.nan, "note": ""}
        if len(its) < 2:
            res["note"] = f"{lv} has 1 item: omega, CR and AVE are undefined (semTools drops it)"
        else:
            theta = parts.theta.loc[its, its].to_numpy()
            common = lam.sum() ** 2 * phi
            res["omega"] = common / (common + theta.sum())
            res["cr"] = lam_s.sum() ** 2 / (lam_s.sum() ** 2 + np.sum(1.0 - lam_s**2))
            if (counts[its] > 1).any():
                res["note"] = f"{lv} shares items with another construct: AVE undefined"
            else:
                t = np.diag(theta)
                res["ave"] = float(np.sum(lam**2 * phi) / np.sum(lam**2 * phi + t))
            neg = [it for it, v in zip(its, np.diag(theta)) if v < 0]
            if neg:
                res["note"] = f"{lv}: negative residual variance (Heywood case) for {', '.join(neg)}"
        rows[lv] = res
    return pd.DataFrame.from_dict(rows, orient="index")


# ====================================================================================
# HTMT
# ====================================================================================
def _htmt_matrix(complete: pd.DataFrame, meas: _Measurement, method: str,
                 cor: pd.DataFrame | None = None) -> pd.DataFrame:
    """HTMT from the Pearson correlations of ``complete`` or, given, from ``cor`` (e.g. the
    polychoric matrix of an ordinal fit, as semTools ``htmt(..., ordered=)``)."""
    if method not in HTMT_METHODS:
        raise OptionError(f"method={method!r} is not one of {', '.join(HTMT_METHODS)}")
    if cor is not None:
        complete = cor
    r = (cor.abs().to_numpy(copy=True) if cor is not None else complete.corr().abs().to_numpy(copy=True))
    np.fill_diagonal(r, np.nan)
    idx = {it: i for i, it in enumerate(complete.columns)}
    agg = (lambda v: float(np.exp(np.mean(np.log(v))))) if method == "htmt2" else (
        lambda v: float(np.mean(v))
    )

    def block(a: list[str], b: list[str]) -> float:
        v = r[np.ix_([idx[i] for i in a], [idx[j] for j in b])].ravel()
        v = v[~np.isnan(v)]
        return agg(v) if v.size else math.nan

    lvs = list(meas.constructs)
    mono = {lv: block(meas.constructs[lv], meas.constructs[lv]) for lv in lvs}
    out = pd.DataFrame(np.eye(len(lvs)), index=lvs, columns=lvs)
    for i, a in enumerate(lvs):
        for b in lvs[:i]:
            with np.errstate(invalid="ignore", divide="ignore"):
                v = block(meas.constructs[a], meas.constructs[b]) / math.sqrt(mono[a] * mono[b])
            out.loc[a, b] = out.loc[b, a] = v
    out.index.name = "construct"
    return out


def htmt(
    data: pd.DataFrame, spec: Any, *, method: str = "htmt2", recode: bool | None = None, ordered: Any = None
) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations, construct x construct.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey answers.
    spec : str, ModelSpec or str
        Spec name, ModelSpec or lavaan syntax (its ``=~`` lines).
    method : {"htmt2", "htmt"}
        ``"htmt2"`` (default): geometric means of the correlations (Roemer,
        Schuberth & Henseler 2021), semTools 0.5-6's default ``htmt2=TRUE``.
        ``"htmt"``: the arithmetic-mean ratio of Henseler, Ringle & Sarstedt
        (2015), ``htmt2=FALSE``.
    recode : bool or None
        Reverse-keyed item recoding (see :func:`item_stats`).
    ordered : True or list of str, optional
        Ordinal items: polychoric instead of Pearson correlations (every item of the spec
        must then be ordered), as semTools ``htmt(model, data, ordered = items)``.

    Returns
    -------
    pandas.DataFrame
        Symmetric matrix with 1 on the diagonal. Pairs involving a one-item
        construct are NaN (no monotrait correlations). ``attrs``: ``method``,
        ``n_obs`` (listwise rows), ``cutoff`` (text of the published rule),
        ``notes``.

    Notes
    -----
    Like semTools ``htmt()``: Pearson correlations on the rows complete for every
    indicator of the spec (``lavCor(missing="listwise")``), absolute values,
    diagonal excluded. HTMT_ij = m(R_ij) / sqrt(m(R_ii) m(R_jj)), m the
    geometric (htmt2) or arithmetic (htmt) mean of the heterotrait block R_ij and
    of the off-diagonal monotrait blocks R_ii, R_jj.

    In R: ``semTools::htmt(model, data, htmt2 = TRUE)``.

    Examples
    --------
    >>> from asymtrust.survey.datasets import load_dataset
    >>> from asymtrust.analysis.reliability import htmt
    >>> hs = load_dataset("hs1939")
    >>> model = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> htmt(hs, model).round(3)  # doctest: +NORMALIZE_WHITESPACE
               visual  textual  speed
    construct
    visual      1.000    0.384  0.387
    textual     0.384    1.000  0.280
    speed       0.387    0.280  1.000
    """
    if method not in HTMT_METHODS:
        raise OptionError(f"method={method!r} is not one of {', '.join(HTMT_METHODS)}")
    meas = _resolve(spec)
    x, notes = _prepare(data, meas, recode)
    complete = _listwise(x, meas)
    cor = None
    if ordered is not None and ordered is not False:
        from ..engine.ordinal import polychoric  # lazy: the first stage of the ordinal estimator

        names = list(meas.items) if ordered is True else [str(v) for v in ordered]
        cont = [it for it in meas.items if it not in names]
        if cont:
            raise OptionError(f"htmt(ordered=...) needs every item of the spec ordered; not ordered: {', '.join(cont)}")
        cor = polychoric(complete, list(meas.items)).cor
    out = _htmt_matrix(complete, meas, method, cor=cor)
    out.attrs.update(
        method=method, n_obs=len(complete), cutoff=_cut.rule_text("htmt"), notes=notes,
        spec=meas.name,
    )
    return out


# ====================================================================================
# reliability table
# ====================================================================================
def _flag(statistic: str, value: float) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return pd.NA
    return _cut.check(statistic, value)


def reliability(
    data: pd.DataFrame,
    spec: Any,
    *,
    recode: bool | None = None,
    fitted: Any = None,
    htmt_method: str = "htmt2",
    cluster: str | None = None,
    ordered: Any = None,
) -> pd.DataFrame:
    """Reliability and convergent/discriminant validity, one row per construct.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey answers, one row per respondent.
    spec : str, ModelSpec or str
        Spec name (``"fig1"``), :class:`~asymtrust.library.specs.ModelSpec` or lavaan
        syntax. Only its ``=~`` lines are used; latent interactions (product
        indicators) and higher-order factors are left out.
    recode : bool or None
        Reverse-keyed item recoding (see :func:`item_stats`): by default the
        codebook's reverse-keyed items not yet listed in
        ``data.attrs["reverse_recoded"]`` are recoded.
    fitted : FitResult, optional
        An already fitted CFA of the measurement model (otherwise
        :func:`asymtrust.fit` fits it, cfa() defaults, listwise).
    htmt_method : {"htmt2", "htmt"}
        Variant used for the ``htmt_max`` column.
    cluster : str, optional
        The cluster column of a nested design (e.g. ``"partnership"``): the table gains the
        multilevel reliability of :func:`asymtrust.multilevel_reliability` (semTools 0.5-6
        ``compRelSEM``), columns ``omega_w``, ``omega_2l`` (``config=``), ``omega_b`` and
        ``irr`` (``shared=``), from a two-level CFA with the same constructs at both levels
        and loadings equal across levels (ML, listwise; ``attrs["twolevel_fit"]``).
    ordered : True or list of str, optional
        Ordinal items (issue 15): the CFA is one WLSMV CFA of all the spec's constructs
        together (``asymtrust.fit(..., ordered=)``, delta parameterization, listwise over all
        the spec's items; every item must be ordered). ``omega`` is then the categorical
        omega of Green & Yang (2009), as semTools 0.5-6 ``compRelSEM(fit)``
        (:func:`omega_categorical`); ``ordinal_alpha`` (an added column) is the alpha of that
        fit's polychoric matrix per construct (Zumbo, Gadermann & Zeisser 2007); ``ave`` is
        semTools ``AVE(fit)`` (sum of squared loadings over the polychoric variances) and
        the HTMT uses the polychoric matrix (semTools ``htmt(..., ordered=)``). ``alpha``
        stays Cronbach's alpha of the raw scores. ``attrs["polychoric"]`` holds the matrix.

    Returns
    -------
    pandas.DataFrame
        Index ``construct``; columns

        * ``n_items``; ``n_obs`` (complete cases of the construct: alpha's N);
        * ``alpha``, ``alpha_ci_lower``, ``alpha_ci_upper``: Cronbach's alpha
          on the construct's complete cases with the Feldt 95% CI (pingouin);
        * ``omega``, ``ave``: semTools ``reliability()`` ``omega`` and
          ``avevar`` from the CFA; ``cr``: composite reliability from the
          standardized loadings; ``sqrt_ave``;
        * ``htmt_max``: the construct's largest HTMT with another construct;
          ``fl_margin``: sqrt(AVE) minus its largest absolute latent correlation;
        * pass/fail flags against the published cut-offs
          (:mod:`asymtrust.analysis.cutoffs`): ``alpha_pass``, ``omega_pass``,
          ``cr_pass``, ``ave_pass`` (Fornell & Larcker 1981), ``htmt_pass``
          (Henseler et al. 2015), ``fl_pass``; nullable booleans, ``<NA>`` when
          the statistic is undefined;
        * ``note``: why a value is NaN or suspect (one-item construct, Heywood
          case, ...).

        ``attrs``: ``notes`` (reverse recoding, left-out constructs, CFA
        warnings), ``n_obs_cfa``, ``htmt_method``, ``cutoffs`` (statistic ->
        rule text), ``spec``, ``warnings`` (the CFA's problems: Heywood cases,
        non-convergence, ...) and ``data`` (the CFA's rows read, used and
        dropped). A :class:`~asymtrust.analysis.compare.ResultTable`: ``str()`` and
        ``to_dict()`` show the warnings and rows used.

    Raises
    ------
    ValidationError
        An item column is absent, non-numeric or has zero variance (named).
    InsufficientDataError
        A construct's items are all missing for every respondent.

    Examples
    --------
    >>> from asymtrust.survey.datasets import load_dataset
    >>> from asymtrust.analysis.reliability import reliability
    >>> hs = load_dataset("hs1939")
    >>> model = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> rel = reliability(hs, model)
    >>> rel[["alpha", "omega", "cr", "ave", "htmt_max"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
               alpha  omega     cr    ave  htmt_max
    construct
    visual     0.626  0.625  0.626  0.371     0.387
    textual    0.883  0.885  0.885  0.721     0.384
    speed      0.688  0.688  0.691  0.424     0.387
    >>> rel["ave_pass"].tolist()
    [False, True, False]

    In R: ``psych::alpha(na.omit(x))``, ``semTools::reliability(cfa(model, data))``,
    ``semTools::htmt(model, data)``.
    """
    if htmt_method not in HTMT_METHODS:
        raise OptionError(f"htmt_method={htmt_method!r} is not one of {', '.join(HTMT_METHODS)}")
    meas = _resolve(spec)
    x, notes = _prepare(data, meas, recode)
    rows: dict[str, dict[str, Any]] = {}
    for lv, its in meas.constructs.items():
        a, lo, hi, n, why = _alpha(x[its], lv)
        rows[lv] = {
            "n_items": len(its), "n_obs": n, "alpha": a,
            "alpha_ci_lower": lo, "alpha_ci_upper": hi, "note": why,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    # --- CFA-based ------------------------------------------------------------------
    if fitted is None:
        fitted = _fit_cfa(meas.syntax(), x[meas.items], ordered)
    ordinal = bool((getattr(fitted, "options", None) or {}).get("ordered"))
    parts = _cfa_parts(fitted, meas)
    if not parts.converged:
        notes.append("the CFA of the measurement model did not converge: omega, CR and AVE are unreliable")
    notes.extend(f"CFA: {w}" for w in parts.warnings)
    comp = _composite(parts, meas)
    polychoric = None
    if ordinal:
        ocomp, polychoric = _ordinal_parts(fitted, meas, parts)
        comp["omega"], comp["ave"] = ocomp["omega"], ocomp["ave"]
        table["ordinal_alpha"] = ocomp["ordinal_alpha"]
        notes.append("ordered items: WLSMV CFA; omega is the categorical omega (Green & Yang 2009), "
                     "ordinal_alpha the alpha of the polychoric matrix (Zumbo et al. 2007); AVE and HTMT "
                     "from the polychoric matrix")
    for col in ("omega", "cr", "ave"):
        table[col] = comp[col]
    table["sqrt_ave"] = np.sqrt(table["ave"].where(table["ave"] >= 0))
    table["note"] = [
        "; ".join(s for s in (a, b) if s) for a, b in zip(table["note"], comp["note"])
    ]
    # --- discriminant validity ------------------------------------------------------
    lvs = list(meas.constructs)
    if len(lvs) > 1:
        ht = (_htmt_matrix(None, meas, htmt_method, cor=polychoric) if polychoric is not None
              else _htmt_matrix(_listwise(x, meas), meas, htmt_method))
        cor = parts.latent_cor().abs()
        off = ~np.eye(len(lvs), dtype=bool)
        table["htmt_max"] = ht.where(off).max(axis=1, skipna=True)
        table["fl_margin"] = table["sqrt_ave"] - cor.where(off).max(axis=1, skipna=True)
    else:
        table["htmt_max"] = math.nan
        table["fl_margin"] = math.nan
    flags = {
        "alpha_pass": ("alpha", "alpha"), "omega_pass": ("omega", "omega"),
        "cr_pass": ("cr", "cr"), "ave_pass": ("ave", "ave"),
        "htmt_pass": ("htmt", "htmt_max"), "fl_pass": ("fornell_larcker", "fl_margin"),
    }
    for col, (stat, src) in flags.items():
        table[col] = pd.array([_flag(stat, float(v)) for v in table[src]], dtype="boolean")
    order = ["n_items", "n_obs", "alpha", "alpha_ci_lower", "alpha_ci_upper",
             *(["ordinal_alpha"] if polychoric is not None else []), "omega", "cr",
             "ave", "sqrt_ave", "htmt_max", "fl_margin", *flags, "note"]
    table = table[order]
    table.index.name = "construct"
    table["n_items"] = table["n_items"].astype(int)
    table["n_obs"] = table["n_obs"].astype(int)
    table.attrs.update(
        notes=notes,
        n_obs_cfa=parts.nobs,
        htmt_method=htmt_method,
        cutoffs={s: _cut.rule_text(s) for s, _ in flags.values()},
        spec=meas.name,
    )
    if polychoric is not None:
        table.attrs.update(polychoric=polychoric, estimator=str(fitted.options.get("estimator")),
                           ordered=list(fitted.options.get("ordered") or []))
    if cluster is not None:
        table = _with_multilevel(table, meas, x, data, cluster, notes)
    return _with_provenance(table, "reliability", fitted, data,
                            f"Reliability and convergent validity ({meas.name}); omega, CR and AVE from the CFA")


# ====================================================================================
# Fornell-Larcker and cross-loadings
# ====================================================================================
def fornell_larcker(
    data: pd.DataFrame, spec: Any, *, recode: bool | None = None, fitted: Any = None
) -> pd.DataFrame:
    """Fornell-Larcker matrix: sqrt(AVE) on the diagonal, latent correlations off it.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey answers.
    spec : str, ModelSpec or str
        Spec name, ModelSpec or lavaan syntax.
    recode : bool or None
        Reverse-keyed item recoding (see :func:`item_stats`).
    fitted : FitResult, optional
        An already fitted CFA of the measurement model.

    Returns
    -------
    pandas.DataFrame
        Construct x construct. The diagonal is sqrt(avevar) (semTools), the
        off-diagonal the model-estimated latent correlations of the CFA
        (``lavInspect(fit, "cor.lv")``). ``attrs["pass"]`` maps each construct to
        whether its sqrt(AVE) exceeds all its absolute latent correlations
        (Fornell & Larcker 1981; None when undefined). A
        :class:`~asymtrust.analysis.compare.ResultTable` carrying the CFA's ``warnings`` and
        rows used (``data``).
    """
    meas = _resolve(spec)
    x, notes = _prepare(data, meas, recode)
    if fitted is None:
        fitted = _fit_cfa(meas.syntax(), x[meas.items])
    parts = _cfa_parts(fitted, meas)
    comp = _composite(parts, meas)
    out = parts.latent_cor()
    sq = np.sqrt(comp["ave"].where(comp["ave"] >= 0))
    lvs = list(meas.constructs)
    verdict: dict[str, bool | None] = {}
    for i, lv in enumerate(lvs):
        others = [abs(out.iloc[i, j]) for j in range(len(lvs)) if j != i]
        margin = float(sq[lv]) - max(others) if others else math.nan
        f = _flag("fornell_larcker", margin)
        verdict[lv] = None if f is pd.NA else bool(f)
    for i, lv in enumerate(lvs):
        out.iloc[i, i] = sq[lv]
    out.index.name = "construct"
    out.attrs.update(
        {"pass": verdict, "n_obs_cfa": parts.nobs, "notes": notes, "spec": meas.name,
         "cutoff": _cut.rule_text("fornell_larcker")}
    )
    return _with_provenance(out, "fornell_larcker", fitted, data,
                            f"Fornell-Larcker ({meas.name}): sqrt(AVE) on the diagonal, CFA latent correlations off it")


def cross_loadings(
    data: pd.DataFrame,
    spec: Any,
    *,
    method: str = "composite",
    recode: bool | None = None,
    fitted: Any = None,
) -> pd.DataFrame:
    """Item x construct cross-loadings.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey answers.
    spec : str, ModelSpec or str
        Spec name, ModelSpec or lavaan syntax.
    method : {"composite", "cfa"}
        ``"composite"`` (default): Pearson correlation of each item with each
        construct's unit-weighted mean score, on the rows complete for all items
        of the spec (an item's own score includes the item). ``"cfa"``: the
        model-implied item-factor correlations of the CFA (structure
        coefficients, std.all loading times latent correlation; in R
        ``lavInspect(fit, "std")$lambda %*% lavInspect(fit, "cor.lv")``).
    recode : bool or None
        Reverse-keyed item recoding (see :func:`item_stats`).
    fitted : FitResult, optional
        An already fitted CFA (method ``"cfa"`` only).

    Returns
    -------
    pandas.DataFrame
        Index ``item``, one column per construct. ``attrs``: ``method``,
        ``own_construct`` (item -> construct), ``own_highest`` (item -> whether
        the item correlates most with its own construct), ``n_obs``.
    """
    if method not in CROSS_METHODS:
        raise OptionError(f"method={method!r} is not one of {', '.join(CROSS_METHODS)}")
    meas = _resolve(spec)
    x, notes = _prepare(data, meas, recode)
    lvs = list(meas.constructs)
    if method == "composite":
        complete = _listwise(x, meas)
        scores = pd.DataFrame({lv: complete[its].mean(axis=1) for lv, its in meas.constructs.items()})
        out = pd.DataFrame(
            {lv: [float(np.corrcoef(complete[it], scores[lv])[0, 1]) for it in meas.items] for lv in lvs},
            index=meas.items,
        )
        n = len(complete)
    else:
        if fitted is None:
            fitted = _fit_cfa(meas.syntax(), x[meas.items])
        parts = _cfa_parts(fitted, meas)
        lam = pd.DataFrame(0.0, index=meas.items, columns=lvs)
        for lv in lvs:
            for it, v in parts.std_loadings[lv].items():
                lam.loc[it, lv] = v
        out = lam @ parts.latent_cor()
        n = parts.nobs
    out.index.name = "item"
    own = {it: lv for lv, its in meas.constructs.items() for it in its}
    highest = {it: bool(out.loc[it].abs().idxmax() == own[it]) for it in meas.items}
    out.attrs.update(method=method, own_construct=own, own_highest=highest, n_obs=n,
                     notes=notes, spec=meas.name)
    if method == "cfa":
        return _with_provenance(out, "cross_loadings", fitted, data, f"Cross-loadings from the CFA ({meas.name})")
    return out


# ====================================================================================
# common-method variance
# ====================================================================================
def harman(
    data: pd.DataFrame, spec: Any, *, method: str = "pca", recode: bool | None = None
) -> pd.Series:
    """Harman's single-factor test: % of variance on the first unrotated factor.

    All indicators of the spec enter one unrotated extraction on the rows
    complete for all of them. Common-method variance is suspected when the first
    factor explains 50% or more (Podsakoff et al. 2003).

    Parameters
    ----------
    data : pandas.DataFrame
        Survey answers.
    spec : str, ModelSpec or str
        Spec name, ModelSpec or lavaan syntax.
    method : {"pca", "paf"}
        ``"pca"`` (default, the usual SPSS practice): first principal component
        of the item correlation matrix, % variance = 100 λ₁ / p
        (``psych::principal(x, nfactors = 1, rotate = "none")``'s
        "Proportion Var"). ``"paf"``: one principal-axis factor iterated to
        convergence from squared multiple correlations (statsmodels ``Factor``,
        ``method="pa"``), % variance = 100 Σ loading² / p (``psych::fa(x,
        nfactors = 1, fm = "pa")``, which stops iterating earlier, so the two
        agree to about 1e-4).
    recode : bool or None
        Reverse-keyed item recoding (see :func:`item_stats`).

    Returns
    -------
    pandas.Series
        ``method``, ``n_obs``, ``n_items``, ``eigenvalue`` (first eigenvalue of
        the correlation matrix), ``pct_variance``, ``threshold`` (50),
        ``passes`` (``pct_variance < threshold``: no single dominant factor),
        ``cutoff`` (rule text).

    Examples
    --------
    >>> from asymtrust.survey.datasets import load_dataset
    >>> from asymtrust.analysis.reliability import harman
    >>> hs = load_dataset("hs1939")
    >>> model = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> h = harman(hs, model)
    >>> round(h["pct_variance"], 2), h["passes"]
    (35.74, True)
    """
    if method not in HARMAN_METHODS:
        raise OptionError(f"method={method!r} is not one of {', '.join(HARMAN_METHODS)}")
    meas = _resolve(spec)
    x, notes = _prepare(data, meas, recode)
    complete = _listwise(x, meas)
    p = complete.shape[1]
    if p < 2:
        raise InsufficientDataError(f"Harman's test needs at least 2 items; spec {meas.name!r} has {p}")
    corr = complete.corr().to_numpy()
    eig = float(np.linalg.eigvalsh(corr)[-1])
    if method == "pca":
        pct = 100.0 * eig / p
    else:
        from statsmodels.multivariate.factor import Factor

        res = Factor(corr=corr, n_factor=1, method="pa", smc=True, nobs=len(complete)).fit(
            maxiter=1000, tol=1e-10
        )
        pct = 100.0 * float(np.sum(np.asarray(res.loadings) ** 2)) / p
    thr = float(_cut.load_cutoffs().set_index("statistic").at["harman_pct", "threshold"])
    out = pd.Series(
        {
            "method": method,
            "n_obs": len(complete),
            "n_items": p,
            "eigenvalue": eig,
            "pct_variance": pct,
            "threshold": thr,
            "passes": _cut.check("harman_pct", pct),
            "cutoff": _cut.rule_text("harman_pct"),
        },
        dtype=object,
    )
    out.attrs.update(notes=notes, spec=meas.name)
    return out


_FIT_COLS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr")


def cmv_one_factor(
    data: pd.DataFrame, spec: Any, *, recode: bool | None = None, fitted: Any = None
) -> pd.DataFrame:
    """One-factor CFA compared with the measurement model (common-method check).

    Parameters
    ----------
    data : pandas.DataFrame
        Survey answers.
    spec : str, ModelSpec or str
        Spec name, ModelSpec or lavaan syntax.
    recode : bool or None
        Reverse-keyed item recoding (see :func:`item_stats`).
    fitted : FitResult, optional
        An already fitted CFA of the measurement model.

    Returns
    -------
    pandas.DataFrame
        Rows ``measurement`` and ``one_factor`` (all items on one factor ``CMV``),
        columns ``chisq, df, pvalue, cfi, tli, rmsea, srmr`` from each fit
        (lavaan ``cfa()`` defaults, listwise), and on the ``one_factor`` row the
        likelihood-ratio test against the measurement model: ``delta_chisq``
        (one-factor minus measurement), ``delta_df``, ``delta_pvalue``, and
        ``delta_cfi`` = CFI(measurement) - CFI(one factor), the loss of fit when
        all items are forced onto one factor. A large, significant Δχ² and a
        large ΔCFI mean a single (method) factor does not account for the data.

    In R: ``lavTestLRT(cfa(model, d), cfa("CMV =~ ...", d))``.
    """
    meas = _resolve(spec)
    x, notes = _prepare(data, meas, recode)
    items = meas.items
    name = "CMV"
    while name in items or name in meas.constructs:
        name += "_"
    one = f"{name} =~ " + " + ".join(items)
    if fitted is None:
        fitted = _fit_cfa(meas.syntax(), x[items])
    single = _fit_cfa(one, x[items])
    rows = {}
    for label, res in (("measurement", fitted), ("one_factor", single)):
        fi = res.fit_indices
        rows[label] = {c: float(fi.get(c, math.nan)) for c in _FIT_COLS}
    out = pd.DataFrame.from_dict(rows, orient="index")
    d_chi = out.at["one_factor", "chisq"] - out.at["measurement", "chisq"]
    d_df = out.at["one_factor", "df"] - out.at["measurement", "df"]
    out["delta_chisq"] = [math.nan, d_chi]
    out["delta_df"] = [math.nan, d_df]
    out["delta_pvalue"] = [math.nan, float(special.chdtrc(d_df, d_chi)) if d_df > 0 else math.nan]
    out["delta_cfi"] = [math.nan, out.at["measurement", "cfi"] - out.at["one_factor", "cfi"]]
    out.index.name = "model"
    for label, res in (("measurement", fitted), ("one_factor", single)):
        if not getattr(res, "converged", True):
            notes.append(f"the {label} CFA did not converge")
    out.attrs.update(notes=notes, spec=meas.name, one_factor_syntax=one)
    return out
