"""Streaming moments of large files (asymtrust.survey.moments) and fits from those moments.

Reference: ``tests/reference/moments/moments_case.R`` (R cov/colMeans of the complete
rows of ``moments_case.csv``, and lavaan 0.6-14 ``sem(sample.cov=, sample.mean=,
sample.nobs=)`` of fig1 on the reverse-recoded moments), stored in
``moments_case.json``. Tolerances as ``tests/reference/README.md``: moments 1e-10
(they are exact sums), estimates and SEs 1e-3 absolute, chi-square 1e-4 relative.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.exceptions import (
    DataError,
    InsufficientDataError,
    OptionError,
    SurveyReadError,
)
from asymtrust.survey.moments import Moments, read_moments

CASE = "moments/moments_case.json"


@pytest.fixture(scope="module")
def ref(reference_dir):
    import json

    return json.loads((reference_dir / CASE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def case_csv(reference_dir, ref):
    from hashlib import sha256

    path = reference_dir / "moments" / "moments_case.csv"
    assert sha256(path.read_bytes()).hexdigest() == ref["data_sha256"], "moments_case.csv changed since the R reference was made"
    return path


@pytest.mark.parametrize("chunksize", [1, 37, 100_000])
def test_moments_match_r(case_csv, ref, chunksize):
    m = read_moments(case_csv, ref["columns"], chunksize=chunksize, missing_codes=ref["missing_codes"])
    assert m.columns == ref["columns"]
    assert m.nobs == ref["nobs"]
    assert m.n_incomplete == ref["n_incomplete"]
    assert m.n_rows == 400
    np.testing.assert_allclose(m.cov.to_numpy(), np.array(ref["cov"]), rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.mean.to_numpy(), np.array(ref["mean"]), rtol=0, atol=1e-10)


def test_chunked_equals_full_read(tmp_path):
    """One streaming pass over many chunks gives the moments of the whole file read at once."""
    df = asymtrust.simulate("fig1", 2500, seed=11, missing=0.01)
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    items = asymtrust.load_spec("fig1").items()
    full = pd.read_csv(path)[items].dropna().to_numpy(dtype=float)
    m = read_moments(path, items, chunksize=97)
    assert m.nobs == full.shape[0]
    assert m.n_incomplete == len(df) - full.shape[0]
    np.testing.assert_allclose(m.cov.to_numpy(), np.cov(full.T, bias=True), rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.mean.to_numpy(), full.mean(axis=0), rtol=0, atol=1e-10)
    # numerically stable: a large common offset does not spoil the covariances
    shifted = df.copy()
    shifted[items] = shifted[items] + 1e6
    path2 = tmp_path / "shifted.csv"
    shifted.to_csv(path2, index=False)
    m2 = read_moments(path2, items, chunksize=97)
    np.testing.assert_allclose(m2.cov.to_numpy(), m.cov.to_numpy(), rtol=0, atol=1e-6)


def test_fit_from_moments_matches_lavaan(case_csv, ref):
    m = read_moments(case_csv, ref["columns"], chunksize=50, missing_codes=[-9]).recode_reverse()
    assert m.recoded == tuple(ref["recode_reverse"])
    res = asymtrust.fit("fig1", **m.fit_kwargs(), meanstructure=bool(ref["meanstructure"]))
    assert res.converged
    fm = res.fit_indices
    assert fm["chisq"] == pytest.approx(ref["fit_measures"]["chisq"], rel=1e-4)
    for k in ("df", "npar"):
        assert fm[k] == ref["fit_measures"][k]
    for k in ("cfi", "tli", "rmsea", "srmr"):
        assert fm[k] == pytest.approx(ref["fit_measures"][k], abs=1e-3), k
    est = res.estimates.set_index(["lhs", "op", "rhs"])
    rows = pd.DataFrame(ref["estimates"])
    for r in rows.itertuples(index=False):
        key = (r.lhs, r.op, r.rhs)
        if key not in est.index and r.op == "~~":
            key = (r.rhs, r.op, r.lhs)
        got = est.loc[key]
        assert got["est"] == pytest.approx(r.est, abs=1e-3), key
        if r.se is not None and np.isfinite(r.se):
            assert got["se"] == pytest.approx(r.se, abs=1e-3), key


def test_fit_from_moments_equals_raw_fit(case_csv, ref):
    """Complete-data ML needs only the moments: the fit equals the fit of the rows."""
    items = ref["columns"]
    raw = pd.read_csv(case_csv, na_values=["-9"])
    raw = asymtrust.recode_reverse(raw[items].dropna())
    r_raw = asymtrust.fit("fig1", raw, meanstructure=True)  # sample means switch the mean structure on (lavaan)
    m = read_moments(case_csv, items, chunksize=64, missing_codes=(-9,)).recode_reverse()
    r_mom = asymtrust.fit("fig1", **m.fit_kwargs())
    assert r_mom.nobs == r_raw.nobs
    a = r_raw.estimates.set_index(["lhs", "op", "rhs"])
    b = r_mom.estimates.set_index(["lhs", "op", "rhs"]).loc[a.index]
    for col in ("est", "se", "std_all", "std_all_se"):
        np.testing.assert_allclose(b[col].to_numpy(), a[col].to_numpy(), rtol=0, atol=1e-6, err_msg=col)
    for k in ("chisq", "df", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        assert r_mom.fit_indices[k] == pytest.approx(r_raw.fit_indices[k], rel=1e-8, abs=1e-8), k


def test_recode_reverse_moments_matches_recoded_data(tmp_path):
    df = asymtrust.simulate("fig1", 300, seed=4)
    path = tmp_path / "s.csv"
    df.to_csv(path, index=False)
    items = asymtrust.load_spec("fig1").items()
    m = read_moments(path, items).recode_reverse()
    X = asymtrust.recode_reverse(df)[items].to_numpy(dtype=float)
    np.testing.assert_allclose(m.cov.to_numpy(), np.cov(X.T, bias=True), atol=1e-10)
    np.testing.assert_allclose(m.mean.to_numpy(), X.mean(axis=0), atol=1e-10)
    with pytest.raises(DataError, match="already reverse-coded"):
        m.recode_reverse()
    with pytest.raises(DataError, match="zzz"):
        m.recode_reverse(items=["zzz"])


def test_default_columns_are_the_numeric_ones(tmp_path):
    path = tmp_path / "s.csv"
    asymtrust.simulate("fig1", 50, seed=2).to_csv(path, index=False)
    m = read_moments(path)
    assert m.columns[0] == "resp_id"
    assert "sector" not in m.columns and "rol1" in m.columns
    assert isinstance(m, Moments) and m.cov.shape == (33, 33)


def test_errors(tmp_path):
    with pytest.raises(SurveyReadError, match="nope.csv"):
        read_moments(tmp_path / "nope.csv")
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "b": ["1", "2", "x", "4"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'b' is not numeric: line 4"):
        read_moments(path, ["a", "b"], chunksize=2)
    with pytest.raises(DataError, match="column 'c' is not in"):
        read_moments(path, ["a", "c"])
    with pytest.raises(OptionError, match="chunksize"):
        read_moments(path, ["a"], chunksize=0)
    one = tmp_path / "one.csv"
    pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.0, 2.0, np.nan]}).to_csv(one, index=False)
    with pytest.raises(InsufficientDataError, match="1 complete row"):
        read_moments(one)
    inf = tmp_path / "inf.csv"
    pd.DataFrame({"a": [1.0, np.inf, 3.0]}).to_csv(inf, index=False)
    with pytest.raises(DataError, match="infinite value on line 3"):
        read_moments(inf)
