"""The optimizers that trainers use: hyperparameters loaded, not traced.

Keras's SGD reads ``momentum`` and ``nesterov`` as Python values when its
update is traced, so a grid over momentum would compile the training epoch
again for every value. A trainer uses :func:`trainer_optimizer`'s copy
instead: the same update, with those values held in optimizer variables that
are loaded for each fit, so one compilation serves every value.

The estimator's own model keeps Keras's optimizer (what ``model_`` shows
and saves); :func:`to_trainer_values` and :func:`from_trainer_values`
translate its variables to the trainer's and back.
"""

import functools

import numpy as np

# Keras optimizer class name -> its config entries that a trainer loads into
# variables instead of tracing them.
LOADED_HYPERPARAMETERS = {"SGD": ("momentum", "nesterov")}


def loaded_hyperparameters(optimizer):
    """The config entries of ``optimizer`` that do not change its trace."""
    import keras

    name = type(optimizer).__name__
    keras_class = getattr(keras.optimizers, name, None)
    # Keras's own class, not a user's subclass of it. (On PyTorch, Keras's
    # optimizers are instances of a backend subclass of the same name.)
    if (
        keras_class is not None
        and isinstance(optimizer, keras_class)
        and type(optimizer).__module__.startswith("keras.")
    ):
        return LOADED_HYPERPARAMETERS.get(name, ())
    return ()


@functools.cache
def _tunable_sgd_class():
    import keras
    from keras import ops

    class TunableSGD(keras.optimizers.SGD):
        """Keras's SGD with ``momentum`` and ``nesterov`` in variables.

        Its variables are SGD's (iterations, learning rate, one momentum
        buffer per weight, even at momentum 0), then the momentum and
        nesterov values.
        """

        def build(self, variables):
            if self.built:
                return
            # The base class's build, not SGD's (which makes momentum
            # buffers only for a non-zero momentum).
            super(keras.optimizers.SGD, self).build(variables)
            self.momentums = [
                self.add_variable_from_reference(variable, "momentum") for variable in variables
            ]
            self.momentum_value = self.add_variable(
                (), initializer=keras.initializers.Constant(float(self.momentum)), name="momentum"
            )
            self.nesterov_value = self.add_variable(
                (), initializer=keras.initializers.Constant(float(self.nesterov)), name="nesterov"
            )

        def update_step(self, gradient, variable, learning_rate):
            learning_rate = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            momentum = ops.cast(self.momentum_value, variable.dtype)
            m = self.momentums[self._get_variable_index(variable)]
            # At momentum 0 this is plain SGD, to the bit: m * 0 - g * lr.
            velocity = ops.subtract(
                ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)
            )
            self.assign(m, velocity)
            nesterov_step = ops.subtract(
                ops.multiply(velocity, momentum), ops.multiply(gradient, learning_rate)
            )
            self.assign_add(
                variable, ops.where(ops.greater(self.nesterov_value, 0.5), nesterov_step, velocity)
            )

    return TunableSGD


def trainer_optimizer(optimizer):
    """Return a new, unbuilt optimizer for a trainer that computes what
    ``optimizer`` computes (a copy, or its tunable counterpart)."""
    config = optimizer.get_config()
    if loaded_hyperparameters(optimizer):
        return _tunable_sgd_class().from_config(config)
    return type(optimizer).from_config(config)


def to_trainer_values(trainer_optimizer, values, optimizer):
    """Map the variable values of ``optimizer`` (Keras's) to those of
    ``trainer_optimizer``; the hyperparameters come from ``optimizer``'s config."""
    if not loaded_hyperparameters(optimizer):
        return list(values)
    config = optimizer.get_config()
    n_head = _n_head_variables(trainer_optimizer)
    head, momentums = list(values[:n_head]), list(values[n_head:])
    if not momentums:  # Keras's SGD keeps no momentum buffers at momentum 0
        momentums = [np.zeros(v.shape, v.dtype) for v in trainer_optimizer.momentums]
    n_weights = len(trainer_optimizer.momentums)
    if len(momentums) != n_weights:
        raise ValueError(f"Expected {n_weights} momentum buffers to load, got {len(momentums)}.")
    return [*head, *momentums, float(config["momentum"]), float(config["nesterov"])]


def from_trainer_values(trainer_optimizer, values, optimizer):
    """The inverse of :func:`to_trainer_values`: ``optimizer``'s variable values."""
    if not loaded_hyperparameters(optimizer):
        return list(values)
    n_buffers = len(trainer_optimizer.momentums) if optimizer.get_config()["momentum"] else 0
    return list(values[: _n_head_variables(trainer_optimizer) + n_buffers])


def _n_head_variables(trainer_optimizer):
    """How many variables Keras's base optimizer makes before SGD's momentum
    buffers: the step count, then the learning rate unless it is a schedule
    (computed from the step count), then any of Keras's optional ones."""
    return len(trainer_optimizer.variables) - len(trainer_optimizer.momentums) - 2
