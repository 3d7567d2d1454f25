"""Parallel grid searches: when ``n_jobs=2`` pays, and where its time goes.

Two grids of ``DNNClassifier`` on ``make_classification`` (20 features, 3
classes), ``GridSearchCV`` with 3 folds, batch 200, every epoch run:

* ``big``: 4,000 rows, hidden (50,) / (100,) x learning rate 1e-3 / 1e-2,
  50 epochs: 12 fits and a refit, a search whose ``n_jobs=1`` process takes
  10 s or more on 2 cores (issue 10's goal: ``n_jobs=2`` at most 0.65 of
  that time);
* ``tiny``: 500 rows, hidden (50,) x learning rate 1e-3 / 1e-2, 5 epochs:
  6 fits where starting workers costs more than it saves.

For each skdnn backend (``--backends``, default ``tensorflow,jax``), three
measurements:

1. **Whole process**: the user's script (imports, data, search, score) run as
   a fresh Python process, timed from outside, with ``n_jobs=1``, with
   ``n_jobs=2`` (joblib's default, process workers), with ``n_jobs=2`` on
   joblib's threading backend (``joblib.parallel_config(backend=
   "threading")``: no workers to start, one process's compiled trainers),
   and (big grid) with ``n_jobs=2`` and
   ``SKDNN_NUM_THREADS=2``, so that each worker sizes its pool for both
   cores instead of the one joblib gives it (oversubscription). One untimed
   run of each first, then ``--repeats`` alternating rounds; medians.
2. **Warm process**: one process runs the big grid again and again,
   ``n_jobs=1``, ``n_jobs=2`` and ``n_jobs=2`` on threads in turn: the first
   run of each is the cold
   one (tracing, and starting joblib's workers), the median of the others
   is what a long session pays.
3. **Where the time goes** with ``n_jobs=2``, in one more whole process:
   every fit logs its process, its start and end, and what its process sees
   (``OMP_NUM_THREADS``, ``TF_NUM_INTRAOP_THREADS``, TensorFlow's pool sizes,
   the process's thread count). The timeline shows when each worker process
   was created and was ready for its first fit (start-up and imports), how
   long its first fit (with tracing) and its other fits took, and the refit,
   which ``GridSearchCV`` runs in the parent; the warm process's log shows
   whether joblib reuses its workers from one search to the next.

Run: ``python benchmarks/bench_parallel.py [--quick] [--backends tensorflow]
[--repeats 3] [--parts whole,warm,probe] [--skdnn-from DIR]``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402

# An estimator that logs each fit (process, times, thread settings) as a JSON
# line to the file named by SKDNN_PROBE_LOG. Defined in the user's script
# (``__main__``), so joblib's workers receive it by value.
PROBE = """
class ProbedDNNClassifier(DNNClassifier):
    def fit(self, X, y, **kwargs):
        import os, sys, time
        import psutil
        start = time.time()
        result = super().fit(X, y, **kwargs)
        record = {
            "pid": os.getpid(),
            "start": start, "end": time.time(), "rows": len(X),
            "threads": psutil.Process().num_threads(),
            "env": {name: os.environ.get(name) for name in (
                "OMP_NUM_THREADS", "SKDNN_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")},
        }
        if "tensorflow" in sys.modules:
            threading = sys.modules["tensorflow"].config.threading
            record["tf_pools"] = [
                threading.get_intra_op_parallelism_threads(),
                threading.get_inter_op_parallelism_threads(),
            ]
        with open(os.environ["SKDNN_PROBE_LOG"], "a") as log:
            log.write(json.dumps(record) + "\\n")
        return result
"""


@dataclass
class Grid:
    name: str
    label: str
    rows: int
    epochs: int
    hidden: list
    rates: list

    def search(self, n_jobs, estimator="DNNClassifier"):
        return (
            f"GridSearchCV({estimator}(batch_size=200, epochs={self.epochs}, tol=0.0, "
            "n_iter_no_change=1000, random_state=0), "
            f"{{'hidden_layer_sizes': {self.hidden!r}, 'learning_rate': {self.rates!r}}}, "
            f"cv=3, n_jobs={n_jobs})"
        )


def grids(quick):
    big_epochs = 10 if quick else 50
    return {
        "big": Grid(
            "big",
            f"big: 4,000 rows, 3 folds x 4 candidates, {big_epochs} ep.",
            4000,
            big_epochs,
            [(50,), (100,)],
            [1e-3, 1e-2],
        ),
        "tiny": Grid(
            "tiny", "tiny: 500 rows, 3 folds x 2 candidates, 5 ep.", 500, 5, [(50,)], [1e-3, 1e-2]
        ),
    }


HEAD = """\
import json
import os
import time

started = time.perf_counter()
import joblib
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from skdnn import DNNClassifier

X, y = make_classification(
    n_samples={rows}, n_features=20, n_informative=10, n_classes=3, random_state=0
)
"""


def once_script(grid, n_jobs, probe=False):
    """A user's script: one search with ``n_jobs``, then its score (optionally probed)."""
    estimator = "ProbedDNNClassifier" if probe else "DNNClassifier"
    return (
        HEAD.format(rows=grid.rows)
        + (PROBE if probe else "")
        + f"""
search_started = time.time()
with joblib.parallel_config(backend=os.environ.get("SKDNN_BENCH_JOBLIB", "loky")):
    search = {grid.search(n_jobs, estimator)}.fit(X, y)
search_ended = time.time()
score = search.score(X, y)
print(json.dumps({{
    "search_start": search_started, "search_end": search_ended,
    "epochs": int(search.best_estimator_.n_iter_), "score": score,
}}))
"""
    )


def warm_script(grid, repeats):
    """One process: cold ``n_jobs=1`` and ``n_jobs=2`` searches, then alternating warm ones."""
    return (
        HEAD.format(rows=grid.rows)
        + PROBE
        + f"""
RUNS = {{"n_jobs=1": (1, "loky"), "n_jobs=2": (2, "loky"), "n_jobs=2, threads": (2, "threading")}}
times = {{run: [] for run in RUNS}}
searches = []
order = list(RUNS) + (list(RUNS) + list(RUNS)[::-1]) * {repeats}
for run in order:
    if len(times[run]) > {repeats}:
        continue
    n_jobs, backend = RUNS[run]
    start = time.perf_counter()
    wall_start = time.time()
    with joblib.parallel_config(backend=backend):
        {grid.search("n_jobs", "ProbedDNNClassifier")}.fit(X, y)
    times[run].append(time.perf_counter() - start)
    searches.append({{"run": run, "start": wall_start, "end": time.time()}})
print(json.dumps({{"times": times, "searches": searches}}))
"""
    )


def read_log(path):
    try:
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line]
    except OSError:
        return []


def whole_process(grid, variants, env, repeats, workdir):
    """Time each ``(label, n_jobs, extra_env)`` as a whole process; ``{label: [runs] or error}``."""
    commands = {}
    for label, n_jobs, extra in variants:
        path = Path(workdir) / f"{grid.name}_{n_jobs}.py"
        path.write_text(once_script(grid, n_jobs))
        commands[label] = ([sys.executable, str(path)], common.child_environment(**env, **extra))
    outcomes = {label: [] for label, _, _ in variants}
    errors = {}

    def run(label):
        if label in errors:
            return
        command, child_env = commands[label]
        result = common.run_process(command, child_env)
        if result.error:
            errors[label] = result.error
        elif result.report.get("epochs") != grid.epochs:
            errors[label] = f"ran {result.report.get('epochs')} epochs, not {grid.epochs}"
        else:
            return result

    labels = list(outcomes)
    for label in labels:  # untimed: file cache; does it work?
        run(label)
    for round_ in range(repeats):
        for label in labels if round_ % 2 == 0 else labels[::-1]:
            result = run(label)
            if result is not None:
                outcomes[label].append(result.seconds)
    return {label: errors.get(label, times) for label, times in outcomes.items()}


def print_whole(rows_by_grid, backend_label):
    rows = []
    for grid, outcomes in rows_by_grid:
        serial = outcomes.get("n_jobs=1")
        serial = statistics.median(serial) if isinstance(serial, list) and serial else None
        for i, (label, times) in enumerate(outcomes.items()):
            if isinstance(times, str):
                rows.append([grid.label if i == 0 else "", label, f"n/a ({times[:70]})", "", ""])
                continue
            median = statistics.median(times)
            rows.append(
                [
                    grid.label if i == 0 else "",
                    label,
                    common.format_seconds(median),
                    f"{common.format_seconds(min(times))} - {common.format_seconds(max(times))}",
                    f"{median / serial:.2f}" if serial else "-",
                ]
            )
    print(f"\n## Whole process, {backend_label} (median; ratio to n_jobs=1)\n")
    common.print_aligned(
        ["grid", "run", "median", "min - max", "/ n_jobs=1"], rows, right={2, 3, 4}
    )


def print_warm(report, grid, backend_label):
    print(f"\n## Warm process, {backend_label}, {grid.label} (in one process)\n")
    rows = []
    times = report["times"]
    serial = statistics.median(times["n_jobs=1"][1:]) if len(times["n_jobs=1"]) > 1 else None
    for run, run_times in times.items():
        cold, *warm = run_times
        median = statistics.median(warm) if warm else None
        rows.append(
            [
                run,
                common.format_seconds(cold),
                common.format_seconds(median),
                f"{median / serial:.2f}" if median and serial else "-",
            ]
        )
    common.print_aligned(
        ["run", "cold (1st)", "warm median", "/ n_jobs=1 warm"], rows, right={1, 2, 3}
    )


def worker_reuse(log, searches, parent_pid):
    """Which worker processes served each ``n_jobs=2`` search of the warm process."""
    lines = []
    for number, search in enumerate(searches, 1):
        if search["run"] != "n_jobs=2":
            continue
        pids = sorted(
            {
                r["pid"]
                for r in log
                if search["start"] <= r["start"] <= search["end"] and r["pid"] != parent_pid
            }
        )
        lines.append(f"search {number}: workers {pids}")
    return lines


def print_timeline(log, report, process_start, backend_label):
    """Per process of the probed ``n_jobs=2`` run: start-up, first fit, other fits."""
    print(f"\n## Where the n_jobs=2 time goes, {backend_label} (seconds after the process start)\n")
    search_start = report["search_start"] - process_start
    search_end = report["search_end"] - process_start
    print(f"imports and data done, search starts: {search_start:6.2f} s")
    by_pid = {}
    for record in sorted(log, key=lambda r: r["start"]):
        by_pid.setdefault(record["pid"], []).append(record)
    parent = [
        pid for pid, records in by_pid.items() if records[0]["rows"] == max(r["rows"] for r in log)
    ]
    rows = []
    for pid, records in by_pid.items():
        durations = [r["end"] - r["start"] for r in records]
        first = records[0]
        role = "parent (refit)" if pid in parent else "worker"
        rows.append(
            [
                f"{role} {pid}",
                f"{first['start'] - process_start:.2f}",
                str(len(records)),
                f"{durations[0]:.2f}",
                f"{statistics.median(durations[1:]):.2f}" if len(durations) > 1 else "-",
                f"{sum(durations):.2f}",
                f"{records[-1]['end'] - process_start:.2f}",
                f"{first['env']['OMP_NUM_THREADS']}/{first['env']['SKDNN_NUM_THREADS']}"
                f"/{first['env']['TF_NUM_INTRAOP_THREADS']}",
                "/".join(map(str, first.get("tf_pools", ["-"]))),
                str(max(r["threads"] for r in records)),
            ]
        )
    common.print_aligned(
        [
            "process",
            "1st fit at",
            "fits",
            "1st fit",
            "other fits (median)",
            "busy",
            "last fit ends",
            "OMP/SKDNN/TF_INTRAOP env",
            "TF intra/inter",
            "threads",
        ],
        rows,
        right=set(range(1, 10)),
    )
    print(f"search ends: {search_end:6.2f} s")


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--backends",
        default="tensorflow,jax",
        help="comma-separated Keras backends for skdnn (default: tensorflow,jax)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed rounds (default 3; 1 with --quick)"
    )
    parser.add_argument(
        "--skdnn-from", metavar="DIR", help="the children import skdnn from DIR/skdnn"
    )
    parser.add_argument(
        "--parts",
        default="whole,warm,probe",
        help="comma-separated measurements among whole, warm, probe (default: all)",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or common.pick(args, full=3, quick=1)
    all_grids = grids(args.quick)
    parts = set(args.parts.split(","))
    common.start(args, "bench_parallel: GridSearchCV with n_jobs=1 and n_jobs=2")
    print(f"cores: {os.cpu_count()}; joblib's workers get OMP_NUM_THREADS=cpu_count // n_jobs")
    goals = []
    with tempfile.TemporaryDirectory(prefix="skdnn-bench-parallel-") as workdir:
        for backend in [name for name in args.backends.split(",") if name]:
            label = f"KERAS_BACKEND={backend}"
            env = {"KERAS_BACKEND": backend}
            if args.skdnn_from:
                env_root = {"skdnn_root": args.skdnn_from}
            else:
                env_root = {}
            print(f"... {label}", flush=True)

            def child_env(extra=None, env=env, env_root=env_root):
                return common.child_environment(**env_root, **env, **(extra or {}))

            results = []
            for grid in all_grids.values() if "whole" in parts else ():
                variants = [
                    ("n_jobs=1", 1, {}),
                    ("n_jobs=2", 2, {}),
                    # joblib's threading backend: no worker processes to start,
                    # and the fits share the process's compiled trainers.
                    ("n_jobs=2, threads", 2, {"SKDNN_BENCH_JOBLIB": "threading"}),
                ]
                if grid.name == "big":
                    variants.append(
                        ("n_jobs=2, SKDNN_NUM_THREADS=2", 2, {"SKDNN_NUM_THREADS": "2"})
                    )
                results.append(
                    (grid, whole_process(grid, variants, {**env_root, **env}, repeats, workdir))
                )
            if results:
                print_whole(results, label)
            big = results[0][1] if results else {}
            for run in ("n_jobs=2", "n_jobs=2, threads"):
                if all(isinstance(big.get(k), list) and big[k] for k in ("n_jobs=1", run)):
                    serial, parallel = (statistics.median(big[k]) for k in ("n_jobs=1", run))
                    goals.append((f"{label}, {run}", serial, parallel))

            grid = all_grids["big"]
            log_path = Path(workdir) / f"probe_{backend}.jsonl"
            warm_path = Path(workdir) / f"warm_{backend}.py"
            warm_path.write_text(warm_script(grid, common.pick(args, full=3, quick=1)))
            if "warm" not in parts:
                pass
            elif (
                result := common.run_process(
                    [sys.executable, str(warm_path)], child_env({"SKDNN_PROBE_LOG": log_path})
                )
            ).error:
                print(f"\nwarm process, {label}: n/a ({result.error})")
            else:
                print_warm(result.report, grid, label)
                log = read_log(log_path)
                parent_pids = {r["pid"] for r in log if r["rows"] == grid.rows}
                reuse = worker_reuse(log, result.report["searches"], next(iter(parent_pids), 0))
                print("n_jobs=2 searches in this process, and the worker processes that ran them:")
                for line in reuse:
                    print(f"  {line}")

            log_path = Path(workdir) / f"probe_once_{backend}.jsonl"
            probe_path = Path(workdir) / f"probe_{backend}.py"
            probe_path.write_text(once_script(grid, 2, probe=True))
            if "probe" not in parts:
                continue
            process_start = time.time()
            result = common.run_process(
                [sys.executable, str(probe_path)], child_env({"SKDNN_PROBE_LOG": log_path})
            )
            if result.error:
                print(f"\nprobed n_jobs=2 process, {label}: n/a ({result.error})")
            else:
                print_timeline(read_log(log_path), result.report, process_start, label)
                print(f"process ends: {result.seconds:6.2f} s")

    print("\nGoals:")
    for label, serial, parallel in goals:
        ratio = parallel / serial
        common.print_goal(
            f"{label}: big grid (n_jobs=1 takes {serial:.1f} s) in at most 0.65 of "
            "the n_jobs=1 time",
            ratio <= 0.65 and serial >= 10,
            f"{ratio:.2f}"
            + ("" if serial >= 10 else " (n_jobs=1 under 10 s: grid too small here)"),
        )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nload average at the end: {load} (1, 5, 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
