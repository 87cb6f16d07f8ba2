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
