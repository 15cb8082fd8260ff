"""The package's layers (issue 13): imports run one way, and there are no import cycles.

Every ``import`` statement of every module counts, including the ones inside
functions (imported lazily for start-up speed): a lazy import is still a dependency.

Layers, bottom to top (a module may import its own layer and the layers below)::

    0  ground     exceptions, outputs, _json, _paths, _resources, _version, _semopy
    1  library    asymtrust/library/   what a model is: syntax, parameter table, specs, codebook
    2  survey     asymtrust/survey/    data in: read, moments, validation, datasets, simulate
    3  engine     asymtrust/engine/    estimation: model ... fit, results, resampling
    4  analysis   asymtrust/analysis/  reliability, effects, moderation, invariance, compare, power
    5  top        asymtrust/reporting/, cli, __main__

The package root (``asymtrust/__init__.py``) re-exports the public API lazily; no module
may import it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "asymtrust"

GROUND = {"exceptions", "outputs", "_json", "_paths", "_resources", "_version", "_semopy"}
RANK = {"library": 1, "survey": 2, "engine": 3, "analysis": 4, "reporting": 5, "cli": 5, "__main__": 5}
NAMES = {0: "ground", 1: "library", 2: "survey", 3: "engine", 4: "analysis", 5: "reporting/cli"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["asymtrust", *parts])


def rank(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the package root
    head = parts[1]
    if head in GROUND:
        return 0
    return RANK.get(head)


def imports(path: Path) -> set[str]:
    """Every asymtrust module ``path`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "asymtrust"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "asymtrust":
                continue
            for alias in node.names:  # `from .engine import fit`: fit may be a module
                sub = f"{target}.{alias.name}"
                if (PKG.parent / (sub.replace(".", "/") + ".py")).exists() or (
                        PKG.parent / sub.replace(".", "/") / "__init__.py").exists():
                    found.add(sub)
                else:
                    found.add(target)
    found.discard(me)
    return found


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}
GRAPH = {m: {t for t in imports(p) if t in MODULES} for m, p in MODULES.items()}


def test_every_module_belongs_to_a_layer():
    unplaced = [m for m in MODULES if m != "asymtrust" and rank(m) is None]
    assert unplaced == [], f"modules outside every layer: {unplaced} (add them to a layer folder)"


def test_imports_never_run_upward():
    upward = []
    for m, targets in GRAPH.items():
        if m == "asymtrust":
            continue  # the root re-exports the API
        for t in targets:
            if t == "asymtrust":
                upward.append(f"{m} imports the package root (use the module that defines the name)")
            elif rank(t) > rank(m):
                upward.append(f"{m} ({NAMES[rank(m)]}) imports {t} ({NAMES[rank(t)]})")
    assert upward == [], "\n".join(sorted(upward))


def test_there_are_no_import_cycles():
    # Tarjan's strongly connected components over the whole import graph
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == [], f"import cycles: {cycles}"


@pytest.mark.parametrize("layer", ["library", "survey", "engine", "analysis", "reporting"])
def test_each_layer_says_what_belongs_there(layer):
    doc = ast.get_docstring(ast.parse((PKG / layer / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc) > 80, f"asymtrust/{layer}/__init__.py needs a docstring saying what belongs there"


def test_the_checker_sees_upward_and_cyclic_imports(tmp_path):
    """The two rules above catch what they claim to (a guard against a checker that sees nothing)."""
    assert rank("asymtrust.engine.fit") == 3 and rank("asymtrust.analysis.power") == 4
    assert "asymtrust.engine.fit" in GRAPH["asymtrust.analysis.effects"] or any(
        t.startswith("asymtrust.engine") for t in GRAPH["asymtrust.analysis.effects"])
    assert "asymtrust.library.syntax" in GRAPH["asymtrust.library.partable"]
    # lazy imports inside functions count
    assert any(t.startswith("asymtrust.analysis") for t in GRAPH["asymtrust.cli"])


# ----------------------------------------------------------------------------- small rooms
#: the largest function the engine (and the parameter-table builder) may hold, in lines of
#: code: the body without its docstring (issue 13: "no function over about 80 lines")
MAX_FUNCTION_LINES = 80


def _long_functions(paths) -> list[str]:
    out = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]
            if not body:
                continue
            lines = body[-1].end_lineno - body[0].lineno + 1
            if lines > MAX_FUNCTION_LINES:
                out.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return out


def test_engine_functions_are_small():
    paths = sorted((PKG / "engine").rglob("*.py")) + sorted((PKG / "library").glob("partable*.py")) + sorted(
        (PKG / "library").rglob("partable/*.py"))
    assert _long_functions(paths) == []
