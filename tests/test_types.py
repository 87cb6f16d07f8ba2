"""The package's type hints are checked: mypy reports no error.

Configuration in pyproject.toml (``[tool.mypy]``): mypy's default strictness;
only libraries that ship no type information are read as untyped. The cache
(``.mypy_cache/``, git-ignored) makes a rerun take about a second; a cold run
takes about 40 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mypy_finds_no_type_errors_in_the_package():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "sklearn_allconv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
