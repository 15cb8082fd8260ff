"""The data-independent part of a fit, built once per parameter table (pipeline step:
model, lavaan's ``lav_lavaan_step*_model``).

* :func:`compile_model` -> :class:`Compiled`: the RAM structure
  (:class:`~asymtrust.engine.model.RamModel`), the reparametrisation of the linear ``==``
  constraints (theta = theta0 + K z; contradictory constraints are refused, naming them),
  lavaan's start-value plan, the standardization map and the label map, the degrees of
  freedom;
* :func:`exo_values`: the sample values of the fixed-x moments, per group;
* :func:`baseline_partable`: the independence (baseline) model's table, with its
  closed-form estimates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import IdentificationError, OptionError, SyntaxModelError
from .estimate import Reparam, StartPlan, linear_reparam
from .model import RamModel, frame_columns, ops_in, table_columns
from .samplestats import GroupSample
from .standardize import Standardizer


# ----------------------------------------------------------------------------- baseline table
@dataclass
class SimpleParTable:
    """A minimal parameter table (used for the baseline and saturated models)."""

    table: pd.DataFrame
    ov_names: list
    lv_names: list
    ngroups: int
    meanstructure: bool
    group_labels: list | None = None


class _LazyParTable(SimpleParTable):
    """A :class:`SimpleParTable` whose DataFrame is made from its columns on first access:
    fitting the baseline model reads only the columns (``RamModel(..., columns=)``)."""

    def __init__(self, source: dict, columns: dict, *args):
        self._source, self.columns = source, columns  # the DataFrame's input; its columns as arrays
        super().__init__(None, *args)

    @property
    def table(self) -> pd.DataFrame:
        if self._table is None:
            self._table = pd.DataFrame(self._source)
        return self._table

    @table.setter
    def table(self, value) -> None:
        self._table = value


def _rows(records: list[tuple]) -> tuple[pd.DataFrame | dict, dict | None]:
    """The table of ``(lhs, op, rhs, group, free, ustart, exo)`` records: the DataFrame's
    input and its columns as arrays (what :func:`~asymtrust.engine.model.table_columns`
    would read back from the DataFrame); an empty table as a DataFrame and ``None``."""
    if not records:
        tab = pd.DataFrame(records, columns=["lhs", "op", "rhs", "group", "free", "ustart", "exo"])
        tab.insert(0, "id", np.arange(1, len(tab) + 1))
        tab["user"] = 0
        tab["label"] = ""
        tab["plabel"] = [f".p{i}." for i in tab["id"]]
        tab["line"] = 0
        return tab, None
    lhs, op, rhs, group, free, ustart, exo = (list(c) for c in zip(*records))
    n = len(lhs)
    cols = {"id": np.arange(1, n + 1), "lhs": lhs, "op": op, "rhs": rhs, "group": np.array(group, np.int64),
            "free": np.array(free, np.int64), "ustart": np.array(ustart, float), "exo": np.array(exo, np.int64),
            "user": np.zeros(n, np.int64), "label": [""] * n, "plabel": [f".p{i}." for i in range(1, n + 1)],
            "line": np.zeros(n, np.int64)}
    return cols, {k: (v if isinstance(v, np.ndarray) else np.array(v, dtype=object)) for k, v in cols.items()}


def baseline_model(pt, samples: list[GroupSample]) -> tuple[SimpleParTable, "RamModel", np.ndarray]:
    """The independence model's table, its RAM model (with this sample's fixed-x moments)
    and its closed-form start values. The table and the model's structure depend only on
    ``pt`` and the number of groups, so they are built once per parameter table."""
    cache = pt.__dict__.setdefault("_baseline_models", {}) if hasattr(pt, "__dict__") else {}
    key = len(samples)
    exo = exo_values(pt, samples)
    if key not in cache:
        base_pt, theta = baseline_partable(pt, samples)
        cache[key] = (base_pt, RamModel(base_pt, exo, columns=getattr(base_pt, "columns", None)))
        return base_pt, cache[key][1], theta
    base_pt, model = cache[key]
    _, theta = baseline_partable(pt, samples, with_table=False)
    return base_pt, model.with_exo(exo), theta


def baseline_partable(pt, samples: list[GroupSample], *,
                      with_table: bool = True) -> tuple[SimpleParTable | None, np.ndarray]:
    """The independence model: free variances (and means), zero covariances, the fixed-x
    block kept as in H0. With ``fixed_x=False`` the covariances among the exogenous
    covariates stay free (lavaan's ``lav_partable_independence``). Returns the table and
    closed-form estimates (start values for the free covariances)."""
    ov = list(pt.ov_names)
    fixed_x = bool(getattr(pt, "fixed_x", True))
    ovx = set(getattr(pt, "ov_x", []) or []) if fixed_x else set()
    free_x = [] if fixed_x else [v for v in ov if v in set(getattr(pt, "ov_x", []) or [])]
    recs = []
    theta = []
    k = 0
    for g, s in enumerate(samples, start=1):
        for i, v in enumerate(ov):
            if v in ovx:
                recs.append((v, "~~", v, g, 0, np.nan, 1))
            else:
                k += 1
                recs.append((v, "~~", v, g, k, np.nan, 0))
                theta.append(_indep_var(s, i))
        xs = [v for v in ov if v in ovx]
        for a in range(len(xs)):
            for b in range(a + 1, len(xs)):
                recs.append((xs[a], "~~", xs[b], g, 0, np.nan, 1))
        for a in range(len(free_x)):
            for b in range(a + 1, len(free_x)):
                k += 1
                recs.append((free_x[a], "~~", free_x[b], g, k, np.nan, 0))
                theta.append(float(s.cov[ov.index(free_x[a]), ov.index(free_x[b])]))
        if pt.meanstructure:
            for i, v in enumerate(ov):
                if v in ovx:
                    recs.append((v, "~1", "", g, 0, np.nan, 1))
                else:
                    k += 1
                    recs.append((v, "~1", "", g, k, np.nan, 0))
                    theta.append(_indep_mean(s, i))
    if not with_table:  # the start values only (the table is cached by baseline_model)
        return None, np.array(theta)
    tab, cols = _rows(recs)
    args = (ov, [], len(samples), bool(pt.meanstructure))
    base = SimpleParTable(tab, *args) if cols is None else _LazyParTable(tab, cols, *args)
    return base, np.array(theta)


def _indep_var(s: GroupSample, i: int) -> float:
    """Closed-form independence-model variance: the available-case variance (divisor n_i)."""
    return float(s.available_moments()[2][i])


def _indep_mean(s: GroupSample, i: int) -> float:
    return float(s.available_moments()[1][i])


def exo_values(pt, samples: list[GroupSample]) -> list[dict]:
    """Sample values of the fixed-x moments, per group."""
    pos = {v: i for i, v in enumerate(pt.ov_names)}
    out = []
    for g, s in enumerate(samples, start=1):
        d = {}
        for lhs, op, rhs in _exo_rows(pt).get(g, ()):
            if op == "~~":
                d[(lhs, op, rhs)] = float(s.cov[pos[lhs], pos[rhs]])
            elif op == "~1":
                d[(lhs, op, rhs)] = float(s.mean[pos[lhs]])
        out.append(d)
    return out


def _exo_rows(pt) -> dict[int, list[tuple]]:
    """group -> the (lhs, op, rhs) of its fixed-x rows; read from the table once per table."""
    cached = pt.__dict__.get("_exo_rows") if hasattr(pt, "__dict__") else None
    if cached is not None:
        return cached
    cols = table_columns(pt)
    sel = cols["exo"] == 1
    out: dict[int, list[tuple]] = {}
    for g, lhs, op, rhs in zip(cols["group"][sel].tolist(), cols["lhs"][sel].tolist(), cols["op"][sel].tolist(),
                               cols["rhs"][sel].tolist()):
        out.setdefault(int(g), []).append((lhs, op, rhs))
    if hasattr(pt, "__dict__"):
        pt.__dict__["_exo_rows"] = out
    return out



class NameMap:
    """Labels and plabels of the structural rows, mapped to parameter values.

    Built once; ``values(theta)`` returns ``{name: value}`` with a vectorised gather, so
    constraint Jacobians and `:=` definitions stay cheap for large multi-group models.
    """

    def __init__(self, tab: pd.DataFrame, model: RamModel, cols: dict | None = None):
        # ordered items' thresholds and scale factors ("|", "~*~") are parameters too (dwls.py)
        c = frame_columns(tab) if cols is None else cols  # cols: tab's columns (model.table_columns)
        sel = np.flatnonzero(ops_in(c["op"], ["=~", "~", "~~", "~1", "|", "~*~"]))
        self.names: list[str] = []
        free_idx, fixed_val = [], []
        seen = set()
        for lhs, op, rhs, group, free, ustart, plabel, label in zip(
                *(c[k][sel].tolist() for k in ("lhs", "op", "rhs", "group", "free", "ustart", "plabel", "label"))):
            val = np.nan if free > 0 else _fixed_value(lhs, op, rhs, group, ustart, model)
            for nm in (plabel, label):
                if nm and nm not in seen:
                    seen.add(nm)
                    self.names.append(nm)
                    free_idx.append(int(free) - 1)
                    fixed_val.append(val)
        self.free_idx = np.array(free_idx, int)
        self.fixed = np.array(fixed_val, float)
        self.is_free = self.free_idx >= 0

    def vector(self, theta: np.ndarray) -> np.ndarray:
        out = self.fixed.copy()
        out[self.is_free] = theta[self.free_idx[self.is_free]]
        return out

    def values(self, theta: np.ndarray) -> dict[str, float]:
        return dict(zip(self.names, self.vector(theta).tolist()))


def fixed_value(r, model: RamModel) -> float:
    """The value of a fixed parameter-table row ``r`` (a row tuple) in the model."""
    return _fixed_value(r.lhs, r.op, r.rhs, r.group, r.ustart, model)


def _fixed_value(lhs, op, rhs, group, ustart, model: RamModel) -> float:
    if op in ("|", "~*~"):  # not in the RAM matrices: the table's value (threshold 0, scale 1 by default)
        return float(ustart) if np.isfinite(ustart) else (0.0 if op == "|" else 1.0)
    g = model.groups[int(group) - 1]
    idx = model.node_index
    if op == "=~":
        return g.A0[idx[rhs], idx[lhs]]
    if op == "~":
        return g.A0[idx[lhs], idx[rhs]]
    if op == "~~":
        return g.S0[idx[lhs], idx[rhs]]
    return g.m0[idx[lhs]]


def _split_constraints(tab: pd.DataFrame, model: RamModel, cols: dict | None = None):
    """The table with only its linear ``==`` rows, and the other constraints (nonlinear
    equalities, ``<``, ``>``) as :class:`~asymtrust.engine.constraints.GeneralConstraints`
    (``None`` when there are none). A ``==`` row is linear when its numerical gradient is
    the same at two points. ``cols``: the table's columns as arrays, when the caller has them."""
    from ..library.partable import compile_known
    from .constraints import GeneralConstraints

    cols = frame_columns(tab) if cols is None else cols
    sel = np.flatnonzero(ops_in(cols["op"], ["==", "<", ">"]))
    if not len(sel):
        return tab, None
    nm = NameMap(tab, model, cols)
    pos = {n: i for i, n in enumerate(nm.names)}
    general = GeneralConstraints(names=nm)
    is_def = cols["op"] == ":="
    defs = {str(a): str(b) for a, b in zip(cols["lhs"][is_def].tolist(), cols["rhs"][is_def].tolist())}
    drop = []
    n = model.n_free
    rows = zip(tab.index[sel].tolist(), *(cols[c][sel].tolist() for c in ("lhs", "op", "rhs", "line")))
    for idx, lhs, op, rhs, line in rows:
        a, b = str(lhs).strip(), str(rhs).strip()
        if op == "==" and a in pos and b in pos:
            continue
        a, b = _expand_defined(a, defs), _expand_defined(b, defs)
        g = compile_known(f"({a})-({b})" if op != "<" else f"({b})-({a})", pos, line=int(line) or None)
        item = (f"{a} {op} {b}", int(line), g)
        if op != "==":
            general.ineq.append(item)
            drop.append(idx)
        elif not np.allclose(general.jacobian(np.zeros(n), [item]), general.jacobian(np.linspace(0.3, 1.7, n), [item]),
                             atol=1e-6):
            general.eq.append(item)
            drop.append(idx)
    if not drop:
        return tab, None
    return tab.drop(index=drop), general


def _expand_defined(expr: str, defs: dict[str, str]) -> str:
    """``expr`` with each ``:=`` name replaced by its definition (which may use earlier ones),
    so that a constraint on a defined parameter (``ind > 0`` with ``ind := a*b``) is a
    function of the parameters, as lavaan evaluates it."""
    import re

    for _ in range(len(defs) + 1):
        new = re.sub(r"(?<![\w.])([A-Za-z_.][\w.]*)(?![\w.(])",
                     lambda m: f"({defs[m.group(1)]})" if m.group(1) in defs else m.group(1), expr)
        if new == expr:
            return expr
        expr = new
    return expr


def _constraint_reparam(tab: pd.DataFrame, model: RamModel, cols: dict | None = None) -> tuple[Reparam, int]:
    """Linear equality constraints (``==`` rows) as a null-space reparametrisation.

    ``a == b`` rows between two parameter names (the rows lavaan writes for shared
    labels and ``group.equal``) give H directly; other linear expressions are
    differentiated numerically; nonlinear ones are refused. ``cols``: the table's columns as
    arrays, when the caller has them.
    """
    from ..library.partable import compile_known

    K = model.n_free
    cols = frame_columns(tab) if cols is None else cols
    is_eq = cols["op"] == "=="
    n_cons = int(is_eq.sum())
    if not n_cons:
        return linear_reparam(K, None, None), 0
    nm = NameMap(tab, model, cols)
    pos = {n: i for i, n in enumerate(nm.names)}
    H = np.zeros((n_cons, K))
    rhs = np.zeros(n_cons)
    general = []
    for k, (c_lhs, c_rhs, line) in enumerate(zip(*(cols[c][is_eq].tolist() for c in ("lhs", "rhs", "line")))):
        a, b = str(c_lhs).strip(), str(c_rhs).strip()
        if a in pos and b in pos:
            for name, sign in ((a, 1.0), (b, -1.0)):
                i = pos[name]
                if nm.is_free[i]:
                    H[k, nm.free_idx[i]] += sign
                else:
                    rhs[k] -= sign * nm.fixed[i]
        else:
            general.append((k, compile_known(a, pos, line=int(line) or None),
                            compile_known(b, pos, line=int(line) or None)))
    if general:
        def h(theta):
            v = nm.values(theta)
            return np.array([fl(v) - fr(v) for _, fl, fr in general])

        def jac(theta):
            # unit steps: exact (up to rounding) for the linear functions accepted here,
            # so that 0.5*a has the coefficient 0.5 and not 0.5 + 1e-13, which would make
            # dependent constraint rows look independent
            J = np.zeros((len(general), K))
            h0 = h(theta)
            for j in range(K):
                e = np.zeros(K)
                e[j] = 1.0
                J[:, j] = h(theta + e) - h0
            return J

        Jg = jac(np.zeros(K))
        if not np.allclose(Jg, jac(np.linspace(0.3, 1.7, K)), atol=1e-6):
            raise OptionError("nonlinear equality constraints belong to engine/constraints.py")  # not reached
        Jg[np.abs(Jg) < 1e-9] = 0.0
        rows = [k for k, _, _ in general]
        H[rows] = Jg
        rhs[rows] = -h(np.zeros(K))
    rank = _rank(H)
    if np.any(rhs != 0) and _inconsistent(H, rhs):
        _raise_contradiction(tab[is_eq], H, rhs, tab)
    return linear_reparam(K, H, rhs), int(rank)


def _rank(M: np.ndarray, scale: np.ndarray | None = None) -> int:
    """Numerical rank of a constraint matrix, rows scaled to unit length (``scale``: the
    row norms to divide by), singular values below 1e-9 x the largest counted as zero."""
    if not M.size:
        return 0
    if scale is None:
        scale = np.linalg.norm(M, axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    sv = np.linalg.svd(M / scale[:, None], compute_uv=False)
    return int(np.sum(sv > 1e-9 * max(sv.max(initial=0.0), 1e-300))) if sv.size else 0


def _inconsistent(H: np.ndarray, rhs: np.ndarray) -> bool:
    """True when ``H theta = rhs`` has no solution: the augmented matrix [H | rhs] has a
    higher rank than H. Both are ranked with the rows of [H | rhs] scaled to unit length,
    so the test does not depend on how large the constants are."""
    aug = np.column_stack([H, rhs])
    norms = np.linalg.norm(aug, axis=1)
    return _rank(aug, norms) > _rank(H, norms)


def _raise_contradiction(cons: pd.DataFrame, H: np.ndarray, rhs: np.ndarray, tab: pd.DataFrame) -> None:
    """Name the first constraint that makes the system impossible, with the earlier
    constraints it contradicts (those in the linear combination that its row repeats)."""
    from ..exceptions import SyntaxModelError

    rows = list(cons.itertuples(index=False))
    what = {r.plabel: f"{r.lhs} {r.op} {r.rhs}".strip() for r in tab.itertuples(index=False) if r.plabel}

    def show(r) -> str:
        if int(r.user) == 1:
            text = f"'{r.lhs} == {r.rhs}'" + (f" (line {int(r.line)})" if int(r.line) else "")
        else:  # written by lavaan's rules: a shared label or group.equal
            text = f"'{what.get(r.lhs, r.lhs)}' == '{what.get(r.rhs, r.rhs)}' (shared label or group_equal)"
        return text

    for k in range(len(rows)):
        if not _inconsistent(H[: k + 1], rhs[: k + 1]):
            continue
        if k == 0 or not np.any(H[k]):
            raise SyntaxModelError(f"constraint {show(rows[k])} is impossible: it holds for no parameter value")
        c = np.linalg.lstsq(H[:k].T, H[k], rcond=None)[0]
        used = [j for j in np.flatnonzero(np.abs(c) > 1e-8)]
        others = ", ".join(show(rows[j]) for j in used[:3]) + (", ..." if len(used) > 3 else "")
        raise SyntaxModelError(f"constraint {show(rows[k])} contradicts {others}: "
                               "no parameter value satisfies them all")
    raise SyntaxModelError("the equality constraints contradict each other: no parameter value satisfies them all")  # pragma: no cover


# ----------------------------------------------------------------------------- compiled model
@dataclass
class Compiled:
    """Everything about a model that does not depend on the data, built once per
    parameter table: RAM structure, constraint reparametrisation, start-value plan,
    standardization map and label map."""

    pt: Any
    model: RamModel
    rep: Reparam
    npar: int
    struct: pd.DataFrame
    stdz: Standardizer
    names: NameMap
    start: StartPlan
    x_idx: list
    ndat: int
    nexo: int
    df: int
    free_rows: list  # (lhs, op, rhs) of each free parameter, for messages
    var_free: list  # (free index, lhs, group) of free variance rows
    offdiag: np.ndarray  # positions of off-diagonal ~~ rows in struct
    general: Any = None  # constraints.GeneralConstraints: nonlinear equalities and inequalities

    def model_for(self, samples: list[GroupSample]) -> RamModel:
        """The RAM model for these samples: fixed-x moments filled in from them (the
        compiled model itself when there are none)."""
        return self.model.with_exo(exo_values(self.pt, samples)) if self.x_idx else self.model


#: rows of the parameter table the engine cannot estimate yet: (test, what, the issue that brings it)
#: rows of a parameter table this path cannot estimate: (test, what, why and what to do)
#: (``t``: the table's columns as arrays, :func:`~asymtrust.engine.model.table_columns`)
PENDING_ROWS = [
    (lambda t: ops_in(t["op"], ["|", "~*~"]), "ordered items (thresholds '|')",
     "need ordered= naming them (fit(..., ordered=[items]); estimator WLSMV by default)"),
    (lambda t: t["level"] > 1, "level: blocks (two-level SEM)",
     "need the raw rows and cluster= (they cannot be fitted from sample moments)"),
    (lambda t: t["op"] == "<~", "composites ('<~')",
     "cannot be estimated yet (asymtrust.parameter_table(model) shows the table lavaan would fit)"),
]


def _refuse_pending(pt) -> None:
    """A typed refusal, naming the construct and the line, of a table the library builds
    but this path cannot estimate (see :data:`PENDING_ROWS`)."""
    cols = table_columns(pt)
    ordinal = bool(getattr(pt, "__dict__", {}).get("_ordinal_family"))  # an ordinal family's table (dwls.py)
    for test, what, why in PENDING_ROWS:
        if ordinal and what.startswith("ordered items"):
            continue
        hit = np.asarray(test(cols), bool)
        if hit.any():
            lines = [int(x) for x in cols["line"][hit].tolist() if int(x) > 0]
            where = f"line {min(lines)}: " if lines else ""
            raise OptionError(f"{where}{what} {why}")


def compile_model(pt, G: int) -> Compiled:
    """The data-independent part of a fit (cached per parameter table)."""
    hit = getattr(pt, "_asymtrust_compiled", None)
    if hit is not None and hit[0] == G:
        return hit[1]
    tab = pt.table
    _refuse_pending(pt)
    rv = list(getattr(pt, "rv_lines", []) or [])
    if rv:  # lavaan fixes such a row at its start value; asymtrust does not guess one
        raise SyntaxModelError(f"line {rv[0]}: the rv() modifier cannot be estimated yet (lavaan 0.6-14 fixes the "
                               "parameter at its start value); fix it at a value or leave it free")
    model = RamModel(pt)
    if model.n_free == 0:
        raise IdentificationError("the model has no free parameters")
    cols = table_columns(pt)
    linear, general = _split_constraints(tab, model, cols)
    rep, n_eq = _constraint_reparam(linear, model, cols if linear is tab else None)
    if general is not None:
        n_eq += general.eq_rank(np.linspace(0.3, 1.7, model.n_free), None if rep._identity else rep.K)
    npar = model.n_free - n_eq
    p = model.p
    ms = bool(pt.meanstructure)
    op, lhs, rhs, free = cols["op"], cols["lhs"], cols["rhs"], cols["free"]
    # fixed-x covariates: those whose moments sit in the table as exo rows (none when fixed_x=False)
    exo_vars = set(lhs[(cols["exo"] == 1) & (op == "~~")].tolist())
    ov_x = [v for v in (getattr(pt, "ov_x", []) or []) if v in exo_vars]
    q = len(ov_x)
    ndat = G * (p * (p + 1) // 2 + (p if ms else 0))
    if getattr(pt, "__dict__", {}).get("_ordinal_family"):  # ordered items: thresholds and correlations
        n_cont = p - len(set(lhs[op == "|"].tolist()))  # continuous: mean and variance
        ndat = int((op == "|").sum()) + G * (p * (p - 1) // 2 + 2 * n_cont)
    nexo = G * (q * (q + 1) // 2 + (q if ms else 0))
    df = ndat - nexo - npar
    if df < 0:
        raise IdentificationError(f"the model is not identified: {npar} free parameters but only {ndat - nexo} sample moments (df = {df})")
    in_struct = ops_in(op, ["=~", "~", "~~", "~1"])
    struct = tab if in_struct.all() else tab[in_struct]  # read only (as the table)
    frees = np.flatnonzero(free > 0)
    frees = frees[np.argsort(free[frees], kind="stable")]
    free_rows = list(zip(lhs[frees].tolist(), op[frees].tolist(), rhs[frees].tolist()))
    s_op, s_lhs, s_rhs = op[in_struct], lhs[in_struct], rhs[in_struct]
    var = np.flatnonzero(in_struct & (op == "~~") & (lhs == rhs) & (free > 0))
    comp = Compiled(pt=pt, model=model, rep=rep, npar=npar, struct=struct, stdz=Standardizer(model, struct),
                    names=NameMap(tab, model, cols), start=StartPlan(pt, model),
                    x_idx=[list(pt.ov_names).index(x) for x in ov_x], ndat=ndat, nexo=nexo, df=df, general=general,
                    free_rows=free_rows,
                    var_free=list(zip((free[var].astype(int) - 1).tolist(), lhs[var].tolist(),
                                      cols["group"][var].astype(int).tolist())),
                    offdiag=np.flatnonzero((s_op == "~~") & (s_lhs != s_rhs)))
    object.__setattr__(pt, "_asymtrust_compiled", (G, comp))  # works on frozen dataclasses too
    return comp

