"""The package's layers hold (docs/ARCHITECTURE.md, "Layers"), read from the import statements (``ast``), so a
new import cycle or an import against the direction of the layers fails the suite.

Every ``import`` counts, also one inside a function: a lazy import hides a cycle from the interpreter, not from the
design. The data scripts count as ``monai_segloss.data_scripts`` (the name the wheel gives them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = {
    "monai_segloss": REPO / "monai_segloss",
    "monai_segloss.data_scripts": REPO / "data_scripts",
    "monai_segloss.bundles": REPO / "bundles",
}


def _modules() -> dict[str, Path]:
    """Module name -> file, for every module of the package (``pkg`` for ``pkg/__init__.py``)."""
    out = {}
    for prefix, root in SOURCES.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([prefix, *parts])] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package modules that ``name`` imports (package ``__init__`` modules only where named explicitly)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    ancestors = {name.rsplit(".", i)[0] for i in range(name.count(".") + 1)}  # imported before `name` anyway
    return {m for m in found if m in MODULES and m not in ancestors}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    """``core``, ``functional``, …: the first folder below ``monai_segloss`` (``""`` for the top level)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations(src_layers: set[str], forbidden: set[str]) -> list[str]:
    return sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if _layer(m) in src_layers
        for t in targets
        if _layer(t) in forbidden
    )


def test_the_graph_is_read():
    """The reader resolves relative imports: a few edges that must be there (a broken reader passes every rule)."""
    assert "monai_segloss.core.checks" in GRAPH["monai_segloss.core.options"]
    assert "monai_segloss.functional.region" in GRAPH["monai_segloss.losses.region"]
    assert "monai_segloss.losses" in GRAPH["monai_segloss"]
    assert "monai_segloss.data_scripts._io" in GRAPH["monai_segloss.data_scripts._layout"]
    assert len(MODULES) > 40


@pytest.mark.parametrize(
    "layer,forbidden",
    [
        ("core", {"functional", "losses", "geometry", "training", "evaluation", "app", "data_scripts"}),
        ("functional", {"losses", "training", "evaluation", "app", "data_scripts"}),
        ("geometry", {"functional", "losses", "training", "evaluation", "app", "data_scripts"}),
        ("losses", {"evaluation", "app", "data_scripts"}),  # and of training/, the weight schedules only (below)
        ("evaluation", {"functional", "losses", "training", "app", "data_scripts"}),
        ("training", {"app", "data_scripts"}),
        ("data_scripts", {"core", "functional", "losses", "training", "evaluation", "app"}),
    ],
)
def test_layers_import_downwards_only(layer, forbidden):
    """core knows no loss; the formula layer (functional/) imports no module class; nothing but the application
    imports the application; the data scripts use geometry support only."""
    assert _violations({layer}, forbidden) == []


def test_losses_use_only_the_schedules_of_training():
    """A compound loss weights its terms by a schedule (``training/schedules.py``, which imports nothing of the
    package); the rest of training/ (handlers, deep supervision, checkpoints) sits above the losses."""
    assert _violations({"losses"}, {"training"}) == [
        "monai_segloss.losses.compound imports monai_segloss.training.schedules"
    ]
    assert GRAPH["monai_segloss.training.schedules"] == set()


def test_only_the_application_imports_it():
    others = {_layer(m) for m in MODULES} - {"app"}
    assert _violations(others, {"app"}) == []


def test_no_import_cycle():
    """No strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []
