"""docs/migration.md stays true: its examples run, its skdnn parameters exist.

Every ```python block of the page is executed; the "before" code of
libraries skdnn does not depend on (scikeras, tf.estimator) is in ```text
blocks and is not.
"""

import inspect
import pathlib
import re

import pytest

from skdnn import DNNClassifier, DNNRegressor

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
    parameters = set(inspect.signature(DNNClassifier).parameters)
    parameters |= set(inspect.signature(DNNRegressor).parameters)
    named = set()
    for row in TEXT.splitlines():
        cells = row.split(" | ")
        if row.startswith("| ") and len(cells) >= 3:
            named |= set(re.findall(r"`([a-z_]+)=", cells[1]))
    assert {"learning_rate", "epochs", "nesterov", "hidden_layer_sizes"} <= named
    assert named <= parameters, sorted(named - parameters)
