"""Cross-validation in parallel: n_jobs=1 against loky and dask workers.

``cross_val_score`` of a ``SceneClassifier`` over ``--folds`` folds of synthetic
spectrograms, wall time of each way of running the folds:

- ``n_jobs=1``: one after the other, in this process, with torch's threads;
- ``loky n_jobs=2``: joblib's process workers, each limited by joblib to its
  share of the cores (``OMP_NUM_THREADS`` = cores / workers);
- ``dask 2 workers``: ``joblib.parallel_config(backend="dask")`` on a
  ``LocalCluster(n_workers=2, processes=True, threads_per_worker=1)`` (the
  nannies limit OpenMP to one thread per worker).

The candidates run interleaved, ``--repeats`` times after a warm-up round
(which starts the loky workers; the dask cluster is started before it), and
the medians are reported, with each candidate's largest score difference to
``n_jobs=1`` (0 expected). A loky candidate with another thread limit would
restart loky's workers, imports included, at every turn: it is left out.
Needs the ``dask`` extra.
"""

from __future__ import annotations

import argparse
import os

import joblib
import numpy as np
from _common import (
    class_spectrograms,
    environment,
    interleaved,
    median,
    parse_args,
    print_table,
    write_json,
)
from distributed import Client, LocalCluster
from sklearn.model_selection import StratifiedKFold, cross_val_score

from sklearn_allconv import SceneClassifier


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=64, help="clips (default: 64)")
    parser.add_argument("--folds", type=int, default=4, help="folds (default: 4)")
    parser.add_argument(
        "--epochs", type=int, default=4, help="epochs per fit (default: 4)"
    )


def main() -> None:
    args = parse_args("bench_parallel_search", __doc__, _options)
    rng = np.random.default_rng(0)
    frames = rng.integers(150, 300, args.clips)
    X, y = class_spectrograms(frames, 128, 4, rng)
    estimator = SceneClassifier(
        max_epochs=args.epochs, batch_size=16, module__n_filters=64, random_state=0
    )
    cv = StratifiedKFold(args.folds)
    cores = len(os.sched_getaffinity(0))
    scores: dict[str, np.ndarray] = {}

    def run(name: str, **kwargs: object) -> None:
        scores[name] = cross_val_score(estimator, X, y, cv=cv, **kwargs)

    def on_dask() -> None:
        with joblib.parallel_config(backend="dask"):
            run("dask 2 workers")

    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        times = interleaved(
            {
                "n_jobs=1": lambda: run("n_jobs=1", n_jobs=1),
                "loky n_jobs=2": lambda: run("loky n_jobs=2", n_jobs=2),
                "dask 2 workers": on_dask,
            },
            args.repeats,
        )
    baseline = median(times["n_jobs=1"])
    rows = []
    for name, values in times.items():
        difference = float(np.abs(scores[name] - scores["n_jobs=1"]).max())
        rows.append([name, median(values), baseline / median(values), difference])
    print_table(
        f"cross_val_score, {args.folds} folds of {args.clips} clips, {cores} cores "
        f"(median of {args.repeats})",
        ["candidate", "wall s", "speed-up", "max |score - n_jobs=1|"],
        rows,
    )
    write_json(
        args.output,
        {
            "environment": environment(),
            "settings": {k: v for k, v in vars(args).items() if k != "output"},
            "times_s": times,
            "scores": scores,
        },
    )


if __name__ == "__main__":
    main()
