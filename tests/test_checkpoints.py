"""Interrupted training loses nothing: checkpoints, resumption, Ctrl-C."""

from __future__ import annotations

import errno
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from joblib import parallel_config
from safetensors import SafetensorError
from sklearn.model_selection import KFold, cross_validate
from skorch.callbacks import Callback

from sklearn_allconv import (
    AudioTagger,
    SceneClassifier,
    _state_files,
    load_model,
    save_model,
)
from sklearn_allconv._state_files import read_state_file
from sklearn_allconv.callbacks import CHECKPOINT_FILE

N_BINS = 10


def _scenes(shift=0.5, seed=0):
    """Noisy spectrogram-like clips: the validation loss plateaus early on."""
    rng = np.random.default_rng(seed)
    X, y = np.empty(36, dtype=object), []
    for i in range(36):
        frames = rng.standard_normal((rng.integers(16, 60), N_BINS))
        frames[:, 3 * (i % 3) : 3 * (i % 3) + 3] += shift
        X[i] = frames.astype(np.float32)
        y.append("abc"[i % 3])
    return X, np.array(y)


def _tags(seed=0):
    X, y = _scenes(seed=seed)
    return X, np.stack([y == "a", y != "c"], axis=1).astype(int)


# The learning rate is halved after epoch 5 and early stopping counts misses,
# so a resumed fit only matches if their state is restored too.
PARAMS = {
    "max_epochs": 12,
    "batch_size": 8,
    "module__n_filters": 8,
    "lr": 0.05,
    "random_state": 0,
    "callbacks__lr_plateau__patience": 1,
    "callbacks__early_stopping__patience": 4,
}


class _InterruptAt(Callback):
    """Raise ``error`` after training batch ``batch`` of ``epoch``."""

    def __init__(self, epoch: int, batch: int, error: type = KeyboardInterrupt):
        self.epoch = epoch
        self.batch = batch
        self.error = error

    def on_batch_end(self, net, training=False, **kwargs):
        done = sum("train_loss" in row for row in net.history[-1]["batches"])
        if training and len(net.history) == self.epoch and done == self.batch:
            raise self.error


def _interrupted(estimator_class, X, y, *, epoch=5, batch=2, **params):
    estimator = estimator_class(
        **{**PARAMS, **params}, callbacks=[("interrupt", _InterruptAt(epoch, batch))]
    )
    with (
        pytest.warns(UserWarning, match=f"interrupted during epoch {epoch}"),
        pytest.raises(KeyboardInterrupt),
    ):
        estimator.fit(X, y)
    assert estimator.interrupted_
    return estimator


def _crashed(estimator_class, X, y, *, epoch=5, batch=2):
    """A fit that dies of an exception; checkpoints are written every epoch."""
    estimator = estimator_class(
        **PARAMS,
        callbacks=[("interrupt", _InterruptAt(epoch, batch, error=MemoryError))],
        callbacks__checkpoint__min_interval_s=0,
    )
    with pytest.raises(MemoryError):
        estimator.fit(X, y)
    return estimator


@pytest.fixture(autouse=True)
def _temporary_directory(tmp_path, monkeypatch):
    """Checkpoints of interrupted fits stay; keep them out of the real /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _checkpoint(estimator):
    return dict(estimator.callbacks_)["checkpoint"]


@pytest.mark.parametrize(
    ("estimator_class", "data", "stop"),
    [
        (SceneClassifier, _scenes, _interrupted),
        (SceneClassifier, _scenes, _crashed),
        (AudioTagger, _tags, _interrupted),
    ],
    ids=["scenes-Ctrl-C", "scenes-crash", "tags-Ctrl-C"],
)
def test_fit_stopped_mid_epoch_then_resumed_equals_an_uninterrupted_fit(
    estimator_class, data, stop
):
    X, y = data()
    uninterrupted = estimator_class(**PARAMS).fit(X, y)
    interrupted = stop(estimator_class, X, y)
    assert _checkpoint(interrupted).saved_epochs_ == 4
    resumed = estimator_class(
        **PARAMS, callbacks__checkpoint__resume_from=_checkpoint(interrupted).dirname_
    ).fit(X, y)
    expected, got = uninterrupted.history_, resumed.history_
    assert len(got) == len(expected)
    np.testing.assert_allclose(
        got[:, "valid_loss"], expected[:, "valid_loss"], rtol=0, atol=1e-6
    )
    assert got[:, "event_lr"] == expected[:, "event_lr"]
    np.testing.assert_allclose(
        resumed.predict_proba(X), uninterrupted.predict_proba(X), rtol=0, atol=1e-6
    )


def test_resumed_fit_interrupted_again_before_an_epoch_ends_resumes_exactly():
    X, y = _scenes()
    uninterrupted = SceneClassifier(**PARAMS).fit(X, y)
    first = _interrupted(SceneClassifier, X, y, epoch=3, batch=1)
    second = SceneClassifier(
        **PARAMS,
        callbacks=[("interrupt", _InterruptAt(3, 2))],
        callbacks__checkpoint__resume_from=_checkpoint(first).dirname_,
    )
    with (
        pytest.warns(UserWarning, match="Epoch 2 is checkpointed"),
        pytest.raises(KeyboardInterrupt),
    ):
        second.fit(X, y)
    resumed = SceneClassifier(
        **PARAMS, callbacks__checkpoint__resume_from=_checkpoint(second).dirname_
    ).fit(X, y)
    np.testing.assert_allclose(
        resumed.predict_proba(X), uninterrupted.predict_proba(X), rtol=0, atol=1e-6
    )


def test_keyboard_interrupt_leaves_a_usable_model_with_the_best_weights():
    # recipe="paper" restores the best epoch when training ends, interrupted
    # or not (the default recipe keeps the weights reached: the next test).
    X, y = _scenes()
    clf = _interrupted(SceneClassifier, X, y, epoch=5, batch=2, recipe="paper")
    assert len(clf.history_) == 4
    assert all("valid_loss" in row for row in clf.history_)
    stopper = dict(clf.callbacks_)["early_stopping"]
    best = stopper.best_model_weights_
    assert stopper.best_epoch_ == 1 + int(np.argmin(clf.history_[:, "valid_loss"]))
    assert stopper.best_epoch_ < 4  # restoring it changes the weights
    for name, tensor in clf.module_.state_dict().items():
        torch.testing.assert_close(tensor, best[name], rtol=0, atol=0)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    checkpoint = _checkpoint(clf)
    assert checkpoint.interrupted_
    assert os.path.isfile(os.path.join(checkpoint.dirname_, CHECKPOINT_FILE))
    # The object stays consistent: it pickles, and it trains on.
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), proba)
    clf.set_params(max_epochs=1, callbacks__interrupt__epoch=0).partial_fit(X, y)
    assert len(clf.history_) == 5


def test_keyboard_interrupt_in_the_default_recipe_keeps_the_weights_reached():
    X, y = _scenes()
    reached = {}

    class Record(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                reached.update(
                    {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
                )

    clf = SceneClassifier(
        **PARAMS,
        callbacks=[("record", Record()), ("interrupt", _InterruptAt(5, 2))],
    )
    with pytest.warns(UserWarning, match="holds the weights reached when it stopped"):
        with pytest.raises(KeyboardInterrupt):
            clf.fit(X, y)
    assert clf.interrupted_ and len(clf.history_) == 4
    assert dict(clf.callbacks_)["early_stopping"].best_model_weights_ is None
    for name, tensor in clf.module_.state_dict().items():
        torch.testing.assert_close(tensor, reached[name], rtol=0, atol=0)


def test_interrupt_in_the_first_epoch_leaves_a_model_that_predicts():
    X, y = _scenes()
    clf = _interrupted(SceneClassifier, X, y, epoch=1, batch=1)
    assert len(clf.history_) == 0
    assert np.isfinite(clf.predict_proba(X)).all()


def test_completed_fit_removes_its_checkpoints_unless_asked_to_keep_them(tmp_path):
    X, y = _scenes()
    clf = SceneClassifier(
        **{**PARAMS, "max_epochs": 2},
        callbacks__checkpoint__dirname=tmp_path,
        callbacks__checkpoint__min_interval_s=0,
    ).fit(X, y)
    assert _checkpoint(clf).saved_epochs_ == 2
    assert os.listdir(tmp_path) == []
    clf.set_params(callbacks__checkpoint__keep=True).fit(X, y)
    state = read_state_file(
        os.path.join(_checkpoint(clf).dirname_, CHECKPOINT_FILE), kind="checkpoint"
    )
    assert len(state["history"]) == 2


def test_resuming_on_other_data_or_with_another_estimator_is_refused():
    X, y = _scenes()
    directory = _checkpoint(_interrupted(SceneClassifier, X, y)).dirname_
    other_X, _ = _scenes(seed=1)
    with pytest.raises(ValueError, match="written for other training data"):
        SceneClassifier(**PARAMS, callbacks__checkpoint__resume_from=directory).fit(
            other_X, y
        )
    with pytest.raises(ValueError, match="estimator='SceneClassifier'"):
        AudioTagger(**PARAMS, callbacks__checkpoint__resume_from=directory).fit(
            X, np.ones((len(X), 3))
        )
    with pytest.raises(ValueError, match="holds a 'checkpoint', not a 'model'"):
        load_model(os.path.join(directory, CHECKPOINT_FILE))


def test_parallel_cross_validation_folds_checkpoint_to_separate_directories(
    tmp_path,
):
    X, y = _scenes()
    clf = SceneClassifier(
        **{**PARAMS, "max_epochs": 2},
        callbacks__checkpoint__dirname=tmp_path,
        callbacks__checkpoint__keep=True,
    )
    # Threads rather than processes keep the test fast; mkdtemp makes each
    # directory unique across processes just as well.
    with parallel_config(backend="threading"):
        folds = cross_validate(
            clf, X, y, cv=KFold(3, shuffle=True, random_state=0), n_jobs=2,
            return_estimator=True,
        )
    directories = [_checkpoint(fold).dirname_ for fold in folds["estimator"]]
    assert len(set(directories)) == 3
    assert sorted(os.listdir(tmp_path)) == sorted(map(os.path.basename, directories))
    fingerprints = {
        read_state_file(os.path.join(d, CHECKPOINT_FILE), kind="checkpoint")[
            "fingerprint"
        ]
        for d in directories
    }
    assert len(fingerprints) == 3  # each holds its own fold's training


def test_unwritable_checkpoint_directory_warns_and_training_goes_on(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    X, y = _scenes()
    clf = SceneClassifier(
        **{**PARAMS, "max_epochs": 2},
        callbacks__checkpoint__dirname=blocker,
        callbacks__checkpoint__min_interval_s=0,
    )
    with pytest.warns(UserWarning, match="training goes on without checkpoints"):
        clf.fit(X, y)
    assert len(clf.history_) == 2


def test_checkpoints_can_be_switched_off():
    X, y = _scenes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = SceneClassifier(**{**PARAMS, "max_epochs": 1},
                              callbacks__checkpoint=None).fit(X, y)
    assert "checkpoint" not in dict(clf.callbacks_)


# -- Ctrl-C stops what the user is running -------------------------------------

REPO = Path(__file__).resolve().parents[1]

# Trains until SIGINT, printing "ready" once training is under way; prints
# "scores" if the run returns and exits with 3 on a KeyboardInterrupt.
_SIGINT_SCRIPT = """
import os
import sys
import numpy as np
import torch
from skorch.callbacks import Callback
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn_allconv import SceneClassifier

torch.set_num_threads(1)


def signal_state():
    # For the failure message: the kernel's view of SIGINT (bit 2 of the
    # Sig* masks), for the process and for each of its threads.
    try:
        with open("/proc/self/status") as status:
            state = [line.split()
                     for line in status if line.startswith(("Sig", "Shd"))]
        tasks = os.listdir("/proc/self/task")
        blocked = []
        for task in tasks:
            with open(f"/proc/self/task/{task}/status") as status:
                blocked += [line.split()[1]
                            for line in status if line.startswith("SigBlk")]
    except OSError as exc:
        return f"no /proc: {exc}"
    return f"{state} threads {len(tasks)} SigBlk per thread {blocked}"


class Ready(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            print("signal state", signal_state(), flush=True)
            print("ready", flush=True)

    def on_train_end(self, net, **kwargs):
        # For the failure message: how each fit ended.
        print("trained", len(net.history), "epochs, interrupted_",
              getattr(net, "interrupted_", None), flush=True)


rng = np.random.default_rng(0)
X = np.empty(24, dtype=object)
for i in range(24):
    X[i] = rng.standard_normal((20, 4)).astype(np.float32)
y = np.array(["a", "b", "c"] * 8)
clf = SceneClassifier(max_epochs=400, batch_size=8, module__n_filters=4,
                      random_state=0, callbacks=[("ready", Ready())],
                      callbacks__early_stopping=None)
cv = KFold(3)
try:
    if sys.argv[1] == "cross_val_score":
        result = cross_val_score(clf, X, y, cv=cv)
    else:
        result = GridSearchCV(clf, {"lr": [1e-3, 1e-2]}, cv=cv).fit(X, y)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
# Reached only if the Ctrl-C was lost: what the process's SIGINT state was,
# for the failure message.
import signal
print("scores", result, "handler", signal.getsignal(signal.SIGINT), "blocked",
      signal.pthread_sigmask(signal.SIG_BLOCK, []), "pending", signal.sigpending(),
      "signal state", signal_state(), flush=True)
"""


def _default_sigint():
    # A background job of a non-interactive shell starts with SIGINT ignored,
    # and a Python started so never raises KeyboardInterrupt: the child gets
    # the default disposition, so that Python installs its handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def sigint_raises():
    """Python's own SIGINT handler during the test, even where the test run
    started with SIGINT ignored (e.g. ``pytest &`` in a script)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _interrupt_when_ready(command, *, ready, env=None):
    """Run ``command``, send SIGINT once it prints ``ready``; its output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path]),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, preexec_fn=_default_sigint,
    )
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if re.search(ready, line):
                # os.kill, not send_signal: the latter skips a child that
                # poll() believes ended, and the failure message says which.
                os.kill(process.pid, signal.SIGINT)
                lines.append(f"(parent: SIGINT sent to {process.pid})\n")
                break
        lines.extend(process.stdout)
        process.wait(timeout=120)
    finally:
        process.kill()
    return process.returncode, "".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["cross_val_score", "GridSearchCV"])
def test_ctrl_c_stops_a_cross_validation_instead_of_one_fold(runner):
    code, output = _interrupt_when_ready(
        [sys.executable, "-c", _SIGINT_SCRIPT, runner], ready="^ready"
    )
    assert code == 3, output
    assert "scores" not in output
    assert "Training was interrupted" in output  # the warning naming the checkpoint


@pytest.mark.slow
def test_ctrl_c_stops_the_command_line_with_exit_code_130(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("low", "high"):
        for i in range(6):
            path = tmp_path / "data" / label / f"{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, rng.standard_normal(4000).astype(np.float32), 8000)
    command = [
        sys.executable, "-m", "sklearn_allconv", "fit", str(tmp_path / "data"),
        str(tmp_path / "model.safetensors"), "--epochs", "1000", "--n-filters",
        "4", "--batch-size", "4", "--device", "cpu", "-v",
    ]
    # -v prints skorch's table: a row per epoch, starting with its number.
    code, output = _interrupt_when_ready(
        command, ready=r"^\s+2\s", env={"TMPDIR": str(tmp_path)}
    )
    assert code == 130, output
    assert "Interrupted." in output
    assert not (tmp_path / "model.safetensors").exists()


class _SigintAtEpochEnd(Callback):
    """Deliver SIGINT to this process at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_at_the_end_of_an_epoch_keeps_its_checkpoint(sigint_raises):
    X, y = _scenes()
    clf = SceneClassifier(
        **PARAMS, callbacks=[("sigint", _SigintAtEpochEnd(3))],
        callbacks__checkpoint__min_interval_s=3600,
    )
    with (
        pytest.warns(UserWarning, match="interrupted after epoch 3"),
        pytest.raises(KeyboardInterrupt),
    ):
        clf.fit(X, y)
    checkpoint = _checkpoint(clf)
    assert clf.interrupted_ and checkpoint.interrupted_
    assert len(clf.history_) == 3
    assert checkpoint.saved_epochs_ == 3
    assert os.path.isfile(os.path.join(checkpoint.dirname_, CHECKPOINT_FILE))


class _SwallowedSigint(Callback):
    """Deliver SIGINT in a training batch of epoch ``epoch`` and swallow the
    ``KeyboardInterrupt``, as code called from C that discards errors does."""

    def __init__(self, epoch):
        self.epoch = epoch

    def initialize(self):
        self.swallowed_ = 0
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch and not self.swallowed_:
            try:
                # Python runs the handler before raise_signal returns.
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                self.swallowed_ += 1


def test_ctrl_c_whose_keyboard_interrupt_was_swallowed_still_stops_training(
    sigint_raises,
):
    X, y = _scenes()
    swallow = _SwallowedSigint(epoch=2)
    clf = SceneClassifier(**PARAMS, callbacks=[("swallow", swallow)])
    with (
        pytest.warns(UserWarning, match="interrupted during epoch 2"),
        pytest.raises(KeyboardInterrupt),
    ):
        clf.fit(X, y)
    assert swallow.swallowed_ == 1
    # Stopped in the batch the signal came in: epoch 2 is unfinished and dropped.
    assert clf.interrupted_ and len(clf.history_) == 1
    # The next fit is not stopped by the old signal.
    clf.set_params(callbacks__swallow=None, max_epochs=2).fit(X, y)
    assert not clf.interrupted_ and len(clf.history_) == 2


def test_early_stopping_is_not_mistaken_for_ctrl_c():
    X, y = _scenes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = SceneClassifier(
            **{**PARAMS, "max_epochs": 50, "callbacks__early_stopping__patience": 1}
        ).fit(X, y)
    assert len(clf.history_) < 50  # early stopping ended it
    assert not clf.interrupted_
    assert _checkpoint(clf).dirname_ is None or not os.path.exists(
        _checkpoint(clf).dirname_
    )


# -- faults during training ------------------------------------------------------


def _failing_save_file(error):
    """A safetensors writer that writes part of the file, then fails."""

    def save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as file:
            file.write(b"\0" * 100)
        raise error

    return save_file


_ENOSPC_MESSAGE = (
    "Error while serializing: I/O error: No space left on device (os error 28)"
)
WRITE_FAULTS = {
    "full disk (safetensors)": (SafetensorError(_ENOSPC_MESSAGE), errno.ENOSPC),
    "full disk (OS)": (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
    "I/O error (safetensors)": (
        SafetensorError("Error while serializing: I/O error: (os error 5)"), errno.EIO
    ),
    "quota exceeded (OS)": (OSError(errno.EDQUOT, "Disk quota exceeded"), errno.EDQUOT),
}


@pytest.mark.parametrize("fault", WRITE_FAULTS, ids=list(WRITE_FAULTS))
def test_a_failing_checkpoint_write_warns_once_and_training_goes_on(
    tmp_path, monkeypatch, fault
):
    error, _ = WRITE_FAULTS[fault]
    monkeypatch.setattr(_state_files, "save_file", _failing_save_file(error))
    X, y = _scenes()
    clf = SceneClassifier(
        **{**PARAMS, "max_epochs": 3}, callbacks__checkpoint__dirname=tmp_path,
        callbacks__checkpoint__min_interval_s=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    messages = [str(w.message) for w in caught if "checkpoint" in str(w.message)]
    assert len(messages) == 1 and "training goes on without checkpoints" in messages[0]
    assert len(clf.history_) == 3
    assert not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize("fault", WRITE_FAULTS, ids=list(WRITE_FAULTS))
def test_save_model_on_a_failing_disk_raises_an_os_error_naming_the_file(
    tmp_path, monkeypatch, fault
):
    error, code = WRITE_FAULTS[fault]
    X, y = _scenes()
    clf = SceneClassifier(**{**PARAMS, "max_epochs": 1}).fit(X, y)
    path = tmp_path / "scenes.safetensors"
    monkeypatch.setattr(_state_files, "save_file", _failing_save_file(error))
    with pytest.raises(OSError) as raised:
        save_model(clf, path)
    assert raised.value.errno == code
    assert str(path) in str(raised.value)
    assert os.listdir(tmp_path) == []  # neither the file nor a partial one


def _change_frame(X, y, clip, frame):
    X = X.copy()
    X[clip] = X[clip].copy()
    X[clip][frame, 0] += 1e-3
    return X, y


OTHER_DATA = {
    "a frame off the old stride": lambda X, y: _change_frame(X, y, 7, 1),
    "the last frame of a clip": lambda X, y: _change_frame(X, y, 0, -1),
    "two clips swapped": lambda X, y: (X[[1, 0, *range(2, len(X))]], y),
    "one label changed": lambda X, y: (X, np.where(np.arange(len(y)) == 3, "b", y)),
}


@pytest.mark.parametrize("change", OTHER_DATA, ids=list(OTHER_DATA))
def test_resuming_on_slightly_different_data_is_refused(change):
    X, y = _scenes()
    directory = _checkpoint(_interrupted(SceneClassifier, X, y)).dirname_
    other_X, other_y = OTHER_DATA[change](X, y)
    with pytest.raises(ValueError, match="written for other training data"):
        SceneClassifier(**PARAMS, callbacks__checkpoint__resume_from=directory).fit(
            other_X, other_y
        )


def test_a_damaged_checkpoint_is_refused():
    X, y = _scenes()
    directory = _checkpoint(_interrupted(SceneClassifier, X, y)).dirname_
    path = Path(directory) / CHECKPOINT_FILE
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor's data
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the digest"):
        SceneClassifier(**PARAMS, callbacks__checkpoint__resume_from=directory).fit(
            X, y
        )
