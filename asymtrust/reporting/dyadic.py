"""The dyadic section of the report (issue 18).

:func:`apim_figure` draws the actor-partner diagram (actor arrows horizontal, partner
arrows crossing, one colour per side, estimates with significance stars);
:func:`dyadic_section_html` puts the aggregation table (rwg(j), ICC(1), ICC(2) beside their
cut-offs), the APIM diagram, the effects, the k table, the distinguishability tests and
the response surface figure in one self-contained HTML section (figures embedded as PNG).
:func:`compute_dyadic` runs the dyadic analyses of the main report (``report(dyad=, side=)``);
the ``asymtrust dyadic`` command is in :mod:`asymtrust.reporting.dyadic_cli`.
"""
from __future__ import annotations

import base64
import html
from typing import Any

import pandas as pd

from ..exceptions import AsymtrustError, DataError, OptionError
from .figures import _figure, figure_bytes, stars

__all__ = ["apim_figure", "dyadic_section_html", "compute_dyadic"]

_SIDE_COLOURS = ("tab:blue", "tab:orange")


def apim_figure(res, *, labels: dict | None = None):
    """The APIM as a path diagram: x_A, x_B on the left, y_A, y_B on the right; actor
    effects as horizontal arrows, partner effects crossing (dashed); unstandardized
    estimates with stars (standardized in brackets)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    A, B = res.sides
    lab = {"x": res.x, "y": res.y, **(labels or {})}
    fig = _figure(7.2, 4.2)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    pos = {("x", A): (1.8, 4.6), ("x", B): (1.8, 1.4), ("y", A): (8.2, 4.6), ("y", B): (8.2, 1.4)}
    for (kind, s), (cx, cy) in pos.items():
        colour = _SIDE_COLOURS[0 if s == A else 1]
        ax.add_patch(FancyBboxPatch((cx - 1.3, cy - 0.45), 2.6, 0.9, boxstyle="round,pad=0.05", fc="white",
                                    ec=colour, lw=1.8))
        ax.text(cx, cy, f"{lab[kind]}\n({s})", ha="center", va="center", fontsize=9)
    eff = res.effects

    def arrow(src, dst, row, colour, dashed, text_xy):
        ax.add_patch(FancyArrowPatch(src, dst, arrowstyle="-|>", mutation_scale=14, lw=1.6, color=colour,
                                     ls="--" if dashed else "-"))
        est, p, std = float(row["est"]), float(row["pvalue"]), float(row["std_all"])
        ax.text(*text_xy, f"{est:.2f}{stars(p)} [{std:.2f}]", ha="center", va="center", fontsize=9, color=colour,
                bbox={"fc": "white", "ec": "none", "pad": 1})

    arrow((3.15, 4.6), (6.85, 4.6), eff.loc[("actor", A)], _SIDE_COLOURS[0], False, (5.0, 4.9))
    arrow((3.15, 1.4), (6.85, 1.4), eff.loc[("actor", B)], _SIDE_COLOURS[1], False, (5.0, 1.1))
    arrow((3.15, 1.75), (6.85, 4.25), eff.loc[("partner", A)], _SIDE_COLOURS[0], True, (6.0, 3.8))
    arrow((3.15, 4.25), (6.85, 1.75), eff.loc[("partner", B)], _SIDE_COLOURS[1], True, (6.0, 2.2))
    # the two covariances
    for kind, x0 in (("x", 0.35), ("y", 9.65)):
        ax.add_patch(FancyArrowPatch((x0, 4.3), (x0, 1.7), arrowstyle="<|-|>", mutation_scale=10, lw=1.0,
                                     color="0.45", connectionstyle="arc3,rad=0.35" if kind == "x" else
                                     "arc3,rad=-0.35"))
    ax.text(5.0, 5.75, f"Actor-partner interdependence model ({res.fit.n_used} partnerships)", ha="center",
            fontsize=10, weight="bold")
    ax.text(5.0, 0.3, "solid: actor effects; dashed: partner effects; [standardized]; * p<.05 ** p<.01 *** p<.001",
            ha="center", fontsize=7.5, color="0.3")
    return fig


def _png(fig) -> str:
    return base64.b64encode(figure_bytes(fig, "png", dpi=110)).decode()


def _table(df: pd.DataFrame, digits: int = 3) -> str:
    return df.to_html(float_format=lambda v: f"{v:.{digits}f}", border=0, classes="table", na_rep="—")


def dyadic_section_html(dyad_data=None, apim_result=None, rsa_result=None, *, title: str = "Both sides of each "
                        "partnership", labels: dict | None = None) -> str:
    """One HTML section: aggregation, APIM diagram and tables, the response surface."""
    parts = [f"<section class='dyadic'><h2>{html.escape(title)}</h2>"]
    if dyad_data is not None:
        agr = dyad_data.agreement
        cols = [c for c in ("rwg_j_mean", "rwg_j_cutoff", "icc1", "icc1_cutoff", "icc2", "icc2_cutoff")
                if c in agr.columns]
        parts.append(f"<h3>Aggregation to side means</h3><p>{len(dyad_data.wide)} partnerships, "
                     f"{len(dyad_data.incomplete)} with one side missing (kept).</p>{_table(agr[cols])}")
        cites = agr.attrs.get("citations", {})
        if cites:
            parts.append("<p class='cite'>" + "<br>".join(html.escape(c) for c in dict.fromkeys(cites.values()))
                         + "</p>")
    if apim_result is not None:
        r = apim_result
        if r.invariance is not None:
            parts.append(f"<h3>Dyadic measurement invariance (APIM at the {r.invariance.attrs['chosen']} level)</h3>"
                         + _table(r.invariance))
        parts.append(f"<h3>Actor and partner effects</h3><img alt='APIM diagram' "
                     f"src='data:image/png;base64,{_png(apim_figure(r, labels=labels))}'>")
        parts.append(_table(r.effects.drop(columns=["label"])))
        parts.append("<h4>k = partner / actor (Kenny &amp; Ledermann 2010)</h4>" + _table(r.k))
        parts.append("<h4>Distinguishability (χ² difference tests)</h4>" + _table(r.tests))
    if rsa_result is not None:
        s = rsa_result
        lab = {"x": s.x, "y": s.y, "z": s.z, **(labels or {})}
        parts.append(f"<h3>Response surface: {html.escape(s.z)} on {html.escape(s.x)} and {html.escape(s.y)}</h3>"
                     f"<img alt='response surface' src='data:image/png;base64,{_png(s.plot(labels=lab))}'>")
        parts.append(_table(s.surface.drop(columns=["ci_lower", "ci_upper"])))
        keep = [c for c in ("df", "chisq", "chisq_scaled", "aic", "delta_aic", "chisq_diff", "df_diff",
                            "pvalue_diff") if c in s.models.columns]
        parts.append("<h4>Model comparison</h4>" + _table(s.models[keep]))
        cg = s.congruence
        parts.append(f"<h4>Congruence conditions (Humberg, Nestler &amp; Back 2019): "
                     f"{'all hold' if cg.attrs['supported'] else 'not all hold'}</h4>"
                     + _table(cg[["meaning", "estimate", "holds"]]))
    warns = [*(getattr(dyad_data, "warnings", []) or []), *(getattr(apim_result, "warnings", []) or []),
             *(getattr(rsa_result, "warnings", []) or [])]
    if warns:
        parts.append("<ul class='warnings'>" + "".join(f"<li>{html.escape(w)}</li>" for w in dict.fromkeys(warns))
                     + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- the main report
def _default_apim(spec: Any, scores: list[str]) -> tuple[str, str] | None:
    """The APIM of the report without ``apim=``: capacity imbalance -> goodwill trust when the
    spec has that path (the asymmetric lens of the seed paper), else the spec's first path
    between two constructs of the data."""
    regs = list(spec.regressions()) if spec is not None else []
    if ("GoodTrust", "CapImb") in regs and {"GoodTrust", "CapImb"} <= set(scores):
        return "CapImb", "GoodTrust"
    for lhs, rhs in regs:
        if lhs in scores and rhs in scores:
            return rhs, lhs
    return None


def compute_dyadic(work: pd.DataFrame, spec: Any, *, dyad: str | None, side: str | None, sides: Any = None,
                   apim: Any = None, rsa: Any = None, estimator: str = "ML", bootstrap: int = 0,
                   seed: int | None = None, n_jobs: int = 1, notes: list | None = None) -> dict:
    """The dyadic analyses of the main report: side means with rwg(j)/ICC of every construct of
    ``spec`` (construct score = mean of its keyed items), the APIM of ``apim=(x, y)`` (default:
    :func:`_default_apim`) with FIML over partnerships with a side missing and ``bootstrap``
    replicates for k, and the response surface of ``rsa=(z, x, y)`` (partnership-table
    columns ``<construct>_<side>``; pooled centering, as ``asymtrust dyadic``).

    Returns
    -------
    dict
        ``dyads`` (:class:`~asymtrust.analysis.dyadic.DyadData`), ``apim`` and ``rsa`` (results
        or None), ``x``, ``y``, ``rsa_args``, ``apim_error``/``rsa_error`` (the message of an
        analysis that failed) and ``apim_reason`` (why no APIM was fitted).

    Raises
    ------
    OptionError
        ``dyad`` without ``side`` (or the reverse); ``apim``/``rsa`` of the wrong length or
        naming neither a construct of the spec nor a column of the data.
    DataError
        As :func:`asymtrust.dyads`: a missing dyad or side column, a dyad column with missing
        values, a partnership with three or more sides, a side label outside ``sides``.
    """
    from ..analysis.dyadic import apim as _apim
    from ..analysis.dyadic import dyads
    from ..analysis.rsa import rsa as _rsa

    if (dyad is None) != (side is None):
        raise OptionError("the dyadic section needs both the partnership column (--dyad/dyad=) and the side "
                          "column (--side/side=)")
    for col, what in ((dyad, "--dyad"), (side, "--side")):
        if col not in work.columns:
            raise DataError(f"{what} column {col!r} is not in the data")
    notes = notes if notes is not None else []
    df = work.copy()
    constructs = {}
    for name, items in (spec.constructs.items() if spec is not None else []):
        if name in getattr(spec, "interactions", {}) or not items or not set(items) <= set(df.columns):
            continue
        df[name] = df[list(items)].astype(float).mean(axis=1)
        constructs[name] = list(items)
    if apim is not None and (len(apim) != 2 or isinstance(apim, str)):
        raise OptionError(f"apim= names the APIM's predictor and outcome (X, Y), got {apim!r}")
    if rsa is not None and (len(rsa) != 3 or isinstance(rsa, str)):
        raise OptionError(f"rsa= names the outcome and the two predictors (Z, X, Y), got {rsa!r}")
    xy = tuple(str(v) for v in apim) if apim is not None else _default_apim(spec, list(constructs))
    for v in xy or ():
        if v not in df.columns or v in (dyad, side):
            raise OptionError(f"APIM variable {v!r} is neither a construct of the spec with its items in the data "
                              f"({', '.join(constructs) or 'none'}) nor a numeric column of the data")
    columns = list(dict.fromkeys([*constructs, *(xy or ())]))
    if not columns:
        raise OptionError("the dyadic section needs constructs of the spec whose items are in the data, or "
                          "apim=(X, Y) naming numeric columns")
    dd = dyads(df, dyad=dyad, side=side, sides=sides, columns=columns, constructs=constructs or None)
    out: dict[str, Any] = {"dyads": dd, "apim": None, "rsa": None, "x": None, "y": None, "rsa_args": None,
                           "apim_error": "", "rsa_error": "", "apim_reason": ""}
    if xy is None:
        out["apim_reason"] = ("no construct of the spec predicts another (pass apim=(X, Y) or --apim X Y to choose "
                              "the APIM's predictor and outcome)")
    else:
        out["x"], out["y"] = xy
        try:
            out["apim"] = _apim(dd, xy[0], xy[1], estimator=estimator, missing="fiml", bootstrap=int(bootstrap),
                                seed=seed, n_jobs=n_jobs)
        except AsymtrustError as exc:
            out["apim_error"] = str(exc)
    if rsa is not None:
        z, x, y = (str(v) for v in rsa)
        out["rsa_args"] = (z, x, y)
        wide = dd.wide.reset_index()
        for v in (z, x, y):
            if v not in wide.columns:
                raise OptionError(f"RSA variable {v!r} is not a column of the partnership table; its columns are "
                                  f"<construct>_<side>: {', '.join(c for c in wide.columns if c != dyad)}")
        try:
            out["rsa"] = _rsa(wide, z, x, y, center="pooled", outliers="keep")
        except AsymtrustError as exc:
            out["rsa_error"] = str(exc)
    for w in dict.fromkeys([*dd.warnings, *(getattr(out["apim"], "warnings", None) or []),
                            *(getattr(out["rsa"], "warnings", None) or [])]):
        notes.append(f"dyadic: {w}")
    return out
