"""scikit-learn's callbacks (``sklearn.callback``, scikit-learn >= 1.9).

Each fit or partial_fit is one fit task and each epoch one of its subtasks:
ProgressBar advances once per epoch, also nested under GridSearchCV and a
Pipeline; ScoringMonitor logs one row per epoch, scored with that epoch's
weights; a callback may stop training; a failed fit still tears the
callbacks down and leaves the estimator as it was.
"""

import copy
import importlib.util
import pickle
import re
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn.callback")

from conftest import ESTIMATORS, assert_reproduced, predictions, raising_callback  # noqa: E402
from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.callback import (  # noqa: E402
    ProgressBar,
    ScoringMonitor,
    _progressbar,  # noqa: E402
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import skdnn._sklearn_callbacks as sklearn_callbacks  # noqa: E402
from skdnn import DNNClassifier  # noqa: E402
from skdnn._persistence import FITTED_STATE, fitted_state  # noqa: E402

EPOCHS = 3
PARAMS = dict(hidden_layer_sizes=(8,), epochs=EPOCHS, learning_rate=0.01, random_state=0)
TRANSIENT = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Recorder:
    """A FitCallback recording its hooks' calls, with what they received."""

    def __init__(self, stop_after_epoch=None):
        self.stop_after_epoch = stop_after_epoch
        self.calls = []
        self.begin_contexts = []
        self.epoch_estimators = []
        self.estimator_fitted_during_fit = False

    def __getstate__(self):
        # The records hold estimators that hold this callback: not pickled.
        return {"stop_after_epoch": self.stop_after_epoch, "calls": []}

    def setup(self, estimator, context):
        self.calls.append(("setup", context.task_name, context.task_id))

    def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
        self.calls.append(("begin", context.task_name, context.task_id))
        self.begin_contexts.append(context)

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.calls.append(("end", context.task_name, context.task_id))
        if context.task_name == "epoch":
            # The estimator itself changes only when the fit is committed.
            self.estimator_fitted_during_fit |= "model_" in vars(estimator)
            self.epoch_estimators.append(fitted_estimator)
        return context.task_name == "epoch" and context.task_id == self.stop_after_epoch

    def teardown(self, estimator, context):
        self.calls.append(("teardown", context.task_name, context.task_id))


def expected_calls(n_epochs):
    epochs = [
        call for i in range(n_epochs) for call in (("begin", "epoch", i), ("end", "epoch", i))
    ]
    return [
        ("setup", "fit", 0),
        ("begin", "fit", 0),
        *epochs,
        ("end", "fit", 0),
        ("teardown", "fit", 0),
    ]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_progress_bar_advances_once_per_epoch(Estimator, data_for, capsys, monkeypatch):
    sent = []
    send = _progressbar.send
    monkeypatch.setattr(
        _progressbar,
        "send",
        lambda handle, message: (sent.append(dict(message)), send(handle, message)),
    )

    Estimator(**PARAMS).set_callbacks(ProgressBar()).fit(*data_for(Estimator))

    out = capsys.readouterr().out
    assert re.search(rf"{Estimator.__name__} - fit .* 100%", out)
    begins = [m for m in sent if m["event"] == "begin"]
    assert [(m["task_name"], m["max_subtasks"]) for m in begins] == [("fit", EPOCHS)]
    assert [m["path"] for m in sent if m["event"] == "end"] == [
        *([0, epoch] for epoch in range(EPOCHS)),
        [0],
    ]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_progress_bar_nests_under_grid_search_and_pipeline(Estimator, data_for, capsys):
    X, y = data_for(Estimator)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), Estimator(**PARAMS)),
        {f"{Estimator.__name__.lower()}__alpha": [1e-4, 1e-3]},
        cv=2,
    ).set_callbacks(ProgressBar(max_propagation_depth=None))
    search.fit(X, y)

    out = capsys.readouterr().out
    nested = rf"Pipeline - fit-final-estimator \| {Estimator.__name__} - fit"
    # 2 candidates x 2 splits, and the refit.
    assert len(re.findall(nested, out)) == 5
    assert re.search(r"GridSearchCV - candidate-split-evaluation \| Pipeline - fit", out)
    assert not re.search(r"\b[0-9]{1,2}%", out)  # every bar complete
    final = search.best_estimator_[-1]
    assert not [name for name in TRANSIENT + ("_skl_callbacks",) if name in vars(final)]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_scoring_monitor_logs_each_epoch_score(Estimator, data_for):
    X, y = data_for(Estimator)
    scoring = "accuracy" if Estimator is DNNClassifier else "r2"
    monitor = ScoringMonitor(scoring=scoring)
    est = Estimator(**PARAMS).set_callbacks(monitor).fit(X, y)

    rows = monitor.get_logs().data
    epochs = [row for row in rows if row["task_name"] == "epoch"]
    assert [row["task_id_path"] for row in epochs] == [(0, i) for i in range(EPOCHS)]
    (root,) = [row for row in rows if row["task_name"] == "fit"]
    # Each row scores that epoch's weights: those of a fit stopped there.
    for n_epochs, row in enumerate(epochs, start=1):
        fitted_there = Estimator(**{**PARAMS, "epochs": n_epochs}).fit(X, y)
        np.testing.assert_allclose(row[scoring], fitted_there.score(X, y), rtol=1e-6)
    np.testing.assert_allclose(root[scoring], est.score(X, y), rtol=1e-6)
    np.testing.assert_allclose(epochs[-1][scoring], root[scoring], rtol=1e-6)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_commit_persistence_and_callbacks_read_one_list_of_fitted_attributes(Estimator, data_for):
    recorder = Recorder()
    est = Estimator(**PARAMS).set_callbacks(recorder).fit(*data_for(Estimator))
    declared = Estimator._fitted_state
    assert FITTED_STATE[Estimator.__name__] == declared
    # What is saved and pickled is what was committed...
    encoders = {"_target_encoder", "_feature_encoder"}
    assert set(fitted_state(est)) == {*declared, *encoders}
    # ...and what each epoch's copy is fitted with, callbacks_ aside.
    committed = set(vars(est)) - set(vars(Estimator(**PARAMS).set_callbacks(recorder)))
    assert committed == {*declared, *encoders, "model_", "callbacks_"}
    for epoch_copy in recorder.epoch_estimators:
        assert set(vars(epoch_copy)) - set(TRANSIENT) == set(vars(est)) - {"callbacks_"}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_each_epoch_is_a_subtask_of_the_fit_task(Estimator, data_for):
    X, y = data_for(Estimator)
    recorder = Recorder()
    est = Estimator(**PARAMS).set_callbacks(recorder).fit(X, y)

    assert recorder.calls == expected_calls(EPOCHS)
    root = recorder.begin_contexts[0]
    assert (root.estimator_name, root.max_subtasks) == (Estimator.__name__, EPOCHS)
    assert all(ctx.parent is root for ctx in recorder.begin_contexts[1:])
    assert not recorder.estimator_fitted_during_fit
    # Each epoch's fitted_estimator predicts with that epoch's weights;
    # the last one's are the fitted estimator's.
    assert [e.n_iter_ for e in recorder.epoch_estimators] == list(range(1, EPOCHS + 1))
    assert [len(e.loss_curve_) for e in recorder.epoch_estimators] == [1, 2, 3]
    np.testing.assert_array_equal(
        predictions(recorder.epoch_estimators[-1], X), predictions(est, X)
    )
    assert recorder.epoch_estimators[0].model_ is not est.model_
    assert not [name for name in TRANSIENT if name in vars(est)]

    # partial_fit: one fit task of one epoch per call.
    recorder.calls.clear()
    extra = {"classes": np.unique(y)} if is_classifier(est) else {}
    est.partial_fit(X, y, **extra)
    assert recorder.calls == expected_calls(1)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_callback_can_stop_training(Estimator, data_for):
    recorder = Recorder(stop_after_epoch=1)
    est = Estimator(**{**PARAMS, "epochs": 10}).set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop, not a cap
        est.fit(*data_for(Estimator))
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == 2
    assert recorder.calls == expected_calls(2)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_failed_fit_tears_the_callbacks_down(Estimator, data_for):
    X, y = data_for(Estimator)
    recorder = Recorder()
    est = Estimator(**PARAMS, callbacks=[raising_callback(epoch=1)]).set_callbacks(recorder)
    before = dict(vars(est))
    with pytest.raises(RuntimeError, match="boom"):
        est.fit(X, y)
    assert vars(est) == before
    assert recorder.calls[0] == ("setup", "fit", 0)
    assert recorder.calls[-1] == ("teardown", "fit", 0)
    assert ("end", "fit", 0) not in recorder.calls


@pytest.mark.filterwarnings("ignore:Training was interrupted")
def test_an_interrupted_epoch_still_ends(data_for):
    # A KeyboardInterrupt keeps the epochs done: the fit task ends, and so
    # does the epoch it interrupted (as an empty task).
    recorder = Recorder()
    est = DNNClassifier(**PARAMS, callbacks=[raising_callback(epoch=1, error=KeyboardInterrupt)])
    est.set_callbacks(recorder).fit(*data_for(DNNClassifier))
    assert est.n_iter_ == 2
    assert recorder.calls == expected_calls(2)
    assert recorder.epoch_estimators[-1] is None


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fits_without_sklearn_callbacks_are_unchanged(Estimator, data_for, capsys, monkeypatch):
    X, y = data_for(Estimator)
    with_callbacks = (
        Estimator(**PARAMS)
        .set_callbacks(Recorder(), ScoringMonitor(scoring="neg_mean_squared_error"))
        .fit(X, y)
    )
    capsys.readouterr()

    def no_observer(*args):
        raise AssertionError("an epoch observer was made for a fit without callbacks")

    monkeypatch.setattr(sklearn_callbacks, "EpochObserver", no_observer)
    without = Estimator(**PARAMS).fit(X, y)
    assert capsys.readouterr().out == ""
    assert_reproduced(predictions(without, X), predictions(with_callbacks, X))
    assert not [name for name in (*TRANSIENT, "_skl_callbacks") if name in vars(without)]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_get_params_copy_and_pickle_with_callbacks(Estimator, data_for):
    recorder = Recorder()
    est = Estimator(**PARAMS).set_callbacks(recorder)
    assert est.get_params() == Estimator(**PARAMS).get_params()
    # As for scikit-learn's estimators: clones share the callbacks...
    assert clone(est)._skl_callbacks == [recorder]
    est.fit(*data_for(Estimator))
    # ... and pickles keep them.
    restored = pickle.loads(pickle.dumps(est))
    assert [type(c) for c in restored._skl_callbacks] == [Recorder]
    # A shallow copy shares the network instead of saving and loading it.
    assert copy.copy(est).model_ is est.model_
    assert copy.deepcopy(est).model_ is not est.model_


def test_without_sklearn_callback_there_is_no_set_callbacks(monkeypatch):
    """scikit-learn < 1.9: the module falls back to doing nothing."""
    monkeypatch.setitem(sys.modules, "sklearn.callback", None)
    spec = importlib.util.spec_from_file_location(
        "skdnn._sklearn_callbacks_fallback", sklearn_callbacks.__file__
    )
    fallback = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fallback)

    assert not hasattr(fallback.CallbackSupportMixin, "set_callbacks")

    class Estimator(fallback.CallbackSupportMixin):
        pass

    task = fallback.FitTask(Estimator(), EPOCHS, [[0.0]], [0], None)
    assert task.context is None
    assert task.observer(work=None, plan=None) is None
    task.end()
    assert hasattr(DNNClassifier, "set_callbacks")
