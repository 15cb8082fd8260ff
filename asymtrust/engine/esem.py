"""ESEM: ``efa("set")*`` blocks estimated inside :func:`asymtrust.fit`, as lavaan 0.6-14's ``sem()``.

The parameter table identifies each efa set as lavaan does (the unrotated, echelon
solution: factor variances 1, the upper triangle of the set's first loadings and the
set's factor covariances fixed at 0, those rows marked ``user = 7``;
``library/partable_steps.efa_constraints``). ``fit()`` estimates that model as any other,
then (:func:`rotate_fit`):

1. **rotation** (lavaan's ``lav_model_efa_rotate_x``): per group and efa set with two or
   more factors, the set's loadings A and the implied variances diag(A A' + Theta) of its
   indicators go to :func:`asymtrust.engine.rotation.rotate` (the criterion, lavaan's
   epsilon and random starts, reflection and column order), whose rotation matrix ROT
   fills the set's block of H. With v_new = M v for the RAM nodes (M = I except H' on the
   set's factors), A_new = M A M^-1, S_new = M S M' and m_new = M m: lavaan's
   Lambda H^-T, H' Psi H, H' B H^-T and H' alpha, so every regression and covariance
   involving the set's factors is transformed too. The implied moments, and hence every
   fit measure, do not change.
2. **standard errors** (lavaan's ``rotation.se = "bordered"``): the ``user = 7`` rows are
   freed (lavaan's ``PT.new``), the family's information of that model is taken at the
   rotated values and bordered by the numerical Jacobian of the rotation's stationarity
   conditions (``lav_model_efa_rotate_border_x``, :func:`asymtrust.engine.rotation.border_constraints`)
   and of the linear ``==`` constraints, and inverted as
   ``lav_model_information_augment_invert`` (Moore-Penrose inverse, tolerance eps^3/4);
   robust SEs put the first-order information of the freed model between two such inverses.
3. **estimates**: the freed model's estimates table at the rotated values (the
   ``user = 7`` rows get SEs, as in lavaan), with the original ``free`` column.

``fit()`` keeps the unrotated parameter vector, covariance matrix and model on the
result (``theta``, ``vcov``, ``model``: diagnostics such as modification indices work on
the estimated, identified model, as lavaan's ``vcov()`` of an ESEM); ``estimates`` carries
the rotated solution and ``estimates.attrs["rotation"]`` the rotation's details.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from ..exceptions import OptionError
from .compile import Compiled, NameMap, _constraint_reparam, _split_constraints
from .estimators.base import Solution
from .model import RamModel
from .rotation import RotationOptions, border_constraints, numeric_jacobian, rotate, rotation_options
from .standardize import Standardizer

_EPS34 = np.finfo(float).eps ** 0.75


# ----------------------------------------------------------------------------- the efa sets
@dataclass
class EfaSet:
    """One efa set in one group: its indicators and factors in lavaan's order
    (``ov.efa.idx``, ``lv.efa.idx``: order of first appearance in the set's rows)."""

    name: str
    group: int  # 0-based
    ovs: list
    lvs: list
    identified_by_zeros: bool  # the set has user = 7 rows (lavaan borders only those)


def has_efa(pt) -> bool:
    if hasattr(type(pt), "has_efa"):  # a ParTable: computed once per table
        return bool(pt.has_efa)
    tab = pt.table
    return "efa" in tab.columns and bool(tab["efa"].fillna("").ne("").any())


def efa_sets(pt) -> list[EfaSet]:
    tab = pt.table
    rows = tab[(tab["op"] == "=~") & tab["efa"].fillna("").ne("")]
    names = list(dict.fromkeys(rows["efa"]))
    out = []
    for g in sorted(set(int(x) for x in rows["group"])):
        for s in names:
            r = rows[(rows["group"] == g) & (rows["efa"] == s)]
            if len(r):
                out.append(EfaSet(str(s), g - 1, list(dict.fromkeys(r["rhs"])), list(dict.fromkeys(r["lhs"])),
                                  bool((r["user"] == 7).any())))
    return out


def rotation_for(pt, options: dict, se: str) -> RotationOptions | None:
    """The rotation of a model with efa sets (lavaan's ``rotation``, ``rotation.args``;
    default geomin), None for a model without. ``rotation=`` other than lavaan's default
    and any ``rotation_args`` are refused (typed) for a model without efa sets; so are
    efa sets the engine cannot rotate as lavaan does (loadings equal across groups,
    bootstrap SEs, a target of the wrong shape). Ordered items are rotated as lavaan does:
    their residual variances are the family's (the delta rule: 1 - communality)."""
    method, args = options.get("rotation"), options.get("rotation_args")
    if not has_efa(pt):
        if method not in (None, "geomin"):
            raise OptionError(f"option rotation={method!r} applies to efa() sets only, and the model has none "
                              "(write efa(\"set\")*f1 + efa(\"set\")*f2 =~ ..., or use asymtrust.efa())")
        if args:
            raise OptionError("option rotation_args applies to efa() sets only, and the model has none")
        options.pop("rotation", None)  # lavaan's default, a no-op: not reported on the result
        options.pop("rotation_args", None)
        return None
    if args is not None and not isinstance(args, dict):
        raise OptionError(f"rotation_args must be a dict of lavaan's rotation.args, not {type(args).__name__}")
    if getattr(pt, "__dict__", {}).get("_ordinal_family") and len({s.group for s in efa_sets(pt)}) > 1:
        raise OptionError("efa() sets with ordered items in more than one group are not supported yet (checked "
                          "against lavaan with one group only); fit each group separately or the items as continuous")
    shared = sorted({s.name for s in efa_sets(pt) if len(s.lvs) >= 2 and not s.identified_by_zeros})
    if shared:
        raise OptionError(f"efa() set(s) {', '.join(shared)}: loadings equal across groups (group_equal='loadings' "
                          "or shared labels) are not supported yet: lavaan 0.6-14 then frees the factor (co)variances "
                          "of the later groups, and asymtrust's parameter table does not")
    if se == "bootstrap":
        raise OptionError("se='bootstrap' with efa() sets is not supported (the replicates would need the "
                          "rotation each); use se='standard' or 'robust'")
    args = {str(k).replace(".", "_"): v for k, v in (args or {}).items()}
    opts = rotation_options(method or "geomin", **args)
    if opts.method == "target":
        for s in efa_sets(pt):
            if len(s.lvs) >= 2 and opts.target.shape != (len(s.ovs), len(s.lvs)):
                raise OptionError(f"rotation_args target is {opts.target.shape[0]} x {opts.target.shape[1]}, but efa "
                                  f"set {s.name!r} has {len(s.ovs)} indicators and {len(s.lvs)} factors")
    return opts


# ----------------------------------------------------------------------------- start values
def extraction_ml(S: np.ndarray, m: int, min_var: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """lavaan's ``lav_efa_extraction(method = "ML", corner = TRUE, reflect = FALSE,
    order.lv.by = "index")``, the start of an efa set's loadings and residual variances:
    the concentrated ML factor analysis of the correlation matrix in psi = sqrt(uniqueness)
    (bounded to [1e-4, 1]), loadings from the m smallest eigenvalues of Psi R^-1 Psi,
    turned to echelon form by the Cholesky factor of their first m rows."""
    sv = np.diag(S)
    w, V = np.linalg.eigh((S + S.T) / 2.0)
    S = (V * np.maximum(w, 1e-8 * max(w.max(), 0.0))) @ V.T  # lav_matrix_symmetric_force_pd
    d = 1.0 / np.sqrt(np.diag(S))
    Ri = np.linalg.inv(S * np.outer(d, d))
    p = len(S)

    def f(psi):
        g = np.linalg.eigvalsh(Ri * np.outer(psi, psi))[m:]
        return float(np.sum(np.log(g) + 1.0 / g - 1.0))

    x0 = np.clip(np.sqrt((1.0 - m / (2.0 * p)) / np.diag(Ri)), min_var, 1.0)
    psi = optimize.minimize(f, x0, method="L-BFGS-B", bounds=[(min_var, 1.0)] * p,
                            options={"maxiter": 10000, "ftol": 1e-15, "gtol": 1e-10}).x
    gam, vec = np.linalg.eigh(Ri * np.outer(psi, psi))
    lam = psi[:, None] * vec[:, :m] * np.sqrt(np.maximum(1.0 / gam[:m] - 1.0, 0.0))
    lam = np.sqrt(sv)[:, None] * lam
    head = lam[:m]
    lam = lam @ np.linalg.solve(head, np.linalg.cholesky(head @ head.T))
    lam = lam * np.where(np.diag(lam) < 0, -1.0, 1.0)
    big = np.abs(lam).max(axis=0)
    order = np.argsort([np.mean(np.nonzero(np.abs(lam[:, j]) >= 0.8 * big[j])[0]) for j in range(m)], kind="stable")
    return lam[:, order], psi * psi * sv


def efa_start(pt, samples, theta0: np.ndarray) -> np.ndarray:
    """lavaan's start values of the efa sets (``lav_start``): per group and set the ML
    extraction of the indicators' sample covariance matrix fills the set's free loadings
    and the indicators' free residual variances; the other start values stay."""
    tab = pt.table
    out = np.array(theta0, float, copy=True)
    ov = list(pt.ov_names)
    for s in efa_sets(pt):
        S = getattr(samples[s.group], "cov", None)
        if S is None or len(s.ovs) <= len(s.lvs):
            continue
        oi = [ov.index(v) for v in s.ovs]
        try:
            lam, th = extraction_ml(np.asarray(S)[np.ix_(oi, oi)], len(s.lvs))
        except (np.linalg.LinAlgError, ValueError):
            continue
        g = tab[tab["group"] == s.group + 1]
        for j, f in enumerate(s.lvs):
            for i, v in enumerate(s.ovs):
                r = g[(g["lhs"] == f) & (g["op"] == "=~") & (g["rhs"] == v) & (g["free"] > 0)]
                if len(r) and np.isfinite(lam[i, j]):
                    out[int(r["free"].iloc[0]) - 1] = lam[i, j]
        for i, v in enumerate(s.ovs):
            r = g[(g["lhs"] == v) & (g["op"] == "~~") & (g["rhs"] == v) & (g["free"] > 0)]
            if len(r) and np.isfinite(th[i]):
                out[int(r["free"].iloc[0]) - 1] = th[i]
    return out


# ----------------------------------------------------------------------------- rotation
def residual_matrices(model: RamModel, obj=None):
    """theta -> per group the RAM S matrix whose diagonal holds the residual variances
    lavaan's rotation sees (``computeTHETA`` after ``lav_model_set_parameters``): the
    table's, or for ordered items in the delta parameterization the ones the family's
    ``adjust`` sets (1/Delta^2 minus the explained variance)."""
    adjust = getattr(obj, "adjust", None)
    if adjust is None:
        return lambda theta: [model.matrices(theta, g)[1] for g in range(model.ngroups)]
    from .estimators.dwls import ImpliedList

    return lambda theta: [gi.S for gi in adjust(ImpliedList(model.implied(theta), theta))]


def _node_ix(model: RamModel, s: EfaSet) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([model.node_index[v] for v in s.ovs]), np.array([model.node_index[f] for f in s.lvs]))


def rotation_matrices(model: RamModel, theta: np.ndarray, sets: list[EfaSet], opts: RotationOptions, obj=None):
    """Per group the node transformation M (H' on each set's factors) and the rotations
    (``obj``: the family's objective, for the residual variances of ordered items)."""
    Ms, rots = [], []
    resid = residual_matrices(model, obj)(theta)
    for g in range(model.ngroups):
        A, _, _ = model.matrices(theta, g)
        S = resid[g]
        M = np.eye(model.nvar)
        for s in sets:
            if s.group != g or len(s.lvs) < 2:
                continue  # lavaan: a set with one factor is not rotated
            oi, li = _node_ix(model, s)
            lam = A[np.ix_(oi, li)]
            ov_var = np.sum(lam * lam, axis=1) + np.diag(S[np.ix_(oi, oi)])
            rot = rotate(lam, ov_var, opts)
            M[np.ix_(li, li)] = rot.rot.T
            rots.append((s, rot))
        Ms.append(M)
    return Ms, rots


def rotated_theta(model: RamModel, theta: np.ndarray, new_model: RamModel, Ms: list) -> np.ndarray:
    """The freed model's parameter vector at the rotated matrices of ``model`` at ``theta``
    (parameters outside the RAM matrices, such as thresholds, are carried over unchanged)."""
    out = np.zeros(new_model.n_free)
    old_free = model.partable.table["free"].to_numpy()
    new_free = new_model.partable.table["free"].to_numpy()
    if len(old_free) == len(new_free):
        keep = (old_free > 0) & (new_free > 0)
        out[new_free[keep].astype(int) - 1] = np.asarray(theta, float)[old_free[keep].astype(int) - 1]
    for g, M in enumerate(Ms):
        A, S, m = model.matrices(theta, g)
        Mi = np.linalg.inv(M)
        A, S, m = M @ A @ Mi, M @ S @ M.T, M @ m
        gs = new_model.groups[g]
        out[gs.a_par] = A.flat[gs.a_pos]
        out[gs.s_sym_par] = S.flat[gs.s_sym_pos]
        out[gs.m_par] = m[gs.m_pos]
    return out


# ----------------------------------------------------------------------------- the freed model
def freed_table(pt, orthogonal: bool):
    """lavaan's ``PT.new``: the ``user = 7`` (and 77) rows free (oblique: also the set's factor
    covariances; orthogonal rotations keep them at 0), ``free`` renumbered in row order."""
    tab = pt.table.copy()
    free7 = tab["user"].isin([7, 77])
    if orthogonal:
        free7 &= tab["op"].eq("=~")
    tab.loc[free7, "free"] = 1
    pos = tab["free"] > 0
    tab.loc[pos, "free"] = np.arange(1, int(pos.sum()) + 1)
    new = copy.copy(pt)
    new.__dict__.pop("_asymtrust_compiled", None)
    new.__dict__.pop("_baseline_models", None)
    object.__setattr__(new, "table", tab)
    return new


def compile_freed(pt_new, comp: Compiled) -> Compiled:
    """The freed model compiled without the identification checks (it is not identified
    without the rotation's conditions): RAM structure, linear constraints, standardizer."""
    tab = pt_new.table
    model = RamModel(pt_new)
    linear, general = _split_constraints(tab, model)
    if general is not None:
        raise OptionError("nonlinear equality or inequality constraints in a model with efa() sets are not "
                          "supported (their rotated standard errors are not built)")
    rep, _ = _constraint_reparam(linear, model)
    struct = tab[tab["op"].isin(["=~", "~", "~~", "~1"])].copy()
    free_tab = tab[tab["free"] > 0].sort_values("free")
    var = struct[(struct["op"] == "~~") & (struct["lhs"] == struct["rhs"]) & (struct["free"] > 0)]
    return Compiled(pt=pt_new, model=model, rep=rep, npar=comp.npar, struct=struct,
                    stdz=Standardizer(model, struct), names=NameMap(tab, model), start=None, x_idx=comp.x_idx,
                    ndat=comp.ndat, nexo=comp.nexo, df=comp.df,
                    free_rows=list(zip(free_tab["lhs"], free_tab["op"], free_tab["rhs"])),
                    var_free=list(zip(var["free"].astype(int) - 1, var["lhs"], var["group"].astype(int))),
                    offdiag=np.flatnonzero(((struct["op"] == "~~") & (struct["lhs"] != struct["rhs"])).to_numpy()))


# ----------------------------------------------------------------------------- bordered SEs
def border_function(model: RamModel, sets: list[EfaSet], opts: RotationOptions, obj=None):
    """theta -> the stationarity conditions of every rotated set (lavaan's
    ``lav_model_efa_rotate_border_x``; only sets identified by ``user = 7`` zeros;
    ``obj``: the family's objective, for the residual variances of ordered items)."""
    use = [s for s in sets if len(s.lvs) >= 2 and s.identified_by_zeros]
    ix = [_node_ix(model, s) for s in use]
    residuals = residual_matrices(model, obj)

    def fun(theta):
        parts = []
        mats = {}
        resid = residuals(theta) if use else []
        for s, (oi, li) in zip(use, ix):
            if s.group not in mats:
                mats[s.group] = (model.matrices(theta, s.group)[0], resid[s.group])
            A, S = mats[s.group]
            lam = A[np.ix_(oi, li)]
            x = [lam.ravel(), np.diag(S[np.ix_(oi, oi)])]
            if not opts.orthogonal:
                x.append(S[np.ix_(li, li)][np.tril_indices(len(li), -1)])
            parts.append(border_constraints(np.concatenate(x), len(oi), len(li), opts))
        return np.concatenate(parts) if parts else np.zeros(0)

    return fun


def linear_rows(rep) -> np.ndarray:
    """The linear ``==`` constraints as rows C with C theta = const (the orthogonal
    complement of the reparametrisation's K)."""
    if rep._identity:
        return np.zeros((0, len(rep.theta0)))
    return linalg.null_space(rep.K.T).T


def bordered_inverse(info: np.ndarray, H: np.ndarray) -> np.ndarray:
    """lavaan's ``lav_model_information_augment_invert``: the parameter block of the
    Moore-Penrose inverse of [[I + H'H, H'], [H, 0]] (tolerance eps^3/4)."""
    n, k = info.shape[0], H.shape[0]
    E = np.block([[info + H.T @ H, H.T], [H, np.zeros((k, k))]])
    return np.linalg.pinv((E + E.T) / 2.0, rcond=_EPS34, hermitian=True)[:n, :n]


def rotated_vcov(sol_new: Solution, H: np.ndarray, se: str, information: str) -> np.ndarray | None:
    """The covariance matrix of the freed model's parameters at the rotated solution."""
    if se not in ("standard", "robust"):
        return None
    fam = sol_new.family
    A = sol_new.E_obs if information == "observed" else fam.information(sol_new.obj, sol_new.theta, sol_new.imp,
                                                                         information)
    C = np.vstack([H, linear_rows(sol_new.rep)])
    Ainv = bordered_inverse(A, C)
    if not np.all(np.isfinite(Ainv)):
        return None
    if se == "robust":
        return Ainv @ sol_new.B0 @ Ainv / sol_new.N
    return Ainv / sol_new.N


# ----------------------------------------------------------------------------- driver
def rotate_fit(sol: Solution, opts: RotationOptions, *, se: str, information: str, warnings: list,
               estimates_table):
    """The rotated estimates table of a fitted model with efa sets (a callable, built on
    first access) and the rotated solution (``Solution`` of the freed model)."""
    sets = efa_sets(sol.pt)
    if opts.method == "none":  # lavaan: rotation = "none" reports the unrotated (echelon) solution
        return None, None
    Ms, rots = rotation_matrices(sol.model, sol.theta, sets, opts, sol.obj)
    for s, r in rots:
        if not r.converged:
            warnings.append(f"the {opts.method} rotation of efa set {s.name!r} did not converge")
    pt_new = freed_table(sol.pt, opts.orthogonal)
    comp_new = compile_freed(pt_new, sol.comp)
    model_new = comp_new.model_for(sol.samples)
    theta_new = rotated_theta(sol.model, sol.theta, model_new, Ms)
    obj_new = sol.family.objective(model_new, sol.samples)
    f, _, imp = obj_new.evaluate(theta_new, need_grad=False)
    sol_new = Solution(family=sol.family, pt=pt_new, comp=comp_new, model=model_new, obj=obj_new,
                       samples=sol.samples, theta=theta_new, imp=imp, fmin=f)
    vcov = None
    if opts.method == "promax":
        if se in ("standard", "robust"):
            warnings.append("promax has no rotation criterion, so the rotated estimates have no standard errors "
                            "(lavaan 0.6-14 reports NA)")
    else:
        H = numeric_jacobian(border_function(model_new, sets, opts, obj_new), theta_new)
        vcov = rotated_vcov(sol_new, H, se, information)
        if vcov is None and se in ("standard", "robust"):
            warnings.append("the bordered information of the rotated solution could not be inverted: "
                            "no standard errors")
    free_orig = sol.comp.struct["free"].to_numpy()
    info = dict(method=opts.method, orthogonal=bool(opts.orthogonal),
                sets=[{"set": s.name, "group": s.group + 1, "factors": list(s.lvs), "criterion": r.value,
                       "converged": bool(r.converged), "rotation": r.rot.tolist()} for s, r in rots])

    def estimates():
        est = sol.family.finish_estimates(estimates_table(comp_new, model_new, theta_new, imp, vcov), sol_new, vcov)
        n = len(free_orig)
        free = est["free"].to_numpy().copy()
        free[:n] = free_orig
        est["free"] = free
        if vcov is None:
            est.loc[est["free"].to_numpy() > 0, ["se", "z", "pvalue", "ci_lower", "ci_upper", "std_all_se"]] = np.nan
        est.attrs["rotation"] = info
        return est

    return estimates, sol_new


def rotate_scores(scores, info: dict, group_labels) -> "pd.DataFrame":
    """Factor scores of the unrotated model in the rotated frame: eta_new = H' eta for each
    set's factors (regression and Bartlett scores are equivariant under the transformation),
    as lavaan's ``lavPredict()`` on the rotated model."""
    out = scores.copy()
    for item in info.get("sets", []):
        cols = list(item["factors"])
        if not set(cols) <= set(out.columns):
            continue
        rows = np.ones(len(out), bool)
        if "group" in out.columns and group_labels:
            rows = (out["group"] == group_labels[item["group"] - 1]).to_numpy()
        block = out.loc[rows, cols].to_numpy(dtype=float)
        out.loc[rows, cols] = block @ np.asarray(item["rotation"], float)
    return out
