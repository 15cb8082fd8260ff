"""The sections of the report, built from computed results and rendered to HTML or Markdown.

A section is a title plus a list of blocks (:class:`Text`, :class:`Alert`,
:class:`Bullets`, :class:`TableBlock`, :class:`FigureBlock`). The builders in this
module only *read* the results computed by :mod:`asymtrust.reporting.build`;
rendering is done by :func:`render_markdown` and the Jinja2 template
``templates/report.html.j2``. Tables and figures are numbered in reading order.

Every section is always present. A section whose analysis was not requested
(``--group``, ``--compare``, ``--power``) says how to request it; one whose
analysis could not run says why, in a visible alert.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from . import tables as T

__all__ = [
    "SECTION_TITLES",
    "Alert",
    "Bullets",
    "FigureBlock",
    "Section",
    "TableBlock",
    "Text",
    "build_sections",
    "number_blocks",
    "render_markdown",
]


# ====================================================================================
# blocks
# ====================================================================================
@dataclass
class Text:
    """A paragraph (plain text; ``**bold**`` is not interpreted)."""

    block: ClassVar[str] = "text"

    text: str
    kind: str = "p"  # "p" or "small"


@dataclass
class Alert:
    """A highlighted box: ``level`` is ``"danger"``, ``"warning"``, ``"info"`` or ``"ok"``."""

    block: ClassVar[str] = "alert"

    level: str
    title: str
    lines: list[str] = field(default_factory=list)


@dataclass
class Bullets:
    block: ClassVar[str] = "bullets"

    items: list[str]


@dataclass
class TableBlock:
    block: ClassVar[str] = "table"

    table: pd.DataFrame
    highlight: dict = field(default_factory=dict)
    key: str = ""
    number: int | None = None

    def html(self) -> str:
        return T.to_html(self.table, number=self.number, table_id=self.key or None, highlight=self.highlight)

    def markdown(self) -> str:
        return T.to_markdown(self.table, number=self.number)


@dataclass
class FigureBlock:
    block: ClassVar[str] = "figure"

    stem: str
    caption: str
    alt: str
    number: int | None = None
    data_uri: str = ""
    width: int = 0


@dataclass
class Section:
    key: str
    title: str
    blocks: list = field(default_factory=list)
    status: str = "ok"  # "ok", "not requested", "unavailable", "failed"


#: section key -> heading, in report order
SECTION_TITLES: dict[str, str] = {
    "summary": "Summary",
    "data": "Data and validation",
    "items": "Item diagnostics",
    "reliability": "Reliability and validity",
    "cfa": "Measurement model (CFA) fit",
    "sem": "Structural model (SEM) fit",
    "misfit": "Where the model misfits",
    "paths": "Structural paths",
    "effects": "Indirect effects",
    "r2": "Variance explained (R\u00b2)",
    "groups": "Invariance and per-group paths",
    "multilevel": "Nested data: partnerships",
    "dyadic": "Both sides of each partnership",
    "compare": "Model comparison",
    "power": "Power analysis",
    "warnings": "Warnings",
    "reproducibility": "Reproducibility",
}


def number_blocks(sections: Sequence[Section]) -> None:
    """Number tables and figures in reading order (in place)."""
    t = f = 0
    for s in sections:
        for b in s.blocks:
            if isinstance(b, TableBlock):
                t += 1
                b.number = t
            elif isinstance(b, FigureBlock):
                f += 1
                b.number = f


# ====================================================================================
# helpers
# ====================================================================================
def _f(v: Any, fmt: str = "f2") -> str:
    return T.format_value(v, fmt)


def _unavailable(sec: Section, what: str, reason: str) -> Section:
    sec.status = "unavailable"
    sec.blocks.append(Alert("warning", f"{what} could not be produced", [reason]))
    return sec


def _failed(sec: Section, what: str, error: str) -> Section:
    sec.status = "failed"
    sec.blocks.append(Alert("danger", f"{what} failed", [error]))
    return sec


def _fig(r: Any, key: str, caption: str, alt: str) -> FigureBlock | None:
    if key in r.figures:
        return FigureBlock(stem=key, caption=caption, alt=alt)
    return None


def _add_fig(sec: Section, r: Any, key: str, caption: str, alt: str) -> None:
    fb = _fig(r, key, caption, alt)
    if fb is not None:
        sec.blocks.append(fb)
    elif key in r.figure_errors:
        sec.blocks.append(Alert("warning", "Figure could not be drawn", [r.figure_errors[key]]))


# ====================================================================================
# sections
# ====================================================================================
def _summary(r: Any) -> Section:
    sec = Section("summary", SECTION_TITLES["summary"])
    fit = r.sem
    fi = fit.fit_indices
    cut = T.fit_cutoff_table(fit)
    met = int(cut["Meets"].iloc[1:].fillna(False).sum())
    total = int(cut["Meets"].iloc[1:].notna().sum())
    paths = T.paths_table(fit, r.spec)
    sup = int((paths["Agreement"] == "supported").sum())
    stated = int((paths["Expected"] != "not stated").sum())
    lines = [
        (f"Model {r.spec_name!r} fitted to {r.n_used} of {r.n_rows} respondents "
        f"with {r.options['estimator']} ({_missing_text(r.options['missing'])})."),
        *([f"Estimator: {r.options['estimator_reason']}."] if r.options.get("estimator_reason") else []),
        (f"Fit: {met} of {total} approximate-fit indices meet their published cut-offs "
        f"({_fit_text(fi)}, SRMR {_f(fi.get('srmr'), 'r3')})."),
    ]
    if stated:
        lines.append(f"Structural paths: {sup} of {stated} paths with an expected sign are significant in that direction.")
    else:
        lines.append(f"Structural paths: {len(paths)} estimated; the specification states no expected signs.")
    if r.effects is not None and len(r.effects):
        ind = _indirect_rows(r.effects)
        if len(ind):
            excl = int(((ind["ci_lower"] > 0) | (ind["ci_upper"] < 0)).sum())
            lines.append(f"Indirect effects: {excl} of {len(ind)} chains have a confidence interval that excludes zero.")
    lines += _summary_groups(r) + _summary_compare(r)
    sec.blocks.append(Bullets(lines))
    if r.estimation_warnings:
        sec.blocks.append(Alert("danger", "Estimation problems: read the Warnings section before the results",
                                [f"{len(r.estimation_warnings)} warning(s); the first: {r.estimation_warnings[0]}"]))
    return sec


def _fit_text(fi: Any) -> str:
    """CFI and RMSEA as the fit table reads them: the robust versions of a scaled test
    (MLR, WLSMV) where defined."""
    rob = np.isfinite(float(fi.get("cfi_robust", np.nan))) and np.isfinite(float(fi.get("chisq_scaled", np.nan)))
    sfx = "_robust" if rob else ""
    lab = "robust " if rob else ""
    return f"{lab}CFI {_f(fi.get('cfi' + sfx), 'r3')}, {lab}RMSEA {_f(fi.get('rmsea' + sfx), 'r3')}"


def _missing_text(missing: str) -> str:
    return {"fiml": "full-information ML for missing answers",
            "pairwise": "pairwise deletion for the polychoric correlations"}.get(missing, "listwise deletion")


def _summary_groups(r: Any) -> list[str]:
    out = []
    inv = r.invariance
    if inv is not None and len(inv) and "level" in inv.columns:
        held = [str(inv["level"].iloc[0])]
        if "cfi_ok" in inv.columns:
            for level, ok in zip(inv["level"].iloc[1:], inv["cfi_ok"].iloc[1:]):
                if ok is True or ok is np.True_:
                    held.append(str(level))
                else:
                    break
        out.append(f"Measurement invariance across {r.group}: holds up to the {held[-1]} level by the \u0394CFI "
                   "criterion (Cheung & Rensvold 2002).")
    pe = r.path_equality
    if pe is not None and len(pe) and "differs" in pe.columns:
        diff = pe[pe["differs"].astype("boolean").fillna(False).astype(bool)]
        if len(diff):
            items = [f"{a} \u2192 {b}" + (f" (strongest in {s_})" if "strongest" in diff.columns else "")
                     for a, b, s_ in zip(diff["rhs"], diff["lhs"],
                                         diff["strongest"] if "strongest" in diff.columns else [""] * len(diff))]
            out.append(f"Paths that differ across {r.group} (p < .05): " + "; ".join(items) + ".")
        else:
            out.append(f"No structural path differs significantly across {r.group}.")
    return out


def _summary_compare(r: Any) -> list[str]:
    tab = getattr(r.comparison, "table", None)
    if tab is None or not len(tab) or "name" not in tab.columns:
        return []
    best_aic = str(tab.loc[tab["aic"].idxmin(), "name"])
    best_bic = str(tab.loc[tab["bic"].idxmin(), "name"])
    if best_aic == best_bic:
        return [f"Model comparison: {best_aic!r} has the lowest AIC and BIC."]
    return [f"Model comparison: {best_aic!r} has the lowest AIC, {best_bic!r} the lowest BIC."]


def _data(r: Any) -> Section:
    sec = Section("data", SECTION_TITLES["data"])
    v = r.validation
    src = r.data_label
    lines = [f"Source: {src}."]
    lines.append(f"Rows: {v.n_rows}; model variables: {len(v.items)}; complete cases on the model variables: {v.n_complete}.")
    if v.n_free is not None:
        ratio = v.n_complete / v.n_free if v.n_free else float("nan")
        lines.append(f"Free parameters of {r.spec_name!r}: {v.n_free} ({_f(ratio, 'f1')} complete cases per parameter).")
    lines.append(f"Respondents analysed: {r.n_used} ({'listwise deletion' if r.options['missing'] == 'listwise' else 'FIML: every row with at least one answer'}).")
    if r.recoded:
        lines.append("Reverse-keyed items recoded (x \u2192 scale_min + scale_max \u2212 x) before analysis: "
                     + ", ".join(r.recoded) + ".")
    if not r.has_codebook_items:
        lines.append("No codebook entry covers these items: validation checked types, observed ranges, "
                     "constant items and missingness only.")
    sec.blocks.append(Bullets(lines))
    if r.group and r.group_counts is not None:
        gt = pd.DataFrame({"Group": [str(k) for k in r.group_counts.index], "n": r.group_counts.to_numpy()})
        sec.blocks.append(TableBlock(T.apa_table(gt, title=f"Respondents per {r.group}",
                                                 note=f"Grouping column: {r.group}.",
                                                 formats={"Group": "text", "n": "int"}), key="tab-groups"))
    if v.errors:
        sec.blocks.append(Alert("danger", "Validation errors", list(v.errors)))
    status = Alert("ok", "Validation passed", ["No errors."]) if v.ok else None
    if status:
        sec.blocks.append(status)
    if v.warnings:
        sec.blocks.append(Alert("warning", f"Validation warnings ({len(v.warnings)})", list(v.warnings)))
    if v.info:
        sec.blocks.append(Alert("info", "Validation notes", list(v.info)))
    miss = r.missing_table
    if miss is not None and len(miss):
        sec.blocks.append(TableBlock(miss, key="tab-missing"))
    return sec


def _items(r: Any) -> Section:
    sec = Section("items", SECTION_TITLES["items"])
    if r.item_stats is None:
        return _unavailable(sec, "Item diagnostics", r.reasons.get("items", "the model has no multi-item constructs"))
    sec.blocks.append(Text("Distribution of each item and how well it hangs together with the other items of its "
                           "construct. Look at items with a low corrected item-total correlation, with \u03b1 rising "
                           "when the item is deleted, or with most answers at one end of the scale."))
    sec.blocks.append(TableBlock(T.items_table(r.item_stats), key="tab-items"))
    return sec


def _reliability(r: Any) -> Section:
    sec = Section("reliability", SECTION_TITLES["reliability"])
    if r.reliability is None:
        return _unavailable(sec, "Reliability and validity", r.reasons.get("reliability", "the model has no multi-item constructs"))
    rel = r.reliability
    tab = T.reliability_table(rel)
    hl = {}
    flag_cols = {"alpha_pass": "\u03b1", "omega_pass": "\u03c9", "cr_pass": "CR", "ave_pass": "AVE", "htmt_pass": "max HTMT"}
    for i, (_, row) in enumerate(rel.iterrows()):
        for col, lab in flag_cols.items():
            if col in rel.columns and not pd.isna(row[col]) and not bool(row[col]):
                hl[(i, lab)] = "fail"
        if "Misses cut-off" in tab.columns and tab["Misses cut-off"].iloc[i] != "none":
            hl[(i, "Misses cut-off")] = "fail"
    method = str(rel.attrs.get("htmt_method", "htmt2"))
    fails = [f"{c}: {m}" for c, m in zip(tab["Construct"], tab["Misses cut-off"]) if m != "none"]
    sec.blocks.append(Text(
        "Internal consistency (\u03b1, \u03c9, composite reliability), convergent validity (AVE) and discriminant "
        f"validity (HTMT, Fornell-Larcker). HTMT variant used: {'HTMT2 (geometric means; Roemer, Schuberth & Henseler 2021), semTools htmt2 = TRUE' if method == 'htmt2' else 'HTMT (arithmetic means; Henseler, Ringle & Sarstedt 2015)'}. "
        "Values that miss a published cut-off are marked."))
    if fails:
        sec.blocks.append(Alert("warning", "Constructs below a cut-off", fails))
    else:
        sec.blocks.append(Alert("ok", "Every construct meets every reliability and validity cut-off", []))
    sec.blocks.append(TableBlock(tab, highlight=hl, key="tab-reliability"))
    _add_fig(sec, r, "reliability", "Reliability, AVE and the largest HTMT of each construct against the published "
             "cut-offs (dotted lines). Hatched bars miss the cut-off.",
             "Bar charts of alpha, omega, composite reliability, AVE and HTMT per construct with cut-off lines")
    if r.htmt is not None and len(r.htmt) > 1:
        ht = T.htmt_table(r.htmt)
        hh = {}
        thr = None
        row = T._cut_row("htmt")
        if row:
            thr = row[1]
        if thr is not None:
            for i in range(len(ht)):
                for c in ht.columns[1:]:
                    v = ht[c].iloc[i]
                    if T._finite(v) and v >= thr:
                        hh[(i, c)] = "fail"
        sec.blocks.append(TableBlock(ht, highlight=hh, key="tab-htmt"))
    if rel.attrs.get("notes"):
        sec.blocks.append(Alert("info", "Notes on the reliability analysis", list(rel.attrs["notes"])))
    # common-method variance
    cmv_lines = []
    if r.harman is not None:
        h = r.harman
        cmv_lines.append(
            f"Harman's single-factor test: the first unrotated component explains {_f(h['pct_variance'], 'f1')}% of the "
            f"variance of {int(h['n_items'])} items ({h['cutoff']}): "
            + ("no single dominant factor." if bool(h["passes"]) else "a single factor dominates; common-method variance is possible."))
    if r.cmv is not None and "one_factor" in r.cmv.index:
        row = r.cmv.loc["one_factor"]
        cmv_lines.append(
            f"One-factor CFA vs the measurement model: \u0394\u03c7\u00b2({_f(row['delta_df'], 'int')}) = "
            f"{_f(row['delta_chisq'], 'f2')}, p {('< .001' if row['delta_pvalue'] < 0.001 else '= ' + _f(row['delta_pvalue'], 'p'))}; "
            f"CFI falls by {_f(row['delta_cfi'], 'r3')} when all items load on one factor.")
    for k in ("harman", "cmv"):
        if k in r.reasons:
            cmv_lines.append(f"{'Harman test' if k == 'harman' else 'One-factor CFA'} not computed: {r.reasons[k]}")
    if cmv_lines:
        sec.blocks.append(Text("Common-method variance", kind="h3"))
        sec.blocks.append(Bullets(cmv_lines))
    return sec


def _loadings_table(fit: Any) -> pd.DataFrame:
    est = fit.estimates
    m = est[est["op"] == "=~"]
    lo, hi = zip(*[T._std_ci(r) for r in m.itertuples(index=False)]) if len(m) else ((), ())
    fixed = (m["free"] == 0).tolist() if "free" in m.columns else [False] * len(m)
    se = [float("nan") if f else v for f, v in zip(fixed, m["se"].tolist())]
    out = pd.DataFrame({"Construct": m["lhs"].tolist(), "Item": m["rhs"].tolist(), "Loading": m["est"].tolist(),
                        "SE": se, "\u03bb (std)": m["std_all"].tolist(), "95% CI LL": list(lo),
                        "95% CI UL": list(hi), "p": m["pvalue"].tolist()})
    return T.apa_table(out, title="Factor loadings (measurement model)",
                       note="Unstandardized loadings (the first of each factor fixed to 1, without SE) and "
                            "standardized loadings (std.all) with their 95% CI.",
                       formats={"Construct": "text", "Item": "text", "Loading": "f3", "SE": "f3",
                                "\u03bb (std)": "r2", "95% CI LL": "r2", "95% CI UL": "r2", "p": "p"})


def _fit_highlight(tab: pd.DataFrame) -> dict:
    hl = {}
    for i, ok in enumerate(tab["Meets"].tolist()):
        if ok is pd.NA or ok is None:
            continue
        hl[(i, "Meets")] = "pass" if bool(ok) else "fail"
    return hl


def _cfa(r: Any) -> Section:
    sec = Section("cfa", SECTION_TITLES["cfa"])
    if r.cfa is None:
        return _unavailable(sec, "The measurement model", r.reasons.get("cfa", "the model has no =~ (measurement) lines"))
    sec.blocks.append(Text("The measurement part of the model alone (every construct with its items, all constructs "
                           "correlated). Good fit here shows that the items measure the constructs they were written "
                           "for, before any structural claim is tested."))
    ct = T.fit_cutoff_table(r.cfa, title="CFA fit indices against published cut-offs")
    sec.blocks.append(TableBlock(ct, highlight=_fit_highlight(ct), key="tab-cfa-fit"))
    sec.blocks.append(TableBlock(_loadings_table(r.cfa), key="tab-loadings"))
    return sec


def _sem(r: Any) -> Section:
    sec = Section("sem", SECTION_TITLES["sem"])
    fit = r.sem
    sec.blocks.append(Text("How well the full model (measurement plus structural paths) reproduces the covariances "
                           "of the items. Each index is shown beside its published cut-off with a plain-language "
                           "reading."))
    ct = T.fit_cutoff_table(fit, title="SEM fit indices against published cut-offs")
    sec.blocks.append(TableBlock(ct, highlight=_fit_highlight(ct), key="tab-sem-fit"))
    models = {f"{r.spec_name} (SEM)": fit}
    if r.cfa is not None:
        models["measurement model (CFA)"] = r.cfa
    sec.blocks.append(TableBlock(T.fit_table(models, title="Fit of the measurement and structural models"),
                                 key="tab-fit"))
    return sec


def _where_columns(rows: pd.DataFrame) -> dict:
    """Which block each diagnostic row belongs to: its group, and for a two-level model its
    level (within/between; the group column only when there are several groups)."""
    if "level" not in rows.columns:
        return {"Group": rows["group"].tolist()}
    out = {"Group": rows["group"].tolist()} if rows["group"].nunique() > 1 else {}
    names = {"1": "within", "2": "between"}  # modindices() numbers the levels as lavaan; residuals name them
    return {**out, "Level": [names.get(str(v), str(v)) for v in rows["level"]]}


def _misfit(r: Any) -> Section:
    """Modification indices, standardized residuals and the residual heat map of the SEM."""
    sec = Section("misfit", SECTION_TITLES["misfit"])
    m = getattr(r, "misfit", None)
    if m is None:
        return _unavailable(sec, "The misfit diagnostics", r.reasons.get("misfit", "not computed"))
    sec.blocks.append(Text("Where the model reproduces the data worst, as lavaan reports it: the fixed parameters "
                           "whose release would most reduce \u03c7\u00b2 (modification indices, with the expected "
                           "change of the parameter, standardized as Saris, Satorra & van der Veld 2009 advise), and "
                           "the item pairs whose correlation the model misses most. Free a parameter only when it "
                           "makes substantive sense; each change is a new, exploratory model."))
    mi = m["modindices"]
    tab = pd.DataFrame({"Parameter": [f"{a} {o} {b}" for a, o, b in zip(mi["lhs"], mi["op"], mi["rhs"])],
                        **_where_columns(mi), "MI": mi["mi"].tolist(), "EPC": mi["epc"].tolist(),
                        "SEPC (all)": mi["sepc_all"].tolist()})
    sec.blocks.append(TableBlock(T.apa_table(tab, title="Largest modification indices",
                                             note="MI: expected drop in \u03c7\u00b2 (1 df) if the parameter were "
                                             "freed; EPC: its expected value; SEPC: the EPC standardized (lavaan "
                                             "modindices()).",
                                             formats={"MI": "f2", "EPC": "f3", "SEPC (all)": "f3", "Group": "int"}),
                                 key="tab-modindices"))
    res = m["residuals"]
    rt = pd.DataFrame({"Item pair": [f"{a} \u2013 {b}" for a, b in zip(res["lhs"], res["rhs"])],
                       **_where_columns(res), "Correlation residual": res["cor_residual"].tolist(),
                       "z": res["z"].tolist()})
    sec.blocks.append(TableBlock(T.apa_table(rt, title="Largest standardized residuals",
                                             note="Sample minus model-implied correlation (lavaan lavResiduals(), "
                                             "type cor.bentler) and its z statistic; |z| > 1.96 flags a pair the "
                                             "model does not explain.",
                                             formats={"Correlation residual": "f3", "z": "f2", "Group": "int"}),
                                 key="tab-residuals"))
    for n in m.get("notes", []):
        sec.blocks.append(Text(n, kind="small"))
    _add_fig(sec, r, "residuals", "Residual correlations: sample minus model-implied correlations of the items, "
             "items ordered by construct. Large values show item pairs the model does not explain.",
             "Heat map of residual correlations between the observed items")
    return sec


def _paths(r: Any) -> Section:
    sec = Section("paths", SECTION_TITLES["paths"])
    fit = r.sem
    tab = T.paths_table(fit, r.spec)
    if not len(tab):
        sec.blocks.append(Text("The model has no structural (~) paths."))
        return sec
    hl = {}
    for i, a in enumerate(tab["Agreement"]):
        if a == "supported":
            hl[(i, "Agreement")] = "pass"
        elif a.startswith("contradicted"):
            hl[(i, "Agreement")] = "fail"
        elif a.startswith("not significant"):
            hl[(i, "Agreement")] = "weak"
    sec.blocks.append(Text("Standardized estimates (\u03b2) with 95% confidence intervals, the sign the specification "
                           "expects from the paper, and whether the data agree."))
    sec.blocks.append(TableBlock(tab, highlight=hl, key="tab-paths"))
    _add_fig(sec, r, "path_diagram", "The fitted model: standardized path estimates with significance stars. "
             "Filled arrowheads: positive paths; hollow arrowheads and a minus sign: negative paths; dashed: not "
             "significant (p \u2265 .05). Endogenous constructs show their R\u00b2."
             + (" Two-level model: the paths within partnerships; the between-level paths are in the "
                "section on nested data." if getattr(r, "twolevel", False) else ""),
             "Path diagram of the fitted structural model")
    _add_fig(sec, r, "conceptual", r.conceptual_caption,
             "Conceptual diagram of the model: asymmetries, trust and outcomes with expected signs")
    quotes = [p for p in getattr(r.spec, "paths", ()) if getattr(p, "quote", "")]
    if quotes:
        sym = {"+": "+", "-": "\u2212"}
        items = [f"{p.rhs} \u2192 {p.lhs} ({sym.get(p.sign, '?')}): \u201c{p.quote}\u201d ({p.seed}, {p.section})"
                 for p in quotes]
        sec.blocks.append(Text("Where each expected sign comes from", kind="h3"))
        sec.blocks.append(Bullets(items))
    elif not any(getattr(p, "sign", "?") in "+-" for p in getattr(r.spec, "paths", ())):
        sec.blocks.append(Alert("info", "No expectations to test",
                                [("The specification is a bare lavaan file without metadata (no .toml), so it states "
                                 "no expected signs, construct labels or roles; the diagram layers were inferred "
                                 "from the path structure.")]))
    return sec


def _indirect_rows(eff: pd.DataFrame) -> pd.DataFrame:
    e = eff
    if "method" in e.columns:
        pref = [m for m in ("percentile", "bc", "delta") if m in set(e["method"])]
        if pref:
            e = e[e["method"] == pref[0]]
    if "effect" in e.columns:
        e = e[e["effect"] == "indirect"]
    return e


def _main_method_rows(eff: pd.DataFrame) -> pd.DataFrame:
    if "method" in eff.columns:
        pref = [m for m in ("percentile", "bc", "delta") if m in set(eff["method"])]
        if pref:
            return eff[eff["method"] == pref[0]]
    return eff


def _effects_shown(eff: pd.DataFrame) -> pd.DataFrame:
    """Indirect chains, plus the summary rows that add information (a total indirect
    effect over several chains; direct and total effects where a direct path exists)."""
    if not {"effect", "source", "target"} <= set(eff.columns):
        return eff
    keys = list(zip(eff["source"], eff["target"], eff["group"] if "group" in eff.columns else [1] * len(eff)))
    chains = pd.Series([k for k, e in zip(keys, eff["effect"]) if e == "indirect"]).value_counts()
    direct = {k for k, e in zip(keys, eff["effect"]) if e == "direct"}
    keep = []
    for k, e in zip(keys, eff["effect"]):
        if e == "indirect":
            keep.append(True)
        elif e == "total_indirect":
            keep.append(int(chains.get(k, 0)) > 1)
        else:
            keep.append(k in direct)
    return eff[keep]


def _effects(r: Any) -> Section:
    sec = Section("effects", SECTION_TITLES["effects"])
    if r.effects is None:
        reason = r.reasons.get("effects", "not computed")
        if r.effects_error:
            return _failed(sec, "The indirect effects", r.effects_error)
        if reason.startswith("the model has no indirect"):
            sec.status = "not applicable"
            sec.blocks.append(Alert("info", "No indirect effects", [reason]))
            return sec
        return _unavailable(sec, "The indirect effects", reason)
    eff = r.effects
    boot = eff.attrs.get("bootstrap", {}) if hasattr(eff, "attrs") else {}
    B = boot.get("B", 0) if isinstance(boot, dict) else 0
    main = _main_method_rows(eff)
    method = str(main["method"].iloc[0]) if "method" in main.columns and len(main) else "delta"
    of = (f" of whole {boot['cluster']!r} clusters" if isinstance(boot, dict) and boot.get("cluster") else "")
    desc = {"percentile": f"percentile bootstrap, {B} replicates{of}, seed {boot.get('seed')}",
            "bc": f"bias-corrected bootstrap, {B} replicates{of}, seed {boot.get('seed')}",
            "delta": "delta method (Wald)"}.get(method, method)
    sec.blocks.append(Text("Each chain asymmetry \u2192 trust \u2192 outcome is the product of its paths. "
                           f"Confidence intervals: {desc}; effects.csv also holds the other interval types."))
    if isinstance(boot, dict) and boot.get("n_failed"):
        sec.blocks.append(Alert("warning", "Bootstrap replicates failed",
                                [(f"{boot['n_failed']} of {B} replicates failed or did not converge; "
                                 f"the intervals use the other {boot.get('n_ok')}.")]))
    shown = _effects_shown(main)
    tab = T.effects_table(shown)
    tab.attrs["note"] += (" Shown: every indirect chain, plus total indirect, direct and total effects where they "
                          "differ from a single chain; effects.csv holds all of them.")
    hl = {(i, "CI excludes 0"): ("pass" if bool(v) else "weak") for i, v in enumerate(tab["CI excludes 0"].tolist())
          if v is not pd.NA}
    sec.blocks.append(TableBlock(tab, highlight=hl, key="tab-effects"))
    _add_fig(sec, r, "indirect_effects", f"Indirect effects with 95% confidence intervals ({desc}). Filled markers: "
             "the interval excludes zero.", "Forest plot of the indirect effects with confidence intervals")
    return sec


def _r2(r: Any) -> Section:
    sec = Section("r2", SECTION_TITLES["r2"])
    tab = T.r2_table(r.sem)
    if not len(tab):
        sec.blocks.append(Text("The model has no endogenous variables with predictors."))
        return sec
    sec.blocks.append(TableBlock(tab, key="tab-r2"))
    return sec


def _groups(r: Any) -> Section:
    sec = Section("groups", SECTION_TITLES["groups"])
    if not r.group:
        sec.status = "not requested"
        sec.blocks.append(Text("Not requested. Run with --group COLUMN (for example --group sector) to test "
                               "measurement invariance across groups and to estimate the paths in each group."))
        return sec
    ladder = ("configural \u2192 thresholds \u2192 metric \u2192 scalar, the ordinal ladder with lavaan's "
              "identification and Satorra (2000) difference tests" if r.options.get("ordered")
              else "configural \u2192 metric \u2192 scalar \u2192 strict")
    sec.blocks.append(Text(f"Groups: the levels of {r.group!r}. Measurement invariance is tested first "
                           f"({ladder}); structural paths are compared across "
                           "groups only as far as invariance holds."))
    if r.invariance is not None:
        it = T.invariance_table(r.invariance)
        hl = {}
        if "Verdict" in it.columns:
            for i, v in enumerate(it["Verdict"].astype(str)):
                low = v.lower()
                if "not supported" in low:
                    hl[(i, "Verdict")] = "fail"
                elif "mixed" in low or "undecided" in low:
                    hl[(i, "Verdict")] = "weak"
                elif "supported" in low:
                    hl[(i, "Verdict")] = "pass"
        sec.blocks.append(TableBlock(it, highlight=hl, key="tab-invariance"))
        _partial_blocks(sec, getattr(r, "invariance_partial", None))
        _add_fig(sec, r, "invariance", "Drop in CFI at each invariance level; a drop above .01 rejects the level "
                 "(Cheung & Rensvold 2002).", "Bar chart of the change in CFI between invariance levels")
    elif r.invariance_error:
        sec.blocks.append(Alert("danger", "The invariance tests failed", [r.invariance_error]))
    else:
        sec.blocks.append(Alert("warning", "Invariance tests unavailable", [r.reasons.get("invariance", "not computed")]))
    if r.group_fit is not None:
        gt = T.paths_table(r.group_fit, r.spec, title=f"Structural paths per {r.group}")
        hl = {}
        for i, a in enumerate(gt["Agreement"]):
            if a == "supported":
                hl[(i, "Agreement")] = "pass"
            elif a.startswith("contradicted"):
                hl[(i, "Agreement")] = "fail"
        sec.blocks.append(TableBlock(gt, highlight=hl, key="tab-group-paths"))
        _add_fig(sec, r, "group_paths", f"Standardized paths in each {r.group} with 95% confidence intervals "
                 "(configural model: no equality constraints).", "Dot plot of standardized paths per group")
        if r.group_fit.warnings:
            sec.blocks.append(Alert("danger", "The multi-group model has estimation problems", list(r.group_fit.warnings)))
    elif r.group_fit_error:
        sec.blocks.append(Alert("danger", "The multi-group model failed", [r.group_fit_error]))
    if r.path_equality is not None:
        pt = T.path_equality_table(r.path_equality)
        hl = {}
        if "Differs" in pt.columns:
            for i, v in enumerate(pt["Differs"].tolist()):
                if v is not pd.NA and bool(v):
                    hl[(i, "Differs")] = "weak"
        sec.blocks.append(TableBlock(pt, highlight=hl, key="tab-path-equality"))
    elif "path_equality" in r.reasons:
        sec.blocks.append(Alert("info", "Path-equality tests not shown", [r.reasons["path_equality"]]))
    return sec


def _partial_blocks(sec: Section, part: dict | None) -> None:
    """What the guided partial-invariance search freed, and whether latent means compare."""
    if not part:
        return
    unresolved = part.get("unresolved") or []
    for u in unresolved:
        sec.blocks.append(Alert("warning", f"The {u.get('level', '')} level fails without a single responsible "
                                "constraint", [f"The largest score test ({u.get('parameter', '')}) did not pass "
                                               "the Bonferroni bar α/m, so nothing more was freed at this level."]))
    if not part.get("freed"):
        if not unresolved:
            sec.blocks.append(Text("Partial-invariance search: no level failed, so no equality constraint was "
                                   "released."))
        return
    rows = part["rows"]
    tab = pd.DataFrame({"Level": [f["level"] for f in part["freed"]],
                        "Freed parameter": [f["parameter"] for f in part["freed"]],
                        "Score test \u03c7\u00b2": [f["x2"] for f in part["freed"]],
                        "df": [f["df"] for f in part["freed"]], "p": [f["p_value"] for f in part["freed"]]})
    note = ("When a level failed (\u0394\u03c7\u00b2 significant at \u03b1 = " + f"{part.get('alpha', .05):g}"
            + " or \u0394CFI below \u2212.01), the equality constraint with the largest score test (lavaan "
            "lavTestScore()) was released and the model refitted, one parameter at a time, when that test was "
            "significant at \u03b1/m (m: the level's constraints); markers are never freed.")
    sec.blocks.append(TableBlock(T.apa_table(tab, title="Partial invariance: parameters freed",
                                             note=note, formats={"Score test \u03c7\u00b2": "f2", "df": "int",
                                                                 "p": "p"}), key="tab-partial"))
    if len(rows):
        sec.blocks.append(TableBlock(T.invariance_table(rows, title="Partial invariance models"),
                                     key="tab-partial-fit"))
    ok = part.get("latent_means_valid")
    counts = ", ".join(f"{k} {v}" for k, v in part.get("invariant_indicators", {}).items())
    sec.blocks.append(Alert("ok" if ok else "warning",
                            "Latent means can be compared" if ok else "Latent means cannot be compared",
                            [("Every factor keeps at least two invariant indicators" if ok else
                              "A factor has fewer than two invariant indicators")
                             + f" (Byrne, Shavelson & Muth\u00e9n 1989): {counts}."]))


def _multilevel_fit_table(fit: Any) -> pd.DataFrame:
    fi = fit.fit_indices
    keys = [("chisq", "\u03c7\u00b2", "f2"), ("df", "df", "int"), ("pvalue", "p", "p"), ("cfi", "CFI", "f3"),
            ("tli", "TLI", "f3"), ("rmsea", "RMSEA", "f3"), ("srmr_within", "SRMR (within)", "f3"),
            ("srmr_between", "SRMR (between)", "f3"), ("aic", "AIC", "f1"), ("bic", "BIC", "f1")]
    robust = "chisq_scaled" in fi.index and np.isfinite(fi["chisq_scaled"])
    if robust:  # MLR: the scaled test and the robust indices beside the ML ones (lavaan's fitMeasures)
        keys[3:3] = [("chisq_scaled", "scaled \u03c7\u00b2 (Yuan\u2013Bentler)", "f2"),
                     ("chisq_scaling_factor", "scaling factor", "f3"), ("pvalue_scaled", "scaled p", "p"),
                     ("cfi_robust", "robust CFI", "f3"), ("tli_robust", "robust TLI", "f3"),
                     ("rmsea_robust", "robust RMSEA", "f3")]
    rows = [(label, _f(fi[k], fmt)) for k, label, fmt in keys if k in fi.index]
    est = "MLR" if robust else "ML"
    note = ("lavaan 0.6-14's two-level ML: the within and between covariance matrices fitted jointly."
            + (" MLR: SEs from the clusters' scores (sandwich), the Yuan\u2013Bentler scaled test and robust indices."
               if robust else ""))
    return T.apa_table(pd.DataFrame(rows, columns=["Index", "Value"]), title=f"Two-level model fit ({est})",
                       note=note, formats={"Index": "text", "Value": "text"})


def _multilevel_paths_table(fit: Any) -> pd.DataFrame:
    est = fit.estimates
    rows = est[est["op"] == "~"]
    lev = {"1": "within", "2": "between", "within": "within", "between": "between"}
    tab = pd.DataFrame({"Level": [lev.get(str(v), str(v)) for v in rows["level"]],
                        "Path": [f"{a} \u2190 {b}" for a, b in zip(rows["lhs"], rows["rhs"])],
                        "b": rows["est"].to_numpy(), "SE": rows["se"].to_numpy(),
                        "p": rows["pvalue"].to_numpy() if "pvalue" in rows else np.nan,
                        "\u03b2": rows["std_all"].to_numpy() if "std_all" in rows else np.nan})
    return T.apa_table(tab, title="Structural paths within and between partnerships",
                       note="b = unstandardized estimate; \u03b2 = standardized per level (std.all).",
                       formats={"Level": "text", "Path": "text", "b": "f2", "SE": "f2", "p": "p", "\u03b2": "r2"})


def _multilevel(r: Any) -> Section:
    sec = Section("multilevel", SECTION_TITLES["multilevel"])
    if not getattr(r, "cluster", None):
        sec.status = "not requested"
        sec.blocks.append(Text("Not requested. Run with --cluster COLUMN (for example --cluster partnership) when "
                               "respondents are nested in partnerships: ICCs and design effects, cluster-robust "
                               "standard errors, a two-level model (spec fig1_twolevel) and multilevel reliability."))
        return sec
    ic = r.icc
    if ic is not None:
        a = ic.attrs
        lo, hi = a.get("min_cluster_size"), a.get("max_cluster_size")
        sizes = (f"{lo} respondent{'s' if lo != 1 else ''} each" if lo == hi else
                 f"{lo}\u2013{hi} respondents (mean {_f(a.get('average_cluster_size'), 'f1')}; "
                 f"{a.get('singletons', 0)} with one respondent)")
        boot = getattr(r.effects, "attrs", {}).get("bootstrap") if r.effects is not None else None
        effects = ("Indirect effects are bootstrapped by whole clusters (each replicate draws the clusters with "
                   "replacement, with all their respondents)" if isinstance(boot, dict) and boot.get("cluster")
                   else "Indirect effects use the delta method")
        sec.blocks.append(Text(
            f"Respondents are nested in the clusters of {r.cluster!r}: {a.get('nclusters')} clusters of "
            f"{sizes}. "
            + ("The structural model is a two-level model: within and between partnerships. "
               if r.twolevel else "The SEM and CFA standard errors and tests are cluster-robust (lavaan's "
               "robust.cluster, Yuan\u2013Bentler scaled test). ")
            + effects + "; the group, comparison and power analyses ignore the clusters."))
        tab = pd.DataFrame({"Item": ic.index.astype(str), "ICC(1)": ic["icc"].to_numpy(),
                            "Design effect": ic["design_effect"].to_numpy(),
                            "Var within": ic["var_within"].to_numpy(), "Var between": ic["var_between"].to_numpy()})
        deff = float(np.nanmax(ic["design_effect"])) if len(ic) else float("nan")
        hl = {(i, "Design effect"): "weak" for i, v in enumerate(ic["design_effect"]) if v >= 2}
        sec.blocks.append(TableBlock(T.apa_table(
            tab, title="Intraclass correlations and design effects",
            note=("ICC(1) = between / (within + between) variance from the two-level saturated model (lavaan "
                  "lavInspect(fit, \"icc\")); design effect = 1 + (mean cluster size \u2212 1) \u00d7 ICC. A design "
                  f"effect of 2 or more (highlighted; largest here {_f(deff, 'f2')}) means ignoring the clusters "
                  "understates standard errors noticeably."),
            formats={"Item": "text", "ICC(1)": "f3", "Design effect": "f2", "Var within": "f2", "Var between": "f2"}),
            highlight=hl, key="tab-icc"))
    elif r.icc_error:
        sec.blocks.append(Alert("danger", "The ICCs failed", [r.icc_error]))
    if r.twolevel and r.sem is not None:
        sec.blocks.append(Text("Two-level structural model", kind="h3"))
        sec.blocks.append(TableBlock(_multilevel_fit_table(r.sem), key="tab-twolevel-fit"))
        sec.blocks.append(TableBlock(_multilevel_paths_table(r.sem), key="tab-twolevel-paths"))
    mr = r.multilevel_reliability
    if mr is not None:
        tab = pd.DataFrame({"Construct": mr.index.astype(str), "\u03c9 (single level)": mr["omega"].to_numpy(),
                            "\u03c9 within": mr["omega_w"].to_numpy(), "\u03c9 2-level": mr["omega_2l"].to_numpy(),
                            "\u03c9 between": mr["omega_b"].to_numpy(), "IRR": mr["irr"].to_numpy()})
        fm = {c: "r2" for c in tab.columns[1:]}
        fm["Construct"] = "text"
        sec.blocks.append(TableBlock(T.apa_table(
            tab, title="Multilevel reliability",
            note=("semTools 0.5-6 compRelSEM (Lai 2021; Geldhof, Preacher & Zyphur 2014) on a two-level CFA with the "
                  "same constructs at both levels and loadings equal across levels: \u03c9 within and 2-level from "
                  "config=, \u03c9 between and IRR (the reliability of the cluster means) from shared=."),
            formats=fm), key="tab-ml-reliability"))
        if mr.attrs.get("warnings"):
            sec.blocks.append(Alert("warning", "The two-level CFA behind the multilevel reliability",
                                    list(mr.attrs["warnings"])))
    elif r.multilevel_reliability_error:
        sec.blocks.append(Alert("warning", "Multilevel reliability could not be produced",
                                [r.multilevel_reliability_error]))
    return sec


def _compare(r: Any) -> Section:
    sec = Section("compare", SECTION_TITLES["compare"])
    if not r.compare_names:
        sec.status = "not requested"
        sec.blocks.append(Text("Not requested. Run with --compare SPEC [SPEC ...] (for example --compare fig1_direct "
                               "fig1_single_trust) to test the model against its rivals."))
        return sec
    if r.comparison is None:
        if r.comparison_error:
            return _failed(sec, "The model comparison", r.comparison_error)
        return _unavailable(sec, "The model comparison", r.reasons.get("compare", "not computed"))
    sec.blocks.append(Text("Competing models fitted to the same respondents. Lower AIC/BIC is better; the \u03c7\u00b2 "
                           "difference test applies to nested pairs."))
    ct = T.compare_table(r.comparison)
    hl = {}
    if "\u0394AIC" in ct.columns:
        for i, v in enumerate(ct["\u0394AIC"]):
            if T._finite(v) and float(v) == 0.0:
                hl[(i, "\u0394AIC")] = "pass"
    if "\u0394BIC" in ct.columns:
        for i, v in enumerate(ct["\u0394BIC"]):
            if T._finite(v) and float(v) == 0.0:
                hl[(i, "\u0394BIC")] = "pass"
    sec.blocks.append(TableBlock(ct, highlight=hl, key="tab-compare"))
    tests = getattr(r.comparison, "tests", None)
    if tests is not None and len(tests):
        sec.blocks.append(TableBlock(T.compare_tests_table(r.comparison), key="tab-compare-tests"))
    notes = " ".join(str(n) for n in (tests["note"].tolist() if tests is not None and "note" in tests else []))
    warns = [w for w in list(getattr(r.comparison, "warnings", []) or []) if w.split(": ", 1)[-1] not in notes]
    if warns:
        sec.blocks.append(Alert("warning", "Comparison warnings", warns))
    return sec


def _power(r: Any) -> Section:
    sec = Section("power", SECTION_TITLES["power"])
    if r.power is None:
        if r.power_requested:
            if r.power_error:
                return _failed(sec, "The power analysis", r.power_error)
            return _unavailable(sec, "The power analysis", r.reasons.get("power", "not computed"))
        sec.status = "not requested"
        sec.blocks.append(Text("Not requested. Run with --power for a Monte Carlo power analysis of the model's paths "
                               "by sample size."))
        return sec
    sec.blocks.append(Text("Share of simulated samples (drawn from the model's population values) in which each "
                           "path is significant at p < .05, by sample size."))
    _add_fig(sec, r, "power", "Monte Carlo power by sample size; the dotted line marks 80% power.",
             "Line chart of power against sample size for each parameter")
    pw = r.power
    if {"n", "parameter", "power"} <= set(pw.columns):
        wide = pw.pivot_table(index="parameter", columns="n", values="power", sort=False).reset_index()
        ncols = [f"N = {int(c)}" for c in wide.columns[1:]]
        wide.columns = ["Parameter", *ncols]
        smallest = (pw.attrs.get("smallest_n") or {}) if hasattr(pw, "attrs") else {}
        wide["Power \u2265 .80 from N"] = [smallest.get(p) if smallest.get(p) is not None else float("nan")
                                          for p in wide["Parameter"]]
        from .figures import _param_label

        wide["Parameter"] = [_param_label(p) for p in wide["Parameter"]]
        fmts = {c: "r2" for c in ncols}
        fmts.update({"Parameter": "text", "Power \u2265 .80 from N": "int"})
        note = "Power = share of replicates with p < .05."
        if "reps" in pw.columns:
            note += f" {int(pw['reps'].max())} replicates per N."
        note += " \u2014 = 80% not reached at the sizes tried."
        sec.blocks.append(TableBlock(T.apa_table(wide, title="Power by sample size", note=note, formats=fmts),
                                     key="tab-power"))
    return sec


def _drop_trailing_note(citation: str) -> str:
    """A stored cut-off citation without its trailing "(what the cut-off says)", so that one
    source is cited once."""
    text = citation.rstrip()
    if not text.endswith(")"):
        return text
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            return text[:i].rstrip()
    return text


def _dyadic_tables(sec: Section, r: Any, d: dict) -> None:
    """Aggregation, APIM (diagram, effects, k, distinguishability) of the dyadic section."""
    dd = d["dyads"]
    agr = dd.agreement.reset_index()
    cols = {"construct": "Construct", "rwg_j_mean": "rwg(j) mean", "rwg_j_share_70": "Share rwg(j) \u2265 .70",
            "icc1": "ICC(1)", "icc2": "ICC(2)"}
    tab = agr[[c for c in cols if c in agr.columns]].rename(columns=cols)
    cites = " ".join(dict.fromkeys(_drop_trailing_note(str(c))
                                   for c in (dd.agreement.attrs.get("citations") or {}).values()))
    cut = "; ".join(f"{k}: {agr[f'{k}_cutoff'].iloc[0]}" for k in ("rwg_j", "icc1", "icc2") if f"{k}_cutoff" in agr)
    sec.blocks.append(Text(f"{len(dd.wide)} partnerships with sides {dd.sides[0]!r} and {dd.sides[1]!r} "
                           f"({len(dd.incomplete)} with one side missing, kept for FIML). Each side's score is the "
                           "mean of its respondents' construct scores (the mean of a construct's keyed items)."))
    sec.blocks.append(TableBlock(T.apa_table(tab, title="Agreement within sides and reliability of the side means",
                                             note=f"Cut-offs: {cut}. {cites}",
                                             formats={"Construct": "text", "Share rwg(j) \u2265 .70": "r2"}),
                                 key="tab-dyadic-agreement"))
    if d.get("apim") is None:
        why = d.get("apim_error") or d.get("apim_reason") or "not computed"
        sec.blocks.append(Alert("danger" if d.get("apim_error") else "warning",
                                "The actor-partner model could not be produced", [why]))
        return
    ap = d["apim"]
    sec.blocks.append(Text(f"Actor-partner interdependence model (Kenny, Kashy & Cook 2006): {ap.y} of each side on "
                           f"its own {ap.x} (actor effect) and the other side's (partner effect); "
                           f"{ap.fit.n_used} partnerships, {ap.fit.fit_indices.get('npar', float('nan')):.0f} "
                           "free parameters, FIML."))
    _add_fig(sec, r, "apim", f"Actor (solid) and partner (dashed) effects of {ap.x} on {ap.y}, per side; "
             "unstandardized estimates with standardized values in brackets.",
             "Path diagram of the actor-partner interdependence model")
    eff = ap.effects.reset_index()
    eff = eff[["effect", "side", "est", "se", "pvalue", "ci_lower", "ci_upper", "std_all"]]
    eff.columns = ["Effect", "Side (outcome)", "b", "SE", "p", "95% CI lower", "95% CI upper", "\u03b2"]
    sec.blocks.append(TableBlock(T.apa_table(eff, title="Actor and partner effects", formats={
        "Effect": "text", "Side (outcome)": "text", "p": "p"}), key="tab-apim-effects"))
    k = ap.k.reset_index()
    k.columns = ["Side", "k", "SE", "Bootstrap CI lower", "Bootstrap CI upper", "Reading"]
    sec.blocks.append(TableBlock(T.apa_table(k, title="k = partner / actor effect (Kenny & Ledermann 2010)",
                                             note=("k = 1: couple pattern; k = 0: actor only; k = \u22121: contrast "
                                                   f"pattern. Percentile bootstrap CI ({r.bootstrap} replicates; "
                                                   "none when 0)."), formats={"Side": "text", "Reading": "text"}),
                                 key="tab-apim-k"))
    tests = ap.tests.reset_index()
    tests.columns = ["Equal across the sides", "\u0394\u03c7\u00b2", "\u0394df", "p"]
    sec.blocks.append(TableBlock(T.apa_table(tests, title="Distinguishability of the sides (\u03c7\u00b2 difference tests)",
                                             note=("actors: equal actor effects; partners: equal partner effects; "
                                                   "both: both at once; omnibus: also equal means and variances. "
                                                   "p < .05: the sides differ (distinguishable dyads)."),
                                             formats={"Equal across the sides": "text", "\u0394df": "int", "p": "p"}),
                                 key="tab-apim-tests"))


def _dyadic_surface(sec: Section, r: Any, d: dict) -> None:
    if d.get("rsa") is None:
        if d.get("rsa_error"):
            sec.blocks.append(Alert("danger", "The response surface analysis failed", [d["rsa_error"]]))
        else:
            sec.blocks.append(Text("No response surface requested. Run with --rsa Z X Y (columns of the partnership "
                                   "table, e.g. GoodTrust_council CapImb_nhs CapImb_council) to ask whether the "
                                   "outcome depends on the two sides' (in)congruence.", "small"))
        return
    s = d["rsa"]
    sec.blocks.append(Text(f"Response surface (Edwards 2002; Humberg, Nestler & Back 2019): {s.z} on {s.x} and "
                           f"{s.y} and their squares and product, pooled centering, MLR."))
    _add_fig(sec, r, "response_surface", f"Response surface of {s.z} on {s.x} and {s.y}: the line of congruence "
             "(x = y) and of incongruence (x = \u2212y), and the contour view.",
             "Three-dimensional response surface and its contour plot")
    surf = s.surface.reset_index()
    surf = surf[[c for c in ("index", "parameter", "meaning", "est", "se", "pvalue") if c in surf.columns]]
    surf = surf.rename(columns={"index": "Parameter", "parameter": "Parameter", "meaning": "Meaning", "est": "Estimate",
                                "se": "SE", "pvalue": "p"})
    sec.blocks.append(TableBlock(T.apa_table(surf, title="Surface parameters", note=(
        "a1, a2: slope and curvature along the line of congruence; a3, a4: along the line of incongruence; "
        "a5: the asymmetry of the ridge."), formats={"Parameter": "text", "Meaning": "text", "p": "p"}),
        key="tab-rsa-surface"))
    keep = [c for c in ("df", "aic", "delta_aic", "chisq_diff", "df_diff", "pvalue_diff") if c in s.models.columns]
    mod = s.models[keep].reset_index()
    mod.columns = ["Model", *[{"df": "df", "aic": "AIC", "delta_aic": "\u0394AIC", "chisq_diff": "\u0394\u03c7\u00b2",
                               "df_diff": "\u0394df", "pvalue_diff": "p"}[c] for c in keep]]
    sec.blocks.append(TableBlock(T.apa_table(mod, title="The RSA package's models compared", note=(
        "\u0394\u03c7\u00b2 against the full polynomial model."), formats={"Model": "text", "df": "int", "\u0394df": "int",
                                                                       "p": "p"}), key="tab-rsa-models"))


def _dyadic(r: Any) -> Section:
    sec = Section("dyadic", SECTION_TITLES["dyadic"])
    d = getattr(r, "dyadic", None)
    if not d:
        sec.status = "not requested"
        sec.blocks.append(Text("Not requested. When the data have a partnership ID and a side column, run with "
                               "--dyad COLUMN --side COLUMN (for example --dyad partnership --side sector): side means "
                               "with rwg(j) and ICCs, the actor-partner interdependence model, and with --rsa Z X Y a "
                               "response surface of the two sides' views."))
        return sec
    _dyadic_tables(sec, r, d)
    _dyadic_surface(sec, r, d)
    return sec


def _warnings(r: Any) -> Section:
    sec = Section("warnings", SECTION_TITLES["warnings"])
    if r.estimation_warnings:
        sec.blocks.append(Alert("danger", "Estimation problems", list(r.estimation_warnings)))
        sec.blocks.append(Text("Non-convergence, negative variances (Heywood cases), correlations beyond \u00b11 or "
                               "non-positive-definite matrices make estimates, standard errors and fit indices "
                               "untrustworthy. Check the named parameters, the items of the constructs involved and "
                               "the sample size before interpreting the results."))
    else:
        sec.blocks.append(Alert("ok", "No estimation problems",
                                [("Every model converged; no Heywood case, out-of-range correlation or "
                                 "non-positive-definite matrix was found.")]))
    if r.other_warnings:
        sec.blocks.append(Alert("warning", "Other warnings", list(r.other_warnings)))
    return sec


def _repro(r: Any) -> Section:
    sec = Section("reproducibility", SECTION_TITLES["reproducibility"])
    rows = [
        ("Command", r.command_line),
        ("Data", r.data_label),
        ("SHA-256 of the data", f"{r.data_sha256} ({r.hash_basis})"),
        ("Model specification", f"{r.spec_name}" + (f" ({r.spec_source})" if r.spec_source else "")),
        ("SHA-256 of the model syntax", hashlib.sha256(str(getattr(r.spec, "syntax", "")).encode("utf-8")).hexdigest()),
        ("Estimator / missing data", f"{r.options['estimator']} / {r.options['missing']}"),
        *([("Why this estimator", str(r.options["estimator_reason"]))] if r.options.get("estimator_reason") else []),
        *([("Ordered items", ", ".join(r.options["ordered"]))] if r.options.get("ordered") else []),
        ("Bootstrap replicates", str(r.bootstrap)),
        ("Seed", f"{r.seed}" + (" (drawn at random: pass --seed " + str(r.seed) + " to repeat this run)" if r.seed_drawn else "")),
        ("Created", r.created),
        ("Run time", f"{r.elapsed:.1f} s"),
    ]
    for name, ver in r.versions.items():
        rows.append((f"Version: {name}", ver))
    tab = pd.DataFrame(rows, columns=["Item", "Value"])
    sec.blocks.append(TableBlock(T.apa_table(tab, title="Software, data and settings",
                                             formats={"Item": "text", "Value": "text"}), key="tab-repro"))
    return sec


_BUILDERS = {
    "summary": _summary, "data": _data, "items": _items, "reliability": _reliability, "cfa": _cfa, "sem": _sem, "misfit": _misfit,
    "paths": _paths, "effects": _effects, "r2": _r2, "groups": _groups, "multilevel": _multilevel, "compare": _compare, "power": _power,
    "dyadic": _dyadic, "warnings": _warnings, "reproducibility": _repro,
}


def build_sections(r: Any) -> list[Section]:
    """All sections of the report, in order, numbered."""
    out = [_BUILDERS[k](r) for k in SECTION_TITLES]
    number_blocks(out)
    return out


# ====================================================================================
# Markdown
# ====================================================================================
def render_markdown(r: Any, sections: Sequence[Section]) -> str:
    """The whole report as Markdown (figures linked from ``figures/``)."""
    lines = [f"# {r.title}", ""]
    if r.synthetic:
        lines += ["> **SYNTHETIC DATA.** " + r.synthetic_text, ""]
    if r.estimation_warnings:
        lines += ["> **WARNING: estimation problems.** " + "; ".join(r.estimation_warnings), ""]
    lines += [f"*{r.subtitle}*", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Text):
                lines += [f"### {b.text}" if b.kind == "h3" else b.text, ""]
            elif isinstance(b, Bullets):
                lines += [f"- {x}" for x in b.items] + [""]
            elif isinstance(b, Alert):
                lines.append(f"> **{b.title}**")
                for x in b.lines:
                    lines.append(f"> - {x}")
                lines.append("")
            elif isinstance(b, TableBlock):
                lines += [b.markdown(), ""]
            elif isinstance(b, FigureBlock):
                lines += [f"**Figure {b.number}**", "", f"![{b.alt}](figures/{b.stem}.png)", "", f"*{b.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"
