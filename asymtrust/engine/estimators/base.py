"""The estimator-family protocol: what :func:`asymtrust.engine.fit.fit` asks of a family.

A family is everything about a fit that depends on the estimator: which rows it uses and
what it computes from them, the discrepancy function it minimises, its information
matrices and case-wise scores, its test statistic, its baseline and saturated models and
the robust indices it reports. ``fit()`` chooses a family
(:func:`asymtrust.engine.estimators.choose`) and then only calls these methods, in
lavaan's step order::

    data         family.keep_rows(nan, xpos)           rows kept in a group
                 family.drop_reason                    FitResult.dropped key of the others
    samplestats  family.sample_stats(blocks)           one GroupSample per group
                 family.for_samples(samples)           the family that estimates them
    start        family.start(comp, samples)           starting values (theta)
    optim        family.objective(model, samples)      an Objective (below), minimised by
                                                       estimate.optimise
    vcov         family.information(obj, theta, imp, "expected" | "observed")
                 family.scores(obj, imp, delta)        case-wise scores, per group
                 family.first_order(obj, imp, delta)   B = (1/N) sum_i s_i s_i'
    test         family.test_statistic(fmin, N)        chi-square of the model
                 family.baseline(sol)                  the independence model (Baseline)
                 family.loglik(sol)                    (logl of H0, logl of H1 / saturated)
                 family.robust_indices(sol, base, chisq)  scaled tests, robust indices

``robust`` (a flag of the instance) is the MLR option over a family: robust (sandwich)
standard errors and the family's scaled test; it changes the defaults ``default_se`` and
``default_information``, never the estimates.

The objective a family returns must provide what the optimiser and the information
step use: ``model``, ``evaluate(theta, need_grad=True) -> (f, grad, implied)``
(``f = inf`` where the model cannot be evaluated), ``scoring_information(implied)`` (the
metric of Fisher scoring), ``expected_information(implied)`` and
``observed_information(theta, implied)``; :class:`asymtrust.engine.estimate.Objective`
is the normal-theory one.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Protocol

import numpy as np

from ...exceptions import OptionError
from ..samplestats import GroupSample


class Objective(Protocol):
    """What :func:`asymtrust.engine.estimate.optimise` and the information step need."""

    model: Any
    samples: list
    N: int  # cases, all groups

    def evaluate(self, theta: np.ndarray, need_grad: bool = True) -> tuple[float, np.ndarray | None, list]: ...

    def scoring_information(self, imp: list) -> np.ndarray: ...

    def expected_information(self, imp: list) -> np.ndarray: ...

    def observed_information(self, theta: np.ndarray, imp: list | None = None) -> np.ndarray: ...


@dataclass
class Baseline:
    """The baseline (independence) model of a fit: its test statistic and degrees of
    freedom; ``fitted`` holds ``(partable, model, objective, OptimResult)`` when it was
    estimated (robust indices need it), None for a closed form."""

    chisq: float
    df: float
    fitted: tuple | None = None


@dataclass(eq=False)
class Solution:
    """A fitted model, as the family's information, test and index methods see it.

    The Jacobian ``delta``, the observed information ``E_obs`` and the first-order
    information ``B0`` are computed on first use, once, through the family.
    """

    family: "EstimatorFamily"
    pt: Any
    comp: Any  # asymtrust.engine.compile.Compiled
    model: Any  # asymtrust.engine.model.RamModel, fixed-x moments filled in
    obj: Any  # the family's objective
    samples: list[GroupSample]
    theta: np.ndarray
    imp: list  # implied moments at theta, per group
    fmin: float

    @property
    def N(self) -> int:
        return sum(s.nobs for s in self.samples)

    @property
    def G(self) -> int:
        return len(self.samples)

    @property
    def rep(self):
        """The reparametrisation the SEs and tests see: the compiled linear one, restricted to
        the active nonlinear / inequality constraints at ``theta`` (engine/constraints.py)."""
        general = getattr(self.comp, "general", None)
        if general is None:
            return self.comp.rep
        if "_local_rep" not in self.__dict__:
            self.__dict__["_local_rep"] = general.local_reparam(self.comp.rep, self.theta)
        return self.__dict__["_local_rep"]

    @property
    def df(self) -> int:
        return self.comp.df

    @cached_property
    def delta(self) -> list:
        return self.model.delta(self.imp)

    @cached_property
    def E_obs(self) -> np.ndarray:
        return self.family.information(self.obj, self.theta, self.imp, "observed")

    @cached_property
    def B0(self) -> np.ndarray:
        return self.family.first_order(self.obj, self.imp, self.delta)


class EstimatorFamily(ABC):
    """One estimator family. Subclass it, set the class attributes, implement the
    abstract methods and register the class (:func:`asymtrust.engine.estimators.register`).

    Class attributes
    ----------------
    name : str
        Registry name (``"ML"``, ``"FIML"``).
    estimator : str
        The ``estimator=`` value the family serves (``"ML"`` for both ML and FIML).
    missing : str
        The ``missing=`` value it serves: ``"listwise"`` or ``"fiml"``.
    drop_reason : str
        The ``FitResult.dropped`` key of the rows :meth:`keep_rows` leaves out (rows with
        every model variable missing are always dropped, under their own key).
    supports_moments : bool
        Whether it can fit from summary statistics (``sample_cov=``).
    likelihood : str
        lavaan's ``likelihood`` convention: ``"normal"`` (covariance matrix with divisor
        N, a ``sample_cov`` rescaled by (N - 1)/N) or ``"wishart"`` (the unbiased matrix,
        taken as given; N - G cases in the test, the SEs and the RMSEA family).
    default_fixed_x : bool
        ``fixed_x`` when the user gives none (lavaan's ``fixed.x = "default"``).
    """

    name: ClassVar[str]
    estimator: ClassVar[str]
    missing: ClassVar[str] = "listwise"
    drop_reason: ClassVar[str]
    supports_moments: ClassVar[bool] = False
    likelihood: str = "normal"
    #: lavaan's ``fixed.x`` default for the estimator (True for ML, False otherwise)
    default_fixed_x: ClassVar[bool] = True

    def __init__(self, robust: bool = False):
        self.robust = bool(robust)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(robust={self.robust})"

    # ------------------------------------------------------------------ options
    @property
    def default_se(self) -> str:
        """``se=`` when the user gives none."""
        return "robust" if self.robust else "standard"

    @property
    def default_information(self) -> str:
        """``information=`` when the user gives none (lavaan's defaults)."""
        return "observed" if self.robust else "expected"

    def with_likelihood(self, likelihood) -> "EstimatorFamily":
        """The family under lavaan's ``likelihood=`` option (``"default"``/``"normal"``:
        this family; a family that supports ``"wishart"`` overrides this)."""
        value = str(likelihood).lower()
        if value in ("default", "normal", self.likelihood):
            return self
        raise OptionError(f"likelihood={likelihood!r} is not available for estimator {self.estimator} "
                          f"with missing={self.missing!r}")

    # ------------------------------------------------------------------ data, samplestats
    @abstractmethod
    def keep_rows(self, nan: np.ndarray, xpos: list[int]) -> np.ndarray:
        """Boolean mask of the rows of one group to keep, from its missing-value mask
        ``nan`` (rows x model variables) and the positions ``xpos`` of the fixed-x
        covariates. Called only for groups with a missing value."""

    @abstractmethod
    def sample_stats(self, blocks: list[np.ndarray]) -> list[GroupSample]:
        """One :class:`GroupSample` per group from its kept rows (NaN = missing)."""

    def sample_from_moments(self, cov: np.ndarray, mean: np.ndarray, nobs: int) -> GroupSample:
        """A :class:`GroupSample` from summary statistics (``supports_moments`` families)."""
        raise OptionError("fitting from sample moments supports single-group ML with complete data only")

    def for_samples(self, samples: list[GroupSample]) -> "EstimatorFamily":
        """The family that estimates these samples (self, unless the data call for another,
        e.g. FIML on data without a missing value is complete-data ML)."""
        return self

    # ------------------------------------------------------------------ table hooks (ordered items)
    def default_meanstructure(self, meanstructure):
        """``meanstructure`` when the user gives none (None: lavaan's automatic rule)."""
        return meanstructure

    def bind_table(self, pt):
        """Check the parameter table before the data are read (a family may refuse it)."""
        return pt

    def table_for(self, pt, samples: list[GroupSample], build=None):
        """The parameter table the family estimates on these samples (``pt`` by default;
        ``build(ordered=...)`` rebuilds it with options read from the data)."""
        return pt

    def finish_estimates(self, est, sol: "Solution", vcov):
        """The estimates table with the family's own rows (``est`` by default)."""
        return est

    def solution_warnings(self, sol: "Solution", labels) -> list[str]:
        """Problems of the solution the family sees and fit() does not (none by default)."""
        return []

    # ------------------------------------------------------------------ start, objective
    def start(self, comp, samples: list[GroupSample]) -> np.ndarray:
        """Starting values: lavaan's (``comp.start``, :class:`~asymtrust.engine.estimate.StartPlan`)."""
        return comp.start(samples)

    @abstractmethod
    def objective(self, model, samples: list[GroupSample]) -> Objective:
        """The discrepancy function of ``model`` on ``samples`` (see :class:`Objective`)."""

    # ------------------------------------------------------------------ information, scores
    def information(self, obj: Objective, theta: np.ndarray, imp: list, kind: str) -> np.ndarray:
        """Information matrix per case: ``kind`` is ``"expected"`` or ``"observed"``."""
        if kind == "observed":
            return obj.observed_information(theta, imp)
        return obj.expected_information(imp)

    @abstractmethod
    def scores(self, obj: Objective, imp: list, delta: list) -> list[np.ndarray]:
        """Case-wise score vectors, one (n_g x n_free) matrix per group."""

    def first_order(self, obj: Objective, imp: list, delta: list) -> np.ndarray:
        """First-order information B = (1/N) sum over all cases of s_i s_i' (the meat of
        the sandwich)."""
        from ..vcov import first_order_information

        clusters = [getattr(s, "cluster", None) for s in obj.samples]  # cluster=: scores summed per cluster
        return first_order_information(self.scores(obj, imp, delta), obj.N, clusters)

    # ------------------------------------------------------------------ tests
    def test_statistic(self, fmin: float, N: int) -> float:
        """The model's test statistic from the minimum of the objective (2 N fmin, as lavaan)."""
        return 2.0 * N * fmin

    @abstractmethod
    def baseline(self, sol: Solution) -> Baseline:
        """The baseline (independence) model of ``sol``."""

    @abstractmethod
    def loglik(self, sol: Solution) -> tuple[float, float]:
        """Log-likelihood of the model and of the saturated (H1) model (NaN when the
        family has none)."""

    def robust_indices(self, sol: Solution, base: Baseline, chisq: float) -> dict[str, float]:
        """Scaled tests and robust fit indices (lavaan's ``*.scaled`` and ``*.robust``),
        added after the standard fit measures. None by default."""
        return {}


# ----------------------------------------------------------------------------- indices on ntotal
def rmsea_family(chisq: float, df: float, N: float, G: int) -> dict[str, float]:
    """RMSEA, its 90% interval and the close / not-close p-values with ``N`` cases
    (lavaan's ``lav_utils_get_ntotal``: N - G for every estimator but normal-likelihood ML)."""
    from .. import indices as ix

    out = {"rmsea": ix.rmsea(chisq, df, N, G)}
    out["rmsea_ci_lower"], out["rmsea_ci_upper"] = ix.rmsea_ci(chisq, df, N, G)
    out["rmsea_pvalue"] = ix.rmsea_pvalue(chisq, df, N, G)
    out["rmsea_notclose_pvalue"] = ix.rmsea_notclose_pvalue(chisq, df, N, G)
    return out


def ntotal_indices(chisq: float, df: float, N: float, G: int, npar: int) -> dict[str, float]:
    """Every index lavaan computes from its ``ntotal`` (N - G for the least-squares
    estimators and Wishart ML): the RMSEA family, MFI, ECVI and Hoelter's N."""
    from .. import indices as ix

    out = rmsea_family(chisq, df, N, G)
    out.update(ix.misc_indices(chisq, df, N, npar))
    return out
