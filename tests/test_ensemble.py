"""Ensembles: ``n_ensemble`` networks from different seeds, averaged."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from conftest import FAST
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV as SklearnGridSearchCV

import skdnn
from skdnn import DNNClassifier, DNNRegressor, KerasRegressor
from skdnn._network.ensemble import ensemble_members
from skdnn._network.inference import forward
from skdnn._training import population
from skdnn.model_selection import GridSearchCV

ENSEMBLE = {**FAST, "epochs": 8, "n_ensemble": 3}


def _fit(estimator, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **kwargs)


@pytest.fixture(scope="module")
def classification(classification_data):
    return classification_data  # conftest's: 3 classes, float32


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=120, n_features=5, noise=10, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def classifier_ensemble(classification):
    return _fit(DNNClassifier(**ENSEMBLE), *classification)


@pytest.fixture(scope="module")
def regressor_ensemble(regression):
    return _fit(DNNRegressor(**ENSEMBLE), *regression)


def _softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_classifier_averages_its_members_probabilities(classifier_ensemble, classification):
    X, y = classification
    members = ensemble_members(classifier_ensemble.model_)
    assert len(members) == 3
    member_proba = [_softmax(forward(member, X).astype(np.float64)) for member in members]
    proba = classifier_ensemble.predict_proba(X)
    np.testing.assert_allclose(proba, np.mean(member_proba, axis=0), rtol=1e-5, atol=1e-6)
    # The members differ: they are three networks, not one three times.
    assert np.abs(member_proba[0] - member_proba[1]).max() > 1e-3
    np.testing.assert_array_equal(
        classifier_ensemble.predict(X), classifier_ensemble.classes_[proba.argmax(axis=1)]
    )
    # model_ is one Keras model whose output is the average.
    keras_proba = np.asarray(classifier_ensemble.model_.predict(X, verbose=0))
    np.testing.assert_allclose(keras_proba, proba, rtol=1e-4, atol=1e-5)


def test_binary_ensemble_decision_is_the_logit_of_the_mean_probability():
    X, y = make_classification(n_samples=80, n_features=4, random_state=1)
    est = _fit(DNNClassifier(**ENSEMBLE), X, y)
    proba = est.predict_proba(X)[:, 1]
    np.testing.assert_allclose(est.decision_function(X), np.log(proba / (1 - proba)), rtol=1e-6)
    np.testing.assert_array_equal(est.predict(X), (proba > 0.5).astype(int))


def test_first_member_is_the_single_network_of_the_same_seed(classifier_ensemble, classification):
    X, y = classification
    single = _fit(DNNClassifier(**{**ENSEMBLE, "n_ensemble": 1}), X, y)
    first = ensemble_members(classifier_ensemble.model_)[0]
    np.testing.assert_allclose(forward(first, X), forward(single.model_, X), rtol=1e-4, atol=1e-5)


def test_regressor_mean_and_spread(regressor_ensemble, regression):
    X, y = regression
    members = ensemble_members(regressor_ensemble.model_)
    each = np.stack([forward(member, X).ravel() for member in members])
    mean, std = regressor_ensemble.predict(X, return_std=True)
    np.testing.assert_allclose(mean, each.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, each.std(axis=0), rtol=1e-6, atol=1e-9)
    assert mean.shape == std.shape == (len(X),) and np.all(std > 0)
    np.testing.assert_allclose(regressor_ensemble.predict(X), mean)
    keras_mean = np.asarray(regressor_ensemble.model_.predict(X, verbose=0)).ravel()
    np.testing.assert_allclose(keras_mean, mean, rtol=1e-4, atol=1e-3)


def test_return_std_of_several_outputs_has_their_shape(regression):
    X, y = regression
    est = _fit(DNNRegressor(**{**ENSEMBLE, "n_ensemble": 2}), X, np.c_[y, -y])
    mean, std = est.predict(X[:7], return_std=True)
    assert mean.shape == std.shape == (7, 2)


def test_return_std_needs_an_ensemble(regression):
    X, y = regression
    est = _fit(DNNRegressor(**FAST), X, y)
    with pytest.raises(ValueError, match="return_std=True needs an ensemble"):
        est.predict(X, return_std=True)


def test_history_and_epochs_summarize_the_members(classifier_ensemble):
    assert classifier_ensemble.n_iter_ == ENSEMBLE["epochs"]
    assert len(classifier_ensemble.history_["loss"]) == ENSEMBLE["epochs"]
    assert classifier_ensemble.loss_curve_ == classifier_ensemble.history_["loss"]
    assert classifier_ensemble.best_loss_ == min(classifier_ensemble.loss_curve_)


def test_members_train_as_one_population(classification, monkeypatch):
    trained = []
    original = population.train_fits

    def counting(fits):
        store = original(fits)
        trained.append(sum(fit.result is not None for fit in fits))
        return store

    monkeypatch.setattr(population, "train_fits", counting)
    _fit(DNNClassifier(**ENSEMBLE), *classification)
    assert len(trained) == 1
    if skdnn._training.backends.get_backend().name in ("jax", "tensorflow", "torch"):
        assert trained[0] == ENSEMBLE["n_ensemble"]


@pytest.mark.parametrize("fitted", ["classifier_ensemble", "regressor_ensemble"])
def test_saved_and_pickled_ensembles_predict_the_same(fitted, request, tmp_path):
    est = request.getfixturevalue(fitted)
    X = np.random.RandomState(0).normal(size=(9, est.n_features_in_))
    expected = est.predict(X)
    est.save(tmp_path / "ensemble.skdnn")
    for loaded in (skdnn.load(tmp_path / "ensemble.skdnn"), pickle.loads(pickle.dumps(est))):
        np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-6)
        assert len(ensemble_members(loaded.model_)) == 3


def test_warm_start_continues_every_member(classification):
    X, y = classification
    est = _fit(DNNClassifier(**ENSEMBLE, warm_start=True), X, y)
    first = [forward(m, X) for m in ensemble_members(est.model_)]
    loss = list(est.history_["loss"])
    _fit(est, X, y)
    assert est.n_iter_ == 2 * ENSEMBLE["epochs"]
    assert est.history_["loss"][: len(loss)] == loss
    members = ensemble_members(est.model_)
    assert len(members) == 3
    for before, member in zip(first, members, strict=True):
        assert np.abs(forward(member, X) - before).max() > 1e-4
    # Each member continues its own optimizer: its step count adds up.
    assert all(int(m.optimizer.iterations) == 2 * ENSEMBLE["epochs"] for m in members)


def test_partial_fit_trains_every_member_one_epoch(classification):
    X, y = classification
    est = DNNClassifier(**ENSEMBLE)
    for _ in range(3):
        est.partial_fit(X, y, classes=np.unique(y))
    assert est.n_iter_ == 3 and len(est.history_["loss"]) == 3
    members = ensemble_members(est.model_)
    assert len(members) == 3 and all(int(m.optimizer.iterations) == 3 for m in members)


def test_continuing_with_another_number_of_members_fails_cleanly(
    classifier_ensemble, classification
):
    X, y = classification
    est = copy.copy(classifier_ensemble)  # shares the fitted network
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match="fitted ensemble of 3 networks, but n_ensemble=1"):
        est.set_params(warm_start=True, n_ensemble=1).fit(X, y)
    with pytest.raises(ValueError, match="fitted ensemble of 3 networks, but n_ensemble=2"):
        est.set_params(n_ensemble=2).partial_fit(X, y)
    # The failed calls changed nothing.
    np.testing.assert_array_equal(est.predict_proba(X), before)
    assert len(ensemble_members(est.model_)) == 3


def test_ensemble_early_stopping_scores_each_members_validation_split(classification):
    X, y = classification
    est = _fit(DNNClassifier(**ENSEMBLE, early_stopping=True, validation_fraction=0.25), X, y)
    assert 0 <= est.best_validation_score_ <= 1 and est.best_loss_ is None
    assert "val_loss" in est.history_


def test_search_over_ensembles_matches_scikit_learns(classification):
    X, y = classification
    grid = {"learning_rate": [0.01, 0.03]}
    ours = GridSearchCV(DNNClassifier(**{**ENSEMBLE, "n_ensemble": 2}), grid, cv=2).fit(X, y)
    theirs = SklearnGridSearchCV(DNNClassifier(**{**ENSEMBLE, "n_ensemble": 2}), grid, cv=2)
    theirs.fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"]
    )


def test_keras_regressor_ensemble(regression):
    import keras

    def body(units=8):
        return keras.Sequential([keras.layers.Dense(units, activation="relu")])

    X, y = regression
    est = _fit(KerasRegressor(model=body, epochs=5, n_ensemble=2, random_state=0), X, y)
    mean, std = est.predict(X[:5], return_std=True)
    assert mean.shape == (5,) and np.all(std >= 0)
    assert len(ensemble_members(est.model_)) == 2
