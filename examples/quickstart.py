"""Train, tune and evaluate a deep neural network on digits
========================================================

The main job of the README: no download needed. A pipeline scales the 8x8
digit images, a DNNClassifier learns them, and a grid search over learning
rate, momentum and depth picks the network by 3-fold cross-validation;
the winner is evaluated once on held-out data.

Run it with ``python examples/quickstart.py``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

# Candidates with a small learning rate use up their epochs on purpose: the
# search is there to find out. Keep their warnings out of the report.
warnings.simplefilter("ignore", ConvergenceWarning)

import pandas as pd  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import classification_report  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

from skdnn import DNNClassifier  # noqa: E402


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=42
    )

    pipeline = make_pipeline(
        MinMaxScaler(),
        DNNClassifier(optimizer="sgd", epochs=60, early_stopping=True, random_state=42),
    )
    grid = {
        "dnnclassifier__learning_rate": [0.01, 0.1],
        "dnnclassifier__momentum": [0.0, 0.9],
        "dnnclassifier__hidden_layer_sizes": [(100,), (100, 100)],
    }
    search = GridSearchCV(pipeline, grid, cv=3, n_jobs=1).fit(X_train, y_train)

    results = pd.DataFrame(search.cv_results_)
    columns = ["param_" + name for name in grid] + ["mean_test_score", "std_test_score"]
    print("Grid search, 3-fold cross-validated accuracy:")
    print(results.sort_values("rank_test_score")[columns].to_string(index=False))
    print("\nBest parameters:", search.best_params_)

    best = search.best_estimator_[-1]
    print(
        f"Best network trained {best.n_iter_} epochs; "
        f"validation accuracy {best.best_validation_score_:.3f}"
    )
    print(f"\nTest accuracy: {search.score(X_test, y_test):.3f}\n")
    print(classification_report(y_test, search.predict(X_test)))


if __name__ == "__main__":
    main()
