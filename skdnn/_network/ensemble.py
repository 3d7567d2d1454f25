"""Ensembles of networks as one Keras model.

An estimator fitted with ``n_ensemble=k`` trains ``k`` networks of one
architecture from different seeds (``BaseDNN._fit``). Its ``model_`` is one
Keras model: the members, each a whole network as a single fit builds it
(head included), side by side on one input, and the average of their
outputs. So ``model_.predict`` gives what the estimator predicts: the mean
of the members' probabilities, or of their predictions in the targets'
units. The estimator itself predicts member by member (with NumPy, see
``inference.py``) and averages through its target encoder.
"""

# The ensemble model's name, and its members' names: member_0, member_1...
ENSEMBLE_NAME = "ensemble"
MEMBER_PREFIX = "member_"


def build_ensemble(members, input_shape, sparse_input=False):
    """Return one Keras model whose output is the mean of ``members``' outputs.

    Parameters
    ----------
    members : list of keras.Model
        At least two fitted networks taking samples of ``input_shape``;
        they are renamed ``member_0``, ``member_1``... and shared, not copied.
    input_shape : tuple of int
        Shape of one sample.
    sparse_input : bool, default=False
        Whether the model takes sparse input.

    Returns
    -------
    model : keras.Model
    """
    import keras

    inputs = keras.Input(shape=tuple(input_shape), sparse=sparse_input, name="input")
    outputs = []
    for number, member in enumerate(members):
        member.name = f"{MEMBER_PREFIX}{number}"
        outputs.append(member(inputs))
    average = keras.layers.Average(name="average")(outputs)
    return keras.Model(inputs, average, name=ENSEMBLE_NAME)


def ensemble_members(model):
    """The members of an ensemble made by :func:`build_ensemble`, in order,
    or None when ``model`` is a single network."""
    if model.name != ENSEMBLE_NAME:
        return None
    members = [layer for layer in model.layers if layer.name.startswith(MEMBER_PREFIX)]
    return sorted(members, key=lambda layer: int(layer.name[len(MEMBER_PREFIX) :])) or None
