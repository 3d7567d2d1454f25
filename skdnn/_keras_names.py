"""Keras names used by skdnn's hyperparameters, resolved and validated here.

Every string a user can give for a Keras object (optimizer, loss, metric,
activation) is looked up in this one module, before anything is built, and an
unknown name gets an error that names the parameter and suggests a valid
value. Keras is imported inside the functions: ``import skdnn`` stays light.
"""

import copy
import difflib
from numbers import Real

# Optimizer names, in lower case -> (Keras class name, the skdnn
# hyperparameters it takes). Names are matched without regard to case, so
# both scikit-learn's spelling ("sgd") and Keras's ("SGD") work.
OPTIMIZERS = {
    "adam": ("Adam", ()),
    "adamw": ("AdamW", ()),
    "sgd": ("SGD", ("momentum", "nesterov")),
    "rmsprop": ("RMSprop", ("momentum",)),
    "adagrad": ("Adagrad", ()),
    "adadelta": ("Adadelta", ()),
    "adamax": ("Adamax", ()),
    "nadam": ("Nadam", ()),
    "lion": ("Lion", ()),
}

# scikit-learn's regression loss names -> Keras loss names.
REGRESSION_LOSSES = {
    "squared_error": "mean_squared_error",
    "absolute_error": "mean_absolute_error",
    "huber": "huber",
}

# The Keras cross-entropy that each target type needs: (class, name).
CLASSIFICATION_LOSSES = {
    "binary": ("BinaryCrossentropy", "binary_crossentropy"),
    "multiclass": ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
    "multilabel-indicator": ("BinaryCrossentropy", "binary_crossentropy"),
}

# The classifier's loss names -> the target types each one fits. A binary
# target is one sigmoid output, which is what a two-class softmax computes,
# so Keras's categorical names fit it too.
CLASSIFICATION_LOSS_NAMES = {
    "auto": ("binary", "multiclass", "multilabel-indicator"),
    "log_loss": ("binary", "multiclass", "multilabel-indicator"),
    "binary_crossentropy": ("binary", "multilabel-indicator"),
    "sparse_categorical_crossentropy": ("binary", "multiclass"),
    "categorical_crossentropy": ("binary", "multiclass"),
}

# Keras cross-entropy classes -> the target types they fit, and whether they
# take one-hot targets.
_CROSS_ENTROPY_CLASSES = {
    "BinaryCrossentropy": (("binary", "multilabel-indicator"), False),
    "BinaryFocalCrossentropy": (("binary", "multilabel-indicator"), False),
    "SparseCategoricalCrossentropy": (("multiclass",), False),
    "CategoricalCrossentropy": (("multiclass",), True),
    "CategoricalFocalCrossentropy": (("multiclass",), True),
}

# learning_rate="adaptive", as in scikit-learn's MLP: start here, divide by
# 5 whenever the monitored loss stops improving, stop below the minimum.
ADAPTIVE_INITIAL_LEARNING_RATE = 1e-3
ADAPTIVE_MINIMUM_LEARNING_RATE = 1e-6


def _suggestion(name, choices):
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_activation(activation, parameter="activation"):
    """Raise a clear ValueError unless ``activation`` names a Keras activation."""
    import keras

    try:
        keras.activations.get(activation)
    except ValueError:
        raise ValueError(
            f"{parameter}={activation!r} is not a Keras activation; use a name such as "
            f"'relu', 'tanh', 'sigmoid', 'gelu' or 'elu'"
            + ("" if parameter == "activation" else ", or None")
            + "."
        ) from None
    return activation


def optimizer_name(optimizer):
    """Return the lower-case name of :data:`OPTIMIZERS` that ``optimizer`` spells.

    Raises a ValueError that suggests the closest name for an unknown one.
    """
    name = optimizer.lower()
    if name not in OPTIMIZERS:
        spellings = [class_name for class_name, _ in OPTIMIZERS.values()]
        raise ValueError(
            f"optimizer={optimizer!r} is not an optimizer skdnn knows; use one of "
            f"{sorted(OPTIMIZERS)} (in any case, e.g. 'Adam' or 'SGD') or a "
            f"keras.optimizers.Optimizer instance."
            + _suggestion(optimizer, [*OPTIMIZERS, *spellings])
        )
    return name


def make_optimizer(optimizer, learning_rate, momentum, nesterov):
    """Return a new Keras optimizer for the estimator's hyperparameters.

    Parameters
    ----------
    optimizer : str or keras.optimizers.Optimizer
        A name of :data:`OPTIMIZERS`, or an optimizer instance, which is
        copied (optimizers keep state, and the parameter must not change).
    learning_rate : real, "adaptive" or keras.optimizers.schedules.LearningRateSchedule
        Used with a named optimizer only.
    momentum, nesterov : real, bool
        Used by the named optimizers that take them.

    Returns
    -------
    optimizer : keras.optimizers.Optimizer
        Not built yet.
    """
    import keras

    if not isinstance(optimizer, str):
        return type(optimizer).from_config(optimizer.get_config())
    if learning_rate == "adaptive":
        learning_rate = ADAPTIVE_INITIAL_LEARNING_RATE
    elif isinstance(learning_rate, Real):
        learning_rate = float(learning_rate)  # Keras refuses NumPy and integer scalars
    else:
        learning_rate = keras.optimizers.schedules.deserialize(
            keras.optimizers.schedules.serialize(learning_rate)
        )
    name = optimizer_name(optimizer)
    class_name, extra = OPTIMIZERS[name]
    values = {"momentum": float(momentum), "nesterov": bool(nesterov)}
    kwargs = {key: values[key] for key in extra}
    # A fixed name: Keras would otherwise number each new optimizer ("adam_7"),
    # and TensorFlow keeps a kernel for every variable name it ever saw, so
    # each fit would leave memory behind.
    return getattr(keras.optimizers, class_name)(learning_rate=learning_rate, name=name, **kwargs)


def regression_loss(loss):
    """Return the Keras loss (name or object) of a regressor's ``loss``."""
    import keras

    loss = REGRESSION_LOSSES.get(loss, loss)
    if isinstance(loss, str):
        try:
            keras.losses.get(loss)
        except ValueError:
            raise ValueError(
                f"loss={loss!r} is neither 'squared_error', 'absolute_error', 'huber' nor "
                f"a Keras loss name such as 'mse', 'mae' or 'log_cosh'."
                + _suggestion(loss, [*REGRESSION_LOSSES, "mse", "mae", "log_cosh"])
            ) from None
    return loss


def cross_entropy(target_type):
    """Return ``(loss object from logits, loss name)`` for ``target_type``."""
    import keras

    class_name, name = CLASSIFICATION_LOSSES[target_type]
    return getattr(keras.losses, class_name)(from_logits=True), name


def takes_one_hot_targets(loss):
    """Whether a classifier's ``loss`` is a categorical cross-entropy, which
    Keras computes on one-hot targets."""
    if isinstance(loss, str):
        return loss == "categorical_crossentropy"
    return _CROSS_ENTROPY_CLASSES.get(type(loss).__name__, (None, False))[1]


def classification_loss(loss, target_type):
    """Resolve a classifier's ``loss`` for targets of ``target_type``.

    Parameters
    ----------
    loss : str, keras.losses.Loss or callable
        A name of :data:`CLASSIFICATION_LOSS_NAMES`, or a Keras loss.
    target_type : {"binary", "multiclass", "multilabel-indicator"}

    Returns
    -------
    training_loss : keras.losses.Loss or callable
    on_probabilities : bool
        Whether the loss takes probabilities (else logits).
    one_hot : bool
        Whether the loss takes one-hot targets (else class indices or 0/1).
    compile_loss : str or keras.losses.Loss
        The loss ``model_`` (which outputs probabilities) is compiled with.
    """
    if isinstance(loss, str):
        fits = CLASSIFICATION_LOSS_NAMES.get(loss)
        if fits is None:
            raise ValueError(
                f"loss={loss!r} is not a classification loss; use 'auto', 'log_loss', "
                f"'binary_crossentropy', 'sparse_categorical_crossentropy', "
                f"'categorical_crossentropy' or a Keras loss object."
                + _suggestion(loss, CLASSIFICATION_LOSS_NAMES)
            )
        if target_type not in fits:
            _, right = CLASSIFICATION_LOSSES[target_type]
            raise ValueError(
                f"loss={loss!r} does not fit a {target_type!r} target; use "
                f"loss={right!r} or loss='auto'."
            )
        # The same cross-entropy, computed from logits: stable where the
        # probabilities saturate, and class indices serve as one-hot targets.
        training_loss, compile_loss = cross_entropy(target_type)
        return training_loss, False, False, compile_loss
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    fits, one_hot = _CROSS_ENTROPY_CLASSES.get(type(loss).__name__, (None, False))
    if fits is not None and target_type not in fits:
        _, right = CLASSIFICATION_LOSSES[target_type]
        raise ValueError(
            f"loss={type(loss).__name__}() does not fit a {target_type!r} target; use "
            f"loss={right!r}, loss='auto' or a Keras loss for such targets."
        )
    return loss, not config.get("from_logits", False), one_hot, loss


def _metric(metric, target_type):
    import keras

    if metric in ("accuracy", "acc") and target_type is not None:
        # Keras's "accuracy" depends on the target, as in Model.compile.
        if target_type == "multiclass":
            return keras.metrics.SparseCategoricalAccuracy(name=metric)
        return keras.metrics.BinaryAccuracy(name=metric)
    if not isinstance(metric, str):
        if not isinstance(metric, keras.metrics.Metric):
            raise ValueError(
                f"metrics must hold Keras metric names or keras.metrics.Metric objects; "
                f"got {metric!r}."
            )
        # A fresh copy: metrics keep state, and the parameter must not change.
        return type(metric).from_config(metric.get_config())
    try:
        resolved = keras.metrics.get(metric)
    except ValueError:
        raise ValueError(
            f"metrics: {metric!r} is not a Keras metric name; use e.g. 'mae', 'mse', "
            f"'AUC', 'Precision' or a keras.metrics.Metric object."
        ) from None
    # Recorded under the name given, as Model.compile does ("mae", "AUC").
    if isinstance(resolved, keras.metrics.Metric):
        return type(resolved).from_config({**resolved.get_config(), "name": metric})
    return keras.metrics.MeanMetricWrapper(resolved, name=metric)


def make_metrics(defaults, metrics, target_type=None):
    """Return fresh Keras metric objects: ``defaults``, then ``metrics``.

    Parameters
    ----------
    defaults : sequence of str
        Metrics always tracked (the classifier's ``"accuracy"``).
    metrics : list of str or keras.metrics.Metric, or None
        The estimator's ``metrics`` hyperparameter.
    target_type : str or None
        The classifier's target type, which decides what ``"accuracy"`` means.

    Returns
    -------
    metrics : list of keras.metrics.Metric
    """
    objects = [_metric(metric, target_type) for metric in (*defaults, *(metrics or ()))]
    names = [metric.name for metric in objects]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(
            f"metrics: each metric needs its own name, but {duplicated} appear twice "
            f"(the classifier always tracks 'accuracy')."
        )
    return objects


def copy_callbacks(callbacks):
    """Fresh copies of Keras ``callbacks`` for one call of fit or partial_fit.

    Callbacks keep state (best values, open files, the model), so the
    instances given as the parameter are never used or changed.
    """
    import keras

    callbacks = list(callbacks or ())
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(
                f"callbacks must hold keras.callbacks.Callback instances; got {callback!r}."
            )
    return copy.deepcopy(callbacks)
