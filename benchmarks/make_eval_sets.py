"""Build realistic scene-classification evaluation sets from sounds Debian ships.

Each recording location gets its own background (noise shaped by sox with
location-specific filters, hum and level), its own room (a synthetic
reverberation tail), its own share of the event sounds and speech voices of
its scene, and is recorded for several minutes; the recording is then cut
into consecutive segments of ``--segment-seconds`` (10 to 30 s). The
locations are the cross-validation groups, as in TUT Acoustic Scenes 2016,
and the output has that dataset's layout, so
:func:`sklearn_allconv.datasets.load_tut_acoustic_scenes_2016` reads it::

    <output>/TUT-acoustic-scenes-2016-development/
        meta.txt                      audio/a001_0_10.wav<TAB>office
        audio/<location>_<start>_<end>.wav
        evaluation_setup/fold{1..4}_{train,test,evaluate}.txt

The four folds keep every location on one side, and each fold tests about a
quarter of every scene's locations.

Sizes (``--size``): ``small``, 6 scenes x 4 locations x 150 s = 360 clips of
10 s (1 hour of audio); ``large``, 6 scenes x 10 locations x 180 s = 1,080
clips of 10 s (3 hours). Longer segments give fewer clips. ``tiny`` (6 x 4 x
30 s) only checks the script.

Sound sources, all from Debian packages (nothing is downloaded):

- speech: ``espeak-ng`` sentences in several languages and voices, and the
  recorded telephone prompts of ``asterisk-core-sounds-en-wav``;
- events: the ``sound-theme-freedesktop`` and ``oxygen-sounds`` desktop
  sound themes and the game sounds of ``lbreakout2-data``;
- backgrounds, sirens, birdsong-like chirps: ``sox`` synthesis (with
  ``libsox-fmt-base`` to read Ogg Vorbis).

Install them with::

    apt-get update && apt-get install -y sox libsox-fmt-base espeak-ng \\
        sound-theme-freedesktop oxygen-sounds asterisk-core-sounds-en-wav \\
        lbreakout2-data

The script stops with that command when a source is missing. The output is
written under ``benchmarks/data/`` by default, which git ignores; it is never
part of the package. Generation is deterministic for a given ``--seed``.

Examples
--------
``python benchmarks/make_eval_sets.py --size small``
``python benchmarks/make_eval_sets.py --size large --segment-seconds 30``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import oaconvolve

ROOT = Path(__file__).resolve().parent.parent

APT_PACKAGES = (
    "sox libsox-fmt-base espeak-ng sound-theme-freedesktop oxygen-sounds "
    "asterisk-core-sounds-en-wav lbreakout2-data"
)

# Where each pool of real sounds lives, and the Debian package that ships it.
SOUND_POOLS = {
    "desktop": [
        ("/usr/share/sounds/freedesktop/stereo", "*.oga", "sound-theme-freedesktop"),
        ("/usr/share/sounds", "Oxygen-*.ogg", "oxygen-sounds"),
    ],
    "game": [("/usr/share/games/lbreakout2/sounds", "*.wav", "lbreakout2-data")],
    "prompts": [
        (
            "/usr/share/asterisk/sounds/en_US_f_Allison",
            "*.wav",
            "asterisk-core-sounds-en-wav",
        )
    ],
}
PROGRAMS = {"sox": "sox", "espeak-ng": "espeak-ng"}

SENTENCES = (
    "The next stop is the central station, please mind the gap.",
    "Could I have another coffee and the bill, please?",
    "We will meet at half past three in the small conference room.",
    "Did you remember to water the plants before leaving?",
    "The weather tomorrow will be cloudy with light rain in the afternoon.",
    "I think the printer on the second floor is broken again.",
    "Two tickets to the city centre, one way.",
    "Dinner is almost ready, can you set the table?",
    "Let's take the dog for a walk around the lake.",
    "The meeting has been moved to Thursday morning.",
    "This is a reminder that the library closes in fifteen minutes.",
    "How much is the chocolate cake?",
    "Turn left at the traffic lights and then go straight on.",
    "Have you seen my keys anywhere?",
    "The children are playing football near the fountain.",
    "Please send me the report by the end of the day.",
)
VOICES = ("en", "en-us", "en-gb-scotland", "de", "fr-fr", "es", "it", "nl", "fi")


@dataclass
class Scene:
    """How a scene sounds: background recipe and event rates per minute."""

    label: str
    noises: tuple[str, ...]  # sox noise types a location draws from
    lowpass: tuple[float, float]  # range of the background's low-pass (Hz)
    highpass: tuple[float, float]
    tremolo: tuple[float, float]  # slow level modulation (Hz), 0 = none
    hum: tuple[float, float]  # hum frequency range (Hz), 0 = none
    level_db: tuple[float, float]  # background level range
    events: dict[str, float] = field(default_factory=dict)  # pool -> per minute
    event_db: tuple[float, float] = (-30.0, -18.0)
    babble: tuple[int, int] = (0, 0)  # range of simultaneous background talkers


# The scenes overlap on purpose (noise types, filter and level ranges, shared
# event pools), and every location has its own recording gain: as in real
# recordings, no single level or spectral cue separates the scenes.
SCENES = (
    Scene(
        "bus",
        ("brownnoise", "brownnoise", "pinknoise"),
        (300, 1200),
        (20, 80),
        (0.05, 0.3),
        (60, 120),
        (-28, -16),
        {"speech": 2.0, "desktop": 0.5, "prompts": 0.8, "horn": 0.3},
    ),
    Scene(
        "cafe/restaurant",
        ("pinknoise", "brownnoise"),
        (1500, 4000),
        (80, 300),
        (0, 0),
        (0, 0),
        (-38, -26),
        {"game": 6.0, "speech": 3.0, "desktop": 0.5},
        (-34, -20),
        babble=(3, 7),
    ),
    Scene(
        "city_center",
        ("brownnoise", "pinknoise"),
        (500, 2000),
        (30, 120),
        (0.05, 0.4),
        (0, 0),
        (-28, -16),
        {"siren": 0.3, "horn": 1.0, "speech": 1.5, "birds": 0.5},
        (-32, -16),
    ),
    Scene(
        "home",
        ("whitenoise", "pinknoise"),
        (1000, 3000),
        (50, 150),
        (0, 0),
        (50, 60),
        (-46, -34),
        {"prompts": 2.0, "game": 1.0, "desktop": 0.8, "speech": 1.0},
        (-36, -22),
    ),
    Scene(
        "office",
        ("pinknoise", "whitenoise"),
        (800, 2500),
        (60, 200),
        (0, 0),
        (100, 120),
        (-42, -30),
        {"keys": 8.0, "desktop": 1.5, "speech": 1.5, "prompts": 0.5},
        (-36, -24),
        babble=(0, 2),
    ),
    Scene(
        "park",
        ("brownnoise", "pinknoise", "whitenoise"),
        (1000, 4000),
        (100, 400),
        (0.02, 0.2),
        (0, 0),
        (-38, -24),
        {"birds": 6.0, "speech": 1.0, "horn": 0.3, "game": 0.3},
        (-34, -20),
    ),
)

SIZES = {  # locations per scene, seconds per recording
    "tiny": (4, 30.0),
    "small": (4, 150.0),
    "large": (10, 180.0),
}


def check_sources() -> dict[str, list[Path]]:
    """The real-sound files of each pool; exit naming the packages if missing."""
    missing = [pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None]
    pools: dict[str, list[Path]] = {}
    for pool, places in SOUND_POOLS.items():
        for folder, pattern, package in places:
            files = sorted(Path(folder).glob(pattern))
            if not files:
                missing.append(package)
            pools.setdefault(pool, []).extend(files)
    if missing:
        sys.exit(
            "Missing sound sources from the Debian packages: "
            f"{', '.join(sorted(set(missing)))}.\nInstall them with:\n"
            f"    apt-get update && apt-get install -y {APT_PACKAGES}"
        )
    return pools


def read_sound(path: Path, rate: int) -> np.ndarray:
    """A sound file as mono float32 at ``rate`` (sox converts and resamples)."""
    command = ["sox", str(path), "-t", "f32", "-r", str(rate), "-c", "1", "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"sox failed ({' '.join(command)}): {result.stderr.decode().strip()}"
        )
    return np.frombuffer(result.stdout, dtype=np.float32).copy()


def synth(seconds: float, rate: int, effects: list[str], what: str) -> np.ndarray:
    """sox-synthesised audio: ``synth <seconds> <what>`` then ``effects``."""
    command = [
        "sox",
        "-R",
        "-n",
        "-t",
        "f32",
        "-r",
        str(rate),
        "-c",
        "1",
        "-",
        "synth",
        f"{seconds:.3f}",
        *what.split(),
        *effects,
    ]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"sox failed ({' '.join(command)}): {result.stderr.decode().strip()}"
        )
    return np.frombuffer(result.stdout, dtype=np.float32).copy()


def speak(text: str, voice: str, pitch: int, speed: int, rate: int) -> np.ndarray:
    """An espeak-ng utterance as mono float32 at ``rate``."""
    wav = subprocess.run(
        [
            "espeak-ng",
            "-v",
            voice,
            "-p",
            str(pitch),
            "-s",
            str(speed),
            "--stdout",
            text,
        ],
        capture_output=True,
        check=True,
    ).stdout
    converted = subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "f32", "-r", str(rate), "-c", "1", "-"],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(converted, dtype=np.float32).copy()


def db(value: float) -> float:
    return float(10 ** (value / 20))


def normalized(sound: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(sound)) if sound.size else 0.0
    return sound / peak if peak > 0 else sound


class Location:
    """One recording place: its own background, room, sounds and voices."""

    def __init__(
        self,
        scene: Scene,
        pools: dict[str, list[Path]],
        rate: int,
        rng: np.random.Generator,
    ) -> None:
        self.scene, self.rate, self.rng = scene, rate, rng
        self.lowpass = rng.uniform(*scene.lowpass)
        self.highpass = rng.uniform(*scene.highpass)
        self.tremolo = rng.uniform(*scene.tremolo)
        self.hum = rng.uniform(*scene.hum) if scene.hum[1] else 0.0
        self.level = rng.uniform(*scene.level_db)
        self.noise = str(rng.choice(scene.noises))
        self.talkers = int(rng.integers(scene.babble[0], scene.babble[1] + 1))
        self.gain_db = rng.uniform(-6, 6)  # the recorder's gain at this place
        self.rt60 = rng.uniform(0.15, 0.4) if scene.label != "park" else 0.05
        # Each place hears its own share of the scene's sounds and voices.
        self.files = {
            pool: list(
                rng.choice(files, size=max(2, len(files) * 6 // 10), replace=False)
            )
            for pool, files in pools.items()
        }
        self.voices = list(rng.choice(VOICES, size=3, replace=False))
        self.cache: dict[str, np.ndarray] = {}

    def room(self) -> np.ndarray:
        """A decaying-noise impulse response with this place's RT60."""
        n = int(self.rt60 * self.rate)
        t = np.arange(n) / self.rate
        tail = self.rng.standard_normal(n) * np.exp(-6.9 * t / self.rt60)
        tail[0] = 1.0 / 0.15  # the direct sound dominates
        return (tail * 0.15 / np.sqrt(np.sum(tail**2))).astype(np.float32)

    def background(self, seconds: float) -> np.ndarray:
        effects = ["highpass", f"{self.highpass:.0f}", "lowpass", f"{self.lowpass:.0f}"]
        if self.tremolo:
            effects += ["tremolo", f"{self.tremolo:.3f}", "60"]
        offset = float(self.rng.uniform(0, 20))
        n = int(seconds * self.rate)
        # One spare second: sox may end a few samples short.
        noise = synth(seconds + offset + 1, self.rate, effects, self.noise)
        noise = noise[int(offset * self.rate) :][:n]
        noise *= db(self.level) / (np.sqrt(np.mean(noise**2)) + 1e-12)
        if self.hum:
            t = np.arange(noise.size) / self.rate
            hum = np.sin(2 * np.pi * self.hum * t) + 0.4 * np.sin(
                4 * np.pi * self.hum * t
            )
            noise += db(self.level - 6) * hum.astype(np.float32)
        return noise

    def event(self, kind: str) -> np.ndarray:
        """One event of ``kind``: a real sound, an utterance or a sox sound."""
        rng = self.rng
        if kind in self.files:
            path = self.files[kind][rng.integers(len(self.files[kind]))]
            key = str(path)
            if key not in self.cache:
                self.cache[key] = normalized(read_sound(path, self.rate))
            return self.cache[key]
        if kind == "speech":
            voice = self.voices[rng.integers(len(self.voices))]
            text = SENTENCES[rng.integers(len(SENTENCES))]
            key = f"speech|{voice}|{text}"
            if key not in self.cache:
                self.cache[key] = normalized(
                    speak(
                        text,
                        voice,
                        int(rng.integers(20, 80)),
                        int(rng.integers(140, 190)),
                        self.rate,
                    )
                )
            return self.cache[key]
        if kind == "siren":
            low = rng.uniform(500, 700)
            return normalized(
                synth(
                    rng.uniform(3, 6),
                    self.rate,
                    ["tremolo", "0.5", "90"],
                    f"sine {low:.0f}-{low * 1.6:.0f}",
                )
            )
        if kind == "horn":
            base = rng.uniform(300, 450)
            return normalized(
                synth(
                    rng.uniform(0.3, 1.0),
                    self.rate,
                    ["fade", "0.02", "-0", "0.05"],
                    f"square {base:.0f} square {base * 1.26:.0f}",
                )
            )
        if kind == "birds":
            start = rng.uniform(2500, 5000)
            chirp = synth(
                rng.uniform(0.08, 0.25),
                self.rate,
                ["fade", "0.01", "-0", "0.03"],
                f"sine {start:.0f}-{start * rng.uniform(0.6, 1.5):.0f}",
            )
            return normalized(
                np.tile(
                    np.concatenate(
                        [chirp, np.zeros(int(0.05 * self.rate), np.float32)]
                    ),
                    int(rng.integers(1, 5)),
                )
            )
        if kind == "keys":
            click = self.event("game") if "game" in self.files else np.ones(10)
            taps = int(rng.integers(5, 30))
            gap = int(rng.uniform(0.08, 0.2) * self.rate)
            out = np.zeros(taps * gap + click.size, np.float32)
            for i in range(taps):
                start = i * gap + int(rng.integers(0, gap // 3))
                out[start : start + click.size] += click[: out.size - start] * 0.5
            return normalized(out)
        raise ValueError(f"unknown event kind {kind!r}")

    def record(self, seconds: float, channels: int) -> np.ndarray:
        """The full recording, (channels, samples) float32."""
        n = int(seconds * self.rate)
        room = [self.room() for _ in range(channels)]
        background = self.background(seconds)
        mix = np.stack(
            [0.8 * background + 0.2 * self.background(seconds) for _ in range(channels)]
        )
        foreground = np.zeros((channels, n), np.float32)
        for kind, per_minute in self.scene.events.items():
            for _ in range(self.rng.poisson(per_minute * seconds / 60)):
                self._place(
                    foreground, self.event(kind), self.rng.uniform(*self.scene.event_db)
                )
        for _ in range(self.talkers):
            talker = self.rng.uniform(-40, -32)
            start = 0
            while start < n:
                sound = self.event("speech")
                self._place(foreground, sound, talker, at=start)
                start += sound.size + int(self.rng.uniform(0.2, 1.5) * self.rate)
        for c in range(channels):
            mix[c] += oaconvolve(foreground[c], room[c])[:n]
        mix *= db(self.gain_db)
        peak = np.max(np.abs(mix))
        return (mix * (0.9 / peak) if peak > 0.9 else mix).astype(np.float32)

    def _place(
        self,
        track: np.ndarray,
        sound: np.ndarray,
        level_db: float,
        at: int | None = None,
    ) -> None:
        n = track.shape[1]
        if at is None:
            at = int(self.rng.integers(0, max(1, n - sound.size // 2)))
        piece = sound[: max(0, n - at)] * db(level_db)
        pan = self.rng.uniform(0.3, 0.7)
        gains = [1.0] if track.shape[0] == 1 else [1 - pan, pan]
        for c, gain in enumerate(gains):
            track[c, at : at + piece.size] += (
                2 * gain * piece if len(gains) > 1 else piece
            )


def write_set(
    output: Path, size: str, segment: float, rate: int, channels: int, seed: int
) -> Path:
    """Generate the set; return the dataset folder."""
    pools = check_sources()
    n_locations, seconds = SIZES[size]
    n_segments = int(seconds // segment)
    if n_segments < 1:
        raise SystemExit(
            f"--segment-seconds {segment} is longer than the {seconds:g} s "
            f"recordings of --size {size}; choose at most {seconds:g}."
        )
    root = output / "TUT-acoustic-scenes-2016-development"
    if root.exists():
        shutil.rmtree(root)
    (root / "audio").mkdir(parents=True)
    (root / "evaluation_setup").mkdir()
    rng = np.random.default_rng(seed)
    meta: list[tuple[str, str, int]] = []  # file, label, fold
    location_id = 0
    for scene in SCENES:
        # Locations are dealt to the four folds in turn, from a random start.
        first_fold = int(rng.integers(4))
        for k in range(n_locations):
            location_id += 1
            place = Location(scene, pools, rate, rng)
            audio = place.record(n_segments * segment, channels)
            name = f"a{location_id:03d}"
            for s in range(n_segments):
                start, end = s * segment, (s + 1) * segment
                clip = audio[:, int(start * rate) : int(end * rate)]
                filename = f"audio/{name}_{start:g}_{end:g}.wav"
                soundfile.write(root / filename, clip.T, rate, subtype="PCM_16")
                meta.append((filename, scene.label, (first_fold + k) % 4 + 1))
            print(f"{name} {scene.label}: {n_segments} segments", flush=True)
    with open(root / "meta.txt", "w") as f:
        f.writelines(f"{name}\t{label}\n" for name, label, _ in meta)
    for fold in range(1, 5):
        setup = root / "evaluation_setup"
        train = [(n, lab) for n, lab, k in meta if k != fold]
        test = [(n, lab) for n, lab, k in meta if k == fold]
        (setup / f"fold{fold}_train.txt").write_text(
            "".join(f"{n}\t{lab}\n" for n, lab in train)
        )
        (setup / f"fold{fold}_test.txt").write_text("".join(f"{n}\n" for n, _ in test))
        (setup / f"fold{fold}_evaluate.txt").write_text(
            "".join(f"{n}\t{lab}\n" for n, lab in test)
        )
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--segment-seconds",
        type=float,
        default=10.0,
        help="segment length, 10 to 30 s (default: %(default)s)",
    )
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--channels", type=int, choices=(1, 2), default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="parent folder (default: benchmarks/data/scenes-<size>)",
    )
    args = parser.parse_args()
    if not 10 <= args.segment_seconds <= 30 and args.size != "tiny":
        parser.error("--segment-seconds must be between 10 and 30")
    output = args.output or ROOT / "benchmarks" / "data" / f"scenes-{args.size}"
    root = write_set(
        output,
        args.size,
        args.segment_seconds,
        args.sample_rate,
        args.channels,
        args.seed,
    )
    print(f"wrote {root}")


if __name__ == "__main__":
    main()
