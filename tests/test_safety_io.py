"""Reading survey files: the inputs the second audit (issue 12) found refused or misread.

The refusals (a field above the limit, a missing sheet, a read-me first sheet, formula
cells without values, ragged rows in ``read_moments``, the scale-label hint) are cases of
``tests/bad_inputs/cases_io.toml``, run through the API and the CLI by
``tests/test_bad_inputs.py``. This module checks the inputs that must now be *read*,
through the API and the CLI (exit 0):

* a CSV field longer than the csv module's 131,072 characters;
* Stata missing values (``.``, ``.a`` ... ``.z``) in ``.dta`` files and CSV exports,
  counted per column;
* ``sheet`` by name first ("2024"), else by index, from the API and ``--sheet``;
* named pipes (``mkfifo``, bash's ``<(...)``) read as streams;
* formula cells *with* computed values (no false alarm);
* a CSV read in bounded memory (peak RSS at most 3 times its size), with each column
  kept in its most compact exact type and the values pandas would read.

All data are the SYNTHETIC corpus files of ``tests/bad_inputs/files`` or made here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust import cli, exceptions
from asymtrust.survey import read as survey_mod
from asymtrust.survey.moments import read_moments

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "bad_inputs"
FILES = CORPUS / "files"
SPEC = str(CORPUS / "cfa2.lav")
ITEMS = ["cap1", "cap2", "cap3", "pow1", "pow2", "pow3"]


def _corpus():
    sys.path.insert(0, str(CORPUS))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(CORPUS))
    return make_corpus


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return asymtrust.read_survey(FILES / "base.csv")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- 1. field size
def _with_comment(tmp_path: Path, row: int, text: str, name: str = "long.csv") -> Path:
    lines = (FILES / "base.csv").read_text(encoding="utf-8").splitlines()
    out = [lines[0] + ",comment"] + [
        ln + "," + (f'"{text}"' if i == row else "fine") for i, ln in enumerate(lines[1:])
    ]
    path = tmp_path / name
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("row", [0, 3, 59])
def test_a_field_over_131072_characters_is_read(tmp_path, capsys, row):
    answer = ("a long, free-text answer; " * 8000)[:200_000]
    path = _with_comment(tmp_path, row, answer)
    df = asymtrust.read_survey(path)
    assert df.shape == (60, 9)
    assert df["comment"].iloc[row] == answer and len(df["comment"].iloc[row]) == 200_000
    assert asymtrust.validate(df, SPEC).ok
    code, _, err = _run(capsys, "validate", path, "--spec", SPEC)
    assert code == 0, err
    assert "Traceback" not in err


def test_a_field_above_the_default_limit_is_a_typed_error(tmp_path, capsys):
    assert survey_mod.max_field_chars() == 1_048_576
    path = _with_comment(tmp_path, 6, "y" * 1_100_000)
    with pytest.raises(exceptions.SurveyReadError, match=r"column 'comment', data row 7, holds a field of 1,100,000 "
                                                         r"characters, above the limit of 1,048,576") as info:
        asymtrust.read_survey(path)
    assert "\n" not in str(info.value)
    code, _, err = _run(capsys, "fit", path, "--spec", SPEC)
    assert code == 2 and "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.strip()] == [f"asymtrust: error: {info.value}"]


def test_the_csv_module_limit_is_restored(tmp_path):
    import csv

    before = csv.field_size_limit()
    asymtrust.read_survey(_with_comment(tmp_path, 2, "z" * 150_000))
    assert csv.field_size_limit() == before


# --------------------------------------------------------------------------- 2. Stata missing values
def test_stata_missing_values_in_a_csv_export_are_missing_and_counted(base, capsys):
    path = FILES / "stata_missing.csv"
    df = asymtrust.read_survey(path)
    coded = [i for i in range(60) if i % 10 == 4]  # ".a", ".b", "." in turn
    assert df.attrs["extended_missing"] == {"pow1": len(coded)}
    assert df.attrs["missing_recoded"] == {"pow1": len(coded)}
    assert pd.api.types.is_numeric_dtype(df["pow1"])
    assert df["pow1"].isna().to_numpy().nonzero()[0].tolist() == coded
    keep = df["pow1"].notna()
    np.testing.assert_array_equal(df.loc[keep, "pow1"].to_numpy(float), base.loc[keep, "pow1"].to_numpy(float))
    rep = asymtrust.validate(df, SPEC)
    assert rep.ok, rep.errors
    assert any("pow1: 6 rows with a missing-value code were set to NA" in i.message for i in rep.issues)
    code, out, err = _run(capsys, "validate", path, "--spec", SPEC)
    assert code == 0, err
    code, out, err = _run(capsys, "fit", path, "--spec", SPEC)
    assert code == 0, err


def test_stata_codes_in_a_text_column_stay_text(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("rol1,note\n1,.a\n2,see .b\n.,.\n4,fine\n", encoding="utf-8")
    df = asymtrust.read_survey(path)
    assert df["rol1"].isna().tolist() == [False, False, True, False]
    assert df["note"].tolist() == [".a", "see .b", ".", "fine"]  # text answers are not codes
    assert df.attrs["extended_missing"] == {"rol1": 1}


def test_stata_extended_missing_values_in_a_dta_file(tmp_path, base, capsys):
    pyreadstat = pytest.importorskip("pyreadstat")
    src = base[["resp_id", *ITEMS]].astype(float).astype(object)
    for i in (3, 17, 40):
        src.loc[i, "cap2"] = "a"  # Stata's .a
    src.loc[25, "cap2"] = "z"
    src.loc[8, "pow3"] = "b"
    path = tmp_path / "survey.dta"
    pyreadstat.write_dta(src, str(path), missing_user_values={"cap2": ["a", "z"], "pow3": ["b"]})
    df = asymtrust.read_survey(path)
    assert df.attrs["extended_missing"] == {"cap2": 4, "pow3": 1}
    assert df.attrs["missing_recoded"] == {"cap2": 4, "pow3": 1}
    assert df["cap2"].isna().to_numpy().nonzero()[0].tolist() == [3, 17, 25, 40]
    assert pd.api.types.is_float_dtype(df["cap2"]) and pd.api.types.is_float_dtype(df["pow3"])
    assert asymtrust.validate(df, SPEC).ok
    code, _, err = _run(capsys, "validate", path, "--spec", SPEC)
    assert code == 0, err


# --------------------------------------------------------------------------- 3. sheets
def test_sheet_by_name_first_then_by_index():
    path = FILES / "readme_first.xlsx"
    assert len(asymtrust.read_survey(path, sheet="2024")) == 60  # the sheet NAMED 2024
    assert asymtrust.read_survey(path, sheet="2023").attrs["sheet"] == "2023"
    assert asymtrust.read_survey(path, sheet="1").attrs["sheet"] == "2023"  # no sheet "1": index 1
    assert asymtrust.read_survey(path, sheet=2).attrs["sheet"] == "2024"
    assert asymtrust.read_survey(path, sheet="2").attrs["sheets"] == ["ReadMe", "2023", "2024"]


def test_a_sheet_named_like_an_index_wins_over_the_index(tmp_path):
    mc = _corpus()
    rows = mc.base_rows()
    numeric = [rows[0]] + [[int(v) if v.isdigit() else v for v in r] for r in rows[1:]]
    path = tmp_path / "years.xlsx"
    path.write_bytes(mc.xlsx_bytes([("all", numeric), ("0", numeric[:11])]))
    assert len(asymtrust.read_survey(path, sheet="0")) == 10  # the sheet named "0"
    assert len(asymtrust.read_survey(path, sheet=0)) == 60  # an int is an index
    assert len(asymtrust.read_survey(path)) == 60


def test_sheet_on_the_command_line(capsys):
    path = FILES / "readme_first.xlsx"
    code, out, err = _run(capsys, "validate", path, "--spec", SPEC, "--sheet", "2024")
    assert code == 0, err
    code, out, err = _run(capsys, "fit", path, "--spec", SPEC, "--sheet", "2024")
    assert code == 0, err


def test_a_first_sheet_that_is_not_the_data_gets_a_sheet_hint(tmp_path, capsys):
    mc = _corpus()
    rows = mc.base_rows()
    numeric = [rows[0]] + [[int(v) if v.isdigit() else v for v in r] for r in rows[1:]]
    codes = [["item", "wording"], ["cap1", "We bring more resources"], ["cap2", "They bring more skills"]]
    path = tmp_path / "codes_first.xlsx"
    path.write_bytes(mc.xlsx_bytes([("codes", codes), ("answers", numeric)]))
    df = asymtrust.read_survey(path)  # a table, so it is read; the model's columns are missing
    rep = asymtrust.validate(df, SPEC)
    hint = ("the data were read from sheet 'codes'; the workbook also has the sheet(s) 'answers': pick the data "
            "sheet with sheet=NAME (CLI: --sheet NAME)")
    assert any(hint in e for e in rep.errors), rep.errors
    code, _, err = _run(capsys, "fit", path, "--spec", SPEC)
    assert code == 2 and hint in err
    code, _, err = _run(capsys, "fit", path, "--spec", SPEC, "--sheet", "answers")
    assert code == 0, err


def test_sheet_of_the_wrong_type():
    with pytest.raises(exceptions.OptionError, match="sheet must be a sheet name or an index"):
        asymtrust.read_survey(FILES / "readme_first.xlsx", sheet=1.5)


# --------------------------------------------------------------------------- 4. named pipes
class _Writer:
    """Feed bytes into a pipe from a thread; never leave the test hanging on it."""

    def __init__(self, path: str, data: bytes):
        self.path, self.data = path, data
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with open(self.path, "wb") as fh:
                fh.write(self.data)
        except (BrokenPipeError, OSError):
            pass

    def close(self) -> None:
        if self.thread.is_alive():  # the reader never opened the pipe: release the writer
            try:
                os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
            except OSError:
                pass
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def fifo(tmp_path):
    writers: list[_Writer] = []

    def make(name: str, data: bytes) -> Path:
        path = tmp_path / name
        if not path.exists():
            os.mkfifo(path)
        writers.append(_Writer(str(path), data))
        return path

    yield make
    for w in writers:
        w.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_named_pipe_is_read_as_a_stream(fifo, base, capsys):
    data = (FILES / "base.csv").read_bytes()
    df = asymtrust.read_survey(fifo("pipe.csv", data))
    pd.testing.assert_frame_equal(df, base)
    code, _, err = _run(capsys, "validate", fifo("pipe.csv", data), "--spec", SPEC)
    assert code == 0, err
    code, _, err = _run(capsys, "fit", fifo("pipe.csv", data), "--spec", SPEC)
    assert code == 0, err


@pytest.mark.skipif(not os.path.isdir("/dev/fd"), reason="no /dev/fd")
def test_process_substitution_without_an_extension(base, capsys):
    """bash's ``<(zcat survey.csv.gz)`` gives a path like /dev/fd/63: no extension."""
    for name in ("base.csv", "semicolon.csv", "readme_first.xlsx"):
        r, w = os.pipe()
        try:
            path = f"/dev/fd/{r}"
            writer = threading.Thread(target=lambda: (os.write(w, (FILES / name).read_bytes()), os.close(w)),
                                      daemon=True)
            writer.start()
            kw = {"sheet": "2024"} if name.endswith(".xlsx") else {}
            df = asymtrust.read_survey(path, **kw)
            writer.join(10)
            pd.testing.assert_frame_equal(df[ITEMS].astype(float), base[ITEMS].astype(float))
        finally:
            os.close(r)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_named_pipe_that_delivers_nothing_or_too_much(fifo, monkeypatch):
    with pytest.raises(exceptions.SurveyReadError, match=r"pipe.csv: is empty \(a named pipe \(FIFO\) that "
                                                         r"delivered 0 bytes\)"):
        asymtrust.read_survey(fifo("pipe.csv", b""))
    monkeypatch.setenv("ASYMTRUST_MAX_FILE_BYTES", "1000")
    with pytest.raises(exceptions.ResourceLimitError, match="delivered more than the limit of 1000 bytes"):
        asymtrust.read_survey(fifo("big.csv", (FILES / "base.csv").read_bytes()))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_named_pipe_of_spss_data_is_refused_by_name(tmp_path):
    path = tmp_path / "s.sav"
    os.mkfifo(path)  # refused before it is opened: no writer needed
    with pytest.raises(exceptions.SurveyReadError, match="is a named pipe .*must be regular files"):
        asymtrust.read_survey(path)


def test_a_character_device_is_refused_by_name():
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    with pytest.raises(exceptions.SurveyReadError, match="/dev/null: is a character device, not a file"):
        asymtrust.read_survey("/dev/null")


# --------------------------------------------------------------------------- 5. formula cells
def test_formula_cells_with_computed_values_are_read(tmp_path, base):
    mc = _corpus()
    rows = mc.base_rows()
    numeric = [rows[0]] + [[int(v) if v.isdigit() else v for v in r] for r in rows[1:]]
    j = rows[0].index("cap3")
    with_values = [list(numeric[0])] + [
        [*r[:j], ("=", f"E{i + 2}*1", r[j]), *r[j + 1:]] for i, r in enumerate(numeric[1:])
    ]
    path = tmp_path / "saved_by_excel.xlsx"
    path.write_bytes(mc.xlsx_bytes([("answers", with_values)]))
    df = asymtrust.read_survey(path)
    np.testing.assert_array_equal(df["cap3"].to_numpy(float), base["cap3"].to_numpy(float))


def test_some_formula_cells_without_values_are_refused_too(tmp_path):
    mc = _corpus()
    rows = mc.base_rows()
    numeric = [rows[0]] + [[int(v) if v.isdigit() else v for v in r] for r in rows[1:]]
    j = rows[0].index("pow2")
    numeric[5][j] = ("=", "F6+1")
    numeric[9][j] = ("=", "F10+1")
    path = tmp_path / "partly.xlsx"
    path.write_bytes(mc.xlsx_bytes([("answers", numeric)]))
    with pytest.raises(exceptions.SurveyReadError,
                       match=r"column 'pow2' has 2 cells with a formula but no computed value \(e.g. G6: =F6\+1\)"):
        asymtrust.read_survey(path)


# --------------------------------------------------------------------------- 6. the scale-label hint
def test_the_scale_label_hint_fits_the_command(capsys):
    path = FILES / "text_labels.csv"
    rep = asymtrust.validate(path, SPEC)
    assert any("read_survey(path, codebook=...)" in e for e in rep.errors)
    assert not any("--map-labels" in e for e in rep.errors)  # the API names the argument
    custom = asymtrust.validate(path, SPEC, labels_hint="rerun with --map-labels")
    assert any("they look like scale labels: rerun with --map-labels" in e for e in custom.errors)
    for command in ("fit", "validate", "reliability"):
        code, _, err = _run(capsys, command, path, "--spec", SPEC)
        assert code == 2
        assert "look like scale labels" in err
        if "--map-labels" in err:  # only where the command has the option
            assert cli.main([command, "--help"]) == 0
            helptext = capsys.readouterr().out
            assert "--map-labels" in helptext, f"'{command}' suggests --map-labels but has no such option"


# --------------------------------------------------------------------------- 7. read_moments as strict as read_survey
@pytest.mark.parametrize("chunksize", [5, 100_000])
def test_read_moments_and_read_survey_refuse_the_same_ragged_line(chunksize):
    path = FILES / "unquoted_comma.csv"
    with pytest.raises(exceptions.SurveyReadError, match="line 13 has 10 fields but the header has 9"):
        asymtrust.read_survey(path)
    with pytest.raises(exceptions.SurveyReadError, match="line 13 has 10 fields but the header has 9"):
        read_moments(path, columns=ITEMS, chunksize=chunksize)
    with pytest.raises(exceptions.SurveyReadError, match="line 13 has 10 fields but the header has 9"):
        read_moments(path, chunksize=chunksize)


def test_read_moments_refuses_an_extra_field_on_the_first_data_row(tmp_path):
    lines = (FILES / "base.csv").read_text(encoding="utf-8").splitlines()
    lines[1] += ",9"
    path = tmp_path / "first.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(exceptions.SurveyReadError, match=r"data rows have more fields than the header \(8 names\)"):
        read_moments(path, columns=ITEMS)
    with pytest.raises(exceptions.SurveyReadError, match=r"data rows have more fields than the header \(8 names\)"):
        asymtrust.read_survey(path)


# --------------------------------------------------------------------------- 8. bounded memory
def _mixed_frame(n: int, seed: int = 3) -> pd.DataFrame:
    """Columns whose type changes between chunks: what chunked reading must get right."""
    rng = np.random.default_rng(seed)
    late = np.arange(n) >= n - 700  # the last chunk(s) only
    df = pd.DataFrame({
        "id": np.arange(1, n + 1) * 1000,
        "likert": rng.integers(1, 8, n),
        "gaps_late": np.where(late & (rng.random(n) < 0.3), np.nan, rng.integers(1, 8, n)),
        "real": np.round(rng.normal(size=n), 3),
        "big": rng.integers(-(2**40), 2**40, n),
        "whole_big_gaps": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 2**30, n)).astype(float),
        "empty": np.nan,
        "flags": rng.random(n) < 0.5,
    })
    df["text_late"] = rng.integers(1, 8, n).astype(str).astype(object)
    df.loc[late & (rng.random(n) < 0.2), "text_late"] = "Strongly agree"
    df["bool_gaps_late"] = (rng.random(n) < 0.5).astype(object)
    df.loc[late & (rng.random(n) < 0.2), "bool_gaps_late"] = None
    df["stata_late"] = rng.integers(1, 6, n).astype(str).astype(object)
    df.loc[late & (rng.random(n) < 0.2), "stata_late"] = ".a"
    df["comment"] = np.where(rng.random(n) < 0.5, "good, slow", "")
    return df


def test_chunked_reading_gives_the_values_pandas_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(survey_mod, "_CHUNK_BYTES", 1)  # 1,000 rows a chunk: several chunks
    n = 4500
    path = tmp_path / "mixed.csv"
    _mixed_frame(n).to_csv(path, index=False)
    want = pd.read_csv(path)
    got = asymtrust.read_survey(path)
    assert list(got.columns) == list(want.columns)
    for col in want.columns:
        w, g = want[col], got[col]
        if col == "stata_late":  # Stata codes: missing, the rest numeric
            assert pd.api.types.is_numeric_dtype(g)
            assert g.isna().sum() == (w == ".a").sum() == got.attrs["extended_missing"][col]
            continue
        if pd.api.types.is_numeric_dtype(w) and not pd.api.types.is_bool_dtype(w):
            np.testing.assert_array_equal(g.to_numpy(float, na_value=np.nan), w.to_numpy(float, na_value=np.nan),
                                          err_msg=col)
        else:
            as_list = [v.astype(object).where(v.notna(), None).tolist() for v in (g, w)]
            assert as_list[0] == as_list[1], col
    assert got["likert"].dtype == np.int8
    assert got["gaps_late"].dtype == np.float32
    assert got["id"].dtype == np.int32
    assert got["big"].dtype == np.int64
    assert got["real"].dtype == np.float64
    assert got["whole_big_gaps"].dtype == np.float64  # beyond float32's exact whole numbers
    assert got["flags"].dtype == bool
    assert pd.api.types.is_string_dtype(got["text_late"])


def test_compact_types_leave_room_for_recoding(tmp_path):
    path = tmp_path / "scale.csv"
    path.write_text("vas,rol1\n" + "".join(f"{v},{1 + v % 7}\n" for v in range(0, 101)), encoding="utf-8")
    df = asymtrust.read_survey(path)
    assert df["rol1"].dtype == np.int8 and df["vas"].dtype == np.int16
    assert (200 - df["vas"]).min() == 100  # no overflow
    out = asymtrust.recode_reverse(df, pd.DataFrame({"item": ["rol1"], "scale_min": [1], "scale_max": [7],
                                                     "reverse": [1]}))
    assert out["rol1"].tolist() == [8 - (1 + v % 7) for v in range(101)]


# The child reports VmHWM, the high-water mark of its own memory map: its ru_maxrss would
# also count this (large) pytest process, whose peak Linux carries across vfork/exec.
CHILD = textwrap.dedent(
    """
    import json, sys
    import asymtrust
    from asymtrust.survey.read import read_survey
    if sys.argv[1] != "-":
        df = read_survey(sys.argv[1])
        assert df.shape[1] == 32
    with open("/proc/self/status") as fh:
        print(json.dumps(next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:"))))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc/self/status")
def test_reading_a_csv_peaks_at_most_three_times_its_size(tmp_path):
    """Peak RSS of a fresh process reading the CSV, minus the same process without the
    read, over the file size (``benchmarks/bench_read.py`` does the same at 250 MB)."""
    rng = np.random.default_rng(12)
    n = 450_000  # about 40 MB: resp_id, 30 items coded 1-7 (half with 1% gaps), a comment
    codes = rng.integers(1, 8, size=(n, 30)).astype("U1")
    codes[:, :15][rng.random((n, 15)) < 0.01] = ""
    say = '"we shared the budget, not the plan"'
    talk = [say if c else "" for c in (rng.random(n) < 0.6).tolist()]
    header = ",".join(["resp_id"] + [f"q{j:02d}" for j in range(30)] + ["comment"])
    body = [f"{i},{','.join(r)},{c}" for i, (r, c) in enumerate(zip(codes.tolist(), talk, strict=True), 1)]
    path = tmp_path / "survey.csv"
    path.write_text(header + "\n" + "\n".join(body) + "\n", encoding="utf-8")
    del codes, talk, body
    size = path.stat().st_size

    def peak(arg: str) -> float:
        proc = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True, check=True,
                              timeout=600)
        return json.loads(proc.stdout.strip().splitlines()[-1]) * 1024.0

    ratio = (peak(str(path)) - peak("-")) / size
    assert ratio <= 3.0, f"peak RSS above the interpreter is {ratio:.2f} times the CSV size ({size / 2**20:.0f} MiB)"


def test_compact_types_give_the_same_fit_as_float64():
    """int8/float32 columns are exact: the estimates equal those from pandas' int64/float64."""
    df = asymtrust.read_survey(FILES / "stata_missing.csv")
    assert df["cap1"].dtype == np.int8 and df["pow1"].dtype == np.float32
    ref = pd.read_csv(FILES / "stata_missing.csv", na_values=[".", ".a", ".b"])
    assert ref["pow1"].dtype == np.float64
    for missing in ("listwise", "fiml"):
        a = asymtrust.fit(SPEC, df, missing=missing).estimates["est"].to_numpy(float)
        b = asymtrust.fit(SPEC, ref, missing=missing).estimates["est"].to_numpy(float)
        np.testing.assert_array_equal(a, b)
