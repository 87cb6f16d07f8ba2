"""Tiny copies of the DCASE 2016 datasets in their exact on-disk layouts.

The tests build them in ``tmp_path``: a few short clips each, at the real
sampling rates (the loaders check them), laid out as the released archives
are (see ``DATASETS.md``).
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile

TUT_DEV = "TUT-acoustic-scenes-2016-development"
TUT_EVAL = "TUT-acoustic-scenes-2016-evaluation"
TUT_LABELS = ("beach", "bus", "cafe/restaurant")
TUT_RATE = 44100
# Recording r of each scene is tested in fold r + 1: every fold tests one
# recording per scene and trains on the others.
TUT_RECORDINGS_PER_LABEL = 4
TUT_SEGMENTS_PER_RECORDING = 2
# One span of error.txt: (file, onset s, offset s).
TUT_ERROR = ("audio/a000_30_60.wav", 0.1, 0.2)

CHIME_RATES = {16000: 1, 48000: 2}
# Segment s is tested in fold s; majorityvote strings of its two chunks.
CHIME_VOTES = (
    ("cmS", "fv"),
    ("bpU", "o"),
    ("mfc", "pvS"),
    ("S", "cbo"),
    ("fm", "vpb"),
)
CHIME_EVAL_VOTES = ("cU", "fmS")


def _tone(
    rate: int, seconds: float, channels: int, *, pitch: int, seed: int
) -> np.ndarray:
    """A sine whose frequency grows with ``pitch``, in noise: (samples, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * pitch) * t)
    noise = 0.05 * rng.standard_normal((t.size, channels))
    return (tone[:, np.newaxis] + noise).astype(np.float32)


def tut_recording(label_index: int, recording: int) -> str:
    """Recording id like the release's ``a001``: one letter per scene."""
    return f"{'abcdefghijklmno'[label_index]}{recording:03d}"


def write_tut_development(
    root: Path, *, seconds: float = 0.5, labels: tuple[str, ...] = TUT_LABELS
) -> Path:
    """Write a small TUT Acoustic Scenes 2016 development set; return its folder.

    ``len(labels) * 4 * 2`` stereo 24-bit 44.1 kHz clips of ``seconds``.
    """
    folder = root / TUT_DEV
    (folder / "audio").mkdir(parents=True)
    setup = folder / "evaluation_setup"
    setup.mkdir()
    meta, tests = [], {fold: [] for fold in range(1, 5)}
    for li, label in enumerate(labels):
        for r in range(TUT_RECORDINGS_PER_LABEL):
            for s in range(TUT_SEGMENTS_PER_RECORDING):
                name = f"audio/{tut_recording(li, r)}_{30 * s}_{30 * s + 30}.wav"
                audio = _tone(TUT_RATE, seconds, 2, pitch=li, seed=len(meta))
                soundfile.write(folder / name, audio, TUT_RATE, subtype="PCM_24")
                meta.append((name, label))
                tests[r + 1].append((name, label))
    _write_lines(folder / "meta.txt", ["\t".join(row) for row in meta])
    for fold, test in tests.items():
        train = [row for row in meta if row not in test]
        _write_lines(setup / f"fold{fold}_train.txt", ["\t".join(r) for r in train])
        _write_lines(setup / f"fold{fold}_test.txt", [name for name, _ in test])
        _write_lines(setup / f"fold{fold}_evaluate.txt", ["\t".join(r) for r in test])
    name, onset, offset = TUT_ERROR
    _write_lines(folder / "error.txt", [f"{name}\t{onset}\t{offset}\tmobilephone"])
    return folder


def write_tut_evaluation(root: Path, *, n_clips: int = 3, seconds: float = 0.5) -> Path:
    """Write a small TUT evaluation set (``audio/1.wav`` ...); return its folder."""
    folder = root / TUT_EVAL
    (folder / "audio").mkdir(parents=True)
    (folder / "evaluation_setup").mkdir()
    rows = []
    for i in range(1, n_clips + 1):
        audio = _tone(TUT_RATE, seconds, 2, pitch=i, seed=i)
        soundfile.write(folder / f"audio/{i}.wav", audio, TUT_RATE)
        rows.append((f"audio/{i}.wav", TUT_LABELS[i % len(TUT_LABELS)]))
    _write_lines(folder / "evaluation_setup/test.txt", [name for name, _ in rows])
    _write_lines(
        folder / "evaluation_setup/evaluate.txt", ["\t".join(r) for r in rows]
    )
    return folder


def chime_chunk(segment: int, chunk: int) -> str:
    """Chunk name in the release's form."""
    return f"CR_lounge_2001{segment:02d}_1601.s0_chunk{chunk}"


def write_chime_home(root: Path, *, seconds: float = 0.5) -> Path:
    """Write a small CHiME-Home folder (development and evaluation chunks)."""
    folder = root / "chime_home"
    chunks = folder / "chunks"
    chunks.mkdir(parents=True)
    crossval, development = [], []
    for segment, votes in enumerate(CHIME_VOTES):
        for chunk, vote in enumerate(votes):
            name = chime_chunk(segment, chunk)
            _write_chunk(chunks, name, vote, seed=10 * segment + chunk, seconds=seconds)
            number = len(crossval)
            crossval.append(f"{number},{name},{segment}")
            development.append(f"{number},{name}")
    evaluation = []
    for chunk, vote in enumerate(CHIME_EVAL_VOTES):
        name = chime_chunk(90, chunk)
        _write_chunk(chunks, name, vote, seed=900 + chunk, seconds=seconds)
        evaluation.append(f"{chunk},{name}")
    _write_lines(folder / "development_chunks_refined.csv", development)
    _write_lines(
        folder / "development_chunks_refined_crossval_dcase2016.csv", crossval
    )
    _write_lines(folder / "evaluation_chunks_refined.csv", evaluation)
    return folder


def _write_chunk(
    chunks: Path, name: str, vote: str, *, seed: int, seconds: float
) -> None:
    for rate, channels in CHIME_RATES.items():
        audio = _tone(rate, seconds, channels, pitch=len(vote), seed=seed)
        soundfile.write(chunks / f"{name}.{rate // 1000}kHz.wav", audio, rate)
    segment, number = name.rsplit("_chunk", 1)
    _write_lines(
        chunks / f"{name}.csv",
        [
            f"segmentname,{segment}",
            f"chunknumber,{number}",
            "framestart,0",
            f"annotation_a1,{vote}",
            "session_a1,1",
            f"annotation_a2,{vote}",
            "session_a2,1",
            f"annotation_a3,{vote}",
            "session_a3,1",
            f"majorityvote,{vote}",
            f"chunkname,{name}",
        ],
    )


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def zip_folder(folder: Path, *, base: Path, select=lambda path: True) -> bytes:
    """Zip the files under ``folder`` (names relative to ``base``) into bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and select(path):
                archive.write(path, path.relative_to(base).as_posix())
    return buffer.getvalue()


def tar_folder(folder: Path, *, base: Path) -> bytes:
    """Tar and gzip ``folder`` (names relative to ``base``) into bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=folder.relative_to(base).as_posix())
    return buffer.getvalue()
