"""The multilevel side of a survey whose respondents are nested in clusters (issue 16).

:func:`icc` gives the intraclass correlation ICC(1) of each item, as lavaan's
``lavInspect(fit, "icc")`` reports it for a two-level model: from the two-level saturated
model (within and between covariance matrices, estimated by EM exactly as lavaan's H1 fit
of clustered data, :func:`asymtrust.engine.estimators.twolevel.twolevel_saturated`),
ICC = diag(Sigma_B) / (diag(Sigma_W) + diag(Sigma_B)); and the design effect
1 + (average cluster size - 1) ICC (Kish), the factor by which clustering inflates the
variance of a mean compared with a simple random sample of the same size.

:func:`multilevel_reliability` gives the multilevel omegas of semTools ``compRelSEM()``
(omega within, omega two-level, omega between and the IRR) from a two-level CFA fitted by
:func:`asymtrust.fit`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..engine.cluster import cluster_codes
from ..engine.estimators.twolevel import cluster_stats, twolevel_saturated
from ..exceptions import DataError, OptionError

__all__ = ["icc", "multilevel_reliability"]


def _columns(data: pd.DataFrame, cluster: str, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return [str(c) for c in data.columns
                if c != cluster and pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c])]
    cols = [str(c) for c in columns]
    for c in cols:
        if c not in data.columns:
            raise DataError(f"column {c!r} is not in the data")
        if c == cluster:
            raise DataError(f"column {c!r} is the cluster column; it has no ICC")
        if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            raise DataError(f"column {c!r} is not numeric")
    return cols


def icc(data: pd.DataFrame, cluster: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """ICC(1) of each item and its design effect, equal to lavaan's ``lavInspect(fit, "icc")``.

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    cluster : str
        The column naming each respondent's cluster (partnership).
    columns : sequence of str, optional
        The items; default every numeric column other than ``cluster``.

    Returns
    -------
    DataFrame
        Indexed by item: ``icc``, ``design_effect`` (1 + (m - 1) ICC, m the average cluster
        size), ``var_within`` and ``var_between`` (the diagonals of lavaan's within and
        between H1 covariance matrices). ``attrs`` holds ``nclusters``, ``average_cluster_size``,
        ``min_cluster_size``, ``max_cluster_size``, ``singletons`` (clusters of one respondent),
        ``n_used``, ``n_read``, ``dropped`` (rows with a missing item, left out listwise as
        lavaan's two-level H1), ``between_only`` (items constant within every cluster: they
        have no within variance and, as in lavaan, no ICC) and ``warnings``.

    Raises
    ------
    DataError
        A missing cluster column, missing cluster values, one cluster only, a non-numeric
        or zero-variance item, or no item varying within clusters.

    In R: ``lavInspect(sem(<two-level saturated model>, data, cluster = cluster), "icc")``.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    codes = cluster_codes(data, cluster)
    cols = _columns(data, cluster, columns)
    if not cols:
        raise DataError("no numeric item columns besides the cluster column")
    X = data[cols].to_numpy(dtype=float)
    keep = ~np.isnan(X).any(axis=1)
    warnings: list[str] = []
    n_drop = int((~keep).sum())
    if n_drop:
        warnings.append(f"{n_drop} row(s) with a missing item value were dropped (listwise)")
    X, codes = X[keep], codes[keep]
    if len(np.unique(codes)) < 2:
        raise DataError(f"cluster column {cluster!r} has a single cluster among the complete rows")
    sd = X.std(axis=0)
    if (sd < 1e-12).any():
        raise DataError(f"column {cols[int(np.argmax(sd < 1e-12))]!r} has zero variance")
    within = _within_spread(X, codes)
    between_only = [c for c, w in zip(cols, within) if w < 1e-12]
    if between_only:
        warnings.append(f"column(s) {', '.join(between_only)} do not vary within clusters (between-level "
                        "variables): no ICC")
    used = [c for c in cols if c not in between_only]
    if not used:
        raise DataError("no item varies within clusters")
    Xu = X[:, [cols.index(c) for c in used]]
    sat = twolevel_saturated(cluster_stats(Xu, codes, np.arange(len(used)), np.array([], int), used))
    m = float(sat.sizes.mean())
    out = pd.DataFrame({"icc": sat.icc, "design_effect": 1.0 + (m - 1.0) * sat.icc,
                        "var_within": np.diag(sat.sigma_w), "var_between": np.diag(sat.sigma_b)},
                       index=pd.Index(used, name="item"))
    out.attrs.update(nclusters=int(sat.nclusters), average_cluster_size=m, min_cluster_size=int(sat.sizes.min()),
                     max_cluster_size=int(sat.sizes.max()), singletons=int((sat.sizes == 1).sum()),
                     n_used=int(keep.sum()),
                     n_read=len(data), dropped=n_drop, between_only=between_only, em_iterations=sat.iterations,
                     warnings=warnings)
    return out


def _within_spread(X: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per column, the largest absolute deviation from its cluster mean."""
    _, inv = np.unique(codes, return_inverse=True)
    J = int(inv.max()) + 1
    sums = np.zeros((J, X.shape[1]))
    np.add.at(sums, inv, X)
    means = sums / np.bincount(inv, minlength=J)[:, None]
    return np.abs(X - means[inv]).max(axis=0)


# ----------------------------------------------------------------------------- multilevel reliability
def _level_parts(fit, g: int, level: str):
    """Loadings (construct -> {indicator: loading}) and factor variances at one level of group g."""
    est = fit.estimates
    rows = est[(est["group"] == g) & (est["level"] == level)]
    load = rows[rows["op"] == "=~"]
    lam: dict[str, dict[str, float]] = {}
    for lhs, rhs, val in zip(load["lhs"], load["rhs"], load["est"]):
        lam.setdefault(str(lhs), {})[str(rhs)] = float(val)
    var = rows[(rows["op"] == "~~") & (rows["lhs"] == rows["rhs"])]
    phi = {str(v): float(x) for v, x in zip(var["lhs"], var["est"]) if str(v) in lam}
    return lam, phi


def multilevel_reliability(fit) -> pd.DataFrame:
    """Multilevel reliability of each construct of a two-level CFA, as semTools 0.5-6
    ``compRelSEM()`` computes it (Lai 2021; Geldhof, Preacher & Zyphur 2014).

    The fit is a two-level model (``level:`` blocks, :func:`asymtrust.fit` with ``cluster=``)
    whose constructs have the same name at both levels, with loadings constrained equal
    across levels for the configural coefficients. With Sigma_W and Sigma_B lavaan's H1
    (saturated) within and between covariance matrices (``lavInspect(fit, "sampstat")``),
    lambda and psi the loadings and factor variance of a construct at each level, and
    1' X 1 the sum of the entries of X over the construct's indicators:

    * ``omega_w`` = psi_W (1'lambda_W)^2 / 1' Sigma_W 1 (``config=``: ``omega_W``);
    * ``omega_2l`` = [psi_W (1'lambda_W)^2 + psi_B (1'lambda_B)^2] / 1'(Sigma_W + Sigma_B)1
      (``omega_2L``);
    * ``omega_b`` = psi_B (1'lambda_B)^2 / [m 1' Sigma_W 1 + 1' Sigma_B 1] (``shared=``:
      ``omega_B``), m the mean of 1 / cluster size; ``irr`` = 1' Sigma_B 1 / [m 1' Sigma_W 1
      + 1' Sigma_B 1] (``IRR``).

    Returns one row per group and construct (columns ``group, construct, omega_w,
    omega_2l, omega_b, irr``); a construct named at one level only has NaN for what needs
    the other. ``attrs["notes"]`` lists constructs whose loadings differ across levels
    (``omega_2l`` then assumes invariance, as semTools warns).

    In R: ``semTools::compRelSEM(fit, config = <constructs>)`` and
    ``compRelSEM(fit, shared = <constructs>)``.
    """
    est = getattr(fit, "estimates", None)
    obj = getattr(fit, "objective", None)
    if est is None or "level" not in est.columns or not getattr(obj, "h1", None):
        raise OptionError("multilevel reliability needs a two-level fit (level: blocks with cluster=)")
    ov = list(fit.partable.ov_names)
    levels = [lv for lv in dict.fromkeys(est["level"]) if lv != ""]
    rows, notes = [], []
    for g, (sat, cs) in enumerate(zip(obj.h1, obj.stats), start=1):
        lam1, phi1 = _level_parts(fit, g, levels[0])
        lam2, phi2 = _level_parts(fit, g, levels[1])
        if set(lam1) & set(ov) or any(set(d) - set(ov) for d in list(lam1.values()) + list(lam2.values())):
            raise OptionError("multilevel reliability of higher-order constructs is not supported")
        yname = [ov[k] for k in cs.y_idx]
        bname = [ov[k] for k in cs.b_idx]
        Sw = pd.DataFrame(sat.sigma_w, index=yname, columns=yname)
        Sb = pd.DataFrame(sat.sigma_b, index=bname, columns=bname)
        m = float(np.mean(1.0 / cs.cluster_size))
        for fn in dict.fromkeys(list(lam1) + list(lam2)):
            row = {"group": g, "construct": fn, "omega_w": np.nan, "omega_2l": np.nan, "omega_b": np.nan,
                   "irr": np.nan}
            if fn in lam1 and fn in lam2:
                ind = list(lam1[fn])
                c1 = phi1[fn] * sum(lam1[fn].values()) ** 2
                l2 = [lam2[fn].get(v, 0.0) for v in ind]
                if not np.allclose(l2, [lam1[fn][v] for v in ind]):
                    notes.append(f"the loadings of {fn} differ across levels: omega_2l assumes invariance")
                c2 = phi2[fn] * sum(l2) ** 2
                s1, s2 = Sw.loc[ind, ind].to_numpy().sum(), Sb.loc[ind, ind].to_numpy().sum()
                row.update(omega_w=c1 / s1, omega_2l=(c1 + c2) / (s1 + s2))
            if fn in lam2:
                ind2 = list(lam2[fn])
                ind1 = [v for v in ind2 if v in yname]
                den = m * Sw.loc[ind1, ind1].to_numpy().sum() + Sb.loc[ind2, ind2].to_numpy().sum()
                row.update(omega_b=phi2[fn] * sum(lam2[fn].values()) ** 2 / den,
                           irr=Sb.loc[ind2, ind2].to_numpy().sum() / den)
            rows.append(row)
    out = pd.DataFrame(rows, columns=["group", "construct", "omega_w", "omega_2l", "omega_b", "irr"])
    out.attrs["notes"] = notes
    return out
