"""Check survey data against a model specification before fitting.

:func:`validate` runs every check and collects the problems in a
:class:`ValidationReport` (errors block fitting, warnings deserve a look, info
lines describe what was done). :func:`recode_reverse` turns reverse-keyed items
round (``x -> min + max - x``) using the codebook scale.

Checks, per model variable (column):

* the column exists, is not duplicated and is not entirely missing;
* codes are numeric (text such as ``"Strongly agree"`` is reported with the number
  of rows and an example), finite (``inf``/``-inf`` are errors), and inside the
  codebook scale (``scale_min .. scale_max``); items the codebook does not cover
  get the checks that need no scale (type, range seen, constants, missingness);
* declared missing-value codes are set to NA (counted);
* the item is not constant and no pair of items is perfectly collinear
  (``|r| = 1``);

and for the data set as a whole: the number of complete cases (listwise) against
the number of free parameters, reverse-keyed items and whether they have been
recoded, and respondents who gave the same answer to every item
(straight-lining, a warning).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import AsymtrustError, DataError, OptionError, SpecError, ValidationError
from .read import (
    _as_codebook,
    _codebook_items,
    _is_texty,
    _norm_label,
    _numeric_or_none,
    _other_sheets_hint,
    _parse_scale_labels,
    _recode_missing,
    read_survey,
)

__all__ = ["validate", "recode_reverse", "ValidationReport", "Issue"]

_SEVERITIES = ("error", "warning", "info")


# --------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Issue:
    """One finding of :func:`validate`.

    Attributes
    ----------
    severity : {"error", "warning", "info"}
    check : str
        Short name of the check (``missing_column``, ``non_numeric``, ...).
    column : str or None
        Column at fault (``None`` for data-set-wide findings).
    n_rows : int or None
        Number of rows affected.
    message : str
        One-line message naming the column and the number of rows.
    """

    severity: str
    check: str
    column: str | None
    n_rows: int | None
    message: str


@dataclass
class ValidationReport:
    """Result of :func:`validate`.

    Attributes
    ----------
    ok : bool
        ``True`` when there are no errors.
    errors, warnings, info : list of str
        One line each.
    n_rows : int
        Rows in the data.
    n_complete : int
        Rows complete (numeric, finite, non-missing) on every model variable
        found in the data: the cases listwise deletion keeps.
    n_free : int or None
        Free parameters of the model (``None`` if they could not be counted).
    items : list of str
        Observed variables of the model, in model order.
    spec : str or None
        Name of the specification.
    issues : list of Issue
        The same findings with their check name, column and row count.
    """

    ok: bool
    errors: list[str]
    warnings: list[str]
    info: list[str]
    n_rows: int
    n_complete: int
    n_free: int | None
    items: list[str]
    spec: str | None = None
    issues: list[Issue] = field(default_factory=list)

    @classmethod
    def _from_issues(cls, issues: list[Issue], **kw: Any) -> ValidationReport:
        by = {s: [i.message for i in issues if i.severity == s] for s in _SEVERITIES}
        return cls(ok=not by["error"], errors=by["error"], warnings=by["warning"], info=by["info"], issues=issues, **kw)

    def to_frame(self) -> pd.DataFrame:
        """All findings as a DataFrame with columns ``severity, check, column, n_rows, message``."""
        cols = ["severity", "check", "column", "n_rows", "message"]
        frame = pd.DataFrame([asdict(i) for i in self.issues], columns=cols)
        frame["n_rows"] = frame["n_rows"].astype("Int64")
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary of the report."""
        return {
            "ok": self.ok,
            "spec": self.spec,
            "n_rows": self.n_rows,
            "n_complete": self.n_complete,
            "n_free": self.n_free,
            "items": list(self.items),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "info": list(self.info),
            "issues": [asdict(i) for i in self.issues],
        }

    def to_json(self, **kw: Any) -> str:
        """The report as JSON text (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), **kw)

    def raise_if_errors(self) -> None:
        """Raise :class:`~asymtrust.exceptions.ValidationError` if there are errors.

        The message is the first error plus ``" (and N more)"``; all errors are
        in the exception's ``problems`` attribute.
        """
        if self.errors:
            more = len(self.errors) - 1
            msg = self.errors[0] + (f" (and {more} more)" if more else "")
            raise ValidationError(msg, problems=list(self.errors))

    def __str__(self) -> str:
        spec = f" against spec {self.spec!r}" if self.spec else ""
        status = "OK" if self.ok else f"FAILED ({len(self.errors)} error{'s' if len(self.errors) != 1 else ''})"
        free = "unknown" if self.n_free is None else str(self.n_free)
        lines = [
            f"Validation of {self.n_rows} rows{spec}: {status}",
            f"  model variables: {len(self.items)}; complete cases: {self.n_complete}; free parameters: {free}",
        ]
        for sev, msgs in (("error", self.errors), ("warning", self.warnings), ("info", self.info)):
            lines += [f"{sev}: {m}" for m in msgs]
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        return self.to_frame().to_html(index=False)


# --------------------------------------------------------------------------- model variables
_OPS = ("=~", "<~", "~~", ":=", "==", "~", "<", ">", "|")


def _split_top(text: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _statements(syntax: str) -> list[str]:
    lines = []
    for raw in syntax.splitlines():
        line = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        for part in _split_top(line, ";"):
            part = part.strip()
            if part:
                lines.append(part)
    joined: list[str] = []
    for line in lines:
        if joined and (re.search(r"(\+|\*|=~|~~|~|,)$", joined[-1]) or line.startswith(("+", "*"))):
            joined[-1] = joined[-1] + " " + line
        else:
            joined.append(line)
    return joined


def _term_name(term: str) -> str | None:
    name = _split_top(term, "*")[-1].strip()
    if not name or _numeric_or_none(name) is not None:
        return None
    return name


def _model_variables(syntax: str) -> tuple[list[str], list[str]]:
    """Observed and latent variable names of lavaan model syntax.

    A light reading of the syntax (operators ``=~ <~ ~ ~~``, modifiers such as
    ``NA*``, ``a*``, ``c(a, b)*`` stripped), used only when
    :func:`asymtrust.library.partable.build_partable` is unavailable.

    Parameters
    ----------
    syntax : str
        lavaan model syntax.

    Returns
    -------
    observed, latent : list of str
        Names in the order they first appear (indicators first).

    Examples
    --------
    >>> _model_variables("f =~ x1 + a*x2 + x3\\ny ~ f + z")
    (['x1', 'x2', 'x3', 'y', 'z'], ['f'])
    """
    parsed: list[tuple[list[str], str, list[str]]] = []
    for stmt in _statements(syntax):
        op = next((o for o in _OPS if o in stmt), None)
        if op is None or op in (":=", "==", "<", ">", "|"):
            continue
        lhs, rhs = stmt.split(op, 1)
        lhs_names = [n for n in (_term_name(t) for t in _split_top(lhs, "+")) if n]
        rhs_names: list[str] = []
        for t in _split_top(rhs, "+"):
            name = _term_name(t)
            if name:
                rhs_names += [p for p in name.split(":") if p] if op == "~" else [name]
        parsed.append((lhs_names, op, rhs_names))
    latent: list[str] = []
    for lhs, op, _ in parsed:
        if op in ("=~", "<~"):
            latent += [n for n in lhs if n not in latent]
    observed: list[str] = []
    for _lhs, op, rhs in parsed:
        if op in ("=~", "<~"):
            observed += [n for n in rhs if n not in latent and n not in observed]
    for lhs, op, rhs in parsed:
        if op not in ("=~", "<~"):
            observed += [n for n in lhs + rhs if n not in latent and n not in observed]
    return observed, latent


def _resolve_spec(spec: Any) -> tuple[str, str]:
    """spec (name, path, ModelSpec or syntax) -> (name, syntax)."""
    if hasattr(spec, "syntax") and hasattr(spec, "name"):
        return str(spec.name), str(spec.syntax)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, str):
        looks_like_file = "\n" not in spec and spec.strip().lower().endswith((".lav", ".toml"))
        if "~" in spec and not looks_like_file:
            return "<syntax>", spec
        from ..library.specs import load_spec

        loaded = load_spec(spec)
        return str(loaded.name), str(loaded.syntax)
    raise OptionError(f"spec must be a spec name, a ModelSpec or lavaan syntax, got {type(spec).__name__}")


def _model_info(syntax: str) -> tuple[list[str], list[str], int | None, str | None]:
    """Observed and latent names and the number of free parameters of ``syntax``.

    Uses :func:`asymtrust.library.partable.build_partable` (lavaan ``sem()`` defaults,
    listwise); free parameters are the rows with ``free > 0`` minus the ``==``
    constraints. Falls back to a light reading of the syntax, with
    ``n_free = None`` and a note, if the parameter-table builder is unavailable.
    """
    try:
        from ..library.partable import build_partable
    except ImportError as exc:
        observed, latent = _model_variables(syntax)
        return (
            observed,
            latent,
            None,
            f"free parameters not counted: the parameter-table builder is unavailable ({exc})",
        )
    try:
        pt = build_partable(syntax)
    except SpecError:
        raise
    except AsymtrustError as exc:
        observed, latent = _model_variables(syntax)
        return observed, latent, None, f"free parameters not counted: {exc}"
    table = pt.table
    n_free = int((table["free"] > 0).sum()) - int((table["op"] == "==").sum())
    return list(pt.ov_names), list(pt.lv_names), n_free, None


# --------------------------------------------------------------------------- helpers
_CODEBOOK_CACHE: dict[tuple[str, int, int], pd.DataFrame] = {}


def _bundled_codebook() -> tuple[pd.DataFrame | None, str | None]:
    """The bundled codebook (cached while the file is unchanged) or a note why not."""
    try:
        from .._paths import datasets_dir
        from ..library.codebook import load_codebook

        path = datasets_dir() / "codebook.csv"
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in _CODEBOOK_CACHE:
            _CODEBOOK_CACHE.clear()
            _CODEBOOK_CACHE[key] = _as_codebook(load_codebook())
        return _CODEBOOK_CACHE[key].copy(), None
    except (ImportError, AsymtrustError, OSError) as exc:
        return None, f"bundled codebook unavailable ({exc}); scale ranges not checked"


def _with_lines(names: Sequence[str], syntax: str, k: int = 10) -> str:
    """``"pwo3 (line 2), x9 (line 5)"``: variable names with the syntax line that first uses them."""
    lines: dict[str, int] = {}
    try:
        from ..library.partable import build_partable

        tab = build_partable(syntax).table
        user = tab[(tab["user"] == 1) & (tab["line"] > 0)]
        for r in user.itertuples(index=False):
            for v in (r.lhs, r.rhs):
                if v in names and (v not in lines or r.line < lines[v]):
                    lines[v] = int(r.line)
    except (ImportError, AsymtrustError):
        pass
    shown = [f"{v} (line {lines[v]})" if v in lines else str(v) for v in names[:k]]
    return ", ".join(shown) + (f", ... ({len(names) - k} more)" if len(names) > k else "")


def _delimiter_hint(columns: Sequence[str], missing: Sequence[str]) -> str:
    """A hint when the data came in as one column whose name holds the missing variables.

    A file split on the wrong delimiter (e.g. space- or colon-separated) is read as a
    single column named like ``"resp_id sector cap1 ..."``.
    """
    if len(columns) != 1 or not missing:
        return ""
    name = str(columns[0])
    if not any(m in name for m in missing):
        return ""
    return f"; the data have a single column {_short_name(name)!r}: check the delimiter (use , ; tab or |)"


def _sheet_hint(attrs: dict) -> str:
    """A hint naming the other sheets when the data came from one sheet of a workbook
    that has several (a read-me or codebook sheet often comes first)."""
    sheet, sheets = attrs.get("sheet"), attrs.get("sheets")
    if not isinstance(sheet, str) or not sheets or len(sheets) < 2:
        return ""
    return f"; the data were read from sheet {sheet!r}{_other_sheets_hint(list(sheets), sheet)}"


#: how to turn scale labels into codes, through the API
LABELS_HINT_API = "read the file with read_survey(path, codebook=...) to turn them into codes"


def _short_name(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _fmt_num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:g}"


def _rows_list(positions: Sequence[int], k: int = 5) -> str:
    shown = ", ".join(str(p + 1) for p in positions[:k])
    return shown + (", ..." if len(positions) > k else "")


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}%" if n else "0%"


def _plural(k: int, word: str = "row") -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _have(k: int) -> str:
    return "has" if k == 1 else "have"


# --------------------------------------------------------------------------- validate
def validate(
    data: pd.DataFrame | str | os.PathLike,
    spec: Any,
    *,
    codebook: pd.DataFrame | str | os.PathLike | None | bool = None,
    missing_codes: Iterable[Any] = (),
    raise_on_error: bool = False,
    labels_hint: str | None = None,
    cluster: str | None = None,
    ordered: Any = None,
) -> ValidationReport:
    """Check survey data against a model before fitting.

    Parameters
    ----------
    data : DataFrame or path
        The survey data; a path is read with :func:`asymtrust.read_survey`.
    spec : str, ModelSpec or lavaan syntax
        Bundled spec name (e.g. ``"fig1"``), spec file, :class:`ModelSpec`, or a
        lavaan syntax string (recognised by its ``~``).
    codebook : DataFrame, path, None or False
        ``None`` (default) uses the bundled codebook for the items it covers;
        ``False`` disables codebook checks. Items the codebook does not cover
        get the checks that need no scale.
    missing_codes : iterable
        Values meaning "missing" (e.g. ``(-99, -9)``); they are set to NA before
        the checks and counted.
    raise_on_error : bool, default False
        Raise :class:`~asymtrust.exceptions.ValidationError` if there are errors.
    labels_hint : str, optional
        What to tell the user when text answers look like the codebook's scale
        labels (default: :data:`LABELS_HINT_API`, naming ``read_survey``'s
        ``codebook`` argument). A front end passes its own wording, e.g. the
        command-line option that maps labels, where the command has one.
    cluster : str, optional
        The cluster column of a nested design (e.g. ``"partnership"``): missing cluster
        values and a single cluster are errors, singleton clusters a warning, and the
        number of clusters, their sizes and the range of the items' ICC(1) are reported
        (the one-way ANOVA estimate, a screening value; :func:`asymtrust.icc` gives
        lavaan's ML ICCs and the design effects).
    ordered : True or list of str, optional
        The items that will be fitted as ordered (``fit(..., ordered=)``). Every other
        integer-coded item is about to be fitted as continuous, and gets a warning when it
        has at most :data:`FEW_CATEGORIES` observed categories (Rhemtulla, Brosseau-Liard &
        Savalei 2012: treat such items as ordinal) or a strong floor or ceiling effect (at
        least :data:`FLOOR_CEILING_SHARE` of the answers at the scale's lowest or highest
        category, Terwee et al. 2007); each warning names the items.

    Returns
    -------
    ValidationReport

    Examples
    --------
    >>> import asymtrust
    >>> hs = asymtrust.load_dataset("hs1939")
    >>> rep = asymtrust.validate(hs, "visual =~ x1 + x2 + x3", codebook=False)
    >>> rep.ok, rep.n_complete, rep.items
    (True, 301, ['x1', 'x2', 'x3'])
    """
    codes = list(missing_codes)
    if isinstance(data, (str, os.PathLike)):
        data = read_survey(data, missing_codes=codes)
        codes_to_apply: list[Any] = []
    elif isinstance(data, pd.DataFrame):
        codes_to_apply = codes
    else:
        raise OptionError(f"data must be a DataFrame or a file path, got {type(data).__name__}")

    spec_name, syntax = _resolve_spec(spec)
    # a bundled spec (by name): line numbers of its syntax would not help the user
    bundled = isinstance(spec, str) and "~" not in spec and os.path.splitext(spec)[1] == ""
    observed, latent, n_free, free_note = _model_info(syntax)
    issues: list[Issue] = []

    def add(sev: str, check: str, col: str | None, n: int | None, msg: str) -> None:
        issues.append(Issue(sev, check, col, n, msg))

    # codebook
    if codebook is False:
        cb = None
    elif codebook is None or codebook is True:
        cb, note = _bundled_codebook()
        if note:
            add("info", "codebook", None, None, note)
    else:
        cb = _as_codebook(codebook)
    cb_items: dict[str, pd.Series] = {}
    cb_resp: dict[str, pd.Series] = {}
    if cb is not None:
        for _, row in _codebook_items(cb).iterrows():
            cb_items[str(row["item"])] = row
        if "kind" in cb.columns:
            for _, row in cb[cb["kind"].astype(str).str.strip().str.lower().isin(("respondent", "cluster"))].iterrows():
                cb_resp[str(row["item"])] = row

    n_rows = int(len(data))
    if n_rows == 0:
        add("error", "empty", None, 0, "the data have no rows")
    if data.shape[1] == 0:
        add("error", "empty", None, 0, "the data have no columns")

    # duplicated columns
    cols = [str(c) for c in data.columns]
    dups = sorted({c for c in cols if cols.count(c) > 1})
    for c in dups:
        add(
            "error",
            "duplicate_column",
            c,
            None,
            f"column {c}: appears {cols.count(c)} times in the data; column names must be unique",
        )
    work = data.loc[:, ~pd.Index(cols).duplicated()].copy()
    work.columns = [str(c) for c in work.columns]
    present_cols = set(work.columns)

    # product indicators of latent interactions (e.g. cap1.pow1) are built at fit time
    products: dict[str, tuple[str, str]] = {}
    for v in observed:
        if v not in present_cols and v.count(".") == 1:
            a, b = v.split(".")
            if a and b and {a, b} <= (present_cols | set(observed)):
                products[v] = (a, b)
    items: list[str] = []
    for v in observed:
        for name in products.get(v, (v,)):
            if name not in items:
                items.append(name)
    if products:
        add(
            "info",
            "product_indicators",
            None,
            None,
            f"{len(products)} product indicator(s) ({', '.join(products)}) are built from their items when the "
            f"model is fitted",
        )

    missing = [v for v in items if v not in present_cols]
    if missing:
        add(
            "error",
            "missing_column",
            None,
            None,
            f"{len(missing)} of {len(items)} model variables missing from the data: "
            f"{', '.join(missing) if bundled else _with_lines(missing, syntax)}"
            f"{_delimiter_hint(list(work.columns), missing)}{_sheet_hint(data.attrs)}",
        )
    present = [v for v in items if v in present_cols]

    # missing codes: recoded by read_survey, or declared here
    for col, k in dict(data.attrs.get("missing_recoded") or {}).items():
        if col in present:
            add(
                "info",
                "missing_code",
                col,
                int(k),
                f"column {col}: {_plural(int(k))} with a missing-value code were set to NA when the file was read",
            )
    if codes_to_apply and present:
        sub = work[present].copy()
        for col, k in _recode_missing(sub, codes_to_apply).items():
            add(
                "info",
                "missing_code",
                col,
                k,
                f"column {col}: {_plural(k)} with missing code(s) {' '.join(map(str, codes_to_apply))} set to NA",
            )
        work[present] = sub

    # per-column checks
    numeric: dict[str, pd.Series] = {}
    not_in_cb: list[str] = []
    missing_per_col: list[tuple[str, int]] = []
    for col in present:
        s = work[col]
        if pd.api.types.is_bool_dtype(s):
            k = int(s.notna().sum())
            add(
                "error",
                "non_numeric",
                col,
                k,
                f"column {col}: {_plural(k)} {'holds' if k == 1 else 'hold'} true/false values, not numeric codes",
            )
            continue
        if _is_texty(s):
            num = pd.to_numeric(s.astype(object).where(s.notna(), None), errors="coerce").astype(float)
            bad = s.notna() & num.isna()
            k = int(bad.sum())
            if k:
                example = s[bad].iloc[0]
                hint = ""
                labels = _parse_scale_labels(cb_items[col].get("scale_labels")) if col in cb_items else {}
                if labels and any(_norm_label(v) in labels for v in s[bad].astype(str)):
                    hint = f"; they look like scale labels: {labels_hint or LABELS_HINT_API}"
                add(
                    "error",
                    "non_numeric",
                    col,
                    k,
                    f"column {col}: {_plural(k)} of {n_rows} {_have(k)} non-numeric codes (e.g. "
                    f"{str(example)!r}){hint}",
                )
            elif s.notna().any():
                add(
                    "info",
                    "text_numbers",
                    col,
                    int(s.notna().sum()),
                    f"column {col}: numbers stored as text were read as numbers",
                )
        else:
            num = s.astype(float)
        arr = num.to_numpy(dtype=float, na_value=np.nan)
        inf = np.isinf(arr)
        k = int(inf.sum())
        if k:
            add(
                "error",
                "infinite",
                col,
                k,
                f"column {col}: {_plural(k)} of {n_rows} {_have(k)} infinite values (inf/-inf)",
            )
            arr = np.where(inf, np.nan, arr)
        numeric[col] = arr

        if not s.notna().any():
            add("error", "all_missing", col, n_rows, f"column {col}: all {n_rows} rows are missing")
            continue
        vals = arr[~np.isnan(arr)]
        n_miss = n_rows - len(vals)
        if n_miss and len(vals):
            missing_per_col.append((col, n_miss))
        if not len(vals):
            continue
        if col in cb_items:
            row = cb_items[col]
            lo, hi = _numeric_or_none(row.get("scale_min")), _numeric_or_none(row.get("scale_max"))
            if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
                out = vals[(vals < lo) | (vals > hi)]
                if len(out):
                    distinct = np.unique(out)
                    shown = ", ".join(_fmt_num(v) for v in distinct[:5]) + (", ..." if len(distinct) > 5 else "")
                    hint = (
                        " (if these are missing-value codes, declare them with missing_codes / --missing-codes)"
                        if len(distinct) <= 3
                        else ""
                    )
                    add(
                        "error",
                        "out_of_range",
                        col,
                        int(len(out)),
                        f"column {col}: {_plural(int(len(out)))} outside the scale "
                        f"{_fmt_num(lo)}..{_fmt_num(hi)} (values {shown}){hint}",
                    )
                frac = vals[(vals % 1) != 0]
                if len(frac):
                    add(
                        "warning",
                        "non_integer",
                        col,
                        int(len(frac)),
                        f"column {col}: {_plural(int(len(frac)))} {'is' if len(frac) == 1 else 'are'} not whole "
                        f"numbers "
                        f"(e.g. {_fmt_num(frac[0])}) on the {_fmt_num(lo)}..{_fmt_num(hi)} scale",
                    )
        else:
            not_in_cb.append(f"{col} {_fmt_num(vals.min())}..{_fmt_num(vals.max())}")
        if len(vals) >= 2 and vals.min() == vals.max():
            add(
                "error",
                "constant",
                col,
                int(len(vals)),
                f"column {col}: constant (all {len(vals)} non-missing rows are {_fmt_num(vals[0])}); a constant "
                f"item has no variance",
            )

    if missing_per_col:
        worst = max(k for _, k in missing_per_col)
        add(
            "info",
            "missingness",
            None,
            sum(k for _, k in missing_per_col),
            f"{len(missing_per_col)} model variable(s) have missing or unusable values (rows of {n_rows}, "
            f"at most {_pct(worst, n_rows)}): {', '.join(f'{c} {k}' for c, k in missing_per_col)}",
        )
    if not_in_cb:
        add(
            "info",
            "not_in_codebook",
            None,
            None,
            f"{len(not_in_cb)} model variable(s) not in the codebook, checked without a scale; values seen: "
            f"{', '.join(not_in_cb)}",
        )

    usable = [c for c in present if c in numeric and not np.isnan(numeric[c]).all()]
    X = np.column_stack([numeric[c] for c in usable]) if usable else np.empty((n_rows, 0))

    # perfectly collinear pairs
    keep = [j for j, c in enumerate(usable) if np.nanmin(X[:, j]) < np.nanmax(X[:, j])]
    if len(keep) >= 2:
        names = [usable[j] for j in keep]
        sub = X[:, keep]
        obs = ~np.isnan(sub)
        corr = pd.DataFrame(sub, columns=names).corr(min_periods=3).to_numpy()
        hits = np.argwhere(np.triu(np.abs(np.nan_to_num(corr)) >= 1 - 1e-10, k=1))
        for i, j in hits:
            r = corr[i, j]
            n_pair = int((obs[:, i] & obs[:, j]).sum())
            add(
                "error",
                "collinear",
                f"{names[i]},{names[j]}",
                n_pair,
                f"columns {names[i]} and {names[j]}: perfectly collinear (r = {r:+.3f} on {n_pair} rows with "
                f"both); drop one of them",
            )

    # complete cases and free parameters
    if present:
        every = np.column_stack([numeric.get(c, np.full(n_rows, np.nan)) for c in present])
        n_complete = int((~np.isnan(every)).all(axis=1).sum())
    else:
        n_complete = 0
    n_incomplete = n_rows - n_complete
    if present and n_incomplete and n_complete:
        add(
            "info",
            "listwise",
            None,
            n_incomplete,
            f"{_plural(n_incomplete)} of {n_rows} {_have(n_incomplete)} at least one missing or unusable model "
            f"variable; "
            f"listwise deletion keeps {n_complete}",
        )
    if free_note:
        add("info", "n_free", None, None, free_note)
    if n_rows and present:
        if n_complete == 0:
            add(
                "error",
                "no_complete_cases",
                None,
                0,
                f"no row is complete on the {len(present)} model variables found, so listwise deletion leaves 0 cases",
            )
        elif n_free is not None and n_complete < n_free:
            # lavaan fits such models (only a singular sample covariance matrix stops it): a warning
            add(
                "warning",
                "too_few_cases",
                None,
                n_complete,
                f"only {n_complete} complete cases (listwise) for {n_free} free parameters; estimates will be "
                f"unstable and standard errors unreliable (full-information ML, missing='ml', uses incomplete "
                f"rows too)",
            )

    # reverse-keyed items
    reverse = [
        c
        for c in present
        if c in cb_items and str(cb_items[c].get("reverse", 0)).strip() in ("1", "1.0", "True", "true")
    ]
    done = [str(c) for c in (data.attrs.get("reverse_recoded") or [])]
    if reverse:
        todo = [c for c in reverse if c not in done]
        if todo:
            add(
                "warning",
                "reverse_not_recoded",
                None,
                None,
                f"reverse-keyed item(s) {', '.join(todo)} have not been recoded; call "
                f"asymtrust.recode_reverse(data) before fitting",
            )
        recoded = [c for c in reverse if c in done]
        if recoded:
            add("info", "reverse_recoded", None, None, f"reverse-keyed item(s) {', '.join(recoded)} already recoded")

    # straight-lining (on the answers as given)
    if len(usable) >= 3:
        raw = X.copy()
        for j, c in enumerate(usable):
            if c in done and c in cb_items:
                lo, hi = _numeric_or_none(cb_items[c].get("scale_min")), _numeric_or_none(cb_items[c].get("scale_max"))
                if lo is not None and hi is not None:
                    raw[:, j] = lo + hi - raw[:, j]
        complete = ~np.isnan(raw).any(axis=1)
        same = complete & (raw == raw[:, :1]).all(axis=1)
        positions = np.flatnonzero(same).tolist()
        k = len(positions)
        if k:
            add(
                "warning",
                "straight_lining",
                None,
                k,
                f"{_plural(k, 'respondent')} ({_pct(k, n_rows)}) gave the same answer to all {len(usable)} items "
                f"(straight-lining), e.g. data rows {_rows_list(positions)}",
            )

    _continuous_likert_checks(usable, X, ordered, cb_items, add)

    if cluster is not None:
        _cluster_checks(work, cluster, usable, X, add)

    # respondent fields with allowed levels
    for col, row in cb_resp.items():
        if col not in present_cols or not isinstance(row.get("scale_labels"), str):
            continue
        levels = [v.strip() for v in row["scale_labels"].split("|") if v.strip() and "=" not in v]
        if not levels:
            continue
        s = work[col]
        bad = s.notna() & ~s.astype(str).str.strip().isin(levels)
        k = int(bad.sum())
        if k:
            add(
                "warning",
                "unknown_level",
                col,
                k,
                f"column {col}: {_plural(k)} {_have(k)} values outside {'|'.join(levels)} (e.g. "
                f"{str(s[bad].iloc[0])!r})",
            )

    report = ValidationReport._from_issues(
        issues, n_rows=n_rows, n_complete=n_complete, n_free=n_free, items=items, spec=spec_name
    )
    if raise_on_error:
        report.raise_if_errors()
    return report


# --------------------------------------------------------------------------- ordinal items
#: items with at most this many observed categories are ordinal (Rhemtulla et al. 2012)
FEW_CATEGORIES = 5
#: share of answers at the lowest or highest category that makes a floor or ceiling effect
#: (Terwee et al. 2007, J Clin Epidemiol 60:34-42: more than 15%)
FLOOR_CEILING_SHARE = 0.15
_MAX_LIKERT = 10  # integer-coded items with more categories are not checked


def _continuous_likert_checks(usable: list[str], X: np.ndarray, ordered: Any, cb_items: dict, add) -> None:
    """Warn about integer-coded items about to be fitted as continuous that have few
    categories or a strong floor/ceiling effect, naming them."""
    if ordered is True:
        return
    named = set() if ordered in (None, False) else ({ordered} if isinstance(ordered, str) else set(map(str, ordered)))
    few: list[str] = []
    floor: list[str] = []
    for j, c in enumerate(usable):
        if c in named:
            continue
        x = X[:, j]
        x = x[np.isfinite(x)]
        if x.size == 0 or np.any(x != np.round(x)):
            continue
        cats = np.unique(x)
        if cats.size < 2 or cats.size > _MAX_LIKERT:
            continue
        if cats.size <= FEW_CATEGORIES:  # already named; a floor/ceiling share is not informative then
            few.append(f"{c} ({cats.size})")
            continue
        row = cb_items.get(c)
        lo = _numeric_or_none(row.get("scale_min")) if row is not None else None
        hi = _numeric_or_none(row.get("scale_max")) if row is not None else None
        lo = float(cats[0]) if lo is None else lo
        hi = float(cats[-1]) if hi is None else hi
        low, high = float(np.mean(x == lo)), float(np.mean(x == hi))
        if max(low, high) > FLOOR_CEILING_SHARE:
            side = "floor" if low >= high else "ceiling"
            floor.append(f"{c} ({side} {100 * max(low, high):.0f}%)")
    hint = "fit them as ordinal: ordered=[...] (WLSMV), or --ordered on the command line"
    if few:
        add("warning", "few_categories", None, None,
            f"item(s) with at most {FEW_CATEGORIES} categories about to be fitted as continuous: {', '.join(few)}; "
            f"{hint} (Rhemtulla, Brosseau-Liard & Savalei 2012)")
    if floor:
        add("warning", "floor_ceiling", None, None,
            f"item(s) with a strong floor or ceiling effect (more than {100 * FLOOR_CEILING_SHARE:.0f}% of answers "
            f"at the lowest or highest category) about to be fitted as continuous: {', '.join(floor)}; {hint} "
            "(Terwee et al. 2007)")


# --------------------------------------------------------------------------- clusters
def anova_icc(X: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """One-way ANOVA ICC(1) of each column of ``X`` (complete rows) for cluster codes
    0..nC-1: (MSB - MSW) / (MSB + (n0 - 1) MSW), n0 = (N - sum n_c^2 / N) / (nC - 1)."""
    n_c = np.bincount(codes).astype(float)
    keep = n_c > 0
    N, nC = float(codes.size), int(keep.sum())
    sums = np.zeros((n_c.size, X.shape[1]))
    np.add.at(sums, codes, X)
    means = sums[keep] / n_c[keep, None]
    grand = X.mean(axis=0)
    ssb = (n_c[keep, None] * (means - grand) ** 2).sum(axis=0)
    ssw = ((X - (sums / np.maximum(n_c, 1)[:, None])[codes]) ** 2).sum(axis=0)
    msb, msw = ssb / max(nC - 1, 1), ssw / max(N - nC, 1)
    n0 = (N - (n_c[keep] ** 2).sum() / N) / max(nC - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (msb - msw) / (msb + (n0 - 1.0) * msw)


def _cluster_checks(work: pd.DataFrame, cluster: str, usable: list[str], X: np.ndarray, add) -> None:
    """The cluster column of a nested design: missing values, one cluster, sizes, singletons,
    the range of the items' ANOVA ICC(1)."""
    if not isinstance(cluster, str) or cluster not in work.columns:
        add("error", "cluster_column", str(cluster), None, f"cluster column {cluster!r} is not in the data")
        return
    col = work[cluster]
    miss = col.isna().to_numpy()
    if miss.any():
        k = int(miss.sum())
        add("error", "cluster_missing", cluster, k, f"cluster column {cluster}: {_plural(k)} without a cluster "
            f"(data rows {_rows_list(np.flatnonzero(miss).tolist())}); every respondent needs a cluster")
    codes, uniques = pd.factorize(col[~miss], sort=False)
    if len(uniques) < 2:
        add("error", "cluster_single", cluster, None, f"cluster column {cluster} has {len(uniques)} cluster(s); "
            "clustered data need at least two")
        return
    sizes = np.bincount(codes)
    single = int((sizes == 1).sum())
    add("info", "cluster_sizes", cluster, int(codes.size), f"cluster column {cluster}: {len(uniques)} clusters of "
        f"{sizes.min()}..{sizes.max()} respondents (mean {sizes.mean():.1f})")
    if single:
        add("warning", "cluster_singletons", cluster, single, f"cluster column {cluster}: {single} cluster(s) with a "
            "single respondent (no within-cluster information; they count only at the between level)")
    items = [j for j, c in enumerate(usable) if c != cluster]
    rows = ~miss & ~np.isnan(X[:, items]).any(axis=1) if items else ~miss
    if not items or rows.sum() < 3:
        return
    sub, _ = pd.factorize(col[rows], sort=False)
    if np.bincount(sub).size < 2:
        return
    icc = anova_icc(X[np.ix_(rows, items)], sub)
    ok = np.isfinite(icc)
    if ok.any():
        lo, hi = int(np.argmin(np.where(ok, icc, np.inf))), int(np.argmax(np.where(ok, icc, -np.inf)))
        add("info", "cluster_icc", cluster, int(rows.sum()), f"cluster column {cluster}: ICC(1) of the items "
            f"{icc[lo]:.3f} ({usable[items[lo]]}) to {icc[hi]:.3f} ({usable[items[hi]]}), one-way ANOVA on "
            f"{int(rows.sum())} complete rows; asymtrust.icc() gives lavaan's ICCs and the design effects")


# --------------------------------------------------------------------------- recode
def recode_reverse(
    data: pd.DataFrame,
    codebook: pd.DataFrame | str | os.PathLike | None = None,
    items: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Reverse-code reverse-keyed items: ``x -> scale_min + scale_max - x``.

    Parameters
    ----------
    data : DataFrame
        Survey data with the items as answered. Not modified.
    codebook : DataFrame or path, optional
        Codebook giving ``reverse`` and the scale; default the bundled one.
    items : iterable of str, optional
        Items to recode; default every item the codebook marks ``reverse = 1``
        that is present in ``data``.

    Returns
    -------
    DataFrame
        A new frame; ``attrs["reverse_recoded"]`` lists every recoded item
        (including those recoded earlier).

    Raises
    ------
    DataError
        An item is absent from the data or the codebook, is not numeric, or has
        already been recoded (recoding twice would undo it).

    Examples
    --------
    >>> import pandas as pd, asymtrust
    >>> df = pd.DataFrame({"rol1": [1, 2], "rol3": [1, 7]})
    >>> cb = pd.DataFrame({"item": ["rol1", "rol3"], "scale_min": [1, 1], "scale_max": [7, 7], "reverse": [0, 1]})
    >>> out = asymtrust.recode_reverse(df, cb)
    >>> out["rol3"].tolist(), out.attrs["reverse_recoded"]
    ([7, 1], ['rol3'])
    """
    if not isinstance(data, pd.DataFrame):
        raise OptionError(f"data must be a DataFrame, got {type(data).__name__}")
    if codebook is None:
        from ..library.codebook import load_codebook

        cb = _as_codebook(load_codebook())
    else:
        cb = _as_codebook(codebook)
    rows = {str(r["item"]): r for _, r in _codebook_items(cb).iterrows()}
    if items is None:
        targets = [
            c
            for c, r in rows.items()
            if str(r.get("reverse", 0)).strip() in ("1", "1.0", "True", "true") and c in data.columns
        ]
    else:
        targets = list(items)
        absent = [c for c in targets if c not in data.columns]
        if absent:
            raise DataError(f"cannot reverse-code {', '.join(absent)}: not in the data")
        unknown = [c for c in targets if c not in rows]
        if unknown:
            raise DataError(
                f"cannot reverse-code {', '.join(unknown)}: not a Likert item of the codebook, so the scale is unknown"
            )
    already = [str(c) for c in (data.attrs.get("reverse_recoded") or [])]
    twice = [c for c in targets if c in already]
    if twice:
        raise DataError(f"item(s) {', '.join(twice)} already reverse-coded; recoding again would undo it")
    out = data.copy()
    for c in targets:
        s = out[c]
        if _is_texty(s) or pd.api.types.is_bool_dtype(s):
            raise DataError(f"cannot reverse-code column {c}: it is not numeric (dtype {s.dtype})")
        lo, hi = _numeric_or_none(rows[c].get("scale_min")), _numeric_or_none(rows[c].get("scale_max"))
        if lo is None or hi is None:
            raise DataError(f"cannot reverse-code {c}: the codebook gives no scale_min/scale_max")
        total = lo + hi
        out[c] = (int(total) if total.is_integer() else total) - s
    out.attrs = dict(data.attrs)
    out.attrs["reverse_recoded"] = already + [c for c in targets]
    return out
