"""Saving fitted estimators to one safe file, and the pickling helpers.

``est.save(path)`` writes a zip archive holding ``skdnn.json`` (format
version, estimator class, hyperparameters and fitted scikit-learn state as
plain JSON) and ``model.keras`` (the network in Keras's own format).
:func:`load` reads it back without unpickling anything: Keras objects among
the hyperparameters go through Keras's serialization, and the network is
loaded in Keras's safe mode.
"""

import io
import json
import os
import tempfile
import warnings
import zipfile

import numpy as np

FORMAT_VERSION = 1
_CONFIG_NAME = "skdnn.json"
_MODEL_NAME = "model.keras"


# ----------------------------------------------------------------------------
# Keras models as bytes (pickle, deepcopy, save)
# ----------------------------------------------------------------------------
def model_to_bytes(model):
    """Return a Keras model, optimizer state included, as ``.keras`` bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, _MODEL_NAME)
        model.save(path)
        with open(path, "rb") as file:
            return file.read()


def model_from_bytes(data):
    """Load a Keras model from ``.keras`` bytes in Keras's safe mode."""
    from ._threads import apply_thread_budget

    apply_thread_budget()
    import keras

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, _MODEL_NAME)
        with open(path, "wb") as file:
            file.write(data)
        return keras.saving.load_model(path, safe_mode=True)


# ----------------------------------------------------------------------------
# Plain data <-> JSON
# ----------------------------------------------------------------------------
def to_json_value(value):
    """Encode tuples, NumPy arrays and scalars and Keras objects as JSON."""
    if isinstance(value, tuple):
        return {"__tuple__": [to_json_value(v) for v in value]}
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[to_json_value(k), to_json_value(v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": [to_json_value(v) for v in value.tolist()],
                "dtype": value.dtype.str if value.dtype != object else "object"}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "get_config"):
        import keras

        return {"__keras__": keras.saving.serialize_keras_object(value)}
    raise TypeError(f"{type(value).__name__} objects cannot be saved: {value!r}")


def from_json_value(value):
    """Decode what :func:`to_json_value` wrote."""
    if isinstance(value, list):
        return [from_json_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(from_json_value(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {from_json_value(k): from_json_value(v) for k, v in value["__dict__"]}
    if "__ndarray__" in value:
        return np.array(from_json_value(value["__ndarray__"]), dtype=value["dtype"])
    if "__keras__" in value:
        import keras

        return keras.saving.deserialize_keras_object(value["__keras__"], safe_mode=True)
    raise ValueError(f"Unknown entry in a saved skdnn file: {sorted(value)}")


# ----------------------------------------------------------------------------
# save / load
# ----------------------------------------------------------------------------
def save(estimator, path):
    """Write a fitted estimator to ``path`` (see :meth:`BaseDNN.save`)."""
    from . import __version__

    params = estimator.get_params(deep=False)
    if params.get("callbacks"):
        warnings.warn(
            "callbacks are not saved (Keras callbacks cannot be serialized); set them "
            "again with set_params(callbacks=...) after loading.",
            UserWarning,
        )
        params["callbacks"] = None
    config = {
        "format_version": FORMAT_VERSION,
        "skdnn_version": __version__,
        "class": type(estimator).__name__,
        "params": to_json_value(params),
        "fitted": to_json_value(estimator._fitted_state()),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_CONFIG_NAME, json.dumps(config, indent=1))
        archive.writestr(_MODEL_NAME, model_to_bytes(estimator.model_))
    with open(path, "wb") as file:
        file.write(buffer.getvalue())


def load(path):
    """Load an estimator written by ``DNNClassifier.save`` or ``DNNRegressor.save``.

    Nothing is unpickled: the hyperparameters and fitted state are read from
    JSON, Keras objects among them through Keras's serialization, and the
    network with ``keras.saving.load_model(..., safe_mode=True)``.

    Parameters
    ----------
    path : str or path-like
        A file written by ``save``.

    Returns
    -------
    estimator : DNNClassifier or DNNRegressor
        The fitted estimator; it predicts exactly what the saved one did.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from skdnn import DNNClassifier, load
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = DNNClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.skdnn")
    >>> clf.save(path)
    >>> (load(path).predict_proba(X) == clf.predict_proba(X)).all()
    np.True_
    """
    from ._classifier import DNNClassifier
    from ._regressor import DNNRegressor

    classes = {cls.__name__: cls for cls in (DNNClassifier, DNNRegressor)}
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not a file written by skdnn's save().") from None
    with archive:
        names = set(archive.namelist())
        if not {_CONFIG_NAME, _MODEL_NAME} <= names:
            raise ValueError(f"{path} is not a file written by skdnn's save().")
        config = json.loads(archive.read(_CONFIG_NAME))
        version = config.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"{path} was written by skdnn {config.get('skdnn_version', '?')} in file format "
                f"{version}, which this skdnn (format {FORMAT_VERSION}) cannot read. "
                f"Upgrade skdnn to load it."
            )
        if config.get("class") not in classes:
            raise ValueError(f"{path} holds an unknown estimator class {config.get('class')!r}.")
        model_bytes = archive.read(_MODEL_NAME)
    estimator = classes[config["class"]](**from_json_value(config["params"]))
    estimator._restore_fitted_state(from_json_value(config["fitted"]), model_from_bytes(model_bytes))
    return estimator
