"""Input checking: clip sequences, audio signals, audio files, feature clips.

Every check of what users pass lives here, after librosa's
``util.valid_audio``: what :class:`~sklearn_allconv.STFTTransformer` and the
baselines accept as audio clips (arrays, channel arrays, file paths, pandas
columns) and the one check of an audio signal; the one reader of audio files,
also used by the dataset loaders; and what the estimators accept as feature
clips (ragged sequences of spectrograms, 3-D arrays). Private module: the
names without an underscore are what the other modules of the package use.
Invalid values raise :class:`ParameterError`, a ``ValueError``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, cast

import numpy as np
import scipy.sparse as sp
import soundfile
from sklearn.utils.validation import check_array

from .feature_store import FeatureStore

_FLOAT32_MAX = float(np.finfo(np.float32).max)


class ParameterError(ValueError):
    """An input value that cannot be used; the message says what to pass.

    A ``ValueError``, so that callers (and scikit-learn's checks) that expect
    one catch it; after librosa's ``util.exceptions.ParameterError``.
    """


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
        raise ParameterError(
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
            raise ParameterError(
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


def check_audio(clip: Any, index: int) -> np.ndarray:
    """Check one in-memory audio signal and return it as float32.

    Parameters
    ----------
    clip : array-like of shape (n_samples,) or (n_channels, n_samples)
        Float samples in [-1, 1] or integer PCM (scaled to [-1, 1)).
    index : int
        Its position in the input, for error messages.

    Returns
    -------
    ndarray of shape (n_channels, n_samples)
        The samples, float32.

    Raises
    ------
    TypeError
        If the samples are neither float nor integer.
    ParameterError
        If the signal is empty, not finite, beyond the float32 range, or not
        laid out as (channels x samples).
    """
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
            raise ParameterError(
                f"Clip {index} has shape {array.shape}; multi-channel clips must be "
                "(channels x samples), as in librosa. Transpose it: clip.T."
            )
    else:
        raise ParameterError(
            f"Clip {index} has {array.ndim} dimensions (shape {array.shape}); expected "
            "a 1-D mono clip or a 2-D (channels x samples) clip."
        )
    if array.shape[1] == 0:
        raise ParameterError(f"Clip {index} is empty (0 samples).")
    if not np.isfinite(array).all():
        raise ParameterError(
            f"Clip {index} contains NaN or infinite samples; clean or drop it."
        )
    peak = float(np.abs(array).max())
    if peak > float(np.finfo(np.float32).max):
        # The cast to float32 below would turn these samples into infinities.
        raise ParameterError(
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
        audio = read_audio(
            source,
            sample_rate=sample_rate,
            resample=resample,
            rate_advice=(
                "but this transformer expects {expected} Hz. Set "
                "sample_rate={rate}, or resample=True to convert it."
            ),
        )
    else:
        audio = check_audio(source, index)
    return select_channel(audio, channel, where=describe_clip(source, index))


def select_channel(
    audio: np.ndarray,
    channel: int | str | None,
    *,
    where: str,
    otherwise: str = "channel='mean'",
) -> np.ndarray:
    """Keep one channel of (channels x samples) audio, their mean, or all.

    Parameters
    ----------
    audio : ndarray of shape (n_channels, n_samples)
        The signal.
    channel : int, "mean" or None
        The channel to keep, "mean" for the mean of the channels, None for
        all of them. Mono audio is its own channel, whatever is asked.
    where : str
        The clip or file, for error messages.
    otherwise : str, default="channel='mean'"
        The other choice the error message for a missing channel offers.

    Returns
    -------
    ndarray of shape (n_samples,) or (n_channels, n_samples)
        One channel, or all of them (None, for multi-channel audio).
    """
    if audio.shape[0] == 1:
        return audio[0]
    if channel is None:
        return audio
    if channel == "mean":
        return audio.mean(axis=0)
    if isinstance(channel, str) or not -audio.shape[0] <= channel < audio.shape[0]:
        raise ParameterError(
            f"{where} has {audio.shape[0]} channels; channel={channel} "
            f"does not exist. Choose another channel or {otherwise}."
        )
    return np.ascontiguousarray(audio[channel])


def read_audio(
    path: str | os.PathLike,
    *,
    sample_rate: float,
    resample: bool = False,
    rate_advice: str,
) -> np.ndarray:
    """Read one audio file as float32 (channels x samples) at ``sample_rate``.

    Parameters
    ----------
    path : str or path-like
        The audio file.
    sample_rate : float
        The rate the samples are wanted at, in Hz.
    resample : bool, default=False
        Resample a file of another rate instead of refusing it.
    rate_advice : str
        The end of the message for a file of another rate, after "Audio file
        'x.wav' has a sample rate of <rate> Hz": what the caller expects and
        what to do, with ``{rate}`` and ``{expected}`` (the two rates) to fill.

    Returns
    -------
    ndarray of shape (n_channels, n_samples)
        The samples.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ParameterError
        If it is not a regular file, cannot be read, is truncated, empty or
        not finite, or has another rate and ``resample`` is False.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"Audio file {name!r} does not exist.")
    if not os.path.isfile(name):
        # Reading a named pipe or a device would block or never end.
        raise ParameterError(
            f"Audio file {name!r} is not a regular file (a directory, a pipe "
            "or a device); pass the paths of the audio files themselves."
        )
    samples, rate = read_samples(name)
    audio = samples.T
    if audio.shape[1] == 0:
        raise ParameterError(f"Audio file {name!r} is empty (0 samples).")
    if not np.isfinite(audio).all():
        raise ParameterError(f"Audio file {name!r} contains NaN or infinite samples.")
    if rate != sample_rate:
        if not resample:
            raise ParameterError(
                f"Audio file {name!r} has a sample rate of {rate} Hz "
                + rate_advice.format(rate=rate, expected=f"{sample_rate:g}")
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


def audio_file_info(name: str) -> tuple[int, int]:
    """Sample rate and length of an audio file, from its header alone.

    Parameters
    ----------
    name : str
        The audio file, which is not decoded.

    Returns
    -------
    sample_rate : int
        In Hz.
    n_frames : int
        Samples per channel.

    Raises
    ------
    RuntimeError or OSError
        If the audio backend (libsndfile) cannot read the file; the message
        names it.
    """
    info = soundfile.info(name)
    return int(info.samplerate), int(info.frames)


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
        raise ParameterError(
            f"Audio file {name!r} could not be read{promise}: {exc}. Check that "
            "it is a complete audio file in a format libsndfile supports (WAV, "
            "FLAC, OGG, ...)."
        ) from exc
    if declared is not None and audio.shape[0] < declared:
        raise ParameterError(
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


# -- feature clips (the input of the estimators) ------------------------------


def feature_clip_list(X: Any) -> list[Any] | None:
    """The clips of a sequence of (frames x features) arrays; None for an array.

    A list, a tuple or a 1-D object array holds clips of any length; a list
    of rows of numbers (as ``X.tolist()`` gives) and any other input are an
    array, which the caller checks as such.

    Parameters
    ----------
    X : sequence of array-like, or array-like
        The feature clips, as passed.

    Returns
    -------
    list or None
        One entry per clip, or None when ``X`` is an array.
    """
    if isinstance(X, (list, tuple)) and len(X) and np.ndim(X[0]) < 2:
        return None
    if isinstance(X, (list, tuple)) or (
        isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1
    ):
        return list(X)
    return None


def check_feature_clips(
    X: Any, *, n_bins: int | None, min_frames: int, short_clips: str
) -> tuple[Any, int]:
    """Check spectrograms and return them as an object array of float32 clips.

    Parameters
    ----------
    X : sequence of array-like of shape (n_frames, n_bins), array-like, or FeatureStore
        Clips of any length, or a 3-D array (clips x frames x bins); a 2-D
        array is read as one-frame clips. A
        :class:`~sklearn_allconv.feature_store.FeatureStore` is checked from
        its index (bins, lengths) and returned as it is: its clips are read
        when batches are made.
    n_bins : int or None
        The frequency bins each clip must have (a fitted model's), or None
        to take them from the first clip.
    min_frames : int
        Fewest frames of a clip.
    short_clips : {"error", "pad"}
        Refuse shorter clips, or repeat them up to ``min_frames``.

    Returns
    -------
    clips : ndarray of object of shape (n_clips,), or FeatureStore
        C-contiguous float32 (frames x bins) arrays; the store itself.
    n_bins : int
        Their number of frequency bins.

    Raises
    ------
    TypeError
        If ``X`` is not a sequence of spectrograms (a path, raw text, a
        scalar, or clips of non-numeric type).
    ParameterError
        If a clip has the wrong shape or number of bins, is empty, too short,
        or holds values that are not finite or beyond the float32 range.
    """
    if isinstance(X, FeatureStore):
        return _check_feature_store(
            X, n_bins=n_bins, min_frames=min_frames, short_clips=short_clips
        )
    one_frame_rows = False
    if isinstance(X, (str, bytes)) or X is None or not (
        hasattr(X, "__len__") or hasattr(X, "__array__")
    ):
        raise TypeError(
            "Expected a sequence of (frames x bins) spectrograms, e.g. the "
            f"output of STFTTransformer; got {type(X).__name__}."
        )
    if not isinstance(X, (list, tuple, np.ndarray)) and not sp.issparse(X):
        # Array-likes (DataFrames, tensors) become arrays before np.ndim,
        # which some of them do not support; sparse matrices go on to
        # check_array, which rejects them.
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and X.dtype.kind in "US":
        X = list(X)
    if isinstance(X, (list, tuple, np.ndarray)) and len(X) and isinstance(
        X[0], (str, bytes, os.PathLike)
    ):
        raise TypeError(
            f"Clip 0 is a {type(X[0]).__name__} ({X[0]!r}), not a spectrogram. "
            "To classify audio files or raw audio, put STFTTransformer in "
            "front of the estimator: make_pipeline(STFTTransformer(), ...)."
        )
    clips = feature_clip_list(X)
    if clips is None:
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        if getattr(X, "ndim", None) == 1:
            # check_array's own message would print every value. (np.ndim would
            # reject array-likes that only convert through __array__.)
            raise ParameterError(
                f"Expected a sequence of spectrograms, got a 1-D array of shape "
                f"{np.shape(X)}. Reshape your data: pass [spectrogram] for one clip."
            )
        # Arrays get scikit-learn's usual checks (sparse, complex, empty, NaN).
        X = check_array(
            X, dtype=(np.float32, np.float64), allow_nd=True, input_name="X"
        )
        if X.ndim == 2:
            # One frame per row: raw audio passed here by mistake looks
            # like this, hence the hint in the short-clip error below.
            X = X[:, np.newaxis, :]
            one_frame_rows = True
        elif X.ndim != 3:
            raise ParameterError(
                "Expected a sequence of (frames x bins) spectrograms or a 3-D "
                f"array (clips x frames x bins), got an array of shape {X.shape}."
            )
        clips = list(X)
    if len(clips) == 0:
        raise ParameterError("Found 0 clips; at least one clip is required.")
    hint = (
        " A 2-D array is read as one-frame clips: to classify raw audio, put "
        "STFTTransformer in front of the estimator."
        if one_frame_rows
        else ""
    )
    fitted = "the model was fitted with" if n_bins is not None else "clip 0 has"
    out = np.empty(len(clips), dtype=object)
    for index, clip in enumerate(clips):
        clip = np.asarray(clip)
        if clip.dtype.kind not in "fiu":
            raise TypeError(
                f"Clip {index} has dtype {clip.dtype}; expected real-valued "
                "spectrogram frames."
            )
        if clip.ndim != 2:
            raise ParameterError(
                f"Clip {index} has shape {clip.shape}; expected a 2-D (frames x "
                "bins) spectrogram such as STFTTransformer produces."
            )
        if 0 in clip.shape:
            missing = "frames" if clip.shape[0] == 0 else "frequency bins"
            raise ParameterError(
                f"Clip {index} is empty: shape {clip.shape}, no {missing}. Drop it."
            )
        if n_bins is None:
            n_bins = clip.shape[1]
        if clip.shape[1] != n_bins:
            raise ParameterError(
                f"Clip {index} has {clip.shape[1]} frequency bins but {fitted} "
                f"{n_bins}. Use features computed with the same sample rate and "
                "window as the training features."
            )
        if not np.isfinite(clip).all():
            raise ParameterError(f"Clip {index} contains NaN or infinite values.")
        if clip.dtype.itemsize > 4 and np.abs(clip).max() > _FLOAT32_MAX:
            raise ParameterError(
                f"Clip {index} has values beyond the float32 range (up to "
                f"{float(np.abs(clip).max()):.3g}); the network computes in "
                "float32. Standardize the features, e.g. with STFTTransformer."
            )
        clip = np.ascontiguousarray(clip, dtype=np.float32)
        if clip.shape[0] < min_frames:
            if short_clips != "pad":
                raise ParameterError(
                    f"Clip {index} has {clip.shape[0]} frames; the network needs "
                    f"at least {min_frames} (with a 15 ms hop, "
                    f"{(min_frames - 1) * 15 + 25} ms of audio). Drop it, pad "
                    "it, or set short_clips='pad' to repeat short clips up to "
                    f"the minimum length.{hint}"
                )
            clip = np.pad(clip, ((0, min_frames - clip.shape[0]), (0, 0)), "wrap")
        out[index] = clip
    # Set by the first clip: there is at least one.
    return out, cast(int, n_bins)


def _check_feature_store(
    store: FeatureStore, *, n_bins: int | None, min_frames: int, short_clips: str
) -> tuple[FeatureStore, int]:
    """:func:`check_feature_clips` for features on disk, from the store's index.

    Their values were checked when written (finite float32).
    """
    if len(store) == 0:
        raise ParameterError("Found 0 clips; at least one clip is required.")
    if n_bins is not None and store.n_bins != n_bins:
        raise ParameterError(
            f"The feature store {os.fspath(store.folder)!r} has {store.n_bins} "
            f"frequency bins but the model was fitted with {n_bins}. Use features "
            "computed with the same sample rate and window as the training features."
        )
    short = np.flatnonzero(store.n_frames < min_frames)
    if len(short):
        index = int(short[0])
        raise ParameterError(
            f"Clip {index} of the feature store has {store.n_frames[index]} frames; "
            f"the network needs at least {min_frames}. "
            + (
                "short_clips='pad' pads clips in memory only: "
                if short_clips == "pad"
                else ""
            )
            + "drop the short clips from the store (store[mask]) or pad their "
            "audio before writing it."
        )
    return store, store.n_bins


def stack_feature_frames(X: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """All frames of a sequence of clips or of a 3-D array, and their clips.

    Parameters
    ----------
    X : sequence of array-like of shape (n_frames, n_features), or array-like
        Clips of any length, or a 3-D array of equal-length clips.

    Returns
    -------
    (frames, owners) or None
        The frames stacked (float64, one row each) and the index of the clip
        each comes from; None for other input (a 2-D array of one-frame
        clips, a DataFrame), which the caller checks as a table.

    Raises
    ------
    ParameterError
        If there are no clips, or their frames differ in size.
    """
    clips = feature_clip_list(X)
    if clips is not None:
        checked = [
            check_array(clip, dtype=np.float64, input_name=f"clip {i}")
            for i, clip in enumerate(clips)
        ]
        if not checked:
            raise ParameterError("Found 0 clips; at least one clip is required.")
        widths = {clip.shape[1] for clip in checked}
        if len(widths) > 1:
            raise ParameterError(
                f"The clips have frames of different sizes {sorted(widths)}; "
                "all must come from the same feature transformer."
            )
        owners = np.repeat(np.arange(len(checked)), [len(c) for c in checked])
        return np.concatenate(checked), owners
    if not sp.issparse(X) and np.asarray(X).ndim == 3:
        array = check_array(X, dtype=np.float64, allow_nd=True)
        owners = np.repeat(np.arange(array.shape[0]), array.shape[1])
        return array.reshape(-1, array.shape[2]), owners
    return None
