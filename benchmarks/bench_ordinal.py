#!/usr/bin/env python
"""Ordered items against lavaan 0.6-14, in the same run (issue 15; target: >= 10x lavaan).

psych's ``bfi`` (25 items, 6 categories, 2800 rows; listwise 2436), the 5-factor CFA
with every item ordered (``tests/reference/ordinal/bfi.csv``), for the estimators
WLSMV (lavaan's default with ``ordered=``), WLSM, ULSMV and DWLS, WLSMV with pairwise
deletion (all 2800 rows) and in the theta parameterization, plus the first stage alone
(thresholds, polychoric correlations; lavaan's ``lavCor``); and the Fig. 1 SEM on
5-point items with 5% missing answers, WLSMV with pairwise deletion
(``tests/reference/ordinal/fig1_5pt.csv``). The script times:

* asymtrust: ``asymtrust.fit(model, data, ordered=True, estimator=...)`` (estimates, SEs,
  every fit measure) / ``asymtrust.polychoric(data)``, median of ``--reps`` calls after
  2 warm-up calls (in rounds over the cases, a garbage collection before each call, not
  timed), in this process with BLAS pinned to one thread (threadpoolctl);
* lavaan: ``sem(model, data, ordered = items, estimator = ...)`` followed by
  ``fitMeasures()`` and ``parameterEstimates(standardized = TRUE)`` / ``lavCor(data,
  ordered = items)``, median of ``--lavaan-reps`` calls after one warm-up, in one
  ``Rscript`` process started by this script with ``OPENBLAS_NUM_THREADS=1``.

Both run one after the other on the same machine, so host load hits both. The
speed-up is lavaan's median / asymtrust's median; the fastest run of each (less
sensitive to a loaded host) is printed beside it.

    python benchmarks/bench_ordinal.py [--reps 10] [--lavaan-reps 5] [--json FILE]

Exit status 0 when every speed-up is at least 10, else 1.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compare import lavaan_ms, pin_blas  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "reference" / "ordinal" / "bfi.csv"
FIG1 = REPO / "tests" / "reference" / "ordinal" / "fig1_5pt.csv"  # written by fig1_cases.R
TARGET = 10.0
ITEMS = [f"{c}{i}" for c in "ACENO" for i in range(1, 6)]
# the library's syntax reader takes 'E1' first in an indicator list for a number: the
# E items are renamed on both sides (the same data and model)
RENAME = {f"E{i}": f"Ext{i}" for i in range(1, 6)}
MODEL = "\n".join(f"{f} =~ " + " + ".join(RENAME.get(f"{f}{i}", f"{f}{i}") for i in range(1, 6)) for f in "ACENO")
ESTIMATORS = ["WLSMV", "WLSM", "ULSMV", "DWLS"]

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(TRUE)
reps <- as.integer(args[1]); jobs <- jsonlite::fromJSON(args[2], simplifyVector = FALSE)
time_it <- function(f) {
  invisible(suppressWarnings(f()))
  t <- numeric(reps)
  for (i in seq_len(reps)) { t0 <- proc.time()[["elapsed"]]; invisible(suppressWarnings(f())); t[i] <- proc.time()[["elapsed"]] - t0 }
  c(median(t), min(t)) * 1000
}
out <- list()
for (j in jobs) {
  d <- read.csv(j$csv); items <- names(d)
  if (j$kind == "cor") {
    out[[j$key]] <- time_it(function() lavCor(d, ordered = items))
  } else {
    f <- eval(parse(text = sprintf(
      "function() { fit <- sem(j$model, data = d, ordered = items%s); fitMeasures(fit); parameterEstimates(fit, standardized = TRUE) }",
      j$args)))
    out[[j$key]] <- time_it(f)
  }
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 8))
"""

#: case -> (data, model, asymtrust keywords, lavaan arguments as R text); data "bfi" or "fig1"
CASES = {"first stage": ("bfi", None, None, None)}
CASES.update({est: ("bfi", MODEL, {"estimator": est}, f', estimator = "{est}"') for est in ESTIMATORS})
CASES.update({
    "WLSMV pairwise": ("bfi", MODEL, {"missing": "pairwise"}, ', missing = "pairwise"'),
    "WLSMV theta": ("bfi", MODEL, {"parameterization": "theta"}, ', parameterization = "theta"'),
    "fig1 5-point, pairwise": ("fig1", "fig1", {"missing": "pairwise"}, ', missing = "pairwise"'),
})


def _data(name: str):
    import pandas as pd

    if name == "fig1":
        return pd.read_csv(FIG1)
    return pd.read_csv(DATA).rename(columns=RENAME)


def asymtrust_times(reps: int) -> dict[str, float]:
    import asymtrust

    pin_blas()
    data = {"bfi": _data("bfi"), "fig1": _data("fig1")}
    calls = {}
    for key, (dname, model, kw, _) in CASES.items():
        if model is None:
            calls[key] = lambda d=data[dname]: asymtrust.polychoric(d)
            continue

        def call(d=data[dname], model=model, kw=kw):
            res = asymtrust.fit(model, d, ordered=True, **kw)
            res.fit_indices  # noqa: B018 - built on first access
            res.estimates  # noqa: B018
        calls[key] = call
    times: dict[str, list[float]] = {key: [] for key in calls}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in calls.values():
            for _ in range(2):
                call()
        for _ in range(reps):  # rounds over the cases: a slow phase of the host hits every case alike
            for key, call in calls.items():
                gc.collect()  # the previous call's garbage is not this call's cost (timeit's convention)
                t0 = time.perf_counter()
                call()
                times[key].append(time.perf_counter() - t0)
    return {key: [statistics.median(t) * 1000, min(t) * 1000] for key, t in times.items()}


def lavaan_times(reps: int) -> dict[str, float]:
    from asymtrust.engine.fit import model_syntax

    tmp = Path(tempfile.mkdtemp(prefix="asymtrust-bench-ord-"))
    csv = {"bfi": tmp / "bfi.csv", "fig1": tmp / "fig1_5pt.csv"}
    for name, path in csv.items():
        _data(name).to_csv(path, index=False)
    jobs = []
    for key, (dname, model, _, rargs) in CASES.items():
        jobs.append({"key": key, "csv": str(csv[dname]), "kind": "cor" if model is None else "fit",
                     "model": model_syntax(model) if model else "", "args": rargs or ""})
    return lavaan_ms(R_SCRIPT, reps, jobs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--lavaan-reps", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    ours = asymtrust_times(args.reps)
    theirs = lavaan_times(args.lavaan_reps)
    rows = []
    for key in ours:
        (med, lo), (rmed, rlo) = ours[key], theirs[key]
        rows.append({"case": key, "asymtrust_ms": med, "lavaan_ms": rmed, "speedup": rmed / med,
                     "asymtrust_min_ms": lo, "lavaan_min_ms": rlo, "speedup_min": rlo / lo,
                     "met": rmed / med >= TARGET})
    print(f"{'case (bfi CFA unless named)':26} {'asymtrust':>10} {'lavaan':>10} {'speed-up':>9}  status"
          "     (fastest runs: asymtrust, lavaan, speed-up)")
    for r in rows:
        print(f"{r['case']:26} {r['asymtrust_ms']:8.1f}ms {r['lavaan_ms']:8.1f}ms {r['speedup']:8.1f}x  "
              f"{'MET    ' if r['met'] else 'NOT MET'}  ({r['asymtrust_min_ms']:.1f}ms, {r['lavaan_min_ms']:.1f}ms, "
              f"{r['speedup_min']:.1f}x)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
