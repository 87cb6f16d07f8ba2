"""The documentation builds warning-free, running every gallery example."""

import re
from pathlib import Path

import pytest

# The test extra installs the docs toolchain: missing, it is an error, not a skip.
from sphinx.cmd.build import build_main

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.slow
def test_docs_build_without_warnings_and_the_gallery_draws_its_figures(tmp_path):
    # -W turns warnings into errors; the examples run (112 s in all on
    # two cores), so that their code and figures cannot rot.
    html = tmp_path / "html"
    status = build_main(
        [
            "-W",
            "--keep-going",
            "-q",
            "-E",
            "-b",
            "html",
            # Run the examples even where an earlier build left their output.
            "-D",
            "sphinx_gallery_conf.run_stale_examples=1",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(html),
        ]
    )
    assert status == 0
    assert (html / "api.html").exists()
    assert (html / "auto_examples" / "index.html").exists()
    examples = sorted(p.stem for p in (DOCS.parent / "examples").glob("plot_*.py"))
    assert len(examples) >= 6
    for name in examples:
        page = (html / "auto_examples" / f"{name}.html").read_text()
        figures = list((html / "_images").glob(f"sphx_glr_{name}_0*.png"))
        assert figures, f"{name} drew no figure"
        assert all(figure.name in page for figure in figures)
    # The network guide's figure, drawn by the plot directive.
    guide = (html / "user_guide" / "network.html").read_text()
    masks = list((html / "_images").glob("network-*.png"))
    assert masks and all(figure.name in guide for figure in masks)
    # Navigation: every relative link and image of every page resolves.
    broken = []
    for page in html.rglob("*.html"):
        if "_static" in page.parts:
            continue  # the theme's template macros, not pages
        for target in re.findall(r'(?:href|src)="([^"#?]+)', page.read_text()):
            if not re.match(r"^[a-z]+:|^//", target) and not (
                page.parent / target
            ).exists():
                broken.append(f"{page.relative_to(html)} -> {target}")
    assert not broken, broken
