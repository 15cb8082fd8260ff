"""Bundled datasets and their registry.

The reference datasets are compared with lavaan's own copies: tests/reference/datasets/datasets.R
describes lavaan::HolzingerSwineford1939 and lavaan::PoliticalDemocracy (lavaan 0.6.14) in
datasets.json.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asymtrust import list_datasets, load_dataset
from asymtrust._paths import datasets_dir
from asymtrust.survey.datasets import dataset_path
from asymtrust.exceptions import DataError

REGISTRY_COLUMNS = ["name", "title", "kind", "n_rows", "source", "licence", "citation", "file", "description"]

# CSV copies store 7-8 significant digits (R's write.csv default is 15; the shipped copy was
# rounded), so means/SDs agree with lavaan's in-memory data to about 1e-7 relative.
RTOL_MOMENTS = 1e-6


@pytest.fixture(scope="module")
def ref(load_reference):
    return load_reference("datasets/datasets.json")


def test_registry_lists_three_datasets_with_provenance():
    reg = list_datasets()
    assert list(reg.columns[: len(REGISTRY_COLUMNS)]) == REGISTRY_COLUMNS
    # bcf_nested: staff nested in partnerships (issue 16, scripts/make_bcf_nested.py)
    assert sorted(reg["name"]) == ["bcf_dyads", "bcf_nested", "bcf_synthetic", "heywood_demo", "hs1939", "poldem"]
    assert set(reg["kind"]) <= {"synthetic", "reference"}
    for col in ("title", "source", "licence", "citation", "file", "description"):
        assert (reg[col].str.len() > 0).all(), col
    syn = reg.set_index("name").loc["bcf_synthetic"]
    assert syn["kind"] == "synthetic"
    assert "SYNTHETIC" in syn["title"]
    assert syn["file"] == "bcf_synthetic.csv"
    hs = reg.set_index("name").loc["hs1939"]
    assert "lavaan 0.6.14" in hs["source"] and "GPL" in hs["licence"] and "public domain" in hs["licence"]
    assert "Holzinger" in hs["citation"] and "1939" in hs["citation"]
    assert "Bollen" in reg.set_index("name").loc["poldem", "citation"]


@pytest.mark.parametrize("name, rname", [("hs1939", "hs1939"), ("poldem", "poldem")])
def test_reference_datasets_match_lavaan(name, rname, ref):
    r = ref["datasets"][rname]
    df = load_dataset(name)
    assert df.shape == (r["nrow"], r["ncol"])
    assert list(df.columns) == r["names"]
    for col in r["numeric"]:
        assert pd.api.types.is_numeric_dtype(df[col]), col
        np.testing.assert_allclose(df[col].mean(), r["col_means"][col], rtol=RTOL_MOMENTS, err_msg=col)
        np.testing.assert_allclose(df[col].std(), r["col_sds"][col], rtol=RTOL_MOMENTS, err_msg=col)
    assert df.isna().sum().to_dict() == r["na_count"]
    assert int(df.notna().all(axis=1).sum()) == r["complete_rows"]
    assert df.attrs["dataset"] == name
    assert df.attrs["synthetic"] is False


def test_shapes_and_registry_row_counts():
    assert load_dataset("hs1939").shape == (301, 15)
    assert load_dataset("poldem").shape == (75, 11)
    reg = list_datasets().set_index("name")
    assert reg.loc["hs1939", "n_rows"] == 301
    assert reg.loc["poldem", "n_rows"] == 75


def test_hs1939_text_column_uses_pandas_default_strings():
    hs = load_dataset("hs1939")
    assert pd.api.types.is_string_dtype(hs["school"])
    assert sorted(hs["school"].unique()) == ["Grant-White", "Pasteur"]
    assert pd.api.types.is_integer_dtype(hs["sex"])


@pytest.mark.parametrize(
    "alias, name",
    [
        ("HolzingerSwineford1939", "hs1939"),
        ("holzingerswineford1939", "hs1939"),
        ("PoliticalDemocracy", "poldem"),
        (" POLDEM ", "poldem"),
    ],
)
def test_aliases(alias, name):
    assert load_dataset(alias).attrs["dataset"] == name
    assert dataset_path(alias) == datasets_dir() / f"{name}.csv"


def test_unknown_dataset_lists_names():
    with pytest.raises(DataError, match=r"unknown dataset 'nope'.*bcf_synthetic, hs1939, poldem"):
        load_dataset("nope")
    with pytest.raises(DataError):
        load_dataset("")


def test_bcf_synthetic_is_flagged_and_matches_registry():
    df = load_dataset("bcf_synthetic")
    assert df.attrs["synthetic"] is True
    assert df.attrs["dataset"] == "bcf_synthetic"
    assert "SYNTHETIC" in df.attrs["title"]
    reg = list_datasets().set_index("name")
    assert len(df) == reg.loc["bcf_synthetic", "n_rows"]
    from asymtrust.library.codebook import item_codes, load_codebook

    items = item_codes(load_codebook())
    assert set(items) <= set(df.columns)
    for col in items:  # codes stay numeric
        assert pd.api.types.is_numeric_dtype(df[col]), col


def test_every_registered_file_exists():
    for _, row in list_datasets().iterrows():
        assert (datasets_dir() / row["file"]).is_file(), row["file"]
