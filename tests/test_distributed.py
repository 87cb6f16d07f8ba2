"""Data-parallel training: shares of batches per process, synchronized batch norm."""

import os
import pickle

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sklearn_allconv import AllConvNet, SceneClassifier
from sklearn_allconv.distributed import (
    DistributedBucketBatchSampler,
    data_parallel,
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
            with data_parallel(net) as parallel:
                if not synchronized:
                    vars(net.filter_bank_norm).pop("process_group")
                    for norm in net.norms:
                        vars(norm).pop("process_group")
                state = _one_step(parallel, share)
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


# -- a whole fit on two processes ---------------------------------------------


def _fit_on_rank(rank, world_size, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        rng = np.random.default_rng(0)
        X = np.empty(30, dtype=object)
        X[:] = [rng.standard_normal((n, 12), dtype=np.float32) for n in
                rng.integers(20, 80, 30)]
        y = np.arange(30) % 3
        clf = SceneClassifier(
            max_epochs=3, batch_size=4, module__n_filters=8, random_state=0
        ).fit(X, y)
        torch.save(
            {
                "state": clf.module_.state_dict(),
                "proba": clf.predict_proba(X),
                "clips_per_epoch": [
                    sum(batch["train_batch_size"] for batch in epoch["batches"]
                        if "train_batch_size" in batch)
                    for epoch in clf.history
                ],
                "pickled": len(pickle.dumps(clf)),
            },
            os.path.join(out_dir, f"fit-{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_a_fit_on_two_processes_ends_with_the_same_model_on_both(tmp_path):
    mp.spawn(
        _fit_on_rank,
        args=(2, str(tmp_path / "init"), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    ranks = [torch.load(tmp_path / f"fit-{rank}.pt", weights_only=False)
             for rank in (0, 1)]
    for name, value in ranks[0]["state"].items():
        torch.testing.assert_close(ranks[1]["state"][name], value, rtol=0, atol=0)
    np.testing.assert_array_equal(ranks[0]["proba"], ranks[1]["proba"])
    # Each process trained on its half of the training split every epoch.
    per_epoch = np.add(ranks[0]["clips_per_epoch"], ranks[1]["clips_per_epoch"])
    assert len(set(per_epoch)) == 1 and 20 <= per_epoch[0] < 30
    assert abs(ranks[0]["clips_per_epoch"][0] - ranks[1]["clips_per_epoch"][0]) <= 4
    # Unwrapped after the fit: no process group left in the model.
    assert all(rank["pickled"] > 0 for rank in ranks)
