"""Plot the per-epoch training curves of the tutorials
===================================================

The Fashion-MNIST tutorial plots ``history.history["loss"]`` and
``["accuracy"]`` by hand. Here a DNNClassifier with early stopping trains on
scikit-learn's digits images and ``TrainingCurveDisplay`` draws the
"Epoch - Loss" and "Epoch - accuracy" plots in one line each, with the
validation curves and the restored best epoch marked. A Keras callback
(ReduceLROnPlateau) and an extra metric (AUC) ride along.

Run it with ``python examples/training_curves.py [output folder]``; the
PNG files go to ``examples/output/`` by default. Needs matplotlib
(``pip install matplotlib``, or ``pip install ".[plot]"`` from a
checkout of skdnn).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # write files; no window needed

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from skdnn import DNNClassifier, TrainingCurveDisplay  # noqa: E402


def main(output_folder):
    os.makedirs(output_folder, exist_ok=True)
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
    print(
        f"trained {clf.n_iter_} epochs; best validation accuracy {clf.best_validation_score_:.4f}"
    )

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, metric in zip(axes, ["loss", "accuracy", "AUC"], strict=True):
        TrainingCurveDisplay.from_estimator(clf, metric=metric, ax=ax)
    fig.tight_layout()
    path = os.path.join(output_folder, "training_curves.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")

    # The tutorial's single plot, one line.
    display = TrainingCurveDisplay.from_estimator(clf, metric="loss")
    path = os.path.join(output_folder, "epoch_loss.png")
    display.figure_.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    # The script's own folder from its path on the command line: sphinx-gallery,
    # which runs it for the documentation, defines no __file__.
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "output"))
