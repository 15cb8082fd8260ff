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

MLR (lavaan's ``se="robust.huber.white"``, ``test="yuan.bentler.mplus"``): the sandwich
A^-1 B A^-1 with A the observed information and B the outer product of the clusters'
scores (:func:`cluster_gradients`, lavaan's ``lav_mvnorm_cluster_scores_2l``;
:func:`robust_vcov`); the scaling factor c = (tr(A1^-1 B1) - tr(B0 A^-1)) / df with A1, B1 the
saturated model's observed (Hessian) and first-order information at its EM estimates in
lavaan's h1 coordinates less the fixed-x block (:func:`h1_directions`), and the
baseline's c0 from the independence model's Hessian and scores at its estimates
(:func:`yuan_bentler_twolevel`). Missing data (``missing="ml"``):
:mod:`~asymtrust.engine.estimators.twolevel_missing`. Not built (refused by name): MLR
with missing data (lavaan 0.6-14 stops), MLR with ``information="expected"``,
``group_equal``, estimators other than ML/MLR.
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
    resid: np.ndarray | None = None  # (N, py) within-cluster residuals of y (for the scores)
    inv: np.ndarray | None = None  # (N,) cluster of each row (0..J-1)

    @property
    def b_idx(self) -> np.ndarray:
        return np.concatenate([self.z_idx, self.y_idx])

    def size_index(self) -> np.ndarray:
        """Position of each cluster's size in ``sizes`` (cached)."""
        out = self.__dict__.get("_size_of")
        if out is None:
            out = self.__dict__["_size_of"] = np.searchsorted(self.sizes, self.cluster_size)
        return out

    def within_scatter(self) -> np.ndarray:
        """(J, py, py): each cluster's within scatter sum_i (y_ij - ybar_j)(y_ij - ybar_j)'
        (cached; only the cluster-wise scores need it)."""
        out = self.__dict__.get("_scatter")
        if out is None:
            py = len(self.y_idx)
            out = np.zeros((self.J, py, py))
            np.add.at(out, self.inv, self.resid[:, :, None] * self.resid[:, None, :])
            self.__dict__["_scatter"] = out
        return out

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
                        counts=counts, mean_d=mean_d, cov_d=cov_d, ybar=ybar, cluster_size=n, resid=Ry, inv=inv)


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
        for g in range(len(self.stats)):
            w, b = imp[2 * g], imp[2 * g + 1]
            val, grad = self.group_m2ll(g, w.sigma, w.mu, b.sigma, b.mu, need_grad)
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

    def group_m2ll(self, g: int, sw, mw, sb, mb, need_grad: bool = False):
        """-2 log L of group ``g`` and its moment derivatives (:func:`m2loglik`)."""
        return m2loglik(self.stats[g], sw, mw, sb, mb, need_grad=need_grad)

    def loglik(self, imp) -> float:
        return sum(-0.5 * self.group_m2ll(g, imp[2 * g].sigma, imp[2 * g].mu, imp[2 * g + 1].sigma,
                                          imp[2 * g + 1].mu)[0] for g in range(len(self.stats)))

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
            pz = len(cs.z_idx)
            Sw, Sb, _ = _level_moments(cs, imp[2 * g].sigma, imp[2 * g].mu, imp[2 * g + 1].sigma, imp[2 * g + 1].mu)
            dW, dB, dmu = reduced_delta(cs, delta[2 * g], delta[2 * g + 1])
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
        super().__init__(robust=robust)
        if robust:
            self.estimator = "MLR"
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
        raise OptionError("case-wise scores of a two-level model are not defined: its scores are per cluster "
                          "(cluster_scores)")

    def group_sizes(self) -> list[tuple[int, int]]:
        """Per group (rows, clusters) the likelihood uses."""
        return [(gl.cs.N, gl.cs.J) for gl in self.groups]

    def n_values(self) -> int:
        """The number of observed values the likelihood counts (its 2 pi constant)."""
        return sum(gl.cs.N * len(gl.cs.y_idx) + gl.cs.J * len(gl.cs.z_idx) for gl in self.groups)

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
def _both_m2ll(cs: ClusterStats, js: list[int]) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """-2 log L of the independence model of the two-level variables ``js`` (each with a
    within and a between variance and a mean), summed: all variables at once by Fisher
    scoring with step halving (the univariate likelihoods are independent). Returns the
    value and the estimates (within variances, between variances, means)."""
    if not js:
        return 0.0, np.zeros(0), np.zeros(0), np.zeros(0)
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
    return (float(np.sum(f) + len(js) * (cs.counts @ np.log(cs.sizes) + cs.N * LOG2PI)), vw[:, 0], vb[:, 0],
            mu[:, 0])


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
    return -0.5 * (m2ll + _both_m2ll(cs, both)[0]), float(npar)


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
    if G == 1 and not fam.groups[0].lv.exo_idx:  # lavaan's fmin: -(logl + P log(2 pi) / 2) / N
        fm["fmin"] = -(ll + fam.n_values() * LOG2PI / 2.0) / N
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
        sw, sb = sw + sol.obj.w[g] * a, sb + sol.obj.w[g] * c
    fm["srmr"], fm["srmr_within"], fm["srmr_between"] = sw + sb, sw, sb
    return fm


# ----------------------------------------------------------------------------- MLR: cluster-wise scores
def reduced_delta(cs: ClusterStats, dw, db) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jacobians of the two blocks' moments (each ``(dSigma (K, p, p), dmu (K, p))``, as
    :meth:`RamModel.delta` gives them) in the likelihood's own coordinates: Sigma_W[y, y],
    the between matrix over b = (z, y) and mu over b."""
    (dSw, dmw), (dSb, dmb) = dw, db
    y, bi = cs.y_idx, cs.b_idx
    dW = dSw[:, y][:, :, y]
    dB = dSb[:, bi][:, :, bi]
    dmu = dmb[:, bi].copy()
    dmu[:, len(cs.z_idx):] += dmw[:, y]
    return dW, dB, dmu


def cluster_gradients(cs: ClusterStats, sw, mw, sb, mb) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster j, the derivatives of -2 log L_j (lavaan's ``lav_mvnorm_cluster_scores_2l``,
    full-matrix form) with respect to Sigma_W[y, y] (J, py, py), the between matrix over b
    (J, q, q) and mu over b (J, q): with d_j = b_j - mu and G_j = V^-1 - V^-1 d_j d_j' V^-1
    (V = V_nj), d/dSigma_B = G_j, d/dmu = -2 V^-1 d_j and d/dSigma_W = (n_j - 1) Sigma_W^-1
    - Sigma_W^-1 W_j Sigma_W^-1 + G_j[y, y] / n_j, W_j the cluster's within scatter. Summed
    over the clusters they are :func:`m2loglik`'s gradient."""
    Sw, Sb, mu = _level_moments(cs, sw, mw, sb, mb)
    pz = len(cs.z_idx)
    V = np.repeat(Sb[None], len(cs.sizes), axis=0)
    V[:, pz:, pz:] += Sw[None] / cs.sizes[:, None, None]
    Vi = np.linalg.inv(V)[cs.size_index()]
    Swi = np.linalg.inv(Sw)
    e = np.einsum("jab,jb->ja", Vi, cs.ybar[:, cs.b_idx] - mu)
    G = Vi - e[:, :, None] * e[:, None, :]
    n = cs.cluster_size[:, None, None]
    gW = (n - 1.0) * Swi[None] - Swi @ cs.within_scatter() @ Swi + G[:, pz:, pz:] / n
    return gW, G, -2.0 * e


def _flat(parts) -> np.ndarray:
    """(B, py^2 + q^2 + q): a batch of (Sigma_W, between, mu) derivatives or Jacobians as rows."""
    B = parts[0].shape[0]
    return np.hstack([np.reshape(x, (B, -1)) for x in parts])


def _chain(grads, red) -> np.ndarray:
    """(B, K): batched moment derivatives (B of each) times the K reduced Jacobians."""
    return _flat(grads) @ _flat(red).T


def cluster_scores(cs: ClusterStats, moments, red) -> np.ndarray:
    """(J, K): the clusters' scores of -log L (half the derivatives of -2 log L_j) in the K
    directions ``red`` (:func:`reduced_delta`), at the block moments ``moments`` = (Sigma_W,
    mu_W, Sigma_B, mu_B) over all observed variables."""
    return 0.5 * _chain(cluster_gradients(cs, *moments), red)


def moment_hessian(cs: ClusterStats, moments, full, red, h: float = 1e-5) -> np.ndarray:
    """The Hessian of the group's -log L in the K directions ``full`` (full format, as
    :meth:`RamModel.delta`; ``red`` the same reduced), by central differences of the analytic
    gradient (:func:`m2loglik`); lavaan differentiates its analytic gradient numerically too."""
    (dSw, dmw), (dSb, dmb) = full
    _, b, yy, bb = cs.plan()[:4]
    R = _flat(red).T

    def grad(sw, mw, sb, mb):
        g = m2loglik(cs, sw, mw, sb, mb, need_grad=True)[1]
        return 0.5 * np.concatenate([g[0][yy].ravel(), g[2][bb].ravel(), g[3][b]]) @ R

    sw, mw, sb, mb = moments
    K = dSw.shape[0]
    H = np.zeros((K, K))
    for k in range(K):
        up = grad(sw + h * dSw[k], mw + h * dmw[k], sb + h * dSb[k], mb + h * dmb[k])
        dn = grad(sw - h * dSw[k], mw - h * dmw[k], sb - h * dSb[k], mb - h * dmb[k])
        H[:, k] = (up - dn) / (2.0 * h)
    return (H + H.T) / 2.0


def h1_directions(cs: ClusterStats, lv: "LevelStructure", p: int, diagonal: bool = False) -> tuple:
    """Unit directions (full format) of the two-level saturated model's moments as lavaan's
    h1 information counts them: vech Sigma_W over the level-1 variables, the within means of
    within-only variables, vech Sigma_B and the means over the level-2 variables; the
    fixed-x block of each level left out (lavaan zeroes those rows). ``diagonal``: only the
    variances and means (the baseline model's parameters)."""
    y = [int(k) for k in cs.y_idx]
    l2 = [int(k) for k in cs.b_idx if k not in lv.within_only]
    x1, x2 = set(lv.exo[0]), set(lv.exo[1])
    dirs = []
    for level, vs, xs in (("w", y, x1), ("b", l2, x2)):
        for i, a in enumerate(vs):
            for c in vs[i:]:
                if not (a in xs and c in xs) and (not diagonal or a == c):
                    dirs.append((level, a, c))
        means = [k for k in lv.within_only if k not in x1] if level == "w" else [k for k in l2 if k not in x2]
        dirs += [("m" + level, k, k) for k in means]
    K = len(dirs)
    dSw, dmw, dSb, dmb = np.zeros((K, p, p)), np.zeros((K, p)), np.zeros((K, p, p)), np.zeros((K, p))
    for k, (kind, a, c) in enumerate(dirs):
        if kind in ("w", "b"):
            M = dSw if kind == "w" else dSb
            M[k, a, c] = M[k, c, a] = 1.0
        else:
            (dmw if kind == "mw" else dmb)[k, a] = 1.0
    return (dSw, dmw), (dSb, dmb)


def _sat_moments(gl: "GroupLevels", p: int) -> tuple:
    """The saturated (H1, EM) moments of a group in full format."""
    cs, sat = gl.cs, gl.sat
    y, bi = cs.y_idx, cs.b_idx
    sw, mw, sb, mb = np.zeros((p, p)), np.zeros(p), np.zeros((p, p)), np.zeros(p)
    sw[np.ix_(y, y)], mw[y] = sat.sigma_w, sat.mu_w
    sb[np.ix_(bi, bi)], mb[bi] = sat.sigma_b, sat.mu_b
    return sw, mw, sb, mb


def _baseline_moments(gl: "GroupLevels", p: int) -> tuple:
    """The fitted independence model's moments in full format (the fixed-x covariates'
    blocks at their H1 values: the likelihood of the others does not depend on them)."""
    cs, lv = gl.cs, gl.lv
    sw0, mw0, sb0, mb0 = _sat_moments(gl, p)
    sw, mw, sb, mb = np.zeros((p, p)), np.zeros(p), np.zeros((p, p)), np.zeros(p)
    x1, x2 = lv.exo[0], lv.exo[1]
    sw[np.ix_(x1, x1)], mw[x1], sb[np.ix_(x2, x2)], mb[x2] = sw0[np.ix_(x1, x1)], mw0[x1], sb0[np.ix_(x2, x2)], mb0[x2]
    n, N = cs.cluster_size, cs.N
    exo = set(lv.exo_idx)
    both = [int(k) for k in cs.y_idx if k not in lv.within_only and k not in exo]
    _, vw, vb, mu = _both_m2ll(cs, both)
    sw[both, both], sb[both, both], mb[both] = vw, vb, mu
    for k in cs.y_idx:
        if k in lv.within_only and k not in exo:
            yi = int(np.flatnonzero(cs.y_idx == k)[0])
            x = cs.ybar[:, k]
            mw[k] = n @ x / N
            sw[k, k] = ((N - cs.J) * cs.S_PW[yi, yi] + n @ (x - mw[k]) ** 2) / N
    for k in cs.z_idx:
        if k not in exo:
            mb[k], sb[k, k] = cs.ybar[:, k].mean(), cs.ybar[:, k].var()
    return sw, mw, sb, mb


def robust_vcov(family: "TwoLevelML", obj: TwoLevelObjective, imp, Ainv: np.ndarray) -> tuple[np.ndarray, list]:
    """lavaan's ``se="robust.huber.white"`` for two-level ML: A^-1 B A^-1 with A the total
    information (``Ainv`` its constrained inverse) and B = sum_g (N_g / N)(J / J_g) S_g' S_g,
    S_g the clusters' scores of group g (lavaan's first-order information per cluster,
    weighted as ``lav_model_information_firstorder`` weights its groups). Returns the
    covariance and the groups' S_g' S_g."""
    delta = obj.model.delta(imp)
    J = sum(gl.cs.J for gl in family.groups)
    B, SS = 0.0, []
    for g, gl in enumerate(family.groups):
        w, b = imp[2 * g], imp[2 * g + 1]
        S = cluster_scores(gl.cs, (w.sigma, w.mu, b.sigma, b.mu), reduced_delta(gl.cs, delta[2 * g], delta[2 * g + 1]))
        SS.append(S.T @ S)
        B = B + (gl.cs.N / obj.N) * (J / gl.cs.J) * SS[-1]
    return Ainv @ B @ Ainv, SS


def yuan_bentler_twolevel(sol: Solution, Ainv: np.ndarray, SS: list, chisq: float, base: Baseline) -> dict:
    """MLR's scaled test for two-level models (lavaan's ``yuan.bentler.mplus``): c = (tr(A1^-1 B1)
    - tr(B0 E^-1)) / df with A1, B1 the observed and first-order information of the
    saturated model at its (EM) estimates (fixed-x block left out), B0 the model's
    first-order information and E^-1 its inverse information; the baseline's c0 likewise,
    with the independence model's information and scores at its estimates. Returns the
    ``*.scaled`` and robust measures."""
    from ..robust import robust_block, scaled_block

    fam, p = sol.family, sol.model.p
    J, N, G = sum(gl.cs.J for gl in fam.groups), sol.obj.N, len(fam.groups)
    tr_h1 = ndat = tr0 = 0.0
    Hb, Sb_ = [], []
    for g, gl in enumerate(fam.groups):
        cs, fg = gl.cs, gl.cs.N / N
        full = h1_directions(cs, gl.lv, p)
        red = reduced_delta(cs, *full)
        mom = _sat_moments(gl, p)
        A1 = moment_hessian(cs, mom, full, red)
        S1 = cluster_scores(cs, mom, red)
        tr_h1 += float(np.trace(np.linalg.solve(A1, S1.T @ S1)))
        ndat += A1.shape[0]
        tr0 += fg * (J / cs.J) * float(np.sum(SS[g] * Ainv))
        full0 = h1_directions(cs, gl.lv, p, diagonal=True)
        red0 = reduced_delta(cs, *full0)
        mom0 = _baseline_moments(gl, p)
        Hb.append(moment_hessian(cs, mom0, full0, red0))
        S0 = cluster_scores(cs, mom0, red0)
        Sb_.append(fg * (J / cs.J) * (S0.T @ S0))
    from scipy.linalg import block_diag

    tr_base = float(np.sum(block_diag(*Sb_) * np.linalg.inv(block_diag(*Hb))))
    df, df0 = float(sol.df), base.df
    c = (tr_h1 - tr0) / df if df > 0 else float("nan")
    if not c > 0:  # lavaan: no scaled test without a positive scaling factor
        c = float("nan")
    c0 = (tr_h1 - tr_base) / df0 if df0 > 0 else float("nan")
    out = scaled_block(chisq, df, base.chisq, df0, c, c0, tr_h1 / ndat, tr0 / sol.model.n_free, N, G)
    out.update(robust_block(chisq, df, base.chisq, df0, c, c0, N, G))
    return out


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


def _prepare(pt, data, cluster, group, robust: bool = False):
    """Family (with each group's clusters, level structure and H1 model), rows and drops
    of a two-level fit."""
    from ..data import prepare

    if cluster is None:
        raise OptionError("level: blocks need cluster= (the column naming each respondent's cluster)")
    lvs = level_sets(pt)
    ov = list(pt.ov_names)
    family = TwoLevelML(robust=robust)
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


def _vcov(family, obj, theta, imp, rep, se: str, information: str):
    """(vcov, ok, the inverse of the total information, the groups' S_g' S_g for MLR)."""
    from ..vcov import constrained_inverse

    if se not in ("standard", "none", "robust"):
        raise OptionError(f"se={se!r} with level: blocks is not supported yet (two-level ML has se='standard', "
                          "two-level MLR se='robust')")
    if se == "robust" and not family.robust:
        raise OptionError("se='robust' with level: blocks needs estimator='MLR' (lavaan's two-level robust SEs)")
    if family.robust and information == "expected":
        raise OptionError("information='expected' with estimator='MLR' and level: blocks is not supported yet "
                          "(two-level MLR uses lavaan's default, the observed information)")
    A = obj.observed_information(theta, imp) if information == "observed" else obj.expected_information(imp)
    Ainv, ok = constrained_inverse(A, rep)
    if not ok:
        return None, False, None, None
    Ainv = Ainv / obj.N
    if se == "robust":
        V, SS = robust_vcov(family, obj, imp, Ainv)
        return V, True, Ainv, SS
    return (Ainv if se == "standard" else None), True, Ainv, None


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
    if options.get("group_equal") or options.get("group_partial"):
        raise OptionError("group_equal/group_partial with level: blocks are not supported yet; write the "
                          "equality constraints with shared labels")
    miss = options.get("missing", "listwise")
    if miss not in ("listwise", "fiml"):
        raise OptionError(f"missing={miss!r} with level: blocks is not supported: two-level models take "
                          "missing='listwise' or missing='ml' (two-level FIML)")
    if miss == "fiml" and family.robust:
        raise OptionError("estimator='MLR' with missing='ml' and level: blocks is not supported: lavaan 0.6-14 "
                          "stops with an error for this combination; use estimator='ML' with missing='ml'")
    if not pt.meanstructure:
        raise OptionError("meanstructure=False with level: blocks: a two-level model always has a mean structure")
    if not getattr(pt, "fixed_x", True) and list(getattr(pt, "ov_x", []) or []):
        raise OptionError(f"fixed_x=False with exogenous covariates ({pt.ov_x[0]}) in a two-level model is not "
                          "supported yet (lavaan's baseline model then frees their covariances)")


#: data preparation of a two-level fit by ``missing=``, beyond complete data (``_prepare``):
#: :mod:`.twolevel_missing` registers ``"fiml"`` (it builds on this module, not the reverse)
PREPARE: dict = {}


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
    if options.get("missing") == "fiml":  # two-level FIML, registered by estimators/twolevel_missing.py
        if cluster is None:
            raise OptionError("level: blocks need cluster= (the column naming each respondent's cluster)")
        family, samples, labels, drops = PREPARE["fiml"](pt, data, cluster, options.get("group"))
    else:
        family, samples, labels, drops = _prepare(pt, data, cluster, options.get("group"), family.robust)
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
    vcov, ok, Ainv, SS = _vcov(family, obj, theta, imp, comp.rep, se, information)
    df = family.ndat() - comp.npar
    if df < 0:
        raise OptionError(f"the two-level model is not identified: {comp.npar} free parameters but only "
                          f"{family.ndat()} sample moments")
    sol = Solution(family=family, pt=view, comp=dataclass_replace(comp, df=df), model=model, obj=obj,
                   samples=samples, theta=theta, imp=imp, fmin=f)
    fm = twolevel_measures(sol, comp.npar)
    fm.update(dict.fromkeys(getattr(family, "na_measures", ()), float("nan")))
    if family.robust:  # MLR: the Yuan-Bentler scaled test and the robust indices
        fm.update(yuan_bentler_twolevel(sol, Ainv, SS, fm["chisq"], family.baseline(sol)) if ok and SS
                  else dict.fromkeys(("chisq_scaled", "chisq_scaling_factor"), float("nan")))
    levels = list(pt.level_labels)

    def where(block: int) -> str:
        g = (block - 1) // 2
        return f"at level {levels[(block - 1) % 2]}" + (f" in group {labels[g]!r}" if labels else "")

    warnings = _warnings(comp, theta, opt, ok, where) + [w for w in [getattr(family, "h1_warning", None)] if w]
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
        sample=[{"nobs": n, "nclusters": j} for n, j in family.group_sizes()],
        nobs=[n for n, _ in family.group_sizes()], group_labels=labels,
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
    size_of = cs.size_index()
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
