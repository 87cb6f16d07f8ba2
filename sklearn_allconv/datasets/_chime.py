"""CHiME-Home as used in DCASE 2016 Task 4 (domestic audio tagging): loader, fetcher."""

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
    "CHIME_HOME_URL",
    "DOMESTIC_TAG_CODES",
    "DOMESTIC_TAG_LABELS",
    "fetch_chime_home",
    "load_chime_home",
]

DOMESTIC_TAG_LABELS = (
    "adult female speech",
    "adult male speech",
    "broadband noise",
    "child speech",
    "other",
    "percussive sound",
    "video game/tv",
)
"""The 7 tags of DCASE 2016 Task 4, in the column order of ``target``."""

DOMESTIC_TAG_CODES = ("f", "m", "b", "c", "o", "p", "v")
"""The ``majorityvote`` letters of :data:`DOMESTIC_TAG_LABELS`."""

CHIME_HOME_URL = "https://archive.org/download/chime-home/"
"""Where ``chime_home.tar.gz`` is downloaded from."""

_ARCHIVE = RemoteArchive("chime_home.tar.gz", "9ce9d584e229b465b3aa08db2d7fee67")
_FOLDER = "chime_home"
# Silence/background and unidentifiable sound are annotated but not tags.
_IGNORED_CODES = frozenset("SU")
_CHUNK_LISTS = {
    "development": "development_chunks_refined_crossval_dcase2016.csv",
    "evaluation": "evaluation_chunks_refined.csv",
}
_AUDIO_SUFFIXES = {16000: ".16kHz.wav", 48000: ".48kHz.wav"}

_DESCR = """\
CHiME-Home, DCASE 2016 Task 4 (domestic audio tagging)
-------------------------------------------------------

4 s chunks of recordings made in a family home, annotated by three
annotators with the sound sources they hear; the majority vote gives each
chunk any subset of 7 tags: adult female speech (f), adult male speech (m),
broadband noise (b), child speech (c), other identifiable sound (o),
percussive sound (p), video game/tv (v). Silence (S) and unidentifiable
sound (U) are not tags.

Audio: mono 16 kHz (what Task 4 is evaluated on) and stereo 48 kHz.
Development set: the refined chunks with five official cross-validation
folds (development_chunks_refined_crossval_dcase2016.csv) that keep each
5-minute segment on one side. Evaluation set: the refined evaluation chunks.

Task 4 is scored with the equal error rate per tag, averaged over folds,
then over tags.

P. Foster, S. Sigtia, S. Krstulovic, J. Barker and M. D. Plumbley,
"CHiME-Home: A dataset for sound source recognition in a domestic
environment", WASPAA 2015.
"""


def load_chime_home(
    root: str | os.PathLike,
    subset: Literal["development", "evaluation"] = "development",
    *,
    sample_rate: Literal[16000, 48000] = 16000,
    return_audio: bool = False,
    channel: int | None = None,
) -> Bunch:
    """Load CHiME-Home as used in DCASE 2016 Task 4 from its folder.

    Parameters
    ----------
    root : str or path-like
        The extracted ``chime_home`` folder, or the folder that contains it.
    subset : {"development", "evaluation"}, default="development"
        The refined development chunks with their official folds, or the
        refined evaluation chunks.
    sample_rate : {16000, 48000}, default=16000
        Which audio to use: the 16 kHz mono files (Task 4's, and the
        paper's) or the 48 kHz stereo files.
    return_audio : bool, default=False
        If False, ``data`` holds the audio file paths, which
        :class:`~sklearn_allconv.STFTTransformer` reads itself; if True, the
        audio as float32 arrays.
    channel : int or None, default=None
        With ``return_audio`` and 48 kHz audio: None keeps both channels, an
        index keeps one.

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the attributes:

        data : ndarray of object of shape (n_chunks,)
            Absolute audio file paths (str), or with ``return_audio`` one
            float32 array per chunk: (n_samples,) for one channel, else
            (2, n_samples).
        target : ndarray of int of shape (n_chunks, 7)
            Tag indicator matrix from each chunk's ``majorityvote``, columns
            in the order of ``target_names``.
        target_names : ndarray of str of shape (7,)
            :data:`DOMESTIC_TAG_LABELS`.
        tag_codes : ndarray of str of shape (7,)
            :data:`DOMESTIC_TAG_CODES`, the annotation letter of each column.
        chunk_names : ndarray of str of shape (n_chunks,)
            Chunk names, e.g. ``"CR_lounge_200110_1601.s0_chunk39"``.
        groups : ndarray of str of shape (n_chunks,)
            The 5-minute segment of each chunk: its name up to ``_chunk``.
        folds : ndarray of int of shape (n_chunks,) or None
            Development set: the official fold (0-4) whose test set holds the
            chunk. None for the evaluation set.
        cv : PredefinedSplit or None
            The official folds, usable as ``cv=`` in scikit-learn. None for
            the evaluation set.
        sample_rate : int
            16000 or 48000.
        root : str
            The dataset folder.
        DESCR : str
            Description of the dataset.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a CHiME-Home folder, or a chunk's audio or
        annotation file is missing.
    ValueError
        If a metadata line is malformed (the error names the file and line),
        if an argument is invalid, or if an audio file has another sampling
        rate.

    See Also
    --------
    fetch_chime_home : Download the dataset, then load it.

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_allconv.datasets import load_chime_home
    >>> from sklearn_allconv.metrics import eer_scorer
    >>> tags = load_chime_home("~/data")  # doctest: +SKIP
    >>> cross_val_score(
    ...     pipe, tags.data, tags.target, cv=tags.cv, scoring=eer_scorer
    ... )  # doctest: +SKIP
    """
    if subset not in _CHUNK_LISTS:
        raise ValueError(
            f"subset must be 'development' or 'evaluation', got {subset!r}."
        )
    if sample_rate not in _AUDIO_SUFFIXES:
        raise ValueError(
            f"sample_rate must be 16000 (mono) or 48000 (stereo), got "
            f"{sample_rate!r}; CHiME-Home has no other audio."
        )
    root = resolve_root(root, folder=_FOLDER, marker=_CHUNK_LISTS[subset])
    development = subset == "development"
    rows = read_table(
        root / _CHUNK_LISTS[subset],
        delimiter=",",
        min_fields=3 if development else 2,
        expected="<id>,<chunk name>,<fold>" if development else "<id>,<chunk name>",
    )
    names = [row.fields[1] for row in rows]
    groups = [_segment_of(row) for row in rows]
    folds = np.array([_fold_of(row) for row in rows]) if development else None
    chunks = root / "chunks"
    paths = [chunks / (name + _AUDIO_SUFFIXES[sample_rate]) for name in names]
    for row, path in zip(rows, paths, strict=True):
        if not path.is_file():
            raise FileNotFoundError(
                f"{row.where()} lists chunk {row.fields[1]}, but {path} does not "
                "exist. Extract chime_home.tar.gz completely, or re-run the "
                "fetcher."
            )
    target = np.array(
        [_read_tags(chunks / (name + ".csv")) for name in names], dtype=np.int64
    ).reshape(len(names), len(DOMESTIC_TAG_CODES))
    if return_audio:
        data = np.empty(len(paths), dtype=object)
        for i, path in enumerate(paths):
            data[i] = read_audio(path, sample_rate=sample_rate, channel=channel)
    else:
        data = np.array([str(path) for path in paths], dtype=object)
    return Bunch(
        data=data,
        target=target,
        target_names=np.array(DOMESTIC_TAG_LABELS),
        tag_codes=np.array(DOMESTIC_TAG_CODES),
        chunk_names=np.array(names),
        groups=np.array(groups),
        folds=folds,
        cv=PredefinedSplit(folds) if development else None,
        sample_rate=sample_rate,
        root=str(root),
        DESCR=_DESCR,
    )


def holds_chime_home(source: str | os.PathLike, subset: str) -> bool:
    """Whether :func:`load_chime_home` finds ``subset`` in ``source``.

    Parameters
    ----------
    source : str or path-like
        A folder: the data set's own, or one that holds ``chime_home``.
    subset : {"development", "evaluation"}
        The subset looked for.

    Returns
    -------
    bool
        True where ``source`` or ``source/chime_home`` has the subset's chunk
        list.
    """
    try:
        resolve_root(source, folder=_FOLDER, marker=_CHUNK_LISTS[subset])
    except FileNotFoundError:
        return False
    return True


def _segment_of(row: MetadataRow) -> str:
    name = row.fields[1]
    if "_chunk" not in name:
        raise row.error(
            f"chunk name {name!r} lacks '_chunk'; expected <segment>_chunk<N>"
        )
    return name[: name.rindex("_chunk")]


def _fold_of(row: MetadataRow) -> int:
    try:
        return int(row.fields[2])
    except ValueError:
        raise row.error(f"fold {row.fields[2]!r} is not an integer") from None


def _read_tags(path: Path) -> list[int]:
    """The 0/1 tag vector of a chunk's ``majorityvote`` annotation."""
    if not path.is_file():
        raise FileNotFoundError(
            f"The annotation file {path} is missing. Extract chime_home.tar.gz "
            "completely, or re-run the fetcher."
        )
    # Values can be empty (a chunk without tags), so only the key is required.
    rows = read_table(path, delimiter=",", min_fields=1, expected="<key>,<value>")
    votes = [row for row in rows if row.fields[0] == "majorityvote"]
    if not votes:
        raise ValueError(
            f"{path} has no 'majorityvote' row; expected key,value rows including "
            "majorityvote,<tag letters>."
        )
    row = votes[0]
    if len(row.fields) < 2:
        raise row.error("expected majorityvote,<tag letters>")
    letters = set(row.fields[1])
    unknown = letters - set(DOMESTIC_TAG_CODES) - _IGNORED_CODES
    if unknown:
        raise row.error(
            f"unknown tag letter(s) {sorted(unknown)}; expected letters of "
            f"{''.join(DOMESTIC_TAG_CODES)} and {''.join(sorted(_IGNORED_CODES))}"
        )
    return [int(code in letters) for code in DOMESTIC_TAG_CODES]


def fetch_chime_home(
    data_home: str | os.PathLike | None = None,
    *,
    subset: Literal["development", "evaluation"] = "development",
    sample_rate: Literal[16000, 48000] = 16000,
    return_audio: bool = False,
    channel: int | None = None,
    download_if_missing: bool = True,
    base_url: str | None = None,
    keep_archives: bool = False,
    n_retries: int = 3,
    progress: bool = True,
) -> Bunch:
    """Download CHiME-Home if needed, then load it for DCASE 2016 Task 4.

    ``chime_home.tar.gz`` (4.2 GB, both subsets) is downloaded into
    ``<data_home>/archives``, checked against its md5 checksum, extracted
    into ``<data_home>/chime_home`` and deleted (unless ``keep_archives``).
    An interrupted download resumes where it stopped, in the same call
    (``n_retries``) or the next one.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Where to store the data; see :func:`get_data_home`.
    subset : {"development", "evaluation"}, default="development"
        Passed to :func:`load_chime_home`.
    sample_rate : {16000, 48000}, default=16000
        Passed to :func:`load_chime_home`.
    return_audio : bool, default=False
        Passed to :func:`load_chime_home`.
    channel : int or None, default=None
        Passed to :func:`load_chime_home`.
    download_if_missing : bool, default=True
        If False, raise an ``OSError`` instead of downloading missing data.
    base_url : str, default=None
        Address of the folder holding the archive; None uses
        :data:`CHIME_HOME_URL`. Set it to use a mirror.
    keep_archives : bool, default=False
        Keep the downloaded archive after extraction.
    n_retries : int, default=3
        Further attempts after an interrupted or corrupted download.
    progress : bool, default=True
        Show a download progress bar on stderr.

    Returns
    -------
    data : sklearn.utils.Bunch
        As returned by :func:`load_chime_home`.

    Raises
    ------
    OSError
        If the data is missing and ``download_if_missing`` is False, or the
        download keeps failing (run again to resume).
    ValueError
        If the archive fails its md5 check (it is deleted) or holds members
        that would be extracted outside ``data_home``.

    See Also
    --------
    load_chime_home : Load an already extracted copy.

    Examples
    --------
    >>> from sklearn_allconv.datasets import fetch_chime_home
    >>> tags = fetch_chime_home()  # doctest: +SKIP
    >>> tags.target.shape  # doctest: +SKIP
    (1946, 7)
    """
    home = fetch_archives(
        [_ARCHIVE],
        data_home=data_home,
        base_url=base_url or CHIME_HOME_URL,
        download_if_missing=download_if_missing,
        keep_archives=keep_archives,
        retries=n_retries,
        progressbar=progress,
    )
    return load_chime_home(
        home / _FOLDER,
        subset,
        sample_rate=sample_rate,
        return_audio=return_audio,
        channel=channel,
    )
