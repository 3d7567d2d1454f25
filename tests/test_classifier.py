"""DNNClassifier's targets: label types, binary, multiclass, multilabel, weights."""

import pickle

import numpy as np
import pytest
from conftest import FAST, assert_reproduced
from sklearn.datasets import make_multilabel_classification

from skdnn import DNNClassifier


@pytest.mark.parametrize(
    "labels",
    [np.array(["cat", "dog", "owl"]), np.array([3, 7, 11]), np.array([-1.0, 0.0, 2.0])],
)
def test_labels_round_trip(labels, classification_data):
    X, y = classification_data
    y_labels = labels[y]
    clf = DNNClassifier(**FAST).fit(X, y_labels)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    predicted = clf.predict(X)
    assert predicted.dtype == y_labels.dtype
    assert set(predicted) <= set(labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)  # float32, as X
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)
    assert clf.decision_function(X).shape == (len(X), 3)


def test_binary_boolean_labels(classification_data):
    X, y = classification_data
    y_bool = y == 1
    clf = DNNClassifier(**{**FAST, "epochs": 30, "learning_rate": 0.05}).fit(X, y_bool)
    assert clf.n_outputs_ == 1
    assert clf.predict(X).dtype == bool
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    # float32 X gives float32 probabilities: equal to float32 precision.
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    scores = clf.decision_function(X)
    assert scores.shape == (len(X),)
    np.testing.assert_array_equal(clf.predict(X), scores > 0)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scores)), rtol=1e-6)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-6)
    assert clf.score(X, y_bool) > 0.7


def test_multilabel():
    X, Y = make_multilabel_classification(n_samples=150, n_features=8, n_classes=4, random_state=0)
    clf = DNNClassifier(**{**FAST, "epochs": 40, "learning_rate": 0.05}).fit(X, Y)
    assert clf.n_outputs_ == 4
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    predicted = clf.predict(X)
    assert predicted.shape == Y.shape and set(np.unique(predicted)) <= {0, 1}
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))
    assert (predicted == Y).mean() > 0.7


@pytest.mark.parametrize("loss_name", ["categorical_crossentropy", "CategoricalCrossentropy"])
def test_one_hot_rows_with_a_categorical_loss_are_multiclass(loss_name, classification_data):
    # As in Keras: to_categorical(y) with a categorical cross-entropy.
    import keras

    X, y = classification_data
    loss = loss_name if loss_name.islower() else keras.losses.CategoricalCrossentropy()
    Y = keras.utils.to_categorical(y)
    params = {**FAST, "epochs": 30, "learning_rate": 0.05}
    clf = DNNClassifier(loss=loss, **params).fit(X, Y)
    labels = DNNClassifier(**params).fit(X, y)
    assert clf.n_outputs_ == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)  # one softmax
    # The same network as from the labels: the same cross-entropy.
    np.testing.assert_allclose(clf.loss_curve_, labels.loss_curve_, rtol=1e-3)
    predicted = clf.predict(X)
    assert predicted.shape == Y.shape
    np.testing.assert_array_equal(predicted.sum(axis=1), 1)
    np.testing.assert_array_equal(predicted.argmax(axis=1), labels.predict(X))
    assert clf.score(X, Y) == labels.score(X, y) > 0.7
    # Early stopping stratifies by class; partial_fit and warm starts go on.
    DNNClassifier(loss=loss, early_stopping=True, **params).fit(X, Y)
    clf.set_params(warm_start=True).fit(X, Y)
    clf.partial_fit(X, Y)
    with pytest.raises(ValueError, match="one-hot rows of 3 labels"):
        clf.partial_fit(X, Y[:, :2])
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))


def test_several_labels_per_row_stay_multilabel(classification_data):
    X, _ = classification_data
    Y = np.zeros((len(X), 3), dtype=int)
    Y[:, 0] = 1
    Y[::2, 1] = 1
    multilabel = DNNClassifier(loss="binary_crossentropy", **FAST).fit(X, Y)
    assert multilabel.predict_proba(X).shape == (len(X), 3)
    assert multilabel._target_encoder.target_type_ == "multilabel-indicator"
    with pytest.raises(ValueError, match="row 0 of y holds 2 ones.*binary_crossentropy"):
        DNNClassifier(loss="categorical_crossentropy", **FAST).fit(X, Y)


def test_one_class_and_continuous_targets_are_rejected(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match="at least 2 classes"):
        DNNClassifier(**FAST).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        DNNClassifier(**FAST).fit(X, np.linspace(0, 1, len(X)))


def test_zero_sample_weight_removes_a_class(classification_data):
    X, y = classification_data
    weights = (y != 2).astype(float)
    params = {**FAST, "epochs": 40, "learning_rate": 0.05}
    clf = DNNClassifier(**params).fit(X, y, sample_weight=weights)
    assert 2 not in clf.predict(X)
    assert 2 in DNNClassifier(**params).fit(X, y).predict(X)


def test_class_weight_balanced_favours_minority():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.8 * rng.normal(size=300) > 1.3).astype(int)  # ~15% positives
    plain = DNNClassifier(**{**FAST, "epochs": 40}).fit(X, y)
    balanced = DNNClassifier(class_weight="balanced", **{**FAST, "epochs": 40}).fit(X, y)
    assert balanced.predict(X).sum() > plain.predict(X).sum()
    by_dict = DNNClassifier(class_weight={0: 1.0, 1: 10.0}, **{**FAST, "epochs": 40}).fit(X, y)
    assert by_dict.predict(X).sum() > plain.predict(X).sum()


def test_keras_loss_object(classification_data):
    import keras

    X, y = classification_data
    loss = keras.losses.SparseCategoricalCrossentropy()  # on probabilities, as in Keras
    clf = DNNClassifier(loss=loss, **{**FAST, "epochs": 30}).fit(X, y)
    auto = DNNClassifier(**{**FAST, "epochs": 30}).fit(X, y)
    np.testing.assert_allclose(clf.loss_curve_, auto.loss_curve_, rtol=1e-3)
    assert loss.reduction == "sum_over_batch_size"  # the parameter is not changed


def test_warm_start_rejects_new_classes(classification_data):
    X, y = classification_data
    clf = DNNClassifier(warm_start=True, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="classes"):
        clf.fit(X, y + 1)


def test_keras_loss_names_fit_the_target(classification_data):
    X, y = classification_data
    auto = DNNClassifier(**FAST).fit(X, y)
    for name in ("sparse_categorical_crossentropy", "categorical_crossentropy", "log_loss"):
        named = DNNClassifier(loss=name, **FAST).fit(X, y)
        assert_reproduced(named.predict_proba(X), auto.predict_proba(X))
    with pytest.raises(ValueError, match="'binary_crossentropy' does not fit a 'multiclass'"):
        DNNClassifier(loss="binary_crossentropy", **FAST).fit(X, y)
    # Binary labels: Keras's two-class softmax is the sigmoid skdnn trains.
    binary = DNNClassifier(loss="sparse_categorical_crossentropy", **FAST).fit(X, y == 1)
    assert_reproduced(
        binary.predict_proba(X),
        DNNClassifier(loss="binary_crossentropy", **FAST).fit(X, y == 1).predict_proba(X),
    )


def test_keras_loss_objects_get_the_targets_they_expect(classification_data):
    import keras

    X, y = classification_data
    auto = DNNClassifier(**FAST).fit(X, y)
    # One-hot targets for CategoricalCrossentropy, logits with from_logits=True:
    # the same cross-entropy as "auto", up to float32 rounding.
    for loss in (
        keras.losses.CategoricalCrossentropy(),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ):
        est = DNNClassifier(loss=loss, **FAST).fit(X, y)
        np.testing.assert_allclose(est.loss_curve_, auto.loss_curve_, rtol=1e-4)
    with pytest.raises(ValueError, match="BinaryCrossentropy.*does not fit a 'multiclass'"):
        DNNClassifier(loss=keras.losses.BinaryCrossentropy(), **FAST).fit(X, y)


@pytest.mark.parametrize("spelling", ["Adam", "SGD", "RMSprop", "Nadam"])
def test_optimizer_names_as_keras_spells_them(spelling, classification_data):
    X, y = classification_data
    keras_spelling = DNNClassifier(optimizer=spelling, **FAST).fit(X, y)
    lower = DNNClassifier(optimizer=spelling.lower(), **FAST).fit(X, y)
    assert type(keras_spelling.model_.optimizer).__name__ == spelling
    assert_reproduced(keras_spelling.predict_proba(X), lower.predict_proba(X))


def test_unknown_optimizer_name_lists_the_known_ones(classification_data):
    from sklearn.utils._param_validation import InvalidParameterError

    from skdnn._keras_names import optimizer_name

    est = DNNClassifier(optimizer="adamm", **FAST)
    with pytest.raises(InvalidParameterError, match="'optimizer' parameter.*'adam'.*in any case"):
        est.fit(*classification_data)
    assert not hasattr(est, "model_")
    with pytest.raises(ValueError, match="optimizer='adamm'.*Did you mean 'adam'"):
        optimizer_name("adamm")
