"""Information matrices, case-wise scores and the covariance of the estimates
(pipeline step: estimate -> vcov). Formulas: lavaan-parity.md §3 and §5.

* expected information: Delta' W Delta at the model-implied moments (complete-data ML default);
* observed information: the Hessian of f (computed semi-analytically by
  ``Objective.observed_information``; lavaan's default for FIML and MLR);
* first-order information B = (1/N) sum_i g_i g_i', with g_i the case-wise scores at
  the model-implied moments (for MLR's sandwich and the Yuan-Bentler correction).

With linear equality constraints, ``A^-1`` is replaced by ``K (K' A K)^-1 K'``.
:func:`parameter_vcov` assembles the standard or sandwich covariance of a fit from its
family's information and scores.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from ._lapack import potrf, potri, sym_from_lower
from .cluster import cluster_sum
from .estimate import Objective, Reparam
from .model import Implied


def casewise_scores(obj: Objective, imp: list[Implied], delta) -> list[np.ndarray]:
    """Per group, the (n_g x n_free) matrix of case-wise score vectors of the log-likelihood.

    Scores are taken at the model-implied moments: s_mu = Sigma^-1 d and
    s_Sigma = 1/2 (Sigma^-1 d d' Sigma^-1 - Sigma^-1), d = y - mu (y - ybar without a
    meanstructure), chained through Delta.
    """
    out = []
    for g, (dS, dm) in enumerate(delta):
        s = obj.samples[g]
        sigma, mu = imp[g].sigma, imp[g].mu
        if s.missing:
            blocks = [(pt.obs, pt.X) for pt in s.patterns]
        else:
            blocks = [(np.arange(len(sigma)), s.X)]
        parts = []
        for o, X in blocks:
            Sinv = np.linalg.inv(sigma[np.ix_(o, o)])
            centre = mu[o] if (obj.meanstructure or s.missing) else s.mean[o]
            E = (X - centre) @ Sinv  # rows: Sigma^-1 d_i
            dSo = dS[:, o][:, :, o]
            trk = np.einsum("ij,kji->k", Sinv, dSo)
            quad = _quadratic_forms(E, dSo)
            G = 0.5 * (quad - trk[None, :])
            if obj.meanstructure or s.missing:
                G = G + E @ dm[:, o].T
            parts.append(G)
        out.append(np.vstack(parts))
    return out


def _quadratic_forms(E: np.ndarray, dS: np.ndarray, chunk_values: int = 4_000_000) -> np.ndarray:
    """e_n' dS_k e_n for every row n of E and every k (dS_k symmetric), in vech form: the
    products e_ni e_nj (i <= j) times the matching elements of dS_k, off-diagonal ones
    counted twice, as one BLAS product per chunk of rows (chunks bound the n x p* block)."""
    n, q = E.shape
    r, c = np.triu_indices(q)
    D = (dS[:, r, c] * np.where(r == c, 1.0, 2.0)).T  # (p*, K)
    out = np.empty((n, dS.shape[0]))
    step = max(1, chunk_values // max(1, len(r)))
    for a in range(0, n, step):
        Et = E[a:a + step].T  # gathers of whole rows
        out[a:a + step] = (Et[r] * Et[c]).T @ D
    return out


def first_order_information(scores: list[np.ndarray], N: int, clusters: list | None = None) -> np.ndarray:
    """B = (1/N) sum over all cases of g_i g_i'; with ``clusters`` (per group the cluster
    code of each score row, or None) the scores are first summed within clusters
    (lavaan's ``robust.cluster``, :func:`asymtrust.engine.cluster.cluster_sum`)."""
    K = scores[0].shape[1]
    B = np.zeros((K, K))
    for g, G in enumerate(scores):
        if clusters is not None and clusters[g] is not None:
            G = cluster_sum(G, clusters[g])
        B += G.T @ G
    return B / N


def constrained_inverse(A: np.ndarray, rep: Reparam) -> tuple[np.ndarray, bool]:
    """``K (K' A K)^-1 K'``; returns (matrix, ok). ``ok`` is False for a singular matrix.

    The test is scale-free: M = K' A K is first conjugated by D = diag(M)^-1/2 (Jacobi
    preconditioning, as lavaan 0.7 does before inverting), so that M_p = D M D has a unit
    diagonal, and M_p is singular when its smallest eigenvalue is <= 1e-10 x the largest
    (or it is not positive definite). A variable on a 100 times larger scale multiplies
    the information of its parameters by up to 10^-8 but leaves M_p unchanged, so its
    SEs are computed (lavaan computes them too); M^-1 = D M_p^-1 D.
    """
    M = rep.hess(A)
    if not np.all(np.isfinite(M)):
        return np.full_like(A, np.nan), False
    M = (M + M.T) / 2.0
    d = np.sqrt(np.abs(np.diag(M)))
    d[~(d > 1e-150)] = 1.0  # a zero diagonal: singular anyway, decided below
    s = 1.0 / d
    Mp = M * s[:, None] * s[None, :]
    L, info = potrf(Mp, lower=True, clean=False)
    ld = np.diag(L) ** 2 if info == 0 else None
    if ld is None or ld.min() <= 1e-8 * ld.max():
        # not positive definite, or possibly near-singular: decide on the eigenvalues
        w = np.linalg.eigvalsh(Mp)
        if w.size and (w.min() <= max(1e-10 * abs(w.max()), 1e-14)):
            return np.full_like(A, np.nan), False
        Minv = linalg.inv(Mp)
    else:
        inv, info = potri(L, lower=True)
        Minv = sym_from_lower(inv)
    Minv = Minv * s[:, None] * s[None, :]
    if rep._identity:
        return Minv, True
    Kmat = rep.K
    return Kmat @ Minv @ Kmat.T, True


def _unpin(V: np.ndarray, rep) -> np.ndarray:
    """A parameter the constraints pin to a value (its row of K is zero: ``a == 2``, an
    active ``a > 0.7``) has no sampling variance; lavaan's generalised inverse leaves a
    rounding error there and reports the SE as NA. Its row and column are exactly 0 here (so
    that products such as the delta method's stay finite) and its SE is NA."""
    if getattr(rep, "_identity", False) or getattr(rep, "classes", None) is not None:
        return V
    pinned = ~np.any(rep.K != 0, axis=1)
    if pinned.any():  # exactly 0: the estimates table reports a free parameter with variance 0 as NA
        V = V.copy()
        V[pinned, :] = 0.0
        V[:, pinned] = 0.0
    return V


def parameter_vcov(sol, se: str, information: str) -> tuple[np.ndarray | None, bool]:
    """The covariance matrix of the free parameters of a fitted model (a
    :class:`~asymtrust.engine.estimators.base.Solution`), and whether its information
    matrix could be inverted.

    ``se="standard"``: A^-1 / N with A the ``information`` matrix (expected or observed)
    of the family; ``se="robust"``: the Huber-White sandwich A^-1 B A^-1 / N with B the
    first-order information of the case-wise scores; otherwise (bootstrap, none) no
    matrix, but A is still inverted so that a singular information is reported.
    """
    if information == "observed":
        A = sol.E_obs
    else:
        A = sol.family.information(sol.obj, sol.theta, sol.imp, information)
    Ainv, ok = constrained_inverse(A, sol.rep)  # sol.rep: restricted to the active constraints
    if not ok:
        return None, False
    Ainv = _unpin(Ainv, sol.rep)
    if se == "standard":
        return Ainv / sol.N, True
    if se == "robust":
        return (Ainv @ sol.B0 @ Ainv) / sol.N, True
    return None, True
