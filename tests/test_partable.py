"""build_partable() against lavaan 0.6-14's parTable().

Reference: tests/reference/lavaan/partable/partables.json, written by make_partables.R in the
same folder (lavaan fits of the HS, PD, HSx, multigroup, std.lv, second-order, ``:=``/``==``
and meanstructure cases).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asymtrust.exceptions import (
    AsymtrustError,
    LabelError,
    OptionError,
    SyntaxModelError,
    UnknownVariableError,
)
from asymtrust.library.partable import ParTable, build_partable

REF = Path(__file__).parent / "reference" / "lavaan" / "partable" / "partables.json"
DATA = json.loads(REF.read_text())
CASES = {c["case"]: c for c in DATA["cases"]}

HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
HS_COLS = ["id", "sex", "ageyr", "agemo", "school", "grade"] + [f"x{i}" for i in range(1, 10)]


def _build(case: dict) -> ParTable:
    return build_partable(case["model"], observed=case["observed"], **case["build_args"])


def _key(r: dict) -> tuple:
    return (r["lhs"], r["op"], r["rhs"], int(r["group"]))


def _ustart(v) -> float:
    return math.nan if v is None else float(v)


def test_reference_metadata():
    assert DATA["lavaan_version"] == "0.6.14"
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", sorted(CASES))
def test_rows_match_lavaan(name):
    case = CASES[name]
    pt = _build(case)
    ours = {_key(r): r for r in pt.table.to_dict("records")}
    theirs = {_key(r): r for r in case["partable"]}
    assert len(ours) == len(pt.table)  # no duplicated rows
    assert set(ours) == set(theirs)
    for k, ref in theirs.items():
        row = ours[k]
        assert (row["free"] > 0) == (ref["free"] > 0), k
        assert row["exo"] == ref["exo"], k
        assert row["user"] == ref["user"], k
        if ref["op"] in ("=~", "~", "~~", "~1"):
            # fixed values and user starting values
            u, v = _ustart(row["ustart"]), _ustart(ref["ustart"])
            assert (math.isnan(u) and math.isnan(v)) or u == v, (k, u, v)
            assert row["label"] == ref["label"], k
            assert row["plabel"] == ref["plabel"], k


@pytest.mark.parametrize("name", sorted(CASES))
def test_counts_and_order_match_lavaan(name):
    case = CASES[name]
    pt = _build(case)
    ref = pd.DataFrame(case["partable"])
    assert pt.n_free == int((ref["free"] > 0).sum())
    assert pt.n_eq == int((ref["op"] == "==").sum())
    # free slots are 1..n_free, each used once
    assert sorted(pt.free_rows()["free"]) == list(range(1, pt.n_free + 1))
    # lavaan's row order (our free-slot numbering follows the row order too)
    assert [_key(r) for r in pt.table.to_dict("records")] == [_key(r) for r in case["partable"]]
    assert pt.table["free"].tolist() == ref["free"].tolist()
    assert pt.meanstructure == case["meanstructure"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_variable_sets_match_lavnames(name):
    case = CASES[name]
    pt = _build(case)
    vn = case["vnames"]
    assert pt.ov_names == list(vn["ov"])
    assert pt.lv_names == list(vn["lv"])
    assert pt.ov_x == list(vn["ov_x"])
    assert pt.ov_y == list(vn["ov_y"])
    assert pt.lv_x == list(vn["lv_x"])
    assert pt.lv_y == list(vn["lv_y"])
    assert pt.ov_ind == list(vn["ov_ind"])
    assert pt.ov_nox == list(vn["ov_nox"])


def _constraint_rank(pt: ParTable) -> int:
    """Rank of the Jacobian of the '==' rows with respect to the free slots."""
    t = pt.table
    free = t["free"].to_numpy()
    base = np.where(np.isnan(t["ustart"].to_numpy(float)), 0.0, t["ustart"].to_numpy(float))
    eqs = [fn for op, fn in pt.compiled_constraints() if op == "=="]
    if not eqs:
        return 0
    rng = np.random.default_rng(1)
    x0 = rng.uniform(0.5, 1.5, pt.n_free)

    def g(x):
        vals = base.copy()
        vals[free > 0] = x[free[free > 0] - 1]
        env = pt.label_values(vals)
        env.update(pt.evaluate_defined(vals))
        return np.array([fn(env) for fn in eqs])

    h = 1e-6
    jac = np.column_stack(
        [(g(x0 + h * e) - g(x0 - h * e)) / (2 * h) for e in np.eye(pt.n_free)]
    )
    return int(np.linalg.matrix_rank(jac, tol=1e-6))


@pytest.mark.parametrize("name", sorted(CASES))
def test_npar_matches_lavaan(name):
    """lavaan's npar = free slots - rank of the equality-constraint Jacobian."""
    case = CASES[name]
    pt = _build(case)
    assert pt.n_free - _constraint_rank(pt) == case["npar"]


def test_defined_values_at_lavaan_estimates():
    """':=' evaluated on lavaan's estimates reproduces lavaan's ':=' estimates (pd_defined)."""
    case = CASES["pd_defined"]
    pt = _build(case)
    ref = pd.DataFrame(case["partable"])
    est = ref["est"].astype(float).to_numpy()
    values = pt.evaluate_defined(est)
    lav = ref[ref["op"] == ":="].set_index("lhs")["est"]
    assert set(values) == set(lav.index) == {"ind", "total"}
    for name, v in values.items():
        assert v == pytest.approx(float(lav[name]), rel=1e-12)
    # the linear constraint holds at lavaan's optimum
    env = pt.label_values(est)
    cons = dict((fn.expr, fn(env)) for op, fn in pt.compiled_constraints() if op == "==")
    assert cons["(c)-(0.5*b)"] == pytest.approx(0.0, abs=1e-6)  # nlminb feasibility
    assert pt.defined == [("ind", "a*b", 9), ("total", "c+ind", 10)]
    assert pt.constraints == [("c", "==", "0.5*b", 11), ("a", ">", "0", 12)]


def test_equality_rows_at_lavaan_estimates():
    """The '==' rows of group_equal hold at lavaan's MG scalar estimates."""
    case = CASES["mg_scalar"]
    pt = _build(case)
    est = pd.DataFrame(case["partable"])["est"].astype(float).to_numpy()
    env = pt.label_values(est)
    vals = [fn(env) for op, fn in pt.compiled_constraints() if op == "=="]
    assert len(vals) == 15
    assert np.allclose(vals, 0.0, atol=1e-8)


# --------------------------------------------------------------------------------------
# behaviour not covered by the reference file
# --------------------------------------------------------------------------------------
def test_table_columns_and_types():
    pt = build_partable(HS)
    assert list(pt.table.columns) == [
        "id", "lhs", "op", "rhs", "user", "group", "free", "ustart", "exo", "label", "plabel", "line",
        "block", "level", "efa",
    ]
    assert pt.table["id"].tolist() == list(range(1, len(pt.table) + 1))
    assert pt.table["line"].tolist()[:9] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert set(pt.table["line"].iloc[9:]) == {0}
    frame = pt.to_lavaan_frame()
    assert "block" in frame.columns and "line" not in frame.columns
    assert pt.group_labels == ["1"]
    assert "21 free" in repr(pt)


def test_unknown_variable_names_variable_and_line():
    with pytest.raises(UnknownVariableError, match=r"line 2.*'x99'"):
        build_partable("visual =~ x1 + x2 + x3\ntextual =~ x4 + x99 + x6", observed=HS_COLS)
    # latent names need not be columns, but must not be one (lavaan: "collide")
    pt = build_partable(HS, observed=HS_COLS)
    assert pt.lv_names == ["visual", "textual", "speed"]
    with pytest.raises(SyntaxModelError, match=r"line 2: latent variable name 'x1' collides"):
        build_partable("f =~ x2 + x3 + x4\nx1 =~ x5 + x6 + x7", observed=HS_COLS)


def test_copy_is_independent():
    pt = build_partable(HS, ngroups=2, group_equal=["loadings"])
    cp = pt.copy()
    cp.table.loc[0, "free"] = 99
    cp.ov_names.append("zz")
    assert pt.table.loc[0, "free"] == 0 and "zz" not in pt.ov_names
    assert cp.ngroups == 2 and cp.n_eq == pt.n_eq == 6


def test_covariate_with_variance_becomes_random():
    pt = build_partable("f =~ x1 + x2 + x3\nf ~ z + w\nz ~~ z")
    assert pt.ov_x == ["w"]
    assert any("'z'" in w for w in pt.warnings)
    row = pt.table[(pt.table["lhs"] == "z") & (pt.table["op"] == "~~")]
    assert row["free"].iloc[0] > 0 and row["exo"].iloc[0] == 0


def test_label_errors():
    with pytest.raises(LabelError, match=r"line 1.*'x2'"):
        build_partable("f =~ x1 + x2*x3 + x2")
    with pytest.raises(LabelError, match=r"'a'.*different fixed values"):
        build_partable("f =~ x1 + 1*x2 + a*x2 + 2*x3 + a*x3")
    with pytest.raises(LabelError, match=r"line 2.*'a'"):
        build_partable("f =~ x1 + a*x2 + x3\na := 2")
    with pytest.raises(LabelError, match=r"line 2.*'q'"):
        build_partable("f =~ x1 + a*x2 + x3\nd := a*q")
    with pytest.raises(LabelError, match=r"line 3.*'zz'"):
        build_partable("f =~ x1 + a*x2 + x3\n\nzz == a")


def test_defined_may_use_earlier_definition_only():
    pt = build_partable("f =~ x1 + a*x2 + b*x3\nd1 := a*b\nd2 := d1 + 1")
    assert [d[0] for d in pt.defined] == ["d1", "d2"]
    with pytest.raises(LabelError, match=r"line 2.*'d2'"):
        build_partable("f =~ x1 + a*x2 + b*x3\nd1 := d2*b\nd2 := a")


def test_option_errors():
    with pytest.raises(OptionError, match="ngroups"):
        build_partable(HS, ngroups=0)
    with pytest.raises(OptionError, match="thresholdz"):
        build_partable(HS, ngroups=2, group_equal=["thresholdz"])
    with pytest.raises(OptionError, match="parameterization"):
        build_partable(HS, parameterization="theta2")
    with pytest.raises(OptionError, match="missing"):
        build_partable(HS, missing="pairwise-ish")
    with pytest.raises(OptionError, match="group_labels"):
        build_partable(HS, ngroups=2, group_labels=["a"])
    with pytest.raises(OptionError, match="group_partial"):
        build_partable(HS, ngroups=2, group_equal=["loadings"], group_partial=["visual x2"])
    with pytest.raises(SyntaxModelError, match=r"line 1.*3 elements.*2 group"):
        build_partable("f =~ x1 + c(a, b, c)*x2 + x3", ngroups=2)


def test_label_values_length_checked():
    pt = build_partable(HS)
    with pytest.raises(OptionError, match="24 table rows"):
        pt.label_values([1.0, 2.0])


def test_all_errors_are_typed():
    for bad in ["", "f =~", "f =~ x1 + + x2", "f <~ x1 + x2 ~ x3", "y ~ y", "f =~ x1\nf =~ x1", "x1 | t1 + x2"]:
        with pytest.raises(AsymtrustError):
            build_partable(bad)


# ----------------------------------------------------------------------------- issue 14: the rest of lavaan's syntax
# Each table below was checked against lavaan 0.6-14's parTable(sem(..., do.fit = FALSE)); the harness
# cases (tests/test_lavaan_check.py: parse_c_a, parse_YR_OKT18_9, parse_b_a, parse_d_a, parse_YR_OKT20_2,
# parse_testtwolevellabels, parse_testefacfaccc) pin the same rules row by row.
def test_ordered_items_get_lavaans_rows():
    t = build_partable("f =~ u1 + u2 + u3", ordered={"u1": 2, "u2": 2, "u3": 1}).table
    th = t[t["op"] == "|"]
    assert list(zip(th["lhs"], th["rhs"])) == [("u1", "t1"), ("u1", "t2"), ("u2", "t1"), ("u2", "t2"), ("u3", "t1")]
    assert (th["free"] > 0).all()
    var = t[(t["op"] == "~~") & t["lhs"].isin(["u1", "u2", "u3"])]
    assert (var["free"] == 0).all() and (var["ustart"] == 1.0).all()  # delta: residual variances fixed at 1
    assert ((t["op"] == "~*~") & (t["free"] == 0)).sum() == 3
    ints = t[(t["op"] == "~1") & t["lhs"].isin(["u1", "u2", "u3"])]
    assert (ints["free"] == 0).all() and (ints["ustart"] == 0.0).all()


def test_ordered_option_errors_name_the_item():
    with pytest.raises(OptionError, match="ordered item 'u1': the number of thresholds is unknown"):
        build_partable("f =~ u1 + u2 + u3", ordered=["u1"])
    with pytest.raises(OptionError, match="'f' is a latent variable"):
        build_partable("f =~ u1 + u2 + u3", ordered={"f": 2})
    with pytest.raises(OptionError, match="ordered item 'u1': 0 thresholds"):
        build_partable("f =~ u1 + u2 + u3", ordered={"u1": 0})
    with pytest.raises(SyntaxModelError, match="line 2: item 'u1' has 1 threshold"):
        build_partable("f =~ u1 + u2 + u3\nu1 | t1 + t2", ordered={"u1": 1})


def test_thresholds_equal_across_groups_free_the_scales():
    # lav_partable_flat: group.equal = "thresholds" frees the ~*~ rows (delta) of groups 2.. and
    # the latent means; with theta the residual variances of the ordered items instead
    t = build_partable("f =~ u1 + u2 + u3", ordered={"u1": 1, "u2": 1, "u3": 1}, ngroups=2,
                       group_equal=["thresholds", "loadings"]).table
    assert (t[(t["op"] == "~*~") & (t["group"] == 2)]["free"] > 0).all()
    assert (t[(t["op"] == "~1") & (t["lhs"] == "f") & (t["group"] == 2)]["free"] > 0).all()
    assert (t["op"] == "==").sum() == 2 + 3  # two loadings, three thresholds
    th = build_partable("f =~ u1 + u2 + u3", ordered={"u1": 1, "u2": 1, "u3": 1}, ngroups=2,
                        group_equal=["thresholds"], parameterization="theta").table
    v2 = th[(th["op"] == "~~") & (th["lhs"] == th["rhs"]) & th["lhs"].isin(["u1", "u2", "u3"]) & (th["group"] == 2)]
    assert (v2["free"] > 0).all()


def test_efa_sets_tied_by_labels_are_marked_not_fixed():
    # lav_partable_efa_constraints: a later set whose loadings all carry the first set's labels is
    # identified by the equality constraints instead (user 77, rows left free)
    syntax = ('efa("a")*f1 + efa("a")*f2 =~ l1*y1 + l2*y2 + l3*y3\n'
              'efa("b")*f3 + efa("b")*f4 =~ l1*y4 + l2*y5 + l3*y6')
    t = build_partable(syntax).table
    first = t[(t["lhs"] == "f2") & (t["rhs"] == "y1")].iloc[0]
    assert int(first["free"]) == 0 and int(first["user"]) == 7
    other = t[(t["lhs"] == "f4") & (t["rhs"] == "y4")].iloc[0]
    assert int(other["user"]) == 77
    assert set(t.loc[t["op"] == "=~", "efa"]) == {"a", "b"}


def test_interaction_terms_need_both_columns():
    pt = build_partable("y ~ x + z + x:z", observed=["y", "x", "z"])
    assert "x:z" in pt.ov_names
    with pytest.raises(UnknownVariableError, match="'x:w'"):
        build_partable("y ~ x + z + x:w", observed=["y", "x", "z"])


def test_blocks_without_levels_set_the_groups():
    t = build_partable("group: a\nf =~ x1 + x2 + x3\ngroup: b\nf =~ x1 + x2 + x3").table
    assert sorted(set(t.loc[t["group"] > 0, "group"])) == [1, 2]
    with pytest.raises(OptionError, match=r"group: blocks \['a', 'c'\] do not match the data's groups"):
        build_partable("group: a\nf =~ x1 + x2 + x3\ngroup: c\nf =~ x1 + x2 + x3", ngroups=2, group_labels=["a", "b"])
