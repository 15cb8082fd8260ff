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
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .exceptions import AsymtrustError, OptionError, OutputError

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
]

PROG = "asymtrust"

#: sub-commands in the order ``asymtrust --help`` lists them
COMMANDS: tuple[str, ...] = (
    "specs",
    "codebook",
    "simulate",
    "validate",
    "fit",
    "reliability",
    "effects",
    "invariance",
    "compare",
    "report",
    "figure",
    "power",
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
    """Write a file atomically: a temporary file in the same folder, then ``os.replace``.

    Parameters
    ----------
    path : str or path-like
        Destination.
    content : str or bytes
        Text is written as UTF-8 with the line endings it contains (no
        translation), so output is byte-identical across platforms.
    force : bool, default False
        Overwrite an existing file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        The file exists and ``force`` is false, the folder does not exist or is
        not writable.
    """
    dest = Path(path)
    if dest.is_dir():
        raise OutputError(f"output {dest} is a directory")
    if dest.exists() and not force:
        raise OutputError(f"output {dest} already exists; use --force to overwrite it")
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist")
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{dest.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"output folder {folder} is not writable: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return dest


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
    from .survey import read_survey

    if not Path(source).exists():
        from .datasets import _registry

        reg = _registry()
        names = {n.casefold() for n in reg["name"]} | {
            a.strip().casefold() for al in reg["aliases"] for a in str(al).split("|") if a.strip()
        }
        if source.casefold() in names:
            from .datasets import load_dataset
            from .survey import _recode_missing

            df = load_dataset(source)
            if missing_codes:
                df.attrs["missing_recoded"] = _recode_missing(df, list(missing_codes))
            return df
    return read_survey(source, codebook=codebook, missing_codes=missing_codes, sheet=sheet)


def _sheet(value: str) -> int | str:
    return int(value) if value.isdigit() else value


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
    from . import specs

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
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=cmd_codebook)


def cmd_codebook(args: argparse.Namespace) -> int:
    """``asymtrust codebook [--format md|csv|text]``."""
    from .codebook import load_codebook, render_codebook

    cb = load_codebook(args.codebook) if args.codebook else load_codebook()
    text = render_codebook(cb, format=args.format)
    if args.out:
        write_atomic(args.out, text if text.endswith("\n") else text + "\n", force=args.force)
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
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
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
        from .codebook import SECTOR_LEVELS

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
    if args.out:
        suffix = Path(args.out).suffix.lower()
        if suffix not in (".csv", ".tsv"):
            raise OutputError(f"output {args.out}: simulate writes .csv or .tsv, not {suffix or '(no extension)'!r}")
        sep = "\t" if suffix == ".tsv" else ","
        dest = Path(args.out)
        if dest.exists() and not args.force:  # check before the (possibly slow) simulation
            raise OutputError(f"output {dest} already exists; use --force to overwrite it")
    from .simulate import simulate
    from .specs import load_spec

    spec = load_spec(args.spec)
    kwargs: dict[str, Any] = {"seed": args.seed, "missing": args.missing}
    if args.groups is not None:
        kwargs["groups"] = _parse_groups(args.groups)
    df = simulate(spec, args.n, **kwargs)
    text = frame_to_csv(df, sep=sep)
    if args.out:
        write_atomic(args.out, text, force=args.force)
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
    p.add_argument(
        "--sheet", type=_sheet, default=0, metavar="SHEET", help="worksheet of an .xlsx file (index or name)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """``asymtrust validate DATA --spec NAME [--missing-codes ...] [--json]``."""
    from .validation import validate

    if args.no_codebook:
        codebook: Any = False
    elif args.codebook:
        from .codebook import load_codebook

        codebook = load_codebook(args.codebook)
    else:
        codebook = None
    map_with = None
    if args.map_labels:
        if codebook is False:
            raise OptionError("--map-labels needs a codebook; drop --no-codebook")
        if codebook is None:
            from .codebook import load_codebook

            map_with = load_codebook()
        else:
            map_with = codebook
    df = _load_data(args.data, missing_codes=args.missing_codes, codebook=map_with, sheet=args.sheet)
    report = validate(df, args.spec, codebook=codebook)
    if args.json:
        _emit(report.to_json(indent=2))
    else:
        _emit(str(report))
    for problem in report.errors:
        _error(problem)
    return 0 if report.ok else 2


# --------------------------------------------------------------------------- parser and main
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command of :data:`COMMANDS` that is defined."""
    parser = argparse.ArgumentParser(
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
    except OSError as exc:
        _error(_os_message(exc))
        return 2


if __name__ == "__main__":  # pragma: no cover - `python -m asymtrust.cli`
    sys.exit(main())
