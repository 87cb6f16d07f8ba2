"""Internal validation for the estimators' early stopping, by clips or groups."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupShuffleSplit,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)
from skorch.dataset import ValidSplit
from torch.utils.data import Subset

__all__ = ["GroupValidSplit"]


class GroupValidSplit:
    """Internal train/validation split for early stopping and the schedule.

    Used as ``train_split`` by the estimators: it holds out ``valid_size`` of the
    training clips for early stopping and the learning-rate schedule. With
    ``hold_out="groups"``, when the estimator's ``fit`` receives ``groups``
    (recording or location ids), whole groups are held out, so clips of one
    recording never sit on both sides. With ``hold_out="clips"``, single clips
    are held out and ``groups`` are ignored: every recording keeps clips in
    training. The outer cross-validation decides what a score means; this
    split only decides when the learning rate drops and training stops.

    Parameters
    ----------
    valid_size : float, default=0.2
        Fraction of the clips (of the groups, when whole groups are held out)
        held out.
    stratified : bool, default=False
        Stratify the split by class (single-label targets). When clips are held
        out, a :class:`~sklearn.model_selection.StratifiedShuffleSplit`,
        falling back to an unstratified split when a class has fewer than two
        clips or a side would have fewer clips than there are classes. When
        groups are held out, a fold of a shuffled
        :class:`~sklearn.model_selection.StratifiedGroupKFold` with
        ``round(1 / valid_size)`` folds that leaves every class in training, so
        the held-out groups are spread over the classes; a plain
        :class:`~sklearn.model_selection.GroupShuffleSplit` when there are fewer
        groups (or clips of the largest class) than folds. Unstratified group
        splits use ``GroupShuffleSplit``.
    hold_out : {"groups", "clips"}, default="groups"
        What is held out when ``fit`` receives ``groups``: whole groups, or
        single clips (the groups are then not used). Without ``groups`` both
        hold out clips. :class:`~sklearn_allconv.SceneClassifier` holds out
        clips by default: on scene sets with three or four recording locations
        per scene, holding out whole locations takes a fifth of them away from
        training, and cost 1 to 8 points of accuracy on new locations
        (measured; see the training guide).
    random_state : int, RandomState instance or None, default=None
        Seed of the split. None uses the seed the estimator derives from its own
        ``random_state``.

    Examples
    --------
    >>> from sklearn_allconv import SceneClassifier, GroupValidSplit
    >>> clf = SceneClassifier(train_split=GroupValidSplit(0.25))
    >>> clf = SceneClassifier(
    ...     train_split=GroupValidSplit(0.2, stratified=True, hold_out="groups")
    ... )
    """

    def __init__(
        self,
        valid_size: float = 0.2,
        *,
        stratified: bool = False,
        hold_out: str = "groups",
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.valid_size = valid_size
        self.stratified = stratified
        self.hold_out = hold_out
        self.random_state = random_state

    def __call__(
        self,
        dataset: Any,
        y: Any = None,
        groups: Any = None,
        *,
        random_state: int | None = None,
    ) -> tuple[Any, Any]:
        """Split ``dataset`` into a training and a validation subset.

        Parameters
        ----------
        dataset : torch Dataset
            The training data.
        y : array-like, optional
            Encoded targets, used for stratification.
        groups : array-like of shape (n_clips,), optional
            Group ids; whole groups are held out when given and ``hold_out``
            is ``"groups"``.
        random_state : int, optional
            Seed used when the split's own ``random_state`` is None.

        Returns
        -------
        dataset_train, dataset_valid : torch Subset
            The two parts.
        """
        if self.hold_out not in ("groups", "clips"):
            raise ValueError(
                f"hold_out must be 'groups' (whole groups held out) or 'clips' "
                f"(single clips held out, groups not used), got {self.hold_out!r}."
            )
        seed = self.random_state if self.random_state is not None else random_state
        if self.hold_out == "clips":
            groups = None
        if groups is not None:
            if len(np.unique(groups)) < 2:
                raise ValueError(
                    "The internal validation split needs at least 2 groups, got 1. "
                    "Pass more groups, or train_split=None to train on all data "
                    "without early stopping."
                )
            groups = np.asarray(groups)
            if (
                self.stratified
                and y is not None
                and np.ndim(y) == 1
                and len(np.unique(groups)) >= _n_folds(self.valid_size)
                # StratifiedGroupKFold needs a class with a clip in every fold.
                and np.unique(y, return_counts=True)[1].max()
                >= _n_folds(self.valid_size)
            ):
                train, valid = _stratified_group_split(
                    np.asarray(y), groups, self.valid_size, seed
                )
                return Subset(dataset, train.tolist()), Subset(dataset, valid.tolist())
            cv = GroupShuffleSplit(
                n_splits=1, test_size=self.valid_size, random_state=seed
            )
        elif (
            self.stratified
            and y is not None
            and np.ndim(y) == 1
            and _can_stratify(np.asarray(y), self.valid_size)
        ):
            cv = StratifiedShuffleSplit(
                n_splits=1, test_size=self.valid_size, random_state=seed
            )
        else:
            cv = ShuffleSplit(n_splits=1, test_size=self.valid_size, random_state=seed)
        return ValidSplit(cv)(dataset, y, groups=groups)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(valid_size={self.valid_size}, "
            f"stratified={self.stratified}, hold_out={self.hold_out!r}, "
            f"random_state={self.random_state})"
        )


def _can_stratify(y: np.ndarray, valid_size: float) -> bool:
    """Whether a stratified clip split can hold out ``valid_size`` of ``y``.

    :class:`~sklearn.model_selection.StratifiedShuffleSplit` needs two clips
    of every class and a clip of every class on each side: with 24 clips of 8
    scenes, a fifth (5 clips) cannot hold one of each.
    """
    counts = np.unique(y, return_counts=True)[1]
    n_valid = math.ceil(valid_size * len(y)) if valid_size < 1 else int(valid_size)
    n_train = len(y) - n_valid
    return counts.min() >= 2 and min(n_valid, n_train) >= len(counts)


def _n_folds(valid_size: float) -> int:
    """Folds of the stratified group split that hold out ``valid_size`` each."""
    return max(2, round(1 / valid_size))


def _stratified_group_split(
    y: np.ndarray, groups: np.ndarray, valid_size: float, seed: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole groups, about ``valid_size`` of each class.

    The first fold of a shuffled :class:`~sklearn.model_selection.
    StratifiedGroupKFold` with ``round(1 / valid_size)`` folds whose training
    part keeps every class. A random group split can hold out most of one
    class's groups (with three locations of a scene, two of them) and leave the
    network few recordings of it to learn from; this one spreads the held-out
    groups over the classes.
    """
    cv = StratifiedGroupKFold(
        n_splits=_n_folds(valid_size), shuffle=True, random_state=seed
    )
    n_classes = len(np.unique(y))
    with warnings.catch_warnings():
        # "The least populated class has only k members": expected with few
        # recordings per class; the check below keeps every class in training.
        warnings.simplefilter("ignore", UserWarning)
        for train, valid in cv.split(np.zeros(len(y)), y, groups):
            if len(np.unique(y[train])) == n_classes:
                return train, valid
    raise ValueError(
        "The internal validation split cannot hold out whole groups without "
        "taking every group of some class out of training. Pass more groups "
        "per class, GroupValidSplit(hold_out='clips') to hold out clips, or "
        "train_split=None to train on all data without early stopping."
    )
