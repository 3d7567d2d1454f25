"""Warnings that inform: once per cause, and none for an exact number of epochs."""

import warnings

import pytest
from conftest import ESTIMATORS, FAST
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skdnn import _warnings


@pytest.fixture
def fresh_record(monkeypatch):
    """An empty record of shown warnings, and Python's default filter."""
    monkeypatch.setattr(_warnings, "_shown", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        yield caught


def _convergence(caught):
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_search_warns_once_per_cause(Estimator, data_for, fresh_record):
    X, y = data_for(Estimator)
    grid = {"learning_rate": [0.001, 0.002], "hidden_layer_sizes": [(4,), (5,)]}
    GridSearchCV(Estimator(**{**FAST, "epochs": 2}), grid, cv=2).fit(X, y)  # 9 fits
    caught = _convergence(fresh_record)
    assert len(caught) == 1
    assert "epochs=2" in str(caught[0].message)
    assert "n_iter_no_change=None" in str(caught[0].message)
    # Another cause is another warning; the same one is not repeated.
    Estimator(**{**FAST, "epochs": 3}).fit(X, y)
    Estimator(**{**FAST, "epochs": 3}).fit(X, y)
    assert len(_convergence(fresh_record)) == 2
    # It points at the caller's code, never inside skdnn.
    assert "/skdnn/" not in caught[0].filename.replace("\\", "/")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_always_filter_shows_every_warning(Estimator, data_for, fresh_record):
    X, y = data_for(Estimator)
    warnings.simplefilter("always", ConvergenceWarning)
    for _ in range(2):
        Estimator(**{**FAST, "epochs": 2}).fit(X, y)
    assert len(_convergence(fresh_record)) == 2
    assert _convergence(fresh_record)[0].filename == __file__  # points at the user's line


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_exactly_n_epochs_without_a_warning(Estimator, data_for, fresh_record):
    X, y = data_for(Estimator)
    warnings.simplefilter("error", ConvergenceWarning)
    est = Estimator(**{**FAST, "epochs": 7, "n_iter_no_change": None}).fit(X, y)
    assert est.n_iter_ == 7
