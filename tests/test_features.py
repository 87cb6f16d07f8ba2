"""STFTTransformer: the paper's preprocessing."""

import joblib
import librosa
import numpy as np
import pytest
import soundfile
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_allconv import STFTTransformer
from sklearn_allconv.features import PAPER_FEATURES, _pcen, stft_geometry


def _clips(rng, lengths, sample_rate=16000):
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in lengths]


@pytest.mark.parametrize(
    ("sample_rate", "n_bins"), [(44100, 552), (16000, 201), (48000, 601)]
)
def test_bin_counts_follow_the_window_length(sample_rate, n_bins):
    rng = np.random.default_rng(0)
    features = STFTTransformer(sample_rate=sample_rate, n_mels=None).fit_transform(
        _clips(rng, [sample_rate // 2])
    )
    assert features[0].shape[1] == n_bins
    assert stft_geometry(sample_rate)[2] == n_bins


@pytest.mark.parametrize("sample_rate", [44100, 16000])
def test_magnitudes_equal_librosa_stft(sample_rate):
    rng = np.random.default_rng(1)
    clips = _clips(rng, [sample_rate, sample_rate // 3 + 17, 1500])
    transformer = STFTTransformer(
        sample_rate=sample_rate, normalize=None, n_mels=None, compression=None,
        standardize=False,
    )
    features = transformer.fit_transform(clips)
    n_fft, hop, _ = stft_geometry(sample_rate)
    for clip, frames in zip(clips, features, strict=True):
        reference = np.abs(
            librosa.stft(clip, n_fft=n_fft, hop_length=hop, window="hann", center=False)
        ).T
        assert frames.dtype == np.float32
        assert frames.shape == reference.shape
        np.testing.assert_allclose(frames, reference, rtol=1e-4, atol=1e-5)


# The paper's STFT written out by hand, independent of the library's geometry
# helper: a 25 ms window and a 15 ms hop, rounded to whole samples (half to
# even: 25 ms at 44.1 kHz is 1102.5 samples -> 1102, giving the paper's 552
# bins; 15 ms is 661.5 -> 662), periodic Hann, no centring: a clip of N samples
# has 1 + (N - window) // hop frames.
PAPER_STFT = {44100: (1102, 662, 552), 16000: (400, 240, 201)}
PAPER_FRAME_COUNTS = [
    # (sample rate, samples, frames)
    (44100, 1102, 1),  # exactly one window
    (44100, 1763, 1),  # one sample short of the second frame
    (44100, 1764, 2),
    (44100, 44100, 65),  # 1 s
    (44100, 441123, 665),
    (44100, 1323000, 1997),  # 30 s, a TUT Acoustic Scenes 2016 clip
    (16000, 400, 1),
    (16000, 639, 1),
    (16000, 640, 2),
    (16000, 16000, 66),
    (16000, 160123, 666),
]


@pytest.mark.parametrize(("sample_rate", "n_samples", "n_frames"), PAPER_FRAME_COUNTS)
def test_frame_counts_follow_the_papers_window_and_hop(
    sample_rate, n_samples, n_frames
):
    clip = np.random.default_rng(n_samples).standard_normal(n_samples)
    transformer = STFTTransformer(
        sample_rate=sample_rate, n_mels=None, standardize=False
    )
    frames = transformer.fit_transform([clip.astype(np.float32)])[0]
    assert frames.shape == (n_frames, PAPER_STFT[sample_rate][2])
    # The default mel bands change the columns, not the frames.
    default = STFTTransformer(sample_rate=sample_rate, standardize=False)
    assert default.fit_transform([clip.astype(np.float32)])[0].shape == (
        n_frames, 128
    )


@pytest.mark.parametrize("sample_rate", [44100, 16000])
def test_magnitudes_equal_a_hand_written_dft_with_the_papers_window_and_hop(
    sample_rate,
):
    window, hop, n_bins = PAPER_STFT[sample_rate]
    clip = np.random.default_rng(5).standard_normal(window + 3 * hop + 17)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)  # periodic
    k = np.arange(n_bins)[:, None] * np.arange(window)[None, :]
    dft = np.exp(-2j * np.pi * k / window)
    reference = np.array(
        [
            np.abs(dft @ (clip[start : start + window] * hann))
            for start in range(0, len(clip) - window + 1, hop)
        ]
    )
    assert reference.shape == (4, n_bins)
    transformer = STFTTransformer(sample_rate=sample_rate, **PAPER_FEATURES).set_params(
        standardize=False
    )
    frames = transformer.fit_transform([clip.astype(np.float32)])[0]
    np.testing.assert_allclose(frames, reference, rtol=1e-4, atol=1e-4)


def test_window_is_periodic_hann():
    # A periodic window of length N is the symmetric window of length N + 1,
    # truncated: a sinusoid at an exact bin frequency leaks into exactly 3 bins.
    sample_rate, n_fft = 16000, 400
    t = np.arange(4000) / sample_rate
    tone = np.sin(2 * np.pi * (10 * sample_rate / n_fft) * t).astype(np.float32)
    frames = STFTTransformer(
        sample_rate=sample_rate, n_mels=None, compression=None, standardize=False
    ).fit_transform([tone])[0]
    significant = np.flatnonzero(frames[0] > 1e-3 * frames[0].max())
    np.testing.assert_array_equal(significant, [9, 10, 11])


def test_streamed_statistics_equal_those_of_the_concatenated_frames():
    rng = np.random.default_rng(2)
    clips = _clips(rng, [16000, 7000, 12345, 400])
    raw = STFTTransformer(sample_rate=16000, standardize=False).fit_transform(clips)
    concatenated = np.concatenate(list(raw)).astype(np.float64)
    transformer = STFTTransformer(sample_rate=16000).fit(clips)
    np.testing.assert_allclose(transformer.mean_, concatenated.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(transformer.scale_, concatenated.std(axis=0), rtol=1e-8)
    assert transformer.n_frames_seen_ == len(concatenated)


def test_standardized_training_frames_have_zero_mean_and_unit_variance():
    rng = np.random.default_rng(3)
    features = STFTTransformer(sample_rate=16000).fit_transform(
        _clips(rng, [16000, 9000])
    )
    frames = np.concatenate(list(features)).astype(np.float64)
    np.testing.assert_allclose(frames.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(frames.std(axis=0), 1, atol=1e-4)


def test_fit_transform_equals_fit_then_transform():
    rng = np.random.default_rng(4)
    clips = _clips(rng, [8000, 5000, 6000])
    once = STFTTransformer(sample_rate=16000).fit_transform(clips)
    twice = STFTTransformer(sample_rate=16000).fit(clips).transform(clips)
    for a, b in zip(once, twice, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_constant_bins_are_not_divided_by_zero():
    silence = [np.zeros(4000, dtype=np.float32), np.zeros(3000, dtype=np.float32)]
    transformer = STFTTransformer(sample_rate=16000)
    features = transformer.fit_transform(silence)
    np.testing.assert_array_equal(transformer.scale_, 1.0)
    assert all(np.isfinite(f).all() for f in features)


@pytest.mark.parametrize("compression", [None, "log-gain"])
def test_parallel_extraction_gives_the_same_features(compression):
    rng = np.random.default_rng(5)
    clips = _clips(rng, [8000, 9000, 10000, 11000])
    stft = STFTTransformer(sample_rate=16000, compression=compression)
    serial = clone(stft).set_params(n_jobs=1).fit_transform(clips)
    parallel = clone(stft).set_params(n_jobs=2).fit_transform(clips)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_features_are_standardized_under_a_process_based_joblib_backend():
    # A caller's joblib.parallel_config(backend="dask" or "loky") reaches the
    # transformer's own parallel loops; standardizing in place must not run
    # on copies in other processes (it did: raw features, a 0.1 difference in
    # probabilities after cross_val_predict on a dask cluster).
    rng = np.random.default_rng(6)
    clips = _clips(rng, [8000, 9000, 10000, 11000])
    serial = STFTTransformer(sample_rate=16000).fit_transform(clips)
    with joblib.parallel_config(backend="loky", n_jobs=2):
        in_processes = STFTTransformer(sample_rate=16000).fit_transform(clips)
    for a, b in zip(serial, in_processes, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sequence_input_gives_object_array_and_2d_array_gives_3d_array():
    rng = np.random.default_rng(6)
    clips = _clips(rng, [4000, 4000])
    transformer = STFTTransformer(sample_rate=16000, standardize=False)
    ragged = transformer.fit_transform(clips)
    assert ragged.dtype == object and ragged.shape == (2,)
    dense = transformer.fit_transform(np.stack(clips))
    assert dense.dtype == np.float32 and dense.shape == (2, *ragged[0].shape)
    np.testing.assert_array_equal(dense[1], ragged[1])


def test_left_channel_is_used_by_default_and_mean_on_request():
    rng = np.random.default_rng(7)
    left, right = _clips(rng, [4000, 4000])
    stereo = np.stack([left, right])
    transformer = STFTTransformer(sample_rate=16000, standardize=False)
    np.testing.assert_array_equal(
        transformer.fit_transform([stereo])[0], transformer.fit_transform([left])[0]
    )
    mean = transformer.set_params(channel="mean").fit_transform([stereo])[0]
    expected = transformer.fit_transform([(left + right) / 2])[0]
    np.testing.assert_allclose(mean, expected, rtol=1e-5, atol=1e-6)


def test_integer_pcm_is_scaled_like_soundfile():
    rng = np.random.default_rng(8)
    pcm = (rng.standard_normal(4000) * 3000).astype(np.int16)
    transformer = STFTTransformer(sample_rate=16000, standardize=False)
    as_int = transformer.fit_transform([pcm])[0]
    as_float = transformer.fit_transform([pcm.astype(np.float32) / 32768])[0]
    np.testing.assert_allclose(as_int, as_float, rtol=1e-5, atol=1e-7)


def test_audio_files_are_read_with_their_channels(tmp_path):
    rng = np.random.default_rng(9)
    stereo = rng.uniform(-0.5, 0.5, (4000, 2)).astype(np.float32)
    path = tmp_path / "clip.wav"
    soundfile.write(path, stereo, 16000, subtype="FLOAT")
    transformer = STFTTransformer(sample_rate=16000, standardize=False)
    from_file = transformer.fit_transform([str(path)])[0]
    from_array = transformer.fit_transform([stereo[:, 0]])[0]
    np.testing.assert_allclose(from_file, from_array, rtol=1e-6)


def test_file_with_another_sample_rate_is_an_error_unless_resampling(tmp_path):
    path = tmp_path / "clip_8k.wav"
    soundfile.write(path, np.zeros(8000, dtype=np.float32), 8000)
    with pytest.raises(ValueError, match=r"clip_8k\.wav.*8000 Hz.*16000 Hz"):
        STFTTransformer(sample_rate=16000).fit([path])
    features = STFTTransformer(sample_rate=16000, resample=True).fit_transform([path])
    # 16000 samples after resampling; 128 mel bands
    assert features[0].shape == (66, 128)


def test_resampling_keeps_a_tone_where_it_was(tmp_path):
    tone = [np.sin(2 * np.pi * 1000 * np.arange(rate) / rate) for rate in (8000, 16000)]
    path = tmp_path / "tone_8k.wav"
    soundfile.write(path, 0.5 * tone[0], 8000, subtype="FLOAT")
    stft = STFTTransformer(
        sample_rate=16000, n_mels=None, compression=None, standardize=False
    )
    resampled = stft.set_params(resample=True).fit_transform([path])[0]
    recorded = stft.fit_transform([0.5 * tone[1].astype(np.float32)])[0]
    assert resampled.shape == recorded.shape
    # Away from the resampling filter's edges the spectra agree (the peak is
    # at 1000 Hz, bin 25 of 40 Hz).
    middle = slice(5, -5)
    assert (resampled[middle].argmax(axis=1) == 25).all()
    np.testing.assert_allclose(
        resampled[middle], recorded[middle], atol=0.01 * recorded.max()
    )


@pytest.mark.parametrize(
    ("make_input", "error", "match"),
    [
        (lambda tmp: [], ValueError, "0 clips"),
        (lambda tmp: [np.zeros(0, np.float32)], ValueError, "Clip 0 is empty"),
        (
            lambda tmp: [np.zeros(500), np.zeros(100)],
            ValueError,
            r"Clip 1 has 100 samples .*at least 400 samples",
        ),
        (
            lambda tmp: [np.zeros(800), np.r_[np.zeros(799), np.nan]],
            ValueError,
            "Clip 1 contains NaN",
        ),
        (lambda tmp: [np.full(800, np.inf)], ValueError, "Clip 0 contains NaN or inf"),
        (lambda tmp: np.zeros(800), ValueError, "single 1-D array"),
        (lambda tmp: [np.zeros((2, 2, 800))], ValueError, "Clip 0 has 3 dimensions"),
        (lambda tmp: [np.zeros((800, 2))], ValueError, r"\(channels x samples\)"),
        (lambda tmp: ["clip.wav"], FileNotFoundError, "does not exist"),
        (lambda tmp: "clip.wav", TypeError, "single path"),
        (lambda tmp: [np.array(["a", "b"])], TypeError, "dtype <U1"),
    ],
)
def test_bad_input_raises_a_clear_error(tmp_path, make_input, error, match):
    with pytest.raises(error, match=match):
        STFTTransformer(sample_rate=16000).fit(make_input(tmp_path))


def test_truncated_audio_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.wav"
    soundfile.write(path, np.zeros(8000, dtype=np.float32), 16000)
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(ValueError, match=r"broken\.wav.*could not be read"):
        STFTTransformer(sample_rate=16000).fit([path])


def _forbid_stft(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the STFT was computed although the clip is cached")

    monkeypatch.setattr("sklearn_allconv.features.scipy.fft.rfft", fail)


def test_cached_features_are_identical_and_the_cache_is_hit(tmp_path, monkeypatch):
    rng = np.random.default_rng(10)
    clips = _clips(rng, [8000, 5000, 6000])
    cached = STFTTransformer(sample_rate=16000, memory=tmp_path / "cache")
    first = cached.fit_transform(clips)
    _forbid_stft(monkeypatch)
    again = clone(cached).fit_transform(clips)
    # A subset, as a cross-validation fold sees it, is all in the cache too.
    clone(cached).fit(clips[1:]).transform(clips[:1])
    monkeypatch.undo()
    uncached = STFTTransformer(sample_rate=16000).fit_transform(clips)
    for a, b, c in zip(first, again, uncached, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_cache_tells_settings_and_file_versions_apart(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "clip.wav"
    audio = rng.uniform(-0.5, 0.5, 4000).astype(np.float32)
    soundfile.write(path, audio, 16000, subtype="FLOAT")
    memory = str(tmp_path / "cache")
    transformer = STFTTransformer(sample_rate=16000, standardize=False, memory=memory)
    before = transformer.fit_transform([path])[0]
    finer = transformer.set_params(hop_ms=10).fit_transform([path])[0]
    assert finer.shape[0] > before.shape[0]
    soundfile.write(path, np.zeros(8000, np.float32), 16000, subtype="FLOAT")
    after = transformer.set_params(hop_ms=15).fit_transform([path])[0]
    assert after.shape[0] > before.shape[0] and not after.any()


def _raw(clips):
    """The STFT magnitudes as recorded: no level normalization, no mel bands,
    no compression."""
    return STFTTransformer(
        sample_rate=16000, standardize=False, **PAPER_FEATURES
    ).fit_transform(clips)


@pytest.mark.parametrize("compression", ["log", "log-gain"])
def test_log_compression_equals_a_hand_computation(compression):
    rng = np.random.default_rng(12)
    clip = _clips(rng, [3000])[0]
    clip[:1000] = 0.0  # digital silence: log(0 + 1e-6), finite
    magnitudes = _raw([clip])[0].astype(np.float64)
    expected = np.log(magnitudes + 1e-6)
    if compression == "log-gain":
        expected -= expected.mean()  # one number: over all frames and bins
    features = STFTTransformer(
        sample_rate=16000, normalize=None, n_mels=None, compression=compression,
        standardize=False,
    ).fit_transform([clip])[0]
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    np.testing.assert_allclose(features, expected, rtol=0, atol=2e-5)


def test_rms_normalization_equals_a_hand_computation():
    rng = np.random.default_rng(17)
    clips = _clips(rng, [6000, 3000])
    clips.append(np.zeros(3000, dtype=np.float32))  # silence stays zero
    stft = STFTTransformer(
        sample_rate=16000, normalize="rms", n_mels=None, compression=None,
        standardize=False,
    )
    features_and_magnitudes = zip(stft.fit_transform(clips), _raw(clips), strict=True)
    for features, magnitudes in features_and_magnitudes:
        magnitudes = magnitudes.astype(np.float64)
        rms = np.sqrt(np.mean(magnitudes**2))  # over all frames and bins
        expected = magnitudes / rms if rms > 0 else magnitudes
        assert features.dtype == np.float32
        np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-7)
    # Then the compression, on the normalized magnitudes.
    log = clone(stft).set_params(compression="log").fit_transform(clips[:1])[0]
    np.testing.assert_allclose(
        log, np.log(stft.transform(clips[:1])[0] + 1e-6), rtol=0, atol=1e-5
    )


def test_default_features_are_pcen_of_mel_bands_of_rms_normalized_magnitudes():
    # The defaults, outside the paper: each clip divided by its RMS, pooled
    # into librosa's 128 mel bands, then librosa's PCEN (on the bands times
    # 2**31), then standardized per band.
    rng = np.random.default_rng(19)
    clips = _clips(rng, [9000, 5000])
    magnitudes = [m.astype(np.float64) for m in _raw(clips)]
    filters = librosa.filters.mel(sr=16000, n_fft=400, n_mels=128)
    pcen = [
        librosa.pcen(
            filters @ (m / np.sqrt(np.mean(m**2))).T * 2**31, sr=16000,
            hop_length=240,
        ).T
        for m in magnitudes
    ]
    frames = np.concatenate(pcen)
    mean, scale = frames.mean(axis=0), frames.std(axis=0)
    features = STFTTransformer(sample_rate=16000).fit_transform(clips)
    for clip_features, clip_pcen in zip(features, pcen, strict=True):
        np.testing.assert_allclose(
            clip_features, (clip_pcen - mean) / scale, rtol=1e-4, atol=1e-4
        )
    # PAPER_FEATURES switches both off: the standardized magnitudes as recorded.
    paper = STFTTransformer(sample_rate=16000, **PAPER_FEATURES).fit(clips)
    np.testing.assert_allclose(
        paper.mean_, np.concatenate(magnitudes).mean(axis=0), rtol=1e-6
    )


def test_rms_normalized_features_do_not_depend_on_the_clip_gain():
    rng = np.random.default_rng(18)
    clips = _clips(rng, [8000, 6000])
    stft = STFTTransformer(sample_rate=16000, normalize="rms").fit(clips)
    louder = [[10, 0.01][k] * clip for k, clip in enumerate(clips)]
    for a, b in zip(stft.transform(clips), stft.transform(louder), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # Without it, a gain moves the standardized features by far more.
    plain = STFTTransformer(
        sample_rate=16000, normalize=None, compression=None
    ).fit(clips)
    assert np.abs(plain.transform(louder)[0] - plain.transform(clips)[0]).mean() > 1


@pytest.mark.parametrize(
    "sample_rate, level", [(16000, 1.0), (44100, 1.0), (16000, 1e-11)]
)
def test_pcen_compression_is_librosa_pcen_with_its_defaults(sample_rate, level):
    # At a level of 1e-11 the scaled magnitudes are of the order of the
    # smoothing filter's initial state (1).
    rng = np.random.default_rng(15)
    clip = level * _clips(rng, [sample_rate], sample_rate)[0]
    clip[: sample_rate // 4] *= 0.01  # a quiet start, then 40 dB louder
    stft = STFTTransformer(
        sample_rate=sample_rate, n_mels=None, compression=None, standardize=False
    )
    magnitudes = stft.fit_transform([clip])[0]
    # librosa's documented use on audio in [-1, 1]: magnitudes times 2**31,
    # frequency by time; its smoothing constant from sr and hop_length.
    expected = librosa.pcen(
        magnitudes.T.astype(np.float64) * 2**31,
        sr=sample_rate,
        hop_length=stft.hop_length_,
    ).T
    features = clone(stft).set_params(compression="pcen").fit_transform([clip])[0]
    assert features.dtype == np.float32
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)


def test_pcen_matches_librosa_from_silence_to_loud_bins():
    # Bins from 1e-20 (below eps once scaled) to 1e2, over 3,000 frames: the
    # float32 computation stays within 1e-5 of librosa's float64 one.
    rng = np.random.default_rng(3)
    levels = np.logspace(-20, 2, 23, dtype=np.float32)
    magnitudes = levels * rng.random((3000, 23), dtype=np.float32)
    magnitudes[:, 0] = 0  # a silent bin
    frame_rate = 16000 / 240
    expected = librosa.pcen(
        magnitudes.T.astype(np.float64) * 2**31, sr=16000, hop_length=240
    ).T
    _pcen(magnitudes, frame_rate)  # in place
    np.testing.assert_allclose(magnitudes, expected, rtol=1e-5, atol=1e-5)


def test_pcen_features_barely_depend_on_the_clip_gain():
    rng = np.random.default_rng(16)
    clips = _clips(rng, [32000])
    louder = [10 * clip for clip in clips]
    pcen = STFTTransformer(
        sample_rate=16000, normalize=None, compression="pcen"
    ).fit(clips)
    plain = STFTTransformer(
        sample_rate=16000, normalize=None, compression=None
    ).fit(clips)

    def change(stft):
        # After the first 0.4 s, where librosa's filter starts from rest.
        return np.abs(stft.transform(louder)[0] - stft.transform(clips)[0])[30:]

    # A gain g scales the normalized energy by g**0.02 (1.047 for g = 10):
    # a few hundredths of a standard deviation, where plain magnitudes move
    # by several standard deviations.
    assert change(pcen).max() < 0.2
    assert change(plain).mean() > 20 * change(pcen).mean()


@pytest.mark.parametrize("standardize", [False, True])
def test_log_gain_features_do_not_depend_on_the_clip_gain(standardize):
    rng = np.random.default_rng(13)
    clips = _clips(rng, [8000, 6000])
    louder = [10 * clip for clip in clips]
    stft = STFTTransformer(
        sample_rate=16000, n_mels=None, compression="log-gain", standardize=standardize
    ).fit(clips)
    # Up to float32 rounding, relatively largest in the weakest bins.
    for a, b in zip(stft.transform(clips), stft.transform(louder), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)
    # Without the clip's mean, the gain shifts every value by log(10).
    log = STFTTransformer(
        sample_rate=16000, normalize=None, n_mels=None, compression="log",
        standardize=False,
    )
    shift = log.fit_transform(louder)[0] - log.transform(clips)[0]
    np.testing.assert_allclose(shift, np.log(10), atol=1e-3)


def test_standardization_statistics_come_from_the_compressed_values():
    rng = np.random.default_rng(14)
    clips = _clips(rng, [8000, 5000, 6400])
    compressed = STFTTransformer(
        sample_rate=16000, compression="log-gain", standardize=False
    ).fit_transform(clips)
    concatenated = np.concatenate(list(compressed)).astype(np.float64)
    stft = STFTTransformer(sample_rate=16000, compression="log-gain")
    features = stft.fit_transform(clips)
    np.testing.assert_allclose(stft.mean_, concatenated.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(stft.scale_, concatenated.std(axis=0), rtol=1e-6)
    frames = np.concatenate(list(features)).astype(np.float64)
    np.testing.assert_allclose(frames.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(frames.std(axis=0), 1, atol=1e-4)
    for a, b in zip(features, stft.transform(clips), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_cache_does_not_return_uncompressed_features_for_compression(
    tmp_path, monkeypatch
):
    rng = np.random.default_rng(15)
    clips = _clips(rng, [8000, 5000])
    memory = tmp_path / "cache"
    plain = STFTTransformer(sample_rate=16000, standardize=False, memory=memory)
    magnitudes = plain.fit_transform(clips)
    log_gain = clone(plain).set_params(compression="log-gain")
    expected = clone(log_gain).set_params(memory=None).fit_transform(clips)
    # The cache holds the magnitudes, which each compression starts from:
    # nothing is computed again, and nothing comes back uncompressed.
    _forbid_stft(monkeypatch)
    cached = log_gain.fit_transform(clips)
    again = clone(plain).fit_transform(clips)
    for m, e, c, a in zip(magnitudes, expected, cached, again, strict=True):
        np.testing.assert_array_equal(c, e)
        np.testing.assert_array_equal(a, m)
        assert not np.allclose(c, m, atol=1)


def test_unknown_compression_is_refused_in_fit_and_a_change_after_fit_too():
    clips = _clips(np.random.default_rng(16), [4000])
    with pytest.raises(InvalidParameterError, match="'compression' parameter"):
        STFTTransformer(sample_rate=16000, compression="db").fit(clips)
    stft = STFTTransformer(sample_rate=16000).fit(clips)
    stft.set_params(compression="log-gain")
    with pytest.raises(ValueError, match="compression from 'pcen' to 'log-gain'"):
        stft.transform(clips)
    stft.set_params(compression=None, normalize=None)
    with pytest.raises(ValueError, match="normalize from 'rms' to None"):
        stft.transform(clips)
    with pytest.raises(InvalidParameterError, match="'normalize' parameter"):
        clone(stft).set_params(normalize="peak").fit(clips)


@pytest.mark.parametrize(("sample_rate", "n_mels"), [(16000, 40), (44100, 128)])
def test_mel_bands_are_librosas_mel_filters_on_the_magnitudes(sample_rate, n_mels):
    rng = np.random.default_rng(17)
    clip = _clips(rng, [sample_rate], sample_rate)[0]
    clip += 0.5 * np.sin(2 * np.pi * 440 * np.arange(sample_rate) / sample_rate)
    stft = STFTTransformer(
        sample_rate=sample_rate, normalize=None, n_mels=n_mels, compression=None,
        standardize=False,
    )
    bands = stft.fit_transform([clip])[0]
    n_fft, hop_length, _ = stft_geometry(sample_rate)
    magnitudes = np.abs(librosa.stft(
        clip, n_fft=n_fft, hop_length=hop_length, window="hann", center=False
    ))
    # With S given, librosa pools it as it is: magnitudes, not power.
    expected = librosa.feature.melspectrogram(
        S=magnitudes, sr=sample_rate, n_mels=n_mels
    ).T
    assert stft.n_bins_ == n_mels and bands.shape == expected.shape
    np.testing.assert_allclose(bands, expected, rtol=0, atol=1e-5 * expected.max())


def test_mel_bands_come_after_the_rms_level_and_before_pcen():
    rng = np.random.default_rng(18)
    clip = 0.3 * _clips(rng, [24000])[0]
    clip[:8000] *= 0.01
    magnitudes = _raw([clip])[0].astype(np.float64)
    # The level of the linear bins, as without mel bands.
    level = np.sqrt(np.mean(magnitudes**2))
    filters = librosa.filters.mel(sr=16000, n_fft=400, n_mels=32)
    expected = librosa.pcen(
        (filters @ (magnitudes / level).T) * 2**31, sr=16000, hop_length=240
    ).T
    stft = STFTTransformer(sample_rate=16000, n_mels=32, standardize=False)
    np.testing.assert_allclose(
        stft.fit_transform([clip])[0], expected, rtol=1e-5, atol=1e-5
    )
    # Standardized per band, over the training frames.
    standardized = clone(stft).set_params(standardize=True)
    features = standardized.fit_transform([clip])[0]
    assert standardized.mean_.shape == (32,)
    np.testing.assert_allclose(standardized.mean_, expected.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(features.std(axis=0), 1, atol=1e-4)


def test_mel_bands_without_bins_and_a_change_after_fit_are_refused():
    clips = _clips(np.random.default_rng(19), [4000])
    # 256 bands at 16 kHz: the lowest are narrower than the 40 Hz bin spacing.
    with pytest.raises(ValueError, match="without any STFT bin .* at most 149 mel"):
        STFTTransformer(sample_rate=16000, n_mels=256).fit(clips)
    with pytest.raises(InvalidParameterError, match="'n_mels' parameter"):
        STFTTransformer(sample_rate=16000, n_mels=0).fit(clips)
    # More than twice as many bands as the 201 bins: refused before any
    # filter is computed.
    with pytest.raises(ValueError, match="n_mels=100000 .* at most 149 mel"):
        STFTTransformer(sample_rate=16000, n_mels=100_000).fit(clips)
    # Triangles overlap: at 8 kHz 116 bands of the 101 bins all hold one.
    with pytest.raises(ValueError, match="at most 116 mel bands"):
        STFTTransformer(sample_rate=8000, n_mels=128).fit(clips)
    assert STFTTransformer(sample_rate=8000, n_mels=116).fit(clips).n_bins_ == 116
    stft = STFTTransformer(sample_rate=16000, n_mels=64).fit(clips)
    assert stft.transform(clips)[0].shape == (16, 64)
    stft.set_params(n_mels=32)
    with pytest.raises(ValueError, match="n_mels from 64 to 32"):
        stft.transform(clips)


@pytest.mark.parametrize(
    ("sample_rate", "n_bins", "n_mels"),
    [(8000, 101, None), (10000, 126, None), (11025, 128, 128), (44100, 128, 128)],
)
def test_auto_mel_bands_are_128_where_each_holds_a_bin(sample_rate, n_bins, n_mels):
    # At 8 and 10 kHz some of 128 bands would be narrower than the 40 Hz bins:
    # the linear bins stay.
    clip = _clips(np.random.default_rng(20), [sample_rate // 2], sample_rate)[0]
    stft = STFTTransformer(sample_rate=sample_rate).fit([clip])
    assert (stft.n_bins_, stft.n_mels_) == (n_bins, n_mels)
    assert stft.transform([clip])[0].shape[1] == n_bins
