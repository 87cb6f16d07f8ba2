"""Group-aware internal validation for the estimators' early stopping."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupShuffleSplit,
    ShuffleSplit,
    StratifiedShuffleSplit,
)
from skorch.dataset import ValidSplit

__all__ = ["GroupValidSplit"]


class GroupValidSplit:
    """Internal train/validation split that keeps recording groups together.

    Used as ``train_split`` by the estimators: it holds out ``valid_size`` of the
    training clips for early stopping and the learning-rate schedule. When the
    estimator's ``fit`` receives ``groups`` (recording or location ids), whole
    groups are held out (:class:`~sklearn.model_selection.GroupShuffleSplit`),
    so clips of one recording never sit on both sides.

    Parameters
    ----------
    valid_size : float, default=0.2
        Fraction of the clips (of the groups, when groups are given) held out.
    stratified : bool, default=False
        Stratify the split by class when no groups are given. Falls back to an
        unstratified split when a class has fewer than two clips.
    random_state : int, RandomState instance or None, default=None
        Seed of the split. None uses the seed the estimator derives from its own
        ``random_state``.

    Examples
    --------
    >>> from sklearn_allconv import SceneClassifier, GroupValidSplit
    >>> clf = SceneClassifier(train_split=GroupValidSplit(0.25))
    """

    def __init__(
        self,
        valid_size: float = 0.2,
        *,
        stratified: bool = False,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.valid_size = valid_size
        self.stratified = stratified
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
            Group ids; whole groups are held out when given.
        random_state : int, optional
            Seed used when the split's own ``random_state`` is None.

        Returns
        -------
        dataset_train, dataset_valid : torch Subset
            The two parts.
        """
        seed = self.random_state if self.random_state is not None else random_state
        if groups is not None:
            if len(np.unique(groups)) < 2:
                raise ValueError(
                    "The internal validation split needs at least 2 groups, got 1. "
                    "Pass more groups, or train_split=None to train on all data "
                    "without early stopping."
                )
            cv = GroupShuffleSplit(
                n_splits=1, test_size=self.valid_size, random_state=seed
            )
        elif self.stratified and y is not None and np.ndim(y) == 1 and (
            np.unique(np.asarray(y), return_counts=True)[1].min() >= 2
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
            f"stratified={self.stratified}, random_state={self.random_state})"
        )
