"""Audio input: checking clip sequences and signals, reading audio files.

What :class:`~sklearn_allconv.STFTTransformer` and the baselines accept as
clips (arrays, channel arrays, file paths, pandas columns), and the one reader
of audio files, also used by the dataset loaders. Private module: the names
without an underscore are what the other modules of the package use.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import soundfile
from sklearn.utils.validation import check_array


def is_path(obj: Any) -> bool:
    """Whether ``obj`` names a file (a string or an :class:`os.PathLike`)."""
    return isinstance(obj, (str, os.PathLike))


def as_clip_sources(X: Any, *, min_samples: int) -> list[Any] | np.ndarray:
    """Return one source (array or path) per clip, or a validated 2-D/3-D array.

    Arrays (anything but a list, a tuple or a 1-D object array) go through
    :func:`sklearn.utils.check_array`, which gives scikit-learn's usual errors
    for sparse, complex, empty, 1-D or non-finite input.

    Parameters
    ----------
    X : sequence of clips or file paths, or array-like
        What the user passed as clips.
    min_samples : int
        Fewest samples per row of a 2-D array of equal-length clips.

    Returns
    -------
    list or ndarray
        One source per clip, or the validated array.
    """
    if is_path(X):
        raise TypeError(
            f"Expected a sequence of clips or file paths, got the single path {X!r}. "
            "Wrap it in a list: [path]."
        )
    if X is None or not (hasattr(X, "__len__") or hasattr(X, "__array__")):
        # Generators, None and scalars would otherwise reach check_array, whose
        # message ("got scalar array") does not say what to pass instead.
        raise TypeError(
            "Expected a sequence of clips or file paths (a list, tuple or array), "
            f"got {type(X).__name__}. Pass a list, e.g. list(clips)."
        )
    X = _from_pandas(X)
    if isinstance(X, (list, tuple)):
        return list(X)
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
        return list(X)
    if isinstance(X, np.ndarray) and X.dtype.kind in "US" and X.ndim == 1:
        # An array of file paths, as np.array(paths) or glob results give.
        return [os.fsdecode(path) if isinstance(path, bytes) else str(path)
                for path in X]
    if isinstance(X, np.ndarray) and X.ndim == 1:
        # check_array's own message would print every sample of the clip.
        raise ValueError(
            f"Expected a sequence of clips, got a single 1-D array of {X.shape[0]} "
            "samples. Reshape your data: pass [clip] for one clip, or a 2-D array "
            "whose rows are equal-length clips."
        )
    if isinstance(X, np.ndarray) and X.dtype.kind in "iu":
        X = _pcm_to_float(X)
    return check_array(
        X,
        dtype=(np.float32, np.float64),
        allow_nd=True,
        ensure_min_features=min_samples,
        input_name="X",
    )


def _from_pandas(X: Any) -> Any:
    """The values of a pandas Series, or of a DataFrame's single column.

    A column of arrays or of file paths becomes a 1-D object array; a numeric
    DataFrame stays as it is (rows of equal-length clips).
    """
    if not type(X).__module__.startswith("pandas"):
        return X
    if getattr(X, "ndim", 1) == 2:
        if all(kind in "iuf" for kind in (dtype.kind for dtype in X.dtypes)):
            return X
        if X.shape[1] != 1:
            raise ValueError(
                f"X is a DataFrame with {X.shape[1]} columns "
                f"({', '.join(map(str, list(X.columns)[:5]))}); pass the one "
                "column that holds the clips or the file paths, e.g. X['path']."
            )
        X = X.iloc[:, 0]
    if X.dtype.kind in "biuf":
        return X.to_numpy()  # the samples of one clip: refused as such below
    return X.to_numpy(dtype=object)


def describe_clip(source: Any, index: int) -> str:
    """Name a clip in error messages: its file when it has one.

    Parameters
    ----------
    source : array-like or path
        The clip, as passed.
    index : int
        Its position in the input.

    Returns
    -------
    str
        ``"File 'a.wav' (clip 3)"`` or ``"Clip 3"``.
    """
    if is_path(source):
        return f"File {os.fspath(source)!r} (clip {index})"
    return f"Clip {index}"


def _pcm_to_float(array: np.ndarray) -> np.ndarray:
    """Scale integer PCM samples to [-1, 1), as soundfile does."""
    info = np.iinfo(array.dtype)
    offset = 0.0 if array.dtype.kind == "i" else (info.max + 1) / 2
    return (array.astype(np.float64) - offset) / (info.max + 1 - offset)


def _as_float_audio(clip: Any, index: int) -> np.ndarray:
    """Validate one in-memory clip and return it as float32 (channels x samples)."""
    array = np.asarray(clip)
    if array.dtype.kind in "iu":
        array = _pcm_to_float(array)
    elif array.dtype.kind != "f":
        raise TypeError(
            f"Clip {index} has dtype {array.dtype}; expected float audio samples or "
            "integer PCM (int16/int32)."
        )
    if array.ndim == 1:
        array = array[np.newaxis, :]
    elif array.ndim == 2:
        if array.shape[0] > array.shape[1]:
            raise ValueError(
                f"Clip {index} has shape {array.shape}; multi-channel clips must be "
                "(channels x samples), as in librosa. Transpose it: clip.T."
            )
    else:
        raise ValueError(
            f"Clip {index} has {array.ndim} dimensions (shape {array.shape}); expected "
            "a 1-D mono clip or a 2-D (channels x samples) clip."
        )
    if array.shape[1] == 0:
        raise ValueError(f"Clip {index} is empty (0 samples).")
    if not np.isfinite(array).all():
        raise ValueError(
            f"Clip {index} contains NaN or infinite samples; clean or drop it."
        )
    peak = float(np.abs(array).max())
    if peak > float(np.finfo(np.float32).max):
        # The cast to float32 below would turn these samples into infinities.
        raise ValueError(
            f"Clip {index} has samples of magnitude up to {peak:.3g}, beyond the "
            "float32 range; audio is expected in [-1, 1]. Rescale the clip."
        )
    if array.dtype.kind == "f" and 1.0 < peak <= 32768.0 and (
        np.modf(array)[0] == 0
    ).all():
        # One message for all clips, so that Python shows it once.
        warnings.warn(
            "Float clips hold whole numbers beyond [-1, 1]: 16-bit PCM stored "
            "as float? Float audio is expected in [-1, 1]: divide by 32768, or "
            "pass the samples as int16, which is scaled for you.",
            UserWarning,
            stacklevel=2,
        )
    return array.astype(np.float32, copy=False)


def load_clip(
    source: Any, index: int, *, sample_rate: float, channel: int | str, resample: bool
) -> np.ndarray:
    """Return clip ``index`` as mono float32 samples at ``sample_rate``.

    Parameters
    ----------
    source : array-like or path
        The clip (1-D or channels x samples) or its audio file.
    index : int
        Its position in the input, for error messages.
    sample_rate : float
        The rate expected of files, in Hz.
    channel : int or "mean"
        The channel kept of multi-channel audio, or their mean.
    resample : bool
        Resample files of another rate instead of refusing them.

    Returns
    -------
    ndarray of shape (n_samples,)
        The mono samples.
    """
    if is_path(source):
        audio = _read_file(source, sample_rate=sample_rate, resample=resample)
    else:
        audio = _as_float_audio(source, index)
    where = describe_clip(source, index)
    if audio.shape[0] == 1:
        return audio[0]
    if channel == "mean":
        return audio.mean(axis=0)
    if not -audio.shape[0] <= channel < audio.shape[0]:
        raise ValueError(
            f"{where} has {audio.shape[0]} channels; channel={channel} "
            "does not exist. Choose another channel or channel='mean'."
        )
    return np.ascontiguousarray(audio[channel])


def _read_file(
    path: str | os.PathLike, *, sample_rate: float, resample: bool
) -> np.ndarray:
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"Audio file {name!r} does not exist.")
    if not os.path.isfile(name):
        # Reading a named pipe or a device would block or never end.
        raise ValueError(
            f"Audio file {name!r} is not a regular file (a directory, a pipe "
            "or a device); pass the paths of the audio files themselves."
        )
    audio, rate = read_samples(name)
    audio = audio.T
    if audio.shape[1] == 0:
        raise ValueError(f"Audio file {name!r} is empty (0 samples).")
    if not np.isfinite(audio).all():
        raise ValueError(f"Audio file {name!r} contains NaN or infinite samples.")
    if rate != sample_rate:
        if not resample:
            raise ValueError(
                f"Audio file {name!r} has a sample rate of {rate} Hz but this "
                f"transformer expects {sample_rate:g} Hz. Set "
                f"sample_rate={rate}, or resample=True to convert it."
            )
        # soxr is what librosa.resample runs by default (res_type="soxr_hq"),
        # with identical output; called directly it skips librosa's numba
        # compilation, which makes the first librosa.resample of a process
        # take about 30 s.
        import soxr

        audio = np.ascontiguousarray(
            soxr.resample(audio.T, rate, sample_rate, quality="HQ").T,
            dtype=np.float32,
        )
    return audio


def read_samples(name: str) -> tuple[np.ndarray, int]:
    """Samples (frames x channels, float32) and rate of an audio file.

    A file that holds fewer frames than its header promises (a truncated
    download or copy) is refused, naming both lengths.

    Parameters
    ----------
    name : str
        Path of the file.

    Returns
    -------
    audio : ndarray of shape (n_frames, n_channels)
        The samples, float32.
    rate : int
        The sample rate, in Hz.
    """
    declared = None
    try:
        with soundfile.SoundFile(name) as file:
            rate = file.samplerate
            declared = _declared_frames(name, file)
            audio = file.read(dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        promise = (
            "" if declared is None else f" (its header promises {declared} frames)"
        )
        raise ValueError(
            f"Audio file {name!r} could not be read{promise}: {exc}. Check that "
            "it is a complete audio file in a format libsndfile supports (WAV, "
            "FLAC, OGG, ...)."
        ) from exc
    if declared is not None and audio.shape[0] < declared:
        raise ValueError(
            f"Audio file {name!r} is truncated: its header promises {declared} "
            f"frames but it holds {audio.shape[0]}. Download or copy it again."
        )
    return audio, rate


def _declared_frames(name: str, file: soundfile.SoundFile) -> int | None:
    """The number of frames the file's header promises, where it says.

    libsndfile trims the frame count of a WAV file to the data present, so
    for WAV the size of the ``data`` chunk is read from the header itself.
    None where the header does not say (a streamed WAV, an OGG file).
    """
    if file.format not in ("WAV", "WAVEX"):
        return file.frames if file.format == "FLAC" else None
    with open(name, "rb") as raw:
        header = raw.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        block_align = None
        while chunk := raw.read(8):
            if len(chunk) < 8:
                return None
            kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind == b"fmt ":
                block_align = int.from_bytes(raw.read(16)[12:14], "little")
                raw.seek(size - 16 + size % 2, os.SEEK_CUR)
            elif kind == b"data":
                # Writers that stream put 0 or 0xFFFFFFFF before the size is known.
                if not block_align or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                raw.seek(size + size % 2, os.SEEK_CUR)
    return None
