import os

# Keep TensorFlow's C++ logging quiet; set before TensorFlow is first imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import copy  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.base import is_classifier  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402

from skdnn import DNNClassifier, DNNRegressor  # noqa: E402

# Small networks and few epochs: every test pays Keras's per-fit overhead.
FAST = dict(hidden_layer_sizes=(16,), epochs=5, learning_rate=0.01, random_state=0)

ESTIMATORS = [DNNClassifier, DNNRegressor]


def keras_backend():
    """The Keras backend this run tests (``KERAS_BACKEND``; see ``.ci/run``)."""
    import keras  # here, so that keras is imported by tests only

    return keras.config.backend()


# For what only exists on TensorFlow (tf.distribute, its thread pools,
# SavedModel export); the suite runs once per backend.
tensorflow_only = pytest.mark.skipif(
    keras_backend() != "tensorflow", reason="TensorFlow's own API, not used on other backends"
)


# ----------------------------------------------------------------------------
# The device's float32 arithmetic
# ----------------------------------------------------------------------------
# Recent NVIDIA GPUs multiply float32 matrices in TF32 by default: each
# input is rounded to a 10-bit significand (relative error up to 2**-11), so
# a product of two carries up to 2**-10 (about 1e-3), and a network's two
# products (hidden, output layer) about twice that. Keras's predict on such a
# GPU, or a fit whose products take another path there (sparse batches, other
# shapes), then differs from NumPy's float32 predict at that level (3e-4 seen
# on an H200 with JAX), where CPUs agree to 1e-5.
TF32_RTOL = 2 * 2**-10

# Reproducibility on a GPU holds up to a few float32 ulps (eps = 1.2e-7):
# reductions there may add in another order from run to run (2e-10 seen on an
# H200 between two processes), while another seed, sample or setting moves a
# prediction by 1e-3 or more.
GPU_REPRODUCED = dict(rtol=1e-6, atol=1e-8)


def _gpu_settings():
    """Return ``(on_gpu, uses_tf32)`` for the default device of this backend.

    Only reads the backend's settings: the user's choice, never changed here.
    """
    backend = keras_backend()
    if backend == "jax":
        import jax

        if jax.default_backend() != "gpu":
            return False, False
        precision = jax.config.jax_default_matmul_precision
        return True, str(precision).lower() not in ("highest", "float32", "f32_f32_f32")
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return False, False
        # Keras leaves these alone: PyTorch's defaults are full float32
        # matmuls and TF32 convolutions.
        return True, (
            torch.backends.cuda.matmul.allow_tf32
            or torch.get_float32_matmul_precision() != "highest"
            or torch.backends.cudnn.allow_tf32
        )
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return False, False
    return True, tf.config.experimental.tensor_float_32_execution_enabled()


def matmul_tolerance(rtol, atol=0.0, scale=1.0):
    """Tolerances for results of float32 matrix products computed two ways.

    Use it where Keras's predict or evaluate meets skdnn's NumPy predict, or
    where two fits multiply by different paths (sparse and dense batches,
    weighted and repeated rows, one device and two). On a CPU, or a GPU in
    full float32, it returns ``rtol`` and ``atol`` unchanged; on a GPU using
    TF32, at least :data:`TF32_RTOL`, and ``TF32_RTOL * scale`` absolute for
    values of magnitude ``scale``.

    Returns a dict for ``np.testing.assert_allclose(actual, desired, **...)``.
    """
    if not _gpu_settings()[1]:
        return dict(rtol=rtol, atol=atol)
    return dict(rtol=max(rtol, TF32_RTOL), atol=max(atol, TF32_RTOL * scale))


def assert_reproduced(actual, desired, err_msg=""):
    """Assert that a fit reproduced another: bit for bit on a CPU.

    For two fits with the same integer ``random_state`` (another process,
    thread, trainer or spelling of a parameter). On a GPU, up to
    :data:`GPU_REPRODUCED`: its reductions need not add in the same order
    twice. Not for predictions of one fitted estimator or of an exact copy
    (pickle, save and load): NumPy computes those, on the CPU, identically.
    """
    if _gpu_settings()[0]:
        np.testing.assert_allclose(actual, desired, err_msg=err_msg, **GPU_REPRODUCED)
    else:
        np.testing.assert_array_equal(actual, desired, err_msg=err_msg)


# Test modules whose behaviour does not depend on the Keras backend: the
# docs and examples, packaging, scikit-learn's tools around the estimators,
# plotting, Dask, warnings and the pure target encoders. Marked
# ``one_backend``: CI runs them on TensorFlow only (.ci/run); locally they
# run on whichever backend KERAS_BACKEND names.
ONE_BACKEND_MODULES = {
    "test_dask",
    "test_docs",
    "test_integration",
    "test_migration_docs",
    "test_model_selection",
    "test_packaging",
    "test_plot",
    "test_site",
    "test_sklearn_callbacks",
    "test_target",
    "test_warnings",
}


def pytest_collection_modifyitems(config, items):
    """Mark the ``one_backend`` modules; on PyTorch, skip the ``quality`` tests.

    Their thresholds are scores of fixed-seed fits, met by TensorFlow's and
    JAX's draws of the initial weights; PyTorch draws others. What they would
    check on PyTorch, tests/test_backends.py checks directly: from the same
    weights, training on PyTorch follows the other backends' curves.
    """
    for item in items:
        module = getattr(item, "module", None)  # doctests have none
        if module is not None and module.__name__ in ONE_BACKEND_MODULES:
            item.add_marker(pytest.mark.one_backend)
    if keras_backend() != "torch":
        return
    skip = pytest.mark.skip(
        reason="fixed-seed scores of TensorFlow's and JAX's draws; PyTorch draws other "
        "initial weights (tests/test_backends.py: same weights, same training)"
    )
    for item in items:
        if "quality" in item.keywords:
            item.add_marker(skip)


def dense_body(units=16, input_shape=None):
    """A small network body for KerasClassifier and KerasRegressor: one hidden
    Dense layer. Module-level, so that estimators using it pickle."""
    import keras

    return keras.Sequential(
        [keras.Input(input_shape), keras.layers.Dense(units, activation="relu")]
    )


def predictions(est, X):
    """Return what must be reproduced exactly: probabilities or predictions."""
    return est.predict_proba(X) if is_classifier(est) else est.predict(X)


def raising_callback(when="on_epoch_end", epoch=0, error=RuntimeError):
    """Return a Keras callback whose hook ``when`` raises ``error("boom")``.

    It raises on the hook's call number ``epoch`` (from 0) of one fit; each fit
    uses a fresh copy of the callback. With ``when="on_epoch_end"`` and
    ``epoch=1``, two epochs have been trained when it raises.
    """
    import keras  # here, so that keras is imported by tests only

    class RaisingCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def _count_and_raise(self, *args, **kwargs):
            self.calls += 1
            if self.calls > epoch:
                raise error("boom")

    setattr(RaisingCallback, when, RaisingCallback._count_and_raise)
    return RaisingCallback()


def fitted_state(est, X):
    """Snapshot what a failed fit must leave unchanged.

    Compare two snapshots with ``np.testing.assert_equal``: it compares the
    nested dicts and lists, and arrays exactly.
    """
    optimizer = est.model_.optimizer
    return {
        "attributes": {
            name: copy.deepcopy(value)
            for name, value in vars(est).items()
            if name.endswith("_")
            and not name.startswith("_")
            and name not in ("model_", "callbacks_")
        },
        "predictions": predictions(est, X),
        "predict": est.predict(X),
        "weights": est.model_.get_weights(),
        "optimizer iterations": int(optimizer.iterations.numpy()),
        "optimizer variables": [variable.numpy() for variable in optimizer.variables],
        "learning rate": float(optimizer.learning_rate),
    }


@pytest.fixture(scope="session")
def classification_data():
    X, y = make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def regression_data():
    X, y = make_regression(n_samples=120, n_features=6, noise=1.0, random_state=0)
    return X.astype(np.float32), y * 50 + 300


@pytest.fixture(scope="session")
def data_for(classification_data, regression_data):
    """Return ``(X, y)`` fitting the given estimator class."""

    def get(Estimator):
        return classification_data if Estimator is DNNClassifier else regression_data

    return get
