"""Batch augmentations and test-time crops: what they change, and what they leave."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from _data import TINY
from sklearn.base import clone

from sklearn_allconv import AudioTagger, SceneClassifier
from sklearn_allconv.augment import BatchAugmentation, Mixup, SpecMask, TimeShift
from sklearn_allconv.batching import (
    ClipStore,
    PadCollate,
    StoreCollate,
    evenly_spaced_crops,
)

LENGTHS = [40, 23, 31, 16, 40]
N_BINS = 12


def _batch(lengths=LENGTHS, n_bins=N_BINS, seed=0):
    """A padded batch of non-zero frames, zero after each clip's length."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(len(lengths), max(lengths), n_bins, generator=generator) + 5.0
    for row, n in enumerate(lengths):
        X[row, n:] = 0.0
    targets = torch.eye(3)[torch.arange(len(lengths)) % 3]
    return X, torch.tensor(lengths), targets


def _padding_is_zero(X, lengths):
    return all(
        (X[row, n:] == 0).all() for row, n in enumerate(lengths.tolist())
    )


def _fit(estimator_class, data, **params):
    X, y, _ = data
    return estimator_class(**{**TINY, "n_threads": 1, **params}).fit(X, y)


def _weights(estimator):
    return [p.detach().clone() for p in estimator.module_.parameters()]


# -- the augmentations ---------------------------------------------------------


def test_time_shift_rotates_each_clip_within_its_valid_frames():
    X, lengths, targets = _batch()
    torch.manual_seed(0)
    shifted, new_lengths, new_targets = TimeShift()(X, lengths, targets)
    assert torch.equal(new_lengths, lengths) and torch.equal(new_targets, targets)
    assert _padding_is_zero(shifted, lengths)
    shifts = []
    for row, n in enumerate(lengths.tolist()):
        matches = [
            k for k in range(n) if torch.equal(shifted[row, :n], X[row, :n].roll(k, 0))
        ]
        assert len(matches) == 1, f"clip {row} is not a rotation of itself"
        shifts.append(matches[0])
    assert any(shifts), "no clip was shifted"


def test_time_shift_stays_within_max_fraction():
    X, lengths, targets = _batch(lengths=[100] * 64)
    torch.manual_seed(1)
    shifted, _, _ = TimeShift(max_fraction=0.1)(X, lengths, targets)
    seen = set()
    for row in range(len(X)):
        shift = next(
            k for k in range(-10, 11) if torch.equal(shifted[row], X[row].roll(k, 0))
        )
        seen.add(shift)
    # Both directions, and more than a handful of amounts, within +-10 frames.
    assert min(seen) < 0 < max(seen) and len(seen) > 5
    assert torch.equal(TimeShift(0.0)(X, lengths, targets)[0], X)


def test_spec_mask_zeroes_whole_bins_and_frames_within_the_widths():
    X, lengths, targets = _batch(lengths=[60, 45, 30, 16])
    torch.manual_seed(0)
    masked, new_lengths, new_targets = SpecMask(2, 3, 2, 7)(X, lengths, targets)
    assert torch.equal(new_lengths, lengths) and new_targets is targets
    assert _padding_is_zero(masked, lengths)
    any_masked = False
    for row, n in enumerate(lengths.tolist()):
        clip, original = masked[row, :n], X[row, :n]
        zero = clip == 0
        bins = zero.all(dim=0)  # fully masked bins
        frames = zero.all(dim=1)  # fully masked frames
        # Every change is a masked bin or frame, and masks set exactly 0.
        assert torch.equal(zero, bins[None, :] | frames[:, None])
        assert torch.equal(clip[~zero], original[~zero])
        assert int(bins.sum()) <= 2 * 3 and int(frames.sum()) <= 2 * 7
        any_masked |= bool(zero.any())
    assert any_masked


def test_spec_mask_widths_are_drawn_up_to_their_maximum():
    # One mask of each kind per clip: the masked counts are the drawn widths.
    X, lengths, targets = _batch(lengths=[50] * 400, n_bins=20)
    torch.manual_seed(0)
    masked, _, _ = SpecMask(1, 4, 1, 6)(X, lengths, targets)
    zero = masked == 0
    bin_widths = zero.all(dim=1).sum(dim=1)
    frame_widths = zero.all(dim=2).sum(dim=1)
    assert set(bin_widths.tolist()) == set(range(5))
    assert set(frame_widths.tolist()) == set(range(7))


def test_spec_mask_time_masks_lie_within_each_clips_valid_frames():
    # Short clips next to a long one: each time mask is drawn within its clip,
    # its width uniform up to the clip's length.
    X, lengths, targets = _batch(lengths=[200] + [16] * 300, n_bins=4)
    torch.manual_seed(0)
    masked, _, _ = SpecMask(0, 0, 1, 100)(X, lengths, targets)
    assert _padding_is_zero(masked, lengths)
    widths = (masked[1:, :16] == 0).all(dim=2).sum(dim=1).float()
    assert set(widths.tolist()) == set(range(17))
    assert 7.0 < float(widths.mean()) < 9.0


def test_mixup_mixes_clips_and_targets_with_one_beta_weight():
    X, lengths, targets = _batch()
    torch.manual_seed(3)
    mixed, new_lengths, soft = Mixup(alpha=0.4)(X, lengths, targets)
    # Drawn as documented: the weight, then the permutation.
    torch.manual_seed(3)
    alpha = torch.tensor(0.4, dtype=torch.float64)
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(len(X))
    assert 0.0 < lam < 1.0
    torch.testing.assert_close(mixed, lam * X + (1 - lam) * X[perm])
    torch.testing.assert_close(soft, lam * targets + (1 - lam) * targets[perm])
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(len(X)))
    assert torch.equal(new_lengths, torch.maximum(lengths, lengths[perm]))
    assert _padding_is_zero(mixed, new_lengths)


def test_mixup_of_tags_gives_soft_tags_in_zero_one():
    X, lengths, _ = _batch()
    tags = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1], [1, 1, 1.0]])
    torch.manual_seed(0)
    _, _, soft = Mixup(alpha=1.0)(X, lengths, tags)
    assert soft.shape == tags.shape and ((soft >= 0) & (soft <= 1)).all()
    assert not torch.equal(soft, tags)


def test_mixup_refuses_class_indices_with_a_clear_error():
    X, lengths, _ = _batch()
    with pytest.raises(ValueError, match="float targets of shape"):
        Mixup()(X, lengths, torch.arange(len(X)))


@pytest.mark.parametrize(
    "augmentation", [TimeShift(), SpecMask(2, 3, 2, 7), Mixup()], ids=repr
)
def test_augmentations_leave_their_inputs_unchanged(augmentation):
    X, lengths, targets = _batch()
    copies = X.clone(), lengths.clone(), targets.clone()
    torch.manual_seed(0)
    augmentation(X, lengths, targets)
    for before, after in zip(copies, (X, lengths, targets), strict=True):
        assert torch.equal(before, after)


@pytest.mark.parametrize(
    ("augmentation", "match"),
    [
        (TimeShift(0.7), r"TimeShift's max_fraction must be a number in \[0.0, 0.5\]"),
        (TimeShift("half"), "got 'half'"),
        (SpecMask(freq_masks=-1), "SpecMask's freq_masks must be an integer"),
        (SpecMask(time_width=2.5), "SpecMask's time_width must be an integer"),
        (Mixup(0.0), "Mixup's alpha must be a positive finite number, got 0.0"),
        (Mixup(float("nan")), "Mixup's alpha must be a positive finite number"),
        (Mixup(float("inf")), "Mixup's alpha must be a positive finite number"),
    ],
    ids=repr,
)
def test_bad_augmentation_parameters_raise_when_called(augmentation, match):
    with pytest.raises(ValueError, match=match):
        augmentation(*_batch())


def test_augmentations_compare_and_print_by_their_parameters():
    assert SpecMask(1, 2, 3, 4) == SpecMask(1, 2, 3, 4) != SpecMask(1, 2, 3, 5)
    assert TimeShift(0.5) != Mixup(0.5)
    assert repr(SpecMask(1, 2, 3, 4)) == (
        "SpecMask(freq_masks=1, freq_width=2, time_masks=3, time_width=4)"
    )
    mixup = Mixup(0.3)
    assert type(mixup)(**mixup.get_config()) == mixup
    assert len({Mixup(0.3), Mixup(0.3)}) == 1
    assert isinstance(mixup, BatchAugmentation)


# -- the collate functions -----------------------------------------------------


def _items(lengths=LENGTHS, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((n, N_BINS)).astype(np.float32), i % 3)
        for i, n in enumerate(lengths)
    ]


def test_collate_turns_class_indices_into_one_hot_targets_for_augmentations():
    seen = []

    def record(X, lengths, targets):
        seen.append(targets)
        return X, lengths, targets

    _, targets = PadCollate(augment=[record], n_classes=4)(_items())
    assert targets.dtype == torch.float32
    assert torch.equal(targets, torch.eye(4)[[0, 1, 2, 0, 1]])
    assert seen[0] is targets
    # Without augmentations the targets stay class indices.
    assert PadCollate(n_classes=4)(_items())[1].tolist() == [0, 1, 2, 0, 1]


@pytest.mark.parametrize("random_crop", [False, True])
def test_stored_clips_give_the_same_augmented_batches_as_host_clips(random_crop):
    items = _items()
    clips = np.empty(len(items), dtype=object)
    clips[:] = [clip for clip, _ in items]
    augment = [TimeShift(), SpecMask(2, 3, 2, 7), Mixup()]
    options = {"random_crop": random_crop, "min_frames": 15, "augment": augment,
               "n_classes": 3}
    torch.manual_seed(0)
    host, host_targets = PadCollate(**options)(items)
    torch.manual_seed(0)
    stored, stored_targets = StoreCollate(ClipStore(clips, "cpu"), **options)(
        [(i, target) for i, (_, target) in enumerate(items)]
    )
    assert torch.equal(host["X"], stored["X"])
    assert torch.equal(host["lengths"], stored["lengths"])
    assert torch.equal(host_targets, stored_targets)


# -- the estimators: training ----------------------------------------------------

AUGMENT = [TimeShift(), SpecMask(2, 3, 2, 5), Mixup(0.4)]


@pytest.mark.parametrize("estimator_class", [SceneClassifier, AudioTagger])
def test_seeded_fit_with_augment_repeats_exactly_and_differs_without(
    estimator_class, scenes, tags
):
    data = scenes if estimator_class is SceneClassifier else tags
    first = _fit(estimator_class, data, augment=AUGMENT, max_epochs=2)
    second = _fit(estimator_class, data, augment=AUGMENT, max_epochs=2)
    plain = _fit(estimator_class, data, max_epochs=2)
    for a, b in zip(_weights(first), _weights(second), strict=True):
        assert torch.equal(a, b)
    assert not all(
        torch.equal(a, c) for a, c in zip(_weights(first), _weights(plain),
                                          strict=True)
    )
    assert np.isfinite(first.history[:, "train_loss"]).all()


def test_augmentations_see_training_batches_only(scenes):
    X, y, groups = scenes
    seen = []

    def record(batch, lengths, targets):
        seen.append(len(batch))
        return batch, lengths, targets

    clf = SceneClassifier(**{**TINY, "max_epochs": 2}, augment=record)
    clf.fit(X, y, groups=groups)
    batches = clf.history[-1, "batches"]
    n_train = sum(batch.get("train_batch_size", 0) for batch in batches)
    n_valid = sum(batch.get("valid_batch_size", 0) for batch in batches)
    assert n_valid > 0 and n_train + n_valid == len(X)
    assert sum(seen) == 2 * n_train
    seen.clear()
    clf.predict_proba(X)
    clf.predict(X)
    clf.transform(X)
    assert seen == []


@pytest.mark.parametrize("estimator_class", [SceneClassifier, AudioTagger])
def test_predictions_with_the_same_weights_do_not_depend_on_augment(
    estimator_class, scenes, tags
):
    X, y, _ = scenes if estimator_class is SceneClassifier else tags
    plain = _fit(estimator_class, (X, y, None))
    augmented = _fit(estimator_class, (X, y, None), augment=AUGMENT)
    augmented.module_.load_state_dict(plain.module_.state_dict())
    np.testing.assert_array_equal(augmented.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_array_equal(augmented.transform(X), plain.transform(X))


def test_augmentations_on_stored_clips_train_the_same_model(scenes):
    on_host = _fit(SceneClassifier, scenes, augment=AUGMENT, data_on_device=False)
    stored = _fit(SceneClassifier, scenes, augment=AUGMENT, data_on_device=True)
    for a, b in zip(_weights(on_host), _weights(stored), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixup_trains_in_reduced_precision(scenes, precision):
    # Soft targets meet float32 logits: autocast covers the network only.
    with warnings.catch_warnings():
        # Reduced precision on a CPU warns that it is slow.
        warnings.simplefilter("ignore", UserWarning)
        clf = _fit(SceneClassifier, scenes, augment=Mixup(), precision=precision)
    plain = _fit(SceneClassifier, scenes, precision="float32")
    losses = clf.history[:, "train_loss"]
    assert np.isfinite(losses).all()
    assert not np.array_equal(losses, plain.history[:, "train_loss"])


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"augment": "SpecMask"}, "augment must be None, a callable or a list"),
        ({"augment": [TimeShift(), 3]}, "augment must be None, a callable or a list"),
        ({"augment": Mixup(-1.0)}, "Mixup's alpha"),
        (
            {"augment": Mixup(), "iterator_train__collate_fn": PadCollate()},
            "iterator_train__collate_fn replaces them",
        ),
        ({"test_crops": 0}, "test_crops must be an integer of at least 1"),
        ({"test_crops": 2.0}, "test_crops must be an integer of at least 1"),
        ({"test_crops": True}, "test_crops must be an integer of at least 1"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_bad_augment_and_test_crops_raise_in_fit(scenes, params, match):
    X, y, _ = scenes
    with pytest.raises(ValueError, match=match):
        SceneClassifier(**TINY, **params).fit(X, y)


def test_bad_test_crops_set_after_fit_raise_in_predict(scenes):
    clf = _fit(SceneClassifier, scenes)
    clf.set_params(test_crops=-2)
    with pytest.raises(ValueError, match="test_crops must be an integer"):
        clf.predict(scenes[0])


@pytest.mark.parametrize("augment", [None, Mixup(0.3), AUGMENT])
def test_augment_and_test_crops_survive_clone_and_get_params(augment):
    clf = AudioTagger(augment=augment, test_crops=3)
    params = clf.get_params()
    assert params["augment"] == augment and params["test_crops"] == 3
    copy = clone(clf)
    assert copy.augment == augment and copy.test_crops == 3
    if augment is not None:
        assert copy.augment is not augment  # clone deep-copies plain objects
    clf.set_params(augment=TimeShift(0.25), test_crops=1)
    assert clf.augment == TimeShift(0.25) and clf.test_crops == 1


def test_a_pickled_augmented_model_predicts_the_same(scenes):
    X = scenes[0]
    clf = _fit(SceneClassifier, scenes, augment=AUGMENT, test_crops=2)
    copy = pickle.loads(pickle.dumps(clf))
    assert copy.augment == AUGMENT and copy.test_crops == 2
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


# -- the estimators: test-time crops ---------------------------------------------


def test_evenly_spaced_crops_span_each_clip_from_start_to_end():
    clips, starts, lengths = evenly_spaced_crops([101, 60, 29, 30], 4, min_frames=15)
    assert clips.tolist() == [0] * 4 + [1] * 4 + [2] + [3] * 4
    # Half the clip; the first crop starts it and the last one ends it.
    assert lengths.tolist() == [50] * 4 + [30] * 4 + [29] + [15] * 4
    assert starts.tolist() == [0, 17, 34, 51, 0, 10, 20, 30, 0, 0, 5, 10, 15]
    one = evenly_spaced_crops([101, 60], 1, min_frames=15)
    assert [part.tolist() for part in one] == [[0, 1], [0, 0], [101, 60]]


@pytest.mark.parametrize("estimator_class", [SceneClassifier, AudioTagger])
def test_one_test_crop_is_the_whole_clip_prediction(estimator_class, scenes, tags):
    X, y, _ = scenes if estimator_class is SceneClassifier else tags
    clf = _fit(estimator_class, (X, y, None))
    assert clf.test_crops == 1
    logits = clf.forward(X)
    expected = clf._get_predict_nonlinearity()(logits).numpy()
    np.testing.assert_array_equal(clf.predict_proba(X), expected)


@pytest.mark.parametrize("estimator_class", [SceneClassifier, AudioTagger])
def test_test_crops_average_the_probabilities_of_evenly_spaced_half_clips(
    estimator_class, scenes, tags
):
    X, y, _ = scenes if estimator_class is SceneClassifier else tags
    clf = _fit(estimator_class, (X, y, None))
    min_frames = clf.module_.min_frames
    by_hand = []
    for clip in X:
        n = len(clip)
        if n < 2 * min_frames:
            crops = [clip]
        else:
            half = n // 2
            starts = [round(k * (n - half) / 2) for k in range(3)]
            crops = [clip[start : start + half] for start in starts]
        by_hand.append(np.mean([clf.predict_proba([crop])[0] for crop in crops], 0))
    assert any(len(clip) >= 2 * min_frames for clip in X)
    assert any(len(clip) < 2 * min_frames for clip in X)
    cropped = clf.set_params(test_crops=3).predict_proba(X)
    np.testing.assert_allclose(cropped, np.array(by_hand), rtol=1e-5, atol=1e-6)
    assert cropped.dtype == np.float32
    whole = clf.set_params(test_crops=1).predict_proba(X)
    assert not np.allclose(cropped, whole)
    if estimator_class is SceneClassifier:
        np.testing.assert_allclose(cropped.sum(axis=1), 1.0, rtol=1e-6)
        assert (
            clf.set_params(test_crops=3).predict(X)
            == clf.classes_[cropped.argmax(axis=1)]
        ).all()


def test_test_crops_keep_predictions_independent_of_the_batch(scenes):
    X, y, _ = scenes
    clf = _fit(SceneClassifier, scenes, test_crops=4)
    together = clf.predict_proba(X)
    alone = np.concatenate([clf.predict_proba(X[i : i + 1]) for i in range(6)])
    np.testing.assert_allclose(together[:6], alone, rtol=1e-5, atol=1e-6)
    shuffled = clf.set_params(bucketing=False, batch_size=3).predict_proba(X)
    np.testing.assert_allclose(shuffled, together, rtol=1e-5, atol=1e-6)


def test_test_crops_take_a_dataset_as_whole_clip_prediction_does(scenes):
    X, y, _ = scenes
    clf = _fit(SceneClassifier, scenes, test_crops=3)
    subset = torch.utils.data.Subset(clf.get_dataset(X, y), range(5, 12))
    np.testing.assert_array_equal(clf.predict_proba(subset), clf.predict_proba(X[5:12]))


def test_transform_ignores_test_crops(scenes):
    X = scenes[0]
    clf = _fit(SceneClassifier, scenes)
    whole = clf.transform(X)
    np.testing.assert_array_equal(clf.set_params(test_crops=3).transform(X), whole)
