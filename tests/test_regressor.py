"""DNNRegressor's targets: shapes, scale, losses, output activation."""

import numpy as np
import pytest
from conftest import FAST, matmul_tolerance
from sklearn.datasets import make_regression

from skdnn import DNNRegressor


def test_output_dimensions(regression_data):
    X, y = regression_data
    reg = DNNRegressor(**FAST).fit(X, y)
    assert reg.predict(X).shape == (len(X),) and reg.n_outputs_ == 1
    column = DNNRegressor(**FAST).fit(X, y.reshape(-1, 1))
    assert column.predict(X).shape == (len(X), 1)
    Y = np.c_[y, -3 * y + 1000, X[:, 0] * 0.01]
    multi = DNNRegressor(**{**FAST, "epochs": 100}).fit(X, Y)
    assert multi.n_outputs_ == 3
    predicted = multi.predict(X)
    # float32 X (the fixture's) gives float32 predictions, as in scikit-learn's MLP.
    assert predicted.shape == (len(X), 3) and predicted.dtype == np.float32
    assert multi.predict(X.astype(np.float64)).dtype == np.float64
    # Each output is learnt in its own units.
    for column in range(3):
        assert np.corrcoef(predicted[:, column], Y[:, column])[0, 1] > 0.9


def test_large_target_scale_out_of_the_box():
    X, y = make_regression(n_samples=300, n_features=5, noise=10.0, random_state=0)
    y = 1000 * y + 50_000
    reg = DNNRegressor(random_state=0, epochs=100).fit(X, y)
    assert reg.score(X, y) > 0.95


@pytest.mark.parametrize("hidden_layer_sizes", [(), (16,)])
def test_tutorial_sgd_regression(hidden_layer_sizes):
    # The regression tutorial: Dense(1), SGD() with Keras's defaults, mse, 40 epochs.
    X, y = make_regression(n_samples=200, n_features=1, bias=5.0, noise=5.0, random_state=123)
    reg = DNNRegressor(
        hidden_layer_sizes=hidden_layer_sizes,
        optimizer="sgd",
        learning_rate=0.01,
        momentum=0.0,
        batch_size=32,
        epochs=40,
        loss="mse",
        random_state=0,
    )
    reg.fit(X[:150], y[:150])
    assert reg.score(X[150:], y[150:]) > 0.95


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "huber", "mse", "log_cosh"])
def test_losses(loss, regression_data):
    X, y = regression_data
    # 40 epochs: at 20, R² ranges from 0.47 to 0.89 with the seed on every backend.
    reg = DNNRegressor(loss=loss, **{**FAST, "epochs": 40, "learning_rate": 0.01}).fit(X, y)
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]
    assert reg.score(X, y) > 0.5


def test_loss_object_and_unknown_name(regression_data):
    import keras

    X, y = regression_data
    reg = DNNRegressor(loss=keras.losses.Huber(delta=0.5), **FAST).fit(X, y)
    assert np.all(np.isfinite(reg.loss_curve_))
    with pytest.raises(ValueError, match="Keras loss name"):
        DNNRegressor(loss="squared_errors", **FAST).fit(X, y)


def test_positive_output_activation():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = np.exp(X[:, 0]) * 100
    reg = DNNRegressor(output_activation="softplus", **{**FAST, "epochs": 60}).fit(X, y)
    assert reg.model_.get_layer("output").get_config()["activation"] == "softplus"
    assert np.all(reg.predict(rng.normal(size=(500, 3)) * 3) >= 0)
    assert reg.score(X, y) > 0.5


def test_weighted_target_standardization(regression_data):
    X, y = regression_data
    weights = np.r_[np.ones(60), np.zeros(60)]
    weighted = DNNRegressor(**FAST).fit(X, y, sample_weight=weights)
    subset = DNNRegressor(**FAST).fit(X[:60], y[:60])
    np.testing.assert_allclose(weighted._target_encoder.offset_, subset._target_encoder.offset_)


@pytest.mark.parametrize("where", ["y", "y_val"])
def test_string_targets_are_named_with_the_classifier_to_use(where, regression_data):
    X, y = regression_data
    labels = np.where(y > 0, "up", "down")
    reg = DNNRegressor(**FAST)
    with pytest.raises(ValueError, match="DNNRegressor needs numeric targets, but") as caught:
        if where == "y":
            reg.fit(X, labels)
        else:
            reg.fit(X, y, X_val=X[:10], y_val=labels[:10])
    message = str(caught.value)
    assert f"{where} holds 'up'" in message or f"{where} holds 'down'" in message
    assert "use DNNClassifier" in message
    # Numbers written as strings are numbers, as in scikit-learn.
    assert DNNRegressor(**{**FAST, "epochs": 1}).fit(X, y.astype(str)).n_iter_ == 1


# ----------------------------------------------------------------------------
# The loss in the target's units
# ----------------------------------------------------------------------------
def _tutorial_fit(**params):
    """The loss-functions tutorial: Dense(1) on make_regression, SGD, mse, 40 epochs."""
    X, y = make_regression(n_samples=200, n_features=1, bias=5.0, noise=5.0, random_state=123)
    tutorial = dict(
        hidden_layer_sizes=(),
        optimizer="sgd",
        learning_rate=0.01,
        momentum=0.0,
        batch_size=32,
        epochs=40,
        loss="mse",
        random_state=123,
    )
    return X, y, DNNRegressor(**{**tutorial, **params}).fit(X, y)


def test_loss_is_in_the_target_units():
    X, y, reg = _tutorial_fit(metrics=["mse"])
    mse = np.mean((reg.predict(X) - y) ** 2)
    # The last epoch's loss, averaged while the weights still move: close to
    # the final weights' error, in y's units (about 21), as scikit-learn's
    # loss_curve_ and Keras's model.fit report it.
    assert reg.loss_curve_ == reg.history_["loss"]
    assert reg.history_["loss"][-1] == pytest.approx(mse, rel=0.02)
    assert reg.history_["loss"][-1] == pytest.approx(reg.history_["mse"][-1], rel=1e-5)
    assert reg.best_loss_ == min(reg.loss_curve_)
    # The loss the optimizer minimizes, on the standardized target, beside it.
    assert reg.history_["standardized_loss"][-1] == pytest.approx(mse / np.var(y), rel=0.02)


def test_validation_loss_in_units_of_several_targets_with_weights(regression_data):
    X, y = regression_data
    # Targets of very different scales: the loss in units is exact per
    # output, not the standardized loss times one scale.
    Y = np.c_[y, 1e-3 * y + X[:, 0], 50.0 * X[:, 1]]
    weights = np.linspace(0.5, 2.0, 30)
    reg = DNNRegressor(**FAST).fit(
        X[:90], Y[:90], X_val=X[90:], y_val=Y[90:], sample_weight_val=weights
    )
    predicted = reg.predict(X[90:]).astype(np.float64)
    # Keras's mse: the mean over the outputs, then the weighted mean over samples.
    expected = np.average(np.mean((predicted - Y[90:]) ** 2, axis=1), weights=weights)
    np.testing.assert_allclose(reg.history_["val_loss"][-1], expected, **matmul_tolerance(1e-4))
    standardized = (predicted - reg._target_encoder.offset_) / reg._target_encoder.scale_
    target = reg._target_encoder.transform(Y[90:])
    expected = np.average(np.mean((standardized - target) ** 2, axis=1), weights=weights)
    np.testing.assert_allclose(
        reg.history_["val_standardized_loss"][-1], expected, **matmul_tolerance(1e-3)
    )


def test_stopping_rule_watches_the_standardized_loss():
    # tol is scale-free: the same fit on y and on 1000 * y stops at the same
    # epoch (the standardized targets are the same), with losses 10^6 apart.
    _, _, reg = _tutorial_fit(epochs=200, n_iter_no_change=3, tol=1e-3)
    X, y = make_regression(n_samples=200, n_features=1, bias=5.0, noise=5.0, random_state=123)
    scaled = DNNRegressor(**reg.get_params()).fit(X, 1000 * y)
    assert scaled.n_iter_ == reg.n_iter_ < 200
    np.testing.assert_allclose(scaled.loss_curve_, 1e6 * np.asarray(reg.loss_curve_), rtol=1e-3)


# ----------------------------------------------------------------------------
# The output layer's weights in the target's units
# ----------------------------------------------------------------------------
def test_linear_model_weights_read_the_fitted_line():
    X, y, reg = _tutorial_fit()
    assert [layer.name for layer in reg.model_.layers] == ["input", "output"]
    (slope,), intercept = (w.ravel() for w in reg.model_.get_layer("output").get_weights())
    line = np.polyfit(X[:, 0], y, 1)
    assert slope == pytest.approx(line[0], rel=0.05) and intercept == pytest.approx(line[1], abs=1)
    # Keras's own predict and evaluate on model_ are in y's units, as predict is.
    np.testing.assert_allclose(reg.predict(X), slope * X[:, 0] + intercept, rtol=1e-5)
    keras_predicted = np.asarray(reg.model_.predict(X, verbose=0)).ravel()
    np.testing.assert_allclose(keras_predicted, reg.predict(X), **matmul_tolerance(1e-5))
    # Against Keras's own predictions: the same float32 products as evaluate.
    assert reg.model_.evaluate(X, y, verbose=0) == pytest.approx(
        np.mean((keras_predicted - y) ** 2), rel=1e-4
    )


def test_folded_output_layer_survives_warm_start_partial_fit_and_persistence(tmp_path):
    import pickle

    import skdnn

    X, y, reg = _tutorial_fit(epochs=5, hidden_layer_sizes=(4,))
    Y = np.c_[y, 1e-3 * y]
    reg = DNNRegressor(**{**reg.get_params(), "warm_start": True}).fit(X, Y)
    expected = reg.predict(X)
    reg.save(tmp_path / "reg.skdnn")
    for copy in (pickle.loads(pickle.dumps(reg)), skdnn.load(tmp_path / "reg.skdnn")):
        np.testing.assert_array_equal(copy.predict(X), expected)
    # Training continues from the same (unfolded) weights: one epoch more
    # on a copy and on the original agree, and improves on the first.
    copy = pickle.loads(pickle.dumps(reg))
    reg.set_params(epochs=1).fit(X, Y)
    copy.partial_fit(X, Y)
    np.testing.assert_allclose(copy.predict(X), reg.predict(X), rtol=1e-5, atol=1e-6)
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]
    # A nonlinear output activation cannot take the scaling: a head layer does.
    relu = DNNRegressor(**{**reg.get_params(), "output_activation": "relu"}).fit(X, y - y.min())
    assert relu.model_.layers[-1].name == "target_scale"
    np.testing.assert_allclose(
        np.asarray(relu.model_.predict(X, verbose=0)).ravel(),
        relu.predict(X),
        **matmul_tolerance(1e-5),
    )
