"""Datasets: built-in synthetic demo data, and the DCASE 2016 Task 1 and Task 4 data.

The ``make_*`` generators produce small synthetic stand-ins for the two tasks
(no downloads); the ``load_*`` functions read the real datasets from disk and the
``fetch_*`` functions download them first.
"""

from ._chime import (
    DOMESTIC_TAG_CODES,
    DOMESTIC_TAG_LABELS,
    fetch_chime_home,
    load_chime_home,
)
from ._fetch import get_data_home
from ._synthetic import ACOUSTIC_SCENE_LABELS, make_acoustic_scenes, make_domestic_tags
from ._tut import fetch_tut_acoustic_scenes_2016, load_tut_acoustic_scenes_2016

__all__ = [
    "ACOUSTIC_SCENE_LABELS",
    "DOMESTIC_TAG_CODES",
    "DOMESTIC_TAG_LABELS",
    "fetch_chime_home",
    "fetch_tut_acoustic_scenes_2016",
    "get_data_home",
    "load_chime_home",
    "load_tut_acoustic_scenes_2016",
    "make_acoustic_scenes",
    "make_domestic_tags",
]
