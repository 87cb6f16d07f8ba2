"""Data-parallel training: shares of batches per process, synchronized batch norm."""

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from sklearn_allconv import AllConvNet
from sklearn_allconv.distributed import (
    DistributedBucketBatchSampler,
    distributed_world,
    synchronize_batch_norm,
)

# -- each process's share of the batches --------------------------------------


@pytest.mark.parametrize(("n_clips", "batch_size"), [(37, 4), (40, 5), (9, 4), (3, 2)])
def test_each_rank_sees_distinct_clips_and_together_all_once(n_clips, batch_size):
    lengths = np.random.default_rng(0).integers(10, 500, n_clips)
    samplers = [
        DistributedBucketBatchSampler(
            lengths, batch_size, num_replicas=3, rank=rank, seed=7
        )
        for rank in range(3)
    ]
    for _ in range(3):  # epochs
        shares = [list(sampler) for sampler in samplers]
        seen = [i for share in shares for batch in share for i in batch]
        assert sorted(seen) == list(range(n_clips))
        # The same number of non-empty batches everywhere: no process waits
        # for a step the others do not take.
        assert [len(share) for share in shares] == [len(s) for s in samplers]
        assert len({len(share) for share in shares}) == 1
        assert all(batch for share in shares for batch in share)


def test_batches_change_between_epochs_and_hold_similar_lengths():
    lengths = np.random.default_rng(1).integers(10, 1000, 400)
    sampler = DistributedBucketBatchSampler(
        lengths, 8, num_replicas=2, rank=1, seed=3, pool_size=50
    )
    first, second = list(sampler), list(sampler)
    assert first != second
    spread = np.mean([np.ptp(lengths[batch]) for batch in first])
    assert spread < 0.1 * np.ptp(lengths)


def test_ranks_share_each_global_batch_of_similar_lengths():
    lengths = np.arange(16) * 10 + 10
    shares = [
        list(
            DistributedBucketBatchSampler(
                lengths, 2, num_replicas=2, rank=rank, shuffle=False
            )
        )
        for rank in (0, 1)
    ]
    # Sorted by decreasing length, every other clip of each global batch.
    assert shares[0][0] == [15, 13] and shares[1][0] == [14, 12]


def test_a_bad_rank_or_too_few_clips_is_a_clear_error():
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedBucketBatchSampler([10, 20], 1, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="cannot give each of 3 processes"):
        DistributedBucketBatchSampler([10, 20], 1, num_replicas=3, rank=0)


def test_without_a_process_group_there_is_one_process():
    assert distributed_world() == (0, 1)
    with pytest.raises(RuntimeError, match="init_process_group"):
        synchronize_batch_norm(AllConvNet(n_bins=4, n_outputs=2, n_filters=4))


# -- one step on two processes equals one step on one -------------------------

_N_BINS, _N_OUTPUTS = 12, 3
_LENGTHS = [60, 23, 41, 17, 35, 50, 29, 19]


def _batch(indices):
    """Padded clips of _LENGTHS[indices], their lengths and targets."""
    generator = torch.Generator().manual_seed(0)
    clips = [torch.randn(n, _N_BINS, generator=generator) for n in _LENGTHS]
    targets = torch.arange(len(_LENGTHS)) % _N_OUTPUTS
    lengths = torch.tensor([_LENGTHS[i] for i in indices])
    padded = torch.zeros(len(indices), int(lengths.max()), _N_BINS)
    for row, i in enumerate(indices):
        padded[row, : _LENGTHS[i]] = clips[i]
    return padded, lengths, targets[indices]


def _one_step(net, indices):
    """One Adam step of ``net`` on the clips ``indices``; the state afterwards."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    padded, lengths, targets = _batch(indices)
    loss = torch.nn.functional.cross_entropy(net(padded, lengths=lengths), targets)
    loss.backward()
    optimizer.step()
    module = getattr(net, "module", net)
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _fresh_net():
    torch.manual_seed(0)
    return AllConvNet(n_bins=_N_BINS, n_outputs=_N_OUTPUTS, n_filters=8).train()


def _step_on_rank(rank, world_size, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        share = list(range(rank, len(_LENGTHS), world_size))
        for synchronized in (True, False):
            net = _fresh_net()
            if synchronized:
                synchronize_batch_norm(net)
            state = _one_step(
                DistributedDataParallel(net, broadcast_buffers=False), share
            )
            torch.save(state, os.path.join(out_dir, f"{rank}-{synchronized}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_a_step_on_two_processes_equals_a_step_on_the_whole_batch(tmp_path):
    mp.spawn(
        _step_on_rank,
        args=(2, str(tmp_path / "init"), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    whole = _one_step(_fresh_net(), list(range(len(_LENGTHS))))
    for rank in (0, 1):
        state = torch.load(tmp_path / f"{rank}-True.pt")
        for name, value in whole.items():
            torch.testing.assert_close(state[name], value, atol=1e-5, rtol=0)
    # The test can tell: each process's own statistics give another step.
    unsynchronized = torch.load(tmp_path / "0-False.pt")
    differences = [
        (unsynchronized[name] - value).abs().max().item()
        for name, value in whole.items()
        if value.is_floating_point()
    ]
    assert max(differences) > 1e-3
