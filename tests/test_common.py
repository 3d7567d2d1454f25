"""scikit-learn's own conformance checks, on both estimators."""

import warnings

from conftest import dense_body
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdnn import DNNClassifier, DNNRegressor, KerasClassifier, KerasRegressor

# The one place that lists checks a network trained in float32 cannot pass.
FLOAT32_TRAINING = (
    "Training runs in float32 (as Keras does): fitting with integer sample weights "
    "and fitting on repeated rows agree to about 1e-6 relative, but the check asks "
    "for 1e-7. The weighted loss is the exact weighted mean, as in scikit-learn's "
    "MLP; tests/test_estimators.py::test_sample_weight_equals_repetition checks the "
    "equivalence at float32 tolerance."
)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": FLOAT32_TRAINING,
    "check_sample_weight_equivalence_on_sparse_data": FLOAT32_TRAINING,
}


def _instances():
    # Enough epochs and a larger step so the checks' small data sets are learnt.
    params = dict(epochs=30, learning_rate=0.01, random_state=0)
    # The Keras estimators with a body of the DNN estimators' default network.
    body = dict(model=dense_body, model__units=100)
    return [
        DNNClassifier(**params),
        DNNRegressor(**params),
        KerasClassifier(**body, **params),
        KerasRegressor(**body, **params),
    ]


@parametrize_with_checks(_instances(), expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
