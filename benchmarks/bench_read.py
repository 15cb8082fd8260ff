#!/usr/bin/env python
"""Peak memory of ``read_survey`` on a ~250 MB survey-shaped CSV (issue 12, target 5).

The CSV is SYNTHETIC: a respondent id, 40 Likert items coded 1-7 (half of them with
about 1% empty cells, as real exports have) and one free-text column. It is generated
once (deterministically, seed 12) under ``$TMPDIR/asymtrust-bench/`` and reused while
its size matches; it is never written inside the repository.

Two fresh ``python`` processes are started the same way:

* the **baseline**: ``import asymtrust`` and ``from asymtrust.survey.read import read_survey``;
* the **read**: the same imports, then ``read_survey(csv)``.

Each reports its own peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
KiB on Linux). The ratio is ``(read peak - baseline peak) / CSV size``; the raw peak of
the read is printed too. The target is a ratio of at most 3.

On Linux a child's ``ru_maxrss`` also counts the peak of the process that started it
(the kernel carries the parent's high-water mark across ``vfork``/``exec``). This script
therefore keeps itself small: it imports only the standard library and generates the
CSV in a subprocess of its own. Each child also reports ``VmHWM`` from
``/proc/self/status`` (the high-water mark of its own memory map only) as a cross-check.

Usage::

    python benchmarks/bench_read.py                 # ~250 MB, prints the numbers
    python benchmarks/bench_read.py --mb 50         # a smaller file
    python benchmarks/bench_read.py --json out.json
    python benchmarks/bench_read.py --no-pyarrow    # text as Python strings (pandas without pyarrow)

The exit status is 0 when the ratio is at most 3 (``--limit``), 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

N_ITEMS = 40
WORDS = ("good", "slow", "the", "partner", "trust", "council", "meetings", "we", "never", "always",
         "shared", "budget", "staff", "care", "plan", "data", "late", "agreed", "not", "very")

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    if sys.argv[2] == "no-pyarrow":
        sys.modules["pyarrow"] = None  # pandas then keeps text as Python strings
    import asymtrust
    from asymtrust.survey.read import read_survey
    out = {}
    if sys.argv[1] != "-":
        t0 = time.perf_counter()
        df = read_survey(sys.argv[1])
        out["seconds"] = time.perf_counter() - t0
        out["shape"] = list(df.shape)
        out["frame_bytes"] = int(df.memory_usage(deep=True).sum())
        out["dtypes"] = sorted({str(t) for t in df.dtypes})
    out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open("/proc/self/status") as fh:
            out["vmhwm_kib"] = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:"))
    except (OSError, StopIteration):
        out["vmhwm_kib"] = None
    print(json.dumps(out))
    """
)


def make_csv(path: Path, target_bytes: int, seed: int = 12) -> Path:
    """Write the SYNTHETIC survey CSV (about ``target_bytes``) in chunks of 20,000 rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    header = ["resp_id"] + [f"q{j + 1:02d}" for j in range(N_ITEMS)] + ["comment"]
    tmp = path.with_suffix(".part")
    written = 0
    rid = 1
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(header) + "\n")
        while written < target_bytes:
            n = 20_000
            latent = rng.normal(size=(n, 1))
            items = np.clip(np.rint(4 + 1.2 * latent + rng.normal(size=(n, N_ITEMS))), 1, 7).astype(int)
            cells = items.astype(str).astype(object)
            holes = rng.random((n, N_ITEMS)) < 0.01
            holes[:, N_ITEMS // 2:] = False  # the first half of the items have ~1% empty cells
            cells[holes] = ""
            n_words = rng.integers(0, 12, size=n)
            word_idx = rng.integers(0, len(WORDS), size=(n, 12))
            lines = []
            for i in range(n):
                words = " ".join(WORDS[k] for k in word_idx[i, : n_words[i]])
                comment = f'"{words}, really"' if n_words[i] > 8 else words
                lines.append(f"{rid},{','.join(cells[i])},{comment}\n")
                rid += 1
            block = "".join(lines)
            fh.write(block)
            written += len(block)
    os.replace(tmp, path)
    return path


def run_child(arg: str, pyarrow: bool = True) -> dict[str, Any]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, arg, "pyarrow" if pyarrow else "no-pyarrow"],
                          capture_output=True, text=True, env=env,
                          check=False, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(csv: Path, pyarrow: bool = True) -> dict[str, Any]:
    """Baseline and read peaks (MiB), their difference over the CSV size, and details."""
    size = csv.stat().st_size
    base = run_child("-", pyarrow)
    t0 = time.perf_counter()
    read = run_child(str(csv), pyarrow)
    wall = time.perf_counter() - t0
    mib = 1024.0
    base_mib = base["maxrss_kib"] / mib
    peak_mib = read["maxrss_kib"] / mib
    size_mib = size / 2**20
    hwm = None
    if base.get("vmhwm_kib") and read.get("vmhwm_kib"):
        hwm = {"baseline_mib": round(base["vmhwm_kib"] / mib, 1), "read_mib": round(read["vmhwm_kib"] / mib, 1),
               "ratio": round((read["vmhwm_kib"] - base["vmhwm_kib"]) / mib / size_mib, 2)}
    return {
        "csv": str(csv), "csv_mib": round(size_mib, 1), "rows": read["shape"][0], "columns": read["shape"][1],
        "baseline_peak_mib": round(base_mib, 1), "read_peak_mib": round(peak_mib, 1),
        "read_minus_baseline_mib": round(peak_mib - base_mib, 1),
        "ratio": round((peak_mib - base_mib) / size_mib, 2), "raw_ratio": round(peak_mib / size_mib, 2),
        "frame_mib": round(read["frame_bytes"] / 2**20, 1), "dtypes": read["dtypes"],
        "read_seconds": round(read["seconds"], 2), "child_wall_seconds": round(wall, 2),
        "text_storage": "pyarrow" if pyarrow else "python", "vmhwm": hwm,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--generate"]:  # the generating subprocess
        make_csv(Path(argv[1]), int(argv[2]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=250.0, help="CSV size in MB (10^6 bytes; default 250)")
    ap.add_argument("--csv-dir", default=os.path.join(tempfile.gettempdir(), "asymtrust-bench"),
                    help="where the CSV is generated (default $TMPDIR/asymtrust-bench)")
    ap.add_argument("--limit", type=float, default=3.0, help="largest acceptable ratio (default 3)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    ap.add_argument("--no-pyarrow", action="store_true",
                    help="hide pyarrow from the child, so pandas keeps text as Python strings")
    args = ap.parse_args(argv)

    target = int(args.mb * 1e6)
    folder = Path(args.csv_dir)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"survey_{int(args.mb)}mb_synthetic.csv"
    if not csv.is_file() or abs(csv.stat().st_size - target) > 0.05 * target:
        print(f"generating {csv} (SYNTHETIC, ~{args.mb:g} MB) ...", file=sys.stderr, flush=True)
        # in a subprocess, so that this process stays small (see the module docstring)
        subprocess.run([sys.executable, __file__, "--generate", str(csv), str(target)], check=True)
    res = measure(csv, pyarrow=not args.no_pyarrow)
    res["limit"] = args.limit
    res["met"] = res["ratio"] <= args.limit
    print(f"CSV              {res['csv']}  ({res['csv_mib']} MiB, {res['rows']} rows x {res['columns']} columns, "
          f"SYNTHETIC)")
    print(f"baseline peak    {res['baseline_peak_mib']} MiB  (python + import asymtrust)")
    print(f"read peak        {res['read_peak_mib']} MiB  (raw peak / CSV size = {res['raw_ratio']})")
    print(f"read - baseline  {res['read_minus_baseline_mib']} MiB")
    print(f"frame in memory  {res['frame_mib']} MiB  dtypes {', '.join(res['dtypes'])}  "
          f"(text stored by {res['text_storage']})")
    print(f"read time        {res['read_seconds']} s")
    if res["vmhwm"]:
        v = res["vmhwm"]
        print(f"VmHWM cross-check baseline {v['baseline_mib']} MiB, read {v['read_mib']} MiB, ratio {v['ratio']}")
    print(f"ratio            {res['ratio']} x CSV size  (limit {args.limit:g}): {'MET' if res['met'] else 'NOT MET'}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0 if res["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
