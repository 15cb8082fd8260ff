"""The partnership and organisation IDs of the SYNTHETIC ``bcf_synthetic`` data (issue 16).

``scripts/make_bcf_synthetic.py`` appends ``partnership`` (30 partnerships: 8 NHS, 7 council
and 5 voluntary respondents each) and ``organisation`` (the sector's organisation in that
partnership) as the last two columns, dealt by a generator of their own, so every earlier
column is value-for-value what the simulation drew. The respondents are independent draws:
the population ICC by partnership is 0.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import asymtrust
from asymtrust._paths import datasets_dir
from asymtrust.library.codebook import SECTOR_LEVELS, cluster_fields, load_codebook
from asymtrust.survey.validation import anova_icc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_bcf_synthetic as mk  # noqa: E402

#: SHA-256 of datasets/bcf_synthetic.csv before the IDs were added (git HEAD 1c2bc39): the
#: 35 columns resp_id .. jmp3 as written by the generator, which the new file must keep.
OLD_COLUMNS_SHA256 = "cb2a4ab3f344cce09a1cd39e50f7ded18004d2e68aba299153cb462aa4019875"
PER_PARTNERSHIP = {"nhs": 8, "council": 7, "voluntary": 5}


@pytest.fixture(scope="module")
def bcf() -> pd.DataFrame:
    return asymtrust.load_dataset("bcf_synthetic")


def test_generator_reproduces_the_bundled_files(capsys):
    csv = (datasets_dir() / "bcf_synthetic.csv").read_bytes()
    assert mk.csv_text(mk.make_frame()).encode("utf-8") == csv
    assert mk.main(["--check"]) == 0  # the .csv and the .md, through the shared generate()
    assert "bcf_synthetic is current" in capsys.readouterr().out


def test_old_columns_are_unchanged(bcf):
    assert list(bcf.columns[-2:]) == ["partnership", "organisation"]
    old = bcf.drop(columns=["partnership", "organisation"])
    assert list(old.columns[:3]) == ["resp_id", "sector", "partner_sector"] and old.shape == (600, 35)
    assert hashlib.sha256(mk.csv_text(old).encode("utf-8")).hexdigest() == OLD_COLUMNS_SHA256
    # and the simulation itself still draws exactly those columns
    sim = asymtrust.simulate(mk.SPEC, mk.N, seed=mk.SEED, groups=mk.GROUPS)
    pd.testing.assert_frame_equal(sim, old, check_dtype=False)


def test_every_partnership_has_each_organisation_as_designed(bcf):
    assert sorted(bcf["partnership"].unique()) == list(range(1, 31))
    counts = pd.crosstab(bcf["partnership"], bcf["sector"])
    for sector, k in PER_PARTNERSHIP.items():
        assert (counts[sector] == k).all(), sector
    number = bcf["sector"].map({s: i + 1 for i, s in enumerate(SECTOR_LEVELS)})
    np.testing.assert_array_equal(bcf["organisation"], (bcf["partnership"] - 1) * 3 + number)
    orgs = bcf.groupby("organisation").agg(p=("partnership", "nunique"), s=("sector", "nunique"),
                                           n=("resp_id", "size"))
    assert len(orgs) == 90 and (orgs["p"] == 1).all() and (orgs["s"] == 1).all()
    assert bcf.groupby("partnership")["organisation"].nunique().eq(3).all()


def test_codebook_declares_the_id_columns(bcf):
    assert cluster_fields(load_codebook()) == ["partnership", "organisation"]
    res = asymtrust.validate(bcf, spec="fig1", cluster="partnership")
    assert res.ok and not res.errors
    assert not [i for i in res.issues if i.column in ("partnership", "organisation") and i.severity != "info"]
    sizes = [i.message for i in res.issues if i.check == "cluster_sizes"]
    assert len(sizes) == 1 and "30 clusters of 20..20 respondents" in sizes[0]


def test_icc_by_partnership_is_near_zero(bcf):
    """Population ICC 0. Under independence an item's one-way ANOVA F is F(29, 570); in this
    balanced design the ML ICC(1) of one item (lavaan's) is at most the ANOVA ICC(1)
    (F - 1) / (F + 19), so with probability >= 0.999 all 32 lie below (q - 1) / (q + 19),
    q the 1 - 0.001/32 quantile of F(29, 570): 0.070. ML keeps it >= 0."""
    items = [c for c in bcf.columns[3:] if c not in ("partnership", "organisation")]
    assert len(items) == 32
    q = stats.f.ppf(1 - 0.001 / 32, 29, 570)
    bound = (q - 1) / (q + 19)
    assert bound == pytest.approx(0.0699, abs=1e-4) and bound == pytest.approx(mk.icc_bound(30, 600))
    data = asymtrust.recode_reverse(bcf)
    one = np.array([asymtrust.icc(data, "partnership", columns=[i])["icc"].iloc[0] for i in items])
    assert (one >= 0).all() and (one < bound).all(), dict(zip(items, one.round(4)))
    # the ML ICC(1) of a balanced one-way design: the ANOVA ICC(1) with F x (J - 1)/J, truncated at
    # 0 (the EM stops within 0.002 of it near the boundary), hence at most max(0, ANOVA ICC(1))
    anova = anova_icc(data[items].to_numpy(float), data["partnership"].to_numpy() - 1)
    f = (1 + 19 * anova) / (1 - anova) * 29 / 30
    np.testing.assert_allclose(one, np.maximum(0.0, (f - 1) / (f + 19)), atol=2e-3)
    assert (one <= np.maximum(anova, 0) + 2e-3).all()
    assert one.mean() < 0.02  # E[ANOVA ICC] ~ 0 under independence; the ML mean is a little above
    out = asymtrust.icc(data, "partnership", columns=items)
    assert out.attrs["nclusters"] == 30 and out.attrs["average_cluster_size"] == 20.0
    assert (out["design_effect"] < 1 + 19 * bound).all()


def test_report_by_partnership_runs(tmp_path):
    dest = asymtrust.report("bcf_synthetic", spec="fig1", cluster="partnership", bootstrap=30, seed=5,
                            out=tmp_path / "rep", quiet=True)
    folder = Path(dest) if Path(dest).is_dir() else Path(dest).parent
    md = (folder / "report.md").read_text("utf-8")
    assert "bcf_synthetic (SYNTHETIC)" in md
    assert "cluster column partnership: 30 clusters of 20..20 respondents" in md
    assert "| Item | ICC(1) | Design effect |" in md
    # under --cluster the indirect effects are bootstrapped by whole partnerships, and the report says so
    assert "30 clusters of 20 respondents each" in md
    assert "Indirect effects are bootstrapped by whole clusters" in md
    assert "percentile bootstrap, 30 replicates of whole 'partnership' clusters, seed 5" in md
