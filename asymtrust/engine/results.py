"""The result of :func:`asymtrust.fit` (pipeline step: fit -> results).

A :class:`FitResult` is a view of the fitted parameter table: ``estimates`` is the
parameter table with estimates, SEs and standardized values; ``fit_indices`` holds
lavaan's ``fitMeasures`` under the same names (dots replaced by underscores).
Rendering (summary text, HTML) only reads these tables.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

PUBLIC_COLUMNS = ["lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue",
                  "ci_lower", "ci_upper", "std_lv", "std_all", "std_all_se"]

_HEADLINE = ["npar", "nobs", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower",
             "rmsea_ci_upper", "rmsea_pvalue", "srmr", "logl", "aic", "bic"]
_ROBUST = ["chisq_scaled", "df_scaled", "pvalue_scaled", "chisq_scaling_factor", "cfi_robust",
           "tli_robust", "rmsea_robust", "rmsea_ci_lower_robust", "rmsea_ci_upper_robust"]


_LAZY = ("estimates", "fit_indices", "implied", "sample")


@dataclass
class FitResult:
    """A fitted structural equation model.

    Attributes
    ----------
    estimates : pandas.DataFrame
        One row per parameter (free and fixed) and per ``:=`` definition, with columns
        ``lhs, op, rhs, group, label, est, se, z, pvalue, ci_lower, ci_upper, std_lv,
        std_all, std_all_se`` (95% Wald intervals, as lavaan's ``parameterEstimates``).
    fit_indices : pandas.Series
        lavaan's ``fitMeasures`` names with ``.`` replaced by ``_``.
    r2 : list of dict
        Per group, R^2 of every endogenous variable.
    converged : bool
    warnings : list of str
        Non-convergence, Heywood cases, non-positive-definite matrices, huge SEs,
        a singular information matrix. Never empty when something is improper.
        Also the data notes below (``notes``), so that every consumer shows them.
    notes : list of str
        The warnings that are about the data, not the estimates: rows dropped (one line
        per reason), variances more than 1000 times apart (lavaan's warning), ``:=``
        values that are not finite. They do not make a solution improper
        (:attr:`proper`, :attr:`problems`).
    n_read : int
        Rows given (``len(data)``); ``nobs`` sums to :attr:`n_used`.
    dropped : dict
        Reason -> number of rows left out, e.g. ``{"missing group value": 3,
        "all model variables missing": 2, "incomplete (listwise)": 10}``;
        ``n_read == n_used + sum(dropped.values())``.
    """

    partable: Any
    estimates: pd.DataFrame
    fit_indices: pd.Series
    r2: list
    converged: bool
    warnings: list
    theta: np.ndarray
    vcov: np.ndarray | None
    implied: list
    sample: list
    nobs: list
    group_labels: list | None
    options: dict
    syntax: str
    iterations: int = 0
    optimizer: str = ""
    model: Any = field(default=None, repr=False)
    samples: Any = field(default=None, repr=False)
    objective: Any = field(default=None, repr=False)
    reparam: Any = field(default=None, repr=False)
    n_read: int | None = None
    dropped: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def __getattribute__(self, name):
        # tables that are costly to build (the estimates with standardized SEs, labelled
        # moment matrices) are built on first access, so a fit used only for its fit
        # indices or in a resampling loop does not pay for them
        value = object.__getattribute__(self, name)
        if name in _LAZY and callable(value) and not isinstance(value, (pd.DataFrame, pd.Series)):
            value = value()
            object.__setattr__(self, name, value)
        return value

    # ------------------------------------------------------------------ views
    @property
    def ngroups(self) -> int:
        return len(self.nobs)

    @property
    def n_used(self) -> int:
        """Rows used in the estimation (the sum of ``nobs`` over groups)."""
        return int(sum(self.nobs))

    @property
    def problems(self) -> list:
        """The warnings about the estimates (improper solutions, no SEs, non-convergence):
        :attr:`warnings` without the data notes (:attr:`notes`)."""
        notes = set(self.notes)
        return [w for w in self.warnings if w not in notes]

    @property
    def proper(self) -> bool:
        """True when the fit converged and no improper-solution warning was raised
        (data notes such as dropped rows do not count)."""
        return self.converged and not self.problems

    def parameter_estimates(self, *, free_only: bool = False) -> pd.DataFrame:
        """The public estimates table (optionally only free parameters and `:=` rows)."""
        est = self.estimates
        if free_only:
            est = est[(est["free"] > 0) | (est["op"] == ":=")]
        cols = PUBLIC_COLUMNS[:3] + ["level"] + PUBLIC_COLUMNS[3:] if "level" in est.columns else PUBLIC_COLUMNS
        return est[cols].reset_index(drop=True)

    def r2_frame(self) -> pd.DataFrame:
        rows = []
        for g, d in enumerate(self.r2, start=1):
            for v, val in d.items():
                rows.append({"group": g, "variable": v, "r2": val})
        return pd.DataFrame(rows, columns=["group", "variable", "r2"])

    # ------------------------------------------------------------------ diagnostics
    # Where the model misfits, as lavaan computes it; the computations live in
    # engine/diagnostics.py (functions of the fitted matrices, information and Delta).
    def modindices(self, sort: bool = True, minimum_value: float = 0.0, power: bool = False,
                   **options) -> pd.DataFrame:
        """Modification indices with EPC and standardized EPCs, as lavaan's ``modindices()``
        (``free_remove``, ``na_remove``, ``delta``, ``alpha``, ``high_power``, ``op``:
        :func:`asymtrust.engine.diagnostics.modindices`)."""
        from . import diagnostics

        return diagnostics.modindices(self, sort=sort, minimum_value=minimum_value, power=power, **options)

    def residuals(self, type: str = "cor.bentler", se: bool = True) -> list:
        """Residual moments per group with SEs, z statistics and the SRMR/RMR/CRMR summary, as
        lavaan's ``lavResiduals()`` (:func:`asymtrust.engine.diagnostics.residuals`)."""
        from . import diagnostics

        return diagnostics.residuals(self, type=type, se=se)

    def score_test(self, release=None, cumulative: bool = False):
        """Score tests of the equality constraints, as lavaan's ``lavTestScore()``
        (:func:`asymtrust.engine.diagnostics.score_test`)."""
        from . import diagnostics

        return diagnostics.score_test(self, release=release, cumulative=cumulative)

    def wald(self, constraints: str) -> pd.Series:
        """Wald test of (non)linear constraints such as ``"b1 == 0; b2 == 0"``, as lavaan's
        ``lavTestWald()`` (:func:`asymtrust.engine.diagnostics.wald`)."""
        from . import diagnostics

        return diagnostics.wald(self, constraints)

    def predict(self, method: str = "regression", newdata: pd.DataFrame | None = None,
                level: int = 1) -> pd.DataFrame:
        """Factor scores (regression or Bartlett; EBM for ordered items), as lavaan's
        ``lavPredict()``; ``level`` 1 or 2 for a two-level model
        (:func:`asymtrust.engine.predict.predict`)."""
        from .predict import predict

        scores = predict(self, method=method, newdata=newdata, level=level)
        info = self.estimates.attrs.get("rotation") if self.options.get("rotation") else None
        if info:  # efa() sets: the scores of the rotated factors (engine/esem.py)
            from .esem import rotate_scores

            scores = rotate_scores(scores, info, self.group_labels)
        return scores

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict:
        """JSON-safe dictionary: options, fit indices, estimates, R^2, warnings."""
        from .._json import json_safe

        return json_safe({
            "converged": bool(self.converged),
            "warnings": list(self.warnings),
            "options": self.options,
            "nobs": [int(n) for n in self.nobs],
            "n_read": int(self.n_read if self.n_read is not None else self.n_used),
            "n_used": self.n_used,
            "dropped": {str(k): int(v) for k, v in self.dropped.items()},
            "notes": list(self.notes),
            "group_labels": self.group_labels,
            "fit_indices": self.fit_indices,
            "estimates": self.parameter_estimates(),
            "r2": self.r2,
        })

    # ------------------------------------------------------------------ text
    def summary(self) -> str:
        """A readable summary in the spirit of lavaan's ``summary(fit, fit.measures=TRUE, standardized=TRUE)``."""
        fi = self.fit_indices
        opt = self.options
        lines = []
        lines.append(f"asymtrust {self._version()} — {'converged' if self.converged else 'DID NOT CONVERGE'} after {self.iterations} iterations ({self.optimizer})")
        lines.append("")
        lines.append(f"  Estimator                         {opt.get('estimator')}")
        lines.append(f"  Missing data                      {opt.get('missing')}")
        lines.append(f"  Number of model parameters        {int(fi['npar'])}")
        if opt.get("rotation"):  # efa() sets (ESEM): lavaan's "Rotation method" line
            lines.append(f"  Rotation method (efa sets)        {str(opt['rotation']).upper()}")
        n_read = self.n_read if self.n_read is not None else self.n_used
        if self.dropped or n_read != self.n_used:
            # lavaan: "Number of observations   Used   Total", with the reasons
            lines.append(f"  Number of observations            Used {self.n_used} of {n_read} read")
            for reason, k in self.dropped.items():
                lines.append(f"    dropped: {reason:<30}{k}")
        if self.group_labels:
            for lab, n in zip(self.group_labels, self.nobs):
                lines.append(f"  Number of observations ({lab})    {n}")
        elif not (self.dropped or n_read != self.n_used):
            lines.append(f"  Number of observations            {self.nobs[0]}")
        if self.warnings:
            lines.append("")
            lines.append("WARNINGS")
            for w in self.warnings:
                lines.append(f"  ! {w}")
        lines.append("")
        lines.append("Model test (user model):")
        lines.append(f"  Test statistic                    {fi['chisq']:.3f}")
        lines.append(f"  Degrees of freedom                {int(fi['df'])}")
        lines.append(f"  P-value (Chi-square)              {fi['pvalue']:.3f}")
        if "chisq_scaled" in fi:
            est_name = str(self.options.get("estimator", "")).upper()
            kind = {"WLSMV": "scaled-shifted", "ULSMV": "scaled-shifted", "WLSM": "mean-adjusted",
                    "ULSM": "mean-adjusted"}.get(est_name, "Yuan-Bentler")
            lines.append(f"  {'Scaled statistic (' + kind + ')':<34}{fi['chisq_scaled']:.3f}")
            lines.append(f"  Scaling correction factor         {fi['chisq_scaling_factor']:.3f}")
        lines.append("")
        lines.append("Fit indices:")
        for key, lab in [("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA"), ("srmr", "SRMR"),
                         ("cfi_robust", "Robust CFI"), ("tli_robust", "Robust TLI"), ("rmsea_robust", "Robust RMSEA")]:
            if key in fi and np.isfinite(fi[key]):
                extra = ""
                if key == "rmsea":
                    extra = f"  90% CI [{fi['rmsea_ci_lower']:.3f}, {fi['rmsea_ci_upper']:.3f}], p(close) = {fi['rmsea_pvalue']:.3f}"
                lines.append(f"  {lab:<34}{fi[key]:.3f}{extra}")
        if np.isfinite(fi.get("logl", np.nan)):  # NA for least-squares fits (lavaan)
            lines.append(f"  {'Log-likelihood':<34}{fi['logl']:.3f}")
            lines.append(f"  {'AIC / BIC':<34}{fi['aic']:.3f} / {fi['bic']:.3f}")
        lines.append("")
        est = self.parameter_estimates()
        sections = [("=~", "Latent variables"), ("~", "Regressions"), ("~~", "Covariances and variances"),
                    ("~1", "Intercepts"), ("|", "Thresholds"), ("~*~", "Scales y*"), (":=", "Defined parameters")]
        levels = est["level"] if "level" in est.columns else pd.Series("", index=est.index)  # two-level models
        pairs = list(dict.fromkeys(zip(est["group"], levels)))  # (group, level) in table order
        pairs = sorted(pairs, key=lambda k: k[0] == 0)  # the := rows (group 0) last
        for i, (g, lev) in enumerate(pairs):
            if self.group_labels and g > 0 and (i == 0 or pairs[i - 1][0] != g):
                lines.append(f"Group {g} [{self.group_labels[g - 1]}]:")
            if lev != "":
                lines.append(f"Level {lev}:")
            for op, title in sections:
                sub = est[(est["op"] == op) & (est["group"] == g) & (levels == lev)]
                if sub.empty:
                    continue
                lines.append(f"{title}:")
                lines.append(f"  {'':<28}{'Estimate':>10}{'Std.Err':>10}{'z-value':>10}{'P(>|z|)':>10}{'Std.lv':>10}{'Std.all':>10}")
                for r in sub.itertuples(index=False):
                    name = f"{r.lhs} {r.op} {r.rhs}".strip() if op != ":=" else f"{r.lhs} := {r.rhs}"
                    if r.label and op != ":=":
                        name += f" ({r.label})"
                    if op == ":=":  # a value that is not finite prints as Inf/NaN, never blank
                        lines.append(f"  {name[:28]:<28}{_fd(r.est)}{_f(r.se)}{_f(r.z, 2)}{_f(r.pvalue)}{_fd(r.std_lv)}{_fd(r.std_all)}")
                        continue
                    lines.append(f"  {name[:28]:<28}{_f(r.est)}{_f(r.se)}{_f(r.z, 2)}{_f(r.pvalue)}{_f(r.std_lv)}{_f(r.std_all)}")
                lines.append("")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - thin
        return self.summary()

    def _repr_html_(self) -> str:
        fi = self.fit_indices
        status = "converged" if self.converged else "<b style='color:#b00'>did not converge</b>"
        parts = [f"<div><p><b>asymtrust FitResult</b> — {status}; N = {sum(self.nobs)}</p>"]
        if self.warnings:
            parts.append("<ul style='color:#b00'>" + "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings) + "</ul>")
        keys = [k for k in _HEADLINE + _ROBUST if k in fi]
        parts.append(pd.DataFrame({"value": fi[keys]}).to_html(float_format=lambda v: f"{v:.4f}"))
        parts.append(self.parameter_estimates().to_html(float_format=lambda v: f"{v:.3f}", index=False, na_rep=""))
        parts.append("</div>")
        return "".join(parts)

    @staticmethod
    def _version() -> str:
        from .._version import __version__

        return __version__


def _f(v, nd: int = 3) -> str:
    """A number in a 10-wide column; blank when not available (None, NaN), but an
    infinite value prints as ``Inf``/``-Inf`` (R's spelling)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return f"{'':>10}"
    if isinstance(v, float) and math.isinf(v):
        return f"{'Inf' if v > 0 else '-Inf':>10}"
    return f"{v:>10.{nd}f}"


def _fd(v, nd: int = 3) -> str:
    """As :func:`_f`, for a ``:=`` value: NaN prints as ``NaN`` (the definition was
    evaluated and is not a number), not blank."""
    if isinstance(v, float) and math.isnan(v):
        return f"{'NaN':>10}"
    return _f(v, nd)
