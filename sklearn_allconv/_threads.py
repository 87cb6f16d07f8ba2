"""Thread budgets: how many intra-op threads a fit uses on this machine now.

PyTorch runs its CPU operations on an OpenMP team of ``torch.get_num_threads()``
threads, one per core by default. When other processes keep the cores busy,
the team's threads are descheduled in turn, and the ones that wait for them at
the end of every parallel operation spin (OpenMP's default wait policy)
instead of yielding their core: CPU time grows with the machine's load while
the work does not. The wait policy is read once, when the OpenMP runtime
starts, so it cannot be changed here without changing the environment of
every process; the number of threads can. The estimators therefore take, at
the start of ``fit`` and ``predict``, no more threads than there are cores not
taken by other running tasks: one thread on an oversubscribed machine, where
no OpenMP team and hence no spinning is left.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch

__all__ = ["free_cpus", "thread_budget", "threads"]

# Samples of the run queue, and the pause between them: other tasks that are
# runnable in most samples are busy, ones seen once (short-lived, or our own
# idle OpenMP threads spinning down) are not.
_SAMPLES = 5
_PAUSE_SECONDS = 0.002


def _runnable_tasks() -> int | None:
    """Runnable tasks of the whole system now (Linux), this thread included."""
    try:
        with open("/proc/loadavg") as loadavg:
            return int(loadavg.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


def _own_running_threads() -> int:
    """Threads of this process that are running or runnable now (Linux).

    They are not competition: the OpenMP threads of an earlier operation may
    still be spinning when the run queue is read.
    """
    running = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat") as stat:
                # The state follows the command name, which is in parentheses.
                running += stat.read().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return max(running, 1)


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def free_cpus() -> int | None:
    """CPUs of this process not taken by other runnable tasks, or None if unknown.

    Reads the number of runnable tasks from ``/proc/loadavg`` a few times over
    about 10 ms, less this process's own running threads, and takes the
    smallest. Where the system
    counts tasks on more CPUs than this process may use (a CPU affinity
    mask), the other tasks are assumed spread evenly over all CPUs.

    Returns
    -------
    int or None
        Between 0 and the usable CPUs; None where the run queue cannot be read
        (other than Linux).
    """
    samples = []
    for index in range(_SAMPLES):
        if index:
            time.sleep(_PAUSE_SECONDS)
        runnable = _runnable_tasks()
        if runnable is None:
            return None
        samples.append(runnable - _own_running_threads())
    others = max(min(samples), 0)
    usable = _usable_cpus()
    share = usable / max(os.cpu_count() or usable, usable)
    return max(usable - round(others * share), 0)


def thread_budget(n_threads: int | None) -> int:
    """Intra-op threads for a fit or a prediction starting now.

    Parameters
    ----------
    n_threads : int or None
        An int is used as it is. None takes torch's thread count, lowered to
        the CPUs that other running tasks leave free (at least one).

    Returns
    -------
    int
        The number of threads.
    """
    if n_threads is not None:
        return n_threads
    current = torch.get_num_threads()
    if current == 1:
        return 1
    free = free_cpus()
    if free is None:
        return current
    return max(1, min(current, free))


@contextlib.contextmanager
def threads(n_threads: int | None) -> Iterator[int]:
    """Run the block with :func:`thread_budget` threads, then restore torch's count.

    Parameters
    ----------
    n_threads : int or None
        As for :func:`thread_budget`.

    Yields
    ------
    int
        The threads in use.
    """
    previous = torch.get_num_threads()
    budget = thread_budget(n_threads)
    if budget != previous:
        torch.set_num_threads(budget)
    try:
        yield budget
    finally:
        if budget != previous:
            torch.set_num_threads(previous)
