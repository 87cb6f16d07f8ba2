"""Training recipes of SceneClassifier across data sizes and seeds.

The paper's recipe was written for about 900 training clips: at batch 96,
about 8 optimizer updates per epoch, so its patience (3 epochs on a plateau
before the learning rate halves, 10 before early stopping) means about 25 and
80 updates. On a few hundred clips an epoch is 1 to 3 updates and the same
patience ends training after a few dozen updates. This script compares, on
the same folds and seeds:

- ``paper``: ``recipe="paper"`` (batch 96, patiences of 3 and 10 epochs), with
  whole locations held out for validation as ``reproduce`` does (so are
  ``batch32`` and ``updates``; the others hold out clips, the default);
- ``default``: the library's defaults, ``recipe="default"`` (batch 32,
  patiences of 5 and 20 epochs);
- ``batch32``: the paper's recipe with batch 32;
- ``log``, ``log-gain``: the defaults on log magnitudes, and on log magnitudes
  minus each clip's mean log magnitude (unstandardized; the first batch norm
  rescales them);
- ``pcen``: the defaults on ``STFTTransformer(compression="pcen")``
  (per-channel energy normalization, standardized per bin in each fold; the
  transformer's default, so the same as ``default``);
- ``mel``: the defaults on ``STFTTransformer(n_mels=128)`` (PCEN of 128 mel
  bands of the level-normalized magnitudes, standardized per band);
- ``rms``, ``none``: the defaults on ``STFTTransformer(compression=None)`` and
  ``STFTTransformer(normalize=None, compression=None)`` (each clip's magnitudes
  divided by their root mean square, or not, and not compressed);
- ``best``: the defaults, but early stopping restores the weights of the
  epoch with the best validation loss (as ``recipe="paper"`` does) instead of
  keeping the last epoch's;
- ``updates``: the paper's recipe with a batch capped so that an epoch has at
  least 8 updates (``min(96, max(16, n_train // 8))``), and the patience converted from
  updates (25 to halve the learning rate, 80 to stop) into epochs for the
  fold's training size;

on :func:`~sklearn_allconv.datasets.make_acoustic_scenes` sets of several
sizes (clips per location), with :class:`~sklearn.model_selection.GroupKFold`
over locations, scored by mean class-wise accuracy. Two logistic regressions
are the floors to beat: on each clip's mean log spectrum (the demo's), and on
the per-bin mean and standard deviation of the standardized, level-normalized
STFT magnitudes (``STFTTransformer(compression=None)``).
``--augment "SpecMask(2, 20, 2, 40), Mixup(0.2)"`` and ``--test-crops N`` add
the options outside the paper (:mod:`sklearn_allconv.augment`, ``test_crops``)
to every recipe.

``python benchmarks/bench_recipes.py --sizes 4 12 --recipes paper default``
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from _common import (
    LOCATIONS_SPLIT,
    environment,
    parse_args,
    parse_augment,
    print_table,
    write_json,
)

# isort: split
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_allconv import SceneClassifier, STFTTransformer
from sklearn_allconv.datasets import make_acoustic_scenes
from sklearn_allconv.metrics import mean_class_wise_accuracy

VALID_FRACTION = 0.2  # the estimators' default validation split


def _recipe(name: str, n_train: int) -> dict[str, Any]:
    """The classifier's parameters of recipe ``name``; the paper's recipe and
    its variants hold out whole locations for validation, as reproduce does."""
    if name in ("default", "log", "log-gain", "pcen", "mel", "rms", "none"):
        return {}
    if name == "paper":
        return {"recipe": "paper", "train_split": LOCATIONS_SPLIT}
    if name == "best":
        return {"callbacks__early_stopping__load_best": True}
    if name == "batch32":
        return {"recipe": "paper", "batch_size": 32, "train_split": LOCATIONS_SPLIT}
    if name == "updates":
        n_fit = int(n_train * (1 - VALID_FRACTION))
        batch = min(96, max(16, n_fit // 8))
        per_epoch = math.ceil(n_fit / batch)
        return {
            "recipe": "paper",
            "train_split": LOCATIONS_SPLIT,
            "batch_size": batch,
            "callbacks__lr_plateau__patience": math.ceil(25 / per_epoch),
            "callbacks__early_stopping__patience": math.ceil(80 / per_epoch),
        }
    raise ValueError(f"unknown recipe {name!r}")


def main() -> None:
    def extra(parser):
        parser.add_argument("--sizes", type=int, nargs="+", default=[4, 12])
        parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        parser.add_argument(
            "--recipes",
            nargs="+",
            default=["paper", "default"],
            choices=[
                "paper", "default", "best", "batch32", "updates", "log", "log-gain",
                "pcen", "mel", "rms", "none",
            ],
        )
        parser.add_argument(
            "--augment",
            default=None,
            metavar="CALLS",
            help="training batch augmentations for every recipe, e.g. "
            "'SpecMask(2, 20, 2, 40), Mixup(0.2)' (default: none)",
        )
        parser.add_argument(
            "--test-crops",
            type=int,
            default=1,
            help="test_crops of every recipe (default: 1, whole clips)",
        )

    args = parse_args("bench_recipes", __doc__.splitlines()[0], extra)
    augment = parse_augment(args.augment)
    options = {"augment": augment, "test_crops": args.test_crops}
    results: dict[str, dict[str, list[float]]] = {}
    epochs: dict[str, dict[str, list[int]]] = {}
    start = time.perf_counter()
    for size in args.sizes:
        clips, y, groups = make_acoustic_scenes(
            n_clips_per_location=size, random_state=0
        )
        folds = list(GroupKFold(4).split(clips, y, groups))
        features, floor_features = [], []
        # The recipes with their own standardized features, fitted per fold
        # ("pcen" is the transformer's default: it uses ``features``).
        own = {"none": {"normalize": None, "compression": None}, "mel": {"n_mels": 128}}
        # "rms" trains on the floor's features, the level-normalized magnitudes.
        own_features: dict[str, list] = {"rms": floor_features, "none": [], "mel": []}
        for train, _ in folds:
            stft = STFTTransformer().fit(clips[train])
            features.append(stft.transform(clips))
            stft = STFTTransformer(compression=None).fit(clips[train])
            floor_features.append(stft.transform(clips))
            for name, params in own.items():
                if name in args.recipes:
                    stft = STFTTransformer(**params).fit(clips[train])
                    own_features[name].append(stft.transform(clips))
        compressed = {
            name: STFTTransformer(
                normalize=None, compression=name, standardize=False
            ).fit_transform(clips)
            for name in ("log", "log-gain")
            if name in args.recipes
        }
        key = f"{len(y)} clips"
        results[key], epochs[key] = {}, {}
        statistics = [
            np.array([np.r_[c.mean(0), c.std(0)] for c in f]) for f in floor_features
        ]
        logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        raw = STFTTransformer(
            normalize=None, compression=None, standardize=False
        ).fit_transform(clips)
        # The demo's floor: the mean log spectrum of each clip.
        mean_log = np.array([np.log(c + 1e-6).mean(0) for c in raw])
        results[key]["logistic, mean log spectrum"] = [
            float(
                np.mean(
                    [
                        mean_class_wise_accuracy(
                            y[test],
                            logistic.fit(mean_log[train], y[train]).predict(
                                mean_log[test]
                            ),
                        )
                        for train, test in folds
                    ]
                )
            )
        ]
        results[key]["logistic"] = [
            float(
                np.mean(
                    [
                        mean_class_wise_accuracy(
                            y[test], logistic.fit(s[train], y[train]).predict(s[test])
                        )
                        for s, (train, test) in zip(statistics, folds, strict=True)
                    ]
                )
            )
        ]
        for recipe in args.recipes:
            results[key][recipe], epochs[key][recipe] = [], []
            for seed in args.seeds:
                scores = []
                for k, (train, test) in enumerate(folds):
                    f = (
                        own_features[recipe][k]
                        if recipe in own_features
                        else compressed.get(recipe, features[k])
                    )
                    clf = SceneClassifier(
                        random_state=seed,
                        n_threads=1,
                        **options,
                        **_recipe(recipe, len(train)),
                    )
                    clf.fit(f[train], y[train], groups=groups[train])
                    scores.append(
                        mean_class_wise_accuracy(y[test], clf.predict(f[test]))
                    )
                    epochs[key][recipe].append(len(clf.history))
                results[key][recipe].append(float(np.mean(scores)))
                print(
                    f"{key}, {recipe}, seed {seed}: {results[key][recipe][-1]:.3f} "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    rows = [
        [
            key,
            recipe,
            f"{100 * np.mean(v):.1f} %",
            f"{100 * np.std(v):.1f}",
            f"{np.median(epochs[key].get(recipe, [0])):.0f}",
        ]
        for key, by_recipe in results.items()
        for recipe, v in by_recipe.items()
    ]
    print_table(
        "Mean class-wise accuracy, GroupKFold(4) over locations"
        + f" (augment={augment}, test_crops={args.test_crops})",
        ["data", "recipe", "accuracy", "std over seeds (pp)", "epochs (median)"],
        rows,
    )
    write_json(
        args.output,
        {
            "environment": environment(),
            "seeds": args.seeds,
            "augment": repr(augment),
            "test_crops": args.test_crops,
            "class_wise_accuracy": results,
            "epochs": epochs,
            "seconds": time.perf_counter() - start,
        },
    )


if __name__ == "__main__":
    main()
