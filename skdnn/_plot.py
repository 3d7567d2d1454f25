"""TrainingCurveDisplay: per-epoch training and validation curves."""

import difflib

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "TrainingCurveDisplay needs matplotlib, an optional dependency of skdnn: "
            "pip install matplotlib (or, from a checkout of skdnn, pip install '.[plot]')."
        ) from None
    return plt


def _unknown_metric(metric, owner, available, detail=""):
    close = difflib.get_close_matches(metric, available, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"{metric!r} was not recorded by {owner}.{hint} Available: {available}.{detail}"
    )


def _skdnn_curves(estimator, metric):
    """Curves of a DNNClassifier or DNNRegressor, from its ``history_``."""
    check_is_fitted(estimator, "history_")
    history = estimator.history_
    metric = metric.removeprefix("val_")
    if metric not in history:
        available = sorted(k for k in history if not k.startswith("val_"))
        raise _unknown_metric(metric, f"{type(estimator).__name__} during training", available)
    best_epoch = None
    # The epoch early stopping restored: a regressor's watches its
    # standardized loss (see TrainingRun._stop).
    monitored = "val_standardized_loss" if "val_standardized_loss" in history else "val_loss"
    # best_validation_score_ is set when training monitored validation data.
    if monitored in history and estimator.best_validation_score_ is not None:
        best_epoch = int(np.argmin(history[monitored])) + 1
    return {
        "train_values": history[metric],
        "val_values": history.get(f"val_{metric}"),
        "metric": metric,
        "best_epoch": best_epoch,
    }


def _mlp_curves(estimator, metric):
    """Curves of a scikit-learn MLPClassifier or MLPRegressor.

    MLP records two curves: ``loss_curve_``, the training loss per epoch, and
    with ``early_stopping=True`` ``validation_scores_``, its ``score`` (accuracy
    or R^2) on the validation split per epoch. It records no validation loss
    and no training score, so each metric has one curve.
    """
    check_is_fitted(estimator)
    owner = type(estimator).__name__
    if getattr(estimator, "loss_curve_", None) is None:
        raise ValueError(
            f"{owner} fitted with solver={estimator.solver!r} records no per-epoch "
            "curve (loss_curve_); fit it with solver='adam' or 'sgd'."
        )
    score_name = "accuracy" if is_classifier(estimator) else "r2"
    scores = getattr(estimator, "validation_scores_", None)
    available = ["loss"] + ([score_name] if scores is not None else [])
    if metric == "val_loss":
        raise ValueError(
            f"{owner} records no validation loss: metric='loss' draws its training "
            f"loss (loss_curve_), and metric={score_name!r} its validation "
            f"{score_name} (validation_scores_, with early_stopping=True). "
            f"Available: {available}."
        )
    name = metric.removeprefix("val_")
    if name in ("score", score_name):
        if scores is None:
            raise ValueError(
                f"{owner} records its per-epoch validation {score_name} "
                "(validation_scores_) only when fitted with early_stopping=True. "
                f"Available: {available}."
            )
        train_values, val_values = None, scores
        metric = score_name
    elif metric == "loss":
        train_values, val_values = estimator.loss_curve_, None
    else:
        raise _unknown_metric(
            metric,
            owner,
            available,
            f" ({score_name!r}, or 'score', is validation_scores_, recorded with "
            "early_stopping=True.)",
        )
    best_epoch = None
    if scores is not None:
        # MLP keeps the weights of the first epoch with its best validation score.
        best = np.flatnonzero(np.asarray(scores) == estimator.best_validation_score_)
        best_epoch = int(best[0]) + 1 if best.size else None
    return {
        "train_values": train_values,
        "val_values": val_values,
        "metric": metric,
        "best_epoch": best_epoch,
    }


class TrainingCurveDisplay:
    """Training curve of a fitted skdnn estimator or scikit-learn MLP.

    The "Epoch - Loss" and "Epoch - accuracy" plots of the Keras tutorials:
    the training values, the validation values when there are some (a split
    held out by ``early_stopping=True``, or ``X_val`` given to ``fit``), and
    the epoch whose weights early stopping restored.
    Create it with :meth:`from_estimator`, from a DNNClassifier,
    DNNRegressor or scikit-learn's MLPClassifier / MLPRegressor; several
    estimators can be drawn on one Axes to compare them. matplotlib is
    needed (``pip install matplotlib``, or ``pip install ".[plot]"`` from a
    checkout of skdnn) and imported only here.

    Parameters
    ----------
    train_values : array-like of shape (n_epochs,) or None
        The metric on the training data, per epoch; None when only
        validation values were recorded (an MLP's validation scores).
    val_values : array-like of shape (n_epochs,), default=None
        The metric on the validation split, per epoch.
    metric : str, default="loss"
        Name of the metric, for the axis label.
    best_epoch : int, default=None
        1-based epoch whose weights the estimator kept (early stopping).
    estimator_name : str, default=None
        Name for the legend.

    Attributes
    ----------
    line_ : matplotlib Line2D or None
        The training curve; None when ``train_values`` is None.
    val_line_ : matplotlib Line2D or None
        The validation curve.
    best_epoch_line_ : matplotlib Line2D or None
        The vertical line at ``best_epoch``.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of ``ax_``.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Score against the number
        of training samples.
    sklearn.neural_network.MLPClassifier : scikit-learn's network, whose
        ``loss_curve_`` and ``validation_scores_`` :meth:`from_estimator`
        also draws.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from skdnn import DNNClassifier, TrainingCurveDisplay
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = DNNClassifier(hidden_layer_sizes=(8,), epochs=30, learning_rate=0.01,
    ...                     early_stopping=True, random_state=0).fit(X, y)
    >>> display = TrainingCurveDisplay.from_estimator(clf, metric="accuracy")
    >>> display.ax_.get_ylabel()
    'accuracy'
    """

    def __init__(
        self, *, train_values, val_values=None, metric="loss", best_epoch=None, estimator_name=None
    ):
        self.train_values = train_values
        self.val_values = val_values
        self.metric = metric
        self.best_epoch = best_epoch
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        name : str, default=None
            Name for the legend, instead of ``estimator_name``.
        **kwargs : dict
            Passed to matplotlib's ``plot`` for the training curve (for the
            validation curve when there is no training curve).

        Returns
        -------
        display : TrainingCurveDisplay
            ``self``, with the matplotlib artists stored.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skdnn import TrainingCurveDisplay
        >>> display = TrainingCurveDisplay(train_values=[1.0, 0.6, 0.4],
        ...                                val_values=[1.1, 0.8, 0.7])
        >>> display = display.plot(name="net")
        >>> [line.get_label() for line in display.ax_.lines]
        ['net training', 'net validation']
        """
        plt = _pyplot()
        if self.train_values is None and self.val_values is None:
            raise ValueError("TrainingCurveDisplay needs train_values or val_values.")
        if ax is None:
            _, ax = plt.subplots()
        name = name if name is not None else self.estimator_name
        prefix = f"{name} " if name else ""
        self.line_ = self.val_line_ = None
        if self.train_values is not None:
            epochs = np.arange(1, len(self.train_values) + 1)
            (self.line_,) = ax.plot(
                epochs, self.train_values, **{"label": f"{prefix}training", **kwargs}
            )
            kwargs = {}
        if self.val_values is not None:
            epochs = np.arange(1, len(self.val_values) + 1)
            (self.val_line_,) = ax.plot(
                epochs, self.val_values, **{"label": f"{prefix}validation", **kwargs}
            )
        self.best_epoch_line_ = None
        if self.best_epoch is not None:
            self.best_epoch_line_ = ax.axvline(
                self.best_epoch,
                linestyle="--",
                color="gray",
                label=f"{prefix}best epoch ({self.best_epoch})",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(self.metric)
        ax.set_title(f"Epoch - {self.metric}")
        ax.grid(True)
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, metric="loss", ax=None, name=None, **kwargs):
        """Plot the training curve of a fitted skdnn estimator or scikit-learn MLP.

        For a DNNClassifier or DNNRegressor, ``metric`` names a key of its
        ``history_``, and the training and validation curves of that metric
        are drawn. scikit-learn's MLPClassifier and MLPRegressor record less
        (and no validation loss), so for them ``metric`` selects one curve:

        - ``"loss"``: ``loss_curve_``, the training loss per epoch;
        - ``"accuracy"`` (MLPClassifier), ``"r2"`` (MLPRegressor) or
          ``"score"``: ``validation_scores_``, the ``score`` on the
          validation split per epoch, recorded with ``early_stopping=True``
          (a ``"val_"`` prefix is accepted).

        Any other metric raises a ValueError naming the available ones. An
        MLP's loss is scikit-learn's (half the squared error for
        MLPRegressor, plus the L2 penalty), so its scale can differ from a
        Keras loss; accuracy curves compare directly.

        Parameters
        ----------
        estimator : DNNClassifier, DNNRegressor, MLPClassifier or MLPRegressor
            The fitted estimator, or a fitted Pipeline ending in one.
        metric : str, default="loss"
            A key of a skdnn estimator's ``history_`` (``"loss"``,
            ``"accuracy"``, or one of its ``metrics``), or for an MLP one of
            the names in the list above.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None. Pass the same Axes to
            draw several estimators side by side.
        name : str, default=None
            Name for the legend; the estimator's class name when None.
        **kwargs : dict
            Passed to matplotlib's ``plot`` for the training curve (for the
            validation curve when there is no training curve).

        Returns
        -------
        display : TrainingCurveDisplay
            The display, with the matplotlib artists stored.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        TypeError
            If the estimator is neither a skdnn estimator nor an MLP.
        ValueError
            If ``metric`` was not recorded (the message lists those that
            were), or if an MLP was fitted with ``solver="lbfgs"``, which
            records no per-epoch curve.

        See Also
        --------
        sklearn.neural_network.MLPClassifier : Its ``loss_curve_`` and
            ``validation_scores_`` are what is drawn for an MLP.

        Examples
        --------
        A scikit-learn MLP and a DNNClassifier, side by side on one Axes:

        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.neural_network import MLPClassifier
        >>> from skdnn import DNNClassifier, TrainingCurveDisplay
        >>> X, y = load_iris(return_X_y=True)
        >>> mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20,
        ...                     random_state=0).fit(X, y)
        >>> dnn = DNNClassifier(hidden_layer_sizes=(8,), epochs=20,
        ...                     random_state=0).fit(X, y)
        >>> fig, ax = plt.subplots()
        >>> _ = TrainingCurveDisplay.from_estimator(mlp, ax=ax, name="MLP")
        >>> _ = TrainingCurveDisplay.from_estimator(dnn, ax=ax, name="skdnn")
        >>> [line.get_label() for line in ax.lines]
        ['MLP training', 'skdnn training']
        """
        _pyplot()
        if hasattr(estimator, "steps"):  # a Pipeline: its final step trained
            estimator = estimator[-1]
        curves = _curves_of(estimator)(estimator, metric)
        display = cls(**curves, estimator_name=type(estimator).__name__)
        return display.plot(ax=ax, name=name, **kwargs)


def _curves_of(estimator):
    """The function reading ``estimator``'s curves; TypeError for an unsupported one."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from ._base import BaseDNN

    if isinstance(estimator, BaseDNN):
        return _skdnn_curves
    if isinstance(estimator, (MLPClassifier, MLPRegressor)):
        return _mlp_curves
    raise TypeError(
        "TrainingCurveDisplay.from_estimator draws skdnn's DNNClassifier and "
        "DNNRegressor and scikit-learn's MLPClassifier and MLPRegressor (or a "
        f"Pipeline ending in one); got {type(estimator).__name__}, which records "
        "no per-epoch curve."
    )
