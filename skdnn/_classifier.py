"""The classifiers' task part, and DNNClassifier: a Keras multilayer network as a
scikit-learn classifier."""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, StrOptions

from ._base import BaseDNN
from ._docstrings import fill_doc
from ._keras_names import CLASSIFICATION_LOSS_NAMES
from ._mlp import MLPNetworkMixin
from ._persistence import is_fitted, register_estimator
from ._target import ClassLabelEncoder


class ClassifierTaskMixin(ClassifierMixin):
    """The classifiers' task part: labels of any type through
    :class:`~skdnn._target.ClassLabelEncoder`, ``loss`` and ``class_weight``,
    ``partial_fit`` with ``classes``, and the predictions.

    Mixed in on the left of a network part and
    :class:`~skdnn._base.BaseDNN` (see :class:`DNNClassifier` and
    :class:`~skdnn.KerasClassifier`).
    """

    _parameter_constraints = {
        "loss": [StrOptions(set(CLASSIFICATION_LOSS_NAMES)), HasMethods(["__call__"])],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _fitted_state = (*BaseDNN._fitted_state, "classes_")

    def _make_target_encoder(self):
        return ClassLabelEncoder()

    def _sample_weight(self, encoder, y, sample_weight):
        return encoder.sample_weight(y, sample_weight, self.class_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current state.

        The first call builds the network and needs every class in
        ``classes``; later calls continue from the current weights and
        optimizer state, and ``history_`` keeps growing. Early stopping and
        the stopping rule do not apply: each call is one pass over the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Target labels, all among ``classes``.
        classes : array-like of shape (n_classes,), default=None
            All the classes that can appear in ``y``; required on the first
            call, and must not change afterwards. For multilabel targets,
            ``arange(n_labels)``.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        first = not is_fitted(self)
        if first and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: the network's "
                "output layer needs every class that later batches may contain."
            )
        if (
            not first
            and classes is not None
            and not np.array_equal(np.unique(classes), self.classes_)
        ):
            raise ValueError(
                f"classes={list(np.unique(classes))} differs from the classes of the first "
                f"call to partial_fit, {self.classes_.tolist()}."
            )
        return self._fit(
            X,
            y,
            sample_weight,
            warm=not first,
            incremental=True,
            classes=None if classes is None else np.asarray(classes),
        )

    # Predictions ------------------------------------------------------------
    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            The input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted labels, of the same type as the labels in ``fit``; a 0/1
            indicator matrix for multilabel targets, and one-hot rows for
            one-hot targets (a categorical cross-entropy ``loss``).
        """
        output = self._raw_predict(X)
        return self._target_encoder.inverse_transform(output)

    def predict_proba(self, X):
        """Predict class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            The input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class in the order of ``classes_`` (two
            columns for binary targets; one per label for multilabel
            targets).
        """
        logits = self._raw_predict(X)
        return self._target_encoder.proba_from_logits(logits)

    def predict_log_proba(self, X):
        """Predict the logarithm of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            The input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def decision_function(self, X):
        """Return the network's pre-activation scores (logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            The input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            For binary targets the logit of the positive class, else one
            logit per class or label.
        """
        logits = self._raw_predict(X)
        return self._target_encoder.decision_from_logits(logits)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@register_estimator
@fill_doc
class DNNClassifier(ClassifierTaskMixin, MLPNetworkMixin, BaseDNN):
    """Deep neural network classifier built and trained with Keras.

    A multilayer perceptron (``Dense`` layers with optional dropout and batch
    normalization) whose architecture and training are hyperparameters, so
    that pipelines, cross-validation and hyperparameter searches treat it
    like any scikit-learn classifier. Binary, multiclass and multilabel
    targets with labels of any type are supported.

    Parameters
    ----------
    {architecture_parameters}

    {optimization_parameters}

    {classifier_loss_parameters}

    {training_parameters}

    {input_parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (``arange(n_labels)`` for multilabel targets).

    {fitted_attributes}

    See Also
    --------
    DNNRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : scikit-learn's NumPy multilayer
        perceptron.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdnn import DNNClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> clf = make_pipeline(
    ...     StandardScaler(),
    ...     DNNClassifier(hidden_layer_sizes=(32,), learning_rate=0.01, epochs=100,
    ...                   random_state=0),
    ... ).fit(X_train, y_train)
    >>> clf.predict_proba(X_test[:1]).shape
    (1, 3)
    >>> clf.score(X_test, y_test) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseDNN._parameter_constraints,
        **MLPNetworkMixin._parameter_constraints,
        **ClassifierTaskMixin._parameter_constraints,
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
        loss="auto",
        class_weight=None,
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
        self.class_weight = class_weight
        self.categorical_features = categorical_features
        self.numeric_scaling = numeric_scaling
        self.numeric_embedding = numeric_embedding
