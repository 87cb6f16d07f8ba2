"""TUT Acoustic Scenes 2016, the DCASE 2016 Task 1 dataset: loader and fetcher."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from sklearn.model_selection import PredefinedSplit
from sklearn.utils import Bunch

from ._fetch import RemoteArchive, fetch_archives
from ._files import MetadataRow, read_audio, read_table, resolve_root

__all__ = [
    "TUT_ACOUSTIC_SCENES_2016_URLS",
    "fetch_tut_acoustic_scenes_2016",
    "load_tut_acoustic_scenes_2016",
]

TUT_ACOUSTIC_SCENES_2016_URLS = {
    "development": "https://zenodo.org/records/45739/files/",
    "evaluation": "https://zenodo.org/records/165995/files/",
}
"""Where the archives of each subset are downloaded from (Zenodo records)."""

_SAMPLE_RATE = 44100
_N_FOLDS = 4
_PREFIX = "TUT-acoustic-scenes-2016-"
_ARCHIVES = {
    "development": tuple(
        RemoteArchive(f"{_PREFIX}development.{part}.zip", md5)
        for part, md5 in [
            ("meta", "779b33da2ebbf8bde494b3c981827251"),
            ("error", "a0d3e0d81b0a36ece87d0f3a9124a386"),
            ("audio.1", "e39546e65f2e72517b6335aaf0c8323d"),
            ("audio.2", "d36cf3253e2c041f68e937a3fe804807"),
            ("audio.3", "0393a9620ab882b1c26d884eccdcffdd"),
            ("audio.4", "fb3e4e0cd7ea82120ec07031dee558ce"),
            ("audio.5", "a19cf600b33c8f88f6ad607bafd74057"),
            ("audio.6", "591aad3219d1155342572cc1f6af5680"),
            ("audio.7", "9e6c1897789e6bce13ac69c6caedb7ab"),
            ("audio.8", "c4718354f48fcc9dfc7305f6cd8325c8"),
        ]
    ),
    "evaluation": tuple(
        RemoteArchive(f"{_PREFIX}evaluation.{part}.zip", md5)
        for part, md5 in [
            ("meta", "0d5c131fc3f50c682de62e0e648aceba"),
            ("audio.1", "7c6c2e54b8a9c4c37a803b81446d16fe"),
            ("audio.2", "7930f1dc26707ab3ba9526073af87333"),
            ("audio.3", "17187d633d6402aee4b481122a1b28f0"),
        ]
    ),
}
# The file every copy of a subset has: what tells a dataset folder apart.
_LABEL_FILES = {
    "development": "meta.txt",
    "evaluation": "evaluation_setup/evaluate.txt",
}

_DESCR = """\
TUT Acoustic Scenes 2016 (DCASE 2016 Task 1)
--------------------------------------------

Binaural recordings of 15 acoustic scenes (beach, bus, cafe/restaurant, car,
city_center, forest_path, grocery_store, home, library, metro_station,
office, park, residential_area, train, tram), 3-5 minutes per location, cut
into 30 s segments; 44.1 kHz, 24 bit, two channels.

Development set: 1170 segments (78 per scene), four official
cross-validation folds that keep each recording on one side. Evaluation set:
390 segments named 1.wav ... 390.wav, labels from the later meta package.

Task 1 is scored with the class-wise accuracy averaged over classes and,
on the development set, over the four folds. Hertel et al. (2016) use the
left channel only.

A. Mesaros, T. Heittola and T. Virtanen, "TUT database for acoustic scene
classification and sound event detection", EUSIPCO 2016.
https://zenodo.org/records/45739, https://zenodo.org/records/165995
"""


def load_tut_acoustic_scenes_2016(
    root: str | os.PathLike,
    subset: Literal["development", "evaluation"] = "development",
    *,
    return_audio: bool = False,
    channel: int | None = None,
    errors: Literal["keep", "drop"] = "keep",
) -> Bunch:
    """Load TUT Acoustic Scenes 2016 (DCASE 2016 Task 1) from its folder.

    Parameters
    ----------
    root : str or path-like
        The extracted ``TUT-acoustic-scenes-2016-development`` (or
        ``-evaluation``) folder, or the folder that contains it.
    subset : {"development", "evaluation"}, default="development"
        Which part of the dataset to load.
    return_audio : bool, default=False
        If False, ``data`` holds the audio file paths, which
        :class:`~sklearn_allconv.STFTTransformer` reads itself; if True, the
        audio as float32 arrays (about 10 MB per segment in memory).
    channel : int or None, default=None
        With ``return_audio``: None keeps both channels, 0 keeps the left
        channel only (as in the paper), 1 the right one.
    errors : {"keep", "drop"}, default="keep"
        What to do with the spans that ``error.txt`` marks as corrupted
        (mobile phone interference, microphone failures): ``"keep"`` leaves
        the audio as it is; ``"drop"`` cuts the spans out of the audio, which
        needs ``return_audio=True``. Either way the spans are reported in
        ``error_spans``.

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the attributes:

        data : ndarray of object of shape (n_clips,)
            Absolute audio file paths (str), or with ``return_audio`` one
            float32 array per clip: (n_samples,) for one channel, else
            (2, n_samples).
        target : ndarray of str of shape (n_clips,)
            Scene labels, spelled as in the files (``"cafe/restaurant"``).
        target_names : ndarray of str
            The sorted distinct labels.
        filenames : ndarray of str of shape (n_clips,)
            File names as listed in the metadata (``"audio/a001_0_30.wav"``).
        groups : ndarray of str of shape (n_clips,)
            Recording (location) id: the file name up to the first ``_``.
        folds : ndarray of int of shape (n_clips,) or None
            Development set: the official fold (1-4) whose test set holds
            the clip, -1 for a clip no fold tests. None for the evaluation
            set.
        cv : PredefinedSplit or list of (train, test) or None
            The official folds, usable as ``cv=`` in scikit-learn; a list of
            index pairs if a fold does not train on every clip outside its
            test set. None for the evaluation set.
        error_spans : ndarray of object of shape (n_clips,)
            Per clip, an array of shape (n_spans, 2) of the corrupted spans'
            onsets and offsets in seconds (empty when ``error.txt`` is absent
            or lists nothing for the clip).
        sample_rate : int
            44100.
        root : str
            The dataset folder.
        DESCR : str
            Description of the dataset.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a dataset folder, or a metadata or audio file
        the metadata lists is missing.
    ValueError
        If a metadata line is malformed or inconsistent (the error names the
        file and line), if ``subset``, ``channel`` or ``errors`` is invalid,
        or if an audio file has another sampling rate.

    See Also
    --------
    fetch_tut_acoustic_scenes_2016 : Download the dataset, then load it.

    Notes
    -----
    The official fold lists live in ``evaluation_setup/fold{1..4}_*.txt``;
    ``folds`` is read from the ``_test`` lists and checked against the
    ``_train`` lists. Clip durations can be shorter than 30 s where the
    release already removed corrupted audio.

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_allconv.datasets import load_tut_acoustic_scenes_2016
    >>> scenes = load_tut_acoustic_scenes_2016("~/data")  # doctest: +SKIP
    >>> cross_val_score(
    ...     pipe, scenes.data, scenes.target, cv=scenes.cv,
    ...     scoring="balanced_accuracy",
    ... )  # doctest: +SKIP
    """
    if subset not in _LABEL_FILES:
        raise ValueError(
            f"subset must be 'development' or 'evaluation', got {subset!r}."
        )
    if errors not in ("keep", "drop"):
        raise ValueError(f"errors must be 'keep' or 'drop', got {errors!r}.")
    if errors == "drop" and not return_audio:
        raise ValueError(
            "errors='drop' cuts corrupted spans out of the audio and so needs "
            "return_audio=True; with file paths use errors='keep' and the "
            "error_spans attribute."
        )
    root = resolve_root(root, folder=_PREFIX + subset, marker=_LABEL_FILES[subset])
    rows = read_table(
        root / _LABEL_FILES[subset],
        delimiter="\t",
        min_fields=2,
        expected="<audio file><TAB><scene label>",
    )
    index = _index_clips(rows, root)
    filenames = np.array(list(index))
    target = np.array([row.fields[1] for row in rows])
    paths = [root / name for name in filenames]
    spans = _read_error_spans(root / "error.txt", index)
    if errors == "drop" and not (root / "error.txt").is_file():
        raise FileNotFoundError(
            f"errors='drop' needs {root / 'error.txt'}, which is missing. "
            "Extract the error archive into the dataset folder, or use "
            "errors='keep'."
        )
    folds: np.ndarray | None
    cv: PredefinedSplit | list[tuple[np.ndarray, np.ndarray]] | None
    if subset == "development":
        folds = _read_folds(root / "evaluation_setup", index)
        cv = _official_cv(root / "evaluation_setup", index, folds)
    else:
        folds = cv = None
    if return_audio:
        data = np.empty(len(paths), dtype=object)
        for i, (path, clip_spans) in enumerate(zip(paths, spans, strict=True)):
            audio = read_audio(path, sample_rate=_SAMPLE_RATE, channel=channel)
            data[i] = _cut_spans(audio, clip_spans) if errors == "drop" else audio
    else:
        data = np.array([str(path) for path in paths], dtype=object)
    return Bunch(
        data=data,
        target=target,
        target_names=np.unique(target),
        filenames=filenames,
        groups=np.array([Path(name).name.split("_")[0] for name in filenames]),
        folds=folds,
        cv=cv,
        error_spans=spans,
        sample_rate=_SAMPLE_RATE,
        root=str(root),
        DESCR=_DESCR,
    )


def holds_tut_acoustic_scenes_2016(source: str | os.PathLike, subset: str) -> bool:
    """Whether :func:`load_tut_acoustic_scenes_2016` finds ``subset`` in ``source``.

    Parameters
    ----------
    source : str or path-like
        A folder: the subset's own, or one that holds
        ``TUT-acoustic-scenes-2016-<subset>``.
    subset : {"development", "evaluation"}
        The subset looked for.

    Returns
    -------
    bool
        True where that folder has the subset's label file.
    """
    try:
        resolve_root(source, folder=_PREFIX + subset, marker=_LABEL_FILES[subset])
    except FileNotFoundError:
        return False
    return True


def _index_clips(rows: list[MetadataRow], root: Path) -> dict[str, int]:
    """Map each listed file name to its row, checking it is unique and exists."""
    index: dict[str, int] = {}
    for i, row in enumerate(rows):
        name = row.fields[0]
        if name in index:
            raise row.error(f"{name} is listed twice")
        if not (root / name).is_file():
            raise FileNotFoundError(
                f"{row.where()} lists {name}, but {root / name} does not exist. "
                "Extract all audio archives into the dataset folder, or re-run "
                "the fetcher."
            )
        index[name] = i
    return index


def _lookup(row: MetadataRow, index: dict[str, int]) -> int:
    try:
        return index[row.fields[0]]
    except KeyError:
        raise row.error(
            f"{row.fields[0]} is not among the clips of meta.txt"
        ) from None


def _read_folds(setup: Path, index: dict[str, int]) -> np.ndarray:
    """The fold whose test list holds each clip (-1 when none does)."""
    folds = np.full(len(index), -1, dtype=np.int64)
    for fold in range(1, _N_FOLDS + 1):
        rows = read_table(
            setup / f"fold{fold}_test.txt",
            delimiter="\t",
            min_fields=1,
            expected="<audio file>",
        )
        for row in rows:
            clip = _lookup(row, index)
            if folds[clip] != -1:
                raise row.error(
                    f"{row.fields[0]} is already in the test list of fold "
                    f"{folds[clip]}; a clip is tested in one fold only"
                )
            folds[clip] = fold
    return folds


def _official_cv(
    setup: Path, index: dict[str, int], folds: np.ndarray
) -> PredefinedSplit | list[tuple[np.ndarray, np.ndarray]]:
    """The official folds as a splitter, checked against the training lists."""
    splits = []
    complementary = True
    for fold in range(1, _N_FOLDS + 1):
        rows = read_table(
            setup / f"fold{fold}_train.txt",
            delimiter="\t",
            min_fields=1,
            expected="<audio file><TAB><scene label>",
        )
        train = np.array(sorted(_lookup(row, index) for row in rows), dtype=np.int64)
        test = np.flatnonzero(folds == fold)
        overlap = np.intersect1d(train, test)
        if overlap.size:
            raise ValueError(
                f"{setup / f'fold{fold}_train.txt'} lists "
                f"{len(overlap)} clip(s) that fold{fold}_test.txt also lists, "
                f"e.g. {list(index)[overlap[0]]}; the fold lists are corrupt."
            )
        complementary &= train.size + test.size == len(index)
        splits.append((train, test))
    if complementary:
        return PredefinedSplit(folds)
    return splits


def _read_error_spans(path: Path, index: dict[str, int]) -> np.ndarray:
    """Per clip, the (onset, offset) seconds of the spans error.txt marks."""
    per_clip: list[list[tuple[float, float]]] = [[] for _ in index]
    if path.is_file():
        expected = "<audio file><TAB><onset s><TAB><offset s><TAB><error label>"
        for row in read_table(path, delimiter="\t", min_fields=3, expected=expected):
            try:
                onset, offset = float(row.fields[1]), float(row.fields[2])
            except ValueError:
                raise row.error(f"expected {expected}, with numeric times") from None
            if not 0 <= onset <= offset:
                raise row.error(f"onset {onset} and offset {offset} are not ordered")
            # error.txt may annotate clips a cleaned release no longer lists.
            if row.fields[0] in index:
                per_clip[index[row.fields[0]]].append((onset, offset))
    spans = np.empty(len(per_clip), dtype=object)
    for i, clip_spans in enumerate(per_clip):
        spans[i] = np.array(clip_spans, dtype=np.float64).reshape(-1, 2)
    return spans


def _cut_spans(audio: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Remove the samples inside ``spans`` (seconds) from the last axis."""
    keep = np.ones(audio.shape[-1], dtype=bool)
    for onset, offset in np.round(spans * _SAMPLE_RATE).astype(np.int64):
        keep[onset:offset] = False
    return np.ascontiguousarray(audio[..., keep])


def fetch_tut_acoustic_scenes_2016(
    data_home: str | os.PathLike | None = None,
    *,
    subset: Literal["development", "evaluation"] = "development",
    return_audio: bool = False,
    channel: int | None = None,
    errors: Literal["keep", "drop"] = "keep",
    download_if_missing: bool = True,
    base_url: str | None = None,
    keep_archives: bool = False,
    n_retries: int = 3,
    progress: bool = True,
) -> Bunch:
    """Download TUT Acoustic Scenes 2016 if needed, then load it.

    The archives (about 8.6 GB for the development set, 2.9 GB for the
    evaluation set) are downloaded one at a time into
    ``<data_home>/archives``, checked against their md5 checksums, extracted
    into ``data_home`` and deleted (unless ``keep_archives``). Interrupted
    downloads resume where they stopped, in the same call (``n_retries``)
    or the next one.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Where to store the data; see :func:`get_data_home`.
    subset : {"development", "evaluation"}, default="development"
        Which part of the dataset to fetch and load.
    return_audio : bool, default=False
        Passed to :func:`load_tut_acoustic_scenes_2016`.
    channel : int or None, default=None
        Passed to :func:`load_tut_acoustic_scenes_2016`.
    errors : {"keep", "drop"}, default="keep"
        Passed to :func:`load_tut_acoustic_scenes_2016`.
    download_if_missing : bool, default=True
        If False, raise an ``OSError`` instead of downloading missing data.
    base_url : str, default=None
        Address of the folder holding the archives; None uses
        ``TUT_ACOUSTIC_SCENES_2016_URLS[subset]`` (Zenodo). Set it to use a
        mirror.
    keep_archives : bool, default=False
        Keep the downloaded archives after extraction.
    n_retries : int, default=3
        Further attempts after an interrupted or corrupted download.
    progress : bool, default=True
        Show download progress bars on stderr.

    Returns
    -------
    data : sklearn.utils.Bunch
        As returned by :func:`load_tut_acoustic_scenes_2016`.

    Raises
    ------
    OSError
        If the data is missing and ``download_if_missing`` is False, or the
        download keeps failing (run again to resume).
    ValueError
        If an archive fails its md5 check (it is deleted) or holds members
        that would be extracted outside ``data_home``.

    See Also
    --------
    load_tut_acoustic_scenes_2016 : Load an already extracted copy.

    Examples
    --------
    >>> from sklearn_allconv.datasets import fetch_tut_acoustic_scenes_2016
    >>> scenes = fetch_tut_acoustic_scenes_2016()  # doctest: +SKIP
    >>> scenes.target_names[:3]  # doctest: +SKIP
    array(['beach', 'bus', 'cafe/restaurant'], dtype='<U16')
    """
    if subset not in _ARCHIVES:
        raise ValueError(
            f"subset must be 'development' or 'evaluation', got {subset!r}."
        )
    home = fetch_archives(
        _ARCHIVES[subset],
        data_home=data_home,
        base_url=base_url or TUT_ACOUSTIC_SCENES_2016_URLS[subset],
        download_if_missing=download_if_missing,
        keep_archives=keep_archives,
        retries=n_retries,
        progressbar=progress,
    )
    return load_tut_acoustic_scenes_2016(
        home / (_PREFIX + subset),
        subset,
        return_audio=return_audio,
        channel=channel,
        errors=errors,
    )
