"""What every same-run comparison with lavaan shares (``bench_estimators.py``,
``bench_twolevel.py``, ``bench_ordinal.py``): the timing loop on the asymtrust side, running
an R timing script with BLAS pinned to one thread, and the command-line options.

Each benchmark keeps its own cases and its own R script (what lavaan is asked to do); the
R script reads the repetitions and a JSON list of jobs from its command line and prints a
JSON object ``{key: median milliseconds}``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

#: one thread per BLAS, in R and in Python (the machine has 2 cores)
PINNED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def median_ms(call: Callable[[], object], reps: int, *, clock: Callable[[], float] = time.perf_counter,
              warmup: int = 3) -> float:
    """Median milliseconds of ``call()`` over ``reps`` runs after ``warmup`` runs, warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(warmup):
            call()
        t = []
        for _ in range(reps):
            t0 = clock()
            call()
            t.append(clock() - t0)
    return statistics.median(t) * 1000


def pin_blas() -> None:
    """BLAS limited to one thread in this process (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def lavaan_ms(r_script: str, reps: int, jobs: list[dict], *extra: str) -> dict[str, float]:
    """Run ``r_script`` with ``reps``, the ``jobs`` as JSON and ``extra`` arguments, BLAS pinned;
    returns its JSON output ``{key: median milliseconds}``."""
    tmp = Path(tempfile.mkdtemp(prefix="asymtrust-bench-"))
    script = tmp / "lavaan_times.R"
    script.write_text(r_script, encoding="utf-8")
    proc = subprocess.run(["Rscript", str(script), str(reps), json.dumps(jobs), *extra], capture_output=True,
                          text=True, env=dict(os.environ, **PINNED), check=True)
    return json.loads(proc.stdout)


def arguments(doc: str, reps: int, argv=None) -> argparse.Namespace:
    """``--reps``, ``--json`` and ``--markdown`` (the result table as Markdown)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--reps", type=int, default=reps)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path, help="write the result table as Markdown")
    return ap.parse_args(argv)
