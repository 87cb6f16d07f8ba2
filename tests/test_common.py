"""scikit-learn's estimator checks over every public estimator.

Each expected failure is listed with the reason it cannot pass.
"""

import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
    parametrize_with_checks,
)

from sklearn_allconv import AudioTagger, SceneClassifier, STFTTransformer

_VARIABLE_LENGTH = (
    "inputs are variable-length clips: the number of samples (STFT) or frames "
    "(networks) per clip is not a fixed feature count, so there is no n_features_in_ "
    "and a different length at transform/predict time is valid"
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
_LIST_VS_ARRAY = (
    "a list of clips gives a 1-D object array of spectrograms while an array of "
    "equal-length clips gives a 3-D array; the check compares the two outputs"
)

EXPECTED_FAILED_CHECKS = {
    "STFTTransformer": {
        "check_n_features_in": _VARIABLE_LENGTH,
        "check_n_features_in_after_fitting": _VARIABLE_LENGTH,
        "check_transformer_general": _VARIABLE_LENGTH,
        "check_transformer_data_not_an_array": _LIST_VS_ARRAY,
    },
    "SceneClassifier": {
        "check_no_attributes_set_in_init": _SKORCH_INIT,
        "check_do_not_raise_errors_in_init_or_set_params": _SKORCH_SET_PARAMS,
        "check_set_params": _SKORCH_SET_PARAMS,
        "check_n_features_in": _VARIABLE_LENGTH,
        "check_n_features_in_after_fitting": _VARIABLE_LENGTH,
    },
    "AudioTagger": {
        "check_no_attributes_set_in_init": _SKORCH_INIT,
        "check_do_not_raise_errors_in_init_or_set_params": _SKORCH_SET_PARAMS,
        "check_set_params": _SKORCH_SET_PARAMS,
        "check_n_features_in": _VARIABLE_LENGTH,
        "check_n_features_in_after_fitting": _VARIABLE_LENGTH,
        "check_estimators_dtypes": _MULTILABEL_ONLY,
        "check_classifier_data_not_an_array": _MULTILABEL_ONLY,
        "check_classifiers_one_label": _MULTILABEL_ONLY,
        "check_classifiers_one_label_sample_weights": _MULTILABEL_ONLY,
        "check_classifiers_classes": _MULTILABEL_ONLY,
        "check_classifiers_train": _MULTILABEL_ONLY,
        "check_classifiers_regression_target": _MULTILABEL_ONLY,
        "check_classifier_not_supporting_multiclass": _MULTILABEL_ONLY,
        "check_fit2d_1feature": _MULTILABEL_ONLY,
        "check_transformer_general": _MULTILABEL_ONLY,
        "check_transformer_data_not_an_array": _MULTILABEL_ONLY,
        "check_transformer_preserve_dtypes": _MULTILABEL_ONLY,
    },
}

# One-frame rows (scikit-learn's 2-D test data) are repeated up to the network's
# minimum length; a small network keeps the checks fast.
ESTIMATORS = [
    STFTTransformer(sample_rate=80),
    SceneClassifier(
        short_clips="pad", max_epochs=20, module__n_filters=16, random_state=0
    ),
    AudioTagger(short_clips="pad", max_epochs=20, module__n_filters=16, random_state=0),
]


@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


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
@pytest.mark.parametrize("estimator", ESTIMATORS[1:], ids=lambda e: type(e).__name__)
def test_embeddings_support_set_output(estimator, check):
    check(type(estimator).__name__, clone(estimator))
