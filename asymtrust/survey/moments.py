"""Sample moments of a very large survey file in one streaming pass (pipeline step:
survey -> samplestats, for files that do not fit in memory).

A complete-data ML fit needs only the covariance matrix (divisor N) and the means of
the model's variables. :func:`read_moments` reads a CSV chunk by chunk
(``pandas.read_csv(chunksize=...)``), drops incomplete rows (listwise over the
requested columns) and pools the chunk moments with the pairwise update of Chan,
Golub & LeVeque (1983)::

    n    = n_a + n_b
    d    = mean_b - mean_a
    mean = mean_a + d * n_b / n
    M2   = M2_a + M2_b + d d' * n_a n_b / n      (M2 = sum of centred cross-products)

which is as accurate as a two-pass computation on the whole file: every chunk is
centred on its own mean before its cross-products are formed. Memory use is one
chunk (``chunksize`` rows of the file's columns) plus a ``p x p`` matrix,
whatever the number of rows.

The result plugs into :func:`asymtrust.fit` as summary statistics (lavaan's
``sample.cov`` / ``sample.mean`` / ``sample.nobs``)::

    m = read_moments("survey.csv", columns=spec.items()).recode_reverse()
    res = asymtrust.fit("fig1", **m.fit_kwargs())

In R: ``lavaan::sem(model, sample.cov = S, sample.mean = m, sample.nobs = N)`` with
``S = cov(X) * (N - 1) / N`` of the complete rows.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError, InsufficientDataError, OptionError, SurveyReadError

__all__ = ["Moments", "read_moments"]


@dataclass(frozen=True)
class Moments:
    """Complete-case moments of a set of columns.

    Attributes
    ----------
    cov : pandas.DataFrame
        Covariance matrix with divisor ``nobs`` (the ML estimate, as lavaan's
        ``sample.cov`` after its ``(N - 1) / N`` rescaling), labelled by column.
    mean : pandas.Series
        Column means.
    nobs : int
        Rows with a value in every requested column (used for the moments).
    n_incomplete : int
        Rows left out because at least one requested column was missing.
    source : str
        Where the moments came from (the file path).
    recoded : tuple of str
        Columns reverse-coded by :meth:`recode_reverse`.
    """

    cov: pd.DataFrame
    mean: pd.Series
    nobs: int
    n_incomplete: int
    source: str = ""
    recoded: tuple[str, ...] = field(default=())

    @property
    def columns(self) -> list[str]:
        """The columns, in order."""
        return [str(c) for c in self.cov.columns]

    @property
    def n_rows(self) -> int:
        """Data rows read (complete and incomplete)."""
        return self.nobs + self.n_incomplete

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`asymtrust.fit`: ``sample_cov``, ``sample_mean``,
        ``sample_nobs`` and ``sample_cov_rescale=False`` (the covariance here has divisor N
        already; fit() otherwise reads a matrix as lavaan does, unbiased, and rescales it)."""
        return {"sample_cov": self.cov, "sample_mean": self.mean, "sample_nobs": self.nobs,
                "sample_cov_rescale": False}

    def recode_reverse(self, items: Iterable[str] | None = None,
                       codebook: pd.DataFrame | str | os.PathLike | None = None) -> Moments:
        """Moments after reverse-coding items (``x -> scale_min + scale_max - x``).

        The moments analogue of :func:`asymtrust.recode_reverse`: the mean of a recoded
        item becomes ``scale_min + scale_max - mean`` and its covariances with the
        items not recoded change sign (variances are unchanged).

        Parameters
        ----------
        items : iterable of str, optional
            Items to recode; default every codebook item marked ``reverse = 1`` that is
            among the columns.
        codebook : DataFrame or path, optional
            Codebook giving ``reverse`` and the scale (default: the bundled one).

        Raises
        ------
        DataError
            An item is not a column, not in the codebook, or was recoded before.
        """
        from ..library.codebook import load_codebook

        cb = load_codebook(codebook) if not isinstance(codebook, pd.DataFrame) else codebook
        cb = cb.loc[cb["kind"] == "item"] if "kind" in cb.columns else cb
        rows = {str(r["item"]): r for _, r in cb.iterrows()}
        cols = self.columns
        if items is None:
            targets = [c for c in cols if c in rows and int(rows[c]["reverse"]) == 1]
        else:
            targets = [str(i) for i in items]
            absent = [c for c in targets if c not in cols]
            if absent:
                raise DataError(f"cannot reverse-code {', '.join(absent)}: not among the columns of the moments")
            unknown = [c for c in targets if c not in rows]
            if unknown:
                raise DataError(f"cannot reverse-code {', '.join(unknown)}: not an item of the codebook")
        again = [c for c in targets if c in self.recoded]
        if again:
            raise DataError(f"{', '.join(again)} already reverse-coded; recoding twice would undo it")
        sign = np.ones(len(cols))
        mean = self.mean.to_numpy(dtype=float).copy()
        for c in targets:
            j = cols.index(c)
            lo, hi = float(rows[c]["scale_min"]), float(rows[c]["scale_max"])
            sign[j] = -1.0
            mean[j] = lo + hi - mean[j]
        S = self.cov.to_numpy(dtype=float) * np.outer(sign, sign)
        return Moments(cov=pd.DataFrame(S, index=cols, columns=cols), mean=pd.Series(mean, index=cols),
                       nobs=self.nobs, n_incomplete=self.n_incomplete, source=self.source,
                       recoded=tuple(self.recoded) + tuple(targets))


def _header(path: Path, sep: str, encoding: str | None) -> list[str]:
    try:
        head = pd.read_csv(path, sep=sep, nrows=0, encoding=encoding)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise SurveyReadError(f"cannot read the header of {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    return [str(c) for c in head.columns]


def _numeric_block(chunk: pd.DataFrame, columns: list[str], first_row: int, codes: list[float]) -> np.ndarray:
    """The chunk as a float matrix (NaN = missing); text cells raise DataError naming
    the column and the file line."""
    sub = chunk[columns]
    if all(pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t) for t in sub.dtypes):
        X = sub.to_numpy(dtype=float, na_value=np.nan)  # one block copy (the usual case)
    else:
        X = np.empty((len(sub), len(columns)))
        for j, c in enumerate(columns):
            s = sub[c]
            if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                X[:, j] = s.to_numpy(dtype=float, na_value=np.nan)
                continue
            conv = pd.to_numeric(s, errors="coerce")
            bad = s.notna().to_numpy() & conv.isna().to_numpy()
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(f"column {c!r} is not numeric: line {first_row + i + 2} holds {s.iloc[i]!r}")
            X[:, j] = conv.to_numpy(dtype=float, na_value=np.nan)
    if codes:
        X[np.isin(X, codes)] = np.nan
    inf = np.isinf(X)
    if inf.any():
        i, j = (int(v[0]) for v in np.nonzero(inf))
        raise DataError(f"column {columns[j]!r} holds an infinite value on line {first_row + i + 2}")
    return X


def read_moments(path: str | os.PathLike, columns: Sequence[str] | None = None, *,
                 chunksize: int = 100_000, missing_codes: Iterable[Any] = (), sep: str = ",",
                 encoding: str | None = None) -> Moments:
    """Covariance matrix (divisor N) and means of a large CSV in one streaming pass.

    Parameters
    ----------
    path : str or path-like
        A delimited text file with a header line (compressed files as pandas reads
        them: ``.gz``, ``.bz2``, ``.zip``, ``.xz``, ``.zst``).
    columns : sequence of str, optional
        Columns to use, in this order (typically ``spec.items()``). Default: every
        column whose first chunk is numeric.
    chunksize : int
        Rows per chunk (memory use is about ``chunksize`` x 8 bytes per column of the
        file, per copy held).
    missing_codes : iterable
        Values that mean "missing" besides empty cells and ``NA`` (e.g. ``(-9, 99)``).
    sep : str
        Field separator.
    encoding : str, optional
        Text encoding (default: pandas' UTF-8).

    Returns
    -------
    Moments
        Listwise over ``columns``: rows with a missing value in any of them are left
        out and counted in ``n_incomplete``.

    Raises
    ------
    SurveyReadError
        The file is missing or unreadable, or a row has more fields than the header (an
        unquoted separator inside a text answer): the message names the line, as
        :func:`asymtrust.read_survey` does. Every column is parsed for that check,
        not only ``columns``.
    DataError
        A requested column is not in the header, or holds text or infinite values
        (the message names the column and the line).
    InsufficientDataError
        Fewer than two complete rows.
    OptionError
        ``chunksize`` is not a positive integer.

    Examples
    --------
    >>> import asymtrust, tempfile, os
    >>> from asymtrust.survey.moments import read_moments
    >>> path = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> asymtrust.simulate("fig1", 300, seed=1).to_csv(path, index=False)
    >>> m = read_moments(path, columns=asymtrust.load_spec("fig1").items(), chunksize=64).recode_reverse()
    >>> m.nobs, m.n_incomplete
    (300, 0)
    >>> res = asymtrust.fit("fig1", **m.fit_kwargs())
    >>> bool(res.converged)
    True
    """
    if isinstance(chunksize, bool) or not isinstance(chunksize, (int, np.integer)) or chunksize < 1:
        raise OptionError(f"chunksize must be a positive integer number of rows, not {chunksize!r}")
    p = Path(path)
    if not p.is_file():
        raise SurveyReadError(f"survey file {p} does not exist or is not a file")
    header = _header(p, sep, encoding)
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise DataError(f"column {dup[0]!r} appears more than once in the header of {p}")
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        cols = [str(c) for c in columns]
        if not cols:
            raise OptionError("columns must name at least one column")
        absent = [c for c in cols if c not in header]
        if absent:
            raise DataError(f"column {absent[0]!r} is not in {p} (its header has {len(header)} columns)")
        twice = sorted({c for c in cols if cols.count(c) > 1})
        if twice:
            raise OptionError(f"column {twice[0]!r} is requested twice")
    else:
        cols = []
    codes = list(missing_codes)
    num_codes = []
    for c in codes:
        try:
            v = float(c)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            num_codes.append(v)
    na_values = [str(c) for c in codes] or None

    n = 0
    mean: np.ndarray | None = None
    M2: np.ndarray | None = None
    n_incomplete = 0
    first = 0
    try:
        # every column is parsed (not only ``usecols``), so that a row with more fields than
        # the header is an error naming its line, as in read_survey, instead of being cut
        reader = pd.read_csv(p, sep=sep, chunksize=int(chunksize), na_values=na_values,
                             encoding=encoding, low_memory=False)
        with reader:
            for chunk in reader:
                if not (isinstance(chunk.index, pd.RangeIndex) and chunk.index.start == first):
                    raise SurveyReadError(
                        f"cannot read {p}: data rows have more fields than the header ({len(header)} names); check "
                        f"the separator and quoting")
                if not cols:  # default: the numeric columns of the first chunk, in file order
                    cols = [str(c) for c in chunk.columns
                            if pd.api.types.is_numeric_dtype(chunk[c]) or chunk[c].isna().all()]
                    if not cols:
                        raise DataError(f"{p} has no numeric column; name the columns to use")
                X = _numeric_block(chunk, cols, first, num_codes)
                first += len(chunk)
                keep = ~np.isnan(X).any(axis=1)
                n_incomplete += int((~keep).sum())
                X = X[keep]
                nb = X.shape[0]
                if nb == 0:
                    continue
                mb = X.mean(axis=0)
                Xc = X - mb
                M2b = Xc.T @ Xc
                if mean is None:
                    n, mean, M2 = nb, mb, M2b
                    continue
                tot = n + nb
                d = mb - mean
                mean = mean + d * (nb / tot)
                M2 = M2 + M2b + np.outer(d, d) * (n * nb / tot)
                n = tot
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            msg = f"line {m.group(2)} has {m.group(3)} fields but the header has {m.group(1)}"
        raise SurveyReadError(f"cannot read {p} after {first} data rows: {msg}") from None
    if n < 2 or mean is None or M2 is None:
        raise InsufficientDataError(
            f"{p} has {n} complete row(s) over the {len(cols)} requested columns "
            f"({n_incomplete} incomplete); at least 2 are needed")
    S = M2 / n
    S = (S + S.T) / 2.0
    return Moments(cov=pd.DataFrame(S, index=cols, columns=cols), mean=pd.Series(mean, index=cols),
                   nobs=int(n), n_incomplete=int(n_incomplete), source=str(p))
