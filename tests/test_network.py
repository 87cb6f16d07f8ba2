"""AllConvNet: Table 1 of the paper and masked, batch-independent computation."""

import copy
import time
from functools import cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_allconv import AllConvNet, network
from sklearn_allconv.network import (
    MaskedBatchNorm1d,
    MaskedGlobalPooling,
    _convolve_frames,
    choose_convolution,
    frame_mask,
)

N_BINS = 12


def _weight_counts(net):
    return {
        name: parameter.numel()
        for name, parameter in net.named_parameters()
        if "norm" not in name
    }


def test_parameter_counts_match_table_1_for_acoustic_scenes():
    counts = _weight_counts(AllConvNet(n_bins=552, n_outputs=15))
    assert counts == {
        "filter_bank.weight": 141_312,
        "convs.0.weight": 196_608,
        "convs.1.weight": 196_608,
        "convs.2.weight": 196_608,
        "output.weight": 3_840,
        "output.bias": 15,
    }


def test_output_layer_has_256_times_7_plus_7_weights_for_domestic_tags():
    counts = _weight_counts(AllConvNet(n_bins=201, n_outputs=7))
    assert counts["filter_bank.weight"] == 256 * 201
    assert counts["output.weight"] + counts["output.bias"] == 1_799


def test_minimum_length_is_15_frames_and_shorter_clips_raise():
    net = AllConvNet(n_bins=N_BINS, n_outputs=2, n_filters=4).eval()
    assert net.min_frames == 15
    net(torch.randn(1, 15, N_BINS))
    with pytest.raises(ValueError, match="has 14 frames; the network needs at least"):
        net(torch.randn(2, 20, N_BINS), lengths=torch.tensor([20, 14]))


def test_wrong_number_of_bins_raises_a_clear_error():
    net = AllConvNet(n_bins=N_BINS, n_outputs=2, n_filters=4)
    with pytest.raises(ValueError, match="built for 12 frequency bins"):
        net(torch.randn(1, 30, N_BINS + 1))


@cache
def _trained_net(pooling="mean", seed=0):
    """A small network with non-trivial batch-norm running statistics."""
    torch.manual_seed(seed)
    net = AllConvNet(n_bins=N_BINS, n_outputs=3, n_filters=8, pooling=pooling)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        lengths = torch.tensor([40, 25, 15])
        loss = net(torch.randn(3, 40, N_BINS) + 1.0, lengths).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def _pad(clips):
    lengths = torch.tensor([len(clip) for clip in clips])
    batch = torch.zeros(len(clips), int(lengths.max()), N_BINS)
    for row, clip in zip(batch, clips, strict=True):
        row[: len(clip)] = clip
    return batch, lengths


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(15, 70), min_size=1, max_size=6),
    pooling=st.sampled_from(["mean", "max"]),
    seed=st.integers(0, 2**16),
)
def test_eval_output_of_a_clip_does_not_depend_on_its_batch_or_padding(
    lengths, pooling, seed
):
    net = _trained_net(pooling)
    generator = torch.Generator().manual_seed(seed)
    clips = [torch.randn(n, N_BINS, generator=generator) for n in lengths]
    with torch.no_grad():
        alone = torch.cat([net(clip[None]) for clip in clips])
        longer = torch.randn(max(lengths) + 9, N_BINS, generator=generator)
        batch, batch_lengths = _pad([*clips, longer])
        together = net(batch, batch_lengths)[: len(clips)]
        reversed_batch, reversed_lengths = _pad(clips[::-1])
        reordered = net(reversed_batch, reversed_lengths).flip(0)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reordered, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_masked_pooling_equals_plain_pooling_of_the_unpadded_frames(mode):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 10)
    lengths = torch.tensor([10, 4, 7])
    pooled = MaskedGlobalPooling(mode)(x, lengths, frame_mask(lengths, 10))
    for row, n in enumerate(lengths):
        valid = x[row, :, :n]
        expected = valid.mean(dim=1) if mode == "mean" else valid.amax(dim=1)
        torch.testing.assert_close(pooled[row], expected)


def test_train_mode_batch_norm_statistics_ignore_padded_frames():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 10) * 3 + 1
    padded = torch.cat([x, 100 * torch.randn(2, 4, 6)], dim=2)
    plain, masked = torch.nn.BatchNorm1d(4), MaskedBatchNorm1d(4)
    expected = plain(x)
    out = masked(padded, frame_mask(torch.tensor([10, 10]), 16))
    torch.testing.assert_close(out[:, :, :10], expected)
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)


def test_train_mode_network_step_is_the_same_with_or_without_extra_padding():
    torch.manual_seed(0)
    clips = [torch.randn(n, N_BINS) for n in (30, 22, 17)]
    nets = [AllConvNet(n_bins=N_BINS, n_outputs=2, n_filters=8) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    batch, lengths = _pad(clips)
    extra = torch.cat([batch, torch.randn(3, 11, N_BINS) * 50], dim=1)
    out_tight = nets[0].train()(batch, lengths)
    out_extra = nets[1].train()(extra, lengths)
    torch.testing.assert_close(out_tight, out_extra, atol=1e-5, rtol=1e-5)
    for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_weights_are_he_initialized():
    torch.manual_seed(0)
    net = AllConvNet(n_bins=552, n_outputs=15)
    for conv in [net.filter_bank, *net.convs]:
        fan_in = conv.weight[0].numel()
        assert np.isclose(conv.weight.std().item(), np.sqrt(2 / fan_in), rtol=0.05)
    assert not any(conv.bias is not None for conv in [net.filter_bank, *net.convs])


@pytest.mark.parametrize("implementation", ["matmul", "conv1d"])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("n_frames", [9, 10, 11, 16])
def test_frame_convolution_equals_conv1d_with_gradients(
    kernel_size, stride, n_frames, implementation
):
    generator = torch.Generator().manual_seed(kernel_size * 100 + stride * 10)
    x = torch.randn(3, n_frames, 5, generator=generator, requires_grad=True)
    weight = torch.randn(4, 5, kernel_size, generator=generator, requires_grad=True)
    ours = _convolve_frames(
        x, weight, stride=stride, implementation=implementation
    )
    assert ours.is_contiguous()
    reference = F.conv1d(x.transpose(1, 2), weight, stride=stride).transpose(1, 2)
    torch.testing.assert_close(ours, reference)
    upstream = torch.randn(reference.shape, generator=generator)
    grads = torch.autograd.grad(ours, (x, weight), upstream)
    expected = torch.autograd.grad(reference, (x, weight), upstream)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)


def _conv1d_reference(net, X, lengths):
    """The network as Conv1d layers in (batch, channels, frames) layout."""
    x = X.transpose(1, 2)
    layers = [
        (net.filter_bank, net.filter_bank_norm),
        *zip(net.convs, net.norms, strict=True),
    ]
    for conv, norm in layers:
        x = F.conv1d(x, conv.weight, stride=conv.stride)
        if conv is not net.filter_bank:
            lengths = (lengths - net.kernel_size) // net.stride + 1
        x = F.relu(
            F.batch_norm(x, norm.running_mean.clone(), norm.running_var.clone(),
                         norm.weight, norm.bias, training=norm.training)
        )
    mask = frame_mask(lengths, x.shape[2])
    return net.output((x * mask).sum(dim=2) / lengths[:, None])


@pytest.mark.parametrize("training", [False, True])
def test_network_computes_what_conv1d_layers_compute(training):
    net = copy.deepcopy(_trained_net()).train(training)
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(4, 41, N_BINS, generator=generator)
    lengths = torch.full((4,), 41)
    reference = _conv1d_reference(net, X, lengths)
    torch.testing.assert_close(net(X, lengths), reference, atol=1e-5, rtol=1e-5)


def test_masked_batch_norm_gradients_are_exact():
    torch.manual_seed(0)
    norm = MaskedBatchNorm1d(3).double()
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 3, 7, dtype=torch.double, requires_grad=True)
    mask = frame_mask(torch.tensor([7, 4]), 7)
    assert torch.autograd.gradcheck(
        lambda x, weight, bias: norm(x, mask), (x, norm.weight, norm.bias)
    )


def test_network_computes_the_same_with_either_convolution_implementation():
    torch.manual_seed(0)
    matmul = AllConvNet(N_BINS, 3, n_filters=8, convolution="matmul").train()
    conv1d = AllConvNet(N_BINS, 3, n_filters=8, convolution="conv1d").train()
    conv1d.load_state_dict(matmul.state_dict())
    X = torch.randn(3, 40, N_BINS)
    lengths = torch.tensor([40, 31, 17])
    outputs = [net(X, lengths) for net in (matmul, conv1d)]
    torch.testing.assert_close(outputs[0], outputs[1])
    grads = [
        torch.autograd.grad(out.square().sum(), list(net.parameters()))
        for out, net in zip(outputs, (matmul, conv1d), strict=True)
    ]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_unknown_convolution_implementation_raises():
    with pytest.raises(ValueError, match="convolution must be 'auto', 'matmul'"):
        AllConvNet(N_BINS, 2, convolution="cudnn")


def test_automatic_convolution_on_cpu_is_the_matrix_products_without_timing(
    monkeypatch,
):
    def fail(*args):
        raise AssertionError("the CPU choice must not be measured")

    monkeypatch.setattr(network, "_time_convolutions", fail)
    assert choose_convolution("cpu") == "matmul"
    net = AllConvNet(N_BINS, 2, n_filters=4).eval()
    net(torch.randn(1, 20, N_BINS))  # "auto" does not measure on the CPU


@pytest.mark.parametrize("slow", ["matmul", "conv1d"])
def test_convolution_timing_picks_the_faster_implementation(monkeypatch, slow):
    def convolve(x, weight, *, stride, implementation):
        # Equally cheap stand-ins, but for a pause in the slow one.
        if implementation == slow:
            time.sleep(0.05)
        return x[:, :4] * weight.sum()

    monkeypatch.setattr(network, "_convolve_frames", convolve)
    chosen = network._time_convolutions(torch.device("cpu"), torch.float32, 8, 3, 2)
    assert chosen == ({"matmul", "conv1d"} - {slow}).pop()


def test_measured_choice_is_made_once_per_device_and_dtype(monkeypatch):
    calls = []

    def measure(device, dtype, channels, kernel, stride):
        calls.append((device, dtype))
        return "conv1d"

    monkeypatch.setattr(network, "_time_convolutions", measure)
    monkeypatch.setattr(network, "_MEASURED_CONVOLUTIONS", {})
    for _ in range(3):
        assert choose_convolution("cuda:0", dtype=torch.bfloat16) == "conv1d"
    choose_convolution("cuda:0", dtype=torch.float32)
    assert calls == [
        (torch.device("cuda:0"), torch.bfloat16),
        (torch.device("cuda:0"), torch.float32),
    ]


def test_logits_are_float32_and_batch_independent_under_autocast():
    torch.manual_seed(0)
    net = AllConvNet(N_BINS, 3, n_filters=16).eval()
    generator = torch.Generator().manual_seed(2)
    clip = torch.randn(1, 30, N_BINS, generator=generator)
    batch = torch.cat([clip, torch.randn(1, 30, N_BINS, generator=generator)])
    batch = torch.cat([batch, torch.zeros(2, 50, N_BINS)], dim=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        alone = net(clip)
        batched = net(batch, torch.tensor([30, 80]))
    assert alone.dtype == torch.float32
    torch.testing.assert_close(batched[:1], alone, rtol=0, atol=1e-4)
