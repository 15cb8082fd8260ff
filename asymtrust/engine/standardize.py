"""Standardized solutions (pipeline step: estimate -> standardize).

lavaan's ``std.lv`` and ``std.all`` (``R/lav_standardize.R``, lavaan-parity.md §3):
latent SDs come from the total implied covariance of the latent variables, observed
SDs from the model-implied variances. An off-diagonal ``~~`` row becomes a
(residual) correlation, an endogenous variance becomes 1 - R^2. SEs of standardized
values use the delta method; the Jacobian of the standardization map is computed in
closed form (product rule over the parameter and the implied variances), so it costs
about as much as one evaluation of the model.
"""
from __future__ import annotations

import numpy as np

from .model import RamModel

# row kinds
_RATIO, _VAR, _COR, _MEAN, _NONE = range(5)


class Standardizer:
    """The standardization map of a set of parameter rows, built once.

    Parameters
    ----------
    model : RamModel
    rows : pandas.DataFrame
        Parameter-table rows (``lhs, op, rhs, group, free``).
    """

    def __init__(self, model: RamModel, rows):
        self.model = model
        idx = model.node_index
        lv = set(model.lv_names)
        n = len(rows)
        self.kind = np.full(n, _NONE)
        self.i = np.zeros(n, int)
        self.j = np.zeros(n, int)
        self.g = np.zeros(n, int)
        self.free = np.zeros(n, int)
        self.lat_i = np.zeros(n, bool)
        self.lat_j = np.zeros(n, bool)
        # the five columns used, zipped (itertuples over the whole table costs more than the plan)
        cols = [rows[c].to_numpy(dtype=object) for c in ("group", "op", "lhs", "rhs", "free")]
        for k, (group, op, lhs, rhs, free) in enumerate(zip(*cols)):
            g = int(group) - 1
            if g < 0 or op not in ("=~", "~", "~~", "~1"):
                continue
            self.g[k] = g
            self.free[k] = int(free)
            if op == "=~":
                self.kind[k], self.i[k], self.j[k] = _RATIO, idx[rhs], idx[lhs]
                self.lat_i[k], self.lat_j[k] = rhs in lv, lhs in lv
            elif op == "~":
                self.kind[k], self.i[k], self.j[k] = _RATIO, idx[lhs], idx[rhs]
                self.lat_i[k], self.lat_j[k] = lhs in lv, rhs in lv
            elif op == "~~":
                self.i[k], self.j[k] = idx[lhs], idx[rhs]
                self.lat_i[k], self.lat_j[k] = lhs in lv, rhs in lv
                self.kind[k] = _VAR if lhs == rhs else _COR
            else:
                self.kind[k], self.i[k] = _MEAN, idx[lhs]
                self.lat_i[k] = lhs in lv

    # ------------------------------------------------------------------ values
    def _pieces(self, imp, kind: str):
        """Per row: parameter value p, and the SD-like scales of i and j (1 when not scaled)."""
        n = len(self.kind)
        val = np.zeros(n)
        si = np.ones(n)
        sj = np.ones(n)
        sii = np.ones(n)
        sjj = np.ones(n)
        for g, gi in enumerate(imp):
            m = self.g == g
            if not m.any():
                continue
            var = np.clip(np.diag(gi.C), 0.0, None)  # a negative (Heywood) variance gives SD 0 -> NaN below
            i, j, kd = self.i[m], self.j[m], self.kind[m]
            v = np.where(kd == _RATIO, gi.A[i, j], np.where(kd == _MEAN, gi.m[i], gi.S[i, j]))
            val[m] = v
            scale_i = np.ones(m.sum(), bool) if kind == "std_all" else self.lat_i[m]
            scale_j = np.ones(m.sum(), bool) if kind == "std_all" else self.lat_j[m]
            si[m] = np.where(scale_i, np.sqrt(var[i]), 1.0)
            sj[m] = np.where(scale_j, np.sqrt(var[j]), 1.0)
            sii[m] = np.abs(gi.S[i, i])
            sjj[m] = np.abs(gi.S[j, j])
        kd = self.kind.copy()
        # off-diagonal (residual) covariances are scaled by the residual SDs of the sides
        # that are standardized: both for std_all, the latent side(s) for std_lv
        # (lavaan: a latent-observed covariance is divided by the latent's residual SD)
        scaled_i = np.ones(n, bool) if kind == "std_all" else self.lat_i
        scaled_j = np.ones(n, bool) if kind == "std_all" else self.lat_j
        sii = np.where(scaled_i, sii, 1.0)
        sjj = np.where(scaled_j, sjj, 1.0)
        return kd, val, si, sj, sii, sjj

    def values(self, imp, kind: str = "std_all") -> np.ndarray:
        kd, val, si, sj, sii, sjj = self._pieces(imp, kind)
        out = np.full(len(kd), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = kd == _RATIO
            out[r] = val[r] * sj[r] / si[r]
            v = kd == _VAR
            out[v] = val[v] / si[v] ** 2
            c = kd == _COR
            out[c] = val[c] / np.sqrt(sii[c] * sjj[c])
            mm = kd == _MEAN
            out[mm] = val[mm] / si[mm]
        return out

    def correlations(self, imp, rows: np.ndarray) -> np.ndarray:
        """std_all of the (residual) covariance rows ``rows`` alone:
        S_ij / sqrt(|S_ii S_jj|), what the improper-solution check needs."""
        out = np.full(len(rows), np.nan)
        for g, gi in enumerate(imp):
            m = self.g[rows] == g
            if not m.any():
                continue
            i, j = self.i[rows[m]], self.j[rows[m]]
            with np.errstate(divide="ignore", invalid="ignore"):
                out[m] = gi.S[i, j] / np.sqrt(np.abs(gi.S[i, i] * gi.S[j, j]))
        return out

    # ------------------------------------------------------------------ Jacobian
    def jacobian(self, imp, kind: str = "std_all") -> np.ndarray:
        """d std / d theta, (rows x n_free), in closed form."""
        model = self.model
        K = model.n_free
        n = len(self.kind)
        kd, val, si, sj, sii, sjj = self._pieces(imp, kind)
        J = np.zeros((n, K))
        # derivative of the implied node variances, per group: dvar (nvar x K)
        dvar = []
        for gs, gi in zip(model.groups, imp):
            D = np.zeros((model.nvar, K))
            if gs.a_pos.size:
                r, c = gs.a_rc
                D[:, gs.a_par] += 2.0 * gi.B[:, r] * gi.C[c, :].T
            if gs.s_sym_pos.size:
                r, c = gs.s_rc
                D[:, gs.s_sym_par] += gi.B[:, r] * gi.B[:, c] * np.where(r == c, 1.0, 2.0)
            dvar.append(D)
        rows = np.arange(n)
        free = self.free
        has = free > 0
        dpar = np.zeros((n, K))
        dpar[rows[has], free[has] - 1] = 1.0
        scaled_i = np.ones(n, bool) if kind == "std_all" else self.lat_i
        scaled_j = np.ones(n, bool) if kind == "std_all" else self.lat_j
        dsi = np.zeros((n, K))
        dsj = np.zeros((n, K))
        with np.errstate(divide="ignore", invalid="ignore"):
            for g, D in enumerate(dvar):
                m = self.g == g
                mi = m & scaled_i
                mj = m & scaled_j
                dsi[mi] = D[self.i[mi]] / (2.0 * si[mi][:, None])
                dsj[mj] = D[self.j[mj]] / (2.0 * sj[mj][:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            r = kd == _RATIO
            J[r] = (dpar[r] * (sj[r] / si[r])[:, None]
                    + val[r][:, None] * (dsj[r] / si[r][:, None] - (sj[r] / si[r] ** 2)[:, None] * dsi[r]))
            v = kd == _VAR
            J[v] = dpar[v] / (si[v] ** 2)[:, None] - (val[v] / si[v] ** 3 * 2.0)[:, None] * dsi[v]
            mm = kd == _MEAN
            J[mm] = dpar[mm] / si[mm][:, None] - (val[mm] / si[mm] ** 2)[:, None] * dsi[mm]
            c = np.flatnonzero(kd == _COR)
            if c.size:
                # residual correlation s_ij / sqrt(s_ii s_jj): derivatives of the diagonal entries
                dii = np.zeros((c.size, K))
                djj = np.zeros((c.size, K))
                for t, k in enumerate(c):
                    fi, fj = self._diag_free(k)
                    if fi and scaled_i[k]:
                        dii[t, fi - 1] = 1.0
                    if fj and scaled_j[k]:
                        djj[t, fj - 1] = 1.0
                den = np.sqrt(sii[c] * sjj[c])
                J[c] = (dpar[c] / den[:, None]
                        - 0.5 * (val[c] / den)[:, None] * (dii / sii[c][:, None] + djj / sjj[c][:, None]))
        J[~np.isfinite(J)] = 0.0
        return J

    def _diag_free(self, k: int) -> tuple[int, int]:
        """Free indices of the variance rows of the two variables of row ``k``."""
        gs = self.model.groups[self.g[k]]
        nv = gs.nvar
        look = dict(zip(gs.s_sym_pos.tolist(), (gs.s_sym_par + 1).tolist()))
        return look.get(self.i[k] * nv + self.i[k], 0), look.get(self.j[k] * nv + self.j[k], 0)


def r_squared(model: RamModel, theta: np.ndarray, implied=None) -> list[dict[str, float]]:
    """R^2 of every endogenous variable (indicators, observed outcomes, endogenous latents)."""
    imp = implied if implied is not None else model.implied(theta)
    out = []
    for gs, gi in zip(model.groups, imp):
        nodes = gs.__dict__.get("_r2_nodes")
        if nodes is None:  # nodes with at least one incoming path: fixed by the structure
            A_struct = gs.A0.copy()
            if gs.a_pos.size:
                A_struct.flat[gs.a_pos] = 1.0
            has_parent = np.any(A_struct != 0, axis=1)
            nodes = gs.__dict__["_r2_nodes"] = [(v, i) for v, i in model.node_index.items() if has_parent[i]]
        if not nodes:
            out.append({})
            continue
        idx = np.fromiter((i for _, i in nodes), int, len(nodes))
        cvar = gi.C[idx, idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1.0 - gi.S[idx, idx] / cvar
        out.append({v: float(r) for (v, _), r, c in zip(nodes, r2, cvar) if c > 0})
    return out
