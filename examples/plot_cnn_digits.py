"""
=================================================================
A convolutional network on digit images, tuned with GridSearchCV
=================================================================

The model-architecture tutorial's exercise: a CNN for MNIST,
``Conv2D -> MaxPooling2D -> Conv2D -> MaxPooling2D -> Flatten -> Dense``.
:class:`~skdnn.KerasClassifier` takes that network's body from a function
and adds the rest (the softmax output layer, the loss, label decoding, the
training loop and early stopping), so ``GridSearchCV`` can tune the number
of filters (``model__filters``, an argument of the function) beside the
learning rate. The images reach the network as ``(n_samples, height, width,
1)``, not flattened. The best network's loss and accuracy curves are plotted
per epoch.

Run it with ``python examples/plot_cnn_digits.py``, or with
``SKDNN_EXAMPLES_DOWNLOAD=1`` to download MNIST. The figure is shown in a
window, or, with no display (``MPLBACKEND=Agg``, no ``DISPLAY``), saved as a
PNG file in ``examples/output/``. Needs matplotlib.
"""

# %%
# Load the images
# ---------------
#
# MNIST comes from ``keras.datasets.mnist``, which downloads it once into
# Keras's cache (``~/.keras/datasets``, or under ``KERAS_HOME``); a subset of
# it is used, so that the grid search of 12 fits stays quick. To run anywhere
# without a download, this example loads it only when it is already there or
# when ``SKDNN_EXAMPLES_DOWNLOAD=1`` asks for it; otherwise the 8x8 digit
# images bundled with scikit-learn take its place. Either way the images get
# a channel axis and values in [0, 1].
import os
import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from skdnn import KerasClassifier, TrainingCurveDisplay

MNIST_SUBSET = 3000  # training images used from MNIST

keras_datasets = os.path.join(
    os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))), "datasets"
)
cached = os.path.isfile(os.path.join(keras_datasets, "mnist.npz"))
if cached or os.environ.get("SKDNN_EXAMPLES_DOWNLOAD") == "1":
    (X_train, y_train), (X_test, y_test) = keras.datasets.mnist.load_data()
    X_train, y_train = X_train[:MNIST_SUBSET], y_train[:MNIST_SUBSET]
    X_test, y_test = X_test[: MNIST_SUBSET // 3], y_test[: MNIST_SUBSET // 3]
    name, top = f"MNIST ({MNIST_SUBSET} training images)", 255.0
else:
    print(
        "MNIST is not in Keras's cache, so scikit-learn's digits take its place "
        "(SKDNN_EXAMPLES_DOWNLOAD=1 downloads it)."
    )
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=0.25, stratify=digits.target, random_state=0
    )
    name, top = "digits (8x8)", 16.0
X_train = (X_train[..., np.newaxis] / top).astype(np.float32)
X_test = (X_test[..., np.newaxis] / top).astype(np.float32)
print(f"{name}: train {X_train.shape}, test {X_test.shape}")


# %%
# The network's body
# ------------------
#
# The tutorial's CNN without its output layer: a function of the number of
# filters and of the images' shape. ``KerasClassifier`` passes it the
# ``model__`` parameters and ``input_shape``, and adds the output layer.
def build_cnn(filters, input_shape):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
        ]
    )


# %%
# Tune the filters and the learning rate
# --------------------------------------
#
# Early stopping holds out 10% of each training fold and restores the best
# epoch; it ends most fits, and a fit that uses all 30 epochs is fine here, so
# its warning is kept out of the report.
warnings.simplefilter("ignore", ConvergenceWarning)

cnn = KerasClassifier(
    model=build_cnn,
    model__filters=16,
    batch_size=64,
    epochs=30,
    early_stopping=True,
    n_iter_no_change=4,
    random_state=0,
)
grid = {"model__filters": [8, 16], "learning_rate": [0.003, 0.01]}
search = GridSearchCV(cnn, grid, cv=3).fit(X_train, y_train)
for params, score in zip(
    search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
):
    print(f"  {params}: cross-validated accuracy {score:.3f}")

# %%
# The best network
# ----------------
#
# Refitted on all the training images, scored on the test images; ``summary``
# shows the layers ``KerasClassifier`` added to the body.
best = search.best_estimator_
print(
    f"best {search.best_params_}: {best.n_iter_} epochs, "
    f"test accuracy {best.score(X_test, y_test):.3f}"
)
best.summary()

# %%
# Its training curves
# -------------------
#
# Loss and accuracy per epoch, on the training data and on the validation
# data that early stopping held out.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), num="cnn_digits_curves")
for ax, metric in zip(axes, ["loss", "accuracy"], strict=True):
    TrainingCurveDisplay.from_estimator(best, metric=metric, ax=ax)
fig.suptitle(f"Best CNN on {name}")
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
