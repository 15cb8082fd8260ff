#!/usr/bin/env python
"""Two-level SEM (ML, FIML, MLR) and cluster-robust MLR against lavaan 0.6-14, in the same
run (target: >= 10x lavaan for every family; issue 16).

Data: lavaan's ``Demo.twolevel`` (``tests/reference/nested/demo_twolevel.csv``, 2500 rows
in 200 clusters of unequal size) and its MCAR copy with 5% of y1-y6 blanked
(``demo_twolevel_mcar.csv``, the data of the two-level FIML references). Models: the
two-level references of ``tests/reference/nested/twolevel_cases.R`` (``tl_cfa``,
``tl_cfa6``, ``tl_between``, ``tl_docs`` = lavaan's documentation example) with
``cluster = "cluster"``; the same CFA and documentation model with ``missing = "ml"``
(two-level FIML, ``tl_fiml_*`` of ``twolevel_robust_missing.R``) and with
``estimator = "MLR"`` (``tl_mlr_*``); the two-level Fig. 1 variant (``specs/fig1_twolevel``)
on the SYNTHETIC ``bcf_nested`` data (949 respondents in 60 partnerships,
``cluster = "partnership"``) with ML and with MLR; and the single-level SEM with
``cluster=`` and ``estimator = "MLR"`` (``mlr_sem``, cluster-robust MLR). The script times

* asymtrust: ``asymtrust.fit(model, data.copy(), cluster=..., ...)`` (a fresh copy of the
  data frame in every call) with its fit measures and estimates table (standardized
  solution with delta-method SEs), median CPU time of the calls after the warm-up calls,
  in this process with BLAS pinned to one thread (threadpoolctl);
* lavaan: ``sem(model, data, cluster = ..., ...)`` followed by ``fitMeasures()``,
  ``parameterEstimates(standardized = TRUE)`` and ``standardizedSolution()`` (the
  standardized solution's SEs, which asymtrust's table holds too), median CPU time of the
  calls after the warm-ups, in one ``Rscript`` process started by this script with
  ``OPENBLAS_NUM_THREADS=1``.

Calls per case: ``--reps`` after 3 warm-ups, except where lavaan takes seconds per fit
(``SLOW``: fewer calls, the same number on both sides). Both run one after the other on the
same machine. Times are CPU times of the process (Python ``time.process_time``, R
``proc.time()`` user + system), so that other jobs on a shared host do not inflate either
side; BLAS is on one thread in both. The speed-up is lavaan's median / asymtrust's median.

    python benchmarks/bench_twolevel.py [--reps 20] [--json FILE] [--markdown FILE]

Exit status 0 when every speed-up is at least 10, else 1.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compare import arguments, lavaan_ms, median_ms, pin_blas  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
REF = REPO / "tests" / "reference" / "nested"
CSV = REF / "demo_twolevel.csv"
MCAR = REF / "demo_twolevel_mcar.csv"
NESTED = (REPO / "datasets" / "bcf_nested.csv", "partnership")
TARGET = 10.0
ML_ = ({}, "")
FIML_ = ({"missing": "ml"}, ', missing = "ml"')
MLR_ = ({"estimator": "MLR"}, ', estimator = "MLR"')
#: case -> (reference JSON holding the model, (asymtrust keyword arguments, lavaan arguments as R text))
CASES = {
    "tl_cfa": ("tl_cfa", ML_),
    "tl_cfa6": ("tl_cfa6", ML_),
    "tl_between": ("tl_between", ML_),
    "tl_docs (Demo.twolevel)": ("tl_docs", ML_),
    "fig1_twolevel (bcf_nested)": ("spec:fig1_twolevel", ML_),
    "tl_fiml_cfa (missing=ml)": ("tl_fiml_cfa", FIML_),
    "tl_fiml_docs (missing=ml)": ("tl_fiml_docs", FIML_),
    "tl_mlr_cfa (MLR)": ("tl_mlr_cfa", MLR_),
    "tl_mlr_docs (MLR)": ("tl_mlr_docs", MLR_),
    "fig1_twolevel MLR (bcf_nested)": ("spec:fig1_twolevel", MLR_),
    "mlr_sem (cluster-robust MLR)": ("mlr_sem", MLR_),
}
#: data per case: the CSV and its cluster column (Demo.twolevel unless named here)
DATA = {"fig1_twolevel (bcf_nested)": NESTED, "fig1_twolevel MLR (bcf_nested)": NESTED,
        "tl_fiml_cfa (missing=ml)": (MCAR, "cluster"), "tl_fiml_docs (missing=ml)": (MCAR, "cluster")}
#: cases where one lavaan fit takes seconds: (calls, warm-ups) on both sides
SLOW = {"fig1_twolevel (bcf_nested)": (5, 1), "tl_fiml_cfa (missing=ml)": (3, 1),
        "tl_fiml_docs (missing=ml)": (3, 1), "fig1_twolevel MLR (bcf_nested)": (1, 0)}


def _calls(key: str, reps: int) -> tuple[int, int]:
    """(timed calls, warm-up calls) of ``key``."""
    n, w = SLOW.get(key, (reps, 3))
    return min(n, reps), w


R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(TRUE)
reps <- as.integer(args[1]); jobs <- jsonlite::fromJSON(args[2], simplifyVector = FALSE)
out <- list()
for (j in jobs) {
  d <- read.csv(j$csv)
  f <- eval(parse(text = sprintf(
    paste("function() { fit <- sem(j$model, data = d, cluster = j$cluster%s); fitMeasures(fit);",
          "parameterEstimates(fit, standardized = TRUE); standardizedSolution(fit) }"),
    j$args)))
  for (i in seq_len(j$warmup)) invisible(suppressWarnings(f()))
  t <- numeric(j$reps)
  cpu <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }
  for (i in seq_len(j$reps)) { t0 <- cpu(); invisible(suppressWarnings(f())); t[i] <- cpu() - t0 }
  out[[j$key]] <- median(t) * 1000
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 8))
"""


def _model(ref: str) -> str:
    if ref.startswith("spec:"):
        import asymtrust

        return asymtrust.load_spec(ref[5:]).syntax
    return json.loads((REF / f"{ref}.json").read_text())["model"]


def _data(key: str) -> tuple[Path, str]:
    return DATA.get(key, (CSV, "cluster"))


def asymtrust_times(reps: int) -> dict[str, float]:
    import pandas as pd

    import asymtrust

    pin_blas()
    out = {}
    for key, (ref, (kw, _)) in CASES.items():
        model = _model(ref)
        csv, cluster = _data(key)
        data = pd.read_csv(csv)

        def call():
            res = asymtrust.fit(model, data.copy(), cluster=cluster, **kw)
            res.fit_indices  # noqa: B018 - built on first access
            res.estimates  # noqa: B018
        n, w = _calls(key, reps)
        out[key] = median_ms(call, n, clock=time.process_time, warmup=w)
    return out


def lavaan_times(reps: int) -> dict[str, float]:
    jobs = [{"key": key, "model": _model(ref), "args": rargs, "csv": str(_data(key)[0]), "cluster": _data(key)[1],
             "reps": _calls(key, reps)[0], "warmup": _calls(key, reps)[1]}
            for key, (ref, (_, rargs)) in CASES.items()]
    return lavaan_ms(R_SCRIPT, reps, jobs)


def main(argv=None) -> int:
    args = arguments(__doc__, 20, argv)
    ours = asymtrust_times(args.reps)
    theirs = lavaan_times(args.reps)
    rows = []
    for key in ours:
        ratio = theirs[key] / ours[key]
        rows.append({"case": key, "asymtrust_ms": ours[key], "lavaan_ms": theirs[key], "speedup": ratio,
                     "met": ratio >= TARGET, "calls": _calls(key, args.reps)[0]})
    print(f"{'case':32} {'asymtrust':>10} {'lavaan':>10} {'speed-up':>9}  status")
    for r in rows:
        print(f"{r['case']:32} {r['asymtrust_ms']:8.1f}ms {r['lavaan_ms']:8.1f}ms {r['speedup']:8.1f}x  "
              f"{'MET' if r['met'] else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if args.markdown:
        lines = ["| case | calls | asymtrust (median) | lavaan 0.6-14 (median) | speed-up | ≥ 10× |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['calls']} | {r['asymtrust_ms']:.1f} ms | {r['lavaan_ms']:.1f} ms | "
                  f"{r['speedup']:.1f}× | {'met' if r['met'] else 'NOT MET'} |" for r in rows]
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
