"""Monte Carlo power analysis (asymtrust.power).

* The per-replicate estimates (warm-started refit, SEs, standardized values, delta-method
  indirect effects) equal those of ``asymtrust.fit`` / ``asymtrust.effects`` on the same
  data (which are checked against lavaan in test_lavaan_reference.py / test_effects.py).
* Simulated power of a regression slope matches the analytic power within Monte Carlo
  error; the analytic values come from statsmodels and are checked against R
  (``tests/reference/power/regression_power.R`` -> ``regression_power.json``).
* Results are identical for a given seed with 1 or 2 loky workers and on a Dask
  ``LocalCluster``.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.effects import effects
from asymtrust.exceptions import InsufficientDataError, OptionError, ResourceLimitError
from asymtrust.analysis.power import (
    SpecGenerator,
    _Estimator,
    _targets,
    population_targets,
    power,
    simulate_power,
)


# ----------------------------------------------------------------------------- helpers
class Regression:
    """x ~ N(0, 1), y = b x + e, e ~ N(0, 1 - b^2): the standardized slope is b."""

    def __init__(self, slope: float):
        self.slope = slope

    def __call__(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        x = rng.standard_normal(n)
        y = self.slope * x + np.sqrt(1.0 - self.slope ** 2) * rng.standard_normal(n)
        return pd.DataFrame({"x": x, "y": y})


@pytest.fixture(scope="module")
def analytic(reference_dir):
    return json.loads((reference_dir / "power" / "regression_power.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fig1_data():
    return SpecGenerator("fig1")(400, np.random.default_rng(5))


# ----------------------------------------------------------------------------- one replicate
@pytest.mark.parametrize("estimator", ["ML", "MLR"])
def test_replicate_equals_fit_and_effects(fig1_data, estimator):
    """The light per-replicate estimation gives fit()'s numbers: raw estimate and SE,
    std_all and its SE for every path, and effects()' delta-method values for every
    specific indirect effect."""
    base = asymtrust.fit("fig1", SpecGenerator("fig1")(3000, np.random.default_rng(1)), se="none")
    targets, paths = _targets(base.partable)
    got = _Estimator(base.partable, base.theta, estimator, targets, paths)(fig1_data)
    assert got is not None
    res = asymtrust.fit("fig1", fig1_data, estimator=estimator)
    est = res.estimates.set_index(["lhs", "op", "rhs"])
    eff = effects(res, bootstrap=0).set_index("path")
    for t, tg in enumerate(targets):
        if tg.kind == "path":
            want = est.loc[(tg.chain[1], "~", tg.chain[0]), ["est", "se", "std_all", "std_all_se"]]
        else:
            want = eff.loc[tg.name, ["est", "se", "std_all", "std_all_se"]]
        np.testing.assert_allclose(got[t], want.to_numpy(dtype=float), rtol=1e-5, atol=1e-6, err_msg=tg.name)
    assert [t.kind for t in targets].count("indirect") == int((eff["effect"] == "indirect").sum())


def test_spec_generator_is_simulate_recoded():
    """SpecGenerator draws the same population as asymtrust.simulate (keyed items)."""
    gen = SpecGenerator("fig1")
    spec = asymtrust.load_spec("fig1")
    assert gen.items == spec.items()
    a = gen(20000, np.random.default_rng(3))
    b = asymtrust.recode_reverse(asymtrust.simulate("fig1", 20000, seed=3))[spec.items()]
    # same marginal distributions of every item (7 categories, n = 20000)
    for c in spec.items():
        pa = a[c].value_counts(normalize=True).reindex(range(1, 8), fill_value=0)
        pb = b[c].value_counts(normalize=True).reindex(range(1, 8), fill_value=0)
        assert np.abs(pa - pb).max() < 0.03, c
    assert np.abs(a.corr().to_numpy() - b.corr().to_numpy()).max() < 0.05


# ----------------------------------------------------------------------------- analytic cross-check
def test_statsmodels_analytic_power_matches_r(analytic):
    from statsmodels.stats.power import NormalIndPower

    d = analytic["slope"] / analytic["residual_sd"]
    sm = [NormalIndPower().power(effect_size=d, nobs1=n, alpha=analytic["alpha"], ratio=0)
          for n in analytic["n"]]
    np.testing.assert_allclose(sm, analytic["wald_power"], rtol=0, atol=1e-10)


def test_simulated_power_matches_analytic(analytic):
    """Power of the Wald test of y ~ x from 600 replicates per N is within 3 Monte
    Carlo SEs of the analytic (statsmodels) power."""
    from statsmodels.stats.power import NormalIndPower

    b, alpha, ns = analytic["slope"], analytic["alpha"], [int(v) for v in analytic["n"]]
    reps = 600
    tab = simulate_power("y ~ x", Regression(b), ns, reps=reps, seed=2024, population={"y~x": b}, alpha=alpha)
    assert list(tab["n"]) == ns and set(tab["parameter"]) == {"y~x"}
    d = b / analytic["residual_sd"]
    for row in tab.itertuples(index=False):
        want = NormalIndPower().power(effect_size=d, nobs1=row.n, alpha=alpha, ratio=0)
        mcse = np.sqrt(want * (1 - want) / reps)
        assert abs(row.power - want) <= 3 * mcse, (row.n, row.power, want)
        assert row.convergence == 1.0 and row.n_converged == reps
        assert abs(row.bias) <= 3 * row.sd_est / np.sqrt(reps), (row.n, row.bias)
        # the SEs are right: mean SE within 3 Monte Carlo SEs of the SD of the estimates
        # (relative MCSE of an SD: 1 / sqrt(2 (k - 1))), plus 3% for finite-sample bias
        assert row.mean_se == pytest.approx(row.sd_est, rel=3 / np.sqrt(2 * (reps - 1)) + 0.03)
    # smallest N reaching 80%: none of 60/100/150 for b = 0.2 (analytic power < .71)
    assert tab.attrs["smallest_n"] == {"y~x": None}


def test_null_path_size_and_coverage():
    """With slope 0 and a large N the rejection rate is the test's size (alpha), and the
    95% intervals of the standardized slope cover the population value 95% of the time
    (Wald intervals are asymptotic: at small N they cover a little less)."""
    reps = 1000
    tab = simulate_power("y ~ x", Regression(0.0), [400], reps=reps, seed=9, population={"y~x": 0.0})
    mcse = np.sqrt(0.05 * 0.95 / reps)
    assert abs(tab["power"].iloc[0] - 0.05) <= 3 * mcse
    assert abs(tab["coverage"].iloc[0] - 0.95) <= 3 * mcse


# ----------------------------------------------------------------------------- the spec front end
def test_power_fig1_table_and_population():
    tab = power("fig1", n=[250, 150], reps=6, seed=3)
    pop = population_targets("fig1")
    spec = asymtrust.load_spec("fig1")
    assert list(tab.columns[:5]) == ["n", "parameter", "kind", "population", "power"]
    assert sorted(set(tab["n"])) == [150, 250] and next(iter(tab["n"])) == 150
    paths = tab[tab["kind"] == "path"]
    assert set(paths["parameter"]) == {f"{lhs}~{rhs}" for lhs, rhs in spec.regressions()}
    # population values are the spec's standardized paths ([population.paths] of fig1.toml)
    for lhs, rhs in spec.regressions():
        want = spec.population["paths"][lhs][rhs]
        got = paths.loc[paths["parameter"] == f"{lhs}~{rhs}", "population"]
        np.testing.assert_allclose(got, want, atol=1e-10)
    ind = tab[tab["kind"] == "indirect"]
    row = ind[ind["parameter"] == "CapImb -> GoodTrust -> PlanBudg"].iloc[0]
    assert row["population"] == pytest.approx(spec.population["paths"]["GoodTrust"]["CapImb"]
                                              * spec.population["paths"]["PlanBudg"]["GoodTrust"], abs=1e-10)
    assert set(ind["parameter"]) == {k for k in pop if "->" in k}
    # columns are consistent
    assert (tab["reps"] == 6).all() and np.allclose(tab["convergence"], tab["n_converged"] / 6)
    np.testing.assert_allclose(tab["bias"], tab["mean_est"] - tab["population"], atol=1e-12)
    assert tab["power"].between(0, 1).all() and tab["coverage"].between(0, 1).all()
    # smallest_n agrees with the table
    for name, n_min in tab.attrs["smallest_n"].items():
        ok = tab[(tab["parameter"] == name) & (tab["power"] >= 0.8)]["n"]
        assert n_min == (int(ok.min()) if len(ok) else None)
    assert tab.attrs["spec"] == "fig1" and tab.attrs["metric"] == "std_all"


def test_population_override():
    tab = power("fig1", n=[200], reps=2, seed=1, population={"GoodTrust ~ CapImb": 0.0})
    pop = tab.set_index("parameter")["population"]
    assert pop["GoodTrust~CapImb"] == 0.0
    assert pop["CapImb -> GoodTrust -> PlanBudg"] == 0.0
    assert pop["GoodTrust~PowDist"] == pytest.approx(-0.25, abs=1e-10)
    with pytest.raises(OptionError, match="ServCons~RoleAmb"):
        power("fig1", n=[200], reps=2, population={"ServCons~RoleAmb": 0.1})


def test_moderated_spec_runs_with_product_indicators():
    tab = power("fig1_moderated", n=[300], reps=2, seed=1)
    row = tab[tab["parameter"] == "GoodTrust~CapxPow"].iloc[0]
    assert row["population"] == pytest.approx(population_targets("fig1_moderated")["GoodTrust~CapxPow"])
    assert row["n_converged"] == 2


def test_errors(monkeypatch):
    with pytest.raises(OptionError, match="reps"):
        power("fig1", n=[200], reps=0)
    with pytest.raises(OptionError, match="n = 1"):
        power("fig1", n=[1, 200], reps=5)
    with pytest.raises(OptionError, match="alpha"):
        simulate_power("y ~ x", Regression(0.2), [50], reps=5, alpha=1.5)
    with pytest.raises(OptionError, match="estimator"):
        simulate_power("y ~ x", Regression(0.2), [50], reps=5, estimator="WLS")
    monkeypatch.setenv("ASYMTRUST_MAX_REPLICATES", "10")
    with pytest.raises(ResourceLimitError, match="11 replicates"):
        power("fig1", n=[200], reps=11)
    monkeypatch.delenv("ASYMTRUST_MAX_REPLICATES")
    with pytest.raises(InsufficientDataError, match="n = 50"):
        power("fig1", n=[50, 200], reps=2, seed=1)


# ----------------------------------------------------------------------------- reproducibility
def test_same_seed_same_table_across_n_jobs():
    a = power("fig1", n=[200, 300], reps=6, seed=42, n_jobs=1)
    b = power("fig1", n=[200, 300], reps=6, seed=42, n_jobs=2)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["smallest_n"] == b.attrs["smallest_n"]
    c = power("fig1", n=[200, 300], reps=6, seed=43, n_jobs=1)
    assert not np.allclose(a["mean_est"], c["mean_est"])


def test_dask_local_cluster_equals_loky():
    import distributed

    loky = power("fig1", n=[200], reps=4, seed=7, n_jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dask = power("fig1", n=[200], reps=4, seed=7, backend="dask", scheduler=client)
    pd.testing.assert_frame_equal(loky, dask)
