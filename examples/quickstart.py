"""
=========================================================
Train, tune and evaluate a deep neural network on digits
=========================================================

The main job of the README, with no download: a pipeline scales the 8x8
digit images, a :class:`~skdnn.DNNClassifier` learns them, and a grid search
over learning rate, momentum and depth picks the network by 3-fold
cross-validation; the winner is evaluated once on held-out data.

Run it with ``python examples/quickstart.py``.
"""

# %%
# Load the data
# -------------
#
# scikit-learn's digits: 1797 images of 8x8 pixels, flattened to 64 features.
# A quarter of them is held out, stratified by class, for the final test.
import warnings

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import classification_report
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skdnn import DNNClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=42
)

# %%
# Search the network's hyperparameters
# ------------------------------------
#
# The network sits in a pipeline behind a scaler, so each cross-validation
# fold scales with its own training part only. Its hyperparameters are
# searched like any scikit-learn estimator's, with the ``dnnclassifier__``
# prefix. Early stopping holds out 10% of each training fold and ends a fit
# when the validation score stops improving.
#
# Candidates with a small learning rate use up their epochs on purpose: the
# search is there to find out. Their warnings are kept out of the report.
warnings.simplefilter("ignore", ConvergenceWarning)

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

# %%
# The candidates, best first
# --------------------------
#
# ``cv_results_`` is scikit-learn's: one row per candidate, with the mean and
# spread of its accuracy over the three folds.
results = pd.DataFrame(search.cv_results_)
columns = ["param_" + name for name in grid] + ["mean_test_score", "std_test_score"]
print("Grid search, 3-fold cross-validated accuracy:")
print(results.sort_values("rank_test_score")[columns].to_string(index=False))
print("\nBest parameters:", search.best_params_)

# %%
# The search refits the best candidate on the whole training set. Its network
# is the pipeline's last step, with the epochs it ran and its best validation
# score as fitted attributes.
best = search.best_estimator_[-1]
print(
    f"Best network trained {best.n_iter_} epochs; "
    f"validation accuracy {best.best_validation_score_:.3f}"
)

# %%
# Evaluate once on the held-out data
# ----------------------------------
print(f"Test accuracy: {search.score(X_test, y_test):.3f}\n")
print(classification_report(y_test, search.predict(X_test)))
