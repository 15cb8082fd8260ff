"""Monte Carlo power analysis (pipeline step: simulate -> fit -> power).

For each candidate sample size N, ``reps`` data sets are drawn from a population
model, the analysis model is fitted to each, and for every structural path and every
specific indirect effect the replicates give

* **power**: the share of converged replicates whose Wald test rejects
  ``H0: parameter = 0`` at ``alpha`` (two-sided z test of the unstandardized estimate;
  for an indirect effect ``a * b * ...`` the delta-method SE, i.e. the Sobel test);
* **convergence**: the share of replicates whose estimation converged with an
  invertible information matrix (the others are left out of every other column);
* **bias**: mean estimate minus population value, in the **standardized** (``std_all``)
  metric. The simulated data are 7-point Likert items whose latent metric is fixed
  by a marker loading, so the unstandardized population values are not defined on the
  scale of the fitted model; the population values of a spec *are* standardized
  coefficients (``specs/README.md``), and ``std_all`` estimates are compared with
  them (the standardized indirect effect is the product of the standardized paths);
* **coverage**: the share of ``1 - alpha`` Wald intervals of the standardized
  estimate (``std_all +- z * std_all_se``, 95% by default) that contain the population
  value;
* **mean_se** vs **sd_est**: the average standardized SE beside the Monte Carlo SD of
  the standardized estimates (equal when the SEs are right).

Each replicate is a warm-started refit: the model is first fitted to one large sample
(``base_n`` respondents) from the same population, and every replicate starts the
optimiser at that solution and reuses the compiled model. Replicates run on
:mod:`asymtrust.engine.resample` (joblib or Dask), every replicate with its own random
stream spawned from ``seed``, so the table is identical for any ``n_jobs`` and backend.
Within one replicate the data for the different N come from independent child
streams of the replicate's stream.

Public entry points: :func:`power` (a bundled spec and its population values) and
:func:`simulate_power` (any model with a user-supplied data generator). Planning in
clusters (partnerships x respondents, :func:`cluster_power`, ``power(spec, clusters=...)``)
draws two-level data with :func:`asymtrust.simulate` and uses cluster-robust MLR SEs.
Ordinal designs (``power(spec, n, ordered=True, thresholds=...)``) cut each item's latent
response at the design's thresholds and fit every replicate with WLSMV
(:class:`_OrdinalEstimator`, lavaan's ``sem(model, data, ordered = items)``).

In R the same design is ``simsem::sim(nRep, model, n, generate = popModel)`` with
``lavaan`` fits; power is ``getPower()``.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import re
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..exceptions import (
    AsymtrustError,
    EstimationError,
    InsufficientDataError,
    OptionError,
    SpecError,
)
from ..engine.resample import (
    _REPLICATE_OVERHEAD,
    _planned_workers,
    check_memory,
    check_replicates,
    replicate_seeds,
    run_replicates,
)

__all__ = ["PowerTarget", "SpecGenerator", "DyadGenerator", "ClusterGenerator", "population_targets", "power",
           "simulate_power", "apim_power", "cluster_power"]

#: Respondents in the large sample whose fit gives the warm start of every replicate.
DEFAULT_BASE_N = 5000
ESTIMATORS = ("ML", "MLR")
TARGET_POWER = 0.80
_COLUMNS = ["n", "parameter", "kind", "population", "power", "convergence", "bias", "coverage",
            "mean_se", "sd_est", "mean_est", "power_mcse", "n_converged", "reps"]


# ----------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class PowerTarget:
    """A tested parameter: one structural path or one specific indirect effect.

    Attributes
    ----------
    name : str
        ``"GoodTrust~CapImb"`` (a path, lavaan's ``lhs~rhs``) or
        ``"CapImb -> GoodTrust -> PlanBudg"`` (an indirect effect).
    kind : {"path", "indirect"}
    chain : tuple of str
        The nodes from cause to effect: ``(rhs, lhs)`` for a path.
    """

    name: str
    kind: str
    chain: tuple[str, ...]

    @property
    def links(self) -> list[tuple[str, str]]:
        """The ``(lhs, rhs)`` paths whose product the target is."""
        return [(self.chain[i + 1], self.chain[i]) for i in range(len(self.chain) - 1)]


def _path_name(lhs: str, rhs: str) -> str:
    return f"{lhs}~{rhs}"


def _targets(partable: Any) -> tuple[list[PowerTarget], pd.DataFrame]:
    """Targets of a parameter table (free ``~`` rows of group 1, then the specific
    indirect effects) and the ``~`` rows they are built from."""
    from .effects import effect_definitions

    tab = partable.table
    rows = tab[(tab["op"] == "~") & (tab["group"] == 1) & (tab["free"] > 0)]
    rows = rows.drop_duplicates(subset=["lhs", "rhs"])
    targets = [PowerTarget(_path_name(r.lhs, r.rhs), "path", (str(r.rhs), str(r.lhs)))
               for r in rows.itertuples(index=False)]
    have = {(t.chain[1], t.chain[0]) for t in targets}
    try:
        defs = effect_definitions(partable)
    except SpecError:  # no chain with a mediator (e.g. a single regression)
        defs = []
    for d in defs:
        if d.kind == "indirect" and d.group == 1:
            t = PowerTarget(d.path, "indirect", tuple(d.chains[0]))
            if all(link in have for link in t.links):
                targets.append(t)
    return targets, rows.reset_index(drop=True)


def _norm_key(key: Any) -> str:
    if isinstance(key, tuple) and len(key) == 2:
        return _path_name(str(key[0]).strip(), str(key[1]).strip())
    text = str(key)
    if "->" in text:
        return " -> ".join(part.strip() for part in text.split("->"))
    return re.sub(r"\s+", "", text)


# ----------------------------------------------------------------------------- population
def _override_spec(spec: Any, population: Mapping[Any, Any] | None) -> Any:
    """A copy of ``spec`` with the population values of some paths replaced."""
    if not population:
        return spec
    if not isinstance(population, Mapping):
        raise OptionError(f"population must be a mapping 'lhs~rhs' -> value, not {type(population).__name__}")
    regs = {_path_name(lhs, rhs): (lhs, rhs) for lhs, rhs in spec.regressions()}
    pop = copy.deepcopy(dict(spec.population or {}))
    paths = pop.setdefault("paths", {})
    for key, value in population.items():
        name = _norm_key(key)
        if name not in regs:
            raise OptionError(f"population: {key!r} is not a structural path of spec {spec.name!r} "
                              f"(paths: {', '.join(regs)})")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise OptionError(f"population: the value of {name} must be a finite number, not {value!r}")
        lhs, rhs = regs[name]
        paths.setdefault(lhs, {})[rhs] = float(value)
    return dataclasses.replace(spec, population=pop)


def population_targets(spec: Any) -> dict[str, float]:
    """Standardized population values of a spec's paths and specific indirect effects.

    A path ``lhs ~ rhs`` has the standardized value ``beta * sd(rhs) / sd(lhs)`` with the
    population latent SDs (1 for every latent except a latent interaction, whose
    variance is ``1 + r**2``); an indirect effect is the product of its standardized
    paths.

    Parameters
    ----------
    spec : ModelSpec or str

    Returns
    -------
    dict
        ``{"GoodTrust~CapImb": -0.35, "CapImb -> GoodTrust -> PlanBudg": -0.14, ...}``.

    Examples
    --------
    >>> from asymtrust.analysis.power import population_targets
    >>> round(population_targets("fig1")["CapImb -> GoodTrust -> PlanBudg"], 6)
    -0.14
    """
    from .effects import _chains
    from ..survey.simulate import population_model
    from ..library.specs import load_spec

    spec = load_spec(spec)
    pm = population_model(spec)
    idx = {lv: i for i, lv in enumerate(pm.latents)}
    sd = np.sqrt(np.diag(pm.cov))
    out: dict[str, float] = {}
    std: dict[tuple[str, str], float] = {}
    for lhs, rhs in spec.regressions():
        i, j = idx[lhs], idx[rhs]
        std[(lhs, rhs)] = float(pm.beta[i, j] * sd[j] / sd[i])
        out[_path_name(lhs, rhs)] = std[(lhs, rhs)]
    edges = [(rhs, lhs) for lhs, rhs in spec.regressions()]
    nodes = list(dict.fromkeys(n for e in edges for n in e))
    has_in = {b for _, b in edges}
    has_out = {a for a, _ in edges}
    for s in (n for n in nodes if n in has_out and n not in has_in):
        for o in (n for n in nodes if n in has_in and n not in has_out):
            for chain in _chains(edges, s, o):
                if len(chain) > 2:
                    out[" -> ".join(chain)] = float(np.prod([std[(chain[k + 1], chain[k])]
                                                             for k in range(len(chain) - 1)]))
    return out


class SpecGenerator:
    """Draw keyed Likert data from a spec's population (picklable, for workers).

    The data are those of :func:`asymtrust.simulate` with ``groups=None`` (base
    population values), already keyed (reverse-keyed items recoded, as
    :func:`asymtrust.recode_reverse` would), items only; the product indicators of a
    latent interaction are added as :func:`asymtrust.analysis.moderation.indprod` builds them
    (double mean-centred matched products).

    Parameters
    ----------
    spec : ModelSpec or str
        A spec with ``[population]`` values.
    thresholds : mapping item -> sequence of float, optional
        An ordinal design's own cut points, as :func:`asymtrust.simulate`'s
        ``thresholds=`` (k increasing cut points give codes 1..k+1; ``"default"`` for the
        items not listed), replacing the spec's ``[population.thresholds]``.
    """

    def __init__(self, spec: Any, thresholds: Mapping[str, Sequence[float]] | None = None):
        from ..library.codebook import load_codebook
        from ..survey.simulate import _threshold_overrides, population_model
        from ..library.specs import load_spec

        spec = load_spec(spec)
        self.spec_name = spec.name
        self.pm = population_model(spec)
        cb = load_codebook()
        cb = cb.loc[cb["kind"] == "item"]
        cb_scale = {str(r.item): (int(r.scale_min), int(r.scale_max)) for r in cb.itertuples(index=False)}
        self.items = list(self.pm.loadings)
        self.scale = {i: cb_scale.get(i, (1, 7)) for i in self.items}
        self.cuts = _threshold_overrides(thresholds, self.items) if thresholds is not None else {}
        if self.cuts:  # the design's own categories, as simulate(thresholds=)
            self.scale.update({i: (1, len(c) + 1) for i, c in self.cuts.items()})
            self.pm = dataclasses.replace(self.pm, thresholds={**self.pm.thresholds, **self.cuts})
        for i in self.items:
            if len(self.pm.thresholds[i]) != self.scale[i][1] - self.scale[i][0]:
                raise SpecError(f"spec {spec.name!r}: item {i} has {len(self.pm.thresholds[i])} thresholds for a "
                                f"{self.scale[i][0]}..{self.scale[i][1]} scale")
        self.products: list[tuple[str, str, str]] = []
        for name in spec.product_indicators():
            parts = name.split(".")
            if len(parts) != 2 or parts[0] not in self.items or parts[1] not in self.items:
                raise SpecError(f"spec {spec.name!r}: product indicator {name} is not 'itemA.itemB' of simulated items")
            self.products.append((name, parts[0], parts[1]))

    def __call__(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """``n`` respondents (items as columns, keyed codes)."""
        from ..survey.simulate import _draw_group

        codes = _draw_group(self.pm, self.items, self.scale, int(n), rng)
        df = pd.DataFrame(codes.astype(float), columns=self.items)
        if self.products:
            from .moderation import indprod

            df = indprod(df, [a for _, a, _ in self.products], [b for _, _, b in self.products],
                         match=True, names=[p for p, _, _ in self.products])
        return df


# ----------------------------------------------------------------------------- one replicate
def _leave_one_out(v: np.ndarray) -> np.ndarray:
    """``prod(v) / v[k]`` for every k, without dividing (zeros allowed): the gradient of
    a product of path coefficients."""
    pre = np.concatenate(([1.0], np.cumprod(v[:-1])))
    suf = np.concatenate((np.cumprod(v[::-1][:-1])[::-1], [1.0]))
    return pre * suf


class _Estimator:
    """Warm-started ML/MLR estimation of one data set with SEs of the targets.

    Uses the model compiled once per parameter table (:func:`asymtrust.engine.compile.compile_model`),
    so a replicate costs the sample moments, a few Fisher-scoring steps from the base
    solution, and one information matrix. Returns, per target, the unstandardized
    estimate and SE and the ``std_all`` estimate and SE (delta method)."""

    def __init__(self, partable: Any, theta0: np.ndarray, estimator: str, targets: list[PowerTarget],
                 paths: pd.DataFrame):
        if getattr(partable, "has_efa", False):
            raise OptionError("power() for a model with efa() sets (ESEM) is not supported: each replicate would "
                              "need its own rotation")
        self.pt = partable
        self.theta0 = np.asarray(theta0, float)
        self.estimator = estimator
        self.paths = paths
        pos = {(str(r.lhs), str(r.rhs)): k for k, r in enumerate(paths.itertuples(index=False))}
        self.links = [[pos[link] for link in t.links] for t in targets]
        self.free = paths["free"].to_numpy(dtype=int) - 1
        self.ov = [str(v) for v in partable.ov_names]
        # fixed-x rows (exo == 1): where each takes its sample moment from
        tab = partable.table
        opos = {v: i for i, v in enumerate(self.ov)}
        self.exo = [((str(r.lhs), str(r.op), str(r.rhs)), str(r.op), opos[r.lhs], opos[r.rhs] if r.op == "~~" else -1)
                    for r in tab[(tab["group"] == 1) & (tab["exo"] == 1)].itertuples(index=False)]
        # free variances: a negative estimate is a Heywood case (an improper solution)
        var = tab[(tab["op"] == "~~") & (tab["lhs"] == tab["rhs"]) & (tab["free"] > 0)]
        self.variances = var["free"].to_numpy(dtype=int) - 1
        self._improper = False
        self._stdz = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_stdz"] = None
        return state

    def _standardizer(self, model: Any) -> Any:
        if self._stdz is None:
            from ..engine.standardize import Standardizer

            self._stdz = Standardizer(model, self.paths)
        return self._stdz

    def _matrix(self, data: pd.DataFrame) -> np.ndarray:
        """The model's columns as a float matrix (NaN = missing)."""
        if not isinstance(data, pd.DataFrame):
            raise OptionError(f"generate must return a pandas DataFrame, not {type(data).__name__}")
        if list(data.columns) == self.ov and all(
                pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in data.dtypes):
            return data.to_numpy(dtype=float, na_value=np.nan)  # one block (SpecGenerator's frames)
        absent = [v for v in self.ov if v not in data.columns]
        if absent:
            raise OptionError(f"the generated data have no column {absent[0]!r}")
        cols = [data[v] for v in self.ov]
        if all(pd.api.types.is_numeric_dtype(c) and not pd.api.types.is_bool_dtype(c) for c in cols):
            return np.column_stack([c.to_numpy(dtype=float, na_value=np.nan) for c in cols])
        return np.column_stack([pd.to_numeric(c, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                                for c in cols])

    def __call__(self, data: pd.DataFrame) -> np.ndarray | None:
        """``(T, 4)`` array of ``est, se, std_all, std_all_se`` per target, or None when
        the estimation failed (no convergence, singular information, unusable data)."""
        return self.estimate(self._matrix(data))

    def estimate(self, X: np.ndarray) -> np.ndarray | None:
        """As ``__call__``, from the data matrix of the model's observed variables."""
        return self.estimate_flagged(X)[0]

    def estimate_flagged(self, X: np.ndarray, codes: np.ndarray | None = None) -> tuple[np.ndarray | None, bool]:
        """``(estimate(X), improper)``: ``improper`` is True when a variance estimate is
        negative (a Heywood case; the replicate is kept, and counted). ``codes``: the
        cluster of each row of ``X``; with MLR the case-wise scores are then summed within
        clusters (lavaan's ``robust.cluster`` sandwich, :func:`asymtrust.engine.cluster.cluster_sum`)."""
        self._improper = False
        return self._estimate(X, codes), self._improper

    def _estimate(self, X: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray | None:
        from ..engine.estimate import Objective, optimise
        from ..engine.compile import compile_model
        from ..engine.samplestats import complete_sample
        from ..engine.vcov import casewise_scores, constrained_inverse, first_order_information

        keep = ~np.isnan(X).any(axis=1)
        X = X[keep]
        if codes is not None:
            codes = np.asarray(codes)[keep]
            if np.unique(codes).size < 2:
                return None
        N = X.shape[0]
        if N < 2:
            return None
        s = complete_sample(X)
        if not np.all(np.diag(s.cov) > 1e-10):
            return None
        samples = [s]
        comp = compile_model(self.pt, 1)
        model = comp.model
        if self.exo:
            model = model.with_exo([{key: (s.cov[i, j] if op == "~~" else s.mean[i]) for key, op, i, j in self.exo}])
        obj = Objective(model, samples, fiml=False)
        opt = optimise(obj, comp.rep, self.theta0)
        if comp.general is not None:  # nonlinear equalities, inequalities
            opt = comp.general.solve(obj, comp.rep, opt.theta, opt)
        if not opt.converged:
            return None
        theta = opt.theta
        self._improper = bool(self.variances.size and np.any(theta[self.variances] < 0))
        imp = model.implied(theta)
        if self.estimator == "MLR":
            A = obj.observed_information(theta, imp)
            Ainv, ok = constrained_inverse(A, comp.rep)
            if not ok:
                return None
            B0 = first_order_information(casewise_scores(obj, imp, model.delta(imp)), N,
                                         clusters=None if codes is None else [codes])
            vcov = Ainv @ B0 @ Ainv / N
        else:
            Ainv, ok = constrained_inverse(obj.expected_information(imp), comp.rep)
            if not ok:
                return None
            vcov = Ainv / N
        stdz = self._standardizer(model)
        raw = theta[self.free]
        std = stdz.values(imp, "std_all")
        Jstd = stdz.jacobian(imp, "std_all")
        K = theta.size
        T = len(self.links)
        G_raw = np.zeros((T, K))
        G_std = np.zeros((T, K))
        est = np.empty((T, 4))
        for t, links in enumerate(self.links):
            r, z = raw[links], std[links]
            est[t, 0] = np.prod(r)
            est[t, 2] = np.prod(z)
            loo_r, loo_z = _leave_one_out(r), _leave_one_out(z)
            for k, row in enumerate(links):
                G_raw[t, self.free[row]] += loo_r[k]
                G_std[t] += loo_z[k] * Jstd[row]
        est[:, 1] = np.sqrt(np.clip(((G_raw @ vcov) * G_raw).sum(axis=1), 0, None))
        est[:, 3] = np.sqrt(np.clip(((G_std @ vcov) * G_std).sum(axis=1), 0, None))
        if not np.all(np.isfinite(est)):
            return None
        return est


class _OrdinalEstimator(_Estimator):
    """WLSMV estimation of one replicate of ordered items, as lavaan's ``sem(model, data,
    ordered = items)``, with the targets' estimates and SEs.

    Each replicate is a whole :func:`asymtrust.fit`: the first stage (thresholds,
    polychoric correlations and their asymptotic covariance) is the replicate's own, and
    a small replicate may lack a category of an item, which then has one threshold fewer
    (as in lavaan). The fit starts at the base solution when the replicate has the base
    sample's categories. Paths: the fit's estimate and robust SE, ``std_all`` and its
    SE; an indirect effect: the product of its paths with the delta-method SEs of
    :func:`asymtrust.analysis.effects.effects` (lavaan's ``ind := a*b``). A replicate
    with a problem of the solution (a negative residual variance of an ordered item, a
    Heywood case) is kept and flagged improper."""

    def __init__(self, syntax: str, base: Any, ordered: Any, targets: list[PowerTarget]):
        self.syntax = syntax
        self.ordered = ordered
        self.targets = targets
        self.links = [t.links for t in targets]
        self.ov = [str(v) for v in base.partable.ov_names]
        self.theta0 = np.asarray(base.theta, float)
        tab = base.partable.table
        self.ncat = {str(k): int(v) + 1 for k, v in tab.loc[tab["op"] == "|", "lhs"].value_counts().items()}
        self._improper = False
        self._stdz = None

    def _estimate(self, X: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray | None:
        from ..engine.fit import fit
        from .effects import effects

        X = X[~np.isnan(X).any(axis=1)]
        if X.shape[0] < 2:
            return None
        df = pd.DataFrame(X, columns=self.ov)
        same = all(np.unique(df[v]).size == k for v, k in self.ncat.items())
        res = fit(self.syntax, df, ordered=self.ordered, estimator="WLSMV", start=self.theta0 if same else None)
        if not res.converged or res.vcov is None:
            return None
        self._improper = bool(res.problems)
        est = res.estimates
        est = est[est["group"] == 1]
        out = np.full((len(self.targets), 4), np.nan)
        indirect = None
        for t, tg in enumerate(self.targets):
            if tg.kind == "path":
                rows = est[(est["lhs"] == tg.chain[1]) & (est["op"] == "~") & (est["rhs"] == tg.chain[0])]
            else:
                if indirect is None:
                    eff = effects(res, bootstrap=0, ci_method="delta")
                    indirect = eff[(eff["effect"] == "indirect") & (eff["group"] == 1)]
                rows = indirect[indirect["path"] == tg.name]
            if len(rows):
                out[t] = rows[["est", "se", "std_all", "std_all_se"]].to_numpy(dtype=float)[0]
        if not np.all(np.isfinite(out)):
            return None
        return out


class _PowerReplicate:
    """One Monte Carlo replicate: for every N, draw a data set and estimate (picklable).

    ``cluster``: the column of the generated data naming each row's cluster; the
    estimator then gets the cluster codes (cluster-robust SEs), and ``ns`` are the
    numbers of clusters passed to ``generate``."""

    def __init__(self, generate: Callable[[int, np.random.Generator], pd.DataFrame], ns: list[int],
                 estimator: _Estimator, cluster: str | None = None):
        self.generate = generate
        self.ns = ns
        self.estimator = estimator
        self.cluster = cluster

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``ok`` (per N), estimates ``(nN, T, 4)``, ``improper`` (per N: a negative
        variance estimate) and the rows read and used per N."""
        T = len(self.estimator.links)
        ok = np.zeros(len(self.ns), bool)
        improper = np.zeros(len(self.ns), bool)
        rows = np.zeros((len(self.ns), 2), np.int64)
        out = np.full((len(self.ns), T, 4), np.nan)
        for i, (n, child) in enumerate(zip(self.ns, rng.spawn(len(self.ns)))):
            data = self.generate(n, child)
            codes = None if self.cluster is None else pd.factorize(data[self.cluster])[0]
            X = self.estimator._matrix(data)
            rows[i] = X.shape[0], int((~np.isnan(X).any(axis=1)).sum())
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res, improper[i] = self.estimator.estimate_flagged(X, codes)
            except (AsymtrustError, np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
                res = None
            if res is not None:
                ok[i] = True
                out[i] = res
            else:
                improper[i] = False
        return ok, out, improper, rows


# ----------------------------------------------------------------------------- checks
def _whole_numbers(value: Any, *, name: str, unit: str, least: int, why: str) -> list[int]:
    """A number or list of whole numbers >= ``least``, sorted and de-duplicated, each bad one
    refused by name (the sample sizes of ``n``, the numbers of partnerships of ``clusters``)."""
    values = [value] if isinstance(value, (numbers.Number, np.integer)) else value
    try:
        values = list(values)
    except TypeError:
        raise OptionError(f"{name} must be a {unit} or a list of them, not {value!r}") from None
    if not values:
        raise OptionError(f"{name} must name at least one {unit}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
            if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
                v = int(v)
            else:
                raise OptionError(f"{name} must be whole numbers, not {v!r}")
        if int(v) < least:
            raise OptionError(f"{name} = {int(v)} is too small; {why}")
        out.append(int(v))
    return sorted(set(out))


def _base_fit(model: Any, base_data: pd.DataFrame, *, drop: Sequence[str] = (), **fit_kw):
    """The model fitted to the base sample (its solution is every replicate's start), with
    the problems and rows it reports: ``(base, problems, usage, npar)``; non-convergence is
    an error naming the sample."""
    from ..engine.fit import fit
    from .provenance import data_usage, fit_problems

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = fit(model, base_data.drop(columns=list(drop)) if drop else base_data, se="none", **fit_kw)
    if not base.converged:
        raise EstimationError(f"the model did not converge on the base sample of {len(base_data)} simulated "
                              "respondents; check the population values")
    problems = fit_problems(base, f"base sample (N = {len(base_data)})")
    usage = [data_usage(base, f"base sample of {len(base_data)}", base_data)]
    return base, problems, usage, int(base.fit_indices["npar"])


def _check_ns(n: Any) -> list[int]:
    return _whole_numbers(n, name="n", unit="sample size", least=2, why="every n must be at least 2")


def _check_alpha(alpha: Any) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise OptionError(f"alpha must be a number between 0 and 1, not {alpha!r}") from None
    if isinstance(alpha, bool) or not 0.0 < a < 1.0:
        raise OptionError(f"alpha must be between 0 and 1 (e.g. 0.05), not {alpha!r}")
    return a


# ----------------------------------------------------------------------------- engine
def simulate_power(model: Any, generate: Callable[[int, np.random.Generator], pd.DataFrame],
                   n: int | Sequence[int] = (150, 200, 300, 500), *, reps: int = 1000,
                   seed: int | None = None, population: Mapping[str, float] | None = None,
                   alpha: float = 0.05, n_jobs: int = 1, backend: str = "loky", scheduler: Any = None,
                   progress: bool = False, estimator: str = "ML", base_n: int = DEFAULT_BASE_N,
                   fixed_x: bool = True, ordered: Any = None) -> "ResultTable":
    """Monte Carlo power of every structural path and indirect effect of a model.

    Parameters
    ----------
    model : str or ModelSpec
        The analysis model (lavaan syntax, a spec or a spec name), fitted to every
        replicate with complete-data ML.
    generate : callable
        ``generate(n, rng) -> DataFrame``: ``n`` rows of the model's observed variables
        drawn with the :class:`numpy.random.Generator` ``rng``. Must be picklable to run
        on workers (a module-level function or an object such as :class:`SpecGenerator`).
    n : int or sequence of int
        Sample sizes (each >= 2, and at least the number of free parameters).
    reps : int
        Replicates per sample size (``1 <= reps <= ASYMTRUST_MAX_REPLICATES``).
    seed : int, optional
        Root seed; the same seed gives the same table whatever ``n_jobs`` and ``backend``.
    population : mapping, optional
        Standardized population value of each target, keyed by its name (``"y~x"``,
        ``"X -> M -> Y"``). Targets without a value get NaN bias and coverage; an
        indirect effect without a value gets the product of its paths' values when all
        are given.
    alpha : float
        Significance level of the Wald tests; coverage is that of the ``1 - alpha``
        interval.
    n_jobs, backend, scheduler, progress
        As :func:`asymtrust.engine.resample.run_replicates`.
    estimator : {"ML", "MLR"}, or with ``ordered`` ``"WLSMV"``
        ``"MLR"``: robust (sandwich) SEs with the observed information, as
        ``asymtrust.fit(estimator="MLR")``; several times slower.
    ordered : True or list of str, optional
        Ordered-categorical items (lavaan's ``ordered=``): every replicate is fitted with
        WLSMV (``asymtrust.fit(model, data, ordered=ordered)``, lavaan's ``sem(ordered=)``;
        :class:`_OrdinalEstimator`), the only estimator accepted then. ``generate``
        should draw the items' categories (e.g. :class:`SpecGenerator` with
        ``thresholds=``).
    base_n : int
        Size of the one large sample whose fit gives every replicate its starting values.
    fixed_x : bool
        lavaan's ``fixed.x`` for observed exogenous covariates (default True). With
        ``fixed.x`` the covariates' variances are not estimated, so the SEs of
        standardized paths from them ignore the sampling variability of those
        variances (coverage of ``std_all`` intervals then falls below nominal); use
        ``False`` for random covariates.

    Returns
    -------
    pandas.DataFrame
        One row per sample size and target (long format), columns

        ``n``, ``parameter`` (``"lhs~rhs"`` or ``"X -> M -> Y"``), ``kind`` (``"path"`` or
        ``"indirect"``), ``population`` (standardized value), ``power`` (share of
        converged replicates with p < alpha), ``convergence`` (share of replicates that
        converged), ``bias`` (mean ``std_all`` estimate minus population value),
        ``coverage`` (share of ``1 - alpha`` Wald intervals of ``std_all`` containing the
        population value), ``mean_se`` (mean ``std_all`` SE), ``sd_est`` (SD of the
        ``std_all`` estimates), ``mean_est``, ``power_mcse`` (Monte Carlo SE of power,
        ``sqrt(p (1 - p) / n_converged)``), ``n_converged``, ``reps``.

        ``attrs["smallest_n"]`` maps each parameter to the smallest N of ``n`` with
        power >= 0.80 (None if none reaches it); ``attrs`` also records ``reps``,
        ``seed``, ``alpha``, ``estimator``, ``base_n`` and ``metric`` (``"std_all"``).

        The table is a :class:`~asymtrust.analysis.compare.ResultTable`: ``warnings`` holds the
        base fit's problems and, per N, failed replicates and replicates with a negative
        variance estimate (``attrs["n_improper"]`` counts them); ``data`` the rows
        simulated and used (base sample, and per N summed over replicates).

    Raises
    ------
    OptionError
        ``reps <= 0``, an n below 2, a bad ``alpha``, ``estimator`` or backend; the
        stored replicates or the simulated data would not fit in memory (checked
        before any data are simulated; the message names ``reps`` or ``n``).
    ResourceLimitError
        ``reps`` above ``ASYMTRUST_MAX_REPLICATES``.
    InsufficientDataError
        An n smaller than the number of free parameters.
    EstimationError
        The model does not converge on the large base sample.
    """

    reps = check_replicates(reps, name="reps")
    ns = _check_ns(n)
    alpha = _check_alpha(alpha)
    est_name = str(estimator).upper()
    ordinal = ordered is not None and ordered is not False
    if ordinal and est_name != "WLSMV":
        raise OptionError(f"power with ordered items fits every replicate with WLSMV; estimator={estimator!r} "
                          "is not supported with ordered=")
    if not ordinal and est_name not in ESTIMATORS:
        raise OptionError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {estimator!r}")
    if not callable(generate):
        raise OptionError(f"generate must be callable (n, rng) -> DataFrame, not {type(generate).__name__}")
    if isinstance(base_n, bool) or not isinstance(base_n, (numbers.Integral, np.integer)) or base_n < 2:
        raise OptionError(f"base_n must be an integer >= 2, not {base_n!r}")
    base_seq, rep_seq = replicate_seeds(seed, 2)
    n_base = max(int(base_n), max(ns))
    _check_power_memory(model, ns, reps, n_base, n_jobs)

    extra = {"ordered": ordered, "estimator": "WLSMV"} if ordinal else {}
    base, problems, usage, npar = _base_fit(model, generate(n_base, np.random.default_rng(base_seq)),
                                            fixed_x=bool(fixed_x), **extra)
    small = [v for v in ns if v < npar]
    if small:
        raise InsufficientDataError(f"sample size n = {small[0]} is smaller than the {npar} free parameters "
                                    "of the model")
    targets, paths = _targets(base.partable)
    if not targets:
        raise SpecError("the model has no free structural ('~') paths to test")
    pop = {_norm_key(k): float(v) for k, v in (population or {}).items()}
    for t in targets:
        if t.name not in pop and t.kind == "indirect":
            vals = [pop.get(_path_name(lhs, rhs)) for lhs, rhs in t.links]
            if all(v is not None for v in vals):
                pop[t.name] = float(np.prod(vals))

    estimate = (_OrdinalEstimator(base.syntax, base, ordered, targets) if ordinal else
                _Estimator(base.partable, base.theta, est_name, targets, paths))
    engine = _PowerReplicate(generate, ns, estimate)
    out = run_replicates(engine, reps, seed=rep_seq, n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                         progress=progress, desc="power")
    ok = np.stack([o[0] for o in out])  # (reps, nN)
    vals = np.stack([o[1] for o in out])  # (reps, nN, T, 4)
    improper = np.stack([o[2] for o in out])  # (reps, nN)
    rows = np.stack([o[3] for o in out])  # (reps, nN, 2): rows read, rows used
    del out
    for i, n_i in enumerate(ns):
        problems += _replicate_problems(f"n = {n_i}", ok[:, i], improper[:, i], reps)
        n_read, n_used = int(rows[:, i, 0].sum()), int(rows[:, i, 1].sum())
        usage.append({"source": f"{reps} replicates of n = {n_i}", "n_read": n_read, "n_used": n_used,
                      "dropped": {"rows with a missing value (listwise)": n_read - n_used} if n_read > n_used else {}})
    tab = _summarise(ns, targets, pop, ok, vals, reps=reps, alpha=alpha,
                     attrs={"reps": reps, "seed": seed, "alpha": alpha, "estimator": est_name, "base_n": int(base_n),
                            "metric": "std_all", "n_improper": {int(n_i): int(improper[:, i].sum())
                                                                for i, n_i in enumerate(ns)},
                            "ordered": list(base.options.get("ordered") or []) if ordinal else None})
    from .provenance import result_table

    return result_table(tab, kind="power", warnings=problems, data=usage,
                        title=f"Monte Carlo power ({reps} replicates per sample size, {est_name}, alpha = {alpha:g})")


def power_memory(n_vars: int, n_targets: int, ns: Sequence[int], reps: int, n_base: int,
                 workers: int = 1) -> tuple[int, int]:
    """Estimated peak memory (bytes) of a power run: ``(stored replicates, simulated data)``.

    Every replicate keeps, per sample size, four numbers per target (held twice: the
    list of results and the stacked array) and its flags; the base sample and, in
    each worker, one replicate's data of the largest N are simulated at about four
    copies of ``N x n_vars`` floats (latent draws, item codes, the frame, the matrix).
    """
    nN = len(ns)
    stored = int(reps) * (nN * (2 * 8 * 4 * int(n_targets) + 2 * 8 * 3) + 2 * _REPLICATE_OVERHEAD)
    data = 4 * 8 * int(n_vars) * (int(n_base) + max(1, int(workers)) * max(ns))
    return stored, data


def _check_power_memory(model: Any, ns: list[int], reps: int, n_base: int, n_jobs: Any, option: str = "n",
                        value: Any = None) -> None:
    """Refuse a power run whose replicates or data would not fit in memory, before any
    data are simulated (best effort: a model that cannot be read here is left to fit()).
    ``option``/``value``: the option named when the data are too large (default ``n``)."""
    from ..engine.fit import model_syntax
    from ..library.partable import build_partable

    try:
        pt = build_partable(model_syntax(model))
        n_targets = len(_targets(pt)[0])
        n_vars = len(pt.ov_names)
    except (AsymtrustError, ValueError, KeyError, TypeError):
        return
    stored, data = power_memory(n_vars, n_targets, ns, reps, n_base, _planned_workers(n_jobs))
    if stored >= data:
        check_memory(stored + data, option="reps", value=reps,
                     what=f"the stored replicates ({len(ns)} sample size(s) x {n_targets} targets)")
    else:
        check_memory(stored + data, option=option, value=max(ns) if value is None else value,
                     what=f"the simulated data ({max(n_base, max(ns))} rows x {n_vars} variables)")


def _replicate_problems(where: str, ok: np.ndarray, improper: np.ndarray, reps: int) -> list[str]:
    """The failed and improper replicates of one design point (``where``: "n = 200",
    "clusters = 30"), as the lines every power table reports."""
    out = []
    failed = reps - int(ok.sum())
    if failed:
        out.append(f"{where}: {failed} of {reps} replicates failed (no convergence, a singular "
                   "information matrix or unusable data) and are left out of every column but convergence")
    bad = int(improper.sum())
    if bad:
        out.append(f"{where}: {bad} of {reps} replicates have a negative variance estimate "
                   "(Heywood case); they are kept in power, bias and coverage")
    return out


def _summarise(ns: list[int], targets: list[PowerTarget], pop: dict[str, float], ok: np.ndarray,
               vals: np.ndarray, *, reps: int, alpha: float, attrs: dict) -> pd.DataFrame:
    zc = float(special.ndtri(1.0 - alpha / 2.0))
    rows = []
    for i, n_i in enumerate(ns):
        good = ok[:, i]
        k = int(good.sum())
        for t, tg in enumerate(targets):
            v = vals[good, i, t, :]
            p0 = pop.get(tg.name, np.nan)
            if k:
                with np.errstate(divide="ignore", invalid="ignore"):
                    pval = 2.0 * special.ndtr(-np.abs(v[:, 0] / v[:, 1]))
                pw = float(np.mean(pval < alpha))
                mean_est = float(v[:, 2].mean())
                cover = float(np.mean(np.abs(v[:, 2] - p0) <= zc * v[:, 3])) if np.isfinite(p0) else np.nan
                sd = float(v[:, 2].std(ddof=1)) if k > 1 else np.nan
                mse = float(v[:, 3].mean())
                mcse = math.sqrt(pw * (1.0 - pw) / k)
            else:
                pw = mean_est = cover = sd = mse = mcse = np.nan
            rows.append({"n": n_i, "parameter": tg.name, "kind": tg.kind, "population": p0, "power": pw,
                         "convergence": k / reps, "bias": mean_est - p0 if np.isfinite(p0) else np.nan,
                         "coverage": cover, "mean_se": mse, "sd_est": sd, "mean_est": mean_est,
                         "power_mcse": mcse, "n_converged": k, "reps": reps})
    tab = pd.DataFrame(rows, columns=_COLUMNS)
    smallest: dict[str, int | None] = {}
    for tg in targets:
        sub = tab[(tab["parameter"] == tg.name) & (tab["power"] >= TARGET_POWER)]
        smallest[tg.name] = int(sub["n"].min()) if len(sub) else None
    tab.attrs.update(attrs)
    tab.attrs["smallest_n"] = smallest
    tab.attrs["target_power"] = TARGET_POWER
    return tab


def power(spec: Any, n: int | Sequence[int] | None = None, *, reps: int = 1000,
          seed: int | None = None, population: Mapping[Any, float] | None = None, alpha: float = 0.05,
          n_jobs: int = 1, backend: str = "loky", scheduler: Any = None, progress: bool = False,
          estimator: str | None = None, clusters: int | Sequence[int] | None = None,
          cluster_size: int | None = None, icc: float | None = None, ordered: Any = None,
          thresholds: Mapping[str, Sequence[float]] | None = None) -> "ResultTable":
    """Monte Carlo power of a spec's structural paths and indirect effects by sample size.

    Data are simulated from the spec's population values (7-point Likert items, as
    :func:`asymtrust.simulate`, reverse-keyed items recoded), the spec's model is
    fitted to each replicate, and power, convergence, bias and coverage are tabulated
    per N (see :func:`simulate_power` for the columns and the module docstring for the
    definitions: Wald tests of the unstandardized estimates, bias and coverage in the
    standardized ``std_all`` metric against the standardized population values).

    Parameters
    ----------
    spec : ModelSpec or str
        A spec with ``[population]`` values (all bundled specs but the dyadic
        ``fig1_dyadic``), e.g. ``"fig1"``; or ``"apim"``: plan in dyads, the number of
        partnerships for the actor and partner effects of the APIM (:func:`apim_power`;
        ``population`` then holds ``a_A, p_A, a_B, p_B`` and optionally ``cx, cy``).
    n : int or sequence of int, optional
        Candidate sample sizes (partnerships for ``"apim"``); default 150, 200, 300, 500
        (50, 100, 150, 200 for ``"apim"``). Not with ``clusters``.
    reps : int
        Replicates per sample size.
    seed : int, optional
        Root seed: the same seed gives an identical table for any ``n_jobs`` and backend.
    population : mapping, optional
        Override the population value (a standardized coefficient) of some paths:
        ``{"GoodTrust~CapImb": -0.2}``; keys may also be ``(lhs, rhs)`` tuples.
    alpha : float
        Significance level.
    n_jobs, backend, scheduler, progress
        Parallel execution (:func:`asymtrust.engine.resample.run_replicates`): ``n_jobs`` loky
        workers, or ``backend="dask"`` with ``scheduler`` a Dask scheduler address or
        ``Client``.
    estimator : {None, "ML", "MLR", "WLSMV"}
        Default ``"ML"``; with ``clusters`` only ``"MLR"`` (the default there); with
        ``ordered`` only ``"WLSMV"`` (the default there).
    ordered : True or list of str, optional
        An ordinal design: the items (all of them with ``True``) are analysed as
        ordered-categorical, every replicate fitted with WLSMV as lavaan's
        ``sem(model, data, ordered = items)`` (:func:`simulate_power`); non-converged
        replicates and improper solutions are reported as for ML.
    thresholds : mapping item -> sequence of float, optional
        The design's cut points on each item's latent-response scale (unit variance),
        as :func:`asymtrust.simulate`'s ``thresholds=``: k strictly increasing finite cut
        points give k + 1 categories; ``"default"`` applies to the items not listed.
        Default: the spec's ``[population.thresholds]`` (7-point items). An unknown item,
        cut points that are not strictly increasing or not finite are refused
        (:class:`~asymtrust.exceptions.OptionError` naming the item), and so is a
        category expected in fewer than one respondent at the smallest ``n``
        (every replicate would lack it).
    clusters, cluster_size, icc : optional
        Plan in clusters instead of ``n`` (:func:`cluster_power`): candidate numbers of
        partnerships K, respondents per partnership m (one integer), and the ICC of the
        items' latent responses (in (0, 1), default 0.15). Each replicate draws two-level
        data with :func:`asymtrust.simulate` (``clusters=K, cluster_size=m, icc=icc``) and
        gets cluster-robust MLR SEs, as ``asymtrust.fit(spec, data, cluster="partnership",
        estimator="MLR")``; the rows add ``clusters``, ``cluster_size``, ``design_effect``
        (1 + (m - 1) ICC) and ``effective_n`` (K m / design effect), ``n`` is K m.

    Returns
    -------
    pandas.DataFrame
        As :func:`simulate_power`; ``attrs["smallest_n"]`` gives, per parameter, the
        smallest N reaching 80% power (None if none does), ``attrs["spec"]`` the spec name.

    Raises
    ------
    SpecError
        Unknown spec or a spec without population values.
    OptionError
        ``reps <= 0``, an n below 2, a ``population`` key that is not a path of the spec,
        or a run that would not fit in memory (the message names ``reps`` or ``n``).
    ResourceLimitError
        ``reps`` above ``ASYMTRUST_MAX_REPLICATES``.

    Examples
    --------
    >>> import asymtrust
    >>> tab = asymtrust.power("fig1", n=[200], reps=4, seed=1)
    >>> tab.loc[tab["parameter"] == "GoodTrust~CapImb", ["n", "population"]].to_dict("records")
    [{'n': 200, 'population': -0.35}]
    >>> sorted(tab.attrs["smallest_n"])[:2]
    ['CapImb -> GoodTrust -> JointMgmt', 'CapImb -> GoodTrust -> PlanBudg']

    In R: ``simsem::sim(1000, n = c(150, 200, 300, 500), model = fit_model,
    generate = pop_model)`` then ``simsem::getPower()``.
    """
    from ..library.specs import load_spec

    ordinal = ordered is not None and ordered is not False
    for name, value in (("ordered", ordinal or None), ("thresholds", thresholds)):
        if value is not None and (clusters is not None or (isinstance(spec, str) and spec == "apim")):
            raise OptionError(f"power(): {name}= with {'clusters=' if clusters is not None else 'apim'} is not "
                              "supported; an ordinal design is planned in respondents (n=)")
    if clusters is not None:
        if n is not None:
            raise OptionError("power(): give either n= (respondents) or clusters= (partnerships, with "
                              "cluster_size=), not both")
        return cluster_power(spec, clusters, cluster_size=cluster_size, icc=icc, reps=reps, seed=seed,
                             population=population, alpha=alpha, n_jobs=n_jobs, backend=backend,
                             scheduler=scheduler, progress=progress, estimator=estimator)
    if cluster_size is not None or icc is not None:
        raise OptionError("power(): cluster_size= and icc= plan in clusters and need clusters= (the numbers of "
                          "partnerships)")
    estimator = ("WLSMV" if ordinal else "ML") if estimator is None else estimator
    if n is None:
        n = (50, 100, 150, 200) if isinstance(spec, str) and spec == "apim" else (150, 200, 300, 500)
    if isinstance(spec, str) and spec == "apim":  # plan in dyads: n = partnerships
        return apim_power(n, population=population, reps=reps, seed=seed, alpha=alpha, n_jobs=n_jobs,
                          backend=backend, scheduler=scheduler, progress=progress, estimator=estimator)
    spec = load_spec(spec)
    if spec.dyadic:
        raise OptionError(f"power() cannot simulate the item-level dyadic data of spec {spec.name!r} yet; plan the "
                          "number of partnerships for an actor or partner effect with power('apim', n=[...], "
                          "population={'a_A': ..., 'p_A': ..., 'a_B': ..., 'p_B': ...})")
    # validate the cheap options before building anything
    check_replicates(reps, name="reps")
    _check_ns(n)
    spec = _override_spec(spec, population)
    generator = SpecGenerator(spec, thresholds=thresholds)
    if ordinal:
        ordered = _check_ordered(ordered, generator.items)
        _check_categories(generator, min(_check_ns(n)))
    tab = simulate_power(spec, generator, n, reps=reps, seed=seed, population=population_targets(spec),
                         alpha=alpha, n_jobs=n_jobs, backend=backend, scheduler=scheduler, progress=progress,
                         estimator=estimator, ordered=ordered if ordinal else None)
    tab.attrs["spec"] = spec.name
    if generator.cuts:
        tab.attrs["thresholds"] = {i: c.tolist() for i, c in generator.cuts.items()}
    return tab


def _check_ordered(ordered: Any, items: list[str]) -> Any:
    """``ordered=`` of :func:`power`: True, or a list of the spec's items (others named)."""
    if ordered is True:
        return True
    if isinstance(ordered, str) or not isinstance(ordered, Sequence) or not ordered:
        raise OptionError(f"ordered must be True or a list of the spec's items, not {ordered!r}")
    unknown = [str(v) for v in ordered if str(v) not in items]
    if unknown:
        raise OptionError(f"ordered items must be items of the spec: {', '.join(unknown)} "
                          f"(items: {', '.join(items)})")
    return [str(v) for v in ordered]


def _check_categories(generator: SpecGenerator, n_min: int) -> None:
    """Refuse cut points that leave a category expected in fewer than one of ``n_min``
    respondents: every small replicate would lack it (naming the item and category)."""
    for item in generator.items:
        cuts = np.asarray(generator.pm.thresholds[item], float)
        share = np.diff(special.ndtr(np.concatenate(([-np.inf], cuts, [np.inf]))))
        k = int(np.argmin(share))
        if share[k] * n_min < 1.0:
            raise OptionError(f"thresholds of {item}: category {k + 1} of {cuts.size + 1} has population share "
                              f"{share[k]:.2g}, fewer than one of the n = {n_min} respondents; move the cut points "
                              "or merge the category")


# ----------------------------------------------------------------------------- clusters (two-level designs)
class ClusterGenerator:
    """Draw two-level keyed Likert data from a spec's population (picklable, for workers).

    ``generator(K, rng)`` is :func:`asymtrust.simulate` with ``clusters=K``,
    ``cluster_size`` and ``icc`` (seeded from ``rng``), reverse-keyed items recoded (as
    :func:`asymtrust.recode_reverse` would); columns ``partnership`` and the spec's items.
    Within and between partnerships the latent responses have the spec's standardized
    structure, so the total (single-level) population values are the spec's.
    """

    def __init__(self, spec: Any, cluster_size: int, icc: float):
        from ..library.codebook import load_codebook
        from ..library.specs import load_spec
        from ..survey.simulate import population_model

        spec = load_spec(spec)
        self.spec = spec
        self.cluster_size = int(cluster_size)
        self.icc = float(icc)
        self.items = list(population_model(spec).loadings)
        cb = load_codebook()
        cb = cb.loc[cb["kind"] == "item"]
        self.reverse = {str(r.item): float(int(r.scale_min) + int(r.scale_max)) for r in cb.itertuples(index=False)
                        if int(r.reverse) == 1 and str(r.item) in self.items}

    def __call__(self, clusters: int, rng: np.random.Generator) -> pd.DataFrame:
        """``clusters`` partnerships of ``cluster_size`` respondents."""
        from ..survey.simulate import simulate

        df = simulate(self.spec, None, seed=int(rng.integers(0, 2 ** 63 - 1)), clusters=int(clusters),
                      cluster_size=self.cluster_size, icc=self.icc)
        out = df[self.items].astype(float)
        for item, total in self.reverse.items():
            out[item] = total - out[item]
        out.insert(0, "partnership", df["partnership"].to_numpy())
        return out


def _check_clusters(clusters: Any) -> list[int]:
    return _whole_numbers(clusters, name="clusters", unit="number of partnerships", least=2,
                          why="cluster-robust SEs need at least 2 partnerships")


def cluster_power(spec: Any, clusters: int | Sequence[int] = (30, 45, 60), *, cluster_size: int | None = None,
                  icc: float | None = None, reps: int = 1000, seed: int | None = None,
                  population: Mapping[Any, float] | None = None, alpha: float = 0.05, n_jobs: int = 1,
                  backend: str = "loky", scheduler: Any = None, progress: bool = False,
                  estimator: str | None = None, base_n: int = DEFAULT_BASE_N) -> "ResultTable":
    """Monte Carlo power of a spec's paths and indirect effects by the number of partnerships.

    ``power(spec, clusters=[30, 45, 60], cluster_size=12, icc=0.15)`` calls this. Each
    replicate draws, per K, two-level data of K partnerships x ``cluster_size``
    respondents (:class:`ClusterGenerator`, i.e. :func:`asymtrust.simulate` with
    ``clusters=``) and fits the spec's single-level model with cluster-robust MLR: the
    estimates and SEs of ``asymtrust.fit(spec, data, cluster="partnership",
    estimator="MLR")`` (lavaan's ``robust.cluster`` sandwich: case-wise scores summed
    within partnerships), warm-started as in :func:`simulate_power`. Wald tests,
    bias and coverage are as there.

    Parameters
    ----------
    spec : ModelSpec or str
        A single-level spec with population values.
    clusters : int or sequence of int
        Candidate numbers of partnerships K (each >= 2).
    cluster_size : int
        Respondents per partnership m (balanced design; required).
    icc : float, optional
        ICC of every item's latent response, in (0, 1) (default 0.15, as ``simulate``).
    estimator : {None, "MLR"}
        Only MLR (cluster-robust); anything else is refused.
    reps, seed, population, alpha, n_jobs, backend, scheduler, progress, base_n
        As :func:`power` and :func:`simulate_power`.

    Returns
    -------
    pandas.DataFrame
        :func:`simulate_power`'s table with ``clusters``, ``cluster_size`` first and
        ``design_effect`` (1 + (m - 1) ICC), ``effective_n`` (K m / design effect) after
        ``n`` (= K m). ``attrs["smallest_clusters"]`` maps each parameter to the smallest K
        with power >= 0.80 (None if none), ``attrs["smallest_n"]`` the same as K m;
        ``attrs`` also records ``cluster_size``, ``icc``, ``design_effect`` and
        ``unit = "partnerships"``.

    Raises
    ------
    OptionError
        ``cluster_size`` missing or not one integer >= 1, an ``icc`` outside (0, 1), an
        estimator other than MLR, a two-level spec (``level:`` blocks), a dyadic spec or
        one with a latent interaction, a run that would not fit in memory, and the options
        :func:`simulate_power` refuses.
    ResourceLimitError
        ``reps`` above ``ASYMTRUST_MAX_REPLICATES``.
    InsufficientDataError
        K x m below the number of free parameters.
    """
    from ..library.specs import load_spec
    from ..survey.simulate import DEFAULT_ICC

    ks = _check_clusters(clusters)
    if cluster_size is None:
        raise OptionError("power(clusters=) needs cluster_size= (respondents per partnership)")
    if isinstance(cluster_size, bool) or not isinstance(cluster_size, (numbers.Integral, np.integer)) \
            or int(cluster_size) < 1:
        raise OptionError(f"cluster_size must be one whole number >= 1 of respondents per partnership (a balanced "
                          f"design), not {cluster_size!r}")
    m = int(cluster_size)
    icc = DEFAULT_ICC if icc is None else icc
    if isinstance(icc, bool) or not isinstance(icc, numbers.Real) or not 0.0 < float(icc) < 1.0:
        raise OptionError(f"icc must be one number in (0, 1) (the items' latent-response ICC), not {icc!r}")
    icc = float(icc)
    est_name = "MLR" if estimator is None else str(estimator).upper()
    if est_name != "MLR":
        raise OptionError(f"power(clusters=) with estimator={estimator!r} is not supported: planning in clusters "
                          "uses cluster-robust MLR, as fit(..., cluster='partnership', estimator='MLR')")
    reps = check_replicates(reps, name="reps")
    alpha = _check_alpha(alpha)
    if isinstance(base_n, bool) or not isinstance(base_n, (numbers.Integral, np.integer)) or base_n < 2:
        raise OptionError(f"base_n must be an integer >= 2, not {base_n!r}")
    if isinstance(spec, str) and spec == "apim":
        raise OptionError("power('apim') with clusters= is not supported: the APIM plans in dyads (n= partnerships)")
    spec = load_spec(spec)
    if spec.dyadic:
        raise OptionError(f"power(clusters=) for the dyadic spec {spec.name!r} is not supported")
    if re.search(r"^\s*level\s*:", str(spec.syntax or ""), re.IGNORECASE | re.MULTILINE):
        raise OptionError(f"power(clusters=) for the two-level spec {spec.name!r} (level: blocks) is not supported: "
                          "it fits a single-level spec with cluster-robust SEs; use e.g. 'fig1'")
    if spec.interactions:
        raise OptionError(f"power(clusters=) for spec {spec.name!r} with a latent interaction "
                          f"({', '.join(spec.interactions)}) is not supported: two-level data do not keep the "
                          "product's population values")
    spec = _override_spec(spec, population)
    pop = population_targets(spec)
    totals = [k * m for k in ks]
    deff = 1.0 + (m - 1) * icc
    base_seq, rep_seq = replicate_seeds(seed, 2)
    k_base = max(2, math.ceil(max(int(base_n), max(totals)) / m))
    _check_power_memory(spec, totals, reps, k_base * m, n_jobs, option="clusters", value=max(ks))

    generator = ClusterGenerator(spec, m, icc)
    base, problems, usage, npar = _base_fit(spec, generator(k_base, np.random.default_rng(base_seq)),
                                            drop=("partnership",))
    from .provenance import result_table

    small = [t for t in totals if t < npar]
    if small:
        raise InsufficientDataError(f"clusters x cluster_size = {small[0]} respondents is fewer than the {npar} free "
                                    "parameters of the model")
    few = [k for k in ks if k <= npar]
    if few:
        problems.append(f"clusters = {few[0]}: no more partnerships than the {npar} free parameters; the "
                        "cluster-robust information has rank below the number of parameters, and its SEs can be "
                        "unstable (as in lavaan)")
    targets, paths = _targets(base.partable)
    if not targets:
        raise SpecError("the model has no free structural ('~') paths to test")
    engine = _PowerReplicate(generator, ks, _Estimator(base.partable, base.theta, "MLR", targets, paths),
                             cluster="partnership")
    out = run_replicates(engine, reps, seed=rep_seq, n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                         progress=progress, desc="power")
    ok = np.stack([o[0] for o in out])
    vals = np.stack([o[1] for o in out])
    improper = np.stack([o[2] for o in out])
    del out
    for i, k in enumerate(ks):
        problems += _replicate_problems(f"clusters = {k}", ok[:, i], improper[:, i], reps)
        usage.append({"source": f"{reps} replicates of {k} partnerships x {m}", "n_read": reps * totals[i],
                      "n_used": reps * totals[i], "dropped": {}})
    tab = _summarise(totals, targets, {t.name: pop.get(t.name, np.nan) for t in targets}, ok, vals, reps=reps,
                     alpha=alpha,
                     attrs={"reps": reps, "seed": seed, "alpha": alpha, "estimator": "MLR", "base_n": int(base_n),
                            "metric": "std_all", "n_improper": {int(t): int(improper[:, i].sum())
                                                                for i, t in enumerate(totals)},
                            "cluster_size": m, "icc": icc, "design_effect": deff, "unit": "partnerships",
                            "cluster": "partnership", "spec": spec.name})
    by_total = dict(zip(totals, ks))
    tab.insert(0, "cluster_size", m)
    tab.insert(0, "clusters", [by_total[int(t)] for t in tab["n"]])
    at = list(tab.columns).index("n") + 1
    tab.insert(at, "design_effect", deff)
    tab.insert(at + 1, "effective_n", tab["n"] / deff)
    tab.attrs["smallest_clusters"] = {name: (None if v is None else by_total[v])
                                      for name, v in tab.attrs["smallest_n"].items()}
    return result_table(tab, kind="power", warnings=problems, data=usage,
                        title=f"Monte Carlo power in clusters ({reps} replicates per number of partnerships, "
                              f"{m} respondents each, ICC = {icc:g}, design effect {deff:.3g}, cluster-robust MLR, "
                              f"alpha = {alpha:g})")


# ----------------------------------------------------------------------------- dyads (APIM)
#: The APIM's population values (standardized): actor and partner effects per side, the
#: correlation of the two sides' predictors and of their outcomes' residuals.
APIM_KEYS = ("a_A", "p_A", "a_B", "p_B", "cx", "cy")
_APIM_DEFAULTS = {"cx": 0.3, "cy": 0.3}


def _apim_population(population: Mapping[str, Any] | None) -> dict[str, float]:
    if population is not None and not isinstance(population, Mapping):
        raise OptionError(f"population must be a mapping of {', '.join(APIM_KEYS)}, not {type(population).__name__}")
    pop = dict(_APIM_DEFAULTS)
    for key, value in (population or {}).items():
        if key not in APIM_KEYS:
            raise OptionError(f"population: {key!r} is not an APIM value; use {', '.join(APIM_KEYS)} (actor a_ and "
                              "partner p_ effects of sides A and B, the predictors' correlation cx, the outcome "
                              "residuals' correlation cy)")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise OptionError(f"population: the value of {key} must be a finite number, not {value!r}")
        pop[key] = float(value)
    missing = [k for k in APIM_KEYS if k not in pop]
    if missing:
        raise OptionError(f"power('apim') needs the population actor and partner effects: {', '.join(missing)} "
                          "missing (standardized, e.g. population={'a_A': -0.2, 'p_A': -0.1, 'a_B': -0.45, "
                          "'p_B': -0.3})")
    for k in ("cx", "cy"):
        if not -1.0 < pop[k] < 1.0:
            raise OptionError(f"population: {k} = {pop[k]:g} is a correlation; it must lie strictly between -1 and 1")
    return pop


class DyadGenerator:
    """Draw dyadic data (one row per partnership) from the APIM's standardized population
    (picklable, for workers).

    x_A, x_B ~ N(0, 1) with correlation ``cx``; y_A = a_A x_A + p_A x_B + e_A and
    y_B = a_B x_B + p_B x_A + e_B, the residual variances solved so that var(y) = 1 (the
    effects are standardized) and the residuals correlated ``cy``. Columns ``<x>_<side>``,
    ``<y>_<side>``, as :func:`asymtrust.dyads` writes them.

    Raises
    ------
    OptionError
        A side's effects explain all of its outcome's variance (a residual variance <= 0).
    """

    def __init__(self, population: Mapping[str, float], x: str = "x", y: str = "y",
                 sides: Sequence[str] = ("A", "B")):
        pop = _apim_population(population)
        self.pop = pop
        A, B = (str(s) for s in sides)
        self.columns = [f"{x}_{A}", f"{x}_{B}", f"{y}_{A}", f"{y}_{B}"]
        phi = np.array([[1.0, pop["cx"]], [pop["cx"], 1.0]])
        beta = np.array([[pop["a_A"], pop["p_A"]], [pop["p_B"], pop["a_B"]]])
        explained = np.diag(beta @ phi @ beta.T)
        psi_var = 1.0 - explained
        for s, v in zip((A, B), psi_var):
            if v <= 1e-8:
                raise OptionError(f"population: side {s}'s actor and partner effects explain {1 - v:.3g} of its "
                                  "outcome's variance (R^2 must be below 1)")
        sd = np.sqrt(psi_var)
        psi = np.array([[psi_var[0], pop["cy"] * sd[0] * sd[1]], [pop["cy"] * sd[0] * sd[1], psi_var[1]]])
        cov = np.zeros((4, 4))
        cov[:2, :2] = phi
        cov[:2, 2:] = phi @ beta.T
        cov[2:, :2] = beta @ phi
        cov[2:, 2:] = beta @ phi @ beta.T + psi
        self.cov = cov
        self.residual_var = {A: float(psi_var[0]), B: float(psi_var[1])}
        self._chol = np.linalg.cholesky(cov)

    def __call__(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """``n`` partnerships."""
        z = rng.standard_normal((int(n), 4))
        return pd.DataFrame(z @ self._chol.T, columns=self.columns)


def _apim_analytic_power(effect: float, residual_var: float, cx: float, n: int, alpha: float) -> float:
    """Large-sample power of the Wald z test of one APIM path: var(b) = psi / (N (1 - cx^2))
    for a regression on two standardized predictors correlated cx (ML, random x)."""
    from scipy import stats as _st

    se = math.sqrt(residual_var / (n * (1.0 - cx * cx)))
    z = float(_st.norm.ppf(1.0 - alpha / 2.0))
    d = abs(effect) / se
    return float(_st.norm.cdf(d - z) + _st.norm.cdf(-d - z))


def apim_power(n: int | Sequence[int] = (50, 100, 150, 200), *, population: Mapping[str, float] | None = None,
               x: str = "x", y: str = "y", sides: Sequence[str] = ("A", "B"), reps: int = 1000,
               seed: int | None = None, alpha: float = 0.05, n_jobs: int = 1, backend: str = "loky",
               scheduler: Any = None, progress: bool = False, estimator: str = "ML") -> "ResultTable":
    """Monte Carlo power of the APIM's actor and partner effects by the number of partnerships.

    Each replicate draws ``n`` partnerships from the standardized population of
    :class:`DyadGenerator` and fits the APIM for distinguishable dyads (the model of
    :func:`asymtrust.apim`: y_A ~ x_A + x_B, y_B ~ x_B + x_A, x_A ~~ x_B, y_A ~~ y_B, random
    x; the saturated means do not touch the paths and are left out) with the engine; each
    effect's Wald test is counted as in :func:`simulate_power`.

    Parameters
    ----------
    n : int or sequence of int
        Numbers of partnerships (each >= 10, the APIM's free parameters).
    population : mapping
        Standardized values: ``a_A``, ``p_A``, ``a_B``, ``p_B`` (actor and partner effects
        on side A's and side B's outcome; required), ``cx`` and ``cy`` (the two sides'
        predictor correlation and outcome residual correlation; default 0.3 each).
    x, y, sides
        Names in the table (``<x>_<side>``); default ``x``, ``y`` and sides A, B.

    Returns
    -------
    pandas.DataFrame
        :func:`simulate_power`'s table (``n`` = partnerships) for the four paths, with
        ``effect`` (actor/partner), ``side`` (the side whose outcome it is) and
        ``power_analytic``: the large-sample power of the same z test, Φ(δ − z) + Φ(−δ − z)
        with δ = |b| √(N (1 − cx²) / ψ), ψ the side's residual variance; the Monte Carlo
        power agrees with it within its ``power_mcse`` once N is moderate.
        ``attrs["unit"] = "partnerships"``, ``attrs["population_apim"]``.

    Raises
    ------
    OptionError
        A missing or unknown population value, a correlation outside (-1, 1), effects whose
        R² reaches 1, and the options :func:`simulate_power` refuses.

    In R: ``simsem::sim(nRep, model = apim, n = N, generate = pop)`` with ``lavaan`` fits.
    """
    A, B = (str(s) for s in sides)
    gen = DyadGenerator(population, x=x, y=y, sides=(A, B))
    pop = gen.pop
    xA, xB, yA, yB = gen.columns
    model = "\n".join([f"{yA} ~ {xA} + {xB}", f"{yB} ~ {xB} + {xA}", f"{xA} ~~ {xB}", f"{yA} ~~ {yB}"])
    meaning = {f"{yA}~{xA}": ("actor", A, "a_A"), f"{yA}~{xB}": ("partner", A, "p_A"),
               f"{yB}~{xB}": ("actor", B, "a_B"), f"{yB}~{xA}": ("partner", B, "p_B")}
    tab = simulate_power(model, gen, n, reps=reps, seed=seed, population={k: pop[v[2]] for k, v in meaning.items()},
                         alpha=alpha, n_jobs=n_jobs, backend=backend, scheduler=scheduler, progress=progress,
                         estimator=estimator, fixed_x=False)
    tab.insert(2, "effect", [meaning[p][0] for p in tab["parameter"]])
    tab.insert(3, "side", [meaning[p][1] for p in tab["parameter"]])
    tab["power_analytic"] = [
        _apim_analytic_power(pop[meaning[p][2]], gen.residual_var[meaning[p][1]], pop["cx"], int(nn),
                             float(tab.attrs["alpha"]))
        for p, nn in zip(tab["parameter"], tab["n"])]
    tab.attrs["unit"] = "partnerships"
    tab.attrs["population_apim"] = dict(pop)
    tab.attrs["spec"] = "apim"
    return tab


class _CallableModule(types.ModuleType):
    """Let ``asymtrust.power(...)`` work even after this submodule has been imported.

    Importing ``asymtrust.power`` (the module) binds the package attribute
    ``asymtrust.power`` to the module, shadowing the lazily exported function of the
    same name; calling the module calls :func:`power`.
    """

    def __call__(self, *args, **kwargs):
        return power(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
