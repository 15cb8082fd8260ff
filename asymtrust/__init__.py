"""asymtrust: structural equation modelling of partner asymmetries, inter-organisational
trust and integrated care, with lavaan-parity estimation.

The public API is imported lazily so that ``import asymtrust`` and the CLI stay fast.
The pipeline, one module per step::

    specs / codebook / datasets  ->  survey (read)  ->  validation  ->  reliability
    syntax -> partable -> model -> samplestats -> estimate -> vcov -> indices/robust
    -> standardize -> results (FitResult)  ->  effects / invariance / compare / power
    -> report (tables, figures, html)  ->  cli
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    # model library and survey side
    "ModelSpec": "specs",
    "list_specs": "specs",
    "load_spec": "specs",
    "load_codebook": "codebook",
    "list_datasets": "datasets",
    "load_dataset": "datasets",
    "read_survey": "survey",
    "validate": "validation",
    "recode_reverse": "validation",
    "ValidationReport": "validation",
    "simulate": "simulate",
    # estimation
    "fit": "fit",
    "FitResult": "results",
    # reliability and validity
    "reliability": "reliability",
    "item_stats": "reliability",
    "htmt": "reliability",
    "fornell_larcker": "reliability",
    "cross_loadings": "reliability",
    "harman": "reliability",
    "cmv_one_factor": "reliability",
    # effects, groups, comparison, power
    "effects": "effects",
    "moderation": "moderation",
    "indprod": "moderation",
    "jn_table": "moderation",
    "path_equality": "invariance",
    "Comparison": "compare",
    "load_cutoffs": "cutoffs",
    "read_moments": "moments",
    "invariance": "invariance",
    "compare": "compare",
    "power": "power",
    # output
    "report": "reporting",
}

__all__ = sorted(_API) + ["__version__", "exceptions"]


# Public functions that share their module's name (asymtrust.fit lives in asymtrust/fit.py)
# are bound eagerly: importing a submodule sets the package attribute of the same name to
# the module, and the ``from`` import below then rebinds it to the function for good.
from .compare import compare  # noqa: E402,F401
from .effects import effects  # noqa: E402,F401
from .fit import fit  # noqa: E402,F401
from .invariance import invariance  # noqa: E402,F401
from .moderation import moderation  # noqa: E402,F401
from .reliability import reliability  # noqa: E402,F401
from .simulate import simulate  # noqa: E402,F401


def __getattr__(name: str):
    if name == "exceptions":
        return importlib.import_module(".exceptions", __name__)
    mod = _API.get(name)
    if mod is None:
        raise AttributeError(f"module 'asymtrust' has no attribute {name!r}")
    obj = getattr(importlib.import_module(f".{mod}", __name__), name)
    # bind the function over a same-named submodule attribute (e.g. asymtrust.simulate)
    globals()[name] = obj
    return obj


def __dir__():
    return __all__
