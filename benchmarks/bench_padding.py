"""Padding efficiency: useful frames over computed frames per epoch.

Every batch is zero-padded to its longest clip (after the random crop, in
training); the network computes the padded frames too. This script runs the
estimators' own data loaders (``SceneClassifier.get_iterator``) over clip
lengths drawn like the scene data set and reports, per epoch, the frames of
the clips over the frames computed, with and without length bucketing, for
training batches (random crops) and for prediction batches (whole clips).

No network is trained and the clips have one bin, so the full data set size
(1170 clips) is the default; it runs in seconds.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _common import dcase_like_frames, environment, parse_args, print_table, write_json

# isort: split
import torch

from sklearn_allconv import SceneClassifier


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clips", type=int, default=1170, help="clips (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs", type=int, default=5, help="epochs averaged (default: %(default)s)"
    )
    parser.add_argument(
        "--short-fraction",
        type=float,
        default=0.1,
        help="fraction of DCASE-like clips cut short (default: %(default)s)",
    )


def distributions(n_clips: int, short_fraction: float) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        f"DCASE-like ({1 - short_fraction:.0%} 30 s)": dcase_like_frames(
            n_clips, rng, short_fraction=short_fraction
        ),
        "uniform 1-30 s": rng.integers(66, 1998, n_clips),
        "all 4 s (tagging)": np.full(n_clips, 265),
    }


def efficiency(
    frames: np.ndarray, *, bucketing: bool, training: bool, epochs: int
) -> dict[str, Any]:
    """Useful / computed frames of each epoch of the estimator's data loader."""
    X = np.empty(len(frames), dtype=object)
    X[:] = [np.zeros((n, 1), dtype=np.float32) for n in frames]
    y = np.zeros(len(frames), dtype=np.int64)
    clf = SceneClassifier(bucketing=bucketing, batch_size=96, device="cpu")
    loader = clf.get_iterator(clf.get_dataset(X, y), training=training)
    torch.manual_seed(0)
    per_epoch = []
    for _ in range(epochs if training else 1):
        useful = computed = 0
        for batch, _ in loader:
            useful += int(batch["lengths"].sum())
            computed += batch["X"].shape[0] * batch["X"].shape[1]
        per_epoch.append(useful / computed)
    return {
        "bucketing": bucketing,
        "training": training,
        "per_epoch": per_epoch,
        "mean": float(np.mean(per_epoch)),
    }


def main() -> None:
    args = parse_args("bench_padding", __doc__.splitlines()[0], _options)
    payload: dict[str, Any] = {"environment": environment(), "results": []}
    rows = []
    for name, frames in distributions(args.clips, args.short_fraction).items():
        for training in (True, False):
            measured = {
                bucketing: efficiency(
                    frames, bucketing=bucketing, training=training, epochs=args.epochs
                )
                for bucketing in (False, True)
            }
            payload["results"].append(
                {
                    "lengths": name,
                    "n_clips": len(frames),
                    "batch_size": 96,
                    "without_bucketing": measured[False],
                    "with_bucketing": measured[True],
                }
            )
            rows.append(
                [
                    name,
                    "training (random crops)" if training else "prediction",
                    measured[False]["mean"],
                    measured[True]["mean"],
                ]
            )
    print_table(
        f"Useful / computed frames, {args.clips} clips, batches of 96 "
        f"(training: mean of {args.epochs} epochs)",
        ["clip lengths", "batches", "without bucketing", "with bucketing"],
        rows,
    )
    write_json(args.output, payload)


if __name__ == "__main__":
    main()
