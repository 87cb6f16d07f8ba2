"""The HEAR 2021 API, called as the HEAR validator calls it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from sklearn_allconv import SceneClassifier, STFTTransformer, save_model
from sklearn_allconv.hear import (
    HearModel,
    get_scene_embeddings,
    get_timestamp_embeddings,
    load_model,
)

RATE = 16000
# hearvalidator's ACCEPTABLE_SAMPLE_RATE.
HEAR_SAMPLE_RATES = [16000, 22050, 32000, 44100, 48000]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    clips = [rng.uniform(-1, 1, int(rng.integers(6000, 9000))) for _ in range(8)]
    pipe = make_pipeline(
        STFTTransformer(sample_rate=RATE),
        SceneClassifier(
            max_epochs=2, module__n_filters=12, train_split=None, random_state=0
        ),
    ).fit(clips, ["a", "b"] * 4)
    path = tmp_path_factory.mktemp("hear") / "pipe.safetensors"
    save_model(pipe, path)
    return path, pipe


def _validator_audio(model, num_audio, length, device):
    # As hearvalidator: uniform white noise in [-1, 1], float32, on the device.
    n_samples = int(length * model.sample_rate)
    audio_batch = torch.rand((num_audio, n_samples), device=device)
    return (audio_batch * 2) - 1.0


@pytest.mark.parametrize("length", [1.07, 1.98, 4.0])
def test_timestamp_embeddings_pass_the_validators_checks(model_file, length):
    torch.manual_seed(0)
    model = load_model(str(model_file[0]))
    assert isinstance(model, torch.nn.Module)
    device = "cpu"
    model.to(device)
    assert model.sample_rate in HEAR_SAMPLE_RATES
    assert isinstance(model.scene_embedding_size, int)
    assert isinstance(model.timestamp_embedding_size, int)
    audio = _validator_audio(model, 2, length, device)

    embeddings, timestamps = get_timestamp_embeddings(audio, model)

    assert embeddings.dtype == torch.float32
    assert embeddings.device == audio.device and timestamps.device == audio.device
    embeddings = embeddings.detach().cpu().numpy()
    timestamps = timestamps.detach().cpu().numpy()
    assert embeddings.ndim == 3 and timestamps.ndim == 2
    assert embeddings.shape[0] == 2
    assert embeddings.shape[:2] == timestamps.shape
    assert embeddings.shape[2] == model.timestamp_embedding_size == 12
    timestamp_diff = np.diff(timestamps)
    avg_diff = np.mean(timestamp_diff)
    assert np.max(np.abs(timestamp_diff - avg_diff)) <= 1
    assert np.min(timestamps) <= avg_diff
    assert np.max(timestamps) <= 1000 * length
    # The paper's STFT: the first frame is centred at 117.5 ms, then every 120 ms.
    np.testing.assert_allclose(timestamp_diff, 120.0, atol=1e-3)
    assert timestamps[0, 0] == pytest.approx(117.5)
    # The last frame is less than one hop plus its half receptive field before
    # the end: no part of the audio lacks an embedding by more than that.
    assert 1000 * length - np.max(timestamps) < 120 + 117.5


def test_scene_embeddings_pass_the_validators_checks(model_file):
    torch.manual_seed(0)
    model = load_model(str(model_file[0])).to("cpu")
    audio = _validator_audio(model, 4, 2.74, "cpu")
    embeddings = get_scene_embeddings(audio, model)
    assert embeddings.dtype == torch.float32
    assert embeddings.device == audio.device
    embeddings = embeddings.detach().cpu().numpy()
    assert embeddings.dtype == np.float32
    assert embeddings.shape == (4, model.scene_embedding_size)


def test_scene_embeddings_are_the_pipelines_network_embeddings(model_file):
    path, pipe = model_file
    model = load_model(path)
    audio = torch.rand(3, 20000) * 2 - 1
    features = pipe[0].transform(audio.numpy())
    network = pipe[-1].module_.eval()
    with torch.no_grad():
        expected = network.embed(torch.from_numpy(features))
    np.testing.assert_allclose(
        get_scene_embeddings(audio, model).numpy(), expected.numpy(), atol=1e-5
    )


def test_scene_embedding_is_the_mean_of_the_timestamp_embeddings(model_file):
    model = load_model(model_file[0])
    audio = torch.rand(2, 30000) * 2 - 1
    frames, _ = get_timestamp_embeddings(audio, model)
    np.testing.assert_allclose(
        get_scene_embeddings(audio, model).numpy(),
        frames.mean(dim=1).numpy(),
        atol=1e-5,
    )


def test_sounds_shorter_than_the_network_needs_are_padded_with_silence(model_file):
    model = load_model(model_file[0])
    short = torch.rand(2, 1000) * 2 - 1
    padded = torch.nn.functional.pad(short, (0, model.min_samples() - 1000))
    embeddings, timestamps = get_timestamp_embeddings(short, model)
    assert embeddings.shape == (2, 1, 12)
    np.testing.assert_array_equal(
        embeddings.numpy(), get_timestamp_embeddings(padded, model)[0].numpy()
    )


def test_load_model_refuses_an_estimator_without_its_stft(model_file, tmp_path):
    path = tmp_path / "net.safetensors"
    save_model(model_file[1][-1], path)
    with pytest.raises(ValueError, match="needs a saved Pipeline of an STFT"):
        load_model(path)
    with pytest.raises(ValueError, match="no default weights"):
        load_model()


def test_model_is_a_module_that_moves_with_to(model_file):
    model = load_model(model_file[0])
    assert isinstance(model, HearModel)
    moved = model.to(torch.float32)
    assert moved is model
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert not model.network.training
