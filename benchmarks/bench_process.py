"""Speed as a user meets it: whole processes, skdnn on each backend vs scikit-learn's MLP.

Four user tasks (those of issue 10), each written out as the small,
self-contained script a user would run (imports, data, fit, score), and each
run as a fresh Python process whose wall-clock time the parent measures from
outside: interpreter start-up, imports, data, tracing or compiling, fitting
and scoring, everything the user waits for.

* ``small``: fit + score, ``make_classification`` 2,000 x 20, 3 classes,
  hidden (100,), 50 epochs, Adam 1e-3;
* ``grid-sgd``: ``GridSearchCV``, 3 folds, SGD, learning rate {1e-3, 1e-2}
  x momentum {0, 0.9} (no Nesterov), 30 epochs, same data, refit and score;
* ``grid-depth``: ``GridSearchCV``, 3 folds, Adam, hidden (50,), (100,),
  (100, 100), (100, 100, 100), 30 epochs, same data, refit and score;
* ``large``: fit + score, synthetic float32 60,000 x 784, 10 classes,
  hidden (256, 128), 3 epochs, Adam 1e-3.

Every task uses batches of 200 and runs every epoch (``tol=0`` and a patience
larger than the epochs, for both estimators; each script reports the epochs
it ran and the table flags any shortfall).

Contenders, as columns: ``MLP`` (scikit-learn's ``MLPClassifier``, the
reference of every ratio); ``skdnn TF`` (``KERAS_BACKEND=tensorflow``);
``skdnn JAX`` (``KERAS_BACKEND=jax``, JAX's persistent compilation cache
off); ``skdnn JAX+cache`` (``KERAS_BACKEND=jax`` with the cache on, through
the environment variables a user would set, see
:func:`common.jax_cache_environment`, in a cache directory made for this
run); ``skdnn torch`` (``KERAS_BACKEND=torch``, only when asked for with
``--backends``: issue 10 sets no goals for it). Every child gets
``TF_CPP_MIN_LOG_LEVEL=3``.

The floors, ``Keras TF floor`` and ``Keras JAX floor`` (``floor-tensorflow``,
``floor-jax``, ``floor-torch`` in ``--backends``), run skdnn's script of the
task with its fit and score replaced by ``import keras`` and one Keras
operation (which starts the backend's runtime): what any estimator built on
Keras pays before it trains anything, on that backend. The goals' lines give
each goal's floor beside it; a goal below its floor cannot be met by any
Keras estimator on this machine, and the difference between the two is
all the time a goal leaves for building, compiling and training.

For each task, every contender first runs once untimed: that warms the
operating system's file cache for every contender alike, fills the JAX cache
of ``skdnn JAX+cache`` (so its timed runs find a warm cache, as a user's
second run would), and finds out whether the contender works at all. A
contender that fails is shown as ``n/a (reason)`` and not run again for that
task. Then ``--repeats`` rounds run every contender once, in alternating
order (forwards, then backwards), so that load on the machine hits all of
them alike; the tables give medians.

Run: ``python benchmarks/bench_process.py [--quick] [--tasks small,large]
[--backends tensorflow,jax,jax-cache,torch,floor-tensorflow,floor-jax]
[--repeats 3] [--show-scripts]
[--skdnn-from DIR]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402

SMALL_DATA = (
    "X, y = make_classification(\n"
    "    n_samples=2000, n_features=20, n_informative=10, n_classes=3, random_state=0\n"
    ")"
)


def large_data(n_samples):
    return (
        "rng = np.random.default_rng(0)\n"
        f"X = rng.standard_normal(({n_samples}, 784), dtype=np.float32)\n"
        "y = np.argmax(X @ rng.standard_normal((784, 10), dtype=np.float32), axis=1)"
    )


@dataclass
class Task:
    """One user task: the pieces of its script, for either estimator.

    ``estimator`` holds the keyword arguments both estimators share (as
    code); ``grid`` maps each estimator's parameter name to its values, or is
    None for a single fit.
    """

    name: str
    label: str
    data_imports: str
    data: str
    epochs: int
    estimator: str
    grid: dict = None
    skdnn_only: str = ""
    mlp_only: str = ""
    goals: dict = field(default_factory=dict)


def tasks(quick):
    """The four tasks, sized for a measurement (or a smoke run with ``quick``)."""
    small_epochs = 5 if quick else 50
    grid_epochs = 5 if quick else 30
    large_rows = 6000 if quick else 60_000
    large_epochs = 1 if quick else 3
    make_classification = "from sklearn.datasets import make_classification"
    return [
        Task(
            "small",
            f"fit + score 2,000x20, 3 cl., (100,), {small_epochs} ep.",
            make_classification,
            SMALL_DATA,
            small_epochs,
            "hidden_layer_sizes=(100,), batch_size=200",
            skdnn_only="learning_rate=1e-3",
            mlp_only="learning_rate_init=1e-3",
            goals={"tensorflow": 3.0, "jax-cache": 1.5},
        ),
        Task(
            "grid-sgd",
            f"GridSearchCV 3 folds, SGD lr x momentum, {grid_epochs} ep.",
            make_classification,
            SMALL_DATA,
            grid_epochs,
            "hidden_layer_sizes=(100,), batch_size=200",
            grid={
                "skdnn": {"learning_rate": [1e-3, 1e-2], "momentum": [0.0, 0.9]},
                "mlp": {"learning_rate_init": [1e-3, 1e-2], "momentum": [0.0, 0.9]},
            },
            skdnn_only='optimizer="sgd", nesterov=False',
            mlp_only='solver="sgd", nesterovs_momentum=False',
            goals={"tensorflow": 2.0, "jax-cache": 1.0},
        ),
        Task(
            "grid-depth",
            f"GridSearchCV 3 folds, 4 depths (50,)..(100,100,100), {grid_epochs} ep.",
            make_classification,
            SMALL_DATA,
            grid_epochs,
            "batch_size=200",
            grid={
                key: {"hidden_layer_sizes": [(50,), (100,), (100, 100), (100, 100, 100)]}
                for key in ("skdnn", "mlp")
            },
            skdnn_only="learning_rate=1e-3",
            mlp_only="learning_rate_init=1e-3",
            goals={"tensorflow": 2.0, "jax-cache": 1.2},
        ),
        Task(
            "large",
            f"fit + score {large_rows:,}x784 f32, 10 cl., (256,128), {large_epochs} ep.",
            "import numpy as np",
            large_data(large_rows),
            large_epochs,
            "hidden_layer_sizes=(256, 128), batch_size=200",
            skdnn_only="learning_rate=1e-3",
            mlp_only="learning_rate_init=1e-3",
            goals={"tensorflow": 2.0, "jax-cache": 1.2},
        ),
    ]


def script(task, estimator):
    """The user's script of ``task`` with ``estimator`` ("skdnn", "mlp" or
    "floor"), as text.

    Besides its work, the script notes ``time.perf_counter()`` between its
    phases and prints them as its last line, in JSON, with the score and the
    epochs the (best) estimator ran. The floor is skdnn's script whose fit
    imports Keras and runs one operation instead, and whose score is NaN.
    """
    fit = "model.fit(X, y)"
    score = "model.score(X, y)"
    if estimator in ("skdnn", "floor"):
        imports = "from skdnn import DNNClassifier"
        # Every epoch runs: no tolerance, and a patience beyond the epochs.
        construct = (
            f"DNNClassifier({task.estimator}, {task.skdnn_only}, epochs={task.epochs}, "
            "tol=0.0, n_iter_no_change=1000, random_state=0)"
        )
    else:
        imports = "from sklearn.neural_network import MLPClassifier"
        construct = (
            f"MLPClassifier({task.estimator}, {task.mlp_only}, max_iter={task.epochs}, "
            "tol=0.0, n_iter_no_change=10_000, random_state=0)"
        )
    if task.grid is None:
        model = f"model = {construct}"
        epochs = "model.n_iter_"
    else:
        imports += "\nfrom sklearn.model_selection import GridSearchCV"
        grid = task.grid["mlp" if estimator == "mlp" else "skdnn"]
        model = f"model = GridSearchCV({construct}, {grid!r}, cv=3)"
        epochs = "model.best_estimator_.n_iter_"
    if estimator == "floor":
        # What the first fit of any Keras estimator pays: the import, and the
        # backend's runtime started by a first operation.
        fit = "import keras\n    keras.ops.convert_to_numpy(keras.ops.sum(X[:1]))"
        score = 'float("nan")'
        epochs = str(task.epochs)
    body = """\
        import json
        import time
        import warnings

        started = time.perf_counter()
        {data_imports}
        {imports}

        imported = time.perf_counter()
        {data}
        loaded = time.perf_counter()
        {model}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLP's ConvergenceWarning: fixed epochs on purpose
            {fit}
        fitted = time.perf_counter()
        score = {score}
        done = time.perf_counter()
        print(json.dumps({{
            "import": imported - started, "data": loaded - imported,
            "fit": fitted - loaded, "score": done - fitted, "script": done - started,
            "accuracy": score, "epochs": int({epochs}),
        }}))
    """
    return (
        textwrap.dedent(body)
        .format(
            data_imports=task.data_imports,
            imports=imports,
            data=task.data,
            model=model,
            fit=fit,
            score=score,
            epochs=epochs,
        )
        .replace("\n\n\n", "\n\n")
    )


# The backends a floor can run on, with their labels.
FLOOR_BACKENDS = {"tensorflow": "TF", "jax": "JAX", "torch": "torch"}
# Every contender --backends can name (MLP always runs).
CONTENDER_KEYS = (
    "tensorflow",
    "jax",
    "jax-cache",
    "torch",
    *(f"floor-{b}" for b in FLOOR_BACKENDS),
)


@dataclass
class Contender:
    """One column: which estimator runs, under which environment variables."""

    key: str
    label: str
    estimator: str
    env: dict


def contenders(backends, cache_dir):
    """MLP, then skdnn on each backend asked for (``tensorflow``, ``jax``,
    ``jax-cache``, ``torch``) and the floors asked for (``floor-tensorflow``,
    ``floor-jax``, ``floor-torch``)."""
    no_cache = dict.fromkeys(common.jax_cache_environment(cache_dir), None)
    known = {
        "tensorflow": Contender(
            "tensorflow", "skdnn TF", "skdnn", {"KERAS_BACKEND": "tensorflow", **no_cache}
        ),
        "jax": Contender("jax", "skdnn JAX", "skdnn", {"KERAS_BACKEND": "jax", **no_cache}),
        "jax-cache": Contender(
            "jax-cache",
            "skdnn JAX+cache",
            "skdnn",
            {"KERAS_BACKEND": "jax", **common.jax_cache_environment(cache_dir)},
        ),
        "torch": Contender("torch", "skdnn torch", "skdnn", {"KERAS_BACKEND": "torch"}),
    }
    for backend, label in FLOOR_BACKENDS.items():
        known[f"floor-{backend}"] = Contender(
            f"floor-{backend}",
            f"Keras {label} floor",
            "floor",
            {"KERAS_BACKEND": backend, **no_cache},
        )
    return [Contender("mlp", "MLP", "mlp", {})] + [known[name] for name in backends]


@dataclass
class Outcome:
    """What one contender did on one task: its runs, or why it could not run."""

    runs: list = field(default_factory=list)
    error: str = None
    note: str = ""

    def median(self, phase=None):
        if not self.runs:
            return None
        if phase is None:
            return statistics.median(run.seconds for run in self.runs)
        return statistics.median(run.report.get(phase, float("nan")) for run in self.runs)


def run_task(task, columns, repeats, workdir, skdnn_root=None):
    """Warm-up round, then ``repeats`` alternating rounds; return ``{key: Outcome}``."""
    paths = {}
    for estimator in ("mlp", "skdnn", "floor"):
        paths[estimator] = Path(workdir) / f"{task.name}_{estimator}.py"
        paths[estimator].write_text(script(task, estimator))
    outcomes = {c.key: Outcome() for c in columns}

    def run(contender):
        outcome = outcomes[contender.key]
        if outcome.error:
            return None
        result = common.run_process(
            [sys.executable, str(paths[contender.estimator])],
            common.child_environment(skdnn_root, **contender.env),
        )
        if result.error:
            outcome.error = result.error
            return None
        ran = result.report.get("epochs")
        if ran != task.epochs:
            outcome.note = f"ran {ran} epochs, not {task.epochs}!"
        return result

    for contender in columns:  # untimed: file cache, JAX cache, does it work?
        run(contender)
    for round_ in range(repeats):
        for contender in columns if round_ % 2 == 0 else columns[::-1]:
            result = run(contender)
            if result is not None:
                outcomes[contender.key].runs.append(result)
    return outcomes


def shorten(text, width=60):
    return text if len(text) <= width else text[: width - 3] + "..."


def print_results(results, columns, repeats):
    """The main table (median whole-process time and ratio to MLP) and the phases."""
    headers = ["task"]
    for contender in columns:
        headers += [contender.label] if contender.key == "mlp" else [contender.label, "vs MLP"]
    rows = []
    errors = []
    for task, outcomes in results:
        mlp = outcomes["mlp"].median()
        row = [task.label]
        for contender in columns:
            outcome = outcomes[contender.key]
            if outcome.error:
                cells = [f"n/a ({shorten(outcome.error)})"]
                errors.append(f"{task.name}, {contender.label}: {outcome.error}")
                if contender.key != "mlp":
                    cells.append("-")
            else:
                median = outcome.median()
                cells = [common.format_seconds(median) + (" !" if outcome.note else "")]
                if contender.key != "mlp":
                    cells.append(common.format_ratio(median / mlp) if mlp else "-")
            row += cells
        rows.append(row)
    print(f"\n## Whole process, median of {repeats} (ratio to MLP in the same run)\n")
    common.print_aligned(headers, rows, right=set(range(1, len(headers))))
    for error in errors:
        print(f"  n/a {error}")
    for task, outcomes in results:
        for contender in columns:
            if outcomes[contender.key].note:
                print(f"  ! {task.name}, {contender.label}: {outcomes[contender.key].note}")

    print(
        "\n## Where the time goes (medians; start-up = process total - script's own time:"
        " interpreter start and exit)\n"
    )
    phase_rows = []
    for task, outcomes in results:
        first = True
        for contender in columns:
            outcome = outcomes[contender.key]
            if not outcome.runs:
                continue
            total = outcome.median()
            times = [run.seconds for run in outcome.runs]
            start_up = statistics.median(
                run.seconds - run.report.get("script", float("nan")) for run in outcome.runs
            )
            phase_rows.append(
                [
                    task.name if first else "",
                    contender.label,
                    common.format_seconds(total),
                    f"{common.format_seconds(min(times))} - {common.format_seconds(max(times))}",
                    common.format_seconds(start_up),
                    common.format_seconds(outcome.median("import")),
                    common.format_seconds(outcome.median("data")),
                    common.format_seconds(outcome.median("fit")),
                    common.format_seconds(outcome.median("score")),
                    f"{statistics.median(run.report['accuracy'] for run in outcome.runs):.3f}",
                ]
            )
            first = False
    common.print_aligned(
        [
            "task",
            "contender",
            "total",
            "min - max",
            "start-up",
            "imports",
            "data",
            "fit",
            "score",
            "accuracy",
        ],
        phase_rows,
        right=set(range(2, 10)),
    )


def print_goals(results, columns):
    """Issue 10's goals, for the backends that ran: ratio to MLP, whole process."""
    print("\nGoals (whole process, ratio to MLP in the same run):")
    names = {c.key: c.label for c in columns}
    for task, outcomes in results:
        mlp = outcomes["mlp"].median()
        for key, limit in task.goals.items():
            if key not in outcomes:
                continue
            outcome = outcomes[key]
            label = f"{task.name} on {names[key]} within {limit:.1f}x of MLP"
            if outcome.error or not mlp:
                print(f"  [n/a ] {label}: {shorten(outcome.error or 'MLP failed')}")
                continue
            ratio = outcome.median() / mlp
            detail = f"{ratio:.2f}x"
            floor = outcomes.get(floor_key(key))
            if floor is not None and floor.runs:
                floor_ratio = floor.median() / mlp
                room = limit * mlp - floor.median()
                detail += (
                    f" (Keras floor {floor_ratio:.2f}x: the goal leaves "
                    + (f"{common.format_seconds(room)}" if room > 0 else "no time")
                    + " to build, compile and train)"
                )
            common.print_goal(label, ratio <= limit, detail)


def floor_key(key):
    """The floor contender of the skdnn contender ``key``."""
    return "floor-" + key.removesuffix("-cache")


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks",
        default="small,grid-sgd,grid-depth,large",
        help="comma-separated tasks among small, grid-sgd, grid-depth, large (default: all)",
    )
    parser.add_argument(
        "--backends",
        default="tensorflow,jax,jax-cache,floor-tensorflow,floor-jax",
        help="comma-separated contenders among tensorflow, jax, jax-cache, torch (skdnn) "
        "and floor-tensorflow, floor-jax, floor-torch (Keras's import alone) "
        "(default: tensorflow,jax,jax-cache,floor-tensorflow,floor-jax)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed rounds (default 3; 1 with --quick)"
    )
    parser.add_argument(
        "--show-scripts", action="store_true", help="print the user scripts and exit"
    )
    parser.add_argument(
        "--skdnn-from",
        metavar="DIR",
        help="the children import skdnn from DIR/skdnn (e.g. an exported commit) "
        "instead of this working tree",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or common.pick(args, full=3, quick=1)
    all_tasks = {task.name: task for task in tasks(args.quick)}
    chosen = [all_tasks[name] for name in args.tasks.split(",") if name]
    backends = [name for name in args.backends.split(",") if name]
    unknown = set(backends) - set(CONTENDER_KEYS)
    if unknown:
        parser.error(f"unknown backends: {sorted(unknown)}")

    if args.show_scripts:
        for task in chosen:
            for estimator in ("mlp", "skdnn", "floor"):
                print(f"# ---- {task.name}, {estimator} ----")
                print(script(task, estimator))
        return 0

    common.start(args, "bench_process: whole processes, skdnn per backend vs MLP")
    if args.skdnn_from:
        print(f"the user scripts import skdnn from {Path(args.skdnn_from).resolve()}")
    with tempfile.TemporaryDirectory(prefix="skdnn-bench-process-") as workdir:
        columns = contenders(backends, Path(workdir) / "jax-cache")
        if "jax-cache" in backends:
            print(
                "JAX cache on through: "
                + " ".join(f"{k}={v}" for k, v in common.jax_cache_environment("<dir>").items())
            )
        results = []
        for task in chosen:
            print(f"... {task.name}", flush=True)
            results.append((task, run_task(task, columns, repeats, workdir, args.skdnn_from)))
    print_results(results, columns, repeats)
    print_goals(results, columns)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nload average at the end: {load} (1, 5, 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
