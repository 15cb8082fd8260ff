"""The resampling engine: seeding, parallel backends (loky, Dask), limits, bootstrap SEs.

References: ``tests/reference/effects/ci.json`` (boot::norm.inter, the interpolation
lavaan uses for bootstrap CIs; script ``ci_cases.R``) and ``pd_boot.json`` (lavaan
``se = "bootstrap"``, 1000 replicates; script ``effects_cases.R``).
"""
from __future__ import annotations

import hashlib
import importlib
import warnings

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.exceptions import DataError, OptionError, ResourceLimitError
from asymtrust.engine.resample import (
    BootstrapDraws,
    bc_ci,
    bootstrap_draws,
    check_replicates,
    max_replicates,
    percentile_ci,
    replicate_seeds,
    run_replicates,
)

# SE of a bootstrap SE is about SE / sqrt(2 B): B = 200 here and 1000 in lavaan give
# about 5.5% relative Monte Carlo error; 15% is the tolerance the issue names.
BOOT_SE_RTOL = 0.15
B_TEST = 200
SEED = 20240611


def _draw(rng: np.random.Generator) -> tuple[int, float]:
    return int(rng.integers(0, 10**9)), float(rng.standard_normal())


def _blas_threads(rng: np.random.Generator) -> int:
    from threadpoolctl import threadpool_info

    info = threadpool_info()
    return max((i["num_threads"] for i in info), default=1)


# ----------------------------------------------------------------------------- seeding
def test_replicate_streams_are_spawned_children_of_the_seed():
    out = run_replicates(_draw, 7, seed=123)
    kids = np.random.SeedSequence(123).spawn(7)
    assert out == [_draw(np.random.default_rng(k)) for k in kids]


def test_same_seed_same_results_whatever_jobs_and_chunks():
    ref = run_replicates(_draw, 23, seed=5)
    assert run_replicates(_draw, 23, seed=5, chunk_size=1) == ref
    assert run_replicates(_draw, 23, seed=5, chunk_size=10) == ref
    assert run_replicates(_draw, 23, seed=5, n_jobs=2, chunk_size=4) == ref
    assert run_replicates(_draw, 23, seed=6) != ref


def test_seed_sequence_argument_is_not_consumed():
    ss = np.random.SeedSequence(99)
    a = [np.random.default_rng(k).random() for k in replicate_seeds(ss, 3)]
    b = [np.random.default_rng(k).random() for k in replicate_seeds(ss, 3)]
    assert a == b


def test_blas_is_pinned_to_one_thread_in_loky_workers_and_in_process():
    assert set(run_replicates(_blas_threads, 4, seed=1, n_jobs=2, chunk_size=1)) == {1}
    assert set(run_replicates(_blas_threads, 2, seed=1)) == {1}


def test_progress_bar_is_written_when_asked(capsys):
    run_replicates(_draw, 5, seed=1, progress=True, desc="resampling")
    assert "resampling" in capsys.readouterr().err
    run_replicates(_draw, 5, seed=1, progress=False, desc="quiet-run")
    assert "quiet-run" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- limits and options
def test_replicate_limit_from_environment(monkeypatch):
    monkeypatch.setenv("ASYMTRUST_MAX_REPLICATES", "10")
    assert max_replicates() == 10
    assert check_replicates(10) == 10
    with pytest.raises(ResourceLimitError, match="11 replicates exceeds the limit of 10"):
        run_replicates(_draw, 11, seed=1)
    monkeypatch.setenv("ASYMTRUST_MAX_REPLICATES", "many")
    with pytest.raises(OptionError, match="ASYMTRUST_MAX_REPLICATES"):
        check_replicates(5)
    monkeypatch.delenv("ASYMTRUST_MAX_REPLICATES")
    assert max_replicates() == 100_000


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True, None])
def test_bad_replicate_counts(bad):
    with pytest.raises(OptionError):
        check_replicates(bad, name="bootstrap")


@pytest.mark.parametrize("kwargs", [{"n_jobs": 0}, {"n_jobs": -2}, {"backend": "ray"},
                                    {"chunk_size": 0}, {"seed": -1}, {"seed": "abc"}])
def test_bad_engine_options(kwargs):
    with pytest.raises(OptionError):
        run_replicates(_draw, 3, **kwargs)


# ----------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_backend_matches_sequential_and_pins_blas(dask_client):
    ref = run_replicates(_draw, 17, seed=8)
    assert run_replicates(_draw, 17, seed=8, backend="dask", scheduler=dask_client, chunk_size=3) == ref
    # by address, as the CLI's --dask ADDRESS does
    addr = dask_client.scheduler.address
    assert addr.startswith("tcp://127.0.0.1")
    assert run_replicates(_draw, 17, seed=8, backend="dask", scheduler=addr) == ref
    assert set(run_replicates(_blas_threads, 4, seed=1, backend="dask", scheduler=dask_client, chunk_size=1)) == {1}


def test_dask_bootstrap_matches_loky(dask_client, pd_fit):
    a = bootstrap_draws(pd_fit, 12, seed=3)
    b = bootstrap_draws(pd_fit, 12, seed=3, backend="dask", scheduler=dask_client)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.converged, b.converged)


# ----------------------------------------------------------------------------- CI limits vs R
def test_percentile_and_bc_limits_match_boot_norm_inter(load_reference):
    ref = load_reference("effects/ci.json")
    assert len(ref["cases"]) == 12
    for case in ref["cases"]:
        t = np.array(case["t"], float)
        np.testing.assert_allclose(percentile_ci(t, case["level"]), case["perc"], rtol=0, atol=1e-12,
                                   err_msg=f"{case['name']} {case['level']}")
        np.testing.assert_allclose(bc_ci(t, case["t0"], case["level"]), case["bc"], rtol=0, atol=1e-12,
                                   err_msg=f"{case['name']} {case['level']}")


# ----------------------------------------------------------------------------- bootstrap SEs vs lavaan
@pytest.fixture(scope="module")
def pd_boot_ref(load_reference, repo_root):
    ref = load_reference("effects/pd_boot.json")
    data = (repo_root / "datasets" / ref["data_name"]).read_bytes()
    assert ref["data_sha256"] == hashlib.sha256(data).hexdigest()
    return ref


@pytest.fixture(scope="module")
def pd_fit(pd_boot_ref, poldem):
    return asymtrust.fit(pd_boot_ref["model"], poldem)


@pytest.fixture(scope="module")
def pd_boot_fit(pd_boot_ref, poldem):
    return asymtrust.fit(pd_boot_ref["model"], poldem, se="bootstrap", bootstrap=B_TEST, seed=SEED)


@pytest.fixture(scope="module")
def pd_draws(pd_fit):
    """The replicates of ``pd_boot_fit`` again (same seed), on two loky workers."""
    return bootstrap_draws(pd_fit, B_TEST, seed=SEED, n_jobs=2)


def _match(est: pd.DataFrame, lhs: str, op: str, rhs: str) -> pd.Series:
    m = est[(est["lhs"] == lhs) & (est["op"] == op) & (est["rhs"] == rhs)]
    if not len(m) and op == "~~":
        m = est[(est["lhs"] == rhs) & (est["op"] == op) & (est["rhs"] == lhs)]
    assert len(m) == 1, (lhs, op, rhs)
    return m.iloc[0]


def _mc_rel_error(t: np.ndarray, b_other: int = 1000) -> float:
    """Relative Monte Carlo SD of a bootstrap SE estimated from ``t`` minus one from
    ``b_other`` replicates: sqrt((kurtosis - 1) / 4 * (1/B + 1/B_other))."""
    z = (t - t.mean()) / t.std()
    kurt = float(np.mean(z ** 4))
    return float(np.sqrt((kurt - 1.0) / 4.0 * (1.0 / t.size + 1.0 / b_other)))


def _quantile_mc_sd(t: np.ndarray, q: float, b_other: int = 1000, h: float = 0.02) -> float:
    """Monte Carlo SD of the difference of two bootstrap q-quantiles (B and b_other
    replicates): sqrt(q (1 - q) (1/B + 1/B_other)) / density, with the density from the
    spacing of the quantiles at q +- h."""
    lo, hi = np.quantile(t, [max(q - h, 0.0), min(q + h, 1.0)])
    inv_density = (hi - lo) / (min(q + h, 1.0) - max(q - h, 0.0))
    return float(np.sqrt(q * (1 - q) * (1.0 / t.size + 1.0 / b_other)) * inv_density)


@pytest.mark.slow
def test_bootstrap_se_within_monte_carlo_error_of_lavaan(pd_boot_ref, pd_draws, pd_boot_fit):
    est = pd_boot_fit.estimates
    info = est.attrs["bootstrap"]
    assert info["B"] == B_TEST and info["n_failed"] == 0 and info["n_ok"] == B_TEST
    assert pd_boot_ref["bootstrap"] == 1000 and pd_boot_ref["bootstrap_failed"] == 0
    draws = pd_draws
    rels = []
    for p in pd_boot_ref["parameters"]:
        row = _match(est, p["lhs"], p["op"], p["rhs"])
        np.testing.assert_allclose(row["est"], p["est"], atol=1e-3)
        if p["se"] == 0:
            assert row["se"] == 0 and row["ci_lower"] == row["est"] == row["ci_upper"]
            continue
        what = f"{p['lhs']} {p['op']} {p['rhs']}: SE {row['se']:.4f} vs lavaan {p['se']:.4f}"
        rel = row["se"] / p["se"] - 1.0
        rels.append(rel)
        if p["op"] == ":=":
            # the effects themselves: the 15% relative tolerance of the issue
            assert abs(rel) < BOOT_SE_RTOL, what
        else:
            np.testing.assert_allclose(draws.ok[:, int(row["free"]) - 1].std(), row["se"], rtol=1e-12)
            # every parameter: within 3.5 Monte Carlo SDs (kurtosis-aware)
            assert abs(rel) < 3.5 * _mc_rel_error(draws.ok[:, int(row["free"]) - 1]), what
        # percentile limits: within 4 Monte Carlo SDs of lavaan's
        t = draws.ok[:, int(row["free"]) - 1] if p["op"] != ":=" else None
        for lim, q in (("lower", 0.025), ("upper", 0.975)):
            tol = 4.0 * (_quantile_mc_sd(t, q) if t is not None else 0.2 * p["se"])
            assert abs(row[f"ci_{lim}"] - p[f"ci_{lim}_perc"]) < tol, f"{what}; CI {lim}"
        assert row["ci_lower"] < row["est"] < row["ci_upper"]
        np.testing.assert_allclose(row["z"], row["est"] / row["se"])
    assert len(rels) == 35  # 31 free parameters + 4 `:=` effects
    assert np.median(np.abs(rels)) < BOOT_SE_RTOL / 2


@pytest.mark.slow
def test_bootstrap_se_reproducible_by_seed(pd_draws, pd_boot_fit):
    # fit(se="bootstrap") ran in this process; pd_draws on two workers: identical replicates
    sd = pd_draws.ok.std(axis=0, ddof=0)
    est = pd_boot_fit.estimates
    free = est[est["free"] > 0]
    np.testing.assert_array_equal(free["se"].to_numpy(), sd[free["free"].to_numpy() - 1])


def test_bootstrap_rejects_bad_counts(pd_boot_ref, poldem, monkeypatch):
    with pytest.raises(OptionError):
        asymtrust.fit(pd_boot_ref["model"], poldem, se="bootstrap", bootstrap=-5)
    monkeypatch.setenv("ASYMTRUST_MAX_REPLICATES", "50")
    with pytest.raises(ResourceLimitError):
        asymtrust.fit(pd_boot_ref["model"], poldem, se="bootstrap", bootstrap=51, seed=1)


class _FailEvery:
    """refit_arrays wrapper that reports every k-th call as not converged (sequential runs only)."""

    def __init__(self, real, k):
        self.real, self.k, self.calls = real, k, 0

    def __call__(self, result, data, start=None):
        self.calls += 1
        r = self.real(result, data, start=start)
        if self.calls % self.k == 0:
            return type(r)(r.theta, False, r.fmin, r.nobs)
        return r


def test_failed_replicates_are_counted_and_reported(pd_boot_ref, poldem, monkeypatch):
    fitmod = importlib.import_module("asymtrust.engine.refit")  # the module that refit_arrays lives in

    monkeypatch.setattr(fitmod, "refit_arrays", _FailEvery(fitmod.refit_arrays, 4))
    with pytest.warns(RuntimeWarning, match="3 of 12 bootstrap replicates failed"):
        res = asymtrust.fit(pd_boot_ref["model"], poldem, se="bootstrap", bootstrap=12, seed=2)
    info = res.estimates.attrs["bootstrap"]
    assert (info["n_failed"], info["n_ok"]) == (3, 9)
    assert res.estimates.loc[res.estimates["free"] > 0, "se"].gt(0).all()


def test_draws_flag_failures_without_dropping(pd_fit, monkeypatch):
    fitmod = importlib.import_module("asymtrust.engine.refit")  # the module that refit_arrays lives in

    monkeypatch.setattr(fitmod, "refit_arrays", _FailEvery(fitmod.refit_arrays, 3))
    d = bootstrap_draws(pd_fit, 9, seed=4)
    assert isinstance(d, BootstrapDraws)
    assert d.theta.shape == (9, len(pd_fit.theta))
    np.testing.assert_array_equal(d.converged, [True, True, False] * 3)
    assert d.n_failed == 3 and d.ok.shape == (6, len(pd_fit.theta))
    assert np.isnan(d.theta[~d.converged]).all()


def test_bootstrap_needs_rows_or_data(pd_fit, poldem):
    from types import SimpleNamespace

    bare = SimpleNamespace(partable=pd_fit.partable, options=pd_fit.options, group_labels=None,
                           theta=pd_fit.theta, reparam=pd_fit.reparam, samples=None)
    with pytest.raises(DataError, match="pass the data"):
        bootstrap_draws(bare, 3, seed=1)
    a = bootstrap_draws(bare, 3, seed=1, data=poldem)
    b = bootstrap_draws(pd_fit, 3, seed=1)
    np.testing.assert_allclose(a.theta, b.theta)


def test_multigroup_bootstrap_resamples_within_groups(hs1939):
    model = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6"
    res = asymtrust.fit(model, hs1939, group="school")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = bootstrap_draws(res, 6, seed=11)
    assert d.n_failed == 0
    # group sizes are kept: each replicate refits both groups with their own N
    from asymtrust.engine.resample import _BootReplicate, _sample_rows

    rows = _sample_rows(res.samples, len(res.partable.ov_names))
    assert [len(r) for r in rows] == res.nobs == [156, 145]
    rep = _BootReplicate(res, rows, list(res.partable.ov_names), "school", res.group_labels)
    theta, ok = rep(np.random.default_rng(replicate_seeds(11, 6)[0]))
    assert ok
    np.testing.assert_allclose(theta, d.theta[0])


def test_fiml_bootstrap_resamples_incomplete_cases(hs1939):
    from asymtrust.engine.resample import _sample_rows

    hs = hs1939.copy()
    cols = [f"x{i}" for i in range(1, 10)]
    X = hs[cols].to_numpy(float).copy()
    X[np.random.default_rng(0).random(X.shape) < 0.05] = np.nan
    X[0, :] = np.nan  # an empty row carries no information and is not resampled
    hs[cols] = X
    res = asymtrust.fit("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9",
                        hs, missing="fiml")
    rows = _sample_rows(res.samples, 9)
    assert rows[0].shape == (300, 9)
    assert np.isnan(rows[0]).sum() == np.isnan(X[1:]).sum()
    # the same cases, in pattern order
    key = lambda M: sorted(map(tuple, np.nan_to_num(M, nan=-99.0)))
    assert key(rows[0]) == key(X[1:])
    d = bootstrap_draws(res, 3, seed=5)
    assert d.n_failed == 0 and np.isfinite(d.theta).all()
