"""Simulate 7-point Likert survey data from a model spec's population values.

The data-generating model is the spec's structural model in a standardized
metric (``specs/README.md``, section *population*):

1. exogenous latents ~ N(mu_g, Phi) (unit variances, correlations from
   ``[population.correlations]``, mean shifts from ``[population.groups.<g>.means]``);
2. a latent interaction (``[interactions]``) is the product of its two centred
   latents: variance 1 + r**2, uncorrelated with every other exogenous latent;
3. endogenous latents follow ``eta = alpha + B eta + zeta``, the disturbance
   variances chosen so that every non-interaction latent has variance 1 in each
   group (the paths are then standardized coefficients) and the disturbance
   covariances given by ``[population.residual_correlations]``;
4. each item's latent response is ``lambda * eta + sqrt(1 - lambda**2) * e``, cut
   at the six thresholds into codes 1..7;
5. reverse-keyed items are written as the respondent would answer them
   (``8 - x``), and an optional MCAR fraction of item cells is blanked.

In R the continuous part corresponds to ``lavaan::simulateData()`` on the syntax
from :func:`population_syntax`; the Likert cut and the reverse keying are
asymtrust's.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..library.codebook import SECTOR_LEVELS, load_codebook
from ..exceptions import OptionError, SpecError
from ..library.specs import ModelSpec, load_spec

__all__ = ["simulate", "population_moments", "population_syntax", "PopulationModel", "population_model"]

_PSI_TOL = 1e-13
#: ICC of every item's latent response in ``simulate(clusters=...)`` unless ``icc=`` says otherwise.
DEFAULT_ICC = 0.15


@dataclass(frozen=True)
class PopulationModel:
    """The population of a spec in one group, in matrix form.

    Attributes
    ----------
    latents : list[str]
        All latents, spec order.
    exogenous, endogenous : list[str]
        Exogenous latents (interactions included) and endogenous latents in a
        causal (topological) order.
    beta : numpy.ndarray
        ``beta[i, j]`` is the effect of latent j on latent i.
    psi : numpy.ndarray
        Covariance of exogenous latents and endogenous disturbances.
    alpha : numpy.ndarray
        Means of exogenous latents / intercepts of endogenous latents.
    cov : numpy.ndarray
        Implied latent covariance ``(I - B)^-1 Psi (I - B)^-T``.
    loadings : dict[str, tuple[str, float]]
        Item -> (latent, standardized loading) for the simulated items.
    thresholds : dict[str, numpy.ndarray]
        Item -> cut points on the latent-response scale.
    interactions : dict[str, tuple[str, str]]
    group : str or None
    """

    latents: list[str]
    exogenous: list[str]
    endogenous: list[str]
    beta: np.ndarray
    psi: np.ndarray
    alpha: np.ndarray
    cov: np.ndarray
    loadings: dict[str, tuple[str, float]]
    thresholds: dict[str, np.ndarray]
    interactions: dict[str, tuple[str, str]]
    group: str | None

    @property
    def mean(self) -> np.ndarray:
        """Implied latent means ``(I - B)^-1 alpha``."""
        k = len(self.latents)
        return np.linalg.solve(np.eye(k) - self.beta, self.alpha)


def _topological(endo: list[str], preds: dict[str, list[str]], name: str) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(v: str, stack: tuple[str, ...]) -> None:
        if state.get(v) == 2:
            return
        if state.get(v) == 1:
            raise SpecError(f"spec {name!r}: population model is not recursive ({' -> '.join(stack + (v,))}); "
                            "simulate supports recursive models only")
        state[v] = 1
        for p in preds.get(v, []):
            if p in preds:
                visit(p, stack + (v,))
        state[v] = 2
        order.append(v)

    for v in endo:
        visit(v, ())
    return order


def _merged(base: Mapping, over: Mapping) -> dict[str, dict[str, float]]:
    out = {k: dict(v) for k, v in base.items()}
    for k, v in over.items():
        out.setdefault(k, {}).update(v)
    return out


def _sym_lookup(table: Mapping, a: str, b: str) -> float | None:
    if b in table.get(a, {}):
        return float(table[a][b])
    if a in table.get(b, {}):
        return float(table[b][a])
    return None


def _check_group(spec: ModelSpec, group: str | None) -> None:
    if group is not None and group not in SECTOR_LEVELS:
        raise OptionError(f"group {group!r} is not a sector; allowed: {', '.join(SECTOR_LEVELS)}")


def population_model(spec: ModelSpec | str, group: str | None = None) -> PopulationModel:
    """Build the population model of a spec (base values, or one sector's).

    Parameters
    ----------
    spec : ModelSpec or str
        A spec or a bundled spec name.
    group : str, optional
        A sector (``nhs``, ``council``, ``voluntary``) whose
        ``[population.groups.<sector>]`` overrides are applied.

    Raises
    ------
    SpecError
        If the spec has no population values, a regression has no value, the
        latent correlations are not positive definite, or a latent would need a
        negative disturbance variance (R**2 >= 1).
    OptionError
        If ``group`` is not a sector.
    """
    spec = load_spec(spec)
    _check_group(spec, group)
    pop = spec.population
    if not pop or not pop.get("loadings"):
        raise SpecError(f"spec {spec.name!r} has no [population] values; simulate needs them (specs/README.md)")
    gpop = pop.get("groups", {}).get(group, {}) if group is not None else {}
    where = f"spec {spec.name!r}" + (f" (group {group})" if group else "")

    latents = spec.latents()
    idx = {lv: i for i, lv in enumerate(latents)}
    k = len(latents)
    paths = _merged(pop.get("paths", {}), gpop.get("paths", {}))
    preds: dict[str, list[str]] = {}
    beta = np.zeros((k, k))
    for lhs, rhs in spec.regressions():
        if lhs not in idx or rhs not in idx:
            raise SpecError(f"{where}: {lhs} ~ {rhs} involves an observed variable; simulate needs latent paths only")
        val = paths.get(lhs, {}).get(rhs)
        if val is None:
            raise SpecError(f"{where}: [population.paths.{lhs}] has no value for {rhs}")
        beta[idx[lhs], idx[rhs]] = float(val)
        preds.setdefault(lhs, []).append(rhs)
    endo = _topological([lv for lv in latents if lv in preds], preds, spec.name)
    exo = [lv for lv in latents if lv not in preds]
    inter = dict(spec.interactions)
    for lv, (a, b) in inter.items():
        for x in (lv, a, b):
            if x in preds:
                raise SpecError(f"{where}: interaction {lv} = {a} x {b} needs exogenous latents; {x} is endogenous")

    # exogenous block
    cors = _merged(pop.get("correlations", {}), gpop.get("correlations", {}))
    plain = [lv for lv in exo if lv not in inter]
    phi = np.eye(len(plain))
    for i, a in enumerate(plain):
        for j in range(i + 1, len(plain)):
            r = _sym_lookup(cors, a, plain[j])
            if r is not None:
                phi[i, j] = phi[j, i] = r
    for lv in inter:
        for other in latents:
            if _sym_lookup(cors, lv, other) is not None:
                raise SpecError(f"{where}: interaction {lv} cannot have a population correlation (with {other})")
    if np.linalg.eigvalsh(phi).min() <= 1e-10:
        raise SpecError(f"{where}: [population.correlations] of {', '.join(plain)} are not positive definite")
    psi = np.zeros((k, k))
    for i, a in enumerate(plain):
        for j, b in enumerate(plain):
            psi[idx[a], idx[b]] = phi[i, j]
    for lv, (a, b) in inter.items():
        r = phi[plain.index(a), plain.index(b)]
        psi[idx[lv], idx[lv]] = 1.0 + r * r

    # endogenous disturbances: solve the variances so that var(eta) = 1
    rcors = _merged(pop.get("residual_correlations", {}), gpop.get("residual_correlations", {}))
    rmat = np.eye(len(endo))
    for i, a in enumerate(endo):
        for j in range(i + 1, len(endo)):
            r = _sym_lookup(rcors, a, endo[j])
            if r is not None:
                rmat[i, j] = rmat[j, i] = r
    for a, sub in rcors.items():
        for b in sub:
            if a not in endo or b not in endo:
                raise SpecError(f"{where}: residual correlation {a} ~~ {b} needs two endogenous latents")
    if endo and np.linalg.eigvalsh(rmat).min() <= 1e-10:
        raise SpecError(f"{where}: [population.residual_correlations] are not positive definite")
    eidx = [idx[lv] for lv in endo]
    inv = np.linalg.inv(np.eye(k) - beta)
    d = np.ones(len(endo))

    def implied(dvec: np.ndarray) -> np.ndarray:
        sd = np.sqrt(dvec)
        psi[np.ix_(eidx, eidx)] = rmat * np.outer(sd, sd)
        return inv @ psi @ inv.T

    cov = implied(d)
    for _ in range(200):  # Gauss-Seidel in causal order: one sweep suffices without cross-lagged residuals
        for j in range(len(endo)):
            d[j] += 1.0 - implied(d)[eidx[j], eidx[j]]
            if d[j] <= 1e-8:
                raise SpecError(f"{where}: the population paths explain all the variance of {endo[j]} "
                                "(R^2 >= 1); reduce [population.paths] or the correlations")
        cov = implied(d)
        if np.all(np.abs(1.0 - np.diag(cov)[eidx]) < _PSI_TOL):
            break
    else:  # pragma: no cover - converges for recursive models
        raise SpecError(f"{where}: disturbance variances did not converge")

    # means / intercepts
    means = _merged({"_": pop.get("means", {})}, {"_": gpop.get("means", {})})["_"]
    alpha = np.zeros(k)
    for lv, v in means.items():
        if lv in inter:
            raise SpecError(f"{where}: interaction {lv} cannot have a mean shift")
        alpha[idx[lv]] = float(v)

    # measurement
    loads = pop.get("loadings", {})
    ths = pop.get("thresholds", {})
    products = set(spec.product_indicators())
    owner: dict[str, str] = {}
    for lv, inds in spec.constructs.items():
        for item in inds:
            if item in idx or item in products:
                continue
            if item in owner:
                raise SpecError(f"{where}: item {item} loads on {owner[item]} and {lv}; "
                                "population values support one latent per item")
            owner[item] = lv
    loadings: dict[str, tuple[str, float]] = {}
    thresholds: dict[str, np.ndarray] = {}
    for item, lv in owner.items():
        if lv in inter:
            continue
        if item not in loads:
            raise SpecError(f"{where}: [population.loadings] has no value for {item}")
        loadings[item] = (lv, float(loads[item]))
        cuts = ths.get(item, ths.get(lv, ths.get("default")))
        if cuts is None:
            raise SpecError(f"{where}: [population.thresholds] has no cut points for {item} (add 'default')")
        thresholds[item] = np.asarray(cuts, dtype=float)
    return PopulationModel(latents=latents, exogenous=exo, endogenous=endo, beta=beta, psi=psi, alpha=alpha,
                           cov=cov, loadings=loadings, thresholds=thresholds, interactions=inter, group=group)


def population_moments(spec: ModelSpec | str, group: str | None = None, *,
                       covariance: bool = False) -> pd.DataFrame:
    """Model-implied latent correlation (or covariance) matrix of a spec's population.

    Parameters
    ----------
    spec : ModelSpec or str
    group : str, optional
        Sector whose overrides apply (``None``: the base values).
    covariance : bool
        Return covariances instead of correlations (they differ only for a latent
        interaction, whose variance is 1 + r**2).

    Returns
    -------
    pandas.DataFrame
        Latents x latents, spec order.

    Examples
    --------
    >>> from asymtrust.survey.simulate import population_moments
    >>> R = population_moments("fig1", "council")
    >>> round(float(R.loc["GoodTrust", "GoodTrust"]), 6)
    1.0
    """
    pm = population_model(spec, group)
    mat = pm.cov.copy()
    if not covariance:
        sd = np.sqrt(np.diag(mat))
        mat = mat / np.outer(sd, sd)
    return pd.DataFrame(mat, index=pm.latents, columns=pm.latents)


def _g(v: float) -> str:
    return f"{v:.12g}"


def population_syntax(spec: ModelSpec | str, group: str | None = None) -> str:
    """lavaan syntax with every population value fixed, on the latent-response scale.

    Items are standardized and keyed (reverse items already recoded): loading
    lambda, residual variance 1 - lambda**2. Product indicators of a latent
    interaction get the loadings implied by the product of two standardized
    normal items (standardized product, zero residual covariances). Usable with
    ``lavaan::simulateData()`` or ``lavaan(..., do.fit = FALSE)`` to inspect the
    implied moments.

    Examples
    --------
    >>> from asymtrust.survey.simulate import population_syntax
    >>> "GoodTrust ~ -0.5*CapImb" in population_syntax("fig1", "council")
    True
    """
    spec = load_spec(spec)
    pm = population_model(spec, group)
    idx = {lv: i for i, lv in enumerate(pm.latents)}
    head = f"# population model of {spec.name}" + (f" (group {group})" if group else "")
    lines = [head, "# generated by asymtrust.survey.simulate.population_syntax; all values fixed", ""]
    for lv, inds in spec.constructs.items():
        terms = []
        if lv in pm.interactions:
            a, b = pm.interactions[lv]
            r = pm.cov[idx[a], idx[b]]
            for prod in inds:
                parts = prod.split(".")
                if len(parts) != 2 or parts[0] not in pm.loadings or parts[1] not in pm.loadings:
                    raise SpecError(f"spec {spec.name!r}: product indicator {prod} is not 'itemA.itemB' of {a}, {b}")
                lab = pm.loadings[parts[0]][1] * pm.loadings[parts[1]][1]
                rho = lab * r
                terms.append(f"{_g(lab / math.sqrt(1 + rho * rho))}*{prod}")
        else:
            terms = [f"{_g(pm.loadings[i][1])}*{i}" for i in inds if i in pm.loadings]
        lines.append(f"{lv} =~ " + " + ".join(terms))
    lines.append("")
    for lv in pm.endogenous:
        i = idx[lv]
        terms = [f"{_g(pm.beta[i, idx[r]])}*{r}" for r in pm.latents if pm.beta[i, idx[r]] != 0.0]
        if terms:
            lines.append(f"{lv} ~ " + " + ".join(terms))
    lines.append("")
    exo, endo = pm.exogenous, pm.endogenous
    for block in (exo, endo):
        for a_i, a in enumerate(block):
            lines.append(f"{a} ~~ {_g(pm.psi[idx[a], idx[a]])}*{a}")
            for b in block[a_i + 1:]:
                lines.append(f"{a} ~~ {_g(pm.psi[idx[a], idx[b]])}*{b}")
    for a in exo:
        for b in endo:
            lines.append(f"{a} ~~ 0*{b}")
    lines.append("")
    for lv, inds in spec.constructs.items():
        for item in inds:
            if item in pm.loadings:
                lam = pm.loadings[item][1]
                lines.append(f"{item} ~~ {_g(1 - lam * lam)}*{item}")
            elif lv in pm.interactions:
                a, b = pm.interactions[lv]
                r = pm.cov[idx[a], idx[b]]
                parts = item.split(".")
                lab = pm.loadings[parts[0]][1] * pm.loadings[parts[1]][1]
                rho = lab * r
                lines.append(f"{item} ~~ {_g(1 - lab * lab * (1 + r * r) / (1 + rho * rho))}*{item}")
    means = [(lv, pm.alpha[idx[lv]]) for lv in pm.latents if pm.alpha[idx[lv]] != 0.0]
    if means:
        lines.append("")
        lines += [f"{lv} ~ {_g(v)}*1" for lv, v in means]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- simulate
def _group_shares(groups: None | str | Mapping[str, float] | Sequence[str]) -> tuple[list[str], np.ndarray, bool]:
    """(names, proportions, apply_overrides)."""
    if groups is None:
        return list(SECTOR_LEVELS), np.full(len(SECTOR_LEVELS), 1.0 / len(SECTOR_LEVELS)), False
    if isinstance(groups, str):
        groups = [groups]
    if isinstance(groups, Mapping):
        names = [str(g) for g in groups]
        try:
            shares = np.array([float(v) for v in groups.values()])
        except (TypeError, ValueError) as exc:
            raise OptionError(f"group proportions must be numbers, got {dict(groups)!r}") from exc
    elif isinstance(groups, Sequence):
        names = [str(g) for g in groups]
        shares = np.full(len(names), 1.0 / max(len(names), 1))
    else:
        raise OptionError(f"groups must be None, a sequence of sector names or a mapping name -> proportion, "
                          f"got {type(groups).__name__}")
    if not names:
        raise OptionError("groups must name at least one sector")
    unknown = [g for g in names if g not in SECTOR_LEVELS]
    if unknown:
        raise OptionError(f"unknown group(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(SECTOR_LEVELS)}")
    if len(set(names)) != len(names):
        raise OptionError(f"groups are named twice: {names}")
    if not np.all(np.isfinite(shares)) or np.any(shares <= 0):
        raise OptionError(f"group proportions must be positive, got {dict(zip(names, shares.tolist()))}")
    if abs(shares.sum() - 1.0) > 1e-6:
        raise OptionError(f"group proportions must sum to 1, got {shares.sum():.6g}")
    return names, shares / shares.sum(), True


def _allocate(n: int, shares: np.ndarray) -> np.ndarray:
    """Largest-remainder allocation of n rows to groups."""
    raw = n * shares
    counts = np.floor(raw).astype(int)
    rest = n - counts.sum()
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def simulate(spec: ModelSpec | str, n: int | None, *, seed: int | None,
             missing: float = 0.0,
             groups: None | str | Mapping[str, float] | Sequence[str] = None,
             intercepts: Mapping[str, Mapping[str, float]] | None = None,
             loadings: Mapping[str, Mapping[str, float]] | None = None,
             clusters: int | None = None, cluster_size: int | Sequence[int] | None = None,
             icc: float | Mapping[str, float] = DEFAULT_ICC,
             thresholds: Mapping[str, Sequence[float]] | None = None) -> pd.DataFrame:
    """Simulate Likert survey answers from a spec's population values.

    Parameters
    ----------
    spec : ModelSpec or str
        A spec with ``[population]`` values (all bundled specs have them).
    n : int
        Number of respondents (>= 2).
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same frame.
    missing : float
        Fraction of item cells set missing completely at random, in [0, 1). The
        number of blanked cells is ``round(missing * n * n_items)`` exactly.
    groups : None, sequence or mapping
        ``None``: ``sector`` is drawn uniformly from nhs/council/voluntary and the
        base population values apply to everyone. A sequence of sector names
        (equal shares) or a mapping sector -> proportion (summing to 1): each
        sector gets its ``[population.groups.<sector>]`` overrides (paths,
        correlations, mean shifts). Group sizes are allocated exactly (largest
        remainder) and the rows shuffled.
    intercepts, loadings : mapping sector -> {item: difference}, optional
        Measurement non-invariance: in that sector the item's latent response is shifted
        by the difference (an intercept difference, in latent-response SD units) or its
        loading is changed by it (the error variance stays the base one), e.g.
        ``intercepts={"council": {"cap2": 0.5}}``.
    clusters, cluster_size : int, and int or sequence of ints, optional
        A two-level design: ``clusters`` partnerships of ``cluster_size`` respondents each
        (or one size per partnership). ``n`` is then the total (or ``None``). Each item's
        latent response is its sector's mean + sqrt(1 - icc) x a draw of the sector's
        population (within) + sqrt(icc) x a draw of the base population shared by the
        partnership (between): the within and between structures have the spec's
        standardized values and each item's latent-response ICC is ``icc``. Sectors are
        drawn across all rows as without clusters; each partnership has one organisation
        per sector.
    icc : float or mapping latent -> float
        The ICC(1) of the latent responses of each construct's items, in (0, 1); a mapping
        may name ``"default"`` for the constructs it does not list (else ``DEFAULT_ICC``).
        Used only with ``clusters``.
    thresholds : mapping item -> sequence of float, optional
        An ordinal design's own cut points on the latent-response scale (unit variance),
        replacing the spec's ``[population.thresholds]``: k increasing cut points give the
        codes 1..k+1 (e.g. four cuts for 5-point items; skewed cuts for floor or ceiling
        effects); ``"default"`` applies to every item not listed. Reverse-keyed items are
        written as answered on that scale ((k + 2) - x). ``attrs["thresholds"]`` records
        them; :func:`asymtrust.polychoric` on a large sample recovers them.

    Returns
    -------
    pandas.DataFrame
        ``resp_id`` (1..n), ``sector``, ``partner_sector`` (a different sector,
        uniformly), then the items in codebook order. Items are ``int64`` codes
        1..7 as answered (reverse-keyed items = 8 - keyed answer), or ``float64``
        with NaN when ``missing > 0``. ``df.attrs`` records ``synthetic``,
        ``spec``, ``seed``, ``missing`` and ``groups``. With ``clusters``, ``partnership``
        (1..K) and ``organisation`` (an id unique over partnerships) follow
        ``partner_sector``, and ``attrs`` also records ``clusters``, ``cluster_sizes`` and
        ``icc`` (construct -> ICC).

    Raises
    ------
    OptionError
        For ``n < 2``, ``missing`` outside [0, 1), a bad seed, or unknown /
        badly weighted groups.
    SpecError
        If the spec's population values are missing or inconsistent.

    Examples
    --------
    >>> from asymtrust import simulate
    >>> df = simulate("fig1", 5, seed=1)
    >>> list(df.columns[:5])
    ['resp_id', 'sector', 'partner_sector', 'rol1', 'rol2']
    >>> bool((df["sector"] != df["partner_sector"]).all())
    True
    """
    sizes = None if clusters is None else _cluster_sizes(clusters, cluster_size)
    if clusters is None and cluster_size is not None:
        raise OptionError("cluster_size= needs clusters= (the number of partnerships)")
    if sizes is not None:
        if n is not None and n != int(sizes.sum()):
            raise OptionError(f"n={n!r} but clusters x cluster_size gives {int(sizes.sum())} respondents; "
                              "pass n=None or the total")
        n = int(sizes.sum())
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise OptionError(f"n must be an integer >= 2, got {n!r}")
    n = int(n)
    if isinstance(missing, bool) or not isinstance(missing, numbers.Real) or not 0.0 <= float(missing) < 1.0:
        raise OptionError(f"missing must be a fraction in [0, 1), got {missing!r}")
    missing = float(missing)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise OptionError(f"seed must be a non-negative integer or None, got {seed!r}")
    spec = load_spec(spec)
    names, shares, overrides = _group_shares(groups)
    models = {g: population_model(spec, g if overrides else None) for g in names}

    codebook = load_codebook()
    cb_items = codebook.loc[codebook["kind"] == "item"]
    cb_scale = {r.item: (int(r.scale_min), int(r.scale_max)) for r in cb_items.itertuples(index=False)}
    cb_reverse = {r.item for r in cb_items.itertuples(index=False) if int(r.reverse) == 1}
    sim_items = list(next(iter(models.values())).loadings)
    items = [i for i in cb_scale if i in sim_items] + [i for i in sim_items if i not in cb_scale]
    scale = {i: cb_scale.get(i, (1, 7)) for i in items}
    reverse = [i for i in items if i in cb_reverse]
    cuts = _threshold_overrides(thresholds, items) if thresholds is not None else {}
    if cuts:  # the design's own categories: k cut points -> codes 1..k+1, in every group
        scale.update({i: (1, len(c) + 1) for i, c in cuts.items()})
        models = {g: dataclasses.replace(pm, thresholds={**pm.thresholds, **cuts}) for g, pm in models.items()}
    from .._resources import check_memory

    # latent scores, normal draws, codes and the frame: about 6 float arrays per cell
    check_memory(n * (len(items) + 2 * len(next(iter(models.values())).loadings) + 3) * 8 * 6, option="n",
                 value=n, what=f"the simulated data ({n:,} rows)")
    for i in items:
        ncut = scale[i][1] - scale[i][0]
        for pm in models.values():
            if len(pm.thresholds[i]) != ncut:
                raise SpecError(f"spec {spec.name!r}: item {i} needs {ncut} thresholds for its "
                                f"{scale[i][0]}..{scale[i][1]} scale, [population.thresholds] gives "
                                f"{len(pm.thresholds[i])}")

    diffs = {"intercepts": _differences(intercepts, "intercepts", items), "loadings": _differences(loadings, "loadings", items)}
    rng = np.random.default_rng(seed)
    counts = _allocate(n, shares)
    assign = rng.permutation(np.repeat(np.arange(len(names)), counts))
    levels = list(SECTOR_LEVELS)
    sector_idx = np.array([levels.index(names[g]) for g in assign])
    offset = rng.integers(1, len(levels), size=n)
    partner_idx = (sector_idx + offset) % len(levels)

    if sizes is not None:
        iccs = _cluster_iccs(icc, spec)
        cluster = np.repeat(np.arange(sizes.size), sizes)
        codes = _draw_nested(spec, models, names, assign, cluster, sizes.size, iccs, items, scale, rng, diffs)
    else:
        codes = np.empty((n, len(items)), dtype=np.int64)
    for g, name in enumerate(names if sizes is None else ()):
        rows = np.flatnonzero(assign == g)
        if rows.size == 0:
            continue
        codes[rows] = _draw_group(models[name], items, scale, rows.size, rng,
                                  shift=diffs["intercepts"].get(name, {}), dlam=diffs["loadings"].get(name, {}))
    for j, item in enumerate(items):
        if item in reverse:
            lo, hi = scale[item]
            codes[:, j] = lo + hi - codes[:, j]

    data: np.ndarray = codes
    if missing > 0:
        data = codes.astype(float)
        k = int(round(missing * data.size))
        if k:
            cells = rng.choice(data.size, size=k, replace=False)
            data.reshape(-1)[cells] = np.nan

    df = pd.DataFrame(data, columns=items)
    if sizes is not None:
        df.insert(0, "organisation", cluster * len(levels) + sector_idx + 1)
        df.insert(0, "partnership", cluster + 1)
    df.insert(0, "partner_sector", [levels[i] for i in partner_idx])
    df.insert(0, "sector", [levels[i] for i in sector_idx])
    df.insert(0, "resp_id", np.arange(1, n + 1, dtype=np.int64))
    df.attrs.update({"synthetic": True, "spec": spec.name, "seed": seed, "missing": missing,
                     "groups": dict(zip(names, shares.tolist())) if overrides else None})
    if sizes is not None:
        df.attrs.update({"clusters": int(sizes.size), "cluster_sizes": sizes.tolist(), "icc": iccs})
    if cuts:
        df.attrs["thresholds"] = {i: c.tolist() for i, c in cuts.items()}
    return df


#: most cut points ``simulate(thresholds=)`` accepts per item (lavaan's limit is far above a Likert item's)
_MAX_CUTS = 20


def _threshold_overrides(thresholds: object, items: list[str]) -> dict[str, np.ndarray]:
    """``thresholds=`` checked: item (or ``"default"``) -> increasing finite cut points."""
    if not isinstance(thresholds, Mapping):
        raise OptionError(f"thresholds must be a mapping item -> cut points, not {type(thresholds).__name__}")
    unknown = [k for k in thresholds if k != "default" and k not in items]
    if unknown:
        raise OptionError(f"thresholds: {', '.join(map(str, unknown))} is not an item of the spec "
                          f"(items: {', '.join(items)})")
    out: dict[str, np.ndarray] = {}
    for item in items:
        raw = thresholds.get(item, thresholds.get("default"))
        if raw is None:
            continue
        try:
            c = np.asarray([float(v) for v in raw], dtype=float)
        except (TypeError, ValueError):
            raise OptionError(f"thresholds of {item}: a sequence of numbers is needed, not {raw!r}") from None
        if c.size < 1 or c.size > _MAX_CUTS or not np.all(np.isfinite(c)) or np.any(np.diff(c) <= 0):
            raise OptionError(f"thresholds of {item}: 1 to {_MAX_CUTS} finite, strictly increasing cut points are "
                              f"needed, not {list(raw)!r}")
        out[item] = c
    return out


def _differences(value, what: str, items: list[str]) -> dict[str, dict[str, float]]:
    """``intercepts=`` / ``loadings=`` checked: sector -> {item: finite difference}."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise OptionError(f"{what} must map a sector to {{item: difference}}, got {type(value).__name__}")
    out = {}
    for sector, sub in value.items():
        if sector not in SECTOR_LEVELS:
            raise OptionError(f"{what}: unknown sector {sector!r}; allowed: {', '.join(SECTOR_LEVELS)}")
        if not isinstance(sub, Mapping):
            raise OptionError(f"{what}[{sector!r}] must map items to differences")
        for item, d in sub.items():
            if item not in items:
                raise OptionError(f"{what}[{sector!r}]: {item!r} is not an item of the spec")
            if isinstance(d, bool) or not isinstance(d, numbers.Real) or not math.isfinite(float(d)):
                raise OptionError(f"{what}[{sector!r}][{item!r}] must be a finite number, got {d!r}")
        out[str(sector)] = {str(k): float(v) for k, v in sub.items()}
    return out


def _draw_group(pm: PopulationModel, items: list[str], scale: dict[str, tuple[int, int]], m: int,
                rng: np.random.Generator, shift: Mapping[str, float] | None = None,
                dlam: Mapping[str, float] | None = None) -> np.ndarray:
    """Draw m respondents of one group: latents, latent responses (with the group's
    intercept shifts and loading changes), Likert codes."""
    return _cut(_responses(pm, items, m, rng, shift, dlam), pm, items, scale)


def _latents(pm: PopulationModel, m: int, rng: np.random.Generator) -> np.ndarray:
    """m draws of the latents (columns in ``pm.latents`` order)."""
    idx = {lv: i for i, lv in enumerate(pm.latents)}
    eta = np.zeros((m, len(pm.latents)))
    plain = [lv for lv in pm.exogenous if lv not in pm.interactions]
    if plain:
        pi = [idx[lv] for lv in plain]
        chol = np.linalg.cholesky(pm.psi[np.ix_(pi, pi)])
        eta[:, pi] = rng.standard_normal((m, len(pi))) @ chol.T + pm.alpha[pi]
    for lv, (a, b) in pm.interactions.items():
        eta[:, idx[lv]] = (eta[:, idx[a]] - pm.alpha[idx[a]]) * (eta[:, idx[b]] - pm.alpha[idx[b]])
    if pm.endogenous:
        ei = [idx[lv] for lv in pm.endogenous]
        chol = np.linalg.cholesky(pm.psi[np.ix_(ei, ei)])
        zeta = rng.standard_normal((m, len(ei))) @ chol.T
        for j, lv in enumerate(pm.endogenous):  # causal order
            i = idx[lv]
            eta[:, i] = pm.alpha[i] + eta @ pm.beta[i] + zeta[:, j]
    return eta


def _responses(pm: PopulationModel, items: list[str], m: int, rng: np.random.Generator,
               shift: Mapping[str, float] | None = None, dlam: Mapping[str, float] | None = None) -> np.ndarray:
    """m draws of the items' continuous latent responses (unit variance when unshifted)."""
    idx = {lv: i for i, lv in enumerate(pm.latents)}
    eta = _latents(pm, m, rng)
    y = np.empty((m, len(items)))
    err = rng.standard_normal((m, len(items)))
    for j, item in enumerate(items):
        lv, lam = pm.loadings[item]
        d = (dlam or {}).get(item, 0.0)
        y[:, j] = (lam + d) * eta[:, idx[lv]] + math.sqrt(1.0 - lam * lam) * err[:, j] + (shift or {}).get(item, 0.0)
    return y


def _cut(y: np.ndarray, pm: PopulationModel, items: list[str], scale: dict[str, tuple[int, int]]) -> np.ndarray:
    """Latent responses cut at the item thresholds into codes."""
    out = np.empty(y.shape, dtype=np.int64)
    for j, item in enumerate(items):
        out[:, j] = scale[item][0] + np.searchsorted(pm.thresholds[item], y[:, j], side="right")
    return out


# --------------------------------------------------------------------------- nested designs
def _cluster_sizes(clusters, cluster_size) -> np.ndarray:
    """``clusters=K`` with ``cluster_size`` an int (balanced) or K ints (unbalanced), checked."""
    if isinstance(clusters, bool) or not isinstance(clusters, numbers.Integral) or clusters < 2:
        raise OptionError(f"clusters must be an integer >= 2 (the number of partnerships), got {clusters!r}")
    if cluster_size is None:
        raise OptionError("clusters= needs cluster_size= (respondents per partnership: an integer, or one "
                          "integer per partnership)")
    sizes = [cluster_size] * int(clusters) if isinstance(cluster_size, numbers.Integral) else cluster_size
    if not isinstance(sizes, Sequence) and not isinstance(sizes, np.ndarray):
        raise OptionError(f"cluster_size must be an integer or a sequence of integers, got {cluster_size!r}")
    sizes = list(sizes)
    if len(sizes) != int(clusters):
        raise OptionError(f"cluster_size gives {len(sizes)} sizes for clusters={clusters}")
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
        raise OptionError(f"cluster sizes must be integers >= 1, got {cluster_size!r}")
    return np.asarray(sizes, dtype=np.int64)


def _cluster_iccs(icc, spec: ModelSpec) -> dict[str, float]:
    """Latent -> ICC of its items' latent responses: one number, or a mapping latent -> ICC
    (key ``"default"`` for the latents not named; without it they get :data:`DEFAULT_ICC`)."""
    table = dict(icc) if isinstance(icc, Mapping) else {"default": icc}
    default = table.pop("default", DEFAULT_ICC)
    unknown = sorted(set(table) - set(spec.latents()))
    if unknown:
        raise OptionError(f"icc names latent(s) the spec {spec.name!r} does not have: {', '.join(unknown)}")
    out = {lv: table.get(lv, default) for lv in spec.latents()}
    for lv, v in out.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 < float(v) < 1.0:
            raise OptionError(f"icc must be a number in (0, 1), got {v!r} for {lv}")
    return {lv: float(v) for lv, v in out.items()}


def _draw_nested(spec: ModelSpec, models: Mapping[str, PopulationModel], names: list[str], assign: np.ndarray,
                 cluster: np.ndarray, nclusters: int, iccs: Mapping[str, float], items: list[str],
                 scale: dict[str, tuple[int, int]], rng: np.random.Generator, diffs: Mapping) -> np.ndarray:
    """Codes of a two-level design: each item's latent response is its group mean plus
    sqrt(1 - icc) x a within draw (the respondent's sector's population, centred) plus
    sqrt(icc) x a between draw (the base population, centred, one per partnership)."""
    base = population_model(spec)
    zero = dataclasses.replace(base, alpha=np.zeros_like(base.alpha))
    rho = np.array([iccs[zero.loadings[i][0]] for i in items])
    y = np.empty((assign.size, len(items)))
    for g, name in enumerate(names):
        rows = np.flatnonzero(assign == g)
        if rows.size == 0:
            continue
        pm = models[name]
        shift, dlam = diffs["intercepts"].get(name, {}), diffs["loadings"].get(name, {})
        mu = pm.mean
        centre = np.array([(pm.loadings[i][1] + dlam.get(i, 0.0)) * mu[pm.latents.index(pm.loadings[i][0])]
                           + shift.get(i, 0.0) for i in items])
        within = _responses(dataclasses.replace(pm, alpha=np.zeros_like(pm.alpha)), items, rows.size, rng,
                            None, dlam)
        y[rows] = centre + np.sqrt(1.0 - rho) * within
    between = _responses(zero, items, nclusters, rng)
    y += np.sqrt(rho) * between[cluster]
    return _cut(y, base, items, scale)


class _CallableModule(types.ModuleType):
    """Let ``asymtrust.simulate(...)`` work even after this submodule has been imported.

    Importing ``asymtrust.simulate`` (the module) makes Python bind the package
    attribute ``asymtrust.simulate`` to the module, shadowing the lazily exported
    function of the same name. Calling the module calls :func:`simulate`.
    """

    def __call__(self, *args, **kwargs):  # noqa: D102
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
