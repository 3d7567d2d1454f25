"""Target encoders: between a user's targets and the network's output head.

Each encoder is a small scikit-learn transformer that owns everything about
the task's end of the network: ``transform`` turns targets into what the loss
is computed on; ``inverse_transform`` turns the network's raw training
output back into predictions (so ``predict``, ``predict_proba`` and
``decision_function`` share one code path); and it says which head layer,
loss, output transform, scaling and metrics the task needs, whether new
targets can continue a warm start, and how its fitted state is saved.
"""

import dataclasses

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from ._keras_names import (
    check_activation,
    classification_loss,
    make_metrics,
    regression_loss,
    takes_one_hot_targets,
)


def _float_dtype(array):
    """The floating dtype predictions keep: the output's own, float32 or float64."""
    return array.dtype if array.dtype in (np.float32, np.float64) else np.float64


class ClassLabelEncoder(TransformerMixin, BaseEstimator):
    """Encode class labels as targets of a network that outputs logits.

    Binary targets get one sigmoid output, multiclass targets one softmax
    output per class (sparse integer targets), and multilabel indicator
    matrices one sigmoid output per label. One-hot rows (Keras's
    ``to_categorical``) with a categorical cross-entropy loss are a
    multiclass target, as in Keras: the classes are the columns, and
    predictions are one-hot rows again.

    Attributes
    ----------
    classes_ : ndarray
        The class labels, or ``arange(n_labels)`` for multilabel targets.
    target_type_ : {"binary", "multiclass", "multilabel-indicator"}
        The kind of target seen in ``fit``.
    n_outputs_ : int
        Number of network outputs.
    one_hot_ : bool
        Whether the targets are one-hot rows of a multiclass target.
    """

    output_activation = None  # the output layer is linear: it gives logits

    @staticmethod
    def check_targets(y):
        """Return ``y`` as scikit-learn classifiers take it (a column becomes 1-D)."""
        if np.ndim(y) == 2 and np.shape(y)[1] == 1:
            y = column_or_1d(y, warn=True)
        return y

    def fit(self, y, sample_weight=None, classes=None, loss="auto"):
        """Learn the classes from ``y``, or take them from ``classes``.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : ignored
        classes : array-like of shape (n_classes,), default=None
            Every class the targets may hold (``partial_fit``'s first call).
        loss : str or keras.losses.Loss, default="auto"
            The estimator's loss: with a categorical cross-entropy, an
            indicator matrix of one-hot rows is a multiclass target.

        Returns
        -------
        self : ClassLabelEncoder
        """
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        self.one_hot_ = False
        if target_type == "multilabel-indicator":
            labels = np.arange(y.shape[1])
            if classes is not None and not np.array_equal(np.unique(classes), labels):
                raise ValueError(
                    f"For {'one-hot' if takes_one_hot_targets(loss) else 'multilabel'} "
                    f"targets, classes must be arange(n_columns) = {labels.tolist()}; got "
                    f"{list(classes)}."
                )
            if takes_one_hot_targets(loss):
                _check_one_hot(y, loss)
                target_type, self.one_hot_ = "multiclass", True
            self.target_type_, self.classes_, self.n_outputs_ = target_type, labels, y.shape[1]
            return self
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"DNNClassifier supports binary, multiclass and multilabel-indicator "
                f"targets, got a {target_type!r} target. For several multiclass "
                f"outputs, wrap the estimator in sklearn.multioutput.MultiOutputClassifier."
            )
        labels = LabelEncoder().fit(y if classes is None else classes).classes_
        if classes is not None:
            target_type = "binary" if len(labels) <= 2 else "multiclass"
        if len(labels) < 2:
            raise ValueError(
                f"The target y needs samples of at least 2 classes, got only one class: "
                f"{labels[0]!r}."
            )
        self.target_type_, self.classes_ = target_type, labels
        self.n_outputs_ = 1 if target_type == "binary" else len(labels)
        if classes is not None:
            self.check_compatible(y)
        return self

    def check_compatible(self, y):
        """Raise a clear error unless training can continue on ``y``."""
        if self.target_type_ == "multilabel-indicator" or self.one_hot_:
            if np.ndim(y) != 2 or np.shape(y)[1] != self.n_outputs_:
                kind = "one-hot rows of" if self.one_hot_ else "an indicator matrix of"
                raise ValueError(
                    f"y must be {kind} {self.n_outputs_} labels, as in the first fit; got "
                    f"shape {np.shape(y)}."
                )
            if self.one_hot_:
                _check_one_hot(y, "categorical_crossentropy")
            return
        if np.ndim(y) != 1:
            raise ValueError(
                f"y must be 1-D class labels, as in the first fit; got shape {np.shape(y)}."
            )
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if len(unknown):
            raise ValueError(
                f"y contains labels {unknown.tolist()} that are not among the classes "
                f"{self.classes_.tolist()} the network was built for. Pass every class to "
                f"the first partial_fit call, or refit with warm_start=False."
            )

    # The output head ---------------------------------------------------------
    @property
    def output_transform(self):
        """How the logits become probabilities: ``"softmax"`` or ``"sigmoid"``."""
        return "softmax" if self.target_type_ == "multiclass" else "sigmoid"

    def head_layer(self):
        """The parameter-free Keras layer that turns logits into probabilities."""
        import keras

        return keras.layers.Activation(self.output_transform, name="probabilities")

    def scaling(self):
        """``(scale, offset)`` of the output transform: none for classes."""
        return np.float32(1.0), np.float32(0.0)

    def folding(self, model):
        """How ``model``'s weights map to the trainer's: they are the same."""
        return NO_FOLDING

    def loss(self, loss):
        """Return ``(training loss, whether it takes probabilities, whether it
        takes one-hot targets, compile loss)``.

        ``"auto"``, ``"log_loss"`` and Keras's cross-entropy names give the
        cross-entropy from logits that the target needs (stable where
        probabilities saturate); a Keras loss object takes the probabilities
        (or the logits, with ``from_logits=True``), and one-hot targets when
        it is a categorical one, as in Keras.
        """
        return classification_loss(loss, self.target_type_)

    def metrics(self, metrics):
        """Fresh Keras metrics tracked per epoch: accuracy, then ``metrics``."""
        return make_metrics(("accuracy",), metrics, target_type=self.target_type_)

    @property
    def one_hot_depth(self):
        """For class-index targets, the depth of the one-hot targets that
        metrics other than Keras's ``Sparse*`` ones need."""
        return len(self.classes_) if self.target_type_ == "multiclass" else None

    def stratify(self, y):
        """Labels to stratify a validation split by (None for multilabel)."""
        if self.one_hot_:
            return self.transform(y)
        return None if np.ndim(y) == 2 else y

    def sample_weight(self, y, sample_weight, class_weight):
        """``sample_weight`` times the weights of ``class_weight``."""
        if class_weight is None:
            return sample_weight
        weights = compute_sample_weight(class_weight, self.transform(y) if self.one_hot_ else y)
        return (sample_weight * weights).astype(np.float32)

    def score(self, y, output, sample_weight=None):
        """Accuracy of the predictions decoded from ``output``."""
        return float(accuracy_score(y, self.inverse_transform(output), sample_weight=sample_weight))

    # Encoding ----------------------------------------------------------------
    def transform(self, y):
        """Return the network targets: class indices or 0/1 floats."""
        if self.one_hot_:
            return np.asarray(y).argmax(axis=1).astype(np.int32)
        if self.target_type_ == "multilabel-indicator":
            return np.asarray(y, dtype=np.float32)
        label_encoder = LabelEncoder()
        label_encoder.classes_ = self.classes_
        indices = label_encoder.transform(y)
        if self.target_type_ == "binary":
            return indices.astype(np.float32).reshape(-1, 1)
        return indices.astype(np.int32)

    def inverse_transform(self, logits):
        """Return the predicted labels for the network's logits."""
        logits = np.asarray(logits)
        if self.target_type_ == "multilabel-indicator":
            return (logits > 0).astype(int)
        if self.target_type_ == "binary":
            indices = (logits.ravel() > 0).astype(int)
        else:
            indices = logits.argmax(axis=1)
        if self.one_hot_:
            return np.eye(self.n_outputs_, dtype=int)[indices]
        return self.classes_[indices]

    def proba_from_logits(self, logits):
        """Return probabilities of shape (n_samples, n_classes) from logits.

        float32 logits give float32 probabilities. Works in place on
        ``logits`` when they are a float array already (the forward pass's
        own output).
        """
        proba = np.asarray(logits, dtype=_float_dtype(np.asarray(logits)))
        if self.target_type_ == "multiclass":
            proba -= proba.max(axis=1, keepdims=True)
            np.exp(proba, out=proba)
            proba /= proba.sum(axis=1, keepdims=True)
            return proba
        expit(proba, out=proba)
        if self.target_type_ == "binary":
            return np.hstack([1.0 - proba, proba])
        return proba

    def average_outputs(self, models, outputs):
        """The logits of an ensemble: those of the mean of the members'
        probabilities, so that the decoding above applies unchanged.

        Parameters
        ----------
        models : list of keras.Model
            The members (unused: their outputs are logits).
        outputs : list of ndarray
            Each member's logits.
        """
        dtype = _float_dtype(np.asarray(outputs[0]))
        proba = np.zeros(np.shape(outputs[0]), dtype=dtype)
        for logits in outputs:
            logits = np.array(logits, dtype=dtype)
            if self.target_type_ == "multiclass":
                logits -= logits.max(axis=1, keepdims=True)
                np.exp(logits, out=logits)
                logits /= logits.sum(axis=1, keepdims=True)
            else:
                expit(logits, out=logits)
            proba += logits
        proba /= len(outputs)
        with np.errstate(divide="ignore"):
            if self.target_type_ == "multiclass":
                return np.log(proba)  # softmax(log(p)) is p: each row sums to 1
            return np.log(proba) - np.log1p(-proba)  # the logit, per column

    def decision_from_logits(self, logits):
        """Return scikit-learn-shaped decision scores from logits."""
        logits = np.asarray(logits, dtype=_float_dtype(np.asarray(logits)))
        return logits.ravel() if self.target_type_ == "binary" else logits

    # Persistence -------------------------------------------------------------
    def get_state(self):
        """The fitted state as plain data (see ``skdnn._persistence``)."""
        return {
            "target_type": self.target_type_,
            "classes": self.classes_,
            "n_outputs": int(self.n_outputs_),
            "one_hot": bool(self.one_hot_),
        }

    def set_state(self, state):
        """Restore what :meth:`get_state` returned; return ``self``."""
        self.target_type_ = str(state["target_type"])
        self.classes_ = np.asarray(state["classes"])
        self.n_outputs_ = int(state["n_outputs"])
        self.one_hot_ = bool(state.get("one_hot", False))  # files before one-hot targets
        return self


def _check_one_hot(y, loss):
    """Raise unless every row of the indicator matrix ``y`` holds exactly one 1."""
    n_ones = np.asarray(y).sum(axis=1)
    bad = np.flatnonzero(n_ones != 1)
    if len(bad):
        name = loss if isinstance(loss, str) else f"{type(loss).__name__}()"
        raise ValueError(
            f"loss={name!r} takes one-hot rows (exactly one 1 per row, as "
            f"keras.utils.to_categorical makes), but row {bad[0]} of y holds "
            f"{int(n_ones[bad[0]])} ones ({len(bad)} such rows). Rows with several labels "
            f"are a multilabel target: use loss='binary_crossentropy' or loss='auto'."
        )


class TargetStandardizer(TransformerMixin, BaseEstimator):
    """Standardize regression targets so that their scale does not matter.

    The network learns ``(y - offset_) / scale_``. The Keras model the
    estimator exposes predicts in the target's own units: with a linear
    output layer the scaling is folded into that layer's weights (see
    :class:`OutputScaling`); with an output activation, which the scaling
    cannot pass through, a ``Rescaling`` head layer maps the output back.

    Parameters
    ----------
    output_activation : str or None, default=None
        Activation of the output layer. With one (``"relu"``, ...), the
        targets are scaled but not centered, so the activation's range keeps
        its meaning.

    Attributes
    ----------
    offset_ : ndarray of shape (n_outputs,)
    scale_ : ndarray of shape (n_outputs,)
    n_outputs_ : int
    y_ndim_ : int
        1 when the targets were 1-D: predictions are then 1-D too.
    """

    output_transform = "affine"

    def __init__(self, output_activation=None):
        self.output_activation = output_activation

    @staticmethod
    def check_targets(y):
        """Return ``y`` unchanged: any float array is a regression target."""
        return y

    def fit(self, y, sample_weight=None, classes=None, loss=None):
        """Learn the (weighted) mean and spread of each target column.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : ignored
        loss : ignored

        Returns
        -------
        self : TargetStandardizer
        """
        check_activation(self.output_activation, "output_activation")
        self.y_ndim_ = np.ndim(y)
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if sample_weight is None or not np.sum(sample_weight) > 0:
            sample_weight = np.ones(len(y))
        self.n_outputs_ = y.shape[1]
        self.offset_ = (
            np.average(y, axis=0, weights=sample_weight)
            if self.output_activation is None
            else np.zeros(y.shape[1])
        )
        spread = np.sqrt(np.average((y - self.offset_) ** 2, axis=0, weights=sample_weight))
        self.scale_ = np.where(spread > np.finfo(np.float32).eps, spread, 1.0)
        return self

    def check_compatible(self, y):
        """Raise a clear error unless training can continue on ``y``."""
        if np.ndim(y) != self.y_ndim_ or (np.ndim(y) == 2 and np.shape(y)[1] != self.n_outputs_):
            raise ValueError(
                f"Training continues a network with {self.n_outputs_} output(s), but y has "
                f"shape {np.shape(y)}. Set warm_start=False to start afresh."
            )

    # The output head ---------------------------------------------------------
    def head_layer(self):
        """A Keras layer that maps standardized outputs to target units, or
        None when the scaling is folded into a linear output layer."""
        import keras

        if self.output_activation is None:
            return None
        return keras.layers.Rescaling(
            scale=self.scale_.tolist(), offset=self.offset_.tolist(), name=HEAD_NAME
        )

    def scaling(self):
        """``(scale, offset)``: training output times scale plus offset gives units."""
        return self.scale_.astype(np.float32), self.offset_.astype(np.float32)

    def folding(self, model):
        """How ``model``'s weights map to the trainer's (see :class:`OutputScaling`).

        A model with the ``Rescaling`` head (an output activation, or a
        model saved by an skdnn before the folding) holds the trainer's
        weights as they are.
        """
        if _has_head(model):
            return NO_FOLDING
        return OutputScaling(model, self.scale_, self.offset_)

    def predictions(self, model, output):
        """Predictions from the output of ``model``'s output layer: in the
        targets' units already when the scaling is folded into it."""
        if _has_head(model):
            return self.inverse_transform(output)
        output = np.asarray(output)
        return output.ravel() if self.y_ndim_ == 1 else output

    def member_predictions(self, model, output):
        """``predictions``, of shape (n_samples, n_outputs) whatever ``y``'s."""
        return np.asarray(self.predictions(model, output)).reshape(len(output), -1)

    def average_outputs(self, models, outputs):
        """The output of an ensemble: the mean of the members' predictions,
        in the targets' units (as a folded output layer gives them).

        Parameters
        ----------
        models : list of keras.Model
            The members, each with its own output layer.
        outputs : list of ndarray
            The output of each member's output layer.
        """
        return np.mean(
            [self.member_predictions(m, out) for m, out in zip(models, outputs, strict=True)],
            axis=0,
        )

    def loss(self, loss):
        """Return ``(training loss, whether it takes predictions, whether it
        takes one-hot targets, compile loss)``: a Keras loss on the
        standardized targets."""
        loss = regression_loss(loss)
        return loss, False, False, loss

    def metrics(self, metrics):
        """Fresh Keras metrics tracked per epoch, in the targets' units."""
        return make_metrics((), metrics)

    one_hot_depth = None

    def stratify(self, y):
        """Regression splits are not stratified."""
        return None

    def sample_weight(self, y, sample_weight, class_weight=None):
        """Regressors have no class weights: ``sample_weight`` unchanged."""
        return sample_weight

    def score(self, y, output, sample_weight=None):
        """R² of the predictions decoded from ``output``."""
        return float(r2_score(y, self.inverse_transform(output), sample_weight=sample_weight))

    # Encoding ----------------------------------------------------------------
    def transform(self, y):
        """Return the standardized targets, float32, of shape (n_samples, n_outputs)."""
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        return ((y - self.offset_) / self.scale_).astype(np.float32)

    def inverse_transform(self, output):
        """Return predictions in the targets' units and shape, in ``output``'s precision."""
        output = np.asarray(output)
        dtype = _float_dtype(output)
        predictions = output * self.scale_.astype(dtype) + self.offset_.astype(dtype)
        return predictions.ravel() if self.y_ndim_ == 1 else predictions

    # Persistence -------------------------------------------------------------
    def get_state(self):
        """The fitted state as plain data (see ``skdnn._persistence``)."""
        return {
            "offset": self.offset_,
            "scale": self.scale_,
            "n_outputs": int(self.n_outputs_),
            "y_ndim": int(self.y_ndim_),
        }

    def set_state(self, state):
        """Restore what :meth:`get_state` returned; return ``self``."""
        self.offset_ = np.asarray(state["offset"], dtype=np.float64)
        self.scale_ = np.asarray(state["scale"], dtype=np.float64)
        self.n_outputs_ = int(state["n_outputs"])
        self.y_ndim_ = int(state["y_ndim"])
        return self


# The name of the regressor's Rescaling head layer.
HEAD_NAME = "target_scale"


def _has_head(model):
    return any(layer.name == HEAD_NAME for layer in model.layers)


class _NoFolding:
    """The model's weights are the trainer's."""

    @staticmethod
    def fold(state):
        return state

    @staticmethod
    def unfold(state, like=None):
        return state


NO_FOLDING = _NoFolding()


class OutputScaling:
    """A regressor's target scaling, folded into its model's output layer.

    The trainer learns the standardized targets, ``z = x @ W + b``; the
    model the user sees (``model_``) predicts ``z * scale + offset`` with
    the same layers, its output layer's weights being ``W * scale`` and
    ``b * scale + offset``. So a linear model's weights read the fitted
    line in the targets' units. Weights go folded into the model and
    unfolded into the trainer; the optimizer's state (moments of the
    unfolded weights) stays the trainer's.

    Parameters
    ----------
    model : keras.Model
        The model whose layer ``"output"`` holds the folded weights.
    scale, offset : ndarray of shape (n_outputs,)
    """

    def __init__(self, model, scale, offset):
        layer = model.get_layer("output")
        positions = {id(v): i for i, v in enumerate(model.trainable_variables)}
        self._kernel, self._bias = positions[id(layer.kernel)], positions[id(layer.bias)]
        self._scale = np.asarray(scale, dtype=np.float64)
        self._offset = np.asarray(offset, dtype=np.float64)

    def _map(self, state, kernel, bias):
        trainable = list(state.trainable)
        for i, function in ((self._kernel, kernel), (self._bias, bias)):
            value = np.asarray(trainable[i])
            trainable[i] = function(value.astype(np.float64)).astype(value.dtype)
        return dataclasses.replace(state, trainable=trainable)

    def fold(self, state):
        """The :class:`~skdnn._training.trainer.NetworkState` ``state`` of the trainer,
        its output layer in the targets' units."""
        return self._map(state, lambda w: w * self._scale, lambda b: b * self._scale + self._offset)

    def unfold(self, state, like=None):
        """The trainer's state from a folded ``state``.

        ``like``, a pair ``(folded, unfolded)`` of states, gives the exact
        unfolded weights where ``state`` still holds the folded ones (those
        a callback left unchanged): a round trip would round them.
        """
        unfolded = self._map(
            state, lambda w: w / self._scale, lambda b: (b - self._offset) / self._scale
        )
        if like is None:
            return unfolded
        trainable = list(unfolded.trainable)
        for i in (self._kernel, self._bias):
            if np.array_equal(state.trainable[i], like[0].trainable[i]):
                trainable[i] = like[1].trainable[i]
        return dataclasses.replace(unfolded, trainable=trainable)


ENCODERS = {cls.__name__: cls for cls in (ClassLabelEncoder, TargetStandardizer)}
