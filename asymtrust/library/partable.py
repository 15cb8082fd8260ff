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

:func:`build_partable` is a short driver over the steps of lavaan's ``lavaanify()``, one function
each in :mod:`asymtrust.library.partable_steps`: flatten the user's rows, add the default rows,
expand them per group, apply the user's modifiers, fixed labels and ``group.equal``, number the
free parameters, then the constraints (``:=``, ``==``, ``<``, ``>`` and the ``==`` rows of shared
labels).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import OptionError
from .partable_steps import (
    COLUMNS,
    block_layout,
    efa_constraints,
    expand_blocks,
    ordered_variables,
    GROUP_EQUAL_TYPES,
    MISSING_OPTIONS,
    apply_group_equal,
    assemble_table,
    auto_label_equalities,
    check_labels,
    check_observed,
    check_options,
    compile_known,
    default_rows,
    expand_groups,
    flatten_user_rows,
    free_group_parameters,
    label_equalities,
    marker_rows,
    meanstructure_rule,
    number_free,
    reorder_covariances,
    share_fixed_labels,
    user_constraints,
    variable_names,
)
from .syntax import CompiledExpression, parse_syntax

#: forms of syntax.PENDING_FORMS the table carries: ``f =~ 0`` (lavaan's row ``f =~ f`` fixed at 0),
#: labels naming another parameter (an equality), ``rv()`` (the row fixed without a value, as
#: lavaan 0.6-14's table has it; fit() refuses it: :func:`asymtrust.engine.compile.compile_model`)
_ACCEPTED_FORMS = frozenset({"self_loading", "auto_label", "rv", "thresholds", "composites", "efa", "blocks",
                             "interactions"})

__all__ = ["ParTable", "build_partable", "parameter_table", "count_npar_df", "GROUP_EQUAL_TYPES", "MISSING_OPTIONS",
           "COLUMNS",
           "compile_known"]


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
    #: ordered items (ov order) and their number of thresholds
    ov_ord: list[str] = field(default_factory=list)
    nthresholds: dict[str, int] = field(default_factory=dict)
    parameterization: str = "delta"
    #: level labels of a two-level model (``level:`` blocks); ``[]`` for a single level
    level_labels: list[str] = field(default_factory=list)

    # ---- convenience -----------------------------------------------------------------
    @property
    def rv_lines(self) -> list[int]:
        """Lines of ``rv()`` modifiers (rows fixed without a value, as lavaan 0.6-14's table)."""
        return list(self.__dict__.get("_rv_lines", []))

    def copy(self) -> "ParTable":
        """Deep copy (the table and every list attribute)."""
        out = dataclasses.replace(
            self,
            table=self.table.copy(deep=True),
            **{
                f.name: list(getattr(self, f.name))
                for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), list)
            },
        )
        if self.rv_lines:
            out.__dict__["_rv_lines"] = self.rv_lines
        return out

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

    @property
    def nlevels(self) -> int:
        """Number of levels (2 for a model with ``level:`` blocks)."""
        return max(1, len(self.level_labels))

    @property
    def has_efa(self) -> bool:
        """Whether the model has efa() sets (exploratory factors, ESEM); computed once per table."""
        hit = self.__dict__.get("_has_efa")
        if hit is None or hit[0] is not self.table:
            hit = (self.table, bool((self.table["efa"].to_numpy() != "").any()))
            self.__dict__["_has_efa"] = hit
        return hit[1]

    def to_lavaan_frame(self) -> pd.DataFrame:
        """The table with lavaan's column order (``line``, ``level`` and ``efa`` dropped)."""
        t = self.table.drop(columns=["line", "level", "efa"])
        cols = list(t.columns)
        cols.remove("block")
        cols.insert(cols.index("group"), "block")
        return t[cols]

    def __repr__(self) -> str:
        return (
            f"ParTable({len(self.table)} rows, {self.n_free} free, {self.n_eq} '==' rows, "
            f"{self.ngroups} group(s), lv={self.lv_names}, ov={self.ov_names})"
        )


# --------------------------------------------------------------------------------------
# main entry
# --------------------------------------------------------------------------------------
def _vn_fields(vn) -> dict[str, Any]:
    """The variable sets a :class:`ParTable` carries."""
    return dict(ov_names=vn.ov_names, lv_names=vn.lv_names, ov_x=vn.ov_x, ov_y=vn.ov_y, lv_x=vn.lv_x,
                lv_y=vn.lv_y, ov_ind=vn.ov_ind, ov_nox=vn.ov_nox, ov_ord=list(vn.ov_ord), nthresholds=dict(vn.nth))


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
    int_ov_free: bool = True,
    int_lv_free: bool = False,
    auto_cov_y: bool = True,
    ordered: Iterable[str] | dict[str, int] | None = None,
    parameterization: str = "delta",
    orthogonal: bool = False,
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
    int_ov_free, int_lv_free, auto_cov_y : bool
        lavaan's options of those names (``sem()`` defaults: observed intercepts free,
        latent means fixed at 0, covariances of the terminal outcomes free).
    ordered : list of str or dict, optional
        Ordered (categorical) items, as lavaan's ``ordered=``: a list of names, or
        ``{name: number of thresholds}`` (categories - 1, which :func:`asymtrust.fit` reads from
        the data). Items with ``|`` rows in the syntax are ordered too. Each gets its
        thresholds ``item | t1 ...``, a scale row ``item ~*~ item``, its intercept fixed at 0
        and its (residual) variance fixed at 1, as lavaan's delta parameterization writes them.
    orthogonal : bool
        lavaan's ``orthogonal``: the covariances lavaan adds between latent variables are
        fixed at 0 (those written in the syntax stay as written).
    parameterization : {"delta", "theta"}
        lavaan's ``parameterization`` for ordered items (it changes which rows groups 2..
        free under ``group_equal=["thresholds"]``).

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
    opts = check_options(ngroups, missing, group_equal, group_partial, group_labels, parameterization)
    # flatten the user's rows; the variables they name
    model = parse_syntax(syntax, accept=_ACCEPTED_FORMS)
    layout = block_layout(model, opts) if model.blocks else None  # group:/level: blocks set the groups
    urows = flatten_user_rows(model, 1 if layout else opts.ngroups)
    vn, warnings = variable_names(urows)
    reorder_covariances(urows, vn)
    check_observed(urows, vn, observed)
    ordered_variables(urows, vn, ordered)
    def_names = check_labels(urows, model, vn)
    # the default rows; every row expanded per group (or per block)
    meanstructure = bool(vn.ov_ord) or bool(layout and layout.level_labels) or meanstructure_rule(
        meanstructure, urows, opts, missing)
    flags = dict(fixed_x=fixed_x, std_lv=std_lv, int_ov_free=int_ov_free, int_lv_free=int_lv_free, orthogonal=orthogonal)
    if layout is None:
        defaults = default_rows(urows, vn, meanstructure, auto_cov_y=bool(auto_cov_y))
        marks = marker_rows(urows, vn)
        rows = expand_groups(urows, defaults, vn, marks, opts.ngroups, **flags)
    else:
        rows = expand_blocks(urows, layout, ordered, meanstructure, auto_cov_y=bool(auto_cov_y), **flags)
    free_group_parameters(rows, opts, std_lv)
    # labels: fixed labels, group.equal, efa() sets; the free parameters
    by_label = share_fixed_labels(rows.recs)
    apply_group_equal(rows, vn, opts)
    efa_constraints(rows.recs)
    auto_eq = auto_label_equalities(rows.recs)  # labels naming another parameter ("f=~x2")
    number_free(rows.recs)
    # constraints: the user's :=, ==, <, >, then == from shared labels
    cons = user_constraints(model, rows.recs, by_label, def_names)
    equalities = label_equalities(rows.recs)
    table = assemble_table(rows.recs + cons.rows + equalities + auto_eq)
    pt = ParTable(
        table=table, **_vn_fields(vn), meanstructure=bool(meanstructure), ngroups=opts.ngroups,
        group_labels=opts.group_labels, fixed_x=bool(fixed_x), std_lv=bool(std_lv), defined=cons.defined,
        constraints=cons.constraints, warnings=warnings, parameterization=parameterization,
        level_labels=list(layout.level_labels) if layout else [],
    )
    pt.__dict__.update(_compiled_defined=tuple(cons.compiled), **({"_rv_lines": sorted(set(rows.rv_lines))}
                                                                   if rows.rv_lines else {}))
    return pt


# --------------------------------------------------------------------------------------
# the analyst's view: lavaan's parTable()
# --------------------------------------------------------------------------------------
_LAVAAN_COLUMNS = ["id", "lhs", "op", "rhs", "user", "block", "group", "free", "ustart", "exo", "label", "plabel"]


def _equality_rank(table: pd.DataFrame) -> int:
    """The number of independent linear equality constraints among the ``==`` rows whose
    sides are parameter names (shared labels, group.equal, ``a == b``): the rank of their
    Jacobian, as lavaan's npar subtracts it. Other ``==`` rows count one each."""
    free_of = {}
    for r in table.itertuples(index=False):
        if r.free > 0:
            free_of[r.plabel] = int(r.free)
            if r.label:
                free_of.setdefault(r.label, int(r.free))
    eq = table[table["op"] == "=="]
    if not len(eq):
        return 0
    rows, other = [], 0
    n = int(table["free"].max())
    for r in eq.itertuples(index=False):
        a, b = free_of.get(str(r.lhs).strip()), free_of.get(str(r.rhs).strip())
        if a is None or b is None:
            other += 1
            continue
        v = np.zeros(n)
        v[a - 1] += 1.0
        v[b - 1] -= 1.0
        rows.append(v)
    return (int(np.linalg.matrix_rank(np.array(rows))) if rows else 0) + other


def parameter_table(model, observed: Iterable[str] | None = None, ngroups: int = 1,
                    group_labels: Sequence[Any] | None = None, **options) -> pd.DataFrame:
    """lavaan's ``parTable()`` of a model before any data: the user's rows and the
    defaults ``sem()`` adds, one row per parameter.

    Parameters
    ----------
    model : str
        lavaan model syntax.
    observed, ngroups, group_labels :
        As :func:`build_partable` (the data's columns, the number of groups and their names).
    **options
        :func:`build_partable`'s options (``meanstructure``, ``fixed_x``, ``group_equal``,
        ``group_partial``, ``std_lv``, ``missing``, ``int_ov_free``, ``int_lv_free``,
        ``auto_cov_y``), under their Python or lavaan (dotted) names.

    Returns
    -------
    pandas.DataFrame
        Columns ``id, lhs, op, rhs, user, block, group, free, ustart, exo, label, plabel``
        (``block`` = ``group``: one level per group), with ``attrs["npar"]`` (free
        parameters minus independent equality constraints, as lavaan counts them) and
        ``attrs["df"]`` (sample moments, fixed-x moments left out, minus npar).

    Notes
    -----
    In R: ``lavaan::parTable(lavaan::sem(model, data, do.fit = FALSE))`` or ``lavaanify()``
    with ``sem()``'s ``auto.*`` options.

    Examples
    --------
    >>> t = parameter_table("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6")
    >>> t.attrs["npar"], t.attrs["df"]
    (13, 8)
    """
    if hasattr(model, "syntax"):
        model = model.syntax
    opts = {str(k).replace(".", "_"): v for k, v in options.items()}
    pt = build_partable(model, observed=observed, ngroups=ngroups, group_labels=group_labels, **opts)
    out = pt.to_lavaan_frame()
    out = out[_LAVAAN_COLUMNS].reset_index(drop=True)
    npar, df = count_npar_df(pt)
    out.attrs["npar"] = npar
    out.attrs["df"] = df
    return out


def _block_moments(tab: pd.DataFrame, pt: ParTable) -> tuple[int, int]:
    """Sample moments of one block (rows of one group and level) and those of its fixed-x
    covariates: (co)variances and, with a mean structure, means; for ordered items
    thresholds and correlations (lavaan: nth + numeric means and variances + p(p-1)/2); the
    within level of a two-level model has no means."""
    names = set(tab.loc[tab["op"].isin(["=~", "~", "~~", "~1", "|", "<~"]), "lhs"]) | set(
        tab.loc[tab["op"].isin(["=~", "~", "~~", "<~"]), "rhs"])
    ov = [v for v in pt.ov_names if v in names] if pt.level_labels else list(pt.ov_names)
    p = len(ov)
    means = bool(pt.meanstructure) and not (pt.level_labels and int(tab["level"].iloc[0]) == 1)
    exo = set(tab.loc[(tab["exo"] == 1) & (tab["op"] == "~~"), "lhs"])
    q = len([v for v in pt.ov_x if v in exo and v in ov])
    nexo = q * (q + 1) // 2 + (q if means else 0)
    if pt.ov_ord:
        num = [v for v in ov if v not in pt.nthresholds]
        nth = sum(pt.nthresholds.get(v, 0) for v in ov)
        return nth + 2 * len(num) + p * (p - 1) // 2, nexo
    return p * (p + 1) // 2 + (p if means else 0), nexo


def count_npar_df(pt: ParTable) -> tuple[int, int]:
    """lavaan's npar (free parameters minus independent equality constraints) and df (sample
    moments, fixed-x moments left out, minus npar) of a parameter table, counted block by
    block (groups, levels; ordered items have thresholds and correlations).

    As lavaan 0.6-14 counts a model before fitting (``lav_utils_get_npar``): with an
    inequality constraint (``<``, ``>``) lavaan builds the constraint Jacobian only when it
    fits, so the equality constraints are not subtracted from an unfitted model's npar."""
    tab = pt.table
    unfitted_ineq = bool(tab["op"].isin(["<", ">"]).any())
    npar = int((tab["free"] > 0).sum()) - (0 if unfitted_ineq else _equality_rank(tab))
    ndat = nexo = 0
    par = tab[tab["block"] > 0]
    for _, block in par.groupby("block", sort=True):
        d, x = _block_moments(block, pt)
        ndat, nexo = ndat + d, nexo + x
    return npar, ndat - nexo - npar
