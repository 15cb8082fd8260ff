"""The resampling engine of asymtrust: bootstrap and Monte Carlo replicates, run
sequentially, on joblib (loky) workers or on a Dask distributed cluster.

Every replicate gets its own random generator, spawned from one seed
(``np.random.SeedSequence(seed).spawn(n)``). Replicate ``i`` therefore sees the same
random stream whatever the number of workers, the backend or the chunking, and the
results for a given seed are identical across ``n_jobs`` and backends. BLAS is pinned
to one thread while replicates run (threadpoolctl, via ``_threads.single_thread_blas``, in every
worker and in the main process), so that workers do not oversubscribe the cores and
floating-point results do not depend on BLAS threading.

Public entry points:

* :func:`run_replicates` -- run ``func(rng)`` for ``n`` replicates, in replicate order;
* :func:`bootstrap_draws` -- nonparametric bootstrap (within groups) of a fitted model:
  the free-parameter vector of every replicate, failed replicates flagged; a model
  fitted with ``cluster=`` is resampled by whole clusters (:func:`draw_clusters`);
* :func:`bootstrap_se` -- bootstrap SEs and percentile CIs for an estimates table (used by
  ``asymtrust.fit(..., se="bootstrap")``);
* :func:`percentile_ci`, :func:`bc_ci` -- bootstrap confidence limits (lavaan's
  ``boot.ci.type = "perc"`` and ``"bca.simple"``).

The number of replicates is limited by the environment variable
``ASYMTRUST_MAX_REPLICATES`` (default 100000). Worker processes are capped at the usable
CPU cores (:func:`usable_cores`; a ``UserWarning`` says so): more processes than cores
only add start-up time and memory. Before any replicate runs, the memory the stored
replicates will take is estimated (:func:`bootstrap_memory`) and compared with
:func:`memory_budget` (half of ``MemAvailable`` in ``/proc/meminfo``, or the
environment variable ``ASYMTRUST_MAX_MEMORY``, e.g. ``512M``, whichever is smaller); an
estimate above it raises :class:`~asymtrust.exceptions.ResourceLimitError` naming the
option (both limits live in :mod:`asymtrust._resources`).
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from .._resources import check_memory, env_positive_int, memory_budget, usable_cores  # noqa: F401 - re-exported
from ..exceptions import AsymtrustError, DataError, OptionError, ResourceLimitError

DEFAULT_MAX_REPLICATES = 100_000
BACKENDS = ("loky", "dask")

__all__ = [
    "BootstrapDraws",
    "bc_ci",
    "bootstrap_draws",
    "bootstrap_memory",
    "bootstrap_se",
    "check_memory",
    "check_replicates",
    "cluster_members",
    "draw_clusters",
    "max_replicates",
    "memory_budget",
    "percentile_ci",
    "replicate_seeds",
    "run_replicates",
    "usable_cores",
]


# ----------------------------------------------------------------------------- limits, seeds
def max_replicates() -> int:
    """The largest number of replicates allowed (``ASYMTRUST_MAX_REPLICATES``, default 100000)."""
    return env_positive_int("ASYMTRUST_MAX_REPLICATES", DEFAULT_MAX_REPLICATES, "replicates")


def check_replicates(n: Any, *, name: str = "replicates") -> int:
    """Validate a number of replicates.

    Parameters
    ----------
    n : int
        Requested number of replicates.
    name : str
        Option name used in error messages (``"bootstrap"``, ``"reps"``).

    Returns
    -------
    int

    Raises
    ------
    OptionError
        ``n`` is not a positive integer.
    ResourceLimitError
        ``n`` exceeds ``ASYMTRUST_MAX_REPLICATES``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer, float, np.floating)):
        raise OptionError(f"{name} must be a positive number of replicates, not {n!r}")
    if isinstance(n, (float, np.floating)) and (not np.isfinite(n) or n != int(n)):
        raise OptionError(f"{name} must be a positive whole number of replicates, not {n!r}")
    n = int(n)
    if n <= 0:
        raise OptionError(f"{name} must be a positive number of replicates, not {n}")
    limit = max_replicates()
    if n > limit:
        raise ResourceLimitError(
            f"{name} = {n} replicates exceeds the limit of {limit} (set ASYMTRUST_MAX_REPLICATES to raise it)")
    return n


def replicate_seeds(seed: int | np.random.SeedSequence | None, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed`` (``SeedSequence(seed).spawn(n)``).

    The same ``seed`` always gives the same children (a ``SeedSequence`` passed in is
    copied, so spawning from it twice does not advance it).
    """
    try:
        if isinstance(seed, np.random.SeedSequence):
            root = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
        else:
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
                raise TypeError
            root = np.random.SeedSequence(None if seed is None else int(seed))
    except (TypeError, ValueError):
        raise OptionError(f"seed must be a non-negative integer or None, not {seed!r}") from None
    return root.spawn(int(n))


# ----------------------------------------------------------------------------- workers
def _resolve_jobs(n_jobs: Any, *, local: bool = True) -> int:
    """Worker processes for ``n_jobs`` (``-1``: one per usable core).

    Local workers (loky, or a Dask ``LocalCluster``) are capped at :func:`usable_cores`
    with a ``UserWarning``: on 2 cores, 24 processes cost about 20 times the time and
    2.5 GiB of memory, and give the same numbers. A remote Dask cluster is not capped.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or int(n_jobs) == 0 or int(n_jobs) < -1:
        raise OptionError(f"n_jobs must be a positive integer or -1 (all cores), not {n_jobs!r}")
    n_jobs = int(n_jobs)
    cores = usable_cores()
    if n_jobs == -1:
        return cores
    if local and n_jobs > cores:
        warnings.warn(f"parallel jobs capped from {n_jobs} to {cores}: only {cores} CPU core(s) are usable, "
                      "and more worker processes than cores only cost time and memory", UserWarning, stacklevel=3)
        return cores
    return n_jobs


def _planned_workers(n_jobs: Any) -> int:
    """The workers :func:`run_replicates` will use (for estimates; no warning, no checks)."""
    try:
        n = int(n_jobs)
    except (TypeError, ValueError):
        return 1
    return usable_cores() if n == -1 else max(1, min(n, usable_cores()))


#: bytes a replicate's result costs beyond its numbers (tuple, array header, list slot, joblib buffer)
_REPLICATE_OVERHEAD = 256


def bootstrap_memory(B: int, n_free: int, *, n_extra: int = 0, n_rows: int = 0, n_vars: int = 0,
                     workers: int = 1) -> int:
    """Estimated peak memory (bytes) of a bootstrap of ``B`` replicates.

    Each replicate's parameter vector (``n_free`` values) is held twice (the list of
    results and the stacked ``(B, n_free)`` matrix), plus ``n_extra`` derived values per
    replicate (e.g. the effects computed from it) and a fixed overhead per result; each
    worker also holds one resampled copy of the data (``n_rows x n_vars``) and the rows
    it draws from.
    """
    per_rep = 8 * (2 * int(n_free) + 2 * int(n_extra)) + _REPLICATE_OVERHEAD
    return int(B) * per_rep + 2 * 8 * int(n_rows) * int(n_vars) * max(1, int(workers))


# ----------------------------------------------------------------------------- the engine
def _run_chunk(func: Callable[[np.random.Generator], Any], seeds: Sequence[np.random.SeedSequence]) -> list:
    """Run one chunk of replicates with BLAS pinned to one thread (inside a worker)."""
    from ._threads import single_thread_blas

    with single_thread_blas():  # cached controller: cheap per chunk
        return [func(np.random.default_rng(s)) for s in seeds]


def run_replicates(func: Callable[[np.random.Generator], Any], n: int, *,
                   seed: int | np.random.SeedSequence | None = None, n_jobs: int = 1,
                   backend: str = "loky", scheduler: Any = None, progress: bool = False,
                   chunk_size: int | None = None, desc: str = "replicates") -> list:
    """Run ``func(rng)`` for ``n`` replicates and return the results in replicate order.

    Parameters
    ----------
    func : callable
        ``func(rng) -> result`` with ``rng`` a :class:`numpy.random.Generator`. It must be
        picklable (cloudpickle) to run on workers; expected failures should be caught in
        ``func`` and returned as a result (an exception raised by ``func`` stops the run).
    n : int
        Number of replicates (``1 <= n <= ASYMTRUST_MAX_REPLICATES``).
    seed : int, SeedSequence or None
        Root seed. Replicate ``i`` uses ``default_rng(SeedSequence(seed).spawn(n)[i])``,
        so results are identical for a given seed whatever ``n_jobs``, ``backend`` and
        ``chunk_size``. ``None`` draws fresh entropy (not reproducible).
    n_jobs : int
        Worker processes (``-1``: one per usable core). ``1`` runs in this process. More
        than :func:`usable_cores` local workers are capped there, with a ``UserWarning``
        (a remote Dask scheduler is not capped).
    backend : {"loky", "dask"}
        ``"loky"``: joblib's process pool. ``"dask"``: ``dask.distributed.Client(scheduler)``
        with ``client.map``.
    scheduler : str, distributed.Client, distributed.LocalCluster or None
        Dask only: a scheduler address (``"tcp://10.0.0.5:8786"``), a running ``Client``
        (used as is, not closed) or a cluster object. ``None`` starts a temporary
        ``LocalCluster`` with ``n_jobs`` single-threaded worker processes on 127.0.0.1.
    progress : bool
        Show a tqdm progress bar on stderr.
    chunk_size : int, optional
        Replicates per task (default: ``n`` split into about four tasks per worker).
    desc : str
        Label of the progress bar.

    Returns
    -------
    list
        ``[func(rng_0), ..., func(rng_{n-1})]``.

    Examples
    --------
    >>> from asymtrust.engine.resample import run_replicates
    >>> out = run_replicates(lambda rng: rng.integers(0, 100), 3, seed=1)
    >>> out == run_replicates(lambda rng: rng.integers(0, 100), 3, seed=1, chunk_size=1)
    True
    """
    if not callable(func):
        raise OptionError(f"func must be callable, not {type(func).__name__}")
    n = check_replicates(n, name="replicates")
    if backend not in BACKENDS:
        raise OptionError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    workers = _resolve_jobs(n_jobs, local=backend != "dask" or scheduler is None)
    if chunk_size is None:
        chunk_size = max(1, math.ceil(n / (4 * workers))) if (workers > 1 or backend == "dask") else max(1, math.ceil(n / 100))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise OptionError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    seeds = replicate_seeds(seed, n)
    chunks = [seeds[i:i + int(chunk_size)] for i in range(0, n, int(chunk_size))]

    from tqdm.auto import tqdm

    out: list = []
    with tqdm(total=n, disable=not progress, desc=desc, unit="rep", leave=False) as bar:
        if backend == "dask":
            for res in _run_dask(func, chunks, workers, scheduler, bar):
                out.extend(res)
        elif workers == 1:
            for chunk in chunks:
                out.extend(_run_chunk(func, chunk))
                bar.update(len(chunk))
        else:
            from joblib import Parallel, delayed, parallel_config

            with parallel_config(backend="loky", n_jobs=workers, inner_max_num_threads=1):
                results = Parallel(return_as="generator")(delayed(_run_chunk)(func, c) for c in chunks)
                for chunk, res in zip(chunks, results):
                    out.extend(res)
                    bar.update(len(chunk))
    return out


def _run_dask(func, chunks, workers, scheduler, bar) -> list:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - dask is an optional dependency
        raise OptionError("backend='dask' needs dask.distributed: pip install 'asymtrust[dask]'") from None
    owned: list = []
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        owned.append(cluster)
        client = Client(cluster)
        owned.insert(0, client)
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise OptionError(f"cannot connect to the Dask scheduler {scheduler!r}: {exc}") from None
        owned.append(client)
    try:
        futures = client.map(_run_chunk, [func] * len(chunks), chunks, pure=False)
        sizes = {f.key: len(c) for f, c in zip(futures, chunks)}
        for fut in as_completed(futures):
            bar.update(sizes[fut.key])
        return client.gather(futures)
    finally:
        for obj in owned:
            obj.close()


# ----------------------------------------------------------------------------- confidence limits
def _interp_quantiles(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Bootstrap quantiles interpolated on the normal scale (Davison & Hinkley 1997,
    eq. 5.8; what ``boot`` and lavaan use): the order statistic ``(R + 1) alpha``, and
    between two order statistics linear interpolation in ``qnorm(k / (R + 1))``."""
    t = np.sort(t[np.isfinite(t)])
    R = t.size
    alpha = np.atleast_1d(np.asarray(alpha, float))
    out = np.full(alpha.shape, np.nan)
    if R == 0:
        return out
    rk = (R + 1) * alpha
    k = np.floor(rk + 1e-10 * np.abs(rk)).astype(int)
    for i, (a, r, kk) in enumerate(zip(alpha, rk, k)):
        if kk <= 0:
            out[i] = t[0]
        elif kk >= R:
            out[i] = t[-1]
        elif abs(r - kk) <= 1e-10 * max(1.0, abs(r)):
            out[i] = t[kk - 1]
        else:
            z, z0, z1 = special.ndtri(np.array([a, kk / (R + 1), (kk + 1) / (R + 1)]))
            out[i] = t[kk - 1] + (z - z0) / (z1 - z0) * (t[kk] - t[kk - 1])
    return out


def percentile_ci(t: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the replicate values ``t`` (lavaan ``"perc"``).

    In R: ``parameterEstimates(fit, boot.ci.type = "perc")``.
    """
    a = (1.0 - level) / 2.0
    lo, hi = _interp_quantiles(np.asarray(t, float), np.array([a, 1.0 - a]))
    return float(lo), float(hi)


def bc_ci(t: np.ndarray, t0: float, level: float = 0.95) -> tuple[float, float]:
    """Bias-corrected percentile interval (lavaan ``"bca.simple"``: BCa with acceleration 0).

    The bias correction is ``z0 = qnorm(mean(t < t0))``; the limits are the percentile
    limits at ``pnorm(2 z0 + qnorm(alpha))``.
    """
    t = np.asarray(t, float)
    t = t[np.isfinite(t)]
    if t.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    with np.errstate(divide="ignore"):
        z0 = special.ndtri(np.mean(t < t0))
    adj = special.ndtr(2.0 * z0 + special.ndtri(np.array([a, 1.0 - a])))
    lo, hi = _interp_quantiles(t, adj)
    return float(lo), float(hi)


# ----------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class BootstrapDraws:
    """Free-parameter vectors of the bootstrap replicates of one fitted model.

    Attributes
    ----------
    theta : ndarray, shape (B, n_free)
        One row per replicate, in replicate order; all-NaN for a failed replicate.
    converged : ndarray of bool, shape (B,)
        False when the replicate failed (no convergence, no usable sample, estimation error).
    B : int
        Replicates requested.
    seed : int or None
    """

    theta: np.ndarray
    converged: np.ndarray
    B: int
    seed: Any = None

    @property
    def n_failed(self) -> int:
        """Replicates that failed (left out of SEs and CIs, and reported)."""
        return int((~self.converged).sum())

    @property
    def n_ok(self) -> int:
        return int(self.converged.sum())

    @property
    def ok(self) -> np.ndarray:
        """Parameter vectors of the successful replicates."""
        return self.theta[self.converged]


class _BootReplicate:
    """One bootstrap replicate: resample the cases of every group with replacement (or,
    with ``clusters``, whole clusters: :func:`draw_clusters`) and re-estimate with a warm
    start (picklable, so it runs on loky and Dask workers)."""

    def __init__(self, result: Any, rows: list[np.ndarray], ov: list[str], group: str | None,
                 labels: list[str] | None, clusters: list[list[np.ndarray]] | None = None):
        self.result = result
        self.rows = rows
        self.ov = ov
        self.group = group
        self.labels = labels
        self.clusters = clusters

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
        from .refit import refit_arrays  # looked up per call: a patched refit_arrays is seen

        if self.clusters is None:
            parts = [X[rng.integers(0, X.shape[0], X.shape[0])] for X in self.rows]
        else:
            parts = [X[draw_clusters(members, rng)[0]] for X, members in zip(self.rows, self.clusters)]
        K = len(self.result.theta)
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = refit_arrays(self.result, parts)
        except (AsymtrustError, np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            return np.full(K, np.nan), False
        theta = np.asarray(r.theta, float)
        ok = bool(r.converged) and theta.shape == (K,) and bool(np.all(np.isfinite(theta)))
        return (theta if ok else np.full(K, np.nan)), ok


# ----------------------------------------------------------------------------- cluster bootstrap
def cluster_members(codes: np.ndarray) -> list[np.ndarray]:
    """Row positions of each cluster of one group, clusters in ascending code order
    (codes number the clusters in order of first appearance in the data), rows in the
    order of the group's sample."""
    codes = np.asarray(codes, np.int64)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]]) if codes.size else np.empty(0, int)
    return np.split(order, starts[1:])


def draw_clusters(members: Sequence[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One cluster-bootstrap draw of one group: ``j = rng.integers(0, nC, nC)`` (``nC``
    clusters, drawn with replacement); the rows are those of cluster ``j[0]``, then of
    ``j[1]``, ... (whole clusters), and every row of the k-th drawn cluster gets the new
    cluster identifier ``k``, so a cluster drawn twice counts as two clusters.

    Returns ``(rows, codes)``: row positions into the group's sample and their new codes.
    """
    nC = len(members)
    j = rng.integers(0, nC, nC)
    picked = [members[k] for k in j]
    sizes = np.fromiter((m.size for m in picked), dtype=np.int64, count=nC)
    return np.concatenate(picked), np.repeat(np.arange(nC, dtype=np.int64), sizes)


def _sample_rows(samples: Sequence[Any], p: int) -> list[np.ndarray] | None:
    """The cases behind each group's sample statistics (NaN = missing), or None when the
    samples do not keep their rows."""
    rows = []
    for s in samples:
        if not getattr(s, "missing", False):
            X = getattr(s, "X", None)
            if X is None:
                return None
            rows.append(np.asarray(X, float))
            continue
        pats = getattr(s, "patterns", None) or []
        if not pats or any(getattr(pt, "X", None) is None for pt in pats):
            return None
        blocks = []
        for pt in pats:
            M = np.full((pt.n, p), np.nan)
            M[:, np.asarray(pt.obs, int)] = pt.X
            blocks.append(M)
        rows.append(np.vstack(blocks))
    return rows


def bootstrap_draws(result: Any, B: int = 1000, *, seed: int | None = None, n_jobs: int = 1,
                    backend: str = "loky", scheduler: Any = None, progress: bool = False,
                    data: pd.DataFrame | None = None) -> BootstrapDraws:
    """Nonparametric bootstrap of a fitted model (cases, or whole clusters, resampled within groups).

    Each replicate draws ``N_g`` cases with replacement from the cases group ``g`` used
    (after listwise deletion, or all non-empty rows under FIML) and re-estimates with
    :func:`asymtrust.engine.refit.refit_arrays`, warm-started at the full-sample estimates. Replicates
    that fail or do not converge are flagged in ``converged`` (and counted in
    ``n_failed``), never dropped silently.

    A single-level model fitted with ``cluster=`` is bootstrapped by whole clusters: in
    replicate ``i`` (generator ``default_rng(SeedSequence(seed).spawn(B)[i])``), group by
    group in group order, the ``nC_g`` clusters of the group's rows are drawn with
    replacement, ``j = rng.integers(0, nC_g, nC_g)``, clusters numbered in order of first
    appearance in the data; the replicate's rows are all the rows of cluster ``j[0]``, then
    of ``j[1]``, ... (within a cluster in the order of the fit's sample: data order for
    complete data, missing-data pattern by pattern under FIML), and the k-th drawn cluster becomes
    cluster ``k`` (:func:`draw_clusters`). The estimates do not depend on the cluster
    identifiers, so each replicate is a plain refit of those rows. lavaan 0.6-14 has no
    cluster bootstrap (``se="bootstrap"`` with ``cluster=`` is an error there).

    Parameters
    ----------
    result : FitResult
        A fitted model (anything with ``partable, options, group_labels, theta,
        reparam, samples``).
    B : int
        Replicates (``1 <= B <= ASYMTRUST_MAX_REPLICATES``).
    seed, n_jobs, backend, scheduler, progress
        As :func:`run_replicates`.
    data : DataFrame, optional
        The data the model was fitted to; only needed when the fit keeps no raw rows (a
        fit with ordered items keeps only its first stage: pass the data). A replicate of
        such a fit recomputes the first stage on its rows
        (:func:`asymtrust.engine.refit.refit_arrays`); one in which an item lacks a
        category fails, as in lavaan.

    Returns
    -------
    BootstrapDraws

    Raises
    ------
    OptionError
        The stored replicates would take more than :func:`memory_budget`
        (estimated by :func:`bootstrap_memory` before any replicate runs).

    In R: ``lavaan::bootstrapLavaan(fit, R = B, FUN = coef)``.
    """
    B = check_replicates(B, name="bootstrap")
    pt = result.partable
    ov = list(pt.ov_names)
    opts = dict(getattr(result, "options", {}) or {})
    cluster = opts.get("cluster")
    if cluster is not None and int(getattr(pt, "nlevels", 1) or 1) > 1:
        raise OptionError("the bootstrap of a two-level model (level: blocks) is not supported: a replicate would "
                          "need the two-level estimator; use the delta method (bootstrap=0)")
    if getattr(result.partable, "has_efa", False):
        raise OptionError("the bootstrap of a model with efa() sets (ESEM) is not supported: each replicate would "
                          "need its own rotation; use the delta method (bootstrap=0)")
    if cluster is not None and opts.get("ordered"):
        raise OptionError("the cluster bootstrap of a fit with ordered items is not supported; use the delta "
                          "method (bootstrap=0)")
    group = opts.get("group")
    labels = list(result.group_labels) if getattr(result, "group_labels", None) else None
    samples = list(getattr(result, "samples", None) or [])
    rows = _sample_rows(samples, len(ov)) if samples else None
    if rows is None or (cluster is not None and any(getattr(s, "cluster", None) is None for s in samples)):
        if data is None:
            what = "cluster codes" if rows is not None else "case-level rows"
            raise DataError(f"the fitted model keeps no {what} to resample; pass the data it was fitted to (data=...)")
        from .data import prepare, prepare_blocks
        from .refit import family_for

        ov_x = list(getattr(pt, "ov_x", []) or []) if opts.get("fixed_x", True) else []
        family = family_for(SimpleNamespace(partable=pt, options=opts))
        if opts.get("ordered"):  # ordered items: the rows the first stage used (refit_arrays redoes it)
            rows = prepare_blocks(data, ov, group, family, ov_x)[0]
        else:
            samples, _ = prepare(data, ov, group, family, ov_x, cluster=cluster)
            rows = _sample_rows(samples, len(ov))
        if rows is None:  # pragma: no cover - prepare always keeps rows
            raise DataError("cannot recover the cases of the data for the bootstrap")
    clusters = [cluster_members(s.cluster) for s in samples] if cluster is not None else None
    check_memory(bootstrap_memory(B, len(result.theta), n_rows=max((r.shape[0] for r in rows), default=0),
                                  n_vars=len(ov), workers=_planned_workers(n_jobs)),
                 option="bootstrap", value=B)
    light = SimpleNamespace(partable=pt, options=opts, group_labels=labels,
                            theta=np.asarray(result.theta, float), reparam=result.reparam)
    rep = _BootReplicate(light, rows, ov, group, labels, clusters)
    out = run_replicates(rep, B, seed=seed, n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                         progress=progress, desc="cluster bootstrap" if clusters else "bootstrap")
    theta = np.vstack([o[0] for o in out])
    conv = np.array([o[1] for o in out], dtype=bool)
    return BootstrapDraws(theta=theta, converged=conv, B=B, seed=seed)


def _row_values(pt: Any, samples: Sequence[Any]) -> Callable[[np.ndarray], dict[str, float]]:
    """theta -> {plabel and label: value} for the parameter rows (free rows from theta,
    fixed-x rows from the sample moments, other fixed rows from their fixed value)."""
    tab = pt.table
    rows = tab[tab["op"].isin(["=~", "~", "~~", "~1"])]
    pos = {v: i for i, v in enumerate(pt.ov_names)}
    fixed: dict[str, float] = {}
    free: list[tuple[str, str, int]] = []
    for r in rows.itertuples(index=False):
        label = str(r.label) if isinstance(r.label, str) else ""
        if int(r.free) > 0:
            free.append((str(r.plabel), label, int(r.free) - 1))
            continue
        val = float(r.ustart) if np.isfinite(r.ustart) else 0.0
        if int(getattr(r, "exo", 0)) == 1 and r.lhs in pos:
            s = samples[int(r.group) - 1]
            val = float(s.mean[pos[r.lhs]]) if r.op == "~1" else float(s.cov[pos[r.lhs], pos[r.rhs]])
        fixed[str(r.plabel)] = val
        if label and label not in fixed:
            fixed[label] = val

    def values(theta: np.ndarray) -> dict[str, float]:
        out = dict(fixed)
        for plabel, label, k in free:
            out[plabel] = float(theta[k])
            if label and label not in out:
                out[label] = float(theta[k])
        return out

    return values


def _definitions(pt: Any, samples: Sequence[Any]) -> Callable[[np.ndarray], np.ndarray] | None:
    """theta -> values of the ``:=`` rows of the parameter table (None if there are none)."""
    tab = pt.table
    if not (tab["op"] == ":=").any():
        return None
    values = _row_values(pt, samples)
    funcs = pt.compiled_defined()  # compiled once, in linear time (partable)

    def evaluate(theta: np.ndarray) -> np.ndarray:
        vals = values(theta)
        out = []
        for name, f in funcs:
            vals[name] = f(vals)
            out.append(vals[name])
        return np.array(out, dtype=float)

    return evaluate


def bootstrap_se(est: pd.DataFrame, pt: Any, samples: Sequence[Any], labels: list[str] | None,
                 rep: Any, theta: np.ndarray, miss: str, *, B: int, seed: int | None, syntax: str,
                 data: pd.DataFrame | None, group: str | None, options: dict) -> pd.DataFrame:
    """Bootstrap standard errors and percentile CIs for an estimates table.

    Used by ``asymtrust.fit(..., se="bootstrap", bootstrap=B, seed=S)``, as lavaan's
    ``se = "bootstrap"``: SE of a free parameter = SD of its replicate estimates
    (divisor B, lavaan's ``cov(BOOT) * (B - 1) / B``); SE of a ``:=`` row = SD of its
    replicate values (divisor B - 1, as lavaan); ``ci_lower``/``ci_upper`` = percentile
    limits (lavaan's default ``boot.ci.type = "perc"``); fixed parameters keep SE 0.
    ``z`` and ``pvalue`` use the bootstrap SE.

    Replicates that fail are left out and reported: ``est.attrs["bootstrap"]`` holds
    ``B, n_ok, n_failed, seed`` and a ``RuntimeWarning`` names the count. Options
    ``n_jobs``, ``backend``, ``scheduler`` and ``progress`` are read from ``options``
    when present.

    Returns
    -------
    pandas.DataFrame
        A copy of ``est`` with ``se, z, pvalue, ci_lower, ci_upper`` replaced.
    """
    if isinstance(B, bool) or not isinstance(B, (int, np.integer)) or B <= 0:
        raise OptionError(f"bootstrap must be a positive number of replicates, not {B!r}")
    result = SimpleNamespace(partable=pt, options=dict(options or {}, group=group, missing=miss),
                             group_labels=labels, theta=np.asarray(theta, float), reparam=rep,
                             samples=samples)
    opts = options or {}
    draws = bootstrap_draws(result, B, seed=seed, n_jobs=opts.get("n_jobs", 1),
                            backend=opts.get("backend", "loky"), scheduler=opts.get("scheduler"),
                            progress=bool(opts.get("progress", False)), data=data)
    T = draws.ok
    out = est.copy()
    free = out["free"].fillna(0).astype(int).to_numpy() if "free" in out else np.zeros(len(out), int)
    is_def = (out["op"] == ":=").to_numpy()
    se = np.where(free > 0, np.nan, 0.0)
    lo = out["est"].to_numpy(dtype=float).copy()
    hi = lo.copy()
    se[is_def] = np.nan
    if T.shape[0] >= 2:
        sd = T.std(axis=0, ddof=0)
        m = free > 0
        se[m] = sd[free[m] - 1]
        for i in np.flatnonzero(m):
            lo[i], hi[i] = percentile_ci(T[:, free[i] - 1])
        if is_def.any():
            f = _definitions(pt, list(samples))
            if f is not None:
                D = np.vstack([f(t) for t in T])
                dsd = D.std(axis=0, ddof=1)
                for j, i in enumerate(np.flatnonzero(is_def)):
                    se[i] = dsd[j]
                    lo[i], hi[i] = percentile_ci(D[:, j])
    else:
        lo[(free > 0) | is_def] = np.nan
        hi[(free > 0) | is_def] = np.nan
    out["se"] = se
    with np.errstate(divide="ignore", invalid="ignore"):
        z = out["est"].to_numpy(dtype=float) / se
    z[~(se > 0)] = np.nan
    out["z"] = z
    out["pvalue"] = 2.0 * special.ndtr(-np.abs(z))
    out["ci_lower"] = lo
    out["ci_upper"] = hi
    out.attrs["bootstrap"] = {"B": draws.B, "n_ok": draws.n_ok, "n_failed": draws.n_failed,
                              "seed": seed, "ci": "percentile"}
    if draws.n_failed:
        warnings.warn(f"{draws.n_failed} of {draws.B} bootstrap replicates failed or did not converge; "
                      f"SEs and CIs use the other {draws.n_ok}", RuntimeWarning, stacklevel=3)
    return out
