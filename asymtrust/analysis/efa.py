"""Exploratory factor analysis for scale development: ``efa()``, how many factors
(parallel analysis, Velicer's MAP, the scree) and item screening (KMO, Bartlett,
communalities, cross-loadings, suggestions tied to the codebook's constructs).

* :func:`efa` gives the solutions of lavaan 0.6-14's ``efa()`` (ML or ULS extraction,
  geomin/oblimin/... rotation, SEs of the rotated loadings and factor correlations by the
  bordered information, fit per number of factors); the estimation is the engine's
  (:mod:`asymtrust.engine.rotation`).
* :func:`parallel_analysis` is psych's ``fa.parallel`` (``fa = "both"``, ``"fa"`` or
  ``"pc"``): eigenvalues of the correlation matrix (components) and of the reduced matrix
  of a one-factor minres solution (factors), against eigenvalues of normal data of the
  same size (``sim``) and of column-wise resampled data (``resample``), seeded; the
  number of factors is the first eigenvalue not above the simulated 95% quantile
  (``criterion="quantile"``, psych's ``quant = .95``) or mean (``"mean"``, Horn's rule).
* :func:`velicer_map` is psych's ``VSS()$map``; :func:`scree` the observed eigenvalues.
* :func:`kmo` and :func:`bartlett` are psych's ``KMO`` and ``cortest.bartlett`` on the
  pairwise correlation matrix.
* :func:`screen_items` lists items with low communality or cross-loadings above a stated
  cut-off, naming the codebook's constructs. Nothing is deleted.

Ordinal items (``ordered=``, ``estimator="WLSMV"``) are fitted as lavaan's ``efa(...,
ordered = TRUE)``: the efa() block model through :func:`asymtrust.fit` (the WLSMV family
on the thresholds and polychoric correlations, ``engine/estimators/dwls.py``), rotated and
given bordered robust SEs by the ESEM step (:mod:`asymtrust.engine.esem`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..engine import estimators
from ..engine._threads import single_thread_blas
from ..engine.data import drop_warnings, prepare
from ..engine.rotation import EFAFit, efa_fit, max_factors, rotation_options
from ..exceptions import DataError, OptionError

__all__ = ["efa", "EFAResult", "EFASolution", "parallel_analysis", "ParallelResult", "velicer_map", "factor_names",
           "scree", "kmo", "bartlett", "screen_items"]

_ORDINAL = ("ordinal items are fitted by asymtrust.efa(data, ordered=True) (WLSMV); {what} is refused here "
            "for now; call asymtrust.efa() from Python, or fit the items as continuous (ML or ULS)")
#: estimators efa() accepts with ordered items (checked against lavaan 0.6-14's efa(ordered = TRUE))
_ORDINAL_ESTIMATORS = ("WLSMV",)


# ----------------------------------------------------------------------------- inputs
def _items(data: pd.DataFrame, items: Sequence[str] | None) -> list[str]:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if items is None:
        items = [c for c in data.columns if pd.api.types.is_numeric_dtype(data[c])]
    items = [str(i) for i in items]
    for it in items:
        if it not in data.columns:
            raise DataError(f"item {it!r} is not a column of the data")
        if not pd.api.types.is_numeric_dtype(data[it]):
            raise DataError(f"item {it!r} is not numeric (dtype {data[it].dtype})")
    if len(items) < 3:
        raise DataError(f"an EFA needs at least 3 items, got {len(items)}: {', '.join(items)}")
    return items


def _factor_counts(n_factors, p: int) -> list[int]:
    if isinstance(n_factors, (int, np.integer)):
        counts = [int(n_factors)]
    else:
        counts = [int(k) for k in n_factors]
    if not counts:
        raise OptionError("n_factors: give at least one number of factors")
    top = max_factors(p)
    for k in counts:
        if k < 1:
            raise OptionError(f"n_factors={k}: the number of factors must be at least 1")
        if k > top:
            raise OptionError(f"n_factors={k}: with {p} items the maximum number of factors is {top} "
                              "(lavaan's limit: no more free parameters than moments)")
    return sorted(set(counts))


def _check_cov(S: np.ndarray, cols: list[str], n: int) -> None:
    """Refuse a singular covariance matrix, naming the cause."""
    if n <= len(cols):
        raise DataError(f"{n} complete rows for {len(cols)} items: an EFA needs more rows than items")
    zero = [c for c, v in zip(cols, np.diag(S)) if not v > 0]
    if zero:
        raise DataError(f"item {zero[0]!r} has no variance in the rows used")
    vals = np.linalg.eigvalsh(S / np.sqrt(np.outer(np.diag(S), np.diag(S))))
    if vals[0] < 1e-10:
        raise DataError("the items' correlation matrix is singular (an item is a linear combination of others)")


def _is_ordered(ordered) -> bool:
    if ordered is None or ordered is False:
        return False
    return isinstance(ordered, str) or not isinstance(ordered, Sequence) or len(ordered) > 0


def _check_estimator(estimator: str | None, ordered) -> str:
    if _is_ordered(ordered):
        est = "WLSMV" if estimator is None else str(estimator).upper()
        if est not in _ORDINAL_ESTIMATORS:
            raise OptionError(f"estimator={estimator!r} with ordered items is not supported by efa(); use "
                              f"{', '.join(repr(e) for e in _ORDINAL_ESTIMATORS)} (lavaan's default with ordered=)")
        return est
    est = "ML" if estimator is None else str(estimator).upper()
    if est in ("WLSMV", "DWLS", "WLSM", "WLS", "ULSMV", "PML"):
        raise OptionError(f"estimator={estimator!r} is for ordinal items: give ordered=True (or the ordered "
                          "items) with estimator='WLSMV', or use 'ML' or 'ULS' for continuous items")
    if est not in ("ML", "ULS"):
        raise OptionError(f"estimator={estimator!r} is not supported by efa(); use 'ML' or 'ULS'")
    return est


# ----------------------------------------------------------------------------- results
@dataclass
class EFASolution:
    """One number of factors. Loadings are lavaan's estimates (raw metric, factors with
    unit variance); ``std_loadings`` divides them by the items' model-implied SDs."""

    n_factors: int
    loadings: pd.DataFrame
    loadings_se: pd.DataFrame
    std_loadings: pd.DataFrame
    phi: pd.DataFrame
    phi_se: pd.DataFrame
    residual_variances: pd.Series
    residual_se: pd.Series
    communalities: pd.Series
    fit: pd.Series
    converged: bool
    warnings: list
    criterion: float
    raw: object = field(repr=False)  # EFAFit (continuous) or the FitResult of the efa() block model (ordinal)

    def structure(self) -> pd.DataFrame:
        """Standardized structure matrix (item-factor correlations), P Phi."""
        return self.std_loadings @ self.phi


@dataclass
class EFAResult:
    """:func:`efa` for one or more numbers of factors."""

    solutions: dict
    items: list
    rotation: str
    estimator: str
    nobs: int
    n_read: int
    dropped: dict
    warnings: list

    def __getitem__(self, m: int) -> EFASolution:
        if m not in self.solutions:
            raise KeyError(f"no solution with {m} factor(s); fitted: {sorted(self.solutions)}")
        return self.solutions[m]

    def fit_table(self) -> pd.DataFrame:
        """Fit per number of factors (lavaan's ``fitMeasures`` names)."""
        cols = ["npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper",
                "srmr", "aic", "bic"]
        rows = {m: s.fit[cols] for m, s in self.solutions.items()}
        out = pd.DataFrame(rows).T
        out.index.name = "factors"
        return out

    def to_dict(self) -> dict:
        """JSON-ready: fit per number of factors and, per solution, the loadings, their
        SEs, the standardized loadings, factor correlations and communalities (items as
        keys; ``None`` where an SE is not available)."""
        def mat(df):
            return {str(i): {str(c): _num(v) for c, v in row.items()} for i, row in df.iterrows()}

        sols = {}
        for m, s in self.solutions.items():
            sols[str(m)] = {"loadings": mat(s.loadings), "loadings_se": mat(s.loadings_se),
                            "std_loadings": mat(s.std_loadings), "phi": mat(s.phi), "phi_se": mat(s.phi_se),
                            "residual_variances": {k: _num(v) for k, v in s.residual_variances.items()},
                            "communalities": {k: _num(v) for k, v in s.communalities.items()},
                            "converged": bool(s.converged), "warnings": list(s.warnings)}
        fit = {str(m): {k: _num(v) for k, v in row.items()} for m, row in self.fit_table().iterrows()}
        return {"items": list(self.items), "rotation": self.rotation, "estimator": self.estimator,
                "nobs": self.nobs, "n_read": self.n_read, "dropped": dict(self.dropped),
                "warnings": list(self.warnings), "fit": fit, "solutions": sols}


def _num(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _solution(fit: EFAFit, items: list[str], m: int) -> EFASolution:
    rot, ex = fit.rotated, fit.extraction
    p = len(items)
    cols = [f"F{j + 1}" for j in range(m)]
    L = pd.DataFrame(rot.loadings, index=items, columns=cols)
    se = np.full(p * m + p + m * (m - 1) // 2, np.nan)
    if fit.vcov is not None:
        v = np.diag(fit.vcov).copy()
        v[v < 0] = np.nan
        se[: len(v)] = np.sqrt(v)
    phi_se = np.zeros((m, m))
    if fit.vcov is None and m > 1:
        phi_se[~np.eye(m, dtype=bool)] = np.nan
    if not rot.orthogonal and m > 1:
        r, c = np.tril_indices(m, -1)
        phi_se[r, c] = phi_se[c, r] = se[p * m + p:]
    sd = np.sqrt(np.diag(ex.sigma))
    std = L.div(sd, axis=0)
    comm = np.diag(rot.loadings @ rot.phi @ rot.loadings.T) / np.diag(ex.sigma)
    return EFASolution(
        n_factors=m, loadings=L, loadings_se=pd.DataFrame(se[: p * m].reshape(p, m), index=items, columns=cols),
        std_loadings=std, phi=pd.DataFrame(rot.phi, index=cols, columns=cols),
        phi_se=pd.DataFrame(phi_se, index=cols, columns=cols),
        residual_variances=pd.Series(ex.theta, index=items), residual_se=pd.Series(se[p * m: p * m + p], index=items),
        communalities=pd.Series(comm, index=items), fit=pd.Series(fit.fit), converged=ex.converged and rot.converged,
        warnings=list(fit.warnings), criterion=rot.value, raw=fit)


def efa(data: pd.DataFrame, n_factors: int | Sequence[int] = (1, 2, 3), *, rotation: str = "geomin",
        estimator: str | None = None, rotation_args: dict | None = None, items: Sequence[str] | None = None,
        ordered=None, se: bool = True) -> EFAResult:
    """Exploratory factor analysis as lavaan 0.6-14's ``efa()``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent; rows with a missing item are dropped (listwise, as
        lavaan's default) and counted in ``dropped``.
    n_factors : int or sequence of int
        Numbers of factors to fit (lavaan's ``nfactors``), e.g. ``range(1, 6)``.
    rotation : str
        ``geomin`` (default; epsilon 0.001, 30 random starts), ``oblimin``, ``quartimin``,
        ``promax``, ``varimax``, ``target``, ``cf`` (Crawford-Ferguson; gamma from
        ``orthomax_gamma`` as lavaan 0.6-14) or ``cf-quartimax`` ... ``cf-facparsim``,
        ``none``.
    estimator : {"ML", "ULS", "WLSMV"}
        Default ``"ML"``, or ``"WLSMV"`` with ``ordered=`` (as lavaan).
    ordered : True or sequence of str, optional
        lavaan's ``ordered=``: all items (True) or the listed ones are ordinal; the model
        is fitted by WLSMV on thresholds and polychoric correlations (lavaan's
        ``efa(..., ordered = TRUE)``), rotated, with bordered robust (sandwich) SEs.
        Loadings are then on the latent responses (unit variance: raw = standardized),
        residual variances are the delta rule's (no SEs), and ``fit`` has lavaan's
        scaled and robust measures (``chisq_scaled``, ``cfi_robust``, ...).
    rotation_args : dict
        lavaan's ``rotation.args`` with ``_``: ``geomin_epsilon``, ``oblimin_gamma``,
        ``orthomax_gamma``, ``promax_kappa``, ``target``, ``rstarts``, ``orthogonal``,
        ``row_weights``, ``std_ov``, ``gpa_tol``, ``max_iter``, and ``seed`` (the random
        starts; asymtrust's, not R's).
    items : sequence of str, optional
        Columns to analyse (default: every numeric column).
    se : bool
        Compute the bordered-information SEs (default True).

    Examples
    --------
    >>> import asymtrust
    >>> hs = asymtrust.load_dataset("hs1939")
    >>> res = asymtrust.efa(hs, n_factors=3, items=[f"x{i}" for i in range(1, 10)])
    >>> round(float(res[3].fit["chisq"]), 3)
    22.897

    In R: ``lavaan::efa(HolzingerSwineford1939[, 7:15], nfactors = 3)``.
    """
    est = _check_estimator(estimator, ordered)
    cols = _items(data, items)
    counts = _factor_counts(n_factors, len(cols))
    opts = rotation_options(rotation, **(rotation_args or {}))
    if opts.method == "target" and (len(counts) > 1 or opts.target.shape != (len(cols), counts[0])):
        raise OptionError(f"rotation_args target: shape {opts.target.shape} must be {len(cols)} items x "
                          f"n_factors, with one number of factors (n_factors={counts})")
    if _is_ordered(ordered):
        return _efa_ordinal(data, cols, counts, opts.method, rotation_args, est, ordered, se)
    family = estimators.choose(est, "listwise")
    drops: dict = {}
    samples, _ = prepare(data, cols, None, family, [], drops)
    s = samples[0]
    _check_cov(np.asarray(s.cov, float), cols, int(s.nobs))
    warnings = drop_warnings(drops.get("dropped", {}), None, drops.get("empty_rows"))
    sols = {}
    with single_thread_blas():  # small matrices: BLAS threads only cost (engine/_threads.py)
        for m in counts:
            f = efa_fit(np.asarray(s.cov, float), int(s.nobs), m, opts, est, cols, se=se)
            sols[m] = _solution(f, cols, m)
            warnings += f.warnings
    return EFAResult(solutions=sols, items=cols, rotation=opts.method, estimator=est, nobs=int(s.nobs),
                     n_read=int(drops.get("n_read", s.nobs)), dropped=dict(drops.get("dropped", {})),
                     warnings=warnings)


# ----------------------------------------------------------------------------- ordinal items
def _efa_ordinal(data: pd.DataFrame, cols: list[str], counts: list[int], method: str, rotation_args,
                 est: str, ordered, se: bool) -> EFAResult:
    """lavaan's ``efa(data, nfactors, ordered = ...)``: per number of factors the model
    ``efa("efa")*F1 + ... + efa("efa")*Fm =~ items`` through :func:`asymtrust.fit` with
    ``ordered=`` (lavaan's ``sem()`` call inside ``efa()``), rotated by the ESEM step."""
    from ..engine.fit import fit as _fit

    if ordered is not True:
        names = [ordered] if isinstance(ordered, str) else [str(v) for v in ordered]
        unknown = [v for v in names if v not in cols]
        if unknown:
            raise DataError(f"ordered item {unknown[0]!r} is not one of the EFA's items")
        ordered = names
    prefix = "F" if not any(c.upper().startswith("F") and c[1:].isdigit() for c in cols) else "efaF"
    sols, warnings, first = {}, [], None
    for m in counts:
        lv = [f"{prefix}{j + 1}" for j in range(m)]
        syntax = " + ".join(f'efa("efa")*{f}' for f in lv) + " =~ " + " + ".join(cols)
        res = _fit(syntax, data[cols], ordered=ordered, estimator=est, rotation=method,
                   rotation_args=dict(rotation_args or {}) or None, se=None if se else "none")
        first = first or res
        sols[m] = _ordinal_solution(res, cols, lv, m)
        warnings += [f"{m} factor(s): {w}" for w in res.warnings if w not in (res.notes or [])]
    notes = list(first.notes or [])
    return EFAResult(solutions=sols, items=cols, rotation=method, estimator=est, nobs=int(sum(first.nobs)),
                     n_read=int(first.n_read), dropped=dict(first.dropped or {}), warnings=notes + warnings)


def _ordinal_solution(res, items: list[str], lv: list[str], m: int) -> EFASolution:
    est = res.estimates
    cols = [f"F{j + 1}" for j in range(m)]
    L = pd.DataFrame(0.0, index=items, columns=cols)
    Lse = pd.DataFrame(np.nan, index=items, columns=cols)
    rows = est[est["op"] == "=~"]
    for r in rows.itertuples(index=False):
        L.loc[r.rhs, cols[lv.index(r.lhs)]] = r.est
        Lse.loc[r.rhs, cols[lv.index(r.lhs)]] = r.se
    phi = pd.DataFrame(np.eye(m), index=cols, columns=cols)
    phi_se = pd.DataFrame(np.zeros((m, m)), index=cols, columns=cols)
    cov = est[(est["op"] == "~~") & est["lhs"].isin(lv) & est["rhs"].isin(lv)]
    for r in cov.itertuples(index=False):
        a, b = cols[lv.index(r.lhs)], cols[lv.index(r.rhs)]
        phi.loc[a, b] = phi.loc[b, a] = r.est
        if a != b:
            phi_se.loc[a, b] = phi_se.loc[b, a] = r.se
    res_var = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"]) & est["lhs"].isin(items)]
    theta = pd.Series(res_var.set_index("lhs")["est"], dtype=float).reindex(items)
    theta_se = pd.Series(res_var.set_index("lhs")["se"], dtype=float).reindex(items)  # delta rule: fixed, SE 0
    Lv, P = L.to_numpy(), phi.to_numpy()
    explained = np.diag(Lv @ P @ Lv.T)
    var = explained + theta.to_numpy()
    std = L.div(np.sqrt(var), axis=0)
    info = est.attrs.get("rotation", {})
    crit = float(info["sets"][0]["criterion"]) if info.get("sets") else float("nan")
    return EFASolution(
        n_factors=m, loadings=L, loadings_se=Lse, std_loadings=std, phi=phi, phi_se=phi_se,
        residual_variances=theta, residual_se=theta_se, communalities=pd.Series(explained / var, index=items),
        fit=pd.Series(res.fit_indices, dtype=float), converged=bool(res.converged), warnings=list(res.warnings),
        criterion=crit, raw=res)


# ----------------------------------------------------------------------------- psych: minres values
def _smc(R: np.ndarray) -> np.ndarray:
    return 1.0 - 1.0 / np.diag(np.linalg.pinv(R))


def _minres_psi(R: np.ndarray, nfactors: int) -> np.ndarray:
    """The minres solution as the least-squares fit of the off-diagonal correlations,
    min_L sum_{i != j} (r_ij - (L L')_ij)^2 (analytic gradient); its uniquenesses."""
    p = len(R)
    vals, vecs = np.linalg.eigh(R)
    L0 = vecs[:, ::-1][:, :nfactors] * np.sqrt(np.maximum(vals[::-1][:nfactors], 1e-6))

    def fun(x):
        L = x.reshape(p, nfactors)
        E = R - L @ L.T
        np.fill_diagonal(E, 0.0)
        return float(np.sum(E * E)), (-4.0 * E @ L).ravel()

    out = optimize.minimize(fun, L0.ravel(), jac=True, method="L-BFGS-B",
                            options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 5000})
    L = out.x.reshape(p, nfactors)
    return np.diag(R) - np.sum(L * L, axis=1)


def minres_values(R: np.ndarray, nfactors: int = 1) -> np.ndarray:
    """Eigenvalues of the reduced correlation matrix of psych's minres solution
    (``fa(r, nfactors, fm = "minres", rotate = "none")$values``): uniquenesses in
    [0.005, max(smc, 1)] minimising the squared off-diagonal residuals of the loadings
    from the eigenvectors of R - diag(psi); communalities of those loadings on the
    diagonal."""
    p = len(R)
    low = np.tril_indices(p, -1)

    def loadings(psi):
        Sr = R.copy()
        np.fill_diagonal(Sr, np.diag(R) - psi)
        vals, vecs = np.linalg.eigh(Sr)
        vals, vecs = vals[::-1][:nfactors], vecs[:, ::-1][:, :nfactors]
        return vecs * np.sqrt(np.maximum(vals, 0.0))

    def fun(psi):
        L = loadings(psi)
        res = (R - L @ L.T)[low]
        return float(res @ res)

    smc = _smc(R)
    upper = max(float(np.max(smc)), 1.0)
    psi = _minres_psi(R, nfactors)
    if not np.all((psi >= 0.005) & (psi <= upper)):  # outside psych's bounds: bounded search
        best = None
        for start in (np.clip(psi, 0.005, upper), np.clip(np.diag(R) - smc, 0.005, upper)):
            out = optimize.minimize(fun, start, method="L-BFGS-B", bounds=[(0.005, upper)] * p,
                                    options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
            if best is None or out.fun < best.fun:
                best = out
        psi = best.x
    L = loadings(psi)
    Rr = R.copy()
    np.fill_diagonal(Rr, np.sum(L * L, axis=1))
    return np.sort(np.linalg.eigvalsh(Rr))[::-1]


def _corr(X: np.ndarray) -> np.ndarray:
    """Pairwise-complete Pearson correlations (R's ``cor(use = "pairwise")``)."""
    if not np.isnan(X).any():
        return np.corrcoef(X, rowvar=False)
    return pd.DataFrame(X).corr(min_periods=2).to_numpy()


def _matrix(data: pd.DataFrame, items) -> tuple[np.ndarray, list[str]]:
    cols = _items(data, items)
    X = data[cols].to_numpy(dtype=float)
    return X, cols


# ----------------------------------------------------------------------------- how many factors
@dataclass
class ParallelResult:
    """psych ``fa.parallel``: ``table`` has one row per factor/component number with the
    observed eigenvalues and the simulated/resampled means and quantiles."""

    table: pd.DataFrame
    n_factors: float
    n_components: float
    fa: str
    criterion: str
    quant: float
    n_iter: int
    seed: int | None
    nobs: int
    replicates: dict = field(repr=False, default_factory=dict)


def _replicate(X: np.ndarray, rng: np.random.Generator, fa: str, sim: bool, resample: bool) -> dict:
    n, p = X.shape
    out = {}
    if resample:
        while True:
            idx = rng.integers(0, n, size=(n, p))
            C = _corr(np.take_along_axis(X, idx, axis=0))
            if not np.isnan(C).any():
                break
        out["pc_resampled"] = np.sort(np.linalg.eigvalsh(C))[::-1]
        if fa != "pc":
            out["fa_resampled"] = minres_values(C)
    if sim:
        C = np.corrcoef(rng.standard_normal((n, p)), rowvar=False)
        out["pc_simulated"] = np.sort(np.linalg.eigvalsh(C))[::-1]
        if fa != "pc":
            out["fa_simulated"] = minres_values(C)
    return out


def _first_not_above(obs: np.ndarray, ref: np.ndarray) -> float:
    below = np.nonzero(~(obs > ref))[0]
    return float(below[0]) if len(below) else float("nan")


def parallel_analysis(data: pd.DataFrame, items: Sequence[str] | None = None, *, fa: str = "both",
                      n_iter: int = 20, quant: float = 0.95, criterion: str = "quantile",
                      seed: int | None = 19, sim: bool = True, resample: bool = True) -> ParallelResult:
    """Horn's parallel analysis as psych's ``fa.parallel`` (``fm = "minres"``, correlations
    on pairwise-complete cases, N = the number of rows). ``criterion="quantile"`` compares
    each observed eigenvalue with the ``quant`` quantile of the simulated ones (psych's
    rule); ``"mean"`` with their mean. The number retained is the count of leading
    eigenvalues above the reference, from normal data (``sim``) when simulated, else from
    the resampled data."""
    if fa not in ("both", "fa", "pc"):
        raise OptionError(f"fa={fa!r}: choose 'both', 'fa' or 'pc'")
    if criterion not in ("quantile", "mean"):
        raise OptionError(f"criterion={criterion!r}: choose 'quantile' or 'mean'")
    if not (sim or resample):
        raise OptionError("parallel_analysis needs sim=True or resample=True")
    if int(n_iter) < 1:
        raise OptionError(f"n_iter must be at least 1, not {n_iter}")
    X, cols = _matrix(data, items)
    R = _corr(X)
    if np.isnan(R).any():
        raise DataError("a pair of items has fewer than 2 cases answering both; correlations cannot be computed")
    pc = np.sort(np.linalg.eigvalsh(R))[::-1]
    fav = minres_values(R) if fa != "pc" else np.full(len(cols), np.nan)
    rng = np.random.default_rng(seed)
    with single_thread_blas():
        reps = [_replicate(X, rng, fa, sim, resample) for _ in range(int(n_iter))]
    stacked = {k: np.vstack([r[k] for r in reps]) for k in reps[0]}
    table = pd.DataFrame({"pc_observed": pc, "fa_observed": fav}, index=pd.RangeIndex(1, len(cols) + 1, name="number"))
    for k, v in stacked.items():
        table[f"{k}_mean"] = v.mean(axis=0)
        table[f"{k}_q{int(round(quant * 100))}"] = np.quantile(v, quant, axis=0)
        table[f"{k}_sd"] = v.std(axis=0, ddof=1) if len(v) > 1 else np.nan
    src = "simulated" if sim else "resampled"
    col = (lambda kind: f"{kind}_{src}_mean") if criterion == "mean" else \
        (lambda kind: f"{kind}_{src}_q{int(round(quant * 100))}")
    nfact = _first_not_above(fav, table[col("fa")].to_numpy()) if fa != "pc" else float("nan")
    ncomp = _first_not_above(pc, table[col("pc")].to_numpy()) if fa != "fa" else float("nan")
    return ParallelResult(table=table, n_factors=nfact, n_components=ncomp, fa=fa, criterion=criterion,
                          quant=quant, n_iter=int(n_iter), seed=seed, nobs=X.shape[0], replicates=stacked)


def velicer_map(data: pd.DataFrame, items: Sequence[str] | None = None, n: int = 8) -> pd.DataFrame:
    """Velicer's minimum average partial (psych ``VSS(x, n)$map``): the mean squared
    partial correlation after removing the first k principal components, k = 1..n
    (at most p - 1). The suggested number is the k with the smallest value."""
    X, cols = _matrix(data, items)
    R = _corr(X)
    p = len(R)
    vals, vecs = np.linalg.eigh(R)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    comp = vecs * np.sqrt(np.maximum(vals, 0.0))
    n = min(int(n), p)
    kmax = p - 1 if n >= p else n
    out = []
    for k in range(1, kmax + 1):
        C = R - comp[:, :k] @ comp[:, :k].T
        d = 1.0 / np.sqrt(np.diag(C))
        Rs = C * np.outer(d, d)
        np.fill_diagonal(Rs, 0.0)
        out.append(float(np.sum(Rs * Rs) / (p * (p - 1))))
    table = pd.DataFrame({"map": out}, index=pd.RangeIndex(1, kmax + 1, name="components"))
    table["suggested"] = table["map"] == table["map"].min()
    return table


def scree(data: pd.DataFrame, items: Sequence[str] | None = None) -> pd.DataFrame:
    """Eigenvalues of the correlation matrix and of the reduced (one-factor minres)
    matrix, psych's ``fa.parallel`` observed values; the share of variance of each
    component and its running total."""
    X, cols = _matrix(data, items)
    R = _corr(X)
    pc = np.sort(np.linalg.eigvalsh(R))[::-1]
    table = pd.DataFrame({"pc_eigenvalue": pc, "fa_eigenvalue": minres_values(R)},
                         index=pd.RangeIndex(1, len(cols) + 1, name="number"))
    table["pc_share"] = pc / len(cols)
    table["pc_cumulative"] = np.cumsum(pc) / len(cols)
    return table


# ----------------------------------------------------------------------------- screening
def kmo(data: pd.DataFrame, items: Sequence[str] | None = None) -> tuple[float, pd.Series]:
    """Kaiser-Meyer-Olkin measure of sampling adequacy (psych ``KMO``): overall MSA and
    per-item MSA from the anti-image correlations of the pairwise correlation matrix."""
    X, cols = _matrix(data, items)
    R = _corr(X)
    try:
        Q = np.linalg.inv(R)
    except np.linalg.LinAlgError:
        raise DataError("the correlation matrix is singular: KMO needs its inverse (collinear items?)") from None
    d = 1.0 / np.sqrt(np.diag(Q))
    A = Q * np.outer(d, d)
    np.fill_diagonal(A, 0.0)
    r = R.copy()
    np.fill_diagonal(r, 0.0)
    r2, a2 = np.sum(r * r, axis=0), np.sum(A * A, axis=0)
    msa = float(r2.sum() / (r2.sum() + a2.sum()))
    return msa, pd.Series(r2 / (r2 + a2), index=cols, name="msa")


def bartlett(data: pd.DataFrame, items: Sequence[str] | None = None) -> dict:
    """Bartlett's test of sphericity (psych ``cortest.bartlett`` on raw data: pairwise
    correlations, n = number of rows)."""
    X, cols = _matrix(data, items)
    R = _corr(X)
    n, p = X.shape
    sign, logdet = np.linalg.slogdet(R)
    if sign <= 0:
        raise DataError("the correlation matrix is not positive definite: Bartlett's test needs its determinant")
    chisq = -logdet * (n - 1 - (2 * p + 5) / 6.0)
    df = p * (p - 1) / 2.0
    return {"chisq": float(chisq), "df": df, "pvalue": float(stats.chi2.sf(chisq, df)), "n": n}


def factor_names(sol: EFASolution, codebook: pd.DataFrame | None) -> dict:
    """Name each factor after the codebook construct most of its primary items belong to."""
    P = sol.std_loadings
    primary = P.abs().idxmax(axis=1)
    names = {}
    if codebook is not None and {"item", "construct"} <= set(codebook.columns):
        cmap = dict(zip(codebook["item"].astype(str), codebook["construct"].astype(str)))
        for f in P.columns:
            cons = [cmap.get(i) for i in primary.index[primary == f] if cmap.get(i)]
            if cons:
                top = pd.Series(cons).value_counts()
                clear = top.iloc[0] > len(cons) / 2 or len(top) == 1
                names[f] = top.index[0] if clear else f"{f} ({'/'.join(top.index[:2])})"
    return {f: names.get(f, f) for f in P.columns}


def screen_items(sol: EFASolution, *, loading_cut: float = 0.40, cross_cut: float = 0.30,
                 communality_cut: float = 0.40, codebook: pd.DataFrame | None = None) -> pd.DataFrame:
    """Items to look at again, from one EFA solution (standardized pattern loadings).

    Flags an item whose largest loading is below ``loading_cut``, whose second largest
    absolute loading is at least ``cross_cut`` (a cross-loading), whose communality is
    below ``communality_cut``, or (with a codebook) whose primary factor is not the one
    named after its own construct. The suggestion names the constructs ("gtr4 loads .41
    on COMP and .38 on GOOD"). Nothing is deleted: the decision is the analyst's.
    """
    P = sol.std_loadings
    names = factor_names(sol, codebook)
    cmap = {}
    if codebook is not None and {"item", "construct"} <= set(codebook.columns):
        cmap = dict(zip(codebook["item"].astype(str), codebook["construct"].astype(str)))
    rows = []
    for item, row in P.iterrows():
        order = row.abs().sort_values(ascending=False)
        f1 = order.index[0]
        f2 = order.index[1] if len(order) > 1 else None
        l1, l2 = float(row[f1]), (float(row[f2]) if f2 is not None else float("nan"))
        h2 = float(sol.communalities[item])
        flags = []
        if abs(l1) < loading_cut:
            flags.append(f"no loading >= {loading_cut:.2f}")
        if f2 is not None and abs(l2) >= cross_cut:
            flags.append(f"cross-loading >= {cross_cut:.2f}")
        if h2 < communality_cut:
            flags.append(f"communality < {communality_cut:.2f}")
        own = cmap.get(str(item))
        if own and names[f1] != own and own in names.values():
            flags.append(f"loads mainly outside its construct {own}")
        elif own and own not in names.values() and cmap:
            flags.append(f"its construct {own} has no factor of its own")
        text = f"{item} loads {_fmt(l1)} on {names[f1]}"
        if f2 is not None:
            text += f" and {_fmt(l2)} on {names[f2]}"
        text += f"; communality {_fmt(h2)}"
        if own:
            text += f"; codebook construct {own}"
        rows.append({"item": item, "construct": own or "", "primary": names[f1], "loading": l1,
                     "secondary": names[f2] if f2 is not None else "", "cross_loading": l2, "communality": h2,
                     "flags": "; ".join(flags), "flagged": bool(flags), "suggestion": text if flags else ""})
    return pd.DataFrame(rows).set_index("item")


def _fmt(x: float) -> str:
    s = f"{x:.2f}"
    return s.replace("0.", ".", 1) if abs(x) < 1 else s
