"""Fixed cost per fit, grid search, and memory: skdnn vs scikit-learn vs raw Keras.

Four measurements in one warm process:

* fixed cost of one fit (100 rows, 1 epoch, batch 100): ``MLPClassifier``;
  skdnn refitting an architecture it has traced before (what a grid search
  mostly does) and skdnn with a new architecture every fit (``(101,)``,
  ``(102,)``, ...: a new trace each time); raw Keras build + compile + fit of
  a fresh model, and ``fit`` again on one already compiled model;
* ``GridSearchCV`` with 3 folds x 4 candidates (``learning_rate`` 1e-3 / 1e-2
  x ``hidden_layer_sizes`` (50,) / (100,)), 20 epochs, batch 200, on the
  small workload (2,000 x 20, 3 classes), refit included: ``MLPClassifier``
  and skdnn with ``n_jobs=1``, and skdnn with ``n_jobs=2`` (its cold run
  includes starting joblib's worker processes);
* resident memory (psutil RSS) over 100 consecutive skdnn fits of the small
  workload with 5 epochs (10 with ``--quick``), once refitting one
  architecture and once with a new architecture every fit (``(10,)``,
  ``(11,)``, ...: every fit compiles anew, and the pool of compiled trainers
  must stay bounded), and the latter again with ``keras.utils.clear_session()``
  every 10 fits;
* peak RSS growth during one fit on synthetic float32 60,000 x 784 data
  (12,000 rows with ``--quick``), 10 classes, hidden (256, 128), 5 epochs,
  sampled every 10 ms by a background thread, expressed as extra copies of X:
  ``(peak - before) / X.nbytes``.

Run: ``python benchmarks/bench_overhead.py [--quick]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gc  # noqa: E402
import itertools  # noqa: E402

import common  # noqa: E402


def fixed_cost(args):
    """Time one tiny fit per contender; return the results."""
    from sklearn.neural_network import MLPClassifier

    from skdnn import DNNClassifier

    X, y = common.small_data()
    X, y = X[:100], y[:100]
    X32 = X.astype("float32")
    workload = "fit 100 rows, 1 epoch"
    many = common.pick(args, full=20, quick=3)
    few = common.pick(args, full=10, quick=2)
    new_units = itertools.count(101)

    def keras_build_fit():
        model = common.keras_mlp(20, (100,), 3)
        model.fit(X32, y, epochs=1, batch_size=100, verbose=0)

    compiled = common.keras_mlp(20, (100,), 3)
    return common.measure_rounds(
        workload,
        [
            common.Contender(
                "scikit-learn MLPClassifier",
                lambda: MLPClassifier(max_iter=1, batch_size=100, random_state=common.SEED).fit(
                    X, y
                ),
                repeats=many,
            ),
            common.Contender(
                "skdnn, architecture traced before",
                lambda: DNNClassifier(epochs=1, batch_size=100, random_state=common.SEED).fit(X, y),
                repeats=many,
            ),
            common.Contender(
                "skdnn, new architecture every fit",
                lambda: DNNClassifier(
                    hidden_layer_sizes=(next(new_units),),
                    epochs=1,
                    batch_size=100,
                    random_state=common.SEED,
                ).fit(X, y),
                repeats=common.pick(args, full=5, quick=1),
                note="hidden (101,), (102,), ...: a new trace each fit",
            ),
            common.Contender("Keras build + compile + fit", keras_build_fit, repeats=few),
            common.Contender(
                "Keras fit of a compiled model",
                lambda: compiled.fit(X32, y, epochs=1, batch_size=100, verbose=0),
                repeats=few,
                note="same model object each time",
            ),
        ],
        many,
    )


def refit_costs(args):
    """Time refits of one architecture whose other hyperparameters change."""
    from skdnn import DNNClassifier

    X, y = common.small_data()
    params = dict(
        hidden_layer_sizes=(100,),
        dropout=0.1,
        optimizer="sgd",
        learning_rate=0.01,
        epochs=5,
        n_iter_no_change=None,
        random_state=common.SEED,
    )
    values = itertools.count(1)

    def refit(**changes):
        return lambda: DNNClassifier(**{**params, **changes}).fit(X, y)

    DNNClassifier(**params).fit(X, y)  # traced before: every contender reuses it
    repeats = common.pick(args, full=10, quick=2)
    return common.measure_rounds(
        f"refit {len(X):,} rows, hidden (100,), SGD, 5 epochs",
        [
            common.Contender("skdnn, same hyperparameters", refit(), repeats=repeats),
            common.Contender(
                "skdnn, new momentum every fit",
                lambda: refit(momentum=1 / (2 + next(values)), nesterov=True)(),
                repeats=repeats,
            ),
            common.Contender(
                "skdnn, new dropout rate every fit",
                lambda: refit(dropout=1 / (3 + next(values)))(),
                repeats=repeats,
            ),
            common.Contender(
                "skdnn, new learning rate and alpha every fit",
                lambda: refit(learning_rate=1 / (50 + next(values)), alpha=1e-3 * next(values))(),
                repeats=repeats,
            ),
        ],
        repeats,
    )


def grid_search(args):
    """Time GridSearchCV 3 folds x 4 candidates; return the results."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier

    from skdnn import DNNClassifier

    X, y = common.small_data()
    workload = "GridSearchCV 3x4, 20 epochs"
    repeats = common.pick(args, full=3, quick=1)
    # --quick: one run each (no cold run) but for n_jobs=2, whose cold run
    # starts the workers and would make a single run meaningless.
    cold = not args.quick
    sizes = [(50,), (100,)]
    rates = [1e-3, 1e-2]
    mlp = MLPClassifier(
        max_iter=20, batch_size=200, tol=0.0, n_iter_no_change=10_000, random_state=common.SEED
    )
    dnn = DNNClassifier(
        epochs=20, batch_size=200, tol=0.0, n_iter_no_change=1000, random_state=common.SEED
    )

    def search(estimator, rate_name, n_jobs):
        grid = {rate_name: rates, "hidden_layer_sizes": sizes}
        return lambda: GridSearchCV(estimator, grid, cv=3, n_jobs=n_jobs).fit(X, y)

    return common.measure_rounds(
        workload,
        [
            common.Contender(
                "scikit-learn MLPClassifier, n_jobs=1",
                search(mlp, "learning_rate_init", 1),
                cold=cold,
            ),
            common.Contender("skdnn, n_jobs=1", search(dnn, "learning_rate", 1), cold=cold),
            common.Contender(
                "skdnn, n_jobs=2",
                search(dnn, "learning_rate", 2),
                note="cold run starts the joblib workers",
            ),
        ],
        repeats,
    )


def repeated_fits(args, new_architecture, clear_session_every=None):
    """RSS after consecutive skdnn fits; return ``[(fits, rss)]``, first is (0, before).

    With ``new_architecture``, fit number i has ``hidden_layer_sizes=(9 + i,)``
    (``(209 + i,)`` with ``clear_session_every``, so that no architecture was
    seen before); with ``clear_session_every=k``, ``keras.utils.clear_session()``
    runs after every k fits, as Keras recommends for loops that build many
    models (it frees TensorFlow's kernel caches, and resets Keras's global
    naming state: the user's call to make, never skdnn's).
    """
    import keras

    from skdnn import DNNClassifier

    X, y = common.small_data()
    checkpoints = common.pick(args, full=(1, 10, 50, 100), quick=(1, 5, 10))
    gc.collect()
    readings = [(0, common.rss())]
    for n_fits in range(1, checkpoints[-1] + 1):
        first = 209 if clear_session_every else 9
        hidden = (first + n_fits,) if new_architecture else (100,)
        DNNClassifier(
            hidden_layer_sizes=hidden, epochs=5, batch_size=200, random_state=common.SEED
        ).fit(X, y)
        if clear_session_every and n_fits % clear_session_every == 0:
            keras.utils.clear_session()
        if n_fits in checkpoints:
            gc.collect()
            readings.append((n_fits, common.rss()))
    return readings


def print_readings(readings, title):
    """Print the RSS readings of :func:`repeated_fits`."""
    (_, before), (_, after_first) = readings[0], readings[1]
    print(
        f"\n## Resident memory over {readings[-1][0]} consecutive skdnn fits, {title} "
        f"(small workload, 5 epochs)\n"
    )
    common.print_aligned(
        ["fits", "RSS", "growth since before fit 1", "growth since fit 1"],
        [
            [
                str(n),
                common.mib(value),
                common.mib(value - before),
                common.mib(value - after_first) if n else "-",
            ]
            for n, value in readings
        ],
        right={0, 1, 2, 3},
    )
    (n_a, rss_a), (n_b, rss_b) = readings[2], readings[-1]
    per_fit = (rss_b - rss_a) / (n_b - n_a)
    print(f"\nslope between fit {n_a} and fit {n_b}: {per_fit / 2**10:,.0f} KiB per fit")


def peak_memory(args):
    """Peak RSS growth of one large fit per contender; return ``(rows, X.nbytes)``."""
    from sklearn.neural_network import MLPClassifier

    from skdnn import DNNClassifier

    n_rows = common.pick(args, full=60_000, quick=12_000)
    X, y = common.large_data(n_rows)
    hidden, epochs = (256, 128), 5

    def mlp_fit():
        MLPClassifier(
            hidden_layer_sizes=hidden,
            max_iter=epochs,
            batch_size=200,
            tol=0.0,
            n_iter_no_change=10_000,
            random_state=common.SEED,
        ).fit(X, y)

    def dnn_fit():
        DNNClassifier(
            hidden_layer_sizes=hidden,
            epochs=epochs,
            batch_size=200,
            tol=0.0,
            n_iter_no_change=1000,
            random_state=common.SEED,
        ).fit(X, y)

    def keras_fit():
        common.keras_mlp(784, hidden, 10).fit(X, y, epochs=epochs, batch_size=200, verbose=0)

    rows = []
    for name, fit in [
        ("scikit-learn MLPClassifier", mlp_fit),
        ("skdnn, first fit of this architecture", dnn_fit),
        ("skdnn, second fit", dnn_fit),
        ("Keras build + compile + fit", keras_fit),
    ]:
        with common.PeakRSS(interval=0.01) as memory:
            fit()
        gc.collect()
        kept = common.rss() - memory.before
        rows.append((name, memory, kept))
    return n_rows, X.nbytes, rows


def main(argv=None):
    args = common.parse_args(__doc__.splitlines()[0], argv)
    common.start(args, "bench_overhead: fixed cost per fit, grid search, memory")

    fixed = fixed_cost(args)
    common.print_table("Fixed cost of one fit in a warm process", fixed)
    refits = refit_costs(args)
    common.print_table("Refits of a traced architecture with new hyperparameters", refits)
    grid = grid_search(args)
    common.print_table("GridSearchCV, 3 folds x 4 candidates (refit included)", grid)

    readings = repeated_fits(args, new_architecture=False)
    print_readings(readings, "one architecture")
    architectures = repeated_fits(args, new_architecture=True)
    print_readings(architectures, "a new architecture every fit")
    cleared = repeated_fits(args, new_architecture=True, clear_session_every=10)
    print_readings(
        cleared, "a new architecture every fit, keras.utils.clear_session() every 10 fits"
    )

    n_rows, x_bytes, rows = peak_memory(args)
    print(
        f"\n## Peak RSS during one fit on {n_rows:,}x784 float32 "
        f"(X.nbytes = {common.mib(x_bytes)}), 5 epochs, sampled every 10 ms\n"
    )
    common.print_aligned(
        ["contender", "RSS before", "peak", "peak growth", "extra copies of X", "kept after fit"],
        [
            [
                name,
                common.mib(m.before),
                common.mib(m.peak),
                common.mib(m.growth),
                f"{m.growth / x_bytes:.2f}",
                common.mib(kept),
            ]
            for name, m, kept in rows
        ],
        right={1, 2, 3, 4, 5},
    )

    def get(results, prefix):
        return next(r for r in results if r.contender.startswith(prefix))

    print("\nGoals:")
    same = get(refits, "skdnn, same").median
    for prefix in ("skdnn, new momentum", "skdnn, new dropout"):
        ratio = get(refits, prefix).median / same
        common.print_goal(
            f"{prefix[7:]} costs at most 1.5x a refit with the same ones",
            ratio <= 1.5,
            f"{ratio:.2f}x",
        )
    for prefix in ("skdnn, architecture traced before", "skdnn, new architecture"):
        cost = get(fixed, prefix).median
        common.print_goal(
            f"fixed cost per fit under 100 ms ({prefix})", cost < 0.1, common.format_seconds(cost)
        )
    sk, one, two = (
        get(grid, p).median for p in ("scikit-learn", "skdnn, n_jobs=1", "skdnn, n_jobs=2")
    )
    common.print_goal(
        "GridSearchCV within 3x of MLPClassifier", one <= 3 * sk, f"{one / sk:.2f}x (n_jobs=1)"
    )
    common.print_goal(
        "GridSearchCV n_jobs=2 faster than n_jobs=1",
        two < one,
        f"{common.format_seconds(two)} vs {common.format_seconds(one)} ({two / one:.2f}x)",
    )
    growth = readings[-1][1] - readings[0][1]
    common.print_goal(
        f"{readings[-1][0]} consecutive fits grow RSS by less than 100 MB",
        growth < 100e6,
        common.mib(growth),
    )
    growth = architectures[-1][1] - architectures[0][1]
    common.print_goal(
        f"{architectures[-1][0]} fits of different architectures grow RSS by less than 100 MB",
        growth < 100e6,
        common.mib(growth),
    )
    growth = cleared[-1][1] - cleared[0][1]
    common.print_goal(
        "the same with keras.utils.clear_session() every 10 fits, under 100 MB",
        growth < 100e6,
        common.mib(growth),
    )
    first = rows[1][1]
    common.print_goal(
        "a large fit keeps no more than one extra copy of X (first fit, peak)",
        first.growth <= x_bytes,
        f"{first.growth / x_bytes:.2f} copies",
    )


if __name__ == "__main__":
    main()
