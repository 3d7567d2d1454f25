"""KerasClassifier vs raw Keras on the same CNN: fit and predict, warm and whole-process.

The network is the tutorials' CNN exercise on scikit-learn's 8x8 digit
images (1,797 images of shape (8, 8, 1), no download): ``Conv2D(16) ->
MaxPooling2D -> Conv2D(32) -> MaxPooling2D -> Flatten -> Dense(64)``, then
``Dense(10)`` and a softmax, Adam 1e-3, batches of 64, every epoch run
(``n_iter_no_change=None`` for skdnn).

Contenders:

* ``Keras model.fit``: what a Keras user writes: build the full model,
  compile it with ``sparse_categorical_crossentropy``, ``model.fit``; every
  fit a fresh model (as in cross-validation). Predicts with
  ``model.predict(X, verbose=0)``.
* ``skdnn KerasClassifier``: the same body given as ``model=build_body``,
  a fresh ``clone`` per fit. Predicts with ``predict_proba``.

Warm (in one process): each contender fits once untimed (tracing), then
``--repeats`` rounds fit each contender once, alternating their order; the
table gives medians. Predictions are timed on all 1,797 images and on one.

Whole process: each contender runs as a fresh Python process (imports,
data, build, fit, predict, everything a user waits for), alternating their
order over the rounds; medians of the parent's wall clock.

Run: ``python benchmarks/bench_keras_model.py [--quick] [--repeats 5]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402

# The script a contender's whole-process run executes: everything a user
# waits for, from imports to predictions. {contender} is "keras" or "skdnn".
PROCESS_SCRIPT = """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import sys
sys.path.insert(0, {bench_dir!r})
from bench_keras_model import EPOCHS, digits_images, fit_keras, fit_skdnn, predict_keras
X, y = digits_images()
if {contender!r} == "keras":
    proba = predict_keras(fit_keras(X, y, EPOCHS), X)
else:
    proba = fit_skdnn(X, y, EPOCHS).predict_proba(X)
print('{{"accuracy": %.4f}}' % (proba.argmax(axis=1) == y).mean())
"""

EPOCHS = 20
BATCH_SIZE = 64


def digits_images():
    """The digit images as (1797, 8, 8, 1) float32 in [0, 1], and their labels."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images[..., None] / 16).astype(np.float32), digits.target


def build_body(input_shape, filters=16):
    """The CNN's body: what KerasClassifier takes, and raw Keras tops with Dense(10)."""
    import keras

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


def fit_keras(X, y, epochs):
    """Raw Keras: the full model, compiled and fitted as the tutorials do."""
    import keras

    model = keras.Sequential(
        [build_body(X.shape[1:]), keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(X, y, epochs=epochs, batch_size=BATCH_SIZE, shuffle=True, verbose=0)
    return model


def predict_keras(model, X):
    return model.predict(X, verbose=0)


def fit_skdnn(X, y, epochs):
    from skdnn import KerasClassifier

    return KerasClassifier(
        model=build_body,
        learning_rate=1e-3,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        n_iter_no_change=None,
        random_state=0,
    ).fit(X, y)


def _times(func, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def _print_rows(title, rows):
    """rows: (task, contender, times, cold); ratios against the Keras row of each task."""
    print(f"\n## {title}\n")
    table = []
    baseline = {}
    for task, contender, times, _ in rows:
        if contender.startswith("Keras"):
            baseline[task] = statistics.median(times)
    previous = None
    for task, contender, times, cold in rows:
        median = statistics.median(times)
        table.append(
            [
                task if task != previous else "",
                contender,
                common.format_seconds(median),
                f"{common.format_seconds(min(times))} - {common.format_seconds(max(times))}",
                common.format_seconds(cold),
                common.format_ratio(median / baseline[task]) if task in baseline else "-",
            ]
        )
        previous = task
    headers = ["task", "contender", "median", "min - max", "cold (1st)", "vs Keras"]
    common.print_aligned(headers, table, right={2, 4, 5})
    sys.stdout.flush()


def warm(repeats, epochs):
    """In one process: fits and predictions, each contender alternately."""
    X, y = digits_images()
    fits = {"Keras model.fit": fit_keras, "skdnn KerasClassifier": fit_skdnn}
    cold, times, models = {}, {name: [] for name in fits}, {}
    for name, fit in fits.items():
        start = time.perf_counter()
        models[name] = fit(X, y, epochs)
        cold[name] = time.perf_counter() - start
    for round_ in range(repeats):
        order = list(fits) if round_ % 2 == 0 else list(fits)[::-1]
        for name in order:
            start = time.perf_counter()
            models[name] = fits[name](X, y, epochs)
            times[name].append(time.perf_counter() - start)
    rows = [(f"fit, {epochs} epochs", name, times[name], cold[name]) for name in fits]

    predicts = {
        "Keras model.predict": lambda X_: predict_keras(models["Keras model.fit"], X_),
        "skdnn predict_proba": lambda X_: models["skdnn KerasClassifier"].predict_proba(X_),
    }
    for task, X_task, calls in (("predict 1,797 images", X, 20), ("predict 1 image", X[:1], 50)):
        first = {}
        for name, predict in predicts.items():
            start = time.perf_counter()
            predict(X_task)
            first[name] = time.perf_counter() - start
        measured = {name: [] for name in predicts}
        for round_ in range(calls):
            order = list(predicts) if round_ % 2 == 0 else list(predicts)[::-1]
            for name in order:
                measured[name] += _times(lambda p=predicts[name], X_=X_task: p(X_), 1)
        rows += [(task, name, measured[name], first[name]) for name in predicts]
    _print_rows("Warm: one process, traced once", rows)
    keras_labels = predict_keras(models["Keras model.fit"], X).argmax(axis=1)
    agreement = (models["skdnn KerasClassifier"].predict(X) == keras_labels).mean()
    print(f"\n(the two fitted networks agree on {agreement:.1%} of the images)")
    return rows


def whole_process(repeats):
    """Each contender as a fresh Python process, alternately."""
    bench_dir = str(Path(__file__).resolve().parent)
    env = common.child_environment()
    with tempfile.TemporaryDirectory() as folder:
        scripts = {}
        for contender, label in (("keras", "Keras model.fit"), ("skdnn", "skdnn KerasClassifier")):
            path = Path(folder) / f"run_{contender}.py"  # not keras.py: it would shadow keras
            path.write_text(PROCESS_SCRIPT.format(bench_dir=bench_dir, contender=contender))
            scripts[label] = path
        runs = {label: [] for label in scripts}
        accuracy = {}
        for round_ in range(repeats):
            order = list(scripts) if round_ % 2 == 0 else list(scripts)[::-1]
            for label in order:
                run = common.run_process([sys.executable, str(scripts[label])], env)
                if run.error:
                    raise RuntimeError(f"{label}: {run.error}")
                runs[label].append(run.seconds)
                accuracy[label] = run.report.get("accuracy")
    task = f"import + fit {EPOCHS} epochs + predict"
    _print_rows(
        "Whole process: python script.py, wall clock",
        [(task, label, times, None) for label, times in runs.items()],
    )
    print("(training accuracy: " + ", ".join(f"{k} {v}" for k, v in accuracy.items()) + ")")
    return runs


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 5, quick 2)")
    args = parser.parse_args(argv)
    common.start(args, "KerasClassifier vs raw Keras: the tutorials' CNN on digits")
    repeats = args.repeats or common.pick(args, full=5, quick=2)
    rows = warm(repeats, common.pick(args, full=EPOCHS, quick=5))
    runs = whole_process(common.pick(args, full=repeats, quick=2))

    medians = {(task, name): statistics.median(times) for task, name, times, _ in rows}
    print("\n## Goals\n")
    for task in dict.fromkeys(task for task, *_ in rows):
        keras_time, skdnn_time = (value for (t, _), value in medians.items() if t == task)
        common.print_goal(
            f"skdnn at least as fast as Keras: {task}",
            skdnn_time <= keras_time,
            f"{common.format_seconds(skdnn_time)} vs {common.format_seconds(keras_time)}",
        )
    keras_time, skdnn_time = (statistics.median(times) for times in runs.values())
    common.print_goal(
        "skdnn at least as fast as Keras: whole process",
        skdnn_time <= keras_time,
        f"{common.format_seconds(skdnn_time)} vs {common.format_seconds(keras_time)}",
    )


if __name__ == "__main__":
    main()
