"""skdnn.model_selection's searches: the results of scikit-learn's, with
the networks of a search trained together as populations (on JAX,
TensorFlow and PyTorch)."""

import pickle
import warnings

import keras
import numpy as np
import pytest
from conftest import dense_body, keras_backend
from sklearn import model_selection as sk
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdnn import DNNClassifier, DNNRegressor, KerasClassifier, model_selection
from skdnn._training import population
from skdnn._training.backends import get_backend

SMALL = dict(hidden_layer_sizes=(8,), epochs=6, random_state=0, n_iter_no_change=None)
POPULATIONS = keras_backend() in ("jax", "tensorflow", "torch")
# On PyTorch, a network with dropout trains alone: its masks come from a
# torch.Generator seeded from each member's seed state, which vmap cannot read.
DROPOUT_POPULATIONS = keras_backend() in ("jax", "tensorflow")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture
def claims(monkeypatch):
    """Count the fits the searches' loops found trained: ``[found, asked]``."""
    counts = [0, 0]
    original = population.claim

    def counting(*args):
        fit = original(*args)
        counts[0] += fit is not None
        counts[1] += 1
        return fit

    monkeypatch.setattr(population, "claim", counting)
    return counts


def assert_same_search(ours, theirs, rtol=1e-5, atol=1e-6):
    """The two fitted searches found the same: parameters, every split's
    scores, the ranks and the best candidate."""
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    for key, value in theirs.cv_results_.items():
        if "_time" in key or key == "params" or key.startswith("param_"):
            continue
        if key.startswith("rank_"):
            np.testing.assert_array_equal(ours.cv_results_[key], value, err_msg=key)
        else:
            np.testing.assert_allclose(ours.cv_results_[key], value, rtol, atol, err_msg=key)
    assert set(ours.cv_results_) == set(theirs.cv_results_)
    if hasattr(theirs, "best_params_"):
        assert ours.best_params_ == theirs.best_params_
        assert ours.best_index_ == theirs.best_index_


def both(search_class, *args, fit_args=(), fit_params=None, **kwargs):
    """Fit skdnn's search and scikit-learn's with the same arguments."""
    ours = getattr(model_selection, search_class)(*args, **kwargs)
    theirs = getattr(sk, search_class)(*args, **kwargs)
    fit_params = fit_params or {}
    return ours.fit(*fit_args, **fit_params), theirs.fit(*fit_args, **fit_params)


@pytest.mark.parametrize("Estimator", [DNNClassifier, DNNRegressor])
def test_a_grid_of_shape_free_parameters_and_depth(Estimator, data_for, claims):
    X, y = data_for(Estimator)
    grid = {
        "learning_rate": [0.003, 0.03],
        "momentum": [0.0, 0.9],
        "hidden_layer_sizes": [(8,), (8, 4)],
    }
    estimator = Estimator(**{**SMALL, "optimizer": "sgd"})
    ours, theirs = both("GridSearchCV", estimator, grid, cv=3, fit_args=(X, y))
    assert_same_search(ours, theirs)
    # Every fit of a candidate on a split trained in a population (JAX).
    assert claims == ([24, 24] if POPULATIONS else [0, 0])
    # The refit is the search's own fit, and its estimator has no store.
    assert "_population_store" not in vars(ours.best_estimator_)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_dropout_alpha_and_batch_size(classification_data, claims):
    X, y = classification_data
    grid = {"dropout": [0.0, 0.3], "alpha": [0.0, 0.01], "batch_size": [16, 32]}
    ours, theirs = both("GridSearchCV", DNNClassifier(**SMALL), grid, cv=2, fit_args=(X, y))
    assert_same_search(ours, theirs)
    # Half the fits have dropout (see DROPOUT_POPULATIONS).
    assert claims[0] == (16 if DROPOUT_POPULATIONS else 8 if POPULATIONS else 0)


def test_a_member_trains_what_its_own_fit_trains(regression_data):
    """The loss curve, epochs and weights of each member equal its fit's."""
    X, y = regression_data
    estimators = [
        DNNRegressor(**{**SMALL, "learning_rate": lr, "dropout": d, "n_iter_no_change": 2})
        for lr in (0.001, 0.3)
        for d in (0.0, 0.2)
    ]
    fits = [population.prepare_fit(clone(e), X[i:], y[i:]) for i, e in enumerate(estimators)]
    store = population.train_fits(fits)
    stored = [POPULATIONS and (DROPOUT_POPULATIONS or not e.dropout) for e in estimators]
    assert len(store) == sum(stored)
    for i, estimator in enumerate(estimators):
        single = clone(estimator).fit(X[i:], y[i:])
        member = clone(estimator)
        member._population_store = store
        member.fit(X[i:], y[i:])  # commits the population's member
        assert len(store) == sum(stored[i + 1 :])
        assert member.n_iter_ == single.n_iter_
        assert member.history_.keys() == single.history_.keys()
        for key, curve in single.history_.items():
            np.testing.assert_allclose(member.history_[key], curve, rtol=1e-5, err_msg=key)
        pairs = zip(member.model_.get_weights(), single.model_.get_weights(), strict=True)
        for ours, theirs in pairs:
            # A member's products run batched over the members (on
            # TensorFlow, unfused from the bias): rounding errors of the
            # order of the weights' magnitude, not of each weight's.
            scale = max(1.0, float(np.abs(theirs).max()))
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * scale)
        # Outputs near zero among outputs in the thousands: a few float32
        # roundings of the largest (PyTorch's Adam twin, see torch.py).
        expected = single.predict(X)
        atol = 1e-6 * np.abs(expected).max()
        np.testing.assert_allclose(member.predict(X), expected, rtol=1e-5, atol=atol)


def test_a_pipeline_shares_its_preprocessing(regression_data, claims):
    X, y = regression_data
    pipe = make_pipeline(StandardScaler(), DNNRegressor(**SMALL))
    grid = {
        "standardscaler__with_mean": [True, False],
        "dnnregressor__learning_rate": [0.01, 0.1],
    }
    ours, theirs = both("GridSearchCV", pipe, grid, cv=2, fit_args=(X, y))
    assert_same_search(ours, theirs)
    assert claims[0] == (8 if POPULATIONS else 0)


def test_multi_metric_scoring_and_train_scores(classification_data):
    X, y = classification_data
    ours, theirs = both(
        "GridSearchCV",
        DNNClassifier(**SMALL),
        {"learning_rate": [0.01, 0.1]},
        scoring=["accuracy", "neg_log_loss"],
        refit="neg_log_loss",
        return_train_score=True,
        cv=sk.StratifiedKFold(3, shuffle=True, random_state=1),
        fit_args=(X, y),
    )
    assert_same_search(ours, theirs)


def test_early_stopping_members_stop_on_their_own(classification_data, claims):
    X, y = classification_data
    estimator = DNNClassifier(
        **{**SMALL, "epochs": 30, "early_stopping": True, "n_iter_no_change": 2}
    )
    grid = {"learning_rate": [0.001, 0.05, 0.5]}
    ours, theirs = both("GridSearchCV", estimator, grid, cv=2, fit_args=(X, y))
    assert_same_search(ours, theirs)
    assert claims[0] == (6 if POPULATIONS else 0)


def test_sample_weights_reach_every_member(regression_data, claims):
    X, y = regression_data
    weights = np.random.RandomState(0).uniform(0.1, 2.0, len(y))
    ours, theirs = both(
        "GridSearchCV",
        DNNRegressor(**SMALL),
        {"alpha": [0.0, 1.0]},
        cv=2,
        fit_args=(X, y),
        fit_params={"sample_weight": weights},
    )
    assert_same_search(ours, theirs)
    assert claims[0] == (4 if POPULATIONS else 0)


def test_an_invalid_candidate_gets_the_error_score(classification_data):
    X, y = classification_data
    grid = {"learning_rate": [0.01, -1.0, 0.1]}
    with pytest.warns(FitFailedWarning, match="learning_rate"):
        ours = model_selection.GridSearchCV(DNNClassifier(**SMALL), grid, cv=2).fit(X, y)
    theirs = sk.GridSearchCV(DNNClassifier(**SMALL), grid, cv=2).fit(X, y)
    assert np.isnan(ours.cv_results_["mean_test_score"][1])
    assert_same_search(ours, theirs)
    with pytest.raises(ValueError, match="learning_rate"):
        model_selection.GridSearchCV(DNNClassifier(**SMALL), grid, cv=2, error_score="raise").fit(
            X, y
        )


def test_a_diverging_member_does_not_spoil_the_others(regression_data, claims):
    X, y = regression_data
    grid = {"learning_rate": [0.01, 1e12]}
    estimator = DNNRegressor(**{**SMALL, "optimizer": "sgd"})
    with pytest.warns(FitFailedWarning, match="diverged"):
        ours = model_selection.GridSearchCV(estimator, grid, cv=2).fit(X, y)
    theirs = sk.GridSearchCV(estimator, grid, cv=2).fit(X, y)
    assert np.isnan(ours.cv_results_["mean_test_score"][1])
    assert_same_search(ours, theirs)
    # The diverged member trained again in the search's loop, to report it.
    assert claims == ([2, 4] if POPULATIONS else [0, 0])


def test_other_estimators_and_settings_are_scikit_learns(classification_data, claims):
    X, y = classification_data
    ours, theirs = both(
        "GridSearchCV", LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, fit_args=(X, y)
    )
    assert_same_search(ours, theirs)
    # n_jobs=2: the workers fit in their own processes, as scikit-learn's.
    ours, theirs = both(
        "GridSearchCV",
        DNNClassifier(**SMALL),
        {"learning_rate": [0.01, 0.1]},
        cv=2,
        n_jobs=2,
        fit_args=(X, y),
    )
    assert_same_search(ours, theirs)
    assert claims == [0, 0]


def test_randomized_search(classification_data):
    from scipy.stats import loguniform

    X, y = classification_data
    ours, theirs = both(
        "RandomizedSearchCV",
        DNNClassifier(**SMALL),
        {"learning_rate": loguniform(1e-3, 1e-1), "momentum": [0.0, 0.5]},
        n_iter=3,
        cv=2,
        random_state=0,
        fit_args=(X, y),
    )
    assert_same_search(ours, theirs)


def test_a_population_larger_than_memory_is_split(classification_data, monkeypatch):
    X, y = classification_data
    grid = {"learning_rate": [0.01, 0.02, 0.03]}
    programs = []
    original = population._train_population

    def recording(backend, fits):
        programs.append(len(fits))
        return original(backend, fits)

    monkeypatch.setattr(population, "_train_population", recording)
    monkeypatch.setattr(population, "_members_per_program", lambda fit, backend: 4)
    ours, theirs = both("GridSearchCV", DNNClassifier(**SMALL), grid, cv=3, fit_args=(X, y))
    assert_same_search(ours, theirs)
    assert programs == [4, 4]  # 9 fits: 4 + 4 together, the last one alone


def test_unknown_parameters_and_malformed_grids_raise_scikit_learns_errors(
    classification_data,
):
    X, y = classification_data
    with pytest.raises(ValueError, match="Invalid parameter 'colour'"):
        model_selection.GridSearchCV(DNNClassifier(**SMALL), {"colour": [1, 2]}, cv=2).fit(X, y)
    with pytest.raises(TypeError, match="Parameter grid"):
        model_selection.GridSearchCV(DNNClassifier(**SMALL), {"alpha": 0.1}, cv=2).fit(X, y)


def test_the_search_clones_and_pickles(classification_data):
    X, y = classification_data
    search = model_selection.GridSearchCV(DNNClassifier(**SMALL), {"alpha": [0.0, 0.1]}, cv=2)
    assert clone(search).get_params().keys() == search.get_params().keys()
    search.fit(X, y)
    copy = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(copy.predict(X), search.predict(X))
    assert type(copy) is model_selection.GridSearchCV
    assert isinstance(copy, sk.GridSearchCV)


def test_fit_keys_tell_parameters_and_data_apart(classification_data):
    X, y = classification_data
    key = population.fit_key(DNNClassifier(**SMALL), X, y)
    assert key == population.fit_key(DNNClassifier(**SMALL), X.copy(), list(y))
    assert key != population.fit_key(DNNClassifier(**{**SMALL, "alpha": 0.5}), X, y)
    assert key != population.fit_key(DNNClassifier(**SMALL), X[::-1], y)
    assert key != population.fit_key(DNNClassifier(**SMALL), X, y, np.ones(len(y)))
    # A value that only its identity tells apart is never stored.
    assert population.fit_key(DNNClassifier(**{**SMALL, "loss": lambda t, p: t}), X, y) is None
    rng = np.random.RandomState(0)
    assert population.fit_key(DNNClassifier(**{**SMALL, "random_state": rng}), X, y) is None


def test_keras_estimators_take_part(classification_data, claims):
    X, y = classification_data
    estimator = KerasClassifier(model=dense_body, epochs=4, random_state=0)
    grid = {"model__units": [4, 8], "learning_rate": [0.01, 0.1]}
    ours, theirs = both("GridSearchCV", estimator, grid, cv=2, fit_args=(X, y))
    assert_same_search(ours, theirs)
    assert claims[0] == (8 if POPULATIONS else 0)


def test_verbose_prints_one_line_per_population_epoch(classification_data, capsys):
    X, y = classification_data
    estimator = DNNClassifier(**{**SMALL, "epochs": 3, "verbose": 1})
    model_selection.GridSearchCV(estimator, {"alpha": [0.0, 0.1]}, cv=2, refit=False).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if "Population" in line]
    expected = [
        f"Population of 4: epoch {e}/3, {4 if e < 3 else 0} still training" for e in (1, 2, 3)
    ]
    assert lines == (expected if POPULATIONS else [])


@pytest.mark.skipif(
    not hasattr(DNNClassifier, "set_callbacks"), reason="scikit-learn >= 1.9's callbacks"
)
def test_scikit_learns_progress_bar_on_the_search(classification_data, claims):
    from sklearn.callback import ProgressBar

    X, y = classification_data
    search = model_selection.GridSearchCV(DNNClassifier(**SMALL), {"alpha": [0.0, 0.1]}, cv=2)
    search.set_callbacks(ProgressBar())
    theirs = sk.GridSearchCV(DNNClassifier(**SMALL), {"alpha": [0.0, 0.1]}, cv=2).fit(X, y)
    assert_same_search(search.fit(X, y), theirs)
    assert claims[0] == (4 if POPULATIONS else 0)


def test_the_memory_budget_sets_the_members_per_program(classification_data, monkeypatch):
    X, y = classification_data
    fit = population.prepare_fit(DNNClassifier(**SMALL), X, y)
    backend = get_backend()
    one = population._members_per_program(fit, backend)
    monkeypatch.setenv("SKDNN_POPULATION_BYTES", str(10**6))
    fewer = population._members_per_program(fit, backend)
    monkeypatch.setenv("SKDNN_POPULATION_BYTES", "1")
    assert one > fewer > population._members_per_program(fit, backend) == 1


def test_what_tensorflow_cannot_vectorize_trains_one_fit_at_a_time(classification_data, claims):
    """Batch statistics would count the rows that pad a member's batch, and
    Keras's TensorFlow optimizers apply weight decay through tf.distribute:
    such fits train in the search's loop there, with the same results."""
    X, y = classification_data
    estimators = [
        DNNClassifier(**{**SMALL, "batch_normalization": True}),
        DNNClassifier(**{**SMALL, "optimizer": keras.optimizers.AdamW(weight_decay=0.01)}),
    ]
    for estimator in estimators:
        grid = {"learning_rate": [0.01, 0.1]}
        ours, theirs = both("GridSearchCV", estimator, grid, cv=2, fit_args=(X, y))
        assert_same_search(ours, theirs)
    # PyTorch trains batch normalization in populations (no padded rows),
    # and AdamW's weight decay one fit at a time.
    expected = {"tensorflow": 0, "torch": 4}.get(keras_backend(), 8 if POPULATIONS else 0)
    assert claims[0] == expected


def test_what_a_member_warns_reaches_the_user(classification_data, claims):
    """A body that ends in a softmax gets the Keras estimators' warning, in a
    population search as in a fit of its own."""
    X, y = classification_data
    estimator = KerasClassifier(model=softmax_body, epochs=1, random_state=0)
    with pytest.warns(UserWarning, match="softmax"):
        search = model_selection.GridSearchCV(estimator, {"learning_rate": [0.01, 0.1]}, cv=2)
        search.set_params(refit=False).fit(X, y)
    assert claims[0] == (4 if POPULATIONS else 0)


def softmax_body(input_shape):
    """A body that keeps a classifier's output layer (module-level: a
    search identifies it by name)."""
    import keras

    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(3, "softmax")])


def test_a_clone_made_during_a_search_pickles_without_the_population(classification_data):
    X, y = classification_data
    fit = population.prepare_fit(DNNClassifier(**SMALL), X, y)
    store = population.train_fits([fit, population.prepare_fit(DNNClassifier(**SMALL), X, y)])
    with population.active(store):
        estimator = clone(DNNClassifier(**SMALL))
    assert "_population_store" in vars(estimator)
    copy = pickle.loads(pickle.dumps(estimator))
    assert "_population_store" not in vars(copy)
    assert population.active_store() is None


def test_a_failing_population_leaves_its_fits_to_the_search(classification_data, monkeypatch):
    X, y = classification_data

    def failing(backend, fits):
        raise MemoryError("the device is full")

    monkeypatch.setattr(population, "_train_population", failing)
    ours, theirs = both(
        "GridSearchCV", DNNClassifier(**SMALL), {"alpha": [0.0, 0.1]}, cv=2, fit_args=(X, y)
    )
    assert_same_search(ours, theirs)
