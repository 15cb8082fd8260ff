"""Least squares on thresholds and polychoric correlations: lavaan's estimators for
ordered items (``ordered=``): DWLS, WLSMV, WLSM, ULS, ULSMV and (categorical) WLS, in the
delta or theta parameterization, with listwise or pairwise deletion, one or more groups.

* sample statistics (:mod:`asymtrust.engine.ordinal`): per group the thresholds, the
  polychoric correlations and their NACOV Gamma (Muthen 1984), s = (tau, vech* R);
  ``missing="listwise"`` (complete rows) or ``"pairwise"`` (lavaan's: each threshold
  from its item's answers, each correlation from the pair's complete rows);
* model (delta parameterization, lavaan's ``parameterization="delta"``): the latent
  responses have unit variances: the residual variance of each ordered item is not a
  parameter but 1 - (its variance explained), so that diag Sigma* = 1; the implied
  statistics are sigma = (tau - mu*, the off-diagonal of Sigma*);
* objective: fx = sum_g (N_g / N) 1/2 (N_g - 1)/N_g (s_g - sigma_g)' W_g (s_g - sigma_g),
  with W the inverse of diag(Gamma) (DWLS, WLSMV, WLSM), Gamma^-1 (WLS) or I (ULS,
  ULSMV); the test statistic is 2 N fx = sum_g (N_g - 1) F_g (lavaan);
* standard errors: expected information E = sum_g (N_g/N) Delta' W Delta, vcov = E^-1 / N;
  ``robust.sem`` (WLSMV, WLSM, ULSMV): E^-1 (Delta' W Gamma W Delta) E^-1 / N;
* tests (lavaan's ``lav_test_satorra_bentler``): with U = W - W Delta E^-1 Delta' W,
  the mean-adjusted statistic T / (tr(U Gamma)/df) (WLSM, ``satorra.bentler``) and the
  scaled-and-shifted statistic a T + b, a = sqrt(df / tr((U Gamma)^2)),
  b = df - a tr(U Gamma) (WLSMV, ULSMV, ``scaled.shifted``);
* baseline: thresholds free, correlations zero (closed form: the thresholds fit
  exactly), with the same scaled tests;
* no likelihood: logl, AIC and BIC are NA, as in lavaan.

lavaan's parameter table for ordered items (the library's ``build_partable(ordered=)``)
has thresholds (``item | t1``), scale rows (``item ~*~ item``, fixed at 1), intercepts of
the items fixed at 0 and their residual variances fixed (at 1, then set by the delta
rule); the numbers of thresholds come from the data (:meth:`DWLS.table_for`).

Robust CFI/TLI/RMSEA (with a scaled test): lavaan 0.6-14's cat-ML correction
(:func:`catml_indices`). Parameterizations: delta (lavaan's default) and theta
(:class:`OrdinalObjective`).

Several groups: each group's first stage on the categories of all groups (a category
missing in one group is refused, naming the item and the group); ``group_equal`` with
lavaan's own identification from the library's table: under equal thresholds the delta
parameterization frees the scale factors Delta (``~*~``) of groups 2.. (then
diag Sigma* = 1/Delta^2 and sigma = (Delta_i (tau - mu*_i), Delta_i Delta_j Sigma*_ij)),
the theta parameterization the residual variances. lavaan's cat-ML robust indices are NA
when a constraint involves thresholds (its cat-ML table drops them), and so are ours.

Continuous indicators among ordered items: lavaan's sample
statistics (-means among the thresholds, then the variances, then covariances from
polyserial and Pearson correlations; :func:`asymtrust.engine.ordinal.mixed_stage`);
their implied statistics are -mu_i, Sigma_ii and D_j Sigma_ij (D_i = 1 for them).

Exogenous observed covariates x (lavaan's ``conditional.x``, with ``fixed.x``, the default
for ordered items): the sample statistics are those of the endogenous variables given x
(:mod:`asymtrust.engine.ordinal_cx`: thresholds and -intercepts, the slopes vec(PI), residual
variances and correlations, and their NACOV); the implied ones are the reduced form of the
model's Sigma and mu, PI = Sigma_yx Sigma_xx^-1, the residual covariance
Sigma_yy - PI Sigma_xy (diag 1 for ordered items under the delta rule) and the intercepts
mu_y - PI mu_x (:func:`~asymtrust.engine.ordinal_cx.reduced_form`; theta: the thresholds,
slopes and correlations scaled by D = diag(residual covariance)^-1/2; free scale factors
under equal thresholds scale the slopes too); the baseline frees the
slopes too (lavaan's ``baseline.conditional.x.free.slopes``); the cat-ML robust indices are
NA, as lavaan's. Pairwise deletion drops the rows with a missing covariate (reported).

Not yet (refused by name): ordered items that predict other variables, missing data other
than listwise or pairwise deletion, bootstrap and Monte Carlo refits.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from ...exceptions import InsufficientDataError, OptionError
from .. import indices as ix
from ..data import DROP_EXO, DROP_LISTWISE
from ..model import Implied
from ..ordinal import FirstStage, first_stage, mixed_stage, pair_index
from ..ordinal_cx import conditional_parts, conditional_stage, reduced_chain, reduced_delta, reduced_form
from ..samplestats import GroupSample
from .base import Baseline, EstimatorFamily, Solution, rmsea_family

_ORD_ISSUE = "issue 15 (ordinal items)"


# ----------------------------------------------------------------------------- objective
class ImpliedList(list):
    """The implied moments per group, with the parameters they came from (the thresholds
    are not in the RAM matrices)."""

    def __init__(self, items, theta: np.ndarray):
        super().__init__(items)
        self.theta = np.asarray(theta, float).copy()


class OrdinalObjective:
    """fx = sum_g (N_g/N) 1/2 (N_g - 1)/N_g (s_g - sigma_g)' W_g (s_g - sigma_g) on
    thresholds and correlations.

    With Sigma* the covariance matrix of the latent responses and D = diag(Sigma*)^-1/2
    (lavaan's scale factors, the ``~*~`` rows), the implied statistics are the thresholds
    D_i (tau - mu*_i) and the correlations D_i D_j Sigma*_ij. Delta parameterization
    (``theta_param`` False): the residual variances of the ordered items are set so that
    diag Sigma* = 1 (D = I); theta parameterization: the residual variances are the
    table's (fixed at 1), and D varies with the parameters.
    """

    def __init__(self, model, samples: list[GroupSample], weights: list[np.ndarray], plan: dict,
                 theta_param: bool = False):
        self.model = model
        self.samples = samples
        self.N = sum(s.nobs for s in samples)
        self.W = weights  # per group, the full weight matrix
        # a diagonal weight as its diagonal: W x is then an elementwise product
        self.Wd = [np.diag(W).copy() if not np.any(W - np.diag(np.diag(W))) else None for W in weights]
        self.plan = plan
        self.theta_param = bool(theta_param)
        self.meanstructure = model.meanstructure
        self.c = [0.5 * (s.nobs - 1.0) / self.N for s in samples]  # lavaan: (N_g - 1)/N_g x N_g/N
        self.r, self.cc = plan["pairs"]
        self.ord_idx = plan["ord_idx"]
        self.cx = conditional_parts(plan) if len(plan.get("x_idx", ())) else None  # lavaan's conditional.x

    def adjust(self, imp: list[Implied]) -> list[Implied]:
        """The delta rule: the residual variance of each ordered item set so that its
        latent response has unit variance (ordered items are sinks: one shift each)."""
        if self.theta_param:
            return imp
        out = []
        for g, gi in enumerate(imp):
            d = np.zeros(len(gi.S))
            target = 1.0 / self._delta(imp.theta, g) ** 2  # diag Sigma* = 1/Delta^2 (1 unless scales are free)
            d[self.ord_idx] = target[self.ord_idx] - np.diag(self.reduced(gi)[0])[self.ord_idx]
            S = gi.S + np.diag(d)
            SBt = S @ gi.B.T
            C = gi.B @ SBt
            p = self.model.p
            sigma = (C[:p, :p] + C[:p, :p].T) / 2.0
            out.append(Implied(A=gi.A, S=S, m=gi.m, B=gi.B, FB=gi.FB, C=C, sigma=sigma, mu=gi.mu, SBt=SBt))
        return ImpliedList(out, imp.theta)

    def scale(self, imp: list[Implied], g: int) -> np.ndarray:
        """D: 1/sqrt(diag Sigma*) for the ordered items (ones in the delta parameterization),
        1 for continuous variables."""
        D = 1.0 / np.sqrt(np.diag(self.reduced(imp[g])[0]))
        D[self.plan["num_idx"]] = 1.0
        D[self.plan.get("x_idx", [])] = 1.0
        return D

    def reduced(self, gi: Implied) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Sigma*, mu* and the slopes PI the sample statistics describe: the implied moments;
        given covariates (conditional.x) the residual covariance, the intercepts and PI of
        the endogenous variables (:func:`reduced_form`)."""
        if self.cx is None:
            return gi.sigma, gi.mu, None
        return reduced_form(gi.sigma, gi.mu, self.cx)

    def _delta(self, theta: np.ndarray, g: int) -> np.ndarray:
        """The scale factors Delta of group g (the ``~*~`` rows: fixed at 1, or free in
        groups 2.. under equality constraints), one per observed variable."""
        k, fixed = self.plan["sc_free"][g], self.plan["sc_fixed"][g]
        return np.where(k >= 0, theta[np.maximum(k, 0)], fixed)

    def _tau(self, theta: np.ndarray, g: int) -> np.ndarray:
        k, fixed = self.plan["th_free"][g], self.plan["th_fixed"][g]
        return np.where(k >= 0, theta[np.maximum(k, 0)], fixed)

    def implied_vector(self, theta: np.ndarray, imp: list[Implied], g: int) -> np.ndarray:
        item = self.plan["th_item"][g]
        D = self.scale(imp, g)
        sig, mu, PI = self.reduced(imp[g])
        th = D[item] * (self._tau(theta, g) - mu[item])  # a continuous variable's slot: -mu
        num = self.plan["num_idx"]
        sl = np.zeros(0) if PI is None else (D[self.cx["y"]][:, None] * PI).ravel(order="F")  # vec(SLOPES)
        return np.concatenate((th, sl, sig[num, num], D[self.r] * D[self.cc] * sig[self.r, self.cc]))

    def evaluate(self, theta: np.ndarray, need_grad: bool = True):
        imp = self.adjust(ImpliedList(self.model.implied(theta), theta))
        total = 0.0
        Ws, gmus, gth = [], [], np.zeros(len(theta))
        for g, s in enumerate(self.samples):
            est = self.implied_vector(theta, imp, g)
            e = s.wls_obs - est
            We = self.wmul(g, e)
            total += self.c[g] * float(e @ We)
            if not need_grad:
                continue
            M, gmu = self._chain(theta, imp, g, est, -2.0 * self.c[g] * We, gth)
            Ws.append(M)
            gmus.append(gmu if self.meanstructure else None)
        if not np.isfinite(total):
            return np.inf, None, imp
        grad = self.model.gradient(imp, Ws, gmus) + gth if need_grad else None
        return total, grad, imp

    def _chain(self, theta, imp, g: int, est: np.ndarray, gv: np.ndarray, gth: np.ndarray):
        """From d fx / d sigma (``gv``) to d fx / d Sigma* (M, as tr(M dSigma*)), d fx / d mu*
        and (added to ``gth``) d fx / d tau."""
        p = self.model.p
        item = self.plan["th_item"][g]
        nth = len(item)
        D = self.scale(imp, g)
        num = self.plan["num_idx"]
        nv = len(num)
        nsl = 0 if self.cx is None else self.cx["nsl"]
        gt, gsl, gvar, gc = gv[:nth], gv[nth:nth + nsl], gv[nth + nsl:nth + nsl + nv], gv[nth + nsl + nv:]
        rho = est[nth + nsl + nv:]
        k = self.plan["th_free"][g]
        np.add.at(gth, k[k >= 0], (D[item] * gt)[k >= 0])
        gmu = np.zeros(p)
        np.add.at(gmu, item, -D[item] * gt)
        M = np.zeros((p, p))
        M[self.r, self.cc] = gc * D[self.r] * D[self.cc] / 2.0
        M[self.cc, self.r] = M[self.r, self.cc]
        M[num, num] += gvar  # the variances of continuous variables
        ks = self.plan["sc_free"][g]
        if not self.theta_param and np.any(ks >= 0):  # free scale factors: d sigma / d Delta_i = sigma / Delta_i
            gd = np.zeros(p)
            np.add.at(gd, item, gt * est[:nth])
            np.add.at(gd, self.r, gc * rho)
            np.add.at(gd, self.cc, gc * rho)
            if nsl:  # the slopes Delta_i PI_ik
                y = self.cx["y"]
                gd[y] += np.sum((gsl * est[nth:nth + nsl]).reshape(-1, len(y)), axis=0)
            np.add.at(gth, ks[ks >= 0], (gd / D)[ks >= 0])
        if self.theta_param:  # d D_i / d Sigma*_ii = -D_i / (2 Sigma*_ii), ordered items only
            sii = np.diag(self.reduced(imp[g])[0])
            dd = np.zeros(p)
            np.add.at(dd, self.r, -0.5 * gc * rho / sii[self.r])
            np.add.at(dd, self.cc, -0.5 * gc * rho / sii[self.cc])
            np.add.at(dd, item, -0.5 * gt * est[:nth] / sii[item])
            if nsl:  # the slopes D_i PI_ik
                y = self.cx["y"]
                gsl_m = gsl.reshape(-1, len(y)).T
                dd[y] += -0.5 * np.sum(gsl_m * est[nth:nth + nsl].reshape(-1, len(y)).T, axis=1) / sii[y]
            dd[num] = 0.0
            M[np.arange(p), np.arange(p)] += dd
        if self.cx is not None:  # from the residual covariance, intercepts and slopes to Sigma and mu
            gsl = (D[self.cx["y"]][:, None] * gsl.reshape(-1, len(self.cx["y"])).T).T.ravel()
            return reduced_chain(M, gmu, gsl, imp[g].sigma, imp[g].mu, self.cx)
        return M, gmu

    def _scale_columns(self, imp, g, D, ks, item, Dth, Dc, Dsl) -> None:
        """The columns of free scale factors in Delta (delta parameterization): d th / d Delta_i
        = th / Delta_i, d rho_ij / d Delta_i = rho_ij / Delta_i, d slope_ik / d Delta_i =
        slope_ik / Delta_i (in place)."""
        est = self.implied_vector(imp.theta, imp, g)
        nsl = len(Dsl)
        off = len(item) + nsl + len(self.plan["num_idx"])
        ypos = {int(v): j for j, v in enumerate(self.cx["y"])} if nsl else {}
        for i in np.flatnonzero(ks >= 0):
            rows = np.flatnonzero(item == i)
            Dth[rows, ks[i]] += est[rows] / D[i]
            pr = np.flatnonzero((self.r == i) | (self.cc == i))
            Dc[pr, ks[i]] += est[off + pr] / D[i]
            if nsl:
                srows = np.arange(ypos[int(i)], nsl, len(ypos))
                Dsl[srows, ks[i]] += est[len(item) + srows] / D[i]

    def jacobians(self, imp: list[Implied]) -> list[np.ndarray]:
        """Delta_g = d sigma_g / d theta' (rows: thresholds, variances of continuous
        variables, then correlations)."""
        out = []
        K = self.model.n_free
        for g, (dS, dm) in enumerate(self.model.delta(imp)):
            dPI = None
            if self.cx is not None:  # d of the residual covariance, intercepts and slopes
                dS, dm, dPI = reduced_delta(dS, dm, imp[g].sigma, imp[g].mu, self.cx)
            k, item = self.plan["th_free"][g], self.plan["th_item"][g]
            D = self.scale(imp, g)
            Dth = -(D[item][:, None] * dm[:, item].T) if dm.size else np.zeros((len(item), K))
            Dth = np.array(Dth, dtype=float)
            rows = np.flatnonzero(k >= 0)
            Dth[rows, k[rows]] += D[item][rows]
            Dc = (D[self.r] * D[self.cc])[:, None] * dS[:, self.r, self.cc].T
            num = self.plan["num_idx"]
            Dvar = dS[:, num, num].T
            ks = self.plan["sc_free"][g]
            Dsl = np.zeros((0, K))  # the slopes D_i PI_ik, vec order (per covariate every item)
            if dPI is not None:
                Dsl = (D[self.cx["y"]][None, :, None] * dPI).transpose(2, 1, 0).reshape(-1, K)
            if not self.theta_param and np.any(ks >= 0):
                self._scale_columns(imp, g, D, ks, item, Dth, Dc, Dsl)
            if self.theta_param:
                self._theta_columns(imp, g, dS, D, item, Dth, Dc, Dsl)
            out.append(np.vstack((Dth, Dsl, Dvar, Dc)))
        return out

    def _theta_columns(self, imp, g, dS, D, item, Dth, Dc, Dsl) -> None:
        """Theta parameterization: the terms of d D_i = -D_i dSigma*_ii / (2 Sigma*_ii) in the
        rows of the thresholds, slopes and correlations (in place; Sigma* the residual
        covariance given covariates)."""
        p = self.model.p
        sig, mu, PI = self.reduced(imp[g])
        sii = np.diag(sig)
        dii = dS[:, np.arange(p), np.arange(p)].T / sii[:, None]  # d Sigma*_ii / Sigma*_ii
        dii[self.plan["num_idx"]] = 0.0  # continuous variables are not rescaled
        rho = (D[self.r] * D[self.cc] * sig[self.r, self.cc])[:, None]
        Dc -= 0.5 * rho * (dii[self.r] + dii[self.cc])
        th = (D[item] * (self._tau(imp.theta, g) - mu[item]))[:, None]
        Dth -= 0.5 * th * dii[item]
        if PI is not None:
            y = self.cx["y"]
            sl = (D[y][:, None] * PI).ravel(order="F")[:, None]
            Dsl -= 0.5 * sl * np.tile(dii[y], (PI.shape[1], 1))

    def wmul(self, g: int, X: np.ndarray) -> np.ndarray:
        """W_g X (elementwise for a diagonal weight)."""
        d = self.Wd[g]
        if d is None:
            return self.W[g] @ X
        return d * X if X.ndim == 1 else d[:, None] * X

    def _weighted(self, imp: list[Implied], factors: list[float]) -> np.ndarray:
        K = self.model.n_free
        info = np.zeros((K, K))
        for g, D in enumerate(self.jacobians(imp)):
            info += factors[g] * (D.T @ self.wmul(g, D))
        return (info + info.T) / 2.0

    def scoring_information(self, imp: list[Implied]) -> np.ndarray:
        return self._weighted(imp, [2.0 * c for c in self.c])

    def expected_information(self, imp: list[Implied]) -> np.ndarray:
        """sum_g (N_g/N) Delta_g' W_g Delta_g (lavaan's expected information)."""
        return self._weighted(imp, [s.nobs / self.N for s in self.samples])

    def observed_information(self, theta: np.ndarray, imp: list[Implied] | None = None) -> np.ndarray:
        return self.expected_information(imp if imp is not None else self.evaluate(theta, False)[2])

    def first_order(self, imp: list[Implied]) -> np.ndarray:
        """The meat of robust.sem: sum_g (N_g/N) Delta' W Gamma W Delta."""
        K = self.model.n_free
        out = np.zeros((K, K))
        for g, D in enumerate(self.jacobians(imp)):
            WD = self.wmul(g, D)
            out += (self.samples[g].nobs / self.N) * (WD.T @ self.samples[g].nacov @ WD)
        return (out + out.T) / 2.0


# ----------------------------------------------------------------------------- tests
def ugamma_traces(obj: OrdinalObjective, imp: list[Implied], rep) -> tuple[float, float]:
    """tr(U Gamma) and tr((U Gamma)^2), U = W - W Delta E^-1 Delta' W over the groups
    stacked (W_g weighted by N_g/N, Gamma_g divided by it), E^-1 under the constraints."""
    from scipy.linalg import block_diag

    from ..vcov import constrained_inverse

    f = [s.nobs / obj.N for s in obj.samples]
    W = block_diag(*[fg * Wg for fg, Wg in zip(f, obj.W)])
    Gam = block_diag(*[s.nacov / fg for fg, s in zip(f, obj.samples)])
    D = np.vstack(obj.jacobians(imp))
    Einv, _ = constrained_inverse(D.T @ W @ D, rep)
    WD = W @ D
    WG = W @ Gam
    UG = WG - WD @ (Einv @ (WD.T @ Gam))  # (W - W D E^-1 D' W) Gamma, without the p* x p* product
    return float(np.trace(UG)), float(np.sum(UG * UG.T))


def scaled_tests(kind: str, chisq: float, df: float, tr1: float, tr2: float) -> dict[str, float]:
    """lavaan's ``satorra.bentler`` (mean-adjusted) or ``scaled.shifted`` test from the
    traces of U Gamma: the statistic, its df, p-value, scaling factor and shift."""
    nan = float("nan")
    if df <= 0:
        return {"chisq_scaled": chisq, "df_scaled": df, "pvalue_scaled": nan, "chisq_scaling_factor": nan}
    if kind == "scaled.shifted":
        a = np.sqrt(df / tr2)
        b = df - a * tr1
        T, c, shift = a * chisq + b, 1.0 / a, b
    else:
        c = tr1 / df
        T, shift = chisq / c, 0.0
    return {"chisq_scaled": T, "df_scaled": df, "pvalue_scaled": float(stats.chi2.sf(T, df)),
            "chisq_scaling_factor": c, "shift": shift}


def incremental(chisq, df, chisq0, df0, suffix: str = "") -> dict[str, float]:
    out = {"cfi": ix.cfi(chisq, df, chisq0, df0), "tli": ix.tli(chisq, df, chisq0, df0)}
    out["nnfi"] = out["tli"]
    out.update(ix.other_incremental(chisq, df, chisq0, df0))
    return {k + suffix: v for k, v in out.items()}


def gfi_family(obj: OrdinalObjective, theta: np.ndarray, imp: list[Implied], df: float) -> dict[str, float]:
    """GFI = 1 - e'We / s'Ws per group (weights N_g/N), AGFI and PGFI with the number of
    sample statistics (lavaan's ``lav_fit_gfi`` on WLS.obs, WLS.est and WLS.V)."""
    return ix.gfi_weighted(((s.nobs, s.wls_obs, s.wls_obs - obj.implied_vector(theta, imp, g), obj.W[g])
                            for g, s in enumerate(obj.samples)), obj.N, df)


def residual_indices(samples: list[GroupSample], imp: list[Implied], obj: OrdinalObjective,
                     theta: np.ndarray) -> dict[str, float]:
    """lavaan's SRMR family for a categorical fit, from the residuals of the sample
    statistics: the (co)variance residuals over vech, divided by the sample standard
    deviations (1 for ordered items) -- ``srmr`` (``rmr``: undivided); with the threshold
    residuals (their number in the denominator: the ordered items' thresholds) --
    ``srmr_bentler`` and ``rmr``; ``crmr`` without the diagonal. Groups averaged with
    weights N_g/N."""
    out = dict.fromkeys(["srmr", "srmr_bentler", "srmr_bentler_nomean", "rmr", "rmr_nomean", "crmr",
                         "crmr_nomean"], 0.0)
    for g, s in enumerate(samples):
        w = s.nobs / obj.N
        est = obj.implied_vector(theta, imp, g)
        nth, num = len(s.th), obj.plan["num_idx"]
        y = obj.plan.get("y_idx", np.arange(len(s.cov)))  # given covariates: the residual moments
        pos = np.zeros(len(s.cov), int)
        pos[y] = np.arange(len(y))
        S = getattr(s, "res_cov", s.cov)
        p = len(S)
        off = nth + len(s.first.slope_vector)
        implied = np.eye(p)
        implied[pos[num], pos[num]] = est[off:off + len(num)]
        implied[pos[obj.r], pos[obj.cc]] = implied[pos[obj.cc], pos[obj.r]] = est[off + len(num):]
        raw = S - implied
        sd = np.sqrt(np.diag(S))
        std = raw / np.outer(sd, sd)
        ss_th = float(np.sum((s.wls_obs[:nth] - est[:nth]) ** 2))
        n_th = sum("|" in n for n in s.first.th_names)
        iu, off = np.triu_indices(p), np.triu_indices(p, 1)
        nc = len(off[0])
        nr = nc + len(s.mean)  # lavaan: + the number of observed variables (covariates included)
        for key, R in (("srmr", std), ("rmr", raw)):
            ss, ssc = float(np.sum(R[iu] ** 2)), float(np.sum(R[off] ** 2))
            nomean, withm = np.sqrt(ss / nr), np.sqrt((ss + ss_th) / (nr + n_th))
            if key == "srmr":
                out["srmr"] += w * nomean
                out["srmr_bentler_nomean"] += w * nomean
                out["srmr_bentler"] += w * withm
                out["crmr_nomean"] += w * np.sqrt(ssc / nc)
                out["crmr"] += w * np.sqrt((ssc + ss_th) / (nc + n_th))
            else:
                out["rmr_nomean"] += w * nomean
                out["rmr"] += w * withm
    return out


# ----------------------------------------------------------------------------- the families
class DWLS(EstimatorFamily):
    """Diagonally weighted least squares on thresholds and polychoric correlations;
    ``robust`` with ``test``: WLSMV (scaled-shifted) or WLSM (mean-adjusted)."""

    name = estimator = "DWLS"
    missing = "listwise"
    drop_reason = DROP_LISTWISE
    default_fixed_x = True  # lavaan: categorical data imply conditional.x, and then fixed.x
    weight_kind = "diag"
    has_pvalue = True

    def __init__(self, robust: bool = False, test: str = "standard", ordered=True,
                 parameterization: str = "delta"):
        super().__init__(robust=robust)
        self.test = test
        self.ordered_spec = ordered
        self.names: list[str] = []
        par = str(parameterization).lower()
        if par not in ("delta", "default", "theta"):
            raise OptionError(f"parameterization must be 'delta' or 'theta', not {parameterization!r}")
        self.parameterization = "theta" if par == "theta" else "delta"

    @property
    def default_information(self) -> str:
        return "expected"  # lavaan: categorical fits use the expected information

    # ------------------------------------------------------------------ table, data
    def ordered_names(self, pt) -> list[str]:
        """The ordered items of the model (``ordered=True``: every observed variable but the
        exogenous covariates, as lavaan's ``ov.nox``)."""
        ov = list(pt.ov_names)
        spec = self.ordered_spec
        xs = set(getattr(pt, "ov_x", []) or [])
        if spec is True:
            names = [v for v in ov if v not in xs]
        else:
            names = [str(v) for v in ([spec] if isinstance(spec, str) else spec) if str(v) in ov]
        if not names:
            raise OptionError("ordered= names none of the model's observed variables")
        return names

    def result_options(self) -> dict:
        """What the result's ``options`` record of this family."""
        return {"ordered": list(self.names), "parameterization": self.parameterization}

    def bind_table(self, pt):
        """The table this family estimates: lavaan's rows for the ordered items; continuous
        variables among them (polyserial and Pearson correlations) as endogenous
        indicators with complete data in one group."""
        self.names = self.ordered_names(pt)
        self.ov = list(pt.ov_names)
        self.numeric = np.array([v not in set(self.names) for v in self.ov])
        cont = [v for v, n in zip(self.ov, self.numeric) if n]
        self.x_names = [v for v in cont if v in set(getattr(pt, "ov_x", []) or [])]
        self.__dict__.pop("drop_reason", None)  # the class's, unless covariates with pairwise deletion
        if self.x_names:  # lavaan's conditional.x (with fixed.x): the first stage given the covariates
            check_conditional(self, pt)
            self.numeric = np.array([v not in set(self.names) for v in self.ov if v not in set(self.x_names)])
        tab = pt.table
        struct = tab[tab["op"].isin(["=~", "~"])]
        pred = set(struct.loc[struct["op"] == "=~", "lhs"]) | set(struct.loc[struct["op"] == "~", "rhs"])
        bad = [v for v in self.names if v in pred]
        if bad:
            raise OptionError(f"ordered item {bad[0]!r} predicts or measures another variable; ordered items "
                              f"as predictors are not supported yet ({_ORD_ISSUE})")
        return pt

    def default_meanstructure(self, meanstructure):
        return True if meanstructure is None else meanstructure  # lavaan: categorical fits have means

    def table_for(self, pt, samples: list[GroupSample], build=None):
        """The table with lavaan's rows for the ordered items: the library's
        (``build(ordered={item: thresholds})``), the numbers of thresholds from the data."""
        K = tuple((v, int(k) - 1) for v, k in zip(samples[0].first.names, samples[0].first.K) if k > 0)
        if build is None:
            raise OptionError("ordered items need the parameter table's builder (fit() passes it)")
        new = build(ordered=K, parameterization=self.parameterization)
        new.__dict__["_ordinal_family"] = self.name  # compile_model: thresholds are estimable here
        return new

    def finish_estimates(self, est: pd.DataFrame, sol: Solution, vcov) -> pd.DataFrame:
        """lavaan's rows for ordered items: thresholds (with SEs), the scale rows, and the
        residual variances the delta rule sets (fixed: SE 0); in the table's order."""
        return ordinal_estimates(est, sol, vcov, self.names, self.parameterization == "theta")

    def solution_warnings(self, sol: Solution, labels) -> list[str]:
        """Delta parameterization: a negative residual variance 1/Delta^2 - (explained
        variance) of an ordered item (lavaan: "some estimated ov variances are negative")."""
        if self.parameterization == "theta":
            return []
        out = []
        pos = {v: i for i, v in enumerate(sol.model.ov_names)}
        for g, gi in enumerate(sol.imp):
            where = f" in group {labels[g]!r}" if labels else ""
            for v in self.names:
                value = gi.S[pos[v], pos[v]]
                if value < 0:
                    out.append(f"Heywood case: negative residual variance for ordered item {v} ({value:.4g}){where}")
        return out

    def keep_rows(self, nan: np.ndarray, xpos: list[int]) -> np.ndarray:
        """listwise: the complete rows; pairwise: every row with an answer (and, given
        covariates, all of them: lavaan deletes rows with a missing exogenous covariate)."""
        if self.missing != "pairwise":
            return ~nan.any(axis=1)
        keep = ~nan.all(axis=1)
        return keep & ~nan[:, xpos].any(axis=1) if xpos else keep

    def sample_stats(self, blocks: list[np.ndarray]) -> list[GroupSample]:
        """The first stage per group; the categories of each item are those of all groups
        (one missing in a group is refused, naming the item and the group)."""
        out = []
        names = self.names or [f"V{j + 1}" for j in range(blocks[0].shape[1])]
        levels = None
        if len(blocks) > 1:
            levels = [np.unique(np.concatenate([X[:, j][~np.isnan(X[:, j])] for X in blocks]))
                      for j in range(blocks[0].shape[1])]
        mixed = getattr(self, "numeric", None) is not None and bool(np.any(self.numeric))
        if getattr(self, "x_names", None):
            return conditional_samples(self, blocks, levels)
        for g, X in enumerate(blocks):
            if X.shape[0] == 0:
                raise InsufficientDataError("no complete cases: every row has a missing value on a model variable")
            where = f" in group {g + 1}" if len(blocks) > 1 else ""
            fs = (mixed_stage(X, self.ov, self.numeric, levels=levels, where=where) if mixed
                  else first_stage(X, names, levels=levels, where=where))
            out.append(stage_sample(fs))
        return out

    def sample_from_moments(self, cov, mean, nobs):
        raise OptionError("ordered items need the raw data (thresholds and polychoric correlations), "
                          "not sample_cov")

    # ------------------------------------------------------------------ start, objective
    def _plan(self, model, samples: list[GroupSample]) -> dict:
        """Where the thresholds of each sample sit in theta (or their fixed values)."""
        tab = model.partable.table
        ov = list(model.ov_names)
        xs = set(getattr(self, "x_names", []))  # covariates (conditional.x): not among the statistics' variables
        y_idx = np.array([i for i, v in enumerate(ov) if v not in xs], int)
        r, c = pair_index(len(y_idx))
        plan = {"ord_idx": np.array([ov.index(v) for v in self.names], int), "th_free": [], "th_fixed": [],
                "th_item": [], "sc_free": [], "sc_fixed": [], "pairs": (y_idx[r], y_idx[c]),
                "num_idx": np.array([i for i in y_idx if ov[i] not in set(self.names)], int)}
        if xs:
            plan.update(y_idx=y_idx, x_idx=np.array([ov.index(v) for v in self.x_names], int))
        for g, s in enumerate(samples, start=1):
            rows = tab[(tab["op"] == "|") & (tab["group"] == g)]
            where = {(r.lhs, r.rhs): (int(r.free) - 1, r.ustart) for r in rows.itertuples(index=False)}
            ks, fixed = [], []
            for name in s.first.th_names:
                if "|" not in name:  # a continuous variable's slot (-mean): tau fixed at 0, D = 1
                    ks.append(-1)
                    fixed.append(0.0)
                    continue
                item, t = name.split("|")
                if (item, t) not in where:
                    raise OptionError(f"the parameter table has no threshold {item} | {t} (the data have "
                                      f"{int(s.first.K[s.first.names.index(item)])} categories of {item!r})")
                k, u = where[(item, t)]
                ks.append(k)
                fixed.append(u if np.isfinite(u) else 0.0)
            plan["th_free"].append(np.array(ks, int))
            plan["th_fixed"].append(np.array(fixed, float))
            plan["th_item"].append(np.array([ov.index(s.first.names[i]) for i in s.first.th_item], int))
            sc = tab[(tab["op"] == "~*~") & (tab["group"] == g)]
            kf, fx = np.full(len(ov), -1), np.ones(len(ov))
            for r in sc.itertuples(index=False):
                kf[ov.index(r.lhs)] = int(r.free) - 1
                fx[ov.index(r.lhs)] = r.ustart if np.isfinite(r.ustart) else 1.0
            plan["sc_free"].append(kf)
            plan["sc_fixed"].append(fx)
        return plan

    def weight(self, s: GroupSample) -> np.ndarray:
        return np.diag(1.0 / np.diag(s.nacov))

    def objective(self, model, samples: list[GroupSample]) -> OrdinalObjective:
        weights = []
        for s in samples:
            cache = s.__dict__.setdefault("_ord_weights", {})
            if self.weight_kind not in cache:
                cache[self.weight_kind] = self.weight(s)
            weights.append(cache[self.weight_kind])
        return OrdinalObjective(model, samples, weights, self._plan(model, samples),
                                theta_param=self.parameterization == "theta")

    def start(self, comp, samples: list[GroupSample]) -> np.ndarray:
        theta = np.asarray(comp.start(samples), float).copy()
        plan = self._plan(comp.model, samples)
        for g, s in enumerate(samples):
            k = plan["th_free"][g]
            theta[k[k >= 0]] = s.th[k >= 0]
            ks = plan["sc_free"][g]
            theta[ks[ks >= 0]] = 1.0  # free scale factors (groups 2.. under equality constraints)
        return theta

    # ------------------------------------------------------------------ information, scores
    def information(self, obj, theta, imp, kind: str) -> np.ndarray:
        return obj.expected_information(imp)

    def scores(self, obj, imp, delta):
        raise OptionError(f"case-wise scores are not defined for estimator {self.estimator} (ordered items); "
                          "its robust standard errors use the NACOV of the thresholds and correlations")

    def first_order(self, obj, imp, delta) -> np.ndarray:
        return obj.first_order(imp)

    # ------------------------------------------------------------------ tests
    def baseline(self, sol: Solution) -> Baseline:
        """Thresholds free, correlations zero: the thresholds are fitted by weighted least
        squares (exactly, for a diagonal weight), in closed form."""
        obj = sol.obj
        chisq0, df0 = 0.0, 0.0
        for g, s in enumerate(sol.samples):
            nth = len(s.wls_obs) - len(s.cor_vec)  # thresholds (and means, variances of continuous variables)
            e0 = np.concatenate((np.zeros(nth), s.cor_vec))
            W = obj.W[g]
            d = np.linalg.solve(W[:nth, :nth], W[:nth] @ e0)
            e = e0.copy()
            e[:nth] -= d
            chisq0 += (s.nobs - 1.0) * float(e @ W @ e)
            df0 += len(s.cor_vec)
        return Baseline(chisq0, df0)

    def loglik(self, sol: Solution) -> tuple[float, float]:
        return float("nan"), float("nan")  # no likelihood: logl, AIC and BIC are NA, as in lavaan

    def robust_indices(self, sol: Solution, base: Baseline, chisq: float) -> dict[str, float]:
        """Every fit measure that differs for a categorical fit (df from the thresholds and
        correlations, lavaan's N - G in the RMSEA family, the scaled tests)."""
        return categorical_measures(self, sol, base, chisq)


def ordinal_estimates(est: pd.DataFrame, sol: Solution, vcov, names: list[str], theta_param: bool) -> pd.DataFrame:
    """The estimates table with the threshold and scale rows, in the parameter table's order:
    delta: the residual variances the delta rule sets; theta: the scale factors
    D_i = 1/sqrt(Sigma*_ii) in the ``~*~`` rows; thresholds standardized as D_i tau."""
    tab = sol.pt.table
    zc = 1.959963984540054
    theta = sol.theta
    est = est.copy()
    pos = {v: i for i, v in enumerate(sol.model.ov_names)}
    lhs, rhs, op = est["lhs"].to_numpy(), est["rhs"].to_numpy(), est["op"].to_numpy()
    grp = est["group"].to_numpy().astype(int)
    value = est["est"].to_numpy(dtype=float).copy()
    ords = set(names)
    for i in np.flatnonzero((op == "~~") & (lhs == rhs)):  # residual variances set by the delta rule
        if lhs[i] in ords and not theta_param:
            j = pos[lhs[i]]
            value[i] = sol.imp[grp[i] - 1].S[j, j]
    est["est"] = value
    rows = tab[tab["op"].isin(["|", "~*~"])]
    k = rows["free"].to_numpy().astype(int) - 1
    value = np.where(k >= 0, theta[np.maximum(k, 0)], rows["ustart"].to_numpy(dtype=float))
    var = np.diag(vcov)[np.maximum(k, 0)] if vcov is not None else np.full(len(k), np.nan)
    se = np.where(k >= 0, np.sqrt(np.clip(var, 0.0, None)), 0.0)
    grp_x = rows["group"].to_numpy().astype(int)
    scale = np.array([1.0 / np.sqrt(sol.imp[g - 1].sigma[pos[v], pos[v]]) for v, g in zip(rows["lhs"], grp_x)])
    is_scale = rows["op"].to_numpy() == "~*~"
    std = np.where(is_scale, 1.0, value * scale)
    if theta_param:  # the scale factors D_i of the latent responses (given covariates: of their residuals)
        cond = np.array([sol.obj.scale(sol.imp, g - 1)[pos[v]] for v, g in zip(rows["lhs"], grp_x)])
        value = np.where(is_scale, cond, value)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, value / se, np.nan)
    extra = pd.DataFrame({"lhs": rows["lhs"].to_numpy(), "op": rows["op"].to_numpy(), "rhs": rows["rhs"].to_numpy(),
                          "group": rows["group"].to_numpy().astype(int), "label": rows["label"].to_numpy(),
                          "est": value, "se": se, "z": z, "pvalue": 2.0 * special.ndtr(-np.abs(z)),
                          "ci_lower": value - zc * se, "ci_upper": value + zc * se, "std_lv": value,
                          "std_all": std, "std_all_se": np.where(k >= 0, se * scale, np.nan),
                          "free": rows["free"].to_numpy().astype(int), "user": rows["user"].to_numpy().astype(int),
                          "exo": rows["exo"].to_numpy().astype(int), "plabel": rows["plabel"].to_numpy()})
    allrows = pd.concat([est, extra[est.columns]], ignore_index=True)
    order = {(r.lhs, r.op, r.rhs, int(r.group)): i for i, r in enumerate(tab.itertuples(index=False))}
    pos = [order.get((a, b, c, int(d)), len(order) + i) for i, (a, b, c, d) in
           enumerate(zip(allrows["lhs"], allrows["op"], allrows["rhs"], allrows["group"]))]
    return allrows.iloc[np.argsort(np.array(pos), kind="stable")].reset_index(drop=True)


def stage_sample(fs: FirstStage) -> GroupSample:
    """A :class:`GroupSample` of a first stage: the polychoric matrix as ``cov``, zero
    means; the thresholds, correlations and NACOV as extra attributes."""
    p = len(fs.names)
    mean = np.zeros(p)
    if fs.numeric is not None:  # continuous variables: their means (-mean among the thresholds)
        mean[np.flatnonzero(fs.numeric)] = -fs.th[[fs.th_names.index(f"{v}~1") for v in np.array(fs.names)[fs.numeric]]]
    cov = (fs.cov if fs.cov is not None else fs.cor).copy()
    s = GroupSample(nobs=fs.nobs, cov=cov, mean=mean, X=None, missing=False)
    s.first = fs
    s.th = fs.th
    s.cor_vec = fs.cor_vector
    s.wls_obs = fs.wls_obs
    s.nacov = fs.nacov
    s.warnings = list(fs.warnings)  # reported with the fit's warnings (engine.data.check_samples)
    s.pd_not_required = True  # a polychoric matrix need not be positive definite (lavaan)
    return s


def check_conditional(family: DWLS, pt) -> None:
    """What lavaan's conditional.x needs here: fixed.x. With pairwise deletion the rows with
    a missing covariate are dropped and reported (lavaan: "cases were deleted due to missing values in exogenous
    variable(s)")."""
    x = family.x_names[0]
    if not bool(getattr(pt, "fixed_x", True)):
        raise OptionError(f"fixed_x=False with ordered items and the covariate {x!r}: lavaan's conditional.x "
                          "needs fixed.x = TRUE")
    if family.missing == "pairwise":
        family.drop_reason = DROP_EXO


def conditional_samples(family: DWLS, blocks: list[np.ndarray], levels: list | None = None) -> list[GroupSample]:
    """The first stage given the covariates per group
    (:func:`asymtrust.engine.ordinal_cx.conditional_stage`; ``levels``: the categories of all
    groups) as a :class:`GroupSample`: the statistics of :func:`stage_sample`, and as
    ``cov``/``mean`` over all observed variables the moments they imply with the covariates'
    sample moments (divisor n - 1, as lavaan's fixed-x rows): start values and the fixed-x rows."""
    ov = family.ov
    xs = set(family.x_names)
    y = np.array([i for i, v in enumerate(ov) if v not in xs], int)
    x = np.array([ov.index(v) for v in family.x_names], int)
    out = []
    for g, X in enumerate(blocks):
        if X.shape[0] < 2:
            raise InsufficientDataError("fewer than two rows with every covariate observed"
                                        + (f" in group {g + 1}" if len(blocks) > 1 else ""))
        fs = conditional_stage(X[:, y], X[:, x], [ov[i] for i in y], family.numeric, family.x_names,
                               levels=None if levels is None else [levels[i] for i in y],
                               where=f" in group {g + 1}" if len(blocks) > 1 else "")
        s = stage_sample(fs)
        Sxx, mx = np.atleast_2d(np.cov(X[:, x], rowvar=False)), X[:, x].mean(axis=0)
        PI = fs.slopes
        res = fs.cov if fs.cov is not None else fs.cor
        p = len(ov)
        cov, mean = np.zeros((p, p)), np.zeros(p)
        cov[np.ix_(y, y)] = PI @ Sxx @ PI.T + res
        cov[np.ix_(y, x)] = PI @ Sxx
        cov[np.ix_(x, y)] = (PI @ Sxx).T
        cov[np.ix_(x, x)] = Sxx
        mean[y] = s.mean  # continuous variables: intercept + PI mean_x; ordered items 0
        if fs.numeric is not None:
            mean[y[fs.numeric]] += (PI @ mx)[fs.numeric]
        mean[x] = mx
        s.cov, s.mean, s.res_cov = cov, mean, res
        out.append(s)
    return out


def categorical_measures(family: DWLS, sol: Solution, base: Baseline, chisq: float) -> dict[str, float]:
    """lavaan 0.6-14's fitMeasures for a categorical fit (see the module docstring)."""
    nan = float("nan")
    ndat = sum(len(s.wls_obs) for s in sol.samples)
    df = float(ndat - sol.comp.npar)
    N, G = sol.N, sol.G
    out = {"df": df, "pvalue": ix.chisq_pvalue(chisq, df), "baseline_chisq": base.chisq, "baseline_df": base.df,
           "baseline_pvalue": ix.chisq_pvalue(base.chisq, base.df)}
    out.update(incremental(chisq, df, base.chisq, base.df))
    out.update(rmsea_family(chisq, df, N - G, G))
    out.update(residual_indices(sol.samples, sol.imp, sol.obj, sol.theta))
    out.update(ix.misc_indices(chisq, df, N - G, sol.comp.npar))
    out.update(gfi_family(sol.obj, sol.theta, sol.imp, df))
    out["wrmr"] = float(np.sqrt(chisq / len(sol.samples[0].wls_obs)))  # lavaan: the first group's statistics
    for k in ("aic", "bic", "bic2", "ecvi", "logl", "unrestricted_logl", "srmr_mplus", "srmr_mplus_nomean"):
        out[k] = nan
    if not family.has_pvalue:  # ULS: the unscaled statistic has no known reference distribution
        out["pvalue"] = out["baseline_pvalue"] = nan
    if family.test == "standard":
        return out
    tr1, tr2 = ugamma_traces(sol.obj, sol.imp, sol.rep)
    sc = scaled_tests(family.test, chisq, df, tr1, tr2)
    sc.pop("shift", None)
    out.update(sc)
    b1, b2 = baseline_traces(sol)
    bs = scaled_tests(family.test, base.chisq, base.df, b1, b2)
    out.update({"baseline_chisq_scaled": bs["chisq_scaled"], "baseline_df_scaled": bs["df_scaled"],
                "baseline_pvalue_scaled": bs["pvalue_scaled"],
                "baseline_chisq_scaling_factor": bs["chisq_scaling_factor"]})
    out.update(incremental(sc["chisq_scaled"], df, bs["chisq_scaled"], base.df, "_scaled"))
    if family.test == "scaled.shifted":
        xx2, df2 = sc["chisq_scaled"], df
    else:
        xx2, df2 = chisq, tr1
    rs = rmsea_family(xx2, df2, N - G, G)
    out.update({k + "_scaled": v for k, v in rs.items()})
    out.update(catml_indices(sol, df, base.df))
    return out


_ROBUST_KEYS = ["cfi_robust", "tli_robust", "nnfi_robust", "rni_robust", "rmsea_robust", "rmsea_ci_lower_robust",
                "rmsea_ci_upper_robust", "rmsea_pvalue_robust", "rmsea_notclose_pvalue_robust"]


def catml_indices(sol: Solution, df: float, df0: float) -> dict[str, float]:
    """lavaan 0.6-14's robust CFI/TLI/RNI/RMSEA for a categorical fit
    (``lav_fit_catml_dwls``, Savalei 2021): the ML discrepancy of the polychoric matrix
    R from the implied correlation matrix at the DWLS estimates, XX3 = sum_g N_g
    F_ML with N_g (baseline: F0 = -log|R|), with the correction
    c = tr(WiU' V WiU Gamma_c) / df, WiU = I - Delta_c E^-1 Delta_c' W_c (correlation
    rows only, groups stacked with weights N_g/N), V the normal-theory weight of the
    correlations at the implied matrix, V_(ij),(kl) = A_ik A_jl + A_il A_jk with
    A = Sigma^-1; for the baseline c0 = tr(Gamma_c) / df0. NA (as lavaan) when a
    polychoric matrix is not positive definite or a constraint involves thresholds."""
    from scipy.linalg import block_diag

    from .. import robust as rb
    from ..vcov import constrained_inverse

    if any(getattr(s.first, "numeric", None) is not None and s.first.numeric.any() for s in sol.samples):
        return dict.fromkeys(_ROBUST_KEYS, float("nan"))  # lavaan: cat-ML needs every variable ordered
    if sol.samples[0].first.slopes is not None:
        return dict.fromkeys(_ROBUST_KEYS, float("nan"))  # lavaan: no cat-ML with conditional.x
    tab = sol.pt.table
    dropped = set(tab.loc[tab["op"].isin(["|", "~1"]), "plabel"]) | set(tab.loc[tab["op"].isin(["|", "~1"]), "label"])
    eq = tab[tab["op"] == "=="]
    if len(eq) and (eq["lhs"].isin(dropped - {""}).any() or eq["rhs"].isin(dropped - {""}).any()):
        # lavaan's cat-ML table drops the threshold and intercept rows; a constraint on them
        # makes that fit fail, and lavaan reports the robust indices as NA
        return dict.fromkeys(_ROBUST_KEYS, float("nan"))
    obj = sol.obj
    f = [s.nobs / obj.N for s in sol.samples]
    xx3 = xx0 = 0.0
    Vs, Ws, Gs, Ds = [], [], [], []
    Dfull = obj.jacobians(sol.imp)
    for g, s in enumerate(sol.samples):
        R, Sig = s.cov, sol.imp[g].sigma
        d = 1.0 / np.sqrt(np.diag(Sig))
        Sig = d[:, None] * Sig * d[None, :]  # the implied correlation matrix (theta: rescaled)
        if np.linalg.eigvalsh(R).min() < np.sqrt(np.finfo(float).eps):
            return dict.fromkeys(_ROBUST_KEYS, float("nan"))  # lavaan: NA for a non-positive-definite R
        A = np.linalg.inv(Sig)
        ldR = np.linalg.slogdet(R)[1]
        xx3 += s.nobs * (np.linalg.slogdet(Sig)[1] - ldR + np.sum(R * A) - len(R))
        xx0 += s.nobs * (-ldR)
        i, j = obj.r, obj.cc
        V = A[i][:, i] * A[j][:, j] + A[i][:, j] * A[j][:, i]
        nth = len(s.th)
        Vs.append(f[g] * V)
        Ws.append(f[g] * obj.W[g][nth:, nth:])
        Gs.append(s.nacov[nth:, nth:] / f[g])
        Ds.append(Dfull[g][nth:])
    V, W, Gam, D = block_diag(*Vs), block_diag(*Ws), block_diag(*Gs), np.vstack(Ds)
    Einv, ok = constrained_inverse(obj.expected_information(sol.imp), sol.rep)
    if not ok:
        return dict.fromkeys(_ROBUST_KEYS, float("nan"))
    WiU = np.eye(len(W)) - D @ Einv @ D.T @ W
    c3 = float(np.sum((WiU.T @ V @ WiU) * Gam.T)) / df if df > 0 else 1.0  # df = 0: c3 multiplies 0
    c0 = float(np.trace(Gam)) / df0
    return rb.robust_block(xx3, df, xx0, df0, c3, c0, sol.N - sol.G, sol.G)


def baseline_traces(sol: Solution) -> tuple[float, float]:
    """tr(U0 Gamma) and tr((U0 Gamma)^2) of the baseline model (thresholds only)."""
    from scipy.linalg import block_diag

    obj = sol.obj
    if all(d is not None for d in obj.Wd):  # diagonal weights: U0 = W on the correlations, 0 on the thresholds
        t1 = t2 = 0.0
        for g, s in enumerate(sol.samples):
            nth = len(s.wls_obs) - len(s.cor_vec)
            w = np.sqrt(obj.Wd[g][nth:])
            M = w[:, None] * s.nacov[nth:, nth:] * w[None, :]
            t1 += float(np.trace(M))
            t2 += float(np.sum(M * M))
        return t1, t2
    f = [s.nobs / obj.N for s in sol.samples]
    W = block_diag(*[fg * Wg for fg, Wg in zip(f, obj.W)])
    Gam = block_diag(*[s.nacov / fg for fg, s in zip(f, sol.samples)])
    cols = []
    off = 0
    for s in sol.samples:
        k0 = len(s.wls_obs) - len(s.cor_vec)
        D = np.zeros((len(s.wls_obs), k0))
        D[np.arange(k0), np.arange(k0)] = 1.0
        cols.append(D)
        off += k0
    D = block_diag(*cols)
    WD = W @ D
    U = W - WD @ np.linalg.solve(D.T @ W @ D, WD.T)
    UG = U @ Gam
    return float(np.trace(UG)), float(np.sum(UG * UG.T))


class WLSCat(DWLS):
    """Weighted least squares with the full weight Gamma^-1 (lavaan's ``WLS`` on ordered items)."""

    name = "WLSCat"
    estimator = "WLS"
    weight_kind = "full"

    def weight(self, s: GroupSample) -> np.ndarray:
        W = np.linalg.inv(s.nacov)
        return (W + W.T) / 2.0


class ULSCat(DWLS):
    """Unweighted least squares on thresholds and correlations (``ULS``; ``ULSMV`` robust)."""

    name = "ULSCat"
    estimator = "ULS"
    weight_kind = "identity"
    has_pvalue = False

    def weight(self, s: GroupSample) -> np.ndarray:
        return np.eye(len(s.wls_obs))


#: ``estimator=`` for ordered items -> (family, robust SEs, test)
ORDINAL_ESTIMATORS = {
    "DWLS": (DWLS, False, "standard"), "WLSMV": (DWLS, True, "scaled.shifted"),
    "WLSM": (DWLS, True, "satorra.bentler"), "WLS": (WLSCat, False, "standard"),
    "ULS": (ULSCat, False, "standard"), "ULSMV": (ULSCat, True, "scaled.shifted"),
}


def choose_ordinal(estimator: str | None, missing: str, ordered, parameterization: str = "delta") -> DWLS:
    """The family for ordered items (lavaan's default: WLSMV)."""
    est = "WLSMV" if estimator is None else str(estimator).upper()
    if est not in ORDINAL_ESTIMATORS:
        raise OptionError(f"estimator {est} is not available for ordered items; use one of "
                          f"{', '.join(ORDINAL_ESTIMATORS)}")
    miss = str(missing).lower()
    if miss not in ("listwise", "default", "pairwise", "available.cases"):
        raise OptionError(f"missing={missing!r} is not available for ordered items: use 'listwise' or 'pairwise' "
                          "(as lavaan for the least-squares estimators)")
    cls, robust, test = ORDINAL_ESTIMATORS[est]
    fam = cls(robust=robust, test=test, ordered=ordered, parameterization=parameterization)
    if miss in ("pairwise", "available.cases"):
        fam.missing = "pairwise"
    return fam
