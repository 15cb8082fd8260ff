"""lavaan's ``estimator="ML"`` with ``cluster=`` for a single-level model (issue 16).

lavaan 0.6-14 then computes what MLR computes with clustered data, with one difference
(``lav_options_set``: "observed.information for ALL test statistics is set to h1"):

* SEs: ``se = "robust.cluster"``, the sandwich A^-1 B A^-1 / N with A the observed
  information (the Hessian) and B the first-order information of the case-wise scores
  summed within clusters (:func:`asymtrust.engine.cluster.cluster_sum`);
* test: the standard chi-square and the Yuan-Bentler (Mplus) scaled test, whose trace
  tr(B E^-1) takes for E the h1 observed information at the structured moments,
  E = sum_g (N_g / N) Delta_g' A1_g(Sigma_g, mu_g) Delta_g (``observed.information = "h1"``),
  for the model and for the baseline model; under ``missing="ml"`` A1 is the observed
  information of the incomplete-data likelihood (:class:`FIMLCluster`).

:func:`cluster_inference` swaps plain ML (and FIML) for these families when ``cluster=`` is
given; MLR keeps its own inference (the clustered sandwich and its Hessian-based test).
"""
from __future__ import annotations

import numpy as np

from ...exceptions import OptionError
from .. import robust as rb
from .base import EstimatorFamily
from .fiml import FIML
from .ml import ML


class MLCluster(ML):
    """ML estimates with lavaan's cluster-robust SEs and scaled test (``estimator="ML"``
    with ``cluster=``): :class:`ML` with ``robust`` set and the h1 information in the test."""

    name = "MLCluster"
    #: the information matrix of the Yuan-Bentler trace (:func:`asymtrust.engine.robust.yuan_bentler`)
    test_information = "h1"

    def __init__(self, robust: bool = True):
        super().__init__(robust=True)

    def information(self, obj, theta, imp, kind: str) -> np.ndarray:
        if kind != "h1":
            return super().information(obj, theta, imp, kind)
        return rb.h1_structured_information(obj.samples, obj.model.delta(imp), imp, obj.meanstructure, obj.N)


class FIMLCluster(FIML):
    """:class:`MLCluster` for incomplete data (``estimator="ML"``, ``missing="ml"``, ``cluster=``)."""

    name = "FIMLCluster"
    test_information = "h1"

    def __init__(self, robust: bool = True):
        super().__init__(robust=True)

    def for_samples(self, samples):
        return self if any(s.missing for s in samples) else MLCluster()

    def information(self, obj, theta, imp, kind: str) -> np.ndarray:
        if kind != "h1":
            return super().information(obj, theta, imp, kind)
        return rb.h1_structured_information(obj.samples, obj.model.delta(imp), imp, True, obj.N)


def cluster_inference(family: EstimatorFamily, se: str, se_arg, information: str,
                      information_arg) -> tuple[EstimatorFamily, str, str]:
    """The family, ``se`` and ``information`` of a single-level fit with ``cluster=``:
    plain ML becomes :class:`MLCluster` (lavaan's default se robust.cluster, observed
    information; ``se="standard"`` is refused as lavaan refuses it); then what lavaan
    does not combine with ``cluster=`` is refused by name
    (:func:`asymtrust.engine.cluster.check_cluster_options`)."""
    from ..cluster import check_cluster_options

    if type(family) in (ML, FIML) and not family.robust:
        if se_arg == "standard":
            raise OptionError("cluster= with se='standard': lavaan allows only se='robust' (robust.cluster) or "
                              "'none' with clustered data")
        family = MLCluster() if type(family) is ML else FIMLCluster()
        se = se_arg if se_arg is not None else family.default_se
        information = information_arg if information_arg is not None else family.default_information
    check_cluster_options(family, se=se)
    return family, se, information
