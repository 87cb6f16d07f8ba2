"""The README's Python code blocks run as written, in order, in one namespace."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks(text):
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_readme_has_python_blocks():
    assert len(_python_blocks(README.read_text(encoding="utf-8"))) >= 3


def test_readme_python_blocks_run():
    namespace = {"__name__": "__readme__"}
    for number, block in enumerate(_python_blocks(README.read_text("utf-8")), 1):
        code = compile(block, f"README.md python block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - the README is ours
