"""The forward pass used by ``predict``: NumPy over the Keras model's weights.

A fitted skdnn network is a stack of a few layer kinds (see
``build_network``), so predicting is a handful of matrix products. Doing them
with NumPy on the weights read from the Keras layers avoids TensorFlow's
per-call overhead (a compiled call costs ~0.5 ms, NumPy ~50 us for one row)
and, like scikit-learn's MLP, keeps the precision of the input: float32 input
is predicted in float32, anything else in float64. In float64 a sample's
prediction does not depend on which other samples share the call, which
float32 matrix products cannot promise.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

# NumPy versions of the common Keras activations, by name; any other Keras
# activation is computed by Keras itself (on the same dtype).
ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0, out=x),
    "tanh": lambda x: np.tanh(x, out=x),
    "sigmoid": lambda x: expit(x, out=x),
}


def _activate(x, activation):
    name = getattr(activation, "__name__", None)
    import keras

    if name in ACTIVATIONS and activation is getattr(keras.activations, name, None):
        return ACTIVATIONS[name](x)
    return np.asarray(activation(keras.ops.convert_to_tensor(x)), dtype=x.dtype)


def forward(model, X, until="output"):
    """Return the output of ``model``'s layer ``until`` for ``X``.

    Parameters
    ----------
    model : keras.Model
        A network made by ``build_network``.
    X : ndarray or scipy sparse matrix of dtype float32 or float64
        The input; the computation keeps its dtype. A sparse matrix is
        multiplied by the first layer's weights as it is, never made dense.
    until : str, default="output"
        Name of the last layer to apply.

    Returns
    -------
    output : ndarray of the dtype of ``X``
    """
    dtype = X.dtype
    x = X.tocsr() if sp.issparse(X) else X.reshape(len(X), -1)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "Flatten", "Dropout"):
            pass  # Flatten is the reshape above; dropout is off at inference
        elif kind == "Dense":
            x = np.asarray(x @ layer.kernel.numpy().astype(dtype, copy=False))
            if layer.bias is not None:
                x += layer.bias.numpy().astype(dtype, copy=False)
            x = _activate(x, layer.activation)
        elif kind == "BatchNormalization":
            mean, variance = (
                np.asarray(v, dtype=dtype)
                for v in (layer.moving_mean.numpy(), layer.moving_variance.numpy())
            )
            scale = np.asarray(layer.gamma.numpy(), dtype=dtype) / np.sqrt(variance + layer.epsilon)
            x = (x - mean) * scale + np.asarray(layer.beta.numpy(), dtype=dtype)
        elif kind == "Activation":
            x = _activate(x, layer.activation)
        else:
            raise TypeError(
                f"skdnn cannot predict through a {kind} layer; the network must be "
                f"the one its estimator built."
            )
        if layer.name == until:
            return x
    raise ValueError(f"The network has no layer named {until!r}.")
