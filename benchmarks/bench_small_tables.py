"""Small tables: the table recipe against the plain network, below 500 rows.

``numeric_embedding="auto"`` (with the robust scaling and dropout that follow
it) applies to DataFrames of at least 500 rows, where ``early_stopping="auto"``
starts to hold out data. This script measures why not below: scikit-learn's
diabetes data as a DataFrame (442 rows, regression, R²) and breast cancer
(569 rows, classification, accuracy), 5-fold CV (shuffled, seed 0): each fit
trains on 354 or 455 rows, fewer than 500. Each with

* the plain network: ``numeric_embedding=None, dropout=0.0`` (what a table of
  fewer than 500 rows trains by default);
* the table recipe: ``numeric_embedding="periodic", numeric_scaling="robust",
  dropout=0.15`` (what a table of 500 rows or more trains by default);

with the default stopping rule (held-out data from 500 samples only) and with
``early_stopping=True``. Scores do not depend on the machine's load.

Run: ``python benchmarks/bench_small_tables.py [--quick]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings

import common

NETWORKS = {
    "plain network": dict(numeric_embedding=None, dropout=0.0),
    "table recipe": dict(numeric_embedding="periodic", numeric_scaling="robust", dropout=0.15),
}
STOPPING = {"default stopping": {}, "early_stopping=True": dict(early_stopping=True)}


def main(argv=None):
    args = common.parse_args(__doc__.splitlines()[0], argv)
    common.start(args, "Small tables: the table recipe against the plain network")
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    from skdnn import DNNClassifier, DNNRegressor

    datasets = {
        "diabetes (442 rows, R²)": (load_diabetes, DNNRegressor, KFold),
        "breast cancer (569 rows, accuracy)": (load_breast_cancer, DNNClassifier, StratifiedKFold),
    }
    folds = common.pick(args, full=5, quick=2)
    print(f"{'data set':36} {'stopping':22} " + " ".join(f"{name:>14}" for name in NETWORKS))
    for label, (load, Estimator, splitter) in datasets.items():
        X, y = load(return_X_y=True, as_frame=True)
        cv = splitter(folds, shuffle=True, random_state=0)
        for stopping, stop_params in STOPPING.items():
            scores = []
            for params in NETWORKS.values():
                estimator = Estimator(random_state=0, **params, **stop_params)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    scores.append(cross_val_score(estimator, X, y, cv=cv).mean())
            print(f"{label:36} {stopping:22} " + " ".join(f"{s:14.4f}" for s in scores))


if __name__ == "__main__":
    main()
