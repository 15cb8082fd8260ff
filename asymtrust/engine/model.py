"""Model matrices built once from the parameter table (pipeline step: partable -> model).

asymtrust uses the RAM (reticular action model) representation for every group:
all observed and latent variables are nodes; ``A`` holds directed effects
(loadings and regressions, ``A[to, from]``), ``S`` holds (residual) variances and
covariances, ``m`` holds intercepts/means. With ``B = (I - A)^{-1}`` and ``F`` the
selection of the observed nodes,

    Sigma = F B S B' F'        mu = F B m

This covers CFA, full SEM, observed-variable path models, higher-order factors and
fixed-x covariates with one code path. The structure (which parameter sits where)
is computed once in :class:`RamModel`; refits only call :meth:`RamModel.implied`,
:meth:`RamModel.gradient` and :meth:`RamModel.delta` with new parameter vectors.

Parameter vectors: ``theta`` has one entry per free row of the parameter table
(``free`` = 1..n_free, lavaan's ``ceq.simple=FALSE`` convention). Linear equality
constraints are handled one level up (:mod:`asymtrust.engine.estimate`) as
``theta = theta0 + K z``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_STRUCT_OPS = ("=~", "~", "~~", "~1")


@dataclass
class GroupStructure:
    """Where each parameter-table row of one group lives in the RAM matrices."""

    nvar: int
    ov_idx: np.ndarray  # positions of the observed variables among the nodes
    A0: np.ndarray  # fixed part of A
    S0: np.ndarray
    m0: np.ndarray
    # free entries: flat positions in the matrix and the free-parameter index (0-based)
    a_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    a_par: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    s_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # both (i,j) and (j,i)
    s_par: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    s_sym_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # one (i,j) per param
    s_sym_par: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    s_sym_mult: np.ndarray = field(default_factory=lambda: np.zeros(0))  # 1 diagonal, 2 off-diagonal
    m_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    m_par: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    a_unique: bool = True
    s_unique: bool = True
    a_rc: tuple = ()
    s_rc: tuple = ()
    exo_pos: list = field(default_factory=list)  # ((lhs, op, rhs), op, i, j) of the fixed-x rows
    active: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # free parameters of this group
    depth: int | None = None  # longest directed path when the model is recursive (None: has cycles)
    ov_ix: tuple = ()


@dataclass(slots=True)
class Implied:
    """Model-implied moments of one group plus the intermediate matrices."""

    A: np.ndarray
    S: np.ndarray
    m: np.ndarray
    B: np.ndarray  # (I - A)^{-1}
    FB: np.ndarray  # B restricted to the observed rows
    C: np.ndarray  # B S B', covariance of all nodes
    sigma: np.ndarray
    mu: np.ndarray
    SBt: np.ndarray | None = None  # S B', reused by the gradient
    sigma_inv: np.ndarray | None = None  # filled by the ML objective, reused by the information
    logdet: float | None = None  # log|Sigma|, filled by the ML objective


def _nilpotent_depth(A0: np.ndarray, a_pos: list, nv: int) -> int | None:
    """Length of the longest directed path of the RAM structure, or None if it has a cycle
    (a non-recursive model, where (I - A)^-1 needs a real inverse)."""
    pattern = (A0 != 0).astype(float)
    if a_pos:
        pattern.flat[np.array(a_pos, int)] = 1.0
    P = pattern.copy()
    for depth in range(1, nv + 1):
        if not P.any():
            return max(depth - 1, 1)
        P = (P @ pattern > 0).astype(float)
    return None


class _Placement:
    """Where the rows of one group go (:func:`_place_rows`): the fixed matrices and, for the
    free rows, flat matrix positions next to 0-based free-parameter indices."""

    __slots__ = ("A0", "S0", "m0", "a_pos", "a_par", "s_pos", "s_par", "s_sym_pos", "s_sym_par",
                 "s_sym_mult", "m_pos", "m_par", "exo_pos")

    def __init__(self, nv: int):
        self.A0 = np.zeros((nv, nv))
        self.S0 = np.zeros((nv, nv))
        self.m0 = np.zeros(nv)
        self.a_pos, self.a_par, self.s_pos, self.s_par, self.m_pos, self.m_par = [], [], [], [], [], []
        self.s_sym_pos, self.s_sym_par, self.s_sym_mult = [], [], []
        self.exo_pos = []


def table_columns(pt) -> dict[str, np.ndarray]:
    """The columns of ``pt.table`` as NumPy arrays (text columns as object arrays), read once
    per table: a parameter table is immutable once built, and the compiled model, the name
    map and the checks of a first fit all read the same columns (per-row pandas access costs
    more than the arithmetic it feeds)."""
    tab = pt.table
    d = getattr(pt, "__dict__", None)
    hit = d.get("_columns") if d is not None else None
    if hit is not None and hit[0] is tab:
        return hit[1]
    cols = frame_columns(tab)
    if d is not None:
        d["_columns"] = (tab, cols)
    return cols


def frame_columns(tab) -> dict[str, np.ndarray]:
    """The columns of a parameter-table DataFrame as NumPy arrays (``exo`` 0 when absent)."""
    cols = {c: col.to_numpy() for c, col in tab.items()}
    if "exo" not in cols:
        cols["exo"] = np.zeros(len(tab), int)
    return cols


def ops_in(op: np.ndarray, ops) -> np.ndarray:
    """``np.isin(op, ops)`` for a text column (``op`` of a table): a set lookup per row, which
    is faster than NumPy's sorting path for object arrays."""
    wanted = frozenset(ops)
    return np.fromiter((o in wanted for o in op.tolist()), bool, len(op))


def _place_rows(cols: dict, sel: np.ndarray, node_index: dict, nv: int, exo: dict) -> _Placement:
    """Place each parameter row of one group (``sel``: row positions in the table's columns
    ``cols``) in the RAM matrices: loadings and regressions in ``A[to, from]``, (co)variances
    in ``S`` (both triangles), intercepts/means in ``m``. Fixed rows write their value (a
    fixed-x row its sample moment from ``exo``; no value: 0), free rows their position; the
    fixed-x rows are listed in ``exo_pos`` for :meth:`RamModel.with_exo`."""
    pl = _Placement(nv)
    rows = zip(cols["lhs"][sel].tolist(), cols["op"][sel].tolist(), cols["rhs"][sel].tolist(),
               cols["free"][sel].tolist(), cols["ustart"][sel].tolist(), cols["exo"][sel].tolist())
    for lhs, op, rhs, free, val, is_exo in rows:
        free = int(free)
        if free == 0 and int(is_exo) == 1 and op in ("~~", "~1"):
            pl.exo_pos.append(((lhs, op, rhs), op, node_index[lhs],
                               node_index[rhs] if op == "~~" else -1))
        if free == 0:
            if int(is_exo) == 1 and (lhs, op, rhs) in exo:
                val = exo[(lhs, op, rhs)]
            if val is None or not np.isfinite(val):
                val = 0.0
        if op in ("=~", "~"):
            # A[to, from]: a loading points from the factor (lhs) to the indicator (rhs),
            # a regression from the predictor (rhs) to the outcome (lhs)
            to, frm = (rhs, lhs) if op == "=~" else (lhs, rhs)
            i, j = node_index[to], node_index[frm]
            if free:
                pl.a_pos.append(i * nv + j)
                pl.a_par.append(free - 1)
            else:
                pl.A0[i, j] = val
        elif op == "~~":
            i, j = node_index[lhs], node_index[rhs]
            if free:
                pl.s_pos.append(i * nv + j)
                pl.s_par.append(free - 1)
                pl.s_sym_pos.append(i * nv + j)
                pl.s_sym_par.append(free - 1)
                pl.s_sym_mult.append(1.0 if i == j else 2.0)
                if i != j:
                    pl.s_pos.append(j * nv + i)
                    pl.s_par.append(free - 1)
            else:
                pl.S0[i, j] = pl.S0[j, i] = val
        elif op == "~1":
            i = node_index[lhs]
            if free:
                pl.m_pos.append(i)
                pl.m_par.append(free - 1)
            else:
                pl.m0[i] = val
    return pl


class RamModel:
    """The RAM structure of a parameter table, built once and reused across refits.

    Parameters
    ----------
    partable : asymtrust.library.partable.ParTable
        The parameter table.
    exo_values : list of dict, optional
        Per group, values for the fixed-x rows (``exo == 1``), keyed by
        ``(lhs, op, rhs)``; normally the sample moments of the covariates.
    columns : dict, optional
        The table's columns as arrays (:func:`table_columns`), when the caller has them.
    """

    def __init__(self, partable, exo_values: list[dict] | None = None, *, columns: dict | None = None):
        self.partable = partable
        cols = table_columns(partable) if columns is None else columns  # columns: the table's, as arrays
        self._layout_nodes(partable)
        free = cols["free"]
        self.n_free = int(free.max()) if len(free) and free.max() > 0 else 0
        self.groups: list[GroupStructure] = []
        struct = ops_in(cols["op"], _STRUCT_OPS)
        group = cols["group"]
        for g in range(1, self.ngroups + 1):
            sel = np.flatnonzero((group == g) & struct)
            exo = (exo_values or [{}] * self.ngroups)[g - 1] if exo_values else {}
            self.groups.append(self._group_structure(cols, sel, exo))
        self._eye = np.eye(self.nvar)

    # ------------------------------------------------------------------ structure
    def _layout_nodes(self, partable) -> None:
        """The nodes of the RAM matrices: the observed variables first (so that Sigma is the
        leading p x p block), then the latents; sizes and the group/meanstructure options."""
        self.ov_names: list[str] = list(partable.ov_names)
        self.lv_names: list[str] = list(partable.lv_names)
        self.nodes = self.ov_names + [v for v in self.lv_names if v not in self.ov_names]
        self.node_index = {v: i for i, v in enumerate(self.nodes)}
        self.p = len(self.ov_names)
        self.nvar = len(self.nodes)
        self.ngroups = int(partable.ngroups)
        self.meanstructure = bool(partable.meanstructure)

    def _group_structure(self, cols: dict, sel: np.ndarray, exo: dict) -> GroupStructure:
        """The :class:`GroupStructure` of one group's parameter rows (``sel``): the fixed
        matrices and the positions of the free parameters (:func:`_place_rows`), packed as
        index arrays."""
        nv = self.nvar
        pl = _place_rows(cols, sel, self.node_index, nv, exo)
        ov_idx = np.array([self.node_index[v] for v in self.ov_names], dtype=int)
        assert np.array_equal(ov_idx, np.arange(len(ov_idx)))  # observed nodes come first
        return GroupStructure(
            nvar=nv, ov_idx=ov_idx, A0=pl.A0, S0=pl.S0, m0=pl.m0,
            a_pos=np.array(pl.a_pos, int), a_par=np.array(pl.a_par, int),
            s_pos=np.array(pl.s_pos, int), s_par=np.array(pl.s_par, int),
            s_sym_pos=np.array(pl.s_sym_pos, int), s_sym_par=np.array(pl.s_sym_par, int),
            s_sym_mult=np.array(pl.s_sym_mult, float),
            m_pos=np.array(pl.m_pos, int), m_par=np.array(pl.m_par, int),
            a_unique=len(set(pl.a_par)) == len(pl.a_par),
            s_unique=len(set(pl.s_sym_par)) == len(pl.s_sym_par),
            a_rc=np.divmod(np.array(pl.a_pos, int), nv), s_rc=np.divmod(np.array(pl.s_sym_pos, int), nv),
            exo_pos=pl.exo_pos,
            active=np.unique(np.array(pl.a_par + pl.s_sym_par + pl.m_par, int)),
            depth=_nilpotent_depth(pl.A0, pl.a_pos, nv),
            ov_ix=np.ix_(ov_idx, ov_idx),
        )

    def with_exo(self, exo_values: list[dict]) -> "RamModel":
        """A copy sharing the structure, with the fixed-x moments set to new sample values.

        The structure of a model is built once (and cached); each fit only injects the
        covariates' sample moments."""
        import copy

        new = copy.copy(self)
        groups = []
        for gs, exo in zip(self.groups, exo_values):
            if not gs.exo_pos:
                groups.append(gs)
                continue
            S0, m0 = gs.S0.copy(), gs.m0.copy()
            for key, op, i, j in gs.exo_pos:
                if key not in exo:
                    continue
                if op == "~~":
                    S0[i, j] = S0[j, i] = exo[key]
                else:
                    m0[i] = exo[key]
            g2 = copy.copy(gs)
            g2.S0, g2.m0 = S0, m0
            groups.append(g2)
        new.groups = groups
        return new

    # ------------------------------------------------------------------ matrices
    def matrices(self, theta: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A, S, m of group ``g`` (0-based) at ``theta``."""
        gs = self.groups[g]
        A = gs.A0.copy()
        S = gs.S0.copy()
        m = gs.m0.copy()
        if gs.a_pos.size:
            A.flat[gs.a_pos] = theta[gs.a_par]
        if gs.s_pos.size:
            S.flat[gs.s_pos] = theta[gs.s_par]
        if gs.m_pos.size:
            m[gs.m_pos] = theta[gs.m_par]
        return A, S, m

    def implied(self, theta: np.ndarray) -> list[Implied]:
        """Model-implied covariance and mean of the observed variables, per group."""
        out = []
        for g, gs in enumerate(self.groups):
            A, S, m = self.matrices(theta, g)
            if gs.depth is not None:
                # recursive model: A is nilpotent, (I - A)^-1 = I + A + ... + A^depth
                B = self._eye + A
                P = A
                for _ in range(gs.depth - 1):
                    P = P @ A
                    B = B + P
            else:
                B = np.linalg.inv(self._eye - A)
            # the observed variables are the first p nodes: FB and Sigma are slices
            p = self.p
            FB = B[:p]
            SBt = S @ B.T
            C = B @ SBt
            sigma = C[:p, :p]
            sigma = (sigma + sigma.T) / 2.0
            mu = FB @ m
            out.append(Implied(A=A, S=S, m=m, B=B, FB=FB, C=C, sigma=sigma, mu=mu, SBt=SBt))
        return out

    # ------------------------------------------------------------------ derivatives
    def gradient(self, implied: list[Implied], W: list[np.ndarray], gmu: list[np.ndarray | None]) -> np.ndarray:
        """Chain rule from d f/d Sigma (``W``, full-matrix form) and d f/d mu to d f/d theta.

        ``W[g]`` must satisfy ``df = tr(W dSigma) + gmu' dmu`` for group ``g``.
        """
        grad = np.zeros(self.n_free)
        for g, gs in enumerate(self.groups):
            imp = implied[g]
            FB = imp.FB
            WFB = W[g] @ FB
            GS = FB.T @ WFB  # d f / d S (full, symmetric)
            if gs.a_pos.size:
                # d f / d A = 2 GS S B' (+ (F B)' gmu m' B' with means), needed only at
                # the free entries: row-by-column products instead of two full products
                rows, cols = gs.a_rc
                SBt = imp.SBt if imp.SBt is not None else imp.S @ imp.B.T
                ga = 2.0 * (GS[rows] * SBt.T[cols]).sum(axis=1)
                if gmu[g] is not None:
                    ga += (FB.T @ gmu[g])[rows] * (imp.B @ imp.m)[cols]
                if gs.a_unique:  # each free parameter appears once: plain indexed add
                    grad[gs.a_par] += ga
                else:
                    np.add.at(grad, gs.a_par, ga)
            if gs.s_sym_pos.size:
                if gs.s_unique:
                    grad[gs.s_sym_par] += GS.flat[gs.s_sym_pos] * gs.s_sym_mult
                else:
                    np.add.at(grad, gs.s_sym_par, GS.flat[gs.s_sym_pos] * gs.s_sym_mult)
            if gs.m_pos.size and gmu[g] is not None:
                Gm = FB.T @ gmu[g]
                np.add.at(grad, gs.m_par, Gm[gs.m_pos])
        return grad

    def factors(self, implied: list[Implied], *, active: bool = False):
        """Rank-two factors of the implied-moment Jacobian, per group ``(U, V, mult, dmu)``.

        For every free parameter k, dSigma/dtheta_k = mult_k (u_k v_k' + v_k u_k') with
        u_k, v_k the k-th columns of U and V (p x n_free), and dmu/dtheta_k = dmu[:, k].
        For a loading or regression A[i, j]: u = (FB)[:, i], v = (B S B' F')[j, :];
        for a (co)variance S[i, j]: u = (FB)[:, i], v = (FB)[:, j], mult = 1/2 on the
        diagonal. This lets the expected information be computed in O(K p^2 + K^2 p)
        without forming the K x p x p Jacobian. With ``active=True`` the columns are
        only the group's own parameters (``GroupStructure.active``), which is what makes
        multi-group information matrices cheap.
        """
        out = []
        for gs, imp in zip(self.groups, implied):
            plan = self._factor_plan(gs, active)
            FB = imp.FB
            # V's source columns: C[ov, :] (for A entries; C is symmetric) next to FB (for S entries)
            src = np.concatenate((imp.C[gs.ov_idx, :], FB), axis=1)
            U = FB[:, plan["u"]]
            V = src[:, plan["v"]]
            if plan["zero"].size:  # means, intercepts and other groups' parameters do not move Sigma
                U[:, plan["zero"]] = 0.0
                V[:, plan["zero"]] = 0.0
            dm = np.zeros(U.shape)
            if self.meanstructure:
                if plan["a_c"].size:
                    dm[:, plan["a_c"]] = U[:, plan["a_c"]] * (imp.B @ imp.m)[plan["a_from"]][None, :]
                if plan["m_c"].size:
                    dm[:, plan["m_c"]] = FB[:, plan["m_node"]]
            out.append((U, V, plan["mult"], dm))
        return out

    def _factor_plan(self, gs: GroupStructure, active: bool) -> dict:
        """Static part of :meth:`factors` for one group: which node column feeds each
        parameter's u and v, and the multipliers. Built once per group and reused."""
        cache = gs.__dict__.setdefault("_factor_plans", {})
        plan = cache.get(active)
        if plan is not None:
            return plan
        nv = gs.nvar
        if active:
            K = len(gs.active)
            col = np.full(self.n_free, -1)
            col[gs.active] = np.arange(K)
        else:
            K = self.n_free
            col = np.arange(K)
        u = np.zeros(K, int)
        v = np.zeros(K, int)
        mult = np.ones(K)
        a_c = np.zeros(0, int)
        a_from = np.zeros(0, int)
        if gs.a_pos.size:
            rows, cols = gs.a_rc
            a_c = col[gs.a_par]
            u[a_c] = rows
            v[a_c] = cols  # column of C[ov, :]
            a_from = np.asarray(cols)
        if gs.s_sym_pos.size:
            rows, cols = gs.s_rc
            c = col[gs.s_sym_par]
            u[c] = rows
            v[c] = nv + cols  # column of FB
            mult[c] = np.where(rows == cols, 0.5, 1.0)
        m_c = col[gs.m_par] if gs.m_pos.size else np.zeros(0, int)
        moves = np.zeros(K, bool)
        moves[a_c] = True
        if gs.s_sym_pos.size:
            moves[col[gs.s_sym_par]] = True
        plan = {"u": u, "v": v, "mult": mult, "a_c": a_c, "a_from": a_from, "m_c": m_c,
                "zero": np.flatnonzero(~moves),
                "m_node": np.asarray(gs.m_pos, int)}
        cache[active] = plan
        return plan

    def delta(self, implied: list[Implied]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Jacobians of the implied moments: per group ``(dSigma, dmu)``.

        ``dSigma`` has shape (n_free, p, p) and ``dmu`` shape (n_free, p): the derivative
        of Sigma and mu with respect to each free parameter (zero for parameters of
        other groups).
        """
        out = []
        for U, V, mult, dm in self.factors(implied):
            T = np.einsum("pk,qk->kpq", U, V)
            dS = (T + T.transpose(0, 2, 1)) * mult[:, None, None]
            out.append((dS, dm.T.copy()))
        return out
