"""power() for ordinal designs (issue 15): ``power(spec, n, ordered=True, thresholds=...)``
simulates each replicate's 5-point items from the spec's population cut at the design's
thresholds and fits it with WLSMV, as lavaan's ``sem(model, data, ordered = items)``.

References (R scripts beside their JSON in tests/reference/power/; the spec med5.toml/.lav
there: X -> M -> Y, three items per construct, standardized loadings .75/.70/.65, paths .25
and .30):

- ordinal_replicate.R -> ordinal_replicate.json + .csv: one data set from lavaan's
  ``simulateData`` (the population with its thresholds) and lavaan's WLSMV estimates, SEs,
  std.all and their SEs of the two paths and of ``ind := a*b`` on it. power()'s replicate
  estimator must give the same numbers on the same rows (estimates and SEs 2e-3).
- ordinal_power.R -> ordinal_power.json: the same design simulated and fitted by lavaan,
  ``fast`` (n = 250, 40 replicates) and ``full`` (n = 100 and 250, 200 replicates), power of
  the z tests at alpha = .05, mean and SD of the std.all estimates; also the population's
  implied correlations of the latent responses.

Monte Carlo tolerance. asymtrust's and lavaan's tables come from independent random draws
(numpy's and R's generators), so they agree only within Monte Carlo error. For a power p
estimated from k1 and k2 converged replicates the difference has SD
sqrt(p (1 - p) (1/k1 + 1/k2)) (p the pooled share); a mean estimate's difference has SD
sqrt(s1^2/k1 + s2^2/k2) (s the replicates' SDs), and an SD's about
sqrt(s1^2/(2(k1-1)) + s2^2/(2(k2-1))). Every comparison allows 3.29 such SDs: a two-sided
test at the 0.1% level, so that a correct implementation fails with probability about
0.001 per comparison (the seeds are fixed, so the outcome is reproducible), while a
systematic error (e.g. ML instead of WLSMV SEs, wrong cut points or loadings) of the
size these designs can detect shows up.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.analysis.power import SpecGenerator, _OrdinalEstimator, _targets, power
from asymtrust.exceptions import OptionError

REF = Path(__file__).parent / "reference" / "power"
SPEC = str(REF / "med5.toml")
Z = 3.29  # two-sided 0.1% normal quantile


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "ordinal_power.json").read_text(encoding="utf-8"))


def _power(ref: dict, design: str) -> pd.DataFrame:
    d = ref["designs"][design]
    ns = sorted({int(r["n"]) for r in d})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return power(SPEC, n=ns, reps=int(d[0]["reps"]), seed=15, ordered=True, thresholds=ref["thresholds"])


def _agree(tab: pd.DataFrame, rows: list[dict]) -> None:
    assert tab.attrs["estimator"] == "WLSMV" and tab.attrs["ordered"] == [f"{c}{i}" for c in "xmy" for i in (1, 2, 3)]
    assert len(tab) == len(rows)
    for r in rows:
        ours = tab[(tab["n"] == r["n"]) & (tab["parameter"] == r["parameter"])].iloc[0]
        k1, k2 = int(ours["n_converged"]), int(r["n_converged"])
        assert k1 >= 0.95 * ours["reps"] and k2 >= 0.95 * r["reps"]
        p = (ours["power"] * k1 + r["power"] * k2) / (k1 + k2)
        sd_p = np.sqrt(p * (1 - p) * (1 / k1 + 1 / k2))
        assert abs(ours["power"] - r["power"]) <= Z * sd_p + 1e-12, (r, ours["power"])
        sd_m = np.sqrt(ours["sd_est"] ** 2 / k1 + r["sd_est"] ** 2 / k2)
        assert abs(ours["mean_est"] - r["mean_est"]) <= Z * sd_m, (r, ours["mean_est"])
        sd_s = np.sqrt(ours["sd_est"] ** 2 / (2 * (k1 - 1)) + r["sd_est"] ** 2 / (2 * (k2 - 1)))
        assert abs(ours["sd_est"] - r["sd_est"]) <= Z * sd_s, (r, ours["sd_est"])


def test_one_replicate_is_lavaans_wlsmv_fit():
    """power()'s replicate estimator on lavaan's simulated rows: lavaan's estimates, robust
    SEs, std.all and their SEs, the indirect effect's by the delta method (ind := a*b)."""
    ref = json.loads((REF / "ordinal_replicate.json").read_text(encoding="utf-8"))
    d = pd.read_csv(REF / "ordinal_replicate.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = asymtrust.fit(asymtrust.load_spec(SPEC).syntax, d, ordered=True)
        targets, _ = _targets(base.partable)
        est = _OrdinalEstimator(base.syntax, base, True, targets)
        out, improper = est.estimate_flagged(est._matrix(d))
    assert base.fit_indices["chisq"] == pytest.approx(ref["chisq"], rel=1e-3) and not improper
    assert [t.name for t in targets] == list(ref["targets"])
    for t, row in zip(targets, out):
        r = ref["targets"][t.name]
        np.testing.assert_allclose(row, [r["est"], r["se"], r["std_all"], r["std_all_se"]], atol=2e-3)


def test_the_simulated_population_is_lavaans(ref):
    """asymtrust and lavaan draw from the same population: the latent responses' implied
    correlations and the cut points."""
    gen = SpecGenerator(SPEC, thresholds=ref["thresholds"])
    names = ref["implied"]["names"]
    lam = np.array([gen.pm.loadings[i][1] for i in names])
    lv = [gen.pm.loadings[i][0] for i in names]
    idx = [gen.pm.latents.index(v) for v in lv]
    R = np.outer(lam, lam) * gen.pm.cov[np.ix_(idx, idx)]
    np.fill_diagonal(R, 1.0)
    np.testing.assert_allclose(R, np.array(ref["implied"]["matrix"]), atol=1e-12)
    for item in names:
        want = ref["thresholds"].get(item, ref["thresholds"]["default"])
        np.testing.assert_array_equal(gen.pm.thresholds[item], want)
        assert gen.scale[item] == (1, 5)
    d = gen(2000, np.random.default_rng(1))
    assert set(np.unique(d.to_numpy())) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_ordinal_power_agrees_with_lavaan_fast(ref):
    tab = _power(ref, "fast")
    _agree(tab, ref["designs"]["fast"])
    assert tab.attrs["thresholds"]["y1"] == ref["thresholds"]["y1"]


@pytest.mark.slow
def test_ordinal_power_agrees_with_lavaan_full(ref):
    _agree(_power(ref, "full"), ref["designs"]["full"])


def test_ordinal_power_reports_improper_replicates(ref):
    """Small samples: replicates with an improper solution (a negative residual variance of
    an ordered item) are kept, counted and reported, as for ML."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = power(SPEC, n=[50], reps=8, seed=3, ordered=True, thresholds=ref["thresholds"])
    bad = tab.attrs["n_improper"][50]
    assert 0 < bad <= 8
    assert any(f"{bad} of 8 replicates have a negative variance estimate" in w for w in tab.warnings)
    assert (tab["n_converged"] == 8).all()


def test_ordinal_power_refusals_are_typed(ref):
    th = ref["thresholds"]
    with pytest.raises(OptionError, match="thresholds of x2: 1 to 20 finite, strictly increasing"):
        power(SPEC, n=[100], reps=2, ordered=True, thresholds={"default": [-1.0, 0.0], "x2": [0.5, 0.5]})
    with pytest.raises(OptionError, match="thresholds: z9 is not an item of the spec"):
        power(SPEC, n=[100], reps=2, ordered=True, thresholds={"z9": [0.0]})
    with pytest.raises(OptionError, match=r"thresholds of y1: category 5 of 5 has population share"):
        power(SPEC, n=[100], reps=2, ordered=True, thresholds={**th, "y1": [-0.5, 0.3, 1.0, 3.0]})
    with pytest.raises(OptionError, match="ordered items must be items of the spec: q1"):
        power(SPEC, n=[100], reps=2, ordered=["x1", "q1"], thresholds=th)
    with pytest.raises(OptionError, match="estimator='ML' is not supported with ordered="):
        power(SPEC, n=[100], reps=2, ordered=True, thresholds=th, estimator="ML")
    with pytest.raises(OptionError, match="ordered= with clusters= is not supported"):
        power(SPEC, clusters=[20], cluster_size=5, reps=2, ordered=True)
    with pytest.raises(OptionError, match="thresholds= with apim is not supported"):
        power("apim", n=[50], reps=2, thresholds=th)


def test_cli_power_takes_ordered_and_thresholds(capsys):
    from asymtrust import cli

    code = cli.main(["power", "--spec", SPEC, "--n", "200", "--reps", "3", "--seed", "1", "--ordered",
                     "--thresholds=-1.5,-0.5,0.5,1.5", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert doc["estimator"] == "WLSMV" and doc["thresholds"]["y3"] == [-1.5, -0.5, 0.5, 1.5]
    assert {r["parameter"] for r in doc["power"]} == {"M~X", "Y~M", "X -> M -> Y"}
    code = cli.main(["power", "--spec", SPEC, "--n", "200", "--reps", "3", "--ordered", "--thresholds=1,0"])
    assert code == 2 and "strictly increasing" in capsys.readouterr().err
