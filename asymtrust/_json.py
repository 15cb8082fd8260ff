"""One JSON-safe conversion for everything asymtrust writes as JSON (CLI ``--json``,
``FitResult.to_dict``, report files): pandas and numpy containers become plain Python,
NaN and infinities become ``null`` (JSON has no NaN), unknown objects become strings."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def json_safe(v: Any) -> Any:
    """Convert ``v`` (DataFrame, Series, dict, list, numpy scalar, ...) to JSON-safe Python."""
    if isinstance(v, pd.DataFrame):
        return [json_safe(r) for r in v.to_dict(orient="records")]
    if isinstance(v, pd.Series):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [json_safe(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (str, int)):
        return v
    return str(v)


def records(df: pd.DataFrame | None, *, keep_index: bool = False) -> list[dict] | None:
    """A DataFrame as JSON-safe records (optionally with its named index as a column)."""
    if df is None:
        return None
    if keep_index:
        df = df.reset_index(drop=df.index.name is None)
    return json_safe(df)
