"""lavaan syntax parser and expression compiler.

Expression values are checked against R's own evaluation (tests/reference/lavaan/partable/
partables.json, written by make_partables.R). Parsed tables are checked against lavaan in
tests/test_partable.py; here we check the parser's statements, lines and typed errors, and
(property-based) that no input makes it raise anything but an AsymtrustError.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asymtrust.exceptions import (
    AsymtrustError,
    DuplicateDefinitionError,
    LabelError,
    SyntaxModelError,
)
from asymtrust.library.partable import build_partable
from asymtrust.library.syntax import compile_expression, expression_names, parse_syntax

REF = json.loads(
    (Path(__file__).parent / "reference" / "lavaan" / "partable" / "partables.json").read_text()
)


# --------------------------------------------------------------------------------------
# statements
# --------------------------------------------------------------------------------------
def _rows(syntax: str):
    m = parse_syntax(syntax)
    return [(s.lhs[0], s.op, [t.name for t in s.terms], s.line) for s in m.statements]


def test_basic_operators_and_lines():
    m = parse_syntax(
        "# a comment\n"
        "f =~ x1 + x2 + x3   # trailing comment\n"
        "y ~ f + z ! lavaan's other comment\n"
        "x1 ~~ x2\n"
        "y ~ 1\n"
        "d := 2*3\n"
        "d > 0\n"
    )
    assert [(s.lhs[0], s.op, [t.name for t in s.terms], s.line) for s in m.statements] == [
        ("f", "=~", ["x1", "x2", "x3"], 2),
        ("y", "~", ["f"], 3),
        ("y", "~", ["z"], 3),
        ("x1", "~~", ["x2"], 4),
        ("y", "~1", [""], 5),
    ]
    assert [(s.lhs[0], s.op, s.expr, s.line) for s in m.user_cons] == [
        ("d", ":=", "2*3", 6),
        ("d", ">", "0", 7),
    ]


def test_multiline_and_semicolons():
    rows = _rows("f =~ x1 +\n   x2\n   + x3; g =~ x4 + x5 + x6\n\ny ~\n 1")
    assert rows == [
        ("f", "=~", ["x1", "x2", "x3"], 1),
        ("g", "=~", ["x4", "x5", "x6"], 3),
        ("y", "~1", [""], 5),
    ]


def test_multi_lhs_and_intercept_in_regression():
    rows = _rows("y1 + y2 ~ x + 1")
    assert rows == [("y1", "~", ["x"], 1), ("y1", "~1", [""], 1), ("y2", "~", ["x"], 1), ("y2", "~1", [""], 1)]


def test_modifiers():
    m = parse_syntax(
        "f =~ NA*x1 + a*x2 + 0.5*x3 + start(0.7)*x4 + label('b')*x5 + equal(\"a\")*x6 + "
        "NA*lab*x7 + 1.5?x8 + -1e-1*x9"
    )
    mods = {t.name: t.modifier(1) for t in m.statements[0].terms}
    assert mods["x1"].free and mods["x1"].fixed is None
    assert mods["x2"].label == "a"
    assert mods["x3"].fixed == 0.5
    assert mods["x4"].start == 0.7 and mods["x4"].fixed is None
    assert mods["x5"].label == "b"
    assert mods["x6"].label == "a"
    assert not mods["x7"].free and mods["x7"].label == "lab"  # lavaan 0.6-14 keeps only the label
    assert mods["x8"].start == 1.5
    assert mods["x9"].fixed == -0.1


def test_per_group_modifiers():
    t = parse_syntax("f =~ x1 + c(a1, a2)*x2 + c(1, NA)*x3 + start(c(0.1, 0.2))*x4").statements[0].terms
    assert t[1].per_group and [t[1].modifier(g).label for g in (1, 2)] == ["a1", "a2"]
    assert t[2].modifier(1).fixed == 1.0 and t[2].modifier(2).free
    assert [t[3].modifier(g).start for g in (1, 2)] == [0.1, 0.2]
    assert not t[0].per_group and t[0].modifier(2).label == ""


@pytest.mark.parametrize(
    "syntax, exc, pattern",
    [
        ("f =~ x1 + x2\nf = x3", SyntaxModelError, r"line 2: unknown operator '='"),
        ("f =~ x1 + x2\nf <= x3", SyntaxModelError, r"line 2: unknown operator '<='"),
        ("f <~ x1 + x2 ~ x3", SyntaxModelError, r"line 1: unexpected operator"),
        ("f =~ x1 + x2\nx1 | th1", SyntaxModelError, r"line 2: 'th1' is not a threshold name"),
        ("f =~ x1 + x2\nx1 ~*~ x1", SyntaxModelError, r"line 2: scale factors"),
        ("f =~ x1 + start(0.5*x2", SyntaxModelError, r"line 1: unbalanced parentheses"),
        ("f =~ x1 + x2)", SyntaxModelError, r"line 1: unbalanced parentheses"),
        ("f =~ x1 + x2\ny ~ ", SyntaxModelError, r"line 2: empty right-hand side"),
        ("f =~ x1 + x2\n =~ x3", SyntaxModelError, r"line 2: empty left-hand side"),
        ("f =~ x1 + \n", SyntaxModelError, r"line 1 .*empty term"),
        ("f =~ 1", SyntaxModelError, r"line 1: latent 'f' has no indicators"),
        ("f =~ x1 + x2\n\ny ~ x + y", SyntaxModelError, r"line 3: 'y' is regressed on itself"),
        ("x1 x2", SyntaxModelError, r"line 1: no operator"),
        ("f =~ x1 + 2x", SyntaxModelError, r"line 1.*'2x' is not a valid variable name"),
        ("f =~ x1 + foo(1)*x2", SyntaxModelError, r"line 1.*unknown modifier foo\(\)"),
        ("f =~ x1 + x2 =~ x3", SyntaxModelError, r"line 1: unexpected operator"),
        ("f =~ x1 + 1*NA*x2", SyntaxModelError, r"line 1.*conflicting"),
        ("d := a +* b", SyntaxModelError, r"line 1.*cannot parse expression"),
        ("d := __import__('os')", SyntaxModelError, r"line 1"),
        ("f =~ x1 + x2\nf =~ x2", DuplicateDefinitionError, r"line 2: 'f =~ x2'.*line 1"),
        ("x1 ~~ x2\nx2 ~~ x1", DuplicateDefinitionError, r"line 2: 'x2 ~~ x1'"),
        ("f =~ a*x1 + x2\nd := a\nd := 2*a", DuplicateDefinitionError, r"line 3: ':=' name 'd'.*line 2"),
        ("f =~ x1 + x2*x3 + x2", LabelError, r"line 1: label 'x2' is also the name of a variable"),
        ("f =~ x1 + a*x2 + x3\na := 1", LabelError, r"line 2: ':=' name 'a' is already a parameter label"),
        ("f =~ x1 + a*x2 + x3\nd := a*b", LabelError, r"line 2: unknown label 'b'"),
        ("f =~ x1 + a*x2 + x3\nb == a", LabelError, r"line 2: unknown label 'b'"),
        ("f =~ x1 + 1*x2 + a*x2 + 2*x3 + a*x3", LabelError, r"label 'a' is used with different fixed values"),
    ],
)
def test_errors_name_line(syntax, exc, pattern):
    with pytest.raises(exc, match=pattern):
        build_partable(syntax)


def test_error_messages_are_one_line():
    with pytest.raises(SyntaxModelError) as info:
        build_partable("f =~ x1 +\n x2 +\n\n x3)")
    assert "\n" not in str(info.value)


def test_label_with_hash_is_rejected_not_truncated():
    with pytest.raises(LabelError, match="'a#b'"):
        parse_syntax("f =~ x1 + label('a#b')*x2 + x3")


# --------------------------------------------------------------------------------------
# expressions (values from R)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("item", REF["expressions"], ids=lambda d: d["expr"])
def test_expression_values_match_r(item):
    env = REF["expression_env"]
    fn = compile_expression(item["expr"], env.keys())
    assert fn(env) == pytest.approx(item["value"], rel=1e-13, abs=1e-15)


def test_expression_complex_step():
    """Complex input passes through (used for complex-step derivatives of ':=')."""
    env = REF["expression_env"]
    item = next(d for d in REF["expressions"] if d["expr"] == "pnorm(a*b/sqrt(a^2 + b^2))")
    fn = compile_expression(item["expr"], env.keys())
    h = 1e-20
    cenv = dict(env, a=complex(env["a"], h))
    out = fn(cenv)
    assert isinstance(out, complex)
    assert out.real == pytest.approx(item["value"], rel=1e-13)
    # derivative agrees with a central difference of the real function
    d = 1e-6
    fd = (fn(dict(env, a=env["a"] + d)) - fn(dict(env, a=env["a"] - d))) / (2 * d)
    assert out.imag / h == pytest.approx(fd, rel=1e-6)


def test_expression_names_and_whitelist():
    assert expression_names("a*b + exp(c)^2 - .p2./a.1") == ["a", "b", "c", ".p2.", "a.1"]
    assert compile_expression("a + a*b", ["a", "b"]).names == ("a", "b")
    for bad in ["a.b()", "a[1]", "a if b else c", "lambda: 1", "a; b", "a @ b", "'x'", "a == b",
                "exp(a, b)", "sin(a)", "(a", "a +", "a % b"]:
        with pytest.raises(SyntaxModelError):
            compile_expression(bad, ["a", "b", "c"])
    with pytest.raises(LabelError, match="'zz'"):
        compile_expression("a*zz", ["a"], line=7)
    with pytest.raises(LabelError, match="no value for label 'b'"):
        compile_expression("a*b", ["a", "b"])({"a": 1.0})


# --------------------------------------------------------------------------------------
# property-based: only typed errors
# --------------------------------------------------------------------------------------
VALID = [
    "f =~ x1 + x2 + x3",
    "g =~ x4 + a*x5 + b*x6",
    "y ~ f + g",
    "y ~ 1",
    "x1 ~~ x2",
    "f ~~ 1*f",
    "d := a*b",
    "a == b",
    "a > 0",
    "h =~ NA*x7 + start(0.5)*x8 + c(l1, l2)*x9",
    "z ~ c(1, NA)*x1",
    "y1 + y2 ~ x",
    "x1 ~ 0*1",
    "f =~ 0.5?x2",
]
GARBAGE = st.text(alphabet="=~<>:*+-()!#;,\"' \nabcxyz0123456789.^|%NA_", max_size=12)


@st.composite
def _model(draw):
    parts = draw(st.lists(st.one_of(st.sampled_from(VALID), GARBAGE), min_size=0, max_size=8))
    seps = draw(st.lists(st.sampled_from(["\n", ";", " ", "\n\n", " + "]), min_size=len(parts), max_size=len(parts)))
    return "".join(p + s for p, s in zip(parts, seps))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(syntax=_model(), ngroups=st.integers(1, 3), std_lv=st.booleans())
def test_property_only_typed_errors(syntax, ngroups, std_lv):
    try:
        pt = build_partable(syntax, ngroups=ngroups, std_lv=std_lv,
                            group_equal=["loadings"] if ngroups > 1 else ())
    except AsymtrustError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        t = pt.table
        assert sorted(t.loc[t["free"] > 0, "free"]) == list(range(1, pt.n_free + 1))
        assert set(t["group"]) <= set(range(0, ngroups + 1))


@settings(max_examples=150, deadline=None)
@given(syntax=st.text(max_size=60))
def test_property_arbitrary_text(syntax):
    try:
        build_partable(syntax, observed=["x1", "x2", "x3"])
    except AsymtrustError:
        pass


@settings(max_examples=100, deadline=None)
@given(expr=st.text(alphabet="ab.p2()+-*/^ 0123456789eexplogsqrtabspnorm,", max_size=30))
def test_property_expressions(expr):
    try:
        fn = compile_expression(expr, ["a", "b", ".p2."])
    except AsymtrustError:
        return
    out = fn({"a": 0.5, "b": -2.0, ".p2.": 3.0})
    assert isinstance(out, float)
    assert math.isnan(out) or isinstance(out, float)


def test_indicators_named_like_exponents_are_names():
    # lavaan reads 'E1', 'e5' as variable names (Big Five items); only numbers are "no indicators"
    m = parse_syntax("f =~ E1 + E2 + e5")
    assert [t.name for t in m.statements[0].terms] == ["E1", "E2", "e5"]
    for bad in ("f =~ 1e3", "f =~ 2*3", "f =~ 1 + 2"):
        with pytest.raises(SyntaxModelError, match="has no indicators"):
            parse_syntax(bad)
