"""The ``asymtrust dyadic`` command (issue 18): side means, the APIM and response surfaces
of respondent-level data, printed as text or JSON and written as an HTML section
(:func:`asymtrust.reporting.dyadic.dyadic_section_html`). Kept apart from
:mod:`asymtrust.reporting.dyadic` so that the report builder can import the dyadic section
without importing the command line.
"""
from __future__ import annotations

import argparse
import html
import sys
from typing import Any

import pandas as pd

from ..exceptions import OptionError
from .dyadic import dyadic_section_html

__all__ = ["register", "cmd_dyadic"]


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
