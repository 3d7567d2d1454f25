"""Out-of-the-box quality on data sets shipped with scikit-learn.

Default hyperparameters must match scikit-learn's MLP defaults in 5-fold
cross-validation.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdnn import DNNClassifier, DNNRegressor


def _cv_score(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cross_val_score(estimator, X, y, cv=5).mean()


@pytest.mark.slow
@pytest.mark.quality
def test_digits_accuracy():
    # Two seeds: one seed's 5-fold score moves by about 0.005 with the initial
    # weights, which each backend draws from its own random numbers (given
    # the same start, both train the same curve).
    X, y = load_digits(return_X_y=True)
    scores = [_cv_score(DNNClassifier(random_state=seed), X / 16.0, y) for seed in (0, 1)]
    assert np.mean(scores) >= 0.935


@pytest.mark.slow
@pytest.mark.quality
def test_breast_cancer_accuracy():
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), DNNClassifier(random_state=0))
    assert _cv_score(model, X, y) >= 0.97


@pytest.mark.slow
@pytest.mark.quality
def test_diabetes_r2():
    X, y = load_diabetes(return_X_y=True)
    model = make_pipeline(StandardScaler(), DNNRegressor(random_state=0))
    assert _cv_score(model, X, y) >= 0.45
