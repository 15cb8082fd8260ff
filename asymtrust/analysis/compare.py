"""Model comparison: fit several specs on the same data and test nested pairs
(pipeline step: results -> effects / invariance / **compare**).

:func:`compare` fits each model with :func:`asymtrust.fit` and returns a
:class:`Comparison` holding

* ``table``: one row per model with npar, chi-square, df, p, CFI, TLI, RMSEA, SRMR,
  AIC and BIC (plus the scaled/robust versions for ``estimator="MLR"``), and the
  AIC/BIC differences from the best model;
* ``tests``: chi-square difference tests of nested pairs, as lavaan's ``lavTestLRT()``:
  models sorted by df, the plain difference Δχ² on Δdf with RMSEA_D for ML, and the
  Satorra–Bentler (2001) scaled difference for MLR (lavaan's default ``method``), and
  for WLSMV fits of ordered items lavaan's default for scaled-and-shifted tests, the
  Satorra (2000) difference (``compare(..., ordered=...)``).

Nesting cannot be proved cheaply from two parameter tables, so it is **the user's
claim**: pass ``nested=[("fig1", "fig1_direct")]``, or leave ``nested=None`` and
every pair of models that are adjacent in df order and use the same observed
variables is tested (as ``lavTestLRT(m1, m2, m3)`` does). A pair whose models have
different latent variables (e.g. ``fig1_single_trust`` against ``fig1``, where one
trust factor stands for two) is still tested, with a warning: such a pair is at best
nested through a boundary constraint (a factor correlation of 1), so the χ²
reference distribution is only approximate, and the models may not be nested at all.

:func:`difference_test` is the two-model test itself; :mod:`asymtrust.invariance`
uses it for the invariance ladder and the per-path equality tests.
"""
from __future__ import annotations

import itertools
import warnings as _warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..engine import indices as ix
from ..exceptions import OptionError
from .provenance import ResultTable, data_usage, fit_problems, merge_usage, provenance_lines, result_table, usage_text  # noqa: F401

__all__ = ["Comparison", "ResultTable", "compare", "data_usage", "difference_test", "fit_problems", "model_name"]

#: Columns of ``Comparison.table`` (ML). MLR adds :data:`SCALED_COLUMNS`.
TABLE_COLUMNS = ["name", "npar", "nobs", "chisq", "df", "pvalue", "cfi", "tli", "rmsea",
                 "rmsea_ci_lower", "rmsea_ci_upper", "srmr", "aic", "bic", "delta_aic",
                 "delta_bic", "converged"]
#: fit measures added to the table for scaled (MLR) fits
SCALED_COLUMNS = ["chisq_scaled", "df_scaled", "pvalue_scaled", "chisq_scaling_factor",
                  "cfi_scaled", "tli_scaled", "rmsea_scaled", "cfi_robust", "tli_robust",
                  "rmsea_robust"]
#: Columns of ``Comparison.tests``.
TEST_COLUMNS = ["general", "restricted", "df_general", "df_restricted", "chisq_general",
                "chisq_restricted", "chisq_diff_raw", "scaling_factor_d", "delta_chisq",
                "delta_df", "p_delta", "rmsea_d", "method", "note"]

_NEG_TOL = np.finfo(float).eps ** (1.0 / 3.0)  # lavaan's tolerance for a negative difference


# ----------------------------------------------------------------------------- the test
def _scaled(fit) -> bool:
    return "chisq_scaling_factor" in fit.fit_indices.index and np.isfinite(
        fit.fit_indices.get("chisq_scaling_factor", np.nan))


def _shifted(fit) -> bool:
    """A scaled-and-shifted test (lavaan's WLSMV, ULSMV)."""
    return str((getattr(fit, "options", None) or {}).get("estimator", "")).upper() in ("WLSMV", "ULSMV")


def _basis(rep, n: int) -> np.ndarray:
    """An orthonormal basis of the free parameters under the linear equality constraints
    (lavaan's ``eq.constraints.K``: a QR basis, orthonormal)."""
    if rep is None or getattr(rep, "_identity", False):
        return np.eye(n)
    q, _ = np.linalg.qr(np.asarray(rep.K, dtype=float))
    return q


def _complement(H: np.ndarray) -> np.ndarray:
    """lavaan's ``lav_matrix_orthogonal_complement``: the columns orthogonal to col(H)."""
    U, sv, _ = np.linalg.svd(H, full_matrices=True)
    rank = int(np.sum(sv > 1e-7 * (sv[0] if sv.size else 1.0)))
    return U[:, rank:]


def satorra2000(general, restricted, raw: float, m: float) -> tuple[float, float, float]:
    """lavaan 0.6-14's ``lav_test_diff_Satorra2000(m1, m0, H1 = TRUE, A.method = "delta",
    scaled.shifted = TRUE)``, ``lavTestLRT``'s default for scaled-and-shifted tests (WLSMV).

    A: the constraints of H0 in H1's parameters, the orthogonal complement of
    ginv(Delta1 K1) Delta0 K0 (each Jacobian at its own estimates); P^-1 the constrained
    inverse of H1's expected information; PAAPAAP = P^-1 A' (A P^-1 A')^+ A P^-1;
    tr(UG) = sum_g f_g tr(W_g Gamma_g W_g Delta_g PAAPAAP Delta_g') and tr((UG)^2) over the
    groups stacked (Gamma_g times f_g = N_g/N); a = sqrt(m / tr(UG)^2), b = m - a tr(UG) and
    T = a (T0 - T1) + b on m df (T the unscaled statistics). Returns (T, a, b)."""
    from scipy.linalg import block_diag

    from ..engine.vcov import constrained_inverse

    obj1, obj0 = general.objective, restricted.objective
    imp1 = obj1.evaluate(np.asarray(general.theta, float), False)[2]
    imp0 = obj0.evaluate(np.asarray(restricted.theta, float), False)[2]
    PI = obj1.jacobians(imp1)
    D1, D0 = np.vstack(PI), np.vstack(obj0.jacobians(imp0))
    if D1.shape[0] != D0.shape[0] or [s.nobs for s in obj1.samples] != [s.nobs for s in obj0.samples]:
        raise OptionError("the Satorra (2000) difference test needs two fits of the same ordered items on the same "
                          "rows (same thresholds and polychoric correlations)")
    K1, K0 = _basis(general.reparam, D1.shape[1]), _basis(restricted.reparam, D0.shape[1])
    H = np.linalg.pinv(D1 @ K1) @ (D0 @ K0)
    A = _complement(H).T @ K1.T
    Pinv, _ = constrained_inverse(obj1.expected_information(imp1), general.reparam)
    APA = A @ Pinv @ A.T
    tol = np.sqrt(np.finfo(float).eps)
    A = A[~((np.abs(APA.sum(axis=0)) < tol) & (np.abs(APA.sum(axis=1)) < tol))]
    PAAPAAP = Pinv @ A.T @ np.linalg.pinv(A @ Pinv @ A.T) @ A @ Pinv
    fg = [s.nobs / obj1.N for s in obj1.samples]
    W = [np.asarray(w, float) for w in obj1.W]
    Gam = [np.asarray(s.nacov, float) for s in obj1.samples]
    tr1 = sum(f * float(np.trace(Wg @ Gg @ Wg @ Dg @ PAAPAAP @ Dg.T)) for f, Wg, Gg, Dg in zip(fg, W, Gam, PI))
    V = block_diag(*W)
    U = V @ D1 @ PAAPAAP @ D1.T @ V
    UG = U @ block_diag(*[f * Gg for f, Gg in zip(fg, Gam)])
    tr2 = float(np.sum(UG * UG.T))
    a = float(np.sqrt(m / tr2))
    b = float(m - a * tr1)
    return raw * a + b, a, b


def difference_test(general, restricted) -> dict[str, Any]:
    """Chi-square difference test of two nested fits, as lavaan's ``lavTestLRT``.

    Parameters
    ----------
    general : FitResult
        The less restricted model (fewer df).
    restricted : FitResult
        The more restricted model (more df), nested in ``general``.
        The two are swapped if ``general`` has more df, as lavaan sorts by df.

    Returns
    -------
    dict
        ``chisq_diff_raw`` (χ²₀ − χ²₁ of the unscaled statistics), ``delta_chisq``
        (the test statistic: the raw difference for ML, the Satorra–Bentler 2001
        statistic T = Δχ²/c_d for MLR), ``delta_df``, ``p_delta``,
        ``scaling_factor_d`` (c_d; NaN for ML), ``rmsea_d`` (ML only; lavaan 0.6-14
        does not report it for scaled tests) and ``method``, plus ``warnings`` (list).

    Notes
    -----
    ML: Δχ² = χ²₀ − χ²₁ on Δdf = df₀ − df₁, p from the central χ², and
    RMSEA_D = √G·√max((Δχ² − Δdf)/(N·Δdf), 0) with N the total sample size.

    MLR (both fits scaled): c_d = (df₀c₀ − df₁c₁)/(df₀ − df₁) with c the
    ``chisq_scaling_factor`` of each fit and c₁ = 1 when df₁ = 0; T = Δχ²/c_d. A
    negative c_d gives NaN (lavaan: NA with a warning). Satorra & Bentler (2001),
    Psychometrika 66(4), 507–514.

    WLSMV / ULSMV (scaled-and-shifted tests): lavaan's default ``method = "satorra.2000"``
    (:func:`satorra2000`): T = a (χ²₀ − χ²₁) + b on Δdf, a and b from the traces of
    U Γ for the constraints that lead from the general to the restricted model; ``method``
    says "Satorra 2000 (scaled and shifted)", ``scaling_factor_d`` is NaN and
    ``shift_a``/``shift_b`` hold a and b. Satorra (2000), in Heijmans, Pollock & Satorra
    (eds.), Innovations in Multivariate Statistical Analysis, 233–247.

    With Δdf = 0 the models cannot be nested: the statistic is the raw difference and
    the p-value is NaN. A negative raw difference (beyond (machine eps)^(1/3), lavaan's
    rule) means the models are not nested or the general one missed its optimum; it is
    reported with a warning.

    In R: ``lavaan::lavTestLRT(general, restricted)``.
    """
    fi1, fi0 = general.fit_indices, restricted.fit_indices
    if fi1["df"] > fi0["df"]:
        general, restricted = restricted, general
        fi1, fi0 = fi0, fi1
    s1, s0 = _scaled(general), _scaled(restricted)
    if s1 != s0:
        raise OptionError("cannot compare a scaled (MLR) fit with an unscaled (ML) fit; fit both with the same estimator")
    notes: list[str] = []
    T1, T0 = float(fi1["chisq"]), float(fi0["chisq"])
    r1, r0 = float(fi1["df"]), float(fi0["df"])
    m = r0 - r1
    raw = T0 - T1
    if raw < -_NEG_TOL:
        notes.append(f"the restricted model fits better than the general one (chi-square difference {raw:.4g}); "
                     "the models are not nested, or the general model missed its optimum")
    N = float(fi1.get("ntotal", fi1.get("nobs", np.nan)))
    G = int(getattr(general, "ngroups", 1) or 1)
    out: dict[str, Any] = {"chisq_diff_raw": raw, "delta_df": m, "scaling_factor_d": float("nan"),
                           "rmsea_d": float("nan")}
    if m == 0:
        notes.append("the two models have the same df, so they cannot be nested; no p-value")
        out.update(delta_chisq=raw, p_delta=float("nan"),
                   method="Satorra-Bentler 2001" if s1 else "chi-square difference")
        out["warnings"] = notes
        return out
    if s1 and _shifted(general) and _shifted(restricted):  # WLSMV / ULSMV: lavTestLRT's satorra.2000
        T, a, b = satorra2000(general, restricted, raw, m)
        out.update(scaling_factor_d=float("nan"), delta_chisq=T, method="Satorra 2000 (scaled and shifted)",
                   shift_a=a, shift_b=b)
    elif s1:
        c1 = 1.0 if r1 == 0 else float(fi1["chisq_scaling_factor"])
        c0 = float(fi0["chisq_scaling_factor"])
        cd = (r0 * c0 - r1 * c1) / m
        if cd < 0:
            notes.append(f"the Satorra-Bentler (2001) scaling factor of the difference is negative ({cd:.4g}); "
                         "no scaled test (as lavaan)")
            cd = float("nan")
        T = raw / cd if np.isfinite(cd) else float("nan")
        out.update(scaling_factor_d=cd, delta_chisq=T, method="Satorra-Bentler 2001")
    else:
        T = raw
        out.update(delta_chisq=T, method="chi-square difference")
        out["rmsea_d"] = ix.rmsea(raw, m, N, G) if np.isfinite(N) else float("nan")
    out["p_delta"] = float(special.chdtrc(m, T)) if np.isfinite(T) else float("nan")
    out["warnings"] = notes
    return out


# ----------------------------------------------------------------------------- models
def model_name(model: Any, position: int) -> str:
    """A display name for a model argument: the spec name, or ``model<position>`` for syntax."""
    if hasattr(model, "name") and hasattr(model, "syntax"):
        return str(model.name)
    if isinstance(model, str):
        text = model.strip()
        if not any(op in text for op in ("=~", "~", ":=", "==")):
            from pathlib import Path

            return Path(text).stem if ("/" in text or text.endswith((".lav", ".toml"))) else text
    return f"model{position}"


def _resolve_models(specs: Any) -> list[tuple[str, Any]]:
    if isinstance(specs, Mapping):
        items = [(str(k), v) for k, v in specs.items()]
    elif isinstance(specs, (str, bytes)) or not isinstance(specs, Iterable):
        raise OptionError("specs must be a list of spec names, ModelSpecs or syntax strings (at least two)")
    else:
        items = [(model_name(m, i + 1), m) for i, m in enumerate(specs)]
    if len(items) < 2:
        raise OptionError(f"compare needs at least two models, got {len(items)}")
    names = [n for n, _ in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise OptionError(f"model name {dup[0]!r} is given more than once; pass a dict {{name: model}} to name them")
    return items


def _observed(fit) -> tuple[str, ...]:
    return tuple(sorted(fit.partable.ov_names))


def _latent(fit) -> tuple[str, ...]:
    return tuple(sorted(fit.partable.lv_names))


# ----------------------------------------------------------------------------- result
@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model (in the order given): ``name, npar, nobs, chisq, df, pvalue,
        cfi, tli, rmsea, rmsea_ci_lower, rmsea_ci_upper, srmr, aic, bic, delta_aic,
        delta_bic, converged`` and, for MLR, ``chisq_scaled, df_scaled, pvalue_scaled,
        chisq_scaling_factor, cfi_scaled, tli_scaled, rmsea_scaled, cfi_robust,
        tli_robust, rmsea_robust``. ``delta_aic``/``delta_bic`` are differences from
        the smallest value (0 = preferred).
    tests : pandas.DataFrame
        One row per nested pair: ``general, restricted`` (names; the restricted model
        has more df), their df and χ², ``chisq_diff_raw``, ``scaling_factor_d`` (c_d,
        MLR), ``delta_chisq`` (the test statistic), ``delta_df``, ``p_delta``,
        ``rmsea_d`` (ML), ``method`` and ``note`` (warnings about the pair).
    estimator : str
    warnings : list of str
        The fits' own warnings (non-convergence, Heywood cases, ...; prefixed with
        ``model 'NAME'``) and the comparison's (doubtful nesting, ...). The comparison's
        own are also issued as Python warnings.
    data : list of dict
        Rows read, used and dropped (by reason): ``source`` (the models), ``n_read``,
        ``n_used``, ``dropped``; one entry per distinct count.
    fits : dict of str to FitResult
    """

    table: pd.DataFrame
    tests: pd.DataFrame
    estimator: str = "ML"
    warnings: list[str] = field(default_factory=list)
    fits: dict = field(default_factory=dict, repr=False)
    data: list = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The model table (a copy)."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary: ``estimator``, ``models`` (table rows), ``tests``,
        ``warnings`` and ``data`` (rows read, used and dropped)."""
        from .._json import json_safe

        return {"estimator": self.estimator, "models": _records(self.table),
                "tests": _records(self.tests), "warnings": list(self.warnings),
                "data": json_safe(self.data)}

    def summary(self) -> str:
        """Rows used, the fits' warnings, then both tables as plain text."""
        cols = [c for c in ["name", "npar", "chisq", "df", "cfi", "tli", "rmsea", "srmr", "aic", "bic",
                            "chisq_scaled", "cfi_robust", "rmsea_robust"] if c in self.table]
        lines = [f"Model comparison ({self.estimator})"]
        lines += provenance_lines(self.warnings, self.data)
        lines += ["", self.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}")]
        if len(self.tests):
            lines += ["", "Nested-model tests (nesting as claimed by the user)",
                      self.tests[["general", "restricted", "delta_chisq", "delta_df", "p_delta", "method"]]
                      .to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from .._json import records

    return records(frame)


# ----------------------------------------------------------------------------- compare
def compare(specs: Sequence[Any] | Mapping[str, Any], data: pd.DataFrame, *, estimator: str | None = None,
            missing: str = "listwise", nested: Sequence[tuple[str, str]] | None = None,
            ordered: Any = None, parameterization: str = "delta") -> Comparison:
    """Fit competing models on the same data and compare them.

    Parameters
    ----------
    specs : sequence or mapping
        Spec names (``"fig1"``), :class:`~asymtrust.library.specs.ModelSpec` objects, ``.lav``/
        ``.toml`` paths or lavaan syntax strings; a ``{name: model}`` mapping names them.
        Syntax strings in a list are called ``model1``, ``model2``, ...
    data : pandas.DataFrame
        Survey data with reverse-keyed items already recoded
        (:func:`asymtrust.recode_reverse`); every model is fitted to the same rows.
    estimator : {"ML", "MLR"}, or with ``ordered`` {"WLSMV", "WLSM", "ULSMV", ...}
        Default ``"ML"``, or ``"WLSMV"`` with ``ordered``. With ``"MLR"`` (and ``"WLSM"``)
        the table adds the scaled and robust indices and the tests use the
        Satorra–Bentler (2001) scaled difference; with ``"WLSMV"``/``"ULSMV"`` the tests are
        lavaan's ``lavTestLRT`` default for scaled-and-shifted statistics, the Satorra (2000)
        difference (:func:`satorra2000`; ``method`` says which).
    missing : {"listwise", "fiml"}, or with ``ordered`` {"listwise", "pairwise"}
    ordered : True or list of str, optional
        Ordered-categorical items, passed to every :func:`asymtrust.fit` (lavaan's ``ordered=``).
    parameterization : {"delta", "theta"}
        With ``ordered`` only.
    nested : sequence of (str, str), optional
        Pairs of model names to test, in either order (the model with more df is taken
        as the restricted one). Default: every pair adjacent in df order whose models
        use the same observed variables. Nesting is the user's claim: asymtrust does not
        prove it.

    Returns
    -------
    Comparison
        ``.table`` (one row per model), ``.tests`` (one row per tested pair),
        ``.warnings`` (the fits' own, prefixed ``model 'NAME'``, then the comparison's),
        ``.data`` (rows read, used and dropped), ``.fits``; ``.to_frame()`` returns the table.

    Raises
    ------
    asymtrust.exceptions.OptionError
        Fewer than two models, a duplicate name, a ``nested`` pair naming an unknown
        model or a model twice.

    Warns
    -----
    UserWarning
        A model did not converge; a tested pair has different latent variables
        (boundary / doubtful nesting) or different observed variables; a negative
        difference or negative scaling factor; a pair with equal df.

    Notes
    -----
    ``fig1`` is nested in ``fig1_direct`` (its five direct asymmetry → outcome paths
    fixed at 0). ``fig1_single_trust`` replaces the two trust factors by one; it can be
    seen as ``fig1`` with the trust-factor correlation fixed at 1, a constraint on the
    boundary of the parameter space, and its structural paths also differ, so the
    default adjacent-pair test of ``fig1`` vs ``fig1_single_trust`` is reported with a
    warning and should be read together with AIC/BIC.

    In R: ``lavaan::lavTestLRT(fit1, fit2, fit3)`` (and ``fitMeasures()`` per model).

    Examples
    --------
    >>> import asymtrust
    >>> hs = asymtrust.load_dataset("hs1939")
    >>> one = "g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9"
    >>> three = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     cmp = compare({"one": one, "three": three}, hs)
    >>> cmp.tests[["general", "restricted", "delta_df"]].values.tolist()
    [['three', 'one', 3.0]]
    """
    from ..engine.fit import fit as _fit

    items = _resolve_models(specs)
    nested = _check_nested(nested, [n for n, _ in items])
    ordinal = ordered not in (None, False)
    estimator = str(estimator if estimator is not None else ("WLSMV" if ordinal else "ML")).upper()
    extra: dict[str, Any] = {"ordered": ordered, "parameterization": parameterization} if ordinal else {}
    msgs: list[str] = []
    problems: list[str] = []
    usage: list[dict[str, Any]] = []
    fits: dict[str, Any] = {}
    for name, model in items:
        res = _fit(model, data, estimator=estimator, missing=missing, **extra)
        fits[name] = res
        if not res.converged:
            msgs.append(f"model {name!r} did not converge; its row and tests are not trustworthy")
        problems += fit_problems(res, f"model {name!r}")
        usage.append(data_usage(res, f"model {name!r}", data))
    table = _model_table(fits, estimator)
    pairs = _pairs(fits, nested, msgs)
    rows = []
    for a, b in pairs:
        rows.append(_test_row(a, b, fits, msgs))
    tests = pd.DataFrame(rows, columns=TEST_COLUMNS)
    for m in msgs:
        _warnings.warn(m, UserWarning, stacklevel=2)
    return Comparison(table=table, tests=tests, estimator=estimator, warnings=problems + msgs, fits=fits,
                      data=merge_usage(usage))


def _model_table(fits: dict[str, Any], estimator: str) -> pd.DataFrame:
    rows = []
    scaled = any(_scaled(f) for f in fits.values())
    for name, res in fits.items():
        fi = res.fit_indices
        row: dict[str, Any] = {"name": name}
        for c in TABLE_COLUMNS[1:]:
            if c in ("delta_aic", "delta_bic", "converged"):
                continue
            row[c] = float(fi.get(c, np.nan))
        row["converged"] = bool(res.converged)
        if scaled:
            for c in SCALED_COLUMNS:
                row[c] = float(fi.get(c, np.nan))
        rows.append(row)
    cols = TABLE_COLUMNS + (SCALED_COLUMNS if scaled else [])
    table = pd.DataFrame(rows)
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table["delta_bic"] = table["bic"] - table["bic"].min()
    for c in ("npar", "nobs"):
        table[c] = table[c].astype(int)
    return table[cols]


def _check_nested(nested, names: list[str]) -> list[tuple[str, str]] | None:
    """Validate the ``nested`` argument against the model names (before any fitting)."""
    if nested is None:
        return None
    if isinstance(nested, tuple) and len(nested) == 2 and all(isinstance(x, str) for x in nested):
        nested = [nested]
    out = []
    for pair in nested:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise OptionError(f"nested must be a list of (name, name) pairs, got {pair!r}")
        a, b = (str(x) for x in pair)
        for x in (a, b):
            if x not in names:
                raise OptionError(f"nested pair ({a!r}, {b!r}) names unknown model {x!r}; models: {', '.join(names)}")
        if a == b:
            raise OptionError(f"nested pair ({a!r}, {b!r}) names the same model twice")
        out.append((a, b))
    return out


def _pairs(fits: dict[str, Any], nested, msgs: list[str]) -> list[tuple[str, str]]:
    names = list(fits)
    df = {n: float(fits[n].fit_indices["df"]) for n in names}
    out: list[tuple[str, str]] = []
    if nested is None:
        order = sorted(names, key=lambda n: df[n])  # stable, as R's order()
        for a, b in itertools.pairwise(order):
            if _observed(fits[a]) != _observed(fits[b]):
                msgs.append(f"models {a!r} and {b!r} use different observed variables, so they are not nested; not tested")
                continue
            if fits[a].nobs != fits[b].nobs:
                msgs.append(f"models {a!r} and {b!r} were fitted to different numbers of cases; not tested")
                continue
            out.append((a, b))
        return out
    for a, b in nested:
        if df[a] > df[b]:
            a, b = b, a
        if _observed(fits[a]) != _observed(fits[b]):
            msgs.append(f"models {a!r} and {b!r} use different observed variables; the test assumes nesting that cannot hold")
        out.append((a, b))
    return out


def _test_row(general: str, restricted: str, fits: dict[str, Any], msgs: list[str]) -> dict[str, Any]:
    g, r = fits[general], fits[restricted]
    res = difference_test(g, r)
    notes = list(res.pop("warnings"))
    if _latent(g) != _latent(r):
        only_g = sorted(set(_latent(g)) - set(_latent(r)))
        only_r = sorted(set(_latent(r)) - set(_latent(g)))
        notes.append(
            f"{general!r} and {restricted!r} have different latent variables ({', '.join(only_g) or '-'} vs "
            f"{', '.join(only_r) or '-'}): nesting is the user's claim and at best holds through a boundary "
            "constraint (e.g. a factor correlation fixed at 1), so the chi-square p-value is only approximate; "
            "compare AIC/BIC as well")
    for n in notes:
        msgs.append(f"{general} vs {restricted}: {n}")
    return {
        "general": general, "restricted": restricted,
        "df_general": float(g.fit_indices["df"]), "df_restricted": float(r.fit_indices["df"]),
        "chisq_general": float(g.fit_indices["chisq"]), "chisq_restricted": float(r.fit_indices["chisq"]),
        **res, "note": "; ".join(notes),
    }
