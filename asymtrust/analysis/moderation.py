"""Moderation: does power distance amplify the erosion of goodwill trust by capacity
imbalance? (pipeline step: fit -> effects; Fig. 1, "the moderating effect of power
distance ... resulting from the inequality brought about by capacity imbalance").

Two estimators of the same question, ``y = b1 x + b2 w + b3 x w + ...``:

* ``method="latent"``: a latent interaction measured by double-mean-centred matched
  product indicators (Lin et al. 2010; :func:`indprod`, as ``semTools::indProd``), fitted
  with :func:`asymtrust.fit` on a spec that has the interaction latent
  (``specs/fig1_moderated.lav``: ``CapxPow =~ cap1.pow1 + cap2.pow2 + cap3.pow3``);
* ``method="observed"``: item-mean composites, predictors mean-centred, OLS with HC3
  standard errors (statsmodels).

Both report simple slopes of ``x`` at the mean and +-1 SD of the moderator, and
Johnson-Neyman data (:func:`jn_table`): the slope of ``x`` with its confidence band over
a range of moderator values, and the moderator values where the band crosses zero.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..exceptions import DataError, OptionError, SpecError

__all__ = ["JohnsonNeyman", "ModerationResult", "indprod", "jn_table", "moderation"]

METHODS = ("latent", "observed")


# ----------------------------------------------------------------------------- product indicators
def _numeric_columns(data: pd.DataFrame, cols: Sequence[str], what: str) -> pd.DataFrame:
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(f"{what} column {missing[0]!r} is not in the data")
    out = {}
    for c in cols:
        col = data[c]
        conv = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & conv.isna()
        if bad.any():
            raise DataError(f"column {c!r} is not numeric: {int(bad.sum())} row(s) hold text such as {col[bad].iloc[0]!r}")
        out[c] = conv.astype(float)
    return pd.DataFrame(out, index=data.index)


def indprod(data: pd.DataFrame, x_items: Sequence[str], w_items: Sequence[str], *, match: bool = True,
            mean_center: bool = True, double_mc: bool = True, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Product indicators for a latent interaction (semTools ``indProd``).

    Parameters
    ----------
    data : DataFrame
        Item responses (reverse-keyed items already recoded).
    x_items, w_items : sequence of str
        Indicators of the two interacting factors.
    match : bool
        ``True``: matched pairs ``x_k * w_k`` (needs equally many items);
        ``False``: all pairs, ``x_1*w_1, x_1*w_2, ...``.
    mean_center : bool
        Centre each item at its mean before multiplying (``meanC``).
    double_mc : bool
        Centre each product at its mean again (``doubleMC``; Lin et al. 2010).
    names : sequence of str, optional
        Names of the products; default ``"{x}.{w}"`` (``cap1.pow1``), as semTools.

    Returns
    -------
    DataFrame
        A copy of ``data`` with the product columns appended (a column of the same name is
        replaced). Means ignore missing values; a product is missing when either item is.

    Raises
    ------
    DataError
        An item is not a numeric column of ``data``.
    OptionError
        ``match=True`` with unequal numbers of items, or ``names`` of the wrong length.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"a1": [1., 2, 3], "a2": [2., 2, 5], "b1": [1., 3, 2], "b2": [4., 1, 1]})
    >>> indprod(d, ["a1", "a2"], ["b1", "b2"]).columns.tolist()[-2:]
    ['a1.b1', 'a2.b2']

    In R: ``semTools::indProd(data, var1, var2, match = TRUE, meanC = TRUE,
    residualC = FALSE, doubleMC = TRUE)``.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    x_items, w_items = [str(v) for v in x_items], [str(v) for v in w_items]
    if not x_items or not w_items:
        raise OptionError("indprod needs at least one item for each factor")
    if match and len(x_items) != len(w_items):
        raise OptionError(f"matched product indicators need equally many items: {len(x_items)} ({', '.join(x_items)}) "
                          f"vs {len(w_items)} ({', '.join(w_items)}); use match=False for all pairs")
    X = _numeric_columns(data, x_items, "item")
    W = _numeric_columns(data, w_items, "item")
    if mean_center:
        X = X - X.mean(skipna=True)
        W = W - W.mean(skipna=True)
    pairs = list(zip(x_items, w_items)) if match else [(a, b) for a in x_items for b in w_items]
    default = [f"{a}.{b}" for a, b in pairs]
    if names is None:
        names = default
    names = [str(n) for n in names]
    if len(names) != len(pairs):
        raise OptionError(f"names must give {len(pairs)} product names, not {len(names)}")
    prods = pd.DataFrame({n: X[a].to_numpy() * W[b].to_numpy() for n, (a, b) in zip(names, pairs)},
                         index=data.index)
    if double_mc:
        prods = prods - prods.mean(skipna=True)
    out = data.drop(columns=[n for n in names if n in data.columns]).copy()
    for n in names:
        out[n] = prods[n]
    return out


# ----------------------------------------------------------------------------- Johnson-Neyman
@dataclass(frozen=True)
class JohnsonNeyman:
    """Johnson-Neyman data for a plot of the conditional slope of ``x``.

    Attributes
    ----------
    table : DataFrame
        ``w`` (moderator value), ``slope``, ``se``, ``ci_lower``, ``ci_upper`` and
        ``significant`` (the interval excludes 0).
    boundaries : tuple of float
        Moderator values where the confidence band crosses zero (0, 1 or 2 values, not
        restricted to the plotted range).
    significant_outside : bool or None
        True: the slope is significant outside the two boundaries (below the first and
        above the second); False: between them; None when there are no boundaries
        (``always_significant`` then tells which).
    always_significant : bool or None
    region : str
        One sentence describing where the slope is significant.
    """

    table: pd.DataFrame
    boundaries: tuple[float, ...]
    significant_outside: bool | None
    always_significant: bool | None
    region: str


def jn_table(slope: float, interaction: float, vcov: np.ndarray, *, w_min: float, w_max: float,
             w_center: float = 0.0, n_points: int = 101, df: float | None = None, ci_level: float = 0.95,
             w_name: str = "w") -> JohnsonNeyman:
    """Johnson-Neyman table and region of significance of the conditional slope
    ``slope + interaction * (w - w_center)``.

    Parameters
    ----------
    slope, interaction : float
        ``b1`` (slope of ``x`` at ``w = w_center``) and ``b3`` (the ``x*w`` coefficient).
    vcov : array (2, 2)
        Covariance of ``(b1, b3)``.
    w_min, w_max : float
        Range of moderator values for the table (e.g. the observed range).
    w_center : float
        Moderator value at which ``slope`` applies (the centring constant).
    n_points : int
        Rows of the table.
    df : float, optional
        Residual degrees of freedom for t critical values; ``None`` uses the normal.
    ci_level : float
        Confidence level.
    w_name : str
        Moderator name, used in ``region``.

    Returns
    -------
    JohnsonNeyman

    Notes
    -----
    The boundaries solve ``(b1 + b3 u)^2 = q^2 (v11 + 2 u v13 + u^2 v33)`` for
    ``u = w - w_center`` with ``q`` the critical value (Johnson & Neyman 1936; Bauer &
    Curran 2005).
    """
    V = np.asarray(vcov, float)
    if V.shape != (2, 2):
        raise OptionError(f"vcov must be the 2 x 2 covariance of (slope, interaction), not shape {V.shape}")
    if not (np.isfinite(w_min) and np.isfinite(w_max)) or w_max < w_min:
        raise OptionError(f"w_min/w_max must be finite with w_min <= w_max, not {w_min!r}, {w_max!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise OptionError(f"n_points must be an integer >= 2, not {n_points!r}")
    if not 0.0 < float(ci_level) < 1.0:
        raise OptionError(f"ci_level must be between 0 and 1, not {ci_level!r}")
    p = 0.5 + float(ci_level) / 2.0
    q = float(special.stdtrit(df, p)) if df is not None else float(special.ndtri(p))
    b1, b3 = float(slope), float(interaction)
    w = np.linspace(float(w_min), float(w_max), int(n_points))
    u = w - w_center
    est = b1 + b3 * u
    se = np.sqrt(np.clip(V[0, 0] + 2 * u * V[0, 1] + u * u * V[1, 1], 0, None))
    lo, hi = est - q * se, est + q * se
    table = pd.DataFrame({"w": w, "slope": est, "se": se, "ci_lower": lo, "ci_upper": hi,
                          "significant": (lo > 0) | (hi < 0)})
    # a u^2 + b u + c > 0  <=>  significant
    a = b3 * b3 - q * q * V[1, 1]
    b = 2.0 * (b1 * b3 - q * q * V[0, 1])
    c = b1 * b1 - q * q * V[0, 0]
    lvl = f"{100 * float(ci_level):g}%"
    bounds: tuple[float, ...] = ()
    outside: bool | None = None
    always: bool | None = None
    scale = max(abs(a), abs(b), abs(c), 1e-300)
    if abs(a) <= 1e-12 * scale:
        if abs(b) <= 1e-12 * scale:
            always = bool(c > 0)
        else:
            r = -c / b + w_center
            bounds = (float(r),)
    else:
        disc = b * b - 4 * a * c
        if disc < 0:
            always = bool(a > 0)
        else:
            sq = np.sqrt(disc)
            r1, r2 = sorted([(-b - sq) / (2 * a), (-b + sq) / (2 * a)])
            bounds = (float(r1 + w_center), float(r2 + w_center))
            outside = bool(a > 0)
    if always is not None:
        region = (f"the slope is significant ({lvl}) at every value of {w_name}" if always
                  else f"the slope is not significant ({lvl}) at any value of {w_name}")
    elif len(bounds) == 1:
        side = ">" if b > 0 else "<"
        region = f"the slope is significant ({lvl}) for {w_name} {side} {bounds[0]:.4g}"
    elif outside:
        region = f"the slope is significant ({lvl}) for {w_name} < {bounds[0]:.4g} or {w_name} > {bounds[1]:.4g}"
    else:
        region = f"the slope is significant ({lvl}) for {bounds[0]:.4g} < {w_name} < {bounds[1]:.4g}"
    return JohnsonNeyman(table=table, boundaries=bounds, significant_outside=outside,
                         always_significant=always, region=region)


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ModerationResult:
    """The result of :func:`moderation`.

    Attributes
    ----------
    method : {"latent", "observed"}
    x, w, y : str
        Focal predictor, moderator and outcome (construct names).
    coefficients : DataFrame
        ``term, est, se, stat, pvalue, ci_lower, ci_upper`` (+ ``std_all`` for the latent
        model): the regression of ``y``. The interaction term is ``"x:w"`` (observed) or
        the interaction latent (latent).
    simple_slopes : DataFrame
        ``at`` (``"-1 SD"``, ``"mean"``, ``"+1 SD"``), ``w`` (moderator value), ``slope``,
        ``se``, ``stat``, ``pvalue``, ``ci_lower``, ``ci_upper``.
    johnson_neyman : DataFrame
        The :class:`JohnsonNeyman` table (``w, slope, se, ci_lower, ci_upper, significant``).
    jn : JohnsonNeyman
        Boundaries and region of significance.
    w_mean, w_sd : float
        Moderator mean and SD (latent: 0 and the model-implied SD of the factor).
    nobs : int
    model : FitResult or statsmodels RegressionResults
    data : DataFrame
        The data the model was fitted to (with product indicators or composites).
    warnings : list of str
        Latent: the SEM fit's problems (Heywood cases, non-convergence, ...), prefixed
        ``latent model:``. Shown by :meth:`summary` and :meth:`to_dict`.
    usage : dict
        Rows ``n_read``, ``n_used`` and ``dropped`` (reason -> count).
    """

    method: str
    x: str
    w: str
    y: str
    coefficients: pd.DataFrame
    simple_slopes: pd.DataFrame
    johnson_neyman: pd.DataFrame
    jn: JohnsonNeyman
    w_mean: float
    w_sd: float
    nobs: int
    interaction: str
    model: Any = field(repr=False, default=None)
    data: pd.DataFrame | None = field(repr=False, default=None)
    warnings: list = field(default_factory=list)
    usage: dict = field(default_factory=dict)

    @property
    def jn_boundaries(self) -> tuple[float, ...]:
        return self.jn.boundaries

    def summary(self) -> str:
        """Rows used, warnings, the coefficients, simple slopes and Johnson-Neyman region."""
        from .provenance import provenance_lines

        lines = [f"Moderation of {self.x} -> {self.y} by {self.w} ({self.method})"]
        lines += provenance_lines(self.warnings, [self.usage] if self.usage else [])
        fmt = lambda v: f"{v:.3f}"  # noqa: E731
        lines += ["", "Coefficients", self.coefficients.to_string(index=False, float_format=fmt),
                  "", "Simple slopes", self.simple_slopes.to_string(index=False, float_format=fmt),
                  "", f"Johnson-Neyman: {self.jn.region}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict:
        """JSON-ready summary (tables as lists of records), with ``warnings`` and ``data``
        (rows read, used and dropped)."""
        from .._json import json_safe

        return {
            "warnings": list(self.warnings), "data": json_safe(self.usage),
            "method": self.method, "x": self.x, "w": self.w, "y": self.y,
            "interaction": self.interaction, "nobs": self.nobs, "w_mean": self.w_mean, "w_sd": self.w_sd,
            "coefficients": self.coefficients.to_dict(orient="records"),
            "simple_slopes": self.simple_slopes.to_dict(orient="records"),
            "johnson_neyman": {"boundaries": list(self.jn.boundaries), "region": self.jn.region,
                               "significant_outside": self.jn.significant_outside,
                               "always_significant": self.jn.always_significant,
                               "table": self.johnson_neyman.to_dict(orient="records")},
        }


def _slopes(b1: float, b3: float, V: np.ndarray, offsets: np.ndarray, w_values: np.ndarray,
            q: float, sf) -> pd.DataFrame:
    slope = b1 + b3 * offsets
    se = np.sqrt(np.clip(V[0, 0] + 2 * offsets * V[0, 1] + offsets ** 2 * V[1, 1], 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = slope / se
    return pd.DataFrame({"at": ["-1 SD", "mean", "+1 SD"], "w": w_values, "slope": slope, "se": se,
                         "stat": stat, "pvalue": 2.0 * sf(np.abs(stat)),
                         "ci_lower": slope - q * se, "ci_upper": slope + q * se})


def _load(spec: Any):
    from ..library.specs import load_spec

    if hasattr(spec, "constructs") and hasattr(spec, "syntax"):
        return spec
    return load_spec(spec)


def _items(sp: Any, construct: str, role: str) -> list[str]:
    items = sp.constructs.get(construct)
    if not items:
        raise SpecError(f"{role} {construct!r} is not a construct of spec {sp.name!r} "
                        f"(constructs: {', '.join(sp.constructs)})")
    return list(items)


# ----------------------------------------------------------------------------- main entry
def moderation(data: pd.DataFrame, spec: Any = "fig1_moderated", *, x: str = "CapImb", w: str = "PowDist",
               y: str = "GoodTrust", method: str = "latent", covariates: Sequence[str] = (),
               ci_level: float = 0.95, n_points: int = 101, **fit_kwargs: Any) -> ModerationResult:
    """Moderation of ``x -> y`` by ``w``: capacity imbalance x power distance -> goodwill trust.

    Parameters
    ----------
    data : DataFrame
        Survey data with reverse-keyed items already recoded (:func:`asymtrust.recode_reverse`).
    spec : str or ModelSpec
        ``"latent"``: a spec with an interaction latent for ``(x, w)`` in its
        ``interactions`` (default ``fig1_moderated``); its product indicators are built
        with :func:`indprod` (matched pairs when the spec lists ``x_k.w_k``, all pairs when
        it lists every ``x_i.w_j``). ``"observed"``: any spec whose constructs list the
        items of ``x``, ``w``, ``y`` and ``covariates``.
    x, w, y : str
        Focal predictor, moderator and outcome (construct names).
    method : {"latent", "observed"}
        ``"latent"``: SEM with a latent interaction (:func:`asymtrust.fit`; Wald tests).
        ``"observed"``: item-mean composites (rows with a missing item are dropped), ``x``
        and ``w`` mean-centred, ``y ~ x + w + x:w (+ covariates)`` by OLS with HC3
        standard errors and t tests on the residual df (statsmodels).
    covariates : sequence of str
        Observed method only: further constructs entered as composites.
    ci_level : float
        Confidence level of all intervals.
    n_points : int
        Rows of the Johnson-Neyman table (latent: moderator from -3 to +3 SD; observed:
        the observed range of the moderator composite).
    **fit_kwargs
        Passed to :func:`asymtrust.fit` (latent only; e.g. ``estimator="MLR"``).

    Returns
    -------
    ModerationResult
        ``coefficients``, ``simple_slopes`` (at the mean and +-1 SD of ``w``) and
        ``johnson_neyman`` DataFrames, with the region boundaries in ``jn``.

    In R (latent): ``semTools::indProd(...)`` then ``lavaan::sem(model, data)``;
    (observed): ``lm(y ~ x * w)`` with ``sandwich::vcovHC(type = "HC3")``.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if method not in METHODS:
        raise OptionError(f"method must be 'latent' or 'observed', not {method!r}")
    if not 0.0 < float(ci_level) < 1.0:
        raise OptionError(f"ci_level must be between 0 and 1, not {ci_level!r}")
    if len({x, w, y}) < 3:
        raise OptionError(f"x, w and y must be three different constructs, not {x!r}, {w!r}, {y!r}")
    sp = _load(spec)
    if method == "observed":
        if fit_kwargs:
            raise OptionError(f"option {next(iter(fit_kwargs))!r} applies to method='latent' only")
        return _observed(data, sp, x, w, y, list(covariates), float(ci_level), n_points)
    if covariates:
        raise OptionError("covariates apply to method='observed' only; the latent model takes its predictors from the spec")
    if fit_kwargs.get("group") is not None:
        raise OptionError("moderation() fits a single-group model; drop group= (use invariance() for group differences)")
    return _latent(data, sp, x, w, y, float(ci_level), n_points, fit_kwargs)


def _observed(data, sp, x, w, y, covariates, level, n_points) -> ModerationResult:
    import statsmodels.api as sm

    names = [x, w, y] + covariates
    if len(set(names)) < len(names):
        raise OptionError("covariates must differ from x, w, y and from each other")
    items = {c: _items(sp, c, "construct") for c in names}
    cols = list(dict.fromkeys(i for c in names for i in items[c]))
    vals = _numeric_columns(data, cols, "item")
    comp = pd.DataFrame({c: vals[items[c]].mean(axis=1, skipna=False) for c in names}, index=data.index).dropna()
    n = len(comp)
    k = 4 + len(covariates)
    if n <= k:
        raise DataError(f"only {n} complete rows for {k} regression coefficients; moderation needs more data")
    for c in names:
        if comp[c].std(ddof=1) <= 0:
            raise DataError(f"the {c} composite is constant in the {n} complete rows")
    xc = comp[x] - comp[x].mean()
    w_mean = float(comp[w].mean())
    wc = comp[w] - w_mean
    inter = f"{x}:{w}"
    X = pd.DataFrame({"Intercept": 1.0, x: xc, w: wc, inter: xc * wc}, index=comp.index)
    for c in covariates:
        X[c] = comp[c] - comp[c].mean()
    res = sm.OLS(comp[y], X).fit(cov_type="HC3", use_t=True)
    V = np.asarray(res.cov_params())
    dfr = float(res.df_resid)
    q = float(special.stdtrit(dfr, 0.5 + level / 2.0))
    ci = np.asarray(res.conf_int(alpha=1.0 - level))
    coefs = pd.DataFrame({"term": list(X.columns), "est": np.asarray(res.params), "se": np.asarray(res.bse),
                          "stat": np.asarray(res.tvalues), "pvalue": np.asarray(res.pvalues),
                          "ci_lower": ci[:, 0], "ci_upper": ci[:, 1]})
    i1, i3 = list(X.columns).index(x), list(X.columns).index(inter)
    V2 = V[np.ix_([i1, i3], [i1, i3])]
    b1, b3 = float(res.params.iloc[i1]), float(res.params.iloc[i3])
    w_sd = float(comp[w].std(ddof=1))
    offs = np.array([-w_sd, 0.0, w_sd])
    slopes = _slopes(b1, b3, V2, offs, w_mean + offs, q, lambda x: special.stdtr(dfr, -x))
    jn = jn_table(b1, b3, V2, w_min=float(comp[w].min()), w_max=float(comp[w].max()), w_center=w_mean,
                  n_points=n_points, df=dfr, ci_level=level, w_name=w)
    return ModerationResult(method="observed", x=x, w=w, y=y, coefficients=coefs, simple_slopes=slopes,
                            johnson_neyman=jn.table, jn=jn, w_mean=w_mean, w_sd=w_sd, nobs=n,
                            interaction=inter, model=res, data=comp,
                            usage={"source": "composites", "n_read": len(data), "n_used": n,
                                   "dropped": {"rows with a missing item (listwise)": len(data) - n}
                                   if len(data) > n else {}})


def _latent(data, sp, x, w, y, level, n_points, fit_kwargs) -> ModerationResult:
    from .provenance import data_usage, fit_problems
    from ..engine.fit import fit

    inter = None
    for name, pair in (getattr(sp, "interactions", None) or {}).items():
        if tuple(pair) in ((x, w), (w, x)):
            inter = name
            break
    if inter is None:
        raise SpecError(f"spec {sp.name!r} has no latent interaction of {x} and {w} "
                        "(add it under [interactions], as in specs/fig1_moderated.toml)")
    x_items, w_items = _items(sp, x, "x"), _items(sp, w, "w")
    if tuple(sp.interactions[inter]) == (w, x):
        x_items, w_items = w_items, x_items
    prods = list(sp.constructs.get(inter) or [])
    matched = [f"{a}.{b}" for a, b in zip(x_items, w_items)] if len(x_items) == len(w_items) else None
    allpairs = [f"{a}.{b}" for a in x_items for b in w_items]
    if matched is not None and prods == matched:
        match = True
    elif prods == allpairs:
        match = False
    else:
        raise SpecError(f"the indicators of {inter} ({', '.join(prods)}) are neither the matched products "
                        f"({', '.join(matched or [])}) nor all products of the {x} and {w} items")
    data2 = indprod(data, x_items, w_items, match=match)
    res = fit(sp, data2, **fit_kwargs)
    est = res.estimates
    rows = est[(est["op"] == "~") & (est["lhs"] == y)]
    if not len(rows):
        raise SpecError(f"spec {sp.name!r} has no regression of {y}")

    def row(rhs: str):
        r = rows[rows["rhs"] == rhs]
        if not len(r):
            raise SpecError(f"spec {sp.name!r} has no path {y} ~ {rhs}")
        return r.iloc[0]

    r1, r3 = row(x), row(inter)
    coefs = pd.DataFrame({"term": rows["rhs"].to_numpy(), "est": rows["est"].to_numpy(),
                          "se": rows["se"].to_numpy(), "stat": rows["z"].to_numpy(),
                          "pvalue": rows["pvalue"].to_numpy(), "ci_lower": np.nan, "ci_upper": np.nan,
                          "std_all": rows["std_all"].to_numpy()})
    qz = float(special.ndtri(0.5 + level / 2.0))
    coefs["ci_lower"] = coefs["est"] - qz * coefs["se"]
    coefs["ci_upper"] = coefs["est"] + qz * coefs["se"]
    V2 = np.zeros((2, 2))
    if res.vcov is not None:
        idx = [int(r1["free"]) - 1, int(r3["free"]) - 1]
        for a, ia in enumerate(idx):
            for b, ib in enumerate(idx):
                V2[a, b] = res.vcov[ia, ib] if ia >= 0 and ib >= 0 else 0.0
    else:
        V2[:] = np.nan
    imp = res.model.implied(np.asarray(res.theta, float))[0]
    j = res.model.node_index[w]
    w_sd = float(np.sqrt(max(imp.C[j, j], 0.0)))
    offs = np.array([-w_sd, 0.0, w_sd])
    b1, b3 = float(r1["est"]), float(r3["est"])
    slopes = _slopes(b1, b3, V2, offs, offs, qz, lambda x: special.ndtr(-x))
    jn = jn_table(b1, b3, V2, w_min=-3 * w_sd, w_max=3 * w_sd, w_center=0.0, n_points=n_points,
                  df=None, ci_level=level, w_name=w)
    return ModerationResult(method="latent", x=x, w=w, y=y, coefficients=coefs, simple_slopes=slopes,
                            johnson_neyman=jn.table, jn=jn, w_mean=0.0, w_sd=w_sd, nobs=int(sum(res.nobs)),
                            interaction=inter, model=res, data=data2,
                            warnings=fit_problems(res, "latent model"), usage=data_usage(res, "", data))
