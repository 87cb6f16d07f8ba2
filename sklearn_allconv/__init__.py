"""All-convolutional networks with masked global pooling for variable-length audio.

A scikit-learn compatible implementation of L. Hertel, H. Phan and A. Mertins,
"Classifying variable-length audio files with all-convolutional networks and
masked global pooling", DCASE 2016.

Importing the package changes nothing in the process's environment. On Linux
CPUs, training may run faster with PyTorch's transparent huge pages for large
tensors: export ``THP_MEM_ALLOC_ENABLE=1`` before Python starts (see the
performance page of the documentation for when it pays).
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._version import __version__

# The public names and their modules, imported at first use (PEP 562): the
# command line's --help and `import sklearn_allconv.datasets` do not wait for
# PyTorch and scikit-learn to load.
_PUBLIC = {
    "AllConvNet": "network",
    "AudioTagger": "estimators",
    "GroupValidSplit": "model_selection",
    "Mixup": "augment",
    "STFTTransformer": "features",
    "SceneClassifier": "estimators",
    "SpecMask": "augment",
    "TagDetCurveDisplay": "displays",
    "TimeShift": "augment",
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
    "Mixup",
    "STFTTransformer",
    "SceneClassifier",
    "SpecMask",
    "TagDetCurveDisplay",
    "TimeShift",
    "TrainingHistoryDisplay",
    "__version__",
    "eer_scorer",
    "equal_error_rate",
    "load_model",
    "save_model",
]

if _TYPE_CHECKING:
    from .augment import Mixup, SpecMask, TimeShift
    from .displays import TagDetCurveDisplay, TrainingHistoryDisplay
    from .estimators import AudioTagger, SceneClassifier
    from .features import STFTTransformer
    from .metrics import eer_scorer, equal_error_rate
    from .model_selection import GroupValidSplit
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
