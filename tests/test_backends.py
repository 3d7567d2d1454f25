"""Every Keras backend: the engine runs on the one the user configured.

The whole suite runs once per supported backend (``KERAS_BACKEND``, see
``.ci/run``); the tests here check what is specific to backends: the error
for an unsupported one, files that move between backends, hyperparameters
that are loaded rather than traced, what a process imports, and what differs
on JAX and on PyTorch.
"""

import ast
import importlib
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import ESTIMATORS, FAST, assert_reproduced, matmul_tolerance, predictions
from sklearn.exceptions import NotFittedError

import skdnn
from skdnn import DNNClassifier, DNNRegressor
from skdnn._training.backends import BACKENDS
from skdnn._training.optimizers import to_trainer_values, trainer_optimizer
from skdnn._training.trainer import pooled_keys

BACKEND = keras.config.backend()


def _installed(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


# The other supported backends that can run here, each in its own process
# (each backend's name is its Python module's).
OTHER_BACKENDS = [name for name in sorted(BACKENDS) if name != BACKEND and _installed(name)]
other_backends = pytest.mark.parametrize(
    "other",
    OTHER_BACKENDS
    or [pytest.param(None, marks=pytest.mark.skip(reason="no other backend installed"))],
)


def run_python(code, backend=BACKEND, **env):
    """Run ``code`` in a new Python process on ``backend``; return its stdout."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", **env)
    env["PYTHONWARNINGS"] = "ignore"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unsupported_backend_gets_a_clear_error(Estimator, data_for, monkeypatch):
    # As if the user had set KERAS_BACKEND to a backend skdnn has no engine for.
    monkeypatch.setattr(keras.config, "backend", lambda: "numpy")
    est = Estimator(**FAST)
    message = (
        r"active backend is 'numpy'.*"
        r"KERAS_BACKEND=jax, KERAS_BACKEND=tensorflow or KERAS_BACKEND=torch"
    )
    with pytest.raises(RuntimeError, match=message):
        est.fit(*data_for(Estimator))
    with pytest.raises(NotFittedError):
        est.predict(data_for(Estimator)[0])


def test_every_supported_backend_has_an_engine():
    assert set(BACKENDS) == {"tensorflow", "jax", "torch"}
    for name, module in BACKENDS.items():
        backend = importlib.import_module(f"skdnn._training.backends.{module}").BACKEND
        assert backend.name == name
        assert hasattr(backend.Engine, "train_epoch")


# ----------------------------------------------------------------------
# Hyperparameters loaded, not traced
# ----------------------------------------------------------------------
def test_momentum_and_nesterov_share_one_trace(classification_data):
    X, y = classification_data
    params = dict(FAST, hidden_layer_sizes=(23,), optimizer="sgd")
    skdnn.clear_cache()
    results = {}
    for momentum, nesterov in [(0.0, False), (0.9, False), (0.9, True), (0.5, False)]:
        est = DNNClassifier(momentum=momentum, nesterov=nesterov, **params).fit(X, y)
        results[momentum, nesterov] = predictions(est, X)
        assert est.model_.optimizer.momentum == momentum  # Keras's own SGD, as configured
    assert len(pooled_keys()) == 1
    # A trainer that trained other momentum values gives what a new one gives.
    skdnn.clear_cache()
    fresh = DNNClassifier(momentum=0.9, nesterov=True, **params).fit(X, y)
    assert_reproduced(predictions(fresh, X), results[0.9, True])
    assert not np.allclose(results[0.0, False], results[0.9, False])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_dropout_rates_share_one_trace(Estimator, data_for):
    X, y = data_for(Estimator)
    params = dict(FAST, hidden_layer_sizes=(17, 5))
    skdnn.clear_cache()
    first = predictions(Estimator(dropout=(0.1, 0.4), **params).fit(X, y), X)
    other = predictions(Estimator(dropout=(0.3, 0.2), **params).fit(X, y), X)
    assert len(pooled_keys()) == 1
    again = predictions(Estimator(dropout=(0.1, 0.4), **params).fit(X, y), X)
    assert_reproduced(again, first)
    assert not np.allclose(first, other)
    # The estimator's model keeps Keras's own Dropout layers, at its rates.
    est = Estimator(dropout=(0.1, 0.4), **params).fit(X, y)
    dropouts = [layer for layer in est.model_.layers if "dropout" in layer.name]
    assert [type(layer) for layer in dropouts] == [keras.layers.Dropout] * 2
    assert [layer.rate for layer in dropouts] == [0.1, 0.4]


def test_alpha_shares_one_trace(regression_data):
    X, y = regression_data
    skdnn.clear_cache()
    curves = [
        DNNRegressor(alpha=alpha, **dict(FAST, hidden_layer_sizes=(29,)))
        .fit(X, y)
        .history_["standardized_loss"]
        for alpha in (0.0, 10.0)
    ]
    assert len(pooled_keys()) == 1
    # The penalty is in the loss the optimizer minimizes (the loss in the
    # target's units leaves it out).
    assert curves[1][0] > curves[0][0]


def _sgd_steps(optimizer, steps=3):
    """Apply the same gradients ``steps`` times to a fresh weight; return it."""
    weight = keras.Variable(np.array([1.0, -2.0, 0.5], dtype="float32"))
    optimizer.build([weight])
    for step in range(steps):
        gradient = keras.ops.convert_to_tensor(np.array([0.3, -0.1, 2.0], "float32") * (step + 1))
        optimizer.apply_gradients([(gradient, weight)])
    return keras.ops.convert_to_numpy(weight)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.7, True)])
def test_trainer_sgd_computes_what_keras_sgd_computes(momentum, nesterov):
    keras_sgd = keras.optimizers.SGD(learning_rate=0.1, momentum=momentum, nesterov=nesterov)
    expected = _sgd_steps(keras_sgd)
    tunable = trainer_optimizer(keras_sgd)
    assert type(tunable) is not keras.optimizers.SGD
    np.testing.assert_allclose(_sgd_steps(tunable), expected, rtol=1e-6)


def test_trainer_sgd_loads_keras_sgd_state():
    weight = keras.Variable(np.zeros(3, dtype="float32"))
    keras_sgd = keras.optimizers.SGD(momentum=0.0)
    keras_sgd.build([weight])
    tunable = trainer_optimizer(keras.optimizers.SGD(momentum=0.9))
    tunable.build([weight])
    values = to_trainer_values(tunable, [v.numpy() for v in keras_sgd.variables], keras_sgd)
    # iterations, learning rate, one (zero) momentum buffer, momentum, nesterov
    assert len(values) == len(tunable.variables) == 5
    assert values[-2:] == [0.0, 0.0]


# ----------------------------------------------------------------------
# Files and processes
# ----------------------------------------------------------------------
LOAD_AND_PREDICT = """
import numpy as np, skdnn, keras
est = skdnn.load({path!r})
X = np.load({data!r})
np.save({out!r}, est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X))
print(keras.config.backend())
"""


@pytest.mark.one_backend
@other_backends
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_file_saved_here_predicts_the_same_on_another_backend(
    Estimator, other, data_for, tmp_path
):
    X, y = data_for(Estimator)
    est = Estimator(**FAST).fit(X, y)
    path, data, out = tmp_path / "model.skdnn", tmp_path / "X.npy", tmp_path / "out.npy"
    est.save(path)
    np.save(data, X)
    code = LOAD_AND_PREDICT.format(path=str(path), data=str(data), out=str(out))
    assert run_python(code, backend=other).strip() == other
    np.testing.assert_allclose(np.load(out), predictions(est, X), rtol=1e-4, atol=1e-5)


FIT_AND_SAVE = """
import numpy as np, skdnn
X = np.load({data!r})
for name, y in [("DNNClassifier", np.load({y_class!r})), ("DNNRegressor", np.load({y_reg!r}))]:
    est = getattr(skdnn, name)(**{params!r}).fit(X, y)
    est.save({folder!r} + "/" + name + ".skdnn")
    out = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
    np.save({folder!r} + "/" + name + ".npy", out)
"""


@pytest.mark.one_backend
@other_backends
def test_a_file_saved_on_another_backend_predicts_the_same_here(other, data_for, tmp_path):
    # One X for both estimators: the regression targets fit any samples.
    (X, y_class), (_, y_reg) = data_for(DNNClassifier), data_for(DNNRegressor)
    targets = {DNNClassifier: y_class, DNNRegressor: y_reg}
    paths = {name: str(tmp_path / f"{name}.npy") for name in ("X", "y_class", "y_reg")}
    for name, values in [("X", X), ("y_class", y_class), ("y_reg", y_reg)]:
        np.save(paths[name], values)
    code = FIT_AND_SAVE.format(
        data=paths["X"],
        y_class=paths["y_class"],
        y_reg=paths["y_reg"],
        params=FAST,
        folder=str(tmp_path),
    )
    run_python(code, backend=other)
    for Estimator in ESTIMATORS:
        est = skdnn.load(tmp_path / f"{Estimator.__name__}.skdnn")
        assert isinstance(est, Estimator)
        expected = np.load(tmp_path / f"{Estimator.__name__}.npy")
        np.testing.assert_allclose(predictions(est, X), expected, rtol=1e-4, atol=1e-5)
        # Training goes on here, from the other backend's weights and optimizer state.
        n_iter = est.n_iter_
        est.set_params(warm_start=True, epochs=2).fit(X, targets[Estimator])
        assert est.n_iter_ == n_iter + 2
        assert not np.allclose(predictions(est, X), expected)


CONTINUE_TRAINING = """
import numpy as np, skdnn
X = np.load({data!r})
for name in ("DNNClassifier", "DNNRegressor"):
    est = skdnn.load({folder!r} + "/" + name + ".skdnn")
    est.set_params(warm_start=True, epochs=4).fit(X, np.load({folder!r} + "/" + name + "_y.npy"))
    np.save({folder!r} + "/" + name + "_curve.npy", est.loss_curve_)
"""


@pytest.mark.one_backend
@other_backends
def test_training_from_the_same_weights_follows_the_same_curve_on_another_backend(
    other, data_for, tmp_path
):
    # The backends draw different initial weights and dropout masks; given
    # the same weights (a saved fit) and no dropout, they train the same
    # network: the shuffling is NumPy's, the arithmetic the same to float32
    # rounding. Fixed-seed quality on one backend is quality on every backend.
    X = data_for(DNNClassifier)[0]
    np.save(tmp_path / "X.npy", X)
    continued = {}
    for Estimator in ESTIMATORS:
        name, y = Estimator.__name__, data_for(Estimator)[1]
        np.save(tmp_path / f"{name}_y.npy", y)
        params = dict(FAST, epochs=1, n_iter_no_change=None, optimizer="sgd", momentum=0.9)
        Estimator(**params).fit(X, y).save(tmp_path / f"{name}.skdnn")
        est = skdnn.load(tmp_path / f"{name}.skdnn").set_params(warm_start=True, epochs=4)
        continued[name] = est.fit(X, y).loss_curve_
    run_python(CONTINUE_TRAINING.format(data=str(tmp_path / "X.npy"), folder=str(tmp_path)), other)
    for name, curve in continued.items():
        assert len(curve) == 5
        np.testing.assert_allclose(
            np.load(tmp_path / f"{name}_curve.npy"), curve, **matmul_tolerance(1e-4)
        )


FIT_AND_PRINT = """
import numpy as np, sys
from sklearn.datasets import make_classification
from skdnn import DNNClassifier
X, y = make_classification(150, 6, n_informative=4, n_classes=3, random_state=0)
est = DNNClassifier(hidden_layer_sizes=(8,), dropout=0.1, epochs=3, random_state=4).fit(X, y)
print(repr(est.predict_proba(X[:5]).round(7).tolist()))
print(sorted(name for name in ("tensorflow", "jax", "torch") if name in sys.modules))
"""


def test_integer_random_state_reproduces_across_processes():
    first, second = run_python(FIT_AND_PRINT), run_python(FIT_AND_PRINT)
    assert_reproduced(*(ast.literal_eval(out.splitlines()[0]) for out in (second, first)))


@pytest.mark.skipif(BACKEND == "tensorflow", reason="what a JAX or PyTorch process imports")
def test_training_does_not_import_tensorflow():
    # Keras imports TensorFlow whenever it serializes an object and
    # TensorFlow is installed, which costs seconds at start-up. (Keras itself
    # imports JAX, when installed, on every backend: its Orbax callback.)
    imported = run_python(FIT_AND_PRINT).splitlines()[1]
    assert "tensorflow" not in imported and repr(BACKEND) in imported


@pytest.mark.one_backend
@pytest.mark.skipif(not _installed("torch"), reason="PyTorch is not installed")
@pytest.mark.parametrize("backend", [name for name in ("tensorflow", "jax") if _installed(name)])
def test_training_on_another_backend_does_not_import_torch(backend):
    # Installing PyTorch beside TensorFlow and JAX costs their processes nothing.
    assert "torch" not in run_python(FIT_AND_PRINT, backend=backend).splitlines()[1]


MIRRORED = """
import numpy as np, jax
from sklearn.datasets import make_classification
from skdnn import DNNClassifier
assert jax.device_count() == 2
X, y = make_classification(200, 6, n_informative=4, n_classes=3, random_state=0)
params = dict(hidden_layer_sizes=(8,), epochs=3, random_state=0, batch_size=50)
one = DNNClassifier(**params).fit(X, y).predict_proba(X)
two = DNNClassifier(distribution="mirrored", **params).fit(X, y).predict_proba(X)
print(float(np.abs(one - two).max()))
"""


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's data parallelism")
def test_mirrored_on_two_jax_devices_trains_the_same_network():
    output = run_python(MIRRORED, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert float(output) < 1e-5


@pytest.mark.skipif(BACKEND != "jax", reason="TensorFlow strategies on JAX")
def test_tensorflow_strategy_on_jax_is_refused(classification_data):
    class Strategy:  # what the parameter constraint accepts: scope() and run()
        def scope(self):
            pass

        def run(self):
            pass

    with pytest.raises(ValueError, match="TensorFlow strategy, but Keras runs on JAX"):
        DNNClassifier(distribution=Strategy(), **FAST).fit(*classification_data)


# ----------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------
torch_only = pytest.mark.skipif(BACKEND != "torch", reason="what differs on PyTorch")


@torch_only
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sparse_input_on_torch_is_made_dense_one_batch_at_a_time(Estimator, data_for, monkeypatch):
    # Keras's torch backend has no sparse tensors; the whole matrix is never
    # dense, only the rows of one batch (or of one validation chunk).
    X, y = data_for(Estimator)
    X = sp.csr_matrix(np.where(np.abs(X) < 0.8, 0, X).astype(np.float32))
    rows = []
    toarray = sp.csr_matrix.toarray

    def recording_toarray(self, *args, **kwargs):
        rows.append(self.shape[0])
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", recording_toarray)
    params = dict(FAST, batch_size=16, n_iter_no_change=None)
    est = Estimator(**params).fit(X[:90], y[:90], X_val=X[90:], y_val=y[90:])
    batches_per_epoch = -(-90 // 16)
    # Each epoch: 6 batches (the last of 10 rows), then the 30 validation rows.
    assert rows == ([16] * (batches_per_epoch - 1) + [10, 30]) * FAST["epochs"]
    rows.clear()
    predictions(est, X)  # NumPy's sparse products: nothing made dense
    assert rows == []
    dense = Estimator(**params).fit(X[:90].toarray(), y[:90], X_val=X[90:], y_val=y[90:])
    tolerance = matmul_tolerance(1e-5)  # sparse and dense batches: other products
    np.testing.assert_allclose(est.loss_curve_, dense.loss_curve_, **tolerance)
    np.testing.assert_allclose(est.history_["val_loss"], dense.history_["val_loss"], **tolerance)


class _Strategy:  # what the parameter constraint accepts: scope() and run()
    def scope(self):
        pass

    def run(self):
        pass


@torch_only
@pytest.mark.parametrize("distribution", ["mirrored", _Strategy()], ids=["mirrored", "strategy"])
def test_distribution_on_torch_is_refused(distribution, classification_data):
    est = DNNClassifier(distribution=distribution, **FAST)
    with pytest.raises(ValueError, match="Use distribution=None.*KERAS_BACKEND=tensorflow or jax"):
        est.fit(*classification_data)
    with pytest.raises(NotFittedError):
        est.predict(classification_data[0])


@torch_only
def test_fits_on_torch_neither_read_nor_change_torch_global_random_state(classification_data):
    import torch

    X, y = classification_data
    params = dict(FAST, dropout=0.2, shuffle=True)
    torch.manual_seed(1)
    first = predictions(DNNClassifier(**params).fit(X, y), X)
    torch.manual_seed(2)
    state = torch.random.get_rng_state()
    second = predictions(DNNClassifier(**params).fit(X, y), X)
    assert_reproduced(second, first)
    assert torch.equal(torch.random.get_rng_state(), state)


@torch_only
def test_a_metric_keras_cannot_compute_on_torch_gets_a_clear_error(classification_data):
    # Keras's torch backend fails a top-k metric whose k exceeds the number
    # of classes (its other backends count every sample as a hit).
    est = DNNClassifier(metrics=["top_k_categorical_accuracy"], **FAST)
    with pytest.raises(ValueError, match="metric 'top_k_categorical_accuracy'.*Remove it"):
        est.fit(*classification_data)
    with pytest.raises(NotFittedError):
        est.predict(classification_data[0])
