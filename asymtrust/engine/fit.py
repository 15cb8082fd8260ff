"""``asymtrust.fit``: one call from a model and a data frame to a :class:`FitResult`.

The steps, each in its own module:

1. :mod:`asymtrust.library.partable` — parse the syntax, apply lavaan's sem()/cfa() defaults;
2. :mod:`asymtrust.engine.samplestats` — sample moments per group (missing-data patterns + EM for FIML);
3. :mod:`asymtrust.engine.model` — the RAM matrices, built once;
4. :mod:`asymtrust.engine.estimate` — starting values, ML/FIML objective, optimiser;
5. :mod:`asymtrust.engine.vcov` — information matrices and standard errors;
6. :mod:`asymtrust.engine.indices` / :mod:`asymtrust.engine.robust` — fit measures, scaled tests;
7. :mod:`asymtrust.engine.standardize` — standardized solution, R^2;
8. :mod:`asymtrust.engine.results` — the frozen result object.
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
from ..exceptions import (
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
    from ..library.specs import load_spec

    if text in _bundled_names():
        return _bundled_syntax(text)
    return load_spec(text).syntax


@functools.lru_cache(maxsize=1)
def _bundled_names() -> frozenset:
    from ..library.specs import list_specs

    return frozenset(list_specs())


@functools.lru_cache(maxsize=32)
def _bundled_syntax(name: str) -> str:
    """Syntax of a bundled spec (read once: the package data do not change)."""
    from ..library.specs import load_spec

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
    from ..library.partable import compile_known

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
            general.append((k, compile_known(a, pos, line=int(r.line) or None),
                            compile_known(b, pos, line=int(r.line) or None)))
    if general:
        def h(theta):
            v = nm.values(theta)
            return np.array([fl(v) - fr(v) for _, fl, fr in general])

        def jac(theta):
            # unit steps: exact (up to rounding) for the linear functions accepted here,
            # so that 0.5*a has the coefficient 0.5 and not 0.5 + 1e-13, which would make
            # dependent constraint rows look independent
            J = np.zeros((len(general), K))
            h0 = h(theta)
            for j in range(K):
                e = np.zeros(K)
                e[j] = 1.0
                J[:, j] = h(theta + e) - h0
            return J

        Jg = jac(np.zeros(K))
        if not np.allclose(Jg, jac(np.linspace(0.3, 1.7, K)), atol=1e-6):
            raise OptionError("nonlinear equality constraints are not supported; only linear '==' constraints")
        Jg[np.abs(Jg) < 1e-9] = 0.0
        rows = [k for k, _, _ in general]
        H[rows] = Jg
        rhs[rows] = -h(np.zeros(K))
    rank = _rank(H)
    if np.any(rhs != 0) and _inconsistent(H, rhs):
        _raise_contradiction(cons, H, rhs, tab)
    return linear_reparam(K, H, rhs), int(rank)


def _rank(M: np.ndarray, scale: np.ndarray | None = None) -> int:
    """Numerical rank of a constraint matrix, rows scaled to unit length (``scale``: the
    row norms to divide by), singular values below 1e-9 x the largest counted as zero."""
    if not M.size:
        return 0
    if scale is None:
        scale = np.linalg.norm(M, axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    sv = np.linalg.svd(M / scale[:, None], compute_uv=False)
    return int(np.sum(sv > 1e-9 * max(sv.max(initial=0.0), 1e-300))) if sv.size else 0


def _inconsistent(H: np.ndarray, rhs: np.ndarray) -> bool:
    """True when ``H theta = rhs`` has no solution: the augmented matrix [H | rhs] has a
    higher rank than H. Both are ranked with the rows of [H | rhs] scaled to unit length,
    so the test does not depend on how large the constants are."""
    aug = np.column_stack([H, rhs])
    norms = np.linalg.norm(aug, axis=1)
    return _rank(aug, norms) > _rank(H, norms)


def _raise_contradiction(cons: pd.DataFrame, H: np.ndarray, rhs: np.ndarray, tab: pd.DataFrame) -> None:
    """Name the first constraint that makes the system impossible, with the earlier
    constraints it contradicts (those in the linear combination that its row repeats)."""
    from ..exceptions import SyntaxModelError

    rows = list(cons.itertuples(index=False))
    what = {r.plabel: f"{r.lhs} {r.op} {r.rhs}".strip() for r in tab.itertuples(index=False) if r.plabel}

    def show(r) -> str:
        if int(r.user) == 1:
            text = f"'{r.lhs} == {r.rhs}'" + (f" (line {int(r.line)})" if int(r.line) else "")
        else:  # written by lavaan's rules: a shared label or group.equal
            text = f"'{what.get(r.lhs, r.lhs)}' == '{what.get(r.rhs, r.rhs)}' (shared label or group_equal)"
        return text

    for k in range(len(rows)):
        if not _inconsistent(H[: k + 1], rhs[: k + 1]):
            continue
        if k == 0 or not np.any(H[k]):
            raise SyntaxModelError(f"constraint {show(rows[k])} is impossible: it holds for no parameter value")
        c = np.linalg.lstsq(H[:k].T, H[k], rcond=None)[0]
        used = [j for j in np.flatnonzero(np.abs(c) > 1e-8)]
        others = ", ".join(show(rows[j]) for j in used[:3]) + (", ..." if len(used) > 3 else "")
        raise SyntaxModelError(f"constraint {show(rows[k])} contradicts {others}: "
                               "no parameter value satisfies them all")
    raise SyntaxModelError("the equality constraints contradict each other: no parameter value satisfies them all")  # pragma: no cover


# ----------------------------------------------------------------------------- data
#: reasons for dropping rows, as they appear in ``FitResult.dropped`` (in this order)
DROP_GROUP = "missing group value"
DROP_EMPTY = "all model variables missing"
DROP_EXO = "missing fixed-x covariate"
DROP_LISTWISE = "incomplete (listwise)"
_FMAX = float(np.finfo(float).max)


def _row_list(rows: np.ndarray, k: int = 5) -> str:
    """1-based data row numbers, the first ``k`` of them."""
    shown = ", ".join(str(int(r) + 1) for r in rows[:k])
    return shown + (", ..." if len(rows) > k else "")


def drop_warnings(dropped: dict, group: str | None = None, empty_rows: np.ndarray | None = None) -> list[str]:
    """One warning per reason rows were dropped (as lavaan warns for each)."""
    out = []
    for reason, k in dropped.items():
        rows = "row was" if k == 1 else "rows were"
        if reason == DROP_GROUP:
            out.append(f"{k} {rows} dropped: no value in the grouping column {group!r} "
                       "(lavaan: group variable contains missing values)")
        elif reason == DROP_EMPTY:
            where = f" (data row(s) {_row_list(empty_rows)})" if empty_rows is not None and len(empty_rows) else ""
            out.append(f"{k} {rows} dropped: every model variable is missing{where} "
                       "(lavaan: some cases are empty and will be ignored)")
        elif reason == DROP_EXO:
            out.append(f"{k} {rows} dropped: missing values in fixed exogenous covariate(s) (fixed.x = TRUE)")
        elif reason == DROP_LISTWISE:
            out.append(f"{k} incomplete {rows} dropped by listwise deletion; use missing='fiml' to keep them")
        else:  # pragma: no cover - a reason without its own wording
            out.append(f"{k} {rows} dropped: {reason}")
    return out


def _fiml_samples(blocks: list[np.ndarray]) -> list[GroupSample]:
    """Sample statistics for FIML, one per group. When any group has a missing value,
    every group gets the missing-data patterns (a complete group is one pattern): the FIML
    objective sums over patterns, so a group without them would drop out of it."""
    if any(np.isnan(Xg).any() for Xg in blocks):
        return [incomplete_sample(Xg) for Xg in blocks]
    out = []
    for Xg in blocks:
        s = complete_sample(Xg)
        s.missing = False
        out.append(s)
    return out


def _group_levels(gcol: pd.Series) -> tuple[np.ndarray, list]:
    """Rows with a group value (not missing, not an empty text) and the levels in order
    of first appearance."""
    keep = gcol.notna().to_numpy()
    if gcol.dtype == object or isinstance(gcol.dtype, pd.StringDtype):
        keep = keep & ~gcol.astype(str).str.strip().eq("").to_numpy()  # an empty text is no value
    return keep, list(pd.unique(gcol[keep]))


def _prepare(data: pd.DataFrame, ov: list[str], group: str | None, missing: str, ov_x: list[str],
             drops: dict | None = None):
    """Per-group sample statistics of the model's columns.

    ``drops``, when given, is filled with ``n_read`` (rows given), ``dropped`` (reason ->
    number of rows, reasons in the order applied) and ``empty_rows`` (positions of rows with
    every model variable missing).
    """
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
    # values whose moments or their squares (summed over the rows: the covariance, the
    # residual sums of squares of the fit indices) overflow: |x|^4 N^2 must stay finite
    limit = _FMAX ** 0.25 / (2.0 * np.sqrt(max(len(X), 1)))
    big = np.abs(X) > limit
    if big.any():
        j = int(np.flatnonzero(big.any(axis=0))[0])
        col = X[:, j]
        n_inf = int(np.isinf(col).sum())
        if n_inf:
            raise DataError(f"column {ov[j]!r} holds {n_inf} infinite value(s)")
        ex = col[big[:, j]][0]
        raise DataError(f"column {ov[j]!r} holds {int(big[:, j].sum())} value(s) too large to analyse "
                        f"(e.g. {ex:.3g}; the squares of its moments overflow): check for a missing-value code or a unit error")
    if group is not None:
        if group not in data.columns:
            raise GroupError(f"grouping column {group!r} is not in the data")
        gcol = data[group]
        keep, levels = _group_levels(gcol)
        if len(levels) < 2:
            raise GroupError(f"grouping column {group!r} has a single level ({levels[0] if levels else 'none'}); multi-group SEM needs at least two")
        gidx = [np.flatnonzero((gcol == lv).to_numpy() & keep) for lv in levels]
        labels = [str(lv) for lv in levels]
    else:
        gidx = [np.arange(len(data))]
        labels = None
    samples = []
    xpos = [ov.index(x) for x in ov_x]
    n_group = n_empty = n_exo = n_list = 0
    empty_rows = []
    if group is not None:
        n_group = len(data) - int(keep.sum())
    fiml_blocks = []
    for rows in gidx:
        Xg = X[rows]
        nan = np.isnan(Xg)
        if not nan.any():  # the usual case: nothing to drop
            if missing == "listwise":
                samples.append(complete_sample(Xg))
            else:
                fiml_blocks.append(Xg)
            continue
        empty = nan.all(axis=1)
        if empty.any():
            empty_rows.append(rows[empty])
            n_empty += int(empty.sum())
        if missing == "listwise":
            ok = ~nan.any(axis=1)
            n_list += int((~ok & ~empty).sum())
            Xg = Xg[ok]
            if Xg.shape[0] == 0:
                raise InsufficientDataError("no complete cases: every row has a missing value on a model variable (use missing='fiml')")
            samples.append(complete_sample(Xg))
        else:
            ok = ~empty
            if xpos:
                ok_x = ~nan[:, xpos].any(axis=1)
                n_exo += int((ok & ~ok_x).sum())
                ok &= ok_x
            fiml_blocks.append(Xg[ok])
    if missing != "listwise":
        samples = _fiml_samples(fiml_blocks)
    for g, s in enumerate(samples):
        if not (np.isfinite(s.cov).all() and np.isfinite(s.mean).all()):
            bad = ~(np.isfinite(np.diag(s.cov)) & np.isfinite(s.mean))
            j = int(np.argmax(bad)) if bad.any() else int(np.argmax(~np.isfinite(s.cov).all(axis=0)))
            raise DataError(f"column {ov[j]!r} has a non-finite mean or variance (values too large to analyse)")
    if drops is not None:
        dropped = {}
        for reason, k in ((DROP_GROUP, n_group), (DROP_EMPTY, n_empty), (DROP_EXO, n_exo), (DROP_LISTWISE, n_list)):
            if k:
                dropped[reason] = k
        drops["n_read"] = len(data)
        drops["dropped"] = dropped
        drops["empty_rows"] = np.sort(np.concatenate(empty_rows)) if empty_rows else np.empty(0, int)
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
        A bundled spec name (``"fig1"``), a :class:`~asymtrust.library.specs.ModelSpec`, a path to a
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
        moments are computed in one streaming pass (:func:`asymtrust.survey.moments.read_moments`).
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
    from ..library.partable import build_partable

    return build_partable(syntax, observed=list(observed), ngroups=ngroups,
                          group_labels=list(group_labels) if group_labels else None,
                          meanstructure=meanstructure, fixed_x=fixed_x, group_equal=group_equal,
                          group_partial=group_partial, std_lv=std_lv, missing=missing)


def _fit_moments(model, cov, mean, nobs, *, information, std_lv, fixed_x, meanstructure, start, se):
    from ..library.partable import build_partable
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
        levels = _group_levels(data[group])[1]
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
    drops: dict = {}
    samples, labels = _prepare(data, ov, group, miss, ov_x, drops)
    return _fit_prepared(pt, samples, labels, estimator=estimator, miss=miss, se=se,
                         information=information, bootstrap=bootstrap, seed=seed, start=start,
                         syntax=syntax, data=data, group=group, drops=drops, options=dict(
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
                  syntax, data, group, options, result_cls, drops: dict | None = None):
    warnings: list[str] = []
    N = sum(s.nobs for s in samples)
    dropped = dict((drops or {}).get("dropped", {}))
    n_read = int((drops or {}).get("n_read", N))
    # data notes: reported as warnings, but not estimation problems (FitResult.notes)
    notes = drop_warnings(dropped, group, (drops or {}).get("empty_rows"))
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
    notes += _scale_warnings(samples, comp.x_idx, list(pt.ov_names))
    warnings += notes
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
    if getattr(comp.pt, "defined", None):
        def_notes = _definition_warnings(comp, model, theta)
        notes += def_notes
        warnings += def_notes
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
        n_read=n_read, dropped=dropped, notes=notes,
    )


def _scale_warnings(samples: list[GroupSample], x_idx: list, names: list) -> list[str]:
    """lavaan's two checks of the observed variances (``lav_data.R``), fixed-x covariates
    left out: the largest is more than 1000 times the smallest, or above 10^6. The
    variances are those of all rows used (groups pooled), divisor n - 1, as lavaan's
    ``varTable()``; a few microseconds from the group moments."""
    p = len(samples[0].mean)
    n, s1, s2 = np.zeros(p), np.zeros(p), np.zeros(p)
    for s in samples:
        ni, mi, vi = s.available_moments()
        n += ni
        s1 += ni * mi
        s2 += ni * (vi + mi * mi)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        var = (s2 / n - mean * mean) * n / (n - 1.0)
    keep = np.ones(p, bool)
    keep[list(x_idx)] = False
    if not keep.any():
        return []
    var = np.where(keep, var, np.nan)
    if not np.isfinite(var).any():
        return []
    out = []
    hi, lo = np.nanargmax(var), np.nanargmin(var)
    if var[hi] > 1000.0 * var[lo]:
        out.append(f"some observed variances are (at least) a factor 1000 times larger than others "
                   f"({names[hi]} {var[hi]:.4g} vs {names[lo]} {var[lo]:.4g}); consider rescaling the variables")
    if var[hi] > 1e6:
        out.append(f"some observed variances are larger than 1000000 ({names[hi]} {var[hi]:.4g}); "
                   "check for a missing-value code such as -999999")
    return out


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


def _struct_values(comp: Compiled, model: RamModel, theta) -> np.ndarray:
    """The value of each structural row (its plabel's value)."""
    if comp.x_idx:  # fixed-x rows hold this sample's moments
        return np.array([theta[int(r.free) - 1] if r.free > 0 else _fixed_value(r, model)
                         for r in comp.struct.itertuples(index=False)])
    pos = comp.__dict__.get("_plabel_pos")
    if pos is None:
        where = {n: i for i, n in enumerate(comp.names.names)}
        pos = comp.__dict__["_plabel_pos"] = np.array([where[pl] for pl in comp.struct["plabel"]], int)
    return comp.names.vector(theta)[pos]


def _definition_warnings(comp: Compiled, model: RamModel, theta) -> list[str]:
    """A warning naming each ``:=`` parameter whose value is not finite (Inf or NaN)."""
    plan = _definitions(comp)
    vals = plan.values(_struct_values(comp, model, theta))
    bad = np.flatnonzero(~np.isfinite(vals))
    out = []
    for i in bad[:5]:
        name, f = plan.funcs[i]
        out.append(f"defined parameter {name} := {f.expr} evaluates to {_r_num(vals[i])} at the estimates; "
                   "it has no standard error")
    if len(bad) > 5:
        out.append(f"{len(bad) - 5} more defined parameters are not finite at the estimates")
    return out


def _r_num(v: float) -> str:
    return "NaN" if np.isnan(v) else ("Inf" if v > 0 else "-Inf")


def _estimates_table(comp: Compiled, model: RamModel, theta, imp, vcov) -> pd.DataFrame:
    tab = comp.pt.table
    struct = comp.struct.copy()
    free = struct["free"].to_numpy()
    est = _struct_values(comp, model, theta)
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
        frames.append(_defined_rows(comp, defs, est, struct["std_lv"].to_numpy(dtype=float),
                                    struct["std_all"].to_numpy(dtype=float), vcov, J_all))
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


def _defined_rows(comp: "Compiled", defs, est_vec, std_lv, std_all, vcov, J_all) -> pd.DataFrame:
    """`:=` rows: value, delta-method SE, and standardized versions with SEs."""
    plan = _definitions(comp)
    est, lv, sa, J, Js = plan.evaluate(est_vec, std_lv, std_all, comp.struct["free"].to_numpy(),
                                       J_all if vcov is not None else None, len(vcov) if vcov is not None else 0)
    se = np.full(len(est), np.nan)
    std_all_se = np.full(len(est), np.nan)
    if vcov is not None:
        se = np.sqrt(np.clip(np.sum((J @ vcov) * J, axis=1), 0, None))
        std_all_se = np.sqrt(np.clip(np.sum((Js @ vcov) * Js, axis=1), 0, None))
    d = defs.copy()
    d["est"] = est
    d["se"] = se
    d["std_lv"] = lv
    d["std_all"] = sa
    d["std_all_se"] = std_all_se
    return d


def _definitions(comp: "Compiled") -> "_Definitions":
    plan = comp.__dict__.get("_definitions")
    if plan is None:
        plan = comp.__dict__["_definitions"] = _Definitions(comp.pt, comp.struct)
    return plan


class _Definitions:
    """The `:=` definitions of a model, planned once: each compiled expression with, for
    every name it uses, the structural row (label or plabel) or the earlier definition
    that name refers to.

    Values and delta-method Jacobians take time linear in the number of definitions: a
    definition is evaluated once, on numpy arrays holding the point and central
    differences in each of its own names (step 1e-7 max(1, |value|)), and its Jacobian
    with respect to theta is chained from those partial derivatives and the Jacobians
    of the names (a unit row for a free parameter, the closed-form standardization
    Jacobian for ``std.all``, the row of an earlier definition).
    """

    def __init__(self, pt, struct: pd.DataFrame):
        row_of: dict[str, int] = {}
        for k, (pl, lab) in enumerate(zip(struct["plabel"], struct["label"])):
            row_of.setdefault(pl, k)
            if lab:
                row_of.setdefault(lab, k)
        self.row_of = row_of
        self.funcs = pt.compiled_defined()
        def_pos: dict[str, int] = {}
        level = np.zeros(len(self.funcs), int)
        groups: dict[tuple[int, int], list[int]] = {}
        refs = []
        for i, (name, f) in enumerate(self.funcs):
            rows = [row_of.get(n, -1) if n not in def_pos else -1 for n in f.names]
            dpos = [def_pos.get(n, -1) for n in f.names]
            refs.append((rows, dpos))
            level[i] = 1 + max((level[d] for d in dpos if d >= 0), default=-1)
            groups.setdefault((int(level[i]), len(rows)), []).append(i)
            def_pos[name] = i
        # definitions of one level (no reference between them) with the same number of
        # names are processed together, in chunks that bound the (m, k, K) Jacobian blocks
        self.groups = []
        for (_, k), ids in sorted(groups.items()):
            for c in range(0, len(ids), 2048):
                part = np.array(ids[c:c + 2048], int)
                R = np.array([refs[i][0] for i in part], int).reshape(len(part), k)
                D = np.array([refs[i][1] for i in part], int).reshape(len(part), k)
                self.groups.append((part, k, np.maximum(R, 0), np.maximum(D, 0), R >= 0))
        self.names = [name for name, _ in self.funcs]

    def values(self, est_vec: np.ndarray) -> np.ndarray:
        """The value of every definition at the structural values ``est_vec``."""
        env = {nm: float(est_vec[k]) for nm, k in self.row_of.items()}
        out = np.empty(len(self.funcs))
        for i, (name, f) in enumerate(self.funcs):
            env[name] = out[i] = f(env)
        return out

    def evaluate(self, est_vec, lv_vec, all_vec, free, J_all, K):
        """Values at the estimates, std.lv and std.all values; with ``J_all`` (the std.all
        Jacobian, rows = structural rows) also the Jacobians of the values and of the
        std.all values with respect to theta (one row per definition)."""
        n = len(self.funcs)
        jac = J_all is not None
        vals = np.stack([est_vec, lv_vec, all_vec], axis=1)  # (struct rows, 3)
        defs = np.full((n, 3), np.nan)
        J = Js = Dtheta = None
        if jac:
            J, Js = np.zeros((n, K)), np.zeros((n, K))
            Dtheta = np.zeros((len(est_vec), K))  # d row value / d theta: unit rows of the free parameters
            m = free > 0
            Dtheta[np.flatnonzero(m), free[m] - 1] = 1.0
        funcs = self.funcs
        with np.errstate(all="ignore"):
            for ids, k, R, D, isrow in self.groups:
                m = len(ids)
                base = np.where(isrow[:, :, None], vals[R], defs[D])  # (m, k, 3)
                if not jac or k == 0:
                    for r, i in enumerate(ids):
                        defs[i] = _eval_points(funcs[i][1], base[r])[:3]
                    continue
                e, a = base[:, :, 0], base[:, :, 2]
                he = 1e-7 * np.maximum(1.0, np.abs(e))
                ha = 1e-7 * np.maximum(1.0, np.abs(a))
                X = np.empty((m, k, 3 + 4 * k))
                X[:, :, :3] = base
                X[:, :, 3:] = np.tile(np.stack([e, e, a, a], axis=2), (1, 1, k))
                idx = np.arange(k)
                c = 3 + 4 * idx
                X[:, idx, c] += he
                X[:, idx, c + 1] -= he
                X[:, idx, c + 2] += ha
                X[:, idx, c + 3] -= ha
                out = np.empty((m, 3 + 4 * k))
                for r, i in enumerate(ids):
                    out[r] = _eval_points(funcs[i][1], X[r])
                defs[ids] = out[:, :3]
                st = out[:, 3:].reshape(m, k, 4)
                ge = (st[:, :, 0] - st[:, :, 1]) / (2.0 * he)
                ga = (st[:, :, 2] - st[:, :, 3]) / (2.0 * ha)
                J[ids] = np.einsum("mk,mkq->mq", ge, np.where(isrow[:, :, None], Dtheta[R], J[D]))
                Js[ids] = np.einsum("mk,mkq->mq", ga, np.where(isrow[:, :, None], J_all[R], Js[D]))
        return defs[:, 0].copy(), defs[:, 1].copy(), defs[:, 2].copy(), J, Js


def _eval_points(f, X: np.ndarray) -> np.ndarray:
    """``f`` at several points at once: ``X[j, m]`` is the value of ``f.names[j]`` at point m
    (:meth:`asymtrust.library.syntax.CompiledExpression.at_points`; another expression type is
    called point by point)."""
    if hasattr(f, "at_points"):
        return f.at_points(X)
    return np.array([f({nm: X[j, c] for j, nm in enumerate(f.names)}) for c in range(X.shape[1])], float)


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
        if any(s.missing for s in samples):  # FIML: patterns in every group (see _fiml_samples)
            samples = [s if s.missing else incomplete_sample(s.X) for s in samples]
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
    blocks = []
    for X in arrays:
        X = np.asarray(X, float)
        if opts["missing"] == "listwise":
            X = X[~np.isnan(X).any(axis=1)]
            samples.append(complete_sample(X))
        else:
            if xpos:
                X = X[~np.isnan(X[:, xpos]).any(axis=1)]
            blocks.append(X[~np.isnan(X).all(axis=1)] if np.isnan(X).any() else X)
    if blocks:
        samples = _fiml_samples(blocks)
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
