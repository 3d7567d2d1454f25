"""TrainerSpec: one object builds the compiled trainer and names it in the pool."""

import dataclasses

import keras
import numpy as np
import pytest

from skdnn._keras_names import make_metrics, make_optimizer
from skdnn._network.build import NetworkRecipe, build_network
from skdnn._training.trainer import TrainerSpec, describe


def _spec(**changes):
    import keras

    _, network = build_network(
        (4,), 3, hidden_layer_sizes=(5,), dropout=0.1, seed=changes.pop("seed", 0)
    )
    fields = dict(
        network=network,
        optimizer=make_optimizer("sgd", 0.01, 0.9, False),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=tuple(make_metrics(("accuracy",), None, "multiclass")),
        output_transform="softmax",
        loss_on_predictions=False,
        one_hot_loss=False,
        one_hot_depth=3,
        target_signature=("int32", ()),
        scaling_shape=(),
    )
    fields.update(changes)
    return TrainerSpec(**fields)


def test_key_ignores_what_is_loaded_for_each_fit():
    # Initial weights, dropout seeds, a float learning rate and SGD's momentum
    # are loaded into the trainer, not traced: they do not change the key.
    base = _spec().key()
    assert base is not None
    assert _spec(seed=7).key() == base
    assert _spec(optimizer=make_optimizer("sgd", 0.5, 0.9, False)).key() == base
    assert _spec(optimizer=make_optimizer("sgd", 0.01, 0.0, True)).key() == base


def _recipe(**changes):
    architecture = dict(input_shape=(4,), hidden_layer_sizes=(5, 3), dropout=(0.1, 0.2))
    return NetworkRecipe(n_outputs=3, **{**architecture, **changes})


def test_recipe_key_ignores_dropout_rates_but_not_dropout_layers():
    base = _spec(network=_recipe()).key()
    assert _spec(network=_recipe(dropout=(0.5, 0.3))).key() == base
    assert _spec(network=_recipe(dropout=(0.0, 0.3))).key() != base
    assert _spec(network=_recipe(hidden_layer_sizes=(5, 4))).key() != base
    assert _recipe().dropout_rates() == (0.1, 0.2)


@pytest.mark.parametrize(
    "change",
    [
        lambda: {"optimizer": make_optimizer("rmsprop", 0.01, 0.5, False)},
        lambda: {"optimizer": make_optimizer("adam", 0.01, 0.9, False)},
        lambda: {"loss": "mse"},
        lambda: {"metrics": tuple(make_metrics(("accuracy",), ["AUC"], "multiclass"))},
        lambda: {"output_transform": "sigmoid"},
        lambda: {"loss_on_predictions": True},
        lambda: {"one_hot_loss": True},
        lambda: {"one_hot_depth": None},
        lambda: {"target_signature": ("float32", (1,))},
        lambda: {"scaling_shape": (3,)},
    ],
)
def test_key_changes_with_what_is_traced(change):
    assert _spec(**change()).key() != _spec().key()


def test_every_field_takes_part_in_the_key():
    """A field added to TrainerSpec enters the key without further code."""
    spec = _spec()
    parts = spec.key_parts()
    assert set(parts) == {field.name for field in dataclasses.fields(TrainerSpec)}
    assert parts["metrics"] == describe(spec.metrics) and None not in parts.values()
    assert spec.key() == repr(sorted(parts.items()))


def test_unidentifiable_loss_gives_no_key():
    assert _spec(loss=lambda y, p: (y - p) ** 2).key() is None


def test_built_trainer_trains_what_the_spec_describes():
    spec = _spec()
    trainer = spec.build()
    assert trainer.model is not spec.network
    assert [v.shape for v in trainer.model.trainable_variables] == [
        v.shape for v in spec.network.trainable_variables
    ]
    # Keras's SGD (a torch subclass of it on PyTorch) or the trainer's copy of it.
    assert isinstance(trainer.optimizer, keras.optimizers.SGD)
    assert isinstance(spec.optimizer, keras.optimizers.SGD)
    X = np.random.RandomState(0).normal(size=(8, 4)).astype(np.float32)
    y = np.arange(8, dtype=np.int32) % 3
    before = trainer.state()
    data = trainer.data(X, y, np.ones(8, np.float32))
    losses, metrics = trainer.train_epoch(data, np.arange(8), 4, 0.0, np.float32(1), np.float32(0))
    assert np.isfinite(losses["loss"]) and set(metrics) == {"accuracy"}
    after = trainer.state()
    assert not np.array_equal(before.trainable[0], after.trainable[0])
    assert after.optimizer[0] == 2  # two batches: two steps


def test_trainer_state_is_current_between_epochs():
    # JAX keeps the state of the last epochs outside the Keras variables
    # until the trainer reads or assigns them; every way in and out must see
    # the newest state, and a load must replace it.
    trainer = _spec().build()
    X = np.random.RandomState(0).normal(size=(8, 4)).astype(np.float32)
    y = np.arange(8, dtype=np.int32) % 3
    data = trainer.data(X, y, np.ones(8, np.float32))
    epoch = (data, np.arange(8), 4, 0.0, np.float32(1), np.float32(0))
    start = trainer.state()

    first_loss, first_metrics = trainer.train_epoch(*epoch)
    after_one = trainer.state()
    np.testing.assert_array_equal(trainer.get_weights()[0], after_one.trainable[0])
    np.testing.assert_array_equal(trainer.model.trainable_variables[0], after_one.trainable[0])
    trainer.train_epoch(*epoch)
    assert not np.array_equal(trainer.state().trainable[0], after_one.trainable[0])

    # Loading the start again after training replays the same epoch.
    trainer.load(start)
    loss, metrics = trainer.train_epoch(*epoch)
    assert (loss, metrics) == (first_loss, first_metrics)
    np.testing.assert_array_equal(trainer.state().trainable[0], after_one.trainable[0])

    # Weights and a learning rate assigned between epochs stay assigned.
    trainer.train_epoch(*epoch)
    trainer.set_weights([np.zeros_like(w) for w in trainer.get_weights()])
    assert all(not np.any(w) for w in trainer.state().trainable)
    trainer.learning_rate.assign(0.125)
    trainer.train_epoch(*epoch)
    assert float(trainer.learning_rate) == 0.125
    assert any(np.any(w) for w in trainer.state().trainable)  # trained from zeros
