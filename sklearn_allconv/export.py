"""Export a fitted model to ONNX, for inference with onnxruntime alone.

:func:`export_onnx` writes one ONNX graph. For a fitted
:class:`~sklearn.pipeline.Pipeline` of :class:`~sklearn_allconv.STFTTransformer`
and an estimator the graph runs from raw audio to probabilities: the STFT
(:class:`TorchSTFT`, equal to the transformer's), the standardization, the
network and the output nonlinearity, so that deployment needs neither
PyTorch, librosa nor scikit-learn. For a fitted estimator alone it runs from
standardized spectrograms.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from torch import nn

from ._optional import import_optional
from .features import (
    LOG_FLOOR,
    PCEN_PARAMS,
    PCEN_SCALE,
    STFTTransformer,
    mel_basis,
    pcen_smoothing_coefficient,
)
from .network import AllConvNet, frame_mask

__all__ = ["TorchSTFT", "export_onnx"]


class TorchSTFT(nn.Module):
    """The features of a fitted :class:`~sklearn_allconv.STFTTransformer` in torch.

    Frames of ``n_fft_`` samples every ``hop_length_`` samples (no centring),
    a periodic Hann window, the magnitudes of the first ``n_fft_ // 2 + 1``
    bins of the discrete Fourier transform, divided by their root mean square
    over the clip's valid frames and bins if the transformer's ``normalize``
    is ``"rms"``, pooled into mel bands by the matrix of
    :func:`~sklearn_allconv.features.mel_basis` if it uses mel bands
    (``n_mels_``), the
    transformer's ``compression``
    (``log(magnitude + LOG_FLOOR)``, for ``"log-gain"`` minus the mean over
    the clip's valid frames and bins; for ``"pcen"``, :func:`librosa.pcen`
    with its defaults, its smoothing filter as a causal convolution), then
    ``(value - mean_) / scale_`` per bin in float32 when the transformer
    standardizes: what
    :meth:`STFTTransformer.transform <sklearn_allconv.STFTTransformer.transform>`
    computes on mono float32 audio at the transformer's sample rate, as
    exportable torch operations.

    Parameters
    ----------
    stft : STFTTransformer
        A fitted transformer.

    Notes
    -----
    The transform is one matrix product of the windowed frames with a
    float32 basis of cosines and sines (computed in float64), rather than an
    FFT: exported to ONNX, onnxruntime's DFT operator computes a window of
    1102 samples (44.1 kHz) more than ten times slower than the product, and
    in float32 less accurately. The magnitudes agree with the transformer's
    (scipy's float32 FFT) to about 1e-6 of the largest magnitude of a frame.
    The basis adds ``n_fft_ * (n_fft_ + 2) * 4`` bytes to the module (4.9 MB
    at 44.1 kHz, 0.6 MB at 16 kHz); mel bands add their filters, ``(n_fft_ //
    2 + 1) * n_mels * 4`` bytes (0.3 MB for 128 bands at 44.1 kHz).

    ``compression="pcen"`` smooths each bin with librosa's first-order
    recursive filter, whose impulse response ``b (1 - b)**k`` is here a
    convolution over the last frames up to where it falls below 1e-7 of its
    sum (about 430 frames, 6.5 s, with the defaults), and librosa's initial
    state, that of a constant input of 1, is padding of that value before
    the first frame. The filter is causal: the frames of a clip do not see
    the padding after it.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_allconv import STFTTransformer
    >>> from sklearn_allconv.export import TorchSTFT
    >>> audio = np.random.default_rng(0).standard_normal((2, 8000), np.float32)
    >>> stft = STFTTransformer(sample_rate=16000).fit(audio)
    >>> TorchSTFT(stft)(torch.from_numpy(audio)).shape
    torch.Size([2, 32, 128])
    """

    basis: torch.Tensor
    offset: torch.Tensor
    factor: torch.Tensor
    smoothing: torch.Tensor
    mel: torch.Tensor

    def __init__(self, stft: STFTTransformer) -> None:
        super().__init__()
        if not hasattr(stft, "n_fft_"):
            raise ValueError(
                "TorchSTFT needs a fitted STFTTransformer: call fit first."
            )
        self.n_fft = int(stft.n_fft_)
        self.hop_length = int(stft.hop_length_)
        self.n_bins = int(stft.n_bins_)
        self.normalize = stft.normalize
        self.n_mels = stft.n_mels_
        self.compression = stft.compression
        # The DFT's bins, which are the output's unless mel bands pool them.
        self.n_stft_bins = self.n_fft // 2 + 1
        samples = torch.arange(self.n_fft, dtype=torch.float64)
        bins = torch.arange(self.n_stft_bins, dtype=torch.float64)
        angles = (2 * torch.pi / self.n_fft) * torch.outer(samples, bins)
        window = torch.hann_window(self.n_fft, periodic=True, dtype=torch.float64)
        basis = window[:, None] * torch.cat([torch.cos(angles), torch.sin(angles)], 1)
        self.register_buffer("basis", basis.float())
        mel = (
            np.zeros((0, 0), dtype=np.float32)
            if self.n_mels is None
            else mel_basis(stft.sample_rate, self.n_fft, self.n_mels)
        )
        self.register_buffer("mel", torch.tensor(mel))
        if stft.standardize:
            offset = np.asarray(stft.mean_, dtype=np.float32)
            factor = (1.0 / np.asarray(stft.scale_)).astype(np.float32)
        else:
            offset = np.zeros(self.n_bins, dtype=np.float32)
            factor = np.ones(self.n_bins, dtype=np.float32)
        self.register_buffer("offset", torch.from_numpy(offset))
        self.register_buffer("factor", torch.from_numpy(factor))
        smoothing = (
            _pcen_smoothing(stft.sample_rate / self.hop_length)
            if self.compression == "pcen"
            else np.zeros(0)
        )
        # Reversed: conv1d correlates, the filter convolves.
        self.register_buffer(
            "smoothing", torch.from_numpy(smoothing[::-1].astype(np.float32))
        )

    def forward(
        self, audio: torch.Tensor, n_frames: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Compute the (standardized) STFT magnitudes of equal-length clips.

        Parameters
        ----------
        audio : Tensor of shape (batch, samples)
            Mono float32 audio at the transformer's sample rate, at least
            ``n_fft`` samples.
        n_frames : Tensor of int, shape (batch,), optional
            Valid frames of each clip when the clips are padded: the level of
            ``normalize="rms"`` and the gain of ``compression="log-gain"`` are
            then over those frames only. Without it every frame is the clip's.

        Returns
        -------
        Tensor of shape (batch, 1 + (samples - n_fft) // hop_length, n_bins)
            The features, float32.
        """
        frames = audio.unfold(-1, self.n_fft, self.hop_length)
        spectrum = frames @ self.basis
        real = spectrum[..., : self.n_stft_bins]
        imaginary = spectrum[..., self.n_stft_bins :]
        magnitudes = torch.sqrt(real * real + imaginary * imaginary)
        if self.normalize == "rms":
            rms = torch.sqrt(self._clip_mean(magnitudes * magnitudes, n_frames))
            # A silent clip stays zero.
            magnitudes = magnitudes / torch.where(rms > 0, rms, torch.ones_like(rms))
        if self.n_mels is not None:
            magnitudes = magnitudes @ self.mel
        if self.compression == "pcen":
            magnitudes = self._pcen(magnitudes)
        elif self.compression is not None:
            magnitudes = torch.log(magnitudes + LOG_FLOOR)
        if self.compression == "log-gain":
            magnitudes = magnitudes - self._clip_mean(magnitudes, n_frames)
        return (magnitudes - self.offset) * self.factor

    def _clip_mean(
        self, values: torch.Tensor, n_frames: torch.Tensor | None
    ) -> torch.Tensor:
        """Each clip's mean over its valid frames and all bins, (batch, 1, 1)."""
        if n_frames is None:
            return values.mean(dim=(1, 2), keepdim=True)
        mask = frame_mask(n_frames, values.shape[1]).transpose(1, 2)
        total = (values * mask.to(values.dtype)).sum(dim=(1, 2), keepdim=True)
        counts = (n_frames * values.shape[2]).to(values.dtype)
        return total / counts[:, None, None]

    def _pcen(self, magnitudes: torch.Tensor) -> torch.Tensor:
        """:func:`librosa.pcen` with its defaults on ``magnitudes * PCEN_SCALE``."""
        energy = magnitudes * PCEN_SCALE
        batch, n_frames, n_bins = energy.shape
        series = energy.transpose(1, 2).reshape(batch * n_bins, 1, n_frames)
        series = nn.functional.pad(
            series, (self.smoothing.shape[0] - 1, 0), value=1.0
        )
        smooth = nn.functional.conv1d(series, self.smoothing.view(1, 1, -1))
        smooth = smooth.reshape(batch, n_bins, n_frames).transpose(1, 2)
        gain, bias, power, eps = (
            PCEN_PARAMS[name] for name in ("gain", "bias", "power", "eps")
        )
        # librosa's formulas, in the same order.
        agc = torch.exp(-gain * (math.log(eps) + torch.log1p(smooth / eps)))
        return bias**power * torch.expm1(power * torch.log1p(energy * agc / bias))


def _pcen_smoothing(frame_rate: float) -> np.ndarray:
    """Impulse response of :func:`librosa.pcen`'s smoothing filter, truncated
    where it falls below 1e-7 of its sum."""
    b = pcen_smoothing_coefficient(frame_rate)
    length = math.ceil(math.log(1e-7) / math.log1p(-b))
    return b * (1 - b) ** np.arange(length)


class _InferenceGraph(nn.Module):
    """Padded audio or spectrograms and lengths → the network's outputs.

    The network runs in evaluation mode with its exportable implementations
    (``conv1d`` for the strided layers, batch norm with running statistics),
    which compute the same function as the training implementations, and
    masks every batch.
    """

    def __init__(
        self, network: AllConvNet, nonlinearity: Any, stft: TorchSTFT | None
    ) -> None:
        super().__init__()
        self.stft = stft
        self.network = network
        self.nonlinearity = nonlinearity

    def forward(
        self, inputs: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.stft is None:
            features, n_frames = inputs, lengths
        else:
            n_frames = (
                torch.div(
                    lengths - self.stft.n_fft,
                    self.stft.hop_length,
                    rounding_mode="floor",
                )
                + 1
            )
            features = self.stft(inputs, n_frames)
        frames, valid = self.network.embed_frames(features, n_frames)
        mask = frame_mask(valid, frames.shape[1])
        embedding = self.network.pool(frames.transpose(1, 2), valid, mask)
        proba = self.nonlinearity(self.network.output(embedding))
        frame_proba = self.nonlinearity(self.network.output(frames))
        return proba, embedding, frame_proba, valid


def export_onnx(
    fitted: Any, path: str | os.PathLike, *, opset_version: int | None = None
) -> Path:
    """Write a fitted estimator or STFT + estimator pipeline as an ONNX graph.

    Parameters
    ----------
    fitted : SceneClassifier, AudioTagger or Pipeline
        A fitted estimator, or a fitted :class:`~sklearn.pipeline.Pipeline`
        of an :class:`~sklearn_allconv.STFTTransformer` followed by one.
    path : str or path-like
        The ``.onnx`` file to write (replaced if it exists).
    opset_version : int, optional
        ONNX opset; torch's default when None.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    The graph has two inputs and four outputs:

    - ``audio`` (batch, samples), mono float32 at the transformer's sample
      rate, for a pipeline; ``features`` (batch, frames, bins), standardized
      float32 spectrograms, for an estimator alone. Clips of different
      lengths are zero padded at the end to a common length; both axes are
      dynamic.
    - ``lengths`` (batch,), int64: each clip's valid samples (or frames), at
      least the network's minimum (``module_.min_frames`` frames: 235 ms with
      the paper's STFT), which the graph does not check. Padding is masked
      as in the library, so a clip's outputs do not depend on its batch.
    - ``proba`` (batch, classes): what ``predict_proba`` returns.
    - ``embedding`` (batch, n_filters): what ``transform`` returns.
    - ``frame_proba`` (batch, output frames, classes): what
      ``predict_proba_frames`` returns for each clip, in the first
      ``n_frames`` rows (the others see padding).
    - ``n_frames`` (batch,), int64: each clip's valid output frames.

    Channel selection, file reading and resampling stay outside the graph.
    The network's own strided layers (matrix products with a hand-written
    backward pass) and masked batch norm are replaced in the graph by
    ``conv1d`` and batch norm with the running statistics, which compute the
    same function in evaluation mode; the STFT is :class:`TorchSTFT`.

    Needs ``onnx`` and ``onnxscript`` (``pip install 'sklearn-allconv[onnx]'``,
    which also brings ``onnxruntime`` to run the graph).

    See the user guide's deployment page for running the graph with
    onnxruntime, and ``sklearn-allconv export`` for the command line.
    """
    import_optional("onnx", extra="onnx", purpose="export_onnx")
    import_optional("onnxscript", extra="onnx", purpose="export_onnx")
    graph, example, name, axes = _inference_graph(fitted)
    path = Path(path)
    lengths = torch.full((example.shape[0],), example.shape[1], dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            graph,
            (example, lengths),
            path,
            input_names=[name, "lengths"],
            output_names=["proba", "embedding", "frame_proba", "n_frames"],
            dynamic_shapes=({0: axes[0], 1: axes[1]}, {0: axes[0]}),
            opset_version=opset_version,
            external_data=False,
            dynamo=True,
            verbose=False,
        )
    return path


def _inference_graph(
    fitted: Any,
) -> tuple[_InferenceGraph, torch.Tensor, str, tuple[Any, Any]]:
    """The graph to export, an example input, its name and dynamic axes."""
    # Imported here: estimators imports this module's neighbours, not this one.
    from .estimators import AudioTagger, SceneClassifier

    stft: STFTTransformer | None = None
    estimator = fitted
    if isinstance(fitted, Pipeline):
        steps = [step for _, step in fitted.steps if step not in (None, "passthrough")]
        if len(steps) != 2 or not isinstance(steps[0], STFTTransformer):
            raise ValueError(
                "export_onnx takes a Pipeline of exactly an STFTTransformer and a "
                f"SceneClassifier or AudioTagger; got the steps "
                f"{[type(step).__name__ for step in steps]}. Export the estimator "
                "alone for spectrogram input."
            )
        stft, estimator = steps
    if not isinstance(estimator, (SceneClassifier, AudioTagger)):
        raise TypeError(
            "export_onnx exports a fitted SceneClassifier or AudioTagger (or a "
            f"Pipeline ending in one); got {type(estimator).__name__}."
        )
    estimator.check_is_fitted()
    if estimator.test_crops != 1:
        raise ValueError(
            f"export_onnx exports whole-clip probabilities, but this estimator "
            f"averages test_crops={estimator.test_crops!r} crops per clip in "
            "predict_proba. Set test_crops=1 before exporting (and average "
            "crops of the input yourself if you want them)."
        )
    if stft is not None and not hasattr(stft, "n_fft_"):
        raise ValueError("The pipeline's STFTTransformer is not fitted: fit it first.")
    if not isinstance(estimator.module_, AllConvNet):
        raise TypeError(
            f"export_onnx exports AllConvNet networks; this estimator's module is "
            f"a {type(estimator.module_).__name__}."
        )
    network = copy.deepcopy(estimator.module_).cpu().float().eval()
    # The exportable implementation of the strided layers: the same function.
    network.convolution = "conv1d"
    nonlinearity = estimator._get_predict_nonlinearity()
    torch_stft = None if stft is None else TorchSTFT(stft).eval()
    graph = _InferenceGraph(network, nonlinearity, torch_stft).eval()
    min_frames = network.min_frames
    # An example with several output frames: tracing an axis of size 1 would
    # fix it to 1.
    example_frames = min_frames + 4 * network.stride ** len(network.convs)
    batch = torch.export.Dim("batch", min=1)
    if torch_stft is None:
        example = torch.zeros(2, example_frames, network.n_bins)
        frames = torch.export.Dim("frames", min=min_frames)
        return graph, example, "features", (batch, frames)
    min_samples = torch_stft.n_fft + (min_frames - 1) * torch_stft.hop_length
    example = torch.zeros(
        2, torch_stft.n_fft + (example_frames - 1) * torch_stft.hop_length
    )
    samples = torch.export.Dim("samples", min=min_samples)
    return graph, example, "audio", (batch, samples)

