"""Compiled training functions, and the pool that reuses them across fits.

Keras's ``Model.fit`` rebuilds a data iterator every epoch and runs one
Python-level call per batch, and every new model is traced anew; for the
small, in-memory data sets and the many fits of a scikit-learn workflow that
overhead dominates. Here:

* one compiled call runs a whole epoch: the data live in tensors, each batch
  is gathered by index from a per-epoch permutation, and the loop over
  batches is a TensorFlow while-loop;
* the compiled functions belong to a :class:`Trainer`, a private copy of the
  network and optimizer. A :class:`TrainerSpec` describes everything the
  trace depends on: it builds the trainer and gives the key under which the
  trainer is pooled, so the two cannot disagree. A fit checks a trainer out,
  loads the starting weights and optimizer state into it, trains, and reads
  the final state out, so refitting a network of the same architecture
  (cross-validation, grid search) reuses the traced functions. Results are
  identical to a fresh trace: every value that differs between fits is
  loaded, not baked in.
"""

import contextlib
import dataclasses
import functools
import gc
import json
import threading
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

# Rows per call when evaluating the validation split: large enough to
# amortize the call overhead, small enough to bound the activations' memory.
EVALUATE_CHUNK_SIZE = 16384

# Distinct trace keys kept alive, and idle trainers kept per key (more than
# one only serves fits running at once in threads).
MAX_CACHED_KEYS = 8
MAX_IDLE_PER_KEY = 2

# TensorFlow's CPU kernels need buffers aligned to this many bytes.
_TENSOR_ALIGNMENT = 64

_lock = threading.Lock()
_idle_trainers = OrderedDict()
_default_strategy = []


def require_tensorflow_backend():
    """Raise a clear error when Keras runs on another backend."""
    import keras

    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"skdnn trains with Keras's TensorFlow backend, but the active backend is "
            f"{keras.config.backend()!r}. Set the environment variable "
            f"KERAS_BACKEND=tensorflow before importing keras."
        )


# ----------------------------------------------------------------------------
# What a trace depends on
# ----------------------------------------------------------------------------
def describe(obj):
    """Return a string that identifies what a Keras object computes, or None.

    None for a callable that has no config and no importable name (a lambda
    or local function): nothing but its identity tells what it computes.
    """
    import keras

    if obj is None or isinstance(obj, (str, int, float, bool)):
        return repr(obj)
    if isinstance(obj, (tuple, list)):
        parts = [describe(item) for item in obj]
        return None if None in parts else repr(parts)
    if hasattr(obj, "get_config"):
        return type(obj).__qualname__ + json.dumps(
            keras.saving.serialize_keras_object(obj), sort_keys=True, default=repr
        )
    # A plain function: its name identifies it when it is importable.
    name = getattr(obj, "__qualname__", "")
    if "<" in name or not name:
        return None
    return f"{obj.__module__}.{name}"


def _without_seeds(config):
    """``config`` with every ``seed`` entry removed: initial weights and the
    dropout seed generators' states are loaded, not traced."""
    if isinstance(config, dict):
        return {key: _without_seeds(value) for key, value in config.items() if key != "seed"}
    if isinstance(config, (list, tuple)):
        return [_without_seeds(value) for value in config]
    return config


def describe_network(model):
    """Identify a network's architecture, whatever its initial weights."""
    return json.dumps(_without_seeds(model.get_config()), sort_keys=True, default=repr)


def describe_optimizer(optimizer):
    """Describe an optimizer without its float learning rate (a variable,
    loaded for each fit) and its automatic name."""
    import keras

    config = keras.optimizers.serialize(optimizer)
    config["config"] = {**config["config"], "name": None}
    if isinstance(config["config"].get("learning_rate"), float):
        config["config"]["learning_rate"] = None
    return json.dumps(config, sort_keys=True, default=repr)


def describe_strategy(strategy):
    """Identify a strategy by its kind and devices (None: no strategy)."""
    if strategy is None:
        return "None"
    return f"{type(strategy).__name__}{tuple(strategy.extended.worker_devices)}"


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


@dataclasses.dataclass(frozen=True, eq=False)
class TrainerSpec:
    """Everything the compiled training functions depend on.

    The one description of a trainer: :meth:`build` makes it and :meth:`key`
    names it in the pool, both from these fields, so a reused trainer always
    computes what a new one would.

    Parameters
    ----------
    network : keras.Model
        The network up to its output layer (logits, or standardized
        targets); the trainer trains its own clone.
    optimizer : keras.optimizers.Optimizer
        Copied; its variables are loaded for every fit.
    loss : str, callable or keras.losses.Loss
        The Keras loss, applied per sample (see :func:`per_sample_loss`).
    metrics : tuple of keras.metrics.Metric
        Tracked per epoch on the transformed outputs.
    output_transform : {"softmax", "sigmoid", "affine"}
        How the training output becomes predictions for the metrics (and for
        the loss when ``loss_on_predictions``); ``"affine"`` also maps the
        targets, ``z * scale + offset``, back to their units.
    loss_on_predictions : bool
        Whether the loss takes the transformed outputs (user classifier
        losses work on probabilities, as in Keras).
    one_hot_loss : bool
        Whether the loss takes one-hot targets (Keras's categorical
        losses) instead of class indices.
    one_hot_depth : int or None
        For class-index targets, the number of classes: metrics other than
        Keras's ``Sparse*`` ones get one-hot targets.
    target_signature : tuple
        ``(dtype name, shape of one sample)`` of the encoded targets.
    scaling_shape : tuple of int
        Shape of the affine transform's ``scale`` and ``offset``.
    sparse_input : bool
        Whether the samples come as a SciPy sparse matrix: batches are then
        gathered as sparse tensors, and the first layer multiplies them
        without ever making them dense.
    strategy : tf.distribute.Strategy or None
        With a strategy, the trainer lives in its scope and every batch is
        split across its replicas.
    """

    network: object
    optimizer: object
    loss: object
    metrics: tuple
    output_transform: str
    loss_on_predictions: bool
    one_hot_loss: bool
    one_hot_depth: object
    target_signature: tuple
    scaling_shape: tuple
    sparse_input: bool = False
    strategy: object = None

    _DESCRIBERS = {
        "network": describe_network,
        "optimizer": describe_optimizer,
        "strategy": describe_strategy,
    }

    def key_parts(self):
        """The description of each field, by field name (None: not describable)."""
        return {
            field.name: self._DESCRIBERS.get(field.name, describe)(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }

    def key(self):
        """The pool key: a description of every field, or None when one
        cannot be described (then the trainer is not pooled: a key made
        from ``id()`` could be reused once the object is gone)."""
        parts = self.key_parts()
        return None if None in parts.values() else repr(sorted(parts.items()))

    def build(self):
        """Return a new :class:`Trainer` for this spec."""
        return Trainer(self)


# ----------------------------------------------------------------------------
# The compiled functions
# ----------------------------------------------------------------------------
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


def as_training_data(X):
    """Return ``X`` as what the compiled functions take: one float32 tensor,
    or, for a SciPy sparse matrix, its CSR ``(data, indices, indptr)``."""
    if not sp.issparse(X):
        return as_training_tensor(X)
    import tensorflow as tf

    X = X.tocsr()
    if not X.has_sorted_indices:
        X = X.sorted_indices()  # a sorted copy: the caller's matrix is not changed
    return (
        tf.constant(X.data.astype(np.float32, copy=False)),
        tf.constant(X.indices.astype(np.int64, copy=False)),
        tf.constant(X.indptr.astype(np.int64, copy=False)),
    )


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
    values = list(values)
    if len(values) != len(variables):
        raise ValueError(f"Expected {len(variables)} values to load, got {len(values)}.")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


@dataclasses.dataclass(frozen=True)
class NetworkState:
    """Weights and optimizer state of a network, in its variables' order."""

    trainable: list
    non_trainable: list
    optimizer: list

    @classmethod
    def of(cls, model, optimizer=None):
        """The state held by ``model`` (and ``optimizer``, by default its own),
        copied into NumPy arrays."""
        optimizer = model.optimizer if optimizer is None else optimizer
        return cls(
            [v.numpy() for v in model.trainable_variables],
            [v.numpy() for v in model.non_trainable_variables],
            [v.numpy() for v in optimizer.variables],
        )

    def assign_weights_to(self, model):
        """Write the weights (not the optimizer state) into ``model``'s variables."""
        _assign(model.trainable_variables, self.trainable)
        _assign(model.non_trainable_variables, self.non_trainable)

    def assign_to(self, model, optimizer=None):
        """Write this state into ``model``'s variables and ``optimizer``'s."""
        self.assign_weights_to(model)
        _assign((model.optimizer if optimizer is None else optimizer).variables, self.optimizer)


class Trainer:
    """Compiled training and evaluation of one :class:`TrainerSpec`.

    Parameters
    ----------
    spec : TrainerSpec
        What to compile.
    """

    def __init__(self, spec):
        import keras

        strategy = spec.strategy
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            inputs = None
            if spec.sparse_input:
                # The same layers on a sparse input: the first Dense layer
                # multiplies the sparse batch (tf.sparse under the hood).
                inputs = keras.Input(
                    shape=spec.network.input_shape[1:], sparse=True, name=spec.network.input.name
                )
            model = keras.models.clone_model(spec.network, input_tensors=inputs)
            optimizer = type(spec.optimizer).from_config(spec.optimizer.get_config())
            optimizer.build(model.trainable_variables)
            metrics = [type(m).from_config(m.get_config()) for m in spec.metrics]
        self.model, self.optimizer, self.metrics = model, optimizer, metrics
        compiled = _compile_functions(spec, model, optimizer, metrics)
        self._train_epoch, self._evaluate = compiled

    def load(self, state):
        """Load a :class:`NetworkState` (or a compiled model's) into the trainer."""
        state.assign_to(self.model, self.optimizer)

    def state(self):
        """The trainer's weights and optimizer state, as NumPy arrays."""
        return NetworkState.of(self.model, self.optimizer)

    def get_weights(self):
        return self.model.get_weights()

    def set_weights(self, weights):
        self.model.set_weights(weights)

    @property
    def learning_rate(self):
        return self.optimizer.learning_rate

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
            X,
            y,
            sample_weight,
            tf.constant(permutation, dtype=tf.int32),
            tf.constant(batch_size, dtype=tf.int32),
            tf.constant(alpha, dtype=tf.float32),
            scale,
            offset,
        )
        return float(loss), self._metric_results()

    def evaluate(self, X, y, sample_weight, scale, offset):
        """Return ``(weighted mean loss without penalty, metrics)`` on held-out data.

        ``X`` is a float32 array or a SciPy sparse matrix.
        """
        self._reset_metrics()
        total = 0.0
        for start in range(0, X.shape[0], EVALUATE_CHUNK_SIZE):
            chunk = slice(start, start + EVALUATE_CHUNK_SIZE)
            X_chunk = as_training_data(X[chunk]) if sp.issparse(X) else X[chunk]
            total += float(self._evaluate(X_chunk, y[chunk], sample_weight[chunk], scale, offset))
        weight_sum = float(np.sum(sample_weight))
        return (total / weight_sum if weight_sum else 0.0), self._metric_results()


def _compile_functions(spec, model, optimizer, metrics):
    """Return the ``tf.function``s ``(train_epoch, evaluate)`` of a trainer.

    A module-level function, not a method: the compiled functions close over
    the model, optimizer and metrics only, never over the trainer, so an
    evicted trainer is freed without waiting for the cycle collector.
    """
    import tensorflow as tf

    loss = per_sample_loss(spec.loss)
    output_transform, strategy = spec.output_transform, spec.strategy
    n_features = int(np.prod(spec.network.input_shape[1:]))
    loss_on_predictions, one_hot_depth = spec.loss_on_predictions, spec.one_hot_depth
    one_hot_loss = spec.one_hot_loss
    trainable = model.trainable_variables
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]

    def loss_value(y, z, sample_weight, alpha, scale, offset):
        if loss_on_predictions:
            z = _transform_output(output_transform, z, scale, offset)
        if one_hot_loss:
            y = tf.one_hot(tf.cast(y, tf.int32), one_hot_depth)
        per_sample = tf.reduce_sum(loss(y, z) * sample_weight)
        penalty = 0.5 * alpha * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
        return per_sample, penalty

    def update_metrics(y, z, scale, offset):
        if not metrics:
            return
        predictions = _transform_output(output_transform, z, scale, offset)
        targets = y * scale + offset if output_transform == "affine" else y
        one_hot = None
        for metric in metrics:
            if one_hot_depth and not type(metric).__name__.startswith("Sparse"):
                if one_hot is None:
                    one_hot = tf.one_hot(tf.cast(targets, tf.int32), one_hot_depth)
                metric.update_state(one_hot, predictions)
            else:
                metric.update_state(targets, predictions)

    def apply_update(distribution, gradients):
        optimizer.apply_gradients(zip(gradients, trainable, strict=True))

    def gather_rows(X, rows):
        """The samples ``rows`` of X: a dense tensor, or a sparse one gathered
        from the CSR arrays (rows in order, columns sorted within each row)."""
        if not spec.sparse_input:
            return tf.gather(X, rows)
        data, indices, indptr = X
        starts = tf.gather(indptr, rows)
        positions = tf.ragged.range(starts, tf.gather(indptr, rows + 1))
        flat = positions.flat_values
        coordinates = tf.stack([positions.value_rowids(), tf.gather(indices, flat)], axis=1)
        shape = tf.stack([tf.shape(rows, out_type=tf.int64)[0], n_features])
        return tf.SparseTensor(coordinates, tf.gather(data, flat), shape)

    def batch_step(X, y, sample_weight, indices, weight_total, n_replicas, alpha, scale, offset):
        """One gradient step on the rows ``indices`` (of one replica)."""
        X_batch = gather_rows(X, indices)
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
        if strategy is None:
            # Without a strategy, the update runs in a cross-replica context
            # (merge_call): there Keras's optimizer applies the gradients
            # without its all-reduce, whose custom gradient would register a
            # closure over this trace in TensorFlow's process-wide gradient
            # registry and keep every traced graph alive (about 3 MB per
            # architecture, never freed). With a strategy, the replicas'
            # gradients must be summed: Keras's all-reduce does it.
            tf.distribute.get_replica_context().merge_call(apply_update, args=(gradients,))
        else:
            optimizer.apply_gradients(zip(gradients, trainable, strict=True))
        update_metrics(y_batch, z, scale, offset)
        return batch_loss

    def run_step(X, y, sample_weight, indices, alpha, scale, offset):
        weight_total = tf.reduce_sum(tf.gather(sample_weight, indices))
        if strategy is None:
            return batch_step(X, y, sample_weight, indices, weight_total, 1, alpha, scale, offset)

        def replica_step(indices):
            context = tf.distribute.get_replica_context()
            share = indices[context.replica_id_in_sync_group :: context.num_replicas_in_sync]
            return batch_step(
                X,
                y,
                sample_weight,
                share,
                weight_total,
                context.num_replicas_in_sync,
                alpha,
                scale,
                offset,
            )

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
        if spec.sparse_input:
            X = gather_rows(X, tf.range(tf.shape(y)[0]))
        z = model(X, training=False)
        update_metrics(y, z, scale, offset)
        return loss_value(y, z, sample_weight, 0.0, scale, offset)[0]

    # Fixed signatures: one trace per trainer, whatever the number of rows.
    target_dtype, target_shape = spec.target_signature
    X_spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
    if spec.sparse_input:
        X_spec = (
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.int64),
        )
    y_spec = tf.TensorSpec([None, *target_shape], tf.as_dtype(target_dtype))
    weight_spec = tf.TensorSpec([None], tf.float32)
    scale_spec = offset_spec = tf.TensorSpec(spec.scaling_shape, tf.float32)
    scalar = functools.partial(tf.TensorSpec, [])
    # TensorFlow's retracing detector keys functions by their code object, so
    # the first traces of different trainers (architectures) would read as
    # retraces of one function; a partial gives each trainer its own key.
    train = tf.function(
        functools.partial(train_epoch),
        input_signature=[
            X_spec,
            y_spec,
            weight_spec,
            tf.TensorSpec([None], tf.int32),
            scalar(tf.int32),
            scalar(tf.float32),
            scale_spec,
            offset_spec,
        ],
    )
    evaluate = tf.function(
        functools.partial(evaluate),
        input_signature=[
            X_spec,
            y_spec,
            weight_spec,
            scale_spec,
            offset_spec,
        ],
    )
    return train, evaluate


# ----------------------------------------------------------------------------
# The pool
# ----------------------------------------------------------------------------
@contextmanager
def checkout_trainer(spec):
    """Lend an idle :class:`Trainer` for ``spec``, or a new one, for one fit.

    A trainer serves one fit at a time; fits running at once in threads get
    their own. A spec without a key gets a trainer that is not kept.
    """
    key = spec.key()
    with _lock:
        idle = _idle_trainers.get(key)
        trainer = idle.pop() if idle else None
    if trainer is None:
        trainer = spec.build()
    try:
        yield trainer
    finally:
        if key is not None:
            with _lock:
                idle = _idle_trainers.setdefault(key, [])
                if len(idle) < MAX_IDLE_PER_KEY:
                    idle.append(trainer)
                _idle_trainers.move_to_end(key)
                while len(_idle_trainers) > MAX_CACHED_KEYS:
                    _idle_trainers.popitem(last=False)


def pooled_keys():
    """The keys of the pooled trainers, oldest first (for tests and diagnostics)."""
    with _lock:
        return list(_idle_trainers)


def clear_cache():
    """Free the compiled training functions skdnn keeps for reuse.

    skdnn keeps the compiled training functions of the last few network
    architectures it trained (see the user guide), so that refitting one
    (cross-validation, a grid search) skips the compilation. They hold a few
    copies of each network; call this to release that memory, e.g. between
    two unrelated searches in a long-running process. Fits running at the
    time are not affected, and later fits compile anew when needed.

    TensorFlow keeps compiled kernels of its own for every architecture a
    process has trained; ``keras.utils.clear_session()`` frees those too,
    but also restarts Keras's automatic layer names, so skdnn leaves that
    call to you.

    Returns
    -------
    n_freed : int
        The number of idle trainers released.

    Examples
    --------
    >>> import skdnn
    >>> skdnn.clear_cache() >= 0
    True
    """
    with _lock:
        n_freed = sum(len(idle) for idle in _idle_trainers.values())
        _idle_trainers.clear()
    gc.collect()
    return n_freed
