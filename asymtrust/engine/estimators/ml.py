"""Maximum likelihood on complete data (lavaan's ``estimator="ML"``, ``missing="listwise"``).

* rows: listwise deletion (every incomplete row is dropped);
* sample statistics: covariance (divisor N) and means per group, the rows kept for the
  case-wise scores;
* objective: lavaan's ``fmin``, sum_g (N_g / 2N) [log|Sigma| - log|S| + tr(S Sigma^-1) - p
  (+ (ybar - mu)' Sigma^-1 (ybar - mu))] (:class:`~asymtrust.engine.estimate.Objective`);
* test: 2 N fmin; baseline: the independence model in closed form (estimated when a
  robust test needs its information);
* ``robust`` (MLR): Huber-White SEs, the Yuan-Bentler (Mplus) scaled test and the
  robust CFI/TLI/RMSEA of Brosseau-Liard, Savalei & Li.
"""
from __future__ import annotations

import numpy as np

from ...exceptions import InsufficientDataError, OptionError
from .. import robust as rb
from ..compile import baseline_model
from ..data import DROP_LISTWISE
from ..estimate import Objective, linear_reparam, optimise
from ..model import RamModel
from ..samplestats import LOG2PI, GroupSample, complete_sample, pattern_loglik
from ..vcov import casewise_scores
from .base import Baseline, EstimatorFamily, Solution, ntotal_indices


class ML(EstimatorFamily):
    """Normal-theory maximum likelihood, complete data."""

    name = "ML"
    estimator = "ML"
    missing = "listwise"
    drop_reason = DROP_LISTWISE
    supports_moments = True
    #: whether the likelihood and the saturated model carry the means without a
    #: meanstructure (complete data: no, the mean residuals are zero)
    always_means = False

    def with_likelihood(self, likelihood) -> EstimatorFamily:
        """``likelihood="wishart"``: :class:`MLWishart` (complete data, ML without robust
        corrections, as lavaan computes it)."""
        if str(likelihood).lower() == "wishart" and type(self) is ML and not self.robust:
            return MLWishart()
        return super().with_likelihood(likelihood)

    # ------------------------------------------------------------------ data, samplestats
    def keep_rows(self, nan: np.ndarray, xpos: list[int]) -> np.ndarray:
        return ~nan.any(axis=1)

    def sample_stats(self, blocks: list[np.ndarray]) -> list[GroupSample]:
        out = []
        for X in blocks:
            if X.shape[0] == 0:
                raise InsufficientDataError("no complete cases: every row has a missing value on a model "
                                            "variable (use missing='fiml')")
            out.append(complete_sample(X))
        return out

    def sample_from_moments(self, cov: np.ndarray, mean: np.ndarray, nobs: int) -> GroupSample:
        p = len(cov)
        s = GroupSample(nobs=nobs, cov=(cov + cov.T) / 2.0, mean=mean, X=None, missing=False)
        sign, ld = np.linalg.slogdet(s.cov)
        s.logl_h1 = -nobs / 2.0 * (p * LOG2PI + ld + p) if sign > 0 else float("nan")
        return s

    # ------------------------------------------------------------------ objective, scores
    def objective(self, model, samples: list[GroupSample]) -> Objective:
        return Objective(model, samples, fiml=False)

    def scores(self, obj: Objective, imp: list, delta: list) -> list[np.ndarray]:
        return casewise_scores(obj, imp, delta)

    # ------------------------------------------------------------------ tests
    def baseline(self, sol: Solution) -> Baseline:
        """Complete-data ML: the independence model has a closed form,
        Sigma0 = diag(S_yy) (+) S_xx, so F0 = log|Sigma0| - log|S| per group. A robust
        test needs the model's information and scores, so it is estimated then."""
        if self.robust:
            return self._fitted_baseline(sol)
        x_idx = sol.comp.x_idx
        ov = list(sol.pt.ov_names)
        # the covariates' block is saturated: fixed (fixed.x, its moments left out of ndat) or,
        # with fixed.x = FALSE, free (lavaan keeps their covariances in the independence model)
        xs = list(x_idx) or [ov.index(v) for v in getattr(sol.pt, "ov_x", []) if v in ov]
        chisq0 = 0.0
        for s in sol.samples:
            d = np.diag(s.cov).copy()
            ld0 = np.sum(np.log(np.delete(d, xs))) if xs else np.sum(np.log(d))
            if xs:
                ld0 += np.linalg.slogdet(s.cov[np.ix_(xs, xs)])[1]
            chisq0 += s.nobs * (ld0 - s.logdet_cov)
        ms = bool(sol.pt.meanstructure)
        ny, q = sol.model.p - len(xs), (0 if x_idx else len(xs))
        n_base = sol.G * (ny + (ny if ms else 0) + q * (q + 1) // 2 + (q if ms else 0))
        return Baseline(chisq0, float(sol.comp.ndat - sol.comp.nexo - n_base))

    def _fitted_baseline(self, sol: Solution) -> Baseline:
        """The independence model estimated with this family's objective."""
        pt, samples = sol.pt, sol.samples
        base_pt, base_model, base_theta = baseline_model(pt, samples)
        base_obj = self.objective(base_model, samples)
        bopt = optimise(base_obj, linear_reparam(base_model.n_free, None, None), base_theta)
        chisq0 = self.test_statistic(bopt.fmin, sol.N)
        df0 = float(sol.comp.ndat - sol.comp.nexo - base_model.n_free)
        return Baseline(chisq0, df0, (base_pt, base_model, base_obj, bopt))

    def loglik(self, sol: Solution) -> tuple[float, float]:
        """Normal log-likelihood of the model and of the saturated model, conditional on
        the fixed-x covariates (their marginal likelihood is subtracted from both)."""
        use_mean = bool(sol.pt.meanstructure) or self.always_means
        ll = ll1 = 0.0
        for g, s in enumerate(sol.samples):
            imp = sol.imp[g]
            sigma, mu = imp.sigma, imp.mu
            if s.missing:
                ll += pattern_loglik(s.batches, sigma, mu)
                ll1 += s.logl_h1
                continue
            p = len(sigma)
            if imp.sigma_inv is not None and imp.logdet is not None:  # from the ML objective
                Sinv, ld = imp.sigma_inv, imp.logdet
            else:
                Sinv, ld = np.linalg.inv(sigma), np.linalg.slogdet(sigma)[1]
            d = (s.mean - mu) if use_mean else np.zeros(p)
            ll += -s.nobs / 2.0 * (p * LOG2PI + ld + np.sum(Sinv * s.cov) + d @ Sinv @ d)
            ll1 += -s.nobs / 2.0 * (p * LOG2PI + sol.obj._logdetS[g] + p)
        ll, ll1 = float(ll), float(ll1)
        x_idx = sol.comp.x_idx
        q = len(x_idx)
        if q:
            for s in sol.samples:
                Sxx = s.cov[np.ix_(x_idx, x_idx)]
                lx = -s.nobs / 2.0 * (q * LOG2PI + np.linalg.slogdet(Sxx)[1] + q)
                ll -= lx
                ll1 -= lx
        return ll, ll1

    def robust_indices(self, sol: Solution, base: Baseline, chisq: float) -> dict[str, float]:
        """MLR: the Yuan-Bentler scaled test, then the robust CFI/TLI/RMSEA."""
        if not self.robust:
            return {}
        out, c, c0 = rb.yuan_bentler(sol, base, chisq, self._h1(sol))
        out.update(rb.robust_block(chisq, sol.df, base.chisq, base.df, c, c0, sol.N, sol.G))
        return out

    def _h1(self, sol: Solution) -> tuple[float, list]:
        return rb.h1_pieces(sol.samples, bool(sol.pt.meanstructure) or self.always_means)


class MLWishart(ML):
    """ML with lavaan's ``likelihood="wishart"``: the discrepancy is ML's, at the unbiased
    covariance matrix (divisor N - 1; a ``sample_cov`` is taken as given), and N - 1
    replaces N in the test statistic ((N - 1) F_ML, baseline likewise), in the covariance
    of the estimates (information^-1 / (N - 1)) and in the RMSEA family, MFI, ECVI and
    Hoelter's N (lavaan 0.6-14: ``lav_model_test``, ``lav_model_vcov``,
    ``lav_utils_get_ntotal``). One group only: lavaan's multi-group statistic weights the
    groups by N_g - 1, which is not a function of the pooled minimum."""

    name = "MLWishart"
    likelihood = "wishart"

    def with_likelihood(self, likelihood) -> EstimatorFamily:
        return EstimatorFamily.with_likelihood(self, likelihood)

    def sample_stats(self, blocks: list[np.ndarray]) -> list[GroupSample]:
        out = super().sample_stats(blocks)
        for s in out:
            n = s.nobs
            s.cov = s.cov * (n / (n - 1.0))
            p = len(s.cov)
            s.logl_h1 = -n / 2.0 * (p * LOG2PI + s.logdet_cov + p)
        return out

    def for_samples(self, samples: list[GroupSample]) -> EstimatorFamily:
        if len(samples) > 1:
            raise OptionError("likelihood='wishart' is available for single-group models only")
        return self

    def test_statistic(self, fmin: float, N: int) -> float:
        return 2.0 * (N - 1) * fmin

    def information(self, obj, theta, imp, kind: str) -> np.ndarray:
        return super().information(obj, theta, imp, kind) * ((obj.N - len(obj.samples)) / obj.N)

    def baseline(self, sol: Solution) -> Baseline:
        base = super().baseline(sol)
        return Baseline(base.chisq * (sol.N - 1) / sol.N, base.df, base.fitted)

    def robust_indices(self, sol: Solution, base: Baseline, chisq: float) -> dict[str, float]:

        return ntotal_indices(chisq, float(sol.df), sol.N - sol.G, sol.G, sol.comp.npar)
