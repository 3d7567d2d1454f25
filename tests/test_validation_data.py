"""fit(X, y, *, X_val, y_val, sample_weight_val): a fixed validation set."""

import numpy as np
import pytest
from conftest import ESTIMATORS, FAST, assert_reproduced, predictions
from sklearn import config_context
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skdnn import DNNClassifier


def _split(Estimator, data_for):
    X, y = data_for(Estimator)
    return X[:90], y[:90], X[90:], y[90:]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_validation_data_are_recorded_without_changing_training(Estimator, data_for):
    X, y, X_val, y_val = _split(Estimator, data_for)
    plain = Estimator(**FAST, early_stopping=False).fit(X, y)
    est = Estimator(**FAST, early_stopping=False).fit(X, y, X_val=X_val, y_val=y_val)
    # Without early stopping, validation data only add to history_ (the
    # default "auto" would monitor them).
    assert_reproduced(predictions(est, X), predictions(plain, X))
    assert_reproduced(est.loss_curve_, plain.loss_curve_)
    expected = {"loss", "val_loss"} | (
        {"accuracy", "val_accuracy"}
        if Estimator is DNNClassifier
        else {"standardized_loss", "val_standardized_loss"}
    )
    assert set(est.history_) == expected
    assert all(len(values) == est.n_iter_ for values in est.history_.values())
    assert est.best_validation_score_ is None
    # The last epoch's validation accuracy is the final model's.
    if Estimator is DNNClassifier:
        assert est.history_["val_accuracy"][-1] == pytest.approx(est.score(X_val, y_val))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_monitors_the_validation_data(Estimator, data_for):
    X, y, X_val, y_val = _split(Estimator, data_for)
    params = {**FAST, "epochs": 60, "early_stopping": True, "n_iter_no_change": 3}
    est = Estimator(**params).fit(X, y, X_val=X_val, y_val=y_val)
    # The best epoch's weights are restored and scored on the given data.
    assert est.best_validation_score_ == pytest.approx(est.score(X_val, y_val))
    best = int(np.argmin(est.history_["val_loss"]))
    assert est.n_iter_ == len(est.history_["val_loss"]) and best < est.n_iter_
    # All of X trained: validation_fraction is not held out.
    held_out = Estimator(**params).fit(X, y)
    assert est.history_["loss"][0] != held_out.history_["loss"][0]


def test_validation_sample_weights(classification_data):
    X, y = classification_data
    X_train, y_train, X_val, y_val = X[:90], y[:90], X[90:], y[90:]
    weights = np.r_[np.zeros(15), np.ones(15)]
    weighted = DNNClassifier(**FAST).fit(
        X_train, y_train, X_val=X_val, y_val=y_val, sample_weight_val=weights
    )
    subset = DNNClassifier(**FAST).fit(X_train, y_train, X_val=X_val[15:], y_val=y_val[15:])
    np.testing.assert_allclose(
        weighted.history_["val_loss"], subset.history_["val_loss"], rtol=1e-5
    )
    # scikit-learn >= 1.9 rejects all-zero weights itself; before, skdnn does.
    with pytest.raises(
        ValueError, match="sample_weight_val: .*non-zero|only samples of zero weight"
    ):
        DNNClassifier(**{**FAST, "early_stopping": True}).fit(
            X_train, y_train, X_val=X_val, y_val=y_val, sample_weight_val=np.zeros(30)
        )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "case, match",
    [
        ("no y_val", "X_val and y_val must be given together"),
        ("only weights", "sample_weight_val needs X_val"),
        ("other width", "features"),
        ("other length", "inconsistent numbers of samples"),
    ],
)
def test_bad_validation_data_leave_the_estimator_unfitted(Estimator, case, match, data_for):
    X, y, X_val, y_val = _split(Estimator, data_for)
    kwargs = {
        "no y_val": dict(X_val=X_val),
        "only weights": dict(sample_weight_val=np.ones(30)),
        "other width": dict(X_val=X_val[:, :3], y_val=y_val),
        "other length": dict(X_val=X_val, y_val=y_val[:5]),
    }[case]
    est = Estimator(**FAST)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y, **kwargs)
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_validation_labels_must_be_known(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match=r"labels \[7\] that are not among"):
        DNNClassifier(**FAST).fit(X[:90], y[:90], X_val=X[90:], y_val=np.full(30, 7))


def test_pipeline_transforms_the_validation_data(classification_data):
    X, y = classification_data
    X = X * 100 + 50  # far from standardized
    X_train, y_train, X_val, y_val = X[:90], y[:90], X[90:], y[90:]
    with config_context(enable_metadata_routing=True):
        dnn = DNNClassifier(**FAST).set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("scale", StandardScaler()), ("dnn", dnn)], transform_input=["X_val"])
        pipe.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    fitted = pipe[-1]
    # The validation data went through the fitted scaler, as the training data.
    assert fitted.history_["val_accuracy"][-1] == pytest.approx(pipe.score(X_val, y_val))


def test_training_curve_display_shows_both_curves(classification_data):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skdnn import TrainingCurveDisplay

    X, y = classification_data
    est = DNNClassifier(**FAST).fit(X[:90], y[:90], X_val=X[90:], y_val=y[90:])
    display = TrainingCurveDisplay.from_estimator(est, metric="accuracy")
    np.testing.assert_array_equal(display.line_.get_ydata(), est.history_["accuracy"])
    np.testing.assert_array_equal(display.val_line_.get_ydata(), est.history_["val_accuracy"])
