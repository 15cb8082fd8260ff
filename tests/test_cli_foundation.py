"""The command line: help/version, specs, codebook, simulate, validate, and error handling.

Exit codes: 0 success, 2 error (one line "asymtrust: error: ..." on stderr, no traceback) or
usage error, 130 interrupted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from asymtrust import __version__, cli
from asymtrust.cli import COMMANDS, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, fragment: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("asymtrust: error: "), err
    assert fragment in lines[0], err
    assert "Traceback" not in err


@pytest.fixture
def good_csv(tmp_path):
    """A clean survey file for fig1 (random 1..7 codes, 150 respondents)."""
    from asymtrust.library.codebook import item_codes, load_codebook

    items = item_codes(load_codebook())
    rng = np.random.default_rng(11)
    df = pd.DataFrame(rng.integers(1, 8, size=(150, len(items))), columns=items)
    df.insert(0, "resp_id", np.arange(1, 151))
    p = tmp_path / "good.csv"
    df.to_csv(p, index=False)
    return p


# --------------------------------------------------------------------------- basics
def test_help_lists_commands_in_table_order(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    shown = [c for c in COMMANDS if f"\n    {c} " in out]
    assert shown[:4] == ["specs", "codebook", "simulate", "validate"]
    assert [out.index(f"\n    {c} ") for c in shown] == sorted(out.index(f"\n    {c} ") for c in shown)


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"asymtrust {__version__}")


def test_no_command_and_usage_errors_exit_2(capsys):
    code, _, err = run(capsys)
    assert code == 2 and "a command is required" in err
    code, _, err = run(capsys, "nonsense")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys, "simulate", "--spec", "fig1", "--n", "-3")
    assert code == 2 and "positive integer" in err
    code, _, err = run(capsys, "validate")
    assert code == 2 and "Traceback" not in err


def test_registry_table_skips_undefined_commands():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    defined = [c for c in COMMANDS if hasattr(cli, f"_register_{c}")]
    assert list(sub.choices) == defined
    for name in ("specs", "codebook", "simulate", "validate"):
        assert callable(getattr(cli, f"cmd_{name}"))


def test_keyboard_interrupt_exits_130(capsys, monkeypatch):
    def boom(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_specs", boom)
    code, _, err = run(capsys, "specs")
    assert code == 130 and "Traceback" not in err


def test_oserror_becomes_one_line(capsys, monkeypatch):
    def boom(args):
        raise PermissionError(13, "Permission denied", "/some/where.csv")

    monkeypatch.setattr(cli, "cmd_specs", boom)
    code, _, err = run(capsys, "specs")
    assert code == 2
    assert_one_error_line(err, "/some/where.csv: Permission denied")


# --------------------------------------------------------------------------- specs and codebook
def test_specs_list_and_describe(capsys):
    from asymtrust.library.specs import list_specs

    code, out, _ = run(capsys, "specs")
    assert code == 0
    for name in list_specs():
        assert name in out
    code, out, _ = run(capsys, "specs", "fig1")
    assert code == 0 and "CompTrust" in out
    code, out, _ = run(capsys, "specs", "fig1", "--syntax")
    assert code == 0 and "CompTrust =~ ctr1" in out.replace("  ", " ").replace("  ", " ")


def test_unknown_spec_is_one_error_line(capsys):
    code, _, err = run(capsys, "specs", "nope")
    assert code == 2
    assert_one_error_line(err, "nope")


@pytest.mark.parametrize("fmt, marker", [("md", "#"), ("csv", "item,construct"), ("text", "rol1")])
def test_codebook_formats(capsys, fmt, marker):
    code, out, _ = run(capsys, "codebook", "--format", fmt)
    assert code == 0 and marker in out
    if fmt == "csv":
        import io

        from asymtrust.library.codebook import load_codebook

        back = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)
        assert back["item"].tolist() == load_codebook()["item"].tolist()


# --------------------------------------------------------------------------- validate
def test_validate_ok(capsys, good_csv, sha256):
    before = sha256(good_csv)
    code, out, err = run(capsys, "validate", str(good_csv), "--spec", "fig1")
    assert code == 0, err
    assert "OK" in out and err == ""
    assert sha256(good_csv) == before


def test_validate_json(capsys, good_csv):
    code, out, _ = run(capsys, "validate", str(good_csv), "--spec", "fig1", "--json")
    d = json.loads(out)
    assert code == 0 and d["ok"] is True and d["n_rows"] == 150 and d["n_complete"] == 150


def test_validate_non_numeric_code(capsys, good_csv, sha256):
    df = pd.read_csv(good_csv).astype({"gtr2": object})
    df.loc[[0, 3], "gtr2"] = "Agree"
    df.to_csv(good_csv, index=False)
    before = sha256(good_csv)
    code, _, err = run(capsys, "validate", str(good_csv), "--spec", "fig1")
    assert code == 2
    assert_one_error_line(err, "column gtr2: 2 rows of 150 have non-numeric codes (e.g. 'Agree')")
    assert sha256(good_csv) == before
    # the labels can be mapped with the codebook
    code, _, err = run(capsys, "validate", str(good_csv), "--spec", "fig1", "--map-labels")
    assert code == 0, err


def test_validate_out_of_range_and_missing_codes(capsys, good_csv):
    df = pd.read_csv(good_csv)
    df.loc[[1, 2], "svc3"] = -99
    df.loc[5, "plb1"] = -9
    df.to_csv(good_csv, index=False)
    code, _, err = run(capsys, "validate", str(good_csv), "--spec", "fig1")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(ln.startswith("asymtrust: error: ") for ln in lines)
    assert "column svc3: 2 rows outside the scale 1..7 (values -99)" in lines[0]
    assert "column plb1: 1 row outside the scale 1..7 (values -9)" in lines[1]
    code, out, err = run(capsys, "validate", str(good_csv), "--spec", "fig1", "--missing-codes", "-99", "-9")
    assert code == 0, err
    assert "column svc3: 2 rows with a missing-value code were set to NA when the file was read" in out


def test_validate_missing_item_column(capsys, good_csv):
    pd.read_csv(good_csv).drop(columns=["ctr3"]).to_csv(good_csv, index=False)
    code, _, err = run(capsys, "validate", str(good_csv), "--spec", "fig1")
    assert code == 2
    assert_one_error_line(err, "1 of 32 model variables missing from the data: ctr3")


def test_validate_empty_file(capsys, tmp_path, sha256):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    code, _, err = run(capsys, "validate", str(p), "--spec", "fig1")
    assert code == 2
    assert_one_error_line(err, "empty.csv: is empty (0 bytes)")


def test_validate_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "validate", str(tmp_path / "absent.csv"), "--spec", "fig1")
    assert code == 2
    assert_one_error_line(err, "absent.csv: not found")


def test_validate_bundled_dataset_name(capsys):
    code, out, err = run(capsys, "validate", "hs1939", "--spec", "visual =~ x1 + x2 + x3")
    assert code == 0, err
    assert "complete cases: 301" in out


def test_validate_via_subprocess(good_csv, tmp_path, sha256):
    """`python -m asymtrust` (asymtrust/__main__.py): exit 2, one stderr line, no traceback."""
    bad = tmp_path / "bad.csv"
    df = pd.read_csv(good_csv)
    df.loc[0, "rol1"] = 8
    df.to_csv(bad, index=False)
    before = sha256(bad)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "asymtrust", "validate", str(bad), "--spec", "fig1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert_one_error_line(proc.stderr, "column rol1: 1 row outside the scale 1..7 (values 8)")
    assert sha256(bad) == before


# --------------------------------------------------------------------------- simulate
def test_simulate_byte_identical_for_same_seed(capsys, tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    assert run(capsys, "simulate", "--spec", "fig1", "--n", "300", "--seed", "7", "--out", str(a))[0] == 0
    assert run(capsys, "simulate", "--spec", "fig1", "--n", "300", "--seed", "7", "--out", str(b))[0] == 0
    assert run(capsys, "simulate", "--spec", "fig1", "--n", "300", "--seed", "8", "--out", str(c))[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    raw = a.read_bytes()
    assert b"\r\n" not in raw and raw.endswith(b"\n")
    df = pd.read_csv(a)
    assert df.shape[0] == 300
    assert sorted(os.listdir(tmp_path)) == ["a.csv", "b.csv", "c.csv"]  # no temp files left behind
    # the simulated file passes validation
    code, _, err = run(capsys, "validate", str(a), "--spec", "fig1")
    assert code == 0, err


def test_simulate_missing_and_groups_reproducible(capsys, tmp_path):
    outs = []
    for name in ("m1.csv", "m2.csv"):
        p = tmp_path / name
        code, _, err = run(
            capsys,
            "simulate",
            "--spec",
            "fig1",
            "--n",
            "120",
            "--seed",
            "3",
            "--missing",
            "0.05",
            "--groups",
            "--out",
            str(p),
        )
        assert code == 0, err
        outs.append(p.read_bytes())
    assert outs[0] == outs[1]
    df = pd.read_csv(tmp_path / "m1.csv")
    assert df.isna().to_numpy().sum() > 0
    assert b".0," not in outs[0]  # whole-number codes written as integers even with NA present


def test_simulate_refuses_overwrite_without_force(capsys, tmp_path, sha256):
    p = tmp_path / "keep.csv"
    p.write_text("precious\n")
    before = sha256(p)
    code, _, err = run(capsys, "simulate", "--spec", "fig1", "--n", "50", "--seed", "1", "--out", str(p))
    assert code == 2
    assert_one_error_line(err, "already exists; use --force")
    assert sha256(p) == before
    # issue 12: --force replaces only a file asymtrust wrote; the user's file survives
    code, _, err = run(capsys, "simulate", "--spec", "fig1", "--n", "50", "--seed", "1", "--out", str(p), "--force")
    assert code == 2
    assert_one_error_line(err, "was not written by asymtrust")
    assert sha256(p) == before
    mine = tmp_path / "mine.csv"
    code, _, err = run(capsys, "simulate", "--spec", "fig1", "--n", "40", "--seed", "1", "--out", str(mine))
    assert code == 0, err
    code, _, err = run(capsys, "simulate", "--spec", "fig1", "--n", "50", "--seed", "1", "--out", str(mine), "--force")
    assert code == 0, err
    assert len(pd.read_csv(mine)) == 50


def test_simulate_bad_output_location(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "simulate",
        "--spec",
        "fig1",
        "--n",
        "50",
        "--seed",
        "1",
        "--out",
        str(tmp_path / "no" / "such" / "dir.csv"),
    )
    assert code == 2
    assert_one_error_line(err, "does not exist")
    code, _, err = run(
        capsys, "simulate", "--spec", "fig1", "--n", "50", "--seed", "1", "--out", str(tmp_path / "x.xlsx")
    )
    assert code == 2
    assert_one_error_line(err, "expected a .csv or .tsv file")


def test_simulate_to_stdout_matches_file(capsys, tmp_path):
    p = tmp_path / "f.csv"
    run(capsys, "simulate", "--spec", "fig1", "--n", "40", "--seed", "5", "--out", str(p))
    code, out, _ = run(capsys, "simulate", "--spec", "fig1", "--n", "40", "--seed", "5")
    assert code == 0 and out.encode() == p.read_bytes()


def test_write_atomic(tmp_path):
    p = tmp_path / "w.txt"
    cli.write_atomic(p, "a\nb\n")
    assert p.read_bytes() == b"a\nb\n"
    from asymtrust.exceptions import OutputError

    with pytest.raises(OutputError, match="already exists"):
        cli.write_atomic(p, "c")
    cli.write_atomic(p, b"c", force=True)
    assert p.read_bytes() == b"c" and os.listdir(tmp_path) == ["w.txt"]
