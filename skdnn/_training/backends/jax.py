"""Keras's JAX backend: its training engine, data parallelism and compiled
inference call.

An epoch runs as a few calls of one jitted function, each of which trains
on a chunk of up to ``MAX_BATCHES_PER_CALL`` batches with ``lax.fori_loop`` over
Keras's stateless APIs (``model.stateless_call``,
``optimizer.stateless_apply``, ``metric.stateless_update_state``). The
chunk's shape depends only on the batch size and the shape of a sample,
never on the number of samples: folds of a cross-validation, and the refit
on all the data, reuse one compilation. The host gathers each chunk's rows
in the epoch's order; the rows that pad a batch have zero weight, and the
batches that pad the last chunk are skipped.

Between the epochs of a fit, the engine keeps the state as the arrays the
last call returned, and writes them into the Keras variables only when the
trainer needs them there (:meth:`JaxEngine.sync`): assigning a dozen
variables costs more than a small network's epoch. The metrics' state never
leaves the engine; their results come from one jitted call.
"""

import numpy as np
import scipy.sparse as sp

from ..objective import Objective, kernel_indices, stateless_batch_loss
from .base import Backend

# Bytes of samples per compiled call (bounds the host-side chunk), and the
# most batches per call. A call always takes that many batches (the unused
# ones are skipped), so that every data-set size shares one compilation; 16
# keeps what a small data set sends per call small (64 made the small fit's
# epoch a third slower) while a large one still needs few calls.
CHUNK_BYTES = 16 * 2**20
MAX_BATCHES_PER_CALL = 16
# Rows per evaluation call, at most (the call's shape is fixed, the rows
# beyond the data are masked).
EVALUATE_ROWS = 4096


def _bucket(n):
    """The smallest power of two >= n (at least 1): the sizes a shape may take."""
    return 1 << max(int(n) - 1, 0).bit_length()


class JaxEngine:
    """Compiled epochs and evaluation of one trainer on JAX.

    Parameters
    ----------
    spec : TrainerSpec
    model, optimizer, metrics
        The trainer's own, built.
    """

    def __init__(self, spec, model, optimizer, metrics):
        self.model, self.optimizer, self.metrics = model, optimizer, metrics
        self._sharding = _batch_sharding(spec.strategy)
        import jax

        # The functions as written, for a population to vectorize, and jitted.
        self.functions = _step_functions(spec, model, optimizer, metrics, self._sharding)
        self._train_chunk, self._evaluate_chunk, self._metric_results = map(jax.jit, self.functions)
        self._population_functions = None
        # The weights and optimizer state newer than the Keras variables
        # (None: the variables hold the state), and the metrics' state.
        self._live = None
        self._initial_metric_values = [[v.value for v in m.variables] for m in metrics]
        self._metric_values = self._initial_metric_values

    def population_functions(self):
        """The jitted ``(train_chunk, metric_results)`` vectorized over a
        population's members (see :class:`JaxPopulation`); made once, so that
        later populations of this pooled trainer reuse their compilations."""
        if self._population_functions is None:
            import jax

            train_chunk, _, metric_results = self.functions
            # Two programs: members with their own number of batches (a
            # batched trip count: every step selects, member by member,
            # whether it trained), and all members with the same number,
            # which skips that selection of the whole state at every step.
            shared_count = (0, 0, 0, 0, 0, None, 0, 0, 0)
            self._population_functions = (
                jax.jit(jax.vmap(train_chunk)),
                jax.jit(jax.vmap(train_chunk, in_axes=shared_count)),
                jax.jit(jax.vmap(metric_results)),
            )
        return self._population_functions

    # -- data ------------------------------------------------------------
    def data(self, X, y, sample_weight):
        """The training data, on the host: each epoch gathers its chunks."""
        if sp.issparse(X):
            X = _SparseRows(X)
        else:
            X = np.asarray(X)
        return X, np.asarray(y), np.asarray(sample_weight, dtype=np.float32)

    def _row_bytes(self, X):
        return X.row_bytes if isinstance(X, _SparseRows) else 4 * int(np.prod(X.shape[1:]))

    def _gather(self, X, rows, n_rows):
        """Rows ``rows`` of X as float32 (dense or padded CSR), ``n_rows`` long."""
        if isinstance(X, _SparseRows):
            return X.gather(rows, n_rows)
        out = np.zeros((n_rows, *X.shape[1:]), dtype=np.float32)
        if X.dtype == np.float32:
            np.take(X, rows, axis=0, out=out[: len(rows)])
        else:
            out[: len(rows)] = X[rows]
        return out

    # -- state -----------------------------------------------------------
    def _weights(self):
        """``(trainable, non-trainable, optimizer)`` values, the newest."""
        if self._live is not None:
            return self._live
        return (
            [v.value for v in self.model.trainable_variables],
            [v.value for v in self.model.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
        )

    def sync(self):
        """Write the state of the last epochs into the Keras variables.

        The trainer calls this before it reads or assigns any variable.
        """
        if self._live is None:
            return
        for variables, values in zip(
            (
                self.model.trainable_variables,
                self.model.non_trainable_variables,
                self.optimizer.variables,
            ),
            self._live,
            strict=True,
        ):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
        self._live = None

    # -- metrics ---------------------------------------------------------
    def reset_metrics(self):
        self._metric_values = self._initial_metric_values

    def metric_results(self):
        """``{name: value}`` of the metrics since :meth:`reset_metrics`."""
        if not self.metrics:
            return {}
        values = self._metric_results(self._metric_values)
        return {
            metric.name: float(value) for metric, value in zip(self.metrics, values, strict=True)
        }

    # -- training --------------------------------------------------------
    def train_epoch(self, data, permutation, batch_size, alpha, scale, offset):
        """Run one epoch over the rows ``permutation``; return the mean loss
        and the mean loss in the targets' units (see :meth:`Objective.losses`)."""
        X, y, sample_weight = data
        n_samples = len(permutation)
        n_batches = -(-n_samples // batch_size)
        width, per_call = self.layout(X, n_samples, batch_size)
        state = (*self._weights(), self._metric_values)
        # The calls' loss sums stay on the device until the epoch ends: the
        # host gathers the next chunk while the device trains on this one.
        sums = []
        for first in range(0, n_batches, per_call):
            index, mask, n_used = _chunk_layout(permutation, first, batch_size, width, per_call)
            # Only the batches that train: the skipped ones stay zeros.
            features = self._gather(X, index[:n_used].reshape(-1), per_call * width)
            state, (loss_sum, units_sum) = self._train_chunk(
                state,
                _reshape(features, (per_call, width)),
                y[index],
                sample_weight[index] * mask,
                mask,
                np.int32(n_used),
                np.float32(alpha),
                scale,
                offset,
            )
            sums.append((loss_sum, units_sum))
        total = units_total = 0.0
        for loss_sum, units_sum in sums:
            total += float(loss_sum)
            units_total += float(units_sum)
        *self._live, self._metric_values = state
        self._live = tuple(self._live)
        return total / n_samples, units_total / n_samples

    def layout(self, X, n_samples, batch_size):
        """``(width, per_call)``: the padded batch width and the batches per
        compiled call of an epoch over ``n_samples`` rows of ``X``."""
        n_batches = -(-n_samples // batch_size)
        # A batch of the whole (small) data set is padded to a power of two:
        # data sets of similar sizes then share one compilation.
        width = _bucket(batch_size) if n_batches == 1 else batch_size
        per_call = int(
            np.clip(CHUNK_BYTES // max(width * self._row_bytes(X), 1), 1, MAX_BATCHES_PER_CALL)
        )
        return width, per_call

    def evaluate(self, X, y, sample_weight, scale, offset):
        """Return the weighted sums of the losses on ``X``, as is and in the
        targets' units, updating the metrics."""
        sparse = sp.issparse(X)
        rows_per_call = min(_bucket(X.shape[0]), EVALUATE_ROWS)
        X = _SparseRows(X) if sparse else X
        trainable, non_trainable, _ = self._weights()
        metric_values = self._metric_values
        total = units_total = 0.0
        for start in range(0, y.shape[0], rows_per_call):
            rows = np.arange(start, min(start + rows_per_call, y.shape[0]))
            n_real = len(rows)
            weights = np.zeros(rows_per_call, dtype=np.float32)
            weights[:n_real] = sample_weight[rows]
            mask = np.zeros(rows_per_call, dtype=np.float32)
            mask[:n_real] = 1.0
            targets = np.zeros((rows_per_call, *y.shape[1:]), dtype=y.dtype)
            targets[:n_real] = y[rows]
            features = self._gather(X, rows, rows_per_call)
            metric_values, (loss_sum, units_sum) = self._evaluate_chunk(
                trainable,
                non_trainable,
                metric_values,
                features,
                targets,
                weights,
                mask,
                scale,
                offset,
            )
            total += float(loss_sum)
            units_total += float(units_sum)
        self._metric_values = metric_values
        return total, units_total


def _chunk_layout(permutation, first, batch_size, width, per_call):
    """The rows of one compiled call, from batch ``first`` of the epoch's
    order ``permutation``: ``(index, mask, n_used)``, the (per_call, width)
    row numbers and weights, and the number of batches that train.

    Each batch is filled up with its own rows at zero weight: the loss is
    exact, and batch statistics see real samples only. Batches past the
    epoch's end are skipped.
    """
    rows = permutation[first * batch_size : (first + per_call) * batch_size]
    n_used = -(-len(rows) // batch_size)
    starts = np.arange(n_used) * batch_size
    counts = np.minimum(batch_size, len(rows) - starts)
    slots = np.arange(width)
    index = np.zeros((per_call, width), dtype=np.intp)
    mask = np.zeros((per_call, width), dtype=np.float32)
    if n_used:
        index[:n_used] = rows[starts[:, None] + slots % counts[:, None]]
        mask[:n_used] = slots < counts[:, None]
    return index, mask, n_used


def _reshape(features, shape):
    """Split a chunk's rows into ``shape`` = (batches, batch size)."""
    if isinstance(features, tuple):  # padded CSR rows: (values, columns)
        return tuple(part.reshape(*shape, *part.shape[1:]) for part in features)
    return features.reshape(*shape, *features.shape[1:])


class _SparseRows:
    """A CSR matrix whose rows are gathered as fixed-width padded arrays.

    Each row becomes ``width`` (values, columns) pairs, zero-padded; the
    width is the longest row's length rounded up to a power of two, so that
    data sets of similar sparsity share a compilation.
    """

    def __init__(self, X):
        X = X.tocsr()
        self.shape = X.shape
        self.data = X.data.astype(np.float32, copy=False)
        self.indices = X.indices.astype(np.int32, copy=False)
        self.indptr = X.indptr
        self.width = _bucket(int(np.diff(X.indptr).max(initial=0)))
        self.row_bytes = 8 * self.width

    def gather(self, rows, n_rows):
        starts = self.indptr[rows]
        lengths = self.indptr[np.asarray(rows) + 1] - starts
        offsets = np.arange(self.width)
        valid = offsets < lengths[:, None]
        positions = np.where(valid, starts[:, None] + offsets, 0)
        values = np.zeros((n_rows, self.width), dtype=np.float32)
        columns = np.zeros((n_rows, self.width), dtype=np.int32)
        if len(self.data):
            values[: len(rows)] = np.where(valid, self.data[positions], 0.0)
            columns[: len(rows)] = np.where(valid, self.indices[positions], 0)
        return values, columns


def _batch_sharding(strategy):
    """For ``distribution="mirrored"`` on several JAX devices: the sharding
    that splits each batch across them (gradients are then summed by XLA)."""
    if strategy is None:
        return None
    import jax

    devices = jax.devices()
    if len(devices) < 2:
        return None
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))


def _step_functions(spec, model, optimizer, metrics, sharding):
    """Return the pure ``(train_chunk, evaluate_chunk, metric_results)`` of a trainer.

    A module-level function, so that the compiled functions hold the model,
    optimizer and metrics, never the trainer.
    """
    import jax
    import keras
    from jax.experimental import sparse as jax_sparse

    objective = Objective(spec)
    kernels = kernel_indices(model)
    n_features = int(np.prod(spec.network.input_shape[1:]))

    def as_input(features):
        if not spec.sparse_input:
            return features
        values, columns = features
        n_rows, width = values.shape
        rows = jax.numpy.repeat(jax.numpy.arange(n_rows, dtype=columns.dtype), width)
        coordinates = jax.numpy.stack([rows, columns.reshape(-1)], axis=1)
        return jax_sparse.BCOO((values.reshape(-1), coordinates), shape=(n_rows, n_features))

    def update_metrics(metric_values, y, z, mask, scale, offset):
        updated = list(metric_values)
        inputs = objective.metric_inputs(metrics, y, z, scale, offset)
        for i, (metric, targets, predictions) in enumerate(inputs):
            updated[i] = metric.stateless_update_state(
                updated[i], targets, predictions, sample_weight=mask
            )
        return updated

    def train_chunk(state, X, y, weights, mask, n_batches, alpha, scale, offset):
        def step(batch, carry):
            trainable, non_trainable, optimizer_values, metric_values, total = carry
            X_batch = jax.tree_util.tree_map(lambda part: part[batch], X)
            if sharding is not None:
                X_batch = jax.lax.with_sharding_constraint(X_batch, sharding)
            y_batch, w_batch, m_batch = y[batch], weights[batch], mask[batch]

            def loss_of(trainable, non_trainable):
                batch = (as_input(X_batch), y_batch, w_batch, alpha, scale, offset)
                loss, units, z, non_trainable = stateless_batch_loss(
                    objective, model, kernels, trainable, non_trainable, batch
                )
                return loss, (z, non_trainable, units)

            (loss, (z, non_trainable, units)), gradients = jax.value_and_grad(
                loss_of, has_aux=True
            )(trainable, non_trainable)
            trainable, optimizer_values = optimizer.stateless_apply(
                optimizer_values, gradients, trainable
            )
            metric_values = update_metrics(metric_values, y_batch, z, m_batch, scale, offset)
            size = keras.ops.sum(m_batch)
            total = (total[0] + loss * size, total[1] + units * size)
            return trainable, non_trainable, optimizer_values, metric_values, total

        trainable, non_trainable, optimizer_values, metric_values = state
        zero = np.float32(0.0)
        carry = (trainable, non_trainable, optimizer_values, metric_values, (zero, zero))
        *state, total = jax.lax.fori_loop(0, n_batches, step, carry)
        return tuple(state), total

    def evaluate_chunk(trainable, non_trainable, metric_values, X, y, weights, mask, scale, offset):
        z, _ = model.stateless_call(trainable, non_trainable, as_input(X), training=False)
        metric_values = update_metrics(metric_values, y, z, mask, scale, offset)
        data_loss, _, units_loss = objective.losses(y, z, weights, (), 0.0, scale, offset)
        return metric_values, (data_loss, units_loss)

    def metric_results(metric_values):
        return [
            metric.stateless_result(values)
            for metric, values in zip(metrics, metric_values, strict=True)
        ]

    return train_chunk, evaluate_chunk, metric_results


class JaxPopulation:
    """Members of one trainer's architecture, trained together.

    The trainer's own step (:func:`_step_functions`), vectorized over a
    leading member axis with ``jax.vmap`` and jitted: each member has its own
    weights, optimizer state (learning rate and momentum included), dropout
    rates and seeds, rows, batch order and L2 strength, so each trains what
    its own fit would. A member that has no batches in an epoch (stopped,
    or done) keeps its state: ``lax.fori_loop``'s trip count is per member.

    Parameters
    ----------
    engine : JaxEngine
        The engine of the trainer whose members these are; it holds one
        member's state at a time for everything else a fit does (see
        :meth:`swap_in`).
    """

    def __init__(self, engine):
        self._engine = engine
        self._train_chunk, self._train_chunk_shared, self._metric_results = (
            engine.population_functions()
        )
        self._members = []
        self._states = None

    def add_member(self):
        """Add the engine's current state (a loaded trainer's) as a member;
        return its number."""
        self._members.append(tuple(self._engine._weights()))
        return len(self._members) - 1

    def _stacked(self):
        import jax
        import jax.numpy as jnp

        if self._states is None:
            self._states = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *self._members)
            self._members = None
        return self._states

    def swap_in(self, member):
        """Make the engine hold ``member``'s state (to evaluate it, read or
        change its weights through the trainer)."""
        import jax

        self._engine._live = jax.tree_util.tree_map(lambda x: x[member], self._stacked())

    def swap_out(self, member):
        """Take the engine's state back as ``member``'s."""
        import jax

        values = tuple(self._engine._weights())
        self._states = jax.tree_util.tree_map(
            lambda stacked, x: stacked.at[member].set(x), self._stacked(), values
        )

    def train_epoch(self, datas, permutations, batch_size, alphas, scales, offsets):
        """Train one epoch of every member whose permutation is not None.

        Returns ``(losses, units_losses, metrics)``: each member's mean loss
        and mean loss in the targets' units (NaN for a member that did not
        train), and its metrics' results, a dict (empty when it did not
        train).
        """
        import jax

        states = self._stacked()
        n_members = len(permutations)
        active = [p is not None for p in permutations]
        sizes = np.array([len(p) if p is not None else 0 for p in permutations])
        some = next(i for i in range(n_members) if active[i])
        width, per_call = self._engine.layout(datas[some][0], int(sizes[some]), batch_size)
        n_batches = int(max(-(-n // batch_size) for n in sizes))
        metric_values = self._engine._initial_metric_values
        metric_values = jax.tree_util.tree_map(
            lambda x: np.broadcast_to(np.asarray(x), (n_members, *np.shape(x))), metric_values
        )
        state = (*states, metric_values)
        totals = np.zeros((2, n_members))
        sums = []
        empty = np.zeros(0, dtype=np.intp)
        for first in range(0, n_batches, per_call):
            parts = []
            for member in range(n_members):
                X, y, sample_weight = datas[member]
                rows = permutations[member] if active[member] else empty
                index, mask, n_used = _chunk_layout(rows, first, batch_size, width, per_call)
                # Only the batches that train: the others stay zeros.
                features = _reshape(
                    self._engine._gather(X, index[:n_used].reshape(-1), per_call * width),
                    (per_call, width),
                )
                parts.append(
                    (features, y[index], sample_weight[index] * mask, mask, np.int32(n_used))
                )
            features, y, weights, masks, n_used = (
                jax.tree_util.tree_map(lambda *xs: np.stack(xs), *column)
                for column in zip(*parts, strict=True)
            )
            counts = {int(n) for n, on in zip(n_used, active, strict=True) if on}
            if len(counts) == 1 and all(active):
                train_chunk, n_used = self._train_chunk_shared, np.int32(counts.pop())
            else:
                train_chunk = self._train_chunk
            state, (loss_sums, units_sums) = train_chunk(
                state,
                features,
                y,
                weights,
                masks,
                n_used,
                np.asarray(alphas, dtype=np.float32),
                np.stack(scales),
                np.stack(offsets),
            )
            sums.append((loss_sums, units_sums))
        # Read once the epoch is queued (see JaxEngine.train_epoch).
        for loss_sums, units_sums in sums:
            totals += np.stack([np.asarray(loss_sums), np.asarray(units_sums)])
        *states, metric_values = state
        self._states = tuple(states)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = totals / np.where(sizes > 0, sizes, 0)
        metrics = [{} for _ in range(n_members)]
        if self._engine.metrics:
            results = self._metric_results(metric_values)
            results = [np.asarray(values) for values in results]
            for member in range(n_members):
                if active[member]:
                    metrics[member] = {
                        metric.name: float(values[member])
                        for metric, values in zip(self._engine.metrics, results, strict=True)
                    }
        return means[0], means[1], metrics


class JaxBackend(Backend):
    """Keras's JAX backend (see :class:`~skdnn._training.backends.base.Backend`)."""

    name = "jax"
    Engine = JaxEngine
    sparse_tensors = True

    def size_thread_pools(self, budget):
        """Nothing: XLA sizes its CPU thread pool when JAX starts
        (``XLA_FLAGS``), and offers no way to change it afterwards."""

    def strategy(self, distribution):
        """None, or ``"mirrored"``: each batch is split across JAX's devices
        (see :func:`_batch_sharding`)."""
        if distribution is None:
            return None
        if distribution != "mirrored":
            raise ValueError(
                f"distribution={distribution!r} is a TensorFlow strategy, but Keras "
                f"runs on JAX. Use distribution='mirrored' (each batch is split across "
                f"JAX's devices) or KERAS_BACKEND=tensorflow."
            )
        return "mirrored"

    def compiled_call(self, network_ref):
        """A jitted ``network(batch)``: one compilation per batch shape (the
        inference pads its calls to a few shapes)."""
        import jax

        @jax.jit
        def call(trainable, non_trainable, batch):
            outputs, _ = network_ref().stateless_call(
                trainable, non_trainable, batch, training=False
            )
            return outputs

        def run(batch):
            network = network_ref()
            outputs = call(
                [v.value for v in network.trainable_variables],
                [v.value for v in network.non_trainable_variables],
                batch,
            )
            return np.asarray(outputs)

        return run

    def population(self, engine):
        """A :class:`JaxPopulation` of ``engine``'s trainer."""
        return JaxPopulation(engine)

    def free_device_bytes(self):
        """What JAX's allocator has left on the default device (a GPU's
        memory); None on a CPU, which reports no limit."""
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "bytes_limit" not in stats:
            return None
        return max(int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)), 0)

    def to_numpy(self, variable):
        """``variable.numpy()`` goes through an ``__array__`` that NumPy 2
        warns about; the array it holds converts cleanly."""
        return np.array(variable.value)


BACKEND = JaxBackend()
