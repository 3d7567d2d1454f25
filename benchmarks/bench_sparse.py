"""Sparse input (TF-IDF-like): skdnn vs scikit-learn's MLP, speed and peak memory.

Workload: a SciPy CSR matrix of 100,000 rows x 50,000 columns at 0.1 %
density (5 million non-zeros, rows scaled to unit L2 norm as TF-IDF does;
20,000 rows with ``--quick``), 2 classes from a sparse linear rule, hidden
(100,), batch 200, Adam 1e-3, 3 epochs (no early stopping, no stopping rule).
Contenders: ``MLPClassifier`` and ``DNNClassifier``, each fitted the same
number of times in alternating rounds (the first skdnn fit includes tracing,
reported apart). Throughput is ``n_samples x epochs / median fit time``;
peak memory is the growth of the process's RSS during a warm fit, sampled
every 10 ms, against the size of a dense float32 copy of X (which neither
makes). Keras and TensorFlow are imported before anything is measured.

Goals: peak memory growth under 1 GB, and skdnn's samples/s at least half of
scikit-learn's.

Run: ``python benchmarks/bench_sparse.py [--quick]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

EPOCHS = 3


def tfidf_like(n_rows, n_columns=50_000, density=0.001):
    """Return ``(X, y)``: a CSR matrix with unit-norm rows and binary labels."""
    rng = np.random.default_rng(common.SEED)
    X = sp.random(
        n_rows, n_columns, density=density, format="csr", dtype=np.float32, random_state=rng
    )
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1 / np.maximum(norms, 1e-12)).astype(np.float32) @ X
    weights = rng.normal(size=n_columns).astype(np.float32)
    scores = X @ weights
    return X.tocsr(), (scores > np.median(scores)).astype(int)


def main(argv=None):
    args = common.parse_args(__doc__.splitlines()[0], argv)
    common.start(args, "bench_sparse: TF-IDF-like sparse input")
    import keras  # noqa: F401 - imported before any timing or memory reading
    from sklearn.neural_network import MLPClassifier

    from skdnn import DNNClassifier

    n_rows = common.pick(args, full=100_000, quick=20_000)
    X, y = tfidf_like(n_rows)
    dense_bytes = X.shape[0] * X.shape[1] * 4
    print(
        f"X: {X.shape[0]:,} x {X.shape[1]:,} CSR, {X.nnz:,} non-zeros "
        f"({common.mib(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)}); "
        f"a dense float32 copy would take {common.mib(dense_bytes)}"
    )

    peaks = {}

    def run(name, make):
        def fit():
            with common.PeakRSS(interval=0.01) as memory:
                est = make().fit(X, y)
            peaks.setdefault(name, []).append(memory.growth)
            return est

        return fit

    mlp = run(
        "scikit-learn MLPClassifier",
        lambda: MLPClassifier(
            hidden_layer_sizes=(100,),
            max_iter=EPOCHS,
            batch_size=200,
            tol=0.0,
            n_iter_no_change=10_000,
            random_state=common.SEED,
        ),
    )
    dnn = run(
        "skdnn DNNClassifier",
        lambda: DNNClassifier(
            hidden_layer_sizes=(100,),
            epochs=EPOCHS,
            batch_size=200,
            tol=0.0,
            n_iter_no_change=1000,
            random_state=common.SEED,
        ),
    )
    results = common.measure_rounds(
        "sparse fit",
        [
            common.Contender("scikit-learn MLPClassifier", mlp),
            common.Contender("skdnn DNNClassifier", dnn),
        ],
        repeats=common.pick(args, full=2, quick=1),
        items=n_rows * EPOCHS,
    )
    common.print_table(
        f"Fit, {EPOCHS} epochs on {n_rows:,} sparse rows", results, rate_label="samples/s"
    )
    print()
    # The first (cold) fit of each is left out: skdnn's includes starting
    # TensorFlow's runtime and tracing, which no later fit pays again.
    peaks = {name: values[1:] for name, values in peaks.items()}
    common.print_aligned(
        ["contender", "largest peak RSS growth (warm fits)", "as a share of dense X"],
        [
            [name, common.mib(max(values)), f"{max(values) / dense_bytes:.3f}"]
            for name, values in peaks.items()
        ],
        right={1, 2},
    )
    scores = {r.contender: r.extra["value"].score(X[:20_000], y[:20_000]) for r in results}
    print(
        "\ntraining accuracy on the first 20,000 rows: "
        + ", ".join(f"{name} {score:.3f}" for name, score in scores.items())
    )

    mlp_rate, dnn_rate = (r.throughput for r in results)
    print("\nGoals:")
    common.print_goal(
        "peak memory growth of a sparse fit under 1 GB",
        max(peaks["skdnn DNNClassifier"]) < 1e9,
        common.mib(max(peaks["skdnn DNNClassifier"])),
    )
    common.print_goal(
        "samples/s at least half of MLPClassifier's",
        dnn_rate >= mlp_rate / 2,
        f"{dnn_rate / mlp_rate:.2f}x",
    )


if __name__ == "__main__":
    main()
