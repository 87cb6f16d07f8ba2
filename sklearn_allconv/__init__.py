"""All-convolutional networks with masked global pooling for variable-length audio.

A scikit-learn compatible implementation of Hertel, Phan & Mertins,
"Comparing time and frequency domain for audio event recognition using deep
learning" / "Classifying variable-length audio files with all-convolutional
networks and masked global pooling" (DCASE 2016).
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
