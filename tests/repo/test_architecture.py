"""The layout shows the architecture (docs/design.md, 2. Layout and dependencies; issue 29): no import cycle, no upward import.

Pure ``ast`` over the sources of ``app.py``, ``pages/``, ``ui/`` and ``core/``; nothing of the project
is imported. Every import statement counts, also one inside a function: it runs when the function
does, and a cycle that only closes at call time still ties the modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable, Mapping

import pytest

REPO = Path(__file__).resolve().parents[2]

# Layers of the project and what each may import besides itself (docs/design.md, 2. Layout and dependencies). A module
# belongs to the longest key that is its name or one of its packages; app.py and pages/ are "app".
# Higher imports lower: the dashboard, its Streamlit helpers, the demo (above both halves), the two
# halves (never each other), what both halves share (training), run folders and jobs (used by
# training and the halves, so they import no half), then the leaves.
LAYERS: dict[str, tuple[str, ...]] = {
    "app": ("ui", "core"),
    "ui": ("core",),
    "core.__main__": ("core.runs",),  # reaches the halves' CLIs and the report by importlib and a name, on demand
    "core.demo": ("core.hydro", "core.rain", "core.runs"),  # the demo's runs are found by their folder names
    "core.report": ("core.viz", "core.hydro", "core.rain", "core.runs", "core.data", "core.metrics", "core.machine",
                    "core.atomic_io"),  # one run's figures, scores and settings in one HTML file
    "core.viz": ("core.data", "core.metrics"),
    "core.hydro": ("core.training", "core.runs", "core.data", "core.metrics", "core.machine", "core.atomic_io",
                   "core.registry"),
    "core.rain": ("core.training", "core.runs", "core.data", "core.metrics", "core.machine", "core.atomic_io",
                  "core.registry"),
    "core.training": ("core.runs", "core.data", "core.metrics", "core.machine", "core.atomic_io", "core.registry"),
    "core.runs": ("core.metrics", "core.machine", "core.atomic_io"),
    "core.data": ("core.atomic_io", "core.registry"),
    "core.metrics": (),
    "core.machine": (),
    "core.atomic_io": (),
    "core.registry": (),  # named choices: a leaf every layer that owns choices fills
    "core": ("core.machine",),  # core/__init__.py puts the thread policy in place before torch loads
}
"""Which layer may import which. ``core`` in an allowed list means every core layer."""

# Third-party names a layer must not import at all (top-level package names).
FORBIDDEN_PACKAGES: dict[str, tuple[str, ...]] = {
    "core": ("streamlit",),  # also covers every core.* layer
    "ui": ("yaml",),  # configs are parsed, checked and written by core, never by the dashboard
    "app": ("yaml",),
}


def _module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` of app.py, pages/, ui/ and core/ (packages by their __init__)."""
    files = {"app": REPO / "app.py"}
    for folder in ("pages", "ui", "core"):
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts).removesuffix(".__init__")
            files[name] = path
    return files


def _imports(name: str, path: Path, modules: set[str]) -> list[tuple[int, str, str]]:
    """``(line, imported module, statement as written)`` of every import in the file, project modules
    resolved to the most specific module that exists (``from core.runs import jobs`` -> core.runs.jobs),
    others left as written (``yaml``, ``streamlit.testing``)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = []

    def written(alias: ast.alias) -> str:
        return alias.name + (f" as {alias.asname}" if alias.asname else "")

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, f"import {written(alias)}"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            text = f"from {'.' * node.level}{node.module or ''} import {', '.join(written(a) for a in node.names)}"
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in modules else base, text))
    return found


def _graph() -> tuple[dict[str, Path], dict[str, dict[str, tuple[int, str]]]]:
    """The files, and ``{module: {project module it imports: (line, statement)}}``."""
    files = _module_files()
    names = set(files)
    graph: dict[str, dict[str, tuple[int, str]]] = {m: {} for m in files}
    for module, path in files.items():
        for line, target, text in _imports(module, path, names):
            if target in names and target != module:
                graph[module].setdefault(target, (line, text))
    return files, graph


def _cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (strongly connected
    components of more than one module; Tarjan's algorithm, iterative so deep chains cannot hit the
    recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return sorted(groups)


def _layer(module: str) -> str:
    """The layer of a module: ``app`` for app.py and pages/, else the longest ``LAYERS`` key that is
    the module or one of its packages."""
    if module == "app" or module.startswith("pages."):
        return "app"
    for key in sorted(LAYERS, key=len, reverse=True):
        # "core" is core/__init__.py alone: a new loose module in core/ must be given its layer
        if module == key or (key != "core" and module.startswith(key + ".")):
            return key
    raise AssertionError(f"module {module} belongs to no layer: add it to LAYERS in {Path(__file__).name}")


def _allowed(source: str, target: str) -> bool:
    if source == target:
        return True
    for allowed in LAYERS[source]:
        if allowed == "core" and target.startswith("core"):
            return True
        if target == allowed:
            return True
    return False


def _upward_imports(files: dict[str, Path], graph: dict[str, dict[str, tuple[int, str]]]) -> list[str]:
    problems = []
    for module, targets in graph.items():
        source = _layer(module)
        for target, (line, text) in sorted(targets.items()):
            layer = _layer(target)
            if not _allowed(source, layer):
                where = files[module].relative_to(REPO).as_posix()
                problems.append(f"{where}:{line}: {text!r} ({source} may not import {layer})")
    return problems


def _forbidden_packages(files: dict[str, Path]) -> list[str]:
    problems = []
    names = set(files)
    for module, path in files.items():
        layer = _layer(module)
        banned = {p for key, packages in FORBIDDEN_PACKAGES.items()
                  if layer == key or layer.startswith(key + ".") for p in packages}
        for line, target, text in _imports(module, path, names):
            if target.split(".")[0] in banned:
                problems.append(f"{path.relative_to(REPO).as_posix()}:{line}: {text!r} "
                                f"({layer} may not import {target.split('.')[0]})")
    return problems


def _describe(group: list[str], graph: dict[str, dict[str, tuple[int, str]]], files: dict[str, Path]) -> str:
    members = set(group)
    edges = [f"    {files[m].relative_to(REPO).as_posix()}:{line}: {text!r} -> {t}"
             for m in group for t, (line, text) in sorted(graph[m].items()) if t in members]
    return " <-> ".join(group) + "\n" + "\n".join(edges)


def test_no_import_cycle():
    files, graph = _graph()
    assert "core.runs.folder" in graph and "ui.frame" in graph, "the module scan found the wrong files"
    cycles = _cycles(graph)
    assert not cycles, "import cycles (function-level imports count):\n" + "\n".join(
        _describe(group, graph, files) for group in cycles)


def test_no_upward_import():
    files, graph = _graph()
    problems = _upward_imports(files, graph)
    assert not problems, "imports against the layer table of tests/repo/test_architecture.py:\n" + "\n".join(problems)


def test_no_forbidden_package():
    problems = _forbidden_packages(_module_files())
    assert not problems, "imports a layer must not make:\n" + "\n".join(problems)


def test_every_module_has_a_layer():
    for module in _module_files():
        _layer(module)


# --- the checker itself, on made-up sources -------------------------------------------------------

def test_the_cycle_finder_finds_loops_and_only_loops():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b"], ["c", "d"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_inside_functions_and_relative_ones_count(tmp_path):
    source = tmp_path / "stale.py"
    source.write_text("from __future__ import annotations\n"
                      "from . import lock\n"
                      "def f():\n    from core.runs.folder import RunDir\n    import yaml\n")
    found = _imports("core.runs.stale", source, {"core.runs.folder", "core.runs.lock"})
    assert [(line, target) for line, target, _ in found] == [
        (1, "__future__"), (2, "core.runs.lock"), (4, "core.runs.folder"), (5, "yaml")]


def test_the_layer_table_refuses_upward_and_sideways_imports():
    assert not _allowed("core.runs", "core.hydro")
    assert not _allowed("core.training", "core.rain")
    assert not _allowed("core.hydro", "core.rain") and not _allowed("core.rain", "core.hydro")
    assert not _allowed("core.data", "core.training")
    assert not _allowed("core.viz", "core.hydro")
    assert not _allowed("ui", "app") and not _allowed("core.metrics", "ui")
    assert _allowed("ui", "core.hydro") and _allowed("core.hydro", "core.runs")
    assert _layer("pages.7_Runs") == "app" and _layer("core.runs.jobs") == "core.runs"
    assert _layer("core") == "core" and _layer("core.metrics") == "core.metrics"
    with pytest.raises(AssertionError, match="no layer"):
        _layer("core.new_loose_module")


@pytest.mark.parametrize("layer", ["core.runs", "core.training", "core.data", "core.metrics", "core.machine"])
def test_no_low_layer_imports_a_half(layer):
    for half in ("core.hydro", "core.rain"):
        assert not _allowed(layer, half)


def _training_steps(files: dict[str, Path]) -> list[str]:
    """Places in ``core`` that loop over epochs or step an optimiser (``for epoch in``, ``.backward()``,
    ``optimizer.step()`` / ``scaler.step(...)``)."""
    found = []
    for name, path in files.items():
        if not name.startswith("core"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == "epoch":
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: epoch loop")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("backward", "step"):
                owner = ast.unparse(node.func.value)
                if node.func.attr == "backward" or "optim" in owner or "scaler" in owner:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node.func)}()")
    return found


def test_exactly_one_training_loop_in_core():
    """Issue 29: the epoch loop and the optimiser step are written once, in core/training/trainer.py."""
    places = _training_steps(_module_files())
    outside = [p for p in places if not p.startswith("core/training/trainer.py")]
    assert not outside, "training loop code outside the shared trainer:\n" + "\n".join(outside)
    assert sum("epoch loop" in p for p in places) == 1, places
