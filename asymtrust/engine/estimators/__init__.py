"""Estimator families behind one protocol (:class:`~.base.EstimatorFamily`), and the
registry ``fit()`` chooses from.

* :mod:`.base` -- the protocol, the :class:`~.base.Solution` a family's methods see and
  the :class:`~.base.Baseline` it returns;
* :mod:`.ml` -- complete-data maximum likelihood (``estimator="ML"``; ``"MLR"`` is its
  robust variant);
* :mod:`.fiml` -- full-information ML over missing-data patterns (``missing="fiml"``);
* :mod:`.ls` -- least squares for continuous data: GLS, WLS (ADF) and ULS;
* :mod:`.twolevel` -- two-level ML (``level:`` blocks with ``cluster=``; :data:`MULTILEVEL`);
* :mod:`.clustered` -- ``estimator="ML"`` with ``cluster=`` in a single-level model
  (cluster-robust SEs, the scaled test with lavaan's h1 information), chosen by
  :func:`.clustered.cluster_inference`;
* :mod:`.dwls` -- least squares on thresholds and polychoric correlations for ordered
  items (``ordered=``): DWLS, WLSMV, WLSM, WLS, ULS, ULSMV, in their own registry
  (:data:`ORDINAL_ESTIMATORS`, chosen by :func:`choose` when items are ordered).

Adding a family is one module and one line here: subclass ``EstimatorFamily`` (or a
family close to yours), set ``name``, ``estimator``, ``missing`` and ``drop_reason``,
implement the abstract methods, and ``register(YourFamily)`` (with ``robust="NAME"`` for
an ``estimator=`` value that runs it with robust SEs and its scaled test, as MLR for ML).
"""
from __future__ import annotations

from collections.abc import Sequence

from ...exceptions import OptionError
from .base import Baseline, EstimatorFamily, Solution
from .dwls import ORDINAL_ESTIMATORS, choose_ordinal
from .fiml import FIML
from .ls import GLS, ULS, WLS
from .ml import ML
from .twolevel import TwoLevelML
from . import twolevel_missing  # noqa: F401  (registers two-level FIML in twolevel.PREPARE)

__all__ = ["FAMILIES", "MULTILEVEL", "ROBUST", "Baseline", "EstimatorFamily", "FIML", "GLS", "ML", "ULS", "WLS",
           "Solution", "TwoLevelML", "choose", "estimator_names", "missing_value", "register"]

#: registry name -> family class
FAMILIES: dict[str, type[EstimatorFamily]] = {}
#: robust variants: ``estimator=`` value -> the estimator it runs with ``robust=True``
ROBUST: dict[str, str] = {}
#: ``missing=`` values and lavaan's aliases
MISSING_ALIASES = {"listwise": "listwise", "fiml": "fiml", "ml": "fiml", "direct": "fiml", "ml.x": "fiml"}
#: ``missing=`` values of the ordinal families (dwls.py)
ORDINAL_MISSING = {"listwise": "listwise", "pairwise": "pairwise", "available.cases": "pairwise"}


def register(family: type[EstimatorFamily], *, robust: str | None = None) -> type[EstimatorFamily]:
    """Add ``family`` to the registry under ``family.name``; ``robust`` names an
    ``estimator=`` value that runs its estimator with robust SEs and scaled tests."""
    FAMILIES[family.name] = family
    if robust:
        ROBUST[robust.upper()] = family.estimator
    return family


register(ML, robust="MLR")
register(FIML)
register(GLS)
register(WLS)
register(ULS)

#: families for multilevel data (``level:`` blocks with ``cluster=``), by number of levels;
#: fit() hands a table with levels to :func:`.twolevel.fit_twolevel`
MULTILEVEL: dict[int, type[EstimatorFamily]] = {2: TwoLevelML}


def estimator_names() -> list[str]:
    """The accepted ``estimator=`` values: the families' estimators, then robust variants."""
    names = list(dict.fromkeys(cls.estimator for cls in FAMILIES.values()))
    return names + [r for r in ROBUST if r not in names]


def missing_value(missing, ordered=None) -> str:
    """``missing=`` normalised (``"listwise"`` or ``"fiml"``; lavaan's ``"ml"`` aliases; with
    ordered items ``"listwise"`` or ``"pairwise"``)."""
    if is_ordered(ordered) and str(missing).lower() in ORDINAL_MISSING:
        return ORDINAL_MISSING[str(missing).lower()]
    miss = MISSING_ALIASES.get(str(missing).lower())
    if miss is None:
        hint = " ('pairwise' is for ordered items: name them with ordered=)" if str(missing).lower() in ORDINAL_MISSING \
            else ""
        raise OptionError(f"missing must be 'listwise' or 'fiml', not {missing!r}{hint}")
    return miss


def is_ordered(ordered) -> bool:
    """Whether lavaan's ``ordered=`` names any ordered item (True, a name or a non-empty list)."""
    if ordered is None or ordered is False:
        return False
    return ordered is True or isinstance(ordered, str) or len(list(ordered)) > 0


def estimator_label(estimator=None, ordered=None) -> str:
    """``estimator=`` upper-cased; None is lavaan's default: ML, or WLSMV with ordered items."""
    if estimator is None:
        return "WLSMV" if is_ordered(ordered) else "ML"
    return str(estimator).upper()


def choose(estimator: str | None = "ML", missing: str = "listwise", samples: Sequence | None = None, *,
           ordered=None, parameterization: str = "delta") -> EstimatorFamily:
    """The family that runs ``estimator`` with ``missing``; with ``samples``, the family
    that estimates them (:meth:`EstimatorFamily.for_samples`: FIML on data without a
    missing value is complete-data ML). With ``ordered`` items, the ordinal families
    (:data:`.dwls.ORDINAL_ESTIMATORS`).

    Raises :class:`~asymtrust.exceptions.OptionError` for an unknown estimator or
    ``missing`` value, or a combination no family supports.
    """
    if is_ordered(ordered):
        return choose_ordinal(estimator, missing, ordered, parameterization)
    if str(parameterization).lower() not in ("delta", "default"):
        raise OptionError(f"parameterization={parameterization!r} is for ordered items only: pass ordered=[items]")
    est = estimator_label(estimator)
    base = ROBUST.get(est, est)
    candidates = [cls for cls in FAMILIES.values() if cls.estimator == base]
    if not candidates:
        from .dwls import ORDINAL_ESTIMATORS

        hint = f" ({est} is for ordered items: name them with ordered=)" if est in ORDINAL_ESTIMATORS else ""
        raise OptionError(f"estimator must be one of {', '.join(estimator_names())}, not {est!r}{hint}")
    miss = missing_value(missing)
    for cls in reversed(candidates):  # the latest registration wins
        if cls.missing == miss:
            family = cls(robust=est in ROBUST)
            return family if samples is None else family.for_samples(list(samples))
    raise OptionError(f"estimator {est} does not support missing={miss!r}")
