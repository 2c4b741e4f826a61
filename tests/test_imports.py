"""The library's shape: every module imports on its own, and no module imports one that
imports it back (checked on the source, so an import hidden in a function counts too)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mnist_course

PACKAGE = Path(mnist_course.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _imports(module: str) -> tuple[set[str], list[str]]:
    """(modules of the package that ``module`` imports, imports found inside functions)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    ours, nested = set(), []
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inside = {id(n) for f in functions for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                ours.add(node.module.split(".")[0])
            elif node.level == 1:
                ours.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("mnist_course."):
                ours.add(node.module.split(".")[1])
        if isinstance(node, ast.Import):
            ours.update(a.name.split(".")[1] for a in node.names if a.name.startswith("mnist_course."))
        if id(node) in inside:
            nested.append(ast.unparse(node))
    return ours, nested


def test_the_package_docstring_lists_every_module():
    assert all(f"    {name} " in mnist_course.__doc__ for name in MODULES), MODULES


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_in_a_fresh_interpreter(module):
    result = subprocess.run([sys.executable, "-c", f"import mnist_course.{module}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_import_cycles_and_no_imports_inside_functions():
    graph = {}
    for module in MODULES:
        graph[module], nested = _imports(module)
        assert not nested, f"{module} imports inside a function: {nested}"
    assert graph["paths"] == set(), "paths is the ground module: it imports nothing of the package"

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph[start])

    cycles = [m for m in MODULES if reaches(m, m)]
    assert not cycles, f"modules on an import cycle: {cycles}"


# The library's layers, lowest first: a module imports modules of its own layer or below,
# never above (docs/layout.md draws them). A new module must be placed in one.
LAYERS = {
    "engine": ["paths", "results", "data", "augmentation", "models", "reference_models", "checkpoints", "optim",
               "training", "settings", "plots", "reporting"],
    "experiments": ["recipes", "ablation_plans", "distill", "ablation", "search_space", "search_stages", "search",
                    "search_plots", "reference"],
    "course": ["inspection", "steps", "conclusion"],
    "applications": ["course", "benchmark", "predict", "cli"],
}


def test_every_module_has_a_layer_and_imports_only_downward():
    level = {module: i for i, modules in enumerate(LAYERS.values()) for module in modules}
    assert sorted(level) == MODULES, f"modules without a layer: {sorted(set(MODULES) - set(level))}"
    upward = [f"{module} ({name}) imports {other} ({list(LAYERS)[level[other]]})"
              for name, modules in LAYERS.items() for module in modules
              for other in sorted(_imports(module)[0]) if level.get(other, -1) > level[module]]
    assert not upward, upward


def test_no_module_is_over_500_lines():
    long = {m: n for m in MODULES if (n := len((PACKAGE / f"{m}.py").read_text().splitlines())) > 500}
    assert not long, f"modules over 500 lines: {long}"
