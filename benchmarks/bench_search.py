"""Hyperparameter searches: skdnn's population search vs scikit-learn's.

Workloads, each timed in one warm process, the contenders alternating
round by round (median of the warm rounds; the first, cold call apart):

* the README's grid: ``MinMaxScaler`` + ``DNNClassifier(optimizer="sgd")``
  on digits, learning rate {0.01, 0.1} x momentum {0, 0.9} x hidden layers
  (100,)/(100, 100), cv=3, 50 epochs: 24 fits and a refit. Contenders:
  scikit-learn's ``GridSearchCV`` over the same grid with ``MLPClassifier``
  (the baseline, ``solver="sgd"``, ``max_iter=50``), scikit-learn's
  ``GridSearchCV`` over the skdnn pipeline (every fit on its own), and
  ``skdnn.model_selection.GridSearchCV`` (the fits trained as populations);
* populations of P members (P = 12 and 48: learning rates x cv=3 on one
  architecture, 20 epochs, no stopping rule, no refit), the same two
  searches over ``DNNClassifier``: the time per member-epoch.

The backend is ``KERAS_BACKEND``'s, or TensorFlow (Keras's default) when it
is not set; ``--backend`` chooses it. Populations train on all three (on
PyTorch, not networks with dropout).

Run: ``python benchmarks/bench_search.py [--quick] [--backend jax]
[--repeats 5] [--workloads readme,populations]`` (about 3 minutes on 2
cores for JAX or TensorFlow; PyTorch's one-by-one fits take far longer: use
``--repeats 2``).
"""

import os
import sys

import common

GRID_EPOCHS = 50


def _backend_from_argv(argv):
    """``--backend`` must be known before Keras is imported."""
    argv = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def readme_grid(quick):
    """The README's search: its data, and the three searches to time."""
    from sklearn import model_selection as sk
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from skdnn import DNNClassifier
    from skdnn import model_selection as ms

    X, y = load_digits(return_X_y=True)
    epochs = 5 if quick else GRID_EPOCHS
    dnn = make_pipeline(
        MinMaxScaler(), DNNClassifier(optimizer="sgd", epochs=epochs, random_state=common.SEED)
    )
    dnn_grid = {
        "dnnclassifier__learning_rate": [0.01, 0.1],
        "dnnclassifier__momentum": [0.0, 0.9],
        "dnnclassifier__hidden_layer_sizes": [(100,), (100, 100)],
    }
    mlp = make_pipeline(
        MinMaxScaler(), MLPClassifier(solver="sgd", max_iter=epochs, random_state=common.SEED)
    )
    mlp_grid = {
        "mlpclassifier__learning_rate_init": [0.01, 0.1],
        "mlpclassifier__momentum": [0.0, 0.9],
        "mlpclassifier__hidden_layer_sizes": [(100,), (100, 100)],
    }

    def search(cls, estimator, grid):
        def run():
            fitted = cls(estimator, grid, cv=3).fit(X, y)
            return fitted.best_score_

        return run

    return [
        common.Contender("scikit-learn MLPClassifier", search(sk.GridSearchCV, mlp, mlp_grid)),
        common.Contender("sklearn GridSearchCV, skdnn", search(sk.GridSearchCV, dnn, dnn_grid)),
        common.Contender("skdnn GridSearchCV", search(ms.GridSearchCV, dnn, dnn_grid)),
    ]


def population_contenders(n_rates, epochs):
    """Searches over ``n_rates`` learning rates x 3 splits of one architecture."""
    import numpy as np
    from sklearn import model_selection as sk
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import minmax_scale

    from skdnn import DNNClassifier
    from skdnn import model_selection as ms

    X, y = load_digits(return_X_y=True)
    X = minmax_scale(X)
    estimator = DNNClassifier(
        optimizer="sgd",
        hidden_layer_sizes=(100,),
        epochs=epochs,
        n_iter_no_change=None,
        random_state=common.SEED,
    )
    grid = {"learning_rate": list(np.geomspace(0.001, 0.1, n_rates)), "momentum": [0.9]}

    def search(cls):
        return lambda: cls(estimator, grid, cv=3, refit=False).fit(X, y).best_score_

    return [
        common.Contender("scikit-learn GridSearchCV, skdnn", search(sk.GridSearchCV)),
        common.Contender("skdnn GridSearchCV", search(ms.GridSearchCV)),
    ]


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        default=_backend_from_argv(argv),
        choices=("jax", "tensorflow", "torch"),
        help="the Keras backend (default: KERAS_BACKEND if set, else Keras's default, tensorflow)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="warm rounds (default: 5)")
    parser.add_argument(
        "--workloads",
        default="readme,populations",
        help="comma-separated: readme (the README's grid), populations (P = 12 and 48)",
    )
    args = parser.parse_args(argv)
    common.start(args, f"Hyperparameter searches (KERAS_BACKEND={os.environ['KERAS_BACKEND']})")
    repeats = common.pick(args, full=args.repeats, quick=1)

    workloads = set(args.workloads.split(","))
    if "readme" in workloads:
        contenders = readme_grid(args.quick)
        results = common.measure_rounds("README grid, 24 fits + refit", contenders, repeats)
        common.print_table(f"The README's grid (warm median of {repeats})", results)
        mlp, sequential, population = (r.median for r in results)

    if "populations" in workloads:
        epochs = 5 if args.quick else 20
        rows = []
        for n_rates in (4,) if args.quick else (4, 16):
            n_members = 3 * n_rates
            workload = f"P={n_members} members x {epochs} epochs"
            measured = common.measure_rounds(
                workload, population_contenders(n_rates, epochs), repeats
            )
            rows.extend(measured)
            ratio = measured[1].median / measured[0].median
            per_member_epoch = [r.median / (n_members * epochs) for r in measured]
            print(
                f"  {workload}: per member-epoch {per_member_epoch[0] * 1e3:.2f} ms one by one, "
                f"{per_member_epoch[1] * 1e3:.2f} ms in a population ({1 / ratio:.2f}x faster)"
            )
        common.print_table(f"Populations (warm median of {repeats})", rows)

    if "readme" in workloads:
        print("\n## Goals (README grid, 2 cores, warm process)\n")
        common.print_goal(
            "skdnn's search at most 0.5x scikit-learn's search over the same pipeline",
            population / sequential <= 0.5,
            f"{population / sequential:.2f}x",
        )
        common.print_goal(
            "skdnn's search at most 1.0x scikit-learn's search over MLPClassifier",
            population / mlp <= 1.0,
            f"{population / mlp:.2f}x",
        )


if __name__ == "__main__":
    os.environ["KERAS_BACKEND"] = _backend_from_argv(None)
    sys.exit(main())
