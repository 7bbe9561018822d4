"""The layers of docs/architecture.md, checked: every import in zoo/ and tasks/ (at module level or in a
function) goes down the layers or stays in its own, never up or across.

The rules are read from the source with `ast`, so nothing is imported to check them. A module's layer
comes from its name (`layer_of`); a module that no rule names falls in its package's default layer, so a
new module is checked the day it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ZOO_UTILS = ("zoo.atomic", "zoo.allocator", "zoo.constants", "zoo.measure")
ZOO_TOP = ("zoo.factory", "zoo.summary")
ZOO = {"zoo.utils", "zoo.registry", "zoo.blocks", "zoo.models", "zoo.heads", "zoo.weights", "zoo"}
TASKS_BELOW_TOP = ZOO | {"tasks.data", "tasks"}
MAY_IMPORT = {
    "zoo.utils": {"zoo.utils"},
    "zoo.registry": {"zoo.utils", "zoo.registry"},
    "zoo.blocks": {"zoo.utils", "zoo.blocks"},
    "zoo.models": {"zoo.utils", "zoo.registry", "zoo.blocks", "zoo.models"},
    "zoo.heads": {"zoo.utils", "zoo.blocks", "zoo.models", "zoo.heads"},
    "zoo.weights": {"zoo.utils", "zoo.weights"},
    "zoo": ZOO,  # the factory, the model table and the package's own API: all of zoo
    "tasks.data": ZOO | {"tasks.data"},
    "tasks": ZOO | {"tasks.data", "tasks"},  # the tasks, metrics, callbacks...: zoo and the data layer
    "tasks.bench": TASKS_BELOW_TOP | {"tasks.bench"},
    "tasks.analyze": TASKS_BELOW_TOP | {"tasks.analyze"},
    "tasks.cli": TASKS_BELOW_TOP | {"tasks.bench", "tasks.analyze", "tasks.cli"},
}
"""Layer -> the layers its modules may import. Third-party imports are not checked."""


def layer_of(module: str) -> str | None:
    """The layer of a module of this project (None for other packages)."""
    if module in ZOO_UTILS:
        return "zoo.utils"
    if module in ZOO_TOP:
        return "zoo"
    for layer in ("zoo.registry", "zoo.blocks", "zoo.models", "zoo.heads", "zoo.weights", "tasks.data"):
        if module == layer or module.startswith(layer + "."):
            return layer
    for layer in ("tasks.bench", "tasks.analyze", "tasks.cli"):
        if module == layer or module.startswith(layer + "."):
            return layer
    if module == "tasks.configs":
        return "tasks.data"  # data files only
    return module.split(".")[0] if module.split(".")[0] in ("zoo", "tasks") else None


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, is_package: bool, tree: ast.AST, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every project module imported in ``tree``, relative imports resolved; for
    ``from a import b``, ``a.b`` when that is a module, else ``a``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            modules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            found += [(node.lineno, target) for target in modules or [base]]
    return found


def violations(sources: dict[Path, str]) -> list[str]:
    """Every import in ``sources`` (path -> code) that goes up or across the layers, as
    ``file:line: <module> (<layer>) imports <module> (<layer>)``."""
    known = {module_name(path) for path in sources}
    problems = []
    for path, code in sorted(sources.items()):
        module = module_name(path)
        layer = layer_of(module)
        for line, target in imported(module, path.name == "__init__.py", ast.parse(code), known):
            target_layer = layer_of(target)
            if target_layer is not None and target_layer not in MAY_IMPORT[layer]:
                problems.append(
                    f"{path.relative_to(REPO)}:{line}: {module} ({layer}) imports {target} ({target_layer})"
                )
    return problems


def project_sources() -> dict[Path, str]:
    return {path: path.read_text() for folder in ("zoo", "tasks") for path in sorted((REPO / folder).rglob("*.py"))}


def test_every_import_goes_down_the_layers() -> None:
    assert violations(project_sources()) == []


def test_an_import_up_or_across_the_layers_is_caught() -> None:
    sources = project_sources()
    blocks, data = REPO / "zoo/blocks/layers.py", REPO / "tasks/data/modules.py"
    sources[blocks] += "\n\ndef _up():\n    from zoo.registry import get_spec\n"  # blocks know no registry
    sources[data] += "\nfrom tasks.metrics import PCK\n"  # the data layer imports no other part of tasks
    sources[REPO / "tasks/bench/cell.py"] += "\nfrom ..analyze import common\n"  # across: bench and analyze
    assert [p.split(": ", 1)[1] for p in violations(sources)] == [
        "tasks.bench.cell (tasks.bench) imports tasks.analyze.common (tasks.analyze)",
        "tasks.data.modules (tasks.data) imports tasks.metrics (tasks)",
        "zoo.blocks.layers (zoo.blocks) imports zoo.registry (zoo.registry)",
    ]
