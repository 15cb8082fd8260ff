"""Command-line interface: ``asymtrust <command> ...``.

Every command is a pair of functions in this module:

``_register_<name>(subparsers)``
    adds the sub-parser and its options, and sets ``func=cmd_<name>``;
``cmd_<name>(args) -> int``
    does the work and returns the exit status.

The order of ``asymtrust --help`` is the single table :data:`COMMANDS`; a name in
the table whose ``_register_<name>`` is not (yet) defined is skipped, so a new
command is added by writing its two functions (and, if new, its name in the
table). Heavy modules are imported inside the ``cmd_`` functions so that
``asymtrust --help`` stays fast.

Errors: every :class:`~asymtrust.exceptions.AsymtrustError`, and every
``OSError`` raised while reading or writing a user's path, is printed as one line
``asymtrust: error: <message>`` on stderr with exit status 2 (no traceback);
argparse usage errors also exit with 2; ``Ctrl-C`` exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .exceptions import AsymtrustError, OptionError, OutputError
from .survey import SHEET_HELP

__all__ = [
    "main",
    "build_parser",
    "COMMANDS",
    "write_atomic",
    "frame_to_csv",
    "cmd_specs",
    "cmd_codebook",
    "cmd_simulate",
    "cmd_validate",
    "cmd_fit",
    "cmd_diagnose",
    "cmd_reliability",
    "cmd_effects",
    "cmd_invariance",
    "cmd_compare",
    "cmd_power",
]

PROG = "asymtrust"

#: sub-commands in the order ``asymtrust --help`` lists them
COMMANDS: tuple[str, ...] = (
    "specs",
    "codebook",
    "simulate",
    "validate",
    "fit",
    "diagnose",
    "reliability",
    "effects",
    "invariance",
    "compare",
    "report",
    "figure",
    "power",
    "efa",
    "dyadic",
)


# --------------------------------------------------------------------------- helpers
def _error(message: str) -> None:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)


def _os_message(exc: OSError) -> str:
    what = exc.strerror or exc.__class__.__name__
    if exc.filename is not None:
        return f"{exc.filename}: {what}"
    return str(exc) or what


def write_atomic(path: str | os.PathLike, content: str | bytes, *, force: bool = False) -> Path:
    """Write a file whole or not at all, under the output policy of :mod:`asymtrust.outputs`.

    Parameters
    ----------
    path : str or path-like
        Destination.
    content : str or bytes
        Text is written as UTF-8 with the line endings it contains (no
        translation), so output is byte-identical across platforms.
    force : bool, default False
        Replace an existing file that asymtrust wrote (and nobody changed since).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        The file exists (without ``force``, or not written by asymtrust), is a link,
        folder or device, or the folder does not exist or is not writable.
    """
    from .outputs import write_file

    return write_file(path, content, force=force)


def _plan(out: str, force: bool, *, inputs: Sequence[Any] = (), suffixes: Sequence[str] | None = None):
    """Check ``--out`` before the work (:func:`asymtrust.outputs.plan_file`); spec
    names that are not files are ignored as inputs."""
    from .outputs import plan_file

    files = [p for p in inputs if p is not None and isinstance(p, (str, os.PathLike)) and os.path.exists(p)]
    return plan_file(out, force=force, inputs=files, suffixes=suffixes)


def _emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def _positive_int_list(value: str) -> list[int]:
    """``"30,45,60"`` -> ``[30, 45, 60]``."""
    parts = [v.strip() for v in str(value).split(",")]
    if not parts or any(not v for v in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {value!r}")
    return [_positive_int(v) for v in parts]


def _fraction(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value!r}") from None
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value!r}")
    return x


def _code(value: str) -> int | float | str:
    """A missing-value code from the command line: int, float, or text."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _load_data(source: str, *, missing_codes: Sequence[Any] = (), codebook: Any = None, sheet: int | str = 0):
    """A survey file, or (if no such file exists) a bundled dataset name."""
    from .survey.read import read_survey

    if not Path(source).exists():
        from .survey.datasets import _registry

        reg = _registry()
        names = {n.casefold() for n in reg["name"]} | {
            a.strip().casefold() for al in reg["aliases"] for a in str(al).split("|") if a.strip()
        }
        if source.casefold() in names:
            from .survey.datasets import load_dataset
            from .survey.read import _recode_missing

            df = load_dataset(source)
            if missing_codes:
                df.attrs["missing_recoded"] = _recode_missing(df, list(missing_codes))
            return df
    return read_survey(source, codebook=codebook, missing_codes=missing_codes, sheet=sheet)


def _sheet(value: str) -> str:
    """``--sheet`` as typed: :func:`asymtrust.read_survey` picks the sheet of that name
    when one exists (a sheet may be called "2024"), else takes a number as an index."""
    return value


LABELS_HINT_CLI = "rerun with --map-labels to turn them into codes"


# --------------------------------------------------------------------------- specs
def _register_specs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "specs",
        help="list the bundled model specifications, or describe one",
        description="Without NAME, list the bundled model specifications; with NAME, describe it "
        "(constructs, paths with expected signs and the passages they rest on).",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="spec name (e.g. fig1) or a .toml/.lav file")
    p.add_argument("--syntax", action="store_true", help="print only the lavaan syntax of NAME")
    p.set_defaults(func=cmd_specs)


def cmd_specs(args: argparse.Namespace) -> int:
    """``asymtrust specs [NAME] [--syntax]``."""
    from .library import specs

    if args.name is None:
        if args.syntax:
            raise OptionError("--syntax needs a spec NAME")
        listing = specs.list_specs()
        if hasattr(listing, "to_string"):
            _emit(listing.to_string(index=False))
        else:
            entries = [specs.load_spec(e) if isinstance(e, str) else e for e in listing]
            width = max((len(e.name) for e in entries), default=4) + 2
            for entry in entries:
                _emit(f"{entry.name:<{width}}{entry.kind:<13}{entry.title}")
        return 0
    if args.syntax:
        _emit(specs.load_spec(args.name).syntax)
        return 0
    _emit(str(specs.describe_spec(args.name)))
    return 0


# --------------------------------------------------------------------------- codebook
def _register_codebook(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "codebook",
        help="print the item codebook (questionnaire)",
        description="Print the codebook of the Fig. 1 instrument: items, wording, scale, reverse keying.",
    )
    p.add_argument("--format", choices=("md", "csv", "text"), default="text", help="output format (default: text)")
    p.add_argument("--codebook", metavar="PATH", help="a codebook CSV to render instead of the bundled one")
    p.add_argument("--out", metavar="PATH", help="write to PATH instead of standard output")
    p.add_argument("--force", action="store_true", help="replace --out if asymtrust wrote it (never another file)")
    p.set_defaults(func=cmd_codebook)


def cmd_codebook(args: argparse.Namespace) -> int:
    """``asymtrust codebook [--format md|csv|text]``."""
    from .library.codebook import load_codebook, render_codebook

    target = _plan(args.out, args.force, inputs=(args.codebook,)) if args.out else None
    cb = load_codebook(args.codebook) if args.codebook else load_codebook()
    text = render_codebook(cb, format=args.format)
    if target is not None:
        target.write(text if text.endswith("\n") else text + "\n")
    else:
        _emit(text)
    return 0


# --------------------------------------------------------------------------- simulate
def _register_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate survey answers from a model spec",
        description="Simulate Likert answers from a model's population values. The same seed "
        "gives a byte-identical file.",
    )
    p.add_argument("--spec", required=True, metavar="NAME", help="spec name or file (e.g. fig1)")
    p.add_argument("--n", required=True, type=_positive_int, metavar="N", help="number of respondents")
    p.add_argument(
        "--seed", type=int, default=None, metavar="SEED", help="random seed (give one for reproducible output)"
    )
    p.add_argument(
        "--missing", type=_fraction, default=0.0, metavar="P", help="fraction of answers set missing at random (MCAR)"
    )
    p.add_argument(
        "--groups",
        nargs="?",
        const="all",
        default=None,
        metavar="SECTORS",
        help="apply the spec's per-sector population values: alone for all sectors in equal shares, "
        "or e.g. 'nhs,council' or 'nhs=0.5,council=0.3,voluntary=0.2'",
    )
    p.add_argument("--out", metavar="PATH", help="output .csv or .tsv (default: standard output)")
    p.add_argument("--force", action="store_true", help="replace --out if asymtrust wrote it (never another file)")
    p.set_defaults(func=cmd_simulate)


def frame_to_csv(df, *, sep: str = ",") -> str:
    """Deterministic CSV text of a DataFrame (used for all written data).

    Whole-number float columns are written as integers, other floats with
    ``%.10g``, missing values as empty fields, line endings ``\\n``.
    """
    import numpy as np
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_float_dtype(s):
            vals = s.to_numpy(dtype=float, na_value=np.nan)
            finite = vals[np.isfinite(vals)]
            if np.all(np.isnan(vals) | np.isfinite(vals)) and np.all(finite == np.round(finite)):
                out[col] = s.astype("Int64")
    return out.to_csv(index=False, sep=sep, lineterminator="\n", float_format="%.10g", na_rep="")


def _parse_groups(text: str) -> list[str] | dict[str, float]:
    """``all`` -> every sector; ``a,b`` -> equal shares; ``a=0.5,b=0.5`` -> proportions."""
    if text.strip().lower() == "all":
        from .library.codebook import SECTOR_LEVELS

        return list(SECTOR_LEVELS)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise OptionError("--groups needs sector names, e.g. --groups nhs,council")
    if all("=" not in p for p in parts):
        return parts
    shares: dict[str, float] = {}
    for part in parts:
        name, _, value = part.partition("=")
        try:
            shares[name.strip()] = float(value)
        except ValueError:
            raise OptionError(f"--groups: proportion of {name.strip()!r} must be a number, got {value!r}") from None
    return shares


def cmd_simulate(args: argparse.Namespace) -> int:
    """``asymtrust simulate --spec NAME --n N --seed S [--missing P] [--groups] [--out PATH]``."""
    sep = ","
    target = None
    if args.out:  # checked before the (possibly slow) simulation
        target = _plan(args.out, args.force, inputs=(args.spec,), suffixes=(".csv", ".tsv"))
        sep = "\t" if target.path.suffix.lower() == ".tsv" else ","
    from .survey.simulate import simulate
    from .library.specs import load_spec

    spec = load_spec(args.spec)
    kwargs: dict[str, Any] = {"seed": args.seed, "missing": args.missing}
    if args.groups is not None:
        kwargs["groups"] = _parse_groups(args.groups)
    df = simulate(spec, args.n, **kwargs)
    from ._resources import check_memory

    check_memory(df.memory_usage(deep=False).sum() * 4, option="--n", value=args.n, what="the CSV text")
    text = frame_to_csv(df, sep=sep)
    if target is not None:
        target.write(text)
        print(f"wrote {len(df)} rows x {df.shape[1]} columns to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# --------------------------------------------------------------------------- validate
def _register_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check a survey file against a model before fitting",
        description="Check survey data against a model: missing items, non-numeric or out-of-range "
        "codes, constants, collinear items, complete cases vs free parameters, reverse "
        "keying, straight-lining. Exit status 0 when the data pass, 2 otherwise (the "
        "problems, one per line, on standard error).",
    )
    p.add_argument("data", metavar="DATA", help="survey file (.csv .tsv .xlsx .sav ...) or a bundled dataset name")
    p.add_argument("--spec", required=True, metavar="NAME", help="spec name or file (e.g. fig1), or lavaan syntax")
    p.add_argument(
        "--missing-codes",
        nargs="+",
        type=_code,
        default=[],
        metavar="CODE",
        help="values meaning missing, e.g. --missing-codes -99 -9",
    )
    cbg = p.add_mutually_exclusive_group()
    cbg.add_argument("--codebook", metavar="PATH", help="codebook CSV (default: the bundled codebook)")
    cbg.add_argument("--no-codebook", action="store_true", help="do not check against a codebook")
    p.add_argument(
        "--map-labels", action="store_true", help="turn text answers that match the codebook's scale labels into codes"
    )
    p.add_argument("--sheet", type=_sheet, default=0, metavar="SHEET", help=SHEET_HELP)
    _add_ordered_arg(p)
    p.add_argument("--cluster", metavar="COL",
                   help="cluster column of nested data (e.g. partnership): cluster sizes, singletons and the range of the items' ICC(1)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """``asymtrust validate DATA --spec NAME [--missing-codes ...] [--json]``."""
    from .survey.validation import validate

    if args.no_codebook:
        codebook: Any = False
    elif args.codebook:
        from .library.codebook import load_codebook

        codebook = load_codebook(args.codebook)
    else:
        codebook = None
    map_with = None
    if args.map_labels:
        if codebook is False:
            raise OptionError("--map-labels needs a codebook; drop --no-codebook")
        if codebook is None:
            from .library.codebook import load_codebook

            map_with = load_codebook()
        else:
            map_with = codebook
    df = _load_data(args.data, missing_codes=args.missing_codes, codebook=map_with, sheet=args.sheet)
    report = validate(df, args.spec, codebook=codebook, labels_hint=LABELS_HINT_CLI, cluster=args.cluster,
                      **_ordered(args, df))
    if args.json:
        _emit(report.to_json(indent=2))
    else:
        _emit(str(report))
    for problem in report.errors:
        _error(problem)
    return 0 if report.ok else 2


# --------------------------------------------------------------------------- analysis commands
def _dump_json(obj: Any) -> None:
    import json

    from ._json import json_safe

    _emit(json.dumps(json_safe(obj), indent=2))


def _analysis_data(args: argparse.Namespace):
    """Read DATA (a survey file or a bundled dataset name) and recode reverse-keyed items.

    The bundled codebook says which items are reverse-keyed; only columns present in
    the data are recoded, and only once (``attrs["reverse_recoded"]``).
    """
    from .library.codebook import load_codebook, reverse_items
    from .survey.validation import recode_reverse

    map_with = load_codebook() if getattr(args, "map_labels", False) else None
    df = _load_data(args.data, missing_codes=getattr(args, "missing_codes", ()) or (), codebook=map_with,
                    sheet=getattr(args, "sheet", 0))
    specs = getattr(args, "specs", None) or [getattr(args, "spec", None)]
    for spec in specs:
        if spec is not None:
            _require_valid(df, spec, missing=getattr(args, "missing", "listwise"))
    if not df.attrs.get("reverse_recoded"):
        items = [i for i in reverse_items(load_codebook()) if i in df.columns]
        if items:
            df = recode_reverse(df, items=items)
    return df


def _require_valid(df, spec: Any, *, missing: str = "listwise") -> None:
    """Refuse data that fail :func:`asymtrust.validate` against ``spec`` (before any fit).

    Out-of-range codes (e.g. an undeclared ``-99``), text answers or true/false
    values would otherwise give a plausible-looking but wrong fit. Under FIML the
    complete-case checks are left to the estimator.

    Raises
    ------
    ValidationError
        The first problem, with the number of further problems.
    """
    from .exceptions import ValidationError
    from .survey.validation import validate

    report = validate(df, spec, labels_hint=LABELS_HINT_CLI)
    skip = {"no_complete_cases", "too_few_cases"} if str(missing).lower() in ("fiml", "ml") else set()
    errors = [i.message for i in report.issues if i.severity == "error" and i.check not in skip]
    if errors:
        more = len(errors) - 1
        tail = f" (and {more} more; 'asymtrust validate' lists them all)" if more else ""
        raise ValidationError(errors[0] + tail, problems=errors)


def _add_data_args(p: argparse.ArgumentParser, *, spec: bool = True) -> None:
    p.add_argument("data", metavar="DATA", help="survey file (CSV, TSV, XLSX, SAV) or a bundled dataset name")
    if spec:
        p.add_argument("--spec", default="fig1", help="bundled spec name or a lavaan-syntax file (default: fig1)")
    p.add_argument("--missing-codes", nargs="+", type=_code, default=(), metavar="CODE",
                   help="codes that mean 'missing' (e.g. -99 -9)")
    p.add_argument("--sheet", type=_sheet, default=0, metavar="SHEET", help=SHEET_HELP)
    p.add_argument("--map-labels", action="store_true",
                   help="turn text answers that match the codebook's scale labels into codes")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


#: estimators for ordered items (lavaan's categorical estimators); WLSMV is the default with --ordered
ORDINAL_ESTIMATORS = ("WLSMV", "WLSM", "ULSMV", "DWLS", "ULS", "WLS")


def _add_ordered_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ordered", nargs="?", const="all", default=None, metavar="ITEMS",
                   help="treat items as ordered categories (lavaan ordered=; estimator WLSMV by default): all model "
                        "items, or a comma list (e.g. --ordered cap1,cap2); put DATA before it")


def _add_estimation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--estimator", default=None, type=str.upper, choices=["ML", "MLR", *ORDINAL_ESTIMATORS],
                   help="ML or MLR (default ML); with --ordered WLSMV (default), WLSM, ULSMV, DWLS, ULS or WLS")
    p.add_argument("--missing", default="listwise", choices=["listwise", "fiml", "pairwise"],
                   help="listwise or fiml; with --ordered listwise or pairwise")
    _add_ordered_arg(p)


def _ordered(args: argparse.Namespace, df: Any = None) -> dict[str, Any]:
    """``--ordered``: {} (continuous items), {"ordered": True} (all model items) or the comma
    list, whose names must be columns of ``df`` (a typo is refused, not ignored)."""
    value = getattr(args, "ordered", None)
    if value is None:
        return {}
    if value == "all":
        return {"ordered": True}
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise OptionError("--ordered needs item names separated by commas, or no value for all model items")
    unknown = [v for v in items if df is not None and v not in df.columns]
    if unknown:
        raise OptionError(f"--ordered names {', '.join(unknown)}, not a column of the data (a file name given after "
                          "--ordered is read as the item list: put DATA first)")
    return {"ordered": items}


def _estimator(args: argparse.Namespace) -> str:
    """--estimator, or its default: WLSMV with --ordered (as lavaan), else ML."""
    if args.estimator:
        return str(args.estimator).upper()
    return "WLSMV" if _ordered(args) else "ML"


def _spec_arg(value: str):
    """A spec name, a .lav/.toml path, or (if the file exists) its syntax."""
    return value


def _register_fit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit a model (lavaan sem() defaults)",
                       description="Fit a structural equation model with lavaan's sem() defaults.")
    _add_data_args(p)
    _add_estimation_args(p)
    p.add_argument("--group", help="grouping column for a multi-group model")
    p.add_argument("--group-equal", nargs="+", default=(), metavar="WHAT",
                   help="lavaan group.equal: loadings intercepts residuals ...")
    p.add_argument("--cluster", metavar="COL",
                   help="cluster column of nested data (e.g. partnership): cluster-robust SEs and test (lavaan cluster=), or a two-level model "
                        "(level: blocks, e.g. --spec fig1_twolevel)")
    p.set_defaults(func=cmd_fit)


def cmd_fit(args: argparse.Namespace) -> int:
    """``asymtrust fit DATA --spec NAME|FILE [--estimator] [--missing] [--group] [--json]``."""
    from .engine.fit import fit

    df = _analysis_data(args)
    kw = {"cluster": args.cluster} if args.cluster else {}
    res = fit(args.spec, df, estimator=_estimator(args), missing=args.missing, group=args.group,
              group_equal=tuple(args.group_equal), **kw, **_ordered(args, df))
    if args.json:
        doc = res.to_dict()
        _dump_json({"converged": res.converged, "warnings": res.warnings, "nobs": res.nobs,
                    "n_read": doc.get("n_read"), "n_used": doc.get("n_used"), "dropped": doc.get("dropped"),
                    "group_labels": res.group_labels, "fit_indices": res.fit_indices,
                    "estimates": res.parameter_estimates()})
    else:
        _emit(res.summary())
    _warn(res.warnings)
    return 0


def _register_diagnose(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="where the model misfits: modification indices, residuals, score tests",
                       description="The largest modification indices with EPCs, the worst standardized "
                       "correlation residuals and, for a group comparison with equality constraints, the "
                       "score tests of the constraints (lavaan's modindices, lavResiduals, lavTestScore).")
    _add_data_args(p)
    _add_estimation_args(p)
    p.add_argument("--group", help="grouping column for a multi-group model")
    p.add_argument("--group-equal", nargs="+", default=(), metavar="WHAT",
                   help="lavaan group.equal: loadings intercepts residuals ...")
    p.add_argument("--top", type=_positive_int, default=10, metavar="N", help="rows per table (default 10)")
    p.set_defaults(func=cmd_diagnose)


def cmd_diagnose(args: argparse.Namespace) -> int:
    """``asymtrust diagnose DATA --spec NAME [--group COL --group-equal ...] [--top N] [--json]``."""
    from .engine.diagnostics import misfit_summary
    from .engine.fit import fit

    df = _analysis_data(args)
    res = fit(args.spec, df, estimator=_estimator(args), missing=args.missing, group=args.group,
              group_equal=tuple(args.group_equal), **_ordered(args, df))
    out = misfit_summary(res, top=args.top)
    if args.json:
        _dump_json({"fit_indices": res.fit_indices[["chisq", "df", "pvalue", "cfi", "rmsea", "srmr"]],
                    "group_labels": res.group_labels, **out})
        _warn(res.warnings)
        return 0
    import pandas as pd

    fi = res.fit_indices
    _emit(f"chi-square = {fi['chisq']:.2f}, df = {int(fi['df'])}, CFI = {fi['cfi']:.3f}, "
          f"RMSEA = {fi['rmsea']:.3f}, SRMR = {fi['srmr']:.3f}")
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        _emit(f"\nLargest modification indices (lavaan modindices; sepc = standardized EPC)\n"
              + out["modindices"].to_string(**fmt))
        _emit("\nLargest standardized residuals (correlation residuals, lavResiduals cor.bentler; z)\n"
              + out["residuals"].to_string(**fmt))
        if out["score_tests"] is not None:
            cols = ["lhs", "op", "rhs", "lhs_parameter", "lhs_group", "rhs_group", "x2", "df", "p_value"]
            _emit("\nScore tests of the equality constraints (lavTestScore; release the largest first)\n"
                  + out["score_tests"][cols].to_string(**fmt))
    for n in out["notes"]:
        _emit(f"note: {n}")
    _warn(res.warnings)
    return 0


def _warn(warnings: Sequence[str]) -> None:
    """The problems a result carries, one ``asymtrust: warning: ...`` line each on stderr
    (besides the text or JSON on stdout), so that none is missed in a pipeline."""
    for w in warnings or ():
        print(f"{PROG}: warning: {' '.join(str(w).split())}", file=sys.stderr)


def _register_reliability(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reliability", help="reliability and validity of each construct",
                       description="Alpha, omega, CR, AVE, HTMT and Fornell-Larcker per construct.")
    _add_data_args(p)
    p.add_argument("--htmt", default="htmt2", choices=["htmt2", "htmt"], help="HTMT variant (default htmt2)")
    _add_ordered_arg(p)
    p.add_argument("--cluster", metavar="COL",
                   help="cluster column of nested data (e.g. partnership): adds multilevel reliability (semTools compRelSEM: omega_w, omega_2l, omega_b)")
    p.set_defaults(func=cmd_reliability)


def cmd_reliability(args: argparse.Namespace) -> int:
    """``asymtrust reliability DATA --spec NAME [--json]``."""
    from .analysis.reliability import fornell_larcker, htmt, reliability

    df = _analysis_data(args)
    ordered = _ordered(args, df)
    rel = reliability(df, args.spec, htmt_method=args.htmt, cluster=args.cluster, **ordered)
    rel.attrs.pop("twolevel_fit", None)
    rel.attrs.pop("polychoric", None)
    ht = htmt(df, args.spec, method=args.htmt, **ordered)
    fl = fornell_larcker(df, args.spec)
    notes = list(rel.attrs.get("notes", []))
    warnings = list(dict.fromkeys([*rel.warnings, *fl.warnings]))
    if args.json:
        _dump_json({"reliability": rel.reset_index(), "htmt": ht.reset_index(), "htmt_method": args.htmt,
                    "fornell_larcker": fl.reset_index(), "notes": notes, "warnings": warnings,
                    "data": rel.data_usage, "cutoffs": rel.attrs.get("cutoffs")})
        _warn(warnings)
        return 0
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 40):
        from .analysis.provenance import provenance_lines

        for line in provenance_lines([], rel.data_usage):
            _emit(line)
        _emit("Reliability and convergent validity\n" + rel.to_string(float_format=lambda v: f"{v:.3f}"))
        _emit(f"\nHTMT ({args.htmt})\n" + ht.to_string(float_format=lambda v: f"{v:.3f}"))
        _emit("\nFornell-Larcker (sqrt AVE on the diagonal)\n" + fl.to_string(float_format=lambda v: f"{v:.3f}"))
    for n in notes:
        _emit(f"note: {n}")
    _warn(warnings)
    return 0


def _register_effects(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("effects", help="indirect and total effects with bootstrap CIs",
                       description="Every asymmetry -> trust -> outcome chain of the spec, with delta-method SEs "
                       "and bootstrap CIs.")
    _add_data_args(p)
    _add_estimation_args(p)
    p.add_argument("--bootstrap", type=_positive_int, default=1000, metavar="B", help="replicates (default 1000)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N", help="parallel worker processes")
    p.add_argument("--dask", metavar="ADDRESS", help="run the bootstrap on a Dask scheduler")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_effects)


def cmd_effects(args: argparse.Namespace) -> int:
    """``asymtrust effects DATA --spec NAME [--bootstrap B --seed S] [--json]``."""
    from .analysis.effects import effects
    from .engine.fit import fit
    from .engine.resample import check_replicates

    check_replicates(args.bootstrap, name="bootstrap")  # refuse an excessive B before any work
    df = _analysis_data(args)
    res = fit(args.spec, df, estimator=_estimator(args), missing=args.missing, **_ordered(args, df))
    kw: dict[str, Any] = dict(bootstrap=args.bootstrap, seed=args.seed, n_jobs=args.jobs,
                              progress=not (args.quiet or args.json))
    if args.dask:
        kw.update(backend="dask", scheduler=args.dask)
    eff = effects(res, **kw)
    if args.json:
        _dump_json({**eff.to_dict(), "replicates": args.bootstrap, "seed": args.seed})
    else:
        _emit(str(eff))
    _warn(eff.warnings)
    return 0


def _register_invariance(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("invariance", help="measurement invariance across groups",
                       description="Configural, metric, scalar and strict invariance with chi-square difference "
                       "tests and delta CFI.")
    _add_data_args(p)
    _add_estimation_args(p)
    p.add_argument("--group", required=True, help="grouping column (e.g. sector)")
    p.add_argument("--partial", choices=["auto"], default=None,
                   help="auto: when a level fails, release the constraint with the largest score test, one at a "
                   "time, until it holds (guided partial invariance)")
    p.add_argument("--identification", choices=["lavaan", "wu.estabrook"], default="lavaan",
                   help="with --ordered: lavaan's own identification (default) or Wu & Estabrook (2016) as semTools' "
                   "measEq.syntax writes it")
    p.set_defaults(func=cmd_invariance)


def cmd_invariance(args: argparse.Namespace) -> int:
    """``asymtrust invariance DATA --spec NAME --group COL [--json]``."""
    from .analysis.invariance import invariance

    df = _analysis_data(args)
    tab = invariance(args.spec, df, args.group, estimator=_estimator(args), missing=args.missing,
                     partial=getattr(args, "partial", None),
                     identification=getattr(args, "identification", "lavaan"), **_ordered(args, df))
    part = tab.attrs.get("partial")
    if args.json:
        _dump_json({**tab.to_dict(), **({"partial": part} if part is not None else {})})
    else:
        _emit(str(tab))
        for f in (part or {}).get("freed", []):
            _emit(f"freed {f['parameter']} ({f['level']}): {f['reason']}")
        if part is not None:
            why = ("every factor keeps at least two invariant indicators" if part["latent_means_valid"]
                   else "a factor has fewer than two invariant indicators")
            verdict = "can" if part["latent_means_valid"] else "cannot"
            _emit(f"latent means {verdict} be compared: {why} (Byrne, Shavelson & Muthen 1989)")
    _warn(tab.warnings)
    return 0


def _register_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare competing models",
                       description="Fit indices, AIC/BIC and chi-square difference tests of competing specs.")
    p.add_argument("data", metavar="DATA", help="survey file or bundled dataset name")
    p.add_argument("--specs", nargs="+", required=True, metavar="SPEC", help="two or more spec names or files")
    p.add_argument("--missing-codes", nargs="+", type=_code, default=(), metavar="CODE")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_estimation_args(p)
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    """``asymtrust compare DATA --specs A B C [--json]``."""
    from .analysis.compare import compare

    df = _analysis_data(args)
    cmp = compare(list(args.specs), df, estimator=_estimator(args), missing=args.missing, **_ordered(args, df))
    if args.json:
        _dump_json(cmp.to_dict())
    else:
        _emit(cmp.summary())
    _warn(cmp.warnings)
    return 0


def _register_power(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("power", help="Monte Carlo power and sample-size planning",
                       description="Simulate from the spec's population values and refit, per sample size.")
    p.add_argument("--spec", default="fig1", help="bundled spec name (default fig1)")
    p.add_argument("--n", nargs="+", type=_positive_int, metavar="N", help="sample sizes (or --clusters)")
    p.add_argument("--clusters", type=_positive_int_list, metavar="K1,K2",
                   help="plan in clusters: numbers of partnerships (with --cluster-size; cluster-robust MLR)")
    p.add_argument("--cluster-size", type=_positive_int, metavar="M", help="respondents per partnership")
    p.add_argument("--icc", type=float, metavar="X", help="ICC of the items' latent responses (default 0.15)")
    p.add_argument("--reps", type=_positive_int, default=1000, help="replicates per sample size")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N", help="parallel worker processes")
    p.add_argument("--dask", metavar="ADDRESS", help="run on a Dask scheduler")
    p.add_argument("--out", help="also write the power curve figure (.png, .svg or .pdf) here")
    p.add_argument("--force", action="store_true", help="replace --out if asymtrust wrote it")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_ordered_arg(p)
    p.add_argument("--thresholds", type=_cut_points, metavar="C1,C2,...",
                   help="an ordinal design's cut points for every item (e.g. -1.5,-0.5,0.5,1.5: 5-point items)")
    p.set_defaults(func=cmd_power)


def _cut_points(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--thresholds needs numbers separated by commas, not {text!r}") from None


def cmd_power(args: argparse.Namespace) -> int:
    """``asymtrust power --spec fig1 --n 150 200 300 500 --reps 1000 [--dask ADDR]``."""
    target = _plan(args.out, args.force, inputs=(args.spec,), suffixes=(".png", ".svg", ".pdf")) if args.out else None
    from .analysis.power import power

    kw: dict[str, Any] = dict(reps=args.reps, seed=args.seed, n_jobs=args.jobs, progress=not (args.quiet or args.json))
    if args.dask:
        kw.update(backend="dask", scheduler=args.dask)
    if args.clusters is not None:
        if args.n:
            raise OptionError("power: give either --n (respondents) or --clusters (partnerships), not both")
        kw.update(clusters=args.clusters, cluster_size=args.cluster_size, icc=args.icc)
    elif args.n is None:
        raise OptionError("power: --n N [N ...] or --clusters K1,K2 --cluster-size M is required")
    elif args.cluster_size is not None or args.icc is not None:
        raise OptionError("power: --cluster-size and --icc plan in clusters and need --clusters K1,K2")
    else:
        kw.update(n=list(args.n))
    if args.thresholds is not None:
        kw.update(thresholds={"default": args.thresholds})
    tab = power(args.spec, **kw, **_ordered(args))
    if target is not None:
        from .reporting.figures import _save, power_curve

        _save(power_curve(tab), target)
    if args.json:
        _dump_json({**tab.to_dict(), "smallest_n": tab.attrs.get("smallest_n"),
                    **({"smallest_clusters": tab.attrs["smallest_clusters"]} if "smallest_clusters" in tab.attrs
                       else {})})
    else:
        _emit(str(tab))
    _warn(tab.warnings)
    return 0


def _register_report(sub: argparse._SubParsersAction) -> None:
    from .reporting.cli import _register_report as register

    register(sub)


def _register_figure(sub: argparse._SubParsersAction) -> None:
    from .reporting.cli import _register_figure as register

    register(sub)


def _register_efa(sub: argparse._SubParsersAction) -> None:
    from .reporting.efa import register

    register(sub)


def _register_dyadic(sub: argparse._SubParsersAction) -> None:
    from .reporting.dyadic_cli import register

    register(sub)


# --------------------------------------------------------------------------- parser and main
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``asymtrust CMD: error: ...``, exit 2)."""

    def error(self, message: str):  # type: ignore[override]
        hint = f" (see '{self.prog} --help')"
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command of :data:`COMMANDS` that is defined."""
    parser = _Parser(
        prog=PROG,
        description="Structural equation models of partner asymmetries, inter-organisational trust and "
        "integrated care, with lavaan-parity estimation.",
        epilog="Run 'asymtrust COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    registry = globals()
    for name in COMMANDS:
        register: Callable[[argparse._SubParsersAction], None] | None = registry.get(f"_register_{name}")
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 2 error (one line on stderr) or usage error,
        130 interrupted.
    """
    from .outputs import Terminated, cleanup_temporaries, install_signal_handlers

    install_signal_handlers()  # SIGTERM/SIGHUP clean up temporary outputs as Ctrl-C does
    _guard_stdout()
    with _warnings_as_lines():
        try:
            return _run(argv)
        except Terminated as exc:
            print(f"{PROG}: terminated by signal {exc.signum}; nothing was left half-written", file=sys.stderr)
            return exc.exit_status
        finally:
            cleanup_temporaries()


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, usage errors
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except KeyboardInterrupt:
        return 130
    func = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        _error("a command is required (see 'asymtrust --help')")
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except AsymtrustError as exc:
        _error(str(exc))
        return 2
    except BrokenPipeError:
        # the reader of our output went away (e.g. `asymtrust specs | head`)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except MemoryError:
        _error("out of memory; use a smaller sample, fewer replicates or a smaller figure")
        return 2
    except OSError as exc:
        _error(_os_message(exc))
        return 2


class _ClosedStdout:
    """Stands in for a closed standard output: writing is an error with exit 2."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise OutputError("standard output is closed; redirect it or use --out FILE where the command has one")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _guard_stdout() -> None:
    """A closed standard output (``asymtrust specs >&-``: Python then sets
    ``sys.stdout`` to None) becomes a one-line error when the command writes to it."""
    out = sys.stdout
    if out is None or getattr(out, "closed", False):
        sys.stdout = _ClosedStdout()  # type: ignore[assignment]
        return
    try:
        fd = out.fileno()
    except (OSError, ValueError, AttributeError):
        return  # an in-memory stream (captured output)
    try:
        os.fstat(fd)
    except OSError:
        sys.stdout = _ClosedStdout()  # type: ignore[assignment]


@contextlib.contextmanager
def _warnings_as_lines():
    """Python warnings reach the user as ``asymtrust: warning: ...`` lines on stderr
    (one line each, no file or line numbers), each message once."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        text = " ".join(str(message).split())
        try:
            print(f"{PROG}: warning: {text}", file=sys.stderr)
        except (OSError, ValueError, AttributeError):
            pass

    saved = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved


if __name__ == "__main__":  # pragma: no cover - `python -m asymtrust.cli`
    sys.exit(main())
