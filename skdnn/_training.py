"""The training loop: compiled epochs over in-memory arrays.

Keras's ``Model.fit`` rebuilds a data iterator every epoch and runs one
Python-level call per batch, and every new model is traced anew; for the
small, in-memory data sets and the many fits of a scikit-learn workflow that
overhead dominates. Here:

* one compiled call runs a whole epoch: the data live in tensors, each batch
  is gathered by index from a per-epoch permutation drawn from a seeded NumPy
  generator, and the loop over batches is a TensorFlow while-loop;
* the compiled functions belong to a :class:`Trainer`, a private copy of the
  network and optimizer kept in a small pool keyed by everything the trace
  depends on. A fit checks a trainer out, loads its estimator's weights and
  optimizer state into it, trains, and writes the state back, so refitting a
  network of the same architecture (cross-validation, grid search) reuses the
  traced functions. Results are identical to a fresh trace: every value that
  differs between fits is loaded, not baked in;
* prediction does not go through TensorFlow at all (see ``_inference.py``).
"""

import contextlib
import functools
import json
import threading
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

# Rows per call when evaluating the validation split: large enough to
# amortize the call overhead, small enough to bound the activations' memory.
EVALUATE_CHUNK_SIZE = 16384

# Distinct trace keys kept alive; each holds a few copies of one network.
_MAX_CACHED_KEYS = 8

# learning_rate="adaptive", as in scikit-learn's MLP: start here, divide by
# 5 whenever the monitored loss stops improving, stop below the minimum.
ADAPTIVE_INITIAL_LEARNING_RATE = 1e-3
ADAPTIVE_MINIMUM_LEARNING_RATE = 1e-6

_lock = threading.Lock()
_idle_trainers = OrderedDict()


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite.

    The message names the epoch; a smaller ``learning_rate`` or scaled input
    features usually cure it. A first fit that diverges leaves the estimator
    unfitted; a warm-started fit or ``partial_fit`` leaves it as it was
    before the call.
    """


def require_tensorflow_backend():
    """Raise a clear error when Keras runs on another backend."""
    import keras

    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"skdnn trains with Keras's TensorFlow backend, but the active backend is "
            f"{keras.config.backend()!r}. Set the environment variable "
            f"KERAS_BACKEND=tensorflow before importing keras."
        )


def describe(obj):
    """Return a string that identifies what a Keras object computes, or None.

    None for a callable that has no config and no importable name (a lambda
    or local function): nothing but its identity tells what it computes.
    """
    import keras

    if obj is None or isinstance(obj, (str, int, float, bool)):
        return repr(obj)
    if hasattr(obj, "get_config"):
        return type(obj).__qualname__ + json.dumps(
            keras.saving.serialize_keras_object(obj), sort_keys=True, default=repr
        )
    # A plain function: its name identifies it when it is importable.
    name = getattr(obj, "__qualname__", "")
    if "<" in name or not name:
        return None
    return f"{obj.__module__}.{name}"


_default_strategy = []


def mirrored_strategy():
    """The process's ``tf.distribute.MirroredStrategy`` over all its GPUs.

    Created once: a strategy claims its devices, and every ``"mirrored"``
    estimator of the process shares it.
    """
    import tensorflow as tf

    with _lock:
        if not _default_strategy:
            _default_strategy.append(tf.distribute.MirroredStrategy())
        return _default_strategy[0]


def describe_strategy(strategy):
    """Identify a strategy by its kind and devices (None: no strategy)."""
    if strategy is None:
        return "None"
    return f"{type(strategy).__name__}{tuple(strategy.extended.worker_devices)}"


def optimizer_key(optimizer):
    """Describe an optimizer without its float learning rate (a variable,
    loaded for each fit) and its automatic name."""
    import keras

    config = keras.optimizers.serialize(optimizer)
    config["config"] = {**config["config"], "name": None}
    if isinstance(config["config"].get("learning_rate"), float):
        config["config"]["learning_rate"] = None
    return json.dumps(config, sort_keys=True, default=repr)


def per_sample_loss(loss):
    """Return ``f(y_true, y_pred) -> per-sample losses`` for a Keras loss.

    ``loss`` is a Keras loss name, function or ``keras.losses.Loss``
    instance; instances are copied with ``reduction=None`` so that sample
    weights are applied here, the same way for every loss.
    """
    import keras

    if isinstance(loss, keras.losses.Loss):
        loss = type(loss).from_config({**loss.get_config(), "reduction": None})
    elif isinstance(loss, str):
        loss = keras.losses.get(loss)

    def compute(y_true, y_pred):
        values = loss(y_true, y_pred)
        rank = len(values.shape)
        if rank > 1:
            values = keras.ops.mean(values, axis=tuple(range(1, rank)))
        return values

    return compute


# TensorFlow's CPU kernels need buffers aligned to this many bytes.
_TENSOR_ALIGNMENT = 64


def as_training_tensor(X):
    """Return ``X`` as a float32 TensorFlow tensor, copying it at most once.

    ``tf.convert_to_tensor`` copies a NumPy array into TensorFlow's own
    memory (two copies at its peak for 60,000x784 floats). A C-contiguous,
    aligned, writeable float32 array is instead shared with TensorFlow
    through DLPack, without a copy; anything else is converted once into an
    aligned float32 buffer that is then shared. The training functions only
    gather rows from it and never write to it.
    """
    import tensorflow as tf

    X = np.asarray(X)
    shareable = (
        X.dtype == np.float32
        and X.flags.c_contiguous
        and X.flags.writeable
        and X.ctypes.data % _TENSOR_ALIGNMENT == 0
    )
    if not shareable:
        buffer = np.empty(X.nbytes // X.itemsize * 4 + _TENSOR_ALIGNMENT, dtype=np.uint8)
        start = -buffer.ctypes.data % _TENSOR_ALIGNMENT
        aligned = buffer[start : start + X.size * 4].view(np.float32).reshape(X.shape)
        aligned[...] = X
        X = aligned
    return tf.experimental.dlpack.from_dlpack(X.__dlpack__())


def _transform_output(kind, z, scale, offset):
    """Map the training output to predictions (probabilities or units)."""
    import tensorflow as tf

    if kind == "softmax":
        return tf.nn.softmax(z)
    if kind == "sigmoid":
        return tf.sigmoid(z)
    if kind == "affine":
        return z * scale + offset
    return z


def _assign(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)


class Trainer:
    """Compiled training and evaluation of one network architecture.

    Parameters
    ----------
    train_model : keras.Model
        A network of the architecture to train (up to its output layer); the
        trainer works on its own clone of it.
    optimizer : keras.optimizers.Optimizer
        Copied; its variables are loaded from the estimator's optimizer.
    loss : callable
        ``f(y_true, y_pred) -> per-sample loss``.
    metrics : list of keras.metrics.Metric
        Tracked per epoch on the transformed outputs.
    output_transform : {"softmax", "sigmoid", "affine", None}
        How the training output becomes predictions for the metrics (and for
        the loss when ``loss_on_predictions``); ``"affine"`` also maps the
        targets, ``z * scale + offset``, back to their units.
    loss_on_predictions : bool
        Whether the loss takes the transformed outputs (user classifier
        losses work on probabilities, as in Keras).
    one_hot_depth : int or None
        For multiclass targets (class indices), the number of classes:
        metrics other than Keras's ``Sparse*`` ones get one-hot targets.
    target_example : ndarray
        Encoded targets of one sample: their dtype and shape fix the
        compiled functions' signatures.
    scaling_example : tuple of ndarray
        ``(scale, offset)`` of the affine output transform, likewise.
    strategy : tf.distribute.Strategy or None
        With a strategy, the trainer's network, optimizer and metrics live in
        its scope and every batch is split across its replicas; the
        gradients are summed across replicas by the optimizer.
    """

    def __init__(self, train_model, optimizer, loss, metrics, output_transform,
                 loss_on_predictions=False, one_hot_depth=None, target_example=None,
                 scaling_example=None, strategy=None):
        import keras
        import tensorflow as tf

        require_tensorflow_backend()
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            self.model = model = keras.models.clone_model(train_model)
            self.optimizer = optimizer = type(optimizer).from_config(optimizer.get_config())
            optimizer.build(model.trainable_variables)
            self.metrics = [type(m).from_config(m.get_config()) for m in metrics]
        trainable = model.trainable_variables
        kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]

        def loss_value(y, z, sample_weight, alpha, scale, offset):
            if loss_on_predictions:
                z = _transform_output(output_transform, z, scale, offset)
            per_sample = tf.reduce_sum(loss(y, z) * sample_weight)
            penalty = 0.5 * alpha * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
            return per_sample, penalty

        def update_metrics(y, z, scale, offset):
            if not self.metrics:
                return
            predictions = _transform_output(output_transform, z, scale, offset)
            targets = y * scale + offset if output_transform == "affine" else y
            one_hot = None
            for metric in self.metrics:
                if one_hot_depth and not type(metric).__name__.startswith("Sparse"):
                    if one_hot is None:
                        one_hot = tf.one_hot(tf.cast(targets, tf.int32), one_hot_depth)
                    metric.update_state(one_hot, predictions)
                else:
                    metric.update_state(targets, predictions)

        def batch_step(X, y, sample_weight, indices, weight_total, n_replicas, alpha, scale,
                       offset):
            """One gradient step on the rows ``indices`` (of one replica)."""
            X_batch = tf.gather(X, indices)
            y_batch = tf.gather(y, indices)
            weights = tf.gather(sample_weight, indices)
            with tf.GradientTape() as tape:
                z = model(X_batch, training=True)
                data_loss, penalty = loss_value(y_batch, z, weights, alpha, scale, offset)
                # Weighted mean over the batch plus the L2 penalty divided by
                # the batch's weight, as in scikit-learn's MLP. Replicas each
                # hold a share; the optimizer sums their gradients.
                if n_replicas > 1:
                    penalty = penalty / n_replicas
                batch_loss = tf.math.divide_no_nan(data_loss + penalty, weight_total)
            gradients = tape.gradient(batch_loss, trainable)
            optimizer.apply_gradients(zip(gradients, trainable))
            update_metrics(y_batch, z, scale, offset)
            return batch_loss

        def run_step(X, y, sample_weight, indices, alpha, scale, offset):
            weight_total = tf.reduce_sum(tf.gather(sample_weight, indices))
            if strategy is None:
                return batch_step(X, y, sample_weight, indices, weight_total, 1, alpha, scale,
                                  offset)

            def replica_step(indices):
                context = tf.distribute.get_replica_context()
                share = indices[context.replica_id_in_sync_group::context.num_replicas_in_sync]
                return batch_step(X, y, sample_weight, share, weight_total,
                                  context.num_replicas_in_sync, alpha, scale, offset)

            per_replica = strategy.run(replica_step, args=(indices,))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        def train_epoch(X, y, sample_weight, permutation, batch_size, alpha, scale, offset):
            n_samples = tf.shape(permutation)[0]
            n_batches = (n_samples + batch_size - 1) // batch_size
            total = tf.constant(0.0)
            for batch in tf.range(n_batches):
                indices = permutation[batch * batch_size : (batch + 1) * batch_size]
                batch_loss = run_step(X, y, sample_weight, indices, alpha, scale, offset)
                total += batch_loss * tf.cast(tf.shape(indices)[0], tf.float32)
            return total / tf.cast(n_samples, tf.float32)

        def evaluate(X, y, sample_weight, scale, offset):
            z = model(X, training=False)
            update_metrics(y, z, scale, offset)
            return loss_value(y, z, sample_weight, 0.0, scale, offset)[0]

        # Fixed signatures: one trace per trainer, whatever the number of rows.
        def spec(example, dtype=None):
            example = np.asarray(example)
            return tf.TensorSpec([None, *example.shape[1:]], dtype or example.dtype)

        def scalar(dtype):
            return tf.TensorSpec([], dtype)

        X_spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        y_spec = spec(target_example)
        weight_spec = tf.TensorSpec([None], tf.float32)
        scale_spec, offset_spec = (
            tf.TensorSpec(np.shape(value), tf.float32) for value in scaling_example
        )
        # Each trainer traces its functions exactly once (fixed signatures).
        # TensorFlow's retracing detector keys functions by their code object,
        # so the first traces of different trainers (architectures) would read
        # as retraces of one function; a partial gives each trainer its own key.
        self._train_epoch = tf.function(functools.partial(train_epoch), input_signature=[
            X_spec, y_spec, weight_spec, tf.TensorSpec([None], tf.int32), scalar(tf.int32),
            scalar(tf.float32), scale_spec, offset_spec,
        ])
        self._evaluate = tf.function(functools.partial(evaluate), input_signature=[
            X_spec, y_spec, weight_spec, scale_spec, offset_spec,
        ])

    def load(self, model):
        """Load ``model``'s weights and optimizer state into the trainer."""
        _assign(self.model.trainable_variables, model.trainable_variables)
        _assign(self.model.non_trainable_variables, model.non_trainable_variables)
        _assign(self.optimizer.variables, model.optimizer.variables)

    def store(self, model):
        """Write the trained weights and optimizer state back to ``model``."""
        _assign(model.trainable_variables, self.model.trainable_variables)
        _assign(model.non_trainable_variables, self.model.non_trainable_variables)
        _assign(model.optimizer.variables, self.optimizer.variables)

    def get_weights(self):
        return self.model.get_weights()

    def set_weights(self, weights):
        self.model.set_weights(weights)

    def _reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    def _metric_results(self):
        return {metric.name: float(metric.result()) for metric in self.metrics}

    def train_epoch(self, X, y, sample_weight, permutation, batch_size, alpha, scale, offset):
        """Run one epoch over ``X[permutation]``; return ``(mean loss, metrics)``."""
        import tensorflow as tf

        self._reset_metrics()
        loss = self._train_epoch(
            X, y, sample_weight, tf.constant(permutation, dtype=tf.int32),
            tf.constant(batch_size, dtype=tf.int32), tf.constant(alpha, dtype=tf.float32),
            scale, offset,
        )
        return float(loss), self._metric_results()

    def evaluate(self, X, y, sample_weight, scale, offset):
        """Return ``(weighted mean loss without penalty, metrics)`` on held-out data."""
        self._reset_metrics()
        total = 0.0
        for start in range(0, len(X), EVALUATE_CHUNK_SIZE):
            chunk = slice(start, start + EVALUATE_CHUNK_SIZE)
            total += float(
                self._evaluate(X[chunk], y[chunk], sample_weight[chunk], scale, offset)
            )
        weight_sum = float(np.sum(sample_weight))
        return (total / weight_sum if weight_sum else 0.0), self._metric_results()


class TrainingRun:
    """The epochs of one call of ``fit`` or ``partial_fit``.

    Drives the trainer epoch by epoch, applies scikit-learn MLP's stopping
    rule (and its ``"adaptive"`` learning rate), keeps the best weights for
    early stopping, and calls Keras callbacks through
    ``keras.callbacks.CallbackList``. An epoch runs as one compiled call, so
    the batch-level hooks fire once per epoch, after its last batch.

    Attributes
    ----------
    history : dict of str to list of float
        The estimator's history with this call's epochs appended.
    n_epochs : int
        Epochs completed in this call.
    converged : bool
        Whether a stopping rule (or a callback) ended training.
    interrupted : bool
        Whether a KeyboardInterrupt ended training.
    """

    def __init__(self, estimator, trainer, callbacks, data, validation, train_idx,
                 batch_size, shuffle_rng, epochs, stopping_rule):
        self.estimator = estimator
        self.trainer = trainer
        self.callbacks = callbacks
        self.data = data
        self.validation = validation
        self.train_idx = train_idx
        self.batch_size = batch_size
        self.shuffle_rng = shuffle_rng
        self.epochs = epochs
        self.stopping_rule = stopping_rule
        self.history = {key: list(values) for key, values in estimator.history_.items()}
        self.n_epochs = 0
        self.converged = False
        self.interrupted = False
        self._best = np.inf
        self._best_weights = None
        self._no_improvement = 0

    def train(self):
        import keras

        estimator, trainer, model = self.estimator, self.trainer, self.estimator.model_
        n_batches = -(-len(self.train_idx) // self.batch_size)
        first_epoch = estimator.n_iter_
        callback_list = keras.callbacks.CallbackList(
            self.callbacks, add_progbar=estimator.verbose > 0, model=model,
            verbose=estimator.verbose, epochs=first_epoch + self.epochs, steps=n_batches,
        )
        # User callbacks may read or change the model (weights, learning
        # rate) at the end of an epoch: hand it over up to date, and take
        # their changes back.
        sync = bool(self.callbacks)
        scale, offset = estimator._output_scaling()
        alpha = float(estimator.alpha)
        model.stop_training = False
        callback_list.on_train_begin()
        try:
            for epoch in range(first_epoch, first_epoch + self.epochs):
                callback_list.on_epoch_begin(epoch)
                callback_list.on_train_batch_begin(0)
                permutation = (
                    self.shuffle_rng.permutation(self.train_idx)
                    if estimator.shuffle else self.train_idx
                )
                loss, metrics = trainer.train_epoch(
                    *self.data, permutation, self.batch_size, alpha, scale, offset
                )
                if not np.isfinite(loss):
                    raise TrainingDivergedError(
                        f"The training loss became {loss} in epoch {epoch + 1}: training "
                        f"diverged. Use a smaller learning_rate (now "
                        f"{estimator.learning_rate!r}) or scale the input features."
                    )
                logs = {"loss": loss, **metrics}
                callback_list.on_train_batch_end(n_batches - 1, logs)
                if self.validation is not None:
                    val_loss, val_metrics = trainer.evaluate(*self.validation, scale, offset)
                    logs["val_loss"] = val_loss
                    logs.update({f"val_{name}": value for name, value in val_metrics.items()})
                for key, value in logs.items():
                    self.history.setdefault(key, []).append(value)
                self.n_epochs += 1
                if sync:
                    trainer.store(model)
                callback_list.on_epoch_end(epoch, logs)
                if sync:
                    trainer.load(model)
                if self.stopping_rule and self._stop(logs):
                    break
                if model.stop_training:
                    self.converged = True
                    break
        except KeyboardInterrupt:
            self.interrupted = True
        if self._best_weights is not None:
            trainer.set_weights(self._best_weights)
        trainer.store(model)
        callback_list.on_train_end()

    def _stop(self, logs):
        """scikit-learn MLP's rule: more than n_iter_no_change epochs without
        an improvement of at least tol stop training, or, with
        ``learning_rate="adaptive"``, divide the learning rate by 5."""
        estimator = self.estimator
        score = logs["val_loss" if self.validation is not None else "loss"]
        self._no_improvement = self._no_improvement + 1 if score > self._best - estimator.tol else 0
        if score < self._best:
            self._best = score
            if self.validation is not None:
                self._best_weights = self.trainer.get_weights()
        if self._no_improvement <= estimator.n_iter_no_change:
            return False
        learning_rate = self.trainer.optimizer.learning_rate
        if estimator.learning_rate == "adaptive" and (
            float(learning_rate) > ADAPTIVE_MINIMUM_LEARNING_RATE
        ):
            learning_rate.assign(float(learning_rate) / 5.0)
            self._no_improvement = 0
            if estimator.verbose:
                print(f"Setting learning rate to {float(learning_rate):.6g}")
            return False
        self.converged = True
        return True


@contextmanager
def checkout_trainer(key, make_trainer):
    """Lend an idle :class:`Trainer` for ``key``, or a new one, for one fit.

    A trainer serves one fit at a time; fits running at once in threads get
    their own. With ``key=None`` the new trainer is not kept.
    """
    with _lock:
        idle = _idle_trainers.get(key)
        trainer = idle.pop() if idle else None
    if trainer is None:
        trainer = make_trainer()
    try:
        yield trainer
    finally:
        if key is not None:
            with _lock:
                _idle_trainers.setdefault(key, []).append(trainer)
                _idle_trainers.move_to_end(key)
                while len(_idle_trainers) > _MAX_CACHED_KEYS:
                    _idle_trainers.popitem(last=False)
