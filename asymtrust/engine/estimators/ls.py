"""Least-squares estimators for continuous data: GLS, WLS (ADF) and ULS (lavaan's
``estimator="GLS"``, ``"WLS"``, ``"ULS"``, complete data, listwise deletion).

All three minimise a quadratic form in the residual moments of each group,

    F_g = (s_g - sigma_g(theta))' W_g (s_g - sigma_g(theta)),

with s_g = (ybar, vech S) (means only with a mean structure; S with divisor N - 1, as
lavaan's least-squares fits use) and

* GLS: W = the normal-theory weight at the sample moments,
  1/2 D'(S^-1 (x) S^-1) D (+ S^-1 for the means), i.e. F = 1/2 tr[(S^-1 (S - Sigma))^2]
  + (ybar - mu)' S^-1 (ybar - mu);
* WLS: W = Gamma^-1, Gamma the asymptotic (ADF) covariance of s from the fourth-order
  moments, (1/N) sum_i (d_i - dbar)(d_i - dbar)', d_i = (y_i, vech (y_i - ybar)(y_i - ybar)');
* ULS: W = I.

lavaan's conventions (0.6-14, ``lav_model_objective``, ``lav_model_test``,
``lav_model_vcov``): the objective is fx = sum_g (N_g / N) 1/2 (N_g - 1)/N_g F_g, so the
test statistic 2 N fx is sum_g (N_g - 1) F_g; the standard errors come from the expected
information sum_g (N_g / N) Delta_g' W_g Delta_g, inverted and divided by N - G (not N);
the baseline is the independence model fitted with the same estimator; there is no
likelihood (logl, AIC, BIC are NA). ULS's test has no known reference distribution:
its p-value and the baseline's are NA, as lavaan reports them. The RMSEA family, MFI,
ECVI and Hoelter's N use N - G cases, GFI/AGFI/PGFI the estimator's weight matrix
(lavaan's ``lav_utils_get_ntotal``, ``lav_fit_gfi``).

lavaan's ``fixed.x`` default is FALSE for these estimators (``default_fixed_x``).
Not yet: robust SEs and scaled tests (``se="robust"`` is refused), WLS with fixed-x
covariates (lavaan then builds Gamma from regression residuals; refused), missing data
other than listwise deletion.
"""
from __future__ import annotations

import numpy as np

from ...exceptions import InsufficientDataError, OptionError
from ..indices import gfi_weighted
from ..model import Implied, RamModel
from ..samplestats import GroupSample, complete_sample
from .base import Baseline, Solution, ntotal_indices, rmsea_family  # noqa: F401 - rmsea_family re-exported
from ..robust import vech_index
from .ml import ML


# ----------------------------------------------------------------------------- helpers
def duplication(p: int) -> np.ndarray:
    """The duplication matrix D (p^2 x p*): vec A = D vech A for a symmetric A."""
    rows, cols = vech_index(p)
    D = np.zeros((p * p, len(rows)))
    for k, (i, j) in enumerate(zip(rows, cols)):
        D[i * p + j, k] = 1.0
        D[j * p + i, k] = 1.0
    return D


def sample_vector(s: GroupSample, meanstructure: bool) -> np.ndarray:
    rows, cols = vech_index(len(s.cov))
    v = s.cov[rows, cols]
    return np.concatenate((s.mean, v)) if meanstructure else v


def gls_weight(S: np.ndarray, meanstructure: bool) -> np.ndarray:
    """Normal-theory weight 1/2 D'(S^-1 (x) S^-1) D (+ S^-1 for the means)."""
    A = np.linalg.inv(S)
    return normal_weight((A + A.T) / 2.0, meanstructure)


def normal_weight(A: np.ndarray, meanstructure: bool) -> np.ndarray:
    """:func:`gls_weight` from A = S^-1 (A may be a missingness pattern's inverse embedded
    with zeros): 1/2 D'(A (x) A) D in closed form, entry (ij, kl) =
    m_ij m_kl (A_ik A_jl + A_il A_jk) / 2 with m = 1 on the diagonal and 1/2 off it
    (vech order), and A for the means first when ``meanstructure``."""
    p = len(A)
    r, c = vech_index(p)
    m = np.where(r == c, 1.0, 2.0) / 2.0
    W = (A[np.ix_(r, r)] * A[np.ix_(c, c)] + A[np.ix_(r, c)] * A[np.ix_(c, r)]) * m[:, None] * m[None, :]
    if not meanstructure:
        return W
    out = np.zeros((p + len(r), p + len(r)))
    out[:p, :p] = A
    out[p:, p:] = W
    return out


def adf_gamma(X: np.ndarray, meanstructure: bool) -> np.ndarray:
    """The ADF (fourth-order moment) covariance of the sample moments, divisor N (lavaan's
    ``Gamma``, ``Gamma.n.minus.one = FALSE``)."""
    Xc = X - X.mean(axis=0)
    rows, cols = vech_index(X.shape[1])
    Z = Xc[:, rows] * Xc[:, cols]
    if meanstructure:
        Z = np.hstack((Xc, Z))
    Z = Z - Z.mean(axis=0)
    G = Z.T @ Z / X.shape[0]
    return (G + G.T) / 2.0


def unbiased(s: GroupSample) -> GroupSample:
    """The sample with its covariance matrix on divisor N - 1: lavaan fits the
    least-squares estimators to the unbiased covariance matrix (ML to divisor N)."""
    n = s.nobs
    if n > 1:
        s.cov = s.cov * (n / (n - 1.0))
    return s


# ----------------------------------------------------------------------------- objective
class LSObjective:
    """fx = sum_g 1/2 (N_g - 1)/N (s_g - sigma_g)' W_g (s_g - sigma_g)."""

    def __init__(self, model: RamModel, samples: list[GroupSample], weights: list[np.ndarray]):
        self.model = model
        self.samples = samples
        self.N = sum(s.nobs for s in samples)
        self.meanstructure = model.meanstructure
        self.W = weights
        self.obs = [sample_vector(s, self.meanstructure) for s in samples]
        self.c = [0.5 * (s.nobs - 1.0) / self.N for s in samples]  # lavaan's 1/2 (N_g-1)/N_g x N_g/N
        self._vech = [vech_index(len(s.cov)) for s in samples]

    def _implied_vector(self, g: int, imp: Implied) -> np.ndarray:
        rows, cols = self._vech[g]
        v = imp.sigma[rows, cols]
        return np.concatenate((imp.mu, v)) if self.meanstructure else v

    def group_values(self, imp: list[Implied]) -> list[float]:
        """F_g per group (without the constants)."""
        out = []
        for g in range(len(self.samples)):
            r = self.obs[g] - self._implied_vector(g, imp[g])
            out.append(float(r @ self.W[g] @ r))
        return out

    def evaluate(self, theta: np.ndarray, need_grad: bool = True):
        imp = self.model.implied(theta)
        total = 0.0
        Ws, gmus = [], []
        for g, s in enumerate(self.samples):
            r = self.obs[g] - self._implied_vector(g, imp[g])
            Wr = self.W[g] @ r
            total += self.c[g] * float(r @ Wr)
            if not need_grad:
                continue
            gvec = -2.0 * self.c[g] * Wr  # d fx / d (mu, vech Sigma)
            p = len(s.cov)
            gm = None
            if self.meanstructure:
                gm, gvec = gvec[:p], gvec[p:]
            rows, cols = self._vech[g]
            M = np.zeros((p, p))
            half = np.where(rows == cols, 1.0, 0.5) * gvec
            M[rows, cols] = half
            M[cols, rows] = half  # df = tr(M dSigma): an off-diagonal element counts twice
            Ws.append(M)
            gmus.append(gm)
        if not np.isfinite(total):
            return np.inf, None, imp
        grad = self.model.gradient(imp, Ws, gmus) if need_grad else None
        return total, grad, imp

    def jacobians(self, imp: list[Implied]) -> list[np.ndarray]:
        """Delta_g: d (mu, vech Sigma) / d theta' per group (rows: moments)."""
        out = []
        for g, (dS, dm) in enumerate(self.model.delta(imp)):
            rows, cols = self._vech[g]
            Dg = dS[:, rows, cols].T
            if self.meanstructure:
                Dg = np.vstack((dm.T, Dg))
            out.append(Dg)
        return out

    def _weighted(self, imp: list[Implied], factors: list[float]) -> np.ndarray:
        K = self.model.n_free
        info = np.zeros((K, K))
        for g, Dg in enumerate(self.jacobians(imp)):
            info += factors[g] * (Dg.T @ self.W[g] @ Dg)
        return (info + info.T) / 2.0

    def scoring_information(self, imp: list[Implied]) -> np.ndarray:
        """Gauss-Newton metric: the Hessian of fx without the second-order term."""
        return self._weighted(imp, [2.0 * c for c in self.c])

    def expected_information(self, imp: list[Implied]) -> np.ndarray:
        """lavaan's expected information: sum_g (N_g / N) Delta_g' W_g Delta_g."""
        return self._weighted(imp, [s.nobs / self.N for s in self.samples])

    def observed_information(self, theta: np.ndarray, imp: list[Implied] | None = None, h: float = 1e-6) -> np.ndarray:
        """The Hessian of fx (central differences of the analytic gradient), as lavaan's
        observed information (GLS; lavaan uses the expected information for WLS and ULS)."""
        K = self.model.n_free
        H = np.zeros((K, K))
        for k in range(K):
            e = np.zeros(K)
            e[k] = h
            H[:, k] = (self.evaluate(theta + e)[1] - self.evaluate(theta - e)[1]) / (2.0 * h)
        return (H + H.T) / 2.0


# ----------------------------------------------------------------------------- indices
def gfi_family(obj: LSObjective, imp: list[Implied], df: float) -> dict[str, float]:
    """GFI = 1 - r'Wr / s'Ws per group (weights N_g/N), AGFI and PGFI with the number of
    sample moments (lavaan's ``lav_fit_gfi`` on WLS.obs, WLS.est and WLS.V)."""
    return gfi_weighted(((s.nobs, obj.obs[g], obj.obs[g] - obj._implied_vector(g, imp[g]), obj.W[g])
                         for g, s in enumerate(obj.samples)), obj.N, df)


# ----------------------------------------------------------------------------- families
class LeastSquares(ML):
    """Common part of GLS, WLS and ULS; subclasses define :meth:`weight`."""

    name = "LS"
    estimator = "LS"
    supports_moments = True
    #: lavaan fits these estimators to the unbiased covariance matrix: from data it is
    #: computed with divisor N - 1, and a ``sample_cov`` is taken as given (not rescaled)
    likelihood = "wishart"
    #: lavaan's fixed.x default is FALSE for every estimator but ML: covariates' (co)variances are free
    default_fixed_x = False
    #: whether ``information="observed"`` is honoured (lavaan: GLS only; for WLS and ULS
    #: lavaan sets it to "expected", with a warning)
    honours_observed = True
    #: whether the test statistic has a chi-square reference distribution
    has_pvalue = True

    def __init__(self, robust: bool = False):
        if robust:
            raise OptionError(f"estimator {self.estimator} has no robust variant yet")
        super().__init__(robust=False)

    def weight(self, s: GroupSample, meanstructure: bool) -> np.ndarray:
        raise NotImplementedError

    def sample_stats(self, blocks: list[np.ndarray]) -> list[GroupSample]:
        out = []
        for X in blocks:
            if X.shape[0] == 0:
                raise InsufficientDataError("no complete cases: every row has a missing value on a model variable")
            out.append(unbiased(complete_sample(X)))
        return out

    def _weights(self, samples: list[GroupSample], meanstructure: bool) -> list[np.ndarray]:
        out = []
        for s in samples:
            key = (self.name, bool(meanstructure))
            cache = s.__dict__.setdefault("_ls_weights", {})
            if key not in cache or cache[key][0] is not s.cov:
                cache[key] = (s.cov, self.weight(s, bool(meanstructure)))
            out.append(cache[key][1])
        return out

    def objective(self, model, samples: list[GroupSample]) -> LSObjective:
        return LSObjective(model, samples, self._weights(samples, model.meanstructure))

    def information(self, obj, theta, imp, kind: str) -> np.ndarray:
        """lavaan divides the inverted information by N - G (not N): the information
        returned here carries (N - G)/N so that ``vcov = A^-1 / N`` is lavaan's."""
        if kind == "observed" and self.honours_observed:
            A = obj.observed_information(theta, imp)
        else:
            A = obj.expected_information(imp)
        return A * ((obj.N - len(obj.samples)) / obj.N)

    def scores(self, obj, imp, delta):
        raise OptionError(f"robust standard errors are not available for estimator {self.estimator} yet")

    def baseline(self, sol: Solution) -> Baseline:
        return self._fitted_baseline(sol)

    def loglik(self, sol: Solution) -> tuple[float, float]:
        return float("nan"), float("nan")  # no likelihood: logl, AIC and BIC are NA, as in lavaan

    def robust_indices(self, sol: Solution, base: Baseline, chisq: float) -> dict[str, float]:
        """The indices lavaan computes differently for these estimators: the RMSEA
        family, MFI, ECVI and Hoelter's N with N - G cases, the GFI family with the
        estimator's weight matrix and, for ULS, no p-values."""
        out = ntotal_indices(chisq, float(sol.df), sol.N - sol.G, sol.G, sol.comp.npar)
        out.update(gfi_family(sol.obj, sol.imp, float(sol.df)))
        if not self.has_pvalue:
            nan = float("nan")  # ULS: the reference distribution is unknown
            out.update({"pvalue": nan, "baseline_pvalue": nan})
        return out


class GLS(LeastSquares):
    """Generalised least squares: the normal-theory weight at the sample moments."""

    name = estimator = "GLS"

    def weight(self, s: GroupSample, meanstructure: bool) -> np.ndarray:
        return gls_weight(s.cov, meanstructure)


class WLS(LeastSquares):
    """Weighted least squares with the ADF weight (Browne 1984): needs the raw rows."""

    name = estimator = "WLS"
    supports_moments = False
    honours_observed = False

    def sample_from_moments(self, cov, mean, nobs):
        raise OptionError("estimator WLS needs the raw data (its weight matrix uses fourth-order moments), "
                          "not sample_cov")

    def start(self, comp, samples: list[GroupSample]) -> np.ndarray:
        if comp.x_idx:
            # lavaan then builds Gamma from the residuals of the regressions on the covariates
            raise OptionError("estimator WLS with fixed_x=True and covariates is not supported yet; "
                              "fixed_x=False (lavaan's default for WLS) is")
        return super().start(comp, samples)

    def weight(self, s: GroupSample, meanstructure: bool) -> np.ndarray:
        if s.X is None:
            raise OptionError("estimator WLS needs the raw data")
        G = adf_gamma(s.X, meanstructure)
        try:
            W = np.linalg.inv(G)
        except np.linalg.LinAlgError:
            raise OptionError("estimator WLS: the ADF weight matrix (Gamma) is singular; "
                              "more cases than sample moments are needed") from None
        return (W + W.T) / 2.0


class ULS(LeastSquares):
    """Unweighted least squares."""

    name = estimator = "ULS"
    has_pvalue = False
    honours_observed = False

    def weight(self, s: GroupSample, meanstructure: bool) -> np.ndarray:
        p = len(s.cov)
        return np.eye(p * (p + 1) // 2 + (p if meanstructure else 0))
