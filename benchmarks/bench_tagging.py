"""AudioTagger on the synthetic domestic tags, across data sizes, seeds and features.

The tagging counterpart of ``bench_recipes.py``: ``Pipeline([("stft",
STFTTransformer(sample_rate=16000, ...)), ("clf", AudioTagger())])`` with the
library's defaults, on :func:`~sklearn_allconv.datasets.make_domestic_tags` sets
of several sizes (recording segments; 4 chunks each), with
:class:`~sklearn.model_selection.GroupKFold` over segments, the segments of the
training chunks passed as ``groups`` (so the validation split keeps each
segment on one side; ``--valid clips`` passes no groups, so it holds out
chunks), scored by the mean equal error rate over the seven tags (lower is
better). ``--features`` names the transformer settings to compare
on the same folds and seeds:

- ``default``: ``STFTTransformer()``'s own (``normalize="rms"``,
  ``compression="pcen"``);
- ``rms``: ``compression=None`` (the level-normalized magnitudes);
- ``paper``: ``PAPER_FEATURES`` (the magnitudes as recorded);
- ``log-gain``: ``compression="log-gain", standardize=False``;
- ``mel64``, ``mel128``: the defaults on 64 or 128 mel bands (``n_mels``).

Spectrograms are cached per chunk in a temporary :class:`joblib.Memory`.

``python benchmarks/bench_tagging.py --segments 30 90 --features default rms``
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np
from _common import environment, parse_args, print_table, write_json

# isort: split
from joblib import Memory
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline

from sklearn_allconv import AudioTagger, STFTTransformer
from sklearn_allconv.datasets import make_domestic_tags
from sklearn_allconv.features import PAPER_FEATURES
from sklearn_allconv.metrics import equal_error_rate

FEATURES: dict[str, dict[str, Any]] = {
    "default": {},
    "rms": {"compression": None},
    "paper": dict(PAPER_FEATURES),
    "log-gain": {"compression": "log-gain", "standardize": False},
    "mel64": {"n_mels": 64},
    "mel128": {"n_mels": 128},
}


def main() -> None:
    def extra(parser):
        parser.add_argument("--segments", type=int, nargs="+", default=[30, 90])
        parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        parser.add_argument(
            "--features", nargs="+", default=["default"], choices=list(FEATURES)
        )
        parser.add_argument(
            "--valid",
            choices=["groups", "clips"],
            default="groups",
            help="groups: fit gets the training chunks' segments, so the "
            "validation split holds out whole segments; clips: fit gets no "
            "groups, so it holds out chunks",
        )

    args = parse_args("bench_tagging", __doc__.splitlines()[0], extra)
    results: dict[str, dict[str, dict[int, list[float]]]] = {}
    epochs: dict[str, dict[str, list[int]]] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        memory = Memory(cache, verbose=0)
        for n_segments in args.segments:
            clips, Y, segments = make_domestic_tags(
                n_segments=n_segments, random_state=0
            )
            folds = list(GroupKFold(4).split(clips, Y, segments))
            key = f"{len(Y)} clips"
            results[key], epochs[key] = {}, {}
            for name in args.features:
                results[key][name], epochs[key][name] = {}, []
                for seed in args.seeds:
                    results[key][name][seed] = []
                    for train, test in folds:
                        pipe = Pipeline(
                            [
                                (
                                    "stft",
                                    STFTTransformer(
                                        sample_rate=16000,
                                        memory=memory,
                                        **FEATURES[name],
                                    ),
                                ),
                                ("clf", AudioTagger(random_state=seed, verbose=0)),
                            ]
                        )
                        pipe.fit(
                            clips[train],
                            Y[train],
                            **(
                                {"clf__groups": segments[train]}
                                if args.valid == "groups"
                                else {}
                            ),
                        )
                        results[key][name][seed].append(
                            float(
                                equal_error_rate(
                                    Y[test], pipe.predict_proba(clips[test])
                                )
                            )
                        )
                        epochs[key][name].append(len(pipe[-1].history))
                    print(
                        f"{key}, {name}, seed {seed}: mean EER "
                        f"{np.mean(results[key][name][seed]):.3f} "
                        f"({time.perf_counter() - start:.0f} s)",
                        flush=True,
                    )
    rows = []
    for key, by_name in results.items():
        for name, by_seed in by_name.items():
            means = [np.mean(folds) for folds in by_seed.values()]
            rows.append(
                [
                    key,
                    name,
                    f"{np.mean(means):.3f}",
                    f"{np.std(means):.3f}",
                    f"{np.median(epochs[key][name]):.0f}",
                ]
            )
    print_table(
        "AudioTagger, mean equal error rate, GroupKFold(4) over segments, "
        f"validation split by {args.valid}",
        ["data", "features", "EER", "std over seeds", "epochs (median)"],
        rows,
    )
    write_json(
        args.output,
        {
            "environment": environment(),
            "seeds": args.seeds,
            "valid": args.valid,
            "features": {name: repr(FEATURES[name]) for name in args.features},
            "fold_equal_error_rate": results,
            "epochs": epochs,
            "seconds": time.perf_counter() - start,
        },
    )


if __name__ == "__main__":
    main()
