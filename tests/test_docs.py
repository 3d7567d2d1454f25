"""The docs and examples stay true: API reference complete, examples run."""

import inspect
import os
import pathlib
import re
import subprocess
import sys
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


EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES)
def test_example_runs(script):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()
