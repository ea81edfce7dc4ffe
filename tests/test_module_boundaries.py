"""Module boundaries: no import circle, and the HTTP libraries kept behind ``balancer.upstream``.

Imports are read with ``ast`` (those under ``TYPE_CHECKING`` and inside functions
count too): a circle is a set of modules each reachable from the others.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "balancer"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (a name imported from a module
    counts as that module, or as its submodule when it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports. An import of a module's own parent package is
    left out: a package's ``__init__`` that hands its modules' names on would
    otherwise make every parent and child a circle."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: {t for t in imported(path, name, known) if not name.startswith(t + ".")}
            for name, path in files.items()}


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def test_the_reader_finds_a_circle_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [{"a", "b", "c"}]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_proxy_package_has_no_import_circle():
    graph = import_graph()
    assert "balancer.proxy.forward" in graph and graph["balancer.proxy.forward"]
    proxy = [c for c in circles(graph) if any(m.startswith("balancer.proxy") for m in c)]
    assert proxy == []


def test_no_module_of_balancer_is_in_an_import_circle():
    assert [sorted(c) for c in circles(import_graph())] == []

def test_http_libraries_are_handled_inside_the_upstream_package_only():
    """``requests`` and ``urllib3`` (their exceptions, ``resp.raw``) stay behind
    ``balancer.upstream``: above it there are only its own answers and errors."""
    leaks = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "upstream"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Attribute) and node.attr == "raw":
                names = ["<attribute .raw>"]
            leaks += [f"{module_name(path)}: {n}" for n in names
                      if n.split(".")[0] in ("requests", "urllib3") or n.startswith("<")]
    assert leaks == []
