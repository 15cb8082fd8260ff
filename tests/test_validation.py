"""validate() and recode_reverse().

Counts of complete cases and free parameters are checked against lavaan 0.6.14
(tests/reference/datasets/datasets.R -> datasets.json: lavInspect(fit, "nobs") and
fitMeasures(fit, "npar")). The other checks use small frames built here whose faults are
known by construction (the number of bad rows is what the test planted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asymtrust import recode_reverse, validate
from asymtrust.library.codebook import item_codes, load_codebook, reverse_items
from asymtrust.exceptions import DataError, ValidationError
from asymtrust.survey.validation import Issue, ValidationReport


@pytest.fixture(scope="module")
def ref(load_reference):
    return load_reference("datasets/datasets.json")


@pytest.fixture(scope="module")
def codebook() -> pd.DataFrame:
    return load_codebook()


@pytest.fixture
def likert(codebook) -> pd.DataFrame:
    """200 respondents answering the 32 Fig. 1 items with random codes 1..7 (no faults)."""
    items = item_codes(codebook)
    rng = np.random.default_rng(20240501)
    df = pd.DataFrame(rng.integers(1, 8, size=(200, len(items))), columns=items)
    df.insert(0, "resp_id", np.arange(1, 201))
    df["sector"] = rng.choice(["nhs", "council", "voluntary"], size=200)
    df["partner_sector"] = rng.choice(["nhs", "council", "voluntary"], size=200)
    return df


# --------------------------------------------------------------------------- against lavaan
@pytest.mark.parametrize("case, data", [("hs_cfa", "hs1939"), ("hsx", "hs1939"), ("pd_eq", "poldem")])
def test_complete_cases_and_free_parameters_match_lavaan(case, data, ref, request):
    r = ref["models"][case]
    df = request.getfixturevalue(data)
    rep = validate(df, r["model"], codebook=False)
    assert rep.ok, rep.errors
    assert rep.n_free == r["npar"]
    assert rep.n_complete == r["nobs"]
    assert sorted(rep.items) == sorted(r["ov_names"])
    assert rep.n_rows == len(df)


def test_listwise_count_with_mcar_mask_matches_lavaan(hs1939, ref):
    mask = ref["hs_mcar"]
    X = hs1939[mask["columns"]].to_numpy(dtype=float).copy()
    flat = X.reshape(-1, order="F")
    flat[np.asarray(mask["na_indices"]) - 1] = np.nan  # R: 1-based, column-major
    X = flat.reshape(X.shape, order="F")
    df = hs1939.copy()
    df[mask["columns"]] = X
    assert int(np.isnan(X).sum()) == mask["n_missing_cells"]
    r = ref["models"]["hs_mcar_listwise"]
    rep = validate(df, r["model"], codebook=False)
    assert rep.n_complete == r["nobs"] == mask["complete_rows"]
    assert rep.n_free == r["npar"]
    assert rep.ok
    listwise = rep.to_frame().query("check == 'listwise'")
    assert listwise["n_rows"].tolist() == [len(df) - r["nobs"]]


def test_too_few_complete_cases_for_free_parameters(hs1939, ref):
    r = ref["models"]["hs_cfa"]
    small = hs1939.iloc[: r["npar"] - 1]
    rep = validate(small, r["model"], codebook=False)
    # issue 14: lavaan fits such data (only a singular covariance matrix stops it): a warning
    assert rep.ok and rep.errors == []
    assert (f"only {r['npar'] - 1} complete cases (listwise) for {r['npar']} free parameters; "
            "estimates will be unstable and standard errors unreliable (full-information ML, missing='ml', "
            "uses incomplete rows too)") in rep.warnings


# --------------------------------------------------------------------------- good data
def test_good_data_pass_with_spec_name(likert):
    rep = validate(likert, "fig1")
    assert rep.ok and rep.errors == []
    assert rep.spec == "fig1"
    assert rep.n_rows == rep.n_complete == 200
    assert rep.items == item_codes(load_codebook())
    assert isinstance(rep.n_free, int) and rep.n_free > 0
    assert "OK" in str(rep)
    rep.raise_if_errors()  # no-op


def test_spec_object_and_syntax_accepted(likert, repo_root):
    from asymtrust.library.specs import load_spec

    spec = load_spec("fig1")
    rep = validate(likert, spec)
    assert rep.ok and rep.spec == "fig1"
    assert validate(likert, repo_root / "specs" / "fig1.lav").n_free == rep.n_free
    assert validate(likert, str(repo_root / "specs" / "fig1.lav")).ok
    rep = validate(likert, "RoleAmb =~ rol1 + rol2 + rol3")
    assert rep.ok and rep.items == ["rol1", "rol2", "rol3"] and rep.spec == "<syntax>"


def test_reverse_keyed_warning_then_recoded(likert, codebook):
    rep = validate(likert, "fig1")
    rev = reverse_items(codebook)
    assert any("have not been recoded" in w and all(i in w for i in rev) for w in rep.warnings)
    rec = recode_reverse(likert)
    rep2 = validate(rec, "fig1")
    assert not any("not been recoded" in w for w in rep2.warnings)
    assert any("already recoded" in i for i in rep2.info)


# --------------------------------------------------------------------------- faults
def test_non_numeric_code(likert):
    df = likert.copy()
    df["rol2"] = df["rol2"].astype(object)
    df.loc[[3, 10, 11], "rol2"] = "Strongly agree"
    rep = validate(df, "fig1")
    assert not rep.ok
    msg = [e for e in rep.errors if e.startswith("column rol2:")]
    assert len(msg) == 1
    assert "3 rows of 200 have non-numeric codes (e.g. 'Strongly agree')" in msg[0]
    assert "scale labels" in msg[0]  # hint: map them with the codebook
    assert rep.n_complete == 197


def test_out_of_range_code_and_missing_code_hint(likert):
    df = likert.copy()
    df.loc[[0, 5], "ctr1"] = 9
    df.loc[7, "ctr2"] = 0
    rep = validate(df, "fig1")
    assert "column ctr1: 2 rows outside the scale 1..7 (values 9)" in rep.errors[0]
    assert "--missing-codes" in rep.errors[0]
    assert any(e.startswith("column ctr2: 1 row outside the scale 1..7 (values 0)") for e in rep.errors)
    assert len(rep.errors) == 2


def test_declared_missing_codes_become_na(likert):
    df = likert.copy()
    df.loc[[1, 2, 3], "svc1"] = -99
    df.loc[4, "svc2"] = -9
    assert not validate(df, "fig1").ok
    rep = validate(df, "fig1", missing_codes=(-99, -9))
    assert rep.ok, rep.errors
    codes = rep.to_frame().query("check == 'missing_code'").set_index("column")["n_rows"].to_dict()
    assert codes == {"svc1": 3, "svc2": 1}
    assert rep.n_complete == 196
    assert df.loc[1, "svc1"] == -99  # caller's frame untouched


def test_missing_item_column(likert):
    rep = validate(likert.drop(columns=["jmp2", "plb1"]), "fig1")
    assert not rep.ok
    assert rep.errors[0] == "2 of 32 model variables missing from the data: plb1, jmp2"


def test_infinite_values(likert):
    df = likert.astype({"inf1": float})
    df.loc[[2, 9], "inf1"] = [np.inf, -np.inf]
    rep = validate(df, "fig1")
    assert rep.errors == ["column inf1: 2 rows of 200 have infinite values (inf/-inf)"]


def test_inf_strings_read_from_file_are_errors(tmp_path, likert):
    df = likert.astype({"cap1": object})
    df.loc[0, "cap1"] = "inf"
    p = tmp_path / "inf.csv"
    df.to_csv(p, index=False)
    rep = validate(p, "fig1")
    assert rep.errors == ["column cap1: 1 row of 200 has infinite values (inf/-inf)"]


def test_constant_and_all_missing_items(likert):
    df = likert.copy()
    df["pow1"] = 4
    df["pow2"] = np.nan
    rep = validate(df, "fig1")
    assert "column pow1: constant (all 200 non-missing rows are 4); a constant item has no variance" in rep.errors
    assert "column pow2: all 200 rows are missing" in rep.errors
    assert rep.n_complete == 0


def test_duplicate_columns(likert):
    df = pd.concat([likert, likert[["gtr1"]]], axis=1)
    rep = validate(df, "fig1")
    assert rep.errors == ["column gtr1: appears 2 times in the data; column names must be unique"]


def test_perfectly_collinear_pair(likert):
    df = likert.copy()
    df["cul2"] = 8 - df["cul1"]
    rep = validate(df, "fig1")
    assert rep.errors == [
        "columns cul1 and cul2: perfectly collinear (r = -1.000 on 200 rows with both); drop one of them"
    ]


def test_straight_liners_warn(likert):
    df = likert.copy()
    items = item_codes(load_codebook())
    df.loc[[4, 50], items] = 5
    rep = validate(df, "fig1")
    assert rep.ok
    sl = [w for w in rep.warnings if "straight-lining" in w]
    assert sl == ["2 respondents (1.0%) gave the same answer to all 32 items (straight-lining), e.g. data rows 5, 51"]
    # recoding reverse-keyed items does not hide them
    rep2 = validate(recode_reverse(df), "fig1")
    assert any("2 respondents" in w and "straight-lining" in w for w in rep2.warnings)


def test_unknown_sector_level_warns(likert):
    df = likert.astype({"sector": object})
    df.loc[0, "sector"] = "NHS trust"
    rep = validate(df, "fig1")
    assert rep.ok
    assert "column sector: 1 row has values outside nhs|council|voluntary (e.g. 'NHS trust')" in rep.warnings


def test_empty_data(likert):
    rep = validate(likert.iloc[:0], "fig1")
    assert not rep.ok
    assert rep.errors[0] == "the data have no rows"


def test_empty_file_through_validate(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty.csv: is empty"):
        validate(p, "fig1")


def test_items_outside_codebook_get_generic_checks(hs1939):
    rep = validate(hs1939, "visual =~ x1 + x2 + x3")  # bundled codebook does not cover x1..x3
    assert rep.ok
    line = [i for i in rep.info if "not in the codebook" in i]
    assert len(line) == 1 and "x1 " in line[0] and "x3 " in line[0]


def test_product_indicators_checked_through_their_items(likert):
    rep = validate(likert, "fig1_moderated")
    assert rep.ok, rep.errors
    assert "cap1.pow1" not in rep.items and {"cap1", "pow1"} <= set(rep.items)


# --------------------------------------------------------------------------- report API
def test_raise_if_errors_and_raise_on_error(likert):
    df = likert.drop(columns=["rol1"]).copy()
    df["rol2"] = 3
    rep = validate(df, "fig1")
    assert len(rep.errors) == 2
    with pytest.raises(ValidationError) as info:
        rep.raise_if_errors()
    assert str(info.value) == rep.errors[0] + " (and 1 more)"
    assert info.value.problems == rep.errors
    with pytest.raises(ValidationError):
        validate(df, "fig1", raise_on_error=True)


def test_report_frame_and_dict(likert):
    df = likert.copy()
    df.loc[0, "rol1"] = 12
    rep = validate(df, "fig1")
    frame = rep.to_frame()
    assert list(frame.columns) == ["severity", "check", "column", "n_rows", "message"]
    row = frame.query("check == 'out_of_range'").iloc[0]
    assert (row["severity"], row["column"], row["n_rows"]) == ("error", "rol1", 1)
    d = rep.to_dict()
    assert d["ok"] is False and d["errors"] == rep.errors and d["n_rows"] == 200
    assert isinstance(rep, ValidationReport) and all(isinstance(i, Issue) for i in rep.issues)
    assert all("\n" not in m for m in rep.errors + rep.warnings + rep.info)


# --------------------------------------------------------------------------- recode_reverse
def test_recode_reverse(likert, codebook):
    out = recode_reverse(likert)
    rev = reverse_items(codebook)
    assert out.attrs["reverse_recoded"] == rev
    for c in rev:
        np.testing.assert_array_equal(out[c], 8 - likert[c])
    other = [c for c in likert.columns if c not in rev]
    pd.testing.assert_frame_equal(out[other], likert[other])
    assert "reverse_recoded" not in likert.attrs  # input untouched
    with pytest.raises(DataError, match="already reverse-coded"):
        recode_reverse(out)


def test_recode_reverse_explicit_items_and_errors(likert):
    out = recode_reverse(likert, items=["rol1"])
    np.testing.assert_array_equal(out["rol1"], 8 - likert["rol1"])
    assert out.attrs["reverse_recoded"] == ["rol1"]
    with pytest.raises(DataError, match="not in the data"):
        recode_reverse(likert, items=["zzz"])
    with pytest.raises(DataError, match="resp_id: not a Likert item of the codebook"):
        recode_reverse(likert, items=["resp_id"])
    bad = likert.astype({"rol3": object})
    bad.loc[0, "rol3"] = "x"
    with pytest.raises(DataError, match="column rol3: it is not numeric"):
        recode_reverse(bad)
