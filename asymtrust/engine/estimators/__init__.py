"""Estimator families behind one protocol (:class:`~.base.EstimatorFamily`), and the
registry ``fit()`` chooses from.

* :mod:`.base` -- the protocol, the :class:`~.base.Solution` a family's methods see and
  the :class:`~.base.Baseline` it returns;
* :mod:`.ml` -- complete-data maximum likelihood (``estimator="ML"``; ``"MLR"`` is its
  robust variant);
* :mod:`.fiml` -- full-information ML over missing-data patterns (``missing="fiml"``);
* :mod:`.ls` -- least squares for continuous data: GLS, WLS (ADF) and ULS.

Adding a family is one module and one line here: subclass ``EstimatorFamily`` (or a
family close to yours), set ``name``, ``estimator``, ``missing`` and ``drop_reason``,
implement the abstract methods, and ``register(YourFamily)`` (with ``robust="NAME"`` for
an ``estimator=`` value that runs it with robust SEs and its scaled test, as MLR for ML).
"""
from __future__ import annotations

from collections.abc import Sequence

from ...exceptions import OptionError
from .base import Baseline, EstimatorFamily, Solution
from .fiml import FIML
from .ls import GLS, ULS, WLS
from .ml import ML

__all__ = ["FAMILIES", "ROBUST", "Baseline", "EstimatorFamily", "FIML", "GLS", "ML", "ULS", "WLS", "Solution",
           "choose", "estimator_names", "missing_value", "register"]

#: registry name -> family class
FAMILIES: dict[str, type[EstimatorFamily]] = {}
#: robust variants: ``estimator=`` value -> the estimator it runs with ``robust=True``
ROBUST: dict[str, str] = {}
#: ``missing=`` values and lavaan's aliases
MISSING_ALIASES = {"listwise": "listwise", "fiml": "fiml", "ml": "fiml", "direct": "fiml", "ml.x": "fiml"}


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


def estimator_names() -> list[str]:
    """The accepted ``estimator=`` values: the families' estimators, then robust variants."""
    names = list(dict.fromkeys(cls.estimator for cls in FAMILIES.values()))
    return names + [r for r in ROBUST if r not in names]


def missing_value(missing) -> str:
    """``missing=`` normalised (``"listwise"`` or ``"fiml"``; lavaan's ``"ml"`` aliases)."""
    miss = MISSING_ALIASES.get(str(missing).lower())
    if miss is None:
        raise OptionError(f"missing must be 'listwise' or 'fiml', not {missing!r}")
    return miss


def choose(estimator: str = "ML", missing: str = "listwise", samples: Sequence | None = None) -> EstimatorFamily:
    """The family that runs ``estimator`` with ``missing``; with ``samples``, the family
    that estimates them (:meth:`EstimatorFamily.for_samples`: FIML on data without a
    missing value is complete-data ML).

    Raises :class:`~asymtrust.exceptions.OptionError` for an unknown estimator or
    ``missing`` value, or a combination no family supports.
    """
    est = str(estimator).upper()
    base = ROBUST.get(est, est)
    candidates = [cls for cls in FAMILIES.values() if cls.estimator == base]
    if not candidates:
        raise OptionError(f"estimator must be one of {', '.join(estimator_names())}, not {est!r}")
    miss = missing_value(missing)
    for cls in reversed(candidates):  # the latest registration wins
        if cls.missing == miss:
            family = cls(robust=est in ROBUST)
            return family if samples is None else family.for_samples(list(samples))
    raise OptionError(f"estimator {est} does not support missing={miss!r}")
