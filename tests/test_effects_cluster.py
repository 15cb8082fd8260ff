"""effects() with a bootstrap by whole clusters, for a fit with ``cluster=`` (issue 16).

lavaan 0.6-14 has no cluster bootstrap (``se = "bootstrap"`` with ``cluster =`` is an
error there), so the reference is an independent cluster bootstrap written in R:
``tests/reference/effects/cluster_bootstrap.R`` draws the partnerships of the SYNTHETIC
``bcf_nested`` data with R's own RNG and refits each replicate with lavaan's ``sem()``
(``cluster_bootstrap.json``). The checks:

* the draw: each replicate's rows are whole clusters, exactly the clusters that the seed's
  documented draw picks (``rng.integers(0, nC, nC)`` with the replicate's generator);
* draw for draw: the first replicates of R's bootstrap, refitted by asymtrust, give
  lavaan's estimates (2e-3);
* statistically: the bootstrap SE of the indirect effect (1000 replicates here, 2000 in R,
  independent random streams) agrees within 4 Monte Carlo SDs of an SD,
  ``se * sqrt((kurtosis - 1) / 4 * (1/1000 + 1/2000))`` (about 11% relative here), and the
  2.5% and 97.5% percentile limits within 4 Monte Carlo SDs of a quantile,
  ``sqrt(q (1 - q) (1/1000 + 1/2000)) / density`` with a normal density at the boot SE;
* with an ICC near 0.3 (the CapImb and GoodTrust items), the cluster bootstrap SE is
  clearly larger than the SE of the ordinary row bootstrap (which also agrees with R's
  row bootstrap within the same Monte Carlo bound).
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import asymtrust
from asymtrust.analysis.effects import effects
from asymtrust.engine.resample import bootstrap_draws, cluster_members, draw_clusters, replicate_seeds
from asymtrust.exceptions import OptionError

ROOT = Path(__file__).parents[1]
REF = ROOT / "tests" / "reference" / "effects" / "cluster_bootstrap.json"
B_PY = 1000
SEED = 16


@functools.cache
def ref() -> dict:
    r = json.loads(REF.read_text())
    md5 = hashlib.md5((ROOT / r["data"]).read_bytes()).hexdigest()
    assert md5 == r["data_md5"], "datasets/bcf_nested.csv changed: rerun cluster_bootstrap.R"
    return r


@functools.cache
def data() -> pd.DataFrame:
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_nested"))


@functools.cache
def fitted(cluster: bool):
    kw = {"cluster": "partnership", "estimator": "MLR"} if cluster else {}
    return asymtrust.fit(ref()["model"], data(), **kw)


@functools.cache
def boot(cluster: bool):
    eff = effects(fitted(cluster), bootstrap=B_PY, seed=SEED, ci_method="percentile")
    return eff[eff["effect"] == "indirect"].iloc[0], eff.attrs["bootstrap"]


def _free_index(res, lhs: str, rhs: str) -> int:
    tab = res.partable.table
    row = tab[(tab["lhs"] == lhs) & (tab["op"] == "~") & (tab["rhs"] == rhs)]
    return int(row["free"].iloc[0]) - 1


class _Recorder:
    """refit_arrays wrapper that keeps the arrays of every replicate (sequential runs)."""

    def __init__(self, real):
        self.real, self.arrays = real, []

    def __call__(self, result, arrays, start=None):
        self.arrays.append([np.array(a, copy=True) for a in arrays])
        return self.real(result, arrays, start=start)


# ----------------------------------------------------------------------------- the draw
def test_each_replicate_is_the_seeded_draw_of_whole_clusters(monkeypatch):
    res = fitted(True)
    df = data()
    ov = list(res.partable.ov_names)
    fitmod = importlib.import_module("asymtrust.engine.refit")
    rec = _Recorder(fitmod.refit_arrays)
    monkeypatch.setattr(fitmod, "refit_arrays", rec)
    B = 4
    d = bootstrap_draws(res, B, seed=SEED)
    assert d.n_ok == B and len(rec.arrays) == B
    labels = pd.unique(df["partnership"])  # cluster codes: order of first appearance
    blocks = {lab: df.loc[df["partnership"] == lab, ov].to_numpy(float) for lab in labels}
    for i, s in enumerate(replicate_seeds(SEED, B)):
        j = np.random.default_rng(s).integers(0, len(labels), len(labels))
        expected = np.vstack([blocks[labels[k]] for k in j])
        np.testing.assert_array_equal(rec.arrays[i][0], expected)
    # the draw of one replicate: whole clusters, one new identifier per drawn cluster
    members = cluster_members(res.samples[0].cluster)
    rows, codes = draw_clusters(members, np.random.default_rng(replicate_seeds(SEED, B)[0]))
    j = np.random.default_rng(replicate_seeds(SEED, B)[0]).integers(0, len(members), len(members))
    for k in range(len(members)):
        np.testing.assert_array_equal(rows[codes == k], members[j[k]])
    assert sorted(np.concatenate(members).tolist()) == list(range(len(df)))


def test_clusters_are_drawn_within_groups_and_with_missing_rows(monkeypatch):
    """With groups, clusters are drawn group by group; under FIML the rows a fit uses
    (pattern by pattern) keep their cluster, so a replicate is still whole clusters."""
    df = data().copy()
    rng = np.random.default_rng(3)
    df.loc[rng.random(len(df)) < 0.1, "cap2"] = np.nan
    model = "CapImb =~ cap1 + cap2 + cap3\nGoodTrust =~ gtr1 + gtr2 + gtr3 + gtr4\nGoodTrust ~ CapImb"
    res = asymtrust.fit(model, df, cluster="partnership", estimator="MLR", missing="fiml", group="sector")
    ov = list(res.partable.ov_names)
    fitmod = importlib.import_module("asymtrust.engine.refit")
    rec = _Recorder(fitmod.refit_arrays)
    monkeypatch.setattr(fitmod, "refit_arrays", rec)
    bootstrap_draws(res, 2, seed=5)

    def key(X):  # rows as sortable tuples (NaN kept)
        return sorted(map(tuple, np.where(np.isnan(X), -99.0, X).tolist()))

    for i, s in enumerate(replicate_seeds(5, 2)):
        g_rng = np.random.default_rng(s)
        for g, lab in enumerate(res.group_labels):
            sub = df[df["sector"].astype(str) == lab]
            parts = pd.unique(sub["partnership"])
            j = g_rng.integers(0, len(parts), len(parts))
            want = np.vstack([sub.loc[sub["partnership"] == parts[k], ov].to_numpy(float) for k in j])
            assert key(rec.arrays[i][g]) == key(want)


# ----------------------------------------------------------------------------- against R
def test_refits_of_rs_draws_give_lavaans_estimates():
    res = fitted(True)
    df = data()
    ov = list(res.partable.ov_names)
    from asymtrust.engine.refit import refit_arrays

    a_k, b_k = _free_index(res, "GoodTrust", "CapImb"), _free_index(res, "PlanBudg", "GoodTrust")
    for dr in ref()["draws"]:
        X = np.vstack([df.loc[df["partnership"] == p, ov].to_numpy(float) for p in dr["partnerships"]])
        r = refit_arrays(res, [X])
        assert r.converged
        a, b = r.theta[a_k], r.theta[b_k]
        assert abs(a - dr["a"]) < 2e-3 and abs(b - dr["b"]) < 2e-3 and abs(a * b - dr["ind"]) < 2e-3


def _mc_sd_of_sd(se: float, kurtosis: float, b1: int, b2: int) -> float:
    return se * np.sqrt((kurtosis - 1.0) / 4.0 * (1.0 / b1 + 1.0 / b2))


def test_cluster_bootstrap_se_matches_r_within_monte_carlo_error():
    r = ref()
    row, info = boot(True)
    assert info["cluster"] == "partnership"  # resampled by whole partnerships
    assert info["n_failed"] == 0 and r["n_failed"] == 0 and info["n_ok"] == B_PY
    assert abs(row["est"] - r["est_ind"]) < 2e-3
    tol = 4.0 * _mc_sd_of_sd(r["boot_se_ind"], r["boot_kurtosis_ind"], B_PY, r["B"])
    assert tol < 0.12 * r["boot_se_ind"]  # the bound is informative: about 11% relative
    assert abs(row["boot_se"] - r["boot_se_ind"]) < tol, (row["boot_se"], r["boot_se_ind"], tol)
    for q, lim, got in ((0.025, r["boot_perc_ind"][0], row["ci_lower"]), (0.975, r["boot_perc_ind"][1], row["ci_upper"])):
        dens = stats.norm.pdf(stats.norm.ppf(q)) / r["boot_se_ind"]
        qtol = 4.0 * np.sqrt(q * (1 - q) * (1.0 / B_PY + 1.0 / r["B"])) / dens
        assert abs(got - lim) < qtol, (q, got, lim, qtol)


def test_cluster_bootstrap_se_exceeds_row_bootstrap_se():
    r = ref()
    clus, _ = boot(True)
    rows, info = boot(False)
    assert "cluster" not in info  # resampled by rows
    # our row bootstrap agrees with R's row bootstrap (same Monte Carlo bound)
    tol = 4.0 * _mc_sd_of_sd(r["row_boot_se_ind"], r["boot_kurtosis_ind"], B_PY, r["B_rows"])
    assert abs(rows["boot_se"] - r["row_boot_se_ind"]) < tol
    # ICC ~0.3 in 60 partnerships of ~16: ignoring the clusters understates the SE
    assert r["boot_se_ind"] > 1.25 * r["row_boot_se_ind"]
    assert clus["boot_se"] > 1.15 * rows["boot_se"]
    assert clus["boot_se"] > rows["boot_se"] + 3 * _mc_sd_of_sd(rows["boot_se"], r["boot_kurtosis_ind"], B_PY, B_PY)


# ----------------------------------------------------------------------------- failures, refusals
class _FailEvery:
    def __init__(self, real, k):
        self.real, self.k, self.calls = real, k, 0

    def __call__(self, result, arrays, start=None):
        self.calls += 1
        r = self.real(result, arrays, start=start)
        return type(r)(r.theta, False, r.fmin, r.nobs) if self.calls % self.k == 0 else r


def test_failed_cluster_replicates_are_counted_and_reported(monkeypatch):
    fitmod = importlib.import_module("asymtrust.engine.refit")
    monkeypatch.setattr(fitmod, "refit_arrays", _FailEvery(fitmod.refit_arrays, 4))
    with pytest.warns(RuntimeWarning, match="2 of 8 bootstrap replicates failed"):
        eff = effects(fitted(True), bootstrap=8, seed=1)
    assert (eff.attrs["bootstrap"]["n_failed"], eff.attrs["bootstrap"]["n_ok"]) == (2, 6)
    assert (eff["n_boot_failed"] == 2).all() and any("bootstrap: 2 of 8" in w for w in eff.warnings)


def test_cluster_codes_are_recovered_from_data_when_the_fit_keeps_none():
    from types import SimpleNamespace

    res = fitted(True)
    bare = SimpleNamespace(partable=res.partable, options=res.options, group_labels=None,
                           theta=res.theta, reparam=res.reparam, samples=None)
    from asymtrust.exceptions import DataError

    with pytest.raises(DataError, match="pass the data"):
        bootstrap_draws(bare, 2, seed=1)
    a = bootstrap_draws(bare, 2, seed=1, data=data())
    b = bootstrap_draws(res, 2, seed=1)
    np.testing.assert_allclose(a.theta, b.theta)


def test_bootstrap_of_a_two_level_fit_is_refused():
    demo = pd.read_csv(ROOT / "tests" / "reference" / "nested" / "demo_twolevel.csv")
    res = asymtrust.fit("level: 1\nfw =~ y1 + y2 + y3\nlevel: 2\nfb =~ y1 + y2 + y3", demo, cluster="cluster")
    with pytest.raises(OptionError, match="two-level"):
        bootstrap_draws(res, 2, seed=1)
