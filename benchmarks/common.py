"""Shared helpers of the skdnn benchmarks: data, timing, tables, environment.

Every benchmark script imports this module first. It sets only
``TF_CPP_MIN_LOG_LEVEL`` (with ``setdefault``, before TensorFlow is imported)
and silences scikit-learn's ``ConvergenceWarning``: the benchmarks run a fixed
number of epochs on purpose. Nothing else global is changed.
"""

import argparse
import datetime
import gc
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)

SEED = 0
REPO_ROOT = Path(__file__).resolve().parent.parent

# The contender every ratio is taken against: a row whose name starts with this.
BASELINE_PREFIX = "scikit-learn"


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------
def parse_args(description, argv=None):
    """Parse the options every benchmark script takes.

    ``--quick`` runs fewer repeats on smaller data (a smoke run);
    ``--no-header`` skips the environment header (``run_all.py`` prints it once).
    """
    return make_parser(description).parse_args(argv)


def make_parser(description):
    """The parser of :func:`parse_args`, for scripts that add options of their own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats and smaller data: a smoke run, not a measurement",
    )
    parser.add_argument(
        "--no-header",
        action="store_true",
        help="do not print the environment header (run_all.py prints it once)",
    )
    return parser


def pick(args, *, full, quick):
    """Return ``quick`` under ``--quick``, else ``full``."""
    return quick if args.quick else full


# ----------------------------------------------------------------------------
# Data and raw-Keras networks shared by the scripts
# ----------------------------------------------------------------------------
def small_data(n_samples=2000):
    """The small workload: make_classification, 20 features, 3 classes (float64)."""
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=n_samples,
        n_features=20,
        n_informative=10,
        n_classes=3,
        random_state=SEED,
    )


def large_data(n_samples=60000, n_features=784, n_classes=10):
    """Fashion-MNIST-sized synthetic float32 data with learnable labels."""
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    weights = rng.standard_normal((n_features, n_classes), dtype=np.float32)
    y = np.argmax(X @ weights, axis=1).astype(np.int64)
    return X, y


def keras_mlp(n_features, hidden_layer_sizes, n_classes, **compile_kwargs):
    """A raw Keras MLP as the Keras tutorials write it: Dense(relu)..., softmax.

    Compiled with Adam (learning rate 1e-3, as skdnn's and scikit-learn's
    default) and sparse categorical cross-entropy; ``compile_kwargs`` go to
    ``compile`` (``steps_per_execution``, ``jit_compile``). Initializers are
    seeded so that every build is the same network.
    """
    import keras

    layers = [keras.Input((n_features,))]
    for i, units in enumerate(hidden_layer_sizes):
        layers.append(
            keras.layers.Dense(
                units,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=SEED + i),
            )
        )
    layers.append(
        keras.layers.Dense(
            n_classes,
            activation="softmax",
            kernel_initializer=keras.initializers.GlorotUniform(seed=SEED + 100),
        )
    )
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        **compile_kwargs,
    )
    return model


# ----------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------
@dataclass
class Result:
    """Timings of one contender on one workload.

    ``times`` are the warm repetitions in seconds; ``cold`` the first call's
    time (warm-up: imports, tracing, thread pools), reported apart. ``items``
    is how many samples one repetition processes, for a throughput column.
    """

    workload: str
    contender: str
    times: list
    cold: float = None
    items: int = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def min(self):
        return min(self.times)

    @property
    def max(self):
        return max(self.times)

    @property
    def throughput(self):
        return None if self.items is None else self.items / self.median


@dataclass
class Contender:
    """One way of doing a workload: ``func()`` is timed.

    ``cold=False`` skips the separate cold call (for contenders whose every
    call is as cold as the first, e.g. a fresh Keras model per fit);
    ``repeats`` overrides the number of timed calls.
    """

    name: str
    func: object
    cold: bool = True
    repeats: int = None
    note: str = ""


def _timed(func):
    gc.collect()  # outside the timing: nobody pays for another's garbage
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def measure_rounds(workload, contenders, repeats, *, items=None):
    """Time each :class:`Contender`, interleaved, and return one :class:`Result` each.

    First every contender's cold call, then rounds in which each contender
    runs once, so that a change in the machine's load during the run hits
    all contenders alike rather than one block of them. ``items`` (samples
    per call) adds a throughput. The last return value of each ``func`` is
    in ``result.extra["value"]``.
    """
    results = [Result(workload, c.name, [], items=items, note=c.note) for c in contenders]
    for contender, result in zip(contenders, results, strict=True):
        if contender.cold:
            result.cold, result.extra["value"] = _timed(contender.func)
    counts = [repeats if c.repeats is None else c.repeats for c in contenders]
    for round_ in range(max(counts)):
        for contender, result, count in zip(contenders, results, counts, strict=True):
            if round_ < count:
                elapsed, result.extra["value"] = _timed(contender.func)
                result.times.append(elapsed)
    return results


def measure_calls(workload, contender, func, *, max_calls, budget_s, min_calls=5, note=""):
    """Time each of many calls of a fast ``func`` (latency): median of calls.

    The first call is the cold one. Calls stop after ``max_calls`` or when
    ``budget_s`` seconds have been spent (but not before ``min_calls``).
    """
    gc.collect()
    start = time.perf_counter()
    func()
    cold_time = time.perf_counter() - start
    times = []
    spent_since = time.perf_counter()
    while len(times) < max_calls and (
        len(times) < min_calls or time.perf_counter() - spent_since < budget_s
    ):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    note = f"{len(times)} calls" + (f"; {note}" if note else "")
    return Result(workload, contender, times, cold=cold_time, note=note)


# ----------------------------------------------------------------------------
# Memory
# ----------------------------------------------------------------------------
def rss():
    """Resident set size of this process, in bytes."""
    import psutil

    return psutil.Process().memory_info().rss


class PeakRSS:
    """Context manager sampling this process's RSS in a background thread.

    ``before`` is the RSS on entry, ``peak`` the largest sample (every
    ``interval`` seconds, plus one on entry and one on exit).
    """

    def __init__(self, interval=0.01):
        self.interval = interval
        self.before = self.peak = self.after = None
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            self._stop.wait(self.interval)

    def __enter__(self):
        gc.collect()
        self.before = self.peak = rss()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.after = rss()
        self.peak = max(self.peak, self.after)
        return False

    @property
    def growth(self):
        return self.peak - self.before


def mib(n_bytes):
    return f"{n_bytes / 2**20:,.1f} MiB"


# ----------------------------------------------------------------------------
# Whole processes (a user's script, timed from outside)
# ----------------------------------------------------------------------------
def jax_cache_environment(cache_dir):
    """The environment variables that turn on JAX's persistent compilation cache.

    JAX reads its ``jax_*`` options from upper-case environment variables at
    import. ``JAX_COMPILATION_CACHE_DIR`` turns the cache on; by default JAX
    stores only programs that took at least 1 s to compile, which leaves out
    nearly every training step of a small network, so the other two store
    every program, whatever its compile time and size.
    """
    return {
        "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
    }


def child_environment(skdnn_root=None, **overrides):
    """``os.environ`` for a child Python process that imports skdnn from this tree.

    ``TF_CPP_MIN_LOG_LEVEL=3`` and the repository root (or ``skdnn_root``,
    a directory holding another copy of ``skdnn/``) first on ``PYTHONPATH``;
    then ``overrides``, where a value of None removes the variable.
    """
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    path = env.get("PYTHONPATH")
    root = str(skdnn_root or REPO_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + path if path else "")
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


@dataclass
class ProcessRun:
    """One child process: its wall-clock ``seconds`` as the parent saw them.

    ``report`` is the dict the child printed as its last line of JSON on
    stdout (empty if none); ``error`` says why it failed (None if it did not).
    """

    seconds: float
    returncode: int
    report: dict
    error: str = None


def failure_reason(stderr, returncode):
    """The last meaningful line of a failed child's stderr (the exception), shortened."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reason = lines[-1] if lines else f"exit status {returncode}"
    return reason if len(reason) <= 120 else reason[:117] + "..."


def run_process(command, env, timeout=1800):
    """Run ``command`` (a list) as a fresh process; return a :class:`ProcessRun`.

    The time is the parent's wall clock from just before the process starts
    to just after it exits: interpreter start-up, imports and all.
    """
    import json

    gc.collect()
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return ProcessRun(time.perf_counter() - start, -1, {}, f"timed out after {timeout} s")
    seconds = time.perf_counter() - start
    report = {}
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith("{"):
            try:
                report = json.loads(line)
            except ValueError:
                continue
            break
    error = None
    if completed.returncode != 0:
        error = failure_reason(completed.stderr, completed.returncode)
    return ProcessRun(seconds, completed.returncode, report, error)


# ----------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------
def format_seconds(seconds):
    """Human units: us below 1 ms, ms below 1 s, else s."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s"


def format_ratio(ratio):
    if ratio is None:
        return "-"
    return f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def format_rate(per_second):
    if per_second is None:
        return ""
    if per_second >= 1000:
        return f"{per_second / 1000:,.1f}k"
    return f"{per_second:,.0f}"


def baseline_of(results, workload):
    """The scikit-learn row of ``workload``, or None."""
    for result in results:
        if result.workload == workload and result.contender.startswith(BASELINE_PREFIX):
            return result
    return None


def print_aligned(headers, rows, right=()):
    """Print rows of strings as aligned plain-text columns.

    ``right`` holds the indices of right-aligned columns.
    """
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells):
        parts = [
            str(cell).rjust(width) if i in right else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def print_table(title, results, rate_label=None):
    """Print ``results`` as a table: median, min-max, cold and ratio vs scikit-learn.

    The ratio is the contender's median over the scikit-learn median of the
    same workload: above 1 the contender is slower. With ``rate_label`` a
    throughput column (``items / median``) is added.
    """
    print(f"\n## {title}\n")
    headers = ["workload", "contender", "median", "min - max", "cold (1st)", "vs sklearn"]
    if rate_label:
        headers.append(rate_label)
    headers.append("note")
    rows = []
    previous = None
    for result in results:
        baseline = baseline_of(results, result.workload)
        ratio = result.median / baseline.median if baseline else None
        row = [
            result.workload if result.workload != previous else "",
            result.contender,
            format_seconds(result.median),
            f"{format_seconds(result.min)} - {format_seconds(result.max)}",
            format_seconds(result.cold),
            format_ratio(ratio),
        ]
        if rate_label:
            row.append(format_rate(result.throughput))
        row.append(result.note)
        rows.append(row)
        previous = result.workload
    right = {2, 4, 5} | ({6} if rate_label else set())
    print_aligned(headers, rows, right=right)
    sys.stdout.flush()


def print_goal(description, achieved, value):
    """One line of the goals check: PASS/MISS, the goal and what was measured."""
    print(f"  [{'PASS' if achieved else 'MISS'}] {description}: {value}")


def print_section(title):
    print(f"\n# {title}")
    sys.stdout.flush()


# ----------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------
def _git(*args):
    try:
        return subprocess.run(
            ["git", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def skdnn_state():
    """``skdnn <version> (git <commit>[, skdnn/ modified])``: what was measured."""
    import skdnn

    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    modified = bool(_git("status", "--porcelain", "--", "skdnn"))
    return f"skdnn {skdnn.__version__} (git {commit}{', skdnn/ modified' if modified else ''})"


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _installed_version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _installed(module):
    return importlib.util.find_spec(module) is not None


def environment():
    """Describe the machine and versions as ``(label, value)`` pairs."""
    import keras
    import psutil
    import sklearn
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    gpu_names = []
    for gpu in gpus:
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except Exception:  # noqa: BLE001 - details are optional
            details = {}
        gpu_names.append(details.get("device_name", gpu.name))
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("machine", f"{platform.system()} {platform.machine()}, {_cpu_name()}"),
        (
            "CPUs",
            f"{os.cpu_count()} ({usable} usable by this process), "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM",
        ),
        ("load average", f"{load} (1, 5, 15 min)"),
        ("python", platform.python_version()),
        ("tensorflow", tf.__version__),
        ("keras", f"{keras.__version__} (backend {keras.config.backend()})"),
        ("scikit-learn", sklearn.__version__),
        ("numpy", np.__version__),
        ("jax", _installed_version("jax")),
        # Both weigh on every process's start: ml_dtypes 0.7.0 takes 0.6 s to
        # import, and Keras imports matplotlib and IPython when they are there.
        ("ml_dtypes", _installed_version("ml_dtypes")),
        (
            "Keras imports",
            ", ".join(name for name in ("matplotlib", "IPython") if _installed(name))
            or "neither matplotlib nor IPython (not installed)",
        ),
        ("GPU", ", ".join(gpu_names) if gpus else "none seen by TensorFlow (CPU only)"),
        ("skdnn", skdnn_state()),
    ]


def print_environment(quick=False):
    print("# Environment\n")
    pairs = environment() + [("mode", "--quick (smoke run)" if quick else "full")]
    width = max(len(label) for label, _ in pairs)
    for label, value in pairs:
        print(f"{label.ljust(width)}  {value}")
    sys.stdout.flush()


def start(args, title):
    """Print the header (unless ``--no-header``) and the script's title."""
    if not args.no_header:
        print_environment(quick=args.quick)
    print_section(title + (" (--quick)" if args.quick else ""))
    if args.no_header:
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        print(f"({skdnn_state()}; load average {load})")
