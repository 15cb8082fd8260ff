"""simulate(): population algebra checked against lavaan, data properties, recovery by lavaan.

References (tests/reference/specs/, regenerate with make_inputs.py then specs_lavaan.R):
- population__<spec>__<group>.lav: population_syntax() output fed to lavaan(do.fit = FALSE);
- specs_lavaan.json: lavaan's implied latent moments for those, and lavaan's sem() fit of
  fig1 to datasets/bcf_synthetic.csv (pooled and by sector).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asymtrust._paths import datasets_dir
from asymtrust.library.codebook import item_codes, load_codebook, reverse_items
from asymtrust.exceptions import OptionError, SpecError
from asymtrust.survey.simulate import population_model, population_moments, population_syntax, simulate
from asymtrust.library.specs import load_spec

REF_DIR = Path(__file__).parent / "reference" / "specs"
REF = json.loads((REF_DIR / "specs_lavaan.json").read_text())
sys.path.insert(0, str(REF_DIR))
from make_inputs import CASES, case_file  # noqa: E402

GROUPS = {"nhs": 0.4, "council": 0.35, "voluntary": 0.25}


def _recode(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for item in reverse_items(load_codebook()):
        if item in out:
            out[item] = 8 - out[item]
    return out


def _composite(df: pd.DataFrame, spec, latent: str) -> np.ndarray:
    return df[spec.constructs[latent]].to_numpy(dtype=float).mean(axis=1)


# ------------------------------------------------------------------ population algebra vs lavaan
@pytest.mark.parametrize(("spec", "group"), CASES, ids=[f"{s}-{g or 'base'}" for s, g in CASES])
def test_population_syntax_is_the_committed_lavaan_input(spec, group):
    assert population_syntax(spec, group) == case_file(spec, group).read_text(encoding="utf-8")


@pytest.mark.parametrize(("spec", "group"), CASES, ids=[f"{s}-{g or 'base'}" for s, g in CASES])
def test_population_moments_match_lavaan(spec, group):
    ref = REF["population"][case_file(spec, group).stem]
    cov = population_moments(spec, group, covariance=True)
    assert list(cov.index) == ref["latents"]
    np.testing.assert_allclose(cov.to_numpy(), np.array(ref["cov_lv"]), rtol=0, atol=1e-10)
    np.testing.assert_allclose(population_model(spec, group).mean, ref["mean_lv"], rtol=0, atol=1e-10)
    # the latent-response items are standardized in lavaan's implied covariance
    np.testing.assert_allclose(ref["ov_var"], 1.0, atol=1e-10)
    # correlations = lavaan's cov2cor
    sd = np.sqrt(np.diag(ref["cov_lv"]))
    np.testing.assert_allclose(population_moments(spec, group).to_numpy(),
                               np.array(ref["cov_lv"]) / np.outer(sd, sd), atol=1e-10)


def test_group_overrides_change_only_the_named_path():
    base, council = population_model("fig1"), population_model("fig1", "council")
    spec = load_spec("fig1")
    i, j = base.latents.index("GoodTrust"), base.latents.index("CapImb")
    diff = np.argwhere(~np.isclose(base.beta, council.beta))
    assert diff.tolist() == [[i, j]]
    assert council.beta[i, j] == spec.population["groups"]["council"]["paths"]["GoodTrust"]["CapImb"]
    nhs = population_moments("fig1", "nhs")
    cou = population_moments("fig1", "council")
    assert cou.loc["CapImb", "GoodTrust"] < nhs.loc["CapImb", "GoodTrust"] - 0.25


def test_population_errors(tmp_path):
    bare = load_spec(Path(load_spec("fig1").source).with_suffix(".lav"))
    with pytest.raises(SpecError, match="has no \\[population\\] values"):
        simulate(bare, 10, seed=1)
    with pytest.raises(OptionError, match="group 'private' is not a sector"):
        population_moments("fig1", "private")
    (tmp_path / "m.lav").write_text("F =~ a + b + c\nG =~ d + e + f\nG ~ F\n")
    toml = ('name = "m"\ntitle = "M"\nkind = "theory"\nsyntax_file = "m.lav"\n'
            "[population.loadings]\na = 0.7\nb = 0.7\nc = 0.7\nd = 0.7\ne = 0.7\nf = 0.7\n"
            "[population.thresholds]\ndefault = [-1.5, -1.0, -0.5, 0.5, 1.0, 1.5]\n")
    (tmp_path / "m.toml").write_text(toml)
    with pytest.raises(SpecError, match=r"\[population.paths.G\] has no value for F"):
        population_model(tmp_path / "m.toml")
    (tmp_path / "m.toml").write_text(toml + "[population.paths.G]\nF = 0.9\n"
                                     "[population.groups.council.paths.G]\nF = -0.999\n")
    assert population_model(tmp_path / "m.toml").psi[1, 1] == pytest.approx(1 - 0.81)
    (tmp_path / "m.toml").write_text(toml.replace("[-1.5, -1.0, -0.5, 0.5, 1.0, 1.5]", "[0.0]")
                                     + "[population.paths.G]\nF = 0.5\n")
    with pytest.raises(SpecError, match="item a needs 6 thresholds"):
        simulate(tmp_path / "m.toml", 10, seed=1)


def test_population_rejects_r2_above_one(tmp_path):
    (tmp_path / "m.lav").write_text("A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nY =~ y1 + y2 + y3\nY ~ A + B\n")
    loads = "".join(f"{v}{k} = 0.7\n" for v in "aby" for k in "123")
    (tmp_path / "m.toml").write_text(
        'name = "m"\ntitle = "M"\nkind = "theory"\nsyntax_file = "m.lav"\n[population.loadings]\n' + loads
        + "[population.paths.Y]\nA = 0.8\nB = 0.8\n[population.correlations.A]\nB = 0.5\n"
        "[population.thresholds]\ndefault = [-1.5, -1.0, -0.5, 0.5, 1.0, 1.5]\n")
    with pytest.raises(SpecError, match="explain all the variance of Y"):
        population_model(tmp_path / "m.toml")


# ------------------------------------------------------------------ simulated data
def test_columns_types_and_codes():
    df = simulate("fig1", 200, seed=11, groups=GROUPS)
    items = item_codes(load_codebook())
    assert list(df.columns) == ["resp_id", "sector", "partner_sector", *items]
    assert df["resp_id"].tolist() == list(range(1, 201))
    assert all(df[i].dtype == np.int64 for i in items)
    values = df[items].to_numpy()
    assert values.min() >= 1 and values.max() <= 7
    assert set(df["sector"]) == set(GROUPS)
    assert (df["sector"] != df["partner_sector"]).all()
    assert set(df["partner_sector"]) <= set(GROUPS)
    assert df.attrs["synthetic"] is True and df.attrs["spec"] == "fig1" and df.attrs["seed"] == 11


def test_group_sizes_are_allocated_exactly():
    df = simulate("fig1", 600, seed=3, groups=GROUPS)
    assert df["sector"].value_counts().to_dict() == {"nhs": 240, "council": 210, "voluntary": 150}
    df = simulate("fig1", 7, seed=3, groups=["council", "nhs"])
    assert sorted(df["sector"].value_counts().tolist()) == [3, 4]
    df = simulate("fig1", 30, seed=3)
    assert set(df["sector"]) == {"nhs", "council", "voluntary"}
    assert df.attrs["groups"] is None


def test_same_seed_same_frame_different_seed_different_frame():
    a = simulate("fig1_moderated", 150, seed=42, missing=0.05, groups=GROUPS)
    b = simulate("fig1_moderated", 150, seed=42, missing=0.05, groups=GROUPS)
    pd.testing.assert_frame_equal(a, b)
    c = simulate("fig1_moderated", 150, seed=43, missing=0.05, groups=GROUPS)
    items = item_codes(load_codebook())
    assert not a[items].equals(c[items])
    assert not a["sector"].equals(c["sector"])


def test_specs_simulate_their_own_items():
    for name in ("fig1_cfa", "fig1_direct", "fig1_single_trust"):
        df = simulate(name, 20, seed=5)
        assert len(df.columns) == 3 + 32
    hp = simulate("hp2018", 20, seed=5, groups=["voluntary"])
    assert list(hp.columns[3:]) == [i for i in item_codes(load_codebook()) if i in load_spec("hp2018").items()]
    assert (hp["sector"] == "voluntary").all()
    mod = simulate("fig1_moderated", 20, seed=5)
    assert "cap1.pow1" not in mod.columns  # product indicators are built by the analysis, not simulated


def test_missingness_fraction_is_exact_and_mcar():
    df = simulate("fig1", 400, seed=9, missing=0.1)
    items = item_codes(load_codebook())
    block = df[items]
    assert all(block[i].dtype == np.float64 for i in items)
    assert int(block.isna().to_numpy().sum()) == round(0.1 * 400 * 32)
    assert df[["resp_id", "sector", "partner_sector"]].notna().all().all()
    # MCAR: every item loses a similar share (binomial sd ~ 0.015 at n = 400)
    shares = block.isna().mean()
    assert shares.min() > 0.03 and shares.max() < 0.17
    observed = block.to_numpy()[~np.isnan(block.to_numpy())]
    assert set(np.unique(observed)) <= set(range(1, 8))


def test_reverse_keyed_items_are_stored_as_answered():
    spec = load_spec("fig1")
    df = simulate(spec, 3000, seed=21)
    rev = reverse_items(load_codebook())
    assert rev == ["rol3", "cul3", "ctr4", "gtr4", "jmp3"]
    for item in rev:
        (latent,) = [lv for lv, inds in spec.constructs.items() if item in inds]
        others = [i for i in spec.constructs[latent] if i != item]
        raw = df[[item, *others]].corr().loc[item, others]
        assert (raw < -0.3).all(), (item, raw.to_dict())
        recoded = _recode(df)[[item, *others]].corr().loc[item, others]
        assert (recoded > 0.3).all(), (item, recoded.to_dict())


def test_sector_overrides_show_in_composites():
    spec = load_spec("fig1")
    df = _recode(simulate(spec, 9000, seed=5, groups={"nhs": 0.5, "council": 0.5}))
    r = {}
    for g in ("nhs", "council"):
        sub = df[df["sector"] == g]
        r[g] = np.corrcoef(_composite(sub, spec, "CapImb"), _composite(sub, spec, "GoodTrust"))[0, 1]
    pop = {g: population_moments(spec, g).loc["CapImb", "GoodTrust"] for g in ("nhs", "council")}
    assert r["council"] < r["nhs"] - 0.15 < 0
    # composites attenuate the latent correlation but keep its sign and order
    for g in r:
        assert pop[g] < r[g] < 0.6 * pop[g]


def test_latent_interaction_is_negative_in_moderated_data():
    spec = load_spec("fig1_moderated")
    df = _recode(simulate(spec, 20000, seed=8))
    cap = _composite(df, spec, "CapImb")
    pw = _composite(df, spec, "PowDist")
    gt = _composite(df, spec, "GoodTrust")
    cap, pw = cap - cap.mean(), pw - pw.mean()
    x = np.column_stack([np.ones_like(cap), cap, pw, cap * pw])
    coef, *_ = np.linalg.lstsq(x, gt, rcond=None)
    assert coef[1] < 0 and coef[2] < 0 and coef[3] < 0
    plain = _recode(simulate("fig1", 20000, seed=8))
    cap0 = _composite(plain, spec, "CapImb") - _composite(plain, spec, "CapImb").mean()
    pw0 = _composite(plain, spec, "PowDist") - _composite(plain, spec, "PowDist").mean()
    coef0, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(cap0), cap0, pw0, cap0 * pw0]),
                                _composite(plain, spec, "GoodTrust"), rcond=None)
    assert coef[3] < coef0[3] - 0.02


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n": 1}, "n must be an integer >= 2, got 1"),
        ({"n": 10.5}, "n must be an integer >= 2"),
        ({"n": True}, "n must be an integer >= 2"),
        ({"missing": 1.0}, r"missing must be a fraction in \[0, 1\), got 1.0"),
        ({"missing": -0.1}, "missing must be a fraction"),
        ({"seed": "abc"}, "seed must be a non-negative integer"),
        ({"groups": ["nhs", "private"]}, "unknown group\\(s\\) 'private'; allowed: nhs, council, voluntary"),
        ({"groups": {"nhs": 0.5, "council": 0.6}}, "group proportions must sum to 1, got 1.1"),
        ({"groups": {"nhs": 1.2, "council": -0.2}}, "group proportions must be positive"),
        ({"groups": ["nhs", "nhs"]}, "named twice"),
        ({"groups": []}, "at least one sector"),
        ({"groups": 3}, "groups must be None"),
    ],
    ids=lambda v: str(v)[:30] if isinstance(v, dict) else None,
)
def test_argument_validation(kwargs, pattern):
    args = {"n": 10, "seed": 1} | kwargs
    n = args.pop("n")
    with pytest.raises(OptionError, match=pattern):
        simulate("fig1", n, **args)


# ------------------------------------------------------------------ the bundled dataset
def test_bundled_dataset_is_current_and_matches_the_r_reference():
    csv = datasets_dir() / "bcf_synthetic.csv"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import make_bcf_synthetic as mk

    df = mk.make_frame()
    assert csv.read_text(encoding="utf-8") == mk.csv_text(df)
    assert (datasets_dir() / "bcf_synthetic.md").read_text(encoding="utf-8") == mk.note_text(df, mk.csv_text(df))
    assert "SYNTHETIC" in (datasets_dir() / "bcf_synthetic.md").read_text(encoding="utf-8")
    assert hashlib.md5(csv.read_bytes()).hexdigest() == REF["data_md5"]
    assert len(df) == 600 and df.notna().all().all()


def _recovery_table(key: str) -> pd.DataFrame:
    rec = REF["recovery"][key]
    return pd.DataFrame({k: rec[k] for k in ("lhs", "op", "rhs", "group", "est_std", "se")})


def test_lavaan_recovers_population_values_from_bundled_data():
    """lavaan's std.all estimates on bcf_synthetic lie near the population values.

    Tolerance: 3 standard errors plus 0.05 for the attenuation by the 7-point cut
    (Pearson correlations of Likert codes understate the latent-response correlations).
    """
    spec = load_spec("fig1")
    tab = _recovery_table("pooled")
    assert REF["recovery"]["pooled"]["converged"] and REF["recovery"]["pooled"]["nobs"] == 600
    pop = spec.population
    for row in tab.itertuples():
        target = pop["loadings"][row.rhs] if row.op == "=~" else pop["paths"][row.lhs][row.rhs]
        if (row.lhs, row.rhs) == ("GoodTrust", "CapImb"):
            target = sum(GROUPS[g] * pop["groups"][g]["paths"]["GoodTrust"]["CapImb"] for g in GROUPS)
        assert abs(row.est_std - target) < 3 * row.se + 0.05, (row.lhs, row.op, row.rhs, row.est_std, target)
    assert len(tab) == 32 + 10


def test_lavaan_sees_the_sector_contrast_in_bundled_data():
    rec = REF["recovery"]["by_sector"]
    assert rec["converged"] and rec["group_labels"] == ["nhs", "council", "voluntary"]
    assert rec["nobs"] == [240, 210, 150]
    tab = _recovery_table("by_sector")
    cap = tab[(tab.lhs == "GoodTrust") & (tab.rhs == "CapImb")].set_index("group")
    labels = dict(enumerate(rec["group_labels"], start=1))
    est = {labels[g]: cap.loc[g, "est_std"] for g in cap.index}
    se = {labels[g]: cap.loc[g, "se"] for g in cap.index}
    groups = load_spec("fig1").population["groups"]
    for g in est:
        assert abs(est[g] - groups[g]["paths"]["GoodTrust"]["CapImb"]) < 3 * se[g] + 0.05
    z = (est["nhs"] - est["council"]) / np.hypot(se["nhs"], se["council"])
    assert z > 2.5
