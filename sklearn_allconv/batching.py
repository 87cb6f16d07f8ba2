"""Length-bucketed batches: clips of similar length share a mini-batch.

Clips are zero-padded to the longest clip of their batch; every padded frame is
computed and thrown away. Drawing batches from clips of similar length keeps
that waste small while the batches stay random.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["BucketBatchSampler", "padding_efficiency"]


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
