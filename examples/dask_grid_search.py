"""
====================================
Run a GridSearchCV on a Dask cluster
====================================

The estimator code is the one of ``grid_search_pipeline.py``; only the place
where the fits run changes. Inside ``with joblib.parallel_backend("dask")``,
scikit-learn hands every (candidate, fold) fit to the workers of a Dask
``Client``: here a ``LocalCluster`` of worker processes on this machine, or,
unchanged, a cluster that is already running::

    python examples/dask_grid_search.py                               # LocalCluster
    python examples/dask_grid_search.py --scheduler tcp://host:8786   # a real cluster

For a real cluster, start the scheduler and the workers with the same Python
environment (skdnn, TensorFlow, scikit-learn) as this script::

    dask scheduler                                      # on one machine
    dask worker tcp://host:8786 --nworkers 4 --nthreads 1   # on each worker machine

This example is not run when the documentation is built: it starts a cluster
of worker processes.
"""

# %%
# The search
# ----------
#
# The digits, a scaler and a :class:`~skdnn.DNNClassifier` in a pipeline, and
# a grid of 8 candidates, as any scikit-learn search.
import argparse
import contextlib
import os
import time
import warnings

import joblib
import pandas as pd
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from skdnn import DNNClassifier

# Candidates with a small learning rate use up their epochs on purpose: the
# search is there to find out. Keep their warnings out of the report.
warnings.simplefilter("ignore", ConvergenceWarning)

start = time.perf_counter()
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
pipeline = Pipeline(
    [
        ("scale", MinMaxScaler()),
        ("dnn", DNNClassifier(optimizer="sgd", epochs=50, random_state=0)),
    ]
)
grid = {
    "dnn__learning_rate": [0.01, 0.1],
    "dnn__momentum": [0.0, 0.9],
    "dnn__hidden_layer_sizes": [(100,), (100, 100)],
}
search = GridSearchCV(pipeline, grid, cv=3)


# %%
# The cluster
# -----------
#
# A ``Client`` of a running scheduler, or of a new ``LocalCluster``; the
# command line says which.
#
# **TensorFlow's threads on each worker.** Dask's nanny starts every worker
# process with ``OMP_NUM_THREADS=1`` (its ``distributed.nanny.pre-spawn-environ``
# setting); TensorFlow ignores that variable, so skdnn reads it at the first fit
# in the worker and gives TensorFlow one intra-op thread and one inter-op thread.
# The k threads of a worker started with ``--nthreads k`` would share that one
# TensorFlow pool: prefer ``--nthreads 1`` and more workers. To give each fit
# more threads (fewer, bigger workers), set ``SKDNN_NUM_THREADS`` (or
# TensorFlow's own ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS``) in the
# workers' environment: ``LocalCluster(env={"SKDNN_NUM_THREADS": "4"})`` (the
# ``--threads-per-fit`` option below), ``SKDNN_NUM_THREADS=4 dask worker ...`` on
# a real cluster, or the ``distributed.nanny.environ`` setting of the workers'
# Dask configuration. The table printed at the end shows what each worker's
# TensorFlow uses.
def parse_args():
    parser = argparse.ArgumentParser(description="Run a GridSearchCV on a Dask cluster.")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://host:8786 "
        "(default: start a LocalCluster here)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes of the LocalCluster, one thread each (default: 2; with "
        "a single Dask thread in all, joblib runs the search in this process)",
    )
    parser.add_argument(
        "--threads-per-fit",
        type=int,
        metavar="N",
        help="TensorFlow threads per fit on the LocalCluster's workers, through "
        "SKDNN_NUM_THREADS (default: Dask's OMP_NUM_THREADS=1)",
    )
    return parser.parse_args()


def connect(stack, args):
    """Return a Client of the given scheduler, or of a new LocalCluster.

    Both are closed, and the LocalCluster's worker processes stopped, when
    ``stack`` closes.
    """
    if args.scheduler:
        return stack.enter_context(Client(args.scheduler))
    env = {"SKDNN_NUM_THREADS": str(args.threads_per_fit)} if args.threads_per_fit else {}
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=env,
        )
    )
    return stack.enter_context(Client(cluster))


def tensorflow_threads():
    """What a worker's TensorFlow runs with (called on each worker)."""
    import sys

    report = {
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "-"),
        "SKDNN_NUM_THREADS": os.environ.get("SKDNN_NUM_THREADS", "-"),
        "intra-op threads": "no fit here",
        "inter-op threads": "no fit here",
    }
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        # 0 means TensorFlow's default: as many threads as cores.
        report["intra-op threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        report["inter-op threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    return report


# %%
# Fit on the cluster
# ------------------
#
# Every (candidate, fold) fit runs on a worker; the final refit of the best
# candidate runs here. With the integer ``random_state``, the scores are the
# ones a sequential search gives.
#
# **Scattering the data.** ``parallel_backend("dask", scatter=[X, y])`` sends
# the training data to every worker once, before the search; each task then
# refers to it instead of carrying the data along. Pass the very objects that
# were scattered to ``fit``: joblib recognizes them by identity.
#
# **Why the** ``if __name__ == "__main__":`` **guard.** Dask starts its worker
# processes with ``spawn`` (its ``distributed.worker.multiprocessing-method``;
# ``forkserver`` behaves alike): each new process imports this script again, as
# ``__mp_main__``. Without the guard, every worker would start a cluster of its
# own while it is still starting up, and fail with multiprocessing's
# "bootstrapping phase" ``RuntimeError``. In a notebook there is no script to
# re-import and no guard is needed.
if __name__ == "__main__":
    args = parse_args()
    with contextlib.ExitStack() as stack:
        client = connect(stack, args)
        print(f"Dask client: {client}")
        with joblib.parallel_backend("dask", scatter=[X_train, y_train]):
            search.fit(X_train, y_train)
        workers = pd.DataFrame(client.run(tensorflow_threads)).T.rename_axis("worker")

# %%
# The results
# -----------
#
# The same ``cv_results_`` as a search run here, and what TensorFlow ran with
# on each worker.
if __name__ == "__main__":
    table = pd.DataFrame(search.cv_results_).sort_values("rank_test_score")
    columns = [f"param_{name}" for name in grid] + ["mean_test_score", "mean_fit_time"]
    print(f"\n{len(table)} candidates x {search.n_splits_} folds on the cluster; the best:")
    print(table[columns].head(5).to_string(index=False))
    print("\nTensorFlow on the workers:")
    print(workers.to_string())
    print("\nBest:", search.best_params_)
    print(f"Test accuracy: {search.score(X_test, y_test):.4f}")
    print(f"Total time: {time.perf_counter() - start:.1f} s")
