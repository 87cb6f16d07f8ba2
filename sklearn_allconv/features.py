"""Short-time Fourier transform features, as the paper's preprocessing (section 2.3)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from functools import cache, partial
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.fft
from joblib import Memory, Parallel, delayed, effective_n_jobs
from scipy.signal import get_window, lfilter
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory
from tqdm.auto import tqdm

from ._validation import as_clip_sources, describe_clip, is_path, load_clip
from .feature_store import FeatureStore, FeatureStoreWriter

__all__ = [
    "LOG_FLOOR", "PAPER_FEATURES", "STFTTransformer", "mel_basis", "stft_geometry",
]


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


# The parameters that define the features; the others (n_jobs, memory,
# verbose) only change how they are computed.
_ANALYSIS_PARAMS = (
    "sample_rate", "window_ms", "hop_ms", "normalize", "n_mels", "compression",
    "standardize", "channel", "resample",
)

# Added to the magnitudes before the log of ``compression``: the log of digital
# silence is then log(1e-6) = -13.8 rather than -inf, about 120 dB below the
# magnitudes of a full-scale tone, and the value measured in the benchmarks.
LOG_FLOOR = 1e-6

PAPER_FEATURES: Mapping[str, Any] = MappingProxyType(
    {"normalize": None, "n_mels": None, "compression": None}
)
"""The :class:`STFTTransformer` parameters of the paper's features.

``STFTTransformer(**PAPER_FEATURES)`` gives the standardized magnitudes of the
linear-frequency bins as recorded, without the level normalization, mel bands
and compression the library adds;
``reproduce`` and ``sklearn-allconv fit --recipe paper`` use it. Read-only.
"""

# ``n_mels="auto"``: librosa's default number of mel bands, where they fit.
AUTO_MELS = 128

# ``compression="pcen"``: the magnitudes are scaled to the range of 32-bit
# integer audio first, as librosa's documentation of :func:`librosa.pcen`
# does for audio in [-1, 1]; its defaults, spelled out here for the torch
# version in ``export.py``, are meant for that range.
PCEN_SCALE = 2.0**31
PCEN_PARAMS = {"gain": 0.98, "bias": 2.0, "power": 0.5, "eps": 1e-6}
PCEN_TIME_CONSTANT = 0.4  # seconds


def pcen_smoothing_coefficient(frame_rate: float) -> float:
    """The smoothing coefficient ``b`` that :func:`librosa.pcen` derives.

    librosa solves ``b**2 + (1 - b) / t - 2 = 0`` for ``t = time_constant *
    sr / hop_length`` frames, which approximates the full width at half
    maximum of the squared response of its first-order low-pass filter.

    Parameters
    ----------
    frame_rate : float
        Frames per second: the sample rate over the hop length.

    Returns
    -------
    float
        ``b``, between 0 and 1, for the time constant ``PCEN_TIME_CONSTANT``.
    """
    t_frames = PCEN_TIME_CONSTANT * frame_rate
    return float((np.sqrt(1 + 4 * t_frames**2) - 1) / (2 * t_frames**2))


# Frames per block of the STFT and of the statistics: temporaries of about a
# megabyte at 44.1 kHz, which stay in the CPU caches.
_BLOCK_FRAMES = 256


class STFTTransformer(TransformerMixin, BaseEstimator):
    """STFT magnitude features of variable-length audio, standardized per bin.

    Each clip becomes a (frames x bins) float32 array of STFT magnitudes: an
    asymmetric (periodic) Hann window of ``window_ms`` milliseconds, a hop of
    ``hop_ms`` milliseconds, the first ``n_fft // 2 + 1`` bins of the magnitude,
    no centring: 552 bins at 44.1 kHz and 201 bins at 16 kHz with the default
    window and hop, as in the paper. Outside the paper, and by default, each
    clip's magnitudes are then divided by their RMS (``normalize``), pooled
    into 128 mel bands (``n_mels``) and compressed with PCEN
    (``compression``); ``STFTTransformer(**PAPER_FEATURES)`` keeps the
    paper's bins as recorded. With ``standardize=True``, :meth:`fit` learns
    each bin's (or band's) mean and standard deviation over all frames of all
    training clips and :meth:`transform` applies them.

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
    normalize : {"rms", None}, default="rms"
        Normalization of each clip's level, outside the paper. ``"rms"``
        divides the clip's magnitudes by their root mean square over all its
        frames and bins, which, like scaling its audio to a fixed RMS level,
        makes the features independent of the recording gain (a clip scaled
        by 10 gives the same features); a silent clip stays zero. None keeps
        the magnitudes as they are, which with ``compression=None`` are the
        paper's features. It comes before
        ``compression`` and the standardization. The default because it won
        on every set measured (see Notes).
    n_mels : int, "auto" or None, default="auto"
        Pool the (normalized) magnitudes into mel bands before the
        compression, outside the paper: ``magnitudes @ mel_basis(sample_rate,
        n_fft, n_mels)``, the filters of :func:`librosa.filters.mel` with its
        defaults (Slaney's mel scale, bands normalized to equal area, 0 Hz to
        half the sample rate) applied to the magnitudes, not to the power, as
        librosa's documentation of :func:`librosa.pcen` does. The output then
        has that many columns instead of ``n_fft // 2 + 1``, and the
        compression and standardization work per band. ``"auto"`` takes 128
        bands (librosa's default) where each holds at least one STFT bin
        (with the default window, from about 11 kHz up) and the linear bins
        below that (at 8 kHz: 101 bins, fewer than 128 bands); ``n_mels_``
        tells which. An integer that leaves a band without any bin (256 bands
        at 16 or 44.1 kHz) raises a ``ValueError`` in :meth:`fit` that says
        how many fit. None keeps the linear-frequency bins (the paper's). The
        default because it won on every set measured (see Notes).
    compression : {"pcen", None, "log", "log-gain"}, default="pcen"
        Compression of the magnitudes, outside the paper. None keeps the
        magnitudes (the paper's features). ``"log"`` takes
        ``log(magnitude + 1e-6)``. ``"log-gain"`` then subtracts the clip's
        mean log magnitude over all its frames and bins, so that the features
        do not depend on the clip's gain (a clip scaled by 10 gives the same
        features, up to the 1e-6 floor). ``"pcen"`` is per-channel energy
        normalization [2]_, :func:`librosa.pcen` with its defaults on the
        magnitudes times 2**31 (librosa's documented use for audio in
        [-1, 1]): each bin is divided by a power
        (0.98) of its own average over the last 0.4 s, then
        root-compressed, which makes the features almost independent of the
        clip's gain while keeping its events. The standardization statistics
        are computed on the compressed values. The default because it won on
        the recordings and the tagging sets and tied on the synthetic scenes
        (see Notes); it makes the features about 2.8 times as slow to compute
        as the magnitudes alone (about 20 ms more per 30 s clip at 44.1 kHz on
        one core: ``docs/performance.md``).
    standardize : bool, default=True
        Whether to scale each bin to zero mean and unit variance over the frames
        seen in :meth:`fit` (after ``normalize`` and ``compression``).
    channel : int or "mean", default=0
        Which channel of multi-channel audio to use: an index (0 is the left
        channel, as in the paper) or ``"mean"`` to average all channels. Mono
        clips are used as they are.
    resample : bool, default=False
        If False, an audio file whose sample rate differs from ``sample_rate``
        raises a ``ValueError``; if True it is resampled with soxr's
        high-quality setting, which is what :func:`librosa.resample` does by
        default (``res_type="soxr_hq"``), with the same output.
    n_jobs : int, default=None
        Number of clips processed in parallel through :class:`joblib.Parallel`
        (thread-based by default: the FFT releases the GIL; choose another
        backend with :func:`joblib.parallel_config`). ``None`` means 1 unless in
        a joblib context, ``-1`` means all processors.
    memory : str, joblib.Memory or None, default=None
        Cache each clip's (unstandardized) spectrogram on disk, as
        :class:`sklearn.pipeline.Pipeline` caches fitted transformers: a path
        to a cache directory or a :class:`joblib.Memory`. A clip is looked up
        by its content (arrays) or by its path, modification time and size
        (files), together with the STFT parameters, so cross-validation folds
        and grid searches that see a clip again load it instead of reading,
        resampling and transforming it again. None disables caching.
    verbose : int, default=0
        Show a progress bar over the clips when positive.

    Attributes
    ----------
    n_fft_ : int
        Window length in samples.
    hop_length_ : int
        Hop length in samples.
    n_bins_ : int
        Number of frequency bins of each output frame: ``n_fft // 2 + 1``, or
        the number of mel bands.
    n_mels_ : int or None
        The number of mel bands ``n_mels`` resolved to; None for the linear
        bins.
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

    The statistics are computed per clip, in float64, by the parallel workers
    and merged with the pairwise update of Chan, Golub and LeVeque, so the
    training set is never concatenated and the result equals the statistics of
    the concatenated frames (bins of zero variance get a scale of 1, as in
    :class:`sklearn.preprocessing.StandardScaler`). The paper computes the STFT
    with librosa; this class computes the same magnitudes in float32 with
    :func:`scipy.fft.rfft` on strided frames, which is faster and agrees with
    :func:`librosa.stft` to float32 precision. :meth:`fit_transform` keeps only
    the output and a few clips' temporaries in memory.

    Caching (``memory``) pays where producing a spectrogram costs more than
    hashing the clip and loading the cached result: audio files, above all
    compressed or resampled ones. For in-memory clips hashing the samples costs
    about as much as the STFT itself (see ``docs/performance.md``). The cache
    holds the magnitudes before ``normalize`` and ``compression``, which are
    applied to what it returns: transformers that differ only in them share
    the cache.

    ``normalize="rms"`` and ``compression="pcen"`` are the defaults because
    they won on the sets measured (class-wise accuracy of the network with the
    default recipe, folds by location, seeds 0-2; ``benchmarks/``). Level
    normalization took 360 clips of real recordings
    (``benchmarks/make_eval_sets.py``) from 49.0 % to 57.8 % and 128 and 384
    synthetic demo scenes from 78.6 % to 80.3 % and 85.8 % to 89.5 %. PCEN
    after it, with the current recipe, took the 360 clips from 64.0 % to
    66.9 % and 1,080 clips from 78.7 % to 85.0 %, and the tagger's mean equal
    error rate on 120 and 360 synthetic clips from 0.281 to 0.217 and 0.198 to
    0.153; on the demo scenes it tied (80.0 and 80.1 % over seeds 0-7 on 128
    clips, 90.2 and 90.1 % on 384). ``"log-gain"`` gains more on the
    recordings (73.3 % on the 360 clips) but loses about 18 points on the demo
    scenes, so it is not the default. 128 mel bands before PCEN then took the
    360 clips from 71.3 % to 83.3 % (and two other draws of such a set from
    70.1 to 79.3 % and 79.6 to 93.2 %), 1,080 clips from 87.4 % to 90.5 %,
    the demo scenes from 83.9 to 91.5 % (128 clips) and 91.5 to 95.6 % (384),
    and the tagger's error from 0.217 to 0.187 and 0.153 to 0.141. See the
    features page of the user guide.

    References
    ----------
    .. [1] L. Hertel, H. Phan and A. Mertins, "Classifying variable-length audio
       files with all-convolutional networks and masked global pooling",
       DCASE 2016.
    .. [2] V. Lostanlen, J. Salamon, M. Cartwright, B. McFee, A. Farnsworth,
       S. Kelling and J. P. Bello, "Per-channel energy normalization: why and
       how", IEEE Signal Processing Letters 26(1), 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv import STFTTransformer
    >>> rng = np.random.default_rng(0)
    >>> clips = [rng.standard_normal(16000), rng.standard_normal(8000)]
    >>> features = STFTTransformer(sample_rate=16000).fit_transform(clips)
    >>> [f.shape for f in features]
    [(66, 128), (32, 128)]
    """

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Real, 0, None, closed="neither")],
        "window_ms": [Interval(Real, 0, None, closed="neither")],
        "hop_ms": [Interval(Real, 0, None, closed="neither")],
        "normalize": [None, StrOptions({"rms"})],
        "n_mels": [
            None, Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}),
        ],
        "compression": [None, StrOptions({"log", "log-gain", "pcen"})],
        "standardize": ["boolean"],
        "channel": [Interval(Integral, None, None, closed="neither"),
                    StrOptions({"mean"})],
        "resample": ["boolean"],
        "n_jobs": [Integral, None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        sample_rate: float = 44100,
        window_ms: float = 25.0,
        hop_ms: float = 15.0,
        normalize: str | None = "rms",
        n_mels: int | str | None = "auto",
        compression: str | None = "pcen",
        standardize: bool = True,
        channel: int | str = 0,
        resample: bool = False,
        n_jobs: int | None = None,
        memory: str | os.PathLike | Memory | None = None,
        verbose: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.window_ms = window_ms
        self.hop_ms = hop_ms
        self.normalize = normalize
        self.n_mels = n_mels
        self.compression = compression
        self.standardize = standardize
        self.channel = channel
        self.resample = resample
        self.n_jobs = n_jobs
        self.memory = memory
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
        statistics = _Statistics(self.n_bins_) if self.standardize else None
        for _, clip_statistics in self._run(sources, statistics=self.standardize):
            if statistics is not None and clip_statistics is not None:
                statistics.merge(*clip_statistics)
        self._store_statistics(statistics)
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
        statistics = _Statistics(self.n_bins_) if self.standardize else None
        results = self._run(sources, statistics=self.standardize)
        for i, (frames, clip_statistics) in enumerate(results):
            features[i] = frames
            if statistics is not None and clip_statistics is not None:
                statistics.merge(*clip_statistics)
        self._store_statistics(statistics)
        if self.standardize:
            self._standardize_all(features)
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
        self._check_settings_unchanged()
        sources = as_clip_sources(X, min_samples=self.n_fft_)
        self._check_not_empty(sources)
        features = self._empty_output(sources)
        scaling = self._scaling() if self.standardize else None
        results = self._run(sources, statistics=False, scaling=scaling)
        for i, (frames, _) in enumerate(results):
            features[i] = frames
        return features

    def fit_to_folder(
        self, X: Any, folder: str | os.PathLike, y: Any = None
    ) -> FeatureStore:
        """Fit the statistics and write the features to a folder, in one pass.

        Like :meth:`fit_transform`, but each clip's spectrogram goes to disk
        as soon as it is computed (the statistics are accumulated on the
        way), so that memory does not grow with the number of clips. Reading
        the returned store gives exactly what :meth:`fit_transform` returns.

        Parameters
        ----------
        X : sequence of array-like or paths
            Audio clips: see the class docstring for the accepted forms.
        folder : str or path-like
            A new (or empty) folder for the store.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        FeatureStore
            The features on disk, indexed like the object array of
            :meth:`fit_transform`; see :mod:`sklearn_allconv.feature_store`.
        """
        sources = self._setup(X)
        statistics = _Statistics(self.n_bins_) if self.standardize else None
        writer = FeatureStoreWriter(folder, self.n_bins_)
        try:
            for frames, clip_statistics in self._run(
                sources, statistics=self.standardize
            ):
                writer.append(frames)
                if statistics is not None and clip_statistics is not None:
                    statistics.merge(*clip_statistics)
            self._store_statistics(statistics)
            return writer.close(*self._store_scaling())
        except BaseException:
            writer.abort()
            raise

    def transform_to_folder(self, X: Any, folder: str | os.PathLike) -> FeatureStore:
        """Write the features of ``X`` to a folder, clip by clip.

        Parameters
        ----------
        X : sequence of array-like or paths
            Audio clips: see the class docstring for the accepted forms.
        folder : str or path-like
            A new (or empty) folder for the store.

        Returns
        -------
        FeatureStore
            The features on disk, indexed like the output of :meth:`transform`.
        """
        check_is_fitted(self, "n_fft_")
        self._check_settings_unchanged()
        sources = as_clip_sources(X, min_samples=self.n_fft_)
        self._check_not_empty(sources)
        writer = FeatureStoreWriter(folder, self.n_bins_)
        try:
            for frames, _ in self._run(sources, statistics=False):
                writer.append(frames)
            return writer.close(*self._store_scaling())
        except BaseException:
            writer.abort()
            raise

    def _setup(self, X: Any) -> list[Any] | np.ndarray:
        self.n_fft_, self.hop_length_, self.n_bins_, self.n_mels_ = self._geometry()
        self._fitted_settings = self._analysis_settings()
        sources = as_clip_sources(X, min_samples=self.n_fft_)
        self._check_not_empty(sources)
        return sources

    def _geometry(self) -> tuple[int, int, int, int | None]:
        """Window and hop lengths, the bins (or mel bands) of each frame and
        the mel bands ``n_mels`` resolves to (None: the linear bins)."""
        n_fft, hop_length, n_bins = stft_geometry(
            self.sample_rate, window_ms=self.window_ms, hop_ms=self.hop_ms
        )
        n_mels: int | None
        if self.n_mels == "auto":
            fit = _mels_fit(self.sample_rate, n_fft, AUTO_MELS)
            n_mels = AUTO_MELS if fit else None
        else:
            n_mels = None if self.n_mels is None else int(self.n_mels)
        if n_mels is None:
            return n_fft, hop_length, n_bins, None
        # Raises if a band would hold no bin.
        mel_basis(self.sample_rate, n_fft, n_mels)
        return n_fft, hop_length, n_mels, n_mels

    def _analysis_settings(self) -> dict[str, Any]:
        """The parameters that decide what a spectrogram is (not how fast)."""
        return {name: getattr(self, name) for name in _ANALYSIS_PARAMS}

    def _check_settings_unchanged(self) -> None:
        """Refuse to transform with settings other than those fitted.

        The statistics, and the network trained on the output, belong to the
        fitted window, hop, rate and channel: analysing with changed ones
        would give features that silently mean something else.
        """
        fitted, now = self._fitted_settings, self._analysis_settings()
        changed = [
            f"{name} from {fitted[name]!r} to {now[name]!r}"
            for name in _ANALYSIS_PARAMS
            if fitted[name] != now[name]
        ]
        if changed:
            raise ValueError(
                f"STFTTransformer's parameters changed after fit "
                f"({', '.join(changed)}); its statistics and any model trained on "
                "its output belong to the fitted settings. Fit it again, or set "
                "the parameters back."
            )

    def _empty_output(self, sources: list[Any] | np.ndarray) -> np.ndarray:
        """An object array for a sequence of clips; a 3-D array for an array."""
        if isinstance(sources, np.ndarray):
            n_frames = 1 + (sources.shape[-1] - self.n_fft_) // self.hop_length_
            return np.empty((len(sources), n_frames, self.n_bins_), dtype=np.float32)
        return np.empty(len(sources), dtype=object)

    @staticmethod
    def _check_not_empty(sources: Sized) -> None:
        if len(sources) == 0:
            raise ValueError("Found 0 clips; at least one clip is required.")

    def _store_statistics(self, statistics: _Statistics | None) -> None:
        if statistics is None:
            self.mean_ = self.scale_ = None
            self.n_frames_seen_ = 0
            return
        self.mean_ = statistics.mean
        self.scale_ = statistics.scale()
        self.n_frames_seen_ = statistics.count

    def _store_scaling(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The standardization a feature store applies when reading."""
        return self._scaling() if self.standardize else (None, None)

    def _scaling(self) -> tuple[np.ndarray, np.ndarray]:
        """Offset and factor in float32: ``(frames - offset) * factor``."""
        # Called with standardize=True only, where both statistics are arrays.
        mean, scale = np.asarray(self.mean_), np.asarray(self.scale_)
        return mean.astype(np.float32), (1.0 / scale).astype(np.float32)

    def _standardize_all(self, features: np.ndarray) -> None:
        """Standardize every clip in place, in parallel threads."""
        offset, factor = self._scaling()
        clips = list(features)
        n_chunks = min(len(clips), 4 * effective_n_jobs(self.n_jobs))
        chunks = [clips[i::n_chunks] for i in range(n_chunks)]
        # In place, hence threads whatever backend the caller configured: a
        # process-based one (dask, loky in a joblib.parallel_config) would
        # standardize copies in other processes and leave these clips raw.
        Parallel(n_jobs=self.n_jobs, require="sharedmem")(
            delayed(_standardize_clips)(chunk, offset, factor) for chunk in chunks
        )

    def _run(
        self,
        sources: list[Any] | np.ndarray,
        *,
        statistics: bool,
        scaling: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Iterator[tuple[np.ndarray, tuple[int, np.ndarray, np.ndarray] | None]]:
        """Yield each clip's spectrogram and, if asked, its statistics, in order."""
        spectrogram = _spectrogram
        if self.memory is not None:
            memory = self.memory
            if isinstance(memory, os.PathLike):
                memory = os.fspath(memory)
            spectrogram = check_memory(memory).cache(_spectrogram, ignore=["index"])
        settings = {
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft_,
            "hop_length": self.hop_length_,
            "channel": self.channel,
            "resample": self.resample,
        }
        prepare = (
            None
            if self.normalize is None and self.n_mels_ is None
            and self.compression is None
            else partial(
                _prepare,
                normalize=self.normalize,
                mel=(
                    None if self.n_mels_ is None
                    else mel_basis(self.sample_rate, self.n_fft_, self.n_mels_)
                ),
                compression=self.compression,
                frame_rate=self.sample_rate / self.hop_length_,
            )
        )
        jobs = (
            delayed(_process_clip)(
                spectrogram,
                source,
                index,
                settings,
                prepare=prepare,
                statistics=statistics,
                scaling=scaling,
            )
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


class _Statistics:
    """Per-bin count, mean and sum of squared deviations, merged clip by clip.

    The pairwise update of Chan, Golub & LeVeque, in float64: merging clips'
    statistics gives those of the concatenated frames.
    """

    def __init__(self, n_bins: int) -> None:
        self.count = 0
        self.mean = np.zeros(n_bins)
        self.squares = np.zeros(n_bins)

    def merge(self, count: int, mean: np.ndarray, squares: np.ndarray) -> None:
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.squares = self.squares + squares + delta**2 * (self.count * count / total)
        self.count = total

    def scale(self) -> np.ndarray:
        """Standard deviations; 1 for bins that are constant up to rounding."""
        var = self.squares / self.count
        # The tolerance of scikit-learn's StandardScaler for constant features.
        eps = np.finfo(np.float64).eps
        constant = var <= self.count * eps * var + (self.count * self.mean * eps) ** 2
        return np.where(constant, 1.0, np.sqrt(var))


def _clip_statistics(frames: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Frame count, per-bin mean and sum of squared deviations (float64)."""
    mean = frames.mean(axis=0, dtype=np.float64)
    squares = np.zeros_like(mean)
    for start in range(0, len(frames), _BLOCK_FRAMES):
        deviations = frames[start : start + _BLOCK_FRAMES] - mean
        squares += np.einsum("ij,ij->j", deviations, deviations)
    return len(frames), mean, squares


def _standardize_clips(
    clips: Sequence[np.ndarray], offset: np.ndarray, factor: np.ndarray
) -> None:
    for frames in clips:
        frames -= offset
        frames *= factor


def _process_clip(
    spectrogram: Any,
    source: Any,
    index: int,
    settings: dict[str, Any],
    *,
    prepare: Callable[[np.ndarray], np.ndarray] | None,
    statistics: bool,
    scaling: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, tuple[int, np.ndarray, np.ndarray] | None]:
    """One clip's features (standardized if ``scaling``) and their statistics."""
    stamp = _file_stamp(source) if is_path(source) else None
    frames = spectrogram(source, stamp, index, **settings)
    if prepare is not None:
        frames = prepare(frames)
    clip_statistics = _clip_statistics(frames) if statistics else None
    if scaling is not None:
        _standardize_clips([frames], *scaling)
    return frames, clip_statistics


def _prepare(
    frames: np.ndarray,
    *,
    normalize: str | None,
    mel: np.ndarray | None,
    compression: str | None,
    frame_rate: float,
) -> np.ndarray:
    """Normalize, pool into mel bands, then compress one clip's magnitudes.

    ``frames`` (frames x bins) is changed in place; the result is ``frames``
    itself, or a new (frames x bands) array when ``mel`` is given.
    """
    if normalize == "rms":
        # Accumulated in float64 without a float64 copy of the clip.
        squares = np.einsum("ij,ij->", frames, frames, dtype=np.float64)
        rms = np.sqrt(squares / frames.size)
        if rms > 0:  # a silent clip stays zero
            frames /= np.float32(rms)
    if mel is not None:
        frames = frames @ mel
    if compression is not None:
        _compress(frames, compression=compression, frame_rate=frame_rate)
    return frames


def _compress(frames: np.ndarray, *, compression: str, frame_rate: float) -> None:
    """Apply ``compression`` to one clip's (frames x bins) magnitudes in place."""
    if compression == "pcen":
        _pcen(frames, frame_rate)
        return
    frames += np.float32(LOG_FLOOR)
    np.log(frames, out=frames)
    if compression == "log-gain":
        frames -= np.float32(frames.mean(dtype=np.float64))


def _pcen(frames: np.ndarray, frame_rate: float) -> None:
    """:func:`librosa.pcen` with its defaults, in float32 and in place.

    librosa computes in float64 (its filter state is float64), which took
    2.4 times as long on 30 s clips; the results agree within 1e-5.
    With ``M`` the magnitudes ``S`` smoothed over time, librosa returns
    ``bias**power * expm1(power * log1p(S * smooth / bias))`` with ``smooth =
    exp(-gain * (log(eps) + log1p(M / eps)))``, that is ``(eps + M)**-gain``;
    with ``power = 0.5`` the first is ``sqrt(bias + z) - sqrt(bias)`` for ``z
    = S * smooth``, computed as ``z / (sqrt(bias + z) + sqrt(bias))``, which
    keeps the precision of small ``z``.
    """
    gain, bias, eps = (np.float32(PCEN_PARAMS[key]) for key in ("gain", "bias", "eps"))
    b = pcen_smoothing_coefficient(frame_rate)
    frames *= np.float32(PCEN_SCALE)
    # librosa's first-order low-pass over time, started where it settles for a
    # constant 1 (scipy.signal.lfilter_zi), per bin.
    state = np.full((1, frames.shape[1]), 1 - b, dtype=np.float32)
    smooth, _ = lfilter(
        np.array([b], np.float32), np.array([1, b - 1], np.float32),
        frames, axis=0, zi=state,
    )
    smooth += eps
    np.log(smooth, out=smooth)
    smooth *= -gain
    np.exp(smooth, out=smooth)
    frames *= smooth
    root_bias = np.sqrt(bias)
    np.add(frames, bias, out=smooth)
    np.sqrt(smooth, out=smooth)
    smooth += root_bias
    frames /= smooth


def _file_stamp(path: str | os.PathLike) -> tuple[int, int] | None:
    """Modification time and size of a file: part of its key in the cache."""
    try:
        status = os.stat(path)
    except OSError:
        return None  # reading it reports the problem
    return status.st_mtime_ns, status.st_size


def _spectrogram(
    source: Any,
    stamp: tuple[int, int] | None,
    index: int,
    *,
    sample_rate: float,
    n_fft: int,
    hop_length: int,
    channel: int | str,
    resample: bool,
) -> np.ndarray:
    """STFT magnitudes (frames x bins, float32) of one clip or audio file.

    ``stamp`` identifies the version of a file for the cache and is otherwise
    unused; ``index`` only appears in error messages.
    """
    audio = load_clip(
        source, index, sample_rate=sample_rate, channel=channel, resample=resample
    )
    n_samples = audio.shape[0]
    if n_samples < n_fft:
        raise ValueError(
            f"{describe_clip(source, index)} has {n_samples} samples "
            f"({1000.0 * n_samples / sample_rate:.1f} ms); one STFT frame "
            f"needs at least {n_fft} samples ({1000.0 * n_fft / sample_rate:.1f} "
            f"ms at {sample_rate:g} Hz). Pad the clip or drop it."
        )
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop_length]
    window = _periodic_hann(n_fft)
    magnitudes = np.empty((len(frames), n_fft // 2 + 1), dtype=np.float32)
    # Block by block, so that the temporaries stay small and are reused: whole
    # clip temporaries (3 to 4 times the output) would fragment the heap and
    # hold on to memory.
    for start in range(0, len(frames), _BLOCK_FRAMES):
        block = slice(start, start + _BLOCK_FRAMES)
        spectrum = scipy.fft.rfft(frames[block] * window, axis=1, overwrite_x=True)
        np.abs(spectrum, out=magnitudes[block])
    if not np.isfinite(magnitudes).all():
        # Finite samples near the float32 limit overflow in the FFT sums.
        raise ValueError(
            f"{describe_clip(source, index)} gives infinite STFT magnitudes: its "
            f"samples reach {float(np.abs(audio).max()):.3g}, while audio is "
            "expected in [-1, 1]. Rescale it."
        )
    return magnitudes


@cache
def mel_basis(sample_rate: float, n_fft: int, n_mels: int) -> np.ndarray:
    """The (bins x bands) matrix that pools STFT magnitudes into mel bands.

    :func:`librosa.filters.mel` with its defaults (Slaney's mel scale and
    band-area normalization, 0 Hz to half the sample rate), transposed, so
    that ``magnitudes @ mel_basis(...)`` gives the bands. The result is cached
    and read-only.

    Parameters
    ----------
    sample_rate : float
        Sampling rate of the audio in Hz.
    n_fft : int
        Window (and FFT) length in samples.
    n_mels : int
        Number of mel bands.

    Returns
    -------
    ndarray of shape (n_fft // 2 + 1, n_mels), float32
        The filters, one column per band.

    Raises
    ------
    ValueError
        If a band would hold no STFT bin, which happens when the bands at low
        frequencies are narrower than the bins' spacing.

    Examples
    --------
    >>> from sklearn_allconv.features import mel_basis
    >>> mel_basis(16000, 400, 64).shape
    (201, 64)
    """
    # Each bin lies in the triangles of at most two neighbouring bands, so
    # more than twice as many bands as bins cannot all hold one: checked first,
    # so that a huge n_mels (from a model file, say) never sizes a matrix.
    most_possible = 2 * (n_fft // 2 + 1)
    filters = (
        _mel_filters(sample_rate, n_fft, n_mels) if n_mels <= most_possible else None
    )
    if filters is None or not _all_hold_a_bin(filters):
        # More bands only make the lowest ones narrower: bisect for the most
        # that all hold a bin.
        low, high = 1, min(n_mels - 1, most_possible)
        while low < high:
            middle = (low + high + 1) // 2
            if _mels_fit(sample_rate, n_fft, middle):
                low = middle
            else:
                high = middle - 1
        raise ValueError(
            f"n_mels={n_mels} at sample_rate={sample_rate:g} with a window of "
            f"{n_fft} samples leaves mel bands without any STFT bin (the lowest "
            f"ones are narrower than the bins' spacing of "
            f"{sample_rate / n_fft:.1f} Hz). Use at most {low} mel bands, or "
            "raise window_ms."
        )
    basis = np.ascontiguousarray(filters.T)
    basis.flags.writeable = False  # shared by all clips and threads
    return basis


def _mels_fit(sample_rate: float, n_fft: int, n_mels: int) -> bool:
    """Whether each of ``n_mels`` bands holds at least one STFT bin."""
    return _all_hold_a_bin(_mel_filters(sample_rate, n_fft, n_mels))


def _all_hold_a_bin(filters: np.ndarray) -> bool:
    """Whether every band (row) of a mel filter matrix weights some bin."""
    return bool((filters.max(axis=1) > 0).all())


def _mel_filters(sample_rate: float, n_fft: int, n_mels: int) -> np.ndarray:
    """:func:`librosa.filters.mel` with its defaults, (bands x bins) float32."""
    import librosa  # deferred: importing librosa takes about a second

    with warnings.catch_warnings():
        # mel_basis reports empty bands as an error.
        warnings.filterwarnings("ignore", "Empty filters", UserWarning)
        return librosa.filters.mel(
            sr=sample_rate, n_fft=n_fft, n_mels=n_mels, dtype=np.float32
        )


@cache
def _periodic_hann(n_fft: int) -> np.ndarray:
    window = get_window("hann", n_fft, fftbins=True).astype(np.float32)
    window.flags.writeable = False  # shared by all clips and threads
    return window








