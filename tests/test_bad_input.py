"""Every kind of bad input fails early with an error that says what and where.

One table: each row builds an input, names the estimator and the method it goes
to, and states the exception and the message it must give. Messages must name
the clip or file and say what was wrong, never surface a PyTorch shape error,
a NaN prediction or a hang. Accepted-but-converted input (integer PCM, scaled
as soundfile does) is specified in ``test_features.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile
from _data import TINY
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from sklearn_allconv import AudioTagger, SceneClassifier, STFTTransformer

N_BINS = 6
N_CLIPS = 12


def _features(n_clips=N_CLIPS, n_bins=N_BINS, seed=0):
    rng = np.random.default_rng(seed)
    X = np.empty(n_clips, dtype=object)
    for i in range(n_clips):
        X[i] = rng.standard_normal((20 + i, n_bins)).astype(np.float32)
    return X


def _labels():
    return np.array(["park", "beach", "cafe"] * (N_CLIPS // 3))


def _tags(seed=0):
    return (np.random.default_rng(seed).random((N_CLIPS, 3)) < 0.5).astype(int)


def _noise(n_samples, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, n_samples).astype(np.float32)


def _wav(ctx, name, n_samples=4000, rate=16000):
    path = ctx.tmp / name
    soundfile.write(path, _noise(n_samples), rate)
    return path


def _truncated_wav(ctx):
    path = _wav(ctx, "broken.wav")
    path.write_bytes(path.read_bytes()[:30])
    return path


def _text_file(ctx):
    path = ctx.tmp / "notes.wav"
    path.write_text("not audio at all\n")
    return path


def _replace(X, index, clip):
    X = X.copy()
    X[index] = clip
    return X


def _with_value(X, index, value):
    clip = X[index].astype(np.float64)
    clip[0, 0] = value
    return _replace(X, index, clip)


@pytest.fixture(scope="module")
def fitted():
    """Tiny fitted models: bad input must fail before any training matters."""
    X = _features()
    audio = [_noise(2400 + 160 * i, seed=i) for i in range(N_CLIPS)]  # 8 kHz
    return SimpleNamespace(
        stft=STFTTransformer(sample_rate=16000).fit([_noise(4000)]),
        scene=SceneClassifier(**TINY).fit(X, _labels()),
        tagger=AudioTagger(**TINY).fit(X, _tags()),
        pipeline=make_pipeline(
            STFTTransformer(sample_rate=8000), SceneClassifier(**TINY)
        ).fit(audio, _labels()),
    )


ESTIMATORS: dict[str, Callable[[Any], Any]] = {
    "STFTTransformer": lambda fitted: STFTTransformer(sample_rate=16000),
    "STFTTransformer(channel=3)": lambda fitted: STFTTransformer(
        sample_rate=16000, channel=3
    ),
    "SceneClassifier": lambda fitted: SceneClassifier(**TINY),
    "SceneClassifier(pad)": lambda fitted: SceneClassifier(**TINY, short_clips="pad"),
    "AudioTagger": lambda fitted: AudioTagger(**TINY),
    "fitted STFTTransformer": lambda fitted: copy.deepcopy(fitted.stft),
    "fitted SceneClassifier": lambda fitted: copy.deepcopy(fitted.scene),
    "fitted AudioTagger": lambda fitted: copy.deepcopy(fitted.tagger),
    "fitted 8 kHz pipeline": lambda fitted: copy.deepcopy(fitted.pipeline),
    "8 kHz pipeline's classifier": lambda fitted: copy.deepcopy(fitted.pipeline[-1]),
}


@dataclass(frozen=True)
class Case:
    """One row of the table: ``estimator.method(*make_args(ctx))`` must raise."""

    id: str
    estimator: str
    method: str
    make_args: Callable[[SimpleNamespace], tuple]
    error: type[Exception]
    match: str


CASES = [
    # -- audio: clips ------------------------------------------------------
    Case("no clips", "STFTTransformer", "fit", lambda c: ([],), ValueError,
         "Found 0 clips"),
    Case("empty clip", "STFTTransformer", "fit",
         lambda c: ([_noise(800), np.zeros(0, np.float32)],), ValueError,
         "Clip 1 is empty"),
    Case("clip shorter than one STFT window", "STFTTransformer", "fit",
         lambda c: ([_noise(800), _noise(100)],), ValueError,
         r"Clip 1 has 100 samples \(6\.2 ms\).*at least 400 samples"),
    Case("NaN sample", "STFTTransformer", "fit",
         lambda c: ([_noise(800), np.r_[_noise(799), np.nan]],), ValueError,
         "Clip 1 contains NaN or infinite samples"),
    Case("infinite sample", "STFTTransformer", "fit",
         lambda c: ([np.r_[np.inf, _noise(799)]],), ValueError,
         "Clip 0 contains NaN or infinite samples"),
    Case("NaN sample at transform", "fitted STFTTransformer", "transform",
         lambda c: ([np.full(800, np.nan)],), ValueError, "Clip 0 contains NaN"),
    Case("float64 samples beyond float32", "STFTTransformer", "fit",
         lambda c: ([np.full(800, 1e300)],), ValueError,
         r"Clip 0 has samples of magnitude up to 1e\+300, beyond the float32"),
    Case("samples that overflow the STFT", "fitted STFTTransformer", "transform",
         lambda c: ([np.full(800, 3e38, np.float32)],), ValueError,
         r"Clip 0 gives infinite STFT magnitudes.*expected in \[-1, 1\]"),
    Case("single 1-D array", "STFTTransformer", "fit",
         lambda c: (_noise(800),), ValueError, "got a single 1-D array of 800"),
    Case("3-D clip", "STFTTransformer", "fit",
         lambda c: ([np.zeros((2, 2, 800))],), ValueError,
         r"Clip 0 has 3 dimensions \(shape \(2, 2, 800\)\)"),
    Case("samples x channels clip", "STFTTransformer", "fit",
         lambda c: ([np.zeros((800, 2))],), ValueError,
         r"Clip 0 has shape \(800, 2\).*\(channels x samples\).*clip\.T"),
    Case("missing channel", "STFTTransformer(channel=3)", "fit",
         lambda c: ([np.zeros((2, 800))],), ValueError,
         "Clip 0 has 2 channels; channel=3 does not exist"),
    Case("text clip", "STFTTransformer", "fit",
         lambda c: ([np.array(["a", "b"])],), TypeError, "Clip 0 has dtype <U1"),
    Case("complex clip", "STFTTransformer", "fit",
         lambda c: ([np.zeros(800, complex)],), TypeError,
         "Clip 0 has dtype complex128"),
    Case("None instead of clips", "STFTTransformer", "fit",
         lambda c: (None,), TypeError, "got NoneType"),
    Case("generator of clips", "STFTTransformer", "fit",
         lambda c: ((clip for clip in [_noise(800)]),), TypeError,
         r"got generator\. Pass a list"),
    Case("transform before fit", "STFTTransformer", "transform",
         lambda c: ([_noise(800)],), NotFittedError, "not fitted yet"),
    # -- audio: files ------------------------------------------------------
    Case("path that does not exist", "STFTTransformer", "fit",
         lambda c: ([c.tmp / "missing.wav"],), FileNotFoundError,
         r"missing\.wav' does not exist"),
    Case("single path instead of a list", "STFTTransformer", "fit",
         lambda c: (str(_wav(c, "one.wav")),), TypeError,
         r"single path .*one\.wav.*Wrap it in a list"),
    Case("directory instead of a file", "STFTTransformer", "fit",
         lambda c: ([c.tmp],), ValueError, "is not a regular file"),
    Case("truncated audio file", "STFTTransformer", "fit",
         lambda c: ([_truncated_wav(c)],), ValueError,
         r"broken\.wav' could not be read"),
    Case("unreadable (non-audio) file", "STFTTransformer", "fit",
         lambda c: ([_text_file(c)],), ValueError, r"notes\.wav' could not be read"),
    Case("mixed sample rates across files", "STFTTransformer", "fit",
         lambda c: ([_wav(c, "a.wav"), _wav(c, "b_8k.wav", rate=8000)],),
         ValueError, r"b_8k\.wav' has a sample rate of 8000 Hz but this "
         r"transformer expects 16000 Hz"),
    Case("file shorter than one STFT window", "STFTTransformer", "fit",
         lambda c: ([_wav(c, "a.wav"), _wav(c, "short.wav", n_samples=100)],),
         ValueError, r"File '.*short\.wav' \(clip 1\) has 100 samples"),
    Case("file of another rate into a fitted pipeline", "fitted 8 kHz pipeline",
         "predict", lambda c: ([_wav(c, "c.wav", rate=16000)],), ValueError,
         r"c\.wav' has a sample rate of 16000 Hz but this transformer expects "
         r"8000 Hz"),
    # -- features ------------------------------------------------------------
    Case("clip shorter than the network minimum", "SceneClassifier", "fit",
         lambda c: (_replace(_features(), 4, _features()[4][:9]), _labels()),
         ValueError, "Clip 4 has 9 frames; the network needs at least 15"),
    Case("empty spectrogram, even with padding", "SceneClassifier(pad)", "fit",
         lambda c: (_replace(_features(), 0, np.zeros((0, N_BINS))), _labels()),
         ValueError, r"Clip 0 is empty: shape \(0, 6\), no frames"),
    Case("spectrogram without bins", "SceneClassifier", "fit",
         lambda c: ([np.zeros((20, 0))] * 3, ["a", "b", "c"]), ValueError,
         r"Clip 0 is empty: shape \(20, 0\), no frequency bins"),
    Case("NaN in features", "SceneClassifier", "fit",
         lambda c: (_with_value(_features(), 3, np.nan), _labels()), ValueError,
         "Clip 3 contains NaN or infinite values"),
    Case("infinity in features at predict", "fitted SceneClassifier", "predict",
         lambda c: (_with_value(_features(), 2, -np.inf),), ValueError,
         "Clip 2 contains NaN or infinite values"),
    Case("features beyond float32", "fitted SceneClassifier", "predict_proba",
         lambda c: (_with_value(_features(), 1, 1e300),), ValueError,
         "Clip 1 has values beyond the float32 range"),
    Case("raw audio given to the classifier", "SceneClassifier", "fit",
         lambda c: (np.random.default_rng(0).random((N_CLIPS, 800)), _labels()),
         ValueError, "Clip 0 has 1 frames.*put STFTTransformer in front"),
    Case("file paths given to the classifier", "fitted SceneClassifier", "predict",
         lambda c: (["a.wav", "b.wav"],), TypeError,
         r"Clip 0 is a str \('a\.wav'\), not a spectrogram.*STFTTransformer"),
    Case("1-D array of features", "fitted SceneClassifier", "predict",
         lambda c: (np.zeros(6),), ValueError, r"got a 1-D array of shape \(6,\)"),
    Case("4-D array of features", "fitted SceneClassifier", "predict",
         lambda c: (np.zeros((2, 20, N_BINS, 1)),), ValueError,
         r"3-D array \(clips x frames x bins\), got an array of shape"),
    Case("3-D clip in a list of features", "fitted SceneClassifier", "predict",
         lambda c: ([np.zeros((20, N_BINS)), np.zeros((1, 20, N_BINS))],),
         ValueError, r"Clip 1 has shape \(1, 20, 6\); expected a 2-D"),
    Case("boolean features", "fitted SceneClassifier", "predict",
         lambda c: ([np.zeros((20, N_BINS), bool)],), TypeError,
         "Clip 0 has dtype bool"),
    Case("None instead of features", "fitted AudioTagger", "predict",
         lambda c: (None,), TypeError, "got NoneType"),
    Case("other bins at predict than at fit", "fitted SceneClassifier", "predict",
         lambda c: ([np.zeros((20, N_BINS + 1))],), ValueError,
         "Clip 0 has 7 frequency bins but the model was fitted with 6"),
    Case("16 kHz features into an 8 kHz model", "8 kHz pipeline's classifier",
         "predict",
         lambda c: (STFTTransformer(sample_rate=16000).fit_transform(
             [_noise(4000)]),),
         ValueError, "Clip 0 has 128 frequency bins but the model was fitted "
         "with 101"),
    Case("other bins within one training set", "SceneClassifier", "fit",
         lambda c: ([np.zeros((20, 6)), np.zeros((20, 5)), np.zeros((20, 6))],
                    ["a", "b", "c"]),
         ValueError, "Clip 1 has 5 frequency bins but clip 0 has 6"),
    Case("predict before fit", "SceneClassifier", "predict",
         lambda c: (_features(),), NotFittedError, "not initialized yet"),
    Case("predict_proba before fit", "AudioTagger", "predict_proba",
         lambda c: (_features(),), NotFittedError, "not initialized yet"),
    # -- targets -------------------------------------------------------------
    Case("labels of two columns", "SceneClassifier", "fit",
         lambda c: (_features(), np.c_[_labels(), _labels()]), ValueError,
         r"y has shape \(12, 2\); SceneClassifier expects one label per clip"),
    Case("fewer labels than clips", "SceneClassifier", "fit",
         lambda c: (_features(), _labels()[:3]), ValueError,
         "X has 12 clips but y has 3 labels"),
    Case("NaN label", "SceneClassifier", "fit",
         lambda c: (_features(), np.r_[np.nan, np.arange(11) % 2]), ValueError,
         r"y contains NaN labels \(clips \[0\]\)"),
    Case("continuous labels", "SceneClassifier", "fit",
         lambda c: (_features(), np.linspace(0, 1, N_CLIPS)), ValueError,
         "continuous values"),
    Case("a single class", "SceneClassifier", "fit",
         lambda c: (_features(), ["park"] * N_CLIPS), ValueError,
         "y has 1 class .*at least 2 classes"),
    Case("no labels", "SceneClassifier", "fit",
         lambda c: (_features(), None), ValueError, "requires y"),
    Case("label unseen in the first fit", "fitted SceneClassifier", "partial_fit",
         lambda c: (_features(), np.append(_labels()[:-1], "zoo")), ValueError,
         r"labels not seen in the first fit: \['zoo'\]"),
    Case("groups of the wrong shape", "SceneClassifier", "fit",
         lambda c: (_features(), _labels(), np.arange(3)), ValueError,
         r"groups has shape \(3,\); expected \(12,\)"),
    Case("1-D tag targets", "AudioTagger", "fit",
         lambda c: (_features(), np.arange(N_CLIPS) % 2), ValueError,
         r"y has shape \(12,\); AudioTagger expects an \(n_clips, n_tags\)"),
    Case("3-D tag targets", "AudioTagger", "fit",
         lambda c: (_features(), _tags()[:, :, None]), ValueError,
         r"y has shape \(12, 3, 1\)"),
    Case("tag matrix holding a 2", "AudioTagger", "fit",
         lambda c: (_features(), _tags() * 2), ValueError,
         r"only 0 and 1.*found values \[2\]"),
    Case("tag matrix holding 0.5", "AudioTagger", "fit",
         lambda c: (_features(), _tags() * 0.5), ValueError,
         r"only 0 and 1.*found values \[0\.5\]"),
    Case("tag matrix holding NaN", "AudioTagger", "fit",
         lambda c: (_features(), np.where(_tags() == 1, np.nan, 0)), ValueError,
         r"only 0 and 1.*found values \[nan\]"),
    Case("fewer tag rows than clips", "AudioTagger", "fit",
         lambda c: (_features(), _tags()[:5]), ValueError,
         "X has 12 clips but y has 5 rows"),
    Case("tag names as strings, not lists", "AudioTagger", "fit",
         lambda c: (_features(), ["dog", "cat"] * 6), ValueError,
         r"y\[0\] is the string 'dog', not a list of tags"),
    Case("no tags at all", "AudioTagger", "fit",
         lambda c: (_features(), [[] for _ in range(N_CLIPS)]), ValueError,
         r"y has shape \(12, 0\): no tags"),
    Case("other tag count than at fit", "fitted AudioTagger", "partial_fit",
         lambda c: (_features(), np.c_[_tags(), _tags()]), ValueError,
         "y has 6 tags; the model was fitted with 3"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_raises_a_clear_error(case, fitted, tmp_path):
    estimator = ESTIMATORS[case.estimator](fitted)
    args = case.make_args(SimpleNamespace(tmp=Path(tmp_path)))
    with pytest.raises(case.error, match=case.match):
        getattr(estimator, case.method)(*args)
