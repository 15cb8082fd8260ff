"""Indirect, direct and total effects of a fitted model (pipeline step: fit -> effects).

The effects are derived from the structural (``~``) paths of the parameter table, so a
user writes no ``:=`` lines. In each group:

* a *source* is a variable with structural paths out of it and none into it (an
  asymmetry in Fig. 1); an *outcome* has paths into it and none out of it; the others
  are *mediators* (the trust dimensions);
* every directed chain source -> mediator(s) -> outcome is a *specific indirect effect*,
  the product of its path coefficients;
* per (source, outcome) pair with at least one such chain: the *total indirect* effect
  (sum of the chains), the *direct* effect when the source -> outcome path is in the
  model, and the *total* effect (total indirect + direct).

Loadings never enter: only ``~`` rows are paths. Standard errors come from the delta
method (numerical Jacobian with respect to the free parameters times ``fit.vcov``, as
lavaan does for ``:=``); confidence intervals from the delta method or from a
nonparametric bootstrap (percentile and bias-corrected; by whole clusters for a fit with
``cluster=``), run on
:mod:`asymtrust.engine.resample` so that results are reproducible by seed whatever the number
of workers.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from .provenance import ResultTable, data_usage, fit_problems, result_table
from ..exceptions import OptionError, SpecError
from ..engine.resample import (
    _planned_workers,
    bc_ci,
    bootstrap_draws,
    bootstrap_memory,
    check_memory,
    check_replicates,
    percentile_ci,
)

COLUMNS = ["effect", "path", "est", "se", "ci_lower", "ci_upper", "std_all", "method",
           "group", "group_label", "source", "target", "z", "pvalue", "std_all_se",
           "boot_se", "n_boot", "n_boot_failed"]
CI_METHODS = ("delta", "percentile", "bc")
KINDS = ("indirect", "total_indirect", "direct", "total")

__all__ = ["EffectDefinition", "effect_definitions", "effects"]


@dataclass(frozen=True)
class EffectDefinition:
    """One effect of one group: a sum over chains of products of path coefficients.

    Attributes
    ----------
    kind : {"indirect", "total_indirect", "direct", "total"}
    source, target : str
    group : int
        1-based group number.
    chains : tuple of tuple of str
        Each chain lists its nodes, ``("CapImb", "GoodTrust", "PlanBudg")``.
    """

    kind: str
    source: str
    target: str
    group: int
    chains: tuple[tuple[str, ...], ...]

    @property
    def path(self) -> str:
        """``"CapImb -> GoodTrust -> PlanBudg"`` for a specific indirect effect, otherwise
        ``"source -> target"``."""
        if self.kind == "indirect":
            return " -> ".join(self.chains[0])
        return f"{self.source} -> {self.target}"


def _structural_edges(partable: Any, group: int) -> list[tuple[str, str]]:
    tab = partable.table
    rows = tab[(tab["op"] == "~") & (tab["group"] == group)]
    return [(str(r.rhs), str(r.lhs)) for r in rows.itertuples(index=False)]


def _chains(edges: list[tuple[str, str]], source: str, target: str) -> list[tuple[str, ...]]:
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    out: list[tuple[str, ...]] = []

    def walk(node: str, trail: tuple[str, ...]) -> None:
        if node == target:
            out.append(trail)
            return
        for nxt in succ.get(node, []):
            if nxt not in trail:
                walk(nxt, trail + (nxt,))

    walk(source, (source,))
    return out


def _check_acyclic(edges: list[tuple[str, str]]) -> None:
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in succ.get(node, []):
            if state.get(nxt) == 1:
                loop = stack[stack.index(nxt):] + [node, nxt] if nxt in stack else [node, nxt]
                raise SpecError(f"the structural model has a feedback loop ({' -> '.join(dict.fromkeys(loop))} -> {nxt}); "
                                "effects() needs a recursive model")
            if state.get(nxt) is None:
                visit(nxt, stack + [node])
        state[node] = 2

    for a, _ in edges:
        if state.get(a) is None:
            visit(a, [])


def effect_definitions(partable: Any) -> list[EffectDefinition]:
    """Every indirect, total-indirect, direct and total effect implied by the ``~`` paths.

    Parameters
    ----------
    partable : ParTable
        The parameter table of a model (``FitResult.partable``).

    Returns
    -------
    list of EffectDefinition
        Grouped by group, then source (in order of appearance), then outcome; within a
        pair: the specific indirect effects, total indirect, direct (if present), total.

    Raises
    ------
    SpecError
        The structural model has a feedback loop, or no chain with a mediator.
    """
    out: list[EffectDefinition] = []
    ngroups = int(getattr(partable, "ngroups", 1) or 1)
    for g in range(1, ngroups + 1):
        edges = _structural_edges(partable, g)
        if not edges:
            continue
        _check_acyclic(edges)
        nodes = list(dict.fromkeys([n for e in edges for n in e]))
        has_in = {b for _, b in edges}
        has_out = {a for a, _ in edges}
        sources = [n for n in nodes if n in has_out and n not in has_in]
        outcomes = [n for n in nodes if n in has_in and n not in has_out]
        for s in sources:
            for o in outcomes:
                chains = _chains(edges, s, o)
                ind = [c for c in chains if len(c) > 2]
                if not ind:
                    continue
                direct = [c for c in chains if len(c) == 2]
                out.extend(EffectDefinition("indirect", s, o, g, (c,)) for c in ind)
                out.append(EffectDefinition("total_indirect", s, o, g, tuple(ind)))
                if direct:
                    out.append(EffectDefinition("direct", s, o, g, tuple(direct)))
                out.append(EffectDefinition("total", s, o, g, tuple(ind + direct)))
    if not out:
        raise SpecError("the model has no indirect effects: no chain of '~' paths runs from an exogenous "
                        "variable through a mediator to an outcome")
    return out


class _Evaluator:
    """theta -> effect values (raw metric), and the standardized (std.all) values."""

    def __init__(self, model: Any, defs: list[EffectDefinition]):
        self.model = model
        self.defs = defs
        idx = model.node_index
        nv = model.nvar
        self.groups = np.array([d.group - 1 for d in defs], int)
        self.src = np.array([idx[d.source] for d in defs], int)
        self.tgt = np.array([idx[d.target] for d in defs], int)
        # every chain as flat positions into the stacked A matrices of all groups, padded
        # with a position that always holds 1; chain products are summed into effects
        chains = [(k, [(d.group - 1) * nv * nv + idx[c[i + 1]] * nv + idx[c[i]] for i in range(len(c) - 1)])
                  for k, d in enumerate(defs) for c in d.chains]
        self._one = model.ngroups * nv * nv
        width = max(len(pos) for _, pos in chains)
        self._pos = np.array([pos + [self._one] * (width - len(pos)) for _, pos in chains], int)
        self._owner = np.array([k for k, _ in chains], int)

    def values(self, theta: np.ndarray) -> np.ndarray:
        flat = np.concatenate([self.model.matrices(theta, g)[0].ravel() for g in range(self.model.ngroups)] + [[1.0]])
        prods = flat[self._pos].prod(axis=1)
        return np.bincount(self._owner, weights=prods, minlength=len(self.defs))

    def std_all(self, theta: np.ndarray) -> np.ndarray:
        imp = self.model.implied(theta)
        sd = [np.sqrt(np.clip(np.diag(i.C), 0, None)) for i in imp]
        scale = np.array([sd[g][s] / sd[g][t] if sd[g][t] > 0 else np.nan
                          for g, s, t in zip(self.groups, self.src, self.tgt)])
        return self.values(theta) * scale


def _jacobian(f, theta: np.ndarray, m: int) -> np.ndarray:
    """Central-difference Jacobian (m x K) of ``f`` at ``theta``."""
    K = theta.size
    J = np.zeros((m, K))
    for k in range(K):
        h = 1e-6 * max(1.0, abs(theta[k]))
        e = np.zeros(K)
        e[k] = h
        J[:, k] = (f(theta + e) - f(theta - e)) / (2.0 * h)
    return J


def _delta_se(J: np.ndarray, vcov: np.ndarray | None) -> np.ndarray:
    if vcov is None:
        return np.full(J.shape[0], np.nan)
    return np.sqrt(np.clip(np.einsum("ik,kl,il->i", J, vcov, J), 0, None))


def _check_level(ci_level: Any) -> float:
    try:
        lvl = float(ci_level)
    except (TypeError, ValueError):
        raise OptionError(f"ci_level must be a number between 0 and 1, not {ci_level!r}") from None
    if not 0.0 < lvl < 1.0:
        raise OptionError(f"ci_level must be between 0 and 1 (e.g. 0.95), not {ci_level!r}")
    return lvl


def effects(fit_result: Any, *, bootstrap: int = 1000, seed: int | None = None, n_jobs: int = 1,
            backend: str = "loky", scheduler: Any = None, progress: bool = False,
            ci_level: float = 0.95, ci_method: str | Sequence[str] | None = None,
            data: pd.DataFrame | None = None) -> ResultTable:
    """Indirect, direct and total effects of every asymmetry -> trust -> outcome chain.

    Parameters
    ----------
    fit_result : FitResult
        A fitted model (:func:`asymtrust.fit`). Effects are derived from its ``~`` paths.
    bootstrap : int
        Bootstrap replicates for the CIs (default 1000). ``0``: delta-method (Wald) CIs
        only. Cases are resampled within groups and each replicate is re-estimated with
        a warm start (:func:`asymtrust.engine.resample.bootstrap_draws`). A fit with
        ``cluster=`` is resampled by whole clusters (all rows of each drawn cluster, the
        clusters drawn with replacement within groups, each draw a new cluster;
        :func:`asymtrust.engine.resample.draw_clusters`), and ``attrs["bootstrap"]["cluster"]``
        names the cluster column. A two-level fit is refused.
    seed : int, optional
        Root seed of the bootstrap; the same seed gives identical output whatever
        ``n_jobs`` and ``backend``.
    n_jobs, backend, scheduler, progress
        Parallel execution, as :func:`asymtrust.engine.resample.run_replicates` (``backend="dask"``
        with ``scheduler`` an address or ``Client`` runs on a Dask cluster).
    ci_level : float
        Confidence level of all intervals.
    ci_method : str or sequence of str, optional
        Which intervals to return, one block of rows per method: ``"delta"`` (Wald,
        ``est +- z * se``), ``"percentile"`` and ``"bc"`` (bias-corrected percentile, lavaan's
        ``"bca.simple"``). Default: ``("percentile", "bc")`` with a bootstrap,
        ``("delta",)`` without.
    data : DataFrame, optional
        The data the model was fitted to; only needed for the bootstrap when the fit
        keeps no case-level rows.

    Returns
    -------
    ResultTable
        A :class:`pandas.DataFrame` (:class:`asymtrust.analysis.compare.ResultTable`) with one row
        per effect and CI method. ``.warnings`` carries the fit's problems (Heywood
        cases, non-convergence, ...; prefixed ``fit:``) and failed bootstrap replicates
        (``bootstrap:``); ``.data_usage`` the rows read, used and dropped; ``str()``
        and ``to_dict()`` show both. Columns:

        ``effect``
            ``"indirect"`` (one chain), ``"total_indirect"``, ``"direct"`` or ``"total"``;
        ``path``
            ``"CapImb -> GoodTrust -> PlanBudg"`` (indirect) or ``"CapImb -> PlanBudg"``;
        ``est``, ``se``
            estimate and delta-method SE (same in every method's rows);
        ``ci_lower``, ``ci_upper``
            limits of the interval named in ``method``;
        ``std_all``
            the effect in the standardized metric, ``est * sd(source) / sd(target)``
            with model-implied SDs (lavaan's ``std.all`` of the ``:=`` row);
        ``method``
            ``"delta"``, ``"percentile"`` or ``"bc"``;

        plus ``group`` (1-based), ``group_label``, ``source``, ``target``, ``z`` and
        ``pvalue`` (delta method), ``std_all_se`` (delta method), ``boot_se`` (SD of
        the bootstrap values, divisor B - 1), ``n_boot`` (successful replicates) and
        ``n_boot_failed`` (replicates that failed or did not converge; they are left
        out of the intervals, and counted here and in ``attrs["bootstrap"]``).

    Raises
    ------
    SpecError
        The model has no chain with a mediator, or a feedback loop.
    OptionError
        ``bootstrap < 0``, a bad ``ci_level`` or ``ci_method``, or a bootstrap whose
        stored replicates would not fit in memory (checked before it starts).
    ResourceLimitError
        ``bootstrap`` above ``ASYMTRUST_MAX_REPLICATES``.

    Examples
    --------
    >>> import asymtrust
    >>> from asymtrust.analysis.effects import effects
    >>> pd_model = '''ind60 =~ x1 + x2 + x3
    ...   dem60 =~ y1 + y2 + y3 + y4
    ...   dem65 =~ y5 + y6 + y7 + y8
    ...   dem60 ~ ind60
    ...   dem65 ~ ind60 + dem60'''
    >>> fit = asymtrust.fit(pd_model, asymtrust.load_dataset("poldem"))
    >>> eff = effects(fit, bootstrap=0)
    >>> eff[["effect", "path"]].values.tolist()[0]
    ['indirect', 'ind60 -> dem60 -> dem65']

    In R: label the paths and write ``ind := a*b; total := c + a*b`` in the lavaan model.
    """
    if getattr(fit_result, "model", None) is None or getattr(fit_result, "theta", None) is None:
        raise OptionError("effects() needs a FitResult from asymtrust.fit()")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)):
        raise OptionError(f"bootstrap must be a whole number of replicates (0 for none), not {bootstrap!r}")
    bootstrap = int(bootstrap)
    if bootstrap < 0:
        raise OptionError(f"bootstrap must be 0 (delta method only) or a positive number of replicates, not {bootstrap}")
    if bootstrap > 0:
        check_replicates(bootstrap, name="bootstrap")
    level = _check_level(ci_level)
    if ci_method is None:
        methods: tuple[str, ...] = ("percentile", "bc") if bootstrap else ("delta",)
    else:
        methods = (ci_method,) if isinstance(ci_method, str) else tuple(ci_method)
        bad = [m for m in methods if m not in CI_METHODS]
        if bad or not methods:
            raise OptionError(f"ci_method must be among {', '.join(CI_METHODS)}, not {bad[0] if bad else ci_method!r}")
        if not bootstrap and any(m != "delta" for m in methods):
            raise OptionError("ci_method 'percentile' and 'bc' need bootstrap > 0")

    model = fit_result.model
    theta = np.asarray(fit_result.theta, float)
    defs = effect_definitions(fit_result.partable)
    if bootstrap:
        p = len(getattr(fit_result.partable, "ov_names", []) or [])
        check_memory(bootstrap_memory(bootstrap, theta.size, n_extra=len(defs), n_rows=max(fit_result.nobs or [0]),
                                      n_vars=p, workers=_planned_workers(n_jobs)),
                     option="bootstrap", value=bootstrap)
    ev = _Evaluator(model, defs)
    est = ev.values(theta)
    vcov = getattr(fit_result, "vcov", None)
    se = _delta_se(_jacobian(ev.values, theta, len(defs)), vcov)
    std = ev.std_all(theta)
    std_se = _delta_se(_jacobian(ev.std_all, theta, len(defs)), vcov) if vcov is not None else np.full(len(defs), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    z[~(se > 0)] = np.nan
    pval = 2.0 * special.ndtr(-np.abs(z))

    boot_vals = None
    n_ok = n_failed = 0
    if bootstrap:
        draws = bootstrap_draws(fit_result, bootstrap, seed=seed, n_jobs=n_jobs, backend=backend,
                                scheduler=scheduler, progress=progress, data=data)
        n_ok, n_failed = draws.n_ok, draws.n_failed
        boot_vals = np.vstack([ev.values(t) for t in draws.ok]) if n_ok else np.empty((0, len(defs)))
    boot_se = (boot_vals.std(axis=0, ddof=1) if boot_vals is not None and boot_vals.shape[0] >= 2
               else np.full(len(defs), np.nan))

    labels = list(fit_result.group_labels) if getattr(fit_result, "group_labels", None) else None
    base = pd.DataFrame({
        "effect": [d.kind for d in defs],
        "path": [d.path for d in defs],
        "est": est,
        "se": se,
        "std_all": std,
        "group": [d.group for d in defs],
        "group_label": [labels[d.group - 1] if labels else None for d in defs],
        "source": [d.source for d in defs],
        "target": [d.target for d in defs],
        "z": z,
        "pvalue": pval,
        "std_all_se": std_se,
        "boot_se": boot_se,
        "n_boot": n_ok,
        "n_boot_failed": n_failed,
    })
    frames = []
    zc = special.ndtri(0.5 + level / 2.0)
    for m in methods:
        f = base.copy()
        f["method"] = m
        if m == "delta":
            f["ci_lower"] = est - zc * se
            f["ci_upper"] = est + zc * se
        else:
            lims = np.full((len(defs), 2), np.nan)
            if boot_vals is not None and boot_vals.shape[0] >= 2:
                for k in range(len(defs)):
                    lims[k] = (percentile_ci(boot_vals[:, k], level) if m == "percentile"
                               else bc_ci(boot_vals[:, k], est[k], level))
            f["ci_lower"], f["ci_upper"] = lims[:, 0], lims[:, 1]
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)[COLUMNS]
    out.attrs["bootstrap"] = {"B": bootstrap, "n_ok": n_ok, "n_failed": n_failed, "seed": seed,
                              "ci_level": level}
    cluster = (getattr(fit_result, "options", None) or {}).get("cluster")
    if bootstrap and cluster is not None:  # whole clusters were resampled
        out.attrs["bootstrap"]["cluster"] = cluster
    problems = fit_problems(fit_result, "fit")
    if bootstrap and n_failed:
        import warnings

        msg = (f"{n_failed} of {bootstrap} bootstrap replicates failed or did not converge; "
               f"the intervals use the other {n_ok}")
        problems.append(f"bootstrap: {msg}")
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return result_table(out, kind="effects", warnings=problems, data=[data_usage(fit_result, "", data)],
                        title=f"Indirect, direct and total effects ({', '.join(methods)} intervals)")
