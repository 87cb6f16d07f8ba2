"""Batches: length bucketing, padding, random crops, device-resident clips.

Clips are zero-padded to the longest clip of their batch; every padded frame is
computed and thrown away. Drawing batches from clips of similar length keeps
that waste small while the batches stay random. Batches are assembled on the
host (into page-locked memory for a GPU), or, when the whole training set is
kept on the device, gathered there. Predictions computed in bucketed order are
put back in the order of the clips (:func:`restore_order`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, Subset, default_collate

from .feature_store import FeatureStore

__all__ = [
    "BucketBatchSampler",
    "ClipCrops",
    "ClipIndices",
    "ClipStore",
    "PadCollate",
    "StoreCollate",
    "clip_lengths",
    "evenly_spaced_crops",
    "padding_efficiency",
    "restore_order",
    "root_dataset",
]


class BucketBatchSampler(Sampler[list[int]]):
    """Batch sampler that groups clips of similar length, in random order.

    With ``shuffle=True`` (training), each epoch draws a random permutation of
    the clips, cuts it into pools of ``pool_size`` batches, sorts each pool by
    clip length (ties in random order) and cuts it into batches, and yields all
    batches in random order. Batches are therefore made of clips of similar
    length, their composition changes from epoch to epoch, and long and short
    batches are interleaved at random. With ``shuffle=False`` (prediction), the
    clips are sorted by decreasing length once and cut into batches in that
    order, which is deterministic.

    Pass it to :class:`torch.utils.data.DataLoader` as ``batch_sampler`` (not
    together with ``batch_size``, ``shuffle``, ``sampler`` or ``drop_last``).

    Parameters
    ----------
    lengths : sequence of int
        Length (frames) of each clip of the dataset, in dataset order.
    batch_size : int
        Clips per batch.
    shuffle : bool, default=True
        Random batches, different in every epoch; False gives deterministic
        batches sorted by decreasing length.
    pool_size : int, default=32
        Batches per sorting pool when shuffling. Larger pools give batches of
        more similar lengths (less padding); smaller pools give more varied
        batches. A pool larger than the dataset sorts the whole dataset.
    drop_last : bool, default=False
        Drop the one incomplete batch, if any.
    generator : torch.Generator or None, default=None
        Source of randomness. None draws each epoch's seed from torch's global
        generator, as :class:`torch.utils.data.RandomSampler` does, so that
        ``torch.manual_seed`` makes the batches reproducible.

    See Also
    --------
    padding_efficiency : Useful frames over computed frames of some batches.

    Examples
    --------
    >>> import torch
    >>> from sklearn_allconv.batching import BucketBatchSampler
    >>> lengths = [100, 20, 95, 22, 103, 18]
    >>> sampler = BucketBatchSampler(
    ...     lengths, batch_size=2, generator=torch.Generator().manual_seed(0)
    ... )
    >>> sorted(sorted(lengths[i] for i in batch) for batch in sampler)
    [[18, 20], [22, 95], [100, 103]]
    >>> list(BucketBatchSampler(lengths, batch_size=4, shuffle=False))
    [[4, 0, 2, 3], [1, 5]]
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        shuffle: bool = True,
        pool_size: int = 32,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        for name, value in [("batch_size", batch_size), ("pool_size", pool_size)]:
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1:
            raise ValueError(
                f"lengths must be one length per clip (1-D), got shape "
                f"{self.lengths.shape}."
            )
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.pool_size = int(pool_size)
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self) -> int:
        n_clips = len(self.lengths)
        if self.drop_last:
            return n_clips // self.batch_size
        return -(-n_clips // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable")
            yield from self._cut(order)
            return
        seed = int(torch.randint(2**62, (), generator=self.generator))
        rng = np.random.default_rng(seed)
        permutation = rng.permutation(len(self.lengths))
        pool = self.pool_size * self.batch_size
        batches = []
        for start in range(0, len(permutation), pool):
            members = permutation[start : start + pool]
            # A stable sort keeps equal lengths in their random order.
            members = members[np.argsort(self.lengths[members], kind="stable")]
            batches.extend(self._cut(members))
        for index in rng.permutation(len(batches)):
            yield batches[index]

    def _cut(self, order: np.ndarray) -> list[list[int]]:
        """Consecutive batches of ``order``; pools are whole batches, so only
        the last pool can end in an incomplete batch."""
        stop = len(order)
        if self.drop_last:
            stop -= stop % self.batch_size
        return [
            order[start : min(start + self.batch_size, stop)].tolist()
            for start in range(0, stop, self.batch_size)
        ]


def padding_efficiency(
    lengths: Sequence[int] | np.ndarray, batches: Sequence[Sequence[int]]
) -> float:
    """Useful frames over computed frames when each batch is padded to its longest.

    Parameters
    ----------
    lengths : sequence of int
        Frames of each clip.
    batches : sequence of sequences of int
        Clip indices of each batch, e.g. ``list(sampler)``.

    Returns
    -------
    float
        ``sum(lengths of the batched clips) / sum(batch size x longest clip)``;
        1.0 means no padding.

    Examples
    --------
    >>> from sklearn_allconv.batching import padding_efficiency
    >>> padding_efficiency([8, 4, 8, 8], [[0, 1], [2, 3]])
    0.875
    """
    lengths = np.asarray(lengths)
    useful = computed = 0
    for batch in batches:
        batch_lengths = lengths[np.asarray(batch, dtype=np.int64)]
        useful += int(batch_lengths.sum())
        computed += len(batch_lengths) * int(batch_lengths.max())
    return useful / computed


def _draw_crops(
    lengths: np.ndarray, *, random_crop: bool, min_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """First frames and lengths of the (randomly cropped) clips of one batch.

    With ``random_crop``, one crop length is drawn per batch, uniformly between
    ``min_frames`` and the longest clip (paper section 3.1: "h randomly chosen
    within its valid range"); each longer clip is cut to it at a random offset,
    shorter clips are kept whole and masked. Randomness comes from torch's
    global generator, which the estimators seed.
    """
    starts = np.zeros(len(lengths), dtype=np.int64)
    if random_crop:
        longest = int(lengths.max())
        low = min(min_frames, longest)
        crop = int(torch.randint(low, longest + 1, ()))
        slack = np.maximum(lengths - crop, 0)
        starts = (torch.rand(len(lengths)).numpy() * (slack + 1)).astype(np.int64)
        lengths = np.minimum(lengths, crop)
    return starts, lengths


# A batch augmentation: (X, lengths, targets) -> (X, lengths, targets).
Augmentation = Callable[
    [torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor, Any]
]


def _augment(
    augment: Sequence[Augmentation] | None,
    n_classes: int | None,
    X: torch.Tensor,
    lengths: torch.Tensor,
    targets: Any,
) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Apply the augmentations in order; class indices become one-hot first."""
    if not augment:
        return X, lengths, targets
    if n_classes is not None:
        targets = torch.nn.functional.one_hot(targets, n_classes).float()
    for augmentation in augment:
        X, lengths, targets = augmentation(X, lengths, targets)
    return X, lengths, targets


class PadCollate:
    """Collate (features, target) pairs into a zero-padded batch with lengths.

    The estimators' ``collate_fn`` for clips on the host. With ``random_crop``,
    one crop length is drawn per batch, uniformly between ``min_frames`` and
    the longest clip (paper section 3.1: "h randomly chosen within its valid
    range"); each longer clip is cut to it at a random offset, shorter clips
    are kept whole and masked. Randomness comes from torch's global
    generator, which the estimators seed. The ``augment`` callables then
    transform the padded batch in order (the estimators pass them for
    training batches only). With ``pin_memory`` the batch is written straight
    into page-locked memory (after the augmentations, when there are any),
    from which it is copied to the GPU asynchronously.

    Parameters
    ----------
    random_crop : bool, default=False
        Crop the clips of each batch to a random common length.
    min_frames : int, default=1
        Shortest crop: the network's minimum number of frames.
    pin_memory : bool, default=False
        Build the batch in page-locked memory.
    augment : sequence of callables or None, default=None
        Batch augmentations (:mod:`sklearn_allconv.augment`), each called as
        ``X, lengths, targets = augmentation(X, lengths, targets)``.
    n_classes : int or None, default=None
        With ``augment``: turn class-index targets into one-hot float
        probabilities over this many classes before the augmentations, so
        that they can be mixed. None passes the targets as they are.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv.batching import PadCollate
    >>> clips = [np.ones((5, 3), np.float32), np.ones((2, 3), np.float32)]
    >>> batch, targets = PadCollate()([(clips[0], 0), (clips[1], 1)])
    >>> tuple(batch["X"].shape), batch["lengths"].tolist()
    ((2, 5, 3), [5, 2])
    """

    def __init__(
        self,
        *,
        random_crop: bool = False,
        min_frames: int = 1,
        pin_memory: bool = False,
        augment: Sequence[Augmentation] | None = None,
        n_classes: int | None = None,
    ) -> None:
        self.random_crop = random_crop
        self.min_frames = min_frames
        self.pin_memory = pin_memory
        self.augment = augment
        self.n_classes = n_classes

    def __call__(self, batch: Sequence[tuple[np.ndarray, Any]]) -> tuple[dict, Any]:
        """Collate one batch.

        Parameters
        ----------
        batch : sequence of (clip, target) pairs
            Clips of shape (n_frames, n_bins) and their targets.

        Returns
        -------
        inputs : dict
            ``{"X": batch tensor, "lengths": frames of each clip}``, the
            network's keyword arguments.
        targets : torch.Tensor
            The collated targets.
        """
        clips = [clip for clip, _ in batch]
        starts, lengths = _draw_crops(
            np.array([clip.shape[0] for clip in clips]),
            random_crop=self.random_crop,
            min_frames=self.min_frames,
        )
        shape = (len(clips), int(lengths.max()), clips[0].shape[1])
        if self.pin_memory and not self.augment:
            X = torch.empty(shape, dtype=torch.float32, pin_memory=True)
        else:
            # numpy backs large arrays with huge pages where the system allows
            # it, which torch's allocator does not by default: the fresh batch
            # then costs far fewer page faults.
            X = torch.from_numpy(np.empty(shape, dtype=np.float32))
        # Each frame is written once: the clip, then zeros after it.
        for row, clip, start, length in zip(
            X.numpy(), clips, starts, lengths, strict=True
        ):
            row[:length] = clip[start : start + length]
            row[length:] = 0.0
        targets = default_collate([target for _, target in batch])
        X, frames, targets = _augment(
            self.augment, self.n_classes, X, torch.from_numpy(lengths), targets
        )
        if self.pin_memory and self.augment:
            X = X.pin_memory()
        return {"X": X, "lengths": frames}, targets


class ClipStore:
    """Every clip of a training set in one (frames, bins) tensor on a device.

    Batches are gathered from it on the device (:meth:`batch`), so that an
    epoch copies nothing from the host. One row of zeros follows the last
    clip: padded positions read it. The estimators build one when
    ``data_on_device`` asks for it.

    Parameters
    ----------
    clips : ndarray of object
        The clips, float32 arrays of shape (n_frames, n_bins).
    device : str or torch.device
        Where the frames are kept.
    """

    def __init__(self, clips: np.ndarray, device: torch.device | str) -> None:
        self.clips = clips
        self.lengths = np.array([len(clip) for clip in clips], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.frames = torch.empty(
            (int(self.lengths.sum()) + 1, clips[0].shape[1]),
            dtype=torch.float32,
            device=device,
        )
        for clip, offset in zip(clips, offsets, strict=True):
            self.frames[offset : offset + len(clip)].copy_(torch.from_numpy(clip))
        self.frames[-1] = 0.0
        self.offsets = torch.as_tensor(offsets, device=device)

    @staticmethod
    def nbytes(clips: np.ndarray) -> int:
        """Device memory a store of ``clips`` takes, in bytes.

        Parameters
        ----------
        clips : ndarray of object
            The clips, float32 arrays of shape (n_frames, n_bins).

        Returns
        -------
        int
            The size of their frames in bytes.
        """
        if isinstance(clips, FeatureStore):
            return clips.nbytes  # from its index, without reading the clips
        return 4 * sum(clip.shape[0] * clip.shape[1] for clip in clips)

    def batch(
        self, indices: np.ndarray, starts: np.ndarray, lengths: np.ndarray
    ) -> torch.Tensor:
        """Gather clips ``indices`` from frames ``starts`` on, zero-padded.

        Parameters
        ----------
        indices : ndarray of int
            Positions of the clips in the store.
        starts : ndarray of int
            First frame taken of each clip.
        lengths : ndarray of int
            Frames taken of each clip.

        Returns
        -------
        torch.Tensor of shape (len(indices), lengths.max(), n_bins)
            The batch.
        """
        device = self.frames.device
        n_frames = int(lengths.max())
        first = self.offsets[torch.from_numpy(indices).to(device)] + torch.from_numpy(
            starts
        ).to(device)
        positions = torch.arange(n_frames, device=device)
        rows = torch.where(
            positions < torch.from_numpy(lengths).to(device)[:, None],
            first[:, None] + positions,
            self.frames.shape[0] - 1,
        )
        return self.frames.index_select(0, rows.view(-1)).view(
            len(indices), n_frames, self.frames.shape[1]
        )


class ClipIndices(Dataset):
    """(index into the store, target) pairs of a dataset over the store's clips.

    The items that :class:`StoreCollate` turns into batches.

    Parameters
    ----------
    dataset : torch Dataset
        A dataset of (clip, target) pairs, or a
        :class:`~torch.utils.data.Subset` of one, whose clips the store holds.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self.indices = _root_indices(dataset)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[int, Any]:
        return int(self.indices[i]), self.dataset[i][1]


def _root_indices(dataset: Any) -> np.ndarray:
    """Positions in the underlying dataset of each item of (a subset of) it."""
    if isinstance(dataset, Subset):
        return _root_indices(dataset.dataset)[np.asarray(dataset.indices)]
    return np.arange(len(dataset))


def root_dataset(dataset: Any) -> Any:
    """The dataset under any number of :class:`~torch.utils.data.Subset` layers.

    Parameters
    ----------
    dataset : torch Dataset
        A dataset or a subset of one.

    Returns
    -------
    torch Dataset
        The dataset the subsets select from.
    """
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


class StoreCollate:
    """Collate (store index, target) pairs into a padded batch gathered on the device.

    Draws the same crops and augmentations as :class:`PadCollate` from the
    same generator, so that both give identical batches; the augmentations
    run on the device.

    Parameters
    ----------
    store : ClipStore
        The clips on the device.
    random_crop : bool, default=False
        Crop the clips of each batch to a random common length.
    min_frames : int, default=1
        Shortest crop: the network's minimum number of frames.
    augment : sequence of callables or None, default=None
        Batch augmentations, as for :class:`PadCollate`.
    n_classes : int or None, default=None
        One-hot class targets before the augmentations, as for
        :class:`PadCollate`.
    """

    def __init__(
        self,
        store: ClipStore,
        *,
        random_crop: bool = False,
        min_frames: int = 1,
        augment: Sequence[Augmentation] | None = None,
        n_classes: int | None = None,
    ) -> None:
        self.store = store
        self.random_crop = random_crop
        self.min_frames = min_frames
        self.augment = augment
        self.n_classes = n_classes

    def __call__(self, batch: Sequence[tuple[int, Any]]) -> tuple[dict, Any]:
        """Collate one batch.

        Parameters
        ----------
        batch : sequence of (store index, target) pairs
            Items of a :class:`ClipIndices`.

        Returns
        -------
        inputs : dict
            ``{"X": batch tensor on the device, "lengths": frames of each
            clip}``, the network's keyword arguments.
        targets : torch.Tensor
            The collated targets.
        """
        indices = np.array([index for index, _ in batch], dtype=np.int64)
        starts, lengths = _draw_crops(
            self.store.lengths[indices],
            random_crop=self.random_crop,
            min_frames=self.min_frames,
        )
        X = self.store.batch(indices, starts, lengths)
        targets = default_collate([target for _, target in batch])
        X, frames, targets = _augment(
            self.augment, self.n_classes, X, torch.from_numpy(lengths), targets
        )
        return {"X": X, "lengths": frames}, targets


def evenly_spaced_crops(
    lengths: Sequence[int] | np.ndarray, n_crops: int, *, min_frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place ``n_crops`` crops per clip, evenly spaced, for test-time averaging.

    A clip of ``n`` frames gives ``n_crops`` crops of ``n // 2`` frames (about
    the mean length of a random training crop, drawn uniformly between
    ``min_frames`` and the clip's length) whose first frames are evenly spaced
    from the start of the clip to ``n - n // 2``, so that the first crop
    starts the clip and the last one ends it. A clip shorter than
    ``2 * min_frames`` frames, whose half would be too short for the network,
    gives one crop: the whole clip.

    Parameters
    ----------
    lengths : sequence of int
        Frames of each clip.
    n_crops : int
        Crops per clip, at least 1; 1 gives each whole clip.
    min_frames : int
        The network's minimum number of frames.

    Returns
    -------
    clips : ndarray of int64
        The clip each crop is taken from, in increasing order.
    starts : ndarray of int64
        The first frame of each crop.
    crop_lengths : ndarray of int64
        The frames of each crop.

    Examples
    --------
    >>> from sklearn_allconv.batching import evenly_spaced_crops
    >>> clips, starts, lengths = evenly_spaced_crops([100, 20], 3, min_frames=15)
    >>> clips.tolist(), starts.tolist(), lengths.tolist()
    ([0, 0, 0, 1], [0, 25, 50, 0], [50, 50, 50, 20])
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    cropped = (n_crops > 1) & (lengths >= 2 * min_frames)
    per_clip = np.where(cropped, n_crops, 1)
    clips = np.repeat(np.arange(len(lengths)), per_clip)
    crop_lengths = np.where(cropped, lengths // 2, lengths)[clips]
    # k-th crop of its clip: 0 .. per_clip - 1.
    first_row = np.concatenate([[0], np.cumsum(per_clip)[:-1]])
    k = np.arange(len(clips)) - first_row[clips]
    slack = lengths[clips] - crop_lengths
    steps = np.maximum(per_clip[clips] - 1, 1)
    starts = np.rint(k * slack / steps).astype(np.int64)
    return clips, starts, crop_lengths


class ClipCrops(Dataset):
    """(crop, 0) items: frames ``starts[i]`` on of clip ``clips[i]``.

    The dataset of test-time crops (:func:`evenly_spaced_crops`) that the
    estimators predict on; clips are read and cut when a batch is made, so a
    :class:`~sklearn_allconv.feature_store.FeatureStore` is read clip by clip.

    Parameters
    ----------
    source : ndarray of object or FeatureStore
        The clips, float32 arrays of shape (n_frames, n_bins).
    clips : ndarray of int
        The clip of ``source`` each crop comes from.
    starts : ndarray of int
        First frame of each crop.
    lengths : ndarray of int
        Frames of each crop.
    """

    def __init__(
        self, source: Any, clips: np.ndarray, starts: np.ndarray, lengths: np.ndarray
    ) -> None:
        self.source = source
        self.clips = clips
        self.starts = starts
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        start = int(self.starts[i])
        clip = self.source[int(self.clips[i])]
        return clip[start : start + int(self.lengths[i])], 0


def restore_order(outputs: list[Any], order: torch.Tensor) -> Any:
    """Concatenate batch outputs and put their rows back in the original order.

    Parameters
    ----------
    outputs : list of torch.Tensor or of tuples of them
        The outputs of the batches, computed in the order ``order``.
    order : torch.Tensor of int
        The original position of each row of the concatenated outputs.

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        The rows in their original order.
    """
    if isinstance(outputs[0], tuple):
        return tuple(
            restore_order([output[i] for output in outputs], order)
            for i in range(len(outputs[0]))
        )
    gathered = torch.cat(outputs)
    restored = torch.empty_like(gathered)
    restored[order.to(gathered.device)] = gathered
    return restored


def clip_lengths(dataset: Any) -> np.ndarray:
    """Count the frames of each clip of a (subset of a) dataset of spectrograms.

    Parameters
    ----------
    dataset : torch Dataset
        A skorch dataset of spectrograms, or a subset of one.

    Returns
    -------
    ndarray of int64
        The number of frames of each clip.
    """
    if isinstance(dataset, Subset):
        return clip_lengths(dataset.dataset)[np.asarray(dataset.indices)]
    if isinstance(dataset, ClipCrops):
        return np.asarray(dataset.lengths, dtype=np.int64)
    clips = getattr(dataset, "X", None)
    if isinstance(clips, FeatureStore):
        return clips.n_frames.astype(np.int64)
    if isinstance(clips, np.ndarray) and clips.dtype == object:
        return np.array([len(clip) for clip in clips], dtype=np.int64)
    if isinstance(clips, np.ndarray) and clips.ndim == 3:
        return np.full(len(clips), clips.shape[1], dtype=np.int64)
    # Any other dataset: read the lengths off its items, once per iterator.
    return np.array([len(dataset[i][0]) for i in range(len(dataset))], np.int64)
