"""Pipelines, grid search and cross-validation with the estimators."""

import warnings

import numpy as np
import pytest
from conftest import FAST
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdnn import DNNClassifier, DNNRegressor


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.mark.parametrize("Estimator", [DNNClassifier, DNNRegressor])
def test_pipeline_and_cross_val_score(Estimator, data_for):
    X, y = data_for(Estimator)
    estimator = Estimator(**{**FAST, "epochs": 30, "learning_rate": 0.01})
    pipe = make_pipeline(StandardScaler(), estimator)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() > (0.6 if Estimator is DNNClassifier else 0.5)


def test_cross_validation_is_stratified_for_the_classifier(classification_data):
    X, y = classification_data
    # scikit-learn picks StratifiedKFold only when its tags show a classifier.
    from sklearn.base import is_classifier
    from sklearn.model_selection import check_cv

    pipe = make_pipeline(StandardScaler(), DNNClassifier())
    assert isinstance(check_cv(3, y, classifier=is_classifier(pipe)), StratifiedKFold)
    assert not is_classifier(make_pipeline(StandardScaler(), DNNRegressor()))


@pytest.mark.parametrize("Estimator", [DNNClassifier, DNNRegressor])
def test_grid_search_over_learning_rate_momentum_depth(Estimator, data_for):
    X, y = data_for(Estimator)
    pipe = make_pipeline(StandardScaler(), Estimator(optimizer="sgd", **{**FAST, "epochs": 10}))
    grid = {
        "dnn" + Estimator.__name__[3:].lower() + "__learning_rate": [1e-4, 0.05],
        "dnn" + Estimator.__name__[3:].lower() + "__momentum": [0.0, 0.9],
        "dnn" + Estimator.__name__[3:].lower() + "__hidden_layer_sizes": [(16,), (16, 16)],
    }
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 8
    assert np.all(np.isfinite(results["mean_test_score"]))
    best_lr = search.best_params_[next(k for k in grid if k.endswith("learning_rate"))]
    assert best_lr == 0.05  # 1e-4 for 10 epochs learns next to nothing
    assert search.best_estimator_[-1].n_iter_ > 0
    # Every candidate's estimator was a clone with its own parameters.
    assert (
        clone(search.best_estimator_).get_params()[
            next(k for k in grid if k.endswith("hidden_layer_sizes"))
        ]
        == search.best_params_[next(k for k in grid if k.endswith("hidden_layer_sizes"))]
    )
