"""Factor scores (lavaan 0.6-14's ``lavPredict(type = "lv")``):

* regression and Bartlett scores per group, pattern by pattern under FIML; observed
  variables in regressions are lavaan's dummy latents (:func:`_dummy_ovs`,
  :func:`_predict_pieces`) and only the real latents' scores are returned;
* EBM (empirical Bayes modal) scores of fits with ordered items
  (``lav_predict_eta_ebm_ml``: :func:`_ebm_scores`), also with continuous indicators among
  them and with exogenous covariates (conditional.x: the prior E(eta | x), Cov(eta | x));
* two-level fits at level 1 or 2 (:func:`_predict_twolevel`).

Checked against lavaan in ``tests/test_diagnostics.py``, ``tests/test_predict_extra.py`` and
``tests/test_diagnostics_cx.py`` (``tests/reference/diagnostics/``, ``predict_cases.R``,
``cx_cases.R``). Not built (refused by name): Bartlett/ML scores of ordered items, EBM
scores with an observed variable predicting another (other than covariates given x),
two-level FIML fits and ``newdata`` for two-level fits.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from ..exceptions import OptionError
from .diagnostics import _require_ml

_EPS = np.finfo(float).eps


def _dummy_ovs(pt, g: int) -> list[str]:
    """The observed variables lavaan's LISREL representation turns into dummy latents in
    group ``g`` (``lav_lisrel``, conditional.x = FALSE): every observed variable in a
    regression, the variables of the covariances that involve them (and of the covariances
    sharing a side with those), and observed variables covarying with a latent; in the
    order of the observed variables."""
    tab = pt.table[pt.table["group"] == g]
    lv = set(pt.lv_names)
    reg = tab[tab["op"].isin(["~", "<~"])]
    d1 = set(reg["lhs"]) | set(reg["rhs"])
    cov = tab[tab["op"] == "~~"]
    first = cov[cov["lhs"].isin(d1) | cov["rhs"].isin(d1)]
    more = cov[cov["lhs"].isin(set(first["lhs"])) | cov["rhs"].isin(set(first["rhs"]))]
    d2 = set(first["lhs"]) | set(first["rhs"]) | set(more["lhs"]) | set(more["rhs"])
    ov = list(pt.ov_names)
    d3 = set(cov.loc[cov["lhs"].isin(ov) & cov["rhs"].isin(lv), "lhs"]) | set(
        cov.loc[cov["lhs"].isin(lv) & cov["rhs"].isin(ov), "rhs"])
    dummies = (d1 | d2 | d3) - lv
    return [v for v in ov if v in dummies]


def _predict_pieces(res, g: int, imp, *, pt=None, ov_idx=None, lv=None) -> dict:
    """Per group (or two-level block: ``pt`` the block view, ``g`` the block, ``ov_idx``
    and ``lv`` its observed and latent variables), lavaan's pieces in the RAM matrices.

    With D the observed variables lavaan makes dummy latents (:func:`_dummy_ovs`), its
    latent vector is eta = (latents, dummies): ``VETA`` = Cov(eta) (a dummy is its
    variable), ``L`` lavaan's ``computeLAMBDA(remove.dummy.lv = FALSE)``: loadings of the
    other observed variables on the latents, a unit column per exogenous (ov.x) dummy,
    and for an endogenous (ov.y) dummy its row of BETA (the paths into it); ``EETA`` =
    E(eta), ``EY`` = E(y) (``computeEETA``/``computeEY``, which keep the unit loadings of
    all dummies). Without a mean structure lavaan's ALPHA is zero but for the dummies,
    set so that they have their sample means, and NU is the sample means (minus
    LAMBDA E(eta), dummies 0, when some dummy is exogenous).
    """
    model = res.model
    pt = res.partable if pt is None else pt
    allov = list(res.partable.ov_names)
    ov_idx = list(range(model.p)) if ov_idx is None else list(ov_idx)
    lv = list(model.lv_names) if lv is None else list(lv)
    ov = [allov[k] for k in ov_idx]
    li = [model.node_index[v] for v in lv]
    dummies = [v for v in _dummy_ovs(pt, g + 1) if v in ov]
    di = [model.node_index[v] for v in dummies]
    real = [model.node_index[v] for v in ov if v not in dummies]
    ind = set(getattr(res.partable, "ov_ind", []) or [])
    for v in ov:
        if v not in ind and v not in dummies:
            raise OptionError(f"predict: observed variable {v!r} is neither an indicator of a latent variable "
                              "nor in a regression; lavPredict has no score for such a model")
    eta = li + di
    rows = [model.node_index[v] for v in ov]
    pos = {k: i for i, k in enumerate(rows)}
    L_unit = np.zeros((len(rows), len(eta)))
    L_unit[np.ix_([pos[k] for k in real], np.arange(len(li)))] = imp.A[np.ix_(real, li)]
    L_unit[[pos[k] for k in di], len(li) + np.arange(len(di))] = 1.0
    x_dummy = set(dummies) & set(getattr(res.partable, "ov_x", []) or [])
    L = L_unit.copy()
    for d in di:
        if allov[d] not in x_dummy:
            L[pos[d]] = imp.A[d, eta]
    if pt.meanstructure:
        E = imp.B @ imp.m
        ey = imp.mu[rows]
    else:
        mean = res.samples[g].mean
        E = np.zeros(len(imp.B))
        if di:
            E = imp.B[:, di] @ np.linalg.solve(imp.B[np.ix_(di, di)], mean[di])
        ey = mean.copy() if x_dummy else mean + L_unit @ E[eta]
    return {"L": L, "VETA": imp.C[np.ix_(eta, eta)], "EETA": E[eta], "nlv": len(li), "EY": ey,
            "Sigma": imp.sigma[np.ix_(rows, rows)]}


def _check_predictable(res) -> None:
    """lavPredict scores latent variables: a model without any is refused."""
    if not res.partable.lv_names:
        raise OptionError("predict: the model has no latent variables to score")


def _score_rows_block(X: np.ndarray, pc: dict, method: str) -> np.ndarray:
    """Factor scores of the rows of ``X`` (NaN = missing), pattern by pattern:
    regression VETA L' S^-1 (y - E y) + E eta, Bartlett (L'S^-1 L)^+ L'S^-1 (y - E y) + E eta
    (eta and L with lavaan's dummy latents, the rows of the real latents kept), with S, L
    restricted to the observed variables of the row."""
    q = pc["nlv"]
    out = np.full((len(X), q), np.nan)
    obs = ~np.isnan(X)
    keys, inv = np.unique(obs, axis=0, return_inverse=True)
    for k, pat in enumerate(keys):
        rows = np.flatnonzero(np.ravel(inv) == k)
        if not pat.any():
            continue
        Sinv = np.linalg.pinv(pc["Sigma"][np.ix_(pat, pat)], rcond=np.sqrt(_EPS), hermitian=True)
        L = pc["L"][pat]
        if method == "regression":
            F = pc["VETA"][:q] @ L.T @ Sinv
        else:
            F = (np.linalg.pinv(L.T @ Sinv @ L, rcond=np.sqrt(_EPS), hermitian=True) @ L.T @ Sinv)[:q]
            F[np.all(F == 0, axis=1)] = np.nan
        Yc = X[np.ix_(rows, np.flatnonzero(pat))] - pc["EY"][pat]
        out[rows] = Yc @ F.T + pc["EETA"][:q]
    return out


def predict(res, method: str = "regression", newdata: pd.DataFrame | None = None, level: int = 1) -> pd.DataFrame:
    """lavaan 0.6-14 ``lavPredict(object, type = "lv", method)``: factor scores by the
    regression (Thurstone) or Bartlett method, per group, with each row's observed
    variables under FIML (rows with a missing value get NaN under listwise ML).
    Observed variables in regressions are lavaan's dummy latents (:func:`_predict_pieces`);
    their scores are the data, and only the latent variables' are returned, as lavaan.
    A fit with ordered items gets lavaan's EBM scores (``method="regression"`` or
    ``"ebm"``; :func:`_ebm_scores`; continuous indicators and exogenous covariates included,
    a row with a missing covariate NaN).

    Without ``newdata`` the rows the fit used are scored (complete-data fits; a FIML or
    ordinal fit does not keep its rows: pass the data as ``newdata``); with ``newdata`` its
    rows, in its order, and in a multigroup fit the group column assigns the groups.
    Returns a DataFrame with one column per latent variable (and ``group`` when several).
    A two-level fit is scored at ``level`` 1 (one row per case) or 2 (one row per
    cluster): :func:`_predict_twolevel`.
    """
    if int(getattr(res.partable, "nlevels", 1) or 1) > 1:
        return _predict_twolevel(res, method, newdata, level)
    if level != 1:
        raise OptionError(f"predict: level={level!r} is for two-level models (level: blocks) only")
    ordinal = _is_ordinal(res)
    if not ordinal:
        _require_ml(res, "predict")
    m = str(method).lower()
    allowed = ("regression", "ebm") if ordinal else ("regression", "bartlett")
    if m not in allowed:
        extra = " (Bartlett/ML scores of ordered items are not built)" if ordinal and m in ("bartlett", "ml") else ""
        raise OptionError(f"predict: method must be {allowed[0]!r} or {allowed[1]!r}, not {method!r}{extra}")
    _check_predictable(res)
    ov, lv = list(res.partable.ov_names), list(res.model.lv_names)
    imp = res.model.implied(res.theta)
    if ordinal:
        from .estimators.dwls import ImpliedList

        imp = res.objective.adjust(ImpliedList(imp, res.theta))
    blocks, index = _predict_blocks(res, newdata, ov)
    parts = []
    for g, (X, idx) in enumerate(zip(blocks, index)):
        if not (res.objective.fiml if not ordinal else res.options.get("missing") == "pairwise"):
            X = np.where(np.isnan(X).any(axis=1, keepdims=True), np.nan, X)
        if ordinal:
            sc = _ebm_scores(X, _ebm_pieces(res, g, imp))
        else:
            sc = _score_rows_block(X, _predict_pieces(res, g, imp[g]), m)
        part = pd.DataFrame(sc, columns=lv, index=idx)
        if res.ngroups > 1:
            part.insert(0, "group", res.group_labels[g])
        parts.append(part)
    out = pd.concat(parts)
    return out.loc[newdata.index] if newdata is not None else out.reset_index(drop=True)


# ----------------------------------------------------------------------------- ordered items: EBM
def _is_ordinal(res) -> bool:
    return getattr(res.objective, "ord_idx", None) is not None


def _ebm_pieces(res, g: int, imp) -> dict:
    """lavaan's pieces of ``lav_predict_eta_ebm_ml`` for group ``g``: the loadings, the
    intercepts NU and scale factors Delta of the latent responses (their linear predictor
    is Delta (NU + Lambda eta), ``computeEYetax``), the residual SDs sqrt(diag THETA), the
    thresholds of each item as ``computeTH`` gives them, Delta (tau - mu*) with mu* the
    (given x: reduced) intercepts NU + Lambda (I - B)^-1 alpha, and the prior of eta: its
    mean E(eta | x) = ``mu`` + (x - E x) ``K``' (``computeEETAx``; E(eta) without
    covariates) and the inverse of Cov(eta | x) (``computeVETAx``). Continuous indicators
    enter with their normal density around NU + Lambda eta (``lav_predict_fy_eta.i``). (In
    the theta parameterization Delta is 1/sqrt(diag Sigma*) and multiplies the thresholds
    and the linear predictor, and the linear predictor is the first group's in every
    group, as in lavaan 0.6-14.)"""
    obj, model, pt = res.objective, res.model, res.partable
    ov = list(pt.ov_names)
    cx = obj.cx
    xs = [] if cx is None else [int(i) for i in cx["x"]]
    if cx is None and _dummy_ovs(pt, g + 1):
        raise OptionError(f"predict: observed variable {_dummy_ovs(pt, g + 1)[0]!r} is in a regression; EBM "
                          "scores of ordered items are built for measurement models of latent variables")
    if cx is not None:  # regressions on the covariates only (lavaan's linear predictor has no x terms)
        tab = pt.table[(pt.table["op"] == "~") & (pt.table["group"] == g + 1)]
        bad = [v for v in tab["rhs"] if v in set(ov) - {ov[i] for i in xs}]
        if bad:
            raise OptionError(f"predict: observed variable {bad[0]!r} is in a regression other than a latent on a "
                              "covariate; EBM scores are built for latents regressed on covariates")
    gi = imp[g]
    p = model.p
    ys = [i for i in range(p) if i not in set(xs)]
    num = [int(i) for i in obj.plan["num_idx"]]
    ords = [i for i in ys if i not in set(num)]
    li = [model.node_index[v] for v in model.lv_names]
    theta_var = np.diag(gi.S)[:p]
    if np.any(theta_var[ys] == 0):
        raise OptionError("predict: a residual variance of an indicator is zero; lavaan's EBM scores "
                          "need positive residual variances")
    items = obj.plan["th_item"][g]
    tau = obj._tau(res.theta, g)
    levels = res.samples[g].first.levels
    names = res.samples[g].first.names
    delta, mustar = obj.scale(imp, g), obj.reduced(gi)[1]
    th = {j: delta[j] * (np.sort(tau[items == j]) - mustar[j]) for j in ords}
    xn = [model.node_index[ov[i]] for i in xs]
    E, C = gi.B @ gi.m, gi.C
    K = np.linalg.solve(C[np.ix_(xn, xn)], C[np.ix_(xn, li)]).T if xn else np.zeros((len(li), 0))
    V = C[np.ix_(li, li)] - K @ C[np.ix_(xn, li)]
    # the linear predictor: lav_predict_eta_ebm_ml calls lav_predict_fy_eta.i without its
    # group, so lavaan 0.6-14 takes the first group's Delta, NU and Lambda in every group
    g1 = imp[0]
    return {"L": g1.A[np.ix_(range(p), li)], "nu": g1.m[:p], "delta": obj.scale(imp, 0),
            "sd": np.sqrt(np.clip(theta_var, 0, None)), "negative": bool(np.any(theta_var[ys] < 0)),
            "th": th, "levels": {j: levels[names.index(ov[j])] for j in ords}, "ord": ords, "num": num, "x": xs,
            "mu": E[li] - K @ E[xn], "K": K, "Vinv": np.linalg.inv(V), "ov": ov}


def _ebm_codes(X: np.ndarray, pc: dict) -> np.ndarray:
    """Category codes 0..K-1 of the ordered items (columns ``pc["ord"]``; -1 missing) by
    the fit's levels of each item."""
    codes = np.full((len(X), len(pc["ord"])), -1, dtype=np.int64)
    for k, j in enumerate(pc["ord"]):
        lev = pc["levels"][j]
        ok = ~np.isnan(X[:, j])
        pos = np.searchsorted(lev, X[ok, j])
        bad = (pos >= len(lev)) | (lev[np.minimum(pos, len(lev) - 1)] != X[ok, j])
        if bad.any():
            from ..exceptions import DataError

            raise DataError(f"newdata: ordered item {pc['ov'][j]!r} has the value {X[ok, j][bad][0]:g}, "
                            "which is not one of the fit's categories")
        codes[ok, k] = pos
    return codes


def _ebm_objective(eta, codes, Y, mu, pc, need: bool = True):
    """-log posterior (up to a constant) of each row, and its gradient and Hessian in eta:
    1/2 (eta - mu)' V^-1 (eta - mu) - sum_j log f(y_j | eta); an ordered item's
    P(y_j = k | eta) = Phi((th_k+1 - yhat_j)/sd_j) - Phi((th_k - yhat_j)/sd_j), a continuous
    one's normal density of ``Y`` around yhat_j with SD sd_j, yhat = Delta (NU + Lambda eta),
    th the thresholds of :func:`_ebm_pieces`, ``mu`` the rows' prior means."""
    dv = eta - mu
    f = 0.5 * np.einsum("nk,kl,nl->n", dv, pc["Vinv"], dv)
    yhat = pc["delta"] * (pc["nu"] + eta @ pc["L"].T)
    n = len(eta)
    cols = pc["ord"] + pc["num"]
    g1 = np.zeros((n, len(cols)))
    h = np.zeros((n, len(cols)))
    for k, j in enumerate(pc["ord"]):
        obs = codes[:, k] >= 0
        t = np.concatenate(([-np.inf], pc["th"][j], [np.inf]))
        c = codes[obs, k]
        s = pc["sd"][j]
        a = (t[c + 1] - yhat[obs, j]) / s
        b = (t[c] - yhat[obs, j]) / s
        flip = b > 0  # both limits in the upper tail: the mirror image loses no digits
        P = np.where(flip, special.ndtr(-b) - special.ndtr(-a), special.ndtr(a) - special.ndtr(b))
        P = np.maximum(P, _EPS)
        f[obs] -= np.log(P)
        if need:
            pa, pb = _phi(a), _phi(b)
            g1[obs, k] = (pa - pb) / (s * P)
            h[obs, k] = (_xphi(a) - _xphi(b)) / (s * s * P) + g1[obs, k] ** 2
    for k, j in enumerate(pc["num"], start=len(pc["ord"])):
        obs = ~np.isnan(Y[:, j])
        s = pc["sd"][j]
        z = (Y[obs, j] - yhat[obs, j]) / s
        f[obs] += 0.5 * z * z
        g1[obs, k] = -z / s
        h[obs, k] = 1.0 / (s * s)
    if not need:
        return f, None, None
    DL = pc["delta"][cols, None] * pc["L"][cols]
    grad = dv @ pc["Vinv"] + g1 @ DL
    H = pc["Vinv"][None] + np.einsum("nj,jk,jl->nkl", h, DL, DL)
    return f, grad, H


def _phi(z):
    return np.where(np.isfinite(z), np.exp(-0.5 * np.where(np.isfinite(z), z, 0.0) ** 2) / np.sqrt(2 * np.pi), 0.0)


def _xphi(z):
    return np.where(np.isfinite(z), np.where(np.isfinite(z), z, 0.0) * _phi(z), 0.0)


def _ebm_scores(X: np.ndarray, pc: dict) -> np.ndarray:
    """lavaan's EBM factor scores (``lav_predict_eta_ebm_ml`` with ``ML = FALSE``): per row
    the mode of the posterior of eta, found by Newton's method on all rows at once (the
    objective is convex: the normal prior and log-concave ordinal probits), with step
    halving; rows without an answer get NaN."""
    q = len(pc["mu"])
    out = np.full((len(X), q), np.nan)
    if pc["negative"]:
        import warnings

        warnings.warn("predict: factor scores could not be computed due to at least one negative (residual) "
                      "variance (lavaan's warning)", RuntimeWarning, stacklevel=3)
        return out
    codes = _ebm_codes(X, pc)
    answered = (codes >= 0).any(axis=1) | (~np.isnan(X[:, pc["num"]])).any(axis=1)
    xv = X[:, pc["x"]]
    rows = np.flatnonzero(answered & ~np.isnan(xv).any(axis=1))  # a missing covariate: no prior
    C, Y = codes[rows], X[rows]
    mu = pc["mu"] + xv[rows] @ pc["K"].T
    eta = np.zeros((len(rows), q))
    f, grad, H = _ebm_objective(eta, C, Y, mu, pc)
    moved = np.full(len(rows), np.inf)
    for _ in range(200):
        step = np.linalg.solve(H, grad[..., None])[..., 0]
        t = np.ones(len(rows))
        for _ in range(30):
            f_new = _ebm_objective(eta - t[:, None] * step, C, Y, mu, pc, need=False)[0]
            worse = f_new > f + 1e-12 * (1.0 + np.abs(f))
            if not worse.any():
                break
            t[worse] *= 0.5
        eta = eta - t[:, None] * step
        moved = np.max(np.abs(t[:, None] * step), axis=1) if len(rows) else moved[:0]
        if not len(rows) or moved.max() < 1e-10:
            break
        f, grad, H = _ebm_objective(eta, C, Y, mu, pc)
    stuck = moved > 1e-6
    if stuck.any():  # lavaan: NA where the optimiser does not converge
        import warnings

        warnings.warn(f"predict: the EBM scores of {int(stuck.sum())} row(s) did not converge and are NaN",
                      RuntimeWarning, stacklevel=3)
        eta[stuck] = np.nan
    out[rows] = eta
    return out


# ----------------------------------------------------------------------------- two levels
def _cluster_effects(cs, wi, bi, within_only) -> np.ndarray:
    """lavaan's ``lav_mvnorm_cluster_em_estep_ranef``: per cluster the expected between
    part of the level-1 variables y given the cluster's data b_j = (z_j, ybar_j),
    E(v | b_j) = mu_b + [Sigma_yz, Sigma_b] Omega_j^-1 (b_j - mu), Omega_j = the covariance
    of b_j for a cluster of size n_j (``lav_mvnorm_cluster_implied22l``: within-only
    variables have no between part)."""
    y, z = cs.y_idx, cs.z_idx
    wo = np.isin(y, np.asarray(within_only, int))
    sw = wi.sigma[np.ix_(y, y)]
    sb = bi.sigma[np.ix_(y, y)].copy()
    sb[wo, :] = 0.0
    sb[:, wo] = 0.0
    syz = bi.sigma[np.ix_(y, z)].copy()
    syz[wo, :] = 0.0
    mu_b = np.where(wo, 0.0, bi.mu[y])
    mu = np.concatenate([bi.mu[z], wi.mu[y] + mu_b])
    S1 = np.hstack([syz, sb])
    pz = len(z)
    out = np.zeros((cs.J, len(y)))
    B = cs.ybar[:, np.concatenate([z, y]).astype(int)] - mu
    for n in np.unique(cs.cluster_size):
        js = np.flatnonzero(cs.cluster_size == n)
        omega = np.zeros((pz + len(y), pz + len(y)))
        omega[:pz, :pz] = bi.sigma[np.ix_(z, z)]
        omega[pz:, :pz] = syz
        omega[:pz, pz:] = syz.T
        omega[pz:, pz:] = (sw + n * sb) / n
        out[js] = mu_b + B[js] @ np.linalg.solve(omega, S1.T)
    return out


def _predict_twolevel(res, method: str, newdata, level) -> pd.DataFrame:
    """lavaan 0.6-14's ``lavPredict(fit, level = 1 or 2)`` of a two-level fit (complete
    data): the cluster effects E(v | cluster) of the level-1 variables
    (:func:`_cluster_effects`); level 1 scores the rows minus their cluster's effects with
    the within block's pieces (one row per case, in data order), level 2 the clusters'
    effects with the between block's (one row per cluster, in order of first appearance;
    as lavaan, a between-only variable enters with the value 0). Regression or Bartlett."""
    from .estimators.twolevel import TwoLevelObjective, block_view, level_sets

    m = str(method).lower()
    if m not in ("regression", "bartlett"):
        raise OptionError(f"predict: method must be 'regression' or 'bartlett', not {method!r}")
    if level not in (1, 2) or isinstance(level, bool):
        raise OptionError(f"predict: level must be 1 (within) or 2 (between), not {level!r}")
    if newdata is not None:
        raise OptionError("predict: newdata= with a two-level model is not built; the rows of the fit are scored")
    if type(res.objective) is not TwoLevelObjective or getattr(res.objective, "missing", False):
        raise OptionError("predict: factor scores of a two-level fit with missing='ml' are not built")
    view = block_view(res.partable)
    imp = res.model.implied(res.theta)
    tab = view.table
    parts = []
    for g, (cs, lvs) in enumerate(zip(res.objective.stats, level_sets(res.partable))):
        wi, bi = imp[2 * g], imp[2 * g + 1]
        MB = _cluster_effects(cs, wi, bi, lvs.within_only)
        block = 2 * g + level - 1
        rows_b = tab[tab["group"] == block + 1]
        lv = [v for v in res.model.lv_names if v in set(rows_b["lhs"]) | set(rows_b["rhs"])]
        if level == 1:
            X = res.samples[g].X[:, cs.y_idx] - MB[cs.inv]
            ov_idx = list(cs.y_idx)
        else:
            D = np.zeros((cs.J, res.model.p))
            D[:, cs.y_idx] = MB
            X = D[:, lvs.lev2]
            ov_idx = list(lvs.lev2)
        pc = _predict_pieces(res, block, imp[block], pt=view, ov_idx=ov_idx, lv=lv)
        part = pd.DataFrame(_score_rows_block(X, pc, m), columns=lv)
        if res.ngroups > 1:
            part.insert(0, "group", res.group_labels[g])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _predict_blocks(res, newdata, ov) -> tuple[list[np.ndarray], list]:
    """Per group the rows to score and their index labels."""
    if newdata is None:
        if getattr(res.objective, "fiml", False) or any(s.X is None for s in res.samples):
            raise OptionError("predict: this fit does not keep its rows (FIML, ordered items or sample moments); "
                              "pass the data as newdata=")
        return [s.X for s in res.samples], [np.arange(s.nobs) for s in res.samples]
    from ..exceptions import DataError

    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    miss = [v for v in ov if v not in newdata.columns]
    if miss:
        raise DataError(f"newdata has no column {miss[0]!r} (a variable of the model)")
    X = newdata[ov].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if res.ngroups == 1:
        return [X], [newdata.index]
    gcol = res.options.get("group")
    if gcol not in newdata.columns:
        raise DataError(f"newdata has no group column {gcol!r}")
    lab = newdata[gcol].astype(str).to_numpy()
    unknown = sorted(set(lab) - set(res.group_labels))
    if unknown:
        raise DataError(f"newdata column {gcol!r} has group {unknown[0]!r}, which the fit does not have")
    sel = [lab == g for g in res.group_labels]
    return [X[s] for s in sel], [newdata.index[s] for s in sel]


