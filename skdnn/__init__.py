"""skdnn: deep neural networks as scikit-learn estimators, built on Keras 3.

Keras and TensorFlow are imported on first use (in ``fit``, or when a fitted
estimator is unpickled), so ``import skdnn`` stays light.
"""

from ._training import TrainingDivergedError
from ._classifier import DNNClassifier
from ._persistence import load
from ._plot import TrainingCurveDisplay
from ._regressor import DNNRegressor

__version__ = "0.1.0"

__all__ = [
    "DNNClassifier",
    "DNNRegressor",
    "TrainingCurveDisplay",
    "TrainingDivergedError",
    "load",
    "__version__",
]
