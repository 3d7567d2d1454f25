"""The :class:`Backend` protocol: everything skdnn does differently per Keras backend.

Each supported backend has one home, a module of this package that defines
a :class:`Backend` (``tensorflow.py``, ``jax.py``, ``torch.py``); the
registry (``__init__.py``) returns the active one. Nothing outside this
package asks which backend runs: it asks the backend instead.

Also here: what the backends share (the engines' :class:`VariableState`,
and the thread budget they apply.
"""

import contextlib
import os


class Backend:
    """What skdnn needs from one Keras backend.

    Subclasses set :attr:`name`, :attr:`Engine` and :attr:`sparse_tensors`
    and implement :meth:`size_thread_pools` and :meth:`strategy`; the other
    methods have defaults that suit a backend without ``tf.distribute``
    scopes or ``.keras`` quirks, and serve a fitted network's predictions on
    a backend skdnn does not train on. Modules import the
    backend's own library only inside methods: importing a backend's home
    never starts the backend.
    """

    #: The name ``keras.config.backend()`` gives.
    name = None

    #: The training engine: ``Engine(spec, model, optimizer, metrics)``
    #: compiles (or prepares) one trainer's epochs and evaluation. It has
    #: ``data``, ``train_epoch``, ``evaluate``, ``sync``, ``reset_metrics``
    #: and ``metric_results`` (see ``Trainer``).
    Engine = None

    #: Whether sparse batches reach the network as sparse tensors; if not,
    #: the trainer's network takes dense batches, made one batch at a time.
    sparse_tensors = False

    def size_thread_pools(self, budget):
        """Size the backend's thread pools to ``budget`` threads, as far as
        the backend and its own settings allow (see :func:`thread_budget`)."""
        raise NotImplementedError

    def strategy(self, distribution):
        """What an estimator's ``distribution`` asks for here: None (one
        device), or what the trainer needs to train across devices.

        Raises ``ValueError`` when the backend cannot do what is asked.
        """
        raise NotImplementedError

    def strategy_scope(self, strategy):
        """The context in which a trainer builds its network and optimizer."""
        return contextlib.nullcontext()

    def describe_strategy(self, strategy):
        """A string that identifies ``strategy`` (from :meth:`strategy`) in a
        trainer's pool key."""
        return repr(strategy)

    def compiled_call(self, network_ref):
        """Return ``call(batch) -> ndarray``: the network ``network_ref()``
        (a weak reference) applied to a float32 batch at inference, compiled
        where the backend compiles. By default, Keras's own compiled
        prediction step."""
        return lambda batch: network_ref().predict_on_batch(batch)

    def population(self, engine):
        """An object that trains many members of ``engine``'s trainer
        together in one compiled program, or None where the backend cannot
        (see ``_training/population.py``: its fits then run one by one)."""
        return None

    def free_device_bytes(self):
        """The free memory of the device that trains, in bytes, or None
        when the backend cannot tell (a CPU: the host's memory)."""
        return None

    def to_numpy(self, variable):
        """A copy of a Keras variable's value as a NumPy array."""
        return variable.numpy()

    def neutral_keras_config(self, config):
        """Make a ``.keras`` file's parsed ``config.json`` loadable on every
        backend, in place; return whether anything changed."""
        return False


class VariableState:
    """The state of an engine whose steps update the Keras variables
    themselves (TensorFlow, PyTorch): nothing to sync, and metrics read
    from their own variables. Engines set ``self.metrics``."""

    def sync(self):
        """Nothing to do: each step updates the Keras variables."""

    def reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    def metric_results(self):
        """``{name: value}`` of the metrics since :meth:`reset_metrics`."""
        return {metric.name: float(metric.result()) for metric in self.metrics}


def thread_budget():
    """Return the number of threads one fit may use here, or None.

    joblib's loky workers and Dask's worker processes announce their share
    of the CPU through ``OMP_NUM_THREADS`` (joblib sets it to ``cpu_count //
    n_jobs``, Dask's nanny to 1). NumPy and scikit-learn honour it;
    TensorFlow does not, and would start a pool of all cores in every
    worker. ``SKDNN_NUM_THREADS``, then ``OMP_NUM_THREADS``, when set, give
    the budget; otherwise there is none, and every backend keeps its
    defaults. Each backend applies it in :meth:`Backend.size_thread_pools`.
    """
    for name in ("SKDNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None
