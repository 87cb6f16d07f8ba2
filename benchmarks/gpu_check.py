"""GPU check: speed and correctness of the CUDA path, in one short run.

One prepared script for the rare minutes on a GPU (under 4 minutes on an
H100/H200-class card); without a GPU it runs the same steps on the CPU at
small sizes, which the test suite does, so that it cannot rot. It writes a
JSON (``--output``) holding:

1. the device and the same-run matrix-product rates: bfloat16 and float32,
   8192^3 on a GPU, timed before and after the training runs;
2. training: epochs of ``SceneClassifier`` (the paper's network: 552 bins,
   256 filters, batches of 96, random crops, length bucketing) on the paper's
   epoch, a stand-in of 1170 clips x 30 s (2000 frames) of random features,
   in float32, bfloat16 and float16, with the training clips kept on the device
   (``data_on_device="auto"``), and bfloat16 once more with batches assembled
   on the host; per run the median epoch time (the first epoch, which
   measures the convolutions and warms up, is left out), the FLOPs of the
   batches actually computed, the achieved rate and its ratio to the
   same-run bfloat16 (and float32) matrix-product rate, and the peak device
   memory;
3. inference: ``predict_proba`` clips/s on full-length clips, float32 and
   bfloat16;
4. correctness checks, each passed or failed: batch independence under
   bfloat16 autocast on the device (a clip alone and padded inside a batch,
   within 1e-4); identical weights and predictions from a fixed seed fitted
   twice with deterministic settings (in a fresh process with
   ``torch.use_deterministic_algorithms(True)`` and
   ``CUBLAS_WORKSPACE_CONFIG=:4096:8``), in float32 and bfloat16; a model
   trained on the device, saved with ``save_model``, loading on the CPU and
   predicting what it predicted on the device (within 1e-4).

Run ``python benchmarks/gpu_check.py [--small] [--output PATH]``; ``--small``
uses small sizes (and is implied without a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, environment, print_table, training_flops, write_json

# isort: split
import torch
from skorch.callbacks import Callback

from sklearn_allconv import SceneClassifier, load_model, network, save_model

SEED = 0
N_CLASSES = 15
PRECISIONS = ("float32", "bfloat16", "float16")
TOLERANCE = 1e-4

# (clips, frames, bins, filters, batch, epochs, matmul size, inference clips)
SIZES = {
    "full": (1170, 2000, 552, 256, 96, 4, 8192, 390),
    "small": (24, 120, 64, 16, 8, 3, 512, 12),
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "gpu_check.json",
        help="where to write the JSON results (default: %(default)s)",
    )
    parser.add_argument(
        "--small", action="store_true", help="small sizes (implied without a GPU)"
    )
    parser.add_argument(
        "--determinism-worker",
        choices=PRECISIONS,
        help=argparse.SUPPRESS,  # the fresh process of the determinism check
    )
    return parser.parse_args()


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- matrix products -----------------------------------------------------------


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int) -> float:
    """TFLOP/s of a size^3 matrix product on random data, median of 10."""
    generator = torch.Generator(device).manual_seed(SEED)
    a = torch.randn(size, size, device=device, generator=generator).to(dtype)
    b = torch.randn(size, size, device=device, generator=generator).to(dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(10):
        _synchronize(device)
        start = time.perf_counter()
        a @ b
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e12


def matmul_rates(device: torch.device, size: int) -> dict[str, float]:
    return {
        "bfloat16": matmul_rate(device, torch.bfloat16, size),
        "float32": matmul_rate(device, torch.float32, size),
    }


# -- data ----------------------------------------------------------------------


def stand_in(
    n_clips: int, frames: int, n_bins: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Random standardized features of equal-length clips, and random labels.

    Drawn on the device when there is one (5.2 GB at the full size: seconds
    there, a minute on one CPU core).
    """
    generator = torch.Generator(device).manual_seed(SEED)
    features = torch.randn(
        n_clips, frames, n_bins, device=device, generator=generator
    ).cpu().numpy()
    X = np.empty(n_clips, dtype=object)
    X[:] = list(features)
    y = np.random.default_rng(SEED).integers(0, N_CLASSES, n_clips)
    return X, y


class _Batches(Callback):
    """Records each training batch's (clips, padded frames) and where the clips
    were kept."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []
        self.on_device: bool | None = None

    def initialize(self) -> _Batches:
        self.shapes = []
        return self

    def on_train_begin(self, net: Any, **kwargs: Any) -> None:
        self.on_device = getattr(net, "_clip_store", None) is not None

    def on_batch_begin(
        self, net: Any, batch: Any = None, training: bool = False, **kwargs: Any
    ) -> None:
        if training:
            self.shapes.append(tuple(batch[0]["X"].shape[:2]))


def train(
    X: np.ndarray,
    y: np.ndarray,
    *,
    precision: str,
    data_on_device: bool | str,
    sizes: tuple,
    device: torch.device,
) -> tuple[dict[str, Any], SceneClassifier]:
    _, _, n_bins, n_filters, batch_size, epochs, _, _ = sizes
    batches = _Batches()
    clf = SceneClassifier(
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        module__n_filters=n_filters,
        precision=precision,
        data_on_device=data_on_device,
        device="auto",
        random_state=SEED,
        callbacks=[("batches", batches)],
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The CPU run of --small warns that bfloat16 and float16 are slow there.
        warnings.simplefilter("ignore", UserWarning)
        clf.fit(X, y)
    total = time.perf_counter() - start
    durations = [row["dur"] for row in clf.history_]
    per_epoch = len(batches.shapes) // epochs
    flops = [
        sum(
            training_flops(
                b, t, n_bins=n_bins, n_filters=n_filters, n_classes=N_CLASSES
            )["exact"]
            for b, t in batches.shapes[i * per_epoch : (i + 1) * per_epoch]
        )
        for i in range(epochs)
    ]
    rates = [f / d / 1e12 for f, d in zip(flops[1:], durations[1:], strict=True)]
    return {
        "precision": precision,
        "data_on_device": data_on_device,
        "clips_kept_on_device": batches.on_device,
        "epoch_seconds": durations,
        "median_epoch_seconds": statistics.median(durations[1:]),
        "setup_seconds": total - sum(durations),
        "tflop_per_epoch": statistics.median(flops[1:]) / 1e12,
        "tflops": statistics.median(rates),
        "peak_device_memory_gib": (
            torch.cuda.max_memory_allocated(device) / 2**30
            if device.type == "cuda"
            else None
        ),
    }, clf


def inference(clf: SceneClassifier, X: np.ndarray, device: torch.device) -> float:
    """Clips/s of predict_proba, best of 3 after a warm-up."""
    clf.predict_proba(X[:2])
    times = []
    for _ in range(3):
        _synchronize(device)
        start = time.perf_counter()
        clf.predict_proba(X)
        times.append(time.perf_counter() - start)
    return len(X) / min(times)


def profile_step(
    clf: SceneClassifier, batch: int, frames: int, device: torch.device
) -> dict[str, Any]:
    """Time one unpadded training step of the fitted network per precision, and
    profile the bfloat16 one: where does a step's time go?"""
    module = clf.module_.train()
    n_bins = module.n_bins
    generator = torch.Generator(device).manual_seed(SEED)
    X = torch.randn(batch, frames, n_bins, device=device, generator=generator)
    target = torch.randint(0, N_CLASSES, (batch,), device=device, generator=generator)
    lengths = torch.full((batch,), frames)
    flops = training_flops(
        batch, frames, n_bins=n_bins, n_filters=module.filter_bank.out_channels
    )["exact"]

    def step(dtype: torch.dtype | None) -> None:
        module.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = module(X, lengths)
        torch.nn.functional.cross_entropy(logits, target).backward()

    result: dict[str, Any] = {"batch": batch, "frames": frames}
    for name, dtype in [("float32", None), ("bfloat16", torch.bfloat16)]:
        for _ in range(2):
            step(dtype)
        times = []
        for _ in range(5):
            _synchronize(device)
            start = time.perf_counter()
            step(dtype)
            _synchronize(device)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        result[name] = {"seconds_per_step": seconds, "tflops": flops / seconds / 1e12}
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        for _ in range(2):
            step(torch.bfloat16)
        _synchronize(device)
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    result["bfloat16_profile"] = profiler.key_averages().table(
        sort_by=sort, row_limit=25
    )
    return result


# -- checks --------------------------------------------------------------------


def batch_independence(clf: SceneClassifier, X: np.ndarray) -> dict[str, Any]:
    """A short clip alone, and padded among longer ones, under bfloat16 autocast."""
    short = X[0][: max(len(X[0]) // 3, clf.module_.min_frames)]
    batch = np.empty(4, dtype=object)
    batch[:] = [X[1], short, X[2], X[3][: len(X[3]) // 2]]
    alone = clf.predict_proba(batch[1:2])[0]
    padded = clf.predict_proba(batch)[1]
    difference = float(np.abs(alone - padded).max())
    return {
        "precision": clf.precision,
        "short_frames": len(short),
        "padded_to_frames": max(len(clip) for clip in batch),
        "max_abs_probability_difference": difference,
        "tolerance": TOLERANCE,
        "passed": difference <= TOLERANCE,
    }


def _determinism_worker(precision: str, sizes: tuple) -> None:
    """Fit the same seed twice; print whether weights and predictions match."""
    torch.use_deterministic_algorithms(True)
    device = _device()
    n_clips, frames, n_bins, n_filters, batch_size, _, _, _ = sizes
    X, y = stand_in(n_clips, frames, n_bins, device)
    fits = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            clf = SceneClassifier(
                max_epochs=2,
                batch_size=batch_size,
                train_split=None,
                module__n_filters=n_filters,
                precision=precision,
                random_state=SEED,
            ).fit(X, y)
        fits.append((clf.module_.state_dict(), clf.predict_proba(X)))
    (weights_a, proba_a), (weights_b, proba_b) = fits
    print(
        json.dumps(
            {
                "weights_identical": all(
                    torch.equal(weights_a[k], weights_b[k]) for k in weights_a
                ),
                "predictions_identical": bool(np.array_equal(proba_a, proba_b)),
                "device": str(device),
            }
        )
    )


def determinism(precision: str, small: bool) -> dict[str, Any]:
    """Run :func:`_determinism_worker` in a fresh process with deterministic
    settings, which cuBLAS reads when it starts."""
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    command = [sys.executable, __file__, "--determinism-worker", precision]
    # Two fits of 96 clips x 400 frames on a GPU; the small sizes on a CPU.
    completed = subprocess.run(
        command + (["--small"] if small else []),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        return {"precision": precision, "passed": False, "error": completed.stderr}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["precision"] = precision
    result["passed"] = result["weights_identical"] and result["predictions_identical"]
    return result


def saved_model_loads_on_cpu(clf: SceneClassifier, X: np.ndarray) -> dict[str, Any]:
    """Save a model trained on the device; load it on the CPU; compare."""
    expected = clf.predict_proba(X)
    # The safe format takes no user callbacks: drop the batch recorder.
    clf.set_params(callbacks=None)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.safetensors"
        save_model(clf, path)
        loaded = load_model(path, device="cpu")
    on_cpu = all(p.device.type == "cpu" for p in loaded.module_.parameters())
    difference = float(np.abs(loaded.predict_proba(X) - expected).max())
    return {
        "trained_on": str(clf.device),
        "loaded_on_cpu": on_cpu,
        "max_abs_probability_difference": difference,
        "tolerance": TOLERANCE,
        "passed": on_cpu and difference <= TOLERANCE,
    }


# -- main ----------------------------------------------------------------------


def main() -> None:
    args = _arguments()
    device = _device()
    small = args.small or device.type != "cuda"
    sizes = SIZES["small" if small else "full"]
    if args.determinism_worker:
        # Deterministic runs of moderate size on a GPU.
        worker_sizes = sizes if small else (96, 400, 552, 256, 32, 2, 0, 0)
        _determinism_worker(args.determinism_worker, worker_sizes)
        return
    n_clips, frames, n_bins, n_filters, _, _, matmul_size, n_inference = sizes
    started = time.perf_counter()
    payload: dict[str, Any] = {
        "environment": environment(),
        "device": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        ),
        "sizes": dict(
            zip(
                ("clips", "frames", "bins", "filters", "batch", "epochs"),
                sizes[:6],
                strict=True,
            )
        ),
    }

    def save() -> None:
        payload["seconds"] = time.perf_counter() - started
        write_json(args.output, payload)

    payload["matmul_tflops_before"] = matmul_rates(device, matmul_size)
    save()
    X, y = stand_in(n_clips, frames, n_bins, device)
    runs, models = [], {}
    for precision, on_device in [(p, "auto") for p in PRECISIONS] + [
        ("bfloat16", False)
    ]:
        try:
            result, clf = train(
                X, y, precision=precision, data_on_device=on_device, sizes=sizes,
                device=device,
            )
        except Exception as exc:  # noqa: BLE001 - one failed run must not end the check
            runs.append({"precision": precision, "error": repr(exc)})
            print(f"training {precision} failed: {exc!r}")
        else:
            runs.append(result)
            models.setdefault(precision, clf)
        payload["training"] = runs
        save()
    payload["convolution_chosen"] = {
        f"{device_name} {dtype}": choice
        for (device_name, dtype, *_), choice in network._MEASURED_CONVOLUTIONS.items()
    }
    payload["inference_clips_per_second"] = {
        precision: inference(models[precision], X[:n_inference], device)
        for precision in ("float32", "bfloat16")
        if precision in models
    }
    save()
    if "bfloat16" in models:
        try:
            payload["step"] = profile_step(
                models["bfloat16"], sizes[4], frames, device
            )
            print(payload["step"]["bfloat16_profile"])
        except Exception as exc:  # noqa: BLE001 - reported, the check goes on
            payload["step"] = {"error": repr(exc)}
    save()
    payload["matmul_tflops_after"] = matmul_rates(device, matmul_size)
    rates = {
        dtype: statistics.median(
            [payload[f"matmul_tflops_{when}"][dtype] for when in ("before", "after")]
        )
        for dtype in ("bfloat16", "float32")
    }
    payload["matmul_tflops"] = rates
    runs = [run for run in runs if "error" not in run]
    for run in runs:
        run["fraction_of_bfloat16_matmul"] = run["tflops"] / rates["bfloat16"]
        run["fraction_of_float32_matmul"] = run["tflops"] / rates["float32"]
    del X, y
    models = {k: v for k, v in models.items() if k in ("float32", "bfloat16")}
    checks_X, _ = stand_in(8, min(frames, 600), n_bins, device)
    checks = {
        "batch_independence_bfloat16": lambda: batch_independence(
            models["bfloat16"], checks_X
        ),
        "determinism_float32": lambda: determinism("float32", small),
        "determinism_bfloat16": lambda: determinism("bfloat16", small),
        "saved_model_loads_on_cpu": lambda: saved_model_loads_on_cpu(
            models["float32"], checks_X
        ),
    }
    payload["checks"] = {}
    for name, check in checks.items():
        try:
            payload["checks"][name] = check()
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            payload["checks"][name] = {"passed": False, "error": repr(exc)}
    payload["all_checks_passed"] = all(c["passed"] for c in payload["checks"].values())
    save()

    print_table(
        f"Training epochs on {payload['device']}: {n_clips} clips x {frames} frames "
        f"x {n_bins} bins, {n_filters} filters (matmul TFLOP/s: bfloat16 "
        f"{rates['bfloat16']:.3g}, float32 {rates['float32']:.3g})",
        ["precision", "clips on device", "s/epoch", "TFLOP/s", "/ bf16 mm",
         "/ fp32 mm", "peak GiB"],
        [
            [r["precision"], r["clips_kept_on_device"], r["median_epoch_seconds"],
             r["tflops"], r["fraction_of_bfloat16_matmul"],
             r["fraction_of_float32_matmul"], r["peak_device_memory_gib"] or ""]
            for r in runs
        ],
    )
    print(f"inference clips/s: {payload['inference_clips_per_second']}")
    print(f"convolution chosen: {payload['convolution_chosen']}")
    for name, check in payload["checks"].items():
        print(f"check {name}: {'passed' if check['passed'] else 'FAILED'}")
    print(f"total {payload['seconds']:.0f} s")


if __name__ == "__main__":
    main()
