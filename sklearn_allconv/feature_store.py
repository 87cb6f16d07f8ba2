"""Spectrograms on disk, read clip by clip: features larger than memory.

A feature store is a folder with three files:

- ``frames.npy``: the frames of all clips one after the other, a float32
  array of shape (total frames, bins), unstandardized (memory-map it with
  ``np.load(path, mmap_mode="r")`` to look at it);
- ``offsets.npy``: int64, clip ``i`` holds frames ``offsets[i]:offsets[i + 1]``;
- ``store.json``: the number of bins and the per-bin offset and factor of the
  standardization, ``(frames - offset) * factor`` in float32.

:meth:`STFTTransformer.fit_to_folder
<sklearn_allconv.STFTTransformer.fit_to_folder>` writes one while it computes
the statistics, in one pass over the audio; :meth:`~sklearn_allconv.
STFTTransformer.transform_to_folder` writes one with fitted statistics. The
:class:`FeatureStore` they return stands where the 1-D object array of
spectrograms stands: ``fit``, ``predict`` and ``predict_proba`` of the
estimators, scikit-learn's splitters, ``cross_val_score``, ``GridSearchCV``.
Indexing it with a slice, integer array or mask gives another store (a view,
nothing is read); indexing it with an int reads that clip, standardized. A
fit holds only the clips of the batch at hand in memory; the operating
system's file cache, which is not the process's memory, keeps what fits.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FeatureStore", "FeatureStoreWriter"]

FRAMES_FILE = "frames.npy"
OFFSETS_FILE = "offsets.npy"
META_FILE = "store.json"
# A fixed-size .npy header, written again with the final shape when closing.
_HEADER_BYTES = 128
_FORMAT_VERSION = 1


class FeatureStore:
    """Spectrograms in a folder, indexed like a 1-D object array of clips.

    Parameters
    ----------
    folder : str or path-like
        A folder written by :class:`FeatureStoreWriter` (e.g. through
        :meth:`STFTTransformer.fit_to_folder
        <sklearn_allconv.STFTTransformer.fit_to_folder>`).
    indices : array-like of int or None, default=None
        The clips of the folder this store stands for, in order; None for all.

    Attributes
    ----------
    n_bins : int
        Frequency bins per frame.
    n_frames : ndarray of int64
        Frames of each clip of the store, read from the index (no data read).
    offset, factor : ndarray of float32
        The standardization applied when reading: ``(frames - offset) * factor``.

    See Also
    --------
    FeatureStoreWriter : Write a store clip by clip.

    Notes
    -----
    Clips are read with plain file reads, not through a memory map: pages of a
    mapped file that a process has touched count as its resident memory until
    the system reclaims them, whereas file reads leave them in the system's
    cache only. ``np.asarray(store)`` reads every clip into memory.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_allconv.feature_store import FeatureStore, FeatureStoreWriter
    >>> folder = os.path.join(tempfile.mkdtemp(), "features")
    >>> writer = FeatureStoreWriter(folder, n_bins=3)
    >>> for n in (4, 2, 5):
    ...     writer.append(np.ones((n, 3), dtype=np.float32))
    >>> store = writer.close()
    >>> store.n_frames
    array([4, 2, 5])
    >>> store[[2, 0]].n_frames, store[1].shape
    (array([5, 4]), (2, 3))
    """

    def __init__(
        self, folder: str | os.PathLike, indices: Any = None
    ) -> None:
        self.folder = Path(folder)
        try:
            meta = json.loads((self.folder / META_FILE).read_text())
            offsets = np.load(self.folder / OFFSETS_FILE)
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"{os.fspath(folder)!r} is not a complete feature store ({exc}); "
                "write one with STFTTransformer.fit_to_folder or "
                "FeatureStoreWriter, and close the writer."
            ) from exc
        self.n_bins = int(meta["n_bins"])
        self.offset = np.asarray(meta["offset"], dtype=np.float32)
        self.factor = np.asarray(meta["factor"], dtype=np.float32)
        self._offsets = offsets
        self._header = int(meta["header_bytes"])
        n_all = len(offsets) - 1
        self.indices = (
            np.arange(n_all) if indices is None else np.asarray(indices, np.int64)
        )
        if self.indices.ndim != 1 or (
            len(self.indices)
            and (self.indices.min() < 0 or self.indices.max() >= n_all)
        ):
            raise IndexError(
                f"Clip indices must be a 1-D sequence in [0, {n_all}); got "
                f"{indices!r}."
            )
        self.n_frames = np.diff(offsets)[self.indices]

    # -- the array-like face -------------------------------------------------

    @property
    def shape(self) -> tuple[int]:
        """``(n_clips,)``, as for a 1-D object array."""
        return (len(self.indices),)

    @property
    def ndim(self) -> int:
        """1, as for a 1-D object array."""
        return 1

    @property
    def dtype(self) -> np.dtype:
        """``object``, as for a 1-D object array of clips."""
        return np.dtype(object)

    @property
    def nbytes(self) -> int:
        """Bytes of the frames of the store's clips (on disk, float32)."""
        return int(self.n_frames.sum()) * self.n_bins * 4

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[np.ndarray]:
        for position in range(len(self)):
            yield self._read(int(self.indices[position]))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            # scikit-learn's _safe_indexing asks for store[indices, ...].
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError(
                    f"A feature store is 1-D; cannot index it with {key!r}."
                )
        if isinstance(key, (int, np.integer)):
            position = int(key)
            if not -len(self) <= position < len(self):
                raise IndexError(
                    f"Clip {position} is out of range for {len(self)} clips."
                )
            return self._read(int(self.indices[position]))
        return self._view(self.indices[key])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        clips = np.empty(len(self), dtype=object)
        for position, clip in enumerate(self):
            clips[position] = clip
        return clips if dtype is None else clips.astype(dtype)

    def __repr__(self) -> str:
        return (
            f"FeatureStore({os.fspath(self.folder)!r}: {len(self)} clips, "
            f"{self.n_bins} bins, {self.nbytes / 1e6:.1f} MB)"
        )

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "indices": self.indices}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["folder"], state["indices"])  # type: ignore[misc]

    # -- reading ---------------------------------------------------------------

    def _view(self, indices: np.ndarray) -> FeatureStore:
        view = object.__new__(FeatureStore)
        view.__dict__.update(self.__dict__)
        view.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        view.n_frames = np.diff(self._offsets)[view.indices]
        return view

    def _read(self, clip: int) -> np.ndarray:
        """Clip ``clip`` of the folder, standardized, in a fresh float32 array."""
        start, stop = int(self._offsets[clip]), int(self._offsets[clip + 1])
        frames = np.empty((stop - start, self.n_bins), dtype=np.float32)
        with open(self.folder / FRAMES_FILE, "rb", buffering=0) as file:
            file.seek(self._header + start * self.n_bins * 4)
            if file.readinto(frames.data.cast("B")) != frames.nbytes:
                raise OSError(
                    f"{self.folder / FRAMES_FILE} ends before clip {clip}: the "
                    "store is truncated; write it again."
                )
        frames -= self.offset
        frames *= self.factor
        return frames


class FeatureStoreWriter:
    """Write spectrograms into a new feature store folder, one clip at a time.

    Parameters
    ----------
    folder : str or path-like
        The folder to create; it must not exist, or be empty.
    n_bins : int
        Frequency bins per frame.

    See Also
    --------
    FeatureStore : Read it.
    """

    def __init__(self, folder: str | os.PathLike, n_bins: int) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and any(self.folder.iterdir()):
            raise FileExistsError(
                f"{os.fspath(folder)!r} is not empty; a feature store needs a "
                "new or empty folder. Remove it or choose another."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n_bins = int(n_bins)
        self._offsets = [0]
        self._file = open(self.folder / FRAMES_FILE, "wb")  # noqa: SIM115
        self._file.write(b"\0" * _HEADER_BYTES)

    def append(self, frames: np.ndarray) -> None:
        """Add one clip's (frames x bins) spectrogram.

        Parameters
        ----------
        frames : ndarray of shape (frames, n_bins)
            Unstandardized frames, finite; written as float32.
        """
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != self.n_bins:
            raise ValueError(
                f"Clip {len(self._offsets) - 1} has shape {frames.shape}; the "
                f"store holds (frames x {self.n_bins}) spectrograms."
            )
        if not np.isfinite(frames).all():
            raise ValueError(
                f"Clip {len(self._offsets) - 1} contains NaN or infinite values."
            )
        self._file.write(frames.data.cast("B"))
        self._offsets.append(self._offsets[-1] + len(frames))

    def close(
        self, offset: np.ndarray | None = None, factor: np.ndarray | None = None
    ) -> FeatureStore:
        """Finish the files and return the store.

        Parameters
        ----------
        offset, factor : ndarray of shape (n_bins,) or None, default=None
            Standardization applied when reading, ``(frames - offset) *
            factor``; None for none (0 and 1).

        Returns
        -------
        FeatureStore
            The store of all clips written.
        """
        total = self._offsets[-1]
        header = {
            "descr": "<f4",
            "fortran_order": False,
            "shape": (total, self.n_bins),
        }
        text = repr(header).encode("latin1")
        # magic, version 1.0, header length; the dict padded to a fixed size.
        length = _HEADER_BYTES - 10
        text = text + b" " * (length - len(text) - 1) + b"\n"
        self._file.seek(0)
        self._file.write(b"\x93NUMPY\x01\x00" + length.to_bytes(2, "little") + text)
        self._file.close()
        np.save(self.folder / OFFSETS_FILE, np.asarray(self._offsets, np.int64))
        meta = {
            "format_version": _FORMAT_VERSION,
            "n_bins": self.n_bins,
            "header_bytes": _HEADER_BYTES,
            "offset": np.zeros(self.n_bins) if offset is None else offset,
            "factor": np.ones(self.n_bins) if factor is None else factor,
        }
        meta = {
            k: v.astype(float).tolist() if isinstance(v, np.ndarray) else v
            for k, v in meta.items()
        }
        (self.folder / META_FILE).write_text(json.dumps(meta))
        return FeatureStore(self.folder)

    def abort(self) -> None:
        """Close the files and remove the folder (after a failed write)."""
        self._file.close()
        shutil.rmtree(self.folder, ignore_errors=True)
