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

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from .model import Implied, RamModel
from .samplestats import LOG2PI, GroupSample


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

    # F_g and its Sigma/mu derivatives -------------------------------------------------
    def _group_ml(self, g: int, imp: Implied, need_grad: bool):
        s = self.samples[g]
        sigma = imp.sigma
        try:
            L = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return np.inf, None, None
        logdet = 2.0 * np.log(np.diag(L)).sum()
        Sinv = linalg.cho_solve((L, True), np.eye(len(sigma)))
        p = len(sigma)
        F = logdet - self._logdetS[g] + np.sum(Sinv * s.cov) - p
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
        s = self.samples[g]
        p = len(imp.sigma)
        m2ll = 0.0  # -2 loglik
        W = np.zeros((p, p)) if need_grad else None
        gmu = np.zeros(p) if need_grad else None
        for pt in s.patterns:
            o = pt.obs
            So = imp.sigma[np.ix_(o, o)]
            try:
                L = np.linalg.cholesky(So)
            except np.linalg.LinAlgError:
                return np.inf, None, None
            logdet = 2.0 * np.log(np.diag(L)).sum()
            Sinv = linalg.cho_solve((L, True), np.eye(len(o)))
            d = pt.mean - imp.mu[o]
            M = pt.cov + np.outer(d, d)
            m2ll += pt.n * (len(o) * LOG2PI + logdet + np.sum(Sinv * M))
            if need_grad:
                c = pt.n / (2.0 * self.N)
                W[np.ix_(o, o)] += c * (Sinv - Sinv @ M @ Sinv)
                gmu[o] += c * -2.0 * (Sinv @ d)
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
    def expected_information(self, imp: list[Implied], delta=None) -> np.ndarray:
        """Expected (Fisher) information of ``f`` per case, at the structured moments.

        Complete data: sum_g (N_g/N) Delta_g' W_g Delta_g with
        W = Sigma^-1 (+) 1/2 D'(Sigma^-1 x Sigma^-1) D. With missing data the same sum
        runs over the missing-data patterns of the observed sub-vectors.
        """
        delta = delta if delta is not None else self.model.delta(imp)
        K = self.model.n_free
        info = np.zeros((K, K))
        for g, (dS, dm) in enumerate(delta):
            sigma = imp[g].sigma
            blocks = [(np.arange(len(sigma)), self.samples[g].nobs)]
            if self.fiml:
                blocks = [(pt.obs, pt.n) for pt in self.samples[g].patterns]
            for o, n in blocks:
                Sinv = np.linalg.inv(sigma[np.ix_(o, o)])
                dSo = dS[:, o][:, :, o]
                Mk = np.einsum("ij,kjl->kil", Sinv, dSo)
                part = 0.5 * np.einsum("kij,lji->kl", Mk, Mk)
                if self.meanstructure:
                    dmo = dm[:, o]
                    part = part + dmo @ Sinv @ dmo.T
                info += (n / self.N) * part
        return info


# ----------------------------------------------------------------------------- constraints
@dataclass
class Reparam:
    """theta = theta0 + K z."""

    K: np.ndarray
    theta0: np.ndarray

    def to_theta(self, z: np.ndarray) -> np.ndarray:
        return self.theta0 + self.K @ z

    def to_z(self, theta: np.ndarray) -> np.ndarray:
        return np.linalg.lstsq(self.K, theta - self.theta0, rcond=None)[0]


def linear_reparam(n_free: int, H: np.ndarray | None, rhs: np.ndarray | None) -> Reparam:
    """Null-space reparametrisation of the linear constraints ``H theta = rhs``."""
    if H is None or H.size == 0:
        return Reparam(K=np.eye(n_free), theta0=np.zeros(n_free))
    K = linalg.null_space(H)
    theta0 = np.linalg.lstsq(H, rhs, rcond=None)[0]
    # tidy numerically tiny entries so equal-label constraints give exact 0/1 structure
    K[np.abs(K) < 1e-14] = 0.0
    return Reparam(K=K, theta0=theta0)


# ----------------------------------------------------------------------------- starting values
def start_values(partable, model: RamModel, samples: list[GroupSample]) -> np.ndarray:
    """lavaan's default starting values (``R/lav_start.R``, described in lavaan-parity.md §6).

    Marker loadings 1, other loadings by the 3-indicator rule or FABIN3 (clipped),
    residual variances half the sample variance, latent variances 0.05, regressions
    and covariances 0, intercepts at the sample means; user ``start()`` values win.
    """
    tab = partable.table
    theta = np.zeros(model.n_free)
    ov_pos = {v: i for i, v in enumerate(model.ov_names)}
    lv = set(model.lv_names)
    endo = set(tab.loc[tab["op"] == "=~", "rhs"]) | set(tab.loc[tab["op"] == "~", "lhs"])
    for g, s in enumerate(samples, start=1):
        S = s.cov
        rows = tab[(tab["group"] == g) & (tab["free"] > 0)]
        load = tab[(tab["group"] == g) & (tab["op"] == "=~")]
        fabin: dict[tuple[str, str], float] = {}
        for f, block in load.groupby("lhs", sort=False):
            inds = [r for r in block["rhs"] if r in ov_pos]
            if len(inds) != len(block) or len(inds) < 2:
                continue
            idx = [ov_pos[v] for v in inds]
            marker = idx[0]
            others = idx[1:]
            for k, i in enumerate(others):
                if len(idx) == 3:
                    s21, s31, s32 = S[idx[1], idx[0]], S[idx[2], idx[0]], S[idx[2], idx[1]]
                    lam = (s32 / s31 if k == 0 else s32 / s21) if (s31 != 0 and s21 != 0) else 1.0
                elif len(idx) >= 4:
                    R = [j for j in others if j != i]
                    SRR = S[np.ix_(R, R)]
                    try:
                        a = np.linalg.solve(SRR, S[R, marker])
                        lam = (S[i, R] @ a) / (S[marker, R] @ a)
                    except np.linalg.LinAlgError:
                        lam = 1.0
                else:
                    lam = 1.0
                bound = np.sqrt(S[i, i] / (0.1 * S[marker, marker])) if S[marker, marker] > 0 else np.inf
                if np.isfinite(lam):
                    fabin[(f, model.ov_names[i])] = float(np.clip(lam, -bound, bound))
        for r in rows.itertuples(index=False):
            k = int(r.free) - 1
            if np.isfinite(r.ustart):
                theta[k] = r.ustart
                continue
            if r.op == "=~":
                theta[k] = fabin.get((r.lhs, r.rhs), 1.0)
            elif r.op == "~~":
                if r.lhs == r.rhs:
                    if r.lhs in lv:
                        theta[k] = 0.05
                    else:
                        i = ov_pos[r.lhs]
                        theta[k] = 0.5 * S[i, i] if r.lhs in endo else S[i, i]
                elif r.lhs in ov_pos and r.rhs in ov_pos and r.lhs not in endo and r.rhs not in endo:
                    # covariances between exogenous observed variables start at the sample value
                    theta[k] = S[ov_pos[r.lhs], ov_pos[r.rhs]]
                else:
                    theta[k] = 0.0
            elif r.op == "~1":
                theta[k] = s.mean[ov_pos[r.lhs]] if r.lhs in ov_pos else 0.0
            else:
                theta[k] = 0.0
    return theta


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


def optimise(obj: Objective, rep: Reparam, theta_start: np.ndarray, *, max_iter: int = 500,
             gtol: float = 1e-9) -> OptimResult:
    """Minimise ``obj`` over ``z`` (theta = theta0 + K z).

    Quasi-Newton iterations whose Hessian approximation starts at, and is
    periodically reset to, the expected (Fisher) information, with BFGS updates in
    between. Early iterations are therefore Fisher scoring (robust far from the
    optimum); near the optimum the BFGS updates supply the curvature that the
    expected information misses when the model does not fit exactly, giving
    superlinear convergence. Step halving keeps every step a descent step.

    "Converged" means, as in lavaan, that the iterations stopped normally and
    max |grad f| <= 1e-3; we iterate to a far tighter gradient so that estimates
    are reproducible to ~1e-8.
    """
    K = rep.K
    z = rep.to_z(theta_start)
    f, g, imp = obj.evaluate(rep.to_theta(z))
    if not np.isfinite(f):
        return _bfgs(obj, rep, z, note="non-finite objective at the starting values")
    gz = K.T @ g
    H = None
    it = 0
    for it in range(1, max_iter + 1):
        if np.max(np.abs(gz)) < gtol:
            return OptimResult(rep.to_theta(z), f, g, True, it, "quasi-newton", "converged")
        if H is None:
            H = K.T @ obj.expected_information(imp) @ K
            H = (H + H.T) / 2.0
        try:
            step = -linalg.solve(H, gz, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            H = None
            step = -gz
        slope = gz @ step
        if slope >= 0:  # not a descent direction: reset to the Fisher information / gradient
            H = None
            step, slope = -gz, -(gz @ gz)
        t = 1.0
        accepted = False
        for _ in range(40):
            z_new = z + t * step
            f_new, g_new, imp_new = obj.evaluate(rep.to_theta(z_new))
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
                accepted = True
                break
            t /= 2.0
        if not accepted:
            if np.max(np.abs(gz)) < 1e-6:
                return OptimResult(rep.to_theta(z), f, g, True, it, "quasi-newton", "converged (numerical precision)")
            if H is not None:
                H = None
                continue
            break
        gz_new = K.T @ g_new
        s_vec = z_new - z
        y_vec = gz_new - gz
        sy = s_vec @ y_vec
        if H is not None and sy > 1e-12 * np.linalg.norm(s_vec) * np.linalg.norm(y_vec):
            Hs = H @ s_vec
            H = H - np.outer(Hs, Hs) / (s_vec @ Hs) + np.outer(y_vec, y_vec) / sy
        else:
            H = None
        if abs(f - f_new) < 1e-15 * max(1.0, abs(f)) and np.max(np.abs(gz_new)) < 1e-6:
            return OptimResult(rep.to_theta(z_new), f_new, g_new, True, it, "quasi-newton", "converged (no further decrease)")
        z, f, g, gz, imp = z_new, f_new, g_new, gz_new, imp_new
    return _bfgs(obj, rep, z, note="quasi-newton iterations stalled")


def _bfgs(obj: Objective, rep: Reparam, z0: np.ndarray, note: str) -> OptimResult:
    K = rep.K

    def fun(z):
        f, g, _ = obj.evaluate(rep.to_theta(z))
        if not np.isfinite(f):
            return 1e10, np.zeros_like(z)
        return f, K.T @ g

    r = optimize.minimize(fun, z0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 10000})
    theta = rep.to_theta(r.x)
    f, g, _ = obj.evaluate(theta)
    gz = K.T @ g if g is not None else np.full(len(z0), np.inf)
    ok = bool(np.isfinite(f) and np.max(np.abs(gz)) <= 1e-3)
    return OptimResult(theta, f, g if g is not None else np.full(obj.model.n_free, np.nan), ok,
                       int(r.nit), "bfgs", f"{note}; {r.message}")
