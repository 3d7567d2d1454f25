"""Predict latency: skdnn vs scikit-learn's MLP vs the ways raw Keras predicts.

The same network (20 features, hidden (100,), 3 classes, trained for 10
epochs on the small workload's data) is asked for predictions on:

* 1 row: the median latency of many consecutive calls (up to 1,000, or as
  many as fit in a few seconds; the count is in the note);
* 100,000 rows (float64 normal noise, 20 features): median of repeated
  calls, in interleaved rounds (every contender once per round).

Contenders: ``MLPClassifier.predict`` / ``predict_proba``; skdnn's
``predict`` / ``predict_proba``; Keras's ``model.predict`` (default batch size
32), ``model(x)`` (a direct eager call) and ``model.predict_on_batch``. Inputs
are float64; the Keras calls cast them to float32 inside the timing, as a
Keras user would. The first call of each is reported as "cold" (for skdnn it
includes tracing its compiled forward pass).

Run: ``python benchmarks/bench_predict.py [--quick]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402
import numpy as np  # noqa: E402

EPOCHS = 10


def fitted_models(X, y):
    """Train the three networks; return ``(mlp, dnn, keras_model)``."""
    from sklearn.neural_network import MLPClassifier

    from skdnn import DNNClassifier

    mlp = MLPClassifier(
        hidden_layer_sizes=(100,), max_iter=EPOCHS, batch_size=200, random_state=common.SEED
    ).fit(X, y)
    dnn = DNNClassifier(
        hidden_layer_sizes=(100,), epochs=EPOCHS, batch_size=200, random_state=common.SEED
    ).fit(X, y)
    model = common.keras_mlp(X.shape[1], (100,), len(np.unique(y)))
    model.fit(X.astype("float32"), y, epochs=EPOCHS, batch_size=200, verbose=0)
    return mlp, dnn, model


def predict_calls(mlp, dnn, model):
    """Return ``[(name, f(X))]``: every way of predicting that is timed."""
    import keras

    def f32(X):
        return X.astype("float32", copy=False)

    return [
        ("scikit-learn MLPClassifier.predict", mlp.predict),
        ("scikit-learn MLPClassifier.predict_proba", mlp.predict_proba),
        ("skdnn predict", dnn.predict),
        ("skdnn predict_proba", dnn.predict_proba),
        ("Keras model.predict", lambda X: model.predict(f32(X), verbose=0)),
        (
            "Keras model(x), direct call",
            lambda X: keras.ops.convert_to_numpy(model(f32(X), training=False)),
        ),
        ("Keras model.predict_on_batch", lambda X: model.predict_on_batch(f32(X))),
    ]


def main(argv=None):
    args = common.parse_args(__doc__.splitlines()[0], argv)
    common.start(args, "bench_predict: predict latency")

    X, y = common.small_data()
    mlp, dnn, model = fitted_models(X, y)
    calls = predict_calls(mlp, dnn, model)

    one_row = X[:1]
    max_calls = common.pick(args, full=1000, quick=200)
    budget_s = common.pick(args, full=3.0, quick=0.5)
    results_one = [
        common.measure_calls(
            "predict 1 row", name, lambda f=f: f(one_row), max_calls=max_calls, budget_s=budget_s
        )
        for name, f in calls
    ]
    common.print_table("Predict 1 row (median latency of consecutive calls)", results_one)

    n_rows = 100_000
    X_big = np.random.default_rng(common.SEED).standard_normal((n_rows, X.shape[1]))
    repeats = common.pick(args, full=5, quick=1)
    # The 1-row calls above traced every compiled function; --quick skips
    # the separate cold call here.
    results_big = common.measure_rounds(
        f"predict {n_rows:,} rows",
        [common.Contender(name, lambda f=f: f(X_big), cold=not args.quick) for name, f in calls],
        repeats,
        items=n_rows,
    )
    common.print_table(
        f"Predict {n_rows:,} rows (warm median of {repeats})", results_big, rate_label="rows/s"
    )

    def get(results, name):
        return next(r for r in results if r.contender == name)

    print("\nGoals:")
    for method in ("predict", "predict_proba"):
        latency = get(results_one, f"skdnn {method}").median
        common.print_goal(
            f"1-row {method} under 1 ms", latency < 1e-3, common.format_seconds(latency)
        )
    for method in ("predict", "predict_proba"):
        ours = get(results_big, f"skdnn {method}").median
        theirs = get(results_big, f"scikit-learn MLPClassifier.{method}").median
        common.print_goal(
            f"{n_rows:,}-row {method} no slower than MLPClassifier.{method}",
            ours <= theirs,
            f"{common.format_seconds(ours)} vs {common.format_seconds(theirs)} "
            f"({ours / theirs:.2f}x)",
        )


if __name__ == "__main__":
    main()
