"""The package's floors: every import points down, no module imports itself round a cycle, no
module is over :data:`MAX_LINES` lines.

Floors, top to bottom::

    evals -> agent -> tools -> training / metrics / data -> knowledge -> ground

ground is the top-level modules ``mereo/*.py`` plus ``mereo/prompts`` and ``mereo/checkpoints``
(data with a small loader). Every import counts: absolute and relative, at module level, under
``if TYPE_CHECKING`` and inside functions. Two more rules:

- a runtime module of ``tools/<family>/`` never imports any ``tools/<family>/training/`` module
  (training code is never loaded when the agent runs);
- the one allowed upward import is the public API of ``mereo/__init__.py``: its ``__getattr__``,
  ``list_backends`` and ``TYPE_CHECKING`` block import the agent lazily (:data:`ALLOWED`).

``mereo/cli.py`` dispatches to the command modules by name (``"module:function"`` strings, see
``COMMANDS``), so it imports none of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "mereo"

#: Floor of each top-level subpackage; anything else under mereo/ is ground (0).
FLOORS = {
    "knowledge": 1,
    "data": 2,
    "metrics": 2,
    "training": 2,
    "tools": 3,
    "agent": 4,
    "evals": 5,
}
FLOOR_NAMES = {0: "ground", 1: "knowledge", 2: "training/metrics/data", 3: "tools", 4: "agent", 5: "evals"}

#: (importing module, enclosing function or block) -> the modules it may import although higher.
ALLOWED = {
    ("mereo", "__getattr__"): {"mereo.agent.agent", "mereo.agent.answer"},
    ("mereo", "list_backends"): {"mereo.agent.toolset"},
    ("mereo", "TYPE_CHECKING"): {"mereo.agent.agent", "mereo.agent.answer"},
}

#: Most lines a module may have.
MAX_LINES = 450
#: Data tables (shape templates, word lists) that may be longer.
LONG_DATA = ("mereo/data/synthparts/templates/",)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS.get(parts[1], 0) if len(parts) > 1 else 0


def is_training(module: str) -> bool:
    parts = module.split(".")
    return len(parts) > 3 and parts[1] == "tools" and parts[3] == "training"


def _resolve(base: str, name: str | None) -> str:
    """The module ``from base import name`` loads: ``base.name`` when that is a module."""
    if name and f"{base}.{name}" in MODULES:
        return f"{base}.{name}"
    return base


class _Imports(ast.NodeVisitor):
    """Collects ``(imported module, enclosing function or TYPE_CHECKING, line)``."""

    def __init__(self, module: str, is_package: bool):
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.scope: list[str] = []
        self.found: list[tuple[str, str, int]] = []

    def _add(self, target: str, line: int) -> None:
        if target == "mereo" or target.startswith("mereo."):
            self.found.append((target, self.scope[-1] if self.scope else "", line))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            self.scope.append("TYPE_CHECKING")
            for child in node.body:
                self.visit(child)
            self.scope.pop()
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            self._add(_resolve(base, alias.name), node.lineno)


def imports_of(module: str) -> list[tuple[str, str, int]]:
    path = MODULES[module]
    visitor = _Imports(module, path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return visitor.found


ALL_IMPORTS = {m: imports_of(m) for m in MODULES}


def test_the_scan_sees_every_kind_of_import():
    """The scanner finds relative, lazy and TYPE_CHECKING imports (checked on a known sample)."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import cache\n"
        "from .tools import base\n"
        "if TYPE_CHECKING:\n"
        "    from mereo.agent.agent import PartAgent\n"
        "def f():\n"
        "    import mereo.evals.runner\n"
    )
    visitor = _Imports("mereo.example", is_package=False)
    visitor.visit(ast.parse(source))
    assert [(t, s) for t, s, _ in visitor.found] == [
        ("mereo.cache", ""),
        ("mereo.tools.base", ""),
        ("mereo.agent.agent", "TYPE_CHECKING"),
        ("mereo.evals.runner", "f"),
    ]


def test_every_import_points_down_a_floor():
    upward = []
    for module, found in ALL_IMPORTS.items():
        for target, scope, line in found:
            if floor(target) <= floor(module):
                continue
            if target in ALLOWED.get((module, scope), set()):
                continue
            upward.append(
                f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} ({FLOOR_NAMES[floor(module)]}) "
                f"imports {target} ({FLOOR_NAMES[floor(target)]})"
            )
    assert not upward, "imports that point up a floor:\n" + "\n".join(upward)


def test_allowed_exceptions_are_still_used():
    """Each ALLOWED entry names an import that exists (a stale exception would hide nothing)."""
    seen = {(m, s, t) for m, found in ALL_IMPORTS.items() for t, s, _ in found}
    stale = [(m, s, t) for (m, s), targets in ALLOWED.items() for t in targets if (m, s, t) not in seen]
    assert not stale


def test_runtime_tools_never_import_training_code():
    bad = [
        f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {t}"
        for m, found in ALL_IMPORTS.items()
        if floor(m) == FLOORS["tools"] and not is_training(m)
        for t, _, line in found
        if is_training(t)
    ]
    assert not bad, "runtime tool modules that import training code:\n" + "\n".join(bad)


def test_no_import_cycles():
    """No module reaches itself through imports (lazy and TYPE_CHECKING imports included).

    A package's ``__init__`` re-exporting its submodules is not a cycle unless a submodule imports
    the package itself back.
    """
    graph = nx.DiGraph()
    for module, found in ALL_IMPORTS.items():
        for target, _, _ in found:
            if target in MODULES and target != module:
                graph.add_edge(module, target)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_modules_are_short():
    long = []
    for path in MODULES.values():
        rel = path.relative_to(PACKAGE.parent).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and not rel.startswith(LONG_DATA):
            long.append(f"{rel}: {lines} lines")
    assert not long, f"modules over {MAX_LINES} lines (split them by concern):\n" + "\n".join(long)
