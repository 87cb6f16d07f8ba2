"""The HEAR 2021 common API over a saved STFT + network pipeline.

The Holistic Evaluation of Audio Representations (HEAR) benchmark calls three
functions of a module (https://hearbenchmark.com/hear-api.html)::

    model = load_model(model_file_path)
    get_scene_embeddings(audio, model)          # (n_sounds, embedding size)
    get_timestamp_embeddings(audio, model)      # embeddings, timestamps (ms)

This module implements them for a fitted ``Pipeline(STFTTransformer,
SceneClassifier or AudioTagger)`` saved with
:func:`~sklearn_allconv.save_model`, so that the HEAR tools (and the HEAR
validator, ``hear-validator sklearn_allconv.hear --model PATH``) evaluate the
network's embeddings. Scene embeddings are the pooled activations of the last
layer (what the estimators' ``transform`` returns); timestamp embeddings are
those activations at each output frame, before the pooling.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from torch import nn
from torch.nn import functional as F

from .export import TorchSTFT
from .features import STFTTransformer
from .network import AllConvNet, frame_times
from .persistence import load_model as _load_saved_model

__all__ = [
    "HearModel",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]


class HearModel(nn.Module):
    """A fitted STFT + network pipeline as the ``Model`` of the HEAR API.

    Parameters
    ----------
    stft : STFTTransformer
        The fitted feature step.
    network : AllConvNet
        The trained network (``module_`` of the fitted estimator).

    Attributes
    ----------
    sample_rate : int
        The audio sample rate the model expects (the transformer's).
    scene_embedding_size : int
        Size of a scene embedding: the network's ``n_filters``.
    timestamp_embedding_size : int
        Size of a timestamp embedding: the network's ``n_filters``.
    stft : TorchSTFT
        The features, as torch operations.
    network : AllConvNet
        The network, in evaluation mode.
    """

    def __init__(self, stft: STFTTransformer, network: AllConvNet) -> None:
        super().__init__()
        rate = float(stft.sample_rate)
        self.sample_rate: int | float = int(rate) if rate.is_integer() else rate
        self.stft = TorchSTFT(stft)
        self.network = network.eval()
        n_filters = int(network.output.in_features)
        self.scene_embedding_size = n_filters
        self.timestamp_embedding_size = n_filters

    def min_samples(self) -> int:
        """The fewest samples that give one output frame.

        Returns
        -------
        int
            ``n_fft + (min_frames - 1) * hop_length``: 235 ms of audio with
            the paper's STFT.
        """
        return self.stft.n_fft + (self.network.min_frames - 1) * self.stft.hop_length

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """The network's input: standardized STFT magnitudes.

        Parameters
        ----------
        audio : Tensor of shape (n_sounds, n_samples)
            Float32 audio at :attr:`sample_rate`, on the model's device.
            Sounds shorter than :meth:`min_samples` are padded with silence.

        Returns
        -------
        Tensor of shape (n_sounds, n_frames, n_bins)
            What the fitted ``STFTTransformer`` gives for the audio.
        """
        if audio.ndim != 2:
            raise ValueError(
                f"HEAR audio is a (n_sounds, n_samples) tensor; got shape "
                f"{tuple(audio.shape)}."
            )
        missing = self.min_samples() - audio.shape[1]
        if missing > 0:
            audio = F.pad(audio, (0, missing))
        return self.stft(audio.float())

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Compute the timestamp embeddings of equal-length sounds.

        Parameters
        ----------
        audio : Tensor of shape (n_sounds, n_samples)
            Float32 audio at :attr:`sample_rate`, on the model's device.

        Returns
        -------
        Tensor of shape (n_sounds, n_frames, timestamp_embedding_size)
            The last layer's activations at each output frame.
        """
        embeddings, _ = self.network.embed_frames(self.features(audio))
        return embeddings

    def timestamps(self, n_frames: int) -> np.ndarray:
        """Time of each output frame in milliseconds.

        Parameters
        ----------
        n_frames : int
            Number of output frames.

        Returns
        -------
        ndarray of float64, shape (n_frames,)
            The centre of each frame's receptive field
            (:func:`~sklearn_allconv.network.frame_times`), computed in
            samples so that no rounding accumulates.
        """
        network = self.network
        samples = frame_times(
            n_frames,
            hop_length=self.stft.hop_length,
            window_length=self.stft.n_fft,
            n_strided_layers=len(network.convs),
            kernel_size=network.kernel_size,
            stride=network.stride,
        )
        return samples * (1000.0 / float(self.sample_rate))


def load_model(model_file_path: str | os.PathLike = "") -> HearModel:
    """Load a saved STFT + network pipeline as a HEAR model.

    Parameters
    ----------
    model_file_path : str or path-like
        A file written by :func:`~sklearn_allconv.save_model` from a fitted
        ``Pipeline(STFTTransformer(...), SceneClassifier(...))`` (or with an
        ``AudioTagger``).

    Returns
    -------
    HearModel
        A :class:`torch.nn.Module` on the CPU, in evaluation mode; move it
        with ``.to(device)``.

    Raises
    ------
    ValueError
        If no path is given, or the file holds something other than such a
        pipeline.

    Notes
    -----
    The HEAR validator accepts the sample rates 16000, 22050, 32000, 44100
    and 48000 Hz; a pipeline fitted at another rate loads, but fails its
    check.
    """
    if not model_file_path:
        raise ValueError(
            "sklearn_allconv.hear.load_model needs the path of a model file saved "
            "with sklearn_allconv.save_model (there are no default weights)."
        )
    model = _load_saved_model(model_file_path, device="cpu")
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    if (
        len(steps) != 2
        or not isinstance(steps[0][1], STFTTransformer)
        or not isinstance(getattr(steps[1][1], "module_", None), AllConvNet)
    ):
        raise ValueError(
            f"{os.fspath(model_file_path)!r} holds "
            f"{[type(step).__name__ for _, step in steps]}; the HEAR API needs a "
            "saved Pipeline of an STFTTransformer and a SceneClassifier or "
            "AudioTagger, which knows the audio's sample rate. Save "
            "make_pipeline(STFTTransformer(...), estimator) after fitting it."
        )
    return HearModel(steps[0][1], steps[1][1].module_)


def get_timestamp_embeddings(
    audio: torch.Tensor, model: HearModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compute embeddings at evenly spaced times, as the HEAR API defines them.

    Parameters
    ----------
    audio : Tensor of shape (n_sounds, n_samples)
        Float32 audio at ``model.sample_rate``, on the model's device.
    model : HearModel
        From :func:`load_model`.

    Returns
    -------
    embeddings : Tensor of shape (n_sounds, n_frames, timestamp_embedding_size)
        Float32, on the device of ``audio``: the activations of the network's
        last layer at each output frame.
    timestamps : Tensor of shape (n_sounds, n_frames)
        Float32 times in milliseconds, on the same device: the centre of each
        frame's receptive field, every ``8 * hop`` (120 ms with the paper's
        15 ms hop), starting at 117.5 ms with the paper's STFT.
    """
    with torch.no_grad():
        embeddings = model(audio)
    times = torch.as_tensor(
        model.timestamps(embeddings.shape[1]), dtype=torch.float32, device=audio.device
    )
    return embeddings, times.expand(embeddings.shape[0], -1).contiguous()


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """Compute one embedding per sound, as the HEAR API defines it.

    Parameters
    ----------
    audio : Tensor of shape (n_sounds, n_samples)
        Float32 audio at ``model.sample_rate``, on the model's device.
    model : HearModel
        From :func:`load_model`.

    Returns
    -------
    Tensor of shape (n_sounds, scene_embedding_size)
        Float32, on the device of ``audio``: the network's global pooling of
        the timestamp embeddings (its mean, with the paper's pooling), which
        is what the estimators' ``transform`` returns for the same audio.
    """
    with torch.no_grad():
        return model.network.embed(model.features(audio))
