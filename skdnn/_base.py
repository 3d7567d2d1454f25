"""Shared base of the skdnn estimators: validation, training and persistence."""

import copy
import functools
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, is_regressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._training import ADAPTIVE_INITIAL_LEARNING_RATE, TrainingDivergedError, TrainingRun

# Optimizer names -> (Keras class name, the skdnn hyperparameters it takes).
OPTIMIZERS = {
    "adam": ("Adam", ()),
    "adamw": ("AdamW", ()),
    "sgd": ("SGD", ("momentum", "nesterov")),
    "rmsprop": ("RMSprop", ("momentum",)),
    "adagrad": ("Adagrad", ()),
}

# Seeds drawn from ``random_state`` in this order, so that adding a new use
# of randomness at the end does not change the existing ones.
_SEED_NAMES = ("network", "shuffle", "validation_split")

# Fitted state kept in private attributes (the rest ends with "_").
_PRIVATE_FITTED = ("_architecture", "_target_encoder", "_y_ndim")


class BaseDNN(BaseEstimator, metaclass=ABCMeta):
    """Base class of :class:`DNNClassifier` and :class:`DNNRegressor`.

    Warning: this class should not be used directly. Use the derived classes.
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [str],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "batch_normalization": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), HasMethods(["apply_gradients", "get_config"])],
        "learning_rate": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"adaptive"}),
            HasMethods(["__call__", "get_config"]),
        ],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterov": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": [Interval(Integral, 0, 2, closed="both")],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
        "metrics": [list, None],
        "distribution": [None, StrOptions({"mirrored"}), HasMethods(["scope", "run"])],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        dropout,
        batch_normalization,
        alpha,
        optimizer,
        learning_rate,
        momentum,
        nesterov,
        epochs,
        batch_size,
        shuffle,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        tol,
        random_state,
        verbose,
        warm_start,
        loss,
        callbacks,
        metrics,
        distribution,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_normalization = batch_normalization
        self.alpha = alpha
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.epochs = epochs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.loss = loss
        self.callbacks = callbacks
        self.metrics = metrics
        self.distribution = distribution

    # ------------------------------------------------------------------
    # Hooks of the concrete estimators
    # ------------------------------------------------------------------
    @abstractmethod
    def _validate_targets(self, y, reset):
        """Return ``y`` checked for this kind of estimator."""

    @abstractmethod
    def _make_target_encoder(self, y, sample_weight, classes):
        """Return a fitted encoder from ``y`` to the network's targets."""

    @abstractmethod
    def _loss_spec(self):
        """Return ``(training loss, loss on the head, Keras loss for compile)``."""

    def _default_metrics(self):
        """Names of the metrics always tracked (the classifier's accuracy)."""
        return ()

    def _resolve_metric(self, metric):
        """Return a fresh Keras metric object for a name or metric object."""
        import keras

        if not isinstance(metric, str):
            if not isinstance(metric, keras.metrics.Metric):
                raise ValueError(
                    f"metrics must hold Keras metric names or keras.metrics.Metric "
                    f"objects; got {metric!r}."
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

    def _n_classes_for_metrics(self):
        """Number of classes when metrics other than Sparse* need one-hot targets."""
        return None

    def _metric_objects(self):
        """Fresh Keras metrics tracked per epoch: the defaults, then ``metrics``."""
        metrics = [self._resolve_metric(m) for m in self._default_metrics()]
        metrics += [self._resolve_metric(m) for m in self.metrics or ()]
        names = [metric.name for metric in metrics]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(
                f"metrics: each metric needs its own name, but {duplicated} appear twice "
                f"(the classifier always tracks 'accuracy')."
            )
        return metrics

    @abstractmethod
    def _predict_from_output(self, output):
        """Return predictions from the network's training output."""

    @abstractmethod
    def _output_transform(self):
        """Return how the training output becomes predictions (see Trainer)."""

    @abstractmethod
    def _output_scaling(self):
        """Return ``(scale, offset)`` of the affine output transform."""

    def _sample_weight(self, y, sample_weight):
        return sample_weight

    def _validation_stratify(self, y):
        return None

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Build the network and train it on ``(X, y)``.

        With ``warm_start=True`` and an already fitted network, training
        continues from its weights and optimizer state instead.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training samples; samples with several dimensions (images) are
            flattened by the network.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; each batch's loss is their weighted mean.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        warm = self.warm_start and hasattr(self, "model_")
        return self._validate_and_fit(X, y, sample_weight, warm=warm, incremental=False)

    def _validate_and_fit(self, X, y, sample_weight, warm, incremental, classes=None):
        self._validate_params()
        # float64 stays as it is here: the one conversion to float32 happens
        # when the training tensor is made (see as_training_tensor).
        X, y = validate_data(
            self, X, y, reset=not warm, dtype=(np.float32, np.float64), allow_nd=True,
            multi_output=True, y_numeric=is_regressor(self),
        )
        y = self._validate_targets(y, reset=not warm)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float32, ensure_non_negative=True
        )
        try:
            return self._fit(X, y, sample_weight, warm, incremental, classes)
        except TrainingDivergedError:
            if not warm:
                # A diverged first fit leaves nothing usable behind.
                for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("__")]:
                    delattr(self, name)
            raise

    def _check_architecture(self, X):
        sizes = np.asarray(self.hidden_layer_sizes)
        if sizes.ndim != 1 or not all(
            isinstance(units, Integral) and units > 0 for units in self.hidden_layer_sizes
        ):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive integers, one per hidden "
                f"layer, e.g. (100,) or (100, 50); got {self.hidden_layer_sizes!r}."
            )
        dropout = np.asarray(self.dropout, dtype=float)
        if dropout.ndim > 1 or (dropout.ndim == 1 and len(dropout) != len(sizes)):
            raise ValueError(
                f"dropout must be a float or one rate per hidden layer "
                f"({len(sizes)} here); got {self.dropout!r}."
            )
        if np.any((dropout < 0) | (dropout >= 1)):
            raise ValueError(f"dropout rates must be in [0, 1); got {self.dropout!r}.")
        import keras

        try:
            keras.activations.get(self.activation)
        except ValueError:
            raise ValueError(
                f"activation={self.activation!r} is not a Keras activation; use a name such "
                f"as 'relu', 'tanh', 'sigmoid', 'gelu' or 'elu'."
            ) from None
        return {
            "input_shape": tuple(X.shape[1:]),
            "hidden_layer_sizes": tuple(int(units) for units in sizes),
            "activation": self.activation,
            "dropout": tuple(np.broadcast_to(dropout, len(sizes)).tolist()),
            "batch_normalization": bool(self.batch_normalization),
        }

    def _build_optimizer(self):
        import keras

        if not isinstance(self.optimizer, str):
            # A fresh copy: optimizers keep state, and the parameter must not change.
            return type(self.optimizer).from_config(self.optimizer.get_config())
        learning_rate = self.learning_rate
        if learning_rate == "adaptive":
            learning_rate = ADAPTIVE_INITIAL_LEARNING_RATE
        elif not isinstance(learning_rate, Real):
            learning_rate = keras.optimizers.schedules.deserialize(
                keras.optimizers.schedules.serialize(learning_rate)
            )
        class_name, extra = OPTIMIZERS[self.optimizer]
        kwargs = {name: getattr(self, name) for name in extra}
        return getattr(keras.optimizers, class_name)(learning_rate=learning_rate, **kwargs)

    def _build(self, X, y, sample_weight, classes, seed):
        """Create the network and the fitted state that training starts from."""
        from ._network import build_network

        architecture = self._check_architecture(X)
        self._target_encoder = self._make_target_encoder(y, sample_weight, classes)
        self.n_outputs_ = self._target_encoder.n_outputs_
        model, train_model = build_network(
            n_outputs=self.n_outputs_,
            output_activation=self._output_activation(),
            head=self._head_layer(),
            seed=seed,
            **architecture,
        )
        self.model_ = model
        self._architecture = architecture
        self._compile(self._build_optimizer())

    def _compile(self, optimizer):
        """Compile ``model_`` with ``optimizer``, built, and the loss and metrics."""
        _, _, compile_loss = self._loss_spec()
        self.model_.compile(
            optimizer=optimizer, loss=compile_loss, metrics=self._metric_objects() or None
        )
        optimizer.build(self.model_.trainable_variables)

    def _trainer_key(self, metrics):
        """What the compiled training functions depend on, or None.

        None (a loss or metric that cannot be identified, such as a lambda)
        means the trainer is not pooled: a key made from ``id()`` could be
        reused by another object once the first is gone.
        """
        from ._training import describe, describe_strategy, optimizer_key

        loss, loss_on_predictions, _ = self._loss_spec()
        parts = [describe(loss), *(describe(metric) for metric in metrics)]
        if None in parts:
            return None
        return repr((
            sorted(self._architecture.items()),
            self.n_outputs_,
            self._output_activation(),
            self._output_transform(),
            loss_on_predictions,
            optimizer_key(self.model_.optimizer),
            describe_strategy(self._strategy()),
            parts,
        ))

    def _make_trainer(self, metrics, y_encoded):
        from ._network import training_output
        from ._training import Trainer, per_sample_loss

        loss, loss_on_predictions, _ = self._loss_spec()
        return Trainer(
            training_output(self.model_),
            self.model_.optimizer,
            per_sample_loss(loss),
            metrics,
            output_transform=self._output_transform(),
            loss_on_predictions=loss_on_predictions,
            one_hot_depth=self._n_classes_for_metrics(),
            target_example=y_encoded[:1],
            scaling_example=self._output_scaling(),
            strategy=self._strategy(),
        )

    def _strategy(self):
        """The ``tf.distribute`` strategy that ``distribution`` asks for, or None."""
        from ._training import mirrored_strategy

        if self.distribution is None:
            return None
        if self.distribution == "mirrored":
            return mirrored_strategy()
        return self.distribution

    def _split_validation(self, y, seed, early_stopping):
        n_samples = len(y)
        indices = np.arange(n_samples)
        if not early_stopping:
            return indices, indices[:0]
        stratify = self._validation_stratify(y)
        try:
            return train_test_split(
                indices,
                test_size=self.validation_fraction,
                random_state=seed,
                stratify=stratify,
            )
        except ValueError as error:
            raise ValueError(
                f"early_stopping=True could not hold out validation_fraction="
                f"{self.validation_fraction} of {n_samples} samples: {error} Use more "
                f"samples, a larger validation_fraction, or early_stopping=False."
            ) from None

    def _fit(self, X, y, sample_weight, warm, incremental, classes):
        from ._threads import apply_thread_budget

        apply_thread_budget()
        import keras

        from ._training import as_training_tensor, checkout_trainer

        rng = check_random_state(self.random_state)
        seeds = dict(zip(_SEED_NAMES, rng.randint(np.iinfo(np.int32).max, size=len(_SEED_NAMES))))
        if warm:
            self._check_warm_start(X, y)
            self._refresh_optimizer()
        else:
            self._build(X, y, sample_weight, classes, int(seeds["network"]))
            self.history_ = {}
            self.n_iter_ = 0
        callbacks = self._callback_copies()
        early_stopping = self.early_stopping and not incremental
        y_encoded = self._target_encoder.transform(y)
        sample_weight = self._sample_weight(y, sample_weight)
        train_idx, val_idx = self._split_validation(
            y, int(seeds["validation_split"]), early_stopping
        )
        X_val, y_val, sw_val = (
            X[val_idx].astype(np.float32, copy=False), y_encoded[val_idx], sample_weight[val_idx]
        )
        if early_stopping and not np.sum(sw_val) > 0:
            raise ValueError(
                "The validation split holds only samples of zero weight; early stopping "
                "cannot measure anything. Use early_stopping=False or other weights."
            )
        if self.batch_size == "auto":
            batch_size = min(200, len(train_idx))
        else:
            batch_size = min(self.batch_size, len(train_idx))

        metrics = self._metric_objects()
        make_trainer = functools.partial(self._make_trainer, metrics, y_encoded)
        with checkout_trainer(self._trainer_key(metrics), make_trainer) as trainer:
            trainer.load(self.model_)
            run = TrainingRun(
                self, trainer, callbacks,
                data=[as_training_tensor(X), *map(keras.ops.convert_to_tensor, (y_encoded, sample_weight))],
                validation=(X_val, y_val, sw_val) if early_stopping else None,
                train_idx=train_idx,
                batch_size=batch_size,
                shuffle_rng=np.random.RandomState(seeds["shuffle"]),
                epochs=1 if incremental else self.epochs,
                stopping_rule=not incremental,
            )
            run.train()

        self.callbacks_ = callbacks
        self.n_iter_ += run.n_epochs
        self.history_ = run.history
        self.loss_curve_ = run.history.get("loss", [])
        if early_stopping:
            self.best_loss_ = None
            # In scikit-learn's MLP units: the score (accuracy or R^2) of the
            # restored weights on the validation split.
            self.best_validation_score_ = self._validation_score(X_val, y[val_idx], sw_val)
        else:
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None
            self.best_validation_score_ = None
        if run.interrupted:
            warnings.warn(
                f"Training was interrupted (KeyboardInterrupt) after {run.n_epochs} epoch(s) "
                f"of this call; the estimator keeps the weights trained so far.",
                UserWarning,
            )
        elif not run.converged and not incremental:
            warnings.warn(
                f"Training stopped after the maximum of epochs={self.epochs} while the "
                f"{'validation' if early_stopping else 'training'} loss was still "
                f"improving. Increase epochs or learning_rate.",
                ConvergenceWarning,
            )
        return self

    def _validation_score(self, X, y, sample_weight):
        """``score`` on already validated data (no feature-name checks)."""
        from sklearn.metrics import accuracy_score, r2_score

        from ._inference import forward

        predictions = self._predict_from_output(forward(self.model_, X))
        metric = r2_score if is_regressor(self) else accuracy_score
        return float(metric(y, predictions, sample_weight=sample_weight))

    def _callback_copies(self):
        """Fresh copies of ``callbacks`` for one call of fit or partial_fit.

        Callbacks keep state (best values, open files, the model), so the
        instances given as the parameter are never used or changed.
        """
        import keras

        callbacks = list(self.callbacks or ())
        for callback in callbacks:
            if not isinstance(callback, keras.callbacks.Callback):
                raise ValueError(
                    f"callbacks must hold keras.callbacks.Callback instances; got {callback!r}."
                )
        return copy.deepcopy(callbacks)

    def _refresh_optimizer(self):
        """Apply the current optimizer hyperparameters, keeping its state.

        A warm-started fit or a later partial_fit continues from the
        optimizer's state (step count, moments), but a learning rate or
        momentum changed with set_params takes effect.
        """
        from ._training import optimizer_key

        old = self.model_.optimizer
        new = self._build_optimizer()
        learning_rate = new.get_config()["learning_rate"]
        if type(new) is type(old) and optimizer_key(new) == optimizer_key(old):
            # Same settings but for the learning rate (a variable): no rebuild.
            if isinstance(learning_rate, float):
                old.learning_rate = learning_rate
            return
        new.build(self.model_.trainable_variables)
        if type(new) is type(old) and len(new.variables) == len(old.variables):
            for new_variable, old_variable in zip(new.variables, old.variables):
                new_variable.assign(old_variable)
            if isinstance(learning_rate, float):  # not a schedule
                new.learning_rate = learning_rate
        self._compile(new)

    def _check_warm_start(self, X, y):
        architecture = self._check_architecture(X)
        if architecture != self._architecture:
            changed = sorted(k for k in architecture if architecture[k] != self._architecture[k])
            raise ValueError(
                f"warm_start=True continues training the existing network, but "
                f"{', '.join(changed)} changed since it was built. Set warm_start=False "
                f"to build a new network."
            )
        self._check_warm_start_targets(y)

    def _check_warm_start_targets(self, y):
        pass

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _raw_predict(self, X):
        """Validate ``X`` and return the network's training output.

        float32 input is computed in float32, anything else in float64.
        """
        from ._inference import forward

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32), allow_nd=True)
        if X.shape[1:] != self._architecture["input_shape"]:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} was "
                f"fitted on samples of shape {self._architecture['input_shape']}."
            )
        return forward(self.model_, X)

    def summary(self, print_fn=print):
        """Print the Keras summary of the fitted network.

        Layer names, output shapes and parameter counts, as
        ``model.summary()`` shows them in Keras.

        Parameters
        ----------
        print_fn : callable or None, default=print
            Called with the summary's text; with None, the text is returned
            instead.

        Returns
        -------
        text : str or None
            The summary when ``print_fn`` is None.
        """
        check_is_fitted(self)
        lines = []
        self.model_.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
        text = "\n".join(lines)
        if print_fn is None:
            return text
        print_fn(text)

    # ------------------------------------------------------------------
    # Persistence
    # ------------------------------------------------------------------
    def save(self, path):
        """Save the fitted estimator to one file, without pickle.

        The file (a zip archive) holds the hyperparameters, the fitted
        scikit-learn state (classes, feature names, target encoding) as
        plain JSON and the network in Keras's ``.keras`` format, optimizer
        state included. :func:`skdnn.load` reads it back in Keras's safe mode
        and never unpickles anything. Callbacks are not saved.

        Parameters
        ----------
        path : str or path-like
            Where to write the file (``.skdnn`` is a good extension).

        See Also
        --------
        skdnn.load : Load a saved estimator.
        """
        check_is_fitted(self)
        from ._persistence import save

        save(self, path)

    def _fitted_state(self):
        """The fitted state other than the network, as plain data."""
        state = {
            name: value for name, value in vars(self).items()
            if (name.endswith("_") and not name.startswith("__")) or name in _PRIVATE_FITTED
        }
        for name in ("model_", "callbacks_"):
            state.pop(name, None)
        encoder = state.pop("_target_encoder")
        state["_target_encoder"] = {
            "class": type(encoder).__name__,
            "params": encoder.get_params(),
            "fitted": {k: v for k, v in vars(encoder).items() if k.endswith("_")},
        }
        return state

    def _restore_fitted_state(self, state, model):
        from ._target import ClassLabelEncoder, TargetStandardizer

        encoders = {cls.__name__: cls for cls in (ClassLabelEncoder, TargetStandardizer)}
        saved = state.pop("_target_encoder")
        encoder = encoders[saved["class"]](**saved["params"])
        vars(encoder).update(saved["fitted"])
        vars(self).update(state, _target_encoder=encoder, model_=model, callbacks_=[])

    def __getstate__(self):
        state = dict(super().__getstate__())
        if not isinstance(state.get("distribution"), (str, type(None))):
            # A tf.distribute strategy holds devices and threads: it is not
            # pickled, and the copy trains on the default device.
            state["distribution"] = None
        if "model_" in state:
            from ._persistence import model_to_bytes

            # Keras objects are not picklable; the fitted network travels in
            # Keras's own format, optimizer state included.
            state["model_"] = model_to_bytes(state["model_"])
            state.pop("callbacks_", None)
        return state

    def __setstate__(self, state):
        if "model_" in state:
            from ._persistence import model_from_bytes

            state["model_"] = model_from_bytes(state["model_"])
            state["callbacks_"] = []
        super().__setstate__(state)

