"""read_survey: every supported format, encodings, recoding, and each refusal.

Each test writes its file in tmp_path from a known frame and checks that exactly that frame
comes back (round trip), or that the refusal names the file and the problem.
"""

from __future__ import annotations

import codecs

import numpy as np
import pandas as pd
import pytest

from asymtrust import read_survey
from asymtrust.exceptions import DataError, OptionError, ResourceLimitError, SurveyReadError

LABELS = (
    "1=Strongly disagree|2=Disagree|3=Somewhat disagree|4=Neither agree nor disagree|"
    "5=Somewhat agree|6=Agree|7=Strongly agree"
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "resp_id": [1, 2, 3, 4],
            "sector": ["nhs", "council", "voluntary", "nhs"],
            "rol1": [1, 4, 7, 2],
            "rol2": [5, 6, 3, 7],
        }
    )


@pytest.fixture
def small_codebook() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": ["rol1", "rol2", "sector"],
            "scale_min": [1, 1, None],
            "scale_max": [7, 7, None],
            "scale_labels": [LABELS, LABELS, "nhs|council|voluntary"],
            "reverse": [0, 0, 0],
            "kind": ["item", "item", "respondent"],
        }
    )


def _text(df: pd.DataFrame, sep: str) -> str:
    return df.to_csv(index=False, sep=sep, lineterminator="\n")


def _assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for col in want.columns:
        if pd.api.types.is_numeric_dtype(want[col]):
            assert pd.api.types.is_numeric_dtype(got[col]), col
            np.testing.assert_array_equal(got[col].to_numpy(dtype=float), want[col].to_numpy(dtype=float))
        else:
            assert got[col].astype(str).tolist() == want[col].astype(str).tolist()


# --------------------------------------------------------------------------- formats
@pytest.mark.parametrize(
    "name, sep",
    [
        ("s.csv", ","),
        ("s.tsv", "\t"),
        ("semi.csv", ";"),
        ("pipe.csv", "|"),
        ("tab.txt", "\t"),
    ],
)
def test_text_formats_and_delimiter_sniffing(tmp_path, frame, name, sep, sha256):
    p = tmp_path / name
    p.write_text(_text(frame, sep), encoding="utf-8")
    before = sha256(p)
    df = read_survey(p)
    _assert_same(df, frame)
    assert df.attrs["delimiter"] == sep
    assert df.attrs["source_file"] == str(p)
    assert sha256(p) == before  # never modified


def test_semicolon_csv_with_decimal_commas(tmp_path):
    p = tmp_path / "eu.csv"
    p.write_text("rol1;score\n1;3,5\n2;4,25\n", encoding="utf-8")
    df = read_survey(p)
    assert df["score"].tolist() == [3.5, 4.25]
    assert df.attrs["decimal_comma"] == ["score"]


def test_crlf_line_endings(tmp_path, frame):
    p = tmp_path / "crlf.csv"
    p.write_bytes(_text(frame, ",").replace("\n", "\r\n").encode())
    _assert_same(read_survey(p), frame)


def test_xlsx(tmp_path, frame, sha256):
    p = tmp_path / "s.xlsx"
    with pd.ExcelWriter(p, engine="openpyxl") as xw:
        frame.to_excel(xw, sheet_name="answers", index=False)
        frame.iloc[:2].to_excel(xw, sheet_name="second", index=False)
    before = sha256(p)
    df = read_survey(p)
    _assert_same(df, frame)
    assert df.attrs["sheet"] == "answers"
    assert len(read_survey(p, sheet="second")) == 2
    assert len(read_survey(p, sheet=1)) == 2
    with pytest.raises(SurveyReadError, match="no sheet 'nope'; sheets: answers, second"):
        read_survey(p, sheet="nope")
    with pytest.raises(SurveyReadError, match="sheet index 5 does not exist"):
        read_survey(p, sheet=5)
    assert sha256(p) == before


def test_sav_value_labels_and_user_missing(tmp_path, sha256):
    import pyreadstat

    src = pd.DataFrame(
        {
            "rol1": [1.0, 7.0, -99.0, 4.0, -9.0],
            "rol2": [2.0, 95.0, 3.0, 4.0, 5.0],
            "sector": ["nhs", "council", "voluntary", "nhs", "council"],
        }
    )
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(
        src,
        str(p),
        column_labels=["Role ambiguity 1", "Role ambiguity 2", "Sector"],
        variable_value_labels={"rol1": {1.0: "Strongly disagree", 7.0: "Strongly agree", -99.0: "Refused"}},
        missing_ranges={"rol1": [-99.0, -9.0], "rol2": [{"lo": 90.0, "hi": 99.0}]},
    )
    before = sha256(p)
    df = read_survey(p)
    assert df["rol1"].isna().tolist() == [False, False, True, False, True]
    assert df["rol2"].isna().tolist() == [False, True, False, False, False]
    assert df.attrs["missing_recoded"] == {"rol1": 2, "rol2": 1}
    assert df.attrs["value_labels"]["rol1"] == {1.0: "Strongly disagree", 7.0: "Strongly agree", -99.0: "Refused"}
    assert df.attrs["variable_labels"]["rol1"] == "Role ambiguity 1"
    assert df["sector"].tolist() == src["sector"].tolist()
    assert sha256(p) == before


# --------------------------------------------------------------------------- encodings
def test_utf8_bom(tmp_path, frame):
    p = tmp_path / "bom.csv"
    p.write_bytes(codecs.BOM_UTF8 + _text(frame, ",").encode("utf-8"))
    df = read_survey(p)
    assert df.columns[0] == "resp_id"  # BOM not glued to the first name
    assert df.attrs["encoding"] == "utf-8-sig"
    _assert_same(df, frame)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(tmp_path, frame, encoding):
    text = _text(frame, "\t")
    raw = (
        text.encode("utf-16")
        if encoding == "utf-16"
        else ((codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE) + text.encode(encoding))
    )
    p = tmp_path / "u16.tsv"
    p.write_bytes(raw)
    df = read_survey(p)
    assert df.attrs["encoding"] == "utf-16"
    _assert_same(df, frame)


def test_non_ascii_text_survives(tmp_path):
    p = tmp_path / "u.csv"
    p.write_text("name,rol1\nJosé,1\nZoë,2\n", encoding="utf-8")
    assert read_survey(p)["name"].tolist() == ["José", "Zoë"]


# --------------------------------------------------------------------------- values
def test_na_strings_become_missing_and_inf_is_kept_for_validate(tmp_path):
    p = tmp_path / "na.csv"
    p.write_text("a,b,c,d\n1,NaN,inf,x\n2,nan,-inf,NA\nNA,,3,\n", encoding="utf-8")
    df = read_survey(p)
    assert df["a"].isna().tolist() == [False, False, True]
    assert df["b"].isna().all()
    assert np.isinf(df["c"].iloc[:2]).all() and df["c"].iloc[2] == 3  # flagged by validate, not dropped
    assert df["d"].isna().tolist() == [False, True, True]


def test_missing_codes_become_na_and_are_counted(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("rol1,rol2,note\n1,-99,ok\n-9,3,DK\n-99,-99,DK\n4,5,fine\n", encoding="utf-8")
    df = read_survey(p, missing_codes=(-99, -9, "DK"))
    assert df.attrs["missing_recoded"] == {"rol1": 2, "rol2": 2, "note": 2}
    assert df["rol1"].isna().tolist() == [False, True, True, False]
    assert df["rol2"].isna().tolist() == [True, False, True, False]
    assert pd.api.types.is_numeric_dtype(df["rol1"])


def test_text_missing_code_makes_column_numeric(tmp_path):
    p = tmp_path / "dk.csv"
    p.write_text("rol1\n1\nDK\n7\n", encoding="utf-8")
    assert pd.api.types.is_string_dtype(read_survey(p)["rol1"])
    df = read_survey(p, missing_codes=["DK"])
    assert pd.api.types.is_numeric_dtype(df["rol1"])
    assert df["rol1"].isna().sum() == 1


def test_scale_labels_mapped_with_codebook(tmp_path, small_codebook):
    p = tmp_path / "lab.csv"
    p.write_text(
        "rol1,rol2,sector\nStrongly agree,3,nhs\n strongly DISAGREE ,Agree,council\n4,7 = Strongly agree,nhs\n",
        encoding="utf-8",
    )
    df = read_survey(p, codebook=small_codebook)
    assert df["rol1"].tolist() == [7, 1, 4]
    assert df["rol2"].tolist() == [3, 6, 7]
    assert pd.api.types.is_integer_dtype(df["rol1"]) and pd.api.types.is_integer_dtype(df["rol2"])
    assert df.attrs["labels_mapped"] == {"rol1": 2, "rol2": 2}
    assert df["sector"].tolist() == ["nhs", "council", "nhs"]  # respondent fields untouched


def test_scale_labels_left_as_text_without_codebook(tmp_path):
    p = tmp_path / "lab.csv"
    p.write_text("rol1\nStrongly agree\n3\n", encoding="utf-8")
    df = read_survey(p)
    assert df["rol1"].tolist() == ["Strongly agree", "3"]
    assert df.attrs["labels_mapped"] == {}


def test_unmatched_labels_stay_text(tmp_path, small_codebook):
    p = tmp_path / "lab.csv"
    p.write_text("rol1\nStrongly agree\nmaybe\n", encoding="utf-8")
    df = read_survey(p, codebook=small_codebook)
    assert df["rol1"].tolist() == [7, "maybe"]


def test_bundled_codebook_path_accepted(tmp_path, repo_root):
    p = tmp_path / "lab.csv"
    p.write_text("ctr1,gtr4\nAgree,Somewhat disagree\n", encoding="utf-8")
    df = read_survey(p, codebook=repo_root / "datasets" / "codebook.csv")
    assert df.iloc[0].tolist() == [6, 3]


def test_header_whitespace_stripped(tmp_path):
    p = tmp_path / "ws.csv"
    p.write_text(" rol1 , rol2\n1,2\n", encoding="utf-8")
    assert list(read_survey(p).columns) == ["rol1", "rol2"]


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    "name, content, pattern",
    [
        ("empty.csv", b"", r"empty.csv: is empty \(0 bytes\)"),
        ("blank.csv", b"\n \n\n", r"blank.csv: is empty \(no header line\)"),
        ("header.csv", b"rol1,rol2\n", r"header.csv: has a header \(2 columns\) but no data rows"),
        ("binary.csv", bytes(range(256)) * 4, r"binary.csv: contains NUL bytes"),
        ("latin1.csv", "rol1,name\n1,Jos\xe9\n".encode("latin-1"), r"latin1.csv: is not valid utf-8 text .*line 2"),
        ("dups.csv", b"rol1,rol2,rol1\n1,2,3\n", r"dups.csv: duplicated column name\(s\) 'rol1'"),
        ("dups2.csv", b"rol1, rol1\n1,2\n", r"dups2.csv: duplicated column name\(s\) 'rol1'"),
        ("ragged.csv", b"a,b,c\n1,2,3\n4,5,6,7\n", r"ragged.csv: .*line 3 has 4 fields but the header has 3"),
        ("extra.csv", b"a,b\n1,2,3\n4,5,6\n", r"extra.csv: data rows have more fields than the header"),
        ("survey.json", b"{}", r"survey.json: unknown file type '.json'"),
        ("noext", b"a\n1\n", r"noext: unknown file type '\(no extension\)'"),
        ("old.xls", b"\xd0\xcf\x11\xe0", r"old.xls: legacy .xls"),
        ("zip.csv", b"PK\x03\x04rest", r"zip.csv: is a zip archive"),
        ("bad.xlsx", b"not a workbook", r"bad.xlsx: is not a valid XLSX workbook"),
        ("bad.sav", b"not an spss file at all", r"bad.sav: cannot be read as SPSS"),
        ("ctl.csv", b"a,b\n1,\x01\x02\x03\n", r"ctl.csv: contains 3 control characters"),
    ],
)
def test_refusals_name_file_and_problem(tmp_path, name, content, pattern, sha256):
    p = tmp_path / name
    p.write_bytes(content)
    before = sha256(p)
    with pytest.raises(SurveyReadError, match=pattern) as info:
        read_survey(p)
    assert isinstance(info.value, DataError)
    assert "\n" not in str(info.value)
    assert sha256(p) == before


def test_header_only_xlsx(tmp_path):
    p = tmp_path / "h.xlsx"
    pd.DataFrame({"rol1": [], "rol2": []}).to_excel(p, index=False)
    with pytest.raises(SurveyReadError, match=r"h.xlsx: has a header \(2 columns\) but no data rows"):
        read_survey(p)


def test_duplicate_headers_xlsx(tmp_path):
    p = tmp_path / "d.xlsx"
    pd.DataFrame([[1, 2]], columns=["rol1", "rol1 "]).to_excel(p, index=False)
    with pytest.raises(SurveyReadError, match=r"duplicated column name\(s\) 'rol1'"):
        read_survey(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SurveyReadError, match=r"nothere.csv: not found"):
        read_survey(tmp_path / "nothere.csv")
    with pytest.raises(SurveyReadError, match="is a directory"):
        read_survey(tmp_path)


def test_size_limit(tmp_path, frame, monkeypatch):
    p = tmp_path / "big.csv"
    p.write_text(_text(frame, ","), encoding="utf-8")
    size = p.stat().st_size
    monkeypatch.setenv("ASYMTRUST_MAX_FILE_BYTES", str(size - 1))
    with pytest.raises(ResourceLimitError, match=r"big.csv: is .* above the limit .*ASYMTRUST_MAX_FILE_BYTES"):
        read_survey(p)
    monkeypatch.setenv("ASYMTRUST_MAX_FILE_BYTES", str(size))
    assert len(read_survey(p)) == 4
    monkeypatch.setenv("ASYMTRUST_MAX_FILE_BYTES", "lots")
    with pytest.raises(OptionError, match="ASYMTRUST_MAX_FILE_BYTES"):
        read_survey(p)


def test_undecodable_file_readable_with_explicit_encoding(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes("rol1,name\n1,Jos\xe9\n".encode("latin-1"))
    assert read_survey(p, encoding="latin-1")["name"].tolist() == ["José"]
