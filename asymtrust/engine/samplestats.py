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
    #: cluster code of each row, in the order of the case-wise scores (``cluster=``; None otherwise)
    cluster: np.ndarray | None = None

    def available_moments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per variable: the number of cases observing it, their mean and their variance
        (divisor n_i), from the missing-data patterns (``cov`` and ``mean`` for complete
        data). Computed once."""
        cached = self.__dict__.get("_available")
        if cached is not None:
            return cached
        if not self.missing:
            cached = (np.full(len(self.cov), float(self.nobs)), self.mean, np.diag(self.cov))
        else:
            p = len(self.cov)
            n, s1, s2 = np.zeros(p), np.zeros(p), np.zeros(p)
            for pt in self.patterns:
                n[pt.obs] += pt.n
                s1[pt.obs] += pt.n * pt.mean
            mean = s1 / n
            for pt in self.patterns:  # within-pattern plus between-pattern spread, around the pooled mean
                s2[pt.obs] += pt.n * (np.diag(pt.cov) + (pt.mean - mean[pt.obs]) ** 2)
            cached = (n, mean, s2 / n)
        self.__dict__["_available"] = cached
        return cached

    @property
    def available_var(self) -> np.ndarray:
        """lavaan's ``lavsamplestats@var``: the variances in ``cov`` for complete data;
        with missing values the available-case variances (divisor n_i - 1) rescaled by
        (N - 1)/N, which lavaan uses for the residual-variance starting values."""
        n, _, var = self.available_moments()
        if not self.missing:
            return var
        with np.errstate(divide="ignore", invalid="ignore"):
            return var * n / (n - 1.0) * (self.nobs - 1.0) / self.nobs

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


def batch_inverse_terms(bt: PatternBatch, sigma: np.ndarray, mu: np.ndarray):
    """Per pattern of a batch: the inverse of the observed block of ``sigma`` (b, q, q),
    the mean residual d = ybar - mu_o and M = S_pat + d d'."""
    oi = bt.obs
    Sinv = np.linalg.inv(sigma[oi[:, :, None], oi[:, None, :]])
    d = bt.mean - mu[oi]
    return Sinv, d, bt.cov + d[:, :, None] * d[:, None, :]


def batch_terms(bt: PatternBatch, sigma: np.ndarray, mu: np.ndarray):
    """Per pattern of a batch, at the model moments (sigma, mu): the inverse of the
    observed block P, the mean residual d, M = S_pat + d d', and the batch's share of
    -2 log L, sum over patterns of n (q log 2pi + log|Sigma_oo| + tr(P M)).
    None when a block is not positive definite."""
    oi = bt.obs
    So = sigma[oi[:, :, None], oi[:, None, :]]
    try:
        L = np.linalg.cholesky(So)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    Sinv, d, M = batch_inverse_terms(bt, sigma, mu)
    tr = np.einsum("bij,bji->b", Sinv, M)
    return Sinv, d, M, float(bt.n @ (oi.shape[1] * LOG2PI + logdet + tr))


def pattern_loglik(batches: list[PatternBatch], sigma: np.ndarray, mu: np.ndarray) -> float:
    """Normal log-likelihood of incomplete data, over the stacked missing-data patterns."""
    m2ll = 0.0
    for bt in batches:
        terms = batch_terms(bt, sigma, mu)
        if terms is None:
            return -np.inf
        m2ll += terms[3]
    return -0.5 * m2ll


def _em_blocks(patterns: list[Pattern], p: int, chunk: int = 256) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Incomplete patterns stacked by number of observed variables (at most ``chunk``
    patterns per block, to bound memory), plus the fixed contribution of the complete
    patterns to the first and second moments."""
    T1c, T2c = np.zeros(p), np.zeros((p, p))
    by_q: dict[int, list[Pattern]] = {}
    for pt in patterns:
        if pt.obs.size == p:
            T1c += pt.n * pt.mean
            T2c += pt.n * (pt.cov + np.outer(pt.mean, pt.mean))
        else:
            by_q.setdefault(pt.obs.size, []).append(pt)
    blocks = []
    for q, pts in sorted(by_q.items()):
        for start in range(0, len(pts), chunk):
            part = pts[start:start + chunk]
            obs = np.stack([pt.obs for pt in part])
            miss = np.stack([np.setdiff1d(np.arange(p), pt.obs) for pt in part])
            mean = np.stack([pt.mean for pt in part])
            blocks.append({
                "obs": obs, "miss": miss, "n": np.array([pt.n for pt in part], float), "mean": mean,
                # raw second moments per case, E[y_o y_o']
                "Eoo": np.stack([pt.cov for pt in part]) + mean[:, :, None] * mean[:, None, :],
                # position of each variable in the pattern's (observed, missing) order
                "inv": np.argsort(np.concatenate([obs, miss], axis=1), axis=1),
            })
    return blocks, T1c, T2c


def em_saturated(patterns: list[Pattern], p: int, *, tol: float = 1e-8, max_iter: int = 5000) -> tuple[np.ndarray, np.ndarray, int]:
    """EM estimates of the saturated mean and covariance under MAR.

    Starts, as lavaan does, at the available-case means and a diagonal covariance of
    available-case variances, and iterates to a tighter tolerance than lavaan's 1e-5
    (a fully converged EM agrees with lavaan's H1 log-likelihood to ~1e-8).

    The E-step works on each pattern's sufficient statistics (n, mean, second moments
    of the observed part), with patterns of equal size stacked: per pattern
    B = Sigma_mo Sigma_oo^-1, a = mu_m - B mu_o, and the expected first and second
    moments E[y_m] = a + B ybar_o, E[y_m y_o'] = B E_oo + a ybar_o',
    E[y_m y_m'] = Sigma_mm - B Sigma_om + a a' + B ybar_o a' + a ybar_o' B' + B E_oo B'.
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
    blocks, T1c, T2c = _em_blocks(patterns, p)
    it = 0
    for it in range(1, max_iter + 1):
        T1 = T1c.copy()
        T2 = T2c.copy()
        for bk in blocks:
            o, m, n, ybar, Eoo = bk["obs"], bk["miss"], bk["n"], bk["mean"], bk["Eoo"]
            Soo = sigma[o[:, :, None], o[:, None, :]]
            Som = sigma[o[:, :, None], m[:, None, :]]
            Smm = sigma[m[:, :, None], m[:, None, :]]
            Bt = np.linalg.solve(Soo, Som).transpose(0, 2, 1)  # (b, m, q): Sigma_mo Sigma_oo^-1
            a = mu[m] - np.einsum("bmq,bq->bm", Bt, mu[o])
            By = np.einsum("bmq,bq->bm", Bt, ybar)
            BE = Bt @ Eoo
            Emo = BE + a[:, :, None] * ybar[:, None, :]
            Emm = (Smm - Bt @ Som + a[:, :, None] * a[:, None, :] + By[:, :, None] * a[:, None, :]
                   + a[:, :, None] * By[:, None, :] + BE @ Bt.transpose(0, 2, 1))
            # moments in each pattern's (observed, missing) order, then back to variable order
            Mp = np.concatenate([np.concatenate([Eoo, Emo.transpose(0, 2, 1)], axis=2),
                                 np.concatenate([Emo, Emm], axis=2)], axis=1)
            fp = np.concatenate([ybar, a + By], axis=1)
            inv = bk["inv"]
            rows = np.arange(len(n))[:, None, None]
            T2 += np.einsum("b,bij->ij", n, Mp[rows, inv[:, :, None], inv[:, None, :]])
            T1 += n @ np.take_along_axis(fp, inv, axis=1)
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
    s.logl_h1 = pattern_loglik(s.batches, sigma, mu)
    return s
