"""Light refits of a fitted model on new data (the engine's resampling service).

Bootstrap (:mod:`asymtrust.engine.resample`), Monte Carlo and permutation loops call
:func:`refit` (a data frame) or :func:`refit_arrays` (raw per-group matrices, the fast
path): the parameter table, constraint structure and free-parameter order of the
original fit are reused, the estimator family is the original one
(:func:`asymtrust.engine.estimators.choose` from the fit's options), and the optimiser
starts at the original estimates with the original fit's Fisher metric. Only estimates
come back (no SEs, no fit indices).

Imports the data, compile and estimator steps, never :mod:`asymtrust.engine.fit`, so
that ``fit(se="bootstrap")`` can use the resampling service without an import cycle.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._threads import single_thread_blas
from .compile import compile_model
from .data import array_blocks, check_moments, prepare_blocks
from .estimate import optimise
from ..exceptions import DataError
from .estimators import choose
from .estimators.dwls import choose_ordinal


@dataclass
class Refit:
    """A light refit (bootstrap, Monte Carlo): estimates only, no SEs or fit indices."""

    theta: np.ndarray
    converged: bool
    fmin: float
    nobs: list


def family_for(result):
    """The estimator family that refits ``result`` (ordered items: its bound ordinal family)."""
    opts = result.options
    if opts.get("ordered"):
        return _ordinal_family(result)
    return choose(opts.get("estimator", "ML"), opts.get("missing", "listwise"))


def _ordinal_family(result):
    """The fit's ordinal family bound to its table (kept on the result: bound once)."""
    fam = getattr(result, "_ordinal_refit_family", None)
    if fam is None:
        opts = result.options
        fam = choose_ordinal(opts.get("estimator"), opts.get("missing", "listwise"), list(opts["ordered"]),
                             opts.get("parameterization", "delta"))
        fam.bind_table(result.partable)  # the items, covariates and weights fit() used
        try:
            object.__setattr__(result, "_ordinal_refit_family", fam)
        except (AttributeError, TypeError):  # pragma: no cover - read-only namespace
            pass
    return fam


def _check_categories(pt, samples) -> None:
    """New rows of ordered items must have every category the fit has thresholds for (a
    resample without one: lavaan fails the replicate); else the first stage has fewer
    thresholds than the table."""
    tab = pt.table
    th = tab[tab["op"] == "|"]
    for g, s in enumerate(samples, start=1):
        want = Counter(th.loc[th["group"] == g, "lhs"])
        have = Counter(n.split("|")[0] for n in s.first.th_names if "|" in n)
        for item, k in want.items():
            if have[item] != k:
                where = f" in group {g}" if len(samples) > 1 else ""
                raise DataError(f"ordered item {item!r} lacks a category{where} in these rows "
                                f"({have[item] + 1} of {k + 1}): its thresholds cannot be estimated")


def _fixed_x(result) -> list[str]:
    pt = result.partable
    return list(getattr(pt, "ov_x", []) or []) if result.options.get("fixed_x", True) else []


def refit(result, data: pd.DataFrame, *, start: np.ndarray | None = None) -> Refit:
    """Re-estimate ``result``'s model on new data (same syntax, options and groups).

    The parameter table, constraint structure and free-parameter order are reused, and
    the optimiser starts from ``start`` (default: ``result.theta``, a warm start), so a
    bootstrap or Monte Carlo replicate costs a handful of iterations. Group levels are
    matched by label to ``result.group_labels``. Non-convergence is reported in
    ``Refit.converged`` (never raised), so callers can count failed replicates.
    """
    ov = list(result.partable.ov_names)
    ov_x = _fixed_x(result)
    family = family_for(result)
    group = result.options.get("group")
    if group is not None and result.group_labels:
        lab = data[group].astype(str)
        blocks = []
        for g in result.group_labels:
            blocks += prepare_blocks(data[lab == g], ov, None, family, ov_x)[0]
    else:
        blocks = prepare_blocks(data, ov, None, family, ov_x)[0]
    samples = family.sample_stats(blocks)
    check_moments(samples, ov)
    if result.options.get("ordered"):
        _check_categories(result.partable, samples)
    return _refit_samples(result, samples, start, family)


def refit_arrays(result, arrays: Sequence[np.ndarray], *, start: np.ndarray | None = None) -> Refit:
    """:func:`refit` on raw matrices: one (n_g x p) array per group, columns in
    ``result.partable.ov_names`` order, NaN for missing. The fast path for resampling
    (no DataFrame is built)."""
    pt = result.partable
    ov = list(pt.ov_names)
    xpos = [ov.index(x) for x in _fixed_x(result)]
    family = family_for(result)
    samples = family.sample_stats(array_blocks(arrays, family, xpos))
    if result.options.get("ordered"):
        _check_categories(pt, samples)
    return _refit_samples(result, samples, start, family)


def _scoring_metric(result, family, model, samples) -> np.ndarray:
    """The original fit's Fisher metric in z coordinates, computed once and kept on the
    result: every replicate reuses it (chord steps need no information per iteration)."""
    info0 = getattr(result, "_scoring_info", None)
    if info0 is None:
        base_obj = family.objective(model, list(getattr(result, "samples", None) or samples))
        theta = np.asarray(result.theta, float)
        # ordered items: the implied statistics as the objective forms them (delta rule, thresholds)
        imp = base_obj.evaluate(theta, need_grad=False)[2] if result.options.get("ordered") else model.implied(theta)
        info0 = result.reparam.hess(base_obj.scoring_information(imp))
        try:
            object.__setattr__(result, "_scoring_info", info0)
        except (AttributeError, TypeError):  # pragma: no cover - read-only namespace
            pass
    return info0


def _refit_samples(result, samples, start, family) -> Refit:
    pt = result.partable
    family = family.for_samples(samples)
    comp = compile_model(pt, len(samples))
    model = comp.model_for(samples)
    obj = family.objective(model, samples)
    th0 = result.theta if start is None else start
    try:
        with single_thread_blas():
            info0 = _scoring_metric(result, family, model, samples)
            opt = optimise(obj, result.reparam, np.asarray(th0, float), gtol=1e-7, info0=info0)
            if comp.general is not None:  # nonlinear equalities, inequalities
                opt = comp.general.solve(obj, result.reparam, opt.theta, opt)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        return Refit(np.full(len(th0), np.nan), False, float("nan"), [s.nobs for s in samples])
    return Refit(opt.theta, bool(opt.converged), float(opt.fmin), [s.nobs for s in samples])
