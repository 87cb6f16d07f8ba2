"""Thread budgets: fewer threads than cores taken by others, never spinning teams."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_allconv import SceneClassifier, _threads


@pytest.fixture
def machine(monkeypatch):
    """A fake 2-CPU machine whose run queue the test sets."""
    state = {"runnable": [1], "own": 1, "torch_threads": 2}

    def runnable():
        queue = state["runnable"]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(_threads, "_runnable_tasks", runnable)
    monkeypatch.setattr(_threads, "_own_running_threads", lambda: state["own"])
    monkeypatch.setattr(_threads, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(_threads, "_PAUSE_SECONDS", 0.0)
    monkeypatch.setattr(
        _threads.torch, "get_num_threads", lambda: state["torch_threads"]
    )
    return state


def test_an_idle_machine_keeps_torch_threads(machine):
    machine["runnable"] = [1]
    assert _threads.free_cpus() == 2
    assert _threads.thread_budget(None) == 2


def test_an_oversubscribed_machine_gets_one_thread(machine):
    machine["runnable"] = [4]  # three competitors and this thread
    assert _threads.free_cpus() == 0
    assert _threads.thread_budget(None) == 1


def test_one_competitor_leaves_one_core(machine):
    machine["runnable"] = [2]
    assert _threads.thread_budget(None) == 1
    machine["torch_threads"] = 1
    assert _threads.thread_budget(None) == 1


def test_own_spinning_threads_are_not_competition(machine):
    machine["runnable"], machine["own"] = [3], 3
    assert _threads.thread_budget(None) == 2


def test_short_lived_tasks_do_not_count(machine):
    machine["runnable"] = [5, 1, 5, 5, 5]
    assert _threads.free_cpus() == 2


def test_other_tasks_count_in_proportion_to_the_usable_cpus(machine, monkeypatch):
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 8)  # affinity: 2 of 8
    machine["runnable"] = [5]  # four others on 8 CPUs: one on ours
    assert _threads.free_cpus() == 1


def test_an_unreadable_run_queue_keeps_torch_threads(machine, monkeypatch):
    monkeypatch.setattr(_threads, "_runnable_tasks", lambda: None)
    assert _threads.free_cpus() is None
    assert _threads.thread_budget(None) == 2


def test_an_int_is_used_as_it_is(machine):
    machine["runnable"] = [9]
    assert _threads.thread_budget(3) == 3


class _RecordThreads(Callback):
    def __init__(self, sink):
        self.sink = sink

    def on_epoch_begin(self, net, **kwargs):
        self.sink.append(torch.get_num_threads())


@pytest.mark.parametrize("n_threads, expected", [(None, 1), (2, 2)])
def test_fit_runs_with_the_budget_and_restores_torch_threads(
    monkeypatch, n_threads, expected
):
    monkeypatch.setattr(_threads, "free_cpus", lambda: 1)
    rng = np.random.default_rng(0)
    X = np.empty(8, dtype=object)
    X[:] = [rng.standard_normal((20, 6), dtype=np.float32) for _ in range(8)]
    y = np.arange(8) % 2
    seen = []
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        SceneClassifier(
            max_epochs=2,
            module__n_filters=4,
            train_split=None,
            n_threads=n_threads,
            callbacks=[("threads", _RecordThreads(seen))],
        ).fit(X, y)
        assert seen == [expected, expected]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("n_threads", [0, -1, 1.5, True, "2"])
def test_invalid_n_threads_raises(n_threads):
    X = np.empty(2, dtype=object)
    X[:] = [np.zeros((20, 6), np.float32)] * 2
    with pytest.raises(ValueError, match="n_threads must be None"):
        SceneClassifier(max_epochs=1, n_threads=n_threads).fit(X, [0, 1])
