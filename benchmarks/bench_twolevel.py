#!/usr/bin/env python
"""Two-level SEM and cluster-robust MLR against lavaan 0.6-14, in the same run (target:
>= 10x lavaan; issue 16).

Data: lavaan's ``Demo.twolevel`` (``tests/reference/nested/demo_twolevel.csv``, 2500 rows
in 200 clusters of unequal size). Models: the two-level references of
``tests/reference/nested/twolevel_cases.R`` (``tl_cfa``, ``tl_cfa6``, ``tl_between``,
``tl_docs`` = lavaan's documentation example) with ``cluster = "cluster"``, the two-level
Fig. 1 variant (``specs/fig1_twolevel``) on the SYNTHETIC ``bcf_nested`` data (949
respondents in 60 partnerships, ``cluster = "partnership"``), and the
single-level SEM with ``cluster=`` and ``estimator = "MLR"`` (``mlr_sem``). The script
times

* asymtrust: ``asymtrust.fit(model, data, cluster="cluster", ...)`` with its fit measures
  and estimates table, median CPU time of ``--reps`` calls after 3 warm-up calls, in this process
  with BLAS pinned to one thread (threadpoolctl);
* lavaan: ``sem(model, data, cluster = "cluster", ...)`` followed by ``fitMeasures()`` and
  ``parameterEstimates(standardized = TRUE)``, median CPU time of ``--reps`` calls after 3 warm-ups,
  in one ``Rscript`` process started by this script with ``OPENBLAS_NUM_THREADS=1``.

Both run one after the other on the same machine. Times are CPU times of the process
(Python ``time.process_time``, R ``proc.time()`` user + system), so that other jobs on a
shared host do not inflate either side; BLAS is on one thread in both. The speed-up is
lavaan's median / asymtrust's median. The target applies to the two-level fits (issue 16:
Demo.twolevel); the cluster-robust single-level MLR fit is reported for information.

    python benchmarks/bench_twolevel.py [--reps 20] [--json FILE] [--markdown FILE]

Exit status 0 when every two-level speed-up is at least 10, else 1.
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
TARGET = 10.0
#: case -> (reference JSON holding the model, asymtrust keyword arguments, lavaan arguments as R text)
CASES = {
    "tl_cfa": ("tl_cfa", {}, ""),
    "tl_cfa6": ("tl_cfa6", {}, ""),
    "tl_between": ("tl_between", {}, ""),
    "tl_docs (Demo.twolevel)": ("tl_docs", {}, ""),
    "fig1_twolevel (bcf_nested)": ("spec:fig1_twolevel", {}, ""),
    "mlr_sem (cluster-robust)": ("mlr_sem", {"estimator": "MLR"}, ', estimator = "MLR"'),
}
#: data per case: the CSV and its cluster column (Demo.twolevel unless named here)
DATA = {"fig1_twolevel (bcf_nested)": (REPO / "datasets" / "bcf_nested.csv", "partnership")}
#: cases reported without the target (single-level fits: the engine's MLR path)
INFORMATIONAL = {"mlr_sem (cluster-robust)"}

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(TRUE)
reps <- as.integer(args[1]); jobs <- jsonlite::fromJSON(args[2], simplifyVector = FALSE)
out <- list()
for (j in jobs) {
  d <- read.csv(j$csv)
  f <- eval(parse(text = sprintf(
    paste("function() { fit <- sem(j$model, data = d, cluster = j$cluster%s); fitMeasures(fit);",
          "parameterEstimates(fit, standardized = TRUE) }"),
    j$args)))
  for (i in 1:3) invisible(suppressWarnings(f()))
  t <- numeric(reps)
  cpu <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }
  for (i in seq_len(reps)) { t0 <- cpu(); invisible(suppressWarnings(f())); t[i] <- cpu() - t0 }
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
    for key, (ref, kw, _) in CASES.items():
        model = _model(ref)
        csv, cluster = _data(key)
        data = pd.read_csv(csv)

        def call():
            res = asymtrust.fit(model, data, cluster=cluster, **kw)
            res.fit_indices  # noqa: B018 - built on first access
            res.estimates  # noqa: B018
        out[key] = median_ms(call, reps, clock=time.process_time)
    return out


def lavaan_times(reps: int) -> dict[str, float]:
    jobs = [{"key": key, "model": _model(ref), "args": rargs, "csv": str(_data(key)[0]), "cluster": _data(key)[1]}
            for key, (ref, _, rargs) in CASES.items()]
    return lavaan_ms(R_SCRIPT, reps, jobs)


def main(argv=None) -> int:
    args = arguments(__doc__, 20, argv)
    ours = asymtrust_times(args.reps)
    theirs = lavaan_times(args.reps)
    rows = []
    for key in ours:
        ratio = theirs[key] / ours[key]
        rows.append({"case": key, "asymtrust_ms": ours[key], "lavaan_ms": theirs[key], "speedup": ratio,
                     "met": ratio >= TARGET, "target": key not in INFORMATIONAL})
    print(f"{'case':26} {'asymtrust':>10} {'lavaan':>10} {'speed-up':>9}  status")
    for r in rows:
        status = ("MET" if r["met"] else "NOT MET") if r["target"] else "(no target)"
        print(f"{r['case']:26} {r['asymtrust_ms']:8.1f}ms {r['lavaan_ms']:8.1f}ms {r['speedup']:8.1f}x  {status}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if args.markdown:
        lines = ["| case | asymtrust (median) | lavaan 0.6-14 (median) | speed-up | ≥ 10× |",
                 "|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['asymtrust_ms']:.1f} ms | {r['lavaan_ms']:.1f} ms | {r['speedup']:.1f}× | "
                  f"{('met' if r['met'] else 'NOT MET') if r['target'] else 'no target'} |" for r in rows]
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if all(r["met"] for r in rows if r["target"]) else 1


if __name__ == "__main__":
    sys.exit(main())
