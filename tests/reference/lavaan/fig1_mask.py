"""Write the 5% MCAR mask used by the ``fig1_bcf_fiml`` lavaan reference case.

The mask is drawn with numpy (``default_rng(SEED)``) over the Fig. 1 items of
``datasets/bcf_synthetic.csv`` and saved as ``fig1_bcf_mask.csv`` next to this file,
one masked cell per line:

* ``index``  -- 1-based column-major index into ``data[, items]`` (items in the order of
  the ``=~`` lines of ``specs/fig1.lav``), as R's ``X[index] <- NA`` would use it;
* ``row``    -- 1-based data row;
* ``column`` -- item code.

``fig1_cases.R`` reads this file, so R and Python blank exactly the same cells. Run it
through ``scripts/refresh_references.sh`` (or ``python tests/reference/lavaan/fig1_mask.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240611
RATE = 0.05
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def fig1_items(spec: Path) -> list[str]:
    """Indicator codes of the ``=~`` lines of a lavaan syntax file, in order."""
    items: list[str] = []
    for line in spec.read_text().splitlines():
        line = line.split("#", 1)[0]
        if "=~" in line:
            rhs = line.split("=~", 1)[1]
            items += [t.split("*")[-1].strip() for t in rhs.split("+") if t.strip()]
    return [i for i in items if re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", i)]


def make_mask(
    n_rows: int, items: list[str], seed: int = SEED, rate: float = RATE
) -> pd.DataFrame:
    """Draw an MCAR mask; redraw (next stream values) until no row loses every item."""
    rng = np.random.default_rng(seed)
    while True:
        mask = rng.random((n_rows, len(items))) < rate
        if not mask.all(axis=1).any():
            break
    flat = np.flatnonzero(mask.ravel(order="F"))
    return pd.DataFrame(
        {
            "index": flat + 1,
            "row": flat % n_rows + 1,
            "column": [items[j] for j in flat // n_rows],
        }
    )


def main() -> None:
    data = pd.read_csv(ROOT / "datasets" / "bcf_synthetic.csv")
    items = fig1_items(ROOT / "specs" / "fig1.lav")
    missing = [i for i in items if i not in data.columns]
    if missing:
        raise SystemExit(f"bcf_synthetic.csv lacks fig1 items: {missing}")
    out = make_mask(len(data), items)
    out.to_csv(HERE / "fig1_bcf_mask.csv", index=False)
    print(
        f"fig1_bcf_mask.csv: {len(out)} of {len(data) * len(items)} cells "
        f"({len(items)} items x {len(data)} rows), seed {SEED}"
    )


if __name__ == "__main__":
    main()
