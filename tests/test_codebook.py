"""The instrument codebook: structure per docs/contracts.md, renderings, errors."""
from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from asymtrust.library.codebook import (
    CODEBOOK_COLUMNS,
    codebook_csv,
    codebook_markdown,
    codebook_text,
    item_codes,
    load_codebook,
    render_codebook,
    reverse_items,
    scale_range,
    sector_levels,
)
from asymtrust.exceptions import OptionError, SurveyReadError, ValidationError

# docs/contracts.md, "Construct and item codes"
CONTRACT = {
    "RoleAmb": ["rol1", "rol2", "rol3"],
    "InfoAsym": ["inf1", "inf2", "inf3"],
    "CapImb": ["cap1", "cap2", "cap3"],
    "PowDist": ["pow1", "pow2", "pow3"],
    "CultDiff": ["cul1", "cul2", "cul3"],
    "CompTrust": ["ctr1", "ctr2", "ctr3", "ctr4"],
    "GoodTrust": ["gtr1", "gtr2", "gtr3", "gtr4"],
    "ServCons": ["svc1", "svc2", "svc3"],
    "PlanBudg": ["plb1", "plb2", "plb3"],
    "JointMgmt": ["jmp1", "jmp2", "jmp3"],
}
CONTRACT_REVERSE = ["rol3", "cul3", "ctr4", "gtr4", "jmp3"]
LABELS = ("1=Strongly disagree|2=Disagree|3=Somewhat disagree|4=Neither agree nor disagree|"
          "5=Somewhat agree|6=Agree|7=Strongly agree")


@pytest.fixture(scope="module")
def cb() -> pd.DataFrame:
    return load_codebook()


def test_columns_and_rows_follow_the_contract(cb):
    assert tuple(cb.columns) == CODEBOOK_COLUMNS
    items = cb[cb["kind"] == "item"]
    assert items.groupby("construct", sort=False)["item"].apply(list).to_dict() == CONTRACT
    assert item_codes(cb) == [i for v in CONTRACT.values() for i in v]
    assert cb.loc[cb["kind"] == "respondent", "item"].tolist() == ["resp_id", "sector", "partner_sector"]
    assert (items["scale_min"] == 1).all() and (items["scale_max"] == 7).all()
    assert (items["scale_labels"] == LABELS).all()
    assert cb["item"].is_unique


def test_reverse_keyed_items(cb):
    assert reverse_items(cb) == CONTRACT_REVERSE
    assert set(cb.loc[cb["reverse"] == 1, "item"]) == set(CONTRACT_REVERSE)


def test_respondent_fields(cb):
    assert sector_levels(cb) == ["nhs", "council", "voluntary"]
    assert sector_levels(cb, "partner_sector") == ["nhs", "council", "voluntary"]
    assert cb.loc[cb["item"] == "resp_id", "scale_labels"].item() == ""
    assert cb.loc[cb["kind"] == "respondent", "scale_min"].isna().all()
    with pytest.raises(ValidationError, match="respondent field 'age' is not in the codebook"):
        sector_levels(cb, "age")


def test_wording_and_sources(cb):
    items = cb[cb["kind"] == "item"]
    assert items["wording"].is_unique
    assert items["wording"].str.len().between(30, 160).all()
    assert items["source"].str.startswith("adapted from ").all()
    # each construct cites a scale named for it in the design note
    expected = {"RoleAmb": "Rizzo, House & Lirtzman (1970)", "CompTrust": "Mayer & Davis (1999)",
                "GoodTrust": "Mayer & Davis (1999)", "PowDist": "Dorfman & Howell (1988)",
                "CapImb": "Partnership Self-Assessment Tool", "CultDiff": "Oreg (2003)",
                "PlanBudg": "Interagency Collaboration Activities Scale", "ServCons": "Rainbow Model"}
    for construct, cite in expected.items():
        assert items.loc[items["construct"] == construct, "source"].str.contains(cite, regex=False).any()
    # every item speaks about the partner organisation rated
    assert items["wording"].str.contains("partner").all()


def test_scale_range(cb):
    assert scale_range(cb, "rol1") == (1, 7)
    with pytest.raises(ValidationError, match="item 'sector' is not a Likert item"):
        scale_range(cb, "sector")
    with pytest.raises(ValidationError, match="item 'zzz' is not a Likert item"):
        scale_range(cb, "zzz")


def test_markdown_questionnaire(cb):
    md = codebook_markdown(cb)
    items = cb[cb["kind"] == "item"]
    for n, row in enumerate(items.itertuples(index=False), start=1):
        mark = " (R)" if row.reverse else ""
        assert f"{n}. `{row.item}`{mark} {row.wording}" in md
    assert len(re.findall(r"^\d+\. `", md, flags=re.M)) == 32
    assert md.count("(R)") == len(CONTRACT_REVERSE) + 1  # plus the legend
    for construct in CONTRACT:
        assert f"(`{construct}`)" in md
    assert "4 = Neither agree nor disagree" in md
    for field in ("resp_id", "sector", "partner_sector"):
        assert f"`{field}`" in md
    assert md.index("About you") < md.index("## Ambiguity in roles")


def test_text_and_csv_renderings(cb):
    text = codebook_text(cb)
    for item in item_codes(cb):
        assert re.search(rf"^Q\d+ {item}( \(R\))?: ", text, flags=re.M)
    assert max(len(line) for line in text.splitlines()) <= 88
    back = pd.read_csv(io.StringIO(codebook_csv(cb)), dtype=str, keep_default_na=False)
    assert back["item"].tolist() == cb["item"].tolist()
    assert back["wording"].tolist() == cb["wording"].tolist()
    assert back["scale_min"].tolist() == ["" if pd.isna(v) else str(v) for v in cb["scale_min"]]
    assert render_codebook(cb, "md") == codebook_markdown(cb)
    assert render_codebook(format="csv") == codebook_csv(cb)
    assert render_codebook(cb, "text") == text
    with pytest.raises(OptionError, match="codebook format must be one of md, csv, text, got 'pdf'"):
        render_codebook(cb, "pdf")


def test_loaded_copy_is_independent():
    a = load_codebook()
    a.loc[0, "wording"] = "changed"
    assert load_codebook().loc[0, "wording"] != "changed"


def test_load_from_path_and_errors(tmp_path, cb):
    good = tmp_path / "cb.csv"
    good.write_text(codebook_csv(cb), encoding="utf-8")
    pd.testing.assert_frame_equal(load_codebook(good), cb)
    with pytest.raises(SurveyReadError, match="does not exist"):
        load_codebook(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("item,construct\nrol1,RoleAmb\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="lacks the column\\(s\\) construct_label, wording"):
        load_codebook(bad)
    rows = codebook_csv(cb).splitlines()
    rows[5] = rows[5].replace(",1,7,", ",7,1,")
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"line 6 \('rol2'\): scale_min 7 is not below scale_max 1"):
        load_codebook(bad)
    rows = codebook_csv(cb).splitlines()
    rows[6] = rows[6].replace(",item", ",question")
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"line 7 \('rol3'\): 'kind' must be item or respondent") as info:
        load_codebook(bad)
    assert info.value.problems and len(info.value.problems) >= 1
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(SurveyReadError, match="cannot be read"):
        load_codebook(binary)
