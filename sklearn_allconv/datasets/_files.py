"""Reading the local files of a dataset: its folder, metadata tables and audio.

Shared by the TUT and CHiME-Home loaders, so that both report a wrong root,
a missing file or a malformed line the same way: naming the file and the
line, and saying what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import read_audio as read_audio_file
from .._validation import select_channel

__all__ = ["MetadataRow", "read_audio", "read_table", "resolve_root"]


@dataclass(frozen=True, slots=True)
class MetadataRow:
    """One non-blank line of a metadata table, split into fields.

    Parameters
    ----------
    path : Path
        The table the line comes from.
    line : int
        Its 1-based line number.
    fields : list of str
        Its fields, stripped of surrounding white space.
    """

    path: Path
    line: int
    fields: list[str]

    def where(self) -> str:
        """Return ``"<file>, line <n>"`` for error messages."""
        return f"{self.path}, line {self.line}"

    def error(self, problem: str) -> ValueError:
        """Return a ValueError that names this line and quotes it.

        Parameters
        ----------
        problem : str
            What is wrong with the line.

        Returns
        -------
        error : ValueError
            The error to raise.
        """
        return ValueError(f"{self.where()}: {problem} (line: {self.fields!r}).")


def resolve_root(root: str | os.PathLike, *, folder: str, marker: str) -> Path:
    """Find a dataset folder: ``root`` itself or ``root/<folder>``.

    Parameters
    ----------
    root : str or path-like
        The dataset folder, or the folder that contains it.
    folder : str
        The dataset folder's name in its release, e.g. ``"chime_home"``.
    marker : str
        A file every copy of the dataset has, relative to its folder.

    Returns
    -------
    root : Path
        The dataset folder.

    Raises
    ------
    FileNotFoundError
        If neither ``root`` nor ``root/<folder>`` holds ``marker``.
    """
    root = Path(root).expanduser()
    for candidate in (root, root / folder):
        if (candidate / marker).is_file():
            return candidate
    if not root.is_dir():
        problem = "does not exist or is not a folder"
    else:
        problem = f"holds neither {marker} nor {folder}/{marker}"
    raise FileNotFoundError(
        f"{root} {problem}. Pass the extracted {folder} folder (or the folder "
        "containing it) as root, or download the dataset with its fetch_* "
        "function."
    )


def read_table(
    path: Path, *, delimiter: str | None, min_fields: int, expected: str
) -> list[MetadataRow]:
    """Read a delimited text table; blank lines are skipped.

    Parameters
    ----------
    path : Path
        The table.
    delimiter : str or None
        Field separator; None splits on runs of white space.
    min_fields : int
        Fewest fields a line must have; extra fields are kept.
    expected : str
        Description of a line for error messages, e.g.
        ``"<audio file><TAB><scene label>"``.

    Returns
    -------
    rows : list of MetadataRow
        The lines, in order.

    Raises
    ------
    FileNotFoundError
        If the table does not exist.
    ValueError
        If a line has fewer than ``min_fields`` non-empty fields.
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"Metadata file {path} is missing; the dataset folder is incomplete. "
            "Extract the metadata archive again or re-run the fetcher."
        )
    rows = []
    with open(path, encoding="utf-8") as table:
        for number, text in enumerate(table, start=1):
            if not text.strip():
                continue
            fields = [field.strip() for field in text.split(delimiter)]
            row = MetadataRow(path, number, fields)
            if len(fields) < min_fields or not all(fields[:min_fields]):
                raise row.error(f"expected {expected}")
            rows.append(row)
    return rows


def read_audio(
    path: Path, *, sample_rate: int, channel: int | None
) -> np.ndarray:
    """Read an audio file of a dataset as float32, checking its sampling rate.

    Parameters
    ----------
    path : Path
        The audio file.
    sample_rate : int
        The rate the file must have, in Hz.
    channel : int or None
        None keeps every channel; an index keeps that one only.

    Returns
    -------
    audio : ndarray of float32
        Shape (n_samples,) for a mono file or a chosen channel, else
        (n_channels, n_samples) as librosa lays out multi-channel audio.

    Raises
    ------
    ValueError
        If the file has another sampling rate or lacks the channel, cannot be
        read, or holds fewer frames than its header promises (a truncated
        download).
    """
    audio = read_audio_file(
        path,
        sample_rate=sample_rate,
        rate_advice=(
            "; this dataset's files have {expected} Hz. The file is not part of "
            "the release: replace it."
        ),
    )
    return select_channel(
        audio,
        channel,
        where=f"Audio file {os.fspath(path)!r}",
        otherwise="channel=None for all channels",
    )
