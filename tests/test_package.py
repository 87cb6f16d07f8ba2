"""What importing the package does to the process."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, os
# scikit-learn and joblib set OpenMP variables of their own when imported.
import joblib, librosa, skorch, sklearn, torch
before = dict(os.environ)
from sklearn_allconv import *  # every public module, not just the lazy root
print(json.dumps([before, dict(os.environ)]))
"""


@pytest.mark.slow
def test_import_leaves_the_process_environment_alone():
    # Environment variables reach every subprocess the user starts; huge pages
    # for PyTorch are a documented opt-in (docs/performance.md), not a default.
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    before, after = json.loads(completed.stdout.strip().splitlines()[-1])
    assert after == before
    assert "THP_MEM_ALLOC_ENABLE" not in after


PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_allconv"


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_imports():
    """(file, imported module, imported name or None) for every import of the
    package's own modules, relative imports resolved."""
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _module_name(path).split(".")
        if path.name != "__init__.py":
            here = here[:-1]  # the package a relative import starts from
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "sklearn_allconv":
                        yield path, alias.name, None
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    module = ".".join([*base, *filter(None, [node.module])])
                else:
                    module = node.module or ""
                if module.split(".")[0] != "sklearn_allconv":
                    continue
                for alias in node.names:
                    yield path, module, alias.name


def _is_module(dotted):
    folder = PACKAGE.parent.joinpath(*dotted.split("."))
    return folder.with_suffix(".py").exists() or (folder / "__init__.py").exists()


def test_no_module_imports_the_package_root():
    # The root re-exports the public API and imports every module: a module
    # that imports names from it back creates an import cycle. Submodules and
    # subpackages (``from . import datasets``) are fine.
    offenders = [
        f"{path.name}: {module} {name or ''}"
        for path, module, name in _package_imports()
        if path != PACKAGE / "__init__.py"
        and module == "sklearn_allconv"
        and (name is None or not _is_module(f"{module}.{name}"))
    ]
    assert offenders == []


def test_no_module_imports_a_private_name_of_another_module():
    # What one module needs from another is public there (documented) or
    # lives where it is used. Private modules (``._device``, ``._optional``)
    # are fine to import from; their names that others use are public.
    offenders = [
        f"{path.relative_to(PACKAGE)}: from {module} import {name}"
        for path, module, name in _package_imports()
        if name is not None
        and name.startswith("_")
        and not name.endswith("__")
        and not _is_module(f"{module}.{name}")
        and module != _module_name(path)
    ]
    assert offenders == []


@pytest.mark.slow
def test_import_loads_the_heavy_modules_at_first_use_of_a_public_name():
    script = (
        "import sys\n"
        "import sklearn_allconv\n"
        "print('torch' in sys.modules)\n"
        "from sklearn_allconv import *\n"
        "public = set(sklearn_allconv.__all__)\n"
        "print('torch' in sys.modules, sorted(public - set(globals())))\n"
        "print(public <= set(dir(sklearn_allconv)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert completed.stdout.splitlines() == ["False", "True []", "True"]


def test_unknown_names_are_attribute_errors():
    import sklearn_allconv

    with pytest.raises(AttributeError, match="has no attribute 'SceneClassifer'"):
        sklearn_allconv.SceneClassifer  # noqa: B018
