"""Compiled training functions, and the pool that reuses them across fits.

Keras's ``Model.fit`` rebuilds a data iterator every epoch and runs one
Python-level call per batch, and every new model is traced anew; for the
small, in-memory data sets and the many fits of a scikit-learn workflow that
overhead dominates. Here:

* an epoch runs in one compiled call, or a few (see the engines in
  ``_training/backends/``: a TensorFlow while-loop, a jitted JAX loop over
  Keras's stateless calls), on the backend the user configured; the step
  itself is written once (``_training/objective.py``);
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

import dataclasses
import functools
import gc
import json
import threading
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from .._network.build import ModelRecipe
from .._network.inference import to_numpy
from .backends import get_backend
from .optimizers import (
    from_trainer_values,
    loaded_hyperparameters,
    to_trainer_values,
    trainer_optimizer,
)

# Rows per call when evaluating the validation split: large enough to
# amortize the call overhead, small enough to bound the activations' memory.
EVALUATE_CHUNK_SIZE = 16384

# Distinct trace keys kept alive, and idle trainers kept per key (more than
# one only serves fits running at once in threads).
MAX_CACHED_KEYS = 8
MAX_IDLE_PER_KEY = 2

_lock = threading.Lock()
_idle_trainers = OrderedDict()


# ----------------------------------------------------------------------------
# What a trace depends on
# ----------------------------------------------------------------------------
def describe(obj):
    """Return a string that identifies what a Keras object computes, or None.

    None for a callable that has no config and no importable name (a lambda
    or local function): nothing but its identity tells what it computes.
    """
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return repr(obj)
    if isinstance(obj, (tuple, list)):
        parts = [describe(item) for item in obj]
        return None if None in parts else repr(parts)
    if hasattr(obj, "get_config"):
        # The config, not keras.saving.serialize_keras_object(): that one
        # imports TensorFlow whenever it is installed, also on JAX.
        return _qualified_name(obj) + json.dumps(obj.get_config(), sort_keys=True, default=repr)
    # A plain function: its name identifies it when it is importable.
    name = getattr(obj, "__qualname__", "")
    if "<" in name or not name:
        return None
    return f"{obj.__module__}.{name}"


def as_recipe(network):
    """``network`` as a recipe: a recipe as it is, a Keras model as a
    :class:`~skdnn._network.build.ModelRecipe` (whose trainers train a clone)."""
    return network if hasattr(network, "describe") else ModelRecipe(network)


def describe_network(network):
    """Identify a network's architecture (a Keras model's, or a recipe's),
    whatever its initial weights."""
    return as_recipe(network).describe()


def describe_optimizer(optimizer, traced_only=False):
    """Describe an optimizer without its float learning rate (a variable,
    loaded for each fit) and its automatic name; with ``traced_only``, also
    without the hyperparameters a trainer loads (see ``_training/optimizers.py``)."""
    config = {**optimizer.get_config(), "name": None}
    if isinstance(config.get("learning_rate"), float):
        config["learning_rate"] = None
    if traced_only:
        for name in loaded_hyperparameters(optimizer):
            config[name] = None
    return _qualified_name(optimizer) + json.dumps(config, sort_keys=True, default=repr)


def _qualified_name(obj):
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def describe_strategy(strategy):
    """Identify a strategy (see ``Backend.strategy``) by its kind and devices."""
    return get_backend().describe_strategy(strategy)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainerSpec:
    """Everything the compiled training functions depend on.

    The one description of a trainer: :meth:`build` makes it and :meth:`key`
    names it in the pool, both from these fields, so a reused trainer always
    computes what a new one would.

    Parameters
    ----------
    network : keras.Model or NetworkRecipe
        The network up to its output layer (logits, or standardized
        targets); the trainer trains its own clone, or builds its own from
        the recipe (see ``_network/build.py``).
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
        "optimizer": functools.partial(describe_optimizer, traced_only=True),
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
# The trainer
# ----------------------------------------------------------------------------
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
            [to_numpy(v) for v in model.trainable_variables],
            [to_numpy(v) for v in model.non_trainable_variables],
            [to_numpy(v) for v in optimizer.variables],
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
        What to compile, on the active Keras backend.
    """

    def __init__(self, spec):
        backend = get_backend()
        with backend.strategy_scope(spec.strategy):
            # Sparse batches reach the network as sparse tensors where the
            # backend has them; elsewhere they are made dense per batch.
            sparse_input = spec.sparse_input and backend.sparse_tensors
            model = as_recipe(spec.network).build(sparse_input=sparse_input)
            optimizer = trainer_optimizer(spec.optimizer)
            optimizer.build(model.trainable_variables)
            metrics = [type(m).from_config(m.get_config()) for m in spec.metrics]
        self._model, self.optimizer, self.metrics = model, optimizer, metrics
        # Hyperparameters held in variables, loaded for each fit (see load()):
        # the dropout rates, and the optimizer's (see _training/optimizers.py).
        self._rate_variables = [
            layer.rate_value for layer in model.layers if hasattr(layer, "rate_value")
        ]
        rate_ids = {id(variable) for variable in self._rate_variables}
        self._state_variables = [v for v in model.non_trainable_variables if id(v) not in rate_ids]
        self._begin(spec)
        self._engine = backend.Engine(spec, model, optimizer, metrics)
        # A regressor reports its loss in the targets' units, and the loss
        # its optimizer minimizes (on standardized targets) beside it.
        self._units_loss = spec.output_transform == "affine" and not spec.loss_on_predictions

    @property
    def model(self):
        """The trainer's Keras model, its variables holding the current state."""
        self._engine.sync()
        return self._model

    def data(self, X, y, sample_weight):
        """The training data (X a NumPy array or SciPy sparse matrix) as the
        compiled epoch takes them: pass the result to :meth:`train_epoch`."""
        return self._engine.data(X, y, sample_weight)

    def _begin(self, spec):
        # The fit's Keras optimizer, whose variables load() and state()
        # exchange, and the fit's dropout rates.
        self._fit_optimizer = spec.optimizer
        self._rates = spec.network.dropout_rates() if hasattr(spec.network, "dropout_rates") else ()

    def load(self, state, spec=None):
        """Load a :class:`NetworkState` into the trainer.

        With ``spec``, the :class:`TrainerSpec` of a new fit (whose key is
        this trainer's), also load that fit's hyperparameters: the dropout
        rates, and the optimizer's. ``state.optimizer`` holds the variables
        of the fit's Keras optimizer; :meth:`state` returns them likewise.
        """
        if spec is not None:
            self._begin(spec)
        self._engine.sync()
        _assign(self.model.trainable_variables, state.trainable)
        _assign(self._state_variables, state.non_trainable)
        _assign(self._rate_variables, self._rates)
        values = to_trainer_values(self.optimizer, state.optimizer, self._fit_optimizer)
        _assign(self.optimizer.variables, values)

    def state(self):
        """The trainer's weights and optimizer state, as NumPy arrays, in
        the layout of the fit's Keras model and optimizer."""
        self._engine.sync()
        values = [to_numpy(v) for v in self.optimizer.variables]
        return NetworkState(
            [to_numpy(v) for v in self.model.trainable_variables],
            [to_numpy(v) for v in self._state_variables],
            from_trainer_values(self.optimizer, values, self._fit_optimizer),
        )

    def get_weights(self):
        return self.model.get_weights()

    def set_weights(self, weights):
        self.model.set_weights(weights)

    @property
    def learning_rate(self):
        """The optimizer's learning-rate variable (to read or assign)."""
        self._engine.sync()
        return self.optimizer.learning_rate

    def _reset_metrics(self):
        self._engine.reset_metrics()

    def _metric_results(self):
        return self._engine.metric_results()

    def _losses(self, loss, units_loss):
        """The epoch's losses by name: ``"loss"``, and for a regressor (in
        the targets' units) ``"standardized_loss"`` beside it."""
        if self._units_loss:
            return {"loss": units_loss, "standardized_loss": loss}
        return {"loss": loss}

    def train_epoch(self, data, permutation, batch_size, alpha, scale, offset):
        """Run one epoch over the rows ``permutation`` of ``data`` (from
        :meth:`data`); return ``(losses, metrics)``, dicts of name to mean
        value (see :meth:`_losses`)."""
        self._reset_metrics()
        losses = self._engine.train_epoch(data, permutation, batch_size, alpha, scale, offset)
        return self._losses(*losses), self._metric_results()

    def evaluate(self, X, y, sample_weight, scale, offset):
        """Return ``(losses, metrics)`` on held-out data: the weighted mean
        losses without penalty (see :meth:`_losses`), and the metrics.

        ``X`` is a float32 array or a SciPy sparse matrix.
        """
        self._reset_metrics()
        total = units_total = 0.0
        for start in range(0, X.shape[0], EVALUATE_CHUNK_SIZE):
            chunk = slice(start, start + EVALUATE_CHUNK_SIZE)
            loss, units_loss = self._engine.evaluate(
                X[chunk], y[chunk], sample_weight[chunk], scale, offset
            )
            total, units_total = total + loss, units_total + units_loss
        weight_sum = float(np.sum(sample_weight))
        means = (value / weight_sum if weight_sum else 0.0 for value in (total, units_total))
        return self._losses(*means), self._metric_results()


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
