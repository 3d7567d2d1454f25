"""TrainingCurveDisplay on scikit-learn's MLP, beside skdnn's estimators."""

import numpy as np
import pytest
from conftest import FAST
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdnn import DNNClassifier, TrainingCurveDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the Agg backend

MLP_FAST = {
    "hidden_layer_sizes": (8,),
    "max_iter": 15,
    "learning_rate_init": 0.01,
    "random_state": 0,
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def mlp_early(classification_data):
    X, y = classification_data
    return MLPClassifier(early_stopping=True, n_iter_no_change=50, **MLP_FAST).fit(X, y)


def legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_mlp_loss_is_its_training_loss_curve(mlp_early):
    display = TrainingCurveDisplay.from_estimator(mlp_early, metric="loss", name="MLP")
    np.testing.assert_array_equal(display.line_.get_ydata(), mlp_early.loss_curve_)
    np.testing.assert_array_equal(
        display.line_.get_xdata(), np.arange(1, len(mlp_early.loss_curve_) + 1)
    )
    assert display.val_line_ is None  # MLP records no validation loss
    assert display.line_.get_label() == "MLP training"
    assert "MLP training" in legend_texts(display.ax_)
    assert display.ax_.get_ylabel() == "loss"
    # Early stopping restored the weights of the best validation score's epoch.
    best = mlp_early.validation_scores_.index(mlp_early.best_validation_score_) + 1
    assert display.best_epoch == best
    assert display.best_epoch_line_.get_xdata()[0] == best


@pytest.mark.parametrize("metric", ["accuracy", "score", "val_accuracy"])
def test_mlp_accuracy_is_its_validation_scores(mlp_early, metric):
    display = TrainingCurveDisplay.from_estimator(mlp_early, metric=metric)
    assert display.line_ is None  # MLP records no training accuracy
    np.testing.assert_array_equal(display.val_line_.get_ydata(), mlp_early.validation_scores_)
    assert display.val_line_.get_label() == "MLPClassifier validation"
    assert display.ax_.get_ylabel() == "accuracy"


def test_mlp_regressor_r2_and_loss(regression_data):
    X, y = regression_data
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    early = MLPRegressor(early_stopping=True, **MLP_FAST).fit(X, y)
    display = TrainingCurveDisplay.from_estimator(early, metric="r2", color="C3")
    np.testing.assert_array_equal(display.val_line_.get_ydata(), early.validation_scores_)
    assert display.val_line_.get_color() == "C3"  # kwargs reach the only curve
    assert display.ax_.get_ylabel() == "r2"
    plain = MLPRegressor(**MLP_FAST).fit(X, y)
    display = TrainingCurveDisplay.from_estimator(make_pipeline(StandardScaler(), plain))
    np.testing.assert_array_equal(display.line_.get_ydata(), plain.loss_curve_)
    assert display.val_line_ is None and display.best_epoch_line_ is None
    with pytest.raises(ValueError, match=r"only when fitted with early_stopping=True.*\['loss'\]"):
        TrainingCurveDisplay.from_estimator(plain, metric="r2")


def test_mlp_and_skdnn_side_by_side_on_one_axes(classification_data, mlp_early):
    X, y = classification_data
    dnn = DNNClassifier(early_stopping=True, **{**FAST, "epochs": 10}).fit(X, y)
    _, ax = plt.subplots()
    mlp_display = TrainingCurveDisplay.from_estimator(mlp_early, ax=ax, name="MLP")
    dnn_display = TrainingCurveDisplay.from_estimator(dnn, ax=ax, name="skdnn")
    assert mlp_display.ax_ is dnn_display.ax_ is ax
    assert mlp_display.line_ in ax.lines and dnn_display.line_ in ax.lines
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), mlp_early.loss_curve_)
    np.testing.assert_array_equal(dnn_display.line_.get_ydata(), dnn.history_["loss"])
    texts = legend_texts(ax)
    assert {"MLP training", "skdnn training", "skdnn validation"} <= set(texts)
    assert any(t.startswith("MLP best epoch") for t in texts)
    assert any(t.startswith("skdnn best epoch") for t in texts)
    # Accuracy: the MLP's validation scores beside the network's two curves.
    _, ax = plt.subplots()
    TrainingCurveDisplay.from_estimator(mlp_early, metric="accuracy", ax=ax, name="MLP")
    TrainingCurveDisplay.from_estimator(dnn, metric="accuracy", ax=ax, name="skdnn")
    curves = {line.get_label(): line.get_ydata() for line in ax.lines}
    np.testing.assert_array_equal(curves["MLP validation"], mlp_early.validation_scores_)
    np.testing.assert_array_equal(curves["skdnn validation"], dnn.history_["val_accuracy"])


def test_mlp_errors_name_what_is_available(classification_data, mlp_early):
    X, y = classification_data
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(MLPClassifier())
    with pytest.raises(ValueError, match=r"no validation loss.*metric='accuracy'"):
        TrainingCurveDisplay.from_estimator(mlp_early, metric="val_loss")
    with pytest.raises(
        ValueError, match=r"'acuracy'.*Did you mean 'accuracy'.*\['loss', 'accuracy'\]"
    ):
        TrainingCurveDisplay.from_estimator(mlp_early, metric="acuracy")
    with pytest.raises(ValueError, match=r"'auc'.*Available: \['loss', 'accuracy'\]"):
        TrainingCurveDisplay.from_estimator(mlp_early, metric="auc")
    lbfgs = MLPClassifier(solver="lbfgs", **MLP_FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"solver='lbfgs' records no per-epoch curve"):
        TrainingCurveDisplay.from_estimator(lbfgs)


def test_other_estimators_are_rejected_by_type(classification_data):
    X, y = classification_data
    for estimator in (LogisticRegression().fit(X, y), LogisticRegression()):
        with pytest.raises(TypeError, match=r"MLPClassifier and MLPRegressor.*LogisticRegression"):
            TrainingCurveDisplay.from_estimator(estimator)
    with pytest.raises(ValueError, match="train_values or val_values"):
        TrainingCurveDisplay(train_values=None).plot()
