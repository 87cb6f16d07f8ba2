"""Training callbacks: checkpoints, early stopping and the plateau schedule.

Every :class:`~sklearn_allconv.SceneClassifier` and
:class:`~sklearn_allconv.AudioTagger` carries three of them:
``"lr_plateau"`` (:class:`PlateauLRScheduler`), ``"early_stopping"``
(:class:`ValidationEarlyStopping`) and ``"checkpoint"``
(:class:`TrainingCheckpoint`). The first two act on the validation loss and
stay idle when there is no validation data (``train_split=None``).

During ``fit`` the checkpoint keeps the complete training
state of the last finished epoch and writes it into a directory of its own, so
that fits running in parallel (cross-validation folds, grid-search candidates)
never share files. A fit resumed from such a checkpoint continues as if it had
never stopped. When training is interrupted (Ctrl-C, a ``KeyboardInterrupt``),
the last finished epoch is written, the estimator keeps the best weights so
far (where early stopping restores them, else the weights reached), drops
the unfinished epoch from its history and warns where the checkpoint is;
then ``fit`` raises the ``KeyboardInterrupt`` again.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import shutil
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.history import History

from ._state_files import read_state_file, write_state_file

__all__ = ["PlateauLRScheduler", "TrainingCheckpoint", "ValidationEarlyStopping"]

# The file in each fit's checkpoint directory.
CHECKPOINT_FILE = "checkpoint.safetensors"
_KIND = "checkpoint"


class TrainingCheckpoint(Callback):
    """Save the training state after every epoch; resume from it exactly.

    The estimators include this callback by default under the name
    ``"checkpoint"``: set its parameters as ``callbacks__checkpoint__<name>``,
    or switch it off with ``callbacks__checkpoint=None``.

    After every epoch the callback takes a snapshot of the training state in
    memory. It writes the snapshot to disk when ``min_interval_s`` seconds
    have passed since the last write, and always when training is
    interrupted by a ``KeyboardInterrupt``: an interrupted fit can resume
    from the last finished epoch, a crashed one (an exception, a killed
    process) from at most ``min_interval_s`` seconds and one epoch earlier.

    Parameters
    ----------
    dirname : str, path-like or None, default=None
        Parent directory of the checkpoints. Each fit creates its own
        subdirectory in it (``tempfile.mkdtemp``), so that parallel fits never
        overwrite each other's files. None uses the system's temporary
        directory.
    min_interval_s : float, default=60.0
        The least time in seconds between two writes. Writing takes a few
        milliseconds; the interval keeps it negligible when epochs are short.
        0 writes after every epoch.
    keep : bool, default=False
        Keep the checkpoint directory, with the last epoch written, after a
        fit that ends normally (all epochs, or early stopping). By default it
        is removed then; it is always kept when training is interrupted or
        fails.
    resume_from : str, path-like or None, default=None
        A checkpoint directory (or the checkpoint file in it) to resume from.
        ``fit`` then restores the network weights, the optimizer state, the
        history, the state of the learning-rate schedule and of early stopping,
        the random number generator and the validation split, and trains the
        epochs left, so that the result equals that of an uninterrupted fit
        (on the CPU; see Notes). The data must be the same as in the
        interrupted fit. Set it back to None for a fresh fit.

    Attributes
    ----------
    dirname_ : str or None
        The directory of this fit's checkpoints, created at the first write;
        None before, or if it could not be created or written (training then
        goes on without checkpoints, with a warning).
    saved_epochs_ : int or None
        The number of epochs of the history in the checkpoint written last;
        None before the first write.
    interrupted_ : bool
        Whether the last fit was interrupted: by a ``KeyboardInterrupt`` in
        the middle of an epoch, or by Ctrl-C at any point (the estimators'
        ``interrupted_``).

    See Also
    --------
    sklearn_allconv.save_model : Save a trained model to share it.

    Notes
    -----
    The checkpoint is one safetensors file written atomically, so a crash
    while writing leaves the previous one intact. It is read without
    unpickling anything. It holds the state of the estimator's own callbacks
    (learning-rate schedule, early stopping) but not that of callbacks you add;
    add yours after this one if they change what is saved.

    Resuming is exact on the CPU with the same library versions and the same
    number of threads (``torch.get_num_threads()``). On CUDA the restored
    state is the same but cuDNN's nondeterministic kernels make the
    continuation differ slightly, as two uninterrupted CUDA runs do.

    Examples
    --------
    Continue a fit that was interrupted:

    >>> from sklearn_allconv import SceneClassifier
    >>> clf = SceneClassifier(random_state=0,
    ...                       callbacks__checkpoint__dirname="runs")
    >>> # clf.fit(X, y) is interrupted; the warning names the directory, which
    >>> # is also dict(clf.callbacks_)["checkpoint"].dirname_
    >>> clf = clf.set_params(  # doctest: +SKIP
    ...     callbacks__checkpoint__resume_from="runs/SceneClassifier-...")
    >>> clf.fit(X, y)  # doctest: +SKIP
    """

    def __init__(
        self,
        dirname: str | os.PathLike | None = None,
        *,
        min_interval_s: float = 60.0,
        keep: bool = False,
        resume_from: str | os.PathLike | None = None,
    ) -> None:
        self.dirname = dirname
        self.min_interval_s = min_interval_s
        self.keep = keep
        self.resume_from = resume_from

    def initialize(self) -> TrainingCheckpoint:
        """Reset the per-fit state.

        Returns
        -------
        self : TrainingCheckpoint
            This callback.
        """
        self.dirname_: str | None = None
        self.saved_epochs_: int | None = None
        self.interrupted_ = False
        self.snapshot_: dict[str, Any] | None = None
        return self

    def __getstate__(self) -> dict[str, Any]:
        # The snapshot holds tensors (possibly on CUDA) and is only needed
        # during fit; a pickled estimator must load on any device.
        state = self.__dict__.copy()
        state["snapshot_"] = None
        return state

    def on_train_begin(
        self, net: Any, X: Any = None, y: Any = None, **kwargs: Any
    ) -> None:
        """Start a fit: restore the checkpoint to resume from, if any.

        Parameters
        ----------
        net : skorch.NeuralNet
            The estimator in training.
        X, y : array-like or None
            The training data of the fit.
        **kwargs : dict
            What skorch passes to callbacks.
        """
        self.initialize()
        self.failed_ = False
        self.net_name_ = type(net).__name__
        self.verbose_ = net.verbose
        self.fingerprint_ = _fingerprint(X, y)
        self.target_epochs_: int | None = None
        self.epochs_before_fit_ = len(net.history)
        # The folder is named now, so that a verbose fit can say where it is
        # before the epoch table starts (on stderr: the table is the output),
        # and created at the first write.
        parent = tempfile.gettempdir() if self.dirname is None else self.dirname
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.planned_dirname_ = os.path.join(
            os.fspath(parent), f"{self.net_name_}-{stamp}-{secrets.token_hex(4)}"
        )
        if self.verbose_:
            print(
                f"Checkpoints of this fit go to {self.planned_dirname_} (the "
                f"first after {self.min_interval_s:g} s of training).",
                file=sys.stderr,
            )
        if self.resume_from is not None:
            # Kept as the snapshot, so that an interruption before the first
            # resumed epoch ends still leaves a checkpoint in this fit's folder.
            self.snapshot_ = self._restore(net, _checkpoint_file(self.resume_from))
        self.last_write_ = time.monotonic()

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        """Snapshot the state after this epoch; write it when it is time.

        Parameters
        ----------
        net : skorch.NeuralNet
            The estimator in training.
        **kwargs : dict
            What skorch passes to callbacks.
        """
        self.snapshot_ = self._snapshot(net)
        if time.monotonic() - self.last_write_ >= self.min_interval_s:
            self._write()
        if self.target_epochs_ is not None and len(net.history) >= self.target_epochs_:
            # skorch ends training on KeyboardInterrupt, as EarlyStopping does.
            raise KeyboardInterrupt

    def on_train_end(
        self, net: Any, X: Any = None, y: Any = None, **kwargs: Any
    ) -> None:
        """Save the last epoch after an interruption, or remove the files.

        Parameters
        ----------
        net : skorch.NeuralNet
            The estimator in training.
        X, y : array-like or None
            The training data of the fit.
        **kwargs : dict
            What skorch passes to callbacks.
        """
        unfinished = len(net.history) and "train_loss" not in net.history[-1]
        # The estimators tell a Ctrl-C at the end of an epoch from a callback
        # that stops training there (net.interrupted_); skorch's nets do not.
        if unfinished or getattr(net, "interrupted_", False):
            self.interrupted_ = True
            if unfinished:
                # skorch records train_loss when an epoch ends: this one did not.
                del net.history[-1]
            self._write()
            warnings.warn(
                self._interruption_message(net, unfinished=bool(unfinished)),
                UserWarning,
                stacklevel=2,
            )
        elif self.keep:
            self._write()
        elif self.dirname_ is not None:
            shutil.rmtree(self.dirname_, ignore_errors=True)
        self.snapshot_ = None

    # -- saving --------------------------------------------------------------

    def _snapshot(self, net: Any) -> dict[str, Any]:
        """Copy the training state, so that the next epoch cannot change it."""
        state = {
            "estimator": type(net).__name__,
            "classes_": np.asarray(net.classes_).tolist(),
            "n_bins_": int(net.n_bins_),
            "fingerprint": self.fingerprint_,
            "split_seed_": getattr(net, "split_seed_", None),
            "epochs_before_fit": self.epochs_before_fit_,
            # Rows of finished epochs are not changed later: a shallow copy.
            "history": [dict(row) for row in net.history],
            "module": _copy_tree(net.module_.state_dict()),
            "optimizer": _copy_tree(net.optimizer_.state_dict()),
            "callbacks": {
                name: state
                for name, callback in net.callbacks_
                if (state := _callback_state(callback)) is not None
            },
            "rng": {"torch": torch.get_rng_state()},
        }
        if str(net.device).startswith("cuda"):
            state["rng"]["cuda"] = torch.cuda.get_rng_state()
        return state

    def _write(self) -> None:
        if self.failed_ or self.snapshot_ is None:
            return
        parent = tempfile.gettempdir() if self.dirname is None else self.dirname
        try:
            if self.dirname_ is None:
                # Created at the first write: fits that end sooner, or fail
                # early, leave nothing behind.
                os.makedirs(parent, exist_ok=True)
                os.mkdir(self.planned_dirname_, mode=0o700)
                self.dirname_ = self.planned_dirname_
            write_state_file(
                os.path.join(self.dirname_, CHECKPOINT_FILE),
                self.snapshot_,
                kind=_KIND,
            )
        except (OSError, TypeError) as exc:
            warnings.warn(
                f"Cannot write a checkpoint to {self.dirname_ or parent!r} ({exc}); "
                "training goes on without checkpoints. Set "
                "callbacks__checkpoint__dirname to a writable directory.",
                UserWarning,
                stacklevel=2,
            )
            self.failed_ = True
            return
        self.saved_epochs_ = len(self.snapshot_["history"])
        self.last_write_ = time.monotonic()

    # -- resuming ------------------------------------------------------------

    def _restore(self, net: Any, path: str) -> dict[str, Any]:
        state = read_state_file(path, kind=_KIND)
        expected = {
            "estimator": type(net).__name__,
            "classes_": np.asarray(net.classes_).tolist(),
            "n_bins_": int(net.n_bins_),
            "fingerprint": self.fingerprint_,
        }
        for key, value in expected.items():
            if state.get(key) != value:
                raise ValueError(
                    f"Cannot resume from {path!r}: it was written for "
                    f"{_what(key, state.get(key))}, but this fit has "
                    f"{_what(key, value)}. Resume with the estimator and the "
                    "training data of the interrupted fit."
                )
        self.epochs_before_fit_ = int(state["epochs_before_fit"])
        self.target_epochs_ = self.epochs_before_fit_ + net.max_epochs
        if len(state["history"]) >= self.target_epochs_:
            raise ValueError(
                f"Cannot resume from {path!r}: it already holds "
                f"{len(state['history'])} epochs, all that max_epochs="
                f"{net.max_epochs} asks for. Raise max_epochs to train longer."
            )
        # Copies: the optimizer and the scheduler adopt the objects they are
        # given and change them while training, and the state is kept as the
        # snapshot.
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(_copy_tree(state["optimizer"]))
        net.history_ = History(_copy_tree(state["history"]))
        for name, callback in net.callbacks_:
            if name in state["callbacks"]:
                _restore_callback(callback, _copy_tree(state["callbacks"][name]))
        if state["split_seed_"] is not None:
            net.split_seed_ = int(state["split_seed_"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and str(net.device).startswith("cuda"):
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        return state

    def _interruption_message(self, net: Any, *, unfinished: bool) -> str:
        epochs = len(net.history)
        stopper = next(
            (
                callback
                for _, callback in net.callbacks_
                if isinstance(callback, EarlyStopping)
                and callback.load_best
                and callback.best_model_weights_ is not None
            ),
            None,
        )
        if stopper is not None:
            weights = (
                f"the weights of epoch {stopper.best_epoch_}, the best "
                f"{stopper.monitor} so far"
            )
        else:
            weights = "the weights reached when it stopped"
        when = f"during epoch {epochs + 1}" if unfinished else f"after epoch {epochs}"
        message = (
            f"Training was interrupted {when}; history_ keeps the {epochs} "
            f"completed epochs and the model holds {weights}."
        )
        if self.saved_epochs_ is not None:
            message += (
                f" Epoch {self.saved_epochs_} is checkpointed in {self.dirname_!r}: "
                "continue exactly with set_params(callbacks__checkpoint__resume_"
                f"from={self.dirname_!r}) and fit on the same data."
            )
        return message


class ValidationEarlyStopping(EarlyStopping):
    """Early stopping that switches itself off when there is no validation data.

    :class:`skorch.callbacks.EarlyStopping` with the same parameters; it
    watches ``monitor`` only in epochs that recorded it, and restores the best
    weights (``load_best``) only when it saw any. The estimators use
    ``monitor="valid_loss"``, with the patience and ``load_best`` of their
    recipe (``SceneClassifier(recipe=...)``; ``AudioTagger``: 10 epochs,
    ``load_best=True``).

    Parameters
    ----------
    monitor : str, default="valid_loss"
        The history key to watch.
    patience : int, default=5
        Epochs without improvement before training stops.
    threshold : float, default=1e-4
        Smallest change that counts as an improvement.
    threshold_mode : {"rel", "abs"}, default="rel"
        Whether ``threshold`` is relative or absolute.
    lower_is_better : bool, default=True
        Whether a lower ``monitor`` is an improvement.
    sink : callable, default=print
        Where the stopping message goes.
    load_best : bool, default=False
        Restore the weights of the best epoch when training ends.

    See Also
    --------
    skorch.callbacks.EarlyStopping : The parameters and their meaning.
    """

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        """Count the epoch when it recorded ``monitor``.

        Parameters
        ----------
        net : skorch.NeuralNet
            The estimator in training.
        **kwargs : dict
            What skorch passes to callbacks.
        """
        if self.monitor in net.history[-1]:
            super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net: Any, **kwargs: Any) -> None:
        """Restore the best weights, when ``load_best`` and there were any.

        Parameters
        ----------
        net : skorch.NeuralNet
            The estimator in training.
        **kwargs : dict
            What skorch passes to callbacks.
        """
        if self.load_best and self.best_model_weights_ is not None:
            super().on_train_end(net, **kwargs)


class PlateauLRScheduler(LRScheduler):
    """Learning-rate schedule on a validation plateau; idle without validation.

    :class:`skorch.callbacks.LRScheduler` with the same parameters (the
    estimators use ``policy=ReduceLROnPlateau``, ``factor=0.5``, which halves
    the learning rate). It steps only in epochs that recorded ``monitor``, and
    pickles without its PyTorch scheduler, which ``on_train_begin`` rebuilds.

    Parameters
    ----------
    policy : str or type, default="WarmRestartLR"
        The PyTorch scheduler class (or its name).
    monitor : str or callable, default="train_loss"
        The history key (or a function of the net) the scheduler steps on.
    event_name : str or None, default="event_lr"
        History key that records the learning rate.
    step_every : {"epoch", "batch"}, default="epoch"
        When the scheduler steps.
    **kwargs : dict
        Parameters of the scheduler (``factor``, ``patience``, ``mode``, ...).

    See Also
    --------
    skorch.callbacks.LRScheduler : The parameters and their meaning.
    """

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        """Step the schedule when the epoch recorded ``monitor``.

        Parameters
        ----------
        net : skorch.NeuralNet
            The estimator in training.
        **kwargs : dict
            What skorch passes to callbacks.
        """
        if self.monitor in net.history[-1]:
            super().on_epoch_end(net, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        # lr_scheduler_ refers to the optimizer, whose tensors skorch maps to
        # the loading machine's device only as net.optimizer_: pickled here, a
        # model trained on CUDA would not unpickle on a CPU-only machine
        # (skorch issue #1096). on_train_begin rebuilds it.
        state = self.__dict__.copy()
        state.pop("lr_scheduler_", None)
        return state


def _checkpoint_file(location: str | os.PathLike) -> str:
    path = os.fspath(location)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No checkpoint in {os.path.dirname(path)!r}: the fit that wrote "
                "this directory ended no epoch."
            )
    return path


def _fingerprint(X: Any, y: Any) -> str:
    """A digest of all the training data, to refuse resuming on other data.

    SHA-256 over every clip's dtype, shape and bytes and over the encoded
    targets, in order: about a second per gigabyte of spectrograms (the 1170
    clips of DCASE 2016 Task 1 hold about 5 GB), little next to an epoch, and
    any change to any frame or label changes it.
    """
    # One clip at a time: X may be features on disk, larger than memory.
    arrays = itertools.chain([] if X is None else X, [] if y is None else [y])
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        # An ndarray is a buffer; numpy declares __buffer__ only for Python 3.12+.
        digest.update(array.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    return digest.hexdigest()


def _what(key: str, value: Any) -> str:
    if key == "fingerprint":
        return "other training data" if value else "no record of the data"
    return f"{key}={value!r}"


def _copy_tree(value: Any) -> Any:
    """Copy nested dicts, lists and tensors (faster than copy.deepcopy)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    return value


def _callback_state(callback: Any) -> dict[str, Any] | None:
    """The state of the callbacks whose progress affects the continuation."""
    if isinstance(callback, EarlyStopping) and hasattr(callback, "best_epoch_"):
        return {
            "misses_": callback.misses_,
            "dynamic_threshold_": float(callback.dynamic_threshold_),
            "best_epoch_": callback.best_epoch_,
            # EarlyStopping replaces this dict of copies rather than changing
            # it, so a reference is a snapshot.
            "best_model_weights_": callback.best_model_weights_,
        }
    if isinstance(callback, LRScheduler) and hasattr(callback, "lr_scheduler_"):
        return {
            "lr_scheduler_": _copy_tree(callback.lr_scheduler_.state_dict()),
            "batch_idx_": callback.batch_idx_,
        }
    return None


def _restore_callback(callback: Any, state: dict[str, Any]) -> None:
    if isinstance(callback, EarlyStopping):
        callback.misses_ = state["misses_"]
        callback.dynamic_threshold_ = state["dynamic_threshold_"]
        callback.best_epoch_ = state["best_epoch_"]
        callback.best_model_weights_ = state["best_model_weights_"]
    elif isinstance(callback, LRScheduler):
        callback.lr_scheduler_.load_state_dict(state["lr_scheduler_"])
        callback.batch_idx_ = state["batch_idx_"]
