"""Inference speed: clips per second of predict_proba on full-length clips.

A SceneClassifier is fitted for one short epoch (its weights do not matter for
speed) and then predicts 30-second clips (1997 frames x 552 bins). It is
compared with a plain PyTorch inference loop (``torch.inference_mode``, the
same network and batches of the same size) in interleaved rounds; the ratio is
the median of per-round ratios. A second table shows prediction in batches of 16 on
clips of mixed lengths (half of them cut short) with and without length
bucketing.

Run ``python benchmarks/bench_inference.py`` (about a minute) or add
``--full`` for 390 clips (one test fold of the scene data set).
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import numpy as np
from _common import (
    class_spectrograms,
    dcase_like_frames,
    environment,
    interleaved,
    median,
    paired_ratio,
    parse_args,
    print_table,
    write_json,
)

# isort: split
import torch

from sklearn_allconv import SceneClassifier

N_BINS = 552
N_CLASSES = 15


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clips", type=int, default=None, help="clips (default: 96, --full: 390)"
    )


def _fitted(X: np.ndarray, y: np.ndarray, **params: Any) -> SceneClassifier:
    # The plain loop's threads, whatever the machine's load (bench_busy.py
    # measures the load-dependent budget).
    return SceneClassifier(
        max_epochs=1,
        batch_size=96,  # the paper's, as in the recorded figures
        train_split=None,
        device="cpu",
        n_threads=torch.get_num_threads(),
        random_state=0,
        **params,
    ).fit(X[:32], y[:32])


def _plain_loop(model: torch.nn.Module, X: np.ndarray, batch_size: int) -> np.ndarray:
    """Equal-length clips, batch by batch, softmax of the logits."""
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            batch = torch.from_numpy(np.stack(X[start : start + batch_size]))
            outputs.append(torch.softmax(model(batch), dim=1))
    return torch.cat(outputs).numpy()


def main() -> None:
    args = parse_args("bench_inference", __doc__.splitlines()[0], _options)
    n_clips = args.clips or (390 if args.full else 96)
    rng = np.random.default_rng(0)
    payload: dict[str, Any] = {"environment": environment(), "n_clips": n_clips}

    X, y = class_spectrograms(np.full(n_clips, 1997), N_BINS, N_CLASSES, rng)
    clf = _fitted(X, y)
    reference = _plain_loop(clf.module_, X, clf.batch_size)
    difference = float(np.abs(clf.predict_proba(X) - reference).max())
    times = interleaved(
        {
            "SceneClassifier.predict_proba": lambda: clf.predict_proba(X),
            "plain PyTorch loop": lambda: _plain_loop(clf.module_, X, clf.batch_size),
        },
        args.repeats,
    )
    payload["full_length"] = {
        "frames": 1997,
        "max_abs_difference": difference,
        "seconds": times,
        "clips_per_second": {k: n_clips / median(v) for k, v in times.items()},
        "ratio_estimator_over_loop": paired_ratio(
            times["SceneClassifier.predict_proba"], times["plain PyTorch loop"]
        ),
    }
    print_table(
        f"predict_proba, {n_clips} clips of 30 s (1997 x 552), batches of 96",
        ["candidate", "clips/s"],
        list(payload["full_length"]["clips_per_second"].items()),
    )
    print(
        "estimator / loop time: "
        f"{payload['full_length']['ratio_estimator_over_loop']:.3f} "
        f"(outputs differ by {difference:.1e})"
    )

    # Batches of 16, so that there are several batches to fill well or badly.
    frames = dcase_like_frames(n_clips, rng, short_fraction=0.5)
    X_mixed, _ = class_spectrograms(frames, N_BINS, N_CLASSES, rng)
    bucketed = copy.deepcopy(clf).set_params(batch_size=16)
    plain = copy.deepcopy(clf).set_params(batch_size=16, bucketing=False)
    times = interleaved(
        {
            "bucketing": lambda: bucketed.predict_proba(X_mixed),
            "no bucketing": lambda: plain.predict_proba(X_mixed),
        },
        args.repeats,
    )
    payload["mixed_lengths"] = {
        "short_fraction": 0.5,
        "seconds": times,
        "clips_per_second": {k: n_clips / median(v) for k, v in times.items()},
        "max_abs_difference": float(
            np.abs(bucketed.predict_proba(X_mixed) - plain.predict_proba(X_mixed)).max()
        ),
        "speed_up_bucketing": paired_ratio(times["no bucketing"], times["bucketing"]),
    }
    print_table(
        f"predict_proba, {n_clips} clips, half of them cut to 1.5-30 s, batches of 16",
        ["candidate", "clips/s"],
        list(payload["mixed_lengths"]["clips_per_second"].items()),
    )
    print(
        f"speed-up of bucketing: {payload['mixed_lengths']['speed_up_bucketing']:.3f}x"
    )
    payload["environment_end"] = {
        "load_average_1min": environment()["load_average_1min"]
    }
    write_json(args.output, payload)


if __name__ == "__main__":
    main()
