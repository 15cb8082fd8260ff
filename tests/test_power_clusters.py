"""Monte Carlo power planned in clusters: ``power(spec, clusters=[...], cluster_size=m, icc=...)``
(issue 16, "What to build" 4).

* One replicate's estimates and SEs equal ``asymtrust.fit(spec, data, cluster="partnership",
  estimator="MLR")`` and ``effects()`` on the same two-level data (the cluster-robust
  sandwich is checked against lavaan in the issue-16 reference tests).
* Seeded reproducibility on 1 and 2 workers; power rises with the number of partnerships;
  a null path is rejected at about alpha; at an ICC of (nearly) 0 the cluster-robust power
  equals the single-level power at the same total N within Monte Carlo error.
* Three replicates agree with lavaan 0.6-14 ``sem(..., cluster = "partnership", estimator =
  "MLR")`` (tests/reference/power/cluster_power.R): estimates, SEs, rejection decisions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.effects import effects
from asymtrust.analysis.power import ClusterGenerator, _Estimator, _targets, power
from asymtrust.exceptions import InsufficientDataError, OptionError, ResourceLimitError


def test_generator_draws_simulate_keyed():
    gen = ClusterGenerator("fig1", 6, 0.2)
    d = gen(12, np.random.default_rng(4))
    assert list(d.columns[:1]) == ["partnership"] and len(d) == 72
    assert d["partnership"].value_counts().eq(6).all() and d["partnership"].nunique() == 12
    spec = asymtrust.load_spec("fig1")
    seed = int(np.random.default_rng(4).integers(0, 2 ** 63 - 1))
    raw = asymtrust.recode_reverse(asymtrust.simulate("fig1", None, seed=seed, clusters=12, cluster_size=6, icc=0.2))
    pd.testing.assert_frame_equal(d[spec.items()], raw[spec.items()].astype(float), check_dtype=False)


def test_replicate_equals_fit_cluster_mlr_and_effects():
    """The warm-started replicate gives fit(cluster=, estimator="MLR")'s estimates, SEs,
    std_all and std_all SEs, and effects()' delta-method values of the indirect effects."""
    gen = ClusterGenerator("fig1", 10, 0.15)
    data = gen(40, np.random.default_rng(3))
    base = asymtrust.fit("fig1", gen(60, np.random.default_rng(1)).drop(columns="partnership"), se="none")
    targets, paths = _targets(base.partable)
    est = _Estimator(base.partable, base.theta, "MLR", targets, paths)
    got, _ = est.estimate_flagged(est._matrix(data), pd.factorize(data["partnership"])[0])
    res = asymtrust.fit("fig1", data, cluster="partnership", estimator="MLR")
    tab = res.estimates.set_index(["lhs", "op", "rhs"])
    eff = effects(res, bootstrap=0).set_index("path")
    for t, tg in enumerate(targets):
        if tg.kind == "path":
            want = tab.loc[(tg.chain[1], "~", tg.chain[0]), ["est", "se", "std_all", "std_all_se"]]
        else:
            want = eff.loc[tg.name, ["est", "se", "std_all", "std_all_se"]]
        np.testing.assert_allclose(got[t], want.to_numpy(dtype=float), rtol=1e-5, atol=1e-6, err_msg=tg.name)
    # and the cluster-robust SEs are not the naive ones (ICC .15, 10 per partnership)
    naive, _ = est.estimate_flagged(est._matrix(data))
    assert np.mean(got[:, 1] / naive[:, 1]) > 1.1


def test_table_and_design_effect():
    a = power("fig1", clusters=[30, 20], cluster_size=6, icc=0.2, reps=3, seed=11, n_jobs=1)
    assert list(a.columns[:5]) == ["clusters", "cluster_size", "n", "design_effect", "effective_n"]
    assert list(dict.fromkeys(a["clusters"])) == [20, 30] and (a["cluster_size"] == 6).all()
    assert (a["n"] == a["clusters"] * 6).all()
    np.testing.assert_allclose(a["design_effect"], 1 + 5 * 0.2)
    np.testing.assert_allclose(a["effective_n"], a["n"] / 2.0)
    assert a.attrs["estimator"] == "MLR" and a.attrs["unit"] == "partnerships" and a.attrs["icc"] == 0.2
    assert set(a.attrs["smallest_clusters"]) == set(a["parameter"])
    assert (a["reps"] == 3).all() and a["power"].between(0, 1).all()


@pytest.mark.slow
def test_same_seed_same_table_on_1_and_2_workers():
    a = power("fig1", clusters=[30, 20], cluster_size=6, icc=0.2, reps=3, seed=11, n_jobs=1)
    b = power("fig1", clusters=[20, 30], cluster_size=6, icc=0.2, reps=3, seed=11, n_jobs=2)
    pd.testing.assert_frame_equal(a, b)
    c = power("fig1", clusters=[20, 30], cluster_size=6, icc=0.2, reps=3, seed=12, n_jobs=1)
    assert not np.allclose(a["mean_est"], c["mean_est"])


@pytest.mark.slow
def test_power_rises_with_clusters():
    tab = power("fig1", clusters=[10, 80], cluster_size=10, icc=0.15, reps=30, seed=5,
                population={"CompTrust~CultDiff": -0.15, "GoodTrust~PowDist": -0.15})
    paths = tab[tab["kind"] == "path"].pivot(index="parameter", columns="clusters", values="power")
    assert (paths[80] >= paths[10]).all()
    for p in ("CompTrust~CultDiff", "GoodTrust~PowDist"):
        assert paths.loc[p, 80] - paths.loc[p, 10] >= 0.3, paths.loc[p]
    assert tab.attrs["smallest_clusters"]["ServCons~CompTrust"] in (10, 80)


@pytest.mark.slow
def test_null_path_rejected_at_alpha():
    """A path with population value 0: the cluster-robust Wald test rejects at about alpha
    (100 partnerships, so the sandwich is not a few-cluster one)."""
    reps = 300
    tab = power("fig1", clusters=[100], cluster_size=5, icc=0.2, reps=reps, seed=21,
                population={"GoodTrust~PowDist": 0.0})
    row = tab[tab["parameter"] == "GoodTrust~PowDist"].iloc[0]
    k = int(row["n_converged"])
    assert k >= reps - 3
    mcse = np.sqrt(0.05 * 0.95 / k)
    assert abs(row["power"] - 0.05) <= 3 * mcse, row["power"]


@pytest.mark.slow
def test_icc_near_zero_matches_single_level_power():
    """With ICC ~ 0 (1e-6; simulate needs an ICC in (0, 1)) the cluster-robust power at K x m
    equals power() at N = K x m (MLR, no clusters) within Monte Carlo error."""
    reps = 150
    pop = {"CompTrust~CultDiff": -0.15, "GoodTrust~PowDist": -0.15}
    cl = power("fig1", clusters=[50], cluster_size=4, icc=1e-6, reps=reps, seed=8, population=pop)
    sl = power("fig1", n=[200], reps=reps, seed=9, population=pop, estimator="MLR")
    assert cl["design_effect"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    a = cl[cl["kind"] == "path"].set_index("parameter")["power"]
    b = sl[sl["kind"] == "path"].set_index("parameter")["power"]
    for p in pop:
        pbar = (a[p] + b[p]) / 2
        se = np.sqrt(2 * max(pbar * (1 - pbar), 0.05) / reps)
        assert abs(a[p] - b[p]) <= 3 * se, (p, a[p], b[p])
    assert abs(a.mean() - b.mean()) <= 0.05


def test_errors(monkeypatch):
    with pytest.raises(OptionError, match="either n= .* or clusters="):
        power("fig1", n=[200], clusters=[30], cluster_size=10, reps=2)
    with pytest.raises(OptionError, match="cluster_size"):
        power("fig1", clusters=[30], reps=2)
    with pytest.raises(OptionError, match="cluster_size"):
        power("fig1", clusters=[30], cluster_size=[10, 12], reps=2)
    with pytest.raises(OptionError, match="need clusters="):
        power("fig1", n=[200], icc=0.1, reps=2)
    with pytest.raises(OptionError, match="icc"):
        power("fig1", clusters=[30], cluster_size=10, icc=0.0, reps=2)
    with pytest.raises(OptionError, match="icc"):
        power("fig1", clusters=[30], cluster_size=10, icc={"CapImb": 0.1}, reps=2)
    with pytest.raises(OptionError, match="estimator='ML'"):
        power("fig1", clusters=[30], cluster_size=10, estimator="ML", reps=2)
    with pytest.raises(OptionError, match="two-level spec 'fig1_twolevel'"):
        power("fig1_twolevel", clusters=[30], cluster_size=10, reps=2)
    with pytest.raises(OptionError, match="latent interaction"):
        power("fig1_moderated", clusters=[30], cluster_size=10, reps=2)
    with pytest.raises(OptionError, match="clusters = 1"):
        power("fig1", clusters=[1, 30], cluster_size=10, reps=2)
    with pytest.raises(OptionError, match="reps"):
        power("fig1", clusters=[30], cluster_size=10, reps=0)
    with pytest.raises(InsufficientDataError, match="= 20 respondents"):
        power("fig1", clusters=[4, 30], cluster_size=5, reps=2, seed=1)
    monkeypatch.setenv("ASYMTRUST_MAX_REPLICATES", "10")
    with pytest.raises(ResourceLimitError, match="11 replicates"):
        power("fig1", clusters=[30], cluster_size=10, reps=11)
    monkeypatch.delenv("ASYMTRUST_MAX_REPLICATES")
    monkeypatch.setenv("ASYMTRUST_MAX_MEMORY", "50M")
    with pytest.raises(ResourceLimitError, match="clusters = 2000000"):
        power("fig1", clusters=[30, 2_000_000], cluster_size=10, reps=2)


def test_cli_power_in_clusters(capsys):
    import json

    from asymtrust import cli

    assert cli.main(["power", "--clusters", "20,30", "--cluster-size", "6", "--icc", "0.2", "--reps", "2",
                     "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "smallest_clusters" in out and set(out["smallest_clusters"]) == set(out["smallest_n"])
    assert cli.main(["power", "--clusters", "20", "--n", "200", "--reps", "2"]) == 2
    assert "not both" in capsys.readouterr().err
    assert cli.main(["power", "--reps", "2"]) == 2
    assert "--clusters" in capsys.readouterr().err


def test_cluster_robust_replicates_match_lavaan(reference_dir):
    """Three replicates of the cluster generator (40 partnerships x 8, ICC .15), fitted by
    the power replicate and by lavaan 0.6-14 ``sem(fig1, cluster = "partnership",
    estimator = "MLR")`` (tests/reference/power/cluster_power.R): same estimates and SEs
    (issue 16 tolerance 2e-3) and the same rejection decisions at alpha = .05."""
    from scipy import special

    data = pd.read_csv(reference_dir / "power" / "cluster_replicates.csv")
    ref = pd.read_csv(reference_dir / "power" / "cluster_power.csv")
    first = data[data["rep"] == 0].drop(columns=["rep", "partnership"])
    base = asymtrust.fit("fig1", first, se="none")
    targets, paths = _targets(base.partable)
    est = _Estimator(base.partable, base.theta, "MLR", targets, paths)
    for r, d in data.groupby("rep"):
        got, _ = est.estimate_flagged(est._matrix(d), pd.factorize(d["partnership"])[0])
        want = ref[ref["rep"] == r].set_index("parameter")
        for t, tg in enumerate(targets):
            if tg.kind != "path":
                continue
            row = want.loc[tg.name]
            assert got[t, 0] == pytest.approx(row["est"], abs=2e-3), (r, tg.name)
            assert got[t, 1] == pytest.approx(row["se"], abs=2e-3), (r, tg.name)
            p = 2 * special.ndtr(-abs(got[t, 0] / got[t, 1]))
            assert p == pytest.approx(row["pvalue"], abs=1e-3)
            assert (p < 0.05) == (row["pvalue"] < 0.05), (r, tg.name)
