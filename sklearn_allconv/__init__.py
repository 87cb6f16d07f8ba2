"""All-convolutional networks with masked global pooling for variable-length audio.

A scikit-learn compatible implementation of L. Hertel, H. Phan and A. Mertins,
"Classifying variable-length audio files with all-convolutional networks and
masked global pooling", DCASE 2016.
"""

from .displays import TagDetCurveDisplay, TrainingHistoryDisplay
from .estimators import AudioTagger, GroupValidSplit, SceneClassifier
from .features import STFTTransformer
from .metrics import eer_scorer, equal_error_rate
from .network import AllConvNet
from .persistence import load_model, save_model

__version__ = "0.1.0.dev0"

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
