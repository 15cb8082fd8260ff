#!/usr/bin/env python
"""Write the two SYNTHETIC data sets of the improper-solution reference cases.

Both are drawn with numpy (fixed seeds) and then transformed so that their sample
correlation matrix (divisor N) equals a chosen matrix exactly, which puts the
maximum-likelihood solution where the case needs it:

``nonpd_latent.csv`` (N = 200, x1..x6)
    r = 0.4 within {x1, x2, x3} and within {x4, x5, x6}, r = 0.5 across: a two-factor
    CFA reproduces this only with a latent correlation of 0.5 / 0.4 = 1.25, so the
    latent covariance matrix is not positive definite.
``huge_se.csv`` (N = 200, x1..x4)
    r = 0.5 within {x1, x2} and within {x3, x4}, r = 0.00005 across: two factors with
    two indicators each, almost uncorrelated, so their loadings are empirically
    under-identified and have huge standard errors.

Run from the repository root: ``python tests/reference/improper/make_data.py``; then
``Rscript tests/reference/improper/improper_cases.R`` writes ``improper.json``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def exact_sample(R: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` rows whose sample correlation matrix (divisor N) is exactly ``R``, means 0."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, len(R)))
    X -= X.mean(axis=0)
    L = np.linalg.cholesky(np.cov(X, rowvar=False, bias=True))
    X = X @ np.linalg.inv(L).T
    return X @ np.linalg.cholesky(R).T


def frames() -> dict[str, pd.DataFrame]:
    R1 = np.full((6, 6), 0.5)
    R1[:3, :3] = R1[3:, 3:] = 0.4
    np.fill_diagonal(R1, 1.0)
    R2 = np.full((4, 4), 0.00005)
    R2[:2, :2] = R2[2:, 2:] = 0.5
    np.fill_diagonal(R2, 1.0)
    return {
        "nonpd_latent.csv": pd.DataFrame(exact_sample(R1, 200, 2), columns=[f"x{i}" for i in range(1, 7)]),
        "huge_se.csv": pd.DataFrame(exact_sample(R2, 200, 3), columns=[f"x{i}" for i in range(1, 5)]),
    }


if __name__ == "__main__":
    for name, df in frames().items():
        df.to_csv(HERE / name, index=False, float_format="%.10f", lineterminator="\n")
        print(f"wrote {HERE / name}")
