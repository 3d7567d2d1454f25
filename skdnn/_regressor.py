"""The regressors' task part, and DNNRegressor: a Keras multilayer network as a
scikit-learn regressor."""

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import metadata_routing
from sklearn.utils._param_validation import HasMethods

from ._base import BaseDNN
from ._docstrings import fill_doc
from ._mlp import MLPNetworkMixin
from ._persistence import is_fitted, register_estimator
from ._target import TargetStandardizer


class RegressorTaskMixin(RegressorMixin):
    """The regressors' task part: numeric targets standardized by
    :class:`~skdnn._target.TargetStandardizer`, ``loss`` and
    ``output_activation``, ``partial_fit`` and ``predict``.

    Mixed in on the left of a network part and
    :class:`~skdnn._base.BaseDNN` (see :class:`DNNRegressor` and
    :class:`~skdnn.KerasRegressor`).
    """

    _parameter_constraints = {
        "loss": [str, HasMethods(["__call__"])],
        "output_activation": [str, None],
    }

    def _make_target_encoder(self):
        return TargetStandardizer(output_activation=self.output_activation)

    def _sample_weight(self, encoder, y, sample_weight):
        return encoder.sample_weight(y, sample_weight)

    def _check_target_values(self, y, name):
        """Raise when ``y`` holds a value that is not a
        number, naming it and the estimator to use for labels.

        Before ``validate_data``: scikit-learn names neither ``y`` nor the
        remedy ("could not convert string to float"), and keeps an array of
        strings as it is.
        """
        if y is None:
            return
        try:
            values = np.asarray(y)
        except ValueError:  # ragged: validate_data says so
            return
        if values.dtype.kind in "biufc":
            return
        try:
            values.astype(np.float64)
            return
        except (TypeError, ValueError):
            pass
        for value in values.ravel():
            try:
                float(value)
            except (TypeError, ValueError):
                shown = repr(str(value)) if isinstance(value, str) else repr(value)
                regressor = type(self).__name__
                raise ValueError(
                    f"{regressor} needs numeric targets, but {name} holds {shown}, which is "
                    f"not a number. To predict labels such as {shown}, use "
                    f"{regressor.replace('Regressor', 'Classifier')}."
                ) from None

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current state.

        The first call builds the network and fixes the target's
        standardization from its ``y``; later calls continue from the current
        weights and optimizer state, and ``history_`` keeps growing. Early
        stopping and the stopping rule do not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, warm=is_fitted(self), incremental=True)

    # Predictions ------------------------------------------------------------
    # return_std is an option of predict, not metadata to route.
    __metadata_request__predict = {"return_std": metadata_routing.UNUSED}

    def predict(self, X, return_std=False):
        """Predict target values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            The input samples.
        return_std : bool, default=False
            Whether to return, too, the standard deviation of the ensemble
            members' predictions (``n_ensemble > 1``), as scikit-learn's
            ``GaussianProcessRegressor`` and ``BayesianRidge`` return theirs:
            how much networks trained from other seeds disagree, a measure
            of the model's uncertainty (not of the targets' noise).

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values, 1-D when ``y`` was 1-D in ``fit``: the mean of
            the members' predictions for an ensemble.
        y_std : ndarray of the shape of ``y``
            The members' standard deviation; only with ``return_std=True``.
        """
        if not return_std:
            output = self._raw_predict(X)
            return self._target_encoder.predictions(self.model_, output)
        models, outputs = self._member_predictions(X)
        if len(models) < 2:
            raise ValueError(
                "return_std=True needs an ensemble, whose members' predictions spread; "
                "this estimator holds one network. Fit it with n_ensemble=5, for example."
            )
        encoder = self._target_encoder
        members = np.stack(
            [encoder.member_predictions(m, out) for m, out in zip(models, outputs, strict=True)]
        )
        mean, std = members.mean(axis=0), members.std(axis=0)
        if encoder.y_ndim_ == 1:
            mean, std = mean.ravel(), std.ravel()
        return mean, std

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


@register_estimator
@fill_doc
class DNNRegressor(RegressorTaskMixin, MLPNetworkMixin, BaseDNN):
    """Deep neural network regressor built and trained with Keras.

    A multilayer perceptron whose architecture and training are
    hyperparameters, for one or several continuous targets. Targets are
    standardized inside the estimator, so their scale does not matter; the
    Keras model ``model_`` predicts in the targets' own units, its linear
    output layer's weights in those units (with an ``output_activation``, a
    rescaling layer follows the output layer instead).

    Parameters
    ----------
    {architecture_parameters}

    {optimization_parameters}

    {regressor_loss_parameters}

    {training_parameters}

    {input_parameters}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    DNNClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : scikit-learn's NumPy multilayer
        perceptron.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from skdnn import DNNRegressor
    >>> X, y = make_regression(n_samples=200, n_features=1, bias=5.0, noise=5.0,
    ...                        random_state=123)
    >>> reg = DNNRegressor(hidden_layer_sizes=(), optimizer="sgd", learning_rate=0.01,
    ...                    momentum=0.0, batch_size=32, epochs=40, loss="mse",
    ...                    random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    >>> reg.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseDNN._parameter_constraints,
        **MLPNetworkMixin._parameter_constraints,
        **RegressorTaskMixin._parameter_constraints,
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout="auto",
        batch_normalization=False,
        alpha=1e-4,
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
        categorical_features="from_dtype",
        numeric_scaling="auto",
        numeric_embedding="auto",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_normalization = batch_normalization
        self.alpha = alpha
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
        self.categorical_features = categorical_features
        self.numeric_scaling = numeric_scaling
        self.numeric_embedding = numeric_embedding
