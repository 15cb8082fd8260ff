"""Generate the SYNTHETIC dyadic data set ``datasets/bcf_dyads.csv`` (issue 18).

Respondents of 200 health and social care partnerships, each with an NHS side and a council
side (1 to 5 respondents per side; the council side of 10 partnerships did not answer).
Every respondent rates, on 7-point items, the capacity imbalance in the partnership
(cap1-3, as the codebook's CapImb items), their goodwill trust in the other side (gtr1-3), their competence trust in it
(ctr1-3) and the partnership's integration (integ1-2). See ``datasets/bcf_dyads.md`` for
the population values. THESE DATA ARE SIMULATED; they are not answers of real people.

Run:  python scripts/make_bcf_dyads.py            (writes datasets/bcf_dyads.csv)
      python scripts/make_bcf_dyads.py --check    (checks the file is current)
"""
from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261207
P = 200
MISSING_COUNCIL = 10
#: population values on the 1-7 metric of the side's true (partnership-level) perception
POP = {
    "capimb_mean": 4.0, "capimb_sd": 1.0, "capimb_cor": 0.30,
    # goodwill trust of side s: intercept + actor * (own capimb - 4) + partner * (other's capimb - 4)
    #                           + incongruence * (capimb_nhs - capimb_council)^2 + e
    "gw_intercept": {"nhs": 4.6, "council": 4.4},
    "actor": {"nhs": -0.20, "council": -0.45},
    "partner": {"nhs": -0.10, "council": -0.30},
    "incongruence": -0.25,
    "gw_resid_sd": 0.55, "gw_resid_cor": 0.30,
    # competence trust: 4.8 - 0.25 * (own capimb - 4) + e (sd .6)
    "ct_actor": -0.25,
    # integration (a partnership outcome rated by each side): 3.0 + 0.35 * mean goodwill + e
    "integ_goodwill": 0.35,
    # respondents: true side value + respondent deviation (sd .45) + item error (sd .5), rounded to 1..7
    "resp_sd": 0.45, "item_sd": 0.5,
}


def _clip(v: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(v), 1, 7).astype(int)


def generate(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    c = POP["capimb_cor"]
    cov = POP["capimb_sd"] ** 2 * np.array([[1, c], [c, 1]])
    rc = POP["gw_resid_cor"]
    rcov = POP["gw_resid_sd"] ** 2 * np.array([[1, rc], [rc, 1]])
    rid = 0
    for p in range(1, P + 1):
        cap = rng.multivariate_normal([POP["capimb_mean"]] * 2, cov)
        e = rng.multivariate_normal([0, 0], rcov)
        side_vals = {}
        for i, s in enumerate(("nhs", "council")):
            own, other = cap[i] - 4, cap[1 - i] - 4
            gw = (POP["gw_intercept"][s] + POP["actor"][s] * own + POP["partner"][s] * other
                  + POP["incongruence"] * (cap[0] - cap[1]) ** 2 + e[i])
            ct = 4.8 + POP["ct_actor"] * own + rng.normal(0, 0.6)
            side_vals[s] = (cap[i], gw, ct)
        integ = 3.0 + POP["integ_goodwill"] * (side_vals["nhs"][1] + side_vals["council"][1]) / 2 + rng.normal(0, .5)
        for s in ("nhs", "council"):
            if s == "council" and p > P - MISSING_COUNCIL:
                continue
            cap_s, gw_s, ct_s = side_vals[s]
            for _ in range(int(rng.integers(1, 6))):
                rid += 1
                rec = {"resp_id": rid, "partnership": f"BCF{p:03d}", "sector": s,
                       "partner_sector": "council" if s == "nhs" else "nhs"}
                for name, val in (("cap", cap_s), ("gtr", gw_s), ("ctr", ct_s)):
                    u = rng.normal(0, POP["resp_sd"])
                    for j in (1, 2, 3):
                        rec[f"{name}{j}"] = int(_clip(val + u + rng.normal(0, POP["item_sd"])))
                u = rng.normal(0, POP["resp_sd"])
                for j in (1, 2):
                    rec[f"integ{j}"] = int(_clip(integ + u + rng.normal(0, POP["item_sd"])))
                rows.append(rec)
    return pd.DataFrame(rows)


def _csv(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    out = Path(__file__).resolve().parent.parent / "datasets" / "bcf_dyads.csv"
    data = _csv(generate())
    if a.check:
        ok = out.is_file() and out.read_bytes() == data
        print("current" if ok else "out of date")
        return 0 if ok else 1
    out.write_bytes(data)
    n = data.count(b"\n") - 1
    print(f"wrote {out} ({n} rows), sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
