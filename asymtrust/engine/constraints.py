"""Nonlinear equality and inequality constraints (lavaan's ``==``, ``<`` and ``>`` rows that
are not linear equalities).

Linear equality constraints (shared labels, ``group.equal``, ``a == 2*b``) are a
reparametrisation, theta = theta0 + K z (:func:`asymtrust.engine.compile._constraint_reparam`).
The other constraints are kept as functions of the parameters, as lavaan 0.6-14 keeps them in
``con.jac`` (``lav_constraints``):

* estimation (lavaan: ``nlminb.constr``, an augmented Lagrangian): the model is first fitted
  without them; when every inequality holds there and there is no nonlinear equality, that
  is the solution (the inequalities are inactive). Otherwise the objective is minimised
  under the constraints with SciPy's SLSQP, in the reparametrised z, from that point;
* standard errors and robust tests (lavaan: ``lav_model_information_augment_invert``, the
  information bordered by the Jacobian H of the active constraints, inverted by a
  generalised inverse): after estimation the model is reparametrised locally,
  theta = theta_hat + K_a z with K_a spanning the null space of H within the linear
  reparametrisation (:meth:`GeneralConstraints.local_reparam`), so the information,
  sandwich and scaled tests all see the active constraints; a parameter they pin down gets
  no SE (lavaan: NA);
* npar and df: lavaan counts npar as the free parameters minus the rank of the equality
  constraints' Jacobian; an inequality does not change npar or df, active or not.

Names and values come from the parameter table's labels and plabels, through the compiled
expressions of :meth:`asymtrust.library.partable.ParTable.compiled_constraints`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: an inequality holds with equality (is active) when |g| is below this
ACTIVE_TOL = 1e-6


@dataclass
class GeneralConstraints:
    """The constraints that are not linear equalities: ``g(values) == 0`` or ``g >= 0``."""

    names: Any  # compile.NameMap: theta -> {label: value}
    eq: list = field(default_factory=list)  # (text, line, g)
    ineq: list = field(default_factory=list)  # (text, line, g): g >= 0

    def values(self, theta: np.ndarray, which: list) -> np.ndarray:
        env = self.names.values(theta)
        return np.array([float(g(env)) for _, _, g in which], float)

    def jacobian(self, theta: np.ndarray, which: list) -> np.ndarray:
        """Central differences, step 1e-6 x max(1, |theta_j|)."""
        J = np.zeros((len(which), theta.size))
        for j in range(theta.size):
            h = 1e-6 * max(1.0, abs(theta[j]))
            e = np.zeros(theta.size)
            e[j] = h
            J[:, j] = (self.values(theta + e, which) - self.values(theta - e, which)) / (2 * h)
        return J

    def active(self, theta: np.ndarray) -> list:
        """The equalities and the inequalities that hold with equality at theta."""
        g = self.values(theta, self.ineq) if self.ineq else np.zeros(0)
        return list(self.eq) + [c for c, v in zip(self.ineq, g) if v <= ACTIVE_TOL * max(1.0, abs(v))]

    def satisfied(self, theta: np.ndarray) -> bool:
        if self.eq:
            return False
        return not self.ineq or bool(np.all(self.values(theta, self.ineq) >= -ACTIVE_TOL))

    def eq_rank(self, theta: np.ndarray, K: np.ndarray | None) -> int:
        """Rank of the equality constraints' Jacobian within the linear reparametrisation."""
        if not self.eq:
            return 0
        J = self.jacobian(theta, self.eq)
        if K is not None:
            J = J @ K
        sv = np.linalg.svd(J, compute_uv=False)
        return int(np.sum(sv > 1e-9 * max(sv.max(initial=0.0), 1e-300)))

    # ------------------------------------------------------------------ estimation
    def solve(self, obj, rep, theta: np.ndarray, opt):
        """The constrained minimum from the unconstrained one (``opt``, an OptimResult): the
        same result when it already satisfies every constraint."""
        from scipy import optimize

        if self.satisfied(theta):
            return opt
        z0 = rep.to_z(theta)

        def fun(z):
            f, g, _ = obj.evaluate(rep.to_theta(z))
            if not np.isfinite(f):
                return 1e10, np.zeros_like(z)
            return f, rep.grad(g)

        cons = []
        if self.eq:
            cons.append({"type": "eq", "fun": lambda z: self.values(rep.to_theta(z), self.eq),
                         "jac": lambda z: self.jacobian(rep.to_theta(z), self.eq) @ _K(rep)})
        if self.ineq:
            cons.append({"type": "ineq", "fun": lambda z: self.values(rep.to_theta(z), self.ineq),
                         "jac": lambda z: self.jacobian(rep.to_theta(z), self.ineq) @ _K(rep)})
        r = optimize.minimize(fun, z0, jac=True, method="SLSQP", constraints=cons,
                              options={"ftol": 1e-14, "maxiter": 1000})
        th = rep.to_theta(r.x)
        ok = bool(r.success) and np.all(np.abs(self.values(th, self.eq)) < 1e-6) if self.eq else bool(r.success)
        f, g, imp = obj.evaluate(th)
        return type(opt)(theta=th, fmin=f, grad=g, converged=ok, iterations=opt.iterations + int(r.nit),
                         method=f"{opt.method} + SLSQP (constraints)", message=str(r.message), implied=imp)

    # ------------------------------------------------------------------ the local reparametrisation
    def local_reparam(self, rep, theta: np.ndarray):
        """theta = theta_hat + K_a z: the linear reparametrisation ``rep`` restricted to the
        null space of the active constraints' Jacobian at the solution. Every computation
        after estimation (SEs, robust tests, FIML-corrected indices) sees the constraints
        through it, as lavaan's information bordered by the active constraints does: for a
        nonsingular bordered matrix, K_a (K_a' A K_a)^-1 K_a' is its inverse's leading block."""
        from scipy import linalg

        from .estimate import Reparam

        K = _K(rep)
        act = self.active(theta)
        if not act:
            return rep
        J = self.jacobian(theta, act) @ K
        N = linalg.null_space(J, rcond=1e-9)
        Ka = K @ N
        Ka[np.abs(Ka) < 1e-14] = 0.0
        return Reparam(Ka, np.asarray(theta, float) - Ka @ np.zeros(Ka.shape[1]))


def _K(rep) -> np.ndarray:
    return rep.K if not getattr(rep, "_identity", False) else np.eye(rep.nz)
