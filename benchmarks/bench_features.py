"""STFT features: STFTTransformer against a bare librosa loop, memory, caching.

Measures, on synthetic noise clips:

1. ``STFTTransformer.fit_transform`` (n_jobs 1 and 2) against a loop of
   ``librosa.stft`` plus numpy standardization over the concatenated frames, at
   44.1 kHz / 30 s and 16 kHz / 4 s; ratios are medians of per-round ratios of
   interleaved runs, and the magnitudes are checked against librosa's;
2. the peak memory of ``fit_transform`` on thirty-second clips against the size
   of its output, in a fresh subprocess (tracemalloc, and peak RSS);
3. the ``memory=`` cache: no cache, first call (miss: compute and store) and
   second call (hit) on in-memory clips and on audio files (WAV at 44.1 kHz,
   and 48 kHz FLAC resampled to 44.1 kHz).

Run ``python benchmarks/bench_features.py`` (a minute or two) or add ``--full``
for the issue's sizes (200 thirty-second clips for the memory test).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    environment,
    interleaved,
    median,
    paired_ratio,
    parse_args,
    print_table,
    write_json,
)

# isort: split
import librosa
import soundfile

from sklearn_allconv import STFTTransformer
from sklearn_allconv.features import PAPER_FEATURES, stft_geometry


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-memory", action="store_true", help="skip the peak-memory test"
    )
    parser.add_argument("--skip-cache", action="store_true", help="skip the cache test")


def _noise_clips(n_clips: int, n_samples: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        (0.1 * rng.standard_normal(n_samples, dtype=np.float32)) for _ in range(n_clips)
    ]


def librosa_loop(clips: list[np.ndarray], sample_rate: int) -> list[np.ndarray]:
    """The baseline: librosa.stft per clip, then per-bin standardization."""
    n_fft, hop_length, _ = stft_geometry(sample_rate)
    spectrograms = [
        np.abs(
            librosa.stft(
                clip, n_fft=n_fft, hop_length=hop_length, window="hann", center=False
            )
        ).T
        for clip in clips
    ]
    frames = np.concatenate(spectrograms)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    std[std == 0] = 1.0
    return [(spectrogram - mean) / std for spectrogram in spectrograms]


def speed(sample_rate: int, seconds: float, n_clips: int, repeats: int) -> dict:
    clips = _noise_clips(n_clips, int(seconds * sample_rate), seed=sample_rate)
    # The librosa loop computes the paper's features: so do the transformers
    # compared with it (PAPER_FEATURES); the default's RMS normalization and
    # PCEN are timed on rows of their own.
    candidates = {
        "librosa loop": lambda: librosa_loop(clips, sample_rate),
        "STFTTransformer n_jobs=1": lambda: STFTTransformer(
            sample_rate=sample_rate, n_jobs=1, **PAPER_FEATURES
        ).fit_transform(clips),
        "STFTTransformer n_jobs=2": lambda: STFTTransformer(
            sample_rate=sample_rate, n_jobs=2, **PAPER_FEATURES
        ).fit_transform(clips),
        "STFTTransformer n_jobs=1, normalize='rms'": lambda: STFTTransformer(
            sample_rate=sample_rate, n_jobs=1, n_mels=None, compression=None
        ).fit_transform(clips),
        "STFTTransformer n_jobs=1, rms, pcen (linear bins)": lambda: STFTTransformer(
            sample_rate=sample_rate, n_jobs=1, n_mels=None
        ).fit_transform(clips),
        "STFTTransformer n_jobs=1, defaults (rms, mel, pcen)": lambda: (
            STFTTransformer(sample_rate=sample_rate, n_jobs=1).fit_transform(clips)
        ),
    }
    times = interleaved(candidates, repeats)
    ours = STFTTransformer(
        sample_rate=sample_rate, standardize=False, **PAPER_FEATURES
    ).fit_transform(clips)
    n_fft, hop_length, _ = stft_geometry(sample_rate)
    magnitude_error = max(
        float(
            np.abs(
                frames
                - np.abs(
                    librosa.stft(
                        clip,
                        n_fft=n_fft,
                        hop_length=hop_length,
                        window="hann",
                        center=False,
                    )
                ).T
            ).max()
        )
        for clip, frames in zip(clips, ours, strict=True)
    )
    standardized = STFTTransformer(
        sample_rate=sample_rate, **PAPER_FEATURES
    ).fit_transform(clips)
    reference = librosa_loop(clips, sample_rate)
    standardized_error = max(
        float(np.abs(a - b).max()) for a, b in zip(standardized, reference, strict=True)
    )
    return {
        "sample_rate": sample_rate,
        "seconds": seconds,
        "n_clips": n_clips,
        "frames_per_clip": int(ours[0].shape[0]),
        "bins": int(ours[0].shape[1]),
        "seconds_per_run": times,
        "median_ms_per_clip": {
            name: 1000 * median(values) / n_clips for name, values in times.items()
        },
        "ratio_n_jobs_1_over_librosa": paired_ratio(
            times["STFTTransformer n_jobs=1"], times["librosa loop"]
        ),
        "ratio_n_jobs_2_over_n_jobs_1": paired_ratio(
            times["STFTTransformer n_jobs=2"], times["STFTTransformer n_jobs=1"]
        ),
        "ratio_normalize_rms_over_none": paired_ratio(
            times["STFTTransformer n_jobs=1, normalize='rms'"],
            times["STFTTransformer n_jobs=1"],
        ),
        "ratio_defaults_over_paper_features": paired_ratio(
            times["STFTTransformer n_jobs=1, defaults (rms, mel, pcen)"],
            times["STFTTransformer n_jobs=1"],
        ),
        "ratio_linear_pcen_over_paper_features": paired_ratio(
            times["STFTTransformer n_jobs=1, rms, pcen (linear bins)"],
            times["STFTTransformer n_jobs=1"],
        ),
        "max_abs_error_vs_librosa_magnitudes": magnitude_error,
        "max_abs_error_vs_librosa_standardized": standardized_error,
        "equal_to_librosa": bool(magnitude_error < 1e-3 and standardized_error < 1e-3),
    }


_MEMORY_SCRIPT = """
import json, sys, tracemalloc
import numpy as np
sys.path.insert(0, sys.argv[1])
from bench_features import librosa_loop, _noise_clips
from sklearn_allconv import STFTTransformer

n_clips, n_jobs, which = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
clips = _noise_clips(n_clips, 30 * 44100, seed=0)
STFTTransformer(n_jobs=n_jobs).fit_transform(clips[:2])  # imports, FFT plans
def status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
# Reset the peak resident size (VmHWM) so that it covers the call only.
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")
rss_before = status_kib("VmRSS")
tracemalloc.start()
if which == "ours":
    out = STFTTransformer(n_jobs=n_jobs).fit_transform(clips)
else:
    out = librosa_loop(clips, 44100)
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
peak_rss = status_kib("VmHWM")
print(json.dumps({
    "output_bytes": int(sum(a.nbytes for a in out)),
    "input_bytes": int(sum(a.nbytes for a in clips)),
    "traced_peak_bytes": int(peak),
    "rss_increase_bytes": int((peak_rss - rss_before) * 1024),
}))
"""


def peak_memory(n_clips: int) -> list[dict]:
    """Peak memory of fit_transform in fresh processes, against the output size."""
    here = str(Path(__file__).resolve().parent)
    results = []
    for which, n_jobs in [("ours", 1), ("ours", 2), ("librosa loop", 1)]:
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEMORY_SCRIPT,
                here,
                str(n_clips),
                str(n_jobs),
                which,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        name = f"STFTTransformer n_jobs={n_jobs}" if which == "ours" else which
        results.append(
            {
                "candidate": name,
                "n_clips": n_clips,
                **measured,
                "traced_peak_over_output": measured["traced_peak_bytes"]
                / measured["output_bytes"],
                "rss_increase_over_output": measured["rss_increase_bytes"]
                / measured["output_bytes"],
            }
        )
    return results


def caching(n_clips: int, repeats: int) -> list[dict]:
    """fit_transform without a cache, with an empty cache and with a full one."""
    clips = _noise_clips(n_clips, 30 * 44100, seed=1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wav, flac = [], []
        for i, clip in enumerate(clips):
            wav.append(tmp / f"clip{i}.wav")
            soundfile.write(wav[-1], clip, 44100, subtype="PCM_16")
            flac.append(tmp / f"clip{i}_48k.flac")
            soundfile.write(flac[-1], np.resize(clip, 30 * 48000), 48000)
        inputs = {
            "in-memory arrays": (clips, {}),
            "WAV files": (wav, {}),
            "48 kHz FLAC files, resampled": (flac, {"resample": True}),
        }
        for label, (X, params) in inputs.items():
            warm = tmp / f"warm-{len(results)}"
            STFTTransformer(memory=str(warm), **params).fit_transform(X)

            def miss(X: Any = X, params: dict = params) -> None:
                # A fresh, empty cache directory for every timed call.
                fresh = tempfile.mkdtemp(dir=tmp)
                STFTTransformer(memory=fresh, **params).fit_transform(X)

            times = interleaved(
                {
                    "no cache": lambda X=X, params=params: STFTTransformer(
                        **params
                    ).fit_transform(X),
                    "cache miss": miss,
                    "cache hit": lambda X=X, params=params, warm=warm: STFTTransformer(
                        memory=str(warm), **params
                    ).fit_transform(X),
                },
                repeats,
            )
            results.append(
                {
                    "input": label,
                    "n_clips": n_clips,
                    "seconds_per_run": times,
                    "median_ms_per_clip": {
                        name: 1000 * median(values) / n_clips
                        for name, values in times.items()
                    },
                    "ratio_hit_over_no_cache": paired_ratio(
                        times["cache hit"], times["no cache"]
                    ),
                    "ratio_miss_over_no_cache": paired_ratio(
                        times["cache miss"], times["no cache"]
                    ),
                }
            )
    return results


def main() -> None:
    args = parse_args("bench_features", __doc__.splitlines()[0], _options)
    # librosa compiles its STFT helpers with numba on first use: not timed.
    librosa.stft(np.zeros(4096, np.float32), n_fft=1024, center=False)
    sizes = {
        "speed_44k": 200 if args.full else 24,
        "speed_16k": 2000 if args.full else 300,
        "memory": 200 if args.full else 40,
        "cache": 100 if args.full else 12,
    }
    payload: dict[str, Any] = {"environment": environment(), "sizes": sizes}
    payload["speed"] = [
        speed(44100, 30.0, sizes["speed_44k"], args.repeats),
        speed(16000, 4.0, sizes["speed_16k"], args.repeats),
    ]
    print_table(
        "STFT fit_transform, median ms per clip (interleaved runs)",
        [
            "clips",
            "librosa",
            "ours n_jobs=1",
            "ours n_jobs=2",
            "ours rms",
            "ours rms+pcen",
            "ours defaults",
            "1 / librosa",
            "2 / 1",
            "rms / 1",
            "rms+pcen / 1",
            "defaults / 1",
            "equal",
        ],
        [
            [
                f"{r['n_clips']} x {r['seconds']:g} s @ {r['sample_rate']} Hz",
                *r["median_ms_per_clip"].values(),
                r["ratio_n_jobs_1_over_librosa"],
                r["ratio_n_jobs_2_over_n_jobs_1"],
                r["ratio_normalize_rms_over_none"],
                r["ratio_linear_pcen_over_paper_features"],
                r["ratio_defaults_over_paper_features"],
                r["equal_to_librosa"],
            ]
            for r in payload["speed"]
        ],
    )
    if not args.skip_memory:
        payload["peak_memory"] = peak_memory(sizes["memory"])
        print_table(
            f"Peak memory of fit_transform, {sizes['memory']} x 30 s @ 44.1 kHz",
            [
                "candidate",
                "output MB",
                "traced peak MB",
                "peak / output",
                "RSS increase / output",
            ],
            [
                [
                    r["candidate"],
                    r["output_bytes"] / 1e6,
                    r["traced_peak_bytes"] / 1e6,
                    r["traced_peak_over_output"],
                    r["rss_increase_over_output"],
                ]
                for r in payload["peak_memory"]
            ],
        )
    if not args.skip_cache:
        payload["cache"] = caching(sizes["cache"], args.repeats)
        print_table(
            f"memory= cache, {sizes['cache']} x 30 s clips, median ms per clip",
            ["input", "no cache", "miss", "hit", "hit / no cache"],
            [
                [
                    r["input"],
                    r["median_ms_per_clip"]["no cache"],
                    r["median_ms_per_clip"]["cache miss"],
                    r["median_ms_per_clip"]["cache hit"],
                    r["ratio_hit_over_no_cache"],
                ]
                for r in payload["cache"]
            ],
        )
    payload["environment_end"] = {
        "load_average_1min": environment()["load_average_1min"]
    }
    write_json(args.output, payload)


if __name__ == "__main__":
    main()
