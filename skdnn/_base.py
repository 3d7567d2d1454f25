"""Shared base of the skdnn estimators: validation, the fit transaction, prediction.

Every ``fit``, warm-started fit and ``partial_fit`` is all-or-nothing:

1. :meth:`BaseDNN._prepare` checks everything (parameters, data, targets,
   loss, metrics, callbacks, the validation split) on a working copy of the
   estimator and builds what training starts from, without touching the
   estimator itself;
2. :meth:`BaseDNN._train` trains a pooled trainer (see ``_training/trainer.py``) from
   that state, epoch by epoch (see ``_training/loop.py``);
3. :meth:`BaseDNN._commit` writes the result into the estimator, only when
   the whole call succeeded.

On any failure the estimator is exactly as it was before the call.
"""

import dataclasses
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context, clone, is_regressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._features import TABLE_MIN_SAMPLES
from ._keras_names import OPTIMIZERS, copy_callbacks, make_optimizer
from ._network.build import ModelRecipe, training_output
from ._network.ensemble import build_ensemble, ensemble_members
from ._network.inference import forward, to_numpy
from ._persistence import is_fitted, pickle_state, unpickle_state
from ._persistence import save as save_file
from ._sklearn_callbacks import CallbackSupportMixin, FitTask
from ._training import population
from ._training.backends import apply_thread_budget, get_backend
from ._training.loop import LoopConfig, RunResult, TrainingRun
from ._training.trainer import (
    NetworkState,
    TrainerSpec,
    checkout_trainer,
    describe_optimizer,
)
from ._warnings import warn_once

# Sparse X is taken in these formats; any other is converted to the first.
# Training gathers batches of rows, so it works on CSR.
_SPARSE_FORMATS = ("csr", "csc", "coo")

# early_stopping="auto" holds out validation data when the training data have
# at least this many samples (a tenth of them is then a validation set of at
# least 100 samples), or when X_val is given; epochs="auto" is the first cap
# when the stopping rule watches the training loss, the second when it
# watches held-out data, which stops it long before the cap on most data
# (benchmarks/bench_tabular.py).
AUTO_EARLY_STOPPING_MIN_SAMPLES = TABLE_MIN_SAMPLES
AUTO_EPOCHS = {False: 200, True: 1000}

# Seeds drawn from ``random_state`` in this order, so that adding a new use
# of randomness at the end does not change the existing ones.
_SEED_NAMES = ("network", "shuffle", "validation_split")


class _AnyCaseOptions(StrOptions):
    """String options matched without regard to case ("adam", "Adam", "ADAM")."""

    def is_satisfied_by(self, val):
        return isinstance(val, str) and val.lower() in self.options

    def __str__(self):
        return f"{super().__str__()} (in any case)"


@dataclasses.dataclass
class _FitPlan:
    """Everything one call trains from, checked and built by ``_prepare``:
    the data and targets (with the fields of a :class:`_TrainingData`), and
    the network (with those of a :class:`_NetworkStart`)."""

    warm: bool
    X: np.ndarray
    y: np.ndarray
    y_encoded: np.ndarray
    sample_weight: np.ndarray
    encoder: object
    architecture: dict
    model: object
    network: object
    folding: object
    start: NetworkState
    optimizer: object
    learning_rate: object
    recompile: object
    spec: TrainerSpec
    config: LoopConfig
    callbacks: list
    callback_model: object
    train_idx: np.ndarray
    validation: object
    seeds: dict
    observer: object = None


@dataclasses.dataclass
class _TrainingData:
    """The targets and weights one call trains on, and its validation data."""

    y_encoded: np.ndarray
    sample_weight: np.ndarray  # the task's own weights applied (class_weight)
    train_idx: np.ndarray
    validation: object  # a _Validation, or None


@dataclasses.dataclass
class _NetworkStart:
    """The network one call starts from: a new one, or ``model_`` continued."""

    model: object
    network: object  # the training network (see training_output)
    folding: object  # between model's weights and the trainer's (see OutputScaling)
    start: NetworkState
    optimizer: object
    learning_rate: object = None  # a float to load into the optimizer, or None
    recompile: object = None  # (optimizer, loss, metrics) to compile model_ with, or None
    callback_model: object = None


@dataclasses.dataclass
class _Validation:
    """Validation data, checked: from ``X_val`` or held out of ``X``."""

    X: np.ndarray
    y: np.ndarray
    y_encoded: np.ndarray
    sample_weight: np.ndarray

    def arrays(self):
        """``(X, y_encoded, sample_weight)``: what a trainer evaluates."""
        return self.X, self.y_encoded, self.sample_weight


class BaseDNN(CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of the skdnn estimators: the training parameters, the fit
    transaction, persistence.

    An estimator is this base with two parts mixed in on its left: the task
    (``ClassifierTaskMixin`` or ``RegressorTaskMixin``: the target encoder,
    ``loss``, ``partial_fit`` and the predictions) and the network's source
    (``MLPNetworkMixin``: ``Dense`` layers from hyperparameters, or
    ``KerasNetworkMixin``: the user's ``model``). Each concrete class builds
    its ``_parameter_constraints`` from the three.

    Warning: this class should not be used directly. Use the derived classes.
    """

    # The fitted state as plain data, declared once: what _commit sets, what
    # persistence saves and loads (besides model_, saved as a Keras file, and
    # _target_encoder, saved as its state; see _persistence.py), and what the
    # copies scikit-learn's callbacks get hold (see _sklearn_callbacks.py).
    # A task part adds its own, which its target encoder holds (a
    # classifier's classes_). callbacks_ is set by _commit and never saved.
    _fitted_state = (
        "n_features_in_",
        "n_outputs_",
        "n_iter_",
        "history_",
        "loss_curve_",
        "best_loss_",
        "best_validation_score_",
        "_architecture",
    )

    _parameter_constraints = {
        "optimizer": [
            _AnyCaseOptions(set(OPTIMIZERS)),
            HasMethods(["apply_gradients", "get_config"]),
        ],
        "learning_rate": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"adaptive"}),
            HasMethods(["__call__", "get_config"]),
        ],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterov": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            None,
        ],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": [Interval(Integral, 0, 2, closed="both")],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
        "metrics": [list, None],
        "distribution": [None, StrOptions({"mirrored"}), HasMethods(["scope", "run"])],
    }  # and ``loss``, whose values are the task part's

    @abstractmethod
    def __init__(
        self,
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
        n_ensemble,
        random_state,
        verbose,
        warm_start,
        loss,
        callbacks,
        metrics,
        distribution,
    ):
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
        self.n_ensemble = n_ensemble
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.loss = loss
        self.callbacks = callbacks
        self.metrics = metrics
        self.distribution = distribution

    @abstractmethod
    def _make_target_encoder(self):
        """Return the unfitted target encoder, which owns the output head."""

    def _make_feature_encoder(self):
        """Return the unfitted input encoder (see ``_features.py``), or None
        to take numeric input only, as it is (the network part's)."""
        return None

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Build the network and train it on ``(X, y)``.

        With ``warm_start=True`` and an already fitted network, training
        continues from its weights and optimizer state instead. The fit is
        all-or-nothing: if it fails, the estimator is left as it was.

        Ctrl-C (KeyboardInterrupt) is not a failure: training stops, and the
        estimator keeps the weights trained so far. When you called ``fit``
        yourself, it then warns and returns, as scikit-learn's MLP does.
        When the estimator was made by :func:`sklearn.base.clone`, which is
        how a meta-estimator or model-selection function (``GridSearchCV``,
        ``cross_validate``, a ``Pipeline`` inside a search...) gets what it
        fits, ``fit`` raises the KeyboardInterrupt again, so that the search
        stops too.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training samples. Samples with several dimensions (images) are
            flattened by a DNN estimator's network, and reach a Keras
            estimator's ``model`` as they are.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; each batch's loss is their weighted mean.
        X_val : array-like of shape (n_val_samples, n_features), default=None
            Validation samples, as in scikit-learn's
            ``HistGradientBoostingClassifier``: the validation loss and metrics
            are recorded in ``history_`` every epoch (``val_loss``,
            ``val_<metric>``), and with ``early_stopping=True`` training
            monitors them instead of holding out ``validation_fraction`` of
            ``X``. In a Pipeline, ``X_val`` does not pass through the
            preceding steps unless the Pipeline is told to transform it
            (``Pipeline(..., transform_input=["X_val"])`` with metadata
            routing enabled).
        y_val : array-like of shape (n_val_samples,) or (n_val_samples, n_outputs), \
default=None
            Validation targets; required with ``X_val``.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the validation samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        warm = self.warm_start and is_fitted(self)
        return self._fit(
            X,
            y,
            sample_weight,
            warm=warm,
            incremental=False,
            validation_data=(X_val, y_val, sample_weight_val),
        )

    def _fit(
        self,
        X,
        y,
        sample_weight,
        *,
        warm,
        incremental,
        classes=None,
        validation_data=(None, None, None),
    ):
        """One all-or-nothing call of fit or partial_fit."""
        # A shallow working copy: training replaces its attributes (and never
        # changes a shared object in place) until _commit.
        # Opened on the estimator before the working copy, which then holds
        # the same callback context (see _sklearn_callbacks.py).
        if warm or incremental:
            self._check_continuable(warm, incremental)
        store = vars(self).pop("_population_store", None)
        max_epochs = self.epochs if isinstance(self.epochs, Integral) else max(AUTO_EPOCHS.values())
        task = FitTask(self, 1 if incremental else max_epochs, X, y, sample_weight)
        trained = None
        if store is not None and not warm and not incremental and validation_data[0] is None:
            # A search trained this fit already, in a population.
            trained = population.claim(store, self, X, y, sample_weight)
        if trained is not None:
            # The stored fit's working copy validated the same data: take
            # what that set (n_features_in_, ...), keeping this call's own.
            work = object.__new__(type(self))
            vars(work).update(vars(self))
            params = self.get_params(deep=False)
            vars(work).update(
                {name: value for name, value in vars(trained.work).items() if name not in params}
            )
            plan, result = trained.plan, trained.result
        elif self.n_ensemble > 1:
            work = object.__new__(type(self))
            vars(work).update(vars(self))
            members = ensemble_members(self.model_) if warm else [None] * self.n_ensemble
            plans = []
            for number, member in enumerate(members):
                # A continued member's plan starts from that member's
                # network and optimizer state (see _continued_network).
                work.model_ = member
                plans.append(
                    work._prepare(
                        X, y, sample_weight, warm, incremental, classes, validation_data, number
                    )
                )
            if warm:
                work.model_ = self.model_
            else:
                del work.model_
            results = _train_members(work, plans)
            self._commit(work, plans, results)
            plan, result = plans[0], _ensemble_outcome(results)
        else:
            work = object.__new__(type(self))
            vars(work).update(vars(self))
            plan = work._prepare(X, y, sample_weight, warm, incremental, classes, validation_data)
            plan.observer = task.observer(work, plan)
            result = work._train(plan)
        if self.n_ensemble == 1 or trained is not None:
            self._commit(work, [plan], [result])
        task.end()
        if result.interrupted and vars(self).get("_made_by_clone"):
            # A meta-estimator's fit: stop it too (see __sklearn_clone__).
            raise result.interrupted
        if result.interrupted:
            warnings.warn(
                f"Training was interrupted (KeyboardInterrupt) after {result.n_epochs} "
                f"epoch(s) of this call; the estimator keeps the weights trained so far.",
                UserWarning,
                stacklevel=4,
            )
        elif not result.converged and not incremental:
            # Once per cause: a search would otherwise repeat it for every fit.
            warn_once(_convergence_advice(plan.config), ConvergenceWarning, stacklevel=4)
        return self

    def _check_continuable(self, warm, incremental):
        """Raise when this call would continue a network with another number
        of members than ``n_ensemble`` asks for."""
        if not warm:
            return
        members = ensemble_members(self.model_)
        n_members = 1 if members is None else len(members)
        if n_members != self.n_ensemble:
            call = "partial_fit" if incremental else "warm_start=True"
            fitted = "network" if members is None else f"ensemble of {n_members} networks"
            remedy = (
                "start a new estimator" if incremental else "set warm_start=False to fit a new one"
            )
            raise ValueError(
                f"{call} continues training the fitted {fitted}, but n_ensemble="
                f"{self.n_ensemble} now. Set n_ensemble={n_members}, or {remedy}."
            )

    @abstractmethod
    def _architecture_of(self, X):
        """The network's architecture for samples like ``X``, checked: a dict
        that a warm start must find unchanged (the network part's)."""

    @abstractmethod
    def _build_network(self, architecture, encoder, seed):
        """Return the new network ``(model, train_network)`` for ``architecture``.

        ``model`` is the whole network (what ``model_`` holds); its layer
        named ``"output"`` gives the training output the loss is computed
        on, which ``train_network`` ends with (the network part's).
        """

    @abstractmethod
    def _network_recipe(self, architecture, encoder):
        """How a trainer builds the training network again (see
        :class:`~skdnn._network.build.NetworkRecipe`), or None to clone it (the
        network part's)."""

    @abstractmethod
    def _l2_penalty(self):
        """The strength of the L2 penalty on the weights (the network part's)."""

    @abstractmethod
    def _sample_weight(self, encoder, y, sample_weight):
        """``sample_weight`` with the task's own weights (a classifier's
        ``class_weight``) applied by ``encoder`` (the task part's)."""

    def _check_target_values(self, y, name):
        """Before ``validate_data``: raise when the values of ``y`` cannot be
        the task's targets (the task part's; anything goes here)."""

    def _early_stopping(self, n_samples, has_validation_data, incremental):
        """Whether this call monitors validation data (``early_stopping``):
        ``"auto"`` when ``X_val`` is given or there are enough samples."""
        if incremental:
            return False
        if self.early_stopping == "auto":
            return has_validation_data or n_samples >= AUTO_EARLY_STOPPING_MIN_SAMPLES
        return bool(self.early_stopping)

    def _split_validation(self, y, encoder, seed, early_stopping):
        """The training and validation rows; with ``early_stopping="auto"``
        no validation rows when no stratified split can be made (a class
        with a single sample)."""
        n_samples = len(y)
        indices = np.arange(n_samples)
        if not early_stopping:
            return indices, indices[:0]
        try:
            train_idx, val_idx = train_test_split(
                indices,
                test_size=float(self.validation_fraction),
                random_state=seed,
                stratify=encoder.stratify(y),
            )
        except ValueError as error:
            if self.early_stopping == "auto":
                return indices, indices[:0]
            raise ValueError(
                f"early_stopping=True could not hold out validation_fraction="
                f"{self.validation_fraction} of {n_samples} samples: {error} Use more "
                f"samples, a larger validation_fraction, or early_stopping=False."
            ) from None
        if len(val_idx) < 2:
            raise ValueError(
                f"The validation set is too small to score: early_stopping=True holds out "
                f"validation_fraction={self.validation_fraction} of {n_samples} samples, "
                f"{len(val_idx)} sample(s). Increase validation_fraction or the size of "
                f"your dataset, or use early_stopping=False."
            )
        return train_idx, val_idx

    def _validation_data(self, X_val, y_val, sample_weight_val, encoder, input_shape, sparse):
        """Check ``X_val``, ``y_val`` and their weights against the training data."""
        if (X_val is None) != (y_val is None):
            raise ValueError(
                "X_val and y_val must be given together (validation samples and their "
                "targets), or neither."
            )
        if X_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val needs X_val and y_val.")
            return None
        shape = _other_sample_shape(X_val, input_shape)
        if shape is not None:  # before scikit-learn counts only X_val.shape[1]
            raise ValueError(
                f"X_val has samples of shape {shape}, but X has samples of shape {input_shape}."
            )
        self._check_target_values(y_val, "y_val")
        X_val, y_val = self._validate_features(
            X_val, y_val, reset=False, multi_output=True, y_numeric=is_regressor(self)
        )
        # The same kind as X: the compiled evaluation takes one or the other.
        if sparse:
            X_val = sp.csr_matrix(X_val)
        elif sp.issparse(X_val):
            X_val = X_val.toarray()  # the validation data only; X stays as it is
        if X_val.shape[1:] != input_shape:
            raise ValueError(
                f"X_val has samples of shape {X_val.shape[1:]}, but X has samples of shape "
                f"{input_shape}."
            )
        y_val = encoder.check_targets(y_val)
        encoder.check_compatible(y_val)
        try:
            sample_weight_val = _check_sample_weight(
                sample_weight_val, X_val, dtype=np.float32, ensure_non_negative=True
            )
        except ValueError as error:
            raise ValueError(f"sample_weight_val: {error}") from None
        sample_weight_val = self._sample_weight(encoder, y_val, sample_weight_val)
        return _Validation(
            X_val.astype(np.float32, copy=False), y_val, encoder.transform(y_val), sample_weight_val
        )

    def _prepare(
        self,
        X,
        y,
        sample_weight,
        warm,
        incremental,
        classes,
        validation_data=(None, None, None),
        member=0,
    ):
        """Check everything and build what this call trains from.

        Called on the working copy: it sets the validated data's attributes
        (``n_features_in_``, ``feature_names_in_``) and the input encoder
        (``_feature_encoder``) there, never on the estimator itself. Each
        step checks before the next builds, in this order, so that a wrong
        parameter is named before anything is built. ``member`` numbers the
        network of an ensemble: each draws its own seeds (see
        ``_draw_seeds``).
        """
        backend = get_backend()
        apply_thread_budget()
        X, y, sample_weight, encoder = self._check_data(X, y, sample_weight, warm, incremental)
        architecture = self._architecture_of(X)
        encoder = self._fit_target_encoder(encoder, architecture, y, sample_weight, warm, classes)
        losses = encoder.loss(self.loss)
        metrics = encoder.metrics(self.metrics)
        callbacks = copy_callbacks(self.callbacks)
        strategy = backend.strategy(self.distribution)
        seeds = self._draw_seeds(member)
        early_stopping = self._early_stopping(len(y), validation_data[0] is not None, incremental)
        data = self._training_data(
            X,
            y,
            sample_weight,
            encoder,
            validation_data,
            int(seeds["validation_split"]),
            early_stopping,
            architecture["input_shape"],
        )
        optimizer = make_optimizer(self.optimizer, self.learning_rate, self.momentum, self.nesterov)
        compile_loss = losses[3]
        if warm:
            start = self._continued_network(encoder, optimizer, compile_loss, callbacks)
        else:
            start = self._new_network(
                architecture, encoder, optimizer, compile_loss, int(seeds["network"]), callbacks
            )
        spec = self._trainer_spec(
            architecture, encoder, losses, metrics, start, data, sp.issparse(X), strategy
        )
        # "auto" holds out nothing when no stratified split can be made.
        early_stopping = early_stopping and data.validation is not None
        config = self._loop_config(len(data.train_idx), incremental, early_stopping)
        return _FitPlan(
            warm=warm,
            X=X,
            y=y,
            encoder=encoder,
            architecture=architecture,
            spec=spec,
            config=config,
            callbacks=callbacks,
            seeds=seeds,
            **vars(data),
            **vars(start),
        )

    def _check_data(self, X, y, sample_weight, warm, incremental):
        """Validate ``X``, ``y`` and ``sample_weight``; return them (``X``
        encoded for the network) and the target encoder that checked ``y``:
        the fitted one when training continues, else a new one. The input
        encoder likewise, set as ``_feature_encoder``."""
        if warm:
            self._check_continued_samples(X, incremental)
            self._check_feature_encoder(incremental)
        else:
            self._feature_encoder = self._make_feature_encoder()
        self._check_target_values(y, "y")
        X, y = self._validate_features(
            X, y, reset=not warm, multi_output=True, y_numeric=is_regressor(self)
        )
        X = _as_csr(X)
        encoder = self._target_encoder if warm else self._make_target_encoder()
        y = encoder.check_targets(y)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float32, ensure_non_negative=True
        )
        return X, y, sample_weight, encoder

    def _validate_features(self, X, y="no_validation", *, reset, **check_params):
        """``validate_data`` for this estimator, ``X`` encoded by the input
        encoder when it has one (fitted first when ``reset``).

        float64 stays as it is here: the one conversion to float32 happens
        when the training tensor is made (see as_training_tensor).
        """
        check_params = {
            "dtype": (np.float32, np.float64),
            "allow_nd": True,
            "accept_sparse": _SPARSE_FORMATS,
            **check_params,
        }
        features = self._feature_encoder
        if features is None:
            _check_feature_types(X, type(self).__name__)
            return validate_data(self, X, y, reset=reset, **check_params)
        if reset:
            return features.fit_validate(self, X, y, **check_params)
        return features.validate(self, X, y, **check_params)

    def _check_feature_encoder(self, incremental):
        """Raise when training continues while ``categorical_features``
        changed since the network was built: its input is encoded as then."""
        new, fitted = self._make_feature_encoder(), self._feature_encoder
        if new is None or fitted is None or new.get_params() == fitted.get_params():
            return
        call = "partial_fit" if incremental else "warm_start=True"
        raise ValueError(
            f"{call} continues training the existing network, whose input was encoded "
            f"with categorical_features={fitted.get_params()['categorical_features']!r}, "
            f"but the parameters now ask for "
            f"categorical_features={new.get_params()['categorical_features']!r}. Set it "
            f"back, or set warm_start=False to build a new network."
        )

    def _fit_target_encoder(self, encoder, architecture, y, sample_weight, warm, classes):
        """The target encoder this call trains with: the fitted one when
        training continues (the network and its output layer unchanged), else
        a copy of ``encoder`` fitted on ``y``."""
        if warm:
            self._check_warm_start(architecture, y)
            return encoder
        return clone(encoder).fit(y, sample_weight=sample_weight, classes=classes, loss=self.loss)

    def _draw_seeds(self, member=0):
        """The seeds of this call, drawn from ``random_state`` (see
        _SEED_NAMES): an ensemble's member ``i`` takes the ``i``-th draw,
        so that its first member is the network of ``n_ensemble=1``."""
        rng = check_random_state(self.random_state)
        drawn = rng.randint(np.iinfo(np.int32).max, size=len(_SEED_NAMES) * (member + 1))
        return dict(zip(_SEED_NAMES, drawn[-len(_SEED_NAMES) :], strict=True))

    def _training_data(
        self, X, y, sample_weight, encoder, validation_data, seed, early_stopping, input_shape
    ):
        """The encoded targets, the weights (the task's own applied), the
        training rows and the validation data: ``X_val``'s, else held out of
        ``X`` with early stopping, else None."""
        validation = self._validation_data(*validation_data, encoder, input_shape, sp.issparse(X))
        sample_weight = self._sample_weight(encoder, y, sample_weight)
        y_encoded = encoder.transform(y)
        if validation is None:
            train_idx, val_idx = self._split_validation(y, encoder, seed, early_stopping)
            if early_stopping and len(val_idx):
                validation = _Validation(
                    X[val_idx].astype(np.float32, copy=False),
                    y[val_idx],
                    y_encoded[val_idx],
                    sample_weight[val_idx],
                )
        else:
            train_idx = np.arange(len(y))
        if validation is not None and early_stopping and not np.sum(validation.sample_weight) > 0:
            raise ValueError(
                "The validation data hold only samples of zero weight; early stopping "
                "cannot measure anything. Use early_stopping=False or other weights."
            )
        return _TrainingData(y_encoded, sample_weight, train_idx, validation)

    def _new_network(self, architecture, encoder, optimizer, compile_loss, seed, callbacks):
        """A new network, compiled with ``optimizer``, to start training from."""
        model, network = self._build_network(architecture, encoder, seed)
        model.compile(
            optimizer=optimizer,
            loss=compile_loss,
            metrics=encoder.metrics(self.metrics) or None,
        )
        optimizer.build(model.trainable_variables)
        folding = encoder.folding(model)
        # The initial weights train as drawn; the model holds them folded.
        start = NetworkState.of(model)
        folding.fold(start).assign_weights_to(model)
        return _NetworkStart(
            model=model,
            network=network,
            folding=folding,
            start=start,
            optimizer=optimizer,
            callback_model=model if callbacks else None,
        )

    def _continued_network(self, encoder, optimizer, compile_loss, callbacks):
        """The fitted network (``model_``) to continue training, untouched:
        the optimizer to continue with, and what to compile it with at
        commit when that optimizer is a new one."""
        model = self.model_
        folding = encoder.folding(model)
        optimizer, learning_rate, start = self._continued_optimizer(optimizer)
        recompile, callback_model = None, None
        if optimizer is not model.optimizer:
            recompile = (optimizer, compile_loss, encoder.metrics(self.metrics))
        if callbacks:
            callback_model = _copy_compiled(
                model, optimizer, compile_loss, encoder.metrics(self.metrics)
            )
            start.assign_to(callback_model)
        return _NetworkStart(
            model=model,
            network=training_output(model),
            folding=folding,
            start=folding.unfold(start),
            optimizer=optimizer,
            learning_rate=learning_rate,
            recompile=recompile,
            callback_model=callback_model,
        )

    def _trainer_spec(self, architecture, encoder, losses, metrics, start, data, sparse, strategy):
        """The :class:`TrainerSpec` that builds (or finds pooled) the trainer."""
        loss, loss_on_predictions, one_hot_loss, _ = losses
        return TrainerSpec(
            network=self._network_recipe(architecture, encoder) or ModelRecipe(start.network),
            optimizer=start.optimizer,
            loss=loss,
            metrics=tuple(metrics),
            output_transform=encoder.output_transform,
            loss_on_predictions=loss_on_predictions,
            one_hot_loss=one_hot_loss,
            one_hot_depth=encoder.one_hot_depth,
            target_signature=(data.y_encoded.dtype.name, data.y_encoded.shape[1:]),
            scaling_shape=np.shape(encoder.scaling()[0]),
            sparse_input=sparse,
            strategy=strategy,
        )

    def _loop_config(self, n_train, incremental, early_stopping):
        """The epochs' settings (see :class:`LoopConfig`)."""
        batch_size = min(200 if self.batch_size == "auto" else self.batch_size, n_train)
        return LoopConfig(
            epochs=1 if incremental else self._max_epochs(early_stopping),
            batch_size=int(batch_size),
            shuffle=bool(self.shuffle),
            stopping_rule=not incremental,
            early_stopping=early_stopping,
            tol=float(self.tol),
            n_iter_no_change=(
                int(self.n_iter_no_change)
                if isinstance(self.n_iter_no_change, Integral)
                else self.n_iter_no_change
            ),
            adaptive=self.learning_rate == "adaptive",
            alpha=self._l2_penalty(),
            verbose=int(self.verbose),
            learning_rate=self.learning_rate,
        )

    def _max_epochs(self, early_stopping):
        """``epochs``, with ``"auto"`` resolved: a higher cap when the rule
        stops on validation data (see AUTO_EPOCHS)."""
        if self.epochs != "auto":
            return int(self.epochs)
        return AUTO_EPOCHS[bool(early_stopping and self.n_iter_no_change is not None)]

    def _continued_optimizer(self, optimizer):
        """For a warm start: the optimizer to continue with, the float
        learning rate to load into it (or None), and the starting state.

        The optimizer's state (step count, moments) carries over, but a
        learning rate or momentum changed with set_params takes effect. An
        unchanged optimizer is kept (its learning rate is a variable); a
        changed one is replaced, with the old state copied in when it fits.
        """
        old = self.model_.optimizer
        learning_rate = optimizer.get_config()["learning_rate"]
        learning_rate = learning_rate if isinstance(learning_rate, float) else None
        unchanged = describe_optimizer(optimizer) == describe_optimizer(old)
        if type(optimizer) is type(old) and unchanged:
            return old, learning_rate, NetworkState.of(self.model_)
        optimizer.build(self.model_.trainable_variables)
        state = NetworkState.of(self.model_, optimizer)
        if type(optimizer) is type(old) and len(optimizer.variables) == len(old.variables):
            state = dataclasses.replace(state, optimizer=[to_numpy(v) for v in old.variables])
        else:
            learning_rate = None  # the new optimizer starts from its own settings
        return optimizer, learning_rate, state

    def _check_continued_samples(self, X, incremental):
        """Before scikit-learn counts features: samples of another shape than
        the network's, named in the terms of the call that continues it."""
        expected = self._architecture["input_shape"]
        shape = _other_sample_shape(X, expected)
        if shape is None:
            return
        if incremental:
            remedy = (
                f"Give every call of partial_fit samples of shape {expected}, or start "
                f"a new estimator for the new shape."
            )
        else:
            remedy = (
                f"Give samples of shape {expected}, or set warm_start=False to build "
                f"a new network for the new shape."
            )
        call = "partial_fit" if incremental else "warm_start=True"
        raise ValueError(
            f"X has samples of shape {shape}, but {call} continues training the network "
            f"built for samples of shape {expected}. {remedy}"
        )

    def _check_warm_start(self, architecture, y):
        if architecture != self._architecture:
            changed = sorted(
                key
                for key in architecture.keys() | self._architecture.keys()
                if architecture.get(key) != self._architecture.get(key)
            )
            raise ValueError(
                f"warm_start=True continues training the existing network, but "
                f"{', '.join(changed)} changed since it was built. Set warm_start=False "
                f"to build a new network."
            )
        encoder_params = self._make_target_encoder().get_params()
        if encoder_params != self._target_encoder.get_params():
            raise ValueError(
                f"warm_start=True continues training the existing network, but its output "
                f"layer was built for {self._target_encoder.get_params()} and the "
                f"parameters now ask for {encoder_params}. Set warm_start=False to build a "
                f"new network."
            )
        self._target_encoder.check_compatible(y)

    def _train(self, plan):
        """Run the epochs of one call on a pooled trainer; return the result."""
        X, encoder = plan.X, plan.encoder
        validation = None if plan.validation is None else plan.validation.arrays()
        with checkout_trainer(plan.spec) as trainer:
            data = trainer.data(X, plan.y_encoded, plan.sample_weight)
            trainer.load(plan.start, plan.spec)
            if plan.learning_rate is not None:
                trainer.learning_rate.assign(plan.learning_rate)
            run = TrainingRun(
                trainer,
                plan.config,
                data,
                plan.train_idx,
                validation,
                encoder.scaling(),
                shuffle_rng=np.random.RandomState(plan.seeds["shuffle"]),
                history=getattr(self, "history_", {}) if plan.warm else {},
                first_epoch=self.n_iter_ if plan.warm else 0,
                callbacks=plan.callbacks,
                callback_model=plan.callback_model,
                observer=plan.observer,
                folding=plan.folding,
            )
            return run.run()

    def _fitted_attributes(self, plan, model, n_iter, history, best=(None, None)):
        """The attributes that make an estimator fitted with ``model``: those
        of ``_fitted_state``, ``_target_encoder``, ``_feature_encoder`` and
        ``model_``.

        What ``_commit`` sets (with ``callbacks_``), and what scikit-learn's
        callbacks get for a copy of the estimator after an epoch, when
        ``best`` (the best loss and validation score) is not known yet.
        Called on the working copy, which holds ``n_features_in_``.
        """
        values = {
            "n_features_in_": self.n_features_in_,
            "n_outputs_": plan.encoder.n_outputs_,
            "n_iter_": n_iter,
            "history_": history,
            "loss_curve_": history.get("loss", []),
            "best_loss_": best[0],
            "best_validation_score_": best[1],
            "_architecture": plan.architecture,
        }
        attributes = {
            "_target_encoder": plan.encoder,
            "_feature_encoder": self._feature_encoder,
            "model_": model,
        }
        for name in self._fitted_state:
            # The task part's own (a classifier's classes_) are its encoder's.
            attributes[name] = values[name] if name in values else getattr(plan.encoder, name)
        return attributes

    def _commit(self, work, plans, results):
        """Make the working copy's result the estimator's fitted state.

        ``plans`` and ``results`` are one network's, or each member's of an
        ensemble, whose ``model_`` averages them (see ``build_ensemble``)
        and whose history, epochs and validation score summarize theirs.
        """
        plan = plans[0]
        if len(results) == 1:
            history = results[0].history
        else:
            history = _mean_history([result.history for result in results])
        n_iter = (work.n_iter_ if plan.warm else 0) + max(r.n_epochs for r in results)
        if plan.config.early_stopping:
            # In scikit-learn's MLP units: the score (accuracy or R^2) of the
            # restored weights on the validation data, the members' mean.
            scores = [
                p.encoder.score(p.validation.y, r.validation_output, p.validation.sample_weight)
                for p, r in zip(plans, results, strict=True)
            ]
            best = None, float(np.mean(scores))
        else:
            best = (min(history["loss"]) if history.get("loss") else None), None
        # Nothing below can fail on checked input: the commit itself. A
        # continued network is the fitted one, recompiled if it must be.
        for member, result in zip(plans, results, strict=True):
            if member.recompile is not None:
                optimizer, loss, metrics = member.recompile
                member.model.compile(optimizer=optimizer, loss=loss, metrics=metrics or None)
            member.folding.fold(result.state).assign_to(member.model)
        if len(plans) == 1:
            model = plan.model
        else:
            members = [member.model for member in plans]
            shape = plan.architecture["input_shape"]
            model = build_ensemble(members, shape, plan.spec.sparse_input)
        attributes = work._fitted_attributes(plan, model, n_iter, history, best)
        vars(work).update(attributes, callbacks_=plan.callbacks)
        for callback in plan.callbacks:
            callback.set_model(model)
        vars(self).clear()
        vars(self).update(vars(work))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _raw_predict(self, X):
        """Validate ``X`` and return the network's training output (an
        ensemble's: see the target encoder's ``average_outputs``).

        float32 input is computed in float32, anything else in float64; a
        sparse matrix stays sparse.
        """
        models, outputs = self._member_predictions(X)
        if len(models) == 1:
            return outputs[0]
        return self._target_encoder.average_outputs(models, outputs)

    def _member_predictions(self, X):
        """Validate ``X``; return the networks of ``model_`` (its members,
        or the model itself) and each one's training output for ``X``."""
        check_is_fitted(self)
        self._check_predicted_samples(X)
        X = _as_csr(self._validate_features(X, reset=False, dtype=(np.float64, np.float32)))
        models = ensemble_members(self.model_) or [self.model_]
        return models, [forward(model, X) for model in models]

    def _check_predicted_samples(self, X):
        expected = self._architecture["input_shape"]
        shape = _other_sample_shape(X, expected)
        if shape is not None:
            raise ValueError(
                f"X has samples of shape {shape}, but {type(self).__name__} was fitted on "
                f"samples of shape {expected}. Give samples of shape {expected} (resize or "
                f"reshape them as for fitting), or fit it again on samples of the new shape."
            )

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
    # Persistence (see _persistence.py)
    # ------------------------------------------------------------------
    def save(self, path):
        """Save the fitted estimator to one file, without pickle.

        The file (a zip archive) holds the hyperparameters, the fitted
        scikit-learn state (classes, feature names, target encoding) as
        plain JSON and the network in Keras's ``.keras`` format, optimizer
        state included. It is written to a temporary file in the same folder
        and then renamed, so a failed save leaves an existing file intact.
        :func:`skdnn.load` reads it back in Keras's safe mode and never
        unpickles anything. Callbacks are not saved.

        Parameters
        ----------
        path : str or path-like
            Where to write the file (``.skdnn`` is a good extension).

        See Also
        --------
        skdnn.load : Load a saved estimator.
        """
        check_is_fitted(self)
        save_file(self, path)

    def __sklearn_clone__(self):
        # Meta-estimators and model-selection functions fit clones of the
        # estimator they are given. Marking them lets an interrupted fit stop
        # the meta-estimator instead of scoring half-trained weights and going
        # on (see fit); a fit of the user's own estimator returns as MLP's does.
        # Kept through pickling: a parallel search's workers get the mark.
        new = super().__sklearn_clone__()
        new._made_by_clone = True
        # Inside a population search: the fits it trained already.
        store = population.active_store()
        if store is not None:
            new._population_store = store
        return new

    def __copy__(self):
        # A plain shallow copy, without sending the network through
        # __getstate__: scikit-learn's callbacks copy the estimator to score it.
        copy = object.__new__(type(self))
        vars(copy).update(vars(self))
        return copy

    def __getstate__(self):
        state = dict(super().__getstate__())
        # A search's trained population stays in the search's process.
        state.pop("_population_store", None)
        return pickle_state(self, state)

    def __setstate__(self, state):
        state, restore_fitted = unpickle_state(self, state)
        super().__setstate__(state)
        restore_fitted()


def _train_members(work, plans):
    """Train the members of an ensemble (their ``plans``), as one population
    where the backend has one; return their results in order.

    A member the population did not train (the backend has no
    populations, a layer it declines, a divergence) trains on its own, and
    reports its own errors. A KeyboardInterrupt ends the ensemble with the
    members trained so far.
    """
    fits = [
        population.Fit(
            work,
            None,
            work,
            plan,
            history=work.history_ if plan.warm else {},
            first_epoch=work.n_iter_ if plan.warm else 0,
        )
        for plan in plans
    ]
    if all(population.trains_together(plan) for plan in plans):
        population.train_fits(fits)
    results = []
    for fit in fits:
        result = fit.result if fit.result is not None else work._train(fit.plan)
        results.append(result)
        if result.interrupted:
            break
    del plans[len(results) :]
    return results


def _mean_history(histories):
    """The epoch-by-epoch mean of the members' histories, over the members
    that trained each epoch (they may stop at different epochs)."""
    mean = {}
    for key in histories[0]:
        curves = [history[key] for history in histories if key in history]
        length = max(len(curve) for curve in curves)
        mean[key] = [
            float(np.mean([curve[epoch] for curve in curves if epoch < len(curve)]))
            for epoch in range(length)
        ]
    return mean


def _ensemble_outcome(results):
    """What the members' results say about the whole call: converged when
    every member did, interrupted when one was."""
    interrupted = next((r.interrupted for r in results if r.interrupted), None)
    return RunResult(
        history={},
        n_epochs=max(result.n_epochs for result in results),
        converged=all(result.converged for result in results),
        interrupted=interrupted,
    )


def _convergence_advice(config):
    """The ConvergenceWarning of a call that reached its last epoch while
    the monitored loss was still improving: what to do about it."""
    epochs = config.epochs
    if config.early_stopping:
        return (
            f"Training stopped after the maximum of epochs={epochs} while the validation "
            f"loss was still improving. Increase epochs or learning_rate, or set "
            f"n_iter_no_change=None to train exactly {epochs} epochs."
        )
    return (
        f"Training stopped after the maximum of epochs={epochs} while the training loss "
        f"was still improving. A training loss that keeps falling may be overfitting: "
        f"set early_stopping=True to stop when held-out data stop improving (the "
        f"default early_stopping='auto' does so from {AUTO_EARLY_STOPPING_MIN_SAMPLES} "
        f"samples on). Otherwise increase epochs or learning_rate, or set "
        f"n_iter_no_change=None to train exactly {epochs} epochs."
    )


def _check_feature_types(X, name):
    """Raise, naming the columns and the fix, when a DataFrame ``X`` has
    columns of text or categories: the network takes numbers only."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return
    import pandas as pd

    columns = [
        str(column)
        for column, dtype in dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if not columns:
        return
    shown = ", ".join(repr(c) for c in columns[:5]) + (", ..." if len(columns) > 5 else "")
    raise ValueError(
        f"X has {len(columns)} column(s) of text or categories ({shown}), but {name} "
        f"takes numbers only. Encode them in a Pipeline before the network, for example "
        f"make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown='ignore'), "
        f"make_column_selector(dtype_exclude='number')), remainder=StandardScaler()), "
        f"{name}()); see the user guide's section 5, Inputs."
    )


def _other_sample_shape(X, expected):
    """The shape of the samples of ``X`` when it differs from ``expected``
    (a tuple), or None.

    Checked before scikit-learn's ``validate_data``, whose message counts
    only ``X.shape[1]`` as "features" and would say "16 features, expecting
    8" of images of 16x16 pixels against 8x8 ones. Only samples with several
    dimensions (on either side) are checked there: a table with the wrong
    number of columns keeps scikit-learn's message, which names them.
    """
    shape = getattr(X, "shape", None)
    if shape is None:
        try:
            shape = np.shape(X)  # nested lists
        except (TypeError, ValueError):  # ragged, or refusing NumPy's functions
            return None  # validate_data says what is wrong, or converts it
    shape = tuple(int(size) for size in shape[1:])
    if not shape or shape == tuple(expected) or (len(shape) == 1 and len(expected) == 1):
        return None
    return shape


def _as_csr(X):
    """``X`` as CSR when it is sparse (rows are gathered), else unchanged."""
    return X.tocsr() if sp.issparse(X) else X


def _copy_compiled(model, optimizer, loss, metrics):
    """A compiled copy of ``model`` with a copy of ``optimizer``, built: what
    the callbacks of a warm-started fit see, so that the fitted model is
    changed only when the fit succeeds."""
    import keras

    copy = keras.models.clone_model(model)
    optimizer = type(optimizer).from_config(optimizer.get_config())
    copy.compile(optimizer=optimizer, loss=loss, metrics=metrics or None)
    optimizer.build(copy.trainable_variables)
    return copy
