"""lavaan's own regression harness (github lucdw/lavaan-check; issue 14), case by case.

The references are lavaan 0.6-14's results, stored by
``tests/reference/lavaan-check/run_lavaan_check.R``; ``scripts/lavaan_check.py`` runs a
case through asymtrust and compares it with the issue's tolerances (estimates and SEs
2e-3, 1e-3 relative for large values; chi-square 1e-3 relative; df and npar exact; other
indices 2e-3; parse tests: npar, df and every row's free/fixed status).

This file pins what holds today, so it can only grow:

* every case in :data:`MATCHING` must match lavaan;
* every case lavaan 0.6-14 itself stops on must be refused with a typed asymtrust error
  (or, for the two that use R's reserved word ``in`` as a label, accepted as lavaan's
  parser accepts them up to the fit).

The full tally (match / refused / differ / error, case by case) is printed by
``python scripts/lavaan_check.py``; issue 14 asks for 72 of the 76 runnable cases (75 today;
WISCVPE's model is not identified, so lavaan's estimates along its unidentified directions are
one of infinitely many).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lavaan_check", ROOT / "scripts" / "lavaan_check.py")
lc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lc)

CASES = {c["test"]: c for c in json.loads((lc.DATA / "cases.json").read_text(encoding="utf-8"))} \
    if (lc.DATA / "cases.json").is_file() else {}

#: the runnable cases asymtrust matches today (75 of 76)
MATCHING = [
    "analyse_categorical", "badscale", "HS_cov", "HS_cov_multiple", "HS_mean_GLS", "HS_mean_ML_bootstrap", "HS_ML_nodata1",
    "HS_ML_nodata2", "hsbmis2", "hsbmis21", "hsbmis22", "mplus_4_1a", "mplus_5_12", "parse_a_YR_OKT12_5",
    "parse_b_a", "parse_c_a", "parse_d_a", "parse_e_a", "parse_f_a", "parse_g_a", "parse_h_a", "parse_i_a",
    "parse_l_a", "parse_mediatie", "parse_model_WF_HOMO", "parse_noncollapsed_nc", "parse_testancat",
    "parse_testbadscale", "parse_testefacfaccc", "parse_testrv", "parse_testrvwitherror",
    "parse_testtwolevellabels", "parse_testWISCVPE", "parse_testyr", "parse_vector_expr",
    "parse_YR_2024SEP23", "parse_YR_FEB26_1", "parse_YR_OKT11_1", "parse_YR_OKT11_4", "parse_YR_OKT11_5",
    "parse_YR_OKT12_1", "parse_YR_OKT12_2", "parse_YR_OKT12_3", "parse_YR_OKT12_4", "parse_YR_OKT18_2",
    "parse_YR_OKT18_3", "parse_YR_OKT18_4", "parse_YR_OKT18_5", "parse_YR_OKT18_6", "parse_YR_OKT18_7",
    "parse_YR_OKT18_8", "parse_YR_OKT18_9", "parse_YR_OKT18_A", "parse_YR_OKT18_B", "parse_YR_OKT18_D",
    "parse_YR_OKT18_E", "parse_YR_OKT20_1", "parse_YR_OKT20_2", "parse_YR_OKT20_4", "parse_YR_OKT20_5",
    "parse_YR_OKT20_6", "parse_YR_OKT20_7", "parse_YR_OKT20_8", "parse_YR_OKT20_9", "parse_YR_OKT21_1",
    "pol_dem_gls", "pol_dem_ml", "pol_dem_wls", "sem_on_cov", "sem_on_cov2", "social_base",
    "social_constraints", "social_missml", "TwoLevel_labels", "whalen_cov",
]


def _run(name: str) -> dict:
    if not CASES:
        pytest.fail(f"the harness manifest is missing at {lc.DATA}: shared/reference/lavaan-check must be "
                    "beside the clone (or set LAVAAN_CHECK_DATA)")
    ref = json.loads((lc.REF / f"{name}.json").read_text(encoding="utf-8"))
    return lc.run_case(CASES[name], ref, all_indices=False)


@pytest.mark.parametrize("name", MATCHING)
def test_case_matches_lavaan(name):
    out = _run(name)
    assert out["cls"] == "match", out
    assert out["n_compared"] > 0  # numbers were compared, not just a run without error


def test_cases_lavaan_stops_on_are_refused_by_name():
    stops = [n for n, c in CASES.items() if c.get("lavaan_stops")]
    assert len(stops) == 17
    outcome = {n: _run(n) for n in stops}
    accepted = sorted(n for n, o in outcome.items() if o["cls"] == "match" or o["cls"] == "accepted")
    bad = {n: o for n, o in outcome.items() if o["cls"] not in ("refused", "accepted", "match")}
    assert bad == {}, bad
    assert set(accepted) <= {"parse_YR_OKT11_2", "parse_YR_OKT11_3"}


def test_at_least_72_of_76_runnable_cases_match():
    # issue 14's "Done when": at least 72 of the 76 cases lavaan 0.6-14 runs match
    runnable = [n for n, c in CASES.items() if not c.get("lavaan_stops")]
    assert len(runnable) == 76
    assert len(set(MATCHING) & set(runnable)) >= 72
