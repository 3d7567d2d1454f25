"""
==========================================================
Image classification in the Fashion-MNIST tutorial's style
==========================================================

The tutorial scales the images by 255, splits off 20% for validation, builds
``Sequential([Flatten, Dense(100, relu), (extra layer), Dense(10, softmax)])``,
compiles it with ``sparse_categorical_crossentropy`` and ``accuracy``, fits
for a few epochs, reads the per-epoch loss and accuracy, evaluates, and
compares a deeper network and one with dropout. Here each of those networks
is one :class:`~skdnn.DNNClassifier`.

The tutorial's "Epoch - Loss" and "Epoch - accuracy" plots are drawn for the
three networks side by side when matplotlib is installed
(``pip install ".[plot]"`` from a checkout of skdnn).

Run it with ``python examples/image_classification.py``, or with
``SKDNN_EXAMPLES_DOWNLOAD=1`` to download Fashion-MNIST.
"""

# %%
# Load the images
# ---------------
#
# Fashion-MNIST comes from ``keras.datasets.fashion_mnist``, which downloads
# it once into Keras's cache (``~/.keras/datasets``, or under ``KERAS_HOME``).
# To run anywhere without a download, this example loads it only when it is
# already there or when ``SKDNN_EXAMPLES_DOWNLOAD=1`` asks for it; otherwise
# the 8x8 digit images bundled with scikit-learn take its place (scaled by
# 16, their maximum, instead of 255).
import os
import warnings

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skdnn import DNNClassifier

FASHION_MNIST_FILES = [
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
]
keras_datasets = os.path.join(
    os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))), "datasets"
)
cached = all(
    os.path.isfile(os.path.join(keras_datasets, "fashion-mnist", file))
    for file in FASHION_MNIST_FILES
)
if cached or os.environ.get("SKDNN_EXAMPLES_DOWNLOAD") == "1":
    (train_input, train_target), (test_input, test_target) = (
        keras.datasets.fashion_mnist.load_data()
    )
    name, top = "Fashion-MNIST", 255.0
else:
    print(
        "Fashion-MNIST is not in Keras's cache, so scikit-learn's digits take its place "
        "(SKDNN_EXAMPLES_DOWNLOAD=1 downloads it)."
    )
    digits = load_digits()
    train_input, test_input, train_target, test_target = train_test_split(
        digits.images, digits.target, test_size=0.2, stratify=digits.target, random_state=42
    )
    name, top = "digits (8x8)", 16.0
print(f"{name}: train {train_input.shape}, test {test_input.shape}")

# %%
# Scale and split off a validation set
# ------------------------------------
#
# As in the tutorial: pixel values in [0, 1], and 20% of the training images
# kept aside to compare the networks.
train_scaled, test_scaled = train_input / top, test_input / top
train_scaled, val_scaled, train_target, val_target = train_test_split(
    train_scaled, train_target, test_size=0.2, random_state=42
)

# %%
# Train the tutorial's three networks
# -----------------------------------
#
# One hidden layer of 100 units, the same with dropout, and two hidden layers.
# The images are flattened by the network, as by the tutorial's ``Flatten``.
# ``history_`` holds the per-epoch loss and accuracy that the tutorial reads
# from ``fit``'s return value. The tutorial trains for a fixed number of
# epochs on purpose, so the warnings that the training did not converge are
# kept out of the report.
warnings.simplefilter("ignore", ConvergenceWarning)

epochs = 5 if name == "Fashion-MNIST" else 30
networks = {
    "Dense(100)": DNNClassifier(hidden_layer_sizes=(100,)),
    "Dense(100) + Dropout(0.3)": DNNClassifier(hidden_layer_sizes=(100,), dropout=0.3),
    "Dense(100) + Dense(100)": DNNClassifier(hidden_layer_sizes=(100, 100)),
}
for label, model in networks.items():
    model.set_params(epochs=epochs, batch_size=32, random_state=42)
    model.fit(train_scaled, train_target)
    print(f"\n== {label}: {model.n_iter_} epochs")
    for epoch, (loss, accuracy) in enumerate(
        zip(model.history_["loss"], model.history_["accuracy"], strict=True), start=1
    ):
        if epoch <= 3 or epoch == model.n_iter_:
            print(f"  epoch {epoch:2d}  loss {loss:.4f}  accuracy {accuracy:.4f}")
    print(f"  validation accuracy {model.score(val_scaled, val_target):.4f}")

# %%
# Evaluate the best network as in the tutorial
# --------------------------------------------
#
# The network with the best validation accuracy is a fitted Keras model,
# ``model_``: it summarizes, evaluates and predicts as in the tutorial.
best = max(networks.values(), key=lambda m: m.score(val_scaled, val_target))
best.model_.summary()
loss, accuracy = best.model_.evaluate(test_scaled, test_target, verbose=0)
print(f"Best network on the test set: loss {loss:.4f}, accuracy {accuracy:.4f}")

# %%
# ``predict_proba`` gives each class's probability, in the order of
# ``classes_``.
proba = best.predict_proba(test_scaled[:3])
print("First three test images, predicted class and probability:")
for label, p in zip(best.classes_[proba.argmax(axis=1)], proba.max(axis=1), strict=True):
    print(f"  {label}  {p:.3f}")
assert np.allclose(proba.sum(axis=1), 1.0)

# %%
# The tutorial's "Epoch - Loss" and "Epoch - accuracy" plots
# ----------------------------------------------------------
try:
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot.")
    raise SystemExit from None

fig, axes = plt.subplots(1, 2, figsize=(11, 4), num="image_classification_curves")
for ax, metric in zip(axes, ["loss", "accuracy"], strict=True):
    for label, model in networks.items():
        values = model.history_[metric]
        ax.plot(range(1, len(values) + 1), values, label=label)
    ax.set_xlabel("Epoch")
    ax.set_ylabel(metric)
axes[0].legend()
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
