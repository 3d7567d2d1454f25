"""Keras's TensorFlow backend: its training engine, strategies, threads and
compiled inference call.

One ``tf.function`` call runs a whole epoch: the data live in tensors, each
batch is gathered by index from the epoch's permutation, and the loop over
batches is a TensorFlow while-loop. The model, optimizer and metrics are
stateful Keras objects; their variables are updated in place.

``distribution`` takes a ``tf.distribute`` strategy, or ``"mirrored"`` for
the process's ``MirroredStrategy``; the trainer lives in its scope and
every batch is split across its replicas.

A population (:class:`TensorFlowPopulation`) trains many members of one
trainer in one ``tf.function``: the trainer's step on Keras's stateless
calls, vectorized over the members with ``tf.vectorized_map``.
"""

import contextlib
import functools
import os
import threading

import numpy as np
import scipy.sparse as sp

from ..objective import (
    Objective,
    all_layers,
    batch_loss,
    kernel_indices,
    regularization_loss,
    stateless_batch_loss,
)
from .base import Backend, VariableState

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
        self.spec, self.model, self.optimizer, self.metrics = spec, model, optimizer, metrics
        self._train_epoch, self._evaluate = _compile_functions(spec, model, optimizer, metrics)
        self._initial_metric_values = [[v.numpy() for v in m.variables] for m in metrics]
        # False: this trainer has no populations (see population_function).
        self._population_function = None

    def population_function(self):
        """The ``tf.function`` that trains a population's epoch (see
        :func:`_population_function`), or None where this trainer's members
        could not each train what its own fit trains; made once, so that
        later populations of this pooled trainer reuse its trace."""
        if self._population_function is None:
            self._population_function = _population_function(
                self.spec, self.model, self.optimizer, self.metrics, self._initial_metric_values
            )
        function = self._population_function
        return None if function is False else function

    def variables(self):
        """The state a population member holds: the model's trainable and
        non-trainable variables, and the optimizer's."""
        return (
            self.model.trainable_variables,
            self.model.non_trainable_variables,
            self.optimizer.variables,
        )

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


# ----------------------------------------------------------------------------
# Populations
# ----------------------------------------------------------------------------
def _stateless_optimizer(optimizer, variables):
    """A copy of ``optimizer``, built on ``variables``, whose ``apply`` runs
    inside a ``keras.StatelessScope``; None for what it cannot copy.

    Keras's TensorFlow optimizer has no ``stateless_apply``: it unwraps each
    variable to its ``tf.Variable`` (for ``tf.distribute``) and assigns it in
    place. The copy keeps the update (``update_step``) and everything
    ``apply`` does around it, but assigns through the Keras variables, which
    a stateless scope redirects, as Keras's other backends do. Exponential
    moving averages, gradient accumulation and weight decay go through more
    of the ``tf.distribute`` path, and are left out.
    """
    if optimizer.use_ema or optimizer.gradient_accumulation_steps:
        return None
    if optimizer.weight_decay:
        return None

    class StatelessOptimizer(type(optimizer)):
        def assign(self, variable, value):
            variable.assign(value)

        def assign_add(self, variable, value):
            variable.assign_add(value)

        def assign_sub(self, variable, value):
            variable.assign_sub(value)

        def _var_key(self, variable):
            # The Keras variable itself (TensorFlow's reads its value, which
            # in a stateless scope is a tensor).
            return id(variable)

        def _backend_update_step(self, grads, trainable_variables, learning_rate):
            for grad, variable in zip(grads, trainable_variables, strict=True):
                self.update_step(grad, variable, learning_rate)

    copy = StatelessOptimizer.from_config(optimizer.get_config())
    copy.build(variables)
    shapes = [tuple(v.shape) for v in copy.variables]
    if shapes != [tuple(v.shape) for v in optimizer.variables]:
        return None
    return copy


def _population_function(spec, model, optimizer, metrics, initial_metric_values):
    """Return the ``tf.function`` that trains one epoch of a population's
    members, or False where its members could not each train what their
    own fits train.

    ``train(state, X, y, sample_weight, index, mask, alphas, scales,
    offsets) -> (state, loss_sums, units_sums, metric_results)``: the
    state is ``(trainable, non-trainable, optimizer)`` values stacked along
    a leading member axis; ``index`` and ``mask`` (batches, members, width)
    give each batch's rows of the members' concatenated data and their
    weights (0: padding, or a member without that batch, whose state is
    then kept as it is). The trainer's step, on Keras's stateless calls, is
    vectorized over the members with ``tf.vectorized_map``; a while-loop
    runs the batches.
    """
    import keras
    import tensorflow as tf

    if spec.strategy is not None or spec.sparse_input:
        return False
    # A member's last batch may be padded to the others' width: rows of zero
    # weight, which batch statistics would count.
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in all_layers(model)):
        return False
    objective = Objective(spec)
    variables = list(model.trainable_variables)
    kernels = kernel_indices(model)
    stateless = _stateless_optimizer(optimizer, variables)
    if stateless is None:
        return False

    def apply(optimizer_values, gradients, trainable):
        mapping = list(zip(variables, trainable, strict=True)) + list(
            zip(stateless.variables, optimizer_values, strict=True)
        )
        gradients = [tf.convert_to_tensor(g) if g is not None else g for g in gradients]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            stateless.apply(gradients, variables)

        def current(variable, value):
            new = scope.get_current_value(variable)
            return value if new is None else new

        return (
            [current(v, x) for v, x in zip(variables, trainable, strict=True)],
            [current(v, x) for v, x in zip(stateless.variables, optimizer_values, strict=True)],
        )

    def member_step(inputs):
        (trainable, non_trainable, optimizer_values, metric_values), batch = inputs
        X, y, weights, mask, alpha, scale, offset = batch
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            loss, units, z, new_non_trainable = stateless_batch_loss(
                objective,
                model,
                kernels,
                trainable,
                non_trainable,
                (X, y, weights, alpha, scale, offset),
            )
        gradients = tape.gradient(loss, trainable)
        new_trainable, new_optimizer_values = apply(optimizer_values, gradients, trainable)
        new_metric_values = list(metric_values)
        inputs = objective.metric_inputs(metrics, y, z, scale, offset)
        for i, (metric, targets, predictions) in enumerate(inputs):
            new_metric_values[i] = metric.stateless_update_state(
                metric_values[i], targets, predictions, sample_weight=mask
            )
        size = tf.reduce_sum(mask)
        # A member without this batch keeps its state: no step, no drift.
        trains = size > 0
        new_state = tf.nest.map_structure(
            lambda new, old: tf.where(trains, tf.cast(new, old.dtype), old),
            (new_trainable, list(new_non_trainable), new_optimizer_values, new_metric_values),
            (trainable, non_trainable, optimizer_values, metric_values),
        )
        return new_state, (loss * size, units * size)

    def train(state, X, y, sample_weight, index, mask, alphas, scales, offsets):
        n_members = tf.shape(alphas)[0]
        metric_values = [
            [tf.tile(tf.constant(v)[None], [n_members] + [1] * np.ndim(v)) for v in values]
            for values in initial_metric_values
        ]
        zeros = tf.zeros([n_members], tf.float32)

        def batch_loop(batch, state, loss_sums, units_sums):
            rows, weights = index[batch], mask[batch]
            inputs = (
                tf.gather(X, rows),
                tf.gather(y, rows),
                tf.gather(sample_weight, rows) * weights,
                weights,
                alphas,
                scales,
                offsets,
            )
            # Random ops (dropout) have no vectorized form: TensorFlow runs
            # them member by member, in a loop, and would warn of it at every
            # trace; that loop is what keeps each member's own random stream.
            state, (losses, units) = tf.vectorized_map(member_step, (state, inputs), warn=False)
            return batch + 1, state, loss_sums + losses, units_sums + units

        _, state, loss_sums, units_sums = tf.while_loop(
            lambda batch, *_: batch < tf.shape(index)[0],
            batch_loop,
            (tf.constant(0), (*state, metric_values), zeros, zeros),
        )
        *state, metric_values = state
        results = [
            tf.vectorized_map(metric.stateless_result, values)
            for metric, values in zip(metrics, metric_values, strict=True)
        ]
        return tuple(state), loss_sums, units_sums, results

    def stacked(variables):
        return [tf.TensorSpec([None, *v.shape], v.dtype) for v in variables]

    target_dtype, target_shape = spec.target_signature
    scaling = tf.TensorSpec([None, *spec.scaling_shape], tf.float32)
    table = tf.TensorSpec([None, None, None], tf.int32)
    signature = [
        (
            stacked(model.trainable_variables),
            stacked(model.non_trainable_variables),
            stacked(optimizer.variables),
        ),
        tf.TensorSpec([None, *model.input_shape[1:]], tf.float32),
        tf.TensorSpec([None, *target_shape], tf.as_dtype(target_dtype)),
        tf.TensorSpec([None], tf.float32),
        table,
        tf.TensorSpec([None, None, None], tf.float32),
        tf.TensorSpec([None], tf.float32),
        scaling,
        scaling,
    ]
    # A partial: see _compile_functions.
    function = tf.function(functools.partial(train), input_signature=signature, autograph=False)
    try:
        function.get_concrete_function()
    except Exception:
        # A network or optimizer that Keras's stateless calls do not serve
        # here: its fits train one by one.
        return False
    return function


def _epoch_layout(permutations, starts, batch_size):
    """The rows of a population's epoch: ``(index, mask)``, each of shape
    (batches, members, width), rows of the members' concatenated data
    (``starts``: where each member's rows begin) and their weights.

    Each member's batches are its own fit's; a shorter batch is filled up
    with its own rows at zero weight (the loss is exact), and a member that
    does not train (permutation None) or whose epoch is over has weight 0.
    """
    sizes = [0 if p is None else len(p) for p in permutations]
    width = max(1, min(batch_size, max(sizes)))
    n_batches = max(-(-n // batch_size) for n in sizes)
    index = np.zeros((n_batches, len(sizes), width), dtype=np.int32)
    mask = np.zeros((n_batches, len(sizes), width), dtype=np.float32)
    slots = np.arange(width)
    for member, rows in enumerate(permutations):
        if not sizes[member]:
            continue
        rows = np.asarray(rows) + starts[member]
        n_used = -(-len(rows) // batch_size)
        firsts = np.arange(n_used) * batch_size
        counts = np.minimum(batch_size, len(rows) - firsts)
        index[:n_used, member] = rows[firsts[:, None] + slots % counts[:, None]]
        mask[:n_used, member] = slots < counts[:, None]
    return index, mask


class TensorFlowPopulation:
    """Members of one trainer's architecture, trained together.

    The trainer's step, on Keras's stateless calls and vectorized over a
    leading member axis (:func:`_population_function`): each member has its
    own weights, optimizer state (learning rate and momentum included),
    dropout rates and random stream, rows, batch order and L2 strength, so
    each trains what its own fit would.

    Parameters
    ----------
    engine : TensorFlowEngine
        The engine of the trainer whose members these are; its variables
        hold one member's state at a time for everything else a fit does
        (see :meth:`swap_in`).
    """

    def __init__(self, engine):
        self._engine = engine
        self._train = engine.population_function()
        self._members = []
        self._states = None
        self._data = None

    def add_member(self):
        """Add the engine's current state (a loaded trainer's) as a member;
        return its number."""
        self._members.append(
            tuple([v.numpy() for v in group] for group in self._engine.variables())
        )
        return len(self._members) - 1

    def _stacked(self):
        import tensorflow as tf

        if self._states is None:
            self._states = tuple(
                [tf.constant(np.stack(values)) for values in zip(*groups, strict=True)]
                for groups in zip(*self._members, strict=True)
            )
            self._members = None
        return self._states

    def swap_in(self, member):
        """Make the engine's variables hold ``member``'s state (to evaluate
        it, read or change its weights through the trainer)."""
        for variables, values in zip(self._engine.variables(), self._stacked(), strict=True):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value[member])

    def swap_out(self, member):
        """Take the engine's variables back as ``member``'s state."""
        import tensorflow as tf

        self._states = tuple(
            [
                tf.tensor_scatter_nd_update(stacked, [[member]], variable.value[None])
                for stacked, variable in zip(values, variables, strict=True)
            ]
            for values, variables in zip(self._stacked(), self._engine.variables(), strict=True)
        )

    def _concatenated(self, datas):
        """The members' data as one ``(X, y, sample_weight)``, and where each
        member's rows begin; made at the first epoch."""
        import tensorflow as tf

        if self._data is None:
            starts = np.cumsum([0] + [int(data[1].shape[0]) for data in datas[:-1]])
            parts = [tf.concat(list(part), axis=0) for part in zip(*datas, strict=True)]
            self._data = parts, starts
        return self._data

    def train_epoch(self, datas, permutations, batch_size, alphas, scales, offsets):
        """Train one epoch of every member whose permutation is not None.

        Returns ``(losses, units_losses, metrics)``: each member's mean loss
        and mean loss in the targets' units (NaN for a member that did not
        train), and its metrics' results, a dict (empty when it did not
        train).
        """
        (X, y, sample_weight), starts = self._concatenated(datas)
        index, mask = _epoch_layout(permutations, starts, batch_size)
        state, loss_sums, units_sums, results = self._train(
            self._stacked(),
            X,
            y,
            sample_weight,
            index,
            mask,
            np.asarray(alphas, dtype=np.float32),
            np.stack(scales),
            np.stack(offsets),
        )
        self._states = tuple(list(values) for values in state)
        sizes = np.array([0 if p is None else len(p) for p in permutations])
        totals = np.stack([loss_sums.numpy(), units_sums.numpy()])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = totals / np.where(sizes > 0, sizes, 0)
        results = [values.numpy() for values in results]
        metrics = [
            {
                metric.name: float(values[member])
                for metric, values in zip(self._engine.metrics, results, strict=True)
            }
            if sizes[member]
            else {}
            for member in range(len(permutations))
        ]
        return means[0], means[1], metrics


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

    def population(self, engine):
        """A :class:`TensorFlowPopulation` of ``engine``'s trainer, or None
        where its members could not each train what their own fits train
        (see :func:`_population_function`)."""
        if engine.population_function() is None:
            return None
        return TensorFlowPopulation(engine)


BACKEND = TensorFlowBackend()
