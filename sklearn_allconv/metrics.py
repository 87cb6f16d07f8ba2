"""Evaluation metrics of DCASE 2016 Task 1 (scenes) and Task 4 (audio tagging).

Task 4 is scored with the equal error rate (EER) computed exactly as the
challenge's reference code does (:func:`equal_error_rate`, and
:func:`eer_scorer` for model selection); Task 1 with the mean of class-wise
accuracies (:func:`class_wise_accuracy`, :func:`mean_class_wise_accuracy`).
:func:`per_class_table` prints per-class results the way the paper's
Tables 2 and 3 do.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.metrics import balanced_accuracy_score, recall_score, roc_curve

__all__ = [
    "class_wise_accuracy",
    "eer_scorer",
    "equal_error_rate",
    "mean_class_wise_accuracy",
    "per_class_table",
]

# Tolerance of the official DCASE 2016 Task 4 code, used both to find the
# crossing with the diagonal FPR = 1 - TPR and to detect vertical segments.
_EPS = 1e-6


@overload
def equal_error_rate(
    y_true: ArrayLike, y_score: ArrayLike, *, average: Literal["macro"] = ...
) -> float: ...
@overload
def equal_error_rate(
    y_true: ArrayLike, y_score: ArrayLike, *, average: None
) -> np.ndarray: ...
def equal_error_rate(
    y_true: ArrayLike, y_score: ArrayLike, *, average: str | None = "macro"
) -> float | np.ndarray:
    """Equal error rate as computed by the official DCASE 2016 Task 4 code.

    The EER is the error rate at the operating point where the false positive
    rate equals the false negative rate. It is read off the ROC curve by
    linear interpolation, following the challenge's reference implementation
    step by step (see Notes), so that results are comparable with published
    Task 4 figures. Lower is better: 0 is perfect separation, 0.5 is chance,
    1 is perfectly inverted scores.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_tags)
        Binary ground truth: 0/1 or boolean. A 2-D array (dense or sparse) is
        a multi-label indicator matrix with one column per tag.
    y_score : array-like of the same shape as ``y_true``
        Scores, higher meaning "tag present". Any finite real numbers work:
        probabilities, logits, log-likelihood ratios. Only their order
        matters.
    average : {"macro"} or None, default="macro"
        How to combine the tags of 2-D input. ``"macro"`` returns the mean
        over tags, ignoring tags whose EER is undefined (NaN); ``None``
        returns the per-tag EERs. Ignored for 1-D input, which always gives
        a single float.

    Returns
    -------
    eer : float or ndarray of shape (n_tags,)
        The EER, in [0, 1]. NaN for a tag whose ``y_true`` column has no
        positives or no negatives (the EER is undefined there); the macro
        average is NaN only when every tag is undefined. No warning is
        issued in either case.

    Raises
    ------
    ValueError
        If the shapes differ, ``y_true`` is not binary, ``y_score`` holds NaN
        or infinite values, the input is empty or not 1-D/2-D, or
        ``average`` is not ``"macro"`` or ``None``.

    See Also
    --------
    eer_scorer : The negated EER as a scorer for ``cross_val_score`` and
        ``GridSearchCV``.
    sklearn.metrics.roc_curve : The ROC curve the EER is read from.
    sklearn.metrics.det_curve : FPR against FNR, the curve the EER lies on.

    Notes
    -----
    Per tag, the official algorithm is:

    1. ``fpr, tpr, _ = roc_curve(y_true, y_score, drop_intermediate=True)``;
    2. points ``[(0, 0)] + list(zip(fpr, tpr))``;
    3. take the first point ``i`` with ``fpr + 1e-6 >= 1 - tpr``;
    4. with ``(x1, y1)`` = point ``i - 1`` and ``(x2, y2)`` = point ``i``: if
       ``|x2 - x1| < 1e-6`` the EER is ``x1``, otherwise it is where the
       line through both points meets ``fpr = 1 - tpr``:
       ``m = (y2 - y1) / (x2 - x1)``, ``o = y1 - m * x1``,
       ``EER = (1 - o) / (1 + m)``.

    The challenge evaluates Task 4 over five folds: per tag, the EERs of the
    folds are averaged ignoring NaN (a tag without positives in a fold), and
    the overall figure is the mean over tags. Reproduce it with
    ``average=None`` on each fold, ``np.nanmean`` over folds, then the mean
    over tags. That is not always the mean over folds of the per-fold macro
    EER, which is what ``cross_val_score(..., scoring=eer_scorer)`` averages.

    References
    ----------
    .. [1] DCASE 2016 Challenge, Task 4 "Domestic audio tagging": evaluation
       by equal error rate, baseline system by P. Foster (QMUL), function
       ``compute_eer``. https://dcase.community/challenge2016/
    .. [2] P. Foster, S. Sigtia, S. Krstulovic, J. Barker and M. D. Plumbley,
       "CHiME-Home: A dataset for sound source recognition in a domestic
       environment", WASPAA 2015.

    Examples
    --------
    >>> from sklearn_allconv.metrics import equal_error_rate
    >>> equal_error_rate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.5
    >>> equal_error_rate([0, 1, 0, 1], [-2.0, 3.0, -0.5, 1.2])
    0.0
    >>> y_true = [[0, 1, 0], [0, 0, 0], [1, 1, 0], [1, 0, 0]]
    >>> y_score = [[0.2, 0.9, 0.1], [0.1, 0.3, 0.4], [0.8, 0.2, 0.3], [0.7, 0.6, 0.2]]
    >>> equal_error_rate(y_true, y_score, average=None)
    array([0. , 0.5, nan])
    >>> equal_error_rate(y_true, y_score)
    0.25
    """
    if not (average is None or (isinstance(average, str) and average == "macro")):
        raise ValueError(f"average must be 'macro' or None; got {average!r}.")
    y_true, y_score = _check_binary_targets_and_scores(y_true, y_score)
    if y_true.ndim == 1:
        return _equal_error_rate_one_tag(y_true, y_score)
    per_tag = np.array(
        [
            _equal_error_rate_one_tag(y_true[:, tag], y_score[:, tag])
            for tag in range(y_true.shape[1])
        ]
    )
    if average is None:
        return per_tag
    if np.isnan(per_tag).all():
        return float("nan")
    return float(np.nanmean(per_tag))


def eer_scorer(estimator: Any, X: Any, y: ArrayLike) -> float:
    """Negated equal error rate of a fitted estimator, as a scikit-learn scorer.

    Use it as ``scoring=eer_scorer`` in ``cross_val_score``,
    ``cross_validate`` or ``GridSearchCV``. Following scikit-learn's
    convention that greater scores are better (like its ``neg_log_loss`` or
    ``neg_mean_squared_error`` scorers), it returns **minus** the macro
    EER: values lie in [-1, 0], and -0.17 is better than -0.21. Negate the
    result to report the EER itself.

    Parameters
    ----------
    estimator : fitted estimator
        Must provide ``predict_proba`` or, failing that, ``decision_function``.
    X : array-like
        Input passed unchanged to the estimator.
    y : array-like of shape (n_samples,) or (n_samples, n_tags)
        True targets. 2-D: a multi-label 0/1 indicator matrix. 1-D: binary
        labels of any type; the positive class is ``estimator.classes_[1]``
        (or 1 for an estimator without ``classes_``).

    Returns
    -------
    score : float
        ``-equal_error_rate(y_true, scores, average="macro")``; NaN when the
        EER of every tag is undefined on this ``y``.

    Raises
    ------
    TypeError
        If the estimator has neither ``predict_proba`` nor
        ``decision_function``.
    ValueError
        If the targets are multi-class, or the estimator's output does not
        match ``y``.

    See Also
    --------
    equal_error_rate : The metric itself, with per-tag output.

    Notes
    -----
    The scorer calls ``predict_proba`` itself instead of being built with
    :func:`sklearn.metrics.make_scorer`: for two labels scikit-learn's
    response helper keeps only the last probability column, which breaks a
    multi-label EER. The estimator's output is reduced to one score per tag:

    - an array of shape (n_samples, n_tags) is used as is;
    - a list of ``n_tags`` arrays of shape (n_samples, 2), as from
      ``RandomForestClassifier``, ``KNeighborsClassifier`` or
      ``MultiOutputClassifier``, contributes the column of class 1 of each
      (with ``classes_`` a list, that column is looked up there; a tag that
      had no positives in training gets a constant score of 0);
    - an array of shape (n_samples, 2, n_tags), as from a skorch
      ``NeuralNet`` with its automatic nonlinearity, contributes ``[:, 1, :]``;
    - for 1-D ``y``, the probability column of the positive class, or the
      1-D decision function.

    On a multi-label ``y`` the returned value is the macro EER of one fold;
    the official Task 4 figure averages per tag over folds first (see
    :func:`equal_error_rate`).

    There is no scorer for Task 1: the mean class-wise accuracy is
    scikit-learn's balanced accuracy, available as
    ``scoring="balanced_accuracy"``.

    References
    ----------
    .. [1] DCASE 2016 Challenge, Task 4 "Domestic audio tagging": evaluation
       by equal error rate. https://dcase.community/challenge2016/

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn_allconv.metrics import eer_scorer
    >>> X = np.arange(12.0).reshape(-1, 1)
    >>> Y = np.column_stack([X[:, 0] % 2 == 0, X[:, 0] >= 6]).astype(int)
    >>> knn = KNeighborsClassifier(n_neighbors=1).fit(X, Y)
    >>> eer_scorer(knn, X, Y)
    -0.0
    >>> scores = cross_val_score(
    ...     KNeighborsClassifier(n_neighbors=3), X, Y, cv=2, scoring=eer_scorer
    ... )
    >>> bool(np.all((-1 <= scores) & (scores <= 0)))
    True
    """
    y_true, y_score = _targets_and_positive_scores(estimator, X, y)
    return -equal_error_rate(y_true, y_score, average="macro")


def class_wise_accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, *, labels: ArrayLike | None = None
) -> np.ndarray:
    """Accuracy within each class, as in DCASE 2016 Task 1.

    The class-wise accuracy of class ``c`` is the fraction of the clips of
    class ``c`` that are classified as ``c``, i.e. the recall of ``c``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.
    labels : array-like of shape (n_classes,), default=None
        The classes to report, in this order. By default, the sorted union of
        the labels in ``y_true`` and ``y_pred``.

    Returns
    -------
    accuracy : ndarray of shape (n_classes,)
        Per-class accuracy in the order of ``labels``; NaN (without a
        warning) for a class that does not occur in ``y_true``.

    See Also
    --------
    mean_class_wise_accuracy : The Task 1 score, the mean of these values.
    sklearn.metrics.recall_score : Computes these values with
        ``average=None``.

    Notes
    -----
    This is :func:`sklearn.metrics.recall_score` with ``average=None`` and
    ``zero_division=np.nan``.

    References
    ----------
    .. [1] DCASE 2016 Challenge, Task 1 "Acoustic scene classification":
       evaluation by class-wise accuracy.
       https://dcase.community/challenge2016/

    Examples
    --------
    >>> from sklearn_allconv.metrics import class_wise_accuracy
    >>> y_true = ["bus", "bus", "car", "car", "car", "park"]
    >>> y_pred = ["bus", "car", "car", "car", "bus", "bus"]
    >>> class_wise_accuracy(y_true, y_pred)
    array([0.5       , 0.66666667, 0.        ])
    >>> class_wise_accuracy(y_true, y_pred, labels=["park", "car"])
    array([0.        , 0.66666667])
    """
    return recall_score(
        y_true, y_pred, labels=labels, average=None, zero_division=np.nan
    )


def mean_class_wise_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean of the class-wise accuracies: the DCASE 2016 Task 1 score.

    This is scikit-learn's balanced accuracy, which this function calls; use
    ``scoring="balanced_accuracy"`` for cross-validation and grid search.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted class labels.

    Returns
    -------
    accuracy : float
        The mean over the classes of ``y_true`` of their class-wise accuracy.

    See Also
    --------
    class_wise_accuracy : The per-class values.
    sklearn.metrics.balanced_accuracy_score : The function called.

    Notes
    -----
    Classes that occur only in ``y_pred`` are left out of the mean
    (scikit-learn warns about them). The official Task 1 accuracy averages
    this score over the four cross-validation folds.

    References
    ----------
    .. [1] DCASE 2016 Challenge, Task 1 "Acoustic scene classification":
       evaluation by class-wise accuracy.
       https://dcase.community/challenge2016/

    Examples
    --------
    >>> from sklearn_allconv.metrics import mean_class_wise_accuracy
    >>> y_true = ["bus", "bus", "car", "car", "car", "park"]
    >>> y_pred = ["bus", "car", "car", "car", "bus", "bus"]
    >>> round(mean_class_wise_accuracy(y_true, y_pred), 4)
    0.3889
    """
    return float(balanced_accuracy_score(y_true, y_pred))


def per_class_table(
    values_by_system: Mapping[str, ArrayLike],
    class_names: Sequence[str],
    *,
    average_label: str = "Average",
    class_header: str = "Class",
    float_format: str | Callable[[float], str] = ".3f",
    na_rep: str = "-",
) -> str:
    """Render per-class results of several systems as a plain-text table.

    Rows are the classes followed by an average row, columns are the
    systems, as in Tables 2 and 3 of Hertel et al. (2016).

    Parameters
    ----------
    values_by_system : mapping of str to array-like of shape (n_classes,)
        One entry per column, in display order: the system's name and its
        value for each class (e.g. class-wise accuracy or per-tag EER).
    class_names : sequence of str
        Row labels, in the order of the values.
    average_label : str, default="Average"
        Label of the last row, which holds the mean over classes of each
        system, ignoring NaN.
    class_header : str, default="Class"
        Header of the first column, e.g. ``"Acoustic Scene"`` or
        ``"Audio Tag"``.
    float_format : str or callable, default=".3f"
        A format specification for :func:`format` (``".1f"``, ``".1%"``) or a
        function turning a float into a string.
    na_rep : str, default="-"
        Text shown for NaN values.

    Returns
    -------
    table : str
        The table, lines separated by ``"\\n"``, without a trailing newline.

    Raises
    ------
    ValueError
        If there are no systems, or a system's values do not have one entry
        per class.

    See Also
    --------
    class_wise_accuracy : Per-class values for scene classification.
    equal_error_rate : Per-tag values with ``average=None``.

    Notes
    -----
    The average row is the unweighted mean over classes, which is how both
    the Task 1 accuracy and the Task 4 EER are averaged.

    References
    ----------
    .. [1] L. Hertel, H. Phan and A. Mertins, "Classifying variable-length
       audio files with all-convolutional networks and masked global
       pooling", DCASE 2016 Workshop, Tables 2 and 3.

    Examples
    --------
    >>> from sklearn_allconv.metrics import per_class_table
    >>> print(per_class_table(
    ...     {"Baseline": [0.29, 0.30, 0.20], "Network": [0.18, 0.20, 0.06]},
    ...     ["Adult Female Speech", "Adult Male Speech", "Child Speech"],
    ...     class_header="Audio Tag",
    ...     float_format=".2f",
    ... ))
    Audio Tag            Baseline  Network
    --------------------------------------
    Adult Female Speech      0.29     0.18
    Adult Male Speech        0.30     0.20
    Child Speech             0.20     0.06
    --------------------------------------
    Average                  0.26     0.15
    """
    if not values_by_system:
        raise ValueError("values_by_system is empty; give at least one system.")
    class_names = [str(name) for name in class_names]
    columns = {}
    for system, values in values_by_system.items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(class_names),):
            raise ValueError(
                f"System {system!r} has values of shape {values.shape}; "
                f"expected one value per class, shape ({len(class_names)},)."
            )
        columns[str(system)] = np.append(values, _nanmean_or_nan(values))

    def render(value: float) -> str:
        if np.isnan(value):
            return na_rep
        if callable(float_format):
            return float_format(value)
        return format(value, float_format)

    row_labels = [class_header, *class_names, average_label]
    label_width = max(len(label) for label in row_labels)
    cells = {system: [render(v) for v in values] for system, values in columns.items()}
    widths = {
        system: max(len(system), *(len(cell) for cell in column))
        for system, column in cells.items()
    }
    header = "  ".join(
        [class_header.ljust(label_width)] + [s.rjust(w) for s, w in widths.items()]
    )
    rule = "-" * len(header)
    rows = [
        "  ".join(
            [label.ljust(label_width)]
            + [cells[s][row].rjust(w) for s, w in widths.items()]
        )
        for row, label in enumerate([*class_names, average_label])
    ]
    return "\n".join([header, rule, *rows[:-1], rule, rows[-1]])


def _nanmean_or_nan(values: np.ndarray) -> float:
    # np.nanmean warns on an all-NaN slice; an undefined mean is a valid result.
    if values.size == 0 or np.isnan(values).all():
        return float("nan")
    return float(np.nanmean(values))


def _check_binary_targets_and_scores(
    y_true: ArrayLike, y_score: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Validate EER input; return y_true as int 0/1 and y_score as float64."""
    if sp.issparse(y_true):
        y_true = y_true.toarray()
    if sp.issparse(y_score):
        y_score = y_score.toarray()
    y_true = np.asarray(y_true)
    if y_true.dtype.kind not in "biuf":
        raise ValueError(
            f"y_true must hold binary 0/1 or boolean labels; got an array of "
            f"dtype {y_true.dtype}. Encode the labels as 0/1 first (for "
            f"multi-label tags, e.g. with MultiLabelBinarizer)."
        )
    not_binary = ~np.isin(y_true, (0, 1))
    if not_binary.any():
        found = np.unique(y_true[not_binary])
        raise ValueError(
            f"y_true must be binary (0/1 or boolean); found the values "
            f"{found[:5].tolist()}{' ...' if found.size > 5 else ''}. "
            f"The EER is a per-tag detection metric: binarize multi-class "
            f"targets per class or use a class-wise accuracy instead."
        )
    try:
        y_score = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"y_score must be an array of real numbers; it could not be "
            f"converted to float ({exc})."
        ) from exc
    if y_true.shape != y_score.shape:
        raise ValueError(
            f"y_true and y_score must have the same shape; got {y_true.shape} "
            f"and {y_score.shape}. Expected (n_samples,) for a binary task or "
            f"(n_samples, n_tags) for multi-label tagging."
        )
    if y_true.ndim not in (1, 2):
        raise ValueError(
            f"y_true and y_score must be 1-D (n_samples,) or 2-D "
            f"(n_samples, n_tags); got {y_true.ndim}-D arrays of shape "
            f"{y_true.shape}."
        )
    if y_true.size == 0:
        raise ValueError(
            f"y_true and y_score are empty (shape {y_true.shape}); the EER needs "
            f"at least one sample and one tag."
        )
    not_finite = ~np.isfinite(y_score)
    if not_finite.any():
        raise ValueError(
            f"y_score must be finite; it holds {np.count_nonzero(not_finite)} "
            f"NaN or infinite value(s). Clip or replace them (e.g. with "
            f"np.nan_to_num) before computing the EER."
        )
    return y_true.astype(np.int8), y_score


def _equal_error_rate_one_tag(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Official DCASE 2016 Task 4 EER of one tag; NaN when it is undefined."""
    n_positives = np.count_nonzero(y_true)
    # roc_curve warns and returns NaN rates for a single class; answer directly.
    if n_positives == 0 or n_positives == y_true.size:
        return float("nan")
    fpr, tpr, _ = roc_curve(y_true, y_score, pos_label=1, drop_intermediate=True)
    x = np.concatenate(([0.0], fpr))
    y = np.concatenate(([0.0], tpr))
    # The first point, (0, 0), never qualifies and the last, (1, 1), always
    # does, so 1 <= i < len(x).
    i = int(np.flatnonzero(x + _EPS >= 1 - y)[0])
    x1, y1, x2, y2 = x[i - 1], y[i - 1], x[i], y[i]
    if abs(x2 - x1) < _EPS:
        return float(x1)
    slope = (y2 - y1) / (x2 - x1)
    offset = y1 - slope * x1
    return float((1 - offset) / (1 + slope))


def _targets_and_positive_scores(
    estimator: Any, X: Any, y: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Binary targets and one positive-class score per tag, for the EER."""
    if sp.issparse(y):
        y = y.toarray()
    y = np.asarray(y)
    if hasattr(estimator, "predict_proba"):
        response = estimator.predict_proba(X)
    elif hasattr(estimator, "decision_function"):
        response = estimator.decision_function(X)
    else:
        raise TypeError(
            f"eer_scorer needs an estimator with predict_proba or "
            f"decision_function; {type(estimator).__name__} has neither."
        )
    classes = getattr(estimator, "classes_", None)
    if y.ndim == 2:
        return y, _multilabel_positive_scores(response, classes, n_tags=y.shape[1])
    return _binary_targets_and_scores(y, response, classes)


def _multilabel_positive_scores(
    response: Any, classes: Any, *, n_tags: int
) -> np.ndarray:
    if isinstance(response, list | tuple):
        if len(response) != n_tags:
            raise ValueError(
                f"The estimator returned {len(response)} per-tag outputs for a "
                f"y with {n_tags} tags."
            )
        if not (isinstance(classes, list | tuple) and len(classes) == n_tags):
            classes = [None] * n_tags
        return np.column_stack(
            [
                _positive_class_column(proba, tag_classes)
                for proba, tag_classes in zip(response, classes, strict=True)
            ]
        )
    response = np.asarray(response)
    if response.ndim == 3 and response.shape[1] == 2:
        return response[:, 1, :]
    return response


def _positive_class_column(proba: ArrayLike, classes: Any) -> np.ndarray:
    """Score of class 1 from one tag's (n_samples, n_classes) probabilities."""
    proba = np.asarray(proba)
    if proba.ndim == 1:
        return proba
    if classes is not None:
        classes = np.asarray(classes)
        positive = np.flatnonzero(classes == 1)
        if positive.size:
            return proba[:, positive[0]]
        if classes.size == proba.shape[1]:
            # The tag had no positives in training: it is never predicted.
            return np.zeros(proba.shape[0])
    if proba.shape[1] == 2:
        return proba[:, 1]
    raise ValueError(
        f"Cannot tell which of the {proba.shape[1]} probability columns of a "
        f"tag belongs to the positive class; expected 2 columns (classes 0 "
        f"and 1)."
    )


def _binary_targets_and_scores(
    y: np.ndarray, response: Any, classes: Any
) -> tuple[np.ndarray, np.ndarray]:
    multiclass_hint = (
        "eer_scorer handles binary and multi-label targets only; for "
        "multi-class scene classification use scoring='balanced_accuracy'."
    )
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim != 1 or classes.size != 2:
            raise ValueError(
                f"The estimator has classes_ of shape {classes.shape}; expected "
                f"exactly 2 classes for a 1-D y. {multiclass_hint}"
            )
        unknown = ~np.isin(y, classes)
        if unknown.any():
            raise ValueError(
                f"y holds labels {np.unique(y[unknown])[:5].tolist()} that are "
                f"not among the estimator's classes {classes.tolist()}. "
                f"{multiclass_hint}"
            )
        y = y == classes[1]
    response = np.asarray(response)
    if response.ndim == 2:
        if response.shape[1] > 2:
            raise ValueError(
                f"The estimator returned scores for {response.shape[1]} classes "
                f"for a 1-D y. {multiclass_hint}"
            )
        response = response[:, -1]
    return y, response
