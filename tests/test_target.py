"""Unit tests of the target encoders, which own the output head (no fitting)."""

import numpy as np
import pytest

from skdnn._target import ENCODERS, ClassLabelEncoder, TargetStandardizer


@pytest.mark.parametrize(
    "y, target_type, n_outputs, encoded",
    [
        (np.array(["b", "a", "b"]), "binary", 1, np.array([[1.0], [0.0], [1.0]], np.float32)),
        (np.array([3, 1, 2, 1]), "multiclass", 3, np.array([2, 0, 1, 0], np.int32)),
        (
            np.array([[1, 0], [0, 1], [1, 1]]),
            "multilabel-indicator",
            2,
            np.array([[1, 0], [0, 1], [1, 1]], np.float32),
        ),
    ],
)
def test_class_label_encoder_targets(y, target_type, n_outputs, encoded):
    encoder = ClassLabelEncoder().fit(y)
    assert encoder.target_type_ == target_type and encoder.n_outputs_ == n_outputs
    transformed = encoder.transform(y)
    assert transformed.dtype == encoded.dtype
    np.testing.assert_array_equal(transformed, encoded)
    # Logits that favour the encoded targets decode back to the labels.
    if target_type == "multiclass":
        logits = np.eye(n_outputs)[transformed] * 4 - 2
    else:
        logits = transformed * 4.0 - 2.0
    np.testing.assert_array_equal(encoder.inverse_transform(logits), y)


def test_class_label_encoder_head_loss_and_metrics():
    import keras

    multiclass = ClassLabelEncoder().fit([0, 1, 2])
    assert multiclass.output_transform == "softmax" and multiclass.one_hot_depth == 3
    assert multiclass.head_layer().get_config()["activation"] == "softmax"
    loss, on_predictions, one_hot, compile_loss = multiclass.loss("auto")
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"] and not on_predictions and not one_hot
    assert compile_loss == "sparse_categorical_crossentropy"
    assert [type(m).__name__ for m in multiclass.metrics(["AUC"])] == [
        "SparseCategoricalAccuracy",
        "AUC",
    ]

    binary = ClassLabelEncoder().fit([0, 1])
    assert binary.output_transform == "sigmoid" and binary.one_hot_depth is None
    assert binary.loss("log_loss")[3] == "binary_crossentropy"
    assert type(binary.metrics(None)[0]).__name__ == "BinaryAccuracy"
    # A user's Keras loss takes the probabilities, as in Keras.
    focal = keras.losses.BinaryFocalCrossentropy()
    assert binary.loss(focal) == (focal, True, False, focal)
    with pytest.raises(ValueError, match="appear twice"):
        binary.metrics(["accuracy"])


def test_class_label_encoder_keras_loss_names_and_objects():
    import keras

    multiclass = ClassLabelEncoder().fit([0, 1, 2])
    for name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        loss, on_probabilities, one_hot, compile_loss = multiclass.loss(name)
        assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
        assert not on_probabilities and not one_hot
    with pytest.raises(
        ValueError, match="does not fit a 'multiclass' target.*sparse_categorical_crossentropy"
    ):
        multiclass.loss("binary_crossentropy")
    # Categorical losses take one-hot targets; from_logits=True takes logits.
    assert multiclass.loss(keras.losses.CategoricalCrossentropy())[1:3] == (True, True)
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert multiclass.loss(sparse)[1:3] == (False, False)
    binary = ClassLabelEncoder().fit(["no", "yes"])
    assert isinstance(binary.loss("categorical_crossentropy")[0], keras.losses.BinaryCrossentropy)
    with pytest.raises(ValueError, match="SparseCategoricalCrossentropy.*'binary' target"):
        binary.loss(keras.losses.SparseCategoricalCrossentropy())
    multilabel = ClassLabelEncoder().fit(np.array([[0, 1], [1, 1]]))
    with pytest.raises(ValueError, match="'multilabel-indicator' target"):
        multilabel.loss("categorical_crossentropy")


def test_class_label_encoder_probabilities_keep_the_precision():
    encoder = ClassLabelEncoder().fit(["x", "y", "z"])
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    proba = encoder.proba_from_logits(logits.copy())
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(proba[1], [1 / 3] * 3, rtol=1e-6)
    assert encoder.proba_from_logits(logits.astype(np.float64)).dtype == np.float64
    binary = ClassLabelEncoder().fit([0, 1])
    scores = binary.decision_from_logits(np.array([[0.0], [2.0]], dtype=np.float32))
    assert scores.shape == (2,) and scores.dtype == np.float32
    np.testing.assert_allclose(binary.proba_from_logits(np.zeros((1, 1)))[0], [0.5, 0.5])


def test_class_label_encoder_classes_and_compatibility():
    encoder = ClassLabelEncoder().fit(["a"], classes=["a", "b", "c"])
    assert encoder.target_type_ == "multiclass" and encoder.n_outputs_ == 3
    encoder.check_compatible(np.array(["c", "a"]))
    with pytest.raises(ValueError, match=r"labels \['d'\] that are not among"):
        encoder.check_compatible(np.array(["d"]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        ClassLabelEncoder().fit(["a", "a"])
    with pytest.raises(ValueError, match="not among"):
        ClassLabelEncoder().fit(["z"], classes=["a", "b"])
    with pytest.raises(ValueError, match="MultiOutputClassifier"):
        ClassLabelEncoder().fit(np.array([[0, 1], [2, 0]]))
    multilabel = ClassLabelEncoder().fit(np.array([[0, 1], [1, 0]]))
    with pytest.raises(ValueError, match="indicator matrix of 2 labels"):
        multilabel.check_compatible(np.array([[0, 1, 1]]))


def test_class_weight_and_stratification():
    encoder = ClassLabelEncoder().fit([0, 0, 0, 1])
    y = np.array([0, 0, 0, 1])
    weights = encoder.sample_weight(y, np.ones(4, np.float32), "balanced")
    np.testing.assert_allclose(weights, [2 / 3, 2 / 3, 2 / 3, 2.0])
    np.testing.assert_array_equal(encoder.sample_weight(y, np.ones(4), None), np.ones(4))
    np.testing.assert_array_equal(encoder.stratify(y), y)
    assert encoder.stratify(np.ones((4, 2))) is None


def test_target_standardizer_round_trip_and_precision():
    y = np.array([10.0, 20.0, 30.0, 40.0])
    encoder = TargetStandardizer().fit(y, sample_weight=np.array([1.0, 1.0, 1.0, 0.0]))
    np.testing.assert_allclose(encoder.offset_, [20.0])  # weighted mean
    standardized = encoder.transform(y)
    assert standardized.shape == (4, 1) and standardized.dtype == np.float32
    np.testing.assert_allclose(encoder.inverse_transform(standardized), y, rtol=1e-6)
    assert encoder.inverse_transform(standardized).dtype == np.float32
    assert encoder.inverse_transform(standardized.astype(np.float64)).shape == (4,)
    # The affine transform agrees with inverse_transform; a linear output
    # layer takes it into its weights (no head layer).
    scale, offset = encoder.scaling()
    assert scale.dtype == np.float32
    np.testing.assert_allclose((standardized * scale + offset).ravel(), y, rtol=1e-6)
    assert encoder.head_layer() is None
    # With an output activation, a head layer maps the output instead.
    positive = TargetStandardizer(output_activation="relu").fit(y)
    head = positive.head_layer()
    np.testing.assert_allclose(np.asarray(head(positive.transform(y))).ravel(), y, rtol=1e-5)


def test_output_scaling_folds_the_target_scaling_into_the_output_layer():
    import keras

    from skdnn._network.build import build_network
    from skdnn._target import NO_FOLDING
    from skdnn._training.trainer import NetworkState

    Y = np.array([[1.0, 100.0], [3.0, 500.0], [2.0, 0.0]])
    encoder = TargetStandardizer().fit(Y)
    model, train_model = build_network((3,), 2, hidden_layer_sizes=(4,), head=None)
    assert model is train_model
    X = np.random.RandomState(0).normal(size=(5, 3)).astype(np.float32)
    standardized = keras.ops.convert_to_numpy(model(X))
    folding = encoder.folding(model)
    state = NetworkState(model.get_weights(), [], [])
    folding.fold(state).assign_weights_to(model)
    # The model predicts in Y's units; its hidden layer is untouched.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(X)),
        encoder.inverse_transform(standardized),
        rtol=1e-5,
        atol=1e-4,
    )
    np.testing.assert_array_equal(model.get_weights()[0], state.trainable[0])
    unfolded = folding.unfold(NetworkState(model.get_weights(), [], []))
    for got, expected in zip(unfolded.trainable, state.trainable, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    # Weights a callback left folded come back exactly.
    like = (folding.fold(state), state)
    exact = folding.unfold(NetworkState(model.get_weights(), [], []), like=like)
    for got, expected in zip(exact.trainable, state.trainable, strict=True):
        np.testing.assert_array_equal(got, expected)
    # A model with the Rescaling head (an output activation, older files)
    # holds the trainer's weights as they are.
    headed, _ = build_network((3,), 2, head=keras.layers.Rescaling(2.0, name="target_scale"))
    assert encoder.folding(headed) is NO_FOLDING


def test_target_standardizer_output_activation_and_outputs():
    Y = np.array([[1.0, 100.0], [3.0, 300.0]])
    positive = TargetStandardizer(output_activation="relu").fit(Y)
    np.testing.assert_array_equal(positive.offset_, [0.0, 0.0])  # scaled, not centered
    assert positive.inverse_transform(positive.transform(Y)).shape == (2, 2)
    positive.check_compatible(Y)
    with pytest.raises(ValueError, match="2 output"):
        positive.check_compatible(Y[:, 0])
    with pytest.raises(ValueError, match="output_activation='nope' is not a Keras activation"):
        TargetStandardizer(output_activation="nope").fit(Y)
    constant = TargetStandardizer().fit(np.ones(3))
    np.testing.assert_array_equal(constant.scale_, [1.0])  # no division by zero


def test_target_standardizer_loss_names():
    encoder = TargetStandardizer().fit([0.0, 1.0])
    assert encoder.loss("squared_error") == (
        "mean_squared_error",
        False,
        False,
        "mean_squared_error",
    )
    assert encoder.loss("log_cosh")[0] == "log_cosh"
    with pytest.raises(ValueError, match="Did you mean 'huber'"):
        encoder.loss("hubber")
    assert encoder.metrics(None) == []


@pytest.mark.parametrize(
    "encoder, y",
    [
        (ClassLabelEncoder(), np.array(["a", "b", "c"])),
        (ClassLabelEncoder(), np.array([[0, 1], [1, 1]])),
        (TargetStandardizer(output_activation="softplus"), np.array([[1.0, 2.0], [3.0, 5.0]])),
    ],
)
def test_encoder_state_round_trip(encoder, y):
    fitted = encoder.fit(y)
    restored = ENCODERS[type(fitted).__name__](**fitted.get_params()).set_state(fitted.get_state())
    output = np.random.RandomState(0).normal(size=(5, fitted.n_outputs_))
    np.testing.assert_array_equal(
        restored.inverse_transform(output), fitted.inverse_transform(output)
    )
    np.testing.assert_array_equal(restored.transform(y), fitted.transform(y))
