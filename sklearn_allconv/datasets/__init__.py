"""Datasets for acoustic scene classification and domestic audio tagging."""

from ._synthetic import (
    ACOUSTIC_SCENE_LABELS,
    DOMESTIC_TAG_CODES,
    DOMESTIC_TAG_LABELS,
    make_acoustic_scenes,
    make_domestic_tags,
)

__all__ = [
    "ACOUSTIC_SCENE_LABELS",
    "DOMESTIC_TAG_CODES",
    "DOMESTIC_TAG_LABELS",
    "make_acoustic_scenes",
    "make_domestic_tags",
]
