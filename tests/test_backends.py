"""Every Keras backend: the engine runs on the one the user configured.

The whole suite runs once per supported backend (``KERAS_BACKEND``, see
``.ci/run``); the tests here check what is specific to backends: the error
for an unsupported one, files that move between backends, hyperparameters
that are loaded rather than traced, and what a JAX process imports.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ESTIMATORS, FAST, predictions
from sklearn.exceptions import NotFittedError

import skdnn
from skdnn import DNNClassifier, DNNRegressor
from skdnn._optimizers import to_trainer_values, trainer_optimizer
from skdnn._trainer import ENGINES, pooled_keys

BACKEND = keras.config.backend()
OTHER_BACKEND = {"tensorflow": "jax", "jax": "tensorflow"}[BACKEND]


def _installed(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


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
    # As if the user had set KERAS_BACKEND=torch before importing keras.
    monkeypatch.setattr(keras.config, "backend", lambda: "torch")
    est = Estimator(**FAST)
    message = r"active backend is 'torch'.*KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax"
    with pytest.raises(RuntimeError, match=message):
        est.fit(*data_for(Estimator))
    with pytest.raises(NotFittedError):
        est.predict(data_for(Estimator)[0])


def test_both_backends_have_an_engine():
    assert set(ENGINES) == {"tensorflow", "jax"}


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
    np.testing.assert_array_equal(predictions(fresh, X), results[0.9, True])
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
    np.testing.assert_array_equal(first, again)
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
        DNNRegressor(alpha=alpha, **dict(FAST, hidden_layer_sizes=(29,))).fit(X, y).loss_curve_
        for alpha in (0.0, 10.0)
    ]
    assert len(pooled_keys()) == 1
    assert curves[1][0] > curves[0][0]  # the penalty is in the loss


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


@pytest.mark.skipif(
    not (_installed("tensorflow") and _installed("jax")), reason="needs both backends installed"
)
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_file_saved_on_one_backend_predicts_the_same_on_the_other(Estimator, data_for, tmp_path):
    X, y = data_for(Estimator)
    est = Estimator(**FAST).fit(X, y)
    path, data, out = tmp_path / "model.skdnn", tmp_path / "X.npy", tmp_path / "out.npy"
    est.save(path)
    np.save(data, X)
    code = LOAD_AND_PREDICT.format(path=str(path), data=str(data), out=str(out))
    assert run_python(code, backend=OTHER_BACKEND).strip() == OTHER_BACKEND
    np.testing.assert_allclose(np.load(out), predictions(est, X), rtol=1e-4, atol=1e-5)


FIT_AND_PRINT = """
import numpy as np, sys
from sklearn.datasets import make_classification
from skdnn import DNNClassifier
X, y = make_classification(150, 6, n_informative=4, n_classes=3, random_state=0)
est = DNNClassifier(hidden_layer_sizes=(8,), dropout=0.1, epochs=3, random_state=4).fit(X, y)
print(repr(est.predict_proba(X[:5]).round(7).tolist()))
print("tensorflow" in sys.modules)
"""


def test_integer_random_state_reproduces_across_processes():
    first, second = run_python(FIT_AND_PRINT), run_python(FIT_AND_PRINT)
    assert first.splitlines()[0] == second.splitlines()[0]


@pytest.mark.skipif(BACKEND != "jax", reason="what a JAX process imports")
def test_training_on_jax_does_not_import_tensorflow():
    # Keras imports TensorFlow whenever it serializes an object and
    # TensorFlow is installed, which costs seconds at start-up.
    assert run_python(FIT_AND_PRINT).splitlines()[1] == "False"


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
