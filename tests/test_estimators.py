"""Behaviour of DNNClassifier and DNNRegressor: fitting, targets, errors, state."""

import copy
import pickle
import random
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import ESTIMATORS, FAST, assert_reproduced, keras_backend, matmul_tolerance
from conftest import predictions as _predict
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skdnn import DNNClassifier, DNNRegressor


# ----------------------------------------------------------------------------
# Fitted state
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fitted_attributes(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(**FAST).fit(X, y)
    assert est.n_features_in_ == X.shape[1]
    assert est.n_iter_ == len(est.loss_curve_) == len(est.history_["loss"]) == 5
    assert est.loss_curve_ == est.history_["loss"]
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.best_validation_score_ is None
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    # The Keras model is usable as in the tutorials.
    assert est.model_.layers[1].name == "hidden_1"
    assert est.model_.layers[1].units == 16
    assert len(est.model_.get_weights()) == 4
    assert np.all(
        np.isfinite(
            est.model_.evaluate(
                X, est._target_encoder.transform(y) if is_classifier(est) else y, verbose=0
            )
        )
    )
    if is_classifier(est):
        assert len(est.history_["accuracy"]) == 5
        np.testing.assert_allclose(
            est.model_.predict(X, verbose=0),
            est.predict_proba(X),
            **matmul_tolerance(rtol=1e-7, atol=1e-5),  # assert_allclose's rtol
        )
    else:
        # model_ predicts in the target's units, like predict.
        np.testing.assert_allclose(
            est.model_.predict(X, verbose=0).ravel(),
            est.predict(X),
            **matmul_tolerance(rtol=1e-4, atol=1e-3),
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_architecture_hyperparameters(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(
        hidden_layer_sizes=(8, 6, 4),
        dropout=(0.1, 0.0, 0.3),
        batch_normalization=True,
        activation="tanh",
        epochs=2,
        random_state=0,
    ).fit(X, y)
    kinds = [type(layer).__name__ for layer in est.model_.layers]
    assert kinds.count("Dense") == 4
    assert kinds.count("BatchNormalization") == 3
    assert [layer.rate for layer in est.model_.layers if type(layer).__name__ == "Dropout"] == [
        0.1,
        0.3,
    ]
    assert est.model_.get_layer("hidden_2_activation").get_config()["activation"] == "tanh"
    linear = Estimator(hidden_layer_sizes=(), epochs=2, random_state=0).fit(X, y)
    assert [type(layer).__name__ for layer in linear.model_.layers][:2] == ["InputLayer", "Dense"]
    assert len(linear.model_.get_weights()) == 2


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "optimizer",
    ["adam", "sgd", "rmsprop", "adamw", "adagrad", "adadelta", "adamax", "nadam", "lion"],
)
def test_optimizers(Estimator, optimizer, data_for):
    X, y = data_for(Estimator)
    est = Estimator(
        optimizer=optimizer,
        momentum=0.5,
        nesterov=True,
        **{**FAST, "epochs": 3, "learning_rate": 0.02},
    ).fit(X, y)
    assert type(est.model_.optimizer).__name__.lower() == optimizer
    assert est.model_.optimizer.learning_rate.numpy() == pytest.approx(0.02)
    if optimizer in ("sgd", "rmsprop"):
        assert est.model_.optimizer.momentum == 0.5
    if optimizer == "sgd":
        assert est.model_.optimizer.nesterov
    assert np.all(np.isfinite(est.loss_curve_))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_optimizer_instance_is_copied_not_mutated(Estimator, data_for):
    import keras

    X, y = data_for(Estimator)
    optimizer = keras.optimizers.SGD(learning_rate=0.05, momentum=0.3)
    est = Estimator(optimizer=optimizer, **FAST).fit(X, y)
    assert est.model_.optimizer is not optimizer
    assert est.model_.optimizer.learning_rate.numpy() == pytest.approx(0.05)
    assert int(est.model_.optimizer.iterations.numpy()) > 0
    assert int(optimizer.iterations.numpy()) == 0
    assert est.get_params()["optimizer"] is optimizer


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_learning_rate_schedule(Estimator, data_for):
    import keras

    X, y = data_for(Estimator)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    est = Estimator(**{**FAST, "learning_rate": schedule}).fit(X, y)
    assert float(est.model_.optimizer.learning_rate) < 0.01 * 0.5**3


@pytest.mark.parametrize(
    "optimizer, momentum",
    [
        ("sgd", 0.9),
        ("sgd", 0.0),
        ("adam", 0.9),
        ("rmsprop", 0.5),
        ("adamw", 0.9),
        ("adagrad", 0.9),
        ("adadelta", 0.9),
        ("adamax", 0.9),
        ("nadam", 0.9),
        ("lion", 0.9),
        ("sgd instance", 0.9),
    ],
)
@pytest.mark.parametrize("schedule_name", ["ExponentialDecay", "PiecewiseConstantDecay"])
def test_every_optimizer_follows_a_schedule(optimizer, momentum, schedule_name, data_for):
    # A fresh fit, a warm start and partial_fit each continue the schedule
    # from the optimizer's step count.
    import keras

    X, y = data_for(DNNClassifier)
    schedules = keras.optimizers.schedules
    schedule = {
        "ExponentialDecay": lambda: schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.8),
        "PiecewiseConstantDecay": lambda: schedules.PiecewiseConstantDecay(
            [3, 6], [0.05, 0.02, 0.01]
        ),
    }[schedule_name]()
    if optimizer == "sgd instance":
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=momentum)
    params = dict(FAST, hidden_layer_sizes=(4,), epochs=2, n_iter_no_change=None, batch_size=40)
    params.update(optimizer=optimizer, learning_rate=schedule, momentum=momentum, warm_start=True)
    est = DNNClassifier(**params)
    steps_per_epoch = -(-len(X) // 40)
    for fit, steps in [
        (lambda: est.fit(X, y), 2 * steps_per_epoch),
        (lambda: est.fit(X, y), 4 * steps_per_epoch),
        (lambda: est.partial_fit(X, y), 5 * steps_per_epoch),
    ]:
        fit()
        fitted = est.model_.optimizer
        assert int(fitted.iterations.numpy()) == steps
        assert float(fitted.learning_rate) == pytest.approx(float(schedule(steps)), rel=1e-5)
        assert np.all(np.isfinite(est.loss_curve_))
    if "sgd" in str(optimizer).lower():
        assert fitted.momentum == momentum


# ----------------------------------------------------------------------------
# Stopping rules
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_convergence_warning_and_tolerance_stop(Estimator, data_for):
    X, y = data_for(Estimator)
    with pytest.warns(ConvergenceWarning, match="epochs=3"):
        Estimator(**{**FAST, "epochs": 3}).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # No epoch after the first improves by tol=1e9; as in scikit-learn's
        # MLP, training stops once more than n_iter_no_change epochs did not.
        est = Estimator(tol=1e9, n_iter_no_change=2, **{**FAST, "epochs": 50}).fit(X, y)
    assert est.n_iter_ == 4


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(
        early_stopping=True,
        n_iter_no_change=3,
        validation_fraction=0.25,
        **{**FAST, "epochs": 300, "learning_rate": 0.05},
    ).fit(X, y)
    assert est.n_iter_ < 300
    assert set(est.history_) >= {"loss", "val_loss"}
    assert len(est.history_["val_loss"]) == est.n_iter_
    assert est.best_loss_ is None
    assert np.isfinite(est.best_validation_score_)
    if is_classifier(est):
        assert len(est.history_["val_accuracy"]) == est.n_iter_


def test_early_stopping_split_is_stratified():
    X = np.random.RandomState(0).normal(size=(100, 3))
    y = np.r_[np.zeros(90), np.ones(10)]
    est = DNNClassifier(early_stopping=True, validation_fraction=0.2, **FAST).fit(X, y)
    assert len(est.history_["val_accuracy"]) == est.n_iter_
    # The held-out 20 samples keep the classes' proportions: 2 of the 10 positives.
    _, validation = est._split_validation(y, est._target_encoder, seed=0, early_stopping=True)
    assert len(validation) == 20 and y[validation].sum() == 2
    # Only a stratified split needs a sample of every class on both sides.
    y[-9:] = 0
    with pytest.raises(ValueError, match="validation_fraction=0.2"):
        DNNClassifier(early_stopping=True, validation_fraction=0.2, **FAST).fit(X, y)
    DNNRegressor(early_stopping=True, validation_fraction=0.2, **FAST).fit(X, y)


# ----------------------------------------------------------------------------
# Reproducibility and global state
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_reproducible_with_integer_random_state(Estimator, data_for):
    X, y = data_for(Estimator)
    params = dict(FAST, dropout=0.2, early_stopping=True)
    first = _predict(Estimator(**params).fit(X, y), X)
    # Fitting another estimator in between must not change anything.
    Estimator(**{**params, "random_state": 1}).fit(X, y)
    again = _predict(Estimator(**params).fit(X, y), X)
    assert_reproduced(again, first)
    other = _predict(Estimator(**{**params, "random_state": 1}).fit(X, y), X)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_leaves_global_random_state_alone(Estimator, data_for):
    X, y = data_for(Estimator)
    np.random.seed(123)
    random.seed(123)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    if keras_backend() == "tensorflow":
        from tensorflow.python.framework import config as tf_config  # no public getter

        determinism = tf_config.is_op_determinism_enabled()
    Estimator(dropout=0.3, **FAST).fit(X, y)
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(after, numpy_state, strict=True))
    if keras_backend() == "tensorflow":
        assert tf_config.is_op_determinism_enabled() == determinism


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_reproducible_in_threads(Estimator, data_for):
    X, y = data_for(Estimator)
    params = dict(FAST, dropout=0.2)
    expected = [_predict(Estimator(**{**params, "random_state": s}).fit(X, y), X) for s in (0, 1)]

    def fit(seed):
        random.random()  # other work moving Python's global random
        return _predict(Estimator(**{**params, "random_state": seed}).fit(X, y), X)

    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(fit, [0, 1, 0, 1]))
    for seed, predictions in zip([0, 1, 0, 1], got, strict=True):
        assert_reproduced(predictions, expected[seed])


REPRODUCE_SCRIPT = """
import numpy as np
from sklearn.datasets import make_classification, make_regression
from skdnn import DNNClassifier, DNNRegressor
X, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3,
                           random_state=0)
Xr, yr = make_regression(n_samples=120, n_features=6, noise=1.0, random_state=0)
params = dict(hidden_layer_sizes=(16,), epochs=5, random_state=0, dropout=0.2)
np.save("{folder}/clf.npy", DNNClassifier(**params).fit(X, y).predict_proba(X))
np.save("{folder}/reg.npy", DNNRegressor(**params).fit(Xr, yr).predict(Xr))
"""


def test_reproducible_across_processes(tmp_path):
    from sklearn.datasets import make_classification, make_regression

    subprocess.run([sys.executable, "-c", REPRODUCE_SCRIPT.format(folder=tmp_path)], check=True)
    X, y = make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    Xr, yr = make_regression(n_samples=120, n_features=6, noise=1.0, random_state=0)
    params = dict(hidden_layer_sizes=(16,), epochs=5, random_state=0, dropout=0.2)
    assert_reproduced(
        np.load(tmp_path / "clf.npy"), DNNClassifier(**params).fit(X, y).predict_proba(X)
    )
    assert_reproduced(np.load(tmp_path / "reg.npy"), DNNRegressor(**params).fit(Xr, yr).predict(Xr))


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, skdnn; from skdnn import DNNClassifier, DNNRegressor; "
        "DNNClassifier().get_params(); "
        "loaded = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------
# Persistence
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pickle_joblib_deepcopy_clone(Estimator, data_for, tmp_path):
    X, y = data_for(Estimator)
    est = Estimator(dropout=0.1, batch_normalization=True, **FAST).fit(X, y)
    expected = _predict(est, X)
    joblib.dump(est, tmp_path / "est.joblib")
    for restored in (
        pickle.loads(pickle.dumps(est)),
        joblib.load(tmp_path / "est.joblib"),
        copy.deepcopy(est),
    ):
        np.testing.assert_array_equal(_predict(restored, X), expected)
        assert restored.history_ == est.history_
        assert restored.model_ is not est.model_
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    assert not hasattr(fresh, "model_")
    # The original still works after being pickled.
    np.testing.assert_array_equal(_predict(est, X), expected)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_after_unpickling_keeps_optimizer_state(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(warm_start=True, **FAST).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    assert (
        int(restored.model_.optimizer.iterations.numpy())
        == int(est.model_.optimizer.iterations.numpy())
        > 0
    )
    continued = _predict(est.fit(X, y), X)
    assert_reproduced(_predict(restored.fit(X, y), X), continued)


# ----------------------------------------------------------------------------
# warm_start
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_continues_training(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(warm_start=True, **FAST).fit(X, y)
    weights = est.model_.get_weights()
    est.fit(X, y)
    assert est.n_iter_ == 10 and len(est.loss_curve_) == 10
    assert est.loss_curve_[5] < est.loss_curve_[0]
    assert not np.array_equal(weights[0], est.model_.get_weights()[0])
    # A learning rate changed in between takes effect; the optimizer's state stays.
    steps = int(est.model_.optimizer.iterations.numpy())
    est.set_params(learning_rate=0.123).fit(X, y)
    assert float(est.model_.optimizer.learning_rate) == pytest.approx(0.123)
    assert int(est.model_.optimizer.iterations.numpy()) == steps + 5
    cold = Estimator(**FAST).fit(X, y)
    assert cold.fit(X, y).n_iter_ == 5
    est.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="hidden_layer_sizes changed"):
        est.fit(X, y)


# ----------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pandas_input(Estimator, data_for):
    X, y = data_for(Estimator)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = Estimator(**FAST).fit(frame, pd.Series(y))
    assert list(est.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = _predict(est, X)  # scikit-learn's usual warning, and the same result
    np.testing.assert_allclose(_predict(est, frame), from_array)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(frame[frame.columns[::-1]])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_images_are_flattened(Estimator, data_for):
    X, y = data_for(Estimator)
    images = np.random.RandomState(0).rand(len(y), 4, 3).astype(np.float32)
    est = Estimator(**FAST).fit(images, y)
    assert est.model_.get_layer("flatten").output.shape == (None, 12)
    assert _predict(est, images).shape[0] == len(y)
    with pytest.raises(ValueError, match="shape"):
        est.predict(np.zeros((2, 4, 2)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_bad_input_errors(Estimator, data_for):
    X, y = data_for(Estimator)
    with pytest.raises(NotFittedError):
        Estimator().predict(X)
    bad = X.copy()
    bad[0, 0] = np.inf  # NaN is imputed (tests/test_features.py)
    with pytest.raises(ValueError, match="infinity"):
        Estimator(**FAST).fit(bad, y)
    with pytest.raises(ValueError, match="2D array"):
        Estimator(**FAST).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="0 sample"):
        Estimator(**FAST).fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="NaN"):
        Estimator(**FAST).fit(sp.csr_matrix(np.where(X > 1, np.nan, X)), y)
    est = Estimator(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="infinity"):
        est.predict(bad)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "params, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"dropout": 1.5}, "dropout"),
        ({"optimizer": "adamax2"}, "optimizer"),
        ({"batch_size": 0}, "batch_size"),
        ({"momentum": 2.0}, "momentum"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"verbose": 5}, "verbose"),
        ({"alpha": -1}, "alpha"),
    ],
)
def test_invalid_parameters_raise_at_fit(Estimator, params, match, data_for):
    X, y = data_for(Estimator)
    est = Estimator(**params)  # no validation in __init__
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (10.5,)}, "hidden_layer_sizes"),
        ({"dropout": (0.1, 0.2)}, "one rate per hidden layer"),
        ({"activation": "relux"}, "not a Keras activation"),
    ],
)
def test_invalid_architecture_raises_clear_error(Estimator, params, match, data_for):
    X, y = data_for(Estimator)
    with pytest.raises(ValueError, match=match):
        Estimator(**{**FAST, **params}).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_verbose_output(Estimator, data_for, capfd):
    X, y = data_for(Estimator)
    est = Estimator(**{**FAST, "epochs": 2}).fit(X, y)
    _predict(est, X)
    assert capfd.readouterr().out == ""
    est = Estimator(verbose=2, **{**FAST, "epochs": 2}).fit(X, y)
    out = capfd.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss" in out
    _predict(est, X)
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sample_weight_equals_repetition(Estimator, data_for):
    # The weighted loss is the exact weighted mean: with one full batch,
    # weight 2 equals repeating a row, up to float32 rounding.
    X, y = data_for(Estimator)
    weights = np.random.RandomState(0).randint(0, 3, size=len(y))
    params = dict(FAST, shuffle=False, batch_size=1000)
    weighted = Estimator(**params).fit(X, y, sample_weight=weights)
    repeated = Estimator(**params).fit(np.repeat(X, weights, axis=0), np.repeat(y, weights, axis=0))
    np.testing.assert_allclose(
        _predict(weighted, X), _predict(repeated, X), **matmul_tolerance(rtol=1e-4, atol=1e-4)
    )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_tags(Estimator):
    tags = Estimator().__sklearn_tags__()
    assert is_classifier(Estimator()) == (Estimator is DNNClassifier)
    assert is_regressor(Estimator()) == (Estimator is DNNRegressor)
    if Estimator is DNNClassifier:
        assert tags.classifier_tags.multi_label
    else:
        assert tags.target_tags.multi_output
    assert tags.input_tags.sparse and tags.input_tags.allow_nan


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_applies_a_changed_momentum(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(optimizer="sgd", momentum=0.5, warm_start=True, **FAST).fit(X, y)
    steps = int(est.model_.optimizer.iterations.numpy())
    est.set_params(momentum=0.8).fit(X, y)  # a new optimizer, with the old one's state
    assert est.model_.optimizer.momentum == 0.8
    assert int(est.model_.optimizer.iterations.numpy()) == steps + 5
    assert float(est.model_.optimizer.learning_rate) == pytest.approx(FAST["learning_rate"])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_text_columns_without_categorical_features_get_a_message(Estimator, data_for):
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = data_for(Estimator)
    # A copy: the data are a session fixture (pandas 2.0 does not copy X here).
    frame = pd.DataFrame(X[:, :3].copy(), columns=["a", "b", "c"])
    frame["state"] = np.array(["KS", "OH", "NJ"])[np.arange(len(y)) % 3]
    frame["plan"] = pd.Categorical(np.array(["yes", "no"])[np.arange(len(y)) % 2])
    frame.loc[::7, "a"] = np.nan
    # categorical_features=None takes every column as numbers.
    estimator = Estimator(categorical_features=None, **FAST)
    named = r"2 column\(s\) of text or categories \('state', 'plan'\)"
    with pytest.raises(ValueError, match=named + ".*categorical_features='from_dtype'"):
        estimator.fit(frame, y)
    assert not hasattr(estimator, "model_")
    numbers = frame[["b", "c"]]
    estimator.fit(numbers, y)
    with pytest.raises(ValueError, match="'c' of X holds text.*held numbers.*pd.to_numeric"):
        estimator.predict(numbers.assign(c=numbers["c"].astype(str)))
    # The user guide's alternative, a pipeline: categories encoded, missing
    # numbers imputed, a category unseen in training predicted.
    features = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
        remainder=make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
    )
    model = make_pipeline(features, Estimator(**FAST)).fit(frame, y)
    unseen = frame.head(3).assign(state="TX")
    assert np.all(np.isfinite(np.asarray(model.predict(unseen), dtype=float)))
