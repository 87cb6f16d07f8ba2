"""Searches and cross-validation on a dask cluster give the results of n_jobs=1."""

import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_predict,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline

from sklearn_allconv import SceneClassifier, STFTTransformer
from sklearn_allconv._threads import thread_budget
from sklearn_allconv.datasets import make_acoustic_scenes

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

_WORKERS = 2


@pytest.fixture(scope="module")
def client():
    # One cluster for the module: starting one costs seconds.
    with (
        distributed.LocalCluster(
            n_workers=_WORKERS,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def scenes():
    return make_acoustic_scenes(
        n_scenes=2, n_locations_per_scene=3, n_clips_per_location=3,
        sample_rate=8000, random_state=0,
    )


def _pipeline():
    return make_pipeline(
        STFTTransformer(sample_rate=8000),
        SceneClassifier(max_epochs=2, module__n_filters=8, random_state=0),
    )


def test_cross_val_predict_on_dask_equals_n_jobs_1(client, scenes):
    X, y, _ = scenes
    kwargs = dict(cv=StratifiedKFold(2), method="predict_proba")
    serial = cross_val_predict(_pipeline(), X, y, n_jobs=1, **kwargs)
    with joblib.parallel_config(backend="dask"):
        on_dask = cross_val_predict(_pipeline(), X, y, **kwargs)
    np.testing.assert_array_equal(on_dask, serial)


def test_grid_search_on_dask_equals_n_jobs_1(client, scenes):
    X, y, _ = scenes
    grid = {"sceneclassifier__lr": [1e-3, 1e-2]}
    searches = [GridSearchCV(_pipeline(), grid, cv=StratifiedKFold(2)) for _ in "ab"]
    searches[0].set_params(n_jobs=1).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        searches[1].fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(
            searches[1].cv_results_[key], searches[0].cv_results_[key]
        )
    np.testing.assert_array_equal(
        searches[1].predict_proba(X), searches[0].predict_proba(X)
    )


def _share_of_cores(n_processes):
    return max(1, len(os.sched_getaffinity(0)) // n_processes)


def test_workers_fit_with_their_share_of_the_cores(client):
    # A dask worker's nanny and joblib's loky workers limit OpenMP to the
    # worker's share; the estimators' thread budget never exceeds it.
    on_dask = client.run(thread_budget, None)
    assert max(on_dask.values()) <= _share_of_cores(_WORKERS)
    in_loky = joblib.Parallel(n_jobs=2)(
        joblib.delayed(thread_budget)(None) for _ in range(2)
    )
    assert max(in_loky) <= _share_of_cores(2)


def test_each_fit_on_dask_checkpoints_to_its_own_folder(client, scenes, tmp_path):
    X, y, _ = scenes
    pipe = _pipeline().set_params(
        sceneclassifier__callbacks__checkpoint__dirname=tmp_path,
        sceneclassifier__callbacks__checkpoint__keep=True,
    )
    with joblib.parallel_config(backend="dask"):
        cross_val_score(pipe, X, y, cv=StratifiedKFold(2))
    folders = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert len(folders) == 2
    assert all(any(folder.iterdir()) for folder in folders)
