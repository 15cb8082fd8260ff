"""Figures of the report (matplotlib, Agg; no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure` drawn on an Agg
canvas and, when ``out`` is given, also saves it (the format follows the file
suffix: ``.png``, ``.svg`` or ``.pdf``). :func:`save_figure` writes one figure as
PNG and SVG side by side, which is what the report does.

Design rules, so that the figures read in grey-scale print and for colour-blind
readers: signs are told apart by arrowheads and the sign of the label, not by
colour alone; non-significant paths are dashed; failing bars are hatched. The
palette is Okabe & Ito's (2008) colour-blind-safe set.

* :func:`path_diagram` -- the fitted structural model, layered left to right
  (asymmetries, trust, outcomes; from the spec's roles, or inferred from the
  path structure for a bare ``.lav`` file).
* :func:`figure_fig1` -- the conceptual Fig. 1 of Islam, Li, Johnson & Lauchande
  (2020), redrawn from a spec, with the paper's caption.
* :func:`reliability_chart` -- alpha / omega / CR, AVE and HTMT against the
  published cut-offs.
* :func:`residual_heatmap` -- residual correlations (sample minus model-implied).
* :func:`effects_forest` -- indirect effects with their confidence intervals.
* :func:`invariance_chart` -- the drop in CFI at each invariance level.
* :func:`group_paths_chart` -- standardized paths per group.
* :func:`power_curve` -- Monte Carlo power by sample size.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FIG1_CAPTION",
    "FIG1_SOURCE",
    "effects_forest",
    "figure_bytes",
    "figure_fig1",
    "group_paths_chart",
    "invariance_chart",
    "path_diagram",
    "power_curve",
    "reliability_chart",
    "residual_correlations",
    "residual_heatmap",
    "save_figure",
    "stars",
]

#: the caption of Fig. 1 in Islam, Li, Johnson & Lauchande (2020)
FIG1_CAPTION = "The effects of asymmetry narratives on inter-organisational trust, health and social care partnerships"
#: where it comes from
FIG1_SOURCE = "Islam, Li, Johnson & Lauchande (2020), Fig. 1"

# Okabe & Ito (2008) colour-blind-safe palette
BLUE = "#0072B2"
VERMILION = "#D55E00"
GREEN = "#009E73"
ORANGE = "#E69F00"
SKY = "#56B4E9"
PURPLE = "#CC79A7"
YELLOW = "#F0E442"
GREY = "#555555"
LIGHT = "#DDDDDD"
POS = BLUE
NEG = VERMILION
MINUS = "\u2212"  # typographic minus

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "svg.hashsalt": "asymtrust",
    "svg.fonttype": "path",
    "axes.spines.top": False,
    "axes.spines.right": False,
}

_ROLE_LAYER = {"asymmetry": 0, "moderator": 0, "interaction": 0, "trust": 1, "outcome": 2}
_ROLE_FILL = {"asymmetry": "#FCE9DC", "moderator": "#FCE9DC", "interaction": "#FFF6D5",
              "trust": "#DDEEFA", "outcome": "#DDF3EA", "factor": "#EEEEEE", "observed": "#FFFFFF"}


# ====================================================================================
# helpers
# ====================================================================================
@contextlib.contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def _figure(width: float, height: float):
    """A Figure on its own Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def stars(p: float | None) -> str:
    """Significance stars: ``*`` p < .05, ``**`` p < .01, ``***`` p < .001.

    Examples
    --------
    >>> stars(0.0004), stars(0.03), stars(0.2), stars(float("nan"))
    ('***', '*', '', '')
    """
    if p is None or not np.isfinite(p):
        return ""
    if p < 0.001:
        return "***"
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    return ""


def _num(v: float, nd: int = 2, *, lead: bool = False) -> str:
    """APA-ish number: typographic minus, no leading zero unless ``lead``."""
    if v is None or not np.isfinite(v):
        return "NA"
    s = f"{abs(v):.{nd}f}"
    if not lead and s.startswith("0."):
        s = s[1:]
    neg = v < 0 and float(s.replace(MINUS, "") or 0) != 0
    return (MINUS if neg else "") + s


def _save(fig, out, dpi: int = 150, *, force: bool = False) -> None:
    """Write ``fig`` to ``out`` (a path, or a target already checked by
    :func:`asymtrust.outputs.plan_file`) under asymtrust's output policy."""
    if out is None:
        return
    from ..outputs import FileTarget, plan_file

    target = out if isinstance(out, FileTarget) else plan_file(out, force=force, what="figure",
                                                                  suffixes=(".png", ".svg", ".pdf"))
    fmt = target.path.suffix.lower().lstrip(".")
    target.write(figure_bytes(fig, fmt, dpi=dpi))


#: largest raster asymtrust draws (pixels per side; Agg's own limit is 2**16)
MAX_PIXELS_PER_SIDE = 20_000
#: largest raster in pixels (about 1.6 GB of RGBA at this size)
MAX_PIXELS = 400_000_000


def check_raster(fig, dpi: float) -> None:
    """Refuse a raster too large to draw, before any memory is allocated.

    Raises
    ------
    ResourceLimitError
        Width or height over :data:`MAX_PIXELS_PER_SIDE`, or more than
        :data:`MAX_PIXELS` pixels; the message names ``dpi`` and the largest that fits.
    """
    from ..exceptions import ResourceLimitError

    w_in, h_in = (float(x) for x in fig.get_size_inches())
    w, h = w_in * dpi, h_in * dpi
    if max(w, h) > MAX_PIXELS_PER_SIDE or w * h > MAX_PIXELS:
        fits = int(min(MAX_PIXELS_PER_SIDE / max(w_in, h_in), (MAX_PIXELS / (w_in * h_in)) ** 0.5))
        raise ResourceLimitError(f"dpi {dpi:g} would draw a {w:,.0f} x {h:,.0f} pixel image "
                                 f"(about {w * h * 4 / 2**30:.1f} GiB); use --dpi {fits} or less")


def figure_bytes(fig, fmt: str = "png", *, dpi: int = 150) -> bytes:
    """The figure encoded as PNG, SVG or PDF bytes (metadata dates removed, so
    the same figure gives the same bytes)."""
    buf = io.BytesIO()
    meta: dict[str, Any] = {}
    if fmt == "svg":
        meta = {"Date": None, "Creator": "asymtrust"}
    elif fmt == "pdf":
        meta = {"CreationDate": None, "ModDate": None, "Creator": "asymtrust", "Producer": "asymtrust"}
    elif fmt == "png":
        meta = {"Software": "asymtrust"}
    if fmt in ("png", "pdf"):  # a PDF embeds rasters at this dpi too
        check_raster(fig, dpi)
    with _style():
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta, facecolor="white")
    return buf.getvalue()


def save_figure(fig, folder: str | os.PathLike, stem: str, *, dpi: int = 150,
                formats: Sequence[str] = ("png", "svg"), force: bool = False) -> dict[str, Path]:
    """Save ``fig`` as ``folder/stem.png`` and ``folder/stem.svg``, under asymtrust's
    output policy (an existing file is replaced only with ``force`` and only if
    asymtrust wrote it).

    Returns
    -------
    dict
        Format -> written path.
    """
    from ..outputs import plan_file

    folder = Path(folder)
    targets = {fmt: plan_file(folder / f"{stem}.{fmt}", force=force, what="figure") for fmt in formats}
    return {fmt: t.write(figure_bytes(fig, fmt, dpi=dpi)) for fmt, t in targets.items()}


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False)) or text


# ====================================================================================
# layered layout shared by the two diagrams
# ====================================================================================
@dataclass
class _Node:
    name: str
    layer: int
    latent: bool
    role: str
    x: float = 0.0
    y: float = 0.0


def infer_layers(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering: exogenous variables in layer 0, each other variable one
    layer right of its furthest predictor; variables that predict nothing are pushed
    to the last layer (so outcomes line up on the right).

    Examples
    --------
    >>> infer_layers(["a", "b", "m", "y"], [("a", "m"), ("b", "m"), ("m", "y"), ("a", "y")])
    {'a': 0, 'b': 0, 'm': 1, 'y': 2}
    """
    preds: dict[str, set[str]] = {n: set() for n in nodes}
    succ: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        preds.setdefault(b, set()).add(a)
        succ.setdefault(a, set()).add(b)
        preds.setdefault(a, set())
        succ.setdefault(b, set())
    layer: dict[str, int] = {}

    def depth(n: str, seen: frozenset) -> int:
        if n in layer:
            return layer[n]
        if n in seen:  # a feedback loop: stop
            return 0
        d = 0 if not preds[n] else 1 + max(depth(p, seen | {n}) for p in preds[n])
        layer[n] = d
        return d

    for n in preds:
        depth(n, frozenset())
    top = max(layer.values(), default=0)
    for n in layer:
        if preds[n] and not succ[n]:
            layer[n] = top
    return {n: layer[n] for n in nodes if n in layer} | {n: layer[n] for n in layer if n not in nodes}


def _order_layers(layers: dict[int, list[str]], edges: Sequence[tuple[str, str]], sweeps: int = 4) -> None:
    """Barycentre ordering within layers (in place) to reduce edge crossings."""
    keys = sorted(layers)
    if len(keys) < 2:
        return

    def pos() -> dict[str, float]:
        out = {}
        for k in keys:
            n = len(layers[k])
            for i, v in enumerate(layers[k]):
                out[v] = (i + 0.5) / n
        return out

    for s in range(sweeps):
        order = keys[1:] if s % 2 == 0 else keys[-2::-1]
        for k in order:
            p = pos()
            nb = {}
            for v in layers[k]:
                if s % 2 == 0:
                    xs = [p[a] for a, b in edges if b == v and a in p and a not in layers[k]]
                else:
                    xs = [p[b] for a, b in edges if a == v and b in p and b not in layers[k]]
                nb[v] = float(np.mean(xs)) if xs else p[v]
            before = {v: i for i, v in enumerate(layers[k])}
            layers[k].sort(key=lambda v: (nb[v], before[v]))


def _layout(nodes: list[_Node], edges: Sequence[tuple[str, str]], *, width: float, height: float,
            margin_x: float, margin_y: float) -> dict[str, _Node]:
    layers: dict[int, list[str]] = {}
    for n in nodes:
        layers.setdefault(n.layer, []).append(n.name)
    _order_layers(layers, edges)
    by = {n.name: n for n in nodes}
    keys = sorted(layers)
    nl = len(keys)
    biggest = max(len(v) for v in layers.values())
    for i, k in enumerate(keys):
        x = margin_x + (width - 2 * margin_x) * (i / (nl - 1) if nl > 1 else 0.5)
        members = layers[k]
        # spacing of the biggest layer; smaller layers are spread a little wider but centred
        step = (height - 2 * margin_y) / max(biggest - 1, 1)
        m = len(members)
        if m > 1:
            step_k = min(step * max(1.0, (biggest - 1) / (m - 1) * 0.7), (height - 2 * margin_y) / (m - 1))
        else:
            step_k = 0.0
        top = height / 2 + step_k * (m - 1) / 2
        for j, name in enumerate(members):
            by[name].x = x
            by[name].y = top - j * step_k
    return by


def _edge_points(a: _Node, b: _Node, wa: float, ha: float, wb: float, hb: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Start and end of an edge on the boundaries of the two node boxes/ellipses."""
    def border(n: _Node, w: float, h: float, tx: float, ty: float) -> tuple[float, float]:
        dx, dy = tx - n.x, ty - n.y
        if dx == 0 and dy == 0:
            return n.x, n.y
        if n.latent:  # ellipse with semi-axes w/2, h/2
            t = 1.0 / math.sqrt((dx / (w / 2)) ** 2 + (dy / (h / 2)) ** 2)
        else:
            t = min((w / 2) / abs(dx) if dx else math.inf, (h / 2) / abs(dy) if dy else math.inf)
        return n.x + dx * t, n.y + dy * t

    return border(a, wa, ha, b.x, b.y), border(b, wb, hb, a.x, a.y)


def _draw_node(ax, n: _Node, w: float, h: float, text: str, *, fill: str, fontsize: float,
               bold: bool = True, sub: str = "", subsize: float = 8.0) -> None:
    from matplotlib.patches import Ellipse, FancyBboxPatch

    if n.latent:
        ax.add_patch(Ellipse((n.x, n.y), w, h, facecolor=fill, edgecolor="#222222", lw=1.3, zorder=3))
    else:
        ax.add_patch(FancyBboxPatch((n.x - w / 2, n.y - h / 2), w, h, boxstyle="square,pad=0",
                                    facecolor=fill, edgecolor="#222222", lw=1.3, zorder=3))
    if sub:
        ax.text(n.x, n.y + h * 0.12, text, ha="center", va="center", fontsize=fontsize,
                fontweight="bold" if bold else "normal", zorder=4)
        ax.text(n.x, n.y - h * 0.22, sub, ha="center", va="center", fontsize=subsize, color="#333333", zorder=4)
    else:
        ax.text(n.x, n.y, text, ha="center", va="center", fontsize=fontsize,
                fontweight="bold" if bold else "normal", zorder=4, linespacing=1.15)


def _arrow(ax, p0, p1, *, positive: bool | None, dashed: bool, lw: float = 1.6, color: str | None = None,
           rad: float = 0.0) -> None:
    """A directed edge. Positive: filled head; negative: hollow head; dashed when
    not significant."""
    from matplotlib.patches import FancyArrowPatch

    if color is None:
        color = GREY if positive is None else (POS if positive else NEG)
    fc = "white" if positive is False else color
    style = "-|>,head_length=0.7,head_width=0.35"
    dash = (0, (5, 3))
    if dashed and rad == 0.0:
        # dashed shaft, solid head: the head outline stays readable
        dx, dy = p1[0] - p0[0], p1[1] - p0[1]
        length = math.hypot(dx, dy) or 1.0
        back = min(0.22, 0.4 * length)
        q = (p1[0] - dx / length * back, p1[1] - dy / length * back)
        ax.add_patch(FancyArrowPatch(p0, q, arrowstyle="-", lw=lw, color=color, linestyle=dash, zorder=2,
                                     shrinkA=0, shrinkB=0))
        head = FancyArrowPatch(q, p1, arrowstyle=style, mutation_scale=14, lw=lw, color=color, zorder=2,
                               shrinkA=0, shrinkB=1)
        head.set_facecolor(fc)
        head.set_edgecolor(color)
        ax.add_patch(head)
        return
    patch = FancyArrowPatch(p0, p1, arrowstyle=style, mutation_scale=14, lw=lw, color=color,
                            linestyle=dash if dashed else "solid", zorder=2,
                            connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=1)
    patch.set_facecolor(fc)
    patch.set_edgecolor(color)
    ax.add_patch(patch)


class _LabelPlacer:
    """Places edge labels along their edges so that they do not overlap each other
    or the nodes (greedy, in data coordinates)."""

    def __init__(self, obstacles: list[tuple[float, float, float, float]]):
        self.boxes = list(obstacles)

    @staticmethod
    def _overlap(a, b) -> bool:
        return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])

    def place(self, p0, p1, w: float, h: float, prefs: Iterable[float] = (0.5, 0.38, 0.62, 0.3, 0.7, 0.22, 0.78)) -> tuple[float, float]:
        best = None
        for t in prefs:
            x = p0[0] + t * (p1[0] - p0[0])
            y = p0[1] + t * (p1[1] - p0[1])
            box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            if not any(self._overlap(box, b) for b in self.boxes):
                best = (x, y, box)
                break
        if best is None:
            t = 0.5
            x = p0[0] + t * (p1[0] - p0[0])
            y = p0[1] + t * (p1[1] - p0[1])
            best = (x, y, (x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        self.boxes.append(best[2])
        return best[0], best[1]


# ====================================================================================
# structure of a model (spec or bare syntax)
# ====================================================================================
def _structure(fit: Any = None, spec: Any = None) -> tuple[list[str], list[tuple[str, str]], set[str], dict[str, str]]:
    """Structural variables, regression edges (rhs -> lhs), the latent set and roles."""
    edges: list[tuple[str, str]] = []
    latents: set[str] = set()
    if fit is not None:
        est = fit.estimates
        reg = est[(est["op"] == "~")]
        if "group" in reg:
            g0 = reg["group"].min()
            reg = reg[reg["group"] == g0]
        edges = [(r, l) for l, r in zip(reg["lhs"], reg["rhs"])]
        meas = est[est["op"] == "=~"]
        latents = set(meas["lhs"])
    elif spec is not None:
        edges = [(p.rhs, p.lhs) for p in spec.paths]
        if not edges and hasattr(spec, "regressions"):
            edges = [(r, l) for l, r in spec.regressions()]
    roles: dict[str, str] = {}
    if spec is not None:
        latents |= set(spec.constructs)
        roles = dict(spec.roles)
        for k, v in getattr(spec, "interactions", {}).items():
            latents.add(k)
            roles.setdefault(k, "interaction")
    nodes: list[str] = []
    for a, b in edges:
        for v in (a, b):
            if v not in nodes:
                nodes.append(v)
    if spec is not None:  # spec order for a stable, readable layout
        order = list(spec.constructs) + list(getattr(spec, "interactions", {}))
        first = {v: i for i, v in enumerate(nodes)}
        nodes.sort(key=lambda v: (order.index(v) if v in order else len(order), first[v]))
    return nodes, edges, latents, roles


def _layers_for(nodes: list[str], edges: list[tuple[str, str]], roles: Mapping[str, str]) -> dict[str, int]:
    if nodes and all(roles.get(n) in _ROLE_LAYER for n in nodes):
        return {n: _ROLE_LAYER[roles[n]] for n in nodes}
    return infer_layers(nodes, edges)


# ====================================================================================
# path diagram of a fitted model
# ====================================================================================
def path_diagram(fit: Any, spec: Any = None, *, group: int = 1, title: str | None = None,
                 out: str | os.PathLike | None = None, alpha: float = 0.05):
    """Path diagram of a fitted structural model.

    Parameters
    ----------
    fit : FitResult
        A fitted model with ``~`` paths.
    spec : ModelSpec, optional
        Gives the roles (asymmetry / trust / outcome) that fix the layers; without
        roles (a bare ``.lav`` file) the layers are inferred from the paths.
    group : int
        Which group of a multi-group fit to draw (1-based).
    title : str, optional
    out : path, optional
        Also save the figure there (.png, .svg or .pdf).
    alpha : float
        Significance level: paths with p >= alpha are dashed.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Edges carry the standardized estimate (``std_all``) with significance stars.
    Positive paths have a filled arrowhead (blue), negative paths a hollow one
    (vermilion) and a minus sign; non-significant paths are dashed. Endogenous
    variables show their R².
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    nodes_, edges, latents, roles = _structure(fit, spec)
    est = fit.estimates
    est = est[est["group"] == group] if "group" in est and (est["group"] > 0).any() else est
    if "level" in est and est["level"].nunique() > 1:  # a two-level fit: the within-level paths
        est = est[est["level"] == est["level"].iloc[0]]
    reg = est[est["op"] == "~"]
    r2 = {}
    if group - 1 < len(getattr(fit, "r2", []) or []):
        r2 = dict(fit.r2[group - 1])
    with _style():
        if not nodes_:
            fig = _figure(7, 2)
            ax = fig.add_axes((0, 0, 1, 1))
            ax.axis("off")
            ax.text(0.5, 0.5, "The model has no structural (~) paths to draw.", ha="center", va="center")
            _save(fig, out)
            return fig
        layer = _layers_for(nodes_, edges, roles)
        nlayers = len(set(layer.values()))
        counts = pd.Series(layer).value_counts()
        biggest = int(counts.max())
        W = max(8.5, 3.2 * nlayers + 1.5)
        head_h = 0.45 + (0.35 if title else 0.0)
        H = max(3.2, 1.05 * biggest + 1.6) + head_h
        fig = _figure(W, H)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, W)
        ax.set_ylim(0, H)
        ax.axis("off")
        nodes = [_Node(n, layer[n], n in latents, roles.get(n, "factor" if n in latents else "observed")) for n in nodes_]
        legend_h = 0.75
        pos = _layout(nodes, edges, width=W, height=H - legend_h - head_h, margin_x=1.05, margin_y=0.55)
        for n in pos.values():
            n.y += legend_h
        nw, nh = 1.75, 0.72
        obstacles = [(n.x - nw / 2, n.y - nh / 2, n.x + nw / 2, n.y + nh / 2) for n in pos.values()]
        placer = _LabelPlacer(obstacles)
        for r in reg.itertuples(index=False):
            if r.lhs not in pos or r.rhs not in pos:
                continue
            a, b = pos[r.rhs], pos[r.lhs]
            p0, p1 = _edge_points(a, b, nw, nh, nw, nh)
            beta = float(r.std_all) if np.isfinite(r.std_all) else float(r.est)
            p = float(r.pvalue) if r.pvalue is not None else math.nan
            sig = np.isfinite(p) and p < alpha
            _arrow(ax, p0, p1, positive=beta >= 0, dashed=not sig, lw=2.0 if sig else 1.4)
            label = _num(beta, 2) + stars(p)
            lw_, lh_ = 0.105 * len(label) + 0.12, 0.3
            x, y = placer.place(p0, p1, lw_, lh_)
            ax.text(x, y, label, ha="center", va="center", fontsize=9.5, zorder=5,
                    color=POS if beta >= 0 else NEG, fontweight="bold" if sig else "normal",
                    bbox={"boxstyle": "round,pad=0.18", "facecolor": "white", "edgecolor": "none", "alpha": 0.95})
        # covariances between structural variables (user-written, e.g. CompTrust ~~ GoodTrust)
        cov = est[(est["op"] == "~~") & (est["lhs"] != est["rhs"])]
        if "user" in cov:
            cov = cov[cov["user"] == 1]
        for r in cov.itertuples(index=False):
            if r.lhs not in pos or r.rhs not in pos:
                continue
            a, b = pos[r.lhs], pos[r.rhs]
            if abs(a.x - b.x) > 1e-9:
                continue  # only between variables in the same column
            top, bot = (a, b) if a.y > b.y else (b, a)
            x0 = a.x + (nw / 2 if layer[a.name] == max(layer.values()) else -nw / 2)
            side = 1 if layer[a.name] == max(layer.values()) else -1
            p0, p1 = (x0, top.y - nh * 0.2), (x0, bot.y + nh * 0.2)
            patch = FancyArrowPatch(p0, p1, arrowstyle="<|-|>,head_length=0.5,head_width=0.25",
                                    mutation_scale=12, lw=1.1, color=GREY,
                                    connectionstyle=f"arc3,rad={-0.35 * side}", zorder=1)
            ax.add_patch(patch)
            p = float(r.pvalue) if r.pvalue is not None else math.nan
            val = float(r.std_all) if np.isfinite(r.std_all) else float(r.est)
            mid_x = x0 + side * (0.35 * abs(p0[1] - p1[1]) * 0.5 + 0.08)
            ax.text(mid_x, (top.y + bot.y) / 2, "r = " + _num(val, 2) + stars(p),
                    ha="left" if side > 0 else "right", va="center",
                    fontsize=8.5, color=GREY, zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"})
        for n in pos.values():
            sub = ""
            if n.name in r2 and np.isfinite(r2[n.name]):
                sub = "R\u00b2 = " + _num(float(r2[n.name]), 2)
            _draw_node(ax, n, nw, nh, n.name, fill=_ROLE_FILL.get(n.role, "#EEEEEE"), fontsize=10, sub=sub)
        # column headings
        heads = _column_heads(layer, roles)
        for k, text in heads.items():
            xs = [n.x for n in pos.values() if n.layer == k]
            if xs:
                ax.text(xs[0], H - (0.62 if title else 0.28), text, ha="center", va="center", fontsize=10.5,
                        color="#333333", style="italic")
        if title:
            ax.text(W / 2, H - 0.2, title, ha="center", va="center", fontsize=12, fontweight="bold")
        # legend
        handles = [
            Line2D([0], [0], color=POS, lw=2, marker=">", markersize=7, markerfacecolor=POS, label="positive (filled head)"),
            Line2D([0], [0], color=NEG, lw=2, marker=">", markersize=7, markerfacecolor="white",
                   markeredgecolor=NEG, label=f"negative ({MINUS}, hollow head)"),
            Line2D([0], [0], color=GREY, lw=1.4, ls=(0, (5, 3)), label=f"dashed: p \u2265 {_num(alpha, 2)}"),
        ]
        group_txt = ""
        labels = getattr(fit, "group_labels", None)
        if labels and len(labels) >= group:
            group_txt = f"Group: {labels[group - 1]}.  "
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.005, 0.2 / H), ncol=3, frameon=False,
                  fontsize=9, handlelength=2.6)
        ax.text(0.2, 0.17, f"{group_txt}Standardized estimates (std.all); * p < .05, ** p < .01, *** p < .001",
                ha="left", va="center", fontsize=8.5, color="#333333")
        _save(fig, out)
        return fig


def _column_heads(layer: Mapping[str, int], roles: Mapping[str, str]) -> dict[int, str]:
    names = {"asymmetry": "Asymmetries", "moderator": "Asymmetries", "interaction": "Asymmetries",
             "trust": "Inter-organisational trust", "outcome": "Integrated-care outcomes"}
    out: dict[int, str] = {}
    for n, k in layer.items():
        r = roles.get(n)
        if r in names and k not in out:
            out[k] = names[r]
    return out


# ====================================================================================
# the conceptual Fig. 1
# ====================================================================================
def figure_fig1(spec: Any = "fig1", out: str | os.PathLike | None = None, *, caption: str | None = None):
    """The conceptual Fig. 1 of Islam, Li, Johnson & Lauchande (2020), redrawn from a spec.

    Parameters
    ----------
    spec : str or ModelSpec
        ``"fig1"`` (default) or any spec with roles; a bare ``.lav`` spec is drawn
        with inferred layers.
    out : path, optional
        Save the figure there (.png, .svg or .pdf).
    caption : str, optional
        Default: the paper's caption for the ``fig1`` family, the spec title otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Boxes carry the constructs' labels; arrows the expected sign from the spec
    (``+`` filled head, ``-`` hollow head, ``?`` grey). A latent interaction
    (``fig1_moderated``) is drawn as a moderating arrow onto the path it moderates.
    """
    from matplotlib.lines import Line2D

    from ..library.specs import load_spec

    spec = load_spec(spec)
    nodes_, edges, _latents, roles = _structure(None, spec)
    inter = dict(getattr(spec, "interactions", {}) or {})
    # the interaction is drawn as moderation, not as a box
    nodes_ = [n for n in nodes_ if n not in inter]
    edges_draw = [(a, b) for a, b in edges if a not in inter]
    sign = {(p.rhs, p.lhs): p.sign for p in spec.paths}
    if caption is None:
        caption = FIG1_CAPTION if spec.name.startswith("fig1") else spec.title
    with _style():
        if not nodes_:
            fig = _figure(7, 2)
            ax = fig.add_axes((0, 0, 1, 1))
            ax.axis("off")
            ax.text(0.5, 0.5, f"Spec {spec.name!r} has no structural paths to draw.", ha="center", va="center")
            _save(fig, out)
            return fig
        layer = _layers_for(nodes_, edges_draw, roles)
        nlayers = len(set(layer.values()))
        biggest = int(pd.Series(layer).value_counts().max())
        W = max(9.0, 3.9 * nlayers + 0.8)
        H = max(3.5, 1.15 * biggest + 2.2)
        fig = _figure(W, H)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, W)
        ax.set_ylim(0, H)
        ax.axis("off")
        foot = 1.05
        nodes = [_Node(n, layer[n], False, roles.get(n, "factor")) for n in nodes_]
        pos = _layout(nodes, edges_draw, width=W, height=H - foot - 0.45, margin_x=1.45, margin_y=0.5)
        for n in pos.values():
            n.y += foot
        nw, nh = 2.75, 0.8
        placer = _LabelPlacer([(n.x - nw / 2, n.y - nh / 2, n.x + nw / 2, n.y + nh / 2) for n in pos.values()])
        mids: dict[tuple[str, str], tuple[float, float]] = {}
        for a_, b_ in edges_draw:
            a, b = pos[a_], pos[b_]
            p0, p1 = _edge_points(a, b, nw, nh, nw, nh)
            s = sign.get((a_, b_), "?")
            _arrow(ax, p0, p1, positive=None if s == "?" else s == "+", dashed=False, lw=1.6)
            mids[(a_, b_)] = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2)
            txt = {"+": "+", "-": MINUS}.get(s, "?")
            x, y = placer.place(p0, p1, 0.3, 0.3, prefs=(0.72, 0.62, 0.82, 0.5))
            ax.text(x, y, txt, ha="center", va="center", fontsize=12, fontweight="bold",
                    color={"+": POS, "-": NEG}.get(s, GREY), zorder=5,
                    bbox={"boxstyle": "circle,pad=0.12", "facecolor": "white", "edgecolor": "none"})
        for k, (moderated, moderator) in inter.items():
            target = next((b for a, b in edges if a == k), None)
            if target is None or (moderated, target) not in mids or moderator not in pos:
                continue
            mx, my = mids[(moderated, target)]
            src = pos[moderator]
            p0 = (src.x + nw / 2 * 0.6, src.y - nh / 2 if src.y > my else src.y + nh / 2)
            _arrow(ax, p0, (mx, my), positive=None, dashed=True, lw=1.3, color=PURPLE, rad=-0.2)
            ax.text((p0[0] + mx) / 2 + 0.1, (p0[1] + my) / 2, "moderates", fontsize=8, color=PURPLE,
                    ha="left", va="center", style="italic")
        for n in pos.values():
            label = spec.labels.get(n.name, n.name)
            text = _wrap(label, 30)
            _draw_node(ax, n, nw, nh, text, fill=_ROLE_FILL.get(n.role, "#EEEEEE"), bold=False,
                       fontsize=9.5 if text.count("\n") < 2 else 8.8)
        heads = _column_heads(layer, roles)
        for k, text in heads.items():
            xs = [n.x for n in pos.values() if n.layer == k]
            if xs:
                ax.text(xs[0], H - 0.28, text, ha="center", va="center", fontsize=11, fontweight="bold",
                        color="#222222")
        handles = [
            Line2D([0], [0], color=POS, lw=2, marker=">", markersize=7, markerfacecolor=POS, label="expected +"),
            Line2D([0], [0], color=NEG, lw=2, marker=">", markersize=7, markerfacecolor="white",
                   markeredgecolor=NEG, label=f"expected {MINUS}"),
        ]
        if any(s == "?" for s in sign.values()) or not sign:
            handles.append(Line2D([0], [0], color=GREY, lw=2, label="no stated sign"))
        ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(0.995, 0.06), ncol=len(handles),
                  frameon=False, fontsize=9)
        src = f"  Redrawn from spec '{spec.name}'"
        if spec.name.startswith("fig1"):
            src += f" after {FIG1_SOURCE}."
        else:
            src += "."
        fig_no = "Figure 1" if spec.name.startswith("fig1") else "Figure"
        ax.text(0.25, 0.62, _wrap(f"{fig_no}. {caption}.", 110), ha="left", va="center", fontsize=10,
                style="italic")
        ax.text(0.25, 0.25, src.strip(), ha="left", va="center", fontsize=8.5, color="#333333")
        _save(fig, out)
        return fig


# ====================================================================================
# reliability and validity
# ====================================================================================
def _cutoff(stat: str, default: float) -> float:
    from ..analysis.cutoffs import load_cutoffs

    tab = load_cutoffs().set_index("statistic")
    return float(tab.at[stat, "threshold"]) if stat in tab.index else default


def reliability_chart(rel: pd.DataFrame, *, out: str | os.PathLike | None = None):
    """Reliability (alpha, omega, CR), AVE and the largest HTMT per construct,
    each against its published cut-off (dotted line). Bars on the wrong side of
    the cut-off are hatched.

    Parameters
    ----------
    rel : DataFrame
        The table of :func:`asymtrust.reliability` (index: construct).
    """
    rel = rel.copy()
    lvs = list(rel.index)[::-1]
    panels = [
        ("Internal consistency", [("alpha", "\u03b1", SKY), ("omega", "\u03c9", BLUE), ("cr", "CR", GREEN)],
         _cutoff("alpha", 0.70), ">="),
        ("Average variance extracted", [("ave", "AVE", ORANGE)], _cutoff("ave", 0.50), ">="),
        ("Discriminant validity", [("htmt_max", "largest HTMT", PURPLE)], _cutoff("htmt", 0.85), "<"),
    ]
    panels = [p for p in panels if any(c in rel and rel[c].notna().any() for c, _, _ in p[1])]
    with _style():
        fig = _figure(max(8.0, 3.2 * len(panels)), 0.42 * len(lvs) + 1.9)
        axes = fig.subplots(1, max(len(panels), 1), sharey=True, squeeze=False)[0]
        y = np.arange(len(lvs))
        for ax, (title, cols, thr, rule) in zip(axes, panels):
            cols = [c for c in cols if c[0] in rel]
            k = len(cols)
            h = 0.8 / k
            for i, (col, lab, colour) in enumerate(cols):
                vals = rel.loc[lvs, col].astype(float).to_numpy()
                off = (i - (k - 1) / 2) * h
                bad = (vals < thr) if rule.startswith(">") else (vals >= thr)
                bars = ax.barh(y + off, np.nan_to_num(vals), height=h * 0.92, color=colour, label=lab,
                               edgecolor="#333333", lw=0.4)
                for bar, b in zip(bars, bad):
                    if b:
                        bar.set_hatch("////")
                        bar.set_edgecolor("#222222")
            ax.axvline(thr, color="#222222", ls=":", lw=1.4)
            sym = "\u2265" if rule == ">=" else "<"
            ax.text(thr, len(lvs) - 0.35, f" {sym} {_num(thr, 2)}",
                    ha="left", va="bottom", fontsize=8.5)
            ax.set_title(title, fontsize=10.5)
            ax.set_xlim(0, 1.0)
            ax.set_ylim(-0.6, len(lvs) - 0.1)
            ax.grid(axis="x", color="#EEEEEE", lw=0.6)
            ax.set_axisbelow(True)
            if k > 1:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09 * 6 / (0.42 * len(lvs) + 1.9)),
                          fontsize=8.5, frameon=False, ncol=k, handlelength=1.2, columnspacing=1.0)
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(lvs)
        method = str(rel.attrs.get("htmt_method", "htmt2")).upper()
        for ax, p in zip(axes, panels):
            if p[0] == "Discriminant validity":
                ax.set_title(f"Discriminant validity (largest {method})", fontsize=10.5)
        fig.text(0.01, 0.015, "Dotted line: published cut-off (see the table for sources). Hatched bar: fails it.",
                 fontsize=8.5, color="#333333")
        fig.subplots_adjust(left=0.13, right=0.98, top=0.93, bottom=0.2, wspace=0.12)
        _save(fig, out)
        return fig


# ====================================================================================
# residual correlations
# ====================================================================================
def residual_correlations(fit: Any, group: int = 1) -> pd.DataFrame:
    """Sample minus model-implied correlations of the observed variables
    (lavaan's ``residuals(fit, type = "cor.bollen")``)."""
    s = fit.sample[group - 1]["cov"]
    m = fit.implied[group - 1]["cov"]
    s = pd.DataFrame(s)
    m = pd.DataFrame(m).loc[s.index, s.columns]

    def cor(c: pd.DataFrame) -> pd.DataFrame:
        d = np.sqrt(np.diag(c.to_numpy()))
        return pd.DataFrame(c.to_numpy() / np.outer(d, d), index=c.index, columns=c.columns)

    return cor(s) - cor(m)


def _residual_panels(fit: Any, group: int) -> list[tuple[str, pd.DataFrame]]:
    """The residual correlation matrices to draw: one, or for a two-level fit one per level
    (lavaan's ``lavResiduals(type = "cor.bollen")`` per level, :mod:`asymtrust.engine.diagnostics`)."""
    est = fit.estimates
    if "level" in est.columns and est["level"].astype(str).nunique() > 1:
        blocks = [b for b in fit.residuals(type="cor.bollen", se=False) if int(b["group"]) == group]
        return [(str(b["level"]), b["cov"]) for b in blocks]
    return [("", residual_correlations(fit, group))]


def _heatmap_panel(ax, res: pd.DataFrame, owner: dict, lim: float, cmap, annotate_above: float) -> tuple[Any, int]:
    """One lower-triangle heat map of residual correlations on ``ax``, with lines between the
    indicator blocks of each factor and the large cells labelled; returns the image and the
    number of labelled cells."""
    p = res.shape[0]
    vals = res.to_numpy(dtype=float).copy()
    np.fill_diagonal(vals, np.nan)
    shown = np.where(np.tril(np.ones_like(vals, dtype=bool), k=0), vals, np.nan)
    im = ax.imshow(shown, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
    fs = 8 if p <= 20 else (7 if p <= 36 else 5.5)
    ax.set_xticks(range(p))
    ax.set_yticks(range(p))
    ax.set_xticklabels(res.columns, rotation=90, fontsize=fs)
    ax.set_yticklabels(res.index, fontsize=fs)
    for sp in ax.spines.values():
        sp.set_visible(False)
    ax.tick_params(length=0)
    names = list(res.index)
    for i in range(1, p):
        if owner.get(names[i]) != owner.get(names[i - 1]):
            ax.plot([-0.5, i - 0.5], [i - 0.5, i - 0.5], color="#888888", lw=0.6)
            ax.plot([i - 0.5, i - 0.5], [i - 0.5, p - 0.5], color="#888888", lw=0.6)
    n_big = 0
    for i in range(p):
        for j in range(i):
            v = vals[i, j]
            if np.isfinite(v) and abs(v) >= annotate_above:
                n_big += 1
                ax.text(j, i, _num(v, 2), ha="center", va="center", fontsize=max(fs - 0.5, 5.5),
                        color="white" if abs(v) > 0.6 * lim else "black")
    return im, n_big


def residual_heatmap(fit: Any, *, group: int = 1, annotate_above: float = 0.10,
                     out: str | os.PathLike | None = None):
    """Heat map of the residual correlations (sample minus model-implied); for a two-level
    model one panel per level (within and between).

    Cells with an absolute residual at or above ``annotate_above`` are labelled
    with their value. Blue: the model under-predicts the correlation; vermilion:
    over-predicts.
    """
    from matplotlib.colors import LinearSegmentedColormap

    panels = _residual_panels(fit, group)
    offdiag = [np.abs(r.to_numpy(dtype=float)[~np.eye(r.shape[0], dtype=bool)]) for _, r in panels]
    # a fixed minimum range, so that a well-fitting model does not look alarming
    lim = max([0.2] + [float(np.nanmax(v)) for v in offdiag if v.size])
    cmap = LinearSegmentedColormap.from_list("resid", [VERMILION, "#FFFFFF", BLUE])
    est = fit.estimates
    meas = est[(est["op"] == "=~")]
    if "group" in meas and len(meas):
        meas = meas[meas["group"] == meas["group"].min()]
    owner: dict = {}
    for lv, item in zip(meas["lhs"], meas["rhs"]):
        owner.setdefault(item, lv)
    with _style():
        sizes = [min(max(5.0, 0.24 * r.shape[0] + 2.6), 13.0) for _, r in panels]
        width, height = sum(sizes) + 1.0, max(sizes)
        fig = _figure(width, height)
        left, n_big, n_all = 0.08 * sizes[0] / width, 0, 0
        for (level, res), size in zip(panels, sizes):
            h = 0.85 * size / height  # panels aligned at the top
            ax = fig.add_axes((left, 0.94 - h, 0.78 * size / width, h))
            im, k = _heatmap_panel(ax, res, owner, lim, cmap, annotate_above)
            n_big += k
            n_all += res.shape[0] * (res.shape[0] - 1) // 2
            if level:
                ax.set_title(f"{level} level", fontsize=10)
            last = left
            left += size / width
        # one panel: the colour bar sits in its empty upper triangle; several: right of the last panel
        at = 0.64 if len(panels) == 1 else 0.84
        cax = fig.add_axes((last + at * sizes[-1] / width, 0.55, 0.022 * sizes[-1] / width, 0.32))
        cb = fig.colorbar(im, cax=cax)
        cb.set_label("residual correlation", fontsize=9)
        cb.ax.tick_params(labelsize=8)
        ttl = "Residual correlations (sample \u2212 model-implied)"
        labels = getattr(fit, "group_labels", None)
        if labels:
            ttl += f", group {labels[group - 1]}"
        fig.suptitle(ttl, fontsize=11, x=0.08 * sizes[0] / width, ha="left") if len(panels) > 1 else \
            fig.axes[0].set_title(ttl, fontsize=11)
        fig.text(0.08 * sizes[0] / width, 0.015, f"Blue: the model under-predicts the correlation; vermilion: "
                 f"over-predicts. Labelled cells: |residual| \u2265 {_num(annotate_above, 2)} ({n_big} of {n_all}).",
                 fontsize=8.5, color="#333333")
        _save(fig, out)
        return fig


# ====================================================================================
# indirect effects
# ====================================================================================
def _effect_label(row: Mapping[str, Any]) -> str:
    path = str(row.get("path", "") or "")
    if path:
        return path.replace("->", "\u2192")
    return str(row.get("effect", ""))


def effects_forest(effects: pd.DataFrame, *, value: str = "est", out: str | os.PathLike | None = None,
                   title: str = "Indirect effects"):
    """Forest plot of effects with their confidence intervals.

    Parameters
    ----------
    effects : DataFrame
        Columns ``effect`` or ``path`` (label), ``est`` (or ``value``),
        ``ci_lower``, ``ci_upper``; optional ``method`` (CI method, shown in the
        axis label).
    value : str
        Column plotted as the point estimate.

    Notes
    -----
    Intervals that exclude zero have filled markers; those that include zero
    hollow markers (not colour alone). The estimate and interval are printed at
    the right.
    """
    df = effects.reset_index(drop=True)
    with _style():
        if df.empty:
            fig = _figure(7, 1.6)
            ax = fig.add_axes((0, 0, 1, 1))
            ax.axis("off")
            ax.text(0.5, 0.5, "No indirect effects to plot.", ha="center", va="center")
            _save(fig, out)
            return fig
        labels = [_effect_label(r) for r in df.to_dict("records")]
        n = len(df)
        fig = _figure(11.0, 0.36 * n + 1.5)
        width_lab = min(0.5, 0.0068 * max(len(s) for s in labels) + 0.04)
        ax = fig.add_axes((width_lab, 0.9 / (0.36 * n + 1.5), 0.78 - width_lab, 1 - 1.35 / (0.36 * n + 1.5)))
        y = np.arange(n)[::-1]
        est = df[value].astype(float).to_numpy()
        lo = df["ci_lower"].astype(float).to_numpy()
        hi = df["ci_upper"].astype(float).to_numpy()
        excl = (lo > 0) | (hi < 0)
        for yi, e, a, b, ex in zip(y, est, lo, hi, excl):
            colour = POS if e >= 0 else NEG
            if np.isfinite(a) and np.isfinite(b):
                ax.plot([a, b], [yi, yi], color=colour, lw=1.8, solid_capstyle="butt")
                ax.plot([a, a], [yi - 0.15, yi + 0.15], color=colour, lw=1.2)
                ax.plot([b, b], [yi - 0.15, yi + 0.15], color=colour, lw=1.2)
            ax.plot([e], [yi], marker="D" if e >= 0 else "o", markersize=6.5, color=colour,
                    markerfacecolor=colour if ex else "white", markeredgewidth=1.5, zorder=3)
        ax.axvline(0, color="#222222", lw=1, ls=":")
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8.5 if n > 12 else 9)
        ax.set_ylim(-0.7, n - 0.3)
        finite = np.concatenate([x[np.isfinite(x)] for x in (est, lo, hi)])
        span = (finite.min(), finite.max()) if finite.size else (-1, 1)
        pad = 0.08 * (span[1] - span[0] or 1)
        ax.set_xlim(min(span[0], 0) - pad, max(span[1], 0) + pad)
        ax.grid(axis="x", color="#EEEEEE", lw=0.6)
        ax.set_axisbelow(True)
        method = ""
        if "method" in df and df["method"].notna().any():
            method = f" ({', '.join(sorted(set(map(str, df['method'].dropna()))))})"
        ax.set_xlabel(f"effect with 95% CI{method}")
        ax.set_title(title, fontsize=11, loc="left")
        trans = ax.get_yaxis_transform()
        for yi, e, a, b in zip(y, est, lo, hi):
            ax.text(1.02, yi, f"{_num(e, 3, lead=True)} [{_num(a, 3, lead=True)}, {_num(b, 3, lead=True)}]",
                    transform=trans, ha="left", va="center", fontsize=8.5, family="DejaVu Sans Mono")
        ax.text(1.02, n - 0.3, "estimate [95% CI]", transform=trans, ha="left", va="bottom", fontsize=8.5,
                fontweight="bold")
        fig.text(0.01, 0.015, "Filled marker: CI excludes 0; hollow: includes 0.", fontsize=8.5, color="#333333")
        _save(fig, out)
        return fig


# ====================================================================================
# invariance
# ====================================================================================
def invariance_chart(inv: pd.DataFrame, *, threshold: float = 0.01, out: str | os.PathLike | None = None):
    """Drop in CFI from each invariance level to the previous one.

    Parameters
    ----------
    inv : DataFrame
        One row per level in order (configural, metric, scalar, strict), index or
        column ``level``, with a ``cfi`` column (and optionally ``delta_cfi``).
    threshold : float
        Cheung & Rensvold (2002): a CFI drop larger than .01 rejects the level.

    Notes
    -----
    The drop is computed from the ``cfi`` column, CFI(previous) - CFI(level), so
    the chart does not depend on a sign convention. Levels whose drop exceeds
    the threshold are hatched and marked "rejected".
    """
    df = inv.copy()
    if "level" in df.columns:
        df = df.set_index("level")
    levels = [str(x) for x in df.index]
    col = "cfi_robust" if "cfi_robust" in df.columns and df["cfi_robust"].notna().all() else "cfi"
    if col == "cfi" and "cfi_scaled" in df.columns and df["cfi_scaled"].notna().all():
        col = "cfi_scaled"  # WLSMV ladder: lavaan leaves the robust CFI of constrained levels NA
    cfi = df[col].astype(float).to_numpy()
    drop = np.r_[np.nan, cfi[:-1] - cfi[1:]]
    with _style():
        fig = _figure(8.5, 3.6)
        ax = fig.add_axes((0.09, 0.2, 0.52, 0.68))
        ax2 = fig.add_axes((0.7, 0.2, 0.28, 0.68))
        x = np.arange(len(levels))
        for xi, d in zip(x[1:], drop[1:]):
            bad = np.isfinite(d) and d > threshold
            bar = ax.bar(xi, d if np.isfinite(d) else 0, color=VERMILION if bad else SKY, edgecolor="#222222",
                         lw=0.6, width=0.6, hatch="////" if bad else None)[0]
            ax.text(xi, max(d, 0) + 0.0008 if np.isfinite(d) else 0.0008,
                    (_num(d, 3) if np.isfinite(d) else "NA") + ("\nrejected" if bad else ""),
                    ha="center", va="bottom", fontsize=8.5)
            del bar
        ax.axhline(threshold, color="#222222", ls=":", lw=1.4)
        ax.text(0.45, threshold, f"{_num(threshold, 2)} ", va="bottom", ha="left", fontsize=8.5)
        ax.axhline(0, color="#222222", lw=0.8)
        ax.set_xticks(x[1:])
        ax.set_xticklabels([f"{a}\nvs {b}" for a, b in zip(levels[1:], levels[:-1])], fontsize=9)
        ax.set_xlim(0.4, len(levels) - 0.4)
        top = np.nanmax(np.r_[drop[1:], threshold]) if len(levels) > 1 else threshold
        bottom = min(0.0, float(np.nanmin(drop[1:])) if len(levels) > 1 and np.isfinite(drop[1:]).any() else 0.0)
        ax.set_ylim(bottom * 1.3 - 0.001, top * 1.45 + 0.002)
        ax.set_ylabel("drop in CFI")
        ax.set_title("\u0394CFI between invariance levels", fontsize=10.5, loc="left")
        ax2.plot(x, cfi, marker="o", color=BLUE, lw=1.5)
        for xi, c in zip(x, cfi):
            ax2.annotate(_num(c, 3), (xi, c), xytext=(0, 7), textcoords="offset points", fontsize=8.5,
                         ha="center", va="bottom")
        ax2.set_xticks(x)
        ax2.set_xticklabels(levels, rotation=30, ha="right", fontsize=8.5)
        lo = np.nanmin(cfi) if np.isfinite(cfi).any() else 0.9
        hi = np.nanmax(cfi) if np.isfinite(cfi).any() else 1.0
        ax2.set_ylim(lo - 0.01, min(1.0, hi + 0.012) + 0.002)
        ax2.set_title("CFI per level", fontsize=10.5, loc="left")
        fig.text(0.01, 0.02, f"Dotted line: a drop above {_num(threshold, 2)} rejects the level "
                 "(Cheung & Rensvold 2002). Hatched bars: rejected.", fontsize=8.5, color="#333333")
        _save(fig, out)
        return fig


def group_paths_chart(table: pd.DataFrame, *, out: str | os.PathLike | None = None):
    """Standardized structural paths per group, with 95% CIs.

    Parameters
    ----------
    table : DataFrame
        Columns ``path`` (label), ``group`` (label), ``std_all``, ``std_ci_lower``,
        ``std_ci_upper``.
    """
    paths = list(dict.fromkeys(table["path"]))
    groups = list(dict.fromkeys(table["group"]))
    markers = ["o", "s", "^", "D", "v", "P", "X"]
    colours = [BLUE, ORANGE, GREEN, PURPLE, VERMILION, SKY, GREY]
    with _style():
        height = 0.5 * len(paths) + 1.9
        fig = _figure(9.5, height)
        ax = fig.add_axes((0.3, 0.9 / height, 0.67, 1 - 1.5 / height))
        y0 = np.arange(len(paths))[::-1]
        k = len(groups)
        for gi, g in enumerate(groups):
            sub = table[table["group"] == g].set_index("path")
            off = ((k - 1) / 2 - gi) * (0.7 / max(k, 1))  # first group on top
            for yi, p in zip(y0, paths):
                if p not in sub.index:
                    continue
                r = sub.loc[p]
                yy = yi + off
                ax.plot([r["std_ci_lower"], r["std_ci_upper"]], [yy, yy], color=colours[gi % 7], lw=1.4)
                ax.plot([r["std_all"]], [yy], marker=markers[gi % 7], color=colours[gi % 7], markersize=6,
                        ls="none", label=str(g) if yi == y0[0] else None)
        ax.axvline(0, color="#222222", lw=1, ls=":")
        ax.set_yticks(y0)
        ax.set_yticklabels([p.replace("->", "\u2192") for p in paths], fontsize=9)
        ax.set_ylim(-0.6, len(paths) - 0.4)
        ax.set_xlabel("standardized estimate (std.all) with 95% CI")
        ax.grid(axis="x", color="#EEEEEE", lw=0.6)
        ax.set_axisbelow(True)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.63, 1.0 - 0.08 / height), ncol=k,
                   frameon=False)
        _save(fig, out)
        return fig


# ====================================================================================
# power
# ====================================================================================
def _param_label(p: Any) -> str:
    """``"GoodTrust~CapImb"`` -> ``"CapImb → GoodTrust"``; chains keep their arrows."""
    text = str(p)
    if "~" in text and "->" not in text and text.count("~") == 1:
        lhs, rhs = text.split("~")
        return f"{rhs.strip()} \u2192 {lhs.strip()}"
    return text.replace("->", "\u2192")


def power_curve(df: pd.DataFrame, out: str | os.PathLike | None = None, *, target: float = 0.80,
                title: str = "Monte Carlo power by sample size"):
    """Power curves: one line per parameter over the sample sizes.

    Parameters
    ----------
    df : DataFrame
        Columns ``n``, ``parameter`` and ``power`` (long format, as
        :func:`asymtrust.power` returns). With a ``kind`` column holding both
        ``path`` and ``indirect``, structural paths and indirect effects get a
        panel each.
    out : path, optional
        Also save the figure there (.png, .svg or .pdf).
    target : float
        Reference line (conventional 80% power).
    """
    need = {"n", "parameter", "power"}
    missing = need - set(df.columns)
    if missing:
        from ..exceptions import OptionError

        raise OptionError(f"power_curve needs columns n, parameter, power; missing {', '.join(sorted(missing))}")
    groups: list[tuple[str, pd.DataFrame]] = [("", df)]
    if "kind" in df.columns and df["kind"].nunique() > 1:
        names = {"path": "Structural paths", "indirect": "Indirect effects"}
        groups = [(names.get(str(k), str(k)), df[df["kind"] == k]) for k in dict.fromkeys(df["kind"])]
    markers = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
    styles = ["solid", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2))]
    colours = [BLUE, VERMILION, GREEN, ORANGE, PURPLE, SKY, GREY]
    ns = sorted(set(pd.to_numeric(df["n"]).tolist()))
    with _style():
        k = len(groups)
        panel_h = 4.2
        H = k * panel_h + 0.3
        fig = _figure(10.5, H)
        for gi, (label, sub_df) in enumerate(groups):
            bottom = (H - (gi + 1) * panel_h + 0.62) / H
            ax = fig.add_axes((0.08, bottom, 0.5, (panel_h - 1.1) / H))
            params = list(dict.fromkeys(sub_df["parameter"]))
            for i, p in enumerate(params):
                sub = sub_df[sub_df["parameter"] == p].sort_values("n")
                ax.plot(sub["n"], sub["power"], marker=markers[i % len(markers)],
                        ls=styles[(i // 7) % len(styles)], color=colours[i % len(colours)], lw=1.5, markersize=5,
                        label=_param_label(p))
            ax.axhline(target, color="#222222", ls=":", lw=1.3)
            ax.set_ylim(0, 1.02)
            if len(ns) <= 12:
                ax.set_xticks(ns)
            ax.text(1.0, target, f"{round(target * 100)}% ", transform=ax.get_yaxis_transform(), va="bottom",
                    ha="right", fontsize=8.5)
            ax.set_xlabel("sample size N")
            ax.set_ylabel("power (p < .05)")
            ax.set_title(label or title, fontsize=11, loc="left")
            ax.grid(color="#EEEEEE", lw=0.6)
            ax.set_axisbelow(True)
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7.5 if len(params) > 10 else 8.5,
                      frameon=False, ncol=1, handlelength=2.4)
        _save(fig, out)
        return fig
