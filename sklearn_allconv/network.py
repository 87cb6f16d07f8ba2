"""The all-convolutional network with masked global pooling (paper section 3.1)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "AllConvNet",
    "MaskedBatchNorm1d",
    "MaskedGlobalPooling",
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
    """

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
        if self.training and x.shape[0] * x.shape[2] == 1:
            # One value per channel has no batch statistics (BatchNorm1d raises):
            # normalize this batch with the running statistics instead.
            return F.batch_norm(
                x,
                self.running_mean,
                self.running_var,
                self.weight,
                self.bias,
                training=False,
                eps=self.eps,
            )
        if mask is None or not self.training:
            return super().forward(x)
        weight = mask.to(x.dtype)
        count = weight.sum() * 1.0
        mean = (x * weight).sum(dim=(0, 2)) / count
        centred = x - mean[None, :, None]
        var = (centred.square() * weight).sum(dim=(0, 2)) / count
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            momentum = (
                1.0 / float(self.num_batches_tracked)
                if self.momentum is None
                else self.momentum
            )
            unbiased = var * (count / (count - 1).clamp(min=1))
            self.running_mean.lerp_(mean.detach(), momentum)
            self.running_var.lerp_(unbiased.detach(), momentum)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return centred * scale[None, :, None] + self.bias[None, :, None]


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

    Attributes
    ----------
    min_frames : int
        The fewest frames a clip may have: the strided convolutions are
        unpadded, so a clip needs ``min_frames`` frames (15 with the defaults,
        225 ms at a 15 ms hop) to produce one frame after layer 4.

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
    ) -> None:
        super().__init__()
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
            lengths = torch.full((X.shape[0],), n_frames, device=X.device)
        lengths = lengths.to(device=X.device, dtype=torch.long)
        shortest = int(lengths.min())
        if shortest < self.min_frames:
            raise ValueError(
                f"A clip in this batch has {shortest} frames; the network needs at "
                f"least {self.min_frames}. Pad or drop short clips."
            )
        # Skip the masking arithmetic when no clip in the batch is padded.
        padded = shortest < n_frames
        x = X.transpose(1, 2)
        x = self.filter_bank(x)
        mask = frame_mask(lengths, x.shape[2]) if padded else None
        x = F.relu(self.filter_bank_norm(x, mask))
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = conv(x)
            lengths = output_lengths(
                lengths, kernel_size=self.kernel_size, stride=self.stride
            )
            mask = frame_mask(lengths, x.shape[2]) if padded else None
            x = F.relu(norm(x, mask))
        return self.output(self.pool(x, lengths, mask))
