"""Command line: ``python -m sklearn_allconv <command>`` or ``sklearn-allconv``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from .cli import add_file_commands
from .reproduce import DEMO_NETWORK_PARAMS, add_reproduce_arguments, run_reproduce


def _demo_training(args: argparse.Namespace) -> dict:
    """Training settings for the tiny demo data (see ``DEMO_NETWORK_PARAMS``)."""
    return {
        **DEMO_NETWORK_PARAMS,
        "max_epochs": args.epochs,
        "device": args.device,
        "random_state": args.seed,
    }


def _demo(args: argparse.Namespace) -> int:
    """Cross-validate the paper's pipelines on the built-in synthetic data."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import AudioTagger, SceneClassifier, STFTTransformer
    from .datasets import DOMESTIC_TAG_LABELS, make_acoustic_scenes, make_domestic_tags
    from .metrics import class_wise_accuracy, equal_error_rate, per_class_table

    start = time.perf_counter()
    clips, y, locations = make_acoustic_scenes(random_state=args.seed)
    durations = [len(clip) / 44100 for clip in clips]
    print(
        f"Acoustic scenes (synthetic): {len(clips)} clips of {min(durations):.1f}-"
        f"{max(durations):.1f} s at 44.1 kHz, {len(set(y))} scenes, "
        f"{len(set(locations))} locations; GroupKFold(4) by location."
    )
    magnitudes = STFTTransformer(standardize=False, n_jobs=args.jobs).fit_transform(
        clips
    )
    print(f"  STFT: {magnitudes[0].shape[1]} bins per frame.")
    # Standardization is refitted inside each fold, as in a real evaluation.
    pipe = Pipeline(
        [
            ("stft", STFTTransformer(n_jobs=args.jobs)),
            (
                "clf",
                SceneClassifier(**_demo_training(args)),
            ),
        ]
    )
    cv = GroupKFold(n_splits=4)
    predicted = cross_val_predict(pipe, clips, y, groups=locations, cv=cv)
    mean_spectra = np.stack([np.log(m + 1e-6).mean(axis=0) for m in magnitudes])
    logistic = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        mean_spectra,
        y,
        groups=locations,
        cv=cv,
    )
    labels = np.unique(y)
    table = per_class_table(
        {
            "Logistic regression (mean spectrum)": 100
            * class_wise_accuracy(y, logistic, labels=labels),
            "Network": 100 * class_wise_accuracy(y, predicted, labels=labels),
        },
        list(labels),
        class_header="Acoustic scene",
        float_format=".1f",
    )
    print(table)
    print(
        f"  Accuracy over clips: network {np.mean(predicted == y):.3f}, "
        f"logistic regression {np.mean(logistic == y):.3f}, chance "
        f"{1 / len(labels):.3f}."
    )

    clips, Y, segments = make_domestic_tags(random_state=args.seed)
    print(
        f"\nDomestic tags (synthetic): {len(clips)} clips of 4 s at 16 kHz, "
        f"{Y.shape[1]} tags, {len(set(segments))} segments; GroupKFold(4) by segment."
    )
    pipe = Pipeline(
        [
            ("stft", STFTTransformer(sample_rate=16000, n_jobs=args.jobs)),
            (
                "clf",
                AudioTagger(**_demo_training(args)),
            ),
        ]
    )
    scores = cross_val_predict(
        pipe, clips, Y, groups=segments, cv=cv, method="predict_proba"
    )
    eer = equal_error_rate(Y, scores, average=None)
    print(
        per_class_table(
            {"Network": eer}, list(DOMESTIC_TAG_LABELS), class_header="Audio tag"
        )
    )
    print(f"\nDone in {time.perf_counter() - start:.0f} s.")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sklearn-allconv",
        description=(
            "All-convolutional networks with masked global pooling for "
            "variable-length audio (Hertel et al., DCASE 2016)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="cross-validate scene classification and tagging on built-in data",
        description=(
            "Runs the paper's two pipelines on the built-in synthetic data (no "
            "downloads): 4-fold grouped cross-validation of scene classification "
            "(class-wise accuracy, against a logistic regression on mean spectra) "
            "and of audio tagging (equal error rate per tag)."
        ),
    )
    demo.add_argument("--epochs", type=int, default=30, help="training epochs (30)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (0)")
    demo.add_argument(
        "--device", default="auto", help="torch device: auto, cpu, cuda (auto)"
    )
    demo.add_argument(
        "--jobs", type=int, default=None, help="parallel STFT jobs (1; -1 = all cores)"
    )
    demo.set_defaults(handler=_demo)
    reproduce = commands.add_parser(
        "reproduce",
        help="reproduce the paper's Table 2 or 3 (network vs. MFCC+GMM baseline)",
        description=(
            "Runs the network and the DCASE 2016 baseline on identical folds and "
            "prints the paper's Table 2 (scenes) or Table 3 (tags): on a DCASE "
            "2016 dataset root, or on the built-in demo data without --root."
        ),
    )
    add_reproduce_arguments(reproduce)
    reproduce.set_defaults(handler=run_reproduce)
    add_file_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        Exit status: 0 on success, 130 when interrupted with Ctrl-C.

    """
    args = _build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        # The shell convention for a command stopped by SIGINT: 128 + 2.
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
