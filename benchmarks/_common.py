"""Shared helpers of the benchmark scripts: arguments, timing, tables, JSON.

Run the scripts from the repository root (``python benchmarks/bench_x.py``);
this module puts the checkout on ``sys.path`` so that they use the working tree
without installing it.

Timings on a shared machine swing by tens of percent, so every comparison is
measured A/B interleaved in one run (the candidates take turns, in rotating
order) and summarized by medians.

PyTorch's transparent huge pages for large CPU tensors are an opt-in
(``THP_MEM_ALLOC_ENABLE=1`` exported before Python starts): run a script with it
to measure with them; ``bench_hugepages.py`` and ``bench_training.py`` compare
both in fresh processes.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sklearn_allconv import GroupValidSplit  # noqa: E402 - after the path

# Whole recording locations held out for validation, as ``reproduce`` does for
# the paper's recipe (the scene default holds out clips).
LOCATIONS_SPLIT = GroupValidSplit(0.2, stratified=True, hold_out="groups")


def parse_args(
    name: str, description: str, extra: Callable[[argparse.ArgumentParser], None]
) -> argparse.Namespace:
    """Common options (--output, --repeats, --full, --threads) plus ``extra``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "benchmarks" / "results" / f"{name}.json",
        help="where to write the JSON results (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved repeats (default: 3)"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the issue's full sizes (slow) instead of the quick defaults",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's default)",
    )
    extra(parser)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    return args


def add_eval_set_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data`` (a set made by ``make_eval_sets.py``) and ``--seeds``."""
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT / "benchmarks" / "data" / "scenes-small",
        help="folder made by make_eval_sets.py (default: %(default)s)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="random_state values",
    )


def parse_augment(expression: str | None) -> list[Any] | None:
    """The augmentations an ``--augment`` expression names, or None.

    The expression is a comma-separated list of calls of the public names of
    :mod:`sklearn_allconv.augment` with literal arguments, e.g.
    ``"SpecMask(2, 20, 2, 40), Mixup(0.2)"``. It is parsed, not evaluated:
    anything else (other names, attributes, computed arguments) is an error.
    """
    if not expression:
        return None
    from sklearn_allconv import augment

    names = [name for name in augment.__all__ if name != "BatchAugmentation"]
    tree = ast.parse(expression, mode="eval").body
    calls = tree.elts if isinstance(tree, ast.Tuple) else [tree]
    augmentations = []
    for call in calls:
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id in names
        ):
            raise SystemExit(
                f"--augment: {ast.unparse(call)!r} is not a call of one of "
                f"{', '.join(names)} with literal arguments."
            )
        try:
            arguments = [ast.literal_eval(node) for node in call.args]
            keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
            augmentation = getattr(augment, call.func.id)(*arguments, **keywords)
            augmentation.check()
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"--augment: {ast.unparse(call)}: {exc}") from None
        augmentations.append(augmentation)
    return augmentations


def environment() -> dict[str, Any]:
    """Date, machine, library versions and load: what the numbers depend on."""
    import scipy
    import torch

    import sklearn_allconv

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "machine": f"{platform.system()} {platform.machine()}, {cpu}",
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "sklearn_allconv": sklearn_allconv.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "thp_mem_alloc_enable": os.environ.get("THP_MEM_ALLOC_ENABLE"),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def interleaved(
    candidates: dict[str, Callable[[], Any]], repeats: int, *, warmup: bool = True
) -> dict[str, list[float]]:
    """Wall-clock seconds of each candidate, run in turns ``repeats`` times.

    The order rotates from one round to the next so that no candidate always
    runs right after the same neighbour. A warm-up round is not timed.
    """
    names = list(candidates)
    if warmup:
        for name in names:
            candidates[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return times


def location_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray
) -> dict[str, float]:
    """Per recording location: the fraction of its clips classified right.

    On sets with a few locations per scene the errors come by whole locations
    (a held-out place sounds like another scene's training places), so the
    number of locations a system gets right says more than the seed spread.
    """
    y_true, y_pred, groups = map(np.asarray, (y_true, y_pred, groups))
    return {
        str(group): float(np.mean(y_true[groups == group] == y_pred[groups == group]))
        for group in np.unique(groups)
    }


def locations_right(by_location: dict[str, float]) -> int:
    """How many locations have most of their clips classified right."""
    return sum(accuracy > 0.5 for accuracy in by_location.values())


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median of the per-round ratios: each round's pair shares the machine's mood."""
    return median([a / b for a, b in zip(numerator, denominator, strict=True)])


def matmul_gflops(size: int = 4096, repeats: int = 3) -> list[float]:
    """GFLOP/s of a large float32 matrix product, one value per repeat."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    return rates


def training_flops(
    batch: int,
    frames: int,
    *,
    n_bins: int = 552,
    n_filters: int = 256,
    n_classes: int = 15,
) -> dict[str, float]:
    """Convolution and linear FLOPs of one training step on a padded batch.

    Forward: 2 x multiply-adds of the filter bank, the three strided layers
    and the output layer. Backward: the weight gradients of every layer and
    the input gradients of all layers but the first (the input needs none),
    each as many FLOPs as the layer's forward pass.
    """
    first = 2.0 * batch * frames * n_bins * n_filters
    forward = first
    length = frames
    for _ in range(3):
        length = (length - 3) // 2 + 1
        forward += 2.0 * batch * length * 3 * n_filters * n_filters
    forward += 2.0 * batch * n_filters * n_classes
    return {"exact": 3 * forward - first, "three_times_forward": 3 * forward}


def print_table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """A plain-text table with right-aligned columns."""
    cells = [[_format(cell) for cell in row] for row in rows]
    widths = [
        max(len(str(header)), *(len(row[i]) for row in cells))
        for i, header in enumerate(headers)
    ]
    print(f"\n{title}")
    print("  ".join(str(h).rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    print(f"\nResults written to {path}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dcase_like_frames(
    n_clips: int,
    rng: np.random.Generator,
    *,
    full_frames: int = 1997,
    short_fraction: float = 0.1,
    shortest_frames: int = 100,
) -> np.ndarray:
    """Frames per clip drawn like the scene data set's clip lengths.

    Most clips are 30 s (1997 frames at 44.1 kHz with the paper's STFT); a
    fraction ``short_fraction``, standing for the recordings the data set's
    cleaning cut short, has a length uniform between ``shortest_frames`` and
    the full length.
    """
    frames = np.full(n_clips, full_frames)
    short = rng.random(n_clips) < short_fraction
    frames[short] = rng.integers(shortest_frames, full_frames, short.sum())
    return frames


def class_spectrograms(
    frames: Sequence[int],
    n_bins: int,
    n_classes: int,
    rng: np.random.Generator,
    *,
    strength: float = 0.4,
) -> tuple[np.ndarray, np.ndarray]:
    """Standardized spectrogram-like clips whose class shows as a spectral shape.

    Each class has a random smooth per-bin profile added, with ``strength``, to
    Gaussian frames; clips are float32 arrays of shape (frames, bins).
    """
    smooth = np.cumsum(rng.standard_normal((n_classes, n_bins)), axis=1)
    profiles = (smooth - smooth.mean(1, keepdims=True)) / smooth.std(1, keepdims=True)
    y = rng.permutation(np.arange(len(frames)) % n_classes)  # balanced classes
    X = np.empty(len(frames), dtype=object)
    for i, (n, label) in enumerate(zip(frames, y, strict=True)):
        clip = rng.standard_normal((int(n), n_bins), dtype=np.float32)
        clip += np.float32(strength) * profiles[label].astype(np.float32)
        X[i] = clip
    return X, y
