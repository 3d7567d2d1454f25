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
