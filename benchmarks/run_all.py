"""Run every skdnn benchmark, one after the other, under one environment header.

Each script runs in its own fresh Python process (so skdnn is imported anew,
and one script's memory or thread pools do not bias the next), sequentially,
with its tables printed as it goes. ``--quick`` is passed on.
``--whole-process`` adds the two scripts that time whole user processes
(``bench_process.py``, every backend, and ``bench_parallel.py``): they start
many Python processes and take another 20 minutes or so on 2 cores.

Run: ``python benchmarks/run_all.py [--quick] [--whole-process]`` (on the
project's 2 cores: about 5 minutes with ``--quick``, 35 for a full run).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import common  # noqa: E402

SCRIPTS = (
    "bench_fit.py",
    "bench_predict.py",
    "bench_overhead.py",
    "bench_sparse.py",
    "bench_stopping.py",
    "bench_search.py",
)
# Slow: each starts dozens of fresh Python processes. Run with --whole-process.
WHOLE_PROCESS_SCRIPTS = (
    "bench_process.py",
    "bench_parallel.py",
)


def main(argv=None):
    parser = common.make_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--whole-process",
        action="store_true",
        help="also run bench_process.py and bench_parallel.py (slow: many fresh processes)",
    )
    args = parser.parse_args(argv)
    if not args.no_header:
        common.print_environment(quick=args.quick)
    here = Path(__file__).resolve().parent
    started = time.perf_counter()
    failed = []
    for script in SCRIPTS + (WHOLE_PROCESS_SCRIPTS if args.whole_process else ()):
        command = [sys.executable, str(here / script), "--no-header"]
        if args.quick:
            command.append("--quick")
        sys.stdout.flush()
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(script)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\n# Done in {time.perf_counter() - started:.0f} s; load average now {load}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
