"""ONNX export: onnxruntime computes what the library computes."""

from __future__ import annotations

import builtins
import copy

import numpy as np
import onnxruntime
import pytest
import torch
from sklearn.pipeline import make_pipeline

from sklearn_allconv import AudioTagger, SceneClassifier, STFTTransformer
from sklearn_allconv.cli import main
from sklearn_allconv.export import TorchSTFT, _inference_graph, export_onnx
from sklearn_allconv.network import MaskedBatchNorm1d

RATE = 8000


def _clips(n_clips=12, seed=0):
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n_clips):
        t = np.arange(int(rng.integers(3000, 9000))) / RATE
        tone = 0.3 * np.sin(2 * np.pi * (400 + 900 * (i % 3)) * t)
        clips.append((tone + 0.1 * rng.standard_normal(len(t))).astype(np.float32))
    return clips


@pytest.fixture(scope="module")
def scene_pipeline():
    clips = _clips()
    labels = ["a", "b", "c"] * 4
    tiny = {"max_epochs": 3, "module__n_filters": 12, "random_state": 0}
    return make_pipeline(
        STFTTransformer(sample_rate=RATE), SceneClassifier(train_split=None, **tiny)
    ).fit(clips, labels)


@pytest.fixture(scope="module")
def scene_graph(scene_pipeline, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "scenes.onnx"
    export_onnx(scene_pipeline, path)
    return onnxruntime.InferenceSession(str(path))


def _lengths(pipeline):
    """Clip lengths in samples: the network's minimum, and two others."""
    stft, network = pipeline[0], pipeline[-1].module_
    shortest = stft.n_fft_ + (network.min_frames - 1) * stft.hop_length_
    return [shortest, shortest + 1234, 3 * RATE + 17]


def _run(session, clips):
    """One padded batch of ``clips`` through the graph."""
    name = session.get_inputs()[0].name
    lengths = np.array([len(clip) for clip in clips])
    batch = np.zeros((len(clips), lengths.max(), *clips[0].shape[1:]), np.float32)
    for i, clip in enumerate(clips):
        batch[i, : len(clip)] = clip
    return session.run(None, {name: batch, "lengths": lengths})


def test_onnx_graph_from_audio_equals_predict_proba_and_transform(
    scene_pipeline, scene_graph
):
    rng = np.random.default_rng(1)
    clips = [
        (0.3 * rng.standard_normal(n)).astype(np.float32)
        for n in _lengths(scene_pipeline)
    ]
    expected_proba = scene_pipeline.predict_proba(clips)
    expected_embedding = scene_pipeline.transform(clips)
    features = scene_pipeline[0].transform(clips)
    expected_frames, _ = scene_pipeline[-1].predict_proba_frames(features)
    # Each clip alone, and all three in one padded batch.
    for i, clip in enumerate(clips):
        proba, embedding, frame_proba, n_frames = _run(scene_graph, [clip])
        np.testing.assert_allclose(proba[0], expected_proba[i], rtol=0, atol=1e-4)
        np.testing.assert_allclose(
            embedding[0], expected_embedding[i], rtol=0, atol=1e-4
        )
        assert n_frames[0] == len(expected_frames[i]) == frame_proba.shape[1]
        np.testing.assert_allclose(
            frame_proba[0], expected_frames[i], rtol=0, atol=1e-4
        )
    proba, embedding, frame_proba, n_frames = _run(scene_graph, clips)
    np.testing.assert_allclose(proba, expected_proba, rtol=0, atol=1e-4)
    np.testing.assert_allclose(embedding, expected_embedding, rtol=0, atol=1e-4)
    for i, expected in enumerate(expected_frames):
        assert n_frames[i] == len(expected)
        np.testing.assert_allclose(
            frame_proba[i, : n_frames[i]], expected, rtol=0, atol=1e-4
        )


def test_onnx_graph_of_a_tagger_alone_takes_spectrograms(tmp_path):
    clips = _clips()
    stft = STFTTransformer(sample_rate=RATE)
    features = stft.fit_transform(clips)
    tags = [[i % 2, (i // 2) % 2] for i in range(len(clips))]
    tagger = AudioTagger(
        max_epochs=2, module__n_filters=8, train_split=None, random_state=0
    ).fit(features, np.array(tags))
    path = export_onnx(tagger, tmp_path / "tags.onnx")
    session = onnxruntime.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["features", "lengths"]
    min_frames = tagger.module_.min_frames
    long_clip = np.concatenate(list(features[:4]))
    clips = [long_clip[:n] for n in (min_frames, min_frames + 9, 130)]
    proba, embedding, _, _ = _run(session, clips)
    np.testing.assert_allclose(proba, tagger.predict_proba(clips), rtol=0, atol=1e-4)
    np.testing.assert_allclose(embedding, tagger.transform(clips), rtol=0, atol=1e-4)


def test_torch_stft_equals_the_transformers_features(scene_pipeline):
    stft = scene_pipeline[0]
    rng = np.random.default_rng(2)
    audio = (0.5 * rng.standard_normal((3, 5555))).astype(np.float32)
    expected = stft.transform(audio)
    got = TorchSTFT(stft)(torch.from_numpy(audio)).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


def test_exported_network_computes_the_training_implementations_function(
    scene_pipeline,
):
    # The graph's network uses conv1d and plain batch norm (running
    # statistics); the library's uses matrix products and masked batch norm.
    graph, example, _, _ = _inference_graph(scene_pipeline)
    network = scene_pipeline[-1].module_.eval()
    assert graph.network.convolution == "conv1d"
    assert network.convolution != "conv1d"
    features = graph.stft(example[:1] + torch.randn(1, example.shape[1]))
    with torch.no_grad():
        torch.testing.assert_close(
            graph.network.embed(features), network.embed(features), rtol=1e-5, atol=1e-5
        )
    assert isinstance(network.norms[0], MaskedBatchNorm1d)


def test_export_refuses_other_pipelines_and_unfitted_models(scene_pipeline, tmp_path):
    with pytest.raises(ValueError, match="exactly an STFTTransformer and a"):
        export_onnx(make_pipeline(scene_pipeline[-1]), tmp_path / "x.onnx")
    with pytest.raises(TypeError, match="exports a fitted SceneClassifier"):
        export_onnx(scene_pipeline[0], tmp_path / "x.onnx")
    with pytest.raises(Exception, match="not initialized"):
        export_onnx(SceneClassifier(), tmp_path / "x.onnx")


def test_export_refuses_crop_averaged_predictions(scene_pipeline, tmp_path):
    # The graph computes whole-clip probabilities; predict_proba would not.
    classifier = copy.deepcopy(scene_pipeline[-1]).set_params(test_crops=3)
    with pytest.raises(ValueError, match="Set test_crops=1 before exporting"):
        export_onnx(classifier, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_missing_onnx_names_the_extra(scene_pipeline, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def without_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(__import__("sys").modules, "onnx", raising=False)
    monkeypatch.setattr(builtins, "__import__", without_onnx)
    with pytest.raises(ImportError, match=r"pip install 'sklearn-allconv\[onnx\]'"):
        export_onnx(copy.deepcopy(scene_pipeline), tmp_path / "x.onnx")


def test_export_command_writes_a_graph(scene_pipeline, tmp_path, capsys):
    from sklearn_allconv import save_model

    model = tmp_path / "model.safetensors"
    save_model(scene_pipeline, model)
    assert main(["export", str(model), str(tmp_path / "model.onnx")]) == 0
    assert "its input: mono float32 audio at 8000 Hz" in capsys.readouterr().out
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    audio = np.zeros((1, RATE), dtype=np.float32)
    proba, _, _, _ = _run(session, list(audio))
    np.testing.assert_allclose(
        proba, scene_pipeline.predict_proba(audio), rtol=0, atol=1e-4
    )


@pytest.mark.parametrize(
    ("normalize", "compression", "n_mels"),
    [
        (None, "log", None),
        (None, "log-gain", None),
        (None, "pcen", None),
        ("rms", None, None),
        ("rms", "log", None),
        ("rms", "pcen", None),
        (None, None, 24),
        (None, "log-gain", 24),
        ("rms", "pcen", 24),
    ],
)
def test_torch_stft_compresses_like_the_transformer(normalize, compression, n_mels):
    clips = _clips(n_clips=3)
    stft = STFTTransformer(
        sample_rate=RATE, normalize=normalize, compression=compression, n_mels=n_mels
    ).fit(clips)
    rng = np.random.default_rng(4)
    audio = (0.5 * rng.standard_normal((2, 6000))).astype(np.float32)
    audio[1] *= 10  # another gain: log-gain removes it, log does not
    expected = stft.transform(audio)
    got = TorchSTFT(stft)(torch.from_numpy(audio)).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    ("normalize", "compression", "n_mels"),
    [(None, "log-gain", None), (None, "pcen", None), ("rms", None, None),
     ("rms", "pcen", None), ("rms", "pcen", 24)],
)
def test_onnx_graph_of_a_gain_normalized_pipeline_masks_padded_clips(
    tmp_path, normalize, compression, n_mels
):
    # The level is over each clip's own frames (rms, log-gain), or a running
    # mean of its past frames (pcen): padding must not enter it.
    clips = _clips()
    pipeline = make_pipeline(
        STFTTransformer(
            sample_rate=RATE, normalize=normalize, compression=compression,
            n_mels=n_mels,
        ),
        SceneClassifier(
            train_split=None, max_epochs=3, module__n_filters=12, random_state=0
        ),
    ).fit(clips, ["a", "b", "c"] * 4)
    path = tmp_path / "log_gain.onnx"
    export_onnx(pipeline, path)
    session = onnxruntime.InferenceSession(str(path))
    rng = np.random.default_rng(5)
    lengths = _lengths(pipeline)
    test = [(0.3 * rng.standard_normal(n)).astype(np.float32) for n in lengths]
    proba, embedding, _, _ = _run(session, test)
    np.testing.assert_allclose(proba, pipeline.predict_proba(test), rtol=0, atol=1e-4)
    np.testing.assert_allclose(embedding, pipeline.transform(test), rtol=0, atol=1e-4)
