"""All-or-nothing training and files.

A fit, warm fit or partial_fit that raises leaves the estimator exactly as
it was: unfitted after a failed first fit, with its previous network, history
and optimizer state after a failed later one. A KeyboardInterrupt is not a
failure: training stops and keeps what it learned, and the fit returns when
the user called it, or raises again inside a search so that the search
stops. A failed save leaves the old file, and a file that cannot be loaded
gives one clear error.
"""

import copy
import importlib.metadata
import io
import json
import os
import pickle
import re
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import ESTIMATORS, FAST, fitted_state, predictions, raising_callback
from packaging.version import Version
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

import skdnn
from skdnn import DNNClassifier, DNNRegressor, TrainingDivergedError

# Plain SGD in batches of 16: every epoch changes the weights, and scaling X
# by 1e30 makes the loss overflow within the first epoch of any call.
PARAMS = {**FAST, "hidden_layer_sizes": (8,), "epochs": 3, "optimizer": "sgd", "batch_size": 16}
DIVERGING_SCALE = 1e30


@pytest.fixture(scope="module")
def fitted(data_for):
    """Return a fresh copy of an estimator of the given class, fitted once."""
    fits = {}

    def get(Estimator):
        if Estimator not in fits:
            fits[Estimator] = Estimator(**PARAMS).fit(*data_for(Estimator))
        return copy.deepcopy(fits[Estimator])

    return get


def assert_unfitted(est, params_before, X):
    """A failed first fit leaves nothing behind: no fitted attribute at all."""
    assert vars(est) == params_before
    assert not [name for name in vars(est) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(NotFittedError):
        est.predict(X)


# ----------------------------------------------------------------------------
# A failed first fit leaves the estimator unfitted
# ----------------------------------------------------------------------------
def _failing_first_fit(cause, X, y):
    """Return ``(params, X, y, fit_params)`` of a first fit that fails by ``cause``."""
    cases = {
        "callback raises at an epoch's end": lambda: (
            {"callbacks": [raising_callback("on_epoch_end", epoch=1)]},
            X,
            y,
            {},
        ),
        "callback raises before training": lambda: (
            {"callbacks": [raising_callback("on_train_begin")]},
            X,
            y,
            {},
        ),
        "divergence": lambda: ({}, X * DIVERGING_SCALE, y, {}),
        "unknown metric": lambda: ({"metrics": ["no_such_metric"]}, X, y, {}),
        "not a callback": lambda: ({"callbacks": [print]}, X, y, {}),
        # 10% of 4 samples is 1 validation sample: too few to score.
        "validation split too small": lambda: (
            {"early_stopping": True, "validation_fraction": 0.1},
            X[:4],
            y[:4],
            {},
        ),
        "sample_weight of the wrong length": lambda: (
            {},
            X,
            y,
            {"sample_weight": np.ones(len(y) - 1)},
        ),
    }
    return cases[cause]()


FIRST_FIT_ERRORS = {
    "callback raises at an epoch's end": (RuntimeError, "boom"),
    "callback raises before training": (RuntimeError, "boom"),
    "divergence": (TrainingDivergedError, "diverged"),
    "unknown metric": (ValueError, "no_such_metric"),
    "not a callback": (ValueError, "Callback"),
    "validation split too small": (ValueError, "validation"),
    "sample_weight of the wrong length": (ValueError, "sample_weight"),
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("cause", list(FIRST_FIT_ERRORS))
def test_failed_first_fit_leaves_estimator_unfitted(Estimator, cause, data_for):
    params, X, y, fit_params = _failing_first_fit(cause, *data_for(Estimator))
    error, message = FIRST_FIT_ERRORS[cause]
    est = Estimator(**{**PARAMS, **params})
    params_before = dict(vars(est))
    with pytest.raises(error, match=message):
        est.fit(X, y, **fit_params)
    assert_unfitted(est, params_before, X)


def test_failed_first_fit_on_one_class_leaves_classifier_unfitted(classification_data):
    X, _ = classification_data
    est = DNNClassifier(**PARAMS)
    params_before = dict(vars(est))
    with pytest.raises(ValueError, match="class"):
        est.fit(X, np.zeros(len(X)))
    assert_unfitted(est, params_before, X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_failed_first_partial_fit_leaves_estimator_unfitted(Estimator, data_for):
    X, y = data_for(Estimator)
    kwargs = {"classes": np.unique(y)} if Estimator is DNNClassifier else {}
    est = Estimator(callbacks=[raising_callback("on_epoch_end")], **PARAMS)
    params_before = dict(vars(est))
    with pytest.raises(RuntimeError, match="boom"):
        est.partial_fit(X, y, **kwargs)
    assert_unfitted(est, params_before, X)


# ----------------------------------------------------------------------------
# A failed refit, warm fit or partial_fit changes nothing
# ----------------------------------------------------------------------------
TRAINING_CALLS = {
    "refit": lambda est, X, y: est.set_params(warm_start=False).fit(X, y),
    "warm fit": lambda est, X, y: est.set_params(warm_start=True).fit(X, y),
    "partial_fit": lambda est, X, y: est.partial_fit(X, y),
}

# cause -> (how to make the next call fail, given the estimator and X; the error)
REFIT_FAILURES = {
    "callback raises after the first epoch": (
        lambda est, X: (est.set_params(callbacks=[raising_callback("on_epoch_end")]), X),
        RuntimeError,
    ),
    # The first epoch's result was accepted by the callback: it too must be undone.
    "callback raises after the second epoch": (
        lambda est, X: (est.set_params(callbacks=[raising_callback("on_epoch_end", epoch=1)]), X),
        RuntimeError,
    ),
    "callback raises before training": (
        lambda est, X: (est.set_params(callbacks=[raising_callback("on_train_begin")]), X),
        RuntimeError,
    ),
    "huge X diverges": (lambda est, X: (est, X * DIVERGING_SCALE), TrainingDivergedError),
    "huge learning rate diverges": (
        lambda est, X: (est.set_params(learning_rate=1e6), X),
        TrainingDivergedError,
    ),
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "call, cause",
    [
        (call, cause)
        for call in TRAINING_CALLS
        for cause in REFIT_FAILURES
        # partial_fit trains a single epoch.
        if not (call == "partial_fit" and cause == "callback raises after the second epoch")
    ],
)
def test_failed_training_call_keeps_the_fitted_state(Estimator, call, cause, fitted, data_for):
    X, y = data_for(Estimator)
    est = fitted(Estimator)
    before = fitted_state(est, X)
    make_failing, error = REFIT_FAILURES[cause]
    est, X_train = make_failing(est, X)
    with pytest.raises(error):
        TRAINING_CALLS[call](est, X_train, y)
    np.testing.assert_equal(fitted_state(est, X), before)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("call", ["warm fit", "partial_fit"])
def test_continued_training_on_other_features_keeps_the_fitted_state(
    Estimator, call, fitted, data_for
):
    X, y = data_for(Estimator)
    est = fitted(Estimator)
    before = fitted_state(est, X)
    with pytest.raises(ValueError, match="features"):
        TRAINING_CALLS[call](est, X[:, :-1], y)
    # It still predicts on samples of the original width.
    np.testing.assert_equal(fitted_state(est, X), before)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("call", ["warm fit", "partial_fit"])
def test_continued_training_on_other_targets_keeps_the_fitted_state(
    Estimator, call, fitted, data_for
):
    X, y = data_for(Estimator)
    est = fitted(Estimator)
    before = fitted_state(est, X)
    # A label the network has no output for; a second output it does not have.
    other_y = np.where(y == 0, 7, y) if Estimator is DNNClassifier else np.column_stack([y, y])
    with pytest.raises(ValueError):
        TRAINING_CALLS[call](est, X, other_y)
    np.testing.assert_equal(fitted_state(est, X), before)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("refit_on", ["ndarray", "DataFrame with other columns"])
def test_failed_refit_keeps_the_feature_names(Estimator, refit_on, data_for):
    X, y = data_for(Estimator)
    frame = pd.DataFrame(X, columns=[f"feature {i}" for i in range(X.shape[1])])
    est = Estimator(**PARAMS).fit(frame, y)
    expected = predictions(est, frame)
    X_refit = X if refit_on == "ndarray" else frame.add_prefix("other ")
    est.set_params(callbacks=[raising_callback("on_epoch_end")])
    with pytest.raises(RuntimeError, match="boom"):
        est.fit(X_refit, y)
    np.testing.assert_array_equal(est.feature_names_in_, frame.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about feature names
        np.testing.assert_array_equal(predictions(est, frame), expected)


# ----------------------------------------------------------------------------
# KeyboardInterrupt stops training and keeps what it learned
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("call, epochs_done", [("warm fit", 2), ("partial_fit", 1)])
def test_keyboard_interrupt_in_continued_training_keeps_the_epochs_done(
    Estimator, call, epochs_done, fitted, data_for
):
    X, y = data_for(Estimator)
    est = fitted(Estimator)
    n_iter, before = est.n_iter_, predictions(est, X)
    interrupt = raising_callback("on_epoch_end", epoch=epochs_done - 1, error=KeyboardInterrupt)
    est.set_params(callbacks=[interrupt])
    with pytest.warns(UserWarning, match="interrupted"):
        assert TRAINING_CALLS[call](est, X, y) is est
    assert est.n_iter_ == n_iter + epochs_done
    assert len(est.history_["loss"]) == n_iter + epochs_done
    after = predictions(est, X)
    assert np.all(np.isfinite(after)) and not np.array_equal(after, before)


def interrupt_at_third_epoch():
    """Return a Keras callback raising KeyboardInterrupt at the end of every
    fit's third epoch (as Ctrl-C would), and the list of the epochs it saw
    across all fits (its copies share the list)."""
    import keras

    epochs = []

    def on_epoch_end(epoch, logs):
        epochs.append(epoch)
        if epoch == 2:
            raise KeyboardInterrupt

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end), epochs


def fit_in_a_worker(est, X, y):
    """Fit a clone of ``est`` sent through pickle, as a parallel search does."""
    callbacks = est.callbacks  # a closure, which pickle cannot send
    sent = pickle.loads(pickle.dumps(clone(est).set_params(callbacks=None)))
    return sent.set_params(callbacks=callbacks).fit(X, y)


# How scikit-learn fits an estimator it is given (a clone of it), with n_jobs=1.
IN_A_SEARCH = {
    "GridSearchCV": lambda est, X, y: GridSearchCV(est, {"alpha": [1e-4, 1e-3]}, cv=2).fit(X, y),
    "cross_validate": lambda est, X, y: cross_validate(est, X, y, cv=2),
    "Pipeline in GridSearchCV": lambda est, X, y: GridSearchCV(
        make_pipeline(StandardScaler(), est), {"standardscaler__with_mean": [True, False]}, cv=2
    ).fit(X, y),
    "clone in a worker": fit_in_a_worker,
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("search", IN_A_SEARCH)
def test_keyboard_interrupt_in_a_search_stops_the_search(Estimator, search, data_for):
    X, y = data_for(Estimator)
    interrupt, epochs = interrupt_at_third_epoch()
    est = Estimator(**{**PARAMS, "epochs": 50, "callbacks": [interrupt]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            IN_A_SEARCH[search](est, X, y)
    assert epochs == [0, 1, 2]  # the first fit stopped, and no other fit ran
    assert not [w for w in caught if "interrupted" in str(w.message)]  # the exception says it


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("own", ["estimator", "Pipeline"])
def test_keyboard_interrupt_in_your_own_fit_returns_with_the_epochs_done(Estimator, own, data_for):
    X, y = data_for(Estimator)
    interrupt, epochs = interrupt_at_third_epoch()
    est = Estimator(**{**PARAMS, "epochs": 50, "callbacks": [interrupt]})
    model = est if own == "estimator" else make_pipeline(StandardScaler(), est)
    with pytest.warns(UserWarning, match="interrupted .* keeps the weights trained so far"):
        assert model.fit(X, y) is model
    assert epochs == [0, 1, 2] and est.n_iter_ == 3
    assert np.all(np.isfinite(predictions(model, X)))


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------
def test_save_into_a_missing_folder_names_the_folder(fitted, tmp_path):
    folder = tmp_path / "models"
    message = f"the folder {re.escape(str(folder))} does not exist. Create the folder"
    with pytest.raises(FileNotFoundError, match=message):
        fitted(DNNClassifier).save(folder / "model.skdnn")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_failed_save_keeps_the_old_file(Estimator, fitted, data_for, tmp_path, monkeypatch):
    X, _ = data_for(Estimator)
    est = fitted(Estimator)
    path = tmp_path / "model.skdnn"
    est.save(path)
    old_bytes = path.read_bytes()

    writestr = zipfile.ZipFile.writestr
    written = []

    def write_one_entry_then_fail(archive, name, *args, **kwargs):
        written.append(name)
        if len(written) > 1:
            raise OSError("disk full")
        return writestr(archive, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", write_one_entry_then_fail)
    with pytest.raises(OSError, match="disk full"):
        est.save(path)
    monkeypatch.undo()
    assert len(written) >= 2  # the save failed half-way, not before it began
    assert os.listdir(tmp_path) == ["model.skdnn"]  # no temporary file left
    assert path.read_bytes() == old_bytes
    np.testing.assert_array_equal(predictions(skdnn.load(path), X), predictions(est, X))


@pytest.fixture(scope="module")
def saved_parts(fitted, tmp_path_factory):
    """A good file's bytes, its skdnn.json (parsed) and its model.keras (bytes)."""
    path = tmp_path_factory.mktemp("good") / "good.skdnn"
    fitted(DNNClassifier).save(path)
    with zipfile.ZipFile(path) as archive:
        config, model = json.loads(archive.read("skdnn.json")), archive.read("model.keras")
    return path.read_bytes(), config, model


def _zip(members):
    """Return the bytes of a zip archive holding ``members`` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _flip_middle_bytes(data, n=64):
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + n]) + data[middle + n :]


def _without(config, key):
    return json.dumps({k: v for k, v in config.items() if k != key})


# name -> the file's bytes, made from (good file, its config, its model bytes)
BAD_FILES = {
    "empty": lambda good, config, model: b"",
    "random bytes": lambda good, config, model: np.random.RandomState(0).bytes(4096),
    "truncated to half": lambda good, config, model: good[: len(good) // 2],
    "bytes flipped in the middle": lambda good, config, model: _flip_middle_bytes(good),
    "zip of an unrelated member": lambda good, config, model: _zip({"notes.txt": b"hello"}),
    "config not JSON": lambda good, config, model: _zip(
        {"skdnn.json": b"{not json", "model.keras": model}
    ),
    "config a JSON list": lambda good, config, model: _zip(
        {"skdnn.json": b"[1, 2, 3]", "model.keras": model}
    ),
    **{
        f"config without {key!r}": lambda good, config, model, key=key: _zip(
            {"skdnn.json": _without(config, key), "model.keras": model}
        )
        for key in ("class", "params", "fitted")
    },
    "model.keras garbage": lambda good, config, model: _zip(
        {"skdnn.json": json.dumps(config), "model.keras": np.random.RandomState(0).bytes(4096)}
    ),
}


# kind -> what the message says is wrong, where it is more than "corrupted"
BAD_FILE_REASONS = {
    "empty": "it is empty",
    "random bytes": "not a file written by skdnn's save",
    "truncated to half": "it is truncated or damaged: it starts as a file written by skdnn",
    "zip of an unrelated member": "a zip archive without skdnn.json and model.keras",
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_load_of_a_bad_file_raises_a_value_error_naming_it(kind, saved_parts, tmp_path):
    path = tmp_path / f"{kind}.skdnn"
    path.write_bytes(BAD_FILES[kind](*saved_parts))
    with pytest.raises(ValueError, match=re.escape(str(path))) as caught:
        skdnn.load(path)
    assert BAD_FILE_REASONS.get(kind, "") in str(caught.value)
    # Not a parser's own error that happens to be a ValueError.
    assert not isinstance(caught.value, (json.JSONDecodeError, UnicodeError))


def test_load_of_a_keras_file_raises_a_value_error_naming_it(fitted, tmp_path):
    path = tmp_path / "network.keras"
    fitted(DNNClassifier).model_.save(path)  # Keras's own format, not skdnn's
    with pytest.raises(ValueError, match=re.escape(str(path))):
        skdnn.load(path)


def test_load_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        skdnn.load(tmp_path / "missing.skdnn")


# ----------------------------------------------------------------------------
# Ported from scikit-learn's MLP tests
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "params",
    [
        {"optimizer": "sgd", "momentum": 0},
        {"optimizer": "sgd", "momentum": 0, "learning_rate": 1},
        {"learning_rate": np.float32(0.01)},
        {"alpha": np.float64(1e-3)},
        {"optimizer": "sgd", "momentum": np.float32(0.5)},
        {"tol": 0},
        {"early_stopping": True, "validation_fraction": np.float32(0.2)},
    ],
    ids=repr,
)
def test_real_hyperparameters_of_any_type(Estimator, params, data_for):
    X, y = data_for(Estimator)
    X, y = X[:60], y[:60]
    # One batch per epoch: plain SGD at learning_rate=1 stays finite for 2 epochs.
    est = Estimator(**{**PARAMS, "epochs": 2, "batch_size": "auto", **params}).fit(X, y)
    assert np.all(np.isfinite(predictions(est, X)))
    optimizer = est.model_.optimizer
    if "learning_rate" in params:
        assert float(optimizer.learning_rate) == pytest.approx(params["learning_rate"])
    if "momentum" in params:
        assert float(optimizer.momentum) == pytest.approx(params["momentum"])
    if "validation_fraction" in params:
        assert len(est.history_["val_loss"]) == est.n_iter_


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_hidden_layer_sizes_as_an_int(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(**{**PARAMS, "hidden_layer_sizes": 10, "epochs": 2}).fit(X, y)
    kernels = [w.shape for w in est.model_.get_weights() if w.ndim == 2]
    n_outputs = 3 if Estimator is DNNClassifier else 1
    assert kernels == [(X.shape[1], 10), (10, n_outputs)]
    assert est.get_params()["hidden_layer_sizes"] == 10  # stored unchanged


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predictions_keep_the_dtype_of_X(dtype, fitted, data_for):
    X, _ = data_for(DNNRegressor)
    assert fitted(DNNRegressor).predict(X.astype(dtype)).dtype == dtype
    X, _ = data_for(DNNClassifier)
    classifier = fitted(DNNClassifier)
    for method in ("predict_proba", "predict_log_proba", "decision_function"):
        assert getattr(classifier, method)(X.astype(dtype)).dtype == dtype, method


def _installed_version(package):
    try:
        return Version(importlib.metadata.version(package))
    except importlib.metadata.PackageNotFoundError:
        return None


TENSORFLOW_VERSION = _installed_version("tensorflow")


@pytest.mark.skipif(
    TENSORFLOW_VERSION is not None and TENSORFLOW_VERSION < Version("2.21"),
    reason="TensorFlow < 2.21 cannot be imported under python -OO: it parses module docstrings",
)
def test_import_and_fit_without_docstrings():
    # python -OO strips docstrings; the shared docstring text must cope.
    code = (
        "import numpy as np; import skdnn\n"
        "X = np.random.RandomState(0).rand(40, 3); y = np.arange(40) % 2\n"
        "print(skdnn.DNNClassifier(epochs=2, random_state=0).fit(X, y).score(X, y))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-OO", "-c", code], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert 0.0 <= float(result.stdout.strip().splitlines()[-1]) <= 1.0
