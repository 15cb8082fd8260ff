"""Two-level FIML (lavaan 0.6-14's ``sem(..., cluster=, missing="ml")`` with ``level:`` blocks,
``lav_mvnorm_cluster_missing.R``): the exact normal likelihood of each cluster's observed
values.

A cluster j stacks the observed level-1 values of its rows and its observed between-only
values z_j into one vector x_j (its elements e: a variable v_e, a row r_e, or a cluster
value); x_j is normal with mean mu_e = mu_B[v_e] (+ mu_W[v_e] for a level-1 value) and
covariance Sigma_j[e, f] = Sigma_B[v_e, v_f] + [r_e = r_f] Sigma_W[v_e, v_f], so

    -2 log L = sum_j [log|Sigma_j| + (x_j - mu_j)' Sigma_j^-1 (x_j - mu_j) + d_j log 2 pi],

with d_j the number of observed values. The derivatives with respect to the block moments
follow from G_j = Sigma_j^-1 - Sigma_j^-1 r_j r_j' Sigma_j^-1 summed into the (v_e, v_f)
cells (the within part only over pairs of the same row) and -2 Sigma_j^-1 r_j into the
means. Sigma_j is never formed: the between-only values are conditioned on, and Woodbury's
identity with the determinant lemma reduces each cluster to p x p matrices (the rows'
Sigma_W blocks inverted once per missingness pattern, all clusters batched;
:func:`_m2ll_structured`), so an evaluation costs O(rows x p^2) instead of O(values^3) per
cluster (lavaan's ``lav_mvnorm_cluster_missing.R`` uses the same block structure). Where
that form does not apply (Sigma_B or a row's Sigma_W block not positive definite, which
the optimiser may visit) the clusters' dense covariances are used (:func:`_m2ll_dense`,
clusters with the same number of observed values batched). The fit then proceeds as two-level ML does
(:func:`~asymtrust.engine.estimators.twolevel.fit_twolevel`): SEs from the observed
information (the Hessian, lavaan's default for this case), the saturated model by direct
maximisation over all moments (lavaan fits an unrestricted model too, with the fixed-x
covariates' moments free), the independence model likewise over the variances and means.
The fixed-x covariates' moments are their complete-data ML values (the covariates must be
observed: rows missing one are dropped, as for single-level ``missing="ml"``) and their
log-likelihood is subtracted from both log-likelihoods (it does not depend on the model).
Refused by name: MLR with missing data (lavaan 0.6-14 stops with an error),
``information="expected"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ...exceptions import DataError, OptionError
from ..samplestats import LOG2PI
from .base import Baseline
from .twolevel import (PREPARE, GroupLevels, TwoLevelML, TwoLevelObjective, TwoLevelSaturated, _baseline_moments,
                       _sat_moments, _start_samples, check_between_variance, cluster_stats, h1_directions,
                       level_sets, loglik_x, moment_hessian, reduced_delta, twolevel_saturated)


@dataclass
class _Batch:
    """Clusters with the same number d of observed values: variable (k, d), row within the
    cluster (k, d; -1 for a between-only value), level-1 flag (k, d), values (k, d)."""

    v: np.ndarray
    row: np.ndarray
    isy: np.ndarray
    x: np.ndarray

    p: int

    def __post_init__(self):
        k, d = self.v.shape
        same = (self.row[:, :, None] == self.row[:, None, :]) & (self.row[:, :, None] >= 0)
        self.same = same.astype(float)
        self.iv, self.jv = self.v[:, :, None], self.v[:, None, :]
        E = np.zeros((k * d, self.p))  # one-hot: value -> variable
        E[np.arange(k * d), self.v.ravel()] = 1.0
        self.E = E
        self.Ey = E * self.isy.reshape(-1, 1)


@dataclass
class _Rows:
    """The rows of one group ordered by cluster, for the structured likelihood
    (:func:`_m2ll_structured`): level-1 values ``y`` (n, py; 0 where missing), each row's
    missingness pattern ``pat`` with the patterns' masks ``masks`` (npat, py) batched by
    their number of observed values (``by_size``: pattern ids and the observed columns),
    each cluster's first row ``starts`` and rows per pattern ``cnt`` (J, npat), the
    clusters' between-only values ``z`` (J, pz; 0 where missing) with their patterns
    ``zpat`` and masks ``zmasks``."""

    y: np.ndarray
    pat: np.ndarray
    masks: np.ndarray
    by_size: list
    starts: np.ndarray
    cnt: np.ndarray
    z: np.ndarray
    zpat: np.ndarray
    zmasks: np.ndarray

    @property
    def row_cluster(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.starts)), np.diff(np.append(self.starts, len(self.y))))


@dataclass
class MissingClusters:
    """One group's clustered rows with missing values, as the likelihood needs them: the
    rows (:class:`_Rows`) and, for the dense fallback, the clusters batched by their number
    of observed values (``batches``, built on first use)."""

    N: int
    J: int
    p: int
    y_idx: np.ndarray
    z_idx: np.ndarray
    per: dict  # number of observed values -> the clusters' (variable, row, level-1 flag, value) arrays
    nel: int  # observed values in all
    rows: _Rows

    @property
    def b_idx(self) -> np.ndarray:
        return np.concatenate([self.z_idx, self.y_idx])

    @cached_property
    def batches(self) -> list:
        return [_Batch(*(np.array([c[i] for c in cl]) for i in range(4)), p=self.p)
                for d, cl in sorted(self.per.items()) if d]


def missing_clusters(X: np.ndarray, codes: np.ndarray, y_idx, z_idx, names: list[str]) -> MissingClusters:
    """:class:`MissingClusters` of the rows ``X`` (NaN for a missing value) with cluster codes
    ``codes``. A between-only variable must be constant within each cluster (among its
    observed values)."""
    _, inv = np.unique(codes, return_inverse=True)
    J = int(inv.max()) + 1
    N, p = X.shape
    y_idx, z_idx = np.asarray(y_idx, int), np.asarray(z_idx, int)
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(J + 1))
    per: dict[int, list] = {}
    zs = np.zeros((J, len(z_idx)))
    zobs = np.zeros((J, len(z_idx)), bool)
    for j in range(J):
        rows = order[starts[j]:starts[j + 1]]
        Y = X[np.ix_(rows, y_idx)]
        obs = ~np.isnan(Y)
        r, c = np.nonzero(obs)
        v, row, isy, val = [y_idx[c]], [r], [np.ones(len(r), bool)], [Y[r, c]]
        for i, k in enumerate(z_idx):
            z = X[rows, k]
            z = z[~np.isnan(z)]
            if z.size and np.ptp(z) > 1e-8 * max(1.0, np.abs(z).max()):
                raise DataError(f"variable {names[k]!r} appears only at the between level (level 2) but varies "
                                "within clusters; a between-level variable must be constant within each cluster")
            if z.size:
                v.append([k]), row.append([-1]), isy.append([False]), val.append([z[0]])
                zs[j, i], zobs[j, i] = z[0], True
        v, row, isy, val = (np.concatenate(a) for a in (v, row, isy, val))
        per.setdefault(len(v), []).append((v, row, isy, val))
    Y = X[np.ix_(order, y_idx)]
    obs = ~np.isnan(Y)
    masks, pat = np.unique(obs, axis=0, return_inverse=True)
    pat = pat.ravel()
    sizes = masks.sum(axis=1)
    by_size = [(np.flatnonzero(sizes == m), np.array([np.flatnonzero(masks[k]) for k in np.flatnonzero(sizes == m)]))
               for m in np.unique(sizes) if m]
    cnt = np.zeros((J, len(masks)))
    np.add.at(cnt, (inv[order], pat), 1.0)
    if len(z_idx):
        zmasks, zpat = np.unique(zobs, axis=0, return_inverse=True)
    else:
        zmasks, zpat = np.zeros((1, 0), bool), np.zeros(J, int)
    rows = _Rows(y=np.where(obs, Y, 0.0), pat=pat, masks=masks, by_size=by_size, starts=starts[:-1], cnt=cnt,
                 z=zs, zpat=zpat.ravel(), zmasks=zmasks)
    return MissingClusters(N=N, J=J, p=p, y_idx=y_idx, z_idx=z_idx, per=per,
                           nel=int(sum(len(c) * d for d, c in per.items())), rows=rows)


def m2loglik_missing(mc: MissingClusters, sw, mw, sb, mb, *, need_grad: bool = False):
    """-2 log L of one group's observed values and, with ``need_grad``, its derivatives with
    respect to the block moments (full-matrix form, as :func:`twolevel.m2loglik`). ``inf``
    where a cluster's covariance is not positive definite. The structured form
    (:func:`_m2ll_structured`) when Sigma_B (over its non-zero rows) and Sigma_W (over each
    row's observed variables) are positive definite, else the clusters' dense covariances."""
    out = _m2ll_structured(mc, sw, mw, sb, mb, need_grad)
    return out if out is not None else _m2ll_dense(mc, sw, mw, sb, mb, need_grad)


def _inv_logdet(S: np.ndarray):
    """Inverses and log-determinants of a stack of positive definite matrices (Cholesky);
    ``None`` if one is not positive definite."""
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return None
    Li = np.linalg.inv(L)
    return np.swapaxes(Li, -1, -2) @ Li, 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)


def _m2ll_structured(mc: MissingClusters, sw, mw, sb, mb, need_grad: bool):
    """-2 log L and its moment derivatives without forming a cluster's covariance.

    Cluster j's values are its between-only values z_j and its rows' level-1 values y_j:
    y_j = Z u_j + e_j with e_j's rows independent, so Sigma_j = [[S_zz, S_zy Z'], [Z S_yz, D_j + Z S_yy Z']]
    (S = Sigma_B, D_j the rows' blocks of Sigma_W over their observed variables, Z stacking
    each row's selection of the level-1 variables). Given z_j, y_j is normal with residual
    r_c = y - mu_W - mu_B - Z B (z_j - mu_z), B = S_yz S_zz^-1, and covariance
    Sigma_c = D + Z C Z', C = S_yy - B S_zy; Woodbury and the determinant lemma with
    A_i = P_i' Sigma_W[O_i]^-1 P_i (row i observing O_i), M = sum_i A_i, K = C (I + M C)^-1:

        Sigma_c^-1 = D^-1 - D^-1 Z K Z' D^-1,   log|Sigma_c| = sum_i log|Sigma_W[O_i]| + log|I + C M|.

    The derivatives need only the sums of Sigma_j^-1 - e e' (e = Sigma_j^-1 r) over the pairs
    of values of the same variables (and the same row, for Sigma_W), which the block inverse
    of Sigma_j gives in p x p pieces: Z'Sigma_c^-1 Z = M - M K M, the rows' blocks
    A_i - A_i K A_i, e_y = Sigma_c^-1 r_c (row i: A_i (r_c,i - K s), s = sum_i A_i r_c,i),
    e_z = S_zz^-1 (z - mu_z) - B' Z' e_y. ``None`` (use the dense form) when Sigma_B over its
    non-zero rows or a row's Sigma_W block is not positive definite, or a cluster's
    |I + C M| is not positive."""
    R = mc.rows
    y, z = mc.y_idx, mc.z_idx
    py, pz = len(y), len(z)
    b = np.concatenate([z, y])
    Sbb = sb[np.ix_(b, b)]
    nz = np.abs(Sbb).sum(axis=1) > 0
    if nz.any() and _inv_logdet(Sbb[np.ix_(nz, nz)]) is None:
        return None
    Sw = sw[np.ix_(y, y)]
    npat = len(R.masks)
    A, ld = np.zeros((npat, py, py)), np.zeros(npat)
    for ids, cols in R.by_size:
        out = _inv_logdet(Sw[cols[:, :, None], cols[:, None, :]])
        if out is None:
            return None
        A[ids[:, None, None], cols[:, :, None], cols[:, None, :]] = out[0]
        ld[ids] = out[1]
    Szz, Szy, Syy = Sbb[:pz, :pz], Sbb[:pz, pz:], Sbb[pz:, pz:]
    nzp = len(R.zmasks)
    Lz, Bz, ldz = np.zeros((nzp, pz, pz)), np.zeros((nzp, py, pz)), np.zeros(nzp)
    for q, o in enumerate(R.zmasks):
        if o.any():
            out = _inv_logdet(Szz[np.ix_(o, o)])
            Lz[q][np.ix_(o, o)], ldz[q] = out[0], out[1]
            Bz[q] = Szy.T @ Lz[q]
    C = Syy - Bz @ Szy  # (nzp, py, py)
    rz = np.where(R.zmasks[R.zpat], R.z - mb[z], 0.0)  # (J, pz)
    zq = R.zpat
    shift = np.einsum("jab,jb->ja", Bz[zq], rz)
    rcl = R.row_cluster
    rc = R.y - (mw[y] + mb[y]) - shift[rcl]
    Ar = A[R.pat]
    a = np.einsum("nab,nb->na", Ar, rc)
    sv = np.add.reduceat(a, R.starts, axis=0)
    M = (R.cnt @ A.reshape(npat, -1)).reshape(-1, py, py)
    Cj = C[zq]
    T = np.eye(py) + Cj @ M
    sign, ldT = np.linalg.slogdet(T)
    if np.any(sign <= 0):
        return None
    K = np.linalg.solve(T, Cj)
    u = np.einsum("jab,jb->ja", K, sv)
    quad = float(np.sum(rc * a) - np.sum(sv * u) + np.einsum("ja,jab,jb->", rz, Lz[zq], rz))
    val = mc.nel * LOG2PI + float(R.cnt.sum(axis=0) @ ld + ldT.sum() + ldz[zq].sum()) + quad
    if not need_grad:
        return float(val), None
    p = mc.p
    ec = a - np.einsum("nab,nb->na", Ar, u[rcl])
    t = sv - np.einsum("jab,jb->ja", M, u)
    W = M - M @ K @ M
    ksum = np.einsum("jk,jab->kab", R.cnt, K)
    dSw, dSb, dmw, dmb = np.zeros((p, p)), np.zeros((p, p)), np.zeros(p), np.zeros(p)
    dSw[np.ix_(y, y)] = (np.tensordot(R.cnt.sum(axis=0), A, 1) - (A @ ksum @ A).sum(axis=0) - ec.T @ ec)
    zoh = np.zeros((mc.J, nzp))
    zoh[np.arange(mc.J), zq] = 1.0
    Wq = np.einsum("jq,jab->qab", zoh, W)
    BWq = np.swapaxes(Bz, 1, 2) @ Wq  # (nzp, pz, py)
    ez = np.einsum("jab,jb->ja", Lz[zq], rz) - np.einsum("jba,jb->ja", Bz[zq], t)
    V = np.hstack([ez, t])
    G = np.zeros((pz + py, pz + py))
    G[:pz, :pz] = np.tensordot(zoh.sum(axis=0), Lz, 1) + (BWq @ Bz).sum(axis=0)
    G[:pz, pz:] = -BWq.sum(axis=0)
    G[pz:, :pz] = G[:pz, pz:].T
    G[pz:, pz:] = Wq.sum(axis=0)
    dSb[np.ix_(b, b)] = G - V.T @ V
    dmb[b] = -2.0 * V.sum(axis=0)
    dmw[y] = -2.0 * ec.sum(axis=0)
    return float(val), (dSw, dmw, dSb, dmb)


def _m2ll_dense(mc: MissingClusters, sw, mw, sb, mb, need_grad: bool):
    """:func:`m2loglik_missing` from each cluster's covariance matrix (batched by the number
    of observed values)."""
    p = mc.p
    val = mc.nel * LOG2PI
    dSw, dSb, dmw, dmb = np.zeros((p, p)), np.zeros((p, p)), np.zeros(p), np.zeros(p)
    for bt in mc.batches:
        S = sb[bt.iv, bt.jv] + bt.same * sw[bt.iv, bt.jv]
        r = bt.x - (mb[bt.v] + bt.isy * mw[bt.v])
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return np.inf, None
        Si = np.linalg.inv(S)
        e = np.einsum("kab,kb->ka", Si, r)
        val += 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum() + float(np.sum(r * e))
        if need_grad:
            G = Si - e[:, :, None] * e[:, None, :]
            k, d = bt.v.shape
            E = bt.E.reshape(k, d, p)
            dSb += bt.E.T @ (G @ E).reshape(k * d, p)
            dSw += bt.E.T @ ((bt.same * G) @ E).reshape(k * d, p)
            dmb -= 2.0 * (bt.E.T @ e.ravel())
            dmw -= 2.0 * (bt.Ey.T @ e.ravel())
    if not need_grad:
        return float(val), None
    return float(val), (dSw, dmw, dSb, dmb)


class TwoLevelMissingObjective(TwoLevelObjective):
    """:class:`TwoLevelObjective` with the groups' incomplete-data likelihoods; ``stats`` are
    the complete rows' cluster statistics (the optimiser's scoring metric only)."""

    def __init__(self, model, stats, mstats: list[MissingClusters], ll1: list[float]):
        super().__init__(model, stats, ll1)
        self.mstats = mstats
        self.N = sum(mc.N for mc in mstats)
        self.w = [mc.N / self.N for mc in mstats]
        self.ll1 = sum(w * v for w, v in zip(self.w, ll1))

    def group_m2ll(self, g: int, sw, mw, sb, mb, need_grad: bool = False):
        return m2loglik_missing(self.mstats[g], sw, mw, sb, mb, need_grad=need_grad)

    def expected_information(self, imp, weights=None):
        if weights is None:  # the SEs' information; the optimiser's metric passes its weights
            raise OptionError("information='expected' with level: blocks and missing='ml' is not supported "
                              "(lavaan 0.6-14 uses the observed information)")
        return super().expected_information(imp, weights) * (sum(cs.N for cs in self.stats) / self.N)


def _maximise(mc: MissingClusters, moments, full, cs) -> tuple[tuple, float, bool]:
    """Maximise the group's log-likelihood over the moments in the directions ``full`` from
    ``moments`` (full format): quasi-Newton steps on the analytic gradient with step
    halving, the inverse Hessian started from the complete rows' (``cs``) Hessian at the
    start (cheap: the complete-data likelihood) and updated by BFGS. Returns the moments,
    log L and whether the gradient vanished."""
    (dSw, dmw), (dSb, dmb) = full
    K = dSw.shape[0]
    Fw, Fb = dSw.reshape(K, -1), dSb.reshape(K, -1)

    def at(u):
        return (moments[0] + (u @ Fw).reshape(mc.p, mc.p), moments[1] + u @ dmw,
                moments[2] + (u @ Fb).reshape(mc.p, mc.p), moments[3] + u @ dmb)

    def fg(u):
        v, g = m2loglik_missing(mc, *at(u), need_grad=True)
        if not np.isfinite(v):
            return np.inf, None
        return v / mc.N, (Fw @ g[0].ravel() + dmw @ g[1] + Fb @ g[2].ravel() + dmb @ g[3]) / mc.N

    u = np.zeros(K)
    f, g = fg(u)
    if g is None:
        return moments, -np.inf, False
    H = 2.0 * moment_hessian(cs, moments, full, reduced_delta(cs, *full)) / cs.N
    w, V = np.linalg.eigh(H)
    Hinv = (V / np.maximum(w, 1e-8 * max(w.max(), 1e-12))) @ V.T
    for _ in range(200):
        if np.abs(g).max() < 1e-10:
            break
        step = -Hinv @ g
        t = 1.0
        while t > 1e-8:
            fn, gn = fg(u + t * step)
            if fn <= f + 1e-4 * t * (g @ step):
                break
            t /= 2.0
        else:
            break
        s_, y_ = t * step, gn - g
        u, f, g = u + s_, fn, gn
        sy = s_ @ y_
        if sy > 1e-14:  # BFGS update of the inverse Hessian
            rho = 1.0 / sy
            A = np.eye(K) - rho * np.outer(s_, y_)
            Hinv = A @ Hinv @ A.T + rho * np.outer(s_, s_)
    return at(u), -0.5 * f * mc.N, bool(np.abs(g).max() < 1e-6)


def _x_moments(X: np.ndarray, codes: np.ndarray, lv, p: int) -> tuple:
    """The fixed-x covariates' complete-data ML moments: level 1 (within-only) the mean and
    covariance over the rows (divisor N), level 2 (between-only) over the clusters
    (divisor J)."""
    _, inv = np.unique(codes, return_inverse=True)
    sw, mw, sb, mb = np.zeros((p, p)), np.zeros(p), np.zeros((p, p)), np.zeros(p)
    x1, x2 = list(lv.exo[0]), list(lv.exo[1])
    if x1:
        Z = X[:, x1]
        mw[x1] = Z.mean(axis=0)
        sw[np.ix_(x1, x1)] = np.cov(Z.T, bias=True).reshape(len(x1), len(x1))
    if x2:
        J = int(inv.max()) + 1
        Z = np.zeros((J, len(x2)))
        for i, k in enumerate(x2):
            col = X[:, k]
            ok = ~np.isnan(col)
            Z[:, i] = np.bincount(inv[ok], col[ok], J) / np.maximum(np.bincount(inv[ok], minlength=J), 1)
        mb[x2] = Z.mean(axis=0)
        sb[np.ix_(x2, x2)] = np.cov(Z.T, bias=True).reshape(len(x2), len(x2))
    return sw, mw, sb, mb


class TwoLevelFIML(TwoLevelML):
    """Two-level ML with missing data (``missing="ml"``); ``mgroups`` the groups'
    :class:`MissingClusters` (``groups`` hold the saturated models and level structures)."""

    name = "TwoLevelFIML"
    missing = "ml"
    #: lavaan lists the robust (Zhang-Savalei) indices of a two-level FIML fit as NA
    na_measures = ("cfi_robust", "tli_robust", "nnfi_robust", "rni_robust", "rmsea_robust",
                   "rmsea_ci_lower_robust", "rmsea_ci_upper_robust", "rmsea_pvalue_robust",
                   "rmsea_notclose_pvalue_robust")

    def __init__(self):
        super().__init__(robust=False)
        self.mgroups: list[MissingClusters] = []
        self.base_ll: list[tuple[float, float]] = []  # the independence model per group: (log L, npar)
        self.h1_warning: str | None = None

    def objective(self, model, samples):
        return TwoLevelMissingObjective(model, [gl.cs for gl in self.groups], self.mgroups,
                                        [gl.sat.logl for gl in self.groups])

    def group_sizes(self) -> list[tuple[int, int]]:
        return [(mc.N, mc.J) for mc in self.mgroups]

    def n_values(self) -> int:
        return sum(mc.nel for mc in self.mgroups)

    def ndat(self) -> int:
        from .twolevel import ndat

        return sum(ndat(mc, len(gl.lv.within_only)) - gl.lv.nexo for mc, gl in zip(self.mgroups, self.groups))

    def baseline(self, sol) -> Baseline:
        ll0 = sum(ll for ll, _ in self.base_ll) - self.llx
        npar0 = sum(k for _, k in self.base_ll)
        chisq0 = max(2.0 * (self.ll1 - ll0), 0.0)
        return Baseline(chisq0, float(self.ndat() - npar0))


def prepare_missing(pt, data, cluster, group):
    """Family (with each group's clusters, level structure, saturated and independence
    models), samples, labels and drops of a two-level FIML fit."""
    from ..cluster import cluster_codes
    from ..data import prepare_blocks
    from .fiml import FIML

    lvs = level_sets(pt)
    ov = list(pt.ov_names)
    codes_all = cluster_codes(data, cluster)
    drops: dict = {}
    kept: list = []
    ov_x = sorted({ov[k] for lv in lvs for k in lv.exo_idx})
    blocks, labels = prepare_blocks(data, ov, group, FIML(), ov_x, drops, kept)
    if len(blocks) != len(lvs):
        raise OptionError(f"the model has {len(lvs)} group block(s) but the data {len(blocks)} group(s)")
    family = TwoLevelFIML()
    p = len(ov)
    for X, rows, lv in zip(blocks, kept, lvs):
        codes = codes_all[rows]
        mc = missing_clusters(X, codes, lv.lev1, lv.between_only, ov)
        if mc.N == mc.J:
            raise DataError("every cluster has a single respondent: a two-level model needs clusters with several")
        complete = ~np.isnan(X).any(axis=1)
        if np.unique(codes[complete]).size < 3 or complete.sum() <= len(lv.lev1) + np.unique(codes[complete]).size:
            raise DataError("too few complete rows to start two-level FIML (the starting values come from the "
                            "complete rows)")
        cs = cluster_stats(X[complete], codes[complete], lv.lev1, lv.between_only, ov)
        check_between_variance(cs, ov, lv.within_only)
        start = _start_samples(cs, p, lv.within_only)
        xm = _x_moments(X, codes, lv, p)
        for s, Sx, mx, xs in ((start[0], xm[0], xm[1], lv.exo[0]), (start[1], xm[2], xm[3], lv.exo[1])):
            s.cov[np.ix_(xs, xs)], s.mean[xs] = Sx[np.ix_(xs, xs)], mx[xs]
        llx = loglik_x(_with_n(cs, mc), lv, start)
        # the saturated model: every moment free (the fixed-x covariates' too), from the complete rows' EM
        gl0 = GroupLevels(cs=cs, lv=lv, sat=twolevel_saturated(cs, lv.within_only), llx=llx, start=start)
        mom, ll1, ok1 = _maximise(mc, _sat_moments(gl0, p), _all_directions(mc, lv, p), cs)
        y, bi = mc.y_idx, mc.b_idx
        sat = TwoLevelSaturated(sigma_w=mom[0][np.ix_(y, y)], sigma_b=mom[2][np.ix_(bi, bi)], mu_w=mom[1][y],
                                mu_b=mom[3][bi], logl=ll1, iterations=0, nclusters=mc.J,
                                sizes=np.bincount(np.unique(codes, return_inverse=True)[1]))
        gl = GroupLevels(cs=cs, lv=lv, sat=sat, llx=llx, start=start)
        # the independence model: variances and means free, the fixed-x block at its moments
        mom0 = _baseline_moments(gl0, p)
        for M, Sx, xs in ((mom0[0], xm[0], lv.exo[0]), (mom0[2], xm[2], lv.exo[1])):
            M[np.ix_(xs, xs)] = Sx[np.ix_(xs, xs)]
        mom0[1][lv.exo[0]], mom0[3][lv.exo[1]] = xm[1][lv.exo[0]], xm[3][lv.exo[1]]
        full0 = h1_directions(mc, lv, p, diagonal=True)
        _, ll0, ok0 = _maximise(mc, mom0, full0, cs)
        family.groups.append(gl)
        family.mgroups.append(mc)
        family.base_ll.append((ll0, float(full0[0][0].shape[0])))
        if not (ok1 and ok0):
            family.h1_warning = "the saturated or independence model with missing data did not converge"
    from .fiml import fiml_samples

    samples = fiml_samples(blocks)
    return family, samples, labels, drops


def _with_n(cs, mc: MissingClusters):
    """``cs`` with the numbers of rows and clusters of all rows (for ``loglik_x``)."""
    import dataclasses

    return dataclasses.replace(cs, N=mc.N, J=mc.J)


def _all_directions(mc: MissingClusters, lv, p: int) -> tuple:
    """The saturated model's directions with the fixed-x covariates' moments free too."""
    import dataclasses

    free = dataclasses.replace(lv, exo=([], []))
    return h1_directions(mc, free, p)


PREPARE["fiml"] = prepare_missing
