"""docs/migration.md stays true: its examples run, its skdnn parameters exist.

Every ```python block of the page is executed; the "before" code of
libraries skdnn does not depend on (scikeras, tf.estimator) is in ```text
blocks and is not.
"""

import difflib
import inspect
import pathlib
import re

import pytest

from skdnn import DNNClassifier, DNNRegressor, KerasClassifier, KerasRegressor

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "migration.md"
TEXT = PAGE.read_text()


def _python_blocks(text):
    """Return ``(line, code)`` for each ```python block, ``line`` 1-based."""
    pattern = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1)) for match in pattern.finditer(text)
    ]


BLOCKS = _python_blocks(TEXT)


def test_one_example_per_table():
    # MLP, scikeras and tf.estimator.
    assert len(BLOCKS) == 3


@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_python_block_runs(line, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything an example writes lands here
    exec(compile(code, f"{PAGE}:{line}", "exec"), {"__name__": "__migration__"})


def test_skdnn_column_names_real_parameters():
    # In the tables' skdnn column, every code span that starts with
    # ``name=`` sets a parameter: it must exist in one of the estimators.
    parameters = set()
    for Estimator in (DNNClassifier, DNNRegressor, KerasClassifier, KerasRegressor):
        parameters |= set(inspect.signature(Estimator).parameters)
    named = set()
    for row in TEXT.splitlines():
        cells = row.split(" | ")
        if row.startswith("| ") and len(cells) >= 3:
            named |= set(re.findall(r"`([a-z_]+)=", cells[1]))
    assert {"learning_rate", "epochs", "nesterov", "hidden_layer_sizes"} <= named
    named = {name for name in named if not name.startswith("model__")}  # routed: any name
    assert named <= parameters, sorted(named - parameters)


def _function(text, name):
    """The lines of the function ``name`` defined in ``text`` (up to a blank line)."""
    match = re.search(rf"^def {name}\(.*?(?=^\s*$)", text, re.DOTALL | re.MULTILINE)
    assert match, f"no function {name} in the block"
    return match.group(0).rstrip("\n").splitlines()


def test_scikeras_build_function_becomes_a_body_in_five_changed_lines():
    # The scikeras function (a ```text block) and its skdnn body (the
    # ```python block run above) on this page.
    before = next(
        block
        for block in re.findall(r"^```text\n(.*?)^```$", TEXT, re.DOTALL | re.MULTILINE)
        if "def build_model" in block
    )
    after = next(code for _, code in BLOCKS if "def build_model" in code)
    diff = list(difflib.ndiff(_function(before, "build_model"), _function(after, "build_model")))
    removed = [line for line in diff if line.startswith("- ")]
    added = [line for line in diff if line.startswith("+ ")]
    assert any("model.compile" in line for line in removed)
    assert any("meta" in line for line in removed)
    assert max(len(removed), len(added)) <= 5, diff
