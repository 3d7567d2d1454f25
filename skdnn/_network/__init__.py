"""The network: a pure builder of Keras models from hyperparameters
(``build.py``) and the NumPy forward pass that predicts with them
(``inference.py``)."""
