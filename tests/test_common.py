"""scikit-learn's estimator checks over every public estimator.

One table drives them, as imbalanced-learn's ``_test_common/instance_generator``
does: ``INIT_PARAMS`` gives each estimator test-friendly parameters, and
``EXPECTED_FAILED_CHECKS`` lists each check it cannot pass, with the reason.
"""

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import (
    check_dont_overwrite_parameters,
    check_estimators_overwrite_params,
    check_estimators_pickle,
    check_fit_idempotent,
    check_get_params_invariance,
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
    parametrize_with_checks,
)

import sklearn_allconv
from sklearn_allconv import AudioTagger, SceneClassifier, STFTTransformer, baseline
from sklearn_allconv.augment import Mixup, SpecMask, TimeShift
from sklearn_allconv.baseline import GMMSceneClassifier, GMMTagger, MFCCTransformer

_VARIABLE_LENGTH = (
    "inputs are variable-length clips: the number of samples (STFT) or frames "
    "(networks) per clip is not a fixed feature count, so there is no n_features_in_ "
    "and a different length at transform/predict time is valid"
)
_VARIABLE_LENGTH_MFCC = (
    "inputs are variable-length clips: the number of samples per clip is not a "
    "fixed feature count, so there is no n_features_in_"
)
_SKORCH_INIT = (
    "skorch's NeuralNet sets history_, initialized_ and virtual_params_ in __init__ "
    "and stores module__*/optimizer__* keyword parameters as attributes"
)
_SKORCH_SET_PARAMS = (
    "skorch's set_params re-initializes callbacks at once and exposes its internal "
    "_params_to_validate set as a parameter, so the check's placeholder values "
    "(e.g. callbacks=-inf) raise inside skorch"
)
_MULTILABEL_ONLY = (
    "AudioTagger is multi-label only: y must be an (n_clips, n_tags) 0/1 indicator "
    "matrix (or lists of tag names); this check passes 1-D single-label targets. "
    "SceneClassifier handles single-label data"
)
_MULTILABEL_ONLY_GMM = (
    "GMMTagger is multi-label only: y must be an (n_clips, n_tags) 0/1 indicator "
    "matrix; this check passes 1-D single-label targets. GMMSceneClassifier "
    "handles single-label data"
)
_LIST_VS_ARRAY = (
    "a list of clips gives a 1-D object array of spectrograms while an array of "
    "equal-length clips gives a 3-D array; the check compares the two outputs"
)
_LIST_VS_ARRAY_MFCC = (
    "a list of clips gives a 1-D object array of MFCC frames while an array of "
    "equal-length clips gives a 3-D array; the check compares the two outputs"
)
# The checks that fail for a multi-label-only classifier, the networks' and the
# baseline's alike.
_SINGLE_LABEL_CHECKS = (
    "check_estimators_dtypes",
    "check_classifier_data_not_an_array",
    "check_classifiers_one_label",
    "check_classifiers_classes",
    "check_classifiers_train",
    "check_classifiers_regression_target",
    "check_classifier_not_supporting_multiclass",
    "check_fit2d_1feature",
)

# Test-friendly parameters. Networks: one-frame rows (scikit-learn's 2-D test
# data) are repeated up to the network's minimum length, and a small network
# keeps the checks fast. Baselines: scikit-learn's test data has few samples
# per class, one Gaussian each, whose fit does not depend on the
# initialisation; k-means++ skips k-means' cost.
INIT_PARAMS = {
    STFTTransformer: {"sample_rate": 80},
    SceneClassifier: {
        "short_clips": "pad", "max_epochs": 20, "module__n_filters": 16,
        "random_state": 0,
    },
    AudioTagger: {
        "short_clips": "pad", "max_epochs": 20, "module__n_filters": 16,
        "random_state": 0,
    },
    MFCCTransformer: {"sample_rate": 8000, "delta_order": 0},
    GMMSceneClassifier: {
        "n_components": 1, "init_params": "k-means++", "random_state": 0,
    },
    GMMTagger: {"n_components": 1, "init_params": "k-means++", "random_state": 0},
}

EXPECTED_FAILED_CHECKS = {
    STFTTransformer: {
        "check_n_features_in": _VARIABLE_LENGTH,
        "check_n_features_in_after_fitting": _VARIABLE_LENGTH,
        "check_transformer_general": _VARIABLE_LENGTH,
        "check_transformer_data_not_an_array": _LIST_VS_ARRAY,
    },
    SceneClassifier: {
        "check_no_attributes_set_in_init": _SKORCH_INIT,
        "check_do_not_raise_errors_in_init_or_set_params": _SKORCH_SET_PARAMS,
        "check_set_params": _SKORCH_SET_PARAMS,
        "check_n_features_in": _VARIABLE_LENGTH,
        "check_n_features_in_after_fitting": _VARIABLE_LENGTH,
    },
    AudioTagger: {
        "check_no_attributes_set_in_init": _SKORCH_INIT,
        "check_do_not_raise_errors_in_init_or_set_params": _SKORCH_SET_PARAMS,
        "check_set_params": _SKORCH_SET_PARAMS,
        "check_n_features_in": _VARIABLE_LENGTH,
        "check_n_features_in_after_fitting": _VARIABLE_LENGTH,
        "check_classifiers_one_label_sample_weights": _MULTILABEL_ONLY,
        **dict.fromkeys(_SINGLE_LABEL_CHECKS, _MULTILABEL_ONLY),
        # The checks of transform (the embeddings) fit on 1-D targets too.
        "check_transformer_general": _MULTILABEL_ONLY,
        "check_transformer_data_not_an_array": _MULTILABEL_ONLY,
        "check_transformer_preserve_dtypes": _MULTILABEL_ONLY,
    },
    MFCCTransformer: {
        "check_n_features_in": _VARIABLE_LENGTH_MFCC,
        "check_n_features_in_after_fitting": _VARIABLE_LENGTH_MFCC,
        "check_transformer_data_not_an_array": _LIST_VS_ARRAY_MFCC,
    },
    GMMSceneClassifier: {},
    GMMTagger: dict.fromkeys(_SINGLE_LABEL_CHECKS, _MULTILABEL_ONLY_GMM),
}


# The options outside the paper (off by default): the checks that concern
# parameters, fitting and prediction also run with them switched on.
OPTIONS = {
    "augment": [TimeShift(), SpecMask(1, 2, 1, 3), Mixup(0.4)],
    "test_crops": 3,
}
# Not check_classifiers_train: it asks for 83 % training accuracy after the
# test-friendly 20 epochs, which the augmentations, as regularizers, delay.


def _tested_estimators():
    """One instance of each estimator, with its test-friendly parameters."""
    for estimator_class, params in INIT_PARAMS.items():
        yield estimator_class(**params)


@parametrize_with_checks(
    list(_tested_estimators()),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est)],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_in_the_table():
    public = {
        obj
        for module in (sklearn_allconv, baseline)
        for obj in (getattr(module, name) for name in module.__all__)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator)
    }
    assert public == set(INIT_PARAMS) == set(EXPECTED_FAILED_CHECKS)


# parametrize_with_checks does not yield scikit-learn's set_output checks (its
# own test suite runs them): the networks' transform (embeddings) is checked here.
@pytest.mark.parametrize(
    "check",
    [
        check_set_output_transform,
        check_set_output_transform_pandas,
        check_global_output_transform_pandas,
    ],
)
@pytest.mark.parametrize("estimator_class", [SceneClassifier, AudioTagger])
def test_embeddings_support_set_output(estimator_class, check):
    check(estimator_class.__name__, estimator_class(**INIT_PARAMS[estimator_class]))


@pytest.mark.parametrize(
    "check",
    [
        check_get_params_invariance,
        check_estimators_overwrite_params,
        check_dont_overwrite_parameters,
        check_estimators_pickle,
        check_fit_idempotent,
    ],
)
def test_scene_classifier_with_the_options_passes_the_fitting_checks(check):
    estimator = SceneClassifier(**INIT_PARAMS[SceneClassifier], **OPTIONS)
    check("SceneClassifier", estimator)


@pytest.mark.parametrize(
    "check",
    [
        check_get_params_invariance,
        check_estimators_overwrite_params,
        check_dont_overwrite_parameters,
        check_fit_idempotent,
    ],
)
def test_audio_tagger_with_the_options_passes_the_fitting_checks(check):
    # check_estimators_pickle and check_classifiers_train fit on 1-D targets,
    # which the multi-label tagger refuses (EXPECTED_FAILED_CHECKS).
    estimator = AudioTagger(**INIT_PARAMS[AudioTagger], **OPTIONS)
    check("AudioTagger", estimator)
