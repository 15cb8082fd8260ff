"""Issue 12, the analyses that rest on fits and replicates: nothing a fit reports is lost,
workers are capped at the usable cores, and memory is estimated before allocating.

* Every analysis result that rests on one or more fits (effects, compare, invariance,
  path_equality, power, moderation, reliability / Fornell-Larcker) carries the fits'
  problems in ``warnings`` (prefixed with the model, level or step they came from) and the
  rows read, used and dropped, in its text (``str()`` / ``summary()``) and in
  ``to_dict()``. The improper fit is the bundled Heywood demo (SYNTHETIC data,
  ``scripts/make_heywood_demo.py``): cap1's residual variance is negative.
* ``n_jobs`` above the usable cores (``os.sched_getaffinity``) is capped there by the one
  resampling engine, with a ``UserWarning`` naming both numbers.
* The memory of the stored replicates (bootstrap x model size, power reps x N x p) is
  estimated before any work; above the budget (half of MemAvailable, or
  ``ASYMTRUST_MAX_MEMORY``) it is a ``ResourceLimitError`` naming the option and the estimate.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust import cli
from asymtrust.engine import resample
from asymtrust.analysis.compare import ResultTable, compare
from asymtrust import _resources
from asymtrust.exceptions import OptionError, ResourceLimitError
from asymtrust.analysis.invariance import invariance, path_equality
from asymtrust.analysis.power import power_memory, simulate_power
from asymtrust.analysis.reliability import fornell_larcker, reliability

ROOT = Path(__file__).resolve().parents[1]
HEYWOOD_CSV = ROOT / "datasets" / "heywood_demo.csv"
HEYWOOD_LAV = ROOT / "datasets" / "heywood_demo.lav"
HEYWOOD = "Heywood case: negative variance estimate for cap1"
#: the Heywood demo's measurement model with a structural chain, so that it has effects
CHAIN = "CapImb =~ cap1 + cap2 + cap3\nPowDist =~ pow1 + pow2\nPowDist ~ CapImb\npow3 ~ PowDist + CapImb\n"


@pytest.fixture(scope="module")
def heywood() -> pd.DataFrame:
    return pd.read_csv(HEYWOOD_CSV)


@pytest.fixture(scope="module")
def chain_fit(heywood):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = asymtrust.fit(CHAIN, heywood)
    assert res.converged and any(HEYWOOD in w for w in res.warnings)  # fit reports it ...
    return res


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _in_json(d: dict, fragment: str) -> None:
    text = json.dumps(d)  # JSON-safe as it is
    assert any(fragment in w for w in d["warnings"]), d["warnings"]
    assert fragment in text


# ============================================================================ 1. fit problems propagate
def test_effects_carry_the_heywood_case_in_text_and_json(chain_fit):
    eff = asymtrust.effects(chain_fit, bootstrap=0)
    assert isinstance(eff, pd.DataFrame) and isinstance(eff, ResultTable)
    assert f"fit: {HEYWOOD}" in " ".join(eff.warnings)
    text = str(eff)
    assert HEYWOOD in text and "WARNINGS" in text
    assert "150 used of 150 read" in text
    d = eff.to_dict()
    _in_json(d, HEYWOOD)
    assert d["data"] == [{"source": "", "n_read": 150, "n_used": 150, "dropped": {}}]
    assert len(d["effects"]) == len(eff) and d["effects"][0]["path"] == "CapImb -> PowDist -> pow3"
    # pandas' own to_dict is unchanged when asked for, and slices keep the warnings
    assert eff.to_dict("records")[0]["path"] == "CapImb -> PowDist -> pow3"
    sub = eff[eff["effect"] == "indirect"]
    assert HEYWOOD in str(sub) and sub.warnings == eff.warnings


def test_effects_report_dropped_rows_by_reason(heywood):
    data = heywood.copy()
    data.loc[[3, 7, 11], "pow2"] = np.nan
    res = _quiet(asymtrust.fit, CHAIN, data)
    eff = asymtrust.effects(res, bootstrap=0)
    usage = eff.to_dict()["data"][0]
    assert (usage["n_read"], usage["n_used"]) == (150, 147)
    assert sum(usage["dropped"].values()) == 3
    assert "147 used of 150 read (dropped: 3 " in str(eff)


def test_effects_name_failed_bootstrap_replicates(chain_fit, monkeypatch):
    real = resample._BootReplicate.__call__

    def flaky(self, rng):
        theta, ok = real(self, rng)
        return (np.full_like(theta, np.nan), False) if rng.random() < 0.5 else (theta, ok)

    monkeypatch.setattr(resample._BootReplicate, "__call__", flaky)
    eff = _quiet(asymtrust.effects, chain_fit, bootstrap=20, seed=3)
    failed = eff.attrs["bootstrap"]["n_failed"]
    assert failed > 0
    assert any(w.startswith(f"bootstrap: {failed} of 20 bootstrap replicates failed") for w in eff.warnings)
    assert any(w.startswith("fit: ") and HEYWOOD in w for w in eff.warnings)


def test_compare_carries_every_models_heywood_case(heywood):
    one = "F =~ cap1 + cap2 + cap3 + pow1 + pow2 + pow3"
    cmp = _quiet(compare, {"demo": str(HEYWOOD_LAV), "one": one}, heywood)
    assert any(w.startswith(f"model 'demo': {HEYWOOD}") for w in cmp.warnings), cmp.warnings
    assert any(w.startswith(f"model 'one': {HEYWOOD}") for w in cmp.warnings), cmp.warnings
    assert f"model 'demo': {HEYWOOD}" in cmp.summary() and str(cmp) == cmp.summary()
    assert "150 used of 150 read" in cmp.summary()
    d = cmp.to_dict()
    _in_json(d, f"model 'demo': {HEYWOOD}")
    assert d["data"] == [{"source": "model 'demo', model 'one'", "n_read": 150, "n_used": 150, "dropped": {}}]


def test_invariance_carries_each_levels_heywood_case(heywood):
    tab = _quiet(invariance, str(HEYWOOD_LAV), heywood, "sector", levels=("configural", "metric"))
    assert isinstance(tab, ResultTable)
    text = str(tab)
    for level in ("configural", "metric"):
        assert any(w.startswith(f"{level}: {HEYWOOD}") for w in tab.warnings), tab.warnings
        assert f"{level}: {HEYWOOD}" in text
    assert "150 used of 150 read" in text
    d = tab.to_dict()
    _in_json(d, f"metric: {HEYWOOD}")
    assert [r["level"] for r in d["invariance"]] == ["configural", "metric"]
    assert d["data"][0]["source"] == "configural model, metric model"


def test_path_equality_carries_the_fits_heywood_cases(heywood):
    model = "CapImb =~ cap1 + cap2 + cap3\nPowDist =~ pow1 + pow2 + pow3\nPowDist ~ CapImb\n"
    tab = _quiet(path_equality, model, heywood, "sector")
    assert any(w.startswith(f"model with all paths free: {HEYWOOD}") for w in tab.warnings), tab.warnings
    assert any(w.startswith(f"model with PowDist~CapImb equal: {HEYWOOD}") for w in tab.warnings)
    assert f"model with all paths free: {HEYWOOD}" in str(tab)
    _in_json(tab.to_dict(), f"model with all paths free: {HEYWOOD}")


def test_reliability_and_fornell_larcker_carry_the_cfas_heywood_case(heywood):
    rel = _quiet(reliability, heywood, str(HEYWOOD_LAV))
    fl = _quiet(fornell_larcker, heywood, str(HEYWOOD_LAV))
    for tab, key in ((rel, "reliability"), (fl, "fornell_larcker")):
        assert any(w == f"CFA of the measurement model: {HEYWOOD} (-0.6172)" for w in tab.warnings), tab.warnings
        assert HEYWOOD in str(tab) and "150 used of 150 read" in str(tab)
        d = tab.to_dict()
        _in_json(d, HEYWOOD)
        assert key in d and d["data"][0]["n_used"] == 150
    assert rel.to_dict()["reliability"][0]["construct"] == "CapImb"  # the index is kept


def test_reliability_carries_a_non_converged_cfa(hs1939):
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    good = asymtrust.fit(model, hs1939)
    bad = _quiet(asymtrust.fit, model, hs1939, start=np.full(len(good.theta), 1e6))
    assert not bad.converged
    rel = _quiet(reliability, hs1939, model, fitted=bad)
    assert any(w.startswith("CFA of the measurement model: the optimiser did not converge") for w in rel.warnings)
    assert "CFA of the measurement model: the optimiser did not converge" in str(rel)
    _in_json(rel.to_dict(), "did not converge")
    assert reliability(hs1939, model, fitted=good).warnings == []


def test_moderation_carries_the_sem_fits_problems(monkeypatch):
    from asymtrust.analysis.moderation import moderation

    fit_module = sys.modules["asymtrust.engine.fit"]
    real = fit_module.fit

    def improper(*args, **kwargs):  # the SEM fit reports a Heywood case
        res = real(*args, **kwargs)
        res.warnings = [*res.warnings, "Heywood case: negative variance estimate for cap2 (-0.01)"]
        return res

    monkeypatch.setattr(fit_module, "fit", improper)
    data = asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))
    res = _quiet(moderation, data, "fig1_moderated")
    assert "latent model: Heywood case: negative variance estimate for cap2 (-0.01)" in res.warnings
    assert "latent model: Heywood case" in res.summary() and str(res) == res.summary()
    d = res.to_dict()
    _in_json(d, "latent model: Heywood case")
    assert d["data"]["n_read"] == len(data) and d["data"]["n_used"] == res.nobs


def test_observed_moderation_reports_dropped_rows():
    from asymtrust.analysis.moderation import moderation

    data = asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))
    data.loc[data.index[:4], "cap2"] = np.nan
    res = moderation(data, "fig1_moderated", method="observed")
    assert res.usage["n_read"] == len(data) and res.usage["n_used"] == len(data) - 4
    assert res.usage["dropped"] == {"rows with a missing item (listwise)": 4}
    assert f"{len(data) - 4} used of {len(data)} read (dropped: 4 rows with a missing item" in res.summary()


class HeywoodPopulation:
    """Six items whose one-factor structure needs a standardized loading of 1.2 for cap1
    (as ``scripts/make_heywood_demo.py``), the first row of each data set incomplete."""

    R = np.array([[1.00, 0.85, 0.85, 0.30, 0.30, 0.30],
                  [0.85, 1.00, 0.50, 0.30, 0.30, 0.30],
                  [0.85, 0.50, 1.00, 0.30, 0.30, 0.30],
                  [0.30, 0.30, 0.30, 1.00, 0.50, 0.50],
                  [0.30, 0.30, 0.30, 0.50, 1.00, 0.50],
                  [0.30, 0.30, 0.30, 0.50, 0.50, 1.00]])
    columns = ["cap1", "cap2", "cap3", "pow1", "pow2", "pow3"]

    def __call__(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        X = rng.multivariate_normal(np.zeros(6), self.R, size=n)
        X[0, 4] = np.nan
        return pd.DataFrame(X, columns=self.columns)


def test_power_carries_base_fit_and_replicate_heywood_cases():
    model = "CapImb =~ cap1 + cap2 + cap3\nPowDist =~ pow1 + pow2 + pow3\nPowDist ~ CapImb\n"
    tab = _quiet(simulate_power, model, HeywoodPopulation(), n=[120], reps=6, seed=11, base_n=600)
    assert any(w.startswith("base sample (N = 600): Heywood case: negative variance estimate for cap1")
               for w in tab.warnings), tab.warnings
    improper = tab.attrs["n_improper"][120]
    assert improper > 0
    assert f"n = 120: {improper} of 6 replicates have a negative variance estimate (Heywood case)" in " ".join(tab.warnings)
    text = str(tab)
    assert "base sample (N = 600): Heywood case" in text and "n = 120:" in text
    # rows read and used: one incomplete row per simulated data set
    assert "599 used of 600 read" in text
    assert "714 used of 720 read (dropped: 6 rows with a missing value (listwise))" in text
    d = tab.to_dict()
    _in_json(d, "base sample (N = 600): Heywood case")
    assert d["data"][1] == {"source": "6 replicates of n = 120", "n_read": 720, "n_used": 714,
                            "dropped": {"rows with a missing value (listwise)": 6}}


def test_a_proper_analysis_has_no_warnings(poldem):
    model = "ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem65 =~ y5 + y6 + y7 + y8\ndem60 ~ ind60\ndem65 ~ ind60 + dem60"
    eff = asymtrust.effects(asymtrust.fit(model, poldem), bootstrap=0)
    assert eff.warnings == [] and "WARNINGS" not in str(eff)
    assert f"{len(poldem)} used of {len(poldem)} read" in str(eff)


# ---------------------------------------------------------------------------- through the CLI
def _chain_file(tmp_path: Path) -> Path:
    path = tmp_path / "chain.lav"
    path.write_text(CHAIN, encoding="utf-8")
    return path


def test_cli_compare_shows_the_heywood_case(capsys, tmp_path):
    one = tmp_path / "one.lav"
    one.write_text("F =~ cap1 + cap2 + cap3 + pow1 + pow2 + pow3\n", encoding="utf-8")
    assert cli.main(["compare", str(HEYWOOD_CSV), "--specs", str(HEYWOOD_LAV), str(one), "--json"]) == 0
    out, _ = capsys.readouterr()
    payload = json.loads(out)
    assert any(w.startswith(f"model 'heywood_demo': {HEYWOOD}") for w in payload["warnings"])
    assert payload["data"][0]["n_used"] == 150
    assert cli.main(["compare", str(HEYWOOD_CSV), "--specs", str(HEYWOOD_LAV), str(one)]) == 0
    out, _ = capsys.readouterr()
    assert f"model 'heywood_demo': {HEYWOOD}" in out


#: CLI output that cli.py (owned by the lead) must still take from the results; strict,
#: so each turns red the day cli.py prints the result's warnings and rows used

def test_cli_effects_json_carries_the_heywood_case(capsys, tmp_path):
    assert cli.main(["effects", str(HEYWOOD_CSV), "--spec", str(_chain_file(tmp_path)), "--bootstrap", "5",
                     "--seed", "1", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert any(HEYWOOD in w for w in payload["warnings"])
    assert payload["data"][0]["n_used"] == 150


def test_cli_effects_text_carries_the_heywood_case(capsys, tmp_path):
    assert cli.main(["effects", str(HEYWOOD_CSV), "--spec", str(_chain_file(tmp_path)), "--bootstrap", "5",
                     "--seed", "1", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert HEYWOOD in out + err and "150 used of 150 read" in out


def test_cli_invariance_json_carries_the_heywood_case(capsys):
    assert cli.main(["invariance", str(HEYWOOD_CSV), "--spec", str(HEYWOOD_LAV), "--group", "sector", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert any(w.startswith(f"metric: {HEYWOOD}") for w in payload["warnings"])
    assert payload["data"][0]["n_used"] == 150


def test_cli_reliability_json_carries_the_heywood_case(capsys):
    assert cli.main(["reliability", str(HEYWOOD_CSV), "--spec", str(HEYWOOD_LAV), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert any(HEYWOOD in w for w in payload["warnings"])
    assert payload["data"][0]["n_used"] == 150


def test_cli_power_json_carries_warnings_and_rows(capsys):
    assert cli.main(["power", "--spec", "fig1", "--n", "200", "--reps", "2", "--seed", "1", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert "warnings" in payload and payload["data"][0]["source"].startswith("base sample")


# ============================================================================ 2. workers capped at the usable cores
def _draw(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 10**9))


def test_usable_cores_is_the_affinity_mask():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert resample.usable_cores() == expected


def test_usable_cores_falls_back_to_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert resample.usable_cores() == 3


def test_jobs_above_the_cores_are_capped_with_a_warning(monkeypatch):
    import joblib

    monkeypatch.setattr(resample, "usable_cores", lambda: 1)

    def no_pool(*a, **k):  # pragma: no cover - the point is that it is not reached
        raise AssertionError("a process pool was started for 1 usable core")

    monkeypatch.setattr(joblib, "Parallel", no_pool)
    ref = resample.run_replicates(_draw, 7, seed=5, n_jobs=1)
    with pytest.warns(UserWarning, match=r"parallel jobs capped from 24 to 1: only 1 CPU core\(s\) are usable"):
        got = resample.run_replicates(_draw, 7, seed=5, n_jobs=24)
    assert got == ref  # same numbers, in this process


def test_all_cores_means_the_usable_ones(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resample._resolve_jobs(-1) == 2
        assert resample._resolve_jobs(2) == 2
        assert resample._resolve_jobs(24, local=False) == 24  # a remote Dask cluster has its own cores
    with pytest.warns(UserWarning, match="capped from 3 to 2"):
        assert resample._resolve_jobs(3) == 2


def test_effects_with_too_many_jobs_warns_and_gives_the_same_numbers(chain_fit, monkeypatch):
    monkeypatch.setattr(resample, "usable_cores", lambda: 1)
    ref = _quiet(asymtrust.effects, chain_fit, bootstrap=6, seed=2)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = asymtrust.effects(chain_fit, bootstrap=6, seed=2, n_jobs=24)
    assert [str(w.message) for w in rec if "capped" in str(w.message)] == [
        "parallel jobs capped from 24 to 1: only 1 CPU core(s) are usable, and more worker processes than cores "
        "only cost time and memory"]
    pd.testing.assert_frame_equal(got, ref)


def test_cli_jobs_cap_is_an_asymtrust_warning_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(resample, "usable_cores", lambda: 1)
    code = cli.main(["effects", str(HEYWOOD_CSV), "--spec", str(_chain_file(tmp_path)), "--bootstrap", "4",
                     "--seed", "1", "--jobs", "24", "--json"])
    assert code == 0
    err = capsys.readouterr().err
    assert "asymtrust: warning: parallel jobs capped from 24 to 1" in err
    assert "UserWarning" not in err and "Traceback" not in err


# ============================================================================ 3. memory estimated before allocating
def test_bootstrap_memory_estimate_grows_with_replicates_and_model_size():
    small = resample.bootstrap_memory(1000, 13)
    assert resample.bootstrap_memory(2000, 13) > small and resample.bootstrap_memory(1000, 130) > small
    # B x (parameter vector kept twice + overhead per result): about 0.5 MB here
    assert 1000 * 2 * 8 * 13 <= small <= 1000 * (2 * 8 * 13 + 1024)


def test_bootstrap_above_the_memory_budget_is_refused_before_any_replicate(chain_fit, monkeypatch):
    monkeypatch.setenv("ASYMTRUST_MAX_MEMORY", "64K")

    def no_work(*a, **k):  # pragma: no cover
        raise AssertionError("replicates ran")

    monkeypatch.setattr(resample, "run_replicates", no_work)
    with pytest.raises(ResourceLimitError) as info:
        asymtrust.effects(chain_fit, bootstrap=1000)
    msg = str(info.value)
    assert msg.startswith("bootstrap = 1000: the stored replicates would need about ")
    assert "KiB of memory, more than the 64.0 KiB allowed (ASYMTRUST_MAX_MEMORY = 64K); lower bootstrap" in msg
    with pytest.raises(ResourceLimitError, match="bootstrap = 1000"):
        resample.bootstrap_draws(chain_fit, 1000)
    assert asymtrust.effects(chain_fit, bootstrap=0).shape[0] > 0  # no bootstrap, no check


def test_budget_is_half_of_memavailable(chain_fit, monkeypatch):
    monkeypatch.delenv("ASYMTRUST_MAX_MEMORY", raising=False)
    monkeypatch.setattr(_resources, "available_memory", lambda: 200 * 1024)
    assert resample.memory_budget() == (100 * 1024, "half of the 200.0 KiB of memory available")
    with pytest.raises(ResourceLimitError, match=r"more than the 100.0 KiB allowed \(half of the 200.0 KiB of memory available\)"):
        asymtrust.effects(chain_fit, bootstrap=1000)


def test_memavailable_is_read_from_proc_meminfo():
    path = Path("/proc/meminfo")
    if not path.exists():
        pytest.skip("no /proc/meminfo on this platform")
    kib = next(int(line.split()[1]) for line in path.read_text().splitlines() if line.startswith("MemAvailable:"))
    got = _resources.available_memory()
    assert got is not None and abs(got - kib * 1024) < 0.5 * kib * 1024  # it moves while we look


def test_memory_fallbacks(monkeypatch):
    def unreadable(*a, **k):
        raise OSError("no /proc here")

    monkeypatch.setattr(_resources, "open", unreadable, raising=False)
    monkeypatch.delenv("ASYMTRUST_MAX_MEMORY", raising=False)
    free = _resources.available_memory()  # from os.sysconf where it exists
    if hasattr(os, "sysconf"):
        assert free is None or free > 0

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", no_sysconf, raising=False)
    assert _resources.available_memory() is None
    assert resample.memory_budget() == (None, "")  # nothing known: no check, no crash
    resample.check_memory(10**15, option="bootstrap", value=1)
    monkeypatch.setenv("ASYMTRUST_MAX_MEMORY", "2G")
    assert resample.memory_budget() == (2 * 1024**3, "ASYMTRUST_MAX_MEMORY = 2G")


@pytest.mark.parametrize("raw, value", [("512M", 512 * 1024**2), ("1.5G", int(1.5 * 1024**3)), ("64KiB", 65536),
                                        ("1000", 1000), ("2gb", 2 * 1024**3)])
def test_max_memory_setting_parses(raw, value):
    assert _resources.parse_bytes(raw) == value


@pytest.mark.parametrize("raw", ["lots", "-5M", "0", "5X"])
def test_max_memory_setting_refuses_nonsense(raw):
    with pytest.raises(OptionError, match="ASYMTRUST_MAX_MEMORY must be a positive size"):
        _resources.parse_bytes(raw)


def test_power_estimate_names_reps_or_n():
    stored, data = power_memory(32, 22, [150, 200, 300, 500], 1000, 5000, workers=2)
    assert stored == 1000 * (4 * (2 * 8 * 4 * 22 + 48) + 512)
    assert data == 4 * 8 * 32 * (5000 + 2 * 500)
    big_reps, _ = power_memory(32, 22, [200], 100_000, 5000)
    _, big_n = power_memory(32, 22, [10**8], 2, 10**8)
    assert big_reps > 100 * 1024**2 and big_n > 100 * 1024**3


def test_power_above_the_budget_is_refused_before_simulating(monkeypatch):
    monkeypatch.setenv("ASYMTRUST_MAX_MEMORY", "1M")
    calls = []

    def generate(n, rng):  # pragma: no cover - must not be called
        calls.append(n)
        raise AssertionError("data were simulated")

    model = "CapImb =~ cap1 + cap2 + cap3\nPowDist =~ pow1 + pow2 + pow3\nPowDist ~ CapImb\n"
    with pytest.raises(ResourceLimitError, match=r"^reps = 20000: the stored replicates \(1 sample size\(s\) x 1 targets\)"):
        simulate_power(model, generate, n=[100], reps=20000)
    with pytest.raises(ResourceLimitError, match=r"^n = 10000000: the simulated data \(10000000 rows x 6 variables\)"):
        simulate_power(model, generate, n=[10**7], reps=2)
    assert calls == []
