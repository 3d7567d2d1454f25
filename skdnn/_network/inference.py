"""The forward pass used by ``predict``: NumPy over the Keras model's weights.

A fitted skdnn network is a stack of a few layer kinds (see
``build_network``), so predicting is a handful of matrix products. Doing them
with NumPy on the weights read from the Keras layers avoids TensorFlow's
per-call overhead (a compiled call costs ~0.5 ms, NumPy ~50 us for one row)
and, like scikit-learn's MLP, keeps the precision of the input: float32 input
is predicted in float32, anything else in float64. In float64 a sample's
prediction does not depend on which other samples share the call, which
float32 matrix products cannot promise.

A network around a user's body (``KerasClassifier``, ``KerasRegressor``)
may hold any layer: :func:`keras_forward` runs it with a compiled Keras call
per chunk of rows, compiled once per fitted model (an eager call on PyTorch,
which compiles nothing).
"""

import weakref

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from .._training.backends import get_backend
from .embedding import periodic_embedding

# The layers the NumPy forward pass computes: those of build_network. A
# network with any other layer (a user's body) is run by Keras instead.
NUMPY_LAYERS = {
    "InputLayer",
    "Flatten",
    "Dropout",
    "LoadedRateDropout",  # a trainer's Dropout (see _network/build.py)
    "Dense",
    "BatchNormalization",
    "Activation",
    "PeriodicEmbedding",  # numeric_embedding (see _network/embedding.py)
}

# Rows per call when a network is run by Keras. Shorter calls are padded to
# a power of two rows (at least MIN_KERAS_ROWS): JAX, which compiles for
# every input shape, compiles a handful of shapes, and a sample's prediction
# does not depend on how many samples share its call (float32 matrix
# products can differ in the last bit between batch sizes) below 32 rows,
# and otherwise only on the call's power of two.
KERAS_CHUNK_ROWS = 4096
MIN_KERAS_ROWS = 32

# model -> {layer name: (sub-network or None, compiled call)}, see _compiled_network.
_compiled_networks = weakref.WeakKeyDictionary()

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


def to_numpy(variable):
    """A copy of a Keras variable's value as a NumPy array (see
    ``Backend.to_numpy``)."""
    return get_backend(training=False).to_numpy(variable)


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
    names = [layer.name for layer in model.layers]
    used = model.layers[: names.index(until) + 1] if until in names else model.layers
    if any(type(layer).__name__ not in NUMPY_LAYERS for layer in used):
        return keras_forward(model, X, until)
    dtype = X.dtype
    x = X.tocsr() if sp.issparse(X) else X.reshape(len(X), -1)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "Flatten", "Dropout", "LoadedRateDropout"):
            pass  # Flatten is the reshape above; dropout is off at inference
        elif kind == "Dense":
            x = np.asarray(x @ to_numpy(layer.kernel).astype(dtype, copy=False))
            if layer.bias is not None:
                x += to_numpy(layer.bias).astype(dtype, copy=False)
            x = _activate(x, layer.activation)
        elif kind == "BatchNormalization":
            mean, variance = (
                np.asarray(v, dtype=dtype)
                for v in (to_numpy(layer.moving_mean), to_numpy(layer.moving_variance))
            )
            scale = np.asarray(to_numpy(layer.gamma), dtype=dtype) / np.sqrt(
                variance + layer.epsilon
            )
            x = (x - mean) * scale + np.asarray(to_numpy(layer.beta), dtype=dtype)
        elif kind == "Activation":
            x = _activate(x, layer.activation)
        elif kind == "PeriodicEmbedding":
            weights = (layer.coefficients, layer.projection, layer.projection_bias)
            x = periodic_embedding(x, layer.columns, *(to_numpy(w) for w in weights))
        else:
            raise TypeError(
                f"skdnn cannot predict through a {kind} layer; the network must be "
                f"the one its estimator built."
            )
        if layer.name == until:
            return x
    raise ValueError(f"The network has no layer named {until!r}.")


def _compiled_network(model, until):
    """``(network, call)``: ``model`` up to its layer ``until`` and a compiled
    call of it, made once per model and layer.

    Cached by model, weakly: neither holds ``model`` itself (the compiled
    call reaches the network through a weak reference), so the cache entry
    goes with the model.
    """
    import keras

    calls = _compiled_networks.setdefault(model, {})
    if until not in calls:
        output = model.get_layer(until).output
        network = model
        if output is not model.outputs[0]:
            # model.input, not model.inputs: a single tensor, as X is.
            network = keras.Model(model.input, output, name=f"{model.name}_until_{until}")
        call = get_backend(training=False).compiled_call(weakref.ref(network))
        calls[until] = (None if network is model else network, call)
    return calls[until]


def _padded_rows(n_rows):
    """The rows a Keras call of ``n_rows`` rows is padded to."""
    return max(MIN_KERAS_ROWS, 1 << (n_rows - 1).bit_length())


def keras_forward(model, X, until="output"):
    """Return the output of ``model``'s layer ``until`` for ``X``, computed by Keras.

    For networks :func:`forward` cannot compute in NumPy (a user's body):
    compiled calls (made once per model) of at most ``KERAS_CHUNK_ROWS``
    rows, in the network's own precision (float32). The output is float32
    for float32 input and float64 otherwise, as :func:`forward`'s, so that
    predictions decoded from it (a regressor's, in the targets' units) keep
    that precision.

    Parameters
    ----------
    model : keras.Model
        Any Keras model with a layer named ``until``.
    X : ndarray or scipy sparse matrix
        The input; a sparse matrix is made dense one chunk at a time.
    until : str, default="output"
        Name of the last layer to apply.

    Returns
    -------
    output : ndarray of float32 or float64
    """
    _, call = _compiled_network(model, until)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    outputs = []
    for start in range(0, X.shape[0], KERAS_CHUNK_ROWS):
        chunk = X[start : start + KERAS_CHUNK_ROWS]
        chunk = chunk.toarray() if sp.issparse(chunk) else np.asarray(chunk)
        n_rows = chunk.shape[0]
        batch = np.zeros((_padded_rows(n_rows), *chunk.shape[1:]), dtype=np.float32)
        batch[:n_rows] = chunk
        outputs.append(np.asarray(call(batch))[:n_rows])
    if not outputs:
        return np.zeros((0, *model.get_layer(until).output.shape[1:]), dtype=dtype)
    return np.concatenate(outputs).astype(dtype, copy=False)
