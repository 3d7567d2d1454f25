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
"""

import numpy as np
import scipy.sparse as sp

from ..objective import Objective, batch_loss, kernel_indices
from .base import Backend, VariableState, regularization_loss

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
        self._objective = Objective(spec)
        self._trainable = model.trainable_variables
        self._kernels = [self._trainable[i] for i in kernel_indices(model)]
        self._row_bytes = 4 * int(np.prod(spec.network.input_shape[1:]))
        self._torch = torch

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
