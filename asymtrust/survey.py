"""Read survey files (CSV, TSV, XLSX, SPSS) into a pandas DataFrame.

:func:`read_survey` is the single entry point. It reads the file read-only, never
modifies it, and refuses clearly (with :class:`~asymtrust.exceptions.SurveyReadError`
naming the file and the problem) what cannot be read as a respondent-by-item
table: missing or empty files, a header without rows, binary or undecodable
content, duplicated column names and unknown file types.

What it does to the values:

* ``""``, ``"NA"``, ``"NaN"``, ``"nan"`` (and pandas' other default NA strings)
  become missing.
* ``missing_codes`` (e.g. ``-99, -9``) become missing; counts per column are kept
  in ``df.attrs["missing_recoded"]``.
* SPSS user-missing values become missing (also counted), value labels are kept
  in ``df.attrs["value_labels"]``.
* With a ``codebook``, text answers that match an item's scale labels
  (case-insensitive, e.g. ``"Strongly agree"``) are replaced by their codes;
  counts are kept in ``df.attrs["labels_mapped"]``. Without a codebook the text
  is left alone so that :func:`asymtrust.validate` reports it.
* ``"inf"``/``"-inf"`` are parsed by pandas as infinite floats; they are *not*
  removed here, :func:`asymtrust.validate` reports them as errors.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import OptionError, ResourceLimitError, SurveyReadError

__all__ = ["read_survey", "max_file_bytes", "SUPPORTED_EXTENSIONS"]

#: default largest file read_survey accepts (2 GiB); override with ASYMTRUST_MAX_FILE_BYTES
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3

_TEXT_EXT = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv"}
_EXCEL_EXT = {".xlsx": "xlsx", ".xlsm": "xlsx"}
_STAT_EXT = {".sav": "sav", ".zsav": "sav", ".dta": "dta"}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted({**_TEXT_EXT, **_EXCEL_EXT, **_STAT_EXT}))

#: strings that always mean "missing" in text columns
_NA_STRINGS = frozenset({"", "na", "nan", "n/a", "null", "none", "#n/a"})
_DELIMITERS = (",", "\t", ";", "|")
_DELIM_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}


# --------------------------------------------------------------------------- helpers
def max_file_bytes() -> int:
    """Largest survey file :func:`read_survey` accepts, in bytes.

    Read from the environment variable ``ASYMTRUST_MAX_FILE_BYTES``; the default
    is 2 GiB.

    Raises
    ------
    OptionError
        If the environment variable is not a positive integer.
    """
    raw = os.environ.get("ASYMTRUST_MAX_FILE_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_FILE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise OptionError(f"ASYMTRUST_MAX_FILE_BYTES must be a positive integer number of bytes, got {raw!r}")
    return value


def _fmt_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n}"  # pragma: no cover


def _parse_scale_labels(text: Any) -> dict[str, int | float]:
    """``"1=Strongly disagree|...|7=Strongly agree"`` -> {"strongly disagree": 1, ...}."""
    out: dict[str, int | float] = {}
    if not isinstance(text, str):
        return out
    for part in text.split("|"):
        if "=" not in part:
            continue
        code, label = part.split("=", 1)
        try:
            num = float(code.strip())
        except ValueError:
            continue
        out[_norm_label(label)] = int(num) if num.is_integer() else num
    return out


def _norm_label(value: str) -> str:
    return " ".join(str(value).split()).casefold()


def _as_codebook(codebook: Any) -> pd.DataFrame | None:
    """Accept a codebook DataFrame, a path to a codebook CSV, or ``None``."""
    if codebook is None:
        return None
    if isinstance(codebook, pd.DataFrame):
        cb = codebook
    elif isinstance(codebook, (str, os.PathLike)):
        try:
            from .codebook import load_codebook
        except ImportError:  # pragma: no cover - codebook module absent
            load_codebook = None
        try:
            cb = load_codebook(codebook) if load_codebook is not None else pd.read_csv(codebook)
        except TypeError:  # load_codebook() without a path argument
            cb = pd.read_csv(codebook)
        except OSError as exc:
            raise SurveyReadError(f"codebook {codebook}: cannot be read: {exc.strerror or exc}") from exc
    else:
        raise OptionError(f"codebook must be a DataFrame or a path, got {type(codebook).__name__}")
    if "item" not in cb.columns and cb.index.name == "item":
        cb = cb.reset_index()
    missing = [c for c in ("item", "scale_min", "scale_max") if c not in cb.columns]
    if missing:
        raise OptionError(f"codebook lacks the column(s) {', '.join(missing)}")
    return cb


def _codebook_items(cb: pd.DataFrame) -> pd.DataFrame:
    """Rows of the codebook that describe Likert items (``kind == 'item'``)."""
    if "kind" in cb.columns:
        cb = cb[cb["kind"].astype(str).str.strip().str.lower().isin(["item", "nan", ""])]
    return cb


def _is_texty(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _numeric_or_none(value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _to_number_series(s: pd.Series) -> pd.Series:
    """Text column whose non-missing values are all numbers -> numeric dtype."""
    num = pd.to_numeric(s.astype(object).where(s.notna(), None), errors="coerce")
    finite = num.dropna()
    if len(finite) and np.all(np.isfinite(finite)) and np.all(np.mod(finite, 1) == 0) and num.notna().all():
        return num.astype("int64")
    return num


# --------------------------------------------------------------------------- text files
def _utf16_without_bom(sample: bytes) -> str | None:
    """``"utf-16-le"``/``"utf-16-be"`` when ``sample`` is unmistakably BOM-less UTF-16 text.

    That is: an even number of bytes, every second byte NUL and none of the others
    (ASCII/Latin-1 text, as survey exports are). Anything less regular stays
    ambiguous and is refused as binary.
    """
    if len(sample) < 4 or len(sample) % 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) == len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) == len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _decode(raw: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    if encoding is not None:
        enc = encoding
    elif raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        enc = "utf-32"
    elif raw.startswith(codecs.BOM_UTF8):
        enc = "utf-8-sig"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        enc = "utf-16"
    else:
        head = raw[:8]
        if head.startswith(b"PK\x03\x04"):
            raise SurveyReadError(
                f"survey file {name}: is a zip archive (an XLSX workbook?), not text; give it the .xlsx extension"
            )
        if head.startswith((b"$FL2", b"$FL3")):
            raise SurveyReadError(f"survey file {name}: is an SPSS data file, not text; give it the .sav extension")
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise SurveyReadError(
                f"survey file {name}: is a legacy binary Office file (.xls?), not text; save it as .xlsx or CSV"
            )
        enc16 = _utf16_without_bom(raw[:65536])
        if enc16 is not None:
            enc = enc16
        elif b"\x00" in raw[:65536]:
            raise SurveyReadError(
                f"survey file {name}: contains NUL bytes, so it is binary (or UTF-16 without a byte-order mark); "
                "save it as UTF-8 CSV"
            )
        else:
            enc = "utf-8"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SurveyReadError(
            f"survey file {name}: is not valid {enc} text (undecodable byte 0x{raw[exc.start]:02x} on line {line}); "
            "save it as UTF-8 or pass encoding="
        ) from exc
    except LookupError as exc:
        raise OptionError(f"unknown text encoding {enc!r}") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\t\r\n\f\v")
    if bad:
        raise SurveyReadError(
            f"survey file {name}: contains {bad} control characters in its first 64 KiB, so it looks binary, not text"
        )
    return text, enc


def _sniff_delimiter(text: str, fmt: str) -> str:
    if fmt == "tsv":
        return "\t"
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    sample = "\n".join(lines)
    best: tuple[tuple[bool, int], str] | None = None
    for delim in _DELIMITERS:
        rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delim) if r]
        if not rows or len(rows[0]) < 2:
            continue
        counts = [len(r) for r in rows]
        body = counts[:-1] if len(counts) > 2 else counts  # the last sampled line may be cut
        score = (all(c == counts[0] for c in body), counts[0])
        if best is None or score > best[0]:
            best = (score, delim)
    return best[1] if best else ","


def _read_text(path: Path, fmt: str, encoding: str | None) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    name = str(path)
    with open(path, "rb") as fh:  # read-only
        raw = fh.read()
    text, enc = _decode(raw, name, encoding)
    if not text.strip():
        raise SurveyReadError(f"survey file {name}: is empty (no header line)")
    if "\r" in text:  # Windows (CRLF) and classic Mac (CR) line endings
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    delim = _sniff_delimiter(text, fmt)
    try:
        header = next((r for r in csv.reader(io.StringIO(text), delimiter=delim) if any(c.strip() for c in r)), [])
    except csv.Error as exc:
        raise SurveyReadError(f"survey file {name}: cannot be parsed as {_DELIM_NAMES[delim]}-separated text: {exc}") from exc
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, skipinitialspace=True, engine="c")
    except pd.errors.EmptyDataError as exc:
        raise SurveyReadError(f"survey file {name}: is empty (no header line)") from exc
    except pd.errors.ParserError as exc:
        msg = " ".join(str(exc).split())
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            msg = f"line {m.group(2)} has {m.group(3)} fields but the header has {m.group(1)}"
        raise SurveyReadError(
            f"survey file {name}: cannot be parsed as {_DELIM_NAMES[delim]}-separated text: {msg}"
        ) from exc
    meta: dict[str, Any] = {"encoding": enc, "delimiter": delim}
    if delim == ";":
        fixed = []
        for col in df.columns:
            s = df[col]
            if _is_texty(s):
                vals = s.dropna().astype(str).str.strip()
                if len(vals) and vals.str.fullmatch(r"[-+]?\d+(,\d+)?").all() and vals.str.contains(",").any():
                    df[col] = pd.to_numeric(
                        s.astype(str).str.strip().str.replace(",", ".", regex=False).where(s.notna())
                    )
                    fixed.append(str(col))
        if fixed:
            meta["decimal_comma"] = fixed
    return df, [str(h) for h in header], meta


# --------------------------------------------------------------------------- excel, spss, stata
def _read_excel(path: Path, sheet: int | str) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    name = str(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise SurveyReadError(f"survey file {name}: is not a valid XLSX workbook ({type(exc).__name__})") from exc
    try:
        names = list(wb.sheetnames)
        if isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise SurveyReadError(
                    f"survey file {name}: has {len(names)} sheet(s), so sheet index {sheet} does not exist"
                )
            sheet_name = names[sheet]
        else:
            if sheet not in names:
                raise SurveyReadError(f"survey file {name}: has no sheet {sheet!r}; sheets: {', '.join(names)}")
            sheet_name = sheet
        ws = wb[sheet_name]
        header_row = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
    finally:
        wb.close()
    header = [("" if h is None else str(h)) for h in header_row]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise SurveyReadError(f"survey file {name}: sheet {sheet_name!r} is empty (no header row)")
    df = pd.read_excel(path, sheet_name=sheet_name, engine="openpyxl")
    return df, header, {"sheet": sheet_name}


def _apply_user_missing(df: pd.DataFrame, ranges: Mapping[str, list[dict]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for col, specs in ranges.items():
        if col not in df.columns:
            continue
        s = df[col]
        mask = pd.Series(False, index=df.index)
        for spec in specs:
            lo, hi = spec.get("lo"), spec.get("hi")
            if pd.api.types.is_numeric_dtype(s):
                mask |= (s >= lo) & (s <= hi)
            else:
                mask |= s.astype(str).str.strip().eq(str(lo).strip())
        n = int(mask.sum())
        if n:
            df[col] = s.mask(mask)
            counts[col] = n
    return counts


def _read_stat(path: Path, fmt: str) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    import pyreadstat

    name = str(path)
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    try:
        df, meta = reader(str(path), user_missing=True)
    except Exception as exc:  # pyreadstat raises its own ReadstatError/PyreadstatError
        kind = "SPSS (.sav)" if fmt == "sav" else "Stata (.dta)"
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise SurveyReadError(f"survey file {name}: cannot be read as {kind} data: {detail}") from exc
    user_missing = _apply_user_missing(df, getattr(meta, "missing_ranges", None) or {})
    info: dict[str, Any] = {
        "value_labels": {k: dict(v) for k, v in (meta.variable_value_labels or {}).items()},
        "variable_labels": {k: v for k, v in (meta.column_names_to_labels or {}).items() if v},
        "user_missing": user_missing,
    }
    return df, list(df.columns), info


# --------------------------------------------------------------------------- value handling
def _code_strings(code: Any) -> set[str]:
    out = {str(code).strip()}
    num = _numeric_or_none(code)
    if num is not None and math.isfinite(num):
        out.add(repr(num))
        if num.is_integer():
            out.add(str(int(num)))
            out.add(f"{int(num)}.0")
    return out


def _recode_missing(df: pd.DataFrame, codes: Sequence[Any]) -> dict[str, int]:
    if not codes:
        return {}
    nums = [n for n in (_numeric_or_none(c) for c in codes) if n is not None]
    strs: set[str] = set()
    for c in codes:
        strs |= _code_strings(c)
    counts: dict[str, int] = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            mask = s.isin(nums) if nums else pd.Series(False, index=s.index)
        else:
            mask = s.notna() & s.astype(str).str.strip().isin(strs)
        n = int(mask.sum())
        if n:
            counts[str(col)] = n
            new = s.mask(mask)
            if _is_texty(s):
                rest = new.dropna()
                if len(rest) == 0 or all(_numeric_or_none(v) is not None for v in rest):
                    new = _to_number_series(new)
            df[col] = new
    return counts


def _normalise_na_text(df: pd.DataFrame) -> None:
    for col in df.columns:
        s = df[col]
        if _is_texty(s):
            mask = s.notna() & s.astype(str).str.strip().str.casefold().isin(_NA_STRINGS)
            if mask.any():
                df[col] = s.mask(mask)


def _map_labels(df: pd.DataFrame, cb: pd.DataFrame) -> dict[str, int]:
    counts: dict[str, int] = {}
    items = _codebook_items(cb)
    for _, row in items.iterrows():
        col = str(row["item"])
        if col not in df.columns or not _is_texty(df[col]):
            continue
        labels = _parse_scale_labels(row.get("scale_labels"))
        if not labels:
            continue
        by_code = {str(v): v for v in labels.values()}
        s = df[col]
        new = s.astype(object).copy()
        n = 0
        for idx, val in s.items():
            if pd.isna(val):
                continue
            key = _norm_label(val)
            num = _numeric_or_none(val)
            if num is not None and isinstance(val, str):
                new[idx] = int(num) if num.is_integer() else num
                continue
            if key in labels:
                new[idx] = labels[key]
                n += 1
                continue
            m = re.fullmatch(r"(\d+)\s*[=:.\-–]\s*(.+)", key)
            if m and m.group(1) in by_code and _norm_label(m.group(2)) in labels:
                new[idx] = labels[_norm_label(m.group(2))]
                n += 1
        if n:
            counts[col] = n
            rest = new.dropna()
            if all(_numeric_or_none(v) is not None for v in rest):
                new = _to_number_series(new)
            df[col] = new
    return counts


# --------------------------------------------------------------------------- public
def read_survey(
    path: str | os.PathLike,
    *,
    codebook: pd.DataFrame | str | os.PathLike | None = None,
    missing_codes: Iterable[Any] = (),
    sheet: int | str = 0,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a survey data file into a DataFrame, one row per respondent.

    Parameters
    ----------
    path : str or path-like
        ``.csv``/``.txt`` (delimiter sniffed among ``,``, tab, ``;`` and ``|``),
        ``.tsv``/``.tab``, ``.xlsx``/``.xlsm`` (read with openpyxl), ``.sav``/``.zsav``
        (SPSS, read with pyreadstat) or ``.dta`` (Stata). Text files may be
        UTF-8 (with or without byte-order mark), UTF-16/UTF-32 with a
        byte-order mark, or UTF-16 without one when that is unmistakable (every
        second byte NUL); line endings may be LF, CRLF or CR.
    codebook : DataFrame or path, optional
        Codebook (see ``datasets/codebook.csv``). When given, text answers that
        match an item's ``scale_labels`` (case-insensitive) are replaced by the
        numeric codes.
    missing_codes : iterable, optional
        Values that mean "missing" (e.g. ``(-99, -9)`` or ``("DK",)``); they
        become NA in every column.
    sheet : int or str, default 0
        Worksheet of an XLSX file (index or name).
    encoding : str, optional
        Force the text encoding of CSV/TSV files (default: detected from the
        byte-order mark, else UTF-8).

    Returns
    -------
    pandas.DataFrame
        ``df.attrs`` holds ``source_file``, ``format``, ``missing_recoded``
        (column -> number of values set to NA by ``missing_codes`` or SPSS
        user-missing definitions), ``labels_mapped`` (column -> number of text
        answers replaced by codes), and, by format, ``encoding``,
        ``delimiter``, ``sheet``, ``value_labels``, ``variable_labels``.

    Raises
    ------
    SurveyReadError
        Missing file, directory, empty file, header without data rows,
        binary or undecodable content, duplicated column names, unknown
        extension, corrupt workbook/SPSS file.
    ResourceLimitError
        The file is larger than :func:`max_file_bytes`.

    Examples
    --------
    >>> import asymtrust, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = p.write_text("rol1;rol2\\n1;-99\\n7;5\\n")
    >>> df = asymtrust.read_survey(p, missing_codes=[-99])
    >>> df.attrs["delimiter"], df.attrs["missing_recoded"]
    (';', {'rol2': 1})
    """
    codes = list(missing_codes)
    p = Path(path)
    name = str(p)
    if not p.exists():
        raise SurveyReadError(f"survey file {name}: not found")
    if p.is_dir():
        raise SurveyReadError(f"survey file {name}: is a directory, not a file")
    ext = p.suffix.lower()
    fmt = _TEXT_EXT.get(ext) or _EXCEL_EXT.get(ext) or _STAT_EXT.get(ext)
    if fmt is None:
        if ext == ".xls":
            raise SurveyReadError(
                f"survey file {name}: legacy .xls workbooks are not supported; save it as .xlsx or CSV"
            )
        raise SurveyReadError(
            f"survey file {name}: unknown file type {ext or '(no extension)'!r}; supported: "
            f"{', '.join(SUPPORTED_EXTENSIONS)}"
        )
    size = p.stat().st_size
    limit = max_file_bytes()
    if size > limit:
        raise ResourceLimitError(
            f"survey file {name}: is {_fmt_bytes(size)}, above the limit of {_fmt_bytes(limit)} (set "
            f"ASYMTRUST_MAX_FILE_BYTES to raise it)"
        )
    if size == 0:
        raise SurveyReadError(f"survey file {name}: is empty (0 bytes)")

    try:
        if fmt in ("csv", "tsv"):
            df, header, meta = _read_text(p, fmt, encoding)
        elif fmt == "xlsx":
            df, header, meta = _read_excel(p, sheet)
        else:
            df, header, meta = _read_stat(p, fmt)
    except PermissionError as exc:
        raise SurveyReadError(f"survey file {name}: cannot be opened: permission denied") from exc
    except IsADirectoryError as exc:  # pragma: no cover - checked above
        raise SurveyReadError(f"survey file {name}: is a directory, not a file") from exc

    if not df.index.equals(pd.RangeIndex(len(df))):
        raise SurveyReadError(
            f"survey file {name}: data rows have more fields than the header ({len(header)} names); check the "
            f"delimiter and quoting"
        )
    stripped = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for h in stripped:
        if h:
            seen[h] = seen.get(h, 0) + 1
    dups = [h for h, k in seen.items() if k > 1]
    if dups:
        raise SurveyReadError(
            f"survey file {name}: duplicated column name(s) {', '.join(repr(d) for d in dups)}; every column "
            f"needs a unique name"
        )
    if len(stripped) == df.shape[1]:
        df.columns = [h or str(c).strip() for h, c in zip(stripped, df.columns, strict=True)]
    else:
        df.columns = [str(c).strip() for c in df.columns]
    if df.shape[1] == 0:
        raise SurveyReadError(f"survey file {name}: has no columns")
    if len(df) == 0:
        raise SurveyReadError(f"survey file {name}: has a header ({df.shape[1]} columns) but no data rows")

    _normalise_na_text(df)
    recoded: dict[str, int] = dict(meta.pop("user_missing", {}) or {})
    for col, n in _recode_missing(df, codes).items():
        recoded[col] = recoded.get(col, 0) + n
    mapped: dict[str, int] = {}
    cb = _as_codebook(codebook)
    if cb is not None:
        mapped = _map_labels(df, cb)

    df.attrs.update(meta)
    df.attrs["source_file"] = name
    df.attrs["format"] = fmt
    df.attrs["missing_codes"] = codes
    df.attrs["missing_recoded"] = recoded
    df.attrs["labels_mapped"] = mapped
    return df
