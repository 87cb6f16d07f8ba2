"""Memory of streaming: a fit on features larger than memory, predict on many files.

Two measurements, each in fresh processes (peak resident memory, ``VmHWM``):

- ``fit``: ``--store-mb`` megabytes of synthetic spectrograms (64 bins, clips of
  200-1000 frames, a class shape per clip) are written clip by clip into a
  :class:`~sklearn_allconv.feature_store.FeatureStore`; a child process fits a
  ``SceneClassifier`` (16 filters, batches of 32, ``--epochs`` epochs) on the
  store. Its peak resident memory during the fit (reset just before it) is
  compared with the size of the features: the goal is a store at least three
  times that peak.
- ``predict``: ``--files`` (default 200 and 2,000) WAV files of 5 s at 16 kHz;
  a child process runs the command line's ``predict`` over each folder in
  chunks of ``--chunk-size`` files, and over the largest folder in one chunk
  (what the command did before it streamed), ``--repeats`` times interleaved.
  The goal: the same peak with 2,000 files as with 200.

The data go to ``benchmarks/data/streaming`` (git-ignored; ``--keep`` keeps
them). Run ``python benchmarks/bench_streaming.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import ROOT, environment, median, parse_args, print_table, write_json

DATA = ROOT / "benchmarks" / "data" / "streaming"
N_BINS = 64
RATE = 16000


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store-mb", type=int, default=1600, help="feature store size (1600 MB)"
    )
    parser.add_argument("--epochs", type=int, default=1, help="fit epochs (1)")
    parser.add_argument(
        "--files", type=int, nargs="+", default=[200, 2000], help="files (200 2000)"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=100, help="predict's --chunk-size (100)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _reset_peak_rss() -> None:
    """Start the peak over from the present resident memory (Linux)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def write_store(folder: Path, megabytes: int) -> int:
    """Synthetic spectrograms into a feature store; returns the number of clips."""
    from sklearn_allconv.feature_store import FeatureStoreWriter

    rng = np.random.default_rng(0)
    profiles = np.cumsum(rng.standard_normal((4, N_BINS)), axis=1).astype(np.float32)
    profiles = (profiles - profiles.mean(1, keepdims=True)) / profiles.std(
        1, keepdims=True
    )
    writer = FeatureStoreWriter(folder, N_BINS)
    written, labels = 0, []
    while written < megabytes * 1e6:
        label = int(rng.integers(4))
        frames = rng.standard_normal((int(rng.integers(200, 1000)), N_BINS), np.float32)
        frames += 0.4 * profiles[label]
        writer.append(frames)
        labels.append(label)
        written += frames.nbytes
    writer.close()
    np.save(folder / "labels.npy", np.asarray(labels))
    return len(labels)


def child_fit(folder: str, epochs: str) -> dict:
    """Fit on the store; the peak resident memory of the fit alone."""
    from sklearn_allconv import SceneClassifier
    from sklearn_allconv.feature_store import FeatureStore

    store = FeatureStore(folder)
    y = np.load(Path(folder) / "labels.npy")
    clf = SceneClassifier(
        max_epochs=int(epochs), batch_size=32, module__n_filters=16, random_state=0
    )
    _reset_peak_rss()
    before = _peak_rss_mb()
    start = time.perf_counter()
    clf.fit(store, y)
    return {
        "store_mb": store.nbytes / 1e6,
        "clips": len(store),
        "rss_before_fit_mb": before,
        "peak_rss_during_fit_mb": _peak_rss_mb(),
        "fit_s": time.perf_counter() - start,
        "train_loss": clf.history[-1, "train_loss"],
    }


def write_audio(folder: Path, n_files: int) -> None:
    import soundfile

    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(5 * RATE) / RATE
    for i in range(n_files):
        pitch = 300 if i % 2 else 2000
        clip = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal(t.size)
        soundfile.write(folder / f"{i:05d}.wav", clip.astype(np.float32), RATE)


def save_small_model(path: Path, audio: Path) -> None:
    from sklearn.pipeline import make_pipeline

    from sklearn_allconv import SceneClassifier, STFTTransformer, save_model

    files = sorted(str(p) for p in audio.glob("*.wav"))[:20]
    labels = ["high" if i % 2 == 0 else "low" for i in range(20)]
    model = make_pipeline(
        STFTTransformer(sample_rate=RATE),
        SceneClassifier(max_epochs=1, module__n_filters=8, random_state=0),
    ).fit(files, labels)
    save_model(model, path)


def child_predict(model: str, folder: str, chunk_size: str) -> dict:
    from sklearn_allconv.cli import main

    start = time.perf_counter()
    out = Path(folder).parent / "out.csv"
    code = main(["predict", model, folder, "-o", str(out), "--chunk-size", chunk_size])
    return {
        "code": code,
        "rows": len(out.read_text().splitlines()) - 1,
        "peak_rss_mb": _peak_rss_mb(),
        "predict_s": time.perf_counter() - start,
    }


def _run_child(*args: object) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args("bench_streaming", __doc__, _options)
    if args.child:
        name, *rest = args.child
        print(json.dumps({"fit": child_fit, "predict": child_predict}[name](*rest)))
        return
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    try:
        clips = write_store(DATA / "store", args.store_mb)
        print(f"Wrote {clips} clips ({args.store_mb} MB) to {DATA / 'store'}")
        fit = _run_child("fit", DATA / "store", args.epochs)
        print_table(
            "Fit on features on disk",
            ["store MB", "peak RSS MB (fit)", "ratio", "RSS before MB", "fit s"],
            [[
                fit["store_mb"],
                fit["peak_rss_during_fit_mb"],
                fit["store_mb"] / fit["peak_rss_during_fit_mb"],
                fit["rss_before_fit_mb"],
                fit["fit_s"],
            ]],
        )
        shutil.rmtree(DATA / "store")
        largest = max(args.files)
        write_audio(DATA / "audio", largest)
        save_small_model(DATA / "model.safetensors", DATA / "audio")
        folders = {}
        for n_files in args.files:
            folders[n_files] = DATA / f"files-{n_files}"
            folders[n_files].mkdir()
            for path in sorted((DATA / "audio").glob("*.wav"))[:n_files]:
                (folders[n_files] / path.name).symlink_to(path)
        candidates = {f"{n} files": (folders[n], args.chunk_size) for n in args.files}
        candidates[f"{largest} files, one chunk"] = (folders[largest], largest)
        runs: dict[str, list[dict]] = {name: [] for name in candidates}
        for round_ in range(args.repeats):
            names = list(candidates)
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                runs[name].append(
                    _run_child("predict", DATA / "model.safetensors", *candidates[name])
                )
        print_table(
            f"CLI predict, 5 s files at 16 kHz (median of {args.repeats})",
            ["candidate", "rows", "peak RSS MB", "predict s"],
            [
                [
                    name,
                    results[0]["rows"],
                    median([r["peak_rss_mb"] for r in results]),
                    median([r["predict_s"] for r in results]),
                ]
                for name, results in runs.items()
            ],
        )
        write_json(
            args.output,
            {
                "environment": environment(),
                "settings": {
                    k: v for k, v in vars(args).items() if k not in ("child", "output")
                },
                "fit": fit,
                "predict": runs,
            },
        )
    finally:
        if not args.keep:
            shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
