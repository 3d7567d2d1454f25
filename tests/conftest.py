import os

# Keep TensorFlow's C++ logging quiet; set before TensorFlow is first imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402

from skdnn import DNNClassifier  # noqa: E402

# Small networks and few epochs: every test pays Keras's per-fit overhead.
FAST = dict(hidden_layer_sizes=(16,), epochs=5, learning_rate=0.01, random_state=0)


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


@pytest.fixture
def data_for(classification_data, regression_data):
    """Return ``(X, y)`` fitting the given estimator class."""

    def get(Estimator):
        return classification_data if Estimator is DNNClassifier else regression_data

    return get
