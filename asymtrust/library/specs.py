"""The model library: lavaan syntax plus metadata for every bundled model.

Each bundled model is ``specs/NAME.lav`` (lavaan syntax) and ``specs/NAME.toml``
(title, constructs, expected signs with the seed passage behind each path, and
population values for :func:`asymtrust.simulate`). The TOML schema is documented
in ``specs/README.md``; the mapping from the two papers to the models in
``docs/theory.md``.

Examples
--------
>>> from asymtrust.library.specs import list_specs, load_spec
>>> list_specs()
['fig1', 'fig1_cfa', 'fig1_direct', 'fig1_dyadic', 'fig1_moderated', 'fig1_single_trust', 'fig1_twolevel', 'hp2018']
>>> spec = load_spec("fig1")
>>> spec.constructs["CompTrust"]
['ctr1', 'ctr2', 'ctr3', 'ctr4']
>>> [(p.lhs, p.rhs, p.sign) for p in spec.paths][:2]
[('CompTrust', 'RoleAmb', '-'), ('CompTrust', 'InfoAsym', '-')]
"""
from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .._paths import specs_dir
from ..exceptions import SpecError

__all__ = [
    "PathMeta",
    "ModelSpec",
    "SEEDS",
    "list_specs",
    "load_spec",
    "describe_spec",
    "parse_structure",
]

#: The two seed papers a path quote may come from: key -> (seed file, citation).
SEEDS: dict[str, tuple[str, str]] = {
    "islam2020": (
        "000_5ab2fb60849ce40f.txt",
        "Islam, A., Li, W., Johnson, K. & Lauchande, P. (2020). How far has integrated care come? Applying an "
        "asymmetric lens to inter-organisation trust amongst health and social care organisations. International "
        "Entrepreneurship and Management Journal 16(2), 529-554. doi:10.1007/s11365-019-00583-8 (CC-BY 4.0)",
    ),
    "li2018": (
        "003_57fbccd8d71da0b3.txt",
        "Li, W., Islam, A., Johnson, K., Lauchande, P., Shang, X. & Shen, X. (2018). Understanding "
        "inter-organizational trust among integrated care service provider networks: a perspective on "
        "organizational asymmetries. Health Policy 122(12), 1356-1363. doi:10.1016/j.healthpol.2018.09.003",
    ),
}

KINDS = ("theory", "measurement", "competing", "moderation", "reference")
ROLES = ("asymmetry", "trust", "outcome", "moderator", "interaction", "factor")
SIGNS = ("+", "-", "?")
#: Sector levels allowed as ``[population.groups.<sector>]`` keys.
GROUP_LEVELS = ("nhs", "council", "voluntary")
_POP_KEYS = ("note", "loadings", "paths", "correlations", "residual_correlations", "thresholds", "means", "groups")
_GROUP_KEYS = ("paths", "correlations", "residual_correlations", "means")


@dataclass(frozen=True)
class PathMeta:
    """One structural path ``lhs ~ rhs`` with its expected sign and seed passage."""

    lhs: str
    rhs: str
    sign: str
    section: str
    quote: str
    seed: str


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A model of the library: lavaan syntax plus metadata (see ``docs/contracts.md``).

    Attributes
    ----------
    name, title, kind, syntax, description : str
    constructs : dict[str, list[str]]
        Latent -> indicator codes, from the ``=~`` lines, in syntax order.
    labels, roles : dict[str, str]
        Latent -> human label / role.
    paths : tuple[PathMeta, ...]
        Structural paths with expected sign and the seed passage.
    population : dict
        Population values for :func:`asymtrust.simulate` (``specs/README.md``).
    interactions : dict[str, tuple[str, str]]
        Latent interaction -> (moderated, moderator).
    source : pathlib.Path or None
        The file the spec was read from.
    dyadic : dict
        For a spec of one row per partnership (``[dyadic]`` in the TOML, e.g. ``fig1_dyadic``):
        ``dyad`` and ``side`` (the respondent-level columns :func:`asymtrust.dyads` reads) and
        ``sides`` (the two side labels; every indicator is ``<item>_<side>``). Empty otherwise.
    """

    name: str
    title: str
    kind: str
    syntax: str
    constructs: dict[str, list[str]]
    labels: dict[str, str]
    roles: dict[str, str]
    paths: tuple[PathMeta, ...]
    population: dict[str, Any]
    interactions: dict[str, tuple[str, str]]
    description: str
    source: Path | None
    dyadic: dict[str, Any] = field(default_factory=dict)
    _measurement: tuple[str, ...] = field(default=(), repr=False)
    _regressions: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        # a ModelSpec built by hand (not by load_spec) derives its statements from the syntax
        if not self._measurement and not self._regressions and self.syntax:
            _, regressions, measurement = parse_structure(self.syntax, where=self.name)
            object.__setattr__(self, "_measurement", tuple(measurement))
            object.__setattr__(self, "_regressions", tuple(regressions))

    def measurement_syntax(self) -> str:
        """The ``=~`` statements only: the CFA of this spec (all factors correlated by lavaan)."""
        return "\n".join(self._measurement) + "\n"

    def items(self) -> list[str]:
        """All observed indicator codes in syntax order (latents used as indicators excluded)."""
        out: dict[str, None] = {}
        for inds in self.constructs.values():
            for ind in inds:
                if ind not in self.constructs:
                    out[ind] = None
        return list(out)

    def regressions(self) -> list[tuple[str, str]]:
        """All ``lhs ~ rhs`` pairs of the syntax, in order."""
        return list(self._regressions)

    def item_side(self, item: str) -> tuple[str, str | None]:
        """The codebook item and side of an indicator: ``("cap1", "nhs")`` for ``cap1_nhs`` in a
        dyadic spec; ``(item, None)`` otherwise."""
        for s in self.dyadic.get("sides", ()):
            if item.endswith(f"_{s}") and len(item) > len(s) + 1:
                return item[: -len(s) - 1], s
        return item, None

    def latents(self) -> list[str]:
        """Latent variables in syntax order."""
        return list(self.constructs)

    def product_indicators(self) -> list[str]:
        """Indicators of the latent interactions (e.g. ``cap1.pow1``): computed, not survey items."""
        out: list[str] = []
        for name in self.interactions:
            out += [i for i in self.constructs.get(name, []) if i not in out]
        return out

    def __repr__(self) -> str:
        return (f"ModelSpec(name={self.name!r}, kind={self.kind!r}, latents={len(self.constructs)}, "
                f"items={len(self.items())}, paths={len(self.regressions())})")


# --------------------------------------------------------------------------- syntax
_OP_RE = re.compile(r"=~|<~|~\*~|~~|:=|==|~|<|>")
_BLOCK_RE = re.compile(r"^(level|group)\s*:\s*(\S.*)$", re.IGNORECASE)


def _short(text: str, width: int = 60) -> str:
    """Text for an error message, shortened to ``width`` characters (a line is never quoted in full)."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _statements(syntax: str) -> list[tuple[int, str]]:
    """Split lavaan syntax into (first line number, statement) pairs."""
    pieces: list[tuple[int, str]] = []
    for lineno, line in enumerate(syntax.splitlines(), start=1):
        line = re.split(r"[#!]", line, maxsplit=1)[0]
        for part in line.split(";"):
            if part.strip():
                pieces.append((lineno, part.strip()))
    out: list[tuple[int, str]] = []
    for lineno, text in pieces:
        if out and (out[-1][1][-1] in "+*~=,(" or text[0] in "+*"):
            out[-1] = (out[-1][0], f"{out[-1][1]} {text}")
        else:
            out.append((lineno, text))
    return out


def _term_name(term: str) -> str:
    """The variable of a right-hand-side term, modifiers (``0.7*x``, ``a*x``) removed."""
    return term.rsplit("*", 1)[-1].strip()


def parse_structure(syntax: str, *, where: str = "syntax") -> tuple[
        dict[str, list[str]], list[tuple[str, str]], list[str]]:
    """Read the ``=~`` and ``~`` statements of lavaan syntax.

    This is a light reader for the model library (constructs and paths). Full
    parsing into a parameter table is :func:`asymtrust.library.partable.build_partable`.

    Parameters
    ----------
    syntax : str
        lavaan model syntax.
    where : str
        Name used in error messages (a file name).

    Returns
    -------
    constructs : dict[str, list[str]]
        Latent -> indicators, in order of appearance.
    regressions : list[tuple[str, str]]
        ``(lhs, rhs)`` for every regression (``~``), intercepts excluded.
    measurement : list[str]
        The ``=~`` statements, whitespace-normalised.

    Raises
    ------
    SyntaxModelError
        If a ``=~`` or ``~`` statement has an empty side or a malformed name.
    """
    from ..exceptions import SyntaxModelError
    from .syntax import clean_source, is_identifier

    syntax = clean_source(syntax)
    constructs: dict[str, list[str]] = {}
    regressions: list[tuple[str, str]] = []
    measurement: list[str] = []
    for lineno, text in _statements(syntax):
        block = _BLOCK_RE.match(text)
        if block:  # level: / group: headers (issue 16); the measurement syntax keeps level headers
            if block.group(1).lower() == "level":
                measurement.append(f"level: {block.group(2).strip()}")
            continue
        m = _OP_RE.search(text)
        if m is None:
            raise SyntaxModelError(f"{where} line {lineno}: no lavaan operator in {_short(text)!r}")
        op = m.group(0)
        if op not in ("=~", "~"):
            continue
        lhs_part, rhs_part = text[: m.start()].strip(), text[m.end():].strip()
        lhs_names = [x.strip() for x in lhs_part.split("+")]
        terms = [t.strip() for t in rhs_part.split("+")]
        if not lhs_part or not rhs_part or "" in terms or "" in lhs_names:
            raise SyntaxModelError(f"{where} line {lineno}: empty side in {_short(text)!r}")
        names = [_term_name(t) for t in terms]
        for nm in lhs_names + [n for n in names if n != "1"]:
            if not is_identifier(nm):
                raise SyntaxModelError(f"{where} line {lineno}: invalid variable name {_short(nm)!r}")
        for lhs in lhs_names:
            if op == "=~":
                inds = constructs.setdefault(lhs, [])
                inds += [n for n in names if n not in inds]
            else:
                regressions += [(lhs, n) for n in names if n != "1" and (lhs, n) not in regressions]
        if op == "=~":
            measurement.append(" ".join(text.split()))
    return constructs, regressions, measurement


# --------------------------------------------------------------------------- loading
def list_specs() -> list[str]:
    """Names of the bundled model specifications, sorted.

    Examples
    --------
    >>> from asymtrust.library.specs import list_specs
    >>> "fig1" in list_specs()
    True
    """
    folder = specs_dir()
    return sorted(p.stem for p in folder.glob("*.toml") if (folder / f"{p.stem}.lav").is_file())


def load_spec(name_or_path: str | os.PathLike[str] | ModelSpec) -> ModelSpec:
    """Load a model specification.

    Parameters
    ----------
    name_or_path : str, path-like or ModelSpec
        A bundled name (``"fig1"``), a ``.toml`` metadata file, or a bare
        ``.lav`` syntax file (constructs from its ``=~`` lines with role
        ``"factor"``, paths from its ``~`` lines with sign ``"?"``, no population
        values). A :class:`ModelSpec` is returned unchanged.

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        Unknown name (the message lists the available specs), missing file, bad
        TOML (the message names the file and the problem), or metadata that
        contradict the syntax.
    SyntaxModelError
        If the lavaan syntax cannot be read.

    Examples
    --------
    >>> from asymtrust.library.specs import load_spec
    >>> spec = load_spec("fig1_moderated")
    >>> spec.interactions
    {'CapxPow': ('CapImb', 'PowDist')}
    """
    if isinstance(name_or_path, ModelSpec):
        return name_or_path
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise SpecError(f"a model spec is a name or a file path, got {type(name_or_path).__name__}")
    text = os.fspath(name_or_path)
    path = Path(text)
    is_name = path.suffix == "" and path.name == text and not path.exists()
    if is_name:
        file = specs_dir() / f"{text}.toml"
        if not file.is_file():
            raise SpecError(f"unknown model spec {text!r}; available: {', '.join(list_specs())}")
        return _load_toml(file)
    if not path.exists() and path.name == text and (specs_dir() / text).is_file():
        path = specs_dir() / text
    if not path.is_file():
        raise SpecError(f"model spec file {path} does not exist")
    if path.suffix.lower() == ".toml":
        return _load_toml(path)
    if path.suffix.lower() == ".lav":
        return _load_lav(path)
    raise SpecError(f"model spec file {path} must end in .toml or .lav")


def _read_text(path: Path) -> str:
    """A spec or model file as text; a UTF-8 byte-order mark is dropped (as R's and lavaan's readers do)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _leading_comment(syntax: str) -> str:
    out = []
    for line in syntax.splitlines():
        s = line.strip()
        if not s.startswith("#"):
            break
        out.append(s.lstrip("#").strip())
    return "\n".join(out).strip()


def _load_lav(path: Path) -> ModelSpec:
    from ..exceptions import SyntaxModelError
    from .syntax import PENDING_FORMS, parse_syntax

    syntax = _read_text(path)
    try:
        constructs, regressions, measurement = parse_structure(syntax, where=path.name)
        light_error = None
    except SyntaxModelError as exc:
        if "no lavaan operator" in str(exc):  # a stray line: this reader names it best
            raise
        light_error = exc
    try:  # the full parser names the line and the problem more precisely
        parse_syntax(syntax, accept=PENDING_FORMS)  # every form the parameter table builds
    except SpecError as exc:
        msg = str(exc)
        raise type(exc)(f"{path.name} {msg}" if msg.startswith("line ") else f"{path.name}: {msg}") from exc
    if light_error is not None:
        raise light_error
    if not constructs and not regressions and "<~" not in syntax:
        raise SpecError(f"{path}: no '=~' or '~' statement found")
    return ModelSpec(
        name=path.stem,
        title=path.stem,
        kind="theory" if regressions else "measurement",
        syntax=syntax,
        constructs=constructs,
        labels={k: k for k in constructs},
        roles={k: "factor" for k in constructs},
        paths=tuple(PathMeta(lhs, rhs, "?", "", "", "") for lhs, rhs in regressions),
        population={},
        interactions={},
        description=_leading_comment(syntax),
        source=path,
        _measurement=tuple(measurement),
        _regressions=tuple(regressions),
    )


def _req_str(meta: dict[str, Any], key: str, file: Path, where: str = "") -> str:
    if key not in meta:
        raise SpecError(f"{file}: {where}missing key {key!r}")
    val = meta[key]
    if not isinstance(val, str) or (key != "description" and not val.strip()):
        raise SpecError(f"{file}: {where}{key!r} must be a non-empty string, got {_short(repr(val))}")
    return val


def _spec_path(file: Path, key: str, value: str, *, suffix: str) -> Path:
    """The file a spec's ``key`` names, confined to the spec's own folder (or below).

    ``value`` must be a relative path ending in ``suffix`` that stays inside the folder of ``file``
    once symlinks are resolved: absolute paths, ``..`` escapes and symlinks leading out are refused,
    before anything is read (nothing of a file outside the folder can reach a message). Every path a
    spec names goes through here.

    Raises
    ------
    SpecError
        Naming ``file``, ``key`` and ``value``.
    """
    shown = _short(value)
    where = f"{file}: {key} {shown!r}"
    pure = PurePosixPath(value.replace("\\", "/"))
    if "\x00" in value:
        raise SpecError(f"{where} contains a NUL character")
    if pure.is_absolute() or PureWindowsPath(value).anchor or value.startswith("~"):
        raise SpecError(f"{where} must be a path relative to the spec's folder, not an absolute path")
    base = file.parent.resolve()
    try:
        target = (base / value).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, name too long
        raise SpecError(f"{where} cannot be resolved ({type(exc).__name__})") from None
    if not target.is_relative_to(base):
        how = "leads out of" if ".." in pure.parts else "resolves (through a symlink) to a file outside"
        raise SpecError(f"{where} {how} the spec's folder {base}; put the file in that folder or below")
    if PurePosixPath(pure.name).suffix.lower() != suffix:
        raise SpecError(f"{where} must name a {suffix} file")
    if target.suffix.lower() != suffix:
        raise SpecError(f"{where} resolves to {_short(target.name)!r}, not a {suffix} file")
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        raise SpecError(f"{where} does not exist in the spec's folder {base}") from None
    except OSError as exc:  # a name too long, a permission problem
        raise SpecError(f"{where} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(mode):
        raise SpecError(f"{where} is not a regular file")
    return target


def _load_toml(file: Path) -> ModelSpec:
    raw = _read_text(file)
    try:
        meta = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{file}: invalid TOML: {exc}") from exc
    name = _req_str(meta, "name", file)
    title = _req_str(meta, "title", file)
    kind = _req_str(meta, "kind", file)
    if kind not in KINDS:
        raise SpecError(f"{file}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    description = str(meta.get("description", "")).strip()
    syntax_file = _spec_path(file, "syntax_file", _req_str(meta, "syntax_file", file), suffix=".lav")
    syntax = _read_text(syntax_file)
    constructs, regressions, measurement = parse_structure(syntax, where=syntax_file.name)

    # constructs: the syntax is authoritative; the TOML adds label and role and must agree on items
    tcons = meta.get("constructs", {})
    if not isinstance(tcons, dict):
        raise SpecError(f"{file}: [constructs] must be a table")
    labels: dict[str, str] = {}
    roles: dict[str, str] = {}
    for lv, info in tcons.items():
        where = f"[constructs.{lv}] "
        if lv not in constructs:
            raise SpecError(f"{file}: {where}is not a latent ('=~') of {syntax_file.name}")
        if not isinstance(info, dict):
            raise SpecError(f"{file}: {where}must be a table")
        labels[lv] = _req_str(info, "label", file, where)
        role = _req_str(info, "role", file, where)
        if role not in ROLES:
            raise SpecError(f"{file}: {where}role must be one of {', '.join(ROLES)}, got {role!r}")
        roles[lv] = role
        if "items" in info and list(info["items"]) != constructs[lv]:
            raise SpecError(f"{file}: {where}items {info['items']} differ from {syntax_file.name} "
                            f"({' + '.join(constructs[lv])})")
    for lv in constructs:
        labels.setdefault(lv, lv)
        roles.setdefault(lv, "factor")

    # paths
    tpaths = meta.get("paths", [])
    if not isinstance(tpaths, list):
        raise SpecError(f"{file}: paths must be an array of tables ([[paths]])")
    paths: list[PathMeta] = []
    for i, p in enumerate(tpaths, start=1):
        where = f"[[paths]] #{i} "
        if not isinstance(p, dict):
            raise SpecError(f"{file}: {where}must be a table")
        vals = {k: _req_str(p, k, file, where) for k in ("lhs", "rhs", "sign", "section", "quote", "seed")}
        if (vals["lhs"], vals["rhs"]) not in regressions:
            raise SpecError(f"{file}: {where}{vals['lhs']} ~ {vals['rhs']} is not a regression of {syntax_file.name}")
        if vals["sign"] not in SIGNS:
            raise SpecError(f"{file}: {where}sign must be '+', '-' or '?', got {vals['sign']!r}")
        if vals["seed"] not in SEEDS:
            raise SpecError(f"{file}: {where}seed must be one of {', '.join(SEEDS)}, got {vals['seed']!r}")
        paths.append(PathMeta(**vals))

    # interactions
    tint = meta.get("interactions", {})
    if not isinstance(tint, dict):
        raise SpecError(f"{file}: [interactions] must be a table")
    interactions: dict[str, tuple[str, str]] = {}
    for lv, pair in tint.items():
        if lv not in constructs:
            raise SpecError(f"{file}: [interactions] {lv} is not a latent of {syntax_file.name}")
        if not isinstance(pair, list) or len(pair) != 2 or any(x not in constructs for x in pair):
            raise SpecError(f"{file}: [interactions] {lv} must name two latents of {syntax_file.name}, got {pair!r}")
        interactions[lv] = (pair[0], pair[1])

    population = meta.get("population", {})
    if not isinstance(population, dict):
        raise SpecError(f"{file}: [population] must be a table")
    _check_population(population, constructs, regressions, interactions, file)

    return ModelSpec(
        name=name, title=title, kind=kind, syntax=syntax, constructs=constructs, labels=labels, roles=roles,
        paths=tuple(paths), population=population, interactions=interactions, description=description,
        source=file, dyadic=_check_dyadic(meta.get("dyadic", {}), constructs, file),
        _measurement=tuple(measurement), _regressions=tuple(regressions),
    )


def _check_dyadic(dy: Any, constructs: dict[str, list[str]], file: Path) -> dict[str, Any]:
    """``[dyadic]``: ``dyad`` and ``side`` column names and two ``sides``; every indicator
    of the syntax must end in ``_<side>`` of one of them."""
    if not isinstance(dy, dict):
        raise SpecError(f"{file}: [dyadic] must be a table")
    if not dy:
        return {}
    unknown = [k for k in dy if k not in ("dyad", "side", "sides")]
    if unknown:
        raise SpecError(f"{file}: [dyadic] has unknown key(s) {', '.join(unknown)}; allowed: dyad, side, sides")
    out = {k: _req_str(dy, k, file, "[dyadic] ") for k in ("dyad", "side")}
    sides = dy.get("sides")
    if (not isinstance(sides, list) or len(sides) != 2 or not all(isinstance(s, str) and s for s in sides)
            or sides[0] == sides[1]):
        raise SpecError(f"{file}: [dyadic] sides must name two different side labels, got {_short(repr(sides))}")
    out["sides"] = tuple(sides)
    for lv, inds in constructs.items():
        for ind in inds:
            if ind not in constructs and not any(ind.endswith(f"_{s}") for s in sides):
                raise SpecError(f"{file}: [dyadic] indicator {ind!r} of {lv} does not end in _{sides[0]} or "
                                f"_{sides[1]}")
    return out


def _num(val: Any, file: Path, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
        raise SpecError(f"{file}: {where} must be a number, got {val!r}")
    if not lo < float(val) < hi:
        raise SpecError(f"{file}: {where} = {val} is outside ({lo}, {hi})")
    return float(val)


def _check_pairs(table: Any, latents: set[str], file: Path, where: str, bound: float) -> None:
    if not isinstance(table, dict):
        raise SpecError(f"{file}: [{where}] must be a table")
    for a, sub in table.items():
        if not isinstance(sub, dict):
            raise SpecError(f"{file}: [{where}.{a}] must be a table")
        for b, v in sub.items():
            for lv in (a, b):
                if lv not in latents:
                    raise SpecError(f"{file}: [{where}.{a}] {b}: {lv!r} is not a latent of the syntax")
            if a == b:
                raise SpecError(f"{file}: [{where}.{a}] {b}: a correlation needs two different latents")
            _num(v, file, f"[{where}.{a}] {b}", -bound, bound)


def _check_population(pop: dict[str, Any], constructs: dict[str, list[str]], regressions: list[tuple[str, str]],
                      interactions: dict[str, tuple[str, str]], file: Path) -> None:
    """Shallow checks of [population] at load time; simulate() checks the algebra."""
    if not pop:
        return
    unknown = [k for k in pop if k not in _POP_KEYS]
    if unknown:
        raise SpecError(f"{file}: [population] has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_POP_KEYS)}")
    latents = set(constructs)
    products = {i for lv in interactions for i in constructs.get(lv, [])}
    items = {i for inds in constructs.values() for i in inds if i not in latents}
    loadings = pop.get("loadings", {})
    if not isinstance(loadings, dict):
        raise SpecError(f"{file}: [population.loadings] must be a table")
    for item, v in loadings.items():
        if item not in items:
            raise SpecError(f"{file}: [population.loadings] {item!r} is not an indicator of the syntax")
        _num(v, file, f"[population.loadings] {item}", -1.0, 1.0)

    def check_paths(table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise SpecError(f"{file}: [{where}] must be a table")
        for lhs, sub in table.items():
            if not isinstance(sub, dict):
                raise SpecError(f"{file}: [{where}.{lhs}] must be a table")
            for rhs, v in sub.items():
                if (lhs, rhs) not in regressions:
                    raise SpecError(f"{file}: [{where}.{lhs}] {rhs}: {lhs} ~ {rhs} is not a regression of the syntax")
                _num(v, file, f"[{where}.{lhs}] {rhs}", -1.0, 1.0)

    def check_means(table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise SpecError(f"{file}: [{where}] must be a table")
        for lv, v in table.items():
            if lv not in latents:
                raise SpecError(f"{file}: [{where}] {lv!r} is not a latent of the syntax")
            _num(v, file, f"[{where}] {lv}", -5.0, 5.0)

    check_paths(pop.get("paths", {}), "population.paths")
    _check_pairs(pop.get("correlations", {}), latents, file, "population.correlations", 1.0)
    _check_pairs(pop.get("residual_correlations", {}), latents, file, "population.residual_correlations", 1.0)
    check_means(pop.get("means", {}), "population.means")
    ths = pop.get("thresholds", {})
    if not isinstance(ths, dict):
        raise SpecError(f"{file}: [population.thresholds] must be a table")
    for key, cuts in ths.items():
        if key != "default" and key not in latents and key not in items:
            raise SpecError(f"{file}: [population.thresholds] {key!r} is neither 'default', a latent nor an item")
        if not isinstance(cuts, list) or len(cuts) < 1:
            raise SpecError(f"{file}: [population.thresholds] {key} must be a list of numbers")
        vals = [_num(c, file, f"[population.thresholds] {key}") for c in cuts]
        if any(b <= a for a, b in zip(vals, vals[1:])):
            raise SpecError(f"{file}: [population.thresholds] {key} must be strictly increasing, got {vals}")
    groups = pop.get("groups", {})
    if not isinstance(groups, dict):
        raise SpecError(f"{file}: [population.groups] must be a table")
    for g, sub in groups.items():
        if g not in GROUP_LEVELS:
            raise SpecError(f"{file}: [population.groups] {g!r} is not a sector; allowed: {', '.join(GROUP_LEVELS)}")
        if not isinstance(sub, dict):
            raise SpecError(f"{file}: [population.groups.{g}] must be a table")
        bad = [k for k in sub if k not in _GROUP_KEYS]
        if bad:
            raise SpecError(f"{file}: [population.groups.{g}] has unknown key(s) {', '.join(bad)}; "
                            f"allowed: {', '.join(_GROUP_KEYS)}")
        check_paths(sub.get("paths", {}), f"population.groups.{g}.paths")
        _check_pairs(sub.get("correlations", {}), latents, file, f"population.groups.{g}.correlations", 1.0)
        _check_pairs(sub.get("residual_correlations", {}), latents, file,
                     f"population.groups.{g}.residual_correlations", 1.0)
        check_means(sub.get("means", {}), f"population.groups.{g}.means")
    missing = sorted(items - products - set(loadings))
    if missing:
        raise SpecError(f"{file}: [population.loadings] lacks {', '.join(missing)}")


# --------------------------------------------------------------------------- describe
def _fmt(v: float) -> str:
    return f"{v:+.2f}"


def describe_spec(spec: ModelSpec | str) -> str:
    """Human-readable description of a spec (what ``asymtrust specs NAME`` prints).

    Title and kind, description, constructs with their items (reverse-keyed items
    marked ``(R)``), structural paths with expected sign and seed passage, and the
    population values (loadings, paths with per-sector overrides, correlations,
    latent mean shifts).

    Examples
    --------
    >>> from asymtrust.library.specs import describe_spec
    >>> text = describe_spec("fig1")
    >>> "GoodTrust ~ CapImb" in text and "council" in text
    True
    """
    spec = load_spec(spec)
    try:
        from .codebook import load_codebook, reverse_items

        rev = set(reverse_items(load_codebook()))
    except Exception:  # the description must not fail on a broken codebook
        rev = set()
    lines = [f"{spec.name}: {spec.title}", f"kind: {spec.kind}"]
    if spec.source is not None:
        lines.append(f"file: {spec.source}")
    if spec.description:
        lines += ["", *spec.description.splitlines()]
    width = max((len(k) for k in spec.constructs), default=0)
    lines += ["", "Constructs"]
    for lv, inds in spec.constructs.items():
        shown = " ".join(f"{i}(R)" if i in rev else i for i in inds)
        lines.append(f"  {lv:<{width}}  [{spec.roles[lv]}] {spec.labels[lv]}: {shown}")
    if spec.interactions:
        lines += ["", "Latent interactions"]
        for lv, (a, b) in spec.interactions.items():
            lines.append(f"  {lv} = {a} x {b} (double-mean-centred matched product indicators)")
    pop = spec.population
    pop_paths = pop.get("paths", {})
    groups = pop.get("groups", {})
    if spec.paths:
        lines += ["", "Structural paths (expected sign; population value; seed passage)"]
        for p in spec.paths:
            val = pop_paths.get(p.lhs, {}).get(p.rhs)
            shown = "" if val is None else f" {_fmt(val)}"
            over = [f"{g} {_fmt(sub['paths'][p.lhs][p.rhs])}" for g, sub in groups.items()
                    if p.rhs in sub.get("paths", {}).get(p.lhs, {})]
            if over:
                shown += f" ({', '.join(over)})"
            lines.append(f"  {p.lhs} ~ {p.rhs}  [{p.sign}]{shown}")
            if p.quote:
                lines.append(f"      {p.seed}, {p.section}: \"{p.quote}\"")
    if pop:
        lines += ["", "Population values (standardized; used by asymtrust.simulate)"]
        if pop.get("note"):
            lines.append(f"  note: {pop['note']}")
        if pop.get("loadings"):
            lines.append("  loadings: " + ", ".join(f"{k} {v:.2f}" for k, v in pop["loadings"].items()))
        for key, title in (("correlations", "latent correlations"),
                           ("residual_correlations", "residual correlations")):
            pairs = [f"{a}~~{b} {_fmt(v)}" for a, sub in pop.get(key, {}).items() for b, v in sub.items()]
            if pairs:
                lines.append(f"  {title}: " + ", ".join(pairs))
        for g, sub in groups.items():
            means = sub.get("means", {})
            if means:
                lines.append(f"  {g} latent mean shifts: " + ", ".join(f"{k} {_fmt(v)}" for k, v in means.items()))
        ths = pop.get("thresholds", {})
        if ths:
            lines.append("  thresholds: " + "; ".join(f"{k} [{', '.join(f'{c:.2f}' for c in v)}]"
                                                      for k, v in ths.items()))
    used = sorted({p.seed for p in spec.paths if p.seed in SEEDS})
    if used:
        lines += ["", "Sources"] + [f"  {s}: {SEEDS[s][1]}" for s in used]
    return "\n".join(lines) + "\n"
