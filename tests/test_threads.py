"""The backend's thread budget in parallel workers (no oversubscription)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import keras_backend, tensorflow_only
from joblib import Parallel, delayed

torch_only = pytest.mark.skipif(keras_backend() != "torch", reason="PyTorch's thread pool")


def _fit_and_report(seed):
    import warnings

    import tensorflow as tf

    from skdnn import DNNClassifier

    warnings.simplefilter("ignore")
    X = np.random.RandomState(seed).rand(100, 4)
    DNNClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=seed).fit(X, X[:, 0] > 0.5)
    return (
        os.environ.get("OMP_NUM_THREADS"),
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )


@tensorflow_only
def test_loky_workers_get_a_fair_share_of_threads():
    n_jobs = 2
    reports = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_fit_and_report)(seed) for seed in range(4)
    )
    share = max(1, os.cpu_count() // n_jobs)
    for omp, intra, inter in reports:
        assert omp == str(share)  # joblib's budget for the worker...
        assert intra == share and inter == 1  # ...is TensorFlow's too
    # Busy threads of TensorFlow's compute pools over all workers: no more than the cores.
    assert n_jobs * share <= os.cpu_count()


SCRIPT = """
import numpy as np, tensorflow as tf
from skdnn import DNNRegressor
X = np.random.RandomState(0).rand(50, 3)
DNNRegressor(hidden_layer_sizes=(4,), epochs=1).fit(X, X[:, 0])
print(tf.config.threading.get_intra_op_parallelism_threads(),
      tf.config.threading.get_inter_op_parallelism_threads())
"""


def _run(env_update, script=SCRIPT):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "OMP_NUM_THREADS",
            "SKDNN_NUM_THREADS",
            "TF_NUM_INTRAOP_THREADS",
            "TF_NUM_INTEROP_THREADS",
        )
    }
    env.update(env_update, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    return tuple(int(v) for v in out.splitlines()[-1].split())


@tensorflow_only
def test_thread_budget_precedence():
    assert _run({}) == (0, 0)  # no budget: TensorFlow's defaults
    assert _run({"OMP_NUM_THREADS": "1"}) == (1, 1)
    assert _run({"OMP_NUM_THREADS": "1", "SKDNN_NUM_THREADS": "2"}) == (2, 1)
    # TensorFlow's own settings win; skdnn changes nothing.
    assert _run({"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "2"}) == (0, 0)


TORCH_SCRIPT = """
import numpy as np, torch
from skdnn import DNNRegressor
X = np.random.RandomState(0).rand(50, 3)
DNNRegressor(hidden_layer_sizes=(4,), epochs=1).fit(X, X[:, 0])
print(torch.get_num_threads())
"""


@torch_only
def test_torch_threads_follow_the_budget():
    (default,) = _run({}, "import torch; print(torch.get_num_threads())")
    assert _run({}, TORCH_SCRIPT) == (default,)  # no budget: PyTorch's default
    budget = default + 1  # not PyTorch's default, on any machine
    # SKDNN_NUM_THREADS, which PyTorch does not read, wins over OMP_NUM_THREADS;
    # TensorFlow's variables are TensorFlow's alone.
    env = {"OMP_NUM_THREADS": "1", "SKDNN_NUM_THREADS": str(budget), "TF_NUM_INTRAOP_THREADS": "1"}
    assert _run(env, TORCH_SCRIPT) == (budget,)
