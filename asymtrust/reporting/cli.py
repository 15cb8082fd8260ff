"""``asymtrust report`` and ``asymtrust figure``.

The main command line (:mod:`asymtrust.cli`) plugs these in with
:func:`register` (or the two ``_register_*`` functions, one per command). Heavy
modules are imported inside the ``cmd_`` functions so that ``asymtrust --help``
stays fast. Errors are :class:`~asymtrust.exceptions.AsymtrustError`; the main CLI
prints them as one line and exits 2. A data set that fails validation is reported
one problem per line (``asymtrust: error: ...``) with exit status 2, and nothing is
written.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..exceptions import OptionError, ValidationError
from ..survey import SHEET_HELP

__all__ = ["DEFAULT_OUT", "FIGURE_KINDS", "cmd_figure", "cmd_report", "register"]

#: output folder of ``asymtrust report`` without ``--out``
DEFAULT_OUT = "asymtrust-report"
#: what ``asymtrust figure`` can draw
FIGURE_KINDS = ("fig1", "conceptual", "path", "reliability", "residuals")


def _error(message: str) -> None:
    print(f"asymtrust: error: {' '.join(str(message).split())}", file=sys.stderr)


def _nonneg_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}")
    return n


def _pos_int(value: str) -> int:
    n = _nonneg_int(value)
    if n == 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return n


def _code(value: str) -> int | float | str:
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return value


# --------------------------------------------------------------------------- report
def _register_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="one command from a survey file to a complete HTML report",
        description="Validate the data, fit the model, and write a report folder: report.html (self-contained, "
                    "readable offline), report.md, fit_indices.json, estimates.csv, reliability.csv, effects.csv, "
                    "figures/ (PNG and SVG) and tables/ (LaTeX). Without DATA the bundled SYNTHETIC data "
                    "bcf_synthetic are used. The folder is written whole or not at all.")
    p.add_argument("data", nargs="?", metavar="DATA",
                   help="survey file (.csv .tsv .xlsx .sav .dta) or a bundled dataset name "
                        "(default: the synthetic bcf_synthetic)")
    p.add_argument("--spec", default="fig1", metavar="NAME",
                   help="bundled spec name or a .lav/.toml file (default: fig1)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"report folder to create (default: {DEFAULT_OUT})")
    p.add_argument("--group", metavar="COLUMN", help="grouping column, e.g. sector: invariance and per-group paths")
    p.add_argument("--cluster", metavar="COL",
                   help="cluster column of nested data, e.g. partnership: ICCs, design effects, cluster-robust SEs, "
                        "multilevel reliability; needed by a two-level spec (fig1_twolevel)")
    p.add_argument("--compare", nargs="+", default=[], metavar="SPEC",
                   help="competing specs, e.g. fig1_direct fig1_single_trust")
    p.add_argument("--dyad", metavar="COL",
                   help="partnership ID column (with --side): adds 'Both sides of each partnership' (side means, "
                        "rwg(j), ICCs, the actor-partner model)")
    p.add_argument("--side", metavar="COL", help="side column of each respondent, e.g. sector (with --dyad)")
    p.add_argument("--sides", nargs=2, metavar=("A", "B"), help="the two side labels (default: as they appear)")
    p.add_argument("--apim", nargs=2, metavar=("X", "Y"),
                   help="the APIM's predictor and outcome, constructs or columns (default CapImb GoodTrust)")
    p.add_argument("--rsa", nargs=3, metavar=("Z", "X", "Y"),
                   help="response surface of Z on X and Y, partnership-table columns <construct>_<side>, "
                        "e.g. GoodTrust_council CapImb_nhs CapImb_council")
    p.add_argument("--bootstrap", type=_nonneg_int, default=1000, metavar="B",
                   help="bootstrap replicates for the indirect effects and the APIM's k (default 1000; 0 = delta "
                        "method only)")
    p.add_argument("--seed", type=_nonneg_int, default=None, metavar="S",
                   help="random seed (default: drawn and printed in the report)")
    p.add_argument("--estimator", type=str.upper, choices=("ML", "MLR", "WLSMV", "WLSM", "ULSMV", "DWLS", "ULS", "WLS"),
                   default=None, help="ML (default) or MLR; with --ordered WLSMV (default), WLSM, ULSMV, DWLS, ULS, WLS")
    p.add_argument("--ordered", nargs="?", const="all", default=None, metavar="ITEMS",
                   help="treat items as ordered categories (lavaan ordered=, WLSMV): all model items, or a comma "
                        "list (e.g. --ordered cap1,cap2); put DATA before it")
    p.add_argument("--missing", type=str.lower, choices=("listwise", "fiml", "pairwise"), default="listwise",
                   help="listwise deletion (default) or full-information ML; with --ordered: listwise or pairwise")
    p.add_argument("--missing-codes", nargs="+", type=_code, default=[], metavar="CODE",
                   help="values meaning missing in DATA, e.g. --missing-codes -99 -9")
    p.add_argument("--sheet", default=0, metavar="SHEET", help=SHEET_HELP)
    p.add_argument("--power", action="store_true", help="add a Monte Carlo power analysis (N = 150, 200, 300, 500)")
    p.add_argument("--jobs", type=_pos_int, default=2, metavar="N", help="bootstrap workers (default 2)")
    p.add_argument("--force", action="store_true", help="replace DIR if it holds only an earlier report asymtrust wrote (never other files)")
    p.add_argument("--quiet", action="store_true", help="no progress messages or progress bar")
    p.set_defaults(func=cmd_report)


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed when run as ``asymtrust report ...``; otherwise the
    equivalent canonical command rebuilt from the parsed options."""
    argv0 = Path(sys.argv[0]).name if sys.argv else ""
    if argv0 in ("asymtrust", "__main__.py", "cli.py") and "report" in sys.argv[1:]:
        return shlex.join(["asymtrust", *sys.argv[1:]])
    parts = ["asymtrust", "report"]
    if args.data:
        parts.append(args.data)
    parts += ["--spec", str(args.spec), "--out", str(args.out)]
    if args.group:
        parts += ["--group", args.group]
    if getattr(args, "cluster", None):
        parts += ["--cluster", args.cluster]
    if args.compare:
        parts += ["--compare", *args.compare]
    for flag in ("dyad", "side", "sides", "apim", "rsa"):
        value = getattr(args, flag, None)
        if value:
            parts += [f"--{flag}", *([value] if isinstance(value, str) else value)]
    parts += ["--bootstrap", str(args.bootstrap)]
    if args.seed is not None:
        parts += ["--seed", str(args.seed)]
    if args.estimator:
        parts += ["--estimator", args.estimator]
    if getattr(args, "ordered", None):
        parts += ["--ordered"] + ([] if args.ordered == "all" else [args.ordered])
    parts += ["--missing", args.missing]
    if args.missing_codes:
        parts += ["--missing-codes", *map(str, args.missing_codes)]
    for flag in ("power", "force", "quiet"):
        if getattr(args, flag):
            parts.append(f"--{flag}")
    return shlex.join(parts)


def _ordered_arg(value: str | None):
    """``--ordered``: None, True (all model items) or the comma list."""
    if value is None:
        return None
    if value == "all":
        return True
    return [v.strip() for v in value.split(",") if v.strip()]


def cmd_report(args: argparse.Namespace) -> int:
    """``asymtrust report [DATA] --spec NAME --out DIR [...]``."""
    from .build import report

    try:
        dest = report(
            args.data, spec=args.spec, out=args.out, group=args.group, compare=tuple(args.compare),
            bootstrap=args.bootstrap, seed=args.seed, estimator=args.estimator, missing=args.missing,
            force=args.force, quiet=args.quiet, power=True if args.power else None,
            command_line=_command_line(args), missing_codes=tuple(args.missing_codes), n_jobs=args.jobs,
            sheet=args.sheet, cluster=getattr(args, "cluster", None), dyad=getattr(args, "dyad", None),
            side=getattr(args, "side", None), sides=getattr(args, "sides", None), apim=getattr(args, "apim", None),
            rsa=getattr(args, "rsa", None), ordered=_ordered_arg(getattr(args, "ordered", None)),
        )
    except ValidationError as exc:
        for problem in exc.problems:
            _error(problem)
        _error(f"nothing was written; fix the data or the spec and run again ({len(exc.problems)} problem(s))")
        return 2
    print(f"wrote {dest / 'report.html'}")
    return 0


# --------------------------------------------------------------------------- figure
def _register_figure(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "figure", help="draw one figure (e.g. the paper's Fig. 1) to a PNG, SVG or PDF file",
        description="Draw a figure. 'fig1' (or 'conceptual') redraws the conceptual Fig. 1 of Islam, Li, Johnson & "
                    "Lauchande (2020) from a spec, with the paper's caption. 'path', 'reliability' and "
                    "'residuals' fit the spec to DATA (default: the synthetic bcf_synthetic) first.")
    p.add_argument("kind", choices=FIGURE_KINDS, metavar="KIND", help="one of: " + ", ".join(FIGURE_KINDS))
    p.add_argument("data", nargs="?", metavar="DATA", help="survey file or bundled dataset (path, reliability, residuals)")
    p.add_argument("--spec", default="fig1", metavar="NAME", help="spec name or .lav/.toml file (default: fig1)")
    p.add_argument("--out", required=True, metavar="FILE", help="output file: .png, .svg or .pdf")
    p.add_argument("--sheet", default=0, metavar="SHEET", help=SHEET_HELP)
    p.add_argument("--dpi", type=_pos_int, default=200, metavar="DPI", help="resolution of a PNG (default 200)")
    p.add_argument("--force", action="store_true", help="replace FILE if asymtrust wrote it (never another file)")
    p.set_defaults(func=cmd_figure)


def cmd_figure(args: argparse.Namespace) -> int:
    """``asymtrust figure KIND [DATA] --out FILE [--spec NAME]``."""
    import os

    from ..outputs import plan_file

    inputs = [p for p in (args.data, args.spec) if isinstance(p, str) and os.path.exists(p)]
    target = plan_file(args.out, force=args.force, inputs=inputs, what="figure", suffixes=(".png", ".svg", ".pdf"))
    from . import figures as F

    if args.kind in ("fig1", "conceptual"):
        if args.data:
            raise OptionError(f"figure {args.kind} is drawn from the spec alone; drop DATA ({args.data})")
        fig = F.figure_fig1(args.spec)
    else:
        fig = _fitted_figure(args, F)
    F._save(fig, target, dpi=args.dpi)
    print(f"wrote {target.shown}")
    return 0


def _fitted_figure(args: argparse.Namespace, F) -> object:
    from ..engine.fit import fit as _fit
    from ..library.specs import load_spec
    from ..survey.validation import validate
    from .build import _recode, _resolve_data

    spec = load_spec(args.spec)
    frame, _label, _path, _syn = _resolve_data(args.data, None, (), sheet=args.sheet)
    rep = validate(frame, spec)
    if not rep.ok:
        raise ValidationError(f"the data fail validation against spec {spec.name!r}: " + "; ".join(rep.errors),
                              problems=list(rep.errors))
    work, _, _ = _recode(frame, rep.items)
    if args.kind == "reliability":
        import importlib

        rel = importlib.import_module("asymtrust.analysis.reliability").reliability(work, spec)
        _warn_lines(rel.warnings)
        return F.reliability_chart(rel)
    res = _fit(spec, work)
    _warn_lines(res.warnings)  # a figure of an improper fit says so, as every command does
    if args.kind == "path":
        return F.path_diagram(res, spec)
    return F.residual_heatmap(res)


def _warn_lines(warnings) -> None:
    for w in warnings or ():
        print(f"asymtrust: warning: {' '.join(str(w).split())}", file=sys.stderr)


# --------------------------------------------------------------------------- registration
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``figure`` to the main parser's sub-commands."""
    _register_report(subparsers)
    _register_figure(subparsers)


def _main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use before the lead wires it in
    parser = argparse.ArgumentParser(prog="asymtrust")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    from ..exceptions import AsymtrustError

    try:
        return int(args.func(args) or 0)
    except AsymtrustError as exc:
        _error(str(exc))
        return 2
    except OSError as exc:
        _error(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())
