"""Training features: callbacks, metrics, schedules, partial_fit, failures, saving."""

import copy
import os
import sys
import warnings
import zipfile

import numpy as np
import pytest
from conftest import ESTIMATORS, FAST, matmul_tolerance, tensorflow_only
from conftest import predictions as _predict
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

import skdnn
from skdnn import DNNClassifier, DNNRegressor, TrainingCurveDisplay, TrainingDivergedError


class EpochRecorder:
    """A user's own callback, built lazily so keras is imported in tests only."""

    @staticmethod
    def make():
        import keras

        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.epochs = []
                self.weights = []

            def on_epoch_end(self, epoch, logs=None):
                self.epochs.append((epoch, dict(logs)))
                self.weights.append(self.model.get_weights())

        return Recorder()


# ----------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_callbacks_are_copied_per_fit_and_see_every_epoch(Estimator, data_for):
    X, y = data_for(Estimator)
    recorder = EpochRecorder.make()
    est = Estimator(callbacks=[recorder], **FAST).fit(X, y)
    assert recorder.epochs == [] and recorder.model is None  # the parameter is untouched
    used = est.callbacks_[0]
    assert [epoch for epoch, _ in used.epochs] == list(range(5))
    assert [logs["loss"] for _, logs in used.epochs] == est.history_["loss"]
    # Callbacks see the weights of each epoch; the last ones are the model's.
    for got, expected in zip(used.weights[-1], est.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(used.weights[0][0], used.weights[-1][0])
    # A second fit and a clone get fresh copies.
    est.fit(X, y)
    assert len(est.callbacks_[0].epochs) == 5
    assert est.callbacks_[0] is not used
    assert clone(est).callbacks[0] is not recorder


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_keras_early_stopping_callback_restores_best_weights(Estimator, data_for):
    import keras

    X, y = data_for(Estimator)
    stop = keras.callbacks.EarlyStopping(
        monitor="loss", min_delta=1e9, patience=2, restore_best_weights=True
    )
    recorder = EpochRecorder.make()
    est = Estimator(callbacks=[recorder, stop], **{**FAST, "epochs": 50}).fit(X, y)
    assert est.n_iter_ == 3  # stopped by the callback, without a ConvergenceWarning
    first_epoch_weights = est.callbacks_[0].weights[0]
    for got, expected in zip(est.model_.get_weights(), first_epoch_weights, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_reduce_lr_on_plateau_changes_training_learning_rate(classification_data):
    import keras

    X, y = classification_data
    reduce = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=0, min_delta=1e9, min_lr=1e-5
    )
    est = DNNClassifier(callbacks=[reduce], **{**FAST, "learning_rate": 0.04}).fit(X, y)
    # The first epoch sets the plateau's reference; the next four halve the rate.
    assert float(est.model_.optimizer.learning_rate) == pytest.approx(0.04 * 0.5**4)


def test_checkpoint_and_csv_logger(classification_data, tmp_path):
    import keras

    X, y = classification_data
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "epoch{epoch}.keras"))
    logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    DNNClassifier(callbacks=[checkpoint, logger], **FAST).fit(X, y)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["log.csv"] + [f"epoch{i}.keras" for i in range(1, 6)]
    )
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "accuracy", "loss"] and len(rows) == 6
    restored = keras.saving.load_model(tmp_path / "epoch5.keras")
    assert restored.count_params() > 0


def test_grid_search_gives_each_fit_its_own_callbacks(classification_data):
    X, y = classification_data
    recorder = EpochRecorder.make()
    search = GridSearchCV(
        DNNClassifier(callbacks=[recorder], **FAST), {"learning_rate": [0.01, 0.02]}, cv=2
    ).fit(X, y)
    assert recorder.epochs == []
    assert len(search.best_estimator_.callbacks_[0].epochs) == 5


def test_invalid_callbacks_and_metrics(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match="keras.callbacks.Callback"):
        DNNClassifier(callbacks=[print], **FAST).fit(X, y)
    with pytest.raises(ValueError, match="not a Keras metric"):
        DNNClassifier(metrics=["accuracyy"], **FAST).fit(X, y)
    with pytest.raises(ValueError, match="appear twice"):
        DNNClassifier(metrics=["accuracy"], **FAST).fit(X, y)


# ----------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------
def test_classifier_metrics_are_recorded(classification_data):
    import keras

    X, y = classification_data
    auc = keras.metrics.AUC(name="auc")
    est = DNNClassifier(
        metrics=["AUC", auc, "categorical_accuracy"],
        early_stopping=True,
        **{**FAST, "epochs": 20, "learning_rate": 0.05},
    ).fit(X, y)
    for key in ("AUC", "auc", "categorical_accuracy"):
        assert len(est.history_[key]) == est.n_iter_
        assert len(est.history_["val_" + key]) == est.n_iter_
    assert 0.5 < est.history_["AUC"][-1] <= 1.0
    assert est.history_["AUC"] == est.history_["auc"]
    # On one-hot targets, what the default accuracy computes on class indices.
    assert est.history_["categorical_accuracy"] == est.history_["accuracy"]
    assert all(np.all(v.numpy() == 0) for v in auc.variables)  # the parameter is untouched


def test_regressor_metrics_in_target_units(regression_data):
    X, y = regression_data
    est = DNNRegressor(metrics=["mae", "mse"], **{**FAST, "epochs": 3}).fit(X, y)
    predictions = est.predict(X)
    # The last epoch's metrics were measured during training, with weights
    # changing; they are of the order of the errors in the target's units.
    mae_now = np.mean(np.abs(predictions - y))
    assert 0.5 * mae_now < est.history_["mae"][-1] < 2.0 * mae_now
    assert est.history_["mse"][-1] > est.history_["mae"][-1]  # errors >> 1 in these units
    # The loss is in the target's units too (its MSE, the loss being squared
    # error); the optimizer's own, on the standardized target, is beside it.
    np.testing.assert_allclose(est.history_["loss"], est.history_["mse"], rtol=1e-5)
    assert est.history_["standardized_loss"][-1] < 5


# ----------------------------------------------------------------------------
# Learning rate
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_adaptive_learning_rate(Estimator, data_for, capsys):
    X, y = data_for(Estimator)
    params = {k: v for k, v in FAST.items() if k != "learning_rate"}
    est = Estimator(
        learning_rate="adaptive", tol=1e9, n_iter_no_change=1, verbose=2, **params
    ).set_params(epochs=40)
    est.fit(X, y)
    # No epoch after the first improves by tol: every second one divides the
    # rate by 5, until it is below 1e-6; two more epochs stop training.
    assert float(est.model_.optimizer.learning_rate) == pytest.approx(1e-3 / 5**5, rel=1e-5)
    assert est.n_iter_ == 1 + 2 * 5 + 2
    assert capsys.readouterr().out.count("Setting learning rate to") == 5


# ----------------------------------------------------------------------------
# partial_fit
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_continues_training(Estimator, data_for):
    X, y = data_for(Estimator)
    kwargs = {"classes": np.unique(y)} if Estimator is DNNClassifier else {}
    est = Estimator(**FAST)
    for start in range(0, 120, 40):
        est.partial_fit(X[start : start + 40], y[start : start + 40], **kwargs)
    assert est.n_iter_ == 3 and len(est.history_["loss"]) == 3
    iterations = int(est.model_.optimizer.iterations.numpy())
    est.partial_fit(X, y)
    assert int(est.model_.optimizer.iterations.numpy()) == iterations + 1  # one batch of 120
    # Many passes learn as fit does.
    for _ in range(30):
        est.partial_fit(X, y)
    assert est.history_["loss"][-1] < est.history_["loss"][0]
    assert est.score(X, y) > 0.5


def test_partial_fit_classes(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match="classes must be passed"):
        DNNClassifier(**FAST).partial_fit(X, y)
    est = DNNClassifier(**FAST).partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert est.predict_proba(X).shape == (len(X), 3)  # the unseen class has an output
    est.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"labels \[7\]"):
        est.partial_fit(X[:5], np.full(5, 7))
    with pytest.raises(ValueError, match="differs"):
        est.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="labels"):
        DNNClassifier(**FAST).partial_fit(X, y, classes=[0, 1])


# ----------------------------------------------------------------------------
# Failures
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_divergence_raises_and_leaves_estimator_unfitted(Estimator, data_for):
    X, y = data_for(Estimator)
    huge = dict(FAST, optimizer="sgd", learning_rate=1e12, momentum=0.0)
    est = Estimator(**huge)
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+.*smaller learning_rate"):
        est.fit(X * 1e3, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    # With warm_start the estimator keeps its last good state.
    est = Estimator(warm_start=True, **{**huge, "learning_rate": 1e-3}).fit(X, y)
    before = _predict(est, X)
    with pytest.raises(TrainingDivergedError):
        est.set_params(learning_rate=1e12).fit(X * 1e3, y)
    np.testing.assert_array_equal(_predict(est, X), before)
    assert np.all(np.isfinite(before))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_keyboard_interrupt_keeps_a_usable_estimator(Estimator, data_for):
    import keras

    X, y = data_for(Estimator)

    def interrupt(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    stop = keras.callbacks.LambdaCallback(on_epoch_end=interrupt)
    est = Estimator(callbacks=[stop], **{**FAST, "epochs": 50})
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, y)
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3
    assert np.all(np.isfinite(_predict(est, X)))


def test_decision_function_is_the_logits(classification_data):
    from scipy.special import softmax

    X, y = classification_data
    est = DNNClassifier(**FAST).fit(X, y)
    np.testing.assert_allclose(softmax(est.decision_function(X), axis=1), est.predict_proba(X))


# ----------------------------------------------------------------------------
# Summary, verbose
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_summary(Estimator, data_for, capsys):
    X, y = data_for(Estimator)
    est = Estimator(
        hidden_layer_sizes=(16, 8), **{k: v for k, v in FAST.items() if k != "hidden_layer_sizes"}
    ).fit(X, y)
    text = est.summary(print_fn=None)
    for expected in ("hidden_1", "hidden_2", "output", "Total params", "(None, 16)"):
        assert expected in text
    assert str(est.model_.count_params()) in text.replace(",", "")
    assert est.summary() is None
    assert "hidden_2" in capsys.readouterr().out
    with pytest.raises(NotFittedError):
        Estimator().summary()


def test_verbose_1_shows_progress_bar(classification_data, capsys):
    X, y = classification_data
    DNNClassifier(verbose=1, **{**FAST, "epochs": 2}).fit(X, y)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "1/1" in out and "accuracy" in out


# ----------------------------------------------------------------------------
# Curves
# ----------------------------------------------------------------------------
def test_training_curve_display(classification_data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = classification_data
    est = DNNClassifier(
        early_stopping=True, n_iter_no_change=2, **{**FAST, "epochs": 100, "learning_rate": 0.05}
    ).fit(X, y)
    display = TrainingCurveDisplay.from_estimator(est, metric="loss")
    np.testing.assert_array_equal(display.line_.get_ydata(), est.history_["loss"])
    np.testing.assert_array_equal(display.val_line_.get_ydata(), est.history_["val_loss"])
    assert display.best_epoch == int(np.argmin(est.history_["val_loss"])) + 1
    assert display.best_epoch_line_.get_xdata()[0] == display.best_epoch
    assert display.ax_.get_xlabel() == "epoch" and display.figure_ is display.ax_.figure
    fig, ax = plt.subplots()
    accuracy = TrainingCurveDisplay.from_estimator(est, metric="accuracy", ax=ax)
    assert accuracy.ax_ is ax and accuracy.ax_.get_ylabel() == "accuracy"
    with pytest.raises(ValueError, match="Did you mean 'accuracy'"):
        TrainingCurveDisplay.from_estimator(est, metric="acuracy")
    plain = DNNRegressor(**FAST).fit(X, y.astype(float))
    display = TrainingCurveDisplay.from_estimator(plain)
    assert display.val_line_ is None and display.best_epoch_line_ is None
    plt.close("all")


def test_early_stopping_restores_the_best_epoch(classification_data):
    X, y = classification_data
    recorder = EpochRecorder.make()
    est = DNNClassifier(
        early_stopping=True,
        n_iter_no_change=3,
        callbacks=[recorder],
        **{**FAST, "epochs": 200, "learning_rate": 0.1},
    ).fit(X, y)
    best = int(np.argmin(est.history_["val_loss"]))
    assert best < est.n_iter_ - 1  # it trained past the best epoch
    best_weights = est.callbacks_[0].weights[best]
    for got, expected in zip(est.model_.get_weights(), best_weights, strict=True):
        np.testing.assert_array_equal(got, expected)


# ----------------------------------------------------------------------------
# Saving and export
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_save_and_load(Estimator, data_for, tmp_path):
    import pandas as pd

    X, y = data_for(Estimator)
    frame = pd.DataFrame(X, columns=[f"feature {i}" for i in range(X.shape[1])])
    if Estimator is DNNClassifier:
        y = np.array(["low", "mid", "high"])[y]
    est = Estimator(dropout=0.1, metrics=["mse"], **FAST).fit(frame, y)
    path = tmp_path / "model.skdnn"
    est.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["model.keras", "skdnn.json"]
    loaded = skdnn.load(path)
    assert type(loaded) is Estimator
    assert loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(_predict(loaded, frame), _predict(est, frame))
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    assert loaded.history_ == est.history_
    if Estimator is DNNClassifier:
        np.testing.assert_array_equal(loaded.predict(frame), est.predict(frame))
        assert loaded.classes_.tolist() == ["high", "low", "mid"]
    # Training continues from the saved optimizer state.
    assert int(loaded.model_.optimizer.iterations.numpy()) == int(
        est.model_.optimizer.iterations.numpy()
    )
    loaded.set_params(warm_start=True).fit(frame, y)
    assert loaded.n_iter_ == 10


def test_save_keras_objects_and_refuse_newer_format(classification_data, tmp_path):
    import json

    import keras

    X, y = classification_data
    est = DNNClassifier(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
        callbacks=[keras.callbacks.TerminateOnNaN()],
        **FAST,
    ).fit(X, y)
    path = tmp_path / "sgd.skdnn"
    with pytest.warns(UserWarning, match="callbacks are not saved"):
        est.save(path)
    loaded = skdnn.load(path)
    assert isinstance(loaded.optimizer, keras.optimizers.SGD)
    assert loaded.optimizer.get_config()["momentum"] == 0.5
    assert loaded.callbacks is None
    # A file from a newer, incompatible skdnn gives a clear error.
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("skdnn.json"))
        model = archive.read("model.keras")
    config["format_version"] = 99
    newer = tmp_path / "newer.skdnn"
    with zipfile.ZipFile(newer, "w") as archive:
        archive.writestr("skdnn.json", json.dumps(config))
        archive.writestr("model.keras", model)
    with pytest.raises(ValueError, match="Upgrade skdnn"):
        skdnn.load(newer)
    (tmp_path / "junk").write_text("not a zip")
    with pytest.raises(ValueError, match="not a file written by skdnn"):
        skdnn.load(tmp_path / "junk")


@tensorflow_only  # exports a TensorFlow SavedModel
def test_export_for_serving(classification_data, tmp_path):
    import tensorflow as tf

    X, y = classification_data
    est = DNNClassifier(**FAST).fit(X, y)
    est.model_.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    probabilities = served.serve(tf.constant(X[:10], dtype=tf.float32)).numpy()
    np.testing.assert_allclose(
        probabilities, est.predict_proba(X[:10]), **matmul_tolerance(rtol=1e-7, atol=1e-5)
    )


def test_deepcopy_after_callbacks(classification_data):
    X, y = classification_data
    est = DNNClassifier(callbacks=[EpochRecorder.make()], **FAST).fit(X, y)
    copied = copy.deepcopy(est)
    np.testing.assert_array_equal(copied.predict_proba(X), est.predict_proba(X))
    assert copied.callbacks_ == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone(est)


def test_tensorboard_callback_writes_logs(classification_data, tmp_path):
    pytest.importorskip("tensorboard")
    import keras

    X, y = classification_data
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path))
    DNNClassifier(callbacks=[board], early_stopping=True, **FAST).fit(X, y)
    written = [name for _, _, files in os.walk(tmp_path) for name in files]
    assert any(name.startswith("events.out.tfevents") for name in written)


def test_training_curve_display_without_matplotlib(classification_data, monkeypatch):
    X, y = classification_data
    est = DNNClassifier(**FAST).fit(X, y)
    # None in sys.modules makes the import fail, as if matplotlib were absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib .*pip install '\.\[plot\]'"):
        TrainingCurveDisplay.from_estimator(est)
