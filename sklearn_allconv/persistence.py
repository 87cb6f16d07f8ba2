"""Save fitted models to a file that is safe to share, and load them back.

:func:`save_model` writes a fitted :class:`~sklearn_allconv.SceneClassifier`,
:class:`~sklearn_allconv.AudioTagger`, :class:`~sklearn_allconv.STFTTransformer`
or a :class:`~sklearn.pipeline.Pipeline` of them to one safetensors file: the
network weights and standardization statistics as tensors, everything else
(classes, constructor parameters, the feature settings) as a JSON description
in the file's header. :func:`load_model` rebuilds the model from the file
without unpickling anything: classes and functions are looked up by name in an
explicit allow-list, and every value is checked before it is used, so a
tampered file fails with a ``ValueError`` instead of running code.

Pickle and joblib keep working for files you only share with yourself: they
can run arbitrary code when loaded, so load them only from trusted sources.
"""

from __future__ import annotations

import math
import os
import reprlib
from numbers import Integral, Real
from typing import Any

import numpy as np
import skorch
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._device import check_cuda_available
from ._state_files import read_state_file, write_state_file
from ._version import __version__
from .augment import BatchAugmentation, Mixup, SpecMask, TimeShift
from .estimators import AudioTagger, SceneClassifier
from .features import STFTTransformer
from .model_selection import GroupValidSplit
from .network import AllConvNet, batch_independent_sigmoid

__all__ = ["load_model", "save_model"]

_KIND = "model"
_ESTIMATORS = {cls.__name__: cls for cls in (SceneClassifier, AudioTagger)}
_CLASSES = {**_ESTIMATORS, "STFTTransformer": STFTTransformer}
# The only classes and functions a model file may name as parameter values.
# Each is harmless to construct or call with the arguments the file supplies.
_ALLOWED_OBJECTS: dict[str, Any] = {
    "sklearn_allconv.AllConvNet": AllConvNet,
    "sklearn_allconv.sigmoid": batch_independent_sigmoid,
    "torch.nn.CrossEntropyLoss": torch.nn.CrossEntropyLoss,
    "torch.nn.BCEWithLogitsLoss": torch.nn.BCEWithLogitsLoss,
    "torch.optim.Adam": torch.optim.Adam,
    "torch.optim.AdamW": torch.optim.AdamW,
    "torch.optim.SGD": torch.optim.SGD,
    "torch.optim.RMSprop": torch.optim.RMSprop,
    "torch.utils.data.DataLoader": torch.utils.data.DataLoader,
    "skorch.dataset.Dataset": skorch.dataset.Dataset,
}
# The batch augmentations a file may describe, rebuilt from their parameters.
_AUGMENTATIONS: dict[str, type[BatchAugmentation]] = {
    f"sklearn_allconv.augment.{cls.__name__}": cls
    for cls in (TimeShift, SpecMask, Mixup)
}
_OBJECT, _INSTANCE = "__object__", "__instance__"
_SPLIT_PARAMS = {"valid_size", "stratified", "hold_out", "random_state"}
_FITTED_STFT = ("n_fft_", "hop_length_", "n_bins_", "n_frames_seen_")
# Bounds of what a file may describe: generous for any real model, small
# enough that nothing built from them (a window, a network on the meta device,
# an array of class names) can exhaust memory or time.
_MAX_SAMPLE_RATE = 1_536_000
_MAX_WINDOW_MS = 10_000.0
_MAX_CLASSES = 100_000
_MAX_LABEL_CHARS = 1_000
_MAX_BINS = 2**16
_MAX_HISTORY_EPOCHS = 100_000
# Run-time parameters: how and where a model runs, not what it has learned.
# A file never sets them (a shared file could otherwise name a cache folder
# whose pickles joblib loads, or start thousands of threads or worker
# processes); a loaded model has the library's defaults and the user sets
# them after loading. Files written by earlier versions list them: ignored.
_RUN_TIME_PARAMS = {
    "STFTTransformer": {"n_jobs", "memory", "verbose"},
    "network": {
        "device", "callbacks", "verbose", "iterator_train", "iterator_valid",
        "dataset", "compile", "use_caching", "torch_load_kwargs",
        "data_on_device", "n_threads", "module__convolution",
    },
}
_RUN_TIME_PREFIXES = ("callbacks__", "iterator_train__", "iterator_valid__")


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Save a fitted model to a safetensors file that is safe to share.

    Parameters
    ----------
    model : SceneClassifier, AudioTagger, STFTTransformer or Pipeline
        A fitted estimator of this library, or a fitted
        :class:`~sklearn.pipeline.Pipeline` whose steps all are (typically
        ``STFTTransformer`` then a classifier or tagger).
    path : str or path-like
        The file to write, conventionally ending in ``.safetensors``. It is
        replaced atomically: a crash leaves either the old file or the new one.

    Raises
    ------
    TypeError
        If ``model`` or one of its steps is not one of the classes above.
    ValueError
        If the model is not fitted, or a constructor parameter holds a value
        that the safe format cannot describe (an object other than the
        allow-listed classes, such as user callbacks or a ``RandomState``).

    See Also
    --------
    load_model : Read the file back.

    Notes
    -----
    The file records the network weights, the classes, the number of
    frequency bins, the training history, every constructor parameter and,
    for an ``STFTTransformer``, its sample rate, window, hop, mel bands and
    compression and the standardization statistics ``mean_`` and ``scale_``.
    It does not record the optimizer state: a loaded model predicts exactly as
    the saved one, and ``partial_fit`` on it continues with a fresh optimizer.
    Tensors are copied to the CPU, so a model trained on a GPU loads on any
    machine.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_allconv import SceneClassifier, load_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal((20, 8)).astype(np.float32) for _ in range(8)]
    >>> y = ["park", "beach"] * 4
    >>> clf = SceneClassifier(max_epochs=1, module__n_filters=8, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "scenes.safetensors")
    >>> save_model(clf, path)
    >>> bool((load_model(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    write_state_file(path, _describe_model(model), kind=_KIND)


def load_model(path: str | os.PathLike, *, device: str = "auto") -> Any:
    """Load a model saved by :func:`save_model`, without unpickling anything.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.
    device : str, default="auto"
        Torch device of the loaded networks: "auto" (CUDA when available,
        else the CPU), "cpu", "cuda" or "cuda:<index>". It becomes the
        estimators' ``device`` parameter; the device the model was trained
        on does not matter.

    Returns
    -------
    model : SceneClassifier, AudioTagger, STFTTransformer or Pipeline
        The fitted model, predicting as the saved one.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a model file of this library, or was tampered
        with: it names a class or function outside the allow-list, its
        parameters do not fit the class, or its tensors do not fit the
        network it describes. Nothing in the file is executed. Also if
        ``device`` asks for CUDA on a machine without it.

    See Also
    --------
    save_model : Write such a file.

    Notes
    -----
    A loaded pipeline applies the saved feature settings: an
    ``STFTTransformer`` refuses audio files of another sample rate (unless
    it was saved with ``resample=True``), and the classifier refuses
    spectrograms with another number of frequency bins. In-memory audio
    carries no sample rate, so it is taken to be at the saved ``sample_rate``.
    """
    device = _check_device(device)
    tree = read_state_file(path, kind=_KIND)
    name = os.fspath(path)
    try:
        return _build_model(_field(tree, "model", dict), device)
    except _InvalidModel as exc:
        raise ValueError(
            f"{name!r} does not describe a valid model: {exc} The file may be "
            "damaged or tampered with; nothing in it was executed."
        ) from None
    except (TypeError, KeyError, AttributeError, IndexError) as exc:
        # A structure the checks above did not anticipate: still the file's
        # fault, and still nothing was executed.
        raise ValueError(
            f"{name!r} does not describe a valid model ({type(exc).__name__}: "
            f"{exc}). The file may be damaged or tampered with; nothing in it "
            "was executed."
        ) from exc


class _InvalidModel(Exception):
    """A description that does not hold together; re-raised with the path."""


# -- saving ------------------------------------------------------------------


def _describe_model(model: Any) -> dict[str, Any]:
    if isinstance(model, Pipeline):
        params = model.get_params(deep=False)
        if params.get("memory") is not None or params.get("transform_input"):
            raise ValueError(
                "Only pipelines without memory= and transform_input= can be saved "
                "in the safe format."
            )
        steps = []
        for step_name, step in model.steps:
            steps.append({"name": step_name, "estimator": _describe_estimator(step)})
        return {
            "model": {
                "class": "Pipeline",
                "steps": steps,
                "params": {"verbose": bool(params.get("verbose", False))},
            },
            "library_version": __version__,
        }
    return {"model": _describe_estimator(model), "library_version": __version__}


def _describe_estimator(estimator: Any) -> dict[str, Any]:
    name = type(estimator).__name__
    if _CLASSES.get(name) is not type(estimator):
        raise TypeError(
            f"Cannot save a {name} in the safe format: it holds only "
            f"{', '.join(sorted(_CLASSES))} and pipelines of them. Use pickle or "
            "joblib for other objects (trusted files only)."
        )
    params = {
        key: _describe_param(name, key, value)
        for key, value in estimator.get_params(deep=False).items()
        # skorch lists some private bookkeeping among its parameters.
        if not key.startswith("_") and not _is_run_time(name, key)
    }
    if isinstance(estimator, STFTTransformer):
        check_is_fitted(estimator, "n_fft_")
        fitted = {key: getattr(estimator, key) for key in _FITTED_STFT}
        fitted["mean_"], fitted["scale_"] = estimator.mean_, estimator.scale_
        return {"class": name, "params": params, "fitted": fitted}
    estimator.check_is_fitted()
    classes = np.asarray(estimator.classes_)
    if classes.dtype == object:
        # Tag names from MultiLabelBinarizer are an object array of strings.
        classes = np.asarray(classes.tolist())
    if classes.dtype.kind not in "Uiub":
        raise ValueError(
            f"Cannot save classes_ of dtype {classes.dtype} in the safe format; "
            "use string or integer labels."
        )
    fitted = {
        "classes_": {"dtype": classes.dtype.str, "values": classes.tolist()},
        "n_bins_": int(estimator.n_bins_),
        "history_": [dict(row) for row in estimator.history_],
        "trained_on": str(estimator.device),
    }
    if hasattr(estimator, "split_seed_"):
        fitted["split_seed_"] = int(estimator.split_seed_)
    return {
        "class": name,
        "params": params,
        "fitted": fitted,
        "weights": dict(estimator.module_.state_dict()),
    }


def _is_run_time(class_name: str, key: str) -> bool:
    group = "STFTTransformer" if class_name == "STFTTransformer" else "network"
    return key in _RUN_TIME_PARAMS[group] or (
        group == "network" and key.startswith(_RUN_TIME_PREFIXES)
    )


def _describe_param(owner: str, key: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, str, Integral, Real)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, GroupValidSplit):
        split = {name: _describe_param(owner, key, getattr(value, name))
                 for name in sorted(_SPLIT_PARAMS)}
        return {_INSTANCE: "sklearn_allconv.GroupValidSplit", "params": split}
    augmentation = f"sklearn_allconv.augment.{type(value).__name__}"
    if _AUGMENTATIONS.get(augmentation) is type(value):
        config = {name: _describe_param(owner, key, item)
                  for name, item in value.get_config().items()}
        return {_INSTANCE: augmentation, "params": config}
    for name, allowed in _ALLOWED_OBJECTS.items():
        if value is allowed:
            return {_OBJECT: name}
    if isinstance(value, (list, tuple)):
        return type(value)(_describe_param(owner, key, item) for item in value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _describe_param(owner, key, item) for k, item in value.items()}
    if key == "augment":
        raise ValueError(
            f"{owner}'s augment holds {value!r}, which the safe format cannot "
            "describe: it stores only the library's TimeShift, SpecMask and "
            "Mixup. Augmentations act in training only: set augment=None "
            "before saving, or use pickle/joblib for files you only share "
            "with yourself."
        )
    raise ValueError(
        f"{owner}'s parameter {key}={value!r} cannot be saved in the safe format: "
        "it holds only numbers, strings, lists, dicts and these classes and "
        f"functions: {', '.join(sorted(_ALLOWED_OBJECTS))}. Set it to such a "
        "value (e.g. an int random_state, callbacks=None) before saving, or use "
        "pickle/joblib for files you only share with yourself."
    )


# -- loading -----------------------------------------------------------------


def _check_device(device: Any) -> str:
    if not isinstance(device, str) or not (
        device in ("auto", "cpu") or device.split(":")[0] == "cuda"
    ):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', got {device!r}."
        )
    check_cuda_available(device)
    return device


def _field(tree: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(tree, dict) or key not in tree:
        raise _InvalidModel(f"the entry {key!r} is missing.")
    value = tree[key]
    if not isinstance(value, kind) or (
        isinstance(value, bool) and kind in (int, Integral)
    ):
        raise _InvalidModel(
            f"the entry {key!r} is a {type(value).__name__}, not a "
            f"{getattr(kind, '__name__', kind)}."
        )
    return value


def _build_model(description: dict, device: str) -> Any:
    class_name = _field(description, "class", str)
    if class_name != "Pipeline":
        return _build_estimator(description, device)
    steps = []
    for step in _field(description, "steps", list):
        step_name = _field(step, "name", str)
        if not step_name.isidentifier():
            raise _InvalidModel(f"the step name {step_name!r} is not an identifier.")
        steps.append((step_name, _build_estimator(_field(step, "estimator", dict),
                                                  device)))
    if not steps:
        raise _InvalidModel("the pipeline has no steps.")
    params = _field(description, "params", dict)
    for (_, before), (after_name, after) in zip(steps, steps[1:], strict=False):
        if isinstance(after, STFTTransformer):
            raise _InvalidModel(f"step {after_name!r} must come first.")
        if isinstance(before, STFTTransformer) and before.n_bins_ != after.n_bins_:
            raise _InvalidModel(
                f"the STFT gives {before.n_bins_} bins but step {after_name!r} was "
                f"fitted on {after.n_bins_}."
            )
    return Pipeline(steps, verbose=bool(params.get("verbose", False)))


def _build_estimator(description: dict, device: str) -> Any:
    class_name = _field(description, "class", str)
    if class_name not in _CLASSES:
        raise _InvalidModel(
            f"it names the class {class_name!r}, which is not one of the classes "
            f"a model file may hold ({', '.join(sorted(_CLASSES))})."
        )
    cls = _CLASSES[class_name]
    params = {}
    for key, value in _field(description, "params", dict).items():
        if _is_run_time(class_name, key):
            continue
        params[key] = _check_model_param(class_name, key, _restore_param(value))
    if cls is not STFTTransformer:
        params["device"] = device
    else:
        # Files written before ``normalize``, ``compression`` or ``n_mels``
        # existed normalized, compressed and pooled nothing.
        params.setdefault("normalize", None)
        params.setdefault("compression", None)
        params.setdefault("n_mels", None)
    # Pass only what differs from the defaults, so that the loaded model's repr
    # and skorch's bookkeeping of explicit arguments match the saved model's.
    defaults = cls().get_params(deep=False)
    params = {
        key: value
        for key, value in params.items()
        if key not in defaults or not _same_value(value, defaults[key])
    }
    try:
        estimator = cls(**params)
    except (TypeError, ValueError) as exc:
        raise _InvalidModel(f"its parameters do not fit {class_name}: {exc}") from None
    fitted = _field(description, "fitted", dict)
    if cls is STFTTransformer:
        _restore_stft(estimator, fitted)
    else:
        _restore_network(estimator, fitted, _field(description, "weights", dict))
    return estimator


def _restore_param(value: Any) -> Any:
    if isinstance(value, list):
        return [_restore_param(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_restore_param(item) for item in value)
    if not isinstance(value, dict):
        if isinstance(value, (torch.Tensor, np.ndarray)):
            raise _InvalidModel("a parameter refers to a tensor.")
        return value
    if _OBJECT in value:
        name = value[_OBJECT]
        if not isinstance(name, str) or name not in _ALLOWED_OBJECTS or len(value) > 1:
            raise _InvalidModel(
                f"a parameter names {name!r}, which is not on the allow-list of "
                f"classes and functions ({', '.join(sorted(_ALLOWED_OBJECTS))})."
            )
        return _ALLOWED_OBJECTS[name]
    if _INSTANCE in value and value[_INSTANCE] in _AUGMENTATIONS:
        return _restore_augmentation(value)
    if _INSTANCE in value:
        name, split = value[_INSTANCE], value.get("params")
        if isinstance(split, dict) and "hold_out" not in split:
            # Files from before hold_out: their splits held out whole groups.
            split = {**split, "hold_out": "groups"}
        if (
            name != "sklearn_allconv.GroupValidSplit"
            or set(value) != {_INSTANCE, "params"}
            or not isinstance(split, dict)
            or set(split) != _SPLIT_PARAMS
        ):
            raise _InvalidModel(f"a parameter describes the object {value!r}.")
        if not isinstance(split["random_state"], (int, type(None))):
            raise _InvalidModel("GroupValidSplit's random_state is not an int.")
        return GroupValidSplit(**{k: _restore_param(v) for k, v in split.items()})
    return {key: _restore_param(item) for key, item in value.items()}


def _restore_augmentation(value: dict) -> BatchAugmentation:
    """An augmentation of the allow-list from its plain-number parameters."""
    cls, config = _AUGMENTATIONS[value[_INSTANCE]], value.get("params")
    if (
        set(value) != {_INSTANCE, "params"}
        or not isinstance(config, dict)
        or not all(_is_real(item) for item in config.values())
    ):
        raise _InvalidModel(f"a parameter describes the object {value!r}.")
    try:
        augmentation = cls(**config)
        augmentation.check()
    except (TypeError, ValueError) as exc:
        raise _InvalidModel(
            f"its augmentation {cls.__name__} has invalid parameters: {exc}"
        ) from None
    return augmentation


def _check_model_param(class_name: str, key: str, value: Any) -> Any:
    """Return ``value`` if it is a valid model parameter ``key``, else refuse."""
    table = _STFT_PARAMS if class_name == "STFTTransformer" else _NETWORK_PARAMS
    check = table.get(key)
    if check is None and class_name != "STFTTransformer":
        prefix = key.split("__")[0] + "__"
        check = _NETWORK_PREFIXED.get(prefix) if "__" in key else None
    if check is None:
        raise _InvalidModel(
            f"the parameter {key!r} of {class_name} is not one a model file may "
            "set: a file holds only the model's own parameters (architecture, "
            "feature settings, training recipe); run-time ones such as n_jobs, "
            "memory, device or callbacks are set after loading."
        )
    problem = check(value)
    if problem:
        raise _InvalidModel(
            f"the parameter {key!r} of {class_name} is {reprlib.repr(value)}; it "
            f"must be {problem}."
        )
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    # Integers are finite however large (math.isfinite would overflow on them).
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return isinstance(value, Integral) or math.isfinite(value)


def _int_in(low: int, high: int) -> Any:
    def check(value: Any) -> str | None:
        if _is_int(value) and low <= value <= high:
            return None
        return f"an integer from {low} to {high}"

    return check


def _real_in(low: float, high: float, *, low_open: bool = False) -> Any:
    def check(value: Any) -> str | None:
        if _is_real(value) and (low < value if low_open else low <= value) and (
            value <= high
        ):
            return None
        return f"a finite number in {'(' if low_open else '['}{low}, {high}]"

    return check


def _one_of(*choices: Any) -> Any:
    def check(value: Any) -> str | None:
        if any(value is c or (type(value) is type(c) and value == c)
               for c in choices):
            return None
        return f"one of {', '.join(map(repr, choices))}"

    return check


def _objects(*names: str) -> Any:
    allowed = [_ALLOWED_OBJECTS[name] for name in names]
    return lambda value: (
        None if any(value is obj for obj in allowed) else f"one of {', '.join(names)}"
    )


def _random_state(value: Any) -> str | None:
    if value is None or (_is_int(value) and 0 <= value < 2**32):
        return None
    return "None or an integer from 0 to 2**32 - 1"


def _augment(value: Any) -> str | None:
    augmentations = value if isinstance(value, list) else [value]
    if value is None or all(
        _AUGMENTATIONS.get(f"sklearn_allconv.augment.{type(item).__name__}")
        is type(item)
        for item in augmentations
    ):
        return None
    return "None, or one or a list of TimeShift, SpecMask and Mixup"


def _split(value: Any) -> str | None:
    if value is None:
        return None
    if (
        isinstance(value, GroupValidSplit)
        and isinstance(value.stratified, bool)
        and value.hold_out in ("groups", "clips")
    ):
        size = value.valid_size
        # A fraction of the clips, or a number of them (as in ShuffleSplit).
        if (_is_real(size) and 0 < size < 1) or (_is_int(size) and size >= 1):
            return None
    return (
        "None or a GroupValidSplit with a valid_size between 0 and 1 or a "
        "positive integer and hold_out 'groups' or 'clips'"
    )


def _hyperparameter(value: Any) -> str | None:
    """Optimizer and loss arguments: numbers, flags, short strings, pairs."""
    if value is None or isinstance(value, bool) or _is_real(value):
        return None
    if isinstance(value, str) and len(value) <= 64:
        return None
    if isinstance(value, (list, tuple)) and len(value) <= 4 and all(
        _is_real(item) for item in value
    ):
        return None
    return "a number, a flag, a short string or up to 4 numbers"


_BOOL = _one_of(True, False)
_STFT_PARAMS = {
    "sample_rate": _real_in(0, _MAX_SAMPLE_RATE, low_open=True),
    "window_ms": _real_in(0, _MAX_WINDOW_MS, low_open=True),
    "hop_ms": _real_in(0, _MAX_WINDOW_MS, low_open=True),
    "normalize": _one_of(None, "rms"),
    "n_mels": lambda value: (
        None
        if value is None or value == "auto"
        or (_is_int(value) and 1 <= value <= _MAX_BINS)
        else f"None, 'auto' or an integer from 1 to {_MAX_BINS}"
    ),
    "compression": _one_of(None, "log", "log-gain", "pcen"),
    "standardize": _BOOL,
    "channel": lambda value: (
        None if value == "mean" or (_is_int(value) and -64 <= value < 64)
        else "'mean' or a channel index from -64 to 63"
    ),
    "resample": _BOOL,
}
_NETWORK_PARAMS = {
    "module": _objects("sklearn_allconv.AllConvNet"),
    "criterion": _objects("torch.nn.CrossEntropyLoss", "torch.nn.BCEWithLogitsLoss"),
    "optimizer": _objects(
        "torch.optim.Adam", "torch.optim.AdamW", "torch.optim.SGD",
        "torch.optim.RMSprop",
    ),
    "lr": _real_in(0, 1e3, low_open=True),
    "max_epochs": _int_in(1, 10**6),
    "batch_size": lambda value: (
        None
        if value == "auto" or _is_int(value) and (value == -1 or 1 <= value <= 2**20)
        else "'auto', -1 or an integer from 1 to 2**20"
    ),
    "recipe": _one_of("default", "paper"),
    "train_split": _split,
    "predict_nonlinearity": lambda value: (
        None if value in ("auto", None) or value is batch_independent_sigmoid
        else "'auto', None or sklearn_allconv.sigmoid"
    ),
    "warm_start": _BOOL,
    "short_clips": _one_of("error", "pad"),
    "bucketing": _BOOL,
    "precision": _one_of("float32", "bfloat16", "float16"),
    "random_state": _random_state,
    "random_crop": _BOOL,
    "augment": _augment,
    "test_crops": _int_in(1, 1000),
    "threshold": _real_in(0.0, 1.0),
    "module__n_filters": _int_in(1, 2**16),
    "module__n_strided_layers": _int_in(0, 64),
    "module__kernel_size": _int_in(1, 2**12),
    "module__stride": _int_in(1, 2**12),
    "module__pooling": _one_of("mean", "max"),
    "module__n_bins": _int_in(1, _MAX_BINS),
    "module__n_outputs": _int_in(1, _MAX_CLASSES),
}
# Arguments of the optimizer and the loss: plain numbers, used only by fit.
_NETWORK_PREFIXED = {"optimizer__": _hyperparameter, "criterion__": _hyperparameter}


def _same_value(value: Any, default: Any) -> bool:
    if isinstance(value, GroupValidSplit) or isinstance(default, GroupValidSplit):
        return repr(value) == repr(default)
    return type(value) is type(default) and value == default


def _restore_stft(stft: STFTTransformer, fitted: dict) -> None:
    try:
        stft._validate_params()
        geometry = stft._geometry()
    except ValueError as exc:
        raise _InvalidModel(
            f"its STFTTransformer parameters are invalid: {exc}"
        ) from None
    values = {key: _field(fitted, key, int) for key in _FITTED_STFT}
    if (values["n_fft_"], values["hop_length_"], values["n_bins_"]) != geometry[:3]:
        raise _InvalidModel(
            f"the STFT geometry {values} does not follow from sample_rate="
            f"{stft.sample_rate}, window_ms={stft.window_ms}, hop_ms={stft.hop_ms}"
            f", n_mels={stft.n_mels}."
        )
    for key, value in values.items():
        setattr(stft, key, value)
    stft.n_mels_ = geometry[3]
    stft._fitted_settings = stft._analysis_settings()
    for key in ("mean_", "scale_"):
        value = fitted.get(key)
        if not stft.standardize:
            if value is not None:
                raise _InvalidModel(f"{key} is given although standardize=False.")
            setattr(stft, key, None)
            continue
        if not (
            isinstance(value, np.ndarray)
            and value.dtype == np.float64
            and value.shape == (stft.n_bins_,)
            and np.isfinite(value).all()
        ):
            raise _InvalidModel(
                f"{key} must be {stft.n_bins_} finite float64 values, one per bin."
            )
        setattr(stft, key, value.copy())
    if stft.standardize and not (np.asarray(stft.scale_) > 0).all():
        raise _InvalidModel("scale_ must be positive.")


def _restore_network(estimator: Any, fitted: dict, weights: dict) -> None:
    estimator.classes_ = _restore_classes(_field(fitted, "classes_", dict))
    if estimator.classes_.ndim != 1 or not (
        np.unique(estimator.classes_).shape == estimator.classes_.shape
        and (np.sort(estimator.classes_) == estimator.classes_).all()
    ):
        raise _InvalidModel("classes_ must be a sorted list of distinct labels.")
    estimator.n_bins_ = _field(fitted, "n_bins_", int)
    if not 1 <= estimator.n_bins_ <= _MAX_BINS:
        raise _InvalidModel(
            f"n_bins_ is {estimator.n_bins_}; it must be from 1 to {_MAX_BINS}."
        )
    if "split_seed_" in fitted:
        estimator.split_seed_ = _field(fitted, "split_seed_", int)
        if not 0 <= estimator.split_seed_ < 2**31:
            raise _InvalidModel(
                f"split_seed_ is {estimator.split_seed_}; it must be from 0 to "
                "2**31 - 1."
            )
    history = _field(fitted, "history_", list)
    if len(history) > _MAX_HISTORY_EPOCHS or not all(
        isinstance(row, dict) for row in history
    ):
        raise _InvalidModel(
            f"history_ must be a list of at most {_MAX_HISTORY_EPOCHS} dicts."
        )
    _check_weights(estimator, weights)
    # initialize() draws fresh weights; the global random state stays as it was.
    with torch.random.fork_rng(devices=[]):
        try:
            # skorch checks the parameter names here, not in __init__.
            estimator.initialize()
        except (TypeError, ValueError) as exc:
            raise _InvalidModel(
                f"its parameters do not fit {type(estimator).__name__}: {exc}"
            ) from None
    try:
        estimator.module_.load_state_dict(weights)
    except RuntimeError as exc:
        # E.g. an edited compile=True wraps the network, whose keys then differ.
        raise _InvalidModel(
            f"its weights do not load into the network: {exc}"
        ) from None
    estimator.history_ = History(history)


def _restore_classes(classes: dict) -> np.ndarray:
    """``classes_`` from its values, with the dtype they need and no wider.

    The dtype is checked before anything is allocated: a file could declare
    strings of 10**8 characters (``<U100000000``) for a handful of labels.
    """
    dtype, values = _field(classes, "dtype", str), _field(classes, "values", list)
    if not 1 <= len(values) <= _MAX_CLASSES:
        raise _InvalidModel(
            f"classes_ has {len(values)} values; it must have 1 to {_MAX_CLASSES}."
        )
    try:
        declared = np.dtype(dtype)
    except (TypeError, ValueError):
        raise _InvalidModel(f"classes_ has the dtype {dtype!r}.") from None
    if declared.kind == "U":
        if not all(isinstance(value, str) for value in values):
            raise _InvalidModel("classes_ has dtype U but holds non-strings.")
        longest = max(len(value) for value in values)
        if longest > _MAX_LABEL_CHARS or declared != np.dtype(f"<U{max(longest, 1)}"):
            raise _InvalidModel(
                f"classes_ has the dtype {dtype!r}, but its longest label has "
                f"{longest} characters (at most {_MAX_LABEL_CHARS} are allowed)."
            )
    elif declared.kind in "iub" and declared.itemsize <= 8:
        kind = bool if declared.kind == "b" else Integral
        if not all(
            isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            for value in values
        ):
            raise _InvalidModel(f"classes_ has dtype {dtype!r} but other values.")
    else:
        raise _InvalidModel(
            f"classes_ has the dtype {dtype!r}; only strings, integers and "
            "booleans are labels."
        )
    try:
        return np.asarray(values, dtype=declared)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _InvalidModel(f"classes_ does not fit its dtype: {exc}") from None


def _check_weights(estimator: Any, weights: dict) -> None:
    """Check the weights against the network the parameters describe.

    The network is built on the "meta" device, which allocates no memory, so
    that parameters inflated by tampering cannot exhaust memory before the
    check fails.
    """
    if estimator.module is not AllConvNet:
        raise _InvalidModel(f"its module is {estimator.module!r}, not AllConvNet.")
    kwargs = {
        "n_bins": estimator.n_bins_,
        "n_outputs": len(estimator.classes_),
        **estimator.get_params_for("module"),
    }
    try:
        with torch.device("meta"):
            expected = AllConvNet(**kwargs).state_dict()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise _InvalidModel(f"its network cannot be built: {exc}") from None
    if set(weights) != set(expected):
        raise _InvalidModel(
            "its weights do not fit the network: missing "
            f"{sorted(set(expected) - set(weights))[:5]}, unexpected "
            f"{sorted(set(weights) - set(expected))[:5]}."
        )
    for key, tensor in weights.items():
        if not isinstance(tensor, torch.Tensor) or (
            tensor.shape != expected[key].shape or tensor.dtype != expected[key].dtype
        ):
            raise _InvalidModel(
                f"the weight {key!r} is {_tensor_summary(tensor)}, but the network "
                f"needs {_tensor_summary(expected[key])}."
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise _InvalidModel(f"the weight {key!r} holds NaN or infinite values.")


def _tensor_summary(tensor: Any) -> str:
    if not isinstance(tensor, torch.Tensor):
        return f"a {type(tensor).__name__}"
    return f"{tensor.dtype} of shape {tuple(tensor.shape)}"
