"""The dyadic section of the report and the ``asymtrust dyadic`` command (issue 18).

:func:`apim_figure` draws the actor-partner diagram (actor arrows horizontal, partner
arrows crossing, one colour per side, estimates with significance stars);
:func:`dyadic_section_html` puts the aggregation table (rwg(j), ICC(1), ICC(2) beside their
cut-offs), the APIM diagram, the effects, the k table, the distinguishability tests and
the response surface figure in one self-contained HTML section (figures embedded as PNG).
:func:`register` adds ``asymtrust dyadic DATA --dyad COL --side COL [--x C --y C]
[--rsa Z X Y]`` to the CLI.
"""
from __future__ import annotations

import argparse
import base64
import html
import sys
from typing import Any

import pandas as pd

from ..exceptions import OptionError
from .figures import _figure, figure_bytes, stars

__all__ = ["apim_figure", "dyadic_section_html", "register", "cmd_dyadic"]

_SIDE_COLOURS = ("tab:blue", "tab:orange")


def apim_figure(res, *, labels: dict | None = None):
    """The APIM as a path diagram: x_A, x_B on the left, y_A, y_B on the right; actor
    effects as horizontal arrows, partner effects crossing (dashed); unstandardized
    estimates with stars (standardized in brackets)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    A, B = res.sides
    lab = {"x": res.x, "y": res.y, **(labels or {})}
    fig = _figure(7.2, 4.2)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    pos = {("x", A): (1.8, 4.6), ("x", B): (1.8, 1.4), ("y", A): (8.2, 4.6), ("y", B): (8.2, 1.4)}
    for (kind, s), (cx, cy) in pos.items():
        colour = _SIDE_COLOURS[0 if s == A else 1]
        ax.add_patch(FancyBboxPatch((cx - 1.3, cy - 0.45), 2.6, 0.9, boxstyle="round,pad=0.05", fc="white",
                                    ec=colour, lw=1.8))
        ax.text(cx, cy, f"{lab[kind]}\n({s})", ha="center", va="center", fontsize=9)
    eff = res.effects

    def arrow(src, dst, row, colour, dashed, text_xy):
        ax.add_patch(FancyArrowPatch(src, dst, arrowstyle="-|>", mutation_scale=14, lw=1.6, color=colour,
                                     ls="--" if dashed else "-"))
        est, p, std = float(row["est"]), float(row["pvalue"]), float(row["std_all"])
        ax.text(*text_xy, f"{est:.2f}{stars(p)} [{std:.2f}]", ha="center", va="center", fontsize=9, color=colour,
                bbox={"fc": "white", "ec": "none", "pad": 1})

    arrow((3.15, 4.6), (6.85, 4.6), eff.loc[("actor", A)], _SIDE_COLOURS[0], False, (5.0, 4.9))
    arrow((3.15, 1.4), (6.85, 1.4), eff.loc[("actor", B)], _SIDE_COLOURS[1], False, (5.0, 1.1))
    arrow((3.15, 1.75), (6.85, 4.25), eff.loc[("partner", A)], _SIDE_COLOURS[0], True, (6.0, 3.8))
    arrow((3.15, 4.25), (6.85, 1.75), eff.loc[("partner", B)], _SIDE_COLOURS[1], True, (6.0, 2.2))
    # the two covariances
    for kind, x0 in (("x", 0.35), ("y", 9.65)):
        ax.add_patch(FancyArrowPatch((x0, 4.3), (x0, 1.7), arrowstyle="<|-|>", mutation_scale=10, lw=1.0,
                                     color="0.45", connectionstyle="arc3,rad=0.35" if kind == "x" else
                                     "arc3,rad=-0.35"))
    ax.text(5.0, 5.75, f"Actor-partner interdependence model ({res.fit.n_used} partnerships)", ha="center",
            fontsize=10, weight="bold")
    ax.text(5.0, 0.3, "solid: actor effects; dashed: partner effects; [standardized]; * p<.05 ** p<.01 *** p<.001",
            ha="center", fontsize=7.5, color="0.3")
    return fig


def _png(fig) -> str:
    return base64.b64encode(figure_bytes(fig, "png", dpi=110)).decode()


def _table(df: pd.DataFrame, digits: int = 3) -> str:
    return df.to_html(float_format=lambda v: f"{v:.{digits}f}", border=0, classes="table", na_rep="—")


def dyadic_section_html(dyad_data=None, apim_result=None, rsa_result=None, *, title: str = "Both sides of each "
                        "partnership", labels: dict | None = None) -> str:
    """One HTML section: aggregation, APIM diagram and tables, the response surface."""
    parts = [f"<section class='dyadic'><h2>{html.escape(title)}</h2>"]
    if dyad_data is not None:
        agr = dyad_data.agreement
        cols = [c for c in ("rwg_j_mean", "rwg_j_cutoff", "icc1", "icc1_cutoff", "icc2", "icc2_cutoff")
                if c in agr.columns]
        parts.append(f"<h3>Aggregation to side means</h3><p>{len(dyad_data.wide)} partnerships, "
                     f"{len(dyad_data.incomplete)} with one side missing (kept).</p>{_table(agr[cols])}")
        cites = agr.attrs.get("citations", {})
        if cites:
            parts.append("<p class='cite'>" + "<br>".join(html.escape(c) for c in dict.fromkeys(cites.values()))
                         + "</p>")
    if apim_result is not None:
        r = apim_result
        if r.invariance is not None:
            parts.append(f"<h3>Dyadic measurement invariance (APIM at the {r.invariance.attrs['chosen']} level)</h3>"
                         + _table(r.invariance))
        parts.append(f"<h3>Actor and partner effects</h3><img alt='APIM diagram' "
                     f"src='data:image/png;base64,{_png(apim_figure(r, labels=labels))}'>")
        parts.append(_table(r.effects.drop(columns=["label"])))
        parts.append("<h4>k = partner / actor (Kenny &amp; Ledermann 2010)</h4>" + _table(r.k))
        parts.append("<h4>Distinguishability (χ² difference tests)</h4>" + _table(r.tests))
    if rsa_result is not None:
        s = rsa_result
        lab = {"x": s.x, "y": s.y, "z": s.z, **(labels or {})}
        parts.append(f"<h3>Response surface: {html.escape(s.z)} on {html.escape(s.x)} and {html.escape(s.y)}</h3>"
                     f"<img alt='response surface' src='data:image/png;base64,{_png(s.plot(labels=lab))}'>")
        parts.append(_table(s.surface.drop(columns=["ci_lower", "ci_upper"])))
        keep = [c for c in ("df", "chisq", "chisq_scaled", "aic", "delta_aic", "chisq_diff", "df_diff",
                            "pvalue_diff") if c in s.models.columns]
        parts.append("<h4>Model comparison</h4>" + _table(s.models[keep]))
        cg = s.congruence
        parts.append(f"<h4>Congruence conditions (Humberg, Nestler &amp; Back 2019): "
                     f"{'all hold' if cg.attrs['supported'] else 'not all hold'}</h4>"
                     + _table(cg[["meaning", "estimate", "holds"]]))
    warns = [*(getattr(dyad_data, "warnings", []) or []), *(getattr(apim_result, "warnings", []) or []),
             *(getattr(rsa_result, "warnings", []) or [])]
    if warns:
        parts.append("<ul class='warnings'>" + "".join(f"<li>{html.escape(w)}</li>" for w in dict.fromkeys(warns))
                     + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _page(body: str, source: str) -> str:
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>asymtrust: dyadic analysis</title>"
            "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse;"
            "font-size:90%}td,th{padding:2px 8px;text-align:right}img{max-width:100%}.cite{font-size:80%;"
            "color:#555}</style></head><body>"
            f"<p>Data: {html.escape(source)}</p>{body}</body></html>")


# ----------------------------------------------------------------------------- CLI
def _construct(value: str) -> tuple[str, list[str]]:
    name, sep, items = value.partition("=")
    if not sep or not name.strip() or not items.strip():
        raise argparse.ArgumentTypeError(f"--construct {value!r}: use NAME=item1,item2,...")
    return name.strip(), [i.strip() for i in items.split(",") if i.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``asymtrust dyadic`` to the CLI."""
    p = sub.add_parser("dyadic", help="both sides of each partnership: side means, APIM, response surfaces",
                       description="Reshape respondents to one row per partnership (side means, rwg(j), "
                                   "ICC(1)/ICC(2)), fit the actor-partner interdependence model (--x, --y) and "
                                   "response surface analysis (--rsa Z X Y, columns of the partnership table).")
    p.add_argument("data", metavar="DATA", help="survey file (CSV, TSV, XLSX, SAV) or a bundled dataset name")
    p.add_argument("--dyad", required=True, metavar="COL", help="partnership ID column")
    p.add_argument("--side", required=True, metavar="COL", help="side column (e.g. sector)")
    p.add_argument("--sides", nargs=2, metavar=("A", "B"), help="the two side labels (default: as they appear)")
    p.add_argument("--construct", type=_construct, action="append", default=[], metavar="NAME=I1,I2,...",
                   help="a construct as the mean of its items (repeatable); used for rwg(j) too")
    p.add_argument("--scale-points", type=int, default=None, metavar="A", help="response options (rwg(j) null)")
    p.add_argument("--x", metavar="C", help="APIM predictor (column or --construct name)")
    p.add_argument("--y", metavar="C", help="APIM outcome")
    p.add_argument("--latent", action="store_true",
                   help="latent APIM: --x and --y are latent on each side, measured by their --construct items, "
                        "after dyadic measurement invariance tests")
    p.add_argument("--rsa", nargs=3, metavar=("Z", "X", "Y"), help="response surface of Z on X and Y "
                   "(partnership-table columns, e.g. goodwill_council capimb_nhs capimb_council)")
    p.add_argument("--center", default="pooled", choices=["none", "pooled", "variablewise"],
                   help="RSA centering (default pooled)")
    p.add_argument("--outliers", default="keep", choices=["keep", "remove"], help="RSA outliers (Bollen & Jackman)")
    p.add_argument("--estimator", default="ML", choices=["ML", "MLR"], help="APIM estimator (RSA uses MLR)")
    p.add_argument("--missing", default="fiml", choices=["listwise", "fiml"], help="APIM missing data (default fiml)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="replicates for k's CI (default 1000)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--out", metavar="FILE.html", help="write the dyadic report section to FILE.html")
    p.add_argument("--force", action="store_true", help="replace FILE.html if asymtrust wrote it")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_dyadic)


def cmd_dyadic(args: argparse.Namespace) -> int:
    """``asymtrust dyadic DATA --dyad COL --side COL [--x C --y C] [--rsa Z X Y]``."""
    import json
    import os

    from .._json import json_safe
    from ..analysis.dyadic import apim, dyads
    from ..analysis.rsa import rsa
    from ..engine.resample import check_replicates
    from ..library.codebook import load_codebook, reverse_items
    from ..outputs import plan_file
    from ..survey.validation import recode_reverse
    from .build import _resolve_data

    if (args.x is None) != (args.y is None):
        raise OptionError("--x and --y go together (the APIM's predictor and outcome)")
    if args.latent and not (args.x and args.x in dict(args.construct) and args.y in dict(args.construct)):
        raise OptionError("--latent needs --x and --y that are --construct names (their items are the indicators)")
    if args.bootstrap:
        check_replicates(args.bootstrap, name="bootstrap")
    target = None
    if args.out:
        inputs = [args.data] if os.path.exists(args.data) else []
        target = plan_file(args.out, force=args.force, inputs=inputs, what="dyadic report", suffixes=(".html",))
    df, label, _path, synthetic = _resolve_data(args.data, None, ())
    rev = [i for i in reverse_items(load_codebook()) if i in df.columns]
    if rev and not df.attrs.get("reverse_recoded"):
        df = recode_reverse(df, items=rev)  # reverse-keyed codebook items, as every analysis command
    df = df.copy()
    constructs = dict(args.construct)
    for name, items in constructs.items():
        missing = [i for i in items if i not in df.columns]
        if missing:
            raise OptionError(f"--construct {name}: item {missing[0]!r} is not in the data")
        df[name] = df[items].mean(axis=1)
    columns = list(constructs) or None
    if columns and args.x and args.x not in columns:
        columns += [c for c in (args.x, args.y) if c not in columns]
    dd = dyads(df, dyad=args.dyad, side=args.side, sides=args.sides, columns=columns,
               constructs=constructs or None, scale_points=args.scale_points)
    ap = None
    if args.x and args.latent:
        spec = {args.x: constructs[args.x], args.y: constructs[args.y]}
        ap = apim(df, args.x, args.y, dyad=args.dyad, side=args.side, sides=dd.sides, latent=True, spec=spec,
                  estimator=args.estimator, missing=args.missing, bootstrap=args.bootstrap, seed=args.seed)
    elif args.x:
        ap = apim(dd, args.x, args.y, estimator=args.estimator, missing=args.missing, bootstrap=args.bootstrap,
                  seed=args.seed)
    rs = None
    if args.rsa:
        z, x, y = args.rsa
        rs = rsa(dd.wide.reset_index(), z, x, y, center=args.center, outliers=args.outliers)
    if args.json:
        out: dict[str, Any] = {"data": label, "synthetic": synthetic, "partnerships": len(dd.wide),
                               "incomplete": dd.incomplete.to_dict(orient="records"),
                               "agreement": dd.agreement.reset_index().to_dict(orient="records")}
        if ap is not None:
            out["apim"] = {"latent": bool(args.latent),
                           "invariance": None if ap.invariance is None else
                           ap.invariance.reset_index().to_dict(orient="records"),
                           "effects": ap.effects.reset_index().to_dict(orient="records"),
                           "k": ap.k.reset_index().to_dict(orient="records"),
                           "tests": ap.tests.reset_index().to_dict(orient="records")}
        if rs is not None:
            out["rsa"] = rs.to_dict()
        sys.stdout.write(json.dumps(json_safe(out), indent=2) + "\n")
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            sys.stdout.write(f"Data: {label}\n{dd.summary()}\n")
            if ap is not None:
                sys.stdout.write("\n" + ap.summary() + "\n")
            if rs is not None:
                sys.stdout.write("\n" + rs.summary() + "\n")
    if target is not None:
        target.write(_page(dyadic_section_html(dd, ap, rs), label + (" (SYNTHETIC)" if synthetic and
                                                                    "SYNTHETIC" not in label else "")))
        sys.stdout.write(f"wrote {target.shown}\n")
    for w in dict.fromkeys([*dd.warnings, *(ap.warnings if ap else []), *(rs.warnings if rs else [])]):
        print(f"asymtrust: warning: {' '.join(str(w).split())}", file=sys.stderr)
    return 0
