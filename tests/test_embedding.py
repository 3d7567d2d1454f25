"""Periodic embeddings of numeric columns (``numeric_embedding``): the
``PeriodicEmbedding`` layer alone and inside the DNN estimators."""

import copy
import pickle
import warnings

import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import ESTIMATORS, assert_reproduced, matmul_tolerance, predictions
from conftest import FAST as PLAIN
from sklearn import model_selection as sk
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning

import skdnn
from skdnn import DNNRegressor, model_selection
from skdnn._features import TABLE_MIN_SAMPLES, FeatureEncoder
from skdnn._network.build import build_network
from skdnn._network.embedding import periodic_embedding, periodic_embedding_class
from skdnn._network.inference import forward
from skdnn._training import population
from skdnn._training.objective import kernel_indices

# "auto", the default, embeds the numeric columns of a DataFrame with named columns.
FAST = {**PLAIN, "numeric_embedding": "auto"}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _table(Estimator, n=TABLE_MIN_SAMPLES):
    """Two numeric columns and a categorical one (one-hot: not embedded);
    by default as few rows as "auto" embeds."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "size": rng.randn(n),
            "city": pd.Categorical(rng.choice(["oslo", "rome"], n)),
            "age": rng.uniform(20, 70, n),
        }
    )
    effect = np.sin(3 * X["size"]) + (X["city"] == "rome") + (X["age"] > 45)
    y = (effect > 1).astype(int) if Estimator.__name__ == "DNNClassifier" else 10 * effect
    return X, np.asarray(y)


def _layers(est):
    return [layer.name for layer in est.model_.layers]


# ----------------------------------------------------------------------------
# The layer alone
# ----------------------------------------------------------------------------
def test_the_layer_embeds_the_numeric_columns_and_passes_the_others():
    model, _ = build_network(
        (4,),
        1,
        hidden_layer_sizes=(3,),
        numeric_embedding={"columns": (0, 2), "frequencies": 3, "units": 5, "sigma": 0.3},
    )
    layer = model.get_layer("embedding")
    assert type(layer).__name__ == "PeriodicEmbedding"
    assert [tuple(w.shape) for w in layer.weights] == [(2, 3), (2, 6, 5), (2, 5)]
    # The L2 penalty takes Dense kernels only.
    penalized = {id(model.trainable_variables[i]) for i in kernel_indices(model)}
    assert penalized.isdisjoint(id(w) for w in layer.weights)
    X = np.random.RandomState(0).normal(size=(7, 4)).astype(np.float32)
    output = keras.ops.convert_to_numpy(layer(X))
    assert output.shape == (7, 2 * 5 + 2)
    np.testing.assert_array_equal(output[:, 10:], X[:, [1, 3]])
    weights = [keras.ops.convert_to_numpy(w) for w in layer.weights]
    np.testing.assert_allclose(
        periodic_embedding(X, layer.columns, *weights), output, **matmul_tolerance(1e-5, 1e-6)
    )
    # Seeded: the same arguments build the same weights.
    again, _ = build_network(
        (4,),
        1,
        hidden_layer_sizes=(3,),
        numeric_embedding={"columns": (0, 2), "frequencies": 3, "units": 5, "sigma": 0.3},
    )
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_layer_is_registered_for_safe_loading():
    cls = periodic_embedding_class()
    assert keras.saving.get_registered_object("skdnn>PeriodicEmbedding") is cls


def test_the_encoder_knows_the_numeric_columns_of_its_output():
    X = pd.DataFrame(
        {
            "size": [1.0, np.nan, 3.0, 4.0],
            "city": ["b", "a", "c", "a"],
            "plan": pd.Categorical(["yes", "no", "no", "yes"]),
            "age": [20.0, 30.0, 40.0, 50.0],
        }
    )
    encoder = FeatureEncoder()
    encoded = encoder.fit_validate(DNNRegressor(), X)
    # size, city (3 one-hot), plan (2), age, then size's missing indicator.
    assert encoded.shape == (4, 8)
    assert encoder.numeric_columns_ == [0, 6]
    saved = FeatureEncoder().set_state(encoder.get_state())
    assert saved.numeric_columns_ == [0, 6]
    array = FeatureEncoder()
    array.fit_validate(DNNRegressor(), X[["size", "age"]].to_numpy())
    assert array.numeric_columns_ == [0, 1]
    sparse = FeatureEncoder()
    sparse.fit_validate(DNNRegressor(), sp.csr_matrix(np.eye(3)), accept_sparse="csr")
    assert sparse.numeric_columns_ == []


# ----------------------------------------------------------------------------
# In the estimators
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_frame_is_embedded_and_an_array_trains_the_network_it_always_did(Estimator, data_for):
    X, y = _table(Estimator)
    est = Estimator(**FAST).fit(X, y)
    plain = Estimator(**{**FAST, "numeric_embedding": None}).fit(X, y)
    assert "embedding" not in _layers(plain) and "numeric_embedding" not in plain._architecture
    # dropout="auto": 0.15 after the hidden layer of an embedding network.
    embedded = ["input", "embedding", *_layers(plain)[1:3], "hidden_1_dropout", *_layers(plain)[3:]]
    assert _layers(est) == embedded
    assert est.model_.get_layer("hidden_1_dropout").rate == pytest.approx(0.15)
    assert _layers(Estimator(**{**FAST, "dropout": 0.0}).fit(X, y)) == embedded[:4] + embedded[5:]
    # A smaller table trains the plain network: it would overfit.
    small = Estimator(**FAST).fit(X[: TABLE_MIN_SAMPLES - 1], y[: TABLE_MIN_SAMPLES - 1])
    assert _layers(small) == _layers(plain) and not small._feature_encoder.clip_
    # Continuing it on more rows keeps the network it built.
    small.set_params(warm_start=True).fit(X, y)
    assert _layers(small) == _layers(plain)
    # size and age, not city's two one-hot columns (between them).
    assert est._architecture["numeric_embedding"]["columns"] == (0, 3)
    assert est.model_.get_layer("hidden_1").kernel.shape[0] == 2 * 16 + 2
    # "auto" scaling is robust (softly clipped) for embedded columns only.
    assert est._feature_encoder.clip_ and not plain._feature_encoder.clip_

    X, y = data_for(Estimator)
    auto = Estimator(**FAST).fit(X, y)
    assert _layers(auto) == _layers(plain) and "numeric_embedding" not in auto._architecture
    assert len(auto.model_.weights) == 4  # the hidden and output layers' only
    none = Estimator(**{**FAST, "numeric_embedding": None}).fit(X, y)
    assert_reproduced(predictions(auto, X), predictions(none, X))
    # A DataFrame that only wraps an array's numbers (no column names, as
    # scikit-learn's checks make) trains the plain network too.
    unnamed = Estimator(**FAST).fit(pd.DataFrame(X), y)
    assert _layers(unnamed) == _layers(plain) and "numeric_embedding" not in unnamed._architecture
    assert not unnamed._feature_encoder.clip_
    unnamed_none = Estimator(**{**FAST, "numeric_embedding": None}).fit(pd.DataFrame(X), y)
    assert_reproduced(predictions(unnamed, X), predictions(unnamed_none, X))
    periodic = Estimator(**{**FAST, "numeric_embedding": "periodic"}).fit(X, y)
    assert periodic._architecture["numeric_embedding"]["columns"] == tuple(range(X.shape[1]))
    assert _layers(periodic) == embedded


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sparse_input_is_never_embedded(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(**{**FAST, "numeric_embedding": "periodic"}).fit(sp.csr_matrix(X), y)
    assert "embedding" not in _layers(est)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_predictions_are_keras_predictions(Estimator, data_for, dtype):
    X, y = data_for(Estimator)
    X = X.astype(dtype)
    est = Estimator(**{**FAST, "numeric_embedding": "periodic"}).fit(X, y)
    ours = forward(est.model_, X, until=est.model_.layers[-1].name)
    assert ours.dtype == dtype
    keras_output = est.model_.predict(X.astype(np.float32), verbose=0)
    np.testing.assert_allclose(ours, keras_output, **matmul_tolerance(1e-4, 1e-5))
    if not is_classifier(est):
        np.testing.assert_allclose(
            est.predict(X), keras_output.ravel(), **matmul_tolerance(1e-4, 1e-4)
        )
    else:
        np.testing.assert_allclose(
            est.predict_proba(X), keras_output, **matmul_tolerance(1e-4, 1e-5)
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_save_load_pickle_and_deepcopy_predict_the_same(Estimator, tmp_path):
    X, y = _table(Estimator)
    est = Estimator(**FAST).fit(X, y)
    expected = predictions(est, X)
    path = tmp_path / "embedded.skdnn"
    est.save(path)
    for copied in (skdnn.load(path), pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        assert _layers(copied) == _layers(est)
        assert copied._architecture == est._architecture
        np.testing.assert_array_equal(predictions(copied, X), expected)
    # The saved encoder keeps its decision: a loaded network continues on
    # batches smaller than TABLE_MIN_SAMPLES as the embedded network it is.
    loaded = skdnn.load(path)
    assert loaded._feature_encoder.embedded_
    loaded.partial_fit(X[:50], y[:50])
    assert _layers(loaded) == _layers(est) and loaded.n_iter_ == est.n_iter_ + 1


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_starts_and_partial_fit_keep_the_embedding(Estimator):
    X, y = _table(Estimator)
    est = Estimator(warm_start=True, **FAST).fit(X, y)
    layer = est.model_.get_layer("embedding")
    before = [np.array(w) for w in est.model_.get_layer("embedding").get_weights()]
    est.fit(X, y)
    assert est.n_iter_ == 2 * FAST["epochs"]
    after = est.model_.get_layer("embedding").get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    est.partial_fit(X, y)
    assert est.model_.get_layer("embedding") is not None
    with pytest.raises(ValueError, match="numeric_embedding changed"):
        est.set_params(numeric_embedding=None).fit(X, y)
    assert est.model_.get_layer("embedding").columns == layer.columns


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_grid_search_on_a_frame_matches_scikit_learns(Estimator, monkeypatch):
    claimed, original = [], population.claim
    monkeypatch.setattr(population, "claim", lambda *a: claimed.append(original(*a)) or claimed[-1])
    X, y = _table(Estimator, 800)  # each split trains on 533 rows: embedded
    # No dropout: PyTorch's populations decline dropout layers.
    estimator = Estimator(
        hidden_layer_sizes=(8,), epochs=4, random_state=0, numeric_embedding="auto", dropout=0.0
    )
    grid = {"learning_rate": [0.003, 0.03], "alpha": [1e-4, 1.0]}
    ours = model_selection.GridSearchCV(estimator, grid, cv=3).fit(X, y)
    theirs = sk.GridSearchCV(estimator, grid, cv=3).fit(X, y)
    for key, value in theirs.cv_results_.items():
        if key.startswith("split") or key.startswith("mean_test") or key.startswith("rank"):
            # A population sums a member's float32 gradients in another order:
            # scores of order 1 agree to 1e-5.
            np.testing.assert_allclose(ours.cv_results_[key], value, rtol=1e-5, atol=1e-5)
    assert ours.best_params_ == theirs.best_params_
    assert "embedding" in _layers(ours.best_estimator_)
    # Every fit of a candidate on a split trained in a population.
    assert len(claimed) == 12 and all(fit is not None for fit in claimed)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_an_ensemble_embeds_each_member(Estimator):
    X, y = _table(Estimator)
    est = Estimator(n_ensemble=3, **FAST).fit(X, y)
    members = [layer for layer in est.model_.layers if layer.name.startswith("member_")]
    assert len(members) == 3
    assert all("embedding" in [layer.name for layer in m.layers] for m in members)
    # Members differ (their own seeds), and model_.predict is the estimator's.
    weights = [m.get_layer("embedding").get_weights()[0] for m in members]
    assert not np.array_equal(weights[0], weights[1])
    encoded = est._feature_encoder.validate(est, X).astype(np.float32)
    keras_output = est.model_.predict(encoded, verbose=0)
    # A binary classifier's network gives the probability of class 1.
    expected = est.predict_proba(X)[:, 1] if is_classifier(est) else est.predict(X)
    np.testing.assert_allclose(expected, keras_output.ravel(), **matmul_tolerance(1e-4, 1e-4))


def test_the_embedding_learns_a_sharp_dependence_a_plain_network_misses():
    rng = np.random.RandomState(0)
    n = 1200
    X = pd.DataFrame({"x": rng.uniform(-2, 2, n), "noise": rng.randn(n)})
    y = np.sign(np.sin(4 * X["x"].to_numpy())) + 0.1 * X["noise"].to_numpy()
    train, test = slice(0, 900), slice(900, None)
    params = dict(hidden_layer_sizes=(32,), epochs=30, learning_rate=0.01, random_state=0)
    scores = {
        embedding: DNNRegressor(numeric_embedding=embedding, **params)
        .fit(X[train], y[train])
        .score(X[test], y[test])
        for embedding in ("auto", None)
    }
    assert scores["auto"] > 0.8 and scores["auto"] > scores[None] + 0.2, scores
