"""Fit time and training throughput: skdnn vs scikit-learn's MLP vs raw Keras.

Two workloads, each contender training the same network for the same number
of epochs (no early stopping, ``tol=0``):

* small: ``make_classification`` 2,000 x 20 (float64, as it comes), 3 classes,
  hidden (100,), 50 epochs, batch 200, Adam with learning rate 1e-3;
* large: synthetic float32 60,000 x 784 (12,000 rows with ``--quick``),
  10 classes, hidden (256, 128), 5 epochs, batch 200; throughput is
  ``n_samples * epochs / median warm fit time``.

Contenders: ``MLPClassifier``; ``DNNClassifier``; raw Keras (build, compile
and ``model.fit`` of a fresh ``Sequential`` per fit, as an estimator's
``fit`` would, on X cast to float32 inside the timing); raw Keras with
``steps_per_execution`` set to the batches per epoch, with ``jit_compile``
off and on, keeping the faster (the other's median is in the note).
Each contender's first fit is the cold one, reported apart (with ``--quick``
the Keras contenders skip it: a fresh model per fit is as cold as the
first); the table's median and range are over the warm fits that follow,
run in interleaved rounds (every contender once per round).

Run: ``python benchmarks/bench_fit.py [--quick]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import math  # noqa: E402

import common  # noqa: E402
import numpy as np  # noqa: E402


def contenders(X, y, hidden, epochs, batch_size, quick):
    """Return the :class:`common.Contender` list; each fit returns its epoch count."""
    from sklearn.neural_network import MLPClassifier

    from skdnn import DNNClassifier

    n_samples, n_features = X.shape
    n_classes = len(np.unique(y))

    def sklearn_fit():
        return (
            MLPClassifier(
                hidden_layer_sizes=hidden,
                max_iter=epochs,
                batch_size=batch_size,
                learning_rate_init=1e-3,
                tol=0.0,
                n_iter_no_change=10_000,
                random_state=common.SEED,
            )
            .fit(X, y)
            .n_iter_
        )

    def skdnn_fit():
        return (
            DNNClassifier(
                hidden_layer_sizes=hidden,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=1e-3,
                tol=0.0,
                n_iter_no_change=1000,
                random_state=common.SEED,
            )
            .fit(X, y)
            .n_iter_
        )

    def keras_fit(**compile_kwargs):
        def fit():
            # Cast as the Keras tutorials do: Keras feeds float64 arrays
            # through a slower path.
            X32 = X.astype("float32", copy=False)
            model = common.keras_mlp(n_features, hidden, n_classes, **compile_kwargs)
            history = model.fit(X32, y, epochs=epochs, batch_size=batch_size, verbose=0)
            return len(history.history["loss"])

        return fit

    # A fresh Keras model per fit is as cold as the first one: --quick skips
    # Keras's separate cold fit.
    keras_cold = not quick
    steps = math.ceil(n_samples / batch_size)
    return [
        common.Contender("scikit-learn MLPClassifier", sklearn_fit),
        common.Contender("skdnn DNNClassifier", skdnn_fit),
        common.Contender("Keras model.fit", keras_fit(), cold=keras_cold),
        *[
            common.Contender(
                f"Keras fit, steps_per_execution={steps}, jit_compile={jit}",
                keras_fit(steps_per_execution=steps, jit_compile=jit),
                cold=keras_cold,
            )
            for jit in (False, True)
        ],
    ]


def run_workload(workload, X, y, hidden, epochs, batch_size, repeats, quick, rate):
    """Measure every contender on one workload; return the results.

    Of the two ``steps_per_execution`` variants (``jit_compile`` off and on)
    only the faster is returned, the other's median in its note.
    """
    items = len(X) * epochs if rate else None
    results = common.measure_rounds(
        workload,
        contenders(X, y, hidden, epochs, batch_size, quick),
        repeats,
        items=items,
    )
    for result in results:
        ran = result.extra["value"]
        if ran != epochs:
            result.note = f"ran {ran} epochs, not {epochs}!"
    *kept, spe_off, spe_on = results
    faster, slower = sorted((spe_off, spe_on), key=lambda r: r.median)
    faster.note = (
        f"faster of jit_compile on/off; the other: "
        f"{common.format_seconds(slower.median)} {faster.note}"
    ).rstrip()
    return kept + [faster]


def by_name(results, prefix):
    return [r for r in results if r.contender.startswith(prefix)]


def main(argv=None):
    args = common.parse_args(__doc__.splitlines()[0], argv)
    common.start(args, "bench_fit: fit time and training throughput")

    repeats_small = common.pick(args, full=5, quick=1)
    repeats_large = common.pick(args, full=3, quick=1)
    n_large = common.pick(args, full=60_000, quick=12_000)

    X, y = common.small_data()
    small_name = "fit 2,000x20, 3 cl., (100,), 50 ep."
    small = run_workload(small_name, X, y, (100,), 50, 200, repeats_small, args.quick, rate=False)
    common.print_table(f"Small fit (warm median of {repeats_small})", small)

    X, y = common.large_data(n_large)
    large_name = f"fit {n_large:,}x784 f32, 10 cl., (256,128), 5 ep."
    large = run_workload(large_name, X, y, (256, 128), 5, 200, repeats_large, args.quick, rate=True)
    common.print_table(f"Large fit (warm median of {repeats_large})", large, rate_label="samples/s")

    print("\nGoals:")
    sk, dnn = by_name(small, "scikit-learn")[0], by_name(small, "skdnn")[0]
    ratio = dnn.median / sk.median
    common.print_goal(
        "small fit within 2x of MLPClassifier",
        ratio <= 2.0,
        f"{ratio:.2f}x (stretch goal parity: {'met' if ratio <= 1 else 'not met'})",
    )
    sk, dnn = by_name(large, "scikit-learn")[0], by_name(large, "skdnn")[0]
    keras_best = max(by_name(large, "Keras"), key=lambda r: r.throughput)
    common.print_goal(
        "large fit throughput >= MLPClassifier's",
        dnn.throughput >= sk.throughput,
        f"{common.format_rate(dnn.throughput)} vs {common.format_rate(sk.throughput)} samples/s",
    )
    common.print_goal(
        "large fit throughput no more than 5% behind the fastest raw Keras",
        dnn.throughput >= 0.95 * keras_best.throughput,
        f"{common.format_rate(dnn.throughput)} vs {common.format_rate(keras_best.throughput)} "
        f"samples/s ({keras_best.contender}): {dnn.throughput / keras_best.throughput:.2f}x",
    )


if __name__ == "__main__":
    main()
