"""All-convolutional networks with masked global pooling for variable-length audio.

A scikit-learn compatible implementation of L. Hertel, H. Phan and A. Mertins,
"Classifying variable-length audio files with all-convolutional networks and
masked global pooling", DCASE 2016.

Importing the package changes nothing in the process's environment. On Linux
CPUs, training may run faster with PyTorch's transparent huge pages for large
tensors: export ``THP_MEM_ALLOC_ENABLE=1`` before Python starts (see the
performance page of the documentation for when it pays).
"""

from ._version import __version__
from .displays import TagDetCurveDisplay, TrainingHistoryDisplay
from .estimators import AudioTagger, GroupValidSplit, SceneClassifier
from .features import STFTTransformer
from .metrics import eer_scorer, equal_error_rate
from .network import AllConvNet
from .persistence import load_model, save_model

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
