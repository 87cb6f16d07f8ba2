"""Features on disk: written in one pass, read clip by clip, indexed like arrays."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score
from sklearn.utils import _safe_indexing

from sklearn_allconv import SceneClassifier, STFTTransformer
from sklearn_allconv.feature_store import FeatureStore, FeatureStoreWriter


@pytest.fixture(scope="module")
def audio():
    rng = np.random.default_rng(0)
    return [
        rng.standard_normal(n).astype(np.float32) * 0.1
        for n in rng.integers(2000, 6000, 12)
    ]


@pytest.fixture
def stored(audio, tmp_path):
    transformer = STFTTransformer(sample_rate=8000)
    return transformer, transformer.fit_to_folder(audio, tmp_path / "features")


def test_a_store_reads_back_exactly_what_fit_transform_returns(audio, stored):
    transformer, store = stored
    reference = STFTTransformer(sample_rate=8000)
    in_memory = reference.fit_transform(audio)
    np.testing.assert_array_equal(transformer.mean_, reference.mean_)
    np.testing.assert_array_equal(transformer.scale_, reference.scale_)
    assert len(store) == len(in_memory) and store.shape == (len(audio),)
    for clip, expected in zip(store, in_memory, strict=True):
        assert clip.dtype == np.float32
        np.testing.assert_array_equal(clip, expected)


def test_transform_to_folder_equals_transform(audio, stored, tmp_path):
    transformer, _ = stored
    store = transformer.transform_to_folder(audio[:4], tmp_path / "test")
    for clip, expected in zip(store, transformer.transform(audio[:4]), strict=True):
        np.testing.assert_array_equal(clip, expected)


def test_a_store_of_log_gain_features_equals_them_in_memory(audio, tmp_path):
    transformer = STFTTransformer(sample_rate=8000, compression="log-gain")
    store = transformer.fit_to_folder(audio, tmp_path / "train")
    reference = STFTTransformer(sample_rate=8000, compression="log-gain")
    in_memory = reference.fit_transform(audio)
    np.testing.assert_array_equal(transformer.mean_, reference.mean_)
    test = transformer.transform_to_folder(audio[:4], tmp_path / "test")
    for clip, expected in zip(store, in_memory, strict=True):
        np.testing.assert_array_equal(clip, expected)
    for clip, expected in zip(test, reference.transform(audio[:4]), strict=True):
        np.testing.assert_array_equal(clip, expected)


def test_indexing_gives_lazy_views_like_an_object_array(audio, stored):
    _, store = stored
    clips = np.asarray(store)
    assert clips.dtype == object and len(clips) == len(store)
    for key in [slice(2, 9, 3), [5, 0, 5], np.arange(12) % 3 == 0, np.array([-1])]:
        view = store[key]
        assert isinstance(view, FeatureStore)
        expected = clips[key]
        np.testing.assert_array_equal(view.n_frames, [len(c) for c in expected])
        for clip, reference in zip(view, expected, strict=True):
            np.testing.assert_array_equal(clip, reference)
    np.testing.assert_array_equal(store[-2], clips[-2])
    with pytest.raises(IndexError, match="out of range"):
        store[12]


def test_scikit_learn_indexes_and_splits_a_store(stored):
    _, store = stored
    y = np.arange(len(store)) % 2
    groups = np.arange(len(store)) // 3
    for splitter, args in [(StratifiedKFold(3), (y,)), (GroupKFold(2), (y, groups))]:
        for train, test in splitter.split(store, *args):
            part = _safe_indexing(store, train)
            assert isinstance(part, FeatureStore)
            np.testing.assert_array_equal(part[0], store[int(train[0])])
            assert len(_safe_indexing(store, test)) == len(test)


def test_a_pickled_view_keeps_its_clips_and_reads_nothing_when_made(stored):
    _, store = stored
    view = store[[7, 2]]
    copy = pickle.loads(pickle.dumps(view))
    assert len(pickle.dumps(view)) < 2000  # the folder's name and indices only
    np.testing.assert_array_equal(copy[1], store[2])


def test_the_frames_file_is_a_plain_npy_array(stored):
    _, store = stored
    frames = np.load(store.folder / "frames.npy", mmap_mode="r")
    assert frames.shape == (store.n_frames.sum(), store.n_bins)
    raw = frames[: store.n_frames[0]]
    np.testing.assert_array_equal((raw - store.offset) * store.factor, store[0])


def test_writing_needs_a_new_folder_and_clips_of_its_bins(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(FileExistsError, match="not empty"):
        FeatureStoreWriter(tmp_path / "full", n_bins=3)
    writer = FeatureStoreWriter(tmp_path / "store", n_bins=3)
    with pytest.raises(ValueError, match=r"Clip 0 has shape \(4, 2\)"):
        writer.append(np.zeros((4, 2)))
    writer.abort()
    assert not (tmp_path / "store").exists()


def test_an_unfinished_store_is_a_clear_error(tmp_path):
    FeatureStoreWriter(tmp_path / "open", n_bins=3).append(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="not a complete feature store"):
        FeatureStore(tmp_path / "open")


def test_a_failed_write_leaves_no_folder(tmp_path):
    bad = [np.zeros(4000, dtype=np.float32), np.full(4000, np.nan, np.float32)]
    with pytest.raises(ValueError):
        STFTTransformer(sample_rate=8000).fit_to_folder(bad, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_fit_and_predict_on_a_store_equal_those_in_memory(audio, stored):
    transformer, store = stored
    features = STFTTransformer(sample_rate=8000).fit_transform(audio)
    y = np.arange(len(store)) % 3
    kwargs = dict(max_epochs=3, batch_size=4, module__n_filters=8, random_state=0)
    on_disk = SceneClassifier(**kwargs).fit(store, y)
    in_memory = SceneClassifier(**kwargs).fit(features, y)
    for name, value in in_memory.module_.state_dict().items():
        torch.testing.assert_close(
            on_disk.module_.state_dict()[name], value, rtol=0, atol=0
        )
    np.testing.assert_array_equal(
        on_disk.predict_proba(store[3:]), in_memory.predict_proba(features[3:])
    )
    # Test-time crops are cut from the clips as they are read.
    on_disk.set_params(test_crops=3)
    in_memory.set_params(test_crops=3)
    np.testing.assert_array_equal(
        on_disk.predict_proba(store[3:]), in_memory.predict_proba(features[3:])
    )


def test_cross_validation_takes_a_store(stored):
    _, store = stored
    y = np.arange(len(store)) % 2
    clf = SceneClassifier(
        max_epochs=1, batch_size=4, module__n_filters=8, random_state=0
    )
    scores = cross_val_score(clf, store, y, cv=StratifiedKFold(2))
    features = np.asarray(store)
    np.testing.assert_array_equal(
        scores, cross_val_score(clf, features, y, cv=StratifiedKFold(2))
    )


def test_a_store_with_short_clips_or_other_bins_is_a_clear_error(stored, tmp_path):
    _, store = stored
    clf = SceneClassifier(max_epochs=1, module__n_filters=8)
    writer = FeatureStoreWriter(tmp_path / "short", n_bins=store.n_bins)
    writer.append(np.zeros((3, store.n_bins)))
    with pytest.raises(ValueError, match="Clip 0 of the feature store has 3 frames"):
        clf.fit(writer.close(), [0])
    fitted = clf.fit(store, np.arange(len(store)) % 2)
    other = FeatureStoreWriter(tmp_path / "bins", n_bins=5)
    other.append(np.zeros((40, 5)))
    with pytest.raises(ValueError, match="has 5 frequency bins"):
        fitted.predict(other.close())
