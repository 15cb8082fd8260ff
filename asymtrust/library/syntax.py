"""Parse lavaan model syntax into statements.

The parser understands the subset of lavaan 0.6 model syntax that asymtrust estimates:

* ``=~`` (measurement), ``~`` (regression), ``~~`` (variance / covariance), ``y ~ 1`` (intercept);
* ``:=`` (defined parameter), ``==``, ``<``, ``>`` (constraints);
* modifiers ``a*x`` (label), ``1*x`` (fixed), ``NA*x`` (free), ``start(0.5)*x`` / ``0.5?x`` (start value),
  ``c(a1, a2)*x`` / ``c(1, NA)*x`` (one modifier per group), ``label("a")*x``, ``equal("a")*x`` and
  chains of them such as ``NA*a*x``;
* ``#`` and ``!`` comments, ``;`` separators and statements spread over several lines (a line without an
  operator continues the statement above, as in lavaan).
* names and labels as lavaan (R) reads them: letters of any script (``confiança =~ ...``, ``信頼 =~ ...``,
  ``á*x1``), digits, ``.`` and ``_``; a leading UTF-8 byte-order mark is dropped, ``U+02DC`` (small tilde)
  reads as ``~`` and CRLF line ends are accepted.

Formative indicators (``<~``), thresholds (``|``) and the other lavaan operators are refused with a
:class:`~asymtrust.exceptions.SyntaxModelError`.

Expressions of ``:=`` and constraints are compiled by :func:`compile_expression` with a whitelist
of Python ``ast`` nodes (no ``eval`` of user text).
"""
from __future__ import annotations

import ast
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
    "<~": "formative indicators ('<~') are not supported",
    "~*~": "scale factors ('~*~') are not supported",
    "|": "thresholds ('|') are not supported (categorical indicators)",
    "%": "the '%' operator (efa/blocks) is not supported",
}
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
        User label (``a*x``), ``""`` if none.
    """

    fixed: float | None = None
    free: bool = False
    start: float | None = None
    label: str = ""

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
        return Modifier(fixed=fixed, free=free, start=start, label=label)


@dataclass(frozen=True)
class Term:
    """One right-hand-side term of a parameter statement.

    ``modifiers`` holds either one :class:`Modifier` (applies to every group) or one per group
    (from ``c(...)``); use :meth:`modifier` to get the modifier of a group.
    """

    name: str
    modifiers: tuple[Modifier, ...] = (Modifier(),)
    per_group: bool = False

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
    """

    statements: list[Statement] = field(default_factory=list)
    definitions: list[Statement] = field(default_factory=list)
    constraints: list[Statement] = field(default_factory=list)
    user_cons: list[Statement] = field(default_factory=list)


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
# modifiers and terms
# --------------------------------------------------------------------------------------
def _atom_modifier(atom: str, kind: str, where: str) -> Modifier:
    """Modifier from one element: number, NA, bare name or quoted string.

    ``kind`` is ``"value"`` (fixed / free / label), ``"start"`` or ``"label"``.
    """
    atom = atom.strip()
    if atom == "":
        raise SyntaxModelError(f"{where}: empty modifier")
    quoted = _unquote(atom)
    if kind == "start":
        if atom == "NA":
            return Modifier()
        v = _parse_number(atom)
        if v is None or not math.isfinite(v):
            raise SyntaxModelError(f"{where}: start value {_short(atom)!r} is not a number")
        return Modifier(start=v)
    if kind == "label":
        lab = quoted if quoted is not None else atom
        if atom == "NA" or lab == "":
            return Modifier()
        if not _is_name(lab):
            raise LabelError(f"{where}: {_short(lab)!r} is not a valid label{_why_not_name(lab)}")
        return Modifier(label=lab)
    # kind == "value"
    if atom == "NA":
        return Modifier(free=True)
    v = _parse_number(atom)
    if v is not None:
        if not math.isfinite(v):
            raise SyntaxModelError(f"{where}: fixed value {_short(atom)!r} is not finite")
        return Modifier(fixed=v)
    if quoted is not None:
        if quoted == "":
            return Modifier()
        if not _is_name(quoted):
            raise LabelError(f"{where}: {_short(quoted)!r} is not a valid label{_why_not_name(quoted)}")
        return Modifier(label=quoted)
    if _is_name(atom):
        return Modifier(label=atom)
    raise SyntaxModelError(f"{where}: cannot read modifier {_short(atom)!r}{_why_not_name(atom)}")


def _modifier_vector(mod: str, where: str) -> tuple[tuple[Modifier, ...], bool]:
    """Parse one modifier expression into (modifiers, per_group)."""
    mod = mod.strip()
    call = _call(mod)
    kind = "value"
    if call is not None:
        fname, inner = call
        if fname in ("start", "label", "equal"):
            kind = "start" if fname == "start" else "label"
            inner = inner.strip()
            sub = _call(inner)
            if sub is not None and sub[0] == "c":
                elems = _split_top(sub[1], ",")
                return tuple(_atom_modifier(e, kind, where) for e in elems), True
            return (_atom_modifier(inner, kind, where),), False
        if fname == "c":
            elems = _split_top(inner, ",")
            return tuple(_atom_modifier(e, "value", where) for e in elems), True
        if fname in ("lower", "upper", "prior", "rv", "efa"):
            raise SyntaxModelError(f"{where}: the modifier {fname}() is not supported")
        raise SyntaxModelError(f"{where}: unknown modifier {fname}()")
    return (_atom_modifier(mod, kind, where),), False


def _parse_term(raw: str, where: str, op: str) -> Term:
    """Parse ``mod*mod*name`` (or ``start?name``) into a :class:`Term`."""
    text = raw.strip()
    if text == "":
        raise SyntaxModelError(f"{where}: empty term (a '+' without a variable)")
    parts = [p.strip() for p in _split_top(text, "*")]
    # lavaan's "start?x" form
    qparts = _split_top(parts[-1], "?")
    if len(qparts) == 2:
        parts = parts[:-1] + [f"start({qparts[0].strip()})", qparts[1].strip()]
    elif len(qparts) > 2:
        raise SyntaxModelError(f"{where}: cannot read term {_short(text)!r}")
    name = parts[-1]
    mods = parts[:-1]
    if name == "1" and op == "~":
        name = ""  # intercept
    elif not _is_name(name):
        if name == "":
            raise SyntaxModelError(f"{where}: a term ends with '*' but has no variable")
        raise SyntaxModelError(f"{where}: {_short(name)!r} is not a valid variable name{_why_not_name(name)}")
    per_group = False
    modifiers: tuple[Modifier, ...] = (Modifier(),)
    for m in mods:
        if m == "":
            raise SyntaxModelError(f"{where}: empty modifier in {_short(text)!r}")
        vec, pg = _modifier_vector(m, where)
        if pg:
            if per_group and len(vec) != len(modifiers):
                raise SyntaxModelError(
                    f"{where}: c(...) vectors of different lengths ({len(modifiers)} and {len(vec)})"
                )
            base = modifiers if per_group else modifiers * len(vec)
            modifiers = tuple(b.merge(v, where) for b, v in zip(base, vec))
            per_group = True
        else:
            modifiers = tuple(b.merge(vec[0], where) for b in modifiers)
    return Term(name=name, modifiers=modifiers, per_group=per_group)


# --------------------------------------------------------------------------------------
# statements
# --------------------------------------------------------------------------------------
def _logical_lines(syntax: str) -> list[tuple[int, str]]:
    """Join physical lines into statements: returns ``(line, text)`` pairs."""
    pieces: list[tuple[int, str]] = []
    for lineno, raw in enumerate(syntax.splitlines(), start=1):
        line = _strip_comment(raw)
        for chunk in _split_semicolons(line):
            if chunk.strip():
                pieces.append((lineno, chunk.strip()))
    out: list[tuple[int, str]] = []
    for lineno, text in pieces:
        continues = bool(out) and (
            not _has_operator(text) or re.search(r"(=~|~~|~|\+|\*|:=|==|<|>|,|\()\s*$", out[-1][1])
        )
        if continues and _has_operator(text) and re.search(r"(=~|~~|~|:=|==|<|>)\s*$", out[-1][1]):
            # "f =~" followed by a line with its own operator: the statement is incomplete
            prev_line, prev = out[-1]
            if prev.rstrip().endswith("=~"):
                latent = prev.rstrip()[:-2].strip()
                raise SyntaxModelError(f"line {prev_line}: latent {_short(latent)!r} has no indicators in {_short(prev)!r}")
            raise SyntaxModelError(f"line {prev_line}: empty right-hand side in {_short(prev)!r}")
        if continues:
            prev_line, prev = out[-1]
            out[-1] = (prev_line, prev + " " + text)
        else:
            if not _has_operator(text):
                raise SyntaxModelError(f"line {lineno}: no operator in {_short(text)!r}")
            out.append((lineno, text))
    return out


def _split_semicolons(line: str) -> list[str]:
    return _split_top(line, ";")


def _norm_expr(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _parse_statement(lineno: int, text: str) -> list[Statement]:
    where = f"line {lineno} ({_short(text)!r})"
    _check_balance(text, lineno)
    found = _find_operator(text)
    if found is None:
        raise SyntaxModelError(f"line {lineno}: no operator in {_short(text)!r}")
    op, pos = found
    if op in _UNSUPPORTED_OPS:
        raise SyntaxModelError(f"line {lineno}: {_UNSUPPORTED_OPS[op]}: {_short(text)!r}")
    if op in ("=", "<=", ">="):
        raise SyntaxModelError(f"line {lineno}: unknown operator {op!r} in {_short(text)!r}")
    lhs_text = text[:pos].strip()
    rhs_text = text[pos + len(op):].strip()
    arrow = None
    if op == "<" and re.match(r"-\s*(?:[^\W\d]|\.)", text[pos + 1:]):
        arrow = "<-"
    elif op == ">" and lhs_text.endswith("-") and re.search(r"[\w.]\s*-$", lhs_text):
        arrow = "->"
    if arrow:
        raise SyntaxModelError(
            f"line {lineno}: unknown operator {arrow!r} in {_short(text)!r}; write a regression as 'y ~ x'"
        )
    if lhs_text == "":
        raise SyntaxModelError(f"line {lineno}: empty left-hand side in {_short(text)!r}")
    if rhs_text == "":
        if op == "=~":
            raise SyntaxModelError(f"line {lineno}: latent {_short(lhs_text)!r} has no indicators in {_short(text)!r}")
        raise SyntaxModelError(f"line {lineno}: empty right-hand side in {_short(text)!r}")
    if op in CON_OPS:
        if op == ":=":
            if not _is_name(lhs_text):
                raise SyntaxModelError(
                    f"line {lineno}: {_short(lhs_text)!r} is not a valid name for ':='{_why_not_name(lhs_text)}"
                )
            expression_names(rhs_text, where=where)  # syntax check
            return [Statement(op=op, lhs=(lhs_text,), expr=_norm_expr(rhs_text), line=lineno, text=text)]
        expression_names(lhs_text, where=where)
        expression_names(rhs_text, where=where)
        return [Statement(op=op, lhs=(_norm_expr(lhs_text),), expr=_norm_expr(rhs_text), line=lineno, text=text)]
    # parameter statement: a second operator would be an error
    rest = _find_operator(rhs_text)
    if rest is not None:
        raise SyntaxModelError(f"line {lineno}: unexpected operator {rest[0]!r} in {_short(text)!r}")
    lhs_names = [p.strip() for p in _split_top(lhs_text, "+")]
    for name in lhs_names:
        if not _is_name(name):
            raise SyntaxModelError(
                f"line {lineno}: {_short(name)!r} is not a valid variable name{_why_not_name(name)} in {_short(text)!r}"
            )
    raw_terms = _split_top(rhs_text, "+")
    if op == "=~":
        names = [_split_top(t, "*")[-1].strip() for t in raw_terms]
        if names and all(_parse_number(n) is not None for n in names):
            raise SyntaxModelError(f"line {lineno}: latent {_short(lhs_text)!r} has no indicators in {_short(text)!r}")
    terms = [_parse_term(t, where, op) for t in raw_terms]
    out: list[Statement] = []
    if op == "~":
        ints = [t for t in terms if t.name == ""]
        if len(ints) > 1:
            raise DuplicateDefinitionError(f"line {lineno}: intercept given twice in {_short(text)!r}")
        for name in lhs_names:
            for t in terms:
                if t.name == "":
                    out.append(Statement(op="~1", lhs=(name,), terms=(t,), line=lineno, text=text))
                else:
                    out.append(Statement(op="~", lhs=(name,), terms=(t,), line=lineno, text=text))
        return out
    for name in lhs_names:
        out.append(Statement(op=op, lhs=(name,), terms=tuple(terms), line=lineno, text=text))
    return out


def parse_syntax(syntax: str) -> ParsedModel:
    """Parse lavaan model syntax.

    Parameters
    ----------
    syntax : str
        lavaan model syntax.

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
    model = ParsedModel()
    syntax = clean_source(syntax)
    for lineno, text in _logical_lines(syntax):
        for st in _parse_statement(lineno, text):
            if st.op in PARAM_OPS:
                model.statements.append(st)
            else:
                model.user_cons.append(st)
                (model.definitions if st.op == ":=" else model.constraints).append(st)
    if not model.statements and model.user_cons:
        st = model.user_cons[0]
        raise SyntaxModelError(f"line {st.line}: the syntax has constraints but no model statements")
    if not model.statements:
        raise SyntaxModelError("line 1: the model syntax is empty (no statements)")
    _check_statements(model)
    return model


def _check_statements(model: ParsedModel) -> None:
    seen: dict[tuple[str, str, str], int] = {}
    for st in model.statements:
        lhs = st.lhs[0]
        for t in st.terms:
            rhs = t.name
            if st.op == "~" and rhs == lhs:
                raise SyntaxModelError(f"line {st.line}: {_short(lhs)!r} is regressed on itself in {_short(st.text)!r}")
            if st.op == "=~" and rhs == lhs:
                raise SyntaxModelError(
                    f"line {st.line}: latent {_short(lhs)!r} is its own indicator in {_short(st.text)!r}"
                )
            keys = [(lhs, st.op, rhs)]
            if st.op == "~~":
                keys.append((rhs, st.op, lhs))
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
