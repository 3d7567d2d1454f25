"""KerasClassifier and KerasRegressor: a network the user brings, skdnn's machinery."""

import copy
import os
import pathlib
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import assert_reproduced, dense_body, fitted_state, predictions, raising_callback
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skdnn import KerasClassifier, KerasRegressor, load

KERAS_ESTIMATORS = [KerasClassifier, KerasRegressor]
# Tiny networks and few epochs: each test pays Keras's per-fit overhead.
SMALL = dict(epochs=3, learning_rate=0.01, random_state=0)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def cnn_body(filters=4, input_shape=None):
    """A small CNN body: convolution, dropout, pooling (its output is a vector)."""
    import keras

    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(filters, 3, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )


def body_with_a_required_argument(hidden_layer_sizes, input_shape):
    raise AssertionError("only its signature is used")


def scikeras_style_body(hidden_layer_sizes, meta):
    """A build function as scikeras users write it (see docs/migration.md)."""
    raise AssertionError("only its signature is used")


def scikeras_compiling_body(meta, compile_kwargs, hidden=10):
    raise AssertionError("only its signature is used")


@pytest.fixture(scope="module")
def images():
    """300 digit images of shape (8, 8, 1), scaled to [0, 1]."""
    digits = load_digits()
    return digits.images[:300, :, :, None].astype(np.float32) / 16, digits.target[:300]


@pytest.fixture(scope="module")
def fitted_cnn(images):
    X, y = images
    return KerasClassifier(model=cnn_body, model__filters=4, **SMALL).fit(X, y)


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int), X @ rng.normal(size=5) * 1000 + 5000


def _data(Estimator, tabular):
    X, labels, values = tabular
    return X, labels if Estimator is KerasClassifier else values


# ---------------------------------------------------------------------------
# Routed parameters
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", KERAS_ESTIMATORS)
def test_routed_parameters_are_parameters(Estimator):
    est = Estimator(model=dense_body, model__units=8, epochs=7)
    params = est.get_params()
    assert params["model__units"] == 8 and params["model"] is dense_body
    assert "model__units=8" in repr(est)

    copy = clone(est)
    assert copy.get_params() == params  # clone keeps every parameter

    est.set_params(model__units=16, model__extra="x", epochs=3)
    assert est.get_params()["model__units"] == 16
    assert est.get_params()["model__extra"] == "x" and est.epochs == 3
    assert copy.get_params()["model__units"] == 8  # the clone does not share them
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(model_units=3)


def test_grid_search_tunes_routed_parameters(tabular):
    X, y, _ = tabular
    search = GridSearchCV(
        KerasClassifier(model=dense_body, model__units=2, **SMALL),
        {"model__units": [3, 5]},
        cv=2,
    ).fit(X, y)
    assert [p["model__units"] for p in search.cv_results_["params"]] == [3, 5]
    best = search.best_estimator_
    body = best.model_.layers[1]
    assert body.layers[-1].units == search.best_params_["model__units"]


def test_input_shape_is_passed_and_images_are_not_flattened(images, fitted_cnn):
    X, _ = images
    body = fitted_cnn.model_.layers[1]
    assert type(body.layers[0]).__name__ == "Conv2D"
    assert body.input_shape == (None, 8, 8, 1)  # the images, unflattened
    assert fitted_cnn.model_.input_shape == (None, 8, 8, 1)
    assert fitted_cnn.predict_proba(X[:5]).shape == (5, 10)
    with pytest.raises(ValueError, match=r"samples of shape \(64,\), but .* \(8, 8, 1\)"):
        fitted_cnn.predict(X.reshape(len(X), -1))


def test_images_of_another_size_are_named_by_their_shape(images, fitted_cnn):
    # scikit-learn alone would say "X has 16 features, but ... is expecting 8".
    X, y = images
    larger = np.zeros((4, 16, 16, 1), np.float32)
    shapes = r"samples of shape \(16, 16, 1\), but %s .*samples of shape \(8, 8, 1\)\. "
    with pytest.raises(ValueError, match=shapes % "KerasClassifier was fitted on"):
        fitted_cnn.predict(larger)
    warm = copy.deepcopy(fitted_cnn).set_params(warm_start=True)
    with pytest.raises(ValueError, match=shapes % "warm_start=True continues training"):
        warm.fit(larger, y[:4])
    with pytest.raises(ValueError, match=shapes % "partial_fit continues training"):
        warm.partial_fit(larger, y[:4])
    with pytest.raises(ValueError, match=r"X_val has samples of shape \(16, 16, 1\), but X"):
        clone(fitted_cnn).fit(X, y, X_val=larger, y_val=y[:4])
    # A table with the wrong number of columns keeps scikit-learn's message.
    with pytest.raises(ValueError, match="X has 3 features"):
        KerasClassifier(model=dense_body, **SMALL).fit(X[:, :, 0, 0], y).predict(X[:, :3, 0, 0])


def test_routed_input_shape_is_not_overridden(tabular):
    X, y, _ = tabular
    seen = []

    def body(input_shape):
        import keras

        seen.append(input_shape)
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])

    KerasClassifier(model=body, **SMALL).fit(X, y)
    KerasClassifier(model=body, model__input_shape=[5], **SMALL).fit(X, y)
    assert seen == [(5,), [5]]


# ---------------------------------------------------------------------------
# Targets: the task's head on any body
# ---------------------------------------------------------------------------
def test_classifier_targets(tabular):
    X, labels, _ = tabular
    clf = KerasClassifier(model=dense_body, **SMALL)
    binary = clone(clf).fit(X, np.where(labels, "yes", "no"))
    assert binary.predict_proba(X).shape == (120, 2)
    assert set(binary.predict(X)) <= {"yes", "no"}
    assert binary.decision_function(X).shape == (120,)

    multiclass = clone(clf).fit(X, labels + (X[:, 1] > 0))
    assert_array_equal(multiclass.classes_, [0, 1, 2])
    np.testing.assert_allclose(multiclass.predict_proba(X).sum(axis=1), 1, rtol=1e-5)

    Y = make_multilabel_classification(120, 5, n_classes=3, random_state=0)[1]
    multilabel = clone(clf).fit(X, Y)
    assert multilabel.predict(X).shape == (120, 3)
    assert set(np.unique(multilabel.predict(X))) <= {0, 1}


def test_regressor_targets_of_any_scale(tabular):
    X, _, values = tabular
    reg = KerasRegressor(model=dense_body, epochs=40, learning_rate=0.01, random_state=0)
    one = clone(reg).fit(X, values)
    assert one.predict(X).shape == (120,)
    assert one.score(X, values) > 0.5  # learnt despite the targets' scale (1e3)
    Y = np.column_stack([values, -values / 1000])
    two = clone(reg).fit(X, Y)
    assert two.predict(X).shape == (120, 2)
    assert two.score(X, Y) > 0.5
    assert two.predict(X.astype(np.float64)).dtype == np.float64


# ---------------------------------------------------------------------------
# Errors, at fit, naming the parameter
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", KERAS_ESTIMATORS)
def test_errors_name_the_parameter(Estimator, tabular):
    import keras

    X, y = _data(Estimator, tabular)
    with pytest.raises(ValueError, match="needs a network: pass model="):
        Estimator(**SMALL).fit(X, y)
    with pytest.raises(TypeError, match="model must return a keras.Model.*returned list"):
        Estimator(model=lambda: [], **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="model__unit is not an argument.*model__units"):
        Estimator(model=dense_body, model__unit=3, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="cannot be called.*hidden_layer_sizes"):
        Estimator(model=body_with_a_required_argument, **SMALL).fit(X, y)
    with pytest.raises(TypeError, match="unexpected parameter 'lerning_rate'.*learning_rate"):
        Estimator(model=dense_body, lerning_rate=0.1).fit(X, y)
    instance = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="takes no arguments"):
        Estimator(model=instance, model__units=3, **SMALL).fit(X, y)
    convolution = keras.Sequential([keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"cannot take samples of shape \(5,\)"):
        Estimator(model=convolution, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="'model' parameter"):
        Estimator(model="dense_body").fit(X, y)


@pytest.mark.parametrize("Estimator", KERAS_ESTIMATORS)
def test_a_scikeras_model_function_is_pointed_to_the_migration_guide(Estimator, tabular):
    # Not "missing a required argument: 'meta'... give it as model__meta=value".
    X, y = _data(Estimator, tabular)
    est = Estimator(model=scikeras_style_body, model__hidden_layer_sizes=(8,), **SMALL)
    with pytest.raises(ValueError) as caught:
        est.fit(X, y)
    message = str(caught.value)
    assert "takes scikeras's meta argument" in message and "model__meta" not in message
    assert 'docs/migration.md shows (section "From scikeras")' in message
    guide = pathlib.Path(__file__).parents[1] / "docs" / "migration.md"
    assert "\n## 2. From scikeras " in guide.read_text()
    assert "input_shape argument" in message and "skdnn adds the output layer" in message
    est = Estimator(model=scikeras_compiling_body, **SMALL)
    with pytest.raises(ValueError, match="meta and compile_kwargs arguments.*skdnn compiles"):
        est.fit(X, y)
    assert not hasattr(est, "model_")


# ---------------------------------------------------------------------------
# What the DNN estimators promise holds
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", KERAS_ESTIMATORS)
def test_fits_are_reproducible(Estimator, tabular):
    def body(input_shape):  # unseeded initializers and dropout
        import keras

        return keras.Sequential(
            [keras.Input(input_shape), keras.layers.Dense(8), keras.layers.Dropout(0.5)]
        )

    X, y = _data(Estimator, tabular)
    first = predictions(Estimator(model=body, **SMALL).fit(X, y), X)
    second = predictions(Estimator(model=body, **SMALL).fit(X, y), X)
    other = predictions(Estimator(model=body, **{**SMALL, "random_state": 1}).fit(X, y), X)
    assert_reproduced(second, first)
    assert not np.allclose(first, other)


_FIT_IN_ANOTHER_PROCESS = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_keras_model import cnn_body, load_digits
from skdnn import KerasClassifier
digits = load_digits()
X, y = digits.images[:300, :, :, None].astype(np.float32) / 16, digits.target[:300]
clf = KerasClassifier(model=cnn_body, model__filters=4, epochs=3, learning_rate=0.01,
                      random_state=0).fit(X, y)
np.save(sys.argv[2], clf.predict_proba(X))
"""


def test_fit_is_reproducible_in_another_process(images, fitted_cnn, tmp_path):
    X, _ = images
    path = tmp_path / "proba.npy"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    subprocess.run(
        [sys.executable, "-c", _FIT_IN_ANOTHER_PROCESS, os.path.dirname(__file__), str(path)],
        check=True,
        env=env,
        timeout=300,
    )
    # The same network to float32 rounding: TensorFlow 2.16's oneDNN
    # convolutions may differ in the last bit between processes (seen at the
    # minimum versions); another seed or a lost epoch differs by far more.
    np.testing.assert_allclose(np.load(path), fitted_cnn.predict_proba(X), rtol=1e-6, atol=1e-7)


def test_model_instance_is_never_trained(tabular):
    import keras

    X, y, _ = tabular
    instance = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu")])
    weights = instance.get_weights()
    clf = KerasClassifier(model=instance, **SMALL).fit(X, y)
    for before, after in zip(weights, instance.get_weights(), strict=True):
        assert_array_equal(before, after)
    body = clf.model_.layers[1]
    assert body is not instance
    assert not np.array_equal(body.get_weights()[0], weights[0])  # fresh weights
    # The fitted weights depend on random_state only, not on the instance's.
    again = KerasClassifier(model=clone_of(instance), **SMALL).fit(X, y)
    assert_reproduced(again.predict_proba(X), clf.predict_proba(X))


def clone_of(model):
    import keras

    return keras.models.clone_model(model)


def test_failed_fit_leaves_the_estimator_unchanged(images, fitted_cnn):
    X, y = images
    est = pickle.loads(pickle.dumps(fitted_cnn))
    before = fitted_state(est, X)
    est.set_params(warm_start=True, callbacks=[raising_callback(epoch=1)])
    with pytest.raises(RuntimeError, match="boom"):
        est.fit(X, y)
    np.testing.assert_equal(fitted_state(est, X), before)
    est.set_params(warm_start=False, callbacks=None, model__filters=None)
    with pytest.raises((TypeError, ValueError)):
        est.fit(X, y)
    np.testing.assert_equal(fitted_state(est, X), before)


def test_pickle_and_save_load(images, fitted_cnn, tmp_path):
    X, y = images
    proba = fitted_cnn.predict_proba(X)
    assert_array_equal(pickle.loads(pickle.dumps(fitted_cnn)).predict_proba(X), proba)

    path = tmp_path / "cnn.skdnn"
    with pytest.warns(UserWarning, match="model='cnn_body' is not saved"):
        fitted_cnn.save(path)
    loaded = load(path)
    assert type(loaded) is KerasClassifier and loaded.model is None
    assert loaded.get_params()["model__filters"] == 4
    assert_array_equal(loaded.predict_proba(X), proba)
    loaded.partial_fit(X, y)  # continues training without the function
    assert loaded.n_iter_ == fitted_cnn.n_iter_ + 1


def test_save_load_keeps_a_model_instance(tabular, tmp_path):
    import keras

    X, _, values = tabular
    instance = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu")])
    reg = KerasRegressor(model=instance, **SMALL).fit(X, values)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the model instance is saved
        reg.save(tmp_path / "reg.skdnn")
    loaded = load(tmp_path / "reg.skdnn")
    assert isinstance(loaded.model, keras.Sequential)
    assert_array_equal(loaded.predict(X), reg.predict(X))
    loaded.fit(X, values)  # the architecture was saved: it refits
    assert_array_equal(loaded.predict(X), reg.predict(X))


@pytest.mark.parametrize("Estimator", KERAS_ESTIMATORS)
def test_warm_start_and_partial_fit(Estimator, tabular):
    X, y = _data(Estimator, tabular)
    extra = {"classes": [0, 1]} if Estimator is KerasClassifier else {}
    est = Estimator(model=dense_body, **SMALL)
    est.partial_fit(X, y, **extra).partial_fit(X, y)
    assert est.n_iter_ == 2 and len(est.history_["loss"]) == 2

    warm = Estimator(model=dense_body, warm_start=True, n_iter_no_change=None, **SMALL)
    warm.fit(X, y)
    weights = warm.model_.get_weights()
    warm.fit(X, y)
    assert warm.n_iter_ == 6 and len(warm.history_["loss"]) == 6
    assert not np.array_equal(warm.model_.get_weights()[0], weights[0])
    with pytest.raises(ValueError, match="model__units changed"):
        warm.set_params(model__units=4).fit(X, y)


def test_early_stopping_and_history(images):
    X, y = images
    clf = KerasClassifier(
        model=cnn_body, early_stopping=True, validation_fraction=0.2, metrics=["AUC"], **SMALL
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "AUC"} <= set(clf.history_)
    assert 0 <= clf.best_validation_score_ <= 1


def test_subclassed_body_trains(tabular):
    X, y, _ = tabular
    clf = KerasClassifier(model=subclassed_body, model__units=6, **SMALL).fit(X, y)
    assert clf.predict_proba(X).shape == (120, 2)


def subclassed_body(units):
    import keras

    class Body(keras.Model):
        def __init__(self, units=8, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = keras.layers.Dense(units, activation="relu")

        def call(self, x):
            return self.hidden(x)

    return Body(units=units)


def regularized_body(l2=0.0, input_shape=None):
    import keras

    regularizer = keras.regularizers.L2(l2) if l2 else None
    return keras.Sequential(
        [keras.Input(input_shape), keras.layers.Dense(8, kernel_regularizer=regularizer)]
    )


def test_layer_regularization_losses_are_trained(tabular):
    X, y, _ = tabular
    params = dict(model=regularized_body, epochs=3, random_state=0)
    plain = KerasClassifier(**params).fit(X, y)
    regularized = KerasClassifier(model__l2=10.0, **params).fit(X, y)
    # The loss Keras would report: the data loss plus the layers' losses.
    assert regularized.loss_curve_[0] > plain.loss_curve_[0] + 1.0
    kernels = [
        [w for w in est.model_.get_weights() if w.shape == (5, 8)][0]
        for est in (plain, regularized)
    ]
    assert np.sum(np.square(kernels[1])) < np.sum(np.square(kernels[0]))


def _body_ending_with(*layers, compiled=False):
    def build(input_shape):
        import keras

        model = keras.Sequential(
            [keras.Input(input_shape), keras.layers.Dense(8, activation="relu"), *layers]
        )
        if compiled:
            model.compile(optimizer="sgd", loss="categorical_crossentropy")
        return model

    return build


@pytest.mark.parametrize(
    "last, match",
    [
        (lambda k: k.layers.Dense(3, activation="softmax", name="probs"), "'probs' .*softmax"),
        (lambda k: k.layers.Dense(6, activation="sigmoid", name="out"), "'out' .*sigmoid"),
        (lambda k: k.layers.Dense(3, name="logits"), r"'logits' \(Dense with 3 unit"),
        (lambda k: k.layers.Softmax(name="sm"), "'sm' .*softmax"),
    ],
)
def test_a_body_with_its_own_output_layer_is_warned_about(last, match, tabular):
    import keras

    X, _, _ = tabular
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)  # 3 classes
    with pytest.warns(UserWarning, match=f"last layer {match}.*looks like an output layer"):
        KerasClassifier(model=_body_ending_with(last(keras)), **SMALL).fit(X, y)


def test_a_compiled_body_is_warned_about_and_an_ordinary_one_is_not(tabular):
    X, y, values = tabular
    with pytest.warns(UserWarning, match="compiled \\(optimizer SGD.*not used"):
        KerasClassifier(model=_body_ending_with(compiled=True), **SMALL).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        KerasClassifier(model=_body_ending_with(), **SMALL).fit(X, y)
        KerasRegressor(model=dense_body, **SMALL).fit(X, values)
    import keras

    with pytest.warns(UserWarning, match=r"\(Dense with 1 unit"):
        KerasRegressor(model=_body_ending_with(keras.layers.Dense(1)), **SMALL).fit(X, values)
