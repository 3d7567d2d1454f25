"""Integration matrix: the estimators inside the scikit-learn tools users reach for.

Each test puts ``DNNClassifier`` / ``DNNRegressor`` where scikit-learn would
accept ``MLPClassifier`` / ``MLPRegressor`` -- pipelines, searches,
validation tools, meta-estimators, inspection and plotting, metadata routing,
cloning -- and checks a result that would be wrong if the integration broke:
a score above chance, a shape, an exact equality, predictions that change.

Data are small and networks train for few epochs (``FAST``); tests that
assert quality train a little longer (``QUALITY``).
"""

import pickle
import warnings
from functools import cache

import joblib
import matplotlib
import numpy as np
import pandas as pd
import pytest
from conftest import ESTIMATORS, FAST, assert_reproduced, keras_backend
from conftest import predictions as _predict
from scipy.stats import loguniform
from sklearn import config_context
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.ensemble import (
    BaggingClassifier,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
)
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.inspection import (
    DecisionBoundaryDisplay,
    PartialDependenceDisplay,
    permutation_importance,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, accuracy_score
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GridSearchCV,
    HalvingGridSearchCV,
    RandomizedSearchCV,
    TunedThresholdClassifierCV,
    cross_validate,
    learning_curve,
    validation_curve,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import ClassifierChain, MultiOutputRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier

from skdnn import DNNClassifier, DNNRegressor

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# FAST learns too little in 5 epochs to beat chance reliably; tests that
# assert a score train a little longer.
QUALITY = {**FAST, "epochs": 20, "learning_rate": 0.03}

# Scores clearly above chance on the conftest data, where chance is an
# accuracy of 1/3 (3 balanced classes) and an R^2 of 0 (predicting the mean).
ABOVE_CHANCE = {DNNClassifier: 0.55, DNNRegressor: 0.5}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _step_name(Estimator):
    """Return the name ``make_pipeline`` gives an estimator of this class."""
    return Estimator.__name__.lower()


def _binary_data(n_samples=150):
    """Return a small binary classification problem."""
    X, y = make_classification(
        n_samples=n_samples, n_features=5, n_informative=3, n_redundant=0, random_state=1
    )
    return X.astype(np.float32), y


def _mixed_frame(Estimator, n_samples=150):
    """Return a DataFrame with numeric and string columns, and a target.

    The target depends on the category as much as on the numbers, so a
    network that ignored the one-hot columns could not score well.
    """
    rng = np.random.RandomState(0)
    color = rng.choice(["red", "green", "blue"], size=n_samples)
    numbers = rng.normal(size=(n_samples, 3))
    effect = pd.Series(color).map({"red": -2.0, "green": 0.0, "blue": 2.0}).to_numpy()
    signal = numbers[:, 0] + effect
    X = pd.DataFrame(
        {"x0": numbers[:, 0], "x1": numbers[:, 1], "x2": numbers[:, 2], "color": color}
    )
    y = (signal > 0).astype(int) if Estimator is DNNClassifier else 10 * signal + 100
    return X, y


def _mixed_preprocessing():
    return ColumnTransformer(
        [
            ("num", StandardScaler(), ["x0", "x1", "x2"]),
            ("cat", OneHotEncoder(sparse_output=False, handle_unknown="ignore"), ["color"]),
        ]
    )


# ----------------------------------------------------------------------------
# Pipelines
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_make_pipeline_with_scaler(Estimator, data_for):
    X, y = data_for(Estimator)
    pipe = make_pipeline(StandardScaler(), Estimator(**QUALITY)).fit(X[:90], y[:90])
    assert pipe[-1].n_features_in_ == X.shape[1]
    assert pipe.score(X[90:], y[90:]) > ABOVE_CHANCE[Estimator]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_column_transformer_on_mixed_dataframe(Estimator):
    X, y = _mixed_frame(Estimator)
    pipe = make_pipeline(_mixed_preprocessing(), Estimator(**QUALITY)).fit(X, y)
    # 3 scaled numbers + 3 one-hot colours reach the network.
    assert pipe[-1].n_features_in_ == 6
    assert pipe.score(X, y) > (0.85 if Estimator is DNNClassifier else 0.8)
    # The categorical column matters: recolouring every row changes the output
    # in the direction of the colours' effect on the target.
    as_red, as_blue = X.assign(color="red"), X.assign(color="blue")
    if Estimator is DNNClassifier:
        assert pipe.predict_proba(as_blue)[:, 1].mean() > pipe.predict_proba(as_red)[:, 1].mean()
    else:
        assert pipe.predict(as_blue).mean() > pipe.predict(as_red).mean()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_set_output_pandas_upstream_names_the_network_inputs(Estimator):
    X, y = _mixed_frame(Estimator)
    pipe = make_pipeline(_mixed_preprocessing(), Estimator(**FAST))
    pipe.set_output(transform="pandas").fit(X, y)
    names = pipe[0].get_feature_names_out()
    assert list(pipe[-1].feature_names_in_) == list(names)
    assert "cat__color_blue" in names
    # The DataFrame the network sees at predict time carries the same names:
    # scikit-learn would warn about a mismatch.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert pipe.predict(X).shape == (len(X),)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_dataframe_with_early_stopping_warns_nothing(Estimator):
    X, y = _mixed_frame(Estimator)
    pipe = make_pipeline(_mixed_preprocessing(), Estimator(**{**FAST, "early_stopping": True}))
    pipe.set_output(transform="pandas")
    with warnings.catch_warnings():
        # Scoring the validation split must not trip scikit-learn's check.
        warnings.filterwarnings("error", message=".*feature names.*")
        pipe.fit(X, y)
    assert pipe[-1].best_validation_score_ is not None


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pipeline_survives_pickle_and_joblib(Estimator, tmp_path):
    X, y = _mixed_frame(Estimator)
    pipe = make_pipeline(_mixed_preprocessing(), Estimator(**FAST)).fit(X, y)
    expected = _predict(pipe, X)
    from_pickle = pickle.loads(pickle.dumps(pipe))
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    from_joblib = joblib.load(tmp_path / "pipe.joblib")
    for reloaded in (from_pickle, from_joblib):
        np.testing.assert_array_equal(_predict(reloaded, X), expected)
        np.testing.assert_array_equal(reloaded.predict(X), pipe.predict(X))


# ----------------------------------------------------------------------------
# Search and validation
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_grid_search_finds_the_learning_rate_that_learns(Estimator, data_for):
    X, y = data_for(Estimator)
    step = _step_name(Estimator)
    pipe = make_pipeline(StandardScaler(), Estimator(optimizer="sgd", **QUALITY))
    grid = {f"{step}__learning_rate": [1e-5, 0.05], f"{step}__momentum": [0.0, 0.9]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    # 1e-5 for 20 epochs learns next to nothing.
    assert search.best_params_[f"{step}__learning_rate"] == 0.05
    assert search.best_score_ > ABOVE_CHANCE[Estimator]
    assert search.best_estimator_[-1].learning_rate == 0.05


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_randomized_search_with_scipy_distribution(Estimator, data_for):
    X, y = data_for(Estimator)
    step = _step_name(Estimator)
    pipe = make_pipeline(StandardScaler(), Estimator(optimizer="sgd", **QUALITY))
    distributions = {
        f"{step}__learning_rate": loguniform(1e-3, 1e-1),
        f"{step}__momentum": [0.0, 0.9],
        f"{step}__hidden_layer_sizes": [(8,), (16, 16)],
    }
    search = RandomizedSearchCV(pipe, distributions, n_iter=4, cv=2, random_state=0)
    search.fit(X, y)
    rates = search.cv_results_[f"param_{step}__learning_rate"]
    assert len(set(rates)) == 4 and all(1e-3 <= rate <= 1e-1 for rate in rates)
    assert set(search.cv_results_[f"param_{step}__momentum"]) <= {0.0, 0.9}
    assert search.best_score_ > ABOVE_CHANCE[Estimator]
    # The refitted network was built with the sampled depth.
    best = search.best_estimator_[-1]
    n_dense = sum(type(layer).__name__ == "Dense" for layer in best.model_.layers)
    assert n_dense == len(search.best_params_[f"{step}__hidden_layer_sizes"]) + 1
    assert best.learning_rate == search.best_params_[f"{step}__learning_rate"]


# Each estimator with one of the two kinds of resource: halving the training
# set (the default) or the number of epochs.
@pytest.mark.parametrize(
    "Estimator, resource", [(DNNClassifier, "n_samples"), (DNNRegressor, "epochs")]
)
def test_halving_grid_search(Estimator, resource, data_for):
    X, y = data_for(Estimator)
    budget = {"n_samples": (30, 120), "epochs": (5, 20)}[resource]
    search = HalvingGridSearchCV(
        Estimator(optimizer="sgd", **QUALITY),
        {"learning_rate": [1e-5, 1e-4, 0.01, 0.05]},
        resource=resource,
        min_resources=budget[0],
        max_resources=budget[1],
        factor=2,
        cv=2,
        random_state=0,
    ).fit(X, y)
    # 4 candidates halved twice, the budget doubled each time.
    assert search.n_candidates_ == [4, 2, 1]
    assert search.n_resources_ == [budget[0], 2 * budget[0], 4 * budget[0]]
    # The learning rates that learn nothing are dropped first.
    assert search.best_params_["learning_rate"] in (0.01, 0.05)
    if resource == "epochs":
        assert search.best_estimator_.epochs == 20


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_cross_validate_with_several_scorers(Estimator, data_for):
    X, y = data_for(Estimator)
    pipe = make_pipeline(StandardScaler(), Estimator(**QUALITY))
    if Estimator is DNNClassifier:
        scores = cross_validate(
            pipe, X, y, cv=3, scoring=["accuracy", "neg_log_loss", "roc_auc_ovr"]
        )
        assert scores["test_accuracy"].mean() > ABOVE_CHANCE[Estimator]
        assert scores["test_roc_auc_ovr"].mean() > 0.75
        # Better than the uniform guess over 3 classes, whose log loss is log(3).
        assert scores["test_neg_log_loss"].mean() > -np.log(3)
    else:
        scores = cross_validate(pipe, X, y, cv=3, scoring=["r2", "neg_mean_absolute_error"])
        assert scores["test_r2"].mean() > ABOVE_CHANCE[Estimator]
        # Better than predicting the mean.
        assert -scores["test_neg_mean_absolute_error"].mean() < np.abs(y - y.mean()).mean()
    assert all(values.shape == (3,) for values in scores.values())


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_learning_curve(Estimator, data_for):
    X, y = data_for(Estimator)
    pipe = make_pipeline(StandardScaler(), Estimator(**QUALITY))
    sizes, train_scores, test_scores = learning_curve(
        pipe, X, y, train_sizes=[0.5, 1.0], cv=3, shuffle=True, random_state=0
    )
    assert sizes.tolist() == [40, 80]
    assert train_scores.shape == test_scores.shape == (2, 3)
    assert test_scores[-1].mean() > ABOVE_CHANCE[Estimator]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_validation_curve_over_learning_rate(Estimator, data_for):
    X, y = data_for(Estimator)
    step = _step_name(Estimator)
    pipe = make_pipeline(StandardScaler(), Estimator(optimizer="sgd", **QUALITY))
    train_scores, test_scores = validation_curve(
        pipe, X, y, param_name=f"{step}__learning_rate", param_range=[1e-5, 0.05], cv=3
    )
    assert test_scores.shape == (2, 3)
    # A learning rate that learns beats one that does not.
    assert test_scores[1].mean() > test_scores[0].mean() + 0.2
    assert test_scores[1].mean() > ABOVE_CHANCE[Estimator]


@cache
def _search_and_cross_validate(Estimator, backend):
    """Run a small grid search and ``cross_validate`` on the given joblib backend.

    Parameters
    ----------
    Estimator : type
        ``DNNClassifier`` or ``DNNRegressor``.
    backend : {"sequential", "loky", "threading"}
        ``"sequential"`` runs with ``n_jobs=1``; the others with ``n_jobs=2``
        on that joblib backend (loky: separate worker processes, which import
        skdnn and unpickle the estimators; threading: one process).

    Returns
    -------
    results : dict of str to ndarray
        Everything that must not depend on the backend: per-split scores,
        the refitted search's predictions, and the predictions of the
        estimators that ``cross_validate`` fitted (with loky they come back
        from the workers pickled).
    """
    X, y = (
        _binary_data()
        if Estimator is DNNClassifier
        else make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)
    )
    n_jobs = 1 if backend == "sequential" else 2
    with joblib.parallel_backend(
        "threading" if backend == "threading" else "loky",
        inner_max_num_threads=_worker_threads(backend),
    ):
        search = GridSearchCV(
            Estimator(**FAST), {"learning_rate": [0.003, 0.03]}, cv=2, n_jobs=n_jobs
        ).fit(X, y)
        scores = cross_validate(Estimator(**FAST), X, y, cv=2, n_jobs=n_jobs, return_estimator=True)
    return {
        "search_split0": search.cv_results_["split0_test_score"],
        "search_split1": search.cv_results_["split1_test_score"],
        "search_predictions": _predict(search.best_estimator_, X),
        "cv_scores": scores["test_score"],
        **{f"cv_estimator{i}": _predict(est, X) for i, est in enumerate(scores["estimator"])},
    }


def _worker_threads(backend):
    """The thread count loky's workers get here: on PyTorch, the parent's.

    joblib gives each of ``n_jobs`` loky workers ``cpu_count // n_jobs``
    threads; PyTorch's float32 sums, split across threads, round differently
    for another thread count (by about 1e-7), while TensorFlow's and JAX's
    results here do not depend on it. With the parent's thread count in the
    workers, PyTorch's fits there are those of the parent, to the bit.
    """
    if keras_backend() != "torch" or backend != "loky":
        return None
    import torch

    return torch.get_num_threads()


@pytest.mark.parametrize("backend", ["loky", "threading"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_parallel_backends_give_identical_results(Estimator, backend):
    # skdnn is deterministic for an integer random_state, in worker processes
    # and in threads running beside each other: n_jobs changes nothing.
    expected = _search_and_cross_validate(Estimator, "sequential")
    results = _search_and_cross_validate(Estimator, backend)
    assert results.keys() == expected.keys()
    for key, value in expected.items():
        assert_reproduced(results[key], value, err_msg=key)
    assert np.all(np.isfinite(expected["cv_scores"]))


@cache
def _other_model_selection_tools(backend):
    """Run RandomizedSearchCV, HalvingGridSearchCV and both curves on ``backend``.

    Parameters
    ----------
    backend : {"sequential", "threading"}
        ``n_jobs=1``, or ``n_jobs=2`` on joblib's threading backend.

    Returns
    -------
    results : dict of str to ndarray
        Scores and sampled parameters that must not depend on the backend.
    """
    X, y = _binary_data(n_samples=100)
    n_jobs = 1 if backend == "sequential" else 2
    with joblib.parallel_backend("threading" if backend == "threading" else "loky"):
        randomized = RandomizedSearchCV(
            DNNClassifier(**FAST),
            {"learning_rate": loguniform(1e-3, 1e-1), "hidden_layer_sizes": [(8,), (8, 8)]},
            n_iter=2,
            cv=2,
            random_state=0,
            n_jobs=n_jobs,
        ).fit(X, y)
        halving = HalvingGridSearchCV(
            DNNClassifier(**FAST),
            {"learning_rate": [0.001, 0.03]},
            resource="epochs",
            min_resources=2,
            max_resources=4,
            factor=2,
            cv=2,
            n_jobs=n_jobs,
        ).fit(X, y)
        _, _, learning = learning_curve(
            DNNClassifier(**FAST), X, y, train_sizes=[0.5, 1.0], cv=2, n_jobs=n_jobs
        )
        _, validation = validation_curve(
            DNNClassifier(**FAST),
            X,
            y,
            param_name="epochs",
            param_range=[2, 5],
            cv=2,
            n_jobs=n_jobs,
        )
    return {
        "randomized_rates": np.array(randomized.cv_results_["param_learning_rate"], float),
        "randomized_scores": randomized.cv_results_["mean_test_score"],
        "halving_scores": halving.cv_results_["mean_test_score"],
        "learning_curve": learning,
        "validation_curve": validation,
    }


def test_other_tools_identical_under_threading():
    # The tools above, run with n_jobs=1, again in two threads: nothing changes.
    expected = _other_model_selection_tools("sequential")
    results = _other_model_selection_tools("threading")
    for key, value in expected.items():
        assert_reproduced(results[key], value, err_msg=key)
    assert expected["learning_curve"].shape == expected["validation_curve"].shape == (2, 2)


# ----------------------------------------------------------------------------
# Meta-estimators
# ----------------------------------------------------------------------------
def test_calibrated_classifier_cv(classification_data):
    X, y = classification_data
    calibrated = CalibratedClassifierCV(DNNClassifier(**QUALITY), cv=3).fit(X[:90], y[:90])
    assert len(calibrated.calibrated_classifiers_) == 3
    proba = calibrated.predict_proba(X[90:])
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert calibrated.score(X[90:], y[90:]) > ABOVE_CHANCE[DNNClassifier]


def test_soft_voting_averages_the_probabilities(classification_data):
    X, y = classification_data
    voting = VotingClassifier(
        [("dnn", DNNClassifier(**QUALITY)), ("logistic", LogisticRegression())], voting="soft"
    ).fit(X, y)
    mean_proba = np.mean([est.predict_proba(X) for est in voting.estimators_], axis=0)
    np.testing.assert_allclose(voting.predict_proba(X), mean_proba, rtol=1e-6)
    assert voting.score(X, y) > ABOVE_CHANCE[DNNClassifier]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_stacking(Estimator, data_for):
    X, y = data_for(Estimator)
    if Estimator is DNNClassifier:
        stack = StackingClassifier(
            [("dnn", DNNClassifier(**QUALITY)), ("logistic", LogisticRegression())], cv=3
        )
        n_stacked = 2 * 3  # both members give 3 class probabilities
    else:
        stack = StackingRegressor(
            [("dnn", DNNRegressor(**QUALITY)), ("ridge", Ridge())], final_estimator=Ridge(), cv=3
        )
        n_stacked = 2
    stack.fit(X[:90], y[:90])
    assert stack.transform(X[90:]).shape == (30, n_stacked)
    assert stack.score(X[90:], y[90:]) > ABOVE_CHANCE[Estimator]


def test_bagging_members_differ(classification_data):
    X, y = classification_data
    bagging = BaggingClassifier(DNNClassifier(**QUALITY), n_estimators=3, random_state=0)
    bagging.fit(X, y)
    assert len(bagging.estimators_) == 3
    # Each member got its own seed and bootstrap sample.
    seeds = {member.random_state for member in bagging.estimators_}
    assert len(seeds) == 3
    first, second = (member.predict_proba(X) for member in bagging.estimators_[:2])
    assert not np.allclose(first, second)
    assert bagging.score(X, y) > ABOVE_CHANCE[DNNClassifier]


def test_one_vs_rest(classification_data):
    X, y = classification_data
    ovr = OneVsRestClassifier(DNNClassifier(**QUALITY)).fit(X, y)
    assert len(ovr.estimators_) == 3
    assert all(est.classes_.tolist() == [0, 1] for est in ovr.estimators_)
    assert ovr.predict_proba(X).shape == (len(X), 3)
    assert ovr.score(X, y) > ABOVE_CHANCE[DNNClassifier]


def test_multi_output_regressor():
    X, Y = make_regression(n_samples=120, n_features=6, n_targets=2, noise=1.0, random_state=0)
    multi = MultiOutputRegressor(DNNRegressor(**QUALITY)).fit(X, Y)
    assert len(multi.estimators_) == 2
    assert multi.predict(X).shape == (120, 2)
    assert multi.score(X, Y) > ABOVE_CHANCE[DNNRegressor]


def test_classifier_chain():
    X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=3, random_state=0)
    chain = ClassifierChain(DNNClassifier(**QUALITY), order=[0, 1, 2]).fit(X, Y)
    # Each link sees the features plus the labels before it in the chain.
    assert [est.n_features_in_ for est in chain.estimators_] == [6, 7, 8]
    predictions = chain.predict(X)
    assert predictions.shape == Y.shape
    # Per-label accuracy beats always predicting each label's majority value.
    majority = np.maximum(Y.mean(axis=0), 1 - Y.mean(axis=0))
    assert np.mean(predictions == Y) > majority.mean()


def test_transformed_target_regressor():
    X, y = make_regression(n_samples=120, n_features=6, noise=1.0, random_state=0)
    y = np.exp(y / 100)  # positive, skewed target: log makes it linear again
    model = TransformedTargetRegressor(
        DNNRegressor(**QUALITY), func=np.log, inverse_func=np.exp
    ).fit(X, y)
    # The network was trained on log(y); predictions come back in y's units.
    np.testing.assert_allclose(model.predict(X), np.exp(model.regressor_.predict(X)))
    assert np.all(model.predict(X) > 0)
    assert model.score(X, y) > ABOVE_CHANCE[DNNRegressor]


def test_fixed_threshold_classifier():
    X, y = _binary_data()
    low = FixedThresholdClassifier(DNNClassifier(**QUALITY), threshold=0.1).fit(X, y)
    high = FixedThresholdClassifier(DNNClassifier(**QUALITY), threshold=0.9).fit(X, y)
    proba = low.estimator_.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(low.predict(X), (proba >= 0.1).astype(int))
    # Same network (same random_state); only the threshold moved.
    np.testing.assert_array_equal(high.estimator_.predict_proba(X)[:, 1], proba)
    assert low.predict(X).sum() > high.predict(X).sum()


def test_tuned_threshold_classifier_cv():
    # Imbalanced classes: the threshold maximizing balanced accuracy is not 0.5.
    X, y = make_classification(
        n_samples=150, n_features=5, n_informative=3, n_redundant=0, weights=[0.8], random_state=1
    )
    tuned = TunedThresholdClassifierCV(
        DNNClassifier(**QUALITY), scoring="balanced_accuracy", cv=3, random_state=0
    ).fit(X, y)
    assert 0 < tuned.best_threshold_ < 1
    assert tuned.best_score_ > 0.6
    proba = tuned.estimator_.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(tuned.predict(X), (proba >= tuned.best_threshold_).astype(int))


@pytest.mark.quality
def test_self_training_classifier_labels_unlabeled_samples(classification_data):
    X, y = classification_data
    y_partial = y.copy()
    y_partial[::2] = -1  # half the samples are unlabeled
    model = SelfTrainingClassifier(DNNClassifier(**QUALITY), threshold=0.7, max_iter=2)
    model.fit(X, y_partial)
    pseudo_labeled = model.labeled_iter_ > 0
    assert pseudo_labeled.any()
    # The network's confident predictions were mostly right (chance: 1/3).
    assert np.mean(model.transduction_[pseudo_labeled] == y[pseudo_labeled]) > 0.6
    assert model.score(X, y) > ABOVE_CHANCE[DNNClassifier]


# ----------------------------------------------------------------------------
# Inspection and plotting
# ----------------------------------------------------------------------------
@cache
def _fitted_on_signal_and_noise(Estimator):
    """Fit an estimator on two features: one informative, one pure noise.

    Returns
    -------
    estimator, X, y
        With ``shuffle=False`` the generators put the informative feature
        first; the second is independent noise.
    """
    if Estimator is DNNClassifier:
        X, y = make_classification(
            n_samples=150,
            n_features=2,
            n_informative=1,
            n_redundant=0,
            n_clusters_per_class=1,
            shuffle=False,
            random_state=0,
        )
    else:
        X, y = make_regression(
            n_samples=150, n_features=2, n_informative=1, noise=1.0, shuffle=False, random_state=0
        )
    return Estimator(**QUALITY).fit(X, y), X, y


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_permutation_importance_ranks_signal_above_noise(Estimator):
    estimator, X, y = _fitted_on_signal_and_noise(Estimator)
    result = permutation_importance(estimator, X, y, n_repeats=5, random_state=0)
    signal, noise = result.importances_mean
    assert signal > 0.1
    assert signal > noise + 0.1


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_dependence_display(Estimator):
    estimator, X, _ = _fitted_on_signal_and_noise(Estimator)
    display = PartialDependenceDisplay.from_estimator(
        estimator, X, features=[0, 1], grid_resolution=20
    )
    signal, noise = (np.ptp(result["average"]) for result in display.pd_results)
    assert display.pd_results[0]["average"].shape == (1, 20)
    # The output moves along the informative feature much more than along the noise.
    assert signal > 2 * noise


def test_decision_boundary_display():
    estimator, X, _ = _fitted_on_signal_and_noise(DNNClassifier)
    display = DecisionBoundaryDisplay.from_estimator(
        estimator, X, response_method="predict", grid_resolution=30
    )
    assert display.response.shape == display.xx0.shape == (30, 30)
    # Both classes have a region in the plane.
    assert set(np.unique(display.response)) == {0, 1}


def test_roc_curve_display():
    estimator, X, y = _fitted_on_signal_and_noise(DNNClassifier)
    display = RocCurveDisplay.from_estimator(estimator, X, y)
    assert display.roc_auc > 0.85
    assert display.fpr[0] == 0 and display.tpr[-1] == 1


def test_confusion_matrix_display(classification_data):
    X, y = classification_data
    estimator = DNNClassifier(**QUALITY).fit(X, y)
    display = ConfusionMatrixDisplay.from_estimator(estimator, X, y)
    matrix = display.confusion_matrix
    assert matrix.shape == (3, 3)
    assert matrix.sum() == len(y)
    assert np.trace(matrix) / len(y) == pytest.approx(estimator.score(X, y))


# ----------------------------------------------------------------------------
# Metadata routing
# ----------------------------------------------------------------------------
def _weights_ignoring_class(y, label):
    """Return sample weights that are zero on one class and one elsewhere."""
    return np.where(y == label, 0.0, 1.0)


def test_routing_sample_weight_through_pipeline(classification_data):
    X, y = classification_data
    w = _weights_ignoring_class(y, 2)
    with config_context(enable_metadata_routing=True):
        dnn = DNNClassifier(**QUALITY).set_fit_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        weighted = make_pipeline(scaler, dnn).fit(X, y, sample_weight=w)
        unweighted = make_pipeline(StandardScaler(), DNNClassifier(**QUALITY)).fit(X, y)
    # Class 2 weighs nothing: the network never learns to predict it.
    assert 2 not in weighted.predict(X)
    assert 2 in unweighted.predict(X)


def test_routing_sample_weight_through_grid_search(classification_data):
    X, y = classification_data
    w = _weights_ignoring_class(y, 2)
    with config_context(enable_metadata_routing=True):
        dnn = (
            DNNClassifier(**QUALITY)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=False)
        )
        search = GridSearchCV(dnn, {"learning_rate": [0.01, 0.03]}, cv=2)
        weighted = clone(search).fit(X, y, sample_weight=w)
        unweighted = clone(search).fit(X, y)
    assert 2 not in weighted.best_estimator_.predict(X)
    assert 2 in unweighted.best_estimator_.predict(X)


def test_routing_sample_weight_through_cross_validate(classification_data):
    X, y = classification_data
    w = _weights_ignoring_class(y, 2)
    with config_context(enable_metadata_routing=True):
        dnn = (
            DNNClassifier(**QUALITY)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=False)
        )
        weighted = cross_validate(
            dnn, X, y, cv=2, params={"sample_weight": w}, return_estimator=True
        )
        unweighted = cross_validate(DNNClassifier(**QUALITY), X, y, cv=2, return_estimator=True)
    assert all(2 not in est.predict(X) for est in weighted["estimator"])
    assert all(2 in est.predict(X) for est in unweighted["estimator"])


def test_routing_sample_weight_to_score(classification_data):
    X, y = classification_data
    # Weigh the class predicted worst heavily, so the weighted score differs.
    w = np.where(y == 0, 5.0, 1.0)
    with config_context(enable_metadata_routing=True):
        dnn = (
            DNNClassifier(**QUALITY)
            .set_fit_request(sample_weight=False)
            .set_score_request(sample_weight=True)
        )
        weighted = cross_validate(
            dnn, X, y, cv=2, params={"sample_weight": w}, return_estimator=True, return_indices=True
        )
        plain = cross_validate(dnn, X, y, cv=2, return_estimator=True)
    # The fits ignored the weights, so only the scoring changed ...
    for a, b in zip(weighted["estimator"], plain["estimator"], strict=True):
        assert_reproduced(a.predict_proba(X), b.predict_proba(X))
    # ... and the score is the weighted accuracy on each test fold.
    for est, test, score in zip(
        weighted["estimator"], weighted["indices"]["test"], weighted["test_score"], strict=True
    ):
        expected = accuracy_score(y[test], est.predict(X[test]), sample_weight=w[test])
        assert score == pytest.approx(expected)
    assert not np.allclose(weighted["test_score"], plain["test_score"])


# ----------------------------------------------------------------------------
# clone, get_params / set_params, HTML repr
# ----------------------------------------------------------------------------
# A value different from the default for every parameter.
NON_DEFAULT = {
    "hidden_layer_sizes": (7, 3),
    "activation": "tanh",
    "dropout": (0.1, 0.2),
    "batch_normalization": True,
    "alpha": 0.01,
    "optimizer": "sgd",
    "learning_rate": 0.05,
    "momentum": 0.5,
    "nesterov": True,
    "epochs": 3,
    "batch_size": 16,
    "shuffle": False,
    "early_stopping": True,
    "validation_fraction": 0.2,
    "n_iter_no_change": 4,
    "tol": 1e-3,
    "random_state": 7,
    "verbose": 2,
    "warm_start": True,
}
NON_DEFAULT_OWN = {
    DNNClassifier: {"loss": "log_loss", "class_weight": {0: 1.0, 1: 2.0}, "metrics": ["AUC"]},
    DNNRegressor: {"loss": "huber", "output_activation": "softplus", "metrics": ["mae"]},
}


def _non_default(Estimator):
    """Return ``Estimator`` with every parameter listed above set off its default."""
    params = {**NON_DEFAULT, **NON_DEFAULT_OWN[Estimator]}
    defaults = Estimator().get_params()
    assert all(params[name] != defaults[name] for name in params)
    return Estimator(**params)


def _comparable(value):
    """Return ``value`` with estimators replaced by ``(class, their parameters)``.

    Cloned estimators are new objects, so they compare by class and
    parameters, recursively.
    """
    if isinstance(value, BaseEstimator):
        return type(value), _comparable(value.get_params(deep=False))
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_comparable(item) for item in value)
    return value


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_keeps_every_parameter(Estimator):
    estimator = _non_default(Estimator)
    cloned = clone(estimator)
    assert cloned is not estimator
    assert cloned.get_params() == estimator.get_params()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_keeps_keras_objects_as_copies(Estimator):
    import keras

    estimator = Estimator(
        optimizer=keras.optimizers.SGD(learning_rate=0.02, momentum=0.3),
        callbacks=[keras.callbacks.EarlyStopping(monitor="loss", patience=3)],
    )
    cloned = clone(estimator)
    # Copies with the same settings: fitting the clone cannot touch the original's.
    assert cloned.optimizer is not estimator.optimizer
    assert cloned.optimizer.get_config() == estimator.optimizer.get_config()
    [callback] = cloned.callbacks
    assert callback is not estimator.callbacks[0]
    assert type(callback) is keras.callbacks.EarlyStopping and callback.patience == 3


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_keeps_nested_parameters_in_pipeline_and_search(Estimator):
    step = _step_name(Estimator)
    search = GridSearchCV(
        make_pipeline(StandardScaler(with_mean=False), _non_default(Estimator)),
        {f"{step}__learning_rate": [0.01, 0.1]},
        cv=4,
        scoring="max_error",
    )
    cloned = clone(search)
    params = search.get_params(deep=True)
    assert params[f"estimator__{step}__hidden_layer_sizes"] == (7, 3)
    assert _comparable(cloned.get_params(deep=True)) == _comparable(params)
    # The clone owns new estimators: changing it leaves the original alone.
    assert cloned.estimator[-1] is not search.estimator[-1]
    cloned.set_params(**{f"estimator__{step}__momentum": 0.1})
    assert search.estimator[-1].momentum == 0.5


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_get_params_set_params_round_trip(Estimator):
    source = _non_default(Estimator)
    target = Estimator().set_params(**source.get_params())
    assert target.get_params() == source.get_params()

    step = _step_name(Estimator)
    pipe = make_pipeline(StandardScaler(), Estimator())
    pipe.set_params(**{f"{step}__learning_rate": 0.3, f"{step}__hidden_layer_sizes": (4, 4)})
    assert pipe[-1].learning_rate == 0.3
    assert pipe.get_params(deep=True)[f"{step}__hidden_layer_sizes"] == (4, 4)
    with pytest.raises(ValueError, match="learnin_rate"):
        pipe.set_params(**{f"{step}__learnin_rate": 0.3})


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_html_repr(Estimator, data_for):
    X, y = data_for(Estimator)
    estimator = Estimator(**FAST)
    html = estimator._repr_html_()
    assert Estimator.__name__ in html
    assert "learning_rate" in html and "Not fitted" in html
    pipe = Pipeline([("scale", StandardScaler()), ("net", estimator)]).fit(X, y)
    html = pipe._repr_html_()
    assert Estimator.__name__ in html and "StandardScaler" in html
    assert "Not fitted" not in html  # both steps report being fitted
