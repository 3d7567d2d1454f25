"""Image classification in the Fashion-MNIST tutorial's style
==========================================================

The tutorial scales the images by 255, splits off 20% for validation, builds
``Sequential([Flatten, Dense(100, relu), (extra layer), Dense(10, softmax)])``,
compiles it with ``sparse_categorical_crossentropy`` and ``accuracy``, fits
for a few epochs, reads the per-epoch loss and accuracy, evaluates, and
compares a deeper network and one with dropout. Here each of those networks
is one DNNClassifier.

Fashion-MNIST is loaded with ``keras.datasets.fashion_mnist`` when it can be
downloaded; without a network the 8x8 digit images bundled with scikit-learn
take its place (scaled by 16, their maximum, instead of 255).

The tutorial's "Epoch - Loss" and "Epoch - accuracy" plots are drawn for the
three networks side by side when matplotlib is installed
(``pip install ".[plot]"`` from a checkout of skdnn).

Run it with ``python examples/image_classification.py``.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

# The tutorial trains for a fixed number of epochs on purpose.
warnings.simplefilter("ignore", ConvergenceWarning)

import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skdnn import DNNClassifier  # noqa: E402


def load_images():
    """Return ``(train_images, train_labels, test_images, test_labels, name, max)``."""
    try:
        import keras

        (train_input, train_target), (test_input, test_target) = (
            keras.datasets.fashion_mnist.load_data()
        )
        return train_input, train_target, test_input, test_target, "Fashion-MNIST", 255.0
    except Exception as error:  # no network: fall back to bundled images
        print(
            f"Fashion-MNIST is not reachable ({type(error).__name__}); "
            f"using scikit-learn's digits images."
        )
        from sklearn.datasets import load_digits

        digits = load_digits()
        images, labels = digits.images, digits.target
        train_input, test_input, train_target, test_target = train_test_split(
            images, labels, test_size=0.2, stratify=labels, random_state=42
        )
        return train_input, train_target, test_input, test_target, "digits (8x8)", 16.0


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


def plot_curves(networks):
    """Draw the tutorial's "Epoch - Loss" and "Epoch - accuracy" plots of each network."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot.")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), num="image_classification_curves")
    for ax, metric in zip(axes, ["loss", "accuracy"], strict=True):
        for label, model in networks.items():
            epochs = range(1, len(model.history_[metric]) + 1)
            ax.plot(epochs, model.history_[metric], label=label)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(metric)
    axes[0].legend()
    fig.tight_layout()
    show_figures()


def main():
    train_input, train_target, test_input, test_target, name, top = load_images()
    print(f"{name}: train {train_input.shape}, test {test_input.shape}")
    train_scaled, test_scaled = train_input / top, test_input / top
    # The tutorial's 80/20 validation split.
    train_scaled, val_scaled, train_target, val_target = train_test_split(
        train_scaled, train_target, test_size=0.2, random_state=42
    )
    epochs = 5 if name == "Fashion-MNIST" else 30

    networks = {
        "Dense(100)": DNNClassifier(hidden_layer_sizes=(100,)),
        "Dense(100) + Dropout(0.3)": DNNClassifier(hidden_layer_sizes=(100,), dropout=0.3),
        "Dense(100) + Dense(100)": DNNClassifier(hidden_layer_sizes=(100, 100)),
    }
    for label, model in networks.items():
        model.set_params(epochs=epochs, batch_size=32, random_state=42)
        model.fit(train_scaled, train_target)  # images are flattened by the network
        print(f"\n== {label}: {model.n_iter_} epochs")
        for epoch, (loss, accuracy) in enumerate(
            zip(model.history_["loss"], model.history_["accuracy"], strict=True), start=1
        ):
            if epoch <= 3 or epoch == model.n_iter_:
                print(f"  epoch {epoch:2d}  loss {loss:.4f}  accuracy {accuracy:.4f}")
        print(f"  validation accuracy {model.score(val_scaled, val_target):.4f}")

    best = max(networks.values(), key=lambda m: m.score(val_scaled, val_target))
    best.model_.summary()
    # The fitted Keras model evaluates and predicts as in the tutorial.
    loss, accuracy = best.model_.evaluate(test_scaled, test_target, verbose=0)
    print(f"Best network on the test set: loss {loss:.4f}, accuracy {accuracy:.4f}")
    proba = best.predict_proba(test_scaled[:3])
    print("First three test images, predicted class and probability:")
    for label, p in zip(best.classes_[proba.argmax(axis=1)], proba.max(axis=1), strict=True):
        print(f"  {label}  {p:.3f}")
    assert np.allclose(proba.sum(axis=1), 1.0)
    plot_curves(networks)


if __name__ == "__main__":
    main()
