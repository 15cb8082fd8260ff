"""``asymtrust.report``: one call from survey data to a complete report folder.

Steps: resolve the spec and the data -> validate (stop on errors, write nothing)
-> check the output location -> recode reverse-keyed items -> fit the SEM and the
CFA -> item diagnostics, reliability and validity -> indirect effects (bootstrap)
-> groups (invariance, per-group paths) -> model comparison -> power -> figures
-> sections -> HTML and Markdown -> write everything into a temporary folder next
to ``out`` and move it into place (:mod:`asymtrust.outputs`).

The output folder is checked before any work and written whole or not at all, with
a manifest of its files: an existing folder is refused unless ``force=True``, and
even then only when it holds nothing but an earlier report's unchanged files.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import hashlib
import inspect
import json
import os
import platform
import secrets
import sys
import time
import warnings as _warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._json import json_safe, records
from ..outputs import display, sha256_file
from ..exceptions import (
    AsymtrustError,
    DataError,
    GroupError,
    OptionError,
    OutputError,
    SpecError,
    ValidationError,
)

__all__ = ["DEFAULT_POWER_N", "OUTPUT_FILES", "ReportResults", "report"]

#: files every report folder holds (plus ``figures/`` and ``tables/``)
OUTPUT_FILES = ("report.html", "report.md", "fit_indices.json", "estimates.csv", "reliability.csv", "effects.csv")
#: sample sizes of ``--power``
DEFAULT_POWER_N = (150, 200, 300, 500)
DEFAULT_POWER_REPS = 250
_PNG_DPI = 150
_VERSION_PACKAGES = ("asymtrust", "numpy", "scipy", "pandas", "statsmodels", "pingouin", "semopy", "matplotlib",
                     "jinja2", "joblib")
EFFECT_COLUMNS = ["effect", "path", "est", "se", "ci_lower", "ci_upper", "std_all", "method"]


# ====================================================================================
# results container (what the sections read)
# ====================================================================================
@dataclass
class ReportResults:
    """Everything the report shows; filled by :func:`compute`."""

    spec: Any
    spec_name: str
    spec_source: str
    data: pd.DataFrame
    data_label: str
    data_sha256: str
    hash_basis: str
    synthetic: bool
    validation: Any
    options: dict
    bootstrap: int
    seed: int
    seed_drawn: bool
    command_line: str
    title: str = "asymtrust report"
    subtitle: str = ""
    synthetic_text: str = ""
    n_rows: int = 0
    n_used: int = 0
    recoded: list = field(default_factory=list)
    has_codebook_items: bool = True
    missing_table: pd.DataFrame | None = None
    sem: Any = None
    cfa: Any = None
    item_stats: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None
    htmt: pd.DataFrame | None = None
    harman: pd.Series | None = None
    cmv: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    effects_error: str = ""
    group: str | None = None
    group_counts: pd.Series | None = None
    group_fit: Any = None
    group_fit_error: str = ""
    invariance: pd.DataFrame | None = None
    invariance_error: str = ""
    #: the guided partial-invariance search (rows of the partial models and attrs["partial"])
    invariance_partial: dict | None = None
    #: where the SEM misfits (engine.diagnostics.misfit_summary); reasons["misfit"] when not available
    misfit: dict | None = None
    path_equality: pd.DataFrame | None = None
    compare_names: list = field(default_factory=list)
    comparison: Any = None
    comparison_error: str = ""
    #: the cluster column (``--cluster``) and the multilevel section (issue 16)
    cluster: str | None = None
    twolevel: bool = False
    icc: pd.DataFrame | None = None
    icc_error: str = ""
    multilevel_reliability: pd.DataFrame | None = None
    multilevel_reliability_error: str = ""
    power_requested: bool = False
    power: pd.DataFrame | None = None
    power_error: str = ""
    #: both sides of each partnership (``dyad=``/``side=``, issue 18): reporting.dyadic.compute_dyadic's dict
    dyadic_requested: bool = False
    dyadic: dict | None = None
    estimation_warnings: list = field(default_factory=list)
    other_warnings: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    figure_errors: dict = field(default_factory=dict)
    conceptual_caption: str = ""
    created: str = ""
    elapsed: float = 0.0
    versions: dict = field(default_factory=dict)


# ====================================================================================
# small helpers
# ====================================================================================
class _Progress:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def step(self, text: str) -> None:
        if not self.quiet:
            print(f"asymtrust report [{time.perf_counter() - self.t0:5.1f} s]: {text}", file=sys.stderr, flush=True)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in _VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "asymtrust":
                from .._version import __version__

                out[name] = __version__
            continue
    return out


def _sha256_frame(df: pd.DataFrame) -> str:
    text = df.to_csv(index=False, lineterminator="\n", float_format="%.17g")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _call(func: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` with the keyword arguments it accepts (the analysis modules grow
    options over time; the report passes what each one understands)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return func(*args, **kwargs)
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return func(*args, **kwargs)
    return func(*args, **{k: v for k, v in kwargs.items() if k in params})


def _optional(module: str, name: str) -> tuple[Callable | None, str]:
    import importlib

    try:
        mod = importlib.import_module(f"asymtrust.{module}")
    except ImportError:
        return None, f"asymtrust.{module} is not available in this installation"
    func = getattr(mod, name, None)
    if func is None:
        return None, f"asymtrust.{module}.{name} is not available in this installation"
    return func, ""


@contextlib.contextmanager
def _collect_warnings(sink: list[str], prefix: str = "") -> Any:
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue
        msg = f"{prefix}{' '.join(str(w.message).split())}"
        if msg not in sink:
            sink.append(msg)


def _records(df: pd.DataFrame | None) -> list[dict] | None:
    return records(df, keep_index=True)


def _csv(df: pd.DataFrame, *, index: bool = False) -> str:
    return df.to_csv(index=index, lineterminator="\n", float_format="%.10g")


# ====================================================================================
# inputs
# ====================================================================================
def _resolve_data(data: Any, data_path: Any, missing_codes: Sequence[Any], *,
                  sheet: int | str = 0) -> tuple[pd.DataFrame, str, Path | None, bool]:
    """Return (frame, label, file path or None, synthetic)."""
    from ..survey.datasets import dataset_path, load_dataset

    if data is None:
        df = load_dataset("bcf_synthetic")
        return df, "bundled dataset bcf_synthetic (SYNTHETIC)", dataset_path("bcf_synthetic"), True
    if isinstance(data, pd.DataFrame):
        path = Path(data_path) if data_path is not None else None
        synthetic = bool(data.attrs.get("synthetic", False))
        name = data.attrs.get("dataset")
        if path is None and name:
            with contextlib.suppress(Exception):
                path = dataset_path(str(name))
        label = display(path) if path is not None else ("bundled dataset " + str(name) if name else "a pandas DataFrame")
        return data, label, path if path is not None and path.is_file() else None, synthetic
    if isinstance(data, (str, os.PathLike)):
        path = Path(os.fspath(data))
        if path.exists():
            from ..survey.read import read_survey

            df = read_survey(path, missing_codes=list(missing_codes), sheet=sheet)
            return df, display(path), path, bool(df.attrs.get("synthetic", False))
        from ..survey.datasets import _registry

        reg = _registry()
        names = {str(n).casefold() for n in reg["name"]} | {
            a.strip().casefold() for al in reg["aliases"] for a in str(al).split("|") if a.strip()}
        if str(data).casefold() in names:
            df = load_dataset(str(data))
            if missing_codes:
                from ..survey.read import _recode_missing

                _recode_missing(df, list(missing_codes))
            return (df, f"bundled dataset {df.attrs.get('dataset', data)}" + (" (SYNTHETIC)" if df.attrs.get("synthetic") else ""),
                    dataset_path(str(data)), bool(df.attrs.get("synthetic", False)))
        raise DataError(f"data file {path} does not exist (and it is not a bundled dataset name)")
    raise OptionError(f"data must be None, a DataFrame, a file path or a bundled dataset name, not {type(data).__name__}")


def _check_out(out: Any, force: bool, inputs: Sequence[Any]):
    """Refuse an unusable output folder before any work is done
    (:func:`asymtrust.outputs.plan_folder`): the inputs named here (data, spec and
    compared specs, when they are files) may never be inside it or be it."""
    from ..outputs import plan_folder

    files = [p for p in inputs if isinstance(p, (str, os.PathLike)) and os.path.exists(p)]
    return plan_folder(out, force=force, inputs=files)


def _recode(data: pd.DataFrame, items: Iterable[str]) -> tuple[pd.DataFrame, list[str], bool]:
    """Recode the codebook's reverse-keyed items among ``items``; return (data, recoded, any item in the codebook)."""
    from ..library.codebook import load_codebook
    from ..survey.validation import recode_reverse

    try:
        cb = load_codebook()
    except AsymtrustError:
        out = data.copy()
        out.attrs = dict(data.attrs)
        return out, [], False
    items = [i for i in items if i in data.columns]
    coded = set(cb.loc[cb["kind"].astype(str).str.strip() == "item", "item"].astype(str))
    rev = set(cb.loc[cb["reverse"].astype(str).str.strip().isin(("1", "1.0", "True", "true")), "item"].astype(str))
    already = {str(c) for c in (data.attrs.get("reverse_recoded") or [])}
    targets = [i for i in items if i in rev and i not in already]
    out = recode_reverse(data, items=targets)
    return out, targets, any(i in coded for i in items)


# ====================================================================================
# computation
# ====================================================================================
def _estimation_problems(fit: Any, label: str, notes: list | None = None) -> list[str]:
    """The fit's estimation problems (non-convergence, improper solutions); its data
    notices (dropped rows, badly scaled variables) go to ``notes`` when given."""
    out = []
    if fit is None:
        return out
    if not getattr(fit, "converged", True):
        out.append(f"{label}: the model did not converge")
    problems = getattr(fit, "problems", None)
    for w in (problems if problems is not None else getattr(fit, "warnings", []) or []):
        out.append(f"{label}: {w}")
    if notes is not None:
        notes += [f"{label}: {n}" for n in getattr(fit, "notes", []) or [] if f"{label}: {n}" not in notes]
    return out


def _missing_table(data: pd.DataFrame, items: Sequence[str]):
    from . import tables as T

    present = [i for i in items if i in data.columns]
    if not present:
        return None
    n = len(data)
    miss = data[present].isna().sum()
    miss = miss[miss > 0]
    if miss.empty:
        return None
    df = pd.DataFrame({"Item": miss.index.astype(str), "Missing": miss.to_numpy().astype(int),
                       "% of rows": 100.0 * miss.to_numpy() / max(n, 1)})
    return T.apa_table(df, title="Missing answers per item",
                       note=f"Only items with at least one missing answer are listed; {n} rows in the data.",
                       formats={"Item": "text", "Missing": "int", "% of rows": "f1"})


def _power_frame(pw: Any) -> pd.DataFrame:
    df = getattr(pw, "table", pw)
    if not isinstance(df, pd.DataFrame):
        raise OptionError(f"power results must be a DataFrame with columns n, parameter, power, not {type(pw).__name__}")
    df = df.copy()
    if "parameter" not in df.columns:
        for alt in ("path", "effect", "name", "label"):
            if alt in df.columns:
                df = df.rename(columns={alt: "parameter"})
                break
    missing = {"n", "parameter", "power"} - set(df.columns)
    if missing:
        raise OptionError(f"power results lack column(s) {', '.join(sorted(missing))}; need n, parameter, power")
    return df


def _misfit_block(r: ReportResults) -> None:
    """Modification indices, standardized residuals (and score tests) of the SEM."""
    from ..engine.diagnostics import misfit_summary

    try:
        r.misfit = misfit_summary(r.sem, top=10)
    except AsymtrustError as exc:
        r.reasons["misfit"] = str(exc)


def _split_partial(r: ReportResults, inv: pd.DataFrame) -> None:
    """The invariance ladder, and apart from it the partial models of the guided search."""
    is_partial = inv["level"].astype(str).str.endswith("(partial)")
    search = inv.attrs.get("partial")
    r.invariance = inv[~is_partial].copy() if is_partial.any() else inv
    r.invariance.attrs = dict(inv.attrs)
    if search is not None:
        r.invariance_partial = {"rows": inv[is_partial].reset_index(drop=True), **search}


def compute(*, data: Any, spec: Any, group: str | None, compare: Sequence[str], bootstrap: int, seed: int | None,
            estimator: str, missing: str, quiet: bool, power: Any, command_line: str | None, data_path: Any,
            missing_codes: Sequence[Any] = (), out: Any = None, force: bool = False,
            n_jobs: int = 2, prog: _Progress | None = None, sheet: int | str = 0,
            cluster: str | None = None, dyad: str | None = None, side: str | None = None, sides: Any = None,
            apim: Any = None, rsa: Any = None, ordered: Any = None) -> tuple[ReportResults, Path | None]:
    """Validate and compute everything (no file is written). Returns the results and
    the checked output path (``None`` when ``out`` is ``None``)."""
    from ..engine.fit import fit as _fit
    from ..library.specs import load_spec
    from ..survey.validation import validate

    prog = prog or _Progress(quiet)
    t0 = time.perf_counter()
    # --- options ------------------------------------------------------------------
    ordinal = ordered is not None and ordered is not False
    est = str(estimator).upper() if estimator is not None else ("WLSMV" if ordinal else "ML")
    allowed = ORDINAL_ESTIMATORS if ordinal else ("ML", "MLR")
    if est not in allowed:
        raise OptionError(f"estimator must be {', '.join(allowed[:-1])} or {allowed[-1]}"
                          + (" with ordered items" if ordinal else "") + f", not {estimator!r}")
    miss = str(missing).lower()
    missing_ok = ("listwise", "pairwise") if ordinal else ("listwise", "fiml")
    if miss not in missing_ok:
        raise OptionError(f"missing must be {' or '.join(missing_ok)}" + (" with ordered items" if ordinal else "")
                          + f", not {missing!r}")
    if ordinal:
        combo = [n for n, v in (("--cluster", cluster), ("--dyad", dyad), ("--side", side), ("--apim", apim),
                                ("--rsa", rsa)) if v]
        if combo:
            raise OptionError(f"ordered items (--ordered) with {', '.join(combo)} are not supported in the report yet")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise OptionError(f"bootstrap must be 0 (delta method only) or a positive number of replicates, not {bootstrap!r}")
    if bootstrap > 0:
        from ..engine.resample import check_replicates

        check_replicates(int(bootstrap), name="bootstrap")
    seed_drawn = seed is None
    if seed is None:
        seed = secrets.randbelow(2**31 - 1) + 1
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionError(f"seed must be a non-negative whole number, not {seed!r}")
    # --- the output folder, checked before any work ---------------------------------
    dest = (_check_out(out, force, [data, data_path, spec, *(compare or ())]) if out is not None else None)
    # --- spec and data ------------------------------------------------------------
    spec_obj = load_spec(spec)
    compare_specs = []
    for c in compare or ():
        cs = load_spec(c)
        compare_specs.append((cs.name if Path(str(c)).suffix == "" else Path(str(c)).stem, cs))
    twolevel = spec_obj.measurement_syntax().startswith("level:")
    if twolevel and cluster is None:
        raise OptionError(f"spec {spec_obj.name!r} is a two-level model (level: blocks): name the cluster column "
                          "with --cluster COL (cluster=...)")
    names = [spec_obj.name] + [n for n, _ in compare_specs]
    if len(set(names)) != len(names):
        raise OptionError(f"--compare names a model twice or repeats --spec: {', '.join(names)}")
    frame, label, data_file, synthetic = _resolve_data(data, data_path, missing_codes, sheet=sheet)
    prog.step(f"validating {label} against spec {spec_obj.name!r}")
    rep = validate(frame, spec_obj, cluster=cluster, ordered=ordered)
    if not rep.ok:
        n = len(rep.errors)
        raise ValidationError(
            f"the data fail validation against spec {spec_obj.name!r} ({n} problem{'s' if n != 1 else ''}): "
            + "; ".join(rep.errors), problems=list(rep.errors))
    if group is not None:
        if group not in frame.columns:
            raise GroupError(f"grouping column {group!r} is not in the data; columns: {', '.join(map(str, frame.columns[:12]))}"
                             + (" ..." if frame.shape[1] > 12 else ""))
        levels = frame[group].dropna().unique()
        if len(levels) < 2:
            raise GroupError(f"grouping column {group!r} has {len(levels)} level(s); at least 2 are needed")
    # --- data preparation ---------------------------------------------------------
    if data_file is not None:
        sha, basis = sha256_file(data_file), f"file {display(data_file.name)}"
    else:
        sha, basis = _sha256_frame(frame), "the data frame written as CSV; no file was given"
    work, recoded, has_cb = _recode(frame, rep.items)
    if recoded:  # the report shows the validation of the data as analysed (after recoding)
        rep = validate(work, spec_obj, cluster=cluster, ordered=ordered)
    ordered_items = _ordered_items(ordered, rep.items) if ordinal else []
    spec_source = display(spec_obj.source) if getattr(spec_obj, "source", None) else ""
    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    r = ReportResults(
        spec=spec_obj, spec_name=spec_obj.name, spec_source=spec_source, data=work, data_label=label,
        data_sha256=sha, hash_basis=basis, synthetic=synthetic, validation=rep,
        options={"estimator": est, "missing": miss, "ordered": ordered_items,
                 "estimator_reason": _estimator_reason(est, estimator is None, ordered_items, rep)},
        bootstrap=int(bootstrap), seed=int(seed), seed_drawn=seed_drawn,
        command_line=display(command_line) if command_line else _api_call_text(data, spec, group, compare, bootstrap, seed, est, miss, power, ordered),
        n_rows=len(frame), recoded=recoded, has_codebook_items=has_cb, created=created, versions=_versions(),
        group=group, compare_names=[n for n, _ in compare_specs], power_requested=power is not None and power is not False,
        cluster=cluster, twolevel=twolevel,
    )
    r.title = f"{spec_obj.title}" if spec_obj.title and spec_obj.title != spec_obj.name else f"Model {spec_obj.name}"
    r.subtitle = f"asymtrust {r.versions.get('asymtrust', '')} report on {label}; created {created}"
    if synthetic:
        source = ("the generator of bcf_dyads (known actor, partner and incongruence effects)"
                  if "bcf_dyads" in label else "the fig1 model")
        r.synthetic_text = (f"These results come from {label}: answers simulated by asymtrust from {source}, "
                            "not real respondents. They demonstrate the pipeline and carry no empirical evidence; "
                            "do not cite them as findings.")
    r.missing_table = _missing_table(work, rep.items)
    if dyad is not None or side is not None or rsa is not None or apim is not None:  # issue 18, before the long fits
        from .dyadic import compute_dyadic

        r.dyadic_requested = True
        prog.step("both sides of each partnership: side means, APIM" + (", response surface" if rsa else ""))
        with _collect_warnings(r.other_warnings, "dyadic: "):
            r.dyadic = compute_dyadic(work, spec_obj, dyad=dyad, side=side, sides=sides, apim=apim, rsa=rsa,
                                      estimator=est, bootstrap=int(bootstrap), seed=int(seed), n_jobs=n_jobs,
                                      notes=r.other_warnings)
    fit_kw: dict[str, Any] = {"estimator": est, "missing": miss}
    if ordered_items:
        fit_kw["ordered"] = list(ordered_items)
    # the SEM and the CFA see the clusters (cluster-robust SEs, or the two-level model); the
    # group, comparison and power analyses do not (said in the multilevel section)
    sem_kw = {**fit_kw, "cluster": cluster} if cluster is not None else fit_kw
    # --- SEM ------------------------------------------------------------------------
    prog.step(f"fitting the structural model ({est}, {miss}" + (f", clusters: {cluster})" if cluster else ")"))
    with _collect_warnings(r.other_warnings, "SEM: "):
        r.sem = _fit(spec_obj, work, **sem_kw)
    r.n_used = int(sum(r.sem.nobs))
    r.estimation_warnings += _estimation_problems(r.sem, "SEM", r.other_warnings)
    _misfit_block(r)
    # --- measurement model, items, reliability ------------------------------------
    if spec_obj.constructs:
        prog.step("fitting the measurement model (CFA)")
        try:
            with _collect_warnings(r.other_warnings, "CFA: "):
                r.cfa = _fit(spec_obj.measurement_syntax(), work, **sem_kw)
            r.estimation_warnings += _estimation_problems(r.cfa, "CFA", r.other_warnings)
        except AsymtrustError as exc:
            r.reasons["cfa"] = f"the measurement model could not be estimated: {exc}"
        prog.step("item diagnostics, reliability and validity")
        _reliability_block(r, _within_spec(spec_obj) if twolevel else spec_obj, work,
                           listwise=(miss == "listwise" and not twolevel))
    else:
        for k in ("cfa", "items", "reliability"):
            r.reasons[k] = "the model has no latent constructs (no =~ lines), so there is nothing to measure"
    # --- effects --------------------------------------------------------------------
    eff_func, why = _optional("analysis.effects", "effects")
    if eff_func is None:
        r.reasons["effects"] = why
    else:
        # with --cluster the bootstrap resamples whole partnerships (engine/resample.py); a two-level
        # fit has no bootstrap (lavaan 0.6-14 has none either), so its effects use the delta method
        boot = 0 if twolevel else int(bootstrap)
        if twolevel and bootstrap:
            r.other_warnings.append(f"effects: --cluster {cluster} with a two-level model: the indirect effects "
                                    "use the delta method (a two-level bootstrap is not available)")
        what = f"{boot} bootstrap replicates" + (f" of whole {cluster} clusters" if cluster is not None else "")
        prog.step(f"indirect effects ({what})" if boot else "indirect effects (delta method)")
        try:
            with _collect_warnings(r.other_warnings, "effects: "):
                r.effects = _call(eff_func, r.sem, bootstrap=boot, seed=int(seed), n_jobs=n_jobs,
                                  progress=not quiet, data=work)
        except SpecError as exc:
            r.reasons["effects"] = f"the model has no indirect (mediated) paths: {exc}"
        except AsymtrustError as exc:
            r.effects_error = str(exc)
    # --- groups ----------------------------------------------------------------------
    if group is not None:
        _groups_block(r, spec_obj, work, group, fit_kw, prog)
    # --- multilevel --------------------------------------------------------------------
    if cluster is not None:
        prog.step(f"ICCs, design effects and multilevel reliability (clusters: {cluster})")
        _multilevel_block(r, _within_spec(spec_obj) if twolevel else spec_obj, work, cluster)
    # --- comparison ----------------------------------------------------------------
    if compare_specs:
        prog.step("comparing models: " + ", ".join([spec_obj.name] + [n for n, _ in compare_specs]))
        cmp_func, why = _optional("analysis.compare", "compare")
        if cmp_func is None:
            r.reasons["compare"] = why
        else:
            models = {spec_obj.name: spec_obj, **dict(compare_specs)}
            try:
                with _collect_warnings([]):  # the Comparison keeps its own warnings
                    r.comparison = _call(cmp_func, models, work, **fit_kw)
                for name, f in (getattr(r.comparison, "fits", {}) or {}).items():
                    if name != spec_obj.name:
                        r.estimation_warnings += _estimation_problems(f, f"model {name}", r.other_warnings)
            except AsymtrustError as exc:
                r.comparison_error = str(exc)
    # --- power ------------------------------------------------------------------------
    if isinstance(power, pd.DataFrame) or hasattr(power, "table"):
        try:
            r.power = _power_frame(power)
        except AsymtrustError as exc:
            r.power_error = str(exc)
    elif power and ordered_items:
        r.reasons["power"] = ("the report's power analysis does not take --ordered (an ordinal design needs its "
                              "cut points): run `asymtrust power --ordered --thresholds C1,C2,...` (WLSMV per "
                              "replicate)")
    elif power:
        pw_func, why = _optional("analysis.power", "power")
        if pw_func is None:
            r.reasons["power"] = why
        else:
            opts: dict[str, Any] = {"n": list(DEFAULT_POWER_N), "reps": DEFAULT_POWER_REPS}
            if isinstance(power, Mapping):
                opts.update(power)
            prog.step(f"Monte Carlo power, N = {', '.join(map(str, opts['n']))}, {opts['reps']} replicates each")
            try:
                with _collect_warnings(r.other_warnings, "power: "):
                    res = _call(pw_func, spec_obj, seed=int(seed), n_jobs=n_jobs, progress=not quiet,
                                estimator=est, **opts)
                r.power = _power_frame(res)
            except AsymtrustError as exc:
                r.power_error = str(exc)
    # --- figures ---------------------------------------------------------------------
    prog.step("drawing figures")
    _figures_block(r)
    r.elapsed = time.perf_counter() - t0
    return r, dest


#: estimators the report accepts with ordered items (lavaan's categorical estimators)
ORDINAL_ESTIMATORS = ("WLSMV", "WLSM", "ULSMV", "DWLS", "ULS", "WLS")


def _ordered_items(ordered: Any, items: Sequence[str]) -> list[str]:
    """``True``: every model item; a list (or a comma-separated string): those items,
    each of which must be a model item."""
    if ordered is True:
        return list(items)
    names = [t.strip() for t in ordered.split(",")] if isinstance(ordered, str) else [str(t) for t in ordered]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in items]
    if unknown or not names:
        raise OptionError("ordered items must be items of the model: " + (", ".join(unknown) if unknown else "none given")
                          + f" (model items: {', '.join(items)})")
    return names


def _estimator_reason(est: str, default: bool, ordered: Sequence[str], rep: Any) -> str:
    """Which estimator the report used, and why (stated in the report)."""
    if ordered:
        what = (f"{len(ordered)} items declared ordered ({', '.join(ordered[:6])}{', ...' if len(ordered) > 6 else ''})")
        if default and est == "WLSMV":
            return (f"WLSMV, lavaan's default for ordered-categorical items: {what} are analysed through their "
                    "thresholds and polychoric correlations, with DWLS estimates, robust standard errors and the "
                    "scaled-and-shifted chi-square")
        return f"{est}, as requested, with {what} analysed through thresholds and polychoric correlations"
    why = f"{est}" + (" (the default)" if default else ", as requested") + ": the items are treated as continuous"
    flagged = [w for w in getattr(rep, "warnings", []) if "fitted as continuous" in w]
    if flagged:
        why += ("; the data check warns that some items have few categories or floor/ceiling effects: consider "
                "--ordered (WLSMV)")
    return why


def _reliability_block(r: ReportResults, spec: Any, work: pd.DataFrame, *, listwise: bool) -> None:
    import importlib

    rel_mod = importlib.import_module("asymtrust.analysis.reliability")  # the module, not the function of that name

    cfa_for_rel = r.cfa if (listwise and r.cfa is not None and not spec.interactions) else None
    ordered = list(r.options.get("ordered") or [])
    ord_kw = {"ordered": ordered} if ordered else {}
    try:
        r.item_stats = rel_mod.item_stats(work, spec)
    except AsymtrustError as exc:
        r.reasons["items"] = str(exc)
    try:
        with _collect_warnings(r.other_warnings, "reliability: "):
            r.reliability = rel_mod.reliability(work, spec, fitted=cfa_for_rel, **ord_kw)
    except AsymtrustError as exc:
        r.reasons["reliability"] = str(exc)
    if r.reliability is not None and len(r.reliability) > 1:
        try:
            r.htmt = rel_mod.htmt(work, spec, method=str(r.reliability.attrs.get("htmt_method", "htmt2")), **ord_kw)
        except AsymtrustError as exc:
            r.reasons["htmt"] = str(exc)
    if ordered:
        r.reasons["cmv"] = ("the one-factor CFA test of common-method variance compares ML fits of continuous "
                            "items; it is not computed for ordinal items (--ordered)")
    try:
        r.harman = rel_mod.harman(work, spec)
    except AsymtrustError as exc:
        r.reasons["harman"] = str(exc)
    if r.reliability is not None and len(r.reliability) > 1 and not ordered:
        try:
            with _collect_warnings(r.other_warnings, "one-factor CFA: "):
                r.cmv = rel_mod.cmv_one_factor(work, spec, fitted=cfa_for_rel)
        except AsymtrustError as exc:
            r.reasons["cmv"] = str(exc)


def _within_spec(spec: Any) -> str:
    """The level-1 measurement model of a two-level spec (lavaan syntax): what the
    single-level item, reliability and validity analyses read."""
    lines, inside = [], False
    for line in spec.measurement_syntax().splitlines():
        if line.startswith("level:"):
            inside = not lines and not inside
            continue
        if inside:
            lines.append(line)
    return "\n".join(lines) + "\n"


def _multilevel_block(r: ReportResults, spec: Any, work: pd.DataFrame, cluster: str) -> None:
    """``--cluster``: the items' ICCs and design effects (lavaan's ``lavInspect(fit, "icc")``)
    and the multilevel reliability of the constructs (semTools ``compRelSEM``)."""
    from ..analysis.multilevel import icc
    from ..analysis.reliability import reliability
    from ..library.specs import load_spec

    meas = load_spec(spec) if not isinstance(spec, str) else None
    items = [i for i in (meas.items() if meas is not None else r.validation.items) if i in work.columns]
    try:
        with _collect_warnings(r.other_warnings, "ICC: "):
            r.icc = icc(work, cluster, columns=items)
    except AsymtrustError as exc:
        r.icc_error = str(exc)
    try:
        with _collect_warnings(r.other_warnings, "multilevel reliability: "):
            rel = reliability(work, spec if meas is None else meas.measurement_syntax(), cluster=cluster)
        r.multilevel_reliability = rel[["omega", "omega_w", "omega_2l", "omega_b", "irr"]].copy()
        tl = rel.attrs.get("twolevel_fit")
        r.multilevel_reliability.attrs["warnings"] = list(getattr(tl, "warnings", []) or [])
        r.estimation_warnings += _estimation_problems(tl, "two-level CFA (multilevel reliability)", r.other_warnings)
    except AsymtrustError as exc:
        r.multilevel_reliability_error = str(exc)


def _groups_block(r: ReportResults, spec: Any, work: pd.DataFrame, group: str, fit_kw: dict, prog: _Progress) -> None:
    from ..engine.fit import fit as _fit

    data = work
    n_na = int(work[group].isna().sum())
    if n_na:
        data = work[work[group].notna()].copy()
        data.attrs = dict(work.attrs)
        r.other_warnings.append(f"groups: {n_na} row(s) without a value of {group!r} are left out of the group analyses")
    r.group_counts = data[group].astype(str).value_counts(sort=False)
    prog.step(f"multi-group model by {group!r} ({len(r.group_counts)} groups)")
    try:
        with _collect_warnings(r.other_warnings, "multi-group: "):
            r.group_fit = _fit(spec, data, group=group, **fit_kw)
        r.estimation_warnings += _estimation_problems(r.group_fit, f"multi-group model ({group})", r.other_warnings)
    except AsymtrustError as exc:
        r.group_fit_error = str(exc)
    inv_func, why = _optional("analysis.invariance", "invariance")
    if inv_func is None:
        r.reasons["invariance"] = why
    elif spec.constructs:
        prog.step("measurement invariance ladder")
        try:
            with _collect_warnings(r.other_warnings, "invariance: "):
                inv = _call(inv_func, spec, data, group, partial=None if fit_kw.get("ordered") else "auto",
                            **fit_kw)
            _split_partial(r, inv)
        except AsymtrustError as exc:
            r.invariance_error = str(exc)
    else:
        r.reasons["invariance"] = "the model has no latent constructs, so measurement invariance does not apply"
    pe_func, why = _optional("analysis.invariance", "path_equality")
    if pe_func is None:
        r.reasons["path_equality"] = why
    elif r.sem is None or not (r.sem.estimates["op"] == "~").any():
        r.reasons["path_equality"] = "the model has no structural paths"
    elif fit_kw.get("ordered"):
        r.reasons["path_equality"] = ("per-path equality tests across groups are not built for ordinal items "
                                      "(--ordered) yet")
    else:
        prog.step("equality of each structural path across groups")
        try:
            with _collect_warnings(r.other_warnings, "path equality: "):
                r.path_equality = _call(pe_func, spec, data, group, **fit_kw)
        except AsymtrustError as exc:
            r.reasons["path_equality"] = f"the path-equality tests failed: {exc}"


def _render_figure(r: ReportResults, key: str, make: Callable[[], Any]) -> None:
    from .figures import figure_bytes

    try:
        fig = make()
        r.figures[key] = {"png": figure_bytes(fig, "png", dpi=_PNG_DPI), "svg": figure_bytes(fig, "svg")}
        fig.clear()
    except AsymtrustError as exc:
        r.figure_errors[key] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken figure must not cost the user the whole report
        r.figure_errors[key] = f"{type(exc).__name__}: {exc}"
        r.other_warnings.append(f"figure {key!r} could not be drawn ({type(exc).__name__}: {exc}); please report this")


def _figures_block(r: ReportResults) -> None:
    from . import figures as F
    from .sections import _indirect_rows
    from .tables import group_paths_table

    spec = r.spec
    has_paths = bool(len(r.sem.estimates[r.sem.estimates["op"] == "~"]))
    if has_paths:
        _render_figure(r, "path_diagram", lambda: F.path_diagram(r.sem, spec))
        if spec.name.startswith("fig1"):
            r.conceptual_caption = (f"{F.FIG1_CAPTION} ({F.FIG1_SOURCE}), redrawn from the specification "
                                    f"{spec.name!r}: the expected sign of every path.")
        else:
            r.conceptual_caption = f"The model {spec.name!r} as specified: {spec.title}, with the expected sign of every path."
        _render_figure(r, "conceptual", lambda: F.figure_fig1(spec))
    if r.reliability is not None:
        _render_figure(r, "reliability", lambda: F.reliability_chart(r.reliability))
    _render_figure(r, "residuals", lambda: F.residual_heatmap(r.sem))  # two-level: one panel per level
    if r.effects is not None and len(r.effects):
        ind = _indirect_rows(r.effects)
        if len(ind):
            _render_figure(r, "indirect_effects", lambda: F.effects_forest(ind))
    if r.invariance is not None and len(r.invariance) > 1:
        _render_figure(r, "invariance", lambda: F.invariance_chart(r.invariance))
    if r.group_fit is not None and has_paths:
        _render_figure(r, "group_paths", lambda: F.group_paths_chart(group_paths_table(r.group_fit, spec)))
    if r.power is not None:
        _render_figure(r, "power", lambda: F.power_curve(r.power))
    if r.dyadic and r.dyadic.get("apim") is not None:
        from .dyadic import apim_figure

        _render_figure(r, "apim", lambda: apim_figure(r.dyadic["apim"]))
    if r.dyadic and r.dyadic.get("rsa") is not None:
        _render_figure(r, "response_surface", lambda: r.dyadic["rsa"].plot())


def _api_call_text(data: Any, spec: Any, group: Any, compare: Any, bootstrap: Any, seed: Any, est: str, miss: str,
                   power: Any, ordered: Any = None) -> str:
    if isinstance(data, pd.DataFrame):
        d = "<DataFrame>"
    else:
        d = repr(None if data is None else os.fspath(data) if isinstance(data, os.PathLike) else data)
    spec_txt = repr(getattr(spec, "name", spec) if not isinstance(spec, (str, os.PathLike)) else os.fspath(spec))
    args = [d, f"spec={spec_txt}", f"group={group!r}", f"compare={tuple(compare or ())!r}", f"bootstrap={bootstrap!r}",
            f"seed={seed!r}", f"estimator={est!r}", f"missing={miss!r}"]
    if power is not None and power is not False:
        args.append("power=" + ("<DataFrame>" if isinstance(power, pd.DataFrame) else repr(power)))
    if ordered is not None and ordered is not False:
        args.append(f"ordered={ordered!r}")
    return "asymtrust.report(" + ", ".join(args) + ") [Python API]"


# ====================================================================================
# rendering and writing
# ====================================================================================
def _render_html(r: ReportResults, sections: list) -> str:
    import jinja2

    from .sections import FigureBlock

    for s in sections:
        for b in s.blocks:
            if isinstance(b, FigureBlock) and b.stem in r.figures:
                png = r.figures[b.stem]["png"]
                b.data_uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                b.width = _png_width(png)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tmpl = env.get_template("report.html.j2")
    return tmpl.render(r=r, sections=sections)


def _png_width(png: bytes) -> int:
    # IHDR: width is the big-endian uint32 at byte 16
    return int.from_bytes(png[16:20], "big") if png[:8] == b"\x89PNG\r\n\x1a\n" else 0


def _fit_json(r: ReportResults) -> str:
    from ..analysis.cutoffs import load_cutoffs

    cut = load_cutoffs()
    doc: dict[str, Any] = {
        "spec": r.spec_name,
        "estimator": r.options["estimator"],
        "missing": r.options["missing"],
        "nobs": [int(n) for n in r.sem.nobs],
        "converged": bool(r.sem.converged),
        "warnings": list(r.estimation_warnings),
        "notes": list(r.other_warnings),
        "rows": {"n_read": r.sem.n_read, "n_used": r.sem.n_used, "dropped": dict(r.sem.dropped or {})},
        "sem": dict(r.sem.fit_indices.items()),
        "cfa": dict(r.cfa.fit_indices.items()) if r.cfa is not None else None,
        "cutoffs": {row["statistic"]: {"rule": row["rule"], "threshold": row["threshold"], "citation": row["citation"]}
                    for _, row in cut.iterrows()},
    }
    if r.group_fit is not None:
        doc["multigroup"] = {"group": r.group, "group_labels": r.group_fit.group_labels,
                             "fit_indices": dict(r.group_fit.fit_indices.items())}
    if r.invariance is not None:
        doc["invariance"] = _records(r.invariance)
    if r.comparison is not None:
        doc["comparison"] = (r.comparison.to_dict() if hasattr(r.comparison, "to_dict")
                             else _records(getattr(r.comparison, "table", r.comparison)))
    if r.dyadic and r.dyadic.get("apim") is not None:  # issue 18
        ap = r.dyadic["apim"]
        doc["dyadic"] = {"partnerships": len(r.dyadic["dyads"].wide), "sides": list(ap.sides), "x": ap.x, "y": ap.y,
                         "effects": _records(ap.effects.reset_index()), "k": _records(ap.k.reset_index()),
                         "tests": _records(ap.tests.reset_index())}
    return json.dumps(json_safe(doc), indent=2, allow_nan=False) + "\n"


def _write_tree(r: ReportResults, sections: list, folder: Path) -> None:
    from . import tables as T
    from .sections import TableBlock, render_markdown

    (folder / "figures").mkdir()
    (folder / "tables").mkdir()
    for key, blobs in r.figures.items():
        (folder / "figures" / f"{key}.png").write_bytes(blobs["png"])
        (folder / "figures" / f"{key}.svg").write_bytes(blobs["svg"])
    for s in sections:
        for b in s.blocks:
            if isinstance(b, TableBlock):
                name = (b.key or f"table{b.number}").removeprefix("tab-").replace("-", "_")
                (folder / "tables" / f"{name}.tex").write_text(T.to_latex(b.table, label=f"tab:{name}"), encoding="utf-8")
    (folder / "report.html").write_text(_render_html(r, sections), encoding="utf-8")
    (folder / "report.md").write_text(render_markdown(r, sections), encoding="utf-8")
    (folder / "fit_indices.json").write_text(_fit_json(r), encoding="utf-8")
    est = r.sem.parameter_estimates()
    (folder / "estimates.csv").write_text(_csv(est), encoding="utf-8")
    if r.group_fit is not None:
        g = r.group_fit.parameter_estimates()
        labels = list(r.group_fit.group_labels or [])
        g.insert(4, "group_label", [labels[int(x) - 1] if 1 <= int(x) <= len(labels) else "" for x in g["group"]])
        (folder / "estimates_by_group.csv").write_text(_csv(g), encoding="utf-8")
    if r.reliability is not None:
        (folder / "reliability.csv").write_text(_csv(r.reliability, index=True), encoding="utf-8")
    else:
        (folder / "reliability.csv").write_text("construct\n", encoding="utf-8")
    eff = r.effects if r.effects is not None else pd.DataFrame(columns=EFFECT_COLUMNS)
    (folder / "effects.csv").write_text(_csv(eff), encoding="utf-8")
    if r.item_stats is not None:
        (folder / "item_stats.csv").write_text(_csv(r.item_stats, index=True), encoding="utf-8")
    (folder / "validation.json").write_text(json.dumps(json_safe(r.validation.to_dict()), indent=2) + "\n",
                                            encoding="utf-8")


# ====================================================================================
# the public function
# ====================================================================================
def report(data: Any = None, *, spec: Any = "fig1", out: str | os.PathLike, group: str | None = None,
           compare: Sequence[str] = (), bootstrap: int = 1000, seed: int | None = None, estimator: str | None = None,
           missing: str = "listwise", force: bool = False, quiet: bool = False, power: Any = None,
           command_line: str | None = None, data_path: str | os.PathLike | None = None,
           missing_codes: Sequence[Any] = (), n_jobs: int = 2, sheet: int | str = 0,
           cluster: str | None = None, dyad: str | None = None, side: str | None = None, sides: Any = None,
           apim: Sequence[str] | None = None, rsa: Sequence[str] | None = None, ordered: Any = None) -> Path:
    """Build the complete report folder for a model and a survey data set.

    Parameters
    ----------
    data : DataFrame, path, dataset name or None
        Survey answers (reverse-keyed items as answered; they are recoded here). A
        path is read with :func:`asymtrust.read_survey`; a bundled name (``"hs1939"``)
        is loaded. ``None``: the bundled **synthetic** ``bcf_synthetic`` data, with a
        banner saying so.
    spec : str, path or ModelSpec
        A bundled spec name (``"fig1"``) or a ``.lav``/``.toml`` file; a bare ``.lav``
        file over the analyst's own columns works (sections that need metadata say
        what is missing).
    out : path
        Folder to create. It is written whole or not at all.
    group : str, optional
        Grouping column (e.g. ``"sector"``): invariance ladder, per-group paths and
        path-equality tests.
    dyad, side : str, optional
        The partnership ID and side columns (e.g. ``"partnership"``, ``"sector"``): the report
        gains the section "Both sides of each partnership" (issue 18): side means of every
        construct with rwg(j), ICC(1) and ICC(2), the APIM with its diagram, k and the
        distinguishability tests (FIML, ``bootstrap`` replicates for k) and, with ``rsa``, the
        response surface. Both are needed.
    sides : (str, str), optional
        The two side labels (default: the two labels of ``side``; a third label is an error).
    apim : (x, y), optional
        The APIM's predictor and outcome: constructs of the spec (scored as the mean of their
        keyed items) or numeric columns. Default: ``("CapImb", "GoodTrust")`` when the spec has
        that path, else its first path between two constructs.
    rsa : (z, x, y), optional
        A response surface of ``z`` on ``x`` and ``y``, columns of the partnership table
        ``<construct>_<side>``, e.g. ``("GoodTrust_council", "CapImb_nhs", "CapImb_council")``
        (pooled centering, MLR, the RSA package's models).
    cluster : str, optional
        Cluster column of a nested design (e.g. ``"partnership"``): the SEM and the CFA are
        fitted with ``cluster=`` (cluster-robust SEs; a two-level spec such as
        ``fig1_twolevel`` is fitted as a two-level model and needs it), the indirect effects
        use the delta method, and the multilevel section shows the items' ICCs and design
        effects, the two-level fit and the multilevel reliability.
    compare : sequence of str
        Competing specs (e.g. ``("fig1_direct", "fig1_single_trust")``).
    bootstrap : int
        Bootstrap replicates for the indirect-effect CIs (0: delta method only).
    seed : int, optional
        Seed of the bootstrap (and of power simulations). Without one a seed is drawn
        and printed in the reproducibility footer.
    estimator : {"ML", "MLR"}, or with ``ordered`` {"WLSMV", "WLSM", "ULSMV", "DWLS", "ULS", "WLS"}
        Default: ``"ML"``, or ``"WLSMV"`` (lavaan's default) with ``ordered``. The report
        states which estimator it used and why.
    missing : {"listwise", "fiml"}, or with ``ordered`` {"listwise", "pairwise"}
    ordered : True, list of str or comma-separated str, optional
        Ordered-categorical items (lavaan's ``ordered=``): ``True`` for every model item.
        The SEM, the CFA, the multi-group ladder (the ordinal levels configural,
        thresholds, metric, scalar), the model comparison, reliability (categorical omega,
        ordinal alpha; AVE and HTMT from polychorics) use them. Not combined with
        ``cluster`` or the dyadic analyses; power, per-path group equality and the
        one-factor CMV test are left out with the reason stated.
    force : bool
        Replace an existing ``out`` folder, only when it holds nothing but the
        unchanged files of an earlier report (listed in its
        ``asymtrust-manifest.json``), or nothing at all.
    quiet : bool
        No progress messages or progress bar on standard error.
    power : None, True, mapping or DataFrame
        ``True``: run :func:`asymtrust.power` (N = 150, 200, 300, 500, 250 replicates
        each); a mapping: the same with these keyword arguments of
        :func:`asymtrust.power` (e.g. ``{"n": [200, 400], "reps": 500}``); a DataFrame
        with columns ``n, parameter, power``: show it as computed elsewhere.
    command_line : str, optional
        The exact command, recorded in the footer (the CLI passes it).
    data_path : path, optional
        The file ``data`` was read from, when ``data`` is a DataFrame (for the SHA-256).
    missing_codes : sequence
        Values meaning "missing" in a data file (e.g. ``(-99,)``).
    n_jobs : int
        Workers of the bootstrap (default 2).
    sheet : int or str
        Worksheet of an ``.xlsx`` data file: its name, or its position from 0.

    Returns
    -------
    pathlib.Path
        The report folder, holding ``report.html`` (self-contained), ``report.md``,
        ``fit_indices.json``, ``estimates.csv``, ``reliability.csv``, ``effects.csv``,
        ``item_stats.csv``, ``validation.json``, ``figures/*.png|svg``,
        ``tables/*.tex`` and ``asymtrust-manifest.json`` (every file with its SHA-256).

    Raises
    ------
    ValidationError
        The data fail validation (``exc.problems`` lists every problem); nothing is written.
    OutputError
        ``out`` exists (without ``force``), is a file, lies in a missing or unwritable
        folder, or contains the data file.
    SpecError, DataError, GroupError, OptionError
        A bad spec, data file, grouping column or option.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import asymtrust
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "bcf_report"
    >>> asymtrust.report(out=out, bootstrap=20, seed=1, quiet=True).name   # 1000 replicates in real use
    'bcf_report'
    >>> sorted(p.name for p in out.iterdir() if p.is_file())[:4]
    ['asymtrust-manifest.json', 'effects.csv', 'estimates.csv', 'fit_indices.json']
    """
    prog = _Progress(quiet)
    if out is None:
        raise OutputError("an output folder is required (out=...)")
    r, dest = compute(data=data, spec=spec, group=group, compare=tuple(compare or ()), bootstrap=bootstrap,
                      seed=seed, estimator=estimator, missing=missing, quiet=quiet, power=power,
                      command_line=command_line, data_path=data_path, missing_codes=missing_codes, out=out,
                      force=force, n_jobs=n_jobs, prog=prog, sheet=sheet, cluster=cluster, dyad=dyad, side=side,
                      sides=sides, apim=apim, rsa=rsa, ordered=ordered)
    if dest is None:  # pragma: no cover - compute() checks `out` whenever it is given
        raise OutputError("an output folder is required (out=...)")
    from .sections import build_sections

    t_render = time.perf_counter()
    sections = build_sections(r)
    prog.step(f"writing {dest.shown}")
    r.elapsed += time.perf_counter() - t_render
    try:  # whole or not at all; re-checked before the move (the world may have changed)
        path = dest.write(lambda tmp: _write_tree(r, sections, tmp))
    except OSError as exc:
        raise OutputError(f"report folder {dest.shown} could not be written: {exc.strerror or exc}") from exc
    prog.step(f"done: {display(path / 'report.html')}")
    return path
