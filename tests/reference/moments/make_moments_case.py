"""Write moments_case.csv, the input of moments_case.R and tests/test_moments.py.

400 simulated fig1 respondents (items as answered, reverse-keyed items not recoded),
2% of item cells missing completely at random; half of the missing cells are written
as the missing code -9, the other half left blank. Run from the repository root:
``python tests/reference/moments/make_moments_case.py``.
"""
from pathlib import Path

import numpy as np

import asymtrust

here = Path(__file__).resolve().parent
df = asymtrust.simulate("fig1", 400, seed=20240707, missing=0.02)
items = asymtrust.load_spec("fig1").items()
rng = np.random.default_rng(7)
out = df.copy().astype({c: object for c in items})
for c in items:
    miss = np.flatnonzero(df[c].isna().to_numpy())
    code = miss[rng.random(miss.size) < 0.5]
    out.loc[out.index[code], c] = -9
    out[c] = [("" if (isinstance(v, float) and np.isnan(v)) else int(v)) for v in out[c]]
out.to_csv(here / "moments_case.csv", index=False)
