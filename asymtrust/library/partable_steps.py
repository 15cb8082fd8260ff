"""The steps of :func:`asymtrust.library.partable.build_partable`, in lavaan's order.

lavaan 0.6-14 builds a parameter table in ``lavaanify()`` (``R/lav_partable.R``), which
flattens the syntax (``lavParseModelString()``), adds the default rows and expands them per
group (``lav_partable_flat()``), applies the user's modifiers, group.equal labels
(``lav_partable_labels()``) and finally the equality constraints, ``==``/``<``/``>`` and ``:=``.
:func:`~asymtrust.library.partable.build_partable` runs the same steps, one function each:

====================  ==========================================================================
step                  lavaan 0.6-14
====================  ==========================================================================
check_options         ``lavaan()``/``lav_options_set()``: the group, missing and group.equal options
flatten_user_rows     ``lavParseModelString()``: FLAT, one row per user element with its modifiers
variable_names        ``lav_partable_vnames()``: lv, ov, ov.x, ov.y, lv.x, lv.y, ov.ind, ov.nox
reorder_covariances   ``lav_partable_covariance_reorder()``: the earlier variable on the lhs of ``~~``
check_observed        ``lavaan()``: "missing observed variables in dataset"
check_labels          (asymtrust) labels and ``:=`` names may not be variable names or each other
meanstructure_rule    ``lav_options_set()``: meanstructure = "default"
default_rows          ``lav_partable_flat()`` 2a-2d, 3: default (co)variances and intercepts
marker_rows           ``lav_partable_flat()`` 1-2: first indicators, single indicators
expand_groups         ``lav_partable_flat()`` 1-6 per group + ``lavaanify()``'s user modifiers
free_group_parameters ``lav_partable_flat()`` 6: the changes in groups 2.. (lv means, std.lv)
share_fixed_labels    ``lavaanify()``: a label with a fixed value fixes all its rows
apply_group_equal     ``lav_partable_labels(group.equal, group.partial)``
number_free           ``lavaanify()``: count free parameters (the ``free`` column)
user_constraints      ``lavaanify()``: constraints (``==``, ``<``, ``>``) and ``:=`` rows
label_equalities      ``lavaanify()``: equality constraints from shared labels (ceq.simple=FALSE)
assemble_table        ``lavaanify()``: the final ``data.frame``
====================  ==========================================================================

Each step reads and returns plain Python data (user rows, dicts per table row); only
:func:`assemble_table` builds the DataFrame.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import LabelError, OptionError, SyntaxModelError, UnknownVariableError
from .syntax import CompiledExpression, ParsedModel, compile_expression, expression_names

__all__ = [
    "GROUP_EQUAL_TYPES", "MISSING_OPTIONS", "COLUMNS", "compile_known",
    "check_options", "flatten_user_rows", "variable_names", "reorder_covariances", "check_observed",
    "check_labels", "meanstructure_rule", "default_rows", "marker_rows", "expand_groups",
    "free_group_parameters", "share_fixed_labels", "ordered_variables", "efa_constraints", "apply_group_equal", "number_free",
    "user_constraints", "label_equalities", "auto_label_equalities", "assemble_table",
]

#: group_equal items understood by :func:`build_partable`
GROUP_EQUAL_TYPES = (
    "loadings",
    "thresholds",
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

COLUMNS = ["id", "lhs", "op", "rhs", "user", "group", "free", "ustart", "exo", "label", "plabel", "line",
           "block", "level", "efa"]
_DTYPES = {"user": np.int64, "group": np.int64, "free": np.int64, "ustart": np.float64,
           "exo": np.int64, "line": np.int64, "block": np.int64, "level": np.int64}
#: values of the columns a step may leave out of a row (block = group, level 1, no efa set)
_COLUMN_DEFAULTS = {"level": 1, "efa": ""}
#: lavaan's maximum number of categories of an ordered variable (lav_data: nlev > 100 refused)
MAX_THRESHOLDS = 99


# --------------------------------------------------------------------------------------
# helpers and the data passed between steps
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
class UserRow:
    """One element the user wrote (lavaan's FLAT row): ``lhs op rhs`` with its syntax term."""

    lhs: str
    op: str
    rhs: str
    term: Any  # syntax.Term: its modifiers (one per group, or one for all)
    line: int
    efa: str = ""  # the efa set of the lhs factor (efa("set")*f =~ ...)
    block: int = 0  # the group:/level: block of the statement (0: no blocks)


@dataclass
class Options:
    """The checked group options (see :func:`check_options`)."""

    ngroups: int
    group_labels: list[str]
    group_equal: list[str]
    partial: set[tuple[str, str, str]]
    parameterization: str = "delta"


@dataclass
class VarNames:
    """The variable sets of the model (lavaan's ``lav_partable_vnames()``)."""

    lv_names: list[str]
    ov_names: list[str]
    ov_x: list[str]
    ov_y: list[str]
    lv_x: list[str]
    lv_y: list[str]
    ov_ind: list[str]
    ov_nox: list[str]
    lv_set: set[str] = field(default_factory=set)
    ov_x_set: set[str] = field(default_factory=set)
    #: composites (lhs of '<~'): their residual variance is fixed at 0
    lv_f: set[str] = field(default_factory=set)
    #: ordered observed variables in ov order, with their number of thresholds
    ov_ord: list[str] = field(default_factory=list)
    nth: dict[str, int] = field(default_factory=dict)
    #: factors of efa() sets: no marker loading, variance fixed at 1
    lv_efa: set[str] = field(default_factory=set)


@dataclass
class Markers:
    """Rows lavaan fixes by default: the first loading of each latent (indices of the user
    rows) and the indicators that are the only indicator of their latent."""

    first_loading: set[int]
    single_ind: set[str]


@dataclass
class GroupRows:
    """The parameter rows of every group (one dict per row, table columns but ``id``) and, per
    row, why its value is what it is (group.equal and the later groups may change it)."""

    recs: list[dict[str, Any]] = field(default_factory=list)
    stdlv_fixed: list[bool] = field(default_factory=list)  # lv variance fixed by std_lv
    lvmean_default: list[bool] = field(default_factory=list)  # lv mean fixed at 0 by default
    user_fixed: list[bool] = field(default_factory=list)  # value fixed by a modifier
    rv_lines: list[int] = field(default_factory=list)  # lines of rv() modifiers


@dataclass
class Constraints:
    """What :func:`user_constraints` returns."""

    defined: list[tuple[str, str, int]]
    constraints: list[tuple[str, str, str, int]]
    rows: list[dict[str, Any]]
    compiled: list[tuple[str, CompiledExpression]]


def _pairs(names: Sequence[str], diag: bool) -> list[tuple[str, str]]:
    """Lower-triangle pairs in R's column-major ``lower.tri`` order (lhs = earlier name)."""
    out = []
    n = len(names)
    for j in range(n):
        for i in range(j if diag else j + 1, n):
            out.append((names[j], names[i]))
    return out


def _con_rec(lhs: str, op: str, rhs: str, user: int, label: str, line: int) -> dict[str, Any]:
    return dict(lhs=lhs, op=op, rhs=rhs, user=user, group=0, free=0, ustart=math.nan, exo=0,
                label=label, plabel="", line=line)


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
# 1. options, user rows, variable names
# --------------------------------------------------------------------------------------
def check_options(ngroups, missing, group_equal, group_partial, group_labels, parameterization="delta") -> Options:
    """Check the group options, as ``lavaan()`` and ``lav_options_set()`` do before lavaanify:
    ``ngroups``, ``missing``, the ``group.equal`` items, ``group.partial`` (read into
    ``(lhs, op, rhs)`` keys, both orders of a covariance) and the group labels."""
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
    if parameterization not in ("delta", "theta"):
        raise OptionError(f"parameterization={parameterization!r} is not one of delta, theta")
    return Options(ngroups=ngroups, group_labels=glabels, group_equal=group_equal, partial=partial,
                   parameterization=parameterization)


def flatten_user_rows(model: ParsedModel, ngroups: int) -> list[UserRow]:
    """One row per element the user wrote, with its modifiers: lavaan's FLAT table
    (``lavParseModelString()``). A ``c(...)`` modifier must have one entry per group."""
    rows: list[UserRow] = []
    for st in model.statements:
        for t in st.terms:
            rows.append(UserRow(st.lhs[0], st.op, t.name if st.op != "~1" else "", t, st.line,
                                efa=st.efa, block=st.block))
    for r in rows:
        if r.term.per_group and len(r.term.modifiers) != ngroups:
            raise SyntaxModelError(
                f"line {r.line}: c(...) modifier of '{r.lhs} {r.op} {r.rhs}' has "
                f"{len(r.term.modifiers)} elements but the model has {ngroups} group(s)"
            )
    return rows


def _fixed_x_covariates(ov_x_part: list[str], urows: list[UserRow]) -> tuple[list[str], list[str]]:
    """The exogenous covariates that stay fixed.x: a covariate given a variance, covariance or
    intercept in the syntax becomes random (lavaanify's "check for wrongly specified
    variances/covariances/intercepts of exogenous variables"), with a warning."""
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
    return ov_x, warnings


def variable_names(urows: list[UserRow]) -> tuple[VarNames, list[str]]:
    """The variable sets of the model in lavaan's order (``lav_partable_vnames()``: ``lv``,
    ``ov``, ``ov.x``, ``ov.nox``, ``ov.ind``; ``ov.y``/``lv.y`` are the terminal outcomes of
    ``auto.cov.y``, ``lv.x`` the exogenous latents of ``auto.cov.lv.x``) and the warnings of
    covariates made random."""
    lv_names = _unique(r.lhs for r in urows if r.op in ("=~", "<~"))
    lv_set = set(lv_names)
    v_ind = _unique(r.rhs for r in urows if r.op == "=~")
    ov_ind = [v for v in v_ind if v not in lv_set]
    eqs_y = _unique(r.lhs for r in urows if r.op == "~")
    eqs_x = _unique(r.rhs for r in urows if r.op in ("~", "<~"))
    ov_y_part = [v for v in eqs_y if v not in lv_set and v not in ov_ind]
    ov_x_part = [v for v in eqs_x if v not in lv_set and v not in ov_ind and v not in ov_y_part]
    ov_cov = [r.lhs for r in urows if r.op == "~~" and r.lhs not in lv_set] + [
        r.rhs for r in urows if r.op == "~~" and r.rhs not in lv_set
    ]
    ov_int = [r.lhs for r in urows if r.op in ("~1", "|") and r.lhs not in lv_set]
    ov_names = _unique(ov_ind + ov_y_part + ov_x_part + ov_cov + ov_int)

    ov_x, warnings = _fixed_x_covariates(ov_x_part, urows)
    ov_x_set = set(ov_x)
    ov_nox = [v for v in ov_names if v not in ov_x_set]
    eqs_y_set, eqs_x_set, v_ind_set = set(eqs_y), set(eqs_x), set(v_ind)
    lv_x = [v for v in lv_names if v not in v_ind_set and v not in eqs_y_set]
    lv_y = [v for v in lv_names if v in eqs_y_set and v not in eqs_x_set and v not in v_ind_set]
    ov_y = [v for v in ov_names if v in eqs_y_set and v not in eqs_x_set and v not in set(ov_ind)]
    vn = VarNames(lv_names=lv_names, ov_names=ov_names, ov_x=ov_x, ov_y=ov_y, lv_x=lv_x, lv_y=lv_y,
                  ov_ind=ov_ind, ov_nox=ov_nox, lv_set=lv_set, ov_x_set=ov_x_set,
                  lv_f={r.lhs for r in urows if r.op == "<~"}, lv_efa={r.lhs for r in urows if r.efa})
    return vn, warnings


def ordered_variables(urows: list[UserRow], vn: VarNames, ordered) -> None:
    """The ordered variables and their number of thresholds (``lav_partable_flat()``: those
    with ``|`` rows in the syntax and those named by ``ordered``, in ov order), in place.
    ``ordered`` is a list of names or ``{name: number of thresholds}`` (from the data: the
    number of categories - 1); from a list, the count is the highest ``tK`` written."""
    counts = dict(ordered) if isinstance(ordered, dict) else {}
    named = set(counts) | (set() if isinstance(ordered, dict) else {str(v) for v in (ordered or ())})
    written: dict[str, int] = {}
    for r in urows:
        if r.op == "|":
            written[r.lhs] = max(written.get(r.lhs, 0), int(r.rhs[1:]))
    for v in named:
        if v not in vn.ov_names and v not in vn.lv_set:
            continue  # lavaan ignores ordered= names the model does not use
        if v in vn.lv_set:
            raise OptionError(f"ordered: {v!r} is a latent variable, not an observed item")
    ords = [v for v in vn.ov_names if v in named or v in written]
    for v in ords:
        n = counts.get(v, written.get(v))
        if n is None:
            raise OptionError(f"ordered item {v!r}: the number of thresholds is unknown without data; give "
                              f"ordered={{{v!r}: K}} (K = categories - 1) or write '{v} | t1 + ...'")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= MAX_THRESHOLDS:
            raise OptionError(f"ordered item {v!r}: {n!r} thresholds (an ordered item needs 2 to "
                              f"{MAX_THRESHOLDS + 1} categories)")
        if written.get(v, 0) > int(n):
            raise SyntaxModelError(f"line {next(r.line for r in urows if r.op == '|' and r.lhs == v)}: item {v!r} has "
                                   f"{int(n)} threshold(s) in the data but t{written[v]} is written")
        vn.nth[v] = int(n)
    vn.ov_ord = ords


def reorder_covariances(urows: list[UserRow], vn: VarNames) -> None:
    """Put on the lhs of each user covariance the variable that comes first in
    ``lv_names + ov_names`` (lavaan's ``lav_partable_covariance_reorder()``), in place."""
    order = {v: i for i, v in enumerate(vn.lv_names + [v for v in vn.ov_names if v not in vn.lv_set])}
    for r in urows:
        if r.op == "~~" and r.lhs != r.rhs and order.get(r.lhs, 0) > order.get(r.rhs, 0):
            r.lhs, r.rhs = r.rhs, r.lhs


def check_observed(urows: list[UserRow], vn: VarNames, observed: Iterable[str] | None) -> None:
    """Every observed variable is a data column and no latent is (``lavaan()``: "missing
    observed variables in dataset"); errors name the line where the variable first appears."""
    if observed is None:
        return
    first_line: dict[str, int] = {}
    for r in urows:
        for v in (r.lhs, r.rhs):
            if v and v not in first_line:
                first_line[v] = r.line
    obs = set(str(c) for c in observed)
    for v in vn.lv_names:
        if v in obs:
            raise SyntaxModelError(
                f"line {first_line.get(v, 0)}: latent variable name {v!r} collides with a data column"
            )
    for v in vn.ov_names:
        if ":" in v and all(part in obs for part in v.split(":")):
            continue  # an interaction term x:z: the product of two data columns (lavaan computes it)
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


def check_labels(urows: list[UserRow], model: ParsedModel, vn: VarNames) -> set[str]:
    """asymtrust's checks of the names lavaan's ``lavaanify()`` reads from the labels and the
    ``:=`` rows (lavaan itself has none): a label is no variable name, a ``:=`` name is
    neither a label nor a variable. Returns the ``:=`` names."""
    var_names = set(vn.ov_names) | vn.lv_set
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
    return def_names


def meanstructure_rule(meanstructure: bool | None, urows: list[UserRow], opts: Options, missing: str) -> bool:
    """lavaan's ``meanstructure = "default"`` (``lav_options_set()``): on with several groups,
    ``missing`` ML/FIML or group.equal on intercepts/means; an intercept or mean written in
    the syntax switches it on whatever the option (lavaanify's "check for meanstructure"), and
    so does ``missing`` ML/FIML (lavaan forces it: ``meanstructure=False`` is overridden)."""
    has_int = any(r.op == "~1" for r in urows)
    if meanstructure is None:
        return bool(
            has_int
            or opts.ngroups > 1
            or missing in _MEANS_MISSING
            or "intercepts" in opts.group_equal
            or "means" in opts.group_equal
        )
    # FIML needs the means: lavaan forces meanstructure = TRUE for missing = "ml"/"ml.x"
    return bool(meanstructure) or has_int or missing in _MEANS_MISSING


# --------------------------------------------------------------------------------------
# 2. default rows, expanded per group
# --------------------------------------------------------------------------------------
def default_rows(urows: list[UserRow], vn: VarNames, meanstructure: bool,
                 auto_cov_y: bool = True) -> list[tuple[str, str, str]]:
    """The rows lavaan adds to the user's (``lav_partable_flat()``): (residual) variances of
    the non-x observed variables and all latents (2a), covariances of the exogenous latents
    (2b, ``auto.cov.lv.x``) and of the terminal outcomes (2c, ``auto.cov.y``), the fixed.x
    (co)variances (2d) and, with a meanstructure, intercepts and means (3); minus the rows the
    user wrote ("check for duplicated elements in DEFAULT"). ``auto_cov_y=False`` (lavaan's
    ``auto.cov.y``) leaves out 2c."""
    defaults: list[tuple[str, str, str]] = [(v, "|", f"t{k}") for v in vn.ov_ord for k in range(1, vn.nth[v] + 1)]
    defaults += [(v, "~~", v) for v in vn.ov_nox + vn.lv_names]
    defaults += [(a, "~~", b) for a, b in _pairs(vn.lv_x, diag=False)]
    if auto_cov_y:
        defaults += [(a, "~~", b) for a, b in _pairs(vn.lv_y + vn.ov_y, diag=False)]
    defaults += [(a, "~~", b) for a, b in _pairs(vn.ov_x, diag=True)]
    defaults += [(v, "~*~", v) for v in vn.ov_ord]
    if meanstructure:
        defaults += [(v, "~1", "") for v in vn.ov_names + vn.lv_names]
    user_keys = set()
    for r in urows:
        user_keys.add((r.lhs, r.op, r.rhs))
        if r.op == "~~":
            user_keys.add((r.rhs, r.op, r.lhs))
    return [d for d in _unique(defaults) if d not in user_keys]  # type: ignore[arg-type]


def marker_rows(urows: list[UserRow], vn: VarNames) -> Markers:
    """The rows lavaan fixes to set the metric (``lav_partable_flat()`` 1, ``auto.fix.first``:
    the first loading of each latent) and the only indicators of a latent (2,
    ``auto.fix.single``: their residual variance is fixed at 0)."""
    first_loading: set[int] = set()
    seen_lv: set[str] = set()
    n_ind: dict[str, int] = {}
    for i, r in enumerate(urows):
        if r.op == "=~" and getattr(r.term, "self_loading", False):
            continue  # 'f =~ 0': the row f =~ f fixed at 0 declares f, it is not an indicator
        if r.op == "=~":
            n_ind[r.lhs] = n_ind.get(r.lhs, 0) + 1
            if r.lhs not in seen_lv and not r.efa:  # efa factors have no marker (lavaan auto.efa)
                seen_lv.add(r.lhs)
                first_loading.add(i)
    # the only indicator of a latent, observed or latent (a latent indicator's residual
    # variance is fixed too), unless it also loads on another latent (lavaan 0.6-14)
    loads = [r for r in urows if r.op == "=~" and not getattr(r.term, "self_loading", False)]
    n_lv: dict[str, int] = {}
    for lhs, rhs in {(r.lhs, r.rhs) for r in loads}:
        n_lv[rhs] = n_lv.get(rhs, 0) + 1
    single_ind = {r.rhs for r in loads if n_ind[r.lhs] == 1 and n_lv[r.rhs] == 1}
    return Markers(first_loading=first_loading, single_ind=single_ind)


def _auto_values(k: int, lhs: str, op: str, rhs: str, user: int, vn: VarNames, marks: Markers,
                 fixed_x: bool, std_lv: bool, int_ov_free: bool = True,
                 int_lv_free: bool = False, orthogonal: bool = False) -> tuple[int, float, int, bool, bool]:
    """``free, ustart, exo`` of one row by lavaan's sem()/cfa() rules (``lav_partable_flat()``
    1 ``auto.fix.first``/``std.lv``, 2 ``auto.fix.single``, 4 intercepts, 5 fixed.x), and
    whether the row is an lv variance fixed by std.lv or an lv mean fixed by default."""
    free, ustart, exo = 1, math.nan, 0
    is_stdlv = is_lvmean = False
    if op == "=~":
        if k in marks.first_loading and not std_lv:
            free, ustart = 0, 1.0
    elif op == "~~":
        if lhs in vn.ov_x_set and rhs in vn.ov_x_set:
            if fixed_x:
                free, exo = 0, 1
        elif lhs == rhs and lhs in vn.nth and user == 0:  # ordered: the (residual) variance is fixed at 1
            free, ustart = 0, 1.0
        elif lhs == rhs and lhs in marks.single_ind and user == 0:  # lavaan: not when written by the user
            free, ustart = 0, 0.0
        elif lhs == rhs and lhs in vn.lv_efa:  # auto.efa: efa factors have unit variance
            free, ustart = 0, 1.0
        elif lhs == rhs and lhs in vn.lv_f and user == 0:  # a composite has no residual
            free, ustart = 0, 0.0
        elif lhs == rhs and lhs in vn.lv_set and std_lv:
            free, ustart = 0, 1.0
            is_stdlv = True
        elif orthogonal and user == 0 and lhs != rhs and lhs in vn.lv_set and rhs in vn.lv_set:
            free, ustart = 0, 0.0  # lavaan's orthogonal: the latent covariances it adds are fixed at 0
    elif op == "~*~":
        if user == 0:
            free, ustart = 0, 1.0
    elif op == "~1":
        if lhs in vn.nth and user == 0:  # ordered items: the intercept is 0 (thresholds take its place)
            free, ustart = 0, 0.0
        elif lhs in vn.ov_x_set:
            if fixed_x:
                free, exo = 0, 1
        elif lhs in vn.lv_set and user == 0:
            if not int_lv_free:  # lavaan's int.lv.free (sem(): FALSE, latent means fixed at 0)
                free, ustart = 0, 0.0
                is_lvmean = True
        elif user == 0 and not int_ov_free:  # lavaan's int.ov.free (sem(): TRUE)
            free, ustart = 0, 0.0
    return free, ustart, exo, is_stdlv, is_lvmean


def expand_groups(urows: list[UserRow], defaults: list[tuple[str, str, str]], vn: VarNames,
                  marks: Markers, ngroups: int, *, fixed_x: bool, std_lv: bool, int_ov_free: bool = True,
                  int_lv_free: bool = False, orthogonal: bool = False) -> GroupRows:
    """One copy of the user rows followed by the default rows per group (``lav_partable_flat()``
    6), valued by the sem()/cfa() rules (:func:`_auto_values`), then by the user's modifier of
    that group (lavaanify's "apply user-specified modifiers": a fixed value, ``NA`` frees, a
    start value, a label); plabels ``.p1.``, ``.p2.``, ... in row order."""
    out = GroupRows()
    for g in range(1, ngroups + 1):
        items: list[tuple[str, str, str, int, Any, int]] = [
            (r.lhs, r.op, r.rhs, 1, r.term.modifier(g), r.line) for r in urows
        ]
        items += [(lhs, op, rhs, 0, None, 0) for lhs, op, rhs in defaults]
        for k, (lhs, op, rhs, user, mod, line) in enumerate(items):
            free, ustart, exo, is_stdlv, is_lvmean = _auto_values(k, lhs, op, rhs, user, vn, marks, fixed_x, std_lv,
                                                                  int_ov_free, int_lv_free, orthogonal)
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
                if getattr(mod, "rv", ""):  # lavaan 0.6-14: rv() fixes the row, value NA, no label
                    free, ustart, exo, label = 0, math.nan, 0, ""
                    out.rv_lines.append(line)
            out.recs.append(
                dict(lhs=lhs, op=op, rhs=rhs, user=user, group=g, free=free, ustart=ustart,
                     exo=exo, label=label, line=line, efa=urows[k].efa if user else "")
            )
            out.stdlv_fixed.append(is_stdlv)
            out.user_fixed.append(mod is not None and mod.fixed is not None)
            out.lvmean_default.append(is_lvmean)
    for i, rec in enumerate(out.recs):
        rec["plabel"] = f".p{i + 1}."
    return out


def free_group_parameters(rows: GroupRows, opts: Options, std_lv: bool) -> None:
    """The "specific changes per group" of ``lav_partable_flat()`` 6, in place: with equal
    intercepts (and free means) the latent means of groups 2.. are free; with ``std.lv`` and
    equal loadings the latent variances of groups 2.. are free."""
    if opts.ngroups <= 1:
        return
    equal = opts.group_equal
    if ("intercepts" in equal or "thresholds" in equal) and "means" not in equal:
        for i, rec in enumerate(rows.recs):
            if rec["group"] > 1 and rows.lvmean_default[i]:
                rec["free"], rec["ustart"] = 1, math.nan
    if "thresholds" in equal:  # the scales (delta) or the residual variances (theta) of ordered items
        ordered = {rec["lhs"] for rec in rows.recs if rec["op"] == "|"}
        for rec in rows.recs:
            if rec["group"] > 1 and rec["user"] == 0 and (
                    rec["op"] == "~*~" if opts.parameterization == "delta" else
                    rec["op"] == "~~" and rec["lhs"] == rec["rhs"] and rec["lhs"] in ordered):
                rec["free"], rec["ustart"] = 1, math.nan
    if std_lv and "loadings" in opts.group_equal:
        for i, rec in enumerate(rows.recs):
            if rec["group"] > 1 and rows.stdlv_fixed[i]:
                rec["free"], rec["ustart"] = 1, math.nan


# --------------------------------------------------------------------------------------
# 3. labels: fixed labels, group.equal
# --------------------------------------------------------------------------------------
def share_fixed_labels(recs: list[dict[str, Any]]) -> dict[str, list[int]]:
    """All rows of a label share its fixed value (lavaanify's "handle user-specified equality
    constraints", case 1: the rows of a label include a fixed parameter, so all are fixed);
    two different fixed values are an error. Returns the rows of each label."""
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
    return by_label


def _equal_type(rec: dict[str, Any], lv_set: set[str], ov_nox_set: set[str]) -> str | None:
    """The group.equal item a row belongs to (``lav_partable_labels()``), or None."""
    op, lhs, rhs = rec["op"], rec["lhs"], rec["rhs"]
    if op == "=~":
        return "loadings"
    if op == "|":
        return "thresholds"
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


def apply_group_equal(rows: GroupRows, vn: VarNames, opts: Options) -> None:
    """group.equal and group.partial (``lav_partable_labels()``), in place: a value the user
    fixed in one group is fixed in every group; each free, non-exo group-1 row of an equal
    type (and not partial) gives its label (or plabel) to the unlabelled free copies in the
    other groups, so that :func:`label_equalities` writes the ``==`` rows."""
    if opts.ngroups <= 1 or not opts.group_equal:
        return
    recs, group_equal, partial = rows.recs, opts.group_equal, opts.partial
    ov_nox_set = set(vn.ov_nox)
    g1: dict[tuple[str, str, str], int] = {}
    copies: dict[tuple[str, str, str], list[int]] = {}
    for i, rec in enumerate(recs):
        k = (rec["lhs"], rec["op"], rec["rhs"])
        copies.setdefault(k, []).append(i)
        if rec["group"] == 1:
            g1[k] = i
    # a value fixed by the user in one group is fixed in every group (lavaan)
    for key, idx in copies.items():
        if key in partial or _equal_type(recs[idx[0]], vn.lv_set, ov_nox_set) not in group_equal:
            continue
        vals = {recs[i]["ustart"] for i in idx if rows.user_fixed[i]}
        if len(vals) == 1:
            v = next(iter(vals))
            for i in idx:
                recs[i]["free"], recs[i]["ustart"] = 0, v
    for key, i1 in g1.items():
        r1 = recs[i1]
        if (key in partial or _equal_type(r1, vn.lv_set, ov_nox_set) not in group_equal
                or r1["free"] == 0 or r1["exo"]):
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


def efa_constraints(recs: list[dict[str, Any]]) -> None:
    """The identification of each efa() set (``lav_partable_efa_constraints()``), in place: in
    every block, factor k of a set (k = 2..m) has its first k-1 loadings fixed at 0 (the
    echelon pattern) and the factors' covariances are fixed at 0 (user 7). When every loading
    of a later set (or of a later block) carries a label of the first set (block), those
    rows are tied by the labels instead and only marked (user 77)."""
    sets = list(dict.fromkeys(r["efa"] for r in recs if r["op"] == "=~" and r.get("efa")))
    blocks = list(dict.fromkeys(r.get("block", r["group"]) for r in recs if r["op"] == "=~"))
    first_set: list[str] = []
    first_block: dict[str, list[str]] = {}
    for b in blocks:
        for si, name in enumerate(sets):
            load = [i for i, r in enumerate(recs) if r["op"] == "=~" and r.get("block", r["group"]) == b
                    and r.get("efa") == name]
            lvs = list(dict.fromkeys(recs[i]["lhs"] for i in load))
            if len(lvs) <= 1:
                continue
            labels = [recs[i]["label"] for i in load]
            zero = True
            if si == 0:
                first_set = labels
            elif all(labels) and all(lab in first_set for lab in labels):
                zero = False
            if b == blocks[0]:
                first_block[name] = labels
            elif all(labels) and all(lab in first_block.get(name, ()) for lab in labels):
                zero = False
            _efa_echelon(recs, load, lvs, b, zero)


def _efa_echelon(recs: list[dict[str, Any]], load: list[int], lvs: list[str], block: Any, zero: bool) -> None:
    for k, lv in enumerate(lvs[1:], start=1):
        rows = [i for i in load if recs[i]["lhs"] == lv]
        if len(rows) < k:
            raise SyntaxModelError(f"line {recs[rows[0]]['line'] if rows else 0}: efa factor {lv!r} has fewer than "
                                   f"{k} indicators, too few for the echelon pattern that identifies its set")
        for i in rows[:k]:
            if zero:
                recs[i].update(free=0, ustart=0.0, user=7)
            else:
                recs[i]["user"] = 77
    lv_set = set(lvs)
    for r in recs:
        if (r["op"] == "~~" and r.get("block", r["group"]) == block and r["user"] == 0 and r["lhs"] != r["rhs"]
                and r["lhs"] in lv_set and r["rhs"] in lv_set):
            if zero:
                r.update(free=0, ustart=0.0, user=7)
            else:
                r["user"] = 77


def number_free(recs: list[dict[str, Any]]) -> None:
    """Number the free rows 1, 2, ... in table order (lavaanify's "count free parameters":
    the ``free`` column), in place."""
    slot = 0
    for rec in recs:
        if rec["free"]:
            slot += 1
            rec["free"] = slot


# --------------------------------------------------------------------------------------
# 4. constraints and definitions, the table
# --------------------------------------------------------------------------------------
def user_constraints(model: ParsedModel, recs: list[dict[str, Any]], by_label: dict[str, list[int]],
                     def_names: set[str]) -> Constraints:
    """The user's ``:=``, ``==``, ``<`` and ``>`` rows (lavaanify's "handle constraints" and
    "put lhs of := elements in label column"), in the written order: every expression is
    compiled against the labels, plabels and ``:=`` names (a ``:=`` only against earlier
    ones), so an unknown name is an error naming its line."""
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
    return Constraints(defined=defined, constraints=constraints, rows=con_recs, compiled=compiled_defs)


def label_equalities(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``==`` rows for free rows sharing a label, the first row being the reference (lavaanify's
    "handle user-specified equality constraints" with ``ceq.simple = FALSE``): labels in the
    order of their first duplicate, then the copies in row order."""
    members: dict[str, list[int]] = {}
    dup_order: list[str] = []
    for i, rec in enumerate(recs):
        lab = rec["label"]
        if not lab or rec["free"] == 0:
            continue
        members.setdefault(lab, []).append(i)
        if len(members[lab]) == 2:
            dup_order.append(lab)
    out = []
    for lab in dup_order:
        ref, *others = members[lab]
        for i in others:
            out.append(_con_rec(recs[ref]["plabel"], "==", recs[i]["plabel"], 2, "", 0))
    return out


def _auto_name(rec: dict[str, Any]) -> str:
    """lavaan's automatic name of a parameter row: ``lhs op rhs`` without blanks (``f=~x2``,
    ``x1~1``), ``.g2`` ... appended in groups 2 and later."""
    name = f"{rec['lhs']}~1" if rec["op"] == "~1" else f"{rec['lhs']}{rec['op']}{rec['rhs']}"
    return name + (f".g{rec['group']}" if rec["group"] > 1 else "")


def auto_label_equalities(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A label that is lavaan's automatic name of another parameter (``"f1=~x2"*x3``,
    ``equal("dem60=~y2")*y6``, ``.g2`` for a later group) makes the two equal (lavaanify); a
    row the user labelled goes by that label only, so its automatic name stays a plain label:
    the referenced row is labelled by its plabel and an ``==`` row (user 2) ties them; a
    fixed referenced row fixes the other at its value. Returns the ``==`` rows, in row order."""
    auto = {}
    for i, rec in enumerate(recs):
        # only an unlabelled row goes by its automatic name (a user label replaces it)
        if rec["op"] in ("=~", "~", "~~", "~1") and not rec["label"]:
            auto.setdefault(_auto_name(rec), i)
    out = []
    for i, rec in enumerate(recs):
        j = auto.get(rec["label"]) if rec["label"] else None
        if j is None or j == i:
            continue
        ref = recs[j]
        if ref["free"] == 0:
            rec["free"], rec["ustart"] = 0, ref["ustart"]
            continue
        if rec["free"] == 0:
            continue
        if not ref["label"]:
            ref["label"] = ref["plabel"]
        out.append(_con_rec(ref["plabel"], "==", rec["plabel"], 2, "", 0))
    return out


def assemble_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The parameter table as a DataFrame with lavaan's columns (``id`` 1..n; lavaanify's final
    ``data.frame``), integer and float columns typed, the others ``object``."""
    cols: dict[str, Any] = {"id": np.arange(1, len(rows) + 1, dtype=np.int64)}
    for c in COLUMNS[1:]:
        if c == "block":
            vals = [r.get("block", r["group"]) for r in rows]
        else:
            vals = [r.get(c, _COLUMN_DEFAULTS.get(c)) for r in rows]
        cols[c] = np.array(vals, dtype=_DTYPES[c]) if c in _DTYPES else np.array(vals, dtype=object)
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------------------
# 5. group: and level: blocks
# --------------------------------------------------------------------------------------
@dataclass
class Blocks:
    """The ``group:``/``level:`` blocks of a model: per block its group and level numbers."""

    group_of: list[int]
    level_of: list[int]
    group_labels: list[str]
    level_labels: list[str]


def block_layout(model: ParsedModel, opts: Options) -> Blocks:
    """Group and level numbers of the syntax's blocks (lavaanify: one sub-table per block);
    the groups of ``opts`` become the syntax's. Group labels are matched with the data's
    (``group_labels``) when given; a model with levels has two of them (within, then between)
    in every group."""
    glabels = _unique(str(g) for g, _ in model.blocks if g is not None)
    llabels = _unique(str(lv) for _, lv in model.blocks if lv is not None)
    if glabels:
        given = opts.group_labels if opts.ngroups > 1 or opts.group_labels != ["1"] else glabels
        unknown = [g for g in glabels if g not in given]
        if unknown or len(glabels) != len(given):
            raise OptionError(f"the syntax's group: blocks {glabels} do not match the data's groups {given}")
        glabels = list(given)
    elif opts.ngroups > 1:
        raise OptionError("a model with level: blocks and several groups needs a group: block per group")
    if llabels and len(llabels) != 2:
        raise OptionError(f"a multilevel model has two levels (within and between); the syntax has {llabels}")
    for g in glabels or [None]:
        levels = [lv for gg, lv in model.blocks if gg == g]
        if llabels and sorted(map(str, levels)) != sorted(llabels):
            raise OptionError(f"group {g!r} does not have a block for each level {llabels}")
    opts.ngroups, opts.group_labels = max(1, len(glabels)), glabels or ["1"]
    group_of = [glabels.index(str(g)) + 1 if g is not None else 1 for g, _ in model.blocks]
    level_of = [llabels.index(str(lv)) + 1 if lv is not None else 1 for _, lv in model.blocks]
    return Blocks(group_of=group_of, level_of=level_of, group_labels=glabels or ["1"], level_labels=llabels)


def expand_blocks(urows: list[UserRow], layout: Blocks, ordered, meanstructure: bool, *, fixed_x: bool,
                  std_lv: bool, auto_cov_y: bool, int_ov_free: bool, int_lv_free: bool,
                  orthogonal: bool = False) -> GroupRows:
    """The rows of each block, each built as a one-group model (lavaanify runs
    ``lav_partable_flat()`` per block), with the block's group, level and number; in a
    two-level model, the within-level intercepts of the variables that have a between-level
    intercept are fixed at 0 (lavaanify's multilevel rule)."""
    out = GroupRows()
    for b in range(1, len(layout.group_of) + 1):
        rows = [r for r in urows if r.block == b]
        vn, _ = variable_names(rows)
        reorder_covariances(rows, vn)
        ordered_variables(rows, vn, ordered)
        part = expand_groups(rows, default_rows(rows, vn, meanstructure, auto_cov_y=auto_cov_y), vn,
                             marker_rows(rows, vn), 1, fixed_x=fixed_x, std_lv=std_lv,
                             int_ov_free=int_ov_free, int_lv_free=int_lv_free, orthogonal=orthogonal)
        for rec in part.recs:
            rec.update(group=layout.group_of[b - 1], level=layout.level_of[b - 1], block=b)
        out.recs += part.recs
        out.stdlv_fixed += part.stdlv_fixed
        out.lvmean_default += part.lvmean_default
        out.user_fixed += part.user_fixed
        out.rv_lines += part.rv_lines
    if layout.level_labels:
        lv_names = {r.lhs for r in urows if r.op in ("=~", "<~")}
        upper = {r["lhs"] for r in out.recs if r["op"] == "~1" and r["level"] > 1 and r["lhs"] not in lv_names}
        for rec in out.recs:
            if rec["op"] == "~1" and rec["level"] == 1 and rec["lhs"] in upper and rec["user"] == 0:
                rec["free"], rec["ustart"] = 0, 0.0
    for i, rec in enumerate(out.recs):
        rec["plabel"] = f".p{i + 1}."
    return out
