"""asymtrust: structural equation modelling of partner asymmetries, inter-organisational
trust and integrated care, with lavaan-parity estimation.

The public API is imported lazily so that ``import asymtrust`` and the CLI stay fast.
The package is layered; each layer imports only the layers below it::

    cli, reporting/      the command line; tables, figures, the HTML/Markdown report
    analysis/            reliability, effects, moderation, invariance, compare, power
    engine/              model -> samplestats -> estimate -> vcov -> indices/robust
                         -> standardize -> results (FitResult); fit(); resampling
    survey/              read files, moments, validate, datasets, simulate
    library/             lavaan syntax, the parameter table, bundled specs, codebook
    exceptions, outputs, _json, _paths, _resources      the ground

``tests/test_layers.py`` fails on an import that runs upward or on any import cycle.
"""
from __future__ import annotations

import importlib

from ._version import __version__

_API = {
    # model library and survey side
    "ModelSpec": "library.specs",
    "list_specs": "library.specs",
    "load_spec": "library.specs",
    "load_codebook": "library.codebook",
    "parameter_table": "library.partable",
    "list_datasets": "survey.datasets",
    "load_dataset": "survey.datasets",
    "read_survey": "survey.read",
    "validate": "survey.validation",
    "recode_reverse": "survey.validation",
    "ValidationReport": "survey.validation",
    "simulate": "survey.simulate",
    # estimation
    "fit": "engine.fit",
    "polychoric": "engine.ordinal",
    "FitResult": "engine.results",
    # reliability and validity
    "reliability": "analysis.reliability",
    "item_stats": "analysis.reliability",
    "htmt": "analysis.reliability",
    "fornell_larcker": "analysis.reliability",
    "cross_loadings": "analysis.reliability",
    "harman": "analysis.reliability",
    "cmv_one_factor": "analysis.reliability",
    # effects, groups, comparison, power
    "effects": "analysis.effects",
    "moderation": "analysis.moderation",
    "indprod": "analysis.moderation",
    "jn_table": "analysis.moderation",
    "path_equality": "analysis.invariance",
    "Comparison": "analysis.compare",
    "load_cutoffs": "analysis.cutoffs",
    "read_moments": "survey.moments",
    "invariance": "analysis.invariance",
    "compare": "analysis.compare",
    "power": "analysis.power",
    # exploratory factor analysis (issue 19)
    "efa": "analysis.efa",
    "parallel_analysis": "analysis.efa",
    "velicer_map": "analysis.efa",
    "scree": "analysis.efa",
    "kmo": "analysis.efa",
    "bartlett": "analysis.efa",
    "screen_items": "analysis.efa",
    "icc": "analysis.multilevel",
    "multilevel_reliability": "analysis.multilevel",
    # dyads: APIM and response surface analysis (issue 18)
    "dyads": "analysis.dyadic",
    "apim": "analysis.dyadic",
    "rsa": "analysis.rsa",
    # output
    "report": "reporting",
}

__all__ = sorted(_API) + ["__version__", "exceptions"]


def __getattr__(name: str):
    if name == "exceptions":
        return importlib.import_module(".exceptions", __name__)
    mod = _API.get(name)
    if mod is None:
        raise AttributeError(f"module 'asymtrust' has no attribute {name!r}")
    obj = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = obj  # later lookups skip __getattr__
    return obj


def __dir__():
    return __all__
