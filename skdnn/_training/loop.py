"""The epochs of one call of ``fit`` or ``partial_fit``.

:class:`TrainingRun` drives a :class:`~skdnn._training.trainer.Trainer` epoch by
epoch from a small :class:`LoopConfig`: it applies scikit-learn MLP's
stopping rule (and its ``"adaptive"`` learning rate), keeps the best weights
for early stopping, and calls Keras callbacks. It never touches an
estimator: what it returns is committed by the estimator only when the whole
call succeeds.
"""

import dataclasses

import numpy as np

from .._exceptions import TrainingDivergedError
from .._keras_names import ADAPTIVE_MINIMUM_LEARNING_RATE
from .._network.inference import forward
from .._target import NO_FOLDING
from .trainer import NetworkState


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """How to run the epochs of one call.

    Parameters
    ----------
    epochs : int
        Maximum number of epochs in this call.
    batch_size : int
        Samples per gradient step.
    shuffle : bool
        Whether to draw a new order of the samples every epoch.
    stopping_rule : bool
        Whether scikit-learn MLP's rule may end training early.
    early_stopping : bool
        Whether the rule monitors the validation loss (else the training
        loss), and the best epoch's weights are restored at the end.
    tol : float
        Smallest decrease of the monitored loss that counts as improvement.
    n_iter_no_change : int, "auto" or None
        Epochs without improvement before the rule acts; ``"auto"``: a
        patience that grows with the run, and no stop while the loss is
        still falling; None: no rule, all ``epochs`` run (see
        :meth:`TrainingRun._stop`).
    adaptive : bool
        Whether the rule divides the learning rate by 5 instead of stopping.
    alpha : float
        Strength of the L2 penalty.
    verbose : int
        Keras's verbosity for the progress bar.
    learning_rate : object
        The ``learning_rate`` hyperparameter, named in error messages.
    """

    epochs: int
    batch_size: int
    shuffle: bool
    stopping_rule: bool
    early_stopping: bool
    tol: float
    n_iter_no_change: object
    adaptive: bool
    alpha: float
    verbose: int
    learning_rate: object

    # n_iter_no_change="auto" waits this share of the epochs trained up to
    # the last improvement, and at least AUTO_MIN_PATIENCE epochs
    # (benchmarks/bench_stopping.py). Not annotated: not dataclass fields.
    AUTO_PATIENCE_SHARE = 0.5
    AUTO_MIN_PATIENCE = 10


@dataclasses.dataclass
class RunResult:
    """What one call trained, for the estimator to commit.

    Attributes
    ----------
    history : dict of str to list of float
        The previous history with this call's epochs appended.
    n_epochs : int
        Epochs completed in this call.
    converged : bool
        Whether a stopping rule (or a callback) ended training, or none was
        asked for (``n_iter_no_change=None``).
    interrupted : KeyboardInterrupt or None
        The KeyboardInterrupt that ended training, if one did.
    state : NetworkState
        The final (or, with early stopping, best) weights and optimizer state.
    validation_output : ndarray or None
        With early stopping, the network's output on the validation data for
        those weights.
    """

    history: dict
    n_epochs: int = 0
    converged: bool = False
    interrupted: object = None
    state: object = None
    validation_output: object = None


class TrainingRun:
    """Run the epochs of one call on a trainer.

    Parameters
    ----------
    trainer : Trainer
        Loaded with the starting state.
    config : LoopConfig
    data : object
        All the training samples, from ``trainer.data(X, y, sample_weight)``.
    train_idx : ndarray of int
        The rows to train on (the rest is the validation split).
    validation : tuple of ndarray or None
        ``(X, y, sample_weight)`` of the validation data: evaluated every
        epoch, and monitored by the stopping rule with ``early_stopping``.
    scaling : tuple of ndarray
        ``(scale, offset)`` of the output transform.
    shuffle_rng : numpy.random.RandomState
        Draws each epoch's order.
    history : dict of str to list of float
        The estimator's history so far (copied, never changed).
    first_epoch : int
        Number of epochs trained before this call.
    callbacks : list of keras.callbacks.Callback
        Copies of the user's callbacks.
    callback_model : keras.Model or None
        The model the callbacks see; it is kept in step with the trainer at
        the end of every epoch. Needed only when there are callbacks.
    observer : object or None
        Told of each epoch: ``observer.epoch_begin(epoch)`` before it, and
        ``observer.epoch_end(epoch, logs, trainer)`` after it, which returns
        True to end training (scikit-learn's callbacks, see
        ``_sklearn_callbacks.py``).
    folding : object
        Maps the trainer's weights to those ``callback_model`` holds and
        back (a regressor's target scaling, see ``OutputScaling``).
    """

    def __init__(
        self,
        trainer,
        config,
        data,
        train_idx,
        validation,
        scaling,
        shuffle_rng,
        history,
        first_epoch,
        callbacks=(),
        callback_model=None,
        observer=None,
        folding=NO_FOLDING,
    ):
        self.trainer = trainer
        self.config = config
        self.data = data
        self.train_idx = train_idx
        self.validation = validation
        self.scale, self.offset = scaling
        self.shuffle_rng = shuffle_rng
        self.first_epoch = first_epoch
        self.callbacks = list(callbacks)
        self.callback_model = callback_model
        self.observer = observer
        self.folding = folding
        self.result = RunResult(history={key: list(values) for key, values in history.items()})
        self._best = np.inf
        self._best_weights = None
        self._no_improvement = 0

    def run(self):
        """Train; return the :class:`RunResult`.

        A KeyboardInterrupt ends training and is reported in the result;
        any other exception propagates.
        """
        self.begin()
        try:
            for epoch in range(self.first_epoch, self.first_epoch + self.config.epochs):
                permutation = self.begin_epoch(epoch)
                losses, metrics = self.trainer.train_epoch(
                    self.data,
                    permutation,
                    self.config.batch_size,
                    self.config.alpha,
                    self.scale,
                    self.offset,
                )
                if self.end_epoch(epoch, losses, metrics):
                    break
        except KeyboardInterrupt as interrupt:
            self.result.interrupted = interrupt
        return self.finish()

    def begin(self):
        """Start the call: the callbacks' ``on_train_begin``.

        :meth:`run` is ``begin``, then :meth:`begin_epoch`, the trainer's
        epoch and :meth:`end_epoch` for each epoch until one returns True,
        then :meth:`finish`. A population (``_training/population.py``)
        drives many runs through these steps in lockstep, training their
        epochs together.
        """
        self._callbacks = self._callback_list()
        self._callbacks.on_train_begin()

    def finish(self):
        """End the call: restore the best weights, end the callbacks, and
        return the :class:`RunResult`."""
        if self._best_weights is not None:
            self.trainer.set_weights(self._best_weights)
        if self.callbacks:
            # A callback may still change the weights (EarlyStopping's
            # restore_best_weights): take them back after on_train_end.
            self._with_callback_model(self._callbacks.on_train_end)
        else:
            self._callbacks.on_train_end()
        self.result.state = self.trainer.state()
        if self.config.early_stopping:
            # The restored weights' output, for best_validation_score_.
            self.result.validation_output = forward(self.trainer.model, self.validation[0])
        return self.result

    def _callback_list(self):
        import keras

        n_batches = -(-len(self.train_idx) // self.config.batch_size)
        model = self.callback_model
        if model is not None:
            model.stop_training = False
        return keras.callbacks.CallbackList(
            self.callbacks,
            add_progbar=self.config.verbose > 0,
            model=model,
            verbose=self.config.verbose,
            epochs=self.first_epoch + self.config.epochs,
            steps=n_batches,
        )

    def begin_epoch(self, epoch):
        """Start epoch ``epoch``; return the rows to train on, in order."""
        if self.observer is not None:
            self.observer.epoch_begin(epoch)
        self._callbacks.on_epoch_begin(epoch)
        self._callbacks.on_train_batch_begin(0)
        if self.config.shuffle:
            return self.shuffle_rng.permutation(self.train_idx)
        return self.train_idx

    def end_epoch(self, epoch, losses, metrics):
        """Record the trained epoch's ``losses`` and ``metrics`` (from
        ``Trainer.train_epoch``), evaluate, apply the stopping rule; return
        whether training should stop.

        Raises :class:`TrainingDivergedError` when a loss is not finite.
        """
        config, trainer, callback_list = self.config, self.trainer, self._callbacks
        n_batches = -(-len(self.train_idx) // config.batch_size)
        if not all(np.isfinite(value) for value in losses.values()):
            raise TrainingDivergedError(
                f"The training loss became {losses['loss']} in epoch {epoch + 1}: training "
                f"diverged. Use a smaller learning_rate (now {config.learning_rate!r}) "
                f"or scale the input features."
            )
        logs = {**losses, **metrics}
        callback_list.on_train_batch_end(n_batches - 1, logs)
        if self.validation is not None:
            val_losses, val_metrics = trainer.evaluate(*self.validation, self.scale, self.offset)
            val_logs = {**val_losses, **val_metrics}
            logs.update({f"val_{name}": value for name, value in val_logs.items()})
        for key, value in logs.items():
            self.result.history.setdefault(key, []).append(value)
        self.result.n_epochs += 1
        if self.callbacks:
            # User callbacks may read or change the model (weights, learning
            # rate) at the end of an epoch: hand it over up to date, and
            # take their changes back.
            self._with_callback_model(lambda: callback_list.on_epoch_end(epoch, logs))
        else:
            callback_list.on_epoch_end(epoch, logs)
        if self.observer is not None and self.observer.epoch_end(epoch, logs, trainer):
            self.result.converged = True
            return True
        if config.stopping_rule and self._stop(logs):
            return True
        if self.callback_model is not None and self.callback_model.stop_training:
            self.result.converged = True
            return True
        return False

    def _with_callback_model(self, call):
        """Hand the trainer's state to the callbacks' model, ``call()``, and
        take back what the callbacks changed."""
        state = self.trainer.state()
        folded = self.folding.fold(state)
        folded.assign_to(self.callback_model)
        call()
        changed = NetworkState.of(self.callback_model)
        self.trainer.load(self.folding.unfold(changed, like=(folded, state)))

    def _stop(self, logs):
        """Apply the stopping rule to this epoch; return whether to stop.

        An epoch improves when the monitored loss is below the best so far
        by more than ``tol``. With an int ``n_iter_no_change`` this is
        scikit-learn MLP's rule: more than ``n_iter_no_change`` epochs in a
        row without improvement stop training or, with
        ``learning_rate="adaptive"``, divide the learning rate by 5.

        ``"auto"`` lets a loss that is still going down through a short rise
        (an optimizer's overshoot) keep training: the patience is
        ``AUTO_PATIENCE_SHARE`` of the epochs of this call up to the last
        improvement (at least ``AUTO_MIN_PATIENCE``), and the rule does not
        act on an epoch whose loss fell by more than ``tol`` from the one
        before. A flat loss still stops after ``AUTO_MIN_PATIENCE + 1``
        epochs without improvement early in a run.

        None asks for no rule: every epoch runs, and the run counts as
        converged (no ConvergenceWarning); with early stopping the best
        epoch's weights are still restored.

        A regressor's rule watches the loss its optimizer minimizes, on the
        standardized targets (``standardized_loss``), so that ``tol`` means
        the same whatever the targets' units.

        Called by ``_epoch`` after this epoch's logs joined the history.
        """
        config = self.config
        key = "standardized_loss" if "standardized_loss" in logs else "loss"
        key = f"val_{key}" if config.early_stopping else key
        score = logs[key]
        self._no_improvement = self._no_improvement + 1 if score > self._best - config.tol else 0
        if score < self._best:
            self._best = score
            if config.early_stopping:
                self._best_weights = self.trainer.get_weights()
        if config.n_iter_no_change is None:
            self.result.converged = True
            return False
        if config.n_iter_no_change == "auto":
            improved_until = self.result.n_epochs - self._no_improvement
            patience = max(config.AUTO_MIN_PATIENCE, config.AUTO_PATIENCE_SHARE * improved_until)
            falling = self.result.n_epochs > 1 and score < self.result.history[key][-2] - config.tol
            if falling:
                return False
        else:
            patience = config.n_iter_no_change
        if self._no_improvement <= patience:
            return False
        learning_rate = self.trainer.learning_rate
        if config.adaptive and float(learning_rate) > ADAPTIVE_MINIMUM_LEARNING_RATE:
            learning_rate.assign(float(learning_rate) / 5.0)
            self._no_improvement = 0
            if config.verbose:
                print(f"Setting learning rate to {float(learning_rate):.6g}")
            return False
        self.result.converged = True
        return True
