"""Keras's PyTorch backend: its training engine, threads, inference call and
``.keras`` files.

PyTorch runs eagerly: an epoch is a Python loop over batches, each a
forward pass of the Keras model, ``torch.autograd.grad`` for the gradients
and ``optimizer.apply`` under ``torch.no_grad()``, as in Keras's guide
"Writing a training loop from scratch in PyTorch". Nothing is compiled, so
a new architecture starts training at once; the cost is Python's overhead
per batch.

Dense samples are held in one tensor on Keras's device and each batch is
gathered from it by index. Keras's torch backend has no sparse tensors: the
rows of a SciPy sparse matrix are gathered on the host for each batch and
only that batch is made dense, never the whole matrix.

A population (:class:`TorchPopulation`) trains many members of one trainer
at once: their weights and optimizer states stacked along a leading member
axis, each batch step one call of the trainer's step written on Keras's
stateless APIs (``model.stateless_call``, ``optimizer.stateless_apply``,
``metric.stateless_update_state``) and vectorized with ``torch.func.vmap``.
"""

import numpy as np
import scipy.sparse as sp

from ..objective import (
    Objective,
    batch_loss,
    kernel_indices,
    regularization_loss,
    stateless_batch_loss,
)
from .base import Backend, VariableState

# Bytes of dense samples per evaluation call: bounds the dense copy of a
# sparse validation chunk and the activations' memory.
EVALUATE_BYTES = 16 * 2**20


class TorchEngine(VariableState):
    """Eager epochs and evaluation of one trainer on PyTorch.

    Parameters
    ----------
    spec : TrainerSpec
    model, optimizer, metrics
        The trainer's own, built.
    """

    def __init__(self, spec, model, optimizer, metrics):
        import torch

        self.model, self.optimizer, self.metrics = model, optimizer, metrics
        self.spec = spec
        self._objective = Objective(spec)
        self._trainable = model.trainable_variables
        self._kernels = [self._trainable[i] for i in kernel_indices(model)]
        self._row_bytes = 4 * int(np.prod(spec.network.input_shape[1:]))
        self._torch = torch
        self._population_step = None

    def population_step(self):
        """The trainer's batch step vectorized over a population's members
        (see :func:`_population_step`), or None where it cannot be; made once,
        so that later populations of this pooled trainer reuse the answer."""
        if self._population_step is None:
            self._population_step = _population_step(self) or False
        return self._population_step or None

    # -- data ------------------------------------------------------------
    def _tensor(self, array, dtype=None):
        """``array`` as a tensor on Keras's device (shared with NumPy on the CPU
        when its dtype already fits)."""
        import keras

        return keras.ops.convert_to_tensor(np.ascontiguousarray(array), dtype=dtype)

    def data(self, X, y, sample_weight):
        """The training data: dense samples as one float32 tensor, sparse
        ones as a CSR matrix on the host (see :meth:`_batch`)."""
        if sp.issparse(X):
            X = X.tocsr().astype(np.float32, copy=False)
        else:
            X = self._tensor(np.asarray(X, dtype=np.float32))
        return X, self._tensor(y), self._tensor(sample_weight, "float32")

    def _batch(self, X, rows, indices):
        """The samples ``rows`` (a NumPy array; ``indices``, the same on the
        device) of X, dense."""
        if sp.issparse(X):
            return self._tensor(X[rows].toarray())
        return self._torch.index_select(X, 0, indices)

    # -- training --------------------------------------------------------
    def _metric_update(self, y, z, scale, offset):
        inputs = self._objective.metric_inputs(self.metrics, y, z, scale, offset)
        for metric, targets, predictions in inputs:
            try:
                metric.update_state(targets, predictions)
            except RuntimeError as error:
                # A torch error inside Keras's metric (e.g. a top-k metric
                # with k above the number of classes, which Keras allows
                # on its other backends): name the metric instead.
                raise ValueError(
                    f"Keras's torch backend cannot compute the metric {metric.name!r} here: "
                    f"{error}. Remove it from metrics, or use another Keras backend."
                ) from error

    def train_epoch(self, data, permutation, batch_size, alpha, scale, offset):
        """Run one epoch over the rows ``permutation``; return the mean loss
        and the mean loss in the targets' units (see :meth:`Objective.losses`)."""
        torch = self._torch
        X, y, sample_weight = data
        model, objective, trainable = self.model, self._objective, self._trainable
        parameters = [v.value for v in trainable]
        scale, offset = self._tensor(scale, "float32"), self._tensor(offset, "float32")
        order = self._tensor(permutation, "int64")
        total = torch.zeros((), device=order.device)
        units_total = torch.zeros((), device=order.device)
        for start in range(0, len(permutation), batch_size):
            indices = order[start : start + batch_size]
            X_batch = self._batch(X, permutation[start : start + batch_size], indices)
            y_batch = torch.index_select(y, 0, indices)
            weights = torch.index_select(sample_weight, 0, indices)
            z = model(X_batch, training=True)
            data_loss, penalty, units_loss = objective.losses(
                y_batch, z, weights, self._kernels, alpha, scale, offset
            )
            weight_total = torch.sum(weights)
            loss = batch_loss(data_loss, penalty, weight_total) + regularization_loss(model.losses)
            gradients = torch.autograd.grad(loss, parameters, allow_unused=True)
            with torch.no_grad():
                self.optimizer.apply(list(gradients), trainable)
                self._metric_update(y_batch, z.detach(), scale, offset)
                total += loss.detach() * len(indices)
                units_total += batch_loss(units_loss.detach(), 0.0, weight_total) * len(indices)
        return float(total) / len(permutation), float(units_total) / len(permutation)

    def evaluate(self, X, y, sample_weight, scale, offset):
        """Return the weighted sums of the losses on ``X`` (a float32 array
        or a SciPy sparse matrix), as is and in the targets' units, updating
        the metrics."""
        torch = self._torch
        scale, offset = self._tensor(scale, "float32"), self._tensor(offset, "float32")
        rows_per_call = max(1, EVALUATE_BYTES // max(self._row_bytes, 1))
        total = units_total = 0.0
        with torch.no_grad():
            for start in range(0, y.shape[0], rows_per_call):
                chunk = slice(start, start + rows_per_call)
                features = X[chunk].toarray() if sp.issparse(X) else X[chunk]
                targets = self._tensor(y[chunk])
                z = self.model(self._tensor(features, "float32"), training=False)
                self._metric_update(targets, z, scale, offset)
                weights = self._tensor(sample_weight[chunk], "float32")
                data_loss, _, units_loss = self._objective.losses(
                    targets, z, weights, (), 0.0, scale, offset
                )
                total += float(data_loss)
                units_total += float(units_loss)
        return total, units_total


def _population_step(engine):
    """The engine's batch step vectorized over a population's members (see
    :func:`_vectorized_step`), with the trainer's optimizer or, where
    ``torch.func.vmap`` cannot vectorize its update, its backend-neutral
    twin (see :func:`_vectorizable_twin`); None when neither can be."""
    step = _vectorized_step(engine, engine.optimizer)
    if step is None:
        twin = _vectorizable_twin(engine.optimizer, engine.model)
        if twin is not None:
            step = _vectorized_step(engine, twin)
    return step


def _vectorizable_twin(optimizer, model):
    """Keras's backend-neutral version of one of its PyTorch optimizers, or None.

    On PyTorch, Keras makes ``keras.optimizers.Adam`` (and RMSprop, Adagrad,
    ...) an instance of a subclass that updates all slots at once with
    in-place ``torch._foreach_*`` ops, which ``torch.func.vmap`` cannot
    vectorize. A subclass of the public class keeps Keras's own
    ``update_step``, written on ``keras.ops``: the same update, its
    floating-point roundings aside, on the same variables in the same order.
    """
    import keras

    name = type(optimizer).__name__
    public = getattr(keras.optimizers, name, None)
    if (
        public is None
        or not isinstance(optimizer, public)
        or not type(optimizer).__module__.startswith("keras.src.backend.torch.")
    ):
        return None
    twin = type(name, (public,), {}).from_config(optimizer.get_config())
    twin.build(model.trainable_variables)
    if [tuple(v.shape) for v in twin.variables] != [tuple(v.shape) for v in optimizer.variables]:
        return None
    return twin


def _vectorized_step(engine, optimizer):
    """Return ``step(state, X, y, weights, alpha, scale, offset)``, the
    engine's batch step vectorized over a leading member axis, or None when
    ``torch.func.vmap`` cannot vectorize it.

    ``state`` is the flat list of the trainable, non-trainable, optimizer
    and metric values (see :class:`TorchPopulation`); the step returns it
    updated, and each member's loss and loss in the targets' units. It
    computes what :meth:`TorchEngine.train_epoch` computes for one batch.
    ``optimizer`` updates the engine's optimizer variables (the engine's
    own, or its twin). Some steps cannot be vectorized: a random layer
    (dropout) seeds a ``torch.Generator`` from its state's value, which
    vmap cannot read per member. A trial step on two members tells.
    """
    import torch

    model, metrics = engine.model, engine.metrics
    objective = engine._objective
    kernels = kernel_indices(model)
    counts = [
        len(model.trainable_variables),
        len(model.non_trainable_variables),
        len(optimizer.variables),
    ]
    metric_counts = [len(metric.variables) for metric in metrics]

    def step(state, X, y, weights, alpha, scale, offset):
        trainable, non_trainable, optimizer_values, metric_values = _split(
            state, counts, metric_counts
        )

        def loss_of(trainable, non_trainable):
            batch = (X, y, weights, alpha, scale, offset)
            loss, units, z, non_trainable = stateless_batch_loss(
                objective, model, kernels, trainable, non_trainable, batch
            )
            return loss, (z, non_trainable, loss, units)

        gradients, (z, non_trainable, loss, units) = torch.func.grad(loss_of, has_aux=True)(
            trainable, non_trainable
        )
        trainable, optimizer_values = optimizer.stateless_apply(
            optimizer_values, gradients, trainable
        )
        inputs = objective.metric_inputs(metrics, y, z, scale, offset)
        metric_values = [
            metric.stateless_update_state(values, targets, predictions)
            for values, (metric, targets, predictions) in zip(metric_values, inputs, strict=True)
        ]
        state = [*trainable, *non_trainable, *optimizer_values]
        for values in metric_values:
            state.extend(values)
        return state, loss, units

    vectorized = torch.func.vmap(step)

    def run(*args):
        # func.grad takes its own gradients; nothing else needs a graph.
        with torch.no_grad():
            return vectorized(*args)

    spec = engine.spec
    try:
        state = [
            torch.stack([v.value.detach()] * 2)
            for v in (
                *model.trainable_variables,
                *model.non_trainable_variables,
                *optimizer.variables,
                *(v for metric in metrics for v in metric.variables),
            )
        ]
        dtype, target_shape = spec.target_signature
        X = engine._tensor(np.zeros((2, 2, *spec.network.input_shape[1:]), np.float32))
        y = engine._tensor(np.zeros((2, 2, *target_shape), dtype))
        ones = engine._tensor(np.ones((2, 2), np.float32))
        scale = engine._tensor(np.ones((2, *spec.scaling_shape), np.float32))
        run(state, X, y, ones, ones[:, 0] * 0, scale, scale * 0)
    except Exception:
        return None
    return run


def _split(state, counts, metric_counts):
    """``(trainable, non-trainable, optimizer, metrics)`` of a flat state
    (the metrics' values a list per metric)."""
    parts, start = [], 0
    for count in (*counts, *metric_counts):
        parts.append(list(state[start : start + count]))
        start += count
    return (*parts[:3], parts[3:])


class TorchPopulation:
    """Members of one trainer's architecture, trained together.

    Each member's weights, optimizer state (its learning rate, momentum and
    step count included) and metric state are stacked along a leading axis;
    each batch step trains the members with a batch at that step in one
    vectorized call (:func:`_population_step`). Batches are not padded: the
    members whose batches have the same number of rows share a call, so
    that each member sees the batches its own fit sees (batch statistics
    included), and a member without a batch (stopped, or done) is left out
    of the call and keeps its state.

    Parameters
    ----------
    engine : TorchEngine
        The engine of the trainer whose members these are; its Keras
        variables hold one member's state at a time for everything else a
        fit does (see :meth:`swap_in`).
    step : callable
        The engine's :meth:`TorchEngine.population_step`.
    """

    def __init__(self, engine, step):
        self._engine, self._step = engine, step
        model = engine.model
        self._variables = [
            *model.trainable_variables,
            *model.non_trainable_variables,
            *engine.optimizer.variables,
        ]
        engine.reset_metrics()
        self._initial_metric_values = [
            v.value.detach().clone() for metric in engine.metrics for v in metric.variables
        ]
        self._members = []
        self._states = None
        self._data = None

    def add_member(self):
        """Add the engine's current state (a loaded trainer's) as a member;
        return its number."""
        self._members.append([v.value.detach().clone() for v in self._variables])
        return len(self._members) - 1

    def _stacked(self):
        import torch

        if self._states is None:
            self._states = [torch.stack(values) for values in zip(*self._members, strict=True)]
            self._members = None
        return self._states

    def swap_in(self, member):
        """Make the engine hold ``member``'s state (to evaluate it, read or
        change its weights through the trainer)."""
        for variable, stacked in zip(self._variables, self._stacked(), strict=True):
            variable.assign(stacked[member])

    def swap_out(self, member):
        """Take the engine's state back as ``member``'s."""
        import torch

        with torch.no_grad():
            for variable, stacked in zip(self._variables, self._stacked(), strict=True):
                stacked[member].copy_(variable.value)

    def _rows(self, datas):
        """The members' data, each distinct array once, concatenated; and
        where each member's rows start in it."""
        import torch

        if self._data is None or self._data[0] is not datas:
            parts, starts, seen = [], [], {}
            total = 0
            for X, y, weights in datas:
                if id(X) not in seen:
                    seen[id(X)] = total
                    parts.append((X, y, weights))
                    total += y.shape[0]
                starts.append(seen[id(X)])
            if any(sp.issparse(part[0]) for part in parts):
                X = sp.vstack([part[0] for part in parts], format="csr")
            else:
                X = torch.cat([part[0] for part in parts])
            y = torch.cat([part[1] for part in parts])
            weights = torch.cat([part[2] for part in parts])
            self._data = (datas, X, y, weights, np.array(starts))
        return self._data[1:]

    def train_epoch(self, datas, permutations, batch_size, alphas, scales, offsets):
        """Train one epoch of every member whose permutation is not None.

        Returns ``(losses, units_losses, metrics)``: each member's mean loss
        and mean loss in the targets' units (NaN for a member that did not
        train), and its metrics' results, a dict (empty when it did not
        train).
        """
        import torch

        engine = self._engine
        states = self._stacked()
        n_members = len(permutations)
        X, y, weights, starts = self._rows(datas)
        n_state = len(states)
        states = states + [
            torch.stack([value] * n_members) for value in self._initial_metric_values
        ]
        alphas = engine._tensor(np.asarray(alphas, dtype=np.float32))
        scales = engine._tensor(np.stack(scales).astype(np.float32))
        offsets = engine._tensor(np.stack(offsets).astype(np.float32))
        totals = torch.zeros((2, n_members), device=alphas.device)
        sizes = [0 if p is None else len(p) for p in permutations]
        for start in range(0, max(sizes), batch_size):
            # The members with a batch at this step, by its number of rows.
            groups = {}
            for member, size in enumerate(sizes):
                if size > start:
                    groups.setdefault(min(batch_size, size - start), []).append(member)
            for n_rows, members in groups.items():
                rows = np.concatenate(
                    [permutations[m][start : start + n_rows] + starts[m] for m in members]
                )
                indices = engine._tensor(rows, "int64")
                shape = (len(members), n_rows)
                X_batch = engine._batch(X, rows, indices)
                X_batch = X_batch.reshape(*shape, *X_batch.shape[1:])
                y_batch = torch.index_select(y, 0, indices).reshape(*shape, *y.shape[1:])
                w_batch = torch.index_select(weights, 0, indices).reshape(shape)
                if len(members) == n_members:
                    chosen, subset = None, states
                else:
                    chosen = engine._tensor(np.asarray(members), "int64")
                    subset = [torch.index_select(s, 0, chosen) for s in states]
                subset, loss, units = self._step(
                    subset,
                    X_batch,
                    y_batch,
                    w_batch,
                    *(
                        t if chosen is None else torch.index_select(t, 0, chosen)
                        for t in (alphas, scales, offsets)
                    ),
                )
                losses = torch.stack([loss, units]) * n_rows
                if chosen is None:
                    states = subset
                    totals += losses
                else:
                    for full, part in zip(states, subset, strict=True):
                        full.index_copy_(0, chosen, part)
                    totals.index_add_(1, chosen, losses)
        self._states = states[:n_state]
        metric_values = states[n_state:]
        totals = totals.cpu().numpy().astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = totals / np.where(np.array(sizes) > 0, sizes, 0)
        metrics = [{} for _ in range(n_members)]
        for member in range(n_members):
            if sizes[member]:
                metrics[member] = self._metric_results(metric_values, member)
        return means[0], means[1], metrics

    def _metric_results(self, metric_values, member):
        results, start = {}, 0
        for metric in self._engine.metrics:
            count = len(metric.variables)
            values = [v[member] for v in metric_values[start : start + count]]
            results[metric.name] = float(metric.stateless_result(values))
            start += count
        return results


class TorchBackend(Backend):
    """Keras's PyTorch backend (see :class:`~skdnn._training.backends.base.Backend`)."""

    name = "torch"
    Engine = TorchEngine
    # Keras's torch backend has no sparse tensors: the trainer's network
    # takes dense batches, made from the sparse rows one batch at a time.
    sparse_tensors = False

    def size_thread_pools(self, budget):
        """Give PyTorch's intra-op pool ``budget`` threads.

        PyTorch reads ``OMP_NUM_THREADS`` itself, but not
        ``SKDNN_NUM_THREADS``. Its inter-op pool runs only work that asks for
        it (``torch.jit.fork``), which Keras's eager loop does not: it is left
        as it is.
        """
        import torch

        torch.set_num_threads(budget)

    def strategy(self, distribution):
        """None: skdnn trains on one device here."""
        if distribution is None:
            return None
        raise ValueError(
            f"distribution={distribution!r} trains one network across several "
            f"devices, which skdnn does on the TensorFlow and JAX backends only; Keras "
            f"runs on PyTorch. Use distribution=None (one device: Keras's torch device, "
            f"a GPU when PyTorch sees one), or KERAS_BACKEND=tensorflow or jax."
        )

    def compiled_call(self, network_ref):
        """``network(batch)``: an eager call without autograd's graph (PyTorch
        compiles nothing)."""
        import keras
        import torch

        def run(batch):
            with torch.no_grad():
                outputs = network_ref()(keras.ops.convert_to_tensor(batch), training=False)
            return keras.ops.convert_to_numpy(outputs)

        return run

    def population(self, engine):
        """A :class:`TorchPopulation` of ``engine``'s trainer, or None where
        its step cannot be vectorized (see :func:`_population_step`)."""
        step = engine.population_step()
        return None if step is None else TorchPopulation(engine, step)

    def to_numpy(self, variable):
        """``variable.numpy()`` goes through an ``__array__`` that NumPy 2
        warns about; the tensor it holds converts cleanly."""
        return variable.value.detach().cpu().numpy().copy()

    def neutral_keras_config(self, config):
        """Name the optimizer by its public class.

        Keras's optimizers here are instances of backend classes
        (``keras.src.backend.torch.optimizers.torch_sgd.SGD``), which Keras
        saves under that module: another backend would load a PyTorch
        optimizer (or fail without PyTorch), and a warm start would not
        recognize it as the estimator's. The public class
        (``keras.optimizers.SGD``) loads as the backend's own everywhere.
        """
        import keras

        optimizer = (config.get("compile_config") or {}).get("optimizer")
        if not isinstance(optimizer, dict):
            return False
        module, name = optimizer.get("module") or "", optimizer.get("class_name")
        if module.startswith("keras.src.backend.") and hasattr(keras.optimizers, name or ""):
            optimizer.update(module="keras.optimizers", registered_name=None)
            return True
        return False


BACKEND = TorchBackend()
