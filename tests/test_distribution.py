"""One network on several devices: the ``distribution`` hyperparameter."""

import os
import pickle
import subprocess
import sys

import numpy as np
from conftest import FAST, matmul_tolerance, tensorflow_only
from sklearn.base import clone

from skdnn import DNNClassifier

# TensorFlow's devices are fixed when it starts: two logical CPU devices need
# a fresh process.
SCRIPT = """
import json, pickle, sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from sklearn.datasets import make_classification, make_regression
from skdnn import DNNClassifier, DNNRegressor

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
X, y = make_classification(n_samples=400, n_features=8, n_informative=5, n_classes=3,
                           random_state=0)
Xr, yr = make_regression(n_samples=400, n_features=8, noise=5.0, random_state=0)
params = dict(hidden_layer_sizes=(32,), epochs=20, learning_rate=0.01, random_state=0,
              metrics=["AUC"])
report = {}
for name, Estimator, data in [("clf", DNNClassifier, (X, y)), ("reg", DNNRegressor, (Xr, yr))]:
    params_here = {k: v for k, v in params.items() if not (name == "reg" and k == "metrics")}
    one = Estimator(**params_here).fit(*data)
    two = Estimator(distribution=strategy, **params_here).fit(*data)
    restored = pickle.loads(pickle.dumps(two))
    report[name] = {
        "replicas": strategy.num_replicas_in_sync,
        "score_one": one.score(*data), "score_two": two.score(*data),
        "loss_one": one.loss_curve_, "loss_two": two.loss_curve_,
        "pickled_distribution": repr(restored.distribution),
        "pickled_equal": bool(np.array_equal(restored.predict(data[0]), two.predict(data[0]))),
    }
print(json.dumps(report))
"""

pytestmark = tensorflow_only  # tf.distribute strategies (JAX: tests/test_backends.py)


def test_mirrored_strategy_on_two_cpu_devices_matches_one_device():
    import json

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    for result in report.values():
        assert result["replicas"] == 2
        # The same sums, split over two replicas: equal up to float32 rounding
        # (and TF32's, where one device is a GPU multiplying in TF32).
        np.testing.assert_allclose(result["loss_two"], result["loss_one"], **matmul_tolerance(1e-4))
        assert abs(result["score_two"] - result["score_one"]) < 0.02
        assert result["pickled_distribution"] == "None"  # the strategy is not pickled
        assert result["pickled_equal"]


def test_mirrored_string_trains_on_the_default_devices(classification_data):
    X, y = classification_data
    plain = DNNClassifier(**FAST).fit(X, y)
    mirrored = DNNClassifier(distribution="mirrored", **FAST).fit(X, y)
    np.testing.assert_allclose(mirrored.loss_curve_, plain.loss_curve_, rtol=1e-4)
    restored = pickle.loads(pickle.dumps(mirrored))
    assert restored.distribution == "mirrored"
    assert clone(mirrored).get_params()["distribution"] == "mirrored"
