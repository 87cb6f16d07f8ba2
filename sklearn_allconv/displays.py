"""Plots that scikit-learn's displays lack, in their style.

scikit-learn draws confusion matrices (:class:`~sklearn.metrics.ConfusionMatrixDisplay`)
and single DET curves (:class:`~sklearn.metrics.DetCurveDisplay`). This module adds,
with the same ``from_estimator`` / ``from_predictions`` / ``plot`` interface and
fitted-attribute naming, the per-epoch training history of a network and the DET
curves of every tag of a tagger with its equal error rate marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import DetCurveDisplay, det_curve
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import EarlyStopping

from ._optional import import_optional
from .metrics import equal_error_rate

__all__ = ["TagDetCurveDisplay", "TrainingHistoryDisplay"]


def _restored_best(network: Any) -> bool:
    """Whether ``network``'s early stopping restores its best validation epoch."""
    return any(
        isinstance(callback, EarlyStopping)
        and callback.load_best
        and callback.monitor == "valid_loss"
        for _, callback in getattr(network, "callbacks_", [])
    )


class TrainingHistoryDisplay:
    """Training and validation loss, and the learning rate, per epoch.

    The training recipe halves the learning rate when the validation loss
    stops improving, and early stopping restores the weights of the best epoch
    where the recipe asks for it (``recipe="paper"``, ``AudioTagger``); this
    display shows both. Build it with :meth:`from_estimator`
    from a fitted :class:`~sklearn_allconv.SceneClassifier` or
    :class:`~sklearn_allconv.AudioTagger` (or a pipeline ending in one), or
    from the values directly.

    Parameters
    ----------
    epochs : array-like of shape (n_epochs,)
        Epoch numbers.
    train_loss : array-like of shape (n_epochs,)
        Mean training loss of each epoch.
    valid_loss : array-like of shape (n_epochs,), default=None
        Validation loss of each epoch; None without a validation split.
    learning_rate : array-like of shape (n_epochs,), default=None
        Learning rate of each epoch; None if it was not recorded.
    best_epoch : int, default=None
        The epoch whose weights the estimator kept, marked by a vertical line.

    Attributes
    ----------
    loss_ax_ : matplotlib Axes
        Axes with the losses.
    lr_ax_ : matplotlib Axes or None
        Axes with the learning rate (log scale), None if it is not drawn.
    figure_ : matplotlib Figure
        Figure holding the axes.
    lines_ : dict of str to matplotlib Line2D
        The drawn lines: ``"train_loss"``, ``"valid_loss"``, ``"best_epoch"``
        and ``"learning_rate"``, those that exist.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against training
        set size, rather than against epochs.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv.displays import TrainingHistoryDisplay
    >>> display = TrainingHistoryDisplay(
    ...     epochs=np.arange(1, 4),
    ...     train_loss=[1.0, 0.7, 0.5],
    ...     valid_loss=[1.1, 0.9, 0.95],
    ...     learning_rate=[1e-3, 1e-3, 5e-4],
    ...     best_epoch=2,
    ... ).plot()  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        epochs: Any,
        train_loss: Any,
        valid_loss: Any = None,
        learning_rate: Any = None,
        best_epoch: int | None = None,
    ) -> None:
        self.epochs = epochs
        self.train_loss = train_loss
        self.valid_loss = valid_loss
        self.learning_rate = learning_rate
        self.best_epoch = best_epoch

    @classmethod
    def from_estimator(
        cls, estimator: Any, *, ax: Any = None, lr_ax: Any = None
    ) -> TrainingHistoryDisplay:
        """Plot the training history of a fitted network estimator.

        The best epoch is marked when early stopping restored its weights
        (``load_best``); with ``SceneClassifier``'s default recipe the
        estimator keeps the weights of its last epoch, and no epoch is marked.

        Parameters
        ----------
        estimator : SceneClassifier, AudioTagger or Pipeline
            A fitted estimator with a skorch ``history_``, or a fitted pipeline
            whose last step is one.
        ax : matplotlib Axes, default=None
            Axes for the losses; a new figure (with a learning-rate panel
            below) when None.
        lr_ax : matplotlib Axes, default=None
            Axes for the learning rate. When ``ax`` is given and ``lr_ax`` is
            not, the learning rate is not drawn.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with the plot drawn.
        """
        network = estimator[-1] if isinstance(estimator, Pipeline) else estimator
        check_is_fitted(network)
        history = network.history_
        if not len(history):
            raise ValueError(
                f"{type(network).__name__} has no completed epoch in its history_; "
                "fit it for at least one epoch."
            )
        keys = set(history[-1])

        def column(key: str) -> np.ndarray | None:
            # Recorded on every epoch, or not at all (a column with gaps, such
            # as a learning rate logged only on changes, is not a curve).
            if key not in keys or any(key not in epoch for epoch in history):
                return None
            return np.asarray(history[:, key], dtype=float)

        best_epoch = None
        if "valid_loss_best" in keys and _restored_best(network):
            best = [epoch["epoch"] for epoch in history if epoch.get("valid_loss_best")]
            best_epoch = best[-1] if best else None
        display = cls(
            epochs=np.asarray(history[:, "epoch"]),
            train_loss=column("train_loss"),
            valid_loss=column("valid_loss"),
            learning_rate=column("event_lr"),
            best_epoch=best_epoch,
        )
        return display.plot(ax=ax, lr_ax=lr_ax)

    def plot(self, ax: Any = None, *, lr_ax: Any = None) -> TrainingHistoryDisplay:
        """Draw the losses and, if recorded, the learning rate.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes for the losses; a new figure (with a learning-rate panel
            below when there is a learning rate) when None.
        lr_ax : matplotlib Axes, default=None
            Axes for the learning rate. When ``ax`` is given and ``lr_ax`` is
            not, the learning rate is not drawn.

        Returns
        -------
        display : TrainingHistoryDisplay
            This display, with ``loss_ax_``, ``lr_ax_``, ``figure_`` and
            ``lines_`` set.
        """
        plt = import_optional(
            "matplotlib.pyplot", extra="plot", purpose=f"{type(self).__name__}.plot"
        )

        if ax is None:
            if self.learning_rate is not None:
                _, (ax, lr_ax) = plt.subplots(
                    2,
                    1,
                    sharex=True,
                    figsize=(6, 5),
                    height_ratios=(2, 1),
                    layout="constrained",
                )
            else:
                _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        lines = {}
        (lines["train_loss"],) = ax.plot(
            self.epochs, self.train_loss, label="training loss"
        )
        if self.valid_loss is not None:
            (lines["valid_loss"],) = ax.plot(
                self.epochs, self.valid_loss, label="validation loss"
            )
        if self.best_epoch is not None:
            lines["best_epoch"] = ax.axvline(
                self.best_epoch,
                color="grey",
                linestyle=":",
                label=f"best epoch ({self.best_epoch}, restored)",
            )
        ax.set_ylabel("loss")
        ax.legend()
        if lr_ax is not None and self.learning_rate is not None:
            (lines["learning_rate"],) = lr_ax.step(
                self.epochs, self.learning_rate, where="post"
            )
            lr_ax.set_yscale("log")
            lr_ax.set_ylabel("learning rate")
            lr_ax.set_xlabel("epoch")
        else:
            lr_ax = None
            ax.set_xlabel("epoch")
        self.loss_ax_ = ax
        self.lr_ax_ = lr_ax
        self.figure_ = ax.figure
        self.lines_ = lines
        return self


class TagDetCurveDisplay:
    """DET curves of every tag of a tagger, with each equal error rate marked.

    One :class:`~sklearn.metrics.DetCurveDisplay` per tag on shared
    normal-deviate axes; each tag's official DCASE 2016 equal error rate
    (:func:`~sklearn_allconv.metrics.equal_error_rate`) is the dot where its
    curve meets the diagonal (false positive rate = false negative rate).
    Build it with :meth:`from_predictions` or :meth:`from_estimator`.

    Parameters
    ----------
    fpr : list of ndarray or None
        False positive rates of each tag's DET curve; None for a tag whose
        true values are all 0 or all 1 (it has no curve).
    fnr : list of ndarray or None
        False negative rates, as ``fpr``.
    eer : array-like of shape (n_tags,)
        Equal error rate of each tag (NaN for tags without a curve).
    tag_names : sequence of str
        Name of each tag, for the legend.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure holding the axes.
    curves_ : dict of str to DetCurveDisplay
        The DET curve of each tag that has one.
    eer_points_ : dict of str to matplotlib Line2D
        The marker of each tag's equal error rate.

    See Also
    --------
    sklearn.metrics.DetCurveDisplay : The DET curve of one binary problem.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv.displays import TagDetCurveDisplay
    >>> rng = np.random.default_rng(0)
    >>> Y = rng.integers(0, 2, size=(50, 3))
    >>> scores = Y + rng.normal(size=Y.shape)
    >>> display = TagDetCurveDisplay.from_predictions(
    ...     Y, scores, tag_names=["speech", "music", "noise"]
    ... )  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        fpr: Sequence[np.ndarray | None],
        fnr: Sequence[np.ndarray | None],
        eer: Any,
        tag_names: Sequence[str],
    ) -> None:
        self.fpr = fpr
        self.fnr = fnr
        self.eer = eer
        self.tag_names = tag_names

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        X: Any,
        Y: Any,
        *,
        tag_names: Sequence[str] | None = None,
        ax: Any = None,
    ) -> TagDetCurveDisplay:
        """Plot the DET curves of a fitted tagger's probabilities on ``X``.

        Parameters
        ----------
        estimator : AudioTagger or Pipeline
            A fitted multi-label estimator with ``predict_proba`` returning
            one column per tag.
        X : sequence or array-like
            Input of ``estimator.predict_proba``.
        Y : array-like of shape (n_clips, n_tags)
            True 0/1 tags.
        tag_names : sequence of str, default=None
            Legend names; the estimator's ``classes_`` when None.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        display : TagDetCurveDisplay
            The display, with the plot drawn.
        """
        final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
        tags = get_tags(final) if hasattr(final, "__sklearn_tags__") else None
        if (
            tags is not None
            and tags.estimator_type == "classifier"
            and not tags.classifier_tags.multi_label
        ):
            raise ValueError(
                f"{type(final).__name__} is a single-label classifier; "
                "TagDetCurveDisplay draws the tags of a multi-label tagger such "
                "as AudioTagger."
            )
        if tag_names is None:
            tag_names = [str(name) for name in estimator.classes_]
        return cls.from_predictions(
            Y, estimator.predict_proba(X), tag_names=tag_names, ax=ax
        )

    @classmethod
    def from_predictions(
        cls,
        Y_true: Any,
        Y_score: Any,
        *,
        tag_names: Sequence[str] | None = None,
        ax: Any = None,
    ) -> TagDetCurveDisplay:
        """Plot the DET curves of per-tag scores.

        Parameters
        ----------
        Y_true : array-like of shape (n_clips, n_tags)
            True 0/1 tags.
        Y_score : array-like of shape (n_clips, n_tags)
            Scores or probabilities, higher for "tag present".
        tag_names : sequence of str, default=None
            Legend names; ``"tag 0"``, ``"tag 1"``, ... when None.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        display : TagDetCurveDisplay
            The display, with the plot drawn.
        """
        Y_true = np.asarray(Y_true)
        Y_score = np.asarray(Y_score, dtype=float)
        if Y_true.ndim != 2 or Y_true.shape != Y_score.shape:
            raise ValueError(
                f"Y_true and Y_score must be (n_clips, n_tags) arrays of one shape; "
                f"got {Y_true.shape} and {Y_score.shape}."
            )
        n_tags = Y_true.shape[1]
        if tag_names is None:
            tag_names = [f"tag {tag}" for tag in range(n_tags)]
        if len(tag_names) != n_tags:
            raise ValueError(
                f"tag_names has {len(tag_names)} names for {n_tags} tags."
            )
        eer = equal_error_rate(Y_true, Y_score, average=None)
        fpr: list[np.ndarray | None] = []
        fnr: list[np.ndarray | None] = []
        for tag in range(n_tags):
            if np.isnan(eer[tag]):
                fpr.append(None)
                fnr.append(None)
                continue
            tag_fpr, tag_fnr, _ = det_curve(Y_true[:, tag], Y_score[:, tag])
            fpr.append(tag_fpr)
            fnr.append(tag_fnr)
        display = cls(fpr=fpr, fnr=fnr, eer=eer, tag_names=list(tag_names))
        return display.plot(ax=ax)

    def plot(self, ax: Any = None) -> TagDetCurveDisplay:
        """Draw the curves, the equal error rates and the diagonal.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        display : TagDetCurveDisplay
            This display, with ``ax_``, ``figure_``, ``curves_`` and
            ``eer_points_`` set.
        """
        plt = import_optional(
            "matplotlib.pyplot", extra="plot", purpose=f"{type(self).__name__}.plot"
        )
        from scipy.stats import norm

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 6), layout="constrained")
        curves, points = {}, {}
        for name, fpr, fnr, eer in zip(
            self.tag_names, self.fpr, self.fnr, self.eer, strict=True
        ):
            if fpr is None:
                continue
            curve = DetCurveDisplay(fpr=fpr, fnr=fnr).plot(
                ax=ax, name=f"{name} (EER {eer:.2f})"
            )
            curves[name] = curve
            # DetCurveDisplay's axes are normal deviates; 0 and 1 lie outside.
            deviate = norm.ppf(np.clip(eer, 1e-6, 1 - 1e-6))
            (points[name],) = ax.plot(
                deviate, deviate, "o", color=curve.line_.get_color()
            )
        limits = ax.get_xlim()
        ax.plot(limits, limits, ":", color="grey", linewidth=0.8)
        ax.set_xlim(limits)
        ax.set_ylim(limits)
        ax.legend(fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        self.curves_ = curves
        self.eer_points_ = points
        return self
