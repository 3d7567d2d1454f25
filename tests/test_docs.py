"""The docs and examples stay true: API reference complete, examples run."""

import ast
import inspect
import os
import pathlib
import re
import subprocess
import sys
import time
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

import skdnn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_api_reference_lists_every_public_name():
    # docs/api.rst is the site's API reference: autosummary generates a page
    # for each name it lists, from the docstrings. tests/test_site.py checks
    # the built pages.
    text = (ROOT / "docs" / "api.rst").read_text()
    listed = set(re.findall(r"^   ([A-Za-z_]\w*)$", text, re.MULTILINE))
    listed |= set(re.findall(r"^\.\. data:: (\w+)$", text, re.MULTILINE))
    assert listed == set(skdnn.__all__), (
        f"docs/api.rst lists {sorted(listed)}, skdnn.__all__ is {sorted(skdnn.__all__)}"
    )


def test_api_reference_lists_the_searches():
    import skdnn.model_selection

    text = (ROOT / "docs" / "api.rst").read_text()
    listed = set(re.findall(r"^   model_selection\.(\w+)$", text, re.MULTILINE))
    assert listed == set(skdnn.model_selection.__all__)


@pytest.mark.parametrize(
    "cls", [skdnn.DNNClassifier, skdnn.DNNRegressor, skdnn.KerasClassifier, skdnn.KerasRegressor]
)
def test_public_methods_have_numpydoc_docstrings(cls):
    for section in ("Parameters", "Attributes", "See Also", "Examples"):
        assert f"\n    {section}\n    ---" in cls.__doc__, section
    assert not re.search(r"\{[a-z_]+\}", cls.__doc__), "unsubstituted docstring block"
    for name in ("fit", "predict"):
        doc = inspect.getdoc(getattr(cls, name))
        assert "Parameters\n----------" in doc and "Returns\n-------" in doc
    # Every constructor parameter is documented.
    for param in inspect.signature(cls).parameters.values():
        stars = "**" if param.kind is param.VAR_KEYWORD else ""
        assert f"\n    {stars}{param.name} : " in cls.__doc__, param.name


def _readme_block(heading):
    """The first ```python block of README.md after the line ``heading``."""
    text = (ROOT / "README.md").read_text()
    assert heading in text, f"README.md has no heading {heading!r}"
    section = text[text.index(heading) :]
    match = re.search(r"^```python\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)
    assert match, f"no python block under {heading!r} in README.md"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.quality
def test_readme_cnn_search_reaches_a_sensible_accuracy(tmp_path, monkeypatch, capsys):
    # The README's KerasClassifier snippet, run as written: its grid search
    # on the digits images must show what a small CNN does there.
    monkeypatch.chdir(tmp_path)
    code = _readme_block("### Your own network")
    namespace = {"__name__": "__readme__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(compile(code, "README.md", "exec"), namespace)
    search = namespace["search"]
    assert search.best_score_ >= 0.9, search.cv_results_["mean_test_score"]
    assert f"accuracy {search.best_score_:.3f}" in capsys.readouterr().out


@pytest.mark.parametrize("page", ["README.md", "docs/user_guide.md"])
def test_docs_name_exactly_the_expected_failed_checks(page):
    # The checks the docs say fail are those tests/test_common.py expects to
    # fail, on some estimator.
    text = (ROOT / page).read_text()
    named = set(re.findall(r"`(check_\w+)`", text)) - {"check_estimator"}  # the runner
    named -= set(re.findall(r"`(check_\w+)` is skipped", text))
    estimators = (
        skdnn.DNNClassifier(),
        skdnn.DNNRegressor(),
        skdnn.DNNRegressor(numeric_embedding=None),
        skdnn.KerasClassifier(),
    )
    assert named == set().union(*(skdnn.expected_failed_checks(est) for est in estimators))


EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
# The figures each example saves under examples/output/ when run with no
# display, named by the figures' labels; the other examples draw none.
FIGURES = {
    "grid_search_pipeline.py": ["grid_search_scores.png"],
    "image_classification.py": ["image_classification_curves.png"],
    "plot_cnn_digits.py": ["cnn_digits_curves.png"],
    "regression_sgd.py": ["regression_sgd_predictions.png"],
    "training_curves.py": ["epoch_loss.png", "training_curves.png"],
}


def _docs_conf_list(name):
    """The list of strings assigned to ``name`` in docs/conf.py."""
    tree = ast.parse((ROOT / "docs" / "conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"docs/conf.py assigns no {name}")


def test_gallery_lists_every_example_quickstart_first_and_dask_last():
    order = _docs_conf_list("EXAMPLE_ORDER")
    assert sorted(order) == EXAMPLES, "docs/conf.py's EXAMPLE_ORDER must list every example once"
    assert order[0] == "quickstart.py" and order[-1] == "dask_grid_search.py", order


@pytest.mark.parametrize("script", EXAMPLES)
def test_examples_are_written_in_gallery_cells(script):
    # As scikit-learn's examples: a docstring with a title and an intro, then
    # code cells each introduced by a "# %%" comment block that explains it.
    source = (ROOT / "examples" / script).read_text()
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree)
    lines = docstring.splitlines()
    title = next(i for i, line in enumerate(lines) if line.strip() and set(line) != {"="})
    assert set(lines[title + 1]) == {"="} and len(lines[title + 1]) >= len(lines[title])
    assert len([line for line in lines[title + 2 :] if line.strip()]) >= 2, "no introduction"
    cells = source.split("\n# %%\n")[1:]
    assert len(cells) >= 2, "fewer than two code cells"
    for cell in cells:
        assert cell.startswith("# "), f"a cell without text explaining it: {cell[:80]!r}"
    assert "noqa" not in source
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    # Only the Dask example guards its cluster: Dask's workers import it again.
    assert ("__main__" in source) == (script == "dask_grid_search.py")


def _show_figures_source(script):
    """The source of the ``show_figures`` function of ``examples/<script>``, or None."""
    source = (ROOT / "examples" / script).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == "show_figures":
            return ast.get_source_segment(source, node)
    return None


def test_examples_that_plot_share_one_show_figures():
    # Each script stays standalone (the gallery offers it for download on its
    # own), so each carries its copy of the function: the copies must agree.
    plotting = [s for s in EXAMPLES if "matplotlib" in (ROOT / "examples" / s).read_text()]
    assert sorted(plotting) == sorted(FIGURES)
    sources = {script: _show_figures_source(script) for script in plotting}
    assert all(sources.values()), [script for script, code in sources.items() if not code]
    assert len(set(sources.values())) == 1, "the examples' show_figures functions differ"


def test_show_figures_saves_with_no_display_and_prints_a_relative_path(
    tmp_path, monkeypatch, capsys
):
    import matplotlib.pyplot as plt

    # As sphinx-gallery runs a script: Agg, the script's path in sys.argv[0]
    # and its folder as the working directory.
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "example.py")])
    monkeypatch.chdir(tmp_path)
    namespace = {"os": os, "sys": sys}
    exec(_show_figures_source("regression_sgd.py"), namespace)
    with plt.rc_context({"backend": "agg"}):
        figure = plt.figure("my_plot")
        try:
            namespace["show_figures"]()
            assert plt.fignum_exists(figure.number), "the gallery captures open figures"
        finally:
            plt.close(figure)
    assert (tmp_path / "output" / "my_plot.png").stat().st_size > 0
    saved = os.path.join("output", "my_plot.png")
    assert capsys.readouterr().out == f"Saved figure: {saved}\n"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES)
def test_example_runs(script, tmp_path):
    import matplotlib.image

    # Run as on a server or in CI (no display) and from outside the
    # repository: each figure is saved beside the script and its path printed.
    # In quick mode, as the documentation build runs them.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg", SKDNN_EXAMPLES_QUICK="1")
    env.pop("DISPLAY", None)
    env.pop("SKDNN_EXAMPLES_DOWNLOAD", None)  # Keras's data sets only if cached
    started = time.time()
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()
    saved = re.findall(r"^Saved figure: (.+)$", result.stdout, re.MULTILINE)
    expected = [ROOT / "examples" / "output" / name for name in FIGURES.get(script, [])]
    assert sorted(map(pathlib.Path, saved)) == sorted(expected), result.stdout[-3000:]
    for path in expected:
        assert path.stat().st_mtime >= started - 2, f"{path} was not written by this run"
        # Readable at the gallery's width (about 900 pixels): no wide row of panels.
        width = matplotlib.image.imread(path).shape[1]
        assert width <= 1100, f"{path.name} is {width} pixels wide"
    # The gallery shows this output: no download attempt.
    assert "Downloading data from" not in result.stdout + result.stderr
