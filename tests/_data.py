"""Small generated data and estimator parameters shared by the test files.

``conftest.py`` offers the fixed data sets as module-scoped fixtures; the
tables of cases that are built at import time (``test_bad_input.py``,
``test_input_types.py``, ``test_no_silent_answers.py``) import the generators
and parameters from here. Everything is seeded.
"""

from __future__ import annotations

import numpy as np

# The smallest networks that train: one epoch of four filters.
TINY = {"max_epochs": 1, "batch_size": 4, "module__n_filters": 4, "random_state": 0}
# The same without the internal validation split, for a handful of clips.
TINY_WITHOUT_VALIDATION = {**TINY, "train_split": None}

SCENE_LABELS = np.array(["beach", "cafe/restaurant", "park"])
N_BINS = 10


def tone(
    frequency: float,
    *,
    rate: int,
    seconds: float = 0.5,
    seed: int = 0,
    amplitude: float = 0.3,
    noise: float = 0.05,
) -> np.ndarray:
    """A sine of ``frequency`` Hz in Gaussian noise, mono float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    clip = amplitude * np.sin(2 * np.pi * frequency * t) + noise * rng.standard_normal(
        t.size
    )
    return clip.astype(np.float32)


def scene_features(
    n_per_class: int = 12, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectrogram-like clips whose class shows in a band of bins over time.

    Returns the clips (a 1-D object array), their labels and recording groups
    (three clips per recording).
    """
    rng = np.random.default_rng(seed)
    X, y, groups = [], [], []
    for label_index, label in enumerate(SCENE_LABELS):
        for i in range(n_per_class):
            frames = rng.standard_normal((rng.integers(16, 60), N_BINS))
            frames[:, 3 * label_index : 3 * label_index + 3] += 1.5
            X.append(frames.astype(np.float32))
            y.append(label)
            groups.append(f"{label}-{i // 3}")
    X_array = np.empty(len(X), dtype=object)
    X_array[:] = X
    return X_array, np.array(y), np.array(groups)


def tag_features(
    n: int = 48, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectrogram-like clips whose three tags raise three bins.

    Returns the clips, the (n, 3) indicator matrix and groups of four clips.
    """
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, 3)) < 0.4).astype(int)
    X = np.empty(n, dtype=object)
    for i in range(n):
        frames = rng.standard_normal((rng.integers(16, 40), N_BINS))
        frames[:, :3] += 2.0 * Y[i]
        X[i] = frames.astype(np.float32)
    return X, Y, np.arange(n) // 4
