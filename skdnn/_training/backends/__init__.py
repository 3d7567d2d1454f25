"""The registry of Keras backends skdnn trains on: :func:`get_backend`.

skdnn trains on the backend the user configured (``KERAS_BACKEND`` or
``~/.keras/keras.json``) and never chooses or changes it. Only the active
backend's home is imported, and only when first asked for.
"""

import importlib
import threading

from .base import Backend, thread_budget

# Backend name -> the module (of this package) that is its home.
BACKENDS = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}

_lock = threading.Lock()
_threads_sized = False
_loaded = {}


def get_backend(training=True):
    """Return the active Keras backend's :class:`~.base.Backend`.

    Parameters
    ----------
    training : bool, default=True
        Whether skdnn is to train on it: then a backend without a home here
        raises a clear error. Otherwise (predicting with, or saving, a
        fitted network) it gets the :class:`~.base.Backend` defaults, Keras's
        own calls.
    """
    import keras

    name = keras.config.backend()
    backend = _loaded.get(name)
    if backend is not None:
        return backend
    if name not in BACKENDS:
        if not training:
            return Backend()
        names = sorted(BACKENDS)
        settings = [f"KERAS_BACKEND={option}" for option in names]
        raise RuntimeError(
            f"skdnn trains with Keras's {', '.join(names[:-1])} or {names[-1]} backend, but "
            f"the active backend is {name!r}. Set the environment variable "
            f"{', '.join(settings[:-1])} or {settings[-1]} before Python imports keras (or "
            f'"backend" in ~/.keras/keras.json); JAX comes with pip install "skdnn[jax]", '
            f'PyTorch with pip install "skdnn[torch]".'
        )
    backend = _loaded[name] = importlib.import_module(f".{BACKENDS[name]}", __name__).BACKEND
    return backend


def apply_thread_budget():
    """Size the active backend's thread pools from :func:`~.base.thread_budget`,
    once per process, at the first fit (or load).

    Nothing on a backend skdnn does not train on: the fit reports that.
    """
    global _threads_sized
    if _threads_sized:
        return
    with _lock:
        if _threads_sized:
            return
        _threads_sized = True
        budget = thread_budget()
        if budget is None:
            return
        import keras

        if keras.config.backend() in BACKENDS:
            get_backend().size_thread_pools(budget)
