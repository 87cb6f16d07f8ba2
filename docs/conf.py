"""Sphinx configuration of the sklearn-allconv documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` from the
repository root; add ``-D plot_gallery=0`` to skip running the examples.
"""

import os
import sys
from pathlib import Path

# The docs document the working tree, installed or not.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Keep the gallery's matplotlib off any display.
os.environ.setdefault("MPLBACKEND", "Agg")

import sklearn_allconv  # noqa: E402

project = "sklearn-allconv"
author = "The sklearn-allconv developers"
copyright = "The sklearn-allconv developers, BSD-3-Clause"
release = sklearn_allconv.__version__
version = release

extensions = [
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_default_options = {"member-order": "bysource"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    # Each example must run within a minute on two CPU cores.
    "min_reported_time": 5,
}

# Figures drawn by the docs' own `plot` directives: PNG only, no source links.
plot_formats = [("png", 100)]
plot_html_show_formats = False
plot_html_show_source_link = False

html_theme = "pydata_sphinx_theme"
html_title = "sklearn-allconv"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
# The page's table of contents lists "fit()", not "SceneClassifier.fit()".
toc_object_entries_show_parents = "hide"
html_static_path = ["_static"]
# Long class names and method entries wrap instead of running out of the page.
html_css_files = ["wrap.css"]


# scikit-learn's mixins add these to every estimator; scikit-learn documents them.
_SKLEARN_PLUMBING = {"get_metadata_routing", "set_output"}
# The estimators' public surface; the rest of skorch's NeuralNet (get_iterator,
# infer, run_single_epoch, ...) is documented by skorch and linked from the
# estimators' Notes.
_ESTIMATOR_SURFACE = {
    "fit",
    "partial_fit",
    "predict",
    "predict_proba",
    "score",
    "get_params",
    "set_params",
    "save_params",
    "load_params",
}


def _skip_plumbing(app, what, name, obj, skip, options):
    if name in _SKLEARN_PLUMBING or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    function = getattr(obj, "__func__", obj)
    owner = getattr(function, "__qualname__", "").rpartition(".")[0]
    module = getattr(function, "__module__", None) or ""
    defined_for_skorch = module.startswith("skorch") or owner == "_AllConvEstimator"
    if defined_for_skorch and name not in _ESTIMATOR_SURFACE:
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_plumbing)
