"""The DCASE 2016 MFCC + GMM baseline systems, as scikit-learn estimators.

The paper compares its network with the official baselines of Task 1
(acoustic scenes) and Task 4 (domestic audio tagging). Both describe each clip
by frame-wise MFCCs (:class:`MFCCTransformer`) and model the frames with
Gaussian mixtures: one mixture per scene, the scene with the highest
summed frame log-likelihood wins (:class:`GMMSceneClassifier`); two mixtures
per tag, with and without it, scored by their log-likelihood ratio
(:class:`GMMTagger`). :func:`make_dcase2016_task1_baseline` and
:func:`make_dcase2016_task4_baseline` assemble the two systems with the
settings of the official code and configuration files
(TUT-ARG/DCASE2016-baseline-system-python for Task 1,
pafoster/dcase2016_task4 for Task 4); ``tests/test_baseline.py`` pins each
one with its source.
"""

from __future__ import annotations

import warnings
from functools import partial
from numbers import Integral, Real
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from numpy.lib.stride_tricks import sliding_window_view
from scipy.fft import dct
from scipy.signal import get_window, lfilter
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from tqdm.auto import tqdm

# The STFT transformer's input handling (paths, channels, PCM, resampling) is
# reused so that both systems read exactly the same audio.
from ._validation import as_clip_sources, load_clip, stack_feature_frames
from .metrics import equal_error_rate

__all__ = [
    "GMMSceneClassifier",
    "GMMTagger",
    "MFCCTransformer",
    "make_dcase2016_task1_baseline",
    "make_dcase2016_task4_baseline",
]


class MFCCTransformer(TransformerMixin, BaseEstimator):
    """Frame-wise MFCCs (with deltas) of variable-length audio, as in DCASE 2016.

    Each clip becomes a (frames x coefficients) float32 array, computed as the
    official baselines' ``feature_extraction`` did with librosa 0.4.3: the
    clip is reflect-padded by ``n_fft // 2`` on each side (frames centred); a
    periodic Hamming window of ``n_fft`` samples (or of ``window_ms``, centred
    in ``n_fft``) every ``hop_ms`` milliseconds; the power spectrum through
    ``n_mels`` Slaney mel bands between ``fmin`` and ``fmax``; dB with a floor
    80 dB below the clip's maximum; the orthonormal DCT-II. ``n_mfcc``
    static coefficients are kept (with or without c0), followed by
    ``delta_order`` orders of regression deltas. The defaults are the Task 1
    baseline's: 2048-point frames every 20 ms at 44.1 kHz, 40 mel bands,
    20 MFCC including c0, deltas and accelerations over 9 frames (60 values).

    The transformer is stateless: :meth:`fit` only checks the parameters.

    Parameters
    ----------
    sample_rate : float, default=44100
        Sampling rate of the audio in Hz; files must have it unless
        ``resample``.
    n_fft : int, default=2048
        FFT length in samples.
    window_ms : float or None, default=None
        Length of the Hamming window in milliseconds, zero-padded to
        ``n_fft`` samples; None: the window spans all ``n_fft`` samples, as in
        the official baselines (see Notes).
    hop_ms : float, default=20.0
        Hop between frames in milliseconds.
    n_mels : int, default=40
        Number of mel bands.
    fmin : float, default=0.0
        Lowest frequency of the mel bands in Hz.
    fmax : float or None, default=None
        Highest frequency of the mel bands in Hz; None: half the sampling
        rate. Bands above half the sampling rate are empty (see Notes).
    n_mfcc : int, default=20
        Number of static cepstral coefficients per frame.
    include_c0 : bool, default=True
        Whether the static coefficients start with c0 (the frame energy);
        if False, they are c1 to c``n_mfcc``.
    delta_order : {0, 1, 2}, default=2
        0: static coefficients only; 1: add deltas; 2: add deltas and
        accelerations (deltas of the deltas).
    delta_width : int, default=9
        Number of frames the deltas are computed over (odd, at least 3).
    channel : int or "mean", default="mean"
        Channel of multi-channel audio: an index, or ``"mean"`` for the mono
        downmix the DCASE baselines use.
    resample : bool, default=False
        Resample audio files whose rate differs from ``sample_rate``
        instead of raising an error.
    n_jobs : int, default=None
        Number of clips processed in parallel (threads).
    verbose : int, default=0
        Show a progress bar over the clips when positive.

    Attributes
    ----------
    n_features_out_ : int
        Values per output frame, ``n_mfcc * (delta_order + 1)``.

    See Also
    --------
    GMMSceneClassifier, GMMTagger : The classifiers these features feed.
    make_dcase2016_task1_baseline, make_dcase2016_task4_baseline : The two
        official configurations.

    Notes
    -----
    The official code (``src/features.py`` of
    TUT-ARG/DCASE2016-baseline-system-python, shared by the Task 4 system)
    passes a Hamming window of ``n_fft`` samples to ``librosa.stft`` together
    with ``win_length`` = ``win_length_seconds`` · fs; librosa 0.4.3 ignores
    ``win_length`` when the window is an array, so the configured 40 ms
    (Task 1) and 20 ms (Task 4) never took effect: the frames are 2048
    samples (46 ms at 44.1 kHz) and 1024 samples (64 ms at 16 kHz). Hence
    ``window_ms=None`` by default.

    The deltas are librosa 0.4.3's: a regression filter
    ``sum(n * x[t + n]) / sum(n ** 2)`` over ``delta_width`` frames, with the
    clip's first and last frames repeated at its edges; accelerations apply
    the same filter twice. Later librosa versions use Savitzky-Golay filters,
    whose accelerations differ, so this transformer does not call them.

    The official Task 4 configuration sets ``fmax: 24000`` for 16 kHz audio:
    the mel bands are spaced up to 24 kHz and those above 8 kHz receive no
    spectrum, which leaves them at the dB floor. That is what the official
    figures were computed with, and :func:`make_dcase2016_task4_baseline`
    keeps it.

    Two differences remain, both below any practical effect: the official
    code added ``numpy.spacing(1)`` to the samples (so is this
    transformer) and scaled 24-bit integers by ``1 / (2 ** 23 + 1)`` instead
    of ``1 / 2 ** 23`` (a 1e-6 dB offset); it also excluded c0 after
    computing the deltas, so with ``include_mfcc0: false`` it kept the deltas
    of c0 — neither task uses that combination.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv.baseline import MFCCTransformer
    >>> clips = [np.random.default_rng(0).standard_normal(8000)]
    >>> MFCCTransformer(sample_rate=16000, n_fft=512).fit_transform(clips)[0].shape
    (26, 60)
    """

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Real, 0, None, closed="neither")],
        "n_fft": [Interval(Integral, 1, None, closed="left")],
        "window_ms": [Interval(Real, 0, None, closed="neither"), None],
        "hop_ms": [Interval(Real, 0, None, closed="neither")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither"), None],
        "n_mfcc": [Interval(Integral, 1, None, closed="left")],
        "include_c0": ["boolean"],
        "delta_order": [Interval(Integral, 0, 2, closed="both")],
        "delta_width": [Interval(Integral, 3, None, closed="left")],
        "channel": [Integral, StrOptions({"mean"})],
        "resample": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        sample_rate: float = 44100,
        n_fft: int = 2048,
        window_ms: float | None = None,
        hop_ms: float = 20.0,
        n_mels: int = 40,
        fmin: float = 0.0,
        fmax: float | None = None,
        n_mfcc: int = 20,
        include_c0: bool = True,
        delta_order: int = 2,
        delta_width: int = 9,
        channel: int | str = "mean",
        resample: bool = False,
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.window_ms = window_ms
        self.hop_ms = hop_ms
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.n_mfcc = n_mfcc
        self.include_c0 = include_c0
        self.delta_order = delta_order
        self.delta_width = delta_width
        self.channel = channel
        self.resample = resample
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> MFCCTransformer:
        """Check the parameters; nothing is learned.

        Parameters
        ----------
        X : sequence of array-like or paths, or 2-D array
            Audio clips, in the forms
            :class:`~sklearn_allconv.STFTTransformer` accepts.
        y : None
            Ignored.

        Returns
        -------
        self : MFCCTransformer
            The transformer.
        """
        self._geometry()
        # Only validated: scikit-learn's usual errors for bad input, early.
        self._sources(X)
        self.n_features_out_ = self.n_mfcc * (self.delta_order + 1)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Compute the MFCC frames of each clip.

        Parameters
        ----------
        X : sequence of array-like or paths, or 2-D array
            Audio clips, in the forms
            :class:`~sklearn_allconv.STFTTransformer` accepts; a 2-D float
            array holds one equal-length clip per row.

        Returns
        -------
        features : ndarray of object of shape (n_clips,), or ndarray
            One (frames x ``n_mfcc * (delta_order + 1)``) float32 array per
            clip, ``1 + n_samples // hop`` frames for an even ``n_fft``; for
            an array input
            (equal-length clips), a float32 array of shape
            (n_clips, frames, ``n_mfcc * (delta_order + 1)``).

        Raises
        ------
        ValueError
            If an audio file has another sampling rate (see ``resample``).
        """
        self._validate_params()
        window, hop_length = self._geometry()
        mel_basis = self._mel_basis()
        sources = self._sources(X)
        # The same audio reading as STFTTransformer, so both systems see the
        # same samples.
        load = partial(
            load_clip,
            sample_rate=self.sample_rate,
            channel=self.channel,
            resample=self.resample,
        )
        jobs = (
            delayed(self._mfcc)(load(source, i), window, hop_length, mel_basis)
            for i, source in enumerate(sources)
        )
        parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", return_as="generator")
        features = np.empty(len(sources), dtype=object)
        progress = tqdm(
            parallel(jobs), total=len(sources), desc="MFCC", disable=not self.verbose
        )
        for i, frames in enumerate(progress):
            features[i] = frames
        if isinstance(sources, np.ndarray):
            # Equal-length clips in an array give equal-length outputs.
            return np.stack(list(features))
        return features

    def _sources(self, X: Any) -> list[Any] | np.ndarray:
        sources = as_clip_sources(X, min_samples=1)
        if len(sources) == 0:
            raise ValueError("Found 0 clips; at least one clip is required.")
        return sources

    def _geometry(self) -> tuple[np.ndarray, int]:
        """The analysis window (``n_fft`` samples) and the hop in samples."""
        if self.delta_order and self.delta_width % 2 == 0:
            raise ValueError(
                f"delta_width must be odd, got {self.delta_width}; use e.g. 9."
            )
        hop_length = int(round(self.hop_ms * self.sample_rate / 1000.0))
        if hop_length < 1:
            raise ValueError(
                f"hop_ms={self.hop_ms} at sample_rate={self.sample_rate} is a hop "
                "of 0 samples; raise hop_ms."
            )
        if self.window_ms is None:
            win_length = self.n_fft
        else:
            win_length = int(round(self.window_ms * self.sample_rate / 1000.0))
            if not 1 <= win_length <= self.n_fft:
                raise ValueError(
                    f"window_ms={self.window_ms} is {win_length} samples at "
                    f"sample_rate={self.sample_rate}; it must be between 1 and "
                    f"n_fft={self.n_fft}. Raise n_fft or shorten the window."
                )
        window = np.zeros(self.n_fft)
        start = (self.n_fft - win_length) // 2
        # "hamming_asymmetric" in the official configuration: periodic.
        window[start : start + win_length] = get_window("hamming", win_length)
        return window, hop_length

    def _mel_basis(self) -> np.ndarray:
        import librosa  # deferred: importing librosa takes about a second

        nyquist = self.sample_rate / 2
        with warnings.catch_warnings():
            if self.fmax is not None and self.fmax > nyquist:
                # Documented (Notes): the official Task 4 configuration spaces
                # the bands up to fmax regardless of the sampling rate.
                warnings.filterwarnings("ignore", message="Empty filters detected")
            return librosa.filters.mel(
                sr=self.sample_rate,
                n_fft=self.n_fft,
                n_mels=self.n_mels,
                fmin=self.fmin,
                fmax=self.fmax,
                htk=False,
                norm="slaney",
                dtype=np.float64,
            )

    def _mfcc(
        self,
        audio: np.ndarray,
        window: np.ndarray,
        hop_length: int,
        mel_basis: np.ndarray,
    ) -> np.ndarray:
        n_fft = len(window)
        # As the official code: a tiny offset keeps digital silence finite.
        padded = np.pad(
            audio.astype(np.float64) + np.spacing(1), n_fft // 2, mode="reflect"
        )
        frames = sliding_window_view(padded, n_fft)[::hop_length]
        power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
        log_mel = 10.0 * np.log10(np.maximum(1e-10, power @ mel_basis.T))
        log_mel = np.maximum(log_mel, log_mel.max() - 80.0)
        n_static = self.n_mfcc + (0 if self.include_c0 else 1)
        static = dct(log_mel, type=2, norm="ortho", axis=1)[:, :n_static]
        if not self.include_c0:
            static = static[:, 1:]
        blocks = [static] + [
            _regression_delta(static, self.delta_width, order)
            for order in range(1, self.delta_order + 1)
        ]
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)


def _regression_delta(frames: np.ndarray, width: int, order: int) -> np.ndarray:
    """librosa 0.4.3's ``delta`` along the frames (rows) of ``frames``.

    The regression slope ``sum(n * x[t + n]) / sum(n ** 2)`` for n in
    ``-width // 2 .. width // 2``, with edge frames repeated, applied
    ``order`` times.
    """
    half = width // 2
    taps = np.arange(half, -half - 1, -1.0)
    taps /= np.sum(taps**2)
    padded = np.pad(frames, [(width, width), (0, 0)], mode="edge")
    for _ in range(order):
        padded = lfilter(taps, [1.0], padded, axis=0)
    n = len(frames)
    return padded[len(padded) - half - 1 - n : len(padded) - half - 1]


class _FrameGMM(BaseEstimator):
    """Shared parts of the GMM baselines: frame sets, z-scoring, mixtures."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [
            StrOptions(
                {"dcase2016", "kmeans", "k-means++", "random", "random_from_data"}
            )
        ],
        "standardize": ["boolean"],
        "random_state": ["random_state"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _frames(self, X: Any, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        """All frames stacked, and the clip each frame belongs to.

        A 2-D array holds one single-frame clip per row; a 3-D array
        equal-length clips; a sequence or 1-D object array clips of any
        length.
        """
        stacked = stack_feature_frames(X)
        if stacked is None:
            frames = validate_data(self, X, dtype=np.float64, reset=reset)
            return frames, np.arange(frames.shape[0])
        frames, owners = stacked
        self._check_n_features(frames.shape[1], reset=reset)
        return frames, owners

    def _check_n_features(self, n_features: int, *, reset: bool) -> None:
        if reset:
            self.n_features_in_ = n_features
        elif n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features per frame, but "
                f"{type(self).__name__} is expecting {self.n_features_in_} "
                "features as input."
            )

    def _standardize(self, frames: np.ndarray, *, fit: bool) -> np.ndarray:
        if fit:
            self.scaler_ = StandardScaler() if self.standardize else None
            if self.scaler_ is not None:
                self.scaler_.fit(frames)
        return frames if self.scaler_ is None else self.scaler_.transform(frames)

    def _mixture(self, frames: np.ndarray, seed: int, what: str) -> GaussianMixture:
        if len(frames) < self.n_components:
            raise ValueError(
                f"{what} has {len(frames)} training frames, fewer than "
                f"n_components={self.n_components}. Use longer or more clips, or "
                "fewer components."
            )
        options: dict[str, Any] = {"init_params": self.init_params}
        if self.init_params == "dcase2016":
            options = _dcase2016_start(
                frames, self.n_components, self.covariance_type, self.reg_covar, seed
            )
        mixture = GaussianMixture(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            max_iter=self.max_iter,
            tol=self.tol,
            reg_covar=self.reg_covar,
            n_init=self.n_init,
            random_state=seed,
            **options,
        )
        with warnings.catch_warnings():
            # The DCASE 2016 recipe runs a fixed number of EM iterations: not
            # converging within them is the recipe, not a fault to report.
            warnings.simplefilter("ignore", ConvergenceWarning)
            return mixture.fit(frames)


def _dcase2016_start(
    frames: np.ndarray,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    seed: int,
) -> dict[str, Any]:
    """The starting point of scikit-learn 0.17's ``GMM`` (``init_params="wmc"``).

    Means: k-means centres (k-means++ seeding, 10 restarts: ``KMeans``'
    defaults then); weights: uniform; every component's covariance: that of
    all the frames (``numpy.cov``) plus ``reg_covar`` on the diagonal.
    """
    with warnings.catch_warnings():
        # Fewer distinct frames than components: k-means says so; EM copes.
        warnings.simplefilter("ignore", ConvergenceWarning)
        means = (
            KMeans(n_clusters=n_components, n_init=10, random_state=seed)
            .fit(frames)
            .cluster_centers_
        )
    n_features = frames.shape[1]
    # numpy.cov of a single frame is undefined (NaN); its spread is zero.
    spread = np.cov(frames.T) if len(frames) > 1 else np.zeros((n_features,) * 2)
    covariance = np.atleast_2d(spread) + reg_covar * np.eye(n_features)
    if covariance_type == "full":
        precisions = np.tile(np.linalg.inv(covariance), (n_components, 1, 1))
    elif covariance_type == "tied":
        precisions = np.linalg.inv(covariance)
    elif covariance_type == "diag":
        precisions = np.tile(1.0 / np.diag(covariance), (n_components, 1))
    else:
        precisions = np.full(n_components, 1.0 / np.diag(covariance).mean())
    return {
        # The start is given in full; "random_from_data" is the cheapest of
        # the initialisations GaussianMixture computes and then overrides.
        "init_params": "random_from_data",
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": means,
        "precisions_init": precisions,
    }


def _sum_per_clip(values: np.ndarray, owners: np.ndarray, n_clips: int) -> np.ndarray:
    """Sum frame values (frames x k) per clip (clips x k)."""
    sums = np.zeros((n_clips, values.shape[1]))
    np.add.at(sums, owners, values)
    return sums


class GMMSceneClassifier(ClassifierMixin, _FrameGMM):
    """One Gaussian mixture per class over frames: the DCASE 2016 Task 1 baseline.

    Frames are z-scored with statistics of all training frames, then a
    mixture is fitted to the frames of each class. A clip goes to the class
    whose mixture gives its frames the highest summed log-likelihood.

    Parameters
    ----------
    n_components : int, default=16
        Gaussians per class.
    covariance_type : {"diag", "full", "tied", "spherical"}, default="diag"
        Covariance structure, as in
        :class:`~sklearn.mixture.GaussianMixture`.
    max_iter : int, default=40
        Most EM iterations per mixture.
    tol : float, default=1e-3
        EM stops when the mean frame log-likelihood changes by less.
    reg_covar : float, default=1e-3
        Added to the covariance diagonals in every EM step (the official
        ``min_covar``; see Notes).
    n_init : int, default=1
        EM initialisations per mixture; the best is kept.
    init_params : {"dcase2016", "kmeans", "k-means++", "random", \
            "random_from_data"}, default="dcase2016"
        How the mixtures start. ``"dcase2016"``: as the official baseline's
        scikit-learn 0.17 ``GMM``: k-means centres (10 restarts), uniform
        weights, every covariance that of all the class's frames plus
        ``reg_covar``. The others as in
        :class:`~sklearn.mixture.GaussianMixture`.
    standardize : bool, default=True
        Z-score the frames with the training statistics.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixtures' initialisation.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    mixtures_ : list of GaussianMixture
        The mixture of each class, in the order of ``classes_``.
    scaler_ : StandardScaler or None
        The frame standardization (None if ``standardize=False``).
    n_features_in_ : int
        Values per frame.
    n_iter_ : int
        The most EM iterations any mixture needed.

    See Also
    --------
    MFCCTransformer : The frame features.
    make_dcase2016_task1_baseline : The complete Task 1 baseline.

    Notes
    -----
    ``X`` is a sequence (or 1-D object array) of (frames x features) arrays,
    or a 3-D array of equal-length clips; a 2-D array is read as clips of
    one frame each.

    The defaults are the official Task 1 configuration
    (``task1_scene_classification.yaml`` of
    TUT-ARG/DCASE2016-baseline-system-python: ``n_components: 16``,
    ``covariance_type: diag``, ``n_iter: 40``, ``tol: 0.001``,
    ``min_covar: 0.001``, ``n_init: 1``, ``init_params: wmc``). Its
    scikit-learn 0.17 ``GMM`` added ``min_covar`` to the covariance diagonal
    in every M-step, exactly as :class:`~sklearn.mixture.GaussianMixture`
    adds ``reg_covar``, so ``reg_covar=1e-3`` is the same regularization;
    ``GMM`` also added it to the starting covariance, which
    ``init_params="dcase2016"`` does. Both stop EM when the mean frame
    log-likelihood changes by less than ``tol``; ``GaussianMixture`` makes
    the M-step of that last iteration, ``GMM`` did not. The official
    normalizer divides by the standard deviation with ``n - 1``,
    :class:`~sklearn.preprocessing.StandardScaler` with ``n`` (a factor
    ``1 + 1 / (2n)`` over hundreds of thousands of frames). The official
    system seeds every mixture with ``random_state: 0``; here
    ``random_state`` seeds a generator that draws one seed per mixture.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv.baseline import GMMSceneClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(loc, size=(30, 3)) for loc in (0, 0, 5, 5)]
    >>> clf = GMMSceneClassifier(n_components=2, random_state=0)
    >>> clf.fit(X, ["a", "a", "b", "b"]).predict(X).tolist()
    ['a', 'a', 'b', 'b']
    """

    def __init__(
        self,
        *,
        n_components: int = 16,
        covariance_type: str = "diag",
        max_iter: int = 40,
        tol: float = 1e-3,
        reg_covar: float = 1e-3,
        n_init: int = 1,
        init_params: str = "dcase2016",
        standardize: bool = True,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.init_params = init_params
        self.standardize = standardize
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> GMMSceneClassifier:
        """Fit one mixture per class to the frames of its clips.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, features), or ndarray
            Frame features of each clip.
        y : array-like of shape (n_clips,)
            Class labels.

        Returns
        -------
        self : GMMSceneClassifier
            The fitted classifier.
        """
        frames, owners = self._frames(X, reset=True)
        n_clips = owners[-1] + 1
        y = column_or_1d(y, warn=True)
        if len(y) != n_clips:
            raise ValueError(
                f"X has {n_clips} clips but y has {len(y)} labels; they must match."
            )
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        frames = self._standardize(frames, fit=True)
        frame_classes = encoded[owners]
        rng = check_random_state(self.random_state)
        self.mixtures_ = [
            self._mixture(
                frames[frame_classes == k],
                rng.randint(np.iinfo(np.int32).max),
                f"Class {str(label)!r}",
            )
            for k, label in enumerate(self.classes_)
        ]
        self.n_iter_ = max(mixture.n_iter_ for mixture in self.mixtures_)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Summed frame log-likelihood of each clip under each class's mixture.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, features), or ndarray
            Frame features of each clip.

        Returns
        -------
        scores : ndarray of shape (n_clips, n_classes) or (n_clips,)
            Log-likelihoods, columns in the order of ``classes_``; for two
            classes, as scikit-learn expects, the log-likelihood ratio of
            ``classes_[1]`` to ``classes_[0]``.
        """
        scores = self._log_likelihoods(X)
        if len(self.classes_) == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """The class with the highest summed frame log-likelihood.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, features), or ndarray
            Frame features of each clip.

        Returns
        -------
        labels : ndarray of shape (n_clips,)
            Predicted labels, from ``classes_``.
        """
        best = np.argmax(self._log_likelihoods(X), axis=1)
        return self.classes_[best]

    def _log_likelihoods(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        frames, owners = self._frames(X, reset=False)
        frames = self._standardize(frames, fit=False)
        per_frame = np.column_stack([m.score_samples(frames) for m in self.mixtures_])
        return _sum_per_clip(per_frame, owners, owners[-1] + 1)


class GMMTagger(ClassifierMixin, _FrameGMM):
    """Two Gaussian mixtures per tag over frames: the DCASE 2016 Task 4 baseline.

    For each tag, one mixture is fitted to the (z-scored) frames of the
    training clips that have the tag and one to those of the clips that do
    not. A clip's score for the tag is the log-likelihood ratio of the two
    mixtures, summed over its frames; the tag is predicted where it is
    positive.

    Parameters
    ----------
    n_components : int, default=8
        Gaussians per mixture.
    covariance_type : {"full", "diag", "tied", "spherical"}, default="full"
        Covariance structure, as in
        :class:`~sklearn.mixture.GaussianMixture`.
    max_iter : int, default=100
        Most EM iterations per mixture.
    tol : float, default=1e-3
        EM stops when the mean frame log-likelihood changes by less.
    reg_covar : float, default=1e-3
        Added to the covariance diagonals in every EM step (the official
        ``min_covar``; see :class:`GMMSceneClassifier`).
    n_init : int, default=1
        EM initialisations per mixture; the best is kept.
    init_params : {"dcase2016", "kmeans", "k-means++", "random", \
            "random_from_data"}, default="dcase2016"
        How the mixtures start; see :class:`GMMSceneClassifier`.
    standardize : bool, default=True
        Z-score the frames with the training statistics.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixtures' initialisation.

    Attributes
    ----------
    classes_ : ndarray of shape (n_tags,)
        ``arange(n_tags)``: the columns of ``y``.
    mixtures_ : list of (GaussianMixture or None, GaussianMixture or None)
        Per tag, the mixtures with and without the tag; None where the
        training data had no clip on that side.
    prior_scores_ : ndarray of shape (n_tags,)
        Constant score of a tag lacking a mixture:
        ``log((n_with + 1) / (n_without + 1))``.
    scaler_ : StandardScaler or None
        The frame standardization (None if ``standardize=False``).
    n_features_in_ : int
        Values per frame.
    n_iter_ : int
        The most EM iterations any mixture needed.

    See Also
    --------
    MFCCTransformer : The frame features.
    make_dcase2016_task4_baseline : The complete Task 4 baseline.
    sklearn_allconv.metrics.eer_scorer : Scores this estimator by its EER.

    Notes
    -----
    The defaults are the official Task 4 configuration
    (``baseline/task4_audio_tagging.yaml`` of pafoster/dcase2016_task4:
    ``n_components: 8``, ``covariance_type: full``, ``n_iter: 100``,
    ``tol: 0.001``, ``min_covar: 0.001``, ``n_init: 1``,
    ``init_params: wmc``); its ``binary_classifier`` sums the frame scores
    of each mixture and subtracts. The mapping of ``min_covar`` to
    ``reg_covar`` and the remaining differences are those of
    :class:`GMMSceneClassifier`. A tag whose training data lack one side
    (the official system would fail) gets the constant ``prior_scores_``.

    The tagger has no ``predict_proba``: its scores are log-likelihood
    ratios, not probabilities. :func:`~sklearn_allconv.metrics.eer_scorer`
    and :func:`~sklearn_allconv.metrics.equal_error_rate` take them as they
    are, since the EER depends only on the order of the scores.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv.baseline import GMMTagger
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(loc, size=(30, 3)) for loc in (0, 0, 5, 5)]
    >>> Y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    >>> GMMTagger(n_components=2, random_state=0).fit(X, Y).predict(X)[:, 0]
    array([1, 1, 0, 0])
    """

    def __init__(
        self,
        *,
        n_components: int = 8,
        covariance_type: str = "full",
        max_iter: int = 100,
        tol: float = 1e-3,
        reg_covar: float = 1e-3,
        n_init: int = 1,
        init_params: str = "dcase2016",
        standardize: bool = True,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.init_params = init_params
        self.standardize = standardize
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.multi_class = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> GMMTagger:
        """Fit, for each tag, mixtures to the frames with and without it.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, features), or ndarray
            Frame features of each clip.
        y : array-like of shape (n_clips, n_tags)
            0/1 tag indicator matrix.

        Returns
        -------
        self : GMMTagger
            The fitted tagger.
        """
        frames, owners = self._frames(X, reset=True)
        n_clips = owners[-1] + 1
        Y = self._check_indicator(y, n_clips)
        self.classes_ = np.arange(Y.shape[1])
        frames = self._standardize(frames, fit=True)
        rng = check_random_state(self.random_state)
        self.mixtures_ = []
        for tag in self.classes_:
            with_tag = Y[owners, tag] == 1
            self.mixtures_.append(
                tuple(
                    self._mixture(
                        frames[side], rng.randint(np.iinfo(np.int32).max), f"Tag {tag}"
                    )
                    if side.any()
                    else None
                    for side in (with_tag, ~with_tag)
                )
            )
        n_with = Y.sum(axis=0)
        self.prior_scores_ = np.log((n_with + 1) / (n_clips - n_with + 1))
        self.n_iter_ = max(
            (m.n_iter_ for pair in self.mixtures_ for m in pair if m is not None),
            default=0,
        )
        return self

    def _check_indicator(self, y: Any, n_clips: int) -> np.ndarray:
        if y is None:
            raise ValueError(
                "GMMTagger requires y to be passed, but the target y is None."
            )
        Y = check_array(y, dtype=None, input_name="y", ensure_2d=False)
        if Y.ndim != 2 or not np.isin(Y, (0, 1)).all():
            raise ValueError(
                f"y must be an (n_clips, n_tags) 0/1 indicator matrix; got an array "
                f"of shape {Y.shape} with values {np.unique(Y)[:5].tolist()}."
            )
        if Y.shape[0] != n_clips:
            raise ValueError(
                f"X has {n_clips} clips but y has {Y.shape[0]} rows; they must match."
            )
        return Y.astype(np.int64)

    def decision_function(self, X: Any) -> np.ndarray:
        """Summed frame log-likelihood ratio, with versus without each tag.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, features), or ndarray
            Frame features of each clip.

        Returns
        -------
        scores : ndarray of shape (n_clips, n_tags)
            Positive where the tag is more likely present than absent.
        """
        check_is_fitted(self)
        frames, owners = self._frames(X, reset=False)
        frames = self._standardize(frames, fit=False)
        n_clips = owners[-1] + 1
        ratios = np.zeros((len(frames), len(self.classes_)))
        for tag, (present, absent) in enumerate(self.mixtures_):
            if present is not None and absent is not None:
                ratios[:, tag] = present.score_samples(frames) - absent.score_samples(
                    frames
                )
        scores = _sum_per_clip(ratios, owners, n_clips)
        for tag, (present, absent) in enumerate(self.mixtures_):
            if present is None or absent is None:
                scores[:, tag] = self.prior_scores_[tag]
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """Predict the tags whose log-likelihood ratio is positive.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, features), or ndarray
            Frame features of each clip.

        Returns
        -------
        Y : ndarray of shape (n_clips, n_tags)
            0/1 indicator matrix.
        """
        return (self.decision_function(X) > 0).astype(np.int64)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """One minus the mean equal error rate over tags (higher is better).

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, features), or ndarray
            Frame features of each clip.
        y : array-like of shape (n_clips, n_tags)
            True 0/1 tags.
        sample_weight : None
            Not supported; must be None.

        Returns
        -------
        score : float
            ``1 - equal_error_rate(y, decision_function(X))``.
        """
        if sample_weight is not None:
            raise ValueError("GMMTagger.score does not support sample_weight.")
        scores = self.decision_function(X)
        return 1.0 - equal_error_rate(self._check_indicator(y, len(scores)), scores)


def make_dcase2016_task1_baseline(
    *,
    sample_rate: float = 44100,
    n_jobs: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> Pipeline:
    """The DCASE 2016 Task 1 (acoustic scenes) MFCC + GMM baseline.

    Mono downmix; 2048-sample Hamming frames every 20 ms; 40 mel bands up to
    half the sampling rate; 20 MFCC including c0, with deltas and
    accelerations over 9 frames (60 values per frame); frames z-scored with
    the training statistics; one 16-component diagonal Gaussian mixture per
    scene (40 EM iterations, ``reg_covar=1e-3``, the official start); the
    scene with the highest summed frame log-likelihood wins.

    Parameters
    ----------
    sample_rate : float, default=44100
        Sampling rate of the audio in Hz.
    n_jobs : int, default=None
        Clips processed in parallel by the feature extraction.
    random_state : int, RandomState instance or None, default=0
        Seeds the mixtures; 0 as the official configuration.

    Returns
    -------
    pipeline : Pipeline
        ``MFCCTransformer`` followed by ``GMMSceneClassifier``.

    See Also
    --------
    make_dcase2016_task4_baseline : The Task 4 baseline.

    Notes
    -----
    Every setting is that of ``task1_scene_classification.yaml`` and
    ``src/features.py`` in TUT-ARG/DCASE2016-baseline-system-python (the
    configuration that gave the published 72.5 %); the remaining
    differences are listed in the Notes of :class:`MFCCTransformer` and
    :class:`GMMSceneClassifier`. The 2048-sample FFT and window are the
    official ones at any ``sample_rate``.

    Examples
    --------
    >>> from sklearn_allconv.baseline import make_dcase2016_task1_baseline
    >>> baseline = make_dcase2016_task1_baseline()
    >>> [name for name, _ in baseline.steps]
    ['mfcctransformer', 'gmmsceneclassifier']
    """
    return make_pipeline(
        MFCCTransformer(
            sample_rate=sample_rate,
            n_fft=2048,
            hop_ms=20.0,
            n_mels=40,
            n_mfcc=20,
            include_c0=True,
            delta_order=2,
            delta_width=9,
            n_jobs=n_jobs,
        ),
        GMMSceneClassifier(
            n_components=16,
            covariance_type="diag",
            max_iter=40,
            tol=1e-3,
            reg_covar=1e-3,
            init_params="dcase2016",
            random_state=random_state,
        ),
    )


def make_dcase2016_task4_baseline(
    *,
    sample_rate: float = 16000,
    n_jobs: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> Pipeline:
    """The DCASE 2016 Task 4 (domestic audio tagging) MFCC + GMM baseline.

    1024-sample Hamming frames every 10 ms; 40 mel bands spaced up to
    24 kHz; 13 MFCC, c1 to c13, no deltas; frames z-scored with the training
    statistics; per tag two 8-component full-covariance Gaussian mixtures
    (100 EM iterations, ``reg_covar=1e-3``, the official start), with and
    without the tag, scored by their summed frame log-likelihood ratio.

    Parameters
    ----------
    sample_rate : float, default=16000
        Sampling rate of the audio in Hz.
    n_jobs : int, default=None
        Clips processed in parallel by the feature extraction.
    random_state : int, RandomState instance or None, default=0
        Seeds the mixtures; 0 as the official configuration.

    Returns
    -------
    pipeline : Pipeline
        ``MFCCTransformer`` followed by ``GMMTagger``.

    See Also
    --------
    make_dcase2016_task1_baseline : The Task 1 baseline.

    Notes
    -----
    Every setting is that of ``baseline/task4_audio_tagging.yaml`` in
    pafoster/dcase2016_task4 and of the feature code it shares with the
    Task 1 system. Its ``n_mfcc: 14`` with ``include_mfcc0: false`` keeps 13
    coefficients: the code computes 14 (c0 to c13) and drops c0. Its
    ``fmax: 24000`` exceeds the 8 kHz Nyquist frequency, which leaves the top
    mel bands empty (see :class:`MFCCTransformer`); it is kept because the
    published figures were computed with it. The README of that repository
    lists older values (``win_length_seconds: 0.064``, ``fmax: 22050``,
    diagonal covariances); the configuration file is what the system reads.

    Examples
    --------
    >>> from sklearn_allconv.baseline import make_dcase2016_task4_baseline
    >>> baseline = make_dcase2016_task4_baseline()
    >>> baseline[0].n_mfcc, baseline[0].include_c0, baseline[0].delta_order
    (13, False, 0)
    """
    return make_pipeline(
        MFCCTransformer(
            sample_rate=sample_rate,
            n_fft=1024,
            hop_ms=10.0,
            n_mels=40,
            fmax=24000.0,
            n_mfcc=13,
            include_c0=False,
            delta_order=0,
            n_jobs=n_jobs,
        ),
        GMMTagger(
            n_components=8,
            covariance_type="full",
            max_iter=100,
            tol=1e-3,
            reg_covar=1e-3,
            init_params="dcase2016",
            random_state=random_state,
        ),
    )
