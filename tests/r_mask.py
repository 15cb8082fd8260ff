"""The MCAR masks the reference R scripts store: ``which(is.na(...))`` of the masked
columns, 1-based and column-major, applied to a copy of the data (one helper for the tests
that rebuild a masked data set)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def apply_r_mask(data: pd.DataFrame, columns, indices) -> pd.DataFrame:
    """``data`` with the cells R's 1-based column-major ``indices`` into ``columns`` set to NaN."""
    cols = list(columns)
    X = data[cols].to_numpy(float, copy=True)
    idx = np.asarray(indices, int) - 1
    X[idx % len(data), idx // len(data)] = np.nan
    out = data.copy()
    out[cols] = X
    return out
