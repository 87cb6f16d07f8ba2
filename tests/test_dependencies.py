"""Every third-party module the package imports is declared in pyproject.toml.

A package that is installed on the developer's machine but not declared passes
every other test there and breaks every fresh install (it happened with
safetensors). This test reads pyproject.toml and the package's source, not the
installed metadata, so deleting a line from pyproject.toml fails it at once.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from sklearn_allconv.displays import TrainingHistoryDisplay

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test extra installs tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "sklearn_allconv"
# Import names that differ from the distribution's name, for modules that are
# not installed where the test runs (installed ones are looked up).
ALIASES = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalize(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0])


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _runtime() -> set[str]:
    return {_requirement_name(r) for r in _project()["dependencies"]}


def _extras() -> dict[str, set[str]]:
    return {
        extra: {_requirement_name(r) for r in requirements}
        for extra, requirements in _project()["optional-dependencies"].items()
    }


@functools.cache
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def _distributions(module: str) -> set[str]:
    top = module.split(".")[0]
    return {
        _normalize(name) for name in _installed().get(top, [ALIASES.get(top, top)])
    }


def _third_party(module: str) -> bool:
    top = module.split(".")[0]
    return top not in sys.stdlib_module_names and top != PACKAGE.name


class _Imports(ast.NodeVisitor):
    """Third-party imports of one module: at module level, inside functions,
    and the modules named to :func:`import_optional` with their extra."""

    def __init__(self) -> None:
        self.module_level: list[tuple[str, int]] = []
        self.deferred: list[tuple[str, int]] = []
        self.optional: list[tuple[str, str, int]] = []
        self._depth = 0

    def _record(self, module: str, line: int) -> None:
        if _third_party(module):
            target = self.deferred if self._depth else self.module_level
            target.append((module, line))

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._record(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._record(node.module, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        if name == "import_optional":
            module = node.args[0].value  # type: ignore[attr-defined]
            extra = next(k.value.value for k in node.keywords if k.arg == "extra")
            self.optional.append((module, extra, node.lineno))
        self.generic_visit(node)


def _package_imports() -> dict[str, _Imports]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text(), str(path)))
        found[str(path.relative_to(REPO))] = visitor
    return found


def test_module_level_imports_are_runtime_dependencies():
    runtime = _runtime()
    undeclared = [
        f"{path}:{line} imports {module}"
        for path, found in _package_imports().items()
        for module, line in found.module_level + found.deferred
        if not _distributions(module) & runtime
    ]
    assert not undeclared, (
        "Imported but not in [project] dependencies of pyproject.toml (an "
        "optional dependency goes through _optional.import_optional with its "
        "extra instead):\n" + "\n".join(undeclared)
    )


def test_optional_imports_are_declared_in_the_extra_they_name():
    extras = _extras()
    wrong = [
        f"{path}:{line} needs {module} from extra {extra!r}"
        for path, found in _package_imports().items()
        for module, extra, line in found.optional
        if not _distributions(module) & extras.get(extra, set())
    ]
    assert not wrong, "Not declared in that extra:\n" + "\n".join(wrong)
    assert any(found.optional for found in _package_imports().values())


def test_every_runtime_dependency_is_imported_by_the_package():
    imported = set()
    for found in _package_imports().values():
        for module, _ in found.module_level + found.deferred:
            imported |= _distributions(module)
    assert _runtime() - imported == set()


def test_a_missing_optional_dependency_names_the_extra_to_install(monkeypatch):
    # A None entry in sys.modules makes that import fail, as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    display = TrainingHistoryDisplay(epochs=[1, 2], train_loss=[1.0, 0.5])
    with pytest.raises(ImportError, match=r"pip install 'sklearn-allconv\[plot\]'"):
        display.plot()
