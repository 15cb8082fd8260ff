"""The one place where asymtrust talks to semopy.

semopy is used only as an independent cross-check of the estimation engine
(lavaan 0.6-14 is the reference; see ``tests/reference/``). No other asymtrust
module imports semopy: everything it returns is normalised here.

What this wrapper works around (semopy 2.3.11 with numpy 2.x / pandas 3.x):

* ``Model.inspect()`` returns the ``Std. Err``, ``z-value`` and ``p-value``
  columns as *object* dtype holding the string ``'-'`` for fixed parameters; they
  are converted to float with NaN.
* Measurement rows come out as ``x1 ~ visual`` (indicator ``~`` factor). They are
  rewritten as lavaan's ``visual =~ x1`` using semopy's own parse of the ``=~``
  lines (``semopy.parser.parse_desc``), so an observed outcome regressed on a
  factor (``grade ~ visual``) stays a regression.
* Column names become lavaan-like snake_case: ``lhs, op, rhs, est, se, z,
  pvalue, std_all``.
* The default SLSQP stopping rule (``ftol=1e-6``) leaves estimates about 1e-3
  from the optimum (HS ``visual=~x2``: 0.55442 vs 0.55350). We pass
  ``options={"ftol": 1e-14}``, after which semopy's estimates, expected-information
  SEs and chi-square agree with lavaan to about 1e-7.
* Missing values: with the ``MLW`` objective semopy silently computes a
  covariance from incomplete rows while still counting every row in ``n``. We
  use complete rows only (listwise deletion on the model's observed variables)
  and report the ``n`` actually used. semopy's ``FIML`` fit statistics are not
  usable (CFI far below 0) and are not exposed.
* Conventions checked against lavaan (HS 3-factor CFA):

  - chi-square: ``n * F_MLW`` with the sample covariance on divisor ``n``, the
    same as lavaan's ``likelihood="normal"`` chi-square (85.305522);
  - CFI/TLI and the baseline chi-square agree with lavaan;
  - ``calc_stats``' RMSEA divides by ``n - 1`` (lavaan: ``n``) and its
    ``LogLik``/``AIC``/``BIC`` are built from the objective value rather than the
    log-likelihood, so none of them is returned here.

``calc_dof`` and ``calc_chi2`` are called through ``semopy.stats`` because they
are not all re-exported at top level (``calc_dof`` is not).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .exceptions import EstimationError, InsufficientDataError, UnknownVariableError

__all__ = ["fit_semopy", "semopy_version"]

#: optimiser options that make semopy's SLSQP converge to lavaan's optimum
SOLVER_OPTIONS: dict[str, float] = {"ftol": 1e-14, "maxiter": 10000}

_RENAME = {
    "lval": "lhs",
    "op": "op",
    "rval": "rhs",
    "Estimate": "est",
    "Std. Err": "se",
    "z-value": "z",
    "p-value": "pvalue",
    "Est. Std": "std_all",
}


def semopy_version() -> str:
    """Version string of the installed semopy.

    Returns
    -------
    str
        For example ``"2.3.11"``.
    """
    import semopy

    return str(semopy.__version__)


def _measurement_pairs(syntax: str) -> set[tuple[str, str]]:
    """(factor, indicator) pairs of the ``=~`` lines, from semopy's own parser."""
    from semopy.parser import parse_desc

    ops = parse_desc(syntax)[0]
    return {(lv, ind) for lv, inds in ops.get("=~", {}).items() for ind in inds}


def _normalise(ins: pd.DataFrame, pairs: set[tuple[str, str]]) -> pd.DataFrame:
    """semopy ``inspect()`` table -> lavaan-like estimates table."""
    renamed = ins.rename(columns=_RENAME)
    out = renamed[[c for c in _RENAME.values() if c in renamed.columns]].copy()
    for col in ("est", "se", "z", "pvalue", "std_all"):
        if col in out:
            out[col] = pd.to_numeric(
                out[col].replace("-", np.nan), errors="coerce"
            ).astype(float)
    for col in ("lhs", "op", "rhs"):
        out[col] = out[col].astype(str)
    is_meas = [
        (op == "~") and ((rhs, lhs) in pairs)
        for lhs, op, rhs in zip(out["lhs"], out["op"], out["rhs"])
    ]
    is_meas = np.asarray(is_meas, dtype=bool)
    lhs = out["lhs"].to_numpy(copy=True)
    rhs = out["rhs"].to_numpy(copy=True)
    out.loc[is_meas, "lhs"] = rhs[is_meas]
    out.loc[is_meas, "rhs"] = lhs[is_meas]
    out.loc[is_meas, "op"] = "=~"
    return out.reset_index(drop=True)


def fit_semopy(syntax: str, data: pd.DataFrame) -> dict[str, Any]:
    r"""Fit a single-group model by ML (semopy ``MLW``) and normalise the output.

    In R this corresponds to ``lavaan::sem(syntax, data)`` with complete data
    (no meanstructure, expected information).

    Parameters
    ----------
    syntax : str
        Model in lavaan-style syntax that semopy understands (``=~``, ``~``, ``~~``).
    data : pandas.DataFrame
        Raw data; only the model's observed variables are used, rows with any
        missing value among them are dropped.

    Returns
    -------
    dict
        ``estimates`` (DataFrame with ``lhs, op, rhs, est, se, z, pvalue, std_all``;
        loadings as ``factor =~ indicator``; NaN where semopy prints ``'-'``),
        ``chisq``, ``df`` (int), ``pvalue``, ``baseline_chisq``, ``baseline_df``, ``cfi``,
        ``tli``, ``n`` (rows used), ``converged`` (bool), ``objective`` (minimised
        MLW value) and ``semopy_version``.

    Raises
    ------
    UnknownVariableError
        If the syntax names an observed variable that is not a data column.
    InsufficientDataError
        If no complete row is left.
    EstimationError
        If semopy fails to build or fit the model.

    Examples
    --------
    >>> import pandas as pd
    >>> from asymtrust._paths import datasets_dir
    >>> hs = pd.read_csv(datasets_dir() / "hs1939.csv")
    >>> out = fit_semopy("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
    ...                  "speed =~ x7 + x8 + x9", hs)
    >>> out["n"], out["df"], round(out["chisq"], 3)
    (301, 24, 85.306)
    """
    import semopy
    from semopy import stats as sstats

    try:
        model = semopy.Model(syntax)
    except Exception as exc:  # semopy raises bare Exceptions with multi-line text
        raise EstimationError(f"semopy could not read the model syntax: {exc}") from exc
    observed = list(model.vars["observed"])
    absent = [v for v in observed if v not in data.columns]
    if absent:
        raise UnknownVariableError(
            f"semopy model names variable(s) {', '.join(absent)} that are not data columns"
        )
    sub = data[observed].apply(pd.to_numeric, errors="coerce").astype(float).dropna()
    if len(sub) == 0:
        raise InsufficientDataError(
            f"no complete row for the {len(observed)} observed variables of the semopy model"
        )
    try:
        res = model.fit(sub, obj="MLW", options=dict(SOLVER_OPTIONS))
        ins = model.inspect(std_est=True)
        dof = int(sstats.calc_dof(model))
        chisq, pval = sstats.calc_chi2(model, dof)
        # one call fits the baseline model once; only the entries that follow
        # lavaan's conventions are kept (see module docstring)
        with np.errstate(divide="ignore", invalid="ignore"):  # semopy's RMSEA at df = 0
            st = semopy.calc_stats(model).iloc[0]
    except Exception as exc:
        raise EstimationError(
            f"semopy could not fit the model ({len(sub)} rows): {exc}"
        ) from exc
    return {
        "estimates": _normalise(ins, _measurement_pairs(syntax)),
        "chisq": float(chisq),
        "df": dof,
        "pvalue": float(pval),
        "baseline_chisq": float(st["chi2 Baseline"]),
        "baseline_df": float(st["DoF Baseline"]),
        "cfi": float(st["CFI"]),
        "tli": float(st["TLI"]),
        "n": int(model.n_samples),
        "converged": bool(getattr(res, "success", False)),
        "objective": float(res.fun),
        "semopy_version": semopy_version(),
    }
