"""The package's import graph: no cycles and no upward arrows between layers.

Every `import` counts, at the top, inside functions and under `TYPE_CHECKING` alike: a type
shared by two modules lives below both. The layers (lowest first) are `LAYERS`; a module may
import its own layer or a lower one. `python tests/test_layering.py` prints the graph summary.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "aiclient_trio"

# Lowest first; the first pattern a module matches decides its layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", (r"aiclient_trio", r"redact", r"untrusted", r"errors", r"codecs(\..+)?",
                    r"config\.types", r"config\.paths", r"config")),
    ("ir", (r"ir", r"record", r"offload")),
    ("translation and stores", (r"formats(\..+)?", r"providers\.base", r"reliability",
                                r"ledger", r"metrics", r"log", r"upstream(\..+)?",
                                r"daemon\.(control|pidfile|permissions)")),
    ("providers and config loading", (r"providers(\..+)?", r"config\.(load|file)")),
    # The dashboard's daemon-side state: it reads the gateway through a protocol of its own
    # (`dashboard.service.GatewayState`), so the gateway may hold it.
    ("dashboard state", (r"dashboard\.(service|live|security|settings)",)),
    ("gateway state", (r"gateway",)),
    ("HTTP apps", (r"server(\..+)?", r"dashboard(\..+)?")),
    ("daemon", (r"daemon(\..+)?",)),
    ("command line", (r"cli(\..+)?", r"__main__")),
]  # fmt: skip
# The simulators stand alone: they share no code with what they simulate against.
INDEPENDENT = re.compile(r"simulator(\..+)?")

# Known exceptions, each with its reason; the test fails if one disappears (drop it then).
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (names without the `aiclient_trio.`)."""
    files = {_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    targets.add(full if full in files else source)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[_short(module)] = {_short(t) for t in targets if t in files and t != module}
    return graph


def _short(module: str) -> str:
    return module.removeprefix("aiclient_trio.") if module != "aiclient_trio" else module


def layer_of(module: str) -> int:
    for rank, (_, patterns) in enumerate(LAYERS):
        if any(re.fullmatch(p, module) for p in patterns):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def upward(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    out = set()
    for module, targets in graph.items():
        if INDEPENDENT.fullmatch(module):
            continue
        for target in targets:
            if not INDEPENDENT.fullmatch(target) and layer_of(target) > layer_of(module):
                out.add((_top(module), _top(target)))
    return out


def test_no_cycles_but_the_known_ones() -> None:
    assert set(cycles(import_graph())) == KNOWN_CYCLES


def test_no_upward_imports_but_the_known_ones() -> None:
    assert upward(import_graph()) == KNOWN_UPWARD


def test_simulators_share_no_code_with_the_gateway() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if INDEPENDENT.fullmatch(module):
            assert all(INDEPENDENT.fullmatch(t) for t in targets), (module, targets)
        elif not module.startswith(("cli", "daemon")):  # `aiclient demo` runs them
            assert not any(INDEPENDENT.fullmatch(t) for t in targets), module


def test_codecs_and_formats_do_no_io() -> None:
    """codecs/ import nothing of ours; codecs/, ir and formats/ import no Trio or HTTP client."""
    graph = import_graph()
    for module in graph:
        if module.startswith("codecs"):
            assert graph[module] <= {m for m in graph if m.startswith("codecs")}, module
        if module.startswith(("codecs", "formats")) or module == "ir":
            path = PACKAGE / (module.replace(".", "/") + ".py")
            if not path.exists():
                path = path.with_suffix("") / "__init__.py"
            source = path.read_text()
            assert not re.search(r"^\s*(import|from) (trio|httpx|h11)\b", source, re.M), module


if __name__ == "__main__":
    graph = import_graph()
    for rank, (label, _) in enumerate(LAYERS):
        members = sorted(m for m in graph if not INDEPENDENT.fullmatch(m) and layer_of(m) == rank)
        tops = sorted({m if rank == 0 else m.split(".")[0] for m in members})
        print(f"{rank} {label}: {', '.join(tops)}")
    print("simulator: imports only simulator.*")
    edges = sum(len(t) for t in graph.values())
    print(f"{len(graph)} modules, {edges} import edges")
    print("cycles:", [sorted(c) for c in cycles(graph)] or "none")
    print("upward:", sorted(upward(graph)) or "none")
    print("package -> packages it imports:")
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(_top(module), set()).update(_top(t) for t in targets)

    def package_rank(package: str) -> int:  # the package's highest layer; the simulator last
        members = [m for m in graph if _top(m) == package and not INDEPENDENT.fullmatch(m)]
        return max((layer_of(m) for m in members), default=-1)

    for package in sorted(packages, key=lambda p: (-package_rank(p), p)):
        print(f"  {package} -> {', '.join(sorted(packages[package] - {package})) or '-'}")
