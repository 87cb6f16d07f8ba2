"""The network with the library's defaults on a set made by ``make_eval_sets.py``.

By default, the system a user builds first, ``Pipeline([("stft", STFTTransformer()),
("clf", SceneClassifier())])`` with nothing changed but the seed, on the
set's four folds by location (the validation split holds out clips, the
default; ``--valid groups`` holds out whole locations instead, with
``GroupValidSplit(0.2, stratified=True, hold_out="groups")`` and the training
clips' locations passed as ``groups``). The
score is the DCASE 2016 Task 1 class-wise accuracy, averaged over folds, as in
``bench_baselines.py`` and ``bench_pyaudioanalysis.py``; the table gives the
mean and standard deviation over seeds, and the epochs each fit ran.

Spectrograms are cached per clip in a temporary :class:`joblib.Memory`, so
the four folds and the seeds compute each clip's STFT once; the statistics
that standardize them are still those of each fold's training clips.

``--compression``, ``--normalize`` and ``--n-mels`` change the transformer's
parameters; ``--set NAME=VALUE ...`` changes parameters of the classifier, to compare
recipes on the same folds and seeds (``--set test_crops=5`` for test-time
crop averaging); ``--augment "SpecMask(2, 20, 2, 40), Mixup(0.2)"`` trains
with batch augmentations (calls of :mod:`sklearn_allconv.augment`'s names).

``python benchmarks/bench_scene_network.py --data benchmarks/data/scenes-small``
"""

from __future__ import annotations

import ast
import tempfile
import time

import numpy as np
from _common import (
    LOCATIONS_SPLIT,
    add_eval_set_arguments,
    environment,
    location_accuracy,
    locations_right,
    parse_args,
    parse_augment,
    print_table,
    write_json,
)

# isort: split
import soundfile
from joblib import Memory
from sklearn.pipeline import Pipeline

from sklearn_allconv import SceneClassifier, STFTTransformer
from sklearn_allconv.datasets import load_tut_acoustic_scenes_2016
from sklearn_allconv.metrics import mean_class_wise_accuracy


def main() -> None:
    def extra(parser):
        add_eval_set_arguments(parser)
        parser.add_argument(
            "--compression",
            choices=["none", "log", "log-gain", "pcen"],
            default=None,
            help="default: the transformer's (pcen); none: the standardized "
            "magnitudes, not compressed; log, log-gain: "
            "STFTTransformer(compression=..., standardize=False) (the network's "
            "first batch norm rescales them); "
            "log-gain: log, minus each clip's mean log magnitude (gain invariance); "
            "pcen: STFTTransformer(compression='pcen'), standardized",
        )
        parser.add_argument(
            "--normalize",
            choices=["none", "rms"],
            default=None,
            help="STFTTransformer(normalize=...) (default: the transformer's)",
        )
        parser.add_argument(
            "--n-mels",
            default=None,
            metavar="N",
            help="STFTTransformer(n_mels=N): N mel bands of the magnitudes "
            "before the compression, or 'none' for the linear bins (default: "
            "the transformer's, 'auto')",
        )
        parser.add_argument(
            "--valid",
            choices=["groups", "clips"],
            default="clips",
            help="clips: the default validation split, which holds out clips; "
            "groups: GroupValidSplit(hold_out='groups') with the training clips' "
            "locations, which holds out whole locations",
        )
        parser.add_argument(
            "--set",
            nargs="+",
            default=[],
            metavar="NAME=VALUE",
            help="SceneClassifier parameters to change, e.g. batch_size=32 "
            "callbacks__early_stopping__patience=30 (values are Python literals)",
        )
        parser.add_argument(
            "--ensemble",
            action="store_true",
            help="also score, per fold, the mean of the seeds' predicted "
            "probabilities (an ensemble of the seeds' networks)",
        )
        parser.add_argument(
            "--also-test-crops",
            type=int,
            default=None,
            metavar="N",
            help="also score each fitted pipeline with test_crops=N (test-time "
            "averaging over N crops), on the same fits",
        )
        parser.add_argument(
            "--augment",
            default=None,
            metavar="CALLS",
            help="training batch augmentations, e.g. "
            "'SpecMask(2, 20, 2, 40), Mixup(0.2)' (TimeShift, SpecMask, Mixup "
            "with literal arguments; default: none)",
        )

    args = parse_args("bench_scene_network", __doc__.splitlines()[0], extra)
    changes = {
        name: ast.literal_eval(value)
        for name, value in (item.split("=", 1) for item in args.set)
    }
    augment = parse_augment(args.augment)
    data = load_tut_acoustic_scenes_2016(args.data)
    rate = soundfile.info(data.data[0]).samplerate
    y, groups = data.target, np.asarray(data.groups)
    print(f"{len(y)} clips, {len(data.target_names)} scenes", flush=True)
    scores: dict[int, list[float]] = {}
    crop_scores: dict[int, list[float]] = {}
    epochs: dict[int, list[int]] = {}
    locations: dict[int, dict[str, float]] = {}
    folds = list(data.cv.split(data.data, y))
    # Per fold, the seeds' test probabilities (--ensemble).
    probabilities: list[list[np.ndarray]] = [[] for _ in folds]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        memory = Memory(cache, verbose=0)
        for seed in args.seeds:
            scores[seed], epochs[seed], crop_scores[seed] = [], [], []
            locations[seed] = {}
            for k, (train, test) in enumerate(folds):
                stft = STFTTransformer(sample_rate=rate, memory=memory)
                if args.compression is not None:
                    compression = (
                        None if args.compression == "none" else args.compression
                    )
                    stft.set_params(
                        compression=compression,
                        standardize=compression in (None, "pcen"),
                    )
                if args.normalize is not None:
                    stft.set_params(
                        normalize=None if args.normalize == "none" else args.normalize
                    )
                if args.n_mels is not None:
                    stft.set_params(
                        n_mels=None if args.n_mels == "none" else int(args.n_mels)
                    )
                clf = SceneClassifier(random_state=seed, augment=augment, **changes)
                if args.valid == "groups":
                    clf.set_params(train_split=LOCATIONS_SPLIT)
                steps = [("stft", stft), ("clf", clf)]
                pipe = Pipeline(steps)
                fit_groups = (
                    {"clf__groups": groups[train]} if args.valid == "groups" else {}
                )
                pipe.fit(data.data[train], y[train], **fit_groups)
                if args.ensemble:
                    proba = pipe.predict_proba(data.data[test])
                    probabilities[k].append(proba)
                    predicted = pipe.classes_[proba.argmax(axis=1)]
                else:
                    predicted = pipe.predict(data.data[test])
                scores[seed].append(mean_class_wise_accuracy(y[test], predicted))
                locations[seed].update(
                    location_accuracy(y[test], predicted, groups[test])
                )
                epochs[seed].append(len(pipe[-1].history))
                if args.also_test_crops:
                    pipe.set_params(clf__test_crops=args.also_test_crops)
                    crop_scores[seed].append(
                        mean_class_wise_accuracy(y[test], pipe.predict(data.data[test]))
                    )
                print(
                    f"seed {seed}: fold {len(scores[seed])} "
                    f"{scores[seed][-1]:.3f} after {epochs[seed][-1]} epochs "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    means = [float(np.mean(s)) for s in scores.values()]
    ensemble_folds = [
        mean_class_wise_accuracy(
            y[test], pipe.classes_[np.mean(fold_probabilities, axis=0).argmax(axis=1)]
        )
        for (_, test), fold_probabilities in zip(folds, probabilities, strict=True)
        if fold_probabilities
    ]
    if ensemble_folds:
        print(
            f"ensemble of seeds {args.seeds}: "
            f"{100 * np.mean(ensemble_folds):.1f} % (folds "
            + ", ".join(f"{s:.3f}" for s in ensemble_folds)
            + ")",
            flush=True,
        )
    right = f"{np.mean([locations_right(b) for b in locations.values()]):.1f}"
    rows = [[f"{100 * np.mean(means):.1f} %", f"{100 * np.std(means):.1f}", right]]
    crop_means = [float(np.mean(s)) for s in crop_scores.values() if s]
    if crop_means:
        rows.append(
            [
                f"{100 * np.mean(crop_means):.1f} %",
                f"{100 * np.std(crop_means):.1f}",
                "",
            ]
        )
    print_table(
        f"SceneClassifier defaults on {args.data.name}, folds by location",
        [
            "system",
            "class-wise accuracy",
            "std over seeds (pp)",
            f"locations right (of {len(np.unique(groups))})",
            "epochs (median)",
        ],
        [
            [
                "network, "
                + " ".join(
                    [f"compression={args.compression}"] * (args.compression is not None)
                    + [f"normalize={args.normalize}"] * (args.normalize is not None)
                    + [f"n_mels={args.n_mels}"] * (args.n_mels is not None)
                    + args.set
                    + [f"augment={augment}"] * (augment is not None)
                    + [f"test_crops={args.also_test_crops}"] * (row > 0)
                    or ["library defaults"]
                ),
                *scores_row,
                f"{np.median(sum(epochs.values(), [])):.0f}",
            ]
            for row, scores_row in enumerate(rows)
        ],
    )
    write_json(
        args.output,
        {
            "environment": environment(),
            "data": str(args.data),
            "n_clips": len(y),
            "changes": changes,
            "augment": repr(augment),
            "compression": args.compression,
            "normalize": args.normalize,
            "n_mels": args.n_mels,
            "valid": args.valid,
            "fold_class_wise_accuracy": scores,
            "epochs": epochs,
            "location_accuracy": locations,
            "class_wise_accuracy": float(np.mean(means)),
            "fold_class_wise_accuracy_ensemble": ensemble_folds or None,
            "test_crops": args.also_test_crops,
            "fold_class_wise_accuracy_test_crops": crop_scores,
            "class_wise_accuracy_test_crops": (
                float(np.mean(crop_means)) if crop_means else None
            ),
            "seconds": time.perf_counter() - start,
        },
    )


if __name__ == "__main__":
    main()
