"""fit() beyond the lavaan reference cases: recovery of the simulation's population
paths, the CLI's JSON, and the typed errors issue 3 lists for bad input.

The numbers compared here come from the spec's documented population values
(``specs/fig1.toml``), not from asymtrust itself.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust import cli
from asymtrust.exceptions import (
    DataError,
    DuplicateDefinitionError,
    IdentificationError,
    UnknownVariableError,
)

CFA = "F1 =~ a1 + a2 + a3\nF2 =~ b1 + b2 + b3\n"


@pytest.fixture(scope="module")
def bcf():
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))


@pytest.fixture(scope="module")
def fig1_fit(bcf):
    return asymtrust.fit("fig1", bcf)


def _small(n=200, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]], size=n)
    cols = {}
    for k, name in enumerate(("a", "b")):
        for i, lam in enumerate((0.8, 0.7, 0.6), start=1):
            cols[f"{name}{i}"] = lam * f[:, k] + rng.normal(scale=np.sqrt(1 - lam**2), size=n)
    return pd.DataFrame(cols)


def test_fig1_recovers_population_paths_with_right_signs(fig1_fit, bcf):
    spec = asymtrust.load_spec("fig1")
    est = fig1_fit.estimates
    sizes = bcf["sector"].value_counts(normalize=True)
    groups = spec.population["groups"]
    assert fig1_fit.converged and not fig1_fit.warnings
    n_paths = 0
    for lhs, preds in spec.population["paths"].items():
        for rhs, value in preds.items():
            # sector-specific population values: the pooled data mix them by sector share
            per = [groups.get(g, {}).get("paths", {}).get(lhs, {}).get(rhs, value) for g in sizes.index]
            pop = float(np.dot(sizes.to_numpy(), per))
            row = est[(est.lhs == lhs) & (est.op == "~") & (est.rhs == rhs)].iloc[0]
            assert np.sign(row.std_all) == np.sign(pop), (lhs, rhs, row.std_all, pop)
            assert row.pvalue < 0.05, (lhs, rhs)
            # within 3 standard errors (std metric SE) of the population value
            assert abs(row.std_all - pop) < 3 * row.std_all_se + 0.02, (lhs, rhs, row.std_all, pop)
            n_paths += 1
    assert n_paths == 10


def test_fig1_fit_has_the_lavaan_fit_measures(fig1_fit):
    keys = ["chisq", "df", "pvalue", "baseline_chisq", "baseline_df", "cfi", "tli", "rmsea", "rmsea_ci_lower",
            "rmsea_ci_upper", "rmsea_pvalue", "srmr", "logl", "unrestricted_logl", "aic", "bic", "npar", "nobs"]
    fi = fig1_fit.fit_indices
    assert all(k in fi.index and np.isfinite(fi[k]) for k in keys)
    assert fi["npar"] == 88 and fi["df"] == 440 and fi["nobs"] == 600


def test_estimates_columns_and_summary(fig1_fit):
    cols = ["lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue", "ci_lower", "ci_upper",
            "std_lv", "std_all"]
    est = fig1_fit.parameter_estimates()
    assert all(c in est.columns for c in cols)
    fixed = est[(est.op == "=~") & (est.est == 1.0)]
    assert (fixed.se == 0).all() and len(fixed) == 10
    text = fig1_fit.summary()
    assert "Regressions:" in text and "CompTrust ~ RoleAmb" in text and "RMSEA" in text
    d = fig1_fit.to_dict()
    json.dumps(d)  # JSON-safe
    assert d["fit_indices"]["npar"] == 88
    assert "<table" in fig1_fit._repr_html_()


def test_cli_fit_json(capsys):
    code = cli.main(["fit", "bcf_synthetic", "--spec", "fig1", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert set(doc) >= {"fit_indices", "estimates"}
    assert doc["fit_indices"]["npar"] == 88
    rec = doc["estimates"][0]
    for col in ("lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue", "ci_lower", "ci_upper",
                "std_lv", "std_all"):
        assert col in rec


def test_cli_fit_mlr_fiml_text(capsys, tmp_path):
    data = _small(300)
    data.loc[::17, "a2"] = np.nan
    path = tmp_path / "d.csv"
    data.to_csv(path, index=False)
    before = path.read_bytes()
    spec = tmp_path / "m.lav"
    spec.write_text(CFA)
    code = cli.main(["fit", str(path), "--spec", str(spec), "--estimator", "MLR", "--missing", "fiml"])
    out = capsys.readouterr().out
    assert code == 0 and "Scaled statistic" in out and "fiml" in out
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- bad input (issue 3)
def test_unknown_variable_names_it_and_its_line():
    with pytest.raises(UnknownVariableError, match=r"zz9.*line 2|line 2.*zz9"):
        asymtrust.fit("F1 =~ a1 + a2 + a3\nF2 =~ b1 + b2 + zz9\n", _small())


def test_duplicate_definition():
    with pytest.raises(DuplicateDefinitionError):
        asymtrust.fit(CFA + "F1 =~ a1\n", _small())


def test_negative_df_is_refused():
    model = "F1 =~ a1 + a2\na1 ~~ a2\n"
    with pytest.raises(IdentificationError, match="df"):
        asymtrust.fit(model, _small())


def test_n_below_number_of_parameters():
    # lavaan fits such a model (issue 14: only a sample covariance that is not positive
    # definite stops it); asymtrust fits it too, with a warning naming the counts
    res = asymtrust.fit(CFA, _small(n=8))
    assert any("only 8 cases for 13 free parameters" in w for w in res.warnings)


def test_non_numeric_column_is_named():
    d = _small(50).astype({"b2": object})
    d.loc[3, "b2"] = "agree"
    with pytest.raises(DataError, match="b2"):
        asymtrust.fit(CFA, d)


def test_unidentified_parameter_is_reported():
    # two free loadings on a single-indicator factor with a free residual: not identified
    d = _small()
    model = "F1 =~ a1 + a2 + a3\nF2 =~ NA*b1\nF2 ~~ F2\n"
    try:
        res = asymtrust.fit(model, d)
    except IdentificationError:
        return
    assert any("singular" in w or "not identified" in w or "huge standard error" in w for w in res.warnings)


def test_refit_matches_a_fresh_fit(bcf):
    from asymtrust.engine.fit import refit

    base = asymtrust.fit("fig1", bcf)
    sample = bcf.sample(frac=1.0, replace=True, random_state=3)
    warm = refit(base, sample)
    fresh = asymtrust.fit("fig1", sample)
    assert warm.converged
    np.testing.assert_allclose(warm.theta, fresh.theta, atol=1e-6)


def test_fit_from_moments_equals_raw_fit(bcf):
    items = asymtrust.load_spec("fig1").items()
    raw = asymtrust.fit("fig1", bcf)
    cov = bcf[items].cov()  # the unbiased matrix, read and rescaled by (N-1)/N as lavaan's sample.cov
    mom = asymtrust.fit("fig1", sample_cov=cov, sample_nobs=len(bcf))
    assert mom.fit_indices["chisq"] == pytest.approx(raw.fit_indices["chisq"], rel=1e-8)
    np.testing.assert_allclose(mom.theta, raw.theta, atol=1e-7)
