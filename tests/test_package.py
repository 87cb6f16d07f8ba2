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


def test_no_module_imports_the_package_root():
    # The root re-exports the public API and imports every module: a module
    # that imports names from it back creates an import cycle. Submodules and
    # subpackages (``from . import datasets``) are fine.
    package = Path(__file__).resolve().parents[1] / "sklearn_allconv"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
                offenders += [f"{path.name}: import {n}" for n in names
                              if n == "sklearn_allconv"]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module == "sklearn_allconv":
                    offenders.append(f"{path.name}: from sklearn_allconv import")
                elif node.level and node.module is None:
                    folder = path.parent
                    for _ in range(node.level - 1):
                        folder = folder.parent
                    offenders += [
                        f"{path.name}: from {'.' * node.level} import {alias.name}"
                        for alias in node.names
                        if not (folder / f"{alias.name}.py").exists()
                        and not (folder / alias.name / "__init__.py").exists()
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
