"""The library's shape: four layers, one subpackage each, imports only downward; every
module imports on its own, and no module imports one that imports it back (checked on the
source, so an import hidden in a function counts too)."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import mnist_course

PACKAGE = Path(mnist_course.__file__).parent
# The layers, lowest first: a module imports modules of its own layer or below, never
# above (docs/layout.md draws them). A module lives in its layer's folder.
LAYERS = ("engine", "experiments", "course", "apps")
MODULES = sorted(f"{layer}.{p.stem}" for layer in LAYERS for p in (PACKAGE / layer).glob("*.py")
                 if p.stem != "__init__")


def _imports(module: str) -> tuple[set[str], list[str]]:
    """(modules of the package, as "layer.module", that ``module`` imports; imports found
    inside functions). Importing a layer's package itself counts as "layer.*"."""
    layer, name = module.split(".")
    return _imports_in(layer, (PACKAGE / layer / f"{name}.py").read_text())


def _imports_in(layer: str, source: str) -> tuple[set[str], list[str]]:
    """:func:`_imports` of the source of a module in ``layer``."""
    tree = ast.parse(source)
    ours, nested = set(), []
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inside = {id(n) for f in functions for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                ours.update({f"{layer}.{node.module.split('.')[0]}"} if node.module
                            else {f"{layer}.{alias.name}" for alias in node.names})
            elif node.level == 2:
                parts = (node.module or "").split(".")
                ours.update({".".join(parts[:2]) if len(parts) > 1 else f"{parts[0]}.*"} if node.module
                            else {f"{alias.name}.*" for alias in node.names})
            elif node.module and node.module.startswith("mnist_course."):
                parts = node.module.split(".")
                ours.add(".".join(parts[1:3]) if len(parts) > 2 else f"{parts[1]}.*")
        if isinstance(node, ast.Import):
            ours.update(".".join(a.name.split(".")[1:3]) for a in node.names if a.name.startswith("mnist_course."))
        if id(node) in inside:
            nested.append(ast.unparse(node))
    return ours, nested


def test_every_module_lives_in_a_layer():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert not loose, f"modules outside the layers' folders: {loose}"
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layers_docstring_lists_its_modules(layer):
    doc = importlib.import_module(f"mnist_course.{layer}").__doc__
    names = [m.split(".")[1] for m in MODULES if m.startswith(f"{layer}.")]
    assert names and all(f"    {name} " in doc for name in names), names


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_in_a_fresh_interpreter(module):
    result = subprocess.run([sys.executable, "-c", f"import mnist_course.{module}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_import_cycles_and_no_imports_inside_functions():
    graph = {}
    for module in MODULES:
        graph[module], nested = _imports(module)
        assert not nested, f"{module} imports inside a function: {nested}"
    assert graph["engine.paths"] == set(), "paths is the ground module: it imports nothing of the package"

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and n in graph and reaches(n, target, (*seen, n)))
                   for n in graph[start])

    cycles = [m for m in MODULES if reaches(m, m)]
    assert not cycles, f"modules on an import cycle: {cycles}"


def _upward(module: str, imported: set[str]) -> list[str]:
    level = LAYERS.index(module.split(".")[0])
    return sorted(other for other in imported if LAYERS.index(other.split(".")[0]) > level)


def test_every_module_imports_only_its_own_layer_or_below():
    upward = {module: found for module in MODULES if (found := _upward(module, _imports(module)[0]))}
    assert not upward, f"imports from a higher layer: {upward}"


def test_the_layer_check_catches_an_upward_import():
    # The check above must fail for the imports it forbids, however they are written.
    for line in ("from ..apps.runner import main", "from mnist_course.course.steps import record",
                 "import mnist_course.experiments.search", "from .. import apps"):
        assert _upward("engine.models", _imports_in("engine", line)[0]), line
    assert not _upward("course.steps", _imports_in("course", "from ..engine.data import load_mnist")[0])


def test_no_module_is_over_500_lines():
    long = {m: n for m in MODULES
            if (n := len((PACKAGE / m.replace(".", "/")).with_suffix(".py").read_text().splitlines())) > 500}
    assert not long, f"modules over 500 lines: {long}"
