"""Data and models for nested designs (issue 16): ``simulate(clusters=)``, the bundled
``bcf_nested`` data set, the codebook's cluster identifiers, the ``fig1_twolevel`` spec,
``validate(cluster=)``, ``reliability(cluster=)`` and lavaan 0.6-14 / semTools 0.5-6
references on the nested synthetic Fig. 1 data set.

References: ``tests/reference/nested/bcf_*.json``, written by
``tests/reference/nested/bcf_nested_cases.R`` from ``datasets/bcf_nested.csv`` (reverse-keyed
items recoded 8 - x, ``cluster = "partnership"``):

* ``bcf_icc``: ``lavInspect(fit, "icc")`` of the 32 items;
* ``bcf_tl_cfa``: a two-level CFA (CapImb, PowDist, GoodTrust at both levels, loadings equal
  across levels) with ``compRelSEM(config=)`` and ``compRelSEM(shared=)``;
* ``bcf_tl_sem``: ``specs/fig1_twolevel.lav``;
* ``bcf_mlr_fig1``: ``specs/fig1.lav`` single level, ``estimator = "MLR"`` with ``cluster=``.

Tolerances (issue 16): estimates and SEs 2e-3, chi-square 1e-3 relative, indices 2e-3.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.exceptions import OptionError, ValidationError
from asymtrust.library.codebook import cluster_fields, item_codes, load_codebook
from asymtrust.library.specs import load_spec
from asymtrust.survey.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference" / "nested"
TOL_EST, TOL_SE, TOL_CHISQ, TOL_INDEX = 2e-3, 2e-3, 1e-3, 2e-3
CHISQ = {"chisq", "baseline.chisq", "chisq.scaled", "baseline.chisq.scaled", "logl", "unrestricted.logl",
         "aic", "bic", "bic2", "fmin"}
RCFA = "CapImb =~ cap1 + cap2 + cap3\nPowDist =~ pow1 + pow2 + pow3\nGoodTrust =~ gtr1 + gtr2 + gtr3 + gtr4"


def _ref(case: str) -> dict:
    ref = json.loads((REF / f"{case}.json").read_text())
    assert ref["lavaan"] == "0.6.14" and ref["cluster"] == "partnership"
    digest = hashlib.md5((ROOT / ref["data"]).read_bytes()).hexdigest()  # noqa: S324 - R's tools::md5sum
    assert digest == ref["data_md5"], f"{ref['data']} changed since {case}.json was written"
    return ref


@pytest.fixture(scope="module")
def nested() -> pd.DataFrame:
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_nested"))


@pytest.fixture(scope="module")
def tl_fits(nested):
    cache: dict = {}

    def get(case):
        if case not in cache:
            ref = _ref(case)
            model = ref["model"] if case == "bcf_tl_cfa" else ref["spec"]
            cache[case] = (ref, asymtrust.fit(model, nested, cluster="partnership"))
        return cache[case]
    return get


def _check_fit_measures(ref_fit: dict, fi: pd.Series, at_least: int) -> None:
    checked = 0
    for key, want in ref_fit.items():
        name = key.replace(".", "_")
        if want is None or name not in fi.index:
            continue
        got = float(fi[name])
        if key in CHISQ:
            assert got == pytest.approx(want, rel=TOL_CHISQ, abs=1e-6), key
        else:
            assert got == pytest.approx(want, abs=TOL_INDEX), key
        checked += 1
    assert checked >= at_least


# ----------------------------------------------------------------------------- simulate(clusters=)
def test_simulate_without_clusters_is_unchanged():
    """The refactored draws give the bundled bcf_synthetic byte for byte (same RNG stream; its
    partnership IDs, the last two columns, are dealt afterwards by the generator)."""
    df = simulate("fig1", 600, seed=20190504, groups={"nhs": 0.40, "council": 0.35, "voluntary": 0.25})
    bundled = pd.read_csv(ROOT / "datasets" / "bcf_synthetic.csv").drop(columns=["partnership", "organisation"])
    assert df.to_csv(index=False, lineterminator="\n") == bundled.to_csv(index=False, lineterminator="\n")
    assert "partnership" not in df.columns and "clusters" not in df.attrs


def test_simulate_clusters_columns_sizes_and_attrs():
    df = simulate("fig1", None, seed=3, clusters=4, cluster_size=[2, 5, 3, 6])
    assert list(df.columns[:5]) == ["resp_id", "sector", "partner_sector", "partnership", "organisation"]
    assert list(df.columns[5:]) == [i for i in item_codes(load_codebook()) if i in load_spec("fig1").items()]
    assert df.groupby("partnership").size().tolist() == [2, 5, 3, 6] and len(df) == 16
    sector_no = df["sector"].map({"nhs": 1, "council": 2, "voluntary": 3})
    assert (df["organisation"] == (df["partnership"] - 1) * 3 + sector_no).all()
    assert df.attrs["clusters"] == 4 and df.attrs["cluster_sizes"] == [2, 5, 3, 6]
    assert df.attrs["icc"] == {lv: 0.15 for lv in load_spec("fig1").latents()}
    again = simulate("fig1", 16, seed=3, clusters=4, cluster_size=[2, 5, 3, 6])
    pd.testing.assert_frame_equal(df, again)
    items = df.columns[5:]
    assert df[items].isin(range(1, 8)).all().all()


def test_simulate_clusters_recovers_the_stated_iccs():
    """Each item's latent-response ICC is its construct's icc; on the 1..7 codes lavaan's ICC
    is slightly lower (the cut), and the within structure keeps the spec's loadings."""
    df = asymtrust.recode_reverse(simulate("fig1_cfa", None, seed=11, clusters=250, cluster_size=20,
                                           icc={"default": 0.05, "CapImb": 0.40}))
    out = asymtrust.icc(df, "partnership", columns=["cap1", "cap2", "cap3", "rol1", "rol2", "svc1"])
    assert out.loc[["cap1", "cap2", "cap3"], "icc"].between(0.30, 0.45).all()
    assert out.loc[["rol1", "rol2", "svc1"], "icc"].between(0.01, 0.10).all()
    assert out.attrs["nclusters"] == 250


@pytest.mark.parametrize("kwargs, match", [
    ({"clusters": 1, "cluster_size": 5}, "clusters must be an integer >= 2"),
    ({"clusters": 3}, "clusters= needs cluster_size="),
    ({"cluster_size": 5}, "cluster_size= needs clusters="),
    ({"clusters": 3, "cluster_size": [4, 4]}, "gives 2 sizes for clusters=3"),
    ({"clusters": 2, "cluster_size": [4, 0]}, "cluster sizes must be integers >= 1"),
    ({"clusters": 2, "cluster_size": 5, "icc": 1.0}, r"icc must be a number in \(0, 1\)"),
    ({"clusters": 2, "cluster_size": 5, "icc": {"Nope": 0.2}}, "icc names latent"),
])
def test_simulate_clusters_bad_input(kwargs, match):
    with pytest.raises(OptionError, match=match):
        simulate("fig1", None if "clusters" in kwargs and "cluster_size" in kwargs else 10, seed=1, **kwargs)


def test_simulate_clusters_n_must_match_the_design():
    with pytest.raises(OptionError, match="n=11 but clusters x cluster_size gives 10"):
        simulate("fig1", 11, seed=1, clusters=2, cluster_size=5)


# ----------------------------------------------------------------------------- data set, codebook, spec
def test_bcf_nested_is_registered_synthetic_and_current():
    df = asymtrust.load_dataset("bcf_nested")
    reg = asymtrust.list_datasets().set_index("name")
    assert df.attrs["synthetic"] is True and "SYNTHETIC" in reg.loc["bcf_nested", "title"]
    assert len(df) == reg.loc["bcf_nested", "n_rows"] == 949
    assert df["partnership"].nunique() == 60 and df.groupby("partnership").size().between(8, 24).all()
    spec = importlib.util.spec_from_file_location("make_bcf_nested", ROOT / "scripts" / "make_bcf_nested.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0
    note = (ROOT / "datasets" / "bcf_nested.md").read_text()
    assert hashlib.sha256((ROOT / "datasets" / "bcf_nested.csv").read_bytes()).hexdigest() in note


def test_codebook_has_the_cluster_identifiers():
    cb = load_codebook()
    assert cluster_fields(cb) == ["partnership", "organisation"]
    assert cb.loc[cb["item"] == "partnership", "rates"].item() == "partnership"
    assert set(cluster_fields(cb)) <= set(asymtrust.load_dataset("bcf_nested").columns)


def test_fig1_twolevel_spec_reads_as_lavaan(tl_fits):
    spec = load_spec("fig1_twolevel")
    ref, _ = tl_fits("bcf_tl_sem")
    assert spec.latents() == ref["lv"] and spec.items() == ref["ov"]
    assert sorted(f"{a}~{b}" for a, b in spec.regressions()) == sorted(ref["regressions"])
    assert spec.regressions() == load_spec("fig1").regressions()
    assert spec.measurement_syntax().startswith("level: 1\n") and "\nlevel: 2\n" in spec.measurement_syntax()
    assert asymtrust.parameter_table(spec.syntax).attrs["npar"] == ref["npar"] == 143


# ----------------------------------------------------------------------------- references
def test_iccs_equal_lavaan(nested):
    ref = _ref("bcf_icc")
    out = asymtrust.icc(nested, "partnership", columns=ref["columns"])
    np.testing.assert_allclose(out["icc"], [ref["icc"][c] for c in ref["columns"]], atol=TOL_INDEX)
    assert out.attrs["nclusters"] == ref["nclusters"]
    assert out.attrs["average_cluster_size"] == pytest.approx(ref["average_cluster_size"])


@pytest.mark.parametrize("case", ["bcf_tl_cfa", "bcf_tl_sem"])
def test_twolevel_estimates_ses_std_all_and_fit(case, tl_fits):
    ref, res = tl_fits(case)
    assert ref["converged"] and res.converged and not res.warnings
    want = pd.DataFrame(ref["partable"])
    want["level"] = want["level"].astype(str)
    got = res.estimates.merge(want, on=["lhs", "op", "rhs", "group", "level"], suffixes=("", "_ref"))
    assert len(got) == len(want) == len(res.estimates)
    np.testing.assert_allclose(got["est"], got["est_ref"], atol=TOL_EST)
    np.testing.assert_allclose(got["se"], got["se_ref"], atol=TOL_SE)
    std = got.dropna(subset=["std.all"])
    np.testing.assert_allclose(std["std_all"].astype(float), std["std.all"].astype(float), atol=TOL_EST)
    _check_fit_measures(ref["fit"], res.fit_indices, 30)
    for key in ("srmr_within", "srmr_between", "unrestricted_logl"):
        assert key in res.fit_indices.index


def test_multilevel_omegas_equal_semtools(tl_fits):
    ref, res = tl_fits("bcf_tl_cfa")
    out = asymtrust.multilevel_reliability(res).set_index("construct")
    for ours, (block, theirs) in {"omega_w": ("config", "omega_W"), "omega_2l": ("config", "omega_2L"),
                                  "omega_b": ("shared", "omega_B"), "irr": ("shared", "IRR")}.items():
        for lv in ("CapImb", "PowDist", "GoodTrust"):
            assert out.loc[lv, ours] == pytest.approx(ref[block][theirs][lv], abs=TOL_INDEX), (ours, lv)


def test_cluster_robust_mlr_fig1(nested):
    ref = _ref("bcf_mlr_fig1")
    assert ref["converged"] and ref["se"] == "robust.cluster"
    res = asymtrust.fit(ref["spec"], nested, cluster="partnership", estimator="MLR")
    want = pd.DataFrame(ref["estimates"])
    got = res.estimates.merge(want, on=["lhs", "op", "rhs"], suffixes=("", "_ref"))
    assert len(got) == len(want) == len(res.estimates)
    np.testing.assert_allclose(got["est"], got["est_ref"], atol=TOL_EST)
    np.testing.assert_allclose(got["se"], got["se_ref"], atol=TOL_SE)
    _check_fit_measures(ref["fit"], res.fit_indices, 40)
    for key in ("chisq_scaled", "cfi_robust", "rmsea_robust"):
        assert ref["fit"][key.replace("_", ".")] is not None and key in res.fit_indices.index


# ----------------------------------------------------------------------------- validate, reliability
def test_validate_reports_clusters(nested):
    rep = asymtrust.validate(nested, "fig1", cluster="partnership")
    assert rep.ok
    checks = {i.check: i for i in rep.issues}
    assert "60 clusters of 8..24 respondents" in checks["cluster_sizes"].message
    assert "ICC(1) of the items" in checks["cluster_icc"].message and "cluster_singletons" not in checks
    d = nested.copy()
    d["partnership"] = d["partnership"].astype(float)
    d.loc[[3, 7], "partnership"] = np.nan
    d.loc[10, "partnership"] = 999
    rep = asymtrust.validate(d, "fig1", cluster="partnership")
    assert not rep.ok and any("2 rows without a cluster (data rows 4, 8)" in e for e in rep.errors)
    assert any("1 cluster(s) with a single respondent" in w for w in rep.warnings)
    assert asymtrust.validate(nested, "fig1", cluster="nope").errors == ["cluster column 'nope' is not in the data"]
    one = asymtrust.validate(nested.assign(partnership=1), "fig1", cluster="partnership")
    assert any("at least two" in e for e in one.errors)


def test_validate_icc_range_is_the_anova_icc(nested):
    from asymtrust.survey.validation import anova_icc

    codes, _ = pd.factorize(nested["partnership"])
    got = anova_icc(nested[["cap1"]].to_numpy(float), codes)[0]
    lav = asymtrust.icc(nested, "partnership", columns=["cap1"])["icc"].iloc[0]
    assert got == pytest.approx(lav, abs=0.01)  # the ANOVA and ML estimates are close, not equal


def test_reliability_with_cluster_gives_the_multilevel_omegas(nested):
    ref = _ref("bcf_tl_cfa")
    rel = asymtrust.reliability(nested, RCFA, cluster="partnership")
    for ours, (block, theirs) in {"omega_w": ("config", "omega_W"), "omega_2l": ("config", "omega_2L"),
                                  "omega_b": ("shared", "omega_B"), "irr": ("shared", "IRR")}.items():
        for lv in ("CapImb", "PowDist", "GoodTrust"):
            assert rel.loc[lv, ours] == pytest.approx(ref[block][theirs][lv], abs=TOL_INDEX), (ours, lv)
    tl = rel.attrs["twolevel_fit"]
    assert tl.fit_indices["chisq"] == pytest.approx(ref["fit"]["chisq"], rel=TOL_CHISQ)
    with pytest.raises(ValidationError, match="cluster column 'nope' is not in the data"):
        asymtrust.reliability(nested, RCFA, cluster="nope")


# ----------------------------------------------------------------------------- CLI and report
def test_cli_cluster_options(capsys):
    from asymtrust.cli import main

    assert main(["validate", "bcf_nested", "--spec", "fig1", "--cluster", "partnership"]) == 0
    out = capsys.readouterr().out
    assert "60 clusters of 8..24 respondents" in out and "ICC(1) of the items" in out
    assert main(["fit", "bcf_nested", "--spec", "fig1_twolevel", "--cluster", "partnership", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ref = _ref("bcf_tl_sem")
    assert doc["fit_indices"]["chisq"] == pytest.approx(ref["fit"]["chisq"], rel=TOL_CHISQ)
    assert main(["validate", "bcf_nested", "--spec", "fig1", "--cluster", "nope"]) == 2
    assert "cluster column 'nope' is not in the data" in capsys.readouterr().err


def test_report_refuses_a_twolevel_spec_without_cluster_or_with_ordered_items(tmp_path):
    from asymtrust.reporting.build import report

    with pytest.raises(OptionError, match="two-level model .*--cluster COL"):
        report("bcf_nested", spec="fig1_twolevel", out=tmp_path / "a", bootstrap=0, quiet=True)
    with pytest.raises(OptionError, match="ordered items .* with --cluster are not supported"):
        report("bcf_nested", spec="fig1_twolevel", out=tmp_path / "b", bootstrap=0, quiet=True,
               cluster="partnership", ordered=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_report_fits_a_twolevel_spec_by_mlr(tmp_path):
    """Two-level MLR (lavaan 0.6-14's robust two-level ML) in the report: the SEM's scaled test
    is lavaan's (``nested/bcf_tl_sem_mlr.json``), and the report says it used MLR."""
    from asymtrust.reporting.build import report

    dest = report("bcf_nested", spec="fig1_twolevel", out=tmp_path / "rep", bootstrap=0, seed=1, quiet=True,
                  cluster="partnership", estimator="MLR")
    fit = json.loads((dest / "fit_indices.json").read_text())
    ref = _ref("bcf_tl_sem_mlr")
    assert fit["estimator"] == "MLR"
    assert fit["sem"]["chisq_scaled"] == pytest.approx(ref["fit"]["chisq.scaled"], rel=TOL_CHISQ)
    md = (dest / "report.md").read_text()
    assert "with MLR" in md
    # the multilevel section's fit table carries the scaled test; the misfit section has each row's level
    sec = md.split("*Two-level model fit (MLR)*", 1)[1].split("*Note.*", 1)[0]
    assert f"| scaled \u03c7\u00b2 (Yuan\u2013Bentler) | {ref['fit']['chisq.scaled']:.2f} |" in sec
    misfit = md.split("## Where the model misfits", 1)[1].split("\n## ", 1)[0]
    assert "| Parameter | Level | MI |" in misfit and "| Item pair | Level |" in misfit
    assert "| within |" in misfit and "| between |" in misfit


def test_report_with_cluster_has_the_multilevel_section(tmp_path):
    """The report of the two-level Fig. 1 (rendered to PNG and looked at for issue 16)."""
    from asymtrust.reporting.build import report

    dest = report("bcf_nested", spec="fig1_twolevel", out=tmp_path / "rep", bootstrap=0, seed=1, quiet=True,
                  cluster="partnership")
    md = (dest / "report.md").read_text()
    sec = md.split("## Nested data: partnerships", 1)[1].split("\n## ", 1)[0]
    assert "60 clusters of 8\u201324 respondents" in sec
    assert "*Intraclass correlations and design effects*" in sec and "| cap1 |" in sec
    assert "*Two-level model fit (ML)*" in sec and "SRMR (between)" in sec
    assert "| between | GoodTrust \u2190 PowDist |" in sec
    assert "*Multilevel reliability*" in sec and "| GoodTrust |" in sec
    ref = _ref("bcf_tl_sem")
    assert f"| \u03c7\u00b2 | {ref['fit']['chisq']:.2f} |" in sec
    assert "| Level | Outcome | Predictor |" in md  # the paths table says which level
    html = (dest / "report.html").read_text()
    assert 'id="sec-multilevel"' in html
