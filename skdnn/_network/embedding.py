"""Periodic embeddings of numeric features: the ``PeriodicEmbedding`` layer.

Gorishniy et al. (2022), "On embeddings for numerical features in tabular
deep learning", map each numeric feature ``x`` to ``ReLU(W [sin v, cos v] +
b)`` with ``v = 2 pi c x`` and trainable frequencies ``c`` (their "PLR"
embedding). A ``Dense`` layer sees a numeric column only through a linear
function of it; the embedding lets the network cut a column at thresholds and
follow periodic patterns, which closes most of the gap to gradient boosting on
tables (see ``benchmarks/bench_tabular.py``).

The layer is defined on first use (Keras is imported only when a network is
built or loaded) and registered with Keras as ``skdnn>PeriodicEmbedding``, so
that a network holding it saves and loads in Keras's safe mode. Its math is
written once in Keras ops (every backend, and the population trainer's
vectorized stateless calls) and once in NumPy (:func:`periodic_embedding`,
for ``predict``; see ``inference.py``).
"""

import functools
import math

import numpy as np

# Defaults measured on nine tables (see the changelog): the spread of the
# initial frequencies, and the sizes of each column's embedding.
FREQUENCIES = 16
UNITS = 16
SIGMA = 0.3


def periodic_embedding(x, columns, coefficients, kernel, bias):
    """The embedding in NumPy, in the dtype of ``x``: what the layer computes.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_inputs)
    columns : sequence of int
        The positions of the embedded (numeric) columns in ``x``.
    coefficients : ndarray of shape (n_columns, frequencies)
    kernel : ndarray of shape (n_columns, 2 * frequencies, units)
    bias : ndarray of shape (n_columns, units)

    Returns
    -------
    output : ndarray of shape (n_samples, n_columns * units + n_others)
        Each column's embedding, in order, then the other columns as they are.
    """
    dtype = x.dtype
    columns = np.asarray(columns, dtype=np.intp)
    others = np.setdiff1d(np.arange(x.shape[1]), columns)
    v = (2 * math.pi) * x[:, columns, None] * coefficients.astype(dtype, copy=False)
    features = np.concatenate([np.sin(v), np.cos(v)], axis=-1)
    # One matrix product per column (BLAS; einsum would loop in C).
    kernel = kernel.astype(dtype, copy=False)
    embedded = np.matmul(features.transpose(1, 0, 2), kernel).transpose(1, 0, 2)
    embedded += bias.astype(dtype, copy=False)
    np.maximum(embedded, 0, out=embedded)
    return np.concatenate([embedded.reshape(len(x), -1), x[:, others]], axis=1)


@functools.cache
def periodic_embedding_class():
    """The ``PeriodicEmbedding`` layer class, defined and registered with
    Keras on the first call."""
    import keras

    @keras.saving.register_keras_serializable(package="skdnn")
    class PeriodicEmbedding(keras.layers.Layer):
        """Embed the numeric columns of a batch periodically; pass the others.

        Input ``(batch, n_inputs)``; output ``(batch, len(columns) * units +
        n_others)``: for each column ``j`` of ``columns``, ``ReLU(W_j [sin
        v, cos v] + b_j)`` with ``v = 2 pi c_j x_j``, then the other columns
        unchanged. ``c_j`` (``frequencies`` values) starts normal with
        standard deviation ``sigma``; ``W_j`` and ``b_j`` uniform in ``+-1 /
        sqrt(2 frequencies)``, as PyTorch's ``Linear`` (the paper's).

        The weights are named ``coefficients``, ``projection`` and
        ``projection_bias``: no ``kernel``, so the L2 penalty on ``Dense``
        kernels leaves them alone (see ``kernel_indices``).

        Parameters
        ----------
        columns : sequence of int
            Positions of the embedded columns in the input.
        frequencies : int, default=16
        units : int, default=16
        sigma : float, default=0.3
        seed : int, default=0
            The initializers take ``seed``, ``seed + 1`` and ``seed + 2``.
        """

        def __init__(
            self, columns, frequencies=FREQUENCIES, units=UNITS, sigma=SIGMA, seed=0, **kwargs
        ):
            super().__init__(**kwargs)
            self.columns = [int(column) for column in columns]
            self.frequencies = int(frequencies)
            self.units = int(units)
            self.sigma = float(sigma)
            self.seed = int(seed)

        def build(self, input_shape):
            n_inputs = int(input_shape[-1])
            self.others = [c for c in range(n_inputs) if c not in set(self.columns)]
            n_columns, bound = len(self.columns), 1 / math.sqrt(2 * self.frequencies)
            self.coefficients = self.add_weight(
                shape=(n_columns, self.frequencies),
                initializer=keras.initializers.RandomNormal(0.0, self.sigma, seed=self.seed),
                name="coefficients",
            )
            self.projection = self.add_weight(
                shape=(n_columns, 2 * self.frequencies, self.units),
                initializer=keras.initializers.RandomUniform(-bound, bound, seed=self.seed + 1),
                name="projection",
            )
            self.projection_bias = self.add_weight(
                shape=(n_columns, self.units),
                initializer=keras.initializers.RandomUniform(-bound, bound, seed=self.seed + 2),
                name="projection_bias",
            )

        def call(self, inputs):
            ops = keras.ops
            x = ops.take(inputs, np.asarray(self.columns, dtype="int32"), axis=1)
            v = (2 * math.pi) * ops.expand_dims(x, -1) * self.coefficients
            features = ops.concatenate([ops.sin(v), ops.cos(v)], axis=-1)
            embedded = ops.einsum("bkf,kfu->bku", features, self.projection)
            embedded = ops.relu(embedded + self.projection_bias)
            embedded = ops.reshape(embedded, (-1, len(self.columns) * self.units))
            if not self.others:
                return embedded
            others = ops.take(inputs, np.asarray(self.others, dtype="int32"), axis=1)
            return ops.concatenate([embedded, others], axis=1)

        def compute_output_shape(self, input_shape):
            n_others = int(input_shape[-1]) - len(self.columns)
            return (input_shape[0], len(self.columns) * self.units + n_others)

        def get_config(self):
            return {
                **super().get_config(),
                "columns": list(self.columns),
                "frequencies": self.frequencies,
                "units": self.units,
                "sigma": self.sigma,
                "seed": self.seed,
            }

    return PeriodicEmbedding
