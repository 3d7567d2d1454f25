"""
===================================================
Plot the per-epoch training curves of the tutorials
===================================================

The Fashion-MNIST tutorial plots ``history.history["loss"]`` and
``["accuracy"]`` by hand. Here a :class:`~skdnn.DNNClassifier` with early
stopping trains on scikit-learn's digits images and
:class:`~skdnn.TrainingCurveDisplay` draws the "Epoch - Loss" and "Epoch -
accuracy" plots in one line each, with the validation curves and the
restored best epoch marked. A Keras callback (ReduceLROnPlateau) and an
extra metric (AUC) ride along.

Run it with ``python examples/training_curves.py``. The figures are shown
in windows, or, with no display (``MPLBACKEND=Agg``, no ``DISPLAY``), saved
as PNG files in ``examples/output/``. Needs matplotlib (``pip install
matplotlib``, or ``pip install ".[plot]"`` from a checkout of skdnn).
"""

# %%
# Train with early stopping, a Keras callback and an extra metric
# ----------------------------------------------------------------
#
# Early stopping holds out 20% of the images, stops after 10 epochs without
# improvement and restores the best epoch. Keras's ``ReduceLROnPlateau``
# lowers the learning rate when the validation loss stalls, and ``"AUC"`` is
# recorded beside the loss and the accuracy, for both the training and the
# validation data.
import keras
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skdnn import DNNClassifier, TrainingCurveDisplay

X, y = load_digits(return_X_y=True)
clf = DNNClassifier(
    hidden_layer_sizes=(100,),
    dropout=0.2,
    early_stopping=True,
    validation_fraction=0.2,
    epochs=200,
    n_iter_no_change=10,
    metrics=["AUC"],
    callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=3)],
    random_state=42,
).fit(X / 16.0, y)
print(f"trained {clf.n_iter_} epochs; best validation accuracy {clf.best_validation_score_:.4f}")

# %%
# Every recorded metric, one panel each
# -------------------------------------
#
# ``TrainingCurveDisplay.from_estimator`` draws one metric's training and
# validation curves on the axes it is given.
fig, axes = plt.subplot_mosaic(
    [["loss", "accuracy"], ["AUC", "AUC"]],
    figsize=(9, 7),
    layout="constrained",
    num="training_curves",
)
for metric, ax in axes.items():
    TrainingCurveDisplay.from_estimator(clf, metric=metric, ax=ax)

# %%
# The tutorial's single plot, in one line
# ---------------------------------------
#
# Without ``ax``, the display draws on a new figure; its label names its file.
display = TrainingCurveDisplay.from_estimator(clf, metric="loss")
display.figure_.set_label("epoch_loss")

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
