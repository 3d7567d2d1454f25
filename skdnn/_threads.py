"""The backend's thread budget in parallel workers.

joblib's loky workers and Dask's worker processes announce their share of the
CPU through ``OMP_NUM_THREADS`` (joblib sets it to ``cpu_count // n_jobs``,
Dask's nanny to 1). NumPy and scikit-learn honour it; TensorFlow does not, and
would start a pool of all cores in every worker: with ``n_jobs=k``, k times
too many busy threads. So before skdnn first trains in a process, it reads
the budget:

* ``SKDNN_NUM_THREADS``, then ``OMP_NUM_THREADS``, when set, give the
  number of threads one fit's computations may use;
* otherwise there is no budget, and every backend keeps its defaults.

and hands it to the backend's engine (``size_thread_pools``), which applies
it as far as the backend allows and its own settings leave room:

* TensorFlow: ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS``, when
  set, win; otherwise the intra-op pool gets the budget (and one inter-op
  thread: an epoch is one sequential loop). TensorFlow fixes its pools when
  it starts; if something else has already started it in this process, its
  pools are left as they are.
* PyTorch: its intra-op threads (``torch.set_num_threads``) get the budget.
* JAX: nothing; XLA sizes its CPU pool when JAX starts (``XLA_FLAGS``).

This happens once per process, at the first fit (or load).
"""

import os
import threading

_lock = threading.Lock()
_applied = False


def thread_budget():
    """Return the number of threads one fit may use here, or None."""
    for name in ("SKDNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def apply_thread_budget():
    """Size the backend's thread pools from the budget, once per process."""
    global _applied
    if _applied:
        return
    with _lock:
        if _applied:
            return
        _applied = True
        budget = thread_budget()
        if budget is None:
            return
        import keras

        from ._trainer import ENGINES

        engine = ENGINES.get(keras.config.backend())
        if engine is not None:
            engine.size_thread_pools(budget)
