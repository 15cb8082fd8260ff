"""Published cut-offs for reliability, validity and model fit, stored as data.

The table lives in ``datasets/cutoffs.csv`` (shipped as
``asymtrust/_data/datasets/cutoffs.csv`` in a wheel), one row per statistic with
the columns ``statistic, rule, threshold, citation``:

================  =====  =========  ==============================================
statistic         rule   threshold  source
================  =====  =========  ==============================================
alpha             >=     .70        Nunnally (1978)
cr                >=     .70        Hair, Black, Babin & Anderson (2019)
omega             >=     .70        Hair et al. (2019) (composite reliability)
ave               >=     .50        Fornell & Larcker (1981)
fornell_larcker   >      0          Fornell & Larcker (1981): sqrt(AVE) minus the
                                    construct's largest latent correlation
htmt              <      .85        Henseler, Ringle & Sarstedt (2015)
harman_pct        <      50         Podsakoff et al. (2003): % variance of the
                                    first unrotated factor
cfi, tli          >=     .95        Hu & Bentler (1999)
rmsea             <=     .06        Hu & Bentler (1999)
srmr              <=     .08        Hu & Bentler (1999)
================  =====  =========  ==============================================

Reliability tables (:func:`asymtrust.reliability`) and the report read the
cut-offs from here, so no threshold is written twice in the code.
"""
from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable

import pandas as pd

from .._paths import datasets_dir
from ..exceptions import OptionError

__all__ = ["load_cutoffs", "check", "rule_text", "short_citation"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_COLUMNS = ["statistic", "rule", "threshold", "citation"]


@functools.lru_cache(maxsize=1)
def _read() -> pd.DataFrame:
    path = datasets_dir() / "cutoffs.csv"
    table = pd.read_csv(path, dtype={"statistic": str, "rule": str, "citation": str})
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise OptionError(f"{path} lacks column(s) {', '.join(missing)}")
    bad = sorted(set(table["rule"]) - set(_OPS))
    if bad:
        raise OptionError(f"{path}: unknown rule(s) {', '.join(bad)}; use one of {', '.join(_OPS)}")
    if table["statistic"].duplicated().any():
        dup = table.loc[table["statistic"].duplicated(), "statistic"].tolist()
        raise OptionError(f"{path}: statistic(s) listed twice: {', '.join(dup)}")
    table["threshold"] = table["threshold"].astype(float)
    return table[_COLUMNS]


def load_cutoffs() -> pd.DataFrame:
    """Return the table of published cut-offs.

    Returns
    -------
    pandas.DataFrame
        Columns ``statistic`` (e.g. ``"alpha"``, ``"htmt"``, ``"cfi"``), ``rule``
        (one of ``>=``, ``>``, ``<=``, ``<``: the value passes when
        ``value RULE threshold``), ``threshold`` (float) and ``citation`` (full
        reference). A fresh copy is returned on every call.

    Examples
    --------
    >>> from asymtrust.analysis.cutoffs import load_cutoffs
    >>> row = load_cutoffs().set_index("statistic").loc["ave"]
    >>> row["rule"], float(row["threshold"])
    ('>=', 0.5)
    """
    return _read().copy()


def _row(statistic: str) -> pd.Series:
    table = _read()
    hit = table[table["statistic"] == statistic]
    if hit.empty:
        known = ", ".join(table["statistic"])
        raise OptionError(f"no published cut-off for statistic {statistic!r}; known: {known}")
    return hit.iloc[0]


def check(statistic: str, value: float) -> bool:
    """Whether ``value`` passes the published cut-off for ``statistic``.

    Parameters
    ----------
    statistic : str
        A name from the ``statistic`` column of :func:`load_cutoffs`.
    value : float
        The observed value. NaN (or None) never passes.

    Returns
    -------
    bool

    Raises
    ------
    asymtrust.exceptions.OptionError
        If ``statistic`` has no cut-off in the table.

    Examples
    --------
    >>> from asymtrust.analysis.cutoffs import check
    >>> check("alpha", 0.82), check("htmt", 0.91), check("rmsea", float("nan"))
    (True, False, False)
    """
    row = _row(statistic)
    if value is None:
        return False
    value = float(value)
    if math.isnan(value):
        return False
    return bool(_OPS[row["rule"]](value, float(row["threshold"])))


def short_citation(citation: str) -> str:
    """Author-year form of a full APA-style reference.

    Examples
    --------
    >>> short_citation("Hu, L., & Bentler, P. M. (1999). Cutoff criteria ...")
    'Hu & Bentler 1999'
    >>> short_citation("Nunnally, J. C. (1978). Psychometric theory.")
    'Nunnally 1978'
    """
    m = re.search(r"\((\d{4})\)", citation)
    if not m:
        return citation
    authors = citation[: m.start()]
    names = re.findall(r"([A-Z][\w'\-]+), (?:[A-Z]\.[ \-]?)+", authors)
    if not names:
        return citation
    year = m.group(1)
    if len(names) == 1:
        return f"{names[0]} {year}"
    if len(names) == 2:
        return f"{names[0]} & {names[1]} {year}"
    return f"{names[0]} et al. {year}"


def rule_text(statistic: str) -> str:
    """Human-readable cut-off, e.g. ``"AVE >= .50 (Fornell & Larcker 1981)"``.

    Examples
    --------
    >>> rule_text("htmt")
    'HTMT < .85 (Henseler et al. 2015)'
    """
    row = _row(statistic)
    thr = float(row["threshold"])
    num = f"{thr:.2f}".lstrip("0") if 0 < thr < 1 else f"{thr:g}"
    label = {
        "alpha": "alpha",
        "cr": "CR",
        "omega": "omega",
        "ave": "AVE",
        "fornell_larcker": "sqrt(AVE) - max |r|",
        "htmt": "HTMT",
        "harman_pct": "first-factor % variance",
    }.get(statistic, statistic.upper())
    return f"{label} {row['rule']} {num} ({short_citation(row['citation'])})"
