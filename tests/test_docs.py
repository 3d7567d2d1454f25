"""The docs and examples stay true: API reference current, examples run."""

import importlib.util
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

import skdnn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_api_reference_is_current():
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    build_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_api)
    assert (ROOT / "docs" / "api.md").read_text() == build_api.render(), (
        "docs/api.md is out of date: run python docs/build_api.py"
    )


@pytest.mark.parametrize("cls", [skdnn.DNNClassifier, skdnn.DNNRegressor])
def test_public_methods_have_numpydoc_docstrings(cls):
    for section in ("Parameters", "Attributes", "See Also", "Examples"):
        assert f"\n    {section}\n    ---" in cls.__doc__, section
    assert not re.search(r"\{[a-z_]+\}", cls.__doc__), "unsubstituted docstring block"
    for name in ("fit", "predict"):
        doc = inspect.getdoc(getattr(cls, name))
        assert "Parameters\n----------" in doc and "Returns\n-------" in doc
    # Every constructor parameter is documented.
    for param in inspect.signature(cls).parameters:
        assert f"\n    {param} : " in cls.__doc__, param


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
