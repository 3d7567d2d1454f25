"""
=======================================================================
Tune learning rate, momentum and depth in a Pipeline with GridSearchCV
=======================================================================

What a Keras user cannot do by hand: every candidate network is trained
inside cross-validation folds, with the scaler fitted on the training fold
only, and the learning rate, momentum and depth are searched like any
scikit-learn hyperparameter. When matplotlib is installed
(``pip install ".[plot]"`` from a checkout of skdnn), the cross-validated
score of every candidate is plotted against the learning rate.

Run it with ``python examples/grid_search_pipeline.py``. With the environment
variable ``SKDNN_EXAMPLES_QUICK=1`` (set by the documentation build) each
candidate trains 30 epochs instead of 100.
"""

# %%
# The data and the pipeline
# -------------------------
#
# The breast cancer data set: 569 tumours, 30 numeric features, two classes.
# The pipeline standardizes the features and feeds a
# :class:`~skdnn.DNNClassifier` trained by plain SGD.
import os
import warnings

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skdnn import DNNClassifier

quick = os.environ.get("SKDNN_EXAMPLES_QUICK") == "1"
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
pipeline = Pipeline(
    [
        ("scale", StandardScaler()),
        ("dnn", DNNClassifier(optimizer="sgd", epochs=30 if quick else 100, random_state=0)),
    ]
)

# %%
# Search the grid
# ---------------
#
# 18 candidates, each cross-validated on 3 folds and scored by ROC AUC.
# Candidates with a small learning rate use up their epochs on purpose: the
# search is there to find out. Their warnings are kept out of the report.
warnings.simplefilter("ignore", ConvergenceWarning)

grid = {
    "dnn__learning_rate": [0.001, 0.01, 0.1],
    "dnn__momentum": [0.0, 0.9],
    "dnn__hidden_layer_sizes": [(100,), (100, 100), (100, 100, 100)],
}
search = GridSearchCV(pipeline, grid, cv=3, scoring="roc_auc").fit(X_train, y_train)
table = pd.DataFrame(search.cv_results_).sort_values("rank_test_score")
columns = [f"param_{name}" for name in grid] + ["mean_test_score", "mean_fit_time"]
print(table[columns].head(8).to_string(index=False))
print("\nBest:", search.best_params_)
print(f"Test ROC AUC: {search.score(X_test, y_test):.4f}")

# %%
# Plot the scores against the learning rate
# -----------------------------------------
#
# One line per momentum and depth, the candidates' mean score over the folds.
try:
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot.")
    raise SystemExit from None

results = pd.DataFrame(search.cv_results_)
fig, ax = plt.subplots(figsize=(7, 4), num="grid_search_scores")
for (momentum, depth), runs in results.groupby(
    ["param_dnn__momentum", results["param_dnn__hidden_layer_sizes"].map(len)]
):
    runs = runs.sort_values("param_dnn__learning_rate")
    ax.plot(
        runs["param_dnn__learning_rate"],
        runs["mean_test_score"],
        marker="o",
        label=f"momentum {momentum}, {depth} hidden layer{'s' if depth > 1 else ''}",
    )
ax.set_xscale("log")
ax.set_xlabel("learning rate")
ax.set_ylabel("mean cross-validated ROC AUC")
ax.legend(fontsize="small")
fig.tight_layout()

# %%
# Show the figures
# ----------------
#
# In a window, or, with no display to show them on (a server, a CI job),
# saved as PNG files in ``output/`` beside this script, named by the
# figures' labels. (On this site, each figure is shown under the cell that
# drew it.) Each example carries its own copy of this function, so that it
# runs on its own.
import os
import sys


def show_figures():
    """Show the open figures or, with no display to show them on, save each as a PNG.

    The files go to ``output/`` beside this script, named by the figures' labels.
    The figures stay open.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    # Backends that draw only to files: Agg where there is no display (or with
    # MPLBACKEND=Agg), and the one sphinx-gallery uses to capture the figures.
    file_backends = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}
    if matplotlib.get_backend().lower() not in file_backends:
        plt.show()
        return
    # The script's folder from its path on the command line: sphinx-gallery,
    # which runs it for the documentation, defines no __file__.
    folder = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "output")
    os.makedirs(folder, exist_ok=True)
    for number in plt.get_fignums():
        figure = plt.figure(number)
        path = os.path.join(folder, f"{figure.get_label()}.png")
        figure.savefig(path, dpi=100)
        relative = os.path.relpath(path)  # the gallery's output shows no local folder
        print(f"Saved figure: {path if relative.startswith('..') else relative}")


show_figures()
