"""The bad-input corpus (issue 8): every case through the API and through the CLI.

The cases live in ``tests/bad_inputs/cases.toml`` (see its header for the fields), the
input files in ``tests/bad_inputs/files/`` (made by ``tests/bad_inputs/make_corpus.py``
from the SYNTHETIC bcf_synthetic data). For every case:

* the API raises the expected class of :mod:`asymtrust.exceptions` with a one-line
  message containing the expected fragment (what is wrong and where);
* the CLI exits 2, prints that one line as ``asymtrust: error: ...`` on standard
  error, and no traceback;
* the input files keep their SHA-256, and nothing is written (the scratch folder
  holds exactly the same files, byte for byte, before and after).

Files that are unusual but unambiguous (semicolons, tabs, a UTF-8 or UTF-16 byte-order
mark, CRLF, "NaN" strings, declared missing codes, scale labels with a codebook) must
instead be read to the same values as the plain file.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust import cli, exceptions
from asymtrust.library.partable import build_partable

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "bad_inputs"
FILES = CORPUS / "files"
SPEC_FILE = CORPUS / "cfa2.lav"
#: cases.toml (issue 8) and one cases_<area>.toml per area of the second audit (issue 12)
CASE_FILES = sorted(CORPUS.glob("cases*.toml"))
CASES: list[dict] = [c for f in CASE_FILES for c in tomllib.loads(f.read_text(encoding="utf-8")).get("case", [])]
BY_ID = {c["id"]: c for c in CASES}

#: what issue 8 asks the corpus to cover -> the cases that cover it
REQUIRED = {
    "empty file": ["empty_file", "blank_lines_only"],
    "header only": ["header_only"],
    "binary file": ["binary_file", "png_named_csv", "xlsx_named_csv"],
    "wrong delimiter": ["wrong_delimiter_space", "wrong_delimiter_space_fit"],
    "UTF-16 without byte-order mark and not plain text (ambiguous)": ["utf16_without_bom_ambiguous"],
    "duplicate headers": ["duplicate_headers", "duplicate_headers_after_strip"],
    "text answers": ["text_answers", "text_answers_validate"],
    "out-of-range codes": ["out_of_range_codes"],
    "undeclared missing codes": ["undeclared_missing_code", "undeclared_missing_code_report"],
    "NaN or inf strings": ["inf_strings", "all_nan_strings_fiml"],
    "all-missing column": ["all_missing_column"],
    "constant item": ["constant_item"],
    "perfectly collinear items": ["collinear_items"],
    # issue 14: fewer complete cases than parameters is a warning, as in lavaan (see
    # test_fewer_cases_than_parameters_is_a_warning); a singular sample covariance still stops
    "N smaller than the number of parameters": ["fewer_cases_than_parameters_fit"],
    "grouping column with one level": ["group_with_one_level", "group_with_one_level_invariance"],
    "a group with 3 members": ["group_with_three_members"],
    "unknown operator": ["unknown_operator_arrow", "unknown_operator_equals"],
    "unbalanced expression": ["unbalanced_parentheses", "unbalanced_definition"],
    "undefined variable": ["undefined_variable", "undefined_latent"],
    "latent variable with no indicators": ["latent_without_indicators", "latent_with_only_a_number"],
    "duplicate definition": ["duplicate_definition", "duplicate_defined_parameter"],
    "variable regressed on itself": ["regressed_on_itself"],
    "unidentified model": ["unidentified_negative_df", "unidentified_free_loadings"],
    "label with conflicting meanings": ["label_is_a_variable_name", "label_is_a_defined_name"],
    "':=' with unknown labels": ["definition_unknown_label"],
    "bootstrap count <= 0": ["bootstrap_zero", "bootstrap_negative"],
    "unwritable output directory": ["report_unwritable_folder", "simulate_unwritable_folder"],
    "existing output directory without --force": ["report_existing_folder_without_force"],
    "file size limit": ["file_above_size_limit"],
    "bootstrap replicate limit": ["bootstrap_above_limit", "report_bootstrap_above_limit"],
    "power replicate limit": ["power_reps_above_limit", "power_reps_zero"],
}

#: cases that fail on a known defect outside the files this suite's author may edit
#: (reported to the lead); strict, so they turn red the day they are fixed
XFAIL_API: dict[str, str] = {}
XFAIL_CLI: dict[str, str] = dict(XFAIL_API)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``: relative path -> SHA-256 (``"dir"`` for folders)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else sha256(p)
    return out


def _unwritable_folder(tmp_path: Path) -> tuple[Path, bool]:
    """A folder nobody can create files in: a read-only folder, or (as root) ``/proc``."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        proc = Path("/proc")
        try:
            probe = proc / "asymtrust-probe"
            probe.mkdir()
        except OSError:
            return proc, False
        probe.rmdir()  # pragma: no cover - /proc is never writable
        pytest.fail("running as root and /proc is writable: no unwritable folder available")
    folder = tmp_path / "work" / "readonly"
    folder.mkdir(parents=True)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return folder, True


class Scratch:
    """The scratch layout of one case: ``in/`` (inputs), ``work/`` (the current folder)."""

    def __init__(self, case: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.case = case
        self.root = tmp_path
        self.inp = tmp_path / "in"
        self.work = tmp_path / "work"
        self.inp.mkdir()
        self.work.mkdir()
        self.spec = Path(shutil.copyfile(SPEC_FILE, self.inp / "cfa2.lav"))
        self.base = Path(shutil.copyfile(FILES / "base.csv", self.inp / "base.csv"))
        self.input = Path(shutil.copyfile(FILES / case["input"], self.inp / case["input"])) if "input" in case else None
        self.model = self.inp / "model.lav"
        self.model.write_text(case.get("syntax", "# no syntax for this case\n"), encoding="utf-8")
        self.out = self.work / case.get("out", "out")
        self.unwritable, self._chmodded = _unwritable_folder(tmp_path)
        setup = case.get("setup")
        if setup == "report_dir":
            self.out.mkdir()
            (self.out / "report.html").write_text("<html>an earlier report</html>\n", encoding="utf-8")
            (self.out / "estimates.csv").write_text("lhs,op,rhs,est\n", encoding="utf-8")
        elif setup == "foreign_dir":
            self.out.mkdir()
            (self.out / "notes.txt").write_text("a user's own notes: must survive\n", encoding="utf-8")
        elif setup == "file":
            self.out.write_text("a user's own file: must survive\n", encoding="utf-8")
        elif setup is not None:  # pragma: no cover - manifest typo
            raise AssertionError(f"unknown setup {setup!r}")
        for key, value in case.get("env", {}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(self.work)
        self.before = snapshot(self.root)

    def fill(self, text: str) -> str:
        return text.format(input=self.input, spec=self.spec, model=self.model, base=self.base, out=self.out,
                           unwritable=self.unwritable)

    def namespace(self) -> dict:
        from asymtrust.cli import write_atomic
        from asymtrust.analysis.invariance import invariance
        from asymtrust.reporting import report

        def base_fit():
            return asymtrust.fit(str(self.spec), asymtrust.read_survey(self.base))

        return {
            "asymtrust": asymtrust, "read": asymtrust.read_survey, "fit": asymtrust.fit,
            "validate": asymtrust.validate, "effects": asymtrust.effects, "invariance": invariance,
            "report": report, "write_atomic": write_atomic, "build_partable": build_partable,
            "base_fit": base_fit, "INPUT": str(self.input) if self.input else None, "SPEC": str(self.spec),
            "MODEL": str(self.model), "SYNTAX": self.case.get("syntax"), "BASE": str(self.base),
            "OUT": str(self.out), "UNWRITABLE": str(self.unwritable),
        }

    def check_untouched(self) -> None:
        """Inputs keep their SHA-256 and nothing was written anywhere in the scratch tree."""
        after = snapshot(self.root)
        assert after == self.before, (
            f"files changed: added {sorted(set(after) - set(self.before))}, removed "
            f"{sorted(set(self.before) - set(after))}, modified "
            f"{sorted(k for k in after if k in self.before and after[k] != self.before[k])}"
        )
        if self.input is not None:
            assert sha256(self.input) == sha256(FILES / self.case["input"])
        assert sha256(FILES / "base.csv") == sha256(self.base)
        if self.unwritable == Path("/proc"):
            assert not (self.unwritable / "report").exists()

    def close(self) -> None:
        if self._chmodded:
            self.unwritable.chmod(0o755)


@pytest.fixture
def scratch(request, tmp_path, monkeypatch):
    s = Scratch(request.param, tmp_path, monkeypatch)
    yield s
    s.close()


def _mark(table: dict[str, str]):
    return [
        pytest.param(c, id=c["id"], marks=pytest.mark.xfail(strict=True, reason=table[c["id"]]))
        if c["id"] in table
        else pytest.param(c, id=c["id"])
        for c in CASES
    ]


# --------------------------------------------------------------------------- the manifest itself
def test_manifest_is_complete():
    assert len(CASES) >= 40
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    for c in CASES:
        assert {"id", "kind", "cli", "api", "exception", "message"} <= set(c), c["id"]
        assert c["kind"] in ("data", "syntax", "option", "output"), c["id"]
        assert issubclass(getattr(exceptions, c["exception"]), exceptions.AsymtrustError), c["id"]
        if "input" in c:
            assert (FILES / c["input"]).is_file(), c["id"]
        assert c["message"].strip(), c["id"]
    for need, cases in REQUIRED.items():
        assert cases and all(k in BY_ID for k in cases), need
    assert {c["kind"] for c in CASES} == {"data", "syntax", "option", "output"}


def test_corpus_files_match_their_generator():
    sys.path.insert(0, str(CORPUS))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(CORPUS))
    built = make_corpus.build()
    on_disk = {p.name for p in FILES.iterdir()}
    assert on_disk == set(built)
    for name, data in built.items():
        assert (FILES / name).read_bytes() == data, name


# --------------------------------------------------------------------------- every case, API and CLI
@pytest.mark.parametrize("scratch", _mark(XFAIL_API), indirect=True)
def test_api(scratch):
    case = scratch.case
    expected = getattr(exceptions, case["exception"])
    with pytest.raises(exceptions.AsymtrustError) as info:
        eval(case["api"], scratch.namespace())  # expressions of our own manifest
    exc = info.value
    msg = str(exc)
    assert isinstance(exc, expected), f"{type(exc).__name__} ({msg}) is not a {expected.__name__}"
    assert case["message"] in msg
    assert "\n" not in msg and msg == msg.strip() and len(msg) < 400
    scratch.check_untouched()


@pytest.mark.parametrize("scratch", _mark(XFAIL_CLI), indirect=True)
def test_cli(scratch, capsys):
    case = scratch.case
    argv = [scratch.fill(a) for a in case["cli"]]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, f"exit {code}; stderr: {err!r}"
    assert "Traceback" not in err and "Traceback" not in out
    errors = [ln for ln in lines if ": error: " in ln]
    assert all(ln.startswith("asymtrust") for ln in lines), lines
    assert len(errors) == case.get("cli_lines", 1), lines
    fragment = case.get("cli_message", case["message"])
    assert any(fragment in ln for ln in errors), (fragment, errors)
    scratch.check_untouched()


# a few cases through a real process: the console entry point, not just main()
SUBPROCESS_CASES = ["undeclared_missing_code", "bootstrap_zero", "report_existing_folder_without_force"]


@pytest.mark.parametrize("scratch", [pytest.param(BY_ID[k], id=k) for k in SUBPROCESS_CASES], indirect=True)
def test_cli_subprocess(scratch):
    case = scratch.case
    argv = [scratch.fill(a) for a in case["cli"]]
    env = dict(os.environ, **case.get("env", {}))
    proc = subprocess.run([sys.executable, "-m", "asymtrust", *argv], capture_output=True, text=True,
                          cwd=scratch.work, env=env, timeout=120, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == case.get("cli_lines", 1)
    assert case.get("cli_message", case["message"]) in lines[0]
    scratch.check_untouched()


# --------------------------------------------------------------------------- read correctly when unambiguous
@pytest.fixture(scope="module")
def plain() -> pd.DataFrame:
    return asymtrust.read_survey(FILES / "base.csv")


@pytest.mark.parametrize(
    "name, delimiter, encoding",
    [
        ("semicolon.csv", ";", "utf-8"),
        ("tab_in_csv.csv", "\t", "utf-8"),
        ("utf8_bom.csv", ",", "utf-8-sig"),
        ("utf16_bom.csv", ",", "utf-16"),
        ("utf16_no_bom.csv", ",", "utf-16-le"),
        ("utf16be_no_bom.csv", ",", "utf-16-be"),
        ("crlf.csv", ",", "utf-8"),
    ],
)
def test_unambiguous_variants_read_like_the_plain_file(plain, tmp_copy, name, delimiter, encoding):
    path = tmp_copy(FILES / name)
    before = sha256(path)
    df = asymtrust.read_survey(path)
    assert sha256(path) == before
    assert list(df.columns) == list(plain.columns)  # no BOM glued to 'resp_id'
    pd.testing.assert_frame_equal(df, plain, check_like=False)
    assert (df.attrs["delimiter"], df.attrs["encoding"]) == (delimiter, encoding)
    assert asymtrust.validate(df, str(SPEC_FILE)).ok


def test_nan_strings_become_missing(plain):
    df = asymtrust.read_survey(FILES / "nan_strings.csv")
    expected = plain["cap3"].astype(float).copy()
    expected[[i for i in range(len(df)) if i % 5 == 0]] = np.nan  # "NaN", "NA", "nan" and "" alike
    pd.testing.assert_series_equal(df["cap3"].astype(float), expected)
    rep = asymtrust.validate(df, str(SPEC_FILE))
    assert rep.ok and rep.n_complete == len(df) - 12


def test_declared_missing_code_is_read_as_missing(plain):
    df = asymtrust.read_survey(FILES / "missing_code_99.csv", missing_codes=[-99])
    n = sum(1 for i in range(len(df)) if i % 7 == 3)
    assert df.attrs["missing_recoded"] == {"pow1": n}
    assert int(df["pow1"].isna().sum()) == n
    keep = df["pow1"].notna()
    assert (df.loc[keep, "pow1"] == plain.loc[keep, "pow1"]).all()
    assert asymtrust.validate(df, str(SPEC_FILE)).ok


def test_scale_labels_are_mapped_with_a_codebook(plain, capsys):
    df = asymtrust.read_survey(FILES / "text_labels.csv", codebook=asymtrust.load_codebook())
    assert df.attrs["labels_mapped"] == {"cap2": len(df)}
    pd.testing.assert_series_equal(df["cap2"], plain["cap2"])
    code = cli.main(["validate", str(FILES / "text_labels.csv"), "--spec", str(SPEC_FILE), "--map-labels"])
    assert code == 0, capsys.readouterr().err


def test_decimal_codes_are_a_warning_naming_the_column():
    rep = asymtrust.validate(FILES / "decimal_codes.csv", str(SPEC_FILE))
    assert rep.ok
    assert any("column pow2: 1 row is not whole numbers (e.g. 4.5)" in w for w in rep.warnings)


# --------------------------------------------------------------------------- resource limits
def test_file_size_limit_refuses_before_reading(tmp_path, monkeypatch):
    """The limit is checked on the file size, before any byte is read (no memory spent)."""
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:  # a sparse file: large on paper, nothing allocated
        fh.truncate(50_000)
    monkeypatch.setenv("ASYMTRUST_MAX_FILE_BYTES", "40000")
    read = []
    real_open = open

    def spy(file, *a, **k):
        if Path(file) == path:
            read.append(file)
        return real_open(file, *a, **k)

    monkeypatch.setattr("builtins.open", spy)
    with pytest.raises(exceptions.ResourceLimitError, match=r"huge\.csv: is 48\.8 KiB, above the limit of 39\.1 KiB"):
        asymtrust.read_survey(path)
    assert read == []


def test_replicate_limit_names_the_option_and_the_variable(monkeypatch):
    from asymtrust.engine.resample import check_replicates

    monkeypatch.setenv("ASYMTRUST_MAX_REPLICATES", "100")
    assert check_replicates(100, name="bootstrap") == 100
    with pytest.raises(exceptions.ResourceLimitError, match="ASYMTRUST_MAX_REPLICATES") as info:
        check_replicates(101, name="reps")
    assert "reps" in str(info.value) and "101" in str(info.value)
    monkeypatch.setenv("ASYMTRUST_MAX_REPLICATES", "-3")
    with pytest.raises(exceptions.OptionError, match="ASYMTRUST_MAX_REPLICATES"):
        check_replicates(10)


# --------------------------------------------------------------------------- defects reported to the lead
# The CLI refuses these files (it validates before fitting); asymtrust.fit() called
# directly must refuse them too, naming the column(s).
def test_fit_refuses_true_false_answers():
    df = asymtrust.read_survey(FILES / "bool_item.csv")
    with pytest.raises(exceptions.DataError, match="cap1"):
        asymtrust.fit(str(SPEC_FILE), df)


def test_fit_names_perfectly_collinear_columns():
    df = asymtrust.read_survey(FILES / "collinear.csv")
    with pytest.raises(exceptions.DataError, match=r"cap1.*cap2|cap2.*cap1"):
        asymtrust.fit(str(SPEC_FILE), df)


def test_fewer_cases_than_parameters_is_a_warning(capsys):
    """lavaan fits 8 complete cases for 13 free parameters (issue 14); validate warns, fit warns."""
    path = FILES / "too_few_rows.csv"
    rep = asymtrust.validate(path, str(SPEC_FILE))
    assert rep.ok
    assert any("only 8 complete cases (listwise) for 13 free parameters" in w for w in rep.warnings)
    code = cli.main(["fit", str(path), "--spec", str(SPEC_FILE)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    assert "asymtrust: warning:" in err and "13 free parameters" in err
