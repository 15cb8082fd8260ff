"""Objective functions, starting values and the optimiser (pipeline step: model -> estimate).

* ML:   f = sum_g (N_g / 2N) F_g with F_g = log|Sigma| - log|S| + tr(S Sigma^-1) - p
        (+ (ybar - mu)' Sigma^-1 (ybar - mu) with a meanstructure); lavaan's ``fmin``.
* FIML: f = (l1 - l0) / N, the case-wise normal likelihood evaluated pattern by pattern.

Both come with closed-form gradients (:meth:`RamModel.gradient`). The optimiser is
Fisher scoring with step halving (the expected information is cheap for SEM and
converges in a handful of steps from lavaan-style starting values), with a
quasi-Newton (BFGS) fallback. Linear equality constraints are imposed by
reparametrisation, ``theta = theta0 + K z`` with ``K`` a basis of the null space of the
constraint Jacobian, as lavaan does for ``==`` rows.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from ._lapack import chol_inverse, potrf as _potrf, potri as _potri, potrs as _potrs
from scipy.linalg.blas import dsymv as _symv, dsyr2 as _syr2

from .model import Implied, RamModel
from .samplestats import GroupSample, batch_terms


# ----------------------------------------------------------------------------- objective
class Objective:
    """ML or FIML discrepancy of a :class:`RamModel` for given sample statistics."""

    def __init__(self, model: RamModel, samples: list[GroupSample], *, fiml: bool):
        self.model = model
        self.samples = samples
        self.fiml = fiml
        self.N = sum(s.nobs for s in samples)
        self.meanstructure = model.meanstructure
        self.weights = [s.nobs / self.N for s in samples]
        self._logdetS = [s.logdet_cov for s in samples]
        self._ll1 = sum(s.logl_h1 for s in samples)
        self._eye = [np.eye(len(s.cov)) for s in samples]

    # F_g and its Sigma/mu derivatives -------------------------------------------------
    def _group_ml(self, g: int, imp: Implied, need_grad: bool):
        s = self.samples[g]
        sigma = imp.sigma
        # Cholesky and inverse straight from LAPACK (dpotrf/dpotri): these 30 x 30
        # matrices are small enough for the SciPy wrappers' overhead to dominate
        ci = chol_inverse(sigma)
        if ci is None:
            return np.inf, None, None
        Sinv, L = ci
        logdet = 2.0 * np.log(L.diagonal()).sum()
        imp.sigma_inv = Sinv
        imp.logdet = logdet
        p = len(sigma)
        F = logdet - self._logdetS[g] + Sinv.ravel() @ s.cov.ravel() - p
        d = None
        if self.meanstructure:
            d = s.mean - imp.mu
            F += d @ Sinv @ d
        if not need_grad:
            return F, None, None
        w = self.weights[g] / 2.0
        M = s.cov + (np.outer(d, d) if d is not None else 0.0)
        W = w * (Sinv - Sinv @ M @ Sinv)
        gmu = (w * -2.0 * (Sinv @ d)) if d is not None else None
        return F, W, gmu

    def _group_fiml(self, g: int, imp: Implied, need_grad: bool):
        """-2 log-likelihood of one group under FIML, with batched linear algebra over
        the missing-data patterns (patterns with equal numbers of observed variables
        are stacked)."""
        s = self.samples[g]
        sigma, mu = imp.sigma, imp.mu
        p = len(sigma)
        m2ll = 0.0
        Wflat = np.zeros(p * p) if need_grad else None
        gmu = np.zeros(p) if need_grad else None
        for bt in s.batches:
            terms = batch_terms(bt, sigma, mu)
            if terms is None:
                return np.inf, None, None
            Sinv, d, M, part = terms
            oi = bt.obs
            m2ll += part
            if need_grad:
                c = bt.n / (2.0 * self.N)
                Wp = c[:, None, None] * (Sinv - Sinv @ M @ Sinv)
                Wflat += np.bincount(bt.flat.ravel(), weights=Wp.ravel(), minlength=p * p)
                gp = (c * -2.0)[:, None] * np.einsum("bij,bj->bi", Sinv, d)
                gmu += np.bincount(oi.ravel(), weights=gp.ravel(), minlength=p)
        W = Wflat.reshape(p, p) if need_grad else None
        return m2ll, W, gmu

    def evaluate(self, theta: np.ndarray, need_grad: bool = True):
        """Return ``(f, grad, implied)``; ``f = inf`` where Sigma is not positive definite."""
        imp = self.model.implied(theta)
        Ws, gmus = [], []
        total = 0.0
        for g in range(len(self.samples)):
            if self.fiml:
                val, W, gmu = self._group_fiml(g, imp[g], need_grad)
                if not np.isfinite(val):
                    return np.inf, None, imp
                total += val / (2.0 * self.N)
            else:
                val, W, gmu = self._group_ml(g, imp[g], need_grad)
                if not np.isfinite(val):
                    return np.inf, None, imp
                total += self.weights[g] * val / 2.0
            Ws.append(W)
            gmus.append(gmu)
        if self.fiml:
            total += self._ll1 / self.N  # f = (l1 - l0) / N
        grad = self.model.gradient(imp, Ws, gmus) if need_grad else None
        return total, grad, imp

    # information -----------------------------------------------------------------------
    def scoring_information(self, imp: list[Implied]) -> np.ndarray:
        """The metric used by the optimiser: the expected information, except under
        FIML, where the complete-data expected information (one "pattern" holding all
        variables) is used: far cheaper than summing over hundreds of patterns, and
        the quasi-Newton updates correct it near the optimum."""
        return self.expected_information(imp, complete=self.fiml)

    def expected_information(self, imp: list[Implied], delta=None, *, complete: bool = False) -> np.ndarray:
        """Expected (Fisher) information of ``f`` per case, at the structured moments.

        Complete data: sum_g (N_g/N) Delta_g' W_g Delta_g with
        W = Sigma^-1 (+) 1/2 D'(Sigma^-1 x Sigma^-1) D. With missing data the same sum
        runs over the missing-data patterns of the observed sub-vectors. Computed from
        the rank-two factors of Delta (:meth:`RamModel.factors`):
        1/2 tr(P dS_k P dS_l) = m_k m_l [(u_k'P u_l)(v_k'P v_l) + (u_k'P v_l)(v_k'P u_l)].
        """
        K = self.model.n_free
        info = None
        for g, (U, V, mult, dm) in enumerate(self.model.factors(imp, active=True)):
            act = self.model.groups[g].active
            sigma = imp[g].sigma
            blocks = [(None, self.samples[g].nobs)]
            if self.fiml and not complete:
                blocks = [(pt.obs, pt.n) for pt in self.samples[g].patterns]
            # the multipliers folded into U: (m_k u_k)'P(m_l u_l) (v_k'P v_l) carries m_k m_l,
            # and so does (m_k u_k'P v_l)(m_l u_l'P v_k)
            U = U * mult
            part_g = None
            for o, n in blocks:
                if o is None or len(o) == len(sigma):
                    P = imp[g].sigma_inv if imp[g].sigma_inv is not None else np.linalg.inv(sigma)
                    Uo, Vo, dmo = U, V, dm
                else:
                    P = np.linalg.inv(sigma[np.ix_(o, o)])
                    Uo, Vo, dmo = U[o], V[o], dm[o]
                PU = P @ Uo
                UU = Uo.T @ PU
                VV = Vo.T @ (P @ Vo)
                UV = PU.T @ Vo
                part = UU * VV
                part += UV * UV.T
                if self.meanstructure or complete:
                    part += dmo.T @ P @ dmo
                part *= n / self.N
                part_g = part if part_g is None else part_g + part
            if len(act) == K and info is None:
                info = part_g
            else:
                if info is None:
                    info = np.zeros((K, K))
                info[np.ix_(act, act)] += part_g
        return info if info is not None else np.zeros((K, K))


    def observed_information(self, theta: np.ndarray, imp: list[Implied] | None = None, h: float = 1e-6) -> np.ndarray:
        """Observed information (Hessian of ``f``) per case, semi-analytically.

        By the chain rule, with eta = (mu, Sigma) the implied moments,
        Hess f = Delta' H_eta Delta + sum_m (df/deta_m) d^2 eta_m / dtheta dtheta'.
        The first term is computed in closed form from the rank-two factors of Delta,
        pattern by pattern: H_eta is the observed information of the normal
        likelihood at the implied moments, with per pattern
        -1/2 tr(P dS_k P dS_l) + tr(dS_k P dS_l Q) (Q = P M P, M = S_pat + d d') for
        the covariance part, dmu_k' P dS_l P d for the mixed part and dmu_k' P dmu_l
        for the means. The second term is the Jacobian of Delta(theta)' w with the
        weights w held fixed, taken by central differences of the analytic gradient
        map, which needs no pass over the data. This replaces lavaan's numerical
        differentiation of the full gradient (same value, ~1e-9) at a fraction of the
        cost under FIML.
        """
        model = self.model
        imp = imp if imp is not None else model.implied(theta)
        K = model.n_free
        H = np.zeros((K, K))
        Ws, gmus = [], []
        for g, (U, V, mult, dm) in enumerate(model.factors(imp, active=True)):
            act = model.groups[g].active
            Hg = np.zeros((len(act), len(act)))
            sigma, mu = imp[g].sigma, imp[g].mu
            s = self.samples[g]
            if self.fiml:
                blocks = [(pt.obs, pt.n, pt.mean, pt.cov) for pt in s.patterns]
            else:
                p = len(sigma)
                blocks = [(np.arange(p), s.nobs, s.mean if self.meanstructure else mu, s.cov)]
            Wg = np.zeros_like(sigma)
            gm = np.zeros(len(sigma))
            mm = np.outer(mult, mult)
            for o, n, ybar, Spat in blocks:
                full = len(o) == len(sigma)
                So = sigma if full else sigma[np.ix_(o, o)]
                P = np.linalg.inv(So)
                d = ybar - (mu if full else mu[o])
                M = Spat + np.outer(d, d)
                Q = P @ M @ P
                Uo, Vo, Do = (U, V, dm) if full else (U[o], V[o], dm[o])
                PU, PV, QU, QV = P @ Uo, P @ Vo, Q @ Uo, Q @ Vo
                UPU, VPV, UPV = Uo.T @ PU, Vo.T @ PV, Uo.T @ PV
                VPU = UPV.T
                UQU, VQV, UQV = Uo.T @ QU, Vo.T @ QV, Uo.T @ QV
                VQU = UQV.T
                part = mm * (-(UPU * VPV + UPV * UPV.T)
                             + VPU * VQU.T + VPV * UQU.T + UPU * VQV.T + UPV * UQV.T)
                if self.meanstructure or self.fiml:
                    Pd = P @ d
                    DPU, DPV = Do.T @ PU, Do.T @ PV
                    mix = DPU * (Vo.T @ Pd)[None, :] + DPV * (Uo.T @ Pd)[None, :]
                    mix = mix * mult[None, :]
                    part = part + mix + mix.T + Do.T @ P @ Do
                Hg += (n / self.N) * part
                # weights of the gradient map at the solution (for the second-order term)
                c = n / (2.0 * self.N)
                if full:
                    Wg += c * (P - Q)
                    gm += c * -2.0 * (P @ d)
                else:
                    Wg[np.ix_(o, o)] += c * (P - Q)
                    gm[o] += c * -2.0 * (P @ d)
            H[np.ix_(act, act)] += Hg
            Ws.append(Wg)
            gmus.append(gm if (self.meanstructure or self.fiml) else None)
        # second-order term: Jacobian of the gradient map with the weights held fixed. Sigma
        # and mu are linear in the parameters of S and m, so only the columns of the A
        # parameters (paths, loadings) are differenced; the S/m rows follow by symmetry
        nl = np.unique(np.concatenate([gs.a_par for gs in model.groups] + [np.zeros(0, int)])).astype(int)
        Jc = np.zeros((K, len(nl)))
        for i, k in enumerate(nl):
            e = np.zeros(K)
            e[k] = h
            gp = model.gradient(model.implied(theta + e), Ws, gmus)
            gmn = model.gradient(model.implied(theta - e), Ws, gmus)
            Jc[:, i] = (gp - gmn) / (2.0 * h)
        J = np.zeros((K, K))
        J[:, nl] = Jc
        J[nl, :] = Jc.T
        J[np.ix_(nl, nl)] = (Jc[nl] + Jc[nl].T) / 2.0
        Hs = H + J
        return (Hs + Hs.T) / 2.0


# ----------------------------------------------------------------------------- constraints
class Reparam:
    """theta = theta0 + K z: the free parameters under linear equality constraints.

    Equality constraints between parameters (shared labels, ``group.equal``) make K a
    0/1 membership matrix: ``classes[k]`` is the z index of theta_k. That common case is
    handled with gathers and sums instead of dense products; general linear constraints
    use an orthonormal null-space basis.
    """

    def __init__(self, K: np.ndarray | None, theta0: np.ndarray, classes: np.ndarray | None = None):
        self.theta0 = theta0
        self.classes = classes
        if classes is not None:
            self.nz = int(classes.max()) + 1 if classes.size else 0
            self._K = None
            self._identity = bool(self.nz == classes.size and np.all(classes == np.arange(classes.size)))
            from scipy import sparse

            self._Ks = sparse.csr_matrix((np.ones(classes.size), (np.arange(classes.size), classes)),
                                         shape=(classes.size, self.nz))
            self._counts = np.bincount(classes, minlength=self.nz).astype(float)
        else:
            self._K = K
            self.nz = K.shape[1]
            self._identity = False

    @property
    def K(self) -> np.ndarray:
        if self._K is None:
            self._K = self._Ks.toarray()
        return self._K

    def to_theta(self, z: np.ndarray) -> np.ndarray:
        if self.classes is not None:
            return z[self.classes] + self.theta0
        return self.theta0 + self._K @ z

    def to_z(self, theta: np.ndarray) -> np.ndarray:
        if self.classes is not None:
            return np.bincount(self.classes, theta - self.theta0, minlength=self.nz) / self._counts
        return np.linalg.lstsq(self._K, theta - self.theta0, rcond=None)[0]

    def grad(self, g: np.ndarray) -> np.ndarray:
        """K' g."""
        if self._identity:
            return g
        if self.classes is not None:
            return np.bincount(self.classes, g, minlength=self.nz)
        return self._K.T @ g

    def linear_block(self, model: RamModel) -> np.ndarray | None:
        """Indices of ``z`` that move only (co)variance (``S``) and mean parameters, in which
        the implied moments are linear for fixed ``A``; None when ``K`` is a general basis.
        Cached per model."""
        key = id(model.groups[0]) if model.groups else 0
        cached = getattr(self, "_linear_block", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        lin = np.zeros(model.n_free, bool)
        for gs in model.groups:
            lin[gs.s_sym_par] = True
            lin[gs.m_par] = True
        for gs in model.groups:
            lin[gs.a_par] = False
        if self.classes is not None:
            # z_j is linear only if every theta in its class is
            bad = np.bincount(self.classes, ~lin, minlength=self.nz) > 0
            out = np.flatnonzero(~bad)
        else:
            out = None
        self._linear_block = (key, out)
        return out

    def hess(self, H: np.ndarray) -> np.ndarray:
        """K' H K."""
        if self._identity:
            return H
        if self.classes is not None:
            Ks = self._Ks
            return np.asarray(Ks.T @ np.asarray(Ks.T @ H).T)
        return self._K.T @ H @ self._K


def linear_reparam(n_free: int, H: np.ndarray | None, rhs: np.ndarray | None) -> Reparam:
    """Reparametrisation of the linear constraints ``H theta = rhs``.

    Rows of the form theta_i - theta_j = 0 (equalities) give equivalence classes; any
    other constraint switches to the null-space basis of H.
    """
    if H is None or H.size == 0:
        return Reparam(None, np.zeros(n_free), classes=np.arange(n_free))
    simple = np.all(rhs == 0) and all(
        (np.count_nonzero(row) == 2 and sorted(row[row != 0].tolist()) == [-1.0, 1.0]) for row in H)
    if simple:
        parent = list(range(n_free))

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for row in H:
            i, j = np.flatnonzero(row)
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
        roots = np.array([find(a) for a in range(n_free)])
        _, classes = np.unique(roots, return_inverse=True)
        return Reparam(None, np.zeros(n_free), classes=np.asarray(classes).ravel())
    K = linalg.null_space(H)
    theta0 = np.linalg.lstsq(H, rhs, rcond=None)[0]
    K[np.abs(K) < 1e-14] = 0.0
    return Reparam(K, theta0)


class StartPlan:
    """lavaan's default starting values (``R/lav_start.R``, lavaan-parity.md §6), planned once.

    Loadings of a factor measured by observed indicators: lavaan's one-factor starts
    (``lav_cfa_1fac_3ind``/``lav_cfa_1fac_fabin``), see :func:`_factor_loadings`;
    residual variances half the sample variance; latent variances 0.05; regressions and
    covariances 0, except variances and covariances of exogenous observed variables
    (sample values); intercepts at the sample means; user ``start()`` values win. The
    plan (which free parameter gets which rule) depends only on the model, so refits
    only evaluate it on new moments.
    """

    def __init__(self, partable, model: RamModel):
        tab = partable.table
        self.n_free = model.n_free
        ov_pos = {v: i for i, v in enumerate(model.ov_names)}
        lv = set(model.lv_names)
        # the table's columns as arrays: row-wise pandas access cost more than the plan itself
        op, lhs, rhs = (tab[c].to_numpy(dtype=object) for c in ("op", "lhs", "rhs"))
        grp, free, ustart = tab["group"].to_numpy(), tab["free"].to_numpy(), tab["ustart"].to_numpy(dtype=float)
        endo = set(rhs[op == "=~"]) | set(lhs[op == "~"])
        self.const: list[tuple[int, float]] = []  # (k, value)
        self.var_half: list[tuple[int, int, int]] = []  # (k, group, i): 0.5 s_ii
        self.samp: list[tuple[int, int, int, int]] = []  # (k, group, i, j): s_ij
        self.mean: list[tuple[int, int, int]] = []  # (k, group, i)
        # (group, ov idx of the indicators, free k per indicator or -1, std_lv, negative marker)
        self.factors: list[tuple[int, list[int], list[int], bool, bool]] = []
        for g in range(1, model.ngroups + 1):
            ing = grp == g
            load = np.flatnonzero(ing & (op == "=~"))
            handled = set()
            for f in dict.fromkeys(lhs[load]):  # the factors in order of appearance
                block = load[lhs[load] == f]
                inds = list(rhs[block])
                if any(r not in ov_pos for r in inds) or len(inds) < 2:
                    continue
                ks = [int(fr) - 1 if (fr > 0 and not np.isfinite(us)) else -1
                      for fr, us in zip(free[block], ustart[block])]
                # lavaan's std.lv test: the factor variance is fixed at 1
                fvar = ing & (op == "~~") & (lhs == f) & (rhs == f)
                std_lv = bool(fvar.any() and (free[fvar] == 0).all() and (ustart[fvar] == 1).all())
                u0 = ustart[block[0]]
                neg_marker = bool(not std_lv and np.isfinite(u0) and u0 < 0)
                self.factors.append((g - 1, [ov_pos[r] for r in inds], ks, std_lv, neg_marker))
                handled.update(k for k in ks if k >= 0)
            for i in np.flatnonzero(ing & (free > 0)):
                k, o, a, b, us = int(free[i]) - 1, op[i], lhs[i], rhs[i], ustart[i]
                if np.isfinite(us):
                    self.const.append((k, float(us)))
                elif o == "=~":
                    if k not in handled:
                        self.const.append((k, 1.0))
                elif o == "~~":
                    if a == b:
                        if a in lv:
                            self.const.append((k, 0.05))
                        elif a in endo:
                            self.var_half.append((k, g - 1, ov_pos[a]))
                        else:
                            self.samp.append((k, g - 1, ov_pos[a], ov_pos[a]))
                    elif a in ov_pos and b in ov_pos and a not in endo and b not in endo:
                        self.samp.append((k, g - 1, ov_pos[a], ov_pos[b]))
                    else:
                        self.const.append((k, 0.0))
                elif o == "~1":
                    if a in ov_pos:
                        self.mean.append((k, g - 1, ov_pos[a]))
                    else:
                        self.const.append((k, 0.0))
                else:
                    self.const.append((k, 0.0))

    def _arrays(self):
        if not hasattr(self, "_arr"):
            def arr(rows, width):
                return np.array(rows, dtype=float).reshape(-1, width)

            self._arr = (arr(self.const, 2), arr(self.var_half, 3), arr(self.samp, 4), arr(self.mean, 3))
        return self._arr

    def __call__(self, samples: list[GroupSample]) -> np.ndarray:
        theta = np.zeros(self.n_free)
        const, half, samp, mean = self._arrays()
        if len(const):
            theta[const[:, 0].astype(int)] = const[:, 1]
        for g, s in enumerate(samples):
            h = half[half[:, 1] == g].astype(int)
            theta[h[:, 0]] = 0.5 * s.available_var[h[:, 2]]
            c = samp[samp[:, 1] == g].astype(int)
            theta[c[:, 0]] = s.cov[c[:, 2], c[:, 3]]
            m = mean[mean[:, 1] == g].astype(int)
            theta[m[:, 0]] = s.mean[m[:, 2]]
        for g, idx, ks, std_lv, neg_marker in self.factors:
            lam = _factor_loadings(samples[g].cov[np.ix_(idx, idx)], std_lv)
            if neg_marker:
                lam = -lam
            for k, v in zip(ks, lam):
                if k >= 0:
                    theta[k] = v
        return theta


def _factor_loadings(S: np.ndarray, std_lv: bool = False) -> np.ndarray:
    """lavaan's starting loadings of one factor from its indicators' covariance matrix
    ``S`` (the first indicator is the marker), as ``lav_cfa_1fac_3ind`` and
    ``lav_cfa_1fac_fabin`` (method fabin3, bounds on) compute them.

    * 3 indicators: lambda = (1, s32/s31, s32/s21), psi = s21 s31 / s32. With 2 the
      covariance matrix is first completed to 3 x 3 as lavaan does: the third
      "indicator" has covariance mean(diag S) with the marker, s21 with the second and
      variance max(diag S). A negative triad (s21 s31 s32 < 0) gives all ones (0.7
      under std.lv).
    * 4 or more: FABIN3, lambda_i = (s_i3' a) / (s_13' a) with a = S33^-1 s_31 and the
      other non-marker indicators as instruments, solved for all indicators in one
      batched call (FABIN2's ratio where S33 is singular); psi by least squares.
    * Bounds: psi in [0.1 s11, s11], |lambda_i| <= sqrt(s_ii / (0.1 s11)).
    * std.lv: lambda * sign(psi) sqrt(|psi|). Non-finite values become 1.
    """
    n = len(S)  # >= 2: single-indicator factors keep the default start of 1
    s11 = float(S[0, 0])
    lower = 0.1 * s11
    neg_triad = False
    if n < 4:  # scalar arithmetic in Python floats: far cheaper than NumPy at this size
        if n == 2:
            t21, t22 = float(S[1, 0]), float(S[1, 1])
            t31, t32, t33 = (float(S[0, 0]) + t22) / 2.0, t21, max(float(S[0, 0]), t22)
        else:
            t21, t22, t31, t32, t33 = (float(S[1, 0]), float(S[1, 1]), float(S[2, 0]), float(S[2, 1]),
                                       float(S[2, 2]))
        neg_triad = t21 * t31 * t32 < 0

        def ratio(a, b):
            return a / b if b != 0 else (math.copysign(math.inf, a) if a != 0 else math.nan)

        psi = ratio(t21 * t31, t32)
        if not math.isnan(psi):
            psi = min(max(psi, lower), s11)
        lams = [1.0]
        # a negative variance (a two-level between block's start moments) gives a NaN bound and
        # so the default loading 1, as np.clip does in the branch below
        bounds = (tuple(math.sqrt(t / lower) if t >= 0 else math.nan for t in (t22, t33)) if lower > 0
                  else (math.inf, math.inf))
        for r, bound in zip((ratio(t32, t31), ratio(t32, t21)), bounds):
            lams.append(math.nan if math.isnan(bound) else r if math.isnan(r) else min(max(r, -bound), bound))
        lam = np.array(lams[:n])
    else:
        R = np.array([[j for j in range(1, n) if j != i] for i in range(1, n)])
        s13 = S[R, 0]
        try:
            a = np.linalg.solve(S[R[:, :, None], R[:, None, :]], s13[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular block: one by one, FABIN2 where singular
            a = np.empty(R.shape)
            for r in range(len(R)):
                try:
                    a[r] = np.linalg.solve(S[np.ix_(R[r], R[r])], s13[r])
                except np.linalg.LinAlgError:
                    a[r] = s13[r]
        with np.errstate(invalid="ignore", divide="ignore"):
            lam = np.concatenate(([1.0], np.einsum("tr,tr->t", S[np.arange(1, n)[:, None], R], a)
                                  / np.einsum("tr,tr->t", s13, a)))
            bound = np.sqrt(np.diag(S)[1:] / lower)
        lam[1:] = np.clip(lam[1:], -bound, bound)
        psi = np.nan
        if std_lv:  # residual variances and psi by least squares (W = I), as lavaan
            with np.errstate(invalid="ignore", divide="ignore"):
                d = np.outer(lam, lam) / (lam @ lam)
                theta_res = np.linalg.solve(np.eye(n) - d * d, np.diag(S - d @ S @ d))
                psi = lam @ (S - np.diag(theta_res)) @ lam / (lam @ lam) ** 2
    if std_lv:
        lam = lam * np.sign(psi) * np.sqrt(abs(psi))
    lam = np.where(np.isfinite(lam), lam, 1.0)
    if neg_triad:
        lam = np.full(n, 0.7 if std_lv else 1.0)
    return lam


# ----------------------------------------------------------------------------- optimiser
@dataclass
class OptimResult:
    theta: np.ndarray
    fmin: float
    grad: np.ndarray
    converged: bool
    iterations: int
    method: str
    message: str
    implied: list | None = None  # implied moments at ``theta`` (saves the caller one evaluation)


def optimise(obj: Objective, rep: Reparam, theta_start: np.ndarray, *, max_iter: int = 500,
             gtol: float = 1e-7, info0: np.ndarray | None = None) -> OptimResult:
    """See :func:`_optimise`; ill-conditioning is judged by the result (SEs, warnings),
    so SciPy's per-solve ill-conditioning warnings are silenced here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return _optimise(obj, rep, theta_start, max_iter=max_iter, gtol=gtol, info0=info0)


class _Metric:
    """The optimiser's metric in z: the scoring information ``H`` (its upper Cholesky
    factor ``chol``, reused between refreshes: chord steps), and in the BFGS phase the
    upper triangle of an inverse-Hessian approximation ``Hinv``.

    ``fixed``: a warm start's metric (the original fit's information), kept until a
    line search fails. ``ratio``: max|g| after the last step over max|g| before it.
    ``slow``: consecutive slow (linearly converging) scoring steps; two switch to BFGS.
    """

    __slots__ = ("H", "chol", "Hinv", "bfgs", "fixed", "ratio", "slow")

    def __init__(self, info0: np.ndarray | None):
        self.fixed = info0 is not None
        self.H = (info0 + info0.T) / 2.0 if self.fixed else None
        self.chol = self.Hinv = None
        self.bfgs = False
        self.ratio = 1.0
        self.slow = 0

    def reset(self) -> None:
        self.H = self.chol = self.Hinv = None

    def direction(self, obj: Objective, rep: Reparam, imp, gz: np.ndarray, gmax: float):
        """The step in z and its slope g'step; steepest descent when the metric gives
        no descent direction (the metric is then rebuilt)."""
        # Fisher scoring: refresh the information while far from the optimum; near it the
        # information hardly changes, so its Cholesky factor is reused (chord steps)
        if self.fixed:
            refresh = self.H is None or self.ratio > 0.5
        else:
            refresh = self.H is None or (not self.bfgs and (gmax > 1e-2 or self.chol is None or self.ratio > 0.5))
        if refresh:
            # symmetric up to rounding; the Cholesky routines read only its upper triangle
            self.H = rep.hess(obj.scoring_information(imp))
            self.chol = None
        step = None
        if self.chol is None:
            c, info = _potrf(self.H, lower=False, clean=False)
            self.chol = c if info == 0 else None
        if self.bfgs and self.Hinv is None and self.chol is not None:
            # only the upper triangle of Hinv is kept: BLAS dsymv/dsyr2 read and update it
            inv, info = _potri(self.chol, lower=False)
            self.Hinv = inv if info == 0 else None
        if self.bfgs and self.Hinv is not None:
            step = -_symv(1.0, self.Hinv, gz)
        elif self.chol is not None:
            x, info = _potrs(self.chol, gz, lower=False)
            step = -x if info == 0 else None
        slope = gz @ step if step is not None else np.nan
        if not np.isfinite(slope) or slope >= 0:
            step, slope = -gz, -(gz @ gz)
            self.reset()
        return step, slope

    def update(self, s_vec: np.ndarray, gz: np.ndarray, gz_new: np.ndarray, gmax: float, gmax_new: float) -> None:
        """After an accepted step ``s_vec``: the gradient ratio, the switch to BFGS after
        two slow scoring steps, and in the BFGS phase the inverse update."""
        self.ratio = gmax_new / gmax if gmax > 0 else 0.0
        if not self.bfgs:
            self.slow = self.slow + 1 if (gmax_new < 1e-2 and gmax_new > 0.1 * gmax) else 0
            if self.slow >= 2:
                self.bfgs = True  # linear convergence: let BFGS updates add the missing curvature
        elif self.Hinv is not None:
            # inverse BFGS update: no solve per step
            y_vec = gz_new - gz
            sy = s_vec @ y_vec
            if sy > 1e-12 * np.linalg.norm(s_vec) * np.linalg.norm(y_vec):
                # H+ = H + c s s' - (h s' + s h'), h = H y / sy: in place as the symmetric
                # rank-two update s u' + u s' with u = c/2 s - h
                h = _symv(1.0 / sy, self.Hinv, y_vec)
                c = (sy + y_vec @ h * sy) / sy ** 2
                self.Hinv = _syr2(1.0, s_vec, 0.5 * c * s_vec - h, a=self.Hinv, overwrite_a=True)
            else:
                self.reset()  # restart from the expected information


def _optimise(obj: Objective, rep: Reparam, theta_start: np.ndarray, *, max_iter: int = 500,
              gtol: float = 1e-8, info0: np.ndarray | None = None) -> OptimResult:
    """Minimise ``obj`` over ``z`` (theta = theta0 + K z).

    Fisher scoring with step halving: each step solves with the expected information,
    which is cheap for SEM and, for a model that fits, converges in 10-20 steps from
    lavaan-style starting values. When the model misfits, the expected information
    misses part of the curvature and scoring slows to a linear rate; the optimiser
    then switches to BFGS updates started from the current expected information,
    which restores superlinear convergence (:class:`_Metric`). A failed line search
    resets the approximation to the expected information.

    "Converged" means, as in lavaan, that the iterations stopped normally and
    max |grad f| <= 1e-3; we iterate to a far tighter gradient so that estimates
    are reproducible to ~1e-8.
    """
    z = rep.to_z(theta_start)
    f, g, imp = obj.evaluate(rep.to_theta(z))
    if not np.isfinite(f):
        return _bfgs(obj, rep, z, note="non-finite objective at the starting values")
    gz = rep.grad(g)
    gmax = np.max(np.abs(gz))
    t_last = 1.0
    # a warm start (bootstrap, Monte Carlo) may pass the information of the original fit:
    # chord steps with it need no information matrix per iteration
    m = _Metric(info0)
    if not m.fixed:
        z, f, g, gz, gmax, imp = _variance_step(obj, rep, z, f, g, gz, gmax, imp)
    for it in range(1, max_iter + 1):
        if gmax < gtol:
            return OptimResult(rep.to_theta(z), f, g, True, it, "fisher-scoring" if not m.bfgs else "fisher+bfgs",
                               "converged", imp)
        step, slope = m.direction(obj, rep, imp, gz, gmax)
        # step halving; after a damped step the next trial starts at twice the last
        # accepted length (far from the optimum full steps keep overshooting)
        accepted, t, z_new, f_new, g_new, imp_new = _halving(obj, rep, z, f, step, slope, min(1.0, 2.0 * t_last))
        t_last = t if accepted else 1.0
        if not accepted:
            if m.fixed:  # the warm start's metric failed: continue with fresh information
                m.fixed, m.H, m.chol = False, None, None
                continue
            if gmax < 1e-6:
                return OptimResult(rep.to_theta(z), f, g, True, it, "fisher-scoring", "converged (numerical precision)", imp)
            if m.bfgs:
                m.bfgs = False
                m.reset()
                continue
            break
        gz_new = rep.grad(g_new)
        gmax_new = np.max(np.abs(gz_new))
        m.update(z_new - z, gz, gz_new, gmax, gmax_new)
        if abs(f - f_new) < 1e-15 * max(1.0, abs(f)) and gmax_new < 1e-6:
            return OptimResult(rep.to_theta(z_new), f_new, g_new, True, it, "fisher-scoring", "converged (no further decrease)", imp_new)
        z, f, g, gz, gmax, imp = z_new, f_new, g_new, gz_new, gmax_new, imp_new
    return _bfgs(obj, rep, z, note="scoring iterations stalled")


def _halving(obj: Objective, rep: Reparam, z: np.ndarray, f: float, step: np.ndarray, slope: float, t: float):
    """Step halving from length ``t`` until the Armijo condition holds (at most 40 trials).
    Returns ``(accepted, t, z_new, f_new, g_new, implied_new)``."""
    for _ in range(40):
        z_new = z + t * step
        f_new, g_new, imp_new = obj.evaluate(rep.to_theta(z_new))
        if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
            return True, t, z_new, f_new, g_new, imp_new
        t /= 2.0
    return False, t, z_new, f_new, g_new, imp_new


def _variance_step(obj: Objective, rep: Reparam, z, f, g, gz, gmax, imp):
    """One scoring step in the (co)variance and mean parameters alone, before full scoring.

    lavaan's starting values put latent variances at 0.05, far below their optimum.
    There the derivative of Sigma with respect to a loading or regression weight is
    scaled by that small variance, so a full Fisher step makes large moves in those
    parameters and overshoots. Its first accepted steps then only halve the distance
    to the optimum. Sigma is linear in the variance parameters (entries of ``S``) and mu
    in the means when ``A`` is held fixed. One Gauss-Newton step in that block
    therefore brings the variances to the right scale. On fig1 it removes six of the
    fifteen iterations. The starting values themselves stay lavaan's.

    Returns the (possibly unchanged) state ``(z, f, g, gz, gmax, implied)``."""
    sel = rep.linear_block(obj.model)
    if sel is None or sel.size == 0 or sel.size == rep.nz:
        return z, f, g, gz, gmax, imp
    H = rep.hess(obj.scoring_information(imp))[np.ix_(sel, sel)]
    c, info = _potrf(H, lower=False, clean=False)
    if info != 0:
        return z, f, g, gz, gmax, imp
    x, info = _potrs(c, gz[sel], lower=False)
    if info != 0 or not np.all(np.isfinite(x)):
        return z, f, g, gz, gmax, imp
    step = np.zeros_like(z)
    step[sel] = -x
    slope = gz @ step
    if not slope < 0:
        return z, f, g, gz, gmax, imp
    ok, _, z_new, f_new, g_new, imp_new = _halving(obj, rep, z, f, step, slope, 1.0)
    if not ok:
        return z, f, g, gz, gmax, imp
    gz_new = rep.grad(g_new)
    return z_new, f_new, g_new, gz_new, np.max(np.abs(gz_new)), imp_new


def _bfgs(obj: Objective, rep: Reparam, z0: np.ndarray, note: str) -> OptimResult:
    def fun(z):
        f, g, _ = obj.evaluate(rep.to_theta(z))
        if not np.isfinite(f):
            return 1e10, np.zeros_like(z)
        return f, rep.grad(g)

    from scipy import optimize  # the fallback is rare; keep scipy.optimize out of `import asymtrust`

    r = optimize.minimize(fun, z0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 10000})
    theta = rep.to_theta(r.x)
    f, g, imp = obj.evaluate(theta)
    gz = rep.grad(g) if g is not None else np.full(len(z0), np.inf)
    ok = bool(np.isfinite(f) and np.max(np.abs(gz)) <= 1e-3)
    return OptimResult(theta, f, g if g is not None else np.full(obj.model.n_free, np.nan), ok,
                       int(r.nit), "bfgs", f"{note}; {r.message}", imp if np.isfinite(f) else None)
