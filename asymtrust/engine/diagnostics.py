"""Where a fitted model misfits: modification indices, residuals, score and Wald tests
and factor scores (lavaan 0.6-14's ``modindices``, ``lavResiduals``, ``lavTestScore``,
``lavTestWald`` and ``lavPredict``). Functions of the fitted matrices, the information
and Delta, as :mod:`asymtrust.engine.vcov`; :class:`~asymtrust.engine.results.FitResult`
has thin methods that call them.

* :func:`modindices` -- the model extended by every parameter lavaan's
  ``lav_partable_full`` lists (and every fixed row, freed), its expected information and
  the gradient of ``fmin`` at the estimates: MI = N g^2 / V, V = I11 - I12 I22^-1 I21
  (Saris, Satorra & Sorbom 1987), EPC = -g / V, the standardized EPCs of
  ``lav_standardize_lv``/``_all``/``_all_nox`` and, with ``power``, the decision rule of
  Saris, Satorra & van der Veld (2009). With fixed-x covariates the moments among them
  carry no information (lavaan's ``x.idx``);
* :func:`residuals` -- ``lavResiduals``: raw, cor.bollen and cor.bentler residuals, their
  ACOV Q ACOV(s) Q' (Q = I - Delta A^-1 Delta' A1), z statistics and the RMR/SRMR/CRMR
  summary with the unbiased estimates, SEs and CIs of Maydeu-Olivares (2017);
* :func:`score_test` -- ``lavTestScore``: N g' J g with J the information inverted under
  the constraints kept (the bordered matrix, Moore-Penrose as ``MASS::ginv``);
* :func:`wald` -- ``lavTestWald``: r' (J V J')^-1 r, J by the complex step;
* factor scores (``lavPredict``) are in :mod:`asymtrust.engine.predict`;
* :func:`misfit_summary` -- the tables ``asymtrust diagnose`` and the report show.

Each is checked against lavaan 0.6-14 in ``tests/test_diagnostics.py``
(``tests/reference/diagnostics/``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import OptionError
from .compile import SimpleParTable, fixed_value
from .estimate import Objective
from .model import RamModel
from .vcov import constrained_inverse

_STRUCT = ("=~", "~", "~~", "~1")
_EPS = np.finfo(float).eps


def _require_ml(res, what: str) -> None:
    """Diagnostics need a normal-theory ML fit (ML, MLR; FIML where stated)."""
    if res.model is None or res.objective is None:
        raise OptionError(f"{what} needs a fitted model (this result has no estimates)")
    if type(res.objective) is not Objective:
        raise OptionError(f"{what} is available for ML and MLR fits only, not estimator="
                          f"{res.options.get('estimator')!r}")
    fi = res.fit_indices
    if "fmin" in fi and abs(fi["chisq"] - 2.0 * res.objective.N * fi["fmin"]) > 1e-6 * max(1.0, abs(fi["chisq"])):
        # likelihood="wishart": chi-square on N - 1, which these formulas do not carry
        raise OptionError(f"{what} is not available with likelihood='wishart'")


# ----------------------------------------------------------------------------- lav_partable_full
def _vnames(pt, g: int) -> dict:
    """lavaan's variable sets of one group (``lavpta$vnames``)."""
    tab = pt.table[pt.table["group"] == g]
    reg = tab[tab["op"] == "~"]
    lv = list(pt.lv_names)
    ov_x = [v for v in (getattr(pt, "ov_x", []) or [])]
    return {"ov": list(pt.ov_names), "lv": lv, "ov_x": ov_x,
            "ov_nox": [v for v in pt.ov_names if v not in set(ov_x)],
            "ov_ind": [v for v in (getattr(pt, "ov_ind", []) or [])],
            "eqs": list(dict.fromkeys(list(reg["lhs"]) + list(reg["rhs"])))}


def _lower(names: list) -> list[tuple[str, str]]:
    """lavaan's lower triangle order: column by column, lhs the column variable."""
    return [(names[j], names[i]) for j in range(len(names)) for i in range(j, len(names))]


def full_rows(pt) -> list[tuple[str, str, str, int]]:
    """Every parameter lavaan's ``lav_partable_full`` lists, per group, in its order:
    loadings of each latent on each non-covariate indicator (not on variables in
    regressions), (co)variances of the indicators and of the covariates, latent
    (co)variances, regressions among the variables in regressions, intercepts."""
    out = []
    for g in range(1, int(pt.ngroups) + 1):
        vn = _vnames(pt, g)
        eqs, lv = vn["eqs"], vn["lv"]
        rows = [(f, "=~", v) for f in lv for v in vn["ov_nox"] if v not in eqs]
        other = set(vn["ov"]) - set(vn["ov_ind"])
        rows += [(a, "~~", b) for a, b in _lower(vn["ov_nox"]) if a not in other and b not in other]
        rows += [(a, "~~", b) for a, b in _lower(vn["ov_x"])]
        rows += [(a, "~~", b) for a, b in _lower(lv)]
        rows += [(y, "~", x) for y in eqs for x in eqs
                 if y != x and not (y in vn["ov_ind"] and x in lv)]
        if pt.meanstructure:
            rows += [(v, "~1", "") for v in vn["ov"] + lv]
        out += [(a, op, b, g) for a, op, b in rows]
    return out


@dataclass
class Extended:
    """The model with every fixed row freed and lavaan's full list added: ``rows`` (lhs, op,
    rhs, group, user: 1 for the model's free parameters, 10 otherwise, exo, est), its RAM
    model and parameter vector (the model's free parameters first, ``K`` of them)."""

    rows: pd.DataFrame
    model: RamModel
    theta: np.ndarray
    K: int


def extended_model(res) -> Extended:
    """lavaan's ``lav_object_extended(object, add = lav_partable_full(...), all.free = TRUE)``."""
    pt, model = res.partable, res.model
    tab = pt.table
    struct = tab[tab["op"].isin(_STRUCT)]
    K = model.n_free
    recs, seen = [], set()
    for r in struct.itertuples(index=False):
        free = int(r.free)
        val = float(res.theta[free - 1]) if free > 0 else float(fixed_value(r, model))
        recs.append((r.lhs, r.op, r.rhs, int(r.group), 1 if free > 0 else 10, int(r.exo), val, free))
        seen.add((r.lhs, r.op, r.rhs, int(r.group)))
        if r.op == "~~":
            seen.add((r.rhs, r.op, r.lhs, int(r.group)))  # the same parameter (lavaan: V = 0, dropped)
    for lhs, op, rhs, g in full_rows(pt):
        if (lhs, op, rhs, g) not in seen:
            seen.add((lhs, op, rhs, g))
            recs.append((lhs, op, rhs, g, 10, 0, 0.0, 0))
    rows = pd.DataFrame(recs, columns=["lhs", "op", "rhs", "group", "user", "exo", "est", "orig_free"])
    free = rows["orig_free"].to_numpy().copy()
    extra = free == 0
    free[extra] = K + np.arange(1, extra.sum() + 1)
    rows["free"] = free
    ext_tab = rows[["lhs", "op", "rhs", "group", "free"]].copy()
    ext_tab["ustart"] = np.nan
    ext_tab["exo"] = 0
    ms = bool(pt.meanstructure) or bool((rows["op"] == "~1").any())
    ext_pt = SimpleParTable(ext_tab, list(pt.ov_names), list(pt.lv_names), int(pt.ngroups), ms)
    theta = np.zeros(int(free.max()))
    theta[free - 1] = rows["est"].to_numpy()
    return Extended(rows=rows, model=RamModel(ext_pt), theta=theta, K=K)


# ----------------------------------------------------------------------------- standardized EPC
def _scales(res) -> list[dict]:
    """Per group: latent SDs (``ETA``), observed variances (``OV2``) and SDs (``OV``),
    from the model-implied moments (lavaan's computeVETA / computeVY)."""
    imp = res.model.implied(res.theta)
    node = res.model.node_index
    out = []
    for gi in imp:
        var = np.diag(gi.C)
        eta2 = {v: var[node[v]] for v in res.model.lv_names}
        ov2 = {v: var[node[v]] for v in res.model.ov_names}
        ov2 = {v: (np.nan if abs(x) < _EPS else x) for v, x in ov2.items()}
        out.append({"ETA": {v: (np.sqrt(x) if x >= 0 else np.nan) for v, x in eta2.items()},
                    "OV2": ov2, "OV": {v: (np.sqrt(x) if x >= 0 else np.nan) for v, x in ov2.items()}})
    return out


def _std_lv(rows: pd.DataFrame, x: np.ndarray, sc: list[dict], lv: set) -> np.ndarray:
    """lavaan's ``lav_standardize_lv`` of the values ``x`` of ``rows`` (cov.std = TRUE)."""
    out = x.astype(float).copy()
    lhs, op, rhs = rows["lhs"].to_numpy(), rows["op"].to_numpy(), rows["rhs"].to_numpy()
    grp = rows["group"].to_numpy()
    for g, s in enumerate(sc, start=1):
        if not lv:
            continue
        E = s["ETA"]
        eta = np.vectorize(lambda v: E.get(v, np.nan), otypes=[float])
        m = grp == g
        rhs_lv, lhs_lv = np.isin(rhs, list(lv)), np.isin(lhs, list(lv))
        i = m & (op == "=~") & ~rhs_lv
        out[i] *= eta(lhs[i])
        i = m & (op == "=~") & rhs_lv
        out[i] = out[i] * eta(lhs[i]) / eta(rhs[i])
        i = m & (op == "~") & lhs_lv
        out[i] /= eta(lhs[i])
        i = m & (op == "~") & rhs_lv
        out[i] *= eta(rhs[i])
        rv = m & (op == "~~") & rhs_lv & (lhs == rhs)
        RV = dict(zip(lhs[rv], np.sqrt(np.abs(x[rv]))))
        out[rv] = out[rv] / eta(lhs[rv]) ** 2
        rvf = np.vectorize(lambda v: RV.get(v, np.nan), otypes=[float])
        i = m & (op == "~~") & lhs_lv & (lhs != rhs)
        out[i] /= rvf(lhs[i])
        i = m & (op == "~~") & rhs_lv & (lhs != rhs)
        out[i] /= rvf(rhs[i])
        i = m & (op == "~1") & lhs_lv
        out[i] /= eta(lhs[i])
    return out


def _std_all(rows: pd.DataFrame, x: np.ndarray, sc: list[dict], lv: set, ov: list, ov_x: list,
             nox: bool) -> np.ndarray:
    """lavaan's ``lav_standardize_all`` (``nox``: ``lav_standardize_all_nox``) of ``x``."""
    out = _std_lv(rows, x, sc, lv)
    lhs, op, rhs = rows["lhs"].to_numpy(), rows["op"].to_numpy(), rows["rhs"].to_numpy()
    grp = rows["group"].to_numpy()
    xs = set(ov_x) if nox else set()
    nox_names = [v for v in ov if v not in set(ov_x)]
    for g, s in enumerate(sc, start=1):
        OV, OV2 = s["OV"], s["OV2"]
        ovv = [OV[v] for v in ov]  # lavaan indexes OV by ov.names order

        def sd(names):
            return np.array([OV.get(v, np.nan) for v in names], float)

        m = grp == g
        lhs_lv, rhs_lv = np.isin(lhs, list(lv)), np.isin(rhs, list(lv))
        lhs_x, rhs_x = np.isin(lhs, list(xs)), np.isin(rhs, list(xs))
        i = m & (op == "=~") & ~rhs_lv
        out[i] /= sd(rhs[i])
        i = m & (op == "~") & np.isin(lhs, ov)
        out[i] /= sd(lhs[i])
        if nox:  # lavaan: OV[match(rhs, ov.names.nox)]
            i = m & (op == "~") & np.isin(rhs, nox_names)
            out[i] *= np.array([ovv[nox_names.index(v)] for v in rhs[i]], float)
        else:
            i = m & (op == "~") & np.isin(rhs, ov)
            out[i] *= sd(rhs[i])
        rv = m & (op == "~~") & ~lhs_lv & ~lhs_x & (lhs == rhs)
        out[rv] /= np.array([OV2.get(v, np.nan) for v in lhs[rv]], float)
        RV = dict(zip(lhs[rv], np.sqrt(np.abs(x[rv]))))
        i = m & (op == "~~") & ~lhs_lv & ~lhs_x & (lhs != rhs)
        out[i] /= np.array([RV.get(v, np.nan) for v in lhs[i]], float)
        i = m & (op == "~~") & ~rhs_lv & ~rhs_x & (lhs != rhs)
        out[i] /= np.array([RV.get(v, np.nan) for v in rhs[i]], float)
        i = m & (op == "~1") & ~lhs_lv & ~lhs_x
        out[i] /= sd(lhs[i])
    return out


def standardized_epc(res, rows: pd.DataFrame, epc: np.ndarray) -> dict[str, np.ndarray]:
    """sepc.lv, sepc.all and sepc.nox of the EPCs of ``rows`` (``cov.std = TRUE``): the
    variances take their estimates, tiny ones give 0, the sign is the EPC's."""
    op, lhs, rhs = rows["op"].to_numpy(), rows["lhs"].to_numpy(), rows["rhs"].to_numpy()
    var = (op == "~~") & (lhs == rhs)
    E = epc.astype(float).copy()
    take = var & (rows["exo"].to_numpy() == 0)
    E[take] = rows["est"].to_numpy()[take]
    small = var & (np.abs(E) < np.sqrt(_EPS))
    E[small] = np.nan
    sign = np.sign(epc)
    pt = res.partable
    sc, lv, ov = _scales(res), set(pt.lv_names), list(pt.ov_names)
    ov_x = list(getattr(pt, "ov_x", []) or [])
    out = {"sepc_lv": sign * _std_lv(rows, np.abs(E), sc, lv),
           "sepc_all": sign * _std_all(rows, np.abs(E), sc, lv, ov, ov_x, nox=False),
           "sepc_nox": sign * _std_all(rows, np.abs(E), sc, lv, ov, ov_x, nox=True)}
    for v in out.values():
        v[small] = 0.0
    return out


# ----------------------------------------------------------------------------- modindices
def fixed_x_index(res) -> list[int]:
    """Positions of the fixed-x covariates (those whose moments are exo rows)."""
    tab = res.partable.table
    exo = set(tab.loc[(tab["exo"] == 1) & (tab["op"] == "~~"), "lhs"])
    return [i for i, v in enumerate(res.partable.ov_names) if v in exo]


def expected_information(obj: Objective, imp: list, x_idx: list[int]) -> np.ndarray:
    """The expected information per case; with fixed-x covariates, the moments among the
    covariates carry no information (lavaan's ``lav_mvnorm_information_expected`` with
    ``x.idx``: their rows and columns of the h1 information are zero), which matters
    for a parameter that moves them, such as a covariate regressed on a latent."""
    if not x_idx:
        return obj.expected_information(imp)
    K = obj.model.n_free
    info = np.zeros((K, K))
    xi = np.ix_(x_idx, x_idx)
    for g, (dS, dm) in enumerate(obj.model.delta(imp)):
        P = np.linalg.inv(imp[g].sigma)
        dS[:, xi[0], xi[1]] = 0.0
        A = np.einsum("ij,kjl->kil", P, dS)
        part = 0.5 * np.einsum("kij,lji->kl", A, A, optimize=True)
        if obj.meanstructure:
            dm[:, x_idx] = 0.0
            part += dm @ P @ dm.T
        info += obj.weights[g] * part
    return info


def _mi_epc(res, ext: Extended) -> tuple[np.ndarray, np.ndarray]:
    """MI and EPC of every parameter of the extended model (lavaan's ``modindices``)."""
    obj = Objective(ext.model, res.samples, fiml=res.objective.fiml)
    f, grad, imp = obj.evaluate(ext.theta)
    info = expected_information(obj, imp, fixed_x_index(res))
    K, N = ext.K, res.objective.N
    I22inv, ok = constrained_inverse(info[:K, :K], res.reparam)
    if not ok:
        raise OptionError("modification indices cannot be computed: the information matrix is singular")
    I12 = info[K:, :K]
    Vd = np.diag(info)[K:] - np.sum((I12 @ I22inv) * I12, axis=1)
    Vd[~(Vd >= _EPS ** (1.0 / 3.0))] = np.nan
    g2 = grad * grad
    mi = np.empty(len(grad))
    with np.errstate(divide="ignore", invalid="ignore"):
        mi[K:] = N * g2[K:] / Vd
        mi[:K] = N * g2[:K] / np.diag(info)[:K]
    d = -N * grad
    d[np.abs(d) < 1e-15] = 1.0
    return mi, mi / d


def _power(mi: np.ndarray, epc: np.ndarray, delta: float, alpha: float, high_power: float) -> dict:
    """Saris, Satorra & van der Veld (2009): the power of the MI test to detect a
    misspecification of size ``delta`` and the five decisions of their Table 6."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ncp = mi / (epc * epc) * delta * delta
    power = stats.ncx2.sf(stats.chi2.ppf(1.0 - alpha, 1), 1, ncp)
    sig = stats.chi2.sf(mi, 1) < alpha
    hp = power > high_power
    high = np.abs(epc) > delta
    ok = np.isfinite(mi) & np.isfinite(power)
    dec = np.full(len(mi), "", dtype=object)
    dec[ok & ~sig & ~hp] = "(i)"
    dec[ok & sig & ~hp] = "**(m)**"
    dec[ok & ~sig & hp] = "(nm)"
    dec[ok & sig & hp & ~high] = "epc:nm"
    dec[ok & sig & hp & high] = "*epc:m*"
    return {"delta": np.full(len(mi), float(delta)), "ncp": ncp, "power": power, "decision": dec}


def modindices(res, *, sort: bool = True, minimum_value: float = 0.0, power: bool = False,
               free_remove: bool = True, na_remove: bool = True, delta: float = 0.1, alpha: float = 0.05,
               high_power: float = 0.75, op=None, maximum_number: int | None = None) -> pd.DataFrame:
    """lavaan 0.6-14 ``modindices()`` (expected information, ``cov.std = TRUE``), for
    ML, MLR and FIML fits (under FIML the expected information sums over the
    missing-data patterns, as lavaan's).

    Returns a DataFrame ``lhs, op, rhs, group, mi, epc, sepc_lv, sepc_all, sepc_nox``
    (``power``: with ``delta, ncp, power, decision``), filtered as lavaan's (``sort``, then
    ``minimum_value``, ``maximum_number``, ``na_remove``, ``op``). ``free_remove=False`` keeps the
    model's free parameters, whose MI (N g^2 / I_kk) says what releasing their equality
    constraints would gain.
    """
    _require_ml(res, "modindices")
    if res.objective.fiml and fixed_x_index(res):
        raise OptionError("modindices under missing='fiml' with fixed-x covariates is not available yet "
                          "(use fixed_x=False or complete data)")
    ext = extended_model(res)
    mi, epc = _mi_epc(res, ext)
    rows = ext.rows
    free = rows["free"].to_numpy() - 1
    out = rows[["lhs", "op", "rhs", "group"]].copy()
    out["mi"], out["epc"] = mi[free], epc[free]
    for k, v in standardized_epc(res, rows, out["epc"].to_numpy()).items():
        out[k] = v
    if power:
        for k, v in _power(out["mi"].to_numpy(), out["epc"].to_numpy(), delta, alpha, high_power).items():
            out[k] = v
    keep = np.ones(len(out), bool)
    if free_remove:
        keep &= rows["user"].to_numpy() == 10
    out = out[keep]
    if sort:
        out = out.sort_values("mi", ascending=False, kind="stable", na_position="last")
    if minimum_value > 0:
        out = out[out["mi"] > minimum_value]
    if maximum_number is not None:
        out = out.head(int(maximum_number))
    if na_remove:
        out = out[out["mi"].notna()]
    if op is not None:
        out = out[out["op"].isin([op] if isinstance(op, str) else list(op))]
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- residuals
_RES_TYPES = {"raw": "raw", "cor": "cor.bollen", "cor.bollen": "cor.bollen", "cor.bentler": "cor.bentler",
              "rmr": "raw", "srmr": "cor.bentler", "crmr": "cor.bollen"}


def _vech_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each element of lavaan's vech (column by column, lower triangle)."""
    r, c = zip(*[(i, j) for j in range(p) for i in range(j, p)])
    return np.array(r), np.array(c)


def _vech_reverse(v: np.ndarray, p: int) -> np.ndarray:
    r, c = _vech_index(p)
    M = np.zeros((p, p))
    M[r, c] = v
    M[c, r] = v
    return M


def _h1_weight(S: np.ndarray, mean: bool) -> np.ndarray:
    """The normal-theory h1 information of (mean, vech(cov)) at ``S``:
    Sigma^-1 (+) 1/2 D'(S^-1 x S^-1) D, in lavaan's order (means first)."""
    p = len(S)
    P = np.linalg.inv(S)
    r, c = _vech_index(p)
    # 1/2 D'(P x P)D in closed form: entry (ij, kl) = m_ij m_kl/2 (P_ik P_jl + P_il P_jk)
    m = np.where(r == c, 1.0, 2.0) / 2.0
    W = 0.5 * (P[np.ix_(r, r)] * P[np.ix_(c, c)] + P[np.ix_(r, c)] * P[np.ix_(c, r)]) * m[:, None] * m[None, :] * 2.0
    if not mean:
        return W
    out = np.zeros((p + len(r), p + len(r)))
    out[:p, :p] = P
    out[p:, p:] = W
    return out


def _rescale(M: np.ndarray, mean: np.ndarray | None, dcov: np.ndarray, dmean: np.ndarray):
    """lavaan's ``lav_residuals_rescale``: a covariance matrix to the correlation metric
    (entries below 1e-5 in absolute value are left as they are), means by the SDs."""
    d = np.where(np.isfinite(dcov) & (dcov >= _EPS), dcov, np.nan)
    sc = np.outer(1.0 / np.sqrt(d), 1.0 / np.sqrt(d))
    sc[np.abs(M) < 1e-5] = 1.0
    out_mean = None
    if mean is not None:
        d2 = np.where(np.isfinite(dmean) & (dmean >= _EPS), dmean, np.nan)
        sm = 1.0 / np.sqrt(d2)
        sm[np.abs(mean) < 1e-5] = 1.0
        out_mean = mean * sm
    return M * sc, out_mean


def _cov2cor_jacobian(S: np.ndarray) -> np.ndarray:
    """d vech(cor(S)) / d vech(S) (lavaan's ``lav_deriv_cov2corB``)."""
    p = len(S)
    r, c = _vech_index(p)
    sd = np.sqrt(np.diag(S))
    R = S / np.outer(sd, sd)
    J = np.zeros((len(r), len(r)))
    pos = {(i, j): k for k, (i, j) in enumerate(zip(r, c))}
    for k, (i, j) in enumerate(zip(r, c)):
        if i == j:
            continue  # a correlation's diagonal is constant
        J[k, k] = 1.0 / (sd[i] * sd[j])
        J[k, pos[(i, i)]] += -0.5 * R[i, j] / S[i, i]
        J[k, pos[(j, j)]] += -0.5 * R[i, j] / S[j, j]
    return J


def _duplication(p: int) -> np.ndarray:
    """lavaan's duplication matrix D (vec(A) = D vech(A)), in the vech order of :func:`_vech_index`."""
    r, c = _vech_index(p)
    D = np.zeros((p * p, len(r)))
    k = np.arange(len(r))
    D[c * p + r, k] = 1.0
    D[r * p + c, k] = 1.0
    return D


def _h1_observed(mean: np.ndarray, cov: np.ndarray, mu: np.ndarray, sigma: np.ndarray, ms: bool) -> np.ndarray:
    """lavaan's ``lav_mvnorm_information_observed_samplestats``: the observed h1 information
    of (mean, vech(cov)) at the structured moments (mu, sigma)."""
    p = len(sigma)
    P = np.linalg.inv(sigma)
    d = mean - mu
    A = P @ (2.0 * (cov + np.outer(d, d)) - sigma) @ P
    D = _duplication(p)
    I22 = 0.5 * D.T @ np.kron(P, A) @ D
    if not ms:
        return I22
    I21 = D.T @ np.kron((P @ d)[:, None], P)
    return np.block([[P, I21.T], [I21, I22]])


def _residual_pieces(res, imp, robust: bool) -> tuple[list, np.ndarray]:
    """Per group (Delta, A1, ACOV of the sample moments) and the model's information A0:
    ML: expected (h1 information at the implied moments, ACOV(s) = W(S)^-1 / N_g); MLR:
    the observed h1 information at the implied moments and the fourth-moment (ADF)
    ACOV(s), as lavaan's ``lav_model_h1_acov`` with robust SEs."""
    model, samples, obj = res.model, res.samples, res.objective
    ms = bool(res.partable.meanstructure)
    r, c = _vech_index(model.p)
    pieces = []
    for g, (dS, dm) in enumerate(model.delta(imp)):
        s = samples[g]
        D = dS[:, r, c].T
        if ms:
            D = np.vstack([dm.T, D])
        if robust:
            A1 = _h1_observed(s.mean, s.cov, imp[g].mu if ms else s.mean, imp[g].sigma, ms)
            dev = s.X - s.mean
            Z = dev[:, r] * dev[:, c]
            Z = np.column_stack([dev, Z]) if ms else Z
            Zc = Z - Z.mean(axis=0)
            acov_obs = (Zc.T @ Zc) / s.nobs / s.nobs
        else:
            A1 = _h1_weight(imp[g].sigma, ms)
            acov_obs = np.linalg.inv(_h1_weight(s.cov, ms)) / s.nobs
        pieces.append((D, A1, acov_obs))
    if robust:
        A0 = sum(obj.weights[g] * D.T @ A1 @ D for g, (D, A1, _) in enumerate(pieces))
    else:
        A0 = obj.expected_information(imp)
    return pieces, A0


def _residual_acov(res, typ: str) -> list[np.ndarray]:
    """lavaan's ``lav_residuals_acov`` (z.type = "standardized", h1.acov = "unstructured"):
    per group the ACOV of the residual vector (means first), Q ACOV(s) Q' with
    Q = I - w_g Delta_g A^-1 Delta_g' A1_g, then to the correlation metric."""
    imp = res.model.implied(res.theta)
    ms = bool(res.partable.meanstructure)
    pieces, A0 = _residual_pieces(res, imp, robust=res.options.get("se") == "robust")
    A0inv, ok = constrained_inverse(A0, res.reparam)
    if not ok:
        raise OptionError("residual standard errors cannot be computed: the information matrix is singular")
    p = res.model.p
    r, c = _vech_index(p)
    out = []
    for g, (D, A1, acov_obs) in enumerate(pieces):
        S = res.samples[g].cov
        Q = np.eye(len(D)) - res.objective.weights[g] * (D @ A0inv @ D.T) @ A1
        acov = Q @ acov_obs @ Q.T
        if typ != "raw":
            ss = 1.0 / np.sqrt(np.diag(S))
            F = np.diag(ss[r] * ss[c]) if typ == "cor.bentler" else _cov2cor_jacobian(S)
            if ms:
                F = np.block([[np.diag(ss), np.zeros((p, len(r)))], [np.zeros((len(r), p)), F]])
            acov = F @ acov @ F.T
        out.append(acov)
    return out


def _rms(stats_: np.ndarray, acov: np.ndarray, pstar: int, name: str, level: float = 0.90,
         h0: float = 0.05) -> dict:
    """lavaan's ``lav_residuals_summary_rms``: the RMS of the residuals, its SE and exact-fit
    test, the unbiased RMS with SE, CI and close-fit test (Maydeu-Olivares 2017). Zero
    residuals (saturated means) give NaN where lavaan's arithmetic gives NaN or Inf."""
    with np.errstate(all="ignore"):
        rms = np.sqrt(np.sum(stats_ ** 2) / np.float64(pstar)) if len(stats_) else np.float64(0.0)
        TR2, TR1 = np.float64(np.trace(acov @ acov)), np.float64(np.trace(acov))
        avar = TR2 / (TR1 * 2.0 * pstar)
        se = np.sqrt(avar) if np.isfinite(avar) and avar >= _EPS else np.nan
        E = np.sqrt(TR1 / pstar) * (4 * TR1 * TR1 - TR2) / (4 * TR1 * TR1)
        z = max(rms - E, 0.0) / se
        T = np.float64(stats_ @ stats_)
        eVe = np.float64(stats_ @ acov @ stats_)
        k = 1.0 - (TR2 + 2.0 * eVe) / (4.0 * T * T)
        u = 1.0 / k * np.sqrt(max(T - TR1, 0.0) / pstar)
        uavar = 1.0 / (k * k) * (TR2 + 2.0 * eVe) / (2.0 * pstar * T)
        use = np.sqrt(uavar) if np.isfinite(uavar) and uavar >= _EPS else np.nan
        q = stats.norm.ppf(1.0 - (1.0 - level) / 2.0)
        uz = (u - h0) / use
    return {name: float(rms), f"{name}_se": float(se), f"{name}_exactfit_z": float(z),
            f"{name}_exactfit_pvalue": float(stats.norm.sf(z)), f"u{name}": float(u), f"u{name}_se": float(use),
            f"u{name}_ci_lower": float(u - q * use), f"u{name}_ci_upper": float(u + q * use),
            f"u{name}_closefit_h0_value": h0, f"u{name}_closefit_z": float(uz),
            f"u{name}_closefit_pvalue": float(stats.norm.sf(uz))}


def _z(a: np.ndarray, se: np.ndarray) -> np.ndarray:
    b = np.where(np.abs(a) < 1e-4, 1.0, se)
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def residuals(res, type: str = "cor.bentler", se: bool = True) -> list[dict]:
    """lavaan 0.6-14 ``lavResiduals()``: per group a dict with ``cov`` (and ``mean`` with a
    mean structure), their SEs and z statistics (``cov_se, cov_z, mean_se, mean_z``) and
    ``summary`` (a DataFrame: rows srmr/usrmr (rmr, crmr) with SEs, tests and CI, columns
    cov, mean, total). ``type``: "raw", "cor" (= "cor.bollen"), "cor.bollen", "cor.bentler"."""
    _require_ml(res, "residuals")
    typ = _RES_TYPES.get(str(type).lower())
    if typ is None:
        raise OptionError(f"residuals type must be 'raw', 'cor', 'cor.bollen' or 'cor.bentler', not {type!r}")
    if res.objective.fiml:
        raise OptionError("residuals under missing='fiml' are not available yet (complete-data ML only)")
    ml = res.options.get("information") == "expected" and res.options.get("se") in ("standard", "none")
    mlr = res.options.get("information") == "observed" and res.options.get("se") == "robust"
    if se and (fixed_x_index(res) or not (ml or mlr) or any(s.X is None for s in res.samples)):
        raise OptionError("residual standard errors and z statistics are available for ML (expected information) "
                          "and MLR fits on raw data without fixed-x covariates; use se=False")
    ms = bool(res.partable.meanstructure)
    names = list(res.partable.ov_names)
    acovs = _residual_acov(res, typ) if se else None
    imp = res.model.implied(res.theta)
    out = []
    for g, s in enumerate(res.samples):
        out.append(_group_residuals(s, imp[g], typ, ms, names, None if acovs is None else acovs[g]))
    return out


def _group_residuals(s, imp, typ: str, ms: bool, names: list, acov) -> dict:
    """The residuals of one group (see :func:`residuals`)."""
    p = len(names)
    Sobs, Sest = s.cov.copy(), imp.sigma.copy()
    mobs, mest = (s.mean.copy(), imp.mu.copy()) if ms else (None, None)
    vobs, vest = np.diag(s.cov).copy(), np.diag(imp.sigma).copy()
    if typ != "raw":
        Sobs, mobs = _rescale(Sobs, mobs, vobs, vobs)
        Sest, mest = _rescale(Sest, mest, vest if typ == "cor.bollen" else vobs, vobs)
    R = Sobs - Sest
    lab = {"raw": "rmr", "cor.bentler": "srmr", "cor.bollen": "crmr"}[typ]
    out = {"type": typ, "cov": pd.DataFrame(R, index=names, columns=names)}
    if ms:
        out["mean"] = pd.Series(mobs - mest, index=names)
    if acov is None:
        return out
    d = np.diag(acov).copy()
    d[~(np.isfinite(d) & (d >= 0))] = np.nan
    off = p if ms else 0
    cse = _vech_reverse(np.sqrt(d[off:]), p)
    out["cov_se"] = pd.DataFrame(cse, index=names, columns=names)
    out["cov_z"] = pd.DataFrame(_z(R, cse), index=names, columns=names)
    r, c = _vech_index(p)
    vr = R[r, c]
    pstar = len(vr) - (p if typ == "cor.bollen" else 0)
    table = {"cov": _rms(vr, acov[off:, off:], pstar, lab)}
    if ms:
        mres = out["mean"].to_numpy()
        out["mean_se"] = pd.Series(np.sqrt(d[:p]), index=names)
        out["mean_z"] = pd.Series(_z(mres, np.sqrt(d[:p])), index=names)
        table["mean"] = _rms(mres, acov[:p, :p], p, lab)
        table["total"] = _rms(np.concatenate([mres, vr]), acov, pstar + p, lab)
    out["summary"] = pd.DataFrame(table)
    return out


# ----------------------------------------------------------------------------- constraints
def _constraint_functions(res, pairs: list[tuple[str, str, int]]):
    """h(theta) = lhs - rhs of each ``lhs == rhs`` (labels, plabels, numbers, arithmetic),
    and its Jacobian by the complex step (lavaan: ``lav_func_jacobian_complex``)."""
    from ..library.partable_steps import compile_known
    from .compile import NameMap

    nm = NameMap(res.partable.table, res.model)
    pos = {n: i for i, n in enumerate(nm.names)}
    funs = [(compile_known(a, pos, line=line or None), compile_known(b, pos, line=line or None))
            for a, b, line in pairs]

    def h(theta):
        vals = nm.fixed.astype(complex if np.iscomplexobj(theta) else float)
        vals[nm.is_free] = theta[nm.free_idx[nm.is_free]]
        v = dict(zip(nm.names, vals))
        return np.array([fl(v) - fr(v) for fl, fr in funs])

    def jac(theta):
        K = len(theta)
        J = np.zeros((len(funs), K))
        for j in range(K):
            t = theta.astype(complex)
            t[j] += 1e-20j
            J[:, j] = np.imag(h(t)) / 1e-20
        return J

    return h, jac


def _bordered_inverse(info: np.ndarray, R: np.ndarray) -> np.ndarray:
    """The first block of the Moore-Penrose inverse of [[I, R'], [R, 0]] (lavaan: the
    information inverted under the constraints R, with ``MASS::ginv``)."""
    K, m = len(info), len(R)
    Z = np.zeros((K + m, K + m))
    Z[:K, :K] = info
    Z[K:, :K] = R
    Z[:K, K:] = R.T
    return np.linalg.pinv(Z, rcond=np.sqrt(_EPS), hermitian=True)[:K, :K]


@dataclass
class ScoreTest:
    """lavaan's ``lavTestScore``: ``total`` (x2, df, p_value of releasing the constraints
    together), ``uni`` (one row per constraint: lhs, op, rhs as lavaan prints them, the two
    parameters it ties by name and group, x2, df, p_value, and ``epc_lhs``/``epc_rhs``: the
    expected change of the two when that constraint alone is released), ``cumulative`` (releasing the
    largest ones one after another) and ``epc`` (the expected change of every parameter
    when the constraints are released, with standardized values)."""

    total: pd.Series
    uni: pd.DataFrame
    cumulative: pd.DataFrame | None = None
    epc: pd.DataFrame | None = None


def _tied(tab: pd.DataFrame, name: str) -> tuple[str, int]:
    """The parameter a constraint side names (a plabel or label): ``lhs op rhs`` and group."""
    rows = tab[((tab["plabel"] == name) | (tab["label"] == name)) & tab["op"].isin(_STRUCT)]
    if not len(rows):
        return name, 0
    r = rows.iloc[0]
    return f"{r.lhs} {r.op} {r.rhs}".strip(), int(r.group)


def score_test(res, release=None, cumulative: bool = False) -> ScoreTest:
    """lavaan 0.6-14 ``lavTestScore(object, release, cumulative, epc = TRUE)`` for the
    ``==`` constraints of a fit (shared labels, ``group_equal``, user constraints):
    N g' J g with g the gradient and J the expected information inverted under the
    constraints that are kept. ``release``: 1-based numbers of the constraints to test
    (default all)."""
    _require_ml(res, "score_test")
    tab = res.partable.table
    cons = tab[tab["op"] == "=="]
    if not len(cons):
        raise OptionError("score_test: the model has no equality constraints ('==', shared labels or group_equal)")
    m = len(cons)
    idx = list(range(m)) if release is None else [int(r) - 1 for r in np.atleast_1d(release)]
    if any(not 0 <= r < m for r in idx):
        raise OptionError(f"score_test: release must number constraints 1..{m}, not {release!r}")
    _, jac = _constraint_functions(res, [(str(r.lhs), str(r.rhs), int(r.line)) for r in cons.itertuples()])
    R = jac(np.asarray(res.theta, float))
    obj = res.objective
    _, grad, imp = obj.evaluate(res.theta)
    info = obj.expected_information(imp)
    N, score = obj.N, -grad

    def stat(released):
        keep = [r for r in range(m) if r not in set(released)]
        J = _bordered_inverse(info, R[keep]) if keep else np.linalg.pinv(info, rcond=np.sqrt(_EPS),
                                                                          hermitian=True)
        return float(N * score @ J @ score), J

    x2, J_all = stat(idx)
    total = pd.Series({"x2": x2, "df": float(len(idx)), "p_value": float(stats.chi2.sf(x2, len(idx)))})
    ts, epcs = np.zeros(m), {}
    for r in idx:
        ts[r], J = stat([r])
        epcs[r] = J @ score
    uni = _score_rows(cons.iloc[idx], tab)
    uni["x2"], uni["df"] = ts[idx], 1.0
    uni["p_value"] = stats.chi2.sf(uni["x2"], 1)
    # the expected change of the two tied parameters when this constraint alone is released
    free_of = _free_index(res)
    for side in ("lhs", "rhs"):
        uni[f"epc_{side}"] = [epcs[r][free_of[n]] if n in free_of else np.nan
                              for r, n in zip(idx, cons[side].astype(str).iloc[idx])]
    cum = None
    if cumulative:
        order = sorted(range(m), key=lambda r: -ts[r])
        row_order = sorted(range(len(idx)), key=lambda k: -ts[idx[k]])
        cum = _score_rows(cons.iloc[[idx[k] for k in row_order]], tab)
        cum["x2"] = [stat(order[: k + 1])[0] for k in range(len(idx))]
        cum["df"] = np.arange(1, len(idx) + 1, dtype=float)
        cum["p_value"] = stats.chi2.sf(cum["x2"], cum["df"])
    return ScoreTest(total=total, uni=uni.reset_index(drop=True),
                     cumulative=None if cum is None else cum.reset_index(drop=True),
                     epc=_score_epc(res, J_all @ score))


def _free_index(res) -> dict[str, int]:
    """plabel or label -> 0-based free-parameter index (free parameters only)."""
    tab = res.partable.table
    out = {}
    for r in tab[tab["free"] > 0].itertuples(index=False):
        for n in (r.plabel, r.label):
            if n and n not in out:
                out[str(n)] = int(r.free) - 1
    return out


def _score_rows(cons: pd.DataFrame, tab: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"lhs": cons["lhs"].astype(str).to_numpy(), "op": "==",
                        "rhs": cons["rhs"].astype(str).to_numpy()})
    for side in ("lhs", "rhs"):
        tied = [_tied(tab, n) for n in out[side]]
        out[f"{side}_parameter"] = [t[0] for t in tied]
        out[f"{side}_group"] = [t[1] for t in tied]
    return out


def _score_epc(res, epc_free: np.ndarray) -> pd.DataFrame:
    """lavaan's ``lavTestScore(..., epc = TRUE)$epc``: est, epc, epv = est + epc and the
    standardized EPCs of every parameter row."""
    tab = res.partable.table
    rows = tab[tab["op"].isin(_STRUCT)].copy()
    free = rows["free"].to_numpy()
    est = np.array([res.theta[f - 1] if f > 0 else fixed_value(r, res.model)
                    for f, r in zip(free, rows.itertuples(index=False))], float)
    epc = np.where(free > 0, epc_free[np.maximum(free, 1) - 1], np.nan)
    out = rows[["lhs", "op", "rhs", "group", "label", "plabel"]].copy()
    out["est"], out["epc"], out["epv"] = est, epc, est + epc
    std_rows = rows[["lhs", "op", "rhs", "group", "exo"]].copy()
    std_rows["est"] = est
    for k, v in standardized_epc(res, std_rows, epc).items():
        out[k] = v
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- Wald test
def _split_constraints(text: str) -> list[tuple[str, str, int]]:
    from ..exceptions import SyntaxModelError

    out = []
    for k, part in enumerate(str(text).replace("\n", ";").split(";"), start=1):
        part = part.split("#")[0].strip()
        if not part:
            continue
        if part.count("==") != 1 or any(o in part.replace("==", "") for o in ("<", ">", "=")):
            raise SyntaxModelError(f"wald: constraint {k} {part!r} must have the form 'lhs == rhs'")
        a, b = (s.strip() for s in part.split("=="))
        if not a or not b:
            raise SyntaxModelError(f"wald: constraint {k} {part!r} must have the form 'lhs == rhs'")
        out.append((a, b, k))
    if not out:
        raise SyntaxModelError("wald: the constraints are empty")
    return out


def wald(res, constraints: str) -> pd.Series:
    """lavaan 0.6-14 ``lavTestWald(object, constraints)``: r' (J V J')^-1 r for the
    constraints r(theta) = lhs - rhs (linear or not; ``;`` or new lines between them) with
    J their Jacobian and V the covariance of the estimates. Returns stat, df, p_value, se."""
    if res.vcov is None:
        raise OptionError("wald needs the covariance matrix of the estimates (this fit has se='none' or a "
                          "singular information matrix)")
    h, jac = _constraint_functions(res, _split_constraints(constraints))
    theta = np.asarray(res.theta, float)
    r, J = h(theta).astype(float), jac(theta)
    V = J @ res.vcov @ J.T
    W = float(r @ np.linalg.solve(V, r))
    return pd.Series({"stat": W, "df": float(len(r)), "p_value": float(stats.chi2.sf(W, len(r))),
                      "se": res.options.get("se")}, dtype=object)


# ----------------------------------------------------------------------------- summary tables
def misfit_summary(res, top: int = 10) -> dict:
    """Where a fit misfits, in three tables (for ``asymtrust diagnose`` and the report):
    ``modindices`` (the ``top`` largest MIs with EPC and SEPC), ``residuals`` (the
    ``top`` item pairs with the largest standardized correlation residuals, lavaan's
    cor.bentler type with z statistics; by |residual| when z is not available) and
    ``score_tests`` (for a model with equality constraints, the univariate score tests,
    largest first; None otherwise). ``notes`` says what could not be computed."""
    notes = []
    mi = modindices(res, sort=True).head(top).reset_index(drop=True)
    se = True
    try:
        resid = residuals(res, type="cor.bentler", se=True)
    except OptionError as exc:
        notes.append(f"residual z statistics: {exc}")
        se = False
        try:
            resid = residuals(res, type="cor.bentler", se=False)
        except OptionError as exc2:
            notes.append(f"residuals: {exc2}")
            resid = []
    rows = []
    for g, rg in enumerate(resid, start=1):
        names = list(rg["cov"].columns)
        R = rg["cov"].to_numpy()
        Z = rg["cov_z"].to_numpy() if se else np.full_like(R, np.nan)
        for j in range(len(names)):
            for i in range(j + 1, len(names)):
                rows.append({"group": g, "lhs": names[j], "rhs": names[i], "cor_residual": R[i, j], "z": Z[i, j]})
    tab = pd.DataFrame(rows, columns=["group", "lhs", "rhs", "cor_residual", "z"])
    key = tab["z"].abs() if se else tab["cor_residual"].abs()
    tab = tab.loc[key.sort_values(ascending=False, kind="stable").index].head(top).reset_index(drop=True)
    score = None
    if (res.partable.table["op"] == "==").any():
        score = score_test(res).uni.sort_values("x2", ascending=False, kind="stable").head(top)
        score = score.reset_index(drop=True)
    return {"modindices": mi, "residuals": tab, "score_tests": score, "notes": notes,
            "srmr": [rg["summary"].loc["srmr", "cov"] for rg in resid] if se else None}
