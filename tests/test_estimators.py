"""The estimator-family protocol (issue 13, item 2).

* the registry: which family runs which ``estimator``/``missing`` combination, and the
  errors for the others;
* every registered family satisfies the protocol: it is a concrete
  :class:`EstimatorFamily`, and its methods, run step by step as ``fit()`` runs them,
  give the numbers of ``fit()`` itself;
* a new family is one class and one registration: a toy family registered here is chosen
  by ``fit()`` and by the resampling service without a change to ``engine/fit.py``;
* ``engine/fit.py`` does not branch on the estimator or the missing-data method.
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import asymtrust
from asymtrust.engine import estimators
from asymtrust.engine.compile import compile_model
from asymtrust.engine.data import DROP_EXO, DROP_LISTWISE, prepare
from asymtrust.engine.estimate import optimise
from asymtrust.engine.estimators import FAMILIES, FIML, ML, EstimatorFamily, Solution, choose
from asymtrust.engine.estimators.fiml import CompleteFIML
from asymtrust.engine.resample import bootstrap_draws
from asymtrust.exceptions import OptionError

HS = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
FIT_PY = Path(asymtrust.__file__).resolve().parent / "engine" / "fit.py"


@pytest.fixture(scope="module")
def hs():
    return asymtrust.load_dataset("hs1939")


@pytest.fixture(scope="module")
def hs_missing(hs):
    data = hs.copy()
    cols = [f"x{i}" for i in range(1, 10)]
    X = data[cols].to_numpy(float).copy()
    X[np.random.default_rng(3).random(X.shape) < 0.08] = np.nan
    data[cols] = X
    return data


class Toy(ML):
    """A third family: complete-data ML under another name (the whole of a new family)."""

    name = "TOY"
    estimator = "TOY"
    objectives = 0

    def objective(self, model, samples):
        type(self).objectives += 1
        return super().objective(model, samples)


@pytest.fixture
def toy(monkeypatch):
    """Toy registered for one test (the registration line of a real family is
    ``register(Toy)`` in ``engine/estimators/__init__.py``)."""
    monkeypatch.setitem(FAMILIES, Toy.name, Toy)
    monkeypatch.setattr(Toy, "objectives", 0)
    return Toy


# ----------------------------------------------------------------------------- the registry
def test_registry_holds_ml_and_fiml():
    assert FAMILIES["ML"] is ML and FAMILIES["FIML"] is FIML
    assert estimators.estimator_names() == ["ML", "GLS", "WLS", "ULS", "MLR"]  # LS families: issue 14
    assert estimators.ROBUST == {"MLR": "ML"}


@pytest.mark.parametrize("estimator, missing, cls, robust", [
    ("ML", "listwise", ML, False),
    ("ml", "listwise", ML, False),
    ("MLR", "listwise", ML, True),
    ("ML", "fiml", FIML, False),
    ("ML", "ml", FIML, False),  # lavaan's name
    ("mlr", "direct", FIML, True),
])
def test_choose_picks_the_family(estimator, missing, cls, robust):
    fam = choose(estimator, missing)
    assert type(fam) is cls and fam.robust is robust
    assert fam.default_se == ("robust" if robust else "standard")
    assert fam.default_information == ("observed" if (robust or cls is FIML) else "expected")


def test_choose_with_samples_runs_fiml_on_complete_data_as_ml(hs, hs_missing):
    fiml = choose("MLR", "fiml")
    complete, _ = prepare(hs, [f"x{i}" for i in range(1, 10)], None, fiml, [])
    incomplete, _ = prepare(hs_missing, [f"x{i}" for i in range(1, 10)], None, fiml, [])
    on_complete = choose("MLR", "fiml", complete)
    # complete-data ML's estimates and test, FIML's baseline and corrected robust indices (lavaan)
    assert type(on_complete) is CompleteFIML and isinstance(on_complete, ML) and on_complete.robust
    assert type(choose("MLR", "fiml", incomplete)) is FIML


def test_choose_refuses_unknown_options(toy):
    with pytest.raises(OptionError, match="estimator must be one of ML, GLS, WLS, ULS, TOY, MLR, not 'DWLS'"):
        choose("DWLS", "listwise")
    with pytest.raises(OptionError, match="missing must be 'listwise' or 'fiml', not 'pairwise'"):
        choose("ML", "pairwise")
    with pytest.raises(OptionError, match="estimator TOY does not support missing='fiml'"):
        choose("TOY", "fiml")


# ----------------------------------------------------------------------------- the protocol
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_is_a_concrete_estimator_family(name):
    cls = FAMILIES[name]
    assert issubclass(cls, EstimatorFamily) and not inspect.isabstract(cls)
    for attr in ("name", "estimator", "missing", "drop_reason", "supports_moments"):
        assert hasattr(cls, attr), attr
    assert cls.name == name
    fam = cls()
    for method in ("keep_rows", "sample_stats", "for_samples", "start", "objective", "information", "scores",
                   "first_order", "test_statistic", "baseline", "loglik", "robust_indices"):
        assert callable(getattr(fam, method)), method


def _steps(fam: EstimatorFamily, data, model: str = HS) -> tuple[EstimatorFamily, Solution]:
    """One fit, step by step through the family's methods (as fit() runs them)."""
    res = asymtrust.fit(model, data, estimator="MLR" if fam.robust else "ML", missing=fam.missing)
    pt = res.partable
    samples, _ = prepare(data, list(pt.ov_names), None, fam, [])
    fam = fam.for_samples(samples)
    comp = compile_model(pt, len(samples))
    model_ = comp.model_for(samples)
    obj = fam.objective(model_, samples)
    opt = optimise(obj, comp.rep, fam.start(comp, samples))
    sol = Solution(family=fam, pt=pt, comp=comp, model=model_, obj=obj, samples=samples, theta=opt.theta,
                   imp=opt.implied, fmin=opt.fmin)
    return res, sol


@pytest.mark.parametrize("name, robust", [("ML", False), ("ML", True), ("FIML", False), ("FIML", True)])
def test_family_methods_give_the_numbers_of_fit(name, robust, hs, hs_missing):
    fam = FAMILIES[name](robust=robust)
    data = hs_missing if name == "FIML" else hs
    res, sol = _steps(fam, data)
    assert type(sol.family) is FAMILIES[name]
    fi = res.fit_indices
    np.testing.assert_allclose(sol.theta, res.theta, rtol=1e-10, atol=1e-12)
    K = len(sol.theta)
    chisq = fam.test_statistic(sol.fmin, sol.N)
    assert chisq == pytest.approx(fi["chisq"], rel=1e-10)
    base = fam.baseline(sol)
    assert (base.chisq, base.df) == (pytest.approx(fi["baseline_chisq"], rel=1e-9), fi["baseline_df"])
    assert (base.fitted is not None) == (robust or name == "FIML")
    logl, logl1 = fam.loglik(sol)
    assert (logl, logl1) == (pytest.approx(fi["logl"], rel=1e-12), pytest.approx(fi["unrestricted_logl"], rel=1e-12))
    for kind in ("expected", "observed"):
        A = fam.information(sol.obj, sol.theta, sol.imp, kind)
        assert A.shape == (K, K) and np.allclose(A, A.T)
    scores = fam.scores(sol.obj, sol.imp, sol.delta)
    assert [G.shape for G in scores] == [(n, K) for n in res.nobs]
    # the scores of the log-likelihood sum to -N times the gradient of f: zero at the optimum
    assert np.abs(sum(G.sum(axis=0) for G in scores)).max() < 1e-5 * sol.N
    B = fam.first_order(sol.obj, sol.imp, sol.delta)
    np.testing.assert_allclose(B, sum(G.T @ G for G in scores) / sol.N)
    extra = fam.robust_indices(sol, base, chisq)
    assert set(extra) <= set(fi.index)
    for k, v in extra.items():
        assert v == pytest.approx(fi[k], rel=1e-8, nan_ok=True), k
    assert ("chisq_scaled" in extra) is robust
    assert ("cfi_robust" in extra) is (robust or name == "FIML")


def test_keep_rows_and_drop_reasons():
    nan = np.array([[False, False, False], [True, False, False], [True, True, True], [False, False, True]])
    assert ML().keep_rows(nan, [2]).tolist() == [True, False, False, False]
    assert ML.drop_reason == DROP_LISTWISE
    assert FIML().keep_rows(nan, []).tolist() == [True, True, False, True]
    assert FIML().keep_rows(nan, [2]).tolist() == [True, True, False, False]  # fixed-x missing
    assert FIML.drop_reason == DROP_EXO


def test_only_complete_data_ml_fits_from_moments(hs):
    cols = [f"x{i}" for i in range(1, 10)]
    S = hs[cols].cov(ddof=0).to_numpy()
    s = ML().sample_from_moments(S, hs[cols].mean().to_numpy(), 301)
    assert s.nobs == 301 and np.isfinite(s.logl_h1)
    assert ML.supports_moments and not FIML.supports_moments
    with pytest.raises(OptionError, match="sample moments"):
        FIML().sample_from_moments(S, hs[cols].mean().to_numpy(), 301)


# ----------------------------------------------------------------------------- a new family
def test_a_registered_family_is_run_by_fit(toy, hs):
    ml = asymtrust.fit(HS, hs)
    got = asymtrust.fit(HS, hs, estimator="toy")
    assert toy.objectives == 1  # the model's objective (the baseline has a closed form)
    assert got.options["estimator"] == "TOY"
    np.testing.assert_array_equal(got.theta, ml.theta)
    np.testing.assert_array_equal(got.vcov, ml.vcov)
    np.testing.assert_array_equal(got.fit_indices.to_numpy(), ml.fit_indices.to_numpy())
    assert list(got.fit_indices.index) == list(ml.fit_indices.index)
    np.testing.assert_array_equal(got.estimates["se"].to_numpy(), ml.estimates["se"].to_numpy())


def test_a_registered_family_is_used_by_the_resampling_service(toy, hs):
    got = asymtrust.fit(HS, hs, estimator="TOY")
    ml = asymtrust.fit(HS, hs)
    toy.objectives = 0
    a = bootstrap_draws(got, 3, seed=5)
    assert toy.objectives >= 3  # every replicate refits with the toy family
    b = bootstrap_draws(ml, 3, seed=5)
    np.testing.assert_array_equal(a.theta, b.theta)


def test_a_registered_family_with_a_robust_variant(monkeypatch, hs):
    monkeypatch.setitem(FAMILIES, Toy.name, Toy)
    monkeypatch.setitem(estimators.ROBUST, "TOYR", "TOY")
    got = asymtrust.fit(HS, hs, estimator="TOYR")
    mlr = asymtrust.fit(HS, hs, estimator="MLR")
    assert got.options["se"] == "robust" and got.options["information"] == "observed"
    np.testing.assert_array_equal(got.vcov, mlr.vcov)
    assert got.fit_indices["chisq_scaled"] == mlr.fit_indices["chisq_scaled"]


# ----------------------------------------------------------------------------- fit() does not branch
def test_fit_does_not_branch_on_the_estimator_or_missing_data():
    """No condition in engine/fit.py tests an estimator or missing-data name, the family's
    name or type, or a FIML flag: what differs between families is the families' business."""
    tree = ast.parse(FIT_PY.read_text(encoding="utf-8"))
    words = {"ML", "MLR", "FIML", "ml", "mlr", "fiml", "listwise"}
    tests = [n.test for n in ast.walk(tree) if isinstance(n, (ast.If, ast.IfExp, ast.While, ast.Assert))]
    tests += [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    tests += [g for n in ast.walk(tree) if isinstance(n, ast.comprehension) for g in n.ifs]
    offending = []
    for test in tests:
        for node in ast.walk(test):
            bad = ((isinstance(node, ast.Constant) and node.value in words)
                   or (isinstance(node, ast.Name) and ("fiml" in node.id.lower()
                                                       or node.id in {"estimator", "miss", "missing", *FAMILIES}))
                   or (isinstance(node, ast.Attribute) and node.attr in {"fiml", "missing", "estimator", "name"}))
            if bad:
                offending.append(f"line {test.lineno}: {ast.unparse(test)}")
                break
    assert offending == []
