"""The built documentation site holds every public name and every gallery image.

These tests read the HTML that Sphinx wrote; they do not build it. Build it
first, from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

While docs/_build/html is not there they skip, so the test suite does not need
Sphinx. ``.ci/docs`` builds the site and runs them with ``SKDNN_REQUIRE_SITE=1``,
which turns that skip into a failure.
"""

import html as html_module
import inspect
import os
import pathlib
import re

import pytest

import skdnn

ROOT = pathlib.Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
# Where sphinx-gallery writes the examples' pages and figures (docs/conf.py).
GALLERY = ROOT / "docs" / "auto_examples"
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
IMAGE = re.compile(r'<img[^>]*\ssrc="([^"]+)"')
LINK = re.compile(r'href="([^"#]+\.html)(?:#[^"]*)?"')


@pytest.fixture(scope="module")
def site():
    """The built site's folder; skip (or fail under SKDNN_REQUIRE_SITE=1) without it."""
    if not (SITE / "index.html").is_file():
        message = (
            f"the documentation site is not built ({SITE / 'index.html'} is missing); "
            "build it with: python -m sphinx -W --keep-going -b html docs docs/_build/html"
        )
        if os.environ.get("SKDNN_REQUIRE_SITE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return SITE


def _pages(folder):
    return {path: path.read_text(encoding="utf-8") for path in folder.rglob("*.html")}


def _api_pages(site):
    pages = {site / "api.html": (site / "api.html").read_text(encoding="utf-8")}
    pages.update(_pages(site / "generated"))
    return pages


@pytest.mark.parametrize("name", skdnn.__all__)
def test_api_reference_documents_every_public_name(site, name):
    # Sphinx anchors each documented object at its full name.
    anchor = f'id="skdnn.{name}"'
    assert any(anchor in html for html in _api_pages(site).values()), (
        f"skdnn.{name} is in skdnn.__all__ but not documented in the API reference "
        "(add it to docs/api.rst)"
    )


def _public_methods(cls):
    return [
        name
        for name in dir(cls)
        if not name.startswith("_")
        and inspect.isroutine(getattr(cls, name, None))
        and not hasattr(BaseException, name)  # an exception's own methods are Python's
    ]


@pytest.mark.parametrize(
    "cls",
    [getattr(skdnn, name) for name in skdnn.__all__ if inspect.isclass(getattr(skdnn, name))],
    ids=lambda cls: cls.__name__,
)
def test_api_pages_document_every_public_method(site, cls):
    # Each method on its class's page, with its parameters (numpydoc's table).
    page = site / "generated" / f"skdnn.{cls.__name__}.html"
    html = page.read_text(encoding="utf-8")
    missing = [
        name for name in _public_methods(cls) if f'id="skdnn.{cls.__name__}.{name}"' not in html
    ]
    assert not missing, f"{page.name} does not document {missing}"
    if "fit" in _public_methods(cls):
        method = html.split('id="skdnn.{}.fit"'.format(cls.__name__), 1)[1]
        assert "Parameters" in method.split("</dl>", 1)[0] or "Parameters" in method[:5000]


@pytest.mark.parametrize("name", ["GridSearchCV", "RandomizedSearchCV"])
def test_the_searches_have_api_pages_with_their_methods(site, name):
    import skdnn.model_selection

    cls = getattr(skdnn.model_selection, name)
    page = site / "generated" / f"skdnn.model_selection.{name}.html"
    html = page.read_text(encoding="utf-8")
    full = f"skdnn.model_selection.{name}"
    missing = [m for m in _public_methods(cls) if f'id="{full}.{m}"' not in html]
    assert f'id="{full}"' in html and not missing, f"{page.name} does not document {missing}"
    # And the page that says when they pay is on the site.
    assert "What falls back" in (site / "fast_search.html").read_text(encoding="utf-8")


def test_each_estimator_is_listed_once(site):
    html = (site / "api.html").read_text(encoding="utf-8")
    for name in ("DNNClassifier", "KerasClassifier", "KerasRegressor"):
        assert html.count(f'href="generated/skdnn.{name}.html#skdnn.{name}"') == 1, name


def test_install_changelog_and_contributing_pages(site):
    for page, text in [
        ("install.html", "installed from a checkout"),
        ("changelog.html", "Unreleased"),
        ("contributing.html", "Minimum versions"),
    ]:
        assert text in (site / page).read_text(encoding="utf-8"), page


def test_every_gallery_image_is_shown(site):
    images = sorted((GALLERY / "images").glob("*.png"))  # thumbnails are in images/thumb
    assert images, f"the gallery produced no figure in {GALLERY / 'images'}"
    shown = set()
    for path, html in _pages(site).items():
        for src in IMAGE.findall(html):
            target = (path.parent / src).resolve()
            if target.is_file():
                shown.add(target.name)
    missing = [image.name for image in images if image.name not in shown]
    assert not missing, f"gallery figures shown on no page of the site: {missing}"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_has_a_gallery_page(site, script):
    page = site / "auto_examples" / f"{script.stem}.html"
    assert page.is_file(), f"examples/{script.name} has no gallery page ({page})"


WORKFLOWS = sorted((ROOT / "docs" / "workflows").glob("*.md"))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_pages_link_an_example_with_figures(site, workflow):
    page = site / "workflows" / f"{workflow.stem}.html"
    html = page.read_text(encoding="utf-8")
    examples = {
        (page.parent / href).resolve()
        for href in LINK.findall(html)
        if "auto_examples/" in href and not href.endswith("index.html")
    }
    assert examples, f"{page.name} links no gallery example"
    for example in examples:
        assert example.is_file(), f"{page.name} links {example}, which was not built"
    with_figures = [
        example
        for example in examples
        if any("sphx_glr_" in src for src in IMAGE.findall(example.read_text(encoding="utf-8")))
    ]
    assert with_figures, f"none of the examples that {page.name} links shows a figure"


@pytest.mark.parametrize("page", ["user_guide", "migration", "scaling", "api", "benchmarks"])
def test_pages_are_built(site, page):
    assert (site / f"{page}.html").is_file()


def test_the_tabular_page_shows_its_figure(site):
    html = (site / "tabular.html").read_text(encoding="utf-8")
    assert "tabular_scores.png" in html and (site / "_images" / "tabular_scores.png").is_file()


def test_benchmark_page_starts_with_results_and_no_history(site):
    # A short table of results against goals first; the round-by-round notes
    # (commits, dates) stay in benchmarks/README.md in the repository.
    html = (site / "benchmarks.html").read_text(encoding="utf-8")
    text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
    assert "Results against goals" in text and "PASS" not in text
    assert text.index("Results against goals") < text.index("Running them")
    assert not re.search(r"\b[0-9a-f]{7}\b", text.split("Results against goals", 1)[1]), (
        "a commit hash on the Benchmarks page"
    )
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "a date on the Benchmarks page"


def test_gallery_starts_with_the_quickstart_and_ends_with_dask(site):
    html = (site / "auto_examples" / "index.html").read_text(encoding="utf-8")
    examples = {p.stem for p in EXAMPLES}
    order = []
    for href in LINK.findall(html):
        stem = pathlib.PurePosixPath(href).stem
        if stem in examples and stem not in order:
            order.append(stem)
    assert sorted(order) == sorted(examples), order
    assert order[0] == "quickstart" and order[-1] == "dask_grid_search", order


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_gallery_output_shows_no_machine_path_or_download(site, script):
    html = (site / "auto_examples" / f"{script.stem}.html").read_text(encoding="utf-8")
    text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
    for leak in (str(ROOT), str(pathlib.Path.home()) + "/", "/tmp/", "Downloading data from"):
        assert leak not in text, f"{script.name}'s gallery page shows {leak!r}"


def test_user_guide_links_the_api_pages(site):
    # The user guide's first mention of each public name in a section links
    # to its API page.
    html = (site / "user_guide.html").read_text(encoding="utf-8")
    linked = set(LINK.findall(html))
    missing = [
        name
        for name in skdnn.__all__
        if name != "__version__" and f"generated/skdnn.{name}.html" not in linked
    ]
    assert not missing, f"the user guide links no API page for {missing}"
