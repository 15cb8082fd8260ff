"""Polynomial regression with response surface analysis (issue 18).

:func:`rsa` fits the second-order polynomial z = b0 + b1 x + b2 y + b3 x² + b4 xy + b5 y²
and the constrained models of Schönbrodt's RSA package (CRAN ``RSA``, ``R/RSA.R``) as
structural equation models, with the lavaan syntax that ``RSA()`` writes: labelled
regressions ``b1..b5``, the model's equality constraints (linear ``b3 == b5``, nonlinear
``b4^2 == 4*b3*b5``) and inequality constraints (``b3 > 0.000001``), and the ``:=``
parameters

* surface parameters along the line of congruence (LOC, y = x) and the line of
  incongruence (LOIC, y = −x): a1 = b1 + b2, a2 = b3 + b4 + b5, a3 = b1 − b2,
  a4 = b3 − b4 + b5, a5 = b3 − b5 (Edwards 2002; Schönbrodt et al. 2018, appendix A);
* the stationary point X0 = (b2 b4 − 2 b1 b5)/(4 b3 b5 − b4²),
  Y0 = (b1 b4 − 2 b2 b3)/(4 b3 b5 − b4²);
* the principal axes: slopes p11 = (b5 − b3 + √((b3 − b5)² + b4²))/b4 and
  p21 = (b5 − b3 − √((b3 − b5)² + b4²))/b4, intercepts p10 = Y0 − p11 X0 and
  p20 = Y0 − p21 X0, the curvatures along them and the eigenvalues l1, l2.

Each model is fitted with ``sem(fixed.x = TRUE, meanstructure = TRUE)`` and, as ``RSA()``
by default, ``estimator = "MLR"``. The rotated and shifted rising ridge (SRRR) is fitted
twice, with upward (``b3, b5 > 0``) and downward curvature, and the converged one with the
smaller χ² is kept, as ``RSA()`` does. Models are compared with AIC and with the χ²
difference test against the full model (Satorra–Bentler 2001 for MLR, as lavaan's
``lavTestLRT``).

``outliers="remove"`` applies Bollen & Jackman's (1980) rule as ``RSA(out.rm = TRUE)``: a
case is removed when it is flagged by all three of R's ``influence.measures`` criteria on
the OLS polynomial regression: |DFFITS| > 3 √(k/(n − k)), the F(k, n − k) probability of
Cook's distance > .5, and leverage > 3k/n (k = 6 coefficients).

Congruence: :attr:`RSAResult.congruence` checks the conditions that Humberg, Nestler &
Back (2019) list for a congruence hypothesis on the full model: the first principal axis
lies on the line of congruence (p10 = 0 and p11 = 1 inside their confidence intervals),
no linear effect along the LOIC (a3 not significant) and a significant curvature along
the LOIC (a4 < 0 when congruence is best, a4 > 0 when it is worst). This checklist is not
part of the RSA package; its inputs (p10, p11, a3, a4 and their SEs) are the lavaan
parameters.

Every number is checked against lavaan 0.6-14 fits of the RSA package's syntax in
``tests/reference/dyadic/`` (``make_dyadic.R``).
"""
from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.fit import fit as _fit
from ..exceptions import DataError, EstimationError, InsufficientDataError, OptionError
from .compare import difference_test

__all__ = ["RSA_MODELS", "RSAResult", "rsa", "rsa_syntax", "bollen_jackman"]

#: the models :func:`rsa` fits, the full polynomial first
RSA_MODELS = ("full", "SRRR", "SRR", "RR", "SQD", "IA", "additive", "onlyx", "onlyy", "null")
_CENTER = ("none", "pooled", "variablewise")
_ESTIMATORS = ("ML", "MLR")
#: an SE at or below this is a parameter the constraints pin down (lavaan: NA)
_PINNED = 1e-7

_A15 = ["a1 := b1+b2", "a2 := b3+b4+b5", "a3 := b1-b2", "a4 := b3-b4+b5", "a5 := b3-b5"]
_SP = ["X0 := (b2*b4 - 2*b1*b5) / (4*b3*b5 - b4^2)", "Y0 := (b1*b4 - 2*b2*b3) / (4*b3*b5 - b4^2)"]
_P11 = "p11 := (b5 - b3 + sqrt(((b3 - b5)^2) + (b4^2))) / b4"
_P21 = "p21 :=  (b5 - b3 - sqrt((b3 - b5)^2 + b4^2)) / b4"
_CURV = ["PA1.curv := b3 + b4*p11 + b5*(p11^2)", "PA2.curv := b3 + b4*p21 + b5*(p21^2)"]
_EIG = ["l1 := (b3 + b5 + sqrt((b3+b5)^2 - 4*b3*b5 + b4^2))/2",
        "l2 := (b3 + b5 - sqrt((b3+b5)^2 - 4*b3*b5 + b4^2))/2"]

#: what each model says, for tables and the report
DESCRIPTIONS = {
    "full": "full second-order polynomial",
    "SRRR": "shifted and rotated rising ridge",
    "SRR": "shifted rising ridge",
    "RR": "rising ridge",
    "SQD": "squared difference (congruence)",
    "IA": "interaction",
    "additive": "additive (x + y, no curvature)",
    "onlyx": "x only",
    "onlyy": "y only",
    "null": "intercept only",
}


def _names(x: str, y: str) -> tuple[str, str, str]:
    return f"{x}2", f"{y}2", f"{x}_{y}"


def rsa_syntax(name: str, z: str, x: str, y: str, direction: str = "up") -> str:
    """The lavaan syntax ``RSA()`` writes for model ``name`` (``direction``: the SRRR's
    ``"up"`` or ``"down"`` curvature)."""
    x2, y2, xy = _names(x, y)
    poly = f"{z} ~ b1*{x} + b2*{y} + b3*{x2} + b4*{xy} + b5*{y2}"
    if name == "null":
        return f"{z}~ 1 + 0*{x} + 0*{y} + 0*{x2} + 0*{xy} + 0*{y2}"
    if name == "SRRR":
        sign, ineq = ("", ">") if direction == "up" else ("-", "<")
        bound = "0.000001" if direction == "up" else "-0.000001"
        lines = [f"{poly} + start({sign}0.01)*{x2} + start({sign}0.01)*{y2}",
                 f"b3 {ineq} {bound}", f"b5 {ineq} {bound}", "b4^2 == 4*b3*b5", *_A15, _P11, _P21, *_CURV,
                 "meaneffect := (b2*b4 - 2*b1*b5) / b4", "C := (-2*b1*b5 - b2*b4) / (4*b4*b5)",
                 "S := (-b4) / (2*b5)", "a4.rescaled := b3/S^2 - b4/S + b5", *_EIG]
        return "\n".join(lines)
    body = {
        "full": [*_A15, *_SP, _P11, "p10 := Y0 - p11*X0", _P21, "p20 := Y0 - p21*X0", *_CURV, *_EIG],
        "additive": ["b3==0", "b4==0", "b5==0", *_A15],
        "onlyx": ["b2==0", "b3==0", "b4==0", "b5==0", *_A15],
        "onlyy": ["b1==0", "b3==0", "b4==0", "b5==0", *_A15],
        "IA": ["b3==0", "b5==0", *_A15, *_SP, _P11, _P21, "p10 := Y0 - p11*X0", "p20 := Y0 - p21*X0", *_CURV, *_EIG],
        "SQD": ["b1==0", "b2==0", "b3==b5", "b3+b4+b5==0", *_A15, _P11, _P21, *_CURV, *_EIG],
        "RR": ["b1==b2", "b3==b5", "b3+b4+b5==0", *_A15, "meaneffect := b1+b2", _P11, _P21, *_CURV, *_EIG],
        "SRR": ["b3==b5", "b3+b4+b5==0", *_A15, _P11, _P21, *_CURV, "meaneffect := a1", "C := (b1-b2) / (4*b3)", *_EIG],
    }
    if name not in body:
        raise OptionError(f"unknown RSA model {name!r}; use one of {', '.join(RSA_MODELS)}")
    return "\n".join([poly, *body[name]])


# ----------------------------------------------------------------------------- data
def _check_columns(data: pd.DataFrame, cols: dict[str, str]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise DataError("rsa() needs a pandas DataFrame")
    for role, c in cols.items():
        if c not in data.columns:
            raise DataError(f"{role} column {c!r} is not in the data")
        if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            raise DataError(f"{role} column {c!r} is not numeric")
    if len(set(cols.values())) < 3:
        raise DataError(f"z, x and y must be three different columns, got {list(cols.values())}")
    x, y = cols["x"], cols["y"]
    clash = set(_names(x, y)) & {cols["z"], x, y}
    if clash:
        raise DataError(f"column {sorted(clash)[0]!r} has the name of a polynomial term of x={x!r} and y={y!r}; "
                        "rename it")


def bollen_jackman(X: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Cases flagged by all three of R's ``influence.measures`` criteria (DFFITS, Cook's
    distance, hat) in the OLS regression of ``z`` on the design matrix ``X`` (with its
    intercept column): Bollen & Jackman (1980), as ``RSA(out.rm = TRUE)``."""
    n, k = X.shape
    Q, R = np.linalg.qr(X)
    h = np.sum(Q ** 2, axis=1)
    beta = np.linalg.solve(R, Q.T @ z)
    e = z - X @ beta
    s2 = float(e @ e) / (n - k)
    s2_i = ((n - k) * s2 - e ** 2 / (1 - h)) / (n - k - 1)  # leave-one-out residual variance
    dffit = e / np.sqrt(s2_i * (1 - h)) * np.sqrt(h / (1 - h))
    cook = e ** 2 / (s2 * k) * h / (1 - h) ** 2
    return ((np.abs(dffit) > 3 * np.sqrt(k / (n - k)))
            & (stats.f.cdf(cook, k, n - k) > 0.5)
            & (h > 3 * k / n))


def _prepare(data, z, x, y, center, scale, outliers, notes, missing="fiml"):
    _check_columns(data, {"z": z, "x": x, "y": y})
    if center not in _CENTER:
        raise OptionError(f"center={center!r} is not one of {', '.join(_CENTER)}")
    if scale not in _CENTER:
        raise OptionError(f"scale={scale!r} is not one of {', '.join(_CENTER)}")
    if outliers not in ("keep", "remove"):
        raise OptionError(f"outliers={outliers!r} is not 'keep' or 'remove'")
    df = data[[z, x, y]].astype(float).copy()
    df.index = data.index
    n_read = len(df)
    if missing not in ("fiml", "listwise"):
        raise OptionError(f"missing={missing!r} is not 'fiml' (RSA's default) or 'listwise'")
    na = df.isna().any(axis=1)
    if na.any() and missing == "listwise":
        notes.append(f"{int(na.sum())} of {n_read} rows have a missing value in {z!r}, {x!r} or {y!r} and are left "
                     "out (listwise)")
        df = df[~na]
    elif na.any():
        notes.append(f"{int(na.sum())} of {n_read} rows have a missing value in {z!r}, {x!r} or {y!r}; they are kept "
                     "under FIML (lavaan's missing='ml.x', as RSA), valid when the data are missing at random")
    if center == "variablewise" or scale == "variablewise":
        notes.append("variablewise centering or scaling can distort the commensurability of x and y; "
                     "use 'pooled' to keep them on one scale (as RSA warns)")
    if center == "variablewise":
        df[x] -= df[x].mean()
        df[y] -= df[y].mean()
    if scale == "variablewise":  # R's scale(center = FALSE): divide by sqrt(sum(v^2) / (n - 1))
        for c in (x, y):
            df[c] /= np.sqrt((df[c] ** 2).sum() / (df[c].count() - 1))
    if center == "pooled":
        m = np.nanmean(np.concatenate([df[x].to_numpy(), df[y].to_numpy()]))
        df[x] -= m
        df[y] -= m
    if scale == "pooled":
        s = np.nanstd(np.concatenate([df[x].to_numpy(), df[y].to_numpy()]), ddof=1)
        df[x] /= s
        df[y] /= s
    x2, y2, xy = _names(x, y)
    df[x2] = df[x] ** 2
    df[y2] = df[y] ** 2
    df[xy] = df[x] * df[y]
    complete = df.notna().all(axis=1).to_numpy()
    combos = df.loc[complete, [x, y]].drop_duplicates().shape[0]
    X = np.column_stack([np.ones(int(complete.sum())), df.loc[complete, [x, y, x2, xy, y2]].to_numpy()])
    if combos < 6 or np.linalg.matrix_rank(X) < 6:
        raise InsufficientDataError(
            f"x={x!r} and y={y!r} have {combos} distinct (x, y) combinations; the second-order polynomial needs at "
            "least 6 that do not lie on one conic")
    for c in (x, y):
        if df[c].min() > 0 or df[c].max() < 0:
            notes.append(f"the numerical zero point is outside the range of {c!r}; consider center='pooled' "
                         "(the RSA package warns)")
    rx, ry = float(df[x].max() - df[x].min()), float(df[y].max() - df[y].min())
    if min(rx, ry) > 0 and max(rx, ry) / min(rx, ry) > 2 and scale == "none":
        msg = (f"x={x!r} (range {rx:.3g}) and y={y!r} (range {ry:.3g}) have very different ranges (by a factor of 2 "
               "or more); response surface analysis needs commensurable predictors: check their scales, or use "
               "scale='pooled'")
        _warnings.warn(msg, UserWarning, stacklevel=3)
        notes.append(msg)
    removed: list = []
    if outliers == "remove":
        flag = np.zeros(len(df), bool)  # rows with a missing value are never flagged (lm's na.exclude)
        flag[complete] = bollen_jackman(X, df.loc[complete, z].to_numpy())
        removed = list(df.index[flag])
        if removed:
            notes.append(f"removed {len(removed)} multivariate outlier(s) by Bollen & Jackman's (1980) rule "
                         f"(rows {', '.join(map(str, removed))})")
            df = df[~flag]
    return df, n_read, removed


# ----------------------------------------------------------------------------- result
def _rows(res, labels) -> pd.DataFrame:
    est = res.estimates
    out = []
    for lab in labels:
        m = est[est["label"].astype(str) == lab]
        if len(m):
            r = m.iloc[0]
            if not float(r["se"]) > _PINNED:  # fixed by the model's constraints: lavaan reports no SE
                out.append({"est": float(r["est"]), "se": np.nan, "pvalue": np.nan, "ci_lower": np.nan,
                            "ci_upper": np.nan})
                continue
            out.append({"est": float(r["est"]), "se": float(r["se"]), "pvalue": float(r["pvalue"]),
                        "ci_lower": float(r["ci_lower"]), "ci_upper": float(r["ci_upper"])})
        else:
            out.append({"est": np.nan, "se": np.nan, "pvalue": np.nan, "ci_lower": np.nan, "ci_upper": np.nan})
    return pd.DataFrame(out, index=pd.Index(list(labels), name="parameter"))


@dataclass
class RSAResult:
    """Result of :func:`rsa`.

    Attributes
    ----------
    model : str
        The model whose coefficients and surface parameters are shown.
    fits : dict
        ``{model name: FitResult}`` for every model fitted (SRRR: the direction kept).
    coefficients : DataFrame
        b1..b5 of ``model``: ``est, se, pvalue, ci_lower, ci_upper``.
    surface : DataFrame
        a1..a5 of ``model``, same columns.
    stationary : DataFrame
        X0, Y0 (the stationary point) of the full model, and Z0, the predicted z there.
    axes : DataFrame
        p10, p11, p20, p21 (principal axes), PA1.curv, PA2.curv, l1, l2 of ``model``.
    models : DataFrame
        One row per model: ``description, converged, npar, df, chisq, pvalue`` (the scaled
        test too under MLR), ``aic, bic, delta_aic, aic_weight, r2`` and the χ² difference
        test against the full model: ``chisq_diff, df_diff, pvalue_diff``.
    congruence : DataFrame
        Humberg, Nestler & Back's (2019) conditions for a congruence effect, on the full model.
    outliers : list
        Index labels of the rows removed by ``outliers="remove"``.
    warnings : list of str
    """

    z: str
    x: str
    y: str
    model: str
    fits: dict
    models: pd.DataFrame
    data: pd.DataFrame
    n_read: int
    outliers: list = field(default_factory=list)
    srrr_direction: str | None = None
    center: str = "none"
    scale: str = "none"
    warnings: list = field(default_factory=list)

    @property
    def coefficients(self) -> pd.DataFrame:
        return _rows(self.fits[self.model], [f"b{i}" for i in range(1, 6)]) if self.model != "null" else \
            pd.DataFrame({"est": 0.0, "se": np.nan, "pvalue": np.nan, "ci_lower": np.nan, "ci_upper": np.nan},
                         index=pd.Index([f"b{i}" for i in range(1, 6)], name="parameter"))

    @property
    def surface(self) -> pd.DataFrame:
        return _rows(self.fits[self.model], [f"a{i}" for i in range(1, 6)])

    @property
    def axes(self) -> pd.DataFrame:
        return _rows(self.fits[self.model], ["p10", "p11", "p20", "p21", "PA1.curv", "PA2.curv", "l1", "l2"])

    @property
    def stationary(self) -> pd.DataFrame:
        sp = _rows(self.fits["full"], ["X0", "Y0"])
        z0 = self.predict(sp.loc["X0", "est"], sp.loc["Y0", "est"], model="full")
        sp.loc["Z0"] = [float(z0), np.nan, np.nan, np.nan, np.nan]
        return sp

    def intercept(self, model: str | None = None) -> float:
        est = self.fits[model or self.model].estimates
        m = est[(est["lhs"] == self.z) & (est["op"] == "~1")]
        return float(m["est"].iloc[0])

    def predict(self, x, y, model: str | None = None):
        """Predicted z at (x, y) on the scale the model was fitted (after centering/scaling)."""
        model = model or self.model
        b = self._b(model)
        x, y = np.asarray(x, float), np.asarray(y, float)
        return self.intercept(model) + b[0] * x + b[1] * y + b[2] * x ** 2 + b[3] * x * y + b[4] * y ** 2

    def _b(self, model: str) -> np.ndarray:
        if model == "null":
            return np.zeros(5)
        return _rows(self.fits[model], [f"b{i}" for i in range(1, 6)])["est"].to_numpy()

    @property
    def congruence(self) -> pd.DataFrame:
        full = _rows(self.fits["full"], ["p10", "p11", "a3", "a4"])
        a4 = full.loc["a4"]
        best = a4["est"] < 0
        rows = [
            ("p10 = 0", "the first principal axis passes through the origin (its intercept p10's CI includes 0)",
             full.loc["p10", "est"], bool(full.loc["p10", "ci_lower"] <= 0 <= full.loc["p10", "ci_upper"])),
            ("p11 = 1", "the first principal axis is parallel to the line of congruence (p11's CI includes 1)",
             full.loc["p11", "est"], bool(full.loc["p11", "ci_lower"] <= 1 <= full.loc["p11", "ci_upper"])),
            ("a3 = 0", "no linear slope along the line of incongruence (a3 not significant)",
             full.loc["a3", "est"], bool(full.loc["a3", "pvalue"] > 0.05)),
            ("a4 < 0" if best else "a4 > 0",
             "the surface curves " + ("downward" if best else "upward") + " along the line of incongruence "
             "(a4 significant)", a4["est"], bool(a4["pvalue"] < 0.05)),
        ]
        out = pd.DataFrame(rows, columns=["condition", "meaning", "estimate", "holds"]).set_index("condition")
        out.attrs["supported"] = bool(out["holds"].all())
        out.attrs["direction"] = "congruence best" if best else "congruence worst"
        out.attrs["citation"] = ("Humberg, S., Nestler, S., & Back, M. D. (2019). Response surface analysis in "
                                 "personality and social psychology: Checklist and clarifications for the case of "
                                 "congruence hypotheses. Social Psychological and Personality Science, 10(3), 409-419.")
        return out

    def summary(self) -> str:
        lines = [f"Response surface analysis: {self.z} ~ f({self.x}, {self.y}); model <{self.model}> "
                 f"({DESCRIPTIONS[self.model]}); n = {self.fits['full'].n_used} of {self.n_read} rows read"
                 f"{'; center=' + self.center if self.center != 'none' else ''}"
                 f"{'; scale=' + self.scale if self.scale != 'none' else ''}",
                 "", "Coefficients", self.coefficients.round(4).to_string(), "",
                 "Surface parameters", self.surface.round(4).to_string(), "",
                 "Model comparison", self.models.drop(columns=["description"]).round(4).to_string()]
        cg = self.congruence
        lines += ["", f"Congruence conditions (Humberg et al. 2019): "
                  f"{'all hold' if cg.attrs['supported'] else 'not all hold'}",
                  cg[["estimate", "holds"]].round(4).to_string()]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - thin
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        def rec(df):
            def val(v):
                if isinstance(v, (bool, np.bool_)):
                    return bool(v)
                if isinstance(v, (int, float, np.integer, np.floating)):
                    return None if pd.isna(v) else float(v)
                return v
            return {str(i): {k: val(v) for k, v in r.items()} for i, r in df.iterrows()}
        return {"z": self.z, "x": self.x, "y": self.y, "model": self.model, "center": self.center,
                "scale": self.scale, "n_used": int(self.fits["full"].n_used), "n_read": self.n_read,
                "outliers": [str(o) for o in self.outliers], "coefficients": rec(self.coefficients),
                "surface": rec(self.surface), "models": rec(self.models), "warnings": list(self.warnings)}

    # ------------------------------------------------------------------ figure
    def plot(self, model: str | None = None, kind: str = "both", labels: dict | None = None, grid: int = 41):
        """The fitted surface: a 3-D view with the lines of congruence (y = x) and
        incongruence (y = −x), and a contour view with the first principal axis.

        Returns a :class:`matplotlib.figure.Figure` (Agg; save it with ``fig.savefig``).
        ``labels`` maps ``"x"``, ``"y"``, ``"z"`` to axis labels (default: the column names).
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        if kind not in ("both", "3d", "contour"):
            raise OptionError(f"kind={kind!r} is not 'both', '3d' or 'contour'")
        model = model or self.model
        if model not in self.fits:
            raise OptionError(f"model {model!r} was not fitted; fitted: {', '.join(self.fits)}")
        lab = {"x": self.x, "y": self.y, "z": self.z, **(labels or {})}
        lo = float(min(self.data[self.x].min(), self.data[self.y].min()))
        hi = float(max(self.data[self.x].max(), self.data[self.y].max()))
        g = np.linspace(lo, hi, grid)
        GX, GY = np.meshgrid(g, g)
        Z = self.predict(GX, GY, model)
        n = 2 if kind == "both" else 1
        fig = Figure(figsize=(5.6 * n, 5.0))
        FigureCanvasAgg(fig)
        title = f"{DESCRIPTIONS[model]} model"
        k = 1
        t = np.linspace(lo, hi, 100)
        inc = (-t >= lo) & (-t <= hi)
        if kind in ("both", "3d"):
            ax = fig.add_subplot(1, n, k, projection="3d")
            ax.plot_surface(GX, GY, Z, cmap="viridis", alpha=0.75, linewidth=0, antialiased=True)
            ax.plot(t, t, self.predict(t, t, model), color="black", lw=2, label="line of congruence (y = x)")
            if inc.any():
                ax.plot(t[inc], -t[inc], self.predict(t[inc], -t[inc], model), color="black", lw=2, ls="--",
                        label="line of incongruence (y = -x)")
            ax.set_xlabel(lab["x"])
            ax.set_ylabel(lab["y"])
            ax.set_zlabel(lab["z"])
            ax.set_title(title)
            ax.legend(loc="upper left", fontsize=7)
            k += 1
        if kind in ("both", "contour"):
            ax = fig.add_subplot(1, n, k)
            cs = ax.contourf(GX, GY, Z, levels=14, cmap="viridis")
            ax.contour(GX, GY, Z, levels=14, colors="k", linewidths=0.3)
            fig.colorbar(cs, ax=ax, label=lab["z"])
            ax.plot(t, t, color="white", lw=1.8, label="line of congruence")
            if inc.any():
                ax.plot(t[inc], -t[inc], color="white", lw=1.8, ls="--", label="line of incongruence")
            pa = self.axes if model == self.model else _rows(self.fits[model], ["p10", "p11"])
            if np.isfinite(pa.loc["p10", "est"]) and np.isfinite(pa.loc["p11", "est"]):
                yy = pa.loc["p10", "est"] + pa.loc["p11", "est"] * t
                ok = (yy >= lo) & (yy <= hi)
                ax.plot(t[ok], yy[ok], color="red", lw=1.4, ls=":", label="first principal axis")
            ax.scatter(self.data[self.x], self.data[self.y], s=6, c="white", edgecolors="k", linewidths=0.3,
                       alpha=0.7)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_xlabel(lab["x"])
            ax.set_ylabel(lab["y"])
            ax.set_title(f"{title}: contours of {lab['z']}")
            ax.legend(loc="lower right", fontsize=7)
        fig.tight_layout()
        return fig


# ----------------------------------------------------------------------------- driver
def _fit_one(syntax, df, estimator):
    missing = "ml.x" if bool(df.isna().to_numpy().any()) else "listwise"
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        return _fit(syntax, df, estimator=estimator, fixed_x=True, meanstructure=True, missing=missing)


def _srrr(z, x, y, direction, df, estimator, notes):
    """One SRRR direction, fitted under its constraints (b4^2 == 4 b3 b5 and the sign of the
    curvature): the engine's constrained estimation, SEs and scaled test (engine/constraints.py)."""
    what = f"SRRR ({'upward' if direction == 'up' else 'downward'} curvature)"
    return _try_fit(rsa_syntax("SRRR", z, x, y, direction), df, estimator, what, notes)


def _try_fit(syntax, df, estimator, what, notes):
    """A fit that may fail numerically (the SRRR direction the data do not support can run
    to extreme values): None, with a note, instead of an exception."""
    try:
        with np.errstate(all="ignore"):
            return _fit_one(syntax, df, estimator)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError, EstimationError) as exc:
        notes.append(f"model {what}: the fit failed ({' '.join(str(exc).split())[:120]}); it is left out")
        return None


def _chisq(res) -> float:
    return float(res.fit_indices["chisq"]) if res.converged else np.inf


def _versus_full(full, res, estimator: str, scaled: float | None = None) -> dict:
    """The chi-square difference test of a constrained model against the full model, as
    lavaan's ``lavTestLRT`` (MLR: Satorra-Bentler 2001, with c = 1 for a model with df = 0)."""
    if int(full.fit_indices["df"]) == 0:
        fi = res.fit_indices
        m = int(fi["df"])
        T = (float(fi["chisq_scaled"]) if scaled is None else scaled) if estimator == "MLR" else float(fi["chisq"])
        p = float(stats.chi2.sf(T, m)) if np.isfinite(T) and m > 0 else np.nan
        return {"chisq_diff": T, "df_diff": m, "pvalue_diff": p}
    d = difference_test(full, res)
    return {"chisq_diff": float(d["delta_chisq"]), "df_diff": int(d["delta_df"]), "pvalue_diff": float(d["p_delta"])}


def _model_table(fits: dict, estimator: str, scaled: dict) -> pd.DataFrame:
    rows = {}
    for name, res in fits.items():
        fi = res.fit_indices
        r = {"description": DESCRIPTIONS[name], "converged": bool(res.converged), "npar": int(fi["npar"]),
             "df": int(fi["df"]), "chisq": float(fi["chisq"]), "pvalue": float(fi["pvalue"])}
        if estimator == "MLR":
            r["chisq_scaled"] = float(scaled.get(name, fi.get("chisq_scaled", np.nan)))
            r["pvalue_scaled"] = (float(stats.chi2.sf(r["chisq_scaled"], r["df"])) if name in scaled and r["df"] > 0
                                  else float(fi.get("pvalue_scaled", np.nan)))
        r.update(aic=float(fi["aic"]), bic=float(fi["bic"]))
        r2 = res.r2_frame() if hasattr(res, "r2_frame") else None
        r["r2"] = float(r2.iloc[0, -1]) if r2 is not None and len(r2) else np.nan
        if name != "full" and res.converged and fits["full"].converged:
            r.update(_versus_full(fits["full"], res, estimator, scaled.get(name)))
        else:
            r.update(chisq_diff=np.nan, df_diff=np.nan, pvalue_diff=np.nan)
        rows[name] = r
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    aic = out["aic"].where(out["converged"])
    out["delta_aic"] = aic - aic.min()
    w = np.exp(-0.5 * out["delta_aic"])
    out["aic_weight"] = w / w.sum()
    return out


def rsa(data: pd.DataFrame, z: str, x: str, y: str, model: str = "full", center: str = "none",
        scale: str = "none", estimator: str = "MLR", outliers: str = "keep", missing: str = "fiml") -> RSAResult:
    """Polynomial regression and response surface analysis, as Schönbrodt's RSA package.

    Parameters
    ----------
    data : DataFrame
        One row per unit (e.g. per partnership, from :func:`asymtrust.dyads`).
    z, x, y : str
        The outcome and the two commensurable predictors (e.g. each side's view of the
        same construct).
    model : str
        The model whose coefficients, surface parameters and axes are shown: one of
        ``"full", "SRRR", "SRR", "RR", "SQD", "IA", "additive", "onlyx", "onlyy", "null"``.
        All are fitted and compared.
    center, scale : {"none", "pooled", "variablewise"}
        As ``RSA()``: "pooled" subtracts the mean (divides by the SD) of x and y stacked,
        which keeps them commensurable; "variablewise" does so per variable (warned).
    estimator : {"MLR", "ML"}
        ``"MLR"`` (RSA's default): robust SEs and the Yuan–Bentler scaled test.
    outliers : {"keep", "remove"}
        ``"remove"``: Bollen & Jackman's (1980) rule, as ``RSA(out.rm = TRUE)`` (RSA's default).
    missing : {"fiml", "listwise"}
        Rows with a missing value: kept under FIML (lavaan's ``missing = "ml.x"``, which
        ``RSA()`` uses when the data have missing values; reported) or left out.

    Returns
    -------
    RSAResult

    Raises
    ------
    DataError
        A column is missing or not numeric.
    InsufficientDataError
        Fewer than 6 distinct (x, y) combinations (or all on one conic): the polynomial is
        not identified.
    OptionError
        An unknown model, centering, scaling, estimator or outlier option.

    Notes
    -----
    x and y whose ranges differ by a factor of two or more are warned about (a
    :class:`UserWarning`, also in ``warnings``): the surface parameters assume
    commensurable scales; ``scale="pooled"`` is the usual remedy.

    In R: ``RSA::RSA(z ~ x*y, data, center, scale, out.rm, estimator = "MLR")``.
    """
    if model not in RSA_MODELS:
        raise OptionError(f"unknown RSA model {model!r}; use one of {', '.join(RSA_MODELS)}")
    if estimator not in _ESTIMATORS:
        raise OptionError(f"estimator={estimator!r} is not supported by rsa(); use 'MLR' (RSA's default) or 'ML'")
    notes: list[str] = []
    df, n_read, removed = _prepare(data, z, x, y, center, scale, outliers, notes, missing)
    fits: dict = {}
    direction = None
    for name in RSA_MODELS:
        if name != "SRRR":
            fits[name] = _fit_one(rsa_syntax(name, z, x, y), df, estimator)
            continue
        mark = len(notes)
        up = _srrr(z, x, y, "up", df, estimator, notes)
        down = _srrr(z, x, y, "down", df, estimator, notes)
        if up is None and down is None:
            raise EstimationError("the SRRR model could not be fitted with upward or downward curvature: "
                                  + "; ".join(notes[mark:])[:300])
        elif up is None or down is None:
            direction, fits[name] = ("down", down) if up is None else ("up", up)
        elif not up.converged and not down.converged:
            notes.append("the SRRR model did not converge with upward or downward curvature")
            direction, fits[name] = "up", up
        else:
            direction = "down" if _chisq(up) > _chisq(down) else "up"
            fits[name] = down if direction == "down" else up
    for name, res in fits.items():
        for w in res.warnings or []:
            notes.append(f"model {name}: {w}")
        if not res.converged:
            notes.append(f"model {name}: the optimiser did not converge; its row in the comparison is left out")
    table = _model_table(fits, estimator, {})
    nested = ["full", "SRRR", "SRR", "RR", "SQD"]
    chis = [table.loc[m, "chisq"] for m in nested if table.loc[m, "converged"]]
    if any(b < a - 1e-6 for a, b in zip(chis, chis[1:])):
        notes.append("a model in the chain full > SRRR > SRR > RR > SQD has a smaller chi-square than a model it "
                     "is nested in; one of them missed its optimum (RSA warns too)")
    return RSAResult(z=z, x=x, y=y, model=model, fits=fits, models=table, data=df, n_read=n_read,
                     outliers=removed, srrr_direction=direction, center=center, scale=scale, warnings=notes)
