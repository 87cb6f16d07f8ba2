"""Helpers of the benchmark scripts whose results the documentation quotes."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from skorch.callbacks import EarlyStopping
from skorch.history import History

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench_early_stopping(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("bench_early_stopping")


class _Net:
    """What skorch's EarlyStopping reads from a net, without a module."""

    verbose = 0

    def __init__(self):
        self.history = History()


def _skorch_stop(values, patience, lower_is_better):
    """Indices (best, last) of the epochs where skorch's EarlyStopping stops."""
    net = _Net()
    stopper = EarlyStopping(
        monitor="score", patience=patience, lower_is_better=lower_is_better
    ).initialize()
    stopper.on_train_begin(net)
    last = len(values) - 1
    for index, value in enumerate(values):
        net.history.new_epoch()
        net.history.record("epoch", index + 1)
        net.history.record("score", value)
        try:
            stopper.on_epoch_end(net)
        except KeyboardInterrupt:
            last = index
            break
    return stopper.best_epoch_ - 1, last


@pytest.mark.parametrize("lower_is_better", [True, False])
def test_replayed_early_stopping_stops_where_skorchs_does(
    bench_early_stopping, lower_is_better
):
    rng = np.random.default_rng(0)
    stopped_early = 0
    for _ in range(200):
        n_epochs = int(rng.integers(1, 60))
        patience = int(rng.integers(1, 12))
        # Noisy trends, with ties (accuracies on small splits repeat) and
        # changes below the relative threshold of 1e-4.
        values = np.cumsum(
            rng.normal(-0.01 if lower_is_better else 0.01, 0.05, n_epochs)
        )
        values = np.round(1.0 + values, int(rng.choice([2, 6])))
        values[rng.random(n_epochs) < 0.2] *= 1 + 5e-5
        values = [float(v) for v in values]
        expected = _skorch_stop(values, patience, lower_is_better)
        got = bench_early_stopping._stop(
            values, patience, lower_is_better=lower_is_better
        )
        assert got == expected, (values, patience)
        stopped_early += expected[1] < n_epochs - 1
    assert stopped_early > 20  # the comparison covers stopping, not just running out


def test_policies_keep_the_epochs_they_name(bench_early_stopping):
    # Loss lowest at epoch 2 (index 1); accuracy best at epoch 4; patience 3.
    curve = {
        "valid_loss": [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],
        "valid_acc": [0.2, 0.3, 0.3, 0.6, 0.5, 0.5, 0.5, 0.5],
        "test_accuracy": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    }
    kept = bench_early_stopping._policies(curve, patience=3)
    assert kept["loss, best epoch restored (load_best=True)"] == 1
    assert kept["loss, last epoch kept (the default)"] == 4
    assert kept["accuracy, best epoch"] == 3
    assert kept["accuracy, last epoch"] == 6
    assert kept["epoch 8"] == 7
    assert kept["oracle (best test epoch)"] == 7


@pytest.fixture
def benchmarks_common(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("_common")


@pytest.fixture
def bench_baselines(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("bench_baselines")


def test_location_accuracy_is_per_location_and_a_location_is_right_by_majority(
    benchmarks_common,
):
    y_true = np.array(["bus", "bus", "bus", "park", "park", "home"])
    y_pred = np.array(["bus", "park", "bus", "park", "bus", "park"])
    groups = np.array(["a1", "a1", "a1", "a2", "a2", "a3"])
    by_location = benchmarks_common.location_accuracy(y_true, y_pred, groups)
    assert by_location == pytest.approx({"a1": 2 / 3, "a2": 0.5, "a3": 0.0})
    # Half right is not right: a location counts when most of its clips are.
    assert benchmarks_common.locations_right(by_location) == 1


def test_logistic_front_ends_are_librosas_features(bench_baselines, tmp_path):
    import librosa
    import soundfile

    rate = 16000
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2 * rate, 2))).astype(np.float32)
    path = tmp_path / "clip.wav"
    soundfile.write(path, audio, rate)
    statistics = bench_baselines._log_statistics(
        np.array([str(path)]), rate, ["stft", "mel", "mfcc"]
    )
    assert {name: s.shape for name, s in statistics.items()} == {
        "stft": (1, 2 * 201),
        "mel": (1, 2 * 128),
        "mfcc": (1, 2 * 20),
    }
    mono, _ = soundfile.read(path, dtype="float32")
    mono = mono.mean(axis=1)
    geometry = {"sr": rate, "n_fft": 400, "hop_length": 240, "window": "hann"}
    mel = np.log(librosa.feature.melspectrogram(y=mono, n_mels=128, **geometry) + 1e-10)
    mfcc = librosa.feature.mfcc(y=mono, n_mels=40, n_mfcc=20, **geometry)
    for name, frames in [("mel", mel), ("mfcc", mfcc)]:
        expected = np.concatenate([frames.mean(axis=1), frames.std(axis=1)])
        np.testing.assert_allclose(statistics[name][0], expected, rtol=1e-4, atol=1e-3)
