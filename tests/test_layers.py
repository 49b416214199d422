"""The package's layers (docs/architecture.md): each package imports only from the layers below
it, counting imports made inside functions (they run too), and only through the other package's
interface (its ``__init__``), never its ``_private`` modules; no module imports itself back
through others when it is imported; tests use private modules only where listed below, with the
reason. Read from the source with ``ast``, so the check needs no import of the package."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "crystallize_opt"

#: Bottom to top. A module may import from its own package and from packages of lower layers;
#: packages of one layer are independent of each other. ``(root)`` is ``crystallize_opt``'s
#: ``__init__``, which exports the public names (lazily).
LAYERS: list[set[str]] = [
    {"_text", "_constants", "_version", "_logging", "_signals", "_fingerprint"},
    {"exceptions"},
    {"_paths", "_checks"},
    {"context", "result", "verifiers", "_optuna_compat"},
    {"treatment", "hypothesis", "pipeline", "plugins"},
    {"records"},
    {"ranking", "artifacts", "storage"},
    {"coordination"},
    {"optimize"},
    {"experiment"},
    {"experiments", "pipelines", "datasources", "utils"},  # crystallize-ml's module paths (re-exports)
    {"config", "report"},
    {"cli"},
    {"__main__", "(root)"},
]

#: The one upward import, each with its reason: a shortcut of the reference API that hands over
#: to a higher layer when called (never at import).
UPWARD = {
    ("crystallize_opt.experiment._experiment", "crystallize_opt.config"): (
        "Experiment.from_yaml (crystallize-ml's API) is config.load_study(...).experiment"
    ),
    ("crystallize_opt.experiment._graph", "crystallize_opt.config"): (
        "ExperimentGraph.from_yaml (crystallize-ml's API) loads experiment folders through config"
    ),
}


#: Test modules that unit-test a private module no public call isolates, with the reason. Any
#: other test goes through the public API, the records, and the packages' interfaces.
WHITE_BOX_TESTS = {
    "test_optuna_compat": (
        {
            "crystallize_opt._optuna_compat",
            "crystallize_opt.optimize._tell",
            "crystallize_opt.config._storage",
            "crystallize_opt.storage._rdb",
        },
        "the compatibility module's fast paths and fallbacks, which the issue asks to test directly "
        "(and that every private call of Optuna's cache is retried)",
    ),
    "test_noise": (
        {
            f"crystallize_opt.optimize._noise._{m}"
            for m in ("policy", "pool", "sampler", "gp", "encoding", "selection")
        },
        "the noise model's parts (seed-effect GP, pooled replicates, the racing policy) on hand-made data",
    ),
    "test_noise_config": ({"crystallize_opt.config._noise"}, "the table of noise keys is complete"),
    "bench_noise_scale": (
        {"crystallize_opt.optimize._noise._search"},
        "the benchmark times and traces the winner's selection alone (it wraps select_winner)",
    ),
    "test_settings_once": (
        {"crystallize_opt.config._optimize_section", "crystallize_opt.config._modules"},
        "every YAML key maps to one constructor argument; the import hook is installed only on load",
    ),
    "test_target": (
        {"crystallize_opt.optimize._target"},
        "a worker with stale counts and a trial beyond the target: multi-process runs reach it only by timing",
    ),
    "test_hostile_input": ({"crystallize_opt.config._errors"}, "describing a huge hostile value stays short"),
    "test_report": (
        {f"crystallize_opt.report._{m}" for m in ("contour", "data", "history", "html", "style")},
        "the report's figure builders on arrays, without a browser",
    ),
    "test_report_noise": (
        {"crystallize_opt.report._data", "crystallize_opt.report._selection"},
        "the winner-selection section's text and its candidate cap",
    ),
    "test_records": ({"crystallize_opt.report._data"}, "the report reads the v1 fixture through the records"),
    "test_journal": ({"crystallize_opt._signals"}, "a journal lock wait ended by a deferred signal"),
    "test_signals": ({"crystallize_opt._signals"}, "signals held back around stored trials (internal)"),
    "test_outage": (
        {"crystallize_opt._signals", "crystallize_opt.storage._open", "crystallize_opt.storage._outage"},
        "a deferred signal ends an outage wait; connect timeouts shortened so the test is quick",
    ),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines.update(n.lineno for stmt in node.body for n in ast.walk(stmt) if hasattr(n, "lineno"))
    return lines


def _walk_module_level(tree: ast.AST) -> Iterator[ast.AST]:
    """The nodes that run when the module is imported (not inside functions)."""
    for node in ast.iter_child_nodes(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield node
            yield from _walk_module_level(node)


def _imports(path: Path, *, in_functions: bool = True) -> Iterator[str]:
    """Every module of ours ``path`` imports at run time (not under ``TYPE_CHECKING``); with
    ``in_functions=False`` only those imported when ``path`` itself is imported."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    for node in ast.walk(tree) if in_functions else _walk_module_level(tree):
        if isinstance(node, ast.ImportFrom) and node.lineno not in skip:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module:
                yield target
            for alias in node.names:  # `from . import x`: x may be a module
                yield f"{target}.{alias.name}"
        elif isinstance(node, ast.Import) and node.lineno not in skip:
            yield from (alias.name for alias in node.names)


def _graph(*, in_functions: bool = True) -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets: set[str] = set()
        for target in _imports(path, in_functions=in_functions):
            while target and target not in paths:  # a name imported from a module: the module
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def _layer(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"package {package!r} has no layer: add it to LAYERS and docs/architecture.md")


def test_every_package_imports_only_from_lower_layers() -> None:
    wrong = []
    for module, targets in _graph().items():
        for target in targets:
            source, goal = _package(module), _package(target)
            if source == goal or (module, f"crystallize_opt.{goal}") in UPWARD:
                continue
            if _layer(goal) >= _layer(source):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def _is_private(module: str) -> bool:
    """True for a module private to a package of ours (``crystallize_opt.<package>._x...``);
    the root's private modules (``crystallize_opt._x``) are the shared basics of every layer."""
    return any(part.startswith("_") and part != "__main__" for part in module.split(".")[2:])


def test_packages_use_each_others_interface_only() -> None:
    """A package's ``__init__`` is its contract: another package that imports one of its
    ``_private`` modules depends on how it is built inside, not on what it offers."""
    wrong = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _package(module) != _package(target) and _is_private(target)
    ]
    assert not wrong, "imports past another package's interface:\n" + "\n".join(sorted(wrong))


def test_tests_import_private_modules_only_where_listed() -> None:
    tests = Path(__file__).resolve().parent
    modules = set(_graph())
    wrong = []
    for path in sorted([*tests.glob("*.py"), *tests.parent.glob("benchmarks/*.py")]):
        allowed = WHITE_BOX_TESTS.get(path.stem, (set(), ""))[0]
        for target in _imports(path):
            target = target if target in modules else target.rpartition(".")[0]
            parts = target.split(".")
            if parts[0] != "crystallize_opt" or target in allowed or parts[1:] == ["__main__"]:
                continue
            if (len(parts) > 1 and parts[1].startswith("_")) or _is_private(target):
                wrong.append(f"{path.name} imports {target}")
    assert not wrong, (
        "tests that reach past the public API (use it, the records or a package's interface; or add the "
        "module to WHITE_BOX_TESTS with the reason):\n" + "\n".join(sorted(wrong))
    )


def test_no_module_imports_itself_back() -> None:
    """Import-time cycles (a module half-initialised when another reads it). Imports inside
    functions may point back within a package (``Experiment.builder`` and the builder's
    ``Experiment``); across packages the layers above keep them one way."""
    cycles = _cycles(_graph(in_functions=False))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_check_sees_an_import_against_the_layers(tmp_path: Path) -> None:
    """The reading of imports itself: relative, absolute, lazy and TYPE_CHECKING-only imports."""
    source = tmp_path / "crystallize_opt" / "storage" / "_probe.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..exceptions import ConfigurationError\n"
        "if TYPE_CHECKING:\n    from ..optimize import BaseOptimizer\n"
        "def later():\n    from crystallize_opt.report import write_report\n"
    )
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "crystallize_opt"
    try:
        found = set(_imports(source))
        at_import = set(_imports(source, in_functions=False))
    finally:
        PACKAGE = saved
    assert "crystallize_opt.exceptions" in found and "crystallize_opt.report" in found
    assert not any(t.startswith("crystallize_opt.optimize") for t in found)
    assert "crystallize_opt.exceptions" in at_import and "crystallize_opt.report" not in at_import
    assert _layer("report") > _layer("storage")
