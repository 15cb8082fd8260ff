"""Multi-group measurement invariance and per-path group comparisons
(pipeline step: results -> effects / **invariance** / compare).

:func:`invariance` fits the measurement model jointly in every group at increasingly
strict levels of equality (lavaan's ``group.equal``):

==========  ==============================================  =========================
level       equal across groups                             lavaan ``group.equal``
==========  ==============================================  =========================
configural  nothing (same pattern of loadings)              —
metric      loadings                                        ``"loadings"``
scalar      loadings, item intercepts                       ``+ "intercepts"``
strict      loadings, item intercepts, residual variances   ``+ "residuals"``
==========  ==============================================  =========================

(with ``ordered=`` items the ordinal ladder configural, thresholds, metric, scalar, under
lavaan's own identification or, ``identification="wu.estabrook"``, Wu & Estabrook's (2016)
as semTools' ``measEq.syntax`` writes it: :func:`wu_estabrook_syntax`)
and compares each level with the one before it: the chi-square difference test
(Satorra–Bentler 2001 scaled for MLR, as lavaan's ``lavTestLRT``) and the change in
CFI, judged by Cheung & Rensvold's (2002) ΔCFI ≥ −.01 rule. Both criteria are stated
in the verdict; they can disagree (the χ² test is sensitive to N).

:func:`path_equality` asks, path by path, whether a structural effect is the same in
every group ("does capacity imbalance erode goodwill trust more in councils than in
the NHS?"): the model with the path's coefficient constrained equal across groups
(per-group labels ``c(b, b, b)*CapImb``) against the model where it is free, both
with metric invariance (equal loadings), so that the latent scales are comparable.
"""
from __future__ import annotations

import re
import warnings as _warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .compare import difference_test
from .provenance import ResultTable, data_usage, fit_problems, result_table
from ..exceptions import (
    DataError,
    GroupError,
    InsufficientDataError,
    LabelError,
    OptionError,
    SpecError,
)

__all__ = ["ALPHA", "DELTA_CFI_CUTOFF", "LEVELS", "ORDINAL_LEVELS", "invariance", "partial_search", "path_equality",
           "wu_estabrook_syntax"]

#: invariance level -> lavaan ``group.equal``
LEVELS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}

#: the ordinal ladder (``ordered=``), lavaan's ``cfa(..., ordered=, group.equal=)`` per level
ORDINAL_LEVELS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "thresholds": ("thresholds",),
    "metric": ("thresholds", "loadings"),
    "scalar": ("thresholds", "loadings", "intercepts"),
}
#: estimators whose fits carry scaled tests and robust indices
_SCALED_ESTIMATORS = ("MLR", "WLSMV", "WLSM", "ULSMV")

#: ΔCFI cut-off used when ``datasets/cutoffs.csv`` has no ``delta_cfi`` row.
#: ``delta_cfi`` = CFI(more constrained) − CFI(less constrained); invariance holds when
#: ``delta_cfi >= -0.01``.
DELTA_CFI_CUTOFF: dict[str, Any] = {
    "statistic": "delta_cfi",
    "rule": ">=",
    "threshold": -0.01,
    "citation": ("Cheung, G. W., & Rensvold, R. B. (2002). Evaluating goodness-of-fit indexes for testing "
                 "measurement invariance. Structural Equation Modeling, 9(2), 233-255."),
}
#: significance level of the chi-square difference tests (conventional .05)
ALPHA = 0.05

_INV_COLUMNS = ["level", "group_equal", "npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr",
                "aic", "bic", "delta_chisq", "delta_df", "p_delta", "delta_cfi", "cfi_ok", "chisq_ok",
                "verdict", "converged"]
_INV_SCALED = ["chisq_scaled", "chisq_scaling_factor", "pvalue_scaled", "cfi_scaled", "tli_scaled",
               "rmsea_scaled", "cfi_robust", "tli_robust", "rmsea_robust", "chisq_diff_raw",
               "scaling_factor_d"]
_OPS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


# ----------------------------------------------------------------------------- helpers
def _delta_cfi_cutoff() -> dict[str, Any]:
    """The ΔCFI row of the cut-offs table, or :data:`DELTA_CFI_CUTOFF` if it has none."""
    from .cutoffs import load_cutoffs

    tab = load_cutoffs()
    hit = tab[tab["statistic"] == "delta_cfi"]
    if len(hit):
        r = hit.iloc[0]
        return {"statistic": "delta_cfi", "rule": str(r["rule"]), "threshold": float(r["threshold"]),
                "citation": str(r["citation"])}
    return dict(DELTA_CFI_CUTOFF)


def _short_cite(citation: str) -> str:
    from .cutoffs import short_citation

    return short_citation(citation)


def _resolve(model: Any) -> tuple[str, Any]:
    """(syntax, spec or None) of a spec name, ModelSpec, path or syntax string."""
    from ..engine.fit import model_syntax
    from ..library.specs import ModelSpec, load_spec

    if isinstance(model, ModelSpec):
        return model.syntax, model
    if isinstance(model, str) and not any(op in model for op in ("=~", "~", ":=", "==")):
        spec = load_spec(model.strip())
        return spec.syntax, spec
    return model_syntax(model), None


def _measurement_model(model: Any) -> tuple[str, str]:
    """Syntax of the model to test for invariance, and a note saying where it came from."""
    from ..library.specs import parse_structure

    syntax, spec = _resolve(model)
    _, regressions, measurement = parse_structure(syntax)
    name = spec.name if spec is not None else "the syntax"
    if not measurement:
        raise SpecError(f"{name} has no '=~' statements: measurement invariance needs latent variables")
    if regressions:
        text = spec.measurement_syntax() if spec is not None else "\n".join(measurement) + "\n"
        return text, (f"{name} is a structural model: the invariance ladder uses its measurement model "
                      f"(the {len(measurement)} '=~' statements, all factors correlated)")
    return syntax, f"{name} used as written"


def _group_levels(data: pd.DataFrame, group: str) -> list[str]:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if not isinstance(group, str) or group not in data.columns:
        raise GroupError(f"grouping column {group!r} is not in the data")
    levels = list(pd.unique(data[group].dropna()))
    if len(levels) < 2:
        shown = levels[0] if levels else "none"
        raise GroupError(f"grouping column {group!r} has a single level ({shown}); multi-group SEM needs at least two")
    return [str(v) for v in levels]


def _check_group_sizes(syntax: str, data: pd.DataFrame, group: str, labels: list[str], missing: str) -> None:
    """Raise InsufficientDataError when a group has fewer usable cases than the
    configural model has free parameters per group."""
    from ..library.partable import build_partable

    miss = "ml" if str(missing).lower() in ("fiml", "ml", "direct", "ml.x") else "listwise"
    pt = build_partable(syntax, observed=[str(c) for c in data.columns], ngroups=len(labels),
                        group_labels=labels, missing=miss)
    tab = pt.table
    ov = list(pt.ov_names)
    X = data[ov].apply(pd.to_numeric, errors="coerce")
    gcol = data[group].astype(str).where(data[group].notna())
    for g, lab in enumerate(labels, start=1):
        rows = X[(gcol == lab).to_numpy()]
        n = int(rows.notna().all(axis=1).sum()) if miss == "listwise" else int(rows.notna().any(axis=1).sum())
        k = int(((tab["group"] == g) & (tab["free"] > 0)).sum())
        if n < k:
            what = "complete cases" if miss == "listwise" else "non-empty cases"
            raise InsufficientDataError(
                f"group {lab!r} of column {group!r} has {n} {what} but the configural model has {k} free "
                f"parameters per group; merge groups, simplify the model or collect more data")


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p = NA"
    return "p < .001" if p < 0.001 else f"p = {p:.3f}".replace("0.", ".", 1)


def _verdict(level: str, delta_cfi: float, cfi_ok: Any, T: float, ddf: float, p: float, chisq_ok: Any,
             cut: dict[str, Any], scaled: bool) -> str:
    cite = _short_cite(cut["citation"])
    thr = f"{cut['threshold']:g}".replace("0.", ".", 1)
    cfi_txt = (f"ΔCFI = {delta_cfi:+.3f} ({'meets' if cfi_ok else 'fails'} ΔCFI {cut['rule']} {thr}, {cite})"
               if np.isfinite(delta_cfi) else "ΔCFI = NA")
    stat = "scaled Δχ²" if scaled else "Δχ²"
    chi_txt = (f"{stat}({ddf:g}) = {T:.2f}, {_fmt_p(p)} ({'not significant' if chisq_ok else 'significant'} "
               f"at α = {ALPHA:g})" if np.isfinite(T) and np.isfinite(p) else f"{stat} not available")
    if cfi_ok is True and chisq_ok is True:
        head = f"{level} invariance supported"
    elif cfi_ok is False and chisq_ok is False:
        head = f"{level} invariance not supported"
    elif cfi_ok is True and chisq_ok is False:
        head = f"{level} invariance: mixed (ΔCFI criterion met, χ² difference test rejects)"
    elif cfi_ok is False and chisq_ok is True:
        head = f"{level} invariance: mixed (χ² difference test retains, ΔCFI criterion fails)"
    else:
        head = f"{level} invariance: undecided"
    return f"{head}: {cfi_txt}; {chi_txt}"


def _passes(rule: str, value: float, threshold: float) -> Any:
    if not np.isfinite(value):
        return None
    return bool(_OPS[rule](value, threshold))


# ----------------------------------------------------------------------------- invariance
def invariance(model: Any, data: pd.DataFrame, group: str, *,
               levels: Sequence[str] | None = None,
               estimator: str | None = None, missing: str = "listwise", partial: str | None = None,
               alpha: float = ALPHA, max_free: int = 5, ordered: Any = None,
               parameterization: str = "delta", identification: str = "lavaan") -> ResultTable:
    """Measurement-invariance ladder across the groups of ``group``.

    Parameters
    ----------
    model : str or ModelSpec
        A spec name (``"fig1"``), a :class:`~asymtrust.library.specs.ModelSpec`, a ``.lav``/``.toml``
        path or lavaan syntax. For a structural model (one with ``~`` regressions) the
        ladder uses its **measurement model**: the ``=~`` statements only
        (:meth:`ModelSpec.measurement_syntax`), with all factors correlated, since
        invariance concerns how the items measure the constructs; the note is stored
        in ``attrs["model_note"]``.
    data : pandas.DataFrame
        Survey data (reverse-keyed items already recoded, :func:`asymtrust.recode_reverse`).
    group : str
        Grouping column (e.g. ``"sector"``); groups in order of first appearance, as lavaan.
    levels : sequence of str
        Any of ``configural, metric, scalar, strict`` (default: all four), in this order;
        each level is compared with the one listed before it. With ``ordered``: any of
        ``configural, thresholds, metric, scalar`` (default: all four; :data:`ORDINAL_LEVELS`).
    estimator : {"ML", "MLR"}, or with ``ordered`` {"WLSMV", "WLSM", "ULSMV"}
        Default: ``"ML"``, or ``"WLSMV"`` with ``ordered``.
        MLR adds the scaled/robust indices, uses the Satorra–Bentler (2001) scaled
        difference test (``delta_chisq`` = T, ``scaling_factor_d`` = c_d,
        ``chisq_diff_raw`` = the unscaled difference) and bases ``delta_cfi`` on the
        robust CFI (Brosseau-Liard & Savalei 2014).
    missing : {"listwise", "fiml"}, or with ``ordered`` {"listwise", "pairwise"}
    ordered : True or list of str, optional
        Ordered-categorical items (lavaan's ``ordered=``): the ordinal ladder, each level
        fitted as lavaan 0.6-14's ``cfa(model, data, ordered=, group=, group.equal=)`` with
        lavaan's own identification: ``thresholds`` (``group.equal = "thresholds"``),
        ``metric`` (thresholds + loadings) and ``scalar`` (thresholds + loadings +
        intercepts). The χ² differences of WLSMV fits are lavaan's ``lavTestLRT`` default
        for scaled-and-shifted tests (Satorra 2000, ``method = "satorra.2000"``,
        :func:`asymtrust.analysis.compare.satorra2000`); ``delta_cfi`` uses the robust CFI
        where it is defined, else the scaled one. ``partial="auto"`` is refused with
        ``ordered`` (the score-test search is for continuous items only).
    parameterization : {"delta", "theta"}
        With ``ordered`` only (lavaan's ``parameterization``).
    identification : {"lavaan", "wu.estabrook"}
        With ``ordered`` only. ``"lavaan"`` (default): lavaan 0.6-14's own identification
        per level, as above. ``"wu.estabrook"``: Wu & Estabrook's (2016) identification as
        semTools 0.5-6 ``measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016")``
        writes it (:func:`wu_estabrook_syntax`): factors with unit variance and zero mean
        in the first group; the configural model fixes every item's intercept at 0 and
        scale at 1 (delta; its residual variance, theta); once an item's thresholds are
        equal its intercept (groups 2..) is free, and its scale (or residual variance) too
        when at least two thresholds are equal or the intercepts are equal too; with equal
        loadings the factor variances of groups 2.. are free, with equal intercepts (then
        fixed at 0 in every group) the factor means. Each level's syntax is in
        ``attrs["level_syntax"]``. Every indicator must be ordered with at least two
        thresholds (binary items are refused by name).
    partial : {None, "auto"}
        ``"auto"``: a guided partial-invariance search (:func:`partial_search`). When a
        level fails (Δχ² significant at ``alpha``, or ΔCFI beyond the cut-off), the
        equality constraint of that level with the largest score test (lavaan's
        ``lavTestScore``) is released if that test is itself significant, p <
        ``alpha`` / m with m the number of candidate constraints of the level
        (Bonferroni), the model refitted and compared again with the accepted model of
        the level before, one parameter at a time, until the level holds, ``max_free``
        parameters of the level are free or no single constraint passes; markers are
        never freed. A level that fails with no significant single constraint is
        reported as such (``attrs["partial"]["unresolved"]`` and a warning) and nothing
        is freed for it. Each partial model is a row ``"<level> (partial)"``;
        ``attrs["partial"]`` lists what was freed and why and whether every factor keeps
        at least two invariant indicators (Byrne, Shavelson & Muthén 1989), which a
        latent mean comparison needs.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``level, group_equal, npar, chisq, df, pvalue, cfi, tli,
        rmsea, srmr, aic, bic, delta_chisq, delta_df, p_delta, delta_cfi, cfi_ok,
        chisq_ok, verdict, converged`` (+ the MLR columns). ``delta_cfi`` is CFI of the
        level minus CFI of the level before (negative = worse fit). ``cfi_ok``:
        ``delta_cfi`` passes the cut-off (Cheung & Rensvold 2002: ΔCFI ≥ −.01);
        ``chisq_ok``: ``p_delta > .05``. ``verdict`` states both. ``attrs`` holds
        ``group``, ``group_labels``, ``nobs``, ``estimator``, ``syntax``, ``model_note``,
        ``cutoff`` (rule and citation), ``alpha``, ``warnings`` (each level's fit
        problems, e.g. ``"metric: Heywood case: ..."``, and the tests' warnings) and
        ``data`` (rows read, used and dropped). The table is a
        :class:`~asymtrust.analysis.compare.ResultTable`: ``str()`` and ``to_dict()`` show both.

    Raises
    ------
    asymtrust.exceptions.GroupError
        ``group`` is not a column or has a single level.
    asymtrust.exceptions.InsufficientDataError
        A group has fewer usable cases than the configural model has free parameters
        per group (the message names the group and both counts).
    asymtrust.exceptions.OptionError
        An unknown, repeated or out-of-order level.

    Examples
    --------
    >>> import asymtrust
    >>> hs = asymtrust.load_dataset("hs1939")
    >>> m = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
    >>> tab = invariance(m, hs, "school", levels=("configural", "metric"))
    >>> round(float(tab.loc[1, "delta_chisq"]), 3), int(tab.loc[1, "delta_df"])
    (8.192, 6)

    In R: ``cfa(model, data, group = "school", group.equal = c("loadings", ...))`` per
    level, then ``lavTestLRT(configural, metric, scalar, strict)``.
    """
    from ..engine.fit import fit as _fit

    ladder = ORDINAL_LEVELS if ordered not in (None, False) else LEVELS
    levels = _check_levels(tuple(ladder) if levels is None else levels, ladder)
    if partial not in (None, "auto"):
        raise OptionError(f"partial must be None or 'auto', not {partial!r}")
    if partial is not None and ladder is ORDINAL_LEVELS:
        raise OptionError("partial='auto' with ordered= (a partial-invariance search for ordinal items) "
                          "is not supported; free constraints by hand with group_partial in asymtrust.fit()")
    extra: dict[str, Any] = {}
    identification = _check_identification(identification, ladder is ORDINAL_LEVELS)
    if ladder is ORDINAL_LEVELS:
        extra = {"ordered": ordered, "parameterization": parameterization}
        if identification == "wu.estabrook":
            extra["std_lv"] = True
    elif str(parameterization).lower() != "delta":
        raise OptionError("parameterization= applies to ordered items only (pass ordered=)")
    if estimator is None:
        estimator = "WLSMV" if ladder is ORDINAL_LEVELS else "ML"
    syntax, note = _measurement_model(model)
    labels = _group_levels(data, group)
    _check_group_sizes(syntax, data, group, labels, missing)
    cut = _delta_cfi_cutoff()
    estimator = str(estimator).upper()
    msgs: list[str] = []
    fits = []
    usage = []
    level_syntax: dict[str, str] = {}
    configural = None
    if identification == "wu.estabrook":  # the configural model first: the items' numbers of thresholds
        text = wu_estabrook_syntax(syntax, (), len(labels))
        configural = _fit(text, data, estimator=estimator, missing=missing, group=group, **extra)
        _check_wu_items(_threshold_counts(configural))
    for level in levels:
        text = syntax
        if identification == "wu.estabrook":
            text = level_syntax[level] = wu_estabrook_syntax(syntax, ladder[level], len(labels))
        res = configural if level == "configural" and configural is not None else \
            _fit(text, data, estimator=estimator, missing=missing, group=group, group_equal=ladder[level], **extra)
        fits.append(res)
        if not res.converged:
            msgs.append(f"the {level} model did not converge; its row is not trustworthy")
        for w in res.warnings:
            msgs.append(f"{level}: {w}")
        usage.append(data_usage(res, f"{level} model", data))
    scaled = estimator in _SCALED_ESTIMATORS
    cfi_key = "cfi_robust" if scaled else "cfi"
    if scaled and not all(np.isfinite(float(f.fit_indices.get("cfi_robust", np.nan))) for f in fits):
        cfi_key = "cfi_scaled"
    rows = []
    for i, (level, res) in enumerate(zip(levels, fits)):
        fi = res.fit_indices
        row: dict[str, Any] = {"level": level, "group_equal": ", ".join(ladder[level]) or "none"}
        for c in ("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
            row[c] = float(fi.get(c, np.nan))
        if scaled:
            for c in _INV_SCALED[:9]:
                row[c] = float(fi.get(c, np.nan))
        if i == 0:
            row.update(delta_chisq=np.nan, delta_df=np.nan, p_delta=np.nan, delta_cfi=np.nan,
                       cfi_ok=None, chisq_ok=None, chisq_diff_raw=np.nan, scaling_factor_d=np.nan,
                       verdict=(f"{level} model (baseline of the ladder): CFI = {row[cfi_key]:.3f}, "
                                f"RMSEA = {row[_rmsea_key(scaled, row)]:.3f}"))
        else:
            prev = fits[i - 1]
            test = difference_test(prev, res)
            for w in test.pop("warnings"):
                msgs.append(f"{levels[i - 1]} vs {level}: {w}")
            if ladder is ORDINAL_LEVELS and test["delta_df"] == 0:
                msgs.append(f"{levels[i - 1]} vs {level}: under lavaan's identification for ordered items the "
                            f"{level} model adds no constraint (the intercepts of ordered items are fixed at 0); "
                            "it is the same model")
            dcfi = float(fi.get(cfi_key, np.nan)) - float(prev.fit_indices.get(cfi_key, np.nan))
            cfi_ok = _passes(cut["rule"], dcfi, cut["threshold"])
            p = test["p_delta"]
            chisq_ok = None if not np.isfinite(p) else bool(p > ALPHA)
            row.update(delta_chisq=test["delta_chisq"], delta_df=test["delta_df"], p_delta=p, delta_cfi=dcfi,
                       cfi_ok=cfi_ok, chisq_ok=chisq_ok, chisq_diff_raw=test["chisq_diff_raw"],
                       scaling_factor_d=test["scaling_factor_d"],
                       verdict=_verdict(level, dcfi, cfi_ok, test["delta_chisq"], test["delta_df"], p, chisq_ok,
                                        cut, scaled))
        row["converged"] = bool(res.converged)
        rows.append(row)
    search = None
    if partial is not None:
        search = partial_search(fits, levels, syntax, data, group, estimator=estimator, missing=missing,
                                alpha=alpha, max_free=max_free, cut=cut, scaled=scaled)
        rows += search.pop("rows")
        msgs += search.pop("warnings")
    cols = _INV_COLUMNS + (_INV_SCALED if scaled else [])
    out = pd.DataFrame(rows)[cols]
    out["npar"] = out["npar"].astype(int)
    out["df"] = out["df"].astype(int)
    for c in ("cfi_ok", "chisq_ok"):
        out[c] = out[c].astype("boolean")
    out.attrs.update(
        group=group, group_labels=list(fits[0].group_labels or labels), nobs=[int(n) for n in fits[0].nobs],
        estimator=estimator, syntax=syntax, model_note=note, alpha=ALPHA,
        ordered=list(fits[0].options.get("ordered") or []), ladder=dict(ladder),
        identification=(identification if ladder is ORDINAL_LEVELS else None),
        level_syntax=level_syntax,
        difference_test=("Satorra 2000 (lavTestLRT default for scaled-and-shifted tests)"
                         if estimator in ("WLSMV", "ULSMV") else
                         "Satorra-Bentler 2001" if scaled else "chi-square difference"),
        cutoff={**cut, "applies_to": cfi_key}, warnings=list(msgs),
    )
    if search is not None:
        out.attrs["partial"] = search
    for m in msgs:
        _warnings.warn(m, UserWarning, stacklevel=2)
    return result_table(out, kind="invariance", warnings=msgs, data=usage,
                        title=f"Measurement invariance across {group} ({', '.join(out.attrs['group_labels'])})")


def _rmsea_key(scaled: bool, row: dict[str, Any]) -> str:
    if scaled and np.isfinite(row.get("rmsea_robust", np.nan)):
        return "rmsea_robust"
    return "rmsea_scaled" if scaled else "rmsea"


#: accepted spellings of ``identification=`` (semTools' ``ID.cat`` names for Wu & Estabrook)
_IDENTIFICATIONS = {"lavaan": "lavaan", "wu.estabrook": "wu.estabrook", "wu.estabrook.2016": "wu.estabrook",
                    "wu.2016": "wu.estabrook", "wu": "wu.estabrook"}


def _check_identification(identification: Any, ordinal: bool) -> str:
    key = str(identification).lower()
    if key not in _IDENTIFICATIONS:
        raise OptionError(f"identification must be 'lavaan' or 'wu.estabrook', not {identification!r}")
    out = _IDENTIFICATIONS[key]
    if out != "lavaan" and not ordinal:
        raise OptionError("identification='wu.estabrook' applies to ordered items only (pass ordered=)")
    return out


def _threshold_counts(res) -> dict[str, int]:
    """Number of thresholds of every indicator of a fitted (configural) model: lavaan's,
    from the data of all groups (the ``|`` rows of its table); a continuous or latent
    indicator counts 0."""
    tab = res.partable.table
    g1 = tab[tab["group"] == 1]
    items = list(dict.fromkeys(g1.loc[g1["op"] == "=~", "rhs"]))
    th = g1.loc[g1["op"] == "|", "lhs"].value_counts()
    return {it: int(th.get(it, 0)) for it in items}


def _check_wu_items(nthr: dict[str, int]) -> None:
    """Wu & Estabrook's identification as written here needs every indicator ordered with at
    least two thresholds (:func:`wu_estabrook_syntax`); the others are refused by name."""
    bad = [it for it, k in nthr.items() if k < 2]
    if bad:
        what = ", ".join(f"{it} ({'not ordered' if nthr[it] == 0 else 'binary'})" for it in bad)
        raise OptionError(f"identification='wu.estabrook' needs every indicator ordered with at least 3 "
                          f"categories; not supported for: {what}")


def wu_estabrook_syntax(syntax: str, group_equal: Sequence[str], ngroups: int) -> str:
    """``syntax`` plus the lines that give one level of the ordinal ladder Wu & Estabrook's
    (2016) identification, as semTools 0.5-6 ``measEq.syntax(ID.fac = "std.lv",
    ID.cat = "Wu.Estabrook.2016", group.equal = group_equal)`` writes it, to be fitted
    with ``std_lv=True`` and the same ``group_equal`` (which ties the thresholds,
    loadings and intercepts and, as in lavaan, frees the scales or residual variances
    and the factor variances and means of groups 2..).

    semTools' rules (no partial invariance, no equal residual variances), for each
    ordered item i with k_i thresholds of which e_i are equal across groups
    (k_i with ``"thresholds"``, else 0), groups 2..:

    * intercept free when e_i >= 1 and the intercepts are not equal, else 0 (group 1: 0);
    * scale (delta) / residual variance (theta) free when e_i >= 2, or e_i >= 1 with
      equal intercepts, else 1 (group 1: 1);
    * factor variance 1 in group 1, free in groups 2.. when the loadings are equal;
    * factor mean 0 in group 1, free in groups 2.. only when the intercepts are equal and
      the factor has an indicator loading on it alone.

    With k_i >= 2 for every item (:func:`_check_wu_items`) only two kinds of rows differ
    from what lavaan's ``group.equal`` does, and only they are written:
    ``item ~ c(0, NA, ...)*1`` (free intercepts under equal thresholds) and ``F ~ 0*1``
    (factor means that stay fixed). A binary item (k_i = 1), whose scale stays at 1
    under equal thresholds while lavaan frees it, cannot be written so."""
    from ..library.syntax import parse_syntax

    equal = set(group_equal)
    loads: dict[str, list[str]] = {}
    factors: list[str] = []
    for st in parse_syntax(syntax).statements:
        if st.op == "~1":
            raise OptionError(f"identification='wu.estabrook' sets the intercepts and means itself; remove the "
                              f"statement '{st.lhs[0]} ~ 1' from the model")
        if st.op == "=~":
            factors.append(st.lhs[0])
            for t in st.terms:
                loads.setdefault(t.name, []).append(st.lhs[0])
    factors = list(dict.fromkeys(factors))
    eq_int = "intercepts" in equal
    lines = []
    if "thresholds" in equal and not eq_int:
        lines += [f"{it} ~ c(" + ", ".join(["0"] + ["NA"] * (ngroups - 1)) + ")*1" for it in loads]
    freed = {fs[0] for fs in loads.values() if len(fs) == 1} if eq_int else set()
    lines += [f"{f} ~ 0*1" for f in factors if f not in freed]
    return syntax.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def _check_levels(levels: Sequence[str], ladder: dict[str, tuple[str, ...]] = LEVELS) -> list[str]:
    if isinstance(levels, str):
        levels = [levels]
    levels = [str(lv).lower() for lv in levels]
    order = list(ladder)
    for lv in levels:
        if lv not in ladder:
            extra = " (with ordered=)" if ladder is ORDINAL_LEVELS else ""
            raise OptionError(f"unknown invariance level {lv!r}{extra}; use {', '.join(order)}")
    if len(set(levels)) != len(levels):
        raise OptionError(f"an invariance level is listed twice: {', '.join(levels)}")
    if [order.index(lv) for lv in levels] != sorted(order.index(lv) for lv in levels):
        raise OptionError(f"invariance levels must go from least to most constrained ({', '.join(order)}), got {', '.join(levels)}")
    if not levels:
        raise OptionError("no invariance level given")
    return levels


# ----------------------------------------------------------------------------- syntax rewrite
def _num(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() else f"{float(v):g}"


def _render_modifiers(term, ngroups: int) -> str:
    """lavaan modifier prefix (``"a*"``, ``"c(1,NA)*"``, ...) of a parsed term."""
    if not term.per_group:
        m = term.modifiers[0]
        parts = []
        if m.fixed is not None:
            parts.append(_num(m.fixed))
        elif m.free:
            parts.append("NA")
        if m.start is not None:
            parts.append(f"start({_num(m.start)})")
        if m.label:
            parts.append(m.label)
        return "".join(p + "*" for p in parts)
    mods = list(term.modifiers)
    parts = []
    if any(m.fixed is not None or m.free for m in mods):
        parts.append("c(" + ", ".join(_num(m.fixed) if m.fixed is not None else "NA" for m in mods) + ")")
    if any(m.start is not None for m in mods):
        parts.append("start(c(" + ", ".join(_num(m.start) if m.start is not None else "NA" for m in mods) + "))")
    if any(m.label for m in mods):
        parts.append("label(c(" + ", ".join(m.label or "NA" for m in mods) + "))")
    return "".join(p + "*" for p in parts)


def _render(parsed, ngroups: int, override: dict[tuple[str, str], str] | None = None) -> str:
    """lavaan syntax of a parsed model; ``override`` maps a regression (lhs, rhs) to a
    label used in every group (``c(b, b, ...)*rhs``)."""
    override = override or {}
    lines = []
    for st in parsed.statements:
        lhs = st.lhs[0]
        if st.op == "~1":
            lines.append(f"{lhs} ~ {_render_modifiers(st.terms[0], ngroups)}1")
            continue
        terms = []
        for t in st.terms:
            if st.op == "~" and (lhs, t.name) in override:
                lab = override[(lhs, t.name)]
                terms.append("c(" + ", ".join([lab] * ngroups) + ")*" + t.name)
            else:
                terms.append(_render_modifiers(t, ngroups) + t.name)
        lines.append(f"{lhs} {st.op} " + " + ".join(terms))
    for st in parsed.user_cons:
        lines.append(f"{st.lhs[0]} {st.op} {st.expr}")
    return "\n".join(lines) + "\n"


def _same_partable(a: str, b: str, columns: list[str], ngroups: int, labels: list[str]) -> bool:
    from ..library.partable import build_partable

    ta = build_partable(a, observed=columns, ngroups=ngroups, group_labels=labels).table
    tb = build_partable(b, observed=columns, ngroups=ngroups, group_labels=labels).table
    keys = ["lhs", "op", "rhs", "group", "free", "ustart", "label", "exo"]
    if len(ta) != len(tb):
        return False
    return ta[keys].reset_index(drop=True).fillna(-999).equals(tb[keys].reset_index(drop=True).fillna(-999))


_PATH_RE = re.compile(r"^\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*~\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*$")


def _parse_path(p: Any) -> tuple[str, str]:
    if isinstance(p, (tuple, list)) and len(p) == 2:
        return str(p[0]), str(p[1])
    if isinstance(p, str):
        m = _PATH_RE.match(p)
        if m and "~~" not in p:
            return m.group(1), m.group(2)
    raise OptionError(f"cannot read path {p!r}; write it as 'Outcome~Predictor' (e.g. 'GoodTrust~CapImb')")


def _free_label(base: str, taken: set[str]) -> str:
    lab = re.sub(r"[^A-Za-z0-9_]", "_", base)
    k = 0
    out = lab
    while out in taken:
        k += 1
        out = f"{lab}_{k}"
    return out


def path_equality(model: Any, data: pd.DataFrame, group: str, *, paths: Sequence[Any] | None = None,
                  estimator: str = "ML", missing: str = "listwise") -> ResultTable:
    """Test, path by path, whether a structural coefficient is equal across groups.

    For each path ``lhs ~ rhs`` two multi-group models are compared, both with metric
    invariance (loadings equal across groups, so the latent scales are comparable):
    the model with the path free in every group, and the same model with the path
    labelled ``c(b, b, ..., b)*rhs`` (one common coefficient). A significant χ²
    difference (Satorra–Bentler 2001 scaled for MLR) means the effect differs across
    groups.

    Parameters
    ----------
    model : str or ModelSpec
        A structural model: spec name, ModelSpec, path or lavaan syntax.
    data : pandas.DataFrame
        Survey data (reverse-keyed items already recoded).
    group : str
        Grouping column.
    paths : sequence, optional
        Paths to test, as ``"GoodTrust~CapImb"`` strings or ``(lhs, rhs)`` pairs.
        Default: every free regression of the model.
    estimator : {"ML", "MLR"}
    missing : {"listwise", "fiml"}

    Returns
    -------
    pandas.DataFrame
        One row per path: ``path, lhs, rhs``, ``est_<group>`` and ``std_all_<group>``
        (from the model with the path free; unstandardized and std.all) for every group,
        ``est_equal`` (the common coefficient of the constrained model), ``delta_chisq``,
        ``delta_df``, ``p_delta``, ``chisq_diff_raw``, ``scaling_factor_d`` (MLR),
        ``differs`` (``p_delta < .05``), ``strongest`` (the group with the largest
        |unstandardized coefficient|) and ``verdict``. ``attrs`` holds ``group``,
        ``group_labels``, ``estimator``, ``free_fit`` (fit indices of the free model),
        ``warnings`` (the fits' problems, prefixed with the model they came from, and
        the tests' warnings) and ``data`` (rows read, used and dropped); a
        :class:`~asymtrust.analysis.compare.ResultTable`.

    Raises
    ------
    asymtrust.exceptions.GroupError, asymtrust.exceptions.InsufficientDataError
        As :func:`invariance`.
    asymtrust.exceptions.OptionError
        A path that is not a free regression of the model, or a path already labelled
        (its groups are then already tied or named by the user).

    Examples
    --------
    >>> import asymtrust
    >>> hs = asymtrust.load_dataset("hs1939")
    >>> m = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; textual ~ visual"
    >>> tab = path_equality(m, hs, "school")
    >>> tab["path"].tolist(), int(tab.loc[0, "delta_df"])
    (['textual~visual'], 1)

    In R: ``lavTestLRT(sem(model, group = g, group.equal = "loadings"),
    sem(model_with_c(b,b,b), group = g, group.equal = "loadings"))``.
    """
    from ..engine.fit import fit as _fit
    from ..library.syntax import parse_syntax

    syntax, _ = _resolve(model)
    labels = _group_levels(data, group)
    G = len(labels)
    parsed = parse_syntax(syntax)
    regs = {}
    for st in parsed.statements:
        if st.op == "~":
            regs[(st.lhs[0], st.terms[0].name)] = st.terms[0]
    if not regs:
        raise OptionError("the model has no structural paths ('~' regressions) to compare across groups")
    if paths is None:
        targets = [k for k, t in regs.items()
                   if all(t.modifier(g).fixed is None and not t.modifier(g).label for g in range(1, G + 1))]
    else:
        if isinstance(paths, str):
            paths = [paths]
        targets = [_parse_path(p) for p in paths]
    for lhs, rhs in targets:
        t = regs.get((lhs, rhs))
        if t is None:
            known = ", ".join(f"{a}~{b}" for a, b in regs)
            raise OptionError(f"path {lhs}~{rhs} is not a regression of the model; paths: {known}")
        if t.per_group and len(t.modifiers) != G:
            raise OptionError(f"path {lhs}~{rhs} has {len(t.modifiers)} per-group modifiers but {group!r} has {G} groups")
        mods = [t.modifier(g) for g in range(1, G + 1)]
        if any(m.fixed is not None for m in mods):
            raise OptionError(f"path {lhs}~{rhs} is fixed in the syntax; only free paths can be tested")
        if any(m.label for m in mods):
            raise LabelError(f"path {lhs}~{rhs} already carries a label in the syntax; remove it to test equality across groups")
    columns = [str(c) for c in data.columns]
    base = _render(parsed, G)
    if not _same_partable(syntax, base, columns, G, labels):  # pragma: no cover - guards the renderer
        raise SpecError("internal: the model syntax could not be rewritten faithfully for the path-equality test")
    _check_group_sizes(base, data, group, labels, missing)
    estimator = str(estimator).upper()
    msgs: list[str] = []
    free = _fit(base, data, estimator=estimator, missing=missing, group=group, group_equal=("loadings",))
    if not free.converged:
        msgs.append("the model with all paths free did not converge; the tests are not trustworthy")
    msgs += [w for w in fit_problems(free, "model with all paths free") if free.converged or "converge" not in w]
    usage = [data_usage(free, "model with all paths free", data)]
    glabels = list(free.group_labels or labels)
    taken = set(_labels_in(parsed)) | set(columns) | set(free.partable.lv_names)
    est = free.estimates
    rows = []
    for lhs, rhs in targets:
        lab = _free_label(f"eq_{lhs}_{rhs}", taken)
        con_syntax = _render(parsed, G, {(lhs, rhs): lab})
        con = _fit(con_syntax, data, estimator=estimator, missing=missing, group=group, group_equal=("loadings",))
        if not con.converged:
            msgs.append(f"the model with {lhs}~{rhs} equal across groups did not converge")
        msgs += [w for w in fit_problems(con, f"model with {lhs}~{rhs} equal") if con.converged or "converge" not in w]
        usage.append(data_usage(con, f"model with {lhs}~{rhs} equal", data))
        test = difference_test(free, con)
        for w in test.pop("warnings"):
            msgs.append(f"{lhs}~{rhs}: {w}")
        sel = est[(est["lhs"] == lhs) & (est["op"] == "~") & (est["rhs"] == rhs)].sort_values("group")
        row: dict[str, Any] = {"path": f"{lhs}~{rhs}", "lhs": lhs, "rhs": rhs}
        for g, gl in enumerate(glabels, start=1):
            r = sel[sel["group"] == g]
            row[f"est_{gl}"] = float(r["est"].iloc[0]) if len(r) else np.nan
        for g, gl in enumerate(glabels, start=1):
            r = sel[sel["group"] == g]
            row[f"std_all_{gl}"] = float(r["std_all"].iloc[0]) if len(r) else np.nan
        ce = con.estimates
        ce = ce[(ce["lhs"] == lhs) & (ce["op"] == "~") & (ce["rhs"] == rhs)]
        row["est_equal"] = float(ce["est"].iloc[0]) if len(ce) else np.nan
        p = test["p_delta"]
        differs = None if not np.isfinite(p) else bool(p < ALPHA)
        ests = {gl: row[f"est_{gl}"] for gl in glabels}
        strongest = max(ests, key=lambda k: abs(ests[k]) if np.isfinite(ests[k]) else -1.0)
        row.update(delta_chisq=test["delta_chisq"], delta_df=test["delta_df"], p_delta=p,
                   chisq_diff_raw=test["chisq_diff_raw"], scaling_factor_d=test["scaling_factor_d"],
                   differs=differs, strongest=strongest,
                   verdict=_path_verdict(lhs, rhs, ests, test, differs, group, estimator == "MLR"))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["differs"] = out["differs"].astype("boolean")
    out.attrs.update(group=group, group_labels=glabels, estimator=estimator, alpha=ALPHA,
                     free_fit={k: float(v) for k, v in free.fit_indices.items()}, warnings=list(msgs))
    for m in msgs:
        _warnings.warn(m, UserWarning, stacklevel=2)
    return result_table(out, kind="path_equality", warnings=msgs, data=usage,
                        title=f"Equality of structural paths across {group} (loadings equal)")


def _labels_in(parsed) -> list[str]:
    out = []
    for st in parsed.statements:
        for t in st.terms:
            out += [m.label for m in t.modifiers if m.label]
    out += [st.lhs[0] for st in parsed.definitions]
    return out


def _path_verdict(lhs: str, rhs: str, ests: dict[str, float], test: dict[str, Any], differs: Any, group: str,
                  scaled: bool) -> str:
    stat = "scaled Δχ²" if scaled else "Δχ²"
    by = ", ".join(f"{k} {v:+.3f}" for k, v in ests.items())
    res = (f"{stat}({test['delta_df']:g}) = {test['delta_chisq']:.2f}, {_fmt_p(test['p_delta'])}"
           if np.isfinite(test["p_delta"]) else f"{stat} not available")
    if differs is None:
        head = "undecided"
    elif differs:
        head = f"differs across {group} groups"
    else:
        head = f"no evidence that it differs across {group} groups"
    return f"{lhs} ~ {rhs}: {head} ({res}; estimates {by})"



# ----------------------------------------------------------------------------- partial invariance
#: invariance level -> the parameter type whose equality it adds
_LEVEL_TYPE = {"metric": "=~", "scalar": "~1", "strict": "~~"}


def _markers(pt) -> set[str]:
    """Indicators that fix a factor's scale (first loading fixed at 1): never freed."""
    tab = pt.table
    fixed = tab[(tab["op"] == "=~") & (tab["free"] == 0) & (tab["group"] == 1)]
    return set(fixed["rhs"])


def _candidates(res, level: str, markers: set[str]) -> list[tuple[str, list[int]]]:
    """The parameters whose equality ``level`` adds, each with the 1-based numbers of its
    ``==`` rows in the fit's table: ``("visual=~x2", [1])``, ``("x3~1", [7, 8])``."""
    tab = res.partable.table
    cons = tab[tab["op"] == "=="].reset_index(drop=True)
    by_plabel = {r.plabel: r for r in tab.itertuples(index=False) if r.plabel}
    op = _LEVEL_TYPE[level]
    out: dict[str, list[int]] = {}
    for k, c in enumerate(cons.itertuples(index=False), start=1):
        r = by_plabel.get(str(c.lhs))
        if r is None or r.op != op:
            continue
        if op == "~~" and r.lhs != r.rhs:
            continue
        item = r.rhs if op == "=~" else r.lhs
        if item in markers:
            continue
        name = f"{r.lhs}{r.op}{r.rhs}" if op != "~1" else f"{r.lhs}~1"
        out.setdefault(name, []).append(k)
    return list(out.items())


def _largest_score(res, level: str, markers: set[str]) -> dict | None:
    """The constraint of ``level`` with the largest score test (all its groups released
    together: df = groups - 1)."""
    best = None
    cands = _candidates(res, level, markers)
    uni = res.score_test().uni if all(len(rows) == 1 for _, rows in cands) else None
    for name, rows in cands:
        if uni is not None:
            x2, df = float(uni.loc[rows[0] - 1, "x2"]), 1.0
        else:
            tot = res.score_test(release=rows).total
            x2, df = float(tot["x2"]), float(tot["df"])
        if best is None or x2 > best["x2"]:
            best = {"parameter": name, "x2": x2, "df": df}
    if best is not None:
        from scipy import stats

        best["p_value"] = float(stats.chi2.sf(best["x2"], best["df"]))
        best["n_candidates"] = len(cands)
    return best


def _judge(prev, res, cut: dict, alpha: float, scaled: bool) -> dict:
    """Δχ² (scaled for MLR) and ΔCFI of ``res`` against ``prev``: does the level hold?"""
    key = "cfi_robust" if scaled else "cfi"
    test = difference_test(prev, res)
    dcfi = float(res.fit_indices.get(key, np.nan)) - float(prev.fit_indices.get(key, np.nan))
    cfi_ok = _passes(cut["rule"], dcfi, cut["threshold"])
    p = test["p_delta"]
    chisq_ok = None if not np.isfinite(p) else bool(p > alpha)
    return {"test": test, "delta_cfi": dcfi, "cfi_ok": cfi_ok, "chisq_ok": chisq_ok,
            "holds": bool(cfi_ok is True and chisq_ok is True)}


def _partial_row(level: str, res, j: dict, freed: list[str], cut: dict, scaled: bool) -> dict:
    fi = res.fit_indices
    row: dict[str, Any] = {"level": f"{level} (partial)",
                           "group_equal": f"{', '.join(LEVELS[level])}; free: {', '.join(freed)}"}
    for c in ("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        row[c] = float(fi.get(c, np.nan))
    if scaled:
        for c in _INV_SCALED[:9]:
            row[c] = float(fi.get(c, np.nan))
    t = j["test"]
    row.update(delta_chisq=t["delta_chisq"], delta_df=t["delta_df"], p_delta=t["p_delta"],
               delta_cfi=j["delta_cfi"], cfi_ok=j["cfi_ok"], chisq_ok=j["chisq_ok"],
               chisq_diff_raw=t["chisq_diff_raw"], scaling_factor_d=t["scaling_factor_d"],
               converged=bool(res.converged),
               verdict=(_verdict(f"partial {level}", j["delta_cfi"], j["cfi_ok"], t["delta_chisq"], t["delta_df"],
                                 t["p_delta"], j["chisq_ok"], cut, scaled) + f" (freed: {', '.join(freed)})"))
    return row


def _invariant_indicators(pt, freed: list[str], levels: list[str]) -> dict[str, int]:
    """Per factor, the indicators none of whose tested parameters (loading, intercept) is
    freed."""
    tab = pt.table
    load = tab[(tab["op"] == "=~") & (tab["group"] == 1)]
    out = {}
    for f, items in load.groupby("lhs", sort=False)["rhs"]:
        bad = set()
        for it in items:
            if f"{f}=~{it}" in freed or ("scalar" in levels and f"{it}~1" in freed):
                bad.add(it)
        out[str(f)] = int(len(items) - len(bad))
    return out


def partial_search(fits: list, levels: list[str], syntax: str, data: pd.DataFrame, group: str, *,
                   estimator: str = "ML", missing: str = "listwise", alpha: float = ALPHA, max_free: int = 5,
                   cut: dict | None = None, scaled: bool = False) -> dict:
    """The guided partial-invariance search of :func:`invariance` (``partial="auto"``) over
    the fits of its ladder.

    When a level fails (Δχ² against the accepted model of the level before significant
    at ``alpha``, or ΔCFI beyond the cut-off; both reported), the equality constraint of
    that level with the largest univariate score test (lavaan's ``lavTestScore``; all
    groups of a parameter released together, df = groups − 1) is released **only if the
    score test is itself significant after a Bonferroni correction**: p < ``alpha`` / m,
    m being the number of candidate constraints of the level (its non-marker
    constraints when the level first fails; fixed for the level). The model is refitted
    and judged again, one parameter at a time, until the level holds, ``max_free``
    parameters of the level are free, or no single constraint passes. This follows the
    partial-invariance practice of testing each released constraint at a level adjusted
    for the number of constraints tested, rather than freeing whatever tops the list
    (Cheung & Rensvold 1999, "Testing factorial invariance across groups", *Journal of
    Management* 25(1), 1-27: one test per constraint, Bonferroni-adjusted; Jung & Yoon
    2016, "Comparisons of three empirical methods for partial factorial invariance",
    *Structural Equation Modeling* 23(4), 567-584: sequential release by modification
    index recovers the non-invariant parameters with few false releases only under a
    conservative criterion). A level that fails because of many small differences, or
    by chance, has no single responsible constraint, and nothing of it is freed. Markers
    are never freed.

    Returns ``rows`` (the partial models' table rows), ``freed`` (one dict per released
    parameter: level, parameter, x2, df, p_value, n_candidates, threshold (α/m),
    reason), ``unresolved`` (one dict per level that still fails because no single
    constraint passed the test: level, parameter (the largest score test), x2, df,
    p_value, n_candidates, threshold, n_freed (parameters of the level freed before),
    reason), ``holds`` (level -> bool after the search), ``invariant_indicators`` (per
    factor) and ``latent_means_valid`` (every factor keeps at least two invariant
    indicators; Byrne, Shavelson & Muthén 1989), ``rule`` (the release rule in words),
    plus ``warnings``."""
    from ..engine.fit import fit as _fit

    cut = cut or _delta_cfi_cutoff()
    if isinstance(max_free, bool) or not isinstance(max_free, (int, np.integer)) or max_free < 0:
        raise OptionError(f"max_free must be a non-negative integer, not {max_free!r}")
    markers = _markers(fits[0].partable)
    accepted, carried = fits[0], []
    rows, freed, unresolved, holds, msgs = [], [], [], {}, []
    for i in range(1, len(levels)):
        level = levels[i]
        res = fits[i] if not carried else _fit(syntax, data, estimator=estimator, missing=missing, group=group,
                                               group_equal=LEVELS[level], group_partial=tuple(carried))
        j = _judge(accepted, res, cut, alpha, scaled)
        here: list[str] = []
        m = None  # Bonferroni divisor: the level's candidate constraints when it first fails
        while not j["holds"] and len(here) < max_free and level in _LEVEL_TYPE:
            best = _largest_score(res, level, markers)
            if best is None:
                break
            m = m or best["n_candidates"]
            threshold = alpha / m
            best.update(n_candidates=int(m), threshold=float(threshold))
            failed = f"{level} failed (Δχ² p = {j['test']['p_delta']:.3g}, ΔCFI = {j['delta_cfi']:+.3f})"
            score = (f"largest score test: {best['parameter']} (χ²({best['df']:g}) = {best['x2']:.2f}, "
                     f"p = {best['p_value']:.3g})")
            if not (np.isfinite(best["p_value"]) and best["p_value"] < threshold):
                why = (f"{failed}{' after freeing ' + ', '.join(here) if here else ''}, but no single constraint "
                       f"is responsible: {score} is not below α/m = {alpha:g}/{m} = {threshold:.3g} "
                       f"(Bonferroni over the {m} constraints of the level); "
                       f"{'nothing more' if here else 'nothing'} was freed at this level")
                unresolved.append({"level": level, **best, "n_freed": len(here), "reason": why})
                msgs.append(f"partial {level} invariance: {why}")
                break
            why = f"{failed}; {score} < α/m = {alpha:g}/{m} = {threshold:.3g} (Bonferroni)"
            here.append(best["parameter"])
            carried.append(best["parameter"])
            freed.append({"level": level, **best, "reason": why})
            res = _fit(syntax, data, estimator=estimator, missing=missing, group=group,
                       group_equal=LEVELS[level], group_partial=tuple(carried))
            if not res.converged:
                msgs.append(f"partial {level}: the model freeing {best['parameter']} did not converge")
            j = _judge(accepted, res, cut, alpha, scaled)
        if here:
            rows.append(_partial_row(level, res, j, list(carried), cut, scaled))
        if not j["holds"] and here and not (unresolved and unresolved[-1]["level"] == level):
            msgs.append(f"partial {level} invariance still fails after freeing {len(here)} parameter(s) "
                        f"(max_free = {max_free})")
        holds[level] = j["holds"]
        accepted = res
    counts = _invariant_indicators(fits[0].partable, carried, levels)
    rule = (f"when a level fails (Δχ² p < {alpha:g} or ΔCFI beyond {cut['threshold']:g}), release the constraint "
            f"with the largest univariate score test if its p < {alpha:g}/m (Bonferroni over the m constraints "
            f"of the level), refit and repeat; stop when the level holds, {max_free} are free or none passes; "
            f"markers are never freed")
    return {"rows": rows, "freed": freed, "unresolved": unresolved, "holds": holds, "invariant_indicators": counts,
            "latent_means_valid": bool(all(n >= 2 for n in counts.values())), "max_free": int(max_free),
            "alpha": float(alpha), "rule": rule, "warnings": msgs}
