"""``asymtrust report``: the folder it writes, every section, the numbers it shows
(checked against lavaan 0.6-14 and psych/semTools references in tests/reference/,
written by the R scripts stored there), and that it writes all or nothing."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asymtrust
from asymtrust.survey.datasets import dataset_path
from asymtrust.exceptions import OutputError, SpecError, ValidationError
from asymtrust.reporting.build import OUTPUT_FILES, report
from asymtrust.reporting.sections import SECTION_TITLES

DEFAULT_FIGURES = ("path_diagram", "conceptual", "reliability", "residuals", "indirect_effects", "power")
RENAME = {f"x{i}": n for i, n in enumerate(
    ["vis_a", "vis_b", "vis_c", "txt_a", "txt_b", "txt_c", "spd_a", "spd_b", "spd_c"], start=1)}
ABILITIES = """# an analyst's own model over their own columns (no codebook, no metadata)
Visual  =~ vis_a + vis_b + vis_c
Textual =~ txt_a + txt_b + txt_c
Speed   =~ spd_a + spd_b + spd_c
Textual ~ Visual
Speed   ~ Textual + Visual
"""
ABILITIES_NESTED = ABILITIES.replace("Speed   ~ Textual + Visual", "Speed   ~ Textual")


# ------------------------------------------------------------------ helpers
class _Page(HTMLParser):
    """Headings, image sources, element ids and the visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.imgs: list[dict] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.links: list[str] = []
        self._tag: list[str] = []
        self._buf = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a)
        for k in ("href", "src", "action"):
            if k in a and tag != "img":
                self.links.append(a[k])
        self._tag.append(tag)
        if tag == "h2":
            self._buf = ""

    def handle_endtag(self, tag):
        if tag == "h2":
            self.h2.append(" ".join(self._buf.split()))
        if self._tag:
            self._tag.pop()

    def handle_data(self, data):
        if self._tag and self._tag[-1] == "h2":
            self._buf += data
        if not self._tag or self._tag[-1] not in ("style", "script"):
            self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.visible = " ".join(" ".join(page.text).split())  # type: ignore[attr-defined]
    return page


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def run_cli(argv: list[str]) -> int:
    """The main CLI when `report`/`figure` are wired into it, else this package's parser."""
    from asymtrust import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    if "report" in sub.choices and "figure" in sub.choices:
        return cli.main(argv)
    from asymtrust.reporting.cli import _main

    return _main(argv)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def default_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("default") / "bcf"
    t0 = time.perf_counter()
    dest = report(out=out, bootstrap=50, seed=11, quiet=True, power={"n": [150, 400], "reps": 8})
    assert dest == out
    assert time.perf_counter() - t0 < 120
    return out


@pytest.fixture(scope="module")
def abilities(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("abilities")
    data = folder / "abilities.csv"
    asymtrust.load_dataset("hs1939").rename(columns=RENAME).to_csv(data, index=False)
    (folder / "abilities.lav").write_text(ABILITIES, encoding="utf-8")
    (folder / "abilities_nested.lav").write_text(ABILITIES_NESTED, encoding="utf-8")
    return {"folder": folder, "data": data, "spec": folder / "abilities.lav", "nested": folder / "abilities_nested.lav"}


@pytest.fixture(scope="module")
def custom_report(abilities) -> Path:
    out = abilities["folder"] / "report"
    report(abilities["data"], spec=abilities["spec"], out=out, group="school",
           compare=[str(abilities["nested"])], bootstrap=50, seed=5, quiet=True)
    return out


# ------------------------------------------------------------------ the default report
def test_default_report_writes_every_file(default_report):
    for name in OUTPUT_FILES:
        assert (default_report / name).is_file(), name
        assert (default_report / name).stat().st_size > 0, name
    for stem in DEFAULT_FIGURES:
        png = default_report / "figures" / f"{stem}.png"
        svg = default_report / "figures" / f"{stem}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert b"<svg" in svg.read_bytes()[:3000], stem
    assert list((default_report / "tables").glob("*.tex"))
    assert not leftovers(default_report.parent, default_report.name)


def test_default_report_has_every_section(default_report):
    page = parse(default_report / "report.html")
    expected = [f"{i}. {t}" for i, t in enumerate(SECTION_TITLES.values(), start=1)]
    assert page.h2 == expected
    for key in SECTION_TITLES:
        assert f"sec-{key}" in page.ids
    md = (default_report / "report.md").read_text(encoding="utf-8")
    for title in SECTION_TITLES.values():
        assert f"\n## {title}\n" in md


def test_default_report_synthetic_banner(default_report):
    page = parse(default_report / "report.html")
    assert "synthetic-banner" in page.ids
    assert "SYNTHETIC DATA" in page.visible
    assert "carry no empirical evidence" in page.visible
    md = (default_report / "report.md").read_text(encoding="utf-8")
    assert md.splitlines()[2].startswith("> **SYNTHETIC DATA.**")


def test_default_report_footer_hash_seed_and_command(default_report):
    sha = hashlib.sha256(dataset_path("bcf_synthetic").read_bytes()).hexdigest()
    page = parse(default_report / "report.html")
    assert sha in page.visible
    assert "seed 11" in page.visible
    assert "asymtrust.report(None, spec='fig1'" in page.visible
    for pkg in ("numpy", "scipy", "pandas", "matplotlib", "python"):
        assert f"Version: {pkg}" in page.visible
    assert sha in (default_report / "report.md").read_text(encoding="utf-8")


def test_default_report_html_is_self_contained(default_report):
    html = (default_report / "report.html").read_text(encoding="utf-8")
    page = parse(default_report / "report.html")
    assert "default-src 'none'" in html  # the browser refuses any request the page might make
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(" not in html
    assert all(link.startswith("#") for link in page.links)
    assert len(page.imgs) == len(DEFAULT_FIGURES)
    figures = {p.read_bytes() for p in (default_report / "figures").glob("*.png")}
    for img in page.imgs:
        assert img["src"].startswith("data:image/png;base64,")
        assert img.get("alt")
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert png in figures


def test_fit_indices_json_matches_lavaan(default_report, load_reference):
    doc = json.loads((default_report / "fit_indices.json").read_text(encoding="utf-8"))
    fm = load_reference("lavaan/fig1_bcf_ml.json")["fit_measures"]
    assert doc["spec"] == "fig1" and doc["estimator"] == "ML" and doc["nobs"] == [600]
    assert doc["sem"]["chisq"] == pytest.approx(fm["chisq"], rel=1e-4)
    assert doc["sem"]["df"] == fm["df"]
    for key in ("cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "srmr"):
        assert doc["sem"][key] == pytest.approx(fm[key], abs=1e-3), key
    assert doc["cutoffs"]["cfi"]["threshold"] == 0.95
    assert doc["cfa"]["df"] > doc["sem"]["df"] - 30  # the CFA is the measurement model, not the SEM
    assert doc["warnings"] == []


def test_estimates_csv_matches_lavaan(default_report, load_reference):
    est = pd.read_csv(default_report / "estimates.csv")
    assert list(est.columns[:6]) == ["lhs", "op", "rhs", "group", "label", "est"]
    ref = load_reference("lavaan/fig1_bcf_ml.json")["estimates"]
    rows = {(e["lhs"], e["op"], e["rhs"]): e for e in ref if e["op"] in ("=~", "~")}
    got = {(r.lhs, r.op, r.rhs): r for r in est.itertuples(index=False) if r.op in ("=~", "~")}
    assert set(got) == set(rows)
    for k, e in rows.items():
        assert got[k].est == pytest.approx(e["est"], abs=1e-3), k
        assert got[k].std_all == pytest.approx(e["std_all"], abs=1e-3), k


def test_reliability_csv_matches_psych_and_semtools(default_report, load_reference):
    rel = pd.read_csv(default_report / "reliability.csv", index_col="construct")
    ref = load_reference("reliability/bcf_fig1.json")["fig1"]
    for lv, a in ref["alpha"].items():
        assert rel.loc[lv, "alpha"] == pytest.approx(a["raw_alpha"], abs=1e-3)
    # flagged in the HTML exactly where the cut-off is missed
    page = (default_report / "report.html").read_text(encoding="utf-8")
    table = page[page.index('id="tab-reliability"'):]
    table = table[:table.index("</figure>")]
    flags = rel[["alpha_pass", "omega_pass", "cr_pass", "ave_pass", "htmt_pass", "fl_pass"]].astype("boolean")
    flags = flags.fillna(True).astype(bool)
    marked_values = int((~flags.drop(columns="fl_pass")).sum().sum())  # the value cells that miss a cut-off
    marked_rows = int((~flags).any(axis=1).sum())  # the "Misses cut-off" cells
    assert table.count(' fail"') == marked_values + marked_rows
    assert marked_values >= 1  # bcf_synthetic: CultDiff's AVE is below .50
    assert "HTMT2" in page


def test_effects_csv_matches_lavaan_defined_parameters(default_report, load_reference):
    eff = pd.read_csv(default_report / "effects.csv")
    assert {"effect", "path", "est", "se", "ci_lower", "ci_upper", "std_all", "method"} <= set(eff.columns)
    assert set(eff["method"]) == {"percentile", "bc"}
    assert (eff["n_boot"] + eff["n_boot_failed"] == 50).all()
    ref = load_reference("lavaan/fig1_bcf_indirect.json")
    defined = {e["lhs"]: e for e in ref["estimates"] if e["op"] == ":=" and e["rhs"].count("*") == 1}
    ind = eff[(eff["effect"] == "indirect") & (eff["method"] == "percentile")]
    checked = 0
    for r in ind.itertuples(index=False):
        e = defined.get(f"ind_{r.source}_{r.target}")
        if e is not None:
            assert r.est == pytest.approx(e["est"], abs=1e-3)
            assert r.se == pytest.approx(e["se"], abs=1e-3)
            assert r.ci_lower < r.est < r.ci_upper
            checked += 1
    assert checked == len(defined) == 5


def test_paths_section_shows_expected_signs_and_agreement(default_report, load_reference):
    ref = {(e["lhs"], e["rhs"]): e for e in load_reference("lavaan/fig1_bcf_ml.json")["estimates"] if e["op"] == "~"}
    spec = asymtrust.load_spec("fig1")
    from asymtrust.reporting.tables import path_agreement

    expected = [path_agreement(p.sign, ref[(p.lhs, p.rhs)]["std_all"], ref[(p.lhs, p.rhs)]["pvalue"])
                for p in spec.paths]
    page = (default_report / "report.html").read_text(encoding="utf-8")
    table = page[page.index('id="tab-paths"'):]
    table = table[:table.index("</figure>")]
    assert table.count(">supported<") == expected.count("supported")
    assert "Where each expected sign comes from" in page
    assert spec.paths[0].quote in page


def test_default_report_not_requested_sections_say_how(default_report, custom_report):
    page = parse(default_report / "report.html")
    assert "Run with --group COLUMN" in page.visible
    assert "Run with --compare SPEC" in page.visible
    assert "No estimation problems" in page.visible
    assert "Run with --power" in parse(custom_report / "report.html").visible


def test_default_report_power_section(default_report):
    page = parse(default_report / "report.html")
    assert "Power by sample size" in page.visible and "8 replicates per N" in page.visible
    assert "N = 150" in page.visible and "N = 400" in page.visible
    assert "Run with --power" not in page.visible


# ------------------------------------------------------------------ an analyst's own model
def test_lav_spec_on_custom_columns(custom_report, abilities):
    for name in OUTPUT_FILES:
        assert (custom_report / name).is_file(), name
    page = parse(custom_report / "report.html")
    assert [h.split(". ", 1)[1] for h in page.h2] == list(SECTION_TITLES.values())
    assert "synthetic-banner" not in page.ids
    text = page.visible
    assert "No codebook entry covers these items" in text
    assert "bare lavaan file without metadata" in text
    assert "not stated" in text
    assert hashlib.sha256(abilities["data"].read_bytes()).hexdigest() in text
    for stem in ("path_diagram", "conceptual", "reliability", "residuals", "indirect_effects", "invariance",
                 "group_paths"):
        assert (custom_report / "figures" / f"{stem}.png").is_file(), stem
    eff = pd.read_csv(custom_report / "effects.csv")
    assert "Visual -> Textual -> Speed" in set(eff["path"])


def test_custom_report_invariance_matches_lavaan_ladder(custom_report, load_reference):
    doc = json.loads((custom_report / "fit_indices.json").read_text(encoding="utf-8"))
    levels = {r["level"]: r for r in doc["invariance"]}
    for level in ("configural", "metric", "scalar", "strict"):
        fm = load_reference(f"lavaan/hs_mg_{level}.json")["fit_measures"]
        assert levels[level]["chisq"] == pytest.approx(fm["chisq"], rel=1e-4), level
        assert levels[level]["cfi"] == pytest.approx(fm["cfi"], abs=1e-3), level
    page = parse(custom_report / "report.html")
    assert "Measurement invariance" in page.visible
    assert "Structural paths per school" in page.visible
    assert "Equality of structural paths across groups" in page.visible
    groups = pd.read_csv(custom_report / "estimates_by_group.csv")
    assert set(groups["group_label"]) == {"Pasteur", "Grant-White"}


def test_custom_report_summary_reads_groups_and_comparison(custom_report):
    doc = json.loads((custom_report / "fit_indices.json").read_text(encoding="utf-8"))
    models = sorted(doc["comparison"]["models"], key=lambda m: m["aic"])
    page = parse(custom_report / "report.html")
    summary = page.visible[page.visible.index("1. Summary"):page.visible.index("2. Data and validation")]
    assert "Measurement invariance across school: holds up to the" in summary
    assert f"'{models[0]['name']}' has the lowest AIC" in summary
    assert "across school" in summary


def test_custom_report_model_comparison(custom_report):
    page = parse(custom_report / "report.html")
    assert "Model comparison" in page.visible and "Nested-model tests" in page.visible
    doc = json.loads((custom_report / "fit_indices.json").read_text(encoding="utf-8"))
    models = {m["name"]: m for m in doc["comparison"]["models"]}
    assert set(models) == {"abilities", "abilities_nested"}
    assert models["abilities_nested"]["df"] == models["abilities"]["df"] + 1
    test = doc["comparison"]["tests"][0]
    assert test["delta_df"] == 1
    assert test["delta_chisq"] == pytest.approx(models["abilities_nested"]["chisq"] - models["abilities"]["chisq"],
                                                rel=1e-6)


def test_heywood_case_is_shown_prominently(tmp_path):
    rng = np.random.default_rng(0)  # one factor with a near-perfect indicator: a1's residual variance < 0
    n = 80
    f = rng.normal(size=n)
    g = 0.6 * f + 0.8 * rng.normal(size=n)
    data = pd.DataFrame({"a1": 0.99 * f + 0.05 * rng.normal(size=n), "a2": 0.6 * f + 0.8 * rng.normal(size=n),
                         "a3": 0.5 * f + 0.9 * rng.normal(size=n), "b1": 0.7 * g + 0.7 * rng.normal(size=n),
                         "b2": 0.7 * g + 0.7 * rng.normal(size=n), "b3": 0.6 * g + 0.8 * rng.normal(size=n)})
    spec = tmp_path / "heywood.lav"
    spec.write_text("A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nB ~ A\n", encoding="utf-8")
    fit = asymtrust.fit(spec.read_text(encoding="utf-8"), data)
    heywood = [w for w in fit.warnings if "Heywood" in w]
    assert heywood and "a1" in heywood[0]
    out = tmp_path / "rep"
    report(data, spec=spec, out=out, bootstrap=0, seed=1, quiet=True)
    page = parse(out / "report.html")
    assert "warnings-banner" in page.ids
    html = (out / "report.html").read_text(encoding="utf-8")
    banner = html[html.index('id="warnings-banner"'):]
    banner = banner[:banner.index("</div>")]
    assert f"SEM: {heywood[0]}" in banner
    assert html.index('id="warnings-banner"') < html.index('id="sec-summary"')  # before any result
    doc = json.loads((out / "fit_indices.json").read_text(encoding="utf-8"))
    assert f"SEM: {heywood[0]}" in doc["warnings"]
    assert "No indirect effects" in page.visible  # a model without mediators says so, it is not an error


# ------------------------------------------------------------------ all or nothing
def test_existing_folder_is_refused_and_left_untouched(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious", encoding="utf-8")
    before = tree_digest(out)
    with pytest.raises(OutputError, match="already exists; use --force"):
        report(out=out, bootstrap=0, seed=1, quiet=True)
    assert tree_digest(out) == before
    # even with force, a folder that is not an earlier report is not replaced
    with pytest.raises(OutputError, match=r"holds files asymtrust did not write \(notes.txt\)"):
        report(out=out, bootstrap=0, seed=1, quiet=True, force=True)
    assert tree_digest(out) == before
    assert not leftovers(tmp_path, "mine")


def test_force_replaces_an_earlier_report(tmp_path, default_report):
    import shutil

    out = tmp_path / "again"
    shutil.copytree(default_report, out)
    # issue 12: a file asymtrust did not write is never removed, even with force
    (out / "stale.txt").write_text("from an earlier run", encoding="utf-8")
    with pytest.raises(OutputError, match=r"did not write \(stale.txt\)"):
        report(out=out, bootstrap=0, seed=2, quiet=True, force=True)
    assert (out / "stale.txt").read_text(encoding="utf-8") == "from an earlier run"
    (out / "stale.txt").unlink()
    report(out=out, bootstrap=0, seed=2, quiet=True, force=True)
    assert "seed 2" in parse(out / "report.html").visible
    eff = pd.read_csv(out / "effects.csv")
    assert set(eff["method"]) == {"delta"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no temporary or old folder left


def test_unusable_output_locations(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="not a folder"):
        report(out=afile, bootstrap=0, quiet=True)
    with pytest.raises(OutputError, match=re.escape(str(tmp_path / "missing"))):
        report(out=tmp_path / "missing" / "rep", bootstrap=0, quiet=True)
    assert afile.read_text(encoding="utf-8") == "x"


def test_output_folder_holding_the_data_is_refused(tmp_path, abilities):
    import shutil

    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.html").write_text("old", encoding="utf-8")
    data = out / "abilities.csv"
    shutil.copyfile(abilities["data"], data)
    with pytest.raises(OutputError, match="contains an input of this command"):
        report(data, spec=abilities["spec"], out=out, bootstrap=0, quiet=True, force=True)
    assert data.read_bytes() == abilities["data"].read_bytes()


def test_failed_validation_writes_nothing(tmp_path):
    bad = asymtrust.load_dataset("bcf_synthetic").drop(columns=["svc2"])
    bad["rol1"] = bad["rol1"].astype(object)
    bad.loc[:9, "rol1"] = "Strongly agree"
    bad["cap2"] = 4
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    out = tmp_path / "rep"
    with pytest.raises(ValidationError) as info:
        report(path, out=out, bootstrap=0, quiet=True)
    problems = info.value.problems
    assert len(problems) >= 3
    assert any("svc2" in p for p in problems)
    assert any("rol1" in p for p in problems)
    assert any("cap2" in p for p in problems)
    assert "\n" not in str(info.value)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_bad_options_are_refused_before_anything_is_written(tmp_path):
    from asymtrust.exceptions import GroupError, OptionError

    out = tmp_path / "rep"
    with pytest.raises(SpecError, match="no_such_spec"):
        report(out=out, spec="no_such_spec", quiet=True)
    with pytest.raises(GroupError, match="'region'"):
        report(out=out, group="region", bootstrap=0, quiet=True)
    with pytest.raises(OptionError, match="bootstrap"):
        report(out=out, bootstrap=-5, quiet=True)
    with pytest.raises(OptionError, match="estimator"):
        report(out=out, estimator="WLS", quiet=True)
    assert not out.exists()


# ------------------------------------------------------------------ command line
def test_cli_validation_failure_one_line_per_problem(tmp_path, capsys):
    bad = asymtrust.load_dataset("bcf_synthetic").drop(columns=["svc2", "jmp1"])
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "rep"
    code = run_cli(["report", str(path), "--out", str(out), "--quiet", "--bootstrap", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert all(line.startswith("asymtrust: error: ") for line in err)
    assert any("svc2" in line and "jmp1" in line for line in err)
    assert "Traceback" not in "\n".join(err)
    assert not out.exists()


def test_cli_existing_output_exits_2(tmp_path, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    code = run_cli(["report", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--force" in err[0]


def test_cli_figure_fig1(tmp_path, capsys):
    out = tmp_path / "fig1.png"
    assert run_cli(["figure", "fig1", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert run_cli(["figure", "fig1", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    svg = tmp_path / "fig1.svg"
    assert run_cli(["figure", "fig1", "--out", str(svg), "--spec", "fig1_moderated"]) == 0
    assert b"<svg" in svg.read_bytes()[:3000]
    assert run_cli(["figure", "fig1", "--out", str(tmp_path / "fig1.gif")]) == 2


@pytest.mark.slow
def test_cli_default_report_under_a_minute(tmp_path, capsys):
    """The README's command: `asymtrust report` with 1000 bootstrap replicates, under a minute."""
    out = tmp_path / "asymtrust-report"
    t0 = time.perf_counter()
    code = run_cli(["report", "--out", str(out), "--quiet", "--seed", "1"])
    elapsed = time.perf_counter() - t0
    assert code == 0
    assert capsys.readouterr().out.strip() == f"wrote {out / 'report.html'}"
    eff = pd.read_csv(out / "effects.csv")
    assert (eff["n_boot"] + eff["n_boot_failed"] == 1000).all()
    page = parse(out / "report.html")
    assert "asymtrust report --out" in page.visible or "asymtrust report" in page.visible
    assert elapsed < 60, f"the default report took {elapsed:.1f} s"
    assert np.isfinite(eff["ci_lower"]).all()


# ------------------------------------------------------------------ documentation
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _tutorial_steps(text: str) -> list[tuple[str, str, str]]:
    """(kind, payload, extra) in document order: ("cli", command, expected exit status),
    ("python", code, ""), ("file", content, name)."""
    steps: list[tuple[str, str, str]] = []
    for m in re.finditer(r"(<!-- file: (?P<name>\S+) -->\s*)?```(?P<lang>\w*)\n(?P<body>.*?)```", text, re.DOTALL):
        lang, body, name = m.group("lang"), m.group("body"), m.group("name")
        if name:
            steps.append(("file", body, name))
        elif lang == "python":
            steps.append(("python", body, ""))
        elif lang == "console":
            for line in body.splitlines():
                if line.startswith("$ asymtrust "):
                    cmd = line[2:]
                    status = "0"
                    tail = re.search(r"\s+#\s*exits\s+(\d+)\s*$", cmd)
                    if tail:
                        status, cmd = tail.group(1), cmd[: tail.start()]
                    steps.append(("cli", cmd.strip(), status))
    return steps


@pytest.mark.slow
def test_tutorial_runs(tmp_path, monkeypatch, capsys):
    """Every command and code block of docs/tutorial.md, in order, in an empty folder
    (bootstrap replicates lowered to 20 to keep the suite fast)."""
    import shlex

    steps = _tutorial_steps((DOCS / "tutorial.md").read_text(encoding="utf-8"))
    kinds = [k for k, _, _ in steps]
    assert kinds.count("cli") >= 6 and kinds.count("python") >= 3 and kinds.count("file") == 1
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for kind, payload, extra in steps:
        if kind == "file":
            Path(extra).write_text(payload, encoding="utf-8")
        elif kind == "python":
            code = re.sub(r"bootstrap=\d+", "bootstrap=20", payload)
            exec(compile(code, "docs/tutorial.md", "exec"), namespace)  # noqa: S102 - the tutorial's own code
        else:
            argv = shlex.split(re.sub(r"--bootstrap \d+", "--bootstrap 20", payload))[1:]
            code = run_cli([*argv, "--quiet"] if argv[0] == "report" else argv)
            captured = capsys.readouterr()
            assert code == int(extra), f"{payload!r} exited {code}: {captured.err[-1500:]}"
    assert (tmp_path / "survey-report" / "report.html").is_file()
    assert (tmp_path / "abilities-report" / "report.html").is_file()
    assert (tmp_path / "survey-report-api" / "report.html").is_file()
    assert not (tmp_path / "broken-report").exists()
    for name in ("codebook.md", "paths.tex", "fit.csv", "paths.svg", "fig1.png"):
        assert (tmp_path / name).is_file(), name
    page = parse(tmp_path / "survey-report" / "report.html")
    assert "Structural paths per sector" in page.visible and "Nested-model tests" in page.visible


def test_cli_reference_lists_every_option():
    """docs/cli.md documents every command and every option of the real parser."""
    import argparse

    from asymtrust import cli

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sections = re.split(r"\n## asymtrust ", text)
    by_name = {s.split("\n", 1)[0].strip(): s for s in sections[1:]}
    missing = []
    for name, p in sub.choices.items():
        assert name in by_name, f"docs/cli.md has no section for `asymtrust {name}`"
        for action in p._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help" and opt not in by_name[name]:
                    missing.append(f"{name} {opt}")
    assert missing == []
