"""APA-style tables as DataFrames, with Markdown, LaTeX, HTML and CSV exporters.

Every ``*_table`` function returns a :class:`pandas.DataFrame` whose columns are
the display headings (``"b"``, ``"SE"``, ``"β"``, ``"95% CI LL"``, ``"p"`` ...)
and whose cells hold the *numbers* (so the frame stays usable for analysis).
How each column is printed is recorded in ``df.attrs``:

``title``
    the table title (APA: italic, below the bold "Table N" line);
``note``
    the general note printed under the table ("*Note.* ...");
``formats``
    column -> format code: ``"int"``, ``"f1"``, ``"f2"``, ``"f3"`` (fixed
    decimals), ``"r2"``, ``"r3"`` (no leading zero: statistics that cannot exceed 1,
    such as correlations, CFI, RMSEA, alpha), ``"p"`` (APA p values: ``.012``,
    ``< .001``), ``"bool"`` (yes/no), ``"text"``.

The exporters :func:`to_markdown`, :func:`to_latex`, :func:`to_html` and
:func:`to_csv` read these attributes; :func:`format_table` gives the formatted
strings as a DataFrame. No third-party table package is needed.

Examples
--------
>>> import pandas as pd
>>> from asymtrust.reporting.tables import apa_table, to_markdown
>>> t = apa_table(pd.DataFrame({"Construct": ["A"], "α": [0.812]}), title="Reliability",
...               formats={"α": "r2"})
>>> print(to_markdown(t, number=1))
**Table 1**
<BLANKLINE>
*Reliability*
<BLANKLINE>
| Construct | α |
|:--|--:|
| A | .81 |
"""
from __future__ import annotations

import html as _html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "apa_table",
    "compare_table",
    "compare_tests_table",
    "effects_table",
    "fit_cutoff_table",
    "fit_table",
    "format_table",
    "format_value",
    "group_paths_table",
    "htmt_table",
    "invariance_table",
    "items_table",
    "path_agreement",
    "path_equality_table",
    "paths_table",
    "r2_table",
    "reliability_table",
    "to_csv",
    "to_html",
    "to_latex",
    "to_markdown",
]

MINUS = "\u2212"
Z95 = 1.959963984540054


# ====================================================================================
# formatting
# ====================================================================================
def apa_table(df: pd.DataFrame, *, title: str = "", note: str = "",
              formats: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Attach APA metadata (title, note, column formats) to a DataFrame.

    Columns without a format are printed with :func:`format_value`'s default
    (``"f2"`` for floats, ``"int"`` for integers, text otherwise).
    """
    out = df.copy()
    out.attrs = {"title": title, "note": note, "formats": dict(formats or {})}
    return out


def _finite(v: Any) -> bool:
    try:
        return v is not None and v is not pd.NA and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def format_value(v: Any, fmt: str | None = None, *, minus: str = MINUS) -> str:
    """One cell in APA style.

    Examples
    --------
    >>> format_value(0.0004, "p"), format_value(0.0312, "p"), format_value(-0.256, "r2")
    ('< .001', '.031', '−.26')
    >>> format_value(12.3456, "f1"), format_value(3, "int"), format_value(float("nan"), "f2")
    ('12.3', '3', '—')
    """
    if fmt == "text" or isinstance(v, str):
        return "" if v is None else str(v)
    if fmt == "bool":
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return "—"
        return "yes" if bool(v) else "no"
    if not _finite(v):
        return "—"
    x = float(v)
    if fmt is None:
        fmt = "int" if float(x).is_integer() and isinstance(v, (int, np.integer)) else "f2"
    if fmt == "int":
        s = f"{round(x):d}"
    elif fmt == "p":
        if x < 0.001:
            return "< .001"
        s = f"{x:.3f}"
        if s == "1.000":
            return "1.000"
        return s[1:] if s.startswith("0.") else s
    elif fmt in ("r2", "r3"):
        nd = int(fmt[1])
        s = f"{abs(x):.{nd}f}"
        if s.startswith("0."):
            s = s[1:]
        if x < 0 and float(s) != 0:
            s = "-" + s
    elif fmt.startswith("f") and fmt[1:].isdigit():
        s = f"{x:.{int(fmt[1:])}f}"
        if s.startswith("-") and float(s) == 0:
            s = s[1:]
    else:
        s = f"{x:g}"
    return s.replace("-", minus)


def format_table(table: pd.DataFrame, *, minus: str = MINUS) -> pd.DataFrame:
    """The table's cells as formatted strings (index dropped)."""
    fmts = table.attrs.get("formats", {}) or {}
    out = pd.DataFrame(index=range(len(table)))
    for col in table.columns:
        fmt = fmts.get(col)
        series = table[col]
        if fmt is None:
            if pd.api.types.is_integer_dtype(series):
                fmt = "int"
            elif pd.api.types.is_float_dtype(series):
                fmt = "f2"
            elif pd.api.types.is_bool_dtype(series):
                fmt = "bool"
            else:
                fmt = "text"
        out[col] = [format_value(v, fmt, minus=minus) for v in series.tolist()]
    return out


def _align(table: pd.DataFrame) -> list[str]:
    fmts = table.attrs.get("formats", {}) or {}
    al = []
    for col in table.columns:
        fmt = fmts.get(col)
        numeric = fmt not in (None, "text", "bool") or (fmt is None and pd.api.types.is_numeric_dtype(table[col])
                                                          and not pd.api.types.is_bool_dtype(table[col]))
        al.append("r" if numeric else "l")
    return al


def to_markdown(table: pd.DataFrame, *, number: int | None = None, heading: bool = True) -> str:
    """GitHub-flavoured Markdown: "**Table N**", the italic title, the table, the note."""
    cells = format_table(table)
    al = _align(table)

    def esc(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    lines = []
    if heading and (number is not None or table.attrs.get("title")):
        if number is not None:
            lines += [f"**Table {number}**", ""]
        if table.attrs.get("title"):
            lines += [f"*{esc(table.attrs['title'])}*", ""]
    lines.append("| " + " | ".join(esc(c) for c in table.columns) + " |")
    lines.append("|" + "|".join(":--" if a == "l" else "--:" for a in al) + "|")
    for row in cells.itertuples(index=False):
        lines.append("| " + " | ".join(esc(v) for v in row) + " |")
    if table.attrs.get("note"):
        lines += ["", f"*Note.* {esc(table.attrs['note'])}"]
    return "\n".join(lines)


_LATEX_SYMBOLS = {
    "\u03c7\u00b2": r"$\chi^2$", "\u03b2": r"$\beta$", "\u03b1": r"$\alpha$", "\u03c9": r"$\omega$",
    "\u0394": r"$\Delta$", "R\u00b2": r"$R^2$", "\u2265": r"$\geq$", "\u2264": r"$\leq$",
    "\u2192": r"$\rightarrow$", "\u221a": r"$\surd$", MINUS: r"$-$", "\u2014": "---", "\u2013": "--",
    "\u00b2": r"$^2$", "\u00d7": r"$\times$",
}
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def _latex_escape(text: str) -> str:
    out = []
    i = 0
    s = str(text)
    keys = sorted(_LATEX_SYMBOLS, key=len, reverse=True)
    while i < len(s):
        for k in keys:
            if s.startswith(k, i):
                out.append(_LATEX_SYMBOLS[k])
                i += len(k)
                break
        else:
            out.append(_LATEX_SPECIAL.get(s[i], s[i]))
            i += 1
    return "".join(out)


def to_latex(table: pd.DataFrame, *, label: str | None = None, number: int | None = None) -> str:
    """A booktabs LaTeX table (``\\usepackage{booktabs}``) with caption and note."""
    cells = format_table(table)
    al = _align(table)
    lines = [r"\begin{table}[htbp]", r"\centering"]
    title = table.attrs.get("title") or ""
    if title:
        lines.append(r"\caption{" + _latex_escape(title) + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines.append(r"\begin{tabular}{" + "".join(al) + "}")
    lines.append(r"\toprule")
    lines.append(" & ".join(_latex_escape(c) for c in table.columns) + r" \\")
    lines.append(r"\midrule")
    for row in cells.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(v) for v in row) + r" \\")
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    if table.attrs.get("note"):
        lines.append(r"\par\smallskip")
        lines.append(r"{\footnotesize\textit{Note.} " + _latex_escape(table.attrs["note"]) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_html(table: pd.DataFrame, *, number: int | None = None, table_id: str | None = None,
            highlight: Mapping[tuple[int, str], str] | None = None) -> str:
    """An HTML ``<figure>`` with an APA table: heading, title, rules, note.

    ``highlight`` maps (row position, column) to a CSS class (e.g. ``"fail"``),
    used by the report to mark values that miss a cut-off.
    """
    cells = format_table(table)
    al = _align(table)
    hl = dict(highlight or {})
    esc = _html.escape
    ident = f' id="{esc(table_id)}"' if table_id else ""
    parts = [f'<figure class="apa-table"{ident}>']
    if number is not None or table.attrs.get("title"):
        parts.append("<figcaption>")
        if number is not None:
            parts.append(f'<span class="tnum">Table {number}</span>')
        if table.attrs.get("title"):
            parts.append(f'<span class="ttitle">{esc(table.attrs["title"])}</span>')
        parts.append("</figcaption>")
    parts.append('<div class="scroll"><table><thead><tr>')
    for c, a in zip(table.columns, al):
        parts.append(f'<th class="{a}">{esc(str(c))}</th>')
    parts.append("</tr></thead><tbody>")
    for i, row in enumerate(cells.itertuples(index=False)):
        parts.append("<tr>")
        for c, a, v in zip(table.columns, al, row):
            cls = a + (" " + hl[(i, c)] if (i, c) in hl else "")
            parts.append(f'<td class="{cls}">{esc(str(v))}</td>')
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    if table.attrs.get("note"):
        parts.append(f'<p class="tnote"><em>Note.</em> {esc(table.attrs["note"])}</p>')
    parts.append("</figure>")
    return "".join(parts)


def to_csv(table: pd.DataFrame, path: str | os.PathLike | None = None, *, formatted: bool = False) -> str:
    """CSV text (numbers unformatted unless ``formatted``); also written to ``path`` if given."""
    frame = format_table(table, minus="-") if formatted else table
    text = frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


# ====================================================================================
# helpers on fits
# ====================================================================================
def _cut_row(stat: str) -> tuple[str, float, str] | None:
    """(rule, threshold, short citation) of a published cut-off, None if the table has none."""
    from ..analysis.cutoffs import load_cutoffs, short_citation

    tab = load_cutoffs().set_index("statistic")
    if stat not in tab.index:
        return None
    row = tab.loc[stat]
    return str(row["rule"]), float(row["threshold"]), short_citation(str(row["citation"]))


def _passes(stat: str, value: float) -> bool | None:
    if not _finite(value):
        return None
    from ..analysis.cutoffs import check

    return bool(check(stat, float(value)))


def _robust(fi: pd.Series) -> bool:
    return _finite(fi.get("chisq_scaled", float("nan")))


def _fi(fi: pd.Series, key: str) -> float:
    v = fi.get(key, float("nan"))
    return float(v) if _finite(v) else float("nan")


def _fit_row(fi: pd.Series, nobs: float) -> dict[str, Any]:
    rob = _robust(fi)
    sfx = "_robust" if rob and _finite(fi.get("cfi_robust", np.nan)) else ""
    return {
        "N": nobs,
        "\u03c7\u00b2": _fi(fi, "chisq_scaled" if rob else "chisq"),
        "df": _fi(fi, "df_scaled" if rob and _finite(fi.get("df_scaled", np.nan)) else "df"),
        "p": _fi(fi, "pvalue_scaled" if rob else "pvalue"),
        "CFI": _fi(fi, "cfi" + sfx),
        "TLI": _fi(fi, "tli" + sfx),
        "RMSEA": _fi(fi, "rmsea" + sfx),
        "RMSEA 90% CI LL": _fi(fi, "rmsea_ci_lower" + sfx),
        "RMSEA 90% CI UL": _fi(fi, "rmsea_ci_upper" + sfx),
        "SRMR": _fi(fi, "srmr"),
        "AIC": _fi(fi, "aic"),
        "BIC": _fi(fi, "bic"),
    }


_FIT_FORMATS = {"N": "int", "\u03c7\u00b2": "f2", "df": "int", "p": "p", "CFI": "r3", "TLI": "r3",
                "RMSEA": "r3", "RMSEA 90% CI LL": "r3", "RMSEA 90% CI UL": "r3", "SRMR": "r3",
                "AIC": "f1", "BIC": "f1"}


def _cut_note() -> str:
    parts = []
    for stat, lab in (("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA"), ("srmr", "SRMR")):
        r = _cut_row(stat)
        if r:
            rule = {">=": "\u2265", "<=": "\u2264"}.get(r[0], r[0])
            parts.append(f"{lab} {rule} {format_value(r[1], 'r2')}")
    if not parts:
        return ""
    src = _cut_row("cfi")
    return "Cut-offs: " + ", ".join(parts) + (f" ({src[2]})." if src else ".")


def fit_table(fits: Any, *, names: Sequence[str] | None = None, title: str = "Model fit") -> pd.DataFrame:
    """Fit indices of one or more models, one row per model.

    Parameters
    ----------
    fits : FitResult, sequence or mapping of FitResult, or DataFrame
        A DataFrame is read as :func:`asymtrust.compare` output (columns
        ``chisq, df, cfi, ...``; index or column ``model``).
    names : sequence of str, optional
        Row labels for a sequence of fits.

    Returns
    -------
    DataFrame
        Columns ``Model, N, χ², df, p, CFI, TLI, RMSEA, RMSEA 90% CI LL/UL, SRMR,
        AIC, BIC``. For MLR fits the Yuan-Bentler scaled χ² and the robust
        CFI/TLI/RMSEA are reported (said in the note).
    """
    rows = []
    robust = False
    if isinstance(fits, pd.DataFrame):
        df = fits.copy()
        if "model" in df.columns:
            df = df.set_index("model")
        for name, r in df.iterrows():
            row = {"Model": str(name)}
            row.update(_fit_row(r, r.get("nobs", r.get("n", float("nan")))))
            robust = robust or _robust(r)
            rows.append(row)
    else:
        if isinstance(fits, Mapping):
            items = list(fits.items())
        elif isinstance(fits, (list, tuple)):
            labels = list(names) if names is not None else [f"Model {i + 1}" for i in range(len(fits))]
            items = list(zip(labels, fits))
        else:
            items = [(names[0] if names else "Model", fits)]
        for name, f in items:
            row = {"Model": str(name)}
            row.update(_fit_row(f.fit_indices, float(sum(f.nobs))))
            robust = robust or _robust(f.fit_indices)
            rows.append(row)
    out = pd.DataFrame(rows, columns=["Model", *_FIT_FORMATS])
    note = ("\u03c7\u00b2 = Yuan-Bentler scaled chi-square; CFI, TLI and RMSEA are the robust versions (MLR). "
            if robust else "")
    note += "RMSEA 90% CI = lower (LL) and upper (UL) limits. " + _cut_note()
    return apa_table(out, title=title, note=note.strip(), formats=_FIT_FORMATS)


def _reading(stat: str, value: float, ok: bool | None, fi: pd.Series) -> str:
    if ok is None:
        return "not available"
    if stat == "chisq":
        n = _fi(fi, "nobs") if "nobs" in fi else float("nan")
        big = f" (common with N = {int(n)}; judge fit by the indices below)" if _finite(n) and n > 200 else ""
        return ("the exact-fit test does not reject the model" if ok
                else "the exact-fit test rejects the model" + big)
    texts = {
        "cfi": ("the model reproduces the item covariances much better than a model of unrelated items",
                "the model misses a noticeable part of the covariance structure"),
        "tli": ("good fit after the penalty for model complexity",
                "fit is weak once model complexity is penalised"),
        "rmsea": ("close approximate fit per degree of freedom",
                  "the approximation error per degree of freedom is larger than recommended"),
        "srmr": ("the average residual correlation is small",
                 "the model leaves sizeable residual correlations (see the heat map)"),
    }
    good, bad = texts[stat]
    return good if ok else bad


def fit_cutoff_table(fit: Any, *, title: str = "Fit indices against published cut-offs") -> pd.DataFrame:
    """Each fit index beside its cut-off, whether it meets it, and a plain-language reading.

    The χ² test is read at p ≥ .05; CFI, TLI, RMSEA and SRMR use
    :mod:`asymtrust.analysis.cutoffs` (Hu & Bentler 1999). For MLR the robust versions are read.
    """
    fi = fit.fit_indices.copy()
    fi["nobs"] = float(sum(fit.nobs))
    rob = _robust(fi)
    sfx = "_robust" if rob and _finite(fi.get("cfi_robust", np.nan)) else ""
    rows = []
    chisq = _fi(fi, "chisq_scaled" if rob else "chisq")
    df = _fi(fi, "df_scaled" if rob and _finite(fi.get("df_scaled", np.nan)) else "df")
    p = _fi(fi, "pvalue_scaled" if rob else "pvalue")
    ok = None if not _finite(p) else p >= 0.05
    rows.append({"Index": ("scaled " if rob else "") + "\u03c7\u00b2 test",
                 "Value": f"\u03c7\u00b2({format_value(df, 'int')}) = {format_value(chisq, 'f2')}, p = "
                          + format_value(p, "p").replace("= <", "<"),
                 "Cut-off": "p \u2265 .05", "Meets": ok, "Reading": _reading("chisq", chisq, ok, fi),
                 "Source": "exact-fit test"})
    for stat, lab in (("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA"), ("srmr", "SRMR")):
        key = stat + (sfx if stat != "srmr" else "")
        v = _fi(fi, key)
        cut = _cut_row(stat)
        ok = _passes(stat, v)
        val = format_value(v, "r3")
        if stat == "rmsea":
            lo, hi = _fi(fi, "rmsea_ci_lower" + sfx), _fi(fi, "rmsea_ci_upper" + sfx)
            if _finite(lo) and _finite(hi):
                val += f" [{format_value(lo, 'r3')}, {format_value(hi, 'r3')}]"
        rule = "" if cut is None else {">=": "\u2265", "<=": "\u2264"}.get(cut[0], cut[0]) + " " + format_value(cut[1], "r2")
        rows.append({"Index": ("robust " if sfx and stat != "srmr" else "") + lab, "Value": val, "Cut-off": rule,
                     "Meets": ok, "Reading": _reading(stat, v, ok, fi), "Source": cut[2] if cut else ""})
    out = pd.DataFrame(rows)
    out["Meets"] = pd.array(out["Meets"].tolist(), dtype="boolean")
    note = "RMSEA with its 90% CI. " + ("MLR: robust indices (lavaan's .robust). " if sfx else "")
    note += "Cut-offs are conventions, not tests; read them together."
    return apa_table(out, title=title, note=note,
                     formats={"Index": "text", "Value": "text", "Cut-off": "text", "Meets": "bool",
                              "Reading": "text", "Source": "text"})


# ====================================================================================
# structural paths
# ====================================================================================
def path_agreement(expected: str, beta: float, p: float, alpha: float = 0.05) -> str:
    """Whether an estimate agrees with the expected sign.

    Examples
    --------
    >>> path_agreement("-", -0.3, 0.001), path_agreement("-", 0.3, 0.001), path_agreement("+", 0.1, 0.4)
    ('supported', 'contradicted (opposite sign)', 'not significant (sign as expected)')
    """
    if not _finite(beta):
        return "not estimated"
    sig = _finite(p) and p < alpha
    if expected not in ("+", "-"):
        return "significant, no expected sign" if sig else "not significant, no expected sign"
    same = (beta >= 0) == (expected == "+")
    if sig:
        return "supported" if same else "contradicted (opposite sign)"
    return "not significant (sign as expected)" if same else "not significant (opposite sign)"


def _std_ci(r: Any) -> tuple[float, float]:
    se = getattr(r, "std_all_se", float("nan"))
    b = getattr(r, "std_all", float("nan"))
    if _finite(se) and _finite(b):
        return b - Z95 * se, b + Z95 * se
    return float("nan"), float("nan")


def paths_table(fit: Any, spec: Any = None, *, group: int | None = None,
                title: str = "Structural paths") -> pd.DataFrame:
    """Structural (``~``) paths: unstandardized and standardized estimates, the
    CI of β, p, the sign the spec expects and whether the data agree.

    Parameters
    ----------
    fit : FitResult
    spec : ModelSpec, optional
        Gives the expected signs (``PathMeta.sign``); without it (or for a bare
        ``.lav`` file) the expectation is "not stated".
    group : int, optional
        Only this group of a multi-group fit (default: all groups, with a
        ``Group`` column).

    Returns
    -------
    DataFrame
        ``Outcome, Predictor, b, SE, β, 95% CI LL, 95% CI UL, p, Expected, Agreement``
        (β = std.all; its CI is β ± 1.96 SE(β), as lavaan's ``standardizedSolution``).
    """
    est = fit.estimates
    reg = est[est["op"] == "~"].copy()
    multi = bool(getattr(fit, "group_labels", None)) and len(fit.group_labels) > 1
    if group is not None:
        reg = reg[reg["group"] == group]
    # a two-level fit (issue 16): a Level column (within / between)
    levels = "level" in reg.columns and reg["level"].nunique() > 1
    level_name = {"1": "within", "2": "between", "within": "within", "between": "between"}
    signs = {}
    if spec is not None:
        signs = {(p.lhs, p.rhs): p.sign for p in getattr(spec, "paths", ())}
    rows = []
    for r in reg.itertuples(index=False):
        lo, hi = _std_ci(r)
        exp = signs.get((r.lhs, r.rhs), "?")
        row = {}
        if multi and group is None:
            row["Group"] = fit.group_labels[int(r.group) - 1]
        if levels:
            row["Level"] = level_name.get(str(r.level), str(r.level))
        row.update({
            "Outcome": r.lhs, "Predictor": r.rhs, "b": r.est, "SE": r.se, "\u03b2": r.std_all,
            "95% CI LL": lo, "95% CI UL": hi, "p": r.pvalue,
            "Expected": {"+": "+", "-": MINUS}.get(exp, "not stated"),
            "Agreement": path_agreement(exp, r.std_all, r.pvalue),
        })
        rows.append(row)
    cols = (["Group"] if multi and group is None else []) + (["Level"] if levels else []) + ["Outcome", "Predictor", "b", "SE", "\u03b2",
                                                               "95% CI LL", "95% CI UL", "p", "Expected", "Agreement"]
    out = pd.DataFrame(rows, columns=cols)
    note = ("b = unstandardized estimate; \u03b2 = standardized estimate (std.all) with its 95% CI (LL, UL). "
            "Expected = sign the model specification derives from the paper. "
            "'supported': significant (p < .05) with the expected sign.")
    if spec is None or not signs or all(s == "?" for s in signs.values()):
        note += " The specification states no expected signs (a bare .lav file has no metadata)."
    return apa_table(out, title=title, note=note,
                     formats={"Group": "text", "Level": "text", "Outcome": "text", "Predictor": "text", "b": "f3", "SE": "f3",
                              "\u03b2": "r2", "95% CI LL": "r2", "95% CI UL": "r2", "p": "p",
                              "Expected": "text", "Agreement": "text"})


def group_paths_table(fit: Any, spec: Any = None) -> pd.DataFrame:
    """Long table of the structural paths of a multi-group fit (for the per-group
    chart): ``path, group, std_all, std_ci_lower, std_ci_upper, pvalue``."""
    est = fit.estimates
    reg = est[est["op"] == "~"]
    labels = list(getattr(fit, "group_labels", None) or ["all"])
    rows = []
    for r in reg.itertuples(index=False):
        lo, hi = _std_ci(r)
        rows.append({"path": f"{r.rhs} -> {r.lhs}", "group": labels[int(r.group) - 1] if r.group >= 1 else labels[0],
                     "std_all": r.std_all, "std_ci_lower": lo, "std_ci_upper": hi, "pvalue": r.pvalue})
    return pd.DataFrame(rows, columns=["path", "group", "std_all", "std_ci_lower", "std_ci_upper", "pvalue"])


# ====================================================================================
# reliability
# ====================================================================================
_REL_FLAGS = (("alpha_pass", "\u03b1"), ("omega_pass", "\u03c9"), ("cr_pass", "CR"), ("ave_pass", "AVE"),
              ("htmt_pass", "HTMT"), ("fl_pass", "Fornell-Larcker"))


def reliability_table(rel: pd.DataFrame, *, title: str = "Reliability and validity") -> pd.DataFrame:
    """APA view of :func:`asymtrust.reliability`: one row per construct with α (and
    its 95% CI), ω, CR, AVE, √AVE, the largest HTMT, and the cut-offs missed."""
    rows = []
    ordinal = "ordinal_alpha" in rel.columns
    for lv, r in rel.iterrows():
        failed = [lab for col, lab in _REL_FLAGS if col in rel.columns and r[col] is not pd.NA
                  and not pd.isna(r[col]) and not bool(r[col])]
        rows.append({
            "Construct": str(lv), "Items": r.get("n_items"), "N": r.get("n_obs"),
            "\u03b1": r.get("alpha"), "\u03b1 95% CI LL": r.get("alpha_ci_lower"), "\u03b1 95% CI UL": r.get("alpha_ci_upper"),
            **({"ordinal \u03b1": r.get("ordinal_alpha")} if ordinal else {}),
            "\u03c9": r.get("omega"), "CR": r.get("cr"), "AVE": r.get("ave"), "\u221aAVE": r.get("sqrt_ave"),
            "max HTMT": r.get("htmt_max"),
            "Misses cut-off": ", ".join(failed) if failed else "none",
        })
    out = pd.DataFrame(rows)
    cut = rel.attrs.get("cutoffs", {}) or {}
    method = str(rel.attrs.get("htmt_method", "htmt2"))
    variant = ("HTMT2: geometric means (Roemer, Schuberth & Henseler 2021; semTools htmt2 = TRUE)"
               if method == "htmt2" else "HTMT: arithmetic means (Henseler, Ringle & Sarstedt 2015)")
    note = ("\u03b1 = Cronbach's alpha with Feldt 95% CI; \u03c9 = omega and AVE from the CFA (semTools); "
            "CR = composite reliability from standardized loadings; max HTMT = the construct's largest "
            f"heterotrait-monotrait ratio, {variant}. ")
    if ordinal:
        note += ("Ordered items (WLSMV CFA): ordinal \u03b1 = alpha of the polychoric matrix (Zumbo, Gadermann & "
                 "Zeisser 2007); \u03c9 = categorical omega (Green & Yang 2009; semTools compRelSEM); AVE and HTMT "
                 "from the polychoric matrix. ")
    if cut:
        note += "Cut-offs: " + "; ".join(cut.values()) + "."
    return apa_table(out, title=title, note=note,
                     formats={"Construct": "text", "Items": "int", "N": "int", "\u03b1": "r2", "ordinal \u03b1": "r2",
                              "\u03b1 95% CI LL": "r2", "\u03b1 95% CI UL": "r2", "\u03c9": "r2", "CR": "r2",
                              "AVE": "r2", "\u221aAVE": "r2", "max HTMT": "r2", "Misses cut-off": "text"})


def htmt_table(ht: pd.DataFrame, *, title: str = "Heterotrait-monotrait ratios") -> pd.DataFrame:
    """Lower triangle of an HTMT matrix (:func:`asymtrust.htmt`)."""
    lvs = list(ht.index)
    rows = []
    for i, a in enumerate(lvs):
        row: dict[str, Any] = {"Construct": a}
        for j, b in enumerate(lvs):
            row[b] = ht.iloc[i, j] if j < i else float("nan")
        rows.append(row)
    out = pd.DataFrame(rows, columns=["Construct", *lvs])
    if len(lvs) > 1:
        out = out.iloc[1:, :-1].reset_index(drop=True)
    cutoff = ht.attrs.get("cutoff", "")
    method = str(ht.attrs.get("method", "htmt2")).upper()
    return apa_table(out, title=title, note=f"{method} on {ht.attrs.get('n_obs', '?')} complete cases. {cutoff}".strip(),
                     formats={"Construct": "text", **{b: "r2" for b in lvs}})


def items_table(stats: pd.DataFrame, *, title: str = "Item diagnostics") -> pd.DataFrame:
    """APA view of :func:`asymtrust.item_stats`."""
    s = stats.reset_index()
    out = pd.DataFrame({
        "Item": s["item"], "Construct": s["construct"], "n": s["n"], "M": s["mean"], "SD": s["sd"],
        "Skew": s["skew"], "Kurtosis": s["kurtosis"], "% missing": s["pct_missing"],
        "% floor": s["pct_floor"], "% ceiling": s["pct_ceiling"], "r (drop)": s["r_drop"],
        "\u03b1 if deleted": s["alpha_if_deleted"],
    })
    note = ("Skew and excess kurtosis are bias-corrected (G1, G2); r (drop) = corrected item-total "
            "correlation; % floor / % ceiling = answers at the scale's end points. Reverse-keyed items are recoded.")
    return apa_table(out, title=title, note=note,
                     formats={"Item": "text", "Construct": "text", "n": "int", "M": "f2", "SD": "f2", "Skew": "f2",
                              "Kurtosis": "f2", "% missing": "f1", "% floor": "f1", "% ceiling": "f1",
                              "r (drop)": "r2", "\u03b1 if deleted": "r2"})


# ====================================================================================
# effects, R², invariance, comparison
# ====================================================================================
def effects_table(effects: pd.DataFrame, *, title: str = "Indirect and total effects") -> pd.DataFrame:
    """APA view of :func:`asymtrust.effects` (columns ``effect, path, est, se,
    ci_lower, ci_upper, std_all, method``; missing columns are left blank)."""
    e = effects.reset_index(drop=True)

    def col(name: str) -> pd.Series:
        return e[name] if name in e.columns else pd.Series([float("nan")] * len(e))

    path = col("path") if "path" in e.columns else col("effect")
    out = pd.DataFrame({
        "Effect": col("effect") if "effect" in e.columns else path,
        "Path": [str(p).replace("->", "\u2192") for p in path],
        "Estimate": col("est"), "SE": col("se"), "95% CI LL": col("ci_lower"), "95% CI UL": col("ci_upper"),
        "\u03b2": col("std_all"),
        "CI method": col("method") if "method" in e.columns else "",
    })
    excl = [(_finite(a) and _finite(b) and (a > 0 or b < 0)) for a, b in zip(out["95% CI LL"], out["95% CI UL"])]
    out["CI excludes 0"] = pd.array(excl, dtype="boolean")
    note = ("Estimate = unstandardized effect (product of path coefficients); SE = delta-method standard error; "
            "\u03b2 = standardized effect (std.all).")
    boot = effects.attrs.get("bootstrap") if hasattr(effects, "attrs") else None
    n_boot = boot.get("B") if isinstance(boot, Mapping) else boot
    if n_boot:
        note += f" Confidence intervals from {n_boot} bootstrap replicates."
    return apa_table(out, title=title, note=note,
                     formats={"Effect": "text", "Path": "text", "Estimate": "f3", "SE": "f3", "95% CI LL": "f3",
                              "95% CI UL": "f3", "\u03b2": "r3", "CI method": "text", "CI excludes 0": "bool"})


def r2_table(fit: Any, *, variables: Sequence[str] | None = None, title: str = "Variance explained") -> pd.DataFrame:
    """R² of the endogenous variables (default: the outcomes of ``~`` paths)."""
    r2 = fit.r2_frame()
    est = fit.estimates
    if variables is None:
        variables = list(dict.fromkeys(est.loc[est["op"] == "~", "lhs"]))
    r2 = r2[r2["variable"].isin(variables)]
    multi = bool(getattr(fit, "group_labels", None)) and len(fit.group_labels) > 1
    rows = []
    for r in r2.itertuples(index=False):
        row = {}
        if multi:
            row["Group"] = fit.group_labels[int(r.group) - 1]
        preds = est[(est["op"] == "~") & (est["lhs"] == r.variable) & (est["group"] == r.group)]["rhs"].tolist()
        row.update({"Variable": r.variable, "Predictors": ", ".join(dict.fromkeys(preds)), "R\u00b2": r.r2})
        rows.append(row)
    cols = (["Group"] if multi else []) + ["Variable", "Predictors", "R\u00b2"]
    return apa_table(pd.DataFrame(rows, columns=cols), title=title,
                     note="R\u00b2 = share of the variable's variance explained by its predictors in the model.",
                     formats={"Group": "text", "Variable": "text", "Predictors": "text", "R\u00b2": "r2"})


def invariance_table(inv: pd.DataFrame, *, title: str = "Measurement invariance") -> pd.DataFrame:
    """APA view of :func:`asymtrust.invariance` (one row per level).

    The long ``verdict`` of :func:`asymtrust.invariance` is shortened to its head
    ("metric invariance supported", "... not supported", "... mixed").
    """
    df = inv.copy()
    if "level" not in df.columns:
        df = df.reset_index().rename(columns={df.index.name or "index": "level"})
    robust = "cfi_robust" in df.columns and df["cfi_robust"].notna().any()
    # ordinal ladder (WLSMV): lavaan leaves the robust indices of constrained levels NA; the scaled ones
    scaled = robust and "cfi_scaled" in df.columns and bool(df["cfi_robust"].isna().any())
    ix = "_scaled" if scaled else "_robust" if robust else ""
    mapping = [("level", "Level", "text"), ("chisq_scaled" if robust else "chisq", "\u03c7\u00b2", "f2"),
               ("df", "df", "int"), ("cfi" + ix, "CFI", "r3"),
               ("tli" + ix, "TLI", "r3"), ("rmsea" + ix, "RMSEA", "r3"),
               ("srmr", "SRMR", "r3"), ("delta_chisq", "\u0394\u03c7\u00b2", "f2"), ("delta_df", "\u0394df", "int"),
               ("p_delta", "p (\u0394\u03c7\u00b2)", "p"), ("delta_cfi", "\u0394CFI", "r3")]
    out = pd.DataFrame({lab: df[c].tolist() for c, lab, _ in mapping if c in df.columns})
    fmts = {lab: f for c, lab, f in mapping if c in df.columns}
    if "verdict" in df.columns:
        out["Verdict"] = [str(v).split(":")[0] if isinstance(v, str) else "" for v in df["verdict"]]
        fmts["Verdict"] = "text"
    note = ("Each level adds equality constraints across groups (lavaan group.equal) and is compared with the level "
            "before it. \u0394CFI = CFI of the level minus CFI of the previous level; a level is retained when "
            "\u0394CFI \u2265 \u2212.01 (Cheung & Rensvold 2002) and the \u03c7\u00b2 difference test is not significant.")
    test = str((inv.attrs.get("difference_test") if hasattr(inv, "attrs") else "") or "")
    if robust and test.startswith("Satorra 2000"):
        note += (f" {inv.attrs.get('estimator', 'WLSMV')} on ordered items: scaled-and-shifted \u03c7\u00b2, "
                 f"{'scaled' if scaled else 'robust'} CFI/TLI/RMSEA; \u0394\u03c7\u00b2 is lavaan's Satorra (2000) "
                 "scaled-and-shifted difference (lavTestLRT).")
    elif robust:
        note += " MLR: scaled \u03c7\u00b2, robust CFI/TLI/RMSEA, Satorra-Bentler (2001) scaled difference tests."
    model_note = inv.attrs.get("model_note") if hasattr(inv, "attrs") else None
    if model_note:
        note += " " + str(model_note)
    return apa_table(out, title=title, note=note, formats=fmts)


def path_equality_table(pe: pd.DataFrame, *, title: str = "Equality of structural paths across groups") -> pd.DataFrame:
    """APA view of :func:`asymtrust.analysis.invariance.path_equality`: β per group, the
    χ² difference test of the equality constraint, and whether the path differs."""
    labels = list(pe.attrs.get("group_labels", []) or [])
    if not labels:
        labels = [c[len("std_all_"):] for c in pe.columns if c.startswith("std_all_")]
    data: dict[str, list] = {"Path": [f"{r} \u2192 {l}" for l, r in zip(pe["lhs"], pe["rhs"])]}
    fmts: dict[str, str] = {"Path": "text"}
    for g in labels:
        col = f"std_all_{g}"
        if col in pe.columns:
            data[f"\u03b2 {g}"] = pe[col].tolist()
            fmts[f"\u03b2 {g}"] = "r2"
    for c, lab, f in (("delta_chisq", "\u0394\u03c7\u00b2", "f2"), ("delta_df", "\u0394df", "int"), ("p_delta", "p", "p")):
        if c in pe.columns:
            data[lab] = pe[c].tolist()
            fmts[lab] = f
    if "differs" in pe.columns:
        data["Differs"] = pd.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v)
                                    for v in pe["differs"].tolist()], dtype="boolean")
        fmts["Differs"] = "bool"
    if "strongest" in pe.columns:
        data["Strongest in"] = [str(v) for v in pe["strongest"].tolist()]
        fmts["Strongest in"] = "text"
    note = ("\u03b2 = standardized estimate in each group (metric-invariant model, path free). \u0394\u03c7\u00b2 compares it "
            "with the model where the path is constrained equal across groups; Differs = p < .05.")
    return apa_table(pd.DataFrame(data), title=title, note=note, formats=fmts)


def compare_table(cmp: Any, *, title: str = "Model comparison") -> pd.DataFrame:
    """APA view of :func:`asymtrust.compare`: one row per model.

    ``cmp`` is a :class:`~asymtrust.analysis.compare.Comparison` (its ``.table``) or a DataFrame
    with columns ``name`` (or ``model``), ``npar, chisq, df, cfi, tli, rmsea, srmr,
    aic, bic`` (and optionally ``delta_aic``, ``delta_bic``; the MLR scaled/robust columns
    replace the ML ones when present).
    """
    df = getattr(cmp, "table", cmp)
    df = df.copy()
    name_col = "name" if "name" in df.columns else ("model" if "model" in df.columns else None)
    if name_col is None:
        df = df.reset_index()
        name_col = df.columns[0]
    robust = "chisq_scaled" in df.columns and df["chisq_scaled"].notna().any()
    src = {"chisq": "chisq_scaled" if robust else "chisq", "df": "df_scaled" if robust else "df",
           "pvalue": "pvalue_scaled" if robust else "pvalue",
           "cfi": "cfi_robust" if robust and "cfi_robust" in df else "cfi",
           "tli": "tli_robust" if robust and "tli_robust" in df else "tli",
           "rmsea": "rmsea_robust" if robust and "rmsea_robust" in df else "rmsea"}
    mapping = [(name_col, "Model", "text"), ("npar", "Parameters", "int"), (src["chisq"], "\u03c7\u00b2", "f2"),
               (src["df"], "df", "int"), (src["pvalue"], "p", "p"), (src["cfi"], "CFI", "r3"),
               (src["tli"], "TLI", "r3"), (src["rmsea"], "RMSEA", "r3"), ("srmr", "SRMR", "r3"),
               ("aic", "AIC", "f1"), ("delta_aic", "\u0394AIC", "f1"), ("bic", "BIC", "f1"),
               ("delta_bic", "\u0394BIC", "f1")]
    cols: dict[str, list] = {}
    fmts: dict[str, str] = {}
    for c, lab, f in mapping:
        if c in df.columns and lab not in cols:
            cols[lab] = df[c].tolist()
            fmts[lab] = f
    note = ("\u0394AIC and \u0394BIC are differences from the smallest value: 0 marks the preferred model; "
            "differences above 10 are usually read as strong evidence (Burnham & Anderson 2002).")
    if robust:
        note += " MLR: Yuan-Bentler scaled \u03c7\u00b2 and robust CFI/TLI/RMSEA."
    return apa_table(pd.DataFrame(cols), title=title, note=note, formats=fmts)


def compare_tests_table(cmp: Any, *, title: str = "Nested-model tests") -> pd.DataFrame:
    """The χ² difference tests of :func:`asymtrust.compare` (``Comparison.tests``)."""
    tests = getattr(cmp, "tests", None)
    if tests is None:
        tests = pd.DataFrame(columns=["general", "restricted", "delta_chisq", "delta_df", "p_delta", "method", "note"])
    out = pd.DataFrame({
        "General model": tests.get("general", pd.Series(dtype=object)).tolist(),
        "Restricted model": tests.get("restricted", pd.Series(dtype=object)).tolist(),
        "\u0394\u03c7\u00b2": tests.get("delta_chisq", pd.Series(dtype=float)).tolist(),
        "\u0394df": tests.get("delta_df", pd.Series(dtype=float)).tolist(),
        "p": tests.get("p_delta", pd.Series(dtype=float)).tolist(),
        "Method": tests.get("method", pd.Series(dtype=object)).tolist(),
        "Note": [("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
                 for v in tests.get("note", pd.Series(dtype=object)).tolist()],
    })
    return apa_table(out, title=title,
                     note="A significant \u0394\u03c7\u00b2 means the restrictions of the restricted model worsen fit. "
                          "Nesting is as claimed, not proved.",
                     formats={"General model": "text", "Restricted model": "text", "\u0394\u03c7\u00b2": "f2",
                              "\u0394df": "int", "p": "p", "Method": "text", "Note": "text"})
