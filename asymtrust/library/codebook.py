"""The instrument codebook: items, wording, response scale, reverse keying.

The bundled codebook ``datasets/codebook.csv`` describes the 32 seven-point
Likert items of the Fig. 1 instrument (10 constructs) and the three respondent
fields ``resp_id``, ``sector`` and ``partner_sector``. Item wording is asymtrust's
own adaptation of validated scales to partner organisations in health and social
care; the ``source`` column names the scale each item adapts. Columns are
documented in ``docs/contracts.md``.

Reverse-keyed items (``reverse == 1``) are worded against their construct and are
stored in data files as the respondent answered them; analyses recode them with
``asymtrust.recode_reverse`` (x -> scale_min + scale_max - x).
"""
from __future__ import annotations

import csv
import functools
import io
import os
from pathlib import Path

import pandas as pd

from .._paths import datasets_dir
from ..exceptions import OptionError, SurveyReadError, ValidationError

__all__ = [
    "CODEBOOK_COLUMNS",
    "SECTOR_LEVELS",
    "load_codebook",
    "reverse_items",
    "item_codes",
    "scale_range",
    "sector_levels",
    "cluster_fields",
    "codebook_markdown",
    "codebook_text",
    "codebook_csv",
    "render_codebook",
    "who_rates_whom",
]

#: Columns of a codebook file, in order (``docs/contracts.md``).
CODEBOOK_COLUMNS: tuple[str, ...] = (
    "item",
    "construct",
    "construct_label",
    "wording",
    "source",
    "scale_min",
    "scale_max",
    "scale_labels",
    "reverse",
    "kind",
    "rates",
)

#: Columns a codebook file may omit (filled with "" when read): ``rates``, added for dyadic data.
OPTIONAL_COLUMNS: tuple[str, ...] = ("rates",)

#: Values of ``rates``: who or what a field is about. Items: ``partner`` (the partner
#: organisation, the side named in ``partner_sector``) or ``partnership`` (the relationship
#: between the respondent's own organisation, ``sector``, and that partner). Respondent
#: fields: ``rater`` (the side that answers: ``sector``), ``partner`` (the side rated:
#: ``partner_sector``), ``partnership`` (the partnership ID), or blank.
RATES: tuple[str, ...] = ("", "partner", "partnership", "rater")

#: Allowed levels of ``sector`` / ``partner_sector`` in the bundled codebook.
SECTOR_LEVELS: tuple[str, ...] = ("nhs", "council", "voluntary")

#: ``kind`` of a codebook row: a Likert ``item``, a ``respondent`` field, or a ``cluster``
#: identifier (assigned, not asked: ``partnership``, the cluster of nested designs, and
#: ``organisation``; issue 16).
_KINDS = ("item", "respondent", "cluster")
_FORMATS = ("md", "csv", "text")


def _bundled_path() -> Path:
    return datasets_dir() / "codebook.csv"


def load_codebook(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read and check a codebook.

    Parameters
    ----------
    path : str or path-like, optional
        A codebook CSV with the columns of :data:`CODEBOOK_COLUMNS`. ``None``
        (default) reads the bundled ``datasets/codebook.csv``.

    Returns
    -------
    pandas.DataFrame
        One row per field, in file order. ``scale_min``/``scale_max`` are
        nullable integers (``<NA>`` for respondent fields), ``reverse`` is an
        ``int`` 0/1, all other columns are strings (empty string when blank).
        ``df.attrs["path"]`` records the file read.

    Raises
    ------
    SurveyReadError
        If the file cannot be read as CSV.
    ValidationError
        If columns are missing or a row is malformed (the message names the row
        and column).

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook
    >>> cb = load_codebook()
    >>> int((cb["kind"] == "item").sum())
    32
    >>> cb.loc[cb["item"] == "ctr4", "reverse"].item()
    1
    """
    if path is None:
        cb = _load_bundled().copy()
        cb.attrs = dict(_load_bundled().attrs)
        return cb
    return _read_codebook(Path(path))


@functools.lru_cache(maxsize=1)
def _load_bundled() -> pd.DataFrame:
    return _read_codebook(_bundled_path())


def _read_codebook(file: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError as exc:
        raise SurveyReadError(f"codebook file {file} does not exist") from exc
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SurveyReadError(f"codebook file {file} cannot be read as UTF-8 CSV: {exc}") from exc
    for col in OPTIONAL_COLUMNS:
        if col not in raw.columns:
            raw[col] = ""
    missing = [c for c in CODEBOOK_COLUMNS if c not in raw.columns]
    if missing:
        raise ValidationError(f"codebook {file} lacks the column(s) {', '.join(missing)}")
    cb = raw.loc[:, list(CODEBOOK_COLUMNS)].copy()
    for col in CODEBOOK_COLUMNS:
        cb[col] = cb[col].astype(str).str.strip()
    problems: list[str] = []
    seen: set[str] = set()
    for i, row in enumerate(cb.itertuples(index=False), start=2):  # line 1 is the header
        where = f"codebook {file.name} line {i} ({row.item!r})"
        if not row.item:
            problems.append(f"{where}: empty 'item'")
        elif row.item in seen:
            problems.append(f"{where}: duplicate item code")
        seen.add(row.item)
        if row.kind not in _KINDS:
            problems.append(f"{where}: 'kind' must be item or respondent (or cluster), got {row.kind!r}")
        if row.rates not in RATES:
            problems.append(f"{where}: 'rates' must be blank or one of {', '.join(RATES[1:])}, got {row.rates!r}")
        if row.reverse not in ("0", "1"):
            problems.append(f"{where}: 'reverse' must be 0 or 1, got {row.reverse!r}")
        if row.kind == "item":
            if not row.construct:
                problems.append(f"{where}: empty 'construct'")
            try:
                lo, hi = int(row.scale_min), int(row.scale_max)
            except ValueError:
                problems.append(f"{where}: 'scale_min'/'scale_max' must be integers")
            else:
                if lo >= hi:
                    problems.append(f"{where}: scale_min {lo} is not below scale_max {hi}")
    if problems:
        raise ValidationError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                              problems)
    for col in ("scale_min", "scale_max"):
        cb[col] = pd.to_numeric(cb[col], errors="coerce").astype("Int64")
    cb["reverse"] = cb["reverse"].astype(int)
    cb.attrs["path"] = str(file)
    return cb.reset_index(drop=True)


def item_codes(codebook: pd.DataFrame) -> list[str]:
    """Codes of the Likert items (``kind == "item"``), in codebook order.

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, item_codes
    >>> item_codes(load_codebook())[:4]
    ['rol1', 'rol2', 'rol3', 'inf1']
    """
    return codebook.loc[codebook["kind"] == "item", "item"].tolist()


def reverse_items(codebook: pd.DataFrame) -> list[str]:
    """Codes of the reverse-keyed items, in codebook order.

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, reverse_items
    >>> reverse_items(load_codebook())
    ['rol3', 'cul3', 'ctr4', 'gtr4', 'jmp3']
    """
    mask = (codebook["kind"] == "item") & (codebook["reverse"].astype(int) == 1)
    return codebook.loc[mask, "item"].tolist()


def scale_range(codebook: pd.DataFrame, item: str) -> tuple[int, int]:
    """Lowest and highest response code of an item.

    Raises
    ------
    ValidationError
        If ``item`` is not a Likert item of the codebook.

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, scale_range
    >>> scale_range(load_codebook(), "gtr4")
    (1, 7)
    """
    rows = codebook.loc[(codebook["item"] == item) & (codebook["kind"] == "item")]
    if rows.empty:
        raise ValidationError(f"item {item!r} is not a Likert item of the codebook")
    row = rows.iloc[0]
    return int(row["scale_min"]), int(row["scale_max"])


def who_rates_whom(codebook: pd.DataFrame) -> pd.DataFrame:
    """Who rates whom, per construct: the rater is always the respondent's own side (the
    ``rates == "rater"`` field, ``sector``); the target is the partner organisation (the
    ``rates == "partner"`` field, ``partner_sector``) or the partnership of the two.

    In dyadic data (:func:`asymtrust.dyads`), a ``partner`` construct's side mean ``<c>_<A>``
    is side A's rating *of side B*; a ``partnership`` construct's is side A's view of the
    relationship.

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, who_rates_whom
    >>> who_rates_whom(load_codebook()).loc["GoodTrust", "target"]
    'partner'
    """
    resp = codebook.loc[codebook["kind"] == "respondent"]
    field_of = {r: resp.loc[resp["rates"] == r, "item"].tolist() for r in ("rater", "partner")}
    rater = field_of["rater"][0] if field_of["rater"] else ""
    partner = field_of["partner"][0] if field_of["partner"] else ""
    rows = {}
    for construct, label, block in _sections(codebook):
        targets = sorted(set(block["rates"]) - {""})
        target = targets[0] if len(targets) == 1 else ("mixed" if targets else "")
        rows[construct] = {"label": label, "items": " ".join(block["item"]), "rater": rater, "target": target,
                           "target_field": {"partner": partner, "partnership": " and ".join(
                               f for f in (rater, partner) if f)}.get(target, "")}
    out = pd.DataFrame.from_dict(rows, orient="index",
                                 columns=["label", "items", "rater", "target", "target_field"])
    out.index.name = "construct"
    return out


def cluster_fields(codebook: pd.DataFrame) -> list[str]:
    """Codes of the cluster identifiers (``kind == "cluster"``), in codebook order; the first
    is the cluster of a nested design (``cluster=``).

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, cluster_fields
    >>> cluster_fields(load_codebook())
    ['partnership', 'organisation']
    """
    return codebook.loc[codebook["kind"] == "cluster", "item"].tolist()


def sector_levels(codebook: pd.DataFrame, field: str = "sector") -> list[str]:
    """Allowed levels of a respondent field (from its ``scale_labels``).

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, sector_levels
    >>> sector_levels(load_codebook())
    ['nhs', 'council', 'voluntary']
    """
    rows = codebook.loc[(codebook["item"] == field) & (codebook["kind"] == "respondent")]
    if rows.empty:
        raise ValidationError(f"respondent field {field!r} is not in the codebook")
    return [lvl.strip() for lvl in str(rows.iloc[0]["scale_labels"]).split("|") if lvl.strip()]


def _scale_labels(row: pd.Series) -> list[tuple[str, str]]:
    out = []
    for part in str(row["scale_labels"]).split("|"):
        code, _, label = part.partition("=")
        if code.strip():
            out.append((code.strip(), label.strip()))
    return out


def _sections(codebook: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    items = codebook.loc[codebook["kind"] == "item"]
    out = []
    for construct in dict.fromkeys(items["construct"]):
        block = items.loc[items["construct"] == construct]
        out.append((construct, str(block.iloc[0]["construct_label"]), block))
    return out


def codebook_markdown(codebook: pd.DataFrame) -> str:
    """Render the codebook as a Markdown questionnaire.

    One section per construct, questions numbered across sections, the response
    scale stated once (per distinct scale), reverse-keyed items marked ``(R)`` and
    the respondent fields first as "About you and your partner".

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, codebook_markdown
    >>> md = codebook_markdown(load_codebook())
    >>> "`ctr4` (R)" in md
    True
    """
    lines = ["# Partnership asymmetry and trust questionnaire", ""]
    lines += [
        "Think of **one partner organisation** your organisation works with on joint health and",
        "social care services, and answer every statement about that partner.",
        "",
    ]
    resp = codebook.loc[codebook["kind"] == "respondent"]
    items = codebook.loc[codebook["kind"] == "item"]
    if not items.empty:
        labels = _scale_labels(items.iloc[0])
        lines += ["**Response scale** (all statements):", ""]
        lines += [f"- {code} = {label}" for code, label in labels]
        lines += ["", "Items marked (R) are reverse-keyed: they are scored as "
                  f"{int(items.iloc[0]['scale_min']) + int(items.iloc[0]['scale_max'])} - answer.", ""]
    if not resp.empty:
        lines += ["## About you and your partner", ""]
        for row in resp.itertuples(index=False):
            levels = f" ({', '.join(row.scale_labels.split('|'))})" if row.scale_labels else ""
            lines.append(f"- `{row.item}`: {row.wording}{levels}")
        lines.append("")
    number = 0
    for construct, label, block in _sections(codebook):
        lines += [f"## {label} (`{construct}`)", ""]
        about = {"partner": "the partner organisation (`partner_sector`)",
                 "partnership": "the partnership of your organisation and the partner"}.get(
            next(iter(set(block["rates"]) - {""}), "") if len(set(block["rates"]) - {""}) == 1 else "")
        if about:
            lines += [f"*Who rates whom: your organisation (`sector`) rates {about}.*", ""]
        for row in block.itertuples(index=False):
            number += 1
            mark = " (R)" if int(row.reverse) == 1 else ""
            lines.append(f"{number}. `{row.item}`{mark} {row.wording}  ")
            lines.append(f"   *Source: {row.source}.*")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def codebook_text(codebook: pd.DataFrame, width: int = 88) -> str:
    """Render the codebook as plain text (one block per construct).

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, codebook_text
    >>> "Q19 ctr4 (R)" in codebook_text(load_codebook())
    True
    """
    import textwrap

    out = ["PARTNERSHIP ASYMMETRY AND TRUST QUESTIONNAIRE", ""]
    items = codebook.loc[codebook["kind"] == "item"]
    if not items.empty:
        scale = ", ".join(f"{c}={lab}" for c, lab in _scale_labels(items.iloc[0]))
        out += textwrap.wrap(f"Response scale: {scale}", width) + ["(R) = reverse-keyed", ""]
    resp = codebook.loc[codebook["kind"] == "respondent"]
    if not resp.empty:
        out.append("ABOUT YOU AND YOUR PARTNER")
        for row in resp.itertuples(index=False):
            levels = f" [{row.scale_labels}]" if row.scale_labels else ""
            out += textwrap.wrap(f"{row.item}: {row.wording}{levels}", width, subsequent_indent="    ")
        out.append("")
    number = 0
    for construct, label, block in _sections(codebook):
        out.append(f"{label.upper()} ({construct})")
        for row in block.itertuples(index=False):
            number += 1
            mark = " (R)" if int(row.reverse) == 1 else ""
            out += textwrap.wrap(f"Q{number} {row.item}{mark}: {row.wording}", width, subsequent_indent="    ")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def codebook_csv(codebook: pd.DataFrame) -> str:
    """Render the codebook as CSV text with the columns of :data:`CODEBOOK_COLUMNS`.

    Examples
    --------
    >>> from asymtrust.library.codebook import load_codebook, codebook_csv
    >>> codebook_csv(load_codebook()).splitlines()[0]
    'item,construct,construct_label,wording,source,scale_min,scale_max,scale_labels,reverse,kind,rates'
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CODEBOOK_COLUMNS)
    for row in codebook.loc[:, list(CODEBOOK_COLUMNS)].itertuples(index=False):
        writer.writerow(["" if pd.isna(v) else v for v in row])
    return buf.getvalue()


def render_codebook(codebook: pd.DataFrame | None = None, format: str = "md") -> str:
    """Render a codebook as ``md`` (questionnaire), ``csv`` or ``text``.

    This is what ``asymtrust codebook --format md|csv|text`` prints.

    Raises
    ------
    OptionError
        If ``format`` is not one of ``md``, ``csv``, ``text``.
    """
    cb = load_codebook() if codebook is None else codebook
    fmt = str(format).lower()
    if fmt in ("md", "markdown"):
        return codebook_markdown(cb)
    if fmt == "csv":
        return codebook_csv(cb)
    if fmt in ("text", "txt"):
        return codebook_text(cb)
    raise OptionError(f"codebook format must be one of {', '.join(_FORMATS)}, got {format!r}")
