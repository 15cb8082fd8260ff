"""Exploratory factor analysis in the engine: the unrestricted factor model, its rotation
and the standard errors of the rotated solution, as lavaan 0.6-14's ``efa()``.

Three steps (lavaan: ``efa()`` fits ``sem()`` on ``lav_syntax_efa``, then
``lav_model_efa_rotate`` and, for the SEs, ``rotation.se = "bordered"``):

1. **Extraction** (:func:`extract`). Sigma = Lambda Lambda' + Theta with the factors
   uncorrelated and of unit variance, fitted by ML (discrepancy on S with divisor N) or
   ULS (sum of squared residuals of vech S, S with divisor N - 1). lavaan's ``efa()``
   passes ``bounds = "pos.var"``: residual variances are bounded below by 0, so a Heywood
   item sits at 0 instead of going negative. The optimiser is L-BFGS-B (SciPy) on all
   loadings (upper triangle of the first rows fixed to 0, lavaan's identification) and
   the residual variances, from the classic eigen start.
2. **Rotation** (:func:`rotate`). lavaan's ``lav_matrix_rotate``: loadings scaled by the
   model-implied standard deviations (``std.ov = TRUE``), Kaiser row weights for varimax
   and promax, GPA from ``rstarts`` random orthogonal starts keeping the smallest
   criterion, columns reflected to positive sums and ordered by the mean row index of
   their large loadings (``order.lv.by = "index"``). The GPA iterations are statsmodels'
   ``GPA`` (``statsmodels.multivariate.factor_rotation``, the same algorithm as lavaan's
   ``lav_matrix_rotate_gpa``: Jennrich's projected gradient with step doubling and
   halving, stop at a projected-gradient norm below 1e-5); the criteria are statsmodels'
   ``oblimin_objective`` (oblimin, quartimin), ``CF_objective`` (Crawford-Ferguson),
   ``orthomax_objective`` (varimax) and ``vgQ_target`` (target), which equal lavaan's,
   and our own geomin (statsmodels has none): sum_i (prod_j (l_ij^2 + eps))^(1/m).
   Promax is not a GPA rotation: R's ``varimax()`` (SVD iterations, eps = 1e-5, Kaiser
   normalised) then the promax power target, as lavaan calls them.
3. **Standard errors** (:func:`bordered_vcov`). The parameters are all loadings, the
   residual variances and (oblique) the factor correlations; the rotation is identified by
   the stationarity conditions of the criterion, lavaan's ``lav_model_efa_rotate_border_x``
   (oblique: the off-diagonal elements of Z - Phi * diag(Z), Z = A' dQ/dA; orthogonal:
   Z - Z'). Their Jacobian H borders the expected information I; the covariance matrix is
   the parameter block of the Moore-Penrose inverse of [[I + H'H, H'], [H, 0]], divided by
   N (ML) or N - 1 (ULS), as ``lav_model_information_augment_invert``. lavaan differentiates
   H numerically (numDeriv, Richardson); we use a fourth-order central difference.
   lavaan 0.6-14 quirks kept for parity: the rotation criterion inside the constraints
   scales the loadings by diag(A A' + Theta) even for oblique solutions; Crawford-Ferguson
   via ``rotation = "cf"`` takes its gamma from ``orthomax.gamma`` (the named variants
   ``cf-quartimax`` ... set it themselves); promax has no criterion, so no SEs (NA in lavaan).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from scipy import optimize
from statsmodels.multivariate.factor_rotation._gpa_rotation import (
    GPA,
    CF_objective,
    oblimin_objective,
    orthomax_objective,
    vgQ_target,
)

from ..exceptions import EstimationError, OptionError
from . import indices as ix

ROTATIONS = ("geomin", "oblimin", "quartimin", "promax", "varimax", "target", "cf", "cf-quartimax",
             "cf-varimax", "cf-equamax", "cf-parsimax", "cf-facparsim", "none")
ORTHOGONAL_ONLY = ("varimax",)


# ----------------------------------------------------------------------------- options
@dataclass
class RotationOptions:
    """lavaan's ``rotation.args`` (0.6-14 defaults)."""

    method: str = "geomin"
    orthogonal: bool = False
    geomin_epsilon: float = 0.001
    oblimin_gamma: float = 0.0
    orthomax_gamma: float = 1.0  # also the gamma of rotation="cf" (lavaan 0.6-14)
    promax_kappa: float = 4.0
    target: np.ndarray | None = None
    rstarts: int = 30
    row_weights: str = "default"
    std_ov: bool = True
    gpa_tol: float = 1e-5
    max_iter: int = 10000
    seed: int | None = 19
    extra: dict = field(default_factory=dict)

    def weights_kind(self) -> str:
        if self.row_weights != "default":
            return self.row_weights
        return "kaiser" if self.method in ("varimax", "promax") else "none"


def rotation_options(method: str = "geomin", **args) -> RotationOptions:
    """Validate a rotation name and its arguments (lavaan's names with ``_``)."""
    method = str(method).lower()
    if method in ("crawford-ferguson", "crawford_ferguson"):
        method = "cf"
    if method not in ROTATIONS:
        raise OptionError(f"rotation={method!r} is not supported; choose one of {', '.join(ROTATIONS)}")
    known = set(RotationOptions.__dataclass_fields__) - {"method", "extra"}
    for k in args:
        if k not in known:
            raise OptionError(f"rotation_args: unknown argument {k!r}; known: {', '.join(sorted(known))}")
    opts = RotationOptions(method=method, **args)
    if method in ORTHOGONAL_ONLY and "orthogonal" not in args:
        opts.orthogonal = True
    if opts.row_weights not in ("default", "none", "kaiser"):
        raise OptionError(f"rotation_args: row_weights={opts.row_weights!r}; choose default, none or kaiser")
    if method == "target":
        if opts.target is None:
            raise OptionError("rotation='target' needs rotation_args target= (a matrix: items x factors)")
        opts.target = np.asarray(opts.target, float)
        if np.isnan(opts.target).any():
            raise OptionError("rotation_args target: missing values (partially specified targets) are not supported")
    if opts.rstarts < 0:
        raise OptionError(f"rotation_args: rstarts must be >= 0, not {opts.rstarts}")
    return opts


# ----------------------------------------------------------------------------- criteria
def geomin_vgq(L: np.ndarray, epsilon: float) -> tuple[float, np.ndarray]:
    """Geomin criterion and gradient (Yates 1987; lavaan's ``lav_matrix_rotate_geomin``)."""
    m = L.shape[1]
    L2 = L * L + epsilon
    g = np.exp(np.log(L2).sum(axis=1) / m)
    return float(g.sum()), (2.0 / m) * L / L2 * g[:, None]


def cf_gamma(opts: RotationOptions, p: int, m: int) -> float:
    """The Crawford-Ferguson kappa of a named variant (lavaan's switch)."""
    return {"cf-quartimax": 0.0, "cf-varimax": 1.0 / p, "cf-equamax": m / (2.0 * p),
            "cf-parsimax": (m - 1.0) / (p + m - 2.0), "cf-facparsim": 1.0}.get(opts.method, opts.orthomax_gamma)


def criterion(opts: RotationOptions, p: int, m: int):
    """``vgQ(L) -> (value, gradient)`` of the rotation criterion."""
    method = opts.method
    if method == "geomin":
        return lambda L: geomin_vgq(L, opts.geomin_epsilon)
    if method in ("oblimin", "quartimin"):
        gamma = opts.oblimin_gamma if method == "oblimin" else 0.0
        return lambda L: oblimin_objective(L=L, gamma=gamma)
    if method.startswith("cf"):
        kappa = cf_gamma(opts, p, m)
        return lambda L: CF_objective(L=L, kappa=kappa)
    if method == "varimax":
        return lambda L: orthomax_objective(L=L, gamma=1.0)
    if method == "target":
        return lambda L: vgQ_target(opts.target, L=L)
    raise OptionError(f"rotation={method!r} has no GPA criterion")


def row_weights(A: np.ndarray, kind: str) -> np.ndarray:
    if kind == "kaiser":
        return 1.0 / np.sqrt(np.sum(A * A, axis=1))
    return np.ones(A.shape[0])


# ----------------------------------------------------------------------------- rotation
@dataclass
class Rotated:
    loadings: np.ndarray
    phi: np.ndarray
    rot: np.ndarray
    order: np.ndarray
    value: float
    converged: bool
    orthogonal: bool


def random_rotation(m: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal matrix (QR of a standard normal matrix)."""
    q, r = np.linalg.qr(rng.standard_normal((m, m)))
    return q * np.sign(np.diag(r))


def _oblique_descent(A: np.ndarray, vgq, T0: np.ndarray) -> np.ndarray:
    """A quasi-Newton descent to the local minimum of the criterion near the oblique
    start T0 (T = X with unit columns, L = A T'^-1). GPA's first-order steps need
    thousands of iterations for geomin; BFGS reaches the same stationary point in a
    few dozen, and GPA then confirms it with lavaan's stopping rule."""
    m = A.shape[1]

    def fun(x):
        X = x.reshape(m, m)
        nrm = np.linalg.norm(X, axis=0)
        T = X / nrm
        try:
            Ti = np.linalg.inv(T)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(x)
        L = A @ Ti.T
        q, Gq = vgq(L)
        G = -(L.T @ Gq @ Ti).T
        gX = (G - T * np.sum(T * G, axis=0)) / nrm
        return q, gX.ravel()

    res = optimize.minimize(fun, T0.ravel(), jac=True, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000})
    X = res.x.reshape(m, m)
    return X / np.linalg.norm(X, axis=0)


def _gpa_best(A: np.ndarray, opts: RotationOptions, vgq) -> tuple[np.ndarray, float, bool]:
    """The rotation with the smallest criterion over the identity and ``rstarts`` random
    orthogonal starts (lavaan: 30). Each start is followed to its local minimum (oblique:
    :func:`_oblique_descent`, then statsmodels' GPA to ``gpa_tol``; orthogonal: GPA)."""
    m = A.shape[1]
    rng = np.random.default_rng(opts.seed)
    starts = [np.eye(m)] + [random_rotation(m, rng) for _ in range(opts.rstarts)]
    if opts.method == "target":  # the oblique least-squares (Procrustes) fit to the target
        B = np.linalg.lstsq(A, opts.target, rcond=None)[0]
        if abs(np.linalg.det(B)) > 1e-8:
            T0 = np.linalg.inv(B).T
            starts.append(T0 / np.linalg.norm(T0, axis=0))
    method = "orthogonal" if opts.orthogonal else "oblique"

    def run(T0):
        if not opts.orthogonal:
            T0 = _oblique_descent(A, vgq, T0)
        _, _, T, table = GPA(A, vgQ=vgq, T=T0, max_tries=opts.max_iter + 1, rotation_method=method,
                             tol=opts.gpa_tol)
        conv = bool(table) and table[-1][2] < np.log10(opts.gpa_tol)
        return T, float(vgq(_rotate_with(A, T, opts.orthogonal))[0]), conv

    best = (None, np.inf, False)
    for T0 in starts:
        try:
            T, value, conv = run(T0)
        except np.linalg.LinAlgError:  # a start that runs into a singular rotation is dropped
            continue
        if value < best[1] - 1e-12:
            best = (T, value, conv)
    if best[0] is None:
        raise EstimationError(f"the {opts.method} rotation failed from every start (singular rotation matrices)")
    return best


def _rotate_with(A: np.ndarray, T: np.ndarray, orthogonal: bool) -> np.ndarray:
    return A @ T if orthogonal else A @ np.linalg.inv(T).T


def r_varimax(x: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """R's ``stats::varimax(x, normalize = TRUE, eps)``: Kaiser-normalised SVD iterations
    that stop when the criterion grows by less than a factor 1 + eps."""
    p, m = x.shape
    sc = np.sqrt(np.sum(x * x, axis=1))
    xs = x / sc[:, None]
    TT, d = np.eye(m), 0.0
    for _ in range(1000):
        z = xs @ TT
        B = xs.T @ (z**3 - z * (np.sum(z * z, axis=0) / p))
        u, s, vt = np.linalg.svd(B)
        TT = u @ vt
        dpast, d = d, float(s.sum())
        if d < dpast * (1 + eps):
            break
    return (xs @ TT) * sc[:, None], TT


def promax(A: np.ndarray, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """lavaan's promax: varimax (R's algorithm), then the least-squares fit to the
    loadings raised to the power ``kappa``. Returns (loadings, Phi)."""
    x, vrot = r_varimax(A)
    Q = x * np.abs(x) ** (kappa - 1.0)
    U = np.linalg.lstsq(x, Q, rcond=None)[0]
    d = np.diag(np.linalg.inv(U.T @ U))
    U = U * np.sqrt(d)[None, :]
    z = x @ U
    U = vrot @ U
    return z, np.linalg.inv(U.T @ U)


def _reflect_and_order(L, phi, T, orthogonal):
    """lavaan: columns with a negative sum are reflected; columns ordered by the mean
    index of the rows loading at least 0.8 times the column's largest loading."""
    neg = L.sum(axis=0) < 0
    L = L * np.where(neg, -1.0, 1.0)
    T = T * np.where(neg, -1.0, 1.0)
    if not orthogonal:
        phi = T.T @ T if T is not None else phi * np.outer(np.where(neg, -1.0, 1.0), np.where(neg, -1.0, 1.0))
    big = np.abs(L).max(axis=0)
    index = [np.mean(np.nonzero(np.abs(L[:, j]) >= 0.8 * big[j])[0]) for j in range(L.shape[1])]
    order = np.argsort(index, kind="stable")
    return L[:, order], phi[np.ix_(order, order)], T[:, order], order


def rotate(A: np.ndarray, ov_var: np.ndarray, opts: RotationOptions) -> Rotated:
    """Rotate the unrotated loadings ``A`` (p x m) as lavaan's ``lav_matrix_rotate``."""
    p, m = A.shape
    if m < 2 or opts.method == "none":  # lavaan: no rotation, no reflection (one factor: positive sum)
        sign = np.where(A.sum(axis=0) < 0, -1.0, 1.0) if m == 1 else np.ones(m)
        return Rotated(A * sign, np.eye(m), np.diag(sign), np.arange(m), 0.0, True, True)
    sd = np.sqrt(ov_var) if opts.std_ov else np.ones(p)
    As = A / sd[:, None]
    w = row_weights(As, opts.weights_kind())
    if opts.method == "promax":
        L, phi = promax(As, opts.promax_kappa)
        T = np.linalg.lstsq(As, L, rcond=None)[0]
        T = np.linalg.inv(T.T)  # lavaan: ROT with L = A (ROT')^-1
        value, conv, orth = float("nan"), True, False
        phi_out = phi
    else:
        vgq = criterion(opts, p, m)
        T, value, conv = _gpa_best(As * w[:, None], opts, vgq)
        L = _rotate_with(As * w[:, None], T, opts.orthogonal) / w[:, None]
        orth = opts.orthogonal
        phi_out = np.eye(m) if orth else T.T @ T
    L = L * sd[:, None]
    if opts.method == "promax":
        neg = L.sum(axis=0) < 0
        s = np.where(neg, -1.0, 1.0)
        L, phi_out, T = L * s, phi_out * np.outer(s, s), T * s
        big = np.abs(L).max(axis=0)
        index = [np.mean(np.nonzero(np.abs(L[:, j]) >= 0.8 * big[j])[0]) for j in range(m)]
        order = np.argsort(index, kind="stable")
        L, phi_out, T = L[:, order], phi_out[np.ix_(order, order)], T[:, order]
    else:
        L, phi_out, T, order = _reflect_and_order(L, phi_out, T, orth)
    return Rotated(L, phi_out, T, order, value, conv, orth)


# ----------------------------------------------------------------------------- extraction
@dataclass
class Extraction:
    loadings: np.ndarray  # unrotated, upper triangle of the first rows 0
    theta: np.ndarray
    sigma: np.ndarray
    fmin: float  # lavaan's fmin (ML: half the discrepancy; ULS: half the (N-1)/N weighted sum)
    converged: bool
    iterations: int
    at_bound: np.ndarray  # items whose residual variance sits at the bound 0


def _free_mask(p: int, m: int) -> np.ndarray:
    mask = np.ones((p, m), bool)
    for j in range(m):
        mask[:j, j] = False
    return mask


def _start(S: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigen start: uniquenesses (1 - m/2p)/diag(S^-1), loadings from S* = Psi^-1/2 S Psi^-1/2,
    turned so that the upper triangle of the first m rows is zero."""
    p = len(S)
    psi = (1.0 - 0.5 * m / p) / np.diag(np.linalg.inv(S))
    s = 1.0 / np.sqrt(psi)
    vals, vecs = np.linalg.eigh(S * np.outer(s, s))
    vals, vecs = vals[::-1][:m], vecs[:, ::-1][:, :m]
    L = (vecs * np.sqrt(np.maximum(vals - 1.0, 1e-3))) / s[:, None]
    q, r = np.linalg.qr(L[:m, :].T)
    L = L @ q
    return L, psi


def _objective(S: np.ndarray, estimator: str):
    """Discrepancy and gradient in (Lambda, theta)."""
    p = len(S)
    if estimator == "ML":
        logdet_s = np.linalg.slogdet(S)[1]

        def f(L, th):
            Sig = L @ L.T + np.diag(th)
            c, low = np.linalg.cholesky(Sig), True
            logdet = 2.0 * np.log(np.diag(c)).sum()
            Si = np.linalg.inv(Sig)
            val = logdet + np.sum(Si * S) - logdet_s - p
            G = Si - Si @ S @ Si
            return val, 2.0 * G @ L, np.diag(G).copy()
    else:
        def f(L, th):
            R = S - (L @ L.T + np.diag(th))
            Rw = R + np.diag(np.diag(R))
            val = 0.5 * (np.sum(R * R) + np.sum(np.diag(R) ** 2))
            return val, -2.0 * Rw @ L, -2.0 * np.diag(R)
    return f


def extract(S: np.ndarray, m: int, estimator: str = "ML") -> Extraction:
    """Fit the unrestricted m-factor model to S (ML: divisor N; ULS: divisor N - 1) with
    residual variances bounded below by 0 (lavaan's ``bounds = "pos.var"``)."""
    p = len(S)
    mask = _free_mask(p, m)
    nl = int(mask.sum())
    f = _objective(S, estimator)
    L0, psi0 = _start(S, m)

    def fun(x):
        L = np.zeros((p, m))
        L[mask] = x[:nl]
        try:
            val, gL, gt = f(L, x[nl:])
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(x)
        return val, np.concatenate((gL[mask], gt))

    x0 = np.concatenate((L0[mask], psi0))
    bounds = [(None, None)] * nl + [(0.0, None)] * p
    res = optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-16, "gtol": 1e-11, "maxcor": 50})
    L = np.zeros((p, m))
    L[mask] = res.x[:nl]
    theta = res.x[nl:]
    val = f(L, theta)[0]
    grad = np.abs(fun(res.x)[1])
    active = theta <= 1e-10
    free_grad = np.concatenate((grad[:nl], grad[nl:][~active]))
    converged = bool(free_grad.max(initial=0.0) < 1e-4)
    return Extraction(L, theta, L @ L.T + np.diag(theta), 0.5 * val, converged, int(res.nit), np.nonzero(active)[0])


# ----------------------------------------------------------------------------- SEs
def _unpack(x: np.ndarray, p: int, m: int, orthogonal: bool):
    L = x[: p * m].reshape(p, m)
    theta = x[p * m: p * m + p]
    phi = np.eye(m)
    if not orthogonal:
        r, c = np.tril_indices(m, -1)
        phi[r, c] = phi[c, r] = x[p * m + p:]
    return L, theta, phi


def border_constraints(x: np.ndarray, p: int, m: int, opts: RotationOptions) -> np.ndarray:
    """lavaan's ``lav_model_efa_rotate_border_x``: the stationarity conditions of the
    rotation criterion at the rotated solution (zero at the solution)."""
    L, theta, phi = _unpack(x, p, m, opts.orthogonal)
    A = L
    if opts.std_ov:
        A = A / np.sqrt(np.sum(L * L, axis=1) + theta)[:, None]  # lavaan: diag(A A' + Theta)
    A = A * row_weights(A, opts.weights_kind())[:, None]
    Gq = criterion(opts, p, m)(A)[1]
    Z = A.T @ Gq
    if opts.orthogonal:
        tmp = Z - Z.T
        r, c = np.tril_indices(m, -1)
        return tmp[r, c]
    tmp = Z - phi * np.diag(Z)[:, None]
    off = ~np.eye(m, dtype=bool)
    return tmp[off]


def numeric_jacobian(fun, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Fourth-order central differences, column by column."""
    f0 = fun(x)
    J = np.empty((len(f0), len(x)))
    for k in range(len(x)):
        step = h * max(1.0, abs(x[k]))
        e = np.zeros_like(x)
        e[k] = step
        J[:, k] = (-fun(x + 2 * e) + 8 * fun(x + e) - 8 * fun(x - e) + fun(x - 2 * e)) / (12 * step)
    return J


def sigma_jacobian(L: np.ndarray, phi: np.ndarray, orthogonal: bool) -> np.ndarray:
    """d Sigma / d x (p*p x npar) for x = (vec_rows Lambda, theta, Phi lower)."""
    p, m = L.shape
    LP = L @ phi
    cols = []
    for i in range(p):
        for j in range(m):
            d = np.zeros((p, p))
            d[i, :] += LP[:, j]
            d[:, i] += LP[:, j]
            cols.append(d.ravel())
    for i in range(p):
        d = np.zeros((p, p))
        d[i, i] = 1.0
        cols.append(d.ravel())
    if not orthogonal:
        for r, c in zip(*np.tril_indices(m, -1)):
            d = np.outer(L[:, r], L[:, c])
            cols.append((d + d.T).ravel())
    return np.column_stack(cols)


def expected_information(L, phi, theta, orthogonal: bool, estimator: str) -> np.ndarray:
    """Unit expected information: ML 1/2 Delta'(Sigma^-1 (x) Sigma^-1)Delta; ULS Delta'Delta on vech."""
    p = L.shape[0]
    D = sigma_jacobian(L, phi, orthogonal)
    if estimator == "ML":
        Si = np.linalg.inv(L @ phi @ L.T + np.diag(theta))
        K = np.kron(Si, Si)
        return 0.5 * D.T @ K @ D
    r, c = np.tril_indices(p)
    Dv = D.reshape(p, p, -1)[r, c, :]
    return Dv.T @ Dv


def bordered_vcov(rot: Rotated, theta: np.ndarray, opts: RotationOptions, estimator: str,
                  n_se: float) -> np.ndarray:
    """Covariance matrix of (loadings by row, residual variances, factor correlations)."""
    L, phi = rot.loadings, rot.phi
    p, m = L.shape
    orth = rot.orthogonal or m < 2
    x = np.concatenate((L.ravel(), theta, [] if orth else phi[np.tril_indices(m, -1)]))
    info = expected_information(L, phi, theta, orth, estimator)
    if m < 2:
        E = info
    else:
        if opts.method == "none":  # the unrotated model: identified by its zero loadings
            zeros = [i * m + j for i in range(p) for j in range(m) if j > i]
            H = np.eye(len(x))[zeros]
        else:
            o = RotationOptions(**{**opts.__dict__, "orthogonal": orth})
            H = numeric_jacobian(lambda z: border_constraints(z, p, m, o), x)
        k = H.shape[0]
        E = np.block([[info + H.T @ H, H.T], [H, np.zeros((k, k))]])
    inv = np.linalg.pinv(E, rcond=np.finfo(float).eps ** 0.75, hermitian=True)
    V = inv[: len(x), : len(x)] / n_se
    if m > 1 and opts.method == "none":  # the fixed zeros have no sampling variance
        V[zeros, :] = 0.0
        V[:, zeros] = 0.0
    return V


# ----------------------------------------------------------------------------- one EFA fit
def max_factors(p: int) -> int:
    """lavaan's limit: the largest m whose free parameters do not exceed p(p+1)/2."""
    pstar, best = p * (p + 1) // 2, 0
    for m in range(1, p + 1):
        if m * p + m * (m + 1) // 2 + p - m * m > pstar:
            break
        best = m
    return best


@dataclass
class EFAFit:
    """One number of factors: the rotated solution, its covariance matrix and fit."""

    extraction: Extraction
    rotated: Rotated
    vcov: np.ndarray | None
    fit: dict
    npar: int
    warnings: list


def _fit_measures(ex: Extraction, S: np.ndarray, N: int, m: int, estimator: str) -> tuple[dict, int]:
    """lavaan's fitMeasures of the unrotated model (chi-square, baseline, CFI/TLI, RMSEA,
    SRMR, log-likelihood, AIC/BIC). ML: chi-square 2 N fmin on S with divisor N; ULS:
    (N - 1) times the residual sum of squares on S with divisor N - 1, no p-value and no
    likelihood, the RMSEA on N - 1 (``ls.py``)."""
    p = len(S)
    npar = p * m + p - m * (m - 1) // 2
    df = p * (p + 1) / 2.0 - npar
    if estimator == "ML":
        chisq, n_eff = 2.0 * N * ex.fmin, N
        chisq0 = N * (np.sum(np.log(np.diag(S))) - np.linalg.slogdet(S)[1])
        Si = np.linalg.inv(ex.sigma)
        logl = -0.5 * N * (p * np.log(2 * np.pi) + np.linalg.slogdet(ex.sigma)[1] + np.sum(Si * S))
        logl1 = -0.5 * N * (p * np.log(2 * np.pi) + np.linalg.slogdet(S)[1] + p)
    else:
        chisq, n_eff = 2.0 * (N - 1) * ex.fmin, N - 1
        chisq0 = (N - 1) * float(np.sum(np.tril(S, -1) ** 2))
        logl = logl1 = float("nan")
    chisq = max(chisq, 0.0)
    df0 = p * (p - 1) / 2.0
    pval = ix.chisq_pvalue(chisq, df) if estimator == "ML" else float("nan")
    fm = {"npar": float(npar), "chisq": chisq, "df": df, "pvalue": pval,
          "baseline_chisq": chisq0, "baseline_df": df0,
          "cfi": ix.cfi(chisq, df, chisq0, df0), "tli": ix.tli(chisq, df, chisq0, df0),
          "rmsea": ix.rmsea(chisq, df, n_eff, 1)}
    fm["rmsea_ci_lower"], fm["rmsea_ci_upper"] = ix.rmsea_ci(chisq, df, n_eff, 1)
    sample = SimpleNamespace(nobs=N, cov=S, mean=np.zeros(p))
    fm["srmr"] = ix.srmr([sample], [SimpleNamespace(sigma=ex.sigma, mu=np.zeros(p))], False)["srmr"]
    fm["logl"], fm["unrestricted_logl"] = float(logl), float(logl1)
    crit = ix.information_criteria(logl, npar, N) if estimator == "ML" else {}
    fm["aic"], fm["bic"] = crit.get("aic", float("nan")), crit.get("bic", float("nan"))
    fm["ntotal"] = float(N)
    return fm, npar


def efa_fit(S: np.ndarray, N: int, m: int, opts: RotationOptions, estimator: str = "ML",
            names: list[str] | None = None, se: bool = True) -> EFAFit:
    """Extract, rotate and (``se``) compute the bordered covariance matrix of one m-factor
    EFA on the sample covariance matrix S (ML: divisor N; ULS: divisor N - 1)."""
    names = names or [f"v{i + 1}" for i in range(len(S))]
    ex = extract(S, m, estimator)
    warnings = []
    if not ex.converged:
        warnings.append(f"{m} factor(s): the extraction did not converge; estimates are not trustworthy")
    for i in ex.at_bound:
        warnings.append(f"{m} factor(s): the residual variance of {names[i]} is at its bound 0 "
                        "(Heywood case; lavaan's bounds='pos.var')")
    rot = rotate(ex.loadings, np.diag(ex.sigma), opts)
    if not rot.converged:
        warnings.append(f"{m} factor(s): the {opts.method} rotation did not converge")
    vcov = None
    if se and opts.method == "promax" and m > 1:
        warnings.append(f"{m} factor(s): promax has no rotation criterion, so no standard errors "
                        "(lavaan 0.6-14 reports NA)")
    elif se:
        vcov = bordered_vcov(rot, ex.theta, opts, estimator, N if estimator == "ML" else N - 1)
    fm, npar = _fit_measures(ex, S, N, m, estimator)
    return EFAFit(ex, rot, vcov, fm, npar, warnings)
