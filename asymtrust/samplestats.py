"""Sample statistics per group (pipeline step: data -> samplestats).

Everything the estimator needs from the data is computed here, once:

* complete data (``missing="listwise"``): N, the covariance with divisor N and the means;
* incomplete data (``missing="fiml"``): the missing-data patterns with their counts,
  means and covariances (divisor n), plus the saturated (H1) estimates by EM.

The raw rows are kept (by pattern) only because robust (MLR) standard errors need
case-wise scores; a model fit itself works on the moments alone, which is what lets
a million-row file fit in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LOG2PI = np.log(2.0 * np.pi)


@dataclass
class Pattern:
    """One missing-data pattern of one group."""

    obs: np.ndarray  # indices of the observed variables
    n: int
    mean: np.ndarray  # mean of the observed variables (divisor n)
    cov: np.ndarray  # covariance of the observed variables (divisor n)
    X: np.ndarray  # the rows, observed columns only (n x len(obs))


@dataclass
class PatternBatch:
    """Missing-data patterns with the same number of observed variables, stacked so
    that the FIML likelihood is evaluated with batched linear algebra."""

    obs: np.ndarray  # (b, q) observed-variable indices
    n: np.ndarray  # (b,)
    mean: np.ndarray  # (b, q)
    cov: np.ndarray  # (b, q, q)
    flat: np.ndarray  # (b, q, q) flat index into a p x p matrix (for scatter-adds)


def batch_patterns(patterns: list[Pattern], p: int) -> list[PatternBatch]:
    by_q: dict[int, list[Pattern]] = {}
    for pt in patterns:
        by_q.setdefault(len(pt.obs), []).append(pt)
    out = []
    for q, pts in sorted(by_q.items()):
        obs = np.stack([pt.obs for pt in pts])
        out.append(PatternBatch(
            obs=obs, n=np.array([pt.n for pt in pts], float), mean=np.stack([pt.mean for pt in pts]),
            cov=np.stack([pt.cov for pt in pts]), flat=obs[:, :, None] * p + obs[:, None, :]))
    return out


@dataclass
class GroupSample:
    """Sample moments of one group."""

    nobs: int
    cov: np.ndarray  # divisor N; under FIML the EM estimate
    mean: np.ndarray  # under FIML the EM estimate
    X: np.ndarray | None = None  # complete-data rows (for case-wise scores)
    patterns: list[Pattern] = field(default_factory=list)
    missing: bool = False
    batches: list[PatternBatch] = field(default_factory=list)
    em_iterations: int = 0
    logl_h1: float = float("nan")

    @property
    def available_var(self) -> np.ndarray:
        """lavaan's ``lavsamplestats@var``: the variances in ``cov`` for complete data;
        with missing values the available-case variances (divisor n_i - 1) rescaled by
        (N - 1)/N, which lavaan uses for the residual-variance starting values."""
        if not self.missing:
            return np.diag(self.cov)
        cached = self.__dict__.get("_available_var")
        if cached is None:
            p = len(self.cov)
            n, s1, s2 = np.zeros(p), np.zeros(p), np.zeros(p)
            for pt in self.patterns:
                n[pt.obs] += pt.X.shape[0]
                s1[pt.obs] += pt.X.sum(axis=0)
            mean = s1 / n
            for pt in self.patterns:
                s2[pt.obs] += ((pt.X - mean[pt.obs]) ** 2).sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                cached = s2 / (n - 1.0) * (self.nobs - 1.0) / self.nobs
            self.__dict__["_available_var"] = cached
        return cached

    @property
    def logdet_cov(self) -> float:
        """log|S| (NaN when S is not positive definite); computed once per ``cov`` array."""
        cached = self.__dict__.get("_logdet")
        if cached is not None and cached[0] is self.cov:
            return cached[1]
        sign, ld = np.linalg.slogdet(self.cov)
        value = ld if sign > 0 else float("nan")
        self.__dict__["_logdet"] = (self.cov, value)
        return value


def _moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=0)
    Xc = X - mean
    cov = Xc.T @ Xc / X.shape[0]
    return mean, (cov + cov.T) / 2.0


def complete_sample(X: np.ndarray) -> GroupSample:
    """Sample statistics of a complete-data matrix (rows = cases)."""
    X = np.asarray(X, dtype=float)
    mean, cov = _moments(X)
    n, p = X.shape
    s = GroupSample(nobs=n, cov=cov, mean=mean, X=X, missing=False)
    ld = s.logdet_cov
    s.logl_h1 = -n / 2.0 * (p * LOG2PI + ld + p) if np.isfinite(ld) else float("nan")
    return s


def missing_patterns(X: np.ndarray) -> list[Pattern]:
    """Split the rows of ``X`` (NaN = missing) into missing-data patterns."""
    obs_mask = ~np.isnan(X)
    keys, inverse = np.unique(obs_mask, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    pats = []
    for k, key in enumerate(keys):
        if not key.any():
            continue  # rows with nothing observed carry no information
        rows = X[inverse == k][:, key]
        mean, cov = _moments(rows)
        pats.append(Pattern(obs=np.flatnonzero(key), n=rows.shape[0], mean=mean, cov=cov, X=rows))
    return pats


def pattern_loglik(patterns: list[Pattern], sigma: np.ndarray, mu: np.ndarray) -> float:
    """Normal log-likelihood of incomplete data, evaluated pattern by pattern."""
    ll = 0.0
    for pat in patterns:
        o = pat.obs
        So = sigma[np.ix_(o, o)]
        try:
            L = np.linalg.cholesky(So)
        except np.linalg.LinAlgError:
            return -np.inf
        logdet = 2.0 * np.log(np.diag(L)).sum()
        d = pat.mean - mu[o]
        Sinv = np.linalg.inv(So)
        tr = np.sum(Sinv * (pat.cov + np.outer(d, d)))
        ll += -0.5 * pat.n * (len(o) * LOG2PI + logdet + tr)
    return ll


def em_saturated(patterns: list[Pattern], p: int, *, tol: float = 1e-8, max_iter: int = 5000) -> tuple[np.ndarray, np.ndarray, int]:
    """EM estimates of the saturated mean and covariance under MAR.

    Starts, as lavaan does, at the available-case means and a diagonal covariance of
    available-case variances, and iterates to a tighter tolerance than lavaan's 1e-5
    (a fully converged EM agrees with lavaan's H1 log-likelihood to ~1e-8).
    """
    N = sum(pt.n for pt in patterns)
    s1 = np.zeros(p)
    s2 = np.zeros(p)
    cnt = np.zeros(p)
    for pt in patterns:
        s1[pt.obs] += pt.mean * pt.n
        s2[pt.obs] += (np.diag(pt.cov) + pt.mean**2) * pt.n
        cnt[pt.obs] += pt.n
    mu = s1 / np.maximum(cnt, 1)
    var = s2 / np.maximum(cnt, 1) - mu**2
    sigma = np.diag(np.where(var > 0, var, 1.0))
    it = 0
    for it in range(1, max_iter + 1):
        T1 = np.zeros(p)
        T2 = np.zeros((p, p))
        for pt in patterns:
            o = pt.obs
            m = np.setdiff1d(np.arange(p), o)
            if m.size == 0:
                T1 += pt.n * pt.mean
                T2 += pt.n * (pt.cov + np.outer(pt.mean, pt.mean))
                continue
            Soo = sigma[np.ix_(o, o)]
            Smo = sigma[np.ix_(m, o)]
            Bt = np.linalg.solve(Soo, Smo.T).T  # Sigma_mo Sigma_oo^-1
            # conditional expectations of the missing part, for the pattern mean and cov
            ym_mean = mu[m] + Bt @ (pt.mean - mu[o])
            Cmm = sigma[np.ix_(m, m)] - Bt @ Smo.T
            full_mean = np.empty(p)
            full_mean[o] = pt.mean
            full_mean[m] = ym_mean
            # second moments: E[y y'] summed over the pattern's rows
            M = np.empty((p, p))
            Eoo = pt.cov + np.outer(pt.mean, pt.mean)
            M[np.ix_(o, o)] = Eoo
            Emo = Bt @ (Eoo - np.outer(mu[o], pt.mean)) + np.outer(mu[m], pt.mean)
            M[np.ix_(m, o)] = Emo
            M[np.ix_(o, m)] = Emo.T
            # E[ym ym'] = Cmm + E[E(ym|yo) E(ym|yo)'] averaged over rows
            a = mu[m] - Bt @ mu[o]
            Eyy = (
                np.outer(a, a)
                + Bt @ np.outer(pt.mean, a) + np.outer(a, pt.mean) @ Bt.T
                + Bt @ Eoo @ Bt.T
            )
            M[np.ix_(m, m)] = Cmm + Eyy
            T1 += pt.n * full_mean
            T2 += pt.n * M
        new_mu = T1 / N
        new_sigma = T2 / N - np.outer(new_mu, new_mu)
        new_sigma = (new_sigma + new_sigma.T) / 2.0
        delta = max(np.max(np.abs(new_mu - mu)), np.max(np.abs(new_sigma - sigma)))
        mu, sigma = new_mu, new_sigma
        if delta < tol:
            break
    return mu, sigma, it


def incomplete_sample(X: np.ndarray) -> GroupSample:
    """Sample statistics of a data matrix with missing values (FIML)."""
    X = np.asarray(X, dtype=float)
    keep = ~np.all(np.isnan(X), axis=1)
    X = X[keep]
    p = X.shape[1]
    pats = missing_patterns(X)
    mu, sigma, it = em_saturated(pats, p)
    s = GroupSample(nobs=int(X.shape[0]), cov=sigma, mean=mu, patterns=pats, missing=True, em_iterations=it,
                    batches=batch_patterns(pats, p))
    if len(pats) == 1 and pats[0].obs.size == p:
        s.X = pats[0].X
    s.logl_h1 = pattern_loglik(pats, sigma, mu)
    return s
