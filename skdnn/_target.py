"""Encoders between a user's targets and the network's outputs.

Each is a small scikit-learn transformer: ``transform`` turns targets into
what the loss is computed on, ``inverse_transform`` turns the network's raw
training output back into predictions, so ``predict``, ``predict_proba`` and
``decision_function`` share one code path.
"""

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target


class ClassLabelEncoder(TransformerMixin, BaseEstimator):
    """Encode class labels as targets of a network that outputs logits.

    Binary targets get one sigmoid output, multiclass targets one softmax
    output per class (sparse integer targets), and multilabel indicator
    matrices one sigmoid output per label.

    Attributes
    ----------
    classes_ : ndarray
        The class labels, or ``arange(n_labels)`` for multilabel targets.
    target_type_ : {"binary", "multiclass", "multilabel-indicator"}
        The kind of target seen in ``fit``.
    n_outputs_ : int
        Number of network outputs.
    """

    def fit(self, y, classes=None):
        """Learn the classes from ``y``, or take them from ``classes``.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like of shape (n_classes,), default=None
            Every class the targets may hold (``partial_fit``'s first call).
        """
        check_classification_targets(y)
        self.target_type_ = type_of_target(y, input_name="y")
        if self.target_type_ == "multilabel-indicator":
            self.classes_ = np.arange(y.shape[1])
            self.n_outputs_ = y.shape[1]
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(
                    f"For multilabel targets, classes must be arange(n_labels) = "
                    f"{self.classes_.tolist()}; got {list(classes)}."
                )
            return self
        if self.target_type_ not in ("binary", "multiclass"):
            raise ValueError(
                f"DNNClassifier supports binary, multiclass and multilabel-indicator "
                f"targets, got a {self.target_type_!r} target. For several multiclass "
                f"outputs, wrap the estimator in sklearn.multioutput.MultiOutputClassifier."
            )
        self.classes_ = LabelEncoder().fit(y if classes is None else classes).classes_
        if classes is not None:
            self.target_type_ = "binary" if len(self.classes_) <= 2 else "multiclass"
            self.check_known(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"The target y needs samples of at least 2 classes, got only one class: "
                f"{self.classes_[0]!r}."
            )
        self.n_outputs_ = 1 if self.target_type_ == "binary" else len(self.classes_)
        return self

    def check_known(self, y):
        """Raise a clear error if ``y`` holds labels outside ``classes_``."""
        if self.target_type_ == "multilabel-indicator":
            if np.ndim(y) != 2 or np.shape(y)[1] != self.n_outputs_:
                raise ValueError(
                    f"y must be an indicator matrix of {self.n_outputs_} labels, as in the "
                    f"first fit; got shape {np.shape(y)}."
                )
            return
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if len(unknown):
            raise ValueError(
                f"y contains labels {unknown.tolist()} that are not among the classes "
                f"{self.classes_.tolist()} the network was built for. Pass every class to "
                f"the first partial_fit call, or refit with warm_start=False."
            )

    @property
    def loss(self):
        """Name of the Keras cross-entropy loss these targets need."""
        if self.target_type_ == "multiclass":
            return "sparse_categorical_crossentropy"
        return "binary_crossentropy"

    @property
    def head_activation(self):
        """Keras activation that turns the network's logits into probabilities."""
        return "softmax" if self.target_type_ == "multiclass" else "sigmoid"

    def transform(self, y):
        """Return the network targets: class indices or 0/1 floats."""
        if self.target_type_ == "multilabel-indicator":
            return np.asarray(y, dtype=np.float32)
        label_encoder = LabelEncoder()
        label_encoder.classes_ = self.classes_
        indices = label_encoder.transform(y)
        if self.target_type_ == "binary":
            return indices.astype(np.float32).reshape(-1, 1)
        return indices.astype(np.int32)

    def proba_from_logits(self, logits):
        """Return probabilities of shape (n_samples, n_classes) from logits.

        Works in place on ``logits`` when they are float64 already (the
        forward pass's own output).
        """
        proba = np.asarray(logits, dtype=np.float64)
        if self.target_type_ == "multiclass":
            proba -= proba.max(axis=1, keepdims=True)
            np.exp(proba, out=proba)
            proba /= proba.sum(axis=1, keepdims=True)
            return proba
        expit(proba, out=proba)
        if self.target_type_ == "binary":
            return np.hstack([1.0 - proba, proba])
        return proba

    def decision_from_logits(self, logits):
        """Return scikit-learn-shaped decision scores from logits."""
        logits = np.asarray(logits, dtype=np.float64)
        return logits.ravel() if self.target_type_ == "binary" else logits

    def inverse_transform(self, logits):
        """Return the predicted labels for the network's logits."""
        logits = np.asarray(logits)
        if self.target_type_ == "multilabel-indicator":
            return (logits > 0).astype(int)
        if self.target_type_ == "binary":
            indices = (logits.ravel() > 0).astype(int)
        else:
            indices = logits.argmax(axis=1)
        return self.classes_[indices]


class TargetStandardizer(TransformerMixin, BaseEstimator):
    """Standardize regression targets so that their scale does not matter.

    The network learns ``(y - offset_) / scale_``; its ``head`` layer maps the
    output back, so the Keras model predicts in the target's own units.

    Parameters
    ----------
    center : bool, default=True
        Whether to subtract the mean. Turned off when the output layer has an
        activation such as ``"relu"`` whose range must keep its meaning.

    Attributes
    ----------
    offset_ : ndarray of shape (n_outputs,)
    scale_ : ndarray of shape (n_outputs,)
    n_outputs_ : int
    """

    def __init__(self, center=True):
        self.center = center

    def fit(self, y, sample_weight=None):
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if sample_weight is None or not np.sum(sample_weight) > 0:
            sample_weight = np.ones(len(y))
        self.n_outputs_ = y.shape[1]
        self.offset_ = (
            np.average(y, axis=0, weights=sample_weight) if self.center else np.zeros(y.shape[1])
        )
        spread = np.sqrt(np.average((y - self.offset_) ** 2, axis=0, weights=sample_weight))
        self.scale_ = np.where(spread > np.finfo(np.float32).eps, spread, 1.0)
        return self

    def transform(self, y):
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        return ((y - self.offset_) / self.scale_).astype(np.float32)

    def inverse_transform(self, output):
        return np.asarray(output, dtype=np.float64) * self.scale_ + self.offset_

    def head_layer(self):
        """A Keras layer that maps standardized outputs to target units."""
        import keras

        return keras.layers.Rescaling(
            scale=self.scale_.tolist(), offset=self.offset_.tolist(), name="target_scale"
        )
