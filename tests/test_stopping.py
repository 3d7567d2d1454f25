"""The stopping rule: ``TrainingRun._stop`` driven with synthetic loss curves
(no network), and its effect on a real fit."""

import warnings

import numpy as np
import pytest
from conftest import FAST
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from skdnn import DNNClassifier, DNNRegressor
from skdnn._base import AUTO_EARLY_STOPPING_MIN_SAMPLES, AUTO_EPOCHS
from skdnn._keras_names import ADAPTIVE_MINIMUM_LEARNING_RATE
from skdnn._training.loop import LoopConfig, TrainingRun


class _Rate:
    """Stands for the optimizer's learning-rate variable."""

    def __init__(self, value):
        self.value = value

    def __float__(self):
        return float(self.value)

    def assign(self, value):
        self.value = value


class _FakeTrainer:
    """What ``_stop`` uses of a Trainer; its "weights" are the epoch number."""

    def __init__(self):
        self.learning_rate = _Rate(1e-3)
        self.epoch = 0

    def get_weights(self):
        return self.epoch


def _config(**changes):
    settings = {
        "epochs": 1000,
        "batch_size": 10,
        "shuffle": False,
        "stopping_rule": True,
        "early_stopping": False,
        "tol": 1e-4,
        "n_iter_no_change": "auto",
        "adaptive": False,
        "alpha": 0.0,
        "verbose": 0,
        "learning_rate": 1e-3,
    }
    return LoopConfig(**{**settings, **changes})


def _drive(losses, **changes):
    """Feed ``losses`` to ``_stop`` one epoch at a time, as ``_epoch`` does.

    Returns the number of epochs run (the epoch at which the rule stopped, or
    all of them) and the run.
    """
    config = _config(**changes)
    trainer = _FakeTrainer()
    run = TrainingRun(
        trainer,
        config,
        data=None,
        train_idx=np.arange(10),
        validation=None,
        scaling=(1.0, 0.0),
        shuffle_rng=None,
        history={},
        first_epoch=0,
    )
    for epoch, loss in enumerate(losses, start=1):
        logs = {"loss": loss, "val_loss": loss}
        for key, value in logs.items():
            run.result.history.setdefault(key, []).append(value)
        run.result.n_epochs += 1
        trainer.epoch = epoch
        if run._stop(logs):
            return epoch, run
    return len(losses), run


def _sklearn_stop_epoch(losses, n_iter_no_change, tol):
    """scikit-learn MLP's rule (``_update_no_improvement_count``), written out."""
    best, count = np.inf, 0
    for epoch, loss in enumerate(losses, start=1):
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > n_iter_no_change:
            return epoch
    return len(losses)


def _bumpy_curve():
    """A falling loss with an optimizer's overshoot, shaped like the tutorial
    regression's: lowest at epoch 45, up for 13 epochs, back below the
    lowest at epoch 71, then falling on by 2e-4 per epoch."""
    down = np.geomspace(5.0, 0.0528, 45)
    up = 0.0528 + 0.0008 * np.arange(1, 14)
    back = np.linspace(up[-1], 0.0510, 16)[1:]
    on = 0.0510 - 2e-4 * np.arange(1, 60)
    return np.concatenate([down, up, back, on])


def test_auto_rides_out_a_bump_in_a_falling_loss():
    losses = _bumpy_curve()
    assert np.argmin(losses[:70]) + 1 == 45 and losses[70] < losses[44] < losses[55]
    # scikit-learn's rule ends training in the bump...
    assert _drive(losses, n_iter_no_change=10)[0] == 56
    # ...the default rule trains on, and the loss was indeed still falling.
    n_epochs, run = _drive(losses)
    assert n_epochs == len(losses)
    assert not run.result.converged


def test_auto_waits_while_the_loss_falls():
    # After 30 epochs of descent and 16 without a new best, the patience
    # (max(10, 30 / 2) = 15) is spent, but the loss is falling again: no stop.
    losses = np.concatenate([np.linspace(1.0, 0.5, 30), np.linspace(0.6, 0.505, 16)])
    assert _drive(losses)[0] == len(losses)
    # The same epochs with the last one flat stop at once.
    assert _drive(np.append(losses, losses[-1]))[0] == len(losses) + 1


@pytest.mark.parametrize("improved_until", [1, 2, 40, 100])
def test_auto_stops_a_flat_loss_after_the_documented_patience(improved_until):
    # The loss improves until epoch `improved_until`, then stays flat.
    descent = 1.0 + 0.01 * np.arange(improved_until)[::-1]
    n_epochs, run = _drive(np.concatenate([descent, np.ones(300)]))
    patience = max(LoopConfig.AUTO_MIN_PATIENCE, LoopConfig.AUTO_PATIENCE_SHARE * improved_until)
    # More than `patience` epochs without improvement, then the stop.
    assert n_epochs == improved_until + int(patience) + 1
    assert run.result.converged


@pytest.mark.parametrize("n_iter_no_change", [1, 3, 10, 30])
@pytest.mark.parametrize("tol", [0.0, 1e-4, 1e-2])
def test_int_n_iter_no_change_is_scikit_learns_rule(n_iter_no_change, tol):
    rng = np.random.RandomState(n_iter_no_change)
    curves = [
        _bumpy_curve(),
        np.geomspace(1.0, 0.1, 200) + 0.01 * rng.rand(200),  # noisy descent
        1.0 - 0.5 * tol * np.arange(100),  # falls, but by less than tol
    ]
    for losses in curves:
        expected = _sklearn_stop_epoch(losses, n_iter_no_change, tol)
        n_epochs, run = _drive(losses, n_iter_no_change=n_iter_no_change, tol=tol)
        assert n_epochs == expected
        assert run.result.converged == (expected < len(losses))


@pytest.mark.parametrize("n_iter_no_change", ["auto", 10])
def test_tol_measures_improvement_on_the_best(n_iter_no_change):
    # Falling by less than tol each epoch is no improvement, for both rules.
    creeping = 1.0 - 5e-5 * np.arange(100)
    assert _drive(creeping, n_iter_no_change=n_iter_no_change)[0] == 12
    assert _drive(creeping, n_iter_no_change=n_iter_no_change, tol=0.0)[0] == len(creeping)


@pytest.mark.parametrize("n_iter_no_change", ["auto", 3])
def test_adaptive_learning_rate_divides_by_five_instead_of_stopping(n_iter_no_change):
    flat = np.ones(1000)
    patience = 10 if n_iter_no_change == "auto" else n_iter_no_change
    n_epochs, run = _drive(flat[: patience + 2], n_iter_no_change=n_iter_no_change, adaptive=True)
    assert n_epochs == patience + 2 and not run.result.converged
    assert float(run.trainer.learning_rate) == pytest.approx(1e-3 / 5)

    # Training stops when the rule acts once the rate is below the minimum.
    n_epochs, run = _drive(flat, n_iter_no_change=n_iter_no_change, adaptive=True)
    assert ADAPTIVE_MINIMUM_LEARNING_RATE == 1e-6
    assert float(run.trainer.learning_rate) == pytest.approx(1e-3 / 5**5)
    assert run.result.converged and n_epochs < len(flat)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_none_runs_every_epoch_and_counts_as_converged(early_stopping):
    losses = np.concatenate([np.linspace(1.0, 0.2, 20), np.ones(80)])
    n_epochs, run = _drive(losses, n_iter_no_change=None, early_stopping=early_stopping)
    assert n_epochs == len(losses)
    assert run.result.converged
    # With early stopping, the best epoch's weights are kept for restoring.
    assert run._best_weights == (20 if early_stopping else None)


@pytest.mark.parametrize("Estimator", [DNNClassifier, DNNRegressor])
def test_n_iter_no_change_none_runs_exactly_epochs_without_warning(Estimator):
    X, y = make_regression(n_samples=60, n_features=3, random_state=0)
    if Estimator is DNNClassifier:
        y = (y > 0).astype(int)
    est = Estimator(**{**FAST, "epochs": 8}, n_iter_no_change=None, tol=1e9)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    assert est.n_iter_ == 8 == len(est.history_["loss"])


@pytest.mark.quality
@pytest.mark.parametrize("scale", [1.0, 1000.0, 0.001])
def test_tutorial_regression_reaches_least_squares(scale):
    # The tutorial workflow: with scikit-learn's rule (n_iter_no_change=10)
    # an overshoot of Adam ends training at epoch 56, at 1.85x the least
    # squares error; the default rule trains through it.
    X, y = make_regression(n_samples=200, n_features=1, bias=5, noise=5, random_state=123)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y * scale, test_size=0.2, random_state=123
    )
    least_squares = mean_squared_error(
        y_test, LinearRegression().fit(X_train, y_train).predict(X_test)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # all 200 epochs may run
        est = DNNRegressor(random_state=0).fit(X_train, y_train)
    assert mean_squared_error(y_test, est.predict(X_test)) <= 1.15 * least_squares


# early_stopping="auto" and epochs="auto" ----------------------------------
def _classification(n_samples, random_state=0):
    X, y = make_regression(n_samples=n_samples, n_features=4, random_state=random_state)
    return X, (y > 0).astype(int)


@pytest.mark.parametrize("n_samples", [AUTO_EARLY_STOPPING_MIN_SAMPLES - 1, 1200])
def test_auto_early_stopping_holds_out_data_from_the_documented_size(n_samples):
    X, y = _classification(n_samples)
    est = DNNClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    held_out = n_samples >= AUTO_EARLY_STOPPING_MIN_SAMPLES
    assert ("val_loss" in est.history_) is held_out
    assert (est.best_validation_score_ is not None) is held_out
    assert (est.best_loss_ is None) is held_out


def test_auto_early_stopping_monitors_given_validation_data():
    X, y = _classification(100)
    est = DNNClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X[:80], y[:80], X_val=X[80:], y_val=y[80:])
    # Nothing held out of X: the given data are monitored.
    assert est.best_validation_score_ == est.score(X[80:], y[80:])
    off = DNNClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        off.fit(X[:80], y[:80], X_val=X[80:], y_val=y[80:])
    assert off.best_validation_score_ is None and "val_loss" in off.history_


def test_auto_early_stopping_holds_nothing_out_when_no_stratified_split_exists():
    X, y = _classification(AUTO_EARLY_STOPPING_MIN_SAMPLES)
    y[0] = 2  # a class of one sample
    est = DNNClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert "val_loss" not in est.history_
    with pytest.raises(ValueError, match="early_stopping=True could not hold out"):
        est.set_params(early_stopping=True).fit(X, y)


@pytest.mark.parametrize(
    "early_stopping, n_iter_no_change, expected",
    [("auto", "auto", AUTO_EPOCHS[True]), (False, "auto", AUTO_EPOCHS[False]),
     (True, None, AUTO_EPOCHS[False]), (True, 10, AUTO_EPOCHS[True])],
)  # fmt: skip
def test_auto_epochs_is_the_documented_cap(early_stopping, n_iter_no_change, expected):
    est = DNNClassifier(early_stopping=early_stopping, n_iter_no_change=n_iter_no_change)
    held_out = early_stopping is not False
    assert est._loop_config(100, False, held_out).epochs == expected
    assert est.set_params(epochs=7)._loop_config(100, False, held_out).epochs == 7


def test_default_fit_stops_on_held_out_data_without_a_warning():
    # Noisy labels: the training loss keeps falling, the validation loss
    # turns; the default stops there, restores the best epoch and is silent.
    X, y = make_classification(
        n_samples=1000, n_features=20, n_informative=4, flip_y=0.3, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = DNNClassifier(random_state=0).fit(X, y)
    assert est.n_iter_ < AUTO_EPOCHS[True]
    val_loss = est.history_["val_loss"]
    assert np.argmin(val_loss) < len(val_loss) - 10
    assert est.history_["loss"][-1] < est.history_["loss"][int(np.argmin(val_loss))]


def test_convergence_advice_points_to_held_out_data_when_the_training_loss_is_watched():
    X, y = _classification(60)
    with pytest.warns(ConvergenceWarning, match="set early_stopping=True to stop when held-out"):
        DNNClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="validation loss was still improving") as caught:
        DNNClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0, early_stopping=True).fit(
            X, y
        )
    assert "overfitting" not in str(caught[0].message)
