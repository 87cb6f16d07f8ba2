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


def test_documented_minimum_clip_length_is_the_derived_one():
    from sklearn_allconv.features import stft_geometry
    from sklearn_allconv.network import minimum_frames

    derived = set()
    for rate in (16000, 44100):
        n_fft, hop, _ = stft_geometry(rate)
        derived.add(str(round(1000 * (n_fft + (minimum_frames() - 1) * hop) / rate)))
    assert len(derived) == 1  # one number, whatever the sample rate
    root = README.parent
    pages = [
        README,
        root / "docs" / "user_guide" / "network.md",
        root / "docs" / "user_guide" / "differences.md",
        root / "docs" / "user_guide" / "command_line.md",
        root / "sklearn_allconv" / "network.py",
    ]
    for page in pages:
        stated = re.findall(r"(\d+) ms of audio", " ".join(page.read_text().split()))
        assert stated and set(stated) == derived, page
