"""pyAudioAnalysis' documented scene recipe on a set made by ``make_eval_sets.py``.

What a user with a folder of recordings picks today: pyAudioAnalysis 0.3.14's
``audioTrainTest.extract_features_and_train`` with the README's settings
(mid-term windows of 1 s with a 1 s step over short-term windows of 50 ms
with a 50 ms step, ``"svm_rbf"``): per clip, the mean over mid-term windows of
the mid-term statistics of 68 short-term features; standardized; an RBF SVM
whose ``C`` the package picks by its own repeated random validation splits.
Test clips go through its ``file_classification``.

The script runs pyAudioAnalysis *from its own environment* (it is never a
dependency of this library, and this script imports nothing from it)::

    python3 -m venv venv-paa
    venv-paa/bin/pip install pyAudioAnalysis==0.3.14 numpy scipy scikit-learn \\
        matplotlib hmmlearn simplejson eyed3 pydub plotly tqdm imbalanced-learn
    venv-paa/bin/python benchmarks/bench_pyaudioanalysis.py \\
        --data benchmarks/data/scenes-small --output docs/results/paa_small.json

For each of the set's four folds, the training clips are linked into one
folder per scene (the layout pyAudioAnalysis trains from), the model is
trained, and every test clip is classified. The score is the DCASE 2016
Task 1 class-wise accuracy (mean of the per-scene recalls), averaged over the
folds, as in ``bench_baselines.py``. The clip features do not depend on the
fold, so the short-term/mid-term extraction of a signal is computed once and
reused (a cache keyed by the signal's bytes and the window settings); this
only saves time, it changes no number. Its ``C`` search draws random splits
from NumPy's global generator, seeded with ``--seed`` before each fold.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MID_WINDOW = MID_STEP = 1.0
SHORT_WINDOW = SHORT_STEP = 0.050
CLASSIFIER = "svm_rbf"


def _read_list(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines() if line]


def _cached(function):
    """Memoize pyAudioAnalysis' mid-term extraction on the signal's bytes."""
    cache: dict[tuple, object] = {}

    def wrapper(signal, *args, **kwargs):
        key = (
            hashlib.sha1(np.ascontiguousarray(signal).tobytes()).hexdigest(),
            args,
            tuple(sorted(kwargs.items())),
        )
        if key not in cache:
            cache[key] = function(signal, *args, **kwargs)
        return cache[key]

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="the set's parent folder"
    )
    parser.add_argument("--output", type=Path, required=True, help="JSON to write")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds NumPy's global RNG, which its C search draws from",
    )
    args = parser.parse_args()

    import pyAudioAnalysis
    import sklearn
    from pyAudioAnalysis import MidTermFeatures, audioTrainTest

    MidTermFeatures.mid_feature_extraction = _cached(
        MidTermFeatures.mid_feature_extraction
    )
    audioTrainTest.aF.mid_feature_extraction = MidTermFeatures.mid_feature_extraction

    root = next(args.data.glob("TUT-acoustic-scenes-2016-development"), args.data)
    setup = root / "evaluation_setup"
    folds = []
    start = time.perf_counter()
    for fold in (1, 2, 3, 4):
        train = _read_list(setup / f"fold{fold}_train.txt")
        truth = dict(_read_list(setup / f"fold{fold}_evaluate.txt"))
        scenes = sorted({label for _, label in train})
        with tempfile.TemporaryDirectory() as work:
            # One folder per scene, named by index: labels like
            # "cafe/restaurant" are not folder names.
            folders = {
                scene: Path(work) / f"scene{i}" for i, scene in enumerate(scenes)
            }
            for folder in folders.values():
                folder.mkdir()
            for name, label in train:
                os.symlink((root / name).resolve(), folders[label] / Path(name).name)
            model = str(Path(work) / "model")
            np.random.seed(args.seed)  # train_test_split without random_state
            with contextlib.redirect_stdout(io.StringIO()):
                audioTrainTest.extract_features_and_train(
                    [str(folder) for folder in folders.values()],
                    MID_WINDOW,
                    MID_STEP,
                    SHORT_WINDOW,
                    SHORT_STEP,
                    CLASSIFIER,
                    model,
                    False,
                )
                predicted = {}
                for name in truth:
                    class_id, _, classes = audioTrainTest.file_classification(
                        str(root / name), model, CLASSIFIER
                    )
                    folder = Path(classes[int(class_id)]).name
                    predicted[name] = scenes[int(folder.removeprefix("scene"))]
        recalls = [
            np.mean([predicted[n] == s for n, lab in truth.items() if lab == s])
            for s in scenes
        ]
        folds.append(float(np.mean(recalls)))
        print(f"fold {fold}: class-wise accuracy {folds[-1]:.3f}", flush=True)
    result = {
        "system": "pyAudioAnalysis documented recipe (mid-term 1 s/1 s, short-term "
        "50 ms/50 ms, svm_rbf, C chosen by its own evaluate_classifier)",
        "pyAudioAnalysis": getattr(pyAudioAnalysis, "__version__", "0.3.14"),
        "data": str(args.data),
        "seed": args.seed,
        "fold_class_wise_accuracy": folds,
        "class_wise_accuracy": float(np.mean(folds)),
        "seconds": time.perf_counter() - start,
        "scikit-learn": sklearn.__version__,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"class-wise accuracy {result['class_wise_accuracy']:.3f} over 4 folds")


if __name__ == "__main__":
    main()
