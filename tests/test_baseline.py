"""The DCASE 2016 MFCC + GMM baselines."""

import librosa
import numpy as np
import pytest
import soundfile
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_allconv.baseline import (
    GMMSceneClassifier,
    GMMTagger,
    MFCCTransformer,
    make_dcase2016_task1_baseline,
    make_dcase2016_task4_baseline,
)
from sklearn_allconv.metrics import eer_scorer, equal_error_rate

_VARIABLE_LENGTH = (
    "inputs are variable-length clips: the number of samples per clip is not a "
    "fixed feature count, so there is no n_features_in_"
)
_LIST_VS_ARRAY = (
    "a list of clips gives a 1-D object array of MFCC frames while an array of "
    "equal-length clips gives a 3-D array; the check compares the two outputs"
)
_MULTILABEL_ONLY = (
    "GMMTagger is multi-label only: y must be an (n_clips, n_tags) 0/1 indicator "
    "matrix; this check passes 1-D single-label targets. GMMSceneClassifier "
    "handles single-label data"
)
EXPECTED_FAILED_CHECKS = {
    "MFCCTransformer": {
        "check_n_features_in": _VARIABLE_LENGTH,
        "check_n_features_in_after_fitting": _VARIABLE_LENGTH,
        "check_transformer_data_not_an_array": _LIST_VS_ARRAY,
    },
    "GMMSceneClassifier": {},
    "GMMTagger": {
        name: _MULTILABEL_ONLY
        for name in (
            "check_estimators_dtypes",
            "check_classifier_data_not_an_array",
            "check_classifiers_one_label",
            "check_classifiers_classes",
            "check_classifiers_train",
            "check_classifiers_regression_target",
            "check_classifier_not_supporting_multiclass",
            "check_fit2d_1feature",
        )
    },
}


# scikit-learn's test data has few samples per class: one Gaussian each, whose
# fit does not depend on the initialisation; k-means++ skips k-means' cost.
@parametrize_with_checks(
    [
        MFCCTransformer(sample_rate=8000, delta_order=0),
        GMMSceneClassifier(n_components=1, init_params="k-means++", random_state=0),
        GMMTagger(n_components=1, init_params="k-means++", random_state=0),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _tone(frequency, seconds=0.5, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    noise = 0.01 * rng.standard_normal(t.size)
    return (0.5 * np.sin(2 * np.pi * frequency * t) + noise).astype(np.float32)


def _gaussian_clips(means, *, n_frames=40, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    clips = np.empty(len(means), dtype=object)
    for i, mean in enumerate(means):
        clips[i] = rng.normal(mean, 1.0, size=(n_frames + 5 * i, n_features))
    return clips


# -- MFCCTransformer -------------------------------------------------------------


def test_default_features_are_the_task1_recipe():
    clip = _tone(440, rate=44100)

    (frames,) = MFCCTransformer().fit_transform([clip])

    # 40 ms frames every 20 ms, centred: 1 + n_samples // hop frames.
    assert frames.shape == (1 + clip.size // 882, 60)
    assert frames.dtype == np.float32
    static = librosa.feature.mfcc(
        y=clip, sr=44100, n_mfcc=20, n_fft=1764, hop_length=882, n_mels=40,
        window="hamming",
    )
    np.testing.assert_allclose(frames[:, :20], static.T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        frames[:, 20:40], librosa.feature.delta(static).T, rtol=1e-4, atol=1e-3
    )


def test_task4_recipe_has_14_coefficients_without_c0():
    clip = _tone(440)
    features = make_dcase2016_task4_baseline()[0]

    (frames,) = features.fit_transform([clip])

    with_c0 = librosa.feature.mfcc(
        y=clip, sr=16000, n_mfcc=15, n_fft=320, hop_length=160, n_mels=40,
        window="hamming",
    )
    assert frames.shape == (1 + clip.size // 160, 14)
    np.testing.assert_allclose(frames, with_c0[1:].T, rtol=1e-4, atol=1e-3)


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


def test_clips_too_short_for_deltas_are_refused_clearly():
    with pytest.raises(ValueError, match="Clip 1 gives 2 MFCC frames; deltas over"):
        MFCCTransformer(sample_rate=16000).fit_transform([_tone(440), _tone(440, 0.03)])


def test_even_delta_width_is_refused():
    with pytest.raises(ValueError, match="delta_width must be odd"):
        MFCCTransformer(delta_width=4).fit([_tone(440)])


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
            GaussianMixture(1, covariance_type="diag", random_state=0)
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


def test_tagger_scores_are_mean_log_likelihood_ratios():
    X, Y = _tag_data()
    tagger = GMMTagger(n_components=2, random_state=0).fit(X, Y)

    scores = tagger.decision_function(X)

    present, absent = tagger.mixtures_[0]
    z = tagger.scaler_.transform(X[3])
    expected = np.mean(present.score_samples(z) - absent.score_samples(z))
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
