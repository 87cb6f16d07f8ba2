"""The ``fit``, ``predict`` and ``evaluate`` commands on folders of audio files."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import soundfile

__all__ = ["add_file_commands", "read_labelled_files"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")


def read_labelled_files(source: str | os.PathLike) -> tuple[list[str], list[list[str]]]:
    """Audio paths and their labels from a class-per-folder tree or a CSV file.

    Parameters
    ----------
    source : str or path-like
        Either a folder with one sub-folder per class holding audio files, or a
        CSV file with rows ``path,label`` (several labels separated by ``;``;
        relative paths are relative to the CSV file; an optional header row
        ``path,label`` is skipped).

    Returns
    -------
    paths : list of str
        The audio files.
    labels : list of list of str
        The labels of each file (one for a class folder).

    Raises
    ------
    FileNotFoundError
        If ``source`` or a listed file does not exist.
    ValueError
        If no audio file is found or a CSV row is malformed.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist.")
    paths, labels = [], []
    if source.is_dir():
        for folder in sorted(p for p in source.iterdir() if p.is_dir()):
            for path in _audio_files(folder):
                paths.append(str(path))
                labels.append([folder.name])
    else:
        with open(source, newline="") as handle:
            for line, row in enumerate(csv.reader(handle), start=1):
                if not row or (line == 1 and row[:2] == ["path", "label"]):
                    continue
                if len(row) != 2 or not row[0]:
                    raise ValueError(
                        f"{source}, line {line}: expected 'path,label[;label...]', "
                        f"got {row!r}."
                    )
                path = (source.parent / row[0]).resolve()
                if not path.is_file():
                    raise FileNotFoundError(f"{source}, line {line}: {path} not found.")
                paths.append(str(path))
                labels.append([label for label in row[1].split(";") if label])
    if not paths:
        raise ValueError(
            f"No audio files ({', '.join(AUDIO_SUFFIXES)}) found in {source}: give "
            "a folder with one sub-folder per class, or a CSV of path,label rows."
        )
    return paths, labels


class _TrainingData(NamedTuple):
    """Audio files with labels, and what a DCASE 2016 data set adds to them."""

    paths: list[str]
    labels: list[list[str]]
    groups: np.ndarray | None  # recordings: kept on one side of validation splits
    sample_rate: int | None
    multi_label: bool


def _read_data(source: str | os.PathLike, subset: str) -> _TrainingData:
    """DATA of ``fit`` and ``evaluate``: a DCASE 2016 data set, a tree or a CSV."""
    from .datasets import load_chime_home, load_tut_acoustic_scenes_2016
    from .datasets._chime import _CHUNK_LISTS, _FOLDER
    from .datasets._files import resolve_root
    from .datasets._tut import _LABEL_FILES, _PREFIX

    def holds(marker: str, folder: str) -> bool:
        # The loaders' own test: ``source`` or ``source/<folder>`` has ``marker``.
        try:
            resolve_root(source, folder=folder, marker=marker)
        except FileNotFoundError:
            return False
        return True

    if holds(_LABEL_FILES[subset], _PREFIX + subset):
        data = load_tut_acoustic_scenes_2016(source, subset)
        labels = [[str(label)] for label in data.target]
        multi_label = False
    elif holds(_CHUNK_LISTS[subset], _FOLDER):
        data = load_chime_home(source, subset)
        names = [str(name) for name in data.target_names]
        labels = [[names[j] for j in np.flatnonzero(row)] for row in data.target]
        multi_label = True
    else:
        paths, labels = read_labelled_files(source)
        multi_label = any(len(row) != 1 for row in labels)
        return _TrainingData(paths, labels, None, None, multi_label)
    paths = [str(path) for path in data.data]
    return _TrainingData(paths, labels, data.groups, data.sample_rate, multi_label)


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def _input_files(sources: list[str]) -> list[str]:
    files: list[str] = []
    for source in map(Path, sources):
        if source.is_dir():
            files.extend(str(p) for p in _audio_files(source))
        elif source.is_file():
            files.append(str(source))
        else:
            raise FileNotFoundError(f"{source} does not exist.")
    if not files:
        raise ValueError(f"No audio files found in {', '.join(sources)}.")
    return files


def _common_sample_rate(paths: list[str]) -> int:
    rates = {}
    for path in paths:
        rates.setdefault(soundfile.info(path).samplerate, path)
    if len(rates) > 1:
        found = ", ".join(f"{rate} Hz ({path})" for rate, path in rates.items())
        raise ValueError(
            f"The audio files have different sample rates: {found}. Resample them "
            "to one rate, or pass --sample-rate with --resample."
        )
    return next(iter(rates))


def _fit(args: argparse.Namespace) -> int:
    from sklearn.pipeline import make_pipeline

    from . import AudioTagger, SceneClassifier, STFTTransformer
    from .persistence import save_model

    data = _read_data(args.data, args.subset)
    paths, labels = data.paths, data.labels
    rate = args.sample_rate or data.sample_rate or _common_sample_rate(paths)
    multi_label = args.multi_label or data.multi_label
    estimator = AudioTagger if multi_label else SceneClassifier
    params = {
        "max_epochs": args.epochs,
        "batch_size": args.batch_size,
        "device": args.device,
        "random_state": args.seed,
        "verbose": int(args.verbose),
    }
    if args.n_filters:
        params["module__n_filters"] = args.n_filters
    pipe = make_pipeline(
        STFTTransformer(
            sample_rate=rate,
            resample=args.resample,
            n_jobs=args.jobs,
            verbose=int(args.verbose),
        ),
        estimator(**params),
    )
    y = labels if multi_label else [row[0] for row in labels]
    fit_params = {}
    if data.groups is not None:
        # The validation split for early stopping keeps recordings together.
        fit_params[f"{pipe.steps[-1][0]}__groups"] = data.groups
    pipe.fit(paths, y, **fit_params)
    save_model(pipe, args.model)
    kind = "tagger" if multi_label else "scene classifier"
    print(f"Trained a {kind} on {len(paths)} files at {rate} Hz; saved {args.model}.")
    return 0


def _predict(args: argparse.Namespace) -> int:
    model = _load_for_inference(args)
    files = _input_files(args.inputs)
    # Features and network once: the labels follow from the probabilities.
    proba = model.predict_proba(files)
    predicted = model[-1]._predict_from_proba(proba)
    classes = [str(c) for c in model.classes_]
    output = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        writer = csv.writer(output)
        writer.writerow(["path", "prediction", *classes])
        for path, label, row in zip(files, predicted, proba, strict=True):
            if np.ndim(label):
                label = ";".join(c for c, on in zip(classes, label, strict=True) if on)
            writer.writerow([path, label, *(f"{p:.6f}" for p in row)])
    finally:
        if args.output:
            output.close()
    return 0


def _load_for_inference(args: argparse.Namespace) -> Any:
    """The saved pipeline, on ``--device``, its STFT progress bar on with ``-v``."""
    from sklearn.pipeline import Pipeline

    from .features import STFTTransformer
    from .persistence import load_model

    model = load_model(args.model, device=args.device)
    if not (
        isinstance(model, Pipeline)
        and isinstance(model[0], STFTTransformer)
        and hasattr(model[-1], "_predict_from_proba")
    ):
        raise ValueError(
            f"{args.model} holds a {_describe_model(model)}, not an STFT + network "
            "pipeline that reads audio files; save models for the command line "
            "with 'fit'."
        )
    model[0].set_params(verbose=int(args.verbose))
    return model


def _describe_model(model: Any) -> str:
    """'Pipeline(A, B)' or the class name: what a model file holds."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        steps = ", ".join(type(step).__name__ for _, step in model.steps)
        return f"Pipeline({steps})"
    return type(model).__name__


def _evaluate(args: argparse.Namespace) -> int:
    from sklearn.preprocessing import MultiLabelBinarizer

    from .estimators import AudioTagger
    from .metrics import class_wise_accuracy, equal_error_rate, per_class_table

    model = _load_for_inference(args)
    data = _read_data(args.data, args.subset)
    paths, labels = data.paths, data.labels
    classes = [str(c) for c in model.classes_]
    unknown = sorted({label for row in labels for label in row} - set(classes))
    if unknown:
        # Dropping their clips would report a score over the rest as if it
        # were the score on this data.
        raise ValueError(
            f"{args.data} holds classes the model does not know: "
            f"{', '.join(unknown)}. The model knows {', '.join(classes)}; "
            "evaluate it on data of those classes."
        )
    if isinstance(model[-1], AudioTagger):
        Y = MultiLabelBinarizer(classes=classes).fit_transform(labels)
        eer = equal_error_rate(Y, model.predict_proba(paths), average=None)
        print(per_class_table({"EER": eer}, classes, class_header="Tag"))
    else:
        y = np.array([row[0] for row in labels])
        accuracy = 100 * class_wise_accuracy(y, model.predict(paths), labels=classes)
        print(
            per_class_table(
                {"Accuracy (%)": accuracy},
                classes,
                class_header="Class",
                float_format=".1f",
            )
        )
    return 0


def add_file_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``fit``, ``predict`` and ``evaluate`` sub-commands.

    Parameters
    ----------
    commands : argparse sub-parsers
        The result of ``parser.add_subparsers()``.
    """
    fit = commands.add_parser(
        "fit",
        help="train on a folder of audio files and save the model",
        description=(
            "Train the STFT + all-convolutional pipeline on audio files and save it "
            "in the safe model format. DATA is a folder with one sub-folder per "
            "class (scene classification), a CSV of path,label rows where "
            "label may list several tags separated by ';' (tagging), or the "
            "folder of a DCASE 2016 data set: TUT Acoustic Scenes 2016 (scenes) "
            "or CHiME-Home (tags), whose recordings are kept together in the "
            "validation split."
        ),
    )
    fit.add_argument("data", help=_DATA_HELP)
    fit.add_argument("model", help="file to write, e.g. model.safetensors")
    fit.add_argument("--multi-label", action="store_true", help="train a tagger")
    fit.add_argument(
        "--epochs", type=_positive_int, default=100, help="maximal epochs (100)"
    )
    fit.add_argument(
        "--batch-size", type=_positive_int, default=96, help="batch size (96)"
    )
    fit.add_argument(
        "--n-filters", type=_positive_int, default=None, help="filters per layer (256)"
    )
    fit.add_argument(
        "--sample-rate",
        type=float,
        default=None,
        help="expected sample rate in Hz (default: that of the files)",
    )
    fit.add_argument(
        "--resample", action="store_true", help="resample files to --sample-rate"
    )
    fit.add_argument(
        "--jobs", type=int, default=None, help="parallel STFT jobs (-1: all cores)"
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed (0)")
    _add_subset(fit)
    _add_common(fit)

    predict = commands.add_parser(
        "predict",
        help="predict labels and probabilities for audio files",
        description="Write one CSV row per file: path, prediction, probabilities.",
    )
    predict.add_argument("model", help="a model saved by 'fit'")
    predict.add_argument("inputs", nargs="+", help="audio files or folders")
    predict.add_argument("--output", "-o", help="CSV file (default: standard output)")
    _add_common(predict)

    evaluate = commands.add_parser(
        "evaluate",
        help="print class-wise accuracy or per-tag EER on labelled files",
        description=(
            "Evaluate a saved model on labelled audio files (same DATA forms as "
            "'fit'): class-wise accuracy for a scene classifier, equal error rate "
            "per tag for a tagger, in the layout of the paper's tables."
        ),
    )
    evaluate.add_argument("model", help="a model saved by 'fit'")
    evaluate.add_argument("data", help=_DATA_HELP)
    _add_subset(evaluate)
    _add_common(evaluate)

    fit.set_defaults(handler=_fit)
    predict.set_defaults(handler=_predict)
    evaluate.set_defaults(handler=_evaluate)


_DATA_HELP = (
    "class-per-folder tree, CSV of path,label, or a DCASE 2016 data set folder"
)


def _positive_int(text: str) -> int:
    """An argparse type: settings that cannot train are refused before any work."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_subset(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subset",
        choices=("development", "evaluation"),
        default="development",
        help="which subset of a DCASE 2016 data set folder (development)",
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (auto)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show progress")
