"""Short-time Fourier transform features, as the paper's preprocessing (section 2.3)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.fft
import soundfile
from joblib import Parallel, delayed
from scipy.signal import get_window
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted
from tqdm.auto import tqdm

__all__ = ["STFTTransformer", "stft_geometry"]


def stft_geometry(
    sample_rate: float, *, window_ms: float = 25.0, hop_ms: float = 15.0
) -> tuple[int, int, int]:
    """Window length, hop length and number of bins of the paper's STFT.

    Parameters
    ----------
    sample_rate : float
        Sampling rate of the audio in Hz.
    window_ms : float, default=25.0
        Window length in milliseconds.
    hop_ms : float, default=15.0
        Hop length in milliseconds.

    Returns
    -------
    n_fft : int
        Window (and FFT) length in samples, ``round(window_ms * sample_rate / 1000)``.
    hop_length : int
        Hop length in samples, ``round(hop_ms * sample_rate / 1000)``.
    n_bins : int
        Number of non-negative frequency bins, ``n_fft // 2 + 1``.

    Examples
    --------
    >>> from sklearn_allconv.features import stft_geometry
    >>> stft_geometry(44100)
    (1102, 662, 552)
    >>> stft_geometry(16000)
    (400, 240, 201)
    """
    n_fft = int(round(window_ms * sample_rate / 1000.0))
    hop_length = int(round(hop_ms * sample_rate / 1000.0))
    if n_fft < 1 or hop_length < 1:
        raise ValueError(
            f"window_ms={window_ms} and hop_ms={hop_ms} at sample_rate={sample_rate} "
            f"give a window of {n_fft} and a hop of {hop_length} samples; both must "
            "be at least 1 sample: raise window_ms, hop_ms or sample_rate."
        )
    return n_fft, hop_length, n_fft // 2 + 1


def _is_path(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _as_clip_sources(X: Any, *, min_samples: int) -> list[Any] | np.ndarray:
    """Return one source (array or path) per clip, or a validated 2-D/3-D array.

    Arrays (anything but a list, a tuple or a 1-D object array) go through
    :func:`sklearn.utils.check_array`, which gives scikit-learn's usual errors
    for sparse, complex, empty, 1-D or non-finite input.
    """
    if _is_path(X):
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
    if isinstance(X, (list, tuple)):
        return list(X)
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
        return list(X)
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


def _describe(source: Any, index: int) -> str:
    """Name a clip in error messages: its file when it has one."""
    if _is_path(source):
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
    return array.astype(np.float32, copy=False)


class STFTTransformer(TransformerMixin, BaseEstimator):
    """STFT magnitude features of variable-length audio, standardized per bin.

    Each clip becomes a (frames x bins) float32 array of STFT magnitudes: an
    asymmetric (periodic) Hann window of ``window_ms`` milliseconds, a hop of
    ``hop_ms`` milliseconds, the first ``n_fft // 2 + 1`` bins of the magnitude,
    no centring. With the defaults this is 552 bins at 44.1 kHz and 201 bins at
    16 kHz, as in the paper. With ``standardize=True``, :meth:`fit` learns each
    bin's mean and standard deviation over all frames of all training clips and
    :meth:`transform` applies them.

    Parameters
    ----------
    sample_rate : float, default=44100
        Sampling rate of the audio in Hz. In-memory clips are taken to be at this
        rate; audio files must have it (see ``resample``).
    window_ms : float, default=25.0
        STFT window length in milliseconds; ``n_fft = round(window_ms * sample_rate
        / 1000)``.
    hop_ms : float, default=15.0
        Hop between frames in milliseconds.
    standardize : bool, default=True
        Whether to scale each bin to zero mean and unit variance over the frames
        seen in :meth:`fit`.
    channel : int or "mean", default=0
        Which channel of multi-channel audio to use: an index (0 is the left
        channel, as in the paper) or ``"mean"`` to average all channels. Mono
        clips are used as they are.
    resample : bool, default=False
        If False, an audio file whose sample rate differs from ``sample_rate``
        raises a ``ValueError``; if True it is resampled with
        :func:`librosa.resample`.
    n_jobs : int, default=None
        Number of clips processed in parallel through :class:`joblib.Parallel`
        (thread-based by default: the FFT releases the GIL; choose another
        backend with :func:`joblib.parallel_config`). ``None`` means 1 unless in
        a joblib context, ``-1`` means all processors.
    verbose : int, default=0
        Show a progress bar over the clips when positive.

    Attributes
    ----------
    n_fft_ : int
        Window length in samples.
    hop_length_ : int
        Hop length in samples.
    n_bins_ : int
        Number of frequency bins of each output frame.
    mean_ : ndarray of shape (n_bins,) or None
        Per-bin mean over all training frames; None if ``standardize=False``.
    scale_ : ndarray of shape (n_bins,) or None
        Per-bin standard deviation over all training frames (1 for bins of zero
        variance); None if ``standardize=False``.
    n_frames_seen_ : int
        Number of frames the statistics were computed on.

    See Also
    --------
    sklearn_allconv.features.stft_geometry : Window, hop and bin counts.
    librosa.stft : The reference implementation these magnitudes equal.

    Notes
    -----
    Input may be a sequence (or 1-D object array) of 1-D clips of any lengths,
    of 2-D (channels x samples) clips, or of audio file paths read with
    :mod:`soundfile`; a 2-D float array is read as rows of equal-length mono
    clips. Integer arrays are accepted as PCM and scaled to [-1, 1) by the full
    range of their dtype, as soundfile does: int16 is divided by 32768, int32
    by 2**31 (unsigned types are centred first). Keep 16-bit samples in int16:
    in int64 they would be divided by 2**63. In-memory clips carry no sample
    rate and are taken to be at ``sample_rate``; files are checked. The output
    is a 1-D object array with one (frames x bins) array per clip (for a 2-D
    array input, whose clips are of equal length, a 3-D float32 array of shape
    (clips, frames, bins), which the estimators accept too), where
    ``frames = 1 + (n_samples - n_fft) // hop_length``; a clip needs at least
    ``n_fft`` samples.

    The statistics are accumulated clip by clip with
    :meth:`sklearn.preprocessing.StandardScaler.partial_fit` (in float64), so the
    training set is never concatenated and the result equals the statistics of
    the concatenated frames. The paper computes the STFT with librosa; this
    class computes the same magnitudes in float32 with :func:`scipy.fft.rfft`
    on strided frames, which is faster and agrees with :func:`librosa.stft` to
    float32 precision.

    References
    ----------
    .. [1] L. Hertel, H. Phan and A. Mertins, "Classifying variable-length audio
       files with all-convolutional networks and masked global pooling",
       DCASE 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv import STFTTransformer
    >>> rng = np.random.default_rng(0)
    >>> clips = [rng.standard_normal(16000), rng.standard_normal(8000)]
    >>> features = STFTTransformer(sample_rate=16000).fit_transform(clips)
    >>> [f.shape for f in features]
    [(66, 201), (32, 201)]
    """

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Real, 0, None, closed="neither")],
        "window_ms": [Interval(Real, 0, None, closed="neither")],
        "hop_ms": [Interval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "channel": [Interval(Integral, None, None, closed="neither"),
                    StrOptions({"mean"})],
        "resample": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        sample_rate: float = 44100,
        window_ms: float = 25.0,
        hop_ms: float = 15.0,
        standardize: bool = True,
        channel: int | str = 0,
        resample: bool = False,
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.window_ms = window_ms
        self.hop_ms = hop_ms
        self.standardize = standardize
        self.channel = channel
        self.resample = resample
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The output is an object array of float32 spectrograms, not X's dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> STFTTransformer:
        """Learn the per-bin mean and standard deviation of the STFT magnitudes.

        Parameters
        ----------
        X : sequence of array-like or paths, or 2-D array
            Audio clips: see the class docstring for the accepted forms.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : STFTTransformer
            The fitted transformer.
        """
        sources = self._setup(X)
        if self.standardize:
            scaler = StandardScaler()
            for frames in self._iter_spectrograms(sources):
                scaler.partial_fit(frames)
            self._store_statistics(scaler)
        else:
            self._store_statistics(None)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit the statistics and return the standardized features in one pass.

        Each clip's STFT is computed once: the statistics are accumulated from
        the spectrograms as they are produced, then the spectrograms are
        standardized in place.

        Parameters
        ----------
        X : sequence of array-like or paths, or 2-D array
            Audio clips: see the class docstring for the accepted forms.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        features : ndarray of object of shape (n_clips,), or ndarray
            One (frames x bins) float32 array per clip; for a 2-D or 3-D array
            input (equal-length clips) a float32 array of shape
            (n_clips, frames, bins).
        """
        sources = self._setup(X)
        features = self._empty_output(sources)
        scaler = StandardScaler() if self.standardize else None
        for i, frames in enumerate(self._iter_spectrograms(sources)):
            features[i] = frames
            if scaler is not None:
                scaler.partial_fit(frames)
        self._store_statistics(scaler)
        if self.standardize:
            for frames in features:
                self._standardize_inplace(frames)
        return features

    def transform(self, X: Any) -> np.ndarray:
        """Compute the (standardized) STFT magnitudes of each clip.

        Parameters
        ----------
        X : sequence of array-like or paths, or 2-D array
            Audio clips: see the class docstring for the accepted forms.

        Returns
        -------
        features : ndarray of object of shape (n_clips,), or ndarray
            One (frames x bins) float32 array per clip; for a 2-D or 3-D array
            input (equal-length clips) a float32 array of shape
            (n_clips, frames, bins).
        """
        check_is_fitted(self, "n_fft_")
        sources = _as_clip_sources(X, min_samples=self.n_fft_)
        self._check_not_empty(sources)
        features = self._empty_output(sources)
        for i, frames in enumerate(self._iter_spectrograms(sources)):
            if self.standardize:
                self._standardize_inplace(frames)
            features[i] = frames
        return features

    def _setup(self, X: Any) -> list[Any] | np.ndarray:
        self.n_fft_, self.hop_length_, self.n_bins_ = stft_geometry(
            self.sample_rate, window_ms=self.window_ms, hop_ms=self.hop_ms
        )
        sources = _as_clip_sources(X, min_samples=self.n_fft_)
        self._check_not_empty(sources)
        return sources

    def _empty_output(self, sources: list[Any] | np.ndarray) -> np.ndarray:
        """An object array for a sequence of clips; a 3-D array for an array."""
        if isinstance(sources, np.ndarray):
            n_frames = 1 + (sources.shape[-1] - self.n_fft_) // self.hop_length_
            return np.empty((len(sources), n_frames, self.n_bins_), dtype=np.float32)
        return np.empty(len(sources), dtype=object)

    @staticmethod
    def _check_not_empty(sources: Sequence[Any]) -> None:
        if len(sources) == 0:
            raise ValueError("Found 0 clips; at least one clip is required.")

    def _store_statistics(self, scaler: StandardScaler | None) -> None:
        if scaler is None:
            self.mean_ = self.scale_ = None
            self.n_frames_seen_ = 0
            return
        self.mean_ = scaler.mean_
        self.scale_ = scaler.scale_
        self.n_frames_seen_ = int(scaler.n_samples_seen_)

    def _standardize_inplace(self, frames: np.ndarray) -> None:
        frames -= self.mean_.astype(np.float32)
        frames /= self.scale_.astype(np.float32)

    def _iter_spectrograms(self, sources: Sequence[Any]) -> Iterator[np.ndarray]:
        """Yield the unstandardized spectrogram of each source, in order."""
        window = get_window("hann", self.n_fft_, fftbins=True).astype(np.float32)
        jobs = (
            delayed(self._spectrogram)(source, index, window)
            for index, source in enumerate(sources)
        )
        parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", return_as="generator")
        yield from tqdm(
            parallel(jobs),
            total=len(sources),
            desc="STFT",
            unit="clip",
            disable=not self.verbose,
        )

    def _spectrogram(self, source: Any, index: int, window: np.ndarray) -> np.ndarray:
        audio = self._load(source, index)
        n_samples = audio.shape[0]
        if n_samples < self.n_fft_:
            raise ValueError(
                f"{_describe(source, index)} has {n_samples} samples "
                f"({1000.0 * n_samples / self.sample_rate:.1f} ms); one STFT frame "
                f"needs at least {self.n_fft_} samples ({self.window_ms} ms at "
                f"{self.sample_rate} Hz). Pad the clip or drop it."
            )
        frames = np.lib.stride_tricks.sliding_window_view(audio, self.n_fft_)
        windowed = frames[:: self.hop_length_] * window
        spectrum = scipy.fft.rfft(windowed, axis=1, overwrite_x=True)
        magnitudes = np.abs(spectrum)
        if not np.isfinite(magnitudes).all():
            # Finite samples near the float32 limit overflow in the FFT sums.
            raise ValueError(
                f"{_describe(source, index)} gives infinite STFT magnitudes: its "
                f"samples reach {float(np.abs(audio).max()):.3g}, while audio is "
                "expected in [-1, 1]. Rescale it."
            )
        return magnitudes

    def _load(self, source: Any, index: int) -> np.ndarray:
        """Return clip ``index`` as mono float32 samples at ``sample_rate``."""
        if _is_path(source):
            audio = self._read_file(source)
        else:
            audio = _as_float_audio(source, index)
        where = _describe(source, index)
        if audio.shape[0] == 1:
            return audio[0]
        if self.channel == "mean":
            return audio.mean(axis=0)
        if not -audio.shape[0] <= self.channel < audio.shape[0]:
            raise ValueError(
                f"{where} has {audio.shape[0]} channels; channel={self.channel} "
                "does not exist. Choose another channel or channel='mean'."
            )
        return np.ascontiguousarray(audio[self.channel])

    def _read_file(self, path: str | os.PathLike) -> np.ndarray:
        name = os.fspath(path)
        if not os.path.exists(name):
            raise FileNotFoundError(f"Audio file {name!r} does not exist.")
        if not os.path.isfile(name):
            # Reading a named pipe or a device would block or never end.
            raise ValueError(
                f"Audio file {name!r} is not a regular file (a directory, a pipe "
                "or a device); pass the paths of the audio files themselves."
            )
        try:
            audio, rate = soundfile.read(name, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
            raise ValueError(
                f"Audio file {name!r} could not be read: {exc}. Check that it is a "
                "complete audio file in a format libsndfile supports (WAV, FLAC, "
                "OGG, ...)."
            ) from exc
        audio = audio.T
        if audio.shape[1] == 0:
            raise ValueError(f"Audio file {name!r} is empty (0 samples).")
        if not np.isfinite(audio).all():
            raise ValueError(f"Audio file {name!r} contains NaN or infinite samples.")
        if rate != self.sample_rate:
            if not self.resample:
                raise ValueError(
                    f"Audio file {name!r} has a sample rate of {rate} Hz but this "
                    f"transformer expects {self.sample_rate} Hz. Set "
                    f"sample_rate={rate}, or resample=True to convert it."
                )
            import librosa  # deferred: importing librosa takes about a second

            audio = librosa.resample(
                audio, orig_sr=rate, target_sr=self.sample_rate, axis=-1
            ).astype(np.float32)
        return audio
