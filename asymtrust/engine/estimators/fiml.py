"""Full-information maximum likelihood (lavaan's ``estimator="ML"``, ``missing="ml"``).

* rows: every row with at least one observed model variable, except rows missing a
  fixed-x covariate (``fixed.x = TRUE``);
* sample statistics: the missing-data patterns of every group, stacked by size, and the
  saturated moments by EM (when any group has a missing value, every group gets its
  patterns: the objective sums over them). On data without a missing value the fit is
  complete-data :class:`~asymtrust.engine.estimators.ml.ML` (:meth:`FIML.for_samples`);
* objective: (l1 - l0) / N, the case-wise normal likelihood pattern by pattern;
* information: observed by default (lavaan's default under ``missing="ml"``);
* baseline: the independence model, estimated; robust indices: the FIML-corrected ones
  of Zhang & Savalei (V6; V3 with ``robust``), after MLR's scaled test when ``robust``.
"""
from __future__ import annotations

import numpy as np

from .. import robust as rb
from ..data import DROP_EXO
from ..estimate import Objective
from ..samplestats import GroupSample, complete_sample, incomplete_sample
from .base import Baseline, EstimatorFamily, Solution
from .ml import ML


def fiml_samples(blocks: list[np.ndarray]) -> list[GroupSample]:
    """Sample statistics for FIML, one per group. When any group has a missing value,
    every group gets the missing-data patterns (a complete group is one pattern): the FIML
    objective sums over patterns, so a group without them would drop out of it."""
    if any(np.isnan(Xg).any() for Xg in blocks):
        return [incomplete_sample(Xg) for Xg in blocks]
    out = []
    for Xg in blocks:
        s = complete_sample(Xg)
        s.missing = False
        out.append(s)
    return out


class FIML(ML):
    """Normal-theory maximum likelihood over the missing-data patterns (MAR)."""

    name = "FIML"
    estimator = "ML"
    missing = "fiml"
    drop_reason = DROP_EXO
    supports_moments = False
    always_means = True

    @property
    def default_information(self) -> str:
        return "observed"

    def keep_rows(self, nan: np.ndarray, xpos: list[int]) -> np.ndarray:
        ok = ~nan.all(axis=1)
        if xpos:
            ok &= ~nan[:, xpos].any(axis=1)
        return ok

    def sample_stats(self, blocks: list[np.ndarray]) -> list[GroupSample]:
        return fiml_samples(blocks)

    def sample_from_moments(self, cov: np.ndarray, mean: np.ndarray, nobs: int) -> GroupSample:
        return EstimatorFamily.sample_from_moments(self, cov, mean, nobs)  # refused: FIML needs the rows

    def for_samples(self, samples: list[GroupSample]) -> EstimatorFamily:
        if any(s.missing for s in samples):
            return self
        return CompleteFIML(robust=self.robust)

    def objective(self, model, samples: list[GroupSample]) -> Objective:
        return Objective(model, samples, fiml=True)

    def baseline(self, sol: Solution) -> Baseline:
        return self._fitted_baseline(sol)

    def robust_indices(self, sol: Solution, base: Baseline, chisq: float) -> dict[str, float]:
        """MLR's scaled test (with ``robust``), then the FIML-corrected robust indices."""
        h1 = self._h1(sol)
        out: dict[str, float] = {}
        if self.robust:
            out, _, _ = rb.yuan_bentler(sol, base, chisq, h1)
        out.update(rb.fiml_corrected_indices(sol, base, h1, mlr=self.robust))
        return out


class CompleteFIML(ML):
    """``missing="ml"`` on data without a missing value: the estimates, information and
    test of complete-data ML (one pattern), and what lavaan still reports for a FIML fit:
    the estimated independence model and the FIML-corrected robust indices (which are 1,
    1 and 0 at df = 0, where the complete-data formulas have nothing to scale)."""

    baseline = FIML.baseline
    robust_indices = FIML.robust_indices
