"""load_tut_acoustic_scenes_2016 on small copies in the release's layout."""

import numpy as np
import pytest
import soundfile
from _dcase_layouts import (
    TUT_ERROR,
    TUT_LABELS,
    TUT_RATE,
    TUT_RECORDINGS_PER_LABEL,
    TUT_SEGMENTS_PER_RECORDING,
    write_tut_development,
    write_tut_evaluation,
)
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import PredefinedSplit, cross_val_score

from sklearn_allconv import STFTTransformer
from sklearn_allconv.datasets import load_tut_acoustic_scenes_2016

N_CLIPS = len(TUT_LABELS) * TUT_RECORDINGS_PER_LABEL * TUT_SEGMENTS_PER_RECORDING


@pytest.fixture(scope="module")
def development(tmp_path_factory):
    return write_tut_development(tmp_path_factory.mktemp("tut"))


@pytest.fixture
def damaged(tmp_path):
    """A fresh copy that a test may break."""
    return write_tut_development(tmp_path)


def test_development_set_lists_every_clip_with_its_label(development):
    scenes = load_tut_acoustic_scenes_2016(development)

    assert len(scenes.data) == len(scenes.target) == N_CLIPS
    assert scenes.target_names.tolist() == sorted(TUT_LABELS)
    assert "cafe/restaurant" in scenes.target
    assert scenes.filenames[0] == "audio/a000_0_30.wav"
    assert scenes.sample_rate == TUT_RATE
    assert "TUT Acoustic Scenes 2016" in scenes.DESCR


def test_data_are_paths_the_stft_transformer_reads(development):
    scenes = load_tut_acoustic_scenes_2016(development)

    assert all(isinstance(path, str) for path in scenes.data)
    features = STFTTransformer(sample_rate=scenes.sample_rate).fit_transform(
        scenes.data[:2]
    )
    assert features[0].shape[1] == 128  # the default mel bands of 552 bins


def test_groups_are_recording_ids(development):
    scenes = load_tut_acoustic_scenes_2016(development)

    assert scenes.groups[0] == "a000"
    expected = [name.split("/")[1].split("_")[0] for name in scenes.filenames]
    assert scenes.groups.tolist() == expected


def test_folds_follow_the_official_test_lists(development):
    scenes = load_tut_acoustic_scenes_2016(development)
    setup = development / "evaluation_setup"

    for fold in range(1, 5):
        listed = (setup / f"fold{fold}_test.txt").read_text().split()
        assert sorted(scenes.filenames[scenes.folds == fold]) == sorted(listed)


def test_cv_is_the_official_folds_with_no_recording_on_both_sides(development):
    scenes = load_tut_acoustic_scenes_2016(development)

    assert isinstance(scenes.cv, PredefinedSplit)
    splits = list(scenes.cv.split())
    assert len(splits) == 4
    for fold, (train, test) in enumerate(splits, start=1):
        assert set(test) == set(np.flatnonzero(scenes.folds == fold))
        assert not set(scenes.groups[train]) & set(scenes.groups[test])
        assert len(train) + len(test) == N_CLIPS


def test_cv_works_as_cv_argument(development):
    scenes = load_tut_acoustic_scenes_2016(development)

    scores = cross_val_score(
        DummyClassifier(), np.zeros((N_CLIPS, 1)), scenes.target, cv=scenes.cv
    )
    assert scores.shape == (4,)


def test_cv_falls_back_to_index_pairs_when_training_lists_omit_clips(damaged):
    train_list = damaged / "evaluation_setup" / "fold1_train.txt"
    lines = train_list.read_text().splitlines()
    train_list.write_text("\n".join(lines[1:]) + "\n")

    scenes = load_tut_acoustic_scenes_2016(damaged)

    train, test = scenes.cv[0]
    omitted = list(scenes.filenames).index(lines[0].split("\t")[0])
    assert omitted not in train and omitted not in test
    scores = cross_val_score(
        DummyClassifier(), np.zeros((N_CLIPS, 1)), scenes.target, cv=scenes.cv
    )
    assert scores.shape == (4,)


def test_root_may_be_the_folder_containing_the_dataset(development):
    scenes = load_tut_acoustic_scenes_2016(development.parent)

    assert scenes.root == str(development)


def test_return_audio_gives_both_channels_or_the_chosen_one(development):
    both = load_tut_acoustic_scenes_2016(development, return_audio=True)
    left = load_tut_acoustic_scenes_2016(development, return_audio=True, channel=0)

    assert both.data.dtype == object
    assert both.data[0].shape == (2, TUT_RATE // 2)
    assert both.data[0].dtype == np.float32
    np.testing.assert_array_equal(left.data[0], both.data[0][0])


def test_error_spans_are_reported_and_can_be_dropped(development):
    kept = load_tut_acoustic_scenes_2016(development, return_audio=True)
    dropped = load_tut_acoustic_scenes_2016(
        development, return_audio=True, errors="drop"
    )
    name, onset, offset = TUT_ERROR
    clip = list(kept.filenames).index(name)

    np.testing.assert_array_equal(kept.error_spans[clip], [[onset, offset]])
    assert sum(len(spans) for spans in kept.error_spans) == 1
    removed = round(offset * TUT_RATE) - round(onset * TUT_RATE)
    assert dropped.data[clip].shape[1] == kept.data[clip].shape[1] - removed
    start = round(onset * TUT_RATE)
    np.testing.assert_array_equal(
        dropped.data[clip][:, start:], kept.data[clip][:, start + removed :]
    )
    assert dropped.data[0].shape == kept.data[0].shape


def test_dropping_errors_needs_audio(development):
    with pytest.raises(ValueError, match="return_audio=True"):
        load_tut_acoustic_scenes_2016(development, errors="drop")


def test_evaluation_set_has_labels_and_no_folds(tmp_path):
    folder = write_tut_evaluation(tmp_path)

    scenes = load_tut_acoustic_scenes_2016(tmp_path, "evaluation")

    assert scenes.root == str(folder)
    assert scenes.filenames.tolist() == ["audio/1.wav", "audio/2.wav", "audio/3.wav"]
    assert scenes.target.tolist() == ["bus", "cafe/restaurant", "beach"]
    assert scenes.folds is None and scenes.cv is None


def test_wrong_root_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.txt"):
        load_tut_acoustic_scenes_2016(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tut_acoustic_scenes_2016(tmp_path / "nowhere")


def test_missing_audio_file_names_the_metadata_line(damaged):
    (damaged / "audio" / "a000_30_60.wav").unlink()

    with pytest.raises(FileNotFoundError, match=r"meta.txt, line 2 lists audio/a000"):
        load_tut_acoustic_scenes_2016(damaged)


def test_malformed_meta_line_names_file_and_line(damaged):
    meta = damaged / "meta.txt"
    lines = meta.read_text().splitlines()
    lines[2] = lines[2].replace("\t", " ")
    meta.write_text("\n".join(lines) + "\n")

    with pytest.raises(ValueError, match=r"meta.txt, line 3: expected"):
        load_tut_acoustic_scenes_2016(damaged)


def test_test_list_naming_an_unknown_clip_names_file_and_line(damaged):
    test_list = damaged / "evaluation_setup" / "fold2_test.txt"
    test_list.write_text(test_list.read_text() + "audio/z999_0_30.wav\n")

    with pytest.raises(ValueError, match=r"fold2_test.txt, line \d+: audio/z999"):
        load_tut_acoustic_scenes_2016(damaged)


def test_clip_tested_in_two_folds_is_refused(damaged):
    first = (damaged / "evaluation_setup" / "fold1_test.txt").read_text()
    test_list = damaged / "evaluation_setup" / "fold2_test.txt"
    test_list.write_text(test_list.read_text() + first.splitlines()[0] + "\n")

    with pytest.raises(ValueError, match="already in the test list of fold 1"):
        load_tut_acoustic_scenes_2016(damaged)


def test_malformed_error_line_names_file_and_line(damaged):
    (damaged / "error.txt").write_text("audio/a000_0_30.wav\tsoon\tlater\tx\n")

    with pytest.raises(ValueError, match=r"error.txt, line 1: .*numeric"):
        load_tut_acoustic_scenes_2016(damaged)


def test_audio_at_another_rate_is_refused(damaged):
    soundfile.write(damaged / "audio" / "a000_0_30.wav", np.zeros(8000), 8000)

    with pytest.raises(ValueError, match="8000 Hz"):
        load_tut_acoustic_scenes_2016(damaged, return_audio=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subset": "train"}, "subset must be"),
        ({"errors": "ignore"}, "errors must be"),
    ],
)
def test_invalid_options_are_refused(development, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_tut_acoustic_scenes_2016(development, **kwargs)
