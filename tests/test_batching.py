"""BucketBatchSampler: random batches of clips of similar length."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sklearn_allconv.batching import (
    BucketBatchSampler,
    ClipStore,
    PadCollate,
    StoreCollate,
    padding_efficiency,
)


def _dcase_like_lengths(n_clips=1170, seed=0):
    """Frames per clip as in the scene data: most 30 s, some cut shorter."""
    rng = np.random.default_rng(seed)
    lengths = np.full(n_clips, 1999)
    short = rng.random(n_clips) < 0.1
    lengths[short] = rng.integers(100, 1999, short.sum())
    return lengths


def _sampler(lengths, seed=0, **params):
    generator = torch.Generator().manual_seed(seed)
    return BucketBatchSampler(lengths, 8, generator=generator, **params)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n_clips", [1, 7, 8, 100, 301])
def test_every_clip_is_in_exactly_one_batch_per_epoch(shuffle, n_clips):
    lengths = np.random.default_rng(n_clips).integers(15, 500, n_clips)
    sampler = _sampler(lengths, shuffle=shuffle, pool_size=4)
    for _ in range(3):
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert sorted(np.concatenate(batches)) == list(range(n_clips))
        assert all(len(batch) == 8 for batch in batches[:-1] if not shuffle)
        assert sum(len(batch) < 8 for batch in batches) <= 1


def test_drop_last_drops_only_the_incomplete_batch():
    sampler = _sampler(np.arange(100), drop_last=True, pool_size=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 12
    assert all(len(batch) == 8 for batch in batches)
    assert len(set(np.concatenate(batches))) == 96


def test_batches_hold_neighbouring_lengths_within_a_pool():
    lengths = np.random.default_rng(0).permutation(np.arange(15, 415))
    batches = list(_sampler(lengths, pool_size=100))
    spans = sorted((lengths[b].min(), lengths[b].max()) for b in batches)
    for (_, high), (low, _) in zip(spans[:-1], spans[1:], strict=True):
        assert high < low
    assert all(np.ptp(lengths[b]) == len(b) - 1 for b in batches)


def test_batch_order_and_composition_change_between_epochs():
    lengths = np.full(64, 1999)  # equal lengths: composition is all chance
    sampler = _sampler(lengths)
    first, second = list(sampler), list(sampler)
    assert first != second
    assert {frozenset(b) for b in first} != {frozenset(b) for b in second}


def test_long_and_short_batches_are_interleaved_at_random():
    lengths = np.r_[np.full(40, 50), np.full(40, 1000)]
    orders = {
        tuple(int(lengths[b[0]] == 50) for b in _sampler(lengths, seed=seed))
        for seed in range(5)
    }
    assert len(orders) > 1


def test_seeded_generator_reproduces_the_batches():
    lengths = _dcase_like_lengths(300)
    assert list(_sampler(lengths, seed=3)) == list(_sampler(lengths, seed=3))
    assert list(_sampler(lengths, seed=3)) != list(_sampler(lengths, seed=4))


def test_global_torch_seed_reproduces_the_batches_without_a_generator():
    lengths = _dcase_like_lengths(300)
    torch.manual_seed(5)
    first = list(BucketBatchSampler(lengths, 8))
    torch.manual_seed(5)
    assert list(BucketBatchSampler(lengths, 8)) == first


def test_unshuffled_batches_are_sorted_longest_first_and_stable():
    lengths = [5, 9, 5, 7, 9, 5]
    assert list(BucketBatchSampler(lengths, 2, shuffle=False)) == [
        [1, 4],
        [3, 0],
        [2, 5],
    ]


def test_dataloader_takes_it_as_batch_sampler():
    dataset = list(range(20))
    loader = DataLoader(dataset, batch_sampler=_sampler(np.arange(20)))
    assert sorted(torch.cat(list(loader)).tolist()) == dataset


@pytest.mark.parametrize("shuffle", [True, False])
def test_padding_efficiency_on_dcase_like_lengths_is_high(shuffle):
    lengths = _dcase_like_lengths()
    bucketed = padding_efficiency(
        lengths, list(BucketBatchSampler(lengths, 96, shuffle=shuffle))
    )
    rng = np.random.default_rng(0)
    plain = padding_efficiency(lengths, np.array_split(rng.permutation(1170), 13))
    assert bucketed > 0.95
    assert bucketed > plain


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 4, "pool_size": 1.5}, "pool_size must be a positive"),
    ],
)
def test_bad_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        BucketBatchSampler([10, 20], **params)


@pytest.mark.parametrize("random_crop", [False, True])
def test_batches_gathered_from_stored_clips_equal_host_batches(random_crop):
    rng = np.random.default_rng(0)
    clips = np.empty(6, dtype=object)
    clips[:] = [
        rng.standard_normal((n, 4)).astype(np.float32) for n in (30, 17, 25, 15, 40, 22)
    ]
    targets = np.arange(6)
    store = ClipStore(clips, "cpu")
    host = PadCollate(random_crop=random_crop, min_frames=15)
    stored = StoreCollate(store, random_crop=random_crop, min_frames=15)
    for indices in ([4, 0, 1], [3], [5, 2, 0, 4]):
        torch.manual_seed(1)
        X, y = host([(clips[i], targets[i]) for i in indices])
        torch.manual_seed(1)
        X_stored, y_stored = stored([(i, targets[i]) for i in indices])
        torch.testing.assert_close(X_stored["X"], X["X"], rtol=0, atol=0)
        torch.testing.assert_close(X_stored["lengths"], X["lengths"])
        torch.testing.assert_close(y_stored, y)
