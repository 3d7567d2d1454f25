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

# -- Gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Every script is run and its output shown, except the Dask one: it starts
    # a cluster of worker processes, which a documentation build should not.
    "filename_pattern": r"/(?!dask_)[^/]+\.py$",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    # A failing example fails the build, as a warning would.
    "abort_on_example_error": True,
    "doc_module": ("skdnn",),
    "reference_url": {"skdnn": None},
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
