"""
=====================================================================
Train a whole grid together with skdnn.model_selection.GridSearchCV
=====================================================================

``skdnn.model_selection.GridSearchCV`` is scikit-learn's ``GridSearchCV``
with one change: the candidates that share an architecture train together,
all their cross-validation folds at once, as one population. This example
runs the README's grid with both searches and checks that they found the
same: every split's score and the best parameters.

Run it with ``python examples/population_search.py`` (TensorFlow, the
default backend), or with ``KERAS_BACKEND=jax`` or ``KERAS_BACKEND=torch``
set.
With the environment variable ``SKDNN_EXAMPLES_QUICK=1`` (set by the
documentation build) each network trains 10 epochs instead of 50.
"""

# %%
# The data, the pipeline and the grid
# -----------------------------------
#
# The digits (1,797 images of 8x8 pixels), scaled to [0, 1] inside each
# training fold, and a :class:`~skdnn.DNNClassifier` trained by SGD. The grid
# crosses two learning rates, two momentums and two depths: 8 candidates, 24
# fits on 3 folds, then the refit of the best.
import os
import time
import warnings

import keras
import numpy as np
from sklearn import model_selection
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skdnn import DNNClassifier
from skdnn.model_selection import GridSearchCV

quick = os.environ.get("SKDNN_EXAMPLES_QUICK") == "1"
warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epochs, on purpose

X, y = load_digits(return_X_y=True)
pipe = make_pipeline(
    MinMaxScaler(), DNNClassifier(optimizer="sgd", epochs=10 if quick else 50, random_state=0)
)
grid = {
    "dnnclassifier__learning_rate": [0.01, 0.1],
    "dnnclassifier__momentum": [0.0, 0.9],
    "dnnclassifier__hidden_layer_sizes": [(100,), (100, 100)],
}
print("Keras backend:", keras.config.backend())

# %%
# Both searches
# -------------
#
# Each runs twice: the first run of an architecture compiles its training
# program, and the second shows what a warm process pays.
searches = {}
for name, search_class in [
    ("scikit-learn", model_selection.GridSearchCV),
    ("skdnn", GridSearchCV),
]:
    for _ in range(2):
        started = time.perf_counter()
        searches[name] = search_class(pipe, grid, cv=3).fit(X, y)
        seconds = time.perf_counter() - started
    print(f"{name:>12}'s GridSearchCV: {seconds:.2f} s (second run)")

# %%
# The same results
# ----------------
#
# Each member of a population trains the network its own ``fit`` would
# train, so the two searches agree split by split, up to float32 rounding.
ours, theirs = searches["skdnn"].cv_results_, searches["scikit-learn"].cv_results_
for split in range(3):
    key = f"split{split}_test_score"
    difference = np.max(np.abs(ours[key] - theirs[key]))
    print(f"{key}: largest difference {difference:.2g}")
print("Best parameters, skdnn:       ", searches["skdnn"].best_params_)
print("Best parameters, scikit-learn:", searches["scikit-learn"].best_params_)
print(f"Best cross-validated accuracy: {searches['skdnn'].best_score_:.4f}")
