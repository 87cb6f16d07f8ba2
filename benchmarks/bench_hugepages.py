"""Transparent huge pages for PyTorch's CPU allocator: one epoch, side by side.

PyTorch reads ``THP_MEM_ALLOC_ENABLE`` once, at its first large allocation, so
each setting needs a fresh process. This script starts fresh processes that
alternate between ``THP_MEM_ALLOC_ENABLE=0`` (PyTorch's default) and ``=1``
(order A B B A A B ..., so that drift in the machine's load hits both alike),
each timing one training epoch of the paper's network (552 bins, 256 filters,
batch 96) on a stand-in of the 1170 scene clips (about 2000 frames each), and
reports the medians and their ratio.

Run from the repository root::

    python benchmarks/bench_hugepages.py            # 3 epochs per setting
    python benchmarks/bench_hugepages.py --repeats 5 --clips 1170
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import environment, median, parse_args, print_table, write_json

# One epoch in a fresh process; prints its seconds as the last line.
_EPOCH_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
from _common import class_spectrograms, dcase_like_frames
from sklearn_allconv import SceneClassifier
n_clips, threads = int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
rng = np.random.default_rng(0)
X, y = class_spectrograms(dcase_like_frames(n_clips, rng), 552, 15, rng)
clf = SceneClassifier(
    max_epochs=1, batch_size=96, train_split=None, device="cpu", random_state=0
)
start = time.perf_counter()
clf.fit(X, y)
print(time.perf_counter() - start)
"""


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clips", type=int, default=1170, help="clips per epoch (default: 1170)"
    )


def _epoch(setting: str, n_clips: int, threads: int) -> float:
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": setting}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _EPOCH_SCRIPT,
            str(Path(__file__).parent),
            str(n_clips),
            str(threads),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[1],
    )
    return float(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args("bench_hugepages", __doc__.splitlines()[0], _options)
    threads = args.threads or os.cpu_count() or 1
    seconds: dict[str, list[float]] = {"0": [], "1": []}
    order = ["0", "1"]
    for _ in range(args.repeats):
        for setting in order:
            seconds[setting].append(_epoch(setting, args.clips, threads))
            print(f"THP_MEM_ALLOC_ENABLE={setting}: {seconds[setting][-1]:.1f} s")
        order.reverse()
    medians = {setting: median(values) for setting, values in seconds.items()}
    result: dict[str, Any] = {
        "environment": environment(),
        "clips": args.clips,
        "threads": threads,
        "seconds": seconds,
        "median_seconds": medians,
        "speed_up": medians["0"] / medians["1"],
    }
    print_table(
        f"One epoch, {args.clips} clips, {threads} threads, fresh processes",
        ["THP_MEM_ALLOC_ENABLE", "median s", "epochs (s)"],
        [[s, medians[s], " ".join(f"{t:.1f}" for t in seconds[s])] for s in ("0", "1")],
    )
    print(f"speed-up with huge pages: {result['speed_up']:.2f}x")
    write_json(args.output, result)


if __name__ == "__main__":
    main()
