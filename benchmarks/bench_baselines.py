"""The DCASE 2016 Task 1 baseline before and after matching the official one.

On a scene set made by ``make_eval_sets.py`` (TUT Acoustic Scenes 2016
layout), with its four folds by location, reports the class-wise accuracy
(the DCASE 2016 Task 1 score, mean over folds) of:

- the MFCC + GMM baseline *before* this repository matched it to the official
  code: the ``sklearn_allconv/baseline.py`` of commit ``BEFORE``, loaded from
  git history (40 ms windows with ``n_fft`` = window, Savitzky-Golay deltas,
  ``reg_covar=1e-6``, GaussianMixture's k-means start);
- the baseline *after*: :func:`~sklearn_allconv.baseline.make_dcase2016_task1_baseline`
  with the official settings;
- a logistic regression on the per-bin mean and standard deviation of the
  log-magnitude STFT (the paper's 25 ms / 15 ms geometry);
- on request (``--systems logistic-mel logistic-mfcc``), the same logistic
  regression on the statistics of 128 log-mel bands or of 20 MFCCs, to see
  how much the front end alone moves a simple system.

Each is run with seeds 0, 1 and 2 (the mixtures' ``random_state``; the
logistic regression is deterministic, so its spread is 0); the table gives the
mean and the standard deviation over seeds. The network is not run here.

Run ``python benchmarks/bench_baselines.py --data benchmarks/data/scenes-small``
after ``python benchmarks/make_eval_sets.py --size small`` (about 30 minutes
on two busy cores; the official start's ten k-means restarts dominate).
``--systems official logistic --seeds 0`` runs a part of it.

Measured on ``--size small`` (360 clips of 10 s, 6 scenes, 24 locations,
44.1 kHz stereo, seed 0), mean and standard deviation over seeds 0-2:

=========================================  ==================
system                                     class-wise accuracy
=========================================  ==================
MFCC + GMM, before                         68.1 % (2.0 pp)
MFCC + GMM, official (after)               75.6 % (1.6 pp)
logistic regression, log-STFT mean + std   71.1 % (0)
=========================================  ==================
"""

from __future__ import annotations

import subprocess
import sys
import types
from functools import partial

import numpy as np
import soundfile
from _common import (
    ROOT,
    add_eval_set_arguments,
    environment,
    location_accuracy,
    locations_right,
    parse_args,
    print_table,
    write_json,
)

# isort: split
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_allconv.baseline import make_dcase2016_task1_baseline
from sklearn_allconv.datasets import load_tut_acoustic_scenes_2016
from sklearn_allconv.features import stft_geometry
from sklearn_allconv.metrics import mean_class_wise_accuracy

BEFORE = "fa559a2"  # main before the baselines were matched (issue 17)
# The logistic regressions on clip statistics, by front end (_log_statistics).
LOGISTIC = {
    "logistic": ("stft", "logistic regression, log-STFT mean + std"),
    "logistic-mel": ("mel", "logistic regression, log-mel (128) mean + std"),
    "logistic-mfcc": ("mfcc", "logistic regression, MFCC (20) mean + std"),
}
SYSTEMS = ("before", "official", *LOGISTIC)


def _baseline_before() -> types.ModuleType:
    """The baseline module as it was at commit ``BEFORE``."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:sklearn_allconv/baseline.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Its audio input helpers have since moved, unchanged, from features.py to
    # _validation.py (b1f1977): import them from there, as baseline.py does now.
    moved = "from .features import _as_clip_sources, _load, stft_geometry\n"
    if moved not in source:
        raise RuntimeError(f"{BEFORE}:baseline.py no longer has the line {moved!r}")
    source = source.replace(
        moved,
        "from ._validation import as_clip_sources as _as_clip_sources\n"
        "from ._validation import load_clip as _load\n"
        "from .features import stft_geometry\n",
    )
    module = types.ModuleType("sklearn_allconv._baseline_before")
    module.__package__ = "sklearn_allconv"
    sys.modules[module.__name__] = module
    exec(compile(source, f"{BEFORE}:baseline.py", "exec"), module.__dict__)
    return module


def _log_statistics(
    paths: np.ndarray, sample_rate: int, front_ends: list[str]
) -> dict[str, np.ndarray]:
    """Per clip and front end: the mean and standard deviation over frames.

    ``"stft"``: of each bin's log magnitude; ``"mel"``: of each band's log
    power on 128 mel bands; ``"mfcc"``: of the first 20 MFCCs of 40 mel bands
    (librosa's definitions), all on the paper's 25 ms / 15 ms STFT.
    """
    import librosa

    n_fft, hop, _ = stft_geometry(sample_rate)
    mel = {
        n_mels: librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
        for n_mels in (40, 128)
    }
    rows: dict[str, list[np.ndarray]] = {front_end: [] for front_end in front_ends}
    for path in paths:
        audio, _ = soundfile.read(path, dtype="float32", always_2d=True)
        magnitude = np.abs(
            librosa.stft(audio.mean(axis=1), n_fft=n_fft, hop_length=hop, window="hann")
        )
        for front_end in front_ends:
            if front_end == "stft":
                log = np.log(magnitude + 1e-6)
            elif front_end == "mel":
                log = np.log(mel[128] @ magnitude**2 + 1e-10)
            elif front_end == "mfcc":
                power = librosa.power_to_db(mel[40] @ magnitude**2)
                log = librosa.feature.mfcc(S=power, n_mfcc=20)
            else:
                raise ValueError(f"unknown front end {front_end!r}")
            rows[front_end].append(np.concatenate([log.mean(axis=1), log.std(axis=1)]))
    return {front_end: np.array(r) for front_end, r in rows.items()}


def _cross_validate(model, features, y, groups, cv) -> tuple[float, dict[str, float]]:
    """Mean class-wise accuracy over the folds, and each location's accuracy."""
    scores, locations = [], {}
    for train, test in cv.split(features, y):
        model.fit(features[train], y[train])
        predicted = model.predict(features[test])
        scores.append(mean_class_wise_accuracy(y[test], predicted))
        locations.update(location_accuracy(y[test], predicted, groups[test]))
    return float(np.mean(scores)), locations


def main() -> None:
    def extra(parser):
        add_eval_set_arguments(parser)
        parser.add_argument(
            "--systems",
            nargs="+",
            choices=SYSTEMS,
            default=["before", "official", "logistic"],
            help="which systems to run (default: before official logistic; "
            "logistic-mel and logistic-mfcc are logistic regressions on other "
            "front ends' clip statistics)",
        )

    args = parse_args("bench_baselines", __doc__.splitlines()[0], extra)
    data = load_tut_acoustic_scenes_2016(args.data)
    y, groups = data.target, np.asarray(data.groups)
    # The loader reports TUT's 44.1 kHz; a set may have been made at another rate.
    rate = soundfile.info(data.data[0]).samplerate
    print(
        f"{len(y)} clips, {len(data.target_names)} scenes, "
        f"{len(np.unique(data.groups))} locations",
        flush=True,
    )
    systems = {}
    if "before" in args.systems:
        make_before = _baseline_before().make_dcase2016_task1_baseline
        systems["MFCC + GMM, before"] = partial(make_before, sample_rate=rate)
    if "official" in args.systems:
        systems["MFCC + GMM, official (after)"] = partial(
            make_dcase2016_task1_baseline, sample_rate=rate
        )
    results: dict[str, list[float]] = {}
    locations: dict[str, list[dict[str, float]]] = {}
    for name, factory in systems.items():
        pipeline = factory(random_state=0)
        features = pipeline[0].fit_transform(data.data)
        results[name], locations[name] = [], []
        for seed in args.seeds:
            classifier = factory(random_state=seed)[-1]
            score, by_location = _cross_validate(
                classifier, features, y, groups, data.cv
            )
            results[name].append(score)
            locations[name].append(by_location)
            print(f"{name}, seed {seed}: {score:.3f}", flush=True)
    logistic_systems = [system for system in LOGISTIC if system in args.systems]
    # One pass over the audio for every front end asked for (none: no pass).
    statistics = (
        _log_statistics(
            data.data, rate, [LOGISTIC[system][0] for system in logistic_systems]
        )
        if logistic_systems
        else {}
    )
    for system in logistic_systems:
        front_end, name = LOGISTIC[system]
        logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        score, by_location = _cross_validate(
            logistic, statistics[front_end], y, groups, data.cv
        )
        results[name] = [score] * len(args.seeds)
        locations[name] = [by_location] * len(args.seeds)
        print(f"{name}: {score:.3f}", flush=True)
    n_locations = len(np.unique(groups))
    rows = [
        [
            name,
            f"{100 * np.mean(v):.1f} %",
            f"{100 * np.std(v):.1f}",
            f"{np.mean([locations_right(b) for b in locations[name]]):.1f} "
            f"of {n_locations}",
        ]
        for name, v in results.items()
    ]
    print_table(
        f"DCASE 2016 Task 1 score on {args.data.name}, folds by location",
        [
            "system",
            "class-wise accuracy",
            "std over seeds (pp)",
            "locations right (mean over seeds)",
        ],
        rows,
    )
    write_json(
        args.output,
        {
            "environment": environment(),
            "data": str(args.data),
            "n_clips": len(y),
            "seeds": args.seeds,
            "class_wise_accuracy": results,
            "location_accuracy": locations,
        },
    )


if __name__ == "__main__":
    main()
