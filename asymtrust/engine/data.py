"""Data preparation (pipeline step: data, lavaan's ``lav_lavaan_step*_data``).

From a data frame to one block of rows per group, every dropped row counted by reason:

* the model's columns, checked (present, numeric, not so large that their moments
  overflow) and converted to one float matrix (:func:`data_matrix`);
* the groups, in order of first appearance; rows without a group value are dropped
  (:func:`group_rows`);
* per group the rows the estimator family keeps: rows with every model variable missing
  are always dropped; the family drops more (listwise: every incomplete row; FIML: rows
  missing a fixed-x covariate), see :meth:`EstimatorFamily.keep_rows
  <asymtrust.engine.estimators.base.EstimatorFamily.keep_rows>`;
* the family turns the blocks into sample statistics (:func:`prepare`).

Also here: the warnings about the data (rows dropped, lavaan's variance-scale checks)
and the refusal of samples that cannot be analysed (too few cases, zero variance,
collinear columns). Nothing here depends on which family runs: it is handed in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import DataError, GroupError, InsufficientDataError
from ._lapack import potrf
from .cluster import attach_clusters, cluster_codes
from .samplestats import GroupSample

#: reasons for dropping rows, as they appear in ``FitResult.dropped`` (in this order)
DROP_GROUP = "missing group value"
DROP_EMPTY = "all model variables missing"
DROP_EXO = "missing fixed-x covariate"
DROP_LISTWISE = "incomplete (listwise)"
DROP_ORDER = (DROP_GROUP, DROP_EMPTY, DROP_EXO, DROP_LISTWISE)
_FMAX = float(np.finfo(float).max)


def keeps_missing_covariates(missing) -> bool:
    """lavaan's ``missing="ml.x"``: rows with a missing fixed-x covariate are kept (the
    covariates enter the likelihood, their moments fixed at the saturated estimates);
    ``"ml"`` drops them."""
    return str(missing).lower() == "ml.x"


# ----------------------------------------------------------------------------- warnings
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
            out.append(f"{k} incomplete {rows} dropped by listwise deletion; use missing='fiml' (ordered items: "
                       "missing='pairwise') to keep them")
        else:  # pragma: no cover - a reason without its own wording
            out.append(f"{k} {rows} dropped: {reason}")
    return out


def scale_warnings(samples: list[GroupSample], x_idx: list, names: list) -> list[str]:
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


# ----------------------------------------------------------------------------- columns and groups
def group_levels(gcol: pd.Series) -> tuple[np.ndarray, list]:
    """Rows with a group value (not missing, not an empty text) and the levels in order
    of first appearance."""
    keep = gcol.notna().to_numpy()
    if gcol.dtype == object or isinstance(gcol.dtype, pd.StringDtype):
        keep = keep & ~gcol.astype(str).str.strip().eq("").to_numpy()  # an empty text is no value
    return keep, list(pd.unique(gcol[keep]))


def check_group_column(data: pd.DataFrame, group: str) -> tuple[np.ndarray, list]:
    """:func:`group_levels` of ``data[group]``, refusing a missing column or a single level."""
    if group not in data.columns:
        raise GroupError(f"grouping column {group!r} is not in the data")
    keep, levels = group_levels(data[group])
    if len(levels) < 2:
        raise GroupError(f"grouping column {group!r} has a single level ({levels[0] if levels else 'none'}); "
                         "multi-group SEM needs at least two")
    return keep, levels


def _column_positions(data: pd.DataFrame, ov: list[str]) -> np.ndarray:
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
    return np.fromiter((where[v] for v in ov), int, len(ov))


def _check_overflow(X: np.ndarray, ov: list[str]) -> None:
    """Refuse values whose moments or their squares (summed over the rows: the covariance,
    the residual sums of squares of the fit indices) overflow: |x|^4 N^2 must stay finite."""
    limit = _FMAX ** 0.25 / (2.0 * np.sqrt(max(len(X), 1)))
    big = np.abs(X) > limit
    if not big.any():
        return
    j = int(np.flatnonzero(big.any(axis=0))[0])
    col = X[:, j]
    n_inf = int(np.isinf(col).sum())
    if n_inf:
        raise DataError(f"column {ov[j]!r} holds {n_inf} infinite value(s)")
    ex = col[big[:, j]][0]
    raise DataError(f"column {ov[j]!r} holds {int(big[:, j].sum())} value(s) too large to analyse "
                    f"(e.g. {ex:.3g}; the squares of its moments overflow): check for a missing-value code or a unit error")


def data_matrix(data: pd.DataFrame, ov: list[str]) -> np.ndarray:
    """The model's columns of ``data`` as one float matrix (NaN = missing), checked. An
    interaction term ``x:z`` that is not a column is the product of the two columns, as
    lavaan computes it."""
    names = set(map(str, getattr(data, "columns", [])))
    inter = [v for v in ov if ":" in str(v) and v not in names]
    if inter:
        parts = list(dict.fromkeys([v for v in ov if v not in inter] + [p for v in inter for p in v.split(":")]))
        B = data_matrix(data, parts)
        at = {p: i for i, p in enumerate(parts)}
        X = np.column_stack([B[:, at[v]] if v not in inter else B[:, at[v.split(":")[0]]] * B[:, at[v.split(":")[1]]]
                             for v in ov])
        _check_overflow(X, ov)
        return X
    pos = _column_positions(data, ov)
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
    elif all(plain):
        # numeric model columns in a frame with text columns: column by column (a frame
        # take would copy the text too); column-major, as pandas' to_numpy returns it
        X = np.empty((len(data), len(ov)), order="F")
        for j, v in enumerate(ov):
            X[:, j] = data[v].to_numpy(dtype=float)
    else:
        X = data[ov].to_numpy(dtype=float, na_value=np.nan)
    _check_overflow(X, ov)
    return X


def group_rows(data: pd.DataFrame, group: str | None) -> tuple[list[np.ndarray], list | None, int]:
    """Row positions per group, the group labels (None for one group) and the number of
    rows without a group value."""
    if group is None:
        return [np.arange(len(data))], None, 0
    keep, levels = check_group_column(data, group)
    gcol = data[group]
    gidx = [np.flatnonzero((gcol == lv).to_numpy() & keep) for lv in levels]
    return gidx, [str(lv) for lv in levels], len(data) - int(keep.sum())


# ----------------------------------------------------------------------------- rows per group
def select_rows(X: np.ndarray, gidx: list[np.ndarray], family, xpos: list[int], kept: list | None = None):
    """The rows of each group that ``family`` keeps.

    Returns ``(blocks, counts, empty_rows)``: one matrix per group, the number of rows
    dropped per reason (empty rows, and the family's own reason), and the positions of
    the empty rows. ``kept``, when given, receives the data positions of each block's rows."""
    blocks = []
    counts = {DROP_EMPTY: 0, family.drop_reason: 0}
    empty_rows = []
    for rows in gidx:
        Xg = X[rows]
        nan = np.isnan(Xg)
        if not nan.any():  # the usual case: nothing to drop
            blocks.append(Xg)
            if kept is not None:
                kept.append(rows)
            continue
        empty = nan.all(axis=1)
        if empty.any():
            empty_rows.append(rows[empty])
            counts[DROP_EMPTY] += int(empty.sum())
        keep = family.keep_rows(nan, xpos)
        counts[family.drop_reason] += int((~keep & ~empty).sum())
        blocks.append(Xg[keep])
        if kept is not None:
            kept.append(rows[keep])
    return blocks, counts, empty_rows


def array_blocks(arrays, family, xpos: list[int]) -> list[np.ndarray]:
    """:func:`select_rows` for raw per-group matrices, without accounting (resampling)."""
    out = []
    for X in arrays:
        X = np.asarray(X, float)
        nan = np.isnan(X)
        out.append(X[family.keep_rows(nan, xpos)] if nan.any() else X)
    return out


def check_moments(samples: list[GroupSample], ov: list[str]) -> None:
    """Refuse a sample whose means or covariances are not finite."""
    for s in samples:
        if not (np.isfinite(s.cov).all() and np.isfinite(s.mean).all()):
            bad = ~(np.isfinite(np.diag(s.cov)) & np.isfinite(s.mean))
            j = int(np.argmax(bad)) if bad.any() else int(np.argmax(~np.isfinite(s.cov).all(axis=0)))
            raise DataError(f"column {ov[j]!r} has a non-finite mean or variance (values too large to analyse)")


def prepare_blocks(data: pd.DataFrame, ov: list[str], group: str | None, family, ov_x: list[str],
                   drops: dict | None = None, kept: list | None = None) -> tuple[list[np.ndarray], list | None]:
    """The rows of each group that ``family`` keeps, and the group labels.

    ``drops``, when given, is filled with ``n_read`` (rows given), ``dropped`` (reason ->
    number of rows, reasons in the order applied) and ``empty_rows`` (positions of rows with
    every model variable missing); ``kept`` receives the data positions of each group's rows.
    """
    X = data_matrix(data, ov)
    gidx, labels, n_group = group_rows(data, group)
    blocks, counts, empty_rows = select_rows(X, gidx, family, [ov.index(x) for x in ov_x], kept)
    if drops is not None:
        counts[DROP_GROUP] = n_group
        order = list(DROP_ORDER) + [r for r in counts if r not in DROP_ORDER]
        drops["n_read"] = len(data)
        drops["dropped"] = {r: counts[r] for r in order if counts.get(r)}
        drops["empty_rows"] = np.sort(np.concatenate(empty_rows)) if empty_rows else np.empty(0, int)
    return blocks, labels


def prepare(data: pd.DataFrame, ov: list[str], group: str | None, family, ov_x: list[str],
            drops: dict | None = None, cluster: str | None = None) -> tuple[list[GroupSample], list | None]:
    """Per-group sample statistics of the model's columns (``family.sample_stats`` of
    :func:`prepare_blocks`), checked for finite moments. Returns ``(samples, labels)``.
    With ``cluster`` (a column name) every sample carries the cluster code of its rows
    (:func:`asymtrust.engine.cluster.attach_clusters`)."""
    codes = cluster_codes(data, cluster) if cluster is not None else None
    kept: list | None = [] if cluster is not None else None
    blocks, labels = prepare_blocks(data, ov, group, family, ov_x, drops, kept)
    samples = family.sample_stats(blocks)
    check_moments(samples, ov)
    if codes is not None:
        attach_clusters(samples, blocks, [codes[k] for k in kept])
    return samples, labels


# ----------------------------------------------------------------------------- usable samples
def _check_sample_cov(s: GroupSample, ov: list[str], where: str, label) -> None:
    """Refuse a singular sample covariance matrix, naming the cause: too few cases for the
    number of variables, or perfectly collinear columns."""
    p = len(ov)
    if s.nobs <= p:
        who = f"group {label!r}" if label is not None else "the data"
        raise InsufficientDataError(f"{who} has only {s.nobs} complete case(s) for {p} observed variables; "
                                    f"the sample covariance matrix is singular")
    R0 = s.cov / np.outer(np.sqrt(np.diag(s.cov)), np.sqrt(np.diag(s.cov)))
    L, info = potrf(R0, lower=True, clean=False)
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


def check_samples(samples: list[GroupSample], ov: list[str], labels: list | None, npar: int) -> list[str]:
    """Refuse samples a model cannot be estimated on: a group with fewer than two cases, a
    zero variance, a singular complete-data covariance. Fewer cases than free parameters
    is a warning, as in lavaan (which fits such models; only a sample covariance matrix
    that is not positive definite stops it). Returns the warnings."""
    N = sum(s.nobs for s in samples)
    out = []
    if N < npar:
        out.append(f"only {N} cases for {npar} free parameters: the estimates are unstable "
                   "(lavaan: the number of free parameters exceeds the sample size)")
    for g, s in enumerate(samples):
        if s.nobs < 2:
            raise InsufficientDataError(f"group {labels[g] if labels else g + 1!r} has only {s.nobs} usable case(s)")
        sd = np.sqrt(np.clip(np.diag(s.cov), 0, None))
        where = f" in group {labels[g]!r}" if labels else ""
        if (sd < 1e-10).any():
            raise DataError(f"column {ov[int(np.argmax(sd < 1e-10))]!r} has zero variance{where}; remove it from the model")
        # complete-data moments (an EM estimate is not checked here; nor a polychoric matrix,
        # which lavaan's least-squares fits do not need to be positive definite)
        if not s.missing and not getattr(s, "pd_not_required", False):
            _check_sample_cov(s, ov, where, labels[g] if labels else None)
        out += [w + where for w in getattr(s, "warnings", ())]  # a family's own (e.g. polychorics near 1)
    return out
