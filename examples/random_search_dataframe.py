"""
================================================================================
Tune learning rate, momentum and depth with RandomizedSearchCV on a DataFrame
================================================================================

A full preprocessing pipeline on a pandas DataFrame with numeric and
categorical columns: a ``ColumnTransformer`` scales the numeric columns and
one-hot encodes the categorical ones, inside every cross-validation fold, in
front of a :class:`~skdnn.DNNRegressor`. ``RandomizedSearchCV`` samples the
learning rate from a log-uniform distribution and picks momentum and depth
from lists, and the best candidates are printed as a table.

Run it with ``python examples/random_search_dataframe.py``.
"""

# %%
# A DataFrame with numeric and categorical columns
# ------------------------------------------------
#
# The data are scikit-learn's diabetes set in its original units
# (``load_diabetes(scaled=False)``, no download). Its ``sex`` column is a
# category coded 1/2 in the source, so it is treated as one; ``bmi_class`` is
# derived from ``bmi`` with the WHO bands (underweight < 18.5 <= normal < 25
# <= overweight < 30 <= obese) to show a second, multi-valued categorical
# column. The numeric ``bmi`` is kept.
import warnings

import pandas as pd
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import RandomizedSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skdnn import DNNRegressor

CATEGORICAL = ["sex", "bmi_class"]

X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
X = X.assign(
    sex=X["sex"].astype(int).astype(str),
    bmi_class=pd.cut(
        X["bmi"],
        bins=[0, 18.5, 25, 30, float("inf")],
        right=False,
        labels=["underweight", "normal", "overweight", "obese"],
    ).astype(str),
)
numeric = [column for column in X.columns if column not in CATEGORICAL]
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
X_train.head()

# %%
# The pipeline
# ------------
#
# The ``ColumnTransformer`` gives pandas output, so the network records the
# names of the columns it sees.
pipeline = Pipeline(
    [
        (
            "prepare",
            ColumnTransformer(
                [
                    ("numeric", StandardScaler(), numeric),
                    (
                        "categorical",
                        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                        CATEGORICAL,
                    ),
                ]
            ).set_output(transform="pandas"),
        ),
        ("dnn", DNNRegressor(optimizer="sgd", epochs=100, random_state=0)),
    ]
)

# %%
# Search at random
# ----------------
#
# Ten candidates, each cross-validated on 3 folds and scored by R². Candidates
# with a small learning rate use up their epochs on purpose: the search is
# there to find out. Their warnings are kept out of the report.
warnings.simplefilter("ignore", ConvergenceWarning)

distributions = {
    "dnn__learning_rate": loguniform(1e-3, 1e-1),
    "dnn__momentum": [0.0, 0.5, 0.9],
    "dnn__hidden_layer_sizes": [(32,), (64,), (32, 32), (64, 64), (32, 32, 32)],
}
search = RandomizedSearchCV(pipeline, distributions, n_iter=10, cv=3, random_state=0)
search.fit(X_train, y_train)

table = pd.DataFrame(search.cv_results_).sort_values("rank_test_score")
columns = [f"param_{name}" for name in distributions]
columns += ["mean_test_score", "std_test_score", "mean_fit_time"]
table = table[columns].rename(columns=lambda name: name.removeprefix("param_dnn__"))
print(f"Top candidates of {len(table)} (cross-validated R^2 on {len(X_train)} patients):")
print(table.head(5).to_string(index=False, float_format="{:.4g}".format))

# %%
# The best network
# ----------------
#
# The search refits the best candidate on all the training data. Its network
# sees the one-hot columns by name.
net = search.best_estimator_[-1]
best = search.best_params_
print(
    f"Best: learning_rate={best['dnn__learning_rate']:.4g}, "
    f"momentum={best['dnn__momentum']}, "
    f"hidden_layer_sizes={best['dnn__hidden_layer_sizes']}"
)
one_hot = [name for name in net.feature_names_in_ if name.startswith("categorical__")]
print(f"Network inputs: {net.n_features_in_} columns, one-hot: {', '.join(one_hot)}")
print(f"Epochs run by the refitted network: {net.n_iter_}")
print(f"Test R^2 on {len(X_test)} held-out patients: {search.score(X_test, y_test):.3f}")

# %%
# A linear baseline
# -----------------
#
# For scale: 442 noisy patients are little data for a network, and a linear
# model behind the same preprocessing is a strong baseline here.
linear = clone(pipeline).set_params(dnn=RidgeCV()).fit(X_train, y_train)
print(f"Same pipeline with RidgeCV instead: test R^2 {linear.score(X_test, y_test):.3f}")
