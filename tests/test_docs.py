"""The documentation builds warning-free (the gallery is not executed here)."""

from pathlib import Path

import pytest

pytest.importorskip(
    "sphinx_gallery", reason="the docs need sphinx-gallery: pip install -e '.[docs]'"
)
pytest.importorskip("pydata_sphinx_theme", reason="the docs need pydata-sphinx-theme")
pytest.importorskip("myst_parser", reason="the docs need myst-parser")

from sphinx.cmd.build import build_main  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docs_build_without_warnings(tmp_path):
    # -W turns warnings into errors; plot_gallery=0 renders the examples without
    # running them, which the full build (see getting_started.md) does.
    status = build_main(
        [
            "-W",
            "--keep-going",
            "-q",
            "-E",
            "-b",
            "html",
            "-D",
            "plot_gallery=0",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ]
    )
    assert status == 0
    assert (tmp_path / "html" / "api.html").exists()
    assert (tmp_path / "html" / "auto_examples" / "index.html").exists()
