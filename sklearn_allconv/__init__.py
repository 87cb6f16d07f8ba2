"""All-convolutional networks with masked global pooling for variable-length audio.

A scikit-learn compatible implementation of L. Hertel, H. Phan and A. Mertins,
"Classifying variable-length audio files with all-convolutional networks and
masked global pooling", DCASE 2016.
"""

import os as _os

# PyTorch's CPU allocator reads THP_MEM_ALLOC_ENABLE once, at its first large
# allocation: ask it for transparent huge pages for tensors of 2 MB and more,
# as numpy does for its own large arrays. A training step allocates ~100 MB
# activations afresh, and their page faults cost more than the arithmetic:
# with huge pages an epoch of the paper's network is ~1.4x faster on CPU (see
# docs/performance.md). A value the user set, e.g. 0, is kept.
_os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from ._version import __version__  # noqa: E402
from .displays import TagDetCurveDisplay, TrainingHistoryDisplay  # noqa: E402
from .estimators import AudioTagger, GroupValidSplit, SceneClassifier  # noqa: E402
from .features import STFTTransformer  # noqa: E402
from .metrics import eer_scorer, equal_error_rate  # noqa: E402
from .network import AllConvNet  # noqa: E402
from .persistence import load_model, save_model  # noqa: E402

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
