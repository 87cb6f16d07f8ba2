"""What cannot be computed right raises or warns; it never passes as a result."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile
from _data import TINY_WITHOUT_VALIDATION as TINY
from _data import tone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.pipeline import make_pipeline

from sklearn_allconv import (
    AudioTagger,
    SceneClassifier,
    STFTTransformer,
    load_model,
    save_model,
)
from sklearn_allconv.__main__ import main
from sklearn_allconv.datasets._files import read_audio

REPO = Path(__file__).resolve().parents[1]
RATE = 8000


_tone = partial(tone, rate=RATE)


def _fitted_stft():
    return STFTTransformer(sample_rate=RATE).fit([_tone(300), _tone(900)])


def _changed_after_fit(**params):
    def case(tmp_path):
        _fitted_stft().set_params(**params).transform([_tone(300)])

    return case


def _loaded_then_changed(tmp_path):
    clips = [_tone(300 + 200 * i, seed=i) for i in range(4)]
    pipe = make_pipeline(STFTTransformer(sample_rate=RATE), SceneClassifier(**TINY))
    save_model(pipe.fit(clips, ["a", "b"] * 2), tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    loaded[0].set_params(hop_ms=10.0)
    loaded.predict(clips)


def _truncated(suffix, subtype, read):
    def case(tmp_path):
        path = tmp_path / f"clip{suffix}"
        soundfile.write(path, _tone(300, seconds=2.0), RATE, subtype=subtype)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        read(path)

    return case


def _stft_reads(path):
    STFTTransformer(sample_rate=RATE, standardize=False).fit_transform([path])


def _dataset_reads(path):
    read_audio(path, sample_rate=RATE, channel=None)


def _fit_with(**params):
    def case(tmp_path):
        X = [np.ones((20, 4), np.float32)] * 4
        SceneClassifier(**{**TINY, **params}).fit(X, ["a", "b"] * 2)

    return case


def _cli_fit_without_epochs(tmp_path):
    for label, pitch in [("low", 300), ("high", 2000)]:
        (tmp_path / label).mkdir()
        soundfile.write(tmp_path / label / "0.wav", _tone(pitch), RATE)
    main(["fit", str(tmp_path), str(tmp_path / "m.safetensors"), "--epochs", "0"])


def _cli_evaluate_on_unknown_classes(tmp_path):
    data = tmp_path / "data"
    for label, pitch in [("low", 300), ("high", 2000), ("mid", 900), ("hum", 50)]:
        (data / label).mkdir(parents=True)
        for i in range(2):
            soundfile.write(data / label / f"{i}.wav", _tone(pitch, seed=i), RATE)
    clips = [_tone(300, seed=i) for i in range(2)] + [_tone(2000, seed=i)
                                                     for i in range(2)]
    pipe = make_pipeline(STFTTransformer(sample_rate=RATE), SceneClassifier(**TINY))
    save_model(pipe.fit(clips, ["low", "low", "high", "high"]), tmp_path / "m.st")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_allconv", "evaluate", str(tmp_path / "m.st"),
         str(data)],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "Average" not in result.stdout  # no table of scores over the rest
    # The subprocess's error, raised here to be matched like the other cases.
    raise ValueError(result.stderr)


def _tagger_score_without_positives(tmp_path):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((20, 4)).astype(np.float32) for _ in range(8)]
    tagger = AudioTagger(**TINY).fit(X, [["dog", "tv"], ["cat", "tv"]] * 4)
    # In this y "cat" never occurs and "tv" always does: their EER is undefined.
    tagger.score(X, [["dog", "tv"], ["tv"]] * 4)


SILENT_ANSWERS = {
    "STFT sample rate changed after fit": (
        _changed_after_fit(sample_rate=16000), ValueError,
        "sample_rate from 8000 to 16000",
    ),
    "STFT window changed after fit": (
        _changed_after_fit(window_ms=50.0), ValueError, "window_ms from 25.0 to 50.0",
    ),
    "STFT standardization switched off after fit": (
        _changed_after_fit(standardize=False), ValueError, "standardize from True",
    ),
    "STFT channel changed after fit": (
        _changed_after_fit(channel="mean"), ValueError, "channel from 0 to 'mean'",
    ),
    "loaded STFT hop changed": (_loaded_then_changed, ValueError, "hop_ms from 15"),
    "truncated 16-bit WAV": (
        _truncated(".wav", "PCM_16", _stft_reads), ValueError,
        r"clip.wav' is truncated: its header promises 16000 frames but it holds \d+",
    ),
    "truncated float WAV": (
        _truncated(".wav", "FLOAT", _stft_reads), ValueError,
        r"header promises 16000 frames but it holds \d+",
    ),
    "truncated FLAC": (
        _truncated(".flac", "PCM_16", _stft_reads), ValueError,
        "clip.flac' could not be read .its header promises 16000 frames",
    ),
    "truncated WAV of a dataset": (
        _truncated(".wav", "PCM_16", _dataset_reads), ValueError,
        r"header promises 16000 frames but it holds \d+",
    ),
    "no epochs": (_fit_with(max_epochs=0), ValueError, "max_epochs must be"),
    "empty batches": (_fit_with(batch_size=0), ValueError, "batch_size must be"),
    "zero learning rate": (_fit_with(lr=0.0), ValueError, "lr must be"),
    "fit --epochs 0 on the command line": (
        _cli_fit_without_epochs, SystemExit, "2",
    ),
    "evaluate on classes the model does not know": (
        _cli_evaluate_on_unknown_classes, ValueError,
        "holds classes the model does not know: hum, mid",
    ),
    "tagger score with undefined tags": (
        _tagger_score_without_positives, UndefinedMetricWarning,
        "tag.s. 'cat', 'tv' is undefined",
    ),
}


@pytest.mark.parametrize("case", SILENT_ANSWERS, ids=list(SILENT_ANSWERS))
def test_what_cannot_be_answered_right_raises_or_warns(tmp_path, case):
    run, expected, message = SILENT_ANSWERS[case]
    if issubclass(expected, Warning):
        with pytest.warns(expected, match=message):
            run(tmp_path)
    else:
        with pytest.raises(expected, match=message):
            run(tmp_path)
    if case == "fit --epochs 0 on the command line":
        assert not (tmp_path / "m.safetensors").exists()
