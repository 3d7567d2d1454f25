"""TensorFlow's thread budget in parallel workers.

joblib's loky workers and Dask's worker processes announce their share of the
CPU through ``OMP_NUM_THREADS`` (joblib sets it to ``cpu_count // n_jobs``,
Dask's nanny to 1). NumPy and scikit-learn honour it; TensorFlow does not, and
would start a pool of all cores in every worker: with ``n_jobs=k``, k times
too many busy threads. So before skdnn first runs TensorFlow in a process, it
sizes TensorFlow's thread pools from that budget:

* ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS``, when set, are
  TensorFlow's own settings and win: skdnn changes nothing;
* otherwise ``SKDNN_NUM_THREADS``, then ``OMP_NUM_THREADS``, when set, give
  the intra-op pool's size (and one inter-op thread: an epoch is one
  sequential loop);
* otherwise TensorFlow keeps its defaults.

TensorFlow fixes its pools when it starts; if something else has already
started it in this process, its pools are left as they are.
"""

import os
import threading

_lock = threading.Lock()
_applied = False


def thread_budget():
    """Return the number of threads TensorFlow should use here, or None."""
    if "TF_NUM_INTRAOP_THREADS" in os.environ or "TF_NUM_INTEROP_THREADS" in os.environ:
        return None
    for name in ("SKDNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def apply_thread_budget():
    """Size TensorFlow's thread pools from the budget, once per process."""
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

        if keras.config.backend() != "tensorflow":
            return  # XLA sizes its CPU pool when JAX starts (see XLA_FLAGS).
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(budget)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TensorFlow already runs with its pools: leave them.
