"""Tables with categories and missing values: the input encoder of the DNN
estimators (``skdnn/_features.py``), alone and inside the estimators."""

import copy
import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import (
    ESTIMATORS,
    FAST,
    assert_reproduced,
    dense_body,
    predictions,
    raising_callback,
)
from sklearn import model_selection as sk
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning

import skdnn
from skdnn import DNNClassifier, KerasClassifier, KerasRegressor, _features, model_selection
from skdnn._features import TABLE_MIN_SAMPLES, FeatureEncoder
from skdnn._persistence import from_json_value, to_json_value
from skdnn._training import population


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


class _Validated(BaseEstimator):
    """What the encoder validates on: an estimator that only holds
    ``n_features_in_`` and ``feature_names_in_``."""


def _frame(n=12):
    """A table with a text, a category and a numeric column with NaN."""
    return pd.DataFrame(
        {
            "size": [1.0, np.nan, 3.0, 4.0, np.nan, 6.0] * (n // 6),
            "city": ["b", "a", "c", "a", "b", "a"] * (n // 6),
            "plan": pd.Categorical(["yes", "no", "no", "yes", "no", "yes"] * (n // 6)),
            "age": [20.0, 30.0, 40.0, 50.0, 60.0, 70.0] * (n // 6),
        }
    )


# What the estimators validate X with.
CHECK = dict(dtype=(np.float32, np.float64), allow_nd=True, accept_sparse=("csr", "csc", "coo"))


def _fit(X, **params):
    encoder = FeatureEncoder(**params)
    return encoder, encoder.fit_validate(_Validated(), X, **CHECK)


def _encode(encoder, estimator, X):
    return encoder.validate(estimator, X, **CHECK)


# ----------------------------------------------------------------------------
# The encoder alone
# ----------------------------------------------------------------------------
def test_a_table_is_one_hot_median_and_indicator():
    X = _frame(6)
    encoder, encoded = _fit(X, numeric_scaling=None)
    # size, city (a, b, c), plan (no, yes), age, then size's indicator.
    expected = np.array(
        [
            [1.0, 0, 1, 0, 0, 1, 20, 0],
            [3.5, 1, 0, 0, 1, 0, 30, 1],
            [3.0, 0, 0, 1, 1, 0, 40, 0],
            [4.0, 1, 0, 0, 0, 1, 50, 0],
            [3.5, 0, 1, 0, 1, 0, 60, 1],
            [6.0, 1, 0, 0, 0, 1, 70, 0],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(encoded, expected)
    assert encoded.dtype == np.float32
    # At prediction: an unseen category and a missing one (none at fit) are
    # all zeros; NaN in a column that had none at fit is its median.
    new = pd.DataFrame(
        {
            "size": [2.0],
            "city": ["z"],
            "plan": pd.Categorical([None], categories=["no", "yes"]),
            "age": [np.nan],
        }
    )
    np.testing.assert_array_equal(
        _encode(encoder, _fitted_on(X), new),
        [[2.0, 0, 0, 0, 0, 0, 45, 0]],
    )


def _fitted_on(X):
    """A validating estimator that has seen ``X``'s columns."""
    estimator = _Validated()
    estimator.n_features_in_ = X.shape[1]
    estimator.feature_names_in_ = np.asarray(X.columns, dtype=object)
    return estimator


def test_a_missing_category_seen_at_fit_is_a_category_of_its_own():
    X = pd.DataFrame({"city": ["a", None, "b", "a"]})
    encoder, encoded = _fit(X)
    np.testing.assert_array_equal(encoded, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
    new = pd.DataFrame({"city": [np.nan, "c"]})
    np.testing.assert_array_equal(_encode(encoder, _fitted_on(X), new), [[0, 0, 1], [0, 0, 0]])


def test_numeric_columns_of_a_table_are_standardized_by_default():
    X = _frame(6)
    unscaled = _fit(X, numeric_scaling=None)[1]
    encoded = _fit(X)[1]
    for column, values in ((0, [1.0, 3.0, 4.0, 6.0]), (6, X["age"].to_numpy())):
        expected = (unscaled[:, column] - np.mean(values)) / np.std(values)
        np.testing.assert_allclose(encoded[:, column], expected, rtol=1e-6)
    np.testing.assert_array_equal(encoded[:, [1, 2, 3, 4, 5, 7]], unscaled[:, [1, 2, 3, 4, 5, 7]])


def test_robust_scaling_centres_on_the_median_and_clips_softly():
    X = _frame(6)
    unscaled = _fit(X, numeric_scaling=None)[1]
    encoder, encoded = _fit(X, numeric_scaling="robust")
    for column, values in ((0, [1.0, 3.0, 4.0, 6.0]), (6, X["age"].to_numpy())):
        center = np.median(values)
        q25, q75 = np.percentile(values, [25, 75])
        z = (unscaled[:, column] - center) / ((q75 - q25) / 1.349)
        np.testing.assert_allclose(encoded[:, column], z / np.sqrt(1 + (z / 3) ** 2), rtol=1e-6)
    # Categories and indicators stay 0/1.
    np.testing.assert_array_equal(encoded[:, [1, 2, 3, 4, 5, 7]], unscaled[:, [1, 2, 3, 4, 5, 7]])
    # An outlier at prediction stays below the clip (3).
    new = X.iloc[:1].assign(age=1e9)
    assert 2.99 < _encode(encoder, _fitted_on(X), new)[0, 6] <= 3.0


@pytest.mark.parametrize(
    "numeric_scaling, numeric_embedding, scaled",
    [
        ("auto", None, "standard"),
        # "auto" scales robustly the columns that get periodic embeddings:
        # "periodic" always, "auto" from TABLE_MIN_SAMPLES rows.
        ("auto", "auto", "standard"),
        ("auto", "periodic", "robust"),
        ("standard", "auto", "standard"),
        ("robust", None, "robust"),
        (None, "auto", None),
    ],
)
def test_numeric_scaling_of_a_numeric_frame(numeric_scaling, numeric_embedding, scaled):
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"a": rng.lognormal(size=40) * 100, "b": rng.normal(size=40)})
    params = dict(numeric_scaling=numeric_scaling, numeric_embedding=numeric_embedding)
    encoder, encoded = _fit(X, **params)
    assert encoder.get_params() == {
        "categorical_features": "from_dtype",
        "numeric_scaling": numeric_scaling,
    }
    if scaled == "standard":
        np.testing.assert_allclose(encoded.mean(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(encoded.std(axis=0), 1, rtol=1e-6)
    elif scaled == "robust":
        assert np.abs(np.median(encoded, axis=0)).max() < 1e-6
        assert np.abs(encoded).max() < 3
    else:
        np.testing.assert_array_equal(encoded, X.to_numpy())
    # A constant column has a spread of 1: centred, not divided by zero.
    X["c"] = 5.0
    encoded = _fit(X, **params)[1]
    np.testing.assert_array_equal(encoded[:, 2], 0.0 if scaled else 5.0)


def test_auto_embeds_and_scales_robustly_a_named_table_of_enough_rows():
    X = np.random.RandomState(0).lognormal(size=(TABLE_MIN_SAMPLES, 2))
    named = _fit(pd.DataFrame(X, columns=["a", "b"]), numeric_embedding="auto")
    assert named[0].embedded_ and named[0].clip_
    assert np.abs(np.median(named[1], axis=0)).max() < 1e-6 and np.abs(named[1]).max() < 3
    saved = FeatureEncoder().set_state(named[0].get_state())
    assert saved.embedded_ and saved.clip_
    # Without column names (an array's numbers in a frame), or with fewer
    # rows, standardized and not embedded.
    for table in (pd.DataFrame(X), pd.DataFrame(X[:-1], columns=["a", "b"])):
        encoder, encoded = _fit(table, numeric_embedding="auto")
        assert not encoder.embedded_ and not encoder.clip_
        np.testing.assert_allclose(encoded.std(axis=0), 1, rtol=1e-6)
    assert not _fit(X, numeric_embedding="auto")[0].embedded_


def test_standard_and_robust_scaling_scale_arrays_too():
    X = np.random.RandomState(0).lognormal(size=(40, 3))
    assert _fit(X)[1] is X  # "auto": an array is the user's to scale
    for scaling in ("standard", "robust"):
        encoder, encoded = _fit(X, numeric_scaling=scaling)
        assert (
            np.abs(
                np.median(encoded, axis=0) if scaling == "robust" else encoded.mean(axis=0)
            ).max()
            < 1e-6
        )
        np.testing.assert_allclose(_encode(encoder, _seen(X), X), encoded)


def test_numeric_input_without_nan_passes_unchanged():
    rng = np.random.RandomState(0)
    for X in (rng.rand(20, 3), rng.rand(20, 3).astype(np.float32), rng.rand(20, 2, 3)):
        encoder, encoded = _fit(X)
        assert encoded is X  # no copy
        assert _encode(encoder, _seen(X), X) is X
    X = sp.random(20, 4, density=0.3, format="csr", random_state=0)
    encoder, encoded = _fit(X)
    assert encoded is X


def _seen(X):
    estimator = _Validated()
    estimator.n_features_in_ = X.shape[1]
    return estimator


def test_nan_in_numbers_is_the_median_with_an_indicator():
    X = np.array([[1.0, 10.0], [np.nan, 20.0], [3.0, 30.0], [5.0, 40.0]])
    encoder, encoded = _fit(X)
    np.testing.assert_array_equal(encoded, [[1, 10, 0], [3, 20, 1], [3, 30, 0], [5, 40, 0]])
    # NaN in the second column, which had none: its median, no new input.
    new = np.array([[np.nan, np.nan]])
    np.testing.assert_array_equal(_encode(encoder, _seen(X), new), [[3, 25, 1]])
    np.testing.assert_array_equal(X[1, 0], np.nan)  # the user's array is unchanged


@pytest.mark.parametrize(
    "categorical_features",
    [["city", "plan"], [1, 2], [False, True, True, False], np.array([1, 2])],
)
def test_categorical_features_names_indices_and_masks(categorical_features):
    X = _frame(6)
    _, expected = _fit(X)
    _, encoded = _fit(X, categorical_features=categorical_features)
    np.testing.assert_array_equal(encoded, expected)


def test_categorical_columns_of_an_array_by_index():
    X = np.array([[0.5, 2], [1.5, 7], [2.5, 2], [3.5, 9]])
    encoder, encoded = _fit(X, categorical_features=[1])
    np.testing.assert_array_equal(
        encoded, [[0.5, 1, 0, 0], [1.5, 0, 1, 0], [2.5, 1, 0, 0], [3.5, 0, 0, 1]]
    )
    np.testing.assert_array_equal(_encode(encoder, _seen(X), [[1.0, 5]]), [[1, 0, 0, 0]])


@pytest.mark.parametrize(
    "categorical_features, match",
    [
        (None, r"2 column\(s\) of text or categories \('city', 'plan'\).*'from_dtype'"),
        (["city"], r"\('plan'\) that categorical_features=\['city'\] does not name"),
        ([7], "holds column index 7, but X has 4 columns"),
        (["cty", "plan"], "names 'cty', which is not a column of X. Did you mean 'city'"),
        ([True, False], "boolean mask of 2 values, but X has 4 columns"),
        ([1.5], "column indices"),
    ],
)
def test_categorical_features_that_do_not_fit_x(categorical_features, match):
    with pytest.raises(ValueError, match=match):
        _fit(_frame(6), categorical_features=categorical_features)


def test_column_names_need_a_dataframe():
    with pytest.raises(ValueError, match="names columns, but X has no column names"):
        _fit(np.zeros((4, 2)), categorical_features=["a"])
    with pytest.raises(ValueError, match="sparse matrix"):
        _fit(sp.csr_matrix(np.eye(4)), categorical_features=[0])


def test_a_column_that_changes_kind_at_prediction():
    X = _frame(6)
    encoder, _ = _fit(X)
    with pytest.raises(ValueError, match=r"'plan' of X holds numbers.*astype\('category'\)"):
        _encode(encoder, _fitted_on(X), X.assign(plan=1))
    with pytest.raises(ValueError, match="'age' of X holds text.*pd.to_numeric"):
        _encode(encoder, _fitted_on(X), X.assign(age="old"))
    numbers = X[["size", "age"]]
    encoder, _ = _fit(numbers)
    with pytest.raises(ValueError, match="'age' of X holds text"):
        _encode(encoder, _fitted_on(numbers), numbers.assign(age="old"))


def test_too_many_categories_keep_the_most_frequent(monkeypatch):
    monkeypatch.setattr(_features, "MAX_CATEGORIES", 2)
    X = pd.DataFrame({"id": ["a", "b", "b", "c", "c", "c", "d"]})
    with pytest.warns(UserWarning, match=r"more than 2 categories: 'id' \(4\)"):
        encoder, encoded = _fit(X)
    assert encoder.categories_ == [["b", "c"]]
    np.testing.assert_array_equal(encoded[:3], [[0, 0], [1, 0], [1, 0]])


def test_the_fitted_state_is_plain_json():
    X = _frame(6)
    encoder, encoded = _fit(X)
    text = json.dumps(to_json_value(encoder.get_state()))
    restored = FeatureEncoder(**encoder.get_params()).set_state(from_json_value(json.loads(text)))
    np.testing.assert_array_equal(_encode(restored, _fitted_on(X), X), encoded)


# ----------------------------------------------------------------------------
# In the estimators
# ----------------------------------------------------------------------------
def _table(Estimator, n=120):
    """A table whose target depends on a text column, a category column and
    a numeric column with missing values."""
    rng = np.random.RandomState(0)
    city = rng.choice(["paris", "rome", "oslo"], n)
    plan = rng.choice(["basic", "pro"], n)
    size = rng.randn(n)
    X = pd.DataFrame({"city": city, "plan": pd.Categorical(plan), "size": size})
    X.loc[::5, "size"] = np.nan
    effect = (city == "paris") * 2.0 - (plan == "pro") + np.nan_to_num(size) * 0.5
    y = (effect > 0.5).astype(int) if Estimator is DNNClassifier else 10 * effect + 100
    return X, y


LEARN = dict(FAST, hidden_layer_sizes=(16,), epochs=40, learning_rate=0.03)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_and_predict_on_a_table(Estimator):
    X, y = _table(Estimator)
    est = Estimator(**LEARN).fit(X, y)
    assert est.n_features_in_ == 3
    np.testing.assert_array_equal(est.feature_names_in_, ["city", "plan", "size"])
    # city (3) + plan (2) + size + size's missing indicator.
    assert est._architecture["input_shape"] == (7,)
    assert est.score(X, y) > 0.9
    unseen = X.head(4).assign(city=["tokyo", None, "rome", "paris"])
    prediction = est.predict(unseen)
    assert prediction.shape == (4,) and np.all(np.isfinite(np.asarray(prediction, float)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_numeric_input_trains_the_network_it_always_did(Estimator, data_for):
    X, y = data_for(Estimator)
    est = Estimator(**FAST).fit(X, y)
    assert est._architecture["input_shape"] == (X.shape[1],)
    assert est._feature_encoder.indicators_ == []
    with_nan = X.copy()
    with_nan[0, :] = np.nan  # imputed with the medians, no new input
    assert np.all(np.isfinite(predictions(est, with_nan)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("categorical_features", [["city", "plan"], [0, 1], [True, True, False]])
def test_categorical_features_given_train_the_same_network(Estimator, categorical_features):
    X, y = _table(Estimator)
    expected = predictions(Estimator(**FAST).fit(X, y), X)
    est = Estimator(categorical_features=categorical_features, **FAST).fit(X, y)
    assert_reproduced(predictions(est, X), expected)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_categorical_features_none_with_text_columns_is_a_clear_error(Estimator):
    X, y = _table(Estimator)
    est = Estimator(categorical_features=None, **FAST)
    with pytest.raises(ValueError, match=r"text or categories \('city', 'plan'\)"):
        est.fit(X, y)
    assert not hasattr(est, "model_")
    with pytest.raises(ValueError, match="categorical_features"):
        Estimator(categorical_features="city", **FAST).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_target_with_nan_keeps_scikit_learns_error(Estimator):
    X, y = _table(Estimator)
    y = y.astype(float)
    y[3] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        Estimator(**FAST).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_save_load_pickle_and_deepcopy_predict_the_same(Estimator, tmp_path):
    X, y = _table(Estimator)
    est = Estimator(**FAST).fit(X, y)
    new = X.head(6).assign(city=["tokyo", None, "rome", "paris", "oslo", "x"])
    new.loc[:2, "size"] = np.nan
    expected = predictions(est, new)
    path = tmp_path / "table.skdnn"
    est.save(path)
    for copied in (skdnn.load(path), pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        np.testing.assert_array_equal(predictions(copied, new), expected)
        assert copied._feature_encoder.get_state() == est._feature_encoder.get_state()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_files_of_format_2_without_the_input_encoder_still_load(Estimator, data_for, tmp_path):
    X, y = data_for(Estimator)
    est = Estimator(**FAST).fit(X, y)
    path = tmp_path / "model.skdnn"
    est.save(path)
    # What skdnn wrote before the input encoder: format 2, no _feature_encoder.
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["skdnn.json"])
    config["format_version"] = 2
    config["fitted"]["__dict__"] = [
        pair for pair in config["fitted"]["__dict__"] if pair[0] != "_feature_encoder"
    ]
    config["params"]["__dict__"] = [
        pair for pair in config["params"]["__dict__"] if pair[0] != "categorical_features"
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in {**entries, "skdnn.json": json.dumps(config)}.items():
            archive.writestr(name, data)
    old = tmp_path / "old.skdnn"
    old.write_bytes(buffer.getvalue())
    loaded = skdnn.load(old)
    assert loaded._feature_encoder is None
    np.testing.assert_array_equal(predictions(loaded, X), predictions(est, X))
    # It continues training on numbers, as before.
    assert loaded.set_params(warm_start=True, epochs=1).fit(X, y).n_iter_ == est.n_iter_ + 1


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_failed_fit_leaves_the_estimator_as_it_was(Estimator):
    X, y = _table(Estimator)
    est = Estimator(**FAST).fit(X, y)
    state, expected = est._feature_encoder.get_state(), predictions(est, X)
    other = X.assign(city="tokyo", size=X["size"].astype(str))  # another encoding
    for params, X_new, error in [
        ({"categorical_features": [5]}, X, ValueError),
        ({"categorical_features": "from_dtype", "epochs": 0}, other, ValueError),
        ({"epochs": 3, "callbacks": [raising_callback()]}, other, RuntimeError),
    ]:
        with pytest.raises(error):
            est.set_params(**params).fit(X_new, y)
        assert est._feature_encoder.get_state() == state
        assert est._architecture["input_shape"] == (7,)
        np.testing.assert_array_equal(predictions(est, X), expected)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_starts_and_partial_fit_keep_the_encoding(Estimator):
    X, y = _table(Estimator)
    est = Estimator(warm_start=True, **FAST).fit(X, y)
    encoder = est._feature_encoder
    # New categories and NaN where there was none: encoded as at first.
    other = X.assign(city="tokyo", plan=pd.Categorical(["gold"] * len(X)))
    other.loc[:, "size"] = np.nan
    est.fit(other, y)
    assert est._feature_encoder is encoder and est.n_iter_ == 2 * FAST["epochs"]
    est.partial_fit(X, y)
    assert est._feature_encoder is encoder
    with pytest.raises(ValueError, match=r"categorical_features=\['city'\]"):
        est.set_params(categorical_features=["city"]).fit(X, y)
    assert est._feature_encoder is encoder
    # partial_fit from scratch fixes the encoding on its first call.
    first = Estimator(**FAST)
    kwargs = {"classes": [0, 1]} if is_classifier(first) else {}
    first.partial_fit(X.head(30), y[:30], **kwargs)
    width = first._architecture["input_shape"]
    first.partial_fit(X.assign(city="tokyo"), y)
    assert first._architecture["input_shape"] == width


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_validation_data_are_encoded_as_the_training_data(Estimator):
    X, y = _table(Estimator)
    X_val = X.head(20).assign(city="tokyo")
    est = Estimator(**FAST).fit(X[20:], y[20:], X_val=X_val, y_val=y[:20])
    assert len(est.history_["val_loss"]) == FAST["epochs"]
    early = Estimator(early_stopping=True, **FAST).fit(X, y)
    assert early.best_validation_score_ is not None


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_grid_search_on_a_table_matches_scikit_learns(Estimator, monkeypatch):
    claimed, original = [], population.claim
    monkeypatch.setattr(population, "claim", lambda *a: claimed.append(original(*a)) or claimed[-1])
    X, y = _table(Estimator)
    # No dropout: PyTorch's populations decline dropout layers.
    estimator = Estimator(hidden_layer_sizes=(8,), epochs=4, random_state=0, dropout=0.0)
    grid = {"learning_rate": [0.003, 0.03], "alpha": [1e-4, 1.0]}
    ours = model_selection.GridSearchCV(estimator, grid, cv=3).fit(X, y)
    theirs = sk.GridSearchCV(estimator, grid, cv=3).fit(X, y)
    for key, value in theirs.cv_results_.items():
        if key.startswith("split") or key.startswith("mean_test") or key.startswith("rank"):
            # A population sums a member's float32 gradients in another
            # order: scores of order 1 agree to 1e-5.
            np.testing.assert_allclose(ours.cv_results_[key], value, rtol=1e-5, atol=1e-5)
    assert ours.best_params_ == theirs.best_params_
    # Every fit of a candidate on a split trained in a population.
    assert len(claimed) == 12 and all(fit is not None for fit in claimed)


@pytest.mark.parametrize("Keras", [KerasClassifier, KerasRegressor])
def test_keras_estimators_take_numbers_only(Keras):
    X, y = _table(DNNClassifier)
    est = Keras(model=dense_body, **FAST)
    assert "categorical_features" not in est.get_params()
    with pytest.raises(ValueError, match=r"text or categories.*OneHotEncoder"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X[["size"]], y)
    assert not est.__sklearn_tags__().input_tags.allow_nan
