"""Synthetic stand-ins for the DCASE 2016 datasets, for demos and tests.

:func:`make_acoustic_scenes` mimics TUT Acoustic Scenes 2016 (Task 1: one
scene label per variable-length clip, clips grouped by recording location)
and :func:`make_domestic_tags` mimics CHiME-Home (Task 4: seven tags per 4 s
chunk, chunks grouped by recording segment). Both return ragged audio as a
1-D object array of float32 clips, the container the rest of the library
expects, and sizes small enough to run a full pipeline on a laptop CPU.

The sounds are built from a handful of vectorised primitives: coloured
Gaussian noise shaped in the frequency domain, harmonic tones following a
frequency track, damped resonances ("clicks") and band-limited noise bursts.
"""

import numbers
from collections.abc import Callable
from functools import partial
from typing import NamedTuple, cast

import numpy as np
from scipy import fft
from sklearn.utils import check_random_state

from ._chime import DOMESTIC_TAG_CODES, DOMESTIC_TAG_LABELS

__all__ = [
    "ACOUSTIC_SCENE_LABELS",
    "DOMESTIC_TAG_CODES",
    "DOMESTIC_TAG_LABELS",
    "make_acoustic_scenes",
    "make_domestic_tags",
]

ACOUSTIC_SCENE_LABELS = (
    "beach",
    "bus",
    "cafe/restaurant",
    "car",
    "city_center",
    "forest_path",
    "grocery_store",
    "home",
    "library",
    "metro_station",
    "office",
    "park",
    "residential_area",
    "train",
    "tram",
)
"""The 15 scene labels of TUT Acoustic Scenes 2016, spelled as in its meta.txt."""


# Frequencies are kept below this fraction of the sample rate so that no
# synthesised partial aliases.
_MAX_FREQUENCY_RATIO = 0.45

# Share of scene clips cut short, mimicking the TUT clips shortened after
# their corrupted parts were removed.
_SHORT_CLIP_FRACTION = 0.25

# Spread (standard deviations) of the differences between the locations of
# a scene: a shift of all its frequencies, in octaves; the gains of its
# resonances and events, in dB; its loudness, in dB; and the gains of
# resonances of the location's own, in dB. Together with the clip-level
# clutter (``noise``) they set how far the long-term spectrum of a clip
# identifies its scene.
_LOCATION_SHIFT_OCTAVES = 0.05
_LOCATION_GAIN_DB = 1.5
_LOCATION_LEVEL_DB = 2.0
_LOCATION_COLOUR_DB = 1.5


class _Event(NamedTuple):
    """A recurring sound of a scene: what it is and how often it happens.

    ``kind`` is ``"tone"`` (``harmonics`` partials sweeping from ``f_start``
    to ``f_end`` Hz), ``"click"`` (a damped resonance gliding from
    ``f_start`` to ``f_end``) or ``"band"`` (noise between the two
    frequencies). Each occurrence lasts ``duration`` seconds; they come at
    ``rate`` per second, either at random (``rhythm="poisson"``) or
    regularly with some jitter (``"periodic"``). ``level_db`` is an
    occurrence's RMS relative to the noise floor's, and ``modulation_hz``
    the rate of an optional amplitude modulation (syllables, swells).
    """

    kind: str
    f_start: float
    f_end: float
    duration: float
    rate: float
    rhythm: str
    level_db: float
    harmonics: int = 1
    modulation_hz: float = 0.0


class _Scene(NamedTuple):
    """A scene's noise floor (a spectral tilt around 1 kHz in dB/octave plus
    Gaussian bumps in log frequency, each ``(centre Hz, width octaves, gain
    dB)``), an optional steady hum, its loudness in dBFS and its events."""

    tilt_db: float
    bumps: tuple[tuple[float, float, float], ...]
    hum_hz: float
    level_db: float
    events: tuple[_Event, ...]


# Scenes come in families that share a noise floor and loudness (outdoor,
# vehicles, busy indoor, quiet indoor), so that the long-term spectrum alone
# confuses them. What sets a scene apart are its events: sparse, locally
# loud, and distinct in their time-frequency shape (sweep direction, rhythm,
# duration, pitch), which a spectrogram model can see and a clip average
# mostly washes out.
_OUTDOOR = (-4.5, ((250.0, 1.2, 6.0), (3000.0, 1.2, 6.0)))
_VEHICLE = (-6.0, ((120.0, 0.8, 10.0), (800.0, 1.0, 4.0)))
_BUSY_INDOOR = (-5.0, ((400.0, 1.2, 7.0), (2000.0, 1.0, 5.0)))
_QUIET_INDOOR = (-5.5, ((150.0, 1.0, 5.0), (900.0, 1.0, 3.0)))

_SCENE_PROTOTYPES = {
    "beach": _Scene(
        *_OUTDOOR,
        hum_hz=0.0,
        level_db=-26.0,
        events=(
            # Waves washing in, gulls.
            _Event("band", 300.0, 3000.0, 1.5, 0.5, "poisson", 0.0, modulation_hz=0.7),
            _Event("tone", 2200.0, 1400.0, 0.3, 0.4, "poisson", 6.0, harmonics=3),
        ),
    ),
    "bus": _Scene(
        *_VEHICLE,
        hum_hz=75.0,
        level_db=-21.0,
        events=(
            # Stop-request beeps, door hiss.
            _Event("tone", 2000.0, 2000.0, 0.12, 0.5, "periodic", 6.0, harmonics=2),
            _Event("band", 2000.0, 8000.0, 0.6, 0.15, "poisson", 0.0),
        ),
    ),
    "cafe/restaurant": _Scene(
        *_BUSY_INDOOR,
        hum_hz=0.0,
        level_db=-23.0,
        events=(
            # Voices, cutlery.
            _Event("tone", 220.0, 160.0, 0.6, 0.8, "poisson", 0.0, 8, 4.5),
            _Event("click", 4500.0, 4200.0, 0.08, 1.0, "poisson", 8.0),
        ),
    ),
    "car": _Scene(
        *_VEHICLE,
        hum_hz=40.0,
        level_db=-21.0,
        events=(
            # Indicator ticking, road bumps.
            _Event("click", 2500.0, 2300.0, 0.03, 1.5, "periodic", 6.0),
            _Event("click", 120.0, 80.0, 0.2, 0.4, "poisson", 6.0),
        ),
    ),
    "city_center": _Scene(
        *_OUTDOOR,
        hum_hz=0.0,
        level_db=-26.0,
        events=(
            # Footsteps, car horns, a passing scooter.
            _Event("click", 350.0, 250.0, 0.06, 1.8, "periodic", 6.0),
            _Event("tone", 420.0, 420.0, 0.4, 0.2, "poisson", 6.0, harmonics=6),
            _Event("tone", 900.0, 600.0, 1.0, 0.2, "poisson", 2.0, harmonics=4),
        ),
    ),
    "forest_path": _Scene(
        *_OUTDOOR,
        hum_hz=0.0,
        level_db=-26.0,
        events=(
            # Rising bird calls, wind gusts.
            _Event("tone", 3800.0, 5600.0, 0.09, 2.0, "poisson", 8.0, harmonics=2),
            _Event("band", 100.0, 1500.0, 1.5, 0.3, "poisson", 0.0, modulation_hz=0.6),
        ),
    ),
    "grocery_store": _Scene(
        *_BUSY_INDOOR,
        hum_hz=120.0,
        level_db=-23.0,
        events=(
            # Checkout scanner beeps, voices, trolleys.
            _Event("tone", 3100.0, 3100.0, 0.12, 0.8, "periodic", 6.0),
            _Event("tone", 210.0, 170.0, 0.6, 0.4, "poisson", 0.0, 8, 4.5),
            _Event("click", 800.0, 600.0, 0.05, 1.0, "poisson", 4.0),
        ),
    ),
    "home": _Scene(
        *_QUIET_INDOOR,
        hum_hz=50.0,
        level_db=-32.0,
        events=(
            # Knocks and doors, a voice, a ticking clock.
            _Event("click", 600.0, 500.0, 0.1, 0.5, "poisson", 8.0),
            _Event("tone", 180.0, 140.0, 0.8, 0.3, "poisson", 2.0, 8, 4.0),
            _Event("click", 3000.0, 3000.0, 0.02, 1.0, "periodic", 4.0),
        ),
    ),
    "library": _Scene(
        *_QUIET_INDOOR,
        hum_hz=100.0,
        level_db=-32.0,
        events=(
            # Pages turning, chairs.
            _Event("band", 1500.0, 9000.0, 0.35, 0.4, "poisson", 6.0),
            _Event("click", 300.0, 250.0, 0.08, 0.3, "poisson", 4.0),
        ),
    ),
    "metro_station": _Scene(
        *_VEHICLE,
        hum_hz=0.0,
        level_db=-21.0,
        events=(
            # Brake screech, announcement chime, voices.
            _Event("tone", 2600.0, 2900.0, 1.0, 0.2, "poisson", 6.0, harmonics=2),
            _Event("tone", 800.0, 800.0, 0.4, 0.3, "periodic", 6.0, harmonics=3),
            _Event("tone", 200.0, 160.0, 0.6, 0.4, "poisson", 0.0, 8, 4.5),
        ),
    ),
    "office": _Scene(
        *_QUIET_INDOOR,
        hum_hz=120.0,
        level_db=-32.0,
        events=(
            # Typing, a voice.
            _Event("click", 3200.0, 2800.0, 0.015, 6.0, "poisson", 4.0),
            _Event("tone", 190.0, 150.0, 0.6, 0.3, "poisson", 0.0, 8, 4.0),
        ),
    ),
    "park": _Scene(
        *_OUTDOOR,
        hum_hz=0.0,
        level_db=-26.0,
        events=(
            # Falling bird calls, children.
            _Event("tone", 5600.0, 3800.0, 0.12, 1.5, "poisson", 8.0, harmonics=2),
            _Event("tone", 320.0, 260.0, 0.5, 0.4, "poisson", 0.0, 8, 5.0),
        ),
    ),
    "residential_area": _Scene(
        *_OUTDOOR,
        hum_hz=0.0,
        level_db=-26.0,
        events=(
            # A passing car, a barking dog.
            _Event("band", 100.0, 2000.0, 2.0, 0.2, "poisson", 3.0, modulation_hz=0.4),
            _Event("band", 500.0, 1500.0, 0.15, 0.5, "periodic", 8.0),
        ),
    ),
    "train": _Scene(
        *_VEHICLE,
        hum_hz=60.0,
        level_db=-21.0,
        events=(
            # Rail joints, wheel squeal.
            _Event("click", 400.0, 300.0, 0.08, 1.2, "periodic", 8.0),
            _Event("tone", 3500.0, 3700.0, 0.8, 0.2, "poisson", 2.0, harmonics=2),
        ),
    ),
    "tram": _Scene(
        *_VEHICLE,
        hum_hz=0.0,
        level_db=-21.0,
        events=(
            # Motor whine, bell.
            _Event("tone", 400.0, 1200.0, 1.5, 0.4, "poisson", 4.0, harmonics=3),
            _Event("tone", 1500.0, 1500.0, 0.35, 0.15, "poisson", 8.0, harmonics=4),
        ),
    ),
}


# ---------------------------------------------------------------- validation


def _check_count(name: str, value: object, *, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer; got {value!r} of type {type(value).__name__}."
        )
    # Compared as an int: typeshed gives numbers.Integral no comparisons.
    count = cast(int, value)
    if count < 1 or (maximum is not None and count > maximum):
        upper = "inf)" if maximum is None else f"{maximum}]"
        raise ValueError(f"{name} must be in [1, {upper}; got {value}.")
    return int(value)


def _check_real(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number; got {value!r} of type "
            f"{type(value).__name__}."
        )
    # Compared as a float: typeshed gives numbers.Real no comparisons.
    number = cast(float, value)
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        expected = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {expected} number; got {value}.")
    return float(value)


def _check_samples(name: str, seconds: float, sample_rate: int) -> int:
    n_samples = round(seconds * sample_rate)
    if n_samples < 1:
        raise ValueError(
            f"{name}={seconds} s at sample_rate={sample_rate} Hz gives no samples; "
            "use a longer duration."
        )
    return n_samples


# ---------------------------------------------------------- sound primitives


# Spectral shapes are evaluated on this log-frequency grid (octaves relative
# to 1 kHz, 20 Hz to 128 kHz in steps of 1/200 octave, fine enough for the
# narrow hum lines) and interpolated onto the FFT bins: evaluating every
# bump on every bin would cost more than the rest of the synthesis.
_GRID_OCTAVES = np.arange(np.log2(20.0 / 1000.0), 7.0, 0.005)
_GRID_HZ = 1000.0 * 2.0**_GRID_OCTAVES


def _response(
    freqs: np.ndarray, tilt_db: float, bumps: tuple[tuple[float, float, float], ...]
) -> np.ndarray:
    """Amplitude response of a tilt in dB/octave around 1 kHz plus Gaussian
    bumps in log frequency, each ``(centre Hz, width octaves, gain dB)``."""
    shape_db = tilt_db * _GRID_OCTAVES
    for centre, width, gain in bumps:
        distance = (_GRID_OCTAVES - np.log2(centre / 1000.0)) / width
        shape_db += gain * np.exp(-0.5 * distance**2)
    return np.interp(freqs, _GRID_HZ, 10.0 ** (shape_db / 20.0))


def _hum_bumps(hum_hz: float, gain_db: float) -> tuple[tuple[float, float, float], ...]:
    """Narrow spectral lines at the first harmonics of a mains or engine hum."""
    if hum_hz <= 0:
        return ()
    return tuple((k * hum_hz, 0.015, gain_db - 3.0 * (k - 1)) for k in range(1, 7))


def _random_bumps(
    rng: np.random.Generator, n_bumps: int, gain_db: float
) -> tuple[tuple[float, float, float], ...]:
    centres = 2.0 ** rng.uniform(np.log2(60.0), np.log2(12000.0), n_bumps)
    widths = rng.uniform(0.4, 1.5, n_bumps)
    gains = rng.normal(0.0, gain_db, n_bumps)
    return tuple(zip(centres.tolist(), widths.tolist(), gains.tolist(), strict=True))


def _mean_square(amplitude: np.ndarray, size: int) -> float:
    """Expected mean square of :func:`_gaussian_noise` (Parseval's theorem)."""
    return 2.0 * float(np.sum(amplitude**2)) / size**2


def _gaussian_noise(rng: np.random.Generator, amplitude: np.ndarray) -> np.ndarray:
    """Spectrum of Gaussian noise whose magnitude follows ``amplitude``.

    Single precision, like the returned clips, halves the cost of the
    random numbers and FFTs that dominate the synthesis.
    """
    spectrum = rng.standard_normal(2 * amplitude.size, dtype=np.float32)
    spectrum = spectrum.view(np.complex64)
    spectrum *= amplitude.astype(np.float32)
    spectrum *= np.float32(np.sqrt(0.5))
    return spectrum


def _fade(n: int, ramp: int) -> np.ndarray:
    """Raised-cosine fade in and out; hard edges would splatter energy
    across all frequencies."""
    ramp = min(ramp, n // 2)
    window = np.ones(n, dtype=np.float32)
    if ramp > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
        window[:ramp] = rise
        window[n - ramp :] = rise[::-1]
    return window


def _sweep(n: int, f_start: float, f_end: float) -> np.ndarray:
    """Instantaneous frequency of an exponential (constant octaves/s) glide."""
    if f_start == f_end:
        return np.full(n, f_start, dtype=np.float32)
    position = np.arange(n, dtype=np.float32) / np.float32(max(n - 1, 1))
    return np.float32(f_start) * np.float32(f_end / f_start) ** position


def _harmonic_tone(
    rng: np.random.Generator,
    f_track: np.ndarray,
    sample_rate: int,
    amplitudes: np.ndarray,
) -> np.ndarray:
    """Sum of harmonics ``k * f_track`` with the given amplitudes (k = 1, 2, ...).

    Harmonic k is muted wherever it would exceed the alias-free band.
    sin(k phase) follows the Chebyshev recurrence, which costs a few
    multiply-adds per harmonic instead of a sine evaluation. The phase is
    accumulated in double precision, the rest runs in single precision.
    """
    cycles = np.cumsum(f_track, dtype=np.float64) / sample_rate
    phase = (2.0 * np.pi * cycles + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    limit = _MAX_FREQUENCY_RATIO * sample_rate
    lowest, highest = f_track.min(), f_track.max()
    twice_cos = 2.0 * np.cos(phase)
    previous, current = np.zeros_like(phase), np.sin(phase)
    tone = np.zeros_like(phase)
    for k, amplitude in enumerate(amplitudes, start=1):
        if k * lowest >= limit:
            break
        if amplitude and k * highest < limit:
            tone += amplitude * current
        elif amplitude:
            tone += amplitude * current * (k * f_track < limit)
        previous, current = current, twice_cos * current - previous
    return tone


def _damped_resonance(
    rng: np.random.Generator, n: int, sample_rate: int, f_start: float, f_end: float
) -> np.ndarray:
    """A knock or click: a gliding resonance with a noisy attack, decaying to
    about -40 dB over the event."""
    # Time in units of the decay constant.
    t = np.arange(n, dtype=np.float32) * np.float32(4.6 / n)
    ring = _harmonic_tone(rng, _sweep(n, f_start, f_end), sample_rate, np.ones(1))
    attack = 0.5 * rng.standard_normal(n, dtype=np.float32) * np.exp(-4.0 * t)
    return (ring + attack) * np.exp(-t)


def _band_response(freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    """Amplitude response of a band-pass from ``low`` to ``high`` Hz whose
    skirts fall off as Gaussians of 1/4 octave."""
    outside = np.maximum(
        np.log2(low / 1000.0) - _GRID_OCTAVES, _GRID_OCTAVES - np.log2(high / 1000.0)
    )
    shape = np.exp(-0.5 * (np.maximum(outside, 0.0) / 0.25) ** 2)
    return np.interp(freqs, _GRID_HZ, shape)


def _band_noise(
    rng: np.random.Generator, n: int, sample_rate: int, low: float, high: float
) -> np.ndarray:
    """Gaussian noise band-passed to ``[low, high]`` Hz."""
    size = fft.next_fast_len(n, real=True)
    amplitude = _band_response(fft.rfftfreq(size, 1.0 / sample_rate), low, high)
    return fft.irfft(_gaussian_noise(rng, amplitude), size)[:n]


def _modulation(
    rng: np.random.Generator, n: int, sample_rate: int, rate: float, depth: float = 1.0
) -> np.ndarray:
    """Raised-cosine amplitude modulation (syllables, swells) at ``rate`` Hz."""
    phase = np.arange(n, dtype=np.float32) * np.float32(2 * np.pi * rate / sample_rate)
    pulse = 0.5 - 0.5 * np.cos(phase + np.float32(rng.uniform(0, 2 * np.pi)))
    return np.float32(1.0 - depth) + np.float32(depth) * pulse


def _place(track: np.ndarray, sound: np.ndarray, start: int) -> None:
    """Add ``sound`` into ``track`` at ``start``, cropping what falls outside."""
    begin, end = max(start, 0), min(start + sound.size, track.size)
    if begin < end:
        track[begin:end] += sound[begin - start : end - start]


def _active_rms(sound: np.ndarray) -> float:
    """RMS over the samples where the sound is on (it is exactly 0 elsewhere)."""
    active = np.count_nonzero(sound)
    return float(np.sqrt(np.sum(sound**2) / active)) if active else 0.0


def _to_level(clip: np.ndarray, level_db: float) -> np.ndarray:
    """Scale to an RMS of ``level_db`` dBFS, then down if needed so that the
    peak stays below full scale."""
    rms = np.sqrt(np.mean(clip**2))
    if rms > 0:
        clip = clip * (10.0 ** (level_db / 20.0) / rms)
    peak = np.max(np.abs(clip), initial=0.0)
    if peak > 0.99:
        clip = clip * (0.99 / peak)
    return clip.astype(np.float32)


# ------------------------------------------------------------ acoustic scenes


def _onsets(rng: np.random.Generator, event: _Event, clip_seconds: float) -> np.ndarray:
    """Event onsets in seconds; events may start before the clip and be cut,
    as in an excerpt of a longer recording."""
    if event.rhythm == "periodic":
        period = 1.0 / event.rate
        grid = rng.uniform(-period, 0.0) + period * np.arange(
            int(np.ceil(clip_seconds / period)) + 2
        )
        onsets = grid + rng.normal(0.0, 0.03 * period, grid.size)
    else:
        count = rng.poisson(event.rate * (clip_seconds + event.duration))
        onsets = rng.uniform(-event.duration, clip_seconds, count)
    return onsets[(onsets < clip_seconds) & (onsets + event.duration > 0)]


def _scene_event(
    rng: np.random.Generator, event: _Event, sample_rate: int
) -> np.ndarray:
    n = max(round(event.duration * sample_rate), 2)
    # Each occurrence is pitched slightly differently, like real sources.
    jitter = 2.0 ** rng.normal(0.0, 0.05)
    limit = _MAX_FREQUENCY_RATIO * sample_rate
    f_start = min(event.f_start * jitter, limit)
    f_end = min(event.f_end * jitter, limit)
    if event.kind == "click":
        return _damped_resonance(rng, n, sample_rate, f_start, f_end)
    if event.kind == "band":
        low, high = sorted((f_start, f_end))
        sound = _band_noise(rng, n, sample_rate, low, high)
        ramp = n // 4
    else:
        amplitudes = 1.0 / np.arange(1, event.harmonics + 1)
        sound = _harmonic_tone(rng, _sweep(n, f_start, f_end), sample_rate, amplitudes)
        ramp = round(0.01 * sample_rate)
    if event.modulation_hz > 0:
        sound *= _modulation(rng, n, sample_rate, event.modulation_hz)
    return sound * _fade(n, ramp)


def _scene_location(rng: np.random.Generator, scene: _Scene) -> _Scene:
    """A random variation of ``scene``: another place of the same kind, with
    shifted and re-weighted resonances plus a few of its own, other event
    rates and levels, and its own loudness."""
    shift = 2.0 ** rng.normal(0.0, _LOCATION_SHIFT_OCTAVES)
    bumps = tuple(
        (
            centre * shift * 2.0 ** rng.normal(0.0, 0.5 * _LOCATION_SHIFT_OCTAVES),
            width,
            gain + rng.normal(0.0, _LOCATION_GAIN_DB),
        )
        for centre, width, gain in scene.bumps
    )
    events = tuple(
        event._replace(
            f_start=event.f_start * shift,
            f_end=event.f_end * shift,
            rate=event.rate * np.exp(rng.normal(0.0, 0.3)),
            level_db=event.level_db + rng.normal(0.0, _LOCATION_GAIN_DB),
        )
        for event in scene.events
    )
    return _Scene(
        tilt_db=scene.tilt_db + rng.normal(0.0, 0.25 * _LOCATION_GAIN_DB),
        bumps=bumps + _random_bumps(rng, 4, _LOCATION_COLOUR_DB),
        hum_hz=scene.hum_hz * 2.0 ** rng.normal(0.0, 0.1),
        level_db=scene.level_db + rng.normal(0.0, _LOCATION_LEVEL_DB),
        events=events,
    )


def _scene_clip(
    rng: np.random.Generator,
    scene: _Scene,
    n_samples: int,
    sample_rate: int,
    noise: float,
) -> np.ndarray:
    """One clip of ``scene``: its noise floor, its events at random times
    and levels, and clutter noise of a random colour."""
    size = fft.next_fast_len(n_samples, real=True)
    freqs = fft.rfftfreq(size, 1.0 / sample_rate)
    bumps = scene.bumps + _hum_bumps(scene.hum_hz, 12.0)
    floor = _response(freqs, scene.tilt_db, bumps)
    floor[0] = 0.0
    floor /= np.sqrt(_mean_square(floor, size))

    events = np.zeros(n_samples, dtype=np.float32)
    clip_seconds = n_samples / sample_rate
    for event in scene.events:
        for onset in _onsets(rng, event, clip_seconds):
            sound = _scene_event(rng, event, sample_rate)
            rms = np.sqrt(np.mean(sound**2))
            if rms > 0:
                # Random per-occurrence SNR: near and far sources.
                gain = 10.0 ** ((event.level_db + rng.uniform(-4.0, 4.0)) / 20.0)
                _place(events, sound * (gain / rms), round(onset * sample_rate))
    scene_power = 1.0 + np.mean(events**2)

    # Scene-independent clutter (wind on the microphone, a distant machine)
    # with a new colour in every clip; it blurs the long-term spectrum but
    # leaves the time-frequency structure of the events intact.
    clutter = _response(freqs, rng.uniform(-7.0, -3.0), _random_bumps(rng, 3, 6.0))
    clutter[0] = 0.0
    clutter *= noise * np.sqrt(scene_power / _mean_square(clutter, size))

    background = fft.irfft(_gaussian_noise(rng, np.hypot(floor, clutter)), size)
    clip = background[:n_samples] + events
    return _to_level(clip, scene.level_db + rng.normal(0.0, 1.5))


def make_acoustic_scenes(
    n_scenes: int = 8,
    n_locations_per_scene: int = 4,
    n_clips_per_location: int = 4,
    *,
    min_duration: float = 1.0,
    max_duration: float = 3.0,
    sample_rate: int = 44100,
    noise: float = 0.5,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate a small synthetic acoustic scene classification dataset.

    A stand-in for TUT Acoustic Scenes 2016 (DCASE 2016 Task 1): mono clips
    of variable length, one scene label each, recorded at several locations
    per scene. Use ``groups`` with a group-aware splitter such as
    :class:`~sklearn.model_selection.GroupKFold` so that no location is on
    both sides of a split, as in the official folds.

    Each scene has a noise floor (spectral tilt and resonances, shared
    within its family: outdoor, vehicles, busy indoor, quiet indoor),
    possibly a hum, and recurring events at scene-typical rates: tonal
    sweeps (birds, voices, beeps, motors), clicks (footsteps, cutlery,
    indicators, rail joints) and noise swells (waves, passing cars). Each
    location shifts, re-weights and re-colours its scene and has its own
    loudness; each clip draws new event times, event levels and clutter.

    Parameters
    ----------
    n_scenes : int, default=8
        Number of scenes, the first ``n_scenes`` of
        :data:`ACOUSTIC_SCENE_LABELS`; at most 15.
    n_locations_per_scene : int, default=4
        Number of recording locations (groups) per scene.
    n_clips_per_location : int, default=4
        Number of clips recorded at each location.
    min_duration : float, default=1.0
        Shortest clip duration in seconds.
    max_duration : float, default=3.0
        Duration in seconds of most clips (see Notes).
    sample_rate : int, default=44100
        Sample rate in Hz. The sounds are defined in Hz, so they do not
        change with it except that partials above 45 % of the sample rate
        are dropped.
    noise : float, default=0.5
        RMS of a scene-independent, randomly coloured clutter noise relative
        to the RMS of the scene itself. 0 switches it off; larger values
        make the scenes harder to tell apart.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output across calls.

    Returns
    -------
    X : ndarray of object, shape (n_clips,)
        The clips, each a 1-D float32 array in [-1, 1], where ``n_clips =
        n_scenes * n_locations_per_scene * n_clips_per_location``.
    y : ndarray of str, shape (n_clips,)
        The scene label of each clip.
    groups : ndarray of str, shape (n_clips,)
        The recording location of each clip, ``"a001"``, ``"a002"``, ...
        Every location belongs to exactly one scene.

    Raises
    ------
    TypeError
        If a count is not an integer or a duration or ``noise`` is not a
        real number.
    ValueError
        If a count is below 1, ``n_scenes`` exceeds 15, a duration is not
        positive or shorter than one sample, ``min_duration`` exceeds
        ``max_duration``, or ``noise`` is negative.

    See Also
    --------
    make_domestic_tags : The synthetic stand-in for the audio tagging task.

    Notes
    -----
    As in TUT Acoustic Scenes 2016, where most clips last 30 s and a few
    were shortened when corrupted parts were removed, three clips in four
    last ``max_duration`` and the others a duration drawn uniformly from
    [``min_duration``, ``max_duration``]. The defaults (128 clips of at most
    3 s, 8 scenes) are sized for a full demo, features and a small network,
    of about a minute on a laptop CPU.

    Location ids are assigned in random order, so that sorting by id does
    not sort by scene; clips are returned sorted by location, like the
    files of the real dataset.

    The scene definitions are fixed: ``random_state`` draws locations and
    clips, not the scenes themselves. The scenes of one family share their
    long-term spectrum, so the mean spectrum of a clip is only partly
    informative; what tells them apart is the time-frequency shape and
    rhythm of their events, which are sparse but locally loud. With the
    defaults, a logistic regression on clip-averaged log-magnitude spectra
    (25 ms windows, 15 ms hop) reaches about 55-70 % accuracy under 4-fold
    group cross-validation, against 12.5 % by chance; adding each bin's 95th
    percentile over time, a crude view of the events, lifts it to about
    70-80 %.

    Examples
    --------
    >>> from sklearn_allconv.datasets import make_acoustic_scenes
    >>> X, y, groups = make_acoustic_scenes(random_state=0)
    >>> X.shape, X[0].dtype
    ((128,), dtype('float32'))
    >>> print(*sorted(set(y))[:4])
    beach bus cafe/restaurant car
    >>> len(set(groups))
    32
    >>> from sklearn.model_selection import GroupKFold
    >>> train, test = next(GroupKFold(n_splits=4).split(X, y, groups))
    >>> set(groups[train]) & set(groups[test])
    set()
    """
    n_scenes = _check_count("n_scenes", n_scenes, maximum=len(ACOUSTIC_SCENE_LABELS))
    n_locations_per_scene = _check_count("n_locations_per_scene", n_locations_per_scene)
    n_clips_per_location = _check_count("n_clips_per_location", n_clips_per_location)
    min_duration = _check_real("min_duration", min_duration)
    max_duration = _check_real("max_duration", max_duration)
    if min_duration > max_duration:
        raise ValueError(
            f"min_duration ({min_duration} s) must not exceed max_duration "
            f"({max_duration} s)."
        )
    sample_rate = _check_count("sample_rate", sample_rate)
    noise = _check_real("noise", noise, allow_zero=True)
    min_samples = _check_samples("min_duration", min_duration, sample_rate)
    max_samples = _check_samples("max_duration", max_duration, sample_rate)

    rng = check_random_state(random_state)
    n_locations = n_scenes * n_locations_per_scene
    n_clips = n_locations * n_clips_per_location
    # One independent stream per location and per clip: a clip depends on
    # its own seed only, not on how many random numbers others consumed.
    location_seeds = rng.randint(np.iinfo(np.int32).max, size=n_locations)
    clip_seeds = rng.randint(np.iinfo(np.int32).max, size=n_clips)
    location_ids = rng.permutation(n_locations)
    is_short = rng.random_sample(n_clips) < _SHORT_CLIP_FRACTION
    lengths = np.where(
        is_short,
        rng.randint(min_samples, max_samples + 1, size=n_clips),
        max_samples,
    )

    X = np.empty(n_clips, dtype=object)
    y = np.empty(n_clips, dtype=object)
    groups = np.empty(n_clips, dtype=object)
    clip = 0
    for location in np.argsort(location_ids):
        label = ACOUSTIC_SCENE_LABELS[location // n_locations_per_scene]
        place = _scene_location(
            np.random.default_rng(location_seeds[location]), _SCENE_PROTOTYPES[label]
        )
        for _ in range(n_clips_per_location):
            X[clip] = _scene_clip(
                np.random.default_rng(clip_seeds[clip]),
                place,
                int(lengths[clip]),
                sample_rate,
                noise,
            )
            y[clip] = label
            groups[clip] = f"a{location_ids[location] + 1:03d}"
            clip += 1
    return X, y.astype(str), groups.astype(str)


# ------------------------------------------------------------- domestic tags

# Share of chunks carrying each tag, in the order of DOMESTIC_TAG_CODES.
_TAG_PREVALENCE = np.array([0.30, 0.25, 0.20, 0.40, 0.25, 0.35, 0.25])

# How strongly a segment's tag rates scatter around _TAG_PREVALENCE (the
# concentration of a Beta distribution): what happens in a household comes
# in stretches, so chunks of one segment share their tags more often.
_TAG_CONCENTRATION = 4.0

# Fundamental frequency ranges in Hz of the three kinds of speech.
_PITCH_RANGES = {"f": (180.0, 260.0), "m": (90.0, 140.0), "c": (250.0, 400.0)}


class _Household(NamedTuple):
    """What the chunks of one segment share: the room, its background,
    the speakers' voices, the television's tempo and how likely each tag is."""

    background: _Scene
    colouration: tuple[tuple[float, float, float], ...]
    tag_rates: np.ndarray
    pitches: dict[str, float]
    note_seconds: float
    key: int


def _household(rng: np.random.Generator) -> _Household:
    background = _Scene(
        tilt_db=rng.uniform(-5.0, -2.5),
        bumps=_random_bumps(rng, 3, 6.0),
        hum_hz=float(rng.choice([0.0, 50.0, 100.0])),
        level_db=rng.normal(-26.0, 3.0),
        events=(),
    )
    a = _TAG_PREVALENCE * _TAG_CONCENTRATION
    return _Household(
        background=background,
        colouration=_random_bumps(rng, 4, 4.0),
        tag_rates=rng.beta(a, _TAG_CONCENTRATION - a),
        pitches={code: rng.uniform(*bounds) for code, bounds in _PITCH_RANGES.items()},
        note_seconds=rng.uniform(0.1, 0.25),
        key=int(rng.integers(55, 70)),
    )


def _span(rng: np.random.Generator, n: int, length: float) -> tuple[int, int]:
    """Random start and length of a sound of about ``length`` samples that
    fits inside ``n`` samples."""
    length = min(max(round(length), 2), n)
    return int(rng.integers(0, n - length + 1)), length


def _speech(
    rng: np.random.Generator,
    house: _Household,
    n: int,
    sample_rate: int,
    *,
    code: str,
) -> np.ndarray:
    """One or two utterances: a harmonic voice with falling intonation,
    syllable-rate loudness changes and formants."""
    track = np.zeros(n, dtype=np.float32)
    child = code == "c"
    for _ in range(int(rng.integers(1, 3))):
        start, length = _span(rng, n, rng.uniform(0.8, 2.2) * sample_rate)
        t = np.arange(length) / sample_rate
        contour = np.linspace(0.15, -0.15, length) + 0.06 * np.sin(
            2 * np.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 2 * np.pi)
        )
        f0 = house.pitches[code] * 2.0 ** (rng.normal(0.0, 0.05) + contour)
        n_harmonics = int(min(4000.0, _MAX_FREQUENCY_RATIO * sample_rate) // f0.min())
        voice = _harmonic_tone(rng, f0, sample_rate, np.ones(max(n_harmonics, 1)))
        size = fft.next_fast_len(length, real=True)
        scale = 1.2 if child else 1.0
        formants = (
            (rng.uniform(450, 800) * scale, 0.25, 18.0),
            (rng.uniform(1100, 2000) * scale, 0.2, 14.0),
            (2800.0 * scale, 0.2, 10.0),
        )
        freqs = fft.rfftfreq(size, 1.0 / sample_rate)
        voice = fft.rfft(voice, size) * _response(freqs, 0.0, formants)
        voice = fft.irfft(voice, size)[:length]
        syllables = _modulation(
            rng,
            length,
            sample_rate,
            rng.uniform(4.0, 7.0) if child else rng.uniform(3.0, 5.5),
        )
        _place(track, voice * syllables * _fade(length, length // 10), start)
    return track


def _broadband_noise(
    rng: np.random.Generator, house: _Household, n: int, sample_rate: int
) -> np.ndarray:
    """A vacuum cleaner, hair dryer or running tap: a long, slowly
    fluctuating noise burst."""
    track = np.zeros(n, dtype=np.float32)
    start, length = _span(rng, n, rng.uniform(1.0, 4.0) * sample_rate)
    high = min(rng.uniform(5000.0, 7500.0), _MAX_FREQUENCY_RATIO * sample_rate)
    sound = _band_noise(rng, length, sample_rate, rng.uniform(100.0, 300.0), high)
    sound *= _modulation(rng, length, sample_rate, rng.uniform(0.5, 3.0), depth=0.3)
    _place(track, sound * _fade(length, round(0.1 * sample_rate)), start)
    return track


def _percussive(
    rng: np.random.Generator, house: _Household, n: int, sample_rate: int
) -> np.ndarray:
    """Knocks, door slams and dropped objects: a few damped resonances."""
    track = np.zeros(n, dtype=np.float32)
    limit = _MAX_FREQUENCY_RATIO * sample_rate
    for _ in range(1 + rng.poisson(2.0)):
        start, length = _span(rng, n, rng.uniform(0.05, 0.3) * sample_rate)
        f_start = min(rng.uniform(150.0, 2500.0), limit)
        sound = _damped_resonance(rng, length, sample_rate, f_start, 0.8 * f_start)
        _place(track, sound * rng.uniform(0.5, 1.0), start)
    return track


def _video_game(
    rng: np.random.Generator, house: _Household, n: int, sample_rate: int
) -> np.ndarray:
    """Chiptune-like music from a small loudspeaker: square-wave notes of a
    pentatonic scale, band-limited to 300-4000 Hz."""
    track = np.zeros(n, dtype=np.float32)
    start, length = _span(rng, n, rng.uniform(1.5, 4.0) * sample_rate)
    note_length = max(round(house.note_seconds * sample_rate), 1)
    n_notes = -(-length // note_length)
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16, 19, 21])
    degrees = np.clip(np.cumsum(rng.integers(-2, 3, n_notes)) + 4, 0, scale.size - 1)
    midi = house.key + scale[degrees]
    f_track = np.repeat(440.0 * 2.0 ** ((midi - 69) / 12.0), note_length)[:length]
    odd_harmonics = np.array([1.0, 0.0, 1 / 3, 0.0, 1 / 5, 0.0, 1 / 7])
    sound = _harmonic_tone(rng, f_track, sample_rate, odd_harmonics)
    within_note = (np.arange(length) % note_length) / sample_rate
    sound *= np.exp(-within_note / (0.6 * house.note_seconds))
    size = fft.next_fast_len(length, real=True)
    speaker = _band_response(fft.rfftfreq(size, 1.0 / sample_rate), 300.0, 4000.0)
    sound = fft.irfft(fft.rfft(sound, size) * speaker, size)[:length]
    _place(track, sound * _fade(length, round(0.02 * sample_rate)), start)
    return track


def _other(
    rng: np.random.Generator, house: _Household, n: int, sample_rate: int
) -> np.ndarray:
    """Whistles, squeaky toys and birds: high gliding tones with vibrato."""
    track = np.zeros(n, dtype=np.float32)
    limit = _MAX_FREQUENCY_RATIO * sample_rate
    for _ in range(int(rng.integers(1, 4))):
        start, length = _span(rng, n, rng.uniform(0.3, 1.0) * sample_rate)
        f_start = rng.uniform(2500.0, 5000.0)
        f_end = f_start * 2.0 ** rng.uniform(-0.5, 0.5)
        t = np.arange(length) / sample_rate
        vibrato = 2.0 ** (0.04 * np.sin(2 * np.pi * rng.uniform(5.0, 7.0) * t))
        f_track = np.minimum(_sweep(length, f_start, f_end) * vibrato, limit)
        sound = _harmonic_tone(rng, f_track, sample_rate, np.array([1.0, 0.3]))
        _place(track, sound * _fade(length, round(0.02 * sample_rate)), start)
    return track


# Synthesisers of the tags, each called as (rng, house, n_samples, sample_rate).
_TAG_SOUNDS: dict[str, Callable[..., np.ndarray]] = {
    "f": partial(_speech, code="f"),
    "m": partial(_speech, code="m"),
    "b": _broadband_noise,
    "c": partial(_speech, code="c"),
    "o": _other,
    "p": _percussive,
    "v": _video_game,
}


def _tag_chunk(
    rng: np.random.Generator,
    house: _Household,
    tags: np.ndarray,
    n_samples: int,
    sample_rate: int,
    noise: float,
) -> np.ndarray:
    size = fft.next_fast_len(n_samples, real=True)
    freqs = fft.rfftfreq(size, 1.0 / sample_rate)
    background = house.background
    bumps = background.bumps + _hum_bumps(background.hum_hz, 10.0)
    floor = _response(freqs, background.tilt_db, bumps)
    floor[0] = 0.0
    floor *= noise / np.sqrt(_mean_square(floor, size))

    sources = np.zeros(size, dtype=np.float32)
    for code, present in zip(DOMESTIC_TAG_CODES, tags, strict=True):
        if present:
            sound = _TAG_SOUNDS[code](rng, house, n_samples, sample_rate)
            rms = _active_rms(sound)
            if rms > 0:
                # Near and far sources: the SNR varies around -20 log10(noise).
                gain = 10.0 ** (rng.uniform(-6.0, 6.0) / 20.0) / rms
                sources[:n_samples] += gain * sound
    spectrum = _gaussian_noise(rng, floor) + fft.rfft(sources)
    spectrum *= _response(freqs, 0.0, house.colouration).astype(np.float32)
    chunk = fft.irfft(spectrum, size)
    return _to_level(chunk[:n_samples], background.level_db + rng.normal(0.0, 1.0))


def make_domestic_tags(
    n_segments: int = 30,
    n_chunks_per_segment: int = 4,
    *,
    duration: float = 4.0,
    sample_rate: int = 16000,
    noise: float = 0.5,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate a small synthetic domestic audio tagging dataset.

    A stand-in for CHiME-Home as used in DCASE 2016 Task 4: fixed-length
    mono chunks, each with any subset of seven tags, cut from longer
    recording segments. Use ``groups`` with a group-aware splitter such as
    :class:`~sklearn.model_selection.GroupKFold`: chunks of one segment
    share their room and background, and tend to share their tags.

    Each tag is a synthetic sound class: harmonic speech with formants and
    syllable rhythm, whose pitch tells adult female (180-260 Hz), adult
    male (90-140 Hz) and child (250-400 Hz) speech apart; long broadband
    noise bursts; damped knocks and clicks (percussive); square-wave
    melodies through a small loudspeaker (video game/tv); and gliding
    whistles (other). The sounds present in a chunk are mixed at random
    signal-to-noise ratios into the segment's background noise.

    Parameters
    ----------
    n_segments : int, default=30
        Number of recording segments (groups).
    n_chunks_per_segment : int, default=4
        Number of chunks cut from each segment.
    duration : float, default=4.0
        Chunk duration in seconds, the same for every chunk.
    sample_rate : int, default=16000
        Sample rate in Hz. Partials above 45 % of it are dropped.
    noise : float, default=0.5
        RMS of the background relative to the RMS of each sound while it
        is on; per sound the ratio varies randomly by ±6 dB. 0 gives a
        silent background.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output across calls.

    Returns
    -------
    X : ndarray of object, shape (n_chunks,)
        The chunks, each a 1-D float32 array of ``round(duration *
        sample_rate)`` samples in [-1, 1], where ``n_chunks = n_segments *
        n_chunks_per_segment``.
    Y : ndarray of int, shape (n_chunks, 7)
        Tag indicator matrix: ``Y[i, j] == 1`` when chunk ``i`` contains
        tag :data:`DOMESTIC_TAG_LABELS` ``[j]``.
    groups : ndarray of str, shape (n_chunks,)
        The segment of each chunk, ``"s001"``, ``"s002"``, ...

    Raises
    ------
    TypeError
        If a count is not an integer or ``duration`` or ``noise`` is not a
        real number.
    ValueError
        If a count is below 1, ``duration`` is not positive or shorter than
        one sample, or ``noise`` is negative.

    See Also
    --------
    make_acoustic_scenes : The synthetic stand-in for scene classification.

    Notes
    -----
    Each tag is present in about 20-40 % of the chunks (child speech and
    percussive sounds most often), several tags often
    co-occur, and a few chunks carry none. Tag rates are drawn per segment
    around these values, so tags cluster within segments. The real
    annotation also marks silence (``S``) and unidentifiable sounds
    (``U``); Task 4 ignores them and so does this generator.

    With the defaults, per-tag logistic regressions on clip-averaged
    log-magnitude spectra reach a mean ROC AUC of about 0.65-0.7 under
    group cross-validation: broadband noise and speech are easy, while the
    short, sparse percussive and "other" sounds need a model that looks at
    the spectrogram frame by frame.

    Examples
    --------
    >>> from sklearn_allconv.datasets import DOMESTIC_TAG_LABELS, make_domestic_tags
    >>> X, Y, groups = make_domestic_tags(random_state=0)
    >>> X.shape, X[0].shape, Y.shape
    ((120,), (64000,), (120, 7))
    >>> [label for label, on in zip(DOMESTIC_TAG_LABELS, Y[1]) if on]
    ['broadband noise', 'child speech']
    >>> print(*groups[:5])
    s001 s001 s001 s001 s002
    """
    n_segments = _check_count("n_segments", n_segments)
    n_chunks_per_segment = _check_count("n_chunks_per_segment", n_chunks_per_segment)
    duration = _check_real("duration", duration)
    sample_rate = _check_count("sample_rate", sample_rate)
    noise = _check_real("noise", noise, allow_zero=True)
    n_samples = _check_samples("duration", duration, sample_rate)

    rng = check_random_state(random_state)
    n_chunks = n_segments * n_chunks_per_segment
    segment_seeds = rng.randint(np.iinfo(np.int32).max, size=n_segments)
    chunk_seeds = rng.randint(np.iinfo(np.int32).max, size=n_chunks)

    X = np.empty(n_chunks, dtype=object)
    Y = np.zeros((n_chunks, len(DOMESTIC_TAG_CODES)), dtype=int)
    groups = np.repeat(
        [f"s{i + 1:03d}" for i in range(n_segments)], n_chunks_per_segment
    )
    for segment in range(n_segments):
        house = _household(np.random.default_rng(segment_seeds[segment]))
        for chunk in range(
            segment * n_chunks_per_segment, (segment + 1) * n_chunks_per_segment
        ):
            rng = np.random.default_rng(chunk_seeds[chunk])
            Y[chunk] = rng.random(Y.shape[1]) < house.tag_rates
            X[chunk] = _tag_chunk(rng, house, Y[chunk], n_samples, sample_rate, noise)
    return X, Y, groups
