#!/usr/bin/env python
"""lavaan's own regression harness (github lucdw/lavaan-check) run through asymtrust.

Reads the manifest (``cases.json``, the 93 tests of the harness) and the CSVs from
``$LAVAAN_CHECK_DATA`` (default ``/work/shared/reference/lavaan-check``), and lavaan
0.6-14's results from ``tests/reference/lavaan-check/<test>.json`` (written by
``tests/reference/lavaan-check/run_lavaan_check.R``). Each test is run as a new user
would run it:

* analysis tests: ``asymtrust.fit(model, data, **options)``, lavaan's argument names
  mapped to asymtrust's (``sample.cov`` -> ``sample_cov`` ...; see ``map_options``);
  an option asymtrust does not have is passed under its Python spelling
  (``ordered``, ``cluster``, ``likelihood`` ...), so that asymtrust has to say no;
* the efa test: ``efa("efa")*f1 + ... =~ <every variable>`` for each number of factors;
* parse tests: :func:`asymtrust.library.partable.build_partable` with the observed names
  and number of groups lavaan's ``sem(model, data, do.fit = FALSE)`` had; the number of
  free parameters after equality constraints (npar), df, and row by row the free/fixed
  status and fixed value.

Every test gets one class:

``match``    every compared quantity within the tolerances of issue 14;
``refused``  asymtrust raised one of its typed errors (:class:`AsymtrustError`);
``differ``   asymtrust ran but a quantity is outside tolerance (the worst is shown);
``error``    any other exception (a crash, or Python's ``TypeError`` for an option
             ``fit()`` does not know).

Tolerances: estimates, SEs and indices within ``max(2e-3, 1e-3 * |lavaan|)``; chi-square
statistics within ``1e-3 * max(|lavaan|, 1)``; npar, df and N exact. Bootstrap SEs are not
compared (random). The 17 tests lavaan 0.6-14 itself stops on are run too and reported
apart (asymtrust should refuse them).

    python scripts/lavaan_check.py                       # every test, one line each, tally
    python scripts/lavaan_check.py --only HS_cov WISCVPE -v
    python scripts/lavaan_check.py --markdown /tmp/lavaan_check.md
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import inspect
import io
import json
import math
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference" / "lavaan-check"
def _data_dir() -> Path:
    """$LAVAAN_CHECK_DATA, else shared/reference/lavaan-check beside the clone (CI), else
    /work/shared/reference/lavaan-check."""
    env = os.environ.get("LAVAAN_CHECK_DATA")
    if env:
        return Path(env)
    for cand in (ROOT.parent / "shared" / "reference" / "lavaan-check", Path("/work/shared/reference/lavaan-check")):
        if cand.is_dir():
            return cand
    return Path("/work/shared/reference/lavaan-check")


DATA = _data_dir()
SEED = 20240611

PARAM_OPS = ("=~", "~", "~~", "~1", "|", "~*~", "<~")
CHISQ = {"chisq", "chisq.scaled", "baseline.chisq", "baseline.chisq.scaled"}
EXACT = {"npar", "df", "ntotal", "baseline.df"}
# the indices compared by default (when lavaan reports them); --all-indices: every one
CORE_INDICES = ["npar", "df", "chisq", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl", "aic", "bic",
                "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor", "cfi.scaled",
                "tli.scaled", "rmsea.scaled", "cfi.robust", "tli.robust", "rmsea.robust"]
# sem() defaults: an auto.* argument equal to these is a no-op and is not passed on
SEM_DEFAULTS = {"int.ov.free": True, "int.lv.free": False, "auto.fix.first": True, "auto.fix.single": True,
                "auto.var": True, "auto.cov.lv.x": True, "auto.cov.y": True, "auto.th": True,
                "auto.delta": True, "auto.efa": True}
# lavaan argument -> asymtrust fit() argument, where asymtrust has one
RENAME = {"estimator": "estimator", "missing": "missing", "se": "se", "information": "information",
          "bootstrap": "bootstrap", "meanstructure": "meanstructure", "group": "group",
          "group.equal": "group_equal", "group.partial": "group_partial", "std.lv": "std_lv",
          "fixed.x": "fixed_x", "sample.cov": "sample_cov", "sample.mean": "sample_mean",
          "sample.nobs": "sample_nobs", "sample.cov.rescale": "sample_cov_rescale"}
# arguments that change nothing a comparison sees (display, ordering, labels, iteration cap)
DROP = {"warn": "display only", "verbose": "display only", "ov.order": "variable order only",
        "sample.cov.groups": "group labels only", "control": "optimiser control (iter.max) dropped",
        "parser": "not a lavaan 0.6-14 argument"}


# ----------------------------------------------------------------------------- reading
def table(obj) -> pd.DataFrame:
    """A stored {"columns", "rows"} table."""
    return pd.DataFrame(obj["rows"], columns=obj["columns"])


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def read_cov(name: str) -> pd.DataFrame:
    d = pd.read_csv(DATA / name, index_col=0)
    d.index = [str(i) for i in d.index]
    return d


def read_mean(name: str) -> pd.Series:
    d = pd.read_csv(DATA / name, index_col=0)
    return d.iloc[:, 0].rename(None)


def one_or_list(v, reader):
    return [reader(x) for x in v] if isinstance(v, list) and len(v) > 1 else reader(v[0] if isinstance(v, list) else v)


# ----------------------------------------------------------------------------- options
def map_options(case: dict) -> tuple[str, pd.DataFrame | None, dict, list[str]]:
    """``(model, data, fit kwargs, notes)`` for an analysis test, lavaan names mapped."""
    model, data, kw, notes = case["model"], None, {}, []
    for k, v in case["args"].items():
        if k == "data":
            data = pd.read_csv(DATA / v["csv"])
        elif k == "sample.cov":
            kw["sample_cov"] = one_or_list(v, read_cov)
        elif k == "sample.mean":
            kw["sample_mean"] = one_or_list(v, read_mean)
        elif k == "sample.nobs":
            kw["sample_nobs"] = v if isinstance(v, list) and len(v) > 1 else int(v[0] if isinstance(v, list) else v)
        elif k == "constraints":  # lavaan adds them to the model syntax; so does the user here
            model = model.rstrip() + "\n" + v.replace(";", "\n") + "\n"
            notes.append("constraints= appended to the model")
        elif k in DROP:
            notes.append(f"{k}= not passed ({DROP[k]})")
        elif k in SEM_DEFAULTS and v == SEM_DEFAULTS[k]:
            notes.append(f"{k}={v} not passed (sem() default)")
        elif k in RENAME:
            kw[RENAME[k]] = v
        else:  # no asymtrust equivalent known: passed as the Python spelling of the name
            kw[k.replace(".", "_")] = v
    if kw.get("se") == "bootstrap":
        kw["seed"] = SEED
    return model, data, kw, notes


def unknown_options(kw: dict) -> list[str]:
    """Options fit() has no parameter for (it has no **kwargs)."""
    import asymtrust

    params = inspect.signature(asymtrust.fit).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return [k for k in kw if k not in params]


# ----------------------------------------------------------------------------- comparing
class Diffs:
    """The compared quantities of one test: the worst |difference| / tolerance."""

    def __init__(self):
        # (priority, ratio, description): structural problems (2) before counts that must be
        # exact (1) before values (0); within a priority the largest |difference| / tolerance
        self.items: list[tuple[int, float, str]] = []
        self.n = 0

    def value(self, what: str, got, ref, kind: str = "index"):
        if ref is None or (isinstance(ref, float) and math.isnan(ref)):
            if got is not None and np.isfinite(_f(got)):
                self.items.append((0, math.inf, f"{what}: asymtrust {_fmt(got)}, lavaan NA"))
            return
        self.n += 1
        g = _f(got)
        prio = 1 if kind == "exact" else 0
        if not np.isfinite(g):
            self.items.append((prio, math.inf, f"{what}: asymtrust {_fmt(got)}, lavaan {_fmt(ref)}"))
            return
        r = float(ref)
        if kind == "exact":
            tol = 1e-9
        elif kind == "chisq":
            tol = 1e-3 * max(abs(r), 1.0)
        else:
            tol = max(2e-3, 1e-3 * abs(r))
        ratio = abs(g - r) / tol
        if ratio > 1.0:
            self.items.append((prio, ratio, f"{what}: asymtrust {_fmt(g)}, lavaan {_fmt(r)}"))

    def problem(self, text: str):
        self.items.append((2, math.inf, text))

    @property
    def ok(self) -> bool:
        return not self.items

    def worst(self, k: int = 1) -> list[str]:
        return [d for _, _, d in sorted(self.items, key=lambda t: (-t[0], -t[1]))[:k]]


def _f(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _fmt(x) -> str:
    v = _f(x)
    if not np.isfinite(v):
        return str(x) if not isinstance(x, float) else "NaN"
    return f"{v:.6g}"


def _key(lhs, op, rhs, g):
    if op == "~~":
        lhs, rhs = sorted((str(lhs), str(rhs)))
    return (str(lhs), op, str(rhs), int(g))


def _row_name(k) -> str:
    lhs, op, rhs, g = k
    return f"{lhs} {op} {rhs}".strip() + (f" [g{g}]" if g > 1 else "")


def compare_fit(res, ref: dict, d: Diffs, *, all_indices: bool, bootstrap: bool):
    """Estimates, SEs, fit measures, N and convergence of a FitResult against lavaan."""
    pt = table(ref["partable"])
    pt = pt[pt["op"].isin(PARAM_OPS + (":=",))]
    gcol = "block" if "block" in pt.columns else "group"
    est = res.estimates
    mine = {}
    levels = list(dict.fromkeys(est["level"].dropna().tolist())) if "level" in est.columns else []
    for r in est.itertuples(index=False):
        # lavaan's block: (group - 1) x levels + level in a two-level model, else the group
        block = r.group if not levels or r.op == ":=" else (int(r.group) - 1) * len(levels) + levels.index(r.level) + 1
        mine[_key(r.lhs, r.op, r.rhs, 0 if r.op == ":=" else block)] = r
    seen = set()
    for r in pt.itertuples(index=False):
        g = 0 if r.op == ":=" else getattr(r, gcol)
        k = _key(r.lhs, r.op, r.rhs, g)
        seen.add(k)
        m = mine.get(k)
        if m is None:
            d.problem(f"row {_row_name(k)} missing in asymtrust")
            continue
        d.value(f"est {_row_name(k)}", m.est, r.est, "est")
        if not bootstrap and r.se is not None and not (isinstance(r.se, float) and math.isnan(r.se)):
            d.value(f"se {_row_name(k)}", m.se, r.se, "est")
    extra = [k for k in mine if k not in seen]
    if extra:
        d.problem(f"{len(extra)} row(s) not in lavaan's table, e.g. {_row_name(extra[0])}")
    fm_ref = ref.get("fit_measures") or {}
    fi = res.fit_indices
    names = list(fm_ref) if all_indices else [n for n in CORE_INDICES if n in fm_ref]
    for n in names:
        mine_v = fi.get(n.replace(".", "_"), None) if hasattr(fi, "get") else None
        if mine_v is None:
            if fm_ref[n] is not None:
                d.problem(f"fit measure {n} missing in asymtrust (lavaan {_fmt(fm_ref[n])})")
            continue
        kind = "exact" if n in EXACT else "chisq" if n in CHISQ else "index"
        d.value(n, mine_v, fm_ref[n], kind)
    if "nobs" in ref and ref["nobs"]:
        got = [int(x) for x in (res.nobs or [])]
        want = ref["nobs"] if isinstance(ref["nobs"], list) else [ref["nobs"]]
        if got != [int(x) for x in want]:
            d.problem(f"nobs: asymtrust {got}, lavaan {ref['nobs']}")
    if ref.get("converged") and not res.converged:
        d.problem("asymtrust did not converge (lavaan did)")


def npar_df(pt, G: int) -> tuple[int, int, str]:
    """asymtrust's npar and df for a parameter table: the engine's compile step if it
    accepts the table, else the same count done here (compile refuses df < 0)."""
    note = ""
    if pt.table["op"].isin(["<", ">"]).any():  # lavaan's unfitted count (see count_npar_df)
        from asymtrust.library.partable import count_npar_df

        return (*count_npar_df(pt), note)
    try:
        from asymtrust.engine.compile import compile_model

        comp = compile_model(pt, G)
        return int(comp.npar), int(comp.df), note
    except Exception as exc:  # noqa: BLE001 - fall back to counting
        note = f"(compile: {type(exc).__name__}: {exc})"
    from asymtrust.library.partable import count_npar_df

    npar, df = count_npar_df(pt)
    return npar, df, note


def compare_partable(pt, ref: dict, d: Diffs):
    lav = table(ref["partable"])
    lav = lav[lav["op"].isin(PARAM_OPS)]
    mine = {}
    for r in pt.table.itertuples(index=False):
        if r.op in PARAM_OPS:
            mine[_key(r.lhs, r.op, r.rhs, r.block)] = r
    seen, free_diff, fixed_diff = set(), [], []
    for r in lav.itertuples(index=False):
        k = _key(r.lhs, r.op, r.rhs, r.block)
        seen.add(k)
        m = mine.get(k)
        if m is None:
            d.problem(f"row {_row_name(k)} missing in asymtrust")
            continue
        d.n += 1
        lf, mf = int(r.free) > 0, int(m.free) > 0
        if lf != mf:
            free_diff.append(f"{_row_name(k)} ({'free' if mf else 'fixed'} in asymtrust, "
                             f"{'free' if lf else 'fixed'} in lavaan)")
        elif not lf and not int(r.exo):
            a, b = _f(m.ustart), _f(r.ustart)
            if not ((math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-8 * max(1.0, abs(b))):
                fixed_diff.append(f"{_row_name(k)} (fixed at {_fmt(a)} in asymtrust, {_fmt(b)} in lavaan)")
    extra = [k for k in mine if k not in seen]
    if free_diff:
        d.problem(f"{len(free_diff)} row(s) free/fixed differ, e.g. {free_diff[0]}")
    if fixed_diff:
        d.problem(f"{len(fixed_diff)} fixed value(s) differ, e.g. {fixed_diff[0]}")
    if extra:
        d.problem(f"{len(extra)} row(s) not in lavaan's table, e.g. {_row_name(extra[0])}")
    G = int(ref["setup"]["ngroups"])
    npar, df, note = npar_df(pt, G)
    d.value("npar", npar, ref["npar"], "exact")
    d.value("df" + (f" {note}" if note and df != ref["df"] else ""), df, ref["df"], "exact")


# ----------------------------------------------------------------------------- running
def efa_syntax(ov: list[str], nf: int) -> str:
    lhs = " + ".join(f'efa("efa")*f{i}' for i in range(1, nf + 1))
    return f"{lhs} =~ {' + '.join(ov)}"


@contextlib.contextmanager
def quiet():
    """Silence warnings and stray prints from the library while a test runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def classify_exception(exc: BaseException) -> tuple[str, str]:
    from asymtrust.exceptions import AsymtrustError

    msg = " ".join(str(exc).split())
    if isinstance(exc, AsymtrustError):
        return "refused", f"{type(exc).__name__}: {msg}"
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb) if "asymtrust" in f.filename), "")
    return "error", f"{type(exc).__name__}: {msg}" + (f" [{where}]" if where else "")


def run_case(case: dict, ref: dict, *, all_indices: bool) -> dict:
    import asymtrust

    out = {"test": case["test"], "kind": case["kind"], "notes": [], "n_compared": 0}
    for name, h in (ref.get("csv_md5") or {}).items():
        if (DATA / name).exists() and md5(DATA / name) != h:
            out["notes"].append(f"{name} differs from the CSV lavaan read (md5)")
    lavaan_error = " ".join(str(ref.get("error") or "").split())
    d = Diffs()
    try:
        with quiet():
            if case["kind"] == "parse":
                from asymtrust.library.partable import build_partable

                s = ref.get("setup") or {}
                pt = build_partable(case["model"], observed=s.get("observed") or None,
                                    ngroups=int(s.get("ngroups", 1)),
                                    group_labels=s.get("group_labels") or None,
                                    ordered=s.get("ordered") or None)
                if lavaan_error:
                    out.update(cls="accepted", detail="asymtrust builds a table; lavaan stops: " + lavaan_error[:120])
                    return out
                compare_partable(pt, ref, d)
            elif case["kind"] == "efa":
                ov = ref["ov_names"]
                data = pd.read_csv(DATA / case["args"]["data"]["csv"])
                for name, f in ref["fits"].items():
                    res = asymtrust.fit(efa_syntax(ov, int(f["nfactors"])), data)
                    sub = Diffs()
                    compare_fit(res, f, sub, all_indices=all_indices, bootstrap=False)
                    d.n += sub.n
                    d.items += [(p, r, f"{name}: {t}") for p, r, t in sub.items]
            else:
                model, data, kw, notes = map_options(case)
                out["notes"] += notes
                unknown = unknown_options(kw)
                if unknown:
                    out["notes"].append("fit() has no option " + ", ".join(unknown))
                res = asymtrust.fit(model, data, **kw)
                if lavaan_error:
                    out.update(cls="accepted", detail="asymtrust fits; lavaan stops: " + lavaan_error[:120])
                    return out
                compare_fit(res, ref, d, all_indices=all_indices, bootstrap=kw.get("se") == "bootstrap")
                if kw.get("se") == "bootstrap":
                    out["notes"].append("bootstrap SEs not compared")
    except Exception as exc:  # noqa: BLE001 - every test gets a class, whatever happens
        cls, detail = classify_exception(exc)
        if cls == "error" and isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc):
            unknown = [n for n in out["notes"] if n.startswith("fit() has no option")]
            detail += (" — " + unknown[0]) if unknown else ""
        out.update(cls=cls, detail=detail)
        return out
    out["n_compared"] = d.n
    out["all_diffs"] = d.worst(len(d.items))
    if d.ok:
        out.update(cls="match", detail=f"{d.n} quantities within tolerance")
    else:
        out.update(cls="differ", detail=f"{len(d.items)} of {d.n} outside; worst: {d.worst(1)[0]}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", metavar="TEST", help="run these tests only")
    ap.add_argument("--markdown", metavar="FILE", help="write the results as a Markdown table")
    ap.add_argument("--all-indices", action="store_true",
                    help="compare every fit measure lavaan reports (default: the core ones)")
    ap.add_argument("-v", "--verbose", action="count", default=0,
                    help="list the notes and the 10 worst differences of each test (-vv: every one)")
    args = ap.parse_args(argv)

    cases = json.loads((DATA / "cases.json").read_text())
    if args.only:
        cases = [c for c in cases if c["test"] in set(args.only)]
    results = []
    for case in cases:
        path = REF / f"{case['test']}.json"
        if not path.exists():
            r = {"test": case["test"], "kind": case["kind"], "cls": "error",
                 "detail": f"no lavaan reference {path.name} (run run_lavaan_check.R)", "notes": []}
        else:
            ref = json.loads(path.read_text())
            t0 = time.perf_counter()
            r = run_case(case, ref, all_indices=args.all_indices)
            r["seconds"] = time.perf_counter() - t0
            if ref.get("error") and not case["lavaan_stops"]:
                r["notes"].append("lavaan stopped here although the manifest says it runs: " + ref["error"][:100])
        r["lavaan_stops"] = bool(case["lavaan_stops"])
        results.append(r)
        tag = "stops" if r["lavaan_stops"] else ""
        print(f"{r['test']:<26} {r['kind']:<8} {tag:<5} {r['cls']:<8} {r['detail']}", flush=True)
        if args.verbose:
            for n in r.get("notes", []):
                print(f"{'':<41}note: {n}")
            diffs = r.get("all_diffs", [])[1:]
            for x in diffs if args.verbose > 1 else diffs[:9]:
                print(f"{'':<41}{x}")

    run = [r for r in results if not r["lavaan_stops"]]
    stops = [r for r in results if r["lavaan_stops"]]
    tally = collections.Counter(r["cls"] for r in run)
    order = ["match", "refused", "differ", "error"]
    print()
    print(f"runnable in lavaan 0.6-14: {len(run)}  " +
          "  ".join(f"{c}: {tally.get(c, 0)}" for c in order))
    if stops:
        t2 = collections.Counter(r["cls"] for r in stops)
        print(f"lavaan 0.6-14 stops: {len(stops)}  " + "  ".join(f"{c}: {n}" for c, n in sorted(t2.items())))
    if args.markdown:
        write_markdown(Path(args.markdown), results, tally, order)
    return 0


def write_markdown(path: Path, results, tally, order):
    import asymtrust

    def cell(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    ref_index = REF / "_index.json"
    lav = json.loads(ref_index.read_text()).get("lavaan_version", "?") if ref_index.exists() else "?"
    run = [r for r in results if not r["lavaan_stops"]]
    lines = [f"# lavaan-check: asymtrust {asymtrust.__version__} against lavaan {lav}", "",
             f"{len(run)} tests lavaan runs: " + ", ".join(f"{tally.get(c, 0)} {c}" for c in order) + ".", "",
             "| test | kind | class | detail |", "|---|---|---|---|"]
    for r in run:
        lines.append(f"| {r['test']} | {r['kind']} | {r['cls']} | {cell(r['detail'])} |")
    stops = [r for r in results if r["lavaan_stops"]]
    if stops:
        lines += ["", "Tests lavaan 0.6-14 stops on:", "", "| test | kind | class | detail |", "|---|---|---|---|"]
        lines += [f"| {r['test']} | {r['kind']} | {r['cls']} | {cell(r['detail'])} |" for r in stops]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
