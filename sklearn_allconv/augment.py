"""Augmentations of padded training batches: time shift, SpecAugment masks, mixup.

None of them is in the paper; all are off by default. Pass one or a list to
the estimators' ``augment`` parameter (``SceneClassifier(augment=[SpecMask(),
Mixup()])``): the collate functions apply them, in order, to each training
batch after padding and cropping, never to validation or prediction batches.

An augmentation is called on a padded batch ``(X, lengths, targets)``:

- ``X``: float tensor of shape (batch, frames, bins), zero after each clip's
  valid frames (the padding);
- ``lengths``: int64 CPU tensor of shape (batch,), each clip's valid frames;
- ``targets``: float tensor of shape (batch, n_outputs), one-hot class
  probabilities for :class:`~sklearn_allconv.SceneClassifier` (the estimator
  turns class indices into them when ``augment`` is set) and 0/1 tags for
  :class:`~sklearn_allconv.AudioTagger`;

and returns a new triple of the same kinds, leaving its inputs unchanged.
Each keeps the padding zero and changes only valid frames. Randomness comes
from torch's global generator on the CPU, which the estimators seed in
``fit``: a fit with an int ``random_state`` gives the same model every time,
whether the batch is on the CPU or on a GPU.
"""

from __future__ import annotations

import inspect
import sys
from abc import ABC, abstractmethod
from numbers import Integral, Real
from typing import Any, cast

import torch

__all__ = ["BatchAugmentation", "Mixup", "SpecMask", "TimeShift"]


class BatchAugmentation(ABC):
    """Base of the batch augmentations: parameters, checks, repr, equality.

    A subclass stores its constructor arguments as attributes of the same
    names (as scikit-learn estimators do), checks them in :meth:`check` and
    transforms a batch in ``_augment``. Instances compare equal when they are
    of the same class with equal parameters, so that ``clone`` and
    ``get_params`` round trips can be checked.

    See Also
    --------
    TimeShift, SpecMask, Mixup : The augmentations.
    """

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, by name.

        Returns
        -------
        dict
            ``{name: value}`` for each parameter of ``__init__``;
            ``type(self)(**self.get_config())`` is an equal augmentation.
        """
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    @abstractmethod
    def check(self) -> None:
        """Check the parameters; the estimators call it at the start of ``fit``.

        Raises
        ------
        ValueError
            If a parameter is out of its range.
        """

    def __call__(
        self, X: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Augment one padded batch.

        Parameters
        ----------
        X : torch.Tensor of shape (batch, frames, bins)
            The padded clips, zero after each clip's valid frames.
        lengths : torch.Tensor of shape (batch,)
            Valid frames of each clip (int64, on the CPU).
        targets : torch.Tensor
            The batch's targets, (batch, n_outputs) floats for the
            augmentations that change them.

        Returns
        -------
        X, lengths, targets : torch.Tensor
            The augmented batch; the inputs are left unchanged.
        """
        self.check()
        if X.ndim != 3 or lengths.shape != (X.shape[0],):
            raise ValueError(
                f"{type(self).__name__} takes a padded batch X of shape (batch, "
                "frames, bins) and one length per clip; got X of shape "
                f"{tuple(X.shape)} and lengths of shape {tuple(lengths.shape)}."
            )
        return self._augment(X, lengths, targets)

    @abstractmethod
    def _augment(
        self, X: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The transformation of a checked batch."""

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.get_config() == cast(BatchAugmentation, other).get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.get_config().items())))


def _check_int(owner: str, name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(
            f"{owner}'s {name} must be an integer of at least {low}, got {value!r}."
        )


def _check_real(owner: str, name: str, value: Any, low: float, high: float,
                *, low_open: bool) -> None:
    number = float(value) if isinstance(value, Real) else float("nan")
    inside = (
        not isinstance(value, bool)
        and (low < number if low_open else low <= number)
        and number <= high
    )
    if not inside:
        interval = (
            "a positive finite number"
            if (low, low_open, high) == (0.0, True, sys.float_info.max)
            else f"a number in {'(' if low_open else '['}{low}, {high}]"
        )
        raise ValueError(f"{owner}'s {name} must be {interval}, got {value!r}.")


def _draw_below(bounds: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Integers drawn uniformly from 0 to ``bounds`` inclusive (CPU, int64)."""
    return (torch.rand(shape, dtype=torch.float64) * (bounds + 1)).long()


class TimeShift(BatchAugmentation):
    """Roll each clip circularly within its own valid frames by a random amount.

    A scene sounds the same from any starting point: a clip of ``n`` valid
    frames is rotated by a shift drawn uniformly from ``-floor(max_fraction *
    n)`` to ``floor(max_fraction * n)`` frames, each clip its own. Frames that
    leave the end come back at the start; the padding after the clip stays
    zero.

    Parameters
    ----------
    max_fraction : float, default=0.5
        Largest shift, as a fraction of each clip's valid frames, in [0, 0.5].
        0.5 makes every rotation of a clip about equally likely; larger
        values would only repeat rotations.

    See Also
    --------
    SpecMask, Mixup : The other augmentations.

    Notes
    -----
    Draws one number per clip from torch's global generator (CPU).

    Examples
    --------
    >>> import torch
    >>> from sklearn_allconv.augment import TimeShift
    >>> X = torch.arange(5.0).reshape(1, 5, 1)
    >>> X[0, 4] = 0.0  # a clip of 4 frames, padded to 5
    >>> _ = torch.manual_seed(0)
    >>> shifted, lengths, _ = TimeShift()(X, torch.tensor([4]), torch.zeros(1, 2))
    >>> sorted(shifted[0, :4, 0].tolist()), shifted[0, 4, 0].item()
    ([0.0, 1.0, 2.0, 3.0], 0.0)
    """

    def __init__(self, max_fraction: float = 0.5) -> None:
        self.max_fraction = max_fraction

    def check(self) -> None:
        """Check ``max_fraction``.

        Raises
        ------
        ValueError
            If ``max_fraction`` is not a number in [0, 0.5].
        """
        _check_real("TimeShift", "max_fraction", self.max_fraction, 0.0, 0.5,
                    low_open=False)

    def _augment(
        self, X: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        reach = (lengths.to(torch.float64) * self.max_fraction).floor().long()
        shifts = _draw_below(2 * reach, (len(lengths),)) - reach
        device = X.device
        positions = torch.arange(X.shape[1], device=device)
        n = lengths.to(device)[:, None]
        # Valid frame p takes frame p - shift (mod n); padding takes itself (0).
        sources = torch.where(
            positions < n,
            torch.remainder(positions - shifts.to(device)[:, None], n),
            positions,
        )
        shifted = torch.gather(X, 1, sources[:, :, None].expand_as(X))
        return shifted, lengths, targets


class SpecMask(BatchAugmentation):
    """SpecAugment's frequency and time masks, within each clip's valid frames.

    As in Park et al. (2019), each clip gets ``freq_masks`` frequency masks:
    a width ``f`` drawn uniformly from 0 to ``freq_width`` bins and a first
    bin uniformly from 0 to ``n_bins - f``; and ``time_masks`` time masks: a
    width ``t`` drawn uniformly from 0 to ``time_width`` frames (at most the
    clip's valid frames) and a first frame uniformly within the clip. Masked
    values are set to 0, the mean of standardized features. Each clip draws
    its own masks; padding is not touched.

    Parameters
    ----------
    freq_masks : int, default=2
        Frequency masks per clip.
    freq_width : int, default=27
        Widest frequency mask, in bins.
    time_masks : int, default=2
        Time masks per clip.
    time_width : int, default=100
        Widest time mask, in frames (1.5 s at the paper's 15 ms hop).

    See Also
    --------
    TimeShift, Mixup : The other augmentations.

    Notes
    -----
    The defaults are Park et al.'s LibriSpeech double policy (``F = 27``,
    ``m_F = 2``, ``T = 100``, ``m_T = 2``, ``p = 1``), which was tuned for 80
    mel bands at a 10 ms hop; the library's default features have 128 mel
    bands at a 15 ms hop, and the paper's 552 linear bins (44.1 kHz), so wider
    frequency masks may suit the latter. Time
    warping, the third SpecAugment operation, is not done.

    References
    ----------
    .. [1] D. S. Park, W. Chan, Y. Zhang, C.-C. Chiu, B. Zoph, E. D. Cubuk
       and Q. V. Le, "SpecAugment: A simple data augmentation method for
       automatic speech recognition", Interspeech 2019.

    Examples
    --------
    >>> import torch
    >>> from sklearn_allconv.augment import SpecMask
    >>> X = torch.ones(2, 50, 40)
    >>> X[1, 30:] = 0.0  # the second clip has 30 frames
    >>> _ = torch.manual_seed(0)
    >>> masked, _, _ = SpecMask(1, 10, 1, 20)(X, torch.tensor([50, 30]), None)
    >>> float(masked[1, 30:].abs().sum())  # the padding stays zero
    0.0
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 27,
        time_masks: int = 2,
        time_width: int = 100,
    ) -> None:
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_width = time_width

    def check(self) -> None:
        """Check the numbers and widths of the masks.

        Raises
        ------
        ValueError
            If one is not a non-negative integer.
        """
        for name, value in self.get_config().items():
            _check_int("SpecMask", name, value, 0)

    def _augment(
        self, X: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, n_frames, n_bins = X.shape
        # Frequency masks: width up to freq_width (at most every bin), then
        # the first bin; time masks the same within each clip's valid frames.
        widths = _draw_below(
            torch.tensor(min(self.freq_width, n_bins)), (batch, self.freq_masks)
        )
        firsts = _draw_below(n_bins - widths, (batch, self.freq_masks))
        freq_masked = _in_ranges(firsts, widths, n_bins, X.device)
        clip_frames = lengths[:, None].expand(batch, self.time_masks)
        widths = _draw_below(clip_frames.clamp(max=self.time_width),
                             (batch, self.time_masks))
        firsts = _draw_below(clip_frames - widths, (batch, self.time_masks))
        time_masked = _in_ranges(firsts, widths, n_frames, X.device)
        # Time masks lie within the valid frames; frequency masks also cover
        # the padding, which is zero already.
        masked = time_masked[:, :, None] | freq_masked[:, None, :]
        return X.masked_fill(masked, 0.0), lengths, targets


def _in_ranges(
    firsts: torch.Tensor, widths: torch.Tensor, size: int, device: torch.device
) -> torch.Tensor:
    """(batch, size) mask: positions inside any [first, first + width) of a row."""
    positions = torch.arange(size, device=device)[None, None, :]
    firsts, widths = firsts.to(device)[:, :, None], widths.to(device)[:, :, None]
    return ((positions >= firsts) & (positions < firsts + widths)).any(dim=1)


class Mixup(BatchAugmentation):
    """Mix each batch with a permutation of itself (Zhang et al., 2018).

    A weight ``lam`` is drawn from Beta(``alpha``, ``alpha``) per batch and
    the clips in a random order ``perm``; clip ``i`` becomes ``lam * X[i] +
    (1 - lam) * X[perm[i]]`` and its targets ``lam * targets[i] + (1 - lam) *
    targets[perm[i]]``: mixed class probabilities for scenes (the cross
    entropy takes them), mixed tags for tagging (the binary cross entropy
    takes soft targets). A mixed clip's valid frames are those of the longer
    of the two; each clip's padding is zero, so past the shorter clip only
    the longer one sounds.

    Parameters
    ----------
    alpha : float, default=0.2
        Concentration of the Beta distribution, positive: small values give
        weights near 0 or 1 (mostly one clip), 1 gives uniform weights.

    See Also
    --------
    TimeShift, SpecMask : The other augmentations.

    Notes
    -----
    Draws ``lam`` first, then the permutation, from torch's global
    generator (CPU). The targets must be floats of shape (batch,
    n_outputs); the estimators give one-hot class probabilities to the
    augmentations of a :class:`~sklearn_allconv.SceneClassifier`. With
    class-probability targets, a ``criterion__weight`` of the cross entropy
    averages over clips rather than over the clips' weights (see
    :class:`torch.nn.CrossEntropyLoss`).

    References
    ----------
    .. [1] H. Zhang, M. Cisse, Y. N. Dauphin and D. Lopez-Paz, "mixup:
       Beyond empirical risk minimization", ICLR 2018.

    Examples
    --------
    >>> import torch
    >>> from sklearn_allconv.augment import Mixup
    >>> X, lengths = torch.ones(4, 20, 8), torch.full((4,), 20)
    >>> targets = torch.eye(2)[[0, 1, 0, 1]]
    >>> _ = torch.manual_seed(0)
    >>> _, _, mixed = Mixup(alpha=0.4)(X, lengths, targets)
    >>> torch.allclose(mixed.sum(dim=1), torch.ones(4))
    True
    """

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha

    def check(self) -> None:
        """Check ``alpha``.

        Raises
        ------
        ValueError
            If ``alpha`` is not a positive finite number.
        """
        _check_real("Mixup", "alpha", self.alpha, 0.0, sys.float_info.max,
                    low_open=True)

    def _augment(
        self, X: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if (
            not torch.is_tensor(targets)
            or not targets.is_floating_point()
            or targets.shape[:1] != X.shape[:1]
            or targets.ndim != 2
        ):
            raise ValueError(
                "Mixup mixes float targets of shape (batch, n_outputs): class "
                "probabilities or 0/1 tags; got "
                + (
                    f"{targets.dtype} targets of shape {tuple(targets.shape)}."
                    if torch.is_tensor(targets)
                    else f"{type(targets).__name__}."
                )
                + " The estimators turn class indices into one-hot "
                "probabilities before augmenting."
            )
        alpha = torch.tensor(float(self.alpha), dtype=torch.float64)
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        perm = torch.randperm(len(X))
        mixed = lam * X + (1.0 - lam) * X[perm.to(X.device)]
        soft = lam * targets + (1.0 - lam) * targets[perm.to(targets.device)]
        return mixed, torch.maximum(lengths, lengths[perm]), soft
