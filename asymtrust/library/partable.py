"""The parameter table: lavaan model syntax + ``sem()``/``cfa()`` defaults.

:func:`build_partable` turns lavaan syntax into a :class:`ParTable`, one row per parameter, following
lavaan 0.6-14's ``parTable()`` conventions (see ``docs/contracts.md`` and
``shared/design/lavaan-parity.md`` §1, §7). In R the same table is
``lavaan::parTable(sem(model, data, ...))``.

Defaults applied (lavaan's ``sem()``/``cfa()``):

* ``auto.fix.first`` - the first loading of each latent is fixed to 1 (unless ``std_lv``);
* ``auto.fix.single`` - the residual variance of the only indicator of a latent is fixed to 0;
* ``auto.var`` - free residual variances of non-x observed variables and (residual) variances of latents;
* ``auto.cov.lv.x`` - free covariances among exogenous latents;
* ``auto.cov.y`` - free covariances among terminal outcomes (latent and observed);
* ``fixed.x`` - variances/covariances (and intercepts) of observed covariates are kept with
  ``free=0, exo=1`` (their values are the sample moments);
* ``meanstructure`` - observed intercepts free, latent means fixed at 0;
* ``group.equal`` - equality through shared plabels and ``==`` rows (lavaan's ``ceq.simple=FALSE``).
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import LabelError, OptionError, SyntaxModelError, UnknownVariableError
from .syntax import CompiledExpression, ParsedModel, compile_expression, expression_names, parse_syntax

__all__ = ["ParTable", "build_partable", "GROUP_EQUAL_TYPES", "MISSING_OPTIONS"]

#: group_equal items understood by :func:`build_partable`
GROUP_EQUAL_TYPES = (
    "loadings",
    "intercepts",
    "means",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
    "regressions",
)
#: accepted values of ``missing``
MISSING_OPTIONS = ("listwise", "ml", "fiml", "ml.x", "direct", "pairwise", "available.cases")
_MEANS_MISSING = ("ml", "fiml", "ml.x", "direct")

COLUMNS = ["id", "lhs", "op", "rhs", "user", "group", "free", "ustart", "exo", "label", "plabel", "line"]


# --------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------
@dataclass
class ParTable:
    """A lavaan-style parameter table with the variable sets of the model.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``id, lhs, op, rhs, user, group, free, ustart, exo, label, plabel, line``
        (see ``docs/contracts.md``).
    ov_names, lv_names, ov_x, ov_y, lv_x, lv_y, ov_ind, ov_nox : list of str
        Variable sets in lavaan order (``ov_y``/``lv_y`` are the terminal outcomes used by
        ``auto.cov.y``; ``ov_nox`` = ``ov_names`` without ``ov_x``).
    meanstructure : bool
    ngroups : int
    group_labels : list of str
    fixed_x, std_lv : bool
        Options the table was built with.
    defined : list of (name, expr, line)
        ``:=`` definitions in the order written.
    constraints : list of (lhs, op, rhs, line)
        User constraints (``==``, ``<``, ``>``) in the order written (group-equality rows are
        only in ``table``).
    warnings : list of str
        Notes such as a covariate made random because the syntax gives it a variance.
    """

    table: pd.DataFrame
    ov_names: list[str]
    lv_names: list[str]
    ov_x: list[str]
    ov_y: list[str]
    lv_x: list[str]
    lv_y: list[str]
    ov_ind: list[str]
    ov_nox: list[str]
    meanstructure: bool
    ngroups: int
    group_labels: list[str]
    fixed_x: bool = True
    std_lv: bool = False
    defined: list[tuple[str, str, int]] = field(default_factory=list)
    constraints: list[tuple[str, str, str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # ---- convenience -----------------------------------------------------------------
    def copy(self) -> "ParTable":
        """Deep copy (the table and every list attribute)."""
        return dataclasses.replace(
            self,
            table=self.table.copy(deep=True),
            **{
                f.name: list(getattr(self, f.name))
                for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), list)
            },
        )

    @property
    def n_free(self) -> int:
        """Number of free slots (rows with ``free > 0``; before removing ``==`` constraints)."""
        return int((self.table["free"] > 0).sum())

    @property
    def n_eq(self) -> int:
        """Number of ``==`` rows (user and group-equality)."""
        return int((self.table["op"] == "==").sum())

    def free_rows(self) -> pd.DataFrame:
        """Rows with a free slot, ordered by ``free`` (1..n_free)."""
        t = self.table
        return t[t["free"] > 0].sort_values("free")

    def param_rows(self) -> pd.DataFrame:
        """Model parameter rows (ops ``=~ ~ ~~ ~1``), i.e. rows with ``group >= 1``."""
        t = self.table
        return t[t["op"].isin(["=~", "~", "~~", "~1"])]

    def equality_rows(self) -> pd.DataFrame:
        """``==`` rows (user constraints and group/label equalities)."""
        t = self.table
        return t[t["op"] == "=="]

    def group_rows(self, group: int) -> pd.DataFrame:
        """Parameter rows of 1-based ``group``."""
        t = self.table
        return t[(t["group"] == group) & t["op"].isin(["=~", "~", "~~", "~1"])]

    def expression_names(self) -> list[str]:
        """Names usable in ``:=``/constraint expressions: labels, plabels and ``:=`` names."""
        t = self.param_rows()
        names = [x for x in t["label"].tolist() if x] + t["plabel"].tolist()
        names += [d[0] for d in self.defined]
        return list(dict.fromkeys(names))

    def label_values(self, values: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Map labels and plabels to values.

        Parameters
        ----------
        values : sequence of float
            One value per row of :attr:`table` (``est`` of the row, in table order); values of
            non-parameter rows are ignored.

        Returns
        -------
        dict
            ``plabel -> value`` for every parameter row and ``label -> value`` of the first row
            carrying that label.
        """
        vals = list(values)
        if len(vals) != len(self.table):
            raise OptionError(f"label_values: got {len(vals)} values for {len(self.table)} table rows")
        out: dict[str, Any] = {}
        for i, (op, lab, plab) in enumerate(
            zip(self.table["op"], self.table["label"], self.table["plabel"])
        ):
            if op not in ("=~", "~", "~~", "~1"):
                continue
            out[plab] = vals[i]
            if lab and lab not in out:
                out[lab] = vals[i]
        return out

    def compiled_defined(self) -> list[tuple[str, CompiledExpression]]:
        """``:=`` definitions compiled in order (each may use earlier ones). Compiled once
        (by :func:`build_partable`), in time linear in the number of definitions."""
        cached = self.__dict__.get("_compiled_defined")
        if cached is not None and len(cached) == len(self.defined):
            return list(cached)
        def_names = {d[0] for d in self.defined}
        known = {n: None for n in self.expression_names() if n not in def_names}
        out = []
        for name, expr, line in self.defined:
            out.append((name, compile_known(expr, known, line=line)))
            known[name] = None
        self.__dict__["_compiled_defined"] = tuple(out)
        return out

    def evaluate_defined(self, values: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Values of the ``:=`` parameters given one value per table row (see :meth:`label_values`)."""
        env = self.label_values(values)
        out: dict[str, Any] = {}
        for name, fn in self.compiled_defined():
            env[name] = out[name] = fn(env)
        return out

    def compiled_constraints(self) -> list[tuple[str, CompiledExpression]]:
        """All ``==``, ``<``, ``>`` rows as ``(op, g)`` with ``g = lhs - rhs`` compiled.

        ``==`` means g = 0, ``>`` means g > 0 and ``<`` means g < 0.
        """
        names = dict.fromkeys(self.expression_names())
        out = []
        t = self.table
        for lhs, op, rhs, line in zip(t["lhs"], t["op"], t["rhs"], t["line"]):
            if op in ("==", "<", ">"):
                out.append((op, compile_known(f"({lhs})-({rhs})", names, line=int(line) or None)))
        return out

    def to_lavaan_frame(self) -> pd.DataFrame:
        """The table with lavaan's column set (``block`` added, ``line`` dropped)."""
        t = self.table.copy()
        t.insert(5, "block", t["group"])
        return t.drop(columns=["line"])

    def __repr__(self) -> str:
        return (
            f"ParTable({len(self.table)} rows, {self.n_free} free, {self.n_eq} '==' rows, "
            f"{self.ngroups} group(s), lv={self.lv_names}, ov={self.ov_names})"
        )


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _unique(seq: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(seq))


#: what separates names in a ``:=``/constraint expression (operators, parentheses, commas, blanks)
_EXPR_SEPARATORS = re.compile(r"[\s+\-*/^(),]+")


def compile_known(expr: str, known, *, line: int | None = None) -> CompiledExpression:
    """:func:`~asymtrust.library.syntax.compile_expression` against a large set of known names
    (a set or dict), in time independent of its size.

    ``compile_expression(expr, names)`` copies ``names`` into a set on every call, so
    compiling n definitions against the growing list of earlier ones took O(n^2) time
    (60,000 ``:=`` lines: minutes). Here only the known words of ``expr`` are passed; if
    that selection misses a name the parser sees (it never should), the expression's own
    names are looked up exactly, so the result and every error are those of
    ``compile_expression``.
    """
    cand = [t for t in _EXPR_SEPARATORS.split(expr) if t in known]
    try:
        return compile_expression(expr, cand, line=line)
    except LabelError:
        where = f"line {line}" if line else "expression"
        exact = [n for n in expression_names(expr, where) if n in known]
        return compile_expression(expr, exact, line=line)


@dataclass
class _UserRow:
    lhs: str
    op: str
    rhs: str
    term: Any  # syntax.Term
    line: int


def _flatten(model: ParsedModel) -> list[_UserRow]:
    rows: list[_UserRow] = []
    for st in model.statements:
        for t in st.terms:
            rows.append(_UserRow(st.lhs[0], st.op, t.name if st.op != "~1" else "", t, st.line))
    return rows


def _pairs(names: Sequence[str], diag: bool) -> list[tuple[str, str]]:
    """Lower-triangle pairs in R's column-major ``lower.tri`` order (lhs = earlier name)."""
    out = []
    n = len(names)
    for j in range(n):
        for i in range(j if diag else j + 1, n):
            out.append((names[j], names[i]))
    return out


def _parse_partial(items: Iterable[str]) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for item in items:
        if not isinstance(item, str):
            raise OptionError(f"group_partial: {item!r} is not a string such as 'f=~x2'")
        s = re.sub(r"\s+", "", item)
        m = re.match(r"^([A-Za-z_.][A-Za-z0-9_.]*)(=~|~~|~)(.*)$", s)
        if not m:
            raise OptionError(f"group_partial: cannot read {item!r} (expected e.g. 'f=~x2' or 'x1~1')")
        lhs, op, rhs = m.groups()
        if op == "~" and rhs == "1":
            out.add((lhs, "~1", ""))
        elif rhs and re.match(r"^[A-Za-z_.][A-Za-z0-9_.]*$", rhs):
            out.add((lhs, op, rhs))
            if op == "~~":
                out.add((rhs, op, lhs))
        else:
            raise OptionError(f"group_partial: cannot read {item!r} (expected e.g. 'f=~x2' or 'x1~1')")
    return out


# --------------------------------------------------------------------------------------
# main entry
# --------------------------------------------------------------------------------------
def build_partable(
    syntax: str,
    *,
    observed: Iterable[str] | None = None,
    ngroups: int = 1,
    group_labels: Sequence[Any] | None = None,
    meanstructure: bool | None = None,
    fixed_x: bool = True,
    group_equal: Iterable[str] = (),
    group_partial: Iterable[str] = (),
    std_lv: bool = False,
    missing: str = "listwise",
) -> ParTable:
    """Build the parameter table of a lavaan model with ``sem()``/``cfa()`` defaults.

    Parameters
    ----------
    syntax : str
        lavaan model syntax.
    observed : iterable of str, optional
        Data columns; every observed variable of the model must be one of them.
    ngroups : int
        Number of groups (one copy of the model per group).
    group_labels : sequence, optional
        Group names (default ``"1".."G"``).
    meanstructure : bool, optional
        ``None`` = lavaan's automatic rule (``~1`` in the syntax, several groups, ``missing``
        ML/FIML, or ``group_equal`` with intercepts/means).
    fixed_x : bool
        Treat observed covariates as fixed (lavaan's ``fixed.x``).
    group_equal : iterable of str
        Any of :data:`GROUP_EQUAL_TYPES`.
    group_partial : iterable of str
        Parameters exempted from ``group_equal``, e.g. ``["f=~x2", "x1~1"]``.
    std_lv : bool
        Identify latents by fixing their (residual) variances to 1 instead of the first loading.
    missing : str
        One of :data:`MISSING_OPTIONS` (only used for the meanstructure rule).

    Returns
    -------
    ParTable

    Raises
    ------
    SyntaxModelError, DuplicateDefinitionError, LabelError
        Syntax problems (message names the line).
    UnknownVariableError
        A non-latent name is not in ``observed``.
    OptionError
        Invalid option values.

    Notes
    -----
    In R: ``lavaan::parTable(lavaan::sem(model, data, group=..., group.equal=...))``.

    Examples
    --------
    >>> pt = build_partable("visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6")
    >>> pt.n_free
    13
    >>> first = pt.table.iloc[0]
    >>> (first["lhs"], first["op"], first["rhs"], int(first["free"]), float(first["ustart"]))
    ('visual', '=~', 'x1', 0, 1.0)
    """
    # ---- options ------------------------------------------------------------------------
    if isinstance(ngroups, bool) or not isinstance(ngroups, (int, np.integer)) or ngroups < 1:
        raise OptionError(f"ngroups must be a positive integer, got {ngroups!r}")
    ngroups = int(ngroups)
    if missing not in MISSING_OPTIONS:
        raise OptionError(f"missing={missing!r} is not one of {', '.join(MISSING_OPTIONS)}")
    if isinstance(group_equal, str):
        group_equal = [group_equal]
    group_equal = list(group_equal)
    for item in group_equal:
        if item not in GROUP_EQUAL_TYPES:
            raise OptionError(f"group_equal item {item!r} is not one of {', '.join(GROUP_EQUAL_TYPES)}")
    if isinstance(group_partial, str):
        group_partial = [group_partial]
    partial = _parse_partial(group_partial)
    if group_labels is None:
        glabels = [str(g) for g in range(1, ngroups + 1)]
    else:
        glabels = [str(g) for g in group_labels]
        if len(glabels) != ngroups:
            raise OptionError(f"group_labels has {len(glabels)} entries but ngroups is {ngroups}")

    # ---- parse ----------------------------------------------------------------------------
    model = parse_syntax(syntax)
    urows = _flatten(model)

    # per-group modifier lengths
    for r in urows:
        if r.term.per_group and len(r.term.modifiers) != ngroups:
            raise SyntaxModelError(
                f"line {r.line}: c(...) modifier of '{r.lhs} {r.op} {r.rhs}' has "
                f"{len(r.term.modifiers)} elements but the model has {ngroups} group(s)"
            )

    # ---- variable names (lavaan's lav_partable_vnames) ------------------------------------
    lv_names = _unique(r.lhs for r in urows if r.op == "=~")
    lv_set = set(lv_names)
    v_ind = _unique(r.rhs for r in urows if r.op == "=~")
    ov_ind = [v for v in v_ind if v not in lv_set]
    eqs_y = _unique(r.lhs for r in urows if r.op == "~")
    eqs_x = _unique(r.rhs for r in urows if r.op == "~")
    ov_y_part = [v for v in eqs_y if v not in lv_set and v not in ov_ind]
    ov_x_part = [v for v in eqs_x if v not in lv_set and v not in ov_ind and v not in ov_y_part]
    ov_cov = [r.lhs for r in urows if r.op == "~~" and r.lhs not in lv_set] + [
        r.rhs for r in urows if r.op == "~~" and r.rhs not in lv_set
    ]
    ov_int = [r.lhs for r in urows if r.op == "~1" and r.lhs not in lv_set]
    ov_names = _unique(ov_ind + ov_y_part + ov_x_part + ov_cov + ov_int)

    warnings: list[str] = []
    mentioned = {r.lhs for r in urows if r.op in ("~~", "~1")} | {r.rhs for r in urows if r.op == "~~"}
    ov_x = []
    for v in ov_x_part:
        if v in mentioned:
            warnings.append(
                f"covariate {v!r} has a variance, covariance or intercept in the syntax; "
                "it is treated as a random (not fixed.x) variable"
            )
        else:
            ov_x.append(v)
    ov_x_set = set(ov_x)
    ov_nox = [v for v in ov_names if v not in ov_x_set]
    eqs_y_set, eqs_x_set, v_ind_set = set(eqs_y), set(eqs_x), set(v_ind)
    lv_x = [v for v in lv_names if v not in v_ind_set and v not in eqs_y_set]
    lv_y = [v for v in lv_names if v in eqs_y_set and v not in eqs_x_set and v not in v_ind_set]
    ov_y = [v for v in ov_names if v in eqs_y_set and v not in eqs_x_set and v not in set(ov_ind)]

    # ---- covariances: lhs is the variable that comes first in lv_names + ov_names (lavaan) -----
    order = {v: i for i, v in enumerate(lv_names + [v for v in ov_names if v not in lv_set])}
    for r in urows:
        if r.op == "~~" and r.lhs != r.rhs and order.get(r.lhs, 0) > order.get(r.rhs, 0):
            r.lhs, r.rhs = r.rhs, r.lhs

    # ---- observed variables present? --------------------------------------------------------
    first_line: dict[str, int] = {}
    for r in urows:
        for v in (r.lhs, r.rhs):
            if v and v not in first_line:
                first_line[v] = r.line
    if observed is not None:
        obs = set(str(c) for c in observed)
        for v in lv_names:
            if v in obs:
                raise SyntaxModelError(
                    f"line {first_line.get(v, 0)}: latent variable name {v!r} collides with a data column"
                )
        for v in ov_names:
            if v not in obs:
                hint = ""
                if len(obs) == 1 and v in next(iter(obs)):
                    col = next(iter(obs))
                    col = col if len(col) <= 40 else col[:37] + "..."
                    hint = f"; the data have a single column {col!r}: check the delimiter of the file"
                raise UnknownVariableError(
                    f"line {first_line.get(v, 0)}: variable {v!r} is neither a latent variable "
                    f"(lhs of '=~') nor a data column{hint}"
                )

    # ---- labels -------------------------------------------------------------------------------
    var_names = set(ov_names) | lv_set
    user_labels: dict[str, int] = {}
    for r in urows:
        for m in r.term.modifiers:
            if m.label:
                if m.label in var_names:
                    raise LabelError(
                        f"line {r.line}: label {m.label!r} is also the name of a variable"
                    )
                user_labels.setdefault(m.label, r.line)
    def_names: set[str] = set()
    for st in model.definitions:
        name = st.lhs[0]
        if name in user_labels:
            raise LabelError(
                f"line {st.line}: ':=' name {name!r} is already a parameter label (line {user_labels[name]})"
            )
        if name in var_names:
            raise LabelError(f"line {st.line}: ':=' name {name!r} is also the name of a variable")
        def_names.add(name)

    # ---- meanstructure --------------------------------------------------------------------------
    has_int = any(r.op == "~1" for r in urows)
    if meanstructure is None:
        meanstructure = (
            has_int
            or ngroups > 1
            or missing in _MEANS_MISSING
            or "intercepts" in group_equal
            or "means" in group_equal
        )
    else:
        meanstructure = bool(meanstructure) or has_int

    # ---- default rows ---------------------------------------------------------------------------
    defaults: list[tuple[str, str, str]] = []
    defaults += [(v, "~~", v) for v in ov_nox + lv_names]
    defaults += [(a, "~~", b) for a, b in _pairs(lv_x, diag=False)]
    defaults += [(a, "~~", b) for a, b in _pairs(lv_y + ov_y, diag=False)]
    defaults += [(a, "~~", b) for a, b in _pairs(ov_x, diag=True)]
    if meanstructure:
        defaults += [(v, "~1", "") for v in ov_names + lv_names]
    user_keys = set()
    for r in urows:
        user_keys.add((r.lhs, r.op, r.rhs))
        if r.op == "~~":
            user_keys.add((r.rhs, r.op, r.lhs))
    defaults = [d for d in _unique(defaults) if d not in user_keys]  # type: ignore[arg-type]

    # ---- first loadings, single indicators -----------------------------------------------------
    first_loading: set[int] = set()
    seen_lv: set[str] = set()
    n_ind: dict[str, int] = {}
    for i, r in enumerate(urows):
        if r.op == "=~":
            n_ind[r.lhs] = n_ind.get(r.lhs, 0) + 1
            if r.lhs not in seen_lv:
                seen_lv.add(r.lhs)
                first_loading.add(i)
    single_ind = {
        r.rhs for r in urows if r.op == "=~" and n_ind[r.lhs] == 1 and r.rhs not in lv_set
    }

    # ---- rows per group -----------------------------------------------------------------------
    recs: list[dict[str, Any]] = []
    stdlv_fixed: list[bool] = []  # lv variance fixed by std_lv (may be freed by group_equal)
    lvmean_default: list[bool] = []
    user_fixed: list[bool] = []
    for g in range(1, ngroups + 1):
        items: list[tuple[str, str, str, int, Any, int]] = [
            (r.lhs, r.op, r.rhs, 1, r.term.modifier(g), r.line) for r in urows
        ]
        items += [(lhs, op, rhs, 0, None, 0) for lhs, op, rhs in defaults]
        for k, (lhs, op, rhs, user, mod, line) in enumerate(items):
            free, ustart, exo = 1, math.nan, 0
            is_stdlv = False
            is_lvmean = False
            if op == "=~":
                if k in first_loading and not std_lv:
                    free, ustart = 0, 1.0
            elif op == "~~":
                if lhs in ov_x_set and rhs in ov_x_set:
                    if fixed_x:
                        free, exo = 0, 1
                elif lhs == rhs and lhs in single_ind and user == 0:  # lavaan: not when written by the user
                    free, ustart = 0, 0.0
                elif lhs == rhs and lhs in lv_set and std_lv:
                    free, ustart = 0, 1.0
                    is_stdlv = True
            elif op == "~1":
                if lhs in ov_x_set:
                    if fixed_x:
                        free, exo = 0, 1
                elif lhs in lv_set and user == 0:
                    free, ustart = 0, 0.0
                    is_lvmean = True
            label = ""
            if mod is not None:
                if mod.fixed is not None:
                    free, ustart, exo = 0, float(mod.fixed), 0
                    is_stdlv = is_lvmean = False
                elif mod.free:
                    free, ustart, exo = 1, math.nan, 0
                    is_stdlv = is_lvmean = False
                if mod.start is not None:
                    ustart = float(mod.start)
                label = mod.label
            recs.append(
                dict(lhs=lhs, op=op, rhs=rhs, user=user, group=g, free=free, ustart=ustart,
                     exo=exo, label=label, line=line)
            )
            stdlv_fixed.append(is_stdlv)
            user_fixed.append(mod is not None and mod.fixed is not None)
            lvmean_default.append(is_lvmean)
    for i, rec in enumerate(recs):
        rec["plabel"] = f".p{i + 1}."

    # ---- multigroup: free latent means / variances --------------------------------------------
    if ngroups > 1:
        if "intercepts" in group_equal and "means" not in group_equal:
            for i, rec in enumerate(recs):
                if rec["group"] > 1 and lvmean_default[i]:
                    rec["free"], rec["ustart"] = 1, math.nan
        if std_lv and "loadings" in group_equal:
            for i, rec in enumerate(recs):
                if rec["group"] > 1 and stdlv_fixed[i]:
                    rec["free"], rec["ustart"] = 1, math.nan

    # ---- fixed labels: all rows of a label share the fixed value --------------------------------
    by_label: dict[str, list[int]] = {}
    for i, rec in enumerate(recs):
        if rec["label"]:
            by_label.setdefault(rec["label"], []).append(i)
    for lab, idx in by_label.items():
        fixed_vals = {recs[i]["ustart"] for i in idx if recs[i]["free"] == 0 and recs[i]["user"] == 1}
        if len(fixed_vals) > 1:
            lines = sorted({recs[i]["line"] for i in idx})
            raise LabelError(
                f"line {lines[-1]}: label {lab!r} is used with different fixed values "
                f"{sorted(fixed_vals)} (lines {lines})"
            )
        if len(fixed_vals) == 1:
            v = next(iter(fixed_vals))
            for i in idx:
                recs[i]["free"], recs[i]["ustart"] = 0, v

    # ---- group_equal labels ----------------------------------------------------------------------
    if ngroups > 1 and group_equal:
        ov_nox_set = set(ov_nox)

        def eq_type(rec: dict[str, Any]) -> str | None:
            op, lhs, rhs = rec["op"], rec["lhs"], rec["rhs"]
            if op == "=~":
                return "loadings"
            if op == "~":
                return "regressions"
            if op == "~1":
                return "means" if lhs in lv_set else "intercepts"
            if op == "~~":
                if lhs in lv_set and rhs in lv_set:
                    return "lv.variances" if lhs == rhs else "lv.covariances"
                if lhs in ov_nox_set and rhs in ov_nox_set:
                    return "residuals" if lhs == rhs else "residual.covariances"
            return None

        g1: dict[tuple[str, str, str], int] = {}
        copies: dict[tuple[str, str, str], list[int]] = {}
        for i, rec in enumerate(recs):
            k = (rec["lhs"], rec["op"], rec["rhs"])
            copies.setdefault(k, []).append(i)
            if rec["group"] == 1:
                g1[k] = i
        # a value fixed by the user in one group is fixed in every group (lavaan)
        for key, idx in copies.items():
            if key in partial or eq_type(recs[idx[0]]) not in group_equal:
                continue
            vals = {recs[i]["ustart"] for i in idx if user_fixed[i]}
            if len(vals) == 1:
                v = next(iter(vals))
                for i in idx:
                    recs[i]["free"], recs[i]["ustart"] = 0, v
        for key, i1 in g1.items():
            r1 = recs[i1]
            if key in partial or eq_type(r1) not in group_equal or r1["free"] == 0 or r1["exo"]:
                continue
            if not r1["label"]:
                r1["label"] = r1["plabel"]
            for i, rec in enumerate(recs):
                if (
                    rec["group"] > 1
                    and (rec["lhs"], rec["op"], rec["rhs"]) == key
                    and rec["free"] > 0
                    and not rec["label"]
                ):
                    rec["label"] = r1["label"]

    # ---- free slots -----------------------------------------------------------------------------
    slot = 0
    for rec in recs:
        if rec["free"]:
            slot += 1
            rec["free"] = slot

    # ---- user constraints and definitions --------------------------------------------------------
    allowed = set(by_label) | {rec["label"] for rec in recs if rec["label"]} | {rec["plabel"] for rec in recs}
    defined: list[tuple[str, str, int]] = []
    constraints: list[tuple[str, str, str, int]] = []
    compiled_defs: list[tuple[str, CompiledExpression]] = []
    known = set(allowed)  # grows by each := name (linear time, see compile_known)
    for st in model.user_cons:
        if st.op == ":=":
            compiled_defs.append((st.lhs[0], compile_known(st.expr, known, line=st.line)))
            known.add(st.lhs[0])
            defined.append((st.lhs[0], st.expr, st.line))
    known |= def_names
    for st in model.user_cons:
        if st.op != ":=":
            compile_known(st.lhs[0], known, line=st.line)
            compile_known(st.expr, known, line=st.line)
            constraints.append((st.lhs[0], st.op, st.expr, st.line))
    # keep the written order of := and constraints
    con_recs = [
        _con_rec(st.lhs[0], st.op, st.expr, 1, st.lhs[0] if st.op == ":=" else "", st.line)
        for st in model.user_cons
    ]

    # ---- equalities from shared labels (first occurrence is the reference) ------------------------
    # lavaan's order: labels in the order of their first duplicate, then the copies in row order
    members: dict[str, list[int]] = {}
    dup_order: list[str] = []
    for i, rec in enumerate(recs):
        lab = rec["label"]
        if not lab or rec["free"] == 0:
            continue
        members.setdefault(lab, []).append(i)
        if len(members[lab]) == 2:
            dup_order.append(lab)
    for lab in dup_order:
        ref, *others = members[lab]
        for i in others:
            con_recs.append(_con_rec(recs[ref]["plabel"], "==", recs[i]["plabel"], 2, "", 0))

    rows = recs + con_recs
    dtypes = {"user": np.int64, "group": np.int64, "free": np.int64, "ustart": np.float64,
              "exo": np.int64, "line": np.int64}
    cols: dict[str, Any] = {"id": np.arange(1, len(rows) + 1, dtype=np.int64)}
    for c in COLUMNS[1:]:
        vals = [r[c] for r in rows]
        cols[c] = np.array(vals, dtype=dtypes[c]) if c in dtypes else np.array(vals, dtype=object)
    table = pd.DataFrame(cols)
    pt = ParTable(
        table=table,
        ov_names=ov_names,
        lv_names=lv_names,
        ov_x=ov_x,
        ov_y=ov_y,
        lv_x=lv_x,
        lv_y=lv_y,
        ov_ind=ov_ind,
        ov_nox=ov_nox,
        meanstructure=bool(meanstructure),
        ngroups=ngroups,
        group_labels=glabels,
        fixed_x=bool(fixed_x),
        std_lv=bool(std_lv),
        defined=defined,
        constraints=constraints,
        warnings=warnings,
    )
    pt.__dict__["_compiled_defined"] = tuple(compiled_defs)  # compiled once, reused by fit()
    return pt


def _con_rec(lhs: str, op: str, rhs: str, user: int, label: str, line: int) -> dict[str, Any]:
    return dict(lhs=lhs, op=op, rhs=rhs, user=user, group=0, free=0, ustart=math.nan, exo=0,
                label=label, plabel="", line=line)
