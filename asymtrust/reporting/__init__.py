"""Reports, figures and APA tables (pipeline step: results -> report).

* :func:`report` -- one call from survey data to a complete report folder
  (self-contained HTML, Markdown, CSV/JSON results, figures, LaTeX tables).
* :mod:`~asymtrust.reporting.figures` -- path diagram, the paper's Fig. 1, reliability
  chart, residual heat map, forest plot, invariance and power charts.
* :mod:`~asymtrust.reporting.tables` -- APA-style tables as DataFrames with Markdown,
  LaTeX, HTML and CSV exporters.
* :mod:`~asymtrust.reporting.cli` -- the ``asymtrust report`` and ``asymtrust figure``
  commands.

Heavy modules (matplotlib, the estimation core) are imported on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["figure_fig1", "figures", "path_diagram", "power_curve", "report", "tables"]

_LAZY = {
    "report": ("build", "report"),
    "figure_fig1": ("figures", "figure_fig1"),
    "path_diagram": ("figures", "path_diagram"),
    "power_curve": ("figures", "power_curve"),
}


def __getattr__(name: str) -> Any:
    if name in ("tables", "figures", "build", "sections", "cli"):
        return importlib.import_module(f".{name}", __name__)
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'asymtrust.reporting' has no attribute {name!r}")
    obj = getattr(importlib.import_module(f".{target[0]}", __name__), target[1])
    globals()[name] = obj
    return obj


def __dir__() -> list[str]:
    return __all__
