"""The ``:=`` parameters (defined parameters) and the values of the structural rows.

:class:`Definitions` plans a model's ``:=`` definitions once (each compiled expression
with, for every name it uses, the structural row or earlier definition it refers to);
values, delta-method Jacobians and standardized values then take time linear in the
number of definitions. Also here: :func:`struct_values` (the value of every structural
row at theta, fixed rows included) and the warning for definitions that are not finite.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .compile import Compiled
from .model import RamModel


def struct_values(comp: Compiled, model: RamModel, theta) -> np.ndarray:
    """The value of each structural row (its plabel's value)."""
    if comp.x_idx:  # fixed-x rows hold this sample's moments: read from this model's matrices
        free_rows, free_idx, fixed = _struct_plan(comp)
        out = np.empty(len(comp.struct))
        out[free_rows] = np.asarray(theta)[free_idx]
        for g, (rows_a, ia, ja), (rows_s, is_, js), (rows_m, im) in fixed:
            gs = model.groups[g]
            out[rows_a] = gs.A0[ia, ja]
            out[rows_s] = gs.S0[is_, js]
            out[rows_m] = gs.m0[im]
        return out
    pos = comp.__dict__.get("_plabel_pos")
    if pos is None:
        where = {n: i for i, n in enumerate(comp.names.names)}
        pos = comp.__dict__["_plabel_pos"] = np.array([where[pl] for pl in comp.struct["plabel"]], int)
    return comp.names.vector(theta)[pos]


def _struct_plan(comp: Compiled) -> tuple:
    """Where :func:`struct_values` reads each structural row, planned once per compiled
    model: the free rows and their parameters, and per group the fixed rows' positions in
    A (``=~``: [indicator, factor]; ``~``: [outcome, predictor]), S and m (as
    :func:`~asymtrust.engine.compile.fixed_value` reads them)."""
    plan = comp.__dict__.get("_struct_plan")
    if plan is not None:
        return plan
    s = comp.struct
    free = s["free"].to_numpy()
    op, lhs, rhs, group = (s[c].to_numpy() for c in ("op", "lhs", "rhs", "group"))
    idx = comp.model.node_index
    free_rows = np.flatnonzero(free > 0)
    per_group: dict[int, tuple[list, ...]] = {}
    for k in np.flatnonzero(~(free > 0)).tolist():
        a, s_, m = per_group.setdefault(int(group[k]) - 1, ([[], [], []], [[], [], []], [[], []]))
        if op[k] == "=~":
            for lst, v in zip(a, (k, idx[rhs[k]], idx[lhs[k]])):
                lst.append(v)
        elif op[k] == "~":
            for lst, v in zip(a, (k, idx[lhs[k]], idx[rhs[k]])):
                lst.append(v)
        elif op[k] == "~~":
            for lst, v in zip(s_, (k, idx[lhs[k]], idx[rhs[k]])):
                lst.append(v)
        else:
            for lst, v in zip(m, (k, idx[lhs[k]])):
                lst.append(v)
    fixed = [(g, *(tuple(np.array(x, int) for x in part) for part in parts)) for g, parts in per_group.items()]
    plan = comp.__dict__["_struct_plan"] = (free_rows, (free[free_rows] - 1).astype(int), fixed)
    return plan


def definition_warnings(comp: Compiled, model: RamModel, theta) -> list[str]:
    """A warning naming each ``:=`` parameter whose value is not finite (Inf or NaN)."""
    plan = _definitions(comp)
    vals = plan.values(struct_values(comp, model, theta))
    bad = np.flatnonzero(~np.isfinite(vals))
    out = []
    for i in bad[:5]:
        name, f = plan.funcs[i]
        out.append(f"defined parameter {name} := {f.expr} evaluates to {_r_num(vals[i])} at the estimates; "
                   "it has no standard error")
    if len(bad) > 5:
        out.append(f"{len(bad) - 5} more defined parameters are not finite at the estimates")
    return out


def _r_num(v: float) -> str:
    return "NaN" if np.isnan(v) else ("Inf" if v > 0 else "-Inf")


def defined_rows(comp: Compiled, defs, est_vec, std_lv, std_all, vcov, J_all) -> pd.DataFrame:
    """`:=` rows: value, delta-method SE, and standardized versions with SEs."""
    plan = _definitions(comp)
    est, lv, sa, J, Js = plan.evaluate(est_vec, std_lv, std_all, comp.struct["free"].to_numpy(),
                                       J_all if vcov is not None else None, len(vcov) if vcov is not None else 0)
    se = np.full(len(est), np.nan)
    std_all_se = np.full(len(est), np.nan)
    if vcov is not None:
        se = np.sqrt(np.clip(np.sum((J @ vcov) * J, axis=1), 0, None))
        std_all_se = np.sqrt(np.clip(np.sum((Js @ vcov) * Js, axis=1), 0, None))
    d = defs.copy()
    d["est"] = est
    d["se"] = se
    d["std_lv"] = lv
    d["std_all"] = sa
    d["std_all_se"] = std_all_se
    return d


def _definitions(comp: Compiled) -> Definitions:
    plan = comp.__dict__.get("_definitions")
    if plan is None:
        plan = comp.__dict__["_definitions"] = Definitions(comp.pt, comp.struct)
    return plan


class Definitions:
    """The `:=` definitions of a model, planned once: each compiled expression with, for
    every name it uses, the structural row (label or plabel) or the earlier definition
    that name refers to.

    Values and delta-method Jacobians take time linear in the number of definitions: a
    definition is evaluated once, on numpy arrays holding the point and central
    differences in each of its own names (step 1e-7 max(1, |value|)), and its Jacobian
    with respect to theta is chained from those partial derivatives and the Jacobians
    of the names (a unit row for a free parameter, the closed-form standardization
    Jacobian for ``std.all``, the row of an earlier definition).
    """

    def __init__(self, pt, struct: pd.DataFrame):
        row_of: dict[str, int] = {}
        for k, (pl, lab) in enumerate(zip(struct["plabel"].tolist(), struct["label"].tolist())):
            row_of.setdefault(pl, k)
            if lab:
                row_of.setdefault(lab, k)
        self.row_of = row_of
        self.funcs = pt.compiled_defined()
        def_pos: dict[str, int] = {}
        level = np.zeros(len(self.funcs), int)
        groups: dict[tuple[int, int], list[int]] = {}
        refs = []
        for i, (name, f) in enumerate(self.funcs):
            rows = [row_of.get(n, -1) if n not in def_pos else -1 for n in f.names]
            dpos = [def_pos.get(n, -1) for n in f.names]
            refs.append((rows, dpos))
            level[i] = 1 + max((level[d] for d in dpos if d >= 0), default=-1)
            groups.setdefault((int(level[i]), len(rows)), []).append(i)
            def_pos[name] = i
        # definitions of one level (no reference between them) with the same number of
        # names are processed together, in chunks that bound the (m, k, K) Jacobian blocks
        self.groups = []
        for (_, k), ids in sorted(groups.items()):
            for c in range(0, len(ids), 2048):
                part = np.array(ids[c:c + 2048], int)
                R = np.array([refs[i][0] for i in part], int).reshape(len(part), k)
                D = np.array([refs[i][1] for i in part], int).reshape(len(part), k)
                self.groups.append((part, k, np.maximum(R, 0), np.maximum(D, 0), R >= 0))
        self.names = [name for name, _ in self.funcs]

    def values(self, est_vec: np.ndarray) -> np.ndarray:
        """The value of every definition at the structural values ``est_vec``."""
        env = {nm: float(est_vec[k]) for nm, k in self.row_of.items()}
        out = np.empty(len(self.funcs))
        for i, (name, f) in enumerate(self.funcs):
            env[name] = out[i] = f(env)
        return out

    def evaluate(self, est_vec, lv_vec, all_vec, free, J_all, K):
        """Values at the estimates, std.lv and std.all values; with ``J_all`` (the std.all
        Jacobian, rows = structural rows) also the Jacobians of the values and of the
        std.all values with respect to theta (one row per definition)."""
        n = len(self.funcs)
        jac = J_all is not None
        vals = np.stack([est_vec, lv_vec, all_vec], axis=1)  # (struct rows, 3)
        defs = np.full((n, 3), np.nan)
        J = Js = Dtheta = None
        if jac:
            J, Js = np.zeros((n, K)), np.zeros((n, K))
            Dtheta = np.zeros((len(est_vec), K))  # d row value / d theta: unit rows of the free parameters
            m = free > 0
            Dtheta[np.flatnonzero(m), free[m] - 1] = 1.0
        funcs = self.funcs
        with np.errstate(all="ignore"):
            for ids, k, R, D, isrow in self.groups:
                m = len(ids)
                base = np.where(isrow[:, :, None], vals[R], defs[D])  # (m, k, 3)
                if not jac or k == 0:
                    for r, i in enumerate(ids):
                        defs[i] = _eval_points(funcs[i][1], base[r])[:3]
                    continue
                e, a = base[:, :, 0], base[:, :, 2]
                he = 1e-7 * np.maximum(1.0, np.abs(e))
                ha = 1e-7 * np.maximum(1.0, np.abs(a))
                X = np.empty((m, k, 3 + 4 * k))
                X[:, :, :3] = base
                X[:, :, 3:] = np.tile(np.stack([e, e, a, a], axis=2), (1, 1, k))
                idx = np.arange(k)
                c = 3 + 4 * idx
                X[:, idx, c] += he
                X[:, idx, c + 1] -= he
                X[:, idx, c + 2] += ha
                X[:, idx, c + 3] -= ha
                out = np.empty((m, 3 + 4 * k))
                for r, i in enumerate(ids):
                    out[r] = _eval_points(funcs[i][1], X[r])
                defs[ids] = out[:, :3]
                st = out[:, 3:].reshape(m, k, 4)
                ge = (st[:, :, 0] - st[:, :, 1]) / (2.0 * he)
                ga = (st[:, :, 2] - st[:, :, 3]) / (2.0 * ha)
                J[ids] = np.einsum("mk,mkq->mq", ge, np.where(isrow[:, :, None], Dtheta[R], J[D]))
                Js[ids] = np.einsum("mk,mkq->mq", ga, np.where(isrow[:, :, None], J_all[R], Js[D]))
        return defs[:, 0].copy(), defs[:, 1].copy(), defs[:, 2].copy(), J, Js


def _eval_points(f, X: np.ndarray) -> np.ndarray:
    """``f`` at several points at once: ``X[j, m]`` is the value of ``f.names[j]`` at point m
    (:meth:`asymtrust.library.syntax.CompiledExpression.at_points`; another expression type is
    called point by point)."""
    if hasattr(f, "at_points"):
        return f.at_points(X)
    return np.array([f({nm: X[j, c] for j, nm in enumerate(f.names)}) for c in range(X.shape[1])], float)


