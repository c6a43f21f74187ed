"""The package's layers: each part imports only the parts below it, and no import cycle exists.

The layout is the pipeline (README, "Development"): files become records (ingest), text becomes vectors (model),
records and vectors go to disk (storage), the read side searches what is on disk (search), the write side keeps it
current (index), and evaluation, the web layer and the CLI sit on top. Lazy imports inside functions count too:
a layer violation hidden in a function is still one.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "semsearch"

# Lower numbers are lower layers; a module may import its own part and any lower layer, never a higher one or a
# sibling of the same rank.
LAYERS = {
    "errors": 0,
    "files": 0,
    "keys": 0,
    "progress": 0,
    "ingest": 1,
    "model": 1,
    "storage": 2,
    "search": 3,
    "index": 4,
    "citations": 1,
    "evaluation": 5,
    "feed": 5,
    "web": 6,
    "mcp": 6,
    "cli": 7,
    "__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every semsearch module a file imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("semsearch"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("semsearch"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE.parent / candidate.replace(".", "/") / "__init__.py"
                ).exists()
                found.add(candidate if is_module else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in PACKAGE.rglob("*.py")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "semsearch"


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(module) for module in _graph()} - {"semsearch"}
    assert parts <= LAYERS.keys(), f"give these parts a layer: {sorted(parts - LAYERS.keys())}"


def test_no_part_imports_a_higher_or_sibling_layer():
    violations = []
    for module, imported in sorted(_graph().items()):
        own = _part(module)
        for target in sorted(imported):
            other = _part(target)
            if other in (own, "semsearch"):
                continue
            if LAYERS[other] >= LAYERS.get(own, 99):
                violations.append(f"{module} -> {target}")
    assert violations == []


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target not in graph or target == module:
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
