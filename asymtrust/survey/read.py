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
* Stata's missing values (``.``, ``.a`` ... ``.z``) in ``.dta`` files, and in
  otherwise numeric columns of text exports, become missing; counts are kept in
  ``df.attrs["extended_missing"]`` (and added to ``missing_recoded``).
* ``"inf"``/``"-inf"`` are parsed by pandas as infinite floats; they are *not*
  removed here, :func:`asymtrust.validate` reports them as errors.

How text files are read: in chunks of about 2 MiB with pandas' C parser, each column
kept in its most compact exact type (small integers, ``float32`` for whole numbers
with gaps), so that the peak memory stays near the size of the result (about 1.6
times the file for a typical survey export; ``benchmarks/bench_read.py``). The whole
file is checked to decode first, block by block. A named pipe is read whole into
memory first (its size is unknown until it ends), still within ``max_file_bytes``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import math
import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from .._resources import env_positive_int, fmt_bytes
from ..exceptions import OptionError, ResourceLimitError, SurveyReadError

__all__ = ["read_survey", "max_file_bytes", "max_field_chars", "SUPPORTED_EXTENSIONS"]

#: default largest file read_survey accepts (2 GiB); override with ASYMTRUST_MAX_FILE_BYTES
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3

_TEXT_EXT = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv"}
_EXCEL_EXT = {".xlsx": "xlsx", ".xlsm": "xlsx"}
_STAT_EXT = {".sav": "sav", ".zsav": "sav", ".dta": "dta"}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted({**_TEXT_EXT, **_EXCEL_EXT, **_STAT_EXT}))

#: strings that always mean "missing" in text columns
_NA_STRINGS = frozenset({"", "na", "nan", "n/a", "null", "none", "#n/a"})
#: blanks that may surround an NA string ("  NA ")
_BLANKS = (" ", "\t", "\n", "\r", "\xa0", "\u3000")
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
    return env_positive_int("ASYMTRUST_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES, "bytes")


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
            from ..library.codebook import load_codebook
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


# --------------------------------------------------------------------------- sources
class _Source:
    """What :func:`read_survey` reads: a regular file (by path; opened as often as
    needed, never loaded whole) or the bytes a stream delivered (a named pipe, e.g.
    bash's ``<(...)``), read once."""

    def __init__(self, path: Path, data: bytes | None = None):
        self.path = path
        self.data = data

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")  # read-only

    def target(self) -> str | BinaryIO:
        """For libraries that take a path or a binary file object (pandas, openpyxl)."""
        return io.BytesIO(self.data) if self.data is not None else str(self.path)


_STREAM_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device",
                 stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def _read_stream(path: Path, name: str, kind: str, limit: int) -> bytes:
    """All bytes a named pipe delivers, refusing more than ``limit``."""
    blocks: list[bytes] = []
    total = 0
    with open(path, "rb") as fh:  # read-only; blocks until a writer opens the pipe, as `cat` does
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            total += len(block)
            if total > limit:
                raise ResourceLimitError(
                    f"survey file {name}: {kind} that delivered more than the limit of {fmt_bytes(limit)} (set "
                    f"ASYMTRUST_MAX_FILE_BYTES to raise it)"
                )
            blocks.append(block)
    return b"".join(blocks)


def _sniff_format(data: bytes) -> str:
    """Format of a stream without a file extension, from its first bytes."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith((b"$FL2", b"$FL3")):
        return "sav"
    return "csv"


# --------------------------------------------------------------------------- text files
#: bytes of the start of a text file used to sniff the delimiter and read the header
_HEAD_BYTES = 1 << 20
#: bytes of text per chunk when parsing (the parser needs about 10 times that at once)
_CHUNK_BYTES = 2 << 20
#: bytes per block when checking that the whole file decodes
_DECODE_BYTES = 1 << 20
#: default longest text field, in characters; override with ASYMTRUST_MAX_FIELD_CHARS
DEFAULT_MAX_FIELD_CHARS = 1 << 20
#: Stata's missing values as they appear in exported text: "." and ".a" ... ".z"
_STATA_MISSING = r"\.[a-z]?"
#: whole numbers up to this size are exact in float32
_FLOAT32_EXACT = 2**24


def max_field_chars() -> int:
    """Longest text field (one answer) :func:`read_survey` accepts, in characters.

    Read from the environment variable ``ASYMTRUST_MAX_FIELD_CHARS``; the default is
    1,048,576. Longer fields are refused with a :class:`SurveyReadError` naming the
    column and the row (often an unclosed quote swallowed the rest of the file).
    """
    return env_positive_int("ASYMTRUST_MAX_FIELD_CHARS", DEFAULT_MAX_FIELD_CHARS, "characters")


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


def _detect_encoding(head: bytes, name: str, encoding: str | None) -> str:
    """The encoding of a text file from its first bytes (byte-order mark, NUL pattern),
    refusing files that are plainly binary."""
    if encoding is not None:
        try:
            canonical = codecs.lookup(encoding).name
        except LookupError as exc:
            raise OptionError(f"unknown text encoding {encoding!r}") from exc
        if canonical == "utf-8" and head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        return encoding
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    magic = head[:8]
    if magic.startswith(b"PK\x03\x04"):
        raise SurveyReadError(
            f"survey file {name}: is a zip archive (an XLSX workbook?), not text; give it the .xlsx extension"
        )
    if magic.startswith((b"$FL2", b"$FL3")):
        raise SurveyReadError(f"survey file {name}: is an SPSS data file, not text; give it the .sav extension")
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise SurveyReadError(
            f"survey file {name}: is a legacy binary Office file (.xls?), not text; save it as .xlsx or CSV"
        )
    enc16 = _utf16_without_bom(head[:65536])
    if enc16 is not None:
        return enc16
    if b"\x00" in head[:65536]:
        raise SurveyReadError(
            f"survey file {name}: contains NUL bytes, so it is binary (or UTF-16 without a byte-order mark); "
            "save it as UTF-8 CSV"
        )
    return "utf-8"


def _check_decodable(src: _Source, enc: str, name: str) -> None:
    """Decode the whole file block by block (bounded memory); name the line of the
    first undecodable byte."""
    try:
        dec = codecs.getincrementaldecoder(enc)("strict")
    except LookupError as exc:
        raise OptionError(f"unknown text encoding {enc!r}") from exc
    lines = 0
    with src.open() as fh:
        while True:
            block = fh.read(_DECODE_BYTES)
            state = dec.getstate()[0]
            pending = state if isinstance(state, bytes) else b""
            try:
                dec.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                data = bytes(exc.object)
                line = lines + data[: exc.start].count(b"\n") - pending.count(b"\n") + 1
                bad = f"0x{data[exc.start]:02x}" if exc.start < len(data) else "at the end"
                raise SurveyReadError(
                    f"survey file {name}: is not valid {enc} text (undecodable byte {bad} on line {line}); "
                    "save it as UTF-8 or pass encoding="
                ) from exc
            if not block:
                return
            lines += block.count(b"\n")


def _head_text(src: _Source, enc: str) -> tuple[str, int, bool]:
    """The decoded start of the file (at least :data:`_HEAD_BYTES`, more while blank):
    text with ``\\n`` line ends and no BOM, the bytes it came from, and whether it is the
    whole file."""
    dec = codecs.getincrementaldecoder(enc)("strict")
    parts: list[str] = []
    nbytes = 0
    done = False
    with src.open() as fh:
        while True:
            block = fh.read(_HEAD_BYTES)
            done = not block
            parts.append(dec.decode(block, final=done))
            nbytes += len(block)
            if done or (nbytes >= _HEAD_BYTES and any(p.strip() for p in parts)):
                break
    text = "".join(parts)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:  # Windows (CRLF) and classic Mac (CR) line endings
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, nbytes, done


@contextlib.contextmanager
def _csv_field_limit(chars: int):
    """Let the csv module read fields up to ``chars`` long (its default stops at 131,072)."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, min(chars, sys.maxsize)))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _sniff_delimiter(text: str, fmt: str) -> str:
    if fmt == "tsv":
        return "\t"
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    sample = "\n".join(lines)
    best: tuple[tuple[bool, int], str] | None = None
    with _csv_field_limit(len(sample) + 1):
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


def _check_duplicates(header: Sequence[str], name: str) -> None:
    seen: dict[str, int] = {}
    for h in (str(h).strip() for h in header):
        if h:
            seen[h] = seen.get(h, 0) + 1
    dups = [h for h, k in seen.items() if k > 1]
    if dups:
        raise SurveyReadError(
            f"survey file {name}: duplicated column name(s) {', '.join(repr(d) for d in dups)}; every column "
            f"needs a unique name"
        )


def _int_dtype(lo: int, hi: int) -> np.dtype:
    """Smallest signed integer type holding four times the largest magnitude (room for
    sums such as ``scale_min + scale_max - x``)."""
    m = 4 * max(abs(lo), abs(hi))
    for t in (np.int8, np.int16, np.int32):
        if m <= np.iinfo(t).max:
            return np.dtype(t)
    return np.dtype(np.int64)


def _is_text(s: pd.Series) -> bool:
    """A column of strings: pandas' str dtype (pandas 3), or an object column whose
    values are all strings (pandas 2)."""
    if isinstance(s.dtype, pd.StringDtype):
        return True
    return s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) == "string"


def _stata_split(s: pd.Series) -> tuple[np.ndarray, int] | None:
    """A text column holding numbers and Stata missing values (``.``, ``.a`` ... ``.z``)
    -> (the numbers as float64 with NaN for the codes, how many codes); else ``None``."""
    if not _is_text(s):
        return None
    if not s.str.contains(".", regex=False).to_numpy(dtype=bool, na_value=False).any():
        return None  # no code at all (the usual case): nothing to strip
    st = s.str.strip()
    code = st.str.fullmatch(_STATA_MISSING).fillna(False).to_numpy(dtype=bool)
    if not code.any():
        return None
    num = pd.to_numeric(st.where(~code), errors="coerce")
    if (s.notna().to_numpy() & ~code & num.isna().to_numpy()).any():
        return None
    return num.to_numpy(dtype=np.float64, na_value=np.nan), int(code.sum())


class _Column:
    """One column of a CSV read chunk by chunk: each chunk's values in the most compact
    exact type, and what the chunks hold (so that the whole column gets the type pandas
    would infer from the whole file, stored compactly)."""

    __slots__ = ("parts", "kinds", "lo", "hi", "integral", "has_nan", "stata")

    def __init__(self) -> None:
        self.parts: list[tuple[str, Any]] = []
        self.kinds: set[str] = set()
        self.lo = math.inf
        self.hi = -math.inf
        self.integral = True  # every finite value is a whole number
        self.has_nan = False
        self.stata = 0

    def add(self, s: pd.Series) -> None:
        n = len(s)
        if n == 0:
            return
        dt = s.dtype
        if dt.kind == "b":
            self._keep("bool", s.to_numpy())
        elif dt.kind == "i":
            arr = s.to_numpy()
            lo, hi = int(arr.min()), int(arr.max())
            self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
            self._keep("int", arr.astype(_int_dtype(lo, hi)))
        elif dt.kind == "f":
            arr = s.to_numpy()
            if np.isnan(arr).all():
                self._empty(n)
            else:
                self._add_float(arr.astype(np.float64, copy=False))
        elif not s.notna().any():
            self._empty(n)
        elif _is_text(s):  # pandas' str dtype, or Python strings in an object column (pandas 2)
            split = _stata_split(s)
            if split is not None:
                self.stata += split[1]
                self._add_float(split[0])
            else:
                self._keep("text", s.reset_index(drop=True))
        elif dt == object and pd.api.types.infer_dtype(s, skipna=True) == "boolean":
            self._keep("objbool", s.to_numpy(dtype=object))
        else:
            self._keep("other", s.reset_index(drop=True))

    def _empty(self, n: int) -> None:
        self.parts.append(("empty", n))
        self.has_nan = True

    def _keep(self, kind: str, payload: Any) -> None:
        self.kinds.add(kind)
        self.parts.append((kind, payload))

    def _add_float(self, arr: np.ndarray) -> None:
        finite = np.isfinite(arr)
        if not finite.all():
            self.has_nan = self.has_nan or bool(np.isnan(arr).any())
            if np.isinf(arr).any():
                self.integral = False
        vals = arr[finite] if not finite.all() else arr
        whole = True
        if len(vals):
            lo, hi = float(vals.min()), float(vals.max())
            self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
            whole = bool(np.all(vals == np.trunc(vals)))
            self.integral = self.integral and whole
        small = len(vals) == 0 or max(abs(self.lo), abs(self.hi)) <= _FLOAT32_EXACT
        self._keep("float", arr.astype(np.float32) if whole and small else arr)

    def readable(self) -> bool:
        """Whether the chunks agree on a type (else the column is read again as text)."""
        k = self.kinds
        return k <= {"int", "float"} or k <= {"bool", "objbool"} or len(k) == 1

    def build(self, n: int) -> Any:
        """The whole column (numpy array or Series), or ``None`` when the chunks disagree
        (numbers in one, text in another): then the column is read again as text."""
        kinds = self.kinds
        if kinds <= {"int", "float"}:
            if kinds == {"int"} and not self.has_nan:
                dtype = _int_dtype(int(self.lo), int(self.hi))
            elif self.integral and (not kinds or max(abs(self.lo), abs(self.hi)) <= _FLOAT32_EXACT):
                dtype = np.dtype(np.float32)
            else:
                dtype = np.dtype(np.float64)
            return self._fill(np.empty(n, dtype=dtype), np.nan)
        if kinds == {"bool"} and not self.has_nan:
            return self._fill(np.empty(n, dtype=bool), None)
        if kinds <= {"bool", "objbool"}:
            return self._fill(np.empty(n, dtype=object), np.nan)
        if len(kinds) == 1:  # text (or another single type): as pandas would give it
            ref = next(p for k, p in self.parts if k != "empty")
            pieces = [p if k != "empty" else pd.Series(np.nan, index=range(p), dtype=ref.dtype)
                      for k, p in self.parts]
            self.parts = []
            return pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
        return None

    def _fill(self, out: np.ndarray, missing: Any) -> np.ndarray:
        pos = 0
        parts, self.parts = self.parts, []
        parts.reverse()
        while parts:  # free each chunk as soon as it is copied
            kind, payload = parts.pop()
            k = payload if kind == "empty" else len(payload)
            out[pos : pos + k] = missing if kind == "empty" else payload
            pos += k
        return out


_LIBC: Any = None


def _release_memory() -> None:
    """Hand freed heap memory back to the operating system (glibc's ``malloc_trim``).

    The chunks of a column are small allocations interleaved with those of the other
    columns; once a column is assembled its chunks are freed, but glibc keeps the pages
    unless asked, and the peak would hold every chunk and every assembled column at once.
    A no-op where glibc is not the C library.
    """
    global _LIBC
    if _LIBC is None:
        _LIBC = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL("libc.so.6")
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                _LIBC = libc
            except (OSError, AttributeError):
                _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


def _read_text(src: _Source, fmt: str, encoding: str | None) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Read a delimited text file chunk by chunk, keeping each column in its most
    compact exact type: peak memory stays near the size of the result, not a multiple
    of the file."""
    name = str(src.path)
    with src.open() as fh:
        first = fh.read(65536)
    enc = _detect_encoding(first, name, encoding)
    _check_decodable(src, enc, name)
    head, head_bytes, _ = _head_text(src, enc)
    if not head.strip():
        raise SurveyReadError(f"survey file {name}: is empty (no header line)")
    bad = sum(1 for ch in head[:65536] if ord(ch) < 32 and ch not in "\t\n\f\v")
    if bad:
        raise SurveyReadError(
            f"survey file {name}: contains {bad} control characters in its first 64 KiB, so it looks binary, not text"
        )
    delim = _sniff_delimiter(head, fmt)
    try:
        with _csv_field_limit(len(head) + 1):
            header = next((r for r in csv.reader(io.StringIO(head), delimiter=delim) if any(c.strip() for c in r)),
                          [])
    except csv.Error as exc:
        raise SurveyReadError(
            f"survey file {name}: cannot be parsed as {_DELIM_NAMES[delim]}-separated text: {exc}"
        ) from exc
    _check_duplicates(header, name)

    per_row = max(1.0, head_bytes / max(1, head.count("\n")))
    rows = int(min(500_000, max(1_000, _CHUNK_BYTES / per_row)))
    options = dict(sep=delim, skipinitialspace=True, engine="c", encoding=enc, low_memory=False)
    columns: list[_Column] = []
    names: list[str] = []
    n = 0
    try:
        with pd.read_csv(src.target(), chunksize=rows, **options) as reader:
            for chunk in reader:
                if not columns:
                    names = [str(c) for c in chunk.columns]
                    columns = [_Column() for _ in names]
                if not (isinstance(chunk.index, pd.RangeIndex) and chunk.index.start == n and chunk.index.step == 1):
                    raise SurveyReadError(
                        f"survey file {name}: data rows have more fields than the header ({len(header)} names); "
                        f"check the delimiter and quoting"
                    )
                for col, (_, values) in zip(columns, chunk.items(), strict=True):
                    col.add(values)
                n += len(chunk)
                del chunk
            again = [j for j, col in enumerate(columns) if not col.readable()]
    except pd.errors.EmptyDataError as exc:
        raise SurveyReadError(f"survey file {name}: is empty (no header line)") from exc
    except pd.errors.ParserError as exc:
        raise SurveyReadError(
            f"survey file {name}: cannot be parsed as {_DELIM_NAMES[delim]}-separated text: {_parser_message(exc)}"
        ) from exc
    if not columns:  # pragma: no cover - pandas yields an empty first chunk for a header-only file
        names = [h.strip() for h in header]
        columns = [_Column() for _ in names]

    data: dict[int, Any] = {}
    stata: dict[int, int] = {}
    for j, col in enumerate(columns):
        if j in again:
            continue
        data[j] = col.build(n)
        if col.stata and isinstance(data[j], np.ndarray) and data[j].dtype.kind == "f":
            stata[j] = col.stata
        columns[j] = _Column()  # drop the chunks
        _release_memory()
    if again:  # numbers in some chunks, text in others: the whole column as text, as pandas reads it
        with pd.read_csv(src.target(), chunksize=rows, usecols=again, dtype=str, **options) as reader:
            pieces: dict[int, list[pd.Series]] = {j: [] for j in again}
            for chunk in reader:
                for k, j in enumerate(again):
                    pieces[j].append(chunk.iloc[:, k])
        for j in again:
            s = pd.concat(pieces.pop(j), ignore_index=True)
            split = _stata_split(s)
            if split is not None:
                data[j] = _compact(pd.Series(split[0])).to_numpy()
                stata[j] = split[1]
            else:
                data[j] = s
    df = pd.DataFrame({j: data.pop(j) for j in range(len(columns))}, copy=False)
    df.columns = names

    limit = max_field_chars()
    for j in range(df.shape[1]):
        s = df.iloc[:, j]
        if len(s) and _is_text(s):
            lengths = s.str.len()
            longest = lengths.max()
            if pd.notna(longest) and int(longest) > limit:
                row = int(lengths.to_numpy(dtype=float, na_value=-1).argmax())
                col = header[j].strip() if j < len(header) and header[j].strip() else names[j]
                raise SurveyReadError(
                    f"survey file {name}: column {col!r}, data row {row + 1}, holds a field of {int(longest):,} "
                    f"characters, above the limit of {limit:,} (an unclosed quote?); set ASYMTRUST_MAX_FIELD_CHARS "
                    f"to raise it"
                )

    meta: dict[str, Any] = {"encoding": enc, "delimiter": delim}
    if stata:
        meta["_stata_missing_at"] = stata
    if delim == ";":
        fixed = []
        for j in range(df.shape[1]):
            s = df.iloc[:, j]
            if _is_texty(s):
                vals = s.dropna().astype(str).str.strip()
                if len(vals) and vals.str.fullmatch(r"[-+]?\d+(,\d+)?").all() and vals.str.contains(",").any():
                    df.isetitem(j, _compact(pd.to_numeric(
                        s.astype(str).str.strip().str.replace(",", ".", regex=False).where(s.notna())
                    )))
                    fixed.append(str(df.columns[j]))
        if fixed:
            meta["decimal_comma"] = fixed
    return df, [str(h) for h in header], meta


def _parser_message(exc: Exception) -> str:
    msg = " ".join(str(exc).split())
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        msg = f"line {m.group(2)} has {m.group(3)} fields but the header has {m.group(1)}"
    return msg


def _compact(s: pd.Series) -> pd.Series:
    """A numeric column in its most compact exact type: whole numbers without gaps as
    small integers, whole numbers with gaps (NaN) as float32; other columns unchanged."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s
    if isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
        return s
    arr = s.to_numpy()
    if arr.dtype.kind == "i" and len(arr):
        return s.astype(_int_dtype(int(arr.min()), int(arr.max())))
    if arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        if len(finite) < len(arr) and np.isinf(arr).any():
            return s
        if len(finite) == 0 or (np.all(finite == np.trunc(finite)) and np.abs(finite).max() <= _FLOAT32_EXACT):
            return s.astype(np.float32)
    return s


# --------------------------------------------------------------------------- excel, spss, stata
def _other_sheets_hint(sheets: Sequence[str], current: str) -> str:
    """``"; the workbook also has the sheet(s) 'Data', 'Codes': ..."`` (empty with one sheet)."""
    others = [s for s in sheets if s != current]
    if not others:
        return ""
    shown = ", ".join(repr(s) for s in others[:10]) + (f", ... ({len(others) - 10} more)" if len(others) > 10 else "")
    return (f"; the workbook also has the sheet(s) {shown}: pick the data sheet with sheet=NAME "
            f"(CLI: --sheet NAME)")


def _looks_like_prose(header: Sequence[str]) -> bool:
    """A header row that is one sentence, not column names: a single cell with several
    words (a read-me or title sheet)."""
    cells = [h for h in header if h.strip()]
    return len(cells) == 1 and len(cells[0]) > 30 and len(cells[0].split()) >= 5


def _short(text: str, width: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _pick_sheet(names: Sequence[str], sheet: int | str | None, name: str) -> str:
    """The sheet ``sheet`` names: a sheet of that name first, else an index (from 0)."""
    listing = ", ".join(names)
    if sheet is None:
        index = 0
    elif isinstance(sheet, (bool, np.bool_)):
        raise OptionError(f"sheet must be a sheet name or an index from 0, not {sheet!r}")
    elif isinstance(sheet, (int, np.integer)):
        index = int(sheet)
    elif isinstance(sheet, str):
        if sheet in names:
            return sheet
        if sheet.strip() in names:
            return sheet.strip()
        if not re.fullmatch(r"\d+", sheet.strip()):
            raise SurveyReadError(f"survey file {name}: has no sheet {sheet!r}; sheets: {listing}")
        index = int(sheet.strip())
    else:
        raise OptionError(f"sheet must be a sheet name or an index from 0, not {type(sheet).__name__}")
    if not 0 <= index < len(names):
        named = f" (and no sheet is named {sheet!r})" if isinstance(sheet, str) else ""
        raise SurveyReadError(
            f"survey file {name}: has {len(names)} sheet(s), so sheet index {index} does not exist{named}; "
            f"sheets: {listing}"
        )
    return names[index]


_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
#: what openpyxl returns for array and data-table formulas (not plain "=..." strings)
_FORMULA_TYPES = ("ArrayFormula", "DataTableFormula")


def _has_formulas(src: _Source) -> bool:
    """Whether any worksheet of the workbook holds a formula (a cheap scan of the XML)."""
    import zipfile

    try:
        with zipfile.ZipFile(src.target()) as zf:
            for part in zf.namelist():
                if not (part.startswith("xl/worksheets/") and part.endswith(".xml")):
                    continue
                with zf.open(part) as fh:
                    tail = b""
                    while True:
                        block = fh.read(1 << 20)
                        if not block:
                            break
                        if _FORMULA_TAG.search(tail + block):
                            return True
                        tail = block[-16:]
    except (zipfile.BadZipFile, OSError, KeyError):
        return False
    return False


def _uncached_formulas(src: _Source, sheet_name: str, header: Sequence[str], name: str) -> None:
    """Refuse formula cells that have no stored (cached) value.

    A workbook written by a program that does not calculate (a script using openpyxl,
    some exporters) stores only the formulas; reading values then gives empty cells.
    """
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    values = load_workbook(src.target(), read_only=True, data_only=True)
    formulas = load_workbook(src.target(), read_only=True, data_only=False)
    found: dict[int, list[Any]] = {}
    try:
        rows_v = values[sheet_name].iter_rows(min_row=2, values_only=True)
        rows_f = formulas[sheet_name].iter_rows(min_row=2, values_only=True)
        for r, (row_v, row_f) in enumerate(itertools.zip_longest(rows_v, rows_f, fillvalue=()), start=2):
            for j, (v, f) in enumerate(itertools.zip_longest(row_v, row_f)):
                if v is None and f is not None and (
                    (isinstance(f, str) and f.startswith("=")) or type(f).__name__ in _FORMULA_TYPES
                ):
                    hit = found.setdefault(j, [0, f"{get_column_letter(j + 1)}{r}", getattr(f, "text", f)])
                    hit[0] += 1
    finally:
        values.close()
        formulas.close()
    if not found:
        return
    j = min(found)
    k, cell, formula = found[j]
    col = header[j] if j < len(header) and header[j] else get_column_letter(j + 1)
    more = f" (and {len(found) - 1} more column(s))" if len(found) > 1 else ""
    raise SurveyReadError(
        f"survey file {name}: column {col!r} has {_plural_cells(k)} with a formula but no computed value (e.g. {cell}: "
        f"{str(formula)[:40]}){more}; the workbook was saved without calculating: open it in Excel or LibreOffice "
        f"and save it, so that the values are stored"
    )


def _plural_cells(k: int) -> str:
    return f"{k} cell" if k == 1 else f"{k} cells"


def _read_excel(src: _Source, sheet: int | str | None) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    name = str(src.path)
    try:
        wb = load_workbook(src.target(), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        if isinstance(exc, PermissionError):
            raise
        raise SurveyReadError(f"survey file {name}: is not a valid XLSX workbook ({type(exc).__name__})") from exc
    try:
        names = list(wb.sheetnames)
        if not names:
            raise SurveyReadError(f"survey file {name}: the workbook has no sheets")
        sheet_name = _pick_sheet(names, sheet, name)
        ws = wb[sheet_name]
        header_row = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
    finally:
        wb.close()
    header = [("" if h is None else str(h)) for h in header_row]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise SurveyReadError(
            f"survey file {name}: sheet {sheet_name!r} is empty (no header row){_other_sheets_hint(names, sheet_name)}"
        )
    default = sheet is None or (isinstance(sheet, (int, str)) and str(sheet).strip() == "0")
    if default and sheet_name == names[0] and len(names) > 1 and _looks_like_prose(header):
        raise SurveyReadError(
            f"survey file {name}: the first sheet {sheet_name!r} holds text, not a table of answers (a single column "
            f"headed {_short(header[0])!r}){_other_sheets_hint(names, sheet_name)}"
        )
    df = pd.read_excel(src.target(), sheet_name=sheet_name, engine="openpyxl")
    if len(df) == 0:
        raise SurveyReadError(
            f"survey file {name}: has a header ({df.shape[1]} columns) but no data rows in sheet {sheet_name!r}"
            f"{_other_sheets_hint(names, sheet_name)}"
        )
    if df.isna().to_numpy().any() and _has_formulas(src):
        _uncached_formulas(src, sheet_name, header, name)
    return df, header, {"sheet": sheet_name, "sheets": names}


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


def _stata_extended_missing(df: pd.DataFrame) -> dict[str, int]:
    """Stata's extended missing values ``.a`` ... ``.z``, which pyreadstat returns as the
    letters ``"a"`` ... ``"z"`` in otherwise numeric columns -> NaN, counted per column."""
    counts: dict[str, int] = {}
    for col in df.columns:
        s = df[col]
        if s.dtype != object:
            continue
        vals = s.dropna()
        letters = vals.map(lambda v: isinstance(v, str) and len(v) == 1 and "a" <= v <= "z")
        if not letters.any():
            continue
        rest = vals[~letters]
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in rest):
            continue
        k = int(letters.sum())
        df[col] = pd.to_numeric(s.where(~s.index.isin(letters[letters].index)), errors="coerce").astype(float)
        counts[str(col)] = k
    return counts


def _read_stat(src: _Source, fmt: str) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    import pyreadstat

    name = str(src.path)
    kind = "SPSS (.sav)" if fmt == "sav" else "Stata (.dta)"
    if src.data is not None:
        raise SurveyReadError(
            f"survey file {name}: is a named pipe; {kind} files must be regular files: save it to a file first"
        )
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    try:
        df, meta = reader(str(src.path), user_missing=True)
    except PermissionError:
        raise
    except Exception as exc:  # pyreadstat raises its own ReadstatError/PyreadstatError
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise SurveyReadError(f"survey file {name}: cannot be read as {kind} data: {detail}") from exc
    user_missing = _apply_user_missing(df, getattr(meta, "missing_ranges", None) or {})
    info: dict[str, Any] = {
        "value_labels": {k: dict(v) for k, v in (meta.variable_value_labels or {}).items()},
        "variable_labels": {k: v for k, v in (meta.column_names_to_labels or {}).items() if v},
        "user_missing": user_missing,
    }
    if fmt == "dta":
        extended = _stata_extended_missing(df)
        if extended:
            info["extended_missing"] = extended
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
    longest = max(len(v) for v in _NA_STRINGS)
    for j in range(df.shape[1]):
        s = df.iloc[:, j]
        if _is_texty(s):
            # only short values and values with surrounding blanks can be NA strings: look at
            # those alone, so that a long free-text column is never copied whole
            text = s.astype(str).where(s.notna()) if not isinstance(s.dtype, pd.StringDtype) else s
            cand = (text.str.len() <= longest).to_numpy(dtype=bool, na_value=False).copy()
            for blank in _BLANKS:
                cand |= text.str.startswith(blank).to_numpy(dtype=bool, na_value=False)
                cand |= text.str.endswith(blank).to_numpy(dtype=bool, na_value=False)
            if not cand.any():
                continue
            hit = text[cand].str.strip().str.lower().isin(_NA_STRINGS).to_numpy(dtype=bool)
            if hit.any():
                mask = np.zeros(len(s), dtype=bool)
                mask[np.flatnonzero(cand)[hit]] = True
                df.isetitem(j, s.mask(mask))


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
    sheet: int | str | None = 0,
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
        second byte NUL); line endings may be LF, CRLF or CR. A named pipe (e.g.
        bash's ``<(zcat survey.csv.gz)``) is read as a stream; without an
        extension its format is recognised from its first bytes.
    codebook : DataFrame or path, optional
        Codebook (see ``datasets/codebook.csv``). When given, text answers that
        match an item's ``scale_labels`` (case-insensitive) are replaced by the
        numeric codes.
    missing_codes : iterable, optional
        Values that mean "missing" (e.g. ``(-99, -9)`` or ``("DK",)``); they
        become NA in every column.
    sheet : str or int, default 0
        Worksheet of an XLSX file: a sheet of that name when there is one (a
        sheet may be called ``"2024"``), else an index counting from 0 (an int, or
        a string of digits). Only for workbooks.
    encoding : str, optional
        Force the text encoding of CSV/TSV files (default: detected from the
        byte-order mark, else UTF-8).

    Returns
    -------
    pandas.DataFrame
        ``df.attrs`` holds ``source_file``, ``format``, ``missing_recoded``
        (column -> number of values set to NA by ``missing_codes``, SPSS
        user-missing definitions or Stata missing values), ``labels_mapped``
        (column -> number of text answers replaced by codes), and, by format,
        ``encoding``, ``delimiter``, ``sheet`` and ``sheets`` (all sheet names),
        ``value_labels``, ``variable_labels``, ``extended_missing`` (column ->
        number of Stata missing values ``.``, ``.a`` ... ``.z`` read as NA).

        Text files are read in chunks and each column is kept in its most
        compact exact type, so that memory stays near the size of the file:
        whole numbers as ``int8``/``int16``/``int32`` (with room for sums of a
        few values; ``int64`` when needed), whole numbers with empty cells as
        ``float32`` (exact up to 2**24), other numbers as ``float64``.

    Raises
    ------
    SurveyReadError
        Missing file, directory, device, empty file, header without data rows,
        binary or undecodable content, ragged rows, duplicated column names,
        unknown extension, corrupt workbook/SPSS file, a sheet that does not
        exist, formula cells without computed values, a text field longer
        than :func:`max_field_chars`.
    ResourceLimitError
        The file is larger than :func:`max_file_bytes`.
    OptionError
        ``sheet`` given for a file that is not a workbook, or of the wrong type.

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
    try:
        st = p.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise SurveyReadError(f"survey file {name}: not found") from None
    except PermissionError as exc:
        raise SurveyReadError(f"survey file {name}: cannot be opened: permission denied") from exc
    except OSError as exc:
        raise SurveyReadError(f"survey file {name}: cannot be opened: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise SurveyReadError(f"survey file {name}: is a directory, not a file")
    regular = stat.S_ISREG(st.st_mode)
    kind = _STREAM_KINDS.get(stat.S_IFMT(st.st_mode), "a special file")
    if not regular and not stat.S_ISFIFO(st.st_mode):
        raise SurveyReadError(f"survey file {name}: is {kind}, not a file")
    ext = p.suffix.lower()
    fmt = _TEXT_EXT.get(ext) or _EXCEL_EXT.get(ext) or _STAT_EXT.get(ext)
    if fmt is None and (regular or ext):
        if ext == ".xls":
            raise SurveyReadError(
                f"survey file {name}: legacy .xls workbooks are not supported; save it as .xlsx or CSV"
            )
        raise SurveyReadError(
            f"survey file {name}: unknown file type {ext or '(no extension)'!r}; supported: "
            f"{', '.join(SUPPORTED_EXTENSIONS)}"
        )
    default_sheet = sheet is None or (isinstance(sheet, (int, str)) and str(sheet).strip() == "0")
    if fmt is not None and fmt != "xlsx" and not default_sheet:
        raise OptionError(f"sheet={sheet!r} applies to .xlsx workbooks only; {name} is not one")
    limit = max_file_bytes()
    if regular:
        size = st.st_size
        if size > limit:
            raise ResourceLimitError(
                f"survey file {name}: is {fmt_bytes(size)}, above the limit of {fmt_bytes(limit)} (set "
                f"ASYMTRUST_MAX_FILE_BYTES to raise it)"
            )
        if size == 0:
            raise SurveyReadError(f"survey file {name}: is empty (0 bytes)")
        src = _Source(p)
    else:  # a named pipe: read it as a stream (its size is unknown until it ends)
        if fmt in ("sav", "dta"):
            raise SurveyReadError(
                f"survey file {name}: is {kind}; SPSS and Stata files must be regular files: save it to a file first"
            )
        try:
            data = _read_stream(p, name, kind, limit)
        except PermissionError as exc:
            raise SurveyReadError(f"survey file {name}: cannot be opened: permission denied") from exc
        if not data:
            raise SurveyReadError(f"survey file {name}: is empty ({kind} that delivered 0 bytes)")
        if fmt is None:
            fmt = _sniff_format(data)
            if fmt == "sav":
                raise SurveyReadError(
                    f"survey file {name}: is {kind} carrying SPSS data; SPSS files must be regular files: save it "
                    f"to a file first"
                )
            if fmt != "xlsx" and not default_sheet:
                raise OptionError(f"sheet={sheet!r} applies to .xlsx workbooks only; {name} carries text")
        src = _Source(p, data)

    try:
        if fmt in ("csv", "tsv"):
            df, header, meta = _read_text(src, fmt, encoding)
        elif fmt == "xlsx":
            df, header, meta = _read_excel(src, sheet)
        else:
            df, header, meta = _read_stat(src, fmt)
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
    _check_duplicates(stripped, name)
    if len(stripped) == df.shape[1]:
        df.columns = [h or str(c).strip() for h, c in zip(stripped, df.columns, strict=True)]
    else:
        df.columns = [str(c).strip() for c in df.columns]
    if df.shape[1] == 0:
        raise SurveyReadError(f"survey file {name}: has no columns")
    if len(df) == 0:
        raise SurveyReadError(f"survey file {name}: has a header ({df.shape[1]} columns) but no data rows")

    extended: dict[str, int] = dict(meta.pop("extended_missing", {}) or {})
    for j, k in (meta.pop("_stata_missing_at", {}) or {}).items():
        extended[str(df.columns[j])] = k
    _normalise_na_text(df)
    recoded: dict[str, int] = dict(meta.pop("user_missing", {}) or {})
    for col, k in extended.items():
        recoded[col] = recoded.get(col, 0) + k
    for col, k in _recode_missing(df, codes).items():
        recoded[col] = recoded.get(col, 0) + k
        if fmt in ("csv", "tsv"):
            df[col] = _compact(df[col])
    mapped: dict[str, int] = {}
    cb = _as_codebook(codebook)
    if cb is not None:
        mapped = _map_labels(df, cb)
        if fmt in ("csv", "tsv"):
            for col in mapped:
                df[col] = _compact(df[col])

    df.attrs.update(meta)
    df.attrs["source_file"] = name
    df.attrs["format"] = fmt
    df.attrs["missing_codes"] = codes
    df.attrs["missing_recoded"] = recoded
    df.attrs["labels_mapped"] = mapped
    if extended or fmt == "dta":
        df.attrs["extended_missing"] = extended
    return df
