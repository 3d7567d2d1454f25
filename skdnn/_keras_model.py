"""KerasClassifier and KerasRegressor: the skdnn estimators around a network the user brings.

The user's ``model`` (a function that returns a ``keras.Model``, or a
``keras.Model``) is the network's body: :class:`KerasNetworkMixin` is the
network part that takes it, in place of the DNN estimators'
``MLPNetworkMixin``. The rest is shared: the task parts add the output
layer, loss and decoding of the task (see ``build_body_network``), and
fitting, warm starts, persistence and prediction are ``BaseDNN``'s.
"""

import difflib
import inspect

from ._base import BaseDNN
from ._classifier import ClassifierTaskMixin
from ._docstrings import fill_doc
from ._network.build import build_body_network
from ._persistence import register_estimator
from ._regressor import RegressorTaskMixin
from ._warnings import warn_once

# model__<name>=value is routed to the model function's argument <name>.
ROUTE_PREFIX = "model__"


# The arguments scikeras passes to a model function, and what replaces them
# (see docs/migration.md, "From scikeras").
SCIKERAS_ARGUMENTS = {
    "meta": (
        "Replace meta by an input_shape argument, the shape of one sample "
        "(keras.Input(input_shape) for meta['n_features_in_']), and remove the output "
        "layer built from meta['n_classes_'] or meta['n_outputs_']: skdnn adds the "
        "output layer that the target needs."
    ),
    "compile_kwargs": (
        "Remove compile_kwargs and model.compile(...): skdnn compiles, and the "
        "optimizer, loss and metrics are parameters of the estimator."
    ),
}


def _check_routed(estimator):
    """Raise a TypeError, at fit, for a constructor argument that is neither a
    parameter nor routed (``model__<name>``), with a suggestion."""
    for name in estimator._model_params:
        if not name.startswith(ROUTE_PREFIX) or name == ROUTE_PREFIX:
            close = difflib.get_close_matches(name, estimator._get_param_names(), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise TypeError(
                f"{type(estimator).__name__} got an unexpected parameter {name!r}.{hint} "
                f"Arguments of the model function are given as model__<name>=value."
            )


def _function_name(function):
    return getattr(function, "__qualname__", None) or repr(function)


def _arguments(function, routed, input_shape):
    """The keyword arguments to call the model function with, checked
    against its signature: the routed ones, and ``input_shape`` when it takes
    one (and it was not routed)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or C callable: pass what was given
        return routed
    parameters = signature.parameters
    named = [
        name
        for name, parameter in parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]
    takes_any = any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values())
    unknown = sorted(set(routed) - set(named))
    if unknown and not takes_any:
        close = difflib.get_close_matches(unknown[0], named, n=1)
        hint = f" Did you mean {ROUTE_PREFIX}{close[0]}?" if close else ""
        raise ValueError(
            f"{ROUTE_PREFIX}{unknown[0]} is not an argument of the model function "
            f"{_function_name(function)}{signature}.{hint}"
        )
    scikeras = [name for name in SCIKERAS_ARGUMENTS if name in named and name not in routed]
    if scikeras:
        raise ValueError(
            f"The model function {_function_name(function)}{signature} takes scikeras's "
            f"{' and '.join(scikeras)} argument{'s' if len(scikeras) > 1 else ''}, which "
            f'skdnn does not pass: port it as docs/migration.md shows (section "From '
            f'scikeras"). {" ".join(SCIKERAS_ARGUMENTS[name] for name in scikeras)}'
        )
    arguments = dict(routed)
    if "input_shape" in named and "input_shape" not in arguments:
        arguments["input_shape"] = tuple(input_shape)
    try:
        signature.bind(**arguments)
    except TypeError as error:
        raise ValueError(
            f"The model function {_function_name(function)}{signature} cannot be called "
            f"with {sorted(arguments)}: {error}. Give its arguments as "
            f"{ROUTE_PREFIX}<name>=value."
        ) from None
    return arguments


def _output_layer_in(body, n_outputs):
    """The body's last layer and why it looks like an output layer, or None.

    An output layer ends in a softmax or sigmoid, or has as many units as the
    network has outputs (classes or targets): skdnn adds its own output layer
    after the body, so such a layer would squeeze every prediction through a
    bottleneck of probabilities.
    """
    import keras

    layers = [layer for layer in body.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers:
        return None
    last = layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if isinstance(last, keras.layers.Softmax):
        activation = "softmax"
    if activation in ("softmax", "sigmoid"):
        return last, f"a {activation} activation"
    if isinstance(last, keras.layers.Dense) and last.units == n_outputs:
        return last, f"{n_outputs} unit(s), as many as the network's outputs"
    return None


def _check_body(body, n_outputs, estimator_name):
    """Warn when the user's body keeps its own output layer or compilation."""
    found = _output_layer_in(body, n_outputs)
    if found is not None:
        layer, reason = found
        warn_once(
            f"The model's last layer {layer.name!r} ({type(layer).__name__} with {reason}) "
            f"looks like an output layer. {estimator_name} adds the output layer, "
            f"activation and loss the target needs after the model, so this layer becomes "
            f"a hidden layer and training gets worse. Remove it: the model should end with "
            f"its last hidden layer (see the user guide, 'Common mistakes').",
            UserWarning,
            stacklevel=8,
        )
    if getattr(body, "optimizer", None) is not None or getattr(body, "compiled", False):
        optimizer = type(body.optimizer).__name__ if body.optimizer is not None else None
        warn_once(
            f"The model is compiled (optimizer {optimizer}, loss {body.loss!r}), but "
            f"{estimator_name} trains it with its own parameters, so its compile() "
            f"settings are not used. Set them on the estimator instead (optimizer=, "
            f"learning_rate=, loss=, metrics=) and leave compile() out of the model "
            f"function.",
            UserWarning,
            stacklevel=8,
        )


class KerasNetworkMixin:
    """The Keras estimators' network part: the network's body is ``model``,
    and its function's arguments are routed parameters.

    Mixed in beside a task part and :class:`~skdnn._base.BaseDNN`. The
    routed parameters are kept in ``_model_params``, the constructor's
    ``**model_params`` stored unchanged, and joined to the constructor's
    parameters by ``get_params`` and ``set_params``, so that ``clone`` and
    searches see them. As scikit-learn asks, the constructor accepts any
    name; one that is not ``model__<name>`` is an error at fit. The routed
    parameters have no entry in ``_parameter_constraints`` (scikit-learn
    skips a parameter without one): the model function they go to checks
    them at fit (see ``_arguments``).
    """

    _parameter_constraints = {"model": [callable, None]}

    def _l2_penalty(self):
        # The user's layers carry their own regularizers.
        return 0.0

    def get_params(self, deep=True):
        """Get parameters for this estimator, the routed ``model__`` ones included.

        Parameters
        ----------
        deep : bool, default=True
            If True, will return the parameters for this estimator and
            contained subobjects that are estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {**super().get_params(deep=deep), **self._model_params}

    def set_params(self, **params):
        """Set the parameters of this estimator, the routed ``model__`` ones included.

        ``model__<name>=value`` sets (or adds) the argument ``<name>`` of the
        model function.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
            Estimator instance.
        """
        routed = {
            name: value
            for name, value in params.items()
            if name.startswith(ROUTE_PREFIX) or name in self._model_params
        }
        if routed:
            # A new dict: a clone or a working copy may share the old one.
            self._model_params = {**self._model_params, **routed}
        return super().set_params(
            **{name: value for name, value in params.items() if name not in routed}
        )

    def _architecture_of(self, X):
        """What a warm start must find unchanged: the samples' shape and the
        routed arguments."""
        _check_routed(self)
        return {"input_shape": tuple(X.shape[1:]), **self._model_params}

    def _body(self, input_shape):
        """Call ``model`` (or take it) and return the body it gives, checked."""
        import keras

        model = self.model
        name = type(self).__name__
        if model is None:
            raise ValueError(
                f"{name} needs a network: pass model=, a function that returns a "
                f"keras.Model (the network's body, without its output layer) or a "
                f"keras.Model, e.g. {name}(model=build_body)."
            )
        routed = {
            key.removeprefix(ROUTE_PREFIX): value for key, value in self._model_params.items()
        }
        if isinstance(model, keras.Model):
            if routed:
                raise ValueError(
                    f"model is a keras.Model, which takes no arguments, but "
                    f"{sorted(self._model_params)} were given. Pass a function that builds "
                    f"the model to route arguments to it."
                )
            return model
        body = model(**_arguments(model, routed, input_shape))
        if not isinstance(body, keras.Model):
            raise TypeError(
                f"model must return a keras.Model; the function {_function_name(model)} "
                f"returned {type(body).__name__}. Return the network's body, e.g. "
                f"keras.Sequential([...]) or keras.Model(inputs, outputs)."
            )
        return body

    def _network_recipe(self, architecture, encoder):
        # None: the trainer clones the training network, the user's layers
        # included (see ModelRecipe).
        return None

    def _build_network(self, architecture, encoder, seed):
        input_shape = architecture["input_shape"]
        body = self._body(input_shape)
        _check_body(body, encoder.n_outputs_, type(self).__name__)
        return build_body_network(
            body,
            input_shape,
            encoder.n_outputs_,
            output_activation=encoder.output_activation,
            head=encoder.head_layer(),
            seed=seed,
        )


@register_estimator
@fill_doc
class KerasClassifier(ClassifierTaskMixin, KerasNetworkMixin, BaseDNN):
    """Classifier around a Keras network you build: any architecture, images included.

    ``model`` is the network's body, e.g. a small CNN; the output layer,
    loss and label decoding of the task are added as in
    :class:`DNNClassifier`, so one body serves binary, multiclass and
    multilabel targets with labels of any type. Training and everything
    around it (the compiled training loop, early stopping, warm starts,
    ``partial_fit``, ``history_``, pickling, ``save``) are those of
    :class:`DNNClassifier`. Samples of any shape reach the network as they
    are: ``(n_samples, height, width, channels)`` images are not flattened.

    Parameters
    ----------
    {model_parameters}

    {optimization_parameters}

    {classifier_loss_parameters}

    {training_parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (``arange(n_labels)`` for multilabel targets).

    {fitted_attributes}

    See Also
    --------
    KerasRegressor : The same for regression.
    DNNClassifier : A network built from hyperparameters (``Dense`` layers).

    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import load_digits
    >>> from skdnn import KerasClassifier
    >>> def build_cnn(filters, input_shape):
    ...     return keras.Sequential([
    ...         keras.Input(input_shape),
    ...         keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
    ...         keras.layers.MaxPooling2D(2),
    ...         keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu"),
    ...         keras.layers.Flatten(),
    ...         keras.layers.Dense(64, activation="relu"),
    ...     ])
    >>> digits = load_digits()
    >>> X, y = digits.images[..., None] / 16, digits.target  # (1797, 8, 8, 1)
    >>> clf = KerasClassifier(model=build_cnn, model__filters=8, epochs=3,
    ...                       learning_rate=0.01, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 10)
    >>> clf.get_params()["model__filters"]
    8
    """

    _parameter_constraints = {
        **BaseDNN._parameter_constraints,
        **KerasNetworkMixin._parameter_constraints,
        **ClassifierTaskMixin._parameter_constraints,
    }

    def __init__(
        self,
        model=None,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=0.9,
        nesterov=False,
        epochs="auto",
        batch_size="auto",
        shuffle=True,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change="auto",
        tol=1e-4,
        n_ensemble=1,
        random_state=None,
        verbose=0,
        warm_start=False,
        loss="auto",
        class_weight=None,
        callbacks=None,
        metrics=None,
        distribution=None,
        **model_params,
    ):
        self.model = model
        super().__init__(
            optimizer=optimizer,
            learning_rate=learning_rate,
            momentum=momentum,
            nesterov=nesterov,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            n_ensemble=n_ensemble,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            loss=loss,
            callbacks=callbacks,
            metrics=metrics,
            distribution=distribution,
        )
        self.class_weight = class_weight
        self._model_params = model_params


@register_estimator
@fill_doc
class KerasRegressor(RegressorTaskMixin, KerasNetworkMixin, BaseDNN):
    """Regressor around a Keras network you build: any architecture, images included.

    ``model`` is the network's body; the output layer and target scaling
    are added as in :class:`DNNRegressor`, so one body serves one or several
    targets of any scale (targets are standardized inside, and ``model_``
    predicts in their units). Training and everything around it are those of
    :class:`DNNRegressor`. Samples of any shape reach the network as they
    are.

    Parameters
    ----------
    {model_parameters}

    {optimization_parameters}

    {regressor_loss_parameters}

    {training_parameters}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    KerasClassifier : The same for classification.
    DNNRegressor : A network built from hyperparameters (``Dense`` layers).

    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import make_regression
    >>> from skdnn import KerasRegressor
    >>> def build_body(units, input_shape):
    ...     return keras.Sequential([keras.Input(input_shape),
    ...                              keras.layers.Dense(units, activation="relu")])
    >>> X, y = make_regression(n_samples=200, n_features=4, noise=1.0, random_state=0)
    >>> reg = KerasRegressor(model=build_body, model__units=32, epochs=50,
    ...                      learning_rate=0.01, random_state=0).fit(X, y * 100)
    >>> reg.predict(X[:2]).shape
    (2,)
    >>> reg.score(X, y * 100) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseDNN._parameter_constraints,
        **KerasNetworkMixin._parameter_constraints,
        **RegressorTaskMixin._parameter_constraints,
    }

    def __init__(
        self,
        model=None,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=0.9,
        nesterov=False,
        epochs="auto",
        batch_size="auto",
        shuffle=True,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change="auto",
        tol=1e-4,
        n_ensemble=1,
        random_state=None,
        verbose=0,
        warm_start=False,
        loss="squared_error",
        output_activation=None,
        callbacks=None,
        metrics=None,
        distribution=None,
        **model_params,
    ):
        self.model = model
        super().__init__(
            optimizer=optimizer,
            learning_rate=learning_rate,
            momentum=momentum,
            nesterov=nesterov,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            n_ensemble=n_ensemble,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            loss=loss,
            callbacks=callbacks,
            metrics=metrics,
            distribution=distribution,
        )
        self.output_activation = output_activation
        self._model_params = model_params
