"""Figures: each renders to a non-blank PNG, shows the numbers it is given, and tells
signs and significance apart without relying on colour."""
from __future__ import annotations

import io
from types import SimpleNamespace

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import FancyArrowPatch, Rectangle

import asymtrust
from asymtrust.exceptions import OptionError, OutputError
from asymtrust.reporting import figures as F


# ------------------------------------------------------------------ helpers
def _pixels(fig, dpi: int = 60) -> np.ndarray:
    return mpimg.imread(io.BytesIO(F.figure_bytes(fig, "png", dpi=dpi)))


def assert_not_blank(fig) -> None:
    px = _pixels(fig)
    rgb = px[..., :3]
    ink = (rgb < 0.9).any(axis=-1).mean()
    assert ink > 0.01, f"only {ink:.2%} of the pixels are drawn"
    assert rgb.std() > 0.05


def _texts(fig) -> list[str]:
    out = []
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    out += [t.get_text() for t in fig.texts]
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    return out


def _stub_fit(rows: list[tuple[str, str, float, float]], r2: dict[str, float] | None = None):
    """A minimal fitted-model stand-in: (lhs, rhs, std_all, pvalue) regressions."""
    est = pd.DataFrame(
        [{"lhs": l, "op": "~", "rhs": r, "group": 1, "est": b, "std_all": b, "pvalue": p, "user": 1}
         for l, r, b, p in rows])
    return SimpleNamespace(estimates=est, r2=[r2 or {}], group_labels=None)


@pytest.fixture(scope="module")
def bcf():
    return asymtrust.recode_reverse(asymtrust.load_dataset("bcf_synthetic"))


@pytest.fixture(scope="module")
def fig1_fit(bcf):
    return asymtrust.fit("fig1", bcf)


# ------------------------------------------------------------------ layout
def test_infer_layers_longest_path():
    layers = F.infer_layers(["a", "b", "m", "y", "z"],
                            [("a", "m"), ("b", "m"), ("m", "y"), ("a", "y"), ("m", "z")])
    assert layers == {"a": 0, "b": 0, "m": 1, "y": 2, "z": 2}


def test_infer_layers_pushes_outcomes_right():
    # y2 depends only on an exogenous variable but predicts nothing: it is an outcome
    layers = F.infer_layers(["x", "m", "y1", "y2"], [("x", "m"), ("m", "y1"), ("x", "y2")])
    assert layers["y2"] == layers["y1"] == 2


@pytest.mark.parametrize("p, s", [(0.0004, "***"), (0.004, "**"), (0.04, "*"), (0.05, ""), (float("nan"), "")])
def test_stars(p, s):
    assert F.stars(p) == s


# ------------------------------------------------------------------ path diagram
def test_path_diagram_labels_are_the_standardized_estimates(fig1_fit):
    spec = asymtrust.load_spec("fig1")
    fig = F.path_diagram(fig1_fit, spec)
    assert_not_blank(fig)
    texts = _texts(fig)
    reg = fig1_fit.estimates[fig1_fit.estimates["op"] == "~"]
    for r in reg.itertuples(index=False):
        label = F._num(r.std_all, 2) + F.stars(r.pvalue)
        assert label in texts, label
    # layers from the roles: asymmetries left, trust middle, outcomes right
    pos = {t.get_text(): t.get_position()[0] for t in fig.axes[0].texts}
    assert pos["RoleAmb"] < pos["CompTrust"] < pos["ServCons"]
    assert pos["PowDist"] < pos["GoodTrust"] < pos["PlanBudg"]
    assert {"Asymmetries", "Inter-organisational trust", "Integrated-care outcomes"} <= set(texts)
    # R² of the endogenous constructs
    assert "R\u00b2 = " + F._num(fig1_fit.r2[0]["JointMgmt"], 2) in texts


def test_path_diagram_signs_and_significance_without_colour():
    fit = _stub_fit([("M", "X", -0.40, 0.0005), ("Y", "M", 0.35, 0.002), ("Y", "X", -0.05, 0.40),
                     ("Y", "W", 0.08, 0.30), ("M", "W", 0.20, 0.03)])
    fig = F.path_diagram(fit)
    assert_not_blank(fig)
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    heads = [p for p in arrows if p.get_arrowstyle().__class__.__name__ != "Curve"]
    white = to_rgba("white")
    hollow = [p for p in heads if np.allclose(p.get_facecolor(), white)]
    filled = [p for p in heads if not np.allclose(p.get_facecolor(), white)]
    assert len(hollow) == 2 and len(filled) == 3  # negative paths: hollow heads
    dashed = [p for p in arrows if p.get_linestyle() not in ("-", "solid")]
    assert len(dashed) == 2  # the two paths with p >= .05 (shaft drawn dashed, head solid)
    texts = _texts(fig)
    assert "\u2212.40***" in texts and ".35**" in texts and "\u2212.05" in texts and ".20*" in texts
    # inferred layers for a model without roles: X, W exogenous; M mediator; Y outcome
    x = {t.get_text(): t.get_position()[0] for t in fig.axes[0].texts}
    assert x["X"] == x["W"] < x["M"] < x["Y"]


def test_path_diagram_without_structural_paths():
    fit = SimpleNamespace(estimates=pd.DataFrame(columns=["lhs", "op", "rhs", "group", "est", "std_all", "pvalue"]),
                          r2=[{}], group_labels=None)
    fig = F.path_diagram(fit)
    assert any("no structural" in t for t in _texts(fig))


def test_path_diagram_saves_png_svg_pdf(tmp_path, fig1_fit):
    for ext, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
        out = tmp_path / f"p.{ext}"
        F.path_diagram(fig1_fit, asymtrust.load_spec("fig1"), out=out)
        assert out.read_bytes()[:5].startswith(magic)
    with pytest.raises(OutputError, match="jpg"):
        F.path_diagram(fig1_fit, out=tmp_path / "p.jpg")
    with pytest.raises(OutputError, match="does not exist"):
        F.path_diagram(fig1_fit, out=tmp_path / "nowhere" / "p.png")


# ------------------------------------------------------------------ Fig. 1
def test_figure_fig1_caption_labels_and_signs(tmp_path):
    spec = asymtrust.load_spec("fig1")
    out = tmp_path / "fig1.png"
    fig = F.figure_fig1("fig1", out)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert_not_blank(fig)
    texts = _texts(fig)
    joined = " ".join(t.replace("\n", " ") for t in texts)
    assert F.FIG1_CAPTION in joined
    assert "Islam, Li, Johnson & Lauchande (2020), Fig. 1" in joined
    for label in spec.labels.values():
        assert label in joined, label
    n_neg = sum(p.sign == "-" for p in spec.paths)
    n_pos = sum(p.sign == "+" for p in spec.paths)
    assert texts.count("\u2212") == n_neg and texts.count("+") == n_pos


def test_figure_fig1_moderation_and_deterministic_svg():
    fig = F.figure_fig1("fig1_moderated")
    assert "moderates" in _texts(fig)
    a = F.figure_bytes(F.figure_fig1("fig1"), "svg")
    b = F.figure_bytes(F.figure_fig1("fig1"), "svg")
    assert a == b  # same spec, same bytes (no dates, fixed hash salt)


# ------------------------------------------------------------------ other charts
def test_reliability_chart_marks_failures(bcf):
    rel = asymtrust.reliability(bcf, "fig1")
    fig = F.reliability_chart(rel)
    assert_not_blank(fig)
    hatched = sum(1 for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch())
    failures = int((~rel[["alpha_pass", "omega_pass", "cr_pass", "ave_pass", "htmt_pass"]].fillna(True)).sum().sum())
    assert hatched == failures
    assert set(rel.index) <= set(_texts(fig))


def test_residual_correlations_and_heatmap(bcf, fig1_fit):
    res = F.residual_correlations(fig1_fit)
    items = list(res.index)
    assert len(items) == 32
    np.testing.assert_allclose(res.to_numpy(), res.to_numpy().T, atol=1e-12)
    np.testing.assert_allclose(np.diag(res.to_numpy()), 0.0, atol=1e-12)
    # the sample part is the Pearson correlation of the (recoded) data
    implied = fig1_fit.implied[0]["cov"].loc[items, items].to_numpy()
    d = np.sqrt(np.diag(implied))
    sample_cor = res.to_numpy() + implied / np.outer(d, d)
    np.testing.assert_allclose(sample_cor, bcf[items].corr().to_numpy(), atol=1e-8)
    fig = F.residual_heatmap(fig1_fit)
    assert_not_blank(fig)
    big = int((np.abs(np.tril(res.to_numpy(), -1)) >= 0.10).sum())
    assert any(f"({big} of 496)" in t for t in _texts(fig))


def test_effects_forest_hollow_when_ci_includes_zero():
    eff = pd.DataFrame({"effect": ["indirect"] * 3, "path": ["A -> M -> Y", "B -> M -> Y", "C -> M -> Y"],
                        "est": [-0.12, 0.03, 0.20], "ci_lower": [-0.2, -0.01, 0.1], "ci_upper": [-0.05, 0.07, 0.3],
                        "method": "percentile"})
    fig = F.effects_forest(eff)
    assert_not_blank(fig)
    markers = [ln for ln in fig.axes[0].lines if ln.get_marker() in ("o", "D")]
    white = to_rgba("white")
    hollow = [ln for ln in markers if np.allclose(to_rgba(ln.get_markerfacecolor()), white)]
    assert len(markers) == 3 and len(hollow) == 1
    texts = _texts(fig)
    assert "A \u2192 M \u2192 Y" in texts and "\u22120.120 [\u22120.200, \u22120.050]" in texts
    assert any("percentile" in ln for ln in [fig.axes[0].get_xlabel()])


def test_invariance_chart_hatches_rejected_levels():
    inv = pd.DataFrame({"level": ["configural", "metric", "scalar", "strict"],
                        "cfi": [0.990, 0.988, 0.970, 0.969]})
    fig = F.invariance_chart(inv)
    assert_not_blank(fig)
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert [bool(b.get_hatch()) for b in bars] == [False, True, False]
    assert any("rejected" in t for t in _texts(fig))


def test_group_paths_chart():
    tab = pd.DataFrame({"path": ["X -> M", "X -> M", "M -> Y", "M -> Y"], "group": ["a", "b", "a", "b"],
                        "std_all": [0.2, 0.5, -0.1, 0.3], "std_ci_lower": [0.1, 0.4, -0.2, 0.2],
                        "std_ci_upper": [0.3, 0.6, 0.0, 0.4]})
    fig = F.group_paths_chart(tab)
    assert_not_blank(fig)
    assert {"a", "b", "X \u2192 M", "M \u2192 Y"} <= set(_texts(fig))


def test_power_curve():
    df = pd.DataFrame([(n, p, min(1.0, n / (250 + 100 * i))) for n in (150, 200, 300, 500)
                       for i, p in enumerate(["GoodTrust~CapImb", "CompTrust~RoleAmb"])],
                      columns=["n", "parameter", "power"])
    fig = F.power_curve(df)
    assert_not_blank(fig)
    ax = fig.axes[0]
    assert len([ln for ln in ax.lines if ln.get_marker() not in (None, "None", "")]) == 2
    assert list(ax.get_xticks()) == [150, 200, 300, 500]
    assert {"CapImb \u2192 GoodTrust", "RoleAmb \u2192 CompTrust"} <= set(_texts(fig))
    with pytest.raises(OptionError, match="power"):
        F.power_curve(df.drop(columns="power"))
    # structural paths and indirect effects get a panel each
    both = pd.concat([df.assign(kind="path"),
                      df.assign(kind="indirect", parameter=df["parameter"].map({"GoodTrust~CapImb": "CapImb -> GoodTrust -> PlanBudg",
                                                                                "CompTrust~RoleAmb": "RoleAmb -> CompTrust -> ServCons"}))])
    fig2 = F.power_curve(both)
    assert [ax.get_title(loc="left") for ax in fig2.axes] == ["Structural paths", "Indirect effects"]


def test_save_figure_writes_png_and_svg(tmp_path):
    fig = F.figure_fig1("fig1")
    paths = F.save_figure(fig, tmp_path, "fig1")
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in paths["svg"].read_bytes()[:2000]


def test_residual_heatmap_of_a_two_level_model_draws_lavaans_residuals_per_level():
    """Two-level fits get one panel per level; the drawn cells are lavaan 0.6-14's
    ``lavResiduals(fit, type = "cor.bollen")`` within and between (Demo.twolevel,
    ``tests/reference/diagnostics/fam_twolevel.json``), within 2e-3."""
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "reference" / "diagnostics" / "fam_twolevel.json").read_text())
    data = pd.read_csv(Path(__file__).parent / "reference" / "nested" / "demo_twolevel.csv")
    fit = asymtrust.fit(ref["model"], data, cluster=ref["cluster"])
    fig = F.residual_heatmap(fit)
    assert_not_blank(fig)
    panels = [ax for ax in fig.axes if ax.images and ax.get_title().endswith("level")]
    assert [ax.get_title() for ax in panels] == ["within level", "between level"]
    for ax, key in zip(panels, ["within", "cluster"]):
        want = ref["residuals"]["cor_bollen"][key]
        names = [t.get_text() for t in ax.get_yticklabels()]
        assert names == want["names"]
        drawn = np.asarray(ax.images[0].get_array().filled(np.nan), float)
        low = np.tril_indices(len(names), -1)
        np.testing.assert_allclose(drawn[low], np.asarray(want["cov"])[low], atol=2e-3)
