"""Parse lavaan model syntax into statements, by lavaan 0.6-14's rules (``lavParseModelString``).

* ``=~`` (measurement), ``~`` (regression), ``~~`` (variance / covariance), ``y ~ 1`` (intercept);
  ``y ~ 0`` is the intercept fixed at 0 and ``f =~ 0`` the row ``f =~ f`` fixed at 0, as in lavaan;
* ``:=`` (defined parameter), ``==``, ``<``, ``>`` (constraints);
* spaces and tabs are removed everywhere before reading, as lavaan removes them (``factor 1`` is
  ``factor1``, ``= ~`` is ``=~``); ``#`` and ``!`` comments, ``;`` separators; a line without an
  operator continues the statement above, and lines before the first operator are dropped with a
  warning (:attr:`ParsedModel.warnings`). A continuation that would glue two names into one
  (lavaan reads ``x3`` + newline + ``x4`` as ``x3x4``) is refused;
* the right-hand side is read as R reads it: a modifier is an R expression left of the last ``*``
  of a term. When it holds variables they are the labels (``a*x``, ``(vare)*x``, ``c(a1, a2)*x``);
  otherwise it is evaluated as R evaluates it: numbers, ``NA``, strings, arithmetic, ``sqrt() exp()
  log() abs()``, ``c() rep() paste() paste0() as.numeric()``; ``start()``, ``label()``,
  ``equal()`` and ``rv()`` take such expressions too, vectors give one value per group
  (``start(-0.1, 0.1)``); ``0.5?x`` is ``start(0.5)*x``. The same term twice in one formula is
  merged (the first modifier of each kind wins);
* names and labels as lavaan (R) reads them: letters of any script, digits, ``.`` and ``_``; a
  leading UTF-8 byte-order mark is dropped, ``U+02DC`` (small tilde) reads as ``~``, CRLF accepted.

* thresholds ``item | t1 + t2`` (also ``u1 + u2 | a*t1``), formative indicators ``f <~ x1 + x2``,
  ``efa("set")*f1 + efa("set")*f2 =~ ...`` (the only left-hand modifier), two-way interaction
  terms ``x:z`` and ``group:``/``level:`` block headers (two headers in a row open one block;
  statements above the first header belong to the first block, as in lavaan).

The forms of :data:`PENDING_FORMS` are read only when the caller says its table carries them
(``accept=``; the parameter table carries them all); otherwise each is refused naming the form
and the line. ``lower()``/``upper()``, ``block:`` headers, three-way interactions and any other R
function are refused with a :class:`~asymtrust.exceptions.SyntaxModelError` naming the line.

Departures from lavaan, all refusals or warnings: a chained modifier keeps only its label, as
lavaan 0.6-14 reads it (``2*a*x``, ``NA*a*x``, ``start(1)*a*x``: the free parameter labelled
``a``), with a warning naming what is ignored; ``a*b*x`` is refused; a
``:=`` using the label of a first loading (which lavaan fixes) is refused as lavaan stops.

Expressions of ``:=`` and constraints are compiled by :func:`compile_expression` with a whitelist
of Python ``ast`` nodes (no ``eval`` of user text); modifiers are read by a small R expression
reader that evaluates nothing but the functions listed above.
"""
from __future__ import annotations

import ast
import dataclasses
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from ..exceptions import DuplicateDefinitionError, LabelError, SyntaxModelError

__all__ = [
    "Modifier",
    "Term",
    "Statement",
    "ParsedModel",
    "parse_syntax",
    "compile_expression",
    "CompiledExpression",
    "expression_names",
    "is_identifier",
    "clean_source",
    "EXPRESSION_FUNCTIONS",
    "PENDING_FORMS",
]

#: operators of parameter statements
PARAM_OPS = ("=~", "~", "~~", "~1")
#: operators of definition / constraint statements
CON_OPS = (":=", "==", "<", ">")

# Names follow R (and so lavaan): a letter of any script, '.' or '_' (asymtrust also keeps the leading
# '_' it always accepted), then letters, digits, '.' and '_'. lavaan 0.6-14 checks a left-hand side with
# make.names() and reads a right-hand side with R's parser; in a UTF-8 locale both take letters and
# digits of any script ([:alpha:] / [:alnum:]). Combining marks (Mn/Mc: Devanagari vowel signs, a
# decomposed accent) continue a name too. Numbers are ASCII only, as in R.
_NAME_TAIL = re.compile(r"[\w.]*")
_NUMBER_RE = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_TOKEN_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DIGITS = "0123456789"
#: a byte-order mark at the start of the syntax (a file saved as "UTF-8 with BOM")
_BOM = "\ufeff"
#: lavaan replaces the 'small tilde' some keyboard layouts type (U+02DC) by '~' (lavaan 0.6-6)
_SMALL_TILDE = "\u02dc"
_UNSUPPORTED_OPS = {
    "~*~": "scale factors ('~*~') are not supported",
    "%": "the '%' operator (efa/blocks) is not supported",
}
#: operators of parameter statements read only when the caller's table implements them
#: (``accept=``): thresholds and formative indicators (composites)
_FORM_OPS = {"|": "thresholds", "<~": "composites"}
#: a threshold's name: t1, t2, ...
_THRESHOLD = re.compile(r"^t[0-9]+$")
#: reserved words that cannot be labels or variable names
_RESERVED = {"NA", "TRUE", "FALSE", "NULL", "Inf", "NaN"}


# --------------------------------------------------------------------------------------
# data classes
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Modifier:
    """Modifier of one term for one group.

    Attributes
    ----------
    fixed : float or None
        Fixed value (``1*x``); ``None`` when not fixed.
    free : bool
        ``True`` when the user explicitly freed the parameter (``NA*x``).
    start : float or None
        User starting value (``start(0.5)*x``).
    label : str
        User label (``a*x``), ``""`` if none. A quoted label may be lavaan's automatic name of
        another parameter (``"f1=~x2"``, ``"f1=~x2.g2"``), which in lavaan makes the two equal;
        the parser passes such labels only when asked to (``accept={"auto_label"}``).
    rv : str
        lavaan's ``rv("name")`` modifier (the parameter becomes fixed and is carried by the
        latent ``name``); ``""`` if none. Only with ``accept={"rv"}``.
    """

    fixed: float | None = None
    free: bool = False
    start: float | None = None
    label: str = ""
    rv: str = ""

    def merge(self, other: "Modifier", where: str) -> "Modifier":
        """Combine two modifiers of the same term; conflicting values raise SyntaxModelError."""
        fixed, free, start, label = self.fixed, self.free, self.start, self.label
        if other.fixed is not None:
            if free or (fixed is not None and fixed != other.fixed):
                raise SyntaxModelError(f"{where}: conflicting fixed/free modifiers")
            fixed = other.fixed
        if other.free:
            if fixed is not None:
                raise SyntaxModelError(f"{where}: conflicting fixed/free modifiers (NA and a value)")
            free = True
        if other.start is not None:
            if start is not None and start != other.start:
                raise SyntaxModelError(f"{where}: two different start values")
            start = other.start
        if other.label:
            if label and label != other.label:
                raise SyntaxModelError(f"{where}: two different labels {_short(label)!r} and {_short(other.label)!r}")
            label = other.label
        return Modifier(fixed=fixed, free=free, start=start, label=label, rv=self.rv or other.rv)


@dataclass(frozen=True)
class Term:
    """One right-hand-side term of a parameter statement.

    ``modifiers`` holds either one :class:`Modifier` (applies to every group) or one per group
    (from ``c(...)``); use :meth:`modifier` to get the modifier of a group.
    """

    name: str
    modifiers: tuple[Modifier, ...] = (Modifier(),)
    per_group: bool = False
    #: ``f =~ 0``: lavaan's row ``f =~ f`` fixed at 0 (only with ``accept={"self_loading"}``)
    self_loading: bool = False

    def modifier(self, group: int) -> Modifier:
        """Modifier of 1-based ``group`` (the single modifier when not per-group)."""
        if not self.per_group:
            return self.modifiers[0]
        return self.modifiers[group - 1]


@dataclass(frozen=True)
class Statement:
    """One parsed statement.

    Attributes
    ----------
    op : str
        ``=~``, ``~``, ``~~``, ``~1``, ``:=``, ``==``, ``<`` or ``>``.
    lhs : tuple of str
        Left-hand-side names (parameter statements; ``y1 + y2 ~ x`` gives two) or, for
        ``:=``, the defined name. For constraints the lhs expression text.
    terms : tuple of Term
        Right-hand-side terms of parameter statements (``~1`` has one term named ``""``).
    expr : str
        Right-hand expression of ``:=`` / constraints (whitespace removed, as lavaan shows it).
    line : int
        1-based line of the statement's first line in the syntax.
    text : str
        Statement text (comments removed, one line).
    """

    op: str
    lhs: tuple[str, ...]
    terms: tuple[Term, ...] = ()
    expr: str = ""
    line: int = 0
    text: str = ""
    #: the efa set of an ``efa("name")*f =~ ...`` factor ("" if none)
    efa: str = ""
    #: the 1-based block of ``group:``/``level:`` headers (0: the syntax has none)
    block: int = 0


@dataclass
class ParsedModel:
    """Result of :func:`parse_syntax`.

    Attributes
    ----------
    statements : list of Statement
        Parameter statements (``=~ ~ ~~ ~1``), in the order written.
    definitions : list of Statement
        ``:=`` statements.
    constraints : list of Statement
        ``==``, ``<`` and ``>`` statements.
    user_cons : list of Statement
        ``:=`` and constraint statements together, in the order written.
    warnings : list of str
        What lavaan reads with a warning or silently drops (a line without an operator before
        the first statement; the parts of a chained modifier lavaan ignores), one line each.
    blocks : list of (group, level)
        The ``group:``/``level:`` blocks in written order, block ``b`` (1-based) at index
        ``b - 1``: its group label and level label (``None`` when the syntax has no header of
        that kind). Empty when the syntax has no block headers.
    """

    statements: list[Statement] = field(default_factory=list)
    definitions: list[Statement] = field(default_factory=list)
    constraints: list[Statement] = field(default_factory=list)
    user_cons: list[Statement] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blocks: list[tuple[str | None, str | None]] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# low-level helpers
# --------------------------------------------------------------------------------------
def _short(text: str, width: int = 60) -> str:
    """Statement text for error messages, shortened to ``width`` characters."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _strip_comment(line: str) -> str:
    """Remove a ``#`` or ``!`` comment, ignoring those inside double/single quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "#!":
            return line[:i]
    return line


def _mask_quotes(text: str) -> str:
    """Replace the content of quoted strings by underscores (same length) for operator search."""
    out = []
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
                out.append(ch)
            else:
                out.append("_")
        else:
            if ch in "\"'":
                quote = ch
            out.append(ch)
    return "".join(out)


_OP_CANDIDATES = ("~*~", "=~", "<~", "~~", ":=", "==", "<=", ">=", "~", "<", ">", "|", "%", "=")


def _find_operator(text: str) -> tuple[str, int] | None:
    """First operator outside parentheses/quotes: ``(op, position)`` or ``None``."""
    masked = _mask_quotes(text)
    depth = 0
    i = 0
    n = len(masked)
    while i < n:
        ch = masked[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            for op in _OP_CANDIDATES:
                if masked.startswith(op, i):
                    return op, i
        i += 1
    return None


def _has_operator(text: str) -> bool:
    masked = _mask_quotes(text)
    return any(c in masked for c in "~=<>:|%")


def _check_balance(text: str, line: int) -> None:
    masked = _mask_quotes(text)
    if masked.count('"') % 2 or masked.count("'") % 2:
        raise SyntaxModelError(f"line {line}: unbalanced quotes in {_short(text)!r}")
    depth = 0
    for ch in masked:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                break
    if depth != 0:
        raise SyntaxModelError(f"line {line}: unbalanced parentheses in {_short(text)!r}")


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    masked = _mask_quotes(text)
    parts = []
    depth = 0
    last = 0
    for i, ch in enumerate(masked):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch == sep:
            parts.append(text[last:i])
            last = i + 1
    parts.append(text[last:])
    return parts


def _name_end(text: str, i: int = 0) -> int:
    """End of the name starting at ``text[i]`` (``i`` itself when no name starts there)."""
    n = len(text)
    if i >= n:
        return i
    ch = text[i]
    if not (ch.isalpha() or ch == "." or ch == "_"):
        return i
    j = _NAME_TAIL.match(text, i + 1).end()  # type: ignore[union-attr]
    while j < n and unicodedata.category(text[j])[0] == "M":
        j = _NAME_TAIL.match(text, j + 1).end()  # type: ignore[union-attr]
    return j


def is_identifier(s: str) -> bool:
    """``True`` when ``s`` is one name as lavaan reads it (letters of any script, digits, ``.``, ``_``).

    Reserved words and numbers are not excluded here; see :func:`_is_name` for that.

    Examples
    --------
    >>> [is_identifier(s) for s in ("x1", "Vertrauen", "confiança", "信頼", "1x", "a b", "\\ufeffF")]
    [True, True, True, True, False, False, False]
    """
    return bool(s) and _name_end(s) == len(s)


def _is_name(s: str) -> bool:
    return is_identifier(s) and not _NUMBER_RE.match(s) and s not in _RESERVED


def _why_not_name(s: str) -> str:
    """Hint for a refused name that holds an invisible or unusual character (a BOM, a zero-width space)."""
    for ch in s:
        if ch not in " \t" and (ch.isspace() or unicodedata.category(ch)[0] in "CZ"):
            name = unicodedata.name(ch, "")
            return f" (it contains the invisible character U+{ord(ch):04X}{' ' + name if name else ''})"
    return ""


def clean_source(syntax: str) -> str:
    """Drop a leading byte-order mark and read U+02DC (small tilde) as ``~``, as lavaan does."""
    if syntax.startswith(_BOM):
        syntax = syntax[1:]
    if _SMALL_TILDE in syntax:
        syntax = syntax.replace(_SMALL_TILDE, "~")
    return syntax


def _parse_number(s: str) -> float | None:
    s = s.strip()
    if _NUMBER_RE.match(s):
        return float(s)
    if s in ("Inf", "+Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    return None


def _unquote(s: str) -> str | None:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return None


def _call(s: str) -> tuple[str, str] | None:
    """``fname(args)`` -> ``(fname, args)``; ``None`` if ``s`` is not a call."""
    m = re.match(r"^((?:[^\W\d]|\.)[\w.]*)\s*\((.*)\)$", s.strip(), re.S)
    if not m:
        return None
    # the closing parenthesis must match the opening one
    inner = m.group(2)
    depth = 0
    for ch in _mask_quotes(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
    return m.group(1), inner


# --------------------------------------------------------------------------------------
# R expressions of the right-hand side (lavaan reads it with R's parser)
# --------------------------------------------------------------------------------------
#: forms the parser reads but the parameter table does not implement yet; parse_syntax refuses them
#: unless the caller names them in ``accept``
PENDING_FORMS = {
    "rv": "the rv() modifier",
    "auto_label": "a label that is lavaan's automatic name of a parameter",
    "self_loading": "'f =~ 0' (lavaan reads it as 'f =~ f' fixed at 0)",
    "thresholds": "thresholds ('|', ordered indicators)",
    "composites": "formative indicators ('<~', composites)",
    "efa": "efa() blocks (exploratory factors in a SEM)",
    "blocks": "'group:' and 'level:' blocks",
    "interactions": "interaction terms ('x:z')",
}
_R_CONST = {"NA": ("lgl", [None]), "TRUE": ("lgl", [True]), "FALSE": ("lgl", [False]),
            "NULL": ("num", []), "Inf": ("num", [math.inf]), "NaN": ("num", [math.nan]),
            "NA_real_": ("num", [None]), "NA_character_": ("chr", [None]), "NA_integer_": ("num", [None])}
_AUTO_LABEL = re.compile(r"^(?P<lhs>[^=~]+)(?P<op>=~|~~|~1|~)(?P<rhs>[^=~]*?)(?:\.g(?P<g>[0-9]+))?$")


class _RError(Exception):
    """Internal: an R expression that cannot be read or evaluated."""


def _r_tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        m = _TOKEN_NUMBER.match(text, i)
        if m and (ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS)):
            out.append(("num", float(m.group(0))))
            i = m.end()
            if i < n and text[i] == "L":  # R integer suffix
                i += 1
            continue
        if ch in "\"'":
            j = text.find(ch, i + 1)
            if j < 0:
                raise _RError("unbalanced quotes")
            out.append(("str", text[i + 1:j]))
            i = j + 1
            continue
        end = _name_end(text, i)
        if end > i:
            out.append(("name", text[i:end]))
            i = end
            continue
        if text.startswith("**", i):
            out.append(("op", "^"))
            i += 2
            continue
        if ch in "+-*/^:(),=":
            out.append(("op", ch))
            i += 1
            continue
        raise _RError(f"character {ch!r} cannot be read")
    return out


# binding powers as in R (?Syntax): ^ > unary minus > : > * / > + -
_BP = {"+": 10, "-": 10, "*": 20, "/": 20, ":": 30, "^": 40}
_UNARY_BP = 35
#: the longest vector a modifier may build (rep(), ':')
_MAX_VECTOR = 10_000


class _RParser:
    def __init__(self, text: str):
        self.toks = _r_tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None:
            raise _RError("the expression ends too early")
        self.i += 1
        return tok

    def parse(self) -> tuple:
        node = self.expr(0)
        if self.peek() is not None:
            raise _RError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expr(self, min_bp: int) -> tuple:
        kind, val = self.take()
        if kind == "op" and val in "+-":
            left: tuple = ("neg" if val == "-" else "pos", self.expr(_UNARY_BP))
        elif kind == "op" and val == "(":
            left = ("paren", self.expr(0))
            self.expect(")")
        elif kind == "num":
            left = ("num", val)
        elif kind == "str":
            left = ("str", val)
        elif kind == "name":
            if self.peek() == ("op", "("):
                self.i += 1
                left = ("call", val, self.args())
            elif val in _R_CONST:
                left = ("const", val)
            else:
                left = ("sym", val)
        else:
            raise _RError(f"unexpected {val!r}")
        while True:
            tok = self.peek()
            if tok is None or tok[0] != "op" or tok[1] not in _BP:
                return left
            op = tok[1]
            bp = _BP[op]
            if bp <= min_bp and not (op == "^" and bp == min_bp):
                return left
            self.i += 1
            right = self.expr(bp - 1 if op == "^" else bp)  # ^ is right-associative
            left = ("bin", op, left, right)

    def expect(self, what: str) -> None:
        if self.take() != ("op", what):
            raise _RError(f"expected {what!r}")

    def args(self) -> list[tuple[str | None, tuple]]:
        out: list[tuple[str | None, tuple]] = []
        if self.peek() == ("op", ")"):
            self.i += 1
            return out
        while True:
            name = None
            if (self.peek() or ("", ""))[0] == "name" and self.i + 1 < len(self.toks) and \
                    self.toks[self.i + 1] == ("op", "="):
                name = self.take()[1]
                self.i += 1
            out.append((name, self.expr(0)))
            tok = self.take()
            if tok == ("op", ")"):
                return out
            if tok != ("op", ","):
                raise _RError(f"unexpected {tok[1]!r} in a call")


def _all_vars(node: tuple) -> list[str]:
    """R's ``all.vars(expr, unique = FALSE)``: the symbols in order, function names excluded."""
    kind = node[0]
    if kind == "sym":
        return [node[1]]
    if kind in ("neg", "pos", "paren"):
        return _all_vars(node[1])
    if kind == "bin":
        return _all_vars(node[2]) + _all_vars(node[3])
    if kind == "call":
        return [v for _, a in node[2] for v in _all_vars(a)]
    return []


def _deparse(node: tuple) -> str:
    kind = node[0]
    if kind == "num":
        return _fmt_num(node[1])
    if kind == "str":
        return f'"{node[1]}"'
    if kind in ("sym", "const"):
        return node[1]
    if kind == "neg":
        return "-" + _deparse(node[1])
    if kind == "pos":
        return "+" + _deparse(node[1])
    if kind == "paren":
        return "(" + _deparse(node[1]) + ")"
    if kind == "bin":
        return _deparse(node[2]) + node[1] + _deparse(node[3])
    return node[1] + "(" + ",".join((f"{k}=" if k else "") + _deparse(a) for k, a in node[2]) + ")"


def _fmt_num(v: float) -> str:
    return repr(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)


# R values: (type, list) with type "num" (float, None = NA), "chr" (str, None = NA), "lgl" (bool, None)
def _as_num(val: tuple) -> list:
    kind, xs = val
    if kind == "chr":
        out = []
        for x in xs:
            try:
                out.append(None if x is None else float(x))
            except ValueError:
                out.append(None)
        return out
    return [None if x is None else float(x) for x in xs]


def _as_chr(val: tuple) -> list:
    kind, xs = val
    if kind == "chr":
        return list(xs)
    if kind == "lgl":
        return [None if x is None else ("TRUE" if x else "FALSE") for x in xs]
    return [None if x is None else _fmt_num(x) if math.isfinite(x) else repr(x) for x in xs]


def _recycle(a: list, b: list) -> tuple[list, list]:
    if not a or not b:
        return [], []
    n = max(len(a), len(b))
    return [a[i % len(a)] for i in range(n)], [b[i % len(b)] for i in range(n)]


def _arith(op: str, x: float | None, y: float | None) -> float | None:
    if x is None or y is None:
        return None
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        return math.copysign(math.inf, x) * math.copysign(1, y) if y == 0 and x != 0 else \
            (math.nan if y == 0 else x / y)
    r = _rpow(x, y)
    return float(r)


def _math1(fn: Callable[[float], float], x: float | None) -> float | None:
    if x is None:
        return None
    with np.errstate(all="ignore"):
        return float(fn(x))


_R_MATH = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "abs": np.abs, "log10": np.log10}


def _r_eval(node: tuple) -> tuple:
    """Evaluate an R expression without variables (numbers, strings, NA, arithmetic and a few
    functions: ``c rep paste paste0 sqrt exp log log10 abs as.numeric as.character``)."""
    kind = node[0]
    if kind == "num":
        return ("num", [node[1]])
    if kind == "str":
        return ("chr", [node[1]])
    if kind == "const":
        return _R_CONST[node[1]]
    if kind == "sym":
        raise _RError(f"object {node[1]!r} not found")
    if kind == "paren":
        return _r_eval(node[1])
    if kind in ("neg", "pos"):
        val = _r_eval(node[1])
        if val[0] == "chr":
            raise _RError("invalid argument to unary operator")
        xs = _as_num(val)
        return ("num", [None if x is None else (-x if kind == "neg" else x) for x in xs])
    if kind == "bin":
        op = node[1]
        a, b = _r_eval(node[2]), _r_eval(node[3])
        if "chr" in (a[0], b[0]):
            raise _RError("non-numeric argument to binary operator")
        if op == ":":
            lo, hi = _as_num(a)[0], _as_num(b)[0]
            if lo is None or hi is None:
                raise _RError("NA in ':'")
            step = 1 if hi >= lo else -1
            if abs(hi - lo) >= _MAX_VECTOR:
                raise _RError(f"a vector longer than {_MAX_VECTOR}")
            return ("num", [lo + step * k for k in range(int(abs(hi - lo)) + 1)])
        xs, ys = _recycle(_as_num(a), _as_num(b))
        return ("num", [_arith(op, x, y) for x, y in zip(xs, ys)])
    fname, args = node[1], node[2]
    if fname in ("start", "label", "equal", "rv", "lower", "upper", "prior", "efa"):
        raise _RError(f"the modifier {fname}() cannot be part of an expression or a product with a "
                      "number (lavaan: evaluating modifier failed)")
    if fname in _R_MATH:
        if len(args) != 1:
            raise _RError(f"{fname}() takes one argument")
        val = _r_eval(args[0][1])
        if val[0] == "chr":
            raise _RError(f"non-numeric argument to {fname}()")
        return ("num", [_math1(_R_MATH[fname], x) for x in _as_num(val)])
    if fname == "c":
        vals = [_r_eval(a) for _, a in args]
        return _r_combine(vals)
    if fname == "as.numeric":
        return ("num", _as_num(_r_eval(args[0][1]))) if len(args) == 1 else _bad_args(fname)
    if fname == "as.character":
        return ("chr", _as_chr(_r_eval(args[0][1]))) if len(args) == 1 else _bad_args(fname)
    if fname == "rep":
        return _r_rep(args)
    if fname in ("paste", "paste0"):
        sep = "" if fname == "paste0" else " "
        parts = []
        for k, a in args:
            if k == "sep":
                sep = _as_chr(_r_eval(a))[0] or ""
            elif k is None:
                parts.append(["NA" if s is None else s for s in _as_chr(_r_eval(a))])
            else:
                raise _RError(f"{fname}(): argument {k!r} is not supported")
        if not parts or any(len(p) == 0 for p in parts):
            return ("chr", [])
        n = max(len(p) for p in parts)
        return ("chr", [sep.join(p[i % len(p)] for p in parts) for i in range(n)])
    raise _RError(f"unknown modifier {fname}()")


def _bad_args(fname: str) -> tuple:
    raise _RError(f"{fname}() takes one argument")


def _r_combine(vals: list[tuple]) -> tuple:
    kinds = {v[0] for v in vals if v[1]}
    if "chr" in kinds:
        return ("chr", [x for v in vals for x in _as_chr(v)])
    if "num" in kinds:
        return ("num", [x for v in vals for x in _as_num(v)])
    return ("lgl", [x for v in vals for x in v[1]])


def _r_rep(args: list[tuple[str | None, tuple]]) -> tuple:
    if not args:
        raise _RError("rep() needs an argument")
    x = _r_eval(args[0][1])
    times, each = 1, 1
    for pos, (k, a) in enumerate(args[1:]):
        v = _as_num(_r_eval(a))
        if len(v) != 1 or v[0] is None or v[0] < 0:
            raise _RError("rep(): invalid 'times' or 'each'")
        if k == "each":
            each = int(v[0])
        elif k in (None, "times") and (k == "times" or pos == 0):
            times = int(v[0])
        else:
            raise _RError(f"rep(): argument {k!r} is not supported")
    if len(x[1]) * each * times > _MAX_VECTOR:
        raise _RError(f"a vector longer than {_MAX_VECTOR}")
    xs = [e for e in x[1] for _ in range(each)] * times
    return (x[0], xs)


# --------------------------------------------------------------------------------------
# modifiers and terms (lavaan's lav_syntax_parse_rhs / lav_syntax_get_modifier)
# --------------------------------------------------------------------------------------
_MOD_KINDS = ("fixed", "start", "label", "rv")


def _get_modifier(node: tuple, where: str, notes: list[str]) -> dict[str, list]:
    """lavaan's ``lav_syntax_get_modifier()`` for a modifier without variables: a number is a
    fixed value (``NA`` frees), a string a label; ``start()``, ``label()``, ``equal()``, ``rv()``
    and ``c()`` by their arguments; any other expression evaluated as R evaluates it."""
    try:
        if node[0] == "call" and node[1] in ("start", "label", "equal", "rv"):
            fname = node[1]
            if any(k is not None for k, _ in node[2]):
                raise _RError(f"{fname}() takes no named arguments")
            val = _r_combine([_r_eval(a) for _, a in node[2]]) if node[2] else ("lgl", [])
            if fname == "start":
                if val[0] == "chr":
                    raise _RError("start values must be numbers")
                return {"start": _as_num(val)}
            if fname == "rv":
                if any(x is None for x in val[1]):
                    raise _RError("some rv() labels are NA")
                return {"rv": _as_chr(val)}
            labels = _as_chr(val) if val[0] == "chr" else [None if x is None else _as_chr((val[0], [x]))[0]
                                                            for x in val[1]]
            if fname == "label":
                labels = ["" if x is None else x for x in labels]
            return {"label": labels}
        if node[0] == "call" and node[1] in ("lower", "upper", "prior", "efa"):
            raise SyntaxModelError(f"{where}: the modifier {node[1]}() is not supported")
        val = _r_eval(node)
    except _RError as exc:
        msg = str(exc)
        if msg.startswith("unknown modifier") or msg.startswith("the modifier"):
            raise SyntaxModelError(f"{where}: {msg}") from None
        raise SyntaxModelError(f"{where}: cannot read modifier {_short(_deparse(node))!r} ({msg})") from None
    if val[0] == "chr":
        if node[0] == "call" and node[1] == "c":
            return {"label": ["" if x is None else x for x in val[1]]}
        return {"label": list(val[1])}
    if val[0] == "lgl" and any(x is not None for x in val[1]):
        raise SyntaxModelError(f"{where}: cannot read modifier {_short(_deparse(node))!r} (TRUE/FALSE)")
    if not val[1]:
        raise SyntaxModelError(f"{where}: empty modifier {_short(_deparse(node))!r}")
    return {"fixed": _as_num(val)}


def _chain(node: tuple) -> list[tuple]:
    """The factors of a ``*`` chain ``a*b*c`` (one factor when ``node`` is no product)."""
    if node[0] == "bin" and node[1] == "*":
        return _chain(node[2]) + _chain(node[3])
    return [node]


def _literal(node: tuple) -> bool:
    """A number, ``-number`` or ``NA``."""
    if node[0] == "neg":
        return node[1][0] == "num"
    return node[0] == "num" or node == ("const", "NA")


def _read_modifier(node: tuple, where: str, notes: list[str]) -> dict[str, list]:
    """The modifier left of the last ``*`` of a term (lavaan's rule: when it holds variables,
    they are the labels and nothing else of it counts)."""
    names = _all_vars(node)
    if not names:
        factors = _chain(node)
        if len(factors) > 1 and all(_literal(f) for f in factors):
            # asymtrust: '1*NA*x', '2*3*x' are conflicting modifiers (lavaan multiplies them)
            out: dict[str, list] = {}
            for f in factors:
                _merge_mods(out, _get_modifier(f, where, notes), where, strict=True)
            return out
        return _get_modifier(node, where, notes)
    out = {"label": names}
    factors = _chain(node)
    plain = [f[1] for f in factors if f[0] == "sym"]
    if len(set(plain)) > 1:
        # lavaan reads 'a*b*x' as the label vector c("a", "b"); asymtrust refuses it
        raise SyntaxModelError(f"{where}: two different labels {_short(plain[0])!r} and {_short(plain[1])!r}")
    if len(plain) > 1 and len(factors) == len(plain):
        out = {"label": plain[:1]}  # 'a*a*x': the label a
    if len(factors) > 1:
        for f in factors:
            if _all_vars(f):
                continue
            # lavaan 0.6-14 keeps only the label of a chained modifier: '2*a*x' and 'NA*a*x' are
            # the free parameter labelled a (write '2*x + a*x' to fix it at 2 and label it)
            notes.append(f"{where}: lavaan 0.6-14 keeps only the label of a chained modifier; "
                         f"{_short(_deparse(f))} is ignored (write a fixed value and a label as two terms, "
                         "e.g. '2*x + a*x')")
    return out


def _merge_mods(into: dict[str, list], new: dict[str, list], where: str, *, strict: bool) -> None:
    """Merge modifiers: the first of each kind wins (lavaan merges the same term written twice in
    one formula so); ``strict`` refuses two different values of a kind, and a value with NA."""
    for kind, vals in new.items():
        if strict:
            if kind == "fixed" and "fixed" in into:
                old = into["fixed"]
                if any(x is None for x in old + vals):
                    raise SyntaxModelError(f"{where}: conflicting fixed/free modifiers (NA and a value)")
                if old != vals:
                    raise SyntaxModelError(f"{where}: conflicting fixed/free modifiers")
            if kind == "label" and "label" in into and into["label"] != vals:
                raise SyntaxModelError(f"{where}: two different labels {_short(','.join(map(str, into['label'])))!r} "
                                       f"and {_short(','.join(map(str, vals)))!r}")
        into.setdefault(kind, list(vals))


def _check_label(lab: str, where: str, accept: frozenset[str]) -> str:
    if lab == "" or _is_name(lab) or lab in _RESERVED:
        return lab
    if _AUTO_LABEL.match(lab) and all(
        _is_name(p) or p == "" for p in (_AUTO_LABEL.match(lab).group("lhs"), _AUTO_LABEL.match(lab).group("rhs"))  # type: ignore[union-attr]
    ):
        if "auto_label" not in accept:
            raise SyntaxModelError(
                f"{where}: the label {_short(lab)!r} is lavaan's automatic name of a parameter (an equality "
                "constraint with that parameter); not supported yet"
            )
        return lab
    raise LabelError(f"{where}: {_short(lab)!r} is not a valid label{_why_not_name(lab)}")


def _to_term(name: str, mods: dict[str, list], where: str, accept: frozenset[str]) -> Term:
    """Per-group :class:`Modifier` objects from lavaan's modifier vectors (a vector of length 1
    applies to every group; longer vectors must all have the same length)."""
    lengths = {len(v) for v in mods.values() if len(v) != 1}
    if len(lengths) > 1 or 0 in lengths:
        raise SyntaxModelError(f"{where}: wrong number of arguments in the modifiers of {_short(name or '1')!r}")
    n = lengths.pop() if lengths else 1
    out = []
    for g in range(n):
        kw: dict[str, Any] = {}
        for kind, vals in mods.items():
            v = vals[g % len(vals)]
            if kind == "fixed":
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    kw["free"] = True
                elif not math.isfinite(v):
                    raise SyntaxModelError(f"{where}: fixed value {v!r} is not finite")
                else:
                    kw["fixed"] = float(v)
            elif kind == "start":
                if v is not None and not math.isnan(v):
                    if not math.isfinite(v):
                        raise SyntaxModelError(f"{where}: start value {v!r} is not finite")
                    kw["start"] = float(v)
            elif kind == "label":
                kw["label"] = _check_label("" if v is None else str(v), where, accept)
            elif kind == "rv":
                if "rv" not in accept:
                    raise SyntaxModelError(f"{where}: the modifier rv() is not supported")
                kw["rv"] = str(v)
        out.append(Modifier(**kw))
    return Term(name=name, modifiers=tuple(out), per_group=n > 1)


def _flatten_plus(node: tuple) -> list[tuple]:
    if node[0] == "bin" and node[1] == "+":
        return _flatten_plus(node[2]) + _flatten_plus(node[3])
    return [node]


def _term_parts(node: tuple, where: str, notes: list[str],
                accept: frozenset[str] = frozenset()) -> tuple[str, dict[str, list]]:
    """``(name, modifiers)`` of one term; names ``..intercept..``, ``..zero..``, ``..constant..``
    for the number terms (lav_syntax_parse_rhs)."""
    if node[0] == "pos":
        node = node[1]
    if node[0] == "sym":
        return node[1], {}
    if node[0] == "num":
        if node[1] == 1:
            return "..intercept..", {}
        return ("..zero.." if node[1] == 0 else "..constant.."), {"fixed": [0.0]}
    if node[0] == "bin" and node[1] == "*":
        target = node[3]
        if target[0] == "bin" and target[1] == ":":
            return _interaction(target, where, accept), _read_modifier(node[2], where, notes)
        if target[0] == "sym":
            name = target[1]
        elif target[0] == "num":
            name = "..intercept.."
        else:
            raise SyntaxModelError(f"{where}: cannot read term {_short(_deparse(node))!r}")
        return name, _read_modifier(node[2], where, notes)
    if node[0] == "bin" and node[1] == ":":
        return _interaction(node, where, accept), {}
    if node[0] == "const":
        raise SyntaxModelError(f"{where}: {node[1]!r} is not a valid variable name")
    raise SyntaxModelError(f"{where}: cannot read term {_short(_deparse(node))!r}")


def _interaction(node: tuple, where: str, accept: frozenset[str]) -> str:
    """The name ``x:z`` of a two-way interaction term (lavaan: the product of the two observed
    variables, computed from the data); three-way terms are refused as lavaan refuses them."""
    if "interactions" not in accept:
        raise SyntaxModelError(f"{where}: interaction terms ('x:z') are not supported here")
    a, b = node[2], node[3]
    if a[0] != "sym" or b[0] != "sym":
        raise SyntaxModelError(f"{where}: only two-way interaction terms of two variables ('x:z') are supported "
                               f"(lavaan refuses three-way terms); build the product column in the data")
    return f"{a[1]}:{b[1]}"


_QMARK = re.compile(r"\(?(-?[0-9]*\.?[0-9]*)\)?\?")


def _parse_rhs(rhs: str, op: str, where: str, notes: list[str], accept: frozenset[str]) -> list[Term]:
    """The terms of a right-hand side (whitespace already removed), the same term written twice
    merged (the first modifier of each kind wins), as lavaan's lav_syntax_parse_rhs does."""
    rhs = _QMARK.sub(r"start(\1)*", rhs)  # lavaan's "0.5?x" form
    if rhs.startswith("+"):
        rhs = rhs[1:]
    masked = _mask_quotes(rhs)
    if masked == "" or masked.endswith("+") or "++" in masked or masked.startswith("+"):
        raise SyntaxModelError(f"{where}: empty term (a '+' without a variable)")
    if masked.endswith("*") or "*+" in masked:
        raise SyntaxModelError(f"{where}: a term ends with '*' but has no variable")
    try:
        tree = _RParser(rhs).parse()
    except _RError as exc:
        for piece in _split_top(rhs, "+"):
            name = _split_top(piece, "*")[-1]
            if name and not _is_name(name) and _parse_number(name) is None and not _call(name):
                raise SyntaxModelError(
                    f"{where}: {_short(name)!r} is not a valid variable name{_why_not_name(name)}") from None
            for part in _split_top(piece, "*")[:-1]:
                try:
                    _RParser(part).parse()
                except _RError:
                    raise SyntaxModelError(
                        f"{where}: cannot read modifier {_short(part)!r}{_why_not_name(part)}") from None
        raise SyntaxModelError(f"{where}: cannot read the right-hand side {_short(rhs)!r} ({exc})") from None
    order: list[str] = []
    mods: dict[str, dict[str, list]] = {}
    for node in _flatten_plus(tree):
        name, m = _term_parts(node, where, notes, accept)
        if name in mods:
            _merge_mods(mods[name], m, where, strict=False)
        else:
            order.append(name)
            mods[name] = dict(m)
    names_in = {"..intercept..", "..zero..", "..constant.."} & set(order)
    if op == "~" and len(names_in) > 1:
        raise DuplicateDefinitionError(f"{where}: intercept given twice")
    terms = []
    for name in order:
        if name in ("..intercept..", "..zero..", "..constant..") and op == "~":
            out_name = ""
            if name == "..constant..":
                notes.append(f"{where}: a number other than 0 or 1 on the right of '~' is read as lavaan 0.6-14 "
                             "reads it: the intercept fixed at 0")
        elif name == "..intercept..":
            raise SyntaxModelError(f"{where}: right-hand side contains an invalid variable name '1'")
        elif name in ("..zero..", "..constant.."):
            if op == "=~" and rhs == "0":
                out_name = "..self.."
            else:
                raise SyntaxModelError(f"{where}: a number is not a valid variable name")
        else:
            if not all(_is_name(part) for part in name.split(":")):
                raise SyntaxModelError(f"{where}: {_short(name)!r} is not a valid variable name{_why_not_name(name)}")
            out_name = name
        terms.append(_to_term(out_name, mods[name], where, accept))
    return terms


# --------------------------------------------------------------------------------------
# statements
# --------------------------------------------------------------------------------------
_WS = re.compile(r"[ \t]+")


def _logical_lines(syntax: str, notes: list[str]) -> list[tuple[int, str, str]]:
    """Statements as lavaan forms them: ``(line, text without whitespace, text as written)``.

    Spaces and tabs are removed everywhere (``factor 1`` is ``factor1``, ``= ~`` is ``=~``); a
    line without an operator continues the statement above (lavaan pastes it on with nothing
    between) and lines before the first operator are dropped with a warning. asymtrust refuses
    a continuation that would glue two names into one (lavaan reads ``x3`` + newline + ``x4``
    as the variable ``x3x4``)."""
    pieces: list[tuple[int, str, str]] = []
    for lineno, raw in enumerate(syntax.splitlines(), start=1):
        line = _strip_comment(raw)
        for chunk in _split_semicolons(line):
            if chunk.strip():
                pieces.append((lineno, _WS.sub("", chunk.strip()), chunk.strip()))
    out: list[tuple[int, str, str]] = []
    efa_open = False  # the last statement is an efa() line without operator (lavaan joins the next)
    for lineno, text, shown in pieces:
        block = re.match(r"^([^\W\d][\w.]*):(?![=])", _mask_quotes(text))
        if block and not text.startswith(":="):
            out.append((lineno, BLOCK_MARK + _block_header(lineno, block.group(1), text[block.end():], shown), shown))
            efa_open = False
            continue
        if "efa(" in _mask_quotes(text) and not _has_operator(text):
            out.append((lineno, text, shown))
            efa_open = True
            continue
        if efa_open and _has_operator(text):
            prev_line, prev, prev_shown = out[-1]
            out[-1] = (prev_line, prev + text, prev_shown + " " + shown)
            efa_open = False
            continue
        if _has_operator(text):
            if out and re.search(r"(=~|~~|~|:=|==|<|>)$", out[-1][1]):
                prev_line, prev, prev_shown = out[-1]
                if prev.endswith("=~"):
                    raise SyntaxModelError(
                        f"line {prev_line}: latent {_short(prev[:-2])!r} has no indicators in {_short(prev_shown)!r}")
                raise SyntaxModelError(f"line {prev_line}: empty right-hand side in {_short(prev_shown)!r}")
            out.append((lineno, text, shown))
            continue
        if not out:
            notes.append(f"line {lineno}: no operator found in {_short(shown)!r}; the line is ignored (as lavaan does)")
            continue
        prev_line, prev, prev_shown = out[-1]
        if prev.startswith(BLOCK_MARK):
            raise SyntaxModelError(f"line {lineno}: no operator in {_short(shown)!r} (after the block header on "
                                   f"line {prev_line})")
        if _name_end(text) > 0 or text[0] in _DIGITS:
            if prev and (prev[-1].isalnum() or prev[-1] in "._)\"'"):
                raise SyntaxModelError(f"line {lineno}: no operator in {_short(shown)!r} (a '+' missing at the end "
                                       f"of line {prev_line}?)")
        out[-1] = (prev_line, prev + text, prev_shown + " " + shown)
    if not out and pieces:
        lineno, _, shown = pieces[0]
        raise SyntaxModelError(f"line {lineno}: no operator in {_short(shown)!r}")
    return out


#: marks a ``group:``/``level:`` header among the statements of :func:`_logical_lines`
BLOCK_MARK = "\x00block:"


def _block_header(lineno: int, kind: str, label: str, shown: str) -> str:
    """``kind:label`` of a block header line, checked as lavaan checks it (a label is
    required; ``block:`` and ``class:`` blocks are refused: lavaan 0.6-14 has no model for them)."""
    k = kind.lower()
    if label == "":
        raise SyntaxModelError(f"line {lineno}: block identifier {kind!r} without a number or label in "
                               f"{_short(shown)!r} (write e.g. 'group: 1' or 'level: within')")
    if k not in ("group", "level"):
        known = k in ("block", "class")
        raise SyntaxModelError(f"line {lineno}: '{kind}:' blocks are not supported"
                               + (" (lavaan 0.6-14 fits group: and level: blocks only)" if known else
                                  " (lavaan knows group: and level:)") + f": {_short(shown)!r}")
    label = label.strip("\"'") if len(label) > 1 and label[0] == label[-1] and label[0] in "\"'" else label
    return f"{k}:{label}"


def _split_semicolons(line: str) -> list[str]:
    return _split_top(line, ";")


def _norm_expr(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _parse_statement(lineno: int, text: str, shown: str = "", notes: list[str] | None = None,
                     accept: frozenset[str] = frozenset()) -> list[Statement]:
    """One statement (``text`` without whitespace; ``shown`` as written, for messages)."""
    notes = [] if notes is None else notes
    shown = shown or text
    where = f"line {lineno} ({_short(shown)!r})"
    _check_balance(text if shown == text else shown, lineno)
    found = _find_operator(text)
    if found is None:
        raise SyntaxModelError(f"line {lineno}: no operator in {_short(shown)!r}")
    op, pos = found
    if op in _UNSUPPORTED_OPS:
        raise SyntaxModelError(f"line {lineno}: {_UNSUPPORTED_OPS[op]}: {_short(shown)!r}")
    if op in _FORM_OPS and _FORM_OPS[op] not in accept:
        raise SyntaxModelError(f"line {lineno}: {PENDING_FORMS[_FORM_OPS[op]]} are not supported here: {_short(shown)!r}")
    if op == "<" and re.match(r"-(?:[^\W\d]|\.)", text[pos + 1:]):
        raise SyntaxModelError(
            f"line {lineno}: unknown operator '<-' in {_short(shown)!r}; write a regression as 'y ~ x'")
    if op == ">" and re.search(r"[\w.]-$", text[:pos]):
        raise SyntaxModelError(
            f"line {lineno}: unknown operator '->' in {_short(shown)!r}; write a regression as 'y ~ x'")
    if op in ("=", "<=", ">="):
        raise SyntaxModelError(f"line {lineno}: unknown operator {op!r} in {_short(shown)!r}")
    lhs_text = text[:pos]
    rhs_text = text[pos + len(op):]
    if lhs_text == "":
        raise SyntaxModelError(f"line {lineno}: empty left-hand side in {_short(shown)!r}")
    if rhs_text == "":
        if op == "=~":
            raise SyntaxModelError(f"line {lineno}: latent {_short(lhs_text)!r} has no indicators in {_short(shown)!r}")
        raise SyntaxModelError(f"line {lineno}: empty right-hand side in {_short(shown)!r}")
    if op in CON_OPS:
        if op == ":=":
            if not _is_name(lhs_text):
                raise SyntaxModelError(
                    f"line {lineno}: {_short(lhs_text)!r} is not a valid name for ':='{_why_not_name(lhs_text)}"
                )
            expression_names(rhs_text, where=where)  # syntax check
            return [Statement(op=op, lhs=(lhs_text,), expr=_norm_expr(rhs_text), line=lineno, text=shown)]
        expression_names(lhs_text, where=where)
        expression_names(rhs_text, where=where)
        return [Statement(op=op, lhs=(_norm_expr(lhs_text),), expr=_norm_expr(rhs_text), line=lineno, text=shown)]
    # parameter statement: a second operator would be an error
    rest = _find_operator(rhs_text)
    if rest is not None:
        raise SyntaxModelError(f"line {lineno}: unexpected operator {rest[0]!r} in {_short(shown)!r}")
    lhs_names, efa_sets = _lhs_names(lhs_text, op, lineno, shown, accept)
    for name in lhs_names:
        if not _is_name(name):
            raise SyntaxModelError(
                f"line {lineno}: {_short(name)!r} is not a valid variable name{_why_not_name(name)} in {_short(shown)!r}"
            )
    if op == "=~" and rhs_text != "0" and all(
            all(_parse_number(f) is not None for f in piece.split("*")) for piece in re.split(r"(?<![eE])\+", rhs_text)):
        raise SyntaxModelError(f"line {lineno}: latent {_short(lhs_text)!r} has no indicators in {_short(shown)!r}")
    try:
        terms = _parse_rhs(rhs_text, op, where, notes, accept)
    except RecursionError:
        raise SyntaxModelError(f"{where}: the right-hand side is nested too deeply") from None
    if op == "|":
        for t in terms:
            if not _THRESHOLD.match(t.name):
                raise SyntaxModelError(f"line {lineno}: {_short(t.name)!r} is not a threshold name (t1, t2, ...) in "
                                       f"{_short(shown)!r}")
    out: list[Statement] = []
    for name, efa in zip(lhs_names, efa_sets):
        if op == "~":
            for t in terms:
                out.append(Statement(op="~1" if t.name == "" else "~", lhs=(name,), terms=(t,), line=lineno, text=shown))
        else:
            ts = tuple(dataclasses.replace(t, name=name, self_loading=True) if t.name == "..self.." else t
                       for t in terms)
            if any(t.name == "..self.." for t in terms) and "self_loading" not in accept:
                raise SyntaxModelError(f"line {lineno}: {PENDING_FORMS['self_loading']} is not supported yet: "
                                       f"{_short(shown)!r}")
            out.append(Statement(op=op, lhs=(name,), terms=ts, line=lineno, text=shown, efa=efa))
    return out


_EFA_LHS = re.compile(r"""^efa\((["'])([^"']*)\1\)\*(.*)$""")


def _lhs_names(lhs_text: str, op: str, lineno: int, shown: str, accept: frozenset[str]) -> tuple[list[str], list[str]]:
    """The names on the left of an operator and the efa set of each (``efa("set")*f1``; the only
    left-hand modifier lavaan 0.6-14 knows, on the left of ``=~`` only)."""
    names, sets = [], []
    for piece in _split_top(lhs_text, "+"):
        efa = ""
        if "*" in _mask_quotes(piece):
            m = _EFA_LHS.match(piece)
            if not m or "*" in _mask_quotes(m.group(3)):
                raise SyntaxModelError(f"line {lineno}: the only modifier lavaan allows on the left-hand side is "
                                       f"efa(\"name\")*, in {_short(shown)!r}")
            if op != "=~":
                raise SyntaxModelError(f"line {lineno}: efa() is only allowed on the left of '=~', in {_short(shown)!r}")
            if "efa" not in accept:
                raise SyntaxModelError(f"line {lineno}: {PENDING_FORMS['efa']} are not supported here: {_short(shown)!r}")
            if m.group(2) == "":
                raise SyntaxModelError(f"line {lineno}: efa() needs a block name, e.g. efa(\"efa1\"), in {_short(shown)!r}")
            efa, piece = m.group(2), m.group(3)
        names.append(piece)
        sets.append(efa)
    return names, sets

def parse_syntax(syntax: str, *, accept: Iterable[str] = ()) -> ParsedModel:
    """Parse lavaan model syntax.

    Parameters
    ----------
    syntax : str
        lavaan model syntax, read with lavaan 0.6-14's rules (whitespace removed everywhere,
        modifiers evaluated as R evaluates them, the same term twice in one formula merged).
    accept : iterable of str
        Forms of :data:`PENDING_FORMS` the caller's parameter table implements (``"rv"``,
        ``"auto_label"``, ``"self_loading"``); others are refused with a SyntaxModelError.

    Returns
    -------
    ParsedModel
        Statements with 1-based source lines. Each parameter statement has exactly one lhs
        (``y1 + y2 ~ x`` is expanded) and, for ``~``/``~1``, exactly one term.

    Raises
    ------
    SyntaxModelError
        Unknown or unsupported operator, unbalanced parentheses, empty side, bad modifier,
        latent without indicators, variable regressed on itself.
    DuplicateDefinitionError
        The same ``lhs op rhs`` twice or a ``:=`` name defined twice.
    LabelError
        Conflicting labels (see :func:`check_labels`).

    Examples
    --------
    >>> m = parse_syntax("f =~ x1 + a*x2 + x3\\nf ~~ 1*f")
    >>> [(s.op, s.lhs[0], [t.name for t in s.terms]) for s in m.statements]
    [('=~', 'f', ['x1', 'x2', 'x3']), ('~~', 'f', ['f'])]
    """
    if not isinstance(syntax, str):
        raise SyntaxModelError(f"model syntax must be a string, got {type(syntax).__name__}")
    acc = frozenset(accept)
    unknown = acc - set(PENDING_FORMS)
    if unknown:
        raise SyntaxModelError(f"parse_syntax: unknown form(s) in accept: {sorted(unknown)}")
    model = ParsedModel()
    syntax = clean_source(syntax)
    header: dict[str, str | None] = {"group": None, "level": None}
    block = 0
    for lineno, text, shown in _logical_lines(syntax, model.warnings):
        if text.startswith(BLOCK_MARK):
            block = _next_block(model, header, text[len(BLOCK_MARK):], lineno, shown, acc)
            continue
        header.pop("_fresh", None)
        for st in _parse_statement(lineno, text, shown, model.warnings, acc):
            if block and st.op in PARAM_OPS + tuple(_FORM_OPS):
                st = dataclasses.replace(st, block=block)
            if st.op in PARAM_OPS or st.op in _FORM_OPS:
                model.statements.append(st)
            else:
                model.user_cons.append(st)
                (model.definitions if st.op == ":=" else model.constraints).append(st)
    if model.blocks:  # statements above the first header belong to the first block (lavaan)
        model.statements = [st if st.block else dataclasses.replace(st, block=1) for st in model.statements]
    if not model.statements and model.user_cons:
        st = model.user_cons[0]
        raise SyntaxModelError(f"line {st.line}: the syntax has constraints but no model statements")
    if not model.statements:
        raise SyntaxModelError("line 1: the model syntax is empty (no statements)")
    _check_statements(model)
    _check_marker_labels_in_definitions(model)
    return model


def _next_block(model: ParsedModel, header: dict[str, str | None], kind_label: str, lineno: int, shown: str,
                accept: frozenset[str]) -> int:
    """Open the block of a ``group:``/``level:`` header; returns its 1-based number. A
    ``group:`` header resets the level (levels are nested in groups, as lavaan requires)."""
    if "blocks" not in accept:
        raise SyntaxModelError(f"line {lineno}: {PENDING_FORMS['blocks']} are not supported here: {_short(shown)!r}")
    kind, label = kind_label.split(":", 1)
    if kind == "group" and header["level"] is not None and header["group"] is None:
        raise SyntaxModelError(f"line {lineno}: groups cannot be nested within levels (write 'group:' headers "
                               f"first, then 'level:' headers inside each group): {_short(shown)!r}")
    if kind == "group":
        header["group"], header["level"] = label, None
    else:
        header["level"] = label
    key = (header["group"], header["level"])
    if header.pop("_fresh", None) and model.blocks:  # two headers in a row open one block (lavaan)
        model.blocks.pop()
    if key in model.blocks:
        raise SyntaxModelError(f"line {lineno}: the block {_short(shown)!r} appears twice")
    header["_fresh"] = "yes"
    model.blocks.append(key)
    return len(model.blocks)


def _check_marker_labels_in_definitions(model: ParsedModel) -> None:
    """Provisional (until the parameter table checks it): lavaan stops with "non-free
    parameter(s) in variable definition(s)" when a ``:=`` uses a label whose parameter is
    fixed. The case the parser can see: every row of the label is the first loading of its
    latent, which lavaan fixes at 1 (auto.fix.first), with no value or NA in any group. (With
    ``std_lv=True`` lavaan frees that loading; the refusal is then too strict, never silent.)"""
    if not model.definitions:
        return
    first_seen: set[str] = set()
    marker: dict[str, bool] = {}
    for st in model.statements:
        for k, t in enumerate(st.terms):
            is_marker = st.op == "=~" and k == 0 and st.lhs[0] not in first_seen
            if is_marker:
                is_marker = all(m.fixed is None and not m.free for m in t.modifiers)
            for m in t.modifiers:
                if m.label:
                    marker[m.label] = marker.get(m.label, True) and is_marker
        if st.op == "=~":
            first_seen.add(st.lhs[0])
    for st in model.definitions:
        bad = [nm for nm in expression_names(st.expr) if marker.get(nm)]
        if bad:
            raise LabelError(
                f"line {st.line}: ':=' uses {', '.join(repr(b) for b in bad)}, the label of a first loading "
                "lavaan fixes at 1 (lavaan: non-free parameter(s) in variable definition(s))"
            )


def _check_statements(model: ParsedModel) -> None:
    seen: dict[tuple[str, str, str, int], int] = {}
    for st in model.statements:
        lhs = st.lhs[0]
        for t in st.terms:
            rhs = t.name
            if st.op == "~" and rhs == lhs:
                raise SyntaxModelError(f"line {st.line}: {_short(lhs)!r} is regressed on itself in {_short(st.text)!r}")
            if st.op == "=~" and rhs == lhs and not t.self_loading:
                raise SyntaxModelError(
                    f"line {st.line}: latent {_short(lhs)!r} is its own indicator in {_short(st.text)!r}"
                )
            keys = [(lhs, st.op, rhs, st.block)]
            if st.op == "~~":
                keys.append((rhs, st.op, lhs, st.block))
            for k in keys:
                if k in seen:
                    raise DuplicateDefinitionError(
                        f"line {st.line}: {_short(f'{lhs} {st.op} {rhs}')!r} is already defined on line {seen[k]}"
                    )
            seen[keys[0]] = st.line
    names: dict[str, int] = {}
    for st in model.definitions:
        name = st.lhs[0]
        if name in names:
            raise DuplicateDefinitionError(
                f"line {st.line}: ':=' name {_short(name)!r} is already defined on line {names[name]}"
            )
        names[name] = st.line


# --------------------------------------------------------------------------------------
# expressions
# --------------------------------------------------------------------------------------
def _pnorm(x: Any) -> Any:
    return special.ndtr(x)


#: functions allowed in ``:=`` and constraint expressions (complex-safe where possible)
EXPRESSION_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "pnorm": _pnorm,
}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def _tokenize_expr(expr: str, where: str) -> tuple[str, dict[str, str]]:
    """Translate an R expression to Python source with placeholder names.

    Returns ``(python_source, {placeholder: original_name})``.
    """
    out: list[str] = []
    names: dict[str, str] = {}
    back: dict[str, str] = {}
    i = 0
    n = len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            out.append(" ")
            i += 1
            continue
        m = _TOKEN_NUMBER.match(expr, i)
        if m and (ch in _DIGITS or (ch == "." and i + 1 < n and expr[i + 1] in _DIGITS)):
            out.append(m.group(0))
            i = m.end()
            continue
        end = _name_end(expr, i)
        if end > i:
            name = expr[i:end]
            if name not in back:
                ph = f"_v{len(back)}"
                back[name] = ph
                names[ph] = name
            out.append(back[name])
            i = end
            continue
        if ch == "^":
            out.append("**")
            i += 1
            continue
        if expr.startswith("**", i):
            out.append("**")
            i += 2
            continue
        if ch in "+-*/(),":
            out.append(ch)
            i += 1
            continue
        raise SyntaxModelError(f"{where}: character {ch!r} not allowed in expression {_short(expr)!r}")
    return "".join(out), names


def _parse_expr(expr: str, where: str) -> tuple[ast.expr, dict[str, str]]:
    if not isinstance(expr, str) or expr.strip() == "":
        raise SyntaxModelError(f"{where}: empty expression")
    src, names = _tokenize_expr(expr, where)
    try:
        tree = ast.parse(src, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise SyntaxModelError(f"{where}: cannot parse expression {_short(expr)!r} ({type(exc).__name__})") from None
    try:
        _validate(tree.body, names, where, expr)
    except RecursionError:
        raise SyntaxModelError(f"{where}: expression {_short(expr)!r} is nested too deeply") from None
    return tree.body, names


def _validate(node: ast.AST, names: dict[str, str], where: str, expr: str) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise SyntaxModelError(f"{where}: constant {node.value!r} not allowed in {_short(expr)!r}")
        return
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise SyntaxModelError(f"{where}: operator not allowed in {_short(expr)!r}")
        _validate(node.left, names, where, expr)
        _validate(node.right, names, where, expr)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise SyntaxModelError(f"{where}: operator not allowed in {_short(expr)!r}")
        _validate(node.operand, names, where, expr)
        return
    if isinstance(node, ast.Call):
        fname = names.get(node.func.id, "") if isinstance(node.func, ast.Name) else ""
        if fname not in EXPRESSION_FUNCTIONS:
            shown = fname or ast.dump(node.func)[:30]
            raise SyntaxModelError(f"{where}: function {shown!r} not allowed in {_short(expr)!r}")
        if len(node.args) != 1 or node.keywords:
            raise SyntaxModelError(f"{where}: {fname}() takes exactly one argument in {_short(expr)!r}")
        _validate(node.args[0], names, where, expr)
        return
    raise SyntaxModelError(f"{where}: construct not allowed in expression {_short(expr)!r}")


def _free_names(node: ast.AST, names: dict[str, str]) -> list[str]:
    """Names of variables (not called functions) in order of first appearance."""
    out: list[str] = []

    def visit(n: ast.AST) -> None:
        if isinstance(n, ast.Name):
            nm = names[n.id]
            if nm not in out:
                out.append(nm)
        elif isinstance(n, ast.Call):
            visit(n.args[0])
        elif isinstance(n, ast.BinOp):
            visit(n.left)
            visit(n.right)
        elif isinstance(n, ast.UnaryOp):
            visit(n.operand)

    visit(node)
    return out


def expression_names(expr: str, where: str = "expression") -> list[str]:
    """Names (labels) referenced by an expression, in order of first appearance.

    Raises
    ------
    SyntaxModelError
        When the expression cannot be parsed or uses a construct outside the whitelist.

    Examples
    --------
    >>> expression_names("a*b + exp(c)^2")
    ['a', 'b', 'c']
    """
    node, names = _parse_expr(expr, where)
    return _free_names(node, names)


class CompiledExpression:
    """A whitelisted arithmetic expression, callable on a mapping ``name -> value``.

    Works with real and complex values (complex-step differentiation); returns ``float`` for
    real input.
    """

    def __init__(self, expr: str, node: ast.expr, names: dict[str, str]):
        self.expr = expr
        self._node = node
        self._names = names
        self.names: tuple[str, ...] = tuple(_free_names(node, names))

    def __repr__(self) -> str:
        return f"CompiledExpression({self.expr!r})"

    def at_points(self, X: np.ndarray) -> np.ndarray:
        """The expression at several points at once: ``X[j, m]`` is the value of
        ``self.names[j]`` at point m (one pass over the tree with numpy arrays, with the
        same R semantics as a single call)."""
        X = np.asarray(X, float)
        m = X.shape[1]
        with np.errstate(all="ignore"):
            out = self._eval(self._node, dict(zip(self.names, X)))
        return np.array(np.broadcast_to(np.asarray(out, float), (m,)))

    def _eval(self, node: ast.AST, env: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return env[self._names[node.id]]
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, env)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a = self._eval(node.left, env)
            b = self._eval(node.right, env)
            op = type(node.op)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            arrays = isinstance(a, np.ndarray) or isinstance(b, np.ndarray)
            if op is ast.Div:
                return np.divide(a, b) if arrays or b == 0 else a / b
            if arrays:  # R semantics elementwise: overflow Inf, negative base ** fraction NaN
                return np.power(np.asarray(a, float), b)
            return np.power(a, b) if isinstance(a, complex) or isinstance(b, complex) else _rpow(a, b)
        if isinstance(node, ast.Call):
            fname = self._names[node.func.id]  # type: ignore[attr-defined]
            return EXPRESSION_FUNCTIONS[fname](self._eval(node.args[0], env))
        raise SyntaxModelError(f"expression {self.expr!r}: unsupported node")  # pragma: no cover

    def __call__(self, values: Mapping[str, Any]) -> Any:
        missing = [n for n in self.names if n not in values]
        if missing:
            raise LabelError(f"expression {_short(self.expr)!r}: no value for label {_short(missing[0])!r}")
        with np.errstate(all="ignore"):
            try:
                out = self._eval(self._node, values)
            except OverflowError:
                return math.inf
        if isinstance(out, (complex, np.complexfloating)):
            return complex(out)
        return float(out)


def _rpow(a: Any, b: Any) -> Any:
    """R-style power: negative base with fractional exponent gives NaN, overflow gives Inf."""
    try:
        r = float(a) ** float(b)
    except OverflowError:
        return math.inf
    except ZeroDivisionError:
        return math.inf
    if isinstance(r, complex):
        return math.nan
    return r


def compile_expression(
    expr: str, names: Iterable[str], *, line: int | None = None
) -> CompiledExpression:
    """Compile a ``:=`` / constraint expression.

    Parameters
    ----------
    expr : str
        R-style arithmetic: numbers, names, ``+ - * / ^ **``, unary minus, parentheses and the
        functions ``exp log sqrt abs pnorm``. ``^`` is power, as in R.
    names : iterable of str
        Names the expression may reference (labels, earlier ``:=`` names).
    line : int, optional
        Source line, used in error messages.

    Returns
    -------
    CompiledExpression
        Callable ``f(mapping) -> float``; ``f.names`` lists the names it uses.

    Raises
    ------
    LabelError
        The expression references a name not in ``names``.
    SyntaxModelError
        The expression cannot be parsed or uses something outside the whitelist.

    Examples
    --------
    >>> f = compile_expression("a*b + c^2", ["a", "b", "c"])
    >>> f({"a": 2.0, "b": 3.0, "c": 2.0})
    10.0
    """
    where = f"line {line}" if line else "expression"
    node, mapping = _parse_expr(expr, where)
    allowed = set(names)
    compiled = CompiledExpression(expr, node, mapping)
    for nm in compiled.names:
        if nm not in allowed:
            raise LabelError(f"{where}: unknown label {_short(nm)!r} in expression {_short(expr)!r}")
    return compiled
