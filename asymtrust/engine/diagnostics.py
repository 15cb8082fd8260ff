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

Every estimator family is covered (:func:`_kind`): ML, MLR, FIML and Wishart ML; GLS,
WLS and ULS; ordered items (DWLS, WLSMV, ...; thresholds in the parameter vector, the
residuals of the polychoric correlations and thresholds); ordered items with exogenous
covariates (lavaan's conditional.x: the strict.exo list of ``modindices``, the residuals of
the moments given x, :func:`_conditional_residuals`); two-level ML (per level block).
Where lavaan 0.6-14 computes nothing (ULS residual SEs, two-level residual SEs, SEs with
continuous variables among ordered items or with conditional.x) the option is refused with
lavaan's reason.

Each is checked against lavaan 0.6-14 in ``tests/test_diagnostics.py``,
``tests/test_diagnostics_families.py`` and ``tests/test_diagnostics_cx.py``
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
from .estimators.ls import duplication, gls_weight, normal_weight
from .robust import vech_index
from .vcov import constrained_inverse

_STRUCT = ("=~", "~", "~~", "~1")
_EPS = np.finfo(float).eps


def _kind(res) -> str:
    """The estimator family of a fit, as the diagnostics treat it: "ml" (ML, MLR, FIML,
    Wishart ML), "ls" (GLS, WLS, ULS), "ordinal" (DWLS, WLSMV, ... on ordered items),
    "twolevel"."""
    from .estimators.dwls import OrdinalObjective
    from .estimators.ls import LSObjective
    from .estimators.twolevel import TwoLevelObjective

    obj = res.objective
    if type(obj) is Objective:
        return "ml"
    for cls, name in ((OrdinalObjective, "ordinal"), (LSObjective, "ls"), (TwoLevelObjective, "twolevel")):
        if isinstance(obj, cls):
            if getattr(obj, "mstats", None) is not None:  # estimators/twolevel_missing.py
                raise OptionError("diagnostics of a two-level fit with missing='ml' are not available yet")
            return name
    raise OptionError(f"diagnostics are not available for estimator={res.options.get('estimator')!r}")


def _require_fit(res, what: str) -> str:
    """The family (:func:`_kind`) of a fit with estimates."""
    if res.model is None or res.objective is None:
        raise OptionError(f"{what} needs a fitted model (this result has no estimates)")
    return _kind(res)


def _conditional(res) -> bool:
    """A fit of ordered items with exogenous covariates (lavaan's ``conditional.x``)."""
    return getattr(res.objective, "cx", None) is not None


def _objective_for(res, model):
    """The fit's discrepancy function (same samples, same weights) on another model of the
    same variables, e.g. the extended model of :func:`modindices`."""
    obj = res.objective
    kind = _kind(res)
    if kind == "ml":
        return Objective(model, res.samples, fiml=obj.fiml)
    if kind == "ls":
        from .estimators.ls import LSObjective

        return LSObjective(model, res.samples, obj.W)
    if kind == "ordinal":
        from .estimators.dwls import choose_ordinal

        fam = choose_ordinal(res.options.get("estimator"), res.options.get("missing", "listwise"),
                             list(res.options["ordered"]), res.options.get("parameterization", "delta"))
        fam.bind_table(res.partable)  # the family as fit() ran it: its items, its weights
        return fam.objective(model, res.samples)
    from .estimators.twolevel import TwoLevelObjective

    return TwoLevelObjective(model, obj.stats)


def _require_ml(res, what: str) -> None:
    """Factor scores (:mod:`asymtrust.engine.predict`) need a normal-theory ML fit (ML, MLR;
    FIML where stated); the diagnostics here take every family (:func:`_require_fit`)."""
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
def _vnames(pt, g: int, per_block: bool = False) -> dict:
    """lavaan's variable sets of one group (``lavpta$vnames``); ``per_block``: of one
    level block of a two-level table laid out as groups (the variables its rows name)."""
    tab = pt.table[pt.table["group"] == g]
    reg = tab[tab["op"] == "~"]
    lv, ov = list(pt.lv_names), list(pt.ov_names)
    ov_x = [v for v in (getattr(pt, "ov_x", []) or [])]
    ov_ind = [v for v in (getattr(pt, "ov_ind", []) or [])]
    if per_block:
        rows = tab[tab["op"].isin(_STRUCT)]
        used = set(rows["lhs"]) | set(rows["rhs"])
        lv, ov = [v for v in lv if v in used], [v for v in ov if v in used]
        ov_x = [v for v in ov if v in set(rows.loc[(rows["exo"] == 1) & (rows["op"] == "~~"), "lhs"])]
        ov_ind = [v for v in ov if v in set(rows.loc[rows["op"] == "=~", "rhs"])]
    return {"ov": ov, "lv": lv, "ov_x": ov_x, "ov_nox": [v for v in ov if v not in set(ov_x)], "ov_ind": ov_ind,
            "eqs": list(dict.fromkeys(list(reg["lhs"]) + list(reg["rhs"])))}


def _lower(names: list) -> list[tuple[str, str]]:
    """lavaan's lower triangle order: column by column, lhs the column variable."""
    return [(names[j], names[i]) for j in range(len(names)) for i in range(j, len(names))]


def full_rows(pt, per_block: bool = False, strict_exo: bool = False) -> list[tuple[str, str, str, int]]:
    """Every parameter lavaan's ``lav_partable_full`` lists, per group (``per_block``: per
    level block of a two-level table laid out as groups), in its order: loadings of each
    latent on each non-covariate indicator (not on variables in regressions),
    (co)variances of the indicators and of the covariates, latent (co)variances,
    regressions among the variables in regressions, intercepts. ``strict_exo`` (lavaan's
    ``modindices`` with conditional.x): no rows for the covariates' moments and no
    regressions of a covariate."""
    out = []
    for g in range(1, int(pt.ngroups) + 1):
        vn = _vnames(pt, g, per_block)
        eqs, lv = vn["eqs"], vn["lv"]
        eqs_y = [v for v in eqs if v not in set(vn["ov_x"])] if strict_exo else eqs
        rows = [(f, "=~", v) for f in lv for v in vn["ov_nox"] if v not in eqs_y]
        other = set(vn["ov"]) - set(vn["ov_ind"])
        rows += [(a, "~~", b) for a, b in _lower(vn["ov_nox"]) if a not in other and b not in other]
        if not strict_exo:
            rows += [(a, "~~", b) for a, b in _lower(vn["ov_x"])]
        rows += [(a, "~~", b) for a, b in _lower(lv)]
        rows += [(y, "~", x) for y in eqs_y for x in eqs
                 if y != x and not (y in vn["ov_ind"] and x in lv)]
        if pt.meanstructure:
            rows += [(v, "~1", "") for v in (vn["ov_nox"] if strict_exo else vn["ov"]) + lv]
        out += [(a, op, b, g) for a, op, b in rows]
    return out


def _table(res):
    """The fit's parameter table as its RAM model reads it (a two-level fit's: the level
    blocks as groups)."""
    return res.model.partable if _kind(res) == "twolevel" else res.partable


def _param_rows(res) -> pd.DataFrame:
    """The parameter rows of the fit's table (with thresholds and scale factors for
    ordered items)."""
    tab = _table(res).table
    return tab[tab["op"].isin(_STRUCT + (("|", "~*~") if _kind(res) == "ordinal" else ()))]


def _block_levels(res, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of a two-level fit (``group`` = block) with lavaan's group and level; as they are
    for the other fits."""
    if _kind(res) != "twolevel":
        return rows
    tab = res.partable.table
    m = dict(zip(tab["block"].astype(int), zip(tab["group"].astype(int), tab["level"].astype(int))))
    out = rows.copy()
    blocks = rows["group"].astype(int).to_numpy()
    out["group"] = [m[b][0] for b in blocks]
    out.insert(out.columns.get_loc("group") + 1, "level", [m[b][1] for b in blocks])
    return out


def _row_values(res, rows: pd.DataFrame) -> np.ndarray:
    """The value of each row: the estimate of a free parameter, the fixed value of another
    (for ordered items lavaan's ``parameterEstimates``: the delta rule's residual variances)."""
    est = {}
    if _kind(res) == "ordinal":
        e = res.estimates
        est = dict(zip(zip(e["lhs"], e["op"], e["rhs"], e["group"].astype(int)), e["est"].astype(float)))
    return np.array([float(res.theta[int(r.free) - 1]) if int(r.free) > 0 else
                     est.get((r.lhs, r.op, r.rhs, int(r.group)), float(fixed_value(r, res.model)))
                     for r in rows.itertuples(index=False)], float)


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
    pt, model = _table(res), res.model
    struct = _param_rows(res)
    K = model.n_free
    recs, seen = [], set()
    values = _row_values(res, struct)
    for r, val in zip(struct.itertuples(index=False), values):
        free = int(r.free)
        recs.append((r.lhs, r.op, r.rhs, int(r.group), 1 if free > 0 else 10, int(r.exo), val, free))
        seen.add((r.lhs, r.op, r.rhs, int(r.group)))
        if r.op == "~~":
            seen.add((r.rhs, r.op, r.lhs, int(r.group)))  # the same parameter (lavaan: V = 0, dropped)
    for lhs, op, rhs, g in full_rows(pt, per_block=_kind(res) == "twolevel", strict_exo=_conditional(res)):
        if (lhs, op, rhs, g) not in seen:
            seen.add((lhs, op, rhs, g))
            recs.append((lhs, op, rhs, g, 10, 0, 0.0, 0))
    rows = pd.DataFrame(recs, columns=["lhs", "op", "rhs", "group", "user", "exo", "est", "orig_free"])
    free = rows["orig_free"].to_numpy().copy()
    extra = free == 0
    free[extra] = K + np.arange(1, extra.sum() + 1)
    rows["free"] = free
    ext_tab = rows[["lhs", "op", "rhs", "group", "free"]].copy()
    ext_tab["ustart"] = rows["est"].to_numpy()
    ext_tab["exo"] = 0
    ms = bool(pt.meanstructure) or bool((rows["op"] == "~1").any())
    ext_pt = SimpleParTable(ext_tab, list(pt.ov_names), list(pt.lv_names), int(pt.ngroups), ms)
    theta = np.zeros(int(free.max()))
    theta[free - 1] = rows["est"].to_numpy()
    return Extended(rows=rows, model=RamModel(ext_pt), theta=theta, K=K)


# ----------------------------------------------------------------------------- standardized EPC
def _scales(res) -> list[dict]:
    """Per group: latent SDs (``ETA``), observed variances (``OV2``) and SDs (``OV``),
    from the model-implied moments (lavaan's computeVETA / computeVY; ordered items: their
    latent responses)."""
    imp = res.model.implied(res.theta)
    if _kind(res) == "ordinal":  # the latent responses: diag Sigma* (1/Delta^2 under the delta rule)
        imp = res.objective.evaluate(np.asarray(res.theta, float), need_grad=False)[2]
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
        i = m & (op == "|") & ~lhs_lv  # thresholds of ordered items
        out[i] /= sd(lhs[i])
        out[m & (op == "~*~") & ~lhs_lv] = 1.0  # scale factors
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
    if obj.fiml:
        return _fiml_expected_information(obj, imp, x_idx)
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


def _fiml_expected_information(obj: Objective, imp: list, x_idx: list[int]) -> np.ndarray:
    """The expected information under FIML with fixed-x covariates (lavaan's
    ``lav_mvnorm_missing_information_expected`` with ``x.idx``): per group the h1
    information sum_p (n_p / N_g) [P_p (+) 1/2 D'(P_p x P_p) D] over the missing-data
    patterns (P_p the inverse of the pattern's block, embedded with zeros), the moments
    among the covariates zeroed, then sum_g (N_g / N) Delta_g' I_g Delta_g."""
    p = obj.model.p
    r, c = vech_index(p)
    xs = set(x_idx)
    drop = np.concatenate([np.isin(np.arange(p), x_idx), [(i in xs) and (j in xs) for i, j in zip(r, c)]])
    info = 0.0
    for g, (dS, dm) in enumerate(obj.model.delta(imp)):
        s, sigma = obj.samples[g], imp[g].sigma
        D = np.vstack([dm.T, dS[:, r, c].T])
        I1 = np.zeros((len(D), len(D)))
        for pt in s.patterns:
            P = np.zeros((p, p))
            P[np.ix_(pt.obs, pt.obs)] = np.linalg.inv(sigma[np.ix_(pt.obs, pt.obs)])
            I1 += pt.n * normal_weight(P, True)
        I1 /= s.nobs
        I1[drop, :] = 0.0
        I1[:, drop] = 0.0
        info = info + obj.weights[g] * (D.T @ I1 @ D)
    return info


def _theta_scale_information(obj, ext: Extended, imp, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and expected information of the extended model of a conditional.x fit in
    the theta parameterization as lavaan 0.6-14 computes them: its scale factors Delta_j are
    recomputed from the model (``setDeltaElements``), but ``computeDelta`` differentiates the
    statistics in a freed ``~*~`` row as if Delta_j were free: d threshold / d Delta_j =
    tau - mu*_j, d slope / d Delta_j = PI_j (unscaled), 0 for the correlations. Those
    columns replace the objective's (which are 0: a freed scale factor moves nothing)."""
    rows = ext.rows
    scale = rows[(rows["op"] == "~*~") & (rows["user"] == 10)]
    jac = obj.jacobians(imp)
    ov = list(obj.model.ov_names)
    theta = ext.theta
    for r in scale.itertuples(index=False):
        g, k, j = int(r.group) - 1, int(r.free) - 1, ov.index(r.lhs)
        J = jac[g]
        J[:, k] = 0.0
        item = obj.plan["th_item"][g]
        _, mu, PI = obj.reduced(imp[g])
        th = np.flatnonzero(item == j)
        J[th, k] = obj._tau(theta, g)[th] - mu[j]
        y = list(obj.cx["y"])
        ny, nth = len(y), len(item)
        J[nth + np.arange(PI.shape[1]) * ny + y.index(j), k] = PI[y.index(j)]
    grad = grad.copy()
    info = np.zeros((len(theta), len(theta)))
    for g, (J, s) in enumerate(zip(jac, obj.samples)):
        e = s.wls_obs - obj.implied_vector(theta, imp, g)
        WJ = obj.wmul(g, J)
        info += (s.nobs / obj.N) * (J.T @ WJ)
        ks = scale.loc[scale["group"] == g + 1, "free"].to_numpy(int) - 1
        grad[ks] += -2.0 * obj.c[g] * (WJ[:, ks].T @ e)
    return grad, (info + info.T) / 2.0


def _mi_epc(res, ext: Extended) -> tuple[np.ndarray, np.ndarray]:
    """MI and EPC of every parameter of the extended model (lavaan's ``modindices``)."""
    obj = _objective_for(res, ext.model)
    f, grad, imp = obj.evaluate(ext.theta)
    if _conditional(res) and res.options.get("parameterization") == "theta":
        grad, info = _theta_scale_information(obj, ext, imp, grad)
    else:
        info = expected_information(obj, imp, fixed_x_index(res)) if isinstance(obj, Objective) \
            else obj.expected_information(imp)
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
    """lavaan 0.6-14 ``modindices()`` (expected information, ``cov.std = TRUE``) for every
    family: MI = N g^2 / V with g the gradient of the family's fmin and the family's
    expected information (ML, MLR, Wishart ML; FIML: summed over the missing-data
    patterns, with fixed-x covariates their moments zeroed; GLS, WLS, ULS, DWLS, WLSMV,
    ...: sum_g (N_g/N) Delta' W Delta with the estimator's weight W and the gradient of
    its fit function, the (N_g - 1)/N weights included; ordered items: thresholds and scale
    factors in the extended model, the standardized EPCs in the latent-response metric;
    with exogenous covariates lavaan's strict.exo list, the covariates' rows NA, and in the
    theta parameterization its scale-factor columns, :func:`_theta_scale_information`;
    two-level: lavaan's full list per level block, the rows with a ``level`` column).

    Returns a DataFrame ``lhs, op, rhs, group, mi, epc, sepc_lv, sepc_all, sepc_nox``
    (``power``: with ``delta, ncp, power, decision``), filtered as lavaan's (``sort``, then
    ``minimum_value``, ``maximum_number``, ``na_remove``, ``op``). ``free_remove=False`` keeps the
    model's free parameters, whose MI (N g^2 / I_kk) says what releasing their equality
    constraints would gain.
    """
    _require_fit(res, "modindices")
    ext = extended_model(res)
    mi, epc = _mi_epc(res, ext)
    rows = ext.rows
    free = rows["free"].to_numpy() - 1
    out = rows[["lhs", "op", "rhs", "group"]].copy()
    out["mi"], out["epc"] = mi[free], epc[free]
    if _conditional(res):  # conditional.x: the covariates' moments are not in lavaan's model (NA)
        out.loc[rows["exo"].to_numpy() == 1, ["mi", "epc"]] = np.nan
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
    return _block_levels(res, out).reset_index(drop=True)


# ----------------------------------------------------------------------------- residuals
_RES_TYPES = {"raw": "raw", "cor": "cor.bollen", "cor.bollen": "cor.bollen", "cor.bentler": "cor.bentler",
              "rmr": "raw", "srmr": "cor.bentler", "crmr": "cor.bollen"}


def _vech_reverse(v: np.ndarray, p: int) -> np.ndarray:
    r, c = vech_index(p)
    M = np.zeros((p, p))
    M[r, c] = v
    M[c, r] = v
    return M


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
    r, c = vech_index(p)
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


def _h1_observed(mean: np.ndarray, cov: np.ndarray, mu: np.ndarray, sigma: np.ndarray, ms: bool) -> np.ndarray:
    """lavaan's ``lav_mvnorm_information_observed_samplestats``: the observed h1 information
    of (mean, vech(cov)) at the structured moments (mu, sigma)."""
    p = len(sigma)
    P = np.linalg.inv(sigma)
    d = mean - mu
    A = P @ (2.0 * (cov + np.outer(d, d)) - sigma) @ P
    D = duplication(p)
    I22 = 0.5 * D.T @ np.kron(P, A) @ D
    if not ms:
        return I22
    I21 = D.T @ np.kron((P @ d)[:, None], P)
    return np.block([[P, I21.T], [I21, I22]])


def _residual_pieces(res, imp, robust: bool) -> tuple[list, np.ndarray]:
    """Per group (Delta, A1, ACOV of the sample moments) and the model's information A0:
    ML: expected (h1 information at the implied moments, ACOV(s) = W(S)^-1 / N_g); MLR:
    the observed h1 information at the implied moments and the fourth-moment (ADF)
    ACOV(s), as lavaan's ``lav_model_h1_acov`` with robust SEs; FIML: the observed
    information of the incomplete-data saturated model (at the implied moments; inverted at
    the EM moments for ACOV(s)); GLS, WLS: the estimator's weight matrix."""
    from . import robust as rb

    model, samples, obj = res.model, res.samples, res.objective
    ms = bool(res.partable.meanstructure)
    r, c = vech_index(model.p)
    pieces = []
    ls = _kind(res) == "ls"
    fiml = not ls and obj.fiml
    if fiml:  # robust.py orders the saturated moments (vech Sigma, mu); lavaan's residuals (mu, vech Sigma)
        pstar = len(r)
        order = np.concatenate([np.arange(pstar, pstar + model.p), np.arange(pstar)])
        h1 = rb.h1_pieces(samples, True)[1]
    for g, (dS, dm) in enumerate(model.delta(imp)):
        s = samples[g]
        D = dS[:, r, c].T
        if ms:
            D = np.vstack([dm.T, D])
        if ls:  # GLS, WLS: lavaan's h1 information is the estimator's weight W, ACOV(s) = W^-1 / N_g
            A1 = obj.W[g]
            acov_obs = np.linalg.inv(A1) / s.nobs
        elif fiml:
            # the observed information of the incomplete-data saturated model at the implied
            # moments; ACOV of the EM moments: its inverse at them (/ N_g), with MLR the sandwich
            A1 = rb.saturated_information(s, imp[g].sigma, imp[g].mu, True, observed=True)[np.ix_(order, order)]
            _, Hinv, B1 = (x[np.ix_(order, order)] for x in h1[g])
            acov_obs = (Hinv @ B1 @ Hinv if robust else Hinv) / s.nobs
        elif robust:
            A1 = _h1_observed(s.mean, s.cov, imp[g].mu if ms else s.mean, imp[g].sigma, ms)
            dev = s.X - s.mean
            Z = dev[:, r] * dev[:, c]
            Z = np.column_stack([dev, Z]) if ms else Z
            Zc = Z - Z.mean(axis=0)
            acov_obs = (Zc.T @ Zc) / s.nobs / s.nobs
        else:
            A1 = gls_weight(imp[g].sigma, ms)
            acov_obs = np.linalg.inv(gls_weight(s.cov, ms)) / s.nobs
        pieces.append((D, A1, acov_obs))
    if (robust or fiml) and not ls:  # lavaan's observed.information = "h1"
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
    r, c = vech_index(p)
    out = []
    for g, (D, A1, acov_obs) in enumerate(pieces):
        S = res.samples[g].cov
        Q = np.eye(len(D)) - (res.samples[g].nobs / res.objective.N) * (D @ A0inv @ D.T) @ A1
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
    cov, mean, total). ``type``: "raw", "cor" (= "cor.bollen"), "cor.bollen", "cor.bentler".
    ML and MLR; FIML (h1 = the EM moments, lavaan's observed information); GLS and WLS (the
    estimator's weight as h1 information; ULS: without SEs, as lavaan cannot invert its);
    ordered items (:func:`_ordinal_residuals`; with exogenous covariates lavaan's
    conditional.x layout, :func:`_conditional_residuals`); two-level (:func:`_twolevel_residuals`)."""
    kind = _require_fit(res, "residuals")
    typ = _RES_TYPES.get(str(type).lower())
    if typ is None:
        raise OptionError(f"residuals type must be 'raw', 'cor', 'cor.bollen' or 'cor.bentler', not {type!r}")
    if kind == "ordinal":
        return _ordinal_residuals(res, typ, se)
    if kind == "twolevel":
        return _twolevel_residuals(res, typ, se)
    fiml = kind == "ml" and res.objective.fiml
    if kind == "ls" and se and res.options.get("estimator") == "ULS":
        raise OptionError("residual standard errors are not available for estimator ULS (lavaan 0.6-14: 'could "
                          "not invert h1 information matrix', its ULS weight is not a matrix); use se=False")
    ml = res.options.get("information") == "expected" and res.options.get("se") in ("standard", "none")
    mlr = res.options.get("information") == "observed" and res.options.get("se") == "robust"
    if fiml:  # lavaan: the observed information (its default under missing="ml"), SEs standard or robust
        ml = False
        mlr = res.options.get("information") == "observed" and res.options.get("se") in ("standard", "robust")
    raw = kind == "ls" or fiml or not any(s.X is None for s in res.samples)  # LS: W; FIML: the patterns
    if se and (fixed_x_index(res) or not (ml or mlr) or not raw):
        raise OptionError("residual standard errors and z statistics are available for ML (expected information), "
                          "MLR, FIML (observed information), GLS and WLS fits on raw data without fixed-x "
                          "covariates; use se=False")
    ms = bool(res.partable.meanstructure)
    names = list(res.partable.ov_names)
    acovs = _residual_acov(res, typ) if se else None
    imp = res.model.implied(res.theta)
    out = []
    for g, s in enumerate(res.samples):
        out.append(_group_residuals(s, imp[g], typ, ms, names, None if acovs is None else acovs[g]))
    return out


def _ordinal_residuals(res, typ: str, se: bool) -> list[dict]:
    """``lavResiduals`` of a fit on ordered items (lavaan 0.6-14): per group the residual
    polychoric correlations ``cov`` (R - Sigma*, the diagonal 0; the same for every type,
    as both matrices have unit diagonals; continuous variables among the items rescaled by
    type as in :func:`residuals`), ``mean`` (zeros; continuous variables: their mean
    residuals) and the threshold residuals ``th``; their SEs and z statistics from Q (NACOV / N) Q' with
    Q = I - (N_g/N) Delta E^-1 Delta' W (W the estimator's weight, E its expected
    information; lavaan divides every group's NACOV by the total N); the summary columns
    ``cor`` (p* = p(p-1)/2 + p for rmr/srmr, p(p-1)/2 for crmr), ``thresholds`` and
    ``total`` (lavaan lists the total's residuals as (cor, th) against an ACOV in the
    order (th, cor), which moves only its unbiased estimate; kept as lavaan computes it).
    With continuous variables among the items lavaan reports no SEs, z or summary."""
    obj = res.objective
    if obj.cx is not None:
        return _conditional_residuals(res, typ, se)
    names = list(res.partable.ov_names)
    p = len(names)
    mixed = len(obj.plan["num_idx"]) > 0
    if se and mixed:
        raise OptionError("residual standard errors for ordered items with continuous variables are not "
                          "available (lavaan 0.6-14: 'SE for cor.bentler not available (yet) if ... some "
                          "endogenous variables are continuous'); use se=False")
    f, _, imp = obj.evaluate(np.asarray(res.theta, float), need_grad=False)
    if se:
        Einv, ok = constrained_inverse(obj.expected_information(imp), res.reparam)
        if not ok:
            raise OptionError("residual standard errors cannot be computed: the information matrix is singular")
        jac = obj.jacobians(imp)
    lab = {"raw": "rmr", "cor.bentler": "srmr", "cor.bollen": "crmr"}[typ]
    out = []
    for g, s in enumerate(res.samples):
        est = obj.implied_vector(np.asarray(res.theta, float), imp, g)
        nth, num = len(s.th), obj.plan["num_idx"]
        Sig = np.eye(p)
        Sig[num, num] = est[nth:nth + len(num)]
        Sig[obj.r, obj.cc] = Sig[obj.cc, obj.r] = est[nth + len(num):]
        th_all = s.wls_obs[:nth] - est[:nth]
        th_names = list(s.first.th_names)
        is_th = np.array(["|" in n for n in th_names])
        mobs, mest = np.zeros(p), np.zeros(p)  # continuous variables: their means (-mean among the thresholds)
        slot = {n: k for k, n in enumerate(th_names)}
        for i in num:
            k = slot[f"{names[i]}~1"]
            mobs[i], mest[i] = -s.wls_obs[k], -est[k]
        Sobs, Sest = s.cov.copy(), Sig
        if typ != "raw":  # continuous variables to the correlation metric (ordered items have unit variances)
            vobs = np.diag(s.cov).copy()
            Sobs, mobs = _rescale(Sobs, mobs, vobs, vobs)
            Sest, mest = _rescale(Sest, mest, np.diag(Sig) if typ == "cor.bollen" else vobs, vobs)
        R = Sobs - Sest
        th = th_all[is_th]
        th_names = [n for n, t in zip(th_names, is_th) if t]
        rg = {"type": typ, "cov": pd.DataFrame(R, index=names, columns=names),
              "mean": pd.Series(mobs - mest, index=names), "th": pd.Series(th, index=th_names)}
        if se:
            D, W = jac[g], obj.W[g]
            Q = np.eye(len(D)) - (s.nobs / obj.N) * (D @ Einv @ D.T) @ W
            acov = Q @ (s.nacov / obj.N) @ Q.T
            d = np.diag(acov).copy()
            d[~(np.isfinite(d) & (d >= 0))] = np.nan
            cse = np.zeros((p, p))
            cse[obj.r, obj.cc] = cse[obj.cc, obj.r] = np.sqrt(d[nth:])
            rg["cov_se"] = pd.DataFrame(cse, index=names, columns=names)
            rg["cov_z"] = pd.DataFrame(_z(R, cse), index=names, columns=names)
            rg["th_se"] = pd.Series(np.sqrt(d[:nth]), index=th_names)
            rg["th_z"] = pd.Series(_z(th, np.sqrt(d[:nth])), index=th_names)
            vr = R[obj.r, obj.cc]
            extra = 0 if typ == "cor.bollen" else p
            rg["summary"] = pd.DataFrame({
                "cor": _rms(vr, acov[nth:, nth:], len(vr) + extra, lab),
                "thresholds": _rms(th, acov[:nth, :nth], nth, lab),
                "total": _rms(np.concatenate([vr, th]), acov, len(vr) + nth + extra, lab)})
        out.append(rg)
    return out


def _twolevel_residuals(res, typ: str, se: bool) -> list[dict]:
    """``lavResiduals`` of a two-level fit (lavaan 0.6-14: no SEs, z statistics or
    summary): per group and level (``group``, ``level``: "within" or "between") the
    residual covariances and means of the level's variables, h1 (the saturated model's
    EM moments of the level) minus the implied moments of the level's block."""
    if se:
        raise OptionError("residual standard errors are not available for two-level fits (lavaan 0.6-14 "
                          "computes none for multilevel data); use se=False")
    from .estimators.twolevel import level_sets

    names = list(res.partable.ov_names)
    imp = res.model.implied(res.theta)
    out = []
    for g, (h1, cs, lv) in enumerate(zip(res.objective.h1, res.objective.stats, level_sets(res.partable))):
        y, b = list(cs.y_idx), list(cs.b_idx)
        levels = (("within", lv.lev1, y, h1.sigma_w, h1.mu_w), ("between", lv.lev2, b, h1.sigma_b, h1.mu_b))
        for k, (label, idx, order, S, m) in enumerate(levels):
            pos = [order.index(i) for i in idx]  # the saturated moments are in the level's own order
            obs = _Moments(cov=S[np.ix_(pos, pos)], mean=m[pos])
            gi = imp[2 * g + k]
            fitted = _Moments(sigma=gi.sigma[np.ix_(idx, idx)], mu=gi.mu[idx])
            rg = _group_residuals(obs, fitted, typ, True, [names[i] for i in idx], None)
            out.append({"group": g + 1, "level": label, **rg})
    return out


class _Moments:
    """Moments handed to :func:`_group_residuals` (``cov``/``mean`` or ``sigma``/``mu``)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


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
    r, c = vech_index(p)
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



def _conditional_residuals(res, typ: str, se: bool) -> list[dict]:
    """``lavResiduals`` of a fit of ordered items with exogenous covariates (lavaan 0.6-14's
    conditional.x layout, without SEs, z statistics or summary: lavaan computes none): per
    group the residual covariances given x ``cov`` (the polychoric residual correlations of
    the items, the covariances of continuous variables; rescaled by type with the diagonal
    of the observed, or for cor.bollen the implied, residual covariance), the intercepts
    ``mean`` (0 - mu* for items), the thresholds ``th``, the slopes ``slopes`` (endogenous x
    covariates; the implied ones Delta PI) and the covariates' moments ``cov_x``/``mean_x``
    (zero: fixed at their sample values)."""
    if se:
        raise OptionError("residual standard errors for ordered items with exogenous covariates are not "
                          "available (lavaan 0.6-14 computes none with conditional.x); use se=False")
    obj = res.objective
    ov = list(res.partable.ov_names)
    y, x = obj.cx["y"], obj.cx["x"]
    ny, nx = len(y), len(x)
    ypos = {int(v): k for k, v in enumerate(y)}
    theta = np.asarray(res.theta, float)
    imp = obj.evaluate(theta, need_grad=False)[2]
    num = [int(i) for i in obj.plan["num_idx"]]
    out = []
    for g, s in enumerate(res.samples):
        est = obj.implied_vector(theta, imp, g)
        D = obj.scale(imp, g)
        sig, mu = obj.reduced(imp[g])[:2]
        th_names = list(s.first.th_names)
        nth = len(th_names)
        Sest = (D[:, None] * sig * D[None, :])[np.ix_(y, y)]  # lavaan's computeSigmaHat(delta = TRUE)
        Sobs = np.asarray(s.res_cov, float).copy()
        mest = mu[y].copy()  # the items' mu* (their intercepts: 0 unless moved), continuous: mu*
        mobs = np.zeros(ny)
        slot = {n: k for k, n in enumerate(th_names)}
        for i in num:
            mobs[ypos[i]] = -s.wls_obs[slot[f"{ov[i]}~1"]]
        if typ != "raw":
            vobs = np.diag(Sobs).copy()
            Sobs, mobs = _rescale(Sobs, mobs, vobs, vobs)
            Sest, mest = _rescale(Sest, mest, np.diag(Sest) if typ == "cor.bollen" else vobs, vobs)
        is_th = np.array(["|" in n for n in th_names])
        th = (s.wls_obs[:nth] - est[:nth])[is_th]
        sl = (s.wls_obs[nth:nth + ny * nx] - est[nth:nth + ny * nx]).reshape(nx, ny).T
        yn, xn = [ov[i] for i in y], [ov[i] for i in x]
        out.append({"type": typ, "cov": pd.DataFrame(Sobs - Sest, index=yn, columns=yn),
                    "mean": pd.Series(mobs - mest, index=yn),
                    "th": pd.Series(th, index=[n for n, t in zip(th_names, is_th) if t]),
                    "slopes": pd.DataFrame(sl, index=yn, columns=xn),
                    "cov_x": pd.DataFrame(np.zeros((nx, nx)), index=xn, columns=xn),
                    "mean_x": pd.Series(np.zeros(nx), index=xn)})
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
    constraints that are kept (every family, with its own information and gradient as in
    :func:`modindices`). ``release``: 1-based numbers of the constraints to test (default
    all). The EPCs follow lavaan's ``gradient.logl``: minus the ML gradient, but the
    least-squares and two-level gradients as they are, so their signs are lavaan's."""
    kind = _require_fit(res, "score_test")
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
    # lavaan's "gradient.logl": minus the gradient of fmin for ML, the gradient itself for the
    # least-squares estimators (so their EPCs carry the opposite sign, as lavaan's)
    N, score = obj.N, (-grad if kind == "ml" else grad)

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
    rows = _param_rows(res).copy()
    free = rows["free"].to_numpy()
    est = _row_values(res, rows)
    epc = np.where(free > 0, epc_free[np.maximum(free, 1) - 1], np.nan)
    out = rows[["lhs", "op", "rhs", "group", "label", "plabel"]].copy()
    out["est"], out["epc"], out["epv"] = est, epc, est + epc
    std_rows = rows[["lhs", "op", "rhs", "group", "exo"]].copy()
    std_rows["est"] = est
    for k, v in standardized_epc(res, std_rows, epc).items():
        out[k] = v
    return _block_levels(res, out).reset_index(drop=True)


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
        why = str(exc).split("; use se=False")[0]  # the API's advice is what this summary does next
        notes.append(f"residual z statistics are not shown (the residuals are ranked by size): {why}")
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
                rows.append({"group": rg.get("group", g), "level": rg.get("level"), "lhs": names[j], "rhs": names[i],
                             "cor_residual": R[i, j], "z": Z[i, j]})
    cols = ["group", "lhs", "rhs", "cor_residual", "z"]
    if any(r["level"] is not None for r in rows):  # two-level fits: per level
        cols.insert(1, "level")
    tab = pd.DataFrame(rows, columns=cols)
    key = tab["z"].abs() if se else tab["cor_residual"].abs()
    tab = tab.loc[key.sort_values(ascending=False, kind="stable").index].head(top).reset_index(drop=True)
    score = None
    if (res.partable.table["op"] == "==").any():
        score = score_test(res).uni.sort_values("x2", ascending=False, kind="stable").head(top)
        score = score.reset_index(drop=True)
    return {"modindices": mi, "residuals": tab, "score_tests": score, "notes": notes,
            "srmr": [rg["summary"].loc["srmr"].iloc[0] for rg in resid] if se else None}  # cov (ordinal: cor)
