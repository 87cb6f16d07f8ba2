"""All-convolutional networks with masked global pooling for variable-length audio.

A scikit-learn compatible implementation of L. Hertel, H. Phan and A. Mertins,
"Classifying variable-length audio files with all-convolutional networks and
masked global pooling", DCASE 2016.
"""

import importlib as _importlib
import os as _os
from typing import TYPE_CHECKING as _TYPE_CHECKING

# PyTorch's CPU allocator reads THP_MEM_ALLOC_ENABLE once, at its first large
# allocation: ask it for transparent huge pages for tensors of 2 MB and more,
# as numpy does for its own large arrays. A training step allocates ~100 MB
# activations afresh, and their page faults cost more than the arithmetic:
# with huge pages an epoch of the paper's network is ~1.4x faster on CPU (see
# docs/performance.md). A value the user set, e.g. 0, is kept.
_os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0.dev0"

# The public names and their modules, imported at first use (PEP 562): the
# command line's --help and `import sklearn_allconv.datasets` do not wait for
# PyTorch and scikit-learn to load.
_PUBLIC = {
    "AllConvNet": "network",
    "AudioTagger": "estimators",
    "GroupValidSplit": "estimators",
    "STFTTransformer": "features",
    "SceneClassifier": "estimators",
    "TagDetCurveDisplay": "displays",
    "TrainingHistoryDisplay": "displays",
    "eer_scorer": "metrics",
    "equal_error_rate": "metrics",
    "load_model": "persistence",
    "save_model": "persistence",
}

__all__ = [
    "AllConvNet",
    "AudioTagger",
    "GroupValidSplit",
    "STFTTransformer",
    "SceneClassifier",
    "TagDetCurveDisplay",
    "TrainingHistoryDisplay",
    "__version__",
    "eer_scorer",
    "equal_error_rate",
    "load_model",
    "save_model",
]

if _TYPE_CHECKING:
    from .displays import TagDetCurveDisplay, TrainingHistoryDisplay
    from .estimators import AudioTagger, GroupValidSplit, SceneClassifier
    from .features import STFTTransformer
    from .metrics import eer_scorer, equal_error_rate
    from .network import AllConvNet
    from .persistence import load_model, save_model


def __getattr__(name: str) -> object:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
