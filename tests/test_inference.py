"""The NumPy forward pass (``forward``) checked against Keras, without fitting."""

import keras
import numpy as np
import pytest
from conftest import matmul_tolerance
from numpy.testing import assert_allclose, assert_array_equal

from skdnn._network.build import build_network
from skdnn._network.inference import ACTIVATIONS, forward

# float32 agreement with Keras: a few ulps through a few small layers (on a
# CPU; on a GPU multiplying in TF32, that rounding).
TOLERANCE = matmul_tolerance(rtol=1e-5, atol=1e-5)

# Computed in NumPy by forward, and a few that it hands back to Keras.
KERAS_FALLBACKS = ["gelu", "elu", "softplus", "selu", "swish"]
ALL_ACTIVATIONS = [*ACTIVATIONS, *KERAS_FALLBACKS]


def _randomize(model, seed=0):
    """Give every layer deterministic, non-trivial weights (as training would)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            fan_in, units = layer.kernel.shape
            layer.kernel.assign(rng.normal(scale=1.5 / np.sqrt(fan_in), size=(fan_in, units)))
            layer.bias.assign(rng.normal(scale=0.5, size=units))
        elif isinstance(layer, keras.layers.BatchNormalization):
            (units,) = layer.gamma.shape
            layer.gamma.assign(rng.uniform(0.5, 1.5, size=units))
            layer.beta.assign(rng.normal(scale=0.5, size=units))
            layer.moving_mean.assign(rng.normal(scale=0.5, size=units))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, size=units))
    return model


def _network(input_shape=(4,), n_outputs=3, seed=0, **options):
    options.setdefault("hidden_layer_sizes", (6, 5))
    model, train_model = build_network(input_shape, n_outputs, seed=seed, **options)
    _randomize(model, seed)
    return model, train_model


def _X(shape, dtype, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _keras(model, X, **kwargs):
    return keras.ops.convert_to_numpy(model(X, training=False, **kwargs))


# ----------------------------------------------------------------------
# Agreement with Keras
# ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_normalization", [False, True], ids=["plain", "batch_norm"])
@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_forward_matches_keras(activation, batch_normalization, dtype):
    # The activation is used both by the hidden Activation layers and by the
    # output Dense layer itself: the two places forward applies one.
    model, _ = _network(
        activation=activation,
        output_activation=activation,
        batch_normalization=batch_normalization,
    )
    X = _X((7, 4), dtype)
    X_before = X.copy()

    output = forward(model, X)

    assert output.dtype == dtype
    assert output.shape == (7, 3)
    assert_array_equal(X, X_before)  # in-place activations never reach the input
    assert_allclose(output, _keras(model, X), **TOLERANCE)
    assert_allclose(output, model.predict(X, verbose=0), **TOLERANCE)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_with_softmax_output(dtype):
    model, _ = _network(activation="relu", output_activation="softmax")
    X = _X((5, 4), dtype)

    output = forward(model, X)

    assert output.dtype == dtype
    assert_allclose(output.sum(axis=1), 1.0, rtol=1e-6)
    assert_allclose(output, _keras(model, X), **TOLERANCE)


def test_the_keras_weights_are_not_trivial():
    # Guard for the comparisons above: a random network whose outputs vary,
    # and whose batch normalization is far from the identity.
    model, _ = _network(activation="tanh", batch_normalization=True)
    X = _X((7, 4), np.float32)
    output = forward(model, X)
    assert np.std(output, axis=0).min() > 0.05
    norm = model.get_layer("hidden_1_batch_norm")
    assert np.abs(norm.moving_mean.numpy()).max() > 0.1
    assert np.abs(norm.moving_variance.numpy() - 1).max() > 0.1


def test_float64_is_computed_in_float64():
    # Against a float64 reference written out by hand: float64 input must not
    # go through a float32 computation.
    model, _ = _network(activation="tanh", batch_normalization=True, hidden_layer_sizes=(6,))
    X = _X((5, 4), np.float64)
    dense, norm, output = (
        model.get_layer(name) for name in ("hidden_1", "hidden_1_batch_norm", "output")
    )
    w = [
        np.asarray(v.numpy(), dtype=np.float64)
        for v in (
            dense.kernel,
            dense.bias,
            norm.gamma,
            norm.beta,
            norm.moving_mean,
            norm.moving_variance,
            output.kernel,
            output.bias,
        )
    ]
    hidden = X @ w[0] + w[1]
    hidden = (hidden - w[4]) / np.sqrt(w[5] + norm.epsilon) * w[2] + w[3]
    expected = np.tanh(hidden) @ w[6] + w[7]

    result = forward(model, X)

    assert_allclose(result, expected, rtol=1e-12, atol=1e-12)
    float32_result = forward(model, X.astype(np.float32))
    assert not np.array_equal(result, float32_result.astype(np.float64))


def test_table_activations_do_not_call_keras(monkeypatch):
    # The activations of ACTIVATIONS are the fast path: pure NumPy, no tensor.
    model, _ = _network(activation="relu", output_activation="sigmoid", batch_normalization=True)
    X = _X((3, 4), np.float32)
    expected = _keras(model, X)

    def no_keras(*args, **kwargs):
        raise AssertionError("forward converted to a Keras tensor")

    monkeypatch.setattr(keras.ops, "convert_to_tensor", no_keras)
    assert_allclose(forward(model, X), expected, **TOLERANCE)


def test_user_function_named_like_a_table_activation_is_not_replaced():
    # A custom activation that happens to be called "relu" is not Keras's relu:
    # forward must compute it with the function itself.
    def relu(x):
        return 2.0 * keras.ops.relu(x) - 1.0

    inputs = keras.Input((4,), name="input")
    x = keras.layers.Dense(5, name="hidden_1")(inputs)
    x = keras.layers.Activation(relu, name="hidden_1_activation")(x)
    outputs = keras.layers.Dense(2, activation=relu, name="output")(x)
    model = _randomize(keras.Model(inputs, outputs))
    X = _X((6, 4), np.float32)

    assert_allclose(forward(model, X), _keras(model, X), **TOLERANCE)
    assert (forward(model, X) < 0).any()  # not max(x, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_is_inactive(dtype):
    model, _ = _network(activation="relu", dropout=(0.5, 0.3))
    X = _X((20, 4), dtype)

    output = forward(model, X)

    assert output.dtype == dtype
    assert_allclose(output, _keras(model, X), **TOLERANCE)
    assert_allclose(output, model.predict(X, verbose=0), **TOLERANCE)
    # The dropout layers are real: in training mode Keras gives other outputs.
    assert not np.allclose(output, keras.ops.convert_to_numpy(model(X, training=True)), **TOLERANCE)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("input_shape", [(4, 2), (2, 3, 2)])
def test_nd_input_is_flattened(input_shape, dtype):
    model, _ = _network(input_shape, activation="tanh", batch_normalization=True)
    X = _X((5, *input_shape), dtype)

    output = forward(model, X)

    assert output.dtype == dtype
    assert output.shape == (5, 3)
    assert_allclose(output, _keras(model, X), **TOLERANCE)
    # Row-major flattening, as Keras's Flatten.
    flat_model, _ = _network(
        (int(np.prod(input_shape)),), activation="tanh", batch_normalization=True
    )
    flat_model.set_weights(model.get_weights())
    assert_allclose(output, forward(flat_model, X.reshape(5, -1)), rtol=1e-6, atol=1e-6)


def test_single_row():
    model, _ = _network(activation="relu", batch_normalization=True)
    X = _X((1, 4), np.float64)
    output = forward(model, X)
    assert output.shape == (1, 3)
    assert_allclose(output, _keras(model, X), **TOLERANCE)


def test_linear_model_without_hidden_layers():
    model, _ = _network(hidden_layer_sizes=())
    X = _X((4, 4), np.float64)
    output = model.get_layer("output")
    assert_allclose(forward(model, X), X @ output.kernel.numpy() + output.bias.numpy(), rtol=1e-6)


# ----------------------------------------------------------------------
# until=
# ----------------------------------------------------------------------
UNTIL_MODEL = {
    "input_shape": (4, 2),
    "activation": "tanh",
    "batch_normalization": True,
    "dropout": (0.5, 0.0),
}


@pytest.mark.parametrize(
    "until",
    [
        "flatten",
        "hidden_1",
        "hidden_1_batch_norm",
        "hidden_1_activation",
        "hidden_1_dropout",
        "hidden_2",
        "hidden_2_batch_norm",
        "hidden_2_activation",
        "output",
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_until_stops_at_that_layer(until, dtype):
    model, _ = _network(**UNTIL_MODEL)
    X = _X((5, 4, 2), dtype)
    sub_model = keras.Model(model.inputs, model.get_layer(until).output)

    output = forward(model, X, until=until)

    assert output.dtype == dtype
    assert output.shape == (5, *sub_model.output_shape[1:])
    assert_allclose(output, _keras(sub_model, [X]), **TOLERANCE)


def test_until_input_gives_the_flattened_input():
    # Unlike a Keras sub-model ending at the input (which keeps the sample's
    # shape), forward flattens first: "input" gives the flattened samples.
    model, _ = _network(input_shape=(4, 2))
    X = _X((3, 4, 2), np.float64)
    output = forward(model, X, until="input")
    assert_array_equal(output, X.reshape(3, 8))
    assert output.shape == (3, 8)


def test_unknown_until_raises():
    model, _ = _network()
    with pytest.raises(ValueError, match="no layer named 'hidden_9'"):
        forward(model, _X((2, 4), np.float32), until="hidden_9")


# ----------------------------------------------------------------------
# The head
# ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_stops_before_the_head(dtype):
    # forward(model, X) with the default until="output" returns the training
    # output (standardized targets, logits), not the model's predictions: the
    # head is never applied by forward; the estimator maps the output itself.
    head = keras.layers.Rescaling(scale=3.0, offset=-2.0, name="head")
    model, train_model = _network(activation="relu", head=head)
    X = _X((6, 4), dtype)

    output = forward(model, X)

    assert output.dtype == dtype
    assert_allclose(output, _keras(train_model, X), **TOLERANCE)
    assert_allclose(_keras(model, X), 3.0 * output - 2.0, **TOLERANCE)
    assert not np.allclose(output, _keras(model, X), **TOLERANCE)
    assert_array_equal(output, forward(train_model, X))


def test_forward_through_the_head_is_run_by_keras():
    # The head is a layer kind forward does not compute: Keras runs it.
    head = keras.layers.Rescaling(scale=3.0, offset=-2.0, name="head")
    model, _ = _network(head=head)
    X = _X((2, 4), np.float32)
    assert_allclose(forward(model, X, until="head"), _keras(model, X), **TOLERANCE)


# ----------------------------------------------------------------------
# Unsupported layers
# ----------------------------------------------------------------------
def _conv_model():
    inputs = keras.Input((4, 2), name="input")
    x = keras.layers.Conv1D(3, 2, name="conv")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="output")(x)), (5, 4, 2)


def _layer_norm_model():
    inputs = keras.Input((4,), name="input")
    x = keras.layers.Dense(5, name="hidden_1")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="output")(x)), (5, 4)


@pytest.mark.parametrize(
    "make, kind", [(_conv_model, "Conv1D"), (_layer_norm_model, "LayerNormalization")]
)
def test_networks_with_other_layers_are_run_by_keras(make, kind):
    model, shape = make()
    _randomize(model)
    X = _X(shape, np.float32)
    assert any(type(layer).__name__ == kind for layer in model.layers)
    assert_allclose(forward(model, X), _keras(model, [X]), **TOLERANCE)


def test_layers_before_an_unsupported_one_still_work():
    # Layers are applied in order and only up to ``until``.
    model, shape = _layer_norm_model()
    _randomize(model)
    X = _X(shape, np.float32)
    sub_model = keras.Model(model.inputs, model.get_layer("hidden_1").output)
    assert_allclose(forward(model, X, until="hidden_1"), _keras(sub_model, [X]), **TOLERANCE)
