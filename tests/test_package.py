"""What importing the package does to the process."""

import os
import subprocess
import sys

import pytest

SCRIPT = """
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
