"""Which epoch's weights to keep: early-stopping policies on per-epoch curves.

Trains ``Pipeline([STFTTransformer(), SceneClassifier()])`` with the library's
defaults on the four folds by location of a set made by ``make_eval_sets.py``,
but for ``--epochs`` epochs without early stopping (the learning rate still
halves on plateaus of the validation loss, as in the default recipe), and
records after every epoch the validation loss and accuracy on the internal
split (clips held out, the default; ``--valid groups``: whole locations, with
``GroupValidSplit(0.2, stratified=True, hold_out="groups")`` and the fold's
locations passed as ``groups``, as when ``docs/user_guide/training.md``'s
figures were measured) and the class-wise accuracy on the fold's test clips.

From these curves it scores, per fold, the epoch each policy would have kept:

- ``loss, best epoch restored``: early stopping on the validation loss with
  the default recipe's patience, restoring the epoch of the lowest loss
  (``load_best=True``, as ``recipe="paper"`` does);
- ``loss, last epoch kept``: the same stopping point, keeping the weights it
  ends with (the default recipe);
- ``accuracy, best epoch`` / ``accuracy, last epoch``: the same on the
  validation accuracy;
- ``epoch N``: a fixed number of epochs;
- ``oracle``: the epoch with the best test accuracy (a ceiling, not a policy).

The stopping points are replayed from the curves with skorch's rule (a relative
improvement of 1e-4; stop after ``patience`` epochs without one), so the
policies share one set of fits. The table gives the mean class-wise accuracy
over folds, its mean and standard deviation over seeds, and the median kept
epoch.

``python benchmarks/bench_early_stopping.py --data benchmarks/data/scenes-small``
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np
from _common import (
    LOCATIONS_SPLIT,
    add_eval_set_arguments,
    environment,
    parse_args,
    print_table,
    write_json,
)

# isort: split
import soundfile
from joblib import Memory
from skorch.callbacks import Callback, EpochScoring

from sklearn_allconv import SceneClassifier, STFTTransformer
from sklearn_allconv.datasets import load_tut_acoustic_scenes_2016
from sklearn_allconv.metrics import mean_class_wise_accuracy

THRESHOLD = 1e-4  # skorch EarlyStopping's default relative threshold


def _valid_accuracy(net: Any, X: Any, y: Any) -> float:
    # The validation targets are the encoded class indices.
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == np.asarray(y)))


class _TestCurve(Callback):
    """Record the class-wise accuracy on held-out test clips after each epoch."""

    def __init__(self, X: Any, y: Any) -> None:
        self.X = X
        self.y = y

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        net.history.record(
            "test_accuracy", mean_class_wise_accuracy(self.y, net.predict(self.X))
        )


def _stop(
    values: list[float], patience: int, *, lower_is_better: bool
) -> tuple[int, int]:
    """Epoch indices (best, last) of early stopping replayed on ``values``."""
    sign = 1.0 if lower_is_better else -1.0
    best_index, best, misses = 0, np.inf, 0
    for index, value in enumerate(values):
        score = sign * value
        if not np.isfinite(best) or score < best - abs(best) * THRESHOLD:
            best_index, best, misses = index, score, 0
        else:
            misses += 1
            if misses >= patience:
                return best_index, index
    return best_index, len(values) - 1


def _policies(curve: dict[str, list[float]], patience: int) -> dict[str, int]:
    """The epoch index each policy keeps on one fold's curves."""
    n_epochs = len(curve["test_accuracy"])
    loss_best, loss_last = _stop(curve["valid_loss"], patience, lower_is_better=True)
    acc_best, acc_last = _stop(curve["valid_acc"], patience, lower_is_better=False)
    chosen = {
        "loss, best epoch restored (load_best=True)": loss_best,
        "loss, last epoch kept (the default)": loss_last,
        "accuracy, best epoch": acc_best,
        "accuracy, last epoch": acc_last,
    }
    for fixed in (20, 30, 40):
        if fixed < n_epochs:
            chosen[f"epoch {fixed}"] = fixed - 1
    chosen[f"epoch {n_epochs}"] = n_epochs - 1
    chosen["oracle (best test epoch)"] = int(np.argmax(curve["test_accuracy"]))
    return chosen


def main() -> None:
    def extra(parser):
        add_eval_set_arguments(parser)
        parser.add_argument(
            "--epochs", type=int, default=60, help="epochs per fit (default: 60)"
        )
        parser.add_argument(
            "--valid",
            choices=["clips", "groups"],
            default="clips",
            help="what the validation split holds out: clips (the default "
            "split) or whole locations",
        )

    args = parse_args("bench_early_stopping", __doc__.splitlines()[0], extra)
    data = load_tut_acoustic_scenes_2016(args.data)
    rate = soundfile.info(data.data[0]).samplerate
    y, groups = data.target, np.asarray(data.groups)
    print(f"{len(y)} clips, {len(data.target_names)} scenes", flush=True)
    # The default recipe's patience, replayed on the curves.
    callbacks = dict(SceneClassifier().initialize_callbacks().callbacks_)
    patience = callbacks["early_stopping"].patience
    curves: dict[int, list[dict[str, list[float]]]] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        memory = Memory(cache, verbose=0)
        for seed in args.seeds:
            curves[seed] = []
            for train, test in data.cv.split(data.data, y):
                stft = STFTTransformer(sample_rate=rate, memory=memory)
                train_features = stft.fit_transform(data.data[train])
                test_features = stft.transform(data.data[test])
                clf = SceneClassifier(
                    random_state=seed,
                    max_epochs=args.epochs,
                    callbacks__early_stopping=None,
                    callbacks=[
                        (
                            "valid_acc",
                            EpochScoring(
                                _valid_accuracy,
                                lower_is_better=False,
                                name="valid_acc",
                            ),
                        ),
                        ("test", _TestCurve(test_features, y[test])),
                    ],
                )
                if args.valid == "groups":
                    clf.set_params(train_split=LOCATIONS_SPLIT)
                clf.fit(train_features, y[train], groups=groups[train])
                curve = {
                    key: [float(value) for value in clf.history_[:, key]]
                    for key in (
                        "train_loss",
                        "valid_loss",
                        "valid_acc",
                        "test_accuracy",
                    )
                }
                curves[seed].append(curve)
                print(
                    f"seed {seed}: fold {len(curves[seed])}, lowest validation loss "
                    f"at epoch {1 + int(np.argmin(curve['valid_loss']))}, test "
                    f"accuracy {curve['test_accuracy'][-1]:.3f} after "
                    f"{args.epochs} epochs ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    scores: dict[str, dict[int, list[float]]] = {}
    kept: dict[str, list[int]] = {}
    for seed, folds in curves.items():
        for curve in folds:
            for policy, index in _policies(curve, patience).items():
                scores.setdefault(policy, {}).setdefault(seed, []).append(
                    curve["test_accuracy"][index]
                )
                kept.setdefault(policy, []).append(index + 1)
    rows = []
    summary = {}
    for policy, per_seed in scores.items():
        means = [float(np.mean(folds)) for folds in per_seed.values()]
        summary[policy] = {"mean": float(np.mean(means)), "per_seed": means}
        rows.append(
            [
                policy,
                f"{100 * np.mean(means):.1f} %",
                f"{100 * np.std(means):.1f}",
                f"{np.median(kept[policy]):.0f}",
            ]
        )
    print_table(
        f"Kept epoch on {args.data.name}, folds by location, patience {patience}",
        ["policy", "class-wise accuracy", "std over seeds (pp)", "epoch (median)"],
        rows,
    )
    write_json(
        args.output,
        {
            "environment": environment(),
            "data": str(args.data),
            "n_clips": len(y),
            "epochs": args.epochs,
            "valid": args.valid,
            "patience": patience,
            "policies": summary,
            "curves": curves,
            "seconds": time.perf_counter() - start,
        },
    )


if __name__ == "__main__":
    main()
