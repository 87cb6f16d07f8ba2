"""Datasets: the DCASE 2016 Task 1 and Task 4 data, loaded and fetched."""

from ._chime import fetch_chime_home, load_chime_home
from ._fetch import get_data_home
from ._tut import fetch_tut_acoustic_scenes_2016, load_tut_acoustic_scenes_2016

__all__ = [
    "fetch_chime_home",
    "fetch_tut_acoustic_scenes_2016",
    "get_data_home",
    "load_chime_home",
    "load_tut_acoustic_scenes_2016",
]
