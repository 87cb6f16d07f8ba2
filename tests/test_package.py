"""What importing the package does to the process."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import ast
import os
import sklearn_allconv
print(os.environ.get("THP_MEM_ALLOC_ENABLE"))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("before", "after"), [(None, "1"), ("0", "0"), ("1", "1")])
def test_import_asks_torch_for_huge_pages_unless_the_user_decided(before, after):
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if before is not None:
        env["THP_MEM_ALLOC_ENABLE"] = before
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert completed.stdout.split() == [after]


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
