"""Bundled datasets and their registry.

The registry ``datasets/registry.csv`` lists every bundled dataset with its
provenance (``source``, ``licence``, ``citation``), in the manner of
statsmodels' dataset modules and pingouin's ``datasets.csv``. Two kinds exist:

``synthetic``
    Data simulated by asymtrust from the Fig. 1 model (``bcf_synthetic``). They
    carry no empirical evidence; ``df.attrs["synthetic"]`` is ``True``.
``reference``
    Classic SEM datasets as shipped with lavaan 0.6.14 (``hs1939``,
    ``poldem``), used to check estimates against lavaan.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._paths import datasets_dir
from ..exceptions import DataError

__all__ = ["list_datasets", "load_dataset", "dataset_path"]

_REGISTRY_COLUMNS = [
    "name",
    "title",
    "kind",
    "n_rows",
    "source",
    "licence",
    "citation",
    "file",
    "description",
]


def _registry() -> pd.DataFrame:
    path = datasets_dir() / "registry.csv"
    try:
        reg = pd.read_csv(path, dtype=str, keep_default_na=False)
    except OSError as exc:  # pragma: no cover - broken installation
        raise DataError(f"dataset registry {path} cannot be read: {exc.strerror or exc}") from exc
    missing = [c for c in _REGISTRY_COLUMNS if c not in reg.columns]
    if missing:  # pragma: no cover - broken installation
        raise DataError(f"dataset registry {path} lacks the columns {', '.join(missing)}")
    if "aliases" not in reg.columns:
        reg["aliases"] = ""
    return reg


def list_datasets() -> pd.DataFrame:
    """List the bundled datasets.

    Returns
    -------
    pandas.DataFrame
        One row per dataset with the columns ``name, title, kind, n_rows,
        source, licence, citation, file, description, aliases``. ``n_rows`` is
        an integer (``<NA>`` if the registry does not record it).

    Examples
    --------
    >>> from asymtrust import list_datasets
    >>> sorted(list_datasets()["name"])
    ['bcf_dyads', 'bcf_nested', 'bcf_synthetic', 'heywood_demo', 'hs1939', 'poldem']
    """
    reg = _registry().copy()
    reg["n_rows"] = pd.to_numeric(reg["n_rows"], errors="coerce").astype("Int64")
    return reg.reset_index(drop=True)


def _resolve(name: str) -> pd.Series:
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"dataset name must be a non-empty string, got {name!r}")
    reg = _registry()
    key = name.strip().casefold()
    for _, row in reg.iterrows():
        aliases = [a.strip() for a in str(row["aliases"]).split("|") if a.strip()]
        if key in {row["name"].casefold(), *(a.casefold() for a in aliases)}:
            return row
    known = ", ".join(reg["name"])
    raise DataError(f"unknown dataset {name!r}; available datasets: {known}")


def dataset_path(name: str) -> Path:
    """Path of the CSV file of a bundled dataset.

    Parameters
    ----------
    name : str
        Registry name or alias (case-insensitive), e.g. ``"hs1939"`` or
        ``"HolzingerSwineford1939"``.

    Returns
    -------
    pathlib.Path
        The file (it is not checked for existence).
    """
    return datasets_dir() / _resolve(name)["file"]


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled dataset.

    Parameters
    ----------
    name : str
        Registry name (``bcf_synthetic``, ``hs1939``, ``poldem``) or an alias
        (``HolzingerSwineford1939``, ``PoliticalDemocracy``); case-insensitive.

    Returns
    -------
    pandas.DataFrame
        The data, read with pandas' default parsing (numeric codes stay
        numeric, text columns use pandas' default string dtype). ``df.attrs``
        holds ``dataset`` (registry name), ``synthetic`` (bool), ``title``,
        ``source``, ``licence`` and ``citation``.

    Raises
    ------
    DataError
        If the name is unknown (the message lists the available names) or the
        file is missing.

    Examples
    --------
    >>> from asymtrust import load_dataset
    >>> hs = load_dataset("HolzingerSwineford1939")
    >>> hs.shape, hs.attrs["dataset"], hs.attrs["synthetic"]
    ((301, 15), 'hs1939', False)

    In R: ``lavaan::HolzingerSwineford1939``.
    """
    row = _resolve(name)
    path = datasets_dir() / row["file"]
    if not path.is_file():
        raise DataError(f"dataset {row['name']!r}: file {path} is missing from the installation")
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"dataset {row['name']!r}: file {path} cannot be read: {exc}") from exc
    if row["n_rows"].strip() and len(df) != int(row["n_rows"]):
        raise DataError(
            f"dataset {row['name']!r}: file {path.name} has {len(df)} rows but the registry records {row['n_rows']}"
        )
    df.attrs.update(
        dataset=row["name"],
        synthetic=row["kind"] == "synthetic",
        title=row["title"],
        source=row["source"],
        licence=row["licence"],
        citation=row["citation"],
    )
    return df
