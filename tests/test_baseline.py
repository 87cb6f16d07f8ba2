"""The DCASE 2016 MFCC + GMM baselines."""

import warnings
from functools import partial

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile
from _data import tone
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from sklearn_allconv.baseline import (
    GMMSceneClassifier,
    GMMTagger,
    MFCCTransformer,
    make_dcase2016_task1_baseline,
    make_dcase2016_task4_baseline,
)
from sklearn_allconv.metrics import eer_scorer, equal_error_rate

# Louder and cleaner than the other files' tones.
_tone = partial(tone, rate=16000, amplitude=0.5, noise=0.01)


def _gaussian_clips(means, *, n_frames=40, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    clips = np.empty(len(means), dtype=object)
    for i, mean in enumerate(means):
        clips[i] = rng.normal(mean, 1.0, size=(n_frames + 5 * i, n_features))
    return clips


# -- the official settings, each with its source ---------------------------------
#
# Task 1: TUT-ARG/DCASE2016-baseline-system-python, task1_scene_classification.yaml
# (the version with ``audio_error_handling``, whose results the README reports) and
# src/features.py. Task 4: pafoster/dcase2016_task4, baseline/task4_audio_tagging.yaml
# and the same feature code (its README credits src/features.py to the TUT system).
# Each row: (step, parameter, official value, the configuration line it comes from).
TASK1_SETTINGS = [
    (0, "sample_rate", 44100, "features: fs: 44100"),
    (0, "hop_ms", 20.0, "features: hop_length_seconds: 0.02"),
    (0, "n_fft", 2048, "mfcc: n_fft: 2048  # FFT length"),
    # win_length_seconds: 0.04 never took effect: librosa 0.4.3's stft ignores
    # win_length when given a window array of n_fft samples (src/features.py
    # passes scipy.signal.hamming(mfcc_params['n_fft'], sym=False)).
    (0, "window_ms", None, "features: win_length_seconds: 0.04 (no effect)"),
    (0, "n_mels", 40, "mfcc: n_mels: 40  # Number of MEL bands used"),
    (0, "fmin", 0.0, "mfcc: fmin: 0"),
    (0, "fmax", None, "mfcc: fmax: 22050 (half of fs: 44100)"),
    (0, "n_mfcc", 20, "mfcc: n_mfcc: 20"),
    (0, "include_c0", True, "features: include_mfcc0: true"),
    (0, "delta_order", 2, "include_delta: true, include_acceleration: true"),
    (0, "delta_width", 9, "mfcc_delta: width: 9; mfcc_acceleration: width: 9"),
    (0, "channel", "mean", "src/files.py load_audio(mono=True): numpy.mean"),
    (1, "n_components", 16, "gmm: n_components: 16"),
    (1, "covariance_type", "diag", "gmm: covariance_type: diag"),
    (1, "max_iter", 40, "gmm: n_iter: 40"),
    (1, "tol", 1e-3, "gmm: tol: 0.001"),
    (1, "reg_covar", 1e-3, "gmm: min_covar: 0.001"),
    (1, "n_init", 1, "gmm: n_init: 1"),
    (1, "init_params", "dcase2016", "gmm: init_params: wmc (sklearn 0.17 GMM)"),
    (1, "random_state", 0, "gmm: random_state: 0"),
    (1, "standardize", True, "feature_normalizer: true (FeatureNormalizer)"),
]
TASK4_SETTINGS = [
    (0, "sample_rate", 16000, "features: fs: 16000"),
    (0, "hop_ms", 10.0, "features: hop_length_seconds: 0.01"),
    (0, "n_fft", 1024, "mfcc: n_fft: 1024  # FFT length"),
    (0, "window_ms", None, "features: win_length_seconds: 0.02 (no effect)"),
    (0, "n_mels", 40, "mfcc: n_mels: 40"),
    (0, "fmin", 0.0, "mfcc: fmin: 0"),
    (0, "fmax", 24000.0, "mfcc: fmax: 24000"),
    # n_mfcc: 14 computes c0..c13; include_mfcc0: false then drops row 0.
    (0, "n_mfcc", 13, "mfcc: n_mfcc: 14 with include_mfcc0: false"),
    (0, "include_c0", False, "features: include_mfcc0: false"),
    (0, "delta_order", 0, "include_delta: false, include_acceleration: false"),
    (0, "channel", "mean", "load_audio(..., mono=True)"),
    (1, "n_components", 8, "gmm: n_components: 8"),
    (1, "covariance_type", "full", "gmm: covariance_type: full"),
    (1, "max_iter", 100, "gmm: n_iter: 100"),
    (1, "tol", 1e-3, "gmm: tol: 0.001"),
    (1, "reg_covar", 1e-3, "gmm: min_covar: 0.001"),
    (1, "n_init", 1, "gmm: n_init: 1"),
    (1, "init_params", "dcase2016", "gmm: init_params: wmc (sklearn 0.17 GMM)"),
    (1, "random_state", 0, "gmm: random_state: 0"),
    (1, "standardize", True, "feature_normalizer: true (FeatureNormalizer)"),
]


@pytest.mark.parametrize(
    ("step", "name", "value", "source"), TASK1_SETTINGS, ids=lambda v: str(v)
)
def test_task1_baseline_has_the_official_setting(step, name, value, source):
    assert make_dcase2016_task1_baseline()[step].get_params()[name] == value, source


@pytest.mark.parametrize(
    ("step", "name", "value", "source"), TASK4_SETTINGS, ids=lambda v: str(v)
)
def test_task4_baseline_has_the_official_setting(step, name, value, source):
    assert make_dcase2016_task4_baseline()[step].get_params()[name] == value, source


def _official_delta(data, width=9, order=1):
    """librosa 0.4.3 ``feature.delta`` on (coefficients x frames), as published."""
    half_length = 1 + width // 2
    window = np.arange(half_length - 1.0, -half_length, -1.0)
    window /= np.sum(np.abs(window) ** 2)
    delta_x = np.pad(data, [(0, 0), (width, width)], mode="edge")
    for _ in range(order):
        delta_x = scipy.signal.lfilter(window, 1, delta_x, axis=-1)
    return delta_x[:, -half_length - data.shape[1] : -half_length]


def _official_features(y, fs, *, n_fft, hop, n_mfcc, fmax, c0, deltas):
    """``feature_extraction`` of src/features.py, with today's librosa names.

    librosa.logamplitude(S) is power_to_db(S) (ref 1, amin 1e-10, top_db 80);
    its mfcc(S=...) is the orthonormal DCT-II; the window array makes stft
    ignore win_length, so it is not passed (today's librosa would refuse it).
    """
    window = scipy.signal.get_window("hamming", n_fft)  # hamming_asymmetric
    power = (
        np.abs(
            librosa.stft(
                y.astype(np.float64) + np.spacing(1),
                n_fft=n_fft,
                hop_length=hop,
                center=True,
                window=window,
                pad_mode="reflect",
            )
        )
        ** 2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty bands above fs / 2
        mel_basis = librosa.filters.mel(
            sr=fs, n_fft=n_fft, n_mels=40, fmin=0, fmax=fmax, htk=False
        )
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel_basis @ power), n_mfcc=n_mfcc)
    matrix = mfcc
    if deltas:
        matrix = np.vstack(
            [mfcc, _official_delta(mfcc), _official_delta(mfcc, order=2)]
        )
    if not c0:
        matrix = matrix[1:]
    return matrix.T


def _scene_audio(seconds, rate, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    chirp = np.sin(2 * np.pi * (300 + 400 * t) * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (0.2 * chirp + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def test_task1_features_match_the_official_feature_code():
    clip = _scene_audio(1.0, 44100)

    (frames,) = make_dcase2016_task1_baseline()[0].fit_transform([clip])

    expected = _official_features(
        clip, 44100, n_fft=2048, hop=882, n_mfcc=20, fmax=22050, c0=True, deltas=True
    )
    assert frames.shape == (1 + clip.size // 882, 60)
    assert frames.dtype == np.float32
    np.testing.assert_allclose(frames, expected, rtol=1e-4, atol=2e-3)


def test_task4_features_match_the_official_feature_code():
    clip = _scene_audio(1.0, 16000, seed=1)

    (frames,) = make_dcase2016_task4_baseline()[0].fit_transform([clip])

    expected = _official_features(
        clip, 16000, n_fft=1024, hop=160, n_mfcc=14, fmax=24000, c0=False, deltas=False
    )
    assert frames.shape == (1 + clip.size // 160, 13)
    np.testing.assert_allclose(frames, expected, rtol=1e-4, atol=2e-3)


def test_accelerations_are_repeated_regression_deltas_not_savitzky_golay():
    clip = _scene_audio(0.5, 16000, seed=2)
    transformer = MFCCTransformer(sample_rate=16000, n_fft=512, hop_ms=10.0)

    (frames,) = transformer.fit_transform([clip])

    static = frames[:, :20].T.astype(np.float64)
    np.testing.assert_allclose(
        frames[:, 40:].T, _official_delta(static, order=2), rtol=1e-4, atol=1e-3
    )
    # Today's librosa estimates accelerations differently: the pin matters.
    savgol = librosa.feature.delta(static, order=2)
    assert np.abs(frames[:, 40:].T - savgol).max() > 0.1


def test_the_window_spans_n_fft_unless_window_ms_is_given():
    clip = _scene_audio(0.5, 16000, seed=3)
    full = MFCCTransformer(sample_rate=16000, n_fft=1024, delta_order=0)
    short = MFCCTransformer(
        sample_rate=16000, n_fft=1024, window_ms=20.0, delta_order=0
    )

    (frames_full,), (frames_short,) = (
        full.fit_transform([clip]),
        short.fit_transform([clip]),
    )

    reference = _official_features(
        clip, 16000, n_fft=1024, hop=320, n_mfcc=20, fmax=None, c0=True, deltas=False
    )
    np.testing.assert_allclose(frames_full, reference, rtol=1e-4, atol=2e-3)
    assert np.abs(frames_short - reference).max() > 1.0


def test_files_give_the_same_features_as_arrays(tmp_path):
    stereo = np.stack([_tone(440), _tone(880, seed=1)])
    soundfile.write(tmp_path / "clip.wav", stereo.T, 16000, subtype="FLOAT")
    transformer = MFCCTransformer(sample_rate=16000)

    from_file, from_array, from_mono = transformer.fit_transform(
        [str(tmp_path / "clip.wav"), stereo, stereo.mean(axis=0)]
    )

    np.testing.assert_allclose(from_file, from_array, atol=1e-4)
    # The default channel="mean" is the baselines' mono downmix.
    np.testing.assert_allclose(from_array, from_mono, atol=1e-4)


def test_clips_shorter_than_the_delta_width_get_edge_padded_deltas():
    short = _tone(440, seconds=0.03)

    (frames,) = MFCCTransformer(sample_rate=16000).fit_transform([short])

    static = frames[:, :20].T.astype(np.float64)
    assert frames.shape == (1 + short.size // 320, 60)
    np.testing.assert_allclose(
        frames[:, 20:40].T, _official_delta(static), rtol=1e-4, atol=1e-3
    )


def test_even_delta_width_is_refused():
    with pytest.raises(ValueError, match="delta_width must be odd"):
        MFCCTransformer(delta_width=4).fit([_tone(440)])


def test_a_window_longer_than_n_fft_is_refused():
    with pytest.raises(ValueError, match="must be between 1 and n_fft=512"):
        MFCCTransformer(sample_rate=16000, n_fft=512, window_ms=40.0).fit([_tone(440)])


# -- GMMSceneClassifier ----------------------------------------------------------


def test_scene_classifier_separates_distinct_frame_distributions():
    X = _gaussian_clips([0, 0, 0, 4, 4, 4, 8, 8, 8])
    y = np.repeat(["bus", "cafe/restaurant", "park"], 3)

    clf = GMMSceneClassifier(n_components=2, random_state=0).fit(X, y)

    predicted = clf.predict(_gaussian_clips([8, 0, 4], seed=1))
    assert predicted.tolist() == ["park", "bus", "cafe/restaurant"]
    assert clf.classes_.tolist() == ["bus", "cafe/restaurant", "park"]
    assert len(clf.mixtures_) == 3


def test_scene_scores_are_summed_frame_log_likelihoods_of_zscored_frames():
    X = _gaussian_clips([0, 0, 3, 3, 6, 6])
    y = [0, 0, 1, 1, 2, 2]
    clf = GMMSceneClassifier(n_components=1, random_state=0).fit(X, y)
    frames = np.concatenate(list(X))
    mean, std = frames.mean(axis=0), frames.std(axis=0)

    scores = clf.decision_function(X[:2])

    for clip, row in zip(X[:2], scores, strict=True):
        z = (clip - mean) / std
        expected = [
            GaussianMixture(1, covariance_type="diag", reg_covar=1e-3, random_state=0)
            .fit((np.concatenate(list(X[2 * k : 2 * k + 2])) - mean) / std)
            .score_samples(z)
            .sum()
            for k in range(3)
        ]
        np.testing.assert_allclose(row, expected, rtol=1e-6)


def test_scene_classifier_reports_a_class_with_too_few_frames():
    X = _gaussian_clips([0, 5], n_frames=10)

    with pytest.raises(ValueError, match="Class 'a' has 10 training frames, fewer"):
        GMMSceneClassifier(n_components=12).fit(X, ["a", "b"])


def test_dcase2016_start_is_that_of_the_old_gmm():
    # scikit-learn 0.17 GMM, init_params "wmc": KMeans(n_clusters,
    # random_state) centres with its defaults then (k-means++, n_init=10),
    # uniform weights, np.cov(X.T) + min_covar * eye for every component.
    X = _gaussian_clips([0, 3, 6], n_features=3)
    clf = GMMSceneClassifier(n_components=3, max_iter=1, random_state=0).fit(
        X, [0, 0, 0]
    )
    frames = clf.scaler_.transform(np.concatenate(list(X)))

    start = clf.mixtures_[0].get_params()

    np.testing.assert_allclose(start["weights_init"], np.full(3, 1 / 3))
    seed = start["random_state"]
    centres = KMeans(3, n_init=10, random_state=seed).fit(frames).cluster_centers_
    np.testing.assert_allclose(start["means_init"], centres)
    variances = np.diag(np.cov(frames.T)) + 1e-3
    np.testing.assert_allclose(start["precisions_init"], np.tile(1 / variances, (3, 1)))


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_reg_covar_is_the_official_min_covar_floor(covariance_type):
    # Old GMM M-step: covariance + min_covar; a constant feature keeps exactly
    # min_covar = 1e-3 as its variance, as GaussianMixture's reg_covar gives.
    rng = np.random.default_rng(0)
    X = [np.column_stack([rng.normal(size=50), np.ones(50)]) for _ in range(2)]
    clf = GMMSceneClassifier(
        n_components=2, covariance_type=covariance_type, random_state=0
    ).fit(X, ["a", "b"])

    covariances = clf.mixtures_[0].covariances_

    variances = covariances[:, 1] if covariance_type == "diag" else covariances[:, 1, 1]
    np.testing.assert_allclose(variances, 1e-3)


def test_frames_of_another_size_are_refused_at_prediction():
    clf = GMMSceneClassifier(n_components=1).fit(_gaussian_clips([0, 5]), [0, 1])

    with pytest.raises(ValueError, match="X has 4 features per frame"):
        clf.predict(_gaussian_clips([0], n_features=4))


# -- GMMTagger -------------------------------------------------------------------


def _tag_data(seed=0):
    """Tag 0 shifts feature 0, tag 1 shifts feature 1; tag 2 is never present."""
    rng = np.random.default_rng(seed)
    Y = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]] * 3)
    X = np.empty(len(Y), dtype=object)
    for i, tags in enumerate(Y):
        X[i] = rng.normal(0, 1, size=(30, 2)) + 5 * tags[:2]
    return X, Y


def test_tagger_scores_are_summed_log_likelihood_ratios():
    # Official binary_classifier: numpy.sum(positive.score(x)) - numpy.sum(...).
    X, Y = _tag_data()
    X[3] = X[3][:20]  # clips of different lengths: sum and mean rank differently
    tagger = GMMTagger(n_components=2, random_state=0).fit(X, Y)

    scores = tagger.decision_function(X)

    present, absent = tagger.mixtures_[0]
    z = tagger.scaler_.transform(X[3])
    expected = np.sum(present.score_samples(z) - absent.score_samples(z))
    assert scores.shape == (12, 3)
    assert scores[3, 0] == pytest.approx(expected)
    np.testing.assert_array_equal(tagger.predict(X)[:, :2], Y[:, :2])


def test_tag_never_seen_in_training_gets_its_prior_score():
    X, Y = _tag_data()

    tagger = GMMTagger(n_components=2, random_state=0).fit(X, Y)

    assert tagger.mixtures_[2][0] is None
    np.testing.assert_allclose(tagger.decision_function(X)[:, 2], np.log(1 / 13))
    assert not tagger.predict(X)[:, 2].any()


def test_eer_scorer_uses_the_tagger_scores():
    X, Y = _tag_data()
    X_test, Y_test = _tag_data(seed=1)
    Y_test[0, 2] = 1  # give the unseen tag a positive, so its EER is defined
    tagger = GMMTagger(n_components=2, random_state=0).fit(X, Y)

    score = eer_scorer(tagger, X_test, Y_test)

    per_tag = equal_error_rate(Y_test, tagger.decision_function(X_test), average=None)
    assert per_tag[:2].tolist() == [0.0, 0.0]
    assert score == pytest.approx(-per_tag.mean())


def test_tagger_needs_an_indicator_matrix():
    X, _ = _tag_data()

    with pytest.raises(ValueError, match="0/1 indicator matrix"):
        GMMTagger().fit(X, np.arange(12))


# -- complete baselines ----------------------------------------------------------


def test_task1_baseline_tells_two_scenes_apart():
    rate = 8000
    X = [_tone(f, rate=rate, seed=s) for f in (300, 1500) for s in range(4)]
    y = ["bus"] * 4 + ["park"] * 4
    baseline = make_dcase2016_task1_baseline(sample_rate=rate, random_state=0)

    baseline.fit(X[1:4] + X[5:], y[1:4] + y[5:])

    assert baseline.predict([X[0], X[4]]).tolist() == ["bus", "park"]
    assert baseline[-1].n_components == 16


def test_task4_baseline_tags_tones():
    # Tag 0: a 3 kHz tone is present; tag 1: the base tone is 1200 Hz.
    combinations = [(base, high) for base in (300, 1200) for high in (0, 1)] * 3
    X = [
        _tone(base, seed=i) + high * _tone(3000, seed=i)
        for i, (base, high) in enumerate(combinations)
    ]
    Y = np.array([[high, base == 1200] for base, high in combinations])
    baseline = make_dcase2016_task4_baseline(random_state=0)

    baseline.fit(X, Y)

    assert eer_scorer(baseline, X, Y) == 0.0
