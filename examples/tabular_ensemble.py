"""
=====================================================================
A raw table, an ensemble and its uncertainty
=====================================================================

A :class:`~skdnn.DNNRegressor` takes a pandas DataFrame as it is: a text
column, a category column and missing numbers need no ``ColumnTransformer``
(categories are one-hot, missing numbers the training median with an
indicator, numeric columns standardized; a table of 500 rows or more would
also get periodic embeddings of its numeric columns, scaled robustly, and
dropout). With ``n_ensemble=5`` it trains
five networks from different seeds together and averages them, and
``predict(X, return_std=True)`` says how much they disagree.

Run it with ``python examples/tabular_ensemble.py`` (TensorFlow, the default
backend), or with ``KERAS_BACKEND=jax`` or ``KERAS_BACKEND=torch`` set.
"""

# %%
# A table with text, categories and missing values
# ------------------------------------------------
#
# scikit-learn's diabetes data as a DataFrame, with the sex as text, the
# age group as a category and a tenth of the blood pressures missing, as
# tables from a database are.
import warnings

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skdnn import DNNRegressor

X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
X["sex"] = X["sex"].map({1.0: "female", 2.0: "male"})
X["age"] = pd.cut(X["age"], [0, 35, 50, 65, 100], labels=["<35", "35-50", "50-65", "65+"])
X.loc[X.sample(frac=0.1, random_state=0).index, "bp"] = np.nan
print(X.head())
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

# %%
# One network, five, and gradient boosting
# ----------------------------------------
#
# The same raw table for each (gradient boosting wants its text as pandas
# categories). With 331 training rows, ``early_stopping="auto"`` holds
# nothing out (it does from 500 samples): here we ask for it, so that each
# network stops where a held-out fifth of its rows stops improving. Each
# member of the ensemble holds out its own fifth, so together they learn
# from every row.
warnings.simplefilter("ignore", ConvergenceWarning)
stopping = dict(early_stopping=True, validation_fraction=0.2, random_state=0)
models = {
    "one network": DNNRegressor(**stopping),
    "ensemble of 5": DNNRegressor(n_ensemble=5, **stopping),
    "HistGradientBoosting": HistGradientBoostingRegressor(
        categorical_features="from_dtype", random_state=0
    ),
}
for name, model in models.items():
    tables = [X_train, X_test]
    if name == "HistGradientBoosting":
        tables = [table.astype({"sex": "category"}) for table in tables]
    model.fit(tables[0], y_train)
    print(f"{name:>20}: test R² {model.score(tables[1], y_test):.3f}")

# %%
# The members' spread
# -------------------
#
# ``return_std=True`` gives the standard deviation of the five members'
# predictions: how much networks trained from other seeds disagree about a
# patient. It measures the model's uncertainty, not the noise of the target,
# which is large here: the members' spread is far smaller than the test
# errors, and on this small test set it does not single out the worst ones.
ensemble = models["ensemble of 5"]
mean, std = ensemble.predict(X_test, return_std=True)
errors = np.abs(mean - y_test.to_numpy())
wide = std > np.median(std)
print(f"members' spread: median {np.median(std):.1f}, largest {std.max():.1f}")
print(f"mean absolute error where the members agree most:  {errors[~wide].mean():.1f}")
print(f"mean absolute error where they disagree most:      {errors[wide].mean():.1f}")

# %%
# ``model_`` is one Keras model whose output is the members' average.
print([layer.name for layer in ensemble.model_.layers])
