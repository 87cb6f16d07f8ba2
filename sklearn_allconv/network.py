"""The all-convolutional network with masked global pooling (paper section 3.1)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "AllConvNet",
    "MaskedBatchNorm1d",
    "MaskedGlobalPooling",
    "batch_independent_sigmoid",
    "choose_convolution",
    "frame_mask",
    "minimum_frames",
    "output_lengths",
]


def output_lengths(
    lengths: torch.Tensor, *, kernel_size: int, stride: int
) -> torch.Tensor:
    """Number of valid output frames of an unpadded ("valid") convolution.

    Parameters
    ----------
    lengths : Tensor of int
        Valid input frames per clip.
    kernel_size : int
        Convolution kernel size in frames.
    stride : int
        Convolution stride in frames.

    Returns
    -------
    Tensor of int
        ``(lengths - kernel_size) // stride + 1``: the outputs whose receptive
        field lies entirely inside the valid input frames.
    """
    return torch.div(lengths - kernel_size, stride, rounding_mode="floor") + 1


def minimum_frames(
    *, n_strided_layers: int = 3, kernel_size: int = 3, stride: int = 2
) -> int:
    """The fewest input frames that give one output frame after the strided layers.

    Parameters
    ----------
    n_strided_layers : int, default=3
        Number of unpadded strided convolutions.
    kernel_size : int, default=3
        Their kernel size in frames.
    stride : int, default=2
        Their stride in frames.

    Returns
    -------
    int
        15 for the paper's three layers of kernel 3 and stride 2.

    Examples
    --------
    >>> from sklearn_allconv.network import minimum_frames
    >>> minimum_frames()
    15
    """
    frames = 1
    for _ in range(n_strided_layers):
        frames = (frames - 1) * stride + kernel_size
    return frames


def frame_mask(lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Boolean mask of shape (batch, 1, n_frames), True on valid frames.

    Parameters
    ----------
    lengths : Tensor of int, shape (batch,)
        Valid frames per clip.
    n_frames : int
        Padded number of frames.

    Returns
    -------
    Tensor of bool, shape (batch, 1, n_frames)
        ``mask[b, 0, t]`` is True iff ``t < lengths[b]``.
    """
    positions = torch.arange(n_frames, device=lengths.device)
    return (positions < lengths[:, None])[:, None, :]


def batch_independent_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid of ``logits`` whose result does not depend on the batch.

    The prediction nonlinearity of :class:`~sklearn_allconv.AudioTagger`.

    Parameters
    ----------
    logits : torch.Tensor
        Scores of any shape, float32 or lower precision.

    Returns
    -------
    torch.Tensor
        The probabilities, of the dtype and shape of ``logits``.

    Notes
    -----
    torch's vectorized and scalar float32 sigmoids differ in the last bit, and
    which one an element gets depends on its position in the batch. In float64
    both round to the same float32, so a clip's probabilities do not depend on
    the clips batched with it.
    """
    return torch.sigmoid(logits.double()).to(logits.dtype)


def _convolve_frames(
    x: torch.Tensor, weight: torch.Tensor, *, stride: int, implementation: str
) -> torch.Tensor:
    """Unpadded convolution over time of (batch, frames, channels) input, as GEMMs.

    Computes what :func:`torch.nn.functional.conv1d` computes on
    ``x.transpose(1, 2)`` with ``weight`` of shape (out, in, kernel), but in the
    (batch, frames, channels) layout and with plain matrix products, which run
    faster on CPUs than the convolution kernels and need no transposition of
    the input.

    With ``implementation="conv1d"`` the same function is computed by
    :func:`torch.nn.functional.conv1d` (cuDNN on CUDA) on a transposed view.

    Returns
    -------
    Tensor of shape (batch, (frames - kernel) // stride + 1, out)
    """
    if implementation == "conv1d":
        # Autocast casts for conv1d itself; the output is put back in the
        # (batch, frames, channels) layout that batch norm reads without a copy.
        out = F.conv1d(x.transpose(1, 2), weight, stride=stride)
        return out.transpose(1, 2).contiguous()
    device_type = x.device.type
    if not torch.is_autocast_enabled(device_type):
        return _FrameConvolution.apply(x, weight, stride)
    # Cast once here rather than on every product inside, as autocast would.
    dtype = torch.get_autocast_dtype(device_type)
    with torch.autocast(device_type=device_type, enabled=False):
        return _FrameConvolution.apply(x.to(dtype), weight.to(dtype), stride)


# Fastest implementation of a strided layer per (device, dtype, channels,
# kernel, stride), measured once per process.
_MEASURED_CONVOLUTIONS: dict[tuple, str] = {}


def choose_convolution(
    device: torch.device | str,
    *,
    dtype: torch.dtype = torch.float32,
    channels: int = 256,
    kernel_size: int = 3,
    stride: int = 2,
) -> str:
    """The faster implementation of a strided layer on ``device``, by measurement.

    On CUDA devices, the forward and backward pass of a layer of ``channels``
    channels on 64 x 2048 frames, under autocast with ``dtype`` as in
    training, is timed with both implementations (the matrix products of
    :class:`AllConvNet` and cuDNN's :func:`torch.nn.functional.conv1d`),
    median of 5 alternating rounds after a warm-up, and the faster one is
    remembered for the rest of the process. On other
    devices the answer is ``"matmul"`` without measuring: on CPUs the matrix
    products are about 25 % faster (``benchmarks/bench_training.py``).

    Parameters
    ----------
    device : torch.device or str
        The device the network runs on.
    dtype : torch.dtype, default=torch.float32
        The arithmetic of the products: float32, or the autocast dtype.
    channels : int, default=256
        Input and output channels of the layer.
    kernel_size : int, default=3
        Kernel size in frames.
    stride : int, default=2
        Stride in frames.

    Returns
    -------
    {"matmul", "conv1d"}
        The implementation to use.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return "matmul"
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    key = (str(device), dtype, channels, kernel_size, stride)
    if key not in _MEASURED_CONVOLUTIONS:
        _MEASURED_CONVOLUTIONS[key] = _time_convolutions(
            device, dtype, channels, kernel_size, stride
        )
    return _MEASURED_CONVOLUTIONS[key]


def _time_convolutions(
    device: torch.device, dtype: torch.dtype, channels: int, kernel: int, stride: int
) -> str:
    import time

    # A private generator: the measurement must not move the global random
    # state, or a fit would depend on whether an earlier fit measured.
    generator = torch.Generator(device).manual_seed(0)
    # As in training: float32 activations (batch norm's output) of a batch of
    # the paper's size, cast by autocast where the dtype is lower. A smaller
    # probe measures launch overhead, not the layer.
    x = torch.randn(
        64, 2048, channels, device=device, generator=generator
    ).requires_grad_()
    weight = torch.randn(
        channels, channels, kernel, device=device, generator=generator
    ).mul_(channels**-0.5).requires_grad_()
    lower = dtype != torch.float32

    def run(implementation: str) -> float:
        _synchronize(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=lower):
            out = _convolve_frames(
                x, weight, stride=stride, implementation=implementation
            )
        out.float().sum().backward()
        _synchronize(device)
        return time.perf_counter() - start

    implementations = ("matmul", "conv1d")
    times: dict[str, list[float]] = {name: [] for name in implementations}
    with torch.enable_grad():
        for name in implementations:  # warm-up: kernels, cuDNN plans
            run(name)
        for round_ in range(5):
            # Alternating order, so that neither always runs first.
            for name in implementations[:: 1 if round_ % 2 else -1]:
                times[name].append(run(name))
    return min(implementations, key=lambda name: sorted(times[name])[2])


def _synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _FrameConvolution(torch.autograd.Function):
    """Strided convolution over frames as matrix products on views of the input.

    Consecutive groups of ``stride`` frames are read as one row of ``stride *
    channels`` values; all clips' rows are stacked, ``period`` rows per clip.
    Output frame ``t`` is the sum over ``q`` of row ``t + q`` times kernel taps
    ``q * stride`` onwards: ``ceil(kernel / stride)`` products accumulated into
    one buffer, with no unfolded copy of the input. Each clip's last
    ``ceil(kernel / stride) - 1`` rows of that buffer straddle two clips and are
    dropped. The backward pass lays the output gradient out on the same rows,
    with zero rows between clips, so that every product again runs on
    contiguous blocks; autograd's own backward of the sliced products would
    zero-fill and copy whole gradient tensors several times.
    """

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, stride: int
    ) -> torch.Tensor:
        batch, n_frames, channels = x.shape
        out_channels, _, kernel = weight.shape
        n_out = (n_frames - kernel) // stride + 1
        n_groups = -(-kernel // stride)
        period = n_out - 1 + n_groups
        missing = period * stride - n_frames
        if missing > 0:
            # The last row of each clip is incomplete: zeros, which meet no tap.
            x = F.pad(x, (0, 0, 0, missing))
        elif missing < 0:
            x = x[:, : period * stride]
        rows = x.reshape(batch * period, stride * channels)
        # taps[q]: (out, n_taps * in), ordered like the frames in a row.
        taps = [
            weight[:, :, first : first + stride].transpose(1, 2).reshape(
                out_channels, -1
            )
            for first in range(0, kernel, stride)
        ]
        out = torch.mm(rows[:, : taps[0].shape[1]], taps[0].t())
        for q in range(1, n_groups):
            out[: batch * period - q].addmm_(rows[q:, : taps[q].shape[1]], taps[q].t())
        ctx.save_for_backward(rows, *taps)
        ctx.geometry = (n_frames, channels, kernel, stride, n_out, period)
        return out.view(batch, period, out_channels)[:, :n_out].contiguous()

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        rows, *taps = ctx.saved_tensors
        n_frames, channels, kernel, stride, n_out, period = ctx.geometry
        batch, _, out_channels = grad.shape
        lead = len(taps) - 1
        # spread[lead + b * period + t] = grad[b, t], zero elsewhere; the rows
        # that meet group q are then the contiguous block starting at lead - q.
        spread = grad.new_empty(lead + batch * period, out_channels)
        spread[:lead] = 0
        body = spread[lead:].view(batch, period, out_channels)
        body[:, n_out:] = 0
        body[:, :n_out] = grad
        blocks = [
            spread[lead - q : lead - q + batch * period] for q in range(len(taps))
        ]
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            # The first group covers whole rows unless the stride exceeds the
            # kernel, which skips frames.
            if taps[0].shape[1] == rows.shape[1]:
                grad_rows = torch.mm(blocks[0], taps[0])
            else:
                grad_rows = torch.zeros_like(rows)
                grad_rows[:, : taps[0].shape[1]] = torch.mm(blocks[0], taps[0])
            for block, tap in zip(blocks[1:], taps[1:], strict=True):
                grad_rows[:, : tap.shape[1]].addmm_(block, tap)
            grad_x = grad_rows.view(batch, period * stride, channels)
            if period * stride < n_frames:
                grad_x = F.pad(grad_x, (0, 0, 0, n_frames - period * stride))
            else:
                grad_x = grad_x[:, :n_frames]
        if ctx.needs_input_grad[1]:
            grad_weight = grad.new_empty(out_channels, channels, kernel)
            for first, block, tap in zip(
                range(0, kernel, stride), blocks, taps, strict=True
            ):
                n_taps = tap.shape[1] // channels
                product = torch.mm(block.t(), rows[:, : tap.shape[1]])
                grad_weight[:, :, first : first + n_taps] = product.view(
                    out_channels, n_taps, channels
                ).transpose(1, 2)
        return grad_x, grad_weight, None


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalization over (batch, channels, time) that ignores padded frames.

    In training mode the batch statistics (and so the running statistics) are
    computed over the valid frames only; in evaluation mode the running
    statistics are applied element-wise, so padding cannot matter. Without a
    mask it is exactly :class:`torch.nn.BatchNorm1d`, except that a training
    batch with a single value per channel (one clip of the minimum length),
    which has no batch statistics, is normalized with the running statistics
    instead of raising an error.

    Parameters
    ----------
    num_features : int
        Number of channels.
    eps : float, default=1e-5
        Added to the variance for numerical stability.
    momentum : float or None, default=0.1
        Weight of the batch statistics in the running statistics; None for a
        cumulative moving average, as in :class:`torch.nn.BatchNorm1d`.

    Notes
    -----
    The input may be laid out in memory either way; the computation runs on
    the (batch x time, channels) rows of ``x``, which are a view without a copy
    when ``x`` is channels-last in memory (a transposed (batch, time, channels)
    tensor, as :class:`AllConvNet` passes it), and the output has that layout.
    Statistics are computed in float32 even under autocast.

    Data-parallel training: with ``process_group`` set (see
    :func:`sklearn_allconv.distributed.synchronize_batch_norm`), the training
    statistics are those of the valid frames of all processes of the group:
    the masked sums and valid-frame counts are added up over the processes,
    and so are the sums of the backward pass.
    """

    # Always tracked (the constructor has no ``track_running_stats``), so never
    # None, unlike in torch's declaration for batch norms in general.
    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor

    #: Processes whose valid frames give the training statistics; None: this
    #: process alone.
    process_group: Any = None

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Normalize ``x`` with statistics of its valid frames (in training).

        Parameters
        ----------
        x : Tensor of shape (batch, channels, time)
            Activations, padded at the end.
        mask : Tensor of bool, shape (batch, 1, time), optional
            True on valid frames; all frames are valid when omitted.

        Returns
        -------
        Tensor of shape (batch, channels, time)
            The normalized activations.
        """
        batch, channels, n_frames = x.shape
        rows = x.transpose(1, 2).reshape(-1, channels)
        valid = None if mask is None else mask.reshape(-1)
        # Mixed precision must not reach the statistics (as in torch.amp's
        # policy for norms): run them in float32.
        if rows.dtype in (torch.float16, torch.bfloat16):
            rows = rows.float()
        with torch.autocast(device_type=x.device.type, enabled=False):
            out = self._normalize_rows(rows, valid)
        return out.view(batch, n_frames, channels).transpose(1, 2)

    def _normalize_rows(
        self, rows: torch.Tensor, valid: torch.Tensor | None
    ) -> torch.Tensor:
        """Normalize (frames, channels) rows; ``valid`` (frames,) marks real ones."""
        group = self.process_group if self.training else None
        if group is not None and valid is None:
            valid = rows.new_ones(rows.shape[0], dtype=torch.bool)
        if self.training and rows.shape[0] == 1 and group is None:
            # One value per channel has no batch statistics (BatchNorm1d raises):
            # normalize this batch with the running statistics instead.
            return F.batch_norm(
                rows,
                self.running_mean,
                self.running_var,
                self.weight,
                self.bias,
                training=False,
                eps=self.eps,
            )
        if valid is None or not self.training:
            return super().forward(rows)
        out, mean, var, count = _MaskedBatchNorm.apply(
            rows, valid, self.weight, self.bias, self.eps, group
        )
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            momentum = (
                1.0 / float(self.num_batches_tracked)
                if self.momentum is None
                else self.momentum
            )
            unbiased = var * (count / (count - 1).clamp(min=1))
            self.running_mean.lerp_(mean, momentum)
            self.running_var.lerp_(unbiased, momentum)
        return out


# Rows per block of the masked variance: temporaries of a few megabytes.
_BLOCK_ROWS = 8192


class _MaskedBatchNorm(torch.autograd.Function):
    """Training-mode batch norm of (frames, channels) rows over the valid rows.

    Returns the output, the batch mean and biased variance of the valid rows
    and their number. Padded rows are set to zero after centring, so that they
    drop out of every sum; their output is the bias, which does not depend on
    them. The backward pass is the batch-norm gradient on the valid rows, in a
    few in-place passes where autograd would allocate a tensor per operation.
    With a process group, the sums over rows (forward and backward) are sums
    over the rows of all its processes.
    """

    @staticmethod
    def forward(
        ctx: Any,
        rows: torch.Tensor,
        valid: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        eps: float,
        group: Any,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        valid = valid.to(rows.dtype)
        # The sums and the count in one tensor: one all_reduce for both.
        sums = torch.cat([valid @ rows, valid.sum()[None]])
        _all_reduce(sums, group)
        count = sums[-1]
        mean = sums[:-1] / count
        normalized = rows - mean
        normalized *= valid[:, None]
        # Sums of squares block by block: a whole-size temporary costs more in
        # fresh memory pages than the arithmetic (and vector_norm over dim 0 is
        # slow on CPUs).
        squares = sum(
            (block * block).sum(dim=0) for block in normalized.split(_BLOCK_ROWS)
        )
        _all_reduce(squares, group)
        var = squares / count
        invstd = torch.rsqrt(var + eps)
        normalized *= invstd
        ctx.save_for_backward(normalized, valid, weight, invstd)
        ctx.count = count
        ctx.group = group
        ctx.mark_non_differentiable(mean, var, count)
        return torch.addcmul(bias, normalized, weight), mean, var, count

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor, *unused: torch.Tensor
    ) -> tuple[torch.Tensor, None, torch.Tensor, torch.Tensor, None, None]:
        normalized, valid, weight, invstd = ctx.saved_tensors
        grad_bias = grad.sum(dim=0)
        valid_sum = valid @ grad
        work = grad * normalized
        grad_weight = work.sum(dim=0)
        # The parameters' gradients stay this process's own (DistributedDataParallel
        # averages them); the rows' gradients need the sums over all processes.
        if ctx.group is None:
            total_sum, total_weight = valid_sum, grad_weight
        else:
            totals = torch.cat([valid_sum, grad_weight])
            _all_reduce(totals, ctx.group)
            total_sum, total_weight = totals.chunk(2)
        # grad_rows = weight * invstd * (grad - (total_sum + normalized *
        # total_weight) / count) on valid rows, 0 on padded rows.
        torch.addcmul(total_sum, normalized, total_weight, out=work)
        # In tensor arithmetic: reading the count as a number would make a GPU
        # wait here.
        work.div_(-ctx.count).add_(grad)
        work *= weight * invstd
        work *= valid[:, None]
        return work, None, grad_weight, grad_bias, None, None


def _all_reduce(tensor: torch.Tensor, group: Any) -> None:
    """Sum ``tensor`` in place over the processes of ``group`` (if any)."""
    if group is not None:
        torch.distributed.all_reduce(tensor, group=group)


class MaskedGlobalPooling(nn.Module):
    """Global pooling over time that ignores padded frames (paper layer 5).

    Parameters
    ----------
    mode : {"mean", "max"}, default="mean"
        Aggregation over the valid frames. The paper uses the mean and notes that
        any aggregation function could be used.
    """

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        if mode not in ("mean", "max"):
            raise ValueError(f"pooling mode must be 'mean' or 'max', got {mode!r}.")
        self.mode = mode

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pool over the valid frames of each clip.

        Parameters
        ----------
        x : Tensor of shape (batch, channels, time)
            Activations, padded at the end.
        lengths : Tensor of int, shape (batch,)
            Valid frames per clip.
        mask : Tensor of bool, shape (batch, 1, time), optional
            True on valid frames; without it every frame is pooled.

        Returns
        -------
        Tensor of shape (batch, channels)
            Mean (or maximum) over the valid frames.
        """
        if mask is None:
            return x.mean(dim=2) if self.mode == "mean" else x.amax(dim=2)
        if self.mode == "max":
            return x.masked_fill(~mask, float("-inf")).amax(dim=2)
        total = (x * mask.to(x.dtype)).sum(dim=2)
        return total / lengths[:, None].to(x.dtype)

    def extra_repr(self) -> str:
        """Describe the pooling mode in the module's repr.

        Returns
        -------
        str
            ``mode='mean'`` or ``mode='max'``.
        """
        return f"mode={self.mode!r}"


class AllConvNet(nn.Module):
    """The all-convolutional network with masked global pooling (Table 1 of [1]).

    Layer 1 convolves each frame over all frequency bins into ``n_filters``
    channels (a learned filter bank); layers 2 to 4 combine adjacent frames with
    kernel 3 and stride 2; batch normalization then ReLU follow each convolution;
    a masked global pooling layer averages the valid frames; one linear layer
    gives one output (logit) per class. There is no dropout and no hidden
    fully-connected layer.

    Parameters
    ----------
    n_bins : int, default=552
        Frequency bins per input frame (552 at 44.1 kHz, 201 at 16 kHz).
    n_outputs : int, default=15
        Output units: classes (softmax) or tags (sigmoid). The module returns
        logits; the estimators apply the nonlinearity.
    n_filters : int, default=256
        Channels of every convolution.
    n_strided_layers : int, default=3
        Convolutions after the filter bank.
    kernel_size : int, default=3
        Kernel size in frames of the strided convolutions.
    stride : int, default=2
        Stride in frames of the strided convolutions.
    pooling : {"mean", "max"}, default="mean"
        Aggregation of the masked global pooling.
    convolution : {"auto", "matmul", "conv1d"}, default="auto"
        Implementation of the strided layers: matrix products on the
        (batch, frames, channels) layout ("matmul"), or
        :func:`torch.nn.functional.conv1d` on a transposed view ("conv1d",
        cuDNN on CUDA). Both compute the same function. "auto" takes the
        matrix products on CPUs and, on CUDA, the faster of the two for the
        device and arithmetic, measured once per process
        (:func:`choose_convolution`).

    Attributes
    ----------
    min_frames : int
        The fewest frames a clip may have: the strided convolutions are
        unpadded, so a clip needs ``min_frames`` frames (15 with the defaults:
        235 ms of audio with the 25 ms window and 15 ms hop) to produce one
        frame after layer 4.

    Notes
    -----
    The forward pass takes a batch ``X`` of shape (batch, frames, bins), zero
    padded at the end, and ``lengths``, the valid frames of each clip. The
    convolutions are unpadded, so an output frame that counts as valid only
    sees valid input frames; batch normalization in training mode uses only
    valid frames for its statistics, and the pooling averages only valid
    frames. In evaluation mode a clip's output therefore does not depend on the
    clips it is batched with nor on its padding. Clips shorter than
    ``min_frames`` raise a ``ValueError``.

    The convolutions have no bias (batch normalization follows each), so the
    weight counts are those of Table 1: 141,312 for layer 1 at 552 bins,
    196,608 for each of layers 2 to 4, and 3,855 for the output layer with 15
    classes. Batch normalization adds 2 x 256 trainable parameters per layer,
    which Table 1 does not list. Weights are initialized as He et al. (normal,
    fan-in).

    The weights are those of :class:`torch.nn.Conv1d` layers (``filter_bank``,
    ``convs``), and the network computes what those layers compute, but it
    does not call them: it keeps the (batch, frames, bins) layout of its input
    and runs every layer as matrix products (the filter bank is one product
    over all frames; a strided layer is ``ceil(kernel / stride)`` products on
    views that group ``stride`` frames per row, with a hand-written backward
    pass). On CPUs this is about 25 % faster than Conv1d on the transposed
    input (``benchmarks/bench_training.py``); on CUDA the products run on
    cuBLAS, and ``convolution="auto"`` measures them against cuDNN.

    Under :func:`torch.autocast` (mixed precision) the convolutions run in
    the autocast dtype, while batch normalization, the pooling and the output
    layer compute in float32: they are cheap, and this keeps a clip's logits
    independent of its batch to float32 accuracy.

    References
    ----------
    .. [1] L. Hertel, H. Phan and A. Mertins, "Classifying variable-length audio
       files with all-convolutional networks and masked global pooling",
       DCASE 2016.

    Examples
    --------
    >>> import torch
    >>> from sklearn_allconv import AllConvNet
    >>> net = AllConvNet(n_bins=201, n_outputs=7).eval()
    >>> X = torch.randn(2, 100, 201)
    >>> net(X, lengths=torch.tensor([100, 40])).shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        n_bins: int = 552,
        n_outputs: int = 15,
        *,
        n_filters: int = 256,
        n_strided_layers: int = 3,
        kernel_size: int = 3,
        stride: int = 2,
        pooling: str = "mean",
        convolution: str = "auto",
    ) -> None:
        super().__init__()
        if convolution not in ("auto", "matmul", "conv1d"):
            raise ValueError(
                "convolution must be 'auto', 'matmul' or 'conv1d', got "
                f"{convolution!r}."
            )
        for name, value in [
            ("n_bins", n_bins),
            ("n_outputs", n_outputs),
            ("n_filters", n_filters),
            ("kernel_size", kernel_size),
            ("stride", stride),
        ]:
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if int(n_strided_layers) != n_strided_layers or n_strided_layers < 0:
            raise ValueError(
                f"n_strided_layers must be a non-negative integer, got "
                f"{n_strided_layers!r}."
            )
        self.n_bins = n_bins
        self.kernel_size = kernel_size
        self.stride = stride
        self.convolution = convolution
        self.filter_bank = nn.Conv1d(n_bins, n_filters, kernel_size=1, bias=False)
        self.filter_bank_norm = MaskedBatchNorm1d(n_filters)
        self.convs = nn.ModuleList(
            nn.Conv1d(n_filters, n_filters, kernel_size, stride=stride, bias=False)
            for _ in range(n_strided_layers)
        )
        self.norms = nn.ModuleList(
            MaskedBatchNorm1d(n_filters) for _ in range(n_strided_layers)
        )
        self.pool = MaskedGlobalPooling(pooling)
        self.output = nn.Linear(n_filters, n_outputs)
        self.reset_parameters()

    @property
    def min_frames(self) -> int:
        """The fewest input frames that yield one frame after the last layer."""
        return minimum_frames(
            n_strided_layers=len(self.convs),
            kernel_size=self.kernel_size,
            stride=self.stride,
        )

    def reset_parameters(self) -> None:
        """He-initialize the weights; zero the biases; reset batch norm."""
        for conv in [self.filter_bank, *self.convs]:
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
        nn.init.kaiming_normal_(
            self.output.weight, mode="fan_in", nonlinearity="linear"
        )
        nn.init.zeros_(self.output.bias)
        for norm in [self.filter_bank_norm, *self.norms]:
            norm.reset_parameters()

    def forward(
        self, X: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Compute the logits of a padded batch.

        Parameters
        ----------
        X : Tensor of shape (batch, frames, bins)
            Spectrograms, zero padded at the end to a common number of frames.
        lengths : Tensor of int, shape (batch,), optional
            Valid frames per clip; all frames are valid when omitted.

        Returns
        -------
        Tensor of shape (batch, n_outputs)
            Logits.
        """
        if X.ndim != 3 or X.shape[2] != self.n_bins:
            raise ValueError(
                f"Expected input of shape (batch, frames, {self.n_bins}), got "
                f"{tuple(X.shape)}. The network was built for {self.n_bins} "
                "frequency bins."
            )
        n_frames = X.shape[1]
        if lengths is None:
            lengths = torch.full((X.shape[0],), n_frames)
        # Checked where the lengths are: the estimators keep them on the CPU, so
        # that reading them does not wait for the device.
        lengths = torch.as_tensor(lengths).long()
        shortest = int(lengths.min())
        if shortest < self.min_frames:
            raise ValueError(
                f"A clip in this batch has {shortest} frames; the network needs at "
                f"least {self.min_frames}. Pad or drop short clips."
            )
        # Skip the masking arithmetic when no clip in the batch is padded.
        padded = shortest < n_frames
        # The layers run in the (batch, frames, channels) layout of X, as matrix
        # products on Conv1d's weights (see _convolve_frames); batch norm and
        # pooling see (batch, channels, frames) views of it.
        lengths = lengths.to(device=X.device, non_blocking=True)
        implementation = self._convolution_for(X)
        x = F.linear(X, self.filter_bank.weight[:, :, 0])
        mask = frame_mask(lengths, x.shape[1]) if padded else None
        x = self._normalize(self.filter_bank_norm, x, mask)
        layers = cast(
            "Iterable[tuple[nn.Conv1d, MaskedBatchNorm1d]]",
            zip(self.convs, self.norms, strict=True),
        )
        for conv, norm in layers:
            x = _convolve_frames(
                x, conv.weight, stride=self.stride, implementation=implementation
            )
            lengths = output_lengths(
                lengths, kernel_size=self.kernel_size, stride=self.stride
            )
            mask = frame_mask(lengths, x.shape[1]) if padded else None
            x = self._normalize(norm, x, mask)
        pooled = self.pool(x.transpose(1, 2), lengths, mask)
        # Float32 even under autocast: a 256 x n_outputs product costs nothing,
        # and a bfloat16 rounding of the logits would make them depend on the
        # batch (see Notes).
        with torch.autocast(device_type=X.device.type, enabled=False):
            return self.output(pooled.float())

    def _convolution_for(self, X: torch.Tensor) -> str:
        """The strided layers' implementation for this input's device and dtype."""
        if self.convolution != "auto":
            return self.convolution
        device_type = X.device.type
        dtype = (
            torch.get_autocast_dtype(device_type)
            if torch.is_autocast_enabled(device_type)
            else X.dtype
        )
        return choose_convolution(
            X.device,
            dtype=dtype,
            channels=self.filter_bank.out_channels,
            kernel_size=self.kernel_size,
            stride=self.stride,
        )

    @staticmethod
    def _normalize(
        norm: MaskedBatchNorm1d, x: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Batch norm then ReLU of (batch, frames, channels) ``x``, same layout."""
        # Not in place: ReLU on this view of the output would make autograd copy
        # the whole tensor.
        return F.relu(norm(x.transpose(1, 2), mask).transpose(1, 2))
