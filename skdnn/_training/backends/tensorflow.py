"""Keras's TensorFlow backend: its training engine, strategies, threads and
compiled inference call.

One ``tf.function`` call runs a whole epoch: the data live in tensors, each
batch is gathered by index from the epoch's permutation, and the loop over
batches is a TensorFlow while-loop. The model, optimizer and metrics are
stateful Keras objects; their variables are updated in place.

``distribution`` takes a ``tf.distribute`` strategy, or ``"mirrored"`` for
the process's ``MirroredStrategy``; the trainer lives in its scope and
every batch is split across its replicas.
"""

import contextlib
import functools
import os
import threading

import numpy as np
import scipy.sparse as sp

from ..objective import Objective, batch_loss, kernel_indices
from .base import Backend, VariableState, regularization_loss

# TensorFlow's CPU kernels need buffers aligned to this many bytes.
_TENSOR_ALIGNMENT = 64

_lock = threading.Lock()
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


def as_training_features(X):
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


class TensorFlowEngine(VariableState):
    """Compiled epochs and evaluation of one trainer on TensorFlow.

    Parameters
    ----------
    spec : TrainerSpec
    model, optimizer, metrics
        The trainer's own, built (in the strategy's scope, if any).
    """

    def __init__(self, spec, model, optimizer, metrics):
        self.metrics = metrics
        self._train_epoch, self._evaluate = _compile_functions(spec, model, optimizer, metrics)

    def data(self, X, y, sample_weight):
        """The training data as the compiled epoch takes them."""
        import tensorflow as tf

        return (
            as_training_features(X),
            tf.convert_to_tensor(y),
            tf.convert_to_tensor(sample_weight, dtype=tf.float32),
        )

    def train_epoch(self, data, permutation, batch_size, alpha, scale, offset):
        """Run one epoch over the rows ``permutation``; return the mean loss
        and the mean loss in the targets' units (see :meth:`Objective.losses`)."""
        import tensorflow as tf

        loss, units_loss = self._train_epoch(
            *data,
            tf.constant(permutation, dtype=tf.int32),
            tf.constant(batch_size, dtype=tf.int32),
            tf.constant(alpha, dtype=tf.float32),
            scale,
            offset,
        )
        return float(loss), float(units_loss)

    def evaluate(self, X, y, sample_weight, scale, offset):
        """Return the weighted sums of the losses on ``X`` (a float32 array
        or a SciPy sparse matrix), as is and in the targets' units, updating
        the metrics."""
        X = as_training_features(X) if sp.issparse(X) else X
        loss, units_loss = self._evaluate(X, y, sample_weight, scale, offset)
        return float(loss), float(units_loss)


def _compile_functions(spec, model, optimizer, metrics):
    """Return the ``tf.function``s ``(train_epoch, evaluate)`` of a trainer.

    A module-level function, not a method: the compiled functions close over
    the model, optimizer and metrics only, never over the trainer, so an
    evicted trainer is freed without waiting for the cycle collector.
    """
    import tensorflow as tf

    objective = Objective(spec)
    strategy = spec.strategy
    n_features = int(np.prod(spec.network.input_shape[1:]))
    trainable = model.trainable_variables
    kernels = [trainable[i] for i in kernel_indices(model)]

    def update_metrics(y, z, scale, offset):
        for metric, targets, predictions in objective.metric_inputs(metrics, y, z, scale, offset):
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
            data_loss, penalty, units_loss = objective.losses(
                y_batch, z, weights, kernels, alpha, scale, offset
            )
            regularization = regularization_loss(model.losses)
            # Replicas each hold a share; the optimizer sums their gradients.
            if n_replicas > 1:
                penalty = penalty / n_replicas
                regularization = regularization / n_replicas
            loss = batch_loss(data_loss, penalty, weight_total) + regularization
        gradients = tape.gradient(loss, trainable)
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
        return loss, batch_loss(units_loss, 0.0, weight_total)

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

        loss, units_loss = strategy.run(replica_step, args=(indices,))
        return tuple(
            strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for value in (loss, units_loss)
        )

    def train_epoch(X, y, sample_weight, permutation, batch_size, alpha, scale, offset):
        n_samples = tf.shape(permutation)[0]
        n_batches = (n_samples + batch_size - 1) // batch_size

        def batch_loop(batch, total, units_total):
            indices = permutation[batch * batch_size : (batch + 1) * batch_size]
            loss, units_loss = run_step(X, y, sample_weight, indices, alpha, scale, offset)
            size = tf.cast(tf.shape(indices)[0], tf.float32)
            return batch + 1, total + loss * size, units_total + units_loss * size

        _, total, units_total = tf.while_loop(
            lambda batch, total, units_total: batch < n_batches,
            batch_loop,
            (tf.constant(0), tf.constant(0.0), tf.constant(0.0)),
        )
        n = tf.cast(n_samples, tf.float32)
        return total / n, units_total / n

    def evaluate(X, y, sample_weight, scale, offset):
        if spec.sparse_input:
            X = gather_rows(X, tf.range(tf.shape(y)[0]))
        z = model(X, training=False)
        update_metrics(y, z, scale, offset)
        data_loss, _, units_loss = objective.losses(y, z, sample_weight, (), 0.0, scale, offset)
        return data_loss, units_loss

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
    # The loop is an explicit while-loop and nothing else branches on
    # tensors, so AutoGraph has nothing to convert: without it, the first
    # trace is shorter.
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
        autograph=False,
    )
    evaluate = tf.function(
        functools.partial(evaluate),
        input_signature=[X_spec, y_spec, weight_spec, scale_spec, offset_spec],
        autograph=False,
    )
    return train, evaluate


class TensorFlowBackend(Backend):
    """Keras's TensorFlow backend (see :class:`~skdnn._training.backends.base.Backend`)."""

    name = "tensorflow"
    Engine = TensorFlowEngine
    sparse_tensors = True

    def size_thread_pools(self, budget):
        """Give TensorFlow ``budget`` intra-op threads and one inter-op thread
        (an epoch is one sequential loop), unless TensorFlow's own variables
        (``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS``) are set or
        TensorFlow already runs: it fixes its pools when it starts."""
        if "TF_NUM_INTRAOP_THREADS" in os.environ or "TF_NUM_INTEROP_THREADS" in os.environ:
            return
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(budget)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TensorFlow already runs with its pools: leave them.

    def strategy(self, distribution):
        """None, the user's ``tf.distribute`` strategy, or for ``"mirrored"``
        the process's :func:`mirrored_strategy`."""
        if distribution == "mirrored":
            return mirrored_strategy()
        return distribution

    def strategy_scope(self, strategy):
        return contextlib.nullcontext() if strategy is None else strategy.scope()

    def describe_strategy(self, strategy):
        """A strategy's kind and devices."""
        if strategy is None:
            return repr(strategy)
        return f"{type(strategy).__name__}{tuple(strategy.extended.worker_devices)}"

    def compiled_call(self, network_ref):
        """A compiled ``network(batch)``: one trace for any number of rows."""
        import tensorflow as tf

        def call(batch):
            return network_ref()(batch, training=False)

        network = network_ref()
        signature = [tf.TensorSpec([None, *network.input_shape[1:]], tf.float32)]
        # A partial: TensorFlow's retracing detector keys functions by their
        # code object, so every network's first trace would otherwise count
        # as a retrace of one function (and warn).
        function = tf.function(functools.partial(call), input_signature=signature, autograph=False)
        return lambda batch: function(batch).numpy()


BACKEND = TensorFlowBackend()
