"""EFA figures, tables and the small HTML report of ``asymtrust efa`` (issue 19).

Figures (matplotlib, on their own Agg canvas): :func:`parallel_figure` (psych's
``fa.parallel`` plot), :func:`map_figure` (Velicer's MAP), :func:`scree_figure`.
:func:`pattern_table_html` renders a pattern matrix as a heat table;
:func:`efa_report_html` puts the fit per number of factors, the pattern matrix, the
how-many-factors evidence and the screening notes in one self-contained HTML file
(figures embedded as PNG). :func:`register` adds the ``efa`` command to the CLI.
"""
from __future__ import annotations

import argparse
import base64
import html
import sys

import numpy as np
import pandas as pd

from ..exceptions import OptionError
from .figures import _figure, figure_bytes

__all__ = ["parallel_figure", "map_figure", "scree_figure", "pattern_table_html", "efa_report_html",
           "register", "cmd_efa"]


# ----------------------------------------------------------------------------- figures
def parallel_figure(pa, *, title: str = "Parallel analysis"):
    """psych's ``fa.parallel`` plot: observed eigenvalues (components: crosses, factors:
    triangles) against the simulated (dotted) and resampled (dashed) references."""
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot(111)
    t = pa.table
    x = t.index.to_numpy()
    q = f"q{int(round(pa.quant * 100))}"
    ref = "mean" if pa.criterion == "mean" else q
    if pa.fa != "fa":
        ax.plot(x, t["pc_observed"], "x-", color="tab:blue", label="PC, actual data")
    if pa.fa != "pc":
        ax.plot(x, t["fa_observed"], "^-", color="tab:blue", mfc="none", label="FA, actual data")
    for kind in ("pc", "fa"):
        for src, ls in (("simulated", ":"), ("resampled", "--")):
            col = f"{kind}_{src}_{ref}"
            if col in t:
                ax.plot(x, t[col], ls, color="tab:red", label=f"{kind.upper()}, {src} ({ref})")
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xlabel("factor / component number")
    ax.set_ylabel("eigenvalue")
    ax.set_title(f"{title}: {_n(pa.n_factors)} factors, {_n(pa.n_components)} components")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def map_figure(table: pd.DataFrame, *, title: str = "Velicer's MAP"):
    """Mean squared partial correlation by number of components; the minimum marked."""
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot(111)
    ax.plot(table.index, table["map"], "o-", color="tab:blue")
    k = int(table["map"].idxmin())
    ax.plot([k], [table.loc[k, "map"]], "o", ms=11, mfc="none", color="tab:red")
    ax.set_xlabel("components removed")
    ax.set_ylabel("average squared partial r")
    ax.set_title(f"{title}: minimum at {k}")
    fig.tight_layout()
    return fig


def scree_figure(table: pd.DataFrame, *, title: str = "Scree"):
    """Eigenvalues of the correlation matrix and of the reduced (minres) matrix."""
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot(111)
    ax.plot(table.index, table["pc_eigenvalue"], "x-", label="components")
    ax.plot(table.index, table["fa_eigenvalue"], "^-", mfc="none", label="factors (minres)")
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xlabel("number")
    ax.set_ylabel("eigenvalue")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _n(x) -> str:
    return "?" if x is None or (isinstance(x, float) and np.isnan(x)) else str(int(x))


# ----------------------------------------------------------------------------- tables
def _heat(v: float) -> str:
    a = min(abs(v), 1.0)
    rgb = (255, int(255 - 140 * a), int(255 - 140 * a)) if v >= 0 else (int(255 - 140 * a), int(255 - 140 * a), 255)
    return f"background:rgb{rgb}"


def pattern_table_html(sol, *, names: dict | None = None, cut: float = 0.30, se: bool = True) -> str:
    """The standardized pattern matrix as a heat table (|loading| >= ``cut`` in bold),
    with the SE of each raw loading and the communality."""
    P = sol.std_loadings
    names = names or {}
    head = "".join(f"<th>{html.escape(str(names.get(c, c)))}</th>" for c in P.columns)
    rows = []
    for item, row in P.iterrows():
        cells = []
        for c in P.columns:
            v = float(row[c])
            txt = f"{v:.2f}"
            if se and np.isfinite(sol.loadings_se.loc[item, c]):
                txt += f"<small> ({float(sol.loadings_se.loc[item, c]):.2f})</small>"
            txt = f"<b>{txt}</b>" if abs(v) >= cut else txt
            cells.append(f'<td style="{_heat(v)}">{txt}</td>')
        rows.append(f"<tr><th>{html.escape(str(item))}</th>{''.join(cells)}"
                    f"<td>{float(sol.communalities[item]):.2f}</td></tr>")
    return (f'<table class="heat"><tr><th>item</th>{head}<th>h&sup2;</th></tr>' + "".join(rows) + "</table>")


def _frame_html(df: pd.DataFrame, digits: int = 3) -> str:
    return df.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="", border=0, classes="plain")


def _png(fig) -> str:
    return "data:image/png;base64," + base64.b64encode(figure_bytes(fig, "png", dpi=110)).decode("ascii")


_CSS = """body{font-family:system-ui,Arial,sans-serif;margin:24px;max-width:1000px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{padding:3px 7px;border:1px solid #e3e3e3;text-align:right}
th{background:#f6f6f6}table.heat td{min-width:70px}small{color:#555}.warn{color:#a33}
.figs img{max-width:48%;margin-right:1%}.note{color:#555;font-size:13px}"""


def efa_report_html(res, *, pa=None, map_table=None, scree_table=None, msa=None, msa_items=None, sphericity=None,
                    screening=None, chosen: int | None = None, names: dict | None = None, source: str = "",
                    cut: float = 0.30) -> str:
    """One self-contained HTML page (no external files)."""
    m = chosen if chosen is not None else max(res.solutions)
    sol = res[m]
    parts = [f"<h1>Exploratory factor analysis</h1><p class=note>{html.escape(source)} &middot; "
             f"{len(res.items)} items &middot; N = {res.nobs} of {res.n_read} rows &middot; "
             f"{res.estimator} extraction, {html.escape(res.rotation)} rotation (lavaan 0.6-14 efa() parity)</p>"]
    if res.warnings:
        parts.append("<ul>" + "".join(f'<li class="warn">{html.escape(w)}</li>' for w in res.warnings) + "</ul>")
    fit = res.fit_table()
    for c in ("npar", "df"):
        fit[c] = fit[c].map(lambda v: f"{v:.0f}")
    parts.append("<h2>Fit by number of factors</h2>" + _frame_html(fit))
    parts.append(f"<h2>Pattern matrix, {m} factor{'s' if m != 1 else ''}</h2>"
                 f"<p class=note>standardized loadings (SE of the raw loading); bold: |loading| &ge; {cut:.2f}; "
                 "h&sup2;: communality</p>" + pattern_table_html(sol, names=names, cut=cut))
    if m > 1:
        phi = sol.phi.rename(index=names or {}, columns=names or {})
        parts.append("<h3>Factor correlations</h3>" + _frame_html(phi))
    figs = []
    if pa is not None:
        figs.append(_png(parallel_figure(pa)))
    if map_table is not None:
        figs.append(_png(map_figure(map_table)))
    if scree_table is not None and pa is None:
        figs.append(_png(scree_figure(scree_table)))
    if figs:
        parts.append("<h2>How many factors</h2><div class=figs>" +
                     "".join(f'<img alt="figure" src="{f}">' for f in figs) + "</div>")
        notes = []
        if pa is not None:
            notes.append(f"parallel analysis ({pa.n_iter} replicates, seed {pa.seed}, {pa.criterion} criterion): "
                         f"{_n(pa.n_factors)} factors, {_n(pa.n_components)} components")
        if map_table is not None:
            notes.append(f"Velicer's MAP: {int(map_table['map'].idxmin())}")
        parts.append("<p class=note>" + "; ".join(notes) + "</p>")
    if msa is not None or sphericity is not None:
        txt = []
        if msa is not None:
            txt.append(f"KMO overall MSA = {msa:.3f}")
            if msa_items is not None:
                low = msa_items[msa_items < 0.6]
                if len(low):
                    txt.append("items with MSA &lt; .60: " + ", ".join(f"{html.escape(str(i))} ({v:.2f})"
                                                                      for i, v in low.items()))
        if sphericity is not None:
            txt.append(f"Bartlett's test: &chi;&sup2;({sphericity['df']:.0f}) = {sphericity['chisq']:.1f}, "
                       f"p = {sphericity['pvalue']:.3g}")
        parts.append("<h2>Sampling adequacy</h2><p>" + "; ".join(txt) + "</p>")
    if screening is not None:
        flagged = screening[screening["flagged"]]
        parts.append("<h2>Item screening</h2><p class=note>Suggestions only: no item is removed.</p>")
        if len(flagged):
            parts.append("<ul>" + "".join(f"<li>{html.escape(r['suggestion'])} &mdash; {html.escape(r['flags'])}</li>"
                                          for _, r in flagged.iterrows()) + "</ul>")
        else:
            parts.append("<p>No item flagged.</p>")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>asymtrust efa</title><style>{_CSS}</style>"
            f"</head><body>{''.join(parts)}</body></html>")


# ----------------------------------------------------------------------------- command line
def _factor_range(value: str) -> list[int]:
    try:
        if "-" in value:
            a, b = (int(v) for v in value.split("-", 1))
            out = list(range(a, b + 1))
        else:
            out = [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--factors {value!r}: give a range such as 1-6 "
                                         "or a list such as 2,3") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"--factors {value!r}: numbers of factors start at 1")
    return out


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``asymtrust efa`` to the CLI."""
    p = sub.add_parser("efa", help="exploratory factor analysis: how many factors, rotated loadings, item screening",
                       description="Exploratory factor analysis as lavaan 0.6-14 efa() (ML/ULS, rotations, SEs), "
                                   "parallel analysis and MAP as psych, KMO/Bartlett and item screening. "
                                   "Reverse-keyed codebook items are recoded first. Nothing is deleted.")
    p.add_argument("data", metavar="DATA", help="survey file (CSV, TSV, XLSX, SAV) or a bundled dataset name")
    p.add_argument("--items", nargs="+", metavar="ITEM",
                   help="items to analyse (default: the codebook's items in DATA, else every numeric column)")
    p.add_argument("--factors", type=_factor_range, default=None, metavar="RANGE",
                   help="numbers of factors, e.g. 2-4 or 2,3 (default: 1-6, capped at what the items identify)")
    p.add_argument("--rotation", default="geomin", help="geomin (default), oblimin, quartimin, promax, varimax, cf-...")
    p.add_argument("--estimator", default=None, help="ML (default) or ULS; WLSMV (the default) with --ordered")
    p.add_argument("--ordered", action="store_true",
                   help="treat the items as ordinal: polychoric correlations and WLSMV, as lavaan's efa(ordered=TRUE)")
    p.add_argument("--n-iter", type=int, default=20, metavar="N", help="parallel-analysis replicates (default 20)")
    p.add_argument("--seed", type=int, default=19, help="seed of the parallel analysis and rotation starts")
    p.add_argument("--show", type=int, metavar="K", help="number of factors to report (default: parallel analysis)")
    p.add_argument("--cross", type=float, default=0.30, help="cross-loading cut-off (default .30)")
    p.add_argument("--communality", type=float, default=0.40, help="low-communality cut-off (default .40)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--out", metavar="FILE.html", help="write the HTML report to FILE.html")
    p.add_argument("--force", action="store_true", help="replace FILE.html if asymtrust wrote it")
    p.add_argument("--sheet", default=0, metavar="SHEET", help="sheet of a workbook (default: the first)")
    p.set_defaults(func=cmd_efa)


def _default_items(df: pd.DataFrame, codebook: pd.DataFrame) -> list[str] | None:
    items = [i for i in codebook.loc[codebook["kind"] == "item", "item"] if i in df.columns]
    return items if len(items) >= 3 else None


def cmd_efa(args: argparse.Namespace) -> int:
    """``asymtrust efa DATA [--items ...] [--factors 1-6] [--rotation geomin] [--out FILE.html]``."""
    import os

    from ..analysis import efa as A
    from ..library.codebook import load_codebook, reverse_items
    from ..outputs import plan_file
    from ..survey.validation import recode_reverse
    from .build import _resolve_data

    target = None
    if args.out:
        inputs = [args.data] if os.path.exists(args.data) else []
        target = plan_file(args.out, force=args.force, inputs=inputs, what="EFA report", suffixes=(".html",))
    df, label, _path, _syn = _resolve_data(args.data, None, (), sheet=args.sheet)
    codebook = load_codebook()
    rev = [i for i in reverse_items(codebook) if i in df.columns]
    if rev and not df.attrs.get("reverse_recoded"):
        df = recode_reverse(df, items=rev)
    items = args.items or _default_items(df, codebook)
    cols = A._items(df, items)
    top = A.max_factors(len(cols))
    counts = args.factors or [k for k in range(1, 7) if k <= top]  # an explicit range is checked by efa()
    pa = A.parallel_analysis(df, cols, n_iter=args.n_iter, seed=args.seed)
    mp = A.velicer_map(df, cols)
    res = A.efa(df, counts, rotation=args.rotation, estimator=args.estimator, items=cols,
                rotation_args={"seed": args.seed}, ordered=True if args.ordered else None)
    chosen = args.show or (int(pa.n_factors) if pa.n_factors == pa.n_factors and int(pa.n_factors) in res.solutions
                           else max(res.solutions))
    if chosen not in res.solutions:
        raise OptionError(f"--show {chosen}: not among the fitted numbers of factors {sorted(res.solutions)}")
    msa, msai = A.kmo(df, cols)
    sph = A.bartlett(df, cols)
    scr = A.screen_items(res[chosen], cross_cut=args.cross, communality_cut=args.communality, codebook=codebook)
    names = A.factor_names(res[chosen], codebook)
    if args.json:
        _print_json(res, pa, mp, msa, msai, sph, scr, chosen, names)
    else:
        _print_text(res, pa, mp, msa, sph, scr, chosen, names, len(cols))
    if target is not None:
        page = efa_report_html(res, pa=pa, map_table=mp, msa=msa, msa_items=msai, sphericity=sph, screening=scr,
                               chosen=chosen, names=names, source=label, cut=args.cross)
        target.write(page)
        print(f"wrote {target.shown}", file=sys.stderr if args.json else sys.stdout)
    for w in res.warnings:
        print(f"asymtrust: warning: {' '.join(str(w).split())}", file=sys.stderr)
    return 0


def _print_json(res, pa, mp, msa, msai, sph, scr, chosen, names) -> None:
    import json

    from .._json import json_safe

    doc = res.to_dict()
    doc.update({"shown": chosen, "factor_names": names,
                "parallel": {"n_factors": pa.n_factors, "n_components": pa.n_components, "n_iter": pa.n_iter,
                             "seed": pa.seed, "criterion": pa.criterion, "table": pa.table.reset_index()},
                "map": mp.reset_index(), "kmo": {"msa": msa, "items": msai}, "bartlett": sph,
                "screening": scr.reset_index()})
    sys.stdout.write(json.dumps(json_safe(doc), indent=2) + "\n")


def _print_text(res, pa, mp, msa, sph, scr, chosen, names, p) -> None:
    sys.stdout.write(f"EFA of {p} items, N = {res.nobs} ({res.estimator}, {res.rotation})\n")
    sys.stdout.write(res.fit_table().round(3).to_string() + "\n")
    sys.stdout.write(f"parallel analysis: {_n(pa.n_factors)} factors, {_n(pa.n_components)} components; "
                     f"MAP: {int(mp['map'].idxmin())}; KMO = {msa:.3f}; Bartlett chi2({sph['df']:.0f}) = "
                     f"{sph['chisq']:.1f}\n")
    pattern = res[chosen].std_loadings.rename(columns=names).round(2).to_string()
    sys.stdout.write(f"pattern matrix ({chosen} factors):\n{pattern}\n")
    for s in scr.loc[scr["flagged"], "suggestion"]:
        sys.stdout.write(f"  check: {s}\n")
