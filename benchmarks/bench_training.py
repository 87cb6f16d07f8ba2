"""Training speed: SceneClassifier against a hand-written PyTorch loop.

Measures, on synthetic DCASE-like spectrograms (552 bins; most clips 30 s,
i.e. 1997 frames, some shorter; 15 classes):

1. wrapper overhead: one epoch of ``SceneClassifier.fit`` (``max_epochs=1``,
   no validation split, random crops, length bucketing) against a minimal
   PyTorch loop (Adam, cross entropy, zero_grad / backward / step) training the
   same network on the same batches (same sampler, collate function and seed;
   the script checks that the batches are identical); ratio = epoch time of
   the estimator over that of the loop, median of per-round ratios;
2. achieved GFLOP/s of both, from the convolution and linear FLOPs of the
   batches actually computed (forward + weight gradients + input gradients;
   the first layer needs no input gradient), against a large float32 matrix
   product timed in the same rounds;
3. network formulations: the layers as Conv1d in (batch, channels, frames)
   layout (the previous implementation) against the matrix-product formulation
   of ``AllConvNet`` in (batch, frames, channels) layout, one training step on
   one unpadded batch;
4. bfloat16: the speed of one training step with ``torch.autocast(bfloat16)``
   against float32, and the accuracy of a small SceneClassifier trained with
   ``precision="bfloat16"`` against one trained in float32;
5. threads and environment: one training step with 1 and 2 intra-op threads,
   for a tiny network and for the paper's network, in fresh processes with
   ``THP_MEM_ALLOC_ENABLE=0`` (PyTorch's default), with
   ``THP_MEM_ALLOC_ENABLE=1`` (torch asks for transparent huge pages for large
   tensors, so that fresh tensors fault in 512 times fewer pages; importing
   sklearn_allconv sets it unless it is set, so sections 1 to 4 run with it)
   and with that plus ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP threads sleep
   instead of spinning while they wait).

Run ``python benchmarks/bench_training.py`` (a few minutes on 2 cores) or add
``--full`` for the full data set size (1170 clips) and batches of 96.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    class_spectrograms,
    dcase_like_frames,
    environment,
    interleaved,
    matmul_gflops,
    median,
    paired_ratio,
    parse_args,
    print_table,
    training_flops,
    write_json,
)

# isort: split
import torch
import torch.nn.functional as F
from sklearn.utils import check_random_state
from skorch.callbacks import Callback
from torch.utils.data import DataLoader

from sklearn_allconv import AllConvNet, SceneClassifier
from sklearn_allconv._device import cpu_has_native_bfloat16
from sklearn_allconv.batching import BucketBatchSampler, PadCollate

N_BINS = 552
N_CLASSES = 15
SEED = 0


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clips", type=int, default=None, help="clips (default: 192, --full: 1170)"
    )
    parser.add_argument("--skip-bf16", action="store_true", help="skip section 4")
    parser.add_argument("--skip-threads", action="store_true", help="skip section 5")


# -- wrapper overhead ----------------------------------------------------------


class _BatchShapes(Callback):
    """Records (clips, padded frames, valid frames) of every training batch."""

    def __init__(self, sink: list) -> None:
        self.sink = sink

    def on_batch_begin(
        self, net: Any, batch: Any = None, training: bool = False, **kwargs: Any
    ) -> None:
        if training:
            self.sink.append(_shape(batch[0]))


def _shape(batch: dict) -> tuple[int, int, int]:
    return (*batch["X"].shape[:2], int(batch["lengths"].sum()))


def _estimator_epoch(X: np.ndarray, y: np.ndarray, record: list) -> None:
    record.clear()
    SceneClassifier(
        max_epochs=1,
        batch_size=96,  # the paper's, as in the recorded figures
        train_split=None,
        device="cpu",
        # The hand-written loop's threads: the busy-machine budget is measured
        # by bench_busy.py, this script measures the arithmetic.
        n_threads=torch.get_num_threads(),
        random_state=SEED,
        callbacks=[("shapes", _BatchShapes(record))],
    ).fit(X, y)


def _hand_loop_epoch(X: np.ndarray, y: np.ndarray, record: list) -> None:
    """The plain PyTorch loop, on the estimator's batches.

    The estimator seeds torch with a seed drawn from its random_state, builds
    the network, then draws the batch order and the crops from torch's
    generator; doing the same here reproduces its batches exactly.
    """
    record.clear()
    seed = int(check_random_state(SEED).randint(2**31 - 1))
    classes, y = np.unique(y, return_inverse=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AllConvNet(N_BINS, len(classes))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=4e-4)
        loader = DataLoader(
            list(zip(X, y, strict=True)),
            batch_sampler=BucketBatchSampler([len(clip) for clip in X], 96),
            collate_fn=PadCollate(random_crop=True, min_frames=model.min_frames),
        )
        model.train()
        for batch, target in loader:
            record.append(_shape(batch))
            optimizer.zero_grad()
            loss = F.cross_entropy(model(**batch), target)
            loss.backward()
            optimizer.step()


def wrapper_overhead(n_clips: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    frames = dcase_like_frames(n_clips, rng)
    X, y = class_spectrograms(frames, N_BINS, N_CLASSES, rng)
    records: dict[str, list] = {"estimator": [], "hand loop": []}
    matmul: list[float] = []
    times = interleaved(
        {
            "SceneClassifier": lambda: _estimator_epoch(X, y, records["estimator"]),
            "hand-written loop": lambda: _hand_loop_epoch(X, y, records["hand loop"]),
            "matmul": lambda: matmul.extend(matmul_gflops(repeats=2)),
        },
        repeats,
    )
    same = records["estimator"] == records["hand loop"]
    flops = [training_flops(b, t) for b, t, _ in records["hand loop"]]
    exact = sum(f["exact"] for f in flops)
    convention = sum(f["three_times_forward"] for f in flops)
    matmul_rates = matmul[2:]  # the warm-up round's values are dropped
    matmul_per_round = [
        max(matmul_rates[2 * i : 2 * i + 2]) for i in range(len(matmul_rates) // 2)
    ]
    achieved = {
        name: [exact / t / 1e9 for t in times[name]]
        for name in ("SceneClassifier", "hand-written loop")
    }
    useful = sum(v for _, _, v in records["hand loop"])
    computed = sum(b * t for b, t, _ in records["hand loop"])
    return {
        "n_clips": n_clips,
        "batches": len(records["hand loop"]),
        "batches_identical": same,
        "padding_efficiency": useful / computed,
        "seconds_per_epoch": {k: v for k, v in times.items() if k != "matmul"},
        "median_seconds_per_epoch": {
            k: median(v) for k, v in times.items() if k != "matmul"
        },
        "ratio_estimator_over_loop": paired_ratio(
            times["SceneClassifier"], times["hand-written loop"]
        ),
        "tflop_per_epoch_exact": exact / 1e12,
        "tflop_per_epoch_three_times_forward": convention / 1e12,
        "gflops": {k: median(v) for k, v in achieved.items()},
        "matmul_gflops": median(matmul_per_round),
        "fraction_of_matmul": {
            k: paired_ratio(v, matmul_per_round) for k, v in achieved.items()
        },
        "fraction_of_matmul_three_times_forward_convention": {
            k: paired_ratio([g * convention / exact for g in v], matmul_per_round)
            for k, v in achieved.items()
        },
    }


# -- formulations --------------------------------------------------------------


class _Conv1dNet(AllConvNet):
    """The previous formulation: Conv1d over (batch, bins, frames), unpadded."""

    def forward(self, X: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        x = F.relu(self.filter_bank_norm(self.filter_bank(X.transpose(1, 2))))
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = F.relu(norm(conv(x)))
        return self.output(x.mean(dim=2))


def _batch_norm_forward(norm: torch.nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(
        x, norm.running_mean, norm.running_var, norm.weight, norm.bias, True
    )


def formulations(batch: int, frames: int, repeats: int) -> dict[str, Any]:
    torch.manual_seed(SEED)
    ours = AllConvNet(N_BINS, N_CLASSES).train()
    conv1d = _Conv1dNet(N_BINS, N_CLASSES).train()
    for norm in [conv1d.filter_bank_norm, *conv1d.norms]:
        norm.forward = lambda x, mask=None, norm=norm: _batch_norm_forward(norm, x)
    conv1d.load_state_dict(ours.state_dict())
    X = torch.randn(batch, frames, N_BINS)
    target = torch.randint(0, N_CLASSES, (batch,))
    with torch.no_grad():
        difference = float((ours(X) - conv1d(X)).abs().max())

    def step(model: torch.nn.Module) -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(X), target).backward()

    matmul: list[float] = []
    times = interleaved(
        {
            "Conv1d (batch, bins, frames)": lambda: step(conv1d),
            "matrix products (batch, frames, bins)": lambda: step(ours),
            "matmul": lambda: matmul.extend(matmul_gflops(repeats=1)),
        },
        repeats,
    )
    flops = training_flops(batch, frames)["exact"]
    matmul_per_round = matmul[1:]
    rows = {
        name: {
            "median_seconds_per_step": median(values),
            "gflops": flops / median(values) / 1e9,
            "fraction_of_matmul": paired_ratio(
                [flops / t / 1e9 for t in values], matmul_per_round
            ),
        }
        for name, values in times.items()
        if name != "matmul"
    }
    return {
        "batch": batch,
        "frames": frames,
        "max_abs_output_difference": difference,
        "seconds_per_step": {k: v for k, v in times.items() if k != "matmul"},
        "results": rows,
        "matmul_gflops": median(matmul_per_round),
        "ratio_ours_over_conv1d": paired_ratio(
            times["matrix products (batch, frames, bins)"],
            times["Conv1d (batch, bins, frames)"],
        ),
    }


# -- bfloat16 ------------------------------------------------------------------


def bfloat16_speed(batch: int, frames: int, repeats: int) -> dict[str, Any]:
    torch.manual_seed(SEED)
    model = AllConvNet(N_BINS, N_CLASSES).train()
    X = torch.randn(batch, frames, N_BINS)
    target = torch.randint(0, N_CLASSES, (batch,))

    def step(dtype: torch.dtype | None) -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            logits = model(X)
        F.cross_entropy(logits.float(), target).backward()

    times = interleaved(
        {"float32": lambda: step(None), "bfloat16": lambda: step(torch.bfloat16)},
        repeats,
    )
    return {
        "batch": batch,
        "frames": frames,
        "cpu_has_native_bfloat16": cpu_has_native_bfloat16(),
        "seconds_per_step": times,
        "speed_up_bfloat16": paired_ratio(times["float32"], times["bfloat16"]),
    }


def bfloat16_accuracy(epochs: int) -> dict[str, Any]:
    """A small scene task trained twice from the same seed: float32, bfloat16.

    Runs with one thread, which is faster for a network this small.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _bfloat16_accuracy(epochs)
    finally:
        torch.set_num_threads(threads)


def _bfloat16_accuracy(epochs: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    n_bins, n_classes = 64, 5
    frames = rng.integers(60, 300, 400)
    X, y = class_spectrograms(frames, n_bins, n_classes, rng, strength=0.15)
    train, test = slice(0, 300), slice(300, None)
    results: dict[str, Any] = {"n_train": 300, "n_test": 100, "epochs": epochs}
    probabilities = {}
    for precision in ("float32", "bfloat16"):
        clf = SceneClassifier(
            max_epochs=epochs,
            batch_size=32,
            train_split=None,
            module__n_filters=64,
            precision=precision,
            device="cpu",
            random_state=SEED,
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            clf.fit(X[train], y[train])
        seconds = time.perf_counter() - start
        probabilities[precision] = clf.predict_proba(X[test])
        results[precision] = {
            "test_accuracy": float(clf.score(X[test], y[test])),
            "train_accuracy": float(clf.score(X[train], y[train])),
            "fit_seconds": seconds,
        }
    results["prediction_agreement"] = float(
        np.mean(
            probabilities["float32"].argmax(1) == probabilities["bfloat16"].argmax(1)
        )
    )
    results["accuracy_difference"] = (
        results["bfloat16"]["test_accuracy"] - results["float32"]["test_accuracy"]
    )
    return results


# -- threads -------------------------------------------------------------------

_THREADS_SCRIPT = """
import json, sys, time
import numpy as np, torch
import torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from sklearn_allconv import AllConvNet
repeats = int(sys.argv[2])
out = {}
for name, (batch, frames, bins, filters, n) in {
    "tiny network (8 x 40 x 10, 16 filters)": (8, 40, 10, 16, 20 * repeats),
    "paper network (96 x 1000 x 552, 256 filters)": (96, 1000, 552, 256, repeats),
}.items():
    torch.manual_seed(0)
    model = AllConvNet(bins, 15, n_filters=filters).train()
    X, target = torch.randn(batch, frames, bins), torch.randint(0, 15, (batch,))
    def step():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(X), target).backward()
    times = {1: [], 2: []}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        step()
    for _ in range(n):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            step()
            times[threads].append(time.perf_counter() - start)
    out[name] = {str(k): float(np.median(v)) for k, v in times.items()}
print(json.dumps(out))
"""


# Each setting is explicit, whatever the caller's environment holds.
_SETTINGS = {
    "THP_MEM_ALLOC_ENABLE=0 (PyTorch's default)": {"THP_MEM_ALLOC_ENABLE": "0"},
    "THP_MEM_ALLOC_ENABLE=1 (opt-in)": {"THP_MEM_ALLOC_ENABLE": "1"},
    "THP_MEM_ALLOC_ENABLE=1, OMP_WAIT_POLICY=PASSIVE": {
        "THP_MEM_ALLOC_ENABLE": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
    },
}


def threads(repeats: int) -> list[dict[str, Any]]:
    """Training steps with 1 and 2 threads under environment settings that
    torch reads once, at start-up: each setting runs in a fresh process."""
    results = []
    for setting, variables in _SETTINGS.items():
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "THP_MEM_ALLOC_ENABLE")
        }
        env.update(variables)
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                _THREADS_SCRIPT,
                str(Path(__file__).parents[1]),
                str(repeats),
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        for workload, seconds in measured.items():
            results.append(
                {
                    "environment": setting,
                    "workload": workload,
                    "median_seconds_per_step": seconds,
                    "ratio_2_threads_over_1": seconds["2"] / seconds["1"],
                }
            )
    return results


# -- main ----------------------------------------------------------------------


def main() -> None:
    args = parse_args("bench_training", __doc__.splitlines()[0], _options)
    n_clips = args.clips or (1170 if args.full else 192)
    payload: dict[str, Any] = {"environment": environment()}

    wrapper = payload["wrapper"] = wrapper_overhead(n_clips, args.repeats)
    print_table(
        f"One training epoch, {n_clips} DCASE-like clips, batches of 96 "
        f"({wrapper['batches']} batches, identical: {wrapper['batches_identical']}; "
        f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE')})",
        ["candidate", "median s/epoch", "GFLOP/s", "fraction of matmul"],
        [
            [
                name,
                wrapper["median_seconds_per_epoch"][name],
                wrapper["gflops"][name],
                wrapper["fraction_of_matmul"][name],
            ]
            for name in ("SceneClassifier", "hand-written loop")
        ]
        + [["float32 matmul 4096^2", "", wrapper["matmul_gflops"], 1.0]],
    )
    print(
        f"estimator / loop: {wrapper['ratio_estimator_over_loop']:.3f}; "
        f"padding efficiency {wrapper['padding_efficiency']:.3f}; "
        f"{wrapper['tflop_per_epoch_exact']:.2f} TFLOP per epoch"
    )

    batch = 96 if args.full else 16
    forms = payload["formulations"] = formulations(batch, 1997, args.repeats)
    print_table(
        f"One training step, {batch} x 1997 x 552, unpadded "
        f"(outputs differ by {forms['max_abs_output_difference']:.1e})",
        ["formulation", "median s/step", "GFLOP/s", "fraction of matmul"],
        [
            [name, r["median_seconds_per_step"], r["gflops"], r["fraction_of_matmul"]]
            for name, r in forms["results"].items()
        ],
    )
    print(f"matrix products / Conv1d: {forms['ratio_ours_over_conv1d']:.3f}")

    if not args.skip_bf16:
        speed = payload["bfloat16_speed"] = bfloat16_speed(8, 500, args.repeats)
        accuracy = payload["bfloat16_accuracy"] = bfloat16_accuracy(
            20 if args.full else 10
        )
        print_table(
            "bfloat16 autocast against float32 (CPU bfloat16 instructions: "
            f"{speed['cpu_has_native_bfloat16']})",
            ["measure", "float32", "bfloat16"],
            [
                [
                    "s per training step, 8 x 500 x 552",
                    median(speed["seconds_per_step"]["float32"]),
                    median(speed["seconds_per_step"]["bfloat16"]),
                ],
                [
                    "test accuracy, small scene task",
                    accuracy["float32"]["test_accuracy"],
                    accuracy["bfloat16"]["test_accuracy"],
                ],
                [
                    "fit seconds, small scene task (1 thread)",
                    accuracy["float32"]["fit_seconds"],
                    accuracy["bfloat16"]["fit_seconds"],
                ],
            ],
        )
        print(
            f"bfloat16 speed-up: {speed['speed_up_bfloat16']:.3f}x; "
            f"predictions agree on {accuracy['prediction_agreement']:.0%} of clips"
        )

    if not args.skip_threads:
        payload["threads"] = threads(args.repeats)
        print_table(
            "One training step with 1 and 2 threads (fresh processes)",
            ["environment", "workload", "1 thread s", "2 threads s", "2 / 1"],
            [
                [
                    r["environment"],
                    r["workload"],
                    r["median_seconds_per_step"]["1"],
                    r["median_seconds_per_step"]["2"],
                    r["ratio_2_threads_over_1"],
                ]
                for r in payload["threads"]
            ],
        )
    payload["environment_end"] = {
        "load_average_1min": environment()["load_average_1min"]
    }
    write_json(args.output, payload)


if __name__ == "__main__":
    main()
