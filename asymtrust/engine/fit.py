"""``asymtrust.fit``: one call from a model and a data frame to a :class:`FitResult`.

fit() runs lavaan's steps (``lav_lavaan_step*``) in order, each in its own module, and
assembles the result; which estimator family runs is decided once, by
:func:`asymtrust.engine.estimators.choose`, and fit() only calls the family's methods:

0. options: the family from ``estimator``/``missing``, and its defaults for ``se`` and
   ``information`` (:mod:`asymtrust.engine.estimators`);
1. parameter table: :mod:`asymtrust.library.partable` (syntax, lavaan's sem()/cfa() defaults);
2. data: :mod:`asymtrust.engine.data` (columns, groups, rows dropped by reason);
3. sample statistics: the family (:mod:`asymtrust.engine.samplestats`);
4. model: :mod:`asymtrust.engine.compile` (RAM matrices, constraints, start-value plan);
5. start and optimiser: the family's start values and objective,
   :func:`asymtrust.engine.estimate.optimise`;
6. vcov: :func:`asymtrust.engine.vcov.parameter_vcov` from the family's information and scores;
7. test and fit measures: the family's test statistic, baseline, log-likelihood and robust
   indices; :mod:`asymtrust.engine.indices` for the rest;
8. standardized solution, ``:=`` parameters (:mod:`asymtrust.engine.standardize`,
   :mod:`asymtrust.engine.defined`) and the result (:mod:`asymtrust.engine.results`).

Bootstrap SEs use the resampling service (:mod:`asymtrust.engine.resample`, which refits
with :mod:`asymtrust.engine.refit`); :func:`refit` is re-exported here.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from . import indices as ix
from ..exceptions import DataError, EstimationError, OptionError
from ._lapack import potrf
from ._threads import single_thread_blas
from .compile import Compiled, compile_model  # noqa: F401 - compile_model re-exported
from .data import check_group_column, check_samples, drop_warnings, keeps_missing_covariates, prepare, scale_warnings
from .defined import defined_rows, definition_warnings, struct_values
from .estimate import optimise
from .estimators import EstimatorFamily, Solution, choose, estimator_label, is_ordered, missing_value
from .estimators.clustered import cluster_inference
from .estimators.twolevel import fit_twolevel
from .esem import efa_start, rotate_fit, rotation_for
from .options import check_lavaan_options
from .model import RamModel
from .refit import Refit, refit  # noqa: F401 - re-exported (asymtrust.engine.fit.refit)
from .standardize import r_squared
from .vcov import parameter_vcov

_SE = ("standard", "robust", "bootstrap", "none")


# ----------------------------------------------------------------------------- helpers
def model_syntax(model) -> str:
    """The lavaan syntax of a spec name, a ModelSpec, a ``.lav``/``.toml`` path or a syntax string."""
    if hasattr(model, "syntax"):
        return model.syntax
    if not isinstance(model, str):
        raise OptionError(f"model must be a spec name, a ModelSpec or lavaan syntax, not {type(model).__name__}")
    text = model.strip()
    if any(op in text for op in ("=~", "~", ":=", "==")):
        return model
    from ..library.specs import load_spec

    if text in _bundled_names():
        return _bundled_syntax(text)
    return load_spec(text).syntax


@functools.lru_cache(maxsize=1)
def _bundled_names() -> frozenset:
    from ..library.specs import list_specs

    return frozenset(list_specs())


@functools.lru_cache(maxsize=32)
def _bundled_syntax(name: str) -> str:
    """Syntax of a bundled spec (read once: the package data do not change)."""
    from ..library.specs import load_spec

    return load_spec(name).syntax


# ----------------------------------------------------------------------------- step 0: options
def _resolve_options(estimator, missing, se, information, bootstrap, ordered=None,
                     parameterization="delta") -> tuple[EstimatorFamily, str, str, str, str, int]:
    """The family and the resolved options: ``(family, estimator, missing, se, information,
    bootstrap)``, defaults from the family (lavaan's: robust SEs for MLR, observed
    information for FIML and MLR; WLSMV for ordered items)."""
    estimator = estimator_label(estimator, ordered)
    family = choose(estimator, missing, ordered=ordered, parameterization=parameterization)
    if is_ordered(ordered) and se == "bootstrap" and family.robust:  # lavaan: "use (D)WLS estimator for bootstrap"
        raise OptionError(f"se='bootstrap' with estimator={estimator!r}: use estimator='{family.estimator}' for "
                          "bootstrap standard errors (as lavaan)")
    miss = missing_value(missing, ordered)
    if se is None:
        se = family.default_se
    if se == "robust.huber.white" and information is None:
        information = "observed"  # lavaan: the sandwich's bread is the observed information
    se = {"robust.huber.white": "robust", "robust.sem": "robust"}.get(se, se)
    if se not in _SE:
        raise OptionError(f"se must be 'standard', 'robust', 'bootstrap' or 'none', not {se!r}")
    if se == "bootstrap":
        bootstrap = int(bootstrap or 1000)
        if bootstrap <= 0:
            raise OptionError(f"bootstrap must be a positive number of replicates, not {bootstrap}")
    if information is None:
        information = family.default_information
    if information not in ("expected", "observed"):
        raise OptionError(f"information must be 'expected' or 'observed', not {information!r}")
    return family, estimator, miss, se, information, bootstrap


# ----------------------------------------------------------------------------- main entry
def fit(model, data: pd.DataFrame | None = None, *, estimator: str | None = None, missing: str = "listwise",
        group: str | None = None, group_equal: Sequence[str] = (), group_partial: Sequence[str] = (),
        se: str | None = None, information: str | None = None, bootstrap: int = 0,
        seed: int | None = None, std_lv: bool = False, fixed_x: bool | None = None,
        meanstructure: bool | None = None, start: np.ndarray | None = None,
        sample_cov: pd.DataFrame | None = None, sample_mean: pd.Series | None = None,
        sample_nobs: int | None = None, sample_cov_rescale: bool | str = "default", cluster: str | None = None,
        ordered=None, parameterization: str = "delta", rotation: str | None = None,
        rotation_args: dict | None = None, **options):
    """Fit a structural equation model with lavaan's ``sem()`` defaults.

    Parameters
    ----------
    model : str or ModelSpec
        A bundled spec name (``"fig1"``), a :class:`~asymtrust.library.specs.ModelSpec`, a path to a
        ``.lav``/``.toml`` file, or a lavaan-syntax string.
    data : pandas.DataFrame
        One row per respondent. Reverse-keyed items should already be recoded
        (:func:`asymtrust.recode_reverse`).
    estimator : {None, "ML", "MLR", ...}
        ``"MLR"``: ML estimates with Huber-White robust SEs and the Yuan-Bentler
        (Mplus variant) scaled test, as lavaan's ``estimator="MLR"``. Any other
        estimator registered in :mod:`asymtrust.engine.estimators` is accepted too.
        Default (None): ``"ML"``, or ``"WLSMV"`` with ``ordered`` (as lavaan).
    missing : {"listwise", "fiml"}
        ``"fiml"`` is lavaan's ``missing="ml"``: case-wise likelihood under MAR.
    group : str, optional
        Grouping column for a multi-group model (groups in order of first appearance).
    group_equal : sequence of str
        lavaan's ``group.equal``: any of ``loadings, intercepts, means, residuals,
        residual.covariances, lv.variances, lv.covariances, regressions``.
    se : {None, "standard", "robust", "bootstrap", "none"}
        Default: ``"standard"`` for ML, ``"robust"`` (Huber-White) for MLR.
    information : {None, "expected", "observed"}
        Default as lavaan: expected for complete-data ML, observed for FIML and MLR.
    bootstrap : int
        Number of bootstrap replicates when ``se="bootstrap"`` (default 1000).
    seed : int, optional
        Seed for the bootstrap.
    sample_cov, sample_mean, sample_nobs : optional
        Fit from summary statistics instead of raw data (lavaan's ``sample.cov``):
        a covariance matrix with divisor N (a DataFrame labelled by variable), the
        means (needed for a meanstructure) and N. Used for very large files, whose
        moments are computed in one streaming pass (:func:`asymtrust.survey.moments.read_moments`).
        ML with complete data only (MLR and FIML need the raw rows). As lavaan's
        ``sample.cov``, the matrix is read as the unbiased (divisor N - 1) matrix and
        rescaled by (N - 1) / N (``sample_cov_rescale``, lavaan's default; ``False``
        takes it as given). Several groups: lists of matrices, means and sizes.
        Without data and moments (``sample_nobs`` alone, or nothing), the parameter
        table with lavaan's start values is returned, nothing estimated.
    cluster : str, optional
        lavaan's ``cluster=``: the column naming each respondent's cluster (partnership).
        A single-level model gets lavaan's cluster-robust inference (``se="robust.cluster"``:
        case-wise scores summed within clusters in the sandwich and in the Yuan-Bentler
        scaled test, robust CFI/TLI/RMSEA): ``estimator="MLR"`` (complete data or
        ``missing="fiml"``) or ``"ML"`` (complete data; the test with lavaan's h1
        information, :mod:`asymtrust.engine.estimators.clustered`). A model with ``level:``
        blocks is a two-level SEM fitted by ML (:mod:`asymtrust.engine.estimators.twolevel`;
        estimates carry a ``level`` column).
    ordered : True or list of str, optional
        lavaan's ``ordered=``: the model's observed variables (True) or the listed ones
        are ordered categorical items, fitted on their thresholds and polychoric
        correlations (:mod:`asymtrust.engine.estimators.dwls`: ``"WLSMV"`` by default;
        ``"DWLS"``, ``"WLSM"``, ``"WLS"``, ``"ULS"``, ``"ULSMV"``).
    parameterization : {"delta", "theta"}
        lavaan's ``parameterization=`` for ordered items.
    rotation, rotation_args : optional
        lavaan's ``rotation=`` (default ``"geomin"``) and ``rotation.args`` (a dict, names with
        ``_``: ``orthogonal``, ``geomin_epsilon``, ``oblimin_gamma``, ``rstarts``, ``std_ov``, ...;
        :func:`asymtrust.engine.rotation.rotation_options`) for models with ``efa("set")*`` blocks
        (ESEM): estimated unrotated, each set rotated, SEs from the bordered information
        (lavaan's ``rotation.se = "bordered"``; :mod:`asymtrust.engine.esem`). Refused for a
        model without efa sets (``rotation="geomin"``, lavaan's default, is a no-op).
    missing : with ordered items, ``"listwise"`` or ``"pairwise"`` (lavaan's).
    **options
        lavaan's ``likelihood="wishart"`` and ``orthogonal=True`` (the latent covariances
        lavaan adds are fixed at 0). Options lavaan's ``sem()`` overrides (``int_ov_free``,
        ``auto_cov_y``, ...) are overridden the same way, with a warning on the result. Other
        lavaan options asymtrust does not have: accepted when the value is lavaan's
        ``sem()`` default, otherwise refused with an :class:`OptionError` naming the
        option and the issue that brings it (:mod:`asymtrust.engine.options`).

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import asymtrust
    >>> hs = asymtrust.load_dataset("hs1939")
    >>> res = asymtrust.fit("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9", hs)
    >>> print(round(float(res.fit_indices["chisq"]), 3))
    85.306

    In R: ``lavaan::cfa(model, data = HolzingerSwineford1939)``.
    """
    likelihood = options.pop("likelihood", "default")  # lavaan's likelihood=: the family's (estimators/)
    orthogonal = bool(options.pop("orthogonal", False))  # lavaan's orthogonal=: the table's (library/partable)
    overridden = check_lavaan_options(options)  # options lavaan's sem() overrides: reported on the result
    rot = {k: v for k, v in (("rotation", rotation), ("rotation_args", rotation_args)) if v is not None}
    if data is not None and sample_cov is not None:
        raise OptionError("give either data or sample_cov, not both")
    if cluster is not None:
        se = "robust" if se == "robust.cluster" else se  # lavaan's name of the cluster-robust sandwich
        meanstructure = True if meanstructure is None else meanstructure  # lavaan: clustered data have means
    information_arg, se_arg = information, se  # two-level and clustered models have their own defaults
    family, estimator, miss, se, information, bootstrap = _resolve_options(estimator, missing, se, information,
                                                                           bootstrap, ordered, parameterization)
    family = family.with_likelihood(likelihood)
    meanstructure = family.default_meanstructure(meanstructure)
    if cluster is not None and sample_cov is not None:
        raise OptionError("cluster= needs the raw rows: it cannot be combined with sample_cov=")
    fixed_x = family.default_fixed_x if fixed_x is None else fixed_x  # lavaan: True for ML, False for LS
    if data is None:
        if sample_cov is None:
            return _noted(overridden, nodata_result)(model, sample_nobs, group_equal=group_equal, group_partial=group_partial,
                                 std_lv=std_lv, meanstructure=meanstructure, orthogonal=orthogonal)
        if sample_nobs is None:
            raise OptionError("sample_cov needs sample_nobs (the number of cases of each group)")
        if not family.supports_moments or family.robust or group is not None or se in ("robust", "bootstrap"):
            raise OptionError("fitting from sample moments supports ML with complete data only "
                              "(no group=: give lists of matrices, means and sizes)")
        with single_thread_blas():
            return _noted(overridden, _fit_moments)(model, sample_cov, sample_mean, sample_nobs, family=family,
                                information=information, std_lv=std_lv, fixed_x=fixed_x, orthogonal=orthogonal,
                                meanstructure=meanstructure, start=start, se=se, rescale=sample_cov_rescale, rotation=rot,
                                group_equal=group_equal, group_partial=group_partial)
    with single_thread_blas():
        return _noted(overridden, _fit)(model, data, family=family, estimator=estimator, miss=miss, group=group,
                    group_equal=group_equal, group_partial=group_partial, se=se, information=information,
                    bootstrap=bootstrap, seed=seed, std_lv=std_lv, fixed_x=fixed_x, orthogonal=orthogonal,
                    meanstructure=meanstructure, start=start, keep_missing_x=keeps_missing_covariates(missing),
                    cluster=cluster, information_arg=information_arg, se_arg=se_arg, rotation=rot)


def _noted(lines: list[str], step):
    """``step`` whose result carries ``lines`` (the options lavaan's sem() overrides) among its
    warnings and data notes."""
    if not lines:
        return step

    def run(*args, **kwargs):
        res = step(*args, **kwargs)
        res.warnings[:0] = lines
        if getattr(res, "notes", None) is not None:
            res.notes[:0] = lines
        return res
    return run


# ----------------------------------------------------------------------------- steps 1-2: table, data
@functools.lru_cache(maxsize=64)
def _cached_partable(syntax, observed, ngroups, group_labels, meanstructure, fixed_x, group_equal,
                     group_partial, std_lv, missing, ordered: tuple = (), parameterization: str = "delta",
                     orthogonal: bool = False):
    """build_partable, memoised: a parameter table is immutable and depends only on its
    arguments, so repeated fits of one model (bootstrap, Monte Carlo, benchmarks) parse
    the syntax and build the model structure once. ``ordered``: (item, number of
    thresholds) pairs of the ordered items, with their ``parameterization``."""
    from ..library.partable import build_partable

    extra = {"ordered": dict(ordered), "parameterization": parameterization} if ordered else {}
    return build_partable(syntax, observed=list(observed), ngroups=ngroups,
                          group_labels=list(group_labels) if group_labels else None,
                          meanstructure=meanstructure, fixed_x=fixed_x, group_equal=group_equal,
                          group_partial=group_partial, std_lv=std_lv, missing=missing, orthogonal=orthogonal,
                          **extra)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _moment_groups(cov, mean, nobs) -> tuple[list, list, list[int]]:
    """sample_cov/sample_mean/sample_nobs as one list per group, checked for equal lengths."""
    covs, nobs_l = _as_list(cov), [int(n) for n in np.ravel(np.asarray(nobs, dtype=object)).tolist()]
    means = _as_list(mean) if mean is not None else [None] * len(covs)
    if not (len(covs) == len(nobs_l) == len(means)):
        raise OptionError(f"sample_cov has {len(covs)} group(s), sample_mean {len(means)} and sample_nobs "
                          f"{len(nobs_l)}: give one per group")
    for c in covs:
        if not isinstance(c, pd.DataFrame):
            raise DataError("sample_cov must be a DataFrame (or a list of them, one per group) whose index and "
                            "columns name the variables")
    return covs, means, nobs_l


def _fit_moments(model, cov, mean, nobs, *, family, information, std_lv, fixed_x, meanstructure, start, se,
                 rescale="default", group_equal=(), group_partial=(), orthogonal=False, rotation=None):
    """lavaan's ``sample.cov``: per group the unbiased covariance matrix, rescaled by
    (N-1)/N unless ``rescale`` is False (``sample.cov.rescale``), means and N."""
    from ..library.partable import build_partable
    from .results import FitResult

    syntax = model_syntax(model)
    covs, means, nobs_l = _moment_groups(cov, mean, nobs)
    names = [str(c) for c in covs[0].columns]
    have_mean = means[0] is not None
    if meanstructure is None:  # as lavaan: sample.mean switches the mean structure on, groups alone do not
        meanstructure = have_mean
    G = len(covs)
    pt = build_partable(syntax, observed=names, ngroups=G, meanstructure=meanstructure, fixed_x=fixed_x,
                        std_lv=std_lv, group_equal=tuple(group_equal), group_partial=tuple(group_partial),
                        orthogonal=orthogonal)
    ov = list(pt.ov_names)
    if bool(pt.meanstructure) and not have_mean:
        raise OptionError("the model has a meanstructure: give sample_mean as well")
    do_rescale = getattr(family, "likelihood", "normal") != "wishart" if rescale == "default" else bool(rescale)
    samples = []
    for c, m, n in zip(covs, means, nobs_l):
        S = c.loc[ov, ov].to_numpy(dtype=float)
        if do_rescale:
            S = S * (n - 1.0) / n
        M = np.asarray(pd.Series(m).loc[ov], float) if m is not None else np.zeros(len(ov))
        samples.append(family.sample_from_moments(S, M, n))
    labels = [str(g) for g in range(1, G + 1)] if G > 1 else None
    se, information = se or "standard", information or "expected"
    return _fit_prepared(pt, samples, labels, family=family, se=se, information=information, bootstrap=0,
                         seed=None, start=start, syntax=syntax, data=None, group=None, options=dict(
                             estimator=family.estimator, missing=family.missing, group=None,
                             group_equal=list(group_equal), group_partial=list(group_partial), se=se,
                             information=information, std_lv=std_lv, fixed_x=fixed_x, moments=True, **(rotation or {})),
                         result_cls=FitResult)


def nodata_result(model, nobs, *, group_equal, group_partial, std_lv, meanstructure, orthogonal=False):
    """No data and no moments: the parameter table with lavaan's start values for a model
    without data (loadings and variances 1, everything else 0; fixed values as fixed),
    nothing estimated (lavaan: ``sem(model)`` or ``sem(model, sample.nobs=...)``)."""
    from ..library.partable import build_partable
    from .results import FitResult

    syntax = model_syntax(model)
    nobs_l = [int(n) for n in np.ravel(np.asarray(nobs, dtype=object)).tolist()] if nobs is not None else [0]
    G = len(nobs_l)
    pt = build_partable(syntax, ngroups=G, meanstructure=bool(meanstructure), fixed_x=False, std_lv=std_lv,
                        group_equal=tuple(group_equal), group_partial=tuple(group_partial), orthogonal=orthogonal)
    tab = pt.table[pt.table["op"].isin(["=~", "~", "~~", "~1"])].copy()
    free = tab["free"].to_numpy() > 0
    ones = ((tab["op"] == "=~") | ((tab["op"] == "~~") & (tab["lhs"] == tab["rhs"]))).to_numpy()
    est = np.where(free, np.where(ones, 1.0, 0.0), tab["ustart"].fillna(0.0).to_numpy(dtype=float))
    tab["est"] = est
    tab["se"] = np.where(free, np.nan, 0.0)
    for c in ("z", "pvalue", "ci_lower", "ci_upper", "std_lv", "std_all", "std_all_se"):
        tab[c] = np.nan
    npar = int(free.sum()) - int((pt.table["op"] == "==").sum())
    p = len(pt.ov_names)
    df = G * (p * (p + 1) // 2 + (p if pt.meanstructure else 0)) - npar
    msg = "no data: the parameter table with start values is returned; nothing was estimated"
    return FitResult(partable=pt, estimates=tab.reset_index(drop=True),
                     fit_indices=pd.Series({"npar": float(npar), "df": float(df)}), r2=[], converged=False,
                     warnings=[msg], theta=est[free], vcov=None, implied=[], sample=[], nobs=nobs_l,
                     group_labels=[f"Group{g}" for g in range(1, G + 1)] if G > 1 else None,
                     options=dict(estimator="ML", se="none", std_lv=std_lv, nodata=True), syntax=syntax,
                     notes=[msg])


def _fit(model, data, *, family, estimator, miss, group, group_equal, group_partial, se, information, bootstrap,
         seed, std_lv, fixed_x, meanstructure, start, keep_missing_x=False, cluster=None, information_arg=None,
         se_arg=None, orthogonal=False, rotation=None):
    from .results import FitResult

    syntax = model_syntax(model)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    # groups first: the parameter table needs their number
    ngroups, group_labels = 1, None
    if group is not None:
        levels = check_group_column(data, group)[1]
        ngroups, group_labels = len(levels), [str(v) for v in levels]
    build = functools.partial(
        _cached_partable, syntax, tuple(str(c) for c in data.columns), ngroups,
        tuple(group_labels) if group_labels else None, meanstructure, fixed_x, tuple(group_equal),
        tuple(group_partial), std_lv, miss, orthogonal=orthogonal,
    )
    pt = family.bind_table(build())
    options = dict(estimator=estimator, missing=miss, group=group, group_equal=list(group_equal),
                   group_partial=list(group_partial), se=se, information=information, std_lv=std_lv, fixed_x=fixed_x)
    options.update(getattr(family, "result_options", dict)())  # ordered items: ordered, parameterization
    options.update(rotation or {})  # efa() sets: rotation, rotation_args (engine/esem.py)
    if getattr(pt, "level_labels", None):  # level: blocks: two-level ML (estimators/twolevel.py)
        if keep_missing_x:
            raise OptionError("missing='ml.x' with level: blocks is not supported; use missing='ml'")
        return fit_twolevel(pt, data, cluster=cluster, family=family, se=se, information=information_arg,
                            options=options, syntax=syntax, start=start, estimates_table=_estimates_table,
                            result_cls=FitResult)
    if cluster is not None:  # single level: lavaan's cluster-robust inference (estimators/clustered.py)
        family, se, information = cluster_inference(family, se, se_arg, information, information_arg)
        options.update(se=se, information=information)
    ov = list(pt.ov_names)
    # missing="ml.x": rows with a missing covariate are kept (lavaan); "ml" drops them
    ov_x = list(getattr(pt, "ov_x", []) or []) if fixed_x and not keep_missing_x else []
    drops: dict = {}
    samples, labels = prepare(data, ov, group, family, ov_x, drops, cluster=cluster)
    pt = family.table_for(pt, samples, build)  # ordered items: the table with their thresholds
    return _fit_prepared(pt, samples, labels, family=family, se=se, information=information, bootstrap=bootstrap,
                         seed=seed, start=start, syntax=syntax, data=data, group=group, drops=drops,
                         options=dict(options, cluster=cluster), result_cls=FitResult)


# ----------------------------------------------------------------------------- steps 3-9: one fit
def _fit_prepared(pt, samples, labels, *, family, se, information, bootstrap, seed, start,
                  syntax, data, group, options, result_cls, drops: dict | None = None):
    N = sum(s.nobs for s in samples)
    dropped = dict((drops or {}).get("dropped", {}))
    n_read = int((drops or {}).get("n_read", N))
    # data notes: reported as warnings, but not estimation problems (FitResult.notes)
    notes = drop_warnings(dropped, group, (drops or {}).get("empty_rows"))
    family = family.for_samples(samples)
    comp = compile_model(pt, len(samples))
    model = comp.model_for(samples)
    ov = list(pt.ov_names)
    notes += scale_warnings(samples, comp.x_idx, ov)
    warnings = list(notes) + check_samples(samples, ov, labels, comp.npar)
    rot = rotation_for(pt, options, se)  # efa() sets: the rotation (engine/esem.py); None without
    if rot is not None and start is None:  # lavaan's start of efa sets: an ML extraction per set
        start = efa_start(pt, samples, family.start(comp, samples))
    sol, opt = _estimate(family, pt, comp, model, samples, start, warnings)
    vcov, ok = parameter_vcov(sol, se, information)
    if not ok and se != "none":
        warnings.append("the information matrix is singular: standard errors could not be computed "
                        "(the model may not be identified)")
    fm = _fit_measures(sol)
    notes += _diagnose(sol, vcov, labels, warnings)
    warnings += family.solution_warnings(sol, labels)  # e.g. ordered items' derived residual variances
    est_value = _estimates(sol, vcov, se=se, bootstrap=bootstrap, seed=seed, labels=labels, data=data,
                           group=group, options=options, syntax=syntax, warnings=warnings)
    r2_of = sol
    if rot is not None:  # efa() sets: the rotated estimates with bordered SEs (engine/esem.py)
        rotated, sol_rot = rotate_fit(sol, rot, se=se, information=information, warnings=warnings,
                                      estimates_table=_estimates_table)
        est_value, options, r2_of = rotated or est_value, dict(options, rotation=rot.method), sol_rot or sol
    theta, imp = sol.theta, sol.imp
    return result_cls(
        partable=pt, estimates=est_value, fit_indices=lambda: _fit_series(fm),
        r2=r_squared(r2_of.model, r2_of.theta, r2_of.imp),
        converged=bool(opt.converged), warnings=warnings, theta=theta, vcov=vcov,
        implied=lambda: [{"cov": _frame(i.sigma, ov), "mean": pd.Series(i.mu, index=ov)} for i in imp],
        sample=lambda: [{"cov": _frame(s.cov, ov), "mean": pd.Series(s.mean, index=ov), "nobs": s.nobs} for s in samples],
        nobs=[s.nobs for s in samples], group_labels=labels, options=options, syntax=syntax,
        iterations=opt.iterations, optimizer=opt.method, model=model, samples=samples, objective=sol.obj,
        reparam=comp.rep, n_read=n_read, dropped=dropped, notes=notes,
    )


# ----------------------------------------------------------------------------- steps 4-5: start, optimiser
def _estimate(family: EstimatorFamily, pt, comp: Compiled, model: RamModel, samples, start,
              warnings: list[str]):
    """Start values and the optimiser on the family's objective. Returns the
    :class:`~asymtrust.engine.estimators.base.Solution` and the optimiser's result."""
    obj = family.objective(model, samples)
    theta0 = start if start is not None else family.start(comp, samples)
    opt = optimise(obj, comp.rep, np.asarray(theta0, float))
    if comp.general is not None:  # nonlinear equalities, inequalities (engine/constraints.py)
        opt = comp.general.solve(obj, comp.rep, opt.theta, opt)
    if not opt.converged:
        warnings.append(f"the optimiser did not converge ({opt.method}: {opt.message}); estimates are not trustworthy")
    if opt.implied is not None:
        f, imp = opt.fmin, opt.implied
    else:
        f, _, imp = obj.evaluate(opt.theta)
    if not np.isfinite(f):
        raise EstimationError("the model-implied covariance matrix is not positive definite at the solution; "
                              "the model cannot be estimated on these data")
    return Solution(family=family, pt=pt, comp=comp, model=model, obj=obj, samples=samples, theta=opt.theta,
                    imp=imp, fmin=f), opt


# ----------------------------------------------------------------------------- step 7: test, fit measures
def _fit_measures(sol: Solution) -> dict[str, float]:
    """lavaan's ``fitMeasures``: the family's test, baseline, log-likelihood and robust
    indices, and the indices computed from them (:mod:`asymtrust.engine.indices`)."""
    family, comp = sol.family, sol.comp
    N, G, df, npar = sol.N, sol.G, sol.df, comp.npar
    chisq = family.test_statistic(sol.fmin, N)
    chisq = max(chisq, 0.0) if chisq > -1e-8 else chisq
    base = family.baseline(sol)
    fm = {"npar": float(npar), "fmin": sol.fmin, "chisq": chisq, "df": float(df),
          "pvalue": ix.chisq_pvalue(chisq, df)}
    fm.update(_baseline_measures(chisq, df, base.chisq, base.df))
    fm["logl"], fm["unrestricted_logl"] = family.loglik(sol)
    fm.update(ix.information_criteria(fm["logl"], npar, N))
    fm["ntotal"] = float(N)
    fm["nobs"] = float(N)
    fm.update(_rmsea_measures(chisq, df, N, G))
    ms = bool(sol.pt.meanstructure)
    fm.update(ix.srmr(sol.samples, sol.imp, ms))
    fm.update(ix.residual_family(sol.samples, sol.imp, ms, comp.ndat, df, comp.x_idx))
    fm.update(ix.misc_indices(chisq, df, N, npar))
    fm.update(family.robust_indices(sol, base, chisq))
    return fm


def _baseline_measures(chisq: float, df: float, chisq0: float, df0: float) -> dict[str, float]:
    fm = {"baseline_chisq": chisq0, "baseline_df": df0, "baseline_pvalue": ix.chisq_pvalue(chisq0, df0),
          "cfi": ix.cfi(chisq, df, chisq0, df0), "tli": ix.tli(chisq, df, chisq0, df0)}
    fm["nnfi"] = fm["tli"]
    fm.update(ix.other_incremental(chisq, df, chisq0, df0))
    return fm


def _rmsea_measures(chisq: float, df: float, N: int, G: int) -> dict[str, float]:
    fm = {"rmsea": ix.rmsea(chisq, df, N, G)}
    fm["rmsea_ci_lower"], fm["rmsea_ci_upper"] = ix.rmsea_ci(chisq, df, N, G)
    fm["rmsea_pvalue"] = ix.rmsea_pvalue(chisq, df, N, G)
    fm["rmsea_notclose_pvalue"] = ix.rmsea_notclose_pvalue(chisq, df, N, G)
    fm["rmsea_ci_level"] = 0.90
    fm["rmsea_close_h0"] = 0.05
    fm["rmsea_notclose_h0"] = 0.08
    return fm


# ----------------------------------------------------------------------------- step 8: diagnostics
def _diagnose(sol: Solution, vcov, labels, warnings: list[str]) -> list[str]:
    """Improper solutions, ``:=`` values that are not finite and huge standard errors,
    appended to ``warnings``; returns the data notes among them (the ``:=`` values)."""
    comp, model, theta = sol.comp, sol.model, sol.theta
    _check_improper(comp, model, theta, sol.imp, warnings, labels)
    notes = []
    if getattr(comp.pt, "defined", None):
        notes = definition_warnings(comp, model, theta)
        warnings += notes
    if vcov is not None:
        se_free = np.sqrt(np.clip(np.diag(vcov), 0, None))
        big = np.flatnonzero(se_free > 10.0 * np.maximum(1.0, np.abs(theta)))
        for i in big[:3]:
            lhs, op, rhs = comp.free_rows[i]
            warnings.append(f"huge standard error for {lhs} {op} {rhs} (SE {se_free[i]:.3g}); "
                            "the parameter may not be identified")
    return notes


def _check_improper(comp: Compiled, model, theta, imp, warnings: list[str], labels) -> None:
    """Heywood cases, non-positive-definite latent covariances, impossible correlations."""
    def where(g):
        return f" in group {labels[g - 1]!r}" if labels else ""

    if comp.var_free:
        ks = comp.__dict__.get("_var_free_k")
        if ks is None:
            ks = comp.__dict__["_var_free_k"] = np.array([k for k, _, _ in comp.var_free], int)
        for n in np.flatnonzero(theta[ks] < 0):
            k, lhs, g = comp.var_free[n]
            warnings.append(f"Heywood case: negative variance estimate for {lhs} ({theta[k]:.4g}){where(g)}")
    struct = comp.struct
    off = comp.offdiag
    cor = comp.stdz.correlations(imp, off)
    for k, c in zip(off, cor):
        if np.isfinite(c) and abs(c) > 1.0 + 1e-8:
            r = struct.iloc[k]
            warnings.append(f"improper solution: correlation {r.lhs} ~~ {r.rhs} is {c:.3f} (|r| > 1){where(int(r.group))}")
    if model.lv_names:
        idx = np.array([model.node_index[v] for v in model.lv_names])
        for g, gi in enumerate(imp, start=1):
            Psi = gi.C[idx[:, None], idx]
            L, info = potrf(Psi, lower=True, clean=False)
            if info == 0 and np.diag(L).min() ** 2 > 1e-8 * np.diag(Psi).max():
                continue  # clearly positive definite: no eigen-decomposition needed
            w = np.linalg.eigvalsh((Psi + Psi.T) / 2)
            if w.min() <= 1e-10 * max(1.0, abs(w.max())):
                warnings.append(f"the covariance matrix of the latent variables is not positive definite{where(g)} (smallest eigenvalue {w.min():.3g})")
    for g, gi in enumerate(imp, start=1):
        if gi.sigma_inv is not None:
            continue  # the ML objective's Cholesky factorization already succeeded
        if np.linalg.eigvalsh(gi.sigma).min() <= 0:
            warnings.append(f"the model-implied covariance matrix is not positive definite{where(g)}")


# ----------------------------------------------------------------------------- step 9: result
def _estimates(sol: Solution, vcov, *, se, bootstrap, seed, labels, data, group, options, syntax, warnings):
    """The estimates table: built on first access (a callable), except with bootstrap
    SEs, which run now so that failed replicates are among the warnings."""
    comp, model, theta, imp = sol.comp, sol.model, sol.theta, sol.imp

    def estimates():
        est = sol.family.finish_estimates(_estimates_table(comp, model, theta, imp, vcov), sol, vcov)
        if bootstrap and se == "bootstrap":
            from .resample import bootstrap_se

            est = bootstrap_se(est, sol.pt, sol.samples, labels, comp.rep, theta, options["missing"], B=bootstrap,
                               seed=seed, syntax=syntax, data=data, group=group, options=options)
        return est

    if se != "bootstrap":
        return estimates
    est_value = estimates()
    info = est_value.attrs.get("bootstrap", {}) if isinstance(est_value, pd.DataFrame) else {}
    n_failed = int(info.get("n_failed", 0) or 0)
    if n_failed:
        warnings.append(f"{n_failed} of {bootstrap} bootstrap replicates did not converge; "
                        "bootstrap SEs and CIs use the converged replicates only")
    return est_value


def _estimates_table(comp: Compiled, model: RamModel, theta, imp, vcov) -> pd.DataFrame:
    """lavaan's parameterEstimates() with the standardized solution, built as numpy
    columns and turned into one DataFrame at the end (column-by-column assignment into a
    DataFrame costs more than the arithmetic at these sizes)."""
    tab = comp.pt.table
    struct = comp.struct
    free = struct["free"].to_numpy()
    est = struct_values(comp, model, theta)
    se = np.full(len(struct), np.nan)
    if vcov is not None:
        m = free > 0
        var = np.diag(vcov)[free[m] - 1]
        se[m] = np.where(var == 0.0, np.nan, np.sqrt(np.clip(var, 0, None)))  # 0: pinned by constraints (NA)
        se[~m] = 0.0
    stdz = comp.stdz
    std_lv = np.asarray(stdz.values(imp, "std_lv"), float)
    std_all = np.asarray(stdz.values(imp, "std_all"), float)
    J_all = stdz.jacobian(imp, "std_all")
    std_all_se = (np.sqrt(np.clip(np.sum((J_all @ vcov) * J_all, axis=1), 0, None)) if vcov is not None
                  else np.full(len(struct), np.nan))
    names = ["lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue", "ci_lower", "ci_upper",
             "std_lv", "std_all", "std_all_se", "free", "user", "exo", "plabel"]
    # only the columns kept, as pandas arrays (no round trip of the string columns through numpy)
    final: dict[str, Any] = {c: struct[c].array for c in names if c in struct.columns}
    final.update(est=est, se=se, std_lv=std_lv, std_all=std_all, std_all_se=std_all_se)
    is_def = tab["op"].to_numpy() == ":="
    if is_def.any():
        defs = tab[is_def]
        out = pd.concat([pd.DataFrame(final), defined_rows(comp, defs, est, std_lv, std_all, vcov, J_all)],
                        ignore_index=True)
        final = {c: out[c].array for c in names if c in out.columns}
    e, s_ = np.asarray(final["est"], dtype=float), np.asarray(final["se"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = e / s_
    z[(s_ == 0) | np.isnan(s_)] = np.nan
    zc = 1.959963984540054
    final.update(group=np.asarray(final["group"]).astype(int), z=z, pvalue=2.0 * special.ndtr(-np.abs(z)),
                 ci_lower=e - zc * s_, ci_upper=e + zc * s_)
    return pd.DataFrame({c: final[c] for c in names})


def _frame(M, names):
    return pd.DataFrame(M, index=list(names), columns=list(names))


@functools.lru_cache(maxsize=32)
def _index(keys: tuple) -> pd.Index:
    return pd.Index(keys)


def _fit_series(fm: dict) -> pd.Series:
    """The fit measures as a float Series (the index is cached: the names are the same
    for every fit with the same options)."""
    return pd.Series(np.fromiter(fm.values(), float, len(fm)), index=_index(tuple(fm)))

