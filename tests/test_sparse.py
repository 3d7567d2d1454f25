"""SciPy sparse input: accepted everywhere, never made dense."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import ESTIMATORS, FAST, keras_backend, matmul_tolerance, predictions
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skdnn import DNNClassifier, DNNRegressor


def _sparse_data(Estimator, data_for):
    X, y = data_for(Estimator)
    X = np.where(np.abs(X) < 0.8, 0, X).astype(np.float32)  # about half zeros
    return X, y


@pytest.fixture
def no_densifying(monkeypatch):
    """Fail the test if anything turns a sparse matrix into a dense array."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("a sparse matrix was made dense")

    # The base class of every sparse matrix and array: spmatrix before SciPy 1.11.
    base = getattr(sp._base, "_spbase", sp.spmatrix)
    for name in ("toarray", "todense"):
        monkeypatch.setattr(base, name, refuse)
        monkeypatch.setattr(sp._compressed._cs_matrix, name, refuse)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "to_sparse", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.lil_matrix]
)
def test_sparse_fit_and_predict_match_dense(Estimator, to_sparse, data_for):
    X, y = _sparse_data(Estimator, data_for)
    dense = Estimator(**FAST).fit(X, y)
    X_sparse = to_sparse(X)
    est = Estimator(**FAST).fit(X_sparse, y)
    # Sparse and dense batches take other products: equal to their rounding.
    np.testing.assert_allclose(est.loss_curve_, dense.loss_curve_, **matmul_tolerance(1e-5))
    scale = np.abs(predictions(dense, X)).max()  # float32 rounding, in the target's units
    np.testing.assert_allclose(
        predictions(est, X_sparse),
        predictions(dense, X),
        **matmul_tolerance(rtol=1e-4, atol=1e-5 * scale, scale=scale),
    )
    assert predictions(est, X_sparse).dtype == np.float32
    assert est.score(X_sparse, y) == pytest.approx(dense.score(X, y), abs=0.02)
    # The fitted network serves dense input as well.
    np.testing.assert_allclose(
        predictions(est, X), predictions(est, X_sparse), rtol=1e-5, atol=1e-6 * scale
    )


@pytest.mark.skipif(
    keras_backend() == "torch",
    reason="Keras's torch backend has no sparse tensors: each batch is made dense "
    "(tests/test_backends.py checks that only batches are)",
)
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sparse_input_is_never_made_dense(Estimator, data_for, no_densifying):
    X, y = _sparse_data(Estimator, data_for)
    X_sparse = sp.csr_matrix(X)
    est = Estimator(**{**FAST, "early_stopping": True, "validation_fraction": 0.2}).fit(X_sparse, y)
    assert est.best_validation_score_ is not None
    est.partial_fit(X_sparse, y)
    est.fit(X_sparse[:90], y[:90], X_val=X_sparse[90:], y_val=y[90:])
    assert "val_loss" in est.history_
    predictions(est, X_sparse)
    if Estimator is DNNClassifier:
        est.decision_function(X_sparse)
        est.predict_log_proba(X_sparse)


def test_validation_data_of_the_other_kind(classification_data):
    X, y = _sparse_data(DNNClassifier, lambda _: classification_data)
    sparse_train = DNNClassifier(**FAST).fit(
        sp.csr_matrix(X[:90]), y[:90], X_val=X[90:], y_val=y[90:]
    )
    dense_train = DNNClassifier(**FAST).fit(
        X[:90], y[:90], X_val=sp.csr_matrix(X[90:]), y_val=y[90:]
    )
    np.testing.assert_allclose(
        sparse_train.history_["val_loss"],
        dense_train.history_["val_loss"],
        **matmul_tolerance(1e-5),
    )


def test_one_hot_column_transformer_in_a_grid_search():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "city": rng.choice([f"city {i}" for i in range(20)], 120),
            "plan": rng.choice(["basic", "pro"], 120),
            "age": rng.uniform(18, 80, 120),
        }
    )
    y = ((frame["city"] < "city 3") | (frame["age"] > 60)).astype(int)
    encode = ColumnTransformer(
        [
            ("onehot", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
            ("scale", StandardScaler(), ["age"]),
        ]
    )
    assert sp.issparse(encode.fit_transform(frame))  # the default sparse output
    pipe = make_pipeline(encode, DNNClassifier(**FAST))
    search = GridSearchCV(
        pipe, {"dnnclassifier__learning_rate": [0.01, 0.05]}, cv=2, error_score="raise"
    ).fit(frame, y)
    assert search.best_score_ > 0.6


def test_tfidf_text_pipeline():
    texts = [
        "good movie",
        "great film, good cast",
        "bad plot",
        "terrible, bad acting",
        "good fun",
        "awful and bad",
    ] * 10
    labels = [1, 1, 0, 0, 1, 0] * 10
    pipe = make_pipeline(TfidfVectorizer(), DNNClassifier(**{**FAST, "epochs": 30}))
    pipe.fit(texts, labels)
    assert pipe.score(texts, labels) == 1.0
    assert list(pipe.predict(["good", "bad"])) == [1, 0]


def test_sparse_regressor_with_several_outputs(regression_data):
    X, y = _sparse_data(DNNRegressor, lambda _: regression_data)
    Y = np.c_[y, -y]
    est = DNNRegressor(**FAST).fit(sp.csr_matrix(X), Y)
    assert est.predict(sp.csr_matrix(X)).shape == (len(X), 2)
