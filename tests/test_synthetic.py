"""Tests of the synthetic scene and tagging datasets."""

import librosa
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_allconv.datasets import (
    ACOUSTIC_SCENE_LABELS,
    DOMESTIC_TAG_CODES,
    DOMESTIC_TAG_LABELS,
    make_acoustic_scenes,
    make_domestic_tags,
)

# Small datasets for everything that does not need the defaults.
SMALL_SCENES = dict(
    n_scenes=3,
    n_locations_per_scene=2,
    n_clips_per_location=3,
    min_duration=0.2,
    max_duration=0.5,
)
SMALL_TAGS = dict(n_segments=4, n_chunks_per_segment=3, duration=0.5)


@pytest.fixture(scope="module")
def default_scenes():
    return make_acoustic_scenes(random_state=0)


@pytest.fixture(scope="module")
def default_tags():
    return make_domestic_tags(random_state=0)


@pytest.fixture
def single_threaded_blas():
    # These fits are tiny: BLAS threads only add overhead, and on a busy
    # machine their spin-waiting slows the fits down tenfold.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def mean_log_spectra(clips, sample_rate):
    """Per-clip mean log-magnitude spectrum with the paper's STFT."""
    features = []
    for clip in clips:
        magnitude = np.abs(
            librosa.stft(
                clip,
                n_fft=round(0.025 * sample_rate),
                hop_length=round(0.015 * sample_rate),
                window="hann",
                center=False,
            )
        )
        features.append(np.log(magnitude + 1e-6).mean(axis=1))
    return np.array(features)


def assert_ragged_float32_audio(X):
    assert isinstance(X, np.ndarray)
    assert X.ndim == 1
    assert X.dtype == object
    for clip in X:
        assert isinstance(clip, np.ndarray)
        assert clip.dtype == np.float32
        assert clip.ndim == 1
        assert np.all(np.isfinite(clip))
        assert np.max(np.abs(clip)) <= 1.0


def assert_same_data(first, second):
    for a, b in zip(first, second, strict=True):
        if a.dtype == object:
            for clip_a, clip_b in zip(a, b, strict=True):
                np.testing.assert_array_equal(clip_a, clip_b)
        else:
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ acoustic scenes


def test_scene_labels_are_the_tut_2016_spellings():
    assert ACOUSTIC_SCENE_LABELS == (
        "beach",
        "bus",
        "cafe/restaurant",
        "car",
        "city_center",
        "forest_path",
        "grocery_store",
        "home",
        "library",
        "metro_station",
        "office",
        "park",
        "residential_area",
        "train",
        "tram",
    )


def test_scenes_are_ragged_float32_audio_with_string_labels_and_groups():
    X, y, groups = make_acoustic_scenes(**SMALL_SCENES, random_state=0)

    assert_ragged_float32_audio(X)
    assert X.shape == y.shape == groups.shape == (3 * 2 * 3,)
    assert y.dtype.kind == "U"
    assert groups.dtype.kind == "U"


def test_scenes_are_the_first_n_scenes_in_equal_numbers():
    X, y, groups = make_acoustic_scenes(**SMALL_SCENES, random_state=0)

    labels, counts = np.unique(y, return_counts=True)
    assert set(labels) == set(ACOUSTIC_SCENE_LABELS[:3])
    assert np.all(counts == 2 * 3)


def test_every_location_belongs_to_one_scene_and_scenes_have_several():
    _, y, groups = make_acoustic_scenes(**SMALL_SCENES, random_state=0)

    for location in np.unique(groups):
        assert len(set(y[groups == location])) == 1
        assert np.sum(groups == location) == 3
    for scene in np.unique(y):
        assert len(set(groups[y == scene])) == 2
    assert all(g.startswith("a") and len(g) == 4 for g in groups)


def test_default_scenes_size_and_durations(default_scenes):
    X, y, groups = default_scenes
    lengths = np.array([clip.size for clip in X])

    assert X.shape == (128,)
    assert len(set(y)) == 8
    assert len(set(groups)) == 32
    assert lengths.min() >= 44100
    assert lengths.max() == 3 * 44100
    # Most clips are full length, a few are cut short, as in TUT 2016.
    assert 0.5 < np.mean(lengths == 3 * 44100) < 1.0


def test_scene_durations_respect_sample_rate_and_bounds():
    X, _, _ = make_acoustic_scenes(
        **{**SMALL_SCENES, "min_duration": 0.25, "max_duration": 0.5},
        sample_rate=8000,
        random_state=0,
    )
    lengths = np.array([clip.size for clip in X])

    assert lengths.min() >= 2000
    assert lengths.max() == 4000


def test_scenes_have_fixed_length_when_min_equals_max_duration():
    X, _, _ = make_acoustic_scenes(
        **{**SMALL_SCENES, "min_duration": 0.3, "max_duration": 0.3},
        sample_rate=16000,
        random_state=0,
    )

    assert {clip.size for clip in X} == {4800}


def test_scenes_are_reproducible_with_a_seed():
    first = make_acoustic_scenes(**SMALL_SCENES, random_state=42)
    second = make_acoustic_scenes(
        **SMALL_SCENES, random_state=np.random.RandomState(42)
    )

    assert_same_data(first, second)


def test_scenes_differ_across_seeds():
    X_0, _, _ = make_acoustic_scenes(**SMALL_SCENES, random_state=0)
    X_1, _, _ = make_acoustic_scenes(**SMALL_SCENES, random_state=1)

    assert not any(np.array_equal(a, b) for a, b in zip(X_0, X_1, strict=True))


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_scenes": 16}, ValueError, r"n_scenes must be in \[1, 15\]; got 16"),
        ({"n_scenes": 0}, ValueError, r"n_scenes must be in \[1, 15\]; got 0"),
        ({"n_scenes": 2.0}, TypeError, "n_scenes must be an integer"),
        ({"n_locations_per_scene": 0}, ValueError, "n_locations_per_scene"),
        ({"n_clips_per_location": -1}, ValueError, "n_clips_per_location"),
        ({"n_clips_per_location": True}, TypeError, "n_clips_per_location"),
        (
            {"min_duration": 3.0, "max_duration": 2.0},
            ValueError,
            r"min_duration \(3.0 s\) must not exceed max_duration \(2.0 s\)",
        ),
        ({"min_duration": 0.0}, ValueError, "min_duration must be a finite positive"),
        ({"max_duration": np.inf}, ValueError, "max_duration must be a finite"),
        ({"min_duration": 1e-7}, ValueError, "gives no samples"),
        ({"sample_rate": 0}, ValueError, "sample_rate"),
        ({"noise": -0.1}, ValueError, "noise must be a finite non-negative"),
        ({"noise": "loud"}, TypeError, "noise must be a real number"),
    ],
)
def test_scene_parameters_are_validated(params, error, match):
    with pytest.raises(error, match=match):
        make_acoustic_scenes(**params, random_state=0)


def test_scene_mean_spectra_are_informative_but_not_sufficient(
    default_scenes, single_threaded_blas
):
    X, y, groups = default_scenes
    features = mean_log_spectra(X, 44100)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))

    accuracy = cross_val_score(
        model, features, y, groups=groups, cv=GroupKFold(n_splits=4)
    ).mean()

    print(f"scene accuracy of mean log spectra: {accuracy:.3f}")
    chance = 1 / 8
    assert accuracy > 2.5 * chance
    assert accuracy < 0.95


# ------------------------------------------------------------- domestic tags


def test_tag_labels_and_codes_follow_chime_home():
    assert DOMESTIC_TAG_LABELS == (
        "adult female speech",
        "adult male speech",
        "broadband noise",
        "child speech",
        "other",
        "percussive sound",
        "video game/tv",
    )
    assert DOMESTIC_TAG_CODES == ("f", "m", "b", "c", "o", "p", "v")


def test_tags_are_fixed_length_float32_audio_with_a_binary_indicator_matrix():
    X, Y, groups = make_domestic_tags(**SMALL_TAGS, random_state=0)

    assert_ragged_float32_audio(X)
    assert X.shape == groups.shape == (12,)
    assert {clip.size for clip in X} == {8000}
    assert Y.shape == (12, 7)
    assert Y.dtype.kind == "i"
    assert set(np.unique(Y)) <= {0, 1}
    assert groups.dtype.kind == "U"


def test_tag_groups_are_segments_of_several_chunks():
    _, _, groups = make_domestic_tags(**SMALL_TAGS, random_state=0)

    segments, counts = np.unique(groups, return_counts=True)
    assert len(segments) == 4
    assert np.all(counts == 3)


def test_default_tags_are_four_second_chunks_at_16_khz(default_tags):
    X, Y, groups = default_tags

    assert X.shape == (120,)
    assert Y.shape == (120, 7)
    assert {clip.size for clip in X} == {4 * 16000}


def test_tag_duration_respects_sample_rate():
    X, _, _ = make_domestic_tags(
        **{**SMALL_TAGS, "duration": 0.25}, sample_rate=44100, random_state=0
    )

    assert {clip.size for clip in X} == {round(0.25 * 44100)}


def test_tag_prevalence_is_realistic():
    _, Y, _ = make_domestic_tags(
        n_segments=60, n_chunks_per_segment=4, duration=0.25, random_state=0
    )
    prevalence = Y.mean(axis=0)
    n_tags = Y.sum(axis=1)

    assert np.all((prevalence > 0.1) & (prevalence < 0.6)), prevalence
    assert np.mean(n_tags >= 2) > 0.2
    assert 0 < np.mean(n_tags == 0) < 0.3


def test_silent_background_leaves_untagged_chunks_silent():
    X, Y, _ = make_domestic_tags(
        n_segments=20, n_chunks_per_segment=4, duration=0.25, noise=0.0, random_state=0
    )
    untagged = Y.sum(axis=1) == 0

    assert untagged.any()
    assert all(not np.any(X[i]) for i in np.flatnonzero(untagged))
    assert all(np.any(X[i]) for i in np.flatnonzero(~untagged))


def test_tags_are_reproducible_with_a_seed():
    first = make_domestic_tags(**SMALL_TAGS, random_state=7)
    second = make_domestic_tags(**SMALL_TAGS, random_state=np.random.RandomState(7))

    assert_same_data(first, second)


def test_tags_differ_across_seeds():
    X_0, Y_0, _ = make_domestic_tags(**SMALL_TAGS, random_state=0)
    X_1, Y_1, _ = make_domestic_tags(**SMALL_TAGS, random_state=1)

    assert not np.array_equal(Y_0, Y_1)
    assert not any(np.array_equal(a, b) for a, b in zip(X_0, X_1, strict=True))


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_segments": 0}, ValueError, r"n_segments must be in \[1, inf\); got 0"),
        ({"n_chunks_per_segment": 1.5}, TypeError, "n_chunks_per_segment"),
        ({"duration": -4.0}, ValueError, "duration must be a finite positive"),
        ({"duration": 1e-6}, ValueError, "gives no samples"),
        ({"sample_rate": 16000.0}, TypeError, "sample_rate must be an integer"),
        ({"noise": np.nan}, ValueError, "noise must be a finite non-negative"),
    ],
)
def test_tag_parameters_are_validated(params, error, match):
    with pytest.raises(error, match=match):
        make_domestic_tags(**params, random_state=0)


def test_tags_are_learnable_from_mean_spectra(default_tags, single_threaded_blas):
    X, Y, groups = default_tags
    features = mean_log_spectra(X, 16000)
    scores = np.zeros(Y.shape)
    for train, test in GroupKFold(n_splits=4).split(features, Y, groups):
        for tag in range(Y.shape[1]):
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1))
            model.fit(features[train], Y[train, tag])
            scores[test, tag] = model.decision_function(features[test])

    auc = [roc_auc_score(Y[:, tag], scores[:, tag]) for tag in range(Y.shape[1])]

    print(f"tag ROC AUC of mean log spectra: {np.round(auc, 2)}")
    assert np.mean(auc) > 0.58
    assert np.mean(auc) < 0.95
