"""SceneClassifier and AudioTagger behave like scikit-learn classifiers."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import sklearn
import torch
from _data import N_BINS, SCENE_LABELS, scene_features, tag_features
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch.callbacks import Callback

from sklearn_allconv import (
    AudioTagger,
    GroupValidSplit,
    SceneClassifier,
    eer_scorer,
    estimators,
)
from sklearn_allconv.batching import BucketBatchSampler, PadCollate


def _small(estimator_class, **params):
    defaults = {
        "max_epochs": 8,
        "batch_size": 8,
        "module__n_filters": 16,
        "random_state": 0,
    }
    return estimator_class(**{**defaults, **params})


@pytest.fixture(scope="module")
def fitted_scene_classifier(scenes):
    X, y, groups = scenes
    return _small(SceneClassifier, lr=1e-2).fit(X, y, groups=groups)


def test_scene_classifier_takes_string_labels_and_predicts_them(
    scenes, fitted_scene_classifier
):
    X, y, _ = scenes
    clf = fitted_scene_classifier
    np.testing.assert_array_equal(clf.classes_, SCENE_LABELS)
    assert set(clf.predict(X)) <= set(SCENE_LABELS)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert clf.score(X, y) > 0.8


def test_scene_classifier_learns_above_chance_in_grouped_cross_validation(scenes):
    X, y, groups = scenes
    scores = cross_val_score(
        _small(SceneClassifier, lr=1e-2), X, y, groups=groups, cv=GroupKFold(3)
    )
    assert scores.mean() > 0.6  # chance is 1/3


def test_same_random_state_gives_identical_predictions(scenes):
    X, y, groups = scenes
    first = _small(SceneClassifier, max_epochs=3).fit(X, y, groups=groups)
    second = _small(SceneClassifier, max_epochs=3).fit(X, y, groups=groups)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    other = _small(SceneClassifier, max_epochs=3, random_state=1).fit(X, y)
    assert not np.array_equal(first.predict_proba(X), other.predict_proba(X))


def test_fit_leaves_torch_global_random_state_alone(scenes):
    X, y, _ = scenes
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _small(SceneClassifier, max_epochs=1).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_prediction_does_not_depend_on_batch_size(scenes, fitted_scene_classifier):
    X, _, _ = scenes
    clf = clone(fitted_scene_classifier)
    clf.__dict__.update(fitted_scene_classifier.__dict__)
    one_at_a_time = clf.set_params(batch_size=1).predict_proba(X)
    clf.set_params(batch_size=96)
    np.testing.assert_allclose(clf.predict_proba(X), one_at_a_time, atol=1e-5)


def test_internal_validation_split_keeps_groups_on_one_side(scenes):
    X, y, groups = scenes
    dataset = np.arange(len(X))
    train, valid = GroupValidSplit(0.25)(dataset, y, groups=groups, random_state=0)
    assert set(groups[train.indices]).isdisjoint(groups[valid.indices])
    assert len(valid.indices) > 0


def test_clip_split_holds_out_clips_of_every_group_and_class():
    # 6 classes with 3 groups of 10 clips each. Holding out clips keeps every
    # group in training, the groups given or not, stratified by class.
    y = np.repeat(np.arange(6), 30)
    groups = np.repeat(np.arange(18), 10)
    dataset = np.arange(len(y))
    split = GroupValidSplit(0.2, stratified=True, hold_out="clips")
    for seed in range(5):
        train, valid = split(dataset, y, groups=groups, random_state=seed)
        assert sorted([*train.indices, *valid.indices]) == list(dataset)
        assert set(groups[train.indices]) == set(groups)
        # some groups on both sides: whole groups are not kept together
        assert set(groups[train.indices]) & set(groups[valid.indices])
        # 6 of each class's 30 clips held out
        np.testing.assert_array_equal(np.bincount(y[valid.indices]), [6] * 6)
        without_groups = split(dataset, y, random_state=seed)
        np.testing.assert_array_equal(valid.indices, without_groups[1].indices)


def test_clip_split_of_a_tiny_set_falls_back_to_an_unstratified_split(scenes):
    # 24 clips of 8 classes: a fifth (5 clips) cannot hold one of each class,
    # which StratifiedShuffleSplit refuses; the split holds out 5 clips anyway.
    y = np.repeat(np.arange(8), 3)
    split = GroupValidSplit(0.2, stratified=True, hold_out="clips")
    train, valid = split(np.arange(24), y, groups=np.arange(24), random_state=0)
    assert (len(train), len(valid)) == (19, 5)
    # and a scene classifier trains on it with the default split
    X, _, _ = scenes
    _small(SceneClassifier, max_epochs=1).fit(X[:24], y.astype(str))


def test_split_rejects_an_unknown_hold_out():
    with pytest.raises(ValueError, match="hold_out must be 'groups'.*got 'group'"):
        GroupValidSplit(hold_out="group")(np.arange(10), np.zeros(10))


def test_stratified_group_split_spreads_held_out_groups_over_the_classes():
    # 6 classes with 3 groups each, as one training fold of 4 locations per scene:
    # a random group split of 20 % holds out 4 groups, often 2 of one class.
    y = np.repeat(np.arange(6), 30)
    groups = np.repeat(np.arange(18), 10)
    dataset = np.arange(len(y))
    for seed in range(20):
        train, valid = GroupValidSplit(0.2, stratified=True)(
            dataset, y, groups=groups, random_state=seed
        )
        assert set(groups[train.indices]).isdisjoint(groups[valid.indices])
        assert sorted([*train.indices, *valid.indices]) == list(dataset)
        held_out = np.unique(groups[valid.indices])
        assert len(held_out) in (3, 4)
        # at most one group of each class held out, every class in training
        assert max(np.bincount(held_out // 3, minlength=6)) == 1
        assert set(y[train.indices]) == set(y)


def test_stratified_group_split_keeps_every_class_in_training_or_says_why():
    # Class 2 has a single group: the split never holds it out.
    y = np.array([0] * 8 + [1] * 8 + [2] * 4)
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 8, 8])
    for seed in range(10):
        train, _ = GroupValidSplit(0.2, stratified=True)(
            np.arange(len(y)), y, groups=groups, random_state=seed
        )
        assert set(y[train.indices]) == {0, 1, 2}
    # Every class in a single group: no fold leaves all classes in training.
    y, groups = np.repeat(np.arange(5), 10), np.repeat(np.arange(5), 10)
    with pytest.raises(ValueError, match="every group of some class"):
        GroupValidSplit(0.2, stratified=True)(
            np.arange(len(y)), y, groups=groups, random_state=0
        )


def test_groups_reach_the_validation_split_but_not_the_network(scenes):
    X, y, groups = scenes
    seen = {}

    def recording_split(dataset, y=None, groups=None, **kwargs):
        seen["groups"] = groups
        return GroupValidSplit(0.25)(dataset, y, groups=groups, **kwargs)

    _small(SceneClassifier, max_epochs=1, train_split=recording_split).fit(
        X, y, groups=groups
    )
    np.testing.assert_array_equal(seen["groups"], groups)


def _fit_directly(clf, X, y, groups, routing):
    clf.fit(X, y, groups=groups)


def _fit_pipeline(clf, X, y, groups, routing):
    pipe = Pipeline([("identity", FunctionTransformer()), ("clf", clf)])
    if routing:
        pipe.fit(X, y, groups=groups)
    else:
        pipe.fit(X, y, clf__groups=groups)


def _cross_validate(clf, X, y, groups, routing):
    if routing:
        cross_val_score(clf, X, y, cv=GroupKFold(3), params={"groups": groups})
    else:
        cross_val_score(
            clf, X, y, groups=groups, cv=GroupKFold(3), params={"groups": groups}
        )


def _grid_search(clf, X, y, groups, routing):
    if routing:
        GridSearchCV(clf, {"lr": [1e-3, 1e-2]}, cv=GroupKFold(3)).fit(
            X, y, groups=groups
        )
    else:
        pipe = Pipeline([("identity", FunctionTransformer()), ("clf", clf)])
        GridSearchCV(pipe, {"clf__lr": [1e-3, 1e-2]}, cv=GroupKFold(3)).fit(
            X, y, groups=groups, clf__groups=groups
        )


GROUP_ROUTES = {"fit": _fit_directly, "pipeline": _fit_pipeline,
                "cross_val_score": _cross_validate, "GridSearchCV": _grid_search}


def _record_splits(monkeypatch):
    """Record (groups, train indices, valid indices) of each GroupValidSplit call."""
    splits = []
    split = GroupValidSplit.__call__

    def recording_split(self, dataset, y=None, groups=None, **kwargs):
        train, valid = split(self, dataset, y, groups=groups, **kwargs)
        splits.append((groups, train.indices, valid.indices))
        return train, valid

    monkeypatch.setattr(GroupValidSplit, "__call__", recording_split)
    return splits


@pytest.mark.parametrize("routing", [False, True], ids=["routing-off", "routing-on"])
@pytest.mark.parametrize("route", GROUP_ROUTES)
def test_groups_keep_recordings_out_of_the_validation_split_in_both_routing_modes(
    scenes, monkeypatch, route, routing
):
    X, y, groups = scenes
    splits = _record_splits(monkeypatch)
    with sklearn.config_context(enable_metadata_routing=routing):
        clf = _small(
            SceneClassifier,
            max_epochs=1,
            train_split=GroupValidSplit(0.25, stratified=True, hold_out="groups"),
        )
        if routing:
            clf.set_fit_request(groups=True)
        GROUP_ROUTES[route](clf, X, y, groups, routing)
    assert splits
    for seen, train, valid in splits:
        assert seen is not None, "the groups did not reach the validation split"
        assert set(seen[train]).isdisjoint(seen[valid])
        assert set(seen) <= set(groups)


def test_scene_default_split_keeps_every_location_in_training(scenes, monkeypatch):
    # With three or four locations per scene, a held-out location is a fifth
    # of what the network learns a scene from: the default holds out clips.
    X, y, groups = scenes
    splits = _record_splits(monkeypatch)
    _small(SceneClassifier, max_epochs=1).fit(X, y, groups=groups)
    (seen, train, valid), = splits
    np.testing.assert_array_equal(seen, groups)
    assert set(groups[train]) == set(groups)
    assert len(valid) == 8  # ceil(0.2 * 36), as ShuffleSplit rounds
    # stratified by class: 8 clips of 3 balanced classes, 2 or 3 of each
    assert sorted(np.unique(y[valid], return_counts=True)[1]) == [2, 3, 3]


def test_training_without_validation_switches_validation_callbacks_off(scenes):
    X, y, _ = scenes
    clf = _small(SceneClassifier, max_epochs=3, train_split=None).fit(X, y)
    assert len(clf.history_) == 3
    assert "valid_loss" not in clf.history_[-1]


def test_early_stopping_ends_training_and_restores_the_best_epoch(scenes):
    X, y, groups = scenes
    clf = _small(
        SceneClassifier,
        max_epochs=60,
        lr=0.05,
        callbacks__early_stopping__patience=2,
    ).fit(X, y, groups=groups)
    assert len(clf.history_) < 60
    losses = clf.history_[:, "valid_loss"]
    assert np.argmin(losses) == len(losses) - 3


def test_learning_rate_is_halved_on_a_validation_plateau(scenes):
    X, y, groups = scenes
    clf = _small(
        SceneClassifier,
        max_epochs=25,
        lr=0.05,
        callbacks__lr_plateau__patience=0,
        callbacks__early_stopping=None,
    ).fit(X, y, groups=groups)
    lrs = [group["lr"] for group in clf.optimizer_.param_groups]
    assert lrs[0] < 0.05
    assert np.log2(0.05 / lrs[0]) == pytest.approx(round(np.log2(0.05 / lrs[0])))


def test_random_crops_stay_within_each_clip():
    torch.manual_seed(0)
    # Frame t of clip c holds the value 1000 * c + t, so a crop shows its origin.
    clips = [
        (1000 * c + np.arange(n, dtype=np.float32))[:, None].repeat(2, axis=1)
        for c, n in enumerate([15, 40, 90, 200])
    ]
    collate = PadCollate(random_crop=True, min_frames=15)
    crop_lengths = set()
    for _ in range(200):
        batch, _ = collate([(clip, 0) for clip in clips])
        for c, (row, length) in enumerate(
            zip(batch["X"].numpy(), batch["lengths"].numpy(), strict=True)
        ):
            values = row[:length, 0]
            start = values[0] - 1000 * c
            assert 15 <= length <= len(clips[c]) and start >= 0
            np.testing.assert_array_equal(values, 1000 * c + start + np.arange(length))
            assert np.all(row[length:] == 0)
        crop_lengths.add(int(batch["lengths"].max()))
    assert min(crop_lengths) < 60 and max(crop_lengths) > 150


def test_random_crop_lengths_are_uniform_up_to_the_longest_clip():
    # Paper section 3.1: one crop length h per batch, "randomly chosen within
    # its valid range", i.e. uniform from the network's minimum to the longest
    # clip of the batch, both included.
    torch.manual_seed(0)
    clips = [np.zeros((n, 2), dtype=np.float32) for n in (20, 45, 60)]
    collate = PadCollate(random_crop=True, min_frames=15)
    draws = 9200  # 200 per possible length, 15..60
    batch = [(clip, 0) for clip in clips]
    lengths = np.array(
        [int(collate(batch)[0]["lengths"].max()) for _ in range(draws)]
    )
    counts = np.bincount(lengths, minlength=61)
    assert counts[:15].sum() == 0 and len(counts) == 61
    # Every valid length, the full length of the longest clip included, is drawn
    # about equally often (chi-square goodness of fit against uniform).
    result = stats.chisquare(counts[15:])
    assert result.pvalue > 1e-3, counts[15:]
    assert counts[60] > 100


def test_random_crop_offsets_are_uniform_over_each_clips_slack():
    # For a crop of h frames, a clip of n > h frames starts at an offset drawn
    # uniformly from 0..n-h; a clip of at most h frames is kept whole.
    torch.manual_seed(1)
    clips = [
        (np.arange(n, dtype=np.float32) + 1)[:, None].repeat(2, axis=1)
        for n in (15, 30, 50)
    ]
    collate = PadCollate(random_crop=True, min_frames=15)
    relative_offsets, whole_kept = [], 0
    at_zero = at_end = 0
    for _ in range(3000):
        batch, _ = collate([(c, 0) for c in clips])
        crop = int(batch["lengths"].max())
        for row, length, clip in zip(
            batch["X"].numpy(), batch["lengths"].numpy(), clips, strict=True
        ):
            n = len(clip)
            if n <= crop:
                assert length == n and row[0, 0] == 1  # whole, from frame 0
                whole_kept += 1
                continue
            assert length == crop
            start, slack = int(row[0, 0]) - 1, n - crop
            assert 0 <= start <= slack
            at_zero += start == 0
            at_end += start == slack
            # Spread each integer offset over its cell: uniform on [0, 1).
            relative_offsets.append((start + np.random.default_rng(start).random())
                                    / (slack + 1))
    assert whole_kept > 0 and at_zero > 0 and at_end > 0
    result = stats.kstest(relative_offsets, "uniform")
    assert result.pvalue > 1e-3, result
    assert np.mean(relative_offsets) == pytest.approx(0.5, abs=0.02)


class _RecordEpochs(Callback):
    """Record the learning rate and a copy of the weights after every epoch."""

    def initialize(self):
        self.weights_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])
        self.weights_.append(
            {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        )


def _plateau_reference(valid_losses, lr, *, factor, patience, threshold=1e-4):
    """Learning rate after each epoch under ReduceLROnPlateau's documented rule."""
    best, bad, lrs = np.inf, 0, []
    for loss in valid_losses:
        if loss < best * (1 - threshold):
            best, bad = loss, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = lr * factor, 0
        lrs.append(lr)
    return lrs


@pytest.mark.parametrize("recipe, patience", [("default", 5), ("paper", 3)])
def test_learning_rate_is_halved_after_each_plateau_of_the_validation_loss(
    scenes, recipe, patience
):
    X, y, groups = scenes
    clf = _small(
        SceneClassifier,
        max_epochs=20,
        lr=0.05,
        recipe=recipe,
        callbacks=[("record", _RecordEpochs())],
        callbacks__early_stopping=None,
    ).fit(X, y, groups=groups)
    lrs = clf.history_[:, "lr"]
    # Halve after `patience` epochs without improvement.
    expected = _plateau_reference(
        clf.history_[:, "valid_loss"], 0.05, factor=0.5, patience=patience
    )
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert min(lrs) < 0.05  # the run did hit a plateau


@pytest.mark.parametrize(
    "recipe, batch_size, plateau, stopping",
    [("default", 32, 5, 20), ("paper", 96, 3, 10)],
)
def test_recipe_sets_batch_size_and_patiences_left_to_it(
    scenes, recipe, batch_size, plateau, stopping
):
    X, y, _ = scenes
    clf = SceneClassifier(recipe=recipe).initialize_callbacks()
    callbacks = dict(clf.callbacks_)
    assert callbacks["lr_plateau"].patience == plateau
    assert callbacks["early_stopping"].patience == stopping
    assert callbacks["early_stopping"].load_best is (recipe == "paper")
    dataset = clf.get_dataset(np.array([np.zeros((20, 4), np.float32)] * 100))
    assert clf.get_iterator(dataset).batch_sampler.batch_size == batch_size
    # What is set explicitly wins over the recipe.
    clf.set_params(batch_size=7, callbacks__early_stopping__patience=2)
    clf.initialize_callbacks()
    assert dict(clf.callbacks_)["early_stopping"].patience == 2
    assert dict(clf.callbacks_)["lr_plateau"].patience == plateau
    assert clf.get_iterator(dataset).batch_sampler.batch_size == 7
    # The tagger keeps the paper's recipe.
    tagger = AudioTagger().initialize_callbacks()
    assert dict(tagger.callbacks_)["early_stopping"].patience == 10
    assert dict(tagger.callbacks_)["early_stopping"].load_best is True
    assert tagger.get_iterator(dataset).batch_sampler.batch_size == 96


@pytest.mark.parametrize("recipe", ["Paper", None, "small"])
def test_unknown_recipe_is_refused_with_the_choices(scenes, recipe):
    X, y, _ = scenes
    # Validated in fit, as scikit-learn expects: get_params and clone work.
    clf = clone(SceneClassifier(recipe=recipe))
    assert clf.get_params()["recipe"] == recipe
    with pytest.raises(ValueError, match="recipe must be 'default' or 'paper'"):
        _small(SceneClassifier, max_epochs=1, recipe=recipe).fit(X, y)


class _RecordTrainedWeights(Callback):
    """A copy of the weights after each epoch's training batches.

    Recorded at the end of each training batch: the epoch at whose end early
    stopping stops is not seen by callbacks listed after it, such as this one.
    """

    def initialize(self):
        self.weights_ = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.weights_.append(None)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.weights_[-1] = {
                k: v.detach().clone() for k, v in net.module_.state_dict().items()
            }


@pytest.mark.parametrize("recipe, restores", [("paper", True), ("default", False)])
def test_early_stopping_restores_the_best_epoch_in_the_papers_recipe_only(
    scenes, recipe, restores
):
    # recipe="paper" restores the weights of the best validation loss; the
    # default recipe keeps those of the last epoch.
    X, y, groups = scenes
    recorder = _RecordTrainedWeights()
    clf = _small(
        SceneClassifier,
        max_epochs=40,
        lr=0.05,
        recipe=recipe,
        callbacks=[("record", recorder)],
        callbacks__early_stopping__patience=3,
    ).fit(X, y, groups=groups)
    assert dict(clf.callbacks_)["early_stopping"].load_best is restores
    losses = np.array(clf.history_[:, "valid_loss"])
    assert len(losses) < 40  # stopped early, so the last epoch is not the best
    best = int(np.flatnonzero(clf.history_[:, "valid_loss_best"])[-1])
    assert best < len(losses) - 1 and losses[best] == losses.min()
    assert len(recorder.weights_) == len(losses)
    kept = best if restores else -1
    other = -1 if restores else best
    final = clf.module_.state_dict()
    for name, value in recorder.weights_[kept].items():
        torch.testing.assert_close(final[name], value, rtol=0, atol=0)
    assert not all(
        torch.equal(final[name], value)
        for name, value in recorder.weights_[other].items()
    )


def test_prediction_uses_whole_clips(scenes):
    X, _, _ = scenes
    batch, _ = PadCollate()([(clip, 0) for clip in X[:5]])
    np.testing.assert_array_equal(batch["lengths"], [len(c) for c in X[:5]])


def test_short_clips_raise_unless_padding_is_requested(scenes):
    X, y, _ = scenes
    short = X.copy()
    short[4] = short[4][:9]
    with pytest.raises(ValueError, match="Clip 4 has 9 frames; the network needs at"):
        _small(SceneClassifier, max_epochs=1).fit(short, y)
    clf = _small(SceneClassifier, max_epochs=1, short_clips="pad").fit(short, y)
    assert clf.predict(short[4:5]).shape == (1,)


def test_features_with_other_bins_than_at_fit_raise(fitted_scene_classifier):
    with pytest.raises(ValueError, match="has 11 frequency bins but the model"):
        fitted_scene_classifier.predict([np.zeros((20, N_BINS + 1), np.float32)])


def test_device_auto_resolves_but_stays_auto_in_params():
    clf = SceneClassifier()
    assert clf.get_params()["device"] == "auto"
    assert clf.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert clone(clf).get_params()["device"] == "auto"


def test_everything_is_reachable_through_set_params():
    clf = SceneClassifier().set_params(
        lr=3e-4,
        module__n_filters=64,
        module__pooling="max",
        optimizer__weight_decay=0.0,
        callbacks__early_stopping__patience=4,
    )
    params = clf.get_params()
    assert params["module__n_filters"] == 64 and params["lr"] == 3e-4
    X, y, _ = scene_features(n_per_class=4)
    clf.set_params(max_epochs=1, module__n_filters=4).fit(X, y)
    assert clf.module_.pool.mode == "max"
    assert dict(clf.callbacks_)["early_stopping"].patience == 4
    assert clf.optimizer_.param_groups[0]["weight_decay"] == 0.0


@pytest.mark.slow
def test_pickle_round_trip_in_a_fresh_process_gives_identical_predictions(
    scenes, fitted_scene_classifier, tmp_path
):
    X, _, _ = scenes
    model_path, data_path = tmp_path / "model.pkl", tmp_path / "X.pkl"
    model_path.write_bytes(pickle.dumps(fitted_scene_classifier))
    data_path.write_bytes(pickle.dumps(X))
    script = (
        "import pickle, sys, numpy as np\n"
        f"model = pickle.load(open({str(model_path)!r}, 'rb'))\n"
        f"X = pickle.load(open({str(data_path)!r}, 'rb'))\n"
        "np.save(sys.argv[1], model.predict_proba(X))\n"
    )
    out = tmp_path / "proba.npy"
    subprocess.run([sys.executable, "-c", script, str(out)], check=True)
    np.testing.assert_array_equal(
        np.load(out), fitted_scene_classifier.predict_proba(X)
    )


def test_audio_tagger_outputs_one_probability_per_tag(tags):
    X, Y, groups = tags
    tagger = _small(AudioTagger, lr=1e-2).fit(X, Y, groups=groups)
    proba = tagger.predict_proba(X)
    assert proba.shape == Y.shape
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(tagger.predict(X), (proba > 0.5).astype(int))
    np.testing.assert_array_equal(
        tagger.set_params(threshold=0.9).predict(X), (proba > 0.9).astype(int)
    )
    assert tagger.score(X, Y) > 0.8  # 1 - mean EER
    assert tagger.__sklearn_tags__().classifier_tags.multi_label


def test_audio_tagger_accepts_lists_of_tag_names(tags):
    X, Y, _ = tags
    names = np.array(["child speech", "percussive sound", "video game/tv"])
    tag_lists = [list(names[row.astype(bool)]) for row in Y]
    tagger = _small(AudioTagger, max_epochs=2).fit(X, tag_lists)
    np.testing.assert_array_equal(tagger.classes_, sorted(names))


def test_audio_tagger_rejects_non_binary_tag_matrices(tags):
    X, Y, _ = tags
    Y = Y.copy()
    Y[0, 0] = 2
    with pytest.raises(ValueError, match="only 0 and 1"):
        _small(AudioTagger).fit(X, Y)


def test_grid_search_over_learning_rates_with_the_eer_scorer(tags):
    X, Y, groups = tags
    search = GridSearchCV(
        _small(AudioTagger, max_epochs=4),
        {"lr": [1e-2, 1e-4]},
        cv=GroupKFold(3),
        scoring=eer_scorer,
    ).fit(X, Y, groups=groups)
    assert search.best_params_["lr"] in (1e-2, 1e-4)
    assert -1 <= search.best_score_ <= 0


def test_scenes_train_on_random_crops_and_tags_on_whole_clips(scenes):
    X, y, _ = scenes
    dataset = SceneClassifier().get_dataset(X, np.zeros(len(X)))
    scene_train = SceneClassifier().get_iterator(dataset, training=True)
    scene_predict = SceneClassifier().get_iterator(dataset, training=False)
    tag_train = AudioTagger().get_iterator(dataset, training=True)
    assert scene_train.collate_fn.random_crop
    assert not scene_predict.collate_fn.random_crop
    assert not tag_train.collate_fn.random_crop


def test_tag_name_lists_may_start_with_a_clip_without_tags():
    X, Y, _ = tag_features(n=12)
    tag_lists = [[] if i == 0 else ["speech", "music"][: i % 3] for i in range(12)]
    tagger = _small(AudioTagger, max_epochs=1).fit(X, tag_lists)
    np.testing.assert_array_equal(tagger.classes_, ["music", "speech"])


class _BatchRecorder(Callback):
    """Records the clip lengths of every training batch."""

    def on_train_begin(self, net, **kwargs):
        self.lengths = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.lengths.append(batch[0]["lengths"].tolist())


def test_prediction_with_bucketing_keeps_the_order_of_the_clips(
    scenes, fitted_scene_classifier
):
    X, _, _ = scenes
    clf = fitted_scene_classifier
    assert clf.bucketing
    order = np.random.default_rng(0).permutation(len(X))
    proba = clf.predict_proba(X[order])
    alone = np.concatenate([clf.predict_proba(X[i : i + 1]) for i in order])
    np.testing.assert_allclose(proba, alone, atol=1e-5)
    plain = clone(clf)
    plain.__dict__.update(clf.__dict__)
    plain.set_params(bucketing=False)
    np.testing.assert_allclose(plain.predict_proba(X[order]), proba, atol=1e-5)


def test_training_batches_are_bucketed_and_reproducible_with_random_state(scenes):
    X, y, _ = scenes
    recorders = [_BatchRecorder() for _ in range(3)]
    for recorder, seed in zip(recorders, [0, 0, 1], strict=True):
        _small(
            SceneClassifier,
            max_epochs=2,
            train_split=None,
            random_crop=False,
            random_state=seed,
            callbacks=[("record", recorder)],
        ).fit(X, y)
    first, same, other = (recorder.lengths for recorder in recorders)
    assert first == same != other
    spans = [max(batch) - min(batch) for batch in first]
    assert np.mean(spans) < 0.5 * np.ptp([len(clip) for clip in X])
    assert first[: len(first) // 2] != first[len(first) // 2 :]


def test_bucketing_can_be_switched_off_or_replaced_by_a_sampler(scenes):
    X, y, _ = scenes
    clf = _small(SceneClassifier, max_epochs=1, bucketing=False).fit(X, y)
    loader = clf.get_iterator(clf.get_dataset(X[:10]), training=True)
    assert loader.batch_size == 8 and not isinstance(
        loader.batch_sampler, BucketBatchSampler
    )
    sequential = torch.utils.data.SequentialSampler(range(len(X)))
    clf = _small(
        SceneClassifier,
        max_epochs=1,
        train_split=None,
        iterator_train__sampler=sequential,
    ).fit(X, y)
    loader = clf.get_iterator(clf.get_dataset(X), training=True)
    assert loader.sampler is sequential


@pytest.mark.filterwarnings("ignore:precision='bfloat16' on a CPU:UserWarning")
def test_bfloat16_precision_trains_and_predicts(scenes):
    X, y, groups = scenes
    clf = _small(SceneClassifier, lr=1e-2, precision="bfloat16")
    clf.fit(X, y, groups=groups)
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert clf.score(X, y) > 0.6  # chance is 1/3


def test_unknown_precision_raises(scenes):
    X, y, _ = scenes
    with pytest.raises(
        ValueError, match="precision must be 'float32', 'bfloat16' or 'float16'"
    ):
        _small(SceneClassifier, precision="half").fit(X, y)


def test_float16_precision_scales_the_loss_and_trains(scenes, monkeypatch):
    X, y, groups = scenes
    calls = {"scale": 0, "step": 0}
    original_scale = torch.amp.GradScaler.scale
    original_step = torch.amp.GradScaler.step

    def scale(scaler, loss):
        calls["scale"] += 1
        return original_scale(scaler, loss)

    def step(scaler, optimizer, *args, **kwargs):
        calls["step"] += 1
        return original_step(scaler, optimizer, *args, **kwargs)

    monkeypatch.setattr(torch.amp.GradScaler, "scale", scale)
    monkeypatch.setattr(torch.amp.GradScaler, "step", step)
    clf = _small(SceneClassifier, lr=1e-2, precision="float16")
    with pytest.warns(UserWarning, match="precision='float16' on a CPU"):
        clf.fit(X, y, groups=groups)
    training_batches = sum(
        "train_loss" in batch for epoch in clf.history_ for batch in epoch["batches"]
    )
    assert calls["scale"] == calls["step"] == training_batches > 0
    assert "_grad_scaler" not in clf.__dict__
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert clf.score(X, y) > 0.6  # chance is 1/3


@pytest.mark.parametrize("estimator_class", [SceneClassifier, AudioTagger])
@pytest.mark.parametrize("bucketing", [True, False])
def test_clips_kept_on_the_device_give_the_same_model(estimator_class, bucketing):
    make_data = scene_features if estimator_class is SceneClassifier else tag_features
    X, y, groups = make_data()
    models = {
        on_device: _small(
            estimator_class, max_epochs=3, bucketing=bucketing,
            data_on_device=on_device,
        ).fit(X, y, groups=groups)
        for on_device in (False, True)
    }
    for a, b in zip(
        models[False].module_.state_dict().values(),
        models[True].module_.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [row["valid_loss"] for row in models[False].history_] == [
        row["valid_loss"] for row in models[True].history_
    ]
    assert "_clip_store" not in models[True].__dict__


def test_clips_are_kept_on_the_device_only_where_asked(scenes, monkeypatch):
    X, y, _ = scenes
    stores = []
    original = estimators.ClipStore.__init__

    def record(store, clips, device):
        stores.append(device)
        original(store, clips, device)

    monkeypatch.setattr(estimators.ClipStore, "__init__", record)
    _small(SceneClassifier, max_epochs=1, device="cpu").fit(X, y)
    assert stores == []  # "auto" keeps them on CUDA devices only
    _small(SceneClassifier, max_epochs=1, data_on_device=True).fit(X, y)
    assert stores == ["cpu"]


def test_clips_on_the_device_refuse_a_custom_collate_function(scenes):
    X, y, _ = scenes
    clf = _small(
        SceneClassifier,
        data_on_device=True,
        iterator_train__collate_fn=PadCollate(),
    )
    with pytest.raises(ValueError, match="does not go with iterator_train__collate_fn"):
        clf.fit(X, y)
    # "auto" falls back to host batches.
    clf.set_params(data_on_device="auto", max_epochs=1).fit(X, y)


def test_unknown_data_on_device_raises(scenes):
    X, y, _ = scenes
    with pytest.raises(ValueError, match="data_on_device must be 'auto', True or"):
        _small(SceneClassifier, data_on_device="yes").fit(X, y)


def test_unknown_or_unavailable_devices_are_refused_clearly():
    X, y, _ = scene_features(n_per_class=2)
    with pytest.raises(ValueError, match="a torch device such as 'cpu'.*got 'gpu'"):
        SceneClassifier(max_epochs=1, device="gpu").fit(X, y)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
            SceneClassifier(max_epochs=1, device="cuda").fit(X, y)
    # "auto" and explicit CPU devices are accepted.
    for device in ("auto", "cpu", torch.device("cpu")):
        SceneClassifier(
            max_epochs=1, module__n_filters=4, train_split=None, device=device
        ).fit(X, y)


def test_device_none_trains_and_predicts_where_the_module_is():
    # skorch's device=None: nothing is moved; the module stays on the CPU here.
    X, y, _ = scene_features(n_per_class=4)
    params = {"max_epochs": 2, "module__n_filters": 4, "train_split": None}
    clf = SceneClassifier(**params, device=None, random_state=0).fit(X, y)
    reference = SceneClassifier(**params, device="cpu", random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), reference.predict_proba(X))
