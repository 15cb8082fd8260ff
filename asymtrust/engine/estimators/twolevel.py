"""Two-level maximum likelihood (lavaan's ``sem(..., cluster=)`` with ``level:`` blocks),
for unbalanced clusters, as lavaan 0.6-14 computes it (``lav_mvnorm_cluster.R``).

The parameter table has one block per group and level (lavaan's ``block``/``level``
columns); the blocks are laid out as the groups of one RAM model
(:class:`~asymtrust.engine.model.RamModel`, :func:`block_view`), which gives per group the
within moments (Sigma_W, mu_W) and the between moments (Sigma_B, mu_B). A variable named at
both levels has a within and a between part; one named only at level 2 is a between-only
variable z (constant within each cluster: otherwise refused, naming it); one named only at
level 1 is a within-only variable (no between part). Fixed-x covariates of either level
have their moments fixed at lavaan's sample values (:func:`_start_samples`) and their
likelihood (``loglik.x``) subtracted from both log-likelihoods.

Likelihood of one group (lavaan's ``lav_mvnorm_cluster_loglik_samplestats_2l``): with y the
level-1 variables (their cluster means ybar_j), b_j = (z_j, ybar_j) and, for a cluster of
size n, V_n = Sigma_B[(z, y), (z, y)] + [0 (+) Sigma_W[y, y] / n] and
mu = (mu_B[z], mu_W[y] + mu_B[y]),

    -2 log L = sum_j [log|V_nj| + p_y log n_j + (b_j - mu)' V_nj^-1 (b_j - mu)]
               + (N - J) [log|Sigma_W| + tr(Sigma_W^-1 S_PW)] + (N p_y + J p_z) log 2 pi,

S_PW the pooled within-cluster covariance (divisor N - J); clusters of equal size share
V_n (:func:`m2loglik`). Its gradient with respect to the block moments is analytic,
G_n = V_n^-1 - V_n^-1 Y_n V_n^-1 (Y_n = C_n + (m_n - mu)(m_n - mu)'),
d/dSigma_B = sum_n c_n G_n, d/dSigma_W = (N - J)(Sigma_W^-1 - Sigma_W^-1 S_PW Sigma_W^-1)
+ sum_n (c_n / n) G_n[y, y], d/dmu = -2 sum_n c_n V_n^-1 (m_n - mu), and is chained to the
parameters through each block's RAM Jacobian. The expected information is
(1/N) sum_n c_n [1/2 tr(V^-1 dV_a V^-1 dV_b) + dmu_a' V^-1 dmu_b]
+ (N - J)/N 1/2 tr(Sigma_W^-1 dSigma_W,a Sigma_W^-1 dSigma_W,b) (Fisher scoring's metric,
and ``information="expected"``); the observed information, lavaan's default, is the
Jacobian of the analytic gradient by forward differences. Several groups: lavaan 0.6-14
minimises the N_g-weighted mean of the groups' -2 log L_g / 2N (:class:`TwoLevelObjective`),
and its SEs use the unweighted sum; both are followed.

The saturated (H1) model is lavaan's EM with lavaan's start and stopping rule
(:func:`twolevel_saturated`), so that the test 2 (logl_H1 - logl_H0) and the ICCs equal
lavaan's; the baseline is lavaan's independence model of both levels (diagonal Sigma_W
and Sigma_B, free means), whose likelihood is a sum of univariate ones (closed form, or
Fisher scoring for a variable at both levels). Fit measures (:func:`twolevel_measures`):
lavaan's ``fitMeasures()`` of a two-level fit, with ``srmr_within`` and ``srmr_between``.
Not built (refused by name): MLR, FIML, ``group_equal``, estimators other than ML.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...exceptions import DataError, OptionError
from ..data import DROP_LISTWISE
from ..samplestats import LOG2PI, GroupSample, complete_sample
from .base import Baseline, EstimatorFamily, Solution
from .fiml import FIML
from .ml import ML


# ----------------------------------------------------------------------------- cluster statistics
@dataclass
class ClusterStats:
    """The sufficient statistics of one group's clustered rows for two-level ML."""

    N: int
    J: int
    y_idx: np.ndarray  # level-1 variables (positions among the observed variables)
    z_idx: np.ndarray  # between-only variables
    S_PW: np.ndarray  # pooled within covariance of y (divisor N - J)
    sizes: np.ndarray  # distinct cluster sizes n
    counts: np.ndarray  # clusters of each size c_n
    mean_d: np.ndarray  # (n_sizes, pz + py): mean of b_j = (z_j, ybar_j) per size
    cov_d: np.ndarray  # (n_sizes, q, q): covariance of b_j per size (divisor c_n)
    ybar: np.ndarray  # (J, p) cluster means of every variable
    cluster_size: np.ndarray  # (J,)

    @property
    def b_idx(self) -> np.ndarray:
        return np.concatenate([self.z_idx, self.y_idx])

    def plan(self) -> tuple:
        """Index arrays and constants the likelihood uses at every evaluation (built once):
        (y, b, yy, bb, log n constant, c / n, 2 pi constant)."""
        cached = self.__dict__.get("_plan")
        if cached is None:
            y, b = self.y_idx, self.b_idx
            py, pz = len(y), len(self.z_idx)
            const = float(self.counts @ (py * np.log(self.sizes))) + (self.N * py + self.J * pz) * LOG2PI
            cached = (y, b, np.ix_(y, y), np.ix_(b, b), const, self.counts / self.sizes)
            self.__dict__["_plan"] = cached
        return cached


def cluster_stats(X: np.ndarray, codes: np.ndarray, y_idx, z_idx, names: list[str]) -> ClusterStats:
    """:class:`ClusterStats` of the complete rows ``X`` (columns: the observed variables)
    with cluster codes ``codes``. Refuses a between-only variable that varies within a
    cluster, naming it."""
    _, inv = np.unique(codes, return_inverse=True)
    J = int(inv.max()) + 1
    N, p = X.shape
    if N == J:
        raise DataError("every cluster has a single respondent: a two-level model needs clusters with several")
    n = np.bincount(inv, minlength=J).astype(float)
    sums = np.zeros((J, p))
    np.add.at(sums, inv, X)
    ybar = sums / n[:, None]
    R = X - ybar[inv]
    for k in z_idx:
        if np.abs(R[:, k]).max() > 1e-8 * max(1.0, np.abs(X[:, k]).max()):
            raise DataError(f"variable {names[k]!r} appears only at the between level (level 2) but varies within "
                            "clusters; a between-level variable must be constant within each cluster")
    y_idx, z_idx = np.asarray(y_idx, int), np.asarray(z_idx, int)
    for k in y_idx:
        if np.abs(R[:, k]).max() <= 1e-8 * max(1.0, np.abs(X[:, k]).max()):
            raise DataError(f"variable {names[k]!r} does not vary within clusters: it cannot be named at level 1 "
                            "(name it in the level: 2 block only)")
    for k in z_idx:
        if np.ptp(ybar[:, k]) <= 1e-8 * max(1.0, np.abs(ybar[:, k]).max()):
            raise DataError(f"variable {names[k]!r} has zero variance between clusters; remove it from the model")
    Ry = R[:, y_idx]
    S_PW = Ry.T @ Ry / (N - J)
    b = np.concatenate([z_idx, y_idx])
    B = ybar[:, b]
    sizes, size_of = np.unique(n, return_inverse=True)
    counts = np.bincount(size_of).astype(float)
    mean_d = np.zeros((len(sizes), len(b)))
    np.add.at(mean_d, size_of, B)
    mean_d /= counts[:, None]
    Bc = B - mean_d[size_of]
    cov_d = np.zeros((len(sizes), len(b), len(b)))
    np.add.at(cov_d, size_of, Bc[:, :, None] * Bc[:, None, :])
    cov_d /= counts[:, None, None]
    return ClusterStats(N=N, J=J, y_idx=y_idx, z_idx=z_idx, S_PW=(S_PW + S_PW.T) / 2.0, sizes=sizes,
                        counts=counts, mean_d=mean_d, cov_d=cov_d, ybar=ybar, cluster_size=n)


# ----------------------------------------------------------------------------- likelihood
def _level_moments(cs: ClusterStats, sw, mw, sb, mb):
    """Sigma_W[y, y], the between matrix over b = (z, y), and mu over b."""
    y, b, yy, bb = cs.plan()[:4]
    mu = mb[b]
    mu[len(cs.z_idx):] += mw[y]
    return sw[yy], sb[bb], mu


def m2loglik(cs: ClusterStats, sw, mw, sb, mb, *, need_grad: bool = False):
    """-2 log L of one group and, with ``need_grad``, its derivatives with respect to the
    within and between (Sigma, mu) of the blocks, over all observed variables (full-matrix
    form). Returns ``(value, (dSw, dmw, dSb, dmb))``; ``inf`` where a matrix is not
    positive definite."""
    y, b, yy, bb, const, c_n = cs.plan()
    Sw, Sb, mu = _level_moments(cs, sw, mw, sb, mb)
    pz = len(cs.z_idx)
    try:
        Lw = np.linalg.cholesky(Sw)
        V = np.repeat(Sb[None], len(cs.sizes), axis=0)
        V[:, pz:, pz:] += Sw[None] / cs.sizes[:, None, None]
        L = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        return np.inf, None
    Swi = np.linalg.inv(Sw)
    Vi = np.linalg.inv(V)
    ldw = 2.0 * np.log(np.diag(Lw)).sum()
    ld = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    d = cs.mean_d - mu
    Y = cs.cov_d + d[:, :, None] * d[:, None, :]
    c = cs.counts
    NJ = cs.N - cs.J
    val = float(c @ (ld + np.einsum("kij,kji->k", Vi, Y)) + NJ * (ldw + np.sum(Swi * cs.S_PW)) + const)
    if not need_grad:
        return val, None
    G = Vi - Vi @ Y @ Vi
    p = len(sw)
    dSw, dSb, dmw, dmb = np.zeros((p, p)), np.zeros((p, p)), np.zeros(p), np.zeros(p)
    dSb[bb] = np.tensordot(c, G, 1)
    dSw[yy] = NJ * (Swi - Swi @ cs.S_PW @ Swi) + np.tensordot(c_n, G[:, pz:, pz:], 1)
    gmu = -2.0 * np.einsum("k,kij,kj->i", c, Vi, d)
    dmb[b] = gmu
    dmw[y] = gmu[pz:]
    return val, (dSw, dmw, dSb, dmb)


# ----------------------------------------------------------------------------- objective
class TwoLevelObjective:
    """The two-level ML discrepancy of a RAM model whose groups are lavaan's blocks (per
    group of clusters: within, then between), as lavaan 0.6-14 minimises it:
    f = sum_g w_g (-2 log L_g / 2 + logl_H1,g) / N with w_g = N_g / N (``lav_model_objective``
    takes the N_g-weighted mean of the groups' -2 log L_g / 2N). With one group this is ML;
    with several groups and parameters shared across them it is lavaan's estimator, not
    the maximum of the summed likelihood (the log-likelihood reported is the summed one)."""

    def __init__(self, model, stats: list[ClusterStats], ll1: list[float] | None = None):
        self.model = model
        self.stats = stats
        self.N = sum(cs.N for cs in stats)
        self.w = [cs.N / self.N for cs in stats]
        self.samples: list = []
        self.h1: list = []  # the groups' saturated models (TwoLevelSaturated), set by fit_twolevel
        self.ll1 = sum(w * v for w, v in zip(self.w, ll1 or [0.0] * len(stats)))

    def evaluate(self, theta: np.ndarray, need_grad: bool = True):
        return self._evaluate(theta, need_grad, self.w)

    def _evaluate(self, theta: np.ndarray, need_grad: bool, weights: list[float]):
        imp = self.model.implied(theta)
        total = 0.0
        Ws, gms = [], []
        for g, cs in enumerate(self.stats):
            w, b = imp[2 * g], imp[2 * g + 1]
            val, grad = m2loglik(cs, w.sigma, w.mu, b.sigma, b.mu, need_grad=need_grad)
            if not np.isfinite(val):
                return np.inf, None, imp
            total += weights[g] * val
            if need_grad:
                s = weights[g] / (2.0 * self.N)
                dSw, dmw, dSb, dmb = grad
                Ws += [dSw * s, dSb * s]
                gms += [dmw * s, dmb * s]
        f = (total / 2.0 + self.ll1) / self.N
        if not need_grad:
            return f, None, imp
        return f, self.model.gradient(imp, Ws, gms), imp

    def loglik(self, imp) -> float:
        return sum(-0.5 * m2loglik(cs, imp[2 * g].sigma, imp[2 * g].mu, imp[2 * g + 1].sigma, imp[2 * g + 1].mu)[0]
                   for g, cs in enumerate(self.stats))

    def scoring_information(self, imp) -> np.ndarray:
        return self.expected_information(imp, self.w)

    def expected_information(self, imp, weights: list[float] | None = None) -> np.ndarray:
        """Fisher information per case (module docstring), from the blocks' Jacobians.
        The groups are summed with ``weights`` (default 1: the information of the summed
        likelihood, which lavaan's SEs use; the optimiser's metric uses the objective's)."""
        weights = weights if weights is not None else [1.0] * len(self.stats)
        delta = self.model.delta(imp)
        K = self.model.n_free
        info = np.zeros((K, K))
        for g, cs in enumerate(self.stats):
            (dSw, dmw), (dSb, dmb) = delta[2 * g], delta[2 * g + 1]
            y, bi = cs.y_idx, cs.b_idx
            pz = len(cs.z_idx)
            Sw, Sb, _ = _level_moments(cs, imp[2 * g].sigma, imp[2 * g].mu, imp[2 * g + 1].sigma, imp[2 * g + 1].mu)
            dW = dSw[:, y][:, :, y]  # (K, py, py)
            dB = dSb[:, bi][:, :, bi]
            dmu = dmb[:, bi].copy()
            dmu[:, pz:] += dmw[:, y]
            A = np.matmul(np.linalg.inv(Sw), dW)
            part = (cs.N - cs.J) * 0.5 * _trace_products(A)
            for n, c in zip(cs.sizes, cs.counts):
                V = Sb.copy()
                V[pz:, pz:] += Sw / n
                Vi = np.linalg.inv(V)
                dV = dB.copy()
                dV[:, pz:, pz:] += dW / n
                A = np.matmul(Vi, dV)
                part += c * (0.5 * _trace_products(A) + dmu @ Vi @ dmu.T)
            info += weights[g] * part
        return info / self.N

    def observed_information(self, theta: np.ndarray, imp=None, h: float = 1e-6) -> np.ndarray:
        """The Hessian of -log L / N (groups summed): forward differences of the analytic
        gradient (symmetrised; the error is O(h) relative, far below the SEs' digits)."""
        K = len(theta)
        H = np.zeros((K, K))
        ones = [1.0] * len(self.stats)  # lavaan: the groups' Hessians unweighted (see expected_information)
        g0 = self._evaluate(theta, True, ones)[1]
        for k in range(K):
            step = h * max(1.0, abs(theta[k]))
            e = np.zeros(K)
            e[k] = step
            H[:, k] = (self._evaluate(theta + e, True, ones)[1] - g0) / step
        return (H + H.T) / 2.0


# ----------------------------------------------------------------------------- the family
class TwoLevelML(EstimatorFamily):
    """Two-level ML for complete data (lavaan's ``level:`` blocks with ``cluster=``).

    An instance is bound to the clusters of one fit: per group their statistics, level
    structure and saturated model (:class:`GroupLevels`), built by :func:`fit_twolevel`."""

    name = "TwoLevelML"
    estimator = "ML"
    missing = "listwise"
    drop_reason = DROP_LISTWISE
    levels = 2

    def __init__(self, robust: bool = False, groups: list | None = None):
        if robust:
            raise OptionError("estimator='MLR' with level: blocks (two-level robust ML) is not supported yet; "
                              "use estimator='ML'")
        super().__init__(robust=False)
        #: per group of clusters: its :class:`GroupLevels`
        self.groups: list[GroupLevels] = list(groups or [])

    @property
    def ll1(self) -> float:
        return sum(gl.sat.logl - gl.llx for gl in self.groups)

    @property
    def llx(self) -> float:
        return sum(gl.llx for gl in self.groups)

    @property
    def default_information(self) -> str:
        return "observed"  # lavaan's default for two-level models

    def keep_rows(self, nan: np.ndarray, xpos: list[int]) -> np.ndarray:
        return ~nan.any(axis=1)

    def sample_stats(self, blocks: list[np.ndarray]) -> list[GroupSample]:
        return [complete_sample(X) for X in blocks]

    def objective(self, model, samples: list[GroupSample]):
        return TwoLevelObjective(model, [gl.cs for gl in self.groups], [gl.sat.logl for gl in self.groups])

    def scores(self, obj, imp, delta):
        raise OptionError("case-wise scores of a two-level model (robust SEs) are not supported yet")

    def ndat(self) -> int:
        """Sample moments of all groups, the fixed-x covariates' left out."""
        return sum(ndat(gl.cs, len(gl.lv.within_only)) - gl.lv.nexo for gl in self.groups)

    def baseline(self, sol: Solution) -> Baseline:
        """lavaan's independence model of both levels: diagonal Sigma_W and Sigma_B, free
        means, the fixed-x covariates' moments as in H0 (their likelihood cancels with
        ``loglik.x``)."""
        ll0 = npar0 = 0.0
        for gl in self.groups:
            ll, k = baseline_fit(gl.cs, gl.lv.within_only, gl.lv.exo_idx)
            ll0, npar0 = ll0 + ll, npar0 + k
        chisq0 = max(2.0 * (self.ll1 - ll0), 0.0)
        return Baseline(chisq0, float(self.ndat() - npar0))

    def loglik(self, sol: Solution) -> tuple[float, float]:
        """(logl_H0, logl_H1), the fixed-x covariates' likelihood subtracted (lavaan)."""
        return sol.obj.loglik(sol.imp) - self.llx, self.ll1


# ----------------------------------------------------------------------------- baseline
def _both_m2ll(cs: ClusterStats, js: list[int]) -> float:
    """-2 log L of the independence model of the two-level variables ``js`` (each with a
    within and a between variance and a mean), summed: all variables at once by Fisher
    scoring with step halving (the univariate likelihoods are independent)."""
    if not js:
        return 0.0
    b = np.array([int(np.flatnonzero(cs.b_idx == j)[0]) for j in js])
    yi = np.array([int(np.flatnonzero(cs.y_idx == j)[0]) for j in js])
    m, cv = cs.mean_d[:, b].T, cs.cov_d[:, b, b].T  # (nv, sizes)
    spw = cs.S_PW[yi, yi][:, None]
    c, sz, NJ = cs.counts[None, :], cs.sizes[None, :], cs.N - cs.J
    n, x = cs.cluster_size, cs.ybar[:, js]
    mu = (n @ x / cs.N)[:, None]
    vw = spw.copy()
    vb = np.maximum(x.var(axis=0)[:, None] - spw / float(np.mean(n)), 0.05 * spw)

    def value(vw, vb, mu):
        V = vb + vw / sz
        Y = cv + (m - mu) ** 2
        bad = (vw[:, 0] <= 0) | np.any(V <= 0, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.sum(c * (np.log(V) + Y / V), axis=1) + NJ * (np.log(vw) + spw / vw)[:, 0]
        return np.where(bad, np.inf, f), V, Y

    f, V, Y = value(vw, vb, mu)
    for _ in range(200):
        G = 1.0 / V - Y / V ** 2
        g = np.stack([np.sum(c * G / sz, axis=1) + NJ * (1.0 / vw - spw / vw ** 2)[:, 0],
                      np.sum(c * G, axis=1), -2.0 * np.sum(c * (m - mu) / V, axis=1)], axis=1)
        if np.abs(g).max() < 1e-8 * cs.N:
            break
        W = c / V ** 2  # expected information of -2 log L: 2 x (1/2 V^-2 dV dV'), 2 x c / V for the mean
        Iww = np.sum(W / sz ** 2, axis=1) + NJ / vw[:, 0] ** 2
        Iwb, Ibb, Imm = np.sum(W / sz, axis=1), np.sum(W, axis=1), 2.0 * np.sum(c / V, axis=1)
        det = Iww * Ibb - Iwb ** 2
        step = np.stack([(Ibb * g[:, 0] - Iwb * g[:, 1]) / det, (Iww * g[:, 1] - Iwb * g[:, 0]) / det,
                         g[:, 2] / Imm], axis=1)
        t = np.ones(len(js))
        for _ in range(30):
            nw, nb, nm = vw - (t * step[:, 0])[:, None], vb - (t * step[:, 1])[:, None], mu - (t * step[:, 2])[:, None]
            fn, Vn, Yn = value(nw, nb, nm)
            ok = fn <= f + 1e-12 * np.abs(f)
            if ok.all():
                break
            t = np.where(ok, t, t / 2.0)
        vw, vb, mu, f, V, Y = nw, nb, nm, fn, Vn, Yn
    return float(np.sum(f) + len(js) * (cs.counts @ np.log(cs.sizes) + cs.N * LOG2PI))


def _univariate_m2ll(cs: ClusterStats, j: int, kind: str) -> float:
    """-2 log L of a variable alone in the independence model, in closed form: ``kind``
    "within" (a within-only variable: normal over the N cases) or "between" (a
    between-only one: normal over the J clusters)."""
    n = cs.cluster_size
    x = cs.ybar[:, j]
    if kind == "between":
        return cs.J * (np.log(x.var()) + 1.0 + LOG2PI)
    yi = int(np.flatnonzero(cs.y_idx == j)[0])
    mean = n @ x / cs.N
    var = ((cs.N - cs.J) * cs.S_PW[yi, yi] + n @ (x - mean) ** 2) / cs.N
    return cs.N * (np.log(var) + 1.0 + LOG2PI)


def baseline_fit(cs: ClusterStats, within_only=(), exo=()) -> tuple[float, float]:
    """The independence model's log-likelihood, a sum over the variables that are not
    fixed-x covariates, and its number of free parameters."""
    both, m2ll, npar = [], 0.0, 0
    for j in list(cs.y_idx) + list(cs.z_idx):
        if j in exo:
            continue
        if j in cs.z_idx or j in within_only:
            m2ll += _univariate_m2ll(cs, int(j), "between" if j in cs.z_idx else "within")
            npar += 2
        else:
            both.append(int(j))
            npar += 3
    return -0.5 * (m2ll + _both_m2ll(cs, both)), float(npar)


def ndat(cs: ClusterStats, n_within_only: int = 0) -> int:
    """The sample moments of a two-level model: the within covariances of the level-1
    variables, the between covariances and means of the level-2 variables (and the
    within means of within-only variables)."""
    p1 = len(cs.y_idx)
    p2 = len(cs.y_idx) - n_within_only + len(cs.z_idx)
    return p1 * (p1 + 1) // 2 + n_within_only + p2 * (p2 + 1) // 2 + p2


# ----------------------------------------------------------------------------- fit measures
def _cor(S: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(S))
    return S / np.outer(d, d)


def _force_pd(S: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """lavaan's ``lav_matrix_symmetric_force_pd``: eigenvalues below ``tol`` raised to it."""
    w, v = np.linalg.eigh((S + S.T) / 2.0)
    if w.min() >= tol:
        return S
    return (v * np.maximum(w, tol)) @ v.T


def srmr_levels(h1_w, h1_b, sigma_w, sigma_b) -> tuple[float, float]:
    """lavaan's ``lav_fit_srmr_twolevel``: per level the root mean square of the
    correlation residuals (vech, diagonal included; means left out), H1 against H0."""
    out = []
    for S, Sig in ((h1_w, sigma_w), (h1_b, _force_pd(sigma_b))):
        if np.any(np.diag(Sig) <= 0):
            out.append(float("nan"))
            continue
        R = _cor(S) - _cor(Sig)
        r, c = np.tril_indices(len(S))
        out.append(float(np.sqrt(np.sum(R[r, c] ** 2) / len(r))))
    return out[0], out[1]


def twolevel_measures(sol: Solution, npar: int) -> dict[str, float]:
    """lavaan's ``fitMeasures()`` of a two-level ML fit: the test 2 (logl_H1 - logl_H0),
    the baseline and incremental indices, logl/AIC/BIC, RMSEA and SRMR per level (groups
    weighted by N_g / N)."""
    from .. import indices as ix

    N, fam, G = sol.obj.N, sol.family, len(sol.family.groups)
    ll, ll1 = fam.loglik(sol)
    chisq = 2.0 * (ll1 - ll)
    chisq = max(chisq, 0.0) if chisq > -1e-3 else chisq  # lavaan: a tiny negative value is 0
    df = float(sol.df)
    base = fam.baseline(sol)
    fm = {"npar": float(npar), "chisq": chisq, "df": df, "pvalue": ix.chisq_pvalue(chisq, df),
          "baseline_chisq": base.chisq, "baseline_df": base.df,
          "baseline_pvalue": ix.chisq_pvalue(base.chisq, base.df),
          "cfi": ix.cfi(chisq, df, base.chisq, base.df), "tli": ix.tli(chisq, df, base.chisq, base.df)}
    fm["nnfi"] = fm["tli"]
    fm.update(ix.other_incremental(chisq, df, base.chisq, base.df))
    fm["logl"], fm["unrestricted_logl"] = ll, ll1
    cs0 = fam.groups[0].cs
    if G == 1 and not fam.groups[0].lv.exo_idx:  # lavaan's fmin: -(logl + P log(2 pi) / 2) / N
        fm["fmin"] = -(ll + (N * len(cs0.y_idx) + cs0.J * len(cs0.z_idx)) * LOG2PI / 2.0) / N
    fm.update(ix.information_criteria(ll, npar, N))
    fm["ntotal"] = fm["nobs"] = float(N)
    fm["rmsea"] = ix.rmsea(chisq, df, N, G)
    fm["rmsea_ci_lower"], fm["rmsea_ci_upper"] = ix.rmsea_ci(chisq, df, N, G)
    fm["rmsea_ci_level"] = 0.90
    fm["rmsea_pvalue"] = ix.rmsea_pvalue(chisq, df, N, G)
    fm["rmsea_close_h0"] = 0.05
    fm["rmsea_notclose_pvalue"] = ix.rmsea_notclose_pvalue(chisq, df, N, G)
    fm["rmsea_notclose_h0"] = 0.08
    sw = sb = 0.0
    for g, gl in enumerate(fam.groups):
        w, b = sol.imp[2 * g], sol.imp[2 * g + 1]
        cs = gl.cs
        y, bi = cs.y_idx, cs.b_idx
        keep = np.flatnonzero(~np.isin(bi, gl.lv.within_only))  # the level-2 variables
        a, c = srmr_levels(gl.sat.sigma_w, gl.sat.sigma_b[np.ix_(keep, keep)], w.sigma[np.ix_(y, y)],
                           b.sigma[np.ix_(bi[keep], bi[keep])])
        sw, sb = sw + cs.N / N * a, sb + cs.N / N * c
    fm["srmr"], fm["srmr_within"], fm["srmr_between"] = sw + sb, sw, sb
    return fm


# ----------------------------------------------------------------------------- the fit
_ROW_OPS = ("=~", "~", "~~", "~1")


@dataclass
class LevelStructure:
    """What a two-level fit reads from its table, once per table: the observed variables
    of each level (positions in ``ov_names``), the within-only ones, the fixed-x
    covariates of each level and their number of sample moments."""

    lev1: list[int]
    lev2: list[int]
    within_only: list[int]
    exo: tuple[list[int], list[int]]

    @property
    def between_only(self) -> list[int]:
        return [k for k in self.lev2 if k not in self.lev1]

    @property
    def exo_idx(self) -> list[int]:
        return sorted(set(self.exo[0]) | set(self.exo[1]))

    @property
    def nexo(self) -> int:
        """Sample moments of the fixed-x covariates: their covariances at each level and
        their means where means are moments (level 1: within-only variables; level 2: all)."""
        q1, q2 = len(self.exo[0]), len(self.exo[1])
        return q1 * (q1 + 1) // 2 + sum(k in self.within_only for k in self.exo[0]) + q2 * (q2 + 1) // 2 + q2


def level_sets(pt) -> list[LevelStructure]:
    """The :class:`LevelStructure` of each group of a table with ``level:`` blocks (cached
    on the table); refuses more than two levels."""
    cached = pt.__dict__.get("_twolevel_levels")
    if cached is not None:
        return cached
    tab = pt.table
    if int(tab["level"].max()) > 2:
        raise OptionError("more than two levels are not supported (lavaan 0.6-14 fits two)")
    ov = list(pt.ov_names)
    out = []
    for g in range(1, int(pt.ngroups) + 1):
        per, exo = [], []
        for lev in (1, 2):
            rows = tab[(tab["group"] == g) & (tab["level"] == lev) & tab["op"].isin(_ROW_OPS)]
            used = set(rows["lhs"]) | set(rows["rhs"])
            per.append([k for k, v in enumerate(ov) if v in used])
            xs = set(rows.loc[(rows["exo"] == 1) & (rows["op"] == "~~"), "lhs"])
            exo.append([k for k, v in enumerate(ov) if v in xs])
        both = [ov[k] for k in exo[0] + exo[1] if k in per[0] and k in per[1]]
        if both:
            raise OptionError(f"fixed-x covariate {both[0]!r} is named at both levels: not supported yet (lavaan "
                              "0.6-14 handles its likelihood differently); pass fixed_x=False or name it at one level")
        out.append(LevelStructure(lev1=per[0], lev2=per[1], within_only=[k for k in per[0] if k not in per[1]],
                                  exo=(exo[0], exo[1])))
    pt.__dict__["_twolevel_levels"] = out
    return out


@dataclass
class GroupLevels:
    """One group of clusters in a two-level fit: its statistics, level structure,
    saturated model, fixed-x log-likelihood and lavaan's per-level sample moments."""

    cs: ClusterStats
    lv: LevelStructure
    sat: "TwoLevelSaturated"
    llx: float
    start: list[GroupSample]


def block_view(pt):
    """The table with its level blocks laid out as RAM groups (block 1 within, block 2
    between), built once per table."""
    import dataclasses

    cached = pt.__dict__.get("_twolevel_view")
    if cached is not None:
        return cached
    tab = pt.table.copy()
    tab["group"] = tab["block"].astype(int)
    tab["level"] = 1
    view = dataclasses.replace(pt, table=tab, ngroups=int(tab["block"].max()),
                               group_labels=[str(b) for b in range(1, int(tab["block"].max()) + 1)], level_labels=[])
    pt.__dict__["_twolevel_view"] = view
    return view


def _start_samples(cs: ClusterStats, p: int, within_only) -> list[GroupSample]:
    """lavaan's two-level sample moments per level (``lav_samplestats_cluster_patterns``),
    for the starting values and the fixed-x covariates: at level 1 the pooled within
    covariance (the total covariance, divisor N, and the means of within-only
    variables; other means 0), at level 2 the between covariance (S_B - S_PW) / s with
    the grand means (the covariance and means of the cluster means of between-only
    variables, divisor J)."""
    N, J, n = cs.N, cs.J, cs.cluster_size
    s = (N - np.sum(n ** 2) / N) / (J - 1)
    ybar = cs.ybar
    grand = n @ ybar / N
    Yc = ybar - grand
    S_b = (Yc * n[:, None]).T @ Yc / (J - 1)
    y, z, wo = cs.y_idx, cs.z_idx, np.asarray(within_only, int)
    Sw = np.zeros((p, p))
    Sw[np.ix_(y, y)] = cs.S_PW
    mw = np.zeros(p)
    if wo.size:
        T = (cs.N - cs.J) * cs.S_PW + (Yc[:, y] * n[:, None]).T @ Yc[:, y]  # total scatter of y
        k = np.searchsorted(y, wo)
        Sw[np.ix_(wo, wo)] = T[np.ix_(k, k)] / N
        mw[wo] = grand[wo]
    Sb = (S_b - Sw) / s
    if z.size:
        Sb[np.ix_(z, z)] = np.cov(ybar[:, z].T, bias=True).reshape(len(z), len(z))
        grand[z] = ybar[:, z].mean(axis=0)
    Sb[wo, :] = 0.0
    Sb[:, wo] = 0.0
    mb = grand.copy()
    mb[wo] = 0.0
    return [GroupSample(nobs=N, cov=Sw, mean=mw), GroupSample(nobs=J, cov=Sb, mean=mb)]


def loglik_x(cs: ClusterStats, lv: LevelStructure, start: list[GroupSample]) -> float:
    """lavaan's ``loglik.x``: the normal log-likelihood of the fixed-x covariates of each
    level at their sample moments (level 1: N cases, level 2: J clusters), subtracted from
    both log-likelihoods."""
    out = 0.0
    for xs, s, n in zip(lv.exo, start, (cs.N, cs.J)):
        if xs:
            q = len(xs)
            out += -n / 2.0 * (q * LOG2PI + np.linalg.slogdet(s.cov[np.ix_(xs, xs)])[1] + q)
    return out


def check_between_variance(cs: ClusterStats, names: list[str], within_only=()) -> None:
    """Refuse a level-2 variable whose cluster means do not vary (lavaan's check: the
    between scatter below 1e-4)."""
    n, N, J = cs.cluster_size, cs.N, cs.J
    grand = n @ cs.ybar / N
    Yc = cs.ybar - grand
    sb = np.einsum("j,jk,jk->k", n, Yc, Yc) / (J - 1)
    for k in cs.y_idx:
        if sb[k] < 1e-4 and k not in within_only:
            raise DataError(f"variable {names[k]!r} has (near) zero variance between clusters: it cannot be "
                            "named in the level: 2 block (give it at level 1 only)")


def _prepare(pt, data, cluster, group):
    """Family (with each group's clusters, level structure and H1 model), rows and drops
    of a two-level fit."""
    from ..data import prepare

    if cluster is None:
        raise OptionError("level: blocks need cluster= (the column naming each respondent's cluster)")
    lvs = level_sets(pt)
    ov = list(pt.ov_names)
    family = TwoLevelML()
    drops: dict = {}
    samples, labels = prepare(data, ov, group, family, [], drops, cluster=cluster)
    if len(samples) != len(lvs):
        raise OptionError(f"the model has {len(lvs)} group block(s) but the data {len(samples)} group(s)")
    for s_, lv in zip(samples, lvs):
        cs = cluster_stats(s_.X, s_.cluster, lv.lev1, lv.between_only, ov)
        check_between_variance(cs, ov, lv.within_only)
        start = _start_samples(cs, len(ov), lv.within_only)
        family.groups.append(GroupLevels(cs=cs, lv=lv, sat=twolevel_saturated(cs, lv.within_only),
                                         llx=loglik_x(cs, lv, start), start=start))
    return family, samples, labels, drops


def _vcov(obj, theta, imp, rep, se: str, information: str):
    from ..vcov import constrained_inverse

    if se not in ("standard", "none"):
        raise OptionError(f"se={se!r} with level: blocks is not supported yet (two-level ML has se='standard')")
    A = obj.observed_information(theta, imp) if information == "observed" else obj.expected_information(imp)
    Ainv, ok = constrained_inverse(A, rep)
    if not ok:
        return None, False
    return (Ainv / obj.N if se == "standard" else None), True


def _warnings(comp, theta, opt, ok, where) -> list[str]:
    out = []
    if not opt.converged:
        out.append(f"the optimiser did not converge ({opt.method}: {opt.message}); estimates are not trustworthy")
    if not ok:
        out.append("the information matrix is singular: standard errors could not be computed "
                   "(the model may not be identified)")
    for k, lhs, g in comp.var_free:
        if theta[k] < 0:
            out.append(f"Heywood case: negative variance estimate for {lhs} ({theta[k]:.4g}) {where(g)}")
    return out


def _refuse_options(family, pt, options) -> None:
    """What two-level ML does not combine with, refused by name."""
    if type(family) not in (ML, FIML):  # not GLS/WLS/ULS, likelihood="wishart", ordered items
        raise OptionError(f"estimator={options.get('estimator')!r} with level: blocks is not supported: two-level "
                          "models are fitted by ML (estimator='ML')")
    if family.robust:
        raise OptionError("estimator='MLR' with level: blocks (two-level robust ML) is not supported yet; "
                          "use estimator='ML'")
    if options.get("group_equal") or options.get("group_partial"):
        raise OptionError("group_equal/group_partial with level: blocks are not supported yet; write the "
                          "equality constraints with shared labels")
    if options.get("missing", "listwise") != "listwise":
        raise OptionError(f"missing={options['missing']!r} with level: blocks (two-level FIML) is not supported yet; "
                          "incomplete rows are dropped listwise with missing='listwise'")
    if not pt.meanstructure:
        raise OptionError("meanstructure=False with level: blocks: a two-level model always has a mean structure")
    if not getattr(pt, "fixed_x", True) and list(getattr(pt, "ov_x", []) or []):
        raise OptionError(f"fixed_x=False with exogenous covariates ({pt.ov_x[0]}) in a two-level model is not "
                          "supported yet (lavaan's baseline model then frees their covariances)")


def fit_twolevel(pt, data, *, cluster, family, se, information, options, syntax, start=None, estimates_table,
                 result_cls):
    """Two-level ML fit of a table with ``level:`` blocks (see the module docstring).
    ``family`` is the family ``fit()`` chose (ML is the only one two-level models take);
    ``start`` optional starting values; ``estimates_table`` and ``result_cls`` are the
    single-level fit's estimates table and result class (:mod:`asymtrust.engine.fit`)."""
    from ..compile import compile_model
    from ..estimate import optimise
    from ..standardize import r_squared

    _refuse_options(family, pt, options)
    family, samples, labels, drops = _prepare(pt, data, cluster, options.get("group"))
    view = block_view(pt)
    comp = compile_model(view, 2 * len(family.groups))
    model = comp.model_for([s for gl in family.groups for s in gl.start])
    obj = family.objective(model, samples)
    obj.h1 = [gl.sat for gl in family.groups]  # lavaan's h1 moments per group (analysis.multilevel)
    theta0 = comp.start([s for gl in family.groups for s in gl.start]) if start is None else start
    opt = optimise(obj, comp.rep, np.asarray(theta0, float))
    theta = opt.theta
    f, _, imp = obj.evaluate(theta, need_grad=False)
    information = information or family.default_information
    vcov, ok = _vcov(obj, theta, imp, comp.rep, se, information)
    df = family.ndat() - comp.npar
    if df < 0:
        raise OptionError(f"the two-level model is not identified: {comp.npar} free parameters but only "
                          f"{family.ndat()} sample moments")
    sol = Solution(family=family, pt=view, comp=dataclass_replace(comp, df=df), model=model, obj=obj,
                   samples=samples, theta=theta, imp=imp, fmin=f)
    fm = twolevel_measures(sol, comp.npar)
    levels = list(pt.level_labels)

    def where(block: int) -> str:
        g = (block - 1) // 2
        return f"at level {levels[(block - 1) % 2]}" + (f" in group {labels[g]!r}" if labels else "")

    warnings = _warnings(comp, theta, opt, ok, where)
    notes = [f"{k} {'row was' if k == 1 else 'rows were'} dropped: {r}" for r, k in drops.get("dropped", {}).items()]

    def estimates():
        est = estimates_table(comp, model, theta, imp, vcov)
        block = est["group"].astype(int).to_numpy()  # 0 for := rows
        est.insert(3, "level", [levels[(b - 1) % 2] if b > 0 else "" for b in block])
        est["group"] = np.where(block > 0, (block - 1) // 2 + 1, 0)
        return est

    ov = list(pt.ov_names)
    return result_cls(
        partable=pt, estimates=estimates, fit_indices=_series(fm), r2=r_squared(model, theta, imp),
        converged=bool(opt.converged), warnings=notes + warnings, theta=theta, vcov=vcov,
        implied=lambda: [{"level": levels[k % 2], "group": k // 2 + 1, "cov": _frame(i.sigma, ov),
                          "mean": dict(zip(ov, i.mu))} for k, i in enumerate(imp)],
        sample=[{"nobs": gl.cs.N, "nclusters": gl.cs.J} for gl in family.groups],
        nobs=[gl.cs.N for gl in family.groups], group_labels=labels,
        options=dict(options, cluster=cluster, information=information, se=se), syntax=syntax,
        iterations=opt.iterations, optimizer=opt.method, model=model, samples=samples, objective=obj,
        reparam=comp.rep, n_read=drops.get("n_read", obj.N), dropped=dict(drops.get("dropped", {})), notes=notes)


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _frame(M, names):
    import pandas as pd

    return pd.DataFrame(M, index=names, columns=names)


def _series(fm: dict):
    import pandas as pd

    return pd.Series(fm, dtype=float)


# ----------------------------------------------------------------------------- the saturated model
@dataclass
class TwoLevelSaturated:
    """The two-level saturated (H1) model: the within covariance over the level-1
    variables, the between covariance over the level-2 variables (``b_idx`` order:
    between-only first), the means, the log-likelihood and the EM iterations."""

    sigma_w: np.ndarray
    sigma_b: np.ndarray
    mu_w: np.ndarray
    mu_b: np.ndarray
    logl: float
    iterations: int
    nclusters: int
    sizes: np.ndarray

    @property
    def icc(self) -> np.ndarray:
        """ICC of the level-1 variables (between-only variables come first in ``sigma_b``)."""
        pz = len(self.sigma_b) - len(self.sigma_w)
        w, b = np.diag(self.sigma_w), np.diag(self.sigma_b)[pz:]
        return b / (w + b)


def _full(cs: ClusterStats, sw, mw, sb, syz, szz, mb, mz, p: int):
    """Block moments over all p observed variables from the EM's (y, z) pieces."""
    y, z = cs.y_idx, cs.z_idx
    Sw, Sb, Mw, Mb = np.zeros((p, p)), np.zeros((p, p)), np.zeros(p), np.zeros(p)
    Sw[np.ix_(y, y)] = sw
    Mw[y] = mw
    Sb[np.ix_(y, y)] = sb
    Sb[np.ix_(y, z)] = syz
    Sb[np.ix_(z, y)] = syz.T
    Sb[np.ix_(z, z)] = szz
    Mb[y] = mb
    Mb[z] = mz
    return Sw, Mw, Sb, Mb


def _estep(cs: ClusterStats, sw, sb, syz, szz, mw, mb, mz):
    """lavaan's ``lav_mvnorm_cluster_em_estepb``: the posterior moments of the between
    parts v_j given (z_j, ybar_j), summed as the M-step needs them (all cluster sizes at
    once)."""
    pz, py = len(cs.z_idx), len(sb)
    s1 = np.hstack([syz, sb])  # cov(v, (z, ybar))
    mu = np.concatenate([mz, mw + mb])
    sizes = cs.sizes
    om = np.empty((len(sizes), pz + py, pz + py))
    om[:, :pz, :pz], om[:, :pz, pz:], om[:, pz:, :pz] = szz, syz.T, syz
    om[:, pz:, pz:] = sb[None] + sw[None] / sizes[:, None, None]
    K = np.linalg.solve(om, np.broadcast_to(s1.T, (len(sizes),) + s1.T.shape)).transpose(0, 2, 1)  # (s, py, q)
    size_of = cs.__dict__.get("_size_of")
    if size_of is None:
        size_of = cs.__dict__["_size_of"] = np.searchsorted(sizes, cs.cluster_size)
    Ev = np.einsum("jq,jpq->jp", cs.ybar[:, cs.b_idx] - mu, K[size_of]) + mb
    V = cs.counts[:, None, None] * (sb[None] - K @ s1.T[None])
    V = (V + V.transpose(0, 2, 1)) / 2.0
    return Ev, V.sum(axis=0), np.tensordot(sizes, V, 1)


def twolevel_saturated(cs: ClusterStats, within_only=(), *, tol: float = 1e-4,
                       max_iter: int = 5000) -> TwoLevelSaturated:
    """The two-level saturated model by EM, as lavaan's ``lav_mvnorm_cluster_em_sat`` runs it
    (same start, E-step, M-step and stopping rule, so that logl_H1 and the ICCs equal
    lavaan's): y_ij = mu_w + v_j + e_ij, v_j ~ N(mu_b, Sigma_B), e_ij ~ N(0, Sigma_W), the
    between-only z_j jointly normal with v_j (their mean and covariance held at the sample
    values, their covariance with v_j estimated); within-only variables keep a zero
    between part. Stops when the log-likelihood gains less than ``tol``; within variances
    below 1e-5 are held at 1e-5."""
    y, z = cs.y_idx, cs.z_idx
    p = int(max(np.concatenate([y, z]))) + 1
    py, pz = len(y), len(z)
    wo = np.isin(y, np.asarray(within_only, int))
    sw, sb = np.eye(py), np.diag((~wo).astype(float))
    mw, mb = np.zeros(py), np.zeros(py)
    syz, szz, mz = np.zeros((py, pz)), np.eye(pz), np.zeros(pz)
    fx = -0.5 * m2loglik(cs, *_full(cs, sw, mw, sb, syz, szz, mb, mz, p))[0]
    if pz:
        Z = cs.ybar[:, z]
        mz = Z.mean(axis=0)
        szz = np.cov(Z.T, bias=True).reshape(pz, pz)
    N, J, n = cs.N, cs.J, cs.cluster_size
    Yb = cs.ybar[:, y]
    Y1Y1 = (N - J) * cs.S_PW + (Yb * n[:, None]).T @ Yb
    it = 0
    for it in range(1, max_iter + 1):
        Ev, covv, ncovv = _estep(cs, sw, sb, syz, szz, mw, mb, mz)
        Evv_n = (Ev * n[:, None]).T @ Ev + ncovv
        cross = (Yb * n[:, None]).T @ Ev
        mw = (n @ (Yb - Ev)) / N
        mb = Ev.mean(axis=0)
        sb = (Ev.T @ Ev + covv) / J - np.outer(mb, mb)
        sw = (Y1Y1 + Evv_n - cross - cross.T) / N - np.outer(mw, mw)
        if pz:
            syz = ((cs.ybar[:, z].T @ Ev) / J - np.outer(mz, mb)).T
        sb, sw = (sb + sb.T) / 2.0, (sw + sw.T) / 2.0
        zero = np.diag(sw) < 1e-5
        if zero.any():
            sw[zero, :] = 0.0
            sw[:, zero] = 0.0
            sw[zero, zero] = 1e-5
        mb_use = np.where(wo, 0.0, mb)
        sb_use = sb * np.outer(~wo, ~wo)
        fx_new = -0.5 * m2loglik(cs, *_full(cs, sw, mw, sb_use, syz * (~wo)[:, None], szz, mb_use, mz, p))[0]
        done = fx_new - fx < tol
        fx = fx_new
        if done:
            break
    Sw, Mw, Sb, Mb = _full(cs, sw, mw, sb * np.outer(~wo, ~wo), syz * (~wo)[:, None], szz,
                           np.where(wo, 0.0, mb), mz, p)
    bi = cs.b_idx
    return TwoLevelSaturated(sigma_w=Sw[np.ix_(y, y)], sigma_b=Sb[np.ix_(bi, bi)], mu_w=Mw[y], mu_b=Mb[bi],
                             logl=fx, iterations=it, nclusters=J, sizes=n.astype(int))


def _trace_products(A: np.ndarray) -> np.ndarray:
    """tr(A_a A_b) for every pair of the stacked matrices A (K, p, p), as one matrix product
    (vec(A_a) . vec(A_b')): BLAS instead of einsum's loop over four indices."""
    K = A.shape[0]
    return A.reshape(K, -1) @ A.transpose(0, 2, 1).reshape(K, -1).T
