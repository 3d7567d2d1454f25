"""The network builder, tested without fitting: ``build_network`` and ``training_output``."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skdnn._network.build import build_network, training_output


def _names(model):
    return [layer.name for layer in model.layers]


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def _kernels(model):
    return {layer.name: layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")}


def _rescaling_head():
    # The regression head: standardized outputs back to the target's units.
    return keras.layers.Rescaling(scale=2.0, offset=1.0, name="head")


# ----------------------------------------------------------------------
# Architecture
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "hidden_layer_sizes, expected",
    [
        ((), ["input", "output"]),
        ((5,), ["input", "hidden_1", "hidden_1_activation", "output"]),
        (
            (5, 4, 3),
            [
                "input",
                "hidden_1",
                "hidden_1_activation",
                "hidden_2",
                "hidden_2_activation",
                "hidden_3",
                "hidden_3_activation",
                "output",
            ],
        ),
    ],
    ids=["depth0", "depth1", "depth3"],
)
def test_layer_names_and_order(hidden_layer_sizes, expected):
    model, train_model = build_network((6,), 2, hidden_layer_sizes=hidden_layer_sizes)

    assert _names(model) == expected
    kinds = {"input": "InputLayer", "output": "Dense"}
    assert _kinds(model) == [
        kinds.get(name, "Activation" if name.endswith("_activation") else "Dense")
        for name in expected
    ]
    # Without a head both returned models are one and the same.
    assert train_model is model


def test_full_layer_order_with_every_option():
    model, _ = build_network(
        (3, 2), 1, hidden_layer_sizes=(4, 4), dropout=0.5, batch_normalization=True
    )
    assert _names(model) == [
        "input",
        "flatten",
        "hidden_1",
        "hidden_1_batch_norm",
        "hidden_1_activation",
        "hidden_1_dropout",
        "hidden_2",
        "hidden_2_batch_norm",
        "hidden_2_activation",
        "hidden_2_dropout",
        "output",
    ]


@pytest.mark.parametrize(
    "input_shape, flattened",
    [((4,), False), ((4, 2), True), ((2, 3, 2), True)],
)
def test_flatten_only_for_nd_input(input_shape, flattened):
    model, _ = build_network(input_shape, 3, hidden_layer_sizes=(5,))

    assert ("flatten" in _names(model)) is flattened
    assert _kinds(model).count("Flatten") == int(flattened)
    if flattened:
        assert _names(model).index("flatten") == 1  # right after the input
    assert tuple(model.input_shape[1:]) == input_shape
    # The first Dense layer sees every feature of a sample.
    assert model.get_layer("hidden_1").kernel.shape == (int(np.prod(input_shape)), 5)
    assert tuple(model.output_shape) == (None, 3)


@pytest.mark.parametrize("hidden_layer_sizes", [(), (7,), (5, 4, 3)])
def test_dense_units_per_layer(hidden_layer_sizes):
    model, _ = build_network((6,), 2, hidden_layer_sizes=hidden_layer_sizes)

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [*hidden_layer_sizes, 2]
    fan_ins = [6, *hidden_layer_sizes]
    assert [tuple(layer.kernel.shape) for layer in dense] == list(
        zip(fan_ins, [*hidden_layer_sizes, 2], strict=True)
    )
    assert [tuple(layer.bias.shape) for layer in dense] == [(u,) for u in [*hidden_layer_sizes, 2]]


def test_hidden_layer_sizes_accepts_numpy_integers():
    model, _ = build_network((3,), 1, hidden_layer_sizes=np.array([4, 2]))
    assert [model.get_layer(f"hidden_{i}").units for i in (1, 2)] == [4, 2]
    assert all(type(model.get_layer(f"hidden_{i}").units) is int for i in (1, 2))


@pytest.mark.parametrize(
    "dropout, expected_rates",
    [
        (0.0, {}),
        (0.25, {1: 0.25, 2: 0.25, 3: 0.25}),
        ((0.1, 0.0, 0.5), {1: 0.1, 3: 0.5}),
        ([0.0, 0.0, 0.0], {}),
    ],
    ids=["none", "scalar", "per-layer", "per-layer-zeros"],
)
def test_dropout_only_where_rate_is_positive(dropout, expected_rates):
    model, _ = build_network((4,), 2, hidden_layer_sizes=(5, 4, 3), dropout=dropout)

    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert {int(layer.name.split("_")[1]): layer.rate for layer in dropouts} == expected_rates
    assert all(type(layer.rate) is float for layer in dropouts)
    names = _names(model)
    for depth in expected_rates:
        # Dropout acts on the activation of its own hidden layer.
        activation = names.index(f"hidden_{depth}_activation")
        assert names.index(f"hidden_{depth}_dropout") == activation + 1


def test_dropout_sequence_of_wrong_length_is_rejected():
    # A per-layer sequence must not be silently truncated or padded.
    with pytest.raises(ValueError):
        build_network((4,), 2, hidden_layer_sizes=(5, 4, 3), dropout=(0.1, 0.2))


def test_dropout_layers_have_distinct_seeds():
    model, _ = build_network((4,), 2, hidden_layer_sizes=(5, 4), dropout=0.5, seed=10)
    seeds = [model.get_layer(f"hidden_{i}_dropout").seed for i in (1, 2)]
    assert None not in seeds
    assert seeds[0] != seeds[1]


@pytest.mark.parametrize("batch_normalization", [False, True])
def test_batch_normalization_layers(batch_normalization):
    model, _ = build_network(
        (4,), 2, hidden_layer_sizes=(5, 3), batch_normalization=batch_normalization
    )

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not batch_normalization:
        assert norms == []
        return
    assert [layer.name for layer in norms] == ["hidden_1_batch_norm", "hidden_2_batch_norm"]
    names = _names(model)
    for depth, units in ((1, 5), (2, 3)):
        # It normalizes the pre-activations: between the Dense and its activation.
        position = names.index(f"hidden_{depth}_batch_norm")
        assert names[position - 1] == f"hidden_{depth}"
        assert names[position + 1] == f"hidden_{depth}_activation"
        assert model.get_layer(f"hidden_{depth}_batch_norm").gamma.shape == (units,)
    # Never on the output layer.
    assert names[-2] != "output_batch_norm"


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu"])
def test_hidden_activation(activation):
    model, _ = build_network((4,), 2, hidden_layer_sizes=(5, 3), activation=activation)
    for depth in (1, 2):
        layer = model.get_layer(f"hidden_{depth}_activation")
        assert layer.get_config()["activation"] == activation
        # The hidden Dense layers themselves stay linear.
        assert model.get_layer(f"hidden_{depth}").get_config()["activation"] == "linear"


@pytest.mark.parametrize(
    "output_activation, expected",
    [(None, "linear"), ("softmax", "softmax"), ("sigmoid", "sigmoid")],
)
@pytest.mark.parametrize("n_outputs", [1, 4])
def test_output_layer(output_activation, expected, n_outputs):
    model, _ = build_network(
        (3,), n_outputs, hidden_layer_sizes=(5,), output_activation=output_activation
    )
    output = model.layers[-1]
    assert output.name == "output"
    assert isinstance(output, keras.layers.Dense)
    assert output.units == n_outputs
    assert output.get_config()["activation"] == expected


# ----------------------------------------------------------------------
# The head
# ----------------------------------------------------------------------
def test_head_is_appended_to_model_only():
    head = _rescaling_head()
    model, train_model = build_network((4,), 2, hidden_layer_sizes=(5,), head=head)

    assert model is not train_model
    assert _names(model) == _names(train_model) + ["head"]
    assert model.layers[-1] is head
    assert "head" not in _names(train_model)
    assert train_model.layers[-1].name == "output"
    # The layers before the head are the very same layer objects.
    assert all(a is b for a, b in zip(model.layers[:-1], train_model.layers, strict=True))


def test_head_and_train_model_share_weights():
    model, train_model = build_network(
        (4,), 2, hidden_layer_sizes=(5,), batch_normalization=True, head=_rescaling_head()
    )

    assert len(model.weights) == len(train_model.weights) > 0
    assert all(a is b for a, b in zip(model.weights, train_model.weights, strict=True))
    # Rescaling is parameter-free: the head adds no variable.
    assert {id(v) for v in model.weights} == {id(v) for v in train_model.weights}

    # A weight changed through one model is seen by the other.
    output = train_model.get_layer("output")
    output.kernel.assign(np.full(output.kernel.shape, 0.5, dtype="float32"))
    output.bias.assign(np.array([1.0, -1.0], dtype="float32"))
    assert_array_equal(model.get_layer("output").kernel.numpy(), 0.5)
    X = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    assert_allclose(
        keras.ops.convert_to_numpy(model(X, training=False)),
        2.0 * keras.ops.convert_to_numpy(train_model(X, training=False)) + 1.0,
        rtol=1e-6,
    )


# ----------------------------------------------------------------------
# Weight initialization and determinism
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "activation, expected",
    [
        ("relu", "HeNormal"),
        ("relu6", "HeNormal"),
        ("leaky_relu", "HeNormal"),
        ("elu", "HeNormal"),
        ("gelu", "HeNormal"),
        ("silu", "HeNormal"),
        ("swish", "HeNormal"),
        ("mish", "HeNormal"),
        ("selu", "LecunNormal"),
        ("tanh", "GlorotUniform"),
        ("sigmoid", "GlorotUniform"),
        ("softplus", "GlorotUniform"),
        ("linear", "GlorotUniform"),
    ],
)
def test_kernel_initializer_by_activation(activation, expected):
    model, _ = build_network((4,), 2, hidden_layer_sizes=(5, 3), activation=activation, seed=7)

    hidden = [model.get_layer(f"hidden_{i}").get_config()["kernel_initializer"] for i in (1, 2)]
    assert [config["class_name"] for config in hidden] == [expected, expected]
    # Every initializer is explicitly seeded, each with its own seed.
    output = model.get_layer("output").get_config()["kernel_initializer"]
    seeds = [config["config"]["seed"] for config in [*hidden, output]]
    assert None not in seeds
    assert len(set(seeds)) == 3
    # The output layer feeds no activation of the family: always Glorot.
    assert output["class_name"] == "GlorotUniform"


def test_same_seed_gives_identical_weights():
    options = {"hidden_layer_sizes": (5, 4), "dropout": 0.3, "batch_normalization": True, "seed": 3}
    first, _ = build_network((3, 2), 2, **options)
    second, _ = build_network((3, 2), 2, **options)

    first_weights, second_weights = first.get_weights(), second.get_weights()
    assert len(first_weights) == len(second_weights) > 0
    for a, b in zip(first_weights, second_weights, strict=True):
        assert_array_equal(a, b)
    # Not trivially equal: kernels are random, not constant.
    assert all(np.std(kernel) > 0 for kernel in _kernels(first).values())
    assert [first.get_layer(f"hidden_{i}_dropout").seed for i in (1, 2)] == [
        second.get_layer(f"hidden_{i}_dropout").seed for i in (1, 2)
    ]


def test_different_seed_gives_different_weights():
    first = _kernels(build_network((3,), 2, hidden_layer_sizes=(5, 4), seed=0)[0])
    second = _kernels(build_network((3,), 2, hidden_layer_sizes=(5, 4), seed=1)[0])

    assert first.keys() == second.keys() == {"hidden_1", "hidden_2", "output"}
    for name in first:
        assert not np.array_equal(first[name], second[name]), name


def test_builds_never_share_variables():
    first, _ = build_network((3,), 2, hidden_layer_sizes=(5,), batch_normalization=True)
    second, _ = build_network((3,), 2, hidden_layer_sizes=(5,), batch_normalization=True)

    assert not {id(v) for v in first.weights} & {id(v) for v in second.weights}
    assert not {id(layer) for layer in first.layers} & {id(layer) for layer in second.layers}
    before = second.get_layer("output").kernel.numpy().copy()
    first.get_layer("output").kernel.assign(np.zeros((5, 2), dtype="float32"))
    assert_array_equal(second.get_layer("output").kernel.numpy(), before)


def test_global_random_state_untouched():
    numpy_state = np.random.get_state()
    python_state = random.getstate()

    build_network((3, 2), 2, hidden_layer_sizes=(5, 4), dropout=0.5, batch_normalization=True)

    after = np.random.get_state()
    assert after[0] == numpy_state[0]
    assert_array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]
    assert random.getstate() == python_state


def test_build_in_two_threads_gives_identical_weights():
    options = {"hidden_layer_sizes": (6, 4), "dropout": 0.2, "seed": 5}
    barrier = threading.Barrier(2)

    def build():
        barrier.wait(timeout=30)  # both threads build at the same time
        return build_network((3,), 2, **options)[0].get_weights()

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(build) for _ in range(2)]
        results = [future.result(timeout=60) for future in futures]

    reference = build_network((3,), 2, **options)[0].get_weights()
    for weights in results:
        assert len(weights) == len(reference)
        for a, b in zip(weights, reference, strict=True):
            assert_array_equal(a, b)


# ----------------------------------------------------------------------
# training_output
# ----------------------------------------------------------------------
def test_training_output_without_head_is_the_model():
    model, _ = build_network((4,), 2, hidden_layer_sizes=(5,))
    assert training_output(model) is model


def test_training_output_with_head_ends_at_output_layer():
    model, train_model = build_network((4,), 2, hidden_layer_sizes=(5,), head=_rescaling_head())

    sub_model = training_output(model)
    assert sub_model is not model
    assert _names(sub_model) == _names(train_model)
    assert sub_model.outputs[0] is model.get_layer("output").output
    assert all(a is b for a, b in zip(sub_model.layers, model.layers[:-1], strict=True))
    X = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    assert_array_equal(
        keras.ops.convert_to_numpy(sub_model(X, training=False)),
        keras.ops.convert_to_numpy(train_model(X, training=False)),
    )


@pytest.mark.parametrize("with_head", [False, True])
def test_training_output_of_a_deserialized_model(with_head):
    # What training_output is for: recover train_model from a loaded model_.
    head = _rescaling_head() if with_head else None
    model, train_model = build_network((4,), 2, hidden_layer_sizes=(5,), head=head, seed=2)
    restored = keras.Model.from_config(model.get_config())
    restored.set_weights(model.get_weights())

    sub_model = training_output(restored)
    if not with_head:
        assert sub_model is restored
    assert _names(sub_model) == _names(train_model)
    assert {id(v) for v in sub_model.weights} <= {id(v) for v in restored.weights}
    X = np.random.default_rng(2).normal(size=(3, 4)).astype("float32")
    assert_allclose(
        keras.ops.convert_to_numpy(sub_model(X, training=False)),
        keras.ops.convert_to_numpy(train_model(X, training=False)),
        rtol=1e-6,
    )
