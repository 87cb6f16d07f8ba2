"""Rerun the paper's comparison: Tables 2 and 3, network against baseline.

:func:`reproduce_table` cross-validates the paper's system (STFT features and
the all-convolutional network) and the official DCASE 2016 MFCC + GMM
baseline on the same folds, and prints the per-class table of the paper:
Table 2 (class-wise accuracy per acoustic scene, TUT Acoustic Scenes 2016,
four official folds) or Table 3 (equal error rate per tag, CHiME-Home, five
official folds). Without a dataset it runs on the synthetic demo data.

From the command line (:mod:`sklearn_allconv.cli`)::

    sklearn-allconv reproduce --task scenes --root ~/data --output out
"""

from __future__ import annotations

import csv
import json
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, check_cv
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import Bunch

from ._optional import import_optional
from .baseline import make_dcase2016_task1_baseline, make_dcase2016_task4_baseline
from .estimators import AudioTagger, SceneClassifier
from .features import PAPER_FEATURES, STFTTransformer
from .metrics import class_wise_accuracy, equal_error_rate, per_class_table
from .model_selection import GroupValidSplit

__all__ = ["display_name", "reproduce_table"]

SYSTEMS = ("Baseline", "Network")
"""The two systems compared, in the column order of the tables."""

_TASKS = {
    "scenes": Bunch(
        title="Table 2: Results for acoustic scene classification.",
        metric="Accuracy (%)",
        class_header="Acoustic Scene",
        float_format=".1f",
        scale=100.0,
        file_stem="table2_scenes",
        demo_folds=4,
    ),
    "tags": Bunch(
        title="Table 3: Results for domestic audio tagging.",
        metric="Equal Error Rate (EER)",
        class_header="Audio Tag",
        float_format=".3f",
        scale=1.0,
        file_stem="table3_tags",
        demo_folds=5,
    ),
}
# Words the paper capitalises differently from str.title().
_ACRONYMS = {"Tv": "TV"}


def reproduce_table(
    task: Literal["scenes", "tags"] = "scenes",
    root: str | os.PathLike | None = None,
    *,
    max_epochs: int | None = None,
    network_params: Mapping[str, Any] | None = None,
    baseline_params: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    output: str | os.PathLike | None = None,
    figure: bool = True,
    random_state: int = 0,
    verbose: int = 0,
    file: TextIO | None = None,
) -> Bunch:
    """Cross-validate network and baseline on the official folds; print the table.

    Both systems are trained and tested on exactly the same folds: each fold
    fits a fresh copy of each on the same training clips and predicts the
    same test clips. Per class, the fold results are averaged ignoring folds
    where the class is absent (class-wise accuracy for scenes, EER for tags,
    as the DCASE 2016 evaluation does); the last row is the mean over
    classes.

    Parameters
    ----------
    task : {"scenes", "tags"}, default="scenes"
        ``"scenes"``: DCASE 2016 Task 1 and the paper's Table 2;
        ``"tags"``: Task 4 and Table 3.
    root : str or path-like, default=None
        The TUT Acoustic Scenes 2016 development folder (scenes) or the
        CHiME-Home folder (tags), as the loaders take it; their official
        folds are used. None runs on the synthetic demo data of
        :mod:`sklearn_allconv.datasets` with a
        :class:`~sklearn.model_selection.GroupKFold` over its recording
        groups (4 folds for scenes, 5 for tags).
    max_epochs : int, default=None
        Training epochs of the network; None keeps the estimator's default
        (100, with early stopping).
    network_params : mapping, default=None
        Further parameters of :class:`~sklearn_allconv.SceneClassifier` /
        :class:`~sklearn_allconv.AudioTagger`, e.g.
        ``{"module__n_filters": 64}``.
    baseline_params : mapping, default=None
        Parameters of :class:`~sklearn_allconv.baseline.GMMSceneClassifier`
        / :class:`~sklearn_allconv.baseline.GMMTagger`, e.g.
        ``{"n_components": 8}``.
    n_jobs : int, default=None
        Folds evaluated in parallel (joblib processes); None means 1.
    output : str or path-like, default=None
        A folder to write ``table2_scenes.{txt,csv,json}`` (or
        ``table3_tags.*``) into, and with ``figure`` a confusion matrix
        (scenes) or DET curves (tags) as PNG; created if needed.
    figure : bool, default=True
        Write the figure into ``output`` (needs matplotlib).
    random_state : int, default=0
        Seeds the demo data, the network and the mixtures.
    verbose : int, default=0
        Report each fold's result on stderr when positive.
    file : text stream, default=None
        Where the table is printed; None means ``sys.stdout``.

    Returns
    -------
    result : sklearn.utils.Bunch
        Dictionary-like object with the attributes:

        table : str
            The printed table (title included).
        class_names : list of str
            Labels as in the data, in table order.
        per_fold : dict of str to ndarray of shape (n_folds, n_classes)
            Each system's per-class score in each fold (NaN where a class is
            absent from a fold's test clips), in raw units (fractions).
        per_class : dict of str to ndarray of shape (n_classes,)
            Mean over folds, ignoring NaN.
        average : dict of str to float
            Mean of ``per_class`` over classes: the Task 1 accuracy or the
            Task 4 EER.
        folds : ndarray of int of shape (n_clips,)
            Index of the fold that tests each clip (-1: never tested).
        predictions : dict of str to ndarray
            Each system's out-of-fold output per clip: labels (scenes) or
            tag scores (tags); entries of untested clips are empty (scenes)
            or NaN (tags).
        files : list of str
            The files written into ``output``.

    Raises
    ------
    ValueError
        If ``task`` is unknown.
    ImportError
        If ``root`` is None and the demo generator is not available, or a
        figure is asked for without matplotlib.

    See Also
    --------
    sklearn_allconv.datasets.load_tut_acoustic_scenes_2016 : Task 1 data.
    sklearn_allconv.datasets.load_chime_home : Task 4 data.
    sklearn_allconv.metrics.per_class_table : The table layout.

    Notes
    -----
    The audio is read once per fold by the network's
    :class:`~sklearn_allconv.STFTTransformer` (its standardization is
    fitted on each fold's training clips); the baseline's MFCCs, which
    involve no fitting, are computed once for all clips.

    Examples
    --------
    >>> from sklearn_allconv.reproduce import reproduce_table
    >>> result = reproduce_table(
    ...     "scenes", "~/data/TUT-acoustic-scenes-2016-development", output="results"
    ... )  # doctest: +SKIP
    """
    if task not in _TASKS:
        raise ValueError(f"task must be 'scenes' or 'tags', got {task!r}.")
    spec = _TASKS[task]
    if output is not None and figure:
        # Before hours of training, not after them.
        import_optional(
            "matplotlib.figure", extra="plot", purpose="The figure of reproduce_table"
        )
    data = _load(task, root, random_state=random_state)
    splits = data.splits
    if root is None:
        network_params = {**DEMO_NETWORK_PARAMS, **(network_params or {})}
    network = _network(task, data.sample_rate, max_epochs, network_params, random_state)
    baseline = _baseline(task, data.sample_rate, baseline_params, random_state)
    # The MFCC transformer is stateless: features for all clips at once.
    features = baseline[0].fit_transform(data.X)

    # A generator: each fold is reported as soon as it is done.
    outcomes = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_evaluate_fold)(
            task, network, baseline[-1], data, features, train, test, data.class_names
        )
        for train, test in splits
    )
    folds = np.full(len(data.y), -1)
    predictions = {
        system: (
            np.full(data.y.shape, np.nan)
            if task == "tags"
            else np.full(len(data.y), "", dtype=object)
        )
        for system in SYSTEMS
    }
    fold_rows: dict[str, list[np.ndarray]] = {system: [] for system in SYSTEMS}
    for k, ((_, test), outcome) in enumerate(zip(splits, outcomes, strict=True)):
        folds[test] = k
        for system in SYSTEMS:
            predictions[system][test] = outcome[system].predictions
            fold_rows[system].append(outcome[system].scores)
        if verbose:
            summary = ", ".join(
                f"{system} {spec.scale * _nanmean(outcome[system].scores):.3g}"
                for system in SYSTEMS
            )
            print(f"Fold {k + 1}/{len(splits)}: {summary}", file=sys.stderr)

    per_fold = {system: np.array(rows) for system, rows in fold_rows.items()}
    per_class = {s: _nanmean(rows, axis=0) for s, rows in per_fold.items()}
    table = "\n".join(
        [
            spec.title,
            f"{spec.metric}, mean over {len(splits)} folds ({data.source}); both "
            "systems on identical folds.",
            "",
            per_class_table(
                {s: spec.scale * per_class[s] for s in SYSTEMS},
                [display_name(name) for name in data.class_names],
                class_header=spec.class_header,
                float_format=spec.float_format,
            ),
        ]
    )
    print(table, file=file or sys.stdout)
    result = Bunch(
        table=table,
        class_names=list(data.class_names),
        per_fold=per_fold,
        per_class=per_class,
        average={s: _nanmean(per_class[s]) for s in SYSTEMS},
        folds=folds,
        predictions=predictions,
        files=[],
    )
    if output is not None:
        result.files = _write_outputs(
            Path(output), task, spec, data, result, figure=figure
        )
    return result


def display_name(label: str) -> str:
    """A label as the paper prints it: ``"cafe/restaurant"`` -> "Cafe / Restaurant".

    Parameters
    ----------
    label : str
        A scene label or tag name as in the data.

    Returns
    -------
    name : str
        Words capitalised, ``_`` as spaces, ``/`` spaced.

    Examples
    --------
    >>> from sklearn_allconv.reproduce import display_name
    >>> display_name("city_center"), display_name("video game/tv")
    ('City Center', 'Video Game / TV')
    """
    words = str(label).replace("_", " ").replace("/", " / ").split()
    return " ".join(_ACRONYMS.get(word.title(), word.title()) for word in words)


def _load(task: str, root: str | os.PathLike | None, *, random_state: int) -> Bunch:
    """X, y, groups, the (train, test) splits, class names, sample rate, source."""
    if root is not None:
        from .datasets import load_chime_home, load_tut_acoustic_scenes_2016

        if task == "scenes":
            bunch = load_tut_acoustic_scenes_2016(root)
            source = "TUT Acoustic Scenes 2016 development set, official folds"
        else:
            bunch = load_chime_home(root)
            source = "CHiME-Home development set, official folds"
        return Bunch(
            X=bunch.data,
            y=bunch.target,
            groups=bunch.groups,
            # check_cv also takes the list of index pairs TUT may give.
            splits=list(check_cv(bunch.cv).split()),
            class_names=list(bunch.target_names),
            sample_rate=bunch.sample_rate,
            source=source,
        )
    from . import datasets

    spec = _TASKS[task]
    name = "make_acoustic_scenes" if task == "scenes" else "make_domestic_tags"
    generator = getattr(datasets, name, None)
    if generator is None:
        raise ImportError(
            f"The demo data needs sklearn_allconv.datasets.{name}, which this "
            "installation lacks; pass root= with a dataset folder instead."
        )
    X, y, groups = generator(random_state=random_state)
    if task == "scenes":
        class_names, sample_rate = list(np.unique(y)), 44100
    else:
        from .datasets._chime import DOMESTIC_TAG_LABELS

        class_names, sample_rate = list(DOMESTIC_TAG_LABELS), 16000
    y, groups = np.asarray(y), np.asarray(groups)
    return Bunch(
        X=X,
        y=y,
        groups=groups,
        splits=list(GroupKFold(spec.demo_folds).split(X, y, groups)),
        class_names=class_names,
        sample_rate=sample_rate,
        source=f"synthetic demo data, GroupKFold({spec.demo_folds})",
    )


# The demo data are tiny (3 training locations per scene): holding out whole
# locations for early stopping would cost a quarter of the training data, and
# batches of 96 would give one update per epoch. On them the network trains a
# fixed number of epochs on all training clips in batches of 16; the paper's
# recipe (the estimators' defaults) is for the real data sets.
DEMO_NETWORK_PARAMS = {"max_epochs": 30, "batch_size": 16, "train_split": None}


def _network(
    task: str,
    sample_rate: int,
    max_epochs: int | None,
    params: Mapping[str, Any] | None,
    random_state: int,
) -> Pipeline:
    estimator = SceneClassifier if task == "scenes" else AudioTagger
    # The paper's recipe; the tagger has no other. It restores the epoch of
    # the lowest validation loss, which needs whole recordings held out.
    recipe = (
        {
            "recipe": "paper",
            "train_split": GroupValidSplit(0.2, stratified=True, hold_out="groups"),
        }
        if task == "scenes"
        else {}
    )
    kwargs = {**recipe, **(params or {})}
    if max_epochs is not None:
        kwargs["max_epochs"] = max_epochs
    return make_pipeline(
        # The paper's features: magnitudes as recorded, no level normalization.
        STFTTransformer(sample_rate=sample_rate, **PAPER_FEATURES),
        estimator(random_state=random_state, **kwargs),
    )


def _baseline(
    task: str, sample_rate: int, params: Mapping[str, Any] | None, random_state: int
) -> Pipeline:
    if task == "scenes":
        factory = make_dcase2016_task1_baseline
    else:
        factory = make_dcase2016_task4_baseline
    baseline = factory(sample_rate=sample_rate, random_state=random_state)
    baseline[-1].set_params(**(params or {}))
    return baseline


def _evaluate_fold(
    task: str,
    network: Pipeline,
    classifier: Any,
    data: Bunch,
    features: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    class_names: Sequence[str],
) -> dict[str, Bunch]:
    """Fit both systems on ``train``; their test outputs and per-class scores."""
    network = clone(network)
    final_step = network.steps[-1][0]
    # Groups keep the network's internal validation split recording-disjoint
    # (the paper's recipe holds out whole recordings; see _network).
    network.fit(
        data.X[train], data.y[train], **{f"{final_step}__groups": data.groups[train]}
    )
    classifier = clone(classifier).fit(features[train], data.y[train])
    if task == "scenes":
        outputs = {
            "Baseline": classifier.predict(features[test]),
            "Network": network.predict(data.X[test]),
        }
    else:
        outputs = {
            "Baseline": classifier.decision_function(features[test]),
            "Network": network.predict_proba(data.X[test]),
        }
    return {
        system: Bunch(
            predictions=out, scores=_per_class(task, data.y[test], out, class_names)
        )
        for system, out in outputs.items()
    }


def _per_class(
    task: str, y_true: np.ndarray, output: np.ndarray, class_names: Sequence[str]
) -> np.ndarray:
    """Class-wise accuracy (scenes) or per-tag EER (tags); NaN where undefined."""
    if task == "scenes":
        return class_wise_accuracy(y_true, output, labels=class_names)
    return equal_error_rate(y_true, output, average=None)


def _nanmean(values: Any, axis: int | None = None) -> Any:
    """Mean ignoring NaN; NaN where everything is NaN, which is the answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(values, dtype=np.float64), axis=axis)


def _write_outputs(
    folder: Path, task: str, spec: Bunch, data: Bunch, result: Bunch, *, figure: bool
) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / spec.file_stem
    written = [stem.with_suffix(suffix) for suffix in (".txt", ".csv", ".json")]
    written[0].write_text(result.table + "\n", encoding="utf-8")
    with open(written[1], "w", newline="", encoding="utf-8") as table:
        writer = csv.writer(table)
        writer.writerow(["class", *(s.lower() for s in SYSTEMS)])
        for i, name in enumerate(result.class_names):
            writer.writerow([name, *(result.per_class[s][i] for s in SYSTEMS)])
        writer.writerow(["Average", *(result.average[s] for s in SYSTEMS)])
    report = {
        "task": task,
        "metric": "class-wise accuracy" if task == "scenes" else "equal error rate",
        "data": data.source,
        "n_folds": len(result.per_fold["Network"]),
        "classes": result.class_names,
        "systems": {
            s: {
                "per_class": _json_floats(result.per_class[s]),
                "per_fold": [_json_floats(row) for row in result.per_fold[s]],
                "average": _json_floats([result.average[s]])[0],
            }
            for s in SYSTEMS
        },
        "fold_of_clip": result.folds.tolist(),
    }
    written[2].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if figure:
        written.append(_plot(folder, task, data, result))
    return [str(path) for path in written]


def _json_floats(values: Any) -> list[float | None]:
    # JSON has no NaN: an undefined score is null.
    return [None if np.isnan(v) else float(v) for v in np.asarray(values, float)]


def _plot(folder: Path, task: str, data: Bunch, result: Bunch) -> Path:
    """Confusion matrices (scenes) or DET curves (tags) of both systems."""
    from sklearn.metrics import ConfusionMatrixDisplay, DetCurveDisplay

    Figure = import_optional(
        "matplotlib.figure", extra="plot", purpose="The figure of reproduce_table"
    ).Figure

    tested = result.folds >= 0
    names = [display_name(name) for name in result.class_names]
    size = (7 * len(SYSTEMS), 7) if task == "scenes" else (6 * len(SYSTEMS), 5)
    fig = Figure(figsize=size, layout="constrained")
    for ax, system in zip(fig.subplots(1, len(SYSTEMS)), SYSTEMS, strict=True):
        predictions = result.predictions[system][tested]
        if task == "scenes":
            ConfusionMatrixDisplay.from_predictions(
                data.y[tested],
                predictions,
                labels=result.class_names,
                display_labels=names,
                normalize="true",
                values_format=".2f",
                xticks_rotation="vertical",
                colorbar=False,
                ax=ax,
            )
        else:
            truth = data.y[tested]
            for k, name in enumerate(names):
                # A DET curve needs both positive and negative clips.
                if 0 < truth[:, k].sum() < len(truth):
                    DetCurveDisplay.from_predictions(
                        truth[:, k], predictions[:, k], name=name, ax=ax
                    )
            ax.legend(fontsize="small")
        ax.set_title(f"{system} (out-of-fold predictions)")
    path = folder / ("confusion_matrix.png" if task == "scenes" else "det_curves.png")
    # The confusion matrices' titles need the tight bounding box to show.
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
