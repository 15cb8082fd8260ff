"""Scaled and robust test statistics (pipeline step: vcov -> robust).

* MLR: the Yuan-Bentler scaled chi-square, Mplus variant (lavaan's
  ``test="yuan.bentler.mplus"``), with ``*.scaled`` indices, and the robust CFI/TLI/RMSEA
  of Brosseau-Liard, Savalei & Li (2012, 2014) for complete data.
* FIML: the robust indices of Zhang & Savalei (2022) that lavaan reports for
  incomplete data (``lav_fit_fiml_corrected``): V6 for ML, V3 for MLR.

Formulas: lavaan-parity.md §5. The saturated (H1) information under missing data is
computed in closed form here, pattern by pattern.

The estimator families (:mod:`asymtrust.engine.estimators`) call these pieces from their
``robust_indices``: :func:`h1_pieces`, :func:`yuan_bentler`, :func:`robust_block` and
:func:`fiml_corrected_indices`, each given the fitted
:class:`~asymtrust.engine.estimators.base.Solution` and its baseline model.
"""
from __future__ import annotations

import numpy as np

from . import indices as ix
from .cluster import cluster_sum
from .estimate import linear_reparam
from .samplestats import GroupSample, batch_inverse_terms
from .vcov import constrained_inverse


# ----------------------------------------------------------------------------- saturated pieces
def vech_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row/column of each vech element (column-major lower triangle, R's order)."""
    rows, cols = [], []
    for j in range(p):
        for i in range(j, p):
            rows.append(i)
            cols.append(j)
    return np.array(rows), np.array(cols)


def _dup_matrix(p: int) -> np.ndarray:
    """Duplication matrix D: vec(S) = D vech(S)."""
    r, c = vech_index(p)
    D = np.zeros((p * p, len(r)))
    for k, (i, j) in enumerate(zip(r, c)):
        D[i + j * p, k] = 1.0
        D[j + i * p, k] = 1.0
    return D


def _sum_kron(w: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """sum_b w_b kron(X_b, Y_b) for stacks of p x p matrices, as one matrix product."""
    b, p, _ = X.shape
    M = (w[:, None] * X.reshape(b, p * p)).T @ Y.reshape(b, p * p)  # [(i,j),(k,l)]
    return M.reshape(p, p, p, p).transpose(0, 2, 1, 3).reshape(p * p, p * p)


def saturated_information(s: GroupSample, sigma: np.ndarray, mu: np.ndarray, meanstructure: bool,
                          *, observed: bool = True) -> np.ndarray:
    """Per-case information of the saturated model in (vech Sigma, mu) coordinates.

    ``observed=True``: the observed information of the (incomplete-data) likelihood at
    (sigma, mu); per pattern, in vec coordinates,
    -1/2 P(x)P + 1/2 (P(x)Q + Q(x)P) with Q = P M P and M = S_pat + d d' for the
    covariances, kron(d'P, P) for the mixed block and P for the means (P the inverse of
    the observed block, embedded with zeros). All patterns are summed at once: the sum
    of Kronecker products is a single matrix product. ``observed=False``: the
    complete-data expected information Sigma^-1 (+) 1/2 D'(Sigma^-1 x Sigma^-1) D.
    """
    p = len(sigma)
    D = _dup_matrix(p)
    N = s.nobs
    if not (observed and s.missing):
        P = np.linalg.inv(sigma)
        if observed:
            d = s.mean - mu
            M = s.cov + np.outer(d, d)
        else:
            d = np.zeros(p)
            M = sigma
        Pt, Qt, dt, w = P[None], (P @ M @ P)[None], d[None], np.array([float(N)])
    else:
        # the patterns' inverse blocks, embedded in p x p with zeros, batch by batch
        Pl, Ql, dl, wl = [], [], [], []
        for bt in s.batches:
            P, d, M = batch_inverse_terms(bt, sigma, mu)
            b = len(bt.n)
            rows = np.arange(b)[:, None, None]
            Pb, Qb, db = np.zeros((b, p, p)), np.zeros((b, p, p)), np.zeros((b, p))
            Pb[rows, bt.obs[:, :, None], bt.obs[:, None, :]] = P
            Qb[rows, bt.obs[:, :, None], bt.obs[:, None, :]] = P @ M @ P
            db[np.arange(b)[:, None], bt.obs] = d
            Pl.append(Pb)
            Ql.append(Qb)
            dl.append(db)
            wl.append(bt.n)
        Pt, Qt, dt, w = np.concatenate(Pl), np.concatenate(Ql), np.concatenate(dl), np.concatenate(wl)
    Hvv = -0.5 * _sum_kron(w, Pt, Pt) + 0.5 * (_sum_kron(w, Pt, Qt) + _sum_kron(w, Qt, Pt))
    Hs = D.T @ Hvv @ D / N
    if not meanstructure:
        return (Hs + Hs.T) / 2.0
    Pd = np.einsum("bij,bj->bi", Pt, dt)  # P d per pattern (zeros outside the pattern)
    # sum_b w_b kron(Pd_b', P_b): [r, a*p + c] = Pd_a P_rc
    Hmv = np.einsum("b,ba,brc->rac", w, Pd, Pt).reshape(p, p * p)
    Hmm = np.einsum("b,bij->ij", w, Pt)
    Hm = Hmv @ D / N
    out = np.block([[Hs, Hm.T], [Hm, Hmm / N]])
    return (out + out.T) / 2.0


def saturated_scores(s: GroupSample, sigma: np.ndarray, mu: np.ndarray, meanstructure: bool) -> np.ndarray:
    """Case-wise scores of the saturated model, (n x (p* [+ p])), at (sigma, mu)."""
    p = len(sigma)
    r, c = vech_index(p)
    mult = np.where(r == c, 1.0, 2.0)
    parts = []
    blocks = [(pt.obs, pt.X) for pt in s.patterns] if s.missing else [(np.arange(p), s.X)]
    for o, X in blocks:
        P = np.linalg.inv(sigma[np.ix_(o, o)])
        centre = mu[o] if (meanstructure or s.missing) else s.mean[o]
        E = np.zeros((X.shape[0], p))
        E[:, o] = (X - centre) @ P
        Pfull = np.zeros((p, p))
        Pfull[np.ix_(o, o)] = P
        # G = 1/2 (P d d' P - P) ; score for vech element (i,j): G_ij (+ G_ji)
        G = 0.5 * (E[:, r] * E[:, c] - Pfull[r, c][None, :]) * mult[None, :]
        if meanstructure or s.missing:
            G = np.hstack([G, E])
        parts.append(G)
    return np.vstack(parts)


def _delta_sat(delta_g, p: int, meanstructure: bool) -> np.ndarray:
    """Model Jacobian in saturated (vech Sigma, mu) coordinates: (p* [+p]) x n_free."""
    dS, dm = delta_g
    r, c = vech_index(p)
    D = dS[:, r, c].T
    if meanstructure:
        D = np.vstack([D, dm.T])
    return D


# ----------------------------------------------------------------------------- pieces used by the families
def h1_pieces(samples: list[GroupSample], meanstructure: bool) -> tuple[float, list]:
    """The saturated (H1) model per group at the sample moments: its observed
    information A1, A1^-1 and first-order information B1, and tr(A1^-1 B1) summed over
    the groups. Returns ``(tr_h1, [(A1, A1inv, B1) per group])``."""
    tr_h1 = 0.0
    pieces = []
    for s in samples:
        A1 = saturated_information(s, s.cov, s.mean, meanstructure, observed=True)
        B1 = _first_order(cluster_sum(saturated_scores(s, s.cov, s.mean, meanstructure), s.cluster), s.nobs)
        A1inv = np.linalg.inv(A1)
        tr_h1 += float(np.trace(A1inv @ B1))
        pieces.append((A1, A1inv, B1))
    return tr_h1, pieces


def _trace_h0(E: np.ndarray, B: np.ndarray, rep) -> float:
    Einv, ok = constrained_inverse(E, rep)
    return float(np.trace(B @ Einv)) if ok else float("nan")


def h1_structured_information(samples, delta, imp, meanstructure: bool, N: int) -> np.ndarray:
    """lavaan's ``observed.information = "h1"``: sum_g (N_g / N) Delta_g' A1_g Delta_g, with
    A1_g the observed information of the saturated model at the model-implied moments."""
    out = None
    for s, dg, ig in zip(samples, delta, imp):
        p = len(ig.sigma)
        A1 = saturated_information(s, ig.sigma, ig.mu, meanstructure, observed=True)
        D = _delta_sat(dg, p, meanstructure)
        part = (s.nobs / N) * (D.T @ A1 @ D)
        out = part if out is None else out + part
    return out


def _baseline_trace(sol, base) -> float:
    """tr(B E^-1) of the fitted baseline model, with the family's information and scores."""
    _, base_model, base_obj, bopt = base.fitted
    bimp = base_model.implied(bopt.theta)
    bdelta = base_model.delta(bimp)
    kind = getattr(sol.family, "test_information", "observed")
    bE = sol.family.information(base_obj, bopt.theta, bimp, kind)
    bB = sol.family.first_order(base_obj, bimp, bdelta)
    return _trace_h0(bE, bB, linear_reparam(base_model.n_free, None, None))


def _not_exo(p: int, x_idx, size: int) -> np.ndarray:
    """Positions of the saturated (vech Sigma [, mu]) elements that are not fixed-x moments:
    lavaan leaves the covariances among fixed-x covariates and their means out of the H1
    matrices (``eliminate.pstar.idx``)."""
    r, c = vech_index(p)
    xs = np.zeros(p, bool)
    xs[list(x_idx)] = True
    keep = ~(xs[r] & xs[c])
    if size > len(r):
        keep = np.concatenate([keep, ~xs])
    return np.flatnonzero(keep)


def h1_trace_without_exo(pieces: list, p: int, x_idx) -> tuple[float, int]:
    """tr(A1^-1 B1) summed over groups and the number of H1 elements, fixed-x block left out."""
    tr, ndat = 0.0, 0
    for A1, _, B1 in pieces:
        k = _not_exo(p, x_idx, len(A1))
        A, B = A1[np.ix_(k, k)], B1[np.ix_(k, k)]
        tr += float(np.trace(np.linalg.solve(A, B)))
        ndat += len(k)
    return tr, ndat


def yuan_bentler(sol, base, chisq: float, h1: tuple[float, list]) -> tuple[dict[str, float], float, float]:
    """MLR's scaled test: the Yuan-Bentler chi-square (Mplus variant) of the model and of
    the baseline model, with the ``*.scaled`` indices. Returns ``(measures, c, c0)``
    (the two scaling factors). With fixed-x covariates the H1 trace leaves their block
    out, as lavaan does."""
    tr_h1, pieces = h1
    ndat = sum(len(a[0]) for a in pieces)
    x_idx = list(getattr(sol.comp, "x_idx", []) or [])
    if x_idx:
        tr_h1, ndat = h1_trace_without_exo(pieces, sol.model.p, x_idx)
    df, df0, chisq0, N, G = sol.df, base.df, base.chisq, sol.N, sol.G
    kind = getattr(sol.family, "test_information", "observed")  # "h1": estimators/clustered.py
    E = sol.E_obs if kind == "observed" else sol.family.information(sol.obj, sol.theta, sol.imp, kind)
    tr0 = _trace_h0(E, sol.B0, sol.rep)
    c = (tr_h1 - tr0) / df if df > 0 else float("nan")
    if not c > 0:  # lavaan: no scaled test without a positive scaling factor (e.g. at an active bound)
        c = float("nan")
    c0 = (tr_h1 - _baseline_trace(sol, base)) / df0 if df0 > 0 else float("nan")
    npar = sol.model.n_free  # lavaan divides by the free slots, before equality constraints
    return scaled_block(chisq, df, chisq0, df0, c, c0, tr_h1 / ndat, tr0 / npar, N, G), c, c0


def scaled_block(chisq, df, chisq0, df0, c, c0, sf_h1, sf_h0, N, G) -> dict[str, float]:
    """The Yuan-Bentler scaled statistics of the model and baseline (scaling factors ``c``,
    ``c0``; ``sf_h1``, ``sf_h0`` lavaan's scaling.factor.h1/h0) and the ``*.scaled`` indices."""
    out: dict[str, float] = {}
    # at df = 0 lavaan's scaled statistic is the unscaled one (0) and its scaling factor NA
    chisq_s = chisq / c if df > 0 else chisq
    out["chisq_scaled"] = chisq_s
    out["df_scaled"] = float(df)
    out["pvalue_scaled"] = ix.chisq_pvalue(chisq_s, df)
    out["chisq_scaling_factor"] = c
    out["scaling_factor_h1"] = sf_h1
    out["scaling_factor_h0"] = sf_h0
    out["baseline_chisq_scaled"] = chisq0 / c0
    out["baseline_df_scaled"] = float(df0)
    out["baseline_pvalue_scaled"] = ix.chisq_pvalue(chisq0 / c0, df0)
    out["baseline_chisq_scaling_factor"] = c0
    out["cfi_scaled"] = ix.cfi(chisq_s, df, chisq0 / c0, df0)
    out["tli_scaled"] = ix.tli(chisq_s, df, chisq0 / c0, df0)
    out["nnfi_scaled"] = out["tli_scaled"]
    out.update({f"{k}_scaled": v for k, v in ix.other_incremental(chisq_s, df, chisq0 / c0, df0).items()})
    if df > 0:
        dfs = c * df
        out["rmsea_scaled"] = ix.rmsea(chisq, dfs, N, G)
        lo, hi = ix.rmsea_ci(chisq, dfs, N, G)
        out["rmsea_pvalue_scaled"] = ix.rmsea_pvalue(chisq, dfs, N, G)
        out["rmsea_notclose_pvalue_scaled"] = ix.rmsea_notclose_pvalue(chisq, dfs, N, G)
    else:  # lavaan: NA without a scaling factor
        out["rmsea_scaled"] = lo = hi = out["rmsea_pvalue_scaled"] = float("nan")
        out["rmsea_notclose_pvalue_scaled"] = float("nan")
    out["rmsea_ci_lower_scaled"], out["rmsea_ci_upper_scaled"] = lo, hi
    return out


def fiml_corrected_indices(sol, base, h1: tuple[float, list], mlr: bool) -> dict[str, float]:
    """The robust indices lavaan reports for incomplete data (Zhang & Savalei 2022,
    ``lav_fit_fiml_corrected``): V6 for ML, V3 for MLR. Per group the h1 informations at
    the EM moments, stacked block-diagonally with the group weights N_g / N."""
    _, pieces = h1
    samples, p = sol.samples, sol.model.p
    _, base_model, _, bopt = base.fitted
    Wc = [saturated_information(s, s.cov, s.mean, True, observed=False) for s in samples]
    Dm = [_delta_sat(d, p, True) for d in sol.delta]
    x_idx = list(getattr(sol.comp, "x_idx", []) or [])
    keep = _not_exo(p, x_idx, len(Wc[0])) if x_idx else None
    if keep is not None:  # lavaan leaves the fixed-x block out of the H1 matrices
        sub = np.ix_(keep, keep)
        pieces = [(A1[sub], np.linalg.inv(A1[sub]), B1[sub]) for A1, _, B1 in pieces]
        Wc = [W[sub] for W in Wc]
        Dm = [D[keep] for D in Dm]
    xx3, k = _fiml_corrected(pieces, Wc, Dm, sol.rep.K, samples, sol.imp, mlr)
    bimp = base_model.implied(bopt.theta)
    Db = [_delta_sat(d, p, True) for d in base_model.delta(bimp)]
    if keep is not None:
        Db = [D[keep] for D in Db]
    xx3_0, k0 = _fiml_corrected(pieces, Wc, Db, np.eye(base_model.n_free), samples, bimp, mlr)
    df, df0 = sol.df, base.df
    # as lavaan (c.hat3 = k / df3 in R): k / 0 is Inf, which the robust indices ignore at df = 0
    c3 = k / df if df > 0 else float("inf")
    c30 = k0 / df0 if df0 > 0 else float("inf")
    return robust_block(xx3, df, xx3_0, df0, c3, c30, sol.N, sol.G)


def _first_order(scores: np.ndarray, n: int) -> np.ndarray:
    return scores.T @ scores / n


def robust_block(chisq, df, chisq0, df0, c, c0, N, G) -> dict[str, float]:
    """Robust CFI/TLI/RNI/RMSEA from a test statistic and its scaling factors (Brosseau-Liard,
    Savalei & Li 2012, 2014; with the FIML-corrected statistic, Zhang & Savalei 2022)."""
    out = {}
    out["cfi_robust"] = ix.cfi(chisq, df, chisq0, df0, c, c0)
    out["tli_robust"] = ix.tli(chisq, df, chisq0, df0, c, c0)
    out["nnfi_robust"] = out["tli_robust"]
    out["rni_robust"] = ix.rni(chisq, df, chisq0, df0, c, c0)
    out["rmsea_robust"] = ix.rmsea(chisq, df, N, G, c)
    lo, hi = ix.rmsea_ci(chisq, df, N, G, c=c)
    out["rmsea_ci_lower_robust"], out["rmsea_ci_upper_robust"] = lo, hi
    out["rmsea_pvalue_robust"] = ix.rmsea_pvalue(chisq, df, N, G, c=c)
    out["rmsea_notclose_pvalue_robust"] = ix.rmsea_notclose_pvalue(chisq, df, N, G, c=c)
    return out


def _fiml_corrected(h1_pieces, Wc_groups, Delta_groups, K, samples, implied, mlr: bool) -> tuple[float, float]:
    """Zhang & Savalei (2022): XX3 and the trace k (V6 for ML, V3 for MLR), over groups.

    XX3 = sum_g N_g F_g, the ML discrepancy of the model-implied moments against the EM
    (saturated) moments. With f_g = N_g / N, Wm = diag(f_g Wm_g) (h1 observed
    information), Wmi = diag(Wm_g^-1 / f_g), Wc = diag(f_g Wc_g) (h1 expected
    information at the EM moments), Delta stacked over groups, E = Delta' Wm Delta and
    U = Wm - Wm Delta E^+ Delta' Wm: k = tr(U Wmi Wc Wmi U Gamma) with
    Gamma = diag(Wm_g^-1 Jm_g Wm_g^-1 / f_g) for V3, k = tr(Wc Wmi U Wmi) for V6.
    """
    from scipy.linalg import block_diag

    N = sum(s.nobs for s in samples)
    f = [s.nobs / N for s in samples]
    xx3 = 0.0
    for s, imp in zip(samples, implied):
        sigma, mu = imp.sigma, imp.mu
        Sinv = np.linalg.inv(sigma)
        d = s.mean - mu
        F = (np.linalg.slogdet(sigma)[1] - np.linalg.slogdet(s.cov)[1] + np.sum(Sinv * s.cov) - len(sigma)
             + d @ Sinv @ d)
        xx3 += s.nobs * F
    Wm = block_diag(*[fg * Wm_g for fg, (Wm_g, _, _) in zip(f, h1_pieces)])
    Wmi = block_diag(*[Wmi_g / fg for fg, (_, Wmi_g, _) in zip(f, h1_pieces)])
    Wc = block_diag(*[fg * Wc_g for fg, Wc_g in zip(f, Wc_groups)])
    Delta = np.vstack(Delta_groups)
    E = Delta.T @ Wm @ Delta
    Einv = K @ np.linalg.inv(K.T @ E @ K) @ K.T
    U = Wm - Wm @ Delta @ Einv @ Delta.T @ Wm
    if mlr:
        Gamma = block_diag(*[Wmi_g @ Jm_g @ Wmi_g / fg for fg, (_, Wmi_g, Jm_g) in zip(f, h1_pieces)])
        k = float(np.trace(U @ Wmi @ Wc @ Wmi @ U @ Gamma))
    else:
        k = float(np.trace(Wc @ Wmi @ U @ Wmi))
    return xx3, k
