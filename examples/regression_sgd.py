"""
======================================================
Regression with SGD, as in the loss-functions tutorial
======================================================

The tutorial fits ``Dense(1)`` on ``make_regression(200, 1, bias=5,
noise=5)`` with ``SGD()``, ``mse`` loss and ``mae``/``mse`` metrics for 40
epochs, evaluates on a test split and reads the learnt weight and bias. The
same, as one :class:`~skdnn.DNNRegressor`: ``hidden_layer_sizes=()`` is the
single Dense layer, and Keras's SGD defaults (learning rate 0.01, no
momentum, batches of 32) are set explicitly. When matplotlib is installed
(``pip install ".[plot]"`` from a checkout of skdnn), the test points and
the two networks' predictions are plotted.

Run it with ``python examples/regression_sgd.py``.
"""

# %%
# The tutorial's data
# -------------------
#
# One feature, a line with a bias of 5 and Gaussian noise; 20% is held out.
import numpy as np
from sklearn.datasets import make_regression
from sklearn.metrics import mean_absolute_error, mean_squared_error
from sklearn.model_selection import train_test_split

from skdnn import DNNRegressor

X, y = make_regression(n_samples=200, n_features=1, bias=5.0, noise=5.0, random_state=123)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=123)

# %%
# The tutorial's network, and one with a hidden layer
# ---------------------------------------------------
#
# ``hidden_layer_sizes=()`` is the tutorial's single ``Dense(1)``; ``(32,)``
# puts a hidden layer of 32 units in front of it. Both are scored with
# scikit-learn's metrics and with Keras's ``evaluate`` on the fitted model,
# which reports the compiled loss in the target's units.
models = {}
for hidden_layer_sizes in [(), (32,)]:
    model = DNNRegressor(
        hidden_layer_sizes=hidden_layer_sizes,
        optimizer="sgd",
        learning_rate=0.01,
        momentum=0.0,
        batch_size=32,
        epochs=40,
        loss="mse",
        random_state=123,
    ).fit(X_train, y_train)
    predicted = model.predict(X_test)
    print(
        f"hidden_layer_sizes={hidden_layer_sizes}: {model.n_iter_} epochs, "
        f"final training loss {model.loss_curve_[-1]:.2f} (MSE in y's units)"
    )
    print(
        f"  test MSE {mean_squared_error(y_test, predicted):.2f}, "
        f"MAE {mean_absolute_error(y_test, predicted):.2f}, "
        f"R^2 {model.score(X_test, y_test):.3f}"
    )
    print(f"  model_.evaluate MSE {model.model_.evaluate(X_test, y_test, verbose=0):.2f}")
    if not hidden_layer_sizes:
        # The output layer's weights are in y's units: the fitted line.
        weight, bias = model.model_.get_layer("output").get_weights()
        print(f"  learnt line: y = {weight[0, 0]:.2f} * x + {bias[0]:.2f}")
    models[f"hidden_layer_sizes={hidden_layer_sizes}"] = model

# %%
# Plot the predictions
# --------------------
#
# The test points, and each network's prediction along the feature.
try:
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot.")
    raise SystemExit from None

fig, ax = plt.subplots(figsize=(6, 4), num="regression_sgd_predictions")
ax.scatter(X_test[:, 0], y_test, color="gray", label="test data")
grid = np.linspace(X_test.min(), X_test.max(), 100).reshape(-1, 1)
for label, model in models.items():
    ax.plot(grid[:, 0], model.predict(grid), label=label)
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend()
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
