"""The command line: ``sklearn-allconv <command>`` or ``python -m sklearn_allconv``.

Every command lives here: ``demo``, ``reproduce``, ``fit``, ``predict``,
``evaluate`` and ``export``. PyTorch, scikit-learn and the audio libraries are
imported by the command that needs them, so that ``--help`` answers at once.

Ordinary problems with the input (a missing file, mixed sample rates, a short
clip, a bad model file) end the command with one line on standard error and
exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

__all__ = ["main", "read_labelled_files"]

PROG = "sklearn-allconv"

# Errors of the input, as opposed to bugs: one line and exit status 2.
_INPUT_ERRORS = (ValueError, OSError, ImportError)

_CHANNELS: dict[str, int | str] = {"left": 0, "right": 1, "mean": "mean"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a usage or input error, 130 when
        interrupted with Ctrl-C.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        # The shell convention for a command stopped by SIGINT: 128 + 2.
        print("Interrupted.", file=sys.stderr)
        return 130
    except _INPUT_ERRORS as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 2


# -- reading folders of audio files --------------------------------------------


def read_labelled_files(source: str | os.PathLike) -> tuple[list[str], list[list[str]]]:
    """List the files and their labels of a class-per-folder tree or a CSV file.

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
        Every file of the class folders (hidden files aside) or of the CSV
        file; which of them are audio is for the audio backend to say.
    labels : list of list of str
        The labels of each file (one for a class folder).

    Raises
    ------
    FileNotFoundError
        If ``source`` or a listed file does not exist.
    ValueError
        If no file is found or a CSV row is malformed.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist.")
    paths, labels = [], []
    if source.is_dir():
        for folder in sorted(p for p in source.iterdir() if p.is_dir()):
            for path in _files_under(folder):
                paths.append(path)
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
                listed = (source.parent / row[0]).resolve()
                if not listed.is_file():
                    raise FileNotFoundError(
                        f"{source}, line {line}: {listed} not found."
                    )
                paths.append(str(listed))
                labels.append([label for label in row[1].split(";") if label])
    if not paths:
        raise ValueError(
            f"No files found in {source}: give a folder with one sub-folder of "
            "audio files per class, or a CSV of path,label rows."
        )
    return paths, labels


def _files_under(folder: Path) -> list[str]:
    """Every non-hidden file below ``folder``, sorted."""
    return sorted(
        str(path)
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def _input_files(sources: list[str]) -> list[str]:
    """The files named on the command line, folders expanded."""
    files: list[str] = []
    for source in map(Path, sources):
        if source.is_dir():
            files.extend(_files_under(source))
        elif source.is_file():
            files.append(str(source))
        else:
            raise FileNotFoundError(f"{source} does not exist.")
    if not files:
        raise ValueError(f"No files found in {', '.join(sources)}.")
    return files


class _AudioFile(NamedTuple):
    """What the audio backend says about a file without decoding it."""

    path: str
    sample_rate: int
    n_samples: int


def _probe(paths: list[str]) -> tuple[list[_AudioFile | None], list[str]]:
    """Ask the audio backend about each file; None and a note for the others.

    Any format libsndfile reads is accepted (WAV, FLAC, OGG/Vorbis and Opus,
    MP3, AIFF, ...), whatever the file name says.
    """
    from ._validation import audio_file_info

    found: list[_AudioFile | None] = []
    notes: list[str] = []
    for path in paths:
        try:
            sample_rate, n_samples = audio_file_info(path)
        except (RuntimeError, OSError) as exc:
            # LibsndfileError is a RuntimeError; its text names the file.
            reason = str(exc).rsplit(":", 1)[-1].strip() or type(exc).__name__
            found.append(None)
            notes.append(f"{path}: not an audio file the backend reads ({reason})")
            continue
        found.append(_AudioFile(path, sample_rate, n_samples))
    return found, notes


class _ClipGeometry(NamedTuple):
    """The STFT and network geometry that decides the shortest usable clip."""

    sample_rate: float
    n_fft: int
    hop_length: int
    min_frames: int

    @property
    def min_samples(self) -> int:
        """Samples for ``min_frames`` STFT frames at ``sample_rate``."""
        return self.n_fft + (self.min_frames - 1) * self.hop_length

    def describe_minimum(self) -> str:
        ms = 1000 * self.min_samples / self.sample_rate
        return f"{ms:.0f} ms ({self.min_frames} STFT frames at {_hz(self.sample_rate)})"


def _select_files(
    found: list[_AudioFile | None],
    notes: list[str],
    geometry: _ClipGeometry,
    *,
    resample: bool,
    short_clips: str,
) -> tuple[list[int], list[str]]:
    """Indices of the files to use, and one note per file left out.

    Takes what :func:`_probe` found and noted, and checks sample rates and
    lengths from the file headers, before any feature is computed: a clip too
    short for the network is an error, is kept (``pad``: the estimator repeats
    it up to the minimum) or is left out (``skip``), as ``short_clips`` says.
    The notes are printed on standard error.
    """
    notes = list(notes)
    target = geometry.sample_rate
    wrong_rate = [f for f in found if f is not None and f.sample_rate != target]
    if wrong_rate and not resample:
        examples = ", ".join(
            f"{f.path} ({_hz(f.sample_rate)})" for f in wrong_rate[:3]
        )
        more = f" and {len(wrong_rate) - 3} more" if len(wrong_rate) > 3 else ""
        raise ValueError(
            f"{len(wrong_rate)} file(s) are not at {_hz(target)}: {examples}{more}. "
            "Pass --resample to convert them."
        )
    keep, short = [], []
    for index, audio in enumerate(found):
        if audio is None:
            continue
        n_samples = round(audio.n_samples * target / audio.sample_rate)
        if n_samples >= geometry.min_samples:
            keep.append(index)
            continue
        seconds = audio.n_samples / audio.sample_rate
        if short_clips == "pad" and n_samples >= geometry.n_fft:
            keep.append(index)
        elif short_clips == "pad":
            notes.append(
                f"{audio.path}: {seconds:.3f} s, shorter than one STFT window "
                f"({1000 * geometry.n_fft / target:.0f} ms); too short to pad"
            )
        elif short_clips == "skip":
            notes.append(
                f"{audio.path}: {seconds:.3f} s, shorter than the network's "
                f"minimum of {geometry.describe_minimum()} (--short-clips skip)"
            )
        else:
            short.append(f"{audio.path} ({seconds:.3f} s)")
    if short:
        more = f" and {len(short) - 3} more" if len(short) > 3 else ""
        raise ValueError(
            f"{len(short)} file(s) are shorter than the network's minimum of "
            f"{geometry.describe_minimum()}: {', '.join(short[:3])}{more}. Pass "
            "--short-clips pad to repeat short clips up to the minimum, or "
            "--short-clips skip to leave them out."
        )
    for note in notes:
        print(f"{PROG}: skipped {note}", file=sys.stderr)
    if not keep:
        raise ValueError(
            f"None of the {len(found)} files can be used (see the lines above)."
        )
    return keep, notes


def _hz(rate: float) -> str:
    """``16000 Hz``, not ``16000.0 Hz``."""
    return f"{rate:g} Hz"


def _sample_rate(text: str) -> float:
    """An argparse type: a positive rate in Hz, integral when it can be."""
    rate = float(text)
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"must be a positive rate in Hz, got {text}")
    return int(rate) if rate.is_integer() else rate


def _fraction(text: str) -> float:
    """An argparse type: a number in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


# -- fit, predict, evaluate ----------------------------------------------------


class _TrainingData(NamedTuple):
    """Files with labels, and what a DCASE 2016 data set adds to them."""

    paths: list[str]
    labels: list[list[str]]
    groups: Any  # recordings (ndarray), for validation splits that hold them out
    sample_rate: int | None
    multi_label: bool


def _read_data(
    source: str | os.PathLike, subset: Literal["development", "evaluation"]
) -> _TrainingData:
    """DATA of ``fit`` and ``evaluate``: a DCASE 2016 data set, a tree or a CSV."""
    import numpy as np

    from .datasets import load_chime_home, load_tut_acoustic_scenes_2016
    from .datasets._chime import holds_chime_home
    from .datasets._tut import holds_tut_acoustic_scenes_2016

    if holds_tut_acoustic_scenes_2016(source, subset):
        data = load_tut_acoustic_scenes_2016(source, subset)
        labels = [[str(label)] for label in data.target]
        multi_label = False
    elif holds_chime_home(source, subset):
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


def _training_rate(
    found: list[_AudioFile | None], requested: float | None, resample: bool
) -> float:
    """The rate to train at: ``--sample-rate``, or that of the files."""
    if requested is not None:
        return requested
    counts: dict[int, int] = {}
    for audio in found:
        if audio is not None:
            counts[audio.sample_rate] = counts.get(audio.sample_rate, 0) + 1
    if not counts:
        raise ValueError(
            f"None of the {len(found)} files is an audio file the audio backend "
            "(libsndfile) reads: WAV, FLAC, OGG, MP3, AIFF, ..."
        )
    if len(counts) > 1 and not resample:
        first: dict[int, str] = {}
        for audio in found:
            if audio is not None:
                first.setdefault(audio.sample_rate, audio.path)
        found_rates = ", ".join(
            f"{_hz(rate)} ({first[rate]})" for rate in sorted(first)
        )
        raise ValueError(
            f"The audio files have different sample rates: {found_rates}. Resample "
            "them to one rate, or pass --resample (with --sample-rate to choose "
            "the rate)."
        )
    # With --resample: the rate most files have (the highest of equals).
    return max(counts, key=lambda rate: (counts[rate], rate))


def _fit(args: argparse.Namespace) -> int:
    from sklearn.pipeline import make_pipeline

    from .estimators import AudioTagger, GroupValidSplit, SceneClassifier
    from .features import PAPER_FEATURES, STFTTransformer, stft_geometry
    from .network import minimum_frames
    from .persistence import save_model
    from .progress import EpochProgress

    data = _read_data(args.data, args.subset)
    found, unreadable = _probe(data.paths)
    rate = _training_rate(found, args.sample_rate or data.sample_rate, args.resample)
    multi_label = args.multi_label or data.multi_label
    n_fft, hop_length, _ = stft_geometry(rate)
    geometry = _ClipGeometry(rate, n_fft, hop_length, minimum_frames())
    keep, notes = _select_files(
        found,
        unreadable,
        geometry,
        resample=args.resample,
        short_clips=args.short_clips,
    )
    paths = [data.paths[i] for i in keep]
    labels = [data.labels[i] for i in keep]
    estimator = AudioTagger if multi_label else SceneClassifier
    params: dict[str, Any] = {
        "max_epochs": args.epochs,
        "lr": args.lr,
        "device": args.device,
        "random_state": args.seed,
        "verbose": int(args.verbose),
        "short_clips": "pad" if args.short_clips == "pad" else "error",
    }
    # Left to the recipe unless given.
    if args.batch_size is not None:
        params["batch_size"] = args.batch_size
    if args.patience is not None:
        params["callbacks__early_stopping__patience"] = args.patience
    if not multi_label:
        params["recipe"] = args.recipe
    # The estimator's default split, of the size asked for; the paper's recipe
    # restores its best epoch, and holds out whole recordings as reproduce does.
    split = estimator().train_split
    hold_out = "groups" if args.recipe == "paper" else split.hold_out
    if not args.validation_fraction:
        params["train_split"] = None
    elif (args.validation_fraction, hold_out) != (split.valid_size, split.hold_out):
        params["train_split"] = GroupValidSplit(
            args.validation_fraction, stratified=split.stratified, hold_out=hold_out
        )
    if not (args.quiet or args.verbose):
        params["callbacks"] = [("progress", EpochProgress("fit"))]
    if multi_label:
        params["threshold"] = args.threshold
    if args.n_filters:
        params["module__n_filters"] = args.n_filters
    pipe = make_pipeline(
        STFTTransformer(
            sample_rate=rate,
            # The paper's features are the magnitudes as recorded.
            **(PAPER_FEATURES if args.recipe == "paper" else {}),
            channel=_CHANNELS[args.channel],
            resample=args.resample,
            n_jobs=args.jobs,
            verbose=int(args.verbose),
        ),
        estimator(**params),
    )
    y = labels if multi_label else [row[0] for row in labels]
    fit_params = {}
    if data.groups is not None and args.validation_fraction:
        # For a validation split that holds out whole recordings.
        fit_params[f"{pipe.steps[-1][0]}__groups"] = data.groups[keep]
    pipe.fit(paths, y, **fit_params)
    # The progress lines belong to this run, not to the model.
    pipe[-1].set_params(callbacks=None)
    save_model(pipe, args.model)
    kind = "tagger" if multi_label else "scene classifier"
    used = f"{len(paths)} files" + (f" ({len(notes)} skipped)" if notes else "")
    print(f"Trained a {kind} on {used} at {_hz(rate)}; saved {args.model}.")
    return 0


def _load_for_inference(args: argparse.Namespace) -> Any:
    """The saved pipeline, set up as the command-line options say."""
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
    if args.resample:
        model[0].set_params(resample=True)
    if args.short_clips == "pad":
        model[-1].set_params(short_clips="pad")
    if args.threshold is not None:
        if not hasattr(model[-1], "threshold"):
            raise ValueError(
                f"--threshold applies to taggers; {args.model} holds a scene "
                "classifier, which predicts the most probable class."
            )
        model[-1].set_params(threshold=args.threshold)
    return model


def _select_for_model(model: Any, paths: list[str], args: argparse.Namespace) -> Any:
    """The files a loaded model can score (see :func:`_select_files`)."""
    stft = model[0]
    geometry = _ClipGeometry(
        stft.sample_rate, stft.n_fft_, stft.hop_length_, model[-1].module_.min_frames
    )
    return _select_files(
        *_probe(paths),
        geometry,
        resample=stft.resample,
        short_clips=args.short_clips,
    )


def _describe_model(model: Any) -> str:
    """'Pipeline(A, B)' or the class name: what a model file holds."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        steps = ", ".join(type(step).__name__ for _, step in model.steps)
        return f"Pipeline({steps})"
    return type(model).__name__


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    model = _load_for_inference(args)
    files = _input_files(args.inputs)
    keep, _ = _select_for_model(model, files, args)
    files = [files[i] for i in keep]
    classes = [str(c) for c in model.classes_]
    output = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        writer = csv.writer(output)
        writer.writerow(["path", "prediction", *classes])
        # Chunk by chunk, each written before the next is read: memory holds
        # one chunk's spectrograms, however many files there are. A clip's
        # prediction does not depend on the clips batched with it.
        for start in range(0, len(files), args.chunk_size):
            chunk = files[start : start + args.chunk_size]
            # Features and network once: the labels follow from the probabilities.
            proba = model.predict_proba(chunk)
            predicted = model[-1]._predict_from_proba(proba)
            for path, label, row in zip(chunk, predicted, proba, strict=True):
                if np.ndim(label):
                    label = ";".join(
                        c for c, on in zip(classes, label, strict=True) if on
                    )
                writer.writerow([path, label, *(f"{p:.6f}" for p in row)])
            output.flush()
    finally:
        if args.output:
            output.close()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    from sklearn.metrics import classification_report, confusion_matrix
    from sklearn.preprocessing import MultiLabelBinarizer

    from .metrics import class_wise_accuracy, equal_error_rate, per_class_table

    model = _load_for_inference(args)
    data = _read_data(args.data, args.subset)
    keep, notes = _select_for_model(model, data.paths, args)
    paths = [data.paths[i] for i in keep]
    labels = [data.labels[i] for i in keep]
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
    proba = model.predict_proba(paths)
    predicted = model[-1]._predict_from_proba(proba)
    skipped = f", {len(notes)} skipped" if notes else ""
    print(f"{len(paths)} files{skipped}.")
    tables: dict[str, list[list[Any]]] = {}
    if hasattr(model[-1], "threshold"):
        truth = MultiLabelBinarizer(classes=classes).fit_transform(labels)
        eer = equal_error_rate(truth, proba, average=None)
        print(per_class_table({"EER": eer}, classes, class_header="Tag"))
        print(f"\nAt threshold {model[-1].threshold:g}:")
    else:
        truth = np.array([row[0] for row in labels])
        accuracy = 100 * class_wise_accuracy(truth, predicted, labels=classes)
        print(
            per_class_table(
                {"Accuracy (%)": accuracy},
                classes,
                class_header="Class",
                float_format=".1f",
            )
        )
        matrix = confusion_matrix(truth, predicted, labels=classes)
        tables["confusion_matrix"] = [
            ["true \\ predicted", *classes],
            *([name, *row] for name, row in zip(classes, matrix.tolist(), strict=True)),
        ]
        print("\nConfusion matrix (rows: true class, columns: predicted class):")
        print(_text_table(tables["confusion_matrix"]))
        print()
    report_params = {
        "labels": None if hasattr(model[-1], "threshold") else classes,
        "target_names": classes,
        "zero_division": 0,
    }
    print(classification_report(truth, predicted, **report_params))
    report = classification_report(truth, predicted, output_dict=True, **report_params)
    tables["report"] = [
        ["class", "precision", "recall", "f1-score", "support"],
        *(
            [name, *(values[key] for key in ("precision", "recall", "f1-score",
                                              "support"))]
            for name, values in report.items()
            if isinstance(values, dict)
        ),
    ]
    if args.output:
        _write_evaluation(Path(args.output), tables, classes)
    return 0


def _text_table(rows: list[list[Any]]) -> str:
    widths = [max(len(str(row[j])) for row in rows) for j in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            str(cell).ljust(width) if j == 0 else str(cell).rjust(width)
            for j, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def _write_evaluation(
    folder: Path, tables: dict[str, list[list[Any]]], classes: list[str]
) -> None:
    """``report.csv``, and for scenes ``confusion_matrix.csv`` and ``.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables.items():
        path = folder / f"{name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
        written.append(path)
    if "confusion_matrix" in tables:
        import numpy as np
        from sklearn.metrics import ConfusionMatrixDisplay

        from ._optional import import_optional

        Figure = import_optional(
            "matplotlib.figure", extra="plot", purpose="The confusion matrix PNG"
        ).Figure

        matrix = np.array([row[1:] for row in tables["confusion_matrix"][1:]])
        size = 2 + 0.6 * len(classes)
        fig = Figure(figsize=(size, size), layout="constrained")
        ConfusionMatrixDisplay(matrix, display_labels=classes).plot(
            ax=fig.subplots(), xticks_rotation="vertical", colorbar=False
        )
        path = folder / "confusion_matrix.png"
        fig.savefig(path, dpi=100)
        written.append(path)
    print(f"Wrote {', '.join(str(path) for path in written)}.")


# -- demo ------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    """Cross-validate the paper's pipelines on the built-in synthetic data."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .datasets import DOMESTIC_TAG_LABELS, make_acoustic_scenes, make_domestic_tags
    from .estimators import AudioTagger, SceneClassifier
    from .features import PAPER_FEATURES, STFTTransformer
    from .metrics import class_wise_accuracy, equal_error_rate, per_class_table
    from .progress import EpochProgress
    from .reproduce import DEMO_NETWORK_PARAMS

    def out_of_fold(
        pipe: Pipeline, X: Any, y: Any, groups: Any, name: str, method: str
    ) -> Any:
        # Each fold's recordings also reach fit, for a validation split that
        # holds them out whole (the tagger's; scenes hold out clips).
        # Fold by fold, as cross_val_predict does, with each epoch reported.
        tests, outputs = [], []
        splits = list(GroupKFold(n_splits=4).split(X, y, groups))
        for k, (train, test) in enumerate(splits, start=1):
            fold = clone(pipe)
            if not args.quiet:
                label = f"{name}, fold {k}/{len(splits)}"
                fold.set_params(clf__callbacks=[("progress", EpochProgress(label))])
            fold.fit(X[train], y[train], clf__groups=groups[train])
            tests.append(test)
            outputs.append(getattr(fold, method)(X[test]))
        values = np.concatenate(outputs)
        result = np.empty_like(values)
        result[np.concatenate(tests)] = values
        return result

    def training(**params: Any) -> dict:
        epochs = {} if args.epochs is None else {"max_epochs": args.epochs}
        return {
            **params,
            **epochs,
            "device": args.device,
            "random_state": args.seed,
        }

    start = time.perf_counter()
    clips, y, locations = make_acoustic_scenes(random_state=args.seed)
    clips, y, locations = _object_array(clips), np.asarray(y), np.asarray(locations)
    durations = [len(clip) / 44100 for clip in clips]
    print(
        f"Acoustic scenes (synthetic): {len(clips)} clips of {min(durations):.1f}-"
        f"{max(durations):.1f} s at 44.1 kHz, {len(set(y))} scenes, "
        f"{len(set(locations))} locations; GroupKFold(4) by location.",
        flush=True,
    )
    # The floor's features: the magnitudes as recorded, whose level is a cue.
    magnitudes = STFTTransformer(
        **PAPER_FEATURES, standardize=False, n_jobs=args.jobs
    ).fit_transform(clips)
    # The network's features: the library's defaults, whose shape needs no audio.
    _, _, n_bands, n_mels = STFTTransformer()._geometry()
    kind = "bins" if n_mels is None else "mel bands"
    print(
        f"  STFT: {magnitudes[0].shape[1]} bins per frame; the network's "
        f"features: {n_bands} {kind} (PCEN).",
        flush=True,
    )
    # Standardization is refitted inside each fold, as in a real evaluation.
    pipe = Pipeline(
        [
            ("stft", STFTTransformer(n_jobs=args.jobs)),
            ("clf", SceneClassifier(**training())),  # the defaults
        ]
    )
    predicted = out_of_fold(pipe, clips, y, locations, "Scenes", "predict")
    mean_spectra = np.stack([np.log(m + 1e-6).mean(axis=0) for m in magnitudes])
    logistic = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        mean_spectra,
        y,
        groups=locations,
        cv=GroupKFold(n_splits=4),
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
        f"{1 / len(labels):.3f}.",
        flush=True,
    )

    clips, Y, segments = make_domestic_tags(random_state=args.seed)
    clips, segments = _object_array(clips), np.asarray(segments)
    print(
        f"\nDomestic tags (synthetic): {len(clips)} clips of 4 s at 16 kHz, "
        f"{Y.shape[1]} tags, {len(set(segments))} segments; GroupKFold(4) by segment.",
        flush=True,
    )
    pipe = Pipeline(
        [
            ("stft", STFTTransformer(sample_rate=16000, n_jobs=args.jobs)),
            ("clf", AudioTagger(**training(**DEMO_NETWORK_PARAMS))),
        ]
    )
    scores = out_of_fold(pipe, clips, Y, segments, "Tags", "predict_proba")
    eer = equal_error_rate(Y, scores, average=None)
    print(
        per_class_table(
            {"Network": eer}, list(DOMESTIC_TAG_LABELS), class_header="Audio tag"
        )
    )
    print(f"\nDone in {time.perf_counter() - start:.0f} s.")
    return 0


def _object_array(clips: Collection[Any]) -> Any:
    """Clips of different lengths as a 1-D object array, which indexes by folds."""
    import numpy as np

    array = np.empty(len(clips), dtype=object)
    array[:] = list(clips)
    return array


# -- reproduce -------------------------------------------------------------------


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce_table

    network_params: dict[str, Any] = {"device": args.device}
    if args.n_filters is not None:
        network_params["module__n_filters"] = args.n_filters
    reproduce_table(
        args.task,
        args.root,
        max_epochs=args.max_epochs,
        network_params=network_params,
        n_jobs=args.n_jobs,
        output=args.output,
        figure=not args.no_figure,
        random_state=args.random_state,
        verbose=args.verbose,
    )
    return 0


# -- the parser --------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    from .export import export_onnx
    from .persistence import load_model

    model = load_model(args.model, device="cpu")
    start = time.perf_counter()
    path = export_onnx(model, args.output)
    seconds = time.perf_counter() - start
    size = path.stat().st_size / 1e6
    graph_input = (
        f"mono float32 audio at {_hz(model[0].sample_rate)}"
        if hasattr(model, "steps")
        else "standardized spectrograms"
    )
    print(
        f"Exported {_describe_model(model)} to {path} ({size:.1f} MB, "
        f"{seconds:.1f} s); its input: {graph_input}."
    )
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "All-convolutional networks with masked global pooling for "
            "variable-length audio (Hertel et al., DCASE 2016)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_demo(commands)
    _add_reproduce(commands)
    _add_fit(commands)
    _add_predict(commands)
    _add_evaluate(commands)
    _add_export(commands)
    return parser


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="cross-validate scene classification and tagging on built-in data",
        description=(
            "Runs the paper's two pipelines on the built-in synthetic data (no "
            "downloads): 4-fold grouped cross-validation of scene classification "
            "(class-wise accuracy, against a logistic regression on mean spectra) "
            "and of audio tagging (equal error rate per tag). The scene classifier "
            "trains with the library's defaults (early stopping on a validation "
            "split of a fifth of the clips); the tagger trains for a "
            "fixed number of epochs on all training clips. Each epoch of each "
            "fold is reported on standard error (-q: not)."
        ),
    )
    demo.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="the tagger's training epochs (30) and the scene classifier's "
        "maximum (100; early stopping usually ends training sooner)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (0)")
    demo.add_argument(
        "--device", default="auto", help="torch device: auto, cpu, cuda (auto)"
    )
    demo.add_argument(
        "--jobs", type=int, default=None, help="parallel STFT jobs (1; -1 = all cores)"
    )
    demo.add_argument(
        "--quiet", "-q", action="store_true", help="no per-epoch progress lines"
    )
    _add_debug(demo)
    demo.set_defaults(handler=_demo)


def _add_reproduce(commands: Any) -> None:
    parser = commands.add_parser(
        "reproduce",
        help="reproduce the paper's Table 2 or 3 (network vs. MFCC+GMM baseline)",
        description=(
            "Runs the network and the DCASE 2016 baseline on identical folds and "
            "prints the paper's Table 2 (scenes) or Table 3 (tags): on a DCASE "
            "2016 dataset root, or on the built-in demo data without --root."
        ),
    )
    parser.add_argument(
        "--task",
        choices=("scenes", "tags"),
        default="scenes",
        help="scenes: Table 2 (DCASE 2016 Task 1); tags: Table 3 (Task 4). "
        "Default: scenes.",
    )
    parser.add_argument(
        "--root",
        help="dataset folder: TUT Acoustic Scenes 2016 development (scenes) or "
        "CHiME-Home (tags). Default: the synthetic demo data.",
    )
    parser.add_argument("--output", help="folder for the table files and figure")
    parser.add_argument(
        "--max-epochs",
        type=int,
        help="network training epochs (default: 100 with early stopping; 30 on the "
        "demo data)",
    )
    parser.add_argument(
        "--n-filters",
        type=int,
        help="filters per network layer (default: the paper's 256)",
    )
    parser.add_argument(
        "--n-jobs",
        "--jobs",
        type=int,
        help="folds evaluated in parallel (default: 1)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device of the network: auto, cpu, cuda (default: auto)",
    )
    parser.add_argument(
        "--random-state", "--seed", type=int, default=0, help="seed (default: 0)"
    )
    parser.add_argument(
        "--no-figure", action="store_true", help="do not write the figure"
    )
    parser.add_argument(
        "--verbose", "-v", action="count", default=0, help="report each fold"
    )
    _add_debug(parser)
    parser.set_defaults(handler=_reproduce)


_DATA_HELP = (
    "class-per-folder tree, CSV of path,label, or a DCASE 2016 data set folder"
)


def _add_fit(commands: Any) -> None:
    fit = commands.add_parser(
        "fit",
        help="train on a folder of audio files and save the model",
        description=(
            "Train the STFT + all-convolutional pipeline on audio files and save it "
            "in the safe model format. DATA is a folder with one sub-folder per "
            "class (scene classification), a CSV of path,label rows where "
            "label may list several tags separated by ';' (tagging), or the "
            "folder of a DCASE 2016 data set: TUT Acoustic Scenes 2016 (scenes) "
            "or CHiME-Home (tags), whose recordings the validation split of a "
            "tagger or of --recipe paper keeps together. Every format the audio "
            "backend (libsndfile) reads is used: WAV, FLAC, OGG/Vorbis/Opus, MP3, "
            "AIFF, ...; other files "
            "are reported and left out. Each epoch is reported on standard error "
            "(-q: not; -v: skorch's epoch table and a feature progress bar)."
        ),
    )
    fit.add_argument("data", help=_DATA_HELP)
    fit.add_argument("model", help="file to write, e.g. model.safetensors")
    fit.add_argument("--multi-label", action="store_true", help="train a tagger")
    fit.add_argument("--lr", type=float, default=1e-3, help="learning rate (0.001)")
    fit.add_argument(
        "--validation-fraction",
        type=_fraction,
        default=0.2,
        help="fraction of the files held out for early stopping and the learning "
        "rate schedule (whole recordings, where the data name them, for taggers "
        "and --recipe paper); 0 trains on all files for --epochs (0.2)",
    )
    fit.add_argument(
        "--recipe",
        choices=["default", "paper"],
        default="default",
        help="the library's recipe (features normalized to each file's RMS "
        "level, pooled into 128 mel bands and compressed with PCEN; scenes: "
        "batch 32, patience 5 epochs to "
        "halve the learning rate, 20 to stop, the last epoch's weights kept, "
        "validation files drawn from every recording) or the paper's "
        "(magnitudes as recorded; scenes: batch 96, 3 and 10, the best epoch's "
        "weights restored, whole recordings held out); taggers always train "
        "with the paper's settings (default)",
    )
    fit.add_argument(
        "--patience",
        type=_positive_int,
        default=None,
        help="epochs without a better validation loss before training stops "
        "(the recipe's: 20, or 10 with --recipe paper and for taggers)",
    )
    fit.add_argument(
        "--epochs", type=_positive_int, default=100, help="maximal epochs (100)"
    )
    fit.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="batch size (the recipe's: 32, or 96 with --recipe paper and for "
        "taggers)",
    )
    fit.add_argument(
        "--n-filters", type=_positive_int, default=None, help="filters per layer (256)"
    )
    fit.add_argument(
        "--sample-rate",
        type=_sample_rate,
        default=None,
        help="sample rate in Hz to train at (default: that of the files; with "
        "--resample, the rate most files have)",
    )
    fit.add_argument(
        "--channel",
        choices=sorted(_CHANNELS),
        default="left",
        help="channel of multi-channel files: left (the paper's), right or mean "
        "(left)",
    )
    fit.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="tagger only: probability above which a tag is predicted (0.5)",
    )
    fit.add_argument(
        "--jobs", type=int, default=None, help="parallel STFT jobs (-1: all cores)"
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed (0)")
    fit.add_argument(
        "--quiet", "-q", action="store_true", help="no per-epoch progress lines"
    )
    _add_subset(fit)
    _add_file_options(fit, resample_help="resample files to --sample-rate")
    fit.set_defaults(handler=_fit)


def _add_predict(commands: Any) -> None:
    predict = commands.add_parser(
        "predict",
        help="predict labels and probabilities for audio files",
        description=(
            "Write one CSV row per file: path, prediction, probabilities. Files "
            "that cannot be scored are reported on standard error."
        ),
    )
    predict.add_argument("model", help="a model saved by 'fit'")
    predict.add_argument("inputs", nargs="+", help="audio files or folders")
    predict.add_argument("--output", "-o", help="CSV file (default: standard output)")
    predict.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=256,
        help=(
            "files read and scored at a time; memory grows with it, not with "
            "the number of files (default: %(default)s)"
        ),
    )
    _add_threshold(predict)
    _add_file_options(predict, resample_help=_RESAMPLE_HELP)
    predict.set_defaults(handler=_predict)


def _add_evaluate(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="class-wise accuracy or per-tag EER, confusion matrix and report",
        description=(
            "Evaluate a saved model on labelled audio files (same DATA forms as "
            "'fit'): class-wise accuracy and the confusion matrix for a scene "
            "classifier, equal error rate per tag for a tagger, in the layout "
            "of the paper's tables, and scikit-learn's per-class precision, "
            "recall and F1 report."
        ),
    )
    evaluate.add_argument("model", help="a model saved by 'fit'")
    evaluate.add_argument("data", help=_DATA_HELP)
    evaluate.add_argument(
        "--output",
        "-o",
        help="folder to write report.csv and, for scenes, confusion_matrix.csv "
        "and confusion_matrix.png (needs matplotlib) into",
    )
    _add_threshold(evaluate)
    _add_subset(evaluate)
    _add_file_options(evaluate, resample_help=_RESAMPLE_HELP)
    evaluate.set_defaults(handler=_evaluate)


def _add_export(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="write a saved model as an ONNX graph for onnxruntime",
        description=(
            "Write a model saved by 'fit' (or save_model) as one ONNX graph: from "
            "mono float32 audio at the model's sample rate (or, for an estimator "
            "saved alone, from spectrograms) to the outputs proba, embedding and "
            "frame_proba. Needs pip install 'sklearn-allconv[onnx]'."
        ),
    )
    export.add_argument("model", help="a model saved by 'fit' or save_model")
    export.add_argument("output", help="the .onnx file to write")
    _add_debug(export)
    export.set_defaults(handler=_export)


_RESAMPLE_HELP = "resample files whose rate differs from the model's"


def _add_threshold(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="tagger only: probability above which a tag is predicted "
        "(default: the model's)",
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


def _add_file_options(parser: argparse.ArgumentParser, *, resample_help: str) -> None:
    parser.add_argument("--resample", action="store_true", help=resample_help)
    parser.add_argument(
        "--short-clips",
        choices=("error", "pad", "skip"),
        default="error",
        help="clips too short for the network: stop with an error naming them, "
        "repeat them up to the minimum length (pad), or leave them out and "
        "name them (skip). Default: error",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (auto)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show progress")
    _add_debug(parser)


def _add_debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error instead of one line",
    )
