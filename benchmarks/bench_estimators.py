#!/usr/bin/env python
"""Each estimator family against lavaan 0.6-14, in the same run (target: >= 10x lavaan).

For every family (ML, MLR, FIML, GLS, WLS, ULS, ML with likelihood="wishart") and two
models (HolzingerSwineford's 3-factor CFA, N = 301; PoliticalDemocracy's SEM, N = 75),
the script times:

* asymtrust: ``asymtrust.fit(model, data.copy(), ...)`` (a fresh copy of the data frame
  in every call) with every fit measure and the estimates table (SEs, standardized
  solution and the standardized solution's delta-method SEs), median CPU time of
  ``--reps`` calls after 3 warm-up calls, in this process with BLAS pinned to one thread
  (threadpoolctl);
* lavaan: ``sem(model, data, ...)`` followed by ``fitMeasures()``,
  ``parameterEstimates(standardized = TRUE)`` and ``standardizedSolution()`` (the same
  work: ``parameterEstimates`` gives the standardized values but not their SEs, which
  ``standardizedSolution`` computes), median CPU time of ``--reps`` calls after 3
  warm-ups, in one ``Rscript`` process started by this script with
  ``OPENBLAS_NUM_THREADS=1`` (R's BLAS on one thread too).

Both run one after the other on the same machine. Times are CPU times of the process
(Python ``time.process_time``, R ``proc.time()`` user + system), so that other jobs on a
shared host do not inflate either side. The speed-up is lavaan's median / asymtrust's
median. asymtrust keeps a model's parameter table and compiled structure from one call to
the next (keyed by the syntax; the data are new every call), lavaan parses the syntax in
every call: ``--cold`` clears that cache before every asymtrust call (the cost of the first
fit of a model in a session).

    python benchmarks/bench_estimators.py [--reps 30] [--cold] [--json FILE] [--markdown FILE]

Exit status 0 when every speed-up is at least 10, else 1.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compare import arguments, lavaan_ms, median_ms, pin_blas  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGET = 10.0

MODELS = {
    "HS": ("hs1939", "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"),
    "PD": ("poldem", "ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem65 =~ y5 + y6 + y7 + y8\n"
                     "dem60 ~ ind60\ndem65 ~ ind60 + dem60\ny1 ~~ y5\ny2 ~~ y4 + y6\ny3 ~~ y7\ny4 ~~ y8\ny6 ~~ y8\n"),
}
#: family -> (asymtrust keyword arguments, lavaan arguments as R text)
FAMILIES = {
    "ML": ({}, ""),
    "MLR": ({"estimator": "MLR"}, ', estimator = "MLR"'),
    "FIML": ({"missing": "fiml"}, ', missing = "ml"'),
    "GLS": ({"estimator": "GLS"}, ', estimator = "GLS"'),
    "WLS": ({"estimator": "WLS"}, ', estimator = "WLS"'),
    "ULS": ({"estimator": "ULS"}, ', estimator = "ULS"'),
    "ML wishart": ({"likelihood": "wishart"}, ', likelihood = "wishart"'),
}

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(TRUE)
reps <- as.integer(args[1]); jobs <- jsonlite::fromJSON(args[2], simplifyVector = FALSE)
out <- list()
for (j in jobs) {
  d <- read.csv(j$csv)
  f <- eval(parse(text = sprintf(
    paste("function() { fit <- sem(j$model, data = d%s); fitMeasures(fit);",
          "parameterEstimates(fit, standardized = TRUE); standardizedSolution(fit) }"),
    j$args)))
  for (i in 1:3) invisible(suppressWarnings(f()))
  t <- numeric(reps)
  cpu <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }
  for (i in seq_len(reps)) { t0 <- cpu(); invisible(suppressWarnings(f())); t[i] <- cpu() - t0 }
  out[[j$key]] <- median(t) * 1000
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 8))
"""


def asymtrust_times(reps: int, cold: bool = False) -> dict[str, float]:
    import asymtrust
    from asymtrust.engine.fit import _cached_partable

    pin_blas()
    out = {}
    for mname, (dataset, model) in MODELS.items():
        data = asymtrust.load_dataset(dataset)
        for fam, (kw, _) in FAMILIES.items():
            def call():
                if cold:
                    _cached_partable.cache_clear()
                res = asymtrust.fit(model, data.copy(), **kw)
                res.fit_indices  # noqa: B018 - built on first access
                res.estimates  # noqa: B018
            out[f"{mname}|{fam}"] = median_ms(call, reps, clock=time.process_time)
    return out


def lavaan_times(reps: int) -> dict[str, float]:
    import asymtrust

    tmp = Path(tempfile.mkdtemp(prefix="asymtrust-bench-est-"))
    jobs = []
    for mname, (dataset, model) in MODELS.items():
        csv = tmp / f"{dataset}.csv"
        asymtrust.load_dataset(dataset).to_csv(csv, index=False)
        for fam, (_, rargs) in FAMILIES.items():
            jobs.append({"key": f"{mname}|{fam}", "csv": str(csv), "model": model, "args": rargs})
    return lavaan_ms(R_SCRIPT, reps, jobs)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cold = "--cold" in argv
    args = arguments(__doc__, 30, [a for a in argv if a != "--cold"])
    ours = asymtrust_times(args.reps, cold)
    theirs = lavaan_times(args.reps)
    rows = []
    for key in ours:
        model, fam = key.split("|")
        ratio = theirs[key] / ours[key]
        rows.append({"model": model, "family": fam, "asymtrust_ms": ours[key], "lavaan_ms": theirs[key],
                     "speedup": ratio, "met": ratio >= TARGET})
    head = f"{'model':6} {'family':11} {'asymtrust':>10} {'lavaan':>10} {'speed-up':>9}  status"
    print(head)
    for r in rows:
        print(f"{r['model']:6} {r['family']:11} {r['asymtrust_ms']:8.1f}ms {r['lavaan_ms']:8.1f}ms "
              f"{r['speedup']:8.1f}x  {'MET' if r['met'] else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if args.markdown:
        lines = ["| model | family | asymtrust (median) | lavaan 0.6-14 (median) | speed-up | ≥ 10× |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['family']} | {r['asymtrust_ms']:.1f} ms | {r['lavaan_ms']:.1f} ms | "
                  f"{r['speedup']:.1f}× | {'met' if r['met'] else 'NOT MET'} |" for r in rows]
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
