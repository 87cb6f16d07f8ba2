"""TrainingHistoryDisplay and TagDetCurveDisplay draw what they are given."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.stats import norm
from sklearn.exceptions import NotFittedError
from sklearn.metrics import det_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_allconv import AudioTagger, SceneClassifier, equal_error_rate
from sklearn_allconv.displays import TagDetCurveDisplay, TrainingHistoryDisplay

N_BINS = 6


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _clips(n, seed=0):
    rng = np.random.default_rng(seed)
    X = np.empty(n, dtype=object)
    X[:] = [
        rng.standard_normal((int(rng.integers(16, 40)), N_BINS)).astype(np.float32)
        for _ in range(n)
    ]
    return X


def _scene_classifier(**params):
    X = _clips(32)
    y = np.array(["a", "b"] * 16)
    for clip, label in zip(X, y, strict=True):
        clip[:, 0] += 2.0 if label == "a" else -2.0
    params = {
        "max_epochs": 6,
        "batch_size": 8,
        "lr": 0.01,
        "module__n_filters": 4,
        "random_state": 0,
        **params,
    }
    return SceneClassifier(**params).fit(X, y)


def test_history_display_draws_the_estimators_history():
    clf = _scene_classifier(callbacks__lr_plateau__patience=0, recipe="paper")
    display = TrainingHistoryDisplay.from_estimator(clf)
    history = clf.history_
    np.testing.assert_allclose(
        display.lines_["train_loss"].get_ydata(), history[:, "train_loss"]
    )
    np.testing.assert_allclose(
        display.lines_["valid_loss"].get_ydata(), history[:, "valid_loss"]
    )
    np.testing.assert_allclose(
        display.lines_["learning_rate"].get_ydata(), history[:, "event_lr"]
    )
    best = [row["epoch"] for row in history if row["valid_loss_best"]][-1]
    assert display.lines_["best_epoch"].get_xdata()[0] == best
    assert display.lr_ax_.get_yscale() == "log"
    assert display.figure_ is display.loss_ax_.figure
    labels = display.loss_ax_.get_legend_handles_labels()[1]
    best_label = f"best epoch ({best}, restored)"
    assert labels == ["training loss", "validation loss", best_label]


def test_history_display_marks_no_best_epoch_when_the_last_weights_are_kept():
    # The default recipe keeps the last epoch's weights: no epoch was restored.
    clf = _scene_classifier(callbacks__lr_plateau__patience=0)
    assert any(row["valid_loss_best"] for row in clf.history_[1:])
    display = TrainingHistoryDisplay.from_estimator(clf)
    assert display.best_epoch is None and "best_epoch" not in display.lines_
    labels = display.loss_ax_.get_legend_handles_labels()[1]
    assert labels == ["training loss", "validation loss"]


def test_history_display_without_validation_draws_the_training_loss_only():
    clf = _scene_classifier(train_split=None)
    pipe = make_pipeline(FunctionTransformer(), clf)  # a fitted pipeline works too
    display = TrainingHistoryDisplay.from_estimator(pipe)
    assert set(display.lines_) == {"train_loss"}
    assert display.lr_ax_ is None


def test_history_display_on_given_axes_and_unfitted_estimators():
    clf = _scene_classifier()
    _, (loss_ax, lr_ax) = plt.subplots(2)
    display = TrainingHistoryDisplay.from_estimator(clf, ax=loss_ax, lr_ax=lr_ax)
    assert display.loss_ax_ is loss_ax and display.lr_ax_ is lr_ax
    only_losses = TrainingHistoryDisplay.from_estimator(clf, ax=plt.gca())
    assert only_losses.lr_ax_ is None and "learning_rate" not in only_losses.lines_
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(SceneClassifier())


def test_tag_det_display_marks_each_tags_equal_error_rate():
    rng = np.random.default_rng(0)
    Y = rng.integers(0, 2, size=(80, 3))
    Y[:, 2] = 0  # a tag without positives has no curve
    scores = Y + rng.normal(scale=0.8, size=Y.shape)
    names = ["speech", "music", "silence"]
    display = TagDetCurveDisplay.from_predictions(Y, scores, tag_names=names)
    eer = equal_error_rate(Y, scores, average=None)
    np.testing.assert_array_equal(display.eer, eer)
    assert set(display.curves_) == set(display.eer_points_) == {"speech", "music"}
    for tag, name in enumerate(names[:2]):
        fpr, fnr, _ = det_curve(Y[:, tag], scores[:, tag])
        np.testing.assert_allclose(display.curves_[name].fpr, fpr, atol=1e-12)
        np.testing.assert_allclose(display.curves_[name].fnr, fnr, atol=1e-12)
        point = display.eer_points_[name]
        assert point.get_xdata()[0] == pytest.approx(norm.ppf(eer[tag]))
        assert point.get_ydata()[0] == pytest.approx(norm.ppf(eer[tag]))
        assert point.get_color() == display.curves_[name].line_.get_color()
    labels = display.ax_.get_legend_handles_labels()[1]
    assert labels == [f"speech (EER {eer[0]:.2f})", f"music (EER {eer[1]:.2f})"]


def test_tag_det_display_from_a_fitted_tagger():
    X = _clips(30, seed=1)
    Y = np.zeros((30, 2), dtype=int)
    Y[::2, 0] = 1
    Y[::3, 1] = 1
    tagger = AudioTagger(
        max_epochs=2, module__n_filters=4, train_split=None, random_state=0
    ).fit(X, Y)
    display = TagDetCurveDisplay.from_estimator(tagger, X, Y)
    assert list(display.curves_) == [str(name) for name in tagger.classes_]
    with pytest.raises(ValueError, match="single-label classifier"):
        TagDetCurveDisplay.from_estimator(_scene_classifier(), X, Y)
    with pytest.raises(ValueError, match="2 names for 3 tags"):
        TagDetCurveDisplay.from_predictions(np.c_[Y, Y[:, :1]], np.c_[Y, Y[:, :1]],
                                            tag_names=["a", "b"])
