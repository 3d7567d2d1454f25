"""Compiled training functions are reused across fits (behaviour, not timing)."""

import os
import subprocess
import sys

import numpy as np
from conftest import FAST, assert_reproduced, dense_body

import skdnn
from skdnn import DNNClassifier, DNNRegressor, KerasClassifier
from skdnn._training.trainer import _idle_trainers, pooled_keys


def _new_keys(fit):
    """The trainer keys that ``fit()`` adds to the pool."""
    before = set(pooled_keys())
    fit()
    return set(pooled_keys()) - before


def test_refits_of_an_architecture_share_one_trainer(classification_data, regression_data):
    X, y = classification_data
    skdnn.clear_cache()
    # Different seeds, learning rates, dropout seeds and data sizes: the same
    # trace serves all.
    keys = set()
    for seed, learning_rate in [(0, 0.01), (1, 0.02), (2, 0.05)]:
        est = DNNClassifier(
            hidden_layer_sizes=(17,),
            epochs=2,
            learning_rate=learning_rate,
            dropout=0.1,
            random_state=seed,
        )
        n = 60 + 20 * seed
        keys |= _new_keys(lambda est=est, n=n: est.fit(X[:n], y[:n]))
    assert len(keys) == 1
    assert len(_idle_trainers[keys.pop()]) == 1  # one trainer, lent and returned
    # Another estimator, architecture, optimizer or loss gets its own.
    for other in [
        lambda: DNNRegressor(hidden_layer_sizes=(17,), epochs=2).fit(*regression_data),
        lambda: DNNClassifier(hidden_layer_sizes=(18,), epochs=2).fit(X, y),
        lambda: DNNClassifier(hidden_layer_sizes=(17,), epochs=2, optimizer="sgd").fit(X, y),
        lambda: DNNClassifier(hidden_layer_sizes=(17,), epochs=2, metrics=["AUC"]).fit(X, y),
    ]:
        assert len(_new_keys(other)) == 1


def test_clear_cache_empties_the_pool(classification_data):
    DNNClassifier(**FAST).fit(*classification_data)
    assert pooled_keys()
    assert skdnn.clear_cache() >= 1
    assert pooled_keys() == []
    # Later fits compile anew and give the same result.
    first = DNNClassifier(**FAST).fit(*classification_data).predict_proba(classification_data[0])
    skdnn.clear_cache()
    again = DNNClassifier(**FAST).fit(*classification_data).predict_proba(classification_data[0])
    assert_reproduced(again, first)


def test_reused_trainer_gives_the_same_result_as_a_fresh_one(classification_data):
    X, y = classification_data
    params = dict(FAST, hidden_layer_sizes=(19,), dropout=0.2)
    first = DNNClassifier(**params).fit(X, y).predict_proba(X)  # new trace
    DNNClassifier(**{**params, "random_state": 5}).fit(X, y)  # moves the trainer's state
    again = DNNClassifier(**params).fit(X, y).predict_proba(X)  # reused trace
    assert_reproduced(again, first)


SCRIPT = """
import numpy as np
from skdnn import DNNClassifier
X = np.random.RandomState(0).rand(100, 5)
for units in range(10, 18):
    DNNClassifier(hidden_layer_sizes=(units,), epochs=1).fit(X, X[:, 0] > 0.5)
"""


def test_many_architectures_give_no_retracing_warnings():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    assert "retracing" not in result.stderr


def test_unidentifiable_losses_are_not_pooled(regression_data):
    X, y = regression_data
    # Lambdas have no config or importable name; each needs its own trace, and
    # a key from id() could be reused by the next lambda once the first is gone.
    for lam, name in [(lambda t, p: (t - p) ** 2, "mse"), (lambda t, p: abs(t - p), "mae")]:
        custom = DNNRegressor(loss=lam, **FAST)
        assert _new_keys(lambda custom=custom: custom.fit(X, y)) == set()
        named = DNNRegressor(loss=name, **FAST).fit(X, y)
        np.testing.assert_allclose(custom.loss_curve_, named.loss_curve_, rtol=1e-5)


def test_keras_estimators_share_a_trainer_whatever_the_layer_names(classification_data):
    """Keras names every model's layers anew (dense_3, dense_4...): a body
    built again for each fit still finds the trainer of the first."""
    import keras

    X, y = classification_data

    def functional_body(input_shape):
        inputs = keras.Input(input_shape)
        hidden = keras.layers.Dense(9, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(5)(hidden))

    for body in (dense_body, functional_body):
        keys = set()
        for seed in range(3):
            est = KerasClassifier(model=body, epochs=1, random_state=seed)
            keys |= _new_keys(lambda est=est: est.fit(X, y))
        assert len(keys) == 1, body.__name__
    # A different structure still gets its own.
    assert (
        len(
            _new_keys(lambda: KerasClassifier(model=dense_body, model__units=3, epochs=1).fit(X, y))
        )
        == 1
    )
