"""Sphinx configuration of skdnn's documentation site.

Build it from the repository root, with warnings as errors::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The Markdown pages (user guide, migration, scaling, workflows) are read by
myst-parser, the API reference is generated from the docstrings by
autosummary + numpydoc, and sphinx-gallery runs the scripts of ``examples/``
and shows their output and figures under ``auto_examples/``.
"""

import os
import pathlib
import sys

from sphinx_gallery.sorting import ExplicitOrder

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout, installed or not

# Before anything imports TensorFlow: keep its C++ log lines out of the pages.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The examples train fewer epochs when this is set (each one says how), so
# that the gallery runs in a few minutes on a 2-core machine.
os.environ.setdefault("SKDNN_EXAMPLES_QUICK", "1")

import skdnn  # noqa: E402

project = "skdnn"
author = "the skdnn developers"
copyright = "the skdnn developers"  # noqa: A001
release = skdnn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/backreferences"]

# -- Markdown -----------------------------------------------------------------
myst_heading_anchors = 3  # links to a section of a page: [text](scaling.md#the-thread-budget)
myst_enable_extensions = ["colon_fence"]

# -- API reference ------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
# Methods are listed by the class template (docs/_templates/autosummary/class.rst).
numpydoc_show_class_members = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Links to scikit-learn and NumPy -------------------------------------------
# The methods skdnn inherits from scikit-learn keep scikit-learn's docstrings,
# which cross-reference its glossary and user guide. intersphinx would fetch
# scikit-learn's inventory over the network, which the build must not need,
# so those references, and the sklearn.* and numpy.* objects the pages name,
# resolve here to scikit-learn's and NumPy's sites by their URL scheme.
SKLEARN = "https://scikit-learn.org/stable/"
SKLEARN_LABELS = {
    "metadata_routing": "metadata_routing.html",
    "rolling_your_own_estimator": "developers/develop.html",
    "accuracy_score": "modules/model_evaluation.html#accuracy-score",
    "r2_score": "modules/model_evaluation.html#r2-score",
    "developer_api_set_output": "auto_examples/miscellaneous/plot_set_output.html",
    "randomness": "common_pitfalls.html#randomness",
}


def _external_url(domain, role, target):
    """The scikit-learn or NumPy page for a reference Sphinx could not resolve."""
    if domain == "std" and role == "term":
        return f"{SKLEARN}glossary.html#term-{target.lower().replace(' ', '-')}"
    if domain == "std" and role == "ref" and target in SKLEARN_LABELS:
        return SKLEARN + SKLEARN_LABELS[target]
    if domain == "py" and target.startswith("sklearn."):
        page = ".".join(part for part in target.split(".") if not part.startswith("_"))
        return f"{SKLEARN}modules/generated/{page}.html#{target}"
    if domain == "py" and target.startswith(("numpy.", "np.")):
        name = "numpy." + target.split(".", 1)[1]
        return f"https://numpy.org/doc/stable/reference/generated/{name}.html"
    return None


def _resolve_external(app, env, node, contnode):
    from docutils import nodes

    domain, role = node.get("refdomain"), node.get("reftype")
    target = node.get("reftarget", "")
    if domain == "std" and role == "term" and target.endswith("s"):
        target = target[:-1] if target[:-1] in ("meta-estimator", "consumer") else target
    url = _external_url(domain, role, target)
    if url is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=url)
    reference.append(contnode)
    return reference


def setup(app):
    app.connect("missing-reference", _resolve_external)


# -- Gallery ------------------------------------------------------------------
EXAMPLE_ORDER = [
    "quickstart.py",
    "grid_search_pipeline.py",
    "population_search.py",
    "random_search_dataframe.py",
    "tabular_ensemble.py",
    "image_classification.py",
    "training_curves.py",
    "plot_cnn_digits.py",
    "regression_sgd.py",
    "dask_grid_search.py",
]
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Every script is run and its output shown, except the Dask one: it starts
    # a cluster of worker processes, which a documentation build should not.
    "filename_pattern": r"/(?!dask_)[^/]+\.py$",
    "ignore_pattern": r"__init__\.py",
    # The quickstart first, the Dask example (not run here) last. A new
    # example must be listed: sphinx-gallery stops the build otherwise.
    "within_subsection_order": ExplicitOrder(EXAMPLE_ORDER),
    # A failing example fails the build, as a warning would.
    "abort_on_example_error": True,
    "doc_module": ("skdnn",),
    "backreferences_dir": "generated/backreferences",
    "min_reported_time": 1,
    "show_memory": False,
    "download_all_examples": False,
}

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skdnn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
