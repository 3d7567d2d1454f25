"""The stopping rule: scikit-learn MLP's (old default) vs ``n_iter_no_change="auto"``.

Both rules run in the same process on default estimators; the old one is
scikit-learn MLP's rule with ``n_iter_no_change=10``, swapped in for
``TrainingRun._stop`` (a copy of skdnn's rule before ``"auto"``).

* The tutorial regression: ``make_regression(n_samples=200, n_features=1,
  bias=5, noise=5, random_state=123)``, ``train_test_split(test_size=0.2,
  random_state=123)``, ``DNNRegressor(random_state=0)``, with ``y`` as it is,
  times 1000 and divided by 1000: epochs run and the test MSE over least
  squares' (``LinearRegression``); ``MLPRegressor(random_state=0)`` beside.
* The data sets of ``tests/test_quality.py`` (digits, breast cancer,
  diabetes; 5-fold CV as there): mean CV score, mean epochs, and the fit time
  of the 5 folds, median over repeats run alternately (old, new, old, ...).

* The same data sets with the default ``early_stopping="auto"`` (held-out
  data monitored from 500 samples: digits only) and ``epochs="auto"``
  against the former ``early_stopping=False, epochs=200``.

Run: ``python benchmarks/bench_stopping.py [--quick]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import statistics
from contextlib import contextmanager

import common
import numpy as np


def old_stop(self, logs):
    """skdnn's ``TrainingRun._stop`` before ``"auto"``: scikit-learn MLP's rule;
    a non-int ``n_iter_no_change`` counts as the old default, 10."""
    from skdnn._keras_names import ADAPTIVE_MINIMUM_LEARNING_RATE

    config = self.config
    n_iter_no_change = config.n_iter_no_change
    if not isinstance(n_iter_no_change, int):
        n_iter_no_change = 10
    score = logs["val_loss" if config.early_stopping else "loss"]
    self._no_improvement = self._no_improvement + 1 if score > self._best - config.tol else 0
    if score < self._best:
        self._best = score
        if config.early_stopping:
            self._best_weights = self.trainer.get_weights()
    if self._no_improvement <= n_iter_no_change:
        return False
    learning_rate = self.trainer.learning_rate
    if config.adaptive and float(learning_rate) > ADAPTIVE_MINIMUM_LEARNING_RATE:
        learning_rate.assign(float(learning_rate) / 5.0)
        self._no_improvement = 0
        return False
    self.result.converged = True
    return True


@contextmanager
def rule(name):
    """Train with the ``"old"`` or the ``"new"`` (the package's) rule."""
    from skdnn._training.loop import TrainingRun

    new_stop = TrainingRun._stop
    if name == "old":
        TrainingRun._stop = old_stop
    try:
        yield
    finally:
        TrainingRun._stop = new_stop


def regression(scales):
    from sklearn.datasets import make_regression
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor

    from skdnn import DNNRegressor

    X, y = make_regression(n_samples=200, n_features=1, bias=5, noise=5, random_state=123)
    rows, worst = [], 0.0
    for scale in scales:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y * scale, test_size=0.2, random_state=123
        )
        least_squares = mean_squared_error(
            y_test, LinearRegression().fit(X_train, y_train).predict(X_test)
        )
        cells = [f"y * {scale:g}"]
        for name in ("old", "new"):
            with rule(name):
                est = DNNRegressor(random_state=0).fit(X_train, y_train)
            ratio = mean_squared_error(y_test, est.predict(X_test)) / least_squares
            cells += [str(est.n_iter_), f"{ratio:.2f}"]
            if name == "new":
                worst = max(worst, ratio)
        mlp = MLPRegressor(random_state=0).fit(X_train, y_train)
        cells += [
            str(mlp.n_iter_),
            f"{mean_squared_error(y_test, mlp.predict(X_test)) / least_squares:.2f}",
        ]
        rows.append(cells)
    common.print_aligned(
        [
            "target",
            "old epochs",
            "old MSE/LS",
            "new epochs",
            "new MSE/LS",
            "MLP epochs",
            "MLP MSE/LS",
        ],
        rows,
        right=range(1, 7),
    )
    return worst


def quality_workloads():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skdnn import DNNClassifier, DNNRegressor

    X, y = load_digits(return_X_y=True)
    yield "digits (accuracy)", lambda: DNNClassifier(random_state=0), X / 16.0, y
    X, y = load_breast_cancer(return_X_y=True)
    yield (
        "breast cancer (accuracy)",
        lambda: make_pipeline(StandardScaler(), DNNClassifier(random_state=0)),
        X,
        y,
    )
    X, y = load_diabetes(return_X_y=True)
    yield (
        "diabetes (R²)",
        lambda: make_pipeline(StandardScaler(), DNNRegressor(random_state=0)),
        X,
        y,
    )


def quality(repeats):
    from sklearn.model_selection import cross_validate

    rows, worst_time, worst_score = [], 0.0, 0.0
    for label, make, X, y in quality_workloads():
        times = {"old": [], "new": []}
        outcome = {}
        for _ in range(repeats):
            for name in ("old", "new"):
                with rule(name):
                    cv = cross_validate(make(), X, y, cv=5, return_estimator=True)
                times[name].append(float(np.sum(cv["fit_time"])))
                epochs = [
                    getattr(est, "steps", [(None, est)])[-1][1].n_iter_ for est in cv["estimator"]
                ]
                outcome[name] = (cv["test_score"].mean(), np.mean(epochs))
        medians = {name: statistics.median(values) for name, values in times.items()}
        cells = [label]
        for name in ("old", "new"):
            score, epochs = outcome[name]
            cells += [f"{score:.4f}", f"{epochs:.0f}", common.format_seconds(medians[name])]
        cells.append(f"{medians['new'] / medians['old']:.2f}x")
        rows.append(cells)
        worst_time = max(worst_time, medians["new"] / medians["old"])
        worst_score = min(worst_score, outcome["new"][0] - outcome["old"][0])
    common.print_aligned(
        [
            "data set",
            "old score",
            "old epochs",
            "old fit",
            "new score",
            "new epochs",
            "new fit",
            "new/old fit",
        ],
        rows,
        right=range(1, 8),
    )
    return worst_time, worst_score


def held_out_default(repeats):
    """The default ``early_stopping="auto"``, ``epochs="auto"`` against the
    former ``early_stopping=False, epochs=200`` on the quality data sets
    (under the default rule): mean CV score, epochs, fit time."""
    from sklearn.model_selection import cross_validate

    def network(estimator):
        return getattr(estimator, "steps", [(None, estimator)])[-1][1]

    rows, worst_score = [], 0.0
    settings = {"former": dict(early_stopping=False, epochs=200), "default": {}}
    for label, make, X, y in quality_workloads():
        times = {name: [] for name in settings}
        outcome = {}
        for _ in range(repeats):
            for name, params in settings.items():
                estimator = make()
                network(estimator).set_params(**params)
                cv = cross_validate(estimator, X, y, cv=5, return_estimator=True)
                times[name].append(float(np.sum(cv["fit_time"])))
                epochs = [network(est).n_iter_ for est in cv["estimator"]]
                outcome[name] = (cv["test_score"].mean(), np.mean(epochs))
        cells = [label]
        for name in settings:
            score, epochs = outcome[name]
            cells += [
                f"{score:.4f}",
                f"{epochs:.0f}",
                common.format_seconds(statistics.median(times[name])),
            ]
        rows.append(cells)
        worst_score = min(worst_score, outcome["default"][0] - outcome["former"][0])
    common.print_aligned(
        [
            "data set",
            "former score",
            "former epochs",
            "former fit",
            "default score",
            "default epochs",
            "default fit",
        ],
        rows,
        right=range(1, 7),
    )
    return worst_score


def main(argv=None):
    args = common.parse_args(__doc__.splitlines()[0], argv)
    common.start(args, "Stopping rule: scikit-learn MLP's (old) vs the default (new)")
    from skdnn import DNNRegressor

    print(
        f"default n_iter_no_change={DNNRegressor().n_iter_no_change!r}, "
        f"tol={DNNRegressor().tol!r}, epochs={DNNRegressor().epochs!r}"
    )

    common.print_section("Tutorial regression: epochs run and test MSE / least squares")
    worst_ratio = regression(common.pick(args, full=(1, 1000, 0.001), quick=(1,)))

    repeats = common.pick(args, full=3, quick=1)
    common.print_section(
        f"tests/test_quality.py data sets, 5-fold CV "
        f"(fit time of the 5 folds, median of {repeats}, alternating)"
    )
    worst_time, worst_score = quality(repeats)

    common.print_section(
        "The same data sets: early_stopping='auto' and epochs='auto' (the default) against "
        "the former early_stopping=False, epochs=200"
    )
    worst_default = held_out_default(repeats)

    common.print_section("Goals")
    common.print_goal(
        "tutorial regression within 15% of least squares at every scale",
        worst_ratio <= 1.15,
        f"worst {worst_ratio:.2f}x",
    )
    common.print_goal(
        "quality scores not worse", worst_score >= 0.0, f"worst change {worst_score:+.4f}"
    )
    common.print_goal(
        "fit time at most 1.5x the old rule's", worst_time <= 1.5, f"worst {worst_time:.2f}x"
    )
    common.print_goal(
        "quality scores not worse with early stopping by default",
        worst_default >= -0.005,
        f"worst change {worst_default:+.4f}",
    )


if __name__ == "__main__":
    main()
