"""The provenance every analysis result carries (issue 12): the warnings of the fits it
rests on (non-convergence, Heywood cases, ...) and the rows read, used and dropped by
reason, in its text (``str()``, ``summary()``) and in its JSON (``to_dict()``).

Used by effects, compare, invariance, path_equality, power, moderation and reliability;
nothing a fit reports may be lost on the way to the analyst.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["ResultTable", "data_usage", "fit_problems", "merge_usage", "provenance_lines", "result_table",
           "usage_text"]


# Every analysis that rests on fits (effects, compare, invariance, path_equality, power,
# moderation, reliability) carries the fits' problems and how many rows they used, in
# its text and in its to_dict(): nothing a fit reports may be lost on the way.

def fit_problems(res: Any, source: str) -> list[str]:
    """The warnings of a fit (non-convergence, Heywood cases, ...), each prefixed with
    ``source`` (``"model 'fig1'"``, ``"metric model"``, ``"fit"``)."""
    out = [f"{source}: {w}" for w in (getattr(res, "warnings", None) or [])]
    if not bool(getattr(res, "converged", True)) and not any("converge" in w for w in out):
        out.append(f"{source}: the optimiser did not converge; the estimates are not trustworthy")
    return out


def data_usage(res: Any, source: str = "", data: Any = None) -> dict[str, Any]:
    """Rows read, rows used and rows dropped by reason, for one fit.

    ``n_read``/``n_used``/``dropped`` come from the fit (``FitResult.n_read``, ...);
    a fit to sample moments has no ``n_read``: then it is the number of rows of
    ``data`` when given, else None.
    """
    n_used = res.n_used
    n_read = res.n_read
    if n_read is None and data is not None:
        n_read = len(data)
    dropped = {str(k): int(v) for k, v in dict(res.dropped or {}).items() if int(v)}
    if not dropped and n_read is not None and n_used is not None and int(n_read) > int(n_used):
        dropped = {"not used by the model (reason not recorded)": int(n_read) - int(n_used)}
    return {"source": source, "n_read": None if n_read is None else int(n_read),
            "n_used": None if n_used is None else int(n_used), "dropped": dropped}


def merge_usage(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries with the same counts merged into one (their sources joined)."""
    out: list[dict[str, Any]] = []
    for e in entries:
        for o in out:
            if (o["n_read"], o["n_used"], o["dropped"]) == (e["n_read"], e["n_used"], e["dropped"]):
                if e["source"] and e["source"] not in o["source"].split(", "):
                    o["source"] = f"{o['source']}, {e['source']}" if o["source"] else e["source"]
                break
        else:
            out.append(dict(e, dropped=dict(e["dropped"])))
    return out


def usage_text(entry: dict[str, Any]) -> str:
    """``"140 used of 150 read (dropped: 10 missing values)"``."""
    n_used, n_read = entry.get("n_used"), entry.get("n_read")
    head = f"{n_used} used" if n_read is None else f"{n_used} used of {n_read} read"
    dropped = entry.get("dropped") or {}
    if dropped:
        head += " (dropped: " + ", ".join(f"{n} {why}" for why, n in dropped.items()) + ")"
    return head


def provenance_lines(warnings: Sequence[str], data: Sequence[dict[str, Any]]) -> list[str]:
    """The data-usage lines and the WARNINGS block of a result's text."""
    lines: list[str] = []
    data = list(data or [])
    if len(data) == 1:
        one = data[0].get("source") or ""
        src = f" ({one})" if one and ", " not in one else ""
        lines.append(f"Rows{src}: {usage_text(data[0])}")
    else:
        lines += [f"Rows ({e.get('source') or '?'}): {usage_text(e)}" for e in data]
    if warnings:
        lines += ["WARNINGS"] + [f"  ! {w}" for w in warnings]
    return lines


class ResultTable(pd.DataFrame):
    """A table of results (a :class:`pandas.DataFrame`) that keeps the problems of the
    fits it rests on.

    ``attrs["warnings"]`` (:attr:`warnings`) lists the fits' warnings (non-convergence,
    Heywood cases, ...), each prefixed with the model, level or step it came from;
    ``attrs["data"]`` (:attr:`data_usage`) the rows read, used and dropped (by reason).
    ``str()`` / :meth:`summary` print both with the table, and :meth:`to_dict` (no
    argument) returns them with the rows as JSON-safe records. With an ``orient``
    argument, ``to_dict`` is pandas' own.
    """

    _metadata: list[str] = []

    @property
    def _constructor(self):
        return ResultTable

    @property
    def warnings(self) -> list[str]:
        """The underlying fits' warnings, prefixed with where they came from."""
        return list(self.attrs.get("warnings") or [])

    @property
    def data_usage(self) -> list[dict[str, Any]]:
        """Per fit (or group of fits with the same counts): ``source, n_read, n_used, dropped``."""
        return [dict(e) for e in self.attrs.get("data") or []]

    def summary(self) -> str:
        """Title, rows used of rows read, warnings, then the table."""
        lines = []
        if self.attrs.get("title"):
            lines.append(str(self.attrs["title"]))
        lines += provenance_lines(self.warnings, self.data_usage)
        if lines:
            lines.append("")
        with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_rows", 500):
            lines.append(pd.DataFrame(self).to_string(index=self.index.name is not None,
                                                      float_format=lambda v: f"{v:.3f}"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str | None:
        body = super()._repr_html_()
        if body is None or not self.warnings:
            return body
        import html as _html

        items = "".join(f"<li>{_html.escape(w)}</li>" for w in self.warnings)
        return f"<ul style='color:#b00'>{items}</ul>{body}"

    def to_dict(self, orient: Any = None, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Without arguments: ``{<kind>: rows, "warnings": [...], "data": [...], **attrs}``
        (JSON-safe); with ``orient`` (``"records"``, ...): :meth:`pandas.DataFrame.to_dict`."""
        if orient is not None or args or kwargs:
            return super().to_dict(orient if orient is not None else "dict", *args, **kwargs)
        from .._json import json_safe, records

        attrs = {k: v for k, v in self.attrs.items() if k not in ("warnings", "data", "kind", "title")}
        frame = pd.DataFrame(self)
        return json_safe({str(self.attrs.get("kind", "table")): records(frame, keep_index=frame.index.name is not None),
                          "warnings": self.warnings, "data": self.data_usage, **attrs})


def result_table(frame: pd.DataFrame, *, kind: str, warnings: Sequence[str], data: Sequence[dict[str, Any]],
                 title: str = "") -> ResultTable:
    """``frame`` as a :class:`ResultTable` carrying its attrs, ``warnings`` and ``data``."""
    out = ResultTable(frame)
    out.attrs = dict(frame.attrs)
    out.attrs.update(kind=kind, warnings=list(warnings), data=merge_usage(data))
    if title:
        out.attrs["title"] = title
    return out
