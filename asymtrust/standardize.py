"""Standardized solutions (pipeline step: estimate -> standardize).

lavaan's ``std.lv`` and ``std.all`` (``R/lav_standardize.R``, lavaan-parity.md §3):
latent SDs come from the total implied covariance of the latent variables, observed
SDs from the model-implied variances. Off-diagonal ``~~`` rows become (residual)
correlations, an endogenous variance becomes 1 - R^2. SEs of standardized values
use the delta method with a numerical Jacobian of the standardization map.
"""
from __future__ import annotations

import numpy as np

from .model import RamModel


def standardize(model: RamModel, theta: np.ndarray, rows, *, kind: str = "std_all",
                implied=None) -> np.ndarray:
    """Standardized value of each structural row in ``rows`` (a DataFrame slice).

    ``kind`` is ``"std_lv"`` (latent variables scaled to unit variance) or ``"std_all"``
    (observed variables too). Rows with other operators get NaN.
    """
    imp = implied if implied is not None else model.implied(theta)
    out = np.full(len(rows), np.nan)
    lv = set(model.lv_names)
    sds = []
    for g, gi in enumerate(imp):
        sds.append(np.sqrt(np.clip(np.diag(gi.C), 0.0, None)))
    idx = model.node_index
    for k, r in enumerate(rows.itertuples(index=False)):
        g = int(r.group) - 1
        if g < 0 or r.op not in ("=~", "~", "~~", "~1"):
            continue
        gi = imp[g]
        sd = sds[g]

        def scale(v):
            if kind == "std_all" or v in lv:
                return sd[idx[v]]
            return 1.0

        if r.op == "=~":
            i, j = idx[r.rhs], idx[r.lhs]
            out[k] = gi.A[i, j] * scale(r.lhs) / scale(r.rhs)
        elif r.op == "~":
            i, j = idx[r.lhs], idx[r.rhs]
            out[k] = gi.A[i, j] * scale(r.rhs) / scale(r.lhs)
        elif r.op == "~~":
            i, j = idx[r.lhs], idx[r.rhs]
            if i == j:
                out[k] = gi.S[i, i] / scale(r.lhs) ** 2
            else:
                both_scaled = (kind == "std_all") or (r.lhs in lv and r.rhs in lv)
                if both_scaled:
                    # residual correlation: scaled by the (residual) variances themselves
                    denom = np.sqrt(abs(gi.S[i, i]) * abs(gi.S[j, j]))
                    out[k] = gi.S[i, j] / denom if denom > 0 else np.nan
                else:
                    out[k] = gi.S[i, j] / (scale(r.lhs) * scale(r.rhs))
        elif r.op == "~1":
            i = idx[r.lhs]
            out[k] = gi.m[i] / scale(r.lhs)
    return out


def standardized_se(model: RamModel, theta: np.ndarray, rows, vcov: np.ndarray, *,
                    kind: str = "std_all", h: float = 1e-6) -> np.ndarray:
    """Delta-method SEs of standardized values: J V J' with a central-difference J."""
    if vcov is None or not np.all(np.isfinite(vcov)):
        return np.full(len(rows), np.nan)
    K = len(theta)
    J = np.zeros((len(rows), K))
    for k in range(K):
        e = np.zeros(K)
        e[k] = h
        J[:, k] = (standardize(model, theta + e, rows, kind=kind) - standardize(model, theta - e, rows, kind=kind)) / (2 * h)
    J = np.nan_to_num(J)
    var = np.einsum("ik,kl,il->i", J, vcov, J)
    se = np.sqrt(np.clip(var, 0.0, None))
    se[np.isclose(var, 0.0, atol=1e-20)] = 0.0
    return se


def r_squared(model: RamModel, theta: np.ndarray, implied=None) -> list[dict[str, float]]:
    """R^2 of every endogenous variable (indicators, observed outcomes, endogenous latents)."""
    imp = implied if implied is not None else model.implied(theta)
    out = []
    for gi in imp:
        r2 = {}
        has_parent = np.any(gi.A != 0, axis=1)
        for v, i in model.node_index.items():
            if has_parent[i] and gi.C[i, i] > 0:
                r2[v] = 1.0 - gi.S[i, i] / gi.C[i, i]
        out.append(r2)
    return out
