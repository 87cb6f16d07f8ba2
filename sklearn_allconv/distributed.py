"""Data-parallel training: several processes, one model, synchronized batch norm.

Launch the same script once per process with ``torchrun`` (which sets the
``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` environment
variables), initialize the default process group, and fit as usual::

    torchrun --nproc-per-node 2 train.py

    # train.py
    import torch.distributed as dist
    dist.init_process_group("gloo")  # "nccl" on GPUs
    clf = SceneClassifier(random_state=0).fit(X, y)

While a process group of more than one process is initialized, the estimators
wrap their network in :class:`torch.nn.parallel.DistributedDataParallel`
during ``fit`` (:func:`data_parallel`), give each process its share of every
training batch (:class:`DistributedBucketBatchSampler`) and synchronize the
masked batch norm's statistics (:func:`synchronize_batch_norm`), so that a step
on ``k`` processes with ``1/k`` of the batch each is the step one process would
take on the whole batch. ``batch_size`` is then the batch of each process.
Every process computes the validation loss on the whole validation split,
so that early stopping and the learning-rate schedule decide alike
everywhere, and predicts on all the data it is given.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

from .batching import BucketBatchSampler
from .network import MaskedBatchNorm1d

__all__ = [
    "DistributedBucketBatchSampler",
    "data_parallel",
    "distributed_world",
    "synchronize_batch_norm",
]


def distributed_world() -> tuple[int, int]:
    """The rank of this process and the number of processes training together.

    Returns
    -------
    rank : int
        0 when no process group is initialized.
    world_size : int
        1 when no process group is initialized.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def synchronize_batch_norm(module: nn.Module, process_group: Any = None) -> nn.Module:
    """Compute the module's masked batch-norm statistics over a process group.

    Every :class:`~sklearn_allconv.network.MaskedBatchNorm1d` of the module
    then add up their masked sums and valid-frame counts over the
    processes (``all_reduce``) in the forward pass, and the matching sums of
    the backward pass, as :class:`torch.nn.SyncBatchNorm` does for the
    unmasked layer. Every process of the group must run each training batch.

    Parameters
    ----------
    module : torch.nn.Module
        The network; changed in place.
    process_group : ProcessGroup or None, default=None
        The processes to synchronize; None for the default (whole) group.

    Returns
    -------
    torch.nn.Module
        ``module``.
    """
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "synchronize_batch_norm needs an initialized process group: call "
            "torch.distributed.init_process_group first (torchrun sets the "
            "environment it reads)."
        )
    group = dist.group.WORLD if process_group is None else process_group
    for layer in module.modules():
        if isinstance(layer, MaskedBatchNorm1d):
            layer.process_group = group
    return module


@contextlib.contextmanager
def data_parallel(module: nn.Module) -> Iterator[DistributedDataParallel | None]:
    """The module wrapped for data-parallel training while a process group runs.

    Inside the block, the module's masked batch norms are synchronized
    (:func:`synchronize_batch_norm`) and the module is wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel` (which makes the
    parameters equal on all processes and averages the gradients); after it,
    the module is as before, with no reference to the process group (so
    that it pickles). Without a process group of more than one process, it
    yields None and changes nothing.

    Parameters
    ----------
    module : torch.nn.Module
        The network, on its device.

    Yields
    ------
    DistributedDataParallel or None
        The module to run training batches through.
    """
    if distributed_world()[1] == 1:
        yield None
        return
    synchronize_batch_norm(module)
    try:
        # Synchronized statistics keep the running statistics equal: nothing
        # to broadcast before each forward pass (the option's name changed in
        # torch 2.13).
        option = (
            "forward_sync_buffers"
            if "forward_sync_buffers"
            in inspect.signature(DistributedDataParallel).parameters
            else "broadcast_buffers"
        )
        options: dict[str, Any] = {option: False}
        yield DistributedDataParallel(module, **options)
    finally:
        for layer in module.modules():
            if isinstance(layer, MaskedBatchNorm1d):
                vars(layer).pop("process_group", None)


class DistributedBucketBatchSampler(Sampler[list[int]]):
    """Each process's share of length-bucketed training batches.

    Every process builds the same batches of ``batch_size x num_replicas``
    clips of similar length (:class:`~sklearn_allconv.batching.BucketBatchSampler`,
    from a generator seeded alike on every process) and takes every
    ``num_replicas``-th clip of each, starting at its ``rank``. So in each
    epoch the processes see distinct clips, together every clip once, and run
    the same number of batches. A last global batch with fewer clips than
    processes joins another batch, whose shares then differ by one clip.

    Parameters
    ----------
    lengths : sequence of int
        Length (frames) of each clip of the dataset, in dataset order.
    batch_size : int
        Clips per batch and process.
    num_replicas : int or None, default=None
        Processes; None for the size of the default process group.
    rank : int or None, default=None
        This process; None for its rank in the default process group.
    shuffle : bool, default=True
        New random batches every epoch; False cuts the clips sorted by
        decreasing length.
    pool_size : int, default=32
        Global batches per sorting pool, as in ``BucketBatchSampler``.
    drop_last : bool, default=False
        Drop an incomplete last global batch.
    seed : int or None, default=None
        Seed of the batches, which must be equal on all processes. None draws
        it from torch's global generator when the sampler is made (equal on
        all processes when they were seeded alike).

    Examples
    --------
    >>> from sklearn_allconv.distributed import DistributedBucketBatchSampler
    >>> lengths = [50, 10, 48, 12, 49, 11, 51, 9]
    >>> shares = [
    ...     list(DistributedBucketBatchSampler(lengths, 2, num_replicas=2, rank=rank,
    ...                                        seed=0))
    ...     for rank in (0, 1)
    ... ]
    >>> sorted(i for share in shares for batch in share for i in batch)
    [0, 1, 2, 3, 4, 5, 6, 7]
    >>> [len(share) for share in shares]
    [2, 2]
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        pool_size: int = 32,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        world_rank, world_size = distributed_world()
        self.num_replicas = world_size if num_replicas is None else int(num_replicas)
        self.rank = world_rank if rank is None else int(rank)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(
                f"rank must be in [0, num_replicas={self.num_replicas}), got "
                f"{self.rank}."
            )
        if len(lengths) < self.num_replicas:
            raise ValueError(
                f"{len(lengths)} clips cannot give each of {self.num_replicas} "
                "processes one: use fewer processes or more clips."
            )
        if seed is None:
            seed = int(torch.randint(2**62, ()))
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)
        self._global = BucketBatchSampler(
            lengths,
            int(batch_size) * self.num_replicas,
            shuffle=shuffle,
            pool_size=pool_size,
            drop_last=drop_last,
            generator=self._generator,
        )

    def _global_batches(self) -> list[list[int]]:
        batches = list(self._global)
        short = [i for i, batch in enumerate(batches) if len(batch) < self.num_replicas]
        for index in reversed(short):
            if len(batches) > 1:
                batch = batches.pop(index)
                batches[index - 1 if index else 0].extend(batch)
        return batches

    def __len__(self) -> int:
        n_clips = len(self._global.lengths)
        size = self._global.batch_size
        full, rest = divmod(n_clips, size)
        if self._global.drop_last:
            return full
        return full + (rest >= self.num_replicas or full == 0)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._global_batches():
            yield batch[self.rank :: self.num_replicas]
