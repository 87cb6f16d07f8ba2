"""Tests for sklearn_allconv.metrics: DCASE 2016 Task 4 EER, scorer, Task 1 accuracy."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.metrics import roc_curve
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neighbors import KNeighborsClassifier

from sklearn_allconv.metrics import (
    class_wise_accuracy,
    eer_scorer,
    equal_error_rate,
    mean_class_wise_accuracy,
    per_class_table,
)


def naive_official_eer(y_true, y_score):
    """The DCASE 2016 Task 4 reference algorithm, written as plainly as possible."""
    fpr, tpr, _ = roc_curve(y_true, y_score, drop_intermediate=True)
    eps = 1e-6
    points = [(0, 0)] + list(zip(fpr, tpr, strict=True))
    for i, point in enumerate(points):  # noqa: B007 (i is used after the loop)
        if point[0] + eps >= 1 - point[1]:
            break
    p1 = points[i - 1]
    p2 = points[i]
    if abs(p2[0] - p1[0]) < eps:
        return p1[0]
    m = (p2[1] - p1[1]) / (p2[0] - p1[0])
    o = p1[1] - m * p1[0]
    return (1 - o) / (1 + m)


def random_binary_problem(rng, *, tied):
    """Labels with both classes present and continuous or heavily tied scores."""
    n_samples = int(rng.integers(2, 60))
    y_true = rng.integers(0, 2, size=n_samples)
    y_true[rng.choice(n_samples, size=2, replace=False)] = [0, 1]
    if tied:
        y_score = rng.integers(0, 4, size=n_samples).astype(float)
    else:
        y_score = rng.normal(size=n_samples) * 5 + y_true * rng.normal()
    return y_true, y_score


class LinearTagger(ClassifierMixin, BaseEstimator):
    """Minimal multi-label estimator: ridge regression per tag, sigmoid output.

    Its predict_proba returns one (n_samples, n_tags) array, like the library's
    AudioTagger.
    """

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, Y):
        X = np.asarray(X, dtype=float)
        self.coef_ = np.linalg.solve(
            X.T @ X + self.alpha * np.eye(X.shape[1]), X.T @ np.asarray(Y)
        )
        return self

    def predict_proba(self, X):
        return 1 / (1 + np.exp(-np.asarray(X, dtype=float) @ self.coef_))

    def predict(self, X):
        return (self.predict_proba(X) > 0.5).astype(int)


class FixedResponse(BaseEstimator):
    """Returns a fixed response from one method, to pin down the scorer's reading."""

    def __init__(self, response=None, method="predict_proba"):
        self.response = response
        self.method = method

    def __getattr__(self, name):
        # Called only for attributes not found otherwise: expose just `method`.
        if name != self.__dict__.get("method"):
            raise AttributeError(name)
        return lambda X: self.response


def multilabel_data(seed=0, n_samples=90, n_features=6, n_tags=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    weights = rng.normal(size=(n_features, n_tags))
    Y = (X @ weights + rng.normal(size=(n_samples, n_tags)) > 0.5).astype(int)
    return X, Y


# --- equal_error_rate: agreement with the official algorithm -----------------


@pytest.mark.parametrize("tied", [False, True], ids=["continuous", "tied"])
def test_eer_equals_naive_official_algorithm_on_random_inputs(tied):
    rng = np.random.default_rng(20160901 + tied)
    for _ in range(300):
        y_true, y_score = random_binary_problem(rng, tied=tied)
        assert equal_error_rate(y_true, y_score) == naive_official_eer(y_true, y_score)


def test_eer_of_hand_worked_example_interpolates_on_the_roc_curve():
    # ROC points (0, 0), (0, .5), (.5, .5), (.5, 1), (1, 1): the diagonal
    # fpr = 1 - tpr is crossed on the horizontal segment at tpr = .5.
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.5
    # A tie of two positives and one negative makes the sloped segment from
    # (0, 1/3) to (1/2, 1), on the line tpr = 1/3 + 4/3 fpr; it meets
    # fpr = 1 - tpr at fpr = 2/7.
    eer = equal_error_rate([1, 1, 0, 1, 0], [0.9, 0.5, 0.5, 0.5, 0.1])
    assert eer == pytest.approx(2 / 7, abs=1e-12)


def brute_force_eer(y_true, y_score):
    """EER by an independent definition: where FPR and FNR cross.

    Every distinct score is tried as a threshold ("positive" = score >= t),
    from the highest down, which walks the ROC curve from (0, 0) to (1, 1)
    through all its points; between neighbouring points the curve is a
    straight line, and the EER is where that line meets FPR = FNR. No
    scikit-learn, no tolerance.
    """
    y_true, y_score = np.asarray(y_true, bool), np.asarray(y_score, float)
    points = [(0.0, 0.0)]
    for threshold in np.unique(y_score)[::-1]:
        predicted = y_score >= threshold
        points.append((predicted[~y_true].mean(), predicted[y_true].mean()))
    for (x1, y1), (x2, y2) in zip(points, points[1:]):  # noqa: B905
        gap1, gap2 = x1 - (1 - y1), x2 - (1 - y2)  # FPR - FNR
        if gap1 < 0 <= gap2:
            fraction = -gap1 / (gap2 - gap1)
            return x1 + fraction * (x2 - x1)
    raise AssertionError("the ROC curve always crosses FPR = FNR")


def fpr_fnr_bracket(y_true, y_score):
    """Bounds that any crossing of FPR and FNR must lie between.

    Over all thresholds, ``max min(FPR, FNR) <= EER <= min max(FPR, FNR)``.
    """
    y_true, y_score = np.asarray(y_true, bool), np.asarray(y_score, float)
    lower, upper = 0.0, 1.0
    for threshold in [*np.unique(y_score), np.inf]:
        predicted = y_score >= threshold
        fpr, fnr = predicted[~y_true].mean(), (~predicted[y_true]).mean()
        lower, upper = max(lower, min(fpr, fnr)), min(upper, max(fpr, fnr))
    return lower, upper


@pytest.mark.parametrize("tied", [False, True], ids=["continuous", "tied"])
def test_eer_is_where_false_positive_and_false_negative_rates_cross(tied):
    rng = np.random.default_rng(20161 + tied)
    for _ in range(300):
        y_true, y_score = random_binary_problem(rng, tied=tied)
        eer = equal_error_rate(y_true, y_score)
        # The official code's 1e-6 tolerance moves the result by at most that.
        assert eer == pytest.approx(brute_force_eer(y_true, y_score), abs=2e-6)
        lower, upper = fpr_fnr_bracket(y_true, y_score)
        assert lower - 2e-6 <= eer <= upper + 2e-6


@pytest.mark.parametrize(
    ("y_true", "y_score", "expected"),
    [
        # One negative above one of two positives: FPR = FNR = 1/2 at t = 0.6.
        ([0, 1, 1, 0], [0.1, 0.9, 0.5, 0.6], 0.5),
        # Points (0, 1/2), (1/3, 1/2), (1/3, 1): FNR falls from 1/2 to 0 while
        # FPR stays 1/3, so they cross at 1/3.
        ([0, 0, 0, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.9], 1 / 3),
        # Points (0, 1/4), (1/4, 1/4), (1/4, 1): crossing at FPR = 1/4.
        ([1, 1, 1, 1, 0, 0, 0, 0], [9, 3, 2, 1, 8, 0, -1, -2], 0.25),
        # All scores tied: the ROC curve is the diagonal; EER 1/2.
        ([0, 1, 1], [0.3, 0.3, 0.3], 0.5),
        # A positive and a negative tied at the top: FPR = FNR = 1/2 there.
        ([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1], 0.5),
        # Points (0, 1/2) and (2/3, 1), a tie of one positive and two
        # negatives between them: on the line TPR = 1/2 + 3/4 FPR, FPR = 1 - TPR
        # at FPR = 2/7.
        ([1, 1, 0, 0, 0], [0.9, 0.5, 0.5, 0.5, 0.1], 2 / 7),
    ],
)
def test_eer_of_hand_computed_cases(y_true, y_score, expected):
    assert equal_error_rate(y_true, y_score) == pytest.approx(expected, abs=1e-12)


def test_perfect_separation_gives_zero():
    y_true = np.array([0, 1, 1, 0, 1, 0, 0])
    assert equal_error_rate(y_true, y_true * 10.0 - 3) == 0.0


def test_perfectly_inverted_scores_give_one():
    y_true = np.array([0, 1, 1, 0, 1, 0, 0])
    assert equal_error_rate(y_true, -(y_true * 10.0)) == 1.0


def test_constant_scores_give_chance_level():
    assert equal_error_rate([0, 1, 1, 0, 0], np.zeros(5)) == 0.5


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 1), min_size=2, max_size=40).filter(
        lambda labels: 0 < sum(labels) < len(labels)
    ),
    data=st.data(),
)
def test_eer_is_invariant_to_strictly_monotone_score_transforms(labels, data):
    # Integer scores make ties likely and keep every transform exact enough
    # not to merge or split ties.
    scores = np.array(
        data.draw(
            st.lists(st.integers(-20, 20), min_size=len(labels), max_size=len(labels))
        )
    ).astype(float)
    eer = equal_error_rate(labels, scores)
    for transform in (
        np.exp,
        lambda s: 3 * s + 7,
        lambda s: s**3,
        lambda s: 1 / (1 + np.exp(-s)),
        np.arctan,
    ):
        assert equal_error_rate(labels, transform(scores)) == eer


def test_boolean_float_and_integer_labels_give_the_same_eer():
    rng = np.random.default_rng(3)
    y_true, y_score = random_binary_problem(rng, tied=False)
    expected = equal_error_rate(y_true, y_score)
    assert equal_error_rate(y_true.astype(bool), y_score) == expected
    assert equal_error_rate(y_true.astype(float), y_score) == expected


def test_binary_input_returns_a_python_float():
    assert type(equal_error_rate([0, 1, 0, 1], [0.3, 0.2, 0.1, 0.9])) is float


# --- equal_error_rate: multi-label --------------------------------------------


def test_multilabel_average_none_returns_the_eer_of_each_tag():
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 2, size=(50, 5))
    y_score = rng.normal(size=(50, 5)) + y_true
    per_tag = equal_error_rate(y_true, y_score, average=None)
    assert per_tag.shape == (5,)
    for tag in range(5):
        assert per_tag[tag] == naive_official_eer(y_true[:, tag], y_score[:, tag])


def test_multilabel_macro_average_is_the_mean_over_tags():
    rng = np.random.default_rng(8)
    y_true = rng.integers(0, 2, size=(50, 5))
    y_score = rng.normal(size=(50, 5)) + y_true
    macro = equal_error_rate(y_true, y_score)
    assert type(macro) is float
    assert macro == pytest.approx(
        np.mean(equal_error_rate(y_true, y_score, average=None)), abs=1e-15
    )


def test_sparse_indicator_matrix_gives_the_same_eer_as_dense():
    X, Y = multilabel_data()
    y_score = X[:, : Y.shape[1]]
    assert equal_error_rate(sp.csr_matrix(Y), y_score) == equal_error_rate(Y, y_score)


@pytest.mark.parametrize("absent_value", [0, 1], ids=["no_positives", "no_negatives"])
def test_tag_with_a_single_class_is_nan_and_ignored_by_macro(absent_value):
    y_true = np.array([[0, 1], [1, 1], [0, 1], [1, 1]])
    y_true[:, 1] = 1 - absent_value
    y_score = np.array([[0.1, 0.5], [0.9, 0.4], [0.2, 0.3], [0.8, 0.2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        per_tag = equal_error_rate(y_true, y_score, average=None)
        macro = equal_error_rate(y_true, y_score)
    assert per_tag[0] == 0.0
    assert np.isnan(per_tag[1])
    assert macro == 0.0


def test_macro_eer_is_nan_without_warnings_when_no_tag_is_defined():
    y_true = np.zeros((4, 3), dtype=int)
    y_true[:, 2] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        macro = equal_error_rate(y_true, np.ones((4, 3)))
        binary = equal_error_rate(y_true[:, 0], np.ones(4))
    assert np.isnan(macro)
    assert np.isnan(binary)


# --- equal_error_rate: input validation ---------------------------------------


@pytest.mark.parametrize(
    ("y_true", "y_score", "kwargs", "message"),
    [
        ([0, 1, 1], [0.1, 0.2], {}, r"same shape; got \(3,\) and \(2,\)"),
        ([[0, 1], [1, 0]], [0.1, 0.2], {}, r"same shape; got \(2, 2\) and \(2,\)"),
        ([0, 1, 2], [0.1, 0.2, 0.3], {}, r"must be binary .* found the values \[2\]"),
        ([0.0, 0.5, 1.0], [0.1, 0.2, 0.3], {}, r"found the values \[0.5\]"),
        ([0, 1, np.nan], [0.1, 0.2, 0.3], {}, r"must be binary"),
        (["a", "b"], [0.1, 0.2], {}, r"binary 0/1 or boolean labels; got .* dtype"),
        ([0, 1, 1], [0.1, np.nan, 0.3], {}, r"must be finite; it holds 1 NaN"),
        ([0, 1, 1], [0.1, np.inf, -np.inf], {}, r"must be finite; it holds 2"),
        ([0, 1], ["high", "low"], {}, r"real numbers"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), {}, r"got 3-D arrays"),
        ([], [], {}, r"empty"),
        ([0, 1], [0.1, 0.2], {"average": "micro"}, r"'macro' or None; got 'micro'"),
    ],
)
def test_invalid_input_raises_a_value_error_that_names_the_problem(
    y_true, y_score, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        equal_error_rate(y_true, y_score, **kwargs)


# --- eer_scorer ----------------------------------------------------------------


def test_eer_scorer_returns_minus_the_macro_eer_of_a_multilabel_estimator():
    X, Y = multilabel_data()
    tagger = LinearTagger().fit(X, Y)
    assert eer_scorer(tagger, X, Y) == -equal_error_rate(Y, tagger.predict_proba(X))


def test_eer_scorer_is_greater_for_the_better_estimator():
    X, Y = multilabel_data()
    perfect = FixedResponse(Y * 0.8 + 0.1)
    inverted = FixedResponse(1 - Y)
    assert eer_scorer(perfect, X, Y) == 0.0
    assert eer_scorer(inverted, X, Y) == -1.0


def test_eer_scorer_in_cross_val_score_matches_a_manual_fold_loop():
    X, Y = multilabel_data()
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    scores = cross_val_score(LinearTagger(), X, Y, cv=cv, scoring=eer_scorer)
    expected = [
        -equal_error_rate(
            Y[test], LinearTagger().fit(X[train], Y[train]).predict_proba(X[test])
        )
        for train, test in cv.split(X)
    ]
    np.testing.assert_array_equal(scores, expected)
    assert np.all((scores >= -1) & (scores <= 0))


def test_eer_scorer_selects_parameters_in_grid_search():
    X, Y = multilabel_data()
    search = GridSearchCV(
        LinearTagger(), {"alpha": [0.1, 1e6]}, scoring=eer_scorer, cv=3
    ).fit(X, Y)
    mean_scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(mean_scores))
    assert search.best_score_ == mean_scores.max()


def test_eer_scorer_uses_the_positive_class_column_of_a_binary_classifier():
    X, Y = multilabel_data()
    y = np.where(Y[:, 0] == 1, "present", "absent")
    clf = LogisticRegression().fit(X, y)
    assert list(clf.classes_) == ["absent", "present"]
    expected = -equal_error_rate(y == "present", clf.predict_proba(X)[:, 1])
    assert eer_scorer(clf, X, y) == expected
    assert (
        cross_val_score(LogisticRegression(), X, y, cv=3, scoring=eer_scorer).max() < 0
    )


def test_eer_scorer_takes_column_one_of_per_tag_probability_lists():
    X, Y = multilabel_data()
    for estimator in (
        KNeighborsClassifier(n_neighbors=5),
        MultiOutputClassifier(LogisticRegression()),
    ):
        estimator.fit(X[:60], Y[:60])
        probas = estimator.predict_proba(X[60:])
        assert isinstance(probas, list)
        expected = -equal_error_rate(
            Y[60:], np.column_stack([proba[:, 1] for proba in probas])
        )
        assert eer_scorer(estimator, X[60:], Y[60:]) == expected


def test_eer_scorer_gives_chance_level_to_a_tag_never_positive_in_training():
    X, Y = multilabel_data()
    Y_train = Y[:60].copy()
    Y_train[:, 1] = 0
    knn = KNeighborsClassifier(n_neighbors=5).fit(X[:60], Y_train)
    assert knn.predict_proba(X[60:])[1].shape == (30, 1)
    probas = knn.predict_proba(X[60:])
    scores = np.column_stack([proba[:, -1] for proba in probas])
    scores[:, 1] = 0.0
    assert eer_scorer(knn, X[60:], Y[60:]) == -equal_error_rate(Y[60:], scores)
    assert equal_error_rate(Y[60:, 1], scores[:, 1]) == 0.5


def test_eer_scorer_reads_skorch_style_two_by_tags_probabilities():
    X, Y = multilabel_data()
    scores = np.random.default_rng(0).uniform(size=Y.shape)
    stacked = np.stack([1 - scores, scores], axis=1)
    assert eer_scorer(FixedResponse(stacked), X, Y) == -equal_error_rate(Y, scores)


def test_eer_scorer_falls_back_to_decision_function():
    X, Y = multilabel_data()
    clf = RidgeClassifier().fit(X, Y[:, 0])
    assert not hasattr(clf, "predict_proba")
    expected = -equal_error_rate(Y[:, 0], clf.decision_function(X))
    assert eer_scorer(clf, X, Y[:, 0]) == expected


def test_eer_scorer_rejects_multiclass_targets_and_points_to_balanced_accuracy():
    X, Y = multilabel_data()
    y = Y[:, 0] + Y[:, 1] * 2
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="balanced_accuracy"):
        eer_scorer(clf, X, y)


def test_eer_scorer_rejects_an_estimator_without_scores():
    with pytest.raises(TypeError, match="predict_proba or decision_function"):
        eer_scorer(FixedResponse(method="predict"), np.zeros((2, 1)), [0, 1])


# --- Task 1: class-wise accuracy -------------------------------------------------


def test_class_wise_accuracy_is_the_fraction_of_each_class_recognised():
    y_true = ["bus", "bus", "bus", "car", "car", "park", "park", "park", "park"]
    y_pred = ["bus", "car", "bus", "car", "car", "bus", "park", "car", "car"]
    # bus: 2 of 3, car: 2 of 2, park: 1 of 4.
    np.testing.assert_allclose(
        class_wise_accuracy(y_true, y_pred), [2 / 3, 1.0, 1 / 4], rtol=1e-15
    )
    np.testing.assert_allclose(
        class_wise_accuracy(y_true, y_pred, labels=["park", "bus"]),
        [1 / 4, 2 / 3],
        rtol=1e-15,
    )


def test_class_wise_accuracy_is_nan_without_warning_for_a_class_not_in_y_true():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accuracy = class_wise_accuracy([0, 0, 1], [0, 2, 1])
    np.testing.assert_array_equal(accuracy, [0.5, 1.0, np.nan])


def test_mean_class_wise_accuracy_is_the_unweighted_mean_over_classes():
    y_true = ["bus", "bus", "bus", "car", "car", "park", "park", "park", "park"]
    y_pred = ["bus", "car", "bus", "car", "car", "bus", "park", "car", "car"]
    expected = (2 / 3 + 1.0 + 1 / 4) / 3
    assert mean_class_wise_accuracy(y_true, y_pred) == pytest.approx(expected)
    assert mean_class_wise_accuracy(y_true, y_pred) == pytest.approx(
        np.mean(class_wise_accuracy(y_true, y_pred))
    )


# --- per_class_table --------------------------------------------------------------


def test_per_class_table_has_a_row_per_class_and_an_average_row():
    table = per_class_table(
        {"Baseline": [0.5, 0.25, np.nan], "Network": [1.0, 0.5, 0.0]},
        ["Beach", "Bus", "Park"],
        class_header="Acoustic Scene",
        float_format=".1%",
    )
    lines = table.splitlines()
    assert lines[0].split() == ["Acoustic", "Scene", "Baseline", "Network"]
    assert lines[2].split() == ["Beach", "50.0%", "100.0%"]
    assert lines[4].split() == ["Park", "-", "0.0%"]
    assert lines[-1].split() == ["Average", "37.5%", "50.0%"]
    assert lines[1] == lines[-2] == "-" * len(lines[0])
    assert len({len(line) for line in lines}) == 1


def test_per_class_table_rejects_values_that_do_not_match_the_classes():
    with pytest.raises(ValueError, match=r"'Network' has values of shape \(2,\)"):
        per_class_table({"Network": [0.1, 0.2]}, ["a", "b", "c"])
