"""No import cycle among nanguard's modules, counting imports inside functions too; no component
imports another component; no module over 400 lines; every name the opt-in scripts
(deploy/, benchmarks/) take from nanguard exists."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"components": "nanguard.components", "pipelines": "nanguard.pipelines"}
COMPONENTS = ("data_guard", "transform", "trainer", "gate")


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _imports(name: str, path: pathlib.Path, modules: set[str]) -> set[str]:
    """Every nanguard module `name` imports, at any depth of its code (functions included)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None (depth-first, three colours)."""
    colour, stack = dict.fromkeys(graph, 0), []

    def visit(node):
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if colour[nxt] == 0 and (found := visit(nxt)):
                return found
        colour[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if colour[node] == 0 and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_among_nanguard_modules():
    # A package's lazy `__init__` names its modules as strings, never importing them: its own
    # edges are only its real imports, so it is part of the graph like any module.
    graph = _graph()
    assert "nanguard.pipelines.run_record" in graph and len(graph) > 60
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_component_imports_another_component():
    graph = _graph()
    crossings = []
    for name, imported in graph.items():
        parts = name.split(".")
        if len(parts) < 3 or parts[1] != "components" or parts[2] not in COMPONENTS:
            continue
        for target in imported:
            other = target.split(".")
            if len(other) > 2 and other[1] == "components" and other[2] in COMPONENTS:
                if other[2] != parts[2]:
                    crossings.append(f"{name} -> {target}")
    assert crossings == []


def test_no_source_module_is_over_400_lines():
    """A module past 400 lines holds two jobs: split it along its seam (issue #24)."""
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


def _script_references(path: pathlib.Path) -> list[tuple[str, str]]:
    """`(nanguard module, name)` for every name a script takes from nanguard: `from M import
    name`, and `alias.name` where `alias` is a nanguard module it imported."""
    import importlib.util

    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases, found = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nanguard"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if importlib.util.find_spec(full.rsplit(".", 1)[0]) and _is_module(full):
                    aliases[alias.asname or alias.name] = full
                else:
                    found.append((node.module, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nanguard") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            found.append((aliases[node.value.id], node.attr))
    return found


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_every_name_the_opt_in_scripts_take_from_nanguard_exists():
    """deploy/ and benchmarks/ run only on request (`make flink`, `make bench`), so a moved
    function breaks them silently: `make flink` once ran 15 minutes on Flink, then failed on
    `local_runner._store`, which had moved to `mlmd.store`."""
    import importlib

    scripts = sorted([*(ROOT / "deploy").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")])
    missing = []
    for path in scripts:
        for module, name in _script_references(path):
            if not hasattr(importlib.import_module(module), name):
                missing.append(f"{path.relative_to(ROOT)}: {module}.{name}")
    assert missing == []
