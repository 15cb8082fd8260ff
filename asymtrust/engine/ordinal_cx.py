"""The first stage of ordered items given exogenous covariates (lavaan's ``conditional.x``).

With observed exogenous covariates x (fixed.x) and ordered endogenous items, lavaan fits the
model to the distribution of the endogenous variables given x (``muthen1984`` with eXo):

1. **univariate regressions** (lavaan's ``lav_samplestats_step1``): per ordered item a probit
   regression, P(y = a | x) = Phi(tau_a - x'beta) - Phi(tau_a-1 - x'beta) (``lav_uvord_fit``;
   ML by Newton's method on the analytic Hessian, which is concave); per continuous variable
   a linear regression with its residual variance (divisor n, ``lav_uvreg_fit``);
2. **residual correlations** by two-step ML with the univariate estimates fixed: polychoric
   (``lav_bvord_cor_twostep_fit`` with eXo: per row the bivariate-normal rectangle with
   limits tau - x'beta, rows whose probability is below sqrt(eps) left out as lavaan),
   polyserial (``lav_bvmix``) and Pearson (``lav_bvreg``) correlations of the residuals;
   no zero-cell rule (lavaan applies it to tables, which a model with x does not have);
3. **NACOV** of (thresholds and -intercepts, slopes, residual variances, correlations),
   N B^-1 (S'S) B^-T as :func:`asymtrust.engine.ordinal.muthen_nacov`, the univariate
   blocks now holding each variable's thresholds, slopes and variance together, and
   lavaan's H from correlations to covariances for continuous variables.

The slopes are stored as lavaan's ``vec(SLOPES)``: for each covariate, every endogenous
variable in turn. Missing answers (``missing="pairwise"``): each regression on the rows
that answer it, each correlation on the pair's rows, scores of a missing answer zero; rows
with a missing covariate are dropped before (:mod:`asymtrust.engine.estimators.dwls`).
All pairs of ordered items are fitted at once (arrays pairs x rows, in chunks); between
Newton steps Sheppard's integral is carried from the old correlation to the new one.

The model side (:func:`reduced_form`, :func:`reduced_chain`, :func:`reduced_delta`, used by
:class:`asymtrust.engine.estimators.dwls.OrdinalObjective`): the implied statistics are the
reduced form of the RAM model's Sigma and mu with the covariates' moments fixed,
PI = Sigma_yx Sigma_xx^-1, the residual covariance Sigma_yy - PI Sigma_xy and the intercepts
mu_y - PI mu_x (lavaan's ``computePI``, ``computeSigmaHat`` and ``computeTH`` with
conditional.x), with their gradients and Jacobians.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from ..exceptions import DataError
from .ordinal import (FirstStage, _crossprod, _mix_scores, _pearson_ml, _polyserial, _reg_scores, _start_rho,
                      bvn_cdf, bvn_pdf, covariance_metric, gauss_legendre, influence, ordinal_codes, pair_index)

_TINY = np.sqrt(np.finfo(float).eps)  # lavaan: a row's likelihood below this is left out
_CHUNK = 400_000  # pairs x rows per block of the vectorised polychoric fit
_GL_ORDER = {n: np.polynomial.legendre.leggauss(n) for n in (3, 4, 6, 12, 20)}
#: Gauss-Legendre order by the length of the interval in asin(rho): Genz's (BVND) 6, 12, 20
#: for [0, asin 0.3], [0, asin 0.75] and beyond; 3 and 4 nodes for a Newton step's short interval
_GL_SPANS = ((0.01, 3), (0.05, 4), (0.305, 6), (0.848, 12), (np.inf, 20))


# ----------------------------------------------------------------------------- univariate
def _phi(z: np.ndarray) -> np.ndarray:
    """The standard normal density, 0 at an infinite argument."""
    fin = np.isfinite(z)
    zz = np.where(fin, z, 0.0)
    return np.where(fin, np.exp(-zz * zz / 2.0) / np.sqrt(2.0 * np.pi), 0.0)


def _interval_prob(z1: np.ndarray, z2: np.ndarray) -> np.ndarray:
    """Phi(z1) - Phi(z2), from the upper tails where both are large (as lavaan)."""
    return np.where(z2 > 1.0, special.ndtr(-z2) - special.ndtr(-z1), special.ndtr(z1) - special.ndtr(z2))


def _probit_limits(a: np.ndarray, tau: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row the upper and lower limits tau_a - eta, tau_a-1 - eta (codes a = 0..K-1)."""
    lim = np.concatenate(([-np.inf], tau, [np.inf]))
    return lim[a + 1] - eta, lim[a] - eta


def _probit_parts(a, X, theta, nth):
    """Limits, probabilities and the case-wise scores (n x (nth + nx)) of an ordinal probit."""
    tau, beta = theta[:nth], theta[nth:]
    eta = X @ beta
    z1, z2 = _probit_limits(a, tau, eta)
    p = np.maximum(_interval_prob(z1, z2), 1e-300)
    f1, f2 = _phi(z1), _phi(z2)
    n = len(a)
    S = np.zeros((n, nth + X.shape[1]))
    rows = np.arange(n)
    up, lo = a < nth, a > 0
    S[rows[up], a[up]] += f1[up] / p[up]
    S[rows[lo], a[lo] - 1] -= f2[lo] / p[lo]
    S[:, nth:] = -X * ((f1 - f2) / p)[:, None]
    return z1, z2, p, f1, f2, S


def probit_fit(codes: np.ndarray, K: int, X: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """ML thresholds and slopes of an ordinal probit regression (``lav_uvord_fit``) on the
    answered rows, and the case-wise scores (rows x (K-1+nx), zero where unanswered)."""
    ok = codes >= 0
    a, Xo = codes[ok], X[ok]
    nth, nx = K - 1, X.shape[1]
    prop = np.bincount(a, minlength=K)[:K] / len(a)
    theta = np.concatenate((special.ndtri(np.cumsum(prop)[:-1]), np.zeros(nx)))

    def loglik(t):
        if nth > 1 and np.any(np.diff(t[:nth]) <= 0):
            return -np.inf
        z1, z2 = _probit_limits(a, t[:nth], Xo @ t[nth:])
        return float(np.sum(np.log(np.maximum(_interval_prob(z1, z2), 1e-300))))

    ll = loglik(theta)
    rows = np.arange(len(a))
    for _ in range(200):
        z1, z2, p, f1, f2, S = _probit_parts(a, Xo, theta, nth)
        # the Hessian: sum_i (g1 A1'A1 - g2 A2'A2) / p_i - S'S, g = -z phi(z), A the designs of z1, z2
        g1 = np.where(np.isfinite(z1), -np.where(np.isfinite(z1), z1, 0.0) * f1, 0.0) / p
        g2 = np.where(np.isfinite(z2), -np.where(np.isfinite(z2), z2, 0.0) * f2, 0.0) / p
        A1 = np.zeros((len(a), nth + nx))
        A2 = np.zeros((len(a), nth + nx))
        up, lo = a < nth, a > 0
        A1[rows[up], a[up]] = 1.0
        A2[rows[lo], a[lo] - 1] = 1.0
        A1[:, nth:] = A2[:, nth:] = -Xo
        H = (A1 * g1[:, None]).T @ A1 - (A2 * g2[:, None]).T @ A2 - S.T @ S
        grad = S.sum(axis=0)
        step = -np.linalg.solve(H, grad)
        t = 1.0
        while t > 1e-8:
            new = theta + t * step
            lnew = loglik(new)
            if lnew >= ll - 1e-12 * abs(ll):
                break
            t /= 2.0
        theta, ll = new, lnew
        if np.max(np.abs(t * step)) < 1e-10:
            break
    else:  # the likelihood is concave, but its maximum is infinite under separation
        raise DataError(f"the probit regression of ordered item {name!r} on the covariates did not converge "
                        "(a category may be empty at some covariate values: perfect separation)")
    if not np.all(np.isfinite(theta)):
        raise DataError(f"the probit regression of ordered item {name!r} failed; the covariates may not be of "
                        "full rank")
    S_all = np.zeros((len(codes), nth + nx))
    S_all[ok] = _probit_parts(a, Xo, theta, nth)[5]
    return theta, S_all


def linear_fit(y: np.ndarray, X: np.ndarray, name: str) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """OLS intercept and slopes with the residual variance (divisor n) of the answered rows
    (``lav_uvreg_fit``); the fitted values of every row and the case-wise scores of
    (intercept, slopes, variance), zero where unanswered."""
    ok = ~np.isnan(y)
    X1 = np.column_stack((np.ones(len(y)), X))
    beta, *_ = np.linalg.lstsq(X1[ok], y[ok], rcond=None)
    if not np.all(np.isfinite(beta)):
        raise DataError(f"the linear regression of {name!r} on the covariates failed")
    yhat = X1 @ beta
    res = np.where(ok, y - yhat, 0.0)
    var = float(res @ res / ok.sum())
    S = np.column_stack((X1 * (res / var)[:, None], -1.0 / (2 * var) + res * res / (2 * var * var)))
    S[~ok] = 0.0
    return beta, var, yhat, S


# ----------------------------------------------------------------------------- polychoric given x
def _rect(fn, u1, l1, u2, l2, rho):
    """fn on the four corners of each row's rectangle: F(u1,u2) - F(l1,u2) - F(u1,l2) + F(l1,l2)."""
    return fn(u1, u2, rho) - fn(l1, u2, rho) - fn(u1, l2, rho) + fn(l1, l2, rho)


class _Rectangles:
    """The rectangles of every row of every pair (arrays pairs x rows of limits) for Phi2 at
    changing rho: what does not depend on rho (the corners with an infinite limit, the
    products Phi(x)Phi(y), the quadratic terms) is computed once; Sheppard's integral is
    carried from one rho to the next by Gauss-Legendre on [asin rho_old, asin rho_new]
    (Genz's orders by the interval's length), so that a Newton step costs one short
    quadrature per finite corner. Correlations of 0.925 or more in absolute value take the
    full computation (:func:`bvn_cdf`)."""

    def __init__(self, U1, L1, U2, L2):
        self.limits = (U1, L1, U2, L2)
        self.corners = []
        for sign, x, y in ((1.0, U1, U2), (-1.0, L1, U2), (-1.0, U1, L2), (1.0, L1, L2)):
            fin = np.isfinite(x) & np.isfinite(y)
            base = np.where(np.isneginf(x) | np.isneginf(y), 0.0,
                            np.where(np.isposinf(x), special.ndtr(y), np.where(np.isposinf(y), special.ndtr(x), 0.0)))
            xf, yf = x[fin], y[fin]
            base[fin] = special.ndtr(xf) * special.ndtr(yf)
            self.corners.append((sign, fin, base, (xf * xf + yf * yf) / 2.0, xf * yf, np.nonzero(fin)[0]))
        self.a = None
        self.sums = [np.zeros(len(c[3])) for c in self.corners]

    def prob(self, rho: np.ndarray) -> np.ndarray:
        """The rectangle probabilities (pairs x rows) at the pairs' correlations ``rho``."""
        if np.any(np.abs(rho) >= 0.925):
            self.a = None
            return _rect(bvn_cdf, *self.limits, rho[:, None])
        a = np.arcsin(rho)
        a0 = np.zeros_like(a) if self.a is None else self.a
        if self.a is None:
            self.sums = [np.zeros(len(c[3])) for c in self.corners]
        span = float(np.max(np.abs(a - a0))) if len(a) else 0.0
        gx, gw = _GL_ORDER[next(n for lim, n in _GL_SPANS if span <= lim)]
        out = np.zeros(self.limits[0].shape)
        for k, (sign, fin, base, hs, hk, pi) in enumerate(self.corners):
            self.sums[k] = self.sums[k] + gauss_legendre(a0[pi], a[pi], hs, hk, gx, gw)
            F = base.copy()
            F[fin] += self.sums[k] / (2.0 * np.pi)
            out += sign * F
        self.a = a
        return out

    def derivs(self, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """d P / d rho and d^2 P / d rho^2 of the rectangles (pairs x rows): the corners'
        phi2 and phi2 (xy + rho - rho Q) / (1 - rho^2) (0 at an infinite limit)."""
        d1, d2 = np.zeros(self.limits[0].shape), np.zeros(self.limits[0].shape)
        for sign, fin, base, hs, hk, pi in self.corners:
            r = rho[pi]
            r2 = 1.0 - r * r
            Q = 2.0 * (hs - r * hk) / r2
            pdf = np.exp(-Q / 2.0) / (2.0 * np.pi * np.sqrt(r2))
            d1[fin] += sign * pdf
            d2[fin] += sign * pdf * (hk + r - r * Q) / r2
        return d1, d2

    def subset(self, keep: np.ndarray) -> "_Rectangles":
        """The rectangles of the pairs ``keep`` (their carried integrals with them)."""
        new = _Rectangles.__new__(_Rectangles)
        new.limits = tuple(v[keep] for v in self.limits)
        new.corners, new.sums = [], []
        for (sign, fin, base, hs, hk, pi), sm in zip(self.corners, self.sums):
            sel = np.isin(pi, np.flatnonzero(keep))
            remap = np.cumsum(keep) - 1
            new.corners.append((sign, fin[keep], base[keep], hs[sel], hk[sel], remap[pi[sel]]))
            new.sums.append(sm[sel])
        new.a = None if self.a is None else self.a[keep]
        return new


def _polychoric_rows(U1, L1, U2, L2, ok, rho, tol=1e-10, max_iter=100):
    """Two-step ML residual polychoric correlations of the pairs (arrays pairs x rows of
    limits; ``ok``: rows answered on both), Newton's method on all pairs at once. Returns
    them, whether each converged, and the rows' probabilities at the last step (within
    ``tol`` of the estimate: the scores reuse them)."""
    done = np.zeros(len(rho), bool)
    probs = np.zeros(U1.shape)
    rect = _Rectangles(U1, L1, U2, L2)
    act = np.arange(len(rho))
    for _ in range(max_iter):
        if not len(act):
            break
        lik = rect.prob(rho[act])
        probs[act] = lik
        use = ok[act] & (lik >= _TINY)
        safe = np.where(use, lik, 1.0)
        d1, d2 = rect.derivs(rho[act])
        d1, d2 = d1 / safe, d2 / safe
        g = np.sum(np.where(use, d1, 0.0), axis=1)
        h = np.sum(np.where(use, d2 - d1 * d1, 0.0), axis=1)
        h = np.where(h < 0, h, -np.sum(np.where(use, d1 * d1, 0.0), axis=1) - 1e-12)
        new = np.clip(rho[act] + np.clip(-g / h, -0.5, 0.5), -0.999, 0.999)
        conv = np.abs(new - rho[act]) < tol
        rho[act] = new
        done[act[conv]] = True
        if conv.any():
            rect = rect.subset(~conv)
            act = act[~conv]
    return rho, done, probs


def _bv_ord_scores(u1, l1, u2, l2, ok, rho, lik):
    """lavaan's ``lav_bvord_cor_scores`` per row: the correlation's score and the pieces of
    the two items' threshold scores (upper, lower) divided by the row's probability."""
    R = np.sqrt(1.0 - rho * rho)
    use = ok & (lik > _TINY)
    safe = np.where(use, lik, 1.0)

    def part(a, b_up, b_lo):  # phi(a) [Phi((b_up - rho a)/R) - Phi((b_lo - rho a)/R)]
        fa = np.where(np.isfinite(a), a, 0.0)
        with np.errstate(invalid="ignore"):
            hi = np.where(np.isfinite(b_up), (b_up - rho * fa) / R, b_up)
            lo = np.where(np.isfinite(b_lo), (b_lo - rho * fa) / R, b_lo)
        return _phi(a) * (special.ndtr(hi) - special.ndtr(lo))

    z = lambda v: np.where(use, v / safe, 0.0)  # noqa: E731
    return (z(_rect(bvn_pdf, u1, l1, u2, l2, rho)), z(part(u1, u2, l2)), z(part(l1, u2, l2)),
            z(part(u2, u1, l1)), z(part(l2, u1, l1)))


# ----------------------------------------------------------------------------- the stage
def conditional_stage(Y: np.ndarray, X: np.ndarray, names: list[str], numeric: np.ndarray,
                      x_names: list[str], *, nacov: bool = True, levels: list | None = None,
                      where: str = "") -> FirstStage:
    """Thresholds (-intercepts of continuous variables), slopes, residual variances and
    correlations of the endogenous columns ``Y`` given the covariates ``X`` (complete), with
    their NACOV (lavaan's ``muthen1984`` with eXo; see the module docstring). ``levels``:
    each column's categories over all groups (one missing here is refused, ``where`` naming
    the group)."""
    Y, X = np.asarray(Y, float), np.asarray(X, float)
    numeric = np.asarray(numeric, bool)
    N, p = Y.shape
    nx = X.shape[1]
    ordi = np.flatnonzero(~numeric)
    codes = np.full(Y.shape, -1, dtype=np.int64)
    K = np.zeros(p, dtype=np.int64)
    if len(ordi):
        oc, oK, olev = ordinal_codes(Y[:, ordi], [names[j] for j in ordi],
                                     None if levels is None else [levels[j] for j in ordi], where)
        codes[:, ordi], K[ordi] = oc, oK
    nslot = np.where(numeric, 1, K - 1)
    th_off = np.concatenate(([0], np.cumsum(nslot)[:-1])).astype(int)
    nth = int(nslot.sum())
    th, slopes, var = np.zeros(nth), np.zeros((p, nx)), np.ones(p)
    S_th, S_sl, S_var = np.zeros((N, nth)), np.zeros((N, p * nx)), np.zeros((N, p))
    up, lo = np.zeros((p, N)), np.zeros((p, N))  # ordered: limits tau - x'beta; continuous: fitted values
    for j in range(p):
        sl = np.arange(nx) * p + j
        if numeric[j]:
            beta, var[j], yhat, S = linear_fit(Y[:, j], X, names[j])
            th[th_off[j]], slopes[j] = beta[0], beta[1:]
            S_th[:, th_off[j]], S_sl[:, sl], S_var[:, j] = S[:, 0], S[:, 1:1 + nx], S[:, -1]
            up[j] = yhat
            continue
        k = int(K[j])
        theta, S = probit_fit(codes[:, j], k, X, names[j])
        th[th_off[j]: th_off[j] + k - 1], slopes[j] = theta[: k - 1], theta[k - 1:]
        S_th[:, th_off[j]: th_off[j] + k - 1], S_sl[:, sl] = S[:, : k - 1], S[:, k - 1:]
        a = np.maximum(codes[:, j], 0)
        up[j], lo[j] = _probit_limits(a, theta[: k - 1], X @ theta[k - 1:])
    cor, probs = _residual_correlations(Y, codes, numeric, up, lo, var, names)
    th_item = np.repeat(np.arange(p), nslot)
    out = FirstStage(names=list(names), nobs=N, K=np.where(numeric, 0, K), th=th.copy(), th_item=th_item, cor=cor)
    out.slopes, out.x_names = slopes, list(x_names)
    out.levels = [olev[list(ordi).index(j)] if j in ordi else None for j in range(p)]  # by name (predict)
    r, c = pair_index(p)
    near = np.flatnonzero(np.abs(cor[r, c]) > 0.99)
    out.warnings = [f"the correlation of {names[c[k]]!r} and {names[r[k]]!r} given the covariates is (nearly) 1.0 "
                    f"({cor[r[k], c[k]]:.3f})" for k in near]
    if numeric.any():
        sd = np.where(numeric, np.sqrt(var), 1.0)
        out.numeric, out.var, out.cov = numeric, var, cor * sd[:, None] * sd[None, :]
        out.th[th_off[numeric]] = -th[th_off[numeric]]  # lavaan: -intercept among the thresholds
    if nacov:
        S1 = np.hstack((S_th, S_sl, S_var[:, numeric]))
        out.nacov = _cx_nacov(Y, X, codes, K, numeric, up, lo, var, cor, th_off, nslot, S1, probs)
    return out


def _residual_correlations(Y, codes, numeric, up, lo, var, names) -> tuple[np.ndarray, dict]:
    """The residual polychoric, polyserial and Pearson correlations (two-step ML), and per
    pair of ordered items (index in vech order) the rows' rectangle probabilities."""
    p = Y.shape[1]
    r, c = pair_index(p)
    cor = np.eye(p)
    probs = {}
    oo = np.flatnonzero(~numeric[r] & ~numeric[c])
    if len(oo):
        ans = codes >= 0
        rho = _start_rho(codes, r[oo], c[oo])  # lavaan's start: the Pearson correlation of the codes
        N = Y.shape[0]
        step = max(1, _CHUNK // max(N, 1))
        for s in range(0, len(oo), step):
            k = oo[s: s + step]
            ok = ans[:, r[k]].T & ans[:, c[k]].T
            rr, done, pr = _polychoric_rows(up[r[k]], lo[r[k]], up[c[k]], lo[c[k]], ok, rho[s: s + step].copy())
            probs.update(zip(k.tolist(), pr))
            if not done.all():
                b = k[int(np.flatnonzero(~done)[0])]
                raise DataError(f"the polychoric correlation of {names[c[b]]!r} and {names[r[b]]!r} given the "
                                "covariates did not converge")
            cor[r[k], c[k]] = cor[c[k], r[k]] = rr
    for i, j in zip(r, c):
        if not (numeric[i] or numeric[j]):
            continue
        both = ~np.isnan(Y[:, i]) & ~np.isnan(Y[:, j])
        if numeric[i] and numeric[j]:
            z1 = (Y[both, i] - up[i, both]) / np.sqrt(var[i])
            z2 = (Y[both, j] - up[j, both]) / np.sqrt(var[j])
            rho = (float(np.corrcoef(z1, z2)[0, 1]) if both.all()
                   else _pearson_ml(z1, z2, scale=float(np.sqrt(var[i] * var[j]))))
        else:
            a, b = (i, j) if numeric[i] else (j, i)
            z = (Y[both, a] - up[a, both]) / np.sqrt(var[a])
            rho = _polyserial(z, None, None, up=up[b, both], lo=lo[b, both], sd=np.sqrt(var[a]))
        cor[i, j] = cor[j, i] = rho
    return cor, probs


def _cx_scores(Y, X, codes, K, numeric, up, lo, var, cor, th_off, nslot, probs):
    """The correlations' case-wise scores (N x pairs) and A21 (pairs x univariate columns:
    thresholds, slopes, variances of continuous variables)."""
    N, p = Y.shape
    nx = X.shape[1]
    nth = int(nslot.sum())
    var_slot = np.full(p, -1)
    var_slot[numeric] = nth + p * nx + np.arange(int(numeric.sum()))
    r, c = pair_index(p)
    S_rho = np.zeros((N, len(r)))
    A21 = np.zeros((len(r), nth + p * nx + int(numeric.sum())))
    ans = ~np.isnan(Y)

    def th_cols(j):
        return np.arange(th_off[j], th_off[j] + nslot[j])

    def sl_cols(j):
        return nth + np.arange(nx) * p + j

    for k, (i, j) in enumerate(zip(r, c)):
        both = ans[:, i] & ans[:, j]
        if not numeric[i] and not numeric[j]:
            d_rho, u_i, l_i, u_j, l_j = _bv_ord_scores(up[i], lo[i], up[j], lo[j], both, cor[i, j], probs[k])
            S_rho[:, k] = d_rho
            for item, U, L in ((i, u_i, l_i), (j, u_j, l_j)):
                a = np.maximum(codes[:, item], 0)
                nt = int(K[item]) - 1
                A21[k, th_cols(item)] = (np.bincount(a, weights=d_rho * U, minlength=nt + 1)[:nt]
                                         - np.bincount(a, weights=d_rho * L, minlength=nt + 1)[1:nt + 1])
                A21[k, sl_cols(item)] = (d_rho * (L - U)) @ X
            continue
        if numeric[i] and numeric[j]:
            dm1, dv1, dm2, dv2, drho = _reg_scores(Y[:, i], Y[:, j], up[i], var[i], up[j], var[j], cor[i, j])
            parts = [(th_cols(i), dm1), (sl_cols(i), dm1[:, None] * X), ([var_slot[i]], dv1),
                     (th_cols(j), dm2), (sl_cols(j), dm2[:, None] * X), ([var_slot[j]], dv2)]
        else:
            a, b = (i, j) if numeric[i] else (j, i)
            dmu, dv, dth, drho = _mix_scores(Y[:, a], up[a], var[a], None, None, cor[a, b],
                                             up=up[b], lo=lo[b], codes_b=np.maximum(codes[:, b], 0),
                                             nth_b=int(K[b]) - 1)
            parts = [(th_cols(a), dmu), (sl_cols(a), dmu[:, None] * X), ([var_slot[a]], dv),
                     (th_cols(b), dth), (sl_cols(b), -dth.sum(axis=1)[:, None] * X)]
        drho = np.where(both, np.nan_to_num(drho), 0.0)
        S_rho[:, k] = drho
        for cols, part in parts:
            part = np.where(both if np.ndim(part) == 1 else both[:, None], np.nan_to_num(part), 0.0)
            A21[k, cols] = drho @ part
    return S_rho, A21, var_slot


def _cx_nacov(Y, X, codes, K, numeric, up, lo, var, cor, th_off, nslot, S1, probs) -> np.ndarray:
    """N x acov of (thresholds and -intercepts, slopes, residual variances, residual
    covariances): N H B^-1 (S'S) B^-T H' with the numeric thresholds' signs flipped."""
    N, p = Y.shape
    nx = X.shape[1]
    nth = int(nslot.sum())
    S_rho, A21, var_slot = _cx_scores(Y, X, codes, K, numeric, up, lo, var, cor, th_off, nslot, probs)
    blocks = [list(range(th_off[j], th_off[j] + nslot[j])) + list(nth + np.arange(nx) * p + j)
              + ([var_slot[j]] if numeric[j] else []) for j in range(p)]  # thresholds, slopes, variance
    G = N * _crossprod(influence(S1, blocks, S_rho, A21))
    return covariance_metric(G, numeric, var, cor, var_slot, th_off, S1.shape[1])


# ----------------------------------------------------------------------------- the model side
def conditional_parts(plan: dict) -> dict:
    """The endogenous and covariate positions among the observed variables, and the number
    of slopes (an estimator's plan with ``y_idx`` and ``x_idx``)."""
    y, x = np.asarray(plan["y_idx"], int), np.asarray(plan["x_idx"], int)
    return {"y": y, "x": x, "nsl": len(y) * len(x), "yy": np.ix_(y, y)}


def reduced_form(sigma: np.ndarray, mu: np.ndarray, cx: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lavaan's conditional.x moments of the implied Sigma and mu (x exogenous, its moments
    fixed): PI = Sigma_yx Sigma_xx^-1, the residual covariance Sigma_yy - PI Sigma_xy and
    the intercepts mu_y - PI mu_x, the last two in the endogenous rows/columns of copies of
    Sigma and mu (``computeSigmaHat``, ``computePI``, ``computeTH`` with conditional.x)."""
    y, x = cx["y"], cx["x"]
    Syx = sigma[np.ix_(y, x)]
    PI = np.linalg.solve(sigma[np.ix_(x, x)], Syx.T).T
    res = sigma.copy()
    res[cx["yy"]] = sigma[cx["yy"]] - PI @ Syx.T
    m = mu.copy()
    m[y] = mu[y] - PI @ mu[x]
    return res, m, PI


def reduced_chain(M: np.ndarray, gmu: np.ndarray, gsl: np.ndarray, sigma: np.ndarray, mu: np.ndarray,
                  cx: dict) -> tuple[np.ndarray, np.ndarray]:
    """From d f / d (residual covariance) ``M`` (as tr(M dR)), d f / d intercepts ``gmu`` and
    d f / d vec(PI) ``gsl`` to d f / d Sigma (as tr(. dSigma)) and d f / d mu."""
    y, x = cx["y"], cx["x"]
    Sxx = sigma[np.ix_(x, x)]
    PI = np.linalg.solve(Sxx, sigma[np.ix_(y, x)].T).T
    gPI = gsl.reshape(len(x), len(y)).T - np.outer(gmu[y], mu[x])
    Myy = M[cx["yy"]]
    B = -2.0 * PI.T @ Myy + np.linalg.solve(Sxx, gPI.T)  # d f = tr(Myy dS_yy) + tr(B dS_yx)
    out = np.zeros_like(M)
    out[cx["yy"]] = Myy
    out[np.ix_(x, y)] = B / 2.0
    out[np.ix_(y, x)] = B.T / 2.0
    g = np.zeros_like(gmu)
    g[y] = gmu[y]
    return out, g


def reduced_delta(dS: np.ndarray, dm: np.ndarray, sigma: np.ndarray, mu: np.ndarray,
                  cx: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Jacobians (n_free x p x p, n_free x p) of the residual covariance and the
    intercepts, and of PI (n_free x ny x nx), from those of Sigma and mu."""
    y, x = cx["y"], cx["x"]
    Sxx = sigma[np.ix_(x, x)]
    PI = np.linalg.solve(Sxx, sigma[np.ix_(y, x)].T).T
    dSyx = dS[:, y][:, :, x]
    dPI = np.linalg.solve(Sxx, dSyx.transpose(0, 2, 1)).transpose(0, 2, 1)  # dS_yx Sxx^-1 (Sxx symmetric)
    dR = dS.copy()
    dR[:, y[:, None], y[None, :]] = dS[:, y][:, :, y] - dSyx @ PI.T - PI @ dSyx.transpose(0, 2, 1)
    dmu = dm.copy()
    dmu[:, y] = dm[:, y] - dPI @ mu[x]
    return dR, dmu, dPI
