"""Embeddings and frame-level scores: the network's outputs before the output layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sklearn_allconv import AllConvNet
from sklearn_allconv.network import frame_times, receptive_field

N_BINS = 10


def _net(pooling="mean", seed=0):
    torch.manual_seed(seed)
    net = AllConvNet(n_bins=N_BINS, n_outputs=3, n_filters=6, pooling=pooling)
    # Non-trivial batch-norm statistics, as after training.
    for norm in [net.filter_bank_norm, *net.norms]:
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def _padded_batch(lengths, seed=1):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(len(lengths), max(lengths), N_BINS, generator=generator)
    for i, n in enumerate(lengths):
        X[i, n:] = 0
    return X, torch.tensor(lengths)


def test_logits_are_the_mean_of_the_valid_frame_logits_with_mean_pooling():
    net = _net()
    X, lengths = _padded_batch([70, 40, 15])
    with torch.no_grad():
        logits = net(X, lengths)
        frames, valid = net.frame_logits(X, lengths)
    assert valid.tolist() == [7, 4, 1]
    for i, n in enumerate(valid.tolist()):
        torch.testing.assert_close(frames[i, :n].mean(dim=0), logits[i])


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_embedding_pools_the_valid_frame_embeddings(pooling):
    net = _net(pooling)
    X, lengths = _padded_batch([70, 40, 15])
    with torch.no_grad():
        embedding = net.embed(X, lengths)
        frames, valid = net.embed_frames(X, lengths)
        logits = net(X, lengths)
    reduce = torch.mean if pooling == "mean" else torch.amax
    for i, n in enumerate(valid.tolist()):
        torch.testing.assert_close(embedding[i], reduce(frames[i, :n], dim=0))
    torch.testing.assert_close(net.output(embedding), logits)
    assert embedding.shape == (3, 6) and (embedding >= 0).all()


def test_a_clips_frames_do_not_depend_on_its_batch():
    net = _net()
    X, lengths = _padded_batch([70, 40])
    with torch.no_grad():
        batch, _ = net.frame_logits(X, lengths)
        alone, valid = net.frame_logits(X[1:, :40])
    assert valid.tolist() == [4]
    torch.testing.assert_close(batch[1, :4], alone[0], rtol=0, atol=1e-6)


def test_frame_time_is_the_centre_of_the_input_frames_that_reach_the_frame():
    # Which input frames an output frame depends on, found by its gradient.
    net = _net()
    hop, window = 0.015, 0.025
    X = torch.randn(1, 60, N_BINS, requires_grad=True)
    frames, _ = net.frame_logits(X)
    times = frame_times(frames.shape[1], hop_length=hop, window_length=window)
    for t in range(frames.shape[1]):
        (gradient,) = torch.autograd.grad(frames[0, t].sum(), X, retain_graph=True)
        reached = torch.nonzero(gradient[0].abs().sum(dim=1)).ravel()
        first, last = int(reached.min()), int(reached.max())
        assert last - first + 1 == receptive_field()[0]
        # Input frame i spans [i * hop, i * hop + window).
        span_centre = (first * hop + last * hop + window) / 2
        assert times[t] == pytest.approx(span_centre)


def test_frame_times_are_evenly_spaced_by_the_output_hop():
    times = frame_times(50, hop_length=240, window_length=400)
    np.testing.assert_array_equal(np.diff(times), 8 * 240)
    assert times[0] == 7 * 240 + 200
    assert receptive_field(n_strided_layers=2, kernel_size=5, stride=3) == (17, 9)
