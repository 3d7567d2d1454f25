"""Persistence of fitted estimators: the one home of their saved state.

Three ways out share one explicit schema, the estimator classes'
``_fitted_state`` (declared on ``BaseDNN`` and the task parts), by class
name in :data:`FITTED_STATE`:

The input encoder ``_feature_encoder`` (see ``_features.py``; None for
the Keras estimators) and the target encoder ``_target_encoder`` are saved
as their class, parameters and state, all plain data.

* ``est.save(path)`` writes one zip archive holding ``skdnn.json`` (format
  version, estimator class, hyperparameters and fitted state as plain JSON)
  and ``model.keras`` (the network, optimizer state included, in Keras's own
  format). It is written to a temporary file beside ``path`` and renamed, so
  a failed save leaves any old file intact. :func:`load` reads it back
  without unpickling anything: Keras objects among the hyperparameters go
  through Keras's serialization, and the network is loaded in Keras's safe
  mode. Any file it cannot read gives one clear ``ValueError`` naming it.
* ``pickle``, ``joblib`` and ``copy.deepcopy`` go through
  :func:`pickle_state` and :func:`unpickle_state` (Keras objects are not
  picklable: the network travels as ``.keras`` bytes).
"""

import io
import json
import os
import stat
import tempfile
import warnings
import zipfile

import numpy as np

from ._features import FeatureEncoder
from ._network.embedding import periodic_embedding_class
from ._target import ENCODERS
from ._training.backends import apply_thread_budget, get_backend
from ._version import __version__

FORMAT_VERSION = 3
_CONFIG_NAME = "skdnn.json"
_MODEL_NAME = "model.keras"
_PICKLED_KEY = "_skdnn_fitted"

# The fitted state of each estimator class by its name, besides ``model_``
# (saved as a Keras file), ``_target_encoder`` and ``_feature_encoder``
# (saved as their own state) and
# ``callbacks_`` (never saved: Keras callbacks cannot be serialized): the
# class's ``_fitted_state``, entered by register_estimator. Files and pickles
# name the class, so its name is kept.
FITTED_STATE = {}
# Saved when present: scikit-learn sets it only for X with string column names.
OPTIONAL_STATE = ("feature_names_in_",)

# The estimator classes load() can create, by name (see register_estimator).
_ESTIMATORS = {}


def register_estimator(cls):
    """Make ``cls`` loadable by its name, with its declared ``_fitted_state``."""
    FITTED_STATE[cls.__name__] = tuple(cls._fitted_state)
    _ESTIMATORS[cls.__name__] = cls
    return cls


def is_fitted(estimator):
    """Whether ``estimator`` holds a fitted network."""
    return "model_" in vars(estimator)


# ----------------------------------------------------------------------------
# Keras models as bytes
# ----------------------------------------------------------------------------
def model_to_bytes(model):
    """Return a Keras model, optimizer state included, as ``.keras`` bytes,
    loadable on every backend (see :func:`backend_neutral_config`)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, _MODEL_NAME)
        model.save(path)
        with open(path, "rb") as file:
            saved = file.read()
    with zipfile.ZipFile(io.BytesIO(saved)) as archive:
        config = archive.read("config.json")
        neutral = backend_neutral_config(config)
        if neutral is config:
            return saved
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info, data in entries:
            archive.writestr(info, neutral if info.filename == "config.json" else data)
    return buffer.getvalue()


def backend_neutral_config(data):
    """A ``.keras`` file's ``config.json`` (bytes), loadable on every backend:
    ``data`` itself when the active backend needs no change (see
    ``Backend.neutral_keras_config``)."""
    config = json.loads(data)
    if get_backend().neutral_keras_config(config):
        return json.dumps(config).encode()
    return data


def model_from_bytes(data):
    """Load a Keras model from ``.keras`` bytes in Keras's safe mode."""
    apply_thread_budget()
    import keras

    periodic_embedding_class()  # registers skdnn's own layer for safe mode
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, _MODEL_NAME)
        with open(path, "wb") as file:
            file.write(data)
        return keras.saving.load_model(path, safe_mode=True)


# ----------------------------------------------------------------------------
# The fitted state as plain data
# ----------------------------------------------------------------------------
def fitted_state(estimator):
    """Return the fitted state of ``estimator`` (but its network) as plain data."""
    attributes = vars(estimator)
    state = {name: attributes[name] for name in type(estimator)._fitted_state}
    state.update({name: attributes[name] for name in OPTIONAL_STATE if name in attributes})
    encoder = attributes["_target_encoder"]
    state["_target_encoder"] = {
        "class": type(encoder).__name__,
        "params": encoder.get_params(),
        "state": encoder.get_state(),
    }
    features = attributes.get("_feature_encoder")
    state["_feature_encoder"] = (
        None
        if features is None
        else {
            "class": type(features).__name__,
            "params": features.get_params(),
            "state": features.get_state(),
        }
    )
    return state


def restore_fitted_state(estimator, state, model):
    """Set the fitted state of ``estimator`` from :func:`fitted_state` and ``model``."""
    required = type(estimator)._fitted_state
    missing = [name for name in (*required, "_target_encoder") if name not in state]
    if missing:
        raise ValueError(f"the fitted state lacks {missing}")
    saved = state["_target_encoder"]
    if saved.get("class") not in ENCODERS:
        raise ValueError(f"unknown target encoder {saved.get('class')!r}")
    encoder = ENCODERS[saved["class"]](**saved["params"]).set_state(saved["state"])
    features = state.get("_feature_encoder")  # absent before format 3: numbers only
    if features is not None:
        if features.get("class") != FeatureEncoder.__name__:
            raise ValueError(f"unknown input encoder {features.get('class')!r}")
        features = FeatureEncoder(**features["params"]).set_state(features["state"])
    for name in (*required, *OPTIONAL_STATE):
        if name in state:
            setattr(estimator, name, state[name])
    estimator._target_encoder = encoder
    estimator._feature_encoder = features
    estimator.model_ = model
    estimator.callbacks_ = []
    return estimator


def pickle_state(estimator, state):
    """Replace the fitted attributes in ``state`` (a copy of ``vars``) by one
    picklable entry: the schema's state, and the network as ``.keras`` bytes."""
    if not isinstance(state.get("distribution"), (str, type(None))):
        # A tf.distribute strategy holds devices and threads: it is not
        # pickled, and the copy trains on the default device.
        state["distribution"] = None
    if is_fitted(estimator):
        fitted = fitted_state(estimator)
        for name in (*fitted, "model_", "callbacks_"):
            state.pop(name, None)
        state[_PICKLED_KEY] = {
            "format_version": FORMAT_VERSION,
            "state": fitted,
            "model": model_to_bytes(estimator.model_),
        }
    return state


def unpickle_state(estimator, state):
    """Split what :func:`pickle_state` made into the plain attributes, and a
    function that restores the fitted ones into ``estimator``."""
    state = dict(state)
    pickled = state.pop(_PICKLED_KEY, None)

    def restore():
        if pickled is not None:
            model = model_from_bytes(pickled["model"])
            restore_fitted_state(estimator, pickled["state"], model)

    return state, restore


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
        return {
            "__ndarray__": [to_json_value(v) for v in value.tolist()],
            "dtype": value.dtype.str if value.dtype != object else "object",
        }
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "get_config") or _is_registered_function(value):
        import keras

        return {"__keras__": keras.saving.serialize_keras_object(value)}
    raise TypeError(f"{type(value).__name__} objects cannot be saved: {value!r}")


def _is_registered_function(value):
    """Whether ``value`` is a function registered with Keras's
    ``register_keras_serializable``: safe mode can load it back by name."""
    if not callable(value) or isinstance(value, type) or not hasattr(value, "__qualname__"):
        return False
    import keras

    name = keras.saving.get_registered_name(value)
    return keras.saving.get_registered_object(name) is value


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
    raise ValueError(f"unknown entry {sorted(value)}")


def _upgrade_format_1(params, fitted):
    """Turn the decoded fitted state of a format-1 file (skdnn 0.1.0) into
    format 2's: the target encoder's state became explicit."""
    fitted = dict(fitted)
    encoder = fitted["_target_encoder"]
    if encoder["class"] == "TargetStandardizer":
        output_activation = params.get("output_activation")
        state = {name: encoder["fitted"][f"{name}_"] for name in ("offset", "scale", "n_outputs")}
        state["y_ndim"] = fitted.pop("_y_ndim")
        params = {"output_activation": output_activation}
    else:
        state = {
            name: encoder["fitted"][f"{name}_"] for name in ("target_type", "classes", "n_outputs")
        }
        params = {}
    fitted["_target_encoder"] = {"class": encoder["class"], "params": params, "state": state}
    return fitted


def _upgrade_format_2(fitted):
    """Turn the decoded fitted state of a format-2 file into format 3's: an
    estimator fitted before the input encoder took numeric input as it is."""
    return {**fitted, "_feature_encoder": None}


# ----------------------------------------------------------------------------
# save / load
# ----------------------------------------------------------------------------
def _archive_bytes(estimator):
    params = estimator.get_params(deep=False)
    if params.get("callbacks"):
        warnings.warn(
            "callbacks are not saved (Keras callbacks cannot be serialized); set them "
            "again with set_params(callbacks=...) after loading.",
            UserWarning,
            stacklevel=4,
        )
        params["callbacks"] = None
    if not isinstance(params.get("distribution"), (str, type(None))):
        params["distribution"] = None
    model = params.get("model")
    if model is not None and not hasattr(model, "get_config"):
        if not _is_registered_function(model):
            # Loading runs no code but Keras's and registered objects'.
            warnings.warn(
                f"model={getattr(model, '__qualname__', model)!r} is not saved: a function "
                f"is saved only when registered with "
                f"@keras.saving.register_keras_serializable(). The loaded estimator "
                f"predicts and continues training (warm_start, partial_fit) without it; "
                f"set it again with set_params(model=...) before a new fit.",
                UserWarning,
                stacklevel=4,
            )
            params["model"] = None
    config = {
        "format_version": FORMAT_VERSION,
        "skdnn_version": __version__,
        "class": type(estimator).__name__,
        "params": to_json_value(params),
        "fitted": to_json_value(fitted_state(estimator)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_CONFIG_NAME, json.dumps(config, indent=1))
        archive.writestr(_MODEL_NAME, model_to_bytes(estimator.model_))
    return buffer.getvalue()


def _new_file_mode():
    """The mode ``open()`` would give a new file (0o666 less the umask),
    read without changing the process's umask."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def save(estimator, path):
    """Write a fitted estimator to ``path`` atomically (see ``BaseDNN.save``)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    # Else the error would name the temporary file, which the user never chose.
    if not os.path.isdir(folder):
        problem = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise FileNotFoundError(
            f"Cannot save to {path}: the folder {folder} {problem}. Create the folder first "
            f"(os.makedirs({folder!r}, exist_ok=True)), or save into an existing one."
        )
    data = _archive_bytes(estimator)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        mode = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else _new_file_mode()
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class _Unreadable(Exception):
    """Why a file cannot be loaded, turned into one ValueError by load()."""


# The first bytes of a zip archive, as every file save() writes starts.
_ZIP_MAGIC = b"PK\x03\x04"


def _not_an_archive(data):
    """Why ``data``, which zipfile cannot open, is not a saved estimator.

    A zip archive's directory is at its end: a file that starts as one but
    cannot be opened was cut short (an incomplete copy or download; save()
    itself never leaves a partial file) or damaged at its end.
    """
    if not data:
        return "it is empty (0 bytes); copy the whole file again, or save the estimator again"
    if data.startswith(_ZIP_MAGIC):
        return (
            f"it is truncated or damaged: it starts as a file written by skdnn's save() "
            f"(a zip archive), but its end, which holds the archive's directory, is missing "
            f"or unreadable ({len(data)} bytes). Copy the whole file again, or save the "
            f"estimator again"
        )
    return "it is not a file written by skdnn's save() (not a zip archive)"


def _read(path):
    """Return ``(config, model bytes)`` from a saved file, or raise _Unreadable."""
    with open(path, "rb") as file:  # a missing file raises FileNotFoundError
        data = file.read()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:
        raise _Unreadable(_not_an_archive(data)) from None
    with archive:
        names = set(archive.namelist())
        if not {_CONFIG_NAME, _MODEL_NAME} <= names:
            raise _Unreadable(
                f"it is not a file written by skdnn's save() (a zip archive without "
                f"{_CONFIG_NAME} and {_MODEL_NAME})"
            )
        try:
            config_text = archive.read(_CONFIG_NAME)
            model_bytes = archive.read(_MODEL_NAME)
        except Exception as error:
            raise _Unreadable(f"it is truncated or corrupted ({error})") from None
    try:
        config = json.loads(config_text)
    except ValueError:
        raise _Unreadable(f"its {_CONFIG_NAME} is not valid JSON") from None
    if not isinstance(config, dict) or not {"format_version", "class", "params", "fitted"} <= set(
        config
    ):
        raise _Unreadable(f"its {_CONFIG_NAME} does not describe a saved estimator")
    return config, model_bytes


def load(path):
    """Load an estimator written by the ``save`` method of an skdnn estimator.

    Nothing is unpickled: the hyperparameters and fitted state are read from
    JSON, Keras objects among them through Keras's serialization, and the
    network with ``keras.saving.load_model(..., safe_mode=True)``. Files
    written by skdnn 0.1.0 load too.

    Parameters
    ----------
    path : str or path-like
        A file written by ``save``.

    Returns
    -------
    estimator : DNNClassifier, DNNRegressor, KerasClassifier or KerasRegressor
        The fitted estimator; it predicts exactly what the saved one did.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    ValueError
        When the file is not one skdnn wrote, is truncated or corrupted, or
        was written by a newer skdnn; the message names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from skdnn import DNNClassifier, load
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = DNNClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.skdnn")
    >>> clf.save(path)
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    path = os.fspath(path)
    try:
        config, model_bytes = _read(path)
        version = config["format_version"]
        if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
            raise ValueError(
                f"{path} was made by another version of skdnn "
                f"({config.get('skdnn_version', '?')}, file format {version}); this skdnn "
                f"{__version__} reads file formats 1 to {FORMAT_VERSION}. Upgrade skdnn to "
                f"load it."
            )
        if config["class"] not in _ESTIMATORS:
            raise _Unreadable(f"it holds an unknown estimator class {config['class']!r}")
        try:
            params = from_json_value(config["params"])
            fitted = from_json_value(config["fitted"])
            if version == 1:
                fitted = _upgrade_format_1(params, fitted)
            if version <= 2:
                fitted = _upgrade_format_2(fitted)
            estimator = _ESTIMATORS[config["class"]](**params)
        except Exception as error:
            raise _Unreadable(f"its {_CONFIG_NAME} is corrupted ({error})") from None
        try:
            model = model_from_bytes(model_bytes)
        except Exception as error:
            raise _Unreadable(
                f"Keras cannot read its network, {_MODEL_NAME} ({type(error).__name__})"
            ) from None
        try:
            return restore_fitted_state(estimator, fitted, model)
        except Exception as error:
            raise _Unreadable(f"its fitted state is corrupted ({error})") from None
    except _Unreadable as reason:
        raise ValueError(f"Cannot load {path}: {reason}.") from None
