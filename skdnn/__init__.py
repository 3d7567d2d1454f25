"""skdnn: deep neural networks as scikit-learn estimators, built on Keras 3.

Keras and TensorFlow are imported on first use (in ``fit``, or when a fitted
estimator is unpickled), so ``import skdnn`` stays light.
"""

from ._classifier import DNNClassifier
from ._estimator_checks import expected_failed_checks
from ._exceptions import TrainingDivergedError
from ._keras_model import KerasClassifier, KerasRegressor
from ._persistence import load
from ._plot import TrainingCurveDisplay
from ._regressor import DNNRegressor
from ._training.trainer import clear_cache
from ._version import __version__

__all__ = [
    "DNNClassifier",
    "DNNRegressor",
    "KerasClassifier",
    "KerasRegressor",
    "TrainingCurveDisplay",
    "TrainingDivergedError",
    "clear_cache",
    "expected_failed_checks",
    "load",
    "__version__",
]
