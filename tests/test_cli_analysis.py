"""The analysis commands of the CLI: reliability, effects, invariance, compare.

Each command's numbers are the API's (tested against R elsewhere); here we check the
commands run, their JSON carries those numbers, and bad input exits 2 with one line.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import asymtrust
from asymtrust import cli


def _json(capsys, argv):
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.fixture(scope="module")
def bcf():
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))


def test_reliability_json_matches_api(capsys, bcf):
    doc = _json(capsys, ["reliability", "bcf_synthetic", "--spec", "fig1", "--json"])
    rel = asymtrust.reliability(bcf, "fig1")
    rows = {r["construct"]: r for r in doc["reliability"]}
    assert set(rows) == set(rel.index)
    for c in rel.index:
        assert rows[c]["alpha"] == pytest.approx(rel.loc[c, "alpha"], abs=1e-12)
        assert rows[c]["ave"] == pytest.approx(rel.loc[c, "ave"], abs=1e-12)
    assert doc["htmt_method"] == "htmt2"
    assert len(doc["htmt"]) == 10


def test_reliability_text(capsys):
    code = cli.main(["reliability", "hs1939", "--spec",
                     "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"])
    out = capsys.readouterr().out
    assert code == 0 and "HTMT (htmt2)" in out and "visual" in out


@pytest.mark.slow
def test_effects_json_is_reproducible(capsys):
    argv = ["effects", "bcf_synthetic", "--spec", "fig1", "--bootstrap", "40", "--seed", "5", "--json"]
    a = _json(capsys, argv)
    b = _json(capsys, argv)
    assert a == b
    paths = {r["path"] for r in a["effects"]}
    assert "RoleAmb -> CompTrust -> ServCons" in paths
    assert {r["method"] for r in a["effects"]} >= {"percentile"}
    assert all(np.isfinite(r["est"]) and r["n_boot"] == 40 for r in a["effects"] if r["method"] != "delta")


def test_compare_json(capsys):
    doc = _json(capsys, ["compare", "bcf_synthetic", "--specs", "fig1", "fig1_direct", "--json"])
    text = json.dumps(doc)
    assert "fig1_direct" in text and "aic" in text


def test_invariance_json(capsys):
    doc = _json(capsys, ["invariance", "hs1939", "--spec",
                         "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9",
                         "--group", "school", "--json"])
    rows = doc["invariance"]
    assert [r["level"] for r in rows][:3] == ["configural", "metric", "scalar"]
    assert rows[1]["chisq"] == pytest.approx(124.043544, abs=1e-4)  # lavaan, lavaan-parity.md


def test_bad_group_column_exits_2(capsys):
    code = cli.main(["invariance", "bcf_synthetic", "--spec", "fig1_cfa", "--group", "nope"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nope" in err and "Traceback" not in err
