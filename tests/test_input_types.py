"""The containers users actually have are accepted, or refused with what to pass.

One table: each row feeds one kind of container (pandas, numpy arrays of
paths, sparse matrices, id lists, PCM stored as float, mixed labels) and
checks that it gives what the plain form gives, or fails or warns with a
message that says what to pass instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import soundfile
from _data import TINY_WITHOUT_VALIDATION as TINY
from sklearn.preprocessing import MultiLabelBinarizer

from sklearn_allconv import AudioTagger, SceneClassifier, STFTTransformer

RATE = 8000


def _clips(n=6):
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(2400 + 80 * i)).astype(np.float32)
            for i in range(n)]


def _paths(tmp_path):
    paths = []
    for i, clip in enumerate(_clips()):
        paths.append(str(tmp_path / f"{i}.wav"))
        soundfile.write(paths[-1], clip, RATE, subtype="FLOAT")
    return paths


def _features():
    return STFTTransformer(sample_rate=RATE).fit_transform(_clips())


def _same_features(make_input, plain):
    def case(tmp_path):
        stft = STFTTransformer(sample_rate=RATE)
        expected = stft.fit_transform(plain(tmp_path))
        got = STFTTransformer(sample_rate=RATE).fit_transform(make_input(tmp_path))
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)

    return case


def _same_tagger(make_y, expected_classes):
    tags = [["dog", "tv"], ["cat"], [], ["dog"], ["cat", "tv"], ["tv"]]
    indicator = MultiLabelBinarizer().fit_transform(tags)  # columns cat, dog, tv

    def case(tmp_path):
        X = _features()
        expected = AudioTagger(**TINY).fit(X, indicator)
        got = AudioTagger(**TINY).fit(X, make_y(indicator))
        np.testing.assert_array_equal(got.classes_, expected_classes)
        np.testing.assert_array_equal(got.predict_proba(X), expected.predict_proba(X))

    return case


def _same_classifier(make_X):
    def case(tmp_path):
        X, y = _features(), ["a", "b"] * 3
        expected = SceneClassifier(**TINY).fit(X, y).predict_proba(X)
        got = SceneClassifier(**TINY).fit(make_X(X), y)
        np.testing.assert_array_equal(got.predict_proba(make_X(X)), expected)

    return case


def _refused(run, error, message):
    def case(tmp_path):
        with pytest.raises(error, match=message):
            run(tmp_path)

    return case


def _warned(run, message):
    def case(tmp_path):
        with pytest.warns(UserWarning, match=message):
            run(tmp_path)

    return case


def _as_pcm_floats(tmp_path):
    STFTTransformer(sample_rate=RATE).fit_transform(
        [np.round(32767 * clip) for clip in _clips()]
    )


INPUT_TYPES = {
    "Series of arrays": _same_features(lambda t: pd.Series(_clips()),
                                       lambda t: _clips()),
    "Series of paths": _same_features(lambda t: pd.Series(_paths(t)), _paths),
    "DataFrame column of paths": _same_features(
        lambda t: pd.DataFrame({"path": _paths(t), "label": "x"})["path"], _paths
    ),
    "one-column DataFrame of paths": _same_features(
        lambda t: pd.DataFrame({"path": _paths(t)}), _paths
    ),
    "numpy array of path strings": _same_features(
        lambda t: np.array(_paths(t)), _paths
    ),
    "sparse tag matrix": _same_tagger(sp.csr_matrix, [0, 1, 2]),
    "pandas tag matrix, columns named": _same_tagger(
        # Columns in another order: the tagger sorts them, as tag names are.
        lambda Y: pd.DataFrame(Y[:, [2, 0, 1]], columns=["tv", "cat", "dog"]),
        ["cat", "dog", "tv"],
    ),
    "Series of spectrograms": _same_classifier(lambda X: pd.Series(list(X))),
    "DataFrame with several columns": _refused(
        lambda t: STFTTransformer(sample_rate=RATE).fit(
            pd.DataFrame({"path": _paths(t), "label": "x"})
        ),
        ValueError, r"DataFrame with 2 columns \(path, label\); pass the one column",
    ),
    "lists of tag ids": _refused(
        lambda t: AudioTagger(**TINY).fit(_features(), [[0, 2], [1], []] * 2),
        ValueError, "lists of tag ids.*MultiLabelBinarizer",
    ),
    "mixed int and str labels": _refused(
        lambda t: SceneClassifier(**TINY).fit(_features(), [1, "a"] * 3),
        ValueError, "y mixes strings and other labels",
    ),
    "numpy array of paths to the classifier": _refused(
        lambda t: SceneClassifier(**TINY).fit(np.array(_paths(t)), ["a", "b"] * 3),
        TypeError, "put STFTTransformer in front",
    ),
    "16-bit PCM stored as float": _warned(_as_pcm_floats, "16-bit PCM stored as"),
}


@pytest.mark.parametrize("case", INPUT_TYPES, ids=list(INPUT_TYPES))
def test_input_types_users_have_are_accepted_or_refused_clearly(tmp_path, case):
    INPUT_TYPES[case](tmp_path)
