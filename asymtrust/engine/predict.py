"""Factor scores (lavaan 0.6-14's ``lavPredict``): regression and Bartlett scores per
group, pattern by pattern under FIML. Checked against lavaan in
``tests/test_diagnostics.py`` (``tests/reference/diagnostics/``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import OptionError
from .diagnostics import _require_ml

_EPS = np.finfo(float).eps


def _predict_pieces(res, g: int, imp) -> dict:
    """Per group: loadings Lambda (ov x lv, the direct paths), VETA, E(eta) and E(y)
    (without a mean structure, E(y) is the sample mean and E(eta) = 0, as lavaan)."""
    model = res.model
    lv = list(model.lv_names)
    p = model.p
    li = [model.node_index[v] for v in lv]
    L = imp.A[:p][:, li]
    veta = imp.C[np.ix_(li, li)]
    if res.partable.meanstructure:
        ey, eeta = imp.mu, (imp.B @ imp.m)[li]
    else:
        ey, eeta = res.samples[g].mean, np.zeros(len(li))
    return {"L": L, "VETA": veta, "EETA": eeta, "EY": ey, "Sigma": imp.sigma}


def _check_predictable(res) -> None:
    """lavPredict treats observed variables in regressions as dummy latents; asymtrust
    scores models whose observed variables are all indicators of latent variables."""
    pt = res.partable
    if not pt.lv_names:
        raise OptionError("predict: the model has no latent variables to score")
    ind = set(getattr(pt, "ov_ind", []) or [])
    for v in pt.ov_names:
        if v not in ind:
            raise OptionError(f"predict: observed variable {v!r} is not an indicator of a latent variable "
                              "(regressions on observed variables are not supported by predict yet)")


def _score_rows_block(X: np.ndarray, pc: dict, method: str) -> np.ndarray:
    """Factor scores of the rows of ``X`` (NaN = missing), pattern by pattern:
    regression VETA L' S^-1 (y - E y) + E eta, Bartlett (L'S^-1 L)^+ L'S^-1 (y - E y) + E eta,
    with S, L restricted to the observed variables of the row."""
    out = np.full((len(X), len(pc["EETA"])), np.nan)
    obs = ~np.isnan(X)
    keys, inv = np.unique(obs, axis=0, return_inverse=True)
    for k, pat in enumerate(keys):
        rows = np.flatnonzero(np.ravel(inv) == k)
        if not pat.any():
            continue
        Sinv = np.linalg.pinv(pc["Sigma"][np.ix_(pat, pat)], rcond=np.sqrt(_EPS), hermitian=True)
        L = pc["L"][pat]
        if method == "regression":
            F = pc["VETA"] @ L.T @ Sinv
        else:
            F = np.linalg.pinv(L.T @ Sinv @ L, rcond=np.sqrt(_EPS), hermitian=True) @ L.T @ Sinv
            F[np.all(F == 0, axis=1)] = np.nan
        Yc = X[np.ix_(rows, np.flatnonzero(pat))] - pc["EY"][pat]
        out[rows] = Yc @ F.T + pc["EETA"]
    return out


def predict(res, method: str = "regression", newdata: pd.DataFrame | None = None) -> pd.DataFrame:
    """lavaan 0.6-14 ``lavPredict(object, type = "lv", method)``: factor scores by the
    regression (Thurstone) or Bartlett method, per group, with each row's observed
    variables under FIML (rows with a missing value get NaN under listwise ML).

    Without ``newdata`` the rows the fit used are scored (complete-data fits; a FIML fit
    does not keep its rows in order: pass the data as ``newdata``); with ``newdata`` its
    rows, in its order, and in a multigroup fit the group column assigns the groups.
    Returns a DataFrame with one column per latent variable (and ``group`` when several).
    """
    _require_ml(res, "predict")
    m = str(method).lower()
    if m not in ("regression", "bartlett"):
        raise OptionError(f"predict: method must be 'regression' or 'bartlett', not {method!r}")
    _check_predictable(res)
    ov, lv = list(res.partable.ov_names), list(res.model.lv_names)
    imp = res.model.implied(res.theta)
    blocks, index = _predict_blocks(res, newdata, ov)
    parts = []
    for g, (X, idx) in enumerate(zip(blocks, index)):
        if not res.objective.fiml:
            X = np.where(np.isnan(X).any(axis=1, keepdims=True), np.nan, X)
        sc = _score_rows_block(X, _predict_pieces(res, g, imp[g]), m)
        part = pd.DataFrame(sc, columns=lv, index=idx)
        if res.ngroups > 1:
            part.insert(0, "group", res.group_labels[g])
        parts.append(part)
    out = pd.concat(parts)
    return out.loc[newdata.index] if newdata is not None else out.reset_index(drop=True)


def _predict_blocks(res, newdata, ov) -> tuple[list[np.ndarray], list]:
    """Per group the rows to score and their index labels."""
    if newdata is None:
        if res.objective.fiml or any(s.X is None for s in res.samples):
            raise OptionError("predict: this fit does not keep its rows (FIML or sample moments); "
                              "pass the data as newdata=")
        return [s.X for s in res.samples], [np.arange(s.nobs) for s in res.samples]
    from ..exceptions import DataError

    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    miss = [v for v in ov if v not in newdata.columns]
    if miss:
        raise DataError(f"newdata has no column {miss[0]!r} (a variable of the model)")
    X = newdata[ov].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if res.ngroups == 1:
        return [X], [newdata.index]
    gcol = res.options.get("group")
    if gcol not in newdata.columns:
        raise DataError(f"newdata has no group column {gcol!r}")
    lab = newdata[gcol].astype(str).to_numpy()
    unknown = sorted(set(lab) - set(res.group_labels))
    if unknown:
        raise DataError(f"newdata column {gcol!r} has group {unknown[0]!r}, which the fit does not have")
    sel = [lab == g for g in res.group_labels]
    return [X[s] for s in sel], [newdata.index[s] for s in sel]


