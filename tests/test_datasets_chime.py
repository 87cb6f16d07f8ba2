"""load_chime_home on a small copy in the release's layout."""

import numpy as np
import pytest
from _dcase_layouts import (
    CHIME_EVAL_VOTES,
    CHIME_VOTES,
    chime_chunk,
    write_chime_home,
)
from sklearn.model_selection import PredefinedSplit

from sklearn_allconv.datasets import load_chime_home
from sklearn_allconv.datasets._chime import DOMESTIC_TAG_CODES, DOMESTIC_TAG_LABELS

N_CHUNKS = sum(len(votes) for votes in CHIME_VOTES)


@pytest.fixture(scope="module")
def chime(tmp_path_factory):
    return write_chime_home(tmp_path_factory.mktemp("chime"))


@pytest.fixture
def damaged(tmp_path):
    """A fresh copy that a test may break."""
    return write_chime_home(tmp_path)


def _indicator(vote):
    return [int(code in vote) for code in DOMESTIC_TAG_CODES]


def test_development_chunks_come_with_16khz_paths(chime):
    tags = load_chime_home(chime)

    assert len(tags.data) == N_CHUNKS
    assert tags.data[0].endswith(f"{chime_chunk(0, 0)}.16kHz.wav")
    assert tags.sample_rate == 16000
    assert tags.chunk_names[1] == chime_chunk(0, 1)
    assert "CHiME-Home" in tags.DESCR


def test_tags_are_parsed_from_majorityvote_without_s_and_u(chime):
    tags = load_chime_home(chime)

    expected = [_indicator(vote) for votes in CHIME_VOTES for vote in votes]
    np.testing.assert_array_equal(tags.target, expected)
    assert tags.target.shape == (N_CHUNKS, 7)
    assert tags.target_names.tolist() == list(DOMESTIC_TAG_LABELS)
    assert tags.tag_codes.tolist() == ["f", "m", "b", "c", "o", "p", "v"]
    # "S" (silence) alone gives a chunk without tags.
    assert tags.target[tags.chunk_names == chime_chunk(3, 0)].sum() == 0


def test_groups_are_segments_and_folds_come_from_the_crossval_list(chime):
    tags = load_chime_home(chime)

    assert tags.groups[0] == "CR_lounge_200100_1601.s0"
    assert tags.folds.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert isinstance(tags.cv, PredefinedSplit)
    for fold, (train, test) in enumerate(tags.cv.split()):
        assert set(test) == set(np.flatnonzero(tags.folds == fold))
        assert not set(tags.groups[train]) & set(tags.groups[test])


def test_48khz_audio_is_stereo_and_a_channel_can_be_chosen(chime):
    both = load_chime_home(chime, sample_rate=48000, return_audio=True)
    left = load_chime_home(chime, sample_rate=48000, return_audio=True, channel=0)

    assert both.sample_rate == 48000
    assert both.data[0].shape == (2, 24000)
    np.testing.assert_array_equal(left.data[0], both.data[0][0])


def test_16khz_audio_is_mono(chime):
    tags = load_chime_home(chime, return_audio=True)

    assert tags.data[0].shape == (8000,)
    assert tags.data[0].dtype == np.float32


def test_evaluation_subset_has_tags_and_no_folds(chime):
    tags = load_chime_home(chime.parent, "evaluation")

    np.testing.assert_array_equal(
        tags.target, [_indicator(vote) for vote in CHIME_EVAL_VOTES]
    )
    assert tags.folds is None and tags.cv is None


def test_wrong_root_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="crossval_dcase2016.csv"):
        load_chime_home(tmp_path)


def test_missing_audio_names_the_list_line(damaged):
    (damaged / "chunks" / f"{chime_chunk(1, 0)}.16kHz.wav").unlink()

    with pytest.raises(FileNotFoundError, match=r"crossval_dcase2016.csv, line 3"):
        load_chime_home(damaged)


def test_missing_annotation_file_is_named(damaged):
    (damaged / "chunks" / f"{chime_chunk(1, 0)}.csv").unlink()

    with pytest.raises(FileNotFoundError, match=rf"{chime_chunk(1, 0)}.csv"):
        load_chime_home(damaged)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("10,CR_lounge_200199_1601.s0_chunk0,x", "fold 'x' is not an integer"),
        ("10,CR_lounge_200199_1601.s0_chunk0", "expected <id>,<chunk name>,<fold>"),
        ("10,CR_lounge_200199_1601.s0,2", "lacks '_chunk'"),
    ],
)
def test_malformed_crossval_line_names_file_and_line(damaged, line, message):
    listing = damaged / "development_chunks_refined_crossval_dcase2016.csv"
    listing.write_text(listing.read_text() + line + "\n")

    with pytest.raises(ValueError, match=rf"csv, line 11: .*{message}"):
        load_chime_home(damaged)


def test_unknown_tag_letter_names_file_and_line(damaged):
    annotation = damaged / "chunks" / f"{chime_chunk(2, 1)}.csv"
    annotation.write_text(
        annotation.read_text().replace("majorityvote,pvS", "majorityvote,pvX")
    )

    with pytest.raises(ValueError, match=r"line 10: unknown tag letter\(s\) \['X'\]"):
        load_chime_home(damaged)


def test_annotation_without_majorityvote_is_refused(damaged):
    annotation = damaged / "chunks" / f"{chime_chunk(0, 0)}.csv"
    annotation.write_text("segmentname,x\nchunknumber,0\n")

    with pytest.raises(ValueError, match="no 'majorityvote' row"):
        load_chime_home(damaged)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sample_rate": 44100}, "16000 .* or 48000"), ({"subset": "test"}, "subset")],
)
def test_invalid_options_are_refused(chime, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_chime_home(chime, **kwargs)
