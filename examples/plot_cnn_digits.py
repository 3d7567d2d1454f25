"""A convolutional network on digit images, tuned with GridSearchCV
================================================================

The model-architecture tutorial's exercise: a CNN for MNIST,
``Conv2D -> MaxPooling2D -> Conv2D -> MaxPooling2D -> Flatten -> Dense``.
``KerasClassifier`` takes that network's body from a function and adds the
rest (the softmax output layer, the loss, label decoding, the training loop
and early stopping), so ``GridSearchCV`` can tune the number of filters
(``model__filters``, an argument of the function) beside the learning rate.
The images reach the network as ``(n_samples, height, width, 1)``, not
flattened. The best network's loss and accuracy curves are plotted per epoch.

MNIST is loaded with ``keras.datasets.mnist`` when it can be downloaded (a
subset of it, to stay quick); without a network the 8x8 digit images bundled
with scikit-learn take its place.

Run it with ``python examples/plot_cnn_digits.py``. The figure is shown in a
window, or, with no display (``MPLBACKEND=Agg``, no ``DISPLAY``), saved as a
PNG file in ``examples/output/``. Needs matplotlib.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402

from skdnn import KerasClassifier, TrainingCurveDisplay  # noqa: E402

# Early stopping ends most fits; a fit that uses all 30 epochs is fine here.
warnings.simplefilter("ignore", ConvergenceWarning)

# Training images used from MNIST: a grid search of 12 fits stays quick.
MNIST_SUBSET = 3000


def load_images():
    """Return ``(X_train, X_test, y_train, y_test, name)``, images of shape (h, w, 1) in [0, 1]."""
    try:
        (X_train, y_train), (X_test, y_test) = keras.datasets.mnist.load_data()
        name = f"MNIST ({MNIST_SUBSET} training images)"
        X_train, y_train = X_train[:MNIST_SUBSET], y_train[:MNIST_SUBSET]
        X_test, y_test = X_test[: MNIST_SUBSET // 3], y_test[: MNIST_SUBSET // 3]
        top = 255.0
    except Exception as error:  # no network: fall back to bundled images
        print(f"MNIST is not reachable ({type(error).__name__}); using scikit-learn's digits.")
        from sklearn.datasets import load_digits

        digits = load_digits()
        X_train, X_test, y_train, y_test = train_test_split(
            digits.images, digits.target, test_size=0.25, stratify=digits.target, random_state=0
        )
        name, top = "digits (8x8)", 16.0
    add_channel = lambda images: (images[..., np.newaxis] / top).astype(np.float32)  # noqa: E731
    return add_channel(X_train), add_channel(X_test), y_train, y_test, name


def build_cnn(filters, input_shape):
    """The tutorial's CNN without its output layer: KerasClassifier adds it."""
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


def show_figures():
    """Show the open figures or, with no display to show them on, save each as a PNG.

    The files go to ``output/`` beside this script, named by the figures' labels.
    The figures stay open: sphinx-gallery captures them when the script ends.
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


def main():
    X_train, X_test, y_train, y_test, name = load_images()
    print(f"{name}: train {X_train.shape}, test {X_test.shape}")

    cnn = KerasClassifier(
        model=build_cnn,
        model__filters=16,
        batch_size=64,
        epochs=30,
        early_stopping=True,  # holds out 10% and restores the best epoch
        n_iter_no_change=4,
        random_state=0,
    )
    search = GridSearchCV(
        cnn, {"model__filters": [8, 16], "learning_rate": [0.003, 0.01]}, cv=3
    ).fit(X_train, y_train)
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        print(f"  {params}: cross-validated accuracy {score:.3f}")
    best = search.best_estimator_
    print(
        f"best {search.best_params_}: {best.n_iter_} epochs, "
        f"test accuracy {best.score(X_test, y_test):.3f}"
    )
    best.summary()

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), num="cnn_digits_curves")
    for ax, metric in zip(axes, ["loss", "accuracy"], strict=True):
        TrainingCurveDisplay.from_estimator(best, metric=metric, ax=ax)
    fig.suptitle(f"Best CNN on {name}")
    fig.tight_layout()
    show_figures()


if __name__ == "__main__":
    main()
