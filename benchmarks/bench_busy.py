"""Busy machine: CPU and wall time of training, idle and next to busy processes.

CPU time that grows with the machine's load means threads that spin or
oversubscribe the cores, not just sharing. This script measures, for each
workload, the CPU time (user + system, of the process and the worker processes
it waited for) and the wall time:

- ``fit``: a demo-sized fit: ``SceneClassifier`` on 64 clips of 100-200 frames
  x 552 bins, the paper's network (256 filters), batches of 16, 4 epochs;
- ``cv``: ``cross_val_score(n_jobs=2)`` of that fit over 4 folds (joblib's
  process workers);
- ``demo``: ``python -m sklearn_allconv demo`` (``--demo-epochs`` epochs; the
  command's default is 30), a separate process measured as a whole, imports
  included;

each "idle" (whatever else runs on the machine: the load average is recorded)
and "loaded", next to ``--competitors`` (default 3) CPU-bound processes that
spin in pure Python. Every workload runs in a fresh process, candidates and
conditions interleaved, ``--repeats`` times; medians are reported, and the
ratio loaded / idle of the CPU time is the figure to watch (goal: <= 1.25).

Candidates: this checkout, and with ``--before PATH`` another source tree of
the library (e.g. ``git archive`` of an older commit), so that a fix is
measured against what it fixes in the same run. ``--env NAME=VALUE`` adds a
candidate: this checkout with that environment variable (e.g.
``OMP_WAIT_POLICY=PASSIVE``, ``OMP_NUM_THREADS=1``), to find the cause.

Run ``python benchmarks/bench_busy.py`` (about 10 minutes on 2 cores with the
defaults) or ``--workloads fit cv`` to leave the demo out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, environment, print_table, write_json

WORKLOADS = ("fit", "cv", "demo")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "bench_busy.json",
        help="where to write the JSON results (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="rounds (3)")
    parser.add_argument(
        "--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS)
    )
    parser.add_argument(
        "--competitors", type=int, default=3, help="competing processes (3)"
    )
    parser.add_argument(
        "--demo-epochs", type=int, default=30, help="epochs of the demo (30)"
    )
    parser.add_argument(
        "--before", type=Path, help="source tree of the library to compare with"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="add a candidate: this checkout with this environment variable",
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


# Runs in a fresh process with the candidate's source tree on PYTHONPATH and a
# neutral working directory, so that nothing else decides which library loads.
_WORKER = """
import json, resource, sys, time
import numpy as np
import torch
from joblib.externals.loky import get_reusable_executor
from sklearn.model_selection import cross_val_score
import sklearn_allconv
from sklearn_allconv import SceneClassifier

def cpu_seconds():
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF),
                      resource.getrusage(resource.RUSAGE_CHILDREN))
    )

rng = np.random.default_rng(0)
X = np.empty(64, dtype=object)
X[:] = [rng.standard_normal((n, 552), dtype=np.float32)
        for n in rng.integers(100, 200, 64)]
y = np.arange(64) % 8
clf = SceneClassifier(
    max_epochs=4, batch_size=16, train_split=None, device="cpu", random_state=0
)
cpu, wall = cpu_seconds(), time.perf_counter()
if sys.argv[1] == "fit":
    clf.fit(X, y)
else:
    cross_val_score(clf, X, y, cv=4, n_jobs=2)
    # Reap the worker processes, so that their CPU time is counted.
    get_reusable_executor().shutdown(wait=True)
print(json.dumps({
    "cpu_seconds": cpu_seconds() - cpu,
    "wall_seconds": time.perf_counter() - wall,
    "torch_threads": torch.get_num_threads(),
    "library": sklearn_allconv.__file__,
}))
"""


def _command(workload: str, demo_epochs: int) -> list[str]:
    if workload == "demo":
        return [
            sys.executable, "-m", "sklearn_allconv", "demo",
            "--epochs", str(demo_epochs),
        ]
    return [sys.executable, "-c", _WORKER, workload]


def _run(command: list[str], env: dict[str, str], workload: str) -> dict[str, Any]:
    """Run a workload process; its CPU time as the parent sees it, and its own."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        completed = subprocess.run(
            command, env=env, cwd=directory, capture_output=True, text=True,
            check=True,
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "process_cpu_seconds": (after.ru_utime + after.ru_stime)
        - (cpu.ru_utime + cpu.ru_stime),
        "process_wall_seconds": time.perf_counter() - wall,
        "load_average_1min": os.getloadavg()[0],
    }
    if workload != "demo":
        result.update(json.loads(completed.stdout.strip().splitlines()[-1]))
    else:
        result["cpu_seconds"] = result["process_cpu_seconds"]
        result["wall_seconds"] = result["process_wall_seconds"]
    return result


class _Competitors:
    """CPU-bound processes spinning in pure Python while the block runs."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> _Competitors:
        # Each spins until its parent, this script, is gone.
        spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
        self.processes = [
            subprocess.Popen([sys.executable, "-c", spin]) for _ in range(self.count)
        ]
        time.sleep(1.0)  # let them reach the run queue
        return self

    def __exit__(self, *exc: Any) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()


def _candidates(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """Environment of each candidate's processes."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    candidates = {"this checkout": {**base, "PYTHONPATH": str(ROOT)}}
    if args.before:
        candidates["before"] = {**base, "PYTHONPATH": str(args.before.resolve())}
    for setting in args.env:
        name, _, value = setting.partition("=")
        candidates[f"this checkout, {setting}"] = {
            **base, "PYTHONPATH": str(ROOT), name: value
        }
    return candidates


def main() -> None:
    args = _arguments()
    candidates = _candidates(args)
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    payload: dict[str, Any] = {"environment": environment(), "arguments": {
        "repeats": args.repeats, "competitors": args.competitors,
        "demo_epochs": args.demo_epochs,
        "before": str(args.before) if args.before else None,
    }}
    for round_ in range(args.repeats):
        for workload in args.workloads:
            names = list(candidates)
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                for condition in ("idle", "loaded") if round_ % 2 == 0 else (
                    "loaded", "idle"
                ):
                    count = args.competitors if condition == "loaded" else 0
                    with _Competitors(count):
                        result = _run(
                            _command(workload, args.demo_epochs),
                            candidates[name],
                            workload,
                        )
                    runs.setdefault((workload, name, condition), []).append(result)
                    print(
                        f"round {round_ + 1} {workload:4s} {name} {condition}: "
                        f"cpu {result['cpu_seconds']:.1f} s, wall "
                        f"{result['wall_seconds']:.1f} s, load "
                        f"{result['load_average_1min']:.1f}, threads "
                        f"{result.get('torch_threads')}, {result.get('library')}",
                        flush=True,
                    )
    rows, summary = [], []
    for workload in args.workloads:
        for name in candidates:
            medians = {
                condition: {
                    key: statistics.median(
                        r[key] for r in runs[workload, name, condition]
                    )
                    for key in ("cpu_seconds", "wall_seconds", "load_average_1min")
                }
                for condition in ("idle", "loaded")
            }
            ratio = medians["loaded"]["cpu_seconds"] / medians["idle"]["cpu_seconds"]
            summary.append({
                "workload": workload, "candidate": name, "medians": medians,
                "cpu_loaded_over_idle": ratio,
                "runs": {c: runs[workload, name, c] for c in ("idle", "loaded")},
            })
            rows.append([
                workload, name,
                medians["idle"]["cpu_seconds"], medians["idle"]["wall_seconds"],
                medians["loaded"]["cpu_seconds"], medians["loaded"]["wall_seconds"],
                ratio,
            ])
    payload["results"] = summary
    payload["environment_end"] = {"load_average_1min": os.getloadavg()[0]}
    print_table(
        f"CPU and wall seconds, idle and next to {args.competitors} CPU-bound "
        f"processes (medians of {args.repeats}; load average at start "
        f"{payload['environment']['load_average_1min']:.1f})",
        ["workload", "candidate", "idle cpu", "idle wall", "loaded cpu",
         "loaded wall", "cpu loaded / idle"],
        rows,
    )
    write_json(args.output, payload)


if __name__ == "__main__":
    main()
