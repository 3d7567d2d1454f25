"""scikit-learn's callbacks (``sklearn.callback``, scikit-learn >= 1.9) in skdnn fits.

Each call of ``fit`` or ``partial_fit`` is one fit task of the estimator, and
each of its epochs one subtask, named ``"epoch"``, with task ids counting the
epochs of that call from 0. :class:`FitTask` opens the fit task on the
estimator whose method was called and closes it once the fit is committed;
:class:`EpochObserver` is the observer that :class:`~skdnn._training.loop.TrainingRun`
tells of each epoch, and it calls the callbacks' hooks for it.

An epoch's hooks receive, when they ask for ``fitted_estimator``, a
temporary copy of the estimator that predicts with the weights of that
moment: the estimator itself changes only when the whole fit succeeds. The
copy (and the copy of the network it holds) is made only when a callback
asks for it, and no observer at all is made when no callback is set, so
fits without callbacks run as before.

The callbacks' ``teardown`` (and the removal of the attributes that the fit
task sets on the estimator) is left to ``fit``'s and ``partial_fit``'s
``_fit_context``, which wraps them in the same ``try``/``finally`` as
``sklearn.callback.with_callbacks``, as for scikit-learn's own estimators;
decorating them with ``with_callbacks`` as well would only add a frame,
which would shift the ``stacklevel`` of the warnings they raise.

With scikit-learn < 1.9 there is no ``sklearn.callback``: the estimators
then have no ``set_callbacks``, and :class:`FitTask` does nothing.
"""

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:
        """Stands in for scikit-learn's mixin, which adds ``set_callbacks``."""


class FitTask:
    """The callback context of one call of ``fit`` or ``partial_fit``.

    Created at the start of the call, before the estimator's working copy,
    so that the attributes scikit-learn sets on the estimator for the fit
    (``_callback_fit_ctx``, ``_skl_callbacks_to_teardown``) are the same on
    both; ``_fit_context`` removes them when the call ends, whether it
    succeeded or not.

    Parameters
    ----------
    estimator : BaseDNN
        The estimator whose ``fit`` or ``partial_fit`` was called.
    n_epochs : int
        The most epochs this call may train: the fit task's subtasks.
    X : array-like
        The training samples as passed to the call.
    y : array-like
        The training targets as passed to the call.
    sample_weight : array-like or None
        The sample weights as passed to the call.

    Attributes
    ----------
    context : sklearn.callback.CallbackContext or None
        The fit task's context; None without ``sklearn.callback``.
    """

    def __init__(self, estimator, n_epochs, X, y, sample_weight):
        self.estimator = estimator
        # The data as the user passed it: ScoringMonitor scores the fitted
        # estimator on it, and the estimator validates it as in ``score``.
        self.data = {
            "X": X,
            "y": y,
            "metadata": None if sample_weight is None else {"sample_weight": sample_weight},
        }
        self.context = None
        self._epochs = None
        if hasattr(estimator, "_init_callback_context"):
            # Always, even without callbacks: a meta-estimator's task tree is
            # joined to this one through it.
            self.context = estimator._init_callback_context(max_subtasks=n_epochs)
            self.context.call_on_fit_task_begin(estimator=estimator, **self.data)

    def observer(self, work, plan):
        """Return the observer of this call's epochs, or None without callbacks.

        Parameters
        ----------
        work : BaseDNN
            The working copy that ``_prepare`` validated the data on.
        plan : _FitPlan
            What the call trains from.

        Returns
        -------
        observer : EpochObserver or None
        """
        if self.context is None or not getattr(self.estimator, "_skl_callbacks", None):
            return None
        self._epochs = EpochObserver(self, work, plan)
        return self._epochs

    def end(self):
        """End the fit task, once its result is committed to the estimator."""
        if self.context is None:
            return
        if self._epochs is not None:
            self._epochs.close()
        # The estimator is fitted now: the callbacks get a copy of it.
        self.context.call_on_fit_task_end(
            estimator=self.estimator, **self.data, reconstruction_attributes={}
        )


class EpochObserver:
    """Calls the callbacks' hooks for each epoch of a :class:`TrainingRun`.

    Parameters
    ----------
    task : FitTask
        The fit task whose subtasks the epochs are.
    work : BaseDNN
        The working copy that ``_prepare`` validated the data on.
    plan : _FitPlan
        What the call trains from.
    """

    def __init__(self, task, work, plan):
        self.task = task
        self.work = work
        self.plan = plan
        self._n_iter = work.n_iter_ if plan.warm else 0
        self._history = {
            key: list(values) for key, values in (work.history_ if plan.warm else {}).items()
        }
        # The weights "now": the starting ones until an epoch ends, then the
        # trainer's (read lazily: only when a callback asks for them).
        self._state = lambda: plan.start
        self._context = None  # the running epoch's

    def epoch_begin(self, epoch):
        """Begin the epoch's subtask.

        Parameters
        ----------
        epoch : int
            The epoch's number, counting the epochs of earlier calls.
        """
        self._context = self.task.context.subcontext(task_name="epoch")
        self._context.call_on_fit_task_begin(
            estimator=self.task.estimator,
            **self.task.data,
            reconstruction_attributes=self._fitted_attributes,
        )

    def epoch_end(self, epoch, logs, trainer):
        """End the epoch's subtask; return whether a callback asks to stop.

        Parameters
        ----------
        epoch : int
            The epoch's number, counting the epochs of earlier calls.
        logs : dict of str to float
            The epoch's loss and metrics (and their ``val_`` versions).
        trainer : Trainer
            The trainer, holding the weights at the end of the epoch.

        Returns
        -------
        stop : bool
            True when a callback's ``on_fit_task_end`` returned True: training
            then ends as when the stopping rule ends it.
        """
        self._n_iter += 1
        for key, value in logs.items():
            self._history.setdefault(key, []).append(value)
        self._state = trainer.state
        context, self._context = self._context, None
        return context.call_on_fit_task_end(
            estimator=self.task.estimator,
            **self.task.data,
            reconstruction_attributes=self._fitted_attributes,
        )

    def close(self):
        """End an epoch that never ended (a KeyboardInterrupt), as an empty task.

        Every ``on_fit_task_begin`` then has its ``on_fit_task_end``, as in
        scikit-learn's ``LogisticRegression``.
        """
        self._state = None  # the trainer goes back to its pool
        if self._context is not None:
            context, self._context = self._context, None
            context.call_on_fit_task_end(estimator=self.task.estimator)

    def _fitted_attributes(self):
        """The attributes that make a copy of the estimator fitted "now".

        Those that ``_commit`` sets, for the weights of this moment, in a copy
        of the network; ``best_loss_`` and ``best_validation_score_`` are
        known only when the fit ends.
        """
        import keras

        work, plan = self.work, self.plan
        model = keras.models.clone_model(plan.model)
        plan.folding.fold(self._state()).assign_weights_to(model)
        history = {key: list(values) for key, values in self._history.items()}
        attributes = work._fitted_attributes(plan, model, self._n_iter, history)
        if "feature_names_in_" in vars(work) or "feature_names_in_" in vars(self.task.estimator):
            # None, when a refit on an array follows a fit on a DataFrame:
            # the copy must not check the old names.
            attributes["feature_names_in_"] = getattr(work, "feature_names_in_", None)
        return attributes
