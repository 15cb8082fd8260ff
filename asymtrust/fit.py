"""``asymtrust.fit``: one call from a model and a data frame to a :class:`FitResult`.

The steps, each in its own module:

1. :mod:`asymtrust.partable` — parse the syntax, apply lavaan's sem()/cfa() defaults;
2. :mod:`asymtrust.samplestats` — sample moments per group (missing-data patterns + EM for FIML);
3. :mod:`asymtrust.model` — the RAM matrices, built once;
4. :mod:`asymtrust.estimate` — starting values, ML/FIML objective, optimiser;
5. :mod:`asymtrust.vcov` — information matrices and standard errors;
6. :mod:`asymtrust.indices` / :mod:`asymtrust.robust` — fit measures, scaled tests;
7. :mod:`asymtrust.standardize` — standardized solution, R^2;
8. :mod:`asymtrust.results` — the frozen result object.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from . import indices as ix
from .estimate import Objective, Reparam, StartPlan, linear_reparam, optimise
from .exceptions import (
    DataError,
    EstimationError,
    GroupError,
    IdentificationError,
    InsufficientDataError,
    OptionError,
)
from ._lapack import potrf
from ._threads import single_thread_blas
from .model import RamModel
from .samplestats import LOG2PI, GroupSample, complete_sample, incomplete_sample
from .standardize import Standardizer, r_squared
from .vcov import (
    casewise_scores,
    constrained_inverse,
    first_order_information,
)

ESTIMATORS = ("ML", "MLR")
MISSING = ("listwise", "fiml")
_MISSING_ALIASES = {"listwise": "listwise", "fiml": "fiml", "ml": "fiml", "direct": "fiml", "ml.x": "fiml"}


# ----------------------------------------------------------------------------- helpers
def model_syntax(model) -> str:
    """The lavaan syntax of a spec name, a ModelSpec, a ``.lav``/``.toml`` path or a syntax string."""
    if hasattr(model, "syntax"):
        return model.syntax
    if not isinstance(model, str):
        raise OptionError(f"model must be a spec name, a ModelSpec or lavaan syntax, not {type(model).__name__}")
    text = model.strip()
    if any(op in text for op in ("=~", "~", ":=", "==")):
        return model
    from .specs import load_spec

    if text in _bundled_names():
        return _bundled_syntax(text)
    return load_spec(text).syntax


@functools.lru_cache(maxsize=1)
def _bundled_names() -> frozenset:
    from .specs import list_specs

    return frozenset(list_specs())


@functools.lru_cache(maxsize=32)
def _bundled_syntax(name: str) -> str:
    """Syntax of a bundled spec (read once: the package data do not change)."""
    from .specs import load_spec

    return load_spec(name).syntax


@dataclass
class SimpleParTable:
    """A minimal parameter table (used for the baseline and saturated models)."""

    table: pd.DataFrame
    ov_names: list
    lv_names: list
    ngroups: int
    meanstructure: bool
    group_labels: list | None = None


def _rows(records: list[tuple]) -> pd.DataFrame:
    tab = pd.DataFrame(records, columns=["lhs", "op", "rhs", "group", "free", "ustart", "exo"])
    tab.insert(0, "id", np.arange(1, len(tab) + 1))
    tab["user"] = 0
    tab["label"] = ""
    tab["plabel"] = [f".p{i}." for i in tab["id"]]
    tab["line"] = 0
    return tab


def baseline_partable(pt, samples: list[GroupSample]) -> tuple[SimpleParTable, np.ndarray]:
    """The independence model: free variances (and means), zero covariances, the fixed-x
    block kept as in H0. Returns the table and closed-form estimates."""
    ov = list(pt.ov_names)
    ovx = set(getattr(pt, "ov_x", []) or [])
    recs = []
    theta = []
    k = 0
    for g, s in enumerate(samples, start=1):
        for i, v in enumerate(ov):
            if v in ovx:
                recs.append((v, "~~", v, g, 0, np.nan, 1))
            else:
                k += 1
                recs.append((v, "~~", v, g, k, np.nan, 0))
                theta.append(_indep_var(s, i))
        xs = [v for v in ov if v in ovx]
        for a in range(len(xs)):
            for b in range(a + 1, len(xs)):
                recs.append((xs[a], "~~", xs[b], g, 0, np.nan, 1))
        if pt.meanstructure:
            for i, v in enumerate(ov):
                if v in ovx:
                    recs.append((v, "~1", "", g, 0, np.nan, 1))
                else:
                    k += 1
                    recs.append((v, "~1", "", g, k, np.nan, 0))
                    theta.append(_indep_mean(s, i))
    tab = _rows(recs)
    return SimpleParTable(tab, ov, [], len(samples), bool(pt.meanstructure)), np.array(theta)


def _indep_var(s: GroupSample, i: int) -> float:
    """Closed-form independence-model variance: the available-case variance (divisor n_i)."""
    return float(s.available_moments()[2][i])


def _indep_mean(s: GroupSample, i: int) -> float:
    return float(s.available_moments()[1][i])


def exo_values(pt, samples: list[GroupSample]) -> list[dict]:
    """Sample values of the fixed-x moments, per group."""
    tab = pt.table
    pos = {v: i for i, v in enumerate(pt.ov_names)}
    out = []
    for g, s in enumerate(samples, start=1):
        d = {}
        rows = tab[(tab["group"] == g) & (tab["exo"] == 1)]
        for r in rows.itertuples(index=False):
            if r.op == "~~":
                d[(r.lhs, r.op, r.rhs)] = float(s.cov[pos[r.lhs], pos[r.rhs]])
            elif r.op == "~1":
                d[(r.lhs, r.op, r.rhs)] = float(s.mean[pos[r.lhs]])
        out.append(d)
    return out


class _NameMap:
    """Labels and plabels of the structural rows, mapped to parameter values.

    Built once; ``values(theta)`` returns ``{name: value}`` with a vectorised gather, so
    constraint Jacobians and `:=` definitions stay cheap for large multi-group models.
    """

    def __init__(self, tab: pd.DataFrame, model: RamModel):
        struct = tab[tab["op"].isin(["=~", "~", "~~", "~1"])]
        self.names: list[str] = []
        free_idx, fixed_val = [], []
        seen = set()
        for r in struct.itertuples(index=False):
            val = np.nan if r.free > 0 else _fixed_value(r, model)
            for nm in (r.plabel, r.label):
                if nm and nm not in seen:
                    seen.add(nm)
                    self.names.append(nm)
                    free_idx.append(int(r.free) - 1)
                    fixed_val.append(val)
        self.free_idx = np.array(free_idx, int)
        self.fixed = np.array(fixed_val, float)
        self.is_free = self.free_idx >= 0

    def vector(self, theta: np.ndarray) -> np.ndarray:
        out = self.fixed.copy()
        out[self.is_free] = theta[self.free_idx[self.is_free]]
        return out

    def values(self, theta: np.ndarray) -> dict[str, float]:
        return dict(zip(self.names, self.vector(theta).tolist()))


def _fixed_value(r, model: RamModel) -> float:
    g = model.groups[int(r.group) - 1]
    idx = model.node_index
    if r.op == "=~":
        return g.A0[idx[r.rhs], idx[r.lhs]]
    if r.op == "~":
        return g.A0[idx[r.lhs], idx[r.rhs]]
    if r.op == "~~":
        return g.S0[idx[r.lhs], idx[r.rhs]]
    return g.m0[idx[r.lhs]]


def _constraint_reparam(tab: pd.DataFrame, model: RamModel) -> tuple[Reparam, int]:
    """Linear equality constraints (``==`` rows) as a null-space reparametrisation.

    ``a == b`` rows between two parameter names (the rows lavaan writes for shared
    labels and ``group.equal``) give H directly; other linear expressions are
    differentiated numerically; nonlinear ones are refused.
    """
    from .syntax import compile_expression

    cons = tab[tab["op"] == "=="]
    bad = tab[tab["op"].isin(["<", ">"])]
    if len(bad):
        r = bad.iloc[0]
        raise OptionError(f"line {int(r.line)}: inequality constraint '{r.lhs} {r.op} {r.rhs}' is not supported; use a fixed value or reparametrise")
    K = model.n_free
    if not len(cons):
        return linear_reparam(K, None, None), 0
    nm = _NameMap(tab, model)
    pos = {n: i for i, n in enumerate(nm.names)}
    H = np.zeros((len(cons), K))
    rhs = np.zeros(len(cons))
    general = []
    for k, r in enumerate(cons.itertuples(index=False)):
        a, b = str(r.lhs).strip(), str(r.rhs).strip()
        if a in pos and b in pos:
            for name, sign in ((a, 1.0), (b, -1.0)):
                i = pos[name]
                if nm.is_free[i]:
                    H[k, nm.free_idx[i]] += sign
                else:
                    rhs[k] -= sign * nm.fixed[i]
        else:
            general.append((k, compile_expression(a, nm.names, line=int(r.line) or None),
                            compile_expression(b, nm.names, line=int(r.line) or None)))
    if general:
        def h(theta):
            v = nm.values(theta)
            return np.array([fl(v) - fr(v) for _, fl, fr in general])

        def jac(theta):
            J = np.zeros((len(general), K))
            for j in range(K):
                e = np.zeros(K)
                e[j] = 1e-3
                J[:, j] = (h(theta + e) - h(theta - e)) / 2e-3
            return J

        Jg = jac(np.zeros(K))
        if not np.allclose(Jg, jac(np.linspace(0.3, 1.7, K)), atol=1e-6):
            raise OptionError("nonlinear equality constraints are not supported; only linear '==' constraints")
        Jg[np.abs(Jg) < 1e-9] = 0.0
        rows = [k for k, _, _ in general]
        H[rows] = Jg
        rhs[rows] = -h(np.zeros(K))
    rank = np.linalg.matrix_rank(H)
    return linear_reparam(K, H, rhs), int(rank)


# ----------------------------------------------------------------------------- data
def _prepare(data: pd.DataFrame, ov: list[str], group: str | None, missing: str, ov_x: list[str]):
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    cols = data.columns
    if cols.has_duplicates:
        dup = sorted({str(c) for c in cols[cols.duplicated()]})
        raise DataError(f"column {dup[0]!r} appears more than once in the data")
    where = {c: i for i, c in enumerate(cols)}
    absent = [v for v in ov if v not in where]
    if absent:
        raise DataError(f"column {absent[0]!r} used by the model is not in the data")
    pos = np.fromiter((where[v] for v in ov), int, len(ov))
    all_dtypes = list(data.dtypes)
    dtypes = [all_dtypes[i] for i in pos]
    plain = [isinstance(dt, np.dtype) and dt.kind in "iuf" for dt in dtypes]
    bools = [v for v, dt, ok in zip(ov, dtypes, plain) if not ok and pd.api.types.is_bool_dtype(dt)]
    if bools:
        raise DataError(f"column {bools[0]!r} holds True/False values, not answer codes; recode it to numbers first")
    bad_cols = [v for v, dt, ok in zip(ov, dtypes, plain) if not ok and not pd.api.types.is_numeric_dtype(dt)]
    for v in bad_cols:
        col = data[v]
        conv = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & conv.isna()
        if bad.any():
            ex = col[bad].iloc[0]
            raise DataError(f"column {v!r} is not numeric: {int(bad.sum())} row(s) hold text such as {ex!r}")
    if not ov:
        X = np.empty((len(data), 0))
    elif all(isinstance(dt, np.dtype) and dt.kind in "iuf" for dt in all_dtypes):
        # plain numeric frame (the usual survey file): one conversion, no column take
        X = data.to_numpy(dtype=float)[:, pos]
    elif bad_cols:
        X = data[ov].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    else:
        X = data[ov].to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(X).any():
        j = int(np.where(np.isinf(X).any(axis=0))[0][0])
        raise DataError(f"column {ov[j]!r} holds {int(np.isinf(X[:, j]).sum())} infinite value(s)")
    if group is not None:
        if group not in data.columns:
            raise GroupError(f"grouping column {group!r} is not in the data")
        gcol = data[group]
        keep = gcol.notna().to_numpy()
        levels = list(pd.unique(gcol[keep]))
        if len(levels) < 2:
            raise GroupError(f"grouping column {group!r} has a single level ({levels[0] if levels else 'none'}); multi-group SEM needs at least two")
        gidx = [np.flatnonzero((gcol == lv).to_numpy() & keep) for lv in levels]
        labels = [str(lv) for lv in levels]
    else:
        gidx = [np.arange(len(data))]
        labels = None
    samples = []
    xpos = [ov.index(x) for x in ov_x]
    for rows in gidx:
        Xg = X[rows]
        if missing == "listwise":
            Xg = Xg[~np.isnan(Xg).any(axis=1)]
            if Xg.shape[0] == 0:
                raise InsufficientDataError("no complete cases: every row has a missing value on a model variable (use missing='fiml')")
            samples.append(complete_sample(Xg))
        else:
            if xpos:
                Xg = Xg[~np.isnan(Xg[:, xpos]).any(axis=1)]
            if np.isnan(Xg).any():
                samples.append(incomplete_sample(Xg))
            else:
                s = complete_sample(Xg)
                s.missing = False
                samples.append(s)
    return samples, labels


# ----------------------------------------------------------------------------- main entry
def fit(model, data: pd.DataFrame | None = None, *, estimator: str = "ML", missing: str = "listwise",
        group: str | None = None, group_equal: Sequence[str] = (), group_partial: Sequence[str] = (),
        se: str | None = None, information: str | None = None, bootstrap: int = 0,
        seed: int | None = None, std_lv: bool = False, fixed_x: bool = True,
        meanstructure: bool | None = None, start: np.ndarray | None = None,
        sample_cov: pd.DataFrame | None = None, sample_mean: pd.Series | None = None,
        sample_nobs: int | None = None):
    """Fit a structural equation model with lavaan's ``sem()`` defaults.

    Parameters
    ----------
    model : str or ModelSpec
        A bundled spec name (``"fig1"``), a :class:`~asymtrust.specs.ModelSpec`, a path to a
        ``.lav``/``.toml`` file, or a lavaan-syntax string.
    data : pandas.DataFrame
        One row per respondent. Reverse-keyed items should already be recoded
        (:func:`asymtrust.recode_reverse`).
    estimator : {"ML", "MLR"}
        ``"MLR"``: ML estimates with Huber-White robust SEs and the Yuan-Bentler
        (Mplus variant) scaled test, as lavaan's ``estimator="MLR"``.
    missing : {"listwise", "fiml"}
        ``"fiml"`` is lavaan's ``missing="ml"``: case-wise likelihood under MAR.
    group : str, optional
        Grouping column for a multi-group model (groups in order of first appearance).
    group_equal : sequence of str
        lavaan's ``group.equal``: any of ``loadings, intercepts, means, residuals,
        residual.covariances, lv.variances, lv.covariances, regressions``.
    se : {None, "standard", "robust", "bootstrap", "none"}
        Default: ``"standard"`` for ML, ``"robust"`` (Huber-White) for MLR.
    information : {None, "expected", "observed"}
        Default as lavaan: expected for complete-data ML, observed for FIML and MLR.
    bootstrap : int
        Number of bootstrap replicates when ``se="bootstrap"`` (default 1000).
    seed : int, optional
        Seed for the bootstrap.
    sample_cov, sample_mean, sample_nobs : optional
        Fit from summary statistics instead of raw data (lavaan's ``sample.cov``):
        a covariance matrix with divisor N (a DataFrame labelled by variable), the
        means (needed for a meanstructure) and N. Used for very large files, whose
        moments are computed in one streaming pass (:func:`asymtrust.moments.read_moments`).
        ML with complete data only (MLR and FIML need the raw rows).

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import asymtrust
    >>> hs = asymtrust.load_dataset("hs1939")
    >>> res = asymtrust.fit("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9", hs)
    >>> print(round(float(res.fit_indices["chisq"]), 3))
    85.306

    In R: ``lavaan::cfa(model, data = HolzingerSwineford1939)``.
    """

    estimator = str(estimator).upper()
    if data is not None and sample_cov is not None:
        raise OptionError("give either data or sample_cov, not both")
    if estimator not in ESTIMATORS:
        raise OptionError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {estimator!r}")
    miss = _MISSING_ALIASES.get(str(missing).lower())
    if miss is None:
        raise OptionError(f"missing must be 'listwise' or 'fiml', not {missing!r}")
    if se is None:
        se = "robust" if estimator == "MLR" else "standard"
    se = {"robust.huber.white": "robust"}.get(se, se)
    if se not in ("standard", "robust", "bootstrap", "none"):
        raise OptionError(f"se must be 'standard', 'robust', 'bootstrap' or 'none', not {se!r}")
    if se == "bootstrap":
        bootstrap = int(bootstrap or 1000)
        if bootstrap <= 0:
            raise OptionError(f"bootstrap must be a positive number of replicates, not {bootstrap}")
    if information is None:
        information = "observed" if (miss == "fiml" or estimator == "MLR") else "expected"
    if information not in ("expected", "observed"):
        raise OptionError(f"information must be 'expected' or 'observed', not {information!r}")

    if data is None:
        if sample_cov is None or sample_nobs is None:
            raise OptionError("give either data or sample_cov together with sample_nobs")
        if estimator != "ML" or miss != "listwise" or group is not None or se in ("robust", "bootstrap"):
            raise OptionError("fitting from sample moments supports single-group ML with complete data only")
        with single_thread_blas():
            return _fit_moments(model, sample_cov, sample_mean, int(sample_nobs), information=information,
                                std_lv=std_lv, fixed_x=fixed_x, meanstructure=meanstructure, start=start, se=se)
    with single_thread_blas():
        return _fit(model, data, estimator=estimator, miss=miss, group=group, group_equal=group_equal,
                    group_partial=group_partial, se=se, information=information, bootstrap=bootstrap,
                    seed=seed, std_lv=std_lv, fixed_x=fixed_x, meanstructure=meanstructure, start=start)


@functools.lru_cache(maxsize=64)
def _cached_partable(syntax, observed, ngroups, group_labels, meanstructure, fixed_x, group_equal,
                     group_partial, std_lv, missing):
    """build_partable, memoised: a parameter table is immutable and depends only on its
    arguments, so repeated fits of one model (bootstrap, Monte Carlo, benchmarks) parse
    the syntax and build the model structure once."""
    from .partable import build_partable

    return build_partable(syntax, observed=list(observed), ngroups=ngroups,
                          group_labels=list(group_labels) if group_labels else None,
                          meanstructure=meanstructure, fixed_x=fixed_x, group_equal=group_equal,
                          group_partial=group_partial, std_lv=std_lv, missing=missing)


def _fit_moments(model, cov, mean, nobs, *, information, std_lv, fixed_x, meanstructure, start, se):
    from .partable import build_partable
    from .results import FitResult

    syntax = model_syntax(model)
    if not isinstance(cov, pd.DataFrame):
        raise DataError("sample_cov must be a DataFrame whose index and columns name the variables")
    names = [str(c) for c in cov.columns]
    if meanstructure is None and mean is not None:
        meanstructure = True  # as lavaan: sample.mean switches the mean structure on
    pt = build_partable(syntax, observed=names, meanstructure=meanstructure, fixed_x=fixed_x, std_lv=std_lv)
    ov = list(pt.ov_names)
    S = cov.loc[ov, ov].to_numpy(dtype=float)
    if bool(pt.meanstructure) and mean is None:
        raise OptionError("the model has a meanstructure: give sample_mean as well")
    M = np.asarray(pd.Series(mean).loc[ov], float) if mean is not None else np.zeros(len(ov))
    s = GroupSample(nobs=nobs, cov=(S + S.T) / 2.0, mean=M, X=None, missing=False)
    sign, ld = np.linalg.slogdet(s.cov)
    s.logl_h1 = -nobs / 2.0 * (len(ov) * LOG2PI + ld + len(ov)) if sign > 0 else float("nan")
    return _fit_prepared(pt, [s], None, estimator="ML", miss="listwise", se=se or "standard",
                         information=information or "expected", bootstrap=0, seed=None, start=start,
                         syntax=syntax, data=None, group=None, options=dict(
                             estimator="ML", missing="listwise", group=None, group_equal=[], group_partial=[],
                             se=se or "standard", information=information or "expected", std_lv=std_lv,
                             fixed_x=fixed_x, moments=True), result_cls=FitResult)


def _fit(model, data, *, estimator, miss, group, group_equal, group_partial, se, information, bootstrap,
         seed, std_lv, fixed_x, meanstructure, start):
    from .results import FitResult

    syntax = model_syntax(model)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    # groups first: the parameter table needs their number
    ngroups, group_labels = 1, None
    if group is not None:
        if group not in data.columns:
            raise GroupError(f"grouping column {group!r} is not in the data")
        levels = list(pd.unique(data[group].dropna()))
        if len(levels) < 2:
            raise GroupError(f"grouping column {group!r} has a single level ({levels[0] if levels else 'none'}); multi-group SEM needs at least two")
        ngroups, group_labels = len(levels), [str(v) for v in levels]
    pt = _cached_partable(
        syntax, tuple(str(c) for c in data.columns), ngroups, tuple(group_labels) if group_labels else None,
        meanstructure, fixed_x, tuple(group_equal), tuple(group_partial), std_lv,
        "ml" if miss == "fiml" else "listwise",
    )
    ov = list(pt.ov_names)
    ov_x = list(getattr(pt, "ov_x", []) or []) if fixed_x else []
    samples, labels = _prepare(data, ov, group, miss, ov_x)
    return _fit_prepared(pt, samples, labels, estimator=estimator, miss=miss, se=se,
                         information=information, bootstrap=bootstrap, seed=seed, start=start,
                         syntax=syntax, data=data, group=group, options=dict(
                             estimator=estimator, missing=miss, group=group, group_equal=list(group_equal),
                             group_partial=list(group_partial), se=se, information=information,
                             std_lv=std_lv, fixed_x=fixed_x), result_cls=FitResult)


@dataclass
class Compiled:
    """Everything about a model that does not depend on the data, built once per
    parameter table: RAM structure, constraint reparametrisation, start-value plan,
    standardization map and label map."""

    pt: Any
    model: RamModel
    rep: Reparam
    npar: int
    struct: pd.DataFrame
    stdz: Standardizer
    names: "_NameMap"
    start: StartPlan
    x_idx: list
    ndat: int
    nexo: int
    df: int
    free_rows: list  # (lhs, op, rhs) of each free parameter, for messages
    var_free: list  # (free index, lhs, group) of free variance rows
    offdiag: np.ndarray  # positions of off-diagonal ~~ rows in struct


def compile_model(pt, G: int) -> Compiled:
    """The data-independent part of a fit (cached per parameter table)."""
    hit = getattr(pt, "_asymtrust_compiled", None)
    if hit is not None and hit[0] == G:
        return hit[1]
    tab = pt.table
    model = RamModel(pt)
    if model.n_free == 0:
        raise IdentificationError("the model has no free parameters")
    rep, n_eq = _constraint_reparam(tab, model)
    npar = model.n_free - n_eq
    p = model.p
    ms = bool(pt.meanstructure)
    # fixed-x covariates: those whose moments sit in the table as exo rows (none when fixed_x=False)
    exo_vars = set(tab.loc[(tab["exo"] == 1) & (tab["op"] == "~~"), "lhs"])
    ov_x = [v for v in (getattr(pt, "ov_x", []) or []) if v in exo_vars]
    q = len(ov_x)
    ndat = G * (p * (p + 1) // 2 + (p if ms else 0))
    nexo = G * (q * (q + 1) // 2 + (q if ms else 0))
    df = ndat - nexo - npar
    if df < 0:
        raise IdentificationError(f"the model is not identified: {npar} free parameters but only {ndat - nexo} sample moments (df = {df})")
    struct = tab[tab["op"].isin(["=~", "~", "~~", "~1"])].copy()
    free_tab = tab[tab["free"] > 0].sort_values("free")
    free_rows = list(zip(free_tab["lhs"], free_tab["op"], free_tab["rhs"]))
    var = struct[(struct["op"] == "~~") & (struct["lhs"] == struct["rhs"]) & (struct["free"] > 0)]
    comp = Compiled(pt=pt, model=model, rep=rep, npar=npar, struct=struct, stdz=Standardizer(model, struct),
                    names=_NameMap(tab, model), start=StartPlan(pt, model),
                    x_idx=[list(pt.ov_names).index(x) for x in ov_x], ndat=ndat, nexo=nexo, df=df,
                    free_rows=free_rows,
                    var_free=list(zip(var["free"].astype(int) - 1, var["lhs"], var["group"].astype(int))),
                    offdiag=np.flatnonzero(((struct["op"] == "~~") & (struct["lhs"] != struct["rhs"])).to_numpy()))
    object.__setattr__(pt, "_asymtrust_compiled", (G, comp))  # works on frozen dataclasses too
    return comp


def _check_sample_cov(s: GroupSample, ov: list[str], where: str, label) -> None:
    """Refuse a singular sample covariance matrix, naming the cause: too few cases for the
    number of variables, or perfectly collinear columns."""
    p = len(ov)
    if s.nobs <= p:
        who = f"group {label!r}" if label is not None else "the data"
        raise InsufficientDataError(f"{who} has only {s.nobs} complete case(s) for {p} observed variables; "
                                    f"the sample covariance matrix is singular")
    from scipy.linalg.lapack import dpotrf

    R0 = s.cov / np.outer(np.sqrt(np.diag(s.cov)), np.sqrt(np.diag(s.cov)))
    L, info = dpotrf(R0, lower=True, clean=False)
    if info == 0 and np.diag(L).min() ** 2 > 1e-8:  # clearly positive definite: no eigen-decomposition needed
        return
    w = np.linalg.eigvalsh(R0)
    if w.min() > 1e-10:
        return
    R = s.cov / np.outer(np.sqrt(np.diag(s.cov)), np.sqrt(np.diag(s.cov)))
    iu = np.triu_indices(p, 1)
    k = int(np.argmax(np.abs(R[iu])))
    i, j = iu[0][k], iu[1][k]
    if abs(R[i, j]) > 1 - 1e-8:
        raise DataError(f"columns {ov[i]!r} and {ov[j]!r} are perfectly collinear (r = {R[i, j]:.3f}){where}; "
                        "drop one of them")
    raise DataError(f"the sample covariance matrix{where} is singular: the model's columns are linearly "
                    "dependent (e.g. one is a sum of others)")


def _fit_prepared(pt, samples, labels, *, estimator, miss, se, information, bootstrap, seed, start,
                  syntax, data, group, options, result_cls):
    warnings: list[str] = []
    N = sum(s.nobs for s in samples)
    G = len(samples)
    fiml = any(s.missing for s in samples)
    comp = compile_model(pt, G)
    model = comp.model.with_exo(exo_values(pt, samples)) if comp.x_idx else comp.model
    rep, npar, df, ndat = comp.rep, comp.npar, comp.df, comp.ndat
    ms = bool(pt.meanstructure)
    q = len(comp.x_idx)
    if N < npar:
        raise InsufficientDataError(f"only {N} cases for {npar} free parameters; collect more data or simplify the model")
    for g, s in enumerate(samples):
        if s.nobs < 2:
            raise InsufficientDataError(f"group {labels[g] if labels else g + 1!r} has only {s.nobs} usable case(s)")
        sd = np.sqrt(np.clip(np.diag(s.cov), 0, None))
        where = f" in group {labels[g]!r}" if labels else ""
        if (sd < 1e-10).any():
            raise DataError(f"column {pt.ov_names[int(np.argmax(sd < 1e-10))]!r} has zero variance{where}; remove it from the model")
        if not s.missing:
            _check_sample_cov(s, list(pt.ov_names), where, labels[g] if labels else None)
    obj = Objective(model, samples, fiml=fiml)
    theta0 = start if start is not None else comp.start(samples)
    opt = optimise(obj, rep, np.asarray(theta0, float))
    theta = opt.theta
    if not opt.converged:
        warnings.append(f"the optimiser did not converge ({opt.method}: {opt.message}); estimates are not trustworthy")
    if opt.implied is not None:
        f, grad, imp = opt.fmin, opt.grad, opt.implied
    else:
        f, grad, imp = obj.evaluate(theta)
    if not np.isfinite(f):
        raise EstimationError("the model-implied covariance matrix is not positive definite at the solution; the model cannot be estimated on these data")

    # --- information and standard errors -------------------------------------------
    need_obs = information == "observed" or se == "robust" or estimator == "MLR"
    E_obs = obj.observed_information(theta, imp) if need_obs else None
    A = E_obs if information == "observed" else obj.expected_information(imp)
    Ainv, ok = constrained_inverse(A, rep)
    delta = None
    B0 = None
    if se == "robust" or estimator == "MLR":
        delta = model.delta(imp)
        B0 = first_order_information(casewise_scores(obj, imp, delta), N)
    vcov = None
    if se == "standard":
        vcov = Ainv / N if ok else None
    elif se == "robust":
        vcov = (Ainv @ B0 @ Ainv) / N if ok else None
    if not ok and se != "none":
        warnings.append("the information matrix is singular: standard errors could not be computed (the model may not be identified)")

    # --- fit measures ----------------------------------------------------------------
    fm = {}
    fm["npar"] = float(npar)
    fm["fmin"] = f
    chisq = 2.0 * N * f
    chisq = max(chisq, 0.0) if chisq > -1e-8 else chisq
    fm["chisq"] = chisq
    fm["df"] = float(df)
    fm["pvalue"] = ix.chisq_pvalue(chisq, df)
    base = None
    if fiml or estimator == "MLR":
        base_pt, base_theta = baseline_partable(pt, samples)
        base_model = RamModel(base_pt, exo_values(pt, samples))
        base_obj = Objective(base_model, samples, fiml=fiml)
        bopt = optimise(base_obj, linear_reparam(base_model.n_free, None, None), base_theta)
        chisq0 = 2.0 * N * bopt.fmin
        n_base = base_model.n_free
        base = (base_pt, base_model, base_obj, bopt)
    else:
        # complete-data ML: the independence model has a closed form,
        # Sigma0 = diag(S_yy) (+) S_xx, so F0 = log|Sigma0| - log|S| per group
        chisq0 = 0.0
        for s in samples:
            d = np.diag(s.cov).copy()
            ld0 = np.sum(np.log(np.delete(d, comp.x_idx))) if comp.x_idx else np.sum(np.log(d))
            if comp.x_idx:
                ld0 += np.linalg.slogdet(s.cov[np.ix_(comp.x_idx, comp.x_idx)])[1]
            chisq0 += s.nobs * (ld0 - s.logdet_cov)
        ny = model.p - q
        n_base = G * (ny + (ny if ms else 0))
    df0 = float(ndat - comp.nexo - n_base)
    fm["baseline_chisq"] = chisq0
    fm["baseline_df"] = df0
    fm["baseline_pvalue"] = ix.chisq_pvalue(chisq0, df0)
    fm["cfi"] = ix.cfi(chisq, df, chisq0, df0)
    fm["tli"] = ix.tli(chisq, df, chisq0, df0)
    fm["nnfi"] = fm["tli"]
    fm.update(ix.other_incremental(chisq, df, chisq0, df0))
    # log-likelihood (conditional on fixed x)
    logl, logl1 = _loglik(obj, imp, samples, ms, fiml)
    if q:
        for s in samples:
            Sxx = s.cov[np.ix_(comp.x_idx, comp.x_idx)]
            lx = -s.nobs / 2.0 * (q * LOG2PI + np.linalg.slogdet(Sxx)[1] + q)
            logl -= lx
            logl1 -= lx
    fm["logl"] = logl
    fm["unrestricted_logl"] = logl1
    fm.update(ix.information_criteria(logl, npar, N))
    fm["ntotal"] = float(N)
    fm["nobs"] = float(N)
    fm["rmsea"] = ix.rmsea(chisq, df, N, G)
    lo, hi = ix.rmsea_ci(chisq, df, N, G)
    fm["rmsea_ci_lower"], fm["rmsea_ci_upper"] = lo, hi
    fm["rmsea_pvalue"] = ix.rmsea_pvalue(chisq, df, N, G)
    fm["rmsea_notclose_pvalue"] = ix.rmsea_notclose_pvalue(chisq, df, N, G)
    fm["rmsea_ci_level"] = 0.90
    fm["rmsea_close_h0"] = 0.05
    fm["rmsea_notclose_h0"] = 0.08
    fm.update(ix.srmr(samples, imp, ms))
    fm.update(ix.residual_family(samples, imp, ms, ndat, df, comp.x_idx))
    fm.update(ix.misc_indices(chisq, df, N, npar))

    if estimator == "MLR" or fiml:
        from .robust import robust_measures

        base_pt, base_model, base_obj, bopt = base
        if delta is None:
            delta = model.delta(imp)
        fm.update(robust_measures(
            pt=pt, model=model, obj=obj, theta=theta, imp=imp, delta=delta, rep=rep, samples=samples,
            E_obs=E_obs if E_obs is not None else obj.observed_information(theta, imp), B0=B0,
            chisq=chisq, df=df, base=(base_pt, base_model, base_obj, bopt, chisq0, df0),
            N=N, G=G, mlr=(estimator == "MLR"), fiml=fiml,
        ))

    # --- improper solutions -----------------------------------------------------------
    _check_improper(comp, model, theta, imp, warnings, labels)
    if vcov is not None:
        se_free = np.sqrt(np.clip(np.diag(vcov), 0, None))
        big = np.flatnonzero(se_free > 10.0 * np.maximum(1.0, np.abs(theta)))
        for i in big[:3]:
            lhs, op, rhs = comp.free_rows[i]
            warnings.append(f"huge standard error for {lhs} {op} {rhs} (SE {se_free[i]:.3g}); the parameter may not be identified")

    def estimates():
        est = _estimates_table(comp, model, theta, imp, vcov)
        if bootstrap and se == "bootstrap":
            from .resample import bootstrap_se

            est = bootstrap_se(est, pt, samples, labels, rep, theta, miss, B=bootstrap, seed=seed,
                               syntax=syntax, data=data, group=group, options=options)
        return est

    est_value = estimates() if se == "bootstrap" else estimates
    if se == "bootstrap":
        info = est_value.attrs.get("bootstrap", {}) if isinstance(est_value, pd.DataFrame) else {}
        n_failed = int(info.get("n_failed", 0) or 0)
        if n_failed:
            warnings.append(f"{n_failed} of {bootstrap} bootstrap replicates did not converge; "
                            "bootstrap SEs and CIs use the converged replicates only")
    ov = list(pt.ov_names)
    return result_cls(
        partable=pt, estimates=est_value, fit_indices=lambda: _fit_series(fm), r2=r_squared(model, theta, imp),
        converged=bool(opt.converged), warnings=warnings, theta=theta, vcov=vcov,
        implied=lambda: [{"cov": _frame(i.sigma, ov), "mean": pd.Series(i.mu, index=ov)} for i in imp],
        sample=lambda: [{"cov": _frame(s.cov, ov), "mean": pd.Series(s.mean, index=ov), "nobs": s.nobs} for s in samples],
        nobs=[s.nobs for s in samples], group_labels=labels, options=options, syntax=syntax,
        iterations=opt.iterations, optimizer=opt.method, model=model, samples=samples, objective=obj, reparam=rep,
    )


def _frame(M, names):
    return pd.DataFrame(M, index=list(names), columns=list(names))


@functools.lru_cache(maxsize=32)
def _index(keys: tuple) -> pd.Index:
    return pd.Index(keys)


def _fit_series(fm: dict) -> pd.Series:
    """The fit measures as a float Series (the index is cached: the names are the same
    for every fit with the same options)."""
    return pd.Series(np.fromiter(fm.values(), float, len(fm)), index=_index(tuple(fm)))


def _loglik(obj: Objective, imp, samples, ms: bool, fiml: bool) -> tuple[float, float]:
    from .samplestats import pattern_loglik

    ll = 0.0
    ll1 = 0.0
    for g, s in enumerate(samples):
        sigma, mu = imp[g].sigma, imp[g].mu
        if s.missing:
            ll += pattern_loglik(s.batches, sigma, mu)
            ll1 += s.logl_h1
            continue
        p = len(sigma)
        if imp[g].sigma_inv is not None and imp[g].logdet is not None:  # from the ML objective
            Sinv, ld = imp[g].sigma_inv, imp[g].logdet
        else:
            Sinv, ld = np.linalg.inv(sigma), np.linalg.slogdet(sigma)[1]
        d = (s.mean - mu) if (ms or fiml) else np.zeros(p)
        ll += -s.nobs / 2.0 * (p * LOG2PI + ld + np.sum(Sinv * s.cov) + d @ Sinv @ d)
        ll1 += -s.nobs / 2.0 * (p * LOG2PI + obj._logdetS[g] + p)
    return float(ll), float(ll1)


def _estimates_table(comp: Compiled, model: RamModel, theta, imp, vcov) -> pd.DataFrame:
    tab = comp.pt.table
    struct = comp.struct.copy()
    free = struct["free"].to_numpy()
    vec = comp.names.vector(theta)
    # value of each structural row: its plabel's value
    pos = {n: i for i, n in enumerate(comp.names.names)}
    est = vec[[pos[pl] for pl in struct["plabel"]]]
    if comp.x_idx:  # fixed-x rows hold this sample's moments
        est = np.array([theta[int(r.free) - 1] if r.free > 0 else _fixed_value(r, model)
                        for r in struct.itertuples(index=False)])
    se = np.full(len(struct), np.nan)
    if vcov is not None:
        m = free > 0
        se[m] = np.sqrt(np.clip(np.diag(vcov)[free[m] - 1], 0, None))
        se[~m] = 0.0
    stdz = comp.stdz
    struct["est"] = est
    struct["se"] = se
    struct["std_lv"] = stdz.values(imp, "std_lv")
    struct["std_all"] = stdz.values(imp, "std_all")
    J_all = stdz.jacobian(imp, "std_all")
    if vcov is not None:
        struct["std_all_se"] = np.sqrt(np.clip(np.sum((J_all @ vcov) * J_all, axis=1), 0, None))
    else:
        struct["std_all_se"] = np.nan
    frames = [struct]
    defs = tab[tab["op"] == ":="]
    if len(defs):
        frames.append(_defined_rows(tab, struct, defs, model, theta, vcov, J_all))
    out = pd.concat(frames, ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = out["est"] / out["se"]
    z[(out["se"] == 0) | out["se"].isna()] = np.nan
    out["z"] = z
    out["pvalue"] = 2.0 * special.ndtr(-np.abs(z.to_numpy(dtype=float)))
    zc = 1.959963984540054
    out["ci_lower"] = out["est"] - zc * out["se"]
    out["ci_upper"] = out["est"] + zc * out["se"]
    cols = ["lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue", "ci_lower", "ci_upper",
            "std_lv", "std_all", "std_all_se", "free", "user", "exo", "plabel"]
    out["group"] = out["group"].astype(int)
    return out[cols].reset_index(drop=True)


def _defined_rows(tab, struct, defs, model, theta, vcov, J_all) -> pd.DataFrame:
    """`:=` rows: value, delta-method SE, and standardized versions with SEs.

    A definition is a function of named parameters (labels, plabels, earlier
    definitions). Its Jacobian with respect to those names is taken by central
    differences on the (cheap) expression, then chained with d name / d theta
    (an indicator for free parameters, the closed-form standardization Jacobian for
    the standardized version).
    """
    from .syntax import compile_expression

    names: list[str] = []
    row_of: dict[str, int] = {}
    for k, r in enumerate(struct.itertuples(index=False)):
        row_of.setdefault(r.plabel, k)
        if r.label:
            row_of.setdefault(r.label, k)
    names = list(row_of)
    funcs = []
    for r in defs.itertuples(index=False):
        f = compile_expression(str(r.rhs), names, line=int(r.line) or None)
        funcs.append((r.lhs, f))
        names.append(r.lhs)
    base_names = list(row_of)

    def evaluate(vec):
        v = {nm: vec[row_of[nm]] for nm in base_names}
        out = []
        for name, f in funcs:
            v[name] = f(v)
            out.append(v[name])
        return np.array(out, dtype=float)

    def value_and_jac(vec):
        val = evaluate(vec)
        used = sorted({row_of[nm] for _, f in funcs for nm in f.names if nm in row_of})
        Jr = np.zeros((len(funcs), len(vec)))
        for k in used:
            h = 1e-7 * max(1.0, abs(vec[k]))
            e = np.zeros(len(vec))
            e[k] = h
            Jr[:, k] = (evaluate(vec + e) - evaluate(vec - e)) / (2 * h)
        return val, Jr

    K = len(theta)
    est_vec = struct["est"].to_numpy(dtype=float)
    free = struct["free"].to_numpy()
    d_theta = np.zeros((len(struct), K))
    m = free > 0
    d_theta[np.flatnonzero(m), free[m] - 1] = 1.0
    est, Jr = value_and_jac(est_vec)
    std_lv, _ = value_and_jac(struct["std_lv"].to_numpy(dtype=float))
    std_all, Jr_std = value_and_jac(struct["std_all"].to_numpy(dtype=float))
    se = np.full(len(funcs), np.nan)
    std_all_se = np.full(len(funcs), np.nan)
    if vcov is not None:
        J = Jr @ d_theta
        se = np.sqrt(np.clip(np.sum((J @ vcov) * J, axis=1), 0, None))
        Js = Jr_std @ J_all
        std_all_se = np.sqrt(np.clip(np.sum((Js @ vcov) * Js, axis=1), 0, None))
    d = defs.copy()
    d["est"] = est
    d["se"] = se
    d["std_lv"] = std_lv
    d["std_all"] = std_all
    d["std_all_se"] = std_all_se
    return d


def _check_improper(comp: Compiled, model, theta, imp, warnings: list[str], labels) -> None:
    """Heywood cases, non-positive-definite latent covariances, impossible correlations."""
    def where(g):
        return f" in group {labels[g - 1]!r}" if labels else ""

    if comp.var_free:
        ks = comp.__dict__.get("_var_free_k")
        if ks is None:
            ks = comp.__dict__["_var_free_k"] = np.array([k for k, _, _ in comp.var_free], int)
        for n in np.flatnonzero(theta[ks] < 0):
            k, lhs, g = comp.var_free[n]
            warnings.append(f"Heywood case: negative variance estimate for {lhs} ({theta[k]:.4g}){where(g)}")
    struct = comp.struct
    off = comp.offdiag
    cor = comp.stdz.correlations(imp, off)
    for k, c in zip(off, cor):
        if np.isfinite(c) and abs(c) > 1.0 + 1e-8:
            r = struct.iloc[k]
            warnings.append(f"improper solution: correlation {r.lhs} ~~ {r.rhs} is {c:.3f} (|r| > 1){where(int(r.group))}")
    if model.lv_names:
        idx = np.array([model.node_index[v] for v in model.lv_names])
        for g, gi in enumerate(imp, start=1):
            Psi = gi.C[idx[:, None], idx]
            L, info = potrf(Psi, lower=True, clean=False)
            if info == 0 and np.diag(L).min() ** 2 > 1e-8 * np.diag(Psi).max():
                continue  # clearly positive definite: no eigen-decomposition needed
            w = np.linalg.eigvalsh((Psi + Psi.T) / 2)
            if w.min() <= 1e-10 * max(1.0, abs(w.max())):
                warnings.append(f"the covariance matrix of the latent variables is not positive definite{where(g)} (smallest eigenvalue {w.min():.3g})")
    for g, gi in enumerate(imp, start=1):
        if gi.sigma_inv is not None:
            continue  # the ML objective's Cholesky factorization already succeeded
        if np.linalg.eigvalsh(gi.sigma).min() <= 0:
            warnings.append(f"the model-implied covariance matrix is not positive definite{where(g)}")


# ----------------------------------------------------------------------------- fast refits
@dataclass
class Refit:
    """A light refit (bootstrap, Monte Carlo): estimates only, no SEs or fit indices."""

    theta: np.ndarray
    converged: bool
    fmin: float
    nobs: list


def refit(result, data: pd.DataFrame, *, start: np.ndarray | None = None) -> Refit:
    """Re-estimate ``result``'s model on new data (same syntax, options and groups).

    The parameter table, constraint structure and free-parameter order are reused, and
    the optimiser starts from ``start`` (default: ``result.theta``, a warm start), so a
    bootstrap or Monte Carlo replicate costs a handful of iterations. Group levels are
    matched by label to ``result.group_labels``. Non-convergence is reported in
    ``Refit.converged`` (never raised), so callers can count failed replicates.
    """
    pt = result.partable
    opts = result.options
    ov = list(pt.ov_names)
    ov_x = list(getattr(pt, "ov_x", []) or []) if opts.get("fixed_x", True) else []
    group = opts.get("group")
    if group is not None and result.group_labels:
        lab = data[group].astype(str)
        samples = []
        for g in result.group_labels:
            s, _ = _prepare(data[lab == g], ov, None, opts["missing"], ov_x)
            samples.extend(s)
    else:
        samples, _ = _prepare(data, ov, None, opts["missing"], ov_x)
    return _refit_samples(result, samples, start)


def refit_arrays(result, arrays: Sequence[np.ndarray], *, start: np.ndarray | None = None) -> Refit:
    """:func:`refit` on raw matrices: one (n_g x p) array per group, columns in
    ``result.partable.ov_names`` order, NaN for missing. The fast path for resampling
    (no DataFrame is built)."""
    opts = result.options
    pt = result.partable
    xpos = [list(pt.ov_names).index(x) for x in (getattr(pt, "ov_x", []) or [])] if opts.get("fixed_x", True) else []
    samples = []
    for X in arrays:
        X = np.asarray(X, float)
        if opts["missing"] == "listwise":
            X = X[~np.isnan(X).any(axis=1)]
            samples.append(complete_sample(X))
        else:
            if xpos:
                X = X[~np.isnan(X[:, xpos]).any(axis=1)]
            samples.append(incomplete_sample(X) if np.isnan(X).any() else complete_sample(X))
    return _refit_samples(result, samples, start)


def _refit_samples(result, samples, start) -> Refit:
    pt = result.partable
    comp = compile_model(pt, len(samples))
    model = comp.model.with_exo(exo_values(pt, samples)) if comp.x_idx else comp.model
    obj = Objective(model, samples, fiml=any(s.missing for s in samples))
    th0 = result.theta if start is None else start
    info0 = getattr(result, "_scoring_info", None)
    try:
        with single_thread_blas():
            if info0 is None:
                # the original fit's Fisher metric in z coordinates, reused by every replicate
                base_obj = Objective(model, list(getattr(result, "samples", None) or samples),
                                     fiml=any(s.missing for s in samples))
                info0 = result.reparam.hess(base_obj.scoring_information(model.implied(np.asarray(result.theta, float))))
                try:
                    object.__setattr__(result, "_scoring_info", info0)
                except (AttributeError, TypeError):  # pragma: no cover - read-only namespace
                    pass
            opt = optimise(obj, result.reparam, np.asarray(th0, float), gtol=1e-7, info0=info0)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        return Refit(np.full(len(th0), np.nan), False, float("nan"), [s.nobs for s in samples])
    return Refit(opt.theta, bool(opt.converged), float(opt.fmin), [s.nobs for s in samples])
