"""Embeddings and frame-level scores: the network's outputs before the output layer."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from sklearn_allconv import AllConvNet, AudioTagger, SceneClassifier, STFTTransformer
from sklearn_allconv.datasets import make_acoustic_scenes
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


# -- the estimators: transform and predict_proba_frames -------------------------

RATE = 8000


@pytest.fixture(scope="module")
def scenes():
    X, y, groups = make_acoustic_scenes(
        n_scenes=3, n_locations_per_scene=3, n_clips_per_location=3,
        sample_rate=RATE, max_duration=2.0, random_state=0,
    )
    return X, y, groups


@pytest.fixture(scope="module")
def fitted(scenes):
    X, y, groups = scenes
    features = STFTTransformer(sample_rate=RATE).fit_transform(X)
    clf = SceneClassifier(
        max_epochs=3, module__n_filters=12, train_split=None, random_state=0
    )
    return clf.fit(features, y), features


def test_embedding_pipeline_cross_validates_with_a_linear_model(scenes):
    X, y, groups = scenes
    pipe = make_pipeline(
        STFTTransformer(sample_rate=RATE),
        SceneClassifier(
            max_epochs=3, module__n_filters=12, train_split=None, random_state=0
        ),
        LogisticRegression(max_iter=500),
    )
    scores = cross_val_score(pipe, X, y, groups=groups, cv=GroupKFold(3))
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert pipe.fit(X, y)[:-1].transform(X[:2]).shape == (2, 12)


def test_embeddings_are_float32_vectors_of_n_filters(fitted):
    clf, features = fitted
    embeddings = clf.transform(features)
    assert embeddings.shape == (len(features), 12)
    assert embeddings.dtype == np.float32
    with torch.no_grad():
        expected = clf.module_.embed(torch.from_numpy(features[5][None]))
    np.testing.assert_allclose(embeddings[5], expected[0].numpy(), atol=1e-6)


def test_a_clips_embedding_alone_equals_its_embedding_in_a_padded_batch(fitted):
    clf, features = fitted
    lengths = [len(clip) for clip in features]
    shortest = int(np.argmin(lengths))
    assert min(lengths) < max(lengths)
    # One batch of all clips, padded to the longest.
    batch = copy.deepcopy(clf).set_params(bucketing=False, batch_size=len(features))
    in_batch = batch.transform(features)[shortest]
    alone = clf.transform(features[shortest : shortest + 1])[0]
    np.testing.assert_allclose(alone, in_batch, rtol=0, atol=1e-5)


def test_feature_names_name_each_component_and_pandas_output_uses_them(fitted):
    clf, features = fitted
    names = clf.get_feature_names_out()
    assert list(names[:2]) == ["sceneclassifier0", "sceneclassifier1"]
    assert len(names) == 12
    frame = copy.deepcopy(clf).set_output(transform="pandas")
    table = frame.transform(features[:3])
    assert list(table.columns) == list(names)
    np.testing.assert_array_equal(table.to_numpy(), clf.transform(features[:3]))


def test_clip_probabilities_are_the_softmax_of_the_mean_frame_logits(fitted):
    clf, features = fitted
    proba_frames, times = clf.predict_proba_frames(features)
    proba = clf.predict_proba(features)
    for i, frames in enumerate(proba_frames):
        assert frames.shape == (len(times[i]), 3)
        np.testing.assert_allclose(frames.sum(axis=1), 1, atol=1e-6)
        # log p = logits - a per-frame constant, which softmax ignores.
        mean_log = torch.from_numpy(np.log(frames)).mean(dim=0)
        np.testing.assert_allclose(
            torch.softmax(mean_log, dim=0).numpy(), proba[i], atol=1e-5
        )


def test_frame_probabilities_do_not_depend_on_the_batch(fitted):
    clf, features = fitted
    together, _ = clf.predict_proba_frames(features)
    alone, _ = clf.predict_proba_frames(features[4:5])
    np.testing.assert_allclose(alone[0], together[4], atol=1e-6)


def _tone_detector(tagger, tone_bin):
    """Set the weights: the output follows the magnitude at ``tone_bin``,
    averaged over each layer's three frames."""
    net = tagger.module_
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
        for norm in [net.filter_bank_norm, *net.norms]:
            norm.reset_running_stats()
            norm.weight.fill_(1.0)
        net.filter_bank.weight[0, tone_bin, 0] = 1.0
        for conv in net.convs:
            conv.weight[0, 0, :] = 1.0 / 3
        net.output.weight[0, 0] = 1.0
        net.output.bias.fill_(-1.0)


@pytest.mark.parametrize("burst_centre", [0.8, 1.31, 2.05])
def test_a_tone_burst_peaks_at_the_frame_whose_time_is_the_bursts(burst_centre):
    rng = np.random.default_rng(0)
    t = np.arange(3 * RATE) / RATE
    clip = 0.01 * rng.standard_normal(len(t))
    burst = np.abs(t - burst_centre) < 0.05
    clip[burst] += 0.5 * np.sin(2 * np.pi * 1000 * t[burst])
    # The magnitudes, for the hand-set tone detector below.
    stft = STFTTransformer(sample_rate=RATE, compression=None, standardize=False)
    features = stft.fit_transform([clip.astype(np.float32)])
    tagger = AudioTagger(
        max_epochs=1, module__n_filters=4, train_split=None, random_state=0
    ).fit(np.concatenate([features, features]), [[1], [0]])
    _tone_detector(tagger, tone_bin=round(1000 / (RATE / stft.n_fft_)))
    proba, times = tagger.predict_proba_frames(features)
    peak = times[0][np.argmax(proba[0][:, 0])]
    output_hop = 8 * 0.015
    assert abs(peak - burst_centre) <= output_hop
    # The receptive fields are symmetric: the nearest frame centre wins.
    assert abs(peak - burst_centre) <= output_hop / 2 + 0.015
