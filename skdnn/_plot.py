"""TrainingCurveDisplay: per-epoch training and validation curves."""

import difflib

import numpy as np
from sklearn.utils.validation import check_is_fitted


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "TrainingCurveDisplay needs matplotlib, an optional dependency of skdnn: "
            "pip install 'skdnn[plot]' (or pip install matplotlib)."
        ) from None
    return plt


class TrainingCurveDisplay:
    """Training curve of a fitted skdnn estimator: one metric per epoch.

    The "Epoch - Loss" and "Epoch - accuracy" plots of the Keras tutorials:
    the training values, the validation values when ``early_stopping=True``
    held out a validation split, and the epoch whose weights were restored.
    Create it with :meth:`from_estimator`; matplotlib is needed
    (``pip install skdnn[plot]``) and imported only here.

    Parameters
    ----------
    train_values : array-like of shape (n_epochs,)
        The metric on the training data, per epoch.
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
    line_ : matplotlib Line2D
        The training curve.
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

    def __init__(self, *, train_values, val_values=None, metric="loss", best_epoch=None,
                 estimator_name=None):
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
            Passed to matplotlib's ``plot`` for the training curve.

        Returns
        -------
        display : TrainingCurveDisplay
            ``self``, with the matplotlib artists stored.
        """
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots()
        name = name if name is not None else self.estimator_name
        prefix = f"{name} " if name else ""
        epochs = np.arange(1, len(self.train_values) + 1)
        (self.line_,) = ax.plot(
            epochs, self.train_values, **{"label": f"{prefix}training", **kwargs}
        )
        self.val_line_ = None
        if self.val_values is not None:
            (self.val_line_,) = ax.plot(epochs, self.val_values, label=f"{prefix}validation")
        self.best_epoch_line_ = None
        if self.best_epoch is not None:
            self.best_epoch_line_ = ax.axvline(
                self.best_epoch, linestyle="--", color="gray",
                label=f"best epoch ({self.best_epoch})",
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
        """Plot the training curve of a fitted DNNClassifier or DNNRegressor.

        Parameters
        ----------
        estimator : DNNClassifier or DNNRegressor, or a Pipeline ending in one
            The fitted estimator.
        metric : str, default="loss"
            A key of the estimator's ``history_`` (``"loss"``,
            ``"accuracy"``, or one of its ``metrics``).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        name : str, default=None
            Name for the legend.
        **kwargs : dict
            Passed to matplotlib's ``plot`` for the training curve.

        Returns
        -------
        display : TrainingCurveDisplay
        """
        _pyplot()
        if hasattr(estimator, "steps"):  # a Pipeline: its final step trained
            estimator = estimator[-1]
        check_is_fitted(estimator, "history_")
        history = estimator.history_
        if metric.startswith("val_"):
            metric = metric[len("val_"):]
        if metric not in history:
            available = sorted(k for k in history if not k.startswith("val_"))
            close = difflib.get_close_matches(metric, available, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{metric!r} was not recorded during training.{hint} Recorded: {available}."
            )
        val_values = history.get(f"val_{metric}")
        best_epoch = None
        if "val_loss" in history and estimator.early_stopping:
            best_epoch = int(np.argmin(history["val_loss"])) + 1
        display = cls(
            train_values=history[metric], val_values=val_values, metric=metric,
            best_epoch=best_epoch, estimator_name=type(estimator).__name__,
        )
        return display.plot(ax=ax, name=name, **kwargs)
