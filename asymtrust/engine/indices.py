"""Fit indices, one family per function (pipeline step: vcov -> indices).

Each function implements lavaan 0.6-14's definition as documented in
``lavaan-parity.md`` §2 and §5 (sources ``R/lav_fit_cfi.R``, ``R/lav_fit_rmsea.R``,
``R/lav_fit_srmr.R``, ``R/lav_fit_aic.R``); asymtrust's code is its own.
"""
from __future__ import annotations

import numpy as np
from scipy import special


# ----------------------------------------------------------------------------- incremental
def _any_nan(*xs) -> bool:
    return any(x != x for x in xs)  # NaN (lavaan: anyNA -> NA)


def _close0(x: float) -> bool:
    return abs(x) <= 1.5e-8  # R's isTRUE(all.equal(x, 0))


def cfi(chisq: float, df: float, chisq0: float, df0: float, c: float = 1.0, c0: float = 1.0) -> float:
    """Comparative fit index (``lav_fit_cfi``). With ``c``/``c0`` (scaling factors) this is
    the robust CFI of Brosseau-Liard & Savalei (2014): ``chisq - c*df`` replaces
    ``chisq - df`` (only when df > 0, as lavaan; at df = 0 the CFI is 1)."""
    if _any_nan(chisq, df, chisq0, df0, c, c0):
        return float("nan")
    if not (df > 0 and c != 1 and c0 != 1):
        c = c0 = 1.0
    t1 = max(chisq - c * df, 0.0)
    t2 = max(chisq - c * df, chisq0 - c0 * df0, 0.0)
    if _close0(t1) and _close0(t2):
        return 1.0
    return 1.0 - t1 / t2


def tli(chisq: float, df: float, chisq0: float, df0: float, c: float = 1.0, c0: float = 1.0) -> float:
    """Tucker-Lewis index (``lav_fit_tli``: not truncated; 1 when df = 0)."""
    if _any_nan(chisq, df, chisq0, df0, c, c0):
        return float("nan")
    if not (df > 0 and c != 1 and c0 != 1):
        c = c0 = 1.0
    t1 = (chisq - c * df) * df0
    t2 = (chisq0 - c0 * df0) * df
    if df > 0 and abs(t2) > 0:
        return 1.0 - t1 / t2
    if not (np.isfinite(t1) and np.isfinite(t2)):
        return float("nan")
    return 1.0


def rni(chisq: float, df: float, chisq0: float, df0: float, c: float = 1.0, c0: float = 1.0) -> float:
    """Relative noncentrality index (``lav_fit_rni``), robust with ``c``/``c0`` when df > 0."""
    if _any_nan(chisq, df, chisq0, df0, c, c0):
        return float("nan")
    if not (df > 0 and c != 1 and c0 != 1):
        c = c0 = 1.0
    t1, t2 = chisq - c * df, chisq0 - c0 * df0
    if _close0(t2) or not (np.isfinite(t1) and np.isfinite(t2)):
        return float("nan")
    return 1.0 - t1 / t2


def other_incremental(chisq: float, df: float, chisq0: float, df0: float) -> dict[str, float]:
    """NFI, RFI, IFI, RNI and PNFI (lavaan's ``lav_fit_nfi`` ...): NFI and RFI are NA when
    the model has more df than the baseline, and 1 at df = 0."""
    nan = float("nan")
    if _any_nan(chisq, df, chisq0, df0) or not (np.isfinite(chisq) and np.isfinite(chisq0)):
        return {"nfi": nan, "rfi": nan, "ifi": nan, "rni": nan, "pnfi": nan}
    out = {}
    if df > df0 or _close0(chisq0):
        out["nfi"] = nan
    else:
        out["nfi"] = (chisq0 - chisq) / chisq0 if df > 0 else 1.0
    if df > df0:
        out["rfi"] = nan
    elif df > 0 and df0 > 0:
        t1, t2 = chisq0 / df0 - chisq / df, chisq0 / df0
        out["rfi"] = nan if not (np.isfinite(t1) and np.isfinite(t2)) else 1.0 if (t1 < 0 or t2 < 0) else t1 / t2
    else:
        out["rfi"] = 1.0
    t1, t2 = chisq0 - chisq, chisq0 - df
    if not (np.isfinite(t1) and np.isfinite(t2)):
        out["ifi"] = nan
    elif t2 < 0:
        out["ifi"] = 1.0
    else:
        out["ifi"] = nan if _close0(t2) else t1 / t2
    out["rni"] = rni(chisq, df, chisq0, df0)
    out["pnfi"] = (df / df0) * (chisq0 - chisq) / chisq0 if (df0 > 0 and chisq0 > 0) else nan
    return out


# ----------------------------------------------------------------------------- RMSEA
def rmsea(chisq: float, df: float, N: float, G: int = 1, c: float = 1.0) -> float:
    """RMSEA = sqrt(G) sqrt(max(chisq/(N df) - c/N, 0)); 0 when df = 0.

    ``c`` > 1 gives the robust RMSEA of Brosseau-Liard, Savalei & Li (2012) with the
    unscaled chi-square."""
    if df == 0:
        return 0.0
    return float(np.sqrt(G) * np.sqrt(max(chisq / (N * df) - c / N, 0.0)))


def _pchisq(x: float, df: float, ncp: float) -> float:
    # scipy.special's ufuncs: the same values as scipy.stats' chi2/ncx2 without their overhead
    if ncp <= 0:
        return float(special.chdtr(df, x))
    return float(special.chndtr(x, df, ncp))


def rmsea_ci(chisq: float, df: float, N: float, G: int = 1, level: float = 0.90, c: float = 1.0) -> tuple[float, float]:
    """Confidence interval of the RMSEA from the noncentral chi-square (lavaan's rule).

    ``c`` > 1 gives the robust interval: the test statistic is chisq/c and each bound
    is sqrt(c * lambda / (N df)) sqrt(G).
    """
    if df < 1 or not np.isfinite(chisq):
        return 0.0, 0.0
    from scipy import optimize  # imported on first use: keeps `import asymtrust` light

    T = chisq / c
    a_lo = 1.0 - (1.0 - level) / 2.0  # 0.95
    a_hi = (1.0 - level) / 2.0  # 0.05

    def bound(lam):
        return float(np.sqrt(G) * np.sqrt(c * lam / (N * df)))

    lo = 0.0
    if _pchisq(T, df, 0.0) >= a_lo:
        lam = optimize.brentq(lambda L: _pchisq(T, df, L) - a_lo, 0.0, max(T, 1e-8), xtol=1e-12)
        lo = bound(lam)
    hi = 0.0
    end = max(N, 4.0 * T)
    if _pchisq(T, df, 0.0) >= a_hi and _pchisq(T, df, end) <= a_hi:
        lam = optimize.brentq(lambda L: _pchisq(T, df, L) - a_hi, 0.0, end, xtol=1e-12)
        hi = bound(lam)
    return lo, hi


def rmsea_pvalue(chisq: float, df: float, N: float, G: int = 1, close: float = 0.05, c: float = 1.0) -> float:
    """P(RMSEA <= close): 1 - pchisq(T, df, ncp = N df close^2 / (c G)), T = chisq / c."""
    if df == 0:
        return float("nan")
    T = chisq / c
    return 1.0 - _pchisq(T, df, N * df * close**2 / (c * G))


def rmsea_notclose_pvalue(chisq: float, df: float, N: float, G: int = 1, notclose: float = 0.08, c: float = 1.0) -> float:
    """P of the not-close-fit test: pchisq(T, df, ncp = N df 0.08^2 / (c G))."""
    if df == 0:
        return float("nan")
    T = chisq / c
    return _pchisq(T, df, N * df * notclose**2 / (c * G))


# ----------------------------------------------------------------------------- residual based
def _vech_sumsq(R: np.ndarray) -> float:
    """Sum of squares of the lower triangle (diagonal included) of a symmetric matrix."""
    d = np.diag(R)
    return float((np.sum(R * R) + d @ d) / 2.0)


def _srmr_group(S, M, sigma, mu, meanstructure: bool) -> tuple[float, float]:
    """Bentler SRMR of one group: (with means, without means)."""
    sd = np.sqrt(np.diag(S))
    R = (S - sigma) / np.outer(sd, sd)
    ss_cov = _vech_sumsq(R)
    pstar = len(S) * (len(S) + 1) // 2
    nomean = np.sqrt(ss_cov / pstar)
    if not meanstructure:
        return nomean, nomean
    m = (M - mu) / sd
    withmean = np.sqrt((ss_cov + float(np.sum(m**2))) / (pstar + len(S)))
    return withmean, nomean


def srmr(samples, implied, meanstructure: bool) -> dict[str, float]:
    """SRMR (Bentler): residuals scaled by the sample variances, averaged over groups
    with weights N_g/N (lavaan averages the roots). Also the raw RMR."""
    N = sum(s.nobs for s in samples)
    out = {"srmr": 0.0, "srmr_bentler_nomean": 0.0, "rmr": 0.0, "rmr_nomean": 0.0}
    for s, imp in zip(samples, implied):
        w = s.nobs / N
        with_m, no_m = _srmr_group(s.cov, s.mean, imp.sigma, imp.mu, meanstructure)
        out["srmr"] += w * with_m
        out["srmr_bentler_nomean"] += w * no_m
        p = len(s.cov)
        ss, nr = _vech_sumsq(s.cov - imp.sigma), p * (p + 1) // 2
        rmr_nm = np.sqrt(ss / nr)
        if meanstructure:
            mres = s.mean - imp.mu
            rmr = np.sqrt((ss + np.sum(mres**2)) / (nr + len(mres)))
        else:
            rmr = rmr_nm
        out["rmr"] += w * rmr
        out["rmr_nomean"] += w * rmr_nm
    out["srmr_bentler"] = out["srmr"]
    return out


# ----------------------------------------------------------------------------- information criteria
def information_criteria(logl: float, npar: int, N: int) -> dict[str, float]:
    """AIC, BIC and the sample-size adjusted BIC (lavaan's ``bic2``)."""
    return {
        "aic": -2.0 * logl + 2.0 * npar,
        "bic": -2.0 * logl + npar * np.log(N),
        "bic2": -2.0 * logl + npar * np.log((N + 2.0) / 24.0),
    }


def misc_indices(chisq: float, df: float, N: int, npar: int) -> dict[str, float]:
    """McDonald's MFI, ECVI and Hoelter's critical N."""
    out = {"mfi": float(np.exp(-0.5 * (chisq - df) / N)), "ecvi": (chisq + 2.0 * npar) / N}
    for a, key in ((0.05, "cn_05"), (0.01, "cn_01")):  # lavaan's lav_fit_cn
        if df == 0 and chisq < 1e-8:  # lavaan: .Machine$double.eps; a saturated fit is 0 to ~1e-10
            out[key] = float("nan")
        else:
            q = float(special.chdtri(df, a)) if df > 0 else 0.0
            with np.errstate(divide="ignore"):
                out[key] = float(q / (chisq / N) + 1.0) if chisq != 0 else float("inf")
    return out


def chisq_pvalue(chisq: float, df: float) -> float:
    if df <= 0:
        return float("nan")
    return float(special.chdtrc(df, chisq))


def _gfi_group(s, imp, meanstructure: bool, x_idx: list[int]) -> float:
    """LISREL GFI of one group with lavaan's choices (``lav_fit_gfi``):

    GFI = 1 - e'We / s'Ws, with s the sample statistics (vech S and, with a
    meanstructure, the means), e = s - model-implied, and W the expected H1
    information at the model-implied moments, in which the fixed-x elements get zero
    weight. Under FIML the "sample" statistics are lavaan's: pairwise covariances
    rescaled by (N-1)/N and available-case means, and W is the incomplete-data
    expected information, a sum over patterns. Each quadratic form is evaluated as
    1/2 tr((P_o E_o)^2) + e_o' P_o e_o per pattern, so W is never formed.
    """
    import pandas as pd

    p = len(imp.sigma)
    if s.missing:
        X = np.full((s.nobs, p), np.nan)
        start = 0
        for pt in s.patterns:
            X[start:start + pt.n][:, pt.obs] = pt.X
            start += pt.n
        S = pd.DataFrame(X).cov().to_numpy() * (s.nobs - 1) / s.nobs
        M = np.nanmean(X, axis=0)
        blocks = [(pt.obs, pt.n) for pt in s.patterns]
    else:
        S, M = s.cov, s.mean
        blocks = [(np.arange(p), s.nobs)]
    E = S - imp.sigma
    em = M - imp.mu
    S0, M0 = S.copy(), M.copy()
    if x_idx:
        xi = np.array(x_idx)
        for A in (E, S0):
            A[np.ix_(xi, xi)] = 0.0
        em[xi] = 0.0
        M0[xi] = 0.0
    num = den = 0.0
    for o, n in blocks:
        if len(o) == p:  # complete data: the objective's inverse when there is one
            P = imp.sigma_inv if imp.sigma_inv is not None else np.linalg.inv(imp.sigma)
            PE, PS = P @ E, P @ S0
        else:
            P = np.linalg.inv(imp.sigma[np.ix_(o, o)])
            PE = P @ E[np.ix_(o, o)]
            PS = P @ S0[np.ix_(o, o)]
        a = 0.5 * np.sum(PE * PE.T)
        b = 0.5 * np.sum(PS * PS.T)
        if meanstructure:
            a += em[o] @ P @ em[o]
            b += M0[o] @ P @ M0[o]
        num += n * a
        den += n * b
    return 1.0 - num / den


def residual_family(samples, implied, meanstructure: bool, ndat: int, df: float,
                    x_idx: list[int] | None = None) -> dict[str, float]:
    """GFI/AGFI/PGFI, CRMR and the Mplus SRMR (lavaan's ``lav_fit_gfi``/``lav_fit_srmr``).

    Groups are averaged with weights N_g/N. In the CRMR the mean residuals are
    scaled by the sample SDs.
    """
    N = sum(s.nobs for s in samples)
    out = {"gfi": 0.0, "crmr": 0.0, "crmr_nomean": 0.0, "srmr_mplus": 0.0, "srmr_mplus_nomean": 0.0}
    for s, imp in zip(samples, implied):
        w = s.nobs / N
        out["gfi"] += w * _gfi_group(s, imp, meanstructure, list(x_idx or []))
        p = len(s.cov)
        sd_s = np.sqrt(np.diag(s.cov))
        sd_m = np.sqrt(np.diag(imp.sigma))
        R = s.cov / np.outer(sd_s, sd_s) - imp.sigma / np.outer(sd_m, sd_m)
        n_off = p * (p - 1) // 2
        dR = np.diag(R)
        off = float((np.sum(R * R) - dR @ dR) / 2.0)
        diag = float(np.sum(((np.diag(s.cov) - np.diag(imp.sigma)) / np.diag(s.cov)) ** 2))
        crmr_nm = np.sqrt(off / n_off) if n_off else 0.0
        mplus_nm = np.sqrt((off + diag) / (p * (p + 1) / 2))
        if meanstructure:
            m_crmr = (s.mean - imp.mu) / sd_s
            m_mplus = s.mean / sd_s - imp.mu / sd_m
            crmr = np.sqrt((off + np.sum(m_crmr**2)) / (n_off + p))
            mplus = np.sqrt((off + diag + np.sum(m_mplus**2)) / (p * (p + 1) / 2 + p))
        else:
            crmr, mplus = crmr_nm, mplus_nm
        out["crmr"] += w * crmr
        out["crmr_nomean"] += w * crmr_nm
        out["srmr_mplus"] += w * mplus
        out["srmr_mplus_nomean"] += w * mplus_nm
    gfi = out["gfi"]
    out["agfi"] = (1.0 - (ndat / df) * (1.0 - gfi) if df > 0 else 1.0) if np.isfinite(gfi) else float("nan")
    out["pgfi"] = (df / ndat) * gfi if ndat else float("nan")
    return out


def gfi_weighted(blocks, N: int, df: float) -> dict[str, float]:
    """GFI = sum_g N_g/N (1 - e'We / s'Ws), AGFI and PGFI with the number of sample
    statistics (lavaan's ``lav_fit_gfi`` on WLS.obs, WLS.est and WLS.V), for the
    least-squares and ordinal families. ``blocks``: per group (N_g, s, e, W) with s the
    sample statistics, e = s - model-implied and W the weight matrix."""
    gfi, nel = 0.0, 0
    for n_g, o, e, W in blocks:
        gfi += (n_g / N) * (1.0 - float(e @ W @ e) / float(o @ W @ o))
        nel += len(o)
    nan = float("nan")
    return {"gfi": gfi, "agfi": 1.0 - (nel / df) * (1.0 - gfi) if df > 0 else nan,
            "pgfi": (df / nel) * gfi if nel else nan}
