"""Scikit-learn estimators around :class:`~sklearn_allconv.network.AllConvNet`.

:class:`SceneClassifier` (single label, softmax) and :class:`AudioTagger`
(multi-label, sigmoid) are :class:`skorch.NeuralNet` subclasses: every part of
the training is reachable as a parameter (``module__n_filters``, ``lr``,
``optimizer__weight_decay``, ``callbacks__early_stopping__patience``, ...), so
that :class:`~sklearn.model_selection.GridSearchCV` can tune it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sized
from functools import partial
from numbers import Integral, Real
from types import FrameType
from typing import Any, TypedDict, cast

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import ClassifierMixin, TransformerMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.utils import to_device, to_tensor
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader, Dataset

from ._device import AutoDevice, check_cuda_available, cpu_has_native_bfloat16
from ._threads import threads
from ._validation import check_feature_clips
from .augment import BatchAugmentation
from .batching import (
    BucketBatchSampler,
    ClipCrops,
    ClipIndices,
    ClipStore,
    PadCollate,
    StoreCollate,
    clip_lengths,
    evenly_spaced_crops,
    restore_order,
    root_dataset,
)
from .callbacks import (
    PlateauLRScheduler,
    TrainingCheckpoint,
    ValidationEarlyStopping,
)
from .distributed import DistributedBucketBatchSampler, data_parallel
from .metrics import equal_error_rate
from .model_selection import GroupValidSplit
from .network import (
    AllConvNet,
    batch_independent_sigmoid,
    frame_times,
    minimum_frames,
)
from .progress import EpochTable

__all__ = ["AudioTagger", "SceneClassifier"]

# Autocast dtype of each precision; float32 runs without autocast.
_AUTOCAST_DTYPES = {
    "float32": None,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


# What a recipe sets where the parameters leave it to the recipe: the batch size
# (``batch_size="auto"``), the epochs without a better validation loss before
# the learning rate halves and before training stops, and whether early
# stopping restores the weights of the best validation loss (the default
# callbacks). "paper" is Hertel et al.'s (batch 96; the paper gives no
# patience, these are the library's first choice for it); "default" was chosen
# by measurement on data sets of a few hundred to a thousand clips
# (benchmarks/bench_recipes.py, benchmarks/bench_scene_network.py;
# docs/user_guide/training.md).
class _Recipe(TypedDict):
    batch_size: int
    plateau_patience: int
    stopping_patience: int
    restore_best: bool


_RECIPES: dict[str, _Recipe] = {
    "default": {
        "batch_size": 32,
        "plateau_patience": 5,
        "stopping_patience": 20,
        "restore_best": False,
    },
    "paper": {
        "batch_size": 96,
        "plateau_patience": 3,
        "stopping_patience": 10,
        "restore_best": True,
    },
}

# Module-level defaults: the split objects are stateless, and clone() copies them.
# Scenes hold out clips, not whole recording locations: with three or four
# locations per scene, held-out locations are a fifth of what the network
# could learn from (measured in docs/user_guide/training.md).
_SCENE_SPLIT = GroupValidSplit(0.2, stratified=True, hold_out="clips")
_TAG_SPLIT = GroupValidSplit(0.2)


class _SigintWatch:
    """Note whether SIGINT (Ctrl-C) arrives; its handling stays as it was.

    skorch ends training on any ``KeyboardInterrupt``, and callbacks raise one
    to stop early: this tells a user's Ctrl-C from such a stop. It also keeps
    a Ctrl-C from being lost: Python raises the ``KeyboardInterrupt`` in
    whatever Python code runs when the signal arrives, and code called from C
    that discards errors (an attribute probe, a dict lookup with a Python
    ``__eq__``, a finalizer) drops it; :meth:`check` raises it again. Signals
    reach the main thread only, so elsewhere there is nothing to watch.
    """

    def __enter__(self) -> _SigintWatch:
        self.fired = False
        self.previous: Callable[[int, FrameType | None], Any] | None = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                self.previous = previous
                signal.signal(signal.SIGINT, partial(self._handle, previous))
        return self

    def _handle(
        self,
        previous: Callable[[int, FrameType | None], Any],
        signum: int,
        frame: FrameType | None,
    ) -> None:
        self.fired = True
        previous(signum, frame)

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if SIGINT has arrived."""
        if self.fired:
            raise KeyboardInterrupt

    def __exit__(self, *exc_info: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class _AllConvEstimator(TransformerMixin, NeuralNet):
    """Shared machinery of :class:`SceneClassifier` and :class:`AudioTagger`."""

    device = AutoDevice()

    # Set by fit (n_bins_) and while callbacks run (_notifying).
    n_bins_: int
    _notifying: str | None

    def __init__(
        self,
        *,
        short_clips: str = "error",
        bucketing: bool = True,
        precision: str = "float32",
        data_on_device: bool | str = "auto",
        n_threads: int | None = None,
        augment: Any = None,
        test_crops: int = 1,
        random_state: int | np.random.RandomState | None = None,
        **kwargs: Any,
    ) -> None:
        # Like skorch's NeuralNetClassifier, the base names only what it adds;
        # skorch's own parameters (module, criterion, lr, ...) pass through
        # ``kwargs``, with defaults in the public classes' signatures.
        # get_params and clone still see every parameter: skorch's
        # NeuralNet._get_param_names lists the attributes that __init__ set,
        # not the names of a signature.
        super().__init__(**kwargs)
        self.short_clips = short_clips
        self.bucketing = bucketing
        self.precision = precision
        self.data_on_device = data_on_device
        self.n_threads = n_threads
        self.augment = augment
        self.test_crops = test_crops
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform: embeddings computed in float32, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def get_params(self, deep: bool = True, **kwargs: Any) -> dict[str, Any]:
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__["device"]
        return params

    def __setstate__(self, state: dict[str, Any]) -> None:
        # skorch maps the saved tensors with state["device"]: resolve "auto" here.
        requested = state.get("device")
        if requested == "auto":
            state = {**state, "device": AutoDevice().__get__(state)}
        super().__setstate__(state)
        if requested == "auto":
            self.__dict__["device"] = "auto"

    def _recipe(self, *, check: bool = True) -> _Recipe:
        """The batch size and patiences of the training recipe in use.

        With ``check=False`` an unknown recipe gives the default's values
        instead of an error: ``get_params`` lists the default callbacks, and
        parameters are validated in ``fit``, not before.
        """
        name = getattr(self, "recipe", "paper")
        known = isinstance(name, str) and name in _RECIPES
        if not known and not check:
            return _RECIPES["default"]
        if not known:
            raise ValueError(
                f"recipe must be 'default' or 'paper', got {name!r}: 'paper' is the "
                "recipe of Hertel et al. (batch 96), 'default' the library's for "
                "data sets of a few hundred clips and more."
            )
        return _RECIPES[name]

    @property
    def _default_callbacks(self) -> list[tuple[str, Any]]:
        recipe = self._recipe(check=False)
        # skorch's epoch table, without colour codes in redirected logs.
        inherited = [
            (name, EpochTable() if name == "print_log" else callback)
            for name, callback in super()._default_callbacks
        ]
        return [
            *inherited,
            (
                "lr_plateau",
                PlateauLRScheduler(
                    policy=ReduceLROnPlateau,
                    monitor="valid_loss",
                    mode="min",
                    factor=0.5,
                    patience=recipe["plateau_patience"],
                ),
            ),
            (
                "early_stopping",
                ValidationEarlyStopping(
                    monitor="valid_loss",
                    patience=recipe["stopping_patience"],
                    load_best=recipe["restore_best"],
                ),
            ),
            # Last, so that it saves the state the callbacks above leave.
            ("checkpoint", TrainingCheckpoint()),
        ]

    # -- data --------------------------------------------------------------

    def _check_clips(self, X: Any, *, reset: bool) -> np.ndarray:
        """Validate features and return them as an object array of float32 clips."""
        clips, n_bins = check_feature_clips(
            X,
            n_bins=None if reset else self.n_bins_,
            min_frames=self._min_frames(),
            short_clips=self.short_clips,
        )
        if reset:
            self.n_bins_ = n_bins
        return clips

    def _min_frames(self) -> int:
        module = getattr(self, "module_", None)
        if module is not None:
            return getattr(module, "min_frames", 1)
        if isinstance(self.module, type) and issubclass(self.module, AllConvNet):
            params = self.get_params_for("module")
            names = ("n_strided_layers", "kernel_size", "stride")
            return minimum_frames(**{k: params[k] for k in names if k in params})
        return 1

    def get_iterator(self, dataset: Any, training: bool = False) -> DataLoader:
        """Return a DataLoader that pads each batch and passes clip lengths.

        Training batches of :class:`SceneClassifier` are random crops, and
        training batches go through the ``augment`` augmentations; set
        ``iterator_train__collate_fn`` / ``iterator_valid__collate_fn`` to
        replace the collate function. With ``bucketing=True``, batches come
        from a :class:`~sklearn_allconv.batching.BucketBatchSampler` (random
        for training, sorted by length otherwise) unless a ``sampler`` or
        ``batch_sampler`` is given as an iterator parameter. During a fit that
        keeps its clips on the device (``data_on_device``), the batches of its
        training and validation data are gathered there instead.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        # Only SceneClassifier has the parameter: tagging trains on whole clips.
        random_crop = training and getattr(self, "random_crop", False)
        augment = self._augmentations() if training else []
        n_classes = self._one_hot_classes() if augment else None
        store = getattr(self, "_clip_store", None)
        items = dataset
        if (
            store is not None
            and "collate_fn" not in kwargs
            and getattr(root_dataset(dataset), "X", None) is store.clips
        ):
            # The fit's clips are on the device: batches are gathered there.
            items = ClipIndices(dataset)
            kwargs["collate_fn"] = StoreCollate(
                store,
                random_crop=random_crop,
                min_frames=self._min_frames(),
                augment=augment,
                n_classes=n_classes,
            )
        kwargs.setdefault(
            "collate_fn",
            PadCollate(
                random_crop=random_crop,
                min_frames=self._min_frames(),
                pin_memory=self._on_cuda(),
                augment=augment,
                n_classes=n_classes,
            ),
        )
        batch_size = kwargs.pop("batch_size", self.batch_size)
        if batch_size == "auto":
            batch_size = self._recipe()["batch_size"]
        if batch_size == -1:
            batch_size = len(dataset)
        custom_sampler = "sampler" in kwargs or "batch_sampler" in kwargs
        if training and not custom_sampler and self._in_parallel():
            # Each process's share of common batches, new ones every epoch.
            kwargs["batch_sampler"] = DistributedBucketBatchSampler(
                clip_lengths(dataset),
                batch_size,
                shuffle=kwargs.pop("shuffle", True),
                drop_last=kwargs.pop("drop_last", False),
                pool_size=32 if self.bucketing else 1,
                seed=self._batches_seed + len(self.history),
            )
        elif self.bucketing and not custom_sampler:
            # DataLoader refuses batch_size, shuffle and drop_last next to a
            # batch sampler: they go to the sampler instead.
            kwargs["batch_sampler"] = BucketBatchSampler(
                clip_lengths(dataset),
                batch_size,
                shuffle=kwargs.pop("shuffle", training),
                drop_last=kwargs.pop("drop_last", False),
            )
        else:
            kwargs["batch_size"] = batch_size
            if training and not custom_sampler:
                kwargs.setdefault("shuffle", True)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(items, **kwargs)

    def _augmentations(self) -> list[Callable]:
        """``augment`` as a list of callables, applied in order."""
        if self.augment is None:
            return []
        if callable(self.augment):
            return [self.augment]
        return list(self.augment)

    def _one_hot_classes(self) -> int | None:
        """Classes of the one-hot targets that augmentations get; None when
        the targets are already one float per output (tags)."""
        return None

    def _in_parallel(self) -> bool:
        """Whether a data-parallel fit (several processes) is running."""
        return self.__dict__.get("_parallel_module") is not None

    def _device_type(self) -> str:
        """"cuda", "cpu", ...; device=None (no moves) counts as the CPU."""
        return "cpu" if self.device is None else torch.device(self.device).type

    def _on_cuda(self) -> bool:
        return self._device_type() == "cuda"

    def initialize_module(self) -> _AllConvEstimator:
        """Build the module for the number of bins and outputs seen in ``fit``."""
        if not hasattr(self, "n_bins_"):
            raise RuntimeError(
                f"{type(self).__name__}.initialize() needs the data: call fit(X, y)."
            )
        kwargs = {
            "n_bins": self.n_bins_,
            "n_outputs": self._n_outputs(),
            **self.get_params_for("module"),
        }
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def get_split_datasets(
        self, X: Any, y: Any = None, groups: Any = None, **fit_params: Any
    ) -> tuple[Any, Any]:
        """Split off the validation data, keeping ``groups`` on one side.

        Without ``groups``, the groups given to the running :meth:`fit` are
        used: they reach the split directly rather than through skorch's fit
        parameters, which metadata routing would send elsewhere.
        """
        dataset = self.get_dataset(X, y)
        if not self.train_split:
            return dataset, None
        if groups is None:
            groups = getattr(self, "_fit_groups", None)
        kwargs: dict[str, Any] = {}
        if groups is not None:
            kwargs["groups"] = np.asarray(groups)
        if isinstance(self.train_split, GroupValidSplit):
            kwargs["random_state"] = self.split_seed_
        return self.train_split(dataset, y, **kwargs)

    def notify(self, method_name: str, **cb_kwargs: Any) -> None:
        """Call the callbacks' ``method_name``; remember it while it runs.

        A ``KeyboardInterrupt`` that a callback raises at the end of an epoch
        (early stopping) ends training normally; :meth:`fit_loop` tells it
        from a Ctrl-C by this.

        Parameters
        ----------
        method_name : str
            The callback method, e.g. ``"on_epoch_end"``.
        **cb_kwargs : dict
            Passed on to the callbacks.
        """
        self._notifying = method_name
        super().notify(method_name, **cb_kwargs)
        self._notifying = None
        watch = self.__dict__.get("_sigint_watch")
        if watch is not None:
            # A Ctrl-C whose KeyboardInterrupt was lost still ends training,
            # at the next batch or epoch boundary.
            watch.check()

    def fit_loop(
        self, X: Any, y: Any = None, epochs: int | None = None, **fit_params: Any
    ) -> _AllConvEstimator:
        """Train for ``epochs`` epochs, noting whether Ctrl-C stopped it.

        Sets ``interrupted_``: True when a ``KeyboardInterrupt`` came from the
        user (SIGINT, or raised during an epoch), False when training ran to
        its end or a callback stopped it at the end of an epoch. A SIGINT
        whose ``KeyboardInterrupt`` some library swallowed is raised again at
        the next batch or epoch boundary.

        Parameters
        ----------
        X : object array of spectrograms
            Validated training clips.
        y : ndarray
            Encoded targets.
        epochs : int, optional
            Epochs to train; ``max_epochs`` when None.
        **fit_params : dict
            Passed on as in skorch.

        Returns
        -------
        self
            The estimator.
        """
        self.interrupted_ = False
        self._notifying = None
        with _SigintWatch() as watch:
            self.__dict__["_sigint_watch"] = watch
            try:
                super().fit_loop(X, y, epochs=epochs, **fit_params)
                watch.check()
                return self
            except KeyboardInterrupt:
                self.interrupted_ = watch.fired or self._notifying != "on_epoch_end"
                raise
            finally:
                del self.__dict__["_sigint_watch"]

    # -- fitting -----------------------------------------------------------

    def _validate_estimator_params(self) -> None:
        device = self.__dict__.get("device", "auto")
        if device not in ("auto", None):
            try:
                torch.device(device)
            except (RuntimeError, TypeError):
                raise ValueError(
                    f"device must be 'auto', None or a torch device such as 'cpu', "
                    f"'cuda' or 'cuda:1', got {device!r}."
                ) from None
            check_cuda_available(device)
        if not _is_int(self.max_epochs) or self.max_epochs < 1:
            raise ValueError(
                f"max_epochs must be an integer of at least 1, got "
                f"{self.max_epochs!r}: there is nothing to train otherwise."
            )
        self._recipe()
        if self.batch_size != "auto" and (
            not _is_int(self.batch_size)
            or not (self.batch_size >= 1 or self.batch_size == -1)
        ):
            raise ValueError(
                f"batch_size must be 'auto' (the recipe's), a positive integer or "
                f"-1 (all clips in one batch), got {self.batch_size!r}."
            )
        if not _is_positive_finite(self.lr):
            raise ValueError(
                f"lr must be a positive finite number, got {self.lr!r}: with it "
                "the weights would not change or would diverge."
            )
        if self.short_clips not in ("error", "pad"):
            raise ValueError(
                f"short_clips must be 'error' or 'pad', got {self.short_clips!r}."
            )
        if self.precision not in _AUTOCAST_DTYPES:
            raise ValueError(
                "precision must be 'float32', 'bfloat16' or 'float16', got "
                f"{self.precision!r}."
            )
        if not (
            isinstance(self.data_on_device, bool) or self.data_on_device == "auto"
        ):
            raise ValueError(
                "data_on_device must be 'auto', True or False, got "
                f"{self.data_on_device!r}."
            )
        if self.n_threads is not None and (
            isinstance(self.n_threads, bool)
            or not isinstance(self.n_threads, (int, np.integer))
            or self.n_threads < 1
        ):
            raise ValueError(
                "n_threads must be None (adapt to the machine's load) or a "
                f"positive int, got {self.n_threads!r}."
            )
        self._check_augment()
        self._check_test_crops()
        if self.precision == "float16" and not self._on_cuda():
            warnings.warn(
                "precision='float16' on a CPU: float16 with a gradient scaler is "
                "meant for GPUs without bfloat16; CPUs compute it slowly. Use "
                "precision='float32'.",
                UserWarning,
                stacklevel=4,
            )
        if (
            self.precision == "bfloat16"
            and not self._on_cuda()
            and not cpu_has_native_bfloat16()
        ):
            warnings.warn(
                "precision='bfloat16' on a CPU without AVX512-BF16 or AMX: PyTorch "
                "emulates bfloat16 matrix products there, which is much slower "
                "than float32 (see docs/performance.md). Use precision='float32'.",
                UserWarning,
                stacklevel=4,
            )
        if (
            self.precision == "bfloat16"
            and self._on_cuda()
            and not torch.cuda.is_bf16_supported()
        ):
            warnings.warn(
                "precision='bfloat16' on a GPU without bfloat16 support: use "
                "precision='float16', which trains with a gradient scaler.",
                UserWarning,
                stacklevel=4,
            )

    def _check_augment(self) -> None:
        augment = self.augment
        if not (
            augment is None
            or callable(augment)
            or (
                isinstance(augment, (list, tuple))
                and all(callable(item) for item in augment)
            )
        ):
            raise ValueError(
                "augment must be None, a callable or a list of callables that "
                "take and return a padded batch (X, lengths, targets), such as "
                "sklearn_allconv.augment.SpecMask() or [TimeShift(), Mixup()]; "
                f"got {augment!r}."
            )
        for augmentation in self._augmentations():
            if isinstance(augmentation, BatchAugmentation):
                augmentation.check()
        if self._augmentations() and "collate_fn" in self.get_params_for(
            "iterator_train"
        ):
            raise ValueError(
                "augment is applied by the library's collate functions, and "
                "iterator_train__collate_fn replaces them: call the "
                "augmentations in your collate function and set augment=None."
            )

    def _check_test_crops(self) -> None:
        if not _is_int(self.test_crops) or self.test_crops < 1:
            raise ValueError(
                "test_crops must be an integer of at least 1 (1: predict on whole "
                f"clips), got {self.test_crops!r}."
            )

    def _wants_data_on_device(self, clips: np.ndarray) -> bool:
        """Whether this fit keeps its clips on the device (``data_on_device``)."""
        custom = [
            f"{prefix}__{name}"
            for prefix in ("iterator_train", "iterator_valid")
            for name, value in self.get_params_for(prefix).items()
            if name == "collate_fn" or (name == "num_workers" and value)
        ]
        if self.data_on_device is False or (
            self.data_on_device == "auto" and (custom or not self._on_cuda())
        ):
            return False
        if custom:
            raise ValueError(
                f"data_on_device=True gathers batches on the device, which does not "
                f"go with {', '.join(custom)}. Set data_on_device='auto' or False "
                "to use them."
            )
        if self.data_on_device is True:
            return True
        free, _ = torch.cuda.mem_get_info(torch.device(self.device))
        # Half the free memory at most: the rest is for activations.
        return ClipStore.nbytes(clips) <= free // 2

    def _fit(
        self, X: Any, y: Any, groups: Any, fit_params: dict, *, partial: bool
    ) -> _AllConvEstimator:
        self._validate_estimator_params()
        reset = not (partial or self.warm_start) or not self.initialized_
        clips = self._check_clips(X, reset=reset)
        targets = self._encode_targets(y, len(clips), reset=reset)
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(clips),):
                raise ValueError(
                    f"groups has shape {groups.shape}; expected ({len(clips)},), one "
                    "group id per clip."
                )
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self.split_seed_ = seed
        devices = [torch.cuda.current_device()] if str(self.device).startswith(
            "cuda"
        ) else []
        # The groups go to the internal split (get_split_datasets), not into
        # skorch's fit parameters: under metadata routing skorch routes those
        # to the module and to train_split.cv, and the groups would be lost.
        self._fit_groups = groups
        device = "cpu" if self.device is None else self.device
        try:
            if self._wants_data_on_device(clips):
                self._clip_store = ClipStore(clips, device)
            if self.precision == "float16":
                self._grad_scaler = torch.amp.GradScaler(self._device_type())
            with torch.random.fork_rng(devices=devices), threads(self.n_threads):
                torch.manual_seed(seed)
                if reset:
                    self.initialize()
                # Several processes (torchrun): one model, each its share of
                # every batch; the batches' seed is common to all processes.
                with data_parallel(self.module_) as parallel:
                    # Past skorch's check for modules set outside initialize:
                    # the wrapper lives for this fit only.
                    self.__dict__["_parallel_module"] = parallel
                    self._batches_seed = seed
                    super().partial_fit(clips, targets, **fit_params)
        finally:
            del self._fit_groups
            self.__dict__.pop("_parallel_module", None)
            self.__dict__.pop("_batches_seed", None)
            self.__dict__.pop("_notifying", None)
            # Neither outlives the fit: the clips' device copy is large, and
            # neither belongs in a pickled estimator.
            self.__dict__.pop("_clip_store", None)
            self.__dict__.pop("_grad_scaler", None)
        if self.interrupted_:
            # skorch swallows the KeyboardInterrupt; the callbacks have left the
            # recipe's weights (the best or the last) and a checkpoint. The
            # caller (a cross-validation, a grid search, the command line) must
            # stop too.
            raise KeyboardInterrupt
        return self

    def train_step_single(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """Compute the loss and gradients of one batch.

        With ``precision="float16"`` the loss is scaled before the backward
        pass (:class:`torch.amp.GradScaler`), so that small float16 gradients
        do not vanish, and the gradients are unscaled afterwards, so that
        callbacks see their true values.

        Parameters
        ----------
        batch : tuple
            A batch from the iterator: (inputs, targets).
        **fit_params : dict
            Passed on to the module's ``forward``.

        Returns
        -------
        dict
            ``{"loss": loss, "y_pred": logits}``.
        """
        scaler = getattr(self, "_grad_scaler", None)
        if scaler is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        for name in self._optimizers:
            scaler.unscale_(getattr(self, name + "_"))
        return {"loss": loss, "y_pred": y_pred}

    def _step_optimizer(self, step_fn: Any) -> None:
        scaler = getattr(self, "_grad_scaler", None)
        if scaler is None:
            super()._step_optimizer(step_fn)
            return
        # The scaler skips steps whose gradients overflowed; it takes no closure.
        step_fn()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()

    def fit(
        self, X: Any, y: Any, groups: Any = None, **fit_params: Any
    ) -> _AllConvEstimator:
        """Initialize the network and train it.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms, e.g. the output of
            :class:`~sklearn_allconv.STFTTransformer`; a 3-D array is a batch of
            equal-length spectrograms and a 2-D array a set of one-frame clips.
        y : array-like
            Targets.
        groups : array-like of shape (n_clips,), optional
            Recording or location ids for the internal validation split. A
            :class:`~sklearn_allconv.GroupValidSplit` with
            ``hold_out="groups"`` then holds out whole groups; one with
            ``hold_out="clips"`` (:class:`SceneClassifier`'s default) does not
            use them.
        **fit_params : dict
            Passed on to the module's ``forward``.

        Returns
        -------
        self
            The fitted estimator.
        """
        return self._fit(X, y, groups, fit_params, partial=False)

    def partial_fit(
        self,
        X: Any,
        y: Any,
        classes: Any = None,
        groups: Any = None,
        **fit_params: Any,
    ) -> _AllConvEstimator:
        """Train for ``max_epochs`` more epochs without re-initializing.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms.
        y : array-like
            Targets, encoded with the classes seen in the first fit.
        classes : None
            Ignored; the classes are those of the first call.
        groups : array-like of shape (n_clips,), optional
            Recording or location ids for the internal validation split.
        **fit_params : dict
            Passed on to the module's ``forward``.

        Returns
        -------
        self
            The fitted estimator.
        """
        return self._fit(X, y, groups, fit_params, partial=True)

    def forward_iter(
        self, X: Any, training: bool = False, device: str = "cpu"
    ) -> Iterator[torch.Tensor]:
        """Yield the module's outputs after validating ``X``, in the order of ``X``.

        Batches are yielded as they are computed, except when they come sorted
        by length (``bucketing=True``): then the outputs of all batches are
        gathered and yielded at once, put back in the order of ``X``.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), ndarray, or Dataset
            Spectrograms.
        training : bool, default=False
            Run the module in training mode, on training batches.
        device : str, default="cpu"
            Device the outputs are moved to.

        Yields
        ------
        Tensor
            Logits of a batch, or of all clips at once.
        """
        self.check_is_fitted()
        if not isinstance(X, Dataset):
            X = self._check_clips(X, reset=False)
        with threads(getattr(self, "n_threads", None)):
            yield from self._forward_batches(X, training, device)

    def _forward_batches(
        self, X: Any, training: bool, device: str
    ) -> Iterator[torch.Tensor]:
        """The body of :meth:`forward_iter`, on validated clips."""
        iterator = self.get_iterator(self.get_dataset(X), training=training)
        sampler = getattr(iterator, "batch_sampler", None)
        outputs = (
            to_device(self.evaluation_step(batch, training=training), device=device)
            for batch in iterator
        )
        if not isinstance(sampler, BucketBatchSampler) or sampler.shuffle:
            yield from outputs
            return
        order = torch.from_numpy(np.concatenate(list(sampler)))
        yield restore_order(list(outputs), order)

    def infer(self, x: Any, **fit_params: Any) -> torch.Tensor:
        """Run the module on one batch, with the estimator's precision.

        The padded spectrograms go to the device in one asynchronous copy (from
        page-locked memory on CUDA); the clip lengths stay on the CPU, where
        the network reads them without waiting for the device. With
        ``precision="bfloat16"`` the forward pass runs under
        :func:`torch.autocast`; the logits are returned in float32.

        Parameters
        ----------
        x : dict or Tensor
            A batch from the collate function: ``{"X": padded, "lengths": ...}``.
        **fit_params : dict
            Passed on to the module's ``forward``.

        Returns
        -------
        Tensor of shape (batch, n_outputs)
            The logits, in float32.
        """
        parallel = self.__dict__.get("_parallel_module")
        if parallel is not None and self.module_.training:
            # Training batches of a data-parallel fit: through the wrapper,
            # which averages the gradients over the processes.
            x = to_tensor(x, device=self.device)
            with self._autocast():
                return parallel(**self._merge_x_and_fit_params(x, fit_params)).float()
        if self.device is None or not (
            isinstance(x, Mapping) and torch.is_tensor(x.get("X"))
        ):
            with self._autocast():
                return super().infer(x, **fit_params).float()
        x = {**x, "X": x["X"].to(self.device, non_blocking=True)}
        with self._autocast():
            logits = self.module_(**self._merge_x_and_fit_params(x, fit_params))
        return logits.float()

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = _AUTOCAST_DTYPES[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self._device_type(), dtype=dtype)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class or tag probabilities of each clip.

        From the whole clip with ``test_crops=1`` (the paper); with
        ``test_crops=n > 1``, the mean of the probabilities of ``n`` crops of
        half the clip at evenly spaced offsets
        (:func:`~sklearn_allconv.batching.evenly_spaced_crops`; clips shorter
        than twice the network's minimum are predicted whole).

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms.

        Returns
        -------
        ndarray of shape (n_clips, n_outputs)
            Probabilities (float32).
        """
        self._check_test_crops()
        if self.test_crops == 1:
            return super().predict_proba(X)
        self.check_is_fitted()
        if isinstance(X, Dataset):
            # E.g. a validation Subset from a callback: crops need the clips.
            X = [X[i][0] for i in range(len(cast(Sized, X)))]
        clips = self._check_clips(X, reset=False)
        owners, starts, lengths = evenly_spaced_crops(
            clip_lengths(self.get_dataset(clips)),
            self.test_crops,
            min_frames=self._min_frames(),
        )
        proba = super().predict_proba(ClipCrops(clips, owners, starts, lengths))
        # The crops of a clip are consecutive rows: average each run of them.
        counts = np.bincount(owners, minlength=len(clips))
        firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.add.reduceat(proba.astype(np.float64), firsts, axis=0)
        return (sums / counts[:, None]).astype(proba.dtype)

    def transform(self, X: Any) -> np.ndarray:
        """Embed each clip: the network's pooled activations before the output layer.

        The output layer maps these vectors to the logits, so they summarize
        what the network learned about each clip in a fixed size, whatever the
        clip's length: features for a linear probe, clustering or transfer,
        e.g. ``make_pipeline(STFTTransformer(), SceneClassifier(),
        LogisticRegression())``. As :meth:`predict_proba`, a clip's
        embedding does not depend on the clips batched with it nor on its
        padding (the pooling is masked).

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms.

        Returns
        -------
        ndarray of shape (n_clips, n_filters)
            Float32 embeddings (non-negative: they follow a ReLU). With
            ``set_output(transform="pandas")`` a DataFrame whose columns are
            :meth:`get_feature_names_out`.
        """
        return torch.stack(self._module_outputs(X, "embed")).numpy()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Name the embedding's components, for :meth:`transform`.

        Parameters
        ----------
        input_features : None
            Ignored: the input is variable-length spectrograms, which have no
            feature names.

        Returns
        -------
        ndarray of str objects, shape (n_filters,)
            The lowercased class name followed by the index:
            ``["sceneclassifier0", "sceneclassifier1", ...]``.
        """
        self.check_is_fitted()
        prefix = type(self).__name__.lower()
        n_features = self.module_.output.in_features
        return np.asarray([f"{prefix}{i}" for i in range(n_features)], dtype=object)

    def predict_proba_frames(
        self, X: Any, *, hop_ms: float = 15.0, window_ms: float = 25.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class or tag probabilities at each output frame, with the frames' times.

        The output layer and nonlinearity of :meth:`predict_proba` applied to
        the network's activations at each frame after the last strided layer,
        before the pooling: where in a clip a class or tag is heard. With the
        paper's STFT an output frame sees 15 STFT frames (235 ms of audio) and
        frames are 8 STFT hops (120 ms) apart.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms.
        hop_ms : float, default=15.0
            Hop of the STFT that computed ``X``, in milliseconds
            (``STFTTransformer.hop_ms``), for the times.
        window_ms : float, default=25.0
            Window of that STFT, in milliseconds (``STFTTransformer.window_ms``).

        Returns
        -------
        proba : ndarray of object, shape (n_clips,)
            One float32 array of shape (output frames, n_outputs) per clip.
        times : ndarray of object, shape (n_clips,)
            One float64 array of shape (output frames,) per clip: the centre,
            in seconds from the start of the clip, of the audio each frame
            sees (:func:`~sklearn_allconv.network.frame_times`).

        Notes
        -----
        With mean pooling (the paper's), the output layer commutes with the
        pooling: a clip's logits are the mean of its frames' logits, and
        :meth:`predict_proba` is the nonlinearity of that mean. With
        ``module__pooling="max"`` the clip's activations are channel-wise
        maxima taken at different frames, so the clip's scores are not a
        function of the frame scores; a frame's scores are then those of a
        clip made of that frame alone. Like the other outputs, a clip's frame
        scores do not depend on its batch. A clip padded with
        ``short_clips="pad"`` is scored as padded.
        """
        frame_logits = self._module_outputs(X, "frame_logits")
        nonlinearity = self._get_predict_nonlinearity()
        proba = np.empty(len(frame_logits), dtype=object)
        times = np.empty(len(frame_logits), dtype=object)
        network = self.module_
        for i, logits in enumerate(frame_logits):
            proba[i] = nonlinearity(logits).numpy()
            times[i] = frame_times(
                len(logits),
                hop_length=hop_ms / 1000.0,
                window_length=window_ms / 1000.0,
                n_strided_layers=len(network.convs),
                kernel_size=network.kernel_size,
                stride=network.stride,
            )
        return proba, times

    def _module_outputs(self, X: Any, method: str) -> list[torch.Tensor]:
        """Run a method of the network (``"embed"`` or ``"frame_logits"``) on
        each clip, in evaluation mode; one CPU float32 tensor per clip, in the
        order of ``X``. Batches as for :meth:`predict_proba`."""
        self.check_is_fitted()
        clips = self._check_clips(X, reset=False)
        per_clip: list[torch.Tensor] = []
        with threads(getattr(self, "n_threads", None)), torch.no_grad():
            iterator = self.get_iterator(self.get_dataset(clips), training=False)
            self._set_training(False)
            for batch in iterator:
                inputs, _ = unpack_data(batch)
                x = inputs["X"]
                if self.device is not None:
                    x = x.to(self.device, non_blocking=True)
                with self._autocast():
                    output = getattr(self.module_, method)(x, inputs["lengths"])
                if method == "frame_logits":
                    logits, lengths = output
                    per_clip.extend(
                        logits[i, :n].float().cpu()
                        for i, n in enumerate(lengths.tolist())
                    )
                else:
                    per_clip.extend(output.float().cpu().unbind())
        sampler = getattr(iterator, "batch_sampler", None)
        if not isinstance(sampler, BucketBatchSampler):
            return per_clip
        # Sorted by length: back to the order of X.
        ordered: list[torch.Tensor] = [per_clip[0]] * len(per_clip)
        for position, index in enumerate(np.concatenate(list(sampler))):
            ordered[index] = per_clip[position]
        return ordered

    def _n_outputs(self) -> int:
        return len(self.classes_)


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_positive_finite(value: Any) -> bool:
    if not isinstance(value, Real):
        return False
    number = cast(float, value)  # typeshed gives numbers.Real no comparisons
    return bool(np.isfinite(number)) and number > 0


class SceneClassifier(ClassifierMixin, _AllConvEstimator):
    """Single-label acoustic scene classifier: the paper's network with softmax.

    Trains :class:`~sklearn_allconv.AllConvNet` as the paper describes
    (section 3.2): Adam, learning rate 1e-3 halved when the validation loss
    plateaus, weight decay 4e-4, early stopping, cross entropy, on random crops
    of random length (section 3.1). The paper's mini-batches of 96 and the
    patiences first chosen for them are ``recipe="paper"``; the default recipe
    trains in batches of 32 with more patience and keeps the weights it ends
    with, which measured better on data sets of a few hundred to a thousand
    clips (see ``recipe``). Prediction uses whole clips.

    Parameters
    ----------
    module : type, default=AllConvNet
        The network class; ``n_bins`` and ``n_outputs`` are set from the data.
        Other constructor arguments go as ``module__<name>`` (for example
        ``module__n_filters=128``, ``module__pooling="max"``).
    criterion : type, default=torch.nn.CrossEntropyLoss
        Loss on the logits.
    optimizer : type, default=torch.optim.Adam
        Optimizer class; its arguments go as ``optimizer__<name>``.
    lr : float, default=1e-3
        Initial learning rate.
    optimizer__weight_decay : float, default=4e-4
        L2 weight decay.
    max_epochs : int, default=100
        Maximal number of epochs; early stopping usually ends training sooner.
    batch_size : int or "auto", default="auto"
        Mini-batch size for training and prediction; "auto" takes the
        recipe's: 32, or 96 with ``recipe="paper"``. -1 puts all clips in one
        batch.
    train_split : callable or None, default=GroupValidSplit(...)
        Internal validation split for early stopping and the learning-rate
        schedule. The default, ``GroupValidSplit(0.2, stratified=True,
        hold_out="clips")``, holds out a fifth of the clips, stratified by
        class, and does not use the ``groups`` given to :meth:`fit`: every
        recording location keeps clips in training. ``GroupValidSplit(0.2,
        stratified=True, hold_out="groups")`` holds out whole groups instead
        (as ``reproduce`` does), which costs accuracy on new locations when a
        scene has few of them (``docs/user_guide/training.md``). None trains
        on all data, and the validation-driven callbacks then idle.
    random_crop : bool, default=True
        Train on random crops: per batch a crop length is drawn uniformly
        between the network's minimum and the longest clip, and longer clips
        are cut to it at random offsets.
    recipe : {"default", "paper"}, default="default"
        The batch size (where ``batch_size="auto"``) and the settings of the
        default callbacks: epochs without a better validation loss before the
        learning rate halves, and before training stops, and whether early
        stopping restores the weights of the epoch with the best validation
        loss. "paper" is the paper's batch of 96, with patiences of 3 and 10
        epochs (the paper gives none), and restores the best epoch. "default"
        is a batch of 32 with patiences of 5 and 20 epochs, and keeps the
        weights of the last epoch: with a few hundred clips an epoch of the
        paper's recipe is 2-3 updates, and early stopping on the noisy
        validation loss of a small validation split ended training after a few
        dozen updates; and on held-out recordings the validation loss is
        often lowest in the first epochs, while the accuracy on new recordings
        still improves as the learning rate halves. The measured effect is in
        ``docs/user_guide/training.md``. Parameters set explicitly
        (``batch_size``, ``callbacks__early_stopping__patience``,
        ``callbacks__early_stopping__load_best``, ...) take precedence over
        the recipe.
    short_clips : {"error", "pad"}, default="error"
        What to do with clips shorter than the network's minimum
        (``module_.min_frames``, 15 frames by default): raise a ``ValueError``,
        or repeat the clip up to the minimum length.
    bucketing : bool, default=True
        Batch clips of similar length together
        (:class:`~sklearn_allconv.batching.BucketBatchSampler`), so that little
        padding is computed: training batches are drawn at random from pools
        sorted by length, validation and prediction batches are sorted by
        length and the outputs put back in the order of ``X``. False gives
        skorch's plain batches (shuffled for training).
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Arithmetic of the forward pass. "bfloat16" runs it under
        :func:`torch.autocast` with bfloat16 (mixed precision: weights,
        batch normalization, the pooling, the output layer, the loss and the
        outputs stay float32). It pays on GPUs with bfloat16 support and on
        CPUs with AVX512-BF16 or AMX; on other CPUs it is much slower than
        float32 and a warning says so. "float16" is the same with float16 and a
        gradient scaler (:class:`torch.amp.GradScaler`), for GPUs without
        bfloat16.
    data_on_device : {"auto", True, False}, default="auto"
        Keep all training clips on the device for the whole fit, so that
        batches are gathered there and an epoch copies nothing from the host.
        "auto" does so on CUDA when the clips take at most half of the free
        device memory and no custom ``collate_fn`` or ``num_workers`` is set;
        otherwise batches are assembled on the host (in page-locked memory on
        CUDA) and copied asynchronously. True forces it (also on the CPU,
        where it costs a copy of the clips), False forbids it. The batches are
        the same either way.
    n_threads : int or None, default=None
        Intra-op threads of torch during :meth:`fit` and prediction; torch's
        own count is restored afterwards. None takes torch's count
        (:func:`torch.get_num_threads`, all cores by default), lowered at the
        start of each fit or prediction to the cores that other running
        processes leave free, at least one (read from the run queue on Linux;
        elsewhere torch's count is kept). On a busy machine this avoids
        threads that spin while they wait for each other, which made CPU time
        grow with the machine's load (``benchmarks/bench_busy.py``). An int
        fixes the count, for runs that must repeat exactly (see Notes).
    augment : callable, list of callables or None, default=None
        Augmentations of the training batches, applied in order after padding
        and cropping, never to validation or prediction batches: e.g.
        ``[SpecMask(), Mixup()]`` from :mod:`sklearn_allconv.augment`
        (:class:`~sklearn_allconv.augment.TimeShift`,
        :class:`~sklearn_allconv.augment.SpecMask`,
        :class:`~sklearn_allconv.augment.Mixup`). They receive the targets as
        one-hot float class probabilities (the cross entropy takes mixed
        ones). Not in the paper; None trains as the paper does.
    test_crops : int, default=1
        Crops per clip that :meth:`predict_proba` and :meth:`predict` average:
        1 predicts on the whole clip (the paper); ``n > 1`` averages the
        probabilities of ``n`` crops of half the clip's frames (about the
        mean length of a random training crop) at evenly spaced offsets from
        the start to the end of the clip. Clips shorter than twice the
        network's minimum are predicted whole. :meth:`transform` and
        :meth:`predict_proba_frames` always use whole clips.
    callbacks : list of (name, callback) or None, default=None
        Extra skorch callbacks. The default ones are reachable by name:
        ``callbacks__lr_plateau__patience`` (5; 3 with ``recipe="paper"``),
        ``callbacks__early_stopping__patience`` (20; 10 with
        ``recipe="paper"``), ``callbacks__early_stopping__load_best`` (False;
        True with ``recipe="paper"``) and ``checkpoint``, a
        :class:`~sklearn_allconv.callbacks.TrainingCheckpoint`
        (``callbacks__checkpoint__dirname``,
        ``callbacks__checkpoint__resume_from``).
    predict_nonlinearity : callable, "auto" or None, default="auto"
        Applied to the logits by :meth:`predict_proba` (softmax for the cross
        entropy).
    warm_start : bool, default=False
        Continue training from the current weights on :meth:`fit`.
    verbose : int, default=0
        Print skorch's epoch table when positive.
    device : str, default="auto"
        Torch device; "auto" takes CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, shuffling, crops, augmentations and the
        validation split.
        Runs on the CPU with the same int seed give identical models (see
        Notes). Torch's global random state is left as it was.
    **kwargs
        Further skorch parameters, e.g. ``iterator_train__num_workers``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_bins_ : int
        Frequency bins of the training spectrograms.
    module_ : AllConvNet
        The trained network.
    history_ : skorch.History
        Losses and learning rates per epoch.
    interrupted_ : bool
        Whether the last fit was stopped by Ctrl-C (see Notes).

    See Also
    --------
    AudioTagger : The multi-label counterpart.
    STFTTransformer : The features this estimator expects.

    Notes
    -----
    The paper does not give the early-stopping and plateau patiences; see
    ``recipe`` for the two sets of defaults, nor how the validation clips are
    chosen: by default a fifth of the clips, stratified by class; with
    ``train_split=GroupValidSplit(0.2, stratified=True, hold_out="groups")``
    and ``groups`` passed to :meth:`fit`, whole groups spread over the classes
    (:class:`~sklearn_allconv.GroupValidSplit`).

    The methods documented here are the estimator's scikit-learn surface. As
    a :class:`skorch.NeuralNet` it also has skorch's methods (``initialize``,
    ``forward``, ``get_iterator``, ``infer``, ``train_step``, ...), which
    skorch documents: https://skorch.readthedocs.io/en/stable/net.html

    Training can be interrupted with Ctrl-C (a ``KeyboardInterrupt``): the
    estimator is left with the weights of the best epoch so far (by validation
    loss) where early stopping restores the best epoch (``recipe="paper"``),
    and otherwise with the weights reached, drops the
    unfinished epoch from ``history_``, sets ``interrupted_``, warns where the
    last finished epoch is checkpointed, and ``fit`` raises the
    ``KeyboardInterrupt`` again, so that a cross-validation, a grid search or
    a script stops too (skorch's own estimators return from ``fit`` as if
    training had ended). ``set_params(callbacks__checkpoint__resume_from=
    directory).fit(X, y)`` resumes exactly from there; see
    :class:`~sklearn_allconv.callbacks.TrainingCheckpoint`.

    Determinism: with an int ``random_state``, fitting on the CPU gives
    bit-identical weights and predictions from run to run and from process to
    process, given the same data, library versions and number of threads (it
    changes the order of floating-point sums). With ``n_threads=None`` the
    number of threads follows the machine's load, so on a shared machine set
    ``n_threads`` to an int for runs that must repeat exactly. Fits running
    in threads share torch's global random generator and are not
    reproducible; joblib's default process-based backend is. On CUDA,
    cuDNN chooses convolution algorithms whose results vary slightly between
    runs: ``torch.backends.cudnn.benchmark = False`` with
    ``torch.use_deterministic_algorithms(True)`` (and the environment variable
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8``) makes CUDA runs repeat, at some cost
    in speed; CUDA and CPU results still differ in the last digits.

    The paper does not say how mini-batches are formed. With ``bucketing=True``
    (the default) a batch holds clips of similar length, so each batch's crop
    length is drawn up to the longest clip of that batch: a short clip is
    cropped within its own range rather than kept whole next to 30 s clips.
    Set ``bucketing=False`` for uniformly random batches. Neither changes what
    a clip contributes: padding is masked either way.

    Performance (see ``docs/performance.md``): on CUDA the training clips stay
    on the device when they fit (``data_on_device``); otherwise batches are
    assembled in page-locked memory and copied asynchronously. The network
    chooses per device between its matrix-product convolutions and cuDNN by
    measurement (``module__convolution``). Threads: ``n_threads=None`` uses
    torch's thread count, lowered to the free cores on a busy machine (one
    thread is also faster for tiny networks; all cores are best for the
    paper's network on an otherwise idle machine).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_allconv import SceneClassifier, STFTTransformer
    >>> from sklearn_allconv.datasets import make_acoustic_scenes
    >>> X, y, groups = make_acoustic_scenes(sample_rate=8000, random_state=0)
    >>> pipe = make_pipeline(
    ...     STFTTransformer(sample_rate=8000),
    ...     SceneClassifier(max_epochs=2, module__n_filters=32, random_state=0),
    ... )
    >>> pipe.fit(X, y).predict(X[:2]).shape
    (2,)
    """

    def __init__(
        self,
        *,
        module: type[torch.nn.Module] = AllConvNet,
        criterion: type[torch.nn.Module] = torch.nn.CrossEntropyLoss,
        optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
        lr: float = 1e-3,
        optimizer__weight_decay: float = 4e-4,
        max_epochs: int = 100,
        batch_size: int | str = "auto",
        train_split: Any = _SCENE_SPLIT,
        random_crop: bool = True,
        recipe: str = "default",
        short_clips: str = "error",
        bucketing: bool = True,
        precision: str = "float32",
        data_on_device: bool | str = "auto",
        n_threads: int | None = None,
        augment: Any = None,
        test_crops: int = 1,
        callbacks: Any = None,
        predict_nonlinearity: Any = "auto",
        warm_start: bool = False,
        verbose: int = 0,
        device: str | None = "auto",
        random_state: int | np.random.RandomState | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            module=module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            optimizer__weight_decay=optimizer__weight_decay,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=predict_nonlinearity,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            short_clips=short_clips,
            bucketing=bucketing,
            precision=precision,
            data_on_device=data_on_device,
            n_threads=n_threads,
            augment=augment,
            test_crops=test_crops,
            random_state=random_state,
            **kwargs,
        )
        self.random_crop = random_crop
        self.recipe = recipe

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags

    def _encode_targets(self, y: Any, n_clips: int, *, reset: bool) -> np.ndarray:
        if y is None:
            raise ValueError(
                "SceneClassifier requires y to be passed, but the target y is None."
            )
        _check_one_label_type(y)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim != 1:
            raise ValueError(
                f"y has shape {y.shape}; SceneClassifier expects one label per clip "
                "(1-D). For several labels per clip use AudioTagger."
            )
        if y.shape[0] != n_clips:
            raise ValueError(
                f"X has {n_clips} clips but y has {y.shape[0]} labels; they must match."
            )
        if y.dtype.kind == "f" and np.isnan(y).any():
            raise ValueError(
                f"y contains NaN labels (clips {np.flatnonzero(np.isnan(y))[:5]}); "
                "label those clips or drop them."
            )
        if type_of_target(y) == "continuous":
            raise ValueError(
                "Unknown label type: y holds continuous values; SceneClassifier "
                "needs class labels."
            )
        if reset:
            self.classes_, encoded = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"y has 1 class ({self.classes_[0]!r}); a classifier needs at "
                    "least 2 classes."
                )
            return encoded.astype(np.int64)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels not seen in the first fit: {unknown}.")
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def predict(self, X: Any) -> np.ndarray:
        """Predict the label of each clip.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms.

        Returns
        -------
        ndarray of shape (n_clips,)
            Predicted labels, from ``classes_``.
        """
        self.check_is_fitted()
        return self._predict_from_proba(self.predict_proba(X))

    def _one_hot_classes(self) -> int:
        return self._n_outputs()

    def _predict_from_proba(self, proba: np.ndarray) -> np.ndarray:
        """Labels from :meth:`predict_proba` output: the most probable class."""
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms.
        y : array-like of shape (n_clips,)
            True labels.
        sample_weight : array-like of shape (n_clips,), optional
            Sample weights.

        Returns
        -------
        float
            Mean accuracy.
        """
        return ClassifierMixin.score(self, X, y, sample_weight=sample_weight)


class AudioTagger(ClassifierMixin, _AllConvEstimator):
    """Multi-label audio tagger: the paper's network with sigmoid outputs.

    Trains :class:`~sklearn_allconv.AllConvNet` on whole clips with a binary
    cross entropy per tag and the paper's recipe (section 3.2): Adam, learning
    rate 1e-3 halved when the validation loss plateaus, mini-batches of 96,
    weight decay 4e-4, early stopping.

    Parameters
    ----------
    module : type, default=AllConvNet
        The network class; ``n_bins`` and ``n_outputs`` are set from the data.
    criterion : type, default=torch.nn.BCEWithLogitsLoss
        Loss on the logits.
    optimizer : type, default=torch.optim.Adam
        Optimizer class; its arguments go as ``optimizer__<name>``.
    lr : float, default=1e-3
        Initial learning rate.
    optimizer__weight_decay : float, default=4e-4
        L2 weight decay.
    max_epochs : int, default=100
        Maximal number of epochs.
    batch_size : int or "auto", default=96
        Mini-batch size for training and prediction, the paper's; "auto" is
        the same. -1 puts all clips in one batch. The tagger keeps the paper's
        recipe: it did well with it on tagging data of a few hundred clips,
        where the scene classifier did not (see :class:`SceneClassifier`'s
        ``recipe``).
    train_split : callable or None, default=GroupValidSplit(0.2)
        Internal validation split (unstratified: multi-label targets cannot be
        stratified); keeps the ``groups`` given to :meth:`fit` together. None
        trains on all data without early stopping.
    threshold : float, default=0.5
        Probability above which :meth:`predict` sets a tag.
    short_clips : {"error", "pad"}, default="error"
        What to do with clips shorter than the network's minimum.
    bucketing : bool, default=True
        Batch clips of similar length together, as in :class:`SceneClassifier`;
        prediction output stays in the order of ``X``.
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Arithmetic of the forward pass, as in :class:`SceneClassifier`.
    data_on_device : {"auto", True, False}, default="auto"
        Keep the training clips on the device, as in :class:`SceneClassifier`.
    n_threads : int or None, default=None
        Intra-op threads during fit and prediction, as in
        :class:`SceneClassifier`: None adapts to the machine's load.
    augment : callable, list of callables or None, default=None
        Augmentations of the training batches (:mod:`sklearn_allconv.augment`),
        as in :class:`SceneClassifier`; they receive the 0/1 tag matrix, which
        :class:`~sklearn_allconv.augment.Mixup` turns into soft tags (the
        binary cross entropy takes them). None trains as the paper does.
    test_crops : int, default=1
        Crops per clip that :meth:`predict_proba`, :meth:`predict` and
        :meth:`score` average (sigmoid probabilities), as in
        :class:`SceneClassifier`; 1 predicts on whole clips (the paper).
    callbacks : list of (name, callback) or None, default=None
        Extra skorch callbacks; the default ones are ``lr_plateau``,
        ``early_stopping`` and ``checkpoint`` (see :class:`SceneClassifier`).
    predict_nonlinearity : callable or None, default=torch.sigmoid
        Applied to the logits by :meth:`predict_proba`.
    warm_start : bool, default=False
        Continue training from the current weights on :meth:`fit`.
    verbose : int, default=0
        Print skorch's epoch table when positive.
    device : str, default="auto"
        Torch device; "auto" takes CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, shuffling and the validation split; what
        is deterministic is as for :class:`SceneClassifier` (see its Notes).
    **kwargs
        Further skorch parameters.

    Attributes
    ----------
    classes_ : ndarray of shape (n_tags,)
        Tag names when ``y`` was given as lists of names, else ``arange(n_tags)``.
    n_bins_ : int
        Frequency bins of the training spectrograms.
    module_ : AllConvNet
        The trained network.
    history_ : skorch.History
        Losses and learning rates per epoch.
    interrupted_ : bool
        Whether the last fit was stopped by Ctrl-C; ``fit`` then raises the
        ``KeyboardInterrupt`` again (see :class:`SceneClassifier`).

    See Also
    --------
    SceneClassifier : The single-label counterpart.
    sklearn_allconv.metrics.equal_error_rate : The DCASE 2016 Task 4 metric.

    Notes
    -----
    Interrupted training, checkpoints and resuming, and what is deterministic
    on CPU and CUDA, work as for :class:`SceneClassifier`: see its Notes.

    The methods documented here are the estimator's scikit-learn surface;
    skorch's others (``initialize``, ``forward``, ``get_iterator``, ...) are
    documented by skorch: https://skorch.readthedocs.io/en/stable/net.html

    Batching, precision, devices and threads behave as described in the Notes
    of :class:`SceneClassifier`. Tagging trains on whole clips, so with
    ``bucketing=True`` a batch is padded only to the longest of clips of
    similar length.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_allconv import AudioTagger, STFTTransformer
    >>> from sklearn_allconv.datasets import make_domestic_tags
    >>> X, Y, groups = make_domestic_tags(random_state=0)
    >>> pipe = make_pipeline(
    ...     STFTTransformer(sample_rate=16000),
    ...     AudioTagger(max_epochs=2, module__n_filters=32, random_state=0),
    ... )
    >>> pipe.fit(X, Y).predict_proba(X[:3]).shape
    (3, 7)
    """

    def __init__(
        self,
        *,
        module: type[torch.nn.Module] = AllConvNet,
        criterion: type[torch.nn.Module] = torch.nn.BCEWithLogitsLoss,
        optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
        lr: float = 1e-3,
        optimizer__weight_decay: float = 4e-4,
        max_epochs: int = 100,
        batch_size: int | str = 96,
        train_split: Any = _TAG_SPLIT,
        threshold: float = 0.5,
        short_clips: str = "error",
        bucketing: bool = True,
        precision: str = "float32",
        data_on_device: bool | str = "auto",
        n_threads: int | None = None,
        augment: Any = None,
        test_crops: int = 1,
        callbacks: Any = None,
        predict_nonlinearity: Any = batch_independent_sigmoid,
        warm_start: bool = False,
        verbose: int = 0,
        device: str | None = "auto",
        random_state: int | np.random.RandomState | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            module=module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            optimizer__weight_decay=optimizer__weight_decay,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=predict_nonlinearity,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            short_clips=short_clips,
            bucketing=bucketing,
            precision=precision,
            data_on_device=data_on_device,
            n_threads=n_threads,
            augment=augment,
            test_crops=test_crops,
            random_state=random_state,
            **kwargs,
        )
        self.threshold = threshold

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.multi_class = False
        return tags

    def _encode_targets(self, y: Any, n_clips: int, *, reset: bool) -> np.ndarray:
        if y is None:
            raise ValueError(
                "AudioTagger requires y to be passed, but the target y is None."
            )
        names = None
        if sp.issparse(y):
            # scipy-stubs narrow issparse to SparseABC, which declares no
            # toarray; every sparse class has it.
            y = y.toarray()  # type: ignore[attr-defined]
        elif type(y).__module__.startswith("pandas") and getattr(y, "ndim", 1) == 2:
            # A DataFrame indicator matrix: its column labels are the tags, put
            # in sorted order as for tag names (MultiLabelBinarizer).
            columns = list(y.columns)
            y = y.to_numpy()
            if all(isinstance(name, str) for name in columns):
                if len(set(columns)) != len(columns):
                    raise ValueError(
                        f"y's columns {columns} name a tag twice; give each tag "
                        "one column."
                    )
                order = np.argsort(columns, kind="stable")
                names, y = np.asarray(columns)[order], y[:, order]
        if isinstance(y, np.ndarray) and y.dtype != object or _is_numeric_rows(y):
            if not isinstance(y, np.ndarray) and len({len(row) for row in y}) > 1:
                raise ValueError(
                    "y holds rows of numbers of different lengths, such as lists "
                    "of tag ids; AudioTagger takes an (n_clips, n_tags) 0/1 "
                    "indicator matrix or one list of tag names (strings) per "
                    "clip. Convert ids with MultiLabelBinarizer().fit_transform(y) "
                    "or [[str(tag) for tag in row] for row in y]."
                )
            Y = np.asarray(y)
            if Y.ndim != 2:
                raise ValueError(
                    f"y has shape {Y.shape}; AudioTagger expects an (n_clips, n_tags) "
                    "0/1 indicator matrix or one list of tag names per clip."
                )
            if not np.isin(Y, (0, 1)).all():
                raise ValueError(
                    "y must hold only 0 and 1 (tag absent / present); found values "
                    f"{np.setdiff1d(np.unique(Y), [0, 1])[:5]}."
                )
            if reset:
                self.classes_ = np.arange(Y.shape[1]) if names is None else names
            elif Y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y has {Y.shape[1]} tags; the model was fitted with "
                    f"{len(self.classes_)}."
                )
            elif names is not None and list(names) != list(self.classes_):
                raise ValueError(
                    f"y's columns are the tags {list(names)}, but the model was "
                    f"fitted with {list(self.classes_)}."
                )
        else:
            for index, row in enumerate(y):
                if isinstance(row, (str, bytes)):
                    # MultiLabelBinarizer would read the string as characters.
                    raise ValueError(
                        f"y[{index}] is the string {row!r}, not a list of tags. "
                        "Pass one list of tag names per clip, e.g. "
                        "[['speech'], ['speech', 'tv'], []]."
                    )
            binarizer = MultiLabelBinarizer(
                classes=None if reset else self.classes_
            )
            Y = binarizer.fit_transform(y)
            if reset:
                self.classes_ = binarizer.classes_
        if Y.shape[0] != n_clips:
            raise ValueError(
                f"X has {n_clips} clips but y has {Y.shape[0]} rows; they must match."
            )
        if Y.shape[1] == 0:
            raise ValueError(
                f"y has shape {Y.shape}: no tags. AudioTagger needs at least one "
                "tag column (or tag name)."
            )
        return Y.astype(np.float32)

    def predict(self, X: Any) -> np.ndarray:
        """Predict the tags of each clip.

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms.

        Returns
        -------
        ndarray of shape (n_clips, n_tags)
            0/1 indicator matrix: 1 where the probability exceeds ``threshold``.
        """
        self.check_is_fitted()
        return self._predict_from_proba(self.predict_proba(X))

    def _predict_from_proba(self, proba: np.ndarray) -> np.ndarray:
        """Tag indicators from :meth:`predict_proba` output, at ``threshold``."""
        return (proba > self.threshold).astype(np.int64)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """One minus the mean equal error rate over tags (higher is better).

        Parameters
        ----------
        X : sequence of ndarray of shape (frames, bins), or ndarray
            Spectrograms.
        y : array-like of shape (n_clips, n_tags)
            True 0/1 tags (or lists of tag names).
        sample_weight : None
            Not supported; must be None.

        Returns
        -------
        float
            ``1 - equal_error_rate(y, predict_proba(X))``; tags without
            positives (or without negatives) in ``y`` are left out of the
            mean, with an ``UndefinedMetricWarning`` that names them. NaN
            when every tag is such a tag.
        """
        if sample_weight is not None:
            raise ValueError("AudioTagger.score does not support sample_weight.")
        Y = self._encode_targets(y, len(X), reset=False)
        positives = Y.sum(axis=0)
        undefined = np.flatnonzero((positives == 0) | (positives == len(Y)))
        if undefined.size:
            names = ", ".join(repr(self.classes_[i]) for i in undefined[:10])
            warnings.warn(
                f"The EER of tag(s) {names} is undefined: y has no positives or "
                "no negatives for them, so they are left out of the score. Score "
                "on clips where every tag occurs and is absent at least once.",
                UndefinedMetricWarning,
                stacklevel=2,
            )
        return 1.0 - equal_error_rate(Y, self.predict_proba(X))


def _check_one_label_type(y: Any) -> None:
    """Refuse labels that mix strings and numbers.

    numpy would turn ``[1, "a"]`` into the strings ``["1", "a"]``, and
    predictions would come back as strings the user never gave.
    """
    if isinstance(y, np.ndarray) and y.dtype != object:
        return
    values = np.asarray(y, dtype=object).ravel()
    strings = [isinstance(value, (str, bytes)) for value in values]
    if any(strings) and not all(strings):
        number = values[strings.index(False)]
        text = values[strings.index(True)]
        raise ValueError(
            f"y mixes strings and other labels (e.g. {text!r} and {number!r}); "
            "a classifier needs labels of one type. Convert them all, e.g. "
            "[str(label) for label in y]."
        )


def _is_numeric_rows(y: Any) -> bool:
    """Whether ``y`` is a nested sequence of numbers rather than of tag names."""
    try:
        rows = list(y)
    except TypeError:
        return True
    # Empty rows (clips without tags) say nothing: look at the first non-empty one.
    for row in rows:
        row = np.asarray(row)
        if row.size:
            return row.dtype.kind in "biuf"
    return not rows
