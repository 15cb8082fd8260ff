"""The first stage of a fit to ordered items (lavaan's ``muthen1984``, ``lavCor``).

For ordered categorical items y_1..y_p, each assumed to cut a standard normal latent
response y*_j at thresholds tau_j1 < ... < tau_j,K_j-1:

1. **thresholds** (univariate ML): tau_jk = Phi^-1(cumulative proportion of categories
   1..k) -- lavaan's ``lav_uvord_th``;
2. **polychoric correlations** by two-step ML: for each pair, with the thresholds fixed
   at their univariate estimates, rho maximises sum_ab n_ab log pi_ab(rho), the cell
   probabilities pi_ab the bivariate-normal rectangle probabilities (lavaan's
   ``lav_bvord_cor_twostep_fit``). All pairs are solved at once: the tables are padded
   to the largest number of categories and Newton's method runs on the vector of
   correlations. lavaan's zero-cell rule (``zero.add = c(0.5, 0)``,
   ``zero.keep.margins = TRUE``): only a 2 x 2 table with one empty cell gets 0.5 added
   (to that diagonal, the other diagonal loses 0.5 so that the margins stay); a 2 x 2
   table with two empty cells is refused (the correlation is +-1, undefined);
3. **NACOV** (Muthen 1984): the asymptotic covariance matrix of the thresholds and the
   correlations, N times B^-1 (S'S) B^-T, where S holds the case-wise scores (of each
   item's thresholds in its univariate likelihood; of each correlation in its bivariate
   likelihood), B = [[A11, 0], [A21, A22]], A11 the block diagonal of S_th'S_th (one
   block per item), A22 the diagonal of S_rho'S_rho, A21 the cross products of the
   correlation scores with the bivariate threshold scores.

Missing answers (NaN) are handled as lavaan's ``missing="pairwise"``: each item's
thresholds from its answers, each correlation from the pair's complete rows, and in the
NACOV the scores of a missing answer are zero (N = all rows with an answer). Pairs whose
Newton iteration does not settle get a bounded one-dimensional search (scipy's Brent).
Where lavaan's own search (nlminb from the Pearson start) stops at its bound 0.999 on a
table whose likelihood peaks inside (seen with a 2 x 2 table with one empty cell), the
value here is the maximum; lavaan's function finds it too from a closer start
(``tests/reference/ordinal/small_cases.R``).

The bivariate normal distribution function is computed as Phi(x)Phi(y) + (1/2pi)
int_0^asin(rho) exp(-(x^2 - 2xy sin t + y^2) / (2 cos^2 t)) dt (Sheppard's formula, the
one Genz's BVND uses for |rho| < 0.925) by Gauss-Legendre quadrature, vectorised over
every cell of every pair.

Continuous variables among the items (:func:`mixed_stage`): their means (stored as -mean
among the thresholds, as lavaan) and variances, polyserial correlations (two-step ML,
lavaan's ``lav_bvmix``) with the ordered items and Pearson correlations between them, the
covariances, and the NACOV with lavaan's transformation from correlations to covariances.

The estimates are kept in lavaan's order: thresholds item by item (``item|t1``, ...),
then the correlations in the order of ``vech`` without the diagonal, column by column
((2,1), (3,1), ..., (p,1), (3,2), ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from ..exceptions import DataError

#: lavaan's largest number of categories of an ordered variable (``lav_data``: a
#: variable with more levels is not treated as ordered; asymtrust refuses it)
MAX_CATEGORIES = 100
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_GL = {n: np.polynomial.legendre.leggauss(n) for n in (6, 12, 20)}
_2PI = 2.0 * np.pi


# ----------------------------------------------------------------------------- categories
def ordinal_codes(X: np.ndarray, names: list[str], levels: list | None = None,
                  where: str = "") -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The columns of ``X`` (NaN = missing) as category codes 0..K_j-1 (-1 = missing),
    the number of categories K_j of each and the observed values (lavaan: the sorted
    distinct values are the levels; ``levels``: given, e.g. over all groups, and each
    must be observed here). Typed errors name the item: non-integer codes, a single
    observed category, more than ``MAX_CATEGORIES``, a category missing here (``where``:
    " in group ...")."""
    X = np.asarray(X, dtype=float)
    given = levels
    codes = np.full(X.shape, -1, dtype=np.int64)
    K = np.zeros(X.shape[1], dtype=np.int64)
    levels = []
    for j, name in enumerate(names):
        col = X[:, j]
        ok = ~np.isnan(col)
        vals = col[ok]
        if vals.size and not np.all(np.isfinite(vals)):
            raise DataError(f"ordered item {name!r} has infinite values")
        if vals.size and np.any(vals != np.round(vals)):
            bad = vals[vals != np.round(vals)][0]
            raise DataError(f"ordered item {name!r} has a non-integer code ({bad:g}); "
                            "ordered items must be coded as integers")
        lev, inv = np.unique(vals, return_inverse=True)
        if given is not None:
            absent = np.setdiff1d(given[j], lev)
            if absent.size:
                raise DataError(f"ordered item {name!r} has no answer in category {absent[0]:g}{where} "
                                "(the other groups have it): its thresholds cannot be estimated there; "
                                "merge sparse categories first")
        if lev.size < 2:
            raise DataError(f"ordered item {name!r} has {lev.size} observed categor{'y' if lev.size == 1 else 'ies'}; "
                            "an ordered item needs at least two")
        if lev.size > MAX_CATEGORIES:
            raise DataError(f"ordered item {name!r} has {lev.size} categories, more than the {MAX_CATEGORIES} "
                            "an ordered item may have; treat it as continuous")
        codes[ok, j] = inv
        K[j] = lev.size
        levels.append(lev)
    return codes, K, levels


# ----------------------------------------------------------------------------- normal pieces
def bvn_cdf(x: np.ndarray, y: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(X <= x, Y <= y) for standard bivariate normal (X, Y) with correlation rho
    (arrays broadcast; infinite limits allowed; |rho| < 1)."""
    x, y, rho = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float), np.asarray(rho, float))
    fin = np.isfinite(x) & np.isfinite(y)
    out = np.zeros(x.shape)
    # the quadrature only where both limits are finite
    xf, yf, rf = x[fin], y[fin], rho[fin]
    total = np.zeros(xf.shape)
    ar = np.abs(rf)
    if np.all(ar < 0.925):  # Genz's (BVND) orders: 6 nodes for |rho| < 0.3, 12 below 0.75, else 20
        for sel, (gx, gw) in ((ar < 0.3, _GL[6]), ((ar >= 0.3) & (ar < 0.75), _GL[12]), (ar >= 0.75, _GL[20])):
            if sel.any():
                total[sel] = _sheppard(xf[sel], yf[sel], rf[sel], 1, gx, gw)
    else:
        total = _sheppard(xf, yf, rf, 4, _GL_X, _GL_W)
    out[fin] = special.ndtr(xf) * special.ndtr(yf) + total / _2PI
    # the limits: either at -inf -> 0; one at +inf -> the other's marginal
    px, py = special.ndtr(x), special.ndtr(y)
    out = np.where(np.isposinf(x), py, out)
    out = np.where(np.isposinf(y), px, out)
    out = np.where(np.isneginf(x) | np.isneginf(y), 0.0, out)
    return np.clip(out, 0.0, 1.0)


def _sheppard(xf, yf, rf, n_panel: int, gx, gw) -> np.ndarray:
    """int_0^asin(rho) exp(-(x^2 - 2xy sin t + y^2) / (2 cos^2 t)) dt by Gauss-Legendre
    (nodes ``gx``, weights ``gw``) in ``n_panel`` panels."""
    a = np.arcsin(np.clip(rf, -0.9999999, 0.9999999))
    hs, hk = (xf * xf + yf * yf) / 2.0, xf * yf
    total = np.zeros(xf.shape)
    for p in range(n_panel):
        total += gauss_legendre(a * p / n_panel, a * (p + 1) / n_panel, hs, hk, gx, gw)
    return total


def gauss_legendre(lo: np.ndarray, hi: np.ndarray, hs: np.ndarray, hk: np.ndarray, gx, gw) -> np.ndarray:
    """int_lo^hi exp((hk sin t - hs) / cos^2 t) dt per element, Gauss-Legendre with nodes
    ``gx`` and weights ``gw`` (a loop over the nodes keeps the temporaries in cache)."""
    half, mid = (hi - lo) / 2.0, (hi + lo) / 2.0
    acc = np.zeros(np.shape(hs))
    for xj, wj in zip(gx, gw):
        sn = np.sin(half * xj + mid)
        acc += wj * np.exp((sn * hk - hs) / (1.0 - sn * sn))
    return half * acc


def bvn_pdf(x: np.ndarray, y: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """The standard bivariate normal density (0 at an infinite argument)."""
    x, y, rho = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float), np.asarray(rho, float))
    fin = np.isfinite(x) & np.isfinite(y)
    xf, yf = np.where(fin, x, 0.0), np.where(fin, y, 0.0)
    r2 = 1.0 - rho * rho
    q = (xf * xf - 2.0 * rho * xf * yf + yf * yf) / r2
    return np.where(fin, np.exp(-q / 2.0) / (_2PI * np.sqrt(r2)), 0.0)


# ----------------------------------------------------------------------------- first stage
@dataclass
class FirstStage:
    """Thresholds, polychoric correlations and (optionally) their NACOV for one group."""

    names: list[str]
    nobs: int
    K: np.ndarray  # categories per item
    th: np.ndarray  # all thresholds, item by item
    th_item: np.ndarray  # the item (0-based) of each threshold
    cor: np.ndarray  # p x p polychoric correlation matrix
    nacov: np.ndarray | None = None  # N x acov of (th, vech(cor) without the diagonal)
    levels: list = field(default_factory=list)
    zero_cell_pairs: list = field(default_factory=list)  # (item, item) tables with an empty cell
    warnings: list = field(default_factory=list)  # lavaan's: correlations of (nearly) 1
    numeric: np.ndarray | None = None  # continuous variables among the items (mixed_stage)
    var: np.ndarray | None = None  # their variances (divisor N)
    cov: np.ndarray | None = None  # correlations times the continuous standard deviations
    slopes: np.ndarray | None = None  # given covariates (ordinal_cx): items x covariates
    x_names: list = field(default_factory=list)  # the covariates (ordinal_cx)

    @property
    def th_names(self) -> list[str]:
        out = []
        for j, k in enumerate(self.K):
            if self.numeric is not None and self.numeric[j]:
                out.append(f"{self.names[j]}~1")  # lavaan: -mean among the thresholds
                continue
            out += [f"{self.names[j]}|t{t}" for t in range(1, int(k))]
        return out

    @property
    def cor_vector(self) -> np.ndarray:
        """The correlations (covariances, with continuous variables) below the diagonal."""
        r, c = pair_index(len(self.names))
        return (self.cor if self.cov is None else self.cov)[r, c]

    @property
    def var_vector(self) -> np.ndarray:
        """The variances of the continuous variables (none for ordered items only)."""
        return np.zeros(0) if self.numeric is None else self.var[self.numeric]

    @property
    def slope_vector(self) -> np.ndarray:
        """lavaan's ``vec(SLOPES)``: per covariate, every item (none without covariates)."""
        return np.zeros(0) if self.slopes is None else self.slopes.ravel(order="F")

    @property
    def wls_obs(self) -> np.ndarray:
        """lavaan's ``WLS.obs``: the thresholds (and -means), the slopes on covariates, the
        variances of continuous variables, then the correlations (covariances)."""
        return np.concatenate((self.th, self.slope_vector, self.var_vector, self.cor_vector))


def pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of vech without the diagonal, lavaan's order: column by column."""
    r, c = [], []
    for j in range(p - 1):
        for i in range(j + 1, p):
            r.append(i)
            c.append(j)
    return np.array(r, int), np.array(c, int)


def _threshold_table(codes: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts per item and category (p x Kmax), the thresholds padded to a
    (p x Kmax+1) table of limits (-inf, tau_1, ..., tau_K-1, +inf, +inf ...) and the
    flat thresholds."""
    p, Kmax = len(K), int(K.max())
    counts = np.zeros((p, Kmax))
    for j in range(p):
        obs = codes[:, j]
        counts[j] = np.bincount(obs[obs >= 0], minlength=Kmax)[:Kmax]
    limits = np.full((p, Kmax + 1), np.inf)
    limits[:, 0] = -np.inf
    th = []
    for j in range(p):
        cum = np.cumsum(counts[j, : K[j]])[:-1] / counts[j].sum()
        t = special.ndtri(cum)
        limits[j, 1:K[j]] = t
        th.append(t)
    return counts, limits, np.concatenate(th)


def _pair_tables(codes: np.ndarray, Kmax: int, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Bivariate frequency tables of every pair (pairs x Kmax x Kmax); rows: item r. One
    matrix product of the items' one-hot codes gives every table at once."""
    N, p = codes.shape
    onehot = np.zeros((N, p * Kmax))
    rows, cols = np.nonzero(codes >= 0)  # a missing answer: no column (pairwise-complete tables)
    onehot[rows, cols * Kmax + codes[rows, cols]] = 1.0
    M = (onehot.T @ onehot).reshape(p, Kmax, p, Kmax)
    return M[r, :, c, :]


def _grid_cdf(U: np.ndarray, V: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Phi2(U_i, V_j; rho) on each pair's grid of limits (pairs x (Kmax+1) x (Kmax+1)):
    the quadrature nodes depend on rho only, so they are computed once per pair."""
    Ui, Vi = U[:, 1:-1], V[:, 1:-1]  # the inner limits (+inf where an item has fewer categories)
    fu, fv = np.isfinite(Ui), np.isfinite(Vi)
    x = np.where(fu, Ui, 0.0)[:, :, None]
    y = np.where(fv, Vi, 0.0)[:, None, :]
    a = np.arcsin(np.clip(rho, -0.9999999, 0.9999999))
    n_panel = 1 if np.all(np.abs(rho) < 0.925) else 4
    hs, hk = ((x * x + y * y) / 2.0)[..., None], (x * y)[..., None]
    total = np.zeros(hs.shape[:3])
    for p in range(n_panel):
        lo, hi = a * p / n_panel, a * (p + 1) / n_panel
        sn = np.sin((hi - lo)[:, None] / 2.0 * _GL_X + (hi + lo)[:, None] / 2.0)[:, None, None, :]
        f = np.exp((sn * hk - hs) / (1.0 - sn * sn))
        total += ((hi - lo) / 2.0)[:, None, None] * (f @ _GL_W)
    inner = special.ndtr(x) * special.ndtr(y) + total / _2PI
    F = np.zeros((U.shape[0], U.shape[1], V.shape[1]))
    F[:, 1:-1, 1:-1] = inner
    F[:, -1, 1:-1] = special.ndtr(Vi)  # x = +inf: the marginal of y
    F[:, 1:-1, -1] = special.ndtr(Ui)
    F[:, -1, -1] = 1.0
    # padded limits (+inf inside the grid): the marginal of the other item
    F[:, 1:-1, 1:-1] = np.where(~fu[:, :, None], special.ndtr(Vi)[:, None, :], F[:, 1:-1, 1:-1])
    F[:, 1:-1, 1:-1] = np.where(~fv[:, None, :], special.ndtr(Ui)[:, :, None], F[:, 1:-1, 1:-1])
    F[:, 1:-1, 1:-1] = np.where(~fu[:, :, None] & ~fv[:, None, :], 1.0, F[:, 1:-1, 1:-1])
    return np.clip(F, 0.0, 1.0)


def _cell_grids(U: np.ndarray, V: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell probabilities and d pi / d rho (pairs x Kmax x Kmax) from the limits U (of
    the row items) and V (of the column items), pairs x (Kmax+1)."""
    x, y, rr = U[:, :, None], V[:, None, :], rho[:, None, None]
    F = _grid_cdf(U, V, rho)
    D = bvn_pdf(x, y, rr)
    pi = F[:, 1:, 1:] - F[:, :-1, 1:] - F[:, 1:, :-1] + F[:, :-1, :-1]
    dpi = D[:, 1:, 1:] - D[:, :-1, 1:] - D[:, 1:, :-1] + D[:, :-1, :-1]
    return np.maximum(pi, 0.0), dpi


def _dpdf_drho(U: np.ndarray, V: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """d^2 pi / d rho^2 per cell: the rectangle differences of d phi2 / d rho, with
    d log phi2 / d rho = (rho + xy - rho Q) / (1 - rho^2), Q the quadratic form."""
    x, y, rr = U[:, :, None], V[:, None, :], rho[:, None, None]
    x, y, rr = np.broadcast_arrays(x, y, rr)
    fin = np.isfinite(x) & np.isfinite(y)
    xf, yf = np.where(fin, x, 0.0), np.where(fin, y, 0.0)
    r2 = 1.0 - rr * rr
    Q = (xf * xf - 2.0 * rr * xf * yf + yf * yf) / r2
    G = bvn_pdf(x, y, rr) * (rr + xf * yf - rr * Q) / r2
    return G[:, 1:, 1:] - G[:, :-1, 1:] - G[:, 1:, :-1] + G[:, :-1, :-1]


def _zero_add(tab: np.ndarray, Kr: np.ndarray, Kc: np.ndarray, names: list[str], r, c) -> tuple[np.ndarray, list]:
    """lavaan's zero-cell rule (zero.add = c(0.5, 0), zero.keep.margins = TRUE). Returns
    the tables to fit and the pairs with an empty cell."""
    tab = tab.copy()
    zero_pairs = []
    for k in range(len(tab)):
        sub = tab[k, : Kr[k], : Kc[k]]
        if not np.any(sub == 0):
            continue
        zero_pairs.append((names[c[k]], names[r[k]]))
        if sub.shape != (2, 2):
            continue  # zero.add[2] = 0: larger tables are fitted as they are
        nz = np.flatnonzero(sub.ravel(order="F") == 0)  # R's column-major cell order
        if len(nz) == 2:
            raise DataError(f"the polychoric correlation of {names[c[k]]!r} and {names[r[k]]!r} is undefined: "
                            "their 2 x 2 table has two empty cells (the correlation is +-1)")
        if nz[0] in (0, 3):
            sub += np.array([[0.5, -0.5], [-0.5, 0.5]])
        else:
            sub += np.array([[-0.5, 0.5], [0.5, -0.5]])
    return tab, zero_pairs


def _start_rho(codes: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """lavaan's start: the Pearson correlation of the codes, pairwise-complete (0 if undefined)."""
    M = (codes >= 0).astype(float)
    X = np.where(codes >= 0, codes, 0).astype(float)
    n, s1 = M.T @ M, X.T @ M  # s1[i, j]: sum of item i where j is answered too
    s2, sp = (X * X).T @ M, X.T @ X
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = n * sp - s1 * s1.T
        rho = (cov / np.sqrt((n * s2 - s1 * s1) * (n * s2 - s1 * s1).T))[r, c]
    return np.where(np.isfinite(rho) & (np.abs(rho) < 1), rho, 0.0)


def _fit_rho(tab: np.ndarray, U: np.ndarray, V: np.ndarray, rho: np.ndarray,
             max_iter: int = 100, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Newton's method on every pair's two-step log-likelihood at once (Fisher scoring
    where the Hessian is not negative), rho kept in [-0.999, 0.999] as lavaan's bounds.
    Returns rho and, per pair, whether it converged."""
    N = tab.sum(axis=(1, 2))
    done = np.zeros(len(rho), bool)
    for _ in range(max_iter):
        act = ~done
        if not act.any():
            break
        pi, dpi = _cell_grids(U[act], V[act], rho[act])
        d2 = _dpdf_drho(U[act], V[act], rho[act])
        n = tab[act]
        pos = n > 0
        safe = np.where(pos, pi, 1.0)
        g = np.sum(np.where(pos, n * dpi / safe, 0.0), axis=(1, 2))
        h = np.sum(np.where(pos, n * (d2 / safe - (dpi / safe) ** 2), 0.0), axis=(1, 2))
        fisher = -N[act] * np.sum(np.where(pi > 0, dpi * dpi / np.where(pi > 0, pi, 1.0), 0.0), axis=(1, 2))
        h = np.where(h < 0, h, np.minimum(fisher, -1e-12))
        step = np.clip(-g / h, -0.5, 0.5)
        new = np.clip(rho[act] + step, -0.999, 0.999)
        conv = np.abs(new - rho[act]) < tol
        rho[act] = new
        idx = np.flatnonzero(act)
        done[idx[conv]] = True
    return rho, done


def _search_rho(tab, U, V, rho, ok) -> tuple[np.ndarray, np.ndarray]:
    """Brent's bounded search on [-0.999, 0.999] (scipy) for the pairs Newton left."""
    from scipy.optimize import minimize_scalar

    rho, ok = rho.copy(), ok.copy()
    for k in np.flatnonzero(~ok):
        n = tab[k]

        def nll(x, k=k, n=n):
            pi = _cell_grids(U[k:k + 1], V[k:k + 1], np.array([x]))[0][0]
            return -float(np.sum(np.where(n > 0, n * np.log(np.where(n > 0, np.maximum(pi, 1e-300), 1.0)), 0.0)))

        res = minimize_scalar(nll, bounds=(-0.999, 0.999), method="bounded", options={"xatol": 1e-10})
        rho[k], ok[k] = float(res.x), bool(res.success)
    return rho, ok


def _threshold_scores(codes: np.ndarray, K: np.ndarray, limits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Case-wise scores of the thresholds in each item's univariate likelihood (N x nth):
    d log P(y = a) / d tau_t = phi(tau_t)/P_a for t = a + 1 (the upper limit), minus that
    for t = a (the lower limit)."""
    N = codes.shape[0]
    nth = int(np.sum(K - 1))
    out = np.zeros((N, nth))
    rows = np.arange(N)
    off = 0
    for j, k in enumerate(K):
        a = codes[:, j]  # -1: missing (score 0)
        prob = counts[j, :k] / counts[j, :k].sum()
        lim = limits[j, : k + 1]
        fin = np.isfinite(lim)
        dens = np.where(fin, np.exp(-np.where(fin, lim, 0.0) ** 2 / 2.0) / np.sqrt(_2PI), 0.0)
        up = (a >= 0) & (a < k - 1)
        out[rows[up], off + a[up]] += dens[a[up] + 1] / prob[a[up]]
        lo = a > 0
        out[rows[lo], off + a[lo] - 1] -= dens[a[lo]] / prob[a[lo]]
        off += k - 1
    return out


def _limit_derivatives(U: np.ndarray, V: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d pi_ab / d (limit) grids: Hx[k, i, b] = d F(U_i, .) / dx over column cell b,
    Hy[k, a, l] = d F(., V_l) / dy over row cell a; dF/dx = phi(x) Phi((y - rho x)/R)."""
    R = np.sqrt(1.0 - rho * rho)[:, None, None]
    rr = rho[:, None, None]

    def grid(A, B):  # phi(A_i) Phi((B_l - rho A_i)/R), A along axis 1
        a, b = A[:, :, None], B[:, None, :]
        af = np.where(np.isfinite(a), a, 0.0)
        dens = np.where(np.isfinite(a), np.exp(-af * af / 2.0) / np.sqrt(_2PI), 0.0)
        with np.errstate(invalid="ignore"):
            z = np.where(np.isfinite(b), (np.where(np.isfinite(b), b, 0.0) - rr * af) / R, b)
        return dens * special.ndtr(z)

    Gx = grid(U, V)  # pairs x (Kmax+1) x (Kmax+1)
    Gy = grid(V, U)  # indexed [k, l, i]
    Hx = Gx[:, :, 1:] - Gx[:, :, :-1]  # pairs x (Kmax+1) limits of U x Kmax cells of V
    Hy = np.transpose(Gy[:, :, 1:] - Gy[:, :, :-1], (0, 2, 1))  # pairs x Kmax cells of U x (Kmax+1) limits of V
    return Hx, Hy


def _a21(tab, pi, dpi, U, V, rho, K, r, c, th_off, nth: int | None = None) -> np.ndarray:
    """A21: the cross products of each correlation's scores with the bivariate scores
    of the two items' thresholds (pairs x nth), from the tables."""
    npair, Kmax = tab.shape[0], tab.shape[1]
    safe = np.where(pi > 0, pi, 1.0)
    w = np.where(tab > 0, tab * dpi / (safe * safe), 0.0)  # n_ab (dpi/pi) / pi
    Hx, Hy = _limit_derivatives(U, V, rho)
    nth = int(np.sum(K - 1)) if nth is None else nth
    A21 = np.zeros((npair, nth))
    wpad = np.zeros((npair, Kmax + 1, Kmax + 1))
    wpad[:, 1:, 1:] = w  # wpad[:, a+1, b+1] = w_ab, zero rows/columns at a = -1 and a = Kmax
    for t in range(1, Kmax):
        # limit t of the row item: cells a = t-1 (upper limit) and a = t (lower limit)
        dr = np.sum((wpad[:, t, 1:] - wpad[:, t + 1, 1:]) * Hx[:, t, :], axis=1)
        dc = np.sum((wpad[:, 1:, t] - wpad[:, 1:, t + 1]) * Hy[:, :, t], axis=1)
        okr, okc = t < K[r], t < K[c]
        k = np.arange(npair)
        A21[k[okr], th_off[r[okr]] + t - 1] = dr[okr]
        A21[k[okc], th_off[c[okc]] + t - 1] = dc[okc]
    return A21


def _crossprod(A: np.ndarray) -> np.ndarray:
    """A'A (symmetrised)."""
    C = A.T @ A
    return (C + C.T) / 2.0


def muthen_nacov(codes, K, limits, counts, tab, pi, dpi, U, V, rho, r, c) -> np.ndarray:
    """N x the asymptotic covariance of (thresholds, correlations), Muthen (1984) as
    lavaan's ``muthen1984``: N B^-1 (S'S) B^-T (see the module docstring)."""
    N = codes.shape[0]
    th_off = np.concatenate(([0], np.cumsum(K - 1)[:-1]))
    S_th = _threshold_scores(codes, K, limits, counts)
    Kmax = tab.shape[1]
    safe = np.where(pi > 0, pi, 1.0)
    score_tab = np.where(pi > 0, dpi / safe, 0.0)  # d log pi_ab / d rho per cell
    both = (codes[:, r] >= 0) & (codes[:, c] >= 0)
    flat = (np.arange(len(r)) * Kmax * Kmax)[None, :] + np.where(both, codes[:, r] * Kmax + codes[:, c], 0)
    S_rho = np.where(both, score_tab.ravel()[flat], 0.0)  # N x pairs; 0 where either answer is missing
    A21 = _a21(tab, pi, dpi, U, V, rho, K, r, c, th_off)
    blocks = [np.arange(th_off[j], th_off[j] + k - 1) for j, k in enumerate(K)]
    G = N * _crossprod(influence(S_th, blocks, S_rho, A21))
    return (G + G.T) / 2.0


def influence(S1: np.ndarray, blocks: list, S_rho: np.ndarray, A21: np.ndarray) -> np.ndarray:
    """The case-wise influence functions S B^-T of Muthen's two-step estimator (N x (n1 +
    pairs)): B = [[A11, 0], [A21, A22]], A11 block diagonal (``blocks``: each variable's
    columns of the univariate scores ``S1``, their cross products), A22 the diagonal of
    S_rho'S_rho; B^-1 as a block-triangular inverse (lavaan's ``muthen1984``)."""
    n1 = S1.shape[1]
    A11inv = np.zeros((n1, n1))
    for sl in blocks:
        sl = np.asarray(sl, int)
        A11inv[np.ix_(sl, sl)] = np.linalg.inv(S1[:, sl].T @ S1[:, sl])
    A22 = np.einsum("np,np->p", S_rho, S_rho)
    IF = np.empty((S1.shape[0], n1 + S_rho.shape[1]), order="F")
    IF[:, :n1] = S1 @ A11inv
    IF[:, n1:] = S_rho / A22 - S1 @ (A11inv @ (A21.T / A22))
    return IF


def first_stage(X: np.ndarray, names: list[str], *, nacov: bool = True, levels: list | None = None,
                where: str = "") -> FirstStage:
    """Thresholds, polychoric correlations and (with ``nacov``) their NACOV of the rows
    ``X`` (rows x items, every item ordered; NaN = missing: lavaan's pairwise deletion,
    thresholds from each item's answers, each correlation from the pair's complete rows,
    the scores of a missing answer zero in the NACOV)."""
    names = list(names)
    codes, K, levels = ordinal_codes(X, names, levels, where)
    N, p = codes.shape
    counts, limits, th = _threshold_table(codes, K)
    r, c = pair_index(p)
    Kmax = int(K.max())
    tab = _pair_tables(codes, Kmax, r, c)
    fit_tab, zero_pairs = _zero_add(tab, K[r], K[c], names, r, c)
    U, V = limits[r], limits[c]
    rho, ok = _fit_rho(fit_tab, U, V, _start_rho(codes, r, c))
    if not ok.all():  # Newton did not settle: a bounded one-dimensional search for those pairs
        rho, ok = _search_rho(fit_tab, U, V, rho, ok)
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        raise DataError(f"the polychoric correlation of {names[c[k]]!r} and {names[r[k]]!r} did not converge")
    cor = np.eye(p)
    cor[r, c] = cor[c, r] = rho
    th_item = np.repeat(np.arange(p), K - 1)
    near = np.flatnonzero(np.abs(rho) > 0.99)  # lavaan: "correlation between variables .. is (nearly) 1.0"
    warns = [f"the polychoric correlation of {names[c[k]]!r} and {names[r[k]]!r} is (nearly) 1.0 ({rho[k]:.3f})"
             for k in near]
    out = FirstStage(names=names, nobs=N, K=K, th=th, th_item=th_item, cor=cor, levels=levels,
                     zero_cell_pairs=zero_pairs, warnings=warns)
    if nacov:
        pi, dpi = _cell_grids(U, V, rho)
        out.nacov = muthen_nacov(codes, K, limits, counts, tab, pi, dpi, U, V, rho, r, c)
    return out


# ----------------------------------------------------------------------------- public
@dataclass
class Polychoric:
    """The result of :func:`polychoric`: lavaan's ``lavCor(data, ordered=...)``."""

    cor: pd.DataFrame  # polychoric correlation matrix
    thresholds: pd.Series  # "item|t1", ... (lavaan's names)
    nobs: int  # complete rows used
    n_dropped: int  # incomplete rows dropped (listwise deletion)
    nacov: pd.DataFrame | None  # N x acov of (thresholds, correlations), Muthen (1984); with nacov=True
    zero_cell_pairs: list  # item pairs whose table has an empty cell
    warnings: list  # correlations of (nearly) 1, as lavaan warns

    def __repr__(self) -> str:
        return (f"Polychoric({self.cor.shape[0]} items, N = {self.nobs}"
                + (f", {self.n_dropped} incomplete rows dropped" if self.n_dropped else "") + ")")


def polychoric(data: pd.DataFrame, columns=None, *, ordered=None, nacov: bool = False) -> Polychoric:
    """Thresholds and polychoric correlations of ordered items, as lavaan's
    ``lavCor(data[, columns], ordered = columns)`` (two-step ML, listwise deletion), with
    the asymptotic covariance matrix of both (``nacov``, Muthen 1984).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent; items coded as integers (the sorted distinct values are
        the categories).
    columns : list of str, optional
        The items (default: every column).
    ordered : list of str, optional
        The ordered items among ``columns`` (default: all); the others are continuous:
        polyserial and Pearson correlations (as ``lavCor(..., ordered = ordered)``;
        complete rows).
    nacov : bool
        Also compute the asymptotic covariance matrix of the thresholds and correlations
        (N times; lavaan's ``NACOV``, what the WLSMV weight and robust corrections use;
        with continuous columns: of the thresholds and -means, variances and covariances).

    Raises
    ------
    DataError
        An item with one observed category, non-integer codes, more than
        ``MAX_CATEGORIES`` categories, a missing column, or a 2 x 2 table with two empty
        cells (the correlation is undefined); the message names the item(s).

    Examples
    --------
    >>> import pandas as pd, asymtrust
    >>> d = pd.DataFrame({"a": [1, 2, 2, 3, 1, 3, 2, 1], "b": [1, 2, 3, 3, 1, 2, 2, 2]})
    >>> pc = asymtrust.polychoric(d)
    >>> list(pc.thresholds.index)
    ['a|t1', 'a|t2', 'b|t1', 'b|t2']
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    cols = [str(c) for c in (data.columns if columns is None else columns)]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(f"column {missing[0]!r} is not in the data")
    if len(cols) < 2:
        raise DataError("polychoric correlations need at least two items")
    X = np.empty((len(data), len(cols)))
    for j, c in enumerate(cols):
        try:
            X[:, j] = pd.to_numeric(data[c], errors="raise").to_numpy(dtype=float)
        except (ValueError, TypeError):
            raise DataError(f"ordered item {c!r} has values that are not numeric codes") from None
    keep = ~np.isnan(X).any(axis=1)
    if keep.sum() < 2:
        raise DataError("fewer than two complete rows: polychoric correlations cannot be computed")
    numeric = np.array([ordered is not None and c not in set(map(str, ordered)) for c in cols])
    if numeric.any():
        fs = mixed_stage(X[keep], cols, numeric, nacov=nacov)
    else:
        fs = first_stage(X[keep], cols, nacov=nacov)
    names = fs.th_names
    r, c = pair_index(len(cols))
    labels = names + [f"{v}~~{v}" for v, n in zip(cols, numeric) if n] + [f"{cols[i]}~~{cols[j]}" for i, j in zip(c, r)]
    keep_th = np.array(["|" in n for n in names], bool)
    return Polychoric(cor=pd.DataFrame(fs.cor, index=cols, columns=cols),
                      thresholds=pd.Series(fs.th[keep_th], index=np.array(names)[keep_th], name="threshold"),
                      nobs=fs.nobs,
                      n_dropped=int((~keep).sum()),
                      nacov=pd.DataFrame(fs.nacov, index=labels, columns=labels) if nacov else None,
                      zero_cell_pairs=list(fs.zero_cell_pairs), warnings=list(fs.warnings))


# ----------------------------------------------------------------------------- mixed items
def _polyserial(z: np.ndarray, codes, lim, *, up=None, lo=None, sd: float | None = None) -> float:
    """Two-step ML polyserial correlation of a standardized continuous variable ``z`` and
    an ordered item (codes 0..K-1, limits ``lim``; or per row the limits ``up``, ``lo``,
    tau - x'beta given covariates): rho maximises
    sum_i log[Phi((tau_b - rho z)/R) - Phi((tau_b-1 - rho z)/R)], R = sqrt(1 - rho^2)
    (lavaan's ``lav_bvmix_cor_twostep_fit``), bounded search on [-0.999, 0.999]. With
    ``sd`` (the continuous variable's), rows whose likelihood phi(z)/sd x P is below
    sqrt(eps) are left out, as lavaan's ``lav_bvmix_lik_cache``."""
    from scipy.optimize import minimize_scalar

    if up is None:
        up, lo = lim[codes + 1], lim[codes]
    dens = None if sd is None else np.exp(-z * z / 2.0) / (np.sqrt(_2PI) * sd)

    def nll(rho):
        R = np.sqrt(1.0 - rho * rho)
        p = np.maximum(special.ndtr((up - rho * z) / R) - special.ndtr((lo - rho * z) / R), np.finfo(float).eps)
        if dens is not None:
            p = p[dens * p >= np.sqrt(np.finfo(float).eps)]
        return -float(np.sum(np.log(p)))

    res = minimize_scalar(nll, bounds=(-0.999, 0.999), method="bounded", options={"xatol": 1e-12})
    return float(res.x)


def _pearson_ml(z1: np.ndarray, z2: np.ndarray, scale: float | None = None) -> float:
    """ML correlation of two standardized variables with means and variances fixed (their
    pairwise-complete rows; lavaan's ``lav_bvreg_cor_twostep_fit`` with missing values).
    With ``scale`` (the product of the two standard deviations), rows whose bivariate
    density is below sqrt(eps) are left out at each rho, as lavaan's ``lav_bvreg_lik_cache``."""
    from scipy.optimize import minimize_scalar

    a, b, ab = float(z1 @ z1), float(z2 @ z2), float(z1 @ z2)
    n = len(z1)
    if scale is not None:  # lavaan's nlminb from the Pearson start: Newton on the rows kept at each step
        log_tiny = np.log(np.sqrt(np.finfo(float).eps))
        rho = float(np.corrcoef(z1, z2)[0, 1])
        rho = rho if np.isfinite(rho) and abs(rho) < 1 else 0.0
        for _ in range(100):
            R = 1.0 - rho * rho
            t1 = z1 * z2
            t2 = z1 * z1 - 2.0 * rho * t1 + z2 * z2
            keep = -t2 / (2.0 * R) - np.log(_2PI * scale * np.sqrt(R)) >= log_tiny
            t1, t2 = t1[keep], t2[keep]
            g = float(np.sum((rho + t1 - t2 * rho / R) / R))
            h = float(np.sum(1.0 / R - 2.0 * rho * rho * t2 / R ** 3 + 2.0 * rho * rho * (1.0 - t2 / R) / R ** 2
                             + 4.0 * rho * t1 / R ** 2 - t2 / R ** 2))
            step = -g / h if h < 0 else 0.1 * np.sign(g)
            new = float(np.clip(rho + np.clip(step, -0.5, 0.5), -0.999, 0.999))
            if abs(new - rho) < 1e-12:
                return new
            rho = new
        return rho
    else:
        def nll(rho):
            r2 = 1.0 - rho * rho
            return 0.5 * n * np.log(r2) + (a - 2.0 * rho * ab + b) / (2.0 * r2)

    return float(minimize_scalar(nll, bounds=(-0.999, 0.999), method="bounded", options={"xatol": 1e-12}).x)


def _mix_scores(y, mu, var, codes, lim, rho, *, up=None, lo=None, codes_b=None, nth_b=None):
    """lavaan's ``lav_bvmix_cor_scores``: case-wise scores of the polyserial likelihood for
    (mu, var) of the continuous variable, the item's thresholds (N x K-1) and rho. Given
    covariates: ``mu`` the fitted values, ``up``/``lo`` the item's limits per row, ``codes_b``
    its codes and ``nth_b`` its number of thresholds."""
    sd = np.sqrt(var)
    Z = (y - mu) / sd
    R = np.sqrt(1.0 - rho * rho)
    if up is None:
        up, lo = lim[codes + 1], lim[codes]
    else:
        codes = codes_b
    with np.errstate(invalid="ignore"):
        a = np.where(np.isfinite(up), (up - rho * Z) / R, np.inf)
        b = np.where(np.isfinite(lo), (lo - rho * Z) / R, -np.inf)
    da, db = np.where(np.isfinite(a), np.exp(-np.where(np.isfinite(a), a, 0) ** 2 / 2) / np.sqrt(_2PI), 0.0), \
        np.where(np.isfinite(b), np.exp(-np.where(np.isfinite(b), b, 0) ** 2 / 2) / np.sqrt(_2PI), 0.0)
    p = np.maximum(special.ndtr(a) - special.ndtr(b), np.finfo(float).eps)
    d_mu = (Z + (rho / R) * (da - db) / p) / sd
    d_var = ((Z * Z - 1.0) + (rho * Z / R) * (da - db) / p) / (2.0 * var)
    K1 = len(lim) - 2 if nth_b is None else nth_b
    d_th = np.zeros((len(y), K1))
    rows = np.arange(len(y))
    m = codes < K1
    d_th[rows[m], codes[m]] += da[m] / (R * p[m])
    m = codes > 0
    d_th[rows[m], codes[m] - 1] -= db[m] / (R * p[m])
    tu = np.where(np.isfinite(up), up, 0.0)
    tl = np.where(np.isfinite(lo), lo, 0.0)
    d_rho = (da * (tu * rho - Z) - db * (tl * rho - Z)) / (p * R ** 3)
    return d_mu, d_var, d_th, d_rho


def _reg_scores(y1, y2, m1, v1, m2, v2, rho):
    """lavaan's ``lav_bvreg_cor_scores``: the bivariate normal scores of (mu1, var1, mu2,
    var2) and rho with the means and variances fixed."""
    s1, s2 = np.sqrt(v1), np.sqrt(v2)
    c1, c2 = y1 - m1, y2 - m2
    R = 1.0 - rho * rho
    d_mu1 = (2 * c1 / v1 - 2 * rho * c2 / (s1 * s2)) / (2 * R)
    d_mu2 = -(2 * rho * c1 / (s1 * s2) - 2 * c2 / v2) / (2 * R)
    d_v1 = -(0.5 / v1 - (c1 * c1 / (v1 * v1) - rho * c1 * c2 / (v1 * s1 * s2)) / (2 * R))
    d_v2 = -(0.5 / v2 + (rho * c1 * c2 / (v2 * s1 * s2) - c2 * c2 / (v2 * v2)) / (2 * R))
    z = c1 * c1 / v1 - 2 * rho * c1 * c2 / (s1 * s2) + c2 * c2 / v2
    d_rho = rho / R + (c1 * c2 / (s1 * s2 * R) - z * rho / (R * R))
    return d_mu1, d_v1, d_mu2, d_v2, d_rho


def mixed_stage(X: np.ndarray, names: list[str], numeric: np.ndarray, *, nacov: bool = True,
                levels: list | None = None, where: str = "") -> FirstStage:
    """The first stage of ordered items mixed with continuous variables: thresholds,
    means (lavaan stores -mean among the thresholds) and variances (divisor n) of the
    continuous ones, polychoric, polyserial and Pearson correlations, the covariance
    matrix (correlations times the continuous standard deviations), and the NACOV of
    (thresholds and -means, variances, covariances) as lavaan's ``muthen1984`` (with its
    transformation H from correlations to covariances). Missing values (NaN): pairwise
    deletion as lavaan's (available-case means and variances; a Pearson correlation by
    ML on the pair's complete rows with the means and variances fixed; scores of a
    missing answer zero)."""
    X = np.asarray(X, float)
    numeric = np.asarray(numeric, bool)
    N, p = X.shape
    ordi = np.flatnonzero(~numeric)
    olevels = [levels[j] for j in ordi] if levels is not None else None  # categories of all groups
    onames = [names[j] for j in ordi]
    ford = first_stage(X[:, ordi], onames, nacov=False, levels=olevels, where=where) if len(ordi) > 1 else None
    codes = np.full(X.shape, -1, dtype=np.int64)
    K = np.zeros(p, dtype=np.int64)
    oc, oK, olev = ordinal_codes(X[:, ordi], onames, olevels, where)
    codes[:, ordi], K[ordi] = oc, oK
    counts, olim, oth = _threshold_table(oc, oK)
    Kmax = int(K.max()) if len(ordi) else 2
    limits = np.full((p, Kmax + 1), np.inf)
    limits[:, 0] = -np.inf
    limits[ordi, : olim.shape[1]] = olim
    mean, var = np.nanmean(X, axis=0), np.nanvar(X, axis=0)  # available cases (pairwise deletion)
    nslot = np.where(numeric, 1, K - 1)
    th_off = np.concatenate(([0], np.cumsum(nslot)[:-1]))
    th = np.zeros(int(nslot.sum()))
    for n_j, j in enumerate(ordi):
        th[th_off[j]: th_off[j] + K[j] - 1] = oth[int(np.sum(oK[:n_j] - 1)): int(np.sum(oK[:n_j + 1] - 1))]
    th[th_off[numeric]] = -mean[numeric]
    r, c = pair_index(p)
    cor = np.eye(p)
    if ford is not None:
        cor[np.ix_(ordi, ordi)] = ford.cor
    sd = np.where(numeric, np.sqrt(var), 1.0)
    Z = (X - mean) / np.where(numeric, np.sqrt(var), 1.0)
    for i, j in zip(r, c):
        both = ~np.isnan(X[:, i]) & ~np.isnan(X[:, j])
        if numeric[i] and numeric[j]:
            cor[i, j] = cor[j, i] = (float(np.mean(Z[:, i] * Z[:, j])) if both.all()
                                     else _pearson_ml(Z[both, i], Z[both, j]))
        elif numeric[i] != numeric[j]:
            a, b = (i, j) if numeric[i] else (j, i)
            cor[i, j] = cor[j, i] = _polyserial(Z[both, a], codes[both, b], limits[b, : K[b] + 1])
    cov = cor * sd[:, None] * sd[None, :]
    names = list(names)
    th_item = np.repeat(np.arange(p), nslot)
    out = FirstStage(names=names, nobs=N, K=np.where(numeric, 0, K), th=th, th_item=th_item, cor=cor,
                     levels=[olev[list(ordi).index(j)] if j in ordi else None for j in range(p)],  # by name
                     zero_cell_pairs=list(ford.zero_cell_pairs) if ford else [],
                     warnings=list(ford.warnings) if ford else [])
    out.numeric, out.var, out.cov = numeric, var, cov
    if nacov:
        out.nacov = _mixed_nacov(X, codes, K, limits, counts, ordi, numeric, mean, var, cor, th_off, nslot)
    return out


def _mixed_scores(X, codes, K, limits, counts, ordi, numeric, mean, var, cor, th_off, nslot):
    """Case-wise scores of the univariate (thresholds / mean, variance) and bivariate
    (correlation) likelihoods, and A21 (their cross products)."""
    N, p = X.shape
    nth, nnum = int(nslot.sum()), int(numeric.sum())
    var_slot = np.full(p, -1)
    var_slot[numeric] = nth + np.arange(nnum)
    S1 = np.zeros((N, nth + nnum))
    S1[:, np.concatenate([np.arange(th_off[j], th_off[j] + K[j] - 1) for j in ordi]).astype(int)
       if len(ordi) else []] = _threshold_scores(codes[:, ordi], K[ordi], limits[ordi], counts) if len(ordi) else 0
    for j in np.flatnonzero(numeric):
        cj = X[:, j] - mean[j]
        S1[:, th_off[j]] = np.nan_to_num(cj / var[j])
        S1[:, var_slot[j]] = np.nan_to_num(-1.0 / (2 * var[j]) + cj * cj / (2 * var[j] ** 2))
    r, c = pair_index(p)
    S_rho = np.zeros((N, len(r)))
    A21 = np.zeros((len(r), nth + nnum))
    oo = np.flatnonzero(~numeric[r] & ~numeric[c])
    if len(oo):
        Kmax = limits.shape[1] - 1
        tab = _pair_tables(codes, Kmax, r[oo], c[oo])
        U, V = limits[r[oo]], limits[c[oo]]
        pi, dpi = _cell_grids(U, V, cor[r[oo], c[oo]])
        score_tab = np.where(pi > 0, dpi / np.where(pi > 0, pi, 1.0), 0.0)
        both = (codes[:, r[oo]] >= 0) & (codes[:, c[oo]] >= 0)
        flat = (np.arange(len(oo)) * Kmax * Kmax)[None, :] + np.where(both, codes[:, r[oo]] * Kmax + codes[:, c[oo]], 0)
        S_rho[:, oo] = np.where(both, score_tab.ravel()[flat], 0.0)
        A21[oo, :nth] = _a21(tab, pi, dpi, U, V, cor[r[oo], c[oo]], K, r[oo], c[oo], th_off, nth)
    for k in np.flatnonzero(numeric[r] | numeric[c]):
        i, j = r[k], c[k]
        if numeric[i] and numeric[j]:
            dm1, dv1, dm2, dv2, drho = _reg_scores(X[:, i], X[:, j], mean[i], var[i], mean[j], var[j], cor[i, j])
            cols, parts = [th_off[i], var_slot[i], th_off[j], var_slot[j]], [dm1, dv1, dm2, dv2]
        else:
            a, b = (i, j) if numeric[i] else (j, i)
            dmu, dv, dth, drho = _mix_scores(X[:, a], mean[a], var[a], codes[:, b], limits[b, : K[b] + 1], cor[a, b])
            cols = [th_off[a], var_slot[a]] + list(range(th_off[b], th_off[b] + K[b] - 1))
            parts = [dmu, dv] + [dth[:, t] for t in range(K[b] - 1)]
        both = ~np.isnan(X[:, i]) & ~np.isnan(X[:, j])  # a missing answer: scores 0 (pairwise deletion)
        drho = np.where(both, np.nan_to_num(drho), 0.0)
        S_rho[:, k] = drho
        for col, part in zip(cols, parts):
            A21[k, col] = float(drho @ np.where(both, np.nan_to_num(part), 0.0))
    return S1, S_rho, A21, var_slot


def _mixed_nacov(X, codes, K, limits, counts, ordi, numeric, mean, var, cor, th_off, nslot) -> np.ndarray:
    """N x acov of (thresholds and -means, variances, covariances): N H B^-1 (S'S) B^-T H'
    with lavaan's H (correlations to covariances) and the signs of the -means flipped."""
    N, p = X.shape
    S1, S_rho, A21, var_slot = _mixed_scores(X, codes, K, limits, counts, ordi, numeric, mean, var, cor,
                                             th_off, nslot)
    blocks = [list(range(th_off[j], th_off[j] + nslot[j])) + ([var_slot[j]] if numeric[j] else []) for j in range(p)]
    IF = influence(S1, blocks, S_rho, A21)
    return covariance_metric(N * _crossprod(IF), numeric, var, cor, var_slot, th_off, S1.shape[1])


def covariance_metric(G: np.ndarray, numeric, var, cor, var_slot, th_off, n1: int) -> np.ndarray:
    """lavaan's last steps of ``muthen1984`` on N x acov ``G`` of (thresholds, ..., variances,
    correlations; the correlations from column ``n1``): H G H' with H the delta rule from
    correlations to covariances of continuous variables, then the signs of their
    thresholds' slots (-means) flipped."""
    p = len(numeric)
    r, c = pair_index(p)
    sd = np.sqrt(np.where(numeric, var, 1.0))
    H = np.eye(len(G))
    for k, (i, j) in enumerate(zip(r, c)):
        row = n1 + k
        H[row, row] = sd[i] * sd[j]
        for a, b in ((i, j), (j, i)):
            if numeric[a]:
                H[row, var_slot[a]] = sd[b] * cor[i, j] / (2.0 * sd[a])
    G = H @ G @ H.T
    flip = np.ones(len(G))
    flip[th_off[numeric]] = -1.0
    G = G * flip[:, None] * flip[None, :]
    return (G + G.T) / 2.0
